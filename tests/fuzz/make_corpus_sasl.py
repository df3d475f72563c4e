#!/usr/bin/env python3
"""make_corpus_sasl.py - writes the seed corpus of tests/fuzz/fuzz_sasl.c.

Run from the repository root: python3 tests/fuzz/make_corpus_sasl.py
Writes tests/fuzz/corpus/fuzz_sasl/seed-*; inputs found by fuzzing live next
to them and are left alone. A seed is one byte (mechanism: 0 SCRAM-SHA-256,
1 SCRAM-SHA-1, 2 PLAIN; 0x80: random server nonce), then the client's
messages separated by 0xff. The harness's user is "user" with password
"pencil" and the RFC 5802 / RFC 7677 salts; its server nonce is the RFCs',
so the proofs computed here are the ones the server accepts."""
import base64
import hashlib
import hmac
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_sasl")
SHA256, SHA1, PLAIN = 0, 1, 2
SEP = b"\xff"
HASH = {SHA1: "sha1", SHA256: "sha256"}
SALT = {SHA1: "QSXCR+Q6sek8bf92", SHA256: "W22ZaJ0SNY7soEsUEjb6gQ=="}
SNONCE = {SHA1: b"3rfcNHYJY1ZVvWVs7j", SHA256: b"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"}
CNONCE = {SHA1: b"fyko+d2lbbFgONRv9qkxdawL", SHA256: b"rOprNGfwEbeRWgbNEkqO"}
REC = {
    SHA1: "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
    SHA256: "SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
}


def b64(b):
    return base64.b64encode(b)


def scram(m, password=b"pencil", gs2=b"n,,", user=b"user", cnonce=None, ext=b"", fext=b""):
    """client-first and client-final (with a valid proof for password)."""
    h = HASH[m]
    cnonce = cnonce or CNONCE[m]
    bare = b"n=" + user + b",r=" + cnonce + ext
    nonce = cnonce + SNONCE[m]
    server_first = b"r=" + nonce + b",s=" + SALT[m].encode() + b",i=4096"
    without = b"c=" + b64(gs2) + b",r=" + nonce + fext
    salted = hashlib.pbkdf2_hmac(h, password, base64.b64decode(SALT[m]), 4096)
    ckey = hmac.new(salted, b"Client Key", h).digest()
    stored = hashlib.new(h, ckey).digest()
    am = bare + b"," + server_first + b"," + without
    sig = hmac.new(stored, am, h).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    return gs2 + bare, without + b",p=" + b64(proof)


def seed(m, *msgs):
    return bytes([m]) + SEP.join(msgs)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for m, tag in ((SHA1, "sha1"), (SHA256, "sha256")):
        first, final = scram(m)
        seeds[tag + "-rfc"] = seed(m, first, final)
        seeds[tag + "-empty-initial"] = seed(m, b"", first, final)
        seeds[tag + "-after-end"] = seed(m, first, final, final)
        seeds[tag + "-random-nonce"] = seed(m | 0x80, first, final)
        seeds[tag + "-wrong-password"] = seed(m, *scram(m, password=b"pencil2"))
        seeds[tag + "-unknown-user"] = seed(m, *scram(m, user=b"romeo"))
    first, final = scram(SHA256)
    seeds.update({
        "y-flag-authzid": seed(SHA256, *scram(SHA256, gs2=b"y,a=user,")),
        "extensions": seed(SHA256, *scram(SHA256, ext=b",x=1,Q=two", fext=b",z=3")),
        # client-first refusals
        "p-flag": seed(SHA256, b"p=tls-unique,,n=user,r=abc"),
        "authzid-other": seed(SHA256, b"n,a=admin,n=user,r=abc"),
        "authzid-empty": seed(SHA256, b"n,a=,n=user,r=abc"),
        "gs2-short": seed(SHA256, b"n,"),
        "gs2-bad-flag": seed(SHA256, b"x,,n=user,r=abc"),
        "mandatory-ext": seed(SHA256, b"n,,m=ext,n=user,r=abc"),
        "no-username": seed(SHA256, b"n,,r=abc"),
        "no-nonce": seed(SHA256, b"n,,n=user"),
        "empty-nonce": seed(SHA256, b"n,,n=user,r="),
        "bad-nonce-char": seed(SHA256, b"n,,n=user,r=a\x7fb"),
        "bad-extension": seed(SHA256, b"n,,n=user,r=abc,1=x"),
        "trailing-comma": seed(SHA256, b"n,,n=user,r=abc,"),
        "escaped-username": seed(SHA256, b"n,,n=us=2Cer,r=abc"),
        "nul-byte": seed(SHA256, b"n,,n=user\0,r=abc"),
        "oversized": seed(SHA256, b"n,,n=user,r=" + b"x" * 4085),
        "largest": seed(SHA256, b"n,,n=user,r=" + b"x" * 4084),
        "twice-empty": seed(SHA1, b"", b""),
        # client-final refusals
        "nonce-tampered": seed(SHA256, first, final.replace(b"k0,", b"k1,")),
        "nonce-client-only": seed(SHA256, first, b"c=biws,r=" + CNONCE[SHA256] + final[final.index(b",p="):]),
        "cbind-mismatch": seed(SHA256, first, final.replace(b"c=biws", b"c=eSws")),
        "cbind-bad-b64": seed(SHA256, first, final.replace(b"c=biws", b"c=bi!s")),
        "proof-bad-b64": seed(SHA256, first, final[:-1]),
        "proof-short": seed(SHA256, first, final[:final.index(b",p=")] + b",p=AAAA"),
        "proof-not-last": seed(SHA256, first, final + b",x=1"),
        "proof-missing": seed(SHA256, first, final[:final.index(b",p=")]),
        "final-no-c": seed(SHA256, first, final[final.index(b"r="):]),
        # PLAIN
        "plain-ok": seed(PLAIN, b"\0user\0pencil"),
        "plain-authzid-same": seed(PLAIN, b"user\0user\0pencil"),
        "plain-authzid-other": seed(PLAIN, b"admin\0user\0pencil"),
        "plain-wrong": seed(PLAIN, b"\0user\0pencil!"),
        "plain-unknown": seed(PLAIN, b"\0romeo\0pencil"),
        "plain-empty-initial": seed(PLAIN, b"", b"\0user\0pencil"),
        "plain-one-nul": seed(PLAIN, b"\0userpencil"),
        "plain-three-nul": seed(PLAIN, b"\0user\0pen\0cil"),
        "plain-no-password": seed(PLAIN, b"\0user\0"),
        # what the rest is read as besides: base64 and credential records
        "b64-foobar": seed(PLAIN, b"Zm9vYmFy"),
        "b64-pad1": seed(PLAIN, b"Zm9vYmE="),
        "b64-pad2": seed(PLAIN, b"Zm9vYg=="),
        "b64-equals": seed(PLAIN, b"="),
        "b64-bad-bits": seed(PLAIN, b"Zh=="),
        "cred-sha1": seed(PLAIN, REC[SHA1].encode()),
        "cred-sha256": seed(PLAIN, REC[SHA256].encode()),
        "cred-iter-low": seed(PLAIN, REC[SHA1].replace(":4096:", ":4095:").encode()),
        "cred-key-len": seed(PLAIN, REC[SHA1].replace("SCRAM-SHA-1", "SCRAM-SHA-256").encode()),
        "cred-six-fields": seed(PLAIN, (REC[SHA1] + ":x").encode()),
    })
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
