#!/usr/bin/python3
"""xmpp_load.py - a lean XMPP load generator for bench/xmpp.sh and
bench/federation.sh: two accounts log in (STARTTLS, SCRAM-SHA-1 or, where
a server offers no SCRAM-SHA-1, PLAIN; bind) over raw TLS sockets, then one
sends chat messages to the other as fast as the window allows, and the receiver's
side counts them and takes each one's delay from the send time in its body.
No XML library on the hot path: stanzas are written from a template and
the bodies found with one regular expression, so the generator costs a few
microseconds per message, well under what the servers spend.

  xmpp_load.py SENDER RECEIVER DOMAIN N WINDOW
      SENDER and RECEIVER are HOST:PORT:USER:PASSWORD (they may be different
      nodes); USER may be USER@DOMAIN, a domain of its own (federation: the
      sender on one server, the receiver on another domain's). Prints one
      line: msgs=N secs=S msgs_per_s=R p50_us=A p99_us=B
  WINDOW 1 measures delay (one message in flight); a large one throughput.

  xmpp_load.py logins HOST:PORT DOMAIN PASSWORD FIRST COUNT
      COUNT accounts, uFIRST to uFIRST+COUNT-1, log in one after another as
      a client starts: bind, fetch the roster, send initial presence, then
      close the stream. Prints logins=N items=I secs=S (I: roster items
      received in all).

  xmpp_load.py roster HOST:PORT DOMAIN USER PASSWORD N
      USER logs in, adds N contacts to its roster one after another (each
      set answered before the next), then removes them. Prints changes=2N
      secs=S.

  xmpp_load.py failover SENDER RECEIVER DOMAIN GOFILE
      the sender logs in, then waits for GOFILE (written by whoever kills
      the cluster's leader, holding the kill time in seconds since the
      epoch); then the receiver logs in on its node and the sender sends a
      message every 10 ms until one arrives. Prints failover_ms=T: from the
      kill to the first message delivered to the session made after it.
"""
import base64
import functools
import hashlib
import hmac
import os
import re
import select
import socket
import ssl
import sys
import time

NS_STREAM = "http://etherx.jabber.org/streams"


class Conn:
    def __init__(self, host, port, domain, user, password, roster=False):
        if "@" in user:
            user, domain = user.split("@", 1)
        self.domain, self.user = domain, user
        self.s = socket.create_connection((host, int(port)), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.open()
        self.expect(b"<starttls")
        self.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.expect(b"<proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname=domain)
        self.buf = b""
        self.open()
        feats = self.expect(rb"(?s)<stream:features.*?</stream:features>").group(0)
        if b">SCRAM-SHA-1<" in feats:
            self.scram(password)
        elif b">PLAIN<" in feats:
            self.plain(password)
        else:
            raise SystemExit("%s: neither SCRAM-SHA-1 nor PLAIN offered: %s" % (user, feats[:300]))
        self.buf = b""
        self.open()
        self.expect(b"</stream:features>")
        self.send(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  b"<resource>load</resource></bind></iq>")
        m = self.expect(rb"<jid>([^<]+)</jid>")
        self.jid = m.group(1).decode()
        self.items = 0
        if roster:   # RFC 6121 2.2: the roster first, then initial presence
            self.send(b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
            m = self.expect(rb"(?s)<iq[^>]*id=.r1.[^>]*?(/>|>.*?</iq>)")
            self.items = m.group(0).count(b"<item ")
        self.send(b"<presence/>")

    def close(self):
        self.send(b"</stream:stream>")
        self.s.close()

    def open(self):
        self.send(("<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
                   "xmlns='jabber:client' xmlns:stream='%s'>" % (self.domain, NS_STREAM)).encode())

    def send(self, b):
        self.s.sendall(b)

    def expect(self, pat, timeout=30):
        rx = re.compile(pat)
        end = time.time() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if b"<failure" in self.buf or b"<stream:error" in self.buf:
                raise SystemExit("%s: server said: %s" % (self.user, self.buf[-300:]))
            if time.time() > end:
                raise SystemExit("%s: timed out waiting for %s" % (self.user, pat))
            d = self.s.recv(65536)
            if not d:
                raise SystemExit("%s: connection closed" % self.user)
            self.buf += d

    def plain(self, password):
        token = base64.b64encode(("\0%s\0%s" % (self.user, password)).encode()).decode()
        self.send(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                   % token).encode())
        self.expect(rb"<success")

    def scram(self, password):
        # RFC 5802 client side, SCRAM-SHA-1 (both servers offer it).
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=%s,r=%s" % (self.user, cnonce)
        self.send(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%s</auth>"
                   % base64.b64encode(("n,," + first_bare).encode()).decode()).encode())
        m = self.expect(rb"<challenge[^>]*>([^<]*)</challenge>")
        server_first = base64.b64decode(m.group(1)).decode()
        f = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = salted_password(password, f["s"], int(f["i"]))
        ckey = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
        stored = hashlib.sha1(ckey).digest()
        final_wo = "c=biws,r=%s" % f["r"]
        auth_msg = ",".join((first_bare, server_first, final_wo)).encode()
        sig = hmac.new(stored, auth_msg, hashlib.sha1).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(ckey, sig))).decode()
        self.send(("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>"
                   % base64.b64encode(("%s,p=%s" % (final_wo, proof)).encode()).decode()).encode())
        self.expect(rb"<success")


