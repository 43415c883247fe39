// Runs an exported GGUF through llama.cpp (npm node-llama-cpp 3.21.1, its prebuilt CPU build,
// offline) and prints what tests/cli/export_gguf.sh compares with ctune:
//   node llama_cpp_check.mjs texts CORPUS.jsonl [gpt2]
//        the corpus texts as JSON strings, one a line (input of `ctune tokenize --jsonl`); with
//        gpt2, only those llama.cpp can tokenize as HF does: llama.cpp has no NFC normalizer and
//        turns a plain vocabulary token "</s>" into a control token (llama-vocab.cpp)
//   node llama_cpp_check.mjs NLC_DIR MODEL.gguf [--lora ADAPTER.gguf] tokenize TEXTS
//        one line per text of TEXTS (JSON strings): the ids of model.tokenize(text, true)
//        (added tokens in the text parsed, no BOS: ctune tokenize without --add-special-tokens)
//   ... generate IDS N        greedy continuation of the comma-separated ids, N tokens
//   ... nll IDS               -log p(ids[t+1] | ids[..t]) summed over t (teacher forcing)
//   ... nll32 IDS             the same token by token (one token per batch, as decoding runs) with
//                             an F32 KV cache instead of llama.cpp's default F16 and no flash
//                             attention (its CPU kernel converts to F16): only the matmuls'
//                             numerics differ from an exact f32 decode
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

if (process.argv[2] === "texts") {
    for (const line of fs.readFileSync(process.argv[3], "utf8").split("\n")) {
        if (!line.trim()) continue;
        const {text} = JSON.parse(line);
        if (process.argv[4] === "gpt2" && (text.normalize("NFC") !== text || text.includes("</s>"))) continue;
        console.log(JSON.stringify(text));
    }
    process.exit(0);
}
// Batch form (one process for many checks; tests/cli/export_gguf.sh):
//   node llama_cpp_check.mjs NLC_DIR batch JOBS
//        each line of JOBS: OUT MODEL.gguf LORA.gguf|- COMMAND ARGS...; the result goes to file OUT
const [nlcDir, ...argv] = process.argv.slice(2);
const {getLlama, LlamaLogLevel} = await import(
    pathToFileURL(path.join(nlcDir, "node_modules/node-llama-cpp/dist/index.js")).href);
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                              progressLogs: false, logLevel: LlamaLogLevel.error});
const ids = (s) => s.split(",").filter((x) => x !== "").map(Number);
const models = new Map();

async function run(modelPath, lora, cmd, arg, arg2) {
    if (!models.has(modelPath)) models.set(modelPath, await llama.loadModel({modelPath}));
    const model = models.get(modelPath);
    const sequence = async () => {
        const kv = cmd === "nll32" ? {experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false} : {};
        const ctx = await model.createContext({contextSize: 512, sequences: 1, threads: 1, ...kv,
                                               lora: lora ? {adapters: [{filePath: lora}]} : undefined});
        return [ctx, ctx.getSequence()];
    };
    const out = [];
    if (cmd === "tokenize") {
        for (const line of fs.readFileSync(arg, "utf8").split("\n")) {
            if (!line.trim()) continue;
            out.push("[" + Array.from(model.tokenize(JSON.parse(line), true)).join(", ") + "]"); // ctune's spelling
        }
    } else if (cmd === "generate") {
        const [ctx, seq] = await sequence();
        const got = [];
        for await (const t of seq.evaluate(ids(arg), {temperature: 0})) {
            got.push(t);
            if (got.length >= Number(arg2)) break;
        }
        out.push(got.join(","));
        await ctx.dispose();
    } else if (cmd === "nll" || cmd === "nll32") {
        const [ctx, seq] = await sequence();
        const x = ids(arg);
        const items = x.slice(0, -1).map((t) => [t, {generateNext: {probabilities: true}}]);
        let res = [];
        if (cmd === "nll") res = await seq.controlledEvaluate(items);
        else for (const it of items) res.push(...(await seq.controlledEvaluate([it]))); // one token per batch
        let nll = 0;
        for (let t = 0; t + 1 < x.length; t++) nll -= Math.log(res[t].next.probabilities.get(x[t + 1]));
        out.push(JSON.stringify({nll, tokens: x.length - 1}));
        await ctx.dispose();
    } else {
        throw new Error(`unknown command ${cmd}`);
    }
    return out.join("\n") + "\n";
}

if (argv[0] === "batch") {
    for (const line of fs.readFileSync(argv[1], "utf8").split("\n")) {
        if (!line.trim()) continue;
        const [outFile, modelPath, lora, cmd, arg, arg2] = line.split(" ");
        fs.writeFileSync(outFile, await run(modelPath, lora === "-" ? null : lora, cmd, arg, arg2));
    }
} else {
    let [modelPath, ...rest] = argv, lora = null;
    if (rest[0] === "--lora") { lora = rest[1]; rest = rest.slice(2); }
    process.stdout.write(await run(modelPath, lora, ...rest));
}
for (const m of models.values()) await m.dispose();
await llama.dispose();
