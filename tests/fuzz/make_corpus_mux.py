#!/usr/bin/env python3
"""make_corpus_mux.py - writes the seed corpus of tests/fuzz/fuzz_mux.c.

Run from the repository root: python3 tests/fuzz/make_corpus_mux.py
Writes tests/fuzz/corpus/fuzz_mux/seed-*; inputs found by fuzzing live next
to them and are left alone. A seed is one habits byte (see the harness),
then pieces: a length byte and that many bytes of link traffic (the harness
cuts pieces the same way, so the frames arrive split where the seed says)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_mux")
OPEN, DATA, FIN, RESET, WINDOW = 1, 2, 3, 4, 5


def frame(t, sid, payload=b""):
    return struct.pack(">BI", t, sid) + len(payload).to_bytes(3, "big") + payload


def pieces(stream, size=20):
    out = b""
    for i in range(0, len(stream), size):
        part = stream[i:i + size]
        out += bytes([(len(part) - 1) % 64]) + part
    return out


def seed(habits, stream, size=20):
    return bytes([habits]) + pieces(stream, size)


def main():
    os.makedirs(OUT, exist_ok=True)
    req = b"GET / HTTP/1.1\r\nHost: join.example.test\r\n\r\n"
    seeds = {
        # acceptor (the core's side): streams opened, data, ends, resets
        "open-data-fin": seed(2 | 4, frame(OPEN, 1) + frame(DATA, 1, req) + frame(FIN, 1)),
        "two-streams": seed(2, frame(OPEN, 1) + frame(OPEN, 2) + frame(DATA, 2, b"b" * 100) +
                            frame(DATA, 1, b"a" * 50) + frame(FIN, 2) + frame(RESET, 1, b"\0\0\0\1")),
        "refused": seed(1 | 2, frame(OPEN, 5) + frame(DATA, 5, b"x") + frame(OPEN, 6)),
        "release-in-data": seed(8 | 2, frame(OPEN, 1) + frame(DATA, 1, b"Rx") + frame(DATA, 1, b"y")),
        "window": seed(4 | 128, frame(OPEN, 1) + frame(DATA, 1, b"z" * 1000) +
                       frame(WINDOW, 1, struct.pack(">I", 4096))),
        "fin-release": seed(16, frame(OPEN, 1) + frame(FIN, 1) + frame(DATA, 1, b"late")),
        "big-data": seed(2, frame(OPEN, 1) + frame(DATA, 1, b"q" * 16384) + frame(DATA, 1, b"r" * 16384), 63),
        # services: the OPEN's service byte (web, xmpp, unknown: refused)
        "service-xmpp": seed(2 | 4, frame(OPEN, 1, b"\x01") + frame(DATA, 1, b"<stream:stream>") +
                             frame(OPEN, 2, b"\x00") + frame(FIN, 1), 5),
        "service-unknown": seed(2, frame(OPEN, 1, b"\x07") + frame(DATA, 1, b"x") +
                                frame(OPEN, 2, b"\x01") + frame(RESET, 2, b"\0\0\0\1")),
        "service-split": seed(2 | 16, frame(OPEN, 3, b"\x01") + frame(FIN, 3), 1),
        "service-too-long": seed(0, frame(OPEN, 1, b"\x01\x00")),
        # opener (the edge's side): answers for its streams 1..3
        "opener-answers": seed(32 | 2, frame(DATA, 1, b"HTTP/1.1 200 OK\r\n\r\n") + frame(FIN, 1) +
                               frame(WINDOW, 2, struct.pack(">I", 1)) + frame(RESET, 3, b"\0\0\0\2")),
        # broken ones: each must end in an error, nothing worse
        "bad-preface": bytes([64]) + pieces(b"SSH-2.0-OpenSSH\r\n"),
        "bad-type": seed(0, frame(9, 1)),
        "id-not-growing": seed(0, frame(OPEN, 3) + frame(OPEN, 2)),
        "data-unknown": seed(0, frame(DATA, 4, b"x")),
        "window-overflow": seed(0, frame(OPEN, 1) + frame(WINDOW, 1, b"\x7f\xff\xff\xff")),
        "opener-opened": seed(32, frame(OPEN, 9)),
        "truncated": seed(2, frame(OPEN, 1) + frame(DATA, 1, b"abc")[:6]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
