#!/usr/bin/env bash
# LlamaFactory's commands and command-line styles on stories260k: `ctune train` with bare flags and
# key=value overrides, `ctune export` / `ctune chat` with LlamaFactory's own merge and inference
# YAMLs (tests/fixtures/lf_examples), a full re-export, default_system, eval_dataset alone,
# save_strategy epoch, and every refusal as one line naming the file or key.
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
E=tests/fixtures/lf_examples
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
one_line() { [ "$(printf '%s\n' "$1" | wc -l)" = 1 ] || fail "not one line: $1"; }
# expect_err "what" "grep pattern" cmd...: the command fails with one line matching the pattern
expect_err() {
  local what=$1 pat=$2; shift 2
  local out; out=$("$@" 2>&1 >/dev/null </dev/null) && fail "$what accepted"
  out=$(printf '%s\n' "$out" | grep -v -e ': note: ' -e '^ctune train: estimate: ')
  one_line "$out"
  printf '%s\n' "$out" | grep -q -- "$pat" || fail "$what: $out"
}

# ---- refusals that need no model
printf 'model_name_or_path: m\ndataset: d\noutput_dir: o\n' > "$tmp/t.yaml"
expect_err "streaming" "key 'streaming': 'true' is not supported: streamed datasets" $bin train "$tmp/t.yaml" --streaming
expect_err "typo override" "max_stesp=: unknown key 'max_stesp' (did you mean 'max_steps'?)" $bin train "$tmp/t.yaml" max_stesp=3
expect_err "stray argument" "unexpected argument 'oops'" $bin train "$tmp/t.yaml" oops
expect_err "optim" "key 'optim': 'adafactor' is not implemented" $bin train "$tmp/t.yaml" optim=adafactor
expect_err "val_size + eval_dataset" "val_size cannot be used with eval_dataset" $bin train "$tmp/t.yaml" eval_dataset=x val_size=0.1
expect_err "save_strategy best" "key 'save_strategy': 'best'" $bin train "$tmp/t.yaml" --save_strategy best
expect_err "gptq export" "qwen3_gptq.yaml: export_quantization_bit: GPTQ" $bin export $E/merge_lora/qwen3_gptq.yaml
expect_err "legacy format" "export_legacy_format: true is not supported" $bin export $E/merge_lora/qwen3_full_sft.yaml export_legacy_format=true
expect_err "export_size 0" "export_size must be >= 1" $bin export $E/merge_lora/qwen3_full_sft.yaml export_size=0
expect_err "export_size type" "export_size=: key 'export_size': expected an integer, got 'big'" $bin export $E/merge_lora/qwen3_full_sft.yaml export_size=big
expect_err "no export_dir" "export_dir is required" $bin export $E/merge_lora/qwen3_full_sft.yaml export_dir=null
expect_err "two adapters" "several adapters" $bin export $E/merge_lora/qwen3_lora_sft.yaml adapter_name_or_path=a,b
expect_err "hub upload" "does not upload" $bin export $E/merge_lora/qwen3_full_sft.yaml export_hub_model_id=me/m
expect_err "adapter with full" "needs finetuning_type: lora" $bin export $E/merge_lora/qwen3_lora_sft.yaml finetuning_type=full
expect_err "beam search" "num_beams: 4 is not supported" $bin chat $E/inference/qwen3.yaml num_beams=4
expect_err "temperature" "temperature must be >= 0" $bin chat $E/inference/qwen3.yaml temperature=-1
expect_err "top_p" "top_p must be in (0, 1]" $bin chat $E/inference/qwen3.yaml --top_p 1.5
expect_err "top_k type" "key 'top_k': expected an integer" $bin chat $E/inference/qwen3.yaml top_k=many
expect_err "chat typo" "unknown key 'temprature' (did you mean 'temperature'?)" $bin chat $E/inference/qwen3.yaml temprature=0
expect_err "backend" "key 'infer_backend': 'tgi' is not one of" $bin chat $E/inference/qwen3.yaml infer_backend=tgi
printf 'model_name_or_path: m\nexport_dir: o\nexport_size: 5\nexport_device: gpu\n' > "$tmp/bad_export.yaml"
expect_err "export_device" "bad_export.yaml:4: key 'export_device': 'gpu' is not one of cpu|auto" $bin export "$tmp/bad_export.yaml"
if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi

# ---- train: LlamaFactory header keys on one note line, bare flags, key=value, save_strategy epoch
cat > "$tmp/lora.yaml" <<EOC
### model
model_name_or_path: $model
trust_remote_code: true
### method
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
### dataset
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
template: qwen3_nothink
cutoff_len: 64
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4
### output
output_dir: $tmp/ad
logging_steps: 1
report_to: none
### train
per_device_train_batch_size: 2
learning_rate: 1.0e-2
ddp_timeout: 180000000
threads: 1
EOC
$bin train "$tmp/lora.yaml" num_train_epochs=2 --plot_loss save_strategy=epoch --optim paged_adamw_8bit > "$tmp/log" 2>&1 \
  || { cat "$tmp/log"; fail "train"; }
