#!/usr/bin/env bash
# Before/after benchmark (docs/perf.md, "Before/after comparison"): ctune at BASE_REV ("before")
# against this working tree ("after"), in one run on the same machine. No PyTorch.
#   - BASE_REV is checked out in a detached git worktree /tmp/ctune-base-<shortsha> (kept and
#     reused by later runs; `git worktree remove --force DIR` deletes it) and built there with
#     its own Makefile (build/libctune.a); this tree is built into BUILD_DIR.
#   - Each tree's OWN bench/forward_bench.c and bench/train_bench.c are compiled against that
#     tree's headers and libctune.a (its bench/lib.sh bench_cc, run inside that tree), so the
#     two trees may have different internal APIs.
#   - Rows: prefill and decode tok/s per thread count (forward_bench on /tmp/ctune_bench_qwen05b,
#     written once), LoRA and full fine-tuning step tok/s and peak RSS (train_bench, the T /
#     LAYERS / STEPS of bench/train.sh), read from the programs' "@ KEY VALUE" lines.
#   - REPEAT rounds; in each round every benchmark runs once per side, back to back, the side
#     that goes first alternating between rounds (before, after | after, before | ...), so both
#     sides see the same machine load. Per side the BEST value is kept (highest tok/s, lowest
#     RSS): load from other processes only ever slows a run down. AGG=median keeps the median.
#   - Prints one markdown table: before, after, after/before; "REGRESSION" marks a throughput
#     more than 5 % lower or a peak RSS more than 2 % higher.
# Usage: bench/compare.sh BASE_REV [BUILD_DIR=build]
# Env: REPEAT (2), AGG (best | median), BENCH_QUICK=1 (quick sizes, as bench/forward.sh and
#      bench/train.sh), PREFILL, DECODE, THREADS ("1 2": forward only; train steps use all
#      cores, as bench/train.sh), T, LAYERS, STEPS,
#      COMPARE_RESULTS=FILE (keep the raw samples: "SIDE KEY VALUE" lines).
# Exit status: 0 when every row has both values, 1 when a row is missing or a build failed,
# 2 on a usage error. Regressions do not change it (read the table; only a quiet machine counts).
set -uo pipefail
usage() { echo "usage: bench/compare.sh BASE_REV [BUILD_DIR]   (env REPEAT, AGG, BENCH_QUICK)" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then usage; fi
cd "$(dirname "$0")/.." || exit 1
here=$(pwd)
build=${2:-build}
# shellcheck source=bench/lib.sh
. bench/lib.sh
repeat=${REPEAT:-2}
agg=${AGG:-best}
case $repeat in '' | *[!0-9]* | 0) echo "compare: REPEAT must be a positive integer" >&2; exit 2 ;; esac
case $agg in best | median) ;; *) echo "compare: AGG must be best or median" >&2; exit 2 ;; esac
pre=${PREFILL:-$(bench_quick && echo 64 || echo 128)}
dec=${DECODE:-$(bench_quick && echo 8 || echo 32)}
threads=${THREADS:-1 2}
T=${T:-$(bench_quick && echo 128 || echo 512)}
LAYERS=${LAYERS:-$(bench_quick && echo 6 || echo 24)}
export STEPS=${STEPS:-$(bench_quick && echo 1 || echo 3)}
model=/tmp/ctune_bench_qwen05b

sha=$(git rev-parse --verify -q "$1^{commit}") || { echo "compare: '$1' is not a commit of this repository" >&2; exit 2; }
short=$(git rev-parse --short "$sha")
base=/tmp/ctune-base-$short
head_desc="$(git rev-parse --short HEAD)$(git status --porcelain --untracked-files=no | grep -q . && echo ' + uncommitted changes')"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
res=${COMPARE_RESULTS:-$work/results}
: > "$res"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
echo "== ctune before/after: before = $short ($(git log -1 --format=%s "$sha" | cut -c1-70)), after = working tree ($head_desc)"
echo "== $repeat round(s), $agg per side; prefill $pre / decode $dec tokens on threads $threads; train T=$T, $LAYERS layers, STEPS=$STEPS${BENCH_QUICK:+, BENCH_QUICK}"

