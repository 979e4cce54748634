// Python `str` semantics the reference relies on, re-created in JS so that text normalised
// here is byte-identical to what the Python reference produces.

/**
 * Characters for which Python's `str.isspace()` is true (what `str.split()` / `str.strip()`
 * with no argument use). Differs from JS `\s`: includes U+001C..U+001F and U+0085, excludes U+FEFF.
 */
export const PY_WHITESPACE_CLASS =
  '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const PY_STRIP_RE = new RegExp(`^[${PY_WHITESPACE_CLASS}]+|[${PY_WHITESPACE_CLASS}]+$`, 'gu');
const PY_SPLIT_RE = new RegExp(`[${PY_WHITESPACE_CLASS}]+`, 'u');

/** Python `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP_RE, '');
}

/** Python `s.split()` (no argument): split on runs of whitespace, drop empty pieces. */
export function pySplit(s: string): string[] {
  const stripped = pyStrip(s);
  return stripped === '' ? [] : stripped.split(PY_SPLIT_RE);
}

/**
 * Python `re` word character for `str` patterns: `ch.isalnum() or ch == '_'`, i.e. letters
 * (L*) and numbers (N*). Combining marks (M*) are NOT word characters in Python's `re`.
 */
export const PY_WORD_CLASS = '\\p{L}\\p{N}_';
