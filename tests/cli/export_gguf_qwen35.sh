#!/usr/bin/env bash
# Qwen3.5 as llama.cpp's qwen35 GGUF (docs/export.md), proven with llama.cpp itself (npm
# node-llama-cpp 3.21.1, prebuilt CPU build; scripts/deps.sh --test-extra) on the two models of
# tests/gen/make_qwen35_gguf_fixtures.py (Gated DeltaNet + gated attention, 4 value heads over 2
# key heads, random (1 + w) norms; one qwen3_5_text with an untied head and layer_types
# [L, F, L, L], one vision-language qwen3_5 checkpoint whose text model alone is exported):
#  - llama.cpp tokenizes the Qwen3.5-structured tokenizer's corpus as ctune does (pre "qwen35"),
#  - greedy continuation equals ctune's token for token: f32, f16 (against ctune running the same
#    f16 weights) and bf16 (against bf16 weights),
#  - summed next-token log-probabilities of prompt + continuation within 1e-3 per token of
#    ctune's eval-loss (f32), 2e-3 (f16: ctune runs the HF f16 export, whose norms, A_log,
#    dt_bias and conv are f16 too, where the GGUF keeps them F32) and 5e-2 (q8_0, against the
#    f32 model: these random models are sensitive to the Q8_0 rounding of weights and of
#    llama.cpp's activations; measured 0.037 and 0.005 per token),
#  - greedy q8_0 tokens are printed, not compared (a random model's near-ties flip),
#  - a LoRA on every linear module (in_proj_qkv / z / b / a, out_proj included): unmerged
#    adapter.gguf and merged GGUF both give ctune's --adapter tokens and log-probabilities;
#  - the same F32 / Q8_0 files (and the LoRA on the F32 base) read by ctune itself (--model
#    FILE.gguf): within 1e-3 / 2e-3 per token of llama.cpp (Q8_0 token by token, 8-bit activations
#    in both; measured 1.2e-3 and 4.2e-4 where the f32 model is 3.7e-2 and 5.1e-3 away).
# Also the refusals (linear_key_head_dim != linear_value_head_dim).
set -u
bin=${CTUNE_BIN:-build/ctune}
nlc=.cache/node-llama-cpp
check=tests/gguf/llama_cpp_check.mjs
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin" export --format gguf --model tests/fixtures/tiny-qwen3_5 --out "$tmp/x" 2>&1) && fail "Dk != Dv accepted"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "not one line: $out"
echo "$out" | grep -q "linear_key_head_dim = linear_value_head_dim (got 8 and 6)" || fail "refusal said: $out"

if ! command -v node >/dev/null || [ ! -f "$nlc/node_modules/node-llama-cpp/package.json" ]; then
  echo "node-llama-cpp not installed (scripts/deps.sh --test-extra): Qwen3.5 GGUF files not checked with llama.cpp"
  exit 77
fi

. tests/gguf/lib.sh # job / res / ctune_gen / ctune_nll / llama_nll / close / export_gguf

node "$check" texts tests/fixtures/tok/qwen3_5-synth_corpus.jsonl gpt2 > "$tmp/texts"
[ "$(wc -l < "$tmp/texts")" -ge 15 ] || fail "too few comparable texts"
prompt=$("$bin" tokenize --model tests/fixtures/tiny-qwen3_5-gguf --text "Hello world, the cat" | tr -d '[] ')
[ -n "$prompt" ] || fail "tokenize"
for m in tiny-qwen3_5-gguf tiny-qwen3_5-gguf-vl; do
  src=tests/fixtures/$m
  for dt in f32 f16 bf16 q8_0; do export_gguf "$tmp/${m}_$dt" $dt "$src"; done
  for dt in f16 bf16; do "$bin" export --model "$src" --out "$tmp/${m}_hf$dt" --dtype $dt >/dev/null || fail "HF $dt"; done
  "$bin" tokenize --model "$src" --jsonl < "$tmp/texts" > "$tmp/${m}_ct" || fail "ctune tokenize"
  job ${m}_tok "$tmp/${m}_f32/model.gguf" - tokenize "$tmp/texts"
  want=$(ctune_gen "$src" "$prompt" 32)
  echo "$want" > "$tmp/${m}_want"
  seq=$prompt,$want
  echo "{\"input_ids\": [$seq]}" > "$tmp/${m}_seq.jsonl"
  echo "$seq" > "$tmp/${m}_seqids"
  for dt in f32 f16 bf16 q8_0; do job ${m}_gen_$dt "$tmp/${m}_$dt/model.gguf" - generate "$prompt" 32; done
  for dt in f32 f16 q8_0; do job ${m}_nll_$dt "$tmp/${m}_$dt/model.gguf" - nll "$seq"; done
done

# LoRA on every linear module of the text model, 3 steps
m=tiny-qwen3_5-gguf
"$bin" train tests/fixtures/lf_peft/qwen3_lora_sft.yaml --model_name_or_path tests/fixtures/$m --dataset memo.jsonl \
  --dataset_dir tests/fixtures/trainer --template empty --max_steps 3 --output_dir "$tmp/lora" --threads 1 \
  --learning_rate 0.01 --warmup_ratio 0 --lora_alpha 32 --bf16 false > "$tmp/lora.log" 2>&1 ||
  { tail -5 "$tmp/lora.log"; fail "LoRA training"; }
