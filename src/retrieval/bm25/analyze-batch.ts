// Analysis of a batch of passages into compact postings input, the part of index building that
// runs on worker threads (build-worker.ts) or inline. Each analyser numbers the terms it meets in
// its own local ids; the main thread maps them to the index's ids in document order.
import type { CorpusDoc } from './build.ts';

export interface AnalyzedBatch {
  /** Per doc: [dl, nUnique, (localId, tf) × nUnique], unique terms in first-occurrence order. */
  enc: Int32Array;
  /** Terms first met in this batch, in local-id order (ids continue across batches). */
  newTerms: string[];
  /** Store records, concatenated: [u32 idByteLength][id UTF-8][contents UTF-8] per doc. */
  store: Uint8Array;
  /** Byte length of each doc's store record. */
  recLens: Uint32Array;
}

export class BatchAnalyzer {
  private readonly vocab = new Map<string, number>();
  private readonly enc = new TextEncoder();

  constructor(private readonly analyze: (contents: string) => string[]) {}

  run(docs: CorpusDoc[]): AnalyzedBatch {
    const newTerms: string[] = [];
    const recLens = new Uint32Array(docs.length);
    const idBytes: Uint8Array[] = [];
    const bodies: Uint8Array[] = [];
    let storeBytes = 0;
    let out = new Int32Array(Math.max(64, docs.length * 64));
    let n = 0;
    const tf = new Map<number, number>();
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i];
      const id = this.enc.encode(d.id);
      const body = this.enc.encode(d.contents);
      idBytes.push(id);
      bodies.push(body);
      recLens[i] = 4 + id.length + body.length;
      storeBytes += recLens[i];
      const terms = this.analyze(d.contents);
      tf.clear();
      for (const t of terms) {
        let l = this.vocab.get(t);
        if (l === undefined) {
          l = this.vocab.size;
          this.vocab.set(t, l);
          newTerms.push(t);
        }
        tf.set(l, (tf.get(l) ?? 0) + 1);
      }
      const need = n + 2 + 2 * tf.size;
      if (need > out.length) {
        const next = new Int32Array(Math.max(need, out.length * 2));
        next.set(out.subarray(0, n));
        out = next;
      }
      out[n++] = terms.length;
      out[n++] = tf.size;
      for (const [l, c] of tf) {
        out[n++] = l;
        out[n++] = c;
      }
    }
    const store = new Uint8Array(storeBytes);
    const view = new DataView(store.buffer);
    let off = 0;
    for (let i = 0; i < docs.length; i++) {
      view.setUint32(off, idBytes[i].length, true);
      store.set(idBytes[i], off + 4);
      store.set(bodies[i], off + 4 + idBytes[i].length);
      off += recLens[i];
    }
    return { enc: out.slice(0, n), newTerms, store, recLens };
  }
}
