#!/usr/bin/python3
"""Builds the tiny random model fixtures of the model tests and their float64 reference outputs.

Writes Hugging Face style directories tests/fixtures/tiny-<name>/ (config.json,
model.safetensors or model.safetensors.index.json + 2 shards, reference.json) and
tests/fixtures/model/eval.jsonl + eval_expected.json.

The reference forward below is written from the HF modeling math (LlamaModel / Qwen2Model /
Qwen3Model: RMSNorm, q/k/v projections with optional bias, Qwen3 q/k RMSNorm before RoPE,
rotate_half RoPE, causal GQA attention, SwiGLU MLP, final norm, tied or untied lm_head), in
float64, independent of transformers (not installed) and of the C code.

Run from the repository root: /usr/bin/python3 tests/gen/make_model_fixtures.py
Needs python3-torch + numpy (Debian); `make test` only needs the committed outputs."""
import json
import math
import os
import struct

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
SEQ_LEN = 16

# ---------------------------------------------------------------- safetensors writer (own code)
DT = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def tensor_bytes(t, dtype):
    """t: float64 torch tensor already representable in dtype; returns little-endian bytes."""
    if dtype == "BF16":
        u = t.to(torch.float32).contiguous().numpy().view(np.uint32)
        return (u >> 16).astype("<u2").tobytes()
    return t.numpy().astype(DT[dtype][0]).astype(DT[dtype][0]().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, dtype, metadata=None):
    """tensors: dict name -> float64 torch tensor. Sorted by name, header padded to 8 bytes."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        b = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def round_to(t, dtype):
    """Rounds float64 weights to what the stored dtype can hold (so the reference uses exactly
    the numbers the C code reads)."""
    if dtype == "F32":
        return t.to(torch.float32).to(torch.float64)
    if dtype == "F16":
        return t.to(torch.float16).to(torch.float64)
    return t.to(torch.float32).to(torch.bfloat16).to(torch.float64)


# ---------------------------------------------------------------- random weights
def make_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    C, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // Hq)
    V = cfg["vocab_size"]
    mt = cfg["model_type"]

    def rn(*shape, std=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    def norm(n):
        return 1.0 + rn(n, std=0.1)

    attn_bias = mt == "qwen2" or cfg.get("attention_bias", False)
    o_bias = mt != "qwen2" and cfg.get("attention_bias", False)
    mlp_bias = mt == "llama" and cfg.get("mlp_bias", False)
    w = {"model.embed_tokens.weight": rn(V, C, std=1.0), "model.norm.weight": norm(C)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rn(V, C)
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(C)
        w[p + "post_attention_layernorm.weight"] = norm(C)
        w[p + "self_attn.q_proj.weight"] = rn(Hq * D, C)
        w[p + "self_attn.k_proj.weight"] = rn(Hkv * D, C)
        w[p + "self_attn.v_proj.weight"] = rn(Hkv * D, C)
        w[p + "self_attn.o_proj.weight"] = rn(C, Hq * D)
        if attn_bias:
            w[p + "self_attn.q_proj.bias"] = rn(Hq * D, std=0.5)
            w[p + "self_attn.k_proj.bias"] = rn(Hkv * D, std=0.5)
            w[p + "self_attn.v_proj.bias"] = rn(Hkv * D, std=0.5)
        if o_bias:
            w[p + "self_attn.o_proj.bias"] = rn(C, std=0.5)
        if mt == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(D)
            w[p + "self_attn.k_norm.weight"] = norm(D)
        w[p + "mlp.gate_proj.weight"] = rn(I, C)
        w[p + "mlp.up_proj.weight"] = rn(I, C)
        w[p + "mlp.down_proj.weight"] = rn(C, I)
        if mlp_bias:
            w[p + "mlp.gate_proj.bias"] = rn(I, std=0.5)
            w[p + "mlp.up_proj.bias"] = rn(I, std=0.5)
            w[p + "mlp.down_proj.bias"] = rn(C, std=0.5)
    return w


# ---------------------------------------------------------------- float64 reference forward
def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def reference_logits(cfg, w, ids):
    C, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // Hq)
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta")
    T = len(ids)
    get = lambda n: w.get(n)

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        b = get(name + ".bias")
        return y + b if b is not None else y

    rs = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    if rs.get("type", rs.get("rope_type")) == "dynamic" and T > cfg["max_position_embeddings"]:
        f, mp = rs["factor"], cfg["max_position_embeddings"]  # dynamic NTK: seq_len = T
        theta = theta * ((f * T / mp) - (f - 1)) ** (D / (D - 2))
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    if rs.get("type", rs.get("rope_type")) == "linear":  # position interpolation
        inv_freq = inv_freq / rs["factor"]
    if rs.get("rope_type") == "llama3":  # Llama 3.1 frequency rescaling (transformers' rope utils)
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old / lo, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - lo) / (hi - lo)
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        inv_freq = torch.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    att = 1.0
    if rs.get("rope_type") == "yarn":  # YaRN (transformers' rope utils), truncate true
        f, omp = rs["factor"], rs["original_max_position_embeddings"]
        bf, bs = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1
        att = rs.get("attention_factor") or (0.1 * math.log(f) + 1.0)
        cdim = lambda rot: D * math.log(omp / (rot * 2 * math.pi)) / (2 * math.log(theta))
        lo, hi = max(math.floor(cdim(bf)), 0), min(math.ceil(cdim(bs)), D - 1)
        hi = hi + 0.001 if lo == hi else hi
        ramp = ((torch.arange(D // 2, dtype=torch.float64) - lo) / (hi - lo)).clamp(0, 1)
        extra = 1 - ramp
        pos_freqs = theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D)
        inv_freq = (1.0 / (f * pos_freqs)) * (1 - extra) + (1.0 / pos_freqs) * extra
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None, :] * att, emb.sin()[:, None, :] * att  # [T, 1, D]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(L):
        p = f"model.layers.{l}."
        n = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(n, p + "self_attn.q_proj").view(T, Hq, D)
        k = lin(n, p + "self_attn.k_proj").view(T, Hkv, D)
        v = lin(n, p + "self_attn.v_proj").view(T, Hkv, D)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = Hq // Hkv
        k = k.repeat_interleave(rep, dim=1)  # query head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.einsum("hts,shd->thd", torch.softmax(s, dim=-1), v).reshape(T, Hq * D)
        x = x + lin(a, p + "self_attn.o_proj")
        n = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gte = lin(n, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(gte) * lin(n, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def mean_nll(logits, ids):
    lp = torch.log_softmax(logits[:-1], dim=-1)
    return float(-lp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean())


# ---------------------------------------------------------------- model definitions
BASE = {"hidden_act": "silu", "max_position_embeddings": 256, "vocab_size": 128,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
MODELS = {
    # Qwen2: q/k/v bias (always), untied head.
    "qwen2": (dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                   rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                   use_sliding_window=False, sliding_window=4096), 11),
    # Qwen3: explicit head_dim 16 != 32/4, q/k norm, tied head.
    "qwen3": (dict(BASE, architectures=["Qwen3ForCausalLM"], model_type="qwen3", head_dim=16,
                   rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                   attention_bias=False, use_sliding_window=False, rope_scaling=None), 12),
    # Llama: GQA with 4 query heads per kv head, untied head.
    "llama": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                   num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                   tie_word_embeddings=False, attention_bias=False, mlp_bias=False), 13),
    # Llama with attention_bias (q/k/v/o) + mlp_bias, theta in rope_parameters; sharded.
    "llama-bias": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                        rms_norm_eps=1e-5, rope_parameters={"rope_type": "default",
                                                            "rope_theta": 500000.0},
                        tie_word_embeddings=False, attention_bias=True, mlp_bias=True,
                        eos_token_id=[2, 3]), 14),
    # Llama 3.1-style rope_scaling "llama3" (original context 64 so that the head_dim-8 frequencies
    # fall in all three bands: kept, smoothly mixed, divided by factor).
    "llama3-rope": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                         num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 64},
                         tie_word_embeddings=False, attention_bias=False, mlp_bias=False), 15),
    # rope_scaling "linear" in the transformers-4 spelling ("type").
    "llama-rope-linear": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                               num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                               rope_scaling={"type": "linear", "factor": 4.0},
                               tie_word_embeddings=False, attention_bias=False, mlp_bias=False), 16),
    # rope_scaling "dynamic" (NTK) with max_position_embeddings 8 < the 16 test positions.
    "llama-rope-dynamic": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                                num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                                max_position_embeddings=8,
                                rope_scaling={"rope_type": "dynamic", "factor": 2.0},
                                tie_word_embeddings=False, attention_bias=False, mlp_bias=False), 17),
    # rope_parameters "yarn" (transformers-5 layout: rope_theta inside), original context 64: the
    # head_dim-8 frequencies span extrapolation, the ramp and interpolation; attention factor
    # 0.1 ln 4 + 1 on cos / sin.
    "llama-rope-yarn": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                             num_key_value_heads=1, rms_norm_eps=1e-5,
                             rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                              "original_max_position_embeddings": 64},
                             tie_word_embeddings=False, attention_bias=False, mlp_bias=False), 18),
}
# fixture dir -> (model, stored dtype, sharded)
VARIANTS = {
    "tiny-qwen2": ("qwen2", "F32", False),
    "tiny-qwen2-bf16": ("qwen2", "BF16", False),
    "tiny-qwen2-f16": ("qwen2", "F16", False),
    "tiny-qwen3": ("qwen3", "F32", False),
    "tiny-qwen3-bf16": ("qwen3", "BF16", False),
    "tiny-llama": ("llama", "F32", False),
    "tiny-llama-bf16": ("llama", "BF16", False),
    "tiny-llama-sharded": ("llama-bias", "F32", True),
    "tiny-llama3-rope": ("llama3-rope", "F32", False),
    "tiny-llama-rope-linear": ("llama-rope-linear", "F32", False),
    "tiny-llama-rope-dynamic": ("llama-rope-dynamic", "F32", False),
    "tiny-llama-rope-yarn": ("llama-rope-yarn", "F32", False),
}
TORCH_DTYPE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def main():
    ids_rng = np.random.default_rng(1234)
    ids = [int(i) for i in ids_rng.integers(0, 128, SEQ_LEN)]
    for name, (model, dtype, sharded) in VARIANTS.items():
        cfg, seed = MODELS[model]
        cfg = dict(cfg, torch_dtype=TORCH_DTYPE[dtype])
        w = {k: round_to(v, dtype) for k, v in make_weights(cfg, seed).items()}
        d = os.path.join(ROOT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        if sharded:
            names = sorted(w)
            half = len(names) // 2
            shards = {"model-00001-of-00002.safetensors": names[:half],
                      "model-00002-of-00002.safetensors": names[half:]}
            wm = {}
            for fn, ns in shards.items():
                write_safetensors(os.path.join(d, fn), {n: w[n] for n in ns}, dtype,
                                  {"format": "pt"})
                wm.update({n: fn for n in ns})
            total = sum(v.numel() * DT[dtype][1] for v in w.values())
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)
            with open(os.path.join(d, "generation_config.json"), "w") as f:
                json.dump({"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": True,
                           "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                           "repetition_penalty": 1.05}, f, indent=2)
        else:
            write_safetensors(os.path.join(d, "model.safetensors"), w, dtype, {"format": "pt"})
        logits = reference_logits(cfg, w, ids)
        ref = {"generator": "tests/gen/make_model_fixtures.py (float64 PyTorch reference)",
               "ids": ids, "loss": mean_nll(logits, ids),
               "n_params": int(sum(v.numel() for v in w.values())),
               "logits": [[float("%.9g" % x) for x in row] for row in logits.tolist()]}
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump(ref, f)
        print(name, "loss", ref["loss"], "max|logit|", float(logits.abs().max()))

    # eval-loss fixture: three sequences on tiny-qwen2, loss over all predicted tokens.
    cfg, seed = MODELS["qwen2"]
    w = {k: round_to(v, "F32") for k, v in make_weights(cfg, seed).items()}
    seqs = [[int(i) for i in ids_rng.integers(0, 128, n)] for n in (9, 1, 20)]
    tot, cnt = 0.0, 0
    for s in seqs:
        if len(s) < 2:
            continue
        tot += mean_nll(reference_logits(cfg, w, s), s) * (len(s) - 1)
        cnt += len(s) - 1
    d = os.path.join(ROOT, "model")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "eval.jsonl"), "w") as f:
        for s in seqs:
            f.write(json.dumps({"input_ids": s}) + "\n")
    with open(os.path.join(d, "eval_expected.json"), "w") as f:
        json.dump({"model": "tiny-qwen2", "loss": tot / cnt, "tokens": cnt}, f)
    print("eval loss", tot / cnt, "tokens", cnt)


if __name__ == "__main__":
    main()
