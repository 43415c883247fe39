#!/usr/bin/env bash
# report_to on a real tiny `ctune train` (stories260k, LoRA, 4 steps): `all` writes the
# TensorBoard events, a W&B offline run (./wandb, or $WANDB_DIR/wandb) and an MLflow store
# (./mlruns, or $MLFLOW_TRACKING_URI); swanlab writes the W&B run with an import hint;
# WANDB_MODE=disabled writes none; MLFLOW_EXPERIMENT_NAME / MLFLOW_RUN_ID reuse what exists;
# a failed run is marked FAILED; bad values are one-line errors. The file formats themselves are
# checked byte for byte by tests/test_trackers.c (goldens read back by tests/gen/).
set -u
bin=$(realpath "${CTUNE_BIN:-build/ctune}")
model=$(realpath -m "${CTUNE_SHARED:-../shared}/models/stories260k")
data=$(realpath tests/fixtures/trainer)
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset WANDB_DIR WANDB_MODE WANDB_DISABLED WANDB_PROJECT WANDB_NAME WANDB_RUN_ID MLFLOW_TRACKING_URI \
  MLFLOW_TRACKING_DIR MLFLOW_EXPERIMENT_NAME MLFLOW_RUN_ID MLFLOW_TAGS
# bad values need no model
printf 'model_name_or_path: x\nreport_to: comet_ml\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "report_to comet_ml accepted"
[ "$(echo "$err" | wc -l)" = 1 ] && echo "$err" | grep -q "bad.yaml:2: key 'report_to': 'comet_ml' is not one of" \
  || fail "report_to error: $err"
