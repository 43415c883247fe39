#!/usr/bin/env bash
# eval_batch_size (docs/eval.md, "Batched questions"): with stories260k, every generation task
# (generation-mode mcq, qa, think, risk, general_fc, unconstrained and constrained json) and the
# log-likelihood mcq of examples/eval/smoke.yaml give byte-identical predictions, reviews and
# reports with eval_batch_size 1, 3 (windows that do not divide the subsets) and 10 (think's 12
# answers: a window of 10, decoded as groups of 8 and 2, then one of 2).
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent): skipped"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/g.yaml" <<YAML
model: $model
template: qwen
datasets: [general_mcq, general_qa, think, risk, general_fc, json]
limit: 6
generation_config:
  max_tokens: 16
dataset_args:
  general_mcq:
    local_path: examples/eval/mcq
    subset_list: [常识, stories]
    eval_mode: generation
    few_shot_num: 2
  general_qa:
    local_path: examples/eval/qa
    subset_list: [zh, default]
  think:
    local_path: examples/eval/think/prompts.jsonl
  risk:
    local_path: examples/risk/risk_eval.jsonl
  general_fc:
    local_path: examples/eval/fc
    subset_list: [en, zh]
  json:
    local_path: examples/eval/json
    subset_list: [en, zh]
YAML
sed "s#\.\./shared/models/stories260k#$model#" examples/eval/smoke.yaml > "$tmp/s.yaml"
for cfg in g s; do
  for b in 1 3 10; do
    grep -v '^eval_batch_size:' "$tmp/$cfg.yaml" > "$tmp/$cfg$b.yaml"
    echo "eval_batch_size: $b" >> "$tmp/$cfg$b.yaml"
    out=$($bin eval "$tmp/$cfg$b.yaml" --work-dir "$tmp/o$cfg$b" --threads 2 2>"$tmp/err") || fail "$cfg batch $b: $(cat "$tmp/err")"
    run=$(echo "$out" | sed -n 's/^outputs: //p')
    [ -d "$run/predictions" ] || fail "$cfg batch $b: no outputs ($out)"
    ln -s "$run" "$tmp/r$cfg$b"
  done
  for b in 3 10; do
    for k in predictions reviews reports; do
      diff -r "$tmp/r${cfg}1/$k" "$tmp/r$cfg$b/$k" >"$tmp/d" || fail "$cfg: $k differ between eval_batch_size 1 and $b: $(head -5 "$tmp/d")"
    done
  done
done
n=$(cat "$tmp/rg1"/predictions/stories260k/*.jsonl | wc -l)
[ "$n" -ge 25 ] || fail "only $n predictions"
[ "$(grep -c '"output"' "$tmp/rg1/predictions/stories260k/general_qa.jsonl")" -ge 6 ] || fail "no qa outputs"
echo ok
