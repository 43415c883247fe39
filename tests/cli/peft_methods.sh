#!/usr/bin/env bash
# LlamaFactory's LoRA-family methods end to end on stories260k. The configs are LlamaFactory's
# own examples (tests/fixtures/lf_peft/, copied unchanged): extras/loraplus, extras/pissa and
# train_lora/qwen3_lora_sft (+ use_dora / neftune_noise_alpha / adapter_name_or_path, for which
# LlamaFactory ships no example); each runs 3 steps with only the model, dataset, template,
# output_dir and threads overridden. Checked: the files PEFT reads (DoRA magnitude vectors,
# PiSSA's init_lora_weights, pissa_init / pissa_converted), adapter = merged export, the converted
# PiSSA adapter on the original base = the PiSSA adapter, continuing an adapter starts from its
# loss, create_new_adapter, a resumed DoRA + PiSSA run is bitwise the uninterrupted one, and the
# refusals.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ex=tests/fixtures/lf_peft
corpus=tests/fixtures/tok/stories260k_corpus.jsonl
# run NAME YAML [--key value ...]: the example, 3 steps on the tiny model
run() {
  local name=$1 yaml=$2
  shift 2
  $bin train "$yaml" --model_name_or_path "$model" --dataset memo.jsonl --dataset_dir tests/fixtures/trainer \
    --template empty --max_steps 3 --output_dir "$tmp/$name" --threads 1 "$@" > "$tmp/$name.log" 2>&1 ||
    { cat "$tmp/$name.log"; fail "$name: train failed"; }
  grep -q "^done: 3 steps" "$tmp/$name.log" || fail "$name: $(tail -3 "$tmp/$name.log")"
}
# loss MODEL [ADAPTER]: eval-loss over the corpus
loss() {
  $bin eval-loss --model "$1" ${2:+--adapter "$2"} --data "$corpus" --threads 1 2>/dev/null |
    sed 's/.*"loss": \([^,]*\),.*/\1/'
}
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d <= t*(b<0?-b:b))}'; }
key() { grep -q "\"$2\"" "$1/adapter_config.json" || fail "$1/adapter_config.json lacks $2"; }
tensors() { # the safetensors header's tensor names
  python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print("\n".join(k for k in json.loads(f.read(n)) if k!="__metadata__"))' "$1/adapter_model.safetensors"
}
command -v python3 >/dev/null || { echo "python3 needed to read safetensors headers"; exit 77; }

# LoRA+ (extras/loraplus/llama3_lora_sft.yaml: loraplus_lr_ratio 16)
run loraplus $ex/loraplus_llama3_lora_sft.yaml
key "$tmp/loraplus" q_proj

# DoRA: magnitude vectors under PEFT's key, use_dora true; adapter == merged export
run dora $ex/qwen3_lora_sft.yaml --use_dora true --learning_rate 0.01
key "$tmp/dora" use_dora
grep -q '"use_dora": true' "$tmp/dora/adapter_config.json" || fail "use_dora not true"
n=$(tensors "$tmp/dora" | grep -c '\.lora_magnitude_vector$')
[ "$n" = 35 ] || fail "DoRA: $n magnitude vectors, want 35 (5 layers x 7 linears)"
$bin export --model "$model" --adapter "$tmp/dora" --out "$tmp/dora_merged" > /dev/null 2>&1 || fail "DoRA export"
a=$(loss "$model" "$tmp/dora"); b=$(loss "$tmp/dora_merged"); c=$(loss "$model")
close "$a" "$b" 1e-5 || fail "DoRA adapter loss $a vs merged $b"
close "$a" "$c" 1e-6 && fail "DoRA adapter changed nothing ($a vs base $c)"

