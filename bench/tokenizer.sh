#!/usr/bin/env bash
# Tokenizer encode throughput (MB/s) on a generated mixed Chinese/English corpus: ctune with 1 and
# 2 threads, and the JS reference (npm @lenml/tokenizers) when tests/gen/node/node_modules exists.
# Usage: bench/tokenizer.sh [BUILD_DIR] [MEGABYTES]   (needs ../shared/tokenizers/qwen3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mb=${2:-4}
model=${CTUNE_TOKENIZER_DIR:-../shared/tokenizers/qwen3}
[ -f "$model/tokenizer.json" ] || { echo "bench/tokenizer.sh: $model/tokenizer.json not found"; exit 0; }
make -s "$build/libctune.a" BUILD="$build"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/tokenizer_corpus.py "$tmp/corpus.txt" "$mb"
cc -O2 -march=native -std=c17 -D_GNU_SOURCE -Iinclude bench/tokenizer_bench.c "$build/libctune.a" \
   $(pkg-config --libs libpcre2-8 libutf8proc jansson) -fopenmp -lm -o "$tmp/tokenizer_bench"
"$tmp/tokenizer_bench" "$model" "$tmp/corpus.txt" 2 | tee "$tmp/c.txt"
c1=$(awk '/^ctune_1thread_MBps/{print $2}' "$tmp/c.txt")
echo "== Tokenizer (Qwen3, $(awk '/^bytes/{print $2}' "$tmp/c.txt") bytes mixed zh/en) =="
if [ -d tests/gen/node/node_modules/@lenml/tokenizers ] && command -v node >/dev/null; then
  node bench/tokenizer_ref.mjs "$model" "$tmp/corpus.txt" | tee "$tmp/js.txt"
  js=$(awk '/^js_MBps/{print $2}' "$tmp/js.txt")
  same=no
  [ "$(grep checksum "$tmp/c.txt")" = "$(grep checksum "$tmp/js.txt")" ] && same=yes
  echo "ratio ctune_1thread/js $(awk -v a="$c1" -v b="$js" 'BEGIN{printf "%.1f", a/b}')x, identical ids: $same"
else
  echo "JS reference not installed (cd tests/gen/node && npm install) — ratio skipped"
fi
