#!/usr/bin/env bash
# `make bench`: runs every benchmark (tokenizer, data pipeline, forward, training) against its
# baseline (JS reference / PyTorch) in one go on this machine, then prints ONE summary table
# (bench/summary.sh). Result lines "@ KEY VALUE" from the benchmarks are collected, not shown.
# Usage: bench/run.sh [BUILD_DIR]   env: BENCH_QUICK=1 (about 3 minutes instead of ~12),
#        BENCH_RESULTS=FILE (keep the raw results)
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
res=${BENCH_RESULTS:-$(mktemp)}
: > "$res"
start=$(date +%s)
echo "# ctune bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}${BENCH_QUICK:+, BENCH_QUICK}"
for b in tokenizer data forward decode decode_quant decode_qwen35 gemm_bf16 train eval_mcq eval_gen; do
  # a shell loop, not awk: mawk reads a pipe in blocks, which would hold back the progress lines
  bash "bench/$b.sh" "$build" 2>&1 | while IFS= read -r line; do
    case $line in "@ "*) echo "${line#@ }" >> "$res" ;; *) printf '%s\n' "$line" ;; esac
  done
  [ "${PIPESTATUS[0]}" = 0 ] || echo "bench: bench/$b.sh failed (its rows show as missing)"
done
echo
echo "# total bench time: $(( $(date +%s) - start )) s, load at the end $(cut -d" " -f1-3 /proc/loadavg)"
bash bench/summary.sh "$res"
[ -n "${BENCH_RESULTS:-}" ] || rm -f "$res"
exit 0