# ---- the base worktree (reused when it is there and at the right commit)
if [ -e "$base" ]; then
  got=$(git -C "$base" rev-parse -q --verify HEAD 2>/dev/null)
  if [ "$got" != "$sha" ]; then
    echo "compare: $base exists but is not a checkout of $short; remove it (git worktree remove --force $base)" >&2
    exit 1
  fi
  echo "-- reusing $base"
else
  # -f: a worktree registered at this path whose directory was deleted (e.g. /tmp cleaned) is re-added
  git worktree add -f --detach "$base" "$sha" >/dev/null 2>"$work/wt.log" || {
    cat "$work/wt.log" >&2; echo "compare: cannot create the worktree $base" >&2; exit 1; }
  echo "-- created worktree $base"
fi

# ---- builds: each tree's library with its own Makefile, each tree's bench programs with its own
# bench_cc (its headers, its libctune.a, its link flags)
build_tree() { # SIDE DIR BUILD
  local side=$1 dir=$2 b=$3 t0=$SECONDS
  echo "-- building $side: $dir/$b/libctune.a, forward_bench, train_bench"
  if ! make -C "$dir" -j"$(nproc)" BUILD="$b" "$b/libctune.a" > "$work/build-$side.log" 2>&1; then
    tail -30 "$work/build-$side.log" >&2; echo "compare: building $side failed" >&2; return 1
  fi
  (
    cd "$dir" || exit 1
    # shellcheck disable=SC1091
    [ -f bench/lib.sh ] && . bench/lib.sh
    if ! declare -F bench_cc >/dev/null; then # a tree from before bench_cc: the same command
      bench_cc() {
        local pk="libpcre2-8 libutf8proc jansson yaml-0.1 openblas"
        # shellcheck disable=SC2046,SC2086
        ${CC:-cc} -O2 -march=native -std=c17 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc $(pkg-config --cflags $pk) \
          -o "$1" "$2" "$build/libctune.a" $(pkg-config --libs $pk) -lm
      }
    fi
    # bench_cc reads $build: this tree's build directory
    build=$b bench_cc "$b/forward_bench" bench/forward_bench.c && build=$b bench_cc "$b/train_bench" bench/train_bench.c
  ) >> "$work/build-$side.log" 2>&1 || {
    tail -30 "$work/build-$side.log" >&2; echo "compare: compiling $side's bench programs failed" >&2; return 1; }
  echo "   done in $((SECONDS - t0)) s"
}
build_tree before "$base" build || exit 1
build_tree after "$here" "$build" || exit 1
declare -A bin=([before]="$base/build" [after]="$here/$build")
[[ $build = /* ]] && bin[after]=$build

# ---- the model (written once, shared with make bench) and an untimed warm-up of its pages
if [ ! -f "$model/model.safetensors" ]; then echo "-- writing the random Qwen2.5-0.5B-shaped model to $model (once)"; fi
"${bin[after]}/forward_bench" "$model" 1 1 1 > "$work/warmup.log" 2>&1 || {
  tail -20 "$work/warmup.log" >&2; echo "compare: forward_bench warm-up failed" >&2; exit 1; }

# ---- timed runs
run_one() { # SIDE KIND ROUND: runs one benchmark, appends "SIDE KEY VALUE" lines to $res
  local side=$1 kind=$2 round=$3 log="$work/$1-$2-$3.log" t0=$SECONDS rc
  # shellcheck disable=SC2086
  case $kind in
    forward) "${bin[$side]}/forward_bench" "$model" "$pre" "$dec" $threads > "$log" 2>&1 ;;
    # all cores, as bench/train.sh (train_bench would read THREADS, the forward thread list, as its count)
    lora | full) env -u THREADS "${bin[$side]}/train_bench" "$kind" "$T" "$LAYERS" > "$log" 2>&1 ;;
  esac
  rc=$?
  local vals
  vals=$(awk -v s="$side" '/^@ / { print s, $2, $3 }' "$log")
  [ -n "$vals" ] && echo "$vals" >> "$res"
  printf '   round %d/%d %-6s %-7s %4d s  %s\n' "$round" "$repeat" "$side" "$kind" $((SECONDS - t0)) \
    "$(awk '/^@ / { printf "%s=%s ", $2, $3 }' "$log")"
  if [ $rc != 0 ]; then echo "   $side $kind failed (rc $rc):"; tail -5 "$log" | sed 's/^/     /'; fi
}
for ((r = 1; r <= repeat; r++)); do
  if ((r % 2)); then order="before after"; else order="after before"; fi
  for kind in forward lora full; do
    for side in $order; do run_one "$side" "$kind" "$r"; done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table
echo
echo "# ctune before/after $(date -u +%Y-%m-%dT%H:%MZ),$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), nproc $(nproc)," \
  "load $load_start at start, $load_end at end, $(($(date +%s) - start)) s, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}${BENCH_QUICK:+, BENCH_QUICK}"
echo "# before = $short, after = working tree ($head_desc); $agg of $repeat run(s) per side$([ "$agg" = best ] &&
  echo ' (highest tok/s, lowest RSS)'); REGRESSION = tok/s < 0.95x or RSS > 1.02x before"
echo
rows=""
for t in $threads; do
  s=$([ "$t" = 1 ] && echo "" || echo s)
  rows+="prefill, $t thread$s|tok/s|fwd_ctune_prefill_${t}t"$'\n'
  rows+="decode, $t thread$s|tok/s|fwd_ctune_decode_${t}t"$'\n'
done
rows+="train step LoRA r=16|tok/s|train_ctune_lora_tok_s"$'\n'
rows+="train step LoRA r=16, peak RSS|MiB|train_ctune_lora_rss_mib"$'\n'
rows+="train step full fine-tuning|tok/s|train_ctune_full_tok_s"$'\n'
rows+="train step full fine-tuning, peak RSS|MiB|train_ctune_full_rss_mib"
printf '%s\n' "$rows" | awk -F'|' -v agg="$agg" -v res="$res" '
function pick(side, key,   n, a, i, j, x, lower) {
  n = split(vals[side, key], a, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j] + 0 < a[j - 1] + 0; j--) { x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
  if (agg == "median") return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  lower = key ~ /_rss_mib$/
  return lower ? a[1] : a[n]
}
BEGIN {
  while ((getline line < res) > 0) { split(line, f, " "); vals[f[1], f[2]] = vals[f[1], f[2]] " " f[3] }
  printf "| %-38s | %-5s | %10s | %10s | %12s | %-10s |\n", "row", "unit", "before", "after", "after/before", ""
  print "|----------------------------------------|-------|-----------:|-----------:|-------------:|------------|"
}
NF >= 3 {
  b = pick("before", $3); a = pick("after", $3); note = ""; ratio = "-"
  if (b == "" || a == "") { missing++; note = "missing" }
  else if (b + 0 > 0) {
    ratio = sprintf("%.2f", a / b)
    if ($3 ~ /_rss_mib$/ ? a / b > 1.02 : a / b < 0.95) { note = "REGRESSION"; reg++ }
  }
  printf "| %-38s | %-5s | %10s | %10s | %12s | %-10s |\n", $1, $2, b == "" ? "-" : b, a == "" ? "-" : a, ratio, note
}
END {
  printf "\n%d regression%s, %d missing row%s\n", reg, reg == 1 ? "" : "s", missing, missing == 1 ? "" : "s"
  exit missing ? 1 : 0
}'
