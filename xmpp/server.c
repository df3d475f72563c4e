/* server.c - the XMPP service's listeners and connections: accepting,
 * feeding bytes to the XML stream, writing stanzas, stream errors
 * (RFC 6120 4.9), the local session and component tables, and status. */
#include "xmpp/xmpp_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "xmpp/fedlink.h"

#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_NEGOTIATION_MS 30000

unsigned xmpp__hash(const char *s)
{
    unsigned h = 2166136261u;   /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % SESSION_BUCKETS;
}

/* ---- tables --------------------------------------------------------------- */

static void chain_remove(struct xconn **head, struct xconn *c)
{
    for (struct xconn **p = head; *p; p = &(*p)->hnext)
        if (*p == c) {
            *p = c->hnext;
            c->hnext = NULL;
            return;
        }
}

void xmpp__session_add(struct xmpp_server *srv, struct xconn *c)
{
    unsigned h = xmpp__hash(c->full);

    c->hnext = srv->sessions[h];
    srv->sessions[h] = c;
    h = xmpp__hash(c->bare);
    c->bnext = srv->by_bare[h];
    srv->by_bare[h] = c;
    srv->nsessions++;
}

struct xconn *xmpp__bare_first(const struct xmpp_server *srv, const char *bare)
{
    struct xconn *c = srv->by_bare[xmpp__hash(bare)];

    while (c && strcmp(c->bare, bare) != 0)
        c = c->bnext;
    return c;
}

struct xconn *xmpp__bare_next(const struct xconn *c)
{
    struct xconn *n = c->bnext;

    while (n && strcmp(n->bare, c->bare) != 0)
        n = n->bnext;
    return n;
}

struct xconn *xmpp__session_find(const struct xmpp_server *srv, const char *full)
{
    for (struct xconn *c = srv->sessions[xmpp__hash(full)]; c; c = c->hnext)
        if (!strcmp(c->full, full))
            return c;
    return NULL;
}

struct xconn *xmpp__component_find(const struct xmpp_server *srv, const char *domain)
{
    for (struct xconn *c = srv->components[xmpp__hash(domain)]; c; c = c->hnext)
        if (!strcmp(c->domain, domain))
            return c;
    return NULL;
}

int xmpp__propose(struct xmpp_server *srv, const char *cmd)
{
    if (!srv->o.propose || srv->o.propose(srv->o.propose_arg, cmd) < 0) {
        CW_WARN("xmpp", "could not change the shared state (%.*s ...): the change was refused "
                "(see the line before; on a cluster, `causeway xmpp cluster status`)",
                (int)strcspn(cmd, " "), cmd);
        return -1;
    }
    return 0;
}

const char *xmpp__kind_name(const struct xconn *c)
{
    switch (c->kind) {
    case XC_C2S:
        return "client";
    case XC_COMP:
        return "component";
    default:
        return "federation link from";
    }
}

/* The namespace of c's stream: what a stanza is written in by default. */
static const char *kind_ns(const struct xconn *c)
{
    return c->kind == XC_C2S ? NS_CLIENT : c->kind == XC_COMP ? NS_COMPONENT : NS_SERVER;
}

/* ---- output --------------------------------------------------------------- */

/* A reader that has fallen more than OUT_MAX behind (what its socket has
 * not taken, and more about to be written) is cut, so that a client that
 * stops reading cannot make the server hold without end what is sent to
 * it. 1 when c was. */
static int cut_if_behind(struct xconn *c, size_t more)
{
    size_t pending = cw_stream_pending(c->st);

    if (pending + more <= OUT_MAX)
        return 0;
    CW_NOTICE("xmpp", "%s %s: closing: it does not read what is sent to it (%zu bytes "
              "queued)", xmpp__kind_name(c), c->full[0] ? c->full : c->peer, pending);
    snprintf(c->why, sizeof(c->why), "it does not read what is sent to it");
    c->closing = 1;
    cw_stream_close(c->st);
    return 1;
}

static void flush_one(struct xconn *c)
{
    c->dirty = 0;
    if (c->outq.len && !c->closing && !cut_if_behind(c, c->outq.len))
        cw_stream_write(c->st, c->outq.s, c->outq.len);
    cw_sb_clear(&c->outq);
}

void xmpp__cork(struct xmpp_server *srv)
{
    srv->corked++;
}

