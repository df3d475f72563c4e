#!/usr/bin/python3
"""webbridge.py - a meeting server's webbridge stand-in for the WebRTC tests.

One asyncio process (stdlib + Debian's python3-websockets 10.4, so run it with
/usr/bin/python3) that serves the test meeting pages, hands out TURN REST
credentials and relays the signalling between a guest's browser and the call
bridge's browser.

  webbridge.py [--http ADDR:PORT]... [--https ADDR:PORT --cert PEM --key KEY]...
               [--turn-secret-file FILE] [--guest-turn URL]... [--bridge-turn URL]...
               [--turn-ttl SECONDS] [--www DIR] [--verbose]

  --http ADDR:PORT      plain HTTP/1.1 listener: what the edge's web proxy
                        reaches through the core's SSH tunnel
  --https ADDR:PORT     HTTPS listener (for the inside browsers), with --cert
                        (PEM chain) and --key. Both options repeat; at least
                        one listener. All listeners share the rooms.
  --turn-secret-file    the TURN REST secret, as the edge's rest-secret-file:
                        the bytes as written, trailing CR/LF removed. Read at
                        every /api/turn request.
  --guest-turn URL      TURN URL handed to guests, e.g.
                        turn:203.0.113.10:3478?transport=udp (repeatable)
  --bridge-turn URL     TURN URL handed to the call bridge (repeatable;
                        without any, the bridge gets the guests' URLs)
  --turn-ttl SECONDS    lifetime of the credentials (default 3600)
  --www DIR             the pages (default: webbridge/ next to this file)
  --verbose             also log every signalling message's type, and the
                        X-Forwarded-For of requests (off by default, so that
                        a test can check the guest's address is not in the log)

HTTP (GET unless said; answers close the connection):
  /  /guest.html        the guest's page; its title is "Causeway test meeting"
  /bridge.html          the call bridge's page
  /common.js            the pages' shared code
  /healthz              200 "ok"
  /favicon.ico          204 (keeps browsers' favicon requests out of the 404s)
  /api/turn?role=guest|bridge[&name=N][&ttl=S]
                        {"username": "<unix expiry>:<name>", "credential":
                        base64(HMAC-SHA1(secret, username)), "urls": [...],
                        "ttl": S}; name defaults to the role
  POST /api/result?role=R&room=X[&guest=ID]
                        a page's result (JSON body): kept in memory and
                        logged as one "result ..." line
  /api/result?role=R&room=X   the latest result stored for that room and role
  /api/rooms            who is connected, per room (JSON)
  /ws?room=R&role=guest|bridge   the signalling WebSocket

Signalling. Messages are JSON objects. The server gives each guest socket an
id (g1, g2, ... across the process) and sends it first {"type": "hello",
"role": "guest", "guest": ID, "room": R}; a bridge gets {"type": "hello",
"role": "bridge", "room": R, "guests": [IDs]}. Every text message from a
guest goes to the room's bridge with "guest": ID added; a bridge message goes
to the guest its "guest" field names, or to every guest of the room when it
has none. Messages for a bridge that has not connected yet are queued (in
order, and dropped if their guest leaves first), as are messages without a
"guest" field for a room that has no guest yet, so the order in which the two
browsers arrive does not matter. When a guest's socket closes the bridge gets
{"type": "bye", "guest": ID}, and when the bridge's closes the guests get
{"type": "bye", "role": "bridge"}. One bridge per room (a second one replaces
the first, which is closed with code 4000) and any number of guests, one after
another or at once: bridge.html keeps one RTCPeerConnection per guest id, so a
guest may join again, in the same room, after the tunnel was cut and restored.

Log lines (stderr, one per HTTP request and two per WebSocket; CLIENT is the
TCP peer: the core's address when the request came through the tunnel):
  TIME http|https CLIENT "METHOD PATH" STATUS BYTES [xff=...]
  TIME http|https CLIENT ws-open room=R role=guest guest=g1 [xff=...]
  TIME http|https CLIENT ws-close room=R role=guest guest=g1 in=N out=N secs=S code=C [xff=...]
  TIME result room=R role=guest guest=g1 client=CLIENT {json}
  TIME msg room=R guest:g1 -> bridge|queue TYPE   (--verbose)
SIGTERM or SIGINT closes the listeners and the sockets, then exits 0.

POST bodies: websockets' own request reader takes only GET, so read_http_request
is replaced by one that also takes POST and HEAD (Content-Length bodies only).
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import http
import json
import os
import re
import signal
import ssl
import sys
import time
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.legacy.http import read_headers, read_line
from websockets.legacy.server import WebSocketServerProtocol

MAX_BODY = 256 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
ROOM_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PAGES = {
    "/": ("guest.html", "text/html; charset=utf-8"),
    "/guest.html": ("guest.html", "text/html; charset=utf-8"),
    "/bridge.html": ("bridge.html", "text/html; charset=utf-8"),
    "/common.js": ("common.js", "text/javascript; charset=utf-8"),
}


def log(*parts):
    t = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + ".%03d" % (t * 1000 % 1000)
    print(stamp, *parts, file=sys.stderr, flush=True)


def addr_str(a):
    if not a:
        return "-"
    host, port = a[0], a[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def parse_addr(s):
    """ADDR:PORT or [V6]:PORT -> (host, port); argparse type."""
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("%r is not ADDR:PORT" % s)
    return host.strip("[]") or "0.0.0.0", int(port)


class Room:
    def __init__(self, name):
        self.name = name
        self.bridge = None      # the bridge's Peer
        self.guests = {}        # guest id -> Peer
        self.to_bridge = []     # (guest id, text) for a bridge not connected yet
        self.to_guests = []     # texts without a "guest" for the next guest

    def idle(self):
        return not self.bridge and not self.guests and not self.to_bridge and not self.to_guests


class Peer:
    def __init__(self, ws, room, role, gid):
        self.ws, self.room, self.role, self.gid = ws, room, role, gid
        self.n_in = self.n_out = 0

    async def send(self, text):
        try:
            await self.ws.send(text)
            self.n_out += 1
        except ConnectionClosed:
            pass


class Bridge:
    """The shared state: options, rooms and results."""

    def __init__(self, opts):
        self.opts = opts
        self.rooms = {}
        self.results = {}       # (room, role) -> latest result
        self.next_guest = 1

    def room(self, name):
        r = self.rooms.get(name)
        if not r:
            r = self.rooms[name] = Room(name)
        return r

    def forget_if_idle(self, room):
        if room.idle() and self.rooms.get(room.name) is room:
            del self.rooms[room.name]

    # ---- HTTP ----------------------------------------------------------------

    def turn(self, q):
        role = q.get("role", "")
        if role not in ("guest", "bridge"):
            return 400, "role must be guest or bridge\n"
        name = q.get("name", role)
        if not NAME_RE.match(name):
            return 400, "name must be 1-64 of A-Z a-z 0-9 . _ @ -\n"
        ttl = self.opts.turn_ttl
        if "ttl" in q:
            if not q["ttl"].isdigit() or not 1 <= int(q["ttl"]) <= 86400:
                return 400, "ttl must be 1-86400\n"
            ttl = int(q["ttl"])
        if not self.opts.turn_secret_file:
            return 503, "no --turn-secret-file given\n"
        try:
            with open(self.opts.turn_secret_file, "rb") as f:
                secret = f.read().rstrip(b"\r\n")
        except OSError as e:
            return 503, "cannot read the TURN secret: %s\n" % e
        urls = (self.opts.bridge_turn if role == "bridge" else []) or self.opts.guest_turn
        username = "%d:%s" % (int(time.time()) + ttl, name)
        mac = hmac.new(secret, username.encode(), hashlib.sha1).digest()
        return 200, {"username": username, "credential": base64.b64encode(mac).decode(),
                     "urls": urls, "ttl": ttl}

    def store_result(self, q, body, client):
        room, role = q.get("room", ""), q.get("role", "")
        try:
            res = json.loads(body)
        except ValueError:
            return 400, "the body is not JSON\n"
        if not ROOM_RE.match(room) or role not in ("guest", "bridge"):
            return 400, "room and role=guest|bridge needed\n"
        self.results[(room, role)] = res
        log("result room=%s role=%s guest=%s client=%s %s" % (
            room, role, q.get("guest", "-"), client, json.dumps(res, separators=(",", ":"))))
        return 200, {"stored": True}

    def rooms_view(self):
        return {name: {"bridge": bool(r.bridge), "guests": sorted(r.guests),
                       "queued_for_bridge": len(r.to_bridge), "queued_for_guests": len(r.to_guests)}
                for name, r in self.rooms.items()}

    def http(self, method, path, body, client):
        """Answers one plain HTTP request: (status, headers, body)."""
        u = urlsplit(path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        ctype = "text/plain; charset=utf-8"
        if u.path in PAGES and method in ("GET", "HEAD"):
            fname, ctype = PAGES[u.path]
            try:
                with open(os.path.join(self.opts.www, fname), "rb") as f:
                    status, out = 200, f.read()
            except OSError as e:
                status, out, ctype = 500, ("%s\n" % e).encode(), "text/plain; charset=utf-8"
        elif u.path == "/favicon.ico":
            status, out = 204, ""
        elif u.path == "/healthz" and method in ("GET", "HEAD"):
            status, out = 200, "ok\n"
        elif u.path == "/api/turn" and method == "GET":
            status, out = self.turn(q)
        elif u.path == "/api/result" and method == "POST":
            status, out = self.store_result(q, body, client)
        elif u.path == "/api/result" and method == "GET":
            res = self.results.get((q.get("room", ""), q.get("role", "")))
            status, out = (200, res) if res is not None else (404, "no result\n")
        elif u.path == "/api/rooms" and method == "GET":
            status, out = 200, self.rooms_view()
        elif u.path in PAGES or u.path in ("/healthz", "/api/turn", "/api/result", "/api/rooms", "/ws"):
            status, out = 405, "method not allowed\n"
        else:
            status, out = 404, "not found\n"
        if isinstance(out, (dict, list)):
            out, ctype = (json.dumps(out) + "\n").encode(), "application/json"
        elif isinstance(out, str):
            out = out.encode()
        headers = [("Content-Type", ctype), ("Content-Length", str(len(out))),
                   ("Cache-Control", "no-store"), ("Connection", "close")]
        return status, headers, b"" if method == "HEAD" else out

    # ---- signalling ----------------------------------------------------------

    async def ws_session(self, ws):
        q = {k: v[0] for k, v in parse_qs(urlsplit(ws.path).query).items()}
        room, role = self.room(q["room"]), q["role"]
        gid = None
        if role == "guest":
            gid = "g%d" % self.next_guest
            self.next_guest += 1
        me = Peer(ws, room, role, gid)
        t0 = time.monotonic()
        ws.log_request("ws-open", "room=%s role=%s guest=%s" % (room.name, role, gid or "-"))
        try:
            if role == "guest":
                room.guests[gid] = me
                await me.send(json.dumps({"type": "hello", "role": "guest", "guest": gid, "room": room.name}))
                queued, room.to_guests = room.to_guests, []
                for text in queued:
                    await me.send(text)
            else:
                old, room.bridge = room.bridge, me
                if old:
                    log("room=%s: a new bridge replaces the one from %s" % (room.name, addr_str(old.ws.remote_address)))
                    await old.ws.close(4000, "replaced by a new bridge")
                await me.send(json.dumps({"type": "hello", "role": "bridge", "room": room.name,
                                          "guests": sorted(room.guests)}))
                queued, room.to_bridge = room.to_bridge, []
                for _, text in queued:
                    await me.send(text)
            async for text in ws:
                if not isinstance(text, str):
                    continue
                me.n_in += 1
                await self.relay(me, text)
        except ConnectionClosed:
            pass  # closed without a close frame: the same as a close
        finally:
            if role == "guest":
                room.guests.pop(gid, None)
                room.to_bridge = [m for m in room.to_bridge if m[0] != gid]
                if room.bridge:
                    await room.bridge.send(json.dumps({"type": "bye", "guest": gid}))
            elif room.bridge is me:
                room.bridge = None
                for g in list(room.guests.values()):
                    await g.send(json.dumps({"type": "bye", "role": "bridge"}))
            self.forget_if_idle(room)
            ws.log_request("ws-close", "room=%s role=%s guest=%s in=%d out=%d secs=%.1f code=%s" % (
                room.name, role, gid or "-", me.n_in, me.n_out, time.monotonic() - t0, ws.close_code))

    async def relay(self, me, text):
        room = me.room
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            msg = None
        kind = msg.get("type", "?") if msg else "text"
        if me.role == "guest":
            if msg is not None:
                msg["guest"] = me.gid
                text = json.dumps(msg)
            if room.bridge:
                await room.bridge.send(text)
                where = "bridge"
            else:
                room.to_bridge.append((me.gid, text))
                where = "queue"
        else:
            target = msg.get("guest") if msg else None
            if target:
                g = room.guests.get(target)
                if g:
                    await g.send(text)
                where = target if g else "gone:" + str(target)
            elif room.guests:
                for g in list(room.guests.values()):
                    await g.send(text)
                where = "all-guests"
            else:
                room.to_guests.append(text)
                where = "queue"
        if self.opts.verbose:
            log("msg room=%s %s%s -> %s %s" % (room.name, me.role, ":" + me.gid if me.gid else "", where, kind))


class Protocol(WebSocketServerProtocol):
    """websockets' server protocol, with POST/HEAD requests and our logging."""

    state_ref = None  # the Bridge, set by main()

    def log_request(self, what, detail):
        # The peer's address is gone once the transport closes: keep the first.
        if not getattr(self, "client", None):
            self.client = addr_str(self.remote_address)
        xff = None
        if self.state_ref.opts.verbose and self.request_headers:
            xff = self.request_headers.get("X-Forwarded-For")
        log("%s %s %s %s%s" % ("https" if self.secure else "http", self.client,
                               what, detail, " xff=" + xff if xff else ""))

    async def read_http_request(self):
        # As websockets' own, but any method; a Content-Length body is read
        # into self.body (no chunked bodies: browsers' fetch() sends a length).
        try:
            line = await read_line(self.reader)
            method, raw_path, version = line.split(b" ", 2)
            if version not in (b"HTTP/1.1", b"HTTP/1.0"):
                raise ValueError("unsupported HTTP version")
            headers = await read_headers(self.reader)
            n = int(headers.get("Content-Length", "0"))
            if n < 0 or n > MAX_BODY or "Transfer-Encoding" in headers:
                raise ValueError("body too large or chunked")
            self.body = await self.reader.readexactly(n) if n else b""
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise InvalidMessage("did not receive a valid HTTP request") from exc
        self.method = method.decode("ascii", "replace")
        self.path = raw_path.decode("ascii", "surrogateescape")
        self.request_headers = headers
        return self.path, headers

    async def process_request(self, path, headers):
        st = self.state_ref
        u = urlsplit(path)
        if u.path == "/ws" and self.method == "GET":
            q = {k: v[0] for k, v in parse_qs(u.query).items()}
            if ROOM_RE.match(q.get("room", "")) and q.get("role") in ("guest", "bridge"):
                return None  # go on with the WebSocket handshake
            status, hdrs, body = 400, [("Content-Type", "text/plain"), ("Connection", "close"),
                                       ("Cache-Control", "no-store")], \
                b"/ws needs room=[A-Za-z0-9._-]{1,64} and role=guest|bridge\n"
            hdrs.append(("Content-Length", str(len(body))))
        else:
            status, hdrs, body = st.http(self.method, path, self.body, addr_str(self.remote_address))
        self.log_request('"%s %s"' % (self.method, path), "%d %d" % (status, len(body)))
        return http.HTTPStatus(status), hdrs, body


