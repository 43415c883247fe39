#!/usr/bin/env bash
# Inference benchmark: prefill and decode speed of a random Qwen2.5-0.5B-shaped bf16 model
# (generated once into /tmp/ctune_bench_qwen05b, ~1 GB, not committed), 1 and 2 threads, next to
# the same decoder in PyTorch (bench/forward_torch.py, bf16 and fp32) in the same run.
# Usage: bench/forward.sh [BUILD_DIR]; env PREFILL (128; quick 64), DECODE (32; quick 8),
# THREADS ("1 2").
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
pre=${PREFILL:-$(bench_quick && echo 64 || echo 128)}
dec=${DECODE:-$(bench_quick && echo 8 || echo 32)}
echo "== forward: random Qwen2.5-0.5B-shaped bf16 model, prefill $pre tokens, decode $dec tokens =="
bench_cc "$build/forward_bench" bench/forward_bench.c || exit 1
# shellcheck disable=SC2086
"$build/forward_bench" /tmp/ctune_bench_qwen05b "$pre" "$dec" ${THREADS:-1 2} || exit 1
# The same 2-thread run with libgomp's passive wait (a user setting, never set by ctune): shows
# how much of the 2-thread figure other processes on the cores cost (docs/perf.md, Threading).
NO_LORA=1 OMP_WAIT_POLICY=PASSIVE "$build/forward_bench" /tmp/ctune_bench_qwen05b "$pre" "$dec" 2 |
  sed -e 's/^threads/OMP_WAIT_POLICY=PASSIVE threads/' -e 's/^@ fwd_ctune_/@ fwd_passive_/' -e 's/^@ fwd_bf16c_/@ fwd_passive_bf16c_/'
if have_torch; then
  echo "-- PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (same shape, HF Qwen2 math by hand, KV cache) --"
  # shellcheck disable=SC2086
  /usr/bin/python3 bench/forward_torch.py "$pre" "$dec" ${THREADS:-1 2}
else
  echo "PyTorch: baseline unavailable (scripts/deps.sh --bench installs python3-torch)"
fi
exit 0
