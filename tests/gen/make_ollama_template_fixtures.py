#!/usr/bin/python3
"""Verifies the Ollama TEMPLATEs ctune writes into an exported Modelfile and records them.

For each chat template family with a Go translation (tests/gen/ollama/<name>.gotmpl; the
@TOOLS_JSON@ / @ARGS_JSON@ lines are replaced by tools_json.part / args_json.part), it renders a
set of conversations twice and compares the texts:
  - Ollama's side: tests/gen/ollama/render.go (Go text/template with Ollama's data model, see its
    comment) executes the TEMPLATE, as Ollama's chat endpoint does for the next assistant turn
    (a conversation ending in an assistant message is continued: no end-of-turn after it);
  - the model's side: Python Jinja2 rendering the model's real chat template as transformers'
    apply_chat_template does (compile_template of make_llama31_template_fixtures.py), with
    add_generation_prompt=True when the conversation ends in a user / tool message, and for one
    ending in an assistant message continue_final_message (the text cut after that message's
    content). enable_thinking follows Ollama's think flag (unset: not passed).
Templates whose Jinja starts with bos_token (llama3, llama2): the TEMPLATE leaves out that first
BOS, which Ollama's tokenizer adds (tokenizer.ggml.add_bos_token), so Jinja == bos + Go; and the
variant ctune writes for a tokenizer that adds no BOS (bos text + TEMPLATE) is checked equal too.

Cases marked "limit" exercise what a Go template cannot do (no string trimming, no splitting of a
<think> block out of the content, sorted argument keys, Go's JSON encoder for nested values);
they are recorded with "equal": false/true as found, not asserted. Every other case must match
byte for byte or the script exits non-zero.

Writes: tests/fixtures/ollama/<name>.gotmpl (the verified TEMPLATE texts),
tests/fixtures/ollama/renders.jsonl (every case, both texts), src/model/ollama_templates.inc (the
texts as C string literals for src/model/modelfile.c).
Usage (repo root; needs python3-jinja2, golang-go and the Llama 3.1 template that
scripts/fetch_llama3_1_tokenizer.sh installs in .cache): tests/gen/make_ollama_template_fixtures.py
"""
import copy
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_llama31_template_fixtures import compile_template, load as load_llama31  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "tokenizers"))
GEN = os.path.join(ROOT, "tests", "gen", "ollama")
OUT = os.path.join(ROOT, "tests", "fixtures", "ollama")
INC = os.path.join(ROOT, "src", "model", "ollama_templates.inc")


