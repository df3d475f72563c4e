/* test_xml.c - XMPP's restricted streaming XML (xmpp/xml.c): whole streams
 * fed at once and byte by byte, the serializer and its round trip, every
 * refusal and limit, XML_STOP and reset, and the tree builders. */
#include "test.h"

#include "xmpp/xml.h"

#define NS_CLIENT "jabber:client"
#define XMLNS "http://www.w3.org/2000/xmlns/"
#define HEADER "<stream:stream xmlns='jabber:client' " \
               "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

/* What a stream's user heard. */
struct got {
    struct xml_node *head;     /* a copy of on_open's */
    struct xml_node *st[64];
    int n, opened, closed;
    const char *stop_at;       /* on_stanza answers XML_STOP for this name */
    int stop_open;             /* on_open answers XML_STOP */
    struct xml_stream *destroy_in;  /* on_stanza destroys this */
};

static int got_open(void *ctx, const struct xml_node *head)
{
    struct got *g = ctx;

    g->opened++;
    xml_node_free(g->head);
    g->head = xml_node_copy(head);
    CHECK(g->head != NULL);
    return g->stop_open ? XML_STOP : 0;
}

static int got_stanza(void *ctx, struct xml_node *s)
{
    struct got *g = ctx;

    CHECK(g->n < 64);
    CHECK(s->parent == NULL);
    g->st[g->n++] = s;
    if (g->destroy_in) {
        xml_stream_destroy(g->destroy_in);
        CHECK(xml_stream_reset(g->destroy_in) < 0);    /* still alive, but not here */
        g->destroy_in = NULL;
    }
    return g->stop_at && !strcmp(s->name, g->stop_at) ? XML_STOP : 0;
}

static int got_close(void *ctx)
{
    ((struct got *)ctx)->closed++;
    return 0;
}

static const struct xml_stream_cbs cbs = { got_open, got_stanza, got_close };

static void got_free(struct got *g)
{
    xml_node_free(g->head);
    for (int i = 0; i < g->n; i++)
        xml_node_free(g->st[i]);
    memset(g, 0, sizeof(*g));
}

static char cond_seen[64], reason_seen[160];

/* Feeds doc in pieces of step bytes (0: at once) until done or not 0. */
static int feed_all(struct xml_stream *xs, const char *doc, size_t len, size_t step)
{
    size_t off = 0, k;
    int rc = 0;

    while (off < len && rc == 0) {
        k = step && step < len - off ? step : len - off;
        rc = xml_stream_feed(xs, doc + off, k);
        off += k;
    }
    return rc;
}

static int run(const char *doc, size_t step, const struct xml_limits *lim, struct got *g)
{
    struct xml_stream *xs = xml_stream_create(lim, &cbs, g);
    const char *cond, *reason;
    int rc;

    CHECK(xs != NULL);
    rc = feed_all(xs, doc, strlen(doc), step);
    cond = xml_stream_error(xs, &reason);
    snprintf(cond_seen, sizeof(cond_seen), "%s", cond ? cond : "");
    snprintf(reason_seen, sizeof(reason_seen), "%s", reason);
    if (rc < 0)
        CHECK_EQ(xml_stream_feed(xs, HEADER, 3), -1);    /* broken for good */
    xml_stream_destroy(xs);
    return rc;
}

static void expect_error(const char *doc, const struct xml_limits *lim, const char *cond,
                         const char *reason)
{
    struct got g = { 0 };

    if (run(doc, 0, lim, &g) != -1)
        FAIL("no error for: %.200s", doc);
    if (strcmp(cond_seen, cond) || !strstr(reason_seen, reason))
        FAIL("for %.200s: got %s (%s), wanted %s (%s)", doc, cond_seen, reason_seen, cond, reason);
    got_free(&g);
    /* the same, byte by byte (big ones in bigger pieces: expat 2.5 rescans
     * a partial token on every feed) */
    CHECK_EQ(run(doc, strlen(doc) < 4096 ? 1 : 1000, lim, &g), -1);
    CHECK_STR(cond_seen, cond);
    got_free(&g);
}

