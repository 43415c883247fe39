#!/usr/bin/env bash
# Regenerates the committed risk-assistant sample files from the generator with fixed seeds.
# Usage: examples/risk/generate.sh [OUT_DIR] (default: examples/risk). CTUNE_BIN overrides the
# binary (default build/ctune). tests/cli/risk_examples.sh checks the output is byte-identical.
set -euo pipefail
bin=${CTUNE_BIN:-build/ctune}
out=${1:-$(dirname "$0")}
"$bin" data synth risk --n 300 --seed 20240601 --format openai   --out "$out/risk_train.jsonl"
"$bin" data synth risk --n 60  --seed 20240602 --format openai   --out "$out/risk_eval.jsonl"
"$bin" data synth risk --n 50  --seed 20240603 --format sharegpt --out "$out/risk_sharegpt.jsonl"
"$bin" data synth risk --n 50  --seed 20240603 --format alpaca   --out "$out/risk_alpaca.jsonl"
"$bin" data synth risk-schema --out "$out/answer.schema.json"
