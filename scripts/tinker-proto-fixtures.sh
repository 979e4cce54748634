#!/usr/bin/env bash
# Remakes test/tinker/fixtures/proto: our encoding of each interop case (TypeScript), then Debian's
# python3-protobuf encodes the same cases and decodes ours (needs: apt-get install python3-protobuf
# protobuf-compiler). test/tinker/proto.test.ts compares the committed files without Python.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=test/tinker/fixtures/proto
node --import tsx scripts/tinker-proto-fixtures.ts "$dir"
/usr/bin/python3 scripts/tinker-proto-fixtures.py "$dir"
