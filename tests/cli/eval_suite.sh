#!/usr/bin/env bash
# `ctune eval` (docs/eval.md): base, base + adapter and the merged export side by side on the
# loss task (tiny-qwen3 fixtures: the merged model's loss equals the adapter's, the base differs);
# config errors name file:line; malformed benchmark files name file:line; --compare flags a
# regression. With ../shared/models/stories260k: examples/eval/smoke.yaml (mcq log-likelihood, qa,
# loss, constrained json) twice gives the same reports and the numbers recorded below; generation-mode mcq, think
# and the risk task on that garbage-talking model score 0 without crashing; examples/eval/tools.yaml
# (general_fc, json) gives the floor scores; malformed fc / json files name file:line; report.html
# is checked in the files and, with chromium installed, rendered headless (DOM and screenshot).
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
score() { # score FILE METRIC: the metric's score in an EvalScope report
  /usr/bin/env python3 - "$1" "$2" <<'PY' 2>/dev/null || sed -n "/\"name\": \"$2\"/,/score/p" "$1" | sed -n 's/.*"score": \([0-9.e+-]*\).*/\1/p' | head -1
import json, sys
r = json.load(open(sys.argv[1]))
print(next(m["score"] for m in r["metrics"] if m["name"] == sys.argv[2]))
PY
}

# ---- side by side: base, base + LoRA, merged (no tokenizer needed: input_ids lines)
base=tests/fixtures/tiny-qwen3 ad=tests/fixtures/adapters/qwen3-lora
printf '{"input_ids": [5, 9, 17, 33, 2, 88, 41]}\n{"input_ids": [100, 3, 7, 7, 64, 12, 1, 90, 4]}\n' > "$tmp/held.jsonl"
$bin export --model $base --adapter $ad --out "$tmp/merged" >/dev/null || fail "export"
cat > "$tmp/side.yaml" <<YAML
model: $base
adapters: [$ad]
models: [$tmp/merged]
datasets: [loss]
work_dir: $tmp/out
dataset_args:
  loss:
    local_path: [$tmp/held.jsonl]
YAML
out=$($bin eval "$tmp/side.yaml" --threads 2 2>"$tmp/err") || fail "side-by-side eval: $(cat "$tmp/err")"
run=$(echo "$out" | sed -n 's/^outputs: //p')
for m in tiny-qwen3 tiny-qwen3+qwen3-lora merged; do
  for k in predictions reviews; do [ -s "$run/$k/$m/loss.jsonl" ] || fail "no $k/$m/loss.jsonl"; done
  [ -s "$run/reports/$m/loss.json" ] || fail "no reports/$m/loss.json"
done
echo "$out" | grep -q "^tiny-qwen3+qwen3-lora  *loss  *loss " || fail "table: $out"
b=$(score "$run/reports/tiny-qwen3/loss.json" loss) a=$(score "$run/reports/tiny-qwen3+qwen3-lora/loss.json" loss)
m=$(score "$run/reports/merged/loss.json" loss)
want=$($bin eval-loss --model $base --adapter $ad --data "$tmp/held.jsonl" | sed -n 's/.*"loss": \([0-9.e+-]*\),.*/\1/p')
awk -v x="$a" -v y="$want" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-7) }' || fail "eval loss $a != eval-loss $want"
awk -v x="$a" -v y="$m" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-5 * x) }' || fail "merged $m != adapter $a"
[ "$a" != "$b" ] || fail "the adapter did not change the loss"
grep -q '"dataset_name": "loss"' "$run/reports/merged/loss.json" && grep -q '"macro_score"' "$run/reports/merged/loss.json" \
  && grep -q '"subsets"' "$run/reports/merged/loss.json" || fail "report layout: $(cat "$run/reports/merged/loss.json")"
