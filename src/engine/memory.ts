// Float32 buffers for the engine. With the WASM kernels every buffer lives in the module's single
// WebAssembly.Memory (allocated by its TLSF heap) so kernels take plain byte offsets; growing the
// memory detaches old ArrayBuffer views, so a Buf re-creates its view when the memory changed.
// Buffers are allocated when a buffer plan is built, never inside the hot loop.

export class Buf {
  private view: Float32Array;
  private i32view: Int32Array | null = null;
  constructor(
    /** Byte offset in the WASM memory (0 for the JS arena). */
    readonly ptr: number,
    readonly len: number,
    data: Float32Array,
    private readonly memory: WebAssembly.Memory | null = null,
  ) {
    this.view = data;
  }
  /** Element view, re-created if the memory grew (a grow detaches old views; kernels may grow it). */
  get data(): Float32Array {
    if (this.memory !== null && this.view.buffer !== this.memory.buffer)
      this.view = new Float32Array(this.memory.buffer, this.ptr, this.len);
    return this.view;
  }
  /** Elements [lo, hi) as a buffer of their own (same memory; e.g. one lane's share of a tensor). */
  slice(lo: number, hi: number): Buf {
    return new Buf(this.ptr + 4 * lo, hi - lo, this.data.subarray(lo, hi), this.memory);
  }
  /** The same bytes viewed as int32 (token ids for the kernels). */
  get i32(): Int32Array {
    if (!this.i32view || this.i32view.buffer !== this.data.buffer)
      this.i32view = new Int32Array(this.data.buffer, this.data.byteOffset, this.len);
    return this.i32view;
  }
}

export interface Arena {
  readonly kind: 'wasm' | 'js';
  alloc(n: number): Buf;
  free(b: Buf): void;
  /** Bytes currently reserved (for diagnostics). */
  bytesInUse(): number;
}

export class JsArena implements Arena {
  readonly kind = 'js' as const;
  private inUse = 0;
  /**
   * precision 64 backs every buffer with a Float64Array (typed as Float32Array): the float64
   * reference path the gradient tests run finite differences on. Only the plain-TS kernels accept it.
   */
  constructor(readonly precision: 32 | 64 = 32) {}
  alloc(n: number): Buf {
    this.inUse += n * (this.precision / 8);
    const d = this.precision === 64 ? (new Float64Array(n) as unknown as Float32Array) : new Float32Array(n);
    return new Buf(0, n, d);
  }
  free(b: Buf): void {
    this.inUse -= b.len * (this.precision / 8);
  }
  bytesInUse(): number {
    return this.inUse;
  }
}

export class WasmArena implements Arena {
  readonly kind = 'wasm' as const;
  private live = new Set<Buf>();
  private inUse = 0;
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly wasmAlloc: (bytes: number) => number,
    private readonly wasmFree: (ptr: number) => void,
  ) {}
  alloc(n: number): Buf {
    const bytes = Math.max(16, n * 4);
    if (bytes > 0xfff0_0000)
      throw new Error(`engine memory: cannot allocate ${bytes} bytes (wasm32 limit 4 GiB)`);
    let ptr: number;
    try {
      ptr = this.wasmAlloc(bytes) >>> 0;
    } catch (e) {
      throw new Error(
        `engine memory: out of WebAssembly memory allocating ${(bytes / 2 ** 20).toFixed(1)} MiB ` +
          `(in use ${(this.inUse / 2 ** 20).toFixed(1)} MiB; wasm32 is limited to 4 GiB): ${(e as Error).message}`,
      );
    }
    const b = new Buf(ptr, n, new Float32Array(this.memory.buffer, ptr, n), this.memory);
    this.live.add(b);
    this.inUse += bytes;
    return b;
  }
  free(b: Buf): void {
    if (!this.live.delete(b)) return;
    this.inUse -= Math.max(16, b.len * 4);
    this.wasmFree(b.ptr);
  }
  bytesInUse(): number {
    return this.inUse;
  }
}
