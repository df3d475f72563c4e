#!/usr/bin/python3
"""stunprobe.py - a raw STUN/TURN client for the integration tests.

It builds and parses STUN (RFC 8489) and TURN (RFC 8656) messages byte by
byte with the standard library only, so a test can send what well-behaved
clients never would and check exactly what comes back.

usage: stunprobe.py [-s HOST:PORT] [-b ADDR] [-P PORT] [-t] [-u USER -w PASS] [-T S] CMD ...
  run STEP...    protocol steps on one or more client 5-tuples, each checked
  binding        one Binding request; prints the mapped address
  flood          malformed datagrams at the server; malformed requests whose
                 header is sound must get 400, nothing else an answer
  tcp-garbage    random bytes on a TCP connection: the server must close it
  tcp-huge       a STUN header announcing --length bytes (65532): the server
                 must close
  tcp-stall      half a frame, then silence: others are still served, and
                 the frame completes when the rest arrives

A step of `run` reads "[@N] VERB [OPTION]... [-> EXPECT...]". @N names a
client (its own socket, so its own 5-tuple; @1 when absent). Verbs:
  allocate  refresh  perm  chanbind  binding  retransmit  send  chandata
  sleep SECONDS
Options:
  as=USER:PASS      other credentials for this step
  noauth            no long-term credentials (Binding never has them)
  once              no second try after 438 Stale Nonce
  nonce-from=@N     use client N's nonce (a nonce issued to another port)
  sha256            MESSAGE-INTEGRITY-SHA256 instead of MESSAGE-INTEGRITY
  fp                add FINGERPRINT
  transport=N|none  REQUESTED-TRANSPORT protocol (17 when absent)
  family=ipv4|ipv6|0xNN   REQUESTED-ADDRESS-FAMILY
  lifetime=N  dontfrag
  even=0|1          EVEN-PORT with the R (reserve next port) bit
  token=@|HEX       RESERVATION-TOKEN; @ is the last one an answer carried
  peer=ADDR[:PORT]  (repeatable; [v6]:port)   ch=0xNNNN   data=TEXT
  attr=0xTTTT:HEX   any attribute (repeatable)
Expectations (all must hold):
  ok | none | CODE  success, no answer at all, or that error code
  lifetime=N  relay=same  relayip=ADDR  family=ipv4|ipv6  port=even|+1  token  mi256
  unknown=0xTTTT  nonce=fresh  challenged  realm  echo
`challenged` means an unauthenticated first try got 401 with REALM and
NONCE; `realm` that the answer itself carries REALM and NONCE; `port=+1`
that the relay port is one above that of the answer with the last
RESERVATION-TOKEN; `relay=same` that it is the client's earlier relay
address; `nonce=fresh` that the NONCE differs from the one sent; `echo` that
the peer's echo of data came back (ChannelData, padded to 4 on TCP, or a
Data indication). Every success answer to an authenticated request must
carry MESSAGE-INTEGRITY(-SHA256) that verifies, FINGERPRINT must verify
when present.

Exit status: 0 when every expectation held; 1 otherwise, after printing
the step and what came back; 2 for a usage error.
"""

import argparse
import hashlib
import hmac
import os
import random
import select
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x2112A442
FP_XOR = 0x5354554E                     # RFC 8489 14.7

# Methods (RFC 8489 18.2, RFC 8656 17) and classes.
BINDING, ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = \
    0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009
REQUEST, INDICATION, SUCCESS, ERROR = 0, 1, 2, 3
METHOD_NAMES = {BINDING: "Binding", ALLOCATE: "Allocate", REFRESH: "Refresh", SEND: "Send",
                DATA: "Data", CREATE_PERMISSION: "CreatePermission",
                CHANNEL_BIND: "ChannelBind"}

# Attributes (RFC 8489 18.3, RFC 8656 18).
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA_ATTR = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
MESSAGE_INTEGRITY_SHA256 = 0x001C
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
SOFTWARE = 0x8022
FINGERPRINT = 0x8028


class ProbeError(Exception):
    """An expectation that did not hold, or an answer that is not valid."""


# ---- codec -------------------------------------------------------------------

def pad4(n):
    return (n + 3) & ~3


def msg_type(method, cls):
    """RFC 8489 5: M11..M7 C1 M6..M4 C0 M3..M0."""
    return ((method & 0x00F) | ((method & 0x070) << 1) | ((method & 0xF80) << 2) |
            ((cls & 1) << 4) | ((cls & 2) << 7))


