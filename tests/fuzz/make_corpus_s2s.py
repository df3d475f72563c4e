#!/usr/bin/env python3
"""make_corpus_s2s.py - writes the seed corpus of tests/fuzz/fuzz_s2s.c.

Run from the repository root: python3 tests/fuzz/make_corpus_s2s.py
Writes tests/fuzz/corpus/fuzz_s2s/seed-*; inputs found by fuzzing live next
to them and are left alone. A seed is one mode byte (see the harness: 1 a
valid stream header first, 2 STARTTLS first, 4 with a certificate for
them.example, 8 policy TLS optional, 16 policy certificate required,
32 allow list of them.example only, 64 a peer line making TLS optional for
them.example, 128 the direct TLS port), then what the foreign server sends,
in segments (the gateway's reads) separated by 0xff. The gateway serves
ours.example; evil.example is denied; dialback lookups always fail."""
import base64
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_s2s")
HEADER, STARTTLS, CERT, TLS_OPT, CERT_REQ, ALLOW, PEER, DIRECT = 1, 2, 4, 8, 16, 32, 64, 128
SEP = b"\xff"
STREAMS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
KEY = "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"
DECL = "<?xml version='1.0'?>"
END = "</stream:stream>"


def header(to="ours.example", frm="them.example", ns="jabber:server", ver="1.0", extra="",
           stream_ns=STREAMS, decl=True, db=True):
    attrs = f" xmlns='{ns}'" if ns is not None else ""
    attrs += f" xmlns:stream='{stream_ns}'"
    if db:
        attrs += " xmlns:db='jabber:server:dialback'"
    if frm is not None:
        attrs += f" from='{frm}'"
    if to is not None:
        attrs += f" to='{to}'"
    if ver is not None:
        attrs += f" version='{ver}'"
    return (DECL if decl else "") + f"<stream:stream{attrs}{extra}>"


H = header()


def db_result(frm="them.example", to="ours.example", key=KEY, extra=""):
    attrs = (f" from='{frm}'" if frm is not None else "") + (f" to='{to}'" if to is not None else "")
    return f"<db:result{attrs}{extra}>{key}</db:result>"


def db_verify(frm="them.example", to="ours.example", id_="0123456789abcdef0123456789abcdef",
              key=KEY, type_=None):
    attrs = (f" from='{frm}'" if frm is not None else "") + (f" to='{to}'" if to is not None else "")
    attrs += (f" id='{id_}'" if id_ is not None else "") + (f" type='{type_}'" if type_ else "")
    return f"<db:verify{attrs}>{key}</db:verify>"


def auth(authz="=", mech="EXTERNAL"):
    return f"<auth xmlns='{SASL_NS}' mechanism='{mech}'>{authz}</auth>"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def msg(frm="romeo@them.example/orchard", to="juliet@ours.example", body="hi", extra=""):
    return (f"<message from='{frm}' to='{to}' type='chat' id='m1'{extra}>"
            f"<body>{body}</body></message>")


PRESENCE = "<presence from='romeo@them.example' to='juliet@ours.example' type='subscribe'/>"
IQ = ("<iq from='them.example' to='ours.example' type='get' id='p1'>"
      "<ping xmlns='urn:xmpp:ping'/></iq>")
BIDI = "<bidi xmlns='urn:xmpp:bidi'/>"


def seed(mode, *segments):
    return bytes([mode]) + SEP.join(s.encode() if isinstance(s, str) else s for s in segments)


