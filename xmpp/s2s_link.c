/* s2s_link.c - the edge's end of the federation links (fedlink.h): one per
 * core node, over the tunnel link protocol (common/mux.h) to the core's
 * tunnel forward, redialled while it is down.
 *
 * Tear-down happens in one place, the stream's on_close: errors found
 * inside the mux or XML callbacks only close the stream, because neither
 * engine may be destroyed from its own callbacks. */
#include "xmpp/s2s_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "xmpp/fedlink.h"

static void link_connect(struct s2s_link *l);

/* The proof with the link key (fedlink.h); all zeros if OpenSSL failed,
 * which no peer matches. */
static void proof(const struct s2s_gateway *gw, const char *label, const char *a, const char *b,
                  char out[FEDLINK_PROOF_LEN + 1])
{
    if (fedlink_proof(gw->o.link_key, gw->o.link_key_len, label, a, b, out) < 0)
        snprintf(out, FEDLINK_PROOF_LEN + 1, "%0*d", FEDLINK_PROOF_LEN, 0);
}

static void link_down(struct s2s_link *l, const char *why)
{
    if (l->state == LK_DOWN)
        return;
    snprintf(l->last_error, sizeof(l->last_error), "%s", why);
    if (l->state == LK_READY)
        CW_WARN("federation", "link to core %s (%s) down: %s; retrying every %d s", l->node,
                l->addr_str, why, FEDLINK_RETRY_MS / 1000);
    else if (!l->logged_down)
        CW_WARN("federation", "cannot set up the link to core %s: %s (retrying every %d s; "
                "federation needs one core link)", l->addr_str, why, FEDLINK_RETRY_MS / 1000);
    l->logged_down = 1;
    l->state = LK_DOWN;
    if (l->st)
        cw_stream_close(l->st);
}

static void flush(struct s2s_link *l)
{
    const uint8_t *p;
    size_t n;

    while (l->mux && l->st && (p = cw_mux_out(l->mux, &n)) && n) {
        if (cw_stream_write(l->st, p, n) < 0)
            return;
        cw_mux_out_done(l->mux, n);
    }
}

/* The streams from foreign servers wait while the link is behind (see
 * S2S_LINK_PEND_HIGH); with a quarter of that left they go on. */
static void hold_check(struct s2s_link *l)
{
    if (!l->gw->held && l->pend.len > S2S_LINK_PEND_HIGH)
        s2s__hold(l->gw, 1, l->pend.len);
    else if (l->gw->held && l->pend.len < S2S_LINK_PEND_HIGH / 4)
        s2s__hold(l->gw, 0, l->pend.len);
}

static void pend_push(struct s2s_link *l)
{
    size_t k;

    while (l->pend.len && l->ms) {
        k = cw_mux_send(l->ms, l->pend.s, l->pend.len);
        if (!k)
            break;
        memmove(l->pend.s, l->pend.s + k, l->pend.len - k);
        l->pend.len -= k;
    }
    hold_check(l);
}

static void link_write(struct s2s_link *l, const char *p, size_t n)
{
    size_t k = 0;

    if (!l->ms)
        return;
    if (!l->pend.len)
        k = cw_mux_send(l->ms, p, n);
    if (k < n) {
        if (l->pend.len + (n - k) > S2S_LINK_PEND_MAX) {
            link_down(l, "the core does not take what the edge sends");
            return;
        }
        cw_sb_add(&l->pend, p + k, n - k);
        hold_check(l);
    }
    flush(l);
}

/* ---- the XML stream of the link ------------------------------------------------ */

static int x_open(void *ctx, const struct xml_node *head)
{
    struct s2s_link *l = ctx;
    const char *id = xml_node_attr(head, "id"), *from = xml_node_attr(head, "from");
    char p[65], msg[200];

    if (!id || strlen(id) != 32) {
        link_down(l, "the core's stream header has no proper id");
        return XML_STOP;
    }
    snprintf(l->core_id, sizeof(l->core_id), "%s", id);
    snprintf(l->node, sizeof(l->node), "%s", from ? from : "?");
    proof(l->gw, FEDLINK_LABEL_EDGE, l->core_id, l->nonce, p);
    snprintf(msg, sizeof(msg), "<handshake xmlns='" FEDLINK_NS "'>%s</handshake>", p);
    link_write(l, msg, strlen(msg));
    return 0;
}

