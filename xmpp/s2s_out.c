/* s2s_out.c - routes to foreign domains: resolving (RFC 6120 3.2 and
 * XEP-0368), connecting in order, the outbound side's negotiation (STARTTLS,
 * SASL EXTERNAL, else dialback as the originating server), the queue of
 * stanzas waiting for the stream, and bounces when the domain cannot be
 * reached. Dialback checks for the inbound side ride on the same streams. */
#include "common/base64.h"
#include "xmpp/s2s_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/log.h"
#include "xmpp/sasl.h"

#define XMLNS_NS "http://www.w3.org/2000/xmlns/"

static void try_target(struct s2s_route *r);
static void try_addr(struct s2s_route *r);

static struct s2s_route *route_find(const struct s2s_gateway *gw, const char *local,
                                    const char *remote)
{
    for (struct s2s_route *r = gw->routes; r; r = r->next)
        if (!strcmp(r->local, local) && !strcmp(r->remote, remote))
            return r;
    return NULL;
}

static struct s2s_route *route_get(struct s2s_gateway *gw, const char *local, const char *remote)
{
    struct s2s_route *r = route_find(gw, local, remote);

    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->gw = gw;
    snprintf(r->local, sizeof(r->local), "%s", local);
    snprintf(r->remote, sizeof(r->remote), "%s", remote);
    r->q_tail = &r->q_head;
    r->since = time(NULL);
    r->next = gw->routes;
    gw->routes = r;
    return r;
}

struct s2s_conn *s2s__route_stream(struct s2s_gateway *gw, const char *local, const char *remote)
{
    struct s2s_route *r = route_find(gw, local, remote);

    if (r && r->state == RT_READY && r->c && !r->c->closing)
        return r->c;
    /* XEP-0288: an inbound stream that the peer made bidirectional. */
    for (struct s2s_conn *c = gw->conns; c; c = c->next)
        if (c->dir == S2S_IN && c->bidi && c->phase == SP_READY && !c->closing &&
            !strcmp(c->local, local) && s2s__is_authed(c, remote))
            return c;
    return NULL;
}

static void bounce(struct s2s_gateway *gw, struct xml_node *n, const char *cond, const char *why)
{
    struct xml_node *e = s2s__error_reply(n, cond, why);

    xml_node_free(n);
    gw->bounced++;
    if (e && s2s__to_core(gw, e) < 0)
        CW_DEBUG("federation", "a bounce found no core link up");
    xml_node_free(e);
}

/* The check v, taken off r's list, is over: the inbound stream that asked
 * hears valid or invalid (if it is still there). */
static void verify_done(struct s2s_route *r, struct s2s_verify *v, int valid)
{
    r->gw->nverify--;
    s2s__db_verdict(r->gw, v->conn, r->local, r->remote, valid);
    free(v);
}

/* Every dialback check waiting on r is answered "invalid". */
static void verifies_fail(struct s2s_route *r)
{
    struct s2s_verify *v;

    while ((v = r->verify)) {
        r->verify = v->next;
        verify_done(r, v, 0);
    }
}

static void route_fail(struct s2s_route *r, const char *cond, const char *why)
{
    struct s2s_queued *q;
    unsigned n = r->nqueued;

    r->state = RT_FAILED;
    r->failed_at = uv_now(r->gw->loop);
    r->since = time(NULL);
    r->bounce_cond = cond;
    if (why != r->last_error)
        snprintf(r->last_error, sizeof(r->last_error), "%s", why);
    CW_NOTICE("federation", "%s unreachable: %s; %u stanzas bounced", r->remote, r->last_error, n);
    while ((q = r->q_head)) {
        r->q_head = q->next;
        bounce(r->gw, q->n, cond, r->last_error);
        free(q);
    }
    r->q_tail = &r->q_head;
    r->nqueued = 0;
    verifies_fail(r);
}

