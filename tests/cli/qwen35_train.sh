#!/usr/bin/env bash
# Qwen3.5 end to end through the CLI: init-model --arch qwen3_5_text (Gated DeltaNet + gated
# attention layers), full fine-tuning memorises the trainer data (saved checkpoint: the conv
# weight keeps its [C, 1, K] shape), LoRA on all 12 linear modules (the DeltaNet's in_proj_* and
# out_proj included) saves a PEFT adapter, and generate-batch with the adapter equals the merged
# export's answer.
set -u
bin=${CTUNE_BIN:-build/ctune}
tok=${CTUNE_SHARED:-../shared}/tokenizers/qwen3
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$tok" ]; then echo "qwen3 tokenizer not found at $tok (../shared absent)"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$bin init-model --arch qwen3_5_text --hidden-size 64 --layers 4 --heads 4 --kv-heads 2 --intermediate-size 128 \
  --head-dim 32 --tokenizer "$tok" --out "$tmp/base" --dtype f32 > /dev/null || fail "init-model"
grep -q '"linear_attention"' "$tmp/base/config.json" || fail "no layer_types: $(cat "$tmp/base/config.json")"
common="stage: sft
template: empty
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
cutoff_len: 64
per_device_train_batch_size: 6
logging_steps: 10
threads: 2"
printf 'model_name_or_path: %s\n%s\nfinetuning_type: full\nlearning_rate: 0.005\nnum_train_epochs: 40\nlr_scheduler_type: constant\noutput_dir: %s\n' \
  "$tmp/base" "$common" "$tmp/full" > "$tmp/full.yaml"
$bin train "$tmp/full.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "full fine-tuning failed"; }
last=$(tail -1 "$tmp/full/trainer_log.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
awk -v l="$last" 'BEGIN{exit !(l < 0.5)}' || fail "full fine-tuning final loss $last >= 0.5"
echo '{"id": "q1", "instruction": "Where did the cat sleep?", "output": ""}' > "$tmp/q.jsonl"
$bin generate-batch --model "$tmp/full" --template empty --input "$tmp/q.jsonl" --output "$tmp/a.jsonl" \
  --max-new-tokens 10 2>/dev/null || fail "generate-batch"
grep -q '"output": "The cat slept in a big red box.' "$tmp/a.jsonl" || fail "answer: $(cat "$tmp/a.jsonl")"
printf 'model_name_or_path: %s\n%s\nfinetuning_type: lora\nlora_rank: 4\nlora_target: all\nlearning_rate: 0.01\nmax_steps: 3\noutput_dir: %s\n' \
  "$tmp/full" "$common" "$tmp/lora" > "$tmp/lora.yaml"
$bin train "$tmp/lora.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "LoRA failed"; }
for m in in_proj_qkv in_proj_z in_proj_b in_proj_a out_proj q_proj down_proj; do
  grep -q "\"$m\"" "$tmp/lora/adapter_config.json" || fail "target_modules lacks $m"
done
$bin generate-batch --model "$tmp/full" --adapter "$tmp/lora" --template empty --input "$tmp/q.jsonl" \
  --output "$tmp/b.jsonl" --max-new-tokens 10 2>/dev/null || fail "generate-batch --adapter"
$bin export --model "$tmp/full" --adapter "$tmp/lora" --out "$tmp/merged" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "export"; }
grep -q "merged 31 tensor" "$tmp/log" || fail "export: $(cat "$tmp/log")"
$bin generate-batch --model "$tmp/merged" --template empty --input "$tmp/q.jsonl" --output "$tmp/c.jsonl" \
  --max-new-tokens 10 2>/dev/null || fail "generate-batch merged"
cmp -s "$tmp/b.jsonl" "$tmp/c.jsonl" || fail "adapter $(cat "$tmp/b.jsonl") vs merged $(cat "$tmp/c.jsonl")"
echo "ok"
