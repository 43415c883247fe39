#!/usr/bin/env bash
# LlamaFactory's BAdam, GaLore and LLaMA Pro examples (tests/fixtures/lf_methods/examples/extras,
# copied unchanged) run 3 steps each on a tiny 8-layer model: the YAML as it is, with
# model_name_or_path, dataset_dir and output_dir replaced and max_steps 3 (their datasets are the
# first rows of LlamaFactory's identity and alpaca_en_demo); LLaMA Pro's expand.sh is
# `ctune llama-pro` with the script's options. Then bad inputs of the new keys and of llama-pro:
# one-line errors naming the key.
set -u
bin=${CTUNE_BIN:-build/ctune}
tok=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -f "$tok/tokenizer.json" ]; then echo "stories260k tokenizer not found at $tok (../shared absent)"; exit 77; fi
ex=tests/fixtures/lf_methods
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$bin init-model --arch llama --hidden-size 32 --layers 8 --heads 4 --kv-heads 2 --intermediate-size 64 \
  --tokenizer "$tok" --out "$tmp/m" --dtype bf16 > /dev/null || fail "init-model"
run() { # yaml out model -> log in $tmp/log
  $bin train "$ex/examples/extras/$1" --model_name_or_path "$3" --dataset_dir "$ex/data" --output_dir "$tmp/$2" \
    --max_steps 3 > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$1"; }
  [ "$(grep -c '"current_steps"' "$tmp/$2/trainer_log.jsonl")" -ge 1 ] || fail "$1: no log"
  grep -q '"current_steps": 3' "$tmp/$2/trainer_log.jsonl" || fail "$1: did not reach step 3"
}
# BAdam: one decoder layer trainable, the switch every 50 steps (badam_verbose 2 lists the block)
run badam/llama3_full_sft.yaml badam "$tmp/m"
grep -q "use_badam: layer-wise BAdam over 8 blocks" "$tmp/log" || fail "badam: $(cat "$tmp/log")"
grep -q "badam:   model.layers.0.mlp.down_proj.weight" "$tmp/log" || fail "badam_verbose 2 lists no tensors"
grep -q '"use_badam"\|badam' "$tmp/badam/config.json" && fail "badam leaked into config.json"
echo '{"text": "Hello, I am an assistant."}' > "$tmp/hello.jsonl" # data files are regular files
$bin eval-loss --model "$tmp/badam" --data "$tmp/hello.jsonl" > /dev/null || fail "badam output does not load"
# GaLore (layerwise, pure_bf16): every decoder linear projected to rank 128 (= min(m, n) here)
run galore/llama3_full_sft.yaml galore "$tmp/m"
grep -q "use_galore: 56 linear weights" "$tmp/log" || fail "galore: $(cat "$tmp/log")"
grep -q "galore_layerwise: per-parameter updates, so no gradient clipping" "$tmp/log" || fail "galore_layerwise note"
# LLaMA Pro: expand.sh, then the freeze example on the expanded model
args=$(sed -n 's/^ *--\([a-z_]*\) \([^ \\]*\).*/--\1 \2/p' "$ex/examples/extras/llama_pro/expand.sh" | tr '\n' ' ')
case "$args" in *--num_expand\ 8*) ;; *) fail "expand.sh: $args";; esac
$bin llama-pro --model_name_or_path "$tmp/m" --output_dir "$tmp/pro" --num_expand 8 > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "llama-pro"; }
grep -q '"num_hidden_layers": 16' "$tmp/pro/config.json" || fail "expanded config: $(cat "$tmp/pro/config.json")"
grep -q "use_llama_pro: true" "$tmp/log" || fail "llama-pro prints no next step"
run llama_pro/llama3_freeze_sft.yaml pro_sft "$tmp/pro"
grep -q "training only the expanded blocks 1, 3, 5, 7, 9, 11, 13, 15 (16 layers, one in every 2)" "$tmp/log" ||
  fail "llama pro: $(cat "$tmp/log")"
# bad inputs: one line, the key named
bad() { # expected-fragment args...
  local want=$1; shift
  out=$("$@" 2>&1) && fail "accepted: $*"
  errs=$(printf '%s\n' "$out" | grep '^ctune: ')
  [ "$(printf '%s\n' "$errs" | wc -l)" -eq 1 ] && printf '%s' "$errs" | grep -q -- "$want" || fail "$*: $out"
}
y="$ex/examples/extras/badam/llama3_full_sft.yaml"
bad "key 'badam_switch_interval': must be >= 1" $bin train "$y" --badam_switch_interval 0
bad "key 'badam_switch_mode': 'sideways' is not one of" $bin train "$y" --badam_switch_mode sideways
bad "badam_mode: ratio" $bin train "$y" --model_name_or_path "$tmp/m" --badam_mode ratio --output_dir "$tmp/x"
bad "badam_start_block 9 is out of range: the model has 8 blocks" $bin train "$y" --model_name_or_path "$tmp/m" \
  --dataset_dir "$ex/data" --output_dir "$tmp/x1" --badam_start_block 9
bad "key 'galore_rank': must be in \[1, 65536\]" $bin train "$ex/examples/extras/galore/llama3_full_sft.yaml" --galore_rank 0
bad "galore_target: 'qproj' matches no linear module" $bin train "$ex/examples/extras/galore/llama3_full_sft.yaml" \
  --model_name_or_path "$tmp/m" --dataset_dir "$ex/data" --output_dir "$tmp/x2" --galore_target qproj
bad "key 'use_llama_pro': expected true or false" $bin train "$ex/examples/extras/llama_pro/llama3_freeze_sft.yaml" --use_llama_pro=maybe
bad "layers should be divisible by freeze_trainable_layers 3" $bin train "$ex/examples/extras/llama_pro/llama3_freeze_sft.yaml" \
  --model_name_or_path "$tmp/pro" --dataset_dir "$ex/data" --output_dir "$tmp/x3" --freeze_trainable_layers 3
bad "num_expand 3: the model's 8 layers should be divisible by it" $bin llama-pro --model "$tmp/m" --out "$tmp/x4" --num_expand 3
bad "expected a block count" $bin llama-pro --model "$tmp/m" --out "$tmp/x4" --num_expand many
bad "expected a size such as 5GB" $bin llama-pro --model "$tmp/m" --out "$tmp/x4" --num_expand 2 --shard_size huge
bad "required" $bin llama-pro --model "$tmp/m" --num_expand 2
echo "ok"
