#!/usr/bin/env bash
# `ctune serve` as a program: a LlamaFactory inference YAML on a tiny random Qwen3 (init-model +
# the Qwen3 tokenizer from ../shared), every endpoint over curl (tools, thinking switch, the web
# page, the training-runs view), the official `openai` npm client (scripts/deps.sh --test-extra;
# skipped with a message when absent), headless Chromium loading / and streaming a message in
# (skipped when chromium is absent), `ctune bench-serve` against it, and a graceful SIGTERM with a
# stream in flight.
set -u
bin=${CTUNE_BIN:-build/ctune}
qtok=${CTUNE_SHARED:-../shared}/tokenizers/qwen3
fail() { echo "FAIL: $*"; [ -f "${tmp:-/nonexistent}/log" ] && sed 's/^/  server: /' "$tmp/log" | tail -20; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
err=$($bin serve 2>&1) && fail "serve without --model accepted"
echo "$err" | grep -q "model DIR is required" || fail "message: $err"
err=$($bin serve --model x --parallel 0 2>&1) && fail "--parallel 0 accepted"
echo "$err" | grep -q "parallel" || fail "message: $err"
if [ ! -f "$qtok/tokenizer.json" ]; then echo "Qwen3 tokenizer not found at $qtok (../shared absent)"; exit 77; fi
if ! $bin serve --help | grep -q "adapter NAME=DIR"; then fail "help"; fi
$bin init-model --arch qwen3 --hidden-size 32 --layers 1 --heads 2 --kv-heads 1 --head-dim 16 --intermediate-size 64 \
  --tokenizer "$qtok" --out "$tmp/m" --dtype f32 >/dev/null || fail "init-model"
err=$($bin serve --model "$tmp/m" --host localhost --port 0 2>&1) && fail "a host name accepted"
if echo "$err" | grep -q "without libmicrohttpd"; then echo "ctune built without libmicrohttpd (scripts/deps.sh)"; exit 77; fi
echo "$err" | grep -q "IPv4" || fail "host message: $err"
# --json-schema FILE: a missing file or a schema outside the subset is a one-line startup error naming it
err=$(timeout 60 $bin serve --model "$tmp/m" --port 0 --json-schema "$tmp/nope.json" 2>&1) && fail "missing schema accepted"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "nope.json" || fail "schema message: $err"
echo '{"type":"string","pattern":"^a"}' > "$tmp/bad.json"
err=$(timeout 60 $bin serve --model "$tmp/m" --port 0 --json-schema "$tmp/bad.json" 2>&1) && fail "bad schema accepted"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "bad.json.*pattern" || fail "schema message: $err"
cat > "$tmp/infer.yaml" <<EOC
model_name_or_path: $tmp/m
template: qwen3
infer_backend: huggingface
do_sample: false
max_new_tokens: 16
trust_remote_code: true
EOC
mkdir -p "$tmp/runs/run1"
printf '%s\n' '{"current_steps": 1, "total_steps": 2, "loss": 2.5}' '{"current_steps": 2, "total_steps": 2, "loss": 2.1, "eval_loss": 2.3}' \
  '{"current_steps": 3, "lo' > "$tmp/runs/run1/trainer_log.jsonl"
echo '{"eval_loss": 2.3}' > "$tmp/runs/run1/all_results.json"
$bin serve "$tmp/infer.yaml" --port 0 --port-file "$tmp/port" --runs "$tmp/runs" --threads 1 --served-model-name tiny \
  >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 150); do [ -s "$tmp/port" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "the server did not start"
url=http://127.0.0.1:$(cat "$tmp/port")
c() { curl -s -m 60 "$@"; }
c "$url/health" | grep -q '"status":"ok"' || fail "health"
c "$url/v1/models" | grep -q '"id":"tiny"' || fail "models: $(c "$url/v1/models")"
msg='"messages":[{"role":"user","content":"Weather in Paris?"}]'
tools='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]'
out=$(c "$url/v1/chat/completions" -d "{$msg,\"max_tokens\":4}")
echo "$out" | grep -q '"object":"chat.completion"' || fail "chat: $out"
p0=$(echo "$out" | sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p')
out=$(c "$url/v1/chat/completions" -d "{$msg,$tools,\"max_tokens\":4}")
p1=$(echo "$out" | sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p')
[ -n "$p0" ] && [ -n "$p1" ] && [ "$p1" -gt "$p0" ] || fail "tools not rendered into the prompt: $p0 vs $p1 ($out)"
out=$(c "$url/v1/chat/completions" -d "{$msg,\"max_tokens\":4,\"chat_template_kwargs\":{\"enable_thinking\":false}}")
p2=$(echo "$out" | sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p')
[ -n "$p2" ] && [ "$p2" -gt "$p0" ] || fail "enable_thinking false should add the empty think block: $p2 vs $p0"
out=$(c -N "$url/v1/chat/completions" -d "{$msg,\"max_tokens\":4,\"stream\":true}")
echo "$out" | head -1 | grep -q '^data: {.*"role":"assistant"' || fail "stream start: $out"
echo "$out" | tail -2 | grep -q '^data: \[DONE\]' || fail "stream end: $out"
out=$(c -w '%{http_code}' "$url/v1/chat/completions" -d '{"messages": 5}')
echo "$out" | grep -q '"param":"messages".*400$' || fail "bad messages: $out"
c "$url/" | grep -q "<title>ctune serve</title>" || fail "web page"
out=$(c "$url/api/runs")
echo "$out" | grep -q '"name": "run1"' || fail "runs: $out"
out=$(c "$url/api/runs/run1")
echo "$out" | grep -q '"eval_loss": 2.3}' && echo "$out" | grep -q '"current_steps": 2' || fail "run log: $out"
c -w '%{http_code}' "$url/api/runs/..%2F..%2Fetc" | grep -q '404$' || fail "runs path escape"
# the load generator: a prompts file (text and JSON lines), a few requests, the JSON report
printf 'Hello there\n\n{"prompt": "Weather in Paris?"}\n' > "$tmp/prompts.txt"
out=$($bin bench-serve --url "$url/v1" --model tiny --prompts "$tmp/prompts.txt" --requests 4 --concurrency 2 \
  --max-tokens 4 --output "$tmp/bench.json") || fail "bench-serve: $out"
echo "$out" | grep -q '^TTFT (ms)' && echo "$out" | grep -q 'succeeded 4, failed 0' || fail "bench-serve table: $out"
grep -q '"succeeded": 4' "$tmp/bench.json" && grep -q '"prompts": 2' "$tmp/bench.json" &&
  grep -q '"tpot_s"' "$tmp/bench.json" && grep -q '"output_tokens_per_s"' "$tmp/bench.json" || fail "bench-serve json: $(cat "$tmp/bench.json")"
printf '{"text": 1}\n' > "$tmp/bad.txt"
out=$($bin bench-serve --url "$url" --prompts "$tmp/bad.txt" 2>&1) && fail "a prompts line without prompt accepted"
echo "$out" | grep -q "bad.txt:1:" || fail "bench-serve bad prompts message: $out"
if [ -d tests/npm/node_modules/openai ] && command -v node >/dev/null; then
  node tests/cli/serve_openai.cjs "$PWD/tests/npm/node_modules/openai" "$(cat "$tmp/port")" tiny || fail "openai client"
else
  echo "openai npm client not installed (scripts/deps.sh --test-extra): skipped"
fi
if command -v chromium >/dev/null; then
  # --virtual-time-budget does not wait for a streamed body: a dump can come before the last
  # token, so up to 12 tries (each a fresh page and request) until one shows the finished answer
  for try in $(seq 12); do
    dom=$(timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/chrome" \
          --virtual-time-budget=20000 --dump-dom "$url/#max=3&ask=Hello%20there" 2>/dev/null)
    echo "$dom" | grep -q 'class="msg user"' || fail "chromium: the message was not sent: $(echo "$dom" | tail -5)"
    echo "$dom" | grep -q 'class="msg assistant"' || fail "chromium: no answer"
    echo "$dom" | grep -q '<span id="status">done</span>' && break
  done
  echo "$dom" | grep -q '<span id="status">done</span>' || fail "chromium: the answer never finished streaming: $(echo "$dom" | grep -A2 "msg assistant")"
  echo "$dom" | grep -q '<div class="msg assistant"><div class="who">tiny</div><div class="body"><div>' || fail "chromium: no streamed text"
  timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/chrome" \
    --virtual-time-budget=20000 --window-size=1000,700 --screenshot="$tmp/serve.png" "$url/#max=6&ask=Hello" >/dev/null 2>&1
  [ -s "$tmp/serve.png" ] || fail "chromium: no screenshot"
  [ -n "${CT_SERVE_SCREENSHOT:-}" ] && cp "$tmp/serve.png" "$CT_SERVE_SCREENSHOT"
else
  echo "chromium not installed (scripts/deps.sh --test-extra): web page test skipped"
fi
# graceful SIGTERM: the stream in flight ends with [DONE], new requests are refused, exit 0
c -N "$url/v1/chat/completions" -d "{$msg,\"max_tokens\":200,\"stream\":true}" > "$tmp/inflight" &
cpid=$!
for _ in $(seq 100); do grep -q '"content"' "$tmp/inflight" 2>/dev/null && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
pid=
wait $cpid
[ $rc -eq 0 ] || fail "exit status $rc after SIGTERM"
tail -1 "$tmp/inflight" | grep -q '^data: \[DONE\]' || tail -2 "$tmp/inflight" | grep -q '^data: \[DONE\]' || fail "in-flight stream cut: $(tail -3 "$tmp/inflight")"
grep -q "SIGTERM" "$tmp/log" || fail "no shutdown message"
echo ok
