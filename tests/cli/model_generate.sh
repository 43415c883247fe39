#!/usr/bin/env bash
# ctune generate --format json on stories260k with --prompt-ids reproduces llama2.c run.c's
# greedy ids; bad options fail with one "ctune: ..." line.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
# Tiny fixture first (needs nothing outside the repo): greedy is deterministic, sampling seeded.
a=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 5,6,7 --max-new-tokens 8 --format json --threads 1) || fail "tiny greedy"
echo "$a" | grep -q '"prompt_ids":\[5,6,7\],"output_ids":\[[0-9]*\(,[0-9]*\)\{7\}\]' || fail "tiny json: $a"
s1=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 5 --max-new-tokens 8 --temperature 0.9 --top-k 20 --top-p 0.9 --seed 9 --format json)
s2=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 5 --max-new-tokens 8 --temperature 0.9 --top-k 20 --top-p 0.9 --seed 9 --format json)
[ "$s1" = "$s2" ] || fail "same seed gave different output: $s1 / $s2"
err=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 5,x 2>&1) && fail "bad ids accepted"
[ "$(echo "$err" | wc -l)" = 1 ] && echo "$err" | grep -q '^ctune: generate: --prompt-ids' || fail "bad ids message: $err"
err=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 500 2>&1) && fail "out-of-vocab id accepted"
echo "$err" | grep -q 'outside the vocabulary' || fail "vocab message: $err"
err=$($bin generate --model tests/fixtures/tiny-qwen2 --prompt-ids 5 --precision f16 2>&1) && fail "--precision f16 accepted"
echo "$err" | grep -q '^ctune: --precision: expected f32 or bf16' || fail "precision message: $err"
err=$($bin generate --model /nonexistent --prompt-ids 1 2>&1) && fail "missing model accepted"
echo "$err" | grep -q '^ctune: /nonexistent' || fail "missing model message: $err"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
# "Once upon a time": reference.json case 2, first 16 generated ids (llama2.c run.c, temperature 0)
out=$($bin generate --model "$model" --prompt-ids 1,403,407,261,378 --max-new-tokens 16 --format json) || fail "generate failed"
want='"output_ids":[432,383,286,261,376,298,315,421,395,317,426,338,401,396,267,337]'
echo "$out" | grep -qF "$want" || fail "got $out, want $want"
echo "$out" | grep -qF '"prompt_ids":[1,403,407,261,378]' || fail "prompt ids: $out"
echo "$out" | grep -qF '"stop":"length"' || fail "stop: $out"
# The same case from the text prompt: the tokenizer adds BOS (add_bos_token) and gives run.c's ids;
# "text" is the decoded continuation (run.c prints ", there was a little girl named Lily.").
out=$($bin generate --model "$model" --prompt "Once upon a time" --max-new-tokens 16 --format json) || fail "text prompt failed"
echo "$out" | grep -qF '"prompt_ids":[1,403,407,261,378]' || fail "text prompt ids: $out"
echo "$out" | grep -qF "$want" || fail "text prompt output: $out"
echo "$out" | grep -qF '"text":", there was a little girl named Lily.' || fail "decoded text: $out"
# bf16 compute (autocast linears) on a 5-token prompt: the same greedy story on this tiny model.
out=$($bin generate --model "$model" --prompt-ids 1,403,407,261,378 --max-new-tokens 16 --format json --precision bf16) || fail "bf16"
echo "$out" | grep -qF "$want" || fail "bf16 output: $out"
# Stop strings end generation at the first occurrence.
out=$($bin generate --model "$model" --prompt "Once upon a time" --max-new-tokens 40 --stop "Lily" --format json) || fail "stop string"
echo "$out" | grep -qF '"stop":"stop_string"' || fail "stop string not reported: $out"
echo ok
