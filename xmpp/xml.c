/* xml.c - XMPP's restricted streaming XML on expat: trees, serializer, stream parser.
 *
 * For maintainers. expat runs with namespace processing, so it hands us
 * names as "uri\1local" (NS_SEP cannot occur in a name, and &#1; is not an
 * XML 1.0 character, so not in a URI either) and prefixes are gone by the
 * time a tree is built; the serializer invents its own (a default namespace
 * per element, ns<N> for namespaced attributes).
 *
 * Counting bytes: `mark` is the stream offset where the bytes now charged
 * against max_stanza began: the start tag of the stanza being built, or the
 * end of the last thing expat reported at the stream level. After every
 * chunk given to expat, fed - mark is checked too, so a stanza that expat
 * is still buffering (one endless start tag) is stopped at the limit, not
 * when expat finally reports it.
 *
 * Input bytes alone do not bound memory: a 6-byte <p:x/> can stand for a
 * namespace URI declared once and thousands of bytes long, which every
 * such node copies. So the tree of the stanza being built is also charged
 * for what it allocates, up to MEM_FACTOR times max_stanza. And no tag may
 * pass MAX_TOKEN bytes: expat 2.5 rescans an unfinished tag on every feed.
 *
 * on_open's head carries the header's namespace declarations as attributes
 * in the namespace "http://www.w3.org/2000/xmlns/", named by prefix ("db")
 * or "xmlns" for the default; the
 * serializer never writes such attributes, it derives declarations.
 *
 * Callbacks must not call xml_stream_reset() (it returns -1 there: reset
 * after xml_stream_feed() returns) or feed the stream; they may call
 * xml_stream_destroy(), which then happens when feed unwinds. */
#include "xmpp/xml.h"

#include "xmpp/jid.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define NS_SEP '\x01'
#define XMLNS_NS "http://www.w3.org/2000/xmlns/"
#define FEED_CHUNK 8192        /* bytes given to expat at once: how far past max_stanza it may buffer */
#define MEM_FACTOR 16          /* a stanza's tree may take this many bytes per byte of max_stanza */
#define MEM_MIN 65536          /* ... and at least this many (tiny max_stanza in tests) */
#define MAX_TOKEN 16384        /* bytes expat may hold unreported: one tag (see feed) */
/* What routing may add to a stanza's root tag after it was read: from and
 * to stamped (JIDs, each byte escaped to 6 at most) and the namespace of
 * the next stream. A root tag is accepted only with this much to spare. */
#define STAMP_ROOM (2 * (6 * JID_MAX + (int)sizeof(" from=''")) + 64)
#define UNUSED __attribute__((unused))

static const struct xml_limits defaults = { 262144, 32, 64, 16, 0 };
/* Most attributes have no namespace: they share this "" (never freed). */
static const char no_ns[1] = "";

/* ---- trees ------------------------------------------------------------ */

static char *mem_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *ns_dup(const char *ns, size_t n)
{
    return n ? mem_dup(ns, n) : (char *)no_ns;
}

static void ns_free(char *ns)
{
    if (ns != no_ns)
        free(ns);
}

static void attr_clear(struct xml_attr *a)
{
    ns_free(a->ns);
    free(a->name);
    free(a->value);
}

/* Fills a (its old contents ignored); 0, or -1 with a left empty. */
static int attr_fill(struct xml_attr *a, const char *ns, size_t nslen, const char *name,
                     size_t nlen, const char *value, size_t vlen)
{
    a->ns = ns_dup(ns, nslen);
    a->name = mem_dup(name, nlen);
    a->value = mem_dup(value, vlen);
    if (a->ns && a->name && a->value)
        return 0;
    attr_clear(a);
    memset(a, 0, sizeof(*a));
    return -1;
}

static int attr_append(struct xml_node *n, const char *ns, size_t nslen, const char *name,
                       size_t nlen, const char *value, size_t vlen)
{
    struct xml_attr *a = realloc(n->attr, (n->nattr + 1) * sizeof(*a));

    if (!a)
        return -1;
    n->attr = a;    /* bigger now; nattr says what is in use */
    if (attr_fill(&a[n->nattr], ns, nslen, name, nlen, value, vlen) < 0)
        return -1;
    n->nattr++;
    return 0;
}

static struct xml_node *elem_new(const char *name, size_t nlen, const char *ns, size_t nslen)
{
    struct xml_node *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    n->name = mem_dup(name, nlen);
    n->ns = ns_dup(ns, nslen);
    if (!n->name || !n->ns) {
        free(n->name);
        ns_free(n->ns);
        free(n);
        return NULL;
    }
    return n;
}

