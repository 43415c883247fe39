#!/usr/bin/env bash
# LlamaFactory's own example configs (tests/fixtures/lf_examples, copied unchanged) run as they
# are: `ctune data preview` and a 3-step `ctune train` on each (LoRA, full, QLoRA, pre-training;
# BAdam / GaLore / LLaMA Pro: tests/cli/lf_method_examples.sh), the model replaced by a tiny random Qwen3 (ctune init-model with
# ../shared/tokenizers/qwen3) and the datasets by tests/fixtures/lf_data (the shapes of
# LlamaFactory's data/: identity / alpaca, glaive tool calls with an observation after a plain
# answer, c4-style {prompt: text} JSON Lines, wiki-style .txt, multimodal and preference entries,
# malformed rows, a broken .json). Every LlamaFactory example and demo dataset
# against a LlamaFactory checkout is the sweep, scripts/lf_compat.py (docs/compat.md).
set -u
bin=${CTUNE_BIN:-build/ctune}
tokdir=${CTUNE_SHARED:-../shared}/tokenizers/qwen3
data=tests/fixtures/lf_data
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$tokdir/tokenizer.json" ] || { echo "skip: $tokdir absent"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin" init-model --arch qwen3 --hidden-size 32 --layers 1 --heads 2 --kv-heads 1 --intermediate-size 64 \
  --head-dim 16 --tokenizer "$tokdir" --out "$tmp/model" --seed 1 >/dev/null || fail "init-model"
