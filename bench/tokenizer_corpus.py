#!/usr/bin/env python3
"""Writes a deterministic mixed Chinese/English corpus (one text per line) for bench/tokenizer.sh.
Usage: tokenizer_corpus.py OUT [MEGABYTES]"""
import random
import sys

out, mb = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
rng = random.Random(1234)
en = ("the model learns to predict the next token given the previous context and a small "
      "learning rate keeps training stable while the loss goes down over many steps "
      "Tokenizers split text into pieces DON'T we'll it's they've 2024 3.14 1,000,000").split()
zh = list("机器学习是人工智能的一个分支它使计算机能够从数据中学习模型训练需要大量的文本和计算资源"
          "我们今天去公园散步天气很好中文分词与英文不同价格数据集评估结果显示准确率提高了百分之五")
code = ["def f(x):", "return x + 1", "for i in range(10):", "if (a && b) {", "}", "{\"k\": [1, 2]}",
        "printf(\"%d\\n\", n);", "x = y ** 2"]
emoji = ["😀", "👍", "🎉", "👨‍👩‍👧"]
target = int(mb * 1e6)
size = 0
with open(out, "w", encoding="utf-8") as f:
    while size < target:
        parts = []
        for _ in range(rng.randint(5, 40)):
            r = rng.random()
            if r < 0.45:
                parts.append(" ".join(rng.choice(en) for _ in range(rng.randint(1, 8))))
            elif r < 0.85:
                parts.append("".join(rng.choice(zh) for _ in range(rng.randint(2, 20))) + rng.choice("，。！？、"))
            elif r < 0.95:
                parts.append(rng.choice(code))
            else:
                parts.append(rng.choice(emoji) + str(rng.randint(0, 99999)))
        line = " ".join(parts).replace("\n", " ")
        f.write(line + "\n")
        size += len(line.encode()) + 1
