#!/usr/bin/python3
"""fedc.py - XMPP clients for the federation test (xmpp_federation.sh): users
of our domain (on causeway-core, inside) and of foreign domains (on Prosody,
outside) in one process, each connection made in its own network namespace.

A server is NS:HOST:PORT, NS a name under /run/netns ("-": this process's
own namespace). The process runs in the root namespace; a client's socket is
created in NS (setns around socket(); a socket keeps the namespace it was
made in), then slixmpp connects and runs STARTTLS on it as usual.

  fedc.py chat SRV1 JID1 PASS1 SRV2 JID2 PASS2 N [TIMEOUT]
      both log in; JID1 adds JID2 to its roster and subscribes; JID2
      approves and subscribes back; each must see the other available and
      JID1's roster must say 'both' (or 'to'); then N messages each way must
      arrive in order (PACE=SECONDS in the environment spaces them out,
      READYFILE is written when they start to flow). Exit 0 on success;
      prints what it saw.
  fedc.py bounce SRV JID PASS TIMEOUT TO[=COND]...
      JID sends a chat message to each TO and waits up to TIMEOUT s for the
      message error that must come back from each. Prints "TO CONDITION"
      per error (or "TO none"); exit 0 when every TO got one whose condition
      is COND when given, else remote-server-not-found or
      remote-server-timeout.
  fedc.py component CSRV COMPDOMAIN SECRET TIMEOUT SRV JID PASS [SRV JID PASS...]
      an echoing component (XEP-0114, like a call bridge) connects to CSRV
      (the core's component port) as COMPDOMAIN with SECRET; then each JID
      in turn (on its SRV) sends a chat message to COMPDOMAIN and one to
      bridge@COMPDOMAIN; both echoes (from the address each went to) must
      come back within TIMEOUT s. Prints what arrived when.
  fedc.py flood SRV1 JID1 PASS1 SRV2 JID2 PASS2 N SIZE PID STOP TIMEOUT
      JID2 and JID1 log in; process PID (the core) is stopped (SIGSTOP);
      JID1 sends JID2 N messages of SIZE bytes each; STOP seconds after the
      first, PID goes on (SIGCONT); all N must arrive, in order, within
      TIMEOUT s. Prints how long the sending and the arrival took.
  fedc.py raw SRV DOMAIN CASE [FROM]
      hostile bytes (from the address FROM when given) to an s2s port (the
      edge's 5269): CASE garbage (bytes that are no XML at all), oversize
      (STARTTLS, a new stream, then a 1 MB stanza), from=PEER (a stream
      header from the domain PEER, then nothing). Prints the stream error
      condition the server answered with, or "closed" when it closed the
      connection without one (or "reset"); exit 1 when the connection
      stayed open for 15 s.
"""
import asyncio
import ctypes
import logging
import os
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
logging.getLogger('slixmpp.stringprep').setLevel(logging.ERROR)   # "Using slower stringprep"
import slixmpp  # noqa: E402
import xmppc  # noqa: E402  (Client, wait_for)

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_own_ns = None
NSMAP = {}      # (host, port) -> namespace name


def ns_socket(ns):
    """A TCP socket created in network namespace ns."""
    global _own_ns
    if ns in ("", "-"):
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if _own_ns is None:
        _own_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (ns, os.strerror(e)))
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            if _libc.setns(_own_ns, CLONE_NEWNET) != 0:
                raise SystemExit("cannot return to this process's network namespace")
    finally:
        os.close(fd)


def patch_loop(loop):
    """loop.create_connection to an address of NSMAP makes the socket in
    that address's namespace."""
    orig = loop.create_connection

    async def create_connection(factory, host=None, port=None, **kw):
        ns = NSMAP.get((host, int(port) if port else None))
        if ns is None:
            return await orig(factory, host, port, **kw)
        s = ns_socket(ns)
        s.setblocking(False)
        try:
            await loop.sock_connect(s, (host, int(port)))
        except OSError:
            s.close()
            raise
        return await orig(factory, sock=s, **kw)
    loop.create_connection = create_connection


def server(spec):
    ns, host, port = spec.split(":")
    NSMAP[(host, int(port))] = ns
    return host, int(port)


class Client(xmppc.Client):
    def __init__(self, jid, pw):
        super().__init__(jid, pw)
        self.errors = []        # (from bare JID, condition)
        self.add_event_handler("message_error", self.on_error)

    def on_error(self, msg):
        self.errors.append((msg['from'].bare, error_condition(msg)))


STANZAS_NS = '{urn:ietf:params:xml:ns:xmpp-stanzas}'


def error_condition(msg):
    """The defined condition of a stanza error, read from the XML:
    slixmpp's own list lacks RFC 6120's policy-violation."""
    for child in msg['error'].xml:
        if child.tag.startswith(STANZAS_NS) and child.tag != STANZAS_NS + 'text':
            return child.tag[len(STANZAS_NS):]
    return msg['error']['condition']


