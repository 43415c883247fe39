#!/usr/bin/python3
"""Golden training fixtures for tests/test_grad_golden.c (run with Debian python3-torch):
    /usr/bin/python3 tests/gen/make_train_fixtures.py tests/fixtures/train

An independent float64 PyTorch implementation of the HF decoder math (Qwen2: q/k/v bias,
untied; Qwen3: q_norm/k_norm before RoPE, explicit head_dim, tied embeddings), PEFT LoRA
(y = W x + b + scaling * B A x) and HF causal-LM loss (shifted labels, -100 ignored, mean over
trained tokens). Autograd gives the reference loss and gradients (also for QLoRA: LoRA over the
NF4 + double-quant dequantized linear weights); torch.optim.AdamW +
transformers' cosine-with-warmup LambdaLR + clip_grad_norm_ give 20 reference training steps.

Output: <arch>.bin, a list of named float64 arrays:
  "CTFX" magic, u32 version 1, u32 count, then per array: u32 name length, name (utf-8),
  u32 ndim, ndim x u64 dims, float64 data (little endian, C order).
Weights are drawn as float32 and stored exactly, so the C side loads identical values."""
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_quant_fixtures as mq  # noqa: E402  (the bitsandbytes NF4 reference)

torch.set_default_dtype(torch.float64)


def rand32(gen, shape, scale, offset=0.0):
    x = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * scale + offset
    return x.to(torch.float32).to(torch.float64)


LINEARS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"),
           ("self_attn", "o_proj"), ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]


def make_weights(cfg, gen):
    C, Hq, Hkv, D, I, L, V = (cfg[k] for k in ("C", "Hq", "Hkv", "D", "I", "L", "V"))
    w = {"model.embed_tokens.weight": rand32(gen, (V, C), 1.0),
         "model.norm.weight": rand32(gen, (C,), 0.2, 1.0)}
    if not cfg["tied"]:
        w["lm_head.weight"] = rand32(gen, (V, C), 0.35)
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = rand32(gen, (C,), 0.2, 1.0)
        w[p + "post_attention_layernorm.weight"] = rand32(gen, (C,), 0.2, 1.0)
        w[p + "self_attn.q_proj.weight"] = rand32(gen, (Hq * D, C), 0.35)
        w[p + "self_attn.k_proj.weight"] = rand32(gen, (Hkv * D, C), 0.35)
        w[p + "self_attn.v_proj.weight"] = rand32(gen, (Hkv * D, C), 0.35)
        w[p + "self_attn.o_proj.weight"] = rand32(gen, (C, Hq * D), 0.35)
        if cfg["bias"]:
            w[p + "self_attn.q_proj.bias"] = rand32(gen, (Hq * D,), 0.2)
            w[p + "self_attn.k_proj.bias"] = rand32(gen, (Hkv * D,), 0.2)
            w[p + "self_attn.v_proj.bias"] = rand32(gen, (Hkv * D,), 0.2)
        if cfg["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = rand32(gen, (D,), 0.2, 1.0)
            w[p + "self_attn.k_norm.weight"] = rand32(gen, (D,), 0.2, 1.0)
        w[p + "mlp.gate_proj.weight"] = rand32(gen, (I, C), 0.35)
        w[p + "mlp.up_proj.weight"] = rand32(gen, (I, C), 0.35)
        w[p + "mlp.down_proj.weight"] = rand32(gen, (C, I), 0.35)
    return w


def make_lora(cfg, w, gen, r):
    lo = {}
    for l in range(cfg["L"]):
        for grp, mod in LINEARS:
            W = w[f"model.layers.{l}.{grp}.{mod}.weight"]
            out, inn = W.shape
            key = f"base_model.model.model.layers.{l}.{grp}.{mod}"
            lo[key + ".lora_A.weight"] = rand32(gen, (r, inn), 1.0 / math.sqrt(inn))
            lo[key + ".lora_B.weight"] = rand32(gen, (out, r), 0.2)  # non-zero so A grads matter
    return lo


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, pos, D, theta):
    # HF computes inv_freq and the angles in float32
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).to(torch.float32) / D))
    ang = (pos.to(torch.float32)[..., None] * inv[None, None, :])
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().to(torch.float64), emb.sin().to(torch.float64)
    return x * cos[:, None] + rotate_half(x) * sin[:, None]  # x [B, H, T, D]