static void send_verifies(struct s2s_route *r)
{
    for (struct s2s_verify *v = r->verify; v; v = v->next) {
        struct xml_node *n;
        if (v->sent || !r->c || !r->c->verify_ok)
            continue;
        n = xml_node_new("verify", NS_DB);
        if (n && xml_node_set_attr(n, "from", r->local) == 0 &&
            xml_node_set_attr(n, "to", r->remote) == 0 && xml_node_set_attr(n, "id", v->id) == 0 &&
            xml_node_add_text(n, v->key, strlen(v->key)) == 0) {
            s2s__send(r->c, n);
            v->sent = 1;
        }
        xml_node_free(n);
    }
}

static void route_ready(struct s2s_route *r, struct s2s_conn *c, const char *how)
{
    struct s2s_queued *q;
    const char *tls = cw_stream_tls_version(c->st);

    snprintf(c->auth, sizeof(c->auth), "%s", how);
    s2s__conn_ready(c);
    r->state = RT_READY;
    r->since = time(NULL);
    r->last_error[0] = 0;
    CW_NOTICE("federation", "outbound to %s (%s): authenticated (%s), %s%s", r->remote, c->peer,
              how, tls ? tls : "no TLS", c->bidi ? ", bidirectional" : "");
    while ((q = r->q_head)) {
        r->q_head = q->next;
        s2s__send(c, q->n);
        xml_node_free(q->n);
        free(q);
    }
    r->q_tail = &r->q_head;
    r->nqueued = 0;
    send_verifies(r);
}

/* ---- resolving and connecting ------------------------------------------------------ */

static void out_connected(struct cw_stream *st)
{
    struct s2s_conn *c = cw_stream_data(st);

    CW_DEBUG("federation", "outbound to %s: connected to %s", c->remote, c->peer);
    if (c->direct_tls &&
        cw_stream_start_tls_client(st, s2s__client_ctx(c->gw, c->local), c->remote) < 0)
        return;
    s2s__header(c);
}

static void try_addr(struct s2s_route *r)
{
    struct s2s_gateway *gw = r->gw;
    const struct s2s_target *t;
    struct s2s_conn *c;
    struct cw_stream *st;
    char a[CW_ADDR_STRLEN];

    while (r->ai < r->addrs.n) {
        const struct sockaddr *sa = (const struct sockaddr *)&r->addrs.addr[r->ai++];
        t = &r->target[r->ti];
        cw_addr_fmt(sa, a, sizeof(a), 1);
        CW_INFO("federation", "outbound to %s: connecting to %s:%u (%s)%s", r->remote, t->host,
                t->port, a, t->direct_tls ? ", direct TLS" : "");
        c = s2s__conn_new(gw, S2S_OUT);
        if (!c)
            break;
        c->route = r;
        c->direct_tls = (unsigned)t->direct_tls;
        snprintf(c->local, sizeof(c->local), "%s", r->local);
        snprintf(c->remote, sizeof(c->remote), "%s", r->remote);
        r->c = c;
        r->state = RT_CONNECTING;
        st = cw_stream_connect(gw->loop, sa, gw->o.connect_timeout_ms, s2s__stream_cbs(),
                               out_connected, c);
        if (st) {
            s2s__conn_attach(c, st);
            return;
        }
        /* Could not even start: the stream never existed. */
        snprintf(r->last_error, sizeof(r->last_error), "cannot connect to %s", a);
        r->c = NULL;
        c->route = NULL;
        s2s__conn_drop(c);
    }
    r->ti++;
    try_target(r);
}

