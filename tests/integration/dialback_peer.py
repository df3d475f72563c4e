#!/usr/bin/python3
"""dialback_peer.py - a foreign server that abuses XMPP Server Dialback
(XEP-0220) against the edge's federation gateway, for xmpp_federation.sh.
Runs in the test's outside namespace; raw sockets, no XMPP library.

  dialback_peer.py silent ADDR DOMAIN CERT KEY
      DOMAIN's authoritative server on ADDR:5269: it takes the edge's
      outbound stream (STARTTLS with CERT/KEY, then dialback), says our
      key is valid (so the edge's stream to DOMAIN is ready), and never
      answers a <db:verify/>. Prints "verify N" for each one it gets, and
      "closed" when the edge closes a stream.
  dialback_peer.py claim EDGE OURS DOMAIN NCONN NPER WAIT
      NCONN streams to EDGE:5269, each with STARTTLS, each claiming to be
      DOMAIN NPER times (<db:result/> with a key: the edge must ask DOMAIN's
      authoritative server); then reads every answer for WAIT seconds.
      Prints "valid=A invalid=B constraint=C other=D silent=E": answers by
      kind, and streams that got no answer at all.
"""
import re
import select
import socket
import ssl
import sys
import threading
import time

HEAD = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
        "from='%s' to='%s' version='1.0'%s>")
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"


def read_until(s, got, pattern, what):
    while not re.search(pattern, got):
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed before " + what)
        got += chunk.decode(errors='replace')
    return got


def silent_conn(s, domain, cert, key, n):
    got = read_until(s, '', r"<stream:stream[^>]*>", "the stream header")
    ours = re.search(r"from=['\"]([^'\"]+)", got).group(1)
    s.sendall((HEAD % (domain, ours, " id='s%d'" % n)).encode() +
              ("<stream:features><starttls xmlns='%s'><required/></starttls>"
               "</stream:features>" % TLS_NS).encode())
    read_until(s, got, r"<starttls", "<starttls/>")
    s.sendall(("<proceed xmlns='%s'/>" % TLS_NS).encode())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = ctx.wrap_socket(s, server_side=True)
    got = read_until(s, '', r"<stream:stream[^>]*>", "the stream header after TLS")
    s.sendall((HEAD % (domain, ours, " id='t%d'" % n)).encode() +
              b"<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>")
    got = read_until(s, got, r"</(?:db:)?result>", "the edge's <db:result/>")
    s.sendall(("<db:result from='%s' to='%s' type='valid'/>" % (domain, ours)).encode())
    seen = 0
    while True:
        while seen < len(re.findall(r"<(?:db:)?verify[ >]", got)):
            seen += 1
            print("verify %d" % seen, flush=True)
        try:
            chunk = s.recv(65536)
        except OSError:
            chunk = b''
        if not chunk:
            print("closed", flush=True)
            return
        got += chunk.decode(errors='replace')


def silent(addr, domain, cert, key):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, 5269))
    ls.listen(16)
    print("listening", flush=True)
    n = 0
    while True:
        s, _ = ls.accept()
        n += 1

        def run(s=s, n=n):
            try:
                silent_conn(s, domain, cert, key, n)
            except (EOFError, OSError, ssl.SSLError) as e:
                print("stream %d: %s" % (n, e), flush=True)
        threading.Thread(target=run, daemon=True).start()


def claim_conn(edge, ours, domain, nper, n):
    s = socket.create_connection((edge, 5269), timeout=10)
    s.sendall((HEAD % (domain, ours, "")).encode())
    got = read_until(s, '', r"</stream:features>", "the stream features")
    s.sendall(("<starttls xmlns='%s'/>" % TLS_NS).encode())
    read_until(s, got, r"<proceed", "<proceed/>")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(s, server_hostname=ours)
    s.sendall((HEAD % (domain, ours, "")).encode())
    read_until(s, '', r"</stream:features>", "the stream features after TLS")
    s.sendall("".join("<db:result from='%s' to='%s'>%064x</db:result>" % (domain, ours, n * 100 + i)
                      for i in range(nper)).encode())
    return s


def claim(edge, ours, domain, nconn, nper, wait):
    socks = [claim_conn(edge, ours, domain, int(nper), n) for n in range(int(nconn))]
    texts = [''] * len(socks)
    live = {s: i for i, s in enumerate(socks)}
    for s in socks:
        s.settimeout(1)
    end = time.time() + float(wait)
    while live and time.time() < end:
        ready, _, _ = select.select(list(live), [], [], 0.2)
        for s in ready:
            try:
                chunk = s.recv(65536)
                while chunk and s.pending():
                    chunk += s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                chunk = b''
            if chunk:
                texts[live[s]] += chunk.decode(errors='replace')
            else:
                del live[s]
    answers = [m for t in texts
               for m in re.findall(r"<(?:db:)?result[^>]*type=['\"](\w+)['\"][^>]*>", t)]
    constraint = sum(t.count("resource-constraint") for t in texts)
    print("valid=%d invalid=%d constraint=%d other=%d silent=%d" % (
        answers.count('valid'), answers.count('invalid'), constraint,
        answers.count('error') - constraint, sum(1 for t in texts if not re.search(r"<(?:db:)?result", t))))


def main():
    a = sys.argv[1:]
    if a[:1] == ['silent'] and len(a) == 5:
        silent(*a[1:])
    elif a[:1] == ['claim'] and len(a) == 7:
        claim(*a[1:])
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
