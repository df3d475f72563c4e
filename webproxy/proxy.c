/* proxy.c - the web proxy's listeners: accepting within the connection
 * limits (in total and per client address), routes, the access log,
 * status, and a graceful stop. The HTTP exchanges are in exchange.c. */
#include "webproxy/webproxy_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wp_listener {
    uv_tcp_t tcp;
    struct webproxy *wp;
    int tls;
    struct sockaddr_storage addr;
    int accepted_this_turn;             /* a connection was taken in this loop turn */
    int deferred;                       /* one is waiting for the next turn (see on_connection) */
};

/* Connections per client address, hashed: looked up at every accept. */
struct wp_ipcount {
    struct wp_ipcount *next;
    struct sockaddr_storage addr;
    unsigned n;
};

void wp_options_init(struct wp_options *o)
{
    memset(o, 0, sizeof(*o));
    o->header_timeout_ms = 10000;
    o->idle_timeout_ms = 60000;
    o->connect_timeout_ms = 5000;
    o->response_timeout_ms = 60000;
    o->max_connections = 10000;
    o->max_per_ip = 100;
    o->hsts_max_age = 31536000;
    o->io_uring = 1;
}

struct wp_link *wp__route_link(struct webproxy *wp, const struct wp_host *route)
{
    return wp->links[route - wp->o.host];
}

/* A link per distinct backend among the hosts that want one. */
static int links_start(struct webproxy *wp, char *err, size_t errlen)
{
    for (int i = 0; i < wp->o.nhost; i++) {
        const struct sockaddr *b = (const struct sockaddr *)&wp->o.host[i].backend;

        if (!wp->o.host[i].link)
            continue;
        for (int j = 0; j < i && !wp->links[i]; j++)
            if (wp->links[j] && cw_addr_equal((const struct sockaddr *)&wp->o.host[j].backend, b, 1))
                wp->links[i] = wp->links[j];
        if (wp->links[i])
            continue;
        if (!(wp->links[i] = wp__link_create(wp, b))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        wp->link_list[wp->nlinks++] = wp->links[i];
    }
    return 0;
}

const struct wp_host *wp__route(const struct webproxy *wp, const char *host)
{
    for (int i = 0; i < wp->o.nhost; i++)
        if (!strcmp(wp->o.host[i].name, host))
            return &wp->o.host[i];
    return NULL;
}

static struct wp_ipcount **ip_bucket(struct webproxy *wp, const struct sockaddr *sa)
{
    struct sockaddr_storage a;

    memcpy(&a, sa, cw_addr_len(sa));
    cw_addr_set_port((struct sockaddr *)&a, 0);     /* the address alone */
    return &wp->ips[cw_addr_hash((const struct sockaddr *)&a, 0) % WP_IP_BUCKETS];
}

static struct wp_ipcount *ip_find(struct webproxy *wp, const struct sockaddr *sa)
{
    for (struct wp_ipcount *p = *ip_bucket(wp, sa); p; p = p->next)
        if (cw_addr_equal((const struct sockaddr *)&p->addr, sa, 0))
            return p;
    return NULL;
}

/* Counts one more connection from sa; -1 when that is over the limit. */
static int ip_take(struct webproxy *wp, const struct sockaddr *sa)
{
    struct wp_ipcount *p = ip_find(wp, sa);

    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return -1;
        memcpy(&p->addr, sa, cw_addr_len(sa));
        p->next = *ip_bucket(wp, sa);
        *ip_bucket(wp, sa) = p;
    }
    if (p->n >= wp->o.max_per_ip)
        return -1;
    p->n++;
    return 0;
}

static void ip_release(struct webproxy *wp, const struct sockaddr *sa)
{
    struct wp_ipcount **pp, *p;

    for (pp = ip_bucket(wp, sa); (p = *pp); pp = &p->next) {
        if (cw_addr_equal((const struct sockaddr *)&p->addr, sa, 0)) {
            if (p->n)
                p->n--;
            if (!p->n) {
                *pp = p->next;
                free(p);
            }
            return;
        }
    }
}

