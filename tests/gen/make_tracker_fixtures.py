#!/usr/bin/env python3
"""Golden fixtures for report_to: wandb / mlflow (tests/test_trackers.c). Python 3 standard library.

  make && python3 tests/gen/make_tracker_fixtures.py

1. Runs `build/ctune_tests trackers_golden` with CT_TRACKERS_WRITE=<tmp>: the C sinks replay each
   scenario of tests/fixtures/trackers/scenarios.json into <tmp>/<scenario>/{wandb,mlruns}.
2. Reads every output back with the independent readers of tracker_readers.py (W&B log framing,
   CRCs and protobuf decoding by hand; the MLflow store's files) and checks it against what
   HF transformers' WandbCallback / MLflowCallback plus wandb's handler and MLflow's FileStore
   would have written for those events, derived here from the scenario alone (json.dumps for
   W&B value_json, Python str() for MLflow params, f"{timestamp} {value} {step}" metric lines).
   Any difference stops the script.
3. Commits the result: tests/fixtures/trackers/<scenario>.wandb (the checked log) and
   expected.json (per scenario: the decoded records, and every file of the W&B run and of the
   MLflow store as text, or size + CRC-32 when large, with the store's absolute path as <ROOT>).
"""
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(REPO, "tests", "fixtures", "trackers")
sys.path.insert(0, HERE)
import tracker_readers as tr  # noqa: E402

STEP = "train/global_step"
BIG = 8192  # files above this size are pinned by size + CRC-32 in expected.json


def expand(v):
    if isinstance(v, dict) and "$repeat" in v:
        return v["$repeat"] * v["$times"]
    if isinstance(v, dict):
        return {k: expand(x) for k, x in v.items()}
    return v


def ts(t):
    s = math.floor(t)
    n = round((t - s) * 1e9)
    return {k: v for k, v in (("seconds", s), ("nanos", n)) if v}


def ms(t):
    return round(t * 1000)


def td(s):
    return str(datetime.timedelta(seconds=int(s)))


def progress_line(e):
    """src/train/progress.c ct_progress_format_line, the non-terminal console line."""
    step, total = e["step"], e["total_steps"]
    s = "step %d/%d (%.1f%%)" % (step, total, 100.0 * step / total if total > 0 else 100.0)
    if e.get("loss") is not None:
        s += " loss %.4f" % e["loss"]
    if e.get("grad_norm") is not None:
        s += " grad_norm %.4g" % e["grad_norm"]
    if e.get("learning_rate") is not None:
        s += " lr %.2e" % e["learning_rate"]
    if e.get("epoch") is not None:
        s += " epoch %.2f" % e["epoch"]
    if e.get("tokens_per_s") is not None:
        s += " %.0f tok/s" % e["tokens_per_s"]
    eta = e["elapsed_s"] / step * (total - step) if step > 0 else 0
    return s + " elapsed %s eta %s" % (td(e["elapsed_s"]), td(eta))


# ---------------------------------------------------------------- what W&B should hold


