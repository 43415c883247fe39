#!/usr/bin/env bash
# Evaluation suite benchmark: generation tasks with eval_batch_size 1 and 8. A small qwen3 model
# (hidden 512, 4 layers, bf16, the real 151k-token Qwen3 vocabulary: the LM head is most of the
# weights, as in a 0.5B model; random weights, so answers run to max_tokens, as a model that has
# not learnt to stop does) answers general_qa and risk prompts greedily, 1 thread. Both runs must give the same predictions; the
# rate is answers per CPU second (user + sys), which a loaded machine disturbs less than wall time.
# Usage: bench/eval_gen.sh [BUILD_DIR] [N=16 per task (BENCH_QUICK: 8)].
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${2:-$(bench_quick && echo 8 || echo 16)}
bin=$build/ctune
tok=$(cd ../shared/tokenizers/qwen3 2>/dev/null && pwd) || { echo "skipped: ../shared/tokenizers/qwen3 absent"; exit 0; }
echo "== eval: generation tasks, eval_batch_size 1 vs 8, qwen3 hidden 512 (151k vocab), 1 thread =="
make -s "$bin" BUILD="$build" >/dev/null || exit 1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
$bin init-model --arch qwen3 --hidden-size 512 --layers 4 --heads 8 --kv-heads 4 --head-dim 64 \
  --intermediate-size 1536 --tokenizer "$tok" --out "$work/model" --seed 1 --dtype bf16 >/dev/null || exit 1
mkdir -p "$work/qa"
for i in $(seq 1 "$N"); do
  echo "{\"query\": \"Question $i: which supplier risk signals matter most for invoice $((i * 37)) and why?\", \"response\": \"overdue days\"}"
done > "$work/qa/default.jsonl"
declare -A rate
for b in 1 8; do
  cat > "$work/b$b.yaml" <<YAML
model: $work/model
template: qwen3_nothink
datasets: [general_qa, risk]
work_dir: $work/out$b
limit: $N
eval_batch_size: $b
generation_config:
  max_tokens: 32
dataset_args:
  general_qa:
    local_path: $work/qa
  risk:
    local_path: examples/risk/risk_eval.jsonl
YAML
  /usr/bin/time -f "%e %U %S" -o "$work/time" $bin eval "$work/b$b.yaml" --threads 1 > "$work/stdout" 2>/dev/null \
    || { echo "ctune eval failed"; exit 1; }
  read -r wall usr sys < "$work/time"
  n=$(cat "$work"/out$b/*/predictions/*/*.jsonl | wc -l)
  cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rate[$b]=$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.2f", n / c }')
  echo "eval_batch_size $b: $n answers, ${cpu} s CPU (${wall} s wall), ${rate[$b]} answers per CPU second (load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "@ eval_gen_batch${b}_a_s ${rate[$b]}"
done
diff -r "$work"/out1/*/predictions "$work"/out8/*/predictions >/dev/null || { echo "eval_batch_size 8 changed the predictions"; exit 1; }
echo "same predictions; speed-up $(awk -v a="${rate[8]}" -v b="${rate[1]}" 'BEGIN { printf "%.2fx", a / b }')"