# PiSSA (extras/pissa/llama3_lora_sft.yaml: pissa_init, pissa_iter 16, pissa_convert)
run pissa $ex/pissa_llama3_lora_sft.yaml --learning_rate 0.01
grep -q '"init_lora_weights": "pissa_niter_16"' "$tmp/pissa/adapter_config.json" || fail "PiSSA init_lora_weights"
for d in pissa_init pissa_backup pissa_converted; do [ -f "$tmp/pissa/$d/adapter_model.safetensors" ] || fail "no $d"; done
grep -q '"r": 16' "$tmp/pissa/pissa_converted/adapter_config.json" || fail "converted r"
grep -q '"lora_alpha": 32' "$tmp/pissa/pissa_converted/adapter_config.json" || fail "converted alpha"
grep -q '"init_lora_weights": true' "$tmp/pissa/pissa_converted/adapter_config.json" || fail "converted init"
a=$(loss "$model" "$tmp/pissa"); b=$(loss "$model" "$tmp/pissa/pissa_converted"); c=$(loss "$model")
close "$a" "$b" 1e-5 || fail "PiSSA adapter (residual base) $a vs converted adapter (original base) $b"
close "$a" "$c" 1e-6 && fail "PiSSA training changed nothing ($a vs base $c)"
# the initial PiSSA adapter on its residual is the base model (W_res + s B0 A0 = W)
sed 's/"init_lora_weights": true/"init_lora_weights": "pissa_niter_16"/' "$tmp/pissa/pissa_init/adapter_config.json" \
  > "$tmp/cfg" && mv "$tmp/cfg" "$tmp/pissa/pissa_init/adapter_config.json"
b=$(loss "$model" "$tmp/pissa/pissa_init")
close "$b" "$c" 1e-5 || fail "initial PiSSA adapter $b vs base $c"

# NEFTune (neftune_noise_alpha 5): deterministic, and the noise changes the trained adapter
run neft $ex/qwen3_lora_sft.yaml --neftune_noise_alpha 5 --learning_rate 0.01
run neft2 $ex/qwen3_lora_sft.yaml --neftune_noise_alpha 5 --learning_rate 0.01
run plain $ex/qwen3_lora_sft.yaml --learning_rate 0.01
cmp -s "$tmp/neft/adapter_model.safetensors" "$tmp/neft2/adapter_model.safetensors" || fail "NEFTune not deterministic"
cmp -s "$tmp/neft/adapter_model.safetensors" "$tmp/plain/adapter_model.safetensors" && fail "NEFTune had no effect"

# continuing an adapter: the first step's loss is the adapter's loss on the same data (exact f32
# compute: with bf16 autocast a merged weight rounds differently from W and the adapter apart)
evalcfg() { printf 'model_name_or_path: %s\ntemplate: empty\ndataset: memo.jsonl\ndataset_dir: tests/fixtures/trainer\neval_dataset: memo.jsonl\noutput_dir: %s\nthreads: 1\n' \
  "$model" "$tmp/ev" > "$tmp/eval.yaml"; }
evalcfg
e=$($bin train "$tmp/eval.yaml" --eval-only --adapter_name_or_path "$tmp/dora" 2>/dev/null | sed 's/.*"eval_loss": \([^,}]*\).*/\1/')
run cont $ex/qwen3_lora_sft.yaml --adapter_name_or_path "$tmp/dora" --logging_steps 1 --per_device_train_batch_size 6 \
  --gradient_accumulation_steps 1 --bf16 false
