#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_kapi_data: one well-formed request body per
API and version (byte 0 = API index, byte 1 = version offset, then the body),
including a Produce with a valid RecordBatch v2 for topic "t"."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_kapi_data")

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def varint(n):
    return uvarint((n << 1) ^ (n >> 63))


def s(x, flex):
    if x is None:
        return uvarint(0) if flex else struct.pack(">h", -1)
    x = x.encode()
    return (uvarint(len(x) + 1) if flex else struct.pack(">h", len(x))) + x


def b(x, flex):
    return (uvarint(len(x) + 1) if flex else struct.pack(">i", len(x))) + x


def arr(n, flex):
    return uvarint(n + 1) if flex else struct.pack(">i", n)


def tags(flex):
    return b"\x00" if flex else b""


def batch(n, pid=-1, epoch=-1, seq=-1):
    recs = b""
    for i in range(n):
        body = b"\x00" + varint(i) + varint(i) + varint(1) + b"k" + varint(2) + b"v%d" % (i % 10) + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, 1000, 1000 + n - 1, pid, epoch, seq, n) + recs
    head = struct.pack(">qii", 0, 4 + 1 + 4 + len(after_crc), -1) + b"\x02"
    return head + struct.pack(">I", crc32c(after_crc)) + after_crc


def produce(v, acks, rec):
    flex = v >= 9
    out = s(None, flex) if v >= 3 else b""
    out += struct.pack(">hi", acks, 1000) + arr(1, flex) + s("t", flex) + arr(1, flex)
    out += struct.pack(">i", 0) + b(rec, flex) + tags(flex) + tags(flex) + tags(flex)
    return out


def fetch(v):
    flex = v >= 12
    out = struct.pack(">i", -1) if v <= 14 else b""
    out += struct.pack(">iiib", 0, 1, 1 << 20, 0)
    if v >= 7:
        out += struct.pack(">ii", 0, -1)
    out += arr(1, flex) + (b"\x00" * 16 if v >= 13 else s("t", flex)) + arr(1, flex)
    out += struct.pack(">i", 0)
    if v >= 9:
        out += struct.pack(">i", -1)
    out += struct.pack(">q", 0)
    if v >= 12:
        out += struct.pack(">i", -1)
    if v >= 5:
        out += struct.pack(">q", -1)
    out += struct.pack(">i", 1 << 20) + tags(flex) + tags(flex)
    if v >= 7:
        out += arr(0, flex)
    if v >= 11:
        out += s("", flex)
    return out + tags(flex)


def list_offsets(v, ts):
    flex = v >= 6
    out = struct.pack(">i", -1) + (b"\x00" if v >= 2 else b"")
    out += arr(1, flex) + s("t", flex) + arr(1, flex) + struct.pack(">i", 0)
    if v >= 4:
        out += struct.pack(">i", -1)
    out += struct.pack(">q", ts) + (struct.pack(">i", 1) if v == 0 else b"")
    return out + tags(flex) + tags(flex) + tags(flex)


def init_pid(v, txn):
    flex = v >= 2
    out = s(txn, flex) + struct.pack(">i", 1000)
    if v >= 3:
        out += struct.pack(">qh", -1, -1)
    return out + tags(flex)


def ofle(v, epoch):
    flex = v >= 4
    out = struct.pack(">i", -1) if v >= 3 else b""
    out += arr(1, flex) + s("t", flex) + arr(1, flex) + struct.pack(">i", 0)
    if v >= 2:
        out += struct.pack(">i", -1)
    out += struct.pack(">i", epoch)
    return out + tags(flex) + tags(flex) + tags(flex)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for v in range(0, 12):
        seeds[f"produce-v{v}"] = bytes([0, v]) + produce(v, 1, batch(3))
    seeds["produce-v11-acks-all-idempotent"] = bytes([0, 11]) + produce(11, -1, batch(2, 7, 0, 0))
    seeds["produce-v7-acks0"] = bytes([0, 7]) + produce(7, 0, batch(1))
    for v in range(4, 18):
        seeds[f"fetch-v{v}"] = bytes([1, v - 4]) + fetch(v)
    for v in range(0, 8):
        for ts in (-1, -2, -3, 1001):
            seeds[f"list-offsets-v{v}-{ts}"] = bytes([2, v]) + list_offsets(v, ts)
    for v in range(0, 6):
        seeds[f"init-pid-v{v}"] = bytes([3, v]) + init_pid(v, None)
    seeds["init-pid-v4-txn"] = bytes([3, 4]) + init_pid(4, "txn")
    for v in range(0, 5):
        seeds[f"ofle-v{v}"] = bytes([4, v]) + ofle(v, 0)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
