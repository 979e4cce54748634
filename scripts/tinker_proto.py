"""Tinker's protobuf wire in Python, from Debian's python3-protobuf and protoc (protobuf-compiler).

Shared by scripts/tinker-proto-fixtures.py and scripts/tinker-sdk-replay.py. An independent
implementation of the JSON-wire <-> protobuf mapping in src/policy/tinker/proto.ts (written from
docs/tinker-protobuf.md, not from the TypeScript), so interop tests compare two implementations.
"""
import importlib
import math
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "src", "policy", "tinker", "tinker_public.proto")


def load_pb2():
    """Compiles tinker_public.proto with protoc into a temporary folder and imports it."""
    out = tempfile.mkdtemp(prefix="tinker-pb2-")
    src_dir = os.path.dirname(os.path.abspath(PROTO))
    subprocess.run(["protoc", f"-I{src_dir}", f"--python_out={out}", os.path.basename(PROTO)], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("tinker_public_pb2")


pb = load_pb2()
FMT = {pb.DTYPE_FLOAT32: "f", pb.DTYPE_INT64: "q", pb.DTYPE_INT32: "i"}


def pack(values, fmt):
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def unpack(data, fmt):
    n = len(data) // struct.calcsize(fmt)
    return list(struct.unpack("<%d%s" % (n, fmt), data))


def num(x):
    """Integral floats as ints, so JSON matches what JavaScript writes."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


# ---------- ForwardBackwardRequest ----------

def fb_request_to_proto(req, forward_only):
    inp = req["forward_backward_input"]
    m = pb.ForwardBackwardRequest(model_id=req["model_id"], seq_id=req.get("seq_id", 0),
                                  loss_fn=inp["loss_fn"], forward_only=forward_only)
    for k, v in inp.get("loss_fn_config", {}).items():
        m.loss_fn_config[k] = v
    for d in inp["data"]:
        pd = m.data.add()
        for c in d["model_input"]["chunks"]:
            pd.model_input.add().encoded_text.tokens = pack(c["tokens"], "i")
        for k, t in d["loss_fn_inputs"].items():
            dt = pb.DTYPE_INT64 if t["dtype"] == "int64" else pb.DTYPE_FLOAT32
            pt = pd.loss_fn_inputs[k]
            pt.dtype = dt
            pt.shape.extend(t.get("shape", [len(t["data"])]))
            if "sparse_crow_indices" in t:
                pt.sparse_csr.values = pack(t["data"], FMT[dt])
                pt.sparse_csr.crow_indices = pack(t["sparse_crow_indices"], "q")
                pt.sparse_csr.col_indices = pack(t["sparse_col_indices"], "q")
            else:
                pt.dense = pack(t["data"], FMT[dt])
    return m


def fb_request_from_proto(m):
    data = []
    for d in m.data:
        chunks = [{"type": "encoded_text", "tokens": unpack(c.encoded_text.tokens, "i")} for c in d.model_input]
        inputs = {}
        for k, t in d.loss_fn_inputs.items():
            dtype = "int64" if t.dtype in (pb.DTYPE_INT64, pb.DTYPE_INT32) else "float32"
            if t.WhichOneof("encoding") == "sparse_csr":
                inputs[k] = {"data": [num(x) for x in unpack(t.sparse_csr.values, FMT[t.dtype])], "dtype": dtype,
                             "shape": list(t.shape),
                             "sparse_crow_indices": unpack(t.sparse_csr.crow_indices, "q"),
                             "sparse_col_indices": unpack(t.sparse_csr.col_indices, "q")}
            else:
                values = [num(x) for x in unpack(t.dense, FMT[t.dtype])]
                inputs[k] = {"data": values, "dtype": dtype, "shape": list(t.shape) or [len(values)]}
        data.append({"model_input": {"chunks": chunks}, "loss_fn_inputs": inputs})
    inp = {"loss_fn": m.loss_fn, "data": data}
    if m.loss_fn_config:
        inp["loss_fn_config"] = {k: num(v) for k, v in m.loss_fn_config.items()}
    req = {"model_id": m.model_id}
    if m.seq_id:
        req["seq_id"] = m.seq_id
    req["forward_backward_input"] = inp
    return req, m.forward_only


# ---------- ForwardBackwardOutput ----------

def fb_output_to_proto(out):
    m = pb.ForwardBackwardOutput(loss_fn_output_type=out["loss_fn_output_type"])
    for k, v in out["metrics"].items():
        m.metrics[k] = v
    outs = out["loss_fn_outputs"]
    i = 0
    while i < len(outs):
        keys = sorted(outs[i])
        j = i + 1
        while j < len(outs) and sorted(outs[j]) == keys:
            j += 1
        rec = m.loss_fn_outputs.add(type_tag=out["loss_fn_output_type"], num_datums=j - i)
        for k in keys:
            first = outs[i][k]
            dt = pb.DTYPE_INT64 if first["dtype"] == "int64" else pb.DTYPE_FLOAT32
            blobs = [pack(outs[n][k]["data"], FMT[dt]) for n in range(i, j)]
            offsets = [0]
            for b in blobs:
                offsets.append(offsets[-1] + len(b))
            bt = rec.fields[k]
            bt.data = b"".join(blobs)
            bt.offsets = pack(offsets, "q")
            bt.dtype = dt
            bt.trailing_shape.extend(first.get("shape", [0])[1:])
        i = j
    return m


def fb_output_from_proto(m):
    outs = []
    for rec in m.loss_fn_outputs:
        base = len(outs)
        outs.extend({} for _ in range(rec.num_datums))
        for k, bt in rec.fields.items():
            offsets = unpack(bt.offsets, "q")
            trailing = list(bt.trailing_shape)
            inner = math.prod(trailing)
            for d in range(rec.num_datums):
                values = [num(x) for x in unpack(bt.data[offsets[d]:offsets[d + 1]], FMT[bt.dtype])]
                outs[base + d][k] = {"data": values,
                                     "dtype": "int64" if bt.dtype == pb.DTYPE_INT64 else "float32",
                                     "shape": [len(values) // inner if inner else 0] + trailing}
    return {"loss_fn_output_type": m.loss_fn_output_type, "loss_fn_outputs": outs,
            "metrics": {k: num(v) for k, v in m.metrics.items()}}


# ---------- SampleResponse ----------

def sample_to_proto(s):
    m = pb.SampleResponse(prompt_cache_hit_tokens=s.get("prompt_cache_hit_tokens") or 0)
    for q in s["sequences"]:
        ps = m.sequences.add(tokens=pack(q["tokens"], "i"),
                             stop_reason=pb.STOP_REASON_LENGTH if q["stop_reason"] == "length" else pb.STOP_REASON_STOP)
        if q.get("logprobs") is not None:
            ps.logprobs = pack(q["logprobs"], "f")
    if s.get("prompt_logprobs") is not None:
        m.prompt_logprobs = pack([math.nan if x is None else x for x in s["prompt_logprobs"]], "f")
    return m


def sample_from_proto(m):
    return {
        "type": "sample",
        "sequences": [{"tokens": unpack(q.tokens, "i"),
                       "logprobs": [num(x) for x in unpack(q.logprobs, "f")] if q.HasField("logprobs") else None,
                       "stop_reason": "length" if q.stop_reason == pb.STOP_REASON_LENGTH else "stop"}
                      for q in m.sequences],
        "prompt_logprobs": [None if math.isnan(x) else num(x) for x in unpack(m.prompt_logprobs, "f")]
        if m.HasField("prompt_logprobs") else None,
        "topk_prompt_logprobs": None,
        "prompt_cache_hit_tokens": m.prompt_cache_hit_tokens,
    }
