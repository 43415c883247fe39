#!/usr/bin/env bash
# ctune info: architecture, parameter count, dtype, memory for the tiny fixtures (and stories260k).
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
j=$($bin info --model tests/fixtures/tiny-qwen3-bf16 --format json) || fail "info json"
# parameter count = sum of numel written by the generator (tests/fixtures/*/reference.json n_params)
want=$(sed -n 's/.*"n_params": \([0-9]*\).*/\1/p' tests/fixtures/tiny-qwen3-bf16/reference.json)
echo "$j" | grep -q "\"parameters\": $want," || fail "parameters: $j (want $want)"
echo "$j" | grep -q '"architecture": "qwen3"' || fail "arch: $j"
echo "$j" | grep -q '"dtype": "BF16"' || fail "dtype: $j"
echo "$j" | grep -q '"head_dim": 16' || fail "head_dim: $j"
echo "$j" | grep -q "\"weight_bytes\": $((want * 2))," || fail "weight bytes: $j"
t=$($bin info --model tests/fixtures/tiny-llama-sharded) || fail "info text"
echo "$t" | grep -q '^architecture  llama' || fail "text: $t"
echo "$t" | grep -q '^dtype         F32' || fail "text dtype: $t"
err=$($bin info --model tests/fixtures 2>&1) && fail "dir without config accepted"
[ "$(echo "$err" | wc -l)" = 1 ] && echo "$err" | grep -q '^ctune: tests/fixtures/config.json: missing' || fail "message: $err"
model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
$bin info --model "$model" --format json | grep -q '"parameters": 260032,' || fail "stories260k parameter count"
echo ok
