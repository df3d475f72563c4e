#!/usr/bin/python3
"""fedlink_peer.py - the edge's side of the federation link (xmpp/fedlink.h),
for the core's integration tests: raw sockets, the link's XML stream parsed
with expat, the handshake's HMAC-SHA256 proofs, and XMPP clients on the
core (slixmpp, through xmppc.py) to see what the link delivers.

LINK is HOST:PORT (the core's [xmpp] link-listen), or mux:HOST:PORT: the
edge's tunnel forward, where the link is one stream of service
CW_MUX_SVC_XMPP on the tunnel link (common/mux.h), as the edge opens it.
KEY is the link key file (its bytes as they are).

  fedlink_peer.py refused LINK KEY
      handshake with a wrong proof; prints the stream error condition.
  fedlink_peer.py domains LINK KEY NODE DOMAIN...
      handshake; the core's proof must verify and name NODE, and its
      <domains/> must list every DOMAIN. Prints the domains.
  fedlink_peer.py inbound LINK KEY CHOST CPORT JID PASS FOREIGN
      JID logs in on CHOST:CPORT; a message from FOREIGN (a foreign
      address) to JID's bare address over the link must reach it.
  fedlink_peer.py spoofed LINK KEY CHOST CPORT JID PASS OWN FOREIGN
      over the link: a message from OWN (an address in the core's own
      domain) to JID, one from FOREIGN to nobody@not-served.example; then a
      good one from FOREIGN. Only the good one may arrive.
  fedlink_peer.py outbound LINK KEY CHOST CPORT JID PASS TO
      JID sends a message to TO (a foreign address): it must come out on
      the link from JID; the link answers it with a remote-server-timeout
      error, which JID must get.
  fedlink_peer.py no-link CHOST CPORT JID PASS TO
      with no link up, a message from JID to TO must come back with the
      error remote-server-not-found.
  fedlink_peer.py watch LINK KEY DOMAIN READYFILE
      handshake, writes READYFILE, then waits for a <domains/> listing
      DOMAIN (the core sends it again when its domains change).
  fedlink_peer.py hold LINK KEY READYFILE SECONDS
      handshake, writes READYFILE, keeps the link up for SECONDS.
  fedlink_peer.py receive CHOST CPORT JID PASS BODY READYFILE
      JID logs in, writes READYFILE, and waits for a message with BODY.
  fedlink_peer.py send LINK KEY FROM TO BODY
      handshake, then a message FROM -> TO with BODY over the link.
  fedlink_peer.py mux-refused HOST:PORT SVC
      opens a stream of service SVC on the tunnel link at HOST:PORT (the
      edge's tunnel forward); prints the RESET code the core answers with.
Exit 0 on success; the reason of a failure on stderr.
"""
import asyncio
import hashlib
import hmac
import os
import secrets
import struct
import sys
import xml.etree.ElementTree as ET
import xml.parsers.expat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NS_LINK = "urn:causeway:link"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_SERVER = "jabber:server"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TIMEOUT = 20

MUX_PREFACE = b"CWMUX/1\n"
MUX_OPEN, MUX_DATA, MUX_FIN, MUX_RESET, MUX_WINDOW = 1, 2, 3, 4, 5
SVC_XMPP = 1


def fail(why):
    raise SystemExit(why)


def proof(key, label, a, b):
    return hmac.new(key, (label + a + " " + b).encode(), hashlib.sha256).hexdigest()


