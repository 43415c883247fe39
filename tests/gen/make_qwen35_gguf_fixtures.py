#!/usr/bin/python3
"""Qwen3.5 models for the GGUF export test (tests/cli/export_gguf_qwen35.sh), run with Debian
python3-torch:   /usr/bin/python3 tests/gen/make_qwen35_gguf_fixtures.py

llama.cpp's qwen35 architecture needs what tests/fixtures/tiny-qwen3_5 does not have: a
tokenizer in the file (so a vocabulary the model's embedding covers), linear_key_head_dim equal
to linear_value_head_dim, and rows that are multiples of 32 (Q8_0 blocks). These two models have
them, with more value heads than key heads (the GGUF reorders the value heads) and random
(1 + w) norm offsets, A_log, dt_bias and conv weights (so every converter transform shows):

  tests/fixtures/tiny-qwen3_5-gguf/     Qwen3_5ForCausalLM (qwen3_5_text), untied head,
                                        layer_types [L, F, L, L] (no full_attention_interval
                                        pattern: the GGUF lists the recurrent layers)
  tests/fixtures/tiny-qwen3_5-gguf-vl/  Qwen3_5ForConditionalGeneration: text_config, tied,
                                        full_attention_interval 2, model.language_model.* names,
                                        a vision tower and an MTP head (not exported)

each with config.json, model.safetensors (F32), reference.json (float64 logits of 16 ids, the
math of make_qwen35_fixtures.py) and the tokenizer: tests/fixtures/tok/qwen3_5-synth (Qwen3.5's
NFC normalizer, Split regex and byte-level BPE) with its 26 added tokens renumbered from 248044
to right after its 378-token vocabulary, so that a 416-row embedding holds every id."""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import write_safetensors  # noqa: E402
from make_qwen35_fixtures import head_of, make_weights, segment_hidden, text_dims  # noqa: E402

torch.set_default_dtype(torch.float64)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
SYNTH = os.path.join(ROOT, "tok", "qwen3_5-synth")


def tokenizer():
    """(tokenizer.json, tokenizer_config.json, {token: new id}) with the added tokens renumbered."""
    with open(os.path.join(SYNTH, "tokenizer.json")) as f:
        tj = json.load(f)
    with open(os.path.join(SYNTH, "tokenizer_config.json")) as f:
        tc = json.load(f)
    base = len(tj["model"]["vocab"])
    remap = {}
    for i, a in enumerate(tj["added_tokens"]):
        remap[a["id"]] = base + i
        a["id"] = base + i
    tc["added_tokens_decoder"] = {str(remap[int(k)]): v for k, v in tc["added_tokens_decoder"].items()}
    ids = {a["content"]: a["id"] for a in tj["added_tokens"]}
    return tj, tc, ids


TEXT = dict(vocab_size=416, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
            head_dim=32, linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=16,
            linear_value_head_dim=16, linear_conv_kernel_dim=4, rms_norm_eps=1e-6, hidden_act="silu",
            max_position_embeddings=512, attention_bias=False, attn_output_gate=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25,
                             "mrope_section": [11, 11, 10], "mrope_interleaved": True})


def write(name, cfg, d, tied, seed, ids, extra_prefix, tok):
    w = make_weights(d, tied, seed)
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tj, tc, _ = tok
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, ensure_ascii=False, indent=2)
    stored = {}
    for k, v in w.items():
        stored[k.replace("model.", extra_prefix, 1) if extra_prefix and k.startswith("model.") else k] = v
    if extra_prefix:  # what ctune does not load (nor export): a vision tower and the MTP head
        stored["model.visual.patch_embed.proj.weight"] = torch.ones(8, 3, 1, 2, 2)
        stored["mtp.fc.weight"] = torch.ones(32, 64)
    write_safetensors(os.path.join(out, "model.safetensors"), stored, "F32", {"format": "pt"})
    h = segment_hidden(d, w, torch.tensor(ids), torch.arange(len(ids)))
    logits = h @ head_of(w, tied).T
    lp = torch.log_softmax(logits[:-1], -1)
    loss = float(-lp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean())
    ref = {"generator": "tests/gen/make_qwen35_gguf_fixtures.py (float64 PyTorch reference)", "ids": ids,
           "loss": loss, "n_params": int(sum(v.numel() for v in w.values())),
           "logits": [[float("%.9g" % x) for x in row] for row in logits.tolist()]}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(name, "loss", loss)


def main():
    tok = tokenizer()
    special = tok[2]
    ids = [int(i) for i in np.random.default_rng(4242).integers(0, 378, 16)]
    bos_eos = dict(bos_token_id=special["<|endoftext|>"], eos_token_id=special["<|im_end|>"])
    kinds = ["linear_attention", "full_attention", "linear_attention", "linear_attention"]
    cfg = dict(TEXT, **bos_eos, architectures=["Qwen3_5ForCausalLM"], model_type="qwen3_5_text",
               num_hidden_layers=4, layer_types=kinds, tie_word_embeddings=False, dtype="float32")
    write("tiny-qwen3_5-gguf", cfg, text_dims(dict(cfg, kinds=kinds)), False, 351, ids, None, tok)

    kinds = ["linear_attention", "full_attention"] * 2
    text = dict(TEXT, **bos_eos, model_type="qwen3_5_text", num_hidden_layers=4, full_attention_interval=2,
                tie_word_embeddings=True, mtp_num_hidden_layers=1, dtype="float32")
    cfg = {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
           "image_token_id": special["<|image_pad|>"], "video_token_id": special["<|video_pad|>"],
           "vision_start_token_id": special["<|vision_start|>"], "vision_end_token_id": special["<|vision_end|>"],
           "tie_word_embeddings": True, "text_config": text,
           "vision_config": {"model_type": "qwen3_5", "depth": 1, "hidden_size": 8, "num_heads": 2,
                             "intermediate_size": 16, "out_hidden_size": 32, "patch_size": 2,
                             "spatial_merge_size": 1, "temporal_patch_size": 1}}
    write("tiny-qwen3_5-gguf-vl", cfg, text_dims(dict(text, kinds=kinds)), True, 352, ids, "model.language_model.",
          tok)


if __name__ == "__main__":
    main()
