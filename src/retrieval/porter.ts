// Porter's stemmer as Lucene's PorterStemFilter applies it (Lucene 8.x PorterStemmer, itself a
// port of Martin Porter's ANSI C reference). Written from the algorithm's description; the
// details that make it differ from other Porter implementations are kept on purpose:
// - words of one or two chars are returned unchanged;
// - every char that is not a, e, i, o, u (or a vowel-like y) is a consonant, including digits,
//   '.', apostrophes and non-ASCII letters ("i.e" → "i.", "kechiche‘s" → "kechiche‘");
// - six steps (1ab, 1c "y→i", 2, 3, 4, 5 "e/ll") numbered 1–6 as Lucene numbers them.
// Checked against real Lucene output in test/retrieval/analyzer-lucene.test.ts.

/** Stem one lower-cased term. */
export function porterStem(word: string): string {
  if (word.length <= 2) return word;
  return new PorterState(word).run();
}

class PorterState {
  private readonly b: string[];
  /** Index of the last char of the current word. */
  private k: number;
  /** End of the stem before a matched suffix (set by ends()). */
  private j = 0;

  constructor(word: string) {
    this.b = word.split('');
    this.k = this.b.length - 1;
  }

  run(): string {
    this.step1();
    this.step2();
    this.step3();
    this.step4();
    this.step5();
    this.step6();
    return this.b.slice(0, this.k + 1).join('');
  }

  private cons(i: number): boolean {
    switch (this.b[i]) {
      case 'a':
      case 'e':
      case 'i':
      case 'o':
      case 'u':
        return false;
      case 'y':
        return i === 0 ? true : !this.cons(i - 1);
      default:
        return true;
    }
  }

  /** Number of consonant-vowel sequences (VC) in b[0..j]. */
  private m(): number {
    let n = 0;
    let i = 0;
    const j = this.j;
    for (;;) {
      if (i > j) return n;
      if (!this.cons(i)) break;
      i++;
    }
    i++;
    for (;;) {
      for (;;) {
        if (i > j) return n;
        if (this.cons(i)) break;
        i++;
      }
      i++;
      n++;
      for (;;) {
        if (i > j) return n;
        if (!this.cons(i)) break;
        i++;
      }
      i++;
    }
  }

  private vowelInStem(): boolean {
    for (let i = 0; i <= this.j; i++) if (!this.cons(i)) return true;
    return false;
  }

  private doubleC(j: number): boolean {
    if (j < 1) return false;
    if (this.b[j] !== this.b[j - 1]) return false;
    return this.cons(j);
  }

  /** consonant-vowel-consonant ending at i, the last not w, x or y (e.g. hop, not snow). */
  private cvc(i: number): boolean {
    if (i < 2 || !this.cons(i) || this.cons(i - 1) || !this.cons(i - 2)) return false;
    const ch = this.b[i];
    return !(ch === 'w' || ch === 'x' || ch === 'y');
  }

  private ends(s: string): boolean {
    const l = s.length;
    const o = this.k - l + 1;
    if (o < 0) return false;
    for (let i = 0; i < l; i++) if (this.b[o + i] !== s[i]) return false;
    this.j = this.k - l;
    return true;
  }

  private setTo(s: string): void {
    const o = this.j + 1;
    for (let i = 0; i < s.length; i++) this.b[o + i] = s[i]!;
    this.k = this.j + s.length;
  }

  private r(s: string): void {
    if (this.m() > 0) this.setTo(s);
  }

  /** Plurals and -ed / -ing. */
  private step1(): void {
    const b = this.b;
    if (b[this.k] === 's') {
      if (this.ends('sses')) this.k -= 2;
      else if (this.ends('ies')) this.setTo('i');
      else if (b[this.k - 1] !== 's') this.k--;
    }
    if (this.ends('eed')) {
      if (this.m() > 0) this.k--;
    } else if ((this.ends('ed') || this.ends('ing')) && this.vowelInStem()) {
      this.k = this.j;
      if (this.ends('at')) this.setTo('ate');
      else if (this.ends('bl')) this.setTo('ble');
      else if (this.ends('iz')) this.setTo('ize');
      else if (this.doubleC(this.k)) {
        const ch = b[this.k--];
        if (ch === 'l' || ch === 's' || ch === 'z') this.k++;
      } else if (this.m() === 1 && this.cvc(this.k)) this.setTo('e');
    }
  }