/* A text node holding len bytes in a buffer of cap (> len) bytes. */
static struct xml_node *text_new(const char *s, size_t len, size_t cap)
{
    struct xml_node *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->ns = (char *)no_ns;
    t->text = malloc(cap);
    if (!t->text) {
        free(t);
        return NULL;
    }
    memcpy(t->text, s, len);
    t->text[len] = '\0';
    t->text_len = len;
    return t;
}

static void node_free_one(struct xml_node *n)
{
    for (unsigned i = 0; i < n->nattr; i++)
        attr_clear(&n->attr[i]);
    free(n->attr);
    free(n->name);
    ns_free(n->ns);
    free(n->text);
    free(n);
}

struct xml_node *xml_node_new(const char *name, const char *ns)
{
    if (!ns)
        ns = "";
    return elem_new(name, strlen(name), ns, strlen(ns));
}

/* Iterative (a tree made by builders may be deeper than the stack): take a
 * node's first child off its list and go down; free leaves going up. */
void xml_node_free(struct xml_node *n)
{
    struct xml_node *cur = n, *up;

    while (cur) {
        if (cur->child) {
            up = cur;
            cur = cur->child;
            up->child = cur->next;
            continue;
        }
        up = cur == n ? NULL : cur->parent;
        node_free_one(cur);
        cur = up;
    }
}

int xml_node_set_attr(struct xml_node *n, const char *name, const char *value)
{
    unsigned i;
    char *v;

    if (!n)
        return -1;
    for (i = 0; i < n->nattr; i++)
        if (!n->attr[i].ns[0] && !strcmp(n->attr[i].name, name))
            break;
    if (!value) {
        if (i < n->nattr) {
            attr_clear(&n->attr[i]);
            memmove(&n->attr[i], &n->attr[i + 1], (n->nattr - i - 1) * sizeof(n->attr[0]));
            n->nattr--;
        }
        return 0;
    }
    if (i == n->nattr)
        return attr_append(n, "", 0, name, strlen(name), value, strlen(value));
    if (!(v = mem_dup(value, strlen(value))))
        return -1;
    free(n->attr[i].value);
    n->attr[i].value = v;
    return 0;
}

const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
    if (!n)
        return NULL;
    if (!ns)
        ns = "";
    for (unsigned i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name) && !strcmp(n->attr[i].ns, ns))
            return n->attr[i].value;
    return NULL;
}

const char *xml_node_attr(const struct xml_node *n, const char *name)
{
    return xml_node_attr_ns(n, "", name);
}

void xml_node_append(struct xml_node *parent, struct xml_node *child)
{
    if (!parent || !child)
        return;
    child->parent = parent;
    child->next = NULL;
    if (parent->last)
        parent->last->next = child;
    else
        parent->child = child;
    parent->last = child;
}

struct xml_node *xml_node_add_child(struct xml_node *parent, const char *name, const char *ns)
{
    struct xml_node *c;

    if (!parent || !(c = xml_node_new(name, ns ? ns : parent->ns)))
        return NULL;
    xml_node_append(parent, c);
    return c;
}

int xml_node_add_text(struct xml_node *parent, const char *text, size_t n)
{
    struct xml_node *t;

    if (!parent)
        return -1;
    if (!n)
        return 0;    /* an empty text node would only turn <x/> into <x></x> */
    if (!(t = text_new(text, n, n + 1)))
        return -1;
    xml_node_append(parent, t);
    return 0;
}

void xml_node_unlink(struct xml_node *n)
{
    struct xml_node *p = n->parent, *prev = NULL, *c;

    if (!p)
        return;
    for (c = p->child; c != n; c = c->next)
        prev = c;
    if (prev)
        prev->next = n->next;
    else
        p->child = n->next;
    if (p->last == n)
        p->last = prev;
    n->parent = n->next = NULL;
}

static int matches(const struct xml_node *c, const char *name, const char *ns)
{
    return c->name && (!name || !strcmp(c->name, name)) && (!ns || !strcmp(c->ns, ns));
}

struct xml_node *xml_node_find_next(const struct xml_node *c, const char *name, const char *ns)
{
    for (c = c ? c->next : NULL; c; c = c->next)
        if (matches(c, name, ns))
            return (struct xml_node *)c;
    return NULL;
}

struct xml_node *xml_node_find(const struct xml_node *n, const char *name, const char *ns)
{
    const struct xml_node *c = n ? n->child : NULL;

