#!/usr/bin/env bash
# bf16 GEMM on the Qwen2.5-0.5B training shapes: ctune's AVX512-BF16 kernel vs oneDNN (what
# PyTorch uses for bf16 on CPU) vs OpenBLAS f32 sgemm, forward / dx / dW, on 1 and 2 threads
# (bench/gemm_bf16_bench.c). oneDNN is optional: without its header or library (Debian
# libdnnl-dev) the script says so and times ctune and sgemm only. Not part of `make test`.
# Usage: bench/gemm_bf16.sh [BUILD_DIR]   env: T (512; quick 128) REPS (7; quick 3) THREADS ("1 2")
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
T=${T:-$(bench_quick && echo 128 || echo 512)}
export REPS=${REPS:-$(bench_quick && echo 3 || echo 7)}
THREADS=${THREADS:-"1 2"}
dnn_flags=()
if echo '#include <oneapi/dnnl/dnnl.h>
int main(void) { return (int)dnnl_version()->major; }' | ${CC:-cc} -x c - -ldnnl -o /dev/null 2>/dev/null; then
  dnn_flags=(-DCT_HAVE_DNNL -ldnnl)
else
  echo "oneDNN: header or library missing (apt-get install libdnnl-dev); skipping its column"
fi
# bench_cc with oneDNN's flags appended (the compiler sees them after the sources)
bench_cc_dnn() {
  local pk="libpcre2-8 libutf8proc jansson yaml-0.1 openblas"
  pkg-config --exists ompi-c 2>/dev/null && pk="$pk ompi-c" # the MPI build's libctune (Makefile MPI)
  make -s "$build/libctune.a" BUILD="$build" >/dev/null || return 1
  # shellcheck disable=SC2046
  ${CC:-cc} -O2 -march=native -std=c17 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc $(pkg-config --cflags $pk) \
    -o "$1" "$2" "$build/libctune.a" $(pkg-config --libs $pk) "${dnn_flags[@]}" -lm
}
bench_cc_dnn "$build/gemm_bf16_bench" bench/gemm_bf16_bench.c || exit 1
echo "load average: $(cat /proc/loadavg)"
# shellcheck disable=SC2086
"$build/gemm_bf16_bench" "$T" $THREADS
echo "load average: $(cat /proc/loadavg)"
