/* xml.h - XMPP's restricted streaming XML (RFC 6120 4 and 11) on expat:
 * a stream of bytes in, the stream header and then one element tree per
 * top-level child ("stanza", also <starttls/>, <auth/> ...) out, with limits.
 *
 * What is refused (RFC 6120 11.1, "restricted-xml"): DTDs (so no entity
 * declarations and no entity expansion: a billion-laughs document fails at
 * its <!DOCTYPE), processing instructions, comments. Limits give
 * "policy-violation": bytes in one top-level element, element depth,
 * attributes per element, namespace declarations per element. Anything expat
 * finds malformed is "not-well-formed"; a stream header that is not
 * <stream:stream xmlns:stream='http://etherx.jabber.org/streams'> is
 * "invalid-namespace".
 *
 * Names: every element and attribute keeps its namespace URI apart from its
 * local name. An element's ns is the namespace it is in ("" if none);
 * unprefixed attributes have ns "" (the usual case: to, from, id, type);
 * xml:lang has ns "http://www.w3.org/XML/1998/namespace".
 *
 * Trees are owned by the caller once handed over and freed with
 * xml_node_free(). Builders (xml_node_new ...) make replies; the serializer
 * writes xmlns='...' only where an element's ns differs from its parent's
 * (or from the ns given for the top), so a stanza parsed in jabber:client
 * can be written into a jabber:component:accept stream unchanged. */
#ifndef CW_XMPP_XML_H
#define CW_XMPP_XML_H

#include <stddef.h>

#include "common/strbuf.h"

#define XML_NS_STREAM "http://etherx.jabber.org/streams"
#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"

struct xml_attr {
    char *ns;      /* "" when unprefixed */
    char *name;    /* local name */
    char *value;   /* decoded (entities replaced), NUL-terminated */
};

struct xml_node {
    /* Element: name != NULL. Text: name == NULL, text/text_len set. */
    char *name;
    char *ns;
    struct xml_attr *attr;
    unsigned nattr;
    char *text;              /* text nodes: decoded, NUL-terminated */
    size_t text_len;
    struct xml_node *parent;
    struct xml_node *child;  /* first child */
    struct xml_node *last;   /* last child */
    struct xml_node *next;   /* next sibling */
};

/* ---- trees ------------------------------------------------------------ */

/* A new element with no attributes and no children; NULL when out of memory. */
struct xml_node *xml_node_new(const char *name, const char *ns);
/* Frees a node and everything below it; NULL is ignored. The node must be
 * a root (no parent) or already unlinked. */
void xml_node_free(struct xml_node *n);
/* Sets (replaces, or adds) the unprefixed attribute name; value NULL
 * removes it. 0, or -1 when out of memory (node unchanged). */
int xml_node_set_attr(struct xml_node *n, const char *name, const char *value);
/* Value of the unprefixed attribute name, or NULL. */
const char *xml_node_attr(const struct xml_node *n, const char *name);
/* Value of attribute (ns, name), or NULL. */
const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name);
/* A new child element appended to parent (its ns: ns, or the parent's when
 * ns is NULL); NULL when out of memory. */
struct xml_node *xml_node_add_child(struct xml_node *parent, const char *name, const char *ns);
/* Appends a text child (n bytes copied). 0 or -1. */
int xml_node_add_text(struct xml_node *parent, const char *text, size_t n);
/* Appends child (a root tree, ownership transferred) to parent. */
void xml_node_append(struct xml_node *parent, struct xml_node *child);
/* Unlinks n from its parent (n becomes a root the caller must free). */
void xml_node_unlink(struct xml_node *n);
/* First child element with that name and ns (either NULL: any), or NULL. */
struct xml_node *xml_node_find(const struct xml_node *n, const char *name, const char *ns);
/* Next sibling element after c with that name and ns (NULL: any). */
struct xml_node *xml_node_find_next(const struct xml_node *c, const char *name, const char *ns);
/* The concatenation of n's direct text children into sb (cleared first);
 * returns cw_sb_str(sb) ("" when none). */
const char *xml_node_text(const struct xml_node *n, struct cw_sb *sb);
/* A deep copy, as a root; NULL when out of memory. */
struct xml_node *xml_node_copy(const struct xml_node *n);

/* Appends n serialized to out: elements with their attributes, text
 * escaped (& < > in text; & < > " ' in attribute values), xmlns='...'
 * written when n's ns differs from outer_ns and on children whose ns
 * differs from their parent's. Namespaced attributes other than xml:lang
 * get a generated prefix declared on the element. */
void xml_serialize(const struct xml_node *n, const char *outer_ns, struct cw_sb *out);
/* Appends s escaped for text or an attribute value. */
void xml_escape(struct cw_sb *out, const char *s, size_t n);
/* Appends a stream error (RFC 6120 4.9) with an optional text, and the
 * stream's closing tag. */
void xml_stream_error_append(struct cw_sb *out, const char *cond, const char *text);

/* ---- the stream parser ---------------------------------------------------- */

struct xml_limits {
    size_t max_stanza;       /* bytes of one top-level element (default 262144) */
    unsigned max_depth;      /* element depth below the stream (default 32) */
    unsigned max_attrs;      /* attributes per element (default 64) */
    unsigned max_ns;         /* namespace declarations per element (default 16) */
    /* Stanzas come with from and to already stamped: a link between our
     * own processes (cluster nodes, the edge's federation link). Otherwise
     * a stanza's outer tag must leave room for them (see on_start). */
    int stamped;
};

/* What the stream's user hears. A callback returns 0 to go on, or
 * XML_STOP to make xml_stream_feed() return at once without parsing the
 * rest of the bytes it was given (STARTTLS: what follows <starttls/> in the
 * same read must never be taken as coming from inside TLS; a stream
 * restart after SASL). After XML_STOP the user calls xml_stream_reset()
 * before feeding again. */
#define XML_STOP 1
struct xml_stream_cbs {
    /* <stream:stream ...>: head is the element alone (its attributes; no
     * children), valid only during the call. */
    int (*on_open)(void *ctx, const struct xml_node *head);
    /* A complete top-level element; ownership passes to the callee. */
    int (*on_stanza)(void *ctx, struct xml_node *stanza);
    /* </stream:stream>. */
    int (*on_close)(void *ctx);
};

struct xml_stream;

/* limits NULL: the defaults. NULL when out of memory. */
struct xml_stream *xml_stream_create(const struct xml_limits *limits,
                                     const struct xml_stream_cbs *cbs, void *ctx);
void xml_stream_destroy(struct xml_stream *xs);
/* Parses n more bytes. 0 (all taken), XML_STOP (a callback stopped it), or
 * -1: the stream is broken; xml_stream_error() tells the RFC 6120 4.9.3
 * condition and a reason for the log. Further feeds return -1. */
int xml_stream_feed(struct xml_stream *xs, const char *p, size_t n);
/* Starts over, expecting a new stream header (after STARTTLS or SASL
 * success, RFC 6120 5.4.3.3 and 6.4.6). 0 or -1 (out of memory). */
int xml_stream_reset(struct xml_stream *xs);
/* After -1: the condition ("not-well-formed", "restricted-xml",
 * "policy-violation", "invalid-namespace", "internal-server-error" for out of
 * memory) and a short reason naming what was wrong ("DTD refused", "stanza
 * over 262144 bytes", expat's message and line). Static / owned by xs. */
const char *xml_stream_error(const struct xml_stream *xs, const char **reason);

#endif
