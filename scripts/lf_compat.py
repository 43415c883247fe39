#!/usr/bin/env python3
"""LlamaFactory compatibility sweep: runs ctune on a LlamaFactory checkout's own example YAMLs
and demo datasets and prints one table row per YAML and per dataset.

    scripts/lf_compat.py LLAMAFACTORY_DIR [--ctune build/ctune] [--model DIR] [--markdown]

For every example YAML (examples/**/*.yaml) that is a training config (`stage:` given):
  `ctune data preview Y -n 1` and `ctune train Y` with max_steps 3, the model path replaced by a
  tiny model, dataset_dir pointing at LLAMAFACTORY_DIR/data and output_dir at a temp directory;
  the YAML itself is read unchanged. Other YAMLs (inference / merge configs, accelerate configs,
  LlamaFactory v1 configs) are listed with what they are.
For every local dataset of data/dataset_info.json (entries with file_name): a generated config
  (stage pt for prompt-only column maps such as c4_demo / wiki_demo, else sft, once with template
  qwen3_nothink and once with llama3) through the same two commands.

The tiny model: --model DIR, else one made with `ctune init-model` from the Qwen3 tokenizer in
../shared/tokenizers/qwen3 (1 layer, hidden 32). Needs only the Python standard library.
Outcome per command: `ok` or the first line of ctune's error. Exit status 0 (the table is the
result); 2 when the checkout or the binary is missing."""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

TIMEOUT = 600
TEMPLATES = ["qwen3_nothink", "llama3"]  # each sft dataset is run under both (LlamaFactory's names)


def yaml_scalar(text, key):
    """Value of a top-level `key: value` line (comments removed), or None."""
    m = re.search(r"^%s:\s*(.*?)\s*(#.*)?$" % re.escape(key), text, re.M)
    return m.group(1) if m else None


