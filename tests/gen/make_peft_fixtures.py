#!/usr/bin/python3
"""Golden fixtures of LlamaFactory's LoRA-family methods for tests/test_peft_golden.c (run with
Debian python3-torch):
    /usr/bin/python3 tests/gen/make_peft_fixtures.py tests/fixtures/train

The tiny Qwen3 / Qwen2 models, batches and LoRA inits of make_train_fixtures.py, with float64
autograd of the method's math written here from its reference:
  - DoRA (PEFT DoraLinearLayer.forward / DoraLinearVariant.forward, training mode): with
    g = m / ||W + s B A||_row, the norm DETACHED (PEFT, DoRA paper section 4.3),
        y = x W^T + b + (g - 1) * (xd W^T) + g * s * (xd A^T) B^T,   xd = dropout(x)
    without dropout xd = x (PEFT then reuses the base result); with dropout the mask is ctune's
    counter-RNG draw (seed, stream of (step, layer, module)), reproduced here bit for bit, so the
    gradient check covers the dropout branch too;
  - LoRA+ (LlamaFactory train/trainer_utils.py _create_loraplus_optimizer): torch AdamW param
    groups lora_a (lr, wd: lora_A and 2-D modules_to_save), lora_b (lr * ratio, wd: lora_B and
    1-D tensors without "bias" in their name, e.g. a trained RMSNorm), one LambdaLR;
  - NEFTune (transformers neftune_post_forward_hook): embeddings + U(-mag, mag),
    mag = alpha / sqrt(L * d) with L the padded length (LlamaFactory's SFT collator pads to a
    multiple of 8); the uniform draws are ctune's counter RNG, reproduced here;
  - PiSSA init (PEFT LoraLayer.pissa_init): exact (torch.linalg.svd) and randomized
    (torch.svd_lowrank's algorithm, torch/_lowrank.py, with ctune's Gaussian test matrix);
  - continuing from an adapter (LlamaFactory adapter_name_or_path): 3 DoRA steps, then a fresh
    AdamW and schedule for 3 more steps from the saved A, B, magnitudes.

Output: peft_<arch>.bin in the CTFX format of make_train_fixtures.py."""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_train_fixtures as mt  # noqa: E402  (own code: weights, batch, RoPE, CTFX writer)

torch.set_default_dtype(torch.float64)
MASK = (1 << 64) - 1