static char *ser(const struct xml_node *n, const char *outer)
{
    struct cw_sb sb;
    char *s;

    cw_sb_init(&sb);
    xml_serialize(n, outer, &sb);
    CHECK(!sb.failed);
    s = strdup(cw_sb_str(&sb));
    cw_sb_free(&sb);
    return s;
}

static const char client_stream[] =
    "<?xml version='1.0'?>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    " to='example.com' version='1.0' xml:lang='en'>\n"
    "  <message to='juliet@example.com/balcony' type='chat' id='m1' xml:lang='fr'>"
    "<body>Wherefore art thou, Romeo? &amp; &lt;3 &#x263A;\n"
    "second line</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>\r\n \t "
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    "<presence/>  "
    "</stream:stream>";

static const char message_out[] =
    "<message to='juliet@example.com/balcony' type='chat' id='m1' xml:lang='fr'>"
    "<body>Wherefore art thou, Romeo? &amp; &lt;3 \xE2\x98\xBA\nsecond line</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";

TEST(xml_client_stream)
{
    struct got g = { 0 };
    struct xml_node *m, *b;
    struct cw_sb sb;

    CHECK_EQ(run(client_stream, 0, NULL, &g), 0);
    CHECK_EQ(g.opened, 1);
    CHECK_STR(g.head->name, "stream");
    CHECK_STR(g.head->ns, XML_NS_STREAM);
    CHECK_STR(xml_node_attr(g.head, "to"), "example.com");
    CHECK_STR(xml_node_attr(g.head, "version"), "1.0");
    CHECK(xml_node_attr(g.head, "lang") == NULL);
    CHECK_STR(xml_node_attr_ns(g.head, XML_NS_XML, "lang"), "en");
    /* the header's namespace declarations, as xmlns attributes */
    CHECK_STR(xml_node_attr_ns(g.head, XMLNS, "xmlns"), NS_CLIENT);
    CHECK_STR(xml_node_attr_ns(g.head, XMLNS, "stream"), XML_NS_STREAM);
    CHECK(g.head->child == NULL);

    CHECK_EQ(g.n, 3);
    CHECK_EQ(g.closed, 1);
    m = g.st[0];
    CHECK_STR(m->name, "message");
    CHECK_STR(m->ns, NS_CLIENT);
    CHECK_EQ(m->nattr, 4);
    CHECK_STR(xml_node_attr(m, "to"), "juliet@example.com/balcony");
    CHECK_STR(xml_node_attr_ns(m, XML_NS_XML, "lang"), "fr");
    b = xml_node_find(m, "body", NS_CLIENT);
    CHECK(b != NULL);
    cw_sb_init(&sb);
    /* one text node though expat reported pieces (references, newline) */
    CHECK(b->child && !b->child->name && b->child == b->last);
    CHECK_STR(xml_node_text(b, &sb), "Wherefore art thou, Romeo? & <3 \xE2\x98\xBA\nsecond line");
    cw_sb_free(&sb);
    CHECK(xml_node_find(m, "active", NULL) != NULL);
    CHECK_STR(xml_node_find(m, "active", NULL)->ns, "http://jabber.org/protocol/chatstates");
    CHECK(xml_node_find(m, "active", NS_CLIENT) == NULL);
    CHECK_STR(g.st[1]->name, "iq");
    CHECK_STR(g.st[1]->child->ns, "urn:xmpp:ping");
    CHECK_STR(g.st[2]->name, "presence");
    CHECK(g.st[2]->child == NULL);
    got_free(&g);
}

/* Any split of the input gives the same trees. */
TEST(xml_byte_at_a_time)
{
    struct got whole = { 0 }, g = { 0 };
    size_t steps[] = { 1, 2, 3, 7, 64 };
    char *a, *b;

    CHECK_EQ(run(client_stream, 0, NULL, &whole), 0);
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        CHECK_EQ(run(client_stream, steps[s], NULL, &g), 0);
        CHECK_EQ(g.n, whole.n);
        CHECK_EQ(g.closed, 1);
        for (int i = 0; i < g.n; i++) {
            a = ser(whole.st[i], NS_CLIENT);
            b = ser(g.st[i], NS_CLIENT);
            CHECK_STR(a, b);
            free(a);
            free(b);
        }
        got_free(&g);
    }
    got_free(&whole);
}

