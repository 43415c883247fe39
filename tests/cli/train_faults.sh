#!/usr/bin/env bash
# Fault tolerance of a training run (docs/robustness.md "Training runs: locks, signals, kills"),
# each case at an exact moment through the fault points of src/base/fault.h (CTUNE_FAULT):
#   two runs started together on one output_dir: exactly one refused, naming the other's pid;
#   SIGTERM during training and during a save: exit 143, the printed command resumes exactly;
#   a second signal during the interrupt save: the previous checkpoint resumes exactly;
#   kill -9 mid-save, during save_total_limit rotation and during the final save: no partial
#   checkpoint or final file under a real name, the resume is bitwise the uninterrupted run;
#   a full disk (ulimit -f) at the final save: nothing half written, the last checkpoint kept;
#   the messages after a kill before the first checkpoint say what to do.
# "Exact" = every logged loss, grad norm and lr and the final adapter bitwise equal to one
# uninterrupted reference run; checkpoints are compared file by file with the reference's.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/run.yaml" <<EOC
model_name_or_path: $model
stage: sft
template: empty
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
cutoff_len: 64
finetuning_type: lora
lora_rank: 8
lora_dropout: 0.1
learning_rate: 0.01
max_steps: 12
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
lr_scheduler_type: cosine
logging_steps: 1
save_steps: 1
threads: 1
output_dir: $tmp/unused
EOC
train() { "$bin" train "$tmp/run.yaml" "$@"; }
# the log without its timing fields
numbers() { sed 's/, "elapsed_time".*"total_tokens"/, "total_tokens"/' "$1/trainer_log.jsonl"; }
same_as_ref() { # DIR WHAT
  [ "$(numbers "$1")" = "$(numbers "$tmp/ref")" ] || fail "$2: log differs from the uninterrupted run: $(diff <(numbers "$1") <(numbers "$tmp/ref") | head -4)"
  cmp -s "$1/adapter_model.safetensors" "$tmp/ref/adapter_model.safetensors" || fail "$2: final adapter differs"
  cmp -s "$1/adapter_config.json" "$tmp/ref/adapter_config.json" || fail "$2: adapter_config.json differs"
}
# every checkpoint-N in DIR is file for file the reference's checkpoint-N (so it verifies), and
# no leftover is named like a checkpoint
ckpts_match_ref() { # DIR WHAT
  for c in "$1"/checkpoint-*; do
    [ -e "$c" ] || continue
    n=$(basename "$c")
    case "$n" in *.tmp|*.trash|*.old) continue;; esac
    [[ "$n" =~ ^checkpoint-[0-9]+$ ]] || fail "$2: unexpected $n"
    diff -r "$c" "$tmp/ref/$n" >/dev/null || fail "$2: $n differs from the reference's (partial?)"
  done
}

train --output_dir "$tmp/ref" > "$tmp/ref.log" 2>&1 || { cat "$tmp/ref.log"; fail "reference run"; }
[ "$(grep -c '"current_steps"' "$tmp/ref/trainer_log.jsonl")" = 12 ] || fail "reference log"
[ ! -e "$tmp/ref/.ctune-train.lock" ] || fail "lock file left after a finished run"

# -- two runs on one output_dir at the same moment: exactly one is refused, naming the other
"$bin" train "$tmp/run.yaml" --output_dir "$tmp/two" --max_steps 100000 --save_steps 50 > "$tmp/a.log" 2>&1 & pa=$!
"$bin" train "$tmp/run.yaml" --output_dir "$tmp/two" --max_steps 100000 --save_steps 50 > "$tmp/b.log" 2>&1 & pb=$!
for _ in $(seq 300); do
  ! kill -0 $pa 2>/dev/null || ! kill -0 $pb 2>/dev/null && break
  sleep 0.05
done
sleep 0.5
if kill -0 $pa 2>/dev/null; then run=$pa; ref_log=$tmp/b.log; other=$pb; else run=$pb; ref_log=$tmp/a.log; other=$pa; fi
wait $other; rc=$?
kill -0 $run 2>/dev/null || fail "both runs ended: $(cat "$tmp/a.log" "$tmp/b.log")"
[ $rc = 1 ] || fail "refused run exit $rc"
grep -q "^ctune: output_dir $tmp/two is in use by another training run (pid $run holds" "$ref_log" ||
  fail "refusal does not name pid $run: $(cat "$ref_log")"
kill -TERM $run; wait $run; rc=$?
[ $rc = 143 ] || fail "SIGTERM exit status $rc"
[ "$(ls -d "$tmp/two"/checkpoint-* | wc -l)" -ge 1 ] || fail "no checkpoint after SIGTERM"
[ ! -e "$tmp/two/.ctune-train.lock" ] || fail "lock file left after SIGTERM"

