#!/usr/bin/env bash
# Qwen3.5 GGUF files (llama.cpp's qwen35) as models (docs/inference.md, "GGUF models"), without
# llama.cpp (tests/cli/export_gguf_qwen35.sh runs the same files in llama.cpp): the two models of
# tests/gen/make_qwen35_gguf_fixtures.py (4 value heads over 2 key heads, which the file keeps in
# llama.cpp's tiled order; norms stored as 1 + w; one with layer_types [L, F, L, L], one
# vision-language checkpoint) exported as F32 GGUF give the greedy ids and (to f32 rounding) the
# eval-loss of the directory, as BF16 GGUF the eval-loss of its bf16 export to 1e-3; LoRA and DoRA adapters on
# every linear module (in_proj_qkv / z / b / a and out_proj, whose value heads move to the file's
# order) give the same ids and loss on the GGUF base; train refuses the file.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
loss() { echo "$1" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p'; }
close() { # A B WHAT [TOL]: relative 1e-5
  awk -v a="$1" -v b="$2" -v t="${4:-1e-5}" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= t * a) }' ||
    fail "$3: eval-loss $2, directory $1"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '{"text": "Hello world, the cat sat on the mat."}\n{"text": "Risk: overdue payments and one customer."}\n' \
  > "$tmp/eval.jsonl"
gen() { "$bin" generate --model "$1" ${3:+--adapter "$3"} --prompt "$2" --max-new-tokens 24 --format json --threads 1 |
  sed 's/.*"output_ids":\[\([0-9,]*\)\].*/\1/'; }
el() { loss "$("$bin" eval-loss --model "$1" ${2:+--adapter "$2"} --data "$tmp/eval.jsonl" --threads 1)"; }
for m in tiny-qwen3_5-gguf tiny-qwen3_5-gguf-vl; do
  src=tests/fixtures/$m
  for dt in f32 bf16; do
    "$bin" export --format gguf --dtype $dt --model "$src" --out "$tmp/${m}_$dt" >/dev/null || fail "export $m $dt"
  done
  "$bin" export --model "$src" --out "$tmp/${m}_hfbf16" --dtype bf16 >/dev/null || fail "HF bf16 $m"
  g=$tmp/${m}_f32/model.gguf
  [ "$(gen "$src" "Hello world, the cat")" = "$(gen "$g" "Hello world, the cat")" ] || fail "$m f32: greedy ids differ"
  close "$(el "$src")" "$(el "$g")" "$m f32"
  # BF16: the file rounds 1 + w of the norms to bf16 where the bf16 directory rounds w, and keeps
  # ssm_a in F32 where the directory rounds A_log: the same model to bf16 rounding
  close "$(el "$tmp/${m}_hfbf16")" "$(el "$tmp/${m}_bf16/model.gguf")" "$m bf16" 1e-3
  info=$("$bin" info --model "$g") || fail "info $m"
  echo "$info" | grep -q "qwen3_5" || fail "info does not name the architecture: $info"
done

m=tiny-qwen3_5-gguf
g=$tmp/${m}_f32/model.gguf
for dora in false true; do
  "$bin" train tests/fixtures/lf_peft/qwen3_lora_sft.yaml --model_name_or_path tests/fixtures/$m --dataset memo.jsonl \
    --dataset_dir tests/fixtures/trainer --template empty --max_steps 3 --output_dir "$tmp/lora_$dora" --threads 1 \
    --learning_rate 0.01 --warmup_ratio 0 --lora_alpha 32 --bf16 false --use_dora $dora > "$tmp/lora.log" 2>&1 ||
    { tail -5 "$tmp/lora.log"; fail "training (use_dora $dora)"; }
  grep -q in_proj_z "$tmp/lora_$dora/adapter_config.json" || fail "the adapter does not adapt in_proj_z"
  a=$tmp/lora_$dora
  [ "$(gen "tests/fixtures/$m" "Hello world, the cat" "$a")" = "$(gen "$g" "Hello world, the cat" "$a")" ] ||
    fail "use_dora $dora: greedy ids on the GGUF base differ"
  close "$(el "tests/fixtures/$m" "$a")" "$(el "$g" "$a")" "use_dora $dora adapter"
done

out=$("$bin" train tests/fixtures/lf_peft/qwen3_lora_sft.yaml --model_name_or_path "$g" --dataset memo.jsonl \
  --dataset_dir tests/fixtures/trainer --template empty --max_steps 1 --output_dir "$tmp/no" 2>&1) &&
  fail "train accepted a GGUF base"
echo "$out" | grep -q "model.gguf.* is not a directory" || fail "train refusal: $out"
echo "ok"
