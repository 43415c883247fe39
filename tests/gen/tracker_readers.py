#!/usr/bin/env python3
"""Independent readers for what `report_to: wandb | mlflow` writes (Python 3 standard library
only: no wandb, mlflow or PyYAML package is needed or used).

  read_wandb_log(path)  a W&B transaction log (run-<id>.wandb) -> list of decoded Records
  read_mlflow(root)     an MLflow file store (mlruns/) -> experiments, runs, params, metrics, tags

The W&B reader follows wandb's own reader (wandb/sdk/internal/datastore.py, scan_data): the
7-byte header ":W&B" + magic 0xBEE1 (LE) + version 0, 32 KiB blocks counted from offset 0,
zero padding when fewer than 7 bytes are left in a block, chunks of
  u32 LE checksum | u16 LE length | u8 type (1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST) | payload
whose checksum is zlib.crc32(payload, zlib.crc32(bytes([type]))). Records are then decoded as
wandb_internal.Record by a hand-written protobuf wire-format parser with the field numbers of
wandb/proto/wandb_internal.proto (only the messages ctune writes are known; an unknown field is
an error, so a wrong field number cannot slip through).

The MLflow reader follows mlflow/store/tracking/file_store.py: meta.yaml files (read by a small
YAML reader for the flat key: scalar documents FileStore writes), params/<key> (whole file),
metrics/<key> ("<timestamp> <value> [<step>]" lines, FileStore._get_metric_from_line), tags/<key>.

Usage: tracker_readers.py wandb RUN.wandb | tracker_readers.py mlflow MLRUNS_DIR  (prints JSON)
"""
import json
import os
import struct
import sys
import zlib

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

# ---------------------------------------------------------------- protobuf wire format


def _varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _fields(buf):
    """(field_number, wire_type, value) of a message; LEN values are bytes."""
    i, out = 0, []
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated field")
        out.append((field, wire, v))
    return out


# message name -> {field number: (name, type, repeated)}; type is a scalar kind or a message name
_ITEM = {1: ("key", "string", False), 2: ("nested_key", "string", True), 16: ("value_json", "string", False)}
SCHEMA = {
    "Record": {1: ("num", "int64", False), 2: ("history", "HistoryRecord", False), 3: ("summary", "SummaryRecord", False),
               5: ("config", "ConfigRecord", False), 6: ("files", "FilesRecord", False),
               12: ("metric", "MetricRecord", False), 13: ("output_raw", "OutputRawRecord", False),
               17: ("run", "RunRecord", False), 18: ("exit", "RunExitRecord", False), 21: ("header", "HeaderRecord", False)},
    "HeaderRecord": {1: ("version_info", "VersionInfo", False)},
    "VersionInfo": {1: ("producer", "string", False), 2: ("min_consumer", "string", False)},
    "RunRecord": {1: ("run_id", "string", False), 2: ("entity", "string", False), 3: ("project", "string", False),
                  6: ("run_group", "string", False), 7: ("job_type", "string", False),
                  8: ("display_name", "string", False), 9: ("notes", "string", False), 10: ("tags", "string", True),
                  13: ("host", "string", False), 17: ("start_time", "Timestamp", False)},
    "Timestamp": {1: ("seconds", "int64", False), 2: ("nanos", "int32", False)},
    "ConfigRecord": {1: ("update", "ConfigItem", True), 2: ("remove", "ConfigItem", True)},
    "SummaryRecord": {1: ("update", "SummaryItem", True), 2: ("remove", "SummaryItem", True)},
    "HistoryRecord": {1: ("item", "HistoryItem", True), 2: ("step", "HistoryStep", False)},
    "HistoryStep": {1: ("num", "int64", False)},
    "ConfigItem": _ITEM, "SummaryItem": _ITEM, "HistoryItem": _ITEM,
    "MetricRecord": {1: ("name", "string", False), 2: ("glob_name", "string", False),
                     4: ("step_metric", "string", False), 6: ("options", "MetricOptions", False),
                     7: ("summary", "MetricSummary", False), 9: ("_control", "MetricControl", False),
                     10: ("expanded_from_glob", "bool", False)},
    "MetricOptions": {1: ("step_sync", "bool", False), 2: ("hidden", "bool", False), 3: ("defined", "bool", False)},
    "MetricSummary": {i + 1: (n, "bool", False) for i, n in
                      enumerate(["min", "max", "mean", "best", "last", "none", "copy", "first"])},
    "MetricControl": {1: ("overwrite", "bool", False)},
    "OutputRawRecord": {1: ("output_type", "enum", False), 2: ("timestamp", "Timestamp", False),
                        3: ("line", "string", False)},
    "FilesRecord": {1: ("files", "FilesItem", True)},
    "FilesItem": {1: ("path", "string", False), 2: ("policy", "enum", False), 3: ("type", "enum", False)},
    "RunExitRecord": {1: ("exit_code", "int32", False), 2: ("runtime", "int32", False),
                      3: ("not_complete", "bool", False)},
}
_WIRE = {"int64": 0, "int32": 0, "bool": 0, "enum": 0, "string": 2}


