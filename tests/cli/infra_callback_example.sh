#!/usr/bin/env bash
# Builds examples/callback_example.c against libctune and checks the CSV it records.
set -eu
build=$(dirname "$CTUNE_BIN")
[ -f "$build/libctune.a" ] || { echo "libctune.a not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s BUILD="$build" "$build/callback_example" >/dev/null
"$build/callback_example" "$tmp/m.csv" 2>"$tmp/err"
grep -q "rows written" "$tmp/err"
head -1 "$tmp/m.csv" | grep -qx "step,epoch,loss,eval_loss,learning_rate,grad_norm,tokens_per_s"
# loss 2*exp(-0.25 s) < 0.05 first at step 15 -> the callback stops the run there;
# rows: 15 log rows + evals at 5, 10, 15
[ "$(tail -n +2 "$tmp/m.csv" | wc -l)" -eq 18 ] || { cat "$tmp/m.csv"; exit 1; }
tail -1 "$tmp/m.csv" | grep -q "^15,"
echo ok
