#!/usr/bin/env python3
"""Independent TensorBoard event-file encoder/reader (no tensorflow/tensorboard/protobuf).

  python3 tests/gen/tfevents_golden.py write   -> tests/fixtures/infra/golden.tfevents
  python3 tests/gen/tfevents_golden.py read F  -> prints every record of F, checking both CRCs

The golden file holds a fixed sequence (see EVENTS) the C test reproduces byte for byte with
ct_tfevents_* at the same wall times. Record framing and Event/Summary field numbers follow
tensorflow/core/util/event.proto, summary.proto and the TFRecord format.
"""
import struct
import sys

EVENTS = [  # (wall_time, step, tag, value); the first record is the file_version event
    (1700000000.5, None, None, None),
    (1700000001.25, 0, "train/loss", 3.5),
    (1700000002.0, 1, "train/loss", 2.25),
    (1700000002.0, 1, "train/learning_rate", 1e-4),
    (1700000003.75, 10, "eval/loss", 1.875),
    (1700000004.0, 300, "train/grad_norm", 0.3333333),
]


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(num, wire, payload):
    return varint(num << 3 | wire) + payload


def length_delimited(num, data):
    return field(num, 2, varint(len(data)) + data)


def event(wall, step, tag, value):
    out = field(1, 1, struct.pack("<d", wall))
    if tag is None:
        return out + length_delimited(3, b"brain.Event:2")
    if step:
        out += field(2, 0, varint(step))
    val = length_delimited(1, tag.encode()) + field(2, 5, struct.pack("<f", value))
    return out + length_delimited(5, length_delimited(1, val))


def record(data):
    n = struct.pack("<Q", len(data))
    return n + struct.pack("<I", masked(crc32c(n))) + data + struct.pack("<I", masked(crc32c(data)))


def read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def parse_fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        elif wire == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("bad wire type %d" % wire)
        out.append((num, wire, v))
    return out


def read(path):
    data = open(path, "rb").read()
    i, recs = 0, []
    while i < len(data):
        n_bytes = data[i:i + 8]
        (n,) = struct.unpack("<Q", n_bytes)
        (c1,) = struct.unpack("<I", data[i + 8:i + 12])
        assert c1 == masked(crc32c(n_bytes)), "length crc mismatch at %d" % i
        payload = data[i + 12:i + 12 + n]
        (c2,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        assert c2 == masked(crc32c(payload)), "data crc mismatch at %d" % i
        i += 16 + n
        ev = {"step": 0}
        for num, wire, v in parse_fields(payload):
            if num == 1:
                ev["wall_time"] = struct.unpack("<d", v)[0]
            elif num == 2:
                ev["step"] = v
            elif num == 3:
                ev["file_version"] = v.decode()
            elif num == 5:
                for snum, _, sv in parse_fields(v):
                    assert snum == 1
                    for vnum, _, vv in parse_fields(sv):
                        if vnum == 1:
                            ev["tag"] = vv.decode()
                        elif vnum == 2:
                            ev["simple_value"] = struct.unpack("<f", vv)[0]
        recs.append(ev)
    return recs


if __name__ == "__main__":
    if sys.argv[1] == "write":
        blob = b"".join(record(event(*e)) for e in EVENTS)
        open("tests/fixtures/infra/golden.tfevents", "wb").write(blob)
        print(len(blob), "bytes")
    else:
        for r in read(sys.argv[2]):
            print(r)
