#!/usr/bin/env python3
"""make_corpus_turn_server.py - writes seeds for tests/fuzz/fuzz_turn_server.c.

Each seed is one client-selector byte and one datagram. Authenticated seeds
use the harness's REST secret and zeroed nonce secret, so they reach the
Allocate, CreatePermission, ChannelBind, Refresh and data paths.
Run from the repository root."""
import base64
import hashlib
import hmac
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_corpus_stun import attr, msg, xaddr4  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_turn_server")
SECRET = b"fuzz-secret"
REALM = b"fuzz.example"
USER = b"4000000000:guest"


def nonce(port, exp=0xFFFFFFFF):
    m = struct.pack("!IB4sH", exp, 1, bytes([127, 0, 0, 1]), port)
    mac = hmac.new(b"\0" * 32, m, hashlib.sha256).digest()[:16]
    return (struct.pack("!I", exp).hex() + mac.hex()).encode()


def key():
    pw = base64.b64encode(hmac.new(SECRET, USER, hashlib.sha1).digest())
    return hashlib.md5(USER + b":" + REALM + b":" + pw).digest()


def authed(method, attrs, sel=0, tid=None):
    port = 5000 + sel
    tid = tid or bytes([method, sel] + list(range(10)))
    a = attrs + [(0x0006, USER), (0x0014, REALM), (0x0015, nonce(port))]
    return bytes([sel]) + msg(method, 0, a, mi=key(), fp=True, tid=tid)


def main():
    os.makedirs(OUT, exist_ok=True)
    udp = (0x0019, bytes([17, 0, 0, 0]))
    peer = xaddr4("127.0.0.1", 9)
    seeds = {
        "binding": bytes([0]) + msg(0x001, 0, []),
        "allocate-noauth": bytes([0]) + msg(0x003, 0, [udp]),
        "allocate": authed(0x003, [udp]),
        "allocate-even-port-r": authed(0x003, [udp, (0x0018, b"\x80")], sel=1),
        "allocate-tcp-transport": authed(0x003, [(0x0019, bytes([6, 0, 0, 0]))], sel=2),
        "allocate-v6": authed(0x003, [udp, (0x0017, bytes([2, 0, 0, 0]))], sel=3),
        "create-permission": authed(0x008, [(0x0012, peer)]),
        "channel-bind": authed(0x009, [(0x000C, struct.pack("!HH", 0x4001, 0)),
                                       (0x0012, peer)]),
        "refresh": authed(0x004, [(0x000D, struct.pack("!I", 1200))]),
        "refresh-zero": authed(0x004, [(0x000D, struct.pack("!I", 0))], sel=1),
        "send": bytes([0]) + msg(0x006, 1, [(0x0012, peer), (0x0013, b"hello")]),
        "channeldata": bytes([0, 0x40, 0x01, 0x00, 0x05]) + b"hello\0\0\0",
        "unknown-attr": authed(0x003, [udp, (0x0031, b"\0\0\0\0")]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