void xmpp__uncork(struct xmpp_server *srv)
{
    struct xconn *c;

    if (--srv->corked > 0)
        return;
    while ((c = srv->dirty)) {
        srv->dirty = c->dnext;
        c->dnext = NULL;
        flush_one(c);
    }
}

/* While the server is corked (a read's or a batch's stanzas being routed),
 * writes gather in the connection's outq and go out as one at the uncork. */
void xmpp__write(struct xconn *c, const char *p, size_t n)
{
    if (c->closing)
        return;
    if (c->srv->corked) {
        if (!c->dirty) {
            c->dirty = 1;
            c->dnext = c->srv->dirty;
            c->srv->dirty = c;
        }
        if (c->outq.len + n <= OUT_MAX) {
            cw_sb_add(&c->outq, p, n);
            return;
        }
        flush_one(c);
        if (c->closing)
            return;
    }
    if (!cut_if_behind(c, n))
        cw_stream_write(c->st, p, n);
}

void xmpp__send(struct xconn *c, const struct xml_node *stanza)
{
    struct cw_sb *sb = &c->srv->scratch;
    const char *ns = stanza->ns;

    /* A stanza keeps the namespace of the stream it came in (jabber:client,
     * jabber:component:accept): written with that as the outer namespace,
     * it and its children that share it carry no xmlns and so take the
     * receiving stream's default. */
    if (strcmp(ns, NS_CLIENT) && strcmp(ns, NS_COMPONENT) && strcmp(ns, NS_SERVER))
        ns = kind_ns(c);
    cw_sb_clear(sb);
    xml_serialize(stanza, ns, sb);
    if (sb->failed) {
        CW_WARN("xmpp", "out of memory writing to %s", c->full[0] ? c->full : c->peer);
        return;
    }
    c->stanzas_out++;
    xmpp__write(c, sb->s, sb->len);
}

void xmpp__stream_header(struct xconn *c, const char *ns, const char *from)
{
    struct cw_sb *sb = &c->srv->scratch;

    cw_sb_clear(sb);
    CW_SB_LIT(sb, "<?xml version='1.0'?><stream:stream xmlns='");
    cw_sb_str_add(sb, ns);
    CW_SB_LIT(sb, "' xmlns:stream='http://etherx.jabber.org/streams' id='");
    cw_sb_str_add(sb, c->id);
    if (from && from[0]) {
        CW_SB_LIT(sb, "' from='");
        xml_escape(sb, from, strlen(from));
    }
    CW_SB_LIT(sb, "' version='1.0' xml:lang='en'>");
    c->header_sent = 1;
    xmpp__write(c, sb->s, sb->len);
}

void xmpp__stream_error(struct xconn *c, const char *cond, const char *text)
{
    struct cw_sb *sb = &c->srv->scratch;

    if (c->closing)
        return;
    if (!c->why[0])
        snprintf(c->why, sizeof(c->why), "stream error <%s/>%s%s", cond, text ? ": " : "",
                 text ? text : "");
    /* RFC 6120 4.9.1.2: an error before our header still opens the stream. */
    if (!c->header_sent)
        xmpp__stream_header(c, kind_ns(c), NULL);
    cw_sb_clear(sb);
    xml_stream_error_append(sb, cond, text);
    xmpp__write(c, sb->s, sb->len);
    xmpp__close(c);
}

void xmpp__close(struct xconn *c)
{
    if (c->closing)
        return;
    if (c->dirty)
        flush_one(c);   /* a stream error in the queue goes out first */
    c->closing = 1;
    cw_stream_close(c->st);
}

/* ---- XML stream callbacks --------------------------------------------------- */

static int on_open(void *ctx, const struct xml_node *head)
{
    struct xconn *c = ctx;

    switch (c->kind) {
    case XC_C2S:
        return xmpp__c2s_open(c, head);
    case XC_COMP:
        return xmpp__comp_open(c, head);
    default:
        return xmpp__link_open(c, head);
    }
}

static int on_stanza(void *ctx, struct xml_node *n)
{
    struct xconn *c = ctx;

    if (c->closing) {
        xml_node_free(n);
        return XML_STOP;
    }
    c->stanzas_in++;
    switch (c->kind) {
    case XC_C2S:
        return xmpp__c2s_stanza(c, n);
    case XC_COMP:
        return xmpp__comp_stanza(c, n);
    default:
        return xmpp__link_stanza(c, n);
    }
}