def _signed(v, bits):
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    if bits == 32 and not -(1 << 31) <= v < (1 << 31):
        raise ValueError("int32 out of range")
    return v


def decode(msg, buf):
    schema, out = SCHEMA[msg], {}
    for field, wire, v in _fields(buf):
        if field not in schema:
            raise ValueError(f"{msg}: unknown field {field}")
        name, kind, repeated = schema[field]
        if wire != _WIRE.get(kind, 2):
            raise ValueError(f"{msg}.{name}: wire type {wire}")
        if kind == "string":
            val = v.decode("utf-8")
        elif kind == "int64":
            val = _signed(v, 64)
        elif kind == "int32":
            val = _signed(v, 32)
        elif kind in ("bool", "enum"):
            val = bool(v) if kind == "bool" else v
        else:
            val = decode(kind, v)
        if repeated:
            out.setdefault(name, []).append(val)
        elif name in out:
            raise ValueError(f"{msg}.{name} given twice")
        else:
            out[name] = val
    return out


# ---------------------------------------------------------------- W&B log framing


def read_wandb_chunks(data):
    """The records (payload bytes) of a .wandb file, every checksum and padding checked."""
    if len(data) < HEADER:
        raise ValueError("shorter than the header")
    ident, magic, version = struct.unpack("<4sHB", data[:HEADER])
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"bad header {data[:HEADER]!r}")
    i, records, pending = HEADER, [], None
    while i < len(data):
        left = BLOCK - i % BLOCK
        if left < HEADER:
            if data[i:i + left] != b"\0" * left:
                raise ValueError(f"offset {i}: non-zero block padding")
            i += left
            continue
        if i + HEADER > len(data):
            raise ValueError(f"offset {i}: truncated chunk header")
        crc, n, typ = struct.unpack("<IHB", data[i:i + HEADER])
        payload = data[i + HEADER:i + HEADER + n]
        if len(payload) != n or (i % BLOCK) + HEADER + n > BLOCK:
            raise ValueError(f"offset {i}: chunk of {n} bytes overruns its block or the file")
        want = zlib.crc32(payload, zlib.crc32(bytes([typ]))) & 0xFFFFFFFF
        if crc != want:
            raise ValueError(f"offset {i}: checksum {crc:#x}, computed {want:#x}")
        if typ == FULL and pending is None:
            records.append(payload)
        elif typ == FIRST and pending is None:
            pending = payload
        elif typ == MIDDLE and pending is not None:
            pending += payload
        elif typ == LAST and pending is not None:
            records.append(pending + payload)
            pending = None
        else:
            raise ValueError(f"offset {i}: chunk type {typ} out of sequence")
        i += HEADER + n
    if pending is not None:
        raise ValueError("file ends inside a record")
    return records


def chunk_types(data):
    """The chunk types in file order (to show which framing cases a file exercises)."""
    i, types = HEADER, []
    while i < len(data):
        left = BLOCK - i % BLOCK
        if left < HEADER:
            types.append("pad")
            i += left
            continue
        _, n, typ = struct.unpack("<IHB", data[i:i + HEADER])
        types.append({FULL: "full", FIRST: "first", MIDDLE: "middle", LAST: "last"}[typ])
        i += HEADER + n
    return types


