#!/usr/bin/env bash
# Hostile and broken inputs through the CLI (docs/robustness.md, "Inputs"): a FIFO or a device
# among the data files, overwrite_output_dir and the tokenized cache. Each error is one line
# naming the file; nothing blocks (every command runs under `timeout`).
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one_error CMD...: exits 1 or 2 within 20 s with one stderr error line "ctune..." (train may
# print its memory estimate before it); prints the error line
one_error() {
  timeout 20 "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  [ $rc -eq 124 ] && fail "blocked: $*"
  [ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "rc $rc: $* ($(cat "$tmp/err"))"
  grep -v '^ctune train: estimate:' "$tmp/err" > "$tmp/err1"
  [ "$(wc -l < "$tmp/err1")" = 1 ] && grep -q '^ctune' "$tmp/err1" || fail "not one line: $(cat "$tmp/err")"
  cat "$tmp/err1"
}

if [ ! -d "$model" ]; then echo "stories260k not found at $model (../shared absent)"; exit 77; fi
mkdir -p "$tmp/ds"
cp tests/fixtures/trainer/memo.jsonl "$tmp/ds/a.jsonl"
cat > "$tmp/c.yaml" <<EOC
model_name_or_path: $model
template: empty
dataset: ds
dataset_dir: $tmp
cutoff_len: 64
finetuning_type: lora
max_steps: 1
per_device_train_batch_size: 2
save_steps: 0
output_dir: $tmp/out
threads: 1
EOC

# a FIFO in the dataset directory: named as such, no hang
mkfifo "$tmp/ds/b.jsonl"
msg=$(one_error $bin data preview "$tmp/c.yaml") || exit 1
echo "$msg" | grep -q "b.jsonl: is a FIFO" || fail "FIFO: $msg"
msg=$(one_error $bin train "$tmp/c.yaml") || exit 1
echo "$msg" | grep -q "b.jsonl: is a FIFO" || fail "FIFO (train): $msg"
[ -e "$tmp/out/.cache" ] && [ -n "$(ls "$tmp/out/.cache")" ] && fail "a cache was written after the error"
rm "$tmp/ds/b.jsonl"
# /dev/zero linked in: refused at once instead of read until memory runs out
ln -s /dev/zero "$tmp/ds/z.jsonl"
msg=$(one_error $bin data preview "$tmp/c.yaml") || exit 1
echo "$msg" | grep -q "z.jsonl: is a character device" || fail "/dev/zero: $msg"
rm "$tmp/ds/z.jsonl"
# a FIFO as the config file and as --data
mkfifo "$tmp/fifo.yaml"
msg=$(one_error $bin train "$tmp/fifo.yaml") || exit 1
echo "$msg" | grep -q "is a FIFO" || fail "FIFO config: $msg"
msg=$(one_error $bin eval-loss --model "$model" --data "$tmp/fifo.yaml") || exit 1
echo "$msg" | grep -q "is a FIFO" || fail "FIFO --data: $msg"

# a read error on stdin (a directory as stdin: read() fails with EISDIR) is an error naming the
# line, not an early end of input that exits 0 with a short output
mkdir "$tmp/adir"
for cmd in "tokenize --model $model --jsonl" "tokenize --model $model" "tokenize --model $model --decode" \
           "data render --template qwen" "chat --model $model --template empty"; do
  msg=$(one_error $bin $cmd < "$tmp/adir") || exit 1
  echo "$msg" | grep -q "stdin.*read error.*Is a directory" || fail "$cmd < dir: $msg"
done
msg=$(one_error $bin generate-batch --model "$model" --template empty --input "$tmp/adir" --output "$tmp/o.jsonl") || exit 1
echo "$msg" | grep -q "adir: is a directory" || fail "generate-batch --input dir: $msg"

# overwrite_output_dir removes the old run's tokenized cache with its outputs
timeout 120 $bin train "$tmp/c.yaml" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "train"; }
ls "$tmp/out/.cache"/dataset-*.ctdc >/dev/null 2>&1 || fail "no cache written: $(ls -a "$tmp/out")"
touch "$tmp/out/.cache/dataset-0000000000000000.ctdc"
timeout 120 $bin train "$tmp/c.yaml" --overwrite_output_dir true >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "overwrite"; }
[ -e "$tmp/out/.cache/dataset-0000000000000000.ctdc" ] && fail "stale .cache kept by overwrite_output_dir"
grep -q "from cache" "$tmp/log" && fail "overwrite_output_dir used the old cache: $(cat "$tmp/log")"
# init-model: an existing model directory is refused without --force; with --force its model
# files are replaced (a stale sharded index removed); invalid values are errors, not defaults
tok=$model
iargs=(--arch qwen3 --hidden-size 64 --layers 1 --heads 4 --kv-heads 2 --head-dim 16 --intermediate-size 64 --tokenizer "$tok")
cp -r tests/fixtures/tiny-llama-sharded "$tmp/pre"
cp -r tests/fixtures/tiny-llama "$tmp/pre1"
for d in pre pre1; do
  sum=$(cat "$tmp/$d"/*.safetensors | md5sum)
  msg=$(one_error $bin init-model "${iargs[@]}" --out "$tmp/$d") || exit 1
  echo "$msg" | grep -q "$tmp/$d already exists.*--force" || fail "init-model over $d: $msg"
  [ "$(cat "$tmp/$d"/*.safetensors | md5sum)" = "$sum" ] || fail "init-model changed $d without --force"
  timeout 60 $bin init-model "${iargs[@]}" --out "$tmp/$d" --force >/dev/null || fail "init-model --force over $d"
  info=$($bin info --model "$tmp/$d" --format json) || fail "info after --force over $d"
  echo "$info" | grep -q '"hidden_size": 64' || fail "not the new model in $d: $info"
done
[ -e "$tmp/pre/model.safetensors.index.json" ] && fail "stale shard index left by --force: $(ls "$tmp/pre")"
ls "$tmp/pre"/model-0000*-of-*.safetensors >/dev/null 2>&1 && fail "stale shards left by --force: $(ls "$tmp/pre")"
mkdir "$tmp/empty"
timeout 60 $bin init-model "${iargs[@]}" --out "$tmp/empty" >/dev/null || fail "init-model into an empty directory"
for bad in "--rope-theta -1" "--rope-theta 0" "--rope-theta nan" "--initializer-range nan" "--initializer-range inf" \
           "--initializer-range -0.02" "--max-position-embeddings 0" "--max-position-embeddings -5" "--vocab-size 0" \
           "--head-dim 0" "--kv-heads 0" "--layers 0" "--seed -1" "--linear-key-heads 0" "--linear-head-dim -4"; do
  opt=${bad%% *}
  msg=$(one_error $bin init-model "${iargs[@]}" $bad --out "$tmp/bad") || exit 1
  echo "$msg" | grep -q -- "$opt" || fail "init-model $bad: $msg"
  [ -e "$tmp/bad" ] && fail "init-model $bad wrote $tmp/bad"
done
# --vocab-size below the tokenizer's (512): the message used the freed tokenizer (ASan: use after free)
msg=$(one_error $bin init-model "${iargs[@]}" --vocab-size 100 --out "$tmp/bad") || exit 1
echo "$msg" | grep -q "vocab size 100 is smaller than the tokenizer's 512" || fail "small vocab: $msg"
# Gated DeltaNet heads: qwen3_5_text only, value heads a multiple of the key heads
msg=$(one_error $bin init-model "${iargs[@]}" --linear-key-heads 2 --out "$tmp/bad") || exit 1
echo "$msg" | grep -q "linear heads are for qwen3_5_text" || fail "linear heads on qwen3: $msg"
q35=(--arch qwen3_5_text "${iargs[@]:2}")
msg=$(one_error $bin init-model "${q35[@]}" --linear-key-heads 3 --linear-value-heads 4 --out "$tmp/bad") || exit 1
echo "$msg" | grep -q "linear value heads 4 are not a multiple of the key heads 3" || fail "linear heads 3 / 4: $msg"
[ -e "$tmp/bad" ] && fail "init-model with bad linear heads wrote $tmp/bad"
timeout 60 $bin init-model "${q35[@]}" --layers 4 --linear-key-heads 2 --linear-value-heads 4 --linear-head-dim 8 \
  --out "$tmp/q35" >/dev/null || fail "init-model qwen3_5_text with linear heads"
grep -q '"linear_num_value_heads": 4' "$tmp/q35/config.json" && grep -q '"linear_key_head_dim": 8' "$tmp/q35/config.json" ||
  fail "linear heads not in config.json: $(grep linear_ "$tmp/q35/config.json")"
echo "robust_inputs: all cases passed"