class Stream:
    """The link's bytes: a TCP connection, or a stream of a tunnel link."""

    def __init__(self, reader, writer, mux):
        self.r, self.w, self.mux = reader, writer, mux
        self.buf = b""

    @classmethod
    async def connect(cls, spec):
        mux = spec.startswith("mux:")
        host, port = spec[4:].rsplit(":", 1) if mux else spec.rsplit(":", 1)
        r, w = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
        s = cls(r, w, mux)
        if mux:
            w.write(MUX_PREFACE + s.frame(MUX_OPEN, 1, bytes([SVC_XMPP])))
            if await asyncio.wait_for(r.readexactly(len(MUX_PREFACE)), TIMEOUT) != MUX_PREFACE:
                fail("the tunnel forward does not speak the tunnel link")
        return s

    @staticmethod
    def frame(t, sid, payload=b""):
        return struct.pack(">BI", t, sid) + len(payload).to_bytes(3, "big") + payload

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.mux:
            for i in range(0, len(data), 16384):
                self.w.write(self.frame(MUX_DATA, 1, data[i:i + 16384]))
        else:
            self.w.write(data)

    async def read(self):
        """The next bytes of the link; b"" at its end."""
        if not self.mux:
            return await self.r.read(65536)
        while True:
            try:
                h = await self.r.readexactly(8)
            except asyncio.IncompleteReadError:
                return b""
            t, sid = struct.unpack(">BI", h[:5])
            n = int.from_bytes(h[5:], "big")
            p = await self.r.readexactly(n) if n else b""
            if sid != 1:
                continue
            if t == MUX_DATA:
                self.w.write(self.frame(MUX_WINDOW, 1, struct.pack(">I", n)))
                return p
            if t == MUX_FIN:
                return b""
            if t == MUX_RESET:
                fail("the core reset the federation stream (code %d)" % struct.unpack(">I", p)[0])

    def close(self):
        self.w.close()


class Link:
    """The XML stream over a Stream: the core's header, then its top-level
    elements as ElementTree elements ({namespace}name)."""

    def __init__(self, stream):
        self.s = stream
        self.header = None
        self.queue = []
        self.stack = []
        self.closed = False
        p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.text
        self.p = p

    @staticmethod
    def name(n):
        return "{%s}%s" % tuple(n.split(" ", 1)) if " " in n else n

    def start(self, name, attrs):
        attrs = {self.name(k): v for k, v in attrs.items()}
        if self.header is None:
            self.header = attrs
            return
        e = ET.Element(self.name(name), attrs)
        if self.stack:
            self.stack[-1].append(e)
        self.stack.append(e)

    def end(self, name):
        if not self.stack:
            self.closed = True
            return
        e = self.stack.pop()
        if not self.stack:
            self.queue.append(e)

    def text(self, t):
        if self.stack:
            e = self.stack[-1]
            if len(e):
                e[-1].tail = (e[-1].tail or "") + t
            else:
                e.text = (e.text or "") + t

    async def next(self, timeout=TIMEOUT):
        """The next top-level element, or None at the stream's end."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while not self.queue:
            if self.closed:
                return None
            left = end - loop.time()
            if left <= 0:
                fail("timed out waiting for the core")
            data = await asyncio.wait_for(self.s.read(), left)
            if not data:
                self.closed = True
                return None
            self.p.Parse(data, False)
        return self.queue.pop(0)

    async def wait_header(self):
        loop = asyncio.get_event_loop()
        end = loop.time() + TIMEOUT
        while self.header is None:
            data = await asyncio.wait_for(self.s.read(), max(0.1, end - loop.time()))
            if not data:
                fail("the core closed the link before its stream header")
            self.p.Parse(data, False)

    async def open(self, key, wrong=False):
        """Header and handshake. Returns the core's answer to the proof:
        (node, domains) when accepted."""
        self.nonce = secrets.token_hex(16)
        self.s.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                    "xmlns:stream='http://etherx.jabber.org/streams' nonce='%s' version='1.0'>"
                    % self.nonce)
        await self.wait_header()
        cid, node = self.header.get("id", ""), self.header.get("from", "")
        if len(cid) != 32 or any(c not in "0123456789abcdef" for c in cid):
            fail("the core's stream id %r is not 32 hex digits" % cid)
        if self.header.get("version") != "1.0":
            fail("the core's stream header has no version='1.0'")
        edge = proof(key if not wrong else key + b"x", "causeway-link edge ", cid, self.nonce)
        self.s.send("<handshake xmlns='urn:causeway:link'>%s</handshake>" % edge)
        self.cid, self.node = cid, node
        return self

    async def accepted(self, key):
        """After open(): the core's handshake and domains, both checked."""
        h = await self.next()
        if h is None or h.tag != "{%s}handshake" % NS_LINK:
            fail("wanted the core's <handshake/>, got %s" % (None if h is None else ET.tostring(h)))
        want = proof(key, "causeway-link core ", self.nonce, self.cid)
        if not hmac.compare_digest(h.get("proof", ""), want):
            fail("the core's proof does not verify")
        if h.get("node") != self.node:
            fail("the core's handshake names node %r, its header %r" % (h.get("node"), self.node))
        d = await self.next()
        if d is None or d.tag != "{%s}domains" % NS_LINK:
            fail("wanted <domains/> after the handshake")
        return self.node, domains_of(d)

    def send(self, xml):
        self.s.send(xml)