    if (!c || matches(c, name, ns))
        return (struct xml_node *)c;
    return xml_node_find_next(c, name, ns);
}

const char *xml_node_text(const struct xml_node *n, struct cw_sb *sb)
{
    cw_sb_clear(sb);
    for (const struct xml_node *c = n ? n->child : NULL; c; c = c->next)
        if (!c->name)
            cw_sb_add(sb, c->text, c->text_len);
    return cw_sb_str(sb);
}

static struct xml_node *copy_one(const struct xml_node *s)
{
    struct xml_node *d;
    const struct xml_attr *a;

    if (!s->name)
        return text_new(s->text, s->text_len, s->text_len + 1);
    if (!(d = elem_new(s->name, strlen(s->name), s->ns, strlen(s->ns))))
        return NULL;
    if (s->nattr && !(d->attr = calloc(s->nattr, sizeof(*d->attr))))
        goto fail;
    for (; d->nattr < s->nattr; d->nattr++) {
        a = &s->attr[d->nattr];
        if (attr_fill(&d->attr[d->nattr], a->ns, strlen(a->ns), a->name, strlen(a->name),
                      a->value, strlen(a->value)) < 0)
            goto fail;
    }
    return d;
fail:
    node_free_one(d);
    return NULL;
}

/* Preorder walk of the source; dp is the copy of s's parent. */
struct xml_node *xml_node_copy(const struct xml_node *n)
{
    const struct xml_node *s = n;
    struct xml_node *root = NULL, *dp = NULL, *d;

    if (!n)
        return NULL;
    for (;;) {
        if (!(d = copy_one(s))) {
            xml_node_free(root);
            return NULL;
        }
        if (dp)
            xml_node_append(dp, d);
        else
            root = d;
        if (s->child) {
            dp = d;
            s = s->child;
            continue;
        }
        while (s != n && !s->next) {
            s = s->parent;
            dp = dp->parent;
        }
        if (s == n)
            return root;
        s = s->next;
    }
}

/* ---- serializer ------------------------------------------------------- */

/* Length of the UTF-8 sequence at p if it is well-formed and encodes an
 * XML 1.0 Char (XML 1.0 2.2: no surrogates, no U+FFFE/U+FFFF), else 0. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    size_t len, i;
    uint32_t c;

    if (p[0] < 0xC2)
        return 0;    /* a continuation byte, or an overlong 2-byte form */
    len = p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF5 ? 4 : 0;
    if (!len || n < len)
        return 0;
    c = p[0] & (0x7F >> len);
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF)
        return 0;
    return len;
}

/* Parsed trees hold only valid characters; builders may be handed
 * anything, so what is not an XML Char becomes U+FFFD and the output
 * stays well-formed whatever the tree holds. CR (and in attribute values
 * TAB and LF) are written as references because a parser would turn them
 * into LF or spaces (XML 1.0 2.11, 3.3.3). */
static void escape(struct cw_sb *out, const char *s, size_t n, int attr)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, k;
    const char *rep;
    unsigned char c;

    while (i < n) {
        c = u[i];
        k = 1;
        rep = NULL;
        if (c >= 0x80) {
            if (!(k = utf8_char(u + i, n - i))) {
                k = 1;
                rep = "\xEF\xBF\xBD";
            }
        } else if (c == '&') {
            rep = "&amp;";
        } else if (c == '<') {
            rep = "&lt;";
        } else if (c == '>') {
            rep = "&gt;";
        } else if (c == '\r') {
            rep = "&#13;";
        } else if (attr && c == '"') {
            rep = "&quot;";
        } else if (attr && c == '\'') {
            rep = "&apos;";
        } else if (attr && c == '\n') {
            rep = "&#10;";
        } else if (attr && c == '\t') {
            rep = "&#9;";
        } else if (c < 0x20 && c != '\n' && c != '\t') {
            rep = "\xEF\xBF\xBD";
        }
        if (rep) {
            cw_sb_add(out, s + run, i - run);
            cw_sb_str_add(out, rep);
            run = i + k;
        }
        i += k;
    }
    cw_sb_add(out, s + run, n - run);
}

void xml_escape(struct cw_sb *out, const char *s, size_t n)
{
    escape(out, s, n, 1);
}

static int is_xml_ns(const char *ns)
{
    return !strcmp(ns, XML_NS_XML);
}

/* The default namespace in force where e is written: its parent's ns,
 * except that an xml:-prefixed element declares none. */
