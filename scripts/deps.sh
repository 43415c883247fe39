#!/usr/bin/env bash
# Installs the Debian packages ctune needs to build and test (idempotent; root or sudo).
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh --bench  also the PyTorch baseline used by `make bench` and fixture scripts
#   scripts/deps.sh --fuzz   also clang + libFuzzer runtime for `make fuzz`
set -euo pipefail
pkgs=(gcc make pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libyaml-dev libopenblas-dev libomp-dev)
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(python3 python3-torch python3-numpy nodejs npm)
fi
if [ "${1:-}" = "--fuzz" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(clang libclang-rt-dev python3)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
