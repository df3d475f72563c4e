#!/usr/bin/python3
"""tunnel_peer.py - both ends of byte-exact traffic through an SSH tunnel.

  tunnel_peer.py serve HOST PORT
      A TCP server standing in for the inside target. A connection starts
      with one command line:
        ECHO\\n          echoes every byte until EOF, then closes
        SINK [DELAY]\\n  waits DELAY seconds (0), reads to EOF (the client's
                        half-close), then answers "<bytes> <sha256>\\n", closes
        SOURCE N\\n      sends N pseudo-random bytes, then "\\n<sha256>\\n", closes
  tunnel_peer.py echo HOST PORT CONNS SIZE
      CONNS connections at once, each sends SIZE random bytes with ECHO,
      half-closes and checks that exactly those bytes came back.
  tunnel_peer.py sink HOST PORT MBYTES     upload, checksummed by the server
  tunnel_peer.py source HOST PORT MBYTES [DELAY]   download, checksummed here,
                                           read only after DELAY seconds
  tunnel_peer.py sink HOST PORT MBYTES [DELAY]     the server reads after DELAY
Clients print one line "ok ..." and exit 0, or "FAIL ..." and exit 1.
"""
import asyncio
import hashlib
import os
import sys

CHUNK = 256 * 1024


async def send_random(writer, total):
    """Writes total pseudo-random bytes; returns their sha256 hex digest."""
    h, left = hashlib.sha256(), total
    while left:
        data = os.urandom(min(CHUNK, left))
        h.update(data)
        left -= len(data)
        writer.write(data)
        await writer.drain()
    return h.hexdigest()


async def handle(reader, writer):
    try:
        cmd = (await reader.readline()).decode().split()
        if not cmd:
            return
        if cmd[0] == "ECHO":
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        elif cmd[0] == "SINK":
            await asyncio.sleep(float(cmd[1]) if len(cmd) > 1 else 0)
            h, n = hashlib.sha256(), 0
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                h.update(data)
                n += len(data)
            writer.write(f"{n} {h.hexdigest()}\n".encode())
        elif cmd[0] == "SOURCE":
            digest = await send_random(writer, int(cmd[1]))
            writer.write(f"\n{digest}\n".encode())
        await writer.drain()
    except (ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def serve(host, port):
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


async def one_echo(host, port, size):
    reader, writer = await asyncio.open_connection(host, port)
    payload = os.urandom(size)
    writer.write(b"ECHO\n" + payload)
    await writer.drain()
    writer.write_eof()
    got = await reader.read()
    writer.close()
    return got == payload


async def echo(host, port, conns, size):
    res = await asyncio.gather(*(one_echo(host, port, size) for _ in range(conns)),
                               return_exceptions=True)
    good = sum(1 for r in res if r is True)
    errors = sorted({repr(r) for r in res if r is not True})[:3]
    return good == conns, f"{good}/{conns} connections echoed {size} bytes intact {errors or ''}"


async def sink(host, port, total, delay):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"SINK {delay}\n".encode())
    digest = await send_random(writer, total)
    writer.write_eof()
    answer = (await reader.read()).decode().split()
    writer.close()
    want = [str(total), digest]
    return answer == want, f"uploaded {total} bytes, server saw {answer[:1]} (sha256 match: {answer == want})"


async def source(host, port, total, delay):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"SOURCE {total}\n".encode())
    await writer.drain()
    await asyncio.sleep(delay)
    data = await reader.read()
    writer.close()
    body, _, digest = data[:total], data[total:total + 1], data[total + 1:].strip()
    ok = len(data) > total and hashlib.sha256(body).hexdigest().encode() == digest
    return ok, f"downloaded {len(body)} bytes (sha256 match: {ok})"


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "serve":
        asyncio.run(serve(host, port))
        return 0
    if mode == "echo":
        ok, what = asyncio.run(echo(host, port, int(sys.argv[4]), int(sys.argv[5])))
    else:
        n = int(float(sys.argv[4]) * 1024 * 1024)
        delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0
        ok, what = asyncio.run((sink if mode == "sink" else source)(host, port, n, delay))
    print(("ok " if ok else "FAIL ") + what)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