static const char *scope_ns(const struct xml_node *e, const struct xml_node *top, const char *outer)
{
    while (e != top) {
        e = e->parent;
        if (!is_xml_ns(e->ns))
            return e->ns;
    }
    return outer ? outer : "";
}

static void tag_name(struct cw_sb *out, const struct xml_node *e)
{
    if (is_xml_ns(e->ns))
        CW_SB_LIT(out, "xml:");
    cw_sb_str_add(out, e->name);
}

/* ='value' with the value escaped. */
static void value_out(struct cw_sb *out, const char *value)
{
    CW_SB_LIT(out, "='");
    escape(out, value, strlen(value), 1);
    cw_sb_add(out, "'", 1);
}

/* <name xmlns='...' attributes: namespace declarations are derived from
 * the tree, never copied (attributes in the xmlns namespace are skipped).
 * A namespaced attribute gets prefix ns<i>, i the index of the first
 * attribute in that namespace, declared on this element. */
static void open_tag(struct cw_sb *out, const struct xml_node *e, const char *dflt)
{
    unsigned i, j;
    const struct xml_attr *a;

    cw_sb_add(out, "<", 1);
    tag_name(out, e);
    if (!is_xml_ns(e->ns) && strcmp(e->ns, dflt)) {
        CW_SB_LIT(out, " xmlns");
        value_out(out, e->ns);
    }
    for (i = 0; i < e->nattr; i++) {
        a = &e->attr[i];
        if (!strcmp(a->ns, XMLNS_NS))
            continue;
        cw_sb_add(out, " ", 1);
        if (is_xml_ns(a->ns)) {
            CW_SB_LIT(out, "xml:");
        } else if (a->ns[0]) {
            for (j = 0; strcmp(e->attr[j].ns, a->ns); j++)
                ;
            if (j == i) {
                CW_SB_LIT(out, "xmlns:ns");
                cw_sb_uint(out, i);
                value_out(out, a->ns);
                cw_sb_add(out, " ", 1);
            }
            CW_SB_LIT(out, "ns");
            cw_sb_uint(out, j);
            cw_sb_add(out, ":", 1);
        }
        cw_sb_str_add(out, a->name);
        value_out(out, a->value);
    }
}

/* Iterative, like xml_node_free: down to the first child, across to the
 * next sibling, up writing end tags. */
void xml_serialize(const struct xml_node *n, const char *outer_ns, struct cw_sb *out)
{
    const struct xml_node *cur = n;

    if (!n)
        return;
    for (;;) {
        if (!cur->name) {
            escape(out, cur->text, cur->text_len, 0);
        } else {
            open_tag(out, cur, scope_ns(cur, n, outer_ns));
            if (cur->child) {
                cw_sb_add(out, ">", 1);
                cur = cur->child;
                continue;
            }
            CW_SB_LIT(out, "/>");
        }
        while (cur != n && !cur->next) {
            cur = cur->parent;
            CW_SB_LIT(out, "</");
            tag_name(out, cur);
            cw_sb_add(out, ">", 1);
        }
        if (cur == n)
            return;
        cur = cur->next;
    }
}

/* ---- the stream parser ------------------------------------------------ */

enum { RUNNING, STOPPED, FAILED };

struct xml_stream {
    XML_Parser p;
    struct xml_limits lim;
    size_t mem_max;            /* bytes one stanza's tree may allocate */
    struct xml_stream_cbs cbs;
    void *ctx;
    unsigned long salt;
    int have_salt;
    int state;                 /* RUNNING, STOPPED (XML_STOP), FAILED (-1) */
    int in_feed, doomed, closed;
    unsigned depth;            /* open elements; the stream header is 1 */
    unsigned nns;              /* namespace declarations seen for the next start tag */
    struct xml_node *head;     /* the stream header, while it is built */
    struct xml_node *root;     /* the stanza being built ... */
    struct xml_node *cur;      /* ... and its innermost open element */
    size_t mem;                /* bytes root's tree holds */
    XML_Index fed;             /* bytes given to expat since the stream began */
    XML_Index pos;             /* end of the last event expat reported */
    XML_Index mark;            /* where the bytes charged against max_stanza began */
    int stamped;               /* xml_limits.stamped */
    struct cw_sb tag;          /* a start tag written out, to measure it */
    const char *cond;
    char reason[128];
};

__attribute__((format(printf, 3, 4)))
static void set_error(struct xml_stream *xs, const char *cond, const char *fmt, ...)
{
    va_list ap;

    if (xs->state != RUNNING)
        return;
    xs->state = FAILED;
    xs->cond = cond;
    va_start(ap, fmt);
    vsnprintf(xs->reason, sizeof(xs->reason), fmt, ap);
    va_end(ap);
}