static int on_stream_close(void *ctx)
{
    struct xconn *c = ctx;

    /* RFC 6120 4.4: answer the closing tag with ours, then close. */
    if (!c->closing) {
        if (!c->why[0])
            snprintf(c->why, sizeof(c->why), "the peer closed the stream");
        xmpp__write(c, "</stream:stream>", 16);
        xmpp__close(c);
    }
    return XML_STOP;
}

static const struct xml_stream_cbs xml_cbs = {
    .on_open = on_open,
    .on_stanza = on_stanza,
    .on_close = on_stream_close,
};

/* ---- connection life ----------------------------------------------------- */

static void on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct xconn *c = cw_stream_data(s);
    const char *cond, *why;
    int r;

    if (c->closing)
        return;
    c->last_rx = uv_now(c->srv->loop);
    c->pinged = 0;
    xmpp__cork(c->srv);
    r = xml_stream_feed(c->xs, (const char *)p, n);
    xmpp__uncork(c->srv);   /* before STARTTLS below: <proceed/> goes out plain */
    if (r < 0) {
        cond = xml_stream_error(c->xs, &why);
        CW_NOTICE("xmpp", "%s %s: stream error %s: %s", xmpp__kind_name(c),
                  c->full[0] ? c->full : c->peer, cond, why);
        snprintf(c->why, sizeof(c->why), "stream error <%s/>: %s", cond, why);
        xmpp__stream_error(c, cond, NULL);
        return;
    }
    /* Bytes after <starttls/> or after a SASL success in this read are
     * dropped with the rest of the buffer (XML_STOP): RFC 6120 5.4.3.3 and
     * the STARTTLS command injection they would allow. */
    if (c->tls_next) {
        c->tls_next = 0;
        if (cw_stream_start_tls(c->st, c->srv->o.tls) < 0) {
            xmpp__close(c);
            return;
        }
        c->restart = 1;
    }
    if (c->restart) {
        c->restart = 0;
        if (xml_stream_reset(c->xs) < 0)
            xmpp__stream_error(c, "internal-server-error", NULL);
        c->header_sent = 0;
    }
}

/* The server's memory goes when it is closing and nothing of it is left. */
static void server_maybe_free(struct xmpp_server *srv)
{
    if (srv->closing && srv->live == 0) {
        if (srv->link_key)
            OPENSSL_cleanse(srv->link_key, srv->link_key_len);
        free(srv->link_key);
        cw_sb_free(&srv->link_domains);
        free(srv->hints);
        cw_sb_free(&srv->scratch);
        free(srv);
    }
}

static void timer_close_cb(uv_handle_t *h)
{
    struct xconn *c = h->data;
    struct xmpp_server *srv = c->srv;

    free(c);
    srv->live--;
    server_maybe_free(srv);
}

