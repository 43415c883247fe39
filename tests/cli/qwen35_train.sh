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
# A Qwen3_5ForConditionalGeneration checkpoint (tiny-qwen3_5-vl: text_config, tensors under
# model.language_model., a vision tower and MTP head ctune does not run): the LoRA adapter's keys
# are PEFT's for that class, and the merged export keeps the tensors ctune did not load.
mkdir -p "$tmp/vl" "$tmp/tok"
cp tests/fixtures/tiny-qwen3_5-vl/* tests/fixtures/tok/qwen3_5-synth/* "$tmp/vl/"
for i in 1 2 3 4 5 6; do echo "{\"input_ids\": [$((i + 3)), 17, 23, 41, $((i + 50)), 77, 90, 101], \"labels\": [$((i + 3)), 17, 23, 41, $((i + 50)), 77, 90, 101]}"; done > "$tmp/tok/ids.jsonl"
printf 'model_name_or_path: %s\nstage: sft\ntemplate: empty\ndataset: ids.jsonl\ndataset_dir: %s\ncutoff_len: 16\nfinetuning_type: lora\nlora_target: all\nmax_steps: 2\nper_device_train_batch_size: 2\noutput_dir: %s\n' \
  "$tmp/vl" "$tmp/tok" "$tmp/vl_lora" > "$tmp/vl.yaml"
$bin train "$tmp/vl.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "LoRA on the VL checkpoint failed"; }
grep -aq "base_model.model.model.language_model.layers.0.linear_attn.in_proj_qkv.lora_A.weight" \
  "$tmp/vl_lora/adapter_model.safetensors" || fail "adapter keys are not PEFT's for Qwen3_5ForConditionalGeneration"
$bin export --model "$tmp/vl" --adapter "$tmp/vl_lora" --out "$tmp/vl_merged" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "VL export"; }
for k in model.visual.patch_embed.proj.weight mtp.fc.weight model.language_model.layers.1.self_attn.q_proj.weight; do
  grep -aq "\"$k\"" "$tmp/vl_merged/model.safetensors" || fail "merged VL checkpoint lacks $k"
done
a=$($bin generate --model "$tmp/vl" --adapter "$tmp/vl_lora" --prompt-ids 1,2,3 --max-new-tokens 6 2>/dev/null)
b=$($bin generate --model "$tmp/vl_merged" --prompt-ids 1,2,3 --max-new-tokens 6 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "VL adapter '$a' vs merged '$b'"
echo "ok"
