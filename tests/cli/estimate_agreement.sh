#!/usr/bin/env bash
# ctune estimate agrees with reality: for each method, `ctune train` runs 2 steps of a ~25M
# parameter bf16 Qwen3 model (weights dominate the fixed runtime overhead) and its measured peak
# RSS (all_results.json peak_memory_mb: the process's ru_maxrss) must be within 15 % of
# `ctune estimate TRAIN.yaml`'s predicted peak. Adding a method is one line of `cases`.
set -u
bin=${CTUNE_BIN:-build/ctune}
tok=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -f "$tok/tokenizer.json" ]; then echo "stories260k tokenizer not found at $tok (../shared absent)"; exit 77; fi
if [ -n "${CTUNE_SANITIZE:-}" ]; then echo "RSS agreement is meaningless under sanitizers"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$bin init-model --arch qwen3 --hidden-size 512 --layers 8 --heads 8 --kv-heads 4 --head-dim 64 \
  --intermediate-size 1536 --tokenizer "$tok" --out "$tmp/m" --seed 1 >/dev/null || fail "init-model"
# rows longer than cutoff_len: every micro-batch is B x T tokens, as the estimate assumes
story=$(printf 'Once upon a time there was a little girl named Lily who liked to play in the park. %.0s' $(seq 20))
for i in 1 2 3 4; do printf '{"instruction": "Tell story %d.", "output": "%s"}\n' "$i" "$story"; done > "$tmp/long.jsonl"
# finetuning_type | extra YAML lines (\n-separated)
cases=(
  "full|"
  "freeze|"
  "lora|"
  "prompt|"
  "lora|gradient_checkpointing: true"
  "lora|quantization_bit: 4"
  "lora|quantization_bit: 8"
  "lora|bf16: true"
  "full|use_badam: true\nbadam_switch_interval: 1"
  "full|use_badam: true\nbadam_switch_interval: 1\nbf16: true"
  "full|use_galore: true\ngalore_rank: 32"
  "freeze|use_llama_pro: true"
)
for c in "${cases[@]}"; do
  ft=${c%%|*} extra=${c#*|}
  cat > "$tmp/t.yaml" <<EOC
model_name_or_path: $tmp/m
template: empty
dataset: long.jsonl
dataset_dir: $tmp
max_samples: 4
cutoff_len: 128
finetuning_type: $ft
max_steps: 2
per_device_train_batch_size: 1
logging_steps: 1
save_steps: 0
output_dir: $tmp/out
overwrite_output_dir: true
threads: 2
$(printf '%b' "$extra")
EOC
  $bin train "$tmp/t.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "train $c"; }
  grep -q "estimate: peak" "$tmp/log" || fail "train did not print its estimate: $(head -5 "$tmp/log")"
  meas=$(sed -n 's/.*"peak_memory_mb": *\([0-9.]*\).*/\1/p' "$tmp/out/all_results.json")
  pred=$($bin estimate "$tmp/t.yaml" --json --no-calibrate | sed -n 's/^ *"peak": *\([0-9]*\),.*/\1/p')
  [ -n "$meas" ] && [ -n "$pred" ] || fail "$c: no numbers (measured '$meas', predicted '$pred')"
  label=$(printf '%s' "$c" | sed 's/\\n/; /g')
  awk -v m="$meas" -v p="$pred" -v c="$label" 'BEGIN {
    p /= 1048576; r = (p - m) / m
    printf "%-58s measured %7.1f MiB  predicted %7.1f MiB  (%+.1f %%)\n", c, m, p, 100 * r
    exit (r > 0.15 || r < -0.15) }' || fail "$c: predicted peak off by more than 15 %"
done
echo ok
