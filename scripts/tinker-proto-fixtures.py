#!/usr/bin/python3
"""Step 2 of scripts/tinker-proto-fixtures.sh (Debian python3-protobuf + protoc): for every case in
cases.json, writes Python's encoding (py/<name>.bin) and Python's reading of our encoding
(py-decoded/<name>.json, from ts/<name>.bin)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinker_proto as tp  # noqa: E402

d = sys.argv[1] if len(sys.argv) > 1 else "test/tinker/fixtures/proto"
os.makedirs(os.path.join(d, "py"), exist_ok=True)
os.makedirs(os.path.join(d, "py-decoded"), exist_ok=True)
cases = json.load(open(os.path.join(d, "cases.json")))
for c in cases:
    name, kind, value = c["name"], c["message"], c["value"]
    ts_bytes = open(os.path.join(d, "ts", name + ".bin"), "rb").read()
    if kind == "ForwardBackwardRequest":
        out = tp.fb_request_to_proto(value, c["forward_only"])
        req, fo = tp.fb_request_from_proto(tp.pb.ForwardBackwardRequest.FromString(ts_bytes))
        decoded = {"forward_only": fo, "value": req}
    elif kind == "ForwardBackwardOutput":
        out = tp.fb_output_to_proto(value)
        decoded = {"value": tp.fb_output_from_proto(tp.pb.ForwardBackwardOutput.FromString(ts_bytes))}
    else:
        out = tp.sample_to_proto(value)
        decoded = {"value": tp.sample_from_proto(tp.pb.SampleResponse.FromString(ts_bytes))}
    open(os.path.join(d, "py", name + ".bin"), "wb").write(out.SerializeToString(deterministic=True))
    json.dump(decoded, open(os.path.join(d, "py-decoded", name + ".json"), "w"), indent=1, sort_keys=True)
import google.protobuf
print("python: wrote %d cases to %s (python3-protobuf %s)" % (len(cases), d, google.protobuf.__version__))