async def bye(*clients):
    """Ends the sessions and waits (briefly) until they are closed."""
    for c in clients:
        c.disconnect()
    try:
        await asyncio.wait_for(asyncio.gather(*(c.disconnected for c in clients)), 3)
    except asyncio.TimeoutError:
        pass


async def login(srv, jid, pw, timeout):
    host, port = server(srv)
    c = Client(jid, pw)
    c.connect((host, port))
    try:
        ok = await asyncio.wait_for(c.started, timeout)
    except asyncio.TimeoutError:
        raise SystemExit("%s: no session within %d s (%s:%d)" % (jid, timeout, host, port))
    if not ok:
        raise SystemExit(jid + ": login failed")
    return c


async def chat(s1, j1, p1, s2, j2, p2, n, timeout):
    t0 = time.time()
    a = await login(s1, j1, p1, timeout)
    b = await login(s2, j2, p2, timeout)
    b.auto_authorize = True
    b.auto_subscribe = True
    a.auto_authorize = True
    bare1, bare2 = slixmpp.JID(j1).bare, slixmpp.JID(j2).bare
    a.update_roster(bare2, name="contact")
    a.send_presence(pto=bare2, ptype='subscribe')
    await xmppc.wait_for(lambda: bare2 in a.avail, j2 + " available at " + j1, timeout)
    t_pres = time.time() - t0
    await xmppc.wait_for(lambda: bare1 in b.avail, j1 + " available at " + j2, timeout)
    try:
        await xmppc.wait_for(lambda: a.client_roster[bare2]['subscription'] in ('to', 'both'),
                             "the roster push", 10)
    except SystemExit:
        raise SystemExit("roster of %s: subscription to %s is %s" %
                         (j1, j2, a.client_roster[bare2]['subscription']))
    pace = float(os.environ.get("PACE", "0"))   # seconds between messages
    if os.environ.get("READYFILE"):
        open(os.environ["READYFILE"], "w").write("flowing")
    for i in range(n):
        a.send_message(mto=j2, mbody="a%d" % i, mtype='chat')
        b.send_message(mto=j1, mbody="b%d" % i, mtype='chat')
        if pace:
            await asyncio.sleep(pace)
    try:
        await xmppc.wait_for(lambda: len(a.msgs) >= n and len(b.msgs) >= n, "messages", timeout)
    except SystemExit:
        raise SystemExit("messages: %s got %d of %d, %s got %d of %d" %
                         (j2, len(b.msgs), n, j1, len(a.msgs), n))
    if b.msgs[:n] != ["a%d" % i for i in range(n)] or a.msgs[:n] != ["b%d" % i for i in range(n)]:
        raise SystemExit("messages out of order or changed")
    print("%s and %s: subscribed both ways (%s available after %.2f s), %d messages each way "
          "in %.2f s" % (j1, j2, j2, t_pres, n, time.time() - t0))
    await bye(a, b)


async def flood(s1, j1, p1, s2, j2, p2, n, size, pid, stop, timeout):
    b = await login(s2, j2, p2, timeout)
    a = await login(s1, j1, p1, timeout)
    body = "%0*d"
    t0 = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(n):
            a.send_message(mto=b.boundjid.full, mbody=body % (size, i), mtype='chat')
            if i % 8 == 7:
                await asyncio.sleep(0)      # slixmpp's sender drains its queue
        t_sent = time.time() - t0
        await asyncio.sleep(max(0.0, stop - t_sent))
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        await xmppc.wait_for(lambda: len(b.msgs) >= n, "messages", timeout)
    except SystemExit:
        raise SystemExit("%s got %d of %d messages" % (j2, len(b.msgs), n))
    if b.msgs[:n] != [body % (size, i) for i in range(n)]:
        raise SystemExit("messages out of order or changed")
    print("%d messages of %d bytes queued in %.1f s with the core stopped, all arrived after "
          "%.1f s" % (n, size, t_sent, time.time() - t0))
    await bye(a, b)


async def bounce(srv, jid, pw, timeout, tos):
    a = await login(srv, jid, pw, timeout)
    t0 = time.time()
    want = {}       # bare JID -> the conditions that will do
    for to in tos:
        to, _, cond = to.partition('=')
        a.send_message(mto=to, mbody="to nowhere", mtype='chat')
        want[slixmpp.JID(to).bare] = ((cond,) if cond else
                                      ('remote-server-not-found', 'remote-server-timeout'))
    end = time.time() + timeout
    while time.time() < end and not all(any(f == b for f, _ in a.errors) for b in want):
        await asyncio.sleep(0.05)
    good = True
    for b in want:
        conds = [c for f, c in a.errors if f == b]
        print("%s %s" % (b, conds[0] if conds else "none"))
        if not conds or conds[0] not in want[b]:
            good = False
    print("# after %.2f s" % (time.time() - t0))
    await bye(a)
    if not good:
        raise SystemExit(1)


