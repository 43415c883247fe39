#!/usr/bin/python3
"""Writes tests/fixtures/data/templates_llama3_1.jsonl: conversations with the text the Meta
Llama-3.1-Instruct chat template renders for them, for tests/test_data_templates.c.

Reference: Python Jinja2 (Debian python3-jinja2) rendering the real template the way
transformers' apply_chat_template does (utils/chat_template_utils.py _compile_jinja_template):
an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension,
`tojson` replaced by json.dumps(ensure_ascii=False, indent=..., separators=..., sort_keys=...),
the globals raise_exception and strftime_now, and render(messages=..., tools=<list or None>,
documents=None, add_generation_prompt=..., bos_token=..., eos_token=..., **template kwargs).

The template is DIR/chat_template.jinja of the directory scripts/fetch_llama3_1_tokenizer.sh
installs (default .cache/llama3_1-tokenizer); its sha256 is checked below. bos/eos come from
DIR/tokenizer_config.json.

Each line: {"messages", "tools"?, "custom_tools"?, "builtin_tools"?, "tools_in_user_message"?,
"date_string"?, "add_generation_prompt"?} plus "expected" (the text) or "error" (the message of
the exception the template raises).
Usage (repo root): tests/gen/make_llama31_template_fixtures.py [DIR]
"""
import datetime
import hashlib
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_SHA256 = "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load(tok_dir):
    with open(os.path.join(tok_dir, "chat_template.jinja"), "rb") as f:
        src = f.read()
    got = hashlib.sha256(src).hexdigest()
    if got != TEMPLATE_SHA256:
        sys.exit(f"{tok_dir}/chat_template.jinja: sha256 {got}, expected {TEMPLATE_SHA256} "
                 "(run scripts/fetch_llama3_1_tokenizer.sh)")
    with open(os.path.join(tok_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    return src.decode("utf-8"), {"bos_token": cfg["bos_token"], "eos_token": cfg["eos_token"]}


def compile_template(src):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(src)


KWARGS = ("custom_tools", "builtin_tools", "tools_in_user_message", "date_string")


def render(tpl, specials, case):
    kw = dict(specials)
    for k in KWARGS:
        if k in case:
            kw[k] = case[k]
    return tpl.render(messages=case["messages"], tools=case.get("tools"), documents=None,
                      add_generation_prompt=bool(case.get("add_generation_prompt")), **kw)


# ---------------------------------------------------------------- conversations (deterministic)

def fn(name, description, params):
    return {"type": "function", "function": {"name": name, "description": description, "parameters": params}}


WEATHER = fn("get_weather", "Get the weather of a city",
             {"type": "object", "properties": {"city": {"type": "string", "description": "城市名"},
                                               "unit": {"type": "string", "enum": ["c", "f"]}},
              "required": ["city"]})
CREDIT = fn("query_credit_report", "查询企业征信报告",
            {"type": "object", "properties": {"company_id": {"type": "string"},
                                              "years": {"type": "integer", "minimum": 1, "default": 3.0}},
             "required": ["company_id"]})
RECV = fn("get_receivables", "Receivables ledger \"aging\" view\nwith tabs\t.",
          {"type": "object", "properties": {}, "required": []})
BARE = {"name": "lookup", "description": "A spec without the type/function wrapper",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "limit": {"type": "number"}}}}

SYSTEMS = [None, "You are a helpful assistant.", "你是供应链金融风控助手。回答请使用 JSON。",
           "  Leading and trailing spaces \n", "\u3000ideographic space and nbsp\u00a0"]
USERS = ["Hi", "What's the weather in Paris?", "请评估这家企业的授信额度：应收账款覆盖率 1.8，逾期率 3%。",
         "Tab\there, quote \" and backslash \\ and emoji 🙂", "\nstarts with newline", "Multi\nline\n\nquestion?  "]
ANSWERS = ["Hello! How can I help?", "It is sunny, 24°C.", "{\"product\": \"应收账款融资\", \"credit_limit\": 500000}",
           "  padded answer  ", "Line one\nLine two", ""]
