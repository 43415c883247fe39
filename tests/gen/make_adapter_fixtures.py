#!/usr/bin/python3
"""Builds the PEFT adapter fixtures of the adapter tests and their float64 reference outputs.

For the committed tiny base models (tests/fixtures/tiny-qwen3, tiny-qwen2; F32) it writes
PEFT-format adapters under tests/fixtures/adapters/<name>/ (adapter_config.json +
adapter_model.safetensors with PEFT key names, non-zero lora_B) and expected.json with the
logits of every position and the mean loss, from a float64 forward written here from the HF
modeling math with PEFT's LoRA formula applied UNMERGED:
    y = x W^T + b + (x A^T) B^T * scaling,   scaling = lora_alpha / r  (rsLoRA: / sqrt(r))
DoRA (use_dora; PEFT DoraLinearLayer.forward in eval mode), with m = lora_magnitude_vector and
the row norm taken of the adapted weight:
    y = x W^T + b + (m / ||W + scaling B A||_row - 1) * (x W^T) + (m / ||.||) * scaling (x A^T) B^T
PiSSA (init_lora_weights "pissa"): PEFT re-runs pissa_init on load, so every adapted W becomes
W - scaling B0 A0 with B0 A0 from the top-r SVD of W (torch.linalg.svd) before the LoRA applies,
and PEFT prompt tuning: the virtual-token embeddings precede the input embeddings, position ids
run 0..P+T-1, and the loss (labels = input_ids, -100 over the virtual tokens) counts T
predictions: the last virtual token predicts input_ids[0].
Greedy continuations (argmax of the float64 logits, 6 new tokens) are recorded as well.

Run from the repository root: /usr/bin/python3 tests/gen/make_adapter_fixtures.py
Needs python3-torch + numpy (Debian); `make test` only needs the committed outputs."""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_model_fixtures import round_to, write_safetensors  # noqa: E402  (own code, same repo)

FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(FIX, "adapters")
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PARENT = {m: ("self_attn" if m in MODULES[:4] else "mlp") for m in MODULES}


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", k
        b, e = v["data_offsets"]
        a = np.frombuffer(buf[8 + n + b:8 + n + e], dtype="<f4").astype(np.float64)
        out[k] = torch.from_numpy(a.reshape(v["shape"]).copy())
    return out


def load_base(name):
    d = os.path.join(FIX, name)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    return cfg, read_safetensors(os.path.join(d, "model.safetensors"))


# ---------------------------------------------------------------- float64 reference forward
def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, w, lora, scaling, x):
    """x: input embeddings [T, C] at positions 0..T-1. lora: {(layer, module): (A, B)}."""
    C, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // Hq)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    T = x.shape[0]

    def lin(h, l, module):
        name = f"model.layers.{l}.{PARENT[module]}.{module}"
        y = h @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        if (l, module) in lora:
            A, B = lora[(l, module)][:2]
            mag = lora[(l, module)][2] if len(lora[(l, module)]) > 2 else None
            if mag is None:
                y = y + (h @ A.T) @ B.T * scaling
            else:  # DoRA
                W = w[name + ".weight"]
                g = mag / torch.linalg.norm(W + scaling * B @ A, dim=1)
                y = y + (g - 1) * (h @ W.T) + g * ((h @ A.T) @ B.T) * scaling
        return y

    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = f"model.layers.{l}."
        n = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(n, l, "q_proj").view(T, Hq, D)
        k = lin(n, l, "k_proj").view(T, Hkv, D)
        v = lin(n, l, "v_proj").view(T, Hkv, D)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = Hq // Hkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.einsum("hts,shd->thd", torch.softmax(s, dim=-1), v).reshape(T, Hq * D)
        x = x + lin(a, l, "o_proj")
        n = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(torch.nn.functional.silu(lin(n, l, "gate_proj")) * lin(n, l, "up_proj"),
                    l, "down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return x @ head.T


def run(cfg, w, lora, scaling, prompt, ids):
    """Logits of the real positions [T, V] and the summed NLL (PEFT/HF causal-LM loss)."""
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    P = 0 if prompt is None else prompt.shape[0]
    if P:
        x = torch.cat([prompt, x], 0)
    logits = forward(cfg, w, lora, scaling, x)
    lp = torch.log_softmax(logits, dim=-1)
    # row i predicts token i+1 of [virtual..., ids...]; virtual targets are -100
    targets = [None] * P + list(ids)
    nll, n = 0.0, 0
    for i in range(len(targets) - 1):
        if targets[i + 1] is not None:
            nll -= float(lp[i, targets[i + 1]])
            n += 1
    return logits[P:], nll, n


def greedy(cfg, w, lora, scaling, prompt, ids, n_new):
    out, margins = [], []
    seq = list(ids)
    for _ in range(n_new):
        lg, _, _ = run(cfg, w, lora, scaling, prompt, seq)
        top = torch.topk(lg[-1], 2)
        margins.append(float(top.values[0] - top.values[1]))
        nxt = int(top.indices[0])
        out.append(nxt)
        seq.append(nxt)
    return out, min(margins)


def lora_config(base, r, alpha, targets, rslora=False, layers=None, modules_to_save=None):
    # PEFT 0.13 LoraConfig.to_dict() keys, as save_pretrained writes them
    return {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base,
            "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
            "init_lora_weights": True, "layer_replication": None, "layers_pattern": None,
            "layers_to_transform": layers, "loftq_config": {}, "lora_alpha": alpha,
            "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core",
            "modules_to_save": modules_to_save, "peft_type": "LORA", "r": r,
            "rank_pattern": {}, "revision": None, "target_modules": targets,
            "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora}


def write_adapter(name, config, tensors, dtype):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True))
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, dtype,
                      {"format": "pt"})


