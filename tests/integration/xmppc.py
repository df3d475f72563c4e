#!/usr/bin/python3
"""xmppc.py - XMPP clients for the core's integration tests (slixmpp, and raw
sockets for what no well-behaved client sends).

  xmppc.py chat HOST[,HOST2] PORT[,PORT2] JID1 PASS1 JID2 PASS2 N [MECH]
      both log in (JID2 on HOST2:PORT2 when given: another cluster node;
      PACE=SECONDS in the environment spaces the messages out, READYFILE is
      written when they start to flow;
      MECH forces a SASL mechanism), JID1 subscribes to JID2,
      JID2 approves, each must see the other available; then N messages each
      way must arrive in order. Exit 0 on success.
  xmppc.py component HOST[,COMPHOST] PORT COMPDOMAIN SECRET CPORT JID PASS
      a ComponentXMPP on (COMPHOST or HOST):CPORT echoes messages; the client
      JID (on HOST:PORT) sends one to COMPDOMAIN and must get the echo back.
  xmppc.py component-srv DNS DOMAIN COMPDOMAIN SECRET READYFILE CHOST CPORT JID PASS
      a call bridge as CMS runs one: it looks up _xmpp-component._tcp.DOMAIN
      at the DNS server DNS, connects to the first target in priority
      order, writes the target it is on to READYFILE, and when that node
      goes away connects to the next one that answers; then the client JID
      (on CHOST:CPORT) must get an echo from it. Prints the targets used.
  xmppc.py component-refused HOST CPORT COMPDOMAIN SECRET
      the component must fail to connect (handshake refused).
  xmppc.py login-fails HOST PORT JID PASS
      the login must fail (wrong password).
  xmppc.py crafted HOST,HOST2 PORT JID1 PASS1 JID2 PASS2
      JID1 (on HOST) sends JID2 (on HOST2: another cluster node) a message
      whose tag is small as sent but would pass the parser's tag limit
      written out (an attribute of apostrophes, each written as &apos;):
      JID1's stream must end with policy-violation, JID2 must not get it,
      and a message from JID1's next session must still reach JID2 across
      the cluster link; so must one just under the limit from a resource
      of apostrophes (the stamped from makes it longer on the link).
  xmppc.py slow-reader HOST PORT JID1 PASS1 JID2 PASS2 MB
      JID2 logs in and stops reading (its socket's receive buffer made
      small); JID1 sends it MB megabytes of messages, then must still get an
      answer to a ping of its own.
  xmppc.py roster-fill HOST PORT JID PASS N
      JID adds N contacts to its roster (roster sets, one at a time); then
      one more must be refused with the stanza error it prints.
  xmppc.py idle HOST PORT JID PASS SECONDS [freeze]
      JID logs in and sends nothing for SECONDS (slixmpp answers the
      server's pings), then must get a message it sends itself; with
      freeze it neither reads nor answers (a host gone without a word) and
      only waits.
  xmppc.py raw HOST PORT CASE
      sends a hostile stream (CASE: laughs, oversize, malformed, pi, notls)
      and prints the stream error condition the server answered with.
"""
import asyncio
import logging
import os
import socket
import ssl
import sys
import time

import slixmpp

TIMEOUT = 20


def insecure(xmpp):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    xmpp.ssl_context = ctx


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, pw, mech=None):
        super().__init__(jid, pw)
        insecure(self)
        if mech:
            self['feature_mechanisms'].use_mechs = {mech}
        self.register_plugin('xep_0199')
        self.started = asyncio.get_event_loop().create_future()
        self.msgs = []
        self.avail = set()
        self.failed = False
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_msg)
        self.add_event_handler("got_online", lambda p: self.avail.add(p['from'].bare))
        self.add_event_handler("failed_auth", self.on_failed)

    def on_failed(self, ev):
        self.failed = True
        if not self.started.done():
            self.started.set_result(False)

    async def on_start(self, ev):
        self.send_presence()
        await self.get_roster()
        if not self.started.done():
            self.started.set_result(True)

    def on_msg(self, msg):
        if msg['type'] in ('chat', 'normal'):
            self.msgs.append(msg['body'])


async def wait_for(cond, what, timeout=TIMEOUT):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise SystemExit("timed out waiting for " + what)
        await asyncio.sleep(0.05)


