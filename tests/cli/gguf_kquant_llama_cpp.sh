#!/usr/bin/env bash
# GGUF files quantized by llama.cpp itself (K-quants: what `llama-quantize Q4_K_M` writes and what
# Ollama ships) loaded by ctune (docs/inference.md, "GGUF models": Q4_1 / Q5_x / K-quant tensors
# decoded as ggml decodes them, src/quant/ggml_dequant.c, tested bit for bit against ggml in
# tests/test_ggml_dequant.c, and kept as bf16), scored against llama.cpp on the same file
# (npm node-llama-cpp 3.21.1, scripts/deps.sh --test-extra):
#  - models: random llama and qwen3 models 256 wide (K-quant blocks are 256 long), MLP 512,
#    stories260k's tokenizer (../shared), exported F32 by ctune, then quantized by llama.cpp's own
#    llama_model_quantize (tests/gguf/quantize.py) to Q4_K_M, Q5_K_M, Q6_K and Q2_K;
#  - text: the 16 held-out stories of bench/data/heldout_stories.jsonl; per line the summed NLL,
#    token by token (ctune `eval-loss --decode`, llama.cpp tests/gguf/llama_cpp_check.mjs nll32);
#  - the two differ by the arithmetic only: llama.cpp multiplies K-quant blocks with 8-bit
#    activations (Q8_K), ctune multiplies the decoded weights rounded to bf16 with f32
#    activations. Measured per token (NLLs ~6 per token): mean 1.8e-3 .. 3.3e-3, worst line
#    8.3e-3 (with the decoded weights kept in f32 instead of bf16: mean 1.8e-3 .. 3.0e-3, so
#    llama.cpp's 8-bit activations are most of it). Bounds: every line within TOL (1.2e-2) per
#    token, the mean within 5e-3, and, as the control showing the file's weights are the ones
#    used, the mean below 0.7x that of ctune on the F32 export (the unquantized weights) against
#    llama.cpp on the quantized file (measured 6.4e-3 (Q6_K) .. 5.1e-2 (Q2_K), 2.1x to 23x
#    ctune's own).
set -u
bin=${CTUNE_BIN:-build/ctune}
shared=${CTUNE_SHARED:-../shared}
stories=$shared/models/stories260k
nlc=.cache/node-llama-cpp
lib=$nlc/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 # libllama of the same package
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$stories" ]; then echo "stories260k not found at $stories (../shared absent): its tokenizer is needed"; exit 77; fi
if ! command -v node >/dev/null || [ ! -f "$nlc/node_modules/node-llama-cpp/package.json" ] ||
  [ ! -f "$lib/libllama.v0.4.0.so" ] || ! command -v python3 >/dev/null; then
  echo "node-llama-cpp (scripts/deps.sh --test-extra) or python3 missing: not compared with llama.cpp"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed 's/^{"text": \(.*\)}$/\1/' bench/data/heldout_stories.jsonl |
  "$bin" tokenize --model "$stories" --jsonl --add-special-tokens > "$tmp/ids.jsonl" || fail "tokenize"
nl=$(wc -l < "$tmp/ids.jsonl")
for i in $(seq 1 "$nl"); do echo "{\"input_ids\": $(sed -n "${i}p" "$tmp/ids.jsonl")}" > "$tmp/line$i.jsonl"; done

types="${TYPES:-q4_k_m q5_k_m q6_k q2_k}"
: > "$tmp/jobs"
for a in llama qwen3; do
  "$bin" init-model --arch $a --hidden-size 256 --layers 2 --heads 4 --kv-heads 2 --intermediate-size 512 \
    --head-dim 64 --tokenizer "$stories" --out "$tmp/$a" --dtype f32 --initializer-range 0.05 --seed 4 \
    --rope-theta 10000 >/dev/null || fail "init-model $a"
  "$bin" export --format gguf --model "$tmp/$a" --out "$tmp/${a}_f32" --dtype f32 >/dev/null || fail "export $a"
  for q in $types; do
    python3 tests/gguf/quantize.py "$tmp/${a}_f32/model.gguf" "$tmp/${a}_$q.gguf" $q --lib "$lib" >/dev/null 2>"$tmp/qerr" ||
      fail "llama.cpp quantize $a $q: $(tail -3 "$tmp/qerr")"
    for i in $(seq 1 "$nl"); do
      echo "$tmp/r_${a}_${q}_$i $tmp/${a}_$q.gguf - nll32 $(sed -n "${i}p" "$tmp/ids.jsonl" | tr -d '[] ')" >> "$tmp/jobs"
    done
  done
done
node tests/gguf/llama_cpp_check.mjs "$nlc" batch "$tmp/jobs" || fail "llama.cpp could not run the quantized files"

ctune_nll() { # MODEL LINE: loss * tokens
  "$bin" eval-loss --model "$1" --data "$tmp/line$2.jsonl" --threads 1 --decode |
    sed 's/.*"loss": \([^,]*\), "tokens": \([0-9]*\).*/\1 \2/' | awk '{printf "%.9f\n", $1 * $2}'
}
# compare MODEL A Q: per-token |ctune - llama.cpp| over the lines: "worst mean"
compare() {
  local m=$1 a=$2 q=$3 worst=0 sum=0
  for i in $(seq 1 "$nl"); do
    local c l n d
    c=$(ctune_nll "$m" "$i") || fail "ctune eval-loss $m line $i"
    l=$(sed 's/.*"nll":\([^,]*\),.*/\1/' "$tmp/r_${a}_${q}_$i")
    n=$(sed 's/.*"tokens":\([0-9]*\).*/\1/' "$tmp/r_${a}_${q}_$i")
    d=$(awk -v a="$c" -v b="$l" -v n="$n" 'BEGIN{d=(a-b)/n; if(d<0)d=-d; printf "%.3e", d}')
    worst=$(awk -v d="$d" -v w="$worst" 'BEGIN{print (d > w ? d : w)}')
    sum=$(awk -v d="$d" -v s="$sum" 'BEGIN{print s + d}')
  done
  echo "$worst $(awk -v s="$sum" -v n="$nl" 'BEGIN{printf "%.3e", s / n}')"
}
TOL=${TOL:-1.2e-2}
for a in llama qwen3; do
  for q in $types; do
    r=$(compare "$tmp/${a}_$q.gguf" $a $q) || fail "$r"
    ctl=$(compare "$tmp/${a}_f32/model.gguf" $a $q) || fail "$ctl"
    echo "$a $q: ctune on the file vs llama.cpp: worst $(echo $r | cut -d' ' -f1), mean $(echo $r | cut -d' ' -f2) per token;" \
      "control (ctune on the F32 weights): mean $(echo $ctl | cut -d' ' -f2)"
    awk -v w="${r% *}" -v t="$TOL" 'BEGIN{exit !(w <= t)}' || fail "$a $q: a line differs by ${r% *} per token (> $TOL)"
    awk -v m="${r#* }" 'BEGIN{exit !(m <= 5e-3)}' || fail "$a $q: mean difference ${r#* } per token (> 5e-3)"
    awk -v m="${r#* }" -v c="${ctl#* }" 'BEGIN{exit !(m < 0.7 * c)}' ||
      fail "$a $q: ctune on the quantized file (${r#* }) is not clearly closer to llama.cpp than the F32 weights (${ctl#* })"
  done
done
echo "ok"
