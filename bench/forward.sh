#!/usr/bin/env bash
# Inference benchmark: prefill and decode speed of a random Qwen2.5-0.5B-shaped bf16 model
# (generated once into /tmp/ctune_bench_qwen05b, ~1 GB, not committed), 1 and 2 threads.
# Usage: bench/forward.sh [BUILD_DIR]; env PREFILL (default 128), DECODE (32), THREADS ("1 2").
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
make -s "$build/libctune.a" BUILD="$build"
flags=$(make -s -f - print <<'MK' 2>/dev/null || true
include Makefile
print: ; @echo $(CFLAGS) ; echo $(LDLIBS)
MK
)
cflags=$(echo "$flags" | sed -n 1p)
ldlibs=$(echo "$flags" | sed -n 2p)
# shellcheck disable=SC2086
gcc $cflags -o "$build/forward_bench" bench/forward_bench.c "$build/libctune.a" $ldlibs
echo "== forward (random Qwen2.5-0.5B-shaped bf16 model) =="
# shellcheck disable=SC2086
"$build/forward_bench" /tmp/ctune_bench_qwen05b "${PREFILL:-128}" "${DECODE:-32}" ${THREADS:-1 2}
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch baseline (same shape, hand-written HF Qwen2 math, KV cache) =="
  # shellcheck disable=SC2086
  /usr/bin/python3 bench/forward_torch.py "${PREFILL:-128}" "${DECODE:-32}" ${THREADS:-1 2}
else
  echo "(PyTorch baseline skipped: /usr/bin/python3 has no torch; scripts/deps.sh --bench)"
fi
