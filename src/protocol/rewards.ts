// Rule-based outcome rewards (docs/protocol.md §2): SQuAD normalisation, EM / SubEM / token F1,
// answer extraction from the response only, and the reference v0.3 format-aware score.
import { PY_WORD_CLASS, pySplit, pyStrip } from './text.ts';

// Python's string.punctuation: ASCII only, so Unicode punctuation (« » — 、) survives, as in the reference.
const ASCII_PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
// Python `re.sub(r"\b(a|an|the)\b", " ", s)` on str: \b is Unicode-aware there, so "a" inside
// "ça" or "日a" is not a word. JS \b is ASCII-only, hence explicit look-arounds.
const ARTICLES_RE = new RegExp(`(?<![${PY_WORD_CLASS}])(?:a|an|the)(?![${PY_WORD_CLASS}])`, 'gu');

/** SQuAD normalisation: lowercase, drop ASCII punctuation, articles → space, collapse whitespace. */
export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  let noPunc = '';
  for (const ch of lower) if (!ASCII_PUNCTUATION.has(ch)) noPunc += ch;
  return pySplit(noPunc.replace(ARTICLES_RE, ' ')).join(' ');
}

/** 1 when the normalised prediction equals any normalised gold answer, else 0. */
export function exactMatch(prediction: string, golds: readonly string[]): number {
  const p = normalizeAnswer(prediction);
  return golds.some((g) => normalizeAnswer(g) === p) ? 1 : 0;
}

/** 1 when some normalised gold answer is a substring of the normalised prediction (reference subem_check). */
export function subExactMatch(prediction: string, golds: readonly string[]): number {
  const p = normalizeAnswer(prediction);
  return golds.some((g) => p.includes(normalizeAnswer(g))) ? 1 : 0;
}

