#!/usr/bin/env python3
"""Writes small generated seed inputs for the fuzz harnesses (stdlib only).
   python3 fuzz/gen_seeds.py OUT_CORPUS_ROOT   ->  OUT/<harness>/gen-*"""
import json, os, struct, sys

out = sys.argv[1]


def put(h, name, data):
    os.makedirs(os.path.join(out, h), exist_ok=True)
    with open(os.path.join(out, h, "gen-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def st_file(tensors, meta=None):
    """safetensors bytes from {name: (dtype, shape, raw bytes)}."""
    hdr, off, blob = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for k, (dt, shape, raw) in tensors.items():
        hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    h = json.dumps(hdr).encode()
    return struct.pack("<Q", len(h)) + h + blob


def f32(n, v=0.5):
    return struct.pack("<%df" % n, *([v] * n))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# safetensors: odd dtypes, metadata, empty tensors
put("fuzz_safetensors", "mixed", st_file({"a": ("BF16", [2, 2], b"\x80\x3f" * 4), "b": ("I64", [1], b"\x07" + b"\0" * 7),
                                          "c": ("F32", [0, 3], b""), "d": ("U8", [3], b"xyz")}, {"format": "pt"}))
put("fuzz_safetensors", "empty", st_file({}))

# PEFT adapters: LoRA on layer 0 q_proj (r=2, in=out=4) and prompt tuning
lora_cfg = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "lora_dropout": 0.0, "target_modules": ["q_proj"],
            "bias": "none", "use_rslora": False, "use_dora": False, "base_model_name_or_path": "m"}
lora_st = st_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": ("F32", [2, 4], f32(8)),
                   "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": ("F32", [4, 2], f32(8))})
put("fuzz_peft", "lora", json.dumps(lora_cfg).encode() + b"\0" + lora_st)
pt_cfg = {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 2, "token_dim": 4, "task_type": "CAUSAL_LM"}
put("fuzz_peft", "prompt", json.dumps(pt_cfg).encode() + b"\0" + st_file({"prompt_embeddings": ("F32", [2, 4], f32(8))}))

# tokenized cache: one source, train 1 example of 2 tokens, empty val (checksum fixed by the harness)
# (version 2: per source read, kept, bad; dropped[4]; truncated, group-dropped tokens, bad rows and
# the first three messages, 320 bytes each)
c = b"CTDC" + struct.pack("<IQ", 2, 0) + struct.pack("<Q", 1) + struct.pack("<QQQ", 3, 1, 1)
c += struct.pack("<4Q", 0, 1, 0, 1) + struct.pack("<QQQ", 0, 0, 1) + b"x.json: row 2: bad".ljust(960, b"\0")
c += struct.pack("<QQ", 1, 2) + struct.pack("<QQ", 0, 2) + struct.pack("<i", 0) + struct.pack("<ii", 5, 6)
c += struct.pack("<ii", -100, 6) + struct.pack("<ff", 0, 1)
c += struct.pack("<QQ", 0, 0) + struct.pack("<Q", 0) + b"\0" * 8
put("fuzz_cache", "one", c)

# checkpoint manifest + trainer_state
man = {"format": "ctune-checkpoint", "version": 1, "step": 7,
       "files": {"a.bin": {"bytes": 5, "crc32c": "%08x" % crc32c(b"hello")}}}
state = {"global_step": 7, "epoch": 0.5, "log_history": [{"loss": 1.5, "step": 7}]}
put("fuzz_checkpoint", "ok", json.dumps(man) + "\0" + json.dumps(state))
# a trainer state the trainer accepts (step 5 of the memo set at batch 2 x 2 accumulation, the
# layout fuzz_checkpoint reads it against) and one at step 0
ts = {"format": "ctune-trainer-state", "version": 1, "global_step": 5, "max_steps": 40, "epoch": 2.5,
      "steps_per_epoch": 2, "data_epoch": 2, "data_micro_pos": 2, "data_rows": 6, "seed": 42,
      "optimizer_step": 5, "dropout_rng_step": "%016x" % 8, "log_loss_sum": struct.pack(">d", 0.75).hex(),
      "log_count": 1, "last_grad_norm": struct.pack(">d", 1.5).hex(), "num_input_tokens_seen": 430,
      "finetuning_type": "lora", "trainable_params": 46240, "learning_rate": 0.01,
      "lr_scheduler_type": "cosine", "eval_loss": 1.25}
put("fuzz_checkpoint", "trainer-state", json.dumps(man) + "\0" + json.dumps(ts, indent=2, sort_keys=True))
ts0 = dict(ts, global_step=0, epoch=0.0, data_epoch=0, data_micro_pos=0, optimizer_step=0,
           dropout_rng_step="%016x" % 0, log_loss_sum="%016x" % 0, log_count=0,
           last_grad_norm=struct.pack(">d", float("nan")).hex(), num_input_tokens_seen=0)
del ts0["eval_loss"]
put("fuzz_checkpoint", "trainer-state-0", json.dumps(man) + "\0" + json.dumps(ts0))
# the same step of a use_badam run (the harness's second layout: full, 8 blocks ascending, a switch
# every 2 steps: after steps 1, 3 and 5 block 3 is active, the optimizer state just restarted)
tsb = dict(ts, finetuning_type="full", optimizer_step=0,
           badam={"switch_mode": "ascending", "blocks": 8, "active": 3, "next": 4, "step": 5, "permutations": 0,
                  "permutation_left": [], "visited": [0, 1, 2, 3]})
