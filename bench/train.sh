#!/usr/bin/env bash
# Training-step benchmark (docs/perf.md "Training"): one LoRA (r=16, all linear) and one full
# fine-tuning step on a random bf16 Qwen2.5-0.5B-shaped model at T=512, next to the same step in
# PyTorch (float32 eager, bf16 autocast) in the same run, plus the measured sgemm peak.
# Usage: bench/train.sh [BUILD_DIR]   env: T=512 LAYERS=24 SKIP_TORCH=1 SKIP_FULL=1
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
T=${T:-512}
LAYERS=${LAYERS:-24}
# train_bench re-executes itself with the environment of src/train/runtime.h (OMP_WAIT_POLICY,
# OPENBLAS_CORETYPE); CTUNE_BENCH_RAW=1 measures without it. PyTorch runs with its defaults.
make -s "$build/libctune.a" >/dev/null || exit 1
PKGS="libpcre2-8 libutf8proc jansson yaml-0.1 openblas"
${CC:-cc} -O2 -march=native -std=c17 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc $(pkg-config --cflags $PKGS) \
  bench/train_bench.c "$build/libctune.a" $(pkg-config --libs $PKGS) -lm -o "$build/train_bench" || exit 1
echo "# train bench: T=$T layers=$LAYERS threads=$(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$build/train_bench" sgemm
CTUNE_BENCH_RAW=1 "$build/train_bench" sgemm
"$build/train_bench" lora "$T" "$LAYERS"
[ -z "${SKIP_FULL:-}" ] && "$build/train_bench" full "$T" "$LAYERS"
if [ -z "${SKIP_TORCH:-}" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for prec in fp32 bf16; do
    /usr/bin/python3 bench/train_torch.py lora $prec "$T" "$LAYERS"
    [ -z "${SKIP_FULL:-}" ] && /usr/bin/python3 bench/train_torch.py full $prec "$T" "$LAYERS"
  done
else
  echo "# PyTorch baseline skipped (SKIP_TORCH set or python3-torch missing)"
fi
exit 0
