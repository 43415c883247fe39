#!/usr/bin/env bash
# kill -9 campaign (`make test-faults`, docs/robustness.md): LoRA training with dropout,
# save_steps 1 and save_total_limit 3 (so most of the run is spent saving and rotating), killed
# with SIGKILL at KILLS random moments. After every kill:
#   - every directory named checkpoint-N is file for file the uninterrupted run's checkpoint-N
#     (nothing partial, nothing from another step under that name);
# then the run is restarted the way a user would (resume_from_checkpoint: true, or
# overwrite_output_dir: true when the kill came before the first checkpoint) and killed again,
# until each chain of kills is let run to the end, where
#   - the whole trainer_log.jsonl (losses, grad norms, lr) and the final adapter are bitwise the
#     uninterrupted run's.
# Where each kill landed is classified from what it left: during setup (no step yet), after a
# step but before the first checkpoint was in place, mid-save (checkpoint-N.tmp), mid-rotation
# (checkpoint-N.trash), in the final save (.final.tmp), or between saves. Env: KILLS (default 30), FAULT_SEED (random moments;
# printed, so a failing campaign can be replayed), FAULT_METHOD (lora, the default, or badam:
# full fine-tuning with BAdam's random block order switching every 3 steps, whose checkpoints
# also hold the schedule and the blocks trained before; the final model.safetensors is compared
# then), CTUNE_BIN, CTUNE_SHARED.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
kills_wanted=${KILLS:-30}
seed=${FAULT_SEED:-$(( $(date +%s) % 100000 ))}
method=${FAULT_METHOD:-lora}
case "$method" in
  lora) method_yaml=$'finetuning_type: lora\nlora_rank: 8\nlora_dropout: 0.1' final_file=adapter_model.safetensors ;;
  badam) method_yaml=$'finetuning_type: full\nuse_badam: true\nbadam_switch_mode: random\nbadam_switch_interval: 3'
         final_file=model.safetensors ;;
  *) echo "FAULT_METHOD: lora or badam, not '$method'"; exit 2 ;;
esac
RANDOM=$seed
fail() { echo "FAIL (FAULT_SEED=$seed): $*"; exit 1; }
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
$method_yaml
learning_rate: 0.01
max_steps: 16
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
lr_scheduler_type: cosine
logging_steps: 1
save_steps: 1
threads: 1
output_dir: $tmp/unused
EOC
numbers() { sed 's/, "elapsed_time".*"total_tokens"/, "total_tokens"/' "$1/trainer_log.jsonl"; }

start=$(date +%s%N)
"$bin" train "$tmp/run.yaml" --output_dir "$tmp/ref" > "$tmp/ref.log" 2>&1 || { cat "$tmp/ref.log"; fail "reference run"; }
ref_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "kill campaign ($method): FAULT_SEED=$seed, $kills_wanted kills; uninterrupted run: 16 steps, a checkpoint per step, ${ref_ms} ms"

check_ckpts() { # DIR: every checkpoint-N is the reference's checkpoint-N
  for c in "$1"/checkpoint-*; do
    [ -e "$c" ] || continue
    n=$(basename "$c")
    case "$n" in *.tmp|*.trash|*.old) continue;; esac
    [[ "$n" =~ ^checkpoint-[0-9]+$ ]] || fail "unexpected $c"
    diff -r "$c" "$tmp/ref/$n" >/dev/null || fail "$c differs from the uninterrupted run's (partial checkpoint?)"
  done
}

# Starts the run in DIR the way a user would: fresh, resumed, or started over after a kill that
# came before any checkpoint. Sets $pid; the output goes to DIR.log.
launch() { # DIR
  local dir=$1 mode=()
  if [ -d "$dir" ]; then
    if compgen -G "$dir/checkpoint-*[0-9]" > /dev/null; then mode=(--resume_from_checkpoint true); resumes=$((resumes + 1))
    else mode=(--overwrite_output_dir true); overwrites=$((overwrites + 1)); fi
  fi
  "$bin" train "$tmp/run.yaml" --output_dir "$dir" --save_total_limit 3 "${mode[@]}" > "$dir.log" 2>&1 &
  pid=$!
}

finish() { # DIR: run to the end and compare with the reference
  launch "$1"
  wait $pid || fail "$1: the final resume failed: $(tail -3 "$1.log")"
  [ "$(numbers "$1")" = "$(numbers "$tmp/ref")" ] || fail "$1: log differs from the uninterrupted run: $(diff <(numbers "$1") <(numbers "$tmp/ref") | head -4)"
  cmp -s "$1/$final_file" "$tmp/ref/$final_file" || fail "$1: final $final_file differs"
  check_ckpts "$1"
  chains_done=$((chains_done + 1))
}

kills=0 resumes=0 overwrites=0 chains_done=0 finished_early=0
setup=0 first=0 midsave=0 rotation=0 final=0 between=0
chain=0
# kills land anywhere in a run's length; setup (process start, model, data: ~40 % of a run here)
# takes its share. (A fresh chain's first kill used to come in the first half of 3/4 of the run,
# which setup alone outlasted: every kill then landed in setup and the chain never started again
# from a checkpoint.)
max_delay=$(( ref_ms > 400 ? ref_ms : 400 ))
while [ $kills -lt "$kills_wanted" ]; do
  dir=$tmp/chain$chain
  launch "$dir"
  delay=$(( RANDOM % max_delay ))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null; rc=$?
  if [ $rc = 0 ]; then # finished before the kill: this chain is complete
    finished_early=$((finished_early + 1))
    [ "$(numbers "$dir")" = "$(numbers "$tmp/ref")" ] || fail "$dir: log differs from the uninterrupted run"
    cmp -s "$dir/$final_file" "$tmp/ref/$final_file" || fail "$dir: final $final_file differs"
    chains_done=$((chains_done + 1))
    chain=$((chain + 1))
    continue
  fi
  [ $rc = 137 ] || fail "$dir: exit $rc before the kill: $(tail -3 "$dir.log")"
  kills=$((kills + 1))
  check_ckpts "$dir"
  if ! compgen -G "$dir/checkpoint-*[0-9]" > /dev/null; then
    if grep -q '"current_steps"' "$dir/trainer_log.jsonl" 2>/dev/null; then first=$((first + 1)) # (or in the first save)
    else setup=$((setup + 1)); fi
  elif compgen -G "$dir/checkpoint-*.tmp" > /dev/null; then midsave=$((midsave + 1))
  elif compgen -G "$dir/checkpoint-*.trash" > /dev/null; then rotation=$((rotation + 1))
  elif [ -e "$dir/.final.tmp" ]; then final=$((final + 1))
  else between=$((between + 1)); fi
  # a chain takes 4 kills, then runs to the end
  if [ $((kills % 4)) = 0 ]; then finish "$dir"; chain=$((chain + 1)); fi
done
[ -d "$tmp/chain$chain" ] && finish "$tmp/chain$chain"
echo "kill campaign: $kills kill -9 at random moments: $setup during setup, $first before the first checkpoint," \
     "$midsave mid-save, $rotation mid-rotation, $final in the final save, $between between saves"
echo "kill campaign: $resumes resumes + $overwrites restarts (kill before any checkpoint), $chains_done chains run to" \
     "the end ($finished_early outran their kill): every checkpoint left and every resumed run bitwise equal to the" \
     "uninterrupted run"
echo ok