/* From a handler: expat may still call some handlers after XML_StopParser
 * (the end of an empty element ...); they all return at once unless RUNNING. */
#define fail(xs, ...)                                                        \
    do {                                                                     \
        if ((xs)->state == RUNNING) {                                        \
            set_error((xs), __VA_ARGS__);                                    \
            XML_StopParser((xs)->p, XML_FALSE);                              \
        }                                                                    \
    } while (0)

static void oom(struct xml_stream *xs)
{
    fail(xs, "internal-server-error", "out of memory");
}

static void after_cb(struct xml_stream *xs, int rc)
{
    if ((rc == XML_STOP || xs->doomed) && xs->state == RUNNING) {
        xs->state = STOPPED;
        XML_StopParser(xs->p, XML_FALSE);
    }
}

/* The end of the event being reported (for an empty element's end, whose
 * byte count expat gives as 0, the end of its tag). */
static XML_Index event_end(struct xml_stream *xs)
{
    XML_Index end = XML_GetCurrentByteIndex(xs->p) + XML_GetCurrentByteCount(xs->p);

    if (end > xs->pos)
        xs->pos = end;
    return xs->pos;
}

static int too_big(struct xml_stream *xs, XML_Index end)
{
    if ((unsigned long long)(end - xs->mark) <= xs->lim.max_stanza)
        return 0;
    fail(xs, "policy-violation", "%s over %zu bytes", xs->depth ? "stanza" : "stream header",
         xs->lim.max_stanza);
    return 1;
}

static int charge(struct xml_stream *xs, size_t bytes)
{
    xs->mem += bytes;
    if (xs->mem <= xs->mem_max)
        return 0;
    fail(xs, "policy-violation", "stanza tree over %zu bytes of memory", xs->mem_max);
    return -1;
}

/* expat's "uri\1local", or "local" in no namespace. */
static const char *split(const char *name, const char **ns, size_t *nslen)
{
    const char *sep = strchr(name, NS_SEP);

    *ns = name;
    *nslen = sep ? (size_t)(sep - name) : 0;
    return sep ? sep + 1 : name;
}

/* Appends expat's attribute list to n: the bytes taken (at least 1), or 0
 * when out of memory. */
static size_t add_attrs(struct xml_node *n, const XML_Char **atts, size_t nattr)
{
    size_t i, nslen, nlen, vlen, bytes = nattr * sizeof(*n->attr);
    const char *ns, *name;
    struct xml_attr *a;

    if (!nattr)
        return 1;
    if (!(a = realloc(n->attr, (n->nattr + nattr) * sizeof(*a))))
        return 0;
    n->attr = a;
    for (i = 0; i < nattr; i++) {
        name = split(atts[2 * i], &ns, &nslen);
        nlen = strlen(name);
        vlen = strlen(atts[2 * i + 1]);
        if (attr_fill(&a[n->nattr], ns, nslen, name, nlen, atts[2 * i + 1], vlen) < 0)
            return 0;
        n->nattr++;
        bytes += nslen + nlen + vlen + 3;
    }
    return bytes;
}

/* RFC 6120 4.8.1: the root must be <stream> qualified by
 * 'http://etherx.jabber.org/streams' (4.9.3.10 invalid-namespace). */
