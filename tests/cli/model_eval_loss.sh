#!/usr/bin/env bash
# ctune eval-loss on the tiny Qwen2 fixture matches the float64 PyTorch reference loss
# (tests/fixtures/model/eval_expected.json, from tests/gen/make_model_fixtures.py), also with
# --decode (token by token); --decode refuses a prompt-tuning adapter.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
out=$($bin eval-loss --model tests/fixtures/tiny-qwen2 --data tests/fixtures/model/eval.jsonl --threads 2) || fail "eval-loss failed"
want=$(sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p' tests/fixtures/model/eval_expected.json)
wtok=$(sed -n 's/.*"tokens": \([0-9]*\).*/\1/p' tests/fixtures/model/eval_expected.json)
got=$(echo "$out" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p')
tok=$(echo "$out" | sed -n 's/.*"tokens": \([0-9]*\).*/\1/p')
ppl=$(echo "$out" | sed -n 's/.*"ppl": \([0-9.e+-]*\).*/\1/p')
[ "$tok" = "$wtok" ] || fail "tokens $tok, expected $wtok ($out)"
awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 1e-4 * w) }' || fail "loss $got, expected $want"
awk -v g="$got" -v p="$ppl" 'BEGIN { d = exp(g) - p; if (d < 0) d = -d; exit !(d <= 1e-6 * p) }' || fail "ppl $ppl != exp($got)"
# --decode (token by token through the KV-cache decode path) gives the same loss
outd=$($bin eval-loss --model tests/fixtures/tiny-qwen2 --data tests/fixtures/model/eval.jsonl --threads 2 --decode) ||
  fail "eval-loss --decode failed"
gotd=$(echo "$outd" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p')
[ "$(echo "$outd" | sed -n 's/.*"tokens": \([0-9]*\).*/\1/p')" = "$wtok" ] || fail "--decode tokens: $outd"
awk -v g="$gotd" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 1e-4 * w) }' || fail "--decode loss $gotd, expected $want"
err=$($bin eval-loss --model tests/fixtures/tiny-qwen3 --adapter tests/fixtures/adapters/qwen3-prompt \
  --data tests/fixtures/model/eval.jsonl --decode 2>&1) && fail "--decode with prompt tuning accepted"
echo "$err" | grep -q "prompt-tuning adapter is not supported token by token" || fail "--decode prompt tuning: $err"
# errors: bad line names file:line; text without a tokenizer is refused clearly
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '{"input_ids":[1,2,3]}\n{"input_ids":[1,\n' > "$tmp/bad.jsonl"
err=$($bin eval-loss --model tests/fixtures/tiny-qwen2 --data "$tmp/bad.jsonl" 2>&1) && fail "bad jsonl accepted"
echo "$err" | grep -q "bad.jsonl:2" || fail "bad line message: $err"
printf '{"input_ids":[1,200]}\n' > "$tmp/oov.jsonl"
err=$($bin eval-loss --model tests/fixtures/tiny-qwen2 --data "$tmp/oov.jsonl" 2>&1) && fail "oov accepted"
echo "$err" | grep -q "oov.jsonl:1: input_ids\[1\]" || fail "oov message: $err"
printf '{"input_ids":[7]}\n' > "$tmp/short.jsonl"
err=$($bin eval-loss --model tests/fixtures/tiny-qwen2 --data "$tmp/short.jsonl" 2>&1) && fail "no tokens accepted"
echo "$err" | grep -q "nothing to predict" || fail "short message: $err"
echo ok