static void addr_cb(void *arg, int status, const struct cw_dns_result *res)
{
    struct s2s_route *r = arg;
    const struct s2s_target *t = &r->target[r->ti];

    r->q = NULL;
    if (status != CW_DNS_OK) {
        snprintf(r->last_error, sizeof(r->last_error), "%s has no address (%s)", t->host,
                 status == CW_DNS_ETIMEOUT ? "DNS timed out" :
                 status == CW_DNS_ENOTFOUND ? "no such name" : "no A/AAAA record");
        CW_INFO("federation", "outbound to %s: %s", r->remote, r->last_error);
        r->ti++;
        try_target(r);
        return;
    }
    r->addrs = *res;
    r->ai = 0;
    try_addr(r);
}

static void try_target(struct s2s_route *r)
{
    if (r->ti >= r->ntarget) {
        route_fail(r, "remote-server-not-found",
                   r->last_error[0] ? r->last_error : "no server to connect to");
        return;
    }
    r->state = RT_RESOLVING;
    r->q = cw_dns_resolve(r->gw->o.dns, r->target[r->ti].host, r->target[r->ti].port, addr_cb, r);
    if (!r->q) {
        snprintf(r->last_error, sizeof(r->last_error), "cannot look up \"%s\"",
                 r->target[r->ti].host);
        r->ti++;
        try_target(r);
    }
}

static void srv_lookup(struct s2s_route *r);

static void srv_cb(void *arg, int status, const struct cw_dns_srv_result *res)
{
    struct s2s_route *r = arg;
    int tls = r->srv_phase == 0;

    r->q = NULL;
    if (status == CW_DNS_OK) {
        for (int i = 0; i < res->n && r->ntarget < S2S_TARGETS; i++) {
            struct s2s_target *t = &r->target[r->ntarget++];
            snprintf(t->host, sizeof(t->host), "%s", res->srv[i].target);
            t->port = res->srv[i].port;
            t->direct_tls = tls;
        }
    } else if (status == CW_DNS_ENOSERVICE || status == CW_DNS_ETIMEOUT ||
               status == CW_DNS_ESERVFAIL) {
        r->srv_status = status;
    }
    r->srv_phase++;
    if (r->srv_phase < 2) {
        srv_lookup(r);
        return;
    }
    if (!r->ntarget) {
        if (r->srv_status == CW_DNS_ENOSERVICE) {
            route_fail(r, "remote-server-not-found",
                       "its SRV record says it offers no XMPP federation (target \".\")");
            return;
        }
        if (r->srv_status == CW_DNS_ETIMEOUT || r->srv_status == CW_DNS_ESERVFAIL) {
            route_fail(r, "remote-server-timeout", "the external DNS did not answer the SRV "
                       "lookup ([federation] dns-server)");
            return;
        }
        CW_INFO("federation", "outbound to %s: no _xmpps-server/_xmpp-server SRV record, trying "
                "%s:5269 (A/AAAA)", r->remote, r->remote);
        snprintf(r->target[0].host, sizeof(r->target[0].host), "%s", r->remote);
        r->target[0].port = 5269;
        r->target[0].direct_tls = 0;
        r->ntarget = 1;
    }
    r->ti = 0;
    try_target(r);
}

static void srv_lookup(struct s2s_route *r)
{
    char name[S2S_DOMAIN_MAX + 32];

    snprintf(name, sizeof(name), "%s._tcp.%s", r->srv_phase == 0 ? "_xmpps-server" :
             "_xmpp-server", r->remote);
    CW_INFO("federation", "outbound to %s: looking up %s", r->remote, name);
    r->q = cw_dns_srv(r->gw->o.dns, name, srv_cb, r);
    if (!r->q)
        route_fail(r, "remote-server-not-found", "not a valid domain name for DNS");
}

static void route_start(struct s2s_route *r)
{
    r->state = RT_RESOLVING;
    r->srv_phase = 0;
    r->srv_status = 0;
    r->ntarget = r->ti = 0;
    r->last_error[0] = 0;
    r->since = time(NULL);
    srv_lookup(r);
}

