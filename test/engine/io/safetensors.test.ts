import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  SafetensorsError,
  readCheckpoint,
  readSafetensors,
  readSafetensorsHeader,
  writeCheckpoint,
  writeSafetensors,
} from '../../../src/engine/io/safetensors.ts';
import type { TensorData } from '../../../src/engine/io/safetensors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../../src/engine/io/half.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'st-test-'));

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Random fp32 values including the awkward ones (NaN payloads, ±0, ±Inf, subnormals). */
function awkward(n: number, seed: number): Float32Array {
  const u = new Uint32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    u[i] = x;
  }
  u.set([0x7fc00001, 0xffc12345, 0x80000000, 0, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff].slice(0, n));
  return new Float32Array(u.buffer);
}

/** A safetensors file from raw parts (for hand-made and malformed inputs). */
function rawFile(path: string, header: object, data: Uint8Array): void {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  const all = new Uint8Array(8 + h.length + data.length);
  all.set(len);
  all.set(h, 8);
  all.set(data, 8 + h.length);
  writeFileSync(path, all);
}

test('F32 round trip is bit-exact (NaN payloads, -0, Inf, subnormals, empty and scalar tensors)', () => {
  const dir = tmp();
  try {
    const tensors: [string, TensorData][] = [
      ['a.weight', { shape: [7, 13], data: awkward(91, 1) }],
      ['b.bias', { shape: [5], data: awkward(5, 2) }],
      ['empty', { shape: [0, 3], data: new Float32Array(0) }],
      ['scalar', { shape: [], data: Float32Array.of(3.25) }],
    ];
    const p = join(dir, 'x.safetensors');
    writeSafetensors(p, tensors);
    const back = readSafetensors(p);
    assert.deepEqual(
      [...back.keys()],
      tensors.map(([n]) => n),
    );
    for (const [name, t] of tensors) {
      const b = back.get(name)!;
      assert.deepEqual(b.shape, t.shape, name);
      assert.deepEqual(bits(b.data), bits(t.data), name);
    }
    // The data starts 8-byte aligned and the metadata says format=pt (transformers requires it).
    const h = readSafetensorsHeader(p);
    assert.equal(h.metadata.format, 'pt');
    assert.equal(Number(readFileSync(p).readBigUInt64LE(0)) % 8, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharded checkpoint (index weight_map) round trips bit-exactly', () => {
  const dir = tmp();
  try {
    const tensors: [string, TensorData][] = Array.from({ length: 6 }, (_, i) => [
      `t${i}`,
      { shape: [10, 10], data: awkward(100, i + 10) },
    ]);
    const files = writeCheckpoint(dir, tensors, { maxShardBytes: 900 }); // 400 bytes each: 2 per shard
    assert.deepEqual(files, [
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(idx.metadata.total_size, 2400);
    assert.equal(idx.weight_map.t3, 'model-00002-of-00003.safetensors');
    const back = readCheckpoint(dir);
    for (const [name, t] of tensors) assert.deepEqual(bits(back.get(name)!.data), bits(t.data), name);
    // An index naming a tensor a shard does not have fails naming both.
    idx.weight_map.ghost = 'model-00001-of-00003.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    assert.throws(
      () => readCheckpoint(dir),
      /model-00001-of-00003\.safetensors: tensor "ghost": listed in model\.safetensors\.index\.json/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hand-made BF16 and F16 tensors load to the exact fp32 values', () => {
  const dir = tmp();
  try {
    // bf16: 1, -2, +Inf, smallest subnormal (2^-133), 3.140625 ; f16: 1, -2, 65504, 2^-24 (subnormal), -0
    const bf = Uint16Array.of(0x3f80, 0xc000, 0x7f80, 0x0001, 0x4049);
    const hf = Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000);
    const data = new Uint8Array(20);
    data.set(new Uint8Array(bf.buffer), 0);
    data.set(new Uint8Array(hf.buffer), 10);
    const p = join(dir, 'half.safetensors');
    rawFile(
      p,
      {
        bf: { dtype: 'BF16', shape: [5], data_offsets: [0, 10] },
        hf: { dtype: 'F16', shape: [5], data_offsets: [10, 20] },
      },
      data,
    );
    const t = readSafetensors(p);
    assert.deepEqual([...t.get('bf')!.data], [1, -2, Infinity, 2 ** -133, 3.140625]);
    const h = [...t.get('hf')!.data];
    assert.deepEqual(h.slice(0, 4), [1, -2, 65504, 2 ** -24]);
    assert.ok(Object.is(h[4], -0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The two representable neighbours of a half value (by bit pattern, same sign). */
function nearestOk(x: number, got: number, widen: (b: number) => number, bitsGot: number): boolean {
  const up = widen((bitsGot + 1) & 0xffff);
  const down = bitsGot & 0x7fff ? widen((bitsGot - 1) & 0xffff) : NaN;
  const e = Math.abs(x - got);
  const better = (n: number) => Number.isFinite(n) && Math.abs(x - n) < e;
  if (better(up) || better(down)) return false;
  // ties go to the even pattern
  const tie = (n: number) => Number.isFinite(n) && Math.abs(x - n) === e && n !== got;
  if ((tie(up) || tie(down)) && bitsGot & 1) return false;
  return true;
}

test('f32 -> f16 / bf16 narrowing rounds to nearest, ties to even (property)', () => {
  const h16 = new Uint16Array(1);
  const w = new Float32Array(1);
  const widenF16 = (b: number) => (f16ToF32(Uint16Array.of(b), w), w[0]);
  const widenBf16 = (b: number) => (bf16ToF32(Uint16Array.of(b), w), w[0]);
  fc.assert(
    fc.property(fc.float({ noNaN: true, min: -60000, max: 60000 }), (x) => {
      f32ToF16(Float32Array.of(x), h16);
      if (!nearestOk(x, widenF16(h16[0]), widenF16, h16[0])) return false;
      f32ToBf16(Float32Array.of(x), h16);
      return nearestOk(x, widenBf16(h16[0]), widenBf16, h16[0]);
    }),
    { numRuns: 3000 },
  );
  // Overflow, NaN and a known tie.
  const out = new Uint16Array(3);
  f32ToF16(Float32Array.of(70000, NaN, 1 + 2 ** -11), out);
  assert.equal(out[0], 0x7c00);
  assert.ok(Number.isNaN(widenF16(out[1])));
  assert.equal(out[2], 0x3c00, '1 + 2^-11 is a tie between 1 and 1+2^-10: even is 1');
});

test('F16/BF16 writing then reading equals rounding each value', () => {
  const dir = tmp();
  try {
    const data = Float32Array.from({ length: 257 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    for (const dtype of ['F16', 'BF16'] as const) {
      const p = join(dir, `${dtype}.safetensors`);
      writeSafetensors(p, [['w', { shape: [257], data }]], { dtype });
      assert.equal(readSafetensorsHeader(p).tensors.get('w')!.dtype, dtype);
      const got = readSafetensors(p).get('w')!.data;
      const h = new Uint16Array(257);
      const want = new Float32Array(257);
      if (dtype === 'F16') {
        f32ToF16(data, h);
        f16ToF32(h, want);
      } else {
        f32ToBf16(data, h);
        bf16ToF32(h, want);
      }
      assert.deepEqual(bits(got), bits(want));
      const relTol = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
      for (let i = 0; i < 257; i++) {
        if (Math.abs(data[i]) > 1e-4)
          assert.ok(Math.abs(got[i] - data[i]) <= relTol * Math.abs(data[i]), `${dtype}[${i}]`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad files fail naming the file and the tensor; nothing is read past the end', () => {
  const dir = tmp();
  try {
    const p = join(dir, 'm.safetensors');
    writeSafetensors(p, [
      ['first', { shape: [4], data: new Float32Array(4) }],
      ['second.weight', { shape: [8, 8], data: new Float32Array(64) }],
    ]);
    // Truncated in the middle of the second tensor's data.
    truncateSync(p, statSync(p).size - 10);
    assert.throws(
      () => readSafetensors(p),
      (e: Error) => e.message.includes(p) && /tensor "second\.weight".*truncated/.test(e.message),
    );
    // Truncated inside the header.
    truncateSync(p, 20);
    assert.throws(
      () => readSafetensors(p),
      (e: Error) => e.message.includes(p) && /truncated/.test(e.message),
    );
    truncateSync(p, 3);
    assert.throws(() => readSafetensors(p), /too short/);

    const q = join(dir, 'int.safetensors');
    rawFile(q, { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16));
    assert.throws(
      () => readSafetensors(q),
      (e: Error) => e.message.includes(q) && /tensor "ids": dtype I64 is not supported/.test(e.message),
    );

    const r = join(dir, 'span.safetensors');
    rawFile(r, { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    assert.throws(() => readSafetensors(r), /tensor "w": data_offsets span 8 bytes but F32\[3\] needs 12/);

    const s = join(dir, 'huge.safetensors');
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
    writeFileSync(s, b);
    assert.throws(() => readSafetensors(s), /implausible/);

    const u = join(dir, 'json.safetensors');
    rawFile(u, {}, new Uint8Array(0));
    writeFileSync(u, Buffer.concat([readFileSync(u).subarray(0, 8), Buffer.from('{x')]));
    assert.throws(() => readSafetensors(u), /header is not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writing refuses a shape that does not match the data', () => {
  const dir = tmp();
  try {
    assert.throws(
      () =>
        writeSafetensors(join(dir, 'x.safetensors'), [['w', { shape: [2, 3], data: new Float32Array(5) }]]),
      /tensor "w": shape \[2,3\] has 6 elements but data has 5/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bf16 widening equals a plain shift for any alignment and length', () => {
  const src = Uint16Array.from({ length: 41 }, (_, i) => (i * 40503 + 7) & 0xffff);
  for (const [off, len] of [
    [0, 41],
    [1, 40],
    [1, 39],
    [2, 17],
    [3, 0],
  ]) {
    const s = src.subarray(off, off + len);
    const got = new Float32Array(len);
    bf16ToF32(s, got);
    const want = new Float32Array(new Uint32Array(Array.from(s, (h) => h << 16)).buffer);
    assert.deepEqual(bits(got), bits(want), `offset ${off}, length ${len}`);
  }
});

test('fuzz: corrupted files fail with a SafetensorsError naming the file, never anything else', () => {
  const dir = tmp();
  try {
    const good = join(dir, 'good.safetensors');
    writeSafetensors(
      good,
      [
        ['a', { shape: [3, 5], data: awkward(15, 3) }],
        ['b', { shape: [7], data: awkward(7, 4) }],
      ],
      { dtype: 'BF16' },
    );
    const bytes = readFileSync(good);
    const p = join(dir, 'fuzz.safetensors');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(bytes.length),
        (edits, cut) => {
          const b = Buffer.from(bytes.subarray(0, Math.max(cut, 1)));
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          writeFileSync(p, b);
          try {
            const t = readSafetensors(p);
            // Whatever parsed must be self-consistent.
            for (const [, x] of t)
              assert.equal(
                x.data.length,
                x.shape.reduce((m, d) => m * d, 1),
              );
            return true;
          } catch (e) {
            return e instanceof SafetensorsError && e.message.startsWith(p);
          }
        },
      ),
      { numRuns: 500 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