def split_type(t):
    method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80)
    return method, ((t >> 4) & 1) | ((t >> 7) & 2)


def attr(t, value):
    return struct.pack("!HH", t, len(value)) + value + bytes(pad4(len(value)) - len(value))


def header(method, cls, length, tid):
    return struct.pack("!HHI", msg_type(method, cls), length, MAGIC) + tid


def long_term_key(user, realm, password):
    """RFC 8489 9.2.2: MD5(username ":" realm ":" password)."""
    return hashlib.md5(b"%s:%s:%s" % (user, realm, password)).digest()


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def xor_mask(tid):
    return struct.pack("!I", MAGIC) + tid


def xor_address(host, port, tid):
    """XOR-MAPPED/PEER/RELAYED-ADDRESS value (RFC 8489 14.2)."""
    fam = family_of(host)
    raw = socket.inet_pton(fam, host)
    x = bytes(a ^ b for a, b in zip(raw, xor_mask(tid)))
    return struct.pack("!BBH", 0, 1 if fam == socket.AF_INET else 2,
                       port ^ (MAGIC >> 16)) + x


def encode(method, cls, tid, attrs, key=None, sha256=False, fingerprint=False):
    """A whole message: attrs is a list of (type, bytes); integrity with key
    (RFC 8489 14.5/14.6: the header length counts the MAC attribute) and
    FINGERPRINT (14.7) come last."""
    body = b"".join(attr(t, v) for t, v in attrs)
    if key is not None:
        t, n, h = ((MESSAGE_INTEGRITY_SHA256, 32, hashlib.sha256) if sha256 else
                   (MESSAGE_INTEGRITY, 20, hashlib.sha1))
        mac = hmac.new(key, header(method, cls, len(body) + 4 + n, tid) + body, h).digest()
        body += attr(t, mac)
    if fingerprint:
        crc = zlib.crc32(header(method, cls, len(body) + 8, tid) + body) ^ FP_XOR
        body += attr(FINGERPRINT, struct.pack("!I", crc))
    return header(method, cls, len(body), tid) + body


