#!/usr/bin/env bash
# --adapter for generate / eval-loss, and `ctune export`: the merged f32 model's eval-loss equals
# base + adapter within 1e-5 relative and greedy generation is identical; bf16 export; errors.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
base=tests/fixtures/tiny-qwen3 ad=tests/fixtures/adapters/qwen3-lora
loss() { echo "$1" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p'; }
printf '{"input_ids": [5, 9, 17, 33, 2, 88, 41]}\n{"input_ids": [100, 3, 7, 7, 64, 12, 1, 90, 4]}\n' > "$tmp/eval.jsonl"
b=$($bin eval-loss --model $base --data "$tmp/eval.jsonl") || fail "base eval-loss"
a=$($bin eval-loss --model $base --adapter $ad --data "$tmp/eval.jsonl") || fail "adapter eval-loss"
[ "$(loss "$a")" != "$(loss "$b")" ] || fail "the adapter did not change the loss ($a)"
out=$($bin export --model $base --adapter $ad --out "$tmp/merged") || fail "export"
echo "$out" | grep -q "merged 14 tensor" || fail "export summary: $out"
for f in config.json model.safetensors; do [ -f "$tmp/merged/$f" ] || fail "no $f in the export"; done
ls -a "$tmp" | grep -q tmp && fail "temp dir left behind: $(ls -a "$tmp")"
m=$($bin eval-loss --model "$tmp/merged" --data "$tmp/eval.jsonl") || fail "merged eval-loss"
awk -v x="$(loss "$a")" -v y="$(loss "$m")" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-5 * x) }' \
  || fail "merged loss $(loss "$m") != adapted $(loss "$a")"
g1=$($bin generate --model $base --adapter $ad --prompt-ids 5,9,17 --max-new-tokens 10 --greedy --format json)
g2=$($bin generate --model "$tmp/merged" --prompt-ids 5,9,17 --max-new-tokens 10 --greedy --format json)
[ "$g1" = "$g2" ] || fail "generation differs: $g1 / $g2"
# QLoRA: export into dequant(NF4 base) gives the loss the adapter has on the quantized base
q=$($bin eval-loss --model $base --adapter $ad --data "$tmp/eval.jsonl" --quantization-bit 4) || fail "4-bit eval-loss"
[ "$(loss "$q")" != "$(loss "$a")" ] || fail "--quantization-bit changed nothing ($q)"
$bin export --model $base --adapter $ad --out "$tmp/merged4" --quantization-bit 4 --dtype f32 >/dev/null || fail "4-bit export"
grep -q quantization_config "$tmp/merged4/config.json" && fail "exported config keeps quantization_config"
m=$($bin eval-loss --model "$tmp/merged4" --data "$tmp/eval.jsonl") || fail "merged4 eval-loss"
awk -v x="$(loss "$q")" -v y="$(loss "$m")" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-5 * x) }' \
  || fail "dequant(W4) merged loss $(loss "$m") != QLoRA loss $(loss "$q")"
err=$($bin eval-loss --model $base --data "$tmp/eval.jsonl" --quantization-bit 3 2>&1) && fail "3 bits accepted"
echo "$err" | grep -q -- "--quantization-bit 4|8" || fail "3-bit message: $err"
# prompt tuning at inference changes the output; its export is refused
p=$($bin generate --model $base --adapter tests/fixtures/adapters/qwen3-prompt --prompt-ids 5,9,17 --max-new-tokens 10 --greedy --format json)
[ "$p" != "$($bin generate --model $base --prompt-ids 5,9,17 --max-new-tokens 10 --greedy --format json)" ] || fail "prompt adapter changed nothing"
err=$($bin export --model $base --adapter tests/fixtures/adapters/qwen3-prompt --out "$tmp/p" 2>&1) && fail "prompt export accepted"
echo "$err" | grep -q "prompt-tuning adapter" || fail "prompt export message: $err"
[ -e "$tmp/p" ] && fail "refused export left $tmp/p"
# existing output needs --force; --dtype bf16
err=$($bin export --model $base --adapter $ad --out "$tmp/merged" 2>&1) && fail "overwrite accepted"
echo "$err" | grep -q "already exists" || fail "overwrite message: $err"
$bin export --model $base --adapter $ad --out "$tmp/merged" --force --dtype bf16 >/dev/null || fail "export --force --dtype bf16"
grep -q '"torch_dtype": "bfloat16"' "$tmp/merged/config.json" || fail "bf16 config: $(cat "$tmp/merged/config.json")"
head -c 200 "$tmp/merged/model.safetensors" | grep -q '"BF16"' || fail "weights not BF16"
err=$($bin export --model $base --adapter $ad --out "$tmp/x" --dtype q4 2>&1) && fail "bad dtype accepted"
echo "$err" | grep -q "bf16, f16 or f32" || fail "dtype message: $err"
# an adapter for another model names the tensor
err=$($bin generate --model $base --adapter tests/fixtures/adapters/qwen2-lora-layers --prompt-ids 1 2>&1) && fail "mismatched adapter accepted"
echo "$err" | grep -q "layers.1.self_attn.q_proj.lora_B.weight" || fail "mismatch message: $err"
err=$($bin eval-loss --model $base --adapter "$tmp" --data "$tmp/eval.jsonl" 2>&1) && fail "non-adapter dir accepted"
echo "$err" | grep -q "adapter_config.json" || fail "non-adapter message: $err"
echo ok