def domains_of(e):
    return [d.text for d in e.findall("{%s}domain" % NS_LINK)]


def read_key(path):
    with open(path, "rb") as f:
        return f.read()


async def link_up(spec, keyfile):
    key = read_key(keyfile)
    link = Link(await Stream.connect(spec))
    await link.open(key)
    node, domains = await link.accepted(key)
    return link, node, domains


async def refused(spec, keyfile):
    link = Link(await Stream.connect(spec))
    await link.open(read_key(keyfile), wrong=True)
    e = await link.next()
    if e is None or e.tag != "{%s}error" % NS_STREAM:
        fail("wanted a stream error, got %s" % (None if e is None else ET.tostring(e)))
    conds = [c.tag.split("}")[1] for c in e if c.tag.startswith("{%s}" % NS_STREAMS)]
    print(conds[0] if conds else "none")
    if await link.next() is not None:
        fail("the link stayed open after the stream error")


async def domains(spec, keyfile, node, *want):
    link, got_node, got = await link_up(spec, keyfile)
    if got_node != node:
        fail("the core says it is node %r, not %r" % (got_node, node))
    missing = [d for d in want if d not in got]
    if missing:
        fail("<domains/> lacks %s (it lists %s)" % (missing, got))
    print(" ".join(got))
    link.s.close()


async def login(chost, cport, jid, pw):
    import xmppc
    c = await xmppc.login(chost, cport, jid, pw)
    c.errors = []
    c.add_event_handler("message_error", lambda m: c.errors.append(m))
    return c


async def wait_for(cond, what, timeout=TIMEOUT):
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            fail("timed out waiting for " + what)
        await asyncio.sleep(0.05)


def message(frm, to, body, mid="m1", mtype="chat"):
    return ("<message from='%s' to='%s' id='%s' type='%s'><body>%s</body></message>"
            % (frm, to, mid, mtype, body))


async def inbound(spec, keyfile, chost, cport, jid, pw, foreign):
    c = await login(chost, cport, jid, pw)
    link, _, _ = await link_up(spec, keyfile)
    bare = jid.split("/")[0]
    link.send(message(foreign, bare, "hello from afar"))
    await wait_for(lambda: "hello from afar" in c.msgs, "the message from %s" % foreign)
    print("%s got the message from %s over the link" % (jid, foreign))
    c.disconnect()
    link.s.close()


async def spoofed(spec, keyfile, chost, cport, jid, pw, own, foreign):
    c = await login(chost, cport, jid, pw)
    link, _, _ = await link_up(spec, keyfile)
    bare = jid.split("/")[0]
    link.send(message(own, bare, "spoofed from our own domain", "s1"))
    link.send(message(foreign, "nobody@not-served.example", "not for this node", "s2"))
    link.send(message(foreign, bare, "the good one", "s3"))
    await wait_for(lambda: "the good one" in c.msgs, "the good message")
    await asyncio.sleep(1)
    if c.msgs != ["the good one"]:
        fail("%s got %s: a dropped stanza was delivered" % (jid, c.msgs))
    print("only the good message arrived")
    c.disconnect()
    link.s.close()


