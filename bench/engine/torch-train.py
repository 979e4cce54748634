#!/usr/bin/python3
# The PyTorch peer of the engine's training benchmark (bench/engine.ts): the same Qwen2-style model
# (RMSNorm, RoPE rotate-half, SwiGLU, GQA, QKV bias, tied embedding/head), the same shapes (reference
# config: vocab 512, width 256, 4 layers, 4 heads of 64, MLP 688), the same batch (4 × 128 tokens,
# the same token ids), fp32, cross-entropy summed per token, AdamW (lr 1e-3, betas 0.9/0.95, eps 1e-8,
# decay 0.01 on matrices) and global-norm clipping at 1. Written for the benchmark in plain PyTorch.
# Prints one JSON line: tokens per wall-second and per CPU-second, the loss, torch's version/BLAS.
#   /usr/bin/python3 bench/engine/torch-train.py --threads 2 --seconds 6
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=6.0)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(1)

V, D, L, H, KVH, HD, I = 512, 256, 4, 4, 4, 64, 688
EPS, THETA = 1e-6, 10000.0
SEQ, BATCH = 128, 4


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope_tables(n):
    inv = 1.0 / (THETA ** (torch.arange(0, HD, 2, dtype=torch.float32) / HD))
    f = torch.outer(torch.arange(n, dtype=torch.float32), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    a, b = x[..., : HD // 2], x[..., HD // 2 :]
    return torch.cat([-b, a], dim=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = RMSNorm(D)
        self.q = nn.Linear(D, H * HD, bias=True)
        self.k = nn.Linear(D, KVH * HD, bias=True)
        self.v = nn.Linear(D, KVH * HD, bias=True)
        self.o = nn.Linear(H * HD, D, bias=False)
        self.ln2 = RMSNorm(D)
        self.gate = nn.Linear(D, I, bias=False)
        self.up = nn.Linear(D, I, bias=False)
        self.down = nn.Linear(I, D, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, H, HD).transpose(1, 2)
        k = self.k(h).view(B, T, KVH, HD).transpose(1, 2)
        v = self.v(h).view(B, T, KVH, HD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if KVH != H:
            k = k.repeat_interleave(H // KVH, dim=1)
            v = v.repeat_interleave(H // KVH, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * HD)
        x = x + self.o(a)
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.layers = nn.ModuleList([Layer() for _ in range(L)])
        self.norm = RMSNorm(D)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        cos, sin = rope_tables(SEQ)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.full((SEQ, SEQ), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.norm(x) @ self.embed.weight.t()  # tied head


model = Model()
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
    lr=1e-3,
    betas=(0.9, 0.95),
    eps=1e-8,
)
# The batch of bench/engine/reference-train.ts: token k of sequence i = (k·7919 + i·104729) mod V.
tok = torch.tensor([[(k * 7919 + i * 104729) % V for k in range(SEQ + 1)] for i in range(BATCH)])
inputs, targets = tok[:, :-1], tok[:, 1:]


def step():
    opt.zero_grad(set_to_none=True)
    logits = model(inputs)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="sum")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(2):
    step()
reps = 0
t0, c0 = time.perf_counter(), time.process_time()
while time.perf_counter() - t0 < args.seconds or reps < 2:
    loss = step()
    reps += 1
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(
    json.dumps(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "tokens_per_s": BATCH * SEQ * reps / wall,
            "tokens_per_cpu_s": BATCH * SEQ * reps / cpu,
            "steps": reps,
            "loss_per_token": loss / (BATCH * SEQ),
        }
    )
)
