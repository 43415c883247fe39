#!/usr/bin/env bash
# ctune init-model: a random Qwen3 model dir (config, bf16 safetensors, generation_config with
# <|im_end|> and <|endoftext|> as eos, tokenizer files) that loads, is deterministic per seed,
# and trains (2 full fine-tuning steps, loss finite, outputs saved in bf16).
set -u
bin=${CTUNE_BIN:-build/ctune}
qtok=${CTUNE_SHARED:-../shared}/tokenizers/qwen3
tok=${CTUNE_SHARED:-../shared}/models/stories260k   # small tokenizer: fast under ASan too
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
err=$($bin init-model --hidden-size 64 --layers 1 --heads 3 --kv-heads 2 --intermediate-size 96 --tokenizer x --out "$tmp/m" 2>&1) && fail "bad heads accepted"
echo "$err" | grep -q "multiple of kv heads" || fail "message: $err"
if [ ! -f "$tok/tokenizer.json" ]; then echo "stories260k tokenizer not found at $tok (../shared absent)"; exit 77; fi
args=(--arch qwen3 --hidden-size 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --intermediate-size 128 --tokenizer "$tok")
$bin init-model "${args[@]}" --out "$tmp/a" --seed 7 >/dev/null || fail "init a"
$bin init-model "${args[@]}" --out "$tmp/b" --seed 7 >/dev/null || fail "init b"
$bin init-model "${args[@]}" --out "$tmp/c" --seed 8 --dtype f32 >/dev/null || fail "init c"
cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" || fail "same seed, different weights"
cmp -s "$tmp/a/model.safetensors" "$tmp/c/model.safetensors" && fail "different seeds, same weights"
for f in config.json model.safetensors generation_config.json tokenizer.json tokenizer_config.json; do
  [ -f "$tmp/a/$f" ] || fail "missing $f"
done
grep -q '"model_type": "qwen3"' "$tmp/a/config.json" && grep -q '"torch_dtype": "bfloat16"' "$tmp/a/config.json" || fail "config: $(cat "$tmp/a/config.json")"
grep -q '"vocab_size": 512' "$tmp/a/config.json" || fail "vocab not from the tokenizer"
tr -d ' \n' < "$tmp/a/generation_config.json" | grep -q '"eos_token_id":\[2\]' || fail "eos: $(cat "$tmp/a/generation_config.json")"
info=$($bin info --model "$tmp/a") || fail "info"
echo "$info" | grep -q "q/k norm" || fail "info: $info"
cat > "$tmp/t.yaml" <<EOC
model_name_or_path: $tmp/a
template: empty
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
max_samples: 2
cutoff_len: 64
finetuning_type: full
learning_rate: 1.0e-3
max_steps: 2
per_device_train_batch_size: 1
logging_steps: 1
save_steps: 0
output_dir: $tmp/out
threads: 1
EOC
$bin train "$tmp/t.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "train on the random model"; }
grep -q '"current_steps": 2' "$tmp/out/trainer_log.jsonl" || fail "log"
grep -q '"torch_dtype": "bfloat16"' "$tmp/out/config.json" || fail "saved dtype"
$bin info --model "$tmp/out" >/dev/null || fail "trained model does not load"
cmp -s "$tmp/a/model.safetensors" "$tmp/out/model.safetensors" && fail "weights unchanged by training"
# With the Qwen3 tokenizer: vocab 151669 rounded up to 151680, eos = <|im_end|>, <|endoftext|>.
# (Skipped under sanitizers: loading the 11 MB tokenizer.json takes minutes with ASan.)
if [ -f "$qtok/tokenizer.json" ] && [ -z "${CTUNE_SANITIZE:-}" ]; then
  $bin init-model "${args[@]/$tok/$qtok}" --out "$tmp/q" --seed 1 >/dev/null || fail "init qwen3 tokenizer"
  grep -q '"vocab_size": 151680' "$tmp/q/config.json" || fail "qwen3 vocab"
  tr -d ' \n' < "$tmp/q/generation_config.json" | grep -q '"eos_token_id":\[151645,151643\]' || fail "eos: $(cat "$tmp/q/generation_config.json")"
  grep -q '"bos_token_id": 151643' "$tmp/q/config.json" && grep -q '"eos_token_id": 151645' "$tmp/q/config.json" || fail "config ids"
fi
echo ok
