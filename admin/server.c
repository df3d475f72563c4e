/* server.c - the admin server's listener and connections: TLS streams,
 * HTTP/1.1 request framing with the web proxy's strict parser, keep-alive,
 * time limits, and the answers' common headers. What a request gets is
 * route.c's business.
 *
 * A connection answers one request at a time. While an answer is made off
 * the loop (a password check, a deferred control command) reading pauses
 * and the connection holds a reference for the pending work, so a client
 * that goes away meanwhile frees nothing that the work will touch. */
#include "admin/admin_int.h"

#include "common/addr.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"
#include "webproxy/http.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes a client may have sent ahead: one head and one body. */
#define ADMIN_IN_MAX (16384 + ADMIN_MAX_BODY + 4096)

static void process(struct admin_conn *c);

const char *admin__reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

void admin__conn_ref(struct admin_conn *c)
{
    c->refs++;
}

void admin__conn_unref(struct admin_conn *c)
{
    struct cw_admin *a = c->a;

    if (--c->refs > 0)
        return;
    cw_sb_free(&c->in);
    explicit_bzero(&c->req.pass, sizeof(c->req.pass));
    cw_sb_free(&c->req.body);
    free(c);
    admin__maybe_free(a);
}

void admin__maybe_free(struct cw_admin *a)
{
    if (!a->closing || a->handles || a->nconns || a->pending)
        return;
    cw_tls_ctx_destroy(a->tls);
    if (a->acc)
        explicit_bzero(a->acc, a->nacc * sizeof(*a->acc));
    free(a->acc);
    free(a->addrs);
    explicit_bzero(a, sizeof(*a));
    free(a);
}

static void conn_close(struct admin_conn *c)
{
    if (c->s)
        cw_stream_close(c->s);
}

void admin__respond(struct admin_conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t len)
{
    struct admin_req *q = &c->req;
    struct cw_sb h;

    if (!c->s)
        return;
    cw_sb_init(&h);
    cw_sb_printf(&h, "HTTP/1.1 %d %s\r\n", status, admin__reason(status));
    if (ctype)
        cw_sb_printf(&h, "Content-Type: %s\r\n", ctype);
    cw_sb_printf(&h, "Content-Length: %zu\r\n", len);
    /* Every answer: the pages hold secrets (tokens, the state of the
     * network) that no cache, frame or other site may see. */
    CW_SB_LIT(&h, "Cache-Control: no-store\r\n"
                  "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; "
                  "form-action 'self'; frame-ancestors 'none'\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "Referrer-Policy: no-referrer\r\n"
                  "Strict-Transport-Security: max-age=31536000\r\n");
    if (!c->keep_alive)
        CW_SB_LIT(&h, "Connection: close\r\n");
    if (extra)
        cw_sb_str_add(&h, extra);
    CW_SB_LIT(&h, "\r\n");
    if (len)
        cw_sb_add(&h, body, len);
    if (!h.failed)
        cw_stream_write(c->s, h.s, h.len);
    else
        c->keep_alive = 0;
    cw_sb_free(&h);
    /* The audit trail: every change, never the routine reads (a scraper
     * polls every few seconds). Logins and logouts have their own lines. */
    if (q->method[0] && strcmp(q->method, "GET") && strcmp(q->target, "/login") &&
        strcmp(q->target, "/logout")) {
        if (q->user[0])
            CW_NOTICE("admin", "user \"%s\" from %s: %s %s -> %d", q->user, c->addr, q->method,
                      q->target, status);
        else
            CW_NOTICE("admin", "unauthenticated from %s: %s %s -> %d", c->addr, q->method,
                      q->target, status);
    }
}

/* A request that cannot be answered: one line for the operator, the
 * status, and the connection closes (what follows cannot be framed). */
static void refuse(struct admin_conn *c, int status, const char *why)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, admin__reason(status), why);

    CW_WARN("admin", "bad request from %s: %s (%d); connection closed", c->addr, why, status);
    c->keep_alive = 0;
    c->req.method[0] = 0;   /* no audit line: it was no request */
    admin__respond(c, status, "text/plain; charset=utf-8", NULL, body, (size_t)n);
    conn_close(c);
}

