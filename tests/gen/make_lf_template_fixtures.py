#!/usr/bin/python3
"""Writes tests/fixtures/data/templates_lf.jsonl: conversations with the (prompt, answer) pairs
LlamaFactory's own templates produce for them in training, for tests/test_data_lf.c.

Reference: LlamaFactory's src/llamafactory/data/{template,formatter,tool_utils}.py, imported from
a checkout given on the command line (not copied: the modules are loaded as they are, with
stand-ins for the parts they import that need torch / transformers / datasets: the logger, Role
and SLOTS of data_utils, get_mm_plugin). Template.encode_multiturn runs with a character-level
tokenizer (one id per Unicode character, bos as id -1), so each pair decodes back to the exact
text LlamaFactory tokenizes: the prompt side is masked, the answer side is trained. The llama3
tool prompt's date (datetime.now() in tool_utils) is pinned to DATE.

Cases: llama3 (plain chats; tools, function calls, parallel calls, observations, an observation
after a plain answer as in glaive_toolcall_zh_demo), qwen3 (ReasoningTemplate: think blocks per
turn, enable_thinking true / false / null, mask_history with and without preserve_thinking),
qwen3_5 (the same ReasoningTemplate on plain chats), qwen3_nothink (answers as given, <think>
text included).

Each line: {"template", "row" (a sharegpt row: conversations from/value, system?, tools?),
"enable_thinking"?, "mask_history"?, "preserve_thinking"?, "date", "pairs": [[prompt, answer],
...], "trained": [bool per pair]} (mask_history trains only the last pair).
Usage (repo root): tests/gen/make_lf_template_fixtures.py LLAMAFACTORY_DIR
"""
import enum
import importlib.util
import json
import os
import sys
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATE = "26 Jul 2024"
OUT = os.path.join(ROOT, "tests", "fixtures", "data", "templates_lf.jsonl")


def load_lf(lf_dir):
    src = os.path.join(lf_dir, "src", "llamafactory", "data")
    if not os.path.isfile(os.path.join(src, "template.py")):
        sys.exit("not a LlamaFactory checkout: %s" % lf_dir)

    def pkg(name):
        m = types.ModuleType(name)
        m.__path__ = []
        sys.modules[name] = m
        return m

    pkg("llamafactory")
    extras = pkg("llamafactory.extras")

    class Log:
        def __getattr__(self, _):
            return lambda *a, **k: None

    logging = types.ModuleType("llamafactory.extras.logging")
    logging.get_logger = lambda *_: Log()
    sys.modules["llamafactory.extras.logging"] = logging
    extras.logging = logging
    pkg("llamafactory.data")

    data_utils = types.ModuleType("llamafactory.data.data_utils")

    class Role(str, enum.Enum):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"
        FUNCTION = "function"
        OBSERVATION = "observation"

        def __str__(self):
            return self.value

    data_utils.Role = Role
    data_utils.SLOTS = list
    sys.modules["llamafactory.data.data_utils"] = data_utils
    mm = types.ModuleType("llamafactory.data.mm_plugin")
    mm.get_mm_plugin = lambda *a, **k: types.SimpleNamespace()
    sys.modules["llamafactory.data.mm_plugin"] = mm

    mods = {}
    for name in ("tool_utils", "formatter", "template"):
        spec = importlib.util.spec_from_file_location("llamafactory.data." + name, os.path.join(src, name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod

    class FixedDate:  # tool_utils dates the llama3 tool prompt with datetime.now()
        @staticmethod
        def now():
            class D:
                @staticmethod
                def strftime(fmt):
                    assert fmt == "%d %b %Y"
                    return DATE

            return D()

    mods["tool_utils"].datetime = FixedDate
    return mods["template"], Role


class CharTokenizer:
    """One id per character; bos is -1. Enough for Template.encode_multiturn."""

    bos_token_id = -1
    eos_token_id = -2

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def convert_tokens_to_ids(self, token):
        raise AssertionError("no special tokens by name in these templates")

    @staticmethod
    def decode(ids):
        return "".join("<|begin_of_text|>" if i == -1 else chr(i) for i in ids)


TAGS = {"human": "user", "gpt": "assistant", "function_call": "function", "observation": "observation"}


def lf_messages(row):
    """SharegptDatasetConverter for rows that alternate correctly: the converter's role mapping."""
    conv = row["conversations"]
    system = row.get("system", "")
    if conv and conv[0]["from"] == "system":
        system, conv = conv[0]["value"], conv[1:]
    return [{"role": TAGS[m["from"]], "content": m["value"]} for m in conv], system, row.get("tools", "")


def case(template_mod, name, row, enable_thinking=True, mask_history=False, preserve_thinking=False):
    tmpl = template_mod.TEMPLATES[name]
    tmpl.enable_thinking = enable_thinking
    tmpl.preserve_thinking = preserve_thinking
    msgs, system, tools = lf_messages(row)
    discard = mask_history and not preserve_thinking  # supervised.py discarding_history_cot
    pairs = tmpl.encode_multiturn(CharTokenizer(), msgs, system, tools, discard)
    out = {"template": name, "row": row, "date": DATE,
           "pairs": [[CharTokenizer.decode(p), CharTokenizer.decode(a)] for p, a in pairs],
           "trained": [not mask_history or i == len(pairs) - 1 for i in range(len(pairs))]}
    if enable_thinking is not True:
        out["enable_thinking"] = enable_thinking
    if mask_history:
        out["mask_history"] = True
    if preserve_thinking:
        out["preserve_thinking"] = True
    return out


def turns(*pairs, system=None, tools=None):
    conv = []
    for frm, val in pairs:
        conv.append({"from": frm, "value": val})
    row = {"conversations": conv}
    if system is not None:
        row["system"] = system
    if tools is not None:
        row["tools"] = json.dumps(tools, ensure_ascii=False)
    return row


WEATHER = {"name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "城市"},
                                                           "days": {"type": "integer"}}, "required": ["city"]}}
