#!/usr/bin/env python3
"""make_corpus_stun.py - writes the seed corpus of tests/fuzz/fuzz_stun.c.

Run from the repository root: python3 tests/fuzz/make_corpus_stun.py
Writes tests/fuzz/corpus/fuzz_stun/seed-*; inputs found by fuzzing live
next to them and are left alone."""
import hashlib
import hmac
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_stun")
COOKIE = 0x2112A442
TID = bytes(range(1, 13))

RFC5769 = {
    "rfc5769-2.1-request": """
        00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
        00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36
        00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
        00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
        80 28 00 04 e5 7a 3b cf""",
    "rfc5769-2.2-ipv4": """
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96""",
    "rfc5769-2.3-ipv6": """
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c""",
    "rfc5769-2.4-long-term": """
        00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
        00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
        00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46
        53 54 76 79 36 34 73 41
        00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
        00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66""",
}


def msg_type(method, cls):
    return ((method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2)
            | ((cls & 1) << 4) | ((cls & 2) << 7))


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def header(method, cls, body_len, tid=TID):
    return struct.pack("!HHI", msg_type(method, cls), body_len, COOKIE) + tid


def msg(method, cls, attrs, mi=None, mi256=None, fp=False, tid=TID):
    body = b"".join(attr(t, v) for t, v in attrs)
    for key, t, digest in ((mi, 0x0008, hashlib.sha1), (mi256, 0x001C, hashlib.sha256)):
        if key is not None:
            size = digest().digest_size
            mac = hmac.new(key, header(method, cls, len(body) + 4 + size, tid) + body,
                           digest).digest()
            body += attr(t, mac)
    if fp:
        crc = zlib.crc32(header(method, cls, len(body) + 8, tid) + body) ^ 0x5354554E
        body += attr(0x8028, struct.pack("!I", crc))
    return header(method, cls, len(body), tid) + body


def xaddr4(ip, port):
    a = bytes(int(x) for x in ip.split("."))
    x = bytes(b ^ c for b, c in zip(a, struct.pack("!I", COOKIE)))
    return struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + x


def xaddr6(a16, port, tid=TID):
    mask = struct.pack("!I", COOKIE) + tid
    return struct.pack("!BBH", 0, 2, port ^ (COOKIE >> 16)) + bytes(
        b ^ c for b, c in zip(a16, mask))


def channeldata(ch, data, pad=True):
    return struct.pack("!HH", ch, len(data)) + data + (b"\0" * (-len(data) % 4) if pad else b"")


def main():
    key = hashlib.md5(b"alice:example.org:secret").digest()
    peer6 = bytes.fromhex("20010db8000000000000000000000001")
    u32 = lambda v: struct.pack("!I", v)
    seeds = {name: bytes.fromhex(" ".join(h.split())) for name, h in RFC5769.items()}
    seeds.update({
        "binding-empty": msg(0x001, 0, []),
        "allocate-noauth": msg(0x003, 0, [(0x0019, u32(0x11000000)), (0x000D, u32(600)),
                                          (0x8022, b"causeway test")], fp=True),
        "allocate-auth": msg(0x003, 0, [(0x0019, u32(0x11000000)), (0x0006, b"alice"),
                                        (0x0014, b"example.org"), (0x0015, b"nonce-0123")],
                             mi=key, fp=True),
        "allocate-401": msg(0x003, 3, [(0x0009, b"\0\0\x04\x01Unauthorized"),
                                       (0x0014, b"example.org"), (0x0015, b"nonce-0123"),
                                       (0x001D, b"\0\x02\0\0")], fp=True),
        "allocate-success": msg(0x003, 2, [(0x0016, xaddr4("198.51.100.7", 49152)),
                                           (0x0020, xaddr4("203.0.113.9", 5000)),
                                           (0x000D, u32(600))], mi=key, fp=True),
        "allocate-420": msg(0x003, 3, [(0x0009, b"\0\0\x04\x14Unknown Attribute"),
                                       (0x000A, b"\x00\x42\x7f\xf0")]),
        "refresh-zero": msg(0x004, 0, [(0x000D, u32(0))], mi=key),
        "create-permission-v6": msg(0x008, 0, [(0x0012, xaddr6(peer6, 1234))], mi=key),
        "channel-bind": msg(0x009, 0, [(0x000C, b"\x40\x01\0\0"),
                                       (0x0012, xaddr4("192.0.2.50", 40000))], mi=key),
        "send-indication": msg(0x006, 1, [(0x0012, xaddr4("192.0.2.50", 40000)),
                                          (0x0013, b"hello peer")]),
        "data-indication-v6": msg(0x007, 1, [(0x0012, xaddr6(peer6, 9)), (0x0013, b"\xff" * 7)]),
        "mi-sha256": msg(0x003, 0, [(0x0006, b"alice"), (0x001D, b"\0\x02\0\0")],
                         mi=key, mi256=key, fp=True),
        "unknown-required": msg(0x001, 0, [(0x0042, b"x"), (0x8042, b"y"), (0x7FFF, b"")]),
        "too-many-attrs": msg(0x001, 0, [(0x8022, b"")] * 41),
        "channeldata-empty": channeldata(0x4000, b""),
        "channeldata-padded": channeldata(0x4001, b"hello"),
        "channeldata-unpadded": channeldata(0x4FFF, b"hello", pad=False),
        "channeldata-0x5000": channeldata(0x5000, b"abcd"),  # RFC 8656 reserved, RFC 5766 valid
        "channeldata-0x3fff": channeldata(0x3FFF, b"abcd"),
        "channeldata-short": b"\x40\x01\x00",
        "stream-two-frames": channeldata(0x4002, b"abc") + msg(0x004, 0, [(0x000D, u32(0))]),
        "garbage-http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "garbage-tls": bytes.fromhex("160301002f0100002b0303") + bytes(32),
        "garbage-zeros": bytes(24),
    })
    # Hand-broken variants of good messages.
    after = msg(0x001, 0, [], fp=True)
    seeds["attr-after-fp"] = (after[:2] + struct.pack("!H", len(after) - 20 + 8) + after[4:]
                              + attr(0x8022, b"late"))
    bad = bytearray(seeds["rfc5769-2.1-request"])
    bad[-1] ^= 1
    seeds["bad-fingerprint"] = bytes(bad)
    over = bytearray(seeds["allocate-noauth"])
    over[22:24] = b"\x00\x40"
    seeds["attr-overrun"] = bytes(over)
    seeds["rfc5769-2.1-cut19"] = seeds["rfc5769-2.1-request"][:19]
    seeds["rfc5769-2.1-cut50"] = seeds["rfc5769-2.1-request"][:50]
    seeds["rfc5769-2.4-cut-mi"] = seeds["rfc5769-2.4-long-term"][:-10]

    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
