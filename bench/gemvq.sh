#!/usr/bin/env bash
# Quantized decode GEMV microbenchmark (bench/gemvq_bench.c): Q8_0 / Q4_0, one thread, a
# Qwen2.5-0.5B layer's matrices, hot (in cache) and cold (LAYERS layers). With BEFORE=path to
# another build's libctune.a (e.g. one without the 8-row packing) the same program is linked
# against it too and the two run in turn, twice, so both see the same machine load.
# Usage: bench/gemvq.sh [BUILD_DIR]; env T (tokens per call, "1 8"), LAYERS (24), BEFORE.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
bench_cc "$build/gemvq_bench" bench/gemvq_bench.c || exit 1
if [ -n "${BEFORE:-}" ]; then
  pk="libpcre2-8 libutf8proc jansson yaml-0.1 openblas"
  # shellcheck disable=SC2046
  ${CC:-cc} -O2 -march=native -std=c17 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc $(pkg-config --cflags $pk) \
    -o "$build/gemvq_bench_before" bench/gemvq_bench.c "$BEFORE" $(pkg-config --libs $pk) -lm || exit 1
fi
for t in ${T:-1 8}; do
  for round in 1 2; do
    echo "-- T=$t round $round, load: $(uptime | sed 's/.*load average: //')"
    [ -n "${BEFORE:-}" ] && T=$t "$build/gemvq_bench_before" before
    T=$t "$build/gemvq_bench" after
  done
done