static void copy_field(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* Takes what route.c needs out of the parsed head (the buffer moves on).
 * 0, or an HTTP status to refuse with. */
static int take_request(struct admin_conn *c, const struct wp_http_req *h, const uint8_t *body,
                        size_t blen, const char **why)
{
    struct admin_req *q = &c->req;
    size_t tlen = strcspn(h->target, "?");

    cw_sb_clear(&q->body);
    explicit_bzero(q->pass, sizeof(q->pass));
    memset(q, 0, offsetof(struct admin_req, body));
    q->session = NULL;
    q->csrf[0] = q->action[0] = 0;
    q->mode = 0;
    if (tlen > h->target_len)
        tlen = h->target_len;
    if (h->method_len >= sizeof(q->method)) {
        *why = "unknown method";
        return 501;
    }
    if (tlen >= sizeof(q->target)) {
        *why = "request target too long";
        return 414;
    }
    copy_field(q->method, sizeof(q->method), h->method, h->method_len);
    copy_field(q->target, sizeof(q->target), h->target, tlen);
    for (unsigned i = 0; i < h->nfield; i++) {
        const struct wp_http_field *f = &h->field[i];

        if (wp_http_name_is(f, "cookie")) {
            int r = admin__cookie_get(f->value, f->value_len, "cw_session", q->session_id,
                                      sizeof(q->session_id));
            if (r == ADMIN_BAD || (r >= 0 && q->has_cookie))
                q->bad_auth_header = 1;
            else if (r >= 0)
                q->has_cookie = 1;
        } else if (wp_http_name_is(f, "authorization")) {
            int r = admin__basic_decode(f->value, f->value_len, q->user, sizeof(q->user), q->pass,
                                        sizeof(q->pass));
            if (r == ADMIN_BAD || (r == 0 && q->has_basic))
                q->bad_auth_header = 1;
            else if (r == 0)
                q->has_basic = 1;
        } else if (wp_http_name_is(f, "x-csrf-token")) {
            copy_field(q->csrf_hdr, sizeof(q->csrf_hdr), f->value, f->value_len);
        }
    }
    if (!q->has_basic)
        q->user[0] = 0;
    if (blen)
        cw_sb_add(&q->body, (const char *)body, blen);
    if (q->body.failed) {
        *why = "out of memory";
        return 503;
    }
    return 0;
}

/* After an answer: the next request, or the end of the connection. */
static void answered(struct admin_conn *c)
{
    uint64_t now = uv_now(c->a->loop);

    if (!c->s)
        return;
    explicit_bzero(c->req.pass, sizeof(c->req.pass));
    if (!c->keep_alive || (c->eof && !c->in.len)) {
        conn_close(c);
        return;
    }
    cw_stream_resume(c->s);
    c->deadline = now + (c->in.len ? ADMIN_HEADER_TIMEOUT_MS : ADMIN_IDLE_TIMEOUT_MS);
}

void admin__conn_resume(struct admin_conn *c)
{
    if (c->in_process)
        return;     /* answered from inside process(): its loop goes on */
    answered(c);
    process(c);
}

static void process(struct admin_conn *c)
{
    struct wp_http_limits lim;
    struct wp_http_req *h;
    const char *why = NULL;

    if (c->in_process)
        return;
    h = malloc(sizeof(*h));
    if (!h) {
        conn_close(c);
        return;
    }
    wp_http_limits_default(&lim);
    c->in_process = 1;
    admin__conn_ref(c);
    while (c->s && !c->busy && c->in.len) {
        int r = wp_http_parse_request((const uint8_t *)c->in.s, c->in.len, &lim, h, &why);
        uint64_t blen;
        size_t used;
        int st;

        if (r == 0)
            break;
        if (r < 0) {
            refuse(c, -r, why ? why : "malformed request");
            break;
        }
        if (h->body == WP_BODY_CHUNKED) {
            refuse(c, 411, "chunked request body (send Content-Length)");
            break;
        }
        blen = h->body == WP_BODY_LENGTH ? h->content_length : 0;
        if (blen > ADMIN_MAX_BODY) {
            refuse(c, 413, "request body over 16 KiB");
            break;
        }
        if (c->in.len < (size_t)r + blen) {
            /* RFC 9110 10.1.1: a client waiting for 100 before its body. */
            if (h->expect_continue && !c->sent_continue) {
                c->sent_continue = 1;
                cw_stream_write(c->s, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            }
            break;
        }
        st = take_request(c, h, (const uint8_t *)c->in.s + r, (size_t)blen, &why);
        if (st) {
            refuse(c, st, why);
            break;
        }
        used = (size_t)r + (size_t)blen;
        memmove(c->in.s, c->in.s + used, c->in.len - used);
        c->in.len -= used;
        c->in.s[c->in.len] = 0;
        c->keep_alive = h->keep_alive;
        c->sent_continue = 0;
        c->a->n.requests++;
        admin__route(c);
        if (c->busy) {
            c->deadline = 0;
            if (c->s)
                cw_stream_pause(c->s);
            break;
        }
        answered(c);
    }
    c->in_process = 0;
    free(h);
    admin__conn_unref(c);
}

static void on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct admin_conn *c = cw_stream_data(s);

    if (!c)
        return;
    if (c->in.len + n > ADMIN_IN_MAX) {
        refuse(c, 431, "more bytes than one request may have");
        return;
    }
    if (!c->in.len && !c->busy)
        c->deadline = uv_now(c->a->loop) + ADMIN_HEADER_TIMEOUT_MS;
    cw_sb_add(&c->in, (const char *)p, n);
    if (c->in.failed) {
        conn_close(c);
        return;
    }
    process(c);
}

static void on_eof(struct cw_stream *s)
{
    struct admin_conn *c = cw_stream_data(s);

    if (!c) {
        cw_stream_close(s);
        return;
    }
    c->eof = 1;
    if (!c->busy)
        conn_close(c);
}

static void on_close(struct cw_stream *s, int err)
{
    struct admin_conn *c = cw_stream_data(s);
    struct cw_admin *a;

    (void)err;
    if (!c)
        return;
    a = c->a;
    c->s = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    if (a->nconns < ADMIN_MAX_CONNS)
        a->full_logged = 0;
    admin__conn_unref(c);
}

static const struct cw_stream_cbs conn_cbs = {
    .on_data = on_data, .on_close = on_close, .on_eof = on_eof,
};

static void on_connection(uv_stream_t *server, int status)
{
    struct cw_admin *a = server->data;
    struct cw_stream *s;
    struct admin_conn *c;

    if (status < 0 || a->closing)
        return;
    s = cw_stream_accept(server, a->tls, &conn_cbs, NULL);
    if (!s)
        return;
    if (a->nconns >= ADMIN_MAX_CONNS) {
        if (!a->full_logged)
            CW_WARN("admin", "%d connections open: refusing more until some close (a client "
                    "opening many, or a scan?)", ADMIN_MAX_CONNS);
        a->full_logged = 1;
        cw_stream_close(s);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        cw_stream_close(s);
        return;
    }
    c->a = a;
    c->s = s;
    c->refs = 1;
    c->keep_alive = 1;
    cw_sb_init(&c->in);
    cw_sb_init(&c->req.body);
    cw_addr_fmt(cw_stream_peer(s), c->addr, sizeof(c->addr), 0);
    c->deadline = uv_now(a->loop) + ADMIN_HEADER_TIMEOUT_MS;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    cw_stream_set_data(s, c);
}

/* Every second: connections past their deadline, idle sessions. */
static void on_sweep(uv_timer_t *t)
{
    struct cw_admin *a = t->data;
    uint64_t now = uv_now(a->loop);

    for (struct admin_conn *c = a->conns, *next; c; c = next) {
        next = c->next;
        if (!c->deadline || now < c->deadline || !c->s)
            continue;
        if (c->in.len) {
            /* Slowloris: a head or body that never completes. */
            CW_NOTICE("admin", "closed connection from %s: request not complete within %d s",
                      c->addr, ADMIN_HEADER_TIMEOUT_MS / 1000);
            c->keep_alive = 0;
            c->req.method[0] = 0;
            admin__respond(c, 408, "text/plain; charset=utf-8", NULL, "408 Request Timeout\n", 20);
        }
        conn_close(c);
    }
    admin__sessions_sweep(a);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct cw_admin *a = h->data;

    a->handles--;
    admin__maybe_free(a);
}

/* "admin unlock NAME" -> cmd "admin unlock", arg "NAME". */
static int parse_actions(struct cw_admin *a, const char *const *list, char *err, size_t errlen)
{
    for (; list && *list; list++) {
        struct admin_action *x = &a->actions[a->nactions];
        const char *p = *list, *up = p;

        if (a->nactions == ADMIN_MAX_ACTIONS) {
            snprintf(err, errlen, "more than %d admin actions", ADMIN_MAX_ACTIONS);
            return -1;
        }
        while (*up && !(up[0] >= 'A' && up[0] <= 'Z' && (up == p || up[-1] == ' ')))
            up++;
        snprintf(x->cmd, sizeof(x->cmd), "%.*s", (int)(up - p), p);
        while (x->cmd[0] && x->cmd[strlen(x->cmd) - 1] == ' ')
            x->cmd[strlen(x->cmd) - 1] = 0;
        snprintf(x->arg, sizeof(x->arg), "%s", up);
        a->nactions++;
    }
    return 0;
}

static int tls_load(struct cw_admin *a, char *err, size_t errlen)
{
    char e[512];
    struct cw_tls_ctx *t = cw_tls_ctx_create_server(a->conf.cert, a->conf.key, e, sizeof(e));

    if (!t) {
        snprintf(err, errlen, "admin certificate: %s", e);
        return -1;
    }
    cw_tls_ctx_set_handshake_timeout(t, ADMIN_HEADER_TIMEOUT_MS);
    /* Connections open keep the old context through their reference. */
    cw_tls_ctx_destroy(a->tls);
    a->tls = t;
    return 0;
}

struct cw_admin *cw_admin_create(uv_loop_t *loop, const struct cw_admin_opts *o, char *err,
                                 size_t errlen)
{
    struct cw_admin *a = calloc(1, sizeof(*a));
    char pw[33], where[80];
    int rc;

    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->conf = *o->conf;
    snprintf(a->product, sizeof(a->product), "%s", o->product ? o->product : "causeway");
    if (gethostname(a->host, sizeof(a->host)) < 0 || !a->host[0])
        snprintf(a->host, sizeof(a->host), "?");
    a->report = o->report;
    a->report_arg = o->report_arg;
    a->stats = o->stats;
    a->ctl = o->ctl;
    a->addrs = calloc(ADMIN_MAX_ADDRS, sizeof(*a->addrs));
    if (!a->addrs || admin__random_hex(pw, 16) < 0 ||
        cw_admin_hash_password(pw, a->dummy_hash, sizeof(a->dummy_hash)) < 0) {
        snprintf(err, errlen, "out of memory (or no yescrypt in libcrypt)");
        goto fail;
    }
    if (parse_actions(a, o->actions, err, errlen) < 0 || admin__accounts_load(a, err, errlen) < 0 ||
        tls_load(a, err, errlen) < 0)
        goto fail;
    uv_tcp_init(loop, &a->listener);
    a->listener.data = a;
    a->handles++;
    cw_addr_fmt((const struct sockaddr *)&a->conf.listen, where, sizeof(where), 1);
    rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)&a->conf.listen, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 64, on_connection);
    if (rc < 0) {
        const char *hint = cw_addr_bind_hint((const struct sockaddr *)&a->conf.listen, rc);

        snprintf(err, errlen, "cannot listen on %s: %s%s", where, uv_strerror(rc),
                 *hint ? hint : " (another process on the port? change [admin] listen)");
        a->closing = 1;
        uv_close((uv_handle_t *)&a->listener, on_handle_closed);
        return NULL;
    }
    uv_timer_init(loop, &a->sweep);
    a->sweep.data = a;
    a->handles++;
    uv_timer_start(&a->sweep, on_sweep, 1000, 1000);
    if (a->stats) {
        cw_stats_add(a->stats, "admin_logins_ok_total", "Admin logins that succeeded",
                     CW_STAT_COUNTER, &a->n.logins_ok);
        cw_stats_add(a->stats, "admin_logins_failed_total",
                     "Admin logins refused (wrong password, unknown user, locked)",
                     CW_STAT_COUNTER, &a->n.logins_failed);
        cw_stats_add(a->stats, "admin_lockouts_total", "Admin accounts and addresses locked",
                     CW_STAT_COUNTER, &a->n.lockouts);
        cw_stats_add(a->stats, "admin_requests_total", "Requests to the admin interface",
                     CW_STAT_COUNTER, &a->n.requests);
        cw_stats_add(a->stats, "admin_sessions_active", "Admin sessions open now", CW_STAT_GAUGE,
                     &a->n.sessions_active);
    }
    if (a->ctl)
        admin__commands_register(a);
    CW_NOTICE("admin", "HTTPS admin interface on %s (%zu account%s from %s)", where, a->nacc,
              a->nacc == 1 ? "" : "s", a->conf.users);
    return a;