/** SQuAD token F1 of one prediction against one gold answer. */
function tokenF1Single(prediction: string, gold: string): number {
  const pt = pySplit(normalizeAnswer(prediction));
  const gt = pySplit(normalizeAnswer(gold));
  const goldCounts = new Map<string, number>();
  for (const t of gt) goldCounts.set(t, (goldCounts.get(t) ?? 0) + 1);
  let same = 0; // size of the multiset intersection (Counter & Counter)
  for (const t of pt) {
    const c = goldCounts.get(t) ?? 0;
    if (c > 0) {
      same++;
      goldCounts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / pt.length;
  const recall = same / gt.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Token F1, max over the gold answers (SQuAD's metric_max_over_ground_truths). */
export function tokenF1(prediction: string, golds: readonly string[]): number {
  let best = 0;
  for (const g of golds) best = Math.max(best, tokenF1Single(prediction, g));
  return best;
}

export interface ExtractOptions {
  /**
   * Which `<answer>` to take when the response has several. Default 'last': the reference takes
   * the last match of prompt+response, so with the response alone 'last' selects the same one.
   */
  which?: 'first' | 'last';
}

const ANSWER_RE = /<answer>(.*?)<\/answer>/gs;

/**
 * The answer of a response (the policy's text only, never the prompt): content of an
 * `<answer>…</answer>` (non-greedy, dotall, stripped), or null when there is none.
 */
export function extractAnswer(responseText: string, opts: ExtractOptions = {}): string | null {
  const matches = [...responseText.matchAll(ANSWER_RE)];
  if (matches.length === 0) return null;
  const m = opts.which === 'first' ? matches[0]! : matches[matches.length - 1]!;
  return pyStrip(m[1]!);
}

/** Contents of every `<information>…</information>` block (stripped). */
export function extractInformationBlocks(responseText: string): string[] {
  return [...responseText.matchAll(/<information>(.*?)<\/information>/gs)].map((m) => pyStrip(m[1]!));
}

export interface ValidityResult {
  valid: boolean;
  reason: string;
}

const TAGS = ['think', 'search', 'information', 'answer'] as const;
const TAG_SPLIT_RE = /(<\/?(?:think|search|information|answer)>)/;
const TAG_ONLY_RE = /^<\/?(?:think|search|information|answer)>$/;

type FormatState =
  | 'start'
  | 'in_think'
  | 'after_think'
  | 'in_search'
  | 'after_search'
  | 'in_information'
  | 'information'
  | 'in_answer'
  | 'end';

// (state, tag) → next state; anything absent is a format error.
const TRANSITIONS: Record<string, FormatState> = {
  'start|<think>': 'in_think',
  'information|<think>': 'in_think',
  'in_think|</think>': 'after_think',
  'after_think|<search>': 'in_search',
  'in_search|</search>': 'after_search',
  'after_search|<information>': 'in_information',
  'in_information|</information>': 'information',
  'after_think|<answer>': 'in_answer',
  'in_answer|</answer>': 'end',
};

const INSIDE: ReadonlySet<FormatState> = new Set(['in_think', 'in_search', 'in_information', 'in_answer']);

/**
 * The reference v0.3 state machine over the response: `think → (search → information → think)* →
 * answer`, balanced tags, only whitespace between tags, nothing after `</answer>`.
 * (The reference first finds `<|im_start|>assistant` in prompt+response; we get the response alone.)
 */
export function isValidSequence(responseText: string): ValidityResult {
  for (const tag of TAGS) {
    const open = responseText.split(`<${tag}>`).length - 1;
    const close = responseText.split(`</${tag}>`).length - 1;
    if (open !== close) {
      return { valid: false, reason: `Mismatch in ${tag} tags: ${open} opening vs ${close} closing tags` };
    }
  }
  let state: FormatState = 'start';
  for (const part of responseText.split(TAG_SPLIT_RE)) {
    if (pyStrip(part) === '') continue;
    if (TAG_ONLY_RE.test(part)) {
      const next: FormatState | undefined = TRANSITIONS[`${state}|${part}`];
      if (!next) return { valid: false, reason: `Unexpected tag ${part} in state ${state}` };
      state = next;
    } else if (!INSIDE.has(state)) {
      return { valid: false, reason: `Unexpected content '${pyStrip(part)}' in state ${state}` };
    }
  }
  if (state !== 'end') return { valid: false, reason: `Incomplete sequence, ended in state ${state}` };
  return { valid: true, reason: 'Valid sequence format' };
}

export type Metric = 'em' | 'subem' | 'f1';

/** Metric value of a prediction (0 when there is none). */
export function metricScore(metric: Metric, prediction: string | null, golds: readonly string[]): number {
  if (prediction === null) return 0;
  switch (metric) {
    case 'em':
      return exactMatch(prediction, golds);
    case 'subem':
      return subExactMatch(prediction, golds);
    case 'f1':
      return tokenF1(prediction, golds);
  }
}

/** The v0.3 format-aware reward's numbers (reference names in comments). */
export interface FormatScoreOptions {
  /** Correct answer, valid format (`score`). Default 1.0. */
  correctValid?: number;
  /** Correct answer, invalid format (`score - structure_format_score`). Default 0.8. */
  correctInvalid?: number;
  /** Wrong (or no) answer, valid format (`structure_format_score`). Default 0.2. */
  wrongValid?: number;
  /** Added to wrongValid when a gold answer appears in an information block (`retrieval_score`). Default 0. */
  retrievalBonus?: number;
  /** Wrong answer, invalid format (`final_format_score`). Default 0.1. */
  wrongInvalid?: number;
  /** No answer, invalid format. Default 0. */
  noAnswerInvalid?: number;
  /** A prediction counts as correct when its metric value ≥ this (EM/SubEM are 0/1). Default 1. */
  correctThreshold?: number;
}

export interface ScoreOptions extends ExtractOptions {
  /** Default 'em' (the reference's training reward). */
  metric?: Metric;
  /** Omit for the plain metric reward (v0.1/v0.2: metric of the extracted answer, 0 without one). */
  format?: FormatScoreOptions;
}

export const DEFAULT_FORMAT_SCORE: Required<FormatScoreOptions> = {
  correctValid: 1.0,
  correctInvalid: 0.8,
  wrongValid: 0.2,
  retrievalBonus: 0,
  wrongInvalid: 0.1,
  noAnswerInvalid: 0,
  correctThreshold: 1,
};

export interface ScoreDetails {
  score: number;
  answer: string | null;
  /** Metric value of the answer (0 when none). */
  metricValue: number;
  /** Only computed with `format`; null otherwise. */
  valid: boolean | null;
  formatReason: string | null;
  /** Some gold answer (normalised) is a substring of some normalised information block. */
  retrievalHit: boolean | null;
}

/** A gold answer appears in an information block (reference is_retrieval_correct: plain substring). */
export function retrievalContainsGold(responseText: string, golds: readonly string[]): boolean {
  const blocks = extractInformationBlocks(responseText).map(normalizeAnswer);
  const g = golds.map(normalizeAnswer);
  return blocks.some((b) => g.some((x) => b.includes(x)));
}

/** The reward with its parts (for logging and the trajectory viewer). */
export function scoreDetails(
  responseText: string,
  golds: readonly string[],
  opts: ScoreOptions = {},
): ScoreDetails {
  const metric = opts.metric ?? 'em';
  const answer = extractAnswer(responseText, opts);
  const metricValue = metricScore(metric, answer, golds);
  if (!opts.format) {
    return { score: metricValue, answer, metricValue, valid: null, formatReason: null, retrievalHit: null };
  }
  const f = { ...DEFAULT_FORMAT_SCORE, ...opts.format };
  const { valid, reason } = isValidSequence(responseText);
  // As the reference: the retrieval bonus is only looked for in valid sequences.
  const retrievalHit = valid ? retrievalContainsGold(responseText, golds) : false;
  const wrongValidScore = f.wrongValid + (retrievalHit ? f.retrievalBonus : 0);
  let score: number;
  if (answer === null) {
    // A valid sequence always ends in an answer, so this branch is the reference's 0 case.
    score = valid ? wrongValidScore : f.noAnswerInvalid;
  } else if (metricValue >= f.correctThreshold) {
    score = valid ? f.correctValid : f.correctInvalid;
  } else {
    score = valid ? wrongValidScore : f.wrongInvalid;
  }
  return { score, answer, metricValue, valid, formatReason: reason, retrievalHit };
}

/** The outcome reward of one response against its gold answers. */
export function computeScore(
  responseText: string,
  golds: readonly string[],
  opts: ScoreOptions = {},
): number {
  return scoreDetails(responseText, golds, opts).score;
}