class Message:
    """A parsed STUN message; parse() raises ValueError unless it is well formed."""

    def __init__(self, raw, method, cls, tid, attrs):
        self.raw, self.method, self.cls, self.tid = raw, method, cls, tid
        self.attrs = attrs              # [(type, value, offset of value)]

    @classmethod
    def parse(cls_, raw):
        if len(raw) < 20:
            raise ValueError("%d bytes: shorter than a STUN header" % len(raw))
        t, n, cookie = struct.unpack_from("!HHI", raw)
        if t & 0xC000 or cookie != MAGIC:
            raise ValueError("not STUN (type 0x%04x, cookie 0x%08x)" % (t, cookie))
        if n % 4 or len(raw) != 20 + n:
            raise ValueError("header length %d for %d bytes" % (n, len(raw)))
        attrs, off = [], 20
        while off < len(raw):
            if off + 4 > len(raw):
                raise ValueError("attribute header cut at %d" % off)
            at, alen = struct.unpack_from("!HH", raw, off)
            if off + 4 + pad4(alen) > len(raw):
                raise ValueError("attribute 0x%04x overruns the message" % at)
            attrs.append((at, raw[off + 4:off + 4 + alen], off + 4))
            off += 4 + pad4(alen)
        method, cls = split_type(t)
        return cls_(raw, method, cls, raw[8:20], attrs)

    def get(self, t):
        for at, v, _ in self.attrs:
            if at == t:
                return v
        return None

    def has(self, t):
        return self.get(t) is not None

    @property
    def error_code(self):
        v = self.get(ERROR_CODE)
        if self.cls != ERROR or v is None or len(v) < 4:
            return None
        return (v[2] & 7) * 100 + v[3]

    def xaddr(self, t):
        v = self.get(t)
        if v is None or len(v) < 8:
            return None
        port = struct.unpack_from("!H", v, 2)[0] ^ (MAGIC >> 16)
        if v[1] == 1 and len(v) == 8:
            fam, n = socket.AF_INET, 4
        elif v[1] == 2 and len(v) == 20:
            fam, n = socket.AF_INET6, 16
        else:
            raise ProbeError("bad address attribute 0x%04x" % t)
        a = bytes(x ^ y for x, y in zip(v[4:4 + n], xor_mask(self.tid)))
        return socket.inet_ntop(fam, a), port

    def _mac_ok(self, t, key):
        for at, v, off in self.attrs:
            if at != t:
                continue
            h = hashlib.sha256 if t == MESSAGE_INTEGRITY_SHA256 else hashlib.sha1
            hdr = self.raw[:2] + struct.pack("!H", off - 20 + len(v)) + self.raw[4:20]
            want = hmac.new(key, hdr + self.raw[20:off - 4], h).digest()[:len(v)]
            return hmac.compare_digest(want, v)
        return None

    def integrity(self, key):
        """{'mi': ok, 'mi256': ok} for the integrity attributes present."""
        out = {}
        for name, t in (("mi", MESSAGE_INTEGRITY), ("mi256", MESSAGE_INTEGRITY_SHA256)):
            ok = self._mac_ok(t, key)
            if ok is not None:
                out[name] = ok
        return out

    def fingerprint_ok(self):
        """None without FINGERPRINT, else whether it is last and right."""
        for i, (at, v, off) in enumerate(self.attrs):
            if at == FINGERPRINT:
                crc = zlib.crc32(self.raw[:off - 4]) ^ FP_XOR
                return i == len(self.attrs) - 1 and v == struct.pack("!I", crc)
        return None

    def describe(self):
        name = METHOD_NAMES.get(self.method, "method 0x%03x" % self.method)
        if self.cls == ERROR:
            v = self.get(ERROR_CODE) or b"\0\0\0\0"
            s = "%s error %s %s" % (name, self.error_code, v[4:].decode("utf-8", "replace"))
        else:
            s = "%s %s" % (name, ("request", "indication", "success", "error")[self.cls])
        names = {LIFETIME: "LIFETIME", REALM: "REALM", NONCE: "NONCE",
                 XOR_RELAYED_ADDRESS: "RELAYED", RESERVATION_TOKEN: "TOKEN",
                 MESSAGE_INTEGRITY: "MI", MESSAGE_INTEGRITY_SHA256: "MI256",
                 UNKNOWN_ATTRIBUTES: "UNKNOWN", XOR_MAPPED_ADDRESS: "MAPPED",
                 FINGERPRINT: "FP"}
        parts = []
        for at, v, _ in self.attrs:
            n = names.get(at)
            if n is None:
                continue
            if at == LIFETIME:
                parts.append("%s=%d" % (n, struct.unpack("!I", v)[0]))
            elif at in (XOR_RELAYED_ADDRESS, XOR_MAPPED_ADDRESS):
                parts.append("%s=%s:%d" % ((n,) + self.xaddr(at)))
            elif at == UNKNOWN_ATTRIBUTES:
                parts.append("%s=%s" % (n, ",".join("0x%04x" % x for x in
                                                   struct.unpack("!%dH" % (len(v) // 2), v))))
            else:
                parts.append(n)
        return s + (" [" + " ".join(parts) + "]" if parts else "")


def channel_data(ch, data, pad):
    """ChannelData (RFC 8656 12.4); padded to 4 when pad (streams, 12.5)."""
    out = struct.pack("!HH", ch, len(data)) + data
    return out + bytes(pad4(len(out)) - len(out)) if pad else out


# ---- a client ----------------------------------------------------------------

def parse_hostport(text, default_port):
    """'1.2.3.4', '1.2.3.4:5', '[::1]:5', '::1' -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


class Closed(Exception):
    """The server closed the stream."""


class Client:
    """One client 5-tuple: a connected UDP socket or a TCP connection, with
    the long-term credential state (realm and nonce) of that 5-tuple."""

    def __init__(self, server, source=None, tcp=False, timeout=3.0, user=b"", password=b"",
                 port=0):
        self.server, self.tcp, self.timeout = server, tcp, timeout
        self.user, self.password = user, password
        fam = family_of(server[0])
        self.sock = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        if source or port:
            self.sock.bind((source or "", port))
        self.sock.settimeout(timeout)
        self.sock.connect(server)
        self.sock.setblocking(False)
        self.buf = b""                  # stream bytes not yet framed
        self.frames = []                # frames that were not the awaited answer
        self.realm = self.nonce = None
        self.last = None                # (bytes, tid) of the last request
        self.relay = None

    def local(self):
        return self.sock.getsockname()[:2]

    def send(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data) if self.tcp else self.sock.send(data)
        finally:
            self.sock.setblocking(False)

    def _stream_frame(self):
        """A whole frame from self.buf, or None. ChannelData is padded to 4
        on streams (RFC 8656 12.5): the padding belongs to the frame."""
        b = self.buf
        if len(b) < 4:
            return None
        n = struct.unpack_from("!H", b, 2)[0]
        if b[0] & 0xC0 == 0:
            size = 20 + n
        elif 0x40 <= b[0] <= 0x7F:
            size = 4 + pad4(n)
        else:
            raise ProbeError("server sent a frame that is neither STUN nor ChannelData: "
                             + b[:8].hex())
        if len(b) < size:
            return None
        self.buf = b[size:]
        return b[:size]

    def recv_frame(self, deadline):
        """The next datagram or stream frame, or None at deadline."""
        while True:
            if self.tcp:
                f = self._stream_frame()
                if f is not None:
                    return f
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.sock], [], [], max(0.0, left))
            if not r:
                if left <= 0:
                    return None
                continue
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionRefusedError:
                continue                # ICMP of an earlier datagram
            except ConnectionResetError:
                raise Closed()
            if not self.tcp:
                return data
            if not data:
                raise Closed()
            self.buf += data

    def transact(self, data, tid):
        """Sends a request and waits for the answer with its transaction id;
        UDP retransmits (RFC 8489 6.2.1, shortened). None when nothing came."""
        self.send(data)
        start = time.monotonic()
        deadline, rto = start + self.timeout, 0.5
        next_tx = start + rto
        while True:
            f = self.recv_frame(deadline if self.tcp else min(deadline, next_tx))
            now = time.monotonic()
            if f is None:
                if now >= deadline:
                    return None
                if not self.tcp and now >= next_tx:
                    self.send(data)
                    rto *= 2
                    next_tx = now + rto
                continue
            if f[0] & 0xC0 == 0 and len(f) >= 20 and f[8:20] == tid:
                m = Message.parse(f)
                if m.cls in (SUCCESS, ERROR):
                    if m.fingerprint_ok() is False:
                        raise ProbeError("answer with a wrong FINGERPRINT")
                    return m
            self.frames.append(f)

    def request(self, method, attrs, auth=True, user=None, password=None, sha256=False,
                fp=False, once=False):
        """A request with the long-term credential mechanism (RFC 8489 9.2):
        without a nonce yet, a first try without credentials must get 401
        with REALM and NONCE; 438 with a fresh NONCE is retried once unless
        once. attrs values may be callables of the transaction id. Returns
        (answer or None, info) where info has 'challenged' and 'nonce' (the
        nonce the last try carried)."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        info = {"challenged": False, "nonce": None}

        def build(with_auth):
            tid = os.urandom(12)
            a = [(t, v(tid) if callable(v) else v) for t, v in attrs]
            key = None
            if with_auth:
                key = long_term_key(user, self.realm, password)
                a += [(USERNAME, user), (REALM, self.realm), (NONCE, self.nonce)]
            return encode(method, REQUEST, tid, a, key, sha256, fp), tid, key

        if auth and self.nonce is None:
            data, tid, _ = build(False)
            self.last = (data, tid)
            r = self.transact(data, tid)
            if r is None or r.error_code != 401:
                return r, info          # answered before authentication (420 ...)
            if not r.has(REALM) or not r.has(NONCE):
                raise ProbeError("401 without REALM and NONCE: " + r.describe())
            self.realm, self.nonce = r.get(REALM), r.get(NONCE)
            info["challenged"] = True
        for _ in range(2):
            data, tid, key = build(auth)
            self.last = (data, tid)
            info["nonce"] = self.nonce
            r = self.transact(data, tid)
            if r is not None and r.error_code in (401, 438) and r.has(NONCE):
                self.nonce = r.get(NONCE)
                self.realm = r.get(REALM) or self.realm
            if r is None or r.error_code != 438 or once or not auth:
                break
        if r is not None and key is not None:
            got = r.integrity(key)
            if False in got.values():
                raise ProbeError("integrity of the answer does not verify: " + r.describe())
            if r.cls == SUCCESS and not got:
                raise ProbeError("success without MESSAGE-INTEGRITY: " + r.describe())
        info["integrity"] = r.integrity(key) if r is not None and key is not None else {}
        return r, info

    def close(self):
        self.sock.close()


# ---- `run`: protocol steps ------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.clients = {}
        self.token = None               # the last RESERVATION-TOKEN seen
        self.token_port = None          # the relay port of that Allocate

    def client(self, n):
        if n not in self.clients:
            a = self.args
            self.clients[n] = Client(a.server, a.source, a.tcp, a.timeout, a.user, a.password,
                                     a.port if n == 1 else 0)
        return self.clients[n]


def parse_step(text):
    toks = text.split()
    n = 1
    if toks and toks[0].startswith("@"):
        n = int(toks.pop(0)[1:])
    if not toks:
        raise ProbeError("empty step")
    verb = toks.pop(0)
    opts, expect, cur = {}, [], None
    for t in toks:
        if t == "->":
            cur = expect
            continue
        if cur is expect:
            expect.append(t)
            continue
        k, _, v = t.partition("=")
        opts.setdefault(k, []).append(v)
    return n, verb, opts, expect


def opt1(opts, k, default=None):
    return opts[k][-1] if k in opts else default


def int0(text):
    return int(text, 0)


def peer_attr(text):
    host, port = parse_hostport(text, 3480)
    return (XOR_PEER_ADDRESS, lambda tid: xor_address(host, port, tid))


def step_attrs(verb, opts, run):
    a = []
    if verb == "allocate":
        tr = opt1(opts, "transport", "17")
        if tr != "none":
            a.append((REQUESTED_TRANSPORT, bytes([int0(tr), 0, 0, 0])))
    if "family" in opts:
        f = opt1(opts, "family")
        fam = {"ipv4": 1, "ipv6": 2}.get(f)
        a.append((REQUESTED_ADDRESS_FAMILY, bytes([fam or int0(f), 0, 0, 0])))
    if "lifetime" in opts:
        a.append((LIFETIME, struct.pack("!I", int(opt1(opts, "lifetime")))))
    if "even" in opts:
        a.append((EVEN_PORT, bytes([0x80 if opt1(opts, "even") == "1" else 0])))
    if "token" in opts:
        tok = opt1(opts, "token")
        if tok == "@":
            if run.token is None:
                raise ProbeError("token=@ but no RESERVATION-TOKEN was seen yet")
            tok = run.token.hex()
        a.append((RESERVATION_TOKEN, bytes.fromhex(tok)))
    if "dontfrag" in opts:
        a.append((DONT_FRAGMENT, b""))
    if "ch" in opts:
        a.append((CHANNEL_NUMBER, struct.pack("!HH", int0(opt1(opts, "ch")), 0)))
    for p in opts.get("peer", []):
        a.append(peer_attr(p))
    for x in opts.get("attr", []):
        t, _, hx = x.partition(":")
        a.append((int0(t), bytes.fromhex(hx)))
    return a


METHODS = {"allocate": ALLOCATE, "refresh": REFRESH, "perm": CREATE_PERMISSION,
           "chanbind": CHANNEL_BIND, "binding": BINDING}


def echo_of(f, ch, data, tcp):
    """A description when frame f is the echo of data (ChannelData on ch,
    zero-padded to 4 on a stream, or a Data indication), else None."""
    if 0x40 <= f[0] <= 0x7F:
        fch, n = struct.unpack_from("!HH", f)
        if ch is None or fch != ch or f[4:4 + n] != data:
            return None
        if tcp and (len(f) % 4 or any(f[4 + n:])):
            raise ProbeError("ChannelData on TCP not zero-padded to 4: " + f.hex())
        return "ChannelData 0x%04x echoed: %d data bytes in a %d-byte frame" % (fch, n, len(f))
    m = Message.parse(f)
    if m.method == DATA and m.cls == INDICATION and m.get(DATA_ATTR) == data:
        return "Data indication echoed from %s:%d" % m.xaddr(XOR_PEER_ADDRESS)
    return None


def wait_echo(c, ch, data, deadline):
    while True:
        for f in list(c.frames):
            d = echo_of(f, ch, data, c.tcp)
            if d:
                c.frames.remove(f)
                return d
        f = c.recv_frame(deadline)
        if f is None:
            raise ProbeError("no echo of %r within the timeout (other frames: %s)" % (
                data, " ".join(x[:8].hex() for x in c.frames) or "none"))
        c.frames.append(f)


def check_expect(step, expect, r, info, c, run):
    """Raises ProbeError unless the answer r meets every expectation."""
    got = "no answer" if r is None else r.describe()
    for e in expect:
        k, _, v = e.partition("=")
        if k == "none":
            ok = r is None
        elif k == "ok":
            ok = r is not None and r.cls == SUCCESS
        elif k.isdigit():
            ok = r is not None and r.error_code == int(k)
        elif r is None:
            ok = False
        elif k == "lifetime":
            lt = r.get(LIFETIME)
            ok = lt is not None and struct.unpack("!I", lt)[0] == int(v)
        elif k == "relay":        # relay=same: the address of this client's allocation
            prev = info.get("prev_relay")
            ok = prev is not None and r.xaddr(XOR_RELAYED_ADDRESS) == prev
        elif k == "relayip":      # relayip=ADDR: XOR-RELAYED-ADDRESS carries ADDR
            ra = r.xaddr(XOR_RELAYED_ADDRESS)
            ok = ra is not None and ra[0] == v
        elif k == "family":
            ra = r.xaddr(XOR_RELAYED_ADDRESS)
            ok = ra is not None and (":" in ra[0]) == (v == "ipv6")
        elif k == "port":
            ra = r.xaddr(XOR_RELAYED_ADDRESS)
            if v == "even":
                ok = ra is not None and ra[1] % 2 == 0
            else:
                ok = ra is not None and run.token_port is not None and \
                    ra[1] == run.token_port + int(v)
        elif k == "token":
            ok = r.get(RESERVATION_TOKEN) is not None and len(r.get(RESERVATION_TOKEN)) == 8
        elif k == "mi256":
            ok = info.get("integrity", {}).get("mi256") is True
        elif k == "unknown":
            u = r.get(UNKNOWN_ATTRIBUTES) or b""
            ok = int0(v) in struct.unpack("!%dH" % (len(u) // 2), u[:len(u) // 2 * 2])
        elif k == "nonce":
            ok = r.has(NONCE) and r.get(NONCE) != info.get("nonce")
        elif k == "challenged":
            ok = info.get("challenged") is True
        elif k == "realm":
            ok = r.has(REALM) and r.has(NONCE)
        else:
            raise ProbeError("unknown expectation %r" % e)
        if not ok:
            raise ProbeError("%s: expected %s, got %s" % (step, e, got))


def do_step(run, step):
    if step.split()[0] == "sleep":
        time.sleep(float(step.split()[1]))
        return "slept"
    n, verb, opts, expect = parse_step(step)
    c = run.client(n)
    if "nonce-from" in opts:
        other = run.client(int(opt1(opts, "nonce-from").lstrip("@")))
        c.realm, c.nonce = other.realm, other.nonce
    user, password = None, None
    if "as" in opts:
        u, _, p = opt1(opts, "as").partition(":")
        user, password = u.encode(), p.encode()
    info = {"prev_relay": c.relay}
    if verb in ("send", "chandata"):
        data = opt1(opts, "data", "hello").encode()
        ch = None
        if verb == "chandata":
            ch = int0(opt1(opts, "ch"))
            c.send(channel_data(ch, data, c.tcp))
        else:
            tid = os.urandom(12)
            a = [(t, v(tid) if callable(v) else v) for t, v in step_attrs(verb, opts, run)]
            c.send(encode(SEND, INDICATION, tid, a + [(DATA_ATTR, data)]))
        if "echo" in expect:
            return wait_echo(c, ch, data, time.monotonic() + c.timeout)
        return "sent"
    if verb == "retransmit":
        if c.last is None:
            raise ProbeError("retransmit: client @%d sent nothing yet" % n)
        r = c.transact(*c.last)
    elif verb in METHODS:
        auth = verb != "binding" and "noauth" not in opts
        r, i = c.request(METHODS[verb], step_attrs(verb, opts, run), auth=auth, user=user,
                         password=password, sha256="sha256" in opts, fp="fp" in opts,
                         once="once" in opts)
        info.update(i)
    else:
        raise ProbeError("unknown verb %r" % verb)
    check_expect(step, expect, r, info, c, run)
    if r is not None and r.cls == SUCCESS and r.has(XOR_RELAYED_ADDRESS):
        c.relay = r.xaddr(XOR_RELAYED_ADDRESS)
        if r.has(RESERVATION_TOKEN):
            run.token, run.token_port = r.get(RESERVATION_TOKEN), c.relay[1]
    return "no answer" if r is None else r.describe()


def cmd_run(args):
    run = Run(args)
    try:
        for step in args.steps:
            print("%-60s %s" % (step, do_step(run, step)))
    except (ProbeError, Closed, OSError, ValueError) as e:
        print("FAIL: %s%s" % (type(e).__name__ + ": " if not isinstance(e, ProbeError) else "",
                              e))
        return 1
    finally:
        for c in run.clients.values():
            c.close()
    return 0


def cmd_binding(args):
    c = Client(args.server, args.source, args.tcp, args.timeout)
    r, _ = c.request(BINDING, [], auth=False)
    if r is None or r.cls != SUCCESS or not r.has(XOR_MAPPED_ADDRESS):
        print("FAIL: Binding: " + ("no answer" if r is None else r.describe()))
        return 1
    print("%s:%d" % r.xaddr(XOR_MAPPED_ADDRESS))
    return 0


# ---- malformed input ------------------------------------------------------------

def malformed_datagrams(rng):
    """(datagram, expects_400) pairs: every way a datagram can be wrong that
    the server must survive. Only requests whose 20-byte header is sound but
    whose body is bad are answered, with 400 (RFC 8489 6.3)."""
    out = []

    def tid():
        return rng.randbytes(12)

    def req(body, method=ALLOCATE, cls=REQUEST, length=None):
        t = tid()
        return header(method, cls, len(body) if length is None else length, t) + body
    # random datagrams of every size up to beyond what the server reads
    for _ in range(300):
        out.append((rng.randbytes(rng.randint(1, 1500)), False))
    out.append((rng.randbytes(3000), False))
    # truncated STUN headers
    whole = req(b"")
    for n in range(1, 20):
        out.append((whole[:n], False))
    # header lengths that overrun the datagram, or are not a multiple of 4
    for n in (2, 5, 8, 100, 1000, 0xFFFC, 0xFFFF):
        out.append((req(attr(SOFTWARE, b"x" * 0), length=n), False))
    # attribute lengths that overrun the message
    for alen in (5, 8, 200, 0xFFFF):
        out.append((req(struct.pack("!HH", SOFTWARE, alen) + b"abcd"), True))
    # huge attribute counts: past the server's limit but within its buffer
    # (answered 400), and past the buffer (a truncated datagram, dropped)
    for count in (41, 100, 500):
        out.append((req(attr(SOFTWARE, b"") * count), True))
    out.append((req(attr(SOFTWARE, b"") * 1000), False))
    # MESSAGE-INTEGRITY and FINGERPRINT of the wrong size; a wrong FINGERPRINT
    out.append((req(attr(MESSAGE_INTEGRITY, b"\0" * 8)), True))
    out.append((req(attr(FINGERPRINT, b"\0" * 8)), True))
    out.append((req(attr(FINGERPRINT, b"\0\0\0\0")), False))
    # the same mistakes in indications and responses: never answered
    for cls in (INDICATION, SUCCESS, ERROR):
        out.append((req(struct.pack("!HH", SOFTWARE, 200), cls=cls), False))
    # ChannelData for channels nobody bound, and longer than the datagram
    for _ in range(100):
        d = rng.randbytes(rng.randint(0, 200))
        out.append((channel_data(rng.randint(0x4000, 0x7FFF), d, False), False))
    for announced, n in ((11, 1), (110, 100), (1010, 1000), (0xFFFF, 100)):
        out.append((struct.pack("!HH", rng.randint(0x4000, 0x7FFF), announced) + bytes(n), False))
    out.append((b"\x40\x00", False))
    rng.shuffle(out)
    return out


def cmd_flood(args):
    rng = random.Random(args.seed)
    socks = [Client(args.server, args.source, False, args.timeout) for _ in range(4)]
    sent, want, answers, bad = 0, {}, 0, []

    def drain(wait):
        """Reads every answer that is there, waiting up to wait for the first."""
        nonlocal answers
        while True:
            ready, _, _ = select.select([c.sock for c in socks], [], [], wait)
            if not ready:
                return
            wait = 0
            for sk in ready:
                try:
                    f = sk.recv(65536)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                answers += 1
                try:
                    m = Message.parse(f)
                except ValueError as e:
                    bad.append("unparsable answer (%s)" % e)
                    continue
                if m.error_code != 400 or want.pop(m.tid, None) is None:
                    bad.append("unexpected answer " + m.describe())

    for _ in range(args.rounds):
        for i, (d, answered) in enumerate(malformed_datagrams(rng)):
            c = socks[i % len(socks)]
            if answered:
                want[d[8:20]] = d
            c.send(d)
            sent += 1
            if sent % 64 == 0:
                drain(0)
    end = time.monotonic() + args.timeout
    while want and time.monotonic() < end:
        drain(0.2)
    drain(0.3)
    for c in socks:
        c.close()
    print("sent %d malformed datagrams, %d answers" % (sent, answers))
    for b in bad[:5]:
        print("FAIL: " + b)
    if want:
        print("FAIL: %d malformed requests with a sound header got no 400, e.g. %s" % (
            len(want), next(iter(want.values()))[:24].hex()))
    return 1 if bad or want else 0


def wait_closed(c, deadline):
    """True when the server closes (FIN or RST) before deadline, after
    reading whatever it sent first."""
    while time.monotonic() < deadline:
        r, _, _ = select.select([c.sock], [], [], max(0, deadline - time.monotonic()))
        if not r:
            continue
        try:
            if not c.sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except BlockingIOError:
            pass
    return False


def cmd_tcp_garbage(args):
    rng = random.Random(args.seed)
    c = Client(args.server, args.source, True, args.timeout)
    # Random bytes, except that the first one is neither STUN (00) nor a
    # channel number (01): then the very first byte is proof of garbage. A
    # start that looks like ChannelData would have the server wait for
    # the announced length, as it must.
    junk = bytes([rng.randint(0x80, 0xFF)]) + rng.randbytes(511)
    try:
        c.send(junk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not wait_closed(c, time.monotonic() + args.timeout):
        print("FAIL: the server kept the connection after %d bytes of garbage" % len(junk))
        return 1
    print("closed after %d bytes of garbage starting %s" % (len(junk), junk[:4].hex()))
    return 0


def cmd_tcp_huge(args):
    c = Client(args.server, args.source, True, args.timeout)
    hdr = header(BINDING, REQUEST, args.length, os.urandom(12))
    c.send(hdr + bytes(64))
    if not wait_closed(c, time.monotonic() + args.timeout):
        print("FAIL: the server kept the connection after a header announcing %d bytes"
              % args.length)
        return 1
    print("closed after a STUN header announcing %d bytes" % args.length)
    return 0


def cmd_tcp_stall(args):
    a = Client(args.server, args.source, True, args.timeout)
    tid = os.urandom(12)
    req = encode(BINDING, REQUEST, tid, [(SOFTWARE, b"stalled")])
    a.send(req[:args.cut])
    # Meanwhile others are served, on TCP and on UDP.
    end = time.monotonic() + args.hold
    n = 0
    while True:
        for tcp in (True, False):
            b = Client(args.server, args.source, tcp, args.timeout)
            r, _ = b.request(BINDING, [], auth=False)
            b.close()
            if r is None or r.cls != SUCCESS:
                print("FAIL: Binding over %s while a frame is stalled: %s" % (
                    "TCP" if tcp else "UDP", "no answer" if r is None else r.describe()))
                return 1
            n += 1
        if time.monotonic() >= end:
            break
        time.sleep(0.2)
    # The rest of the frame completes it.
    r = a.transact(req[args.cut:], tid)
    if r is None or r.cls != SUCCESS:
        print("FAIL: the stalled Binding, once completed: %s" % (
            "no answer" if r is None else r.describe()))
        return 1
    print("%d Bindings answered while %d of %d bytes stalled %.1fs; then answered too" % (
        n, args.cut, len(req), args.hold))
    return 0


# ---- command line ---------------------------------------------------------------

def main(argv):
    p = argparse.ArgumentParser(description="raw STUN/TURN client for tests",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("-s", dest="server", default="198.18.0.1:3478", help="server HOST:PORT")
    p.add_argument("-b", dest="source", help="source address to bind")
    p.add_argument("-P", dest="port", type=int, default=0,
                   help="source port of client @1 (to come back to its 5-tuple)")
    p.add_argument("-t", dest="tcp", action="store_true", help="TCP instead of UDP")
    p.add_argument("-u", dest="user", default="", help="user name")
    p.add_argument("-w", dest="password", default="", help="password")
    p.add_argument("-T", dest="timeout", type=float, default=3.0, help="answer timeout, s")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="protocol steps")
    r.add_argument("steps", nargs="+")
    r.set_defaults(func=cmd_run)
    sub.add_parser("binding").set_defaults(func=cmd_binding)
    f = sub.add_parser("flood", help="malformed datagrams")
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("--rounds", type=int, default=3)
    f.set_defaults(func=cmd_flood)
    g = sub.add_parser("tcp-garbage")
    g.add_argument("--seed", type=int, default=1)
    g.set_defaults(func=cmd_tcp_garbage)
    h = sub.add_parser("tcp-huge")
    h.add_argument("--length", type=int, default=0xFFFC)
    h.set_defaults(func=cmd_tcp_huge)
    s = sub.add_parser("tcp-stall")
    s.add_argument("--cut", type=int, default=10, help="bytes sent before the stall")
    s.add_argument("--hold", type=float, default=2.0, help="seconds of stall")
    s.set_defaults(func=cmd_tcp_stall)
    args = p.parse_args(argv)
    args.server = parse_hostport(args.server, 3478)
    args.user, args.password = args.user.encode(), args.password.encode()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