static void set_domains(struct s2s_link *l, const struct xml_node *n)
{
    struct cw_sb t;
    int k = 0;

    for (const struct xml_node *d = xml_node_find(n, "domain", FEDLINK_NS); d;
         d = xml_node_find_next(d, "domain", FEDLINK_NS))
        k++;
    free(l->domains);
    l->domains = k ? calloc((size_t)k, sizeof(*l->domains)) : NULL;
    l->ndomains = 0;
    cw_sb_init(&t);
    for (const struct xml_node *d = xml_node_find(n, "domain", FEDLINK_NS); d && l->domains;
         d = xml_node_find_next(d, "domain", FEDLINK_NS))
        snprintf(l->domains[l->ndomains++], sizeof(l->domains[0]), "%s", xml_node_text(d, &t));
    cw_sb_free(&t);
    CW_INFO("federation", "core %s serves %d domains", l->node, l->ndomains);
}

static int link_has(const struct s2s_link *l, const char *domain)
{
    for (int i = 0; i < l->ndomains; i++)
        if (!strcmp(l->domains[i], domain))
            return 1;
    return 0;
}

static int x_stanza(void *ctx, struct xml_node *n)
{
    struct s2s_link *l = ctx;
    char fd[S2S_DOMAIN_MAX + 1], td[S2S_DOMAIN_MAX + 1], want[65];
    const char *pr;

    if (l->state == LK_DOWN) {
        xml_node_free(n);
        return XML_STOP;
    }
    if (l->state == LK_HANDSHAKE && !strcmp(n->ns, XML_NS_STREAM) && !strcmp(n->name, "error")) {
        const char *cond = n->child && n->child->name ? n->child->name : "?";
        char msg[300];
        snprintf(msg, sizeof(msg), "the core refused the link with <%s/>%s", cond,
                 strcmp(cond, "not-authorized") ? "" : " (the link keys differ: link-key-file "
                 "must hold the same bytes on the edge and the core)");
        xml_node_free(n);
        link_down(l, msg);
        return XML_STOP;
    }
    if (l->state == LK_HANDSHAKE) {
        pr = xml_node_attr(n, "proof");
        proof(l->gw, FEDLINK_LABEL_CORE, l->nonce, l->core_id, want);
        if (strcmp(n->name, "handshake") != 0 || strcmp(n->ns, FEDLINK_NS) != 0 || !pr ||
            strlen(pr) != 64 || CRYPTO_memcmp(pr, want, 64) != 0) {
            xml_node_free(n);
            link_down(l, "the core's handshake did not prove the link key (check that "
                         "link-key-file holds the same key on the edge and the core)");
            return XML_STOP;
        }
        if (xml_node_attr(n, "node"))
            snprintf(l->node, sizeof(l->node), "%s", xml_node_attr(n, "node"));
        l->state = LK_READY;
        l->since = time(NULL);
        l->logged_down = 0;
        l->last_error[0] = 0;
        CW_NOTICE("federation", "link to core %s (%s) up", l->node, l->addr_str);
        xml_node_free(n);
        return 0;
    }
    if (!strcmp(n->ns, FEDLINK_NS) && !strcmp(n->name, "domains")) {
        set_domains(l, n);
    } else if (!strcmp(n->ns, XML_NS_STREAM) && !strcmp(n->name, "error")) {
        link_down(l, n->child && n->child->name ? n->child->name : "stream error");
    } else if (!strcmp(n->name, "message") || !strcmp(n->name, "presence") ||
               !strcmp(n->name, "iq")) {
        s2s__domain_of(xml_node_attr(n, "from"), fd, sizeof(fd));
        s2s__domain_of(xml_node_attr(n, "to"), td, sizeof(td));
        l->stanzas_in++;
        if (!fd[0] || !td[0] || !link_has(l, fd) || s2s__is_ours(l->gw, td)) {
            CW_INFO("federation", "core %s sent a <%s/> from \"%s\" to \"%s\": not ours to "
                    "foreign; dropped", l->node, n->name, fd, td);
        } else {
            s2s__route_out(l->gw, n, fd, td);
            return 0;
        }
    }
    xml_node_free(n);
    return 0;
}

static int x_close(void *ctx)
{
    link_down(ctx, "the core closed the link stream");
    return XML_STOP;
}

static const struct xml_stream_cbs link_xml_cbs = {
    .on_open = x_open,
    .on_stanza = x_stanza,
    .on_close = x_close,
};

/* ---- the mux ------------------------------------------------------------------------ */

static int m_open(struct cw_mux_stream *s, void *arg)
{
    (void)s;
    (void)arg;
    return CW_MUX_RST_REFUSED;   /* the edge opens; the core never does */
}

