#!/usr/bin/env bash
# Tokenizer encode throughput (MB/s) on a generated mixed Chinese/English corpus: ctune with 1 and
# 2 threads, and the JS reference (npm @lenml/tokenizers) when tests/gen/node/node_modules exists;
# both must give identical ids (checksum over all ids).
# Usage: bench/tokenizer.sh [BUILD_DIR] [MEGABYTES]   (needs ../shared/tokenizers/qwen3)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
. bench/lib.sh
mb=${2:-$(bench_quick && echo 1 || echo 4)}
model=${CTUNE_TOKENIZER_DIR:-../shared/tokenizers/qwen3}
echo "== tokenizer: Qwen3 encode, ${mb} MB mixed zh/en corpus =="
[ -f "$model/tokenizer.json" ] || { echo "skipped: $model/tokenizer.json not found"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/tokenizer_corpus.py "$tmp/corpus.txt" "$mb" || exit 1
bench_cc "$tmp/tokenizer_bench" bench/tokenizer_bench.c || exit 1
"$tmp/tokenizer_bench" "$model" "$tmp/corpus.txt" 2 | tee "$tmp/c.txt"
awk '/^ctune_1thread_MBps/{print "@ tok_ctune_1t", $2} /^ctune_2threads_MBps/{print "@ tok_ctune_2t", $2}' "$tmp/c.txt"
if have_js_ref; then
  node bench/tokenizer_ref.mjs "$model" "$tmp/corpus.txt" | tee "$tmp/js.txt"
  awk '/^js_MBps/{print "@ tok_js", $2}' "$tmp/js.txt"
  same=0
  [ "$(grep checksum "$tmp/c.txt")" = "$(grep checksum "$tmp/js.txt")" ] && same=1
  echo "identical ids: $same"
  echo "@ tok_same_ids $same"
else
  echo "JS reference: baseline unavailable (scripts/deps.sh --bench installs it)"
fi
exit 0
