// The engine on several threads (src/engine/kernels/threads.ts): every split kernel, the training
// forward/backward, AdamW and sampling match the one-thread kernels within fp32 tolerance; a
// seeded run repeats itself exactly at a given thread count; a worker's failure is a clear error;
// idle workers do not keep the process alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Model } from '../../src/engine/model.ts';
import { TrainingPass } from '../../src/engine/forward.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { createThreadedKernels, createWasmKernels, type Kernels } from '../../src/engine/kernels/index.ts';
import { splitCall } from '../../src/engine/kernels/threads.ts';
import { assignLanes } from '../../src/engine/kernels/lanes.ts';
import type { Buf } from '../../src/engine/memory.ts';
import type { Datum } from '../../src/core/trainer.ts';
import { microConfig, byteTokenizer, randomTokens, randomizeNonMatrices } from './helpers.ts';

const serial = createWasmKernels();
// 3 lanes on a 2-core machine: uneven splits, and a lane count the defaults never pick.
const threaded = [createThreadedKernels(2), createThreadedKernels(3)];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
function filled(k: Kernels, n: number, seed: number, scale = 1): Buf {
  const b = k.arena.alloc(n);
  const r = rng(seed);
  for (let i = 0; i < n; i++) b.data[i] = scale * r();
  return b;
}
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(a[i]));
  }
  return num / Math.max(den, 1e-30);
}

test('lane assignment is deterministic and balances unequal pieces', () => {
  const costs = [16384, 100, 4900, 4900, 25, 10000];
  const a = assignLanes(costs, 2);
  assert.deepEqual([...a], [...assignLanes(costs, 2)]);
  // Longest first onto the least-loaded lane: {16384, 100, 25} and {10000, 4900, 4900}.
  assert.deepEqual([...a], [0, 0, 1, 1, 0, 1]);
  assert.deepEqual([...assignLanes(costs, 1)], [0, 0, 0, 0, 0, 0]);
});

test('splits: GEMM rows on 4-row tiles, columns on 8-column panels, the causal diagonal follows', () => {
  // [tri, off, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc]
  const rows = splitCall('gemmTri', [1, 5, 0, 1, 512, 64, 64, 1, 1000, 64, 2000, 64, 0, 3000, 64], 2)!;
  assert.deepEqual(
    rows.map((p) => [p[1], p[4], p[8], p[13]]),
    [
      [5, 256, 1000, 3000],
      [5 + 256, 256, 1000 + 4 * 256 * 64, 3000 + 4 * 256 * 64],
    ],
  );
  const tri3 = splitCall('gemmTri', [3, 0, 1, 0, 512, 64, 512, 1, 0, 512, 0, 64, 1, 0, 64], 2)!;
  assert.deepEqual(
    tri3.map((p) => [p[1], p[8]]),
    [
      [0, 0],
      [-256, 4 * 256],
    ],
  );
  const cols = splitCall('gemmTri', [1, 3, 0, 1, 16, 100, 512, 1, 0, 512, 0, 512, 0, 0, 100], 3)!;
  assert.deepEqual(
    cols.map((p) => [p[1], p[5], p[10], p[13]]),
    [
      [3, 32, 0, 0],
      [3 - 32, 32, 4 * 32 * 512, 4 * 32],
      [3 - 64, 36, 4 * 64 * 512, 4 * 64],
    ],
  );
  assert.equal(splitCall('gemmTri', [0, 0, 0, 1, 4, 8, 8, 1, 0, 8, 0, 8, 0, 0, 8], 2), null, 'tiny GEMM');
  assert.equal(splitCall('rmsnormBackward', [0, 0, 0, 0, 0, 0, 4096, 64, 1], 2), null, 'reduction');
});

