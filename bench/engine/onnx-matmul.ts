// Builds the bytes of a one-node ONNX model `C = MatMul(A, B)` (A: [M,K], B: [K,N], float32) by
// hand-encoding the protobuf, so the benchmark needs no model download.

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const vInt = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const vBytes = (field: number, bytes: number[]) => [...key(field, 2), ...varint(bytes.length), ...bytes];
const vStr = (field: number, s: string) => vBytes(field, [...new TextEncoder().encode(s)]);

/** ValueInfoProto for a float32 tensor of the given shape. */
function valueInfo(name: string, shape: number[]): number[] {
  const dims = shape.flatMap((d) => vBytes(1, vInt(1, d))); // Dimension{dim_value}
  const tensorType = [...vInt(1, 1 /* FLOAT */), ...vBytes(2, dims)]; // TypeProto.Tensor
  const typeProto = vBytes(1, tensorType); // TypeProto{tensor_type}
  return [...vStr(1, name), ...vBytes(2, typeProto)];
}

export function matmulModel(M: number, K: number, N: number): Uint8Array {
  const node = [...vStr(1, 'A'), ...vStr(1, 'B'), ...vStr(2, 'C'), ...vStr(4, 'MatMul')];
  const graph = [
    ...vBytes(1, node),
    ...vStr(2, 'mm'),
    ...vBytes(11, valueInfo('A', [M, K])),
    ...vBytes(11, valueInfo('B', [K, N])),
    ...vBytes(12, valueInfo('C', [M, N])),
  ];
  const opset = [...vStr(1, ''), ...vInt(2, 13)];
  const model = [
    ...vInt(1, 8 /* ir_version */),
    ...vStr(2, 'search-r1-bench'),
    ...vBytes(7, graph),
    ...vBytes(8, opset),
  ];
  return Uint8Array.from(model);
}