async def outbound(spec, keyfile, chost, cport, jid, pw, to):
    c = await login(chost, cport, jid, pw)
    link, _, _ = await link_up(spec, keyfile)
    c.send_message(mto=to, mbody="to a foreign server", mtype="chat")
    while True:
        e = await link.next()
        if e is None:
            fail("the link closed before the message came out")
        if e.tag == "{%s}message" % NS_SERVER:
            break
    body = e.find("{%s}body" % NS_SERVER)
    if e.get("to") != to or not (e.get("from") or "").startswith(jid.split("/")[0] + "/") or \
            body is None or body.text != "to a foreign server":
        fail("the link got %s" % ET.tostring(e))
    print("the link got <message from='%s' to='%s'>" % (e.get("from"), e.get("to")))
    # The edge could not deliver: it answers over the link, from the foreign address.
    link.send("<message from='%s' to='%s' id='%s' type='error'><error type='wait'>"
              "<remote-server-timeout xmlns='%s'/></error></message>"
              % (to, e.get("from"), e.get("id", ""), NS_STANZAS))
    await wait_for(lambda: c.errors, "the error from the link")
    cond = c.errors[0]["error"]["condition"]
    if cond != "remote-server-timeout":
        fail("%s got the error %s" % (jid, cond))
    print("%s got the edge's remote-server-timeout back" % jid)
    c.disconnect()
    link.s.close()


async def no_link(chost, cport, jid, pw, to):
    c = await login(chost, cport, jid, pw)
    c.send_message(mto=to, mbody="nobody to take it", mtype="chat")
    await wait_for(lambda: c.errors, "an error")
    cond = c.errors[0]["error"]["condition"]
    if cond != "remote-server-not-found":
        fail("%s got the error %s" % (jid, cond))
    print("%s got remote-server-not-found" % jid)
    c.disconnect()


async def watch(spec, keyfile, domain, readyfile):
    link, _, got = await link_up(spec, keyfile)
    if domain in got:
        fail("%s is listed already" % domain)
    with open(readyfile, "w") as f:
        f.write(" ".join(got))
    while True:
        e = await link.next(TIMEOUT)
        if e is None:
            fail("the link closed")
        if e.tag == "{%s}domains" % NS_LINK and domain in domains_of(e):
            print(" ".join(domains_of(e)))
            break
    link.s.close()


async def hold(spec, keyfile, readyfile, seconds):
    link, _, _ = await link_up(spec, keyfile)
    with open(readyfile, "w") as f:
        f.write("up")
    await asyncio.sleep(float(seconds))
    link.s.close()


async def receive(chost, cport, jid, pw, body, readyfile):
    c = await login(chost, cport, jid, pw)
    with open(readyfile, "w") as f:
        f.write("in")
    await wait_for(lambda: body in c.msgs, "the message %r" % body)
    print("%s got %r" % (jid, body))
    c.disconnect()


async def send(spec, keyfile, frm, to, body):
    link, _, _ = await link_up(spec, keyfile)
    link.send(message(frm, to, body))
    await asyncio.sleep(1)     # the core reads it before the link ends
    link.s.close()


async def mux_refused(spec, svc):
    host, port = spec.rsplit(":", 1)
    r, w = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
    w.write(MUX_PREFACE + Stream.frame(MUX_OPEN, 1, bytes([int(svc)]) if int(svc) else b""))
    if await asyncio.wait_for(r.readexactly(len(MUX_PREFACE)), TIMEOUT) != MUX_PREFACE:
        fail("the tunnel forward does not speak the tunnel link")
    while True:
        h = await asyncio.wait_for(r.readexactly(8), TIMEOUT)
        t, sid = struct.unpack(">BI", h[:5])
        n = int.from_bytes(h[5:], "big")
        p = await asyncio.wait_for(r.readexactly(n), TIMEOUT) if n else b""
        if sid == 1 and t == MUX_RESET:
            print(struct.unpack(">I", p)[0])
            break
        if sid == 1 and t in (MUX_DATA, MUX_FIN):
            fail("the stream was taken, not refused")
    w.close()


def main():
    a = sys.argv[1:]
    cmds = {"mux-refused": (mux_refused, 2), "receive": (receive, 6), "send": (send, 5),
            "refused": (refused, 2), "domains": (domains, None), "inbound": (inbound, 7),
            "spoofed": (spoofed, 8), "outbound": (outbound, 7), "no-link": (no_link, 5),
            "watch": (watch, 4), "hold": (hold, 4)}
    if not a or a[0] not in cmds or (cmds[a[0]][1] is not None and len(a) - 1 != cmds[a[0]][1]):
        sys.exit(__doc__)
    loop = asyncio.get_event_loop()
    loop.run_until_complete(cmds[a[0]][0](*a[1:]))


if __name__ == "__main__":
    main()