/* Parses one serialized stanza inside a fresh header in jabber:client. */
static struct xml_node *reparse(const char *stanza)
{
    struct got g = { 0 };
    struct cw_sb doc;
    struct xml_node *n;

    cw_sb_init(&doc);
    cw_sb_printf(&doc, "%s%s", HEADER, stanza);
    CHECK_EQ(run(cw_sb_str(&doc), 0, NULL, &g), 0);
    cw_sb_free(&doc);
    CHECK_EQ(g.n, 1);
    n = g.st[0];
    g.n = 0;
    got_free(&g);
    return n;
}

TEST(xml_round_trip)
{
    struct got g = { 0 };
    struct xml_node *again;
    char *s, *t;

    CHECK_EQ(run(client_stream, 0, NULL, &g), 0);
    s = ser(g.st[0], NS_CLIENT);
    CHECK_STR(s, message_out);
    again = reparse(s);
    t = ser(again, NS_CLIENT);
    CHECK_STR(t, s);
    free(t);
    free(s);
    xml_node_free(again);

    /* into a component stream: the top says where it came from, the
     * children keep inheriting it */
    s = ser(g.st[0], "jabber:component:accept");
    CHECK(!strncmp(s, "<message xmlns='jabber:client' to=", 34));
    CHECK(strstr(s, "<body>") != NULL);
    free(s);
    /* no namespace at all: undeclared */
    s = ser(g.st[1], "");
    CHECK(!strncmp(s, "<iq xmlns='jabber:client' ", 26));
    free(s);
    got_free(&g);

    /* namespaced attributes get generated prefixes; xml:lang stays xml: */
    again = reparse("<message xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' id='i' b:y='2' a:z='3'"
                    " xml:lang='de'><b:data a:k='v'/><x xmlns=''/></message>");
    s = ser(again, NS_CLIENT);
    CHECK_STR(s, "<message xmlns:ns0='urn:a' ns0:x='1' id='i' xmlns:ns2='urn:b' ns2:y='2'"
                 " ns0:z='3' xml:lang='de'><data xmlns='urn:b' xmlns:ns0='urn:a' ns0:k='v'/>"
                 "<x xmlns=''/></message>");
    xml_node_free(again);
    again = reparse(s);
    CHECK_STR(xml_node_attr_ns(again, "urn:b", "y"), "2");
    CHECK_STR(xml_node_attr_ns(xml_node_find(again, "data", "urn:b"), "urn:a", "k"), "v");
    CHECK_STR(xml_node_find(again, "x", "")->ns, "");
    t = ser(again, NS_CLIENT);
    CHECK_STR(t, s);
    free(t);
    free(s);
    xml_node_free(again);
}

