#!/usr/bin/env bash
# Runs the whole suite: the C unit/golden tests (ctune_tests) and the CLI tests (tests/cli/*.sh).
# Usage: tests/run.sh BUILD_DIR [FILTER]. Prints "N passed, N failed, N skipped" last.
set -u
build=${1:-build}
filter=${2:-}
cd "$(dirname "$0")/.."
export CTUNE_BIN=${CTUNE_BIN:-$build/ctune}
passed=0 failed=0 skipped=0
out=$("$build/ctune_tests" $filter 2> >(cat >&2))
rc=$?
echo "$out"
read -r p f s < <(echo "$out" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
[ $rc -ne 0 ] && [ -z "${f:-}" ] && failed=$((failed + 1)) && echo "  FAIL ctune_tests crashed (rc $rc)"
for t in tests/cli/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  log=$(mktemp)
  start=$(date +%s%N)
  bash "$t" >"$log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "  ok   cli/$name (${ms} ms)"
  elif [ $rc -eq 77 ]; then skipped=$((skipped + 1)); echo "  SKIP cli/$name: $(tail -1 "$log")"
  else failed=$((failed + 1)); echo "  FAIL cli/$name (rc $rc)"; sed 's/^/    /' "$log" | tail -40; fi
  rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
