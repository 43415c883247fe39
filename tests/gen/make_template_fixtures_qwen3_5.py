#!/usr/bin/env python3
"""Writes tests/fixtures/data/templates_qwen3_5.jsonl (conversations + the text the Qwen3.5 chat
template renders for them) and templates_qwen3_5_errors.jsonl (conversations the template refuses,
with its message), rendered by Python Jinja2 the way transformers' apply_chat_template does.

Usage (from the repo root; Debian: apt-get install python3-jinja2):
    python3 tests/gen/make_template_fixtures_qwen3_5.py

The template is tests/fixtures/data/qwen3_5_chat_template.jinja, sha256
a4aee8afcf2e0711942cf848899be66016f8d14a889ff9ede07bca099c28f715 (7756 bytes, no final newline).
Where it comes from:
  - llama.cpp models/templates/Qwen3.5-4B.jinja, added by ggml-org/llama.cpp commit 98ae0a0d3600
    ("common/parser: fix handling of tool definition with missing properties key (#21128)",
    2026-03-28); the bytes above are that blob (a585dec894e6).
  - cross-checked line by line against an independent copy that says it was extracted from
    Qwen/Qwen3.5-27B's tokenizer_config.json (a Python load-balancer's _QWEN_CHAT_TEMPLATE):
    same text. A GGUF of Qwen/Qwen3.5-0.8B (re-packaged by a third party) carries the same
    template except the generation prompt (thinking off unless enable_thinking is true, as the
    0.8B model card says) and a re-spelled arguments loop; ctune follows the 4B+ text.

HF semantics reproduced here (transformers chat_template_utils): ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension, `tojson` = json.dumps(ensure_ascii=False)
with default separators, raise_exception, tools=None when the sample has none, enable_thinking
passed only when the row sets it.

One deliberate input convention: a tool call whose "arguments" is a JSON *string* (OpenAI wire
format) is parsed to an object before rendering, as vLLM and SGLang do before applying the
template; Jinja's `items` filter would raise on a string. The fixture row keeps the string, so the
C renderer is tested on parsing it too.
"""
import copy
import hashlib
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(ROOT, "tests/fixtures/data/qwen3_5_chat_template.jinja")
TEMPLATE_SHA256 = "a4aee8afcf2e0711942cf848899be66016f8d14a889ff9ede07bca099c28f715"
OUT = os.path.join(ROOT, "tests/fixtures/data/templates_qwen3_5.jsonl")
OUT_ERR = os.path.join(ROOT, "tests/fixtures/data/templates_qwen3_5_errors.jsonl")


def build_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def for_jinja(messages):
    """String tool-call arguments parsed to objects (see the module comment)."""
    out = copy.deepcopy(messages)
    for m in out:
        for tc in m.get("tool_calls") or []:
            f = tc.get("function", tc)
            if isinstance(f.get("arguments"), str):
                f["arguments"] = json.loads(f["arguments"])
    return out


def render(tmpl, case):
    kw = {"messages": for_jinja(case["messages"]), "tools": case.get("tools"),
          "add_generation_prompt": bool(case.get("add_generation_prompt"))}
    if "enable_thinking" in case:
        kw["enable_thinking"] = case["enable_thinking"]
    return tmpl.render(**kw)


# ---------------------------------------------------------------- conversation shapes
def fn(name, desc, props, required=None):
    p = {"type": "object", "properties": props}
    if required is not None:
        p["required"] = required
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": p}}


WEATHER = fn("get_weather", "Get the weather of a city",
             {"city": {"type": "string", "description": "城市名"}, "unit": {"type": "string", "enum": ["c", "f"]}},
             ["city"])
CREDIT = fn("query_credit_report", "查询企业征信报告",
            {"company_id": {"type": "string"}, "years": {"type": "integer"}}, ["company_id"])
RECV = fn("get_receivables", "Receivables ledger \"aging\" view\nwith tabs\t.",
          {"company_id": {"type": "string"}, "min_ratio": {"type": "number"}})
NOPARAMS = {"type": "function", "function": {"name": "now", "description": "Current time"}}


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


SYSTEMS = [None, "You are a helpful assistant.", "你是供应链金融风控助手。回答请使用 JSON。",
           "  Leading and trailing spaces \n", "\u3000全角空格包围\u3000", "   "]