/* Starts (or restarts) r unless it failed a moment ago: 0, or -1 (failed). */
static int route_want(struct s2s_route *r)
{
    if (r->state == RT_FAILED && uv_now(r->gw->loop) - r->failed_at < S2S_RETRY_MS)
        return -1;
    if (r->state == RT_IDLE || r->state == RT_FAILED)
        route_start(r);
    return 0;
}

void s2s__route_out(struct s2s_gateway *gw, struct xml_node *n, const char *local,
                    const char *remote)
{
    struct s2s_conn *c;
    struct s2s_route *r;
    struct s2s_queued *q;
    unsigned max = gw->o.max_queue ? gw->o.max_queue : 1000;

    if (!s2s__allowed(gw, remote)) {
        CW_INFO("federation", "a stanza for %s refused by policy (allow/deny in [federation])",
                remote);
        bounce(gw, n, "policy-violation", "federation with this domain is not allowed");
        return;
    }
    c = s2s__route_stream(gw, local, remote);
    if (c) {
        s2s__send(c, n);
        xml_node_free(n);
        return;
    }
    r = route_get(gw, local, remote);
    if (!r) {
        bounce(gw, n, "resource-constraint", "out of memory");
        return;
    }
    if (route_want(r) < 0) {
        bounce(gw, n, r->bounce_cond, r->last_error);
        return;
    }
    if (r->nqueued >= max || !(q = calloc(1, sizeof(*q)))) {
        bounce(gw, n, "resource-constraint", "too many stanzas waiting for this domain");
        return;
    }
    q->n = n;
    *r->q_tail = q;
    r->q_tail = &q->next;
    r->nqueued++;
}

void s2s__route_verify(struct s2s_gateway *gw, const char *local, const char *remote,
                       uint64_t serial, const char *id, const char *key)
{
    struct s2s_route *r = route_get(gw, local, remote);
    struct s2s_verify *v;

    if (!r || !(v = calloc(1, sizeof(*v)))) {
        s2s__db_verdict(gw, serial, local, remote, 0);
        return;
    }
    gw->nverify++;
    v->conn = serial;
    v->due = uv_now(gw->loop) + S2S_VERIFY_MS;
    snprintf(v->id, sizeof(v->id), "%s", id);
    snprintf(v->key, sizeof(v->key), "%s", key);
    v->next = r->verify;
    r->verify = v;
    if (route_want(r) < 0) {
        verifies_fail(r);
        return;
    }
    send_verifies(r);   /* at once on a stream past TLS */
}

/* ---- the outbound stream ---------------------------------------------------------------- */

/* The stream cannot serve its route: the next address is tried. */
static void out_fail(struct s2s_conn *c, const char *why)
{
    CW_NOTICE("federation", "outbound to %s (%s): %s", c->remote, c->peer, why);
    if (c->route)
        snprintf(c->route->last_error, sizeof(c->route->last_error), "%s", why);
    s2s__out_gone(c, why);
    s2s__stream_error(c, "undefined-condition", NULL);
}

void s2s__out_gone(struct s2s_conn *c, const char *why)
{
    struct s2s_route *r = c->route;

    if (!r)
        return;
    c->route = NULL;
    r->c = NULL;
    if (r->state == RT_READY || r->gw->closing) {
        /* It worked, and ended (idle, or the peer closed): redial on demand.
         * Checks sent on it and not answered go again on the next stream. */
        r->state = RT_IDLE;
        for (struct s2s_verify *v = r->verify; v; v = v->next)
            v->sent = 0;
        if (r->q_head || r->verify)
            route_start(r);
        return;
    }
    /* out_fail() recorded and logged its reason already. */
    if (!why)
        why = "it closed the connection before the stream was ready";
    if (strcmp(why, r->last_error) != 0) {
        snprintf(r->last_error, sizeof(r->last_error), "connection to %s failed: %s", c->peer, why);
        CW_INFO("federation", "outbound to %s: %s", r->remote, r->last_error);
    }
    try_addr(r);
}