def make_lora(name, base, r, alpha, selected, seed, dtype="F32", rslora=False, targets=None,
              layers=None, saved=None):
    cfg, w = load_base(base)
    g = torch.Generator().manual_seed(seed)
    lora, tensors = {}, {}
    for (l, m) in selected:
        W = w[f"model.layers.{l}.{PARENT[m]}.{m}.weight"]
        A = round_to(torch.randn(r, W.shape[1], generator=g, dtype=torch.float64) * 0.3, dtype)
        B = round_to(torch.randn(W.shape[0], r, generator=g, dtype=torch.float64) * 0.3, dtype)
        lora[(l, m)] = (A, B)
        key = f"base_model.model.model.layers.{l}.{PARENT[m]}.{m}"
        tensors[key + ".lora_A.weight"] = A
        tensors[key + ".lora_B.weight"] = B
    mts = None
    if saved:
        mts = []
        for hf_name, mod in saved:
            t = round_to(w[hf_name] + torch.randn(w[hf_name].shape, generator=g,
                                                  dtype=torch.float64) * 0.1, dtype)
            tensors["base_model.model." + hf_name] = t
            w = dict(w, **{hf_name: t})
            mts.append(mod)
    scaling = alpha / math.sqrt(r) if rslora else alpha / r
    config = lora_config(f"tests/fixtures/{base}", r, alpha, targets, rslora, layers, mts)
    write_adapter(name, config, tensors, dtype)
    return cfg, w, lora, scaling, None


def make_dora(name, base, r, alpha, selected, seed):
    """A DoRA adapter: A, B non-zero, magnitudes 0.5..1.5 times the adapted rows' norms."""
    cfg, w = load_base(base)
    g = torch.Generator().manual_seed(seed)
    scaling = alpha / r
    lora, tensors = {}, {}
    for (l, m) in selected:
        W = w[f"model.layers.{l}.{PARENT[m]}.{m}.weight"]
        A = round_to(torch.randn(r, W.shape[1], generator=g, dtype=torch.float64) * 0.3, "F32")
        B = round_to(torch.randn(W.shape[0], r, generator=g, dtype=torch.float64) * 0.3, "F32")
        norm = torch.linalg.norm(W + scaling * B @ A, dim=1)
        M = round_to(norm * (0.5 + torch.rand(W.shape[0], generator=g, dtype=torch.float64)), "F32")
        lora[(l, m)] = (A, B, M)
        key = f"base_model.model.model.layers.{l}.{PARENT[m]}.{m}"
        tensors[key + ".lora_A.weight"] = A
        tensors[key + ".lora_B.weight"] = B
        tensors[key + ".lora_magnitude_vector"] = M  # PEFT's key: no ".weight"
    config = lora_config(f"tests/fixtures/{base}", r, alpha, sorted({m for _, m in selected}))
    config["use_dora"] = True
    write_adapter(name, config, tensors, "F32")
    return cfg, w, lora, scaling, None


def make_pissa(name, base, r, alpha, selected, seed):
    """A PiSSA adapter as PEFT saves one trained from init_lora_weights="pissa": trained A, B
    (random here) whose base is W - scaling B0 A0, B0 A0 the top-r SVD part of W."""
    cfg, w = load_base(base)
    g = torch.Generator().manual_seed(seed)
    scaling = alpha / r
    lora, tensors, wres = {}, {}, dict(w)
    for (l, m) in selected:
        hf = f"model.layers.{l}.{PARENT[m]}.{m}.weight"
        W = w[hf]
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        Sr = S[:r] / scaling
        A0 = torch.diag(torch.sqrt(Sr)) @ Vh[:r]
        B0 = U[:, :r] @ torch.diag(torch.sqrt(Sr))
        wres[hf] = W - scaling * B0 @ A0
        A = round_to(A0 + torch.randn(A0.shape, generator=g, dtype=torch.float64) * 0.05, "F32")
        B = round_to(B0 + torch.randn(B0.shape, generator=g, dtype=torch.float64) * 0.05, "F32")
        lora[(l, m)] = (A, B)
        key = f"base_model.model.model.layers.{l}.{PARENT[m]}.{m}"
        tensors[key + ".lora_A.weight"] = A
        tensors[key + ".lora_B.weight"] = B
    config = lora_config(f"tests/fixtures/{base}", r, alpha, sorted({m for _, m in selected}))
    config["init_lora_weights"] = "pissa"
    write_adapter(name, config, tensors, "F32")
    return cfg, wres, lora, scaling, None


