// The inference methods by name (`search-r1 eval --method …`).
import { METHOD_NAMES, type Method, type MethodName } from '../types.ts';
import { cot } from './cot.ts';
import { direct } from './direct.ts';
import { ircot } from './ircot.ts';
import { rag } from './rag.ts';
import { r1, searchR1 } from './search-r1.ts';
import { searchO1 } from './search-o1.ts';

export const METHODS: Record<MethodName, Method> = {
  direct,
  cot,
  rag,
  ircot,
  'search-o1': searchO1,
  'search-r1': searchR1,
  r1,
};

/** Parses a comma-separated method list; unknown names fail with the list of known ones. */
export function parseMethods(spec: string): Method[] {
  const names = spec
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('--method: no method given');
  return names.map((n) => {
    if (!(METHOD_NAMES as readonly string[]).includes(n))
      throw new Error(`--method: unknown method "${n}" (known: ${METHOD_NAMES.join(', ')})`);
    return METHODS[n as MethodName];
  });
}
