#!/usr/bin/env bash
# ctune train end to end on stories260k: config + overrides, unknown key suggestion, LoRA
# memorisation then `generate-batch --adapter` reproduces a trained answer, Ctrl-C saves a
# checkpoint and resumes, kill -9 leaves the last checkpoint usable.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# errors that need no model
printf 'model_name_or_path: x\nlearnig_rate: 1e-4\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "unknown key accepted"
echo "$err" | grep -q "learnig_rate" && echo "$err" | grep -q "learning_rate" || fail "no suggestion: $err"
err=$($bin train "$tmp/bad.yaml" --learning_rat 1 2>&1) && fail "unknown override accepted"
echo "$err" | grep -q "learning_rate" || fail "no suggestion for override: $err"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
cat > "$tmp/memo.yaml" <<EOC
model_name_or_path: $model
stage: sft
template: empty
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
cutoff_len: 64
finetuning_type: lora
lora_rank: 8
learning_rate: 0.01
num_train_epochs: 30
per_device_train_batch_size: 6
lr_scheduler_type: constant
logging_steps: 10
save_steps: 10
save_total_limit: 2
output_dir: $tmp/out
plot_loss: true
report_to: tensorboard
threads: 1
EOC
$bin train "$tmp/memo.yaml" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "train failed"; }
grep -q "^done: 30 steps" "$tmp/log" || fail "summary: $(cat "$tmp/log")"
[ "$(grep -c '"current_steps"' "$tmp/out/trainer_log.jsonl")" = 3 ] || fail "trainer_log lines"
last=$(tail -1 "$tmp/out/trainer_log.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
awk -v l="$last" 'BEGIN{exit !(l < 0.05)}' || fail "final loss $last >= 0.05"
for f in adapter_config.json adapter_model.safetensors training_loss.svg all_results.json tokenizer.json; do
  [ -f "$tmp/out/$f" ] || fail "missing $f"
done
ls "$tmp/out"/events.out.tfevents.* >/dev/null || fail "no tensorboard file"
# save_total_limit 2: checkpoint-10 was rotated away
[ -d "$tmp/out/checkpoint-20" ] && [ -d "$tmp/out/checkpoint-30" ] && [ ! -d "$tmp/out/checkpoint-10" ] || fail "rotation: $(ls "$tmp/out")"
grep -q '"peft_type": "LORA"' "$tmp/out/adapter_config.json" || fail "adapter_config"
echo '{"id": "q1", "instruction": "What color was the bird?", "output": ""}' > "$tmp/q.jsonl"
$bin generate-batch --model "$model" --adapter "$tmp/out" --template empty --input "$tmp/q.jsonl" \
  --output "$tmp/a.jsonl" --max-new-tokens 20 --threads 1 2>/dev/null || fail "generate-batch"
grep -q '"id": "q1", "output": "The bird was blue and very small.' "$tmp/a.jsonl" || fail "answer: $(cat "$tmp/a.jsonl")"
# --eval-only with adapter_name_or_path: the memorised data has a far lower loss with the adapter
e0=$($bin train "$tmp/memo.yaml" --eval-only --val_size 0.5 --output_dir "$tmp/ev0" 2>/dev/null) || fail "eval-only"
e1=$($bin train "$tmp/memo.yaml" --eval-only --val_size 0.5 --output_dir "$tmp/ev1" \
  --adapter_name_or_path "$tmp/out" 2>/dev/null) || fail "eval-only with adapter"
l0=$(echo "$e0" | sed 's/.*"eval_loss": \([^,]*\),.*/\1/'); l1=$(echo "$e1" | sed 's/.*"eval_loss": \([^,]*\),.*/\1/')
awk -v a="$l1" -v b="$l0" 'BEGIN{exit !(a < 0.2 && b > 1)}' || fail "eval-only losses: base $l0, adapter $l1"
# refusing a used output_dir, overriding keys on the command line
err=$($bin train "$tmp/memo.yaml" 2>&1) && fail "reused output_dir accepted"
echo "$err" | grep -q "overwrite_output_dir" || fail "message: $err"
$bin train "$tmp/memo.yaml" --overwrite_output_dir true --num_train_epochs 2 --save_steps 0 >/dev/null 2>&1 || fail "overwrite"
[ ! -d "$tmp/out/checkpoint-20" ] || fail "old checkpoints kept after overwrite"
grep -q '"current_steps": 2, "total_steps": 2' "$tmp/out/trainer_log.jsonl" || fail "override not applied"

# Ctrl-C: checkpoint + exit 130, then resume to the end
$bin train "$tmp/memo.yaml" --output_dir "$tmp/int" --num_train_epochs 100000 --save_steps 0 > "$tmp/ilog" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"current_steps": 10' "$tmp/int/trainer_log.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
[ $rc = 130 ] || fail "Ctrl-C exit status $rc: $(cat "$tmp/ilog")"
grep -q "interrupted at step" "$tmp/ilog" || fail "no interrupt message"
ck=$(ls -d "$tmp/int"/checkpoint-* 2>/dev/null | head -1)
[ -f "$ck/ctune_checkpoint.json" ] && [ -f "$ck/adapter_model.safetensors" ] || fail "interrupt checkpoint $ck"
# kill -9 while training with frequent saves: the newest complete checkpoint still resumes
$bin train "$tmp/memo.yaml" --output_dir "$tmp/k9" --num_train_epochs 100000 --save_steps 3 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do ls -d "$tmp/k9"/checkpoint-[0-9]* >/dev/null 2>&1 && [ "$(ls -d "$tmp/k9"/checkpoint-* 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
$bin train "$tmp/memo.yaml" --output_dir "$tmp/k9" --num_train_epochs 100000 --max_steps 0 \
  --resume_from_checkpoint true --save_steps 0 > "$tmp/klog" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "resumed from" "$tmp/klog" && break; sleep 0.1; done
kill -INT $pid; wait $pid
grep -q "resumed from .*checkpoint-" "$tmp/klog" || fail "resume after kill -9: $(cat "$tmp/klog")"
echo ok
