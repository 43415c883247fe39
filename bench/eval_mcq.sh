#!/usr/bin/env bash
# Evaluation suite benchmark: general_mcq by log-likelihood on N questions (4 options) of one
# subset with a shared 5-shot MMLU-style prefix, on ../shared/models/stories260k, 1 thread, with
# KV-cache prefix reuse (the default) at eval_batch_size 1, 4 and 8 (that many questions scored
# per batched forward, each continuing a copy of the cached prefix) and without reuse (every
# option runs context + option from an empty cache, as a plain implementation does). All must
# give the same accuracy; then eval_batch_size 1 and 8 on a qwen3 model with a real vocabulary
# (below). Rates are per CPU second (user + sys of the process), which a loaded machine disturbs
# less than wall time.
# Usage: bench/eval_mcq.sh [BUILD_DIR] [N=1000 (BENCH_QUICK: 200)].
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${2:-$(bench_quick && echo 200 || echo 1000)}
bin=$build/ctune
model=$(cd ../shared/models/stories260k 2>/dev/null && pwd) || { echo "skipped: ../shared/models/stories260k absent"; exit 0; }
echo "== eval: general_mcq log-likelihood, $N questions, shared 5-shot prefix, stories260k, 1 thread =="
make -s "$bin" BUILD="$build" >/dev/null || exit 1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/mcq"
/usr/bin/python3 - "$work/mcq" "$N" <<'PY'
import json, random, sys
d, n = sys.argv[1], int(sys.argv[2])
r = random.Random(3)
names = "Lily Tom Ben Mia Sam Anna Max Sue".split()
things = "ball dog cat apple kite boat hat cake tree bird".split()
places = "park house garden school beach forest car shop".split()
def q(i):
    who, what, where = r.choice(names), r.choice(things), r.choice(places)
    opts = r.sample(places, 4)
    if where not in opts: opts[r.randrange(4)] = where
    return {"id": str(i), "question": f"{who} found a {what} in the {where} and played with it all day. Where did {who} find the {what}?",
            "A": opts[0], "B": opts[1], "C": opts[2], "D": opts[3], "answer": "ABCD"[opts.index(where)]}
with open(f"{d}/story_dev.jsonl", "w") as f:
    for i in range(5): f.write(json.dumps(q(i)) + "\n")
with open(f"{d}/story_val.jsonl", "w") as f:
    for i in range(n): f.write(json.dumps(q(i)) + "\n")
PY
# mcq MODEL TAG RUNS...: each run "reuse:batch"; every run's accuracy must be the first's
mcq() {
  local model=$1 tag=$2 acc1= run reuse b
  shift 2
  for run in "$@"; do
    reuse=${run%:*} b=${run#*:}
    cat > "$work/$reuse.yaml" <<YAML
model: $model
datasets: [general_mcq]
work_dir: $work/out
eval_batch_size: $b
dataset_args:
  general_mcq:
    local_path: $work/mcq
    few_shot_num: 5
    prompt_style: mmlu
    prefix_reuse: $reuse
YAML
    /usr/bin/time -f "%e %U %S" -o "$work/time" $bin eval "$work/$reuse.yaml" --threads 1 > "$work/stdout" 2>/dev/null \
      || { echo "ctune eval failed"; exit 1; }
    read -r wall usr sys < "$work/time"
    acc=$(awk '$3 == "acc" { print $4 }' "$work/stdout")
    cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    qps=$(awk -v c="$cpu" -v n="$N" 'BEGIN { printf "%.1f", n / c }')
    echo "${tag:+$tag: }prefix_reuse $reuse, eval_batch_size $b: ${cpu} s CPU (${wall} s wall), $qps questions per CPU second, acc $acc (load $(cut -d' ' -f1-3 /proc/loadavg))"
    [ -z "$acc1" ] && acc1=$acc
    [ "$acc" = "$acc1" ] || { echo "accuracy $acc differs from $acc1 (the first run)"; exit 1; }
    if [ "$b" = 1 ]; then echo "@ eval_mcq${tag:+_$tag}_reuse_${reuse}_q_s $qps"; else echo "@ eval_mcq${tag:+_$tag}_reuse_true_b${b}_q_s $qps"; fi
  done
}
mcq "$model" "" true:1 true:4 true:8 false:1
# The same questions on a model whose weights dominate (qwen3 hidden 512, 4 layers, bf16, the real
# 151k-token vocabulary: the LM head is most of it; random weights) at eval_batch_size 1 and 8.
tok=$(cd ../shared/tokenizers/qwen3 2>/dev/null && pwd) || { echo "qwen3 part skipped: ../shared/tokenizers/qwen3 absent"; exit 0; }
$bin init-model --arch qwen3 --hidden-size 512 --layers 4 --heads 8 --kv-heads 4 --head-dim 64 \
  --intermediate-size 1536 --tokenizer "$tok" --out "$work/qwen3" --seed 1 --dtype bf16 >/dev/null || exit 1
mcq "$work/qwen3" qwen3 true:1 true:8
