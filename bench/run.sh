#!/usr/bin/env bash
# Runs every bench/*.sh (except this one) with the build directory as argument.
build=${1:-build}
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  echo "== $b"
  bash "$b" "$build" || rc=1
done
exit $rc
