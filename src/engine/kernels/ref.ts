// Plain-TypeScript kernels: the reference implementation (straightforward loops, f64 accumulators
// in reductions) used as the independent check of the WASM kernels and as the fallback path.
import type { Kernels } from './types.ts';
import { JsArena, type Arena, type Buf } from '../memory.ts';

export function createRefKernels(arena: Arena = new JsArena()): Kernels {
  const gemmTri: Kernels['gemmTri'] = (
    tri,
    off,
    tA,
    tB,
    M,
    N,
    K,
    alpha,
    A,
    aOff,
    lda,
    B,
    bOff,
    ldb,
    beta,
    C,
    cOff,
    ldc,
  ) => {
    const a = A.data,
      b = B.data,
      c = C.data;
    for (let i = 0; i < M; i++) {
      // tri 1: entries above the diagonal are unspecified; here 0 (beta 0) or unchanged
      const nj = tri === 1 ? Math.max(0, Math.min(N, i + off + 1)) : N;
      if (beta === 0) for (let j = nj; j < N; j++) c[cOff + i * ldc + j] = 0;
      // tri 2/3: the k range where op(A)[i,k] can be non-zero
      const k0 = tri === 3 ? Math.max(0, i - off) : 0;
      const k1 = tri === 2 ? Math.min(K, i + off + 1) : K;
      for (let j = 0; j < nj; j++) {
        let s = 0;
        for (let k = k0; k < k1; k++) {
          const av = tA ? a[aOff + k * lda + i] : a[aOff + i * lda + k];
          const bv = tB ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j];
          s += av * bv;
        }
        const o = cOff + i * ldc + j;
        c[o] = alpha * s + (beta !== 0 ? c[o] : 0);
      }
    }
  };
  const k: Kernels = {
    kind: 'ref',
    variant: 'ts',
    arena,
    lanes: 1,
    lane: () => k,
    sync() {},
    close() {},
    gemm(tA, tB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc) {
      gemmTri(0, 0, tA, tB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    },
    gemmTri,
    rmsnorm(x, w, y, inv, rows, D, eps) {
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let j = 0; j < D; j++) ss += x.data[r * D + j] ** 2;
        const s = 1 / Math.sqrt(ss / D + eps);
        inv.data[r] = s;
        for (let j = 0; j < D; j++) y.data[r * D + j] = x.data[r * D + j] * s * w.data[j];
      }
    },
    rmsnormBackward(x, w, inv, dy, dx, dw, rows, D, accumulate) {
      for (let r = 0; r < rows; r++) {
        const s = inv.data[r];
        let dot = 0;
        for (let j = 0; j < D; j++) dot += dy.data[r * D + j] * w.data[j] * x.data[r * D + j];
        const c = (s * s * s * dot) / D;
        for (let j = 0; j < D; j++) {
          const o = r * D + j;
          const g = s * dy.data[o] * w.data[j] - c * x.data[o];
          dx.data[o] = accumulate ? dx.data[o] + g : g;
          dw.data[j] += dy.data[o] * x.data[o] * s;
        }
      }
    },
    swiglu(g, u, a, n) {
      for (let i = 0; i < n; i++) {
        const gv = g.data[i];
        a.data[i] = (gv / (1 + Math.exp(-gv))) * u.data[i];
      }
    },
    swigluBackward(g, u, da, dg, du, n) {
      for (let i = 0; i < n; i++) {
        const gv = g.data[i];
        const s = 1 / (1 + Math.exp(-gv));
        const d = da.data[i];
        du.data[i] = d * gv * s;
        dg.data[i] = d * u.data[i] * s * (1 + gv * (1 - s));
      }
    },
    causalSoftmax(S, sOff, rows, cols, ld, offset) {
      const s = S.data;
      for (let i = 0; i < rows; i++) {
        const r = sOff + i * ld;
        const n = Math.min(cols, i + offset + 1);
        let m = -Infinity;
        for (let j = 0; j < n; j++) m = Math.max(m, s[r + j]);
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.exp(s[r + j] - m);
        for (let j = 0; j < n; j++) s[r + j] = Math.exp(s[r + j] - m) / sum;
        for (let j = n; j < cols; j++) s[r + j] = 0;
      }
    },
    softmaxBackward(P, pOff, dP, dOff, rows, cols, ld, scale) {
      const p = P.data,
        d = dP.data;
      for (let i = 0; i < rows; i++) {
        let dot = 0;
        for (let j = 0; j < cols; j++) dot += p[pOff + i * ld + j] * d[dOff + i * ld + j];
        for (let j = 0; j < cols; j++) {
          const o = dOff + i * ld + j;
          d[o] = p[pOff + i * ld + j] * (d[o] - dot) * scale;
        }
      }
    },
    logsoftmaxStats(Z, rows, V, targets, tOff, lse, lp, ent) {
      const t = targets.i32;
      for (let r = 0; r < rows; r++) {
        let m = -Infinity;
        for (let j = 0; j < V; j++) m = Math.max(m, Z.data[r * V + j]);
        let s = 0;
        for (let j = 0; j < V; j++) s += Math.exp(Z.data[r * V + j] - m);
        const L = m + Math.log(s);
        lse.data[r] = L;
        lp.data[r] = Z.data[r * V + t[tOff + r]] - L;
        let h = 0;
        for (let j = 0; j < V; j++) {
          const l = Z.data[r * V + j] - L;
          h -= Math.exp(l) * l;
        }
        ent.data[r] = h;
      }
    },
    logsoftmaxBackward(Z, rows, V, targets, tOff, lse, ent, gLp, gEnt) {
      const t = targets.i32;
      for (let r = 0; r < rows; r++) {
        const L = lse.data[r],
          H = ent.data[r],
          a = gLp.data[r],
          b = gEnt.data[r];
        for (let j = 0; j < V; j++) {
          const l = Z.data[r * V + j] - L;
          const p = Math.exp(l);
          Z.data[r * V + j] = -a * p - b * p * (l + H);
        }
        Z.data[r * V + t[tOff + r]] += a;
      }
    },
    rope(x, xOff, rows, ld, heads, hd, pos, posOff, cos, sin, inverse) {
      const d = x.data,
        p = pos.i32,
        c = cos.data,
        s = sin.data;
      const h = hd / 2,
        sgn = inverse ? -1 : 1;
      for (let r = 0; r < rows; r++) {
        const tb = p[posOff + r] * h;
        for (let hh = 0; hh < heads; hh++) {
          const o = xOff + r * ld + hh * hd;
          for (let i = 0; i < h; i++) {
            const cc = c[tb + i],
              ss = sgn * s[tb + i];
            const a = d[o + i],
              b = d[o + i + h];
            d[o + i] = a * cc - b * ss;
            d[o + i + h] = b * cc + a * ss;
          }
        }
      }
    },
    attnDecode(q, qOff, rep, hd, k, kOff, v, vOff, ld, ctx, scale, out, outOff, s) {
      const Q = q.data,
        Kd = k.data,
        Vd = v.data,
        O = out.data,
        S = s.data;
      for (let r = 0; r < rep; r++) {
        let m = -Infinity;
        for (let j = 0; j < ctx; j++) {
          let d = 0;
          for (let i = 0; i < hd; i++) d += Q[qOff + r * hd + i] * Kd[kOff + j * ld + i];
          S[j] = d * scale;
          m = Math.max(m, S[j]);
        }
        let sum = 0;
        for (let j = 0; j < ctx; j++) sum += Math.exp(S[j] - m);
        for (let i = 0; i < hd; i++) {
          let o = 0;
          for (let j = 0; j < ctx; j++) o += (Math.exp(S[j] - m) / sum) * Vd[vOff + j * ld + i];
          O[outOff + r * hd + i] = o;
        }
      }
    },
    sumSquares(x, n) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x.data[i] * x.data[i];
      return s;
    },
    adamw(w, g, m, v, n, b1, b2, eps, stepSize, invSqrtBc2, decay, clip) {
      const W = w.data,
        G = g.data,
        M = m.data,
        Vv = v.data;
      for (let i = 0; i < n; i++) {
        const gi = G[i] * clip;
        const mi = (M[i] = b1 * M[i] + (1 - b1) * gi);
        const vi = (Vv[i] = b2 * Vv[i] + (1 - b2) * gi * gi);
        W[i] = W[i] * decay - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
        G[i] = 0;
      }
    },
  };
  return k;
}

export type { Buf };