ARGS = [
    {"city": "Paris"},
    "{\"city\": \"北京\", \"unit\": \"c\"}",
    {"company_id": "C-001", "years": 3},
    {"company_id": "C\"002\"\n", "ratio": 0.85, "one": 1.0, "tiny": 1e-05, "flags": [True, False, None],
     "nested": {"a": [1, 2.5, "x"], "b": {}}},
    "{\"company_id\":\"raw-compact\"}",
]
RESULTS = ["晴，24°C", "{\"score\": 720, \"overdue\": 0.03}", "  spaced result\n", "42", ""]


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


def with_system(i):
    s = SYSTEMS[i % len(SYSTEMS)]
    return [] if s is None else [{"role": "system", "content": s}]


def cases():
    out = []
    # 1. plain chats, 1-3 turns, each system prompt, with and without a generation prompt
    k = 0
    for turns in (1, 2, 3):
        for s in range(len(SYSTEMS)):
            m = with_system(s)
            for t in range(turns):
                m.append({"role": "user", "content": USERS[(k + t) % len(USERS)]})
                m.append({"role": "assistant", "content": ANSWERS[(k + 2 * t) % len(ANSWERS)]})
            k += 1
            out.append({"messages": m})
            out.append({"messages": m[:-1], "add_generation_prompt": True})
    out.append({"messages": [{"role": "system", "content": "Only a system prompt."}], "add_generation_prompt": True})
    out.append({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": " mid system "},
                             {"role": "user", "content": "b"}], "add_generation_prompt": True})
    out.append({"messages": [{"role": "user", "content": "hi"}], "date_string": "01 Jan 2025"})
    # 2. custom tools in the first user message (tools_in_user_message default true) and in the
    #    system message (false); one call per assistant turn, results as tool or ipython
    toolsets = [[WEATHER], [CREDIT, RECV], [WEATHER, CREDIT, RECV, BARE]]
    for v in range(12):
        m = with_system(v)
        m.append({"role": "user", "content": USERS[(v + 2) % len(USERS)]})
        case = {"messages": m}
        if v % 4 == 3:
            case["custom_tools"] = toolsets[v % 3]
        else:
            case["tools"] = toolsets[v % 3]
        if v % 2:
            case["tools_in_user_message"] = False
        steps = 1 + v % 3
        for st in range(steps):
            name = ["get_weather", "query_credit_report", "lookup"][(v + st) % 3]
            am = {"role": "assistant", "content": "Let me check." if (v + st) % 4 == 0 else "",
                  "tool_calls": [call(name, ARGS[(v + st) % len(ARGS)])]}
            m.append(am)
            m.append({"role": "ipython" if (v + st) % 2 else "tool", "content": RESULTS[(v + st) % len(RESULTS)]})
        if v % 3 != 2:
            m.append({"role": "assistant", "content": ANSWERS[v % len(ANSWERS)]})
            if v % 4 == 1:
                m.append({"role": "user", "content": "And tomorrow?"})
                m.append({"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Rome"})]})
                m.append({"role": "tool", "content": "rain"})
        case["add_generation_prompt"] = m[-1]["role"] != "assistant"
        if v == 5:
            case["date_string"] = "23 Jul 2024"
        out.append(case)
    # tools declared, no call; tools in the user message with only the first user turn
    out.append({"messages": [{"role": "user", "content": " plan a trip "}], "tools": [WEATHER], "add_generation_prompt": True})
    out.append({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                             {"role": "assistant", "content": "A"}], "tools": [RECV], "tools_in_user_message": False})
    # the first message after the system one is taken as the user message whatever its role
    out.append({"messages": [{"role": "assistant", "content": " greeting first "}, {"role": "user", "content": "Q"}],
                "tools": [WEATHER], "add_generation_prompt": True})
    # tool_calls are looked at before the role: a tool message carrying one renders the call
    out.append({"messages": [{"role": "user", "content": "Q"},
                             {"role": "tool", "content": "x", "tool_calls": [call("get_weather", {"city": "Oslo"})]},
                             {"role": "user", "content": " after "}],
                "tools": [WEATHER], "tools_in_user_message": False, "add_generation_prompt": True})
    # 3. builtin tools: "Environment: ipython", the Tools line (code_interpreter left out of it),
    #    builtin calls as <|python_tag|>name.call(k="v"), every call ends with <|eom_id|>
    builtin_sets = [["brave_search", "wolfram_alpha"], ["code_interpreter"],
                    ["brave_search", "code_interpreter", "wolfram_alpha"], []]
    for v, bt in enumerate(builtin_sets):
        m = with_system(v + 1)
        m.append({"role": "user", "content": "What is the population of Lyon? Then 2^10?"})
        if "brave_search" in bt:
            m.append({"role": "assistant", "content": "", "tool_calls": [call("brave_search", {"query": "Lyon population \"2024\""})]})
            m.append({"role": "ipython", "content": "{\"population\": 522250}"})
        if "wolfram_alpha" in bt:
            m.append({"role": "assistant", "content": "", "tool_calls": [call("wolfram_alpha", {"query": "2^10", "units": "metric"})]})
            m.append({"role": "tool", "content": "1024"})
        if "code_interpreter" in bt:
            m.append({"role": "assistant", "content": "", "tool_calls": [call("code_interpreter", {"code": "print(2**10)\n"})]})
            m.append({"role": "ipython", "content": "1024\n"})
        if v == 3:  # builtin_tools defined but empty: a custom call still ends with <|eom_id|>
            m.append({"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Lyon"})]})
            m.append({"role": "tool", "content": "sun"})
        m.append({"role": "assistant", "content": "Lyon has about 522k people; 2^10 = 1024."})
        case = {"messages": m, "builtin_tools": bt}
        if v >= 2:
            case["tools"] = [WEATHER]
            case["tools_in_user_message"] = v == 2
        out.append(case)
        out.append({"messages": m[:2], "builtin_tools": bt, "add_generation_prompt": True})
    # a custom call next to builtin tools: JSON format, <|eom_id|>
    out.append({"messages": [{"role": "user", "content": "weather?"},
                             {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Nice"})]},
                             {"role": "tool", "content": "sun"}],
                "builtin_tools": ["brave_search"], "tools": [WEATHER], "add_generation_prompt": True})
    # 4. seeded mixtures
    seed = [12345]

    def rnd(n):
        seed[0] = (seed[0] * 1103515245 + 12345) % 2147483648
        return seed[0] % n

    for v in range(24):
        m = with_system(rnd(len(SYSTEMS)))
        use_tools = rnd(2) == 1
        for t in range(1 + rnd(3)):
            m.append({"role": "user", "content": USERS[rnd(len(USERS))]})
            if use_tools and rnd(2):
                m.append({"role": "assistant", "content": "Checking." if rnd(3) == 0 else "",
                          "tool_calls": [call(["get_weather", "query_credit_report", "get_receivables"][rnd(3)],
                                              ARGS[rnd(len(ARGS))])]})
                m.append({"role": ["tool", "ipython"][rnd(2)], "content": RESULTS[rnd(len(RESULTS))]})
            m.append({"role": "assistant", "content": ANSWERS[rnd(len(ANSWERS))]})
        case = {"messages": m}
        if use_tools:
            case["tools"] = [WEATHER, CREDIT, RECV][: 1 + rnd(3)]
            if rnd(2):
                case["tools_in_user_message"] = False
        if rnd(3) == 0:
            case["messages"] = m[:-1]
            case["add_generation_prompt"] = True
        out.append(case)
    # 5. what the template refuses
    out.append({"messages": [{"role": "user", "content": "two at once"},
                             {"role": "assistant", "content": "",
                              "tool_calls": [call("get_weather", {"city": "A"}), call("get_weather", {"city": "B"})]}],
                "tools": [WEATHER]})
    out.append({"messages": [{"role": "system", "content": "S"}], "tools": [WEATHER], "add_generation_prompt": True})
    out.append({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "", "tool_calls": [call("brave_search", {"query": "x", "count": 3})]}],
                "builtin_tools": ["brave_search"]})
    out.append({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "", "tool_calls": [call("brave_search", "{\"query\": \"x\"}")]}],
                "builtin_tools": ["brave_search"]})
    return out


def main():
    tok_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".cache", "llama3_1-tokenizer")
    src, specials = load(tok_dir)
    tpl = compile_template(src)
    rows, n_err = [], 0
    for c in cases():
        row = dict(c)
        try:
            row["expected"] = render(tpl, specials, c)
        except (jinja2.exceptions.TemplateError, TypeError) as e:
            row["error"] = str(e)
            n_err += 1
        rows.append(json.dumps(row, ensure_ascii=False))
    path = os.path.join(ROOT, "tests", "fixtures", "data", "templates_llama3_1.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print(f"{os.path.relpath(path, ROOT)}: {len(rows)} cases ({n_err} errors), jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    main()
