#!/usr/bin/env bash
# `ctune data render`: exact Jinja output for a few shapes, line flags win over options,
# template detection from tokenizer_config.json, clear errors.
set -u
bin=${CTUNE_BIN:-build/ctune}
fail() { echo "FAIL: $*"; exit 1; }

out=$(printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":true}' | "$bin" data render --template qwen) || fail "render qwen"
[ "$out" = '"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"' ] || fail "qwen default system: $out"

in='{"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":true}'
out=$(printf '%s\n' "$in" | "$bin" data render --template qwen3 --enable-thinking false) || fail "render qwen3"
[ "$out" = '"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"' ] || fail "qwen3 no-think prompt: $out"
# the line's own flag wins over the option
out=$(printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":true,"enable_thinking":true}' | "$bin" data render --template qwen3 --enable-thinking false)
[ "$out" = '"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"' ] || fail "line flag must win: $out"

# tool call with string arguments: qwen3 keeps them raw, qwen (tojson) quotes them
tc='{"messages":[{"role":"user","content":"w?"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{\"a\": \"é\"}"}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}'
out=$(printf '%s\n' "$tc" | "$bin" data render --template qwen3)
case "$out" in *'<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"é\"}}\n</tool_call><|im_end|>\n"') ;; *) fail "qwen3 tool call: $out";; esac
out=$(printf '%s\n' "$tc" | "$bin" data render --template qwen)
case "$out" in *'\"arguments\": \"{\\\"a\\\": \\\"é\\\"}\"}'*) ;; *) fail "qwen tool call tojson: $out";; esac

# trained spans
out=$(printf '%s\n' '{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}' | "$bin" data render --template chatml --labels)
[ "$out" = $'<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n«A»«<|im_end|>\n»' ] || fail "labels: $out"

# detection from a tokenizer directory
if [ -f ../shared/tokenizers/qwen3/tokenizer_config.json ]; then
  err=$(printf '%s\n' '{"messages":[{"role":"user","content":"x"}]}' | "$bin" data render --tokenizer ../shared/tokenizers/qwen3 2>&1 >/dev/null)
  case "$err" in *"template qwen3"*) ;; *) fail "detection message: $err";; esac
fi

# errors
err=$(echo '{}' | "$bin" data render --template qwen4 2>&1) && fail "unknown template accepted"
case "$err" in *"did you mean 'qwen'"*) ;; *) fail "unknown template message: $err";; esac
err=$(printf '{"messages":[{"role":"user","content":"a"}]}\n{"messages":[{"role":"bot","content":"x"}]}\n' | "$bin" data render --template qwen 2>&1 >/dev/null) && fail "bad role accepted"
case "$err" in *"stdin:2"*"unknown role 'bot'"*) ;; *) fail "bad role message: $err";; esac
echo ok