printf 'model_name_or_path: x\nreport_to:\n  - wandb\n  - neptune\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "report_to neptune accepted"
echo "$err" | grep -q "bad.yaml:2: key 'report_to': 'neptune'" || fail "report_to list error: $err"
printf 'model_name_or_path: x\nuse_swanlab: true\nswanlab_mode: offline\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "swanlab_mode offline accepted"
echo "$err" | grep -q "bad.yaml:3: key 'swanlab_mode': 'offline' is not one of cloud|local" || fail "swanlab_mode: $err"
printf 'model_name_or_path: x\nuse_swanlab: maybe\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "use_swanlab maybe accepted"
echo "$err" | grep -q "bad.yaml:2: key 'use_swanlab': expected true or false, got 'maybe'" || fail "use_swanlab: $err"
printf 'model_name_or_path: x\nrun_name:\n  a: 1\n' > "$tmp/bad.yaml"
err=$($bin train "$tmp/bad.yaml" 2>&1) && fail "run_name mapping accepted"
echo "$err" | grep -q "bad.yaml:[23]: key 'run_name'" || fail "run_name error: $err"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
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
val_size: 2
eval_strategy: steps
eval_steps: 2
report_to: all
run_name: tiny-lora
threads: 1
EOC
# 1. report_to: all, defaults: ./wandb and ./mlruns in the working directory
mkdir "$tmp/w1" && cd "$tmp/w1" || fail "cd"
$bin train "$tmp/c.yaml" --output_dir out > log 2>&1 || { cat log; fail "train failed"; }
grep -q "report_to wandb: offline run ./wandb/offline-run-.* (upload with: wandb sync" log || fail "no wandb line: $(cat log)"
grep -q "report_to mlflow: run [0-9a-f]\{32\} in $tmp/w1/mlruns/0/" log || fail "no mlflow line: $(cat log)"
ls out/events.out.tfevents.* >/dev/null 2>&1 || fail "no tensorboard events"
run=$(ls -d wandb/offline-run-*-*) || fail "no W&B run dir"
id=${run##*-}
[ "$(readlink wandb/latest-run)" = "${run#wandb/}" ] || fail "latest-run"
[ "$(head -c 4 "$run/run-$id.wandb")" = ":W&B" ] || fail "no W&B header"
for f in config.yaml wandb-summary.json wandb-metadata.json output.log; do [ -s "$run/files/$f" ] || fail "missing $f"; done
grep -q '^learning_rate:$' "$run/files/config.yaml" && grep -q '^    value: 0.01$' "$run/files/config.yaml" || fail "config.yaml"
grep -q '"train/global_step": 4' "$run/files/wandb-summary.json" || fail "summary: $(cat "$run/files/wandb-summary.json")"
grep -q '"train_loss": ' "$run/files/wandb-summary.json" || fail "no train_loss in the summary"
[ "$(grep -c 'eval_loss' "$run/files/output.log")" = 2 ] || fail "output.log: $(cat "$run/files/output.log")"
grep -q 'tiny-lora' "$run/run-$id.wandb" || fail "run name not in the log"
mr=$(ls -d mlruns/0/*/ | head -1); mr=${mr%/}
[ -f mlruns/0/meta.yaml ] && grep -q '^name: Default$' mlruns/0/meta.yaml && [ -d mlruns/.trash ] || fail "experiment 0"
grep -q '^status: 3$' "$mr/meta.yaml" && grep -q '^run_name: tiny-lora$' "$mr/meta.yaml" || fail "run meta: $(cat "$mr/meta.yaml")"
[ "$(cut -d' ' -f3 "$mr/metrics/loss" | tr '\n' ' ')" = "1 2 3 4 " ] || fail "loss steps: $(cat "$mr/metrics/loss")"
[ "$(wc -l < "$mr/metrics/eval_loss")" = 2 ] && [ -s "$mr/metrics/train_runtime" ] || fail "eval / final metrics"
[ "$(cat "$mr/params/learning_rate")" = 0.01 ] && [ "$(cat "$mr/params/report_to")" = "['all']" ] || fail "params"
[ "$(cat "$mr/params/architectures")" = "['LlamaForCausalLM']" ] || fail "model config params"
[ "$(cat "$mr/tags/mlflow.runName")" = tiny-lora ] && [ "$(cat "$mr/tags/mlflow.source.type")" = LOCAL ] || fail "tags"
# 2. env: WANDB_DIR, WANDB_PROJECT, MLFLOW_TRACKING_URI (file:), MLFLOW_EXPERIMENT_NAME twice, MLFLOW_TAGS
cd "$tmp" || fail "cd"
for i in 1 2; do
  WANDB_DIR="$tmp/wd" WANDB_PROJECT=proj MLFLOW_TRACKING_URI="file://$tmp/store" MLFLOW_EXPERIMENT_NAME="my exp" \
    MLFLOW_TAGS='{"team": "risk"}' $bin train "$tmp/c.yaml" --output_dir "$tmp/o$i" --report_to wandb,mlflow \
    > "$tmp/log$i" 2>&1 || { cat "$tmp/log$i"; fail "env run $i"; }
done
[ "$(ls -d "$tmp"/wd/wandb/offline-run-* | wc -l)" = 2 ] || fail "WANDB_DIR: $(ls -R "$tmp/wd")"
grep -l proj "$tmp"/wd/wandb/offline-run-*/run-*.wandb > /dev/null || fail "WANDB_PROJECT"
ls "$tmp/o1"/events.out.tfevents.* >/dev/null 2>&1 && fail "tensorboard written without being asked"
exp=$(grep -l "^name: my exp$" "$tmp"/store/*/meta.yaml) || fail "named experiment: $(ls "$tmp/store")"
[ "$(ls -d "$(dirname "$exp")"/*/ | wc -l)" = 2 ] || fail "second run not in the same experiment"
grep -q "^experiment_id: '[1-9][0-9]\{17\}'$" "$exp" || fail "experiment id: $(cat "$exp")"
for t in "$(dirname "$exp")"/*/tags/team; do [ "$(cat "$t")" = risk ] || fail "MLFLOW_TAGS"; done
# 3. MLFLOW_RUN_ID continues a run: a resumed training appends to its metrics; params that
#    changed keep their first value (MLflow params are immutable), said in one line
MLFLOW_TRACKING_URI="$tmp/store3" $bin train "$tmp/c.yaml" --output_dir "$tmp/o3" --report_to mlflow --save_steps 2 \
  > "$tmp/log3" 2>&1 || { cat "$tmp/log3"; fail "run to continue"; }
rid=$(basename "$(ls -d "$tmp"/store3/0/*/)")
MLFLOW_TRACKING_URI="$tmp/store3" MLFLOW_RUN_ID=$rid $bin train "$tmp/c.yaml" --output_dir "$tmp/o3" --report_to mlflow \
  --save_steps 2 --resume_from_checkpoint "$tmp/o3/checkpoint-2" --max_steps 6 > "$tmp/log3" 2>&1 \
  || { cat "$tmp/log3"; fail "MLFLOW_RUN_ID run"; }
[ "$(ls "$tmp"/store3/0 | wc -l)" = 2 ] || fail "MLFLOW_RUN_ID made a new run: $(ls "$tmp/store3/0")"
[ "$(cut -d' ' -f3 "$tmp/store3/0/$rid/metrics/loss" | tr '\n' ' ')" = "1 2 3 4 3 4 5 6 " ] \
  || fail "continued run metrics: $(cat "$tmp/store3/0/$rid/metrics/loss")"
grep -q "report_to mlflow: continuing run $rid: changed params keep their first value (MLflow params cannot change): max_steps, resume_from_checkpoint" \
  "$tmp/log3" || fail "kept params: $(cat "$tmp/log3")"
[ "$(cat "$tmp/store3/0/$rid/params/max_steps")" = 4 ] && grep -q '^status: 3$' "$tmp/store3/0/$rid/meta.yaml" || fail "continued run"
err=$(MLFLOW_TRACKING_URI="$tmp/store" MLFLOW_RUN_ID=nope $bin train "$tmp/c.yaml" --output_dir "$tmp/o5" \
  --report_to mlflow 2>&1) && fail "unknown MLFLOW_RUN_ID accepted"
echo "$err" | grep -q "MLFLOW_RUN_ID=nope: no such run" || fail "unknown run: $err"
# 4. refusals and off switches
err=$(MLFLOW_TRACKING_URI=http://127.0.0.1:5000 $bin train "$tmp/c.yaml" --output_dir "$tmp/o6" 2>&1) && fail "http URI accepted"
echo "$err" | tail -1 | grep -q "MLFLOW_TRACKING_URI=http://127.0.0.1:5000: report_to mlflow writes an MLflow file store only" \
  || fail "http URI: $err"
err=$(WANDB_RUN_ID=a/b $bin train "$tmp/c.yaml" --output_dir "$tmp/o7" --report_to wandb 2>&1) && fail "bad WANDB_RUN_ID accepted"
echo "$err" | grep -q "WANDB_RUN_ID 'a/b'" || fail "bad run id: $err"
mkdir "$tmp/w2" && cd "$tmp/w2" || fail "cd"
WANDB_MODE=disabled $bin train "$tmp/c.yaml" --output_dir out --report_to wandb > log 2>&1 || { cat log; fail "disabled"; }
[ ! -e wandb ] && grep -q "report_to wandb: WANDB_MODE=disabled: no W&B run is written" log || fail "WANDB_MODE=disabled"
# 5. swanlab: the W&B run plus the SwanLab import command
$bin train "$tmp/c.yaml" --output_dir out2 --report_to swanlab > log 2>&1 || { cat log; fail "swanlab"; }
grep -q "report_to swanlab: .*swanlab convert -t wandb-local -p llamafactory --wb-dir ./wandb --wb-run-dir ./wandb/offline-run-" log \
  && ls wandb/offline-run-*/run-*.wandb > /dev/null || fail "swanlab: $(cat log)"
# LlamaFactory's use_swanlab keys: SwanLab's project and experiment name on the W&B run, the
# other keys in the import command, the API key stored nowhere
$bin train "$tmp/c.yaml" --output_dir out4 --report_to none --use_swanlab true --swanlab_run_name exp1 \
  --swanlab_workspace team --swanlab_mode local --swanlab_api_key SECRET-KEY > log 2>&1 || { cat log; fail "use_swanlab"; }
grep -q "swanlab convert -t wandb-local -p llamafactory -w team --mode local --wb-dir ./wandb" log || fail "use_swanlab: $(cat log)"
run=$(ls -td wandb/offline-run-* | head -1)
grep -q llamafactory "$run"/run-*.wandb && grep -q exp1 "$run"/run-*.wandb || fail "SwanLab names not on the W&B run"
grep -rq SECRET-KEY wandb && fail "swanlab_api_key written"
# 6. a run that fails (lr 1e30: the loss turns NaN) is marked FAILED
$bin train "$tmp/c.yaml" --output_dir out3 --report_to mlflow --learning_rate 1e30 > log 2>&1 && fail "lr 1e30 trained"
grep -q '^status: 4$' mlruns/0/*/meta.yaml || fail "failed run status: $(cat mlruns/0/*/meta.yaml)"
exit 0