int s2s__out_open(struct s2s_conn *c, const struct xml_node *head)
{
    const char *id = xml_node_attr(head, "id"), *ver = xml_node_attr(head, "version"),
               *dns = xml_node_attr_ns(head, XMLNS_NS, "xmlns");

    if (!dns || strcmp(dns, NS_SERVER) != 0 || !id || !id[0] || strlen(id) >= sizeof(c->id)) {
        out_fail(c, "its stream header is not an s2s one (jabber:server, with an id)");
        return XML_STOP;
    }
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->wants_db = xml_node_attr_ns(head, XMLNS_NS, "db") != NULL;
    if (!ver || strncmp(ver, "1.", 2) != 0) {
        out_fail(c, "it does not speak XMPP 1.0 streams (no version='1.0')");
        return XML_STOP;
    }
    c->phase = SP_NEGOTIATE;
    return 0;
}

static void send_db_result(struct s2s_conn *c)
{
    struct xml_node *n = xml_node_new("result", NS_DB);
    char key[65];

    s2s__db_key(c->gw, c->remote, c->local, c->id, key);
    if (n && xml_node_set_attr(n, "from", c->local) == 0 &&
        xml_node_set_attr(n, "to", c->remote) == 0 && xml_node_add_text(n, key, 64) == 0) {
        s2s__send(c, n);
        c->db_sent = 1;
    }
    xml_node_free(n);
}

static int has_mech(const struct xml_node *f, const char *mech)
{
    struct xml_node *m = xml_node_find(f, "mechanisms", NS_S2S_SASL);
    struct cw_sb t;
    int found = 0;

    cw_sb_init(&t);
    for (struct xml_node *x = m ? xml_node_find(m, "mechanism", NS_S2S_SASL) : NULL; x && !found;
         x = xml_node_find_next(x, "mechanism", NS_S2S_SASL))
        found = !strcmp(xml_node_text(x, &t), mech);
    cw_sb_free(&t);
    return found;
}

static int out_features(struct s2s_conn *c, const struct xml_node *f)
{
    struct s2s_gateway *gw = c->gw;
    const struct s2s_policy *p = s2s__policy(gw, c->remote);
    char why[700];

    if (c->sasl_done) {
        route_ready(c->route, c, "sasl-external");
        return 0;
    }
    if (!cw_stream_is_tls(c->st)) {
        if (xml_node_find(f, "starttls", NS_S2S_TLS)) {
            S2S_LIT(c, "<starttls xmlns='" NS_S2S_TLS "'/>");
            return 0;
        }
        if (!p->tls_optional) {
            out_fail(c, "it does not offer STARTTLS, and TLS is required ([federation] tls)");
            return XML_STOP;
        }
    } else {
        c->cert_ok = cw_stream_peer_cert_check(c->st, c->remote, c->cert_why, sizeof(c->cert_why));
        if (!c->cert_ok) {
            snprintf(why, sizeof(why), "certificate invalid for %s (%s)", c->remote, c->cert_why);
            if (p->cert_required) {
                out_fail(c, why);
                return XML_STOP;
            }
            CW_INFO("federation", "outbound to %s (%s): %s: dialback decides", c->remote, c->peer,
                    why);
        }
        if (xml_node_find(f, "bidi", NS_BIDI_FEATURE)) {
            S2S_LIT(c, "<bidi xmlns='" NS_BIDI "'/>");
            c->bidi = 1;
        }
        if (has_mech(f, "EXTERNAL") && cw_tls_ctx_covers(s2s__client_ctx(gw, c->local), c->local)) {
            struct cw_sb a;
            cw_sb_init(&a);
            CW_SB_LIT(&a, "<auth xmlns='" NS_S2S_SASL "' mechanism='EXTERNAL'>");
            cw_b64_encode((const uint8_t *)c->local, strlen(c->local), &a);
            CW_SB_LIT(&a, "</auth>");
            s2s__write(c, a.s, a.len);
            cw_sb_free(&a);
            c->verify_ok = 1;
            send_verifies(c->route);
            return 0;
        }
    }
    if (!c->wants_db && !xml_node_find(f, "dialback", NS_DB_FEATURE)) {
        out_fail(c, "it offers neither SASL EXTERNAL for our certificate nor dialback");
        return XML_STOP;
    }
    send_db_result(c);
    c->verify_ok = 1;
    send_verifies(c->route);
    return 0;
}

