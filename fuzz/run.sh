#!/usr/bin/env bash
# Runs every libFuzzer harness (or the one named by $3) for $2 seconds each, one at a time.
# Corpora grow in build-fuzz/corpus/<harness>/ (seeded from tests/fixtures and fuzz/seeds/);
# crashes are written to build-fuzz/artifacts/ and fail the run.
#   bash fuzz/run.sh build-fuzz 30 [fuzz_safetensors]
set -u
out=${1:-build-fuzz}
secs=${2:-30}
only=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# seed files from tests/fixtures per harness (globs; missing ones are ignored)
seeds_for() {
  case "$1" in
    fuzz_safetensors) ls tests/fixtures/tiny-*/model*.safetensors ;;
    fuzz_model_config) ls tests/fixtures/tiny-*/config.json ;;
    fuzz_conv|fuzz_dataset_file)
      ls tests/fixtures/data/*.jsonl tests/fixtures/data/alpaca.json tests/fixtures/model/eval.jsonl ;;
    fuzz_risk_eval) ls examples/risk/risk_eval.jsonl ;;
    fuzz_tokenizer_json) ls ../shared/models/stories260k/tokenizer.json ;;
    fuzz_json_schema|fuzz_json_constrain) ls examples/risk/answer.schema.json ;;
    fuzz_dataset_info) ls tests/fixtures/data/dataset_info.json examples/dataset_info.json ;;
    fuzz_yaml_config) ls examples/risk/*.yaml tests/fixtures/lf_examples/*/*.yaml ;;
  esac 2>/dev/null
}

# generated seeds (small synthetic adapters, caches, configs, ...) for every harness
python3 fuzz/gen_seeds.py "$out/corpus" || echo "fuzz: could not generate seeds (python3?)"

fail=0
for bin in "$out"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -n "$only" ] && [ "$name" != "$only" ] && continue
  corpus="$out/corpus/$name"
  mkdir -p "$corpus" "$out/artifacts"
  for f in $(seeds_for "$name"); do
    # big fixture files are split into lines for line-oriented harnesses
    case "$name:$f" in
      fuzz_conv:*.jsonl)  # one row per seed; bytes 0-1 pick format and template options
        i=0; while IFS= read -r line && [ $i -lt 200 ]; do
          for b in 0 2; do printf "\\x0$b\\x$((i % 7))$((i % 10))%s" "$line" >"$corpus/seed-$(basename "$f")-$i-$b"; done
          i=$((i + 1)); done <"$f" ;;
      fuzz_risk_eval:*.jsonl)  # byte 0 = 0: a record (its reference answer is scored)
        head -n 40 "$f" | split -l 1 -a 3 --filter='{ printf "\\x00"; cat; } >$FILE' - "$corpus/seed-risk-" ;;
      fuzz_model_config:*)  # byte 0 picks the weights: llama, qwen2, qwen3
        for b in 0 1 2; do { printf "\\x0$b"; cat "$f"; } >"$corpus/seed-$b-$(echo "$f" | tr / _)"; done ;;
      fuzz_dataset_file:*.jsonl) { printf '\x00'; cat "$f"; } >"$corpus/seed-$(basename "$f")" ;;
      fuzz_dataset_file:*.json) { printf '\x01'; cat "$f"; } >"$corpus/seed-$(basename "$f")" ;;
      *) cp "$f" "$corpus/seed-$(echo "$f" | tr / _)" ;;
    esac
  done
  dict=""
  [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
  [ -z "$dict" ] && [ -f fuzz/json.dict ] && dict="-dict=fuzz/json.dict"
  echo "== $name (${secs}s)"
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=0 $dict -artifact_prefix="$out/artifacts/$name-" "$corpus" \
      >"$out/$name.log" 2>&1; then
    echo "FAIL $name: see $out/$name.log and $out/artifacts/"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$out/$name.log" | head -5
    fail=1
  else
    tail -n 3 "$out/$name.log" | grep -E "^#|Done" | tail -n 1
  fi
done
exit $fail