def wandb_expected(spec, sc):
    w, start, cfg = spec["wandb"], spec["start"], expand(sc["config"])
    recs, summary, seen, output = [], {}, set(), []
    state = {"step": 0}

    def add(kind, body):
        recs.append({"num": len(recs) + 1, kind: body})

    def timing(elapsed):
        r = str(int(elapsed))
        add("summary", {"update": [{"nested_key": ["_wandb", "runtime"], "value_json": r},
                                   {"key": "_runtime", "value_json": r}]})
        summary["_runtime"] = int(elapsed)
        summary.setdefault("_wandb", {})["runtime"] = int(elapsed)

    def row(values, elapsed):
        # wandb.log(values) without a step, flushed by wandb-core's handler (flushPartialHistory)
        for k in sorted(k for k in values if k != STEP and k not in seen):
            add("metric", {"name": k, "step_metric": STEP, "options": {"step_sync": True}, "summary": {},
                           "_control": {"overwrite": True}, "expanded_from_glob": True})
            seen.add(k)
        values = dict(values, _runtime=elapsed, _step=state["step"], _timestamp=start + elapsed)
        timing(elapsed)
        items = [{"key": k, "value_json": json.dumps(values[k])} for k in sorted(values)]
        add("summary", {"update": items})
        add("history", {"item": items, "step": {"num": state["step"]} if state["step"] else {}})
        summary.update(values)
        state["step"] += 1

    def line(text, elapsed):
        output.append(text + "\n")
        add("output_raw", {"output_type": 1, "timestamp": ts(start + elapsed), "line": text + "\n"})

    run = {"run_id": w["run_id"], "entity": w["entity"], "project": w["project"], "run_group": w["group"],
           "job_type": w["job_type"], "display_name": w["name"], "notes": w["notes"],
           "tags": [t.strip() for t in w["tags"].split(",") if t.strip()], "host": w["host"], "start_time": ts(start)}
    add("header", {"version_info": {"producer": "ctune"}})
    add("run", run)
    add("config", {"update": [{"key": k, "value_json": json.dumps(cfg[k])} for k in sorted(cfg)]})
    add("metric", {"name": STEP, "options": {"defined": True}})
    add("metric", {"glob_name": "*", "step_metric": STEP, "options": {"step_sync": True, "defined": True}})
    add("files", {"files": [{"path": "wandb-metadata.json", "type": 1}]})
    elapsed, code = 0.0, 1
    for e in sc["events"]:
        elapsed = e["elapsed_s"]
        if e["kind"] == "log":  # WandbCallback.on_log: rewrite_logs names + train/global_step
            names = {"loss": "train/loss", "grad_norm": "train/grad_norm", "learning_rate": "train/learning_rate",
                     "epoch": "train/epoch"}
            row({names[k]: e[k] for k in names if e.get(k) is not None} | {STEP: e["step"]}, elapsed)
            line(progress_line(e), elapsed)
        elif e["kind"] == "eval":
            row({"eval/loss": e["eval_loss"], "train/epoch": e["epoch"], STEP: e["step"]}, elapsed)
            line("step %d/%d eval_loss %.4f" % (e["step"], e["total_steps"], e["eval_loss"]), elapsed)
        else:
            done = e["step"] >= e["total_steps"]
            if done:  # the final on_log: these go to run.summary one by one, the epoch is logged
                for k, v in (("train_runtime", e["elapsed_s"]), ("train_samples_per_second", e["samples_per_s"]),
                             ("train_steps_per_second", e["steps_per_s"]), ("train_loss", e["loss"])):
                    add("summary", {"update": [{"key": k, "value_json": json.dumps(v)}]})
                    summary[k] = v
                row({"train/epoch": e["epoch"], STEP: e["step"]}, elapsed)
            code = 0 if done else 130
    timing(elapsed)
    add("exit", {k: v for k, v in (("exit_code", code), ("runtime", int(elapsed))) if v})
    when = datetime.datetime.fromtimestamp(start, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    meta = {"os": w["os"], "startedAt": when, "program": "ctune", "host": w["host"], "username": w["username"],
            "executable": w["executable"], "root": w["root"], "cpu_count": w["cpu_count"],
            "cpu_count_logical": w["cpu_count"]}
    files = {"config.yaml": {k: {"value": v} for k, v in cfg.items()},
             "wandb-summary.json": json.dumps(summary, sort_keys=True),
             "wandb-metadata.json": json.dumps(meta, indent=4, sort_keys=True),
             "output.log": "".join(output)}
    return recs, files


def read_config_yaml(text):
    """The YAML subset of files/config.yaml: nested block mappings (4-space indents), block
    sequences ("- x"), [] / {}, and plain / double-quoted scalars (YAML 1.1 meanings)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    pos = [0]

    def scalar(t):
        if t.startswith('"'):
            return json.loads(t)
        if t == "[]":
            return []
        if t == "{}":
            return {}
        if t in ("null", "~"):
            return None
        if t in ("true", "false"):
            return t == "true"
        for conv in (int, float):
            try:
                return conv(t)
            except ValueError:
                pass
        if t in (".nan", ".inf", "-.inf"):
            return float(t.replace(".", ""))
        return t

    def block(indent):
        first = lines[pos[0]]
        if first[indent:].startswith("- "):
            out = []
            while pos[0] < len(lines) and lines[pos[0]].startswith(" " * indent + "- "):
                out.append(scalar(lines[pos[0]][indent + 2:]))
                pos[0] += 1
            return out
        out = {}
        while pos[0] < len(lines):
            ln = lines[pos[0]]
            ind = len(ln) - len(ln.lstrip(" "))
            if ind < indent:
                break
            if ind != indent:
                raise ValueError(f"config.yaml: bad indent: {ln!r}")
            key, _, rest = ln.strip().partition(":")
            pos[0] += 1
            out[key] = scalar(rest.strip()) if rest.strip() else block(indent + 4)
        return out

    return block(0)


# ---------------------------------------------------------------- what MLflow should hold


def mlflow_expected(spec, sc, root):
    m, start, cfg = dict(spec["mlflow"], **sc["mlflow"]), spec["start"], expand(sc["config"])
    exps = {"0": {"meta": {"artifact_location": f"file://{root}/0", "creation_time": ms(start), "experiment_id": "0",
                           "last_update_time": ms(start), "lifecycle_stage": "active", "name": "Default"}, "runs": {}}}
    exp = "0"
    if m.get("experiment_name"):
        exp = m["experiment_id"]
        exps[exp] = {"meta": dict(exps["0"]["meta"], artifact_location=f"file://{root}/{exp}", experiment_id=exp,
                                  name=m["experiment_name"]), "runs": {}}
    metrics, texts, elapsed, status = {}, {}, 0.0, 4  # FAILED unless an end event says otherwise

    def log(key, v, step, t):
        if v is None:
            return
        metrics.setdefault(key, []).append([ms(start + t), float(v), step])
        texts[key] = texts.get(key, "") + f"{ms(start + t)} {float(v)} {step}\n"

    for e in sc["events"]:
        elapsed = e["elapsed_s"]
        if e["kind"] == "log":  # MLflowCallback.on_log: HF's own log keys, step = global_step
            for k in ("loss", "grad_norm", "learning_rate", "epoch"):
                log(k, e.get(k), e["step"], elapsed)
        elif e["kind"] == "eval":
            log("eval_loss", e["eval_loss"], e["step"], elapsed)
            log("epoch", e["epoch"], e["step"], elapsed)
        else:
            done = e["step"] >= e["total_steps"]
            if done:
                for k, v in (("train_runtime", e["elapsed_s"]), ("train_samples_per_second", e["samples_per_s"]),
                             ("train_steps_per_second", e["steps_per_s"]), ("train_loss", e["loss"]),
                             ("epoch", e["epoch"])):
                    log(k, v, e["step"], elapsed)
            status = 3 if done else 5  # FINISHED / KILLED
    run = m["new_run_id"]
    params = {k: str(v) for k, v in cfg.items() if k != "model/num_parameters" and len(str(v)) <= 6000}
    tags = {"mlflow.runName": m["run_name"], "mlflow.source.name": m["source_name"], "mlflow.source.type": "LOCAL",
            "mlflow.user": m["user"]} | {k: str(v) for k, v in m["tags"].items()}
    exps[exp]["runs"][run] = {
        "meta": {"artifact_uri": f"file://{root}/{exp}/{run}/artifacts", "end_time": ms(start + elapsed),
                 "entry_point_name": "", "experiment_id": exp, "lifecycle_stage": "active", "run_id": run,
                 "run_name": m["run_name"], "run_uuid": run, "source_name": "", "source_type": 4,
                 "source_version": "", "start_time": ms(start), "status": status, "tags": [], "user_id": m["user"]},
        "params": dict(sorted(params.items())), "metrics": dict(sorted(metrics.items())), "tags": dict(sorted(tags.items()))}
    return {"experiments": exps}, {f"{exp}/{run}/metrics/{k}": t for k, t in texts.items()}


# ---------------------------------------------------------------- driver


def same(what, got, want):
    if got != want:
        g = json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True).splitlines()
        w = json.dumps(want, indent=1, ensure_ascii=False, sort_keys=True).splitlines()
        for i, (a, b) in enumerate(zip(g, w)):
            if a != b:
                sys.exit(f"{what}: differs at line {i + 1}:\n  got      {a}\n  expected {b}")
        sys.exit(f"{what}: differs in length ({len(g)} vs {len(w)} lines)")


def abbreviate(v):
    """Long strings of the decoded records shown by length and CRC-32 (the log itself is pinned)."""
    if isinstance(v, str) and len(v) > 200:
        return f"<{len(v)} characters, crc32 {zlib.crc32(v.encode()):08x}>"
    if isinstance(v, list):
        return [abbreviate(x) for x in v]
    if isinstance(v, dict):
        return {k: abbreviate(x) for k, x in v.items()}
    return v


def file_entry(path, root=None):
    data = open(path, "rb").read()
    if len(data) > BIG:
        return {"size": len(data), "crc32": zlib.crc32(data)}
    text = data.decode("utf-8")
    return {"text": text.replace(root, "<ROOT>") if root else text}


def main():
    spec = json.load(open(os.path.join(FIX, "scenarios.json"), encoding="utf-8"))
    tests = os.path.join(REPO, "build", "ctune_tests")
    expected = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CT_TRACKERS_WRITE=tmp)
        subprocess.run([tests, "trackers_golden"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        for sc in spec["scenarios"]:
            name, out = sc["name"], os.path.join(tmp, sc["name"])
            wdir = os.path.join(out, "wandb")
            runs = [d for d in os.listdir(wdir) if d.startswith("offline-run-")]
            assert len(runs) == 1 and runs[0].endswith("-" + spec["wandb"]["run_id"]), runs
            run = os.path.join(wdir, runs[0])
            log = f"run-{spec['wandb']['run_id']}.wandb"
            data = open(os.path.join(run, log), "rb").read()
            records = [tr.decode("Record", r) for r in tr.read_wandb_chunks(data)]
            want_recs, want_files = wandb_expected(spec, sc)
            same(f"{name}: W&B records", records, want_recs)
            kinds = tr.chunk_types(data)
            if name == "finished":  # every framing case: FULL, FIRST/MIDDLE/LAST and block padding
                assert {"first", "middle", "last", "full", "pad"} <= set(kinds), kinds
            files = os.path.join(run, "files")
            same(f"{name}: files/", sorted(os.listdir(files)), sorted(want_files))
            same(f"{name}: config.yaml", read_config_yaml(open(os.path.join(files, "config.yaml"), encoding="utf-8").read()),
                 want_files["config.yaml"])
            for f in ("wandb-summary.json", "wandb-metadata.json", "output.log"):
                same(f"{name}: {f}", open(os.path.join(files, f), encoding="utf-8").read(), want_files[f])
            root = os.path.join(out, "mlruns")
            store = tr.read_mlflow(root)
            want_store, metric_texts = mlflow_expected(spec, sc, root)
            same(f"{name}: MLflow store", store, want_store)
            for rel, text in metric_texts.items():
                same(f"{name}: {rel}", open(os.path.join(root, rel), encoding="utf-8").read(), text)
            shutil.copyfile(os.path.join(run, log), os.path.join(FIX, f"{name}.wandb"))
            mfiles = {os.path.relpath(p, root): file_entry(p, root) for p in tr._walk_files(root).values()}
            expected[name] = {
                "wandb": {"log": log, "chunks": {k: kinds.count(k) for k in sorted(set(kinds))},
                          "records": abbreviate(records),
                          "files": {f: file_entry(os.path.join(files, f)) for f in sorted(os.listdir(files))}},
                "mlflow": {"store": json.loads(json.dumps(store).replace(root, "<ROOT>")),
                           "files": dict(sorted(mfiles.items()))}}
            print(f"{name}: {len(records)} W&B records ({len(data)} bytes; chunks {sorted(set(kinds))}), "
                  f"{len(mfiles)} MLflow files: as expected")
    with open(os.path.join(FIX, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
