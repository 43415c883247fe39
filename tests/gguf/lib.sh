# Shell helpers of the GGUF tests that check ctune's exports in llama.cpp (tests/cli/export_gguf.sh,
# tests/cli/export_gguf_qwen35.sh). Sourced after the caller sets bin (the ctune binary), tmp (a
# scratch directory) and fail (print and exit 1). llama.cpp runs once, over a queue of jobs written
# to $tmp/jobs: job NAME MODEL LORA|- COMMAND ARGS (tests/gguf/llama_cpp_check.mjs), each result
# read back with res NAME.
: > "$tmp/jobs"
job() { echo "$tmp/r_$1 ${*:2}" >> "$tmp/jobs"; }
res() { cat "$tmp/r_$1"; }
ctune_gen() { # MODEL [ADAPTER] IDS N: greedy output ids, comma-separated
  local m=$1 a=""
  [ $# -eq 4 ] && { a="--adapter $2"; shift; }
  "$bin" generate --model "$m" $a --prompt-ids "$2" --max-new-tokens "$3" --format json --threads 1 |
    sed 's/.*"output_ids":\[\([0-9,]*\)\].*/\1/'
}
ctune_nll() { # MODEL SEQ_FILE [ADAPTER [--decode]]: loss * tokens
  "$bin" eval-loss --model "$1" ${3:+--adapter "$3"} ${4:-} --data "$2" --threads 1 |
    sed 's/.*"loss": \([^,]*\), "tokens": \([0-9]*\).*/\1 \2/' | awk '{printf "%.9f\n", $1 * $2}'
}
llama_nll() { res "$1" | sed 's/.*"nll":\([^,]*\),.*/\1/'; }
close() { # A B PER_TOKEN_TOL N WHAT
  awk -v a="$1" -v b="$2" -v t="$3" -v n="$4" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d <= t*n)}' ||
    fail "$5: llama.cpp $1, ctune $2 (tolerance $3 per token over $4 tokens)"
  echo "$5: |llama.cpp - ctune| = $(awk -v a="$1" -v b="$2" -v n="$4" 'BEGIN{d=a-b; if(d<0)d=-d; printf "%.2g", d/n}') per token"
}
export_gguf() { # OUT DTYPE MODEL [more args]
  local o=$1 dt=$2 m=$3
  shift 3
  "$bin" export --format gguf --dtype "$dt" --model "$m" --out "$o" "$@" >/dev/null || fail "export $dt $m $*"
}
