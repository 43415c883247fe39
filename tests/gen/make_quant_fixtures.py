#!/usr/bin/python3
"""Builds the bitsandbytes quantization fixtures of tests/test_quant.c.

An independent numpy/torch reference of bitsandbytes' published CUDA algorithm (csrc/kernels.cu
kQuantizeBlockwise + dQuantizeNF4/dQuantizeFP4/dQuantize, functional.quantize_4bit with
compress_statistics, create_dynamic_map, Int8Params + int8_vectorwise_quant/dequant), written
from those semantics, NOT importing bitsandbytes (not installed) and not sharing code with the C:
  - NF4 code = number of bnb's tree pivots strictly below x (f32 literals rounded once, as a
    compiler does; a few are NOT the f32 midpoints of the table, see f32_literal), ties -> lower
    code, NaN -> 0;
  - FP4 code = sign (x < 0) | magnitude code of the number of bnb's |x| pivots strictly below |x|;
  - scaled value = x * f32(1 / absmax) (an all-zero block gives NaN);
  - double quant: offset = f32(sequential float64 sum / n), absmax - offset quantized in blocks of
    256 by dQuantize<0>'s binary search over create_dynamic_map(); nested absmax recovered as
    f32(f32(map[q] * nested_absmax) + offset).
Writes tests/fixtures/quant/cases.safetensors (inputs, packed codes, statistics, dequantized f32),
tests/fixtures/quant/bad_*.safetensors (malformed checkpoints) and tests/fixtures/tiny-llama-bnb-4bit/
(the tiny-llama model with its decoder linears in NF4 + double quant, saved the way transformers
saves a bnb-4bit model, with the float64 reference of the DEQUANTIZED model in reference.json).

Run from the repository root: /usr/bin/python3 tests/gen/make_quant_fixtures.py"""
import json
import os
import struct
import sys
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as mm  # noqa: E402  (tiny model weights + float64 reference forward)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
f32 = np.float32

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=f32)
# get_4bit_type("fp4"): bit patterns in index order; Python's -0 is the integer 0, so +0.0.
FP4 = (torch.tensor([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0, -0.0625, -8.0, -12.0, -4.0,
                     -6.0, -2.0, -3.0]) / 12.0).numpy().astype(f32)
def f32_literal(text):
    """A C float literal (`0.1f`): the decimal rounded ONCE to the nearest f32 (ties to even), as
    a C/CUDA compiler does. np.float32(float(text)) rounds twice (via f64) and differs for some of
    bnb's pivots, which sit almost exactly on f32 midpoints."""
    exact = Fraction(text)
    d = np.float32(float(text))
    cands = [np.nextafter(d, f32(-np.inf)), d, np.nextafter(d, f32(np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - exact),
                                     int(np.array(c, dtype=f32).view(np.uint32)) & 1))
    return f32(best)


NF4_MID = (NF4[:-1] + NF4[1:]) / f32(2)
# dQuantizeNF4's tree pivots (kernels.cu literals); the tree is a search over them, so the code is
# the number of pivots strictly below x (a value on a pivot takes the lower code, NaN -> 0).
NF4_PIVOTS = np.array([f32_literal(t) for t in (
    "-0.8480964004993439", "-0.6106329262256622", "-0.4599952697753906", "-0.33967943489551544",
    "-0.23460740596055984", "-0.13791173323988914", "-0.045525018125772476", "0.03979014977812767",
    "0.1202552504837513", "0.2035212516784668", "0.2920137718319893", "0.3893125355243683",
    "0.5016634166240692", "0.6427869200706482", "0.8614784181118011")], dtype=f32)
FP4_PIVOTS = np.array([f32_literal(t) for t in (
    "0.00260417", "0.0859375", "0.20833333", "0.29166667", "0.4166667", "0.583333", "0.8333333")],
    dtype=f32)