static void on_close(struct cw_stream *s, int err)
{
    struct xconn *c = cw_stream_data(s);
    struct xmpp_server *srv = c->srv;

    c->closing = 1;
    if (c->dirty)
        for (struct xconn **d = &srv->dirty; *d; d = &(*d)->dnext)
            if (*d == c) {
                *d = c->dnext;
                break;
            }
    c->dirty = 0;
    cw_sb_free(&c->outq);
    if (c->kind == XC_C2S)
        xmpp__c2s_gone(c);
    if (c->kind == XC_LINK)
        xmpp__link_gone(c, err);
    if (c->kind == XC_COMP && c->phase == PH_READY) {
        chain_remove(&srv->components[xmpp__hash(c->domain)], c);
        srv->ncomponents--;
        if (srv->o.forward && !srv->closing && !xmpp__component_find(srv, c->domain)) {
            char cmd[400];
            snprintf(cmd, sizeof(cmd), "comproute-del %s %s", c->domain, srv->node);
            xmpp__propose(srv, cmd);
        }
        CW_NOTICE("xmpp", "component %s disconnected (%s)", c->domain, cw_stream_strerror(err));
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconn--;
    xml_stream_destroy(c->xs);
    sasl_server_free(c->sasl);
    xml_node_free(c->presence);
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

/* The client or component would not finish setting its stream up. */
static void deadline_cb(uv_timer_t *t)
{
    struct xconn *c = t->data;

    if (c->phase == PH_READY || c->closing)
        return;
    CW_INFO("xmpp", "%s %s: stream not set up within %u ms: closing", xmpp__kind_name(c),
            c->peer, c->srv->o.negotiation_timeout_ms);
    snprintf(c->why, sizeof(c->why), "not set up within %u ms", c->srv->o.negotiation_timeout_ms);
    xmpp__stream_error(c, "connection-timeout", NULL);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct xmpp_listener *l = server->data;
    struct xmpp_server *srv = l->srv;
    static const struct cw_stream_cbs cbs = { .on_data = on_data, .on_close = on_close };
    struct xml_limits lim;
    struct xconn *c;

    if (status < 0 || srv->closing)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = srv;
    c->kind = l->kind;
    lim = srv->o.limits;
    lim.stamped = c->kind == XC_LINK;   /* the edge's stanzas come stamped */
    c->xs = xml_stream_create(&lim, &xml_cbs, c);
    if (!c->xs || cw_random_hex(c->id, 16) < 0) {
        xml_stream_destroy(c->xs);
        free(c);
        return;
    }
    c->st = cw_stream_accept(server, NULL, &cbs, c);
    if (!c->st) {
        xml_stream_destroy(c->xs);
        free(c);
        return;
    }
    srv->live++;   /* until its timer is closed, after the stream's on_close */
    cw_addr_fmt(cw_stream_peer(c->st), c->peer, sizeof(c->peer), 1);
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, deadline_cb, srv->o.negotiation_timeout_ms, 0);
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    srv->nconn++;
    if (srv->nconn > srv->o.max_connections) {
        CW_WARN("xmpp", "%s%s%s refused: %u connections, the most allowed (max-connections)",
                c->kind == XC_LINK ? xmpp__kind_name(c) : "", c->kind == XC_LINK ? " " : "",
                c->peer, srv->o.max_connections);
        xmpp__stream_error(c, "resource-constraint", NULL);
    }
}

/* ---- the server ------------------------------------------------------------ */

static int listen_on(struct xmpp_server *srv, const struct sockaddr_storage *ss,
                     enum xconn_kind kind, char *err, size_t errlen)
{
    struct xmpp_listener *l = &srv->lis[srv->nlis];
    int r;

    l->srv = srv;
    l->kind = kind;
    cw_addr_fmt((const struct sockaddr *)ss, l->addr, sizeof(l->addr), 1);
    uv_tcp_init(srv->loop, &l->tcp);
    l->tcp.data = l;
    srv->nlis++;
    srv->live++;
    r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (r < 0) {
        snprintf(err, errlen, "cannot listen for XMPP %s on %s: %s",
                 kind == XC_C2S ? "clients" : kind == XC_COMP ? "components"
                                                              : "the edge's federation link",
                 l->addr, uv_strerror(r));
        return -1;
    }
    return 0;
}

static void park_closed(uv_handle_t *h)
{
    struct xmpp_server *srv = h->data;

    srv->live--;
    server_maybe_free(srv);
}

static void lis_close_cb(uv_handle_t *h)
{
    struct xmpp_listener *l = h->data;

    l->srv->live--;
    server_maybe_free(l->srv);
}

struct xmpp_server *xmpp_server_create(uv_loop_t *loop, const struct xmpp_server_opts *opts,
                                       const struct xmpp_state *st, char *err, size_t errlen)
{
    struct xmpp_server *srv = calloc(1, sizeof(*srv));

    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->o = *opts;
    srv->st = st;
    snprintf(srv->node, sizeof(srv->node), "%s", opts->node ? opts->node : "local");
    srv->o.node = srv->node;
    if (!srv->o.max_connections)
        srv->o.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (!srv->o.negotiation_timeout_ms)
        srv->o.negotiation_timeout_ms = DEFAULT_NEGOTIATION_MS;
    cw_sb_init(&srv->scratch);
    cw_sb_init(&srv->link_domains);
    srv->parked_tail = &srv->parked;
    uv_timer_init(loop, &srv->park_timer);
    srv->park_timer.data = srv;
    srv->live++;   /* the park timer, until it is closed */
    srv->o.link_key = NULL;     /* the server's own copy, below */
    if (opts->link.ss_family) {
        if (!opts->link_key || opts->link_key_len < FEDLINK_KEY_MIN ||
            opts->link_key_len > FEDLINK_KEY_MAX) {
            snprintf(err, errlen, "the federation link needs a key of %d to %d bytes",
                     FEDLINK_KEY_MIN, FEDLINK_KEY_MAX);
            xmpp_server_close(srv);
            return NULL;
        }
        if (!(srv->link_key = malloc(opts->link_key_len))) {
            snprintf(err, errlen, "out of memory");
            xmpp_server_close(srv);
            return NULL;
        }
        memcpy(srv->link_key, opts->link_key, opts->link_key_len);
        srv->link_key_len = opts->link_key_len;
    }
    if ((opts->c2s.ss_family && listen_on(srv, &opts->c2s, XC_C2S, err, errlen) < 0) ||
        (opts->component.ss_family &&
         listen_on(srv, &opts->component, XC_COMP, err, errlen) < 0) ||
        (opts->link.ss_family && listen_on(srv, &opts->link, XC_LINK, err, errlen) < 0)) {
        xmpp_server_close(srv);
        return NULL;
    }
    srv->link_listening = opts->link.ss_family != 0;
    CW_NOTICE("xmpp", "serving clients on %s, components on %s, the edge's federation link on %s "
              "(node %s)", opts->c2s.ss_family ? srv->lis[0].addr : "(off)",
              opts->component.ss_family ? srv->lis[opts->c2s.ss_family ? 1 : 0].addr : "(off)",
              opts->link.ss_family ? srv->lis[srv->nlis - 1].addr : "(off: no link-listen)",
              srv->node);
    return srv;
}

void xmpp_server_set_tls(struct xmpp_server *srv, struct cw_tls_ctx *tls)
{
    srv->o.tls = tls;
}

void xmpp_server_close(struct xmpp_server *srv)
{
    struct xconn *c, *next;

    if (!srv || srv->closing)
        return;
    srv->closing = 1;
    srv->live++;   /* held while this function runs */
    while (srv->parked) {
        struct parked *p = srv->parked;
        srv->parked = p->next;
        xml_node_free(p->n);
        free(p);
    }
    srv->nparked = 0;
    uv_close((uv_handle_t *)&srv->park_timer, park_closed);
    for (int i = 0; i < srv->nlis; i++)
        uv_close((uv_handle_t *)&srv->lis[i].tcp, lis_close_cb);
    for (c = srv->conns; c; c = next) {
        next = c->next;
        xmpp__stream_error(c, "system-shutdown", NULL);
    }
    srv->live--;
    server_maybe_free(srv);
}

void xmpp_server_applied(struct xmpp_server *srv, const char *cmd)
{
    char owner[JID_MAX + 1], contact[JID_MAX + 1];

    xmpp__link_applied(srv, cmd);
    if (!strncmp(cmd, "roster-", 7) && sscanf(cmd + strcspn(cmd, " "), "%767s %767s", owner,
                                                contact) == 2) {
        xmpp__roster_push(srv, owner, contact);
        return;
    }
    if (strncmp(cmd, "user-del ", 9) && strncmp(cmd, "comp-", 5) &&
        strncmp(cmd, "domain-del ", 11) && strcmp(cmd, "restore"))
        return;
    for (struct xconn *c = srv->conns; c; c = c->next) {
        if (c->closing || c->phase != PH_READY)
            continue;
        if (c->kind == XC_C2S && !xmpp_state_user_cred(srv->st, c->jid.domain, c->jid.local, 256)) {
            CW_NOTICE("xmpp", "client %s: the account was deleted: closing", c->full);
            xmpp__stream_error(c, "not-authorized", "account deleted");
        } else if (c->kind == XC_COMP && !xmpp__comp_secret(srv->st, c->domain)) {
            CW_NOTICE("xmpp", "component %s: removed from the call bridges: closing", c->domain);
            xmpp__stream_error(c, "not-authorized", "component removed");
        }
    }
}

static void park_cb(uv_timer_t *t)
{
    struct xmpp_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);

    while (srv->parked && srv->parked->due <= now) {
        struct parked *p = srv->parked;
        srv->parked = p->next;
        if (!srv->parked)
            srv->parked_tail = &srv->parked;
        srv->nparked--;
        srv->no_park = 1;
        xmpp__cork(srv);
        xmpp__route(srv, p->n);   /* the last try: delivered, or bounced now */
        xmpp__uncork(srv);
        srv->no_park = 0;
        free(p);
    }
    if (srv->parked)
        uv_timer_start(&srv->park_timer, park_cb, srv->parked->due - now, 0);
}

