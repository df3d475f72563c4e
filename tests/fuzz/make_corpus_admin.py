#!/usr/bin/env python3
"""make_corpus_admin.py - writes the seed corpus of tests/fuzz/fuzz_admin.c.

Run from the repository root: python3 tests/fuzz/make_corpus_admin.py
Writes tests/fuzz/corpus/fuzz_admin/seed-*; inputs found by fuzzing live next
to them and are left alone. A seed is one byte (the field the harness asks
the form parser for: 0 user, 1 password, 2 csrf, 3 args), then the text that
all three parsers read: as a form body, a Cookie header value and an
Authorization header value."""
import base64
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_admin")
USER, PASSWORD, CSRF, ARGS = 0, 1, 2, 3
TOKEN = b"0123456789abcdef" * 4


def seed(field, text):
    return bytes([field]) + text


def basic(raw):
    return b"Basic " + base64.b64encode(raw)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        # forms as browsers send them
        "login": seed(USER, b"user=alice&password=correct+horse+battery"),
        "login-escapes": seed(PASSWORD, b"user=alice&password=p%40ss%20w%C3%B6rd%21"),
        "logout": seed(CSRF, b"csrf=" + TOKEN),
        "action-args": seed(ARGS, b"csrf=" + TOKEN + b"&args=alice"),
        "empty-value": seed(USER, b"user=&password=x"),
        "name-only": seed(USER, b"user"),
        "empty-pieces": seed(USER, b"&&user=a&&"),
        "escaped-name": seed(USER, b"us%65r=bob"),
        "duplicate": seed(USER, b"user=a&user=b"),
        "duplicate-escaped": seed(USER, b"user=a&%75ser=b"),
        "bad-escape": seed(USER, b"user=%zz"),
        "short-escape": seed(USER, b"user=%4"),
        "trailing-percent": seed(USER, b"user=a%"),
        "nul-escape": seed(USER, b"user=a%00b"),
        "newline-escape": seed(PASSWORD, b"password=a%0d%0ab"),
        "bad-elsewhere": seed(USER, b"x=%g0&user=a"),
        "too-long": seed(USER, b"user=" + b"a" * 64),
        "fits": seed(USER, b"user=" + b"a" * 63),
        "many-fields": seed(USER, b"a=1&" * 40 + b"user=x"),
        # cookies
        "cookie": seed(USER, b"cw_session=" + TOKEN),
        "cookie-among": seed(USER, b"theme=dark; cw_session=" + TOKEN + b"; lang=en"),
        "cookie-quoted": seed(USER, b"cw_session=\"" + TOKEN + b"\""),
        "cookie-twice": seed(USER, b"cw_session=a; cw_session=b"),
        "cookie-bad-octet": seed(USER, b"cw_session=a\\b"),
        "cookie-long": seed(USER, b"cw_session=" + b"f" * 70),
        "cookie-prefix": seed(USER, b"xcw_session=1; cw_sessionx=2"),
        "cookie-semicolons": seed(USER, b";;; ; cw_session=;"),
        # Basic
        "basic": seed(USER, basic(b"alice:correct horse battery")),
        "basic-lower": seed(USER, b"basic " + base64.b64encode(b"alice:pw")),
        "basic-empty-password": seed(USER, basic(b"alice:")),
        "basic-colon-in-password": seed(USER, basic(b"alice:a:b")),
        "basic-no-colon": seed(USER, basic(b"alice")),
        "basic-no-user": seed(USER, basic(b":pw")),
        "basic-control": seed(USER, basic(b"a:b\nc")),
        "basic-unpadded": seed(USER, b"Basic YWxpY2U"),
        "basic-bad-char": seed(USER, b"Basic YWxp!2U6"),
        "basic-data-after-pad": seed(USER, b"Basic YQ=a"),
        "basic-pad-bits": seed(USER, b"Basic YR=="),
        "basic-long": seed(USER, basic(b"u" * 65 + b":p")),
        "basic-long-password": seed(USER, basic(b"u:" + b"p" * 300)),
        "bearer": seed(USER, b"Bearer abc.def"),
        "basic-only": seed(USER, b"Basic"),
        "basic-spaces": seed(USER, b"Basic    " + base64.b64encode(b"a:b") + b"   "),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
