#!/usr/bin/env bash
# `ctune data synth risk`: the committed examples regenerate byte for byte; prefixes are stable;
# bad options fail with a clear message.
set -euo pipefail
bin=${CTUNE_BIN:-build/ctune}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

CTUNE_BIN=$bin bash examples/risk/generate.sh "$tmp"
for f in risk_train.jsonl risk_eval.jsonl risk_sharegpt.jsonl risk_alpaca.jsonl answer.schema.json; do
  cmp "$tmp/$f" "examples/risk/$f" || { echo "examples/risk/$f differs from the generator's output"; exit 1; }
done
[ "$(wc -l < examples/risk/risk_train.jsonl)" -eq 300 ]
[ "$(wc -l < examples/risk/risk_eval.jsonl)" -eq 60 ]

# stdout equals --out, and sample i does not depend on --n.
"$bin" data synth risk --n 10 --seed 20240601 > "$tmp/ten.jsonl"
head -n 10 examples/risk/risk_train.jsonl | cmp - "$tmp/ten.jsonl"

# --think-ratio 0: no reasoning anywhere; 1: every sample.
"$bin" data synth risk --n 30 --seed 3 --think-ratio 0 --format sharegpt > "$tmp/t0.jsonl"
! grep -q '<think>' "$tmp/t0.jsonl"
"$bin" data synth risk --n 30 --seed 3 --think-ratio 1 > "$tmp/t1.jsonl"
[ "$(grep -c reasoning_content "$tmp/t1.jsonl")" -eq 30 ]
# --no-meta drops id and meta.
"$bin" data synth risk --n 3 --seed 3 --no-meta --format alpaca > "$tmp/nm.jsonl"
! grep -q '"meta"' "$tmp/nm.jsonl"

expect_fail() { # expect_fail "message part" args...
  local want=$1; shift
  if "$bin" "$@" > "$tmp/out" 2> "$tmp/err"; then echo "expected failure: $*"; exit 1; fi
  grep -q -- "$want" "$tmp/err" || { echo "missing '$want' in:"; cat "$tmp/err"; exit 1; }
}
expect_fail "unknown format 'yaml'" data synth risk --n 1 --seed 1 --format yaml
expect_fail "outside \[0, 1\]" data synth risk --n 1 --seed 1 --think-ratio 2
expect_fail "required" data synth risk --seed 1
expect_fail "unknown option --colour" data synth risk --n 1 --seed 1 --colour red
expect_fail "unknown dataset 'weather'" data synth weather --n 1 --seed 1
echo ok
