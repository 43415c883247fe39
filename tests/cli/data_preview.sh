#!/usr/bin/env bash
# `ctune data preview`: needs the tokenizer (../shared/tokenizers/qwen3).
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }
tokdir=../shared/tokenizers/qwen3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# typo in a key: error names the file, line and suggestion
printf 'datset: x\n' > "$tmp/typo.yaml"
err=$("$bin" data preview "$tmp/typo.yaml" 2>&1) && fail "typo accepted"
case "$err" in *"typo.yaml:1"*"did you mean 'dataset'"*) ;; *) fail "typo message: $err";; esac
[ -f $tokdir/tokenizer.json ] || { echo "skip: ../shared/tokenizers/qwen3 absent"; exit 77; }
cat > "$tmp/cfg.yaml" <<YAML
model_name_or_path: $tokdir
dataset: demo_alpaca,demo_sharegpt,demo_openai
dataset_dir: tests/fixtures/data
template: qwen3
cutoff_len: 256
do_train: true
YAML
out=$("$bin" data preview "$tmp/cfg.yaml" -n 2 --color never 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
  case "$out" in *"not implemented"*) echo "skip: tokenizer not implemented on this branch"; exit 77;; esac
  fail "preview failed: $out"
fi
echo "$out"
case "$out" in *"sample 0 (demo_alpaca)"*) ;; *) fail "no sample header";; esac
# enable_thinking defaults to true (LlamaFactory): the empty think block is trained with the answer.
case "$out" in *"«<think>"*"Bonjour<|im_end|>"*"»"*) ;; *) fail "trained span not marked";; esac
case "$out" in *"dataset demo_sharegpt"*"read 3"*) ;; *) fail "per-dataset counts";; esac
case "$out" in *"packing (off)"*"efficiency"*) ;; *) fail "packing efficiency";; esac
case "$out" in *"no effect in ctune: do_train"*) ;; *) fail "ignored keys not reported";; esac
echo ok
