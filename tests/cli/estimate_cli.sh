#!/usr/bin/env bash
# ctune estimate: named sizes, the size x method table, a LlamaFactory YAML, and one-line errors
# naming the bad size / method / file.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect_err() { # what, pattern, args...
  local what=$1 pat=$2; shift 2
  local out
  out=$($bin estimate "$@" 2>&1) && fail "$what: accepted"
  [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "$what: not one line: $out"
  echo "$out" | grep -q -- "$pat" || fail "$what: message '$out' lacks '$pat'"
}
expect_err "unknown size" "qwen9-1b" --size qwen9-1b
expect_err "unknown method" "dora" --size qwen3-0.6b --method dora
expect_err "missing config" "$tmp/nope.json" --config "$tmp/nope.json"
expect_err "missing yaml" "$tmp/nope.yaml" "$tmp/nope.yaml"
out=$($bin estimate --size qwen2.5-0.5b --method full --cutoff-len 512 --threads 1 --no-calibrate) || fail "size"
echo "$out" | grep -q "494.03 M parameters" || fail "params: $out"
echo "$out" | grep -q "^peak" || fail "peak: $out"
json=$($bin estimate --size qwen2.5-0.5b --method lora --json --no-calibrate) || fail "json"
echo "$json" | grep -q '"trainable": 4399104' || fail "lora trainable: $json"
out=$($bin estimate --table --cutoff-len 1024) || fail "table"
echo "$out" | grep -q "qwen2.5-72b" && echo "$out" | head -2 | grep -q "qlora4" || fail "table: $out"
[ "$(echo "$out" | wc -l)" -eq 21 ] || fail "table rows: $out"   # header lines + 19 sizes
# a LlamaFactory YAML naming a hub model: resolved to its size; quantization_bit 4 = qlora4
printf 'model_name_or_path: Qwen/Qwen2.5-7B-Instruct\nfinetuning_type: lora\ncutoff_len: 1024\nquantization_bit: 4\n' > "$tmp/q.yaml"
json=$($bin estimate "$tmp/q.yaml" --json --no-calibrate) || fail "yaml"
echo "$json" | grep -q '"method": "qlora4"' && echo "$json" | grep -q '"cutoff_len": 1024' || fail "yaml: $json"
# a bare config.json
printf '{"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": true, "torch_dtype": "bfloat16"}' > "$tmp/config.json"
json=$($bin estimate --config "$tmp/config.json" --json --no-calibrate) || fail "config"
echo "$json" | grep -q '"params": 494032768' || fail "config params: $json"
# ctune train refuses a run whose estimated peak exceeds MemAvailable, unless --force
model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ -f "$model/config.json" ]; then
  printf 'model_name_or_path: %s\ntemplate: empty\ndataset: nope\ncutoff_len: 65536\nper_device_train_batch_size: 4096\nfinetuning_type: full\noutput_dir: %s/out\n' "$model" "$tmp" > "$tmp/big.yaml"
  out=$($bin train "$tmp/big.yaml" 2>&1 >/dev/null) && fail "huge run accepted"
  echo "$out" | grep -q "exceeds the .* GiB available" || fail "refusal: $out"
  out=$($bin train "$tmp/big.yaml" --force 2>&1 >/dev/null) && fail "missing dataset accepted"
  echo "$out" | grep -q "exceeds" && fail "--force still refused: $out"
  echo "$out" | grep -q "nope" || fail "--force: $out"
fi
echo ok