# ---------------------------------------------------------------- ctune's counter RNG (src/base/rng.h)
def mix(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def uniform(seed, stream, index):
    return (mix(seed ^ mix(stream ^ mix(index))) >> 11) * (1.0 / 9007199254740992.0)


def uniforms(seed, stream, n):
    return np.array([uniform(seed, stream, i) for i in range(n)])


def normal(seed, stream, index):
    u1, u2 = uniform(seed, stream, 2 * index), uniform(seed, stream, 2 * index + 1)
    return math.sqrt(-2.0 * math.log(max(u1, 1e-300))) * math.cos(6.283185307179586 * u2)


MODULE_INDEX = {m: i for i, (_, m) in enumerate(mt.LINEARS)}  # ct_spec_lora_index
SEED = 1            # the method seed of the C test (dropout and NEFTune draws)
DROP_P = 0.1
PISSA_SEED = 0x5069535341


def dropout_stream(step, layer, module):
    return mix(((step << 24) ^ (layer << 4) ^ MODULE_INDEX[module]) & MASK)


# ---------------------------------------------------------------- the forward with method hooks
def forward_loss(cfg, w, batch, scaling, lora=None, mags=None, drop=0.0, step=0, x0=None):
    """HF causal-LM loss; lora {key: A/B}, mags {key: m} (DoRA), LoRA dropout p with ctune's
    mask, x0: the input embeddings (NEFTune) instead of the embedding lookup."""
    C, Hq, Hkv, D, L = (cfg[k] for k in ("C", "Hq", "Hkv", "D", "L"))
    ids, labels, pos, seg = batch["ids"], batch["labels"], batch["pos"], batch["seg"]
    B, T = ids.shape
    eps = cfg["eps"]

    def lin(x, l, grp, mod):
        W = w[f"model.layers.{l}.{grp}.{mod}.weight"]
        y = x @ W.T
        b = w.get(f"model.layers.{l}.{grp}.{mod}.bias")
        if b is not None:
            y = y + b
        if lora is None:
            return y
        key = f"base_model.model.model.layers.{l}.{grp}.{mod}"
        A, Bm = lora[key + ".lora_A.weight"], lora[key + ".lora_B.weight"]
        xd = x
        if drop > 0:
            n = x.numel()
            keep = torch.from_numpy(uniforms(SEED, dropout_stream(step, l, mod), n) >= drop).reshape(x.shape)
            xd = torch.where(keep, x * (1.0 / (1.0 - drop)), torch.zeros_like(x))
        lo = (xd @ A.T) @ Bm.T
        if mags is None:
            return y + lo * scaling
        m = mags[key + ".lora_magnitude_vector"]
        norm = torch.linalg.norm(W + scaling * (Bm @ A), dim=1).detach()
        g = m / norm
        base = (x @ W.T) if drop == 0 else (xd @ W.T)
        return y + (g - 1) * base + g * lo * scaling

    x = w["model.embed_tokens.weight"][ids] if x0 is None else x0
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    mask = causal[None] & (seg[:, :, None] == seg[:, None, :])
    for l in range(L):
        p = f"model.layers.{l}."
        h = mt.rms(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, l, "self_attn", "q_proj").view(B, T, Hq, D)
        k = lin(h, l, "self_attn", "k_proj").view(B, T, Hkv, D)
        v = lin(h, l, "self_attn", "v_proj").view(B, T, Hkv, D)
        if cfg["qk_norm"]:
            q = mt.rms(q, w[p + "self_attn.q_norm.weight"], eps)
            k = mt.rms(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = mt.rope(q, pos, D, cfg["theta"]), mt.rope(k, pos, D, cfg["theta"])
        rep = Hq // Hkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~mask[:, None], float("-inf"))
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, Hq * D)
        x = x + lin(a, l, "self_attn", "o_proj")
        h = mt.rms(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(h, l, "mlp", "gate_proj")) * lin(h, l, "mlp", "up_proj")
        x = x + lin(g, l, "mlp", "down_proj")
    x = mt.rms(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tied"] else w["lm_head.weight"]
    logits = x @ head.T
    sl, tl = logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(sl, tl, ignore_index=-100, reduction="mean")


def grads(out, tag, fn, params):
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    loss = fn(ps)
    loss.backward()
    out[tag + ".loss"] = torch.tensor([loss.item()])
    for k, v in ps.items():
        out[tag + ".grad." + k] = v.grad


def adamw_run(fn, params, groups, steps, lr, warmup, wd, max_norm, sched="cosine"):
    """AdamW over param groups [(names, lr multiplier, decays)], one LambdaLR; returns the losses
    and the final values."""
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.AdamW([{"params": [ps[n] for n in names], "lr": lr * mult, "weight_decay": wd if dec else 0.0}
                             for names, mult, dec in groups if names], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    f = mt.cosine_lambda(warmup, steps) if sched == "cosine" else \
        (lambda k: k / max(1, warmup) if k < warmup else max(0.0, (steps - k) / max(1, steps - warmup)))
    sch = torch.optim.lr_scheduler.LambdaLR(opt, f)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = fn(ps)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(ps.values()), max_norm)
        opt.step()
        sch.step()
        losses.append(loss.item())
    return losses, {k: v.detach() for k, v in ps.items()}


# ---------------------------------------------------------------- PiSSA
def pissa(W, r, scaling, niter, stream):
    """PEFT pissa_init on W [out, in]: A, B, residual (float64)."""
    if niter < 0:
        V, S, Uh = torch.linalg.svd(W, full_matrices=False)
        Vr, Sr, Uhr = V[:, :r], S[:r] / scaling, Uh[:r]
    else:  # torch _svd_lowrank, branch "n > q": the basis of W^T's range, then svd(W Q)
        m, n = W.shape
        R = torch.tensor([[normal(PISSA_SEED, stream, i * r + j) for j in range(r)] for i in range(m)])
        At = W.T
        Q = torch.linalg.qr(At @ R).Q
        for _ in range(niter):
            Q = torch.linalg.qr(W @ Q).Q
            Q = torch.linalg.qr(At @ Q).Q
        U, S, Vh = torch.linalg.svd(W @ Q, full_matrices=False)
        Vr, Sr, Uhr = U, S / scaling, (Q @ Vh.mH).T
    A = torch.diag(torch.sqrt(Sr)) @ Uhr
    B = Vr @ torch.diag(torch.sqrt(Sr))
    return A, B, W - scaling * B @ A


def make(arch, outdir):
    qwen3 = arch == "qwen3"
    cfg = dict(C=32, Hq=4, Hkv=2, D=16 if qwen3 else 8, I=48, L=2, V=64, theta=10000.0, eps=1e-6,
               tied=qwen3, qk_norm=qwen3, bias=not qwen3)
    gen = torch.Generator().manual_seed(1234 if qwen3 else 4321)
    w = mt.make_weights(cfg, gen)
    r, alpha = 4, 8.0
    scaling = alpha / r
    lora = mt.make_lora(cfg, w, gen, r)
    B, T = 2, 12
    ids = torch.randint(0, cfg["V"], (B, T), generator=gen)
    labels = ids.clone()
    labels[:, :3] = -100
    labels[1, 7:9] = -100
    pos = torch.arange(T).repeat(B, 1)
    seg = torch.zeros(B, T, dtype=torch.int64)
    if qwen3:
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
    # DoRA magnitudes: the adapted rows' norms times 0.7..1.3 (so g != 1 everywhere)
    mags = {}
    for key in sorted({k.rsplit(".lora_", 1)[0] for k in lora}):
        W = w[key.replace("base_model.model.", "") + ".weight"]
        n = torch.linalg.norm(W + scaling * lora[key + ".lora_B.weight"] @ lora[key + ".lora_A.weight"], dim=1)
        m = (n * (0.7 + 0.6 * torch.rand(n.shape, generator=gen))).to(torch.float32).to(torch.float64)
        mags[key + ".lora_magnitude_vector"] = m
        out["dora_mag_init." + key + ".lora_magnitude_vector"] = m
    both = dict(lora, **mags)

    def dora_fn(drop):
        return lambda ps: forward_loss(cfg, w, batch, scaling, ps, {k: v for k, v in ps.items() if "magnitude" in k},
                                       drop)
    grads(out, "dora", dora_fn(0.0), both)
    grads(out, "dora_drop", dora_fn(DROP_P), both)

    # NEFTune (alpha 5) on the LoRA model: noise of ctune's step 0 stream, in f32 as ctune adds it
    alpha_n, Lpad = 5.0, (T + 7) // 8 * 8
    mag32 = np.float32(alpha_n / math.sqrt(Lpad * cfg["C"]))
    stream = mix(((0 << 24) ^ 0x4E4546) & MASK)
    emb = w["model.embed_tokens.weight"][ids].numpy().astype(np.float32).reshape(-1)
    u = uniforms(SEED, stream, emb.size)
    noise = (mag32 * (2.0 * u - 1.0).astype(np.float32)).astype(np.float32)
    x0 = torch.from_numpy((emb + noise).astype(np.float32).astype(np.float64)).reshape(B, T, cfg["C"])
    out["neftune.config"] = torch.tensor([alpha_n, 8.0])
    grads(out, "neftune", lambda ps: forward_loss(cfg, w, batch, scaling, ps, x0=x0), lora)

    # LoRA+ (ratio 16) on LoRA + modules_to_save: norm (1-D, lr * ratio, decays: RMSNorm is no
    # nn.LayerNorm), and for qwen2 lm_head (2-D: lora_a group)
    saved = ["model.norm.weight"] + ([] if qwen3 else ["lm_head.weight"])
    lp = dict(lora, **{"base_model.model." + k: w[k] for k in saved})

    def lp_fn(ps):
        ww = dict(w, **{k: ps["base_model.model." + k] for k in saved})
        return forward_loss(cfg, ww, batch, scaling, {k: v for k, v in ps.items() if ".lora_" in k})
    names_b = [k for k in lp if "lora_B" in k or lp[k].dim() == 1]
    names_a = [k for k in lp if k not in names_b]
    losses, final = adamw_run(lp_fn, lp, [(names_a, 1.0, True), (names_b, 16.0, True)], 6, 2e-3, 2, 0.1, 1.0)
    out["loraplus.config"] = torch.tensor([16.0, 2e-3, 2, 0.1, 1.0])
    out["loraplus.losses"] = torch.tensor(losses)
    for k, v in final.items():
        out["loraplus.final." + k] = v

    # continuing a DoRA adapter: 3 steps, then a fresh optimizer + schedule for 3 more
    fn = dora_fn(0.0)
    l1, p1 = adamw_run(fn, both, [(list(both), 1.0, True)], 3, 5e-3, 1, 0.01, 1.0, "linear")
    l2, p2 = adamw_run(fn, p1, [(list(both), 1.0, True)], 3, 5e-3, 1, 0.01, 1.0, "linear")
    out["cont.phase1.losses"] = torch.tensor(l1)
    out["cont.phase2.losses"] = torch.tensor(l2)
    for k, v in p2.items():
        out["cont.final." + k] = v

    # PiSSA init of two linears (exact and randomized with niter 2)
    for l, grp, mod in ((0, "self_attn", "q_proj"), (1, "mlp", "down_proj")):
        W = w[f"model.layers.{l}.{grp}.{mod}.weight"]
        stream = mix(((l << 8) ^ MODULE_INDEX[mod]) & MASK)
        for tag, niter in (("exact", -1), ("niter2", 2)):
            A, Bm, res = pissa(W, r, scaling, niter, stream)
            key = f"pissa_{tag}.model.layers.{l}.{grp}.{mod}"
            out[key + ".A"], out[key + ".B"], out[key + ".res"] = A, Bm, res
    mt.write_fixture(f"{outdir}/peft_{arch}.bin", out)
    print(arch, "dora", out["dora.loss"].item(), "dora_drop", out["dora_drop.loss"].item(),
          "neftune", out["neftune.loss"].item(), "loraplus", losses[0], "->", losses[-1],
          "cont", l1, l2)


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/train"
    make("qwen3", outdir)
    make("qwen2", outdir)