static void open_stream(struct xml_stream *xs, const char *ns, size_t nslen, const char *local,
                        const XML_Char **atts, size_t nattr)
{
    struct xml_node *h;
    size_t bytes;
    int rc;

    if (nslen != strlen(XML_NS_STREAM) || memcmp(ns, XML_NS_STREAM, nslen)) {
        fail(xs, "invalid-namespace", "stream header in namespace '%.*s'",
             (int)(nslen < 60 ? nslen : 60), ns);
        return;
    }
    if (strcmp(local, "stream")) {
        fail(xs, "not-well-formed", "root element <%.40s> is not <stream>", local);
        return;
    }
    if (too_big(xs, event_end(xs)))
        return;
    if (!xs->head && !(xs->head = calloc(1, sizeof(*xs->head)))) {
        oom(xs);
        return;
    }
    h = xs->head;
    h->name = mem_dup(local, strlen(local));
    h->ns = ns_dup(ns, nslen);
    if (!h->name || !h->ns || !(bytes = add_attrs(h, atts, nattr))) {
        oom(xs);
        return;
    }
    /* each attribute copies its namespace: charged like a stanza's */
    if (charge(xs, bytes) < 0)
        return;
    xs->depth = 1;
    xs->mark = xs->pos;
    rc = xs->cbs.on_open ? xs->cbs.on_open(xs->ctx, h) : 0;
    xml_node_free(xs->head);
    xs->head = NULL;
    after_cb(xs, rc);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_stream *xs = ud;
    const char *ns, *local;
    size_t nslen, nattr = 0, bytes, limit, bound;
    struct xml_node *n;

    if (xs->state != RUNNING)
        return;
    xs->nns = 0;
    while (atts[2 * nattr])
        nattr++;
    local = split(name, &ns, &nslen);
    if (nattr > xs->lim.max_attrs) {
        fail(xs, "policy-violation", "<%.40s> with over %u attributes", local, xs->lim.max_attrs);
        return;
    }
    if (xs->depth == 0) {
        open_stream(xs, ns, nslen, local, atts, nattr);
        return;
    }
    if (xs->depth > xs->lim.max_depth) {
        fail(xs, "policy-violation", "elements nested over %u deep", xs->lim.max_depth);
        return;
    }
    if (xs->depth == 1) {
        xs->mark = XML_GetCurrentByteIndex(xs->p);
        xs->mem = 0;
    }
    if (too_big(xs, event_end(xs)))
        return;
    if (!(n = elem_new(local, strlen(local), ns, nslen))) {
        oom(xs);
        return;
    }
    if (xs->cur)
        xml_node_append(xs->cur, n);
    else
        xs->root = n;    /* freed with the stream if the stanza never ends */
    xs->cur = n;
    xs->depth++;
    if (!(bytes = add_attrs(n, atts, nattr))) {
        oom(xs);
        return;
    }
    charge(xs, sizeof(*n) + strlen(local) + nslen + 2 + bytes);
    /* Written out, a tag declares the namespaces it uses (a prefix that
     * came declared on the stream header, say) and escapes its attribute
     * values: it can grow. It must stay a tag that this parser reads where
     * the stanza goes next (another node, the edge, the core), or that
     * stream would be closed for everyone on it. */
    limit = n->parent || xs->stamped ? MAX_TOKEN : MAX_TOKEN - STAMP_ROOM;
    /* Most tags are far below it even with every byte escaped six times
     * over and each namespace declared: only the others are written out. */
    bound = 6 * ((size_t)XML_GetCurrentByteCount(xs->p) + nslen) + 16;
    for (size_t i = 0; i < n->nattr; i++)
        bound += 6 * strlen(n->attr[i].ns) + 16;
    if (bound <= limit)
        return;
    cw_sb_clear(&xs->tag);
    open_tag(&xs->tag, n, scope_ns(n, xs->root, NULL));
    if (xs->tag.failed)
        oom(xs);
    else if (xs->tag.len + 1 > limit)
        fail(xs, "policy-violation", "<%.40s> would be a tag over %zu bytes written out "
             "(namespaces declared, attributes escaped%s)", local, limit,
             limit < MAX_TOKEN ? ", from and to stamped" : "");
}

/* expat has matched name with the start tag. */
static void XMLCALL on_end(void *ud, const XML_Char *name UNUSED)
{
    struct xml_stream *xs = ud;
    struct xml_node *n;
    int rc;

    if (xs->state != RUNNING)
        return;
    if (xs->depth == 1) {
        xs->depth = 0;
        xs->closed = 1;
        after_cb(xs, xs->cbs.on_close ? xs->cbs.on_close(xs->ctx) : 0);
        return;
    }
    if (too_big(xs, event_end(xs)))
        return;
    if (--xs->depth > 1) {
        xs->cur = xs->cur->parent;
        return;
    }
    n = xs->root;
    xs->root = xs->cur = NULL;    /* transferred */
    xs->mark = xs->pos;
    xs->mem = 0;
    if (xs->cbs.on_stanza) {
        rc = xs->cbs.on_stanza(xs->ctx, n);
    } else {
        xml_node_free(n);
        rc = 0;
    }
    after_cb(xs, rc);
}

/* Text is appended to a preceding text node (expat splits it at newlines,
 * references and buffer ends), growing its buffer in powers of two. */