# trainings run where LlamaFactory users run them, the root of a checkout: the examples' relative
# `deepspeed: examples/deepspeed/...` paths resolve there
root=$(pwd)
mkdir -p "$tmp/lfroot" && ln -s "$root/tests/fixtures/lf_examples" "$tmp/lfroot/examples"
case $bin in /*) ;; *) bin=$root/$bin ;; esac
data=$root/$data
common=(--model_name_or_path "$tmp/model" --dataset_dir "$data" --tokenized_path "")
train() { # CONFIG [overrides...]: 3 steps, prints the log
  local cfg=$1; shift
  case $cfg in /*) ;; *) cfg=$root/$cfg ;; esac
  (cd "$tmp/lfroot" && "$bin" train "$cfg" "${common[@]}" --output_dir "$tmp/out" --overwrite_output_dir true \
    --max_steps 3 --save_steps 0 --logging_steps 1 --threads 2 "$@" 2>&1)
}
n=0
for y in $(find tests/fixtures/lf_examples -name '*.yaml' | sort); do
  grep -q '^stage:' "$y" || continue # merge_lora/ and inference/ configs: tests/cli/lf_commands.sh
  out=$("$bin" data preview "$y" "${common[@]}" -n 1 --color never 2>&1) || fail "preview $y: $out"
  case "$out" in *"summary"*"train "*" samples"*) ;; *) fail "preview $y summary: $out";; esac
  extra=(); grep -q '^stage: pt' "$y" && extra=(--cutoff_len 32) # the fixture texts are shorter than 2048 tokens
  log=$(train "$y" "${extra[@]}") || fail "train $y: $log"
  case "$log" in *"done: 3 steps"*) ;; *) fail "train $y did not run 3 steps: $log";; esac
  n=$((n + 1))
done
[ $n -ge 11 ] || fail "only $n example configs"
echo "$n LlamaFactory example configs previewed and trained 3 steps"

# the pretrain example as it is: the fixture's texts do not fill one 2048-token block
err=$(train tests/fixtures/lf_examples/train_lora/qwen3_lora_pretrain.yaml) && fail "pt with too little text ran"
case "$err" in *"stage pt groups the texts into blocks of cutoff_len 2048 tokens and there are only "*) ;; *) fail "pt message: $err";; esac
# c4-style rows grouped into cutoff_len blocks; wiki-style .txt likewise
out=$("$bin" data preview tests/fixtures/lf_examples/train_lora/qwen3_lora_pretrain.yaml "${common[@]}" \
  --dataset c4_demo,wiki_demo --cutoff_len 16 --color never 2>&1) || fail "pt preview: $out"
case "$out" in *"stage pt: plain text + eos"*"dataset c4_demo"*"read 3"*"dataset wiki_demo"*"read 4"*"texts grouped into blocks of 16 tokens"*) ;;
  *) fail "pt preview: $out";; esac

# glaive-style tool data under both templates; the row LlamaFactory's converter skips is skipped
# with a warning that names the file, the row and the line
cfg=tests/fixtures/lf_examples/train_lora/qwen3_lora_sft.yaml
log=$(train "$cfg" --dataset glaive_toolcall_zh_demo --template qwen3_nothink) || fail "glaive training: $log"
case "$log" in *"warning: skipped 1 malformed row"*"glaive_toolcall_zh_demo.json: row 3 (line 52): turn 0: non-alternating turns"*"done: 3 steps"*) ;;
  *) fail "glaive training: $log";; esac
for t in llama3 qwen3 qwen; do
  out=$("$bin" data preview "$cfg" "${common[@]}" --dataset glaive_toolcall_zh_demo --template "$t" -n 1 --color never 2>&1) ||
    fail "glaive with $t: $out"
  case "$out" in *"warning: skipped 1 malformed row"*"glaive_toolcall_zh_demo.json: row 3 (line 52): turn 0: non-alternating turns"*) ;;
    *) fail "glaive with $t: $out";; esac
done
out=$("$bin" data preview "$cfg" "${common[@]}" --dataset glaive_toolcall_zh_demo --template llama3 -n 2 --color never 2>&1)
case "$out" in *'«{"name": "calculate_discount", "parameters": {"original_price": 100, "discount_percentage": 20}}<|eot_id|'*'<|start_header_id|>ipython<|end_header_id|>'*) ;;
  *) fail "llama3 tool call rendering: $out";; esac
case "$out" in *"dataset glaive_toolcall_zh_demo"*"read 3, kept 2, skipped 1 malformed"*"warning: skipped 1 malformed row"*) ;;
  *) fail "preview counts: $out";; esac
# on_bad_sample: fail stops at that row
err=$("$bin" data preview "$cfg" "${common[@]}" --dataset glaive_toolcall_zh_demo --on_bad_sample fail 2>&1) &&
  fail "on_bad_sample fail ran"
case "$err" in *"glaive_toolcall_zh_demo.json: row 3 (line 52)"*) ;; *) fail "on_bad_sample fail message: $err";; esac
# malformed rows of a .json array: named with row and line, the rest trains
log=$("$bin" data preview "$cfg" "${common[@]}" --dataset bad_rows -n 1 --color never 2>&1) || fail "bad_rows: $log"
case "$log" in *"skipped 3 malformed rows"*"bad_rows.json: row 2 (line 14): message 0: unknown role 'wizard'"*"bad_rows.json: row 4 (line 38)"*"bad_rows.json: row 5 (line 54)"*) ;;
  *) fail "bad_rows warning: $log";; esac

# refused by what they are, in one line
for c in "mllm_demo:not supported: multimodal data (column 'images')" \
         "dpo_en_demo:not supported: preference data (ranking: true)" \
         "kto_en_demo:not supported: preference data (column 'kto_tag')"; do
  d=${c%%:*}; want=${c#*:}
  err=$("$bin" data preview "$cfg" "${common[@]}" --dataset "$d" 2>&1) && fail "$d accepted"
  [ "$(echo "$err" | wc -l)" = 1 ] || fail "$d: more than one line: $err"
  case "$err" in *"dataset '$d'"*"$want"*) ;; *) fail "$d message: $err";; esac
done
# a syntax error in the middle of a .json file: its line and column, not "end of file"
err=$("$bin" data preview "$cfg" "${common[@]}" --dataset broken_json 2>&1) && fail "broken.json accepted"
case "$err" in *"broken.json:26:"*"unexpected ','"*"stray ']'"*) ;; *) fail "broken.json message: $err";; esac
case "$err" in *"end of file"*) fail "broken.json message says end of file: $err";; esac
echo ok
