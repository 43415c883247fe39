// `ctune serve` through the official `openai` npm client (tests/cli/serve.sh runs it):
// models, chat, streaming (same text as the plain answer, greedy), tools, response_format
// json_schema / json_object, errors as the client's typed exceptions. Usage: node serve_openai.cjs OPENAI_PACKAGE_DIR PORT MODEL
const OpenAI = require(process.argv[2]).default;
const port = process.argv[3], model = process.argv[4];
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused", maxRetries: 0 });

function check(cond, what) {
  if (!cond) { console.error("FAIL: " + what); process.exit(1); }
}

(async () => {
  const models = await client.models.list();
  check(models.data.some((m) => m.id === model), "models.list has " + model);
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  const plain = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  const msg = plain.choices[0].message;
  check(typeof msg.content === "string" && plain.usage.completion_tokens > 0, "chat answer + usage");
  let text = "", finish = null, usage = null;
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.content) text += c.delta.content;
    if (c.delta.reasoning_content) text += "<think>" + c.delta.reasoning_content + "</think>";
    if (c.finish_reason) finish = c.finish_reason;
  }
  const whole = (msg.reasoning_content ? "<think>" + msg.reasoning_content + "</think>" : "") + msg.content;
  check(finish === plain.choices[0].finish_reason, `stream finish ${finish} vs ${plain.choices[0].finish_reason}`);
  check(usage && usage.total_tokens === plain.usage.total_tokens, "stream usage");
  check(text.replace(/\s/g, "") === whole.replace(/\s/g, ""), `stream text ${JSON.stringify(text)} vs ${JSON.stringify(whole)}`);
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
  const t = await client.chat.completions.create({ model, messages, tools, tool_choice: "auto", max_tokens: 8, temperature: 0,
    chat_template_kwargs: { enable_thinking: false } });
  check(["stop", "length", "tool_calls"].includes(t.choices[0].finish_reason), "tools: finish_reason");
  check(t.usage.prompt_tokens > plain.usage.prompt_tokens, "tools: the tool specs are in the prompt");
  const comp = await client.completions.create({ model, prompt: "Hello", max_tokens: 4, temperature: 0 });
  check(typeof comp.choices[0].text === "string", "completions");
  try {
    await client.chat.completions.create({ model: "ghost", messages });
    check(false, "unknown model accepted");
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError && e.code === "model_not_found", "unknown model: " + e);
  }
  // response_format: schema-constrained answers parse and follow the schema, plain and streamed;
  // a schema that cannot be compiled is a BadRequestError naming response_format
  const schema = { type: "object", properties: { risk: { enum: ["low", "medium", "high"] }, score: { type: "integer",
    minimum: 0, maximum: 9 } }, required: ["risk", "score"], additionalProperties: false };
  const response_format = { type: "json_schema", json_schema: { name: "risk", strict: true, schema } };
  const rf = { model, messages, max_tokens: 64, temperature: 0, response_format,
    chat_template_kwargs: { enable_thinking: false } };
  const js = await client.chat.completions.create(rf);
  const risk = JSON.parse(js.choices[0].message.content);
  check(["low", "medium", "high"].includes(risk.risk) && Number.isInteger(risk.score) && risk.score >= 0 &&
    risk.score <= 9 && Object.keys(risk).length === 2, "json_schema answer " + js.choices[0].message.content);
  let jtext = "";
  for await (const chunk of await client.chat.completions.create({ ...rf, stream: true }))
    if (chunk.choices[0] && chunk.choices[0].delta.content) jtext += chunk.choices[0].delta.content;
  check(jtext === js.choices[0].message.content, `json_schema stream ${JSON.stringify(jtext)}`);
  const jo = await client.chat.completions.create({ ...rf, response_format: { type: "json_object" } });
  const obj = JSON.parse(jo.choices[0].message.content);
  check(obj && typeof obj === "object" && !Array.isArray(obj), "json_object answer " + jo.choices[0].message.content);
  try {
    await client.chat.completions.create({ model, messages, response_format: { type: "json_schema",
      json_schema: { name: "bad", schema: { type: "string", minLength: 3, maxLength: 1 } } } });
    check(false, "a schema that cannot be compiled was accepted");
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.param === "response_format", "response_format: " + e);
  }
  console.log("openai client ok");
})().catch((e) => { console.error("FAIL: " + (e.stack || e)); process.exit(1); });
