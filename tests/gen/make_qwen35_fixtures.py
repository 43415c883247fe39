#!/usr/bin/python3
"""Golden fixtures for Qwen3.5 (hybrid Gated DeltaNet + gated attention), run with Debian
python3-torch:   /usr/bin/python3 tests/gen/make_qwen35_fixtures.py

An independent float64 PyTorch implementation of transformers' Qwen3_5TextModel math, written
from modeling_qwen3_5.py's semantics (not imported): Qwen3_5RMSNorm (x * rsqrt(mean x^2 + eps)
* (1 + w)), the attention's q_proj yielding [query | gate] per head, q/k norm, partial rotary
(rotate_half on the first head_dim * partial_rotary_factor dims), attn * sigmoid(gate); the
Gated DeltaNet: in_proj_qkv -> causal depthwise conv1d (kernel K, zero history) -> SiLU ->
q, k, v; q, k L2-normalised (eps 1e-6), q / sqrt(Dk); beta = sigmoid(in_proj_b x);
g = -exp(A_log) softplus(in_proj_a x + dt_bias); the delta rule token by token
(torch_recurrent_gated_delta_rule: S = e^g S; S += k (beta (v - S^T k))^T; o = S^T q), grouped
value heads (k head h // (Hv / Hk)); Qwen3_5RMSNormGated (w * norm(o) * silu(z)); out_proj.
Packed rows restart the conv history and the state at every segment.

Writes
  tests/fixtures/tiny-qwen3_5/        Qwen3_5ForCausalLM, untied, layer_types [L, L, F]
  tests/fixtures/tiny-qwen3_5-vl/     Qwen3_5ForConditionalGeneration: text_config, tied,
                                      full_attention_interval 2, model.language_model.* names,
                                      a vision tower and an MTP head that are not loaded
  (config.json, model.safetensors, reference.json: logits of 16 ids)
  tests/fixtures/train/qwen3_5.bin    CTFX arrays (see make_train_fixtures.py): a packed batch,
                                      loss and every full fine-tuning gradient (full.*), and
                                      LoRA on all 12 linear modules with non-zero B (lora.*),
                                      of tiny-qwen3_5"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import write_safetensors  # noqa: E402
from make_train_fixtures import write_fixture  # noqa: E402

torch.set_default_dtype(torch.float64)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def text_dims(tc):
    D = tc["head_dim"]
    return dict(C=tc["hidden_size"], I=tc["intermediate_size"], L=tc["num_hidden_layers"],
                Hq=tc["num_attention_heads"], Hkv=tc["num_key_value_heads"], D=D,
                R=int(D * tc["rope_parameters"]["partial_rotary_factor"]), V=tc["vocab_size"],
                Hk=tc["linear_num_key_heads"], Hv=tc["linear_num_value_heads"], Dk=tc["linear_key_head_dim"],
                Dv=tc["linear_value_head_dim"], K=tc["linear_conv_kernel_dim"], eps=tc["rms_norm_eps"],
                theta=tc["rope_parameters"]["rope_theta"], kinds=tc["kinds"])


def r32(gen, shape, scale, offset=0.0):
    x = (torch.rand(shape, generator=gen) * 2 - 1) * scale + offset
    return x.to(torch.float32).to(torch.float64)


def make_weights(d, tied, seed):
    gen = torch.Generator().manual_seed(seed)
    C, I, V, Hq, Hkv, D = d["C"], d["I"], d["V"], d["Hq"], d["Hkv"], d["D"]
    KD, VD, Hv = d["Hk"] * d["Dk"], d["Hv"] * d["Dv"], d["Hv"]
    w = {"model.embed_tokens.weight": r32(gen, (V, C), 1.0), "model.norm.weight": r32(gen, (C,), 0.2)}
    if not tied:
        w["lm_head.weight"] = r32(gen, (V, C), 0.35)
    for l, kind in enumerate(d["kinds"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = r32(gen, (C,), 0.2)          # offsets from 1
        w[p + "post_attention_layernorm.weight"] = r32(gen, (C,), 0.2)
        if kind == "full_attention":
            w[p + "self_attn.q_proj.weight"] = r32(gen, (2 * Hq * D, C), 0.35)
            w[p + "self_attn.k_proj.weight"] = r32(gen, (Hkv * D, C), 0.35)
            w[p + "self_attn.v_proj.weight"] = r32(gen, (Hkv * D, C), 0.35)
            w[p + "self_attn.o_proj.weight"] = r32(gen, (C, Hq * D), 0.35)
            w[p + "self_attn.q_norm.weight"] = r32(gen, (D,), 0.2)
            w[p + "self_attn.k_norm.weight"] = r32(gen, (D,), 0.2)
        else:
            q = p + "linear_attn."
            w[q + "in_proj_qkv.weight"] = r32(gen, (2 * KD + VD, C), 0.35)
            w[q + "in_proj_z.weight"] = r32(gen, (VD, C), 0.35)
            w[q + "in_proj_b.weight"] = r32(gen, (Hv, C), 0.35)
            w[q + "in_proj_a.weight"] = r32(gen, (Hv, C), 0.35)
            w[q + "conv1d.weight"] = r32(gen, (2 * KD + VD, 1, d["K"]), 0.5)
            w[q + "dt_bias"] = r32(gen, (Hv,), 0.5)
            w[q + "A_log"] = torch.log(r32(gen, (Hv,), 0.24, 0.26)).to(torch.float32).to(torch.float64)
            w[q + "norm.weight"] = r32(gen, (d["Dv"],), 0.2, 1.0)        # plain weight (RMSNormGated)
            w[q + "out_proj.weight"] = r32(gen, (C, VD), 0.35)
        w[p + "mlp.gate_proj.weight"] = r32(gen, (I, C), 0.35)
        w[p + "mlp.up_proj.weight"] = r32(gen, (I, C), 0.35)
        w[p + "mlp.down_proj.weight"] = r32(gen, (C, I), 0.35)
    return w


def rms1(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)


def rope_partial(x, pos, R, theta):
    """x [T, H, D]: rotate_half on the first R dims at positions pos [T]."""
    inv = 1.0 / (theta ** (torch.arange(0, R, 2, dtype=torch.float64) / R))
    ang = pos.to(torch.float64)[:, None] * inv[None]
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    xr, xp = x[..., :R], x[..., R:]
    h = R // 2
    rot = torch.cat((-xr[..., h:], xr[..., :h]), -1)
    return torch.cat((xr * cos + rot * sin, xp), -1)


def deltanet(d, w, p, n, lin):
    """One segment: n [T, C] -> [T, C]."""
    T = n.shape[0]
    Hk, Hv, Dk, Dv, K = d["Hk"], d["Hv"], d["Dk"], d["Dv"], d["K"]
    KD = Hk * Dk
    mixed = lin(n, p + "linear_attn.in_proj_qkv")
    cw = w[p + "linear_attn.conv1d.weight"][:, 0, :]                     # [CD, K]
    xx = torch.cat((torch.zeros(K - 1, mixed.shape[1]), mixed), 0)
    conv = sum(cw[:, j][None] * xx[j:j + T] for j in range(K))
    act = F.silu(conv)
    q = act[:, :KD].reshape(T, Hk, Dk)
    k = act[:, KD:2 * KD].reshape(T, Hk, Dk)
    v = act[:, 2 * KD:].reshape(T, Hv, Dv)
    z = lin(n, p + "linear_attn.in_proj_z").reshape(T, Hv, Dv)
    beta = torch.sigmoid(lin(n, p + "linear_attn.in_proj_b"))
    g = -torch.exp(w[p + "linear_attn.A_log"]) * F.softplus(lin(n, p + "linear_attn.in_proj_a") +
                                                              w[p + "linear_attn.dt_bias"])
    q = q * torch.rsqrt((q * q).sum(-1, keepdim=True) + 1e-6)
    k = k * torch.rsqrt((k * k).sum(-1, keepdim=True) + 1e-6)
    rep = Hv // Hk
    q, k = q.repeat_interleave(rep, 1), k.repeat_interleave(rep, 1)
    q = q / math.sqrt(Dk)
    S = torch.zeros(Hv, Dk, Dv)
    outs = []
    for t in range(T):
        S = S * torch.exp(g[t])[:, None, None]
        mem = (S * k[t][:, :, None]).sum(1)
        delta = (v[t] - mem) * beta[t][:, None]
        S = S + k[t][:, :, None] * delta[:, None, :]
        outs.append((S * q[t][:, :, None]).sum(1))
    o = torch.stack(outs)                                                 # [T, Hv, Dv]
    o = o * torch.rsqrt((o * o).mean(-1, keepdim=True) + d["eps"]) * w[p + "linear_attn.norm.weight"]
    o = o * F.silu(z)
    return lin(o.reshape(T, Hv * Dv), p + "linear_attn.out_proj")


def attention(d, w, p, n, pos, lin):
    T = n.shape[0]
    Hq, Hkv, D, eps = d["Hq"], d["Hkv"], d["D"], d["eps"]
    qg = lin(n, p + "self_attn.q_proj").view(T, Hq, 2 * D)
    q, gate = qg[..., :D], qg[..., D:].reshape(T, Hq * D)
    k = lin(n, p + "self_attn.k_proj").view(T, Hkv, D)
    v = lin(n, p + "self_attn.v_proj").view(T, Hkv, D)
    q = rms1(q, w[p + "self_attn.q_norm.weight"], eps)
    k = rms1(k, w[p + "self_attn.k_norm.weight"], eps)
    q, k = rope_partial(q, pos, d["R"], d["theta"]), rope_partial(k, pos, d["R"], d["theta"])
    rep = Hq // Hkv
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
    s = s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
    a = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v).reshape(T, Hq * D)
    return lin(a * torch.sigmoid(gate), p + "self_attn.o_proj")


def segment_hidden(d, w, ids, pos, lora=None, scaling=1.0):
    """Final-normed hidden states of one packed segment (positions pos)."""
    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if lora is not None and "base_model.model." + name + ".lora_A.weight" in lora:
            key = "base_model.model." + name
            y = y + (x @ lora[key + ".lora_A.weight"].T @ lora[key + ".lora_B.weight"].T) * scaling
        return y

    x = w["model.embed_tokens.weight"][ids]
    for l, kind in enumerate(d["kinds"]):
        p = f"model.layers.{l}."
        n = rms1(x, w[p + "input_layernorm.weight"], d["eps"])
        x = x + (attention(d, w, p, n, pos, lin) if kind == "full_attention" else deltanet(d, w, p, n, lin))
        n = rms1(x, w[p + "post_attention_layernorm.weight"], d["eps"])
        x = x + lin(F.silu(lin(n, p + "mlp.gate_proj")) * lin(n, p + "mlp.up_proj"), p + "mlp.down_proj")
    return rms1(x, w["model.norm.weight"], d["eps"])


def head_of(w, tied):
    return w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]


# ---------------------------------------------------------------- models
TEXT = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8,
            linear_value_head_dim=6, linear_conv_kernel_dim=4, rms_norm_eps=1e-6, hidden_act="silu",
            max_position_embeddings=256, attention_bias=False, attn_output_gate=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25,
                             "mrope_section": [1, 1, 0], "mrope_interleaved": True},
            bos_token_id=1, eos_token_id=2)


def causal_lm():
    kinds = ["linear_attention", "linear_attention", "full_attention"]
    cfg = dict(TEXT, architectures=["Qwen3_5ForCausalLM"], model_type="qwen3_5_text", num_hidden_layers=3,
               layer_types=kinds, tie_word_embeddings=False, dtype="float32")
    return cfg, dict(cfg, kinds=kinds), False


def conditional_generation():
    kinds = ["linear_attention", "full_attention"] * 2
    text = dict(TEXT, model_type="qwen3_5_text", num_hidden_layers=4, full_attention_interval=2,
                tie_word_embeddings=True, mtp_num_hidden_layers=1, dtype="float32")
    cfg = {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
           "image_token_id": 120, "video_token_id": 121, "vision_start_token_id": 122, "vision_end_token_id": 123,
           "tie_word_embeddings": True, "text_config": text,
           "vision_config": {"model_type": "qwen3_5", "depth": 1, "hidden_size": 8, "num_heads": 2,
                             "intermediate_size": 16, "out_hidden_size": 32, "patch_size": 2,
                             "spatial_merge_size": 1, "temporal_patch_size": 1}}
    return cfg, dict(text, kinds=kinds), True


def write_model(name, cfg, d, tied, seed, ids, extra_prefix):
    w = make_weights(d, tied, seed)
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    stored = {}
    for k, v in w.items():
        stored[k.replace("model.", extra_prefix, 1) if extra_prefix and k.startswith("model.") else k] = v
    if extra_prefix:  # what ctune does not load: a vision tower and the MTP head
        stored["model.visual.patch_embed.proj.weight"] = torch.ones(8, 3, 1, 2, 2)
        stored["mtp.fc.weight"] = torch.ones(32, 64)
    write_safetensors(os.path.join(out, "model.safetensors"), stored, "F32", {"format": "pt"})
    h = segment_hidden(d, w, torch.tensor(ids), torch.arange(len(ids)))
    logits = h @ head_of(w, tied).T
    lp = torch.log_softmax(logits[:-1], -1)
    loss = float(-lp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean())
    ref = {"generator": "tests/gen/make_qwen35_fixtures.py (float64 PyTorch reference)", "ids": ids, "loss": loss,
           "n_params": int(sum(v.numel() for v in w.values())),
           "logits": [[float("%.9g" % x) for x in row] for row in logits.tolist()]}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(name, "loss", loss)
    return w


LORA_MODULES = {"self_attn": ["q_proj", "k_proj", "v_proj", "o_proj"],
                "linear_attn": ["in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj"],
                "mlp": ["gate_proj", "up_proj", "down_proj"]}


def make_lora(d, w, gen, r):
    lora = {}
    for l, kind in enumerate(d["kinds"]):
        for grp, mods in LORA_MODULES.items():
            if grp == ("linear_attn" if kind == "full_attention" else "self_attn"):
                continue
            for mod in mods:
                W = w[f"model.layers.{l}.{grp}.{mod}.weight"]
                key = f"base_model.model.model.layers.{l}.{grp}.{mod}"
                lora[key + ".lora_A.weight"] = r32(gen, (r, W.shape[1]), 0.3)
                lora[key + ".lora_B.weight"] = r32(gen, (W.shape[0], r), 0.3)
    return lora


def batch_loss(d, w, tied, batch, lora=None, scaling=1.0):
    ids, labels, pos, seg = batch["ids"], batch["labels"], batch["pos"], batch["seg"]
    B, T = ids.shape
    hs = []
    for b in range(B):
        parts, s0 = [], 0
        while s0 < T:
            s1 = s0
            while s1 < T and seg[b, s1] == seg[b, s0]:
                s1 += 1
            parts.append(segment_hidden(d, w, ids[b, s0:s1], pos[b, s0:s1], lora, scaling))
            s0 = s1
        hs.append(torch.cat(parts, 0))
    logits = torch.stack(hs) @ head_of(w, tied).T
    sl, tl = logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1)
    return F.cross_entropy(sl, tl, ignore_index=-100, reduction="mean")


def train_fixture(d, w, tied):
    gen = torch.Generator().manual_seed(35)
    B, T, r, alpha = 2, 80, 4, 8.0
    ids = torch.randint(0, d["V"], (B, T), generator=gen)
    labels = ids.clone()
    labels[:, :3] = -100
    pos = torch.arange(T).repeat(B, 1)
    seg = torch.zeros(B, T, dtype=torch.int64)
    seg[1, 70:] = 1               # row 1 packs [0,70) (two chunks) and [70,80)
    pos[1, 70:] = torch.arange(T - 70)
    labels[1, 70] = -100
    batch = dict(ids=ids, labels=labels, pos=pos, seg=seg)
    lora = make_lora(d, w, gen, r)
    out = {"config": torch.tensor([r, alpha, B, T]), "batch.input_ids": ids, "batch.labels": labels,
           "batch.position_ids": pos, "batch.segment_ids": seg}
    for k, v in lora.items():
        out["lora_init." + k] = v
    for tag, trained, is_lora in (("full", w, False), ("lora", lora, True)):
        ps = {k: v.clone().requires_grad_(True) for k, v in trained.items()}
        loss = batch_loss(d, w if is_lora else ps, tied, batch, ps if is_lora else None, alpha / r)
        loss.backward()
        out[tag + ".loss"] = torch.tensor([loss.item()])
        for k, v in ps.items():
            out[tag + ".grad." + k] = v.grad
        print("qwen3_5", tag, "loss", loss.item())
    write_fixture(os.path.join(ROOT, "train", "qwen3_5.bin"), out)


def main():
    ids = [int(i) for i in np.random.default_rng(1234).integers(0, 128, 16)]
    cfg, d, tied = causal_lm()
    w = write_model("tiny-qwen3_5", cfg, text_dims(d), tied, 35, ids, None)
    train_fixture(text_dims(d), w, tied)
    cfg, d, tied = conditional_generation()
    write_model("tiny-qwen3_5-vl", cfg, text_dims(d), tied, 36, ids, "model.language_model.")


if __name__ == "__main__":
    main()
