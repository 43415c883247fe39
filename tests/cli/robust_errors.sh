#!/usr/bin/env bash
# Bad input at the CLI: missing files, directories instead of files, empty and malformed files,
# unwritable outputs. Each case must fail with exit code 1 or 2 and exactly one stderr line
# "ctune: ..." (or "ctune <command>: ...") naming the offending file or key; a signal (exit >= 128), a sanitizer report or a
# second line is a failure. docs/robustness.md.
set -u
bin=${CTUNE_BIN:-build/ctune}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fails=0
n=0

# expect NAME SUBSTR [STDIN_FILE] -- ARGS...: ctune ARGS must fail cleanly naming SUBSTR.
expect() {
  local name=$1 want=$2 in=/dev/null
  shift 2
  if [ "$1" != "--" ]; then in=$1; shift; fi
  shift
  n=$((n + 1))
  "$bin" "$@" <"$in" >"$t/out" 2>"$t/err"
  local rc=$? why=""
  local lines
  lines=$(grep -c . "$t/err")
  if [ $rc -ge 128 ]; then why="killed by signal $((rc - 128))"
  elif [ $rc -ne 1 ] && [ $rc -ne 2 ]; then why="exit code $rc (want 1 or 2)"
  elif grep -qiE 'sanitizer|runtime error|leak' "$t/err"; then why="sanitizer report"
  elif [ "$lines" != 1 ]; then why="$lines stderr lines (want 1)"
  elif ! head -1 "$t/err" | grep -qE '^ctune( [a-z-]+)*: '; then why="message does not start with 'ctune: '"
  elif ! grep -qF -- "$want" "$t/err"; then why="message does not name '$want'"
  fi
  if [ -n "$why" ]; then
    fails=$((fails + 1))
    echo "FAIL $name: $why"
    echo "  \$ ctune $*"
    sed 's/^/  | /' "$t/err" | head -8
  fi
}

fx=tests/fixtures
# ---- model directories (info, generate, eval-loss, tokenize share the loader)
mkdir -p "$t/m_empty_cfg" "$t/m_bad_cfg" "$t/m_noweights" "$t/m_trunc" "$t/m_stdir" "$t/m_badshape" "$t/m_nan"
: >"$t/m_empty_cfg/config.json"
printf '{"model_type": "llama", "hidden_size": ' >"$t/m_bad_cfg/config.json"
cp $fx/tiny-llama/config.json "$t/m_noweights/"
cp $fx/tiny-llama/config.json "$t/m_trunc/"
head -c 3000 $fx/tiny-llama/model.safetensors >"$t/m_trunc/model.safetensors"
cp $fx/tiny-llama/config.json "$t/m_stdir/"
mkdir "$t/m_stdir/model.safetensors"
sed 's/"hidden_size": 32/"hidden_size": 48/' $fx/tiny-llama/config.json >"$t/m_badshape/config.json"
cp $fx/tiny-llama/model.safetensors "$t/m_badshape/"
sed 's/"rms_norm_eps": 1e-05/"rms_norm_eps": -1/' $fx/tiny-llama/config.json >"$t/m_nan/config.json"
cp $fx/tiny-llama/model.safetensors "$t/m_nan/"
echo hi >"$t/file.txt"

for cmd in info "eval-loss --data $fx/model/eval.jsonl" "generate --prompt-ids 1,2 --max-new-tokens 2"; do
  c=${cmd%% *}
  expect "$c missing dir" "$t/nope" -- $cmd --model "$t/nope"
  expect "$c file as dir" "$t/file.txt" -- $cmd --model "$t/file.txt"
  expect "$c empty config" "config.json" -- $cmd --model "$t/m_empty_cfg"
  expect "$c malformed config" "config.json:1" -- $cmd --model "$t/m_bad_cfg"
  expect "$c no weights" "model.safetensors" -- $cmd --model "$t/m_noweights"
  expect "$c truncated weights" "model.safetensors" -- $cmd --model "$t/m_trunc"
  expect "$c weights dir" "model.safetensors" -- $cmd --model "$t/m_stdir"
  expect "$c shape mismatch" "model.embed_tokens.weight" -- $cmd --model "$t/m_badshape"
  expect "$c bad rms_norm_eps" "rms_norm_eps" -- $cmd --model "$t/m_nan"