for (const k of threaded)
  test(`${k.lanes} threads: split kernels equal the one-thread kernels`, () => {
    const shapes: [number, number, number][] = [
      [512, 300, 70], // row split
      [130, 688, 256], // row split, uneven
      [12, 1000, 256], // small-M path, column split
      [16, 777, 64], // column split, ragged last panel
    ];
    for (const [tri, off] of [
      [0, 0],
      [1, 0],
      [1, 7],
      [2, 3],
      [3, 5],
    ] as const)
      for (const [M, N, K] of shapes)
        for (const [tA, tB] of [
          [false, true],
          [true, false],
          [false, false],
        ] as const) {
          // tri 2/3 assume op(A) has the causal zeros; K = M there so the diagonal means something.
          const Kd = tri >= 2 ? M : K;
          const out: Float32Array[] = [];
          for (const kk of [serial, k]) {
            const A = filled(kk, M * Kd, 1),
              B = filled(kk, Kd * N, 2);
            const lda = tA ? M : Kd,
              ldb = tB ? Kd : N;
            if (tri >= 2)
              for (let i = 0; i < M; i++)
                for (let c = 0; c < Kd; c++)
                  if ((tri === 2 && c > i + off) || (tri === 3 && c < i - off))
                    A.data[tA ? c * lda + i : i * lda + c] = 0;
            const C = filled(kk, M * N, 3);
            kk.gemmTri(tri, off, tA, tB, M, N, Kd, 0.5, A, 0, lda, B, 0, ldb, 1, C, 0, N);
            // tri 1 leaves the entries above the diagonal unspecified: compare the needed ones.
            const c = Float32Array.from(C.data);
            if (tri === 1)
              for (let i = 0; i < M; i++) c.fill(0, i * N + Math.max(0, Math.min(N, i + off + 1)), i * N + N);
            out.push(c);
            for (const b of [A, B, C]) kk.arena.free(b);
          }
          const d = maxRelDiff(out[0], out[1]);
          assert.ok(d <= 1e-6, `gemmTri ${tri}/${off} ${M}×${N}×${Kd} tA=${tA} tB=${tB}: rel diff ${d}`);
        }
    // Row and element-wise kernels.
    const rows = 300,
      D = 128,
      V = 517;
    const res = [serial, k].map((kk) => {
      const x = filled(kk, rows * D, 4),
        w = filled(kk, D, 5),
        y = kk.arena.alloc(rows * D),
        inv = kk.arena.alloc(rows);
      kk.rmsnorm(x, w, y, inv, rows, D, 1e-6);
      const n = rows * D + 5;
      const g = filled(kk, n, 6, 4),
        u = filled(kk, n, 7),
        a = kk.arena.alloc(n),
        dg = kk.arena.alloc(n),
        du = kk.arena.alloc(n);
      kk.swiglu(g, u, a, n);
      kk.swigluBackward(g, u, a, dg, du, n);
      const Z = filled(kk, rows * V, 8, 3),
        t = kk.arena.alloc(rows);
      for (let i = 0; i < rows; i++) t.i32[i] = (i * 37) % V;
      const lse = kk.arena.alloc(rows),
        lp = kk.arena.alloc(rows),
        ent = kk.arena.alloc(rows);
      kk.logsoftmaxStats(Z, rows, V, t, 0, lse, lp, ent);
      const gLp = filled(kk, rows, 9),
        gEnt = filled(kk, rows, 10);
      kk.logsoftmaxBackward(Z, rows, V, t, 0, lse, ent, gLp, gEnt);
      const pos = kk.arena.alloc(rows);
      for (let i = 0; i < rows; i++) pos.i32[i] = i % 50;
      const cos = filled(kk, 50 * 16, 11),
        sin = filled(kk, 50 * 16, 12);
      kk.rope(x, 0, rows, D, 4, 32, pos, 0, cos, sin, false);
      const pw = filled(kk, n, 13),
        pg = filled(kk, n, 14),
        pm = filled(kk, n, 15, 0.1),
        pv = filled(kk, n, 16, 0.1);
      for (let i = 0; i < n; i++) pv.data[i] = Math.abs(pv.data[i]);
      kk.adamw(pw, pg, pm, pv, n, 0.9, 0.95, 1e-8, 1e-3, 1.2, 0.999, 0.7);
      return [y, inv, a, dg, du, lse, lp, ent, Z, x, pw, pm, pv, pg].map((b) => Float32Array.from(b.data));
    });
    res[0].forEach((s, i) => {
      const d = maxRelDiff(s, res[1][i]);
      assert.ok(d <= 1e-6, `row/element kernel output ${i}: rel diff ${d}`);
    });
  });

