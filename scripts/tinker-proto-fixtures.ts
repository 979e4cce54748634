// Step 1 of scripts/tinker-proto-fixtures.sh: writes the interop cases (JSON wire form, values exact in
// float32) and our encoding of each, for the Python side (python3-protobuf) to decode and re-encode.
// test/tinker/proto.test.ts compares the committed results; it needs no Python.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
  encodeSampleResponse,
} from '../src/policy/tinker/proto.ts';
import { PROTO_CASES, type ProtoCase } from '../test/tinker/proto-cases.ts';

export function encodeCase(c: ProtoCase): Uint8Array {
  if (c.message === 'ForwardBackwardRequest') return encodeForwardBackwardRequest(c.value, c.forward_only);
  if (c.message === 'ForwardBackwardOutput') return encodeForwardBackwardOutput(c.value);
  return encodeSampleResponse(c.value);
}

const dir = process.argv[2] ?? 'test/tinker/fixtures/proto';
mkdirSync(join(dir, 'ts'), { recursive: true });
writeFileSync(join(dir, 'cases.json'), JSON.stringify(PROTO_CASES, null, 1) + '\n');
for (const c of PROTO_CASES) writeFileSync(join(dir, 'ts', `${c.name}.bin`), encodeCase(c));
console.log(`wrote ${PROTO_CASES.length} cases to ${dir}`);
