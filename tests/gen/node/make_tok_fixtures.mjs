// Generates tests/fixtures/tok/{qwen3,stories260k}_corpus.jsonl with the ids (and decoded text)
// that a reference implementation of HF tokenizers (npm @lenml/tokenizers, a JS port of
// transformers.js tokenizers) produces for a fixed corpus.
//
// Usage (from the repo root):
//   (cd tests/gen/node && npm install) && node tests/gen/node/make_tok_fixtures.mjs [SHARED_DIR]
// SHARED_DIR defaults to ../shared. Each output line: {"text", "ids", "ids_special", "decoded"}
// where ids = encode(text, add_special_tokens=false), ids_special = encode(text, true) and
// decoded = decode(ids, skip_special_tokens=false).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const shared = path.resolve(process.argv[2] || path.join(repo, "../shared"));
const outDir = path.join(repo, "tests/fixtures/tok");

function load(dir) {
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
}

function check(cond, msg) {
  if (!cond) {
    console.error("reference sanity check failed: " + msg);
    process.exit(1);
  }
}

// Deterministic PRNG (mulberry32) so the corpus is reproducible.
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const handWritten = [
  "", " ", "  ", "\n", "\t", "\r\n", "a", "Hello world", "Hello, world!", "hello world ",
  "Hello world  ", "  leading spaces", "trailing spaces   ", "multiple   spaces   inside",
  "tabs\tand\ttabs\t\t", "line1\nline2\n\nline4", "windows\r\nline\r\nendings\r\n", "\n\n\n",
  " \n \n ", "mixed \t\n\r whitespace", "end with newline\n", "\u00a0non-breaking\u00a0space",
  "\u3000ideographic space\u3000", "en\u2002space and em\u2003space",
  // contractions, both cases
  "I'm sure you're right, we've done it, they'll see, she'd go, it's here.",
  "DON'T STOP, WE'LL SEE, I'M HERE, YOU'RE IT, THEY'VE GONE, HE'D KNOW, IT'S OK",
  "we'Ll, I'M, You'Re, They'VE, it'S, don'T", "'s 't 're 've 'm 'll 'd", "rock'n'roll o'clock",
  "‘curly’ “quotes” «guillemets» „low”", "He said \"hi\" and 'bye'.",
  // numbers and digit runs
  "12345", "3.14159265358979", "1,000,000 and 1.000.000", "0x1F 0b1010 0o17", "2024-01-15T10:30:00Z",
  "12345678901234567890123456789012345678901234567890", "phone: +1 (555) 123-4567", "$1,299.99 €5 ¥300",
  "١٢٣٤٥ ٦٧٨٩٠", "１２３ full-width digits", "Ⅻ roman numeral ½ ¾ ² ³", "100% of 50% is 25%",
  // Chinese
  "你好，世界！", "我爱自然语言处理。", "今天天气很好，我们去公园散步吧。",
  "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。", "中文English混合text测试123",
  "《红楼梦》是中国古典四大名著之一。", "“你好”，他说道：“欢迎来到北京！”", "一二三四五六七八九十百千万亿",
  "繁體中文與簡體中文", "价格：￥99.00（含税）", "第1章 第2节 第三段",
  // Japanese / Korean / Arabic / others
  "こんにちは、世界。", "日本語のテキストとカタカナ、ひらがな。", "ｶﾀｶﾅ half-width katakana",
  "안녕하세요, 세계!", "한국어 텍스트 처리 테스트입니다.", "مرحبا بالعالم", "اللغة العربية جميلة جداً",
  "שלום עולם", "Привет, мир! Как дела?", "Γειά σου Κόσμε", "नमस्ते दुनिया", "สวัสดีชาวโลก",
  "Xin chào thế giới", "Ça va? Très bien, merci. Où est la bibliothèque?", "Größe, Straße, Übermaß",
  "ñandú pingüino", "Ꭰ Cherokee ᏣᎳᎩ", "ğüşıöç İstanbul", "Tiếng Việt có dấu",
  // emoji incl. ZWJ sequences, flags, skin tones, variation selectors
  "😀", "I ❤️ emoji 🎉🎉🎉", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 woman technologist", "🏳️‍🌈 rainbow flag",
  "🇺🇸🇨🇳🇯🇵 flags", "👍🏻👍🏼👍🏽👍🏾👍🏿", "🧑‍🤝‍🧑", "❤️‍🔥 heart on fire", "☺︎ text ☺️ emoji",
  "emoji at end 🙂", "🙂emoji at start", "mixed😀text😃without😄spaces",
  // combining marks / NFC-relevant text
  "e\u0301", "cafe\u0301", "caf\u00e9", "n\u0303", "A\u030a", "\u212b angstrom sign", "\u2126 ohm sign",
  "o\u0308\u0301 stacked", "\u1100\u1161\u11a8 jamo", "\u0915\u093c devanagari nukta", "fi ligature \ufb01",
  "Zalgo: Z\u0351\u036b\u0343a\u0352l\u0350g\u0311o\u0308", "\u0041\u0308\u0304", "q\u0307\u0323",
  // special tokens inside text
  "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
  "text<|endoftext|>more text", "<|endoftext|>", "<|endoftext|><|endoftext|>",
  "<think>\nLet me reason.\n</think>\n\nThe answer is 42.", "<think></think>", "before<think>inside</think>after",
  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
  "<tool_response>sunny</tool_response>", "<|fim_prefix|>def f(<|fim_suffix|>):<|fim_middle|>",
  "<|im_start", "<|im_end|", "<<|im_end|>>", "< |im_start| >", "<|IM_START|>", "<|im_start|><|im_start|>",
  "<|vision_start|><|image_pad|><|vision_end|>", " <|im_end|> ", "\n<|im_start|>\n",
  "<s>", "</s>", "<unk>", "a<s>b</s>c", "<s> Once upon a time</s>",
  // URLs, paths, emails, markup
  "https://www.example.com/path/to/page?query=1&lang=en#section",
  "Visit http://localhost:8080/api/v1/users/42 now", "mailto:someone@example.org", "user.name+tag@sub.domain.co.uk",
  "C:\\Users\\Admin\\Documents\\file.txt", "/usr/local/bin/python3 --version", "~/.config/app/settings.json",
  "<html><body><p class=\"x\">Hello</p></body></html>", "**bold** _italic_ `code` [link](http://a.b)",
  "# Heading\n\n- item 1\n- item 2\n\n> quote", "| a | b |\n|---|---|\n| 1 | 2 |",
  // JSON and code
  "{\"key\": \"value\", \"n\": 1, \"list\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
  "[{\"role\": \"user\", \"content\": \"你好\"}]", "{\"emoji\": \"😀\", \"escaped\": \"\\n\\t\\\"\"}",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}", "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
  "const x = (a, b) => a ?? b; // nullish", "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
  "fn main() { println!(\"{}\", 1 + 1); }", "    indented with four spaces", "\t\tindented with tabs",
  "x = [i**2 for i in range(10) if i % 2 == 0]", "if (a && b || !c) { return; }", "a==b!=c<=d>=e",
  "$ echo $HOME && ls -la | grep '.txt' > out.log 2>&1", "@decorator\nclass Foo(Bar):\n    pass",
  // punctuation and symbols
  "!!!???...", "---===+++", "...", "—–-", "()[]{}<>", "@#$%^&*", "~`|\\", "a.b.c.d", "e.g. i.e. etc.",
  "Mr. Smith went to Washington D.C.", "5 < 6 > 4", "¿Qué? ¡Sí!", "→ ← ↑ ↓ ⇒ ∀ ∃ ∈ ∑ ∫ √ ∞ ≠ ≈",
  "©®™ §¶ †‡ •·", "°C °F µm Å", "ASCII art: (╯°□°）╯︵ ┻━┻", "box ┌─┐│└┘", "math: E = mc² and a² + b² = c²",
  // misc edge cases
  "\u0000", "a\u0000b", "\u0001\u0002\u0003 control", "\u007f delete", "\u200b zero width space",
  "\u200d zero width joiner alone", "\u00ad soft hyphen", "\ufffd replacement char", "\ud83d\ude00 surrogate-pair emoji",
  "𝕳𝖊𝖑𝖑𝖔 math fraktur", "𠀀𠀁 CJK ext B", "\u{10FFFD} private use plane 16", "\ue000 private use",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "the the the the the the the the the the", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  " ".repeat(50), "\n".repeat(20), "ab".repeat(40), "哈".repeat(30), "😀".repeat(12),
  "UPPERCASE TEXT ONLY", "lowercase text only", "CamelCaseIdentifierName", "snake_case_identifier_name",
  "kebab-case-identifier", "SCREAMING_SNAKE_CASE", "a1b2c3d4e5", "v1.2.3-beta.4+build.5",
  "Once upon a time, there was a little girl named Lily.", "Lily and Tom were playing in the park.",
  "The quick brown fox jumps over the lazy dog.", "Sphinx of black quartz, judge my vow.",
  "Sara had 3 cats.", "One day, a boy named Tim found a big red ball.", "“Hello!” said the bird.",
];

