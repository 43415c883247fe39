#!/usr/bin/env bash
# Data pipeline benchmark: encode (parse + render + tokenize + labels) of N alpaca + sharegpt
# samples with the qwen3 template and the Qwen3 tokenizer, ctune on 1 and 2 threads vs the JS
# reference (tests/gen/node/bench_encode_template.mjs: @huggingface/jinja + @lenml/tokenizers).
# Usage: bench/data.sh [BUILD_DIR] [N=20000 (BENCH_QUICK: 4000)]. Needs ../shared/tokenizers/qwen3.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${2:-$(bench_quick && echo 4000 || echo 20000)}
bin=$build/ctune
echo "== data pipeline: encode $N alpaca + sharegpt samples, qwen3 template + tokenizer =="
make -s "$bin" BUILD="$build" >/dev/null || exit 1
tokdir=$(cd ../shared/tokenizers/qwen3 2>/dev/null && pwd) || { echo "skipped: ../shared/tokenizers/qwen3 absent"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" "$N" <<'PY'
import json, random, sys
d, n = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
words = "the a credit limit receivable overdue payment term customer revenue trend collateral risk bank loan supply chain 应收账款 逾期 授信 风险 客户 营收".split()
def sent(k): return " ".join(r.choice(words) for _ in range(k))
with open(f"{d}/alpaca.jsonl", "w") as f:
    for i in range(n // 2):
        f.write(json.dumps({"instruction": sent(r.randint(5, 30)), "input": sent(r.randint(0, 20)), "output": sent(r.randint(10, 80))}, ensure_ascii=False) + "\n")
with open(f"{d}/sharegpt.jsonl", "w") as f:
    for i in range(n - n // 2):
        conv = []
        for t in range(r.randint(1, 3)):
            conv += [{"from": "human", "value": sent(r.randint(5, 30))}, {"from": "gpt", "value": sent(r.randint(10, 60))}]
        f.write(json.dumps({"conversations": conv}, ensure_ascii=False) + "\n")
json.dump({"a": {"file_name": "alpaca.jsonl"}, "s": {"file_name": "sharegpt.jsonl", "formatting": "sharegpt"}}, open(f"{d}/dataset_info.json", "w"))
PY
bytes=$(cat "$work"/*.jsonl | wc -c)
cat > "$work/cfg.yaml" <<YAML
model_name_or_path: $tokdir
dataset: a,s
dataset_dir: $work
template: qwen3
cutoff_len: 4096
YAML
echo "$((bytes / 1000000)) MB JSONL"
# The JS timer starts after loading the tokenizer; for the same footing ctune's fixed cost
# (process start + tokenizer.json load, measured on a 2-row copy of the data) is subtracted.
mkdir -p "$work/tiny"
head -1 "$work/alpaca.jsonl" > "$work/tiny/alpaca.jsonl"
head -1 "$work/sharegpt.jsonl" > "$work/tiny/sharegpt.jsonl"
cp "$work/dataset_info.json" "$work/tiny/"
sed "s|dataset_dir: .*|dataset_dir: $work/tiny|" "$work/cfg.yaml" > "$work/tiny.yaml"
run_ns() { # CONFIG THREADS -> wall ns of `ctune data preview` (all rows encoded, none printed)
  local start; start=$(date +%s%N)
  OMP_NUM_THREADS=$2 "$bin" data preview "$1" -n 0 --color never > "$work/out.txt" 2>&1 || return 1
  echo $(( $(date +%s%N) - start ))
}
for th in 1 2; do
  ns=$(run_ns "$work/cfg.yaml" $th) || { echo "ctune ($th thread): failed: $(tail -1 "$work/out.txt")"; continue; }
  ns0=$(run_ns "$work/tiny.yaml" $th) || ns0=0
  awk -v n="$N" -v b="$bytes" -v ns="$ns" -v ns0="$ns0" -v th="$th" 'BEGIN { s = (ns - ns0) / 1e9; printf "ctune  %d thread(s): %.2f s (+ %.2f s start/load)  %.0f samples/s  %.1f MB/s\n@ data_ctune_%dt %.0f\n", th, s, ns0 / 1e9, n / s, b / s / 1e6, th, n / s }'
done
if have_js_ref; then
  read -r n secs b toks < <(cd tests/gen/node && node bench_encode_template.mjs "$tokdir" "$work/alpaca.jsonl" "$work/sharegpt.jsonl")
  awk -v n="$n" -v s="$secs" -v b="$b" 'BEGIN { printf "js ref 1 thread   : %.2f s  %.0f samples/s  %.1f MB/s\n@ data_js %.0f\n", s, n / s, b / s / 1e6, n / s }'
else
  echo "JS reference: baseline unavailable (scripts/deps.sh --bench installs it)"
fi
exit 0