first=$(head -1 "$tmp/cont/trainer_log.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
close "$first" "$e" 1e-5 || fail "continued run starts at $first, the adapter's loss is $e"
grep -q '"use_dora": true' "$tmp/cont/adapter_config.json" || fail "continued adapter lost DoRA"
grep -q "continuing $tmp/dora" "$tmp/cont.log" || fail "no continuing message"
# create_new_adapter: the adapter merged into the base, a new r=4 LoRA starts at zero
run new $ex/qwen3_lora_sft.yaml --adapter_name_or_path "$tmp/dora" --create_new_adapter true --lora_rank 4 \
  --logging_steps 1 --per_device_train_batch_size 6 --gradient_accumulation_steps 1 --bf16 false
first=$(head -1 "$tmp/new/trainer_log.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
close "$first" "$e" 1e-5 || fail "create_new_adapter starts at $first, the merged model's loss is $e"
grep -q '"r": 4' "$tmp/new/adapter_config.json" || fail "new adapter rank"
grep -q '"use_dora": false' "$tmp/new/adapter_config.json" || fail "new adapter is not plain LoRA"
# two adapters: the first merged, the second continued
run two $ex/qwen3_lora_sft.yaml --adapter_name_or_path "$tmp/dora,$tmp/new" --lora_rank 4
grep -q "merged $tmp/dora into the base" "$tmp/two.log" || fail "no merge message"
grep -q '"r": 4' "$tmp/two/adapter_config.json" || fail "continued second adapter"
# --eval-only with two adapters: the first merged, the second applied (LlamaFactory's inference loading)
e2=$($bin train "$tmp/eval.yaml" --eval-only --adapter_name_or_path "$tmp/dora,$tmp/new" 2>/dev/null |
  sed 's/.*"eval_loss": \([^,}]*\).*/\1/')
awk -v a="$e2" 'BEGIN{exit !(a > 0)}' || fail "eval-only with two adapters: '$e2'"
close "$e2" "$e" 1e-6 && fail "the second adapter changed nothing ($e2)"
# a key that disagrees with the continued adapter
err=$($bin train $ex/qwen3_lora_sft.yaml --model_name_or_path "$model" --dataset memo.jsonl \
  --dataset_dir tests/fixtures/trainer --template empty --output_dir "$tmp/bad" --threads 1 \
  --adapter_name_or_path "$tmp/dora" --lora_rank 16 2>&1) && fail "mismatched lora_rank accepted"
echo "$err" | grep -q "lora_rank: 16, but the adapter in $tmp/dora has r=8" || fail "message: $err"

# resuming a DoRA + PiSSA (exact SVD) run from its checkpoint is bitwise the uninterrupted run
run full $ex/qwen3_lora_sft.yaml --use_dora true --pissa_init true --pissa_iter -1 --lora_dropout 0.1 \
  --save_steps 2 --learning_rate 0.01
run res $ex/qwen3_lora_sft.yaml --use_dora true --pissa_init true --pissa_iter -1 --lora_dropout 0.1 \
  --save_steps 2 --learning_rate 0.01 --resume_from_checkpoint "$tmp/full/checkpoint-2"
cmp -s "$tmp/full/adapter_model.safetensors" "$tmp/res/adapter_model.safetensors" || fail "resumed run differs"
grep -q '"init_lora_weights": "pissa"' "$tmp/full/adapter_config.json" || fail "exact PiSSA init_lora_weights"

# refusals: one line each, naming the key
err=$($bin train $ex/qwen3_lora_sft.yaml --model_name_or_path "$model" --finetuning_type full --use_dora true \
  --output_dir "$tmp/x" 2>&1) && fail "full + use_dora accepted"
[ "$(echo "$err" | wc -l)" = 1 ] && echo "$err" | grep -q "use_dora is only valid for finetuning_type lora" || fail "$err"
err=$($bin train $ex/pissa_llama3_lora_sft.yaml --model_name_or_path "$model" --pissa_iter -5 2>&1) && fail "pissa_iter -5"
echo "$err" | grep -q "^ctune: --pissa_iter: key 'pissa_iter': must be -1" || fail "$err"
err=$($bin train $ex/loraplus_llama3_lora_sft.yaml --model_name_or_path "$model" --loraplus_lr_ratio x 2>&1) && fail "ratio x"
echo "$err" | grep -q "key 'loraplus_lr_ratio': expected a number" || fail "$err"
err=$($bin train $ex/qwen3_lora_sft.yaml --model_name_or_path "$model" --dataset memo.jsonl --dataset_dir tests/fixtures/trainer \
  --template empty --output_dir "$tmp/x" --threads 1 --adapter_name_or_path "$tmp/nope" 2>&1) && fail "missing adapter accepted"
echo "$err" | grep -q "adapter_name_or_path: $tmp/nope/adapter_config.json: not found" || fail "$err"
err=$($bin train $ex/qwen3_lora_sft.yaml --model_name_or_path "$model" --dataset memo.jsonl --dataset_dir tests/fixtures/trainer \
  --template empty --output_dir "$tmp/x" --threads 1 --adapter_name_or_path "$tmp/dora" --finetuning_type freeze 2>&1) &&
  fail "freeze + adapter accepted"
echo "$err" | grep -q "adapter_name_or_path: continuing training needs finetuning_type lora" || fail "$err"
echo "ok"
