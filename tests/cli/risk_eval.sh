#!/usr/bin/env bash
# `ctune eval-risk`: reference outputs score 1.0, garbage 0; compare writes an HTML table;
# prompts are render-ready lines; unknown prediction ids fail.
set -euo pipefail
bin=${CTUNE_BIN:-build/ctune}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=examples/risk/risk_eval.jsonl

"$bin" eval-risk reference --data "$data" --out "$tmp/ref.jsonl"
[ "$(wc -l < "$tmp/ref.jsonl")" -eq 60 ]
"$bin" eval-risk score --data "$data" --pred "$tmp/ref.jsonl" --out "$tmp/after.json" --html "$tmp/one.html" > "$tmp/score.txt"
grep -q '"json_valid_rate":1.0000' "$tmp/after.json"
grep -q '"label_micro_f1":1.0000' "$tmp/after.json"
grep -q '"refusal_accuracy":1.0000' "$tmp/after.json"
grep -q 'json_valid_rate *1.0000' "$tmp/score.txt"

# Garbage predictions by index: nothing is valid.
awk '{printf("{\"index\":%d,\"output\":\"hello\"}\n", NR-1)}' "$tmp/ref.jsonl" > "$tmp/garbage.jsonl"
"$bin" eval-risk score --data "$data" --pred "$tmp/garbage.jsonl" --out "$tmp/before.json" > /dev/null
grep -q '"json_valid_rate":0.0000' "$tmp/before.json"

"$bin" eval-risk compare "$tmp/before.json" "$tmp/after.json" --html "$tmp/eval_report.html" > "$tmp/cmp.txt"
grep -q '<table>' "$tmp/eval_report.html"
grep -q '<th>before</th><th>after</th><th>delta</th>' "$tmp/eval_report.html"
grep -q '+1.0000' "$tmp/eval_report.html"
grep -q 'json_valid_rate *0.0000 *1.0000' "$tmp/cmp.txt"

"$bin" eval-risk prompts --data "$data" --out "$tmp/prompts.jsonl"
[ "$(wc -l < "$tmp/prompts.jsonl")" -eq 60 ]
[ "$(grep -c '"add_generation_prompt":true' "$tmp/prompts.jsonl")" -eq 60 ]
! grep -q '"product"' "$tmp/prompts.jsonl"   # the answers are not in the prompts

echo '{"id":"risk-0-999999","output":"x"}' > "$tmp/bad.jsonl"
if "$bin" eval-risk score --data "$data" --pred "$tmp/bad.jsonl" 2> "$tmp/err" >/dev/null; then exit 1; fi
grep -q 'match no eval record' "$tmp/err"
if "$bin" eval-risk score --data "$data" 2> "$tmp/err"; then exit 1; fi
grep -q -- '--pred are required' "$tmp/err"
echo ok
