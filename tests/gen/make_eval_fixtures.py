#!/usr/bin/python3
"""Float64 reference of the general_mcq log-likelihood scoring (src/eval/loglik.c).

On tests/fixtures/tiny-llama (the float64 reference forward of make_model_fixtures.py, its
weights rebuilt from the same seed), for a few multiple-choice "questions" of token ids (a shared
few-shot prefix, a question, 4 options of 1-3 tokens): every option's log-likelihood
sum_t log_softmax(logits[ctx_len - 1 + t])[option[t]] over the sequence context + option, and the
chosen option (argmax). Writes tests/fixtures/eval/loglik.json.

Run from the repository root: /usr/bin/python3 tests/gen/make_eval_fixtures.py"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_model_fixtures as mm  # noqa: E402


def main():
    cfg, seed = mm.MODELS["llama"]
    cfg = dict(cfg, torch_dtype="float32")
    w = {k: mm.round_to(v, "F32") for k, v in mm.make_weights(cfg, seed).items()}
    V = cfg["vocab_size"]
    rng = np.random.default_rng(77)
    prefix = [int(i) for i in rng.integers(3, V, 24)]
    questions = []
    for q in range(5):
        ctx = prefix + [int(i) for i in rng.integers(3, V, 6 + q)]
        opts = [[int(i) for i in rng.integers(3, V, 1 + (o + q) % 3)] for o in range(4)]
        lls = []
        for o in opts:
            ids = ctx + o
            logits = mm.reference_logits(cfg, w, ids)
            lp = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1)
            lls.append(float(sum(lp[len(ctx) - 1 + t, o[t]] for t in range(len(o)))))
        questions.append({"context": ctx, "options": opts, "loglik": lls,
                          "choice": int(np.argmax(lls))})
    out = {"generator": "tests/gen/make_eval_fixtures.py (float64 PyTorch reference)",
           "model": "tests/fixtures/tiny-llama", "questions": questions}
    os.makedirs("tests/fixtures/eval", exist_ok=True)
    with open("tests/fixtures/eval/loglik.json", "w") as f:
        json.dump(out, f, indent=1)
    print("wrote tests/fixtures/eval/loglik.json:", [q["choice"] for q in questions])


if __name__ == "__main__":
    main()
