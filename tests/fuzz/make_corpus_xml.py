#!/usr/bin/env python3
"""make_corpus_xml.py - writes the seed corpus of tests/fuzz/fuzz_xml.c.

Run from the repository root: python3 tests/fuzz/make_corpus_xml.py
Writes tests/fuzz/corpus/fuzz_xml/seed-*; inputs found by fuzzing live next
to them and are left alone. A seed is one habits byte (see the harness:
bits 0-2 the piece size 1,2,3,7,16,100,1000,all; 8 stop every third
stanza; 16 stop at a header with to=; 32 small limits; 64 stop at the
stream's end; 128 copy stanzas), then the bytes of an XMPP stream."""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_xml")
STREAMS = "http://etherx.jabber.org/streams"
ALL, ONE, SEVEN, HUNDRED = 7, 0, 3, 5
STOP3, STOP_OPEN, SMALL, STOP_CLOSE, COPY = 8, 16, 32, 64, 128


def header(ns="jabber:client", extra="", to="example.com"):
    return (f"<stream:stream xmlns='{ns}' xmlns:stream='{STREAMS}' to='{to}' "
            f"version='1.0' xml:lang='en'{extra}>")


DECL = "<?xml version='1.0'?>"
CLIENT = DECL + header()
SERVER = DECL + header("jabber:server", " xmlns:db='jabber:server:dialback' from='a.example'")
COMPONENT = header("jabber:component:accept", to="comp.example.com")
END = "</stream:stream>"

STANZAS = {
    "message": "<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' "
               "type='chat' id='m1' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body>"
               "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
               "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "presence": "<presence><show>away</show><status>gone &amp; back &lt;soon&gt;</status>"
                "<priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                "node='http://example.com' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
    "iq-roster": "<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='ver7'>"
                 "<item jid='nurse@example.com' name='Nurse' subscription='both'>"
                 "<group>Servants</group></item><item jid='romeo@example.net' ask='subscribe'/>"
                 "</query></iq>",
    "iq-bind": "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>balcony</resource></bind></iq>",
    "iq-ping": "<iq type='get' id='p1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
    "prefixed-attrs": "<message xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' id='i' b:y='2' a:z='3'>"
                      "<b:data a:k='v' xml:lang='de'/><x xmlns=''/><xml:odd/></message>",
    "escapes": "<message id='q&apos;&quot;&lt;&gt;&amp;&#9;&#10;&#13;'><body>&lt;b&gt; "
               "&#x263A; &#128512; a&#13;&#10;b ]]&gt; <![CDATA[<raw> & ]]> ' \"</body></message>",
    "whitespace": "<message>\n  <body>\r\n\tindented\r\n  </body>\n</message>",
    "deep": "<iq type='set' id='d'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
            "<publish node='n'><item id='1'><entry xmlns='http://www.w3.org/2005/Atom'>"
            "<title>t</title><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
            "<p><b><i>x</i></b></p></div></content></entry></item></publish></pubsub></iq>",
    "starttls": "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "auth": "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"
            "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=</auth>",
    "dialback": "<db:result from='a.example' to='b.example'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>",
    "handshake": "<handshake>aaee83c26aeeafcbabeabfcafcd4fd34bbe92af2</handshake>",
    "utf8": "<message><body>\u00e9\u4e2d\u6587 \U0001f600 \u202e</body></message>",
}