done
expect "info bad --context" "--context" -- info --model $fx/tiny-llama --context -5
expect "generate id out of vocab" "999999" -- generate --model $fx/tiny-llama --prompt-ids 1,999999
expect "generate bad ids" "--prompt-ids" -- generate --model $fx/tiny-llama --prompt-ids 1,x

# ---- eval-loss data files
printf '{"input_ids": [1, 2, 3]}\n{"input_ids": [1, 2\n' >"$t/bad.jsonl"
printf '{"input_ids": [1, 2, 99999]}\n' >"$t/oov.jsonl"
: >"$t/empty.jsonl"
expect "eval-loss missing data" "$t/nope.jsonl" -- eval-loss --model $fx/tiny-llama --data "$t/nope.jsonl"
expect "eval-loss data dir" "$t" -- eval-loss --model $fx/tiny-llama --data "$t"
expect "eval-loss malformed line" "bad.jsonl:2" -- eval-loss --model $fx/tiny-llama --data "$t/bad.jsonl"
expect "eval-loss id out of vocab" "oov.jsonl:1" -- eval-loss --model $fx/tiny-llama --data "$t/oov.jsonl"
expect "eval-loss empty data" "empty.jsonl" -- eval-loss --model $fx/tiny-llama --data "$t/empty.jsonl"