notes=$(grep -c "note: accepted for LlamaFactory compatibility" "$tmp/log")
[ "$notes" = 1 ] || fail "harmless keys on $notes lines: $(cat "$tmp/log")"
grep -q "no effect in ctune: trust_remote_code, do_train, preprocessing_num_workers, dataloader_num_workers, ddp_timeout" "$tmp/log" \
  || fail "note line: $(grep note "$tmp/log")"
grep -q "optim 'paged_adamw_8bit': runs 32-bit AdamW" "$tmp/log" || fail "optim note: $(cat "$tmp/log")"
grep -q "^done: 6 steps" "$tmp/log" || fail "summary: $(cat "$tmp/log")"
[ -f "$tmp/ad/training_loss.svg" ] || fail "--plot_loss (bare) did not plot"
[ "$(cd "$tmp/ad" && ls -d checkpoint-* | tr '\n' ' ')" = "checkpoint-3 checkpoint-6 " ] || fail "epoch checkpoints: $(ls "$tmp/ad")"

# ---- export with LlamaFactory's merge YAML: the merged model's loss is the adapter's
printf '{"input_ids": [1, 403, 407, 261, 159, 300, 89]}\n{"input_ids": [1, 450, 35, 292, 278, 113]}\n' > "$tmp/eval.jsonl"
loss() { echo "$1" | sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p'; }
a=$($bin eval-loss --model "$model" --adapter "$tmp/ad" --data "$tmp/eval.jsonl" --threads 1) || fail "adapter eval-loss"
b=$($bin eval-loss --model "$model" --data "$tmp/eval.jsonl" --threads 1) || fail "base eval-loss"
out=$($bin export $E/merge_lora/qwen3_lora_sft.yaml adapter_name_or_path="$tmp/ad" export_dir="$tmp/merged" threads=1 2>"$tmp/err") \
  || fail "export: $(cat "$tmp/err")"
echo "$out" | grep -q "^merged [0-9]* tensor(s) of $tmp/ad" || fail "export summary: $out"
grep -q "no effect in ctune export: trust_remote_code" "$tmp/err" || fail "export notes: $(cat "$tmp/err")"
m=$($bin eval-loss --model "$tmp/merged" --data "$tmp/eval.jsonl" --threads 1) || fail "merged eval-loss"
awk -v x="$(loss "$a")" -v y="$(loss "$m")" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-5 * x) }' \
  || fail "merged loss $(loss "$m") != adapter loss $(loss "$a")"
[ "$(loss "$a")" != "$(loss "$b")" ] || fail "the adapter changed nothing"
expect_err "existing export_dir" "already exists (use --force" $bin export $E/merge_lora/qwen3_lora_sft.yaml \
  adapter_name_or_path="$tmp/ad" export_dir="$tmp/merged"
$bin export $E/merge_lora/qwen3_lora_sft.yaml adapter_name_or_path="$tmp/ad" export_dir="$tmp/merged" --force >/dev/null 2>&1 \
  || fail "export --force"

# ---- export without an adapter: a full re-export (same loss; infer_dtype bfloat16 stores BF16)
$bin export $E/merge_lora/qwen3_full_sft.yaml export_dir="$tmp/full" >/dev/null 2>&1 || fail "full re-export"
f=$($bin eval-loss --model "$tmp/full" --data "$tmp/eval.jsonl" --threads 1) || fail "re-exported eval-loss"
[ "$(loss "$f")" = "$(loss "$b")" ] || fail "re-export changed the loss: $(loss "$f") vs $(loss "$b")"
for x in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
  [ -f "$tmp/full/$x" ] || fail "re-export lacks $x"
done
$bin export $E/merge_lora/qwen3_full_sft.yaml export_dir="$tmp/full16" infer_dtype=bfloat16 >/dev/null 2>&1 || fail "bf16 re-export"
grep -q '"torch_dtype": "bfloat16"' "$tmp/full16/config.json" || fail "bf16 config"
head -c 300 "$tmp/full16/model.safetensors" | grep -q '"BF16"' || fail "weights not BF16"
f16=$($bin eval-loss --model "$tmp/full16" --data "$tmp/eval.jsonl" --threads 1) || fail "bf16 eval-loss"
awk -v x="$(loss "$b")" -v y="$(loss "$f16")" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d > 0 && d <= 2e-2 * x) }' \
  || fail "bf16 re-export loss $(loss "$f16") vs $(loss "$b")"
