// Generates tests/fixtures/data/templates_<name>.jsonl: conversations and their reference
// renderings by @huggingface/jinja (the same renderer transformers' chat templates follow).
// Usage (from the repo root): (cd tests/gen/node && npm install) && node tests/gen/node/make_template_fixtures.mjs
// qwen: ../shared/tokenizers/qwen2.5/chat_template.jinja; qwen3: ../shared/tokenizers/qwen3/
// tokenizer_config.json; llama3/llama2/chatml: the public model cards' templates, written below.
import { Environment, Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const shared = path.resolve(root, "../shared/tokenizers");
const out = path.join(root, "tests/fixtures/data");
fs.mkdirSync(out, { recursive: true });

// @huggingface/jinja ignores the argument of str.strip/lstrip/rstrip (it trims all whitespace);
// Python's jinja2 (what transformers runs) strips only the given characters. Qwen3's template
// calls .strip('\n') / .lstrip('\n') / .rstrip('\n'), so patch these to Python semantics.
{
  const env = new Environment();
  env.set("probe", "s");
  const SV = env.lookupVariable("probe").constructor;
  const desc = Object.getOwnPropertyDescriptor(SV.prototype, "builtins");
  Object.defineProperty(SV.prototype, "builtins", {
    get() {
      const m = desc.get.call(this);
      if (m.__py) return m;
      const FV = m.get("strip").constructor;
      const self = this;
      const mk = (left, right) =>
        new FV((args) => {
          let v = self.value;
          if (!args.length || args[0].value === null || args[0].value === undefined) {
            if (left) v = v.replace(/^\s+/, "");
            if (right) v = v.replace(/\s+$/, "");
            return new SV(v);
          }
          const chars = args[0].value;
          let a = 0, b = v.length;
          if (left) while (a < b && chars.includes(v[a])) a++;
          if (right) while (b > a && chars.includes(v[b - 1])) b--;
          return new SV(v.slice(a, b));
        });
      m.set("strip", mk(true, true));
      m.set("lstrip", mk(true, false));
      m.set("rstrip", mk(false, true));
      m.__py = true;
      return m;
    },
  });
}

const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
const LLAMA2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const templates = {
  qwen: fs.readFileSync(path.join(shared, "qwen2.5/chat_template.jinja"), "utf8"),
  qwen3: JSON.parse(fs.readFileSync(path.join(shared, "qwen3/tokenizer_config.json"), "utf8")).chat_template,
  llama3: LLAMA3,
  llama2: LLAMA2,
  chatml: CHATML,
};
const specials = {
  llama3: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
  llama2: { bos_token: "<s>", eos_token: "</s>" },
};

// ---- conversation shapes (deterministic)
const weather = { type: "function", function: { name: "get_weather", description: "Get the weather of a city", parameters: { type: "object", properties: { city: { type: "string", description: "城市名" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["city"] } } };
const credit = { type: "function", function: { name: "query_credit_report", description: "查询企业征信报告", parameters: { type: "object", properties: { company_id: { type: "string" }, years: { type: "integer" } }, required: ["company_id"] } } };
const recv = { type: "function", function: { name: "get_receivables", description: "Receivables ledger \"aging\" view\nwith tabs\t.", parameters: { type: "object", properties: { company_id: { type: "string" }, min_ratio: { type: "number" } } } } };
const call = (name, args) => ({ type: "function", function: { name, arguments: args } });

const systems = [null, "You are a helpful assistant.", "你是供应链金融风控助手。回答请使用 JSON。", "  Leading and trailing spaces \n"];
const users = ["Hi", "What's the weather in Paris?", "请评估这家企业的授信额度：应收账款覆盖率 1.8，逾期率 3%。", "Tab\there, quote \" and backslash \\ and emoji 🙂", "\nstarts with newline", "Multi\nline\n\nquestion?"];
const answers = ["Hello! How can I help?", "It is sunny, 24°C.", "{\"product\": \"应收账款融资\", \"credit_limit\": 500000}", "  padded answer  ", "Line one\nLine two", ""];
const reasonings = ["The user greets me.", "\nNeed to check coverage 1.8 > 1.5 and overdue 3% < 5%.\n", "多步推理：先查征信，再看应收。"];

function base(i) {
  const msgs = [];
  const sys = systems[i % systems.length];
  if (sys !== null) msgs.push({ role: "system", content: sys });
  return msgs;
}

const cases = [];
let k = 0;
// 1. simple chats, 1-3 turns, with/without system
for (let turns = 1; turns <= 3; turns++)
  for (let s = 0; s < 4; s++) {
    const m = base(s);
    for (let t = 0; t < turns; t++) {
      m.push({ role: "user", content: users[(k + t) % users.length] });
      m.push({ role: "assistant", content: answers[(k + 2 * t) % answers.length] });
    }
    k++;
    cases.push({ messages: m });
  }
// 2. generation prompts (end with user), enable_thinking undefined/true/false
for (let s = 0; s < 4; s++)
  for (const et of [undefined, true, false]) {
    const m = base(s);
    m.push({ role: "user", content: users[s] });
    if (s % 2) {
      m.push({ role: "assistant", content: answers[s] });
      m.push({ role: "user", content: users[s + 1] });
    }
    const c = { messages: m, add_generation_prompt: true };
    if (et !== undefined) c.enable_thinking = et;
    cases.push(c);
  }
// 3. reasoning: reasoning_content and <think> in content, last and earlier turns
for (let v = 0; v < 6; v++) {
  const m = base(v);
  m.push({ role: "user", content: users[v % users.length] });
  const r = reasonings[v % reasonings.length];
  if (v % 2 === 0) m.push({ role: "assistant", content: answers[v % 5], reasoning_content: r });
  else m.push({ role: "assistant", content: "<think>" + r + "</think>\n\n" + answers[v % 5] });
  if (v >= 2) {
    m.push({ role: "user", content: users[(v + 1) % users.length] });
    if (v % 3 === 0) m.push({ role: "assistant", content: "<think>\nsecond thought\n</think>\n\nFinal." });
    else if (v % 3 === 1) m.push({ role: "assistant", content: "No reasoning here." });
    else m.push({ role: "assistant", content: "Answer with reasoning_content.", reasoning_content: "" });
  }
  cases.push({ messages: m });
  cases.push({ messages: m.slice(0, m.length - 1), add_generation_prompt: true, enable_thinking: v % 2 === 0 });
}
// 4. tools: calls with object and string arguments, several calls, several results
const argSets = [
  { city: "Paris" },
  '{"city": "北京", "unit": "c"}',
  { company_id: "C-001", years: 3 },
  { company_id: "C\"002\"\n", min_ratio: 0.85, flags: [true, false, null], nested: { a: [1, 2.5, "x"], b: {} } },
  "{\"company_id\":\"raw-compact\"}",
];
for (let v = 0; v < 10; v++) {
  const m = base(v);
  const tools = v % 3 === 0 ? [weather] : v % 3 === 1 ? [credit, recv] : [weather, credit, recv];
  m.push({ role: "user", content: users[(v + 2) % users.length] });
  const ncalls = 1 + (v % 3);
  const calls = [];
  for (let c = 0; c < ncalls; c++) calls.push(call(c % 2 ? "query_credit_report" : "get_weather", argSets[(v + c) % argSets.length]));
  const content = v % 4 === 0 ? "Let me check." : "";
  const am = { role: "assistant", content, tool_calls: calls };
  if (v % 5 === 4) am.reasoning_content = "Need tool data first.";
  m.push(am);
  for (let c = 0; c < ncalls; c++) m.push({ role: "tool", content: c % 2 ? "{\"score\": 720, \"overdue\": 0.03}" : "晴，24°C" });
  if (v % 2 === 0) m.push({ role: "assistant", content: answers[v % 5] });
  if (v === 7) {
    m.push({ role: "user", content: "<tool_response>\nfake wrapped\n</tool_response>" });
    m.push({ role: "assistant", content: "<think>\nafter wrapped user\n</think>\n\nok" });
  }
  cases.push({ messages: m, tools, add_generation_prompt: v % 2 === 1 });
}
// 5. tools declared but not used; multi-step tool loops
for (let v = 0; v < 4; v++) {
  const m = base(v + 1);
  m.push({ role: "user", content: "Plan a trip" });
  m.push({ role: "assistant", content: "", tool_calls: [call("get_weather", { city: "Rome" })] });
  m.push({ role: "tool", content: "rain" });
  m.push({ role: "assistant", content: v % 2 ? "<think>\nrain means umbrella\n</think>\n\n" : "", tool_calls: [call("get_weather", { city: "Milan" })] });
  m.push({ role: "tool", content: "sun" });
  m.push({ role: "assistant", content: "Go to Milan." + (v > 1 ? " Enjoy!" : "") });
  cases.push({ messages: m, tools: [weather] });
  cases.push({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }], tools: v % 2 ? [weather, credit] : [recv] });
}

// 6. seeded random mixtures of everything above
let seed = 12345;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
for (let v = 0; v < 24; v++) {
  const m = base(rnd(4));
  const useTools = rnd(2) === 1;
  const turns = 1 + rnd(3);
  for (let t = 0; t < turns; t++) {
    m.push({ role: "user", content: users[rnd(users.length)] });
    if (useTools && rnd(2)) {
      const n = 1 + rnd(2);
      const calls = [];
      for (let c = 0; c < n; c++) calls.push(call(["get_weather", "query_credit_report", "get_receivables"][rnd(3)], argSets[rnd(argSets.length)]));
      m.push({ role: "assistant", content: rnd(3) === 0 ? "Checking." : "", tool_calls: calls });
      for (let c = 0; c < n; c++) m.push({ role: "tool", content: ["42", "晴", "{\"ok\": true}"][rnd(3)] });
    }
    const a = { role: "assistant", content: answers[rnd(answers.length)] };
    const r = rnd(4);
    if (r === 1) a.reasoning_content = reasonings[rnd(reasonings.length)];
    if (r === 2) a.content = "<think>\n" + reasonings[rnd(reasonings.length)] + "\n</think>\n\n" + a.content;
    m.push(a);
  }
  const c = { messages: m };
  if (useTools) c.tools = [weather, credit, recv].slice(0, 1 + rnd(3));
  if (rnd(3) === 0) {
    c.messages = m.slice(0, m.length - 1);
    if (c.messages[c.messages.length - 1].role === "assistant" || c.messages[c.messages.length - 1].role === "tool") c.messages = m;
    c.add_generation_prompt = true;
    const e = rnd(3);
    if (e) c.enable_thinking = e === 1;
  }
  cases.push(c);
}

function render(name, c) {
  const t = new Template(templates[name]);
  const ctx = { messages: c.messages, add_generation_prompt: !!c.add_generation_prompt, ...(specials[name] || {}) };
  if (c.tools) ctx.tools = c.tools;
  if (c.enable_thinking !== undefined) ctx.enable_thinking = c.enable_thinking;
  return t.render(ctx);
}

for (const name of Object.keys(templates)) {
  const lines = [];
  for (const c of cases) {
    const hasTools = c.tools || c.messages.some((m) => m.tool_calls || m.role === "tool");
    if (name !== "qwen" && name !== "qwen3" && hasTools) continue;
    if (name === "llama2") {
      // the llama2 template only alternates user/assistant after an optional system
      const loop = c.messages[0].role === "system" ? c.messages.slice(1) : c.messages;
      if (loop.some((m, i) => (m.role === "user") !== (i % 2 === 0))) continue;
    }
    let expected;
    try {
      expected = render(name, c);
    } catch (e) {
      continue;
    }
    lines.push(JSON.stringify({ ...c, expected }));
  }
  fs.writeFileSync(path.join(out, `templates_${name}.jsonl`), lines.join("\n") + "\n");
  console.log(`templates_${name}.jsonl: ${lines.length} cases`);
}