TEST(xml_escaping)
{
    struct cw_sb sb;
    struct xml_node *n, *back;
    char *s;

    cw_sb_init(&sb);
    xml_escape(&sb, "a&b<c>d\"e'f", 11);
    CHECK_STR(cw_sb_str(&sb), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    cw_sb_free(&sb);

    n = xml_node_new("message", NS_CLIENT);
    CHECK(n != NULL);
    CHECK_EQ(xml_node_set_attr(n, "id", "it's \"x\" <&>\ttab\nnl\rcr"), 0);
    CHECK_EQ(xml_node_add_text(xml_node_add_child(n, "body", NULL), "<\"'>&\r\n\t]]>", 11), 0);
    s = ser(n, NS_CLIENT);
    CHECK_STR(s, "<message id='it&apos;s &quot;x&quot; &lt;&amp;&gt;&#9;tab&#10;nl&#13;cr'>"
                 "<body>&lt;\"'&gt;&amp;&#13;\n\t]]&gt;</body></message>");
    /* it comes back as it was */
    back = reparse(s);
    CHECK_STR(xml_node_attr(back, "id"), xml_node_attr(n, "id"));
    cw_sb_init(&sb);
    CHECK_STR(xml_node_text(xml_node_find(back, "body", NULL), &sb), "<\"'>&\r\n\t]]>");
    cw_sb_free(&sb);
    xml_node_free(back);
    free(s);
    xml_node_free(n);

    /* what is not an XML character never reaches the output */
    n = xml_node_new("x", NS_CLIENT);
    CHECK_EQ(xml_node_add_text(n, "a\0b\x01" "c\xff" "d\xC3\xA9\xED\xA0\x80\xEF\xBF\xBF", 15), 0);
    s = ser(n, NS_CLIENT);
    CHECK_STR(s, "<x>a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD" "d\xC3\xA9"
                 "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD</x>");
    xml_node_free(reparse(s));
    free(s);
    xml_node_free(n);
}

TEST(xml_refusals)
{
    /* RFC 6120 11.1 */
    expect_error("<?xml version='1.0'?>\n<!DOCTYPE lolz [\n"
                 " <!ENTITY lol 'lol'>\n"
                 " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
                 " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
                 " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
                 "]>\n<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol3;",
                 NULL, "restricted-xml", "DTD refused");
    expect_error("<!DOCTYPE stream:stream SYSTEM 'http://example.com/x.dtd'>"
                 "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
                 NULL, "restricted-xml", "DTD refused");
    expect_error("<?xml-stylesheet href='x'?>" HEADER, NULL, "restricted-xml",
                 "processing instruction");
    expect_error(HEADER "<?foo bar?>", NULL, "restricted-xml", "processing instruction");
    expect_error(HEADER "<message><?foo?></message>", NULL, "restricted-xml",
                 "processing instruction");
    expect_error("<!-- hi -->" HEADER, NULL, "restricted-xml", "comment");
    expect_error(HEADER "<message><body>a<!-- b --></body></message>", NULL, "restricted-xml",
                 "comment");
    /* not entities expat knows: malformed */
    expect_error(HEADER "<message><body>&lol;</body></message>", NULL, "not-well-formed",
                 "undefined entity");
    expect_error(HEADER "<message><body></message>", NULL, "not-well-formed", "mismatched tag");
    expect_error(HEADER "<message a='1' a='2'/>", NULL, "not-well-formed", "duplicate");
    expect_error(HEADER "<p:message/>", NULL, "not-well-formed", "unbound prefix");
    expect_error(HEADER "<message>\x01</message>", NULL, "not-well-formed", "line 1");
    expect_error(HEADER "<message>\xC0\x80</message>", NULL, "not-well-formed", "line 1");
    expect_error(HEADER "hello<message/>", NULL, "not-well-formed", "text outside");
    expect_error(HEADER "</stream:stream><x/>", NULL, "not-well-formed", "junk");
    /* RFC 6120 4.8.1, 4.9.3.10 */
    expect_error("<stream:stream xmlns:stream='urn:wrong'>", NULL, "invalid-namespace",
                 "urn:wrong");
    expect_error("<stream xmlns='jabber:client'>", NULL, "invalid-namespace", "");
    expect_error("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>", NULL,
                 "not-well-formed", "features");
    /* RFC 6120 11.6 */
    expect_error("<?xml version='1.0' encoding='ISO-8859-1'?>" HEADER, NULL,
                 "unsupported-encoding", "ISO-8859-1");
}

TEST(xml_allowed)
{
    struct got g = { 0 };

    /* declaration (UTF-8 said or not), CDATA, character references,
     * an empty stream, a BOM */
    CHECK_EQ(run("<?xml version='1.0' encoding='utf-8'?>" HEADER
                  "<message><body><![CDATA[<not a tag> & ]]>&#60;&#x3e;</body></message>"
                  "</stream:stream>", 1, NULL, &g), 0);
    CHECK_EQ(g.n, 1);
    CHECK_STR(g.st[0]->child->child->text, "<not a tag> & <>");
    got_free(&g);
    CHECK_EQ(run("\xEF\xBB\xBF<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
                 0, NULL, &g), 0);
    CHECK_EQ(g.opened, 1);
    CHECK_EQ(g.closed, 1);
    got_free(&g);
    /* server-to-server with dialback's namespace declared on the header */
    CHECK_EQ(run("<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback'"
                  " xmlns:stream='http://etherx.jabber.org/streams'>"
                  "<db:result from='a.example' to='b.example'>key</db:result>", 0, NULL, &g), 0);
    CHECK_STR(xml_node_attr_ns(g.head, XMLNS, "db"), "jabber:server:dialback");
    CHECK_STR(g.st[0]->ns, "jabber:server:dialback");
    got_free(&g);
}

TEST(xml_limits)
{
    struct xml_limits lim = { .max_stanza = 200 };
    struct got g = { 0 };
    char doc[1024], big[300000];
    struct xml_stream *xs;

    /* exactly 200 bytes passes, 201 does not (the header counts on its own) */
    snprintf(doc, sizeof(doc), HEADER "<message id='x'><body>%0*d</body></message>", 200 - 39, 0);
    CHECK_EQ(run(doc, 0, &lim, &g), 0);
    CHECK_EQ(g.n, 1);
    got_free(&g);
    CHECK_EQ(run(doc, 1, &lim, &g), 0);
    got_free(&g);
    snprintf(doc, sizeof(doc), HEADER "<message id='x'><body>%0*d</body></message>", 201 - 39, 0);
    expect_error(doc, &lim, "policy-violation", "stanza over 200 bytes");
    /* the default, counted while expat still holds the text */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, HEADER "<message><body>", strlen(HEADER) + 15);
    expect_error(big, NULL, "policy-violation", "stanza over 262144 bytes");
    /* a tag that never ends: expat 2.5 would rescan it on every feed */
    memcpy(big, HEADER "<message id='", strlen(HEADER) + 13);
    expect_error(big, NULL, "policy-violation", "a tag over 16384 bytes");
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "<stream:stream a='", 18);
    expect_error(big, NULL, "policy-violation", "a tag over 16384 bytes");
    snprintf(big, 100, "<stream:stream xmlns:stream='%s' a='", XML_NS_STREAM);
    big[strlen(big)] = 'a';
    memcpy(big + 16000, "'>", 3);    /* just under */
    CHECK_EQ(run(big, 7, NULL, &g), 0);
    CHECK_EQ(g.opened, 1);
    got_free(&g);
    /* whitespace keepalives between stanzas are never a stanza */
    xs = xml_stream_create(&lim, &cbs, &g);
    CHECK_EQ(xml_stream_feed(xs, HEADER, strlen(HEADER)), 0);
    memset(big, ' ', sizeof(big));
    CHECK_EQ(xml_stream_feed(xs, big, sizeof(big)), 0);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(xml_stream_feed(xs, "\n \r\n", 4), 0);
    CHECK_EQ(xml_stream_feed(xs, "<presence/>", 11), 0);
    CHECK_EQ(g.n, 1);
    xml_stream_destroy(xs);
    got_free(&g);

    /* depth below the stream */
    lim = (struct xml_limits){ .max_depth = 3 };
    CHECK_EQ(run(HEADER "<a><b><c>x</c></b></a>", 0, &lim, &g), 0);
    got_free(&g);
    expect_error(HEADER "<a><b><c><d/></c></b></a>", &lim, "policy-violation",
                 "nested over 3 deep");
    /* attributes per element, the header's too */
    lim = (struct xml_limits){ .max_attrs = 2 };
    CHECK_EQ(run("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a' "
                 "version='1.0'><a x='1' y='2'/>", 0, &lim, &g), 0);
    got_free(&g);
    lim.max_attrs = 1;
    expect_error(HEADER, &lim, "policy-violation", "<stream> with over 1 attributes");
    lim.max_attrs = 3;
    expect_error(HEADER "<a x='1' y='2' z='3' w='4'/>", &lim, "policy-violation",
                 "<a> with over 3 attributes");
    /* namespace declarations per element */
    lim = (struct xml_limits){ .max_ns = 2 };
    CHECK_EQ(run(HEADER "<a xmlns:p='urn:p' xmlns='urn:a'><b xmlns='urn:b' xmlns:q='urn:q'/></a>",
                 0, &lim, &g), 0);
    got_free(&g);
    expect_error(HEADER "<a xmlns:p='urn:p' xmlns:q='urn:q' xmlns='urn:a'/>", &lim,
                 "policy-violation", "over 2 namespace declarations");

    /* A tag must stay readable written out, where the stanza goes next
     * (another node, the edge): apostrophes in a double-quoted value are
     * written as &apos;, six times as long ... */
    {
        struct cw_sb sb;
        struct xml_node *n;

        cw_sb_init(&sb);
        cw_sb_printf(&sb, "%s<message to='b@x' a=\"", HEADER);
        for (int i = 0; i < 1200; i++)
            cw_sb_add(&sb, "'", 1);
        cw_sb_add(&sb, "\"/>", 3);
        expect_error(cw_sb_str(&sb), NULL, "policy-violation",
                     "<message> would be a tag over 7098 bytes written out");
        /* ... under the root's limit (it leaves room for from and to) it
         * passes, and its writing reads back */
        cw_sb_clear(&sb);
        cw_sb_printf(&sb, "%s<message to='b@x' a=\"", HEADER);
        for (int i = 0; i < 1000; i++)
            cw_sb_add(&sb, "'", 1);
        cw_sb_add(&sb, "\"/>", 3);
        CHECK_EQ(run(cw_sb_str(&sb), 0, NULL, &g), 0);
        CHECK_EQ(g.n, 1);
        n = g.st[0];
        cw_sb_clear(&sb);
        cw_sb_printf(&sb, "%s", HEADER);
        xml_serialize(n, "jabber:client", &sb);
        got_free(&g);
        CHECK_EQ(run(cw_sb_str(&sb), 0, NULL, &g), 0);
        CHECK_EQ(g.n, 1);
        got_free(&g);
        /* ... while on a link between our own processes, where stanzas
         * come stamped already, the root has the whole 16384 too */
        cw_sb_clear(&sb);
        cw_sb_printf(&sb, "%s<message to='b@x' a=\"", HEADER);
        for (int i = 0; i < 2500; i++)
            cw_sb_add(&sb, "'", 1);
        cw_sb_add(&sb, "\"/>", 3);
        {
            struct xml_limits stamped = { .stamped = 1 };

            CHECK_EQ(run(cw_sb_str(&sb), 0, &stamped, &g), 0);
            CHECK_EQ(g.n, 1);
            got_free(&g);
        }
        expect_error(cw_sb_str(&sb), NULL, "policy-violation",
                     "would be a tag over 7098 bytes written out (namespaces declared, "
                     "attributes escaped, from and to stamped)");
        /* ... and a child's tag has the whole 16384, into which go the
         * namespaces declared on the stream header that it uses (3 KB in,
         * 17 KB out here) */
        cw_sb_clear(&sb);
        cw_sb_str_add(&sb, "<stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams'");
        for (int p = 0; p < 2; p++) {
            cw_sb_printf(&sb, " xmlns:p%d='urn:%d:", p, p);
            for (int i = 0; i < 7000; i++)
                cw_sb_add(&sb, "u", 1);
            cw_sb_add(&sb, "'", 1);
        }
        cw_sb_str_add(&sb, "><message><x p0:a='1'/><y p0:a='1' p1:b='");
        for (int i = 0; i < 3000; i++)
            cw_sb_add(&sb, "v", 1);
        cw_sb_str_add(&sb, "'/></message>");
        expect_error(cw_sb_str(&sb), NULL, "policy-violation",
                     "<y> would be a tag over 16384 bytes written out");
        cw_sb_free(&sb);
    }

    /* memory: a short prefix standing for a long namespace, many times */
    {
        struct cw_sb sb;

        cw_sb_init(&sb);
        cw_sb_printf(&sb, "%s<a xmlns:p='urn:", HEADER);
        for (int i = 0; i < 1500; i++)
            cw_sb_add(&sb, "xxxxxxxxxx", 10);
        cw_sb_add(&sb, "'>", 2);
        for (int i = 0; i < 400; i++)
            cw_sb_add(&sb, "<p:x/>", 6);
        expect_error(cw_sb_str(&sb), NULL, "policy-violation", "bytes of memory");
        cw_sb_free(&sb);
    }
}

