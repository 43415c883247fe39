// Generates a small tokenizer with the structure of Qwen3.5's tokenizer.json and the ids a
// reference implementation (npm @lenml/tokenizers, a JS port of transformers.js tokenizers)
// gives it, because the real Qwen3.5 tokenizer.json is not on the npm registry (see
// docs/tokenizer.md):
//   tests/fixtures/tok/qwen3_5-synth/{tokenizer.json,tokenizer_config.json}
//   tests/fixtures/tok/qwen3_5-synth_corpus.jsonl   {"text", "ids", "ids_special", "decoded"}
//
// Usage (from the repo root):
//   (cd tests/gen/node && npm install) && node tests/gen/node/make_qwen3_5_tok_fixtures.mjs
//
// What is Qwen3.5's (as documented by llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN35, whose comment
// quotes the tokenizer.json regex, and by the Qwen3.5 model configs): NFC normalizer; pre-tokenizer
// Sequence[Split(the regex below, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)],
// which differs from Qwen2/Qwen3's only in letting letter runs take combining marks
// ([\p{L}\p{M}]+ and \p{M} out of the punctuation class); byte-level BPE; added tokens from
// <|endoftext|> = 248044 (pad), <|im_start|> = 248045, <|im_end|> = 248046 (eos) to
// </think> = 248069. What is synthetic: the vocabulary and merges, learned here by plain BPE
// training on a small multilingual corpus so that marks, CJK, digits and spaces all merge.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const outDir = path.join(repo, "tests/fixtures/tok/qwen3_5-synth");
const corpusOut = path.join(repo, "tests/fixtures/tok/qwen3_5-synth_corpus.jsonl");

const QWEN35_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const ADDED = [
  "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
  "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
  "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
];
const FIRST_ADDED = 248044;
const NOT_SPECIAL = new Set(["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
  "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>"]);

// GPT-2 byte <-> unicode alphabet (HF byte_level.rs bytes_char)
const byteChar = [];
{
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  for (let i = 0; i < 256; i++) byteChar[bs[i]] = String.fromCodePoint(cs[i]);
}
const enc = new TextEncoder();
const toByteLevel = (s) => Array.from(enc.encode(s), (b) => byteChar[b]).join("");
const jsRegex = (r) => new RegExp(r.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))"), "gu");

// ---- BPE training on a small corpus (deterministic: most frequent pair, ties by string order)
const TRAIN = [
  "Hello world! Hello, world. The world's tokenizer isn't perfect; we'll see what they've done.",
  "你好，世界！今天是2026年3月1日。供应链金融风控助手：应收账款覆盖率 1.8，逾期率 3%。",
  "हिन्दी भाषा में स्वागत है। नमस्ते दुनिया, हिन्दी हिन्दी नमस्ते।",
  "สวัสดีครับ ผมชื่ออเล็กซ์ สวัสดีค่ะ ภาษาไทย สวัสดี",
  "q\u0301 q\u0301q\u0301 x\u0323\u0301 a\u0308\u0304 n\u0303 m\u0300m\u0300 Z\u0351\u0352",
  "Ελληνικά, русский язык, العربية, עברית, 한국어 문장, 日本語のテキスト。",
  "def tokenize(text):\n    return [t for t in text.split()]  # 123 456\n\n\tif x == 1:\n        pass\n",
  "emoji 🙂👍🏽 and symbols ±×÷ → ← ✓ … “quotes” ‘single’",
  "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>",
];
const N_MERGES = 420;
function train() {
  const re = jsRegex(QWEN35_REGEX);
  const words = new Map();
  for (const t of TRAIN) for (const m of t.normalize("NFC").match(re) || []) {
    const w = toByteLevel(m);
    words.set(w, (words.get(w) || 0) + 1);
  }
  let seqs = [...words].map(([w, c]) => [[...w], c]);
  const merges = [];
  for (let k = 0; k < N_MERGES; k++) {
    const counts = new Map();
    for (const [s, c] of seqs)
      for (let i = 0; i + 1 < s.length; i++) {
        const key = s[i] + " " + s[i + 1];
        counts.set(key, (counts.get(key) || 0) + c);
      }
    let best = null, bc = 0;
    for (const [key, c] of counts) if (c > bc || (c === bc && key < best)) { best = key; bc = c; }
    if (!best || bc < 2) break;
    const [a, b] = best.split(" ");
    merges.push([a, b]);
    seqs = seqs.map(([s, c]) => {
      const o = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { o.push(a + b); i++; }
        else o.push(s[i]);
      }
      return [o, c];
    });
  }
  return merges;
}

