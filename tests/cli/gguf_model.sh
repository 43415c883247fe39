#!/usr/bin/env bash
# --model FILE.gguf on the inference commands (docs/inference.md, "GGUF models"): stories260k
# exported as F32 / Q8_0 / Q4_0 GGUF (ctune's own export, which tests/gguf checks against
# llama.cpp) gives the same greedy ids and the same eval-loss as the Hugging Face directory (F32)
# or as quantization on load of it (Q8_0 / Q4_0), tokenizes the same, and `info` reads it; train
# and export refuse it, and a damaged file is one line naming it. Model-level checks:
# tests/test_gguf_load.c; tokenizer: tests/test_tok_gguf.c.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
loss() { echo "$1" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p'; }
one_line() { [ "$(echo "$1" | wc -l)" = 1 ] && echo "$1" | grep -q "^ctune: .*$2" || fail "message for $3: $1"; }
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for d in f32 q8_0 q4_0; do
  $bin export --format gguf --model "$model" --out "$tmp/$d" --dtype $d >/dev/null || fail "export $d"
done
printf '{"text": "Once upon a time, there was a little dog."}\n{"text": "Tom and Sue went to the park to play."}\n' \
  > "$tmp/eval.jsonl"
for d in f32 q8_0 q4_0; do
  g=$tmp/$d/model.gguf q=""
  [ $d = f32 ] || q="--quant $d"
  a=$($bin generate --model "$model" $q --prompt "Once upon a time" --max-new-tokens 24 --format json) || fail "$d dir"
  b=$($bin generate --model "$g" --prompt "Once upon a time" --max-new-tokens 24 --format json) || fail "$d gguf"
  [ "$a" = "$b" ] || fail "$d: generate differs: $a / $b"
  a=$($bin eval-loss --model "$model" $q --data "$tmp/eval.jsonl" --decode) || fail "$d eval-loss dir"
  b=$($bin eval-loss --model "$g" --data "$tmp/eval.jsonl" --decode) || fail "$d eval-loss gguf"
  # F32: the same bits. Q8_0 / Q4_0: the down_proj rows (172 long, not whole blocks) are F16 in the
  # file and stay f32 when quantized on load, so the losses agree to that rounding (exact equality
  # of quantized files and quantization on load: tests/test_gguf_load.c's models with whole blocks)
  if [ $d = f32 ]; then [ "$a" = "$b" ] || fail "$d: eval-loss differs: $a / $b"
  else
    awk -v a="$(loss "$a")" -v b="$(loss "$b")" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d < 2e-3 * a) }' ||
      fail "$d: eval-loss $b vs $a"
  fi
done
a=$($bin tokenize --model "$model" --text "Once upon a time, Lily saw 3 cats.") || fail "tokenize dir"
b=$($bin tokenize --model "$tmp/f32/model.gguf" --text "Once upon a time, Lily saw 3 cats.") || fail "tokenize gguf"
[ "$a" = "$b" ] || fail "tokenize differs: $a / $b"
out=$($bin info --model "$tmp/q8_0/model.gguf") || fail "info"
echo "$out" | grep -q "layers *5, hidden 64" || fail "info: $out"
# refusals, one line each
err=$($bin export --model "$tmp/f32/model.gguf" --out "$tmp/x" 2>&1) && fail "export of a GGUF accepted"
one_line "$err" "is a GGUF file" "export"
printf 'model_name_or_path: %s\nstage: sft\nfinetuning_type: lora\ndataset: x\noutput_dir: %s\n' \
  "$tmp/f32/model.gguf" "$tmp/out" > "$tmp/train.yaml"
err=$($bin train "$tmp/train.yaml" 2>&1) && fail "training a GGUF accepted"
one_line "$err" "model.gguf' is not a directory" "train"
head -c 3000 "$tmp/f32/model.gguf" > "$tmp/cut.gguf"
err=$($bin generate --model "$tmp/cut.gguf" --prompt hi 2>&1) && fail "truncated file accepted"
one_line "$err" "cut.gguf" "truncated file"
echo "ok"