static void m_data(struct cw_mux_stream *s, const uint8_t *p, size_t n)
{
    struct s2s_link *l = cw_mux_stream_data(s);
    const char *why;

    if (l->state == LK_DOWN)
        return;
    if (xml_stream_feed(l->xs, (const char *)p, n) < 0) {
        char msg[300];
        const char *cond = xml_stream_error(l->xs, &why);
        snprintf(msg, sizeof(msg), "the core's stream is broken (%s: %s)", cond, why);
        link_down(l, msg);
        return;
    }
    cw_mux_consumed(s, n);
}

static void m_fin(struct cw_mux_stream *s)
{
    link_down(cw_mux_stream_data(s), "the core ended the link stream");
}

static void m_reset(struct cw_mux_stream *s, uint32_t code)
{
    struct s2s_link *l = cw_mux_stream_data(s);
    char msg[200];

    l->ms = NULL;
    cw_mux_release(s, 0);
    if (code == CW_MUX_RST_LOST)
        return;
    snprintf(msg, sizeof(msg), "the core refused the link stream (%s)",
             code == CW_MUX_RST_CONNECT ? "it could not connect to its [xmpp] link-listen: is "
                                          "federation configured on that core?" :
                                          "reset");
    link_down(l, msg);
}

static void m_writable(struct cw_mux_stream *s)
{
    pend_push(cw_mux_stream_data(s));
}

static void m_output(struct cw_mux *m, void *arg)
{
    (void)m;
    flush(arg);
}

static const struct cw_mux_cbs link_mux_cbs = {
    .on_open = m_open,
    .on_data = m_data,
    .on_fin = m_fin,
    .on_reset = m_reset,
    .on_writable = m_writable,
    .on_output = m_output,
};

/* ---- the connection ------------------------------------------------------------------- */

static void l_data(struct cw_stream *st, const uint8_t *p, size_t n)
{
    struct s2s_link *l = cw_stream_data(st);
    int r;

    if (!l->mux || l->state == LK_DOWN)
        return;
    r = cw_mux_feed(l->mux, p, n);
    if (r < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s (%s)", r == CW_MUX_EPREFACE ?
                 "what answers there is not a core's tunnel" : "tunnel link protocol error",
                 cw_mux_why(l->mux));
        link_down(l, msg);
        return;
    }
    flush(l);
}

static void retry_cb(uv_timer_t *t)
{
    link_connect(t->data);
}

static void l_close(struct cw_stream *st, int err)
{
    struct s2s_link *l = cw_stream_data(st);
    struct s2s_gateway *gw = l->gw;

    if (l->state != LK_DOWN)
        link_down(l, err ? cw_stream_strerror(err) : "the tunnel closed the connection");
    l->st = NULL;
    if (l->mux)
        cw_mux_destroy(l->mux);   /* resets the stream: m_reset with LOST */
    l->mux = NULL;
    l->ms = NULL;
    xml_stream_destroy(l->xs);
    l->xs = NULL;
    /* The domains the core announced stay ours while the link is down (a
     * core restarting, a tunnel coming back): foreign servers' stanzas for
     * them are bounced one by one (service-unavailable), their streams kept,
     * instead of the streams ended with host-unknown as if the domains were
     * not served here. The next handshake replaces the list. */
    cw_sb_clear(&l->pend);
    hold_check(l);      /* what waited is gone with the link */
    if (gw->closing) {
        free(l->domains);
        l->domains = NULL;
        l->ndomains = 0;
        cw_sb_free(&l->pend);
        s2s__unlive(gw);
        return;
    }
    s2s__unlive(gw);
    uv_timer_start(&l->retry, retry_cb, FEDLINK_RETRY_MS, 0);
}

static const struct cw_stream_cbs link_stream_cbs = {
    .on_data = l_data,
    .on_close = l_close,
};

static void l_connected(struct cw_stream *st)
{
    struct s2s_link *l = cw_stream_data(st);
    struct xml_limits lim = l->gw->o.limits;
    char head[300];

    lim.stamped = 1;        /* the core's stanzas, stamped there */
    l->state = LK_HANDSHAKE;
    l->mux = cw_mux_create(1, &link_mux_cbs, l);
    l->xs = xml_stream_create(&lim, &link_xml_cbs, l);
    if (!l->mux || !l->xs || cw_random_hex(l->nonce, 16) < 0 ||
        !(l->ms = cw_mux_open_service(l->mux, CW_MUX_SVC_XMPP, l))) {
        link_down(l, "out of memory");
        return;
    }
    snprintf(head, sizeof(head), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' nonce='%s' version='1.0'>",
             l->nonce);
    link_write(l, head, strlen(head));
}

