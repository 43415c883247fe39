#!/usr/bin/env bash
# Training-step benchmark (docs/perf.md): LoRA (r=16, all linear) and full fine-tuning steps on a
# random bf16 Qwen2.5-0.5B-shaped model, next to the same step in PyTorch (float32 eager and bf16
# autocast) in the same run, plus the sgemm peak through ct_sgemm on 1 and all threads.
# Each engine: one warm-up step, then STEPS timed steps (median); ctune and PyTorch alternate
# per method so both see the same machine load.
# Usage: bench/train.sh [BUILD_DIR]   env: T (512; quick 128) LAYERS (24; quick 6) STEPS (3; quick 1)
#        SKIP_TORCH=1 SKIP_FULL=1 SKIP_7B=1 (the Qwen2.5-7B QLoRA rows, ~10 min; skipped when quick)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
T=${T:-$(bench_quick && echo 128 || echo 512)}
LAYERS=${LAYERS:-$(bench_quick && echo 6 || echo 24)}
export STEPS=${STEPS:-$(bench_quick && echo 1 || echo 3)}
echo "== training step: T=$T, $LAYERS layers, median of $STEPS steps, $(nproc) threads =="
bench_cc "$build/train_bench" bench/train_bench.c || exit 1
THREADS=1 "$build/train_bench" sgemm
"$build/train_bench" sgemm
torch_ok=0
if [ -z "${SKIP_TORCH:-}" ] && have_torch; then torch_ok=1; fi
[ $torch_ok = 1 ] || echo "PyTorch: baseline unavailable (scripts/deps.sh --bench installs python3-torch)"
methods="lora"
[ -z "${SKIP_FULL:-}" ] && methods="lora full"
for m in $methods; do
  "$build/train_bench" "$m" "$T" "$LAYERS"
  # bf16 compute (bf16: true, autocast semantics) next to PyTorch's bf16 autocast
  BF16=1 "$build/train_bench" "$m" "$T" "$LAYERS"
  if [ $torch_ok = 1 ]; then
    for prec in fp32 bf16; do /usr/bin/python3 bench/train_torch.py "$m" "$prec" "$T" "$LAYERS"; done
  fi
done
# Qwen3.5-0.8B shapes (18 Gated DeltaNet + 6 gated attention layers of 24; LAYERS of them), next
# to the Qwen2.5-0.5B rows above, with the chunked delta rule's share of the step
SHAPE=qwen3.5-0.8b "$build/train_bench" lora "$T" "$LAYERS"
SHAPE=qwen3.5-0.8b BF16=1 "$build/train_bench" lora "$T" "$LAYERS"
# QLoRA (NF4 + double quantization, bf16 compute) next to the bf16 LoRA step on the same shapes
BF16=1 "$build/train_bench" qlora "$T" "$LAYERS"
# Qwen2.5-7B shapes, cutoff 1024, batch 1, gradient checkpointing: QLoRA's peak RSS with all 28
# layers (goal < 8 GiB), and the QLoRA / bf16 LoRA step-time ratio on 4 layers (the 16-bit 7B
# would not fit next to everything else in 24 GiB; the per-layer ratio does not depend on depth)
if [ -z "${SKIP_7B:-}" ] && ! bench_quick; then
  echo "== Qwen2.5-7B shapes: QLoRA nf4 + double quant, T=1024, gradient checkpointing =="
  SHAPE=7b CKPT=1 BF16=1 STEPS=1 "$build/train_bench" qlora 1024 28 | sed 's/^@ train_ctune_qlora_bf16_/@ train_7b_qlora_/'
  for m in qlora lora; do
    SHAPE=7b CKPT=1 BF16=1 STEPS=1 "$build/train_bench" "$m" 1024 4 | sed "s/^@ train_ctune_${m}_bf16_/@ train_7b4_${m}_/"
  done
fi
exit 0