/* STARTTLS: nothing after <starttls/> in the same read is parsed; a reset
 * starts a new stream from its header (RFC 6120 5.4.3.3). */
TEST(xml_stop_and_reset)
{
    static const char first[] = HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                                       "<message>injected &bogus; <<<";
    struct got g = { .stop_at = "starttls" };
    struct xml_stream *xs = xml_stream_create(NULL, &cbs, &g);
    const char *reason;

    CHECK(xs != NULL);
    CHECK_EQ(xml_stream_feed(xs, first, sizeof(first) - 1), XML_STOP);
    CHECK_EQ(g.n, 1);
    CHECK_STR(g.st[0]->ns, "urn:ietf:params:xml:ns:xmpp-tls");
    CHECK(xml_stream_error(xs, &reason) == NULL);
    CHECK_EQ(xml_stream_reset(xs), 0);
    CHECK_EQ(feed_all(xs, "<?xml version='1.0'?>" HEADER "<message to='a'/>",
                      strlen(HEADER) + 38, 1), 0);
    CHECK_EQ(g.opened, 2);
    CHECK_EQ(g.n, 2);
    CHECK_STR(g.st[1]->ns, NS_CLIENT);
    /* stopping again, then feeding without a reset is a caller's bug */
    CHECK_EQ(xml_stream_feed(xs, "<starttls/>", 11), XML_STOP);
    CHECK_EQ(xml_stream_feed(xs, " ", 1), -1);
    CHECK_STR(xml_stream_error(xs, &reason), "internal-server-error");
    /* a broken stream can be reset too */
    CHECK_EQ(xml_stream_reset(xs), 0);
    CHECK_EQ(xml_stream_feed(xs, HEADER "</stream:stream>", strlen(HEADER) + 16), 0);
    CHECK_EQ(g.closed, 1);
    xml_stream_destroy(xs);
    got_free(&g);

    /* on_open can stop too (a stream restart's header, then TLS) */
    g.stop_open = 1;
    xs = xml_stream_create(NULL, &cbs, &g);
    CHECK_EQ(xml_stream_feed(xs, HEADER "<presence/>", strlen(HEADER) + 11), XML_STOP);
    CHECK_EQ(g.opened, 1);
    CHECK_EQ(g.n, 0);
    xml_stream_destroy(xs);
    got_free(&g);

    /* destroying from a callback is deferred until feed returns */
    xs = xml_stream_create(NULL, &cbs, &g);
    g.destroy_in = xs;
    CHECK_EQ(xml_stream_feed(xs, HEADER "<presence/><message/>", strlen(HEADER) + 21), XML_STOP);
    CHECK_EQ(g.n, 1);
    got_free(&g);
}

