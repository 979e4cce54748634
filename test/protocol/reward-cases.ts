// The reward test table (shared by rewards.test.ts). Each expectation was written by hand from the
// reference's Python semantics (SQuAD normalisation with Python `re`/`str`, qa_em_format v0.3).
import type { FormatScoreOptions, Metric } from '../../src/protocol/rewards.ts';

export interface NormCase {
  input: string;
  expected: string;
  why: string;
}

export const NORMALIZE_CASES: NormCase[] = [
  { input: 'The Eiffel Tower', expected: 'eiffel tower', why: 'article + lowercase' },
  { input: 'a  cat', expected: 'cat', why: 'article a' },
  { input: 'An apple', expected: 'apple', why: 'article an' },
  { input: 'theory another', expected: 'theory another', why: 'articles inside words stay' },
  { input: 'Hello, World!', expected: 'hello world', why: 'ASCII punctuation' },
  { input: 'U.S.A.', expected: 'usa', why: 'dots removed without space' },
  { input: "rock'n'roll", expected: 'rocknroll', why: 'apostrophes removed' },
  { input: '  multiple   spaces\t\nhere ', expected: 'multiple spaces here', why: 'whitespace collapse' },
  { input: 'Café', expected: 'café', why: 'accent survives' },
  { input: 'ÉCOLE', expected: 'école', why: 'Unicode lowercase' },
  { input: '«Paris» — “quoted”', expected: '«paris» — “quoted”', why: 'non-ASCII punctuation survives' },
  { input: '日本の首都、東京。', expected: '日本の首都、東京。', why: 'CJK and CJK punctuation survive' },
  { input: '😀 The end', expected: '😀 end', why: 'emoji survives' },
  { input: 'ça a', expected: 'ça', why: 'a after ç is part of a word' },
  { input: 'éa', expected: 'éa', why: 'Python \\b is Unicode-aware: é is a word char' },
  { input: '日a', expected: '日a', why: 'CJK is a word char for Python \\b' },
  { input: 'e\u0301a', expected: 'e\u0301', why: 'combining mark is not a word char in Python re' },
  { input: 'the_a', expected: 'thea', why: '_ is punctuation, removed before articles' },
  { input: 'a-the-an', expected: 'athean', why: 'hyphens removed first, so no articles left' },
  { input: 'the\u00a0end', expected: 'end', why: 'NBSP is whitespace' },
  { input: '\u200bthe', expected: '\u200b', why: 'ZWSP is neither word char nor whitespace' },
  { input: '\u001cthe\u001d', expected: '', why: 'U+001C/U+001D are Python whitespace' },
  { input: 'x\u0085y', expected: 'x y', why: 'U+0085 is Python whitespace' },
  { input: 'x\ufeffy', expected: 'x\ufeffy', why: 'U+FEFF is not Python whitespace' },
  { input: 'İstanbul', expected: 'i\u0307stanbul', why: 'full lowercase mapping' },
  { input: 'ΟΔΟΣ', expected: 'οδος', why: 'final sigma' },
  { input: '１２３', expected: '１２３', why: 'full-width digits stay' },
  { input: '', expected: '', why: 'empty' },
  { input: 'The', expected: '', why: 'only an article' },
  { input: 'a a a', expected: '', why: 'consecutive articles' },
  { input: 'THE BEATLES', expected: 'beatles', why: 'uppercase article' },
  { input: '1,000', expected: '1000', why: 'digit grouping comma' },
];

export interface MetricCase {
  fn: Metric;
  prediction: string;
  golds: string[];
  expected: number;
  why: string;
}

