#!/usr/bin/env bash
# --quant q8_0|q4_0 (ggml blocks, quantized on load) on generate / eval-loss / generate-batch /
# chat, the inference YAML's quantization_method: gguf, an unmerged LoRA on a quantized base, and
# the refusals (bad values, --quant with bitsandbytes options, export of a quantized model), each a
# one-line error. Logit-level checks against the dequantized reference: tests/test_quant_infer.c.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
base=tests/fixtures/tiny-qwen3 ad=tests/fixtures/adapters/qwen3-lora
loss() { echo "$1" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p'; }
one_line() { [ "$(echo "$1" | wc -l)" = 1 ] && echo "$1" | grep -q "^ctune: .*$2" || fail "message for $3: $1"; }
# generate: greedy, deterministic, with and without a LoRA adapter (base GEMV + unmerged LoRA)
for q in q8_0 q4_0; do
  a=$($bin generate --model $base --prompt-ids 5,6,7 --max-new-tokens 8 --format json --quant $q --threads 1) || fail "$q generate"
  echo "$a" | grep -q '"output_ids":\[[0-9]*\(,[0-9]*\)\{7\}\]' || fail "$q json: $a"
  b=$($bin generate --model $base --prompt-ids 5,6,7 --max-new-tokens 8 --format json --quant $q --threads 2) || fail "$q 2 threads"
  [ "$a" = "$b" ] || fail "$q: 1 and 2 threads differ: $a / $b"
  l=$($bin generate --model $base --adapter $ad --prompt-ids 5,6,7 --max-new-tokens 8 --format json --quant $q) || fail "$q + LoRA"
  echo "$l" | grep -q '"output_ids":\[' || fail "$q + LoRA output: $l"
done
# eval-loss: prefill runs the blocks decoded to f32; the loss stays near the f32 model's
printf '{"input_ids": [5, 9, 17, 33, 2, 88, 41]}\n{"input_ids": [100, 3, 7, 7, 64, 12, 1, 90, 4]}\n' > "$tmp/eval.jsonl"
f=$(loss "$($bin eval-loss --model $base --data "$tmp/eval.jsonl")")
for q in q8_0 q4_0; do
  g=$(loss "$($bin eval-loss --model $base --adapter $ad --data "$tmp/eval.jsonl" --quant $q)") || fail "$q eval-loss"
  h=$(loss "$($bin eval-loss --model $base --data "$tmp/eval.jsonl" --quant $q)") || fail "$q eval-loss"
  [ -n "$g" ] && [ -n "$h" ] || fail "$q: no loss"
  awk -v a="$f" -v b="$h" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.05 * a) }' || fail "$q loss $h vs f32 $f"
done
# refusals, one line each
err=$($bin generate --model $base --prompt-ids 5 --quant q5_0 2>&1) && fail "--quant q5_0 accepted"
one_line "$err" "--quant: expected q8_0 or q4_0, got 'q5_0'" "--quant q5_0"
err=$($bin generate --model $base --prompt-ids 5 --quant q8_0 --quantization-bit 4 2>&1) && fail "--quant + bnb accepted"
one_line "$err" "exclude each other" "--quant + --quantization-bit"
err=$($bin export --model $base --out "$tmp/x" --quant q8_0 2>&1) && fail "export of a quantized model accepted"
one_line "$err" "quantized" "export --quant"
printf 'model_name_or_path: %s\ntemplate: empty\nquantization_method: gguf\n' "$base" > "$tmp/bad.yaml"
err=$($bin chat "$tmp/bad.yaml" < /dev/null 2>&1) && fail "gguf without quantization_bit accepted"
one_line "$err" "quantization_method: gguf needs quantization_bit: 8 (q8_0) or 4 (q4_0)" "gguf without bits"
err=$($bin chat "$tmp/bad.yaml" quantization_bit=4 quantization_type=fp4 < /dev/null 2>&1) && fail "gguf + fp4 accepted"
one_line "$err" "quantization_type: fp4 is a bitsandbytes type" "gguf + fp4"
err=$($bin chat "$tmp/bad.yaml" quantization_bit=8 quantization_method=awq < /dev/null 2>&1) && fail "awq accepted"
one_line "$err" "quantization_method" "awq"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
# stories260k: q8_0 keeps llama2.c run.c's 16 greedy ids on "Once upon a time" (observed: its
# weights are within 2^-8 of f32 per block); q4_0 generates a story too
want='"output_ids":[432,383,286,261,376,298,315,421,395,317,426,338,401,396,267,337]'
out=$($bin generate --model "$model" --prompt-ids 1,403,407,261,378 --max-new-tokens 16 --format json --quant q8_0) || fail "q8_0"
echo "$out" | grep -qF "$want" || fail "q8_0 output: $out"
# generate-batch equals generate one by one (batched decode: the T = 8 GEMV)
: > "$tmp/in.jsonl"
for p in "Once upon a time" "The cat" "Lily and Tom went" "One day" "A big dog" "The sun" "Tim had a ball" "She was" "The end"; do
  printf '{"prompt": "%s"}\n' "$p" >> "$tmp/in.jsonl"
done
for q in q4_0; do
  $bin generate-batch --model "$model" --input "$tmp/in.jsonl" --output "$tmp/out.jsonl" --max-new-tokens 12 --temperature 0 --template empty --threads 1 --quant $q >/dev/null || fail "$q generate-batch"
  i=0
  while IFS= read -r line; do
    p=$(echo "$line" | sed -n 's/.*"prompt": "\([^"]*\)".*/\1/p')
    o=$($bin generate --model "$model" --prompt "$p" --max-new-tokens 12 --temperature 0 --threads 1 --quant $q --format json | sed -n 's/.*"text":\("[^"]*"\).*/\1/p')
    i=$((i + 1))
    [ -n "$o" ] && sed -n "${i}p" "$tmp/out.jsonl" | grep -qF "\"output\": $o" || fail "$q prompt $i: batch $(sed -n "${i}p" "$tmp/out.jsonl") alone $o"
  done < "$tmp/in.jsonl"
done
# ctune eval --quant (the suite's runtime quantized on load); a bad value refused
$bin eval examples/eval/smoke.yaml --work-dir "$tmp/ev" --limit 2 --threads 1 --quant q8_0 > "$tmp/ev.txt" 2>&1 || fail "eval --quant: $(cat "$tmp/ev.txt")"
grep -q "general_mcq" "$tmp/ev.txt" || fail "eval --quant table: $(cat "$tmp/ev.txt")"
err=$($bin eval examples/eval/smoke.yaml --work-dir "$tmp/ev" --quant q3 2>&1) && fail "eval --quant q3 accepted"
one_line "$err" "quant: expected q8_0 or q4_0, got 'q3'" "eval --quant q3"
# chat from an inference YAML with quantization_method: gguf
printf 'model_name_or_path: %s\ntemplate: empty\nquantization_method: gguf\nquantization_bit: 4\nmax_new_tokens: 8\ntemperature: 0\n' "$model" > "$tmp/q4.yaml"
out=$(echo "Once upon a time" | $bin chat "$tmp/q4.yaml" 2>&1) || fail "chat q4 yaml: $out"
[ -n "$out" ] || fail "chat q4 yaml: no answer"
echo ok