static void maybe_closed(struct webproxy *wp);

void wp__conn_gone(struct webproxy *wp, struct wp_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        wp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    wp->nconns--;
    if (c->counted)
        ip_release(wp, (const struct sockaddr *)&c->peer);
    if (wp->closing)
        maybe_closed(wp);
}

static void accept_one(struct wp_listener *l)
{
    struct webproxy *wp = l->wp;
    struct wp_conn *c;

    l->accepted_this_turn = 1;
    c = wp__conn_start(wp, (uv_stream_t *)&l->tcp, l->tls);
    if (!c)
        return;
    c->next = wp->conns;
    if (c->next)
        c->next->prev = c;
    wp->conns = c;
    wp->nconns++;
    wp->accepted++;
    if (wp->closing) {
        wp__conn_close(c);
        return;
    }
    if (wp->nconns > wp->o.max_connections) {
        if (!wp->at_limit_logged)
            CW_WARN("webproxy", "%u connections, the max-connections limit: refusing new ones "
                    "until some end", wp->o.max_connections);
        wp->at_limit_logged = 1;
        wp->refused++;
        wp__conn_close(c);
        return;
    }
    wp->at_limit_logged = 0;
    if (ip_take(wp, (const struct sockaddr *)&c->peer) < 0) {
        CW_INFO("webproxy", "refusing a connection from %s: %u open from that address "
                "(max-connections-per-ip)", c->peer_ip, wp->o.max_per_ip);
        wp->refused++;
        wp__conn_close(c);
        return;
    }
    c->counted = 1;
}

/* A listener takes one connection per loop turn, as nginx does without
 * multi_accept: a burst of new guests then waits in the kernel's accept
 * queue, not in front of the requests of guests already connected, whose
 * answers would otherwise wait for a whole batch of TLS handshakes. When
 * on_connection leaves a connection unaccepted, libuv stops watching the
 * listener until it is taken; the prepare handle takes it on the next turn
 * and clears the mark. */
static void on_connection(uv_stream_t *server, int status)
{
    struct wp_listener *l = server->data;

    if (status < 0) {
        CW_WARN("webproxy", "accept: %s", uv_strerror(status));
        return;
    }
    if (l->accepted_this_turn) {
        l->deferred = 1;
        return;
    }
    accept_one(l);
}

static void on_turn(uv_prepare_t *h)
{
    struct webproxy *wp = h->data;

    for (int i = 0; i < wp->nlst; i++) {
        struct wp_listener *l = wp->lst[i];

        l->accepted_this_turn = 0;
        if (l->deferred) {
            l->deferred = 0;
            accept_one(l);
        }
    }
}

static int listen_on(struct webproxy *wp, const struct sockaddr_storage *ss, int tls, char *err,
                     size_t errlen)
{
    struct wp_listener *l = calloc(1, sizeof(*l));
    char a[80];
    int rc;

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->wp = wp;
    l->tls = tls;
    l->addr = *ss;
    uv_tcp_init(wp->loop, &l->tcp);
    l->tcp.data = l;
    wp->lst[wp->nlst++] = l;
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s (%s): %s%s",
                 cw_addr_fmt((const struct sockaddr *)ss, a, sizeof(a), 1), tls ? "https" : "http",
                 uv_strerror(rc), cw_addr_bind_hint((const struct sockaddr *)ss, rc));
        return -1;
    }
    return 0;
}

static void flush_access(uv_timer_t *h)
{
    struct webproxy *wp = h->data;

    if (wp->access)
        fflush(wp->access);
}

/* Access lines are written in blocks, at most a second late: a write per
 * request would cost a syscall each. */