USERS = ["Hi", "What's the weather in Paris?", "请评估这家企业的授信额度：应收账款覆盖率 1.8，逾期率 3%。",
         "Tab\there, quote \" and backslash \\ and emoji 🙂", "\nstarts with newline", "Multi\nline\n\nquestion?  ",
         "\xa0nbsp around\xa0", "ends with a file separator\x1c", "line separator\u2028inside\u2028"]
ANSWERS = ["Hello! How can I help?", "It is sunny, 24°C.", "{\"product\": \"应收账款融资\", \"credit_limit\": 500000}",
           "  padded answer  ", "Line one\nLine two", "", "\n\nleading newlines", "ideographic\u3000"]
REASONINGS = ["The user greets me.", "\nNeed to check coverage 1.8 > 1.5 and overdue 3% < 5%.\n",
              "多步推理：先查征信，再看应收。", "  spaced reasoning \t", "line1\n\nline2"]
ARGS = [
    {"city": "Paris"},
    '{"city": "北京", "unit": "c"}',
    {"company_id": "C-001", "years": 3},
    {"company_id": "C\"002\"\n", "min_ratio": 0.85, "flags": [True, False, None], "nested": {"a": [1, 2.5, "x"], "b": {}}},
    '{"company_id":"raw-compact","years":10}',
    {"ok": True, "missing": None, "ratio": 1.0, "tiny": 1e-05, "big": 12345678901234, "neg": -7, "exp": 1e21},
    {"text": "multi\nline\nvalue", "empty": "", "unicode": "😀 é 中", "list": [], "obj": {"k": "v"}},
    {},
    '{"pi": 3.14159, "half": 0.5, "one": 1.0, "e": 2e-7}',
]
TOOL_RESULTS = ["晴，24°C", "{\"score\": 720, \"overdue\": 0.03}", "  42  ", "\nrain\n", "", "{\"ok\": true}"]


def base(i):
    sys_ = SYSTEMS[i % len(SYSTEMS)]
    return [] if sys_ is None else [{"role": "system", "content": sys_}]