DISCOUNT = {"type": "function", "function": {"name": "calculate_discount", "description": "计算折扣价格",
                                             "parameters": {"type": "object", "properties": {
                                                 "original_price": {"type": "number"},
                                                 "discount_percentage": {"type": "number"}}}}}


def call(name, args):
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    template, _ = load_lf(sys.argv[1])
    rows = []
    # llama3: plain chats (LlamaFactory and Meta's Jinja agree on trimmed text)
    plain1 = turns(("human", "Hi"), ("gpt", "Hello!"))
    plain2 = turns(("human", "What is 2+2?"), ("gpt", "4"), ("human", "And 3+3?"), ("gpt", "6"),
                   system="You are a calculator.")
    for r in (plain1, plain2):
        rows.append(case(template, "llama3", r))
    # llama3 with tools: the tool prompt in the system message, calls as {"name", "parameters"}
    tool1 = turns(("human", "Weather in Paris?"), ("function_call", call("get_weather", {"city": "Paris", "days": 2})),
                  ("observation", "{\"temp\": 21.5}"), ("gpt", "It is 21.5 degrees."), tools=[WEATHER])
    tool2 = turns(("human", "天气？"), ("function_call", call("get_weather", {"city": "北京"})),
                  ("observation", "晴"), ("gpt", "北京晴。"), system="你是助手。", tools=[WEATHER, DISCOUNT])
    parallel = turns(("human", "Paris and Rome?"),
                     ("function_call", json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}},
                                                   {"name": "get_weather", "arguments": {"city": "Rome"}}])),
                     ("observation", "sunny, rainy"), ("gpt", "Paris is sunny, Rome rainy."), tools=[WEATHER])
    # glaive_toolcall_zh_demo rows 198 and 294: an observation after a plain answer
    glaive = turns(("human", "原价200美元，打八折多少钱？"),
                   ("gpt", "好的，让我帮你计算一下。\nAI 计算折扣: {\"原价\": 200, \"折扣百分比\": 20}"),
                   ("observation", "{\"discounted_price\": 160}"), ("gpt", "您需要支付160美元。"),
                   ("human", "谢谢！"), ("gpt", "不客气。"), tools=[DISCOUNT["function"]])
    no_tools_call = turns(("human", "Weather?"), ("function_call", call("get_weather", {"city": "Oslo"})),
                          ("observation", "cold"), ("gpt", "Cold."))
    for r in (tool1, tool2, parallel, glaive, no_tools_call):
        rows.append(case(template, "llama3", r))
    # qwen3: LlamaFactory's ReasoningTemplate (think_per_turn)
    think2 = turns(("human", "Q1"), ("gpt", "<think>\nr1\n</think>\n\nA1"), ("human", "Q2"), ("gpt", "A2"),
                   system="S")
    think3 = turns(("human", "Q1"), ("gpt", "A1"), ("human", "Q2"), ("gpt", "<think>\nr2\n</think>\n\nA2"),
                   ("human", "Q3"), ("gpt", "A3"))
    for r in (plain1, think2, think3):
        for et in (True, False, None):
            rows.append(case(template, "qwen3", r, enable_thinking=et))
    for r in (think2, think3):
        rows.append(case(template, "qwen3", r, mask_history=True))
        rows.append(case(template, "qwen3", r, mask_history=True, preserve_thinking=True))
    # qwen3_5: the same ReasoningTemplate (plain chats; its tool format is the Jinja's XML)
    for r in (plain1, think2, think3):
        for et in (True, None):
            rows.append(case(template, "qwen3_5", r, enable_thinking=et))
    rows.append(case(template, "qwen3_5", think3, mask_history=True))
    # qwen3_nothink: the answer as given
    for r in (plain2, think2, think3):
        rows.append(case(template, "qwen3_nothink", r))
    with open(OUT, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("wrote %d cases to %s" % (len(rows), os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    main()
