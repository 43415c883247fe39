#!/usr/bin/env bash
# eval_batch_size (docs/eval.md, "Batched questions"): with stories260k, every generation task
# (generation-mode mcq, qa, think, risk, general_fc, unconstrained and constrained json) gives
# byte-identical predictions, reviews and reports with eval_batch_size 1, 3 (windows that do not
# divide the subsets) and 10 (think's 12 answers: a window of 10, decoded as groups of 8 and 2,
# then one of 2). The log-likelihood mcq (examples/eval/smoke.yaml with its other tasks, and the
# CMMLU style over both bundled subsets) with 1, 3 and 8: the same reviews and reports (the same
# choices) and predictions byte-identical but for the per-option "loglik" / "loglik_norm"
# numbers (a batched forward sums in another order), compared numerically: within 1e-5 nats.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent): skipped"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# same_mcq A B: the predictions files agree but for their log-likelihood numbers, within 1e-5
same_mcq() {
  awk -v other="$2" '
    function nums(line, key,   i, s) {
      i = index(line, "\"" key "\":[")
      if (!i) return ""
      s = substr(line, i + length(key) + 4)
      return substr(s, 1, index(s, "]") - 1)
    }
    function strip(line) { gsub(/"loglik(_norm)?":\[[-0-9.eE+,]*\]/, "", line); return line }
    {
      if ((getline o < other) <= 0) { print "fewer lines in " other; bad = 1; exit }
      if (strip($0) != strip(o)) { print "line " NR " differs beyond the log-likelihoods"; bad = 1; exit }
      for (k = 1; k <= 2; k++) {
        key = k == 1 ? "loglik" : "loglik_norm"
        na = split(nums($0, key), a, ","); nb = split(nums(o, key), b, ",")
        if (na != nb || na == 0) { print "line " NR ": " key " has " na " vs " nb " numbers"; bad = 1; exit }
        for (j = 1; j <= na; j++) {
          d = a[j] - b[j]; if (d < 0) d = -d
          if (d > 1e-5) { print "line " NR ": " key "[" j "] " a[j] " vs " b[j]; bad = 1; exit }
        }
      }
    }
    END { if (!bad && (getline o < other) > 0) { print "more lines in " other; bad = 1 }; exit bad }' "$1"
}
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
cat > "$tmp/m.yaml" <<YAML
model: $model
template: empty
datasets: [general_mcq]
dataset_args:
  general_mcq:
    local_path: examples/eval/mcq
    subset_list: [常识, stories]
    few_shot_num: 2
    prompt_style: cmmlu
YAML
for cfg in g s m; do
  sizes="1 3 8"; [ $cfg = g ] && sizes="1 3 10"
  for b in $sizes; do
    grep -v '^eval_batch_size:' "$tmp/$cfg.yaml" > "$tmp/$cfg$b.yaml"
    echo "eval_batch_size: $b" >> "$tmp/$cfg$b.yaml"
    out=$($bin eval "$tmp/$cfg$b.yaml" --work-dir "$tmp/o$cfg$b" --threads 2 2>"$tmp/err") || fail "$cfg batch $b: $(cat "$tmp/err")"
    run=$(echo "$out" | sed -n 's/^outputs: //p')
    [ -d "$run/predictions" ] || fail "$cfg batch $b: no outputs ($out)"
    ln -s "$run" "$tmp/r$cfg$b"
  done
  for b in ${sizes#1 }; do
    for k in predictions reviews reports; do
      x=; [ $k = predictions ] && [ $cfg != g ] && x=general_mcq.jsonl
      diff -r ${x:+-x "$x"} "$tmp/r${cfg}1/$k" "$tmp/r$cfg$b/$k" >"$tmp/d" || fail "$cfg: $k differ between eval_batch_size 1 and $b: $(head -5 "$tmp/d")"
    done
    if [ $cfg != g ]; then
      p=predictions/stories260k/general_mcq.jsonl
      same_mcq "$tmp/r${cfg}1/$p" "$tmp/r$cfg$b/$p" >"$tmp/d" || fail "$cfg: loglik mcq predictions, eval_batch_size 1 vs $b: $(cat "$tmp/d")"
    fi
  done
done
n=$(cat "$tmp/rg1"/predictions/stories260k/*.jsonl | wc -l)
[ "$n" -ge 25 ] || fail "only $n predictions"
[ "$(grep -c '"output"' "$tmp/rg1/predictions/stories260k/general_qa.jsonl")" -ge 6 ] || fail "no qa outputs"
echo ok