async def login(host, port, jid, pw, mech=None):
    c = Client(jid, pw, mech)
    c.connect((host, int(port)))
    ok = await asyncio.wait_for(c.started, TIMEOUT)
    if not ok:
        raise SystemExit(jid + ": login failed")
    return c


async def chat(host, port, j1, p1, j2, p2, n, mech=None):
    h1, h2 = (host.split(',') + [host])[:2]
    o1, o2 = (port.split(',') + [port])[:2]
    a = await login(h1, o1, j1, p1, mech)
    b = await login(h2, o2, j2, p2, mech)
    b.auto_authorize = True
    b.auto_subscribe = True
    a.send_presence(pto=slixmpp.JID(j2).bare, ptype='subscribe')
    await wait_for(lambda: slixmpp.JID(j2).bare in a.avail, j2 + " available at " + j1)
    await wait_for(lambda: slixmpp.JID(j1).bare in b.avail, j1 + " available at " + j2)
    # The roster push follows the change's way through the cluster's log: it
    # may come a moment after the contact's presence.
    bare2 = slixmpp.JID(j2).bare
    try:
        await wait_for(lambda: a.client_roster[bare2]['subscription'] in ('to', 'both'),
                       "the roster push", 5)
    except SystemExit:
        raise SystemExit("roster of %s: subscription to %s is %s" %
                         (j1, j2, a.client_roster[bare2]['subscription']))
    pace = float(os.environ.get("PACE", "0"))   # seconds between messages
    if pace and os.environ.get("READYFILE"):
        open(os.environ["READYFILE"], "w").write("flowing")
    for i in range(n):
        a.send_message(mto=j2, mbody="a%d" % i, mtype='chat')
        b.send_message(mto=j1, mbody="b%d" % i, mtype='chat')
        if pace:
            await asyncio.sleep(pace)
    await wait_for(lambda: len(a.msgs) >= n and len(b.msgs) >= n, "messages")
    if b.msgs[:n] != ["a%d" % i for i in range(n)] or a.msgs[:n] != ["b%d" % i for i in range(n)]:
        raise SystemExit("messages out of order or changed")
    await a['xep_0199'].ping(jid=slixmpp.JID(j1).domain, timeout=5)
    print("%s and %s: subscribed both ways, %d messages each way, ping answered" % (j1, j2, n))
    a.disconnect()
    b.disconnect()


async def crafted(host, port, j1, p1, j2, p2):
    h1, h2 = (host.split(',') + [host])[:2]
    b = await login(h2, port, j2, p2)
    a = await login(h1, port, j1, p1)
    cond = asyncio.get_event_loop().create_future()
    a.add_event_handler("stream_error",
                        lambda e: cond.done() or cond.set_result(e['condition']))
    a.add_event_handler("disconnected", lambda e: cond.done() or cond.set_result('(closed)'))
    a.send_raw("<message to='%s' type='chat' x=\"%s\"><body>crafted</body></message>"
               % (b.boundjid.full, "'" * 5000))
    got = await asyncio.wait_for(cond, TIMEOUT)
    if got != 'policy-violation':
        raise SystemExit("the crafted message's stream ended with " + got)
    a.disconnect()
    a = await login(h1, port, j1, p1)
    a.send_message(mto=b.boundjid.full, mbody="after", mtype='chat')
    await wait_for(lambda: "after" in b.msgs, "the next message across the cluster link")
    if "crafted" in b.msgs:
        raise SystemExit("the crafted message was delivered")
    a.disconnect()
    # Just under the limit, from a resource of apostrophes: the from that
    # node 1 stamps makes the tag longer still, and node 2 must take it.
    a = await login(h1, port, slixmpp.JID(j1).bare + "/" + "'" * 200, p1)
    a.send_raw("<message to='%s' type='chat' x=\"%s\"><body>near</body></message>"
               % (b.boundjid.full, "'" * 1000))
    await wait_for(lambda: "near" in b.msgs, "the message just under the limit")
    print("crafted message refused (policy-violation); the next one, and one just under "
          "the limit from a long resource, crossed the cluster link")
    a.disconnect()
    b.disconnect()


