// Passage store of a dense index: `passages.jsonl` (one {"id","contents"} per line, corpus order)
// and `passages.offsets` (f64 byte offset of each line, then the file size). Hits are read with
// positional reads; nothing is loaded whole.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { splitContents } from '../../protocol/passages.ts';
import { readFully, writeFully } from './store.ts';

export interface StoredPassage {
  id: string;
  title: string;
  text: string;
  contents: string;
}

export class PassageWriter {
  private readonly fd: number;
  private readonly ofd: number;
  private pos: number;
  count: number;
  private readonly enc = new TextEncoder();
  constructor(
    readonly path: string,
    readonly offsetsPath: string,
    resume: { count: number; bytes: number } | null = null,
  ) {
    this.fd = openSync(path, resume ? 'r+' : 'w');
    this.ofd = openSync(offsetsPath, resume ? 'r+' : 'w');
    this.pos = resume?.bytes ?? 0;
    this.count = resume?.count ?? 0;
  }
  get bytes(): number {
    return this.pos;
  }
  append(items: readonly { id: string; contents: string }[]): void {
    const offs = new Float64Array(items.length);
    const lines = items.map((p, i) => {
      offs[i] = 0;
      return JSON.stringify({ id: p.id, contents: p.contents }) + '\n';
    });
    let at = this.pos;
    const chunks = lines.map((l, i) => {
      const b = this.enc.encode(l);
      offs[i] = at;
      at += b.length;
      return b;
    });
    const all = new Uint8Array(at - this.pos);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    writeFully(this.fd, all, this.pos);
    writeFully(this.ofd, new Uint8Array(offs.buffer), this.count * 8);
    this.pos = at;
    this.count += items.length;
  }
  /** Writes the terminating offset (file size) and closes. */
  finish(): void {
    writeFully(this.ofd, new Uint8Array(Float64Array.of(this.pos).buffer), this.count * 8);
    this.close();
  }
  close(): void {
    closeSync(this.fd);
    closeSync(this.ofd);
  }
}

export class PassageStore {
  private readonly fd: number;
  private readonly offsets: Float64Array;
  readonly count: number;
  private readonly dec = new TextDecoder();
  constructor(
    readonly path: string,
    offsetsPath: string,
  ) {
    const ofd = openSync(offsetsPath, 'r');
    try {
      const size = fstatSync(ofd).size;
      if (size % 8 !== 0 || size < 8)
        throw new Error(`${offsetsPath}: not a passage offsets file (${size} bytes)`);
      this.offsets = new Float64Array(size / 8);
      readFully(ofd, new Uint8Array(this.offsets.buffer), 0, offsetsPath);
    } finally {
      closeSync(ofd);
    }
    this.count = this.offsets.length - 1;
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    if (size !== this.offsets[this.count])
      throw new Error(
        `${path}: ${size} bytes but ${offsetsPath} ends at ${this.offsets[this.count]} (truncated?)`,
      );
  }
  get(i: number): StoredPassage {
    if (!(i >= 0 && i < this.count))
      throw new Error(`${this.path}: passage ${i} out of range (0..${this.count - 1})`);
    const b = new Uint8Array(this.offsets[i + 1] - this.offsets[i]);
    let done = 0;
    while (done < b.length) done += readSync(this.fd, b, done, b.length - done, this.offsets[i] + done);
    const r = JSON.parse(this.dec.decode(b)) as { id: string; contents: string };
    const { title, text } = splitContents(r.contents);
    return { id: r.id, title, text, contents: r.contents };
  }
  close(): void {
    closeSync(this.fd);
  }
}