/** A config big enough that every GEMM of a training step is split (the thresholds are in work). */
const cfg = microConfig('qwen2', {
  vocabSize: 300,
  hiddenSize: 64,
  headDim: 16,
  numHeads: 4,
  numKvHeads: 2,
  intermediateSize: 176,
  valueHead: true,
});
const lengths = [130, 33, 70, 5, 97];
const seqs = lengths.map((n, i) => {
  const t = randomTokens(n + 1, 300, 100 + i);
  return { inputs: t.slice(0, -1), targets: t.slice(1) };
});

function trainStep(k: Kernels, keep: number) {
  const m = new Model(cfg, { seed: 3, kernels: k, initStd: 0.2 });
  randomizeNonMatrices(m, 4);
  const pass = new TrainingPass(m, keep);
  const out = pass.forward(seqs, true);
  const r = rng(9);
  pass.backward({
    dLogprobs: out.logprobs.map((lp) => lp.map(() => r())),
    dEntropy: out.entropy.map((e) => e.map(() => 0.3 * r())),
    dValues: out.values!.map((v) => v.map(() => 0.2 * r())),
  });
  const grads = new Map(m.params.map((p) => [p.name, Float32Array.from(p.g!.data)]));
  pass.dispose();
  m.dispose();
  return { out, grads };
}

test('training forward and every gradient on 2 and 3 threads match one thread (probabilities kept and recomputed)', () => {
  for (const keep of [32 * 1024 * 1024, 0]) {
    const one = trainStep(serial, keep);
    for (const k of threaded) {
      const many = trainStep(k, keep);
      for (const what of ['logprobs', 'entropy', 'values'] as const)
        one.out[what]!.forEach((a, s) => {
          const b = many.out[what]![s];
          for (let i = 0; i < a.length; i++)
            assert.ok(
              Math.abs(a[i] - b[i]) < 1e-5,
              `${k.lanes} threads ${what}[${s}][${i}]: ${a[i]} vs ${b[i]}`,
            );
        });
      for (const [name, g] of one.grads) {
        const d = maxRelDiff(g, many.grads.get(name)!);
        assert.ok(d < 1e-5, `${k.lanes} threads, keep ${keep}: gradient of ${name} differs by ${d}`);
      }
      // The same thread count repeats itself exactly.
      const again = trainStep(k, keep);
      for (const [name, g] of many.grads) assert.deepEqual(again.grads.get(name), g, `${name} repeats`);
    }
  }
});

const H = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClipNorm: 1 };
function data(step: number): Datum[] {
  return lengths.map((n, i) => {
    const t = randomTokens(n + 1, 256, 1000 * step + i);
    return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) };
  });
}
async function train(k: Kernels, steps: number): Promise<Map<string, Float32Array>> {
  const m = new Model(cfg, { seed: 5, kernels: k, initStd: 0.1 });
  const tr = EmbeddedTrainer.fromModel(m, byteTokenizer(300));
  for (let s = 0; s < steps; s++) {
    await tr.forwardBackward(data(s), { type: 'cross_entropy' });
    await tr.optimStep(H);
  }
  const w = new Map(m.params.map((p) => [p.name, Float32Array.from(p.w.data)]));
  tr.dispose();
  return w;
}

test('AdamW training: a seeded run repeats itself bit for bit on 2 threads and tracks one thread', async () => {
  const one = await train(serial, 3);
  const a = await train(threaded[0], 3),
    b = await train(threaded[0], 3);
  for (const [name, w] of a) {
    assert.deepEqual(b.get(name), w, `${name}: the same seeded run on 2 threads differs`);
    const d = maxRelDiff(one.get(name)!, w);
    assert.ok(d < 1e-4, `${name}: 2 threads vs 1 after 3 steps differ by ${d}`);
  }
});