def seed(habits, text):
    return bytes([habits]) + (text.encode() if isinstance(text, str) else text)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    body = "".join(v for k, v in STANZAS.items() if k != "dialback")
    # whole streams of each kind, fed in several ways
    seeds["client-all"] = seed(ALL, CLIENT + "\n" + body + " \n " + END)
    seeds["client-bytes"] = seed(ONE | COPY, CLIENT + body + END)
    seeds["client-seven"] = seed(SEVEN | STOP3, CLIENT + body + END)
    seeds["client-small"] = seed(HUNDRED | SMALL, CLIENT + body + END)
    seeds["server"] = seed(2, SERVER + STANZAS["dialback"] + STANZAS["message"] + END)
    seeds["component"] = seed(4, COMPONENT + STANZAS["handshake"] +
                              STANZAS["message"].replace("<message ", "<message xmlns='jabber:client' ") + END)
    # one stanza each, two ways
    for name, st in STANZAS.items():
        head = SERVER if name == "dialback" else CLIENT
        seeds["stanza-" + name] = seed(ALL, head + st)
        seeds["stanza-" + name + "-split"] = seed(SEVEN | COPY | SMALL, head + st + " " + st + END)
    # STARTTLS and SASL restarts: stop, reset, a new header
    seeds["restart-tls"] = seed(ALL | STOP3, CLIENT + STANZAS["iq-ping"] * 2 + STANZAS["starttls"] +
                                "<message>lost</message>" + CLIENT + STANZAS["message"])
    seeds["restart-open"] = seed(16 | 6, CLIENT + STANZAS["presence"] + CLIENT + STANZAS["presence"])
    seeds["restart-close"] = seed(STOP_CLOSE | 5, CLIENT + END + CLIENT + STANZAS["presence"] + END)
    seeds["empty-stream"] = seed(ALL, f"<stream:stream xmlns:stream='{STREAMS}'/>")
    seeds["bom"] = seed(ALL, b"\xef\xbb\xbf" + CLIENT.encode() + b"<presence/>")
    seeds["keepalives"] = seed(HUNDRED, CLIENT + " " * 3000 + "\n" * 50 + "<presence/>" + "\r\n" * 500)
    seeds["no-decl"] = seed(ALL, header() + "<presence/>" + END)
    # refusals (RFC 6120 11.1) and malformed input
    lol = "".join(f" <!ENTITY lol{i} '{('&lol%d;' % (i - 1)) * 10}'>\n" for i in range(1, 10))
    seeds["billion-laughs"] = seed(ALL, DECL + "<!DOCTYPE lolz [\n <!ENTITY lol0 'lol'>\n" + lol +
                                   "]>\n" + header() + "<message>&lol9;</message>")
    seeds["doctype-system"] = seed(ALL, "<!DOCTYPE stream SYSTEM 'x.dtd'>" + header())
    seeds["doctype-bytes"] = seed(ONE, "<!DOCTYPE x [<!ENTITY a 'b'>]>" + header())
    seeds["pi-prolog"] = seed(ALL, DECL + "<?xml-stylesheet href='a'?>" + header())
    seeds["pi-stream"] = seed(ALL, CLIENT + "<?php x ?>")
    seeds["pi-stanza"] = seed(3, CLIENT + "<message><?a b?></message>")
    seeds["comment-prolog"] = seed(ALL, "<!-- c -->" + CLIENT)
    seeds["comment-stanza"] = seed(ALL, CLIENT + "<message><body>x<!-- c --></body></message>")
    seeds["comment-stream"] = seed(ONE, CLIENT + "<!-- between -->")
    seeds["undefined-entity"] = seed(ALL, CLIENT + "<message><body>&nbsp;</body></message>")
    seeds["mismatched"] = seed(ALL, CLIENT + "<message><body></message></body>")
    seeds["duplicate-attr"] = seed(ALL, CLIENT + "<message a='1' a='2'/>")
    seeds["duplicate-ns-attr"] = seed(ALL, CLIENT + "<message xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>")
    seeds["unbound-prefix"] = seed(ALL, CLIENT + "<p:message/>")
    seeds["xmlns-reserved"] = seed(ALL, CLIENT + "<m xmlns:x='http://www.w3.org/2000/xmlns/'/>")
    seeds["xml-ns-default"] = seed(ALL, CLIENT + "<m xmlns='http://www.w3.org/XML/1998/namespace'/>")
    seeds["bad-char"] = seed(ALL, CLIENT + "<message>\x01&#0;</message>")
    seeds["bad-utf8"] = seed(ALL, CLIENT.encode() + b"<message>\xc0\x80\xed\xa0\x80\xff</message>")
    seeds["text-at-stream"] = seed(ALL, CLIENT + "hello")
    seeds["junk-after"] = seed(ALL, CLIENT + END + "<x/>")
    seeds["wrong-ns"] = seed(ALL, "<stream:stream xmlns:stream='urn:wrong'>")
    seeds["no-ns"] = seed(ALL, "<stream xmlns='jabber:client'>")
    seeds["wrong-root"] = seed(ALL, f"<stream:features xmlns:stream='{STREAMS}'/>")
    seeds["latin1"] = seed(ALL, "<?xml version='1.0' encoding='ISO-8859-1'?>" + header())
    seeds["utf16-decl"] = seed(ALL, "<?xml version='1.0' encoding='UTF-16'?>" + header())
    seeds["xml11"] = seed(ALL, "<?xml version='1.1'?>" + header())
    seeds["decl-late"] = seed(ALL, " " + DECL + header())
    seeds["cdata-at-stream"] = seed(ALL, CLIENT + "<![CDATA[x]]>")
    # limits: small (1024 bytes, depth 6, 6 attributes, 4 declarations) and default
    seeds["limit-size-small"] = seed(SMALL | HUNDRED, CLIENT + "<message><body>" + "x" * 1100 + "</body></message>")
    seeds["limit-size-tag"] = seed(SMALL | 4, CLIENT + "<message id='" + "y" * 1500)
    seeds["limit-size-header"] = seed(SMALL | 6, "<stream:stream a='" + "z" * 1500)
    seeds["limit-size-ok"] = seed(SMALL | 5, CLIENT + "<message><body>" + "x" * 900 + "</body></message>" * 1)
    seeds["limit-depth"] = seed(SMALL | ALL, CLIENT + "<a>" * 7 + "</a>" * 7)
    seeds["limit-depth-ok"] = seed(SMALL | ALL, CLIENT + "<a>" * 6 + "x" + "</a>" * 6)
    seeds["limit-depth-default"] = seed(ALL, CLIENT + "<a>" * 33 + "</a>" * 33)
    seeds["limit-attrs"] = seed(SMALL | ALL, CLIENT + "<a " + " ".join(f"a{i}='{i}'" for i in range(7)) + "/>")
    seeds["limit-attrs-header"] = seed(SMALL | ALL, header(extra=" a='1' b='2' c='3' d='4'"))
    seeds["limit-ns"] = seed(SMALL | ALL, CLIENT + "<a " + " ".join(f"xmlns:p{i}='urn:{i}'" for i in range(5)) + "/>")
    seeds["limit-ns-ok"] = seed(SMALL | ALL, CLIENT + "<a " + " ".join(f"xmlns:p{i}='urn:{i}' p{i}:x='{i}'" for i in range(4)) + "><b p0:y='1'/></a>")
    seeds["limit-memory"] = seed(ALL, CLIENT + "<a xmlns:p='urn:" + "u" * 15000 + "'>" + "<p:x/>" * 300)
    seeds["limit-tag"] = seed(6, CLIENT + "<message id='" + "t" * 17000 + "'/>")
    seeds["limit-tag-ok"] = seed(6, CLIENT + "<message id='" + "t" * 16000 + "'/>")
    seeds["limit-ns-long"] = seed(ALL, CLIENT + "<a xmlns:p='urn:" + "u" * 2000 + "'>" + "<p:x p:y=''/>" * 50 + "</a>")
    # truncated inputs: cut anywhere
    full = CLIENT + body + END
    for cut in (5, 30, 60, 120, 200, 400, 700, 1000, 1500):
        seeds[f"truncated-{cut}"] = seed(ALL, full[:cut])
    seeds["truncated-utf8"] = seed(ALL, CLIENT.encode() + "<message><body>\u4e2d".encode()[:-1])
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