FP4_MAG_CODE = np.array([0, 1, 6, 7, 4, 5, 2, 3], dtype=np.uint8)  # by increasing magnitude


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), in torch as bnb."""
    data = []
    for i in range(7):
        items = 2 ** i + 1
        b = torch.linspace(0.1, 1, items, dtype=torch.float32)
        means = (b[:-1] + b[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0, 1.0]
    assert len(data) == 256
    return torch.tensor(sorted(data), dtype=torch.float32).numpy()


def code4(x, qtype):
    x = np.asarray(x, dtype=f32)
    if qtype == "nf4":
        return (NF4_PIVOTS[None, :] < x[:, None]).sum(1).astype(np.uint8)
    mag = (FP4_PIVOTS[None, :] < np.abs(x)[:, None]).sum(1)
    return (FP4_MAG_CODE[mag] + np.where(x < 0, 8, 0)).astype(np.uint8)


def scaled_blocks(x, bs):
    """Yields (block index, f32 absmax, f32 values * (1/absmax)) like kQuantizeBlockwise."""
    for b in range((len(x) + bs - 1) // bs):
        v = x[b * bs:(b + 1) * bs]
        am = f32(np.abs(v).max())
        with np.errstate(divide="ignore", invalid="ignore"):
            yield b, am, v * (f32(1) / am)


def dquantize8(x, code):
    """dQuantize<0>: binary search from pivot 127, then midpoint choice (ties keep the pivot)."""
    pivot, up, lo, lower, upper = 127, 255, 0, f32(-1), f32(1)
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lo, lower, pivot = pivot, val, pivot + i
        else:
            up, upper, pivot = pivot, val, pivot - i
        val = code[pivot]
        i //= 2
    if up == 255:
        upper = code[up]
    if lo == 0:
        lower = code[lo]
    if x > val:
        return up if x > (upper + val) * f32(0.5) else pivot
    return lo if x < (lower + val) * f32(0.5) else pivot


def quantize4(x, qtype, bs=64):
    x = np.asarray(x, dtype=f32).reshape(-1)
    codes = np.zeros(len(x) + (len(x) & 1), dtype=np.uint8)
    absmax = np.zeros((len(x) + bs - 1) // bs, dtype=f32)
    for b, am, s in scaled_blocks(x, bs):
        absmax[b] = am
        codes[b * bs:b * bs + len(s)] = code4(s, qtype)
    packed = (codes[0::2] << 4) | codes[1::2]
    table = NF4 if qtype == "nf4" else np.where(np.arange(16) == 8, f32(-0.0), FP4)
    return packed, absmax, table


def nest(absmax, code8):
    s = 0.0
    for v in absmax:
        s += float(v)
    offset = f32(s / len(absmax))
    centered = absmax - offset
    q = np.zeros(len(absmax), dtype=np.uint8)
    nabs = np.zeros((len(absmax) + 255) // 256, dtype=f32)
    for b, am, sc in scaled_blocks(centered, 256):
        nabs[b] = am
        q[b * 256:b * 256 + len(sc)] = [dquantize8(v, code8) for v in sc]
    return q, nabs, offset


def unnest(q, nabs, offset, code8):
    return (code8[q] * nabs[np.arange(len(q)) // 256]).astype(f32) + offset


def dequant4(packed, absmax, table, n, bs=64):
    codes = np.stack([packed >> 4, packed & 15], 1).reshape(-1)[:n]
    return (table[codes] * absmax[np.arange(n) // bs]).astype(f32)


def int8_rows(w):
    w = np.asarray(w, dtype=f32).astype(np.float16).astype(f32)
    scb = np.abs(w).max(1).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        cb = np.rint(w * (f32(127) / scb)[:, None])
    cb = np.nan_to_num(cb, nan=0.0).astype(np.int8)
    dq = (cb.astype(f32) * scb[:, None]).astype(f32) * f32(7.874015718698502e-3)
    return cb, scb, dq.astype(f32)


# ---------------------------------------------------------------- safetensors writer (mixed dtypes)
def st_write(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float32 / uint8 / int8) or ("BF16", uint16 array)."""
    names = {np.dtype(f32): "F32", np.dtype(np.uint8): "U8", np.dtype(np.int8): "I8"}
    header, blobs, off = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, tuple):
            dt, a = t
        else:
            dt, a = names[t.dtype], t
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16_round(x):
    return torch.from_numpy(np.asarray(x, dtype=f32)).to(torch.bfloat16)