def forward_loss(cfg, w, lora, batch, scaling):
    C, Hq, Hkv, D, L = (cfg[k] for k in ("C", "Hq", "Hkv", "D", "L"))
    ids, labels, pos, seg = batch["ids"], batch["labels"], batch["pos"], batch["seg"]
    B, T = ids.shape
    eps = cfg["eps"]

    def lin(x, l, grp, mod):
        y = x @ w[f"model.layers.{l}.{grp}.{mod}.weight"].T
        b = w.get(f"model.layers.{l}.{grp}.{mod}.bias")
        if b is not None:
            y = y + b
        if lora is not None:
            key = f"base_model.model.model.layers.{l}.{grp}.{mod}"
            y = y + (x @ lora[key + ".lora_A.weight"].T @ lora[key + ".lora_B.weight"].T) * scaling
        return y

    x = w["model.embed_tokens.weight"][ids]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    mask = causal[None] & (seg[:, :, None] == seg[:, None, :])  # [B, T, T]
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, l, "self_attn", "q_proj").view(B, T, Hq, D)
        k = lin(h, l, "self_attn", "k_proj").view(B, T, Hkv, D)
        v = lin(h, l, "self_attn", "v_proj").view(B, T, Hkv, D)
        if cfg["qk_norm"]:
            q = rms(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = rope(q, pos, D, cfg["theta"]), rope(k, pos, D, cfg["theta"])
        rep = Hq // Hkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~mask[:, None], float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, Hq * D)
        x = x + lin(a, l, "self_attn", "o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(h, l, "mlp", "gate_proj")) * lin(h, l, "mlp", "up_proj")
        x = x + lin(g, l, "mlp", "down_proj")
    x = rms(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tied"] else w["lm_head.weight"]
    logits = x @ head.T
    sl, tl = logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(sl, tl, ignore_index=-100, reduction="mean")


def cosine_lambda(warmup, total):
    def f(k):
        if k < warmup:
            return k / max(1, warmup)
        prog = (k - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * prog)))
    return f


def train_steps(cfg, w, lora, batch, scaling, steps, lr, warmup, wd, max_norm):
    """torch AdamW over the trainable set (lora if given, else all weights)."""
    if lora is not None:
        params = {k: v.clone().requires_grad_(True) for k, v in lora.items()}
        fixed = w
    else:
        params = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        fixed = None
    decay = [p for k, p in params.items() if "bias" not in k and "norm" not in k]
    nodecay = [p for k, p in params.items() if "bias" in k or "norm" in k]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(warmup, steps))
    losses, norms, lrs = [], [], []
    for _ in range(steps):
        opt.zero_grad()
        if lora is not None:
            loss = forward_loss(cfg, fixed, params, batch, scaling)
        else:
            loss = forward_loss(cfg, params, None, batch, scaling)
        loss.backward()
        n = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(loss.item())
        norms.append(n.item())
    return losses, norms, lrs


def write_fixture(path, arrays):
    with open(path, "wb") as f:
        f.write(b"CTFX")
        f.write(struct.pack("<II", 1, len(arrays)))
        for name, arr in arrays.items():
            t = torch.as_tensor(arr, dtype=torch.float64).contiguous()
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", t.dim()))
            for d in t.shape:
                f.write(struct.pack("<Q", d))
            f.write(t.numpy().astype("<f8").tobytes())


