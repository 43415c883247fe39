#!/usr/bin/python3
"""Builds tests/fixtures/quant/ggml_kquants.safetensors for tests/test_ggml_dequant.c.

The blocks and their decoded values come from the real ggml library (libggml-base.so of the
llama.cpp build that node-llama-cpp@3.21.1 ships, fetched by scripts/fetch_llama_cpp.sh into
.cache/llama-cpp-bin), called through ctypes:
  - blocks: ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix) (after
    ggml_quantize_init(type)), once with imatrix = NULL (the *_ref quantizers, what
    llama-quantize writes without an importance matrix) and once with a random positive
    importance matrix (the *_impl quantizers, other scale patterns);
  - random blocks: random bytes with finite f16 scale fields, so that every code / scale bit
    pattern is decoded (ggml's quantizers leave some of them unused);
  - expected f32: dequantize_row_<type>(blocks, out, n) from the same library (F16 / BF16:
    ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row).
The fixture is committed, so `make test` needs neither python nor the library; rerun this only
to change the cases.

Tensors, for each type T (q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs, plus
f16 / bf16):
  T.blocks   U8  [bytes]       the blocks of all rows of the case, back to back
  T.out      F32 [n]           ggml's decoding of T.blocks
Rows (n = 512, two 256-element super-blocks, for the K types; 256 for the 32-element types):
  0: randn with an outlier (+40) and a negative one (-40);
  1: an all-zero first block (256 / 32 elements), then negative values only;
  2: n / 2 values randn * 1e-3 with one large value, quantized with a random importance matrix;
  3: random block bytes (one super-block; four 32-element blocks).
f16 / bf16: all special bit patterns worth checking (zeros, subnormals, min normal, max, inf,
NaN with payloads) plus random halves.

Run from the repository root (the .so needs libstdc++ only; no LD_LIBRARY_PATH is needed when
its path is given, but LD_LIBRARY_PATH=.cache/llama-cpp-bin works too):
  scripts/fetch_llama_cpp.sh          # once, if .cache/llama-cpp-bin is missing
  /usr/bin/python3 tests/gen/make_ggml_kquant_fixtures.py [path/to/libggml-base.so]
"""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_ggml_block_fixtures import write_safetensors  # noqa: E402 (the same file format)

# ggml enum ggml_type numbers, elements and bytes per block
TYPES = {
    "f16": (1, 1, 2), "bf16": (30, 1, 2),
    "q4_0": (2, 32, 18), "q4_1": (3, 32, 20), "q5_0": (6, 32, 22), "q5_1": (7, 32, 24),
    "q8_0": (8, 32, 34), "q2_K": (10, 256, 84), "q3_K": (11, 256, 110), "q4_K": (12, 256, 144),
    "q5_K": (13, 256, 176), "q6_K": (14, 256, 210), "iq4_nl": (20, 32, 18), "iq4_xs": (23, 256, 136),
}
# byte offsets of the f16 fields of each block (kept finite in the random blocks)
F16_FIELDS = {
    "q4_0": (0,), "q4_1": (0, 2), "q5_0": (0,), "q5_1": (0, 2), "q8_0": (0,),
    "q2_K": (80, 82), "q3_K": (108,), "q4_K": (0, 2), "q5_K": (0, 2), "q6_K": (208,), "iq4_nl": (0,),
    "iq4_xs": (0,),
}


def load(path):
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_quantize_init.restype = None
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.ggml_row_size.restype = ctypes.c_size_t
    for name in [f"dequantize_row_{t}" for t in F16_FIELDS] + ["ggml_fp16_to_fp32_row", "ggml_bf16_to_fp32_row"]:
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
    return lib


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def quantize(lib, tnum, x, imatrix=None):
    nrows, n = x.shape
    size = lib.ggml_row_size(tnum, n) * nrows
    dst = np.zeros(size, dtype=np.uint8)
    src = np.ascontiguousarray(x, dtype=np.float32)
    got = lib.ggml_quantize_chunk(tnum, ptr(src), ptr(dst), 0, nrows, n, ptr(imatrix) if imatrix is not None else None)
    assert got == size, (tnum, got, size)
    return dst


def random_blocks(rng, name, nblocks):
    _, _, bsize = TYPES[name]
    raw = rng.integers(0, 256, size=(nblocks, bsize), dtype=np.uint8)
    for off in F16_FIELDS[name]:
        h = (rng.standard_normal(nblocks) * 0.05).astype(np.float16)  # finite
        raw[:, off:off + 2] = h.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(-1)


def rows_for(rng, name):
    _, qk, _ = TYPES[name]
    n = 512 if qk == 256 else 256
    r0 = rng.standard_normal(n).astype(np.float32)
    r0[7] = 40.0
    r0[n - 3] = -40.0
    r1 = -np.abs(rng.standard_normal(n)).astype(np.float32) - np.float32(0.25)
    r1[:qk] = 0.0
    r2 = (rng.standard_normal(n // 2) * 1e-3).astype(np.float32)
    r2[n // 4 + 5] = 0.5
    imat = (rng.uniform(0.1, 4.0, n // 2)).astype(np.float32)
    return np.stack([r0, r1]), r2[None, :], imat


def half_patterns(rng):
    special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0xbc00,
               0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe55, 0x3555, 0x0200,
               0x7f80, 0xff80, 0x7f81, 0xffc1, 0x0080, 0x007f]  # the last six: bf16 inf / NaN / subnormal
    rand = rng.integers(0, 65536, size=64 - len(special), dtype=np.uint16)
    return np.concatenate([np.array(special, dtype=np.uint16), rand])


def main():
    so = sys.argv[1] if len(sys.argv) > 1 else ".cache/llama-cpp-bin/libggml-base.so"
    if not os.path.exists(so):
        sys.exit(f"make_ggml_kquant_fixtures: {so} not found (run scripts/fetch_llama_cpp.sh)")
    lib = load(so)
    rng = np.random.default_rng(20261201)
    t = {}
    for name, (tnum, qk, bsize) in TYPES.items():
        if qk == 1:
            bits = half_patterns(rng)
            out = np.zeros(len(bits), dtype=np.float32)
            fn = lib.ggml_fp16_to_fp32_row if name == "f16" else lib.ggml_bf16_to_fp32_row
            fn(ptr(bits), ptr(out), len(bits))
            blocks = bits.view(np.uint8)
        else:
            lib.ggml_quantize_init(tnum)
            plain, weighted, imat = rows_for(rng, name)
            blocks = np.concatenate([quantize(lib, tnum, plain), quantize(lib, tnum, weighted, imat),
                                     random_blocks(rng, name, 1 if qk == 256 else 4)])
            n = len(blocks) // bsize * qk
            out = np.zeros(n, dtype=np.float32)
            getattr(lib, f"dequantize_row_{name}")(ptr(blocks), ptr(out), n)
        t[name + ".blocks"] = ("U8", [len(blocks)], blocks.tobytes())
        t[name + ".out"] = ("F32", [len(out)], out.tobytes())
    path = "tests/fixtures/quant/ggml_kquants.safetensors"
    write_safetensors(path, t)
    print(f"wrote {path}: {len(t)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