# ---------------------------------------------------------------- kernel cases
def cases():
    g = np.random.default_rng(7)
    out = {}
    out["randn"] = g.standard_normal((64, 64)).astype(f32)
    out["odd"] = (g.standard_normal((7, 37)) * 0.02).astype(f32)  # 259: short odd last block
    z = g.standard_normal((16, 64)).astype(f32)
    z[2] = 0
    z[5, :] = -0.0
    out["zero_block"] = z
    tie = np.zeros(64, dtype=f32)
    vals = [1.0] + list(NF4_MID) + list(NF4_PIVOTS) + list(FP4_PIVOTS) + list(-FP4_PIVOTS)
    vals += [-0.0, 1e-30, -1e-30]
    vals += [np.nextafter(m, f32(2)) for m in NF4_PIVOTS[:6]]
    tie[:len(vals)] = vals
    out["ties"] = np.stack([tie, -tie, tie * f32(0.5)])
    o = g.standard_normal((4, 64)).astype(f32)
    o[1, 17] = 1e4
    out["outlier"] = o
    r = g.standard_normal((150, 128)).astype(f32) * np.exp(g.standard_normal((150, 1))).astype(f32)
    out["nested300"] = r  # 300 blocks: 2 nested blocks, the second short
    out["const"] = np.where(g.standard_normal((8, 64)) > 0, f32(1), f32(-1)).astype(f32)
    out["bf16"] = g.standard_normal((32, 64)).astype(f32)  # stored as BF16
    return out


def write_cases():
    code8 = dynamic_map()
    t = {"dynamic_map": code8, "nf4_code": NF4, "fp4_code": FP4}
    for name, x in cases().items():
        if name == "bf16":
            xb = bf16_round(x)
            t[name + ".input"] = ("BF16", xb.view(torch.int16).numpy().view(np.uint16))
            x = xb.float().numpy()
        else:
            t[name + ".input"] = x
        for qt in ("nf4", "fp4"):
            packed, absmax, table = quantize4(x, qt)
            p = f"{name}.{qt}."
            t[p + "packed"], t[p + "absmax"] = packed, absmax
            t[p + "dq"] = dequant4(packed, absmax, table, x.size)
            q, nabs, off = nest(absmax, code8)
            t[p + "qabsmax"], t[p + "nested_absmax"] = q, nabs
            t[p + "offset"] = np.array([off], dtype=f32)
            t[p + "dq_nested"] = dequant4(packed, unnest(q, nabs, off, code8), table, x.size)
        cb, scb, dq = int8_rows(x)
        t[name + ".int8.cb"], t[name + ".int8.scb"], t[name + ".int8.dq"] = cb, scb, dq
    d = os.path.join(ROOT, "quant")
    os.makedirs(d, exist_ok=True)
    st_write(os.path.join(d, "cases.safetensors"), t, {"format": "pt"})
    return code8


# ---------------------------------------------------------------- bnb-4bit checkpoints
def bnb4_tensors(name, w, code8, qtype="nf4", dtype="float32"):
    """What transformers saves for one Params4bit (double quant), + the dequantized f32 weight."""
    packed, absmax, table = quantize4(w, qtype)
    q, nabs, off = nest(absmax, code8)
    state = {"quant_type": qtype, "blocksize": 64, "dtype": dtype, "shape": list(w.shape),
             "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": float(off)}
    js = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    t = {name: packed.reshape(-1, 1), name + ".absmax": q, name + ".nested_absmax": nabs,
         name + ".quant_map": NF4 if qtype == "nf4" else FP4,
         name + ".nested_quant_map": code8, name + ".quant_state.bitsandbytes__" + qtype: js}
    return t, dequant4(packed, unnest(q, nabs, off, code8), table, w.size).reshape(w.shape)


