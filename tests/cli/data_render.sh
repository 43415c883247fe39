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

# llama3_1: the template's keyword arguments on the line, a builtin call, an ipython result
l31='{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"brave_search","arguments":{"query":"x"}}}]},{"role":"ipython","content":"r"}],"builtin_tools":["brave_search"],"date_string":"02 Feb 2025","add_generation_prompt":true}'
out=$(printf '%s\n' "$l31" | "$bin" data render --template llama3_1) || fail "render llama3_1"
[ "$out" = '"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search\n\nCutting Knowledge Date: December 2023\nToday Date: 02 Feb 2025\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query=\"x\")<|eom_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"r\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"' ] || fail "llama3_1 builtin call: $out"
two='{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}},{"function":{"name":"f","arguments":{}}}]}],"custom_tools":[{"name":"f"}]}'
err=$(printf '%s\n' "$two" | "$bin" data render --template llama3_1 2>&1) && fail "two tool calls accepted by llama3_1"
case "$err" in *"stdin:1"*"message 1 has 2 tool calls"*) ;; *) fail "llama3_1 two calls message: $err";; esac
# llama3: LlamaFactory's llama3 tool format (a JSON list for parallel calls, tools in the system message)
out=$(printf '%s\n' "$two" | sed 's/}]}$/}],"date_string":"02 Feb 2025"}/' | "$bin" data render --template llama3) || fail "render llama3 tools"
case "$out" in *'Today Date: 02 Feb 2025\n\nYou have access to the following functions.'*'assistant<|end_header_id|>\n\n[{\"name\": \"f\", \"parameters\": {}}, {\"name\": \"f\", \"parameters\": {}}]<|eot_id|>"') ;;
  *) fail "llama3 tool calls: $out";; esac
err=$(printf '%s\n' "$two" | "$bin" data render --template llama2 2>&1) && fail "tool calls accepted by llama2"
case "$err" in *"use qwen, qwen3, qwen3_5, llama3 or llama3_1"*) ;; *) fail "llama2 tool call message: $err";; esac

# trained spans
out=$(printf '%s\n' '{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}' | "$bin" data render --template chatml --labels)
[ "$out" = $'<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n«A»«<|im_end|>\n»' ] || fail "labels: $out"

# detection from a tokenizer directory
if [ -f ../shared/tokenizers/qwen3/tokenizer_config.json ]; then
  err=$(printf '%s\n' '{"messages":[{"role":"user","content":"x"}]}' | "$bin" data render --tokenizer ../shared/tokenizers/qwen3 2>&1 >/dev/null)
  case "$err" in *"template qwen3"*) ;; *) fail "detection message: $err";; esac
fi

# a chat_template.jinja beside tokenizer_config.json wins (transformers >= 4.47); Llama 3.1 markers
tmpd=$(mktemp -d)
trap 'rm -rf "$tmpd"' EXIT
printf '{"chat_template": "{{ bos_token }}<|start_header_id|>"}' > "$tmpd/tokenizer_config.json"
printf '%s' '{{- bos_token }}{%- if not tools_in_user_message is defined %}{%- if builtin_tools is defined %}<|start_header_id|>Cutting Knowledge Date: December 2023' > "$tmpd/chat_template.jinja"
err=$(printf '%s\n' '{"messages":[{"role":"user","content":"x"}]}' | "$bin" data render --tokenizer "$tmpd" 2>&1 >/dev/null)
case "$err" in *"template llama3_1 (detected from $tmpd/chat_template.jinja)"*) ;; *) fail "llama3_1 detection: $err";; esac
rm "$tmpd/chat_template.jinja"
err=$(printf '%s\n' '{"messages":[{"role":"user","content":"x"}]}' | "$bin" data render --tokenizer "$tmpd" 2>&1 >/dev/null)
case "$err" in *"template llama3 (detected from $tmpd/tokenizer_config.json)"*) ;; *) fail "llama3 detection: $err";; esac

# errors
err=$(echo '{}' | "$bin" data render --template qwen4 2>&1) && fail "unknown template accepted"
case "$err" in *"did you mean 'qwen'"*) ;; *) fail "unknown template message: $err";; esac
err=$(printf '{"messages":[{"role":"user","content":"a"}]}\n{"messages":[{"role":"bot","content":"x"}]}\n' | "$bin" data render --template qwen 2>&1 >/dev/null) && fail "bad role accepted"
case "$err" in *"stdin:2"*"unknown role 'bot'"*) ;; *) fail "bad role message: $err";; esac
echo ok