int xmpp__park(struct xmpp_server *srv, struct xml_node *n)
{
    struct parked *p;

    if (!srv->o.forward || srv->from_peer || srv->no_park || srv->closing ||
        srv->nparked >= PARK_MAX || !(p = malloc(sizeof(*p))))
        return 0;
    p->n = n;
    p->next = NULL;
    p->due = uv_now(srv->loop) + PARK_MS;
    *srv->parked_tail = p;
    srv->parked_tail = &p->next;
    if (srv->nparked++ == 0)
        uv_timer_start(&srv->park_timer, park_cb, PARK_MS, 0);
    return 1;
}

const char *xmpp__hint(const struct xmpp_server *srv, const char *full)
{
    const struct peer_hint *h;

    if (!srv->hints)
        return NULL;
    h = &srv->hints[xmpp__hash(full) % HINTS];
    if (!h->at || strcmp(h->full, full) || uv_now(srv->loop) - h->at > HINT_TTL_MS)
        return NULL;
    return h->node;
}

void xmpp_server_deliver(struct xmpp_server *srv, const char *node, struct xml_node *n)
{
    const char *from = xml_node_attr(n, "from");

    if (node && from && strlen(from) <= JID_MAX && strchr(from, '/') &&
        (srv->hints || (srv->hints = calloc(HINTS, sizeof(*srv->hints))))) {
        struct peer_hint *h = &srv->hints[xmpp__hash(from) % HINTS];
        snprintf(h->full, sizeof(h->full), "%s", from);
        snprintf(h->node, sizeof(h->node), "%s", node);
        h->at = uv_now(srv->loop);
    }
    srv->from_peer = 1;
    xmpp__cork(srv);
    xmpp__route(srv, n);
    xmpp__uncork(srv);
    srv->from_peer = 0;
}