QUANT_CONFIG = {"_load_in_4bit": True, "_load_in_8bit": False, "bnb_4bit_compute_dtype": "float32",
                "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "nf4",
                "bnb_4bit_use_double_quant": True, "llm_int8_enable_fp32_cpu_offload": False,
                "llm_int8_has_fp16_weight": False, "llm_int8_skip_modules": None,
                "llm_int8_threshold": 6.0, "load_in_4bit": True, "load_in_8bit": False,
                "quant_method": "bitsandbytes"}
LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def write_model(code8):
    cfg, seed = mm.MODELS["llama"]
    cfg = dict(cfg, torch_dtype="float32", quantization_config=QUANT_CONFIG)
    w = {k: mm.round_to(v, "F32") for k, v in mm.make_weights(cfg, seed).items()}
    out, deq = {}, dict(w)
    for k, v in w.items():
        if any(k.endswith(l + ".weight") for l in LINEARS) and k.startswith("model.layers."):
            t, dq = bnb4_tensors(k, v.numpy().astype(f32), code8)
            out.update(t)
            deq[k] = torch.from_numpy(dq.astype(np.float64))
        else:
            out[k] = v.numpy().astype(f32)
    d = os.path.join(ROOT, "tiny-llama-bnb-4bit")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    st_write(os.path.join(d, "model.safetensors"), out, {"format": "pt"})
    ids = [int(i) for i in np.random.default_rng(1234).integers(0, 128, mm.SEQ_LEN)]
    logits = mm.reference_logits(cfg, deq, ids)
    ref = {"generator": "tests/gen/make_quant_fixtures.py (float64 PyTorch reference of the "
                        "dequantized NF4 model)",
           "ids": ids, "loss": mm.mean_nll(logits, ids),
           "n_params": int(sum(v.numel() for v in w.values())),
           "logits": [[float("%.9g" % x) for x in row] for row in logits.tolist()]}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f)
    print("tiny-llama-bnb-4bit loss", ref["loss"])


def write_bad(code8):
    """One 4-bit weight "w.weight" [8, 64] per file, each broken in one way (plus a good one)."""
    w = np.random.default_rng(3).standard_normal((8, 64)).astype(f32)
    good, _ = bnb4_tensors("w.weight", w, code8)
    fp4, _ = bnb4_tensors("w.weight", w, code8, "fp4", "bfloat16")
    d = os.path.join(ROOT, "quant")
    st_write(os.path.join(d, "good.safetensors"), good)
    st_write(os.path.join(d, "good_fp4.safetensors"), fp4)
    # bnb_4bit_quant_storage=bfloat16 (LlamaFactory's setting): the same bytes viewed as bf16
    bf = dict(good)
    bf["w.weight"] = ("BF16", good["w.weight"].reshape(-1).view(np.uint16).reshape(-1, 1))
    st_write(os.path.join(d, "good_bf16_storage.safetensors"), bf)
    st_write(os.path.join(d, "bad_missing_absmax.safetensors"),
             {k: v for k, v in good.items() if k != "w.weight.absmax"})
    for tag, change in (("shape", {"shape": [64, 8]}), ("quant_type", {"quant_type": "nf5"}),
                        ("blocksize", {"blocksize": 48})):
        key = "w.weight.quant_state.bitsandbytes__nf4"
        state = dict(json.loads(bytes(good[key]).decode()), **change)
        bad = dict(good)
        bad[key] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
        st_write(os.path.join(d, f"bad_{tag}.safetensors"), bad)
    bad = dict(good)
    bad["w.weight.nested_absmax"] = good["w.weight.nested_absmax"][:0]
    st_write(os.path.join(d, "bad_nested_size.safetensors"), bad)


def main():
    code8 = write_cases()
    write_model(code8)
    write_bad(code8)


if __name__ == "__main__":
    main()
