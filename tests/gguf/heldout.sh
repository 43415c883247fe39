# The 16 held-out bench stories (bench/data/heldout_stories.jsonl) scored line by line by ctune
# and by llama.cpp (tests/cli/quant_llama_cpp.sh, tests/cli/gguf_kquant_llama_cpp.sh). Sourced
# after bin (the ctune binary), stories (stories260k: its tokenizer), tmp and fail are set.

# Tokenizes the stories into $tmp/ids.jsonl (one id list per line) and $tmp/line<i>.jsonl
# ({"input_ids": ...} for eval-loss); sets nl.
heldout_lines() {
  sed 's/^{"text": \(.*\)}$/\1/' bench/data/heldout_stories.jsonl |
    "$bin" tokenize --model "$stories" --jsonl --add-special-tokens > "$tmp/ids.jsonl" || fail "tokenize"
  nl=$(wc -l < "$tmp/ids.jsonl")
  [ "$nl" -eq 16 ] || fail "expected 16 lines, got $nl"
  for i in $(seq 1 "$nl"); do echo "{\"input_ids\": $(sed -n "${i}p" "$tmp/ids.jsonl")}" > "$tmp/line$i.jsonl"; done
}

# heldout_jobs PREFIX MODEL.gguf: queues llama.cpp's token-by-token NLL of every line on MODEL
# ($tmp/jobs for tests/gguf/llama_cpp_check.mjs batch); line i's result goes to PREFIX<i>.
heldout_jobs() {
  for i in $(seq 1 "$nl"); do
    echo "$1$i $2 - nll32 $(sed -n "${i}p" "$tmp/ids.jsonl" | tr -d '[] ')" >> "$tmp/jobs"
  done
}

# heldout_stats PREFIX MODEL [EVAL-LOSS FLAGS]: |ctune - llama.cpp| per token over the lines,
# ctune's from `eval-loss --threads 1 FLAGS` on MODEL, llama.cpp's from PREFIX<i>; prints
# "exact worst mean" (exact: lines within 1e-6 per token).
heldout_stats() {
  local prefix=$1 m=$2 exact=0 worst=0 sum=0
  shift 2
  for i in $(seq 1 "$nl"); do
    local c l n d
    c=$("$bin" eval-loss --model "$m" --data "$tmp/line$i.jsonl" --threads 1 "$@" |
      sed 's/.*"loss": \([^,]*\), "tokens": \([0-9]*\).*/\1 \2/' | awk '{printf "%.9f\n", $1 * $2}') ||
      fail "ctune eval-loss $m line $i"
    l=$(sed 's/.*"nll":\([^,]*\),.*/\1/' "$prefix$i")
    n=$(sed 's/.*"tokens":\([0-9]*\).*/\1/' "$prefix$i")
    d=$(awk -v a="$c" -v b="$l" -v n="$n" 'BEGIN{d=(a-b)/n; if(d<0)d=-d; printf "%.3e", d}')
    awk -v d="$d" 'BEGIN{exit !(d <= 1e-6)}' && exact=$((exact + 1))
    worst=$(awk -v d="$d" -v w="$worst" 'BEGIN{print (d > w ? d : w)}')
    sum=$(awk -v d="$d" -v s="$sum" 'BEGIN{print s + d}')
  done
  echo "$exact $worst $(awk -v s="$sum" -v n="$nl" 'BEGIN{printf "%.3e", s / n}')"
}
