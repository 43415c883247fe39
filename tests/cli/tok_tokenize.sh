#!/usr/bin/env bash
# CLI: `ctune tokenize` encode / --jsonl / --decode / errors on the Qwen3 and stories260k tokenizers.
set -u
bin=${CTUNE_BIN:-build/ctune}
q=../shared/tokenizers/qwen3
s=../shared/models/stories260k
if [ ! -f "$q/tokenizer.json" ] || [ ! -f "$s/tokenizer.json" ]; then
  echo "../shared tokenizers (qwen3, stories260k) not present"; exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
errf=$tmp/err.txt

out=$("$bin" tokenize --model "$q" --text "Hello world") || fail "encode exited non-zero"
[ "$out" = "[9707, 1879]" ] || fail "encode: got $out"

out=$(printf 'Hello world' | "$bin" tokenize --model "$q") || fail "stdin encode"
[ "$out" = "[9707, 1879]" ] || fail "stdin encode: got $out"

out=$("$bin" tokenize --model "$s" --text "Once upon a time" --add-special-tokens)
[ "$out" = "[1, 403, 407, 261, 378]" ] || fail "stories BOS: got $out"
out=$("$bin" tokenize --model "$s" --text "Once upon a time")
[ "$out" = "[403, 407, 261, 378]" ] || fail "stories without special: got $out"

out=$(printf '"Hello world"\n"<|im_start|>user"\n""\n' | "$bin" tokenize --model "$q" --jsonl)
want=$'[9707, 1879]\n[151644, 872]\n[]'
[ "$out" = "$want" ] || fail "jsonl: got $out"

out=$("$bin" tokenize --model "$q" --decode --text "9707,1879,151645")
[ "$out" = '"Hello world<|im_end|>"' ] || fail "decode --text: got $out"
out=$("$bin" tokenize --model "$q" --decode --skip-special-tokens --text "9707,1879,151645")
[ "$out" = '"Hello world"' ] || fail "decode skip special: got $out"
out=$(printf '[108386, 3837]\n[9707]\n' | "$bin" tokenize --model "$q" --decode)
[ "$out" = $'"你好，"\n"Hello"' ] || fail "decode stdin: got $out"

# round trip through the CLI on a line with tabs, newlines and emoji
txt=$'tab\there\nnew line 👨‍👩‍👧 e\u0301'
ids=$("$bin" tokenize --model "$q" --text "$txt")
back=$(echo "$ids" | "$bin" tokenize --model "$q" --decode)
[ "$back" = '"tab\there\nnew line 👨‍👩‍👧 é"' ] || fail "round trip: got $back"

# errors
"$bin" tokenize --model /nonexistent --text hi 2>"$errf" && fail "missing model accepted"
grep -q "tokenizer.json" "$errf" || fail "missing model error does not name tokenizer.json: $(cat "$errf")"
printf '{"a": 1}\n' | "$bin" tokenize --model "$q" --jsonl 2>"$errf" && fail "non-string jsonl accepted"
grep -q "stdin:1" "$errf" || fail "jsonl error does not name the line: $(cat "$errf")"
"$bin" tokenize --model "$q" --decode --text "1,x" 2>"$errf" && fail "bad ids accepted"
grep -q "expected non-negative integer ids" "$errf" || fail "bad ids message: $(cat "$errf")"
"$bin" tokenize --model "$q" --bogus 2>/dev/null && fail "unknown option accepted"
echo ok