fail:
    a->closing = 1;
    admin__maybe_free(a);
    return NULL;
}

int cw_admin_reload(struct cw_admin *a, char *err, size_t errlen)
{
    if (admin__accounts_load(a, err, errlen) < 0 || tls_load(a, err, errlen) < 0)
        return -1;
    CW_NOTICE("admin", "reloaded %zu account%s from %s and the certificate %s", a->nacc,
              a->nacc == 1 ? "" : "s", a->conf.users, a->conf.cert);
    return 0;
}

void cw_admin_close(struct cw_admin *a)
{
    if (!a || a->closing)
        return;
    a->closing = 1;
    uv_close((uv_handle_t *)&a->listener, on_handle_closed);
    uv_close((uv_handle_t *)&a->sweep, on_handle_closed);
    for (struct admin_conn *c = a->conns; c; c = c->next)
        conn_close(c);
}

int cw_admin_start(uv_loop_t *loop, const struct cw_admin_opts *o, const char *comp,
                   const char *conf_path, struct cw_admin **out)
{
    char err[1024];

    *out = NULL;
    if (!o->conf->enabled) {
        cw_log(CW_LOG_NOTICE, comp, "no [admin] section in %s: no admin interface (status "
               "pages, API, metrics over HTTPS)", conf_path);
        return 0;
    }
    *out = cw_admin_create(loop, o, err, sizeof(err));
    if (!*out) {
        cw_log(CW_LOG_ERROR, comp, "admin interface not started: %s", err);
        return -1;
    }
    return 0;
}