@functools.lru_cache(maxsize=64)
def salted_password(password, salt, iterations):
    """Accounts made alike share a salt: one PBKDF2 serves all their logins."""
    return hashlib.pbkdf2_hmac("sha1", password.encode(), base64.b64decode(salt), iterations)


def logins(addr, domain, password, first, count):
    host, port = addr.rsplit(":", 1)
    first, count = int(first), int(count)
    items = 0
    t0 = time.monotonic()
    for i in range(first, first + count):
        c = Conn(host, port, domain, "u%d" % i, password, roster=True)
        items += c.items
        c.close()
    print("logins=%d items=%d secs=%.3f" % (count, items, time.monotonic() - t0))


def roster_changes(addr, domain, user, password, n):
    host, port = addr.rsplit(":", 1)
    n = int(n)
    c = Conn(host, port, domain, user, password)
    t0 = time.monotonic()
    for k, sub in ((k, sub) for sub in ("", " subscription='remove'") for k in range(n)):
        c.send(("<iq type='set' id='s%d'><query xmlns='jabber:iq:roster'><item jid='rc%d@%s'%s/>"
                "</query></iq>" % (k, k, domain, sub)).encode())
        c.expect(rb"<iq[^>]*id=.s%d.[^>]*type=.result.|<iq[^>]*type=.result.[^>]*id=.s%d." % (k, k))
    print("changes=%d secs=%.3f" % (2 * n, time.monotonic() - t0))
    c.close()


def failover(sa, ra, domain, gofile):
    sh, sp, su, spw = sa.split(":")
    rh, rp, ru, rpw = ra.split(":")
    tx = Conn(sh, sp, domain, su, spw)
    while not os.path.exists(gofile):
        time.sleep(0.001)
    time.sleep(0.01)
    t_kill = float(open(gofile).read().strip())
    while True:
        try:
            rx = Conn(rh, rp, domain, ru, rpw)
            break
        except (OSError, SystemExit):
            if time.time() - t_kill > 30:
                raise SystemExit("the receiver could not log in within 30 s")
            time.sleep(0.05)
    rx.s.setblocking(False)
    rx.buf = b""
    head = ("<message to='%s' type='chat'><body>" % rx.jid).encode()
    i = 0
    while True:
        tx.send(head + b"%d %d</body></message>" % (time.monotonic_ns(), i))
        i += 1
        r, _, _ = select.select([rx.s], [], [], 0.01)
        if r or rx.s.pending():
            try:
                rx.buf += rx.s.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            if b"<body>" in rx.buf:
                print("failover_ms=%.0f" % ((time.time() - t_kill) * 1000))
                return
        if time.time() - t_kill > 30:
            raise SystemExit("no message delivered within 30 s of the kill")


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "failover":
        failover(*sys.argv[2:6])
        return
    if len(sys.argv) == 7 and sys.argv[1] == "logins":
        logins(*sys.argv[2:7])
        return
    if len(sys.argv) == 7 and sys.argv[1] == "roster":
        roster_changes(*sys.argv[2:7])
        return
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    sa, ra, domain, n, window = sys.argv[1:]
    n, window = int(n), int(window)
    sh, sp, su, spw = sa.split(":")
    rh, rp, ru, rpw = ra.split(":")
    rx = Conn(rh, rp, domain, ru, rpw)
    tx = Conn(sh, sp, domain, su, spw)
    time.sleep(0.2)
    rx.s.setblocking(False)
    rx.buf = b""
    body = re.compile(rb"<body>(\d+) (\d+)</body>")
    head = ("<message to='%s' type='chat'><body>" % rx.jid).encode()
    sent = got = 0
    delays = []
    t0 = time.monotonic()
    alive = time.monotonic_ns()
    while got < n:
        if sent < n and sent - got < window:
            k = min(n - sent, window - (sent - got), 64)
            now = time.monotonic_ns()
            tx.send(b"".join(head + b"%d %d</body></message>" % (now, sent + i) for i in range(k)))
            sent += k
            wait = 0
        else:
            wait = 5
        if not rx.s.pending():
            r, _, _ = select.select([rx.s], [], [], wait)
            if not r and wait:
                if time.monotonic() - t0 > 120:
                    raise SystemExit("timed out: %d of %d delivered" % (got, n))
                continue
        try:
            d = rx.s.recv(262144)
        except (ssl.SSLWantReadError, BlockingIOError):
            continue
        if not d:
            raise SystemExit("receiver closed")
        rx.buf += d
        last = 0
        now = time.monotonic_ns()
        if now - alive > 20 * 10**9:    # a space now and then, as clients send: the
            rx.s.sendall(b" ")          # server pings a silent one, and we answer no iq
            alive = now
        for m in body.finditer(rx.buf):
            delays.append(now - int(m.group(1)))
            got += 1
            last = m.end()
        rx.buf = rx.buf[last:]
    secs = time.monotonic() - t0
    delays.sort()
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] // 1000
    print("msgs=%d secs=%.3f msgs_per_s=%.0f p50_us=%d p99_us=%d" % (got, secs, got / secs, p(0.5), p(0.99)))


if __name__ == "__main__":
    main()