def read_wandb_log(path):
    with open(path, "rb") as f:
        data = f.read()
    return [decode("Record", r) for r in read_wandb_chunks(data)]


# ---------------------------------------------------------------- MLflow file store

def yaml_scalar(text):
    """A flow scalar as YAML 1.1 (PyYAML's safe_load) reads the ones FileStore writes."""
    t = text.strip()
    if t.startswith("'"):
        if not t.endswith("'") or len(t) < 2:
            raise ValueError(f"bad single-quoted scalar {t!r}")
        return t[1:-1].replace("''", "'")
    if t.startswith('"'):
        return json.loads(t)  # the writer's double-quoted scalars use JSON escapes only
    if t in ("null", "Null", "NULL", "~", ""):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if t == "[]":
        return []
    try:
        return int(t)
    except ValueError:
        return t


def read_meta_yaml(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if line[0] in " \t-":
                raise ValueError(f"{path}: only flat 'key: scalar' lines are expected: {line!r}")
            key, sep, rest = line.rstrip("\n").partition(":")
            if not sep or (rest and not rest.startswith(" ")):
                raise ValueError(f"{path}: bad line {line!r}")
            if key in out:
                raise ValueError(f"{path}: key {key} twice")
            out[key] = yaml_scalar(rest)
    return out


def _walk_files(d):
    out = {}
    for dirpath, _, files in os.walk(d):
        for n in files:
            full = os.path.join(dirpath, n)
            out[os.path.relpath(full, d)] = full
    return out


def read_mlflow(root):
    store = {"experiments": {}}
    for exp in sorted(os.listdir(root)):
        edir = os.path.join(root, exp)
        if exp == ".trash" or not os.path.isdir(edir):
            continue
        meta = read_meta_yaml(os.path.join(edir, "meta.yaml"))
        if meta["experiment_id"] != exp:
            raise ValueError(f"experiment dir {exp} holds id {meta['experiment_id']}")
        runs = {}
        for run in sorted(os.listdir(edir)):
            rdir = os.path.join(edir, run)
            if not os.path.isdir(rdir) or run in ("tags", "datasets", "traces"):
                continue
            info = read_meta_yaml(os.path.join(rdir, "meta.yaml"))
            if info["run_id"] != run or info["run_uuid"] != run or info["experiment_id"] != exp:
                raise ValueError(f"run {run}: meta.yaml names run {info['run_id']} of experiment {info['experiment_id']}")
            metrics = {}
            for key, full in sorted(_walk_files(os.path.join(rdir, "metrics")).items()):
                rows = []
                with open(full, encoding="utf-8") as f:
                    for line in f:
                        parts = line.strip().split(" ")
                        if len(parts) not in (2, 3):
                            raise ValueError(f"{full}: malformed line {line!r}")
                        rows.append([int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) == 3 else 0])
                metrics[key] = rows
            params = {k: open(p, encoding="utf-8").read() for k, p in sorted(_walk_files(os.path.join(rdir, "params")).items())}
            tags = {k: open(p, encoding="utf-8").read() for k, p in sorted(_walk_files(os.path.join(rdir, "tags")).items())}
            if not os.path.isdir(os.path.join(rdir, "artifacts")):
                raise ValueError(f"run {run}: no artifacts/ directory")
            runs[run] = {"meta": info, "params": params, "metrics": metrics, "tags": tags}
        store["experiments"][exp] = {"meta": meta, "runs": runs}
    if not os.path.isdir(os.path.join(root, ".trash")):
        raise ValueError("no .trash directory (FileStore creates one)")
    return store


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("wandb", "mlflow"):
        sys.exit(__doc__)
    result = read_wandb_log(sys.argv[2]) if sys.argv[1] == "wandb" else read_mlflow(sys.argv[2])
    print(json.dumps(result, indent=1, ensure_ascii=False))
