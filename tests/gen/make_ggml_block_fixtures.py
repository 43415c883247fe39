#!/usr/bin/python3
"""Builds tests/fixtures/quant/ggml_blocks.safetensors for tests/test_gguf.c.

An independent numpy reference of ggml's reference block quantizers (ggml/src/ggml-quants.c
quantize_row_q8_0_ref / quantize_row_q4_0_ref, the algorithm llama.cpp's gguf-py quants.py also
implements), written from those semantics in float32, not sharing code with the C:
  Q8_0: per block of 32, d = max|x| / 127, id = 1/d (0 when d == 0), q = roundf(x * id) (half away
        from zero, computed exactly as gguf-py's np_roundf), d stored as f16 (round to nearest even);
        block = f16 d (little-endian) + 32 int8.
  Q4_0: max = the first element of largest |x| (its sign kept), d = max / -8, id = 1/d (0 when
        d == 0), q = min(15, trunc(x * id + 8.5)); byte j = q[j] | q[j + 16] << 4; block = f16 d +
        16 bytes.
Dequantized values (q * d, (q - 8) * d in f32) are stored too.

Run from the repository root: /usr/bin/python3 tests/gen/make_ggml_block_fixtures.py"""
import json
import struct

import numpy as np

QK = 32


def roundf(v):
    a = np.abs(v)
    fl = np.floor(a)
    return np.sign(v) * (fl + np.floor(np.float32(2) * (a - fl)))


def q8_0(x):
    b = x.reshape(-1, QK)
    d = (np.abs(b).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = roundf((b * inv).astype(np.float32)).astype(np.int8)
    dh = d.astype(np.float16)
    out = b"".join(dh[i].tobytes() + q[i].tobytes() for i in range(len(b)))
    deq = (q.astype(np.float32) * dh.astype(np.float32)).astype(np.float32).reshape(-1)
    return out, deq


def q4_0(x):
    b = x.reshape(-1, QK)
    imax = np.abs(b).argmax(axis=1)[:, None]
    mx = np.take_along_axis(b, imax, axis=1)
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    v = ((b * inv).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    q = np.minimum(np.trunc(v), 15).astype(np.uint8)
    packed = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    dh = d.astype(np.float16)
    out = b"".join(dh[i].tobytes() + packed[i].tobytes() for i in range(len(b)))
    deq = ((q.astype(np.float32) - np.float32(8)) * dh.astype(np.float32)).astype(np.float32).reshape(-1)
    return out, deq


def cases():
    rng = np.random.default_rng(20261130)
    c = {}
    c["randn"] = rng.standard_normal(32 * 64).astype(np.float32)
    c["zero_block"] = np.concatenate([np.zeros(32), rng.standard_normal(32)]).astype(np.float32)
    # exact halves after scaling: max 127 -> id 1, x = k + 0.5; q4: max -8 -> id 1, x + 8.5 on .0 / .5
    halves = np.arange(-63, 64, dtype=np.float32)[:31] + np.float32(0.5)
    c["ties"] = np.concatenate([[np.float32(127)], halves,
                                [np.float32(-8)], np.arange(-8, 8, 0.5, dtype=np.float32)[:31]]).astype(np.float32)
    c["outlier"] = np.concatenate([rng.standard_normal(31) * 0.01, [50.0]]).astype(np.float32)
    c["neg_max"] = np.concatenate([rng.uniform(-1, 1, 31), [-3.0]]).astype(np.float32)
    c["equal_abs"] = np.array([2.0, -2.0] * 16, dtype=np.float32)
    c["tiny"] = (rng.standard_normal(64) * 1e-30).astype(np.float32)
    c["large"] = (rng.standard_normal(64) * 6e4).astype(np.float32)
    c["bf16ish"] = rng.standard_normal(96).astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
    c["bf16ish"] = c["bf16ish"].view(np.float32)
    return c


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    t = {}
    for name, x in cases().items():
        t[name + ".x"] = ("F32", [len(x)], x.tobytes())
        for kind, fn in (("q8_0", q8_0), ("q4_0", q4_0)):
            blocks, deq = fn(x)
            t[f"{name}.{kind}"] = ("U8", [len(blocks)], blocks)
            t[f"{name}.{kind}_deq"] = ("F32", [len(deq)], deq.tobytes())
    write_safetensors("tests/fixtures/quant/ggml_blocks.safetensors", t)
    print("wrote tests/fixtures/quant/ggml_blocks.safetensors:", len(t), "tensors")


if __name__ == "__main__":
    main()
