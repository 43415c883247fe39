#!/usr/bin/env bash
# --batch-precision exact|bf16 (docs/inference.md, "Batched decode precision") on generate-batch,
# serve and eval: unknown values refused with a one-line error before anything loads; bf16 runs
# on stories260k exported to bf16 (8 prompts decoded together), every answer written; on a CPU
# without AVX512-BF16 the one-line note and exact results.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
model=${CTUNE_SHARED:-../shared}/models/stories260k
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent): skipped"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for cmd in "generate-batch --model $model --input x --output y" "serve --model $model" "eval x.yaml"; do
  # shellcheck disable=SC2086
  $bin $cmd --batch-precision f16 > "$tmp/out" 2> "$tmp/err" && fail "$cmd accepted --batch-precision f16"
  [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q -- "--batch-precision: expected exact or bf16, got 'f16'" "$tmp/err" \
    || fail "$cmd: $(cat "$tmp/err")"
done

$bin export --model "$model" --out "$tmp/m16" --dtype bf16 > /dev/null 2>&1 || fail "export bf16"
for i in 1 2 3 4 5 6 7 8 9; do printf '{"instruction": "Tell story %d.", "output": ""}\n' "$i"; done > "$tmp/q.jsonl"
for p in exact bf16; do
  $bin generate-batch --model "$tmp/m16" --template qwen --input "$tmp/q.jsonl" --output "$tmp/a_$p.jsonl" \
    --max-new-tokens 12 --threads 1 --batch-precision $p 2> "$tmp/err_$p" || fail "generate-batch $p: $(cat "$tmp/err_$p")"
  [ "$(wc -l < "$tmp/a_$p.jsonl")" = 9 ] || fail "generate-batch $p: $(wc -l < "$tmp/a_$p.jsonl") answers"
done
if grep -q avx512_bf16 /proc/cpuinfo; then
  grep -q "note:" "$tmp/err_bf16" && fail "unexpected note: $(cat "$tmp/err_bf16")"
else
  grep -q "this CPU lacks AVX512-BF16, batched decode stays exact" "$tmp/err_bf16" || fail "no note: $(cat "$tmp/err_bf16")"
  cmp -s "$tmp/a_exact.jsonl" "$tmp/a_bf16.jsonl" || fail "fallback is not exact"
fi
echo ok
