/* fuzz_xml.c - libFuzzer harness for XMPP's streaming XML (xmpp/xml.c).
 * The first input byte picks the habits: how big the pieces fed are, which
 * callbacks answer XML_STOP (the harness then resets and feeds on, a new
 * stream from wherever the bytes are), small limits or the defaults, and
 * whether stanzas are deep-copied. Every stanza is serialized, parsed again
 * inside a fresh stream header and serialized again: the serializer must
 * write well-formed XML that parses to the same tree (abort() if not). The
 * second parse is the next hop's (another node, the edge): fed in small
 * pieces, so that a tag over the parser's limit fails it; and once more
 * with from and to stamped as routing does, the longest a JID can be
 * written. */
#include "xmpp/jid.h"
#include "xmpp/xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUTER "jabber:client"
#define HEAD "<stream:stream xmlns='" OUTER "' xmlns:stream='http://etherx.jabber.org/streams'>"

static unsigned habits, nstanzas;

/* The second parse: exactly one stanza, written as the first was. */
struct again {
    const struct cw_sb *want;
    int seen;
};

static int again_stanza(void *ctx, struct xml_node *n)
{
    struct again *a = ctx;
    struct cw_sb sb;

    cw_sb_init(&sb);
    xml_serialize(n, OUTER, &sb);
    if (a->seen++ || (!sb.failed && strcmp(cw_sb_str(&sb), cw_sb_str(a->want))))
        abort();
    cw_sb_free(&sb);
    xml_node_free(n);
    return 0;
}

static const struct xml_stream_cbs again_cbs = { .on_stanza = again_stanza };

static void round_trip(const struct xml_node *n)
{
    /* Writing may take more room than reading did (escapes, declarations
     * repeated), so the second parse gets room to spare. */
    static const struct xml_limits roomy = { 1u << 30, 1u << 20, 1u << 20, 1u << 20, 1 };
    struct cw_sb sb;
    struct again a = { &sb, 0 };
    struct xml_stream *xs;

    cw_sb_init(&sb);
    xml_serialize(n, OUTER, &sb);
    if (!sb.failed && (xs = xml_stream_create(&roomy, &again_cbs, &a)) != NULL) {
        if (xml_stream_feed(xs, HEAD, strlen(HEAD)) != 0)
            abort();
        for (size_t off = 0, k; off < sb.len; off += k) {
            k = sb.len - off < 512 ? sb.len - off : 512;
            if (xml_stream_feed(xs, sb.s + off, k) != 0)
                abort();
        }
        if (a.seen != 1)
            abort();
        xml_stream_destroy(xs);
    }
    cw_sb_free(&sb);
}

static void stamped_round_trip(const struct xml_node *n)
{
    char jid[JID_MAX + 1];
    struct xml_node *c = xml_node_copy(n);

    memset(jid, '\'', JID_MAX);     /* six bytes each, written out */
    jid[JID_MAX] = '\0';
    if (c && xml_node_set_attr(c, "from", jid) == 0 && xml_node_set_attr(c, "to", jid) == 0)
        round_trip(c);
    xml_node_free(c);
}

static int on_open(void *ctx, const struct xml_node *head)
{
    (void)ctx;
    if (!head->name || strcmp(head->ns, XML_NS_STREAM))
        abort();
    return (habits & 16) && xml_node_attr(head, "to") ? XML_STOP : 0;
}

static int on_stanza(void *ctx, struct xml_node *n)
{
    struct xml_node *c;

    (void)ctx;
    if (n->parent || !n->name)
        abort();
    round_trip(n);
    stamped_round_trip(n);
    if ((habits & 128) && (c = xml_node_copy(n)) != NULL) {
        round_trip(c);
        xml_node_free(c);
    }
    xml_node_free(n);
    return (habits & 8) && ++nstanzas % 3 == 0 ? XML_STOP : 0;
}

static int on_close(void *ctx)
{
    (void)ctx;
    return habits & 64 ? XML_STOP : 0;
}

static const struct xml_stream_cbs cbs = { on_open, on_stanza, on_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t steps[8] = { 1, 2, 3, 7, 16, 100, 1000, SIZE_MAX };
    static const struct xml_limits small = { 1024, 6, 6, 4, 0 };
    struct xml_stream *xs;
    const char *cond, *reason;
    size_t off = 1, k, step;
    int rc;

    if (size < 1)
        return 0;
    habits = data[0];
    nstanzas = 0;
    step = steps[habits & 7];
    if (!(xs = xml_stream_create(habits & 32 ? &small : NULL, &cbs, NULL)))
        return 0;
    while (off < size) {
        k = step < size - off ? step : size - off;
        rc = xml_stream_feed(xs, (const char *)data + off, k);
        off += k;
        if (rc == XML_STOP) {
            if (xml_stream_reset(xs) < 0)
                abort();
        } else if (rc < 0) {
            cond = xml_stream_error(xs, &reason);
            if (!cond || !reason[0] || xml_stream_feed(xs, " ", 1) != -1)
                abort();
            break;
        }
    }
    xml_stream_destroy(xs);
    return 0;
}