async def component(csrv, comp, secret, timeout, users):
    host, port = server(csrv)
    e = xmppc.Echo(comp, secret, host, port)
    e.connect()
    try:
        ok = await asyncio.wait_for(e.ready, timeout)
    except asyncio.TimeoutError:
        ok = False
    if not ok:
        raise SystemExit("component %s: not connected to %s:%d within %d s" % (comp, host, port, timeout))
    for srv, jid, pw in users:
        c = await login(srv, jid, pw, timeout)
        froms = []
        c.add_event_handler("message", lambda m: froms.append((str(m['from']), m['body'])))
        t1 = time.time()
        want = []
        for to in (comp, "bridge@" + comp):
            c.send_message(mto=to, mbody="hello " + to, mtype='chat')
            want.append((to, "echo: hello " + to))
        try:
            await xmppc.wait_for(lambda: all(w in froms for w in want), "the component's echoes",
                                 timeout)
        except SystemExit:
            raise SystemExit("%s: echoes from %s: wanted %s, got %s; message errors: %s" %
                             (jid, comp, want, froms, c.errors))
        print("%s got the echoes of %s and bridge@%s in %.2f s" % (jid, comp, comp, time.time() - t1))
        await bye(c)
    e.disconnect()


HEAD = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='%s' "
        "version='1.0'>")


def read_until_close(s, got=b''):
    """What the server sends until it closes; 'reset' on a reset; None
    when it keeps the connection open 15 s."""
    end = time.time() + 15
    s.settimeout(1)
    while time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            return got, 'reset'
        if not chunk:
            return got, 'closed'
        got += chunk
    return got, None


def condition(text):
    i = text.find("<stream:error")
    if i < 0:
        return None
    rest = text[i:].split(">", 1)[1].lstrip()
    return rest[1:].split()[0].split('/')[0].split('>')[0]


def raw(srv, domain, case, bind=None):
    host, port = server(srv)
    s = ns_socket(NSMAP[(host, port)])
    if bind:
        s.bind((bind, 0))
    s.settimeout(10)
    s.connect((host, port))
    if case == 'garbage':
        # A valid stream header, then bytes no XML parser accepts.
        s.sendall((HEAD % ('foreign.example', domain)).encode() + b"\x00\x01\x02<<<!!! \xff\xfe garbage >>>\r\n")
    elif case == 'oversize':
        s.sendall((HEAD % ('foreign.example', domain)).encode())
        got = b''
        while b"</stream:features>" not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("closed before the stream features: %r" % got[-300:])
            got += chunk
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        while b"<proceed" not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("no <proceed/>: %r" % got[-300:])
            got += chunk
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=domain)
        s.sendall((HEAD % ('foreign.example', domain)).encode())
        big = ("<message from='x@foreign.example' to='alice@%s'><body>" % domain +
               "A" * (1 << 20) + "</body></message>")
        s.settimeout(10)
        try:
            s.sendall(big.encode())
        except OSError:
            pass
    elif case.startswith('from='):
        s.sendall((HEAD % (case[5:], domain)).encode())
    else:
        raise SystemExit("unknown case " + case)
    got, how = read_until_close(s)
    text = got.decode(errors='replace')
    cond = condition(text)
    if cond:
        print(cond)
    elif how:
        print(how)
    else:
        raise SystemExit("the connection stayed open 15 s; got: " + text[-300:])


def main():
    logging.basicConfig(level=logging.ERROR)
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    if a[0] == 'raw':
        raw(a[1], a[2], a[3], a[4] if len(a) > 4 else None)
        return
    loop = asyncio.get_event_loop()
    patch_loop(loop)
    if a[0] == 'chat':
        loop.run_until_complete(chat(a[1], a[2], a[3], a[4], a[5], a[6], int(a[7]),
                                     float(a[8]) if len(a) > 8 else 30))
    elif a[0] == 'bounce':
        loop.run_until_complete(bounce(a[1], a[2], a[3], float(a[4]), a[5:]))
    elif a[0] == 'flood' and len(a) == 12:
        loop.run_until_complete(flood(*a[1:7], int(a[7]), int(a[8]), int(a[9]), float(a[10]),
                                      float(a[11])))
    elif a[0] == 'component' and len(a) >= 8 and (len(a) - 5) % 3 == 0:
        loop.run_until_complete(component(a[1], a[2], a[3], float(a[4]),
                                          [a[i:i + 3] for i in range(5, len(a), 3)]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