function tokenizerJSON(regex, merges) {
  const vocab = {};
  let id = 0;
  for (let b = 0; b < 256; b++) vocab[byteChar[b]] = id++;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = id++;
  const bl = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: ADDED.map((content, i) => ({
      id: FIRST_ADDED + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
      special: !NOT_SPECIAL.has(content),
    })),
    normalizer: { type: "NFC" },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false }, bl],
    },
    post_processor: bl,
    decoder: bl,
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

const config = {
  add_bos_token: false,
  add_prefix_space: false,
  added_tokens_decoder: Object.fromEntries(ADDED.map((content, i) => [String(FIRST_ADDED + i), {
    content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: !NOT_SPECIAL.has(content),
  }])),
  bos_token: null,
  clean_up_tokenization_spaces: false,
  eos_token: "<|im_end|>",
  errors: "replace",
  model_max_length: 262144,
  pad_token: "<|endoftext|>",
  split_special_tokens: false,
  tokenizer_class: "Qwen2Tokenizer",
  unk_token: null,
};

const TEXTS = [
  "", " ", "Hello world", "Hello, world!  ", "I'm sure you're right, we've done it, THEY'LL see.",
  "你好，世界！今天是2026年3月1日。", "供应链金融风控助手：逾期率 3%。",
  "हिन्दी भाषा में स्वागत है।", "नमस्ते दुनिया", "สวัสดีครับ ผมชื่ออเล็กซ์",
  "q\u0301", " q\u0301x", "q\u0301q\u0301 m\u0300m\u0300!", "x\u0323\u0301 and a\u0308\u0304",
  "\u0301 leading mark", "!\u0301? mark after punctuation", "e\u0301 composes to é under NFC",
  "Z\u0351\u0352 n\u0303", "Ελληνικά русский 한국어 日本語のテキスト",
  "def f(x):\n    return x  # 123\n\n\tpass\n", "emoji 🙂👍🏽 ±×÷ → “quotes”",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nhello<|im_end|>\n",
  "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>",
  "<tool_response>\n晴\n</tool_response><|vision_start|><|image_pad|><|vision_end|><|endoftext|>",
  "12345 3.14 1,000,000", "multiple   spaces\n\n\nand\r\nlines  ",
];

function load(tj) {
  return TokenizerLoader.fromPreTrained({ tokenizerJSON: structuredClone(tj), tokenizerConfig: structuredClone(config) });
}

const merges = train();
const tj = tokenizerJSON(QWEN35_REGEX, merges);
const tok = load(tj);
const qwen3Tok = load(tokenizerJSON(QWEN3_REGEX, merges));
const rows = [];
let differs = 0;
for (const text of TEXTS) {
  const ids = tok.encode(text, { add_special_tokens: false });
  const ids_special = tok.encode(text, { add_special_tokens: true });
  const decoded = ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "";
  if (decoded !== text.normalize("NFC")) throw new Error("round trip failed: " + JSON.stringify(text));
  if (JSON.stringify(qwen3Tok.encode(text, { add_special_tokens: false })) !== JSON.stringify(ids)) differs++;
  rows.push(JSON.stringify({ text, ids, ids_special, decoded }));
}
// the corpus must tell the Qwen3.5 split from Qwen3's (combining marks)
if (differs < 5) throw new Error(`only ${differs} texts tokenize differently with the Qwen3 regex`);
const im = tok.encode("<|im_start|><|im_end|><think></think>", { add_special_tokens: false });
if (JSON.stringify(im) !== "[248045,248046,248068,248069]") throw new Error("added token ids: " + im);

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "tokenizer.json"), JSON.stringify(tj, null, 2) + "\n");
fs.writeFileSync(path.join(outDir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
fs.writeFileSync(corpusOut, rows.join("\n") + "\n");
console.log(`qwen3_5-synth: ${Object.keys(tj.model.vocab).length} tokens, ${merges.length} merges; ` +
  `${rows.length} texts (${differs} tokenize differently with the Qwen3 regex)`);