def make_prompt(name, base, P, seed):
    cfg, w = load_base(base)
    g = torch.Generator().manual_seed(seed)
    prompt = round_to(torch.randn(P, cfg["hidden_size"], generator=g, dtype=torch.float64), "F32")
    config = {"auto_mapping": None, "base_model_name_or_path": f"tests/fixtures/{base}",
              "inference_mode": True, "num_attention_heads": cfg["num_attention_heads"],
              "num_layers": cfg["num_hidden_layers"], "num_transformer_submodules": 1,
              "num_virtual_tokens": P, "peft_type": "PROMPT_TUNING",
              "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None, "revision": None,
              "task_type": "CAUSAL_LM", "token_dim": cfg["hidden_size"], "tokenizer_kwargs": None,
              "tokenizer_name_or_path": None}
    write_adapter(name, config, {"prompt_embeddings": prompt}, "F32")
    return cfg, w, {}, 0.0, prompt


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(4321)
    ids = [int(i) for i in rng.integers(3, 128, 12)]
    L = 2
    every = [(l, m) for l in range(L) for m in MODULES]
    cases = {
        # all 7 linears listed, r=4, alpha=8 -> scaling 2
        "qwen3-lora": ("tiny-qwen3", make_lora("qwen3-lora", "tiny-qwen3", 4, 8, every, 21,
                                                targets=sorted(MODULES))),
        # "all-linear", rsLoRA r=4 alpha=6 -> 3, adapter stored in BF16
        "qwen3-lora-alllinear-rs": ("tiny-qwen3", make_lora(
            "qwen3-lora-alllinear-rs", "tiny-qwen3", 4, 6, every, 22, dtype="BF16",
            rslora=True, targets="all-linear")),
        # regex target (re.fullmatch), r=2
        "qwen3-lora-regex": ("tiny-qwen3", make_lora(
            "qwen3-lora-regex", "tiny-qwen3", 2, 4,
            [(l, m) for l in range(L) for m in ("q_proj", "o_proj", "up_proj")], 23,
            targets=r".*\.(q_proj|o_proj|up_proj)")),
        # qwen2 (biases): list + layers_to_transform [1], plus modules_to_save lm_head
        "qwen2-lora-layers": ("tiny-qwen2", make_lora(
            "qwen2-lora-layers", "tiny-qwen2", 8, 16,
            [(1, m) for m in ("q_proj", "v_proj", "down_proj")], 24,
            targets=["down_proj", "q_proj", "v_proj"], layers=[1],
            saved=[("lm_head.weight", "lm_head")])),
        # DoRA on every linear (magnitude vectors), r=4, alpha=8
        "qwen3-dora": ("tiny-qwen3", make_dora("qwen3-dora", "tiny-qwen3", 4, 8, every, 26)),
        # DoRA on a model with biases, three modules
        "qwen2-dora": ("tiny-qwen2", make_dora(
            "qwen2-dora", "tiny-qwen2", 2, 8,
            [(l, m) for l in range(L) for m in ("q_proj", "v_proj", "down_proj")], 27)),
        # PiSSA (exact SVD): the base becomes the residual on load
        "qwen2-pissa": ("tiny-qwen2", make_pissa(
            "qwen2-pissa", "tiny-qwen2", 4, 8,
            [(l, m) for l in range(L) for m in ("q_proj", "o_proj", "gate_proj", "down_proj")], 28)),
        # prompt tuning, 3 virtual tokens
        "qwen3-prompt": ("tiny-qwen3", make_prompt("qwen3-prompt", "tiny-qwen3", 3, 25)),
    }
    expected = {"generator": "tests/gen/make_adapter_fixtures.py (float64 PyTorch reference, "
                             "PEFT formulas)", "ids": ids, "cases": {}}
    for name, (base, (cfg, w, lora, scaling, prompt)) in cases.items():
        logits, nll, n = run(cfg, w, lora, scaling, prompt, ids)
        gen, margin = greedy(cfg, w, lora, scaling, prompt, ids[:5], 6)
        _, base_nll, base_n = run(cfg, load_base(base)[1], {}, 0.0, None, ids)
        expected["cases"][name] = {
            "base": base, "scaling": scaling, "loss": nll / n, "n_predicted": n,
            "base_loss": base_nll / base_n, "greedy_prompt": ids[:5], "greedy": gen,
            "greedy_min_margin": margin,
            "logits": [[float("%.9g" % x) for x in row] for row in logits.tolist()]}
        print(name, "loss", nll / n, "base", base_nll / base_n, "greedy", gen, "margin", margin)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