TEST(xml_builders)
{
    struct xml_node *iq, *q, *i1, *i2, *c, *t;
    struct cw_sb sb;
    char *s;

    iq = xml_node_new("iq", NS_CLIENT);
    CHECK(iq != NULL);
    CHECK_EQ(xml_node_set_attr(iq, "type", "get"), 0);
    CHECK_EQ(xml_node_set_attr(iq, "id", "r1"), 0);
    CHECK_EQ(xml_node_set_attr(iq, "type", "result"), 0);    /* replaced */
    CHECK_EQ(iq->nattr, 2);
    CHECK_STR(xml_node_attr(iq, "type"), "result");
    CHECK_EQ(xml_node_set_attr(iq, "id", NULL), 0);          /* removed */
    CHECK_EQ(xml_node_set_attr(iq, "nothere", NULL), 0);
    CHECK(xml_node_attr(iq, "id") == NULL);
    CHECK_EQ(iq->nattr, 1);
    q = xml_node_add_child(iq, "query", "jabber:iq:roster");
    i1 = xml_node_add_child(q, "item", NULL);
    CHECK_STR(i1->ns, "jabber:iq:roster");
    CHECK_EQ(xml_node_set_attr(i1, "jid", "a@example.com"), 0);
    CHECK_EQ(xml_node_add_text(q, "between", 7), 0);
    i2 = xml_node_add_child(q, "item", NULL);
    CHECK_EQ(xml_node_set_attr(i2, "jid", "b@example.com"), 0);
    CHECK(xml_node_add_child(q, "other", "urn:other") != NULL);
    CHECK_EQ(xml_node_add_text(q, "", 0), 0);
    /* NULL parents from a failed add_child chain are harmless */
    CHECK(xml_node_add_child(NULL, "x", NULL) == NULL);
    CHECK_EQ(xml_node_add_text(NULL, "x", 1), -1);
    CHECK_EQ(xml_node_set_attr(NULL, "x", "y"), -1);

    CHECK(xml_node_find(iq, "query", "jabber:iq:roster") == q);
    CHECK(xml_node_find(iq, "query", "jabber:client") == NULL);
    CHECK(xml_node_find(q, "item", NULL) == i1);
    CHECK(xml_node_find_next(i1, "item", NULL) == i2);
    CHECK(xml_node_find_next(i2, "item", NULL) == NULL);
    CHECK_STR(xml_node_find_next(i2, NULL, NULL)->name, "other");
    CHECK_STR(xml_node_find(q, NULL, "urn:other")->name, "other");
    cw_sb_init(&sb);
    CHECK_STR(xml_node_text(q, &sb), "between");
    CHECK_STR(xml_node_text(i1, &sb), "");
    s = ser(iq, NS_CLIENT);
    CHECK_STR(s, "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@example.com'/>"
                 "between<item jid='b@example.com'/><other xmlns='urn:other'/></query></iq>");

    /* a deep copy serializes the same and lives on its own */
    c = xml_node_copy(iq);
    CHECK(c != NULL && c->parent == NULL);
    {
        char *s2 = ser(c, NS_CLIENT);

        CHECK_STR(s2, s);
        free(s2);
    }
    t = xml_node_copy(q);    /* a subtree becomes a root */
    CHECK(t->parent == NULL && t->next == NULL);
    xml_node_free(t);

    /* unlink first, middle and last */
    xml_node_unlink(i2);
    CHECK(i2->parent == NULL && i2->next == NULL);
    xml_node_free(i2);
    xml_node_unlink(i1);
    xml_node_free(i1);
    t = xml_node_find(q, "other", NULL);
    xml_node_unlink(t);
    CHECK(q->last != NULL && q->last->next == NULL && !q->last->name);
    xml_node_append(c, t);    /* moved to the copy */
    t = q->child;
    xml_node_unlink(t);
    xml_node_free(t);
    CHECK(q->child == NULL && q->last == NULL);
    free(s);
    s = ser(iq, NS_CLIENT);
    CHECK_STR(s, "<iq type='result'><query xmlns='jabber:iq:roster'/></iq>");
    free(s);
    s = ser(c, NS_CLIENT);
    CHECK(strstr(s, "</query><other xmlns='urn:other'/></iq>") != NULL);
    free(s);
    xml_node_free(NULL);
    xml_node_free(iq);
    xml_node_free(c);
    cw_sb_free(&sb);

    /* deeper than any stack: freed, copied and written without recursion */
    iq = c = xml_node_new("a", "");
    for (int i = 0; i < 100000; i++)
        CHECK((c = xml_node_add_child(c, "a", NULL)) != NULL);
    t = xml_node_copy(iq);
    CHECK(t != NULL);
    cw_sb_init(&sb);
    xml_serialize(t, "", &sb);
    CHECK_EQ(sb.len, 100000 * 7 + 4);    /* <a>...</a> around the innermost <a/> */
    cw_sb_free(&sb);
    xml_node_free(t);
    xml_node_free(iq);
}
