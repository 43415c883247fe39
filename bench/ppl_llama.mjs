// llama.cpp side of the perplexity comparison (bench/decode_quant.sh): the prebuilt llama.cpp of
// node-llama-cpp (its native addon, as bench/decode_llama.mjs drives it) evaluates each line of
// token ids (one JSON array per line, BOS included, as `ctune tokenize --jsonl
// --add-special-tokens` prints them) in one batch with logits at every position, and reads the
// probability of each next id from sampleToken(..., probabilities = true) with a plain softmax
// sampler (temperature 1, no top-k / top-p / min-p truncation). Prints the mean NLL over all
// predicted ids and its exp as "@ llama_ppl_TAG VALUE". An id missing from the returned list
// is an error (the list would be truncated).
// Usage: node bench/ppl_llama.mjs ADDON_DIR MODEL.gguf IDS.jsonl TAG
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [addonDir, model, idsFile, tag] = process.argv.slice(2);
if (!tag) {
  console.error("usage: ppl_llama.mjs ADDON_DIR MODEL.gguf IDS.jsonl TAG");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const addon = require(path.resolve(addonDir, "llama-addon.node"));
addon.markLoaded();
addon.setLogger(() => {});
addon.setLoggerLogLevel(2);
addon.loadBackends(path.resolve(addonDir));
await addon.init();
const m = new addon.AddonModel(model, { gpuLayers: 0, useMmap: true, addonExports: addon });
if (!(await m.init())) throw new Error(`cannot load ${model}`);
const lines = fs.readFileSync(idsFile, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const maxLen = Math.max(...lines.map((l) => l.length));
const ctx = new addon.AddonContext(m, { contextSize: Math.max(maxLen + 8, 256), batchSize: Math.max(maxLen, 256),
  sequences: 1, threads: 1, flashAttention: false });
if (!(await ctx.init())) throw new Error("cannot create a context");
const sampler = new addon.AddonSampler(m);
sampler.applyConfig({ temperature: 1, topK: 0, topP: 1, minP: 0 });
let nll = 0, n = 0;
for (const ids of lines) {
  ctx.disposeSequence(0);
  ctx.initBatch(ids.length);
  const idx = ctx.addToBatch(0, 0, Uint32Array.from(ids), Uint32Array.from(ids.map((_, i) => i)));
  await ctx.decodeBatch();
  for (let i = 0; i + 1 < ids.length; i++) {
    const [, probs] = await ctx.sampleToken(idx[i], sampler, true);
    let p = -1;
    for (let j = 0; j + 1 < probs.length; j += 2) if (probs[j] === ids[i + 1]) { p = probs[j + 1]; break; }
    if (p <= 0) throw new Error(`line ${n}: id ${ids[i + 1]} not among the ${probs.length / 2} probabilities returned`);
    nll -= Math.log(p);
    n++;
  }
}
console.log(`llama.cpp ${tag}: ${n} tokens, mean NLL ${(nll / n).toFixed(6)}, ppl ${Math.exp(nll / n).toFixed(4)}`);
console.log(`@ llama_ppl_${tag} ${Math.exp(nll / n).toFixed(4)}`);
await ctx.dispose();
await m.dispose();
