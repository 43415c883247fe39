// llama.cpp side of the decode benchmark (bench/decode.sh): drives the prebuilt llama.cpp of the
// npm package node-llama-cpp (its native addon, @node-llama-cpp/linux-x64, CPU build) directly,
// without the package's JS layer: load an F16 GGUF, prefill P token ids, decode D tokens one at a
// time (each step feeds the next id, logits of the last position only, as a generation step
// does), then a batch of B sequences decoded together; prints tok/s and "@ KEY VALUE" lines.
// Usage: node bench/decode_llama.mjs ADDON_DIR MODEL.gguf PREFILL DECODE BATCH THREADS...
import { createRequire } from "node:module";
import path from "node:path";

const [addonDir, model, P, D, B, ...threads] = process.argv.slice(2);
if (!threads.length) {
  console.error("usage: decode_llama.mjs ADDON_DIR MODEL.gguf PREFILL DECODE BATCH THREADS...");
  process.exit(2);
}
const np = +P, nd = +D, nb = +B;
const require = createRequire(import.meta.url);
const addon = require(path.resolve(addonDir, "llama-addon.node"));
addon.markLoaded();
addon.setLogger(() => {});
addon.setLoggerLogLevel(2); // errors only
addon.loadBackends(path.resolve(addonDir));
await addon.init();
const m = new addon.AddonModel(model, { gpuLayers: 0, useMmap: true, addonExports: addon });
if (!(await m.init())) throw new Error(`cannot load ${model}`);
const V = 151936;
const ids = (n, off) => Uint32Array.from({ length: n }, (_, i) => ((off + i) * 7919) % V);
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const now = () => Number(process.hrtime.bigint()) / 1e9;

for (const th of threads.map(Number)) {
  const ctxSize = np + nd + 16;
  const ctx = new addon.AddonContext(m, {
    contextSize: Math.max(ctxSize * nb, 512), batchSize: Math.max(np, nb, 512), sequences: nb,
    threads: th, flashAttention: false,
  });
  if (!(await ctx.init())) throw new Error("cannot create a context");
  const step = async (seq, pos, toks) => {
    ctx.initBatch(toks.length);
    ctx.addToBatch(seq, pos, toks, Uint32Array.from([toks.length - 1]));
    await ctx.decodeBatch();
  };
  // warm-up: touch every weight page once
  await step(0, 0, ids(1, 0));
  ctx.disposeSequence(0);
  const pre = [];
  for (let r = 0; r < 3; r++) {
    ctx.disposeSequence(0);
    const t0 = now();
    await step(0, 0, ids(np, 0));
    pre.push(now() - t0);
  }
  const tp = median(pre);
  let t0 = now();
  for (let i = 0; i < nd; i++) await step(0, np + i, ids(1, np + i));
  const td = now() - t0;
  ctx.disposeSequence(0);
  // batched decode: nb sequences with a short prompt each, then nd steps of nb tokens
  for (let s = 0; s < nb; s++) await step(s, 0, ids(4, s * 13));
  t0 = now();
  for (let i = 0; i < nd; i++) {
    ctx.initBatch(nb);
    for (let s = 0; s < nb; s++) ctx.addToBatch(s, 4 + i, ids(1, s * 13 + 4 + i), Uint32Array.from([0]));
    await ctx.decodeBatch();
  }
  const tb = now() - t0;
  console.log(`llama.cpp threads ${th}: prefill ${np} tokens ${(np / tp).toFixed(1)} tok/s (median of 3) | ` +
    `decode ${nd} tokens ${(nd / td).toFixed(2)} tok/s | batched decode ${nb} seqs ${(nb * nd / tb).toFixed(1)} tok/s`);
  console.log(`@ llama_prefill_${th}t ${(np / tp).toFixed(1)}`);
  console.log(`@ llama_decode_${th}t ${(nd / td).toFixed(2)}`);
  console.log(`@ llama_batch${nb}_${th}t ${(nb * nd / tb).toFixed(1)}`);
  await ctx.dispose();
}
await m.dispose();