def main():
    os.makedirs(OUT, exist_ok=True)
    s = {}
    # stream headers
    s["header-valid"] = seed(HEADER, "")
    s["header-own"] = seed(0, H)
    s["header-no-decl"] = seed(0, header(decl=False))
    s["header-split"] = seed(0, *[H[i:i + 7] for i in range(0, len(H), 7)])
    s["header-wrong-ns"] = seed(0, header(ns="jabber:client"))
    s["header-no-default-ns"] = seed(0, header(ns=None))
    s["header-wrong-stream-ns"] = seed(0, header(stream_ns="urn:wrong"))
    s["header-wrong-to"] = seed(0, header(to="other.example"))
    s["header-no-to"] = seed(0, header(to=None))
    s["header-to-jid"] = seed(0, header(to="user@ours.example/res"))
    s["header-to-case-dot"] = seed(TLS_OPT, header(to="OURS.Example."), msg())
    s["header-no-from"] = seed(TLS_OPT, header(frm=None), db_result())
    s["header-from-denied"] = seed(0, header(frm="evil.example"))
    s["header-from-not-allowed"] = seed(ALLOW, header(frm="other.example"))
    s["header-from-long"] = seed(0, header(frm="a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 70))
    s["header-no-version"] = seed(0, header(ver=None))
    s["header-version-0.9"] = seed(0, header(ver="0.9"))
    s["header-version-2"] = seed(0, header(ver="2.0"))
    s["header-extra-attrs"] = seed(0, header(extra=" id='x' xml:lang='en' a='&amp;&lt;'"))
    s["header-twice"] = seed(TLS_OPT, H + H, db_result())
    s["header-no-db-ns"] = seed(TLS_OPT, header(db=False), "<result xmlns='jabber:server:dialback' "
                                "from='them.example' to='ours.example'>" + KEY + "</result>")
    # STARTTLS
    s["starttls-plain"] = seed(HEADER, f"<starttls xmlns='{TLS_NS}'/>")
    s["starttls-then-bytes"] = seed(HEADER, f"<starttls xmlns='{TLS_NS}'/>" + msg())
    s["starttls-then-garbage"] = seed(HEADER, f"<starttls xmlns='{TLS_NS}'/>", "\x16\x03\x01garbage")
    s["starttls-twice"] = seed(STARTTLS | HEADER, f"<starttls xmlns='{TLS_NS}'/>")
    s["starttls-no-header"] = seed(STARTTLS, msg())
    s["tls-features"] = seed(STARTTLS | CERT | HEADER, "")
    s["tls-no-cert-features"] = seed(STARTTLS | HEADER, " ")
    s["tls-wrong-ns"] = seed(HEADER, f"<starttls xmlns='urn:other'/>")
    # SASL EXTERNAL
    s["auth-before-tls"] = seed(HEADER, auth())
    s["auth-plain-tls-optional"] = seed(HEADER | TLS_OPT, auth())
    s["auth-external"] = seed(STARTTLS | CERT | HEADER, auth(), H, msg(), PRESENCE, IQ, END)
    s["auth-external-authz"] = seed(STARTTLS | CERT | HEADER, auth(b64("them.example")), H, msg())
    s["auth-external-wrong-authz"] = seed(STARTTLS | CERT | HEADER, auth(b64("other.example")))
    s["auth-external-bad-b64"] = seed(STARTTLS | CERT | HEADER, auth("!!!="))
    s["auth-external-long-authz"] = seed(STARTTLS | CERT | HEADER, auth("QUFB" * 120))
    s["auth-external-nul-authz"] = seed(STARTTLS | CERT | HEADER, auth(base64.b64encode(b"them.example\0x").decode()))
    s["auth-external-no-cert"] = seed(STARTTLS | HEADER, auth())
    s["auth-plain-mech"] = seed(STARTTLS | CERT | HEADER, auth(b64("\0u\0p"), mech="PLAIN"))
    s["auth-twice"] = seed(STARTTLS | CERT | HEADER, auth(), H, auth())
    s["auth-then-header-same-read"] = seed(STARTTLS | CERT | HEADER, auth() + H + msg())
    s["auth-restart-other-to"] = seed(STARTTLS | CERT | HEADER, auth(), header(to="other.example"))
    s["auth-response-abort"] = seed(STARTTLS | CERT | HEADER, f"<response xmlns='{SASL_NS}'/><abort xmlns='{SASL_NS}'/>")
    s["auth-direct-tls"] = seed(DIRECT | CERT | HEADER, auth(), H, msg(), BIDI, END)
    s["direct-tls-no-cert"] = seed(DIRECT | HEADER, db_result(), msg())
    s["direct-tls-starttls"] = seed(DIRECT | CERT | HEADER, f"<starttls xmlns='{TLS_NS}'/>")
    # stanzas after authentication
    s["stanzas-invalid-from"] = seed(STARTTLS | CERT | HEADER, auth(), H, msg(frm="x@other.example"))
    s["stanzas-no-from"] = seed(STARTTLS | CERT | HEADER, auth(), H, "<message to='a@ours.example'/>")
    s["stanzas-host-unknown"] = seed(STARTTLS | CERT | HEADER, auth(), H, msg(to="x@other.example"))
    s["stanzas-no-to"] = seed(STARTTLS | CERT | HEADER, auth(), H, "<presence from='them.example'/>")
    s["stanzas-error-type"] = seed(STARTTLS | CERT | HEADER, auth(), H,
                                   msg(extra=" xml:lang='en'").replace("type='chat'", "type='error'"),
                                   "<iq from='them.example' to='ours.example' type='result' id='r'/>")
    s["stanzas-unknown-element"] = seed(STARTTLS | CERT | HEADER, auth(), H, "<foo xmlns='jabber:server'/>")
    s["stanzas-client-ns"] = seed(STARTTLS | CERT | HEADER, auth(), H, "<message xmlns='jabber:client' "
                                  "from='them.example' to='ours.example'/>")
    s["stanzas-many"] = seed(STARTTLS | CERT | HEADER, auth(), H, (msg() + PRESENCE + IQ) * 30 + END)
    # dialback, receiving side (db:result)
    s["db-result"] = seed(HEADER | TLS_OPT, db_result())
    s["db-result-then-stanza"] = seed(HEADER | TLS_OPT, db_result(), msg())
    s["db-result-no-key"] = seed(HEADER | TLS_OPT, db_result(key=""))
    s["db-result-long-key"] = seed(HEADER | TLS_OPT, db_result(key=KEY + "00"))
    s["db-result-no-from"] = seed(HEADER | TLS_OPT, db_result(frm=None))
    s["db-result-bad-from"] = seed(HEADER | TLS_OPT, db_result(frm="them..example"))
    s["db-result-other-to"] = seed(HEADER | TLS_OPT, db_result(to="other.example"))
    s["db-result-denied"] = seed(HEADER | TLS_OPT, db_result(frm="evil.example"))
    s["db-result-tls-required"] = seed(HEADER, db_result())
    s["db-result-peer-line"] = seed(HEADER | PEER, db_result(), msg())
    s["db-result-cert-required"] = seed(HEADER | TLS_OPT | CERT_REQ, db_result())
    s["db-result-tls-cert"] = seed(STARTTLS | CERT | HEADER, db_result(), msg(), BIDI, msg())
    s["db-result-tls-cert-other"] = seed(STARTTLS | CERT | HEADER, db_result(frm="other.example"))
    s["db-result-tls-no-cert"] = seed(STARTTLS | HEADER, db_result())
    s["db-result-many-domains"] = seed(HEADER | TLS_OPT, *[db_result(frm=f"d{i}.example") for i in range(12)])
    s["db-result-type"] = seed(HEADER | TLS_OPT, db_result(extra=" type='valid'"))
    s["db-result-entities"] = seed(HEADER | TLS_OPT, db_result(key="&lt;&amp;&#x41;&gt;"))
    s["db-result-children"] = seed(HEADER | TLS_OPT, db_result(key="<x/>" + KEY + "<y>z</y>"))
    # dialback, authoritative side (db:verify requests)
    s["db-verify"] = seed(HEADER | TLS_OPT, db_verify())
    s["db-verify-tls"] = seed(STARTTLS | HEADER, db_verify(), db_verify(key="0" * 64))
    s["db-verify-no-id"] = seed(HEADER | TLS_OPT, db_verify(id_=None))
    s["db-verify-no-to"] = seed(HEADER | TLS_OPT, db_verify(to=None))
    s["db-verify-other-to"] = seed(HEADER | TLS_OPT, db_verify(to="other.example"))
    s["db-verify-typed"] = seed(HEADER | TLS_OPT, db_verify(type_="valid"))
    s["db-verify-short-key"] = seed(HEADER | TLS_OPT, db_verify(key="abc"))
    s["db-verify-weird-attrs"] = seed(HEADER | TLS_OPT, db_verify(frm="a&apos;b", id_="&lt;'\"&gt;"))
    s["db-verify-flood"] = seed(HEADER | TLS_OPT, db_verify() * 50)
    s["db-unknown"] = seed(HEADER | TLS_OPT, "<db:other from='them.example' to='ours.example'/>")
    # bidi, stanzas before authentication
    s["bidi-plain"] = seed(HEADER | TLS_OPT, BIDI, msg())
    s["bidi-tls"] = seed(STARTTLS | CERT | HEADER, BIDI, auth(), H, msg())
    s["stanza-before-auth"] = seed(HEADER | TLS_OPT, msg())
    s["stanza-before-tls"] = seed(HEADER, msg())
    s["iq-before-auth-tls"] = seed(STARTTLS | HEADER, IQ)
    s["stanza-before-header"] = seed(0, msg())
    # XML abuse
    s["oversized-stanza"] = seed(HEADER | TLS_OPT, "<message><body>" + "x" * 17000 + "</body></message>")
    s["oversized-tag"] = seed(HEADER | TLS_OPT, "<message id='" + "y" * 17000)
    s["deep-nesting"] = seed(HEADER | TLS_OPT, "<message>" + "<a>" * 40 + "</a>" * 40 + "</message>")
    s["many-attrs"] = seed(HEADER | TLS_OPT, "<message " + " ".join(f"a{i}='{i}'" for i in range(70)) + "/>")
    s["dtd"] = seed(0, DECL + "<!DOCTYPE stream:stream [<!ENTITY x 'y'>]>" + header(decl=False))
    s["billion-laughs"] = seed(0, DECL + "<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 "
                               "'&lol;&lol;&lol;&lol;'>]>" + header(decl=False) + "<message>&lol2;</message>")
    s["entity-undeclared"] = seed(HEADER | TLS_OPT, "<message>&xxe;</message>")
    s["pi-comment"] = seed(HEADER | TLS_OPT, "<?evil x?><!-- c --><message/>")
    s["garbage"] = seed(0, b"\x00\x01\x02\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)))
    s["garbage-after-header"] = seed(HEADER, b"<<<>>>\x00\xfe")
    s["bad-utf8"] = seed(HEADER | TLS_OPT, b"<message><body>\xc0\x80\xed\xa0\x80</body></message>")
    s["http-request"] = seed(0, "GET / HTTP/1.1\r\nHost: ours.example\r\n\r\n")
    s["whitespace"] = seed(HEADER | TLS_OPT, " \n\t ", " ", db_result(), "\r\n")
    # endings
    s["stream-close"] = seed(HEADER, END)
    s["stream-close-then-more"] = seed(HEADER | TLS_OPT, END + msg())
    s["stream-error"] = seed(HEADER, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:"
                         "xmpp-streams'/></stream:error>" + END)
    s["restart-without-auth"] = seed(HEADER | TLS_OPT, H, db_result())
    for name, data in s.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{len(s)} seeds in {OUT}")


if __name__ == "__main__":
    main()
