#!/usr/bin/python3
"""webbackend.py - the webbridge stand-in behind the web proxy in tests.

  webbackend.py http PORT [CERT KEY]
                              HTTP/1.1 server (keep-alive) on 127.0.0.1:PORT;
                              HTTPS with the PEM chain CERT and key KEY (as a
                              meeting server's web bridge answers)
  webbackend.py ws PORT [CERT KEY]
                              WebSocket echo server on 127.0.0.1:PORT (wss: with
                              CERT and KEY)

HTTP paths:
  GET  /hello            a short text page
  GET  /headers          the request's header fields, one "name: value" a line
  GET  /empty            200 with Content-Length: 0
  GET  /peer             the address:port this request came from (which
                         connection carried it)
  GET  /bye              a short page, then the connection closes (no
                         "Connection: close": a keep-alive that ends at once)
  GET  /bytes?n=N        N bytes of a fixed pseudo-random stream (Content-Length)
  GET  /chunked?n=N      the same N bytes, chunked
  GET  /split            a short page whose head comes in two pieces, 0.2 s apart
  HEAD any of the above  the head only
  POST /upload           reads the body (Content-Length or chunked), answers its
                         length and SHA-256 as "LEN HEX"
The pseudo-random stream is sha256-counter blocks, so a client can check it
with `webbackend.py expect N` (prints the SHA-256 of the first N bytes).
"""
import hashlib
import time
import http.server
import socketserver
import sys


def stream(n):
    """Yields the first n bytes of the fixed stream, in 64 KiB pieces."""
    block, i, left = b"", 0, n
    while left > 0:
        out = bytearray()
        while len(out) < 65536 and len(out) < left:
            out += hashlib.sha256(i.to_bytes(8, "big")).digest() * 64
            i += 1
        out = bytes(out[:min(left, 65536)])
        left -= len(out)
        yield out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _n(self):
        q = self.path.partition("?")[2]
        for kv in q.split("&"):
            k, _, v = kv.partition("=")
            if k == "n":
                return int(v)
        return 0

    def _send(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.partition("?")[0]
        if path == "/hello":
            self._send(b"hello from the webbridge inside\n")
        elif path == "/empty":
            self._send(b"")
        elif path == "/peer":
            self._send(("%s:%d\n" % self.client_address[:2]).encode())
        elif path == "/bye":
            self._send(b"bye\n")
            self.close_connection = True
        elif path == "/split":
            body = b"hello from the webbridge inside\n"
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
            self.wfile.flush()
            time.sleep(0.2)
            self.wfile.write(b"ain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif path == "/headers":
            self._send("".join("%s: %s\n" % (k, v) for k, v in self.headers.items()).encode())
        elif path == "/bytes":
            n = self._n()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                for piece in stream(n):
                    self.wfile.write(piece)
        elif path == "/chunked":
            n = self._n()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for piece in stream(n):
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_error(404)

    do_HEAD = do_GET

    def do_POST(self):
        h, total = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    d = self.rfile.read(min(left, 65536))
                    h.update(d)
                    left -= len(d)
                total += size
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                d = self.rfile.read(min(left, 65536))
                if not d:
                    break
                h.update(d)
                total += len(d)
                left -= len(d)
        self._send(("%d %s\n" % (total, h.hexdigest())).encode())


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def tls_context():
    """The server TLS context for CERT KEY after the port, or None."""
    if len(sys.argv) < 5:
        return None
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    return ctx


def serve_ws(port):
    import asyncio
    import websockets

    async def echo(ws, path=None):
        async for msg in ws:
            await ws.send(msg)

    async def main():
        async with websockets.serve(echo, "127.0.0.1", port, max_size=1 << 20,
                                    ssl=tls_context()):
            await asyncio.Future()

    asyncio.run(main())


if __name__ == "__main__":
    if sys.argv[1] == "http":
        srv = Server(("127.0.0.1", int(sys.argv[2])), Handler)
        ctx = tls_context()
        if ctx:
            # The handshake runs in the connection's thread, on its first read.
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                         do_handshake_on_connect=False)
        srv.serve_forever()
    elif sys.argv[1] == "ws":
        serve_ws(int(sys.argv[2]))
    elif sys.argv[1] == "expect":
        h = hashlib.sha256()
        for piece in stream(int(sys.argv[2])):
            h.update(piece)
        print(h.hexdigest())