def cases():
    out = []
    k = 0
    # 1. plain chats, 1-3 turns, every system variant
    for turns in (1, 2, 3):
        for s in range(len(SYSTEMS)):
            m = base(s)
            for t in range(turns):
                m.append({"role": "user", "content": USERS[(k + t) % len(USERS)]})
                m.append({"role": "assistant", "content": ANSWERS[(k + 2 * t) % len(ANSWERS)]})
            k += 1
            out.append({"messages": m})
    # 2. generation prompts: enable_thinking undefined / true / false
    for s in range(len(SYSTEMS)):
        for et in (None, True, False):
            m = base(s)
            m.append({"role": "user", "content": USERS[s % len(USERS)]})
            if s % 2:
                m.append({"role": "assistant", "content": ANSWERS[s % len(ANSWERS)]})
                m.append({"role": "user", "content": USERS[(s + 1) % len(USERS)]})
            c = {"messages": m, "add_generation_prompt": True}
            if et is not None:
                c["enable_thinking"] = et
            out.append(c)
    # 3. reasoning: reasoning_content, <think> in content, last and earlier turns
    for v in range(10):
        m = base(v)
        m.append({"role": "user", "content": USERS[v % len(USERS)]})
        r = REASONINGS[v % len(REASONINGS)]
        if v % 2 == 0:
            m.append({"role": "assistant", "content": ANSWERS[v % len(ANSWERS)], "reasoning_content": r})
        else:
            m.append({"role": "assistant", "content": "<think>" + r + "</think>\n\n" + ANSWERS[v % len(ANSWERS)]})
        if v >= 2:
            m.append({"role": "user", "content": USERS[(v + 1) % len(USERS)]})
            sel = v % 4
            if sel == 0:
                m.append({"role": "assistant", "content": "<think>\nsecond thought\n</think>\n\nFinal."})
            elif sel == 1:
                m.append({"role": "assistant", "content": "No reasoning here."})
            elif sel == 2:
                m.append({"role": "assistant", "content": "Answer with empty reasoning_content.", "reasoning_content": ""})
            else:
                m.append({"role": "assistant", "content": "  <think>in padded content</think>  after  "})
        out.append({"messages": m})
        out.append({"messages": m[:-1], "add_generation_prompt": True, "enable_thinking": v % 3 != 0})
    # odd think markup
    odd = ["<think>a</think>b</think>c", "pre<think>x<think>y\n\n</think>\n\nz", "no open tag</think>rest",
           "<think>\n\n</think>\n\n", "</think>", "<think>only open", "text <think>r</think>",
           "<think>r</think>\n\n  \t", "<think>\u3000r\u3000</think>\u3000c"]
    for i, content in enumerate(odd):
        m = [{"role": "user", "content": "q%d" % i}, {"role": "assistant", "content": content}]
        if i % 2:
            m = [{"role": "user", "content": "first"}, {"role": "assistant", "content": content}] + \
                [{"role": "user", "content": "second"}, {"role": "assistant", "content": content}]
        out.append({"messages": m})
    out.append({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "<think>ignored</think>c", "reasoning_content": "given"}]})
    out.append({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "<think>used</think>c", "reasoning_content": None}]})
    # 4. tools: calls with object and string arguments, several calls, several results
    for v in range(14):
        m = base(v)
        tools = [WEATHER] if v % 3 == 0 else [CREDIT, RECV] if v % 3 == 1 else [WEATHER, CREDIT, RECV, NOPARAMS]
        m.append({"role": "user", "content": USERS[(v + 2) % len(USERS)]})
        ncalls = 1 + v % 3
        calls = [call("query_credit_report" if c % 2 else "get_weather", ARGS[(v + c) % len(ARGS)]) for c in range(ncalls)]
        content = ["", "Let me check.", "  ", "<think>plan</think>\n\nChecking now.", "<think>only reasoning</think>"][v % 5]
        am = {"role": "assistant", "content": content, "tool_calls": calls}
        if v % 4 == 3:
            am["reasoning_content"] = "Need tool data first."
        m.append(am)
        for c in range(ncalls):
            m.append({"role": "tool", "content": TOOL_RESULTS[(v + c) % len(TOOL_RESULTS)]})
        if v % 2 == 0:
            m.append({"role": "assistant", "content": ANSWERS[v % len(ANSWERS)]})
        if v in (7, 11):
            m.append({"role": "user", "content": "<tool_response>\nfake wrapped\n</tool_response>"})
            m.append({"role": "assistant", "content": "<think>\nafter wrapped user\n</think>\n\nok"})
        if v == 9:
            m.append({"role": "user", "content": "  <tool_response>padded wrapped</tool_response>\n"})
        out.append({"messages": m, "tools": tools, "add_generation_prompt": v % 2 == 1,
                    **({"enable_thinking": v % 4 == 1} if v % 2 else {})})
    # 5. tools declared but unused; multi-step tool loops; calls without tools
    for v in range(6):
        m = base(v + 1)
        m.append({"role": "user", "content": "Plan a trip"})
        m.append({"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Rome"})]})
        m.append({"role": "tool", "content": "rain"})
        m.append({"role": "assistant", "content": "<think>\nrain means umbrella\n</think>\n\n" if v % 2 else "",
                  "tool_calls": [call("get_weather", {"city": "Milan"}), call("now", {})]})
        m.append({"role": "tool", "content": "sun"})
        m.append({"role": "tool", "content": "12:00"})
        m.append({"role": "assistant", "content": "Go to Milan." + (" Enjoy!" if v > 1 else ""),
                  **({"reasoning_content": "Milan is sunny."} if v % 3 == 0 else {})})
        out.append({"messages": m, "tools": [WEATHER, NOPARAMS]} if v < 4 else {"messages": m})
        out.append({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                    "tools": [WEATHER, CREDIT] if v % 2 else [RECV]})
        if v < 3:
            out.append({"messages": base(v + 2) + [{"role": "user", "content": "hi"}], "tools": [NOPARAMS],
                        "add_generation_prompt": True})
    # history with tool loops before the last real user query: reasoning dropped there
    m = [{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
         {"role": "assistant", "content": "", "reasoning_content": "r1", "tool_calls": [call("now", {})]},
         {"role": "tool", "content": "t1"}, {"role": "assistant", "content": "a1", "reasoning_content": "r2"},
         {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2", "reasoning_content": "r3"}]
    out.append({"messages": m, "tools": [NOPARAMS]})
    out.append({"messages": m[:-1], "tools": [NOPARAMS], "add_generation_prompt": True, "enable_thinking": False})
    # a tool result straight after the system message, a user query after it
    out.append({"messages": [{"role": "system", "content": "s"}, {"role": "tool", "content": "orphan"},
                             {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    out.append({"messages": [{"role": "tool", "content": "first message"}, {"role": "user", "content": "q"}],
                "add_generation_prompt": True})
    # 6. seeded mixtures of everything above
    seed = [12345]

    def rnd(n):
        seed[0] = (seed[0] * 1103515245 + 12345) % 2147483648
        return seed[0] % n

    for v in range(40):
        m = base(rnd(len(SYSTEMS)))
        use_tools = rnd(2) == 1
        for t in range(1 + rnd(3)):
            m.append({"role": "user", "content": USERS[rnd(len(USERS))]})
            if use_tools and rnd(2):
                n = 1 + rnd(3)
                calls = [call(["get_weather", "query_credit_report", "get_receivables"][rnd(3)], ARGS[rnd(len(ARGS))])
                         for _ in range(n)]
                am = {"role": "assistant", "content": ["", "Checking.", "<think>t</think>Checking."][rnd(3)],
                      "tool_calls": calls}
                if rnd(3) == 0:
                    am["reasoning_content"] = REASONINGS[rnd(len(REASONINGS))]
                m.append(am)
                for _ in range(n):
                    m.append({"role": "tool", "content": TOOL_RESULTS[rnd(len(TOOL_RESULTS))]})
            a = {"role": "assistant", "content": ANSWERS[rnd(len(ANSWERS))]}
            r = rnd(4)
            if r == 1:
                a["reasoning_content"] = REASONINGS[rnd(len(REASONINGS))]
            if r == 2:
                a["content"] = "<think>\n" + REASONINGS[rnd(len(REASONINGS))] + "\n</think>\n\n" + a["content"]
            m.append(a)
        c = {"messages": m}
        if use_tools:
            c["tools"] = [WEATHER, CREDIT, RECV, NOPARAMS][: 1 + rnd(4)]
        if rnd(3) == 0:
            c["messages"] = m[:-1]
            if c["messages"][-1]["role"] in ("assistant", "tool"):
                c["messages"] = m
            c["add_generation_prompt"] = True
            e = rnd(3)
            if e:
                c["enable_thinking"] = e == 1
        out.append(c)
    return out


def error_cases():
    return [
        {"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "late"},
                      {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "system", "content": "only system"}]},
        {"messages": [{"role": "assistant", "content": "no user at all"}]},
        {"messages": [{"role": "user", "content": "<tool_response>\nx\n</tool_response>"},
                      {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": " <tool_response>y</tool_response> "}],
         "add_generation_prompt": True},
    ]


def main():
    src = open(TEMPLATE, "rb").read()
    got = hashlib.sha256(src).hexdigest()
    if got != TEMPLATE_SHA256:
        sys.exit(f"{TEMPLATE}: sha256 {got}, expected {TEMPLATE_SHA256}")
    tmpl = build_env().from_string(src.decode("utf-8"))
    rows = []
    for c in cases():
        rows.append(json.dumps({**c, "expected": render(tmpl, c)}, ensure_ascii=False))
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    errs = []
    for c in error_cases():
        try:
            render(tmpl, c)
        except jinja2.exceptions.TemplateError as e:
            errs.append(json.dumps({**c, "error": str(e)}, ensure_ascii=False))
            continue
        sys.exit("expected the template to refuse: " + json.dumps(c))
    with open(OUT_ERR, "w", encoding="utf-8") as f:
        f.write("\n".join(errs) + "\n")
    print(f"{os.path.relpath(OUT, ROOT)}: {len(rows)} cases; {os.path.relpath(OUT_ERR, ROOT)}: {len(errs)} cases "
          f"(jinja2 {jinja2.__version__})")


if __name__ == "__main__":
    main()
