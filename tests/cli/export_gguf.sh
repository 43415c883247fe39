#!/usr/bin/env bash
# `ctune export --format gguf` proven with a real consumer: llama.cpp as npm node-llama-cpp 3.21.1
# (its prebuilt CPU build; scripts/deps.sh --test-extra) loads the exported GGUF files and
#  - tokenizes a corpus exactly as ctune does (stories260k: every text; a Qwen3-tokenizer model:
#    every text llama.cpp can, see tests/gguf/llama_cpp_check.mjs),
#  - continues a prompt greedily token for token as ctune does (f32 and f16, and q8_0 on the
#    trained stories260k; f16 against ctune running the same f16 weights),
#  - gives the sum of next-token log-probabilities of a sequence within a small tolerance of
#    ctune's (eval-loss): f32 / f16 1e-3 per token, q8_0 5e-3 per token,
#  - applies an unmerged LoRA GGUF (plain and rsLoRA) as ctune applies the PEFT adapter, and the
#    merged GGUF gives the same tokens.
# Also qwen2, and llama with an untied head and llama3 rope scaling (random models: greedy tokens).
# Also the refusals (unknown dtype, a Qwen3.5 llama.cpp cannot hold, DoRA as a LoRA GGUF, --gguf-lora without adapter).
set -u
bin=${CTUNE_BIN:-build/ctune}
shared=${CTUNE_SHARED:-../shared}
model=$shared/models/stories260k
nlc=.cache/node-llama-cpp
check=tests/gguf/llama_cpp_check.mjs
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- refusals (no llama.cpp needed) ----
refuse() { # refuse PATTERN ARGS...: exit 1 and a one-line error matching PATTERN
  local pat=$1
  shift
  out=$("$bin" export "$@" 2>&1) && fail "accepted: $*"
  [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "not one line: $out"
  echo "$out" | grep -q -- "$pat" || fail "'$*' said: $out"
}
refuse "q8_0 or q4_0, got 'q5_k'" --format gguf --dtype q5_k --model tests/fixtures/tiny-qwen3 --out "$tmp/x"
refuse "must be hf or gguf" --format onnx --model tests/fixtures/tiny-qwen3 --out "$tmp/x"
refuse "linear_key_head_dim = linear_value_head_dim" --format gguf --model tests/fixtures/tiny-qwen3_5 --out "$tmp/x1"
refuse "needs --adapter" --format gguf --gguf-lora --model tests/fixtures/tiny-qwen3 --out "$tmp/x2"
refuse "gguf-lora needs --format gguf" --gguf-lora --model tests/fixtures/tiny-qwen3 --out "$tmp/x3"
refuse "use_dora" --format gguf --gguf-lora --model tests/fixtures/tiny-qwen3 --adapter tests/fixtures/adapters/qwen3-dora \
  --out "$tmp/x4"
refuse "prompt-tuning" --format gguf --model tests/fixtures/tiny-qwen3 --adapter tests/fixtures/adapters/qwen3-prompt \
  --out "$tmp/x5"
# the merge YAML's keys (export_format / export_quantization / export_gguf_lora, docs/export.md)
printf 'model_name_or_path: tests/fixtures/tiny-qwen3\nexport_dir: %s\nexport_quantization: q8_0\n' "$tmp/y" > "$tmp/m.yaml"
refuse "needs export_format: gguf" "$tmp/m.yaml"
refuse "not one of f32|f16|bf16|q8_0|q4_0" "$tmp/m.yaml" export_format=gguf export_quantization=q5_k
refuse "export_gguf_lora needs adapter_name_or_path" "$tmp/m.yaml" export_format=gguf export_gguf_lora=true
refuse "linear_key_head_dim" "$tmp/m.yaml" export_format=gguf model_name_or_path=tests/fixtures/tiny-qwen3_5

if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
if ! command -v node >/dev/null || [ ! -f "$nlc/node_modules/node-llama-cpp/package.json" ]; then
  echo "node-llama-cpp not installed (scripts/deps.sh --test-extra): GGUF files not checked with llama.cpp"
  exit 77
fi

. tests/gguf/lib.sh # job / res / ctune_gen / ctune_nll / llama_nll / close / export_gguf

# ---- stories260k (llama, SentencePiece-style tokenizer, tied head, GQA) ----
for dt in f32 f16 q4_0; do export_gguf "$tmp/s_$dt" $dt "$model"; done
printf 'model_name_or_path: %s\nexport_dir: %s\nexport_format: gguf\nexport_quantization: q8_0\n' "$model" \
  "$tmp/s_q8_0" > "$tmp/s.yaml"
"$bin" export "$tmp/s.yaml" > /dev/null || fail "YAML gguf export"
"$bin" export --model "$model" --out "$tmp/s_hf16" --dtype f16 >/dev/null || fail "HF f16 export"
grep -q '^FROM ./model.gguf$' "$tmp/s_f32/Modelfile" || fail "Modelfile FROM"
grep -q '^PARAMETER stop "</s>"$' "$tmp/s_f32/Modelfile" || fail "Modelfile stop"
node "$check" texts tests/fixtures/tok/stories260k_corpus.jsonl > "$tmp/s_texts"
"$bin" tokenize --model "$model" --jsonl < "$tmp/s_texts" > "$tmp/s_ct" || fail "ctune tokenize"
job s_tok "$tmp/s_f32/model.gguf" - tokenize "$tmp/s_texts"
prompt=1,403,407,261,378
want=$(ctune_gen "$model" $prompt 40)
want16=$(ctune_gen "$tmp/s_hf16" $prompt 40)
seq=$prompt,$want
echo "{\"input_ids\": [$seq]}" > "$tmp/seq.jsonl"
n=$(( $(echo "$seq" | tr ',' '\n' | wc -l) - 1 ))
c32=$(ctune_nll "$model" "$tmp/seq.jsonl")
c16=$(ctune_nll "$tmp/s_hf16" "$tmp/seq.jsonl")
for dt in f32 f16 q8_0; do
  job s_gen_$dt "$tmp/s_$dt/model.gguf" - generate $prompt 40
  job s_nll_$dt "$tmp/s_$dt/model.gguf" - nll $seq
done
job s_gen_q4_0 "$tmp/s_q4_0/model.gguf" - generate $prompt 4

# ---- LoRA: unmerged (adapter.gguf) and merged, plain and rsLoRA ----
for v in plain rs; do
  extra=""
  [ $v = rs ] && extra="--use_rslora true"
  "$bin" train tests/fixtures/lf_peft/qwen3_lora_sft.yaml --model_name_or_path "$model" --dataset memo.jsonl \
    --dataset_dir tests/fixtures/trainer --template empty --max_steps 3 --output_dir "$tmp/lora_$v" --threads 1 \
    --learning_rate 0.004 --warmup_ratio 0 --lora_alpha 32 $extra > "$tmp/lora_$v.log" 2>&1 || fail "LoRA training"
  export_gguf "$tmp/gl_$v" f32 "$model" --adapter "$tmp/lora_$v" --gguf-lora
  export_gguf "$tmp/gm_$v" f32 "$model" --adapter "$tmp/lora_$v"
  grep -q '^ADAPTER ./adapter.gguf$' "$tmp/gl_$v/Modelfile" || fail "Modelfile ADAPTER"
  ctune_gen "$model" "$tmp/lora_$v" $prompt 30 > "$tmp/want_$v"
  ctune_nll "$model" "$tmp/seq.jsonl" "$tmp/lora_$v" > "$tmp/nll_$v"
  job l_gen_$v "$tmp/gl_$v/model.gguf" "$tmp/gl_$v/adapter.gguf" generate $prompt 30
  job m_gen_$v "$tmp/gm_$v/model.gguf" - generate $prompt 30
  job l_nll_$v "$tmp/gl_$v/model.gguf" "$tmp/gl_$v/adapter.gguf" nll $seq
done

# ---- a Qwen3 model with the real Qwen3 tokenizer (byte-level BPE, q/k norms) ----
tok=$shared/tokenizers/qwen3
qp=9707,11,1879,0
if [ -f "$tok/tokenizer.json" ]; then
  "$bin" init-model --arch qwen3 --hidden-size 64 --layers 2 --heads 4 --kv-heads 2 --intermediate-size 128 \
    --head-dim 32 --tokenizer "$tok" --out "$tmp/q3" --dtype f32 --initializer-range 0.5 --seed 3 >/dev/null ||
    fail "init-model"
  "$bin" export --model "$tmp/q3" --out "$tmp/q3_hf16" --dtype f16 >/dev/null || fail "HF f16 export"
  for dt in f32 f16; do export_gguf "$tmp/q_$dt" $dt "$tmp/q3"; done
  grep -q '^PARAMETER stop "<|im_end|>"$' "$tmp/q_f32/Modelfile" || fail "Qwen3 Modelfile stop"
  # the TEMPLATE is the one checked against Qwen3's Jinja (tests/gen/make_ollama_template_fixtures.py)
  awk 'BEGIN { RS = "\001" } { i = index($0, "TEMPLATE \"\"\""); s = substr($0, i + 12); printf "%s", substr(s, 1, index(s, "\"\"\"") - 1) }' \
    "$tmp/q_f32/Modelfile" | cmp -s - tests/fixtures/ollama/qwen3.gotmpl || fail "Qwen3 Modelfile TEMPLATE"
  node "$check" texts tests/fixtures/tok/qwen3_corpus.jsonl gpt2 > "$tmp/q_texts"
  [ "$(wc -l < "$tmp/q_texts")" -gt 300 ] || fail "too few comparable texts"
  "$bin" tokenize --model "$tmp/q3" --jsonl < "$tmp/q_texts" > "$tmp/q_ct" || fail "ctune tokenize"
  job q_tok "$tmp/q_f32/model.gguf" - tokenize "$tmp/q_texts"
  for dt in f32 f16; do job q_gen_$dt "$tmp/q_$dt/model.gguf" - generate $qp 24; done
  # qwen2 (q/k/v biases: init-model draws them as zeros, so this checks their names and shapes)
  "$bin" init-model --arch qwen2 --hidden-size 64 --layers 2 --heads 4 --kv-heads 2 --intermediate-size 128 \
    --tokenizer "$tok" --out "$tmp/q2" --dtype f32 --initializer-range 0.5 --seed 5 >/dev/null || fail "init-model qwen2"
  export_gguf "$tmp/q2_f32" f32 "$tmp/q2"
  job q2_gen "$tmp/q2_f32/model.gguf" - generate $qp 24
fi
# llama with an untied head and llama3 rope scaling (the rope_freqs.weight tensor)
"$bin" init-model --arch llama --hidden-size 64 --layers 2 --heads 4 --kv-heads 2 --intermediate-size 128 \
  --tokenizer "$model" --out "$tmp/l3" --dtype f32 --initializer-range 0.5 --seed 4 --untied --rope-theta 10000 \
  >/dev/null || fail "init-model llama"
sed -i 's/"rope_scaling": null/"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 48}/' \
  "$tmp/l3/config.json"
export_gguf "$tmp/l3_f32" f32 "$tmp/l3"
job l3_gen "$tmp/l3_f32/model.gguf" - generate $prompt 24

node "$check" "$nlc" batch "$tmp/jobs" || fail "llama.cpp could not run the exported files"

cmp -s "$tmp/s_ct" "$tmp/r_s_tok" || fail "stories260k tokenization differs: $(diff "$tmp/s_ct" "$tmp/r_s_tok" | head -4)"
[ "$(res s_gen_f32)" = "$want" ] || fail "f32 greedy differs"
[ "$(res s_gen_f16)" = "$want16" ] || fail "f16 greedy differs"
[ "$(res s_gen_q8_0)" = "$want" ] || fail "q8_0 greedy differs"
close "$(llama_nll s_nll_f32)" "$c32" 1e-3 $n "f32 log-probabilities"
close "$(llama_nll s_nll_f16)" "$c16" 1e-3 $n "f16 log-probabilities"
close "$(llama_nll s_nll_q8_0)" "$c32" 5e-3 $n "q8_0 log-probabilities"
[ -n "$(res s_gen_q4_0)" ] || fail "q4_0 generated nothing"
for v in plain rs; do
  [ "$(res l_gen_$v)" = "$(cat "$tmp/want_$v")" ] || fail "$v LoRA GGUF greedy differs"
  [ "$(res m_gen_$v)" = "$(cat "$tmp/want_$v")" ] || fail "$v merged GGUF greedy differs"
  cl=$(cat "$tmp/nll_$v")
  awk -v a="$cl" -v b="$c32" 'BEGIN{d=a-b; exit !(d > 0.05 || d < -0.05)}' || fail "$v: the adapter changes nothing"
  close "$(llama_nll l_nll_$v)" "$cl" 1e-3 $n "$v LoRA log-probabilities"
done
if [ -f "$tok/tokenizer.json" ]; then
  cmp -s "$tmp/q_ct" "$tmp/r_q_tok" || fail "Qwen3 tokenization differs: $(diff "$tmp/q_ct" "$tmp/r_q_tok" | head -4)"
  [ "$(res q_gen_f32)" = "$(ctune_gen "$tmp/q3" $qp 24)" ] || fail "Qwen3 f32 greedy"
  [ "$(res q_gen_f16)" = "$(ctune_gen "$tmp/q3_hf16" $qp 24)" ] || fail "Qwen3 f16 greedy"
  [ "$(res q2_gen)" = "$(ctune_gen "$tmp/q2" $qp 24)" ] || fail "Qwen2 f32 greedy"
else
  echo "note: $tok absent, the Qwen3 part was not run"
fi
[ "$(res l3_gen)" = "$(ctune_gen "$tmp/l3" $prompt 24)" ] || fail "llama (untied, llama3 rope) f32 greedy"
echo "ok"