# ---- tokenize (a tokenizer directory)
mkdir -p "$t/tok_empty" "$t/tok_bad" "$t/tok_dir" "$t/tok_cfg"
: >"$t/tok_empty/tokenizer.json"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [' >"$t/tok_bad/tokenizer.json"
mkdir "$t/tok_dir/tokenizer.json"
printf '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}}' >"$t/tok_cfg/tokenizer.json"
printf '{"eos_token": 42' >"$t/tok_cfg/tokenizer_config.json"
expect "tokenize missing dir" "$t/nope" -- tokenize --model "$t/nope" --text hi
expect "tokenize no tokenizer.json" "tokenizer.json" -- tokenize --model "$t/m_noweights" --text hi
expect "tokenize empty tokenizer.json" "tokenizer.json" -- tokenize --model "$t/tok_empty" --text hi
expect "tokenize malformed tokenizer.json" "tokenizer.json:1" -- tokenize --model "$t/tok_bad" --text hi
expect "tokenize tokenizer.json dir" "tokenizer.json" -- tokenize --model "$t/tok_dir" --text hi
expect "tokenize malformed tokenizer_config" "tokenizer_config.json" -- tokenize --model "$t/tok_cfg" --text a
printf '"ab"\n[1, 2]\n' >"$t/lines.jsonl"
printf 'not json\n' >"$t/notjson.jsonl"
mkdir -p "$t/tok_ok" && printf '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}}' >"$t/tok_ok/tokenizer.json"
expect "tokenize decode not ids" "x" -- tokenize --model "$t/tok_ok" --decode --text "1,x"
expect "tokenize jsonl not a string" "stdin:2" "$t/lines.jsonl" -- tokenize --model "$t/tok_ok" --jsonl
expect "tokenize jsonl malformed" "stdin:1" "$t/notjson.jsonl" -- tokenize --model "$t/tok_ok" --jsonl

# ---- data render / preview / synth
printf '{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [\n' >"$t/conv.jsonl"
printf '{"messages": [{"role": "wizard", "content": "hi"}]}\n' >"$t/role.jsonl"
expect "render unknown template" "qwen4" -- data render --template qwen4
expect "render malformed row" "2" "$t/conv.jsonl" -- data render --template qwen3
expect "render unknown role" "wizard" "$t/role.jsonl" -- data render --template qwen3
expect "render tokenizer missing" "$t/nope" -- data render --template qwen3 --tokenizer "$t/nope"
: >"$t/empty.yaml"
printf 'stage: sft\ndataset: [a\n' >"$t/bad.yaml"
printf 'stage: sft\nlearning_rat: 1e-4\n' >"$t/typo.yaml"
printf 'stage: sft\ncutoff_len: many\n' >"$t/type.yaml"
expect "preview missing yaml" "$t/nope.yaml" -- data preview "$t/nope.yaml"
expect "preview yaml dir" "$t" -- data preview "$t"
expect "preview empty yaml" "model_name_or_path" -- data preview "$t/empty.yaml"
expect "preview malformed yaml" "bad.yaml:" -- data preview "$t/bad.yaml"
expect "preview unknown key" "learning_rat" -- data preview "$t/typo.yaml"
expect "preview wrong type" "cutoff_len" -- data preview "$t/type.yaml"
expect "synth bad n" "--n" -- data synth risk --n -3 --seed 1
expect "synth bad format" "xml" -- data synth risk --n 3 --seed 1 --format xml
expect "synth bad ratio" "--think-ratio" -- data synth risk --n 3 --seed 1 --think-ratio 2
expect "synth out dir" "$t" -- data synth risk --n 3 --seed 1 --out "$t"
expect "synth out missing dir" "$t/no/such" -- data synth risk --n 3 --seed 1 --out "$t/no/such/x.jsonl"
# Output to a device must be written in place, never replaced by a renamed temp file (as root
# that would replace /dev/full itself): check with a FIFO of our own before touching /dev/full.
devices_ok=0
if mkfifo "$t/fifo" 2>/dev/null; then
  timeout 20 cat "$t/fifo" >"$t/fifo.out" &
  reader=$!
  timeout 20 "$bin" data synth risk --n 3 --seed 1 --out "$t/fifo" >/dev/null 2>&1
  wait $reader 2>/dev/null # cat ends when the writer closes the FIFO: its output is complete
  if [ -p "$t/fifo" ] && [ -s "$t/fifo.out" ]; then devices_ok=1
  else fails=$((fails + 1)); echo "FAIL: --out FIFO was replaced instead of written (skipping /dev/full cases)"; fi
fi
[ -c /dev/full ] || devices_ok=0
if [ $devices_ok = 1 ]; then
  expect "synth disk full" "/dev/full" -- data synth risk --n 50 --seed 1 --out /dev/full
  [ -c /dev/full ] || { echo "FAIL: /dev/full was replaced"; fails=$((fails + 1)); }
fi

# ---- eval-risk
data=examples/risk/risk_eval.jsonl
head -n 3 $data >"$t/eval3.jsonl"
printf '{"id": "risk-x", "output": "a"}\n{"id": \n' >"$t/pred_bad.jsonl"
printf '{"counts": {"n": 1}}\n' >"$t/report_bad.json"
expect "eval-risk missing data" "$t/nope.jsonl" -- eval-risk score --data "$t/nope.jsonl" --pred "$t/pred_bad.jsonl"
expect "eval-risk data dir" "$t" -- eval-risk score --data "$t" --pred "$t/pred_bad.jsonl"
expect "eval-risk malformed pred" "pred_bad.jsonl:2" -- eval-risk score --data "$t/eval3.jsonl" --pred "$t/pred_bad.jsonl"
expect "eval-risk empty data" "empty.jsonl" -- eval-risk prompts --data "$t/empty.jsonl"
expect "eval-risk malformed data" "bad.jsonl" -- eval-risk prompts --data "$t/bad.jsonl"
expect "eval-risk compare malformed" "report_bad.json" -- eval-risk compare "$t/report_bad.json" "$t/report_bad.json"
expect "eval-risk compare missing" "$t/nope.json" -- eval-risk compare "$t/nope.json" "$t/report_bad.json"
if [ $devices_ok = 1 ]; then
  expect "eval-risk reference disk full" "/dev/full" -- eval-risk reference --data "$t/eval3.jsonl" --out /dev/full
fi

# ---- usage errors
expect "unknown command" "frobnicate" -- frobnicate
expect "unknown option" "--bogus" -- info --bogus
expect "missing option value" "--model" -- info --model
# --threads: every command takes it, one range for all (train's `threads` key too)
expect "threads out of range (tokenize)" "expected 0..1024" -- tokenize --model x --text hi --threads 5000
expect "threads out of range (data render)" "expected 0..1024" -- data render --template empty --threads -1
expect "threads out of range (train)" "threads must be 0..1024" -- train --model_name_or_path x --dataset y --output_dir "$t/o" --threads 100000
if [ -d "${CTUNE_SHARED:-../shared}/models/stories260k" ]; then
  for c in "tokenize --text hi" "info"; do
    $bin $c --model "${CTUNE_SHARED:-../shared}/models/stories260k" --threads 2 > /dev/null 2>&1 || { echo "FAIL: $c --threads 2 rejected"; fails=$((fails + 1)); }
  done
fi

echo "$n cases, $fails failed"
[ $fails -eq 0 ]