static void open_access_log(struct webproxy *wp)
{
    if (!wp->o.access_log[0])
        return;
    wp->access = fopen(wp->o.access_log, "ae");
    if (!wp->access) {
        CW_ERROR("webproxy", "cannot open access-log %s: %s; access lines go to the log",
                 wp->o.access_log, strerror(errno));
        return;
    }
    setvbuf(wp->access, NULL, _IOFBF, 65536);
    if (!wp->flush_timer && (wp->flush_timer = malloc(sizeof(*wp->flush_timer)))) {
        uv_timer_init(wp->loop, wp->flush_timer);
        wp->flush_timer->data = wp;
        uv_timer_start(wp->flush_timer, flush_access, 1000, 1000);
        uv_unref((uv_handle_t *)wp->flush_timer);
    }
}

/* The close callback of the heap-allocated handles (flush timer, pace). */
static void handle_free_closed(uv_handle_t *h)
{
    free(h);
}

static void listener_closed(uv_handle_t *h)
{
    free(h->data);
}

static void free_all(struct webproxy *wp)
{
    struct wp_ipcount *p;

    for (unsigned i = 0; i < WP_IP_BUCKETS; i++)
        while ((p = wp->ips[i])) {
            wp->ips[i] = p->next;
            free(p);
        }
    if (wp->access)
        fclose(wp->access);
    cw_wbatch_free(wp->wbatch);
    cw_sb_free(&wp->line);
    if (wp->tls)
        cw_tls_ctx_destroy(wp->tls);
    free(wp);
}

/* The start's line: where guests come in, and where each host's requests go. */
static void log_start(const struct webproxy *wp)
{
    struct cw_sb l;
    char a[CW_ADDR_STRLEN];

    cw_sb_init(&l);
    wp__listeners_text(wp, &l, ", ");
    for (int i = 0; i < wp->o.nhost; i++) {
        const struct wp_host *h = &wp->o.host[i];

        cw_sb_printf(&l, "%s %s -> %s%s", i ? "," : "; hosts:", h->name,
                     cw_addr_fmt((const struct sockaddr *)&h->backend, a, sizeof(a), 1),
                     h->link ? " (tunnel link)" : "");
    }
    CW_NOTICE("webproxy", "listening on %s", l.len ? l.s : "nothing");
    cw_sb_free(&l);
}