put("fuzz_checkpoint", "trainer-state-badam", json.dumps(man) + "\0" + json.dumps(tsb))

# YAML training configs
put("fuzz_yaml_config", "lora", """### model
model_name_or_path: ../shared/models/stories260k
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
dataset: demo_alpaca,demo_sharegpt
dataset_dir: tests/fixtures/data
template: qwen3
cutoff_len: 512
max_samples: 100
output_dir: out/x
logging_steps: 1
per_device_train_batch_size: 2
gradient_accumulation_steps: 4
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
interleave_probs: 0.3,0.7
mix_strategy: interleave_under
""")
put("fuzz_yaml_config", "flow", "{stage: pt, dataset: [a, b], packing: true, enable_thinking: null, seed: 1}\n")
put("fuzz_yaml_config", "anchors", "a: &x 1\nb: *x\nc: !!str 3\n? complex\n: v\n---\nd: 2\n")

# JSON-schema: a schema using every supported keyword, and an instance
schema = {"type": "object", "required": ["a"], "additionalProperties": False, "minProperties": 1, "maxProperties": 4,
          "properties": {"a": {"type": ["integer", "null"], "minimum": 0, "exclusiveMaximum": 10},
                         "b": {"type": "array", "items": {"enum": ["x", "y", 1.0]}, "minItems": 1, "uniqueItems": True,
                               "prefixItems": [{"const": "x"}], "maxItems": 3},
                         "c": {"type": "string", "minLength": 1, "maxLength": 3}}}
put("fuzz_json_schema", "kw", json.dumps(schema) + "\0" + json.dumps({"a": 3, "b": ["x", 1], "c": "日本"}))
# constrained decoding: a schema the automaton compiles, and a prefix of an instance
cschema = {"$defs": {"n": {"anyOf": [{"type": "integer", "minimum": -5, "maximum": 250}, {"type": "null"}]}},
           "type": "object", "required": ["a"], "additionalProperties": False, "maxProperties": 3,
           "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"type": "array", "items": {"enum": ["x", "y"]},
                                                              "uniqueItems": True},
                          "c": {"type": "string", "minLength": 1, "maxLength": 3}, "d": {"type": "number", "maximum": 1.5}}}
put("fuzz_json_constrain", "kw", json.dumps(cschema) + "\0" + '{"b": ["x", "y"], "c": "\\u00e9\u65e5", "a": 2')

# risk eval report
rep = {"metrics": {}, "counts": {k: 1 for k in ["n", "n_answer", "json_valid", "label_exact", "product_ok",
                                                  "approval_ok", "limit_ok", "rate_ok", "drivers_ok"]},
       "labels": {}}
put("fuzz_risk_eval", "report", b"\x01" + json.dumps(rep).encode())

# tokenizer.json: the small synthetic tokenizers of the unit tests
mini = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, " ": 5, "ab": 6, "abc": 7, "<unk>": 8},
                  "merges": ["a b", ["ab", "c"]], "unk_token": "<unk>", "fuse_unk": True},
        "added_tokens": [{"id": 9, "content": "<X>", "special": True, "normalized": False, "lstrip": True, "rstrip": True},
                         {"id": 10, "content": "dd", "special": False, "normalized": False, "single_word": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Prepend", "prepend": "_"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "_"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": True},
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<X>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<X>": {"id": "<X>", "ids": [9], "tokens": ["<X>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "_"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}
cfg = {"bos_token": {"content": "<X>"}, "eos_token": "<X>", "add_bos_token": True, "model_max_length": 64,
       "chat_template": [{"name": "default", "template": "D"}]}
put("fuzz_tokenizer_json", "mini", json.dumps(mini) + "\0" + json.dumps(cfg))
bl = dict(mini)
bl["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "\\s+|\\p{L}+|\\p{N}"}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
bl["decoder"] = {"type": "ByteLevel"}
bl["normalizer"] = None
put("fuzz_tokenizer_json", "bytelevel", json.dumps(bl))

# round trip texts (byte 0 picks the tokenizer)
for i, t in enumerate(["Hello the world", "  leading\n\ttabs  ", "日本語 ünï 🙂", "<|im_start|>user\nhi<|im_end|>",
                       "it's 12345 don't", "a\r\n\r\nb"]):
    put("fuzz_tok_roundtrip", "t%d-0" % i, b"\0" + t.encode())
    put("fuzz_tok_roundtrip", "t%d-1" % i, b"\1" + t.encode())

# CLI argument vectors (NUL-separated; fuzz_cli_args)
for i, args in enumerate([
        ["--model", "m", "--adapter", "a", "--template", "qwen3", "--threads", "2", "--precision", "bf16"],
        ["--max-new-tokens", "8", "--top-k", "5", "--top-p", "0.9", "--temperature", "0.7", "--seed", "1",
         "--repetition-penalty", "1.1", "--prompt-ids", "1,2, 3"],
        ["--force", "--untied", "pos1", "--rope-theta=1e6", "--layers", "-3", "pos2", "--help"],
        ["--quantization-bit", "4", "--quantization-type", "fp4", "--double-quantization", "false", "--x=", "--="],
        ["--learning_rate", "1e-4", "--dataset", "a,b", "--cutoff-len=64", "--stage", "pt", "--lora_rank", "8"],
        ["--model", "--model", "--model", "last", "--jsonl", "--decode", "--threads", "99999999999999999999"]]):
    put("fuzz_cli_args", "argv%d" % i, "\0".join(args))