static void link_connect(struct s2s_link *l)
{
    if (l->gw->closing)
        return;
    l->state = LK_CONNECTING;
    l->st = cw_stream_connect(l->gw->loop, (const struct sockaddr *)&l->addr, 5000,
                              &link_stream_cbs, l_connected, l);
    if (!l->st) {
        l->state = LK_DOWN;
        uv_timer_start(&l->retry, retry_cb, FEDLINK_RETRY_MS, 0);
        return;
    }
    l->gw->live++;
}

void s2s__links_start(struct s2s_gateway *gw)
{
    for (int i = 0; i < gw->o.ncore; i++) {
        struct s2s_link *l = &gw->link[i];
        l->gw = gw;
        l->idx = i;
        l->addr = gw->o.core[i];
        cw_addr_fmt((const struct sockaddr *)&l->addr, l->addr_str, sizeof(l->addr_str), 1);
        snprintf(l->node, sizeof(l->node), "?");
        cw_sb_init(&l->pend);
        uv_timer_init(gw->loop, &l->retry);
        l->retry.data = l;
        gw->live++;
        link_connect(l);
    }
}

static void retry_close_cb(uv_handle_t *h)
{
    struct s2s_link *l = h->data;

    s2s__unlive(l->gw);
}

void s2s__links_stop(struct s2s_gateway *gw)
{
    for (int i = 0; i < gw->o.ncore; i++) {
        struct s2s_link *l = &gw->link[i];
        uv_close((uv_handle_t *)&l->retry, retry_close_cb);
        if (l->st) {
            l->state = LK_DOWN;
            cw_stream_close(l->st);
        } else {
            cw_sb_free(&l->pend);
            free(l->domains);   /* kept from a link that went down (l_close) */
            l->domains = NULL;
            l->ndomains = 0;
        }
    }
}

int s2s__is_ours(const struct s2s_gateway *gw, const char *domain)
{
    for (int i = 0; i < gw->o.ncore; i++)
        if (link_has(&gw->link[i], domain))   /* announced, the link up or not (l_close) */
            return 1;
    return 0;
}

int s2s__to_core(struct s2s_gateway *gw, const struct xml_node *n)
{
    struct cw_sb *sb = &gw->scratch;

    for (int i = 0; i < gw->o.ncore; i++) {
        struct s2s_link *l = &gw->link[i];
        if (l->state != LK_READY)
            continue;
        cw_sb_clear(sb);
        xml_serialize(n, n->ns, sb);
        if (sb->failed)
            return -1;
        l->stanzas_out++;
        link_write(l, sb->s, sb->len);
        return 0;
    }
    return -1;
}

void s2s__links_status(const struct s2s_gateway *gw, struct cw_sb *out)
{
    static const char *names[] = { "down", "connecting", "handshake", "up" };
    char when[32];

    if (!gw->o.ncore)
        cw_sb_printf(out, "  (none configured: [federation] core)\n");
    for (int i = 0; i < gw->o.ncore; i++) {
        const struct s2s_link *l = &gw->link[i];
        cw_sb_printf(out, "  %-22s node %-12s %s", l->addr_str, l->node, names[l->state]);
        if (l->state == LK_READY) {
            s2s__time_fmt(l->since, when, sizeof(when));
            cw_sb_printf(out, " since %s, stanzas in %lu out %lu; domains:", when, l->stanzas_in,
                         l->stanzas_out);
            for (int k = 0; k < l->ndomains; k++)
                cw_sb_printf(out, " %s", l->domains[k]);
        } else if (l->last_error[0]) {
            cw_sb_printf(out, ": %s", l->last_error);
        }
        cw_sb_printf(out, "\n");
    }
}

int s2s_domains(const struct s2s_gateway *gw, int (*fn)(void *arg, const char *domain), void *arg)
{
    for (int i = 0; i < gw->o.ncore; i++) {
        const struct s2s_link *l = &gw->link[i];
        if (l->state != LK_READY)
            continue;
        for (int k = 0; k < l->ndomains; k++) {
            int seen = 0, rc;
            /* Cores of one cluster serve the same domains: each once. */
            for (int j = 0; j < i && !seen; j++)
                seen = gw->link[j].state == LK_READY && link_has(&gw->link[j], l->domains[k]);
            if (!seen && (rc = fn(arg, l->domains[k])) != 0)
                return rc;
        }
    }
    return 0;
}