test('sampling on threads: same tokens, log-probs match one thread and the training forward; chunked prefill', async () => {
  const prompts = [randomTokens(150, 256, 1), randomTokens(9, 256, 2), randomTokens(70, 256, 3)];
  const req = { prompts, maxTokens: 12, stop: [], temperature: 1, topP: 1, n: 3, seed: 11 };
  const run = async (k: Kernels, chunk?: number) => {
    const m = new Model(cfg, { seed: 8, kernels: k, initStd: 0.4 });
    const tr = EmbeddedTrainer.fromModel(
      m,
      { ...byteTokenizer(300), eosTokenIds: [] },
      {
        generate: chunk ? { prefillChunkTokens: chunk } : {},
      },
    );
    const out = await tr.sample(req);
    // The training forward of prompt + completion scores the sampled tokens.
    const fwd = await tr.forward(
      out.flat().map((c, i) => {
        const all = [...prompts[Math.floor(i / 3)], ...c.tokens];
        return { inputTokens: all.slice(0, -1), targetTokens: all.slice(1) };
      }),
    );
    tr.dispose();
    return { out, fwd };
  };
  const one = await run(serial);
  for (const k of threaded)
    for (const chunk of [undefined, 16]) {
      const many = await run(k, chunk);
      many.out.flat().forEach((c, i) => {
        const o = one.out.flat()[i];
        assert.deepEqual(c.tokens, o.tokens, `${k.lanes} threads, chunk ${chunk}: sample ${i} tokens`);
        const lp = many.fwd[i].logprobs.slice(-c.tokens.length);
        c.logprobs.forEach((x, j) => {
          assert.ok(
            Math.abs(x - o.logprobs[j]) < 1e-4,
            `sample ${i}[${j}] vs one thread: ${x} vs ${o.logprobs[j]}`,
          );
          assert.ok(Math.abs(x - lp[j]) < 1e-4, `sample ${i}[${j}] vs training forward: ${x} vs ${lp[j]}`);
        });
      });
    }
});

test("a worker's failure is a clear error, and the kernels keep working", () => {
  const k = threaded[0];
  const q = filled(k, 64, 1),
    out = k.arena.alloc(64),
    s = k.arena.alloc(64);
  const bogus = { ptr: 0xfff0_0000, len: 64 } as Buf; // past the end of the memory: the worker traps
  k.lane(1).attnDecode(q, 0, 1, 16, bogus, 0, bogus, 0, 16, 4, 1, out, 0, s);
  assert.throws(() => k.sync(), /engine worker 1: RuntimeError: memory access out of bounds/);
  const A = filled(k, 512 * 64, 2),
    C = k.arena.alloc(512 * 512);
  k.gemm(false, true, 512, 512, 64, 1, A, 0, 64, A, 0, 64, 0, C, 0, 512);
  assert.ok(Number.isFinite(C.data[511 * 512 + 3]));
  const closed = createThreadedKernels(2);
  const A2 = filled(closed, 512 * 64, 2),
    C2 = closed.arena.alloc(512 * 512);
  closed.close();
  assert.throws(
    () => closed.gemm(false, true, 512, 512, 64, 1, A2, 0, 64, A2, 0, 64, 0, C2, 0, 512),
    /used after close/,
  );
});

test('idle engine workers do not keep the process alive', () => {
  const script = `
    import { createThreadedKernels } from ${JSON.stringify(fileURLToPath(new URL('../../src/engine/kernels/threads.ts', import.meta.url)))};
    const k = createThreadedKernels(2);
    const A = k.arena.alloc(512 * 64), C = k.arena.alloc(512 * 512);
    k.gemm(false, true, 512, 512, 64, 1, A, 0, 64, A, 0, 64, 0, C, 0, 512);
    console.log('ok');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.signal, null, 'the process had to be killed: a worker kept it alive');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});
