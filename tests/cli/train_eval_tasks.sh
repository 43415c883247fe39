#!/usr/bin/env bash
# eval_tasks (docs/eval.md, "During training"): a 4-step LoRA run on stories260k with
# eval_strategy steps / eval_steps 2 runs a `ctune eval` config (loss + qa) on base + the adapter
# at steps 2 and 4; the task metrics are logged to trainer_log.jsonl and TensorBoard and the
# EvalScope tree is in <output_dir>/eval/step-N/; eval_tasks without eval_strategy is an error,
# never ignored. Full, freeze (and BAdam, GaLore, prompt tuning) fine-tuning evaluate the model as
# it is at the step: the step-4 predictions and reports equal `ctune eval` of the saved final
# model (f32 stories260k: saving rounds nothing), no model is written under eval/.
set -u
bin=$(realpath "${CTUNE_BIN:-build/ctune}")
model=$(realpath -m "${CTUNE_SHARED:-../shared}/models/stories260k")
data=$(realpath tests/fixtures/trainer)
ex=$(realpath examples/eval)
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
cat > "$tmp/eval.yaml" <<EOC
model: $model
template: empty
datasets: [loss, general_qa]
limit: 2
generation_config:
  max_tokens: 8
dataset_args:
  loss:
    local_path: [$ex/heldout.jsonl]
  general_qa:
    local_path: $ex/qa
    prompt_template: "{question}"
EOC
cat > "$tmp/c.yaml" <<EOC
model_name_or_path: $model
stage: sft
template: empty
dataset: memo.jsonl
dataset_dir: $data
cutoff_len: 64
finetuning_type: lora
learning_rate: 0.01
max_steps: 4
per_device_train_batch_size: 2
logging_steps: 1
save_steps: 0
eval_strategy: steps
eval_steps: 2
eval_tasks: $tmp/eval.yaml
report_to: tensorboard
threads: 1
EOC
$bin train "$tmp/c.yaml" --output_dir "$tmp/out" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "train failed"; }
log=$tmp/out/trainer_log.jsonl
[ "$(grep -c '"eval_loss/loss"' "$log")" = 2 ] || fail "trainer_log.jsonl: $(cat "$log")"
[ "$(grep -c '"eval_general_qa/Rouge-L-R"' "$log")" = 2 ] || fail "no qa metric in trainer_log.jsonl"
grep '"eval_loss/loss"' "$log" | head -1 | grep -q '"current_steps": *2' || fail "first eval not at step 2"
for s in 2 4; do
  [ -s "$tmp/out/eval/step-$s/reports/eval/loss.json" ] || fail "no eval/step-$s reports"
  [ -s "$tmp/out/eval/step-$s/adapter/adapter_model.safetensors" ] || fail "no eval/step-$s adapter"
  [ -s "$tmp/out/eval/step-$s/report.html" ] || fail "no eval/step-$s/report.html"
done
# the logged value is the report's score
want=$(sed -n 's/^  "score": \([0-9.e+-]*\),$/\1/p' "$tmp/out/eval/step-4/reports/eval/loss.json")  # the report's main score
got=$(grep '"eval_loss/loss"' "$log" | tail -1 | sed 's/.*"eval_loss\/loss": *\([0-9.e+-]*\).*/\1/')
awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-6) }' || fail "logged $got, report $want"
l2=$(grep '"eval_loss/loss"' "$log" | head -1 | sed 's/.*"eval_loss\/loss": *\([0-9.e+-]*\).*/\1/')
[ "$l2" != "$got" ] || fail "the adapter did not change the task loss between steps 2 and 4"
grep -aq 'eval/loss/loss' "$tmp"/out/events.out.tfevents.* || fail "no eval/loss/loss in TensorBoard"
grep -aq 'eval/general_qa/Rouge-L-R' "$tmp"/out/events.out.tfevents.* || fail "no qa metric in TensorBoard"
# eval_tasks is never ignored
sed 's/^eval_strategy: steps/eval_strategy: "no"/' "$tmp/c.yaml" > "$tmp/no.yaml"
err=$($bin train "$tmp/no.yaml" --output_dir "$tmp/o2" 2>&1) && fail "eval_tasks with eval_strategy no accepted"
echo "$err" | grep -q "eval_tasks needs eval_strategy steps or epoch" || fail "strategy message: $err"
# every other method: the in-memory model at step 4 is the saved final model
for m in "finetuning_type: full" "finetuning_type: freeze|freeze_trainable_layers: 1" \
         "finetuning_type: full|use_badam: true|badam_switch_interval: 1" \
         "finetuning_type: full|use_galore: true|galore_rank: 4|galore_update_interval: 2|galore_target: [mlp]" \
         "finetuning_type: prompt|num_virtual_tokens: 4"; do
  grep -v '^finetuning_type:' "$tmp/c.yaml" > "$tmp/m.yaml"
  echo "$m" | tr '|' '\n' >> "$tmp/m.yaml"
  rm -rf "$tmp/o3" "$tmp/f"
  $bin train "$tmp/m.yaml" --output_dir "$tmp/o3" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$m: train failed"; }
  [ "$(grep -c '"eval_general_qa/Rouge-L-R"' "$tmp/o3/trainer_log.jsonl")" = 2 ] || fail "$m: no qa metric in trainer_log.jsonl"
  grep -aq 'eval/loss/loss' "$tmp"/o3/events.out.tfevents.* || fail "$m: no eval/loss/loss in TensorBoard"
  if [ -s "$tmp/o3/adapter_config.json" ]; then  # prompt tuning: base + the adapter
    printf 'adapters: [%s]\neval_base: false\n' "$tmp/o3" > "$tmp/f.yaml"; cat "$tmp/eval.yaml" >> "$tmp/f.yaml"
  else
    ls "$tmp"/o3/eval/step-4 | grep -qv '^\(predictions\|reviews\|reports\|report.html\)$' && fail "$m: a model was written under eval/"
    sed "s#^model: .*#model: $tmp/o3#" "$tmp/eval.yaml" > "$tmp/f.yaml"
  fi
  out=$($bin eval "$tmp/f.yaml" --work-dir "$tmp/f" 2>"$tmp/err") || fail "$m: eval of the final model: $(cat "$tmp/err")"
  run=$(echo "$out" | sed -n 's/^outputs: //p')
  for k in predictions reviews; do
    for t in loss general_qa; do
      cmp -s "$tmp/o3/eval/step-4/$k/eval/$t.jsonl" "$run"/$k/*/$t.jsonl || fail "$m: step-4 $k/$t differ from the final model's"
    done
  done
  a=$(grep -m1 '"score"' "$tmp/o3/eval/step-4/reports/eval/loss.json") b=$(grep -m1 '"score"' "$run"/reports/*/loss.json)
  [ "$a" = "$b" ] || fail "$m: step-4 loss $a, final model $b"
done
echo ok