struct webproxy *webproxy_create(uv_loop_t *loop, const struct wp_options *o, struct cw_tls_ctx *tls,
                                 char *err, size_t errlen)
{
    struct webproxy *wp = calloc(1, sizeof(*wp));

    if (!wp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    wp->loop = loop;
    wp->o = *o;
    wp_http_limits_default(&wp->lim);
    if (tls)
        wp->tls = cw_tls_ctx_ref(tls);
    if (!(wp->pace = malloc(sizeof(*wp->pace)))) {
        free(wp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uv_timer_init(loop, &wp->close_timer);
    wp->close_timer.data = wp;
    uv_prepare_init(loop, wp->pace);
    wp->pace->data = wp;
    uv_prepare_start(wp->pace, on_turn);
    uv_unref((uv_handle_t *)wp->pace);
    if (o->nlisten)
        wp->https_port = cw_addr_port((const struct sockaddr *)&o->listen[0]);
    for (int i = 0; i < o->nlisten; i++)
        if (listen_on(wp, &o->listen[i], 1, err, errlen) < 0)
            goto fail;
    for (int i = 0; i < o->nhttp_listen; i++)
        if (listen_on(wp, &o->http_listen[i], 0, err, errlen) < 0)
            goto fail;
    if (links_start(wp, err, errlen) < 0)
        goto fail;
    if (!o->io_uring) {
        snprintf(wp->wbatch_off, sizeof(wp->wbatch_off), "off ([edge] io-uring = no)");
    } else if (!(wp->wbatch = cw_wbatch_new(loop, wp->wbatch_off, sizeof(wp->wbatch_off)))) {
        CW_NOTICE("webproxy", "no io_uring (%s): socket writes go one system call each, "
                  "which costs CPU under load (see io-uring in docs/configuration.md)",
                  wp->wbatch_off);
    }
    open_access_log(wp);
    log_start(wp);
    return wp;
fail:
    /* Freed once its handles have closed, on a later loop turn. */
    webproxy_close(wp, 0, NULL, NULL);
    return NULL;
}

void webproxy_set_tls(struct webproxy *wp, struct cw_tls_ctx *tls)
{
    struct cw_tls_ctx *old = wp->tls;

    wp->tls = cw_tls_ctx_ref(tls);
    if (old)
        cw_tls_ctx_destroy(old);
}

void webproxy_reopen_log(struct webproxy *wp)
{
    if (wp->access)
        fclose(wp->access);
    wp->access = NULL;
    open_access_log(wp);
}

/* One access log line: client, time, request line, status, bytes sent,
 * Host, the backend's time to the response head and the total. Built by
 * hand, with the time text made once a second: it runs for every request. */
void wp__access(struct webproxy *wp, struct wp_conn *c)
{
    uint64_t now = uv_now(wp->loop);
    int cls = c->status / 100;
    struct cw_sb *l = &wp->line;
    time_t t;

    if (cls >= 1 && cls <= 5)
        wp->by_class[cls]++;
    if (c->upstream_error)
        wp->upstream_errors++;
    if (!wp->access) {
        char up[24] = "-";

        if (c->t_upstream)
            snprintf(up, sizeof(up), "%llu", (unsigned long long)(c->t_upstream - c->t_start));
        CW_INFO("access", "%s \"%s %s HTTP/1.%d\" %d %llu \"%s\" upstream_ms=%s total_ms=%llu",
                c->peer_ip, c->method[0] ? c->method : "-", c->target[0] ? c->target : "-", c->minor,
                c->status, (unsigned long long)c->bytes_out, c->host[0] ? c->host : "-", up,
                (unsigned long long)(c->t_start ? now - c->t_start : 0));
        return;
    }
    t = time(NULL);
    if (t != wp->when_t) {
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(wp->when, sizeof(wp->when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        wp->when_t = t;
    }
    cw_sb_clear(l);
    cw_sb_str_add(l, c->peer_ip);
    CW_SB_LIT(l, " - - [");
    cw_sb_str_add(l, wp->when);
    CW_SB_LIT(l, "] \"");
    cw_sb_str_add(l, c->method[0] ? c->method : "-");
    cw_sb_add(l, " ", 1);
    cw_sb_str_add(l, c->target[0] ? c->target : "-");
    cw_sb_str_add(l, c->minor ? " HTTP/1.1\" " : " HTTP/1.0\" ");
    cw_sb_uint(l, (unsigned)c->status);
    cw_sb_add(l, " ", 1);
    cw_sb_uint(l, c->bytes_out);
    CW_SB_LIT(l, " \"");
    cw_sb_str_add(l, c->host[0] ? c->host : "-");
    CW_SB_LIT(l, "\" upstream_ms=");
    if (c->t_upstream)
        cw_sb_uint(l, c->t_upstream - c->t_start);
    else
        cw_sb_add(l, "-", 1);
    CW_SB_LIT(l, " total_ms=");
    cw_sb_uint(l, c->t_start ? now - c->t_start : 0);
    cw_sb_add(l, "\n", 1);
    fwrite(l->s, 1, l->len, wp->access);
}

void wp__listeners_text(const struct webproxy *wp, struct cw_sb *out, const char *sep)
{
    char a[80];

    for (int i = 0; i < wp->nlst; i++)
        cw_sb_printf(out, "%s%s (%s)", i ? sep : "",
                     cw_addr_fmt((const struct sockaddr *)&wp->lst[i]->addr, a, sizeof(a), 1),
                     wp->lst[i]->tls ? "https" : "http, redirects to https");
}

void webproxy_status(struct webproxy *wp, struct cw_sb *out)
{
    char a[128];

    cw_sb_printf(out, "Web proxy:\n  Listening: ");
    wp__listeners_text(wp, out, " ");
    cw_sb_printf(out, "\n  Hosts:\n");
    for (int i = 0; i < wp->o.nhost; i++)
        cw_sb_printf(out, "    %s -> %s\n", wp->o.host[i].name,
                     cw_addr_fmt((const struct sockaddr *)&wp->o.host[i].backend, a, sizeof(a), 1));
    if (wp->tls) {
        cw_sb_printf(out, "  Certificates:\n");
        for (unsigned i = 0; i < cw_tls_ctx_cert_count(wp->tls); i++) {
            char sans[512], until[32] = "?";
            time_t na = 0;
            struct tm tm;

            if (cw_tls_ctx_cert_info(wp->tls, i, sans, sizeof(sans), &na) < 0)
                continue;
            if (na && gmtime_r(&na, &tm))
                strftime(until, sizeof(until), "%Y-%m-%d", &tm);
            cw_sb_printf(out, "    %s (valid until %s)%s\n", sans[0] ? sans : "(no subjectAltNames)",
                         until, na && na < time(NULL) ? "  EXPIRED" : "");
        }
    }
    cw_sb_printf(out, "  Connections: %u open (max %u, %u per address), %llu accepted, %llu refused\n",
                 wp->nconns, wp->o.max_connections, wp->o.max_per_ip,
                 (unsigned long long)wp->accepted, (unsigned long long)wp->refused);
    cw_sb_printf(out, "  Requests: %llu (1xx %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu); backend "
                 "failures %llu\n", (unsigned long long)wp->requests,
                 (unsigned long long)wp->by_class[1], (unsigned long long)wp->by_class[2],
                 (unsigned long long)wp->by_class[3], (unsigned long long)wp->by_class[4],
                 (unsigned long long)wp->by_class[5], (unsigned long long)wp->upstream_errors);
    cw_sb_printf(out, "  Socket writes: %s\n", cw_wbatch_text(wp->wbatch, wp->wbatch_off, a, sizeof(a)));
    if (wp->nlinks)
        cw_sb_printf(out, "  Tunnel links (guest connections to a core multiplexed on one "
                     "tunnel connection):\n");
    for (int i = 0; i < wp->nlinks; i++)
        wp__link_status(wp->link_list[i], out);
}

/* ---- stopping ------------------------------------------------------------------ */

static void close_timer_closed(uv_handle_t *h)
{
    struct webproxy *wp = h->data;
    void (*done)(void *) = wp->close_done;
    void *arg = wp->close_arg;

    free_all(wp);
    if (done)
        done(arg);
}

static void maybe_closed(struct webproxy *wp)
{
    if (wp->nconns || uv_is_closing((uv_handle_t *)&wp->close_timer))
        return;
    for (int i = 0; i < wp->nlinks; i++)
        wp__link_close(wp->link_list[i]);
    wp->nlinks = 0;
    memset(wp->links, 0, sizeof(wp->links));
    uv_close((uv_handle_t *)&wp->close_timer, close_timer_closed);
}

static void on_grace_over(uv_timer_t *h)
{
    struct webproxy *wp = h->data;
    struct wp_conn *c, *next;

    if (wp->nconns)
        CW_NOTICE("webproxy", "closing %u connections still busy after the grace period", wp->nconns);
    for (c = wp->conns; c; c = next) {
        next = c->next;
        wp__conn_close(c);
    }
}

void webproxy_close(struct webproxy *wp, unsigned grace_ms, void (*done)(void *), void *arg)
{
    struct wp_conn *c, *next;

    if (wp->closing)
        return;
    wp->closing = 1;
    wp->close_done = done;
    wp->close_arg = arg;
    if (wp->flush_timer)
        uv_close((uv_handle_t *)wp->flush_timer, handle_free_closed);
    wp->flush_timer = NULL;
    uv_close((uv_handle_t *)wp->pace, handle_free_closed);
    wp->pace = NULL;
    wp__pool_close(wp);
    for (int i = 0; i < wp->nlst; i++)
        uv_close((uv_handle_t *)&wp->lst[i]->tcp, listener_closed);
    wp->nlst = 0;
    for (c = wp->conns; c; c = next) {
        next = c->next;
        wp__conn_drain(c);
    }
    uv_timer_start(&wp->close_timer, on_grace_over, grace_ms, 0);
    maybe_closed(wp);
}