ls -a "$run"/*/* | grep -q '\.tmp\.' && fail "temp files left"

# ---- report.html: self-contained (no http(s) reference), one chart per metric with a bar per model,
# the per-subset table; rendered in headless Chromium (DOM + screenshot) when it is installed
html=$run/report.html
[ -s "$html" ] || fail "no report.html"
grep -Eq '(src|href)="https?:' "$html" && fail "report.html references the network"
for m in tiny-qwen3 tiny-qwen3+qwen3-lora merged; do grep -q "<th class=\"model\">$m</th>" "$html" || fail "report.html: no column $m"; done
chrome=$(command -v chromium || command -v chromium-browser || true)
render() { # render HTML OUT.png: the DOM after scripts on stdout, a screenshot in OUT.png
  timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome" --dump-dom "file://$(realpath "$1")" 2>/dev/null
  timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome" --window-size=1200,1600 \
    --screenshot="$2" "file://$(realpath "$1")" >/dev/null 2>&1
}
if [ -n "$chrome" ]; then
  dom=$(render "$html" "$tmp/shot.png") || fail "chromium could not render report.html"
  echo "$dom" | grep -q 'svg class="bars"[^>]*data-metric="loss"' || fail "DOM: no loss chart"
  echo "$dom" | grep -q 'data-metric="ppl"' || fail "DOM: no ppl chart"
  [ "$(echo "$dom" | grep -o '<rect class="bar"' | wc -l)" -eq 6 ] || fail "DOM: expected 2 charts x 3 bars"
  echo "$dom" | grep -q '<table class="subsets">' || fail "DOM: no subset table"
  echo "$dom" | grep -q 'class="model"[^>]*>tiny-qwen3+qwen3-lora<' || fail "DOM: no model label"
  echo "$dom" | grep -q 'cursor: pointer' || fail "DOM: the legend script did not run"
  [ -s "$tmp/shot.png" ] && [ "$(head -c 4 "$tmp/shot.png" | tail -c 3)" = PNG ] || fail "no screenshot"
else
  echo "chromium not installed (scripts/deps.sh --test-extra): report.html is not rendered"
fi

# ---- --compare: identical runs have no regression; a worse loss is one (exit 3)
cp -r "$run" "$tmp/run2"
out=$($bin eval --compare "$run" "$tmp/run2") || fail "compare of identical runs: $out"
echo "$out" | grep -q "^0 regressions" || fail "compare: $out"
sed -i 's/"score": \([0-9]\)/"score": 9\1/' "$tmp/run2/reports/merged/loss.json"
out=$($bin eval --compare "$run" "$tmp/run2"); rc=$?
[ $rc -eq 3 ] || fail "compare with a regression exited $rc: $out"
echo "$out" | grep "merged/loss" | grep -q REGRESSION || fail "regression not marked: $out"
$bin eval --compare "$run" "$tmp/nothing" 2>&1 | grep -q "no reports/ directory" || fail "compare of a non-run"

# ---- config errors name file:line
printf 'model: %s\ndatasets: [loss]\nmodle_args: x\n' "$base" > "$tmp/bad.yaml"
err=$($bin eval "$tmp/bad.yaml" 2>&1) && fail "unknown key accepted"
echo "$err" | grep -q "bad.yaml:3: unknown key 'modle_args'" || fail "unknown key message: $err"
printf 'model: %s\ndatasets: [loss]\ndataset_args:\n  loss:\n    local_path: [x]\n    subset: y\n' "$base" > "$tmp/bad.yaml"
err=$($bin eval "$tmp/bad.yaml" 2>&1) && fail "unknown task key accepted"
echo "$err" | grep -q "bad.yaml:6: unknown key 'dataset_args.loss.subset' for task loss" || fail "task key message: $err"
printf 'model: %s\ndatasets: [nosuch]\n' "$base" > "$tmp/bad.yaml"
err=$($bin eval "$tmp/bad.yaml" 2>&1) && fail "unknown dataset accepted"
echo "$err" | grep -q "unknown dataset 'nosuch'" || fail "dataset message: $err"
printf 'model: %s\ndatasets: [general_mcq]\ndataset_args:\n  general_mcq:\n    local_path: x\n    eval_mode: loglik\n    prompt_style: evalscope\n' "$base" > "$tmp/bad.yaml"
err=$($bin eval "$tmp/bad.yaml" 2>&1) && fail "evalscope loglik accepted"
echo "$err" | grep -q "prompt_style evalscope needs eval_mode generation" || fail "style message: $err"
printf '{"input_ids": [5, 9]}\n{"input_ids": [5, 900]}\n' > "$tmp/badids.jsonl"
printf 'model: %s\ndatasets: [loss]\nwork_dir: %s\ndataset_args:\n  loss:\n    local_path: [%s]\n' "$base" "$tmp/o" "$tmp/badids.jsonl" > "$tmp/bad.yaml"
err=$($bin eval "$tmp/bad.yaml" 2>&1) && fail "bad ids accepted"
echo "$err" | grep -q "badids.jsonl:2: input_ids\[1\] is not a token id" || fail "ids message: $err"
$bin eval "$tmp/bad.yaml" --limit -1 2>&1 | grep -q "limit must be >= 0" || fail "--limit -1"
$bin eval "$tmp/bad.yaml" --thread 2 2>&1 | grep -q "unknown option --thread" || fail "--thread typo"

model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent): the model runs are skipped"; exit 77; fi

# ---- malformed benchmark files on a real model: file:line
mkdir -p "$tmp/mcq"
printf 'id,question,A,B,answer\n1,q,a,b,A\n2,"q,a,b,B\n' > "$tmp/mcq/s_val.csv"
sed "s#examples/eval/mcq#$tmp/mcq#; s#subset_list: \[stories\]#subset_list: [s]#; s#few_shot_num: 2#few_shot_num: 0#" \
  examples/eval/smoke.yaml | sed "s#\.\./shared/models/stories260k#$model#" > "$tmp/m.yaml"
err=$($bin eval "$tmp/m.yaml" --work-dir "$tmp/o" 2>&1) && fail "malformed csv accepted"
echo "$err" | grep -q "s_val.csv:3: unterminated quoted field" || fail "csv message: $err"
printf '{"question": "q", "A": "a", "B": "b", "answer": "C"}\n' > "$tmp/mcq/s_val.jsonl"
err=$($bin eval "$tmp/m.yaml" --work-dir "$tmp/o" 2>&1) && fail "bad answer accepted"
echo "$err" | grep -q "s_val.jsonl:1: answer 'C' is not one of the option letters A..B" || fail "answer message: $err"

# ---- the smoke config: stable numbers, twice the same
sed "s#\.\./shared/models/stories260k#$model#" examples/eval/smoke.yaml > "$tmp/smoke.yaml"
for i in 1 2; do
  out=$($bin eval "$tmp/smoke.yaml" --work-dir "$tmp/s$i" --threads 2 2>"$tmp/err") || fail "smoke run $i: $(cat "$tmp/err")"
  eval "run$i=$(echo "$out" | sed -n 's/^outputs: //p')"
done
for f in reports/stories260k/general_mcq.json reports/stories260k/general_qa.json reports/stories260k/loss.json \
         predictions/stories260k/general_qa.jsonl reviews/stories260k/general_mcq.jsonl; do
  cmp -s "$run1/$f" "$run2/$f" || fail "$f differs between two runs"
done
r=$run1/reports/stories260k
check() { awk -v x="$(score "$1" "$2")" -v y="$3" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-4) }' || fail "$1 $2: $(score "$1" "$2"), recorded $3"; }
check "$r/general_mcq.json" acc 0.5
check "$r/general_mcq.json" acc_norm 0.5
check "$r/general_qa.json" Rouge-L-R 0.466667
check "$r/general_qa.json" bleu-1 0.126731
check "$r/loss.json" loss 2.9076
# json, constrained (smoke.yaml): the 48-token budget is above every sample's shortest value, so
# every answer is complete and schema-valid (the token budget is part of the constraint)
check "$r/json.json" parse_rate 1
check "$r/json.json" schema_valid_rate 1
check "$r/json.json" pass_rate 0.142857
grep -q '"constrained":true' "$run1/predictions/stories260k/json.jsonl" || fail "json predictions not marked constrained"
cmp -s "$run1/reports/stories260k/json.json" "$run2/reports/stories260k/json.json" || fail "json report differs between two runs"
grep -q '"loglik": \[' "$run1/predictions/stories260k/general_mcq.jsonl" 2>/dev/null || grep -q '"loglik":\[' "$run1/predictions/stories260k/general_mcq.jsonl" || fail "no per-option log-likelihoods"

# ---- general_fc and unconstrained json (examples/eval/tools.yaml, qwen template renders the tools):
# stories260k never calls a tool, so tool_call_f1 is 0 and the irrelevance samples pass
sed "s#\.\./shared/models/stories260k#$model#" examples/eval/tools.yaml > "$tmp/tools.yaml"
out=$($bin eval "$tmp/tools.yaml" --work-dir "$tmp/t" --threads 2 2>"$tmp/err") || fail "tools run: $(cat "$tmp/err")"
r=$(echo "$out" | sed -n 's/^outputs: //p')
check "$r/reports/stories260k/general_fc.json" tool_call_f1 0
check "$r/reports/stories260k/general_fc.json" irrelevance_accuracy 1
check "$r/reports/stories260k/general_fc.json" pass_rate 0.4
check "$r/reports/stories260k/json.json" parse_rate 0
grep -q '"should_call_tool":false' "$r/reviews/stories260k/general_fc.jsonl" || fail "fc reviews: no should_call_tool"
grep -q '"subset":"zh"' "$r/predictions/stories260k/general_fc.jsonl" || fail "fc predictions: no zh subset"
# report.html lists the failed samples with the output next to the reference
grep -q '3 failed of 5' "$r/report.html" || fail "report.html: fc failed count"
grep -q '<td class="reference"><pre>\[{&quot;get_weather&quot;' "$r/report.html" || fail "report.html: fc reference"
if [ -n "$chrome" ]; then
  dom=$(render "$r/report.html" "$tmp/shot2.png") || fail "chromium could not render the fc report"
  echo "$dom" | grep -q '<table class="failed">' || fail "DOM: no failed-sample table"
  echo "$dom" | grep -q '<td class="output"><pre>' || fail "DOM: no model output cell"
  [ -s "$tmp/shot2.png" ] || fail "no screenshot of the fc report"
fi
# malformed fc / json files name file:line; the empty template cannot render tools
mkdir -p "$tmp/fc"
head -1 examples/eval/fc/en.jsonl > "$tmp/fc/default.jsonl"
echo '{"messages": [{"role": "user", "content": "hi"}], "tools": []}' >> "$tmp/fc/default.jsonl"
printf 'model: %s\ntemplate: qwen\ndatasets: [fc]\ndataset_args:\n  fc:\n    local_path: %s\n' "$model" "$tmp/fc" > "$tmp/f.yaml"
err=$($bin eval "$tmp/f.yaml" --work-dir "$tmp/o" 2>&1) && fail "fc without tools accepted"
echo "$err" | grep -q "default.jsonl:2: missing \"tools\"" || fail "fc message: $err"
sed -i 's/template: qwen/template: empty/' "$tmp/f.yaml"; sed -i '2d' "$tmp/fc/default.jsonl"
err=$($bin eval "$tmp/f.yaml" --work-dir "$tmp/o" 2>&1) && fail "fc with the empty template accepted"
echo "$err" | grep -q "cannot render tools" || fail "fc template message: $err"
mkdir -p "$tmp/js"
echo '{"query": "q", "schema": {"type": "object", "patternProperties": {}}}' > "$tmp/js/default.jsonl"
printf 'model: %s\ndatasets: [json]\ndataset_args:\n  json:\n    local_path: %s\n' "$model" "$tmp/js" > "$tmp/j.yaml"
err=$($bin eval "$tmp/j.yaml" --work-dir "$tmp/o" 2>&1) && fail "unsupported schema keyword accepted"
echo "$err" | grep -q "default.jsonl:1: keyword 'patternProperties' at # is not supported" || fail "json schema message: $err"

# ---- garbage outputs score 0, never crash: generation-mode mcq (EvalScope template), Chinese qa,
# think on a model without a reasoning switch, the risk task
cat > "$tmp/g.yaml" <<YAML
model: $model
template: qwen
datasets: [general_mcq, general_qa, think, risk]
limit: 3
generation_config:
  max_tokens: 12
dataset_args:
  general_mcq:
    local_path: examples/eval/mcq
    subset_list: [常识]
    eval_mode: generation
    few_shot_num: 2
  general_qa:
    local_path: examples/eval/qa
    subset_list: [zh]
  think:
    local_path: examples/eval/think/prompts.jsonl
  risk:
    local_path: examples/risk/risk_eval.jsonl
YAML
out=$($bin eval "$tmp/g.yaml" --work-dir "$tmp/g" --threads 2 2>"$tmp/err") || fail "garbage run: $(cat "$tmp/err")"
r=$(echo "$out" | sed -n 's/^outputs: //p')/reports/stories260k
check "$r/general_mcq.json" acc 0
check "$r/general_qa.json" Rouge-L-R 0
check "$r/general_qa.json" exact_match 0
check "$r/think.json" think_compliance 0
check "$r/risk.json" json_valid_rate 0
check "$r/risk.json" label_micro_f1 0
echo ok