export const METRIC_CASES: MetricCase[] = [
  { fn: 'em', prediction: 'the Paris', golds: ['paris'], expected: 1, why: 'article ignored' },
  { fn: 'em', prediction: 'Paris, France', golds: ['Paris'], expected: 0, why: 'extra words' },
  { fn: 'em', prediction: 'London', golds: ['Paris', 'London'], expected: 1, why: 'second gold' },
  { fn: 'em', prediction: 'London', golds: [], expected: 0, why: 'no golds' },
  { fn: 'em', prediction: 'Beyoncé', golds: ['beyonce'], expected: 0, why: 'accents are not folded' },
  { fn: 'subem', prediction: 'Paris, France', golds: ['Paris'], expected: 1, why: 'gold inside prediction' },
  { fn: 'subem', prediction: 'Paris', golds: ['Paris, France'], expected: 0, why: 'prediction inside gold' },
  { fn: 'subem', prediction: 'theparis', golds: ['par'], expected: 1, why: 'plain substring, not token' },
  { fn: 'f1', prediction: 'the cat sat', golds: ['cat sat on mat'], expected: 2 / 3, why: 'p=1 r=1/2' },
  { fn: 'f1', prediction: 'a b b', golds: ['b b c'], expected: 0.8, why: 'multiset intersection' },
  {
    fn: 'f1',
    prediction: 'b b b',
    golds: ['b'],
    expected: 0.5,
    why: 'repeated tokens counted once per gold',
  },
  { fn: 'f1', prediction: 'x y', golds: ['z', 'x y w', 'x y'], expected: 1, why: 'max over golds' },
  { fn: 'f1', prediction: '', golds: ['x'], expected: 0, why: 'empty prediction' },
];

export interface ExtractCase {
  response: string;
  which?: 'first' | 'last';
  expected: string | null;
  why: string;
}

export const EXTRACT_CASES: ExtractCase[] = [
  { response: '<think>x</think>', expected: null, why: 'missing answer tag' },
  { response: '<answer> Paris </answer>', expected: 'Paris', why: 'stripped' },
  { response: '<answer>A</answer> then <answer>B</answer>', expected: 'B', why: 'several: the last' },
  {
    response: '<answer>A</answer> then <answer>B</answer>',
    which: 'first',
    expected: 'A',
    why: 'first on request',
  },
  {
    response: '<answer>outer <answer>inner</answer></answer>',
    expected: 'outer <answer>inner',
    why: 'nested: non-greedy',
  },
  { response: '<answer>unclosed', expected: null, why: 'unclosed tag' },
  { response: '<answer>two\nlines</answer>', expected: 'two\nlines', why: 'dotall' },
  { response: '<answer></answer>', expected: '', why: 'empty answer is an answer' },
];

export interface ScoreCase {
  response: string;
  golds: string[];
  metric?: Metric;
  format?: FormatScoreOptions;
  expected: number;
  why: string;
}

const INFO = '\n\n<information>Doc 1(Title: "Paris") Paris is the capital of France.\n</information>\n\n';
const V = {}; // format-aware with the reference defaults