  /** Terminal y → i when there is another vowel in the stem. */
  private step2(): void {
    if (this.ends('y') && this.vowelInStem()) this.b[this.k] = 'i';
  }

  /** Double suffixes → single ones (-ization → -ize …) when m > 0. */
  private step3(): void {
    if (this.k === 0) return;
    const rules = STEP3[this.b[this.k - 1]!];
    if (!rules) return;
    for (const [suffix, repl] of rules) {
      if (this.ends(suffix)) {
        this.r(repl);
        return;
      }
    }
  }

  /** -ic-, -full, -ness … */
  private step4(): void {
    const rules = STEP4[this.b[this.k]!];
    if (!rules) return;
    for (const [suffix, repl] of rules) {
      if (this.ends(suffix)) {
        this.r(repl);
        return;
      }
    }
  }

  /** -ant, -ence … removed when m > 1. */
  private step5(): void {
    if (this.k === 0) return;
    const suffixes = STEP5[this.b[this.k - 1]!];
    if (!suffixes) return;
    let hit = false;
    for (const s of suffixes) {
      if (!this.ends(s)) continue;
      if (s === 'ion' && !(this.j >= 0 && (this.b[this.j] === 's' || this.b[this.j] === 't'))) continue;
      hit = true;
      break;
    }
    if (hit && this.m() > 1) this.k = this.j;
  }

  /** Final -e removed when m > 1 (or m = 1 and not *o); -ll → -l when m > 1. */
  private step6(): void {
    this.j = this.k;
    if (this.b[this.k] === 'e') {
      const a = this.m();
      if (a > 1 || (a === 1 && !this.cvc(this.k - 1))) this.k--;
    }
    if (this.b[this.k] === 'l' && this.doubleC(this.k) && this.m() > 1) this.k--;
  }
}

// Keyed by the penultimate (step 3, 5) or last (step 4) letter, tried in order; first match wins.
const STEP3: Record<string, [string, string][]> = {
  a: [
    ['ational', 'ate'],
    ['tional', 'tion'],
  ],
  c: [
    ['enci', 'ence'],
    ['anci', 'ance'],
  ],
  e: [['izer', 'ize']],
  l: [
    ['bli', 'ble'],
    ['alli', 'al'],
    ['entli', 'ent'],
    ['eli', 'e'],
    ['ousli', 'ous'],
  ],
  o: [
    ['ization', 'ize'],
    ['ation', 'ate'],
    ['ator', 'ate'],
  ],
  s: [
    ['alism', 'al'],
    ['iveness', 'ive'],
    ['fulness', 'ful'],
    ['ousness', 'ous'],
  ],
  t: [
    ['aliti', 'al'],
    ['iviti', 'ive'],
    ['biliti', 'ble'],
  ],
  g: [['logi', 'log']],
};

const STEP4: Record<string, [string, string][]> = {
  e: [
    ['icate', 'ic'],
    ['ative', ''],
    ['alize', 'al'],
  ],
  i: [['iciti', 'ic']],
  l: [
    ['ical', 'ic'],
    ['ful', ''],
  ],
  s: [['ness', '']],
};

const STEP5: Record<string, string[]> = {
  a: ['al'],
  c: ['ance', 'ence'],
  e: ['er'],
  i: ['ic'],
  l: ['able', 'ible'],
  n: ['ant', 'ement', 'ment', 'ent'],
  o: ['ion', 'ou'],
  s: ['ism'],
  t: ['ate', 'iti'],
  u: ['ous'],
  v: ['ive'],
  z: ['ize'],
};