def dequant_nf4_dq(t):
    """dequant(quantize_4bit(t, nf4, compress_statistics=True)) of a tensor of f32 values."""
    x = t.numpy().astype(np.float32).reshape(-1)
    packed, absmax, table = mq.quantize4(x, "nf4")
    code8 = mq.dynamic_map()
    q, nabs, offset = mq.nest(absmax, code8)
    am = mq.unnest(q, nabs, offset, code8)
    return torch.from_numpy(mq.dequant4(packed, am, table, len(x)).astype(np.float64)).reshape(t.shape)


def make(arch, outdir):
    qwen3 = arch == "qwen3"
    cfg = dict(C=32, Hq=4, Hkv=2, D=16 if qwen3 else 8, I=48, L=2, V=64, theta=10000.0, eps=1e-6,
               tied=qwen3, qk_norm=qwen3, bias=not qwen3)
    gen = torch.Generator().manual_seed(1234 if qwen3 else 4321)
    w = make_weights(cfg, gen)
    r, alpha = 4, 8.0
    scaling = alpha / r
    lora = make_lora(cfg, w, gen, r)
    B, T = 2, 12
    ids = torch.randint(0, cfg["V"], (B, T), generator=gen)
    labels = ids.clone()
    labels[:, :3] = -100          # prompt tokens
    labels[1, 7:9] = -100
    pos = torch.arange(T).repeat(B, 1)
    seg = torch.zeros(B, T, dtype=torch.int64)
    if qwen3:                     # row 1 packs two samples: [0,6) and [6,12), positions restart
        seg[1, 6:] = 1
        pos[1, 6:] = torch.arange(T - 6)
        labels[1, 6] = -100
    batch = dict(ids=ids, labels=labels, pos=pos, seg=seg)

    out = {"config": torch.tensor([cfg["C"], cfg["Hq"], cfg["Hkv"], cfg["D"], cfg["I"], cfg["L"],
                                   cfg["V"], cfg["theta"], cfg["eps"], float(cfg["tied"]),
                                   float(cfg["qk_norm"]), float(cfg["bias"]), r, alpha, B, T]),
           "batch.input_ids": ids, "batch.labels": labels, "batch.position_ids": pos,
           "batch.segment_ids": seg}
    for k, v in w.items():
        out["w." + k] = v
    for k, v in lora.items():
        out["lora_init." + k] = v

    def grads(tag, weights, trained, lora_of):
        """tag.loss and tag.grad.<name> of the params `trained` (LoRA when lora_of)."""
        ps = {k: v.clone().requires_grad_(True) for k, v in trained.items()}
        loss = forward_loss(cfg, ps if not lora_of else weights, ps if lora_of else None, batch, scaling)
        loss.backward()
        out[tag + ".loss"] = torch.tensor([loss.item()])
        for k, v in ps.items():
            out[tag + ".grad." + k] = v.grad

    grads("lora", w, lora, True)      # LoRA loss + grads
    grads("full", None, w, False)     # full fine-tuning loss + grads
    # QLoRA: the same LoRA on the NF4 + double-quant dequantized linear weights (bitsandbytes
    # semantics, the reference in make_quant_fixtures.py); the C test quantizes w.* itself
    grads("qlora", {k: (dequant_nf4_dq(v) if k.endswith("proj.weight") else v) for k, v in w.items()}, lora, True)
    # 20 AdamW steps, cosine + warmup + clipping (LoRA; and full fine-tuning)
    for tag, lo, lr in (("train_lora", lora, 5e-3), ("train_full", None, 1e-3)):
        losses, norms, lrs = train_steps(cfg, w, lo, batch, scaling, 20, lr, 3, 0.01, 1.0)
        out[tag + ".losses"] = torch.tensor(losses)
        out[tag + ".grad_norms"] = torch.tensor(norms)
        out[tag + ".lrs"] = torch.tensor(lrs)
    write_fixture(f"{outdir}/{arch}.bin", out)
    print(arch, "lora loss", out["lora.loss"].item(), "train_lora", out["train_lora.losses"][[0, -1]].tolist(),
          "train_full", out["train_full.losses"][[0, -1]].tolist())


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/train"
    make("qwen3", outdir)
    make("qwen2", outdir)