def run(cmd, cwd=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, "timeout after %ds" % TIMEOUT
    if p.returncode == 0:
        return True, p.stdout + p.stderr
    lines = [l for l in (p.stderr or p.stdout).splitlines() if l.strip()]
    err = [l for l in lines if l.startswith("ctune:")]
    return False, (err[0] if err else (lines[-1] if lines else "exit %d" % p.returncode))


def short(msg, lf, tmp):
    msg = msg.replace(lf + "/", "").replace(tmp + "/", "")
    msg = re.sub(r"^ctune: ", "", msg)
    return msg.replace("|", "\\|")


def warnings_of(out):
    """ctune's warning lines (skipped rows) from a successful run."""
    return [l.strip() for l in out.splitlines() if "warning:" in l]


def make_model(ctune, tmp):
    tok = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tokenizers", "qwen3")
    if not os.path.isfile(os.path.join(tok, "tokenizer.json")):
        sys.exit("no --model and no Qwen3 tokenizer at %s" % tok)
    out = os.path.join(tmp, "tiny-qwen3")
    ok, msg = run([ctune, "init-model", "--arch", "qwen3", "--hidden-size", "32", "--layers", "1", "--heads", "2",
                   "--kv-heads", "1", "--intermediate-size", "64", "--head-dim", "16", "--tokenizer", tok,
                   "--out", out, "--seed", "1"])
    if not ok:
        sys.exit("init-model failed: " + msg)
    return out


def try_config(ctune, cfg, lf, model, tmp, tag, extra=()):
    common = ["--model_name_or_path", model, "--dataset_dir", os.path.join(lf, "data"), "--tokenized_path", "",
              *extra]
    ok_p, out_p = run([ctune, "data", "preview", cfg, "-n", "1", "--color", "never", *common], cwd=tmp)
    outdir = os.path.join(tmp, "out-" + re.sub(r"[^A-Za-z0-9_.-]", "_", tag))
    ok_t, out_t = run([ctune, "train", cfg, *common, "--output_dir", outdir, "--max_steps", "3",
                       "--overwrite_output_dir", "true", "--logging_steps", "1", "--save_steps", "0",
                       "--threads", "2"], cwd=tmp)
    shutil.rmtree(outdir, ignore_errors=True)
    res = []
    for ok, out in ((ok_p, out_p), (ok_t, out_t)):
        if ok:
            w = warnings_of(out)
            res.append("ok" + (" (" + "; ".join(short(x, lf, tmp) for x in w) + ")" if w else ""))
        else:
            res.append(short(out, lf, tmp))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lf", help="LlamaFactory checkout (holds data/ and examples/)")
    ap.add_argument("--ctune", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "ctune"))
    ap.add_argument("--model", help="tiny HF model directory (default: made with ctune init-model)")
    ap.add_argument("--only", help="regular expression: run only YAMLs / datasets whose name matches")
    a = ap.parse_args()
    lf = os.path.abspath(a.lf)
    ctune = os.path.abspath(a.ctune)
    if not os.path.isfile(os.path.join(lf, "data", "dataset_info.json")) or not os.path.isdir(os.path.join(lf, "examples")):
        print("not a LlamaFactory checkout: %s" % lf, file=sys.stderr)
        return 2
    if not os.access(ctune, os.X_OK):
        print("no ctune binary at %s (run make)" % ctune, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="lf_compat_")
    try:
        model = os.path.abspath(a.model) if a.model else make_model(ctune, tmp)
        only = re.compile(a.only) if a.only else None
        print("## Example YAMLs (examples/)\n")
        print("| YAML | stage / template / dataset | data preview | train (3 steps) |")
        print("| --- | --- | --- | --- |")
        for path in sorted(glob.glob(os.path.join(lf, "examples", "**", "*.yaml"), recursive=True)):
            rel = os.path.relpath(path, lf)
            if only and not only.search(rel):
                continue
            text = open(path, encoding="utf-8").read()
            stage = yaml_scalar(text, "stage")
            if stage is None:
                if yaml_scalar(text, "model") is not None:
                    kind = "LlamaFactory v1 config (`model:` key)"
                elif yaml_scalar(text, "export_dir") is not None:
                    kind = "export (merge) config"
                elif yaml_scalar(text, "model_name_or_path") is not None:
                    kind = "inference (chat / api) config"
                else:
                    kind = "not a LlamaFactory config (accelerate / tool settings)"
                print("| %s | %s | — | — |" % (rel, kind))
                continue
            desc = "%s / %s / %s" % (stage, yaml_scalar(text, "template") or "—", yaml_scalar(text, "dataset") or "—")
            p, t = try_config(ctune, path, lf, model, tmp, rel)
            print("| %s | %s | %s | %s |" % (rel, desc.replace("|", "\\|"), p, t))
        print("\n## Datasets (data/dataset_info.json, local files)\n")
        print("| dataset | file | config | data preview | train (3 steps) |")
        print("| --- | --- | --- | --- | --- |")
        info = json.load(open(os.path.join(lf, "data", "dataset_info.json"), encoding="utf-8"))
        for name, e in info.items():
            if "file_name" not in e or (only and not only.search(name)):
                continue
            cols = e.get("columns", {})
            pt = e.get("formatting", "alpaca") == "alpaca" and set(cols) == {"prompt"}
            for tmpl in [None] if pt else TEMPLATES:
                cfg = os.path.join(tmp, name + ".yaml")
                with open(cfg, "w", encoding="utf-8") as f:
                    f.write("stage: %s\ndataset: %s\nfinetuning_type: lora\ncutoff_len: 512\nmax_samples: 1000\n"
                            "per_device_train_batch_size: 2\nlearning_rate: 1.0e-4\n" % ("pt" if pt else "sft", name))
                    if tmpl:
                        f.write("template: %s\n" % tmpl)
                p, t = try_config(ctune, cfg, lf, model, tmp, name)
                print("| %s | %s | %s | %s | %s |" % (name, e["file_name"], "stage pt" if pt else "sft, " + tmpl, p, t))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