int s2s__out_element(struct s2s_conn *c, struct xml_node *n)
{
    const char *type = xml_node_attr(n, "type");
    int r = 0;

    if (!c->route && c->phase != SP_READY) {
        xml_node_free(n);
        return XML_STOP;
    }
    if (!strcmp(n->ns, XML_NS_STREAM) && !strcmp(n->name, "features")) {
        r = out_features(c, n);
    } else if (!strcmp(n->ns, XML_NS_STREAM) && !strcmp(n->name, "error")) {
        char why[300];
        struct cw_sb t;
        struct xml_node *txt = xml_node_find(n, "text", NS_S2S_STREAMS);
        cw_sb_init(&t);
        snprintf(why, sizeof(why), "it sent the stream error <%s/>%s%s",
                 n->child && n->child->name ? n->child->name : "?", txt ? ": " : "",
                 txt ? xml_node_text(txt, &t) : "");
        cw_sb_free(&t);
        out_fail(c, why);
        r = XML_STOP;
    } else if (!strcmp(n->ns, NS_S2S_TLS) && !strcmp(n->name, "proceed")) {
        c->tls_client_next = 1;
        r = XML_STOP;
    } else if (!strcmp(n->ns, NS_S2S_TLS)) {
        out_fail(c, "STARTTLS refused");
        r = XML_STOP;
    } else if (!strcmp(n->ns, NS_S2S_SASL) && !strcmp(n->name, "success")) {
        c->sasl_done = 1;
        c->restart = 1;
        r = XML_STOP;
    } else if (!strcmp(n->ns, NS_S2S_SASL) && !strcmp(n->name, "failure")) {
        if (!c->wants_db || s2s__policy(c->gw, c->remote)->cert_required) {
            out_fail(c, "it refused our certificate (SASL EXTERNAL) and dialback is not an option");
            r = XML_STOP;
        } else {
            CW_INFO("federation", "outbound to %s (%s): SASL EXTERNAL refused, trying dialback",
                    c->remote, c->peer);
            send_db_result(c);
        }
    } else if (!strcmp(n->ns, NS_DB) && !strcmp(n->name, "result")) {
        if (type && !strcmp(type, "valid")) {
            route_ready(c->route, c, "dialback");
        } else {
            out_fail(c, "dialback refused: it did not accept our key");
            r = XML_STOP;
        }
    } else if (!strcmp(n->ns, NS_DB) && !strcmp(n->name, "verify") && type) {
        const char *id = xml_node_attr(n, "id");
        struct s2s_route *rt = c->route;
        for (struct s2s_verify **v = rt ? &rt->verify : NULL; v && *v; v = &(*v)->next)
            if ((*v)->sent && id && !strcmp((*v)->id, id)) {
                struct s2s_verify *d = *v;
                *v = d->next;
                verify_done(rt, d, !strcmp(type, "valid"));
                break;
            }
    } else if (!strcmp(n->ns, NS_DB) && s2s__db_verify_request(c, n)) {
        /* answered */
    } else if (c->bidi && c->phase == SP_READY && !strcmp(n->ns, NS_SERVER)) {
        s2s__stanza_in(c, n);
        return c->closing ? XML_STOP : 0;
    } else {
        CW_INFO("federation", "outbound to %s (%s): stream error <unsupported-stanza-type/>: <%s "
                "xmlns='%s'>", c->remote, c->peer, n->name, n->ns);
        s2s__out_gone(c, "it sent something unexpected");
        s2s__stream_error(c, "unsupported-stanza-type", NULL);
        r = XML_STOP;
    }
    xml_node_free(n);
    return r;
}

