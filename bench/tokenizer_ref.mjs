// JS reference throughput (npm @lenml/tokenizers from tests/gen/node/node_modules) on the same
// corpus as tokenizer_bench.c; prints MB/s, token count and the same id checksum.
// Usage: node bench/tokenizer_ref.mjs MODEL_DIR CORPUS.txt
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const mod = path.join(here, "../tests/gen/node/node_modules/@lenml/tokenizers/dist/main.mjs");
const { TokenizerLoader } = await import(pathToFileURL(mod).href);
const [dir, corpus] = process.argv.slice(2);
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const data = fs.readFileSync(corpus);
const lines = data.toString("utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const t0 = process.hrtime.bigint();
const all = lines.map((l) => tok.encode(l, { add_special_tokens: false }));
const s = Number(process.hrtime.bigint() - t0) / 1e9;
let tokens = 0;
let sum = 0n;
const M = (1n << 64n) - 1n;
for (const ids of all) {
  tokens += ids.length;
  for (const id of ids) sum = (sum * 31n + BigInt(id)) & M;
}
console.log(`tokens ${tokens}\nchecksum ${sum}\njs_MBps ${(data.length / 1e6 / s).toFixed(2)}`);
