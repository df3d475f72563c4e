#!/usr/bin/python3
"""httpprobe.py - raw HTTP/1.1 over TLS against the web proxy, for the tests.

  httpprobe.py send CA ADDR:PORT SNI REQUEST
      Sends REQUEST (Python escapes: \\r \\n) on one TLS connection to
      ADDR:PORT with server name SNI, and prints the status code of each
      response until the proxy closes the connection (or 5 s pass), space-separated.
  httpprobe.py slow CA ADDR:PORT SNI SECONDS
      Sends a request head one byte a second for SECONDS (a slowloris), then
      prints the status the proxy answered, or "closed", and the seconds it took.
  httpprobe.py many CA ADDR:PORT SNI N
      Opens N TLS connections at once, then sends a GET /hello on each and
      prints how many were answered 200.
  httpprobe.py ws CA ADDR:PORT HOST COUNT
      Opens wss://HOST:PORT/ through the proxy (TCP to ADDR) and echoes
      COUNT messages of varied sizes; prints "echoed COUNT" when all came back intact.
"""
import re
import socket
import ssl
import sys
import time


def addr(where):
    host, _, port = where.rpartition(":")
    return host, int(port)


def connect(ca, where, sni):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    s = socket.create_connection(addr(where), timeout=5)
    return ctx.wrap_socket(s, server_hostname=sni)


def statuses(data):
    return [m.group(1).decode() for m in re.finditer(rb"HTTP/1\.[01] (\d{3})", data)]


def send(ca, where, sni, req, halfclose=False):
    s = connect(ca, where, sni)
    s.sendall(req.encode("latin-1").decode("unicode_escape").encode("latin-1"))
    if halfclose:
        # The plain socket's shutdown: SSLSocket's own would drop the TLS state.
        socket.socket.shutdown(s, socket.SHUT_WR)
    data, end = b"", time.time() + 5
    try:
        while time.time() < end:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ssl.SSLError, ConnectionError):
        pass
    print(" ".join(statuses(data)) or "closed")


def slow(ca, where, sni, seconds):
    s = connect(ca, where, sni)
    head = b"GET /hello HTTP/1.1\r\nHost: " + sni.encode() + b"\r\nX-Slow: " + b"a" * 200
    t0 = time.time()
    s.settimeout(1)
    got = b""
    for i in range(int(seconds)):
        try:
            s.sendall(head[i:i + 1])
        except (ssl.SSLError, ConnectionError, BrokenPipeError):
            break
        try:
            d = s.recv(65536)
            if not d:
                break
            got += d
            break
        except socket.timeout:
            continue
        except (ssl.SSLError, ConnectionError):
            break
    st = statuses(got)
    print("%s %.0f" % (st[0] if st else "closed", time.time() - t0))


def idle(ca, where, sni, seconds):
    s = connect(ca, where, sni)
    s.sendall(("GET /hello HTTP/1.1\r\nHost: %s\r\n\r\n" % sni).encode())
    got = b""
    while b"hello from the webbridge inside" not in got:
        d = s.recv(65536)
        if not d:
            break
        got += d
    t0 = time.time()
    s.settimeout(float(seconds))
    try:
        closed = not s.recv(65536)
    except socket.timeout:
        closed = False
    except (ssl.SSLError, ConnectionError):
        closed = True
    st = statuses(got)
    print("%s %s" % (st[0] if st else "none", "%.0f" % (time.time() - t0) if closed else "open"))


def many(ca, where, sni, n):
    conns = []
    for _ in range(int(n)):
        try:
            conns.append(connect(ca, where, sni))
        except (OSError, ssl.SSLError):
            pass
    served = 0
    for s in conns:
        try:
            s.sendall(("GET /hello HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % sni).encode())
            if statuses(s.recv(65536)) == ["200"]:
                served += 1
        except (OSError, ssl.SSLError):
            pass
    print(served)


def ws(ca, where, host, count):
    import asyncio
    import websockets

    async def run():
        ctx = ssl.create_default_context(cafile=ca)
        sock = socket.create_connection(addr(where))
        async with websockets.connect("wss://%s:%d/" % (host, addr(where)[1]), ssl=ctx, sock=sock,
                                      server_hostname=host, max_size=1 << 20) as c:
            for i in range(int(count)):
                msg = ("m%d-" % i) * (1 + i % 300)
                await c.send(msg)
                back = await c.recv()
                if back != msg:
                    print("mismatch at %d" % i)
                    return
            blob = bytes(range(256)) * 1024
            await c.send(blob)
            if await c.recv() != blob:
                print("binary mismatch")
                return
        print("echoed %s" % count)

    asyncio.run(run())


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "send":
        send(*sys.argv[2:6])
    elif cmd == "halfclose":
        send(*sys.argv[2:6], halfclose=True)
    elif cmd == "idle":
        idle(*sys.argv[2:6])
    elif cmd == "slow":
        slow(*sys.argv[2:6])
    elif cmd == "many":
        many(*sys.argv[2:6])
    elif cmd == "ws":
        ws(*sys.argv[2:6])