grep -q in_proj_qkv "$tmp/lora/adapter_config.json" || fail "the LoRA does not adapt in_proj_qkv"
export_gguf "$tmp/gl" f32 tests/fixtures/$m --adapter "$tmp/lora" --gguf-lora
export_gguf "$tmp/gm" f32 tests/fixtures/$m --adapter "$tmp/lora"
ctune_gen tests/fixtures/$m "$tmp/lora" "$prompt" 24 > "$tmp/want_lora"
lseq=$(cat "$tmp/${m}_seqids")
job l_gen "$tmp/gl/model.gguf" "$tmp/gl/adapter.gguf" generate "$prompt" 24
job m_gen "$tmp/gm/model.gguf" - generate "$prompt" 24
job l_nll "$tmp/gl/model.gguf" "$tmp/gl/adapter.gguf" nll "$lseq"

node "$check" "$nlc" batch "$tmp/jobs" || fail "llama.cpp could not run the exported files"

for m in tiny-qwen3_5-gguf tiny-qwen3_5-gguf-vl; do
  src=tests/fixtures/$m
  cmp -s "$tmp/${m}_ct" "$tmp/r_${m}_tok" || fail "$m tokenization differs: $(diff "$tmp/${m}_ct" "$tmp/r_${m}_tok" | head -4)"
  [ "$(res ${m}_gen_f32)" = "$(cat "$tmp/${m}_want")" ] || fail "$m f32 greedy differs"
  [ "$(res ${m}_gen_f16)" = "$(ctune_gen "$tmp/${m}_hff16" "$prompt" 32)" ] || fail "$m f16 greedy differs"
  [ "$(res ${m}_gen_bf16)" = "$(ctune_gen "$tmp/${m}_hfbf16" "$prompt" 32)" ] || fail "$m bf16 greedy differs"
  echo "$m q8_0 greedy: $(res ${m}_gen_q8_0 | tr "," "\n" | paste -d" " - <(tr "," "\n" < "$tmp/${m}_want") | awk "\$1==\$2" | wc -l) of 32 tokens as ctune f32 (not asserted: Q8_0 rounding)"
  n=$(( $(tr ',' '\n' < "$tmp/${m}_seqids" | wc -l) - 1 ))
  c32=$(ctune_nll "$src" "$tmp/${m}_seq.jsonl")
  c16=$(ctune_nll "$tmp/${m}_hff16" "$tmp/${m}_seq.jsonl")
  close "$(llama_nll ${m}_nll_f32)" "$c32" 1e-3 $n "$m f32 log-probabilities"
  close "$(llama_nll ${m}_nll_f16)" "$c16" 2e-3 $n "$m f16 log-probabilities"
  close "$(llama_nll ${m}_nll_q8_0)" "$c32" 5e-2 $n "$m q8_0 log-probabilities"
  # the same files read by ctune (--model FILE.gguf); Q8_0 token by token (--decode: the decode
  # GEMV's 8-bit activations, as llama.cpp quantizes them for every product)
  g=$tmp/${m}_q8_0/model.gguf
  close "$(llama_nll ${m}_nll_q8_0)" "$(ctune_nll "$g" "$tmp/${m}_seq.jsonl" "" --decode)" 2e-3 $n \
    "$m q8_0 file in both engines"
  close "$(llama_nll ${m}_nll_f32)" "$(ctune_nll "$tmp/${m}_f32/model.gguf" "$tmp/${m}_seq.jsonl")" 1e-3 $n \
    "$m f32 file in both engines"
  echo "$m q8_0 file greedy: $(res ${m}_gen_q8_0 | tr "," "\n" | paste -d" " - <(ctune_gen "$g" "$prompt" 32 | tr "," "\n") | awk "\$1==\$2" | wc -l) of 32 tokens as llama.cpp"
done
m=tiny-qwen3_5-gguf
[ "$(res l_gen)" = "$(cat "$tmp/want_lora")" ] || fail "LoRA GGUF greedy differs"
[ "$(res m_gen)" = "$(cat "$tmp/want_lora")" ] || fail "merged LoRA GGUF greedy differs"
n=$(( $(tr ',' '\n' < "$tmp/${m}_seqids" | wc -l) - 1 ))
cl=$(ctune_nll tests/fixtures/$m "$tmp/${m}_seq.jsonl" "$tmp/lora")
c32=$(ctune_nll tests/fixtures/$m "$tmp/${m}_seq.jsonl")
awk -v a="$cl" -v b="$c32" 'BEGIN{d=a-b; exit !(d > 0.05 || d < -0.05)}' || fail "the adapter changes nothing"
close "$(llama_nll l_nll)" "$cl" 1e-3 $n "LoRA log-probabilities"
close "$(llama_nll l_nll)" "$(ctune_nll "$tmp/gl/model.gguf" "$tmp/${m}_seq.jsonl" "$tmp/lora")" 1e-3 $n \
  "LoRA on the GGUF base in both engines"
echo "ok"
