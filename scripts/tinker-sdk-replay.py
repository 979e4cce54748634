#!/usr/bin/python3
"""Replays the Tinker Python SDK 0.25.0 call sequence against a Tinker server (serve-trainer), with
Debian packages only (python3-protobuf, python3-zstandard, protoc from protobuf-compiler):

  client/config -> create_session (user_metadata {}) -> create_model with lora_config ->
  forward_backward as protobuf (zstd when client/config asks) -> retrieve_future with
  Accept: application/x-protobuf -> optim_step -> forward (forward_backward, forward_only) ->
  save_weights_for_sampler -> asample (protobuf result) -> save_weights -> named sampler save ->
  asample of that path -> weights_info.

Every answer is checked; exits 1 naming the first failed check. Used by test/tinker/sdk-replay.test.ts.
usage: tinker-sdk-replay.py --base-url http://127.0.0.1:8000 --base-model NAME [--vocab-size N]
"""
import argparse
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import zstandard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinker_proto as tp  # noqa: E402

PROTO = "application/x-protobuf"
SDK_VERSION = "0.25.0"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)
    checks += 1


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/") + "/api/v1/"

    def call(self, route, body=None, data=None, headers=None, method="POST"):
        h = {"X-API-Key": "tml-dummy", "X-Idempotency-Key": uuid.uuid4().hex}
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        req = urllib.request.Request(self.base + route, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def json(self, route, body=None, method="POST"):
        status, _, raw = self.call(route, body, method=method)
        check(status == 200, "%s answered %d: %s" % (route, status, raw[:300]))
        return json.loads(raw)

    def result(self, ack, proto=False):
        """Polls retrieve_future as the SDK does (try_again -> poll again)."""
        rid = ack["request_id"]
        for _ in range(600):
            status, ctype, raw = self.call("retrieve_future", {"request_id": rid, "allow_metadata_only": False},
                                           headers={"Accept": PROTO} if proto else None)
            check(status == 200, "retrieve_future answered %d: %s" % (status, raw[:300]))
            if PROTO in ctype:
                return raw
            body = json.loads(raw)
            if body.get("type") == "try_again":
                continue
            check("error" not in body, "future failed: %s" % body)
            check(not proto, "a %s result came back as JSON though protobuf was accepted" % ack)
            return body
        check(False, "future %s never finished" % rid)


def datum(tokens, weights):
    n = len(tokens) - 1
    return {"model_input": {"chunks": [{"type": "encoded_text", "tokens": tokens[:-1]}]},
            "loss_fn_inputs": {"target_tokens": {"data": tokens[1:], "dtype": "int64", "shape": [n]},
                               "weights": {"data": weights, "dtype": "float32", "shape": [n]}}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--base-model", required=True)
    ap.add_argument("--vocab-size", type=int, default=256)
    a = ap.parse_args()
    api = Api(a.base_url)
    V = a.vocab_size

    cfg = api.json("client/config", {"sdk_version": SDK_VERSION})
    compress = bool(cfg.get("proto_compress_fwdbwd", False))
    check(not cfg.get("pjwt_auth_enabled", False), "no JWT exchange expected on a local server")
    session = api.json("create_session", {"tags": ["replay"], "user_metadata": {}, "sdk_version": SDK_VERSION,
                                          "type": "create_session"})["session_id"]
    api.json("session_heartbeat", {"session_id": session, "type": "session_heartbeat"})
    lora = {"rank": 8, "seed": 0, "train_mlp": True, "train_attn": True, "train_unembed": True}
    ack = api.json("create_model", {"session_id": session, "model_seq_id": 0, "base_model": a.base_model,
                                    "lora_config": lora, "user_metadata": {}, "type": "create_model"})
    model = api.result(ack)["model_id"]
    info = api.json("get_info", {"model_id": model, "type": "get_info"})
    check(info.get("is_lora") is True and info.get("lora_rank") == 8, "get_info reports the LoRA model: %s" % info)

    toks = [[(7 * i + 3) % (V - 1) + 1 for i in range(12)], [(5 * i + 1) % (V - 1) + 1 for i in range(9)]]
    data = [datum(t, [0.0] * 3 + [1.0] * (len(t) - 4)) for t in toks]
    seq = [0]

    def fwdbwd(forward_only):
        seq[0] += 1
        msg = tp.fb_request_to_proto({"model_id": model, "seq_id": seq[0],
                                      "forward_backward_input": {"loss_fn": "cross_entropy", "data": data}},
                                     forward_only)
        body = msg.SerializeToString()
        headers = {"Content-Type": PROTO}
        if compress:
            body = zstandard.ZstdCompressor().compress(body)
            headers["Content-Encoding"] = "zstd"
        status, _, raw = api.call("forward_backward", data=body, headers=headers)
        check(status == 200, "forward_backward (protobuf%s) answered %d: %s" % (", zstd" if compress else "", status, raw[:300]))
        out = tp.fb_output_from_proto(tp.pb.ForwardBackwardOutput.FromString(api.result(json.loads(raw), proto=True)))
        check(len(out["loss_fn_outputs"]) == len(data), "one output per datum")
        loss = 0.0
        for d, o in zip(data, out["loss_fn_outputs"]):
            lp = o["logprobs"]["data"]
            w = d["loss_fn_inputs"]["weights"]["data"]
            check(len(lp) == len(w) and all(x <= 0 and math.isfinite(x) for x in lp), "logprobs are log-probabilities")
            loss -= sum(x * y for x, y in zip(lp, w))
        check(abs(out["metrics"]["loss:sum"] - loss) < 1e-3 * max(1, abs(loss)),
              "loss:sum %s = -sum(weights * logprobs) %s" % (out["metrics"]["loss:sum"], loss))
        return loss

    loss0 = fwdbwd(False)
    seq[0] += 1
    opt = api.result(api.json("optim_step", {"model_id": model, "seq_id": seq[0], "type": "optim_step",
                                             "adam_params": {"learning_rate": 0.05, "beta1": 0.9, "beta2": 0.95,
                                                             "eps": 1e-12, "weight_decay": 0.0,
                                                             "grad_clip_norm": 0.0}}))
    check(isinstance(opt.get("metrics", {}), dict), "optim_step result")
    loss1 = fwdbwd(True)
    check(loss1 < loss0, "the LoRA step lowered the loss (%s -> %s)" % (loss0, loss1))

    seq[0] += 1
    sampler = api.result(api.json("save_weights_for_sampler", {"model_id": model, "seq_id": seq[0],
                                                               "sampling_session_seq_id": 0,
                                                               "type": "save_weights_for_sampler"}))
    sid = sampler["sampling_session_id"]

    def sample(source):
        req = dict(source, prompt={"chunks": [{"type": "encoded_text", "tokens": toks[0][:5]}]},
                   sampling_params={"max_tokens": 4, "seed": 1, "temperature": 1.0, "top_p": 1.0, "top_k": -1},
                   num_samples=2, type="sample")
        s = tp.sample_from_proto(tp.pb.SampleResponse.FromString(api.result(api.json("asample", req), proto=True)))
        check(len(s["sequences"]) == 2, "two samples")
        for q in s["sequences"]:
            check(1 <= len(q["tokens"]) <= 4 and all(0 <= t < V + 1000 for t in q["tokens"]), "sampled tokens")
            check(q["logprobs"] is not None and len(q["logprobs"]) == len(q["tokens"]), "sample logprobs")
        return s

    sample({"sampling_session_id": sid, "seq_id": 0})
    seq[0] += 1
    saved = api.result(api.json("save_weights", {"model_id": model, "path": "replay", "seq_id": seq[0],
                                                 "type": "save_weights"}))
    check(saved["path"] == "tinker://%s/weights/replay" % model, "save_weights path: %s" % saved)
    seq[0] += 1
    spath = api.result(api.json("save_weights_for_sampler", {"model_id": model, "path": "replay-sampler",
                                                             "seq_id": seq[0], "type": "save_weights_for_sampler"}))
    check(spath["path"] == "tinker://%s/sampler_weights/replay-sampler" % model, "sampler path: %s" % spath)
    sample({"model_path": spath["path"]})
    wi = api.json("weights_info", {"tinker_path": saved["path"]})
    check(wi.get("is_lora") is True and wi.get("lora_rank") == 8, "weights_info: %s" % wi)
    api.result(api.json("unload_model", {"model_id": model, "type": "unload_model"}))
    print("SDK %s replay: %d checks passed (protobuf forward_backward%s)" % (SDK_VERSION, checks,
                                                                           ", zstd" if compress else ""))


if __name__ == "__main__":
    main()
