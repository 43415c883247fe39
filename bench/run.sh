#!/usr/bin/env bash
# Runs every benchmark script bench/*.sh (except this one) with the build dir as argument.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  bash "$b" "$build" || { echo "bench: $b failed"; rc=1; }
done
exit $rc
