#!/usr/bin/env bash
# `ctune chat` over a pipe on stories260k (llama2 template): one answer line per message,
# /reset and /exit, the KV cache reused on turn 2, identical answers without cache reuse.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
err=$(echo hi | $bin chat 2>&1) && fail "chat without --model accepted"
echo "$err" | grep -q "model DIR is required" || fail "message: $err"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
err=$(echo hi | $bin chat --model "$model" --template nope 2>&1) && fail "unknown template accepted"
echo "$err" | grep -qi "template" || fail "template message: $err"
err=$(echo hi | $bin chat --model "$model" --template llama2 --enable-thinking maybe 2>&1) && fail "bad bool accepted"
in=$'Once upon a time\nWhat did the cat do?\n\n/reset\nOnce upon a time\n/exit\nnever read\n'
opts=(--model "$model" --template llama2 --max-new-tokens 12 --temperature 0 --threads 1)
out=$(printf '%s' "$in" | $bin chat "${opts[@]}" --stats 2>"${TMPDIR:-/tmp}/chat_stats.$$") || fail "chat failed"
stats=$(cat "${TMPDIR:-/tmp}/chat_stats.$$"); rm -f "${TMPDIR:-/tmp}/chat_stats.$$"
[ "$(echo "$out" | wc -l)" = 3 ] || fail "expected 3 answer lines, got: $out"
l1=$(echo "$out" | sed -n 1p); l3=$(echo "$out" | sed -n 3p)
[ -n "$l1" ] || fail "empty first answer"
[ "$l1" = "$l3" ] || fail "after /reset the same message should give the same answer: '$l1' / '$l3'"
echo "$stats" | grep -q "turn 2: prompt [0-9]* tokens ([1-9][0-9]* reused" || fail "turn 2 reused nothing: $stats"
echo "$stats" | grep -q "turn 3: prompt [0-9]* tokens (0 reused" || fail "turn 3 (after /reset) reused: $stats"
again=$(printf '%s' "$in" | $bin chat "${opts[@]}" --no-cache-reuse) || fail "chat --no-cache-reuse failed"
[ "$out" = "$again" ] || fail "cache reuse changed the answers: '$out' vs '$again'"
echo ok