export const SCORE_CASES: ScoreCase[] = [
  { response: '<answer>Paris</answer>', golds: ['paris'], expected: 1, why: 'plain EM correct' },
  { response: 'Paris', golds: ['paris'], expected: 0, why: 'plain EM, no answer tag' },
  { response: '<answer>Lyon</answer>', golds: ['paris'], expected: 0, why: 'plain EM wrong' },
  {
    response: '<answer>cat sat</answer>',
    golds: ['cat sat on mat'],
    metric: 'f1',
    expected: 2 / 3,
    why: 'plain F1',
  },
  {
    response: '<answer>the city of Paris</answer>',
    golds: ['Paris'],
    metric: 'subem',
    expected: 1,
    why: 'plain SubEM',
  },
  {
    response: '<think>t</think>\n<answer> Paris </answer>',
    golds: ['paris'],
    format: V,
    expected: 1,
    why: 'correct, valid',
  },
  {
    response: `<think>a</think>\n<search> capital of france </search>${INFO}<think>b</think>\n<answer>Paris</answer>`,
    golds: ['Paris'],
    format: V,
    expected: 1,
    why: 'correct, valid with one search',
  },
  {
    response: `<think>a</think><search>q1</search>${INFO}<think>b</think><search>q2</search>${INFO}<think>c</think><answer>Paris</answer>`,
    golds: ['Paris'],
    format: V,
    expected: 1,
    why: 'correct, valid with two searches',
  },
  {
    response: '<answer>Paris</answer>',
    golds: ['paris'],
    format: V,
    expected: 0.8,
    why: 'correct, no think',
  },
  {
    response: '<think>t</think><answer>Paris</answer> trailing',
    golds: ['paris'],
    format: V,
    expected: 0.8,
    why: 'correct, text after answer',
  },
  {
    response: '<think>t</think> stray <answer>Paris</answer>',
    golds: ['paris'],
    format: V,
    expected: 0.8,
    why: 'correct, text between tags',
  },
  {
    response: '<think>t</think><answer>Lyon</answer>',
    golds: ['paris'],
    format: V,
    expected: 0.2,
    why: 'wrong, valid',
  },
  {
    response: `<think>a</think><search>q</search>${INFO}<think>b</think><answer>Lyon</answer>`,
    golds: ['Paris'],
    format: { retrievalBonus: 0.1 },
    expected: 0.3,
    why: 'wrong, valid, gold retrieved, bonus 0.1',
  },
  {
    response: `<think>a</think><search>q</search>${INFO}<think>b</think><answer>Lyon</answer>`,
    golds: ['Paris'],
    format: V,
    expected: 0.2,
    why: 'wrong, valid, gold retrieved, default bonus 0',
  },
  {
    response: `<think>a</think><search>q</search>${INFO}<think>b</think><answer>Lyon</answer>`,
    golds: ['Berlin'],
    format: { retrievalBonus: 0.1 },
    expected: 0.2,
    why: 'wrong, valid, gold not retrieved',
  },
  { response: '<answer>Lyon</answer>', golds: ['paris'], format: V, expected: 0.1, why: 'wrong, invalid' },
  {
    response: `<search>q</search>${INFO}<answer>Lyon</answer>`,
    golds: ['Paris'],
    format: { retrievalBonus: 0.1 },
    expected: 0.1,
    why: 'wrong, invalid: no bonus without a valid format',
  },
  {
    response: '<think>no answer at all</think>',
    golds: ['paris'],
    format: V,
    expected: 0,
    why: 'no answer, invalid',
  },
  { response: 'free text', golds: ['paris'], format: V, expected: 0, why: 'no tags at all' },
  {
    response: `<think>a</think>${INFO}<think>b</think><answer>Paris</answer>`,
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'information without search',
  },
  {
    response: '<think>a</think><think>b</think><answer>Paris</answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'two thinks in a row',
  },
  {
    response: '<think>a</think><search>q</search><think>b</think><answer>Paris</answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'search without information',
  },
  {
    response: '<think>a<answer>Paris</answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'unbalanced think',
  },
  {
    response: '<think>a</think><answer>A</answer><answer>Paris</answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'two answers: last taken, invalid',
  },
  {
    response: '<think>a</think><answer>outer <answer>Paris</answer></answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.1,
    why: 'nested answer tags: wrong, invalid',
  },
  {
    response: '<Think>a</Think><answer>Paris</answer>',
    golds: ['Paris'],
    format: V,
    expected: 0.8,
    why: 'tags are case-sensitive',
  },
  {
    response: ' \n<think>a</think>\n\n<answer>Paris</answer>\n ',
    golds: ['Paris'],
    format: V,
    expected: 1,
    why: 'whitespace around tags is fine',
  },
  {
    response: '<answer>Paris</answer>',
    golds: ['paris'],
    format: { correctInvalid: 0.5 },
    expected: 0.5,
    why: 'configurable correct-invalid',
  },
  {
    response: '<think>t</think><answer>Lyon</answer>',
    golds: ['paris'],
    format: { wrongValid: 0.3 },
    expected: 0.3,
    why: 'configurable wrong-valid',
  },
  {
    response: '<think>t</think><answer>the cat sat</answer>',
    golds: ['cat sat on mat'],
    metric: 'f1',
    format: { correctThreshold: 0.5 },
    expected: 1,
    why: 'F1 above threshold is correct',
  },
  {
    response: '<think>t</think><answer>the cat sat</answer>',
    golds: ['cat sat on mat'],
    metric: 'f1',
    format: V,
    expected: 0.2,
    why: 'F1 below default threshold 1',
  },
  {
    response: '<think>t</think><answer>Paris France</answer>',
    golds: ['paris'],
    metric: 'subem',
    format: V,
    expected: 1,
    why: 'SubEM correct, valid',
  },
];