# -- SIGTERM during training: exit 143, and the printed command (with this run's overrides)
#    resumes it exactly
CTUNE_FAULT=train.step@5:term train --output_dir "$tmp/term" --save_steps 0 > "$tmp/t.out" 2> "$tmp/t.err"
rc=$?
[ $rc = 143 ] || fail "SIGTERM during training: exit $rc: $(cat "$tmp/t.err")"
grep -q "SIGTERM: saving a checkpoint" "$tmp/t.err" || fail "no SIGTERM message"
grep -q "^interrupted at step 5 of 12; checkpoint: $tmp/term/checkpoint-5$" "$tmp/t.out" || fail "summary: $(cat "$tmp/t.out")"
hint=$(sed -n 's/^resume with: //p' "$tmp/t.out")
[ "$hint" = "ctune train $tmp/run.yaml --output_dir $tmp/term --save_steps 0 --resume_from_checkpoint true" ] ||
  fail "resume command: $hint"
diff -r "$tmp/term/checkpoint-5" "$tmp/ref/checkpoint-5" >/dev/null || fail "interrupt checkpoint differs from the reference's"
eval "\"$bin\"${hint#ctune}" > "$tmp/t2.log" 2>&1 || fail "the printed resume command failed: $(cat "$tmp/t2.log")"
same_as_ref "$tmp/term" "SIGTERM during training"

# -- SIGTERM in the middle of a periodic save: the save completes, the run stops there
CTUNE_FAULT=ckpt.save.written@3:term train --output_dir "$tmp/tsave" --save_steps 2 > "$tmp/ts.out" 2>&1
rc=$?
[ $rc = 143 ] || fail "SIGTERM during a save: exit $rc"
grep -q "^interrupted at step 6 of 12; checkpoint: $tmp/tsave/checkpoint-6$" "$tmp/ts.out" || fail "summary: $(cat "$tmp/ts.out")"
ckpts_match_ref "$tmp/tsave" "SIGTERM during a save"
train --output_dir "$tmp/tsave" --save_steps 2 --resume_from_checkpoint true > "$tmp/ts2.log" 2>&1 || fail "resume: $(cat "$tmp/ts2.log")"
grep -q "resumed from $tmp/tsave/checkpoint-6 at step 6" "$tmp/ts2.log" || fail "resumed from: $(cat "$tmp/ts2.log")"
same_as_ref "$tmp/tsave" "SIGTERM during a save"

# -- a second signal during the interrupt save quits at once: no checkpoint-5, checkpoint-4 intact
CTUNE_FAULT=train.step@5:term,ckpt.save.written@3:term train --output_dir "$tmp/twice" --save_steps 2 > "$tmp/tw.out" 2> "$tmp/tw.err"
rc=$?
[ $rc = 143 ] || fail "second SIGTERM: exit $rc"
grep -q "interrupted again: exiting without saving" "$tmp/tw.err" || fail "no second-signal message"
[ ! -e "$tmp/twice/checkpoint-5" ] || fail "a checkpoint-5 was published by a cut-short save"
ckpts_match_ref "$tmp/twice" "second signal during the save"
train --output_dir "$tmp/twice" --save_steps 2 --resume_from_checkpoint true > "$tmp/tw2.log" 2>&1 || fail "resume: $(cat "$tmp/tw2.log")"
grep -q "resumed from $tmp/twice/checkpoint-4 at step 4" "$tmp/tw2.log" || fail "resumed from: $(cat "$tmp/tw2.log")"
ls -d "$tmp/twice"/checkpoint-*.tmp >/dev/null 2>&1 && fail "stale checkpoint-5.tmp not cleaned up"
same_as_ref "$tmp/twice" "second signal during the save"

# -- kill -9 with the manifest written but the directory not yet renamed
CTUNE_FAULT=ckpt.save.sealed@3 train --output_dir "$tmp/sealed" > /dev/null 2>&1
rc=$?
[ $rc = 137 ] || fail "kill at ckpt.save.sealed: exit $rc"
[ -f "$tmp/sealed/checkpoint-3.tmp/ctune_checkpoint.json" ] && [ ! -e "$tmp/sealed/checkpoint-3" ] || fail "sealed: $(ls "$tmp/sealed")"
ckpts_match_ref "$tmp/sealed" "kill before the rename"
train --output_dir "$tmp/sealed" --resume_from_checkpoint true > "$tmp/se.log" 2>&1 || fail "resume: $(cat "$tmp/se.log")"
grep -q "resumed from $tmp/sealed/checkpoint-2 at step 2" "$tmp/se.log" || fail "resumed from: $(cat "$tmp/se.log")"
same_as_ref "$tmp/sealed" "kill before the rename"