async def slow_reader(host, port, j1, p1, j2, p2, mb):
    b = await login(host, port, j2, p2)
    b.transport.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b.transport.pause_reading()
    a = await login(host, port, j1, p1)
    body = 'x' * 60000
    last = time.time()
    for i in range(int(mb) * (1 << 20) // len(body) + 1):
        a.send_message(mto=b.boundjid.full, mbody=body, mtype='chat')
        if i % 8 == 7:
            await asyncio.sleep(0)      # slixmpp's sender drains its queue
        if time.time() - last > 1:      # alive, only not reading: no ping cuts it first
            b.send_raw(' ')
            last = time.time()
    await a['xep_0199'].ping(jid=slixmpp.JID(j1).domain, timeout=60)
    print("%s sent %s MB to %s, which did not read; its own ping was answered" % (j1, mb, j2))
    a.disconnect()


async def roster_fill(host, port, jid, pw, n):
    c = await login(host, port, jid, pw)
    for i in range(int(n)):
        await c.update_roster("c%d@remote.example" % i, name="c%d" % i, timeout=TIMEOUT)
    try:
        await c.update_roster("one-more@remote.example", name="late", timeout=TIMEOUT)
    except slixmpp.exceptions.IqError as e:
        print("%s contacts added; the next: %s" % (n, e.iq['error']['condition']))
    else:
        raise SystemExit("a roster set past %s contacts was taken" % n)
    c.disconnect()


async def idle(host, port, jid, pw, seconds, freeze=None):
    c = await login(host, port, jid, pw)
    c.whitespace_keepalive = False
    c.cancel_schedule('Whitespace Keepalive')
    if freeze:
        c.transport.pause_reading()
        await asyncio.sleep(float(seconds))
        print("%s froze for %s s" % (jid, seconds))
        return
    await asyncio.sleep(float(seconds))
    c.send_message(mto=c.boundjid.full, mbody="still here", mtype='chat')
    await wait_for(lambda: "still here" in c.msgs, "its own message after %s s idle" % seconds)
    print("%s idle for %s s, answering pings: still connected" % (jid, seconds))
    c.disconnect()


class Echo(slixmpp.ComponentXMPP):
    def __init__(self, jid, secret, host, port):
        super().__init__(jid, secret, host, int(port))
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", lambda ev: self.ready.done() or self.ready.set_result(True))
        self.add_event_handler("message", self.echo)
        self.add_event_handler("disconnected", lambda ev: self.ready.done() or self.ready.set_result(False))

    def echo(self, msg):
        msg.reply("echo: " + msg['body']).send()


async def component(host, port, comp, secret, cport, jid, pw):
    """HOST may be CLIENTHOST,COMPHOST: the client logs in on the first
    (PORT), the component connects to the second (CPORT), so they can be
    different cluster nodes."""
    hosts = host.split(',')
    e = Echo(comp, secret, hosts[-1] if len(hosts) > 1 else host, cport)
    host = hosts[0]
    e.connect()
    if not await asyncio.wait_for(e.ready, TIMEOUT):
        raise SystemExit("component " + comp + " could not connect")
    c = await login(host, port, jid, pw)
    c.send_message(mto="bridge@" + comp, mbody="hello", mtype='chat')
    await wait_for(lambda: "echo: hello" in c.msgs, "the component's echo")
    print("component %s authenticated and echoed a message from %s" % (comp, jid))
    c.disconnect()
    e.disconnect()


async def srv_targets(dns, name):
    import aiodns
    r = aiodns.DNSResolver(nameservers=[dns])
    ans = await r.query(name, 'SRV')
    out = []
    # RFC 2782: lowest priority first (weights are equal in the test); the
    # target's address from the same server.
    for a in sorted(ans, key=lambda a: (a.priority, -a.weight)):
        addr = (await r.query(a.host, 'A'))[0].host
        out.append((a.host, addr, a.port))
    return out


async def first_answering(comp, secret, targets, skip=None):
    """The first SRV target (in order) where the component gets in."""
    for host, addr, port in targets:
        if host == skip:
            continue
        e = Echo(comp, secret, addr, port)
        e.connect()
        if await got_in(e.ready, 10):
            return host, e
    raise SystemExit("no component target answered")


async def component_srv(dns, domain, comp, secret, readyfile, chost, cport, jid, pw):
    targets = await srv_targets(dns, "_xmpp-component._tcp." + domain)
    first, e = await first_answering(comp, secret, targets)
    gone = asyncio.get_event_loop().create_future()
    e.add_event_handler("disconnected", lambda ev: gone.done() or gone.set_result(True))
    open(readyfile, "w").write(first)
    await asyncio.wait_for(gone, 60)
    # Its node went away: the next target that answers, as the SRV order says.
    second, e = await first_answering(comp, secret, targets, skip=first)
    used = [first, second]
    c = await login(chost, cport, jid, pw)
    # Until the cluster has a leader again and has recorded the bridge's new
    # node, a stanza may still go to the node that died: a client sends
    # again, as a person would.
    end = time.time() + 20
    while "echo: after failover" not in c.msgs:
        if time.time() > end:
            raise SystemExit("no echo from the component within 20 s of its reconnection")
        c.send_message(mto="bridge@" + comp, mbody="after failover", mtype='chat')
        await asyncio.sleep(0.5)
    print("component on %s, then on %s after that node went away; echo received" % tuple(used[:2]))


async def got_in(fut, secs):
    """Whether a connection's "ready" future says it got in within secs."""
    try:
        return await asyncio.wait_for(fut, secs)
    except asyncio.TimeoutError:
        return False


async def component_refused(host, cport, comp, secret):
    e = Echo(comp, secret, host, cport)
    e.connect()
    if await got_in(e.ready, 8):
        raise SystemExit("component connected with a wrong secret")
    print("component %s refused" % comp)


async def login_fails(host, port, jid, pw):
    c = Client(jid, pw)
    c.connect((host, int(port)))
    if await got_in(c.started, 10):
        raise SystemExit("logged in with a wrong password")
    print("login of %s refused" % jid)


RAW_HEAD = ("<?xml version='1.0'?><stream:stream to='example.test' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")


def raw(host, port, case):
    """Hostile input before TLS (the parser sees it first) or, for cases that
    need it, after STARTTLS. Prints the stream error condition."""
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    if case == 'laughs':
        data = ("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
                "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
                "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
                "<stream:stream to='example.test' xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>&lol3;")
    elif case == 'malformed':
        data = RAW_HEAD + "<message><body>x</mess></body>"
    elif case == 'pi':
        data = RAW_HEAD + "<?evil do-this?>"
    elif case == 'notls':
        data = RAW_HEAD + ("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                           "mechanism='PLAIN'>AGFsaWNlAHg=</auth>")
    elif case == 'oversize':
        data = RAW_HEAD + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    else:
        raise SystemExit("unknown case " + case)
    s.sendall(data.encode())
    got = b''
    if case == 'oversize':
        # Through TLS: a stanza bigger than the limit after the new stream.
        while b'<proceed' not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("no <proceed/>")
            got += chunk
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname='example.test')
        s.sendall(RAW_HEAD.encode())
        big = "<message to='x@example.test'><body>" + "A" * (1 << 20) + "</body></message>"
        try:
            s.sendall(big.encode())
        except OSError:
            pass
        got = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (OSError, ssl.SSLError):
        pass
    text = got.decode(errors='replace')
    i = text.find("<stream:error>")
    if i < 0:
        raise SystemExit("no stream error in: " + text[-300:])
    cond = text[i + 15:].split()[0].split('/')[0].split('>')[0]
    print(cond)


def main():
    logging.basicConfig(level=logging.ERROR)
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    cmd = a[0]
    loop = asyncio.get_event_loop()
    if cmd == 'chat':
        loop.run_until_complete(chat(a[1], a[2], a[3], a[4], a[5], a[6], int(a[7]),
                                     a[8] if len(a) > 8 else None))
    elif cmd == 'component':
        loop.run_until_complete(component(*a[1:8]))
    elif cmd == 'component-srv':
        loop.run_until_complete(component_srv(*a[1:10]))
    elif cmd == 'component-refused':
        loop.run_until_complete(component_refused(*a[1:5]))
    elif cmd == 'login-fails':
        loop.run_until_complete(login_fails(*a[1:5]))
    elif cmd == 'crafted':
        loop.run_until_complete(crafted(*a[1:7]))
    elif cmd == 'slow-reader':
        loop.run_until_complete(slow_reader(*a[1:8]))
    elif cmd == 'roster-fill':
        loop.run_until_complete(roster_fill(*a[1:6]))
    elif cmd == 'idle':
        loop.run_until_complete(idle(*a[1:7]))
    elif cmd == 'raw':
        raw(a[1], a[2], a[3])
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