static size_t text_cap(size_t len)
{
    size_t cap = 32;

    while (cap <= len)
        cap *= 2;
    return cap;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_stream *xs = ud;
    struct xml_node *t;
    size_t n = (size_t)len, cap, ncap;
    char *p;

    if (xs->state != RUNNING)
        return;
    if (xs->depth < 2) {
        /* RFC 6120 4.6.1: whitespace between stanzas is a keepalive;
         * any other text at the stream level belongs to no stanza. */
        for (size_t i = 0; i < n; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(xs, "not-well-formed", "text outside any stanza");
                return;
            }
        xs->mark = event_end(xs);
        return;
    }
    if (too_big(xs, event_end(xs)))
        return;
    t = xs->cur->last;
    if (t && !t->name) {
        cap = text_cap(t->text_len);
        if (t->text_len + n >= cap) {
            ncap = text_cap(t->text_len + n);
            if (!(p = realloc(t->text, ncap))) {
                oom(xs);
                return;
            }
            t->text = p;
            if (charge(xs, ncap - cap) < 0)
                return;
        }
        memcpy(t->text + t->text_len, s, n);
        t->text_len += n;
        t->text[t->text_len] = '\0';
        return;
    }
    if (!(t = text_new(s, n, text_cap(n)))) {
        oom(xs);
        return;
    }
    xml_node_append(xs->cur, t);
    charge(xs, sizeof(*t) + text_cap(n));
}

/* Counted per element (RFC 6120 13.12 resource exhaustion). The header's
 * declarations are told to on_open as attributes in the xmlns namespace
 * (prefix as the name, "xmlns" for the default): the content namespace,
 * xmlns:db for dialback (XEP-0220). */
static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_stream *xs = ud;

    if (xs->state != RUNNING)
        return;
    if (++xs->nns > xs->lim.max_ns) {
        fail(xs, "policy-violation", "over %u namespace declarations on one element",
             xs->lim.max_ns);
        return;
    }
    if (xs->depth)
        return;
    if (!prefix)
        prefix = "xmlns";
    if (!uri)
        uri = "";
    if ((!xs->head && !(xs->head = calloc(1, sizeof(*xs->head)))) ||
        attr_append(xs->head, XMLNS_NS, strlen(XMLNS_NS), prefix, strlen(prefix), uri,
                    strlen(uri)) < 0)
        oom(xs);
}

/* RFC 6120 11.6: UTF-8 only. The parser is told UTF-8 whatever the
 * declaration says, so another declared encoding would be misread. */
static void XMLCALL on_xml_decl(void *ud, const XML_Char *version UNUSED,
                                const XML_Char *encoding, int standalone UNUSED)
{
    struct xml_stream *xs = ud;

    if (xs->state == RUNNING && encoding && strcasecmp(encoding, "UTF-8"))
        fail(xs, "unsupported-encoding", "encoding '%.40s' (only UTF-8)", encoding);
}

/* RFC 6120 11.1: no DTD, so no entity declarations and no expansion (a
 * billion-laughs document stops here, at its "<!DOCTYPE x ["); no comments,
 * no processing instructions. The XML declaration is not a PI to expat. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name UNUSED, const XML_Char *sysid UNUSED,
                               const XML_Char *pubid UNUSED, int internal_subset UNUSED)
{
    fail((struct xml_stream *)ud, "restricted-xml", "DTD refused");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name UNUSED, int param UNUSED,
                                   const XML_Char *value UNUSED, int len UNUSED,
                                   const XML_Char *base UNUSED, const XML_Char *sysid UNUSED,
                                   const XML_Char *pubid UNUSED, const XML_Char *notation UNUSED)
{
    fail((struct xml_stream *)ud, "restricted-xml", "entity declaration refused");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target UNUSED, const XML_Char *data UNUSED)
{
    fail((struct xml_stream *)ud, "restricted-xml", "processing instruction refused");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data UNUSED)
{
    fail((struct xml_stream *)ud, "restricted-xml", "comment refused");
}

static void parser_setup(struct xml_stream *xs)
{
    XML_Parser p = xs->p;

    XML_SetUserData(p, xs);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_decl);
    XML_SetXmlDeclHandler(p, on_xml_decl);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetCommentHandler(p, on_comment);
    if (xs->have_salt)
        XML_SetHashSalt(p, xs->salt);    /* else expat draws its own */
}

/* Frees what a broken or abandoned stream was building. */
static void drop_trees(struct xml_stream *xs)
{
    xml_node_free(xs->head);
    xml_node_free(xs->root);
    xs->head = xs->root = xs->cur = NULL;
}

