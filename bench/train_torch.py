#!/usr/bin/python3
"""PyTorch baseline for bench/train.sh: the same training step as bench/train_bench.c (random
Qwen2.5-0.5B-shaped model, one sequence of T tokens, LoRA r=16 on all linear modules or full
fine-tuning, AdamW step; one warm-up step then STEPS (env, 3) timed steps, median) in float32
eager or with bf16 autocast. Plain PyTorch modules written
from the HF math (transformers is not installed). Prints one JSON line like train_bench.
    train_torch.py lora|full fp32|bf16 [T] [layers]"""
import json
import os
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

mode, prec = sys.argv[1], sys.argv[2]
T = int(sys.argv[3]) if len(sys.argv) > 3 else 512
L = int(sys.argv[4]) if len(sys.argv) > 4 else 24
C, Hq, Hkv, D, FF, V, r = 896, 14, 2, 64, 4864, 151936, 16
torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))


def W(*shape, scale=0.02, offset=0.0, train=True):
    t = ((torch.rand(*shape) * 2 - 1) * scale + offset).to(torch.bfloat16).to(torch.float32)
    return torch.nn.Parameter(t, requires_grad=train)


full = mode == "full"
params, lora = {}, []
emb = W(V, C, train=full)
norm_f = W(C, scale=0.1, offset=1.0, train=full)
layers = []
for l in range(L):
    d = {"n1": W(C, scale=0.1, offset=1.0, train=full), "n2": W(C, scale=0.1, offset=1.0, train=full)}
    for name, (o, i) in {"q": (Hq * D, C), "k": (Hkv * D, C), "v": (Hkv * D, C), "o": (C, Hq * D),
                         "gate": (FF, C), "up": (FF, C), "down": (C, FF)}.items():
        d[name] = W(o, i, train=full)
        if not full:
            a = torch.nn.Parameter(torch.empty(r, i))
            torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            d[name + "_A"], d[name + "_B"] = a, torch.nn.Parameter(torch.zeros(o, r))
            lora += [a, d[name + "_B"]]
    for name, o in {"bq": Hq * D, "bk": Hkv * D, "bv": Hkv * D}.items():
        d[name] = W(o, train=full)
    layers.append(d)
trainable = lora if not full else [p for p in [emb, norm_f] + [v for d in layers for v in d.values()]]
opt = torch.optim.AdamW(trainable, lr=1e-5, weight_decay=0.0)
scaling = 32 / r


def rms(x, w):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w


def lin(x, d, name, bias=None):
    y = F.linear(x, d[name], bias)
    if not full:
        y = y + F.linear(F.linear(x, d[name + "_A"]), d[name + "_B"]) * scaling
    return y


def rope_cs(T):
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    ang = torch.arange(T).float()[:, None] * inv[None]
    emb_ = torch.cat((ang, ang), -1)
    return emb_.cos(), emb_.sin()


def rot(x):
    return torch.cat((-x[..., D // 2:], x[..., :D // 2]), -1)


def step(ids):
    Tn = ids.shape[1]
    cos, sin = rope_cs(Tn)
    x = F.embedding(ids, emb)
    mask = torch.full((Tn, Tn), float("-inf")).triu(1)
    for d in layers:
        h = rms(x, d["n1"])
        q = lin(h, d, "q", d["bq"]).view(1, Tn, Hq, D).transpose(1, 2)
        k = lin(h, d, "k", d["bk"]).view(1, Tn, Hkv, D).transpose(1, 2)
        v = lin(h, d, "v", d["bv"]).view(1, Tn, Hkv, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(Hq // Hkv, 1), v.repeat_interleave(Hq // Hkv, 1)
        a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D) + mask, -1, dtype=torch.float32).to(v.dtype) @ v
        x = x + lin(a.transpose(1, 2).reshape(1, Tn, Hq * D), d, "o")
        h = rms(x, d["n2"])
        x = x + lin(F.silu(lin(h, d, "gate")) * lin(h, d, "up"), d, "down")
    logits = F.linear(rms(x, norm_f), emb).float()
    loss = F.cross_entropy(logits[0, :-1], ids[0, 1:])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


ids = (torch.arange(T) * 7919 + 13) % V
ids = ids[None]
ctx = torch.autocast("cpu", dtype=torch.bfloat16) if prec == "bf16" else torch.autocast("cpu", enabled=False)
STEPS = max(1, int(os.environ.get("STEPS", "3")))
with ctx:  # one warm-up step at full length, then STEPS timed steps: median (as train_bench.c)
    step(ids)
    ts = []
    for _ in range(STEPS):
        t0 = time.time()
        loss = step(ids)
        ts.append(time.time() - t0)
ts.sort()
dt = ts[STEPS // 2] if STEPS % 2 else 0.5 * (ts[STEPS // 2 - 1] + ts[STEPS // 2])
lin_p = L * (C * Hq * D * 2 + C * Hkv * D * 2 + 3 * C * FF)
fwd = 2 * T * (lin_p + V * C) + 2 * L * Hq * D * T * T
flops = fwd * (3 if full else 2)
print(json.dumps({"mode": f"torch_{prec}_{mode}", "T": T, "layers": L, "threads": torch.get_num_threads(),
                  "loss": round(loss, 4), "step_s": round(dt, 3), "tokens_per_s": round(T / dt, 1),
                  "gflop": round(flops / 1e9, 1), "gflops": round(flops / dt / 1e9, 1),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
key = f"train_torch_{prec}_{mode}"
print(f"@ {key}_tok_s {T / dt:.1f}\n@ {key}_gflops {flops / dt / 1e9:.1f}\n"
      f"@ {key}_rss_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
