#!/usr/bin/env bash
# `make demo MODEL=DIR` on a base model without a chat template (stories260k): the demo picks the
# plain `empty` template and says so, runs end to end (short: 40 training conversations, 3 steps,
# 3 answers of 16 tokens, 1 also under the risk schema) with its before/after table; a failing step (an unknown TEMPLATE) shows
# the command's error and the step, and exits non-zero.
set -u
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
[ -x build/ctune ] || { echo "build/ctune missing (the demo script runs the build's binary)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# DEMO_JSON_N below DEMO_EVAL_N, as in the full demo (16 answers, 4 of them also under the schema)
small=(DEMO_SKIP_BUILD=1 DEMO_TRAIN_N=40 DEMO_EVAL_LOSS_N=8 DEMO_EVAL_N=3 DEMO_JSON_N=1 DEMO_MAX_NEW=16 DEMO_MAX_STEPS=3 THREADS=2)
env "${small[@]}" MODEL="$model" DEMO_DIR="$tmp/ok" bash scripts/demo.sh > "$tmp/log" 2>&1 || { tail -30 "$tmp/log"; fail "demo failed"; }
grep -q "no recognised chat template: using the plain 'empty' template" "$tmp/log" || fail "no template note: $(cat "$tmp/log")"
grep -q "^eval loss (8 samples, answer tokens)" "$tmp/log" || fail "no before/after table: $(tail -30 "$tmp/log")"
grep -q "^JSON-valid rate" "$tmp/log" && grep -q "^demo finished" "$tmp/log" || fail "incomplete: $(tail -30 "$tmp/log")"
# the answers constrained to the risk schema are all valid (the free ones of this 3-step model are not)
grep -q "^  (tuned model, risk answer schema) *0.0000 *1.0000$" "$tmp/log" || fail "constrained rate: $(grep -A1 schema-valid "$tmp/log")"
grep -q "^assistant (tuned model, --json-schema" "$tmp/log" || fail "no constrained answer shown"
env "${small[@]}" MODEL="$model" TEMPLATE=nosuch DEMO_DIR="$tmp/bad" bash scripts/demo.sh > "$tmp/log" 2>&1 && fail "unknown TEMPLATE accepted"
grep -q "unknown template 'nosuch'" "$tmp/log" || fail "error not shown: $(tail -5 "$tmp/log")"
grep -q 'demo: step "5/8 before training.*" failed' "$tmp/log" || fail "failing step not named: $(tail -5 "$tmp/log")"
echo ok