# -- kill -9 during save_total_limit rotation: the old checkpoint is out of the way (renamed to
#    .trash) before anything in it is deleted, so no partial checkpoint-N is left
CTUNE_FAULT=dir.remove.renamed@2 train --output_dir "$tmp/rot" --save_total_limit 2 > /dev/null 2>&1
rc=$?
[ $rc = 137 ] || fail "kill during rotation: exit $rc"
[ -d "$tmp/rot/checkpoint-2.trash" ] && [ ! -e "$tmp/rot/checkpoint-2" ] || fail "rotation state: $(ls "$tmp/rot")"
[ "$(ls -d "$tmp/rot"/checkpoint-[0-9]* | grep -c '[0-9]$')" = 2 ] || fail "rotation kept: $(ls "$tmp/rot")"
ckpts_match_ref "$tmp/rot" "kill during rotation"
train --output_dir "$tmp/rot" --save_total_limit 2 --resume_from_checkpoint true > "$tmp/rot.log" 2>&1 || fail "resume: $(cat "$tmp/rot.log")"
grep -q "resumed from $tmp/rot/checkpoint-4 at step 4" "$tmp/rot.log" || fail "resumed from: $(cat "$tmp/rot.log")"
[ ! -e "$tmp/rot/checkpoint-2.trash" ] || fail "trash not cleaned up"
# the checkpoint resumed from is kept (docs/training.md), the rest rotates
[ "$(cd "$tmp/rot" && echo checkpoint-*)" = "checkpoint-12 checkpoint-4" ] || fail "rotation after resume: $(ls "$tmp/rot")"
same_as_ref "$tmp/rot" "kill during rotation"

# -- kill -9 during the final save: no final file in output_dir; the resume writes them
CTUNE_FAULT=final.written train --output_dir "$tmp/fin" --save_steps 4 > /dev/null 2>&1
rc=$?
[ $rc = 137 ] || fail "kill in the final save: exit $rc"
for f in adapter_model.safetensors adapter_config.json tokenizer.json all_results.json; do
  [ ! -e "$tmp/fin/$f" ] || fail "final save killed, yet $f is in output_dir"
done
train --output_dir "$tmp/fin" --save_steps 4 --resume_from_checkpoint true > "$tmp/fin.log" 2>&1 || fail "resume: $(cat "$tmp/fin.log")"
[ ! -e "$tmp/fin/.final.tmp" ] || fail ".final.tmp left"
same_as_ref "$tmp/fin" "kill during the final save"

# -- full disk at the final save (ulimit -f: a checkpoint of one trainable layer fits, the full
#    model does not): one-line error naming the kept checkpoint, nothing half written
(ulimit -f 600; trap '' XFSZ; exec "$bin" train "$tmp/run.yaml" --output_dir "$tmp/full" --finetuning_type freeze \
  --freeze_trainable_layers 1 --max_steps 4 --save_steps 3) > "$tmp/full.out" 2> "$tmp/full.err"
rc=$?
[ $rc = 1 ] || fail "disk full at the final save: exit $rc"
grep "^ctune: " "$tmp/full.err" | grep -q "final save of step 4 failed.*checkpoint-3 is kept" || fail "message: $(cat "$tmp/full.err")"
[ "$(grep -c '^ctune: ' "$tmp/full.err")" = 1 ] || fail "error not one line"
for f in model.safetensors config.json tokenizer.json .final.tmp all_results.json; do
  [ ! -e "$tmp/full/$f" ] || fail "disk full, yet $f is in output_dir"
done
"$bin" train "$tmp/run.yaml" --output_dir "$tmp/full" --finetuning_type freeze --freeze_trainable_layers 1 --max_steps 4 \
  --save_steps 3 --resume_from_checkpoint true > "$tmp/full2.log" 2>&1 || fail "resume after disk full: $(cat "$tmp/full2.log")"
[ -f "$tmp/full/model.safetensors" ] && [ -f "$tmp/full/config.json" ] || fail "no final model after the resume"

# -- kill -9 before the first checkpoint: what the rerun and the resume say
CTUNE_FAULT=train.step@3 train --output_dir "$tmp/early" --save_steps 100 > /dev/null 2>&1
[ $? = 137 ] || fail "kill at step 3"
err=$(train --output_dir "$tmp/early" 2>&1) && fail "rerun accepted"
echo "$err" | grep -q "already holds a training run (trainer_log.jsonl) with no valid checkpoint to resume from; start afresh with overwrite_output_dir: true" ||
  fail "rerun message: $err"
err=$(train --output_dir "$tmp/early" --resume_from_checkpoint true 2>&1) && fail "resume accepted"
echo "$err" | grep -q "no valid checkpoint in $tmp/early: none was saved .* start afresh with overwrite_output_dir: true and without resume_from_checkpoint" ||
  fail "resume message: $err"
mkdir "$tmp/early/checkpoint-2" && echo x > "$tmp/early/checkpoint-2/model.safetensors"
err=$(train --output_dir "$tmp/early" --resume_from_checkpoint true 2>&1) && fail "resume of a damaged checkpoint accepted"
echo "$err" | grep -q "no valid checkpoint in $tmp/early (the newest, $tmp/early/checkpoint-2, is incomplete or damaged: .*ctune_checkpoint.json: missing" ||
  fail "damaged checkpoint message: $err"
train --output_dir "$tmp/early" --overwrite_output_dir true > /dev/null 2>&1 || fail "overwrite after the kill"
same_as_ref "$tmp/early" "start afresh after a kill"
err=$(train --output_dir "$tmp/early" 2>&1) && fail "rerun of a finished run accepted"
echo "$err" | grep -q "newest valid checkpoint: $tmp/early/checkpoint-12, step 12); continue it with resume_from_checkpoint: true, or start afresh with overwrite_output_dir: true" ||
  fail "finished-run message: $err"
echo ok