/* ---- upkeep --------------------------------------------------------------------------- */

static void route_free(struct s2s_route *r)
{
    struct s2s_queued *q;
    struct s2s_verify *v;

    if (r->q)
        cw_dns_cancel(r->q);
    if (r->c)
        r->c->route = NULL;
    while ((q = r->q_head)) {
        r->q_head = q->next;
        xml_node_free(q->n);
        free(q);
    }
    while ((v = r->verify)) {
        r->verify = v->next;
        r->gw->nverify--;
        free(v);
    }
    free(r);
}

/* Dialback checks past their time fail (the authoritative server did not
 * answer, or could not be reached in time). A route that was being set up
 * for nothing else stops: a peer that asks for checks of domains whose
 * servers never answer holds no lookups or connections beyond that time. */
static void verifies_expire(struct s2s_route *r, uint64_t now)
{
    int expired = 0;

    for (struct s2s_verify **p = &r->verify; *p;) {
        struct s2s_verify *v = *p;
        if (v->due > now) {
            p = &v->next;
            continue;
        }
        *p = v->next;
        verify_done(r, v, 0);
        expired++;
    }
    if (!expired)
        return;
    CW_INFO("federation", "dialback for %s: %d check%s not answered within %d s: failed",
            r->remote, expired, expired == 1 ? "" : "s", S2S_VERIFY_MS / 1000);
    if (r->verify || r->q_head || (r->state != RT_RESOLVING && r->state != RT_CONNECTING))
        return;
    if (r->q) {
        cw_dns_cancel(r->q);
        r->q = NULL;
    }
    if (r->c) {
        struct s2s_conn *c = r->c;
        r->c = NULL;
        c->route = NULL;    /* its end no longer concerns r */
        s2s__close(c);
    }
    r->state = RT_IDLE;
}

void s2s__routes_tick(struct s2s_gateway *gw)
{
    uint64_t now = uv_now(gw->loop);

    /* Routes with nothing to do go: the state is in the streams. */
    for (struct s2s_route **p = &gw->routes; *p;) {
        struct s2s_route *r = *p;
        if (r->verify)
            verifies_expire(r, now);
        if (!r->c && !r->q && !r->q_head && !r->verify &&
            (r->state == RT_IDLE ||
             (r->state == RT_FAILED && now - r->failed_at >= S2S_RETRY_MS))) {
            *p = r->next;
            route_free(r);
            continue;
        }
        p = &r->next;
    }
}

void s2s__routes_free(struct s2s_gateway *gw)
{
    struct s2s_route *r;

    while ((r = gw->routes)) {
        gw->routes = r->next;
        route_free(r);
    }
}

void s2s__routes_status(const struct s2s_gateway *gw, struct cw_sb *out)
{
    static const char *names[] = { "idle", "resolving", "connecting", "ready", "failed" };
    char when[32];
    int any = 0;

    for (const struct s2s_route *r = gw->routes; r; r = r->next) {
        unsigned nv = 0;

        s2s__time_fmt(r->since, when, sizeof(when));
        cw_sb_printf(out, "  %s -> %s: %s since %s", r->local, r->remote, names[r->state], when);
        for (const struct s2s_verify *v = r->verify; v; v = v->next)
            nv++;
        if (r->nqueued)
            cw_sb_printf(out, ", %u stanzas waiting", r->nqueued);
        if (nv)
            cw_sb_printf(out, ", %u dialback checks waiting", nv);
        if (r->last_error[0])
            cw_sb_printf(out, "; %s", r->last_error);
        cw_sb_printf(out, "\n");
        any = 1;
    }
    if (!any)
        cw_sb_printf(out, "  (none)\n");
}
