// JS reference pipeline for bench/data.sh: parse JSONL rows (alpaca or sharegpt), render with
// the Qwen3 Jinja chat template (@huggingface/jinja), tokenize with @lenml/tokenizers, and build
// labels (prompt rendered with add_generation_prompt and tokenized to find the answer start).
// Usage: node bench_encode_template.mjs TOKENIZER_DIR FILE.jsonl...   → prints "samples seconds bytes"
import { Template } from "@huggingface/jinja";
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "node:fs";

const [dir, ...files] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json", "utf8"));
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(dir + "/tokenizer.json", "utf8")),
  tokenizerConfig: cfg,
});
const tmpl = new Template(cfg.chat_template);
const roles = { human: "user", gpt: "assistant", system: "system" };
let n = 0, bytes = 0, tokens = 0;
const t0 = process.hrtime.bigint();
for (const f of files) {
  const text = fs.readFileSync(f, "utf8");
  bytes += Buffer.byteLength(text);
  for (const line of text.split("\n")) {
    if (!line) continue;
    const row = JSON.parse(line);
    let messages;
    if (row.instruction !== undefined) {
      messages = [];
      if (row.system) messages.push({ role: "system", content: row.system });
      messages.push({ role: "user", content: row.input ? row.instruction + "\n" + row.input : row.instruction });
      messages.push({ role: "assistant", content: row.output });
    } else {
      messages = row.conversations.map((m) => ({ role: roles[m.from], content: m.value }));
    }
    const full = tmpl.render({ messages, add_generation_prompt: false });
    const prompt = tmpl.render({ messages: messages.slice(0, -1), add_generation_prompt: true });
    const ids = tok.encode(full, { add_special_tokens: false });
    const p = tok.encode(prompt, { add_special_tokens: false }).length;
    const labels = ids.map((id, i) => (i < p ? -100 : id));
    tokens += labels.length;
    n++;
  }
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${n} ${secs.toFixed(3)} ${bytes} ${tokens}`);