# the flag form keeps working, and exports without --adapter too
$bin export --model "$model" --out "$tmp/full_flags" --dtype f32 >/dev/null || fail "flag-form re-export"
cmp -s "$tmp/full/model.safetensors" "$tmp/full_flags/model.safetensors" || fail "flag and YAML re-exports differ"
$bin export --model "$model" --adapter "$tmp/ad" --out "$tmp/merged_flags" >/dev/null || fail "flag-form merge"
cmp -s "$tmp/merged/model.safetensors" "$tmp/merged_flags/model.safetensors" || fail "flag and YAML merges differ"

# ---- chat with LlamaFactory's inference YAML = the flag form with the same settings
in=$'Once upon a time\nWhat did the cat do?\n'
y=$(printf '%s' "$in" | $bin chat $E/inference/qwen3_lora_sft.yaml adapter_name_or_path="$tmp/ad" temperature=0 \
  max_new_tokens=10 threads=1 2>/dev/null) || fail "chat yaml"
f=$(printf '%s' "$in" | $bin chat --model "$model" --adapter "$tmp/ad" --template qwen3_nothink --temperature 0 \
  --max-new-tokens 10 --threads 1) || fail "chat flags"
[ -n "$y" ] && [ "$y" = "$f" ] || fail "YAML chat '$y' != flag chat '$f'"
# LlamaFactory's generation defaults (do_sample, temperature 0.95, top_p 0.7, top_k 50)
y=$(printf '%s' "$in" | $bin chat $E/inference/qwen3.yaml --max_new_tokens 12 --threads 1 2>/dev/null) || fail "chat defaults"
f=$(printf '%s' "$in" | $bin chat --model "$model" --template qwen3_nothink --temperature 0.95 --top-p 0.7 --top-k 50 \
  --repetition-penalty 1.0 --max-new-tokens 12 --seed 0 --threads 1) || fail "chat flags (LF defaults)"
[ "$y" = "$f" ] || fail "LlamaFactory defaults: '$y' != '$f'"
# default_system is the chat's system prompt; infer_backend vllm is said in one note
y=$(printf '%s' "$in" | $bin chat $E/inference/qwen3.yaml temperature=0 max_new_tokens=10 threads=1 \
  default_system="You tell short stories." infer_backend=vllm 2>"$tmp/err") || fail "chat default_system"
f=$(printf '%s' "$in" | $bin chat --model "$model" --template qwen3_nothink --temperature 0 --max-new-tokens 10 \
  --threads 1 --system "You tell short stories.") || fail "chat --system"
n=$(printf '%s' "$in" | $bin chat --model "$model" --template qwen3_nothink --temperature 0 --max-new-tokens 10 --threads 1)
[ "$y" = "$f" ] || fail "default_system '$y' != --system '$f'"
[ "$y" != "$n" ] || fail "default_system changed nothing"
grep -q "note: infer_backend 'vllm': ctune's own engine runs" "$tmp/err" || fail "backend note: $(cat "$tmp/err")"

# ---- default_system in training data (data preview) and in generate-batch
$bin data preview "$tmp/lora.yaml" -n 1 default_system="Be kind." --color never > "$tmp/pv" 2>&1 || fail "preview"
grep -q "<|im_start|>system" "$tmp/pv" && grep -q "Be kind." "$tmp/pv" || fail "default_system not rendered: $(head -5 "$tmp/pv")"
printf '{"id": 1, "instruction": "Who ran?", "output": ""}\n' > "$tmp/q.jsonl"
printf '{"id": 1, "system": "Be kind.", "instruction": "Who ran?", "output": ""}\n' > "$tmp/qs.jsonl"
$bin generate-batch --model "$model" --template qwen3_nothink --input "$tmp/q.jsonl" --output "$tmp/a1.jsonl" \
  --default-system "Be kind." --max-new-tokens 8 --threads 1 2>/dev/null || fail "generate-batch --default-system"
$bin generate-batch --model "$model" --template qwen3_nothink --input "$tmp/qs.jsonl" --output "$tmp/a2.jsonl" \
  --max-new-tokens 8 --threads 1 2>/dev/null || fail "generate-batch with system"
cmp -s "$tmp/a1.jsonl" "$tmp/a2.jsonl" || fail "--default-system: $(cat "$tmp/a1.jsonl") vs $(cat "$tmp/a2.jsonl")"

# ---- eval_dataset alone with --eval-only (no dataset) equals the split next to a dataset
e1=$($bin train "$tmp/lora.yaml" --eval-only eval_dataset=memo.jsonl output_dir="$tmp/ev1" 2>/dev/null) || fail "eval-only"
e2=$($bin train "$tmp/lora.yaml" --eval-only dataset=null eval_dataset=memo.jsonl output_dir="$tmp/ev2" 2>/dev/null) \
  || fail "eval-only with eval_dataset alone"
[ "${e1%%,*}" = "${e2%%,*}" ] || fail "eval_dataset alone: $e2 vs $e1"
expect_err "train without dataset" "dataset is required to train" $bin train "$tmp/lora.yaml" dataset=null \
  eval_dataset=memo.jsonl output_dir="$tmp/nodata"
echo ok
