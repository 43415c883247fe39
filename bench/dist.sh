#!/usr/bin/env bash
# Data-parallel throughput (docs/distributed.md, docs/perf.md "Data parallel"): the same global
# batch trained by 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (mpirun), LoRA and
# full, on a random Qwen3-shaped model (hidden 256, 4 layers; stories260k's tokenizer) and
# synthetic risk data. Prints tokens/s and the gradient all-reduce time per step of each.
# Usage: bash bench/dist.sh [BUILD_DIR]   (needs ../shared/models/stories260k and mpirun)
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bin=$build/ctune
tokdir=${CTUNE_SHARED:-../shared}/models/stories260k
[ -d "$tokdir" ] || { echo "dist bench: stories260k absent"; exit 0; }
command -v mpirun >/dev/null || { echo "dist bench: mpirun absent"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" init-model --arch qwen3 --hidden-size 256 --layers 4 --heads 4 --kv-heads 2 --intermediate-size 704 \
  --tokenizer "$tokdir" --out "$tmp/model" --seed 1 >/dev/null || exit 1
"$bin" data synth risk --n 256 --seed 3 --format alpaca --out "$tmp/data.jsonl" >/dev/null || exit 1
echo '{"risk": {"file_name": "data.jsonl"}}' > "$tmp/dataset_info.json"
cat > "$tmp/run.yaml" <<EOC
model_name_or_path: $tmp/model
stage: sft
template: empty
dataset: risk
dataset_dir: $tmp
cutoff_len: 256
learning_rate: 0.0001
max_steps: ${STEPS:-12}
logging_steps: 1000
save_steps: 100000
overwrite_output_dir: true
EOC
echo "# dist bench $(date -u +%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for m in lora full; do
  for v in "1x1 1 8" "1x2 2 8" "2x1 1 4"; do
    set -- $v
    cmd=("$bin" train "$tmp/run.yaml" --finetuning_type "$m" --threads "$2" --per_device_train_batch_size "$3" --output_dir "$tmp/o")
    [ "$1" = 2x1 ] && cmd=(mpirun -np 2 --bind-to none --oversubscribe "${cmd[@]}")
    out=$("${cmd[@]}" 2>&1) || { echo "$out" | tail -3; continue; }
    tps=$(echo "$out" | sed -n 's/.*, \([0-9]*\) tokens\/s$/\1/p')
    ar=$(echo "$out" | sed -n 's/.*gradient all-reduce \([0-9.]*\) ms per step.*/\1/p')
    echo "$m $1 (ranks x threads, global batch 8): ${tps:-?} tokens/s${ar:+, all-reduce $ar ms/step}"
  done
done
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