void xmpp_server_batch(struct xmpp_server *srv, int begin)
{
    if (begin)
        xmpp__cork(srv);
    else
        xmpp__uncork(srv);
}

void xmpp_server_status(const struct xmpp_server *srv, struct cw_sb *out)
{
    for (int i = 0; i < srv->nlis; i++)
        cw_sb_printf(out, "%-11s %s\n", srv->lis[i].kind == XC_C2S ? "clients"
                                         : srv->lis[i].kind == XC_COMP ? "components"
                                                                       : "links",
                     srv->lis[i].addr);
    cw_sb_printf(out, "node        %s\nsessions    %u (%u negotiating)\ncomponents  %u\n"
                 "routed      %lu stanzas, %lu bounced with an error, %lu to other nodes, "
                 "%lu to the federation link\n",
                 srv->node, srv->nsessions,
                 srv->nconn - srv->nsessions - srv->ncomponents - srv->nlinks, srv->ncomponents,
                 srv->routed, srv->bounced, srv->forwarded, srv->federated);
    xmpp__link_status(srv, out);
    for (const struct xconn *c = srv->conns; c; c = c->next)
        if (c->phase == PH_READY && c->kind != XC_LINK)
            cw_sb_printf(out, "  %-9s %-40s %s in %lu out %lu\n",
                         c->kind == XC_C2S ? "client" : "component",
                         c->kind == XC_C2S ? c->full : c->domain, c->peer, c->stanzas_in,
                         c->stanzas_out);
}

void xmpp__component_add(struct xmpp_server *srv, struct xconn *c)
{
    unsigned h = xmpp__hash(c->domain);

    c->hnext = srv->components[h];
    srv->components[h] = c;
    srv->ncomponents++;
}

void xmpp__c2s_session_remove(struct xconn *c)
{
    struct xconn **p;

    chain_remove(&c->srv->sessions[xmpp__hash(c->full)], c);
    for (p = &c->srv->by_bare[xmpp__hash(c->bare)]; *p; p = &(*p)->bnext)
        if (*p == c) {
            *p = c->bnext;
            break;
        }
    c->srv->nsessions--;
}
