# Helpers sourced by bench/*.sh. A benchmark prints human-readable lines plus result lines
# "@ KEY VALUE" that bench/run.sh collects into the summary table (bench/summary.sh).
# Env: BENCH_QUICK=1 shorter runs (smaller sizes, one timed repetition).
bench_quick() { [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; }
have_torch() { /usr/bin/python3 -c 'import torch' 2>/dev/null; }
have_js_ref() {
  command -v node >/dev/null && [ -d tests/gen/node/node_modules/@lenml/tokenizers ] &&
    [ -d tests/gen/node/node_modules/@huggingface/jinja ]
}
# bench_cc OUT SRC: compiles a bench program against $build/libctune.a with the Makefile's flags.
bench_cc() {
  local pk="libpcre2-8 libutf8proc jansson yaml-0.1 openblas"
  pkg-config --exists ompi-c 2>/dev/null && pk="$pk ompi-c" # the MPI build's libctune (Makefile MPI)
  make -s "$build/libctune.a" BUILD="$build" >/dev/null || return 1
  # shellcheck disable=SC2046
  ${CC:-cc} -O2 -march=native -std=c17 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc $(pkg-config --cflags $pk) \
    -o "$1" "$2" "$build/libctune.a" $(pkg-config --libs $pk) -lm
}
# awk program text for results recorded as "KEY VALUE" lines, a key once per round: v[KEY] is
# the median of its values (the memory bandwidth of a shared machine drifts by 10-20 % within a
# minute, so decode figures are medians of rounds). Used as: awk "$BENCH_MEDIAN_AWK"' END { ... }'
BENCH_MEDIAN_AWK='
{ n = ++cnt[$1]; all[$1, n] = $2 }
END {
  for (k in cnt) {
    m = cnt[k]
    for (i = 1; i <= m; i++) s[i] = all[k, i]
    for (i = 2; i <= m; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { x = s[j]; s[j] = s[j - 1]; s[j - 1] = x }
    v[k] = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
  }
}'