// Programmatic mixes from fragments (seeded), to reach a few hundred varied texts.
const frags = [
  "Hello", " world", "你好", "世界", "😀", "👨‍👩‍👧", " ", "  ", "\n", "\t", "123", "4567", "DON'T", "we'Ll",
  "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|endoftext|>", "https://a.io/x?y=1", "{\"a\": 1}",
  "e\u0301", "café", "naïve", "Ünïcödé", "こんにちは", "안녕", "مرحبا", "Привет", "...", "!?", "()", " - ",
  "\r\n", "ℕ", "½", "x²", "  \n", "token", "ization", " of", " the", "The", "A", "z", "ZZ", "42", "3.14",
  "$", "%", "#", "_", "'s", "'S", " 'll", "’s", "<s>", "</s>", "▁", "Ġ", "Ċ", "\u00a0",
];
const rand = rng(20240601);
const mixed = [];
for (let i = 0; i < 140; i++) {
  const n = 1 + Math.floor(rand() * 12);
  let s = "";
  for (let k = 0; k < n; k++) s += frags[Math.floor(rand() * frags.length)];
  mixed.push(s);
}
// A few longer paragraphs.
const para = [];
for (let i = 0; i < 6; i++) {
  let s = "";
  for (let k = 0; k < 60; k++) s += frags[Math.floor(rand() * frags.length)];
  para.push(s);
}
const corpus = [...handWritten, ...mixed, ...para];

