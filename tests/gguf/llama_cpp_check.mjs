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
const [nlcDir, modelPath, ...rest] = process.argv.slice(2);
let lora = null;
if (rest[0] === "--lora") { lora = rest[1]; rest.splice(0, 2); }
const [cmd, arg, arg2] = rest;
const {getLlama, LlamaLogLevel} = await import(
    pathToFileURL(path.join(nlcDir, "node_modules/node-llama-cpp/dist/index.js")).href);
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                              progressLogs: false, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const ids = (s) => s.split(",").filter((x) => x !== "").map(Number);

async function sequence() {
    const ctx = await model.createContext({contextSize: 512, sequences: 1, threads: 1,
                                           lora: lora ? {adapters: [{filePath: lora}]} : undefined});
    return ctx.getSequence();
}

if (cmd === "tokenize") {
    for (const line of fs.readFileSync(arg, "utf8").split("\n")) {
        if (!line.trim()) continue;
        console.log("[" + Array.from(model.tokenize(JSON.parse(line), true)).join(", ") + "]"); // ctune's spelling
    }
} else if (cmd === "generate") {
    const seq = await sequence();
    const out = [];
    for await (const t of seq.evaluate(ids(arg), {temperature: 0})) {
        out.push(t);
        if (out.length >= Number(arg2)) break;
    }
    console.log(out.join(","));
} else if (cmd === "nll") {
    const seq = await sequence();
    const x = ids(arg);
    const input = x.slice(0, -1).map((t) => [t, {generateNext: {probabilities: true}}]);
    const res = await seq.controlledEvaluate(input);
    let nll = 0;
    for (let t = 0; t + 1 < x.length; t++) nll -= Math.log(res[t].next.probabilities.get(x[t + 1]));
    console.log(JSON.stringify({nll, tokens: x.length - 1}));
} else {
    throw new Error(`unknown command ${cmd}`);
}
await model.dispose();
await llama.dispose();