struct xml_stream *xml_stream_create(const struct xml_limits *limits,
                                     const struct xml_stream_cbs *cbs, void *ctx)
{
    struct xml_stream *xs = calloc(1, sizeof(*xs));

    if (!xs)
        return NULL;
#define PICK(f) xs->lim.f = limits && limits->f ? limits->f : defaults.f
    PICK(max_stanza);
    PICK(max_depth);
    PICK(max_attrs);
    PICK(max_ns);
#undef PICK
    xs->stamped = limits && limits->stamped;
    xs->mem_max = xs->lim.max_stanza > SIZE_MAX / MEM_FACTOR ? SIZE_MAX
                                                             : xs->lim.max_stanza * MEM_FACTOR;
    if (xs->mem_max < MEM_MIN)
        xs->mem_max = MEM_MIN;
    if (cbs)
        xs->cbs = *cbs;
    xs->ctx = ctx;
    xs->have_salt = getrandom(&xs->salt, sizeof(xs->salt), GRND_NONBLOCK) == sizeof(xs->salt);
    if (!(xs->p = XML_ParserCreateNS("UTF-8", NS_SEP))) {
        free(xs);
        return NULL;
    }
    parser_setup(xs);
    return xs;
}

void xml_stream_destroy(struct xml_stream *xs)
{
    if (!xs)
        return;
    if (xs->in_feed) {
        xs->doomed = 1;    /* from a callback: feed frees it on its way out */
        return;
    }
    drop_trees(xs);
    XML_ParserFree(xs->p);
    cw_sb_free(&xs->tag);
    free(xs);
}

int xml_stream_reset(struct xml_stream *xs)
{
    if (xs->in_feed || !XML_ParserReset(xs->p, "UTF-8"))
        return -1;
    drop_trees(xs);
    parser_setup(xs);
    xs->state = RUNNING;
    xs->closed = 0;
    xs->depth = xs->nns = 0;
    xs->mem = 0;
    xs->fed = xs->pos = xs->mark = 0;
    return 0;
}

int xml_stream_feed(struct xml_stream *xs, const char *p, size_t n)
{
    enum XML_Error e;
    size_t k;
    int rc;

    if (xs->in_feed)
        return -1;
    if (xs->state == STOPPED) {
        xs->state = RUNNING;
        set_error(xs, "internal-server-error", "fed after XML_STOP without a reset");
    }
    xs->in_feed = 1;
    while (n && xs->state == RUNNING) {
        k = n < FEED_CHUNK ? n : FEED_CHUNK;
        xs->fed += (XML_Index)k;
        if (XML_Parse(xs->p, p, (int)k, XML_FALSE) == XML_STATUS_ERROR && xs->state == RUNNING) {
            e = XML_GetErrorCode(xs->p);
            set_error(xs, e == XML_ERROR_NO_MEMORY ? "internal-server-error" : "not-well-formed",
                      "%s at line %llu", XML_ErrorString(e),
                      (unsigned long long)XML_GetCurrentLineNumber(xs->p));
        }
        p += k;
        n -= k;
        if (xs->state != RUNNING || xs->closed)
            continue;
        /* What expat holds without having reported it yet counts too. */
        if ((unsigned long long)(xs->fed - xs->mark) > xs->lim.max_stanza)
            set_error(xs, "policy-violation", "%s over %zu bytes",
                      xs->depth ? "stanza" : "stream header", xs->lim.max_stanza);
        /* expat 2.5 rescans a partial token from its start on every
         * XML_Parse (CVE-2023-52425, fixed by reparse deferral in 2.6): a
         * tag sent in small pieces costs its length squared. Text is
         * reported as it comes, so only a tag (or a refused comment or PI)
         * stays unreported for long; none is legitimately this big. */
        else if (xs->fed - xs->pos > MAX_TOKEN)
            set_error(xs, "policy-violation", "a tag over %d bytes", MAX_TOKEN);
    }
    xs->in_feed = 0;
    rc = xs->state == FAILED ? -1 : xs->state == STOPPED ? XML_STOP : 0;
    if (xs->doomed)
        xml_stream_destroy(xs);
    return rc;
}

const char *xml_stream_error(const struct xml_stream *xs, const char **reason)
{
    if (reason)
        *reason = xs->state == FAILED ? xs->reason : "";
    return xs->state == FAILED ? xs->cond : NULL;
}

void xml_stream_error_append(struct cw_sb *out, const char *cond, const char *text)
{
    CW_SB_LIT(out, "<stream:error><");
    cw_sb_str_add(out, cond);
    CW_SB_LIT(out, " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
    if (text) {
        CW_SB_LIT(out, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
        xml_escape(out, text, strlen(text));
        CW_SB_LIT(out, "</text>");
    }
    CW_SB_LIT(out, "</stream:error></stream:stream>");
}