def mjs_template(const):
    """A Jinja template string of tests/gen/node/make_template_fixtures.mjs (one source)."""
    with open(os.path.join(ROOT, "tests/gen/node/make_template_fixtures.mjs"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"^const " + const + r" =\s*\n\s*(\".*\");$", src, re.M)
    if not m:
        sys.exit(f"make_template_fixtures.mjs: no const {const}")
    return json.loads(m.group(1))


def llama31_source():
    """Meta-Llama-3.1-Instruct's template as scripts/fetch_llama3_1_tokenizer.sh installs it (sha256 checked)."""
    d = os.path.join(ROOT, ".cache", "llama3_1-tokenizer")
    if not os.path.isfile(os.path.join(d, "chat_template.jinja")):
        sys.exit(f"{d}: missing (run scripts/fetch_llama3_1_tokenizer.sh)")
    return load_llama31(d)


def jinja_sources():
    with open(os.path.join(SHARED, "qwen2.5/chat_template.jinja"), encoding="utf-8") as f:
        qwen = f.read()
    with open(os.path.join(SHARED, "qwen3/tokenizer_config.json"), encoding="utf-8") as f:
        qwen3 = json.load(f)["chat_template"]
    with open(os.path.join(ROOT, "tests/fixtures/data/qwen3_5_chat_template.jinja"), encoding="utf-8") as f:
        qwen3_5 = f.read()
    return {"qwen": (qwen, {}), "qwen3": (qwen3, {}), "qwen3_5": (qwen3_5, {}),
            "llama3": (mjs_template("LLAMA3"), {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
            "llama2": (mjs_template("LLAMA2"), {"bos_token": "<s>", "eos_token": "</s>"}),
            "chatml": (mjs_template("CHATML"), {}),
            "llama3_1": llama31_source()}


def go_template(name):
    def part(p):
        with open(os.path.join(GEN, p), encoding="utf-8") as f:
            return f.read().rstrip("\n")
    with open(os.path.join(GEN, name + ".gotmpl"), encoding="utf-8") as f:
        t = f.read().rstrip("\n")
    return t.replace("@TOOLS_JSON@", part("tools_json.part")).replace("@ARGS_JSON@", part("args_json.part"))


# ---------------------------------------------------------------- conversations

def fn(name, desc, props, required=None):
    p = {"type": "object", "properties": props}
    if required:
        p["required"] = required
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": p}}


# tools written in the order Ollama's TEMPLATE prints them: properties sorted by name, each
# {type, items, description, enum}
WEATHER = fn("get_weather", "Get the weather of a city",
             {"city": {"type": "string", "description": "城市名"}, "unit": {"type": "string", "enum": ["c", "f"]}},
             ["city"])
CREDIT = fn("query_credit_report", "查询企业征信报告",
            {"company_id": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
             "years": {"type": "integer", "description": "look-back \"years\"\twith tab"}}, ["company_id"])
NOPARAM = fn("ping", "No parameters", {})

SYSTEMS = [None, "You are a helpful assistant.", "你是供应链金融风控助手。回答请使用 JSON。", "Multi-line\nsystem prompt."]
USERS = ["Hi", "What's the weather in Paris?", "请评估这家企业的授信额度：应收账款覆盖率 1.8，逾期率 3%。",
         "Tab\there, quote \" and backslash \\ and emoji 🙂", "Multi\nline\n\nquestion?", "<b>html & stuff</b>"]
ANSWERS = ["Hello! How can I help?", "It is sunny, 24°C.", "{\"product\": \"应收账款融资\", \"credit_limit\": 500000}",
           "Line one\nLine two", "Sure."]


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


def plain_cases(thinking):
    cases = []
    k = 0
    for turns in (1, 2, 3):
        for s, sys_ in enumerate(SYSTEMS):
            for end_user in (True, False):
                m = [] if sys_ is None else [{"role": "system", "content": sys_}]
                for t in range(turns):
                    m.append({"role": "user", "content": USERS[(k + t) % len(USERS)]})
                    if t + 1 < turns or not end_user:
                        m.append({"role": "assistant", "content": ANSWERS[(k + 2 * t) % len(ANSWERS)]})
                k += 1
                thinks = (None, True, False) if thinking and end_user else (None,)
                for th in thinks:
                    cases.append({"messages": copy.deepcopy(m), "think": th})
    return cases


def think_cases():
    """Reasoning in Ollama's thinking field (reasoning_content for Jinja), last turn and earlier."""
    return [
        {"messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello.", "thinking": "The user greets me."}], "think": None},
        {"messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello.", "thinking": "The user greets me."},
                      {"role": "user", "content": "And now?"}], "think": True},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q1"},
                      {"role": "assistant", "content": "A1", "thinking": "first"},
                      {"role": "user", "content": "Q2"},
                      {"role": "assistant", "content": "A2", "thinking": "second thought"}], "think": None},
    ]


def tool_cases():
    c = []
    c.append({"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER], "think": None})
    c.append({"messages": [{"role": "system", "content": "You are a risk assistant."},
                           {"role": "user", "content": "Check C-001"}], "tools": [WEATHER, CREDIT, NOPARAM],
              "think": None})
    c.append({"messages": [{"role": "user", "content": "Weather in Paris and Berlin?"},
                           {"role": "assistant", "content": "",
                            "tool_calls": [call("get_weather", {"city": "Paris"}),
                                           call("get_weather", {"city": "Berlin", "unit": "c"})]},
                           {"role": "tool", "content": "晴，24°C"}, {"role": "tool", "content": "Rain, 12°C"}],
              "tools": [WEATHER], "think": None})
    c.append({"messages": [{"role": "system", "content": "Use tools."},
                           {"role": "user", "content": "Credit of C-001 over 3 years"},
                           {"role": "assistant", "content": "Let me check.",
                            "tool_calls": [call("query_credit_report", {"company_id": "C-001", "years": 3})]},
                           {"role": "tool", "content": "{\"score\": 720}"},
                           {"role": "assistant", "content": "The score is 720."},
                           {"role": "user", "content": "Thanks"}],
              "tools": [CREDIT], "think": None})
    c.append({"messages": [{"role": "user", "content": "Ping it"},
                           {"role": "assistant", "content": "", "tool_calls": [call("ping", {})]},
                           {"role": "tool", "content": "pong"}], "tools": None, "think": False})
    return c


def limit_cases():
    """What a Go template cannot reproduce (recorded, not asserted)."""
    return [
        {"why": "content with surrounding whitespace (Jinja trim / strip)",
         "messages": [{"role": "user", "content": "  padded question \n"}], "think": None},
        {"why": "a <think> block inside the content (Jinja splits it off; Ollama passes thinking separately)",
         "messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello."},
                      {"role": "user", "content": "Again"}], "think": None},
        {"why": "tool call arguments not in sorted key order / nested values",
         "messages": [{"role": "user", "content": "Go"},
                      {"role": "assistant", "content": "",
                       "tool_calls": [call("query_credit_report",
                                           {"years": 3, "company_id": "C-1", "tags": ["a", "b"], "flag": True})]},
                      {"role": "tool", "content": "ok"}], "tools": [CREDIT], "think": None},
    ]


