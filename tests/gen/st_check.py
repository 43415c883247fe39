#!/usr/bin/env python3
"""Independent safetensors reader (python stdlib only) used once by hand to check files ctune
writes: python3 tests/gen/st_check.py FILE  -> prints name, dtype, shape and values."""
import json, struct, sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
assert n % 8 == 0 and data[8] == ord("{"), "header not padded/aligned"
header = json.loads(data[8:8 + n])
buf = data[8 + n:]
meta = header.pop("__metadata__", None)
print("metadata", meta)
pos = 0
for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, end = e["data_offsets"]
    assert b == pos, "gap before " + name
    count = 1
    for d in e["shape"]:
        count *= d
    assert end - b == count * SIZES[e["dtype"]], "size of " + name
    raw = buf[b:end]
    if e["dtype"] == "BF16":
        vals = [struct.unpack("<f", struct.pack("<I", h << 16))[0] for (h,) in struct.iter_unpack("<H", raw)]
    else:
        fmt = {"F32": "f", "F16": "e", "F64": "d", "I64": "q", "I32": "i"}[e["dtype"]]
        vals = [v for (v,) in struct.iter_unpack("<" + fmt, raw)]
    print(name, e["dtype"], e["shape"], vals)
    pos = end
assert pos == len(buf), "trailing bytes"
print("ok")
