#!/usr/bin/env python3
"""make_corpus_http.py - writes the seed corpus of tests/fuzz/fuzz_http.c.

Run from the repository root: python3 tests/fuzz/make_corpus_http.py
Writes tests/fuzz/corpus/fuzz_http/seed-*; inputs found by fuzzing live
next to them and are left alone. Each seed goes to the request and response
parsers and the chunked framer alike, so there are heads of both kinds,
chunked bodies alone, and requests followed by their chunked body."""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_http")


def req(line, *fields, body=b""):
    head = line.encode() + b"\r\n" + b"".join(f.encode("latin-1") + b"\r\n" for f in fields)
    return head + b"\r\n" + body


def chunked(*chunks, ext=b"", trailers=()):
    out = b""
    for c in chunks:
        out += b"%x" % len(c) + ext + b"\r\n" + c + b"\r\n"
    out += b"0" + ext + b"\r\n"
    for t in trailers:
        out += t + b"\r\n"
    return out + b"\r\n"


def main():
    body = chunked(b"hello", b" world", ext=b';name="va\\"l"', trailers=(b"X-Sum: 1",))
    seeds = {
        # requests the proxy takes
        "get": req("GET / HTTP/1.1", "Host: example.com", "User-Agent: curl/7.88",
                   "Accept: */*"),
        "get-1.0": req("GET /index.html HTTP/1.0", "Connection: keep-alive"),
        "get-close": req("GET /a?b=c HTTP/1.1", "Host: a:8080", "Connection: close"),
        "head": req("HEAD / HTTP/1.1", "Host: [2001:db8::1]:443"),
        "options-star": req("OPTIONS * HTTP/1.1", "Host: a"),
        "connect": req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
        "post-length": req("POST /form HTTP/1.1", "Host: a", "Content-Length: 5",
                           body=b"hello"),
        "post-chunked": req("POST /up HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                            body=body),
        "expect": req("PUT /f HTTP/1.1", "Host: a", "Expect: 100-continue",
                      "Content-Length: 3"),
        "websocket": req("GET /chat HTTP/1.1", "Host: a", "Connection: keep-alive, Upgrade",
                         "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                         "Sec-WebSocket-Version: 13"),
        "leading-crlf": b"\r\n\r\n" + req("GET / HTTP/1.1", "Host: a"),
        "pipelined": req("GET /1 HTTP/1.1", "Host: a") + req("GET /2 HTTP/1.1", "Host: a"),
        "ows-values": req("GET / HTTP/1.1", "Host: \t a \t", "X-Empty:", "X-Obs: caf\xe9"),
        "incomplete": b"GET / HTTP/1.1\r\nHost: a\r\nContent-Len",
        # requests it refuses
        "cl-te": req("POST / HTTP/1.1", "Host: a", "Content-Length: 5",
                     "Transfer-Encoding: chunked", body=body),
        "cl-twice": req("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 5"),
        "cl-list": req("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5"),
        "te-gzip": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked"),
        "te-1.0": req("POST / HTTP/1.0", "Transfer-Encoding: chunked", body=body),
        "te-space-colon": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding : chunked"),
        "obs-fold": req("GET / HTTP/1.1", "Host: a", "X: 1", " folded"),
        "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
        "bare-cr": b"GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n",
        "nul-value": req("GET / HTTP/1.1", "Host: a", "X: a\0b"),
        "two-hosts": req("GET / HTTP/1.1", "Host: a", "Host: b"),
        "host-userinfo": req("GET / HTTP/1.1", "Host: user@a"),
        "no-host": req("GET / HTTP/1.1"),
        "http2": req("GET / HTTP/2.0", "Host: a"),
        "absolute-form": req("GET http://a/ HTTP/1.1", "Host: a"),
        "two-spaces": req("GET  / HTTP/1.1", "Host: a"),
        "long-line": req("GET /" + "a" * 300 + " HTTP/1.1", "Host: a"),
        "many-fields": req("GET / HTTP/1.1", "Host: a", *["X-%d: %d" % (i, i) for i in range(12)]),
        "tls-hello": bytes.fromhex("160301002f0100002b0303") + bytes(32),
        # responses
        "resp-200": req("HTTP/1.1 200 OK", "Content-Length: 5", body=b"hello"),
        "resp-chunked": req("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=body),
        "resp-gzip-chunked": req("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"),
        "resp-cl-te": req("HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked"),
        "resp-close": req("HTTP/1.0 200 OK", "Server: x"),
        "resp-204": req("HTTP/1.1 204 No Content"),
        "resp-304": req("HTTP/1.1 304 Not Modified", "Content-Length: 42"),
        "resp-100": req("HTTP/1.1 100 Continue") + req("HTTP/1.1 200 OK", "Content-Length: 0"),
        "resp-101": req("HTTP/1.1 101 Switching Protocols", "Connection: Upgrade",
                        "Upgrade: websocket"),
        "resp-no-reason": b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
        "resp-bad-status": req("HTTP/1.1 099 Low"),
        # chunked bodies alone
        "chunked-simple": chunked(b"hello"),
        "chunked-ext": body,
        "chunked-bws": b"5 ; a = b ;c\r\nhello\r\n0\t;x=\"\"\r\n\r\n",
        "chunked-then-next": chunked(b"abc") + req("GET / HTTP/1.1", "Host: a"),
        "chunked-big-size": b"3FFFFFFFFFFFFFFF\r\nabc",
        "chunked-overflow": b"4000000000000001\r\n",
        "chunked-no-crlf": b"5\r\nhelloX\r\n0\r\n\r\n",
        "chunked-bare-lf": b"5\nhello\n0\n\n",
    }
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
