// Half-precision <-> fp32 conversions (Node 20 has no Float16Array).
// Widening is exact; narrowing rounds to nearest, ties to even, and keeps NaN/Inf/signed zero.

/** bf16 is the top 16 bits of an fp32: widening is a shift (two values per 32-bit load). */
export function bf16ToF32(src: Uint16Array, dst: Float32Array): void {
  const n = src.length;
  const d = new Uint32Array(dst.buffer, dst.byteOffset, n);
  const even = n & ~1;
  if ((src.byteOffset & 3) === 0) {
    // Little-endian: word w holds src[2i] in its low half and src[2i+1] in its high half.
    const s32 = new Uint32Array(src.buffer, src.byteOffset, even >> 1);
    for (let i = 0, j = 0; i < s32.length; i++, j += 2) {
      const w = s32[i];
      d[j] = w << 16;
      d[j + 1] = w & 0xffff0000;
    }
  } else for (let i = 0; i < even; i++) d[i] = src[i] << 16;
  if (even < n) d[even] = src[even] << 16;
}

export function f32ToBf16(src: Float32Array, dst: Uint16Array): void {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) {
    const x = s[i];
    if ((x & 0x7fffffff) > 0x7f800000)
      dst[i] = (x >>> 16) | 0x0040; // NaN stays (quiet) NaN
    else dst[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
}

let F16_TABLE: Float32Array | null = null;

/** All 65536 f16 values as fp32 (256 KB, built once). */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0)
      t[h] = sign * man * 2 ** -24; // zero / subnormal
    else if (exp === 31) t[h] = man ? NaN : sign * Infinity;
    else t[h] = sign * (1 + man / 1024) * 2 ** (exp - 15);
  }
  F16_TABLE = t;
  return t;
}

export function f16ToF32(src: Uint16Array, dst: Float32Array): void {
  const t = f16Table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
}

export function f32ToF16(src: Float32Array, dst: Uint16Array): void {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) dst[i] = f32BitsToF16(s[i]);
}

/** fp32 bits -> f16 bits, round to nearest even (also into subnormals). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    man |= 0x800000; // implicit bit
    const shift = 14 - e; // 24-bit mantissa -> subnormal 10-bit
    const half = 1 << (shift - 1);
    const rest = man & ((1 << shift) - 1);
    let m = man >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m; // a carry into bit 10 correctly yields the smallest normal
  }
  let h = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // carry may roll into exp (-> Inf): correct
  return sign | h;
}