async def main(opts):
    st = Bridge(opts)
    Protocol.state_ref = st
    servers = []

    async def handler(ws):
        await st.ws_session(ws)

    common = dict(create_protocol=Protocol, close_timeout=2, max_size=1 << 20,
                  server_header="causeway-test-webbridge")
    for host, port in opts.http or []:
        servers.append(await websockets.serve(handler, host, port, **common))
        log("listening http %s" % addr_str((host, port)))
    if opts.https:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        for host, port in opts.https:
            servers.append(await websockets.serve(handler, host, port, ssl=ctx, **common))
            log("listening https %s" % addr_str((host, port)))
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda s=sig: stop.done() or stop.set_result(s))
    sig = await stop
    log("stopping on %s" % signal.Signals(sig).name)
    for s in servers:
        s.close()
    for s in servers:
        await s.wait_closed()
    log("stopped")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="webbridge stand-in for the WebRTC tests")
    ap.add_argument("--http", type=parse_addr, action="append", metavar="ADDR:PORT")
    ap.add_argument("--https", type=parse_addr, action="append", metavar="ADDR:PORT")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--turn-secret-file")
    ap.add_argument("--guest-turn", action="append", default=[], metavar="URL")
    ap.add_argument("--bridge-turn", action="append", default=[], metavar="URL")
    ap.add_argument("--turn-ttl", type=int, default=3600, metavar="SECONDS")
    ap.add_argument("--www", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "webbridge"))
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()
    if not opts.http and not opts.https:
        ap.error("give --http and/or --https")
    if opts.https and not (opts.cert and opts.key):
        ap.error("--https needs --cert and --key")
    import logging
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s: %(message)s")
    try:
        asyncio.run(main(opts))
    except OSError as e:
        log("webbridge: %s" % e)
        sys.exit(1)