function write(name, tok, texts) {
  const lines = texts.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const ids_special = tok.encode(text, { add_special_tokens: true });
    const decoded = ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "";
    return JSON.stringify({ text, ids, ids_special, decoded });
  });
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, name), lines.join("\n") + "\n");
  console.log(`${name}: ${lines.length} texts`);
}

const qwen = load(path.join(shared, "tokenizers/qwen3"));
check(JSON.stringify(qwen.encode("Hello world", { add_special_tokens: false })) === "[9707,1879]",
  "Qwen3 'Hello world' must be [9707, 1879]");
check(qwen.encode("<|im_start|>", { add_special_tokens: false })[0] === 151644, "<|im_start|> = 151644");

const storiesDir = path.join(shared, "models/stories260k");
const stories = load(storiesDir);
const ref = JSON.parse(fs.readFileSync(path.join(storiesDir, "reference.json"), "utf8"));
for (const c of ref.cases) {
  const ids = stories.encode(c.prompt, { add_special_tokens: true });
  check(JSON.stringify(ids) === JSON.stringify(c.prompt_ids),
    `stories260k prompt ${JSON.stringify(c.prompt)}: ${JSON.stringify(ids)} vs run.c ${JSON.stringify(c.prompt_ids)}`);
}

write("qwen3_corpus.jsonl", qwen, corpus);
write("stories260k_corpus.jsonl", stories, corpus);
