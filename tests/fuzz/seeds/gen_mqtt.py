#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_mqtt: byte 0 = prelude flags (1: MQTT 3.1.1
CONNECT first, 2: MQTT 5 CONNECT first, 4: a '#' subscriber watches), byte 1
= chunk size (0 = all at once), then MQTT packets."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_mqtt")


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(level, cid, will=None, props=b""):
    flags = 0x02 | (0x0C if will else 0)
    body = s("MQTT") + bytes([level, flags]) + struct.pack(">H", 30)
    if level == 5:
        body += varint(len(props)) + props
    body += s(cid)
    if will:
        if level == 5:
            body += b"\x00"
        body += s(will[0]) + s(will[1])
    return pkt(0x10, body)


def publish(level, qos, pid, topic, payload, props=b"", dup=False, retain=False):
    body = s(topic) + (struct.pack(">H", pid) if qos else b"")
    if level == 5:
        body += varint(len(props)) + props
    return pkt(0x30 | (8 if dup else 0) | qos << 1 | (1 if retain else 0), body + payload)


def ack(t, pid):
    return pkt(t << 4 | (2 if t == 6 else 0), struct.pack(">H", pid))


def subscribe(level, pid, flt, qos):
    body = struct.pack(">H", pid) + (b"\x00" if level == 5 else b"") + s(flt) + bytes([qos])
    return pkt(0x82, body)


user = b"\x26" + s("unit") + s("C")
seeds = {
    "v4-qos012": b"\x00\x00" + connect(4, "s1") + publish(4, 0, 0, "a/b", b"1")
    + publish(4, 1, 1, "a/b", b"2") + publish(4, 2, 2, "a/b", b"3")
    + publish(4, 2, 2, "a/b", b"3", dup=True) + ack(6, 2) + b"\xc0\x00" + b"\xe0\x00",
    "v5-props": b"\x00\x07" + connect(5, "s2", props=b"\x21\x00\x05\x27\x00\x01\x00\x00")
    + publish(5, 1, 1, "m/x", b"7", props=user) + publish(5, 0, 0, "m/y", b"8", props=b"\x01\x01")
    + b"\xe0\x02\x04\x00",
    "v5-will": b"\x04\x00" + connect(5, "s3", will=("dev/3/status", "gone")) + b"\xff\x00",
    "subscribe": b"\x01\x01" + subscribe(4, 1, "x/+/y", 1) + publish(4, 1, 9, "x/1/y", b"z")
    + pkt(0xA2, struct.pack(">H", 2) + s("x/+/y")),
    "subscriber-acks": b"\x06\x00" + subscribe(5, 1, "#", 2) + publish(5, 2, 3, "q", b"q")
    + ack(5, 1) + ack(7, 1) + ack(4, 2),
    # retained messages: set, replace, delete, then subscriptions with
    # Retain Handling 0/1/2 and Retain As Published
    "v5-retained": b"\x02\x00" + publish(5, 1, 1, "r/a", b"1", props=user, retain=True)
    + publish(5, 0, 0, "r/b", b"2", retain=True) + publish(5, 2, 2, "r/a", b"3", retain=True)
    + ack(6, 2) + publish(5, 1, 3, "r/b", b"", retain=True)
    + subscribe(5, 4, "r/#", 0x01) + subscribe(5, 5, "r/#", 0x11) + subscribe(5, 6, "r/+", 0x29)
    + ack(4, 1),
    "bad-level": b"\x00\x00" + pkt(0x10, s("MQTT") + b"\x03\x02\x00\x0a" + s("x")),
    "garbage": b"\x00\x03" + b"GET / HTTP/1.1\r\n\r\n",
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
