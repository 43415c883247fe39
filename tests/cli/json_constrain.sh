#!/usr/bin/env bash
# Constrained decoding from the CLI (docs/inference.md, "Constrained decoding"): --json-object on
# stories260k gives one JSON object; bad schemas and option clashes fail with the file named; the
# risk assistant's schema on the demo model (a from-scratch Qwen3-architecture model with the
# real 151k Qwen3 vocabulary, as `make demo` builds it) gives 100 % schema-valid answers.
set -euo pipefail
bin=${CTUNE_BIN:-build/ctune}
shared=${CTUNE_SHARED:-../shared}
model=$shared/models/stories260k
qwen3=$shared/tokenizers/qwen3
if [ ! -d "$model" ] || [ ! -d "$qwen3" ]; then echo "stories260k / the qwen3 tokenizer not found under $shared"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$bin" generate --model "$model" --prompt "Once upon a time" --json-object --json-ws 0 --max-new-tokens 40 \
  --json-stats > "$tmp/out.txt" 2> "$tmp/err.txt"
out=$(cat "$tmp/out.txt")
case "$out" in \{*\}) ;; *) fail "not an object: $out" ;; esac
grep -q "constrained decoding: 40 masks\|constrained decoding: [0-9]* masks" "$tmp/err.txt" || fail "no stats: $(cat "$tmp/err.txt")"
if printf '%s' "$out" | grep -q '[[:space:]]'; then
  # --json-ws 0: only whitespace inside strings may appear; none outside them in this output
  printf '%s' "$out" | tr -d '\n' | sed 's/"[^"]*"//g' | grep -q '[[:space:]]' && fail "whitespace with --json-ws 0: $out"
fi

echo '{"type":"string","pattern":"^a"}' > "$tmp/bad.json"
if "$bin" generate --model "$model" --prompt x --json-schema "$tmp/bad.json" 2> "$tmp/err"; then fail "pattern accepted"; fi
grep -q "bad.json.*keyword 'pattern'" "$tmp/err" || fail "$(cat "$tmp/err")"
echo '{"type":"string","minLength":3,"maxLength":1}' > "$tmp/unsat.json"
if "$bin" generate --model "$model" --prompt x --json-schema "$tmp/unsat.json" 2> "$tmp/err"; then fail "unsat accepted"; fi
grep -q "unsat.json: schema at # can never be satisfied" "$tmp/err" || fail "$(cat "$tmp/err")"
if "$bin" generate --model "$model" --prompt x --json-schema "$tmp/nope.json" 2> "$tmp/err"; then fail "missing file"; fi
grep -q "nope.json" "$tmp/err" || fail "$(cat "$tmp/err")"
if "$bin" generate --model "$model" --prompt x --json-schema "$tmp/bad.json" --json-object 2> "$tmp/err"; then fail "both"; fi
grep -q "one of --json-schema FILE and --json-object" "$tmp/err" || fail "$(cat "$tmp/err")"

# The demo model: random weights, so every answer's validity comes from the constraint (and the
# token budget: 300 new tokens as `make demo`; the canonical completion is forced once it only just fits).
"$bin" init-model --arch qwen3 --hidden-size 64 --layers 4 --heads 4 --kv-heads 2 --head-dim 16 \
  --intermediate-size 256 --tokenizer "$qwen3" --out "$tmp/base" --seed 1 --dtype bf16 > /dev/null
# one answer under sanitizers (the 151k-token masks are ~5x slower there), two otherwise
n_ans=2
[ -n "${CTUNE_SANITIZE:-}" ] && n_ans=1
"$bin" data synth risk --n "$n_ans" --seed 20240612 --format openai --think-ratio 0 --tools-ratio 0 --multi-turn-ratio 0 \
  --english-ratio 0 --sensitive-ratio 0 --out "$tmp/eval.jsonl" > /dev/null
"$bin" eval-risk prompts --data "$tmp/eval.jsonl" --out "$tmp/prompts.jsonl"
"$bin" generate-batch --model "$tmp/base" --input "$tmp/prompts.jsonl" --output "$tmp/pred.jsonl" \
  --enable-thinking false --max-new-tokens 300 --json-schema examples/risk/answer.schema.json --json-stats \
  2> "$tmp/gen.err" || fail "$(cat "$tmp/gen.err")"
"$bin" eval-risk score --data "$tmp/eval.jsonl" --pred "$tmp/pred.jsonl" --out "$tmp/score.json" > /dev/null
grep -q '"json_valid_rate":1.0000' "$tmp/score.json" || fail "not all valid: $(cat "$tmp/score.json") $(cat "$tmp/pred.jsonl")"
# without the constraint the same model writes no valid answer
"$bin" generate-batch --model "$tmp/base" --input "$tmp/prompts.jsonl" --output "$tmp/free.jsonl" \
  --enable-thinking false --max-new-tokens 20 2> /dev/null
"$bin" eval-risk score --data "$tmp/eval.jsonl" --pred "$tmp/free.jsonl" --out "$tmp/free.json" > /dev/null
grep -q '"json_valid_rate":0.0000' "$tmp/free.json" || fail "unconstrained: $(cat "$tmp/free.json")"
grep "constrained decoding" "$tmp/gen.err"
# a budget below the schema's shortest value is refused up front (one line, names max_new_tokens)
if "$bin" generate-batch --model "$tmp/base" --input "$tmp/prompts.jsonl" --output "$tmp/short.jsonl" \
  --enable-thinking false --max-new-tokens 40 --json-schema examples/risk/answer.schema.json 2> "$tmp/err"; then
  fail "a 40-token budget accepted"; fi
[ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "max_new_tokens 40 is below the [0-9]* tokens" "$tmp/err" || fail "$(cat "$tmp/err")"
need=$(sed -n 's/.*below the \([0-9]*\) tokens.*/\1/p' "$tmp/err")
# sampled at temperature 1 with a budget just above that minimum: always complete and valid
for seed in 1 2 3; do
  "$bin" generate-batch --model "$tmp/base" --input "$tmp/prompts.jsonl" --output "$tmp/s$seed.jsonl" --enable-thinking false \
    --max-new-tokens $((need + 2)) --temperature 1 --seed "$seed" --json-schema examples/risk/answer.schema.json 2> "$tmp/err" \
    || fail "seed $seed: $(cat "$tmp/err")"
  "$bin" eval-risk score --data "$tmp/eval.jsonl" --pred "$tmp/s$seed.jsonl" --out "$tmp/s$seed.json" > /dev/null
  grep -q '"json_valid_rate":1.0000' "$tmp/s$seed.json" || fail "seed $seed, budget $((need + 2)): $(cat "$tmp/s$seed.jsonl")"
done
echo ok