# ---------------------------------------------------------------- rendering

def jinja_render(tpl, specials, case):
    msgs = []
    for m in case["messages"]:
        j = {"role": m["role"], "content": m["content"]}
        if "thinking" in m:
            j["reasoning_content"] = m["thinking"]
        if m.get("tool_calls"):
            j["tool_calls"] = m["tool_calls"]
        msgs.append(j)
    last_assistant = msgs[-1]["role"] == "assistant"
    kw = dict(specials)
    if case.get("think") is not None:
        kw["enable_thinking"] = case["think"]
    text = tpl.render(messages=msgs, tools=case.get("tools"), documents=None,
                      add_generation_prompt=not last_assistant, **kw)
    if last_assistant:  # transformers' continue_final_message
        final = msgs[-1]["content"].strip()
        text = text[: text.rindex(final) + len(final)]
    return text


def go_render(template, cases):
    inp = {"template": template,
           "cases": [{"messages": c["messages"], "tools": c.get("tools"), "think": c.get("think")} for c in cases]}
    p = subprocess.run(["go", "run", os.path.join(GEN, "render.go")], input=json.dumps(inp).encode(),
                       capture_output=True, env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="off"))
    if p.returncode:
        sys.exit("render.go: " + p.stderr.decode())
    out = json.loads(p.stdout)
    for r in out:
        if "error" in r:
            sys.exit("render.go: " + r["error"])
    return [r["text"] for r in out]


FAMILIES = {  # name: (thinking flag cases, tool cases)
    "qwen": (False, True), "qwen3": (True, True), "qwen3_5": (True, True),
    "llama3": (False, False), "llama2": (False, False), "chatml": (False, False),
    "llama3_1": (False, False),  # plain chats: its tools JSON (indent 4, in the first user message) has no Go form
}


def c_literal(s):
    """s as adjacent C string literals, one per line of s."""
    out = s.split("\n")
    b = []
    for i, line in enumerate(out):
        esc = line.replace("\\", "\\\\").replace("\"", "\\\"").replace("\t", "\\t")
        nl = "\\n" if i + 1 < len(out) else ""
        if esc or nl:
            b.append('    "' + esc + nl + '"')
    return "\n".join(b) if b else '    ""'


def main():
    os.makedirs(OUT, exist_ok=True)
    sources = jinja_sources()
    records, inc = [], []
    failures = 0
    for name, (thinking, tools) in FAMILIES.items():
        src, specials = sources[name]
        tpl = compile_template(src)
        gt = go_template(name)
        if '"""' in gt:
            sys.exit(f"{name}: TEMPLATE holds \"\"\" (cannot be quoted in a Modelfile)")
        bos = specials.get("bos_token", "")
        cases = plain_cases(thinking)
        if thinking:
            cases += think_cases()
        if tools:
            cases += tool_cases()
        if name in ("llama2",):  # roles must alternate user/assistant
            cases = [c for c in cases if all((m["role"] == "user") == (i % 2 == 0) for i, m in
                                             enumerate(c["messages"][1 if c["messages"][0]["role"] == "system" else 0:]))]
        limits = [c for c in limit_cases() if tools or not c.get("tools")]
        if name == "llama2":
            limits = limits[:1]
        allc = cases + limits
        go = go_render(gt, allc)
        go_bos = go_render(bos + gt, cases) if bos else None
        for i, c in enumerate(allc):
            ref = jinja_render(tpl, specials, c)
            got = bos + go[i]
            eq = got == ref
            rec = {"template": name, "case": {k: v for k, v in c.items() if k != "why"}, "jinja": ref, "ollama": got,
                   "equal": eq}
            if "why" in c:
                rec["limit"] = c["why"]
            elif not eq or (go_bos and go_bos[i] != ref):
                failures += 1
                print(f"{name} case {i}: MISMATCH\n jinja:  {ref!r}\n ollama: {got!r}", file=sys.stderr)
            records.append(rec)
        with open(os.path.join(OUT, name + ".gotmpl"), "w", encoding="utf-8") as f:
            f.write(gt)
        inc.append(f'    {{"{name}", "{bos}",\n{c_literal(gt)}}},')
        n_ok = sum(1 for r in records if r["template"] == name and "limit" not in r and r["equal"])
        print(f"{name}: {n_ok}/{len(cases)} conversations equal" + (f" (and with {bos!r} prefixed)" if bos else ""))
    if failures:
        sys.exit(f"{failures} mismatches")
    with open(os.path.join(OUT, "renders.jsonl"), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(INC, "w", encoding="utf-8") as f:
        f.write("/* Generated by tests/gen/make_ollama_template_fixtures.py from tests/gen/ollama/NAME.gotmpl after\n"
                " * checking each against the model's Jinja chat template; do not edit. {name, bos, TEMPLATE} */\n")
        f.write("\n".join(inc) + "\n")


if __name__ == "__main__":
    main()
