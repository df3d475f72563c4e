/* exchange.c - one client connection of the web proxy: request heads read
 * and checked, routed by Host, rewritten and sent to the backend; bodies
 * streamed both ways with back-pressure; responses framed so that the
 * connection can carry the next request; WebSocket upgrades spliced raw.
 *
 * One backend connection per client connection, kept across requests when
 * both sides allow it. Requests are answered in order: pipelined requests
 * wait in `in` (the client is not read further) until the one before has
 * its answer. Every exchange has one timer: the request head's deadline
 * (slowloris), the backend's connect deadline, then a deadline that moves
 * whenever bytes move; between requests, the keep-alive idle deadline. */
#include "webproxy/webproxy_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/stream.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum wp_timer { T_HEADER, T_IDLE, T_CONNECT, T_EXCHANGE };

static void process(struct wp_conn *c);
static void answer_error(struct wp_conn *c, int status, const char *why);
static void exchange_done(struct wp_conn *c);
static void on_timer(uv_timer_t *h);
static int up_open(struct wp_conn *c, const struct wp_host *route);

static uint64_t now_ms(const struct wp_conn *c)
{
    return uv_now(c->wp->loop);
}

/* Sets the connection's one deadline. A deadline that moves later (every
 * read of a response body moves it) is only recorded, and the timer, when
 * it fires before it, starts again for what is left; only a deadline that
 * moves earlier restarts the timer. */
static void timer_set(struct wp_conn *c, enum wp_timer kind, unsigned ms)
{
    uint64_t due = now_ms(c) + ms;

    c->timer_kind = kind;
    c->deadline = due;
    if (!uv_is_active((uv_handle_t *)&c->timer) || c->timer_due > due) {
        uv_timer_start(&c->timer, on_timer, ms, 0);
        c->timer_due = due;
    }
}

/* ---- the client side ------------------------------------------------------------- */

static void client_pause(struct wp_conn *c)
{
    if (!c->client_paused) {
        c->client_paused = 1;
        cw_stream_pause(c->cs);
    }
}

static void client_resume(struct wp_conn *c)
{
    if (c->client_paused) {
        c->client_paused = 0;
        cw_stream_resume(c->cs);
    }
}

static void client_send(struct wp_conn *c, const void *p, size_t n)
{
    if (!n || !c->cs || cw_stream_write(c->cs, p, n) < 0)
        return;
    /* The guest reads slower than the backend sends: stop reading it. */
    if (c->up && !c->up->read_paused && cw_stream_pending(c->cs) > WP_HIGH_WATER)
        wp__up_pause(c->up);
}

static void client_write(struct wp_conn *c, const void *p, size_t n)
{
    c->bytes_out += n;
    if (c->corked)
        cw_sb_add(&c->out, p, n);
    else
        client_send(c, p, n);
}

/* Sends what client_write gathered since client_cork. */
static void client_flush(struct wp_conn *c)
{
    c->corked = 0;
    client_send(c, c->out.s, c->out.len);
    cw_sb_clear(&c->out);
}

/* ---- the backend side (backend.c: TCP, or a stream of the route's link) ------------ */

/* Gives c's backend connection to the pool if it can carry another
 * exchange. 0 when it did. */
static int pool_put(struct wp_conn *c)
{
    if (!c->up || !c->resp_done || !c->req_done || wp__pool_put(c->up, c->wp) < 0)
        return -1;
    c->up = NULL;   /* transferred to the pool */
    return 0;
}

/* Lets go of the backend connection: it says nothing more. */
static void up_close(struct wp_conn *c)
{
    c->up_corked = 0;
    cw_sb_clear(&c->up_out);
    if (!c->up)
        return;
    wp__up_close(c->up);
    c->up = NULL;
}

void wp__up_drained(struct wp_upstream *u)
{
    struct wp_conn *c = u->c;

    if (c->state != WP_CLOSING &&
        ((c->state == WP_EXCHANGE && !c->req_done) || c->state == WP_WEBSOCKET))
        client_resume(c);
}

static void up_send(struct wp_conn *c, const void *p, size_t n)
{
    struct wp_upstream *u = c->up;

    if (!n || !u)
        return;
    if (wp__up_write(u, p, n) < 0) {
        answer_error(c, 502, "write to the backend failed");
        return;
    }
    /* The backend reads slower than the guest sends: stop reading the guest. */
    if (u->pending > WP_HIGH_WATER)
        client_pause(c);
}

static void up_write(struct wp_conn *c, const void *p, size_t n)
{
    if (c->up_corked)
        cw_sb_add(&c->up_out, p, n);
    else
        up_send(c, p, n);
}

static void up_flush(struct wp_conn *c)
{
    c->up_corked = 0;
    up_send(c, c->up_out.s, c->up_out.len);
    cw_sb_clear(&c->up_out);
}

/* A response body's bytes, p[0..n), toward the guest, framed as the
 * response head said. */
static void body_out(struct wp_conn *c, const uint8_t *p, size_t n)
{
    const char *why = NULL;
    size_t k = n;
    int done = 0;
    long r;

    switch (c->resp_body) {
    case WP_BODY_NONE:
        k = 0;
        done = 1;
        break;
    case WP_BODY_LENGTH:
        if (k > c->resp_left)
            k = (size_t)c->resp_left;
        c->resp_left -= k;
        done = c->resp_left == 0;
        break;
    case WP_BODY_CHUNKED:
        r = wp_chunked_feed(&c->resp_chunked, p, n, &done, &why);
        if (r < 0) {
            CW_WARN("webproxy", "backend %s for %s: bad chunked response body: %s; closing",
                    c->route->name, c->peer_ip, why ? why : "framing error");
            c->upstream_error = 1;
            wp__conn_close(c);
            return;
        }
        k = (size_t)r;
        break;
    case WP_BODY_CLOSE:
        break;
    }
    client_write(c, p, k);
    if (k < n && c->up)
        c->up->reusable = 0;    /* bytes after the body: do not trust this connection */
    if (done)
        exchange_done(c);
}

#define F(id) (1u << (id))

/* Whether a Connection field among fields[0..n) names f's field. */
static int named_by_connection(const struct wp_http_field *fields, unsigned n,
                               const struct wp_http_field *f)
{
    char name[64];

    if (f->name_len >= sizeof(name))
        return 0;       /* no option name is that long */
    memcpy(name, f->name, f->name_len);
    name[f->name_len] = '\0';
    for (unsigned i = 0; i < n; i++)
        if (fields[i].id == WP_F_CONNECTION &&
            wp_http_has_token(fields[i].value, fields[i].value_len, name))
            return 1;
    return 0;
}

/* Copies header fields to sb, leaving out those whose id is in the drop
 * mask and, when conn_names, the hop-by-hop ones that the message's own
 * Connection fields name (RFC 9110 7.6.1), except the keep id. */
static void copy_fields(struct cw_sb *sb, const struct wp_http_field *fields, unsigned n,
                        int conn_names, unsigned drop, enum wp_http_fid keep)
{
    for (unsigned i = 0; i < n; i++) {
        const struct wp_http_field *f = &fields[i];
        char *d;

        if (drop & F(f->id))
            continue;
        if (conn_names && !(keep != WP_F_OTHER && f->id == keep) &&
            named_by_connection(fields, n, f))
            continue;
        d = cw_sb_reserve(sb, f->name_len + f->value_len + 4);
        if (!d)
            return;
        memcpy(d, f->name, f->name_len);
        d += f->name_len;
        memcpy(d, ": ", 2);
        memcpy(d + 2, f->value, f->value_len);
        memcpy(d + 2 + f->value_len, "\r\n", 2);
    }
}

/* Copies a response head, rewritten for the guest: hop-by-hop fields
 * dropped, our Connection and HSTS added. A 101 keeps its Upgrade (its
 * Connection: Upgrade names it). */
static void write_resp_head(struct wp_conn *c, const struct wp_http_resp *r, int keep)
{
    unsigned drop = F(WP_F_CONNECTION) | F(WP_F_KEEP_ALIVE) | F(WP_F_PROXY_CONNECTION) |
                    F(WP_F_STRICT_TRANSPORT_SECURITY);
    const char *reason = wp_http_reason(r->status);
    struct cw_sb *sb = &c->out;         /* the response is corked (wp__up_data) */
    size_t start = sb->len;

    if (r->status != 101)
        drop |= F(WP_F_UPGRADE);
    if (r->strip_content_length)
        drop |= F(WP_F_CONTENT_LENGTH);  /* with Transfer-Encoding (RFC 9112 6.3) */
    CW_SB_LIT(sb, "HTTP/1.1 ");
    cw_sb_uint(sb, (unsigned)r->status);
    CW_SB_LIT(sb, " ");
    cw_sb_str_add(sb, reason ? reason : "");
    CW_SB_LIT(sb, "\r\n");
    copy_fields(sb, r->field, r->nfield, r->conn_names, drop,
                r->status == 101 ? WP_F_UPGRADE : WP_F_OTHER);
    if (c->tls && c->wp->o.hsts_max_age) {
        CW_SB_LIT(sb, "Strict-Transport-Security: max-age=");
        cw_sb_uint(sb, c->wp->o.hsts_max_age);
        CW_SB_LIT(sb, "\r\n");
    }
    if (r->status == 101)
        CW_SB_LIT(sb, "Connection: Upgrade\r\n\r\n");
    else if (keep)
        CW_SB_LIT(sb, "Connection: keep-alive\r\n\r\n");
    else
        CW_SB_LIT(sb, "Connection: close\r\n\r\n");
    c->bytes_out += sb->len - start;
}

/* Bytes from the backend while its response head is awaited: parsed in
 * place when a whole head came in one read (the common case), else
 * gathered in u->head until it has. Both stay valid until this callback
 * returns, so what follows the head goes on without a copy. */
static void head_in(struct wp_conn *c, const uint8_t *p, size_t n)
{
    struct wp_upstream *u = c->up;
    struct wp_http_resp r;
    const char *why = NULL;
    int len;

    if (u->head_len) {
        if (n > WP_IN_CAP - u->head_len) {
            answer_error(c, 502, "response head too large");
            return;
        }
        memcpy(u->head + u->head_len, p, n);
        p = u->head;
        n = u->head_len + n;
        u->head_len = 0;
    }
    for (;;) {
        len = wp_http_parse_response(p, n, &c->wp->lim, c->is_head, &r, &why);
        if (len == 0) {
            if (n > WP_IN_CAP) {
                answer_error(c, 502, "response head too large");
                return;
            }
            /* Rare (a head split over reads): its buffer is made then. */
            if (!u->head && !(u->head = malloc(WP_IN_CAP))) {
                answer_error(c, 502, "out of memory for a response head");
                return;
            }
            memmove(u->head, p, n);     /* p may be u->head itself */
            u->head_len = n;
            return;
        }
        if (len < 0) {
            answer_error(c, 502, why ? why : "malformed response head");
            return;
        }
        if (r.status >= 100 && r.status < 200 && r.status != 101) {
            /* Interim (100 Continue, 103 Early Hints): passed on as is. */
            client_write(c, p, (size_t)len);
            p += len;
            n -= (size_t)len;
            continue;
        }
        break;
    }
    p += len;
    n -= (size_t)len;
    c->t_upstream = now_ms(c);
    c->status = r.status;
    c->resp_started = 1;
    if (r.status == 101) {
        if (!c->websocket) {
            answer_error(c, 502, "101 Switching Protocols to a request that did not ask for it");
            return;
        }
        write_resp_head(c, &r, 1);
        client_write(c, p, n);
        c->state = WP_WEBSOCKET;
        uv_timer_stop(&c->timer);
        wp__access(c->wp, c);
        /* Frames the guest sent right after its request. */
        up_write(c, c->in.s, c->in.len);
        cw_sb_clear(&c->in);
        client_resume(c);
        return;
    }
    c->resp_body = r.body;
    c->resp_left = r.content_length;
    wp_chunked_init(&c->resp_chunked);
    u->reusable = r.keep_alive && r.body != WP_BODY_CLOSE;
    write_resp_head(c, &r, c->keep_alive && u->reusable && c->req_done && !c->wp->closing &&
                               !(c->client_eof && !c->in.len));
    if (c->resp_body == WP_BODY_NONE || (c->resp_body == WP_BODY_LENGTH && !c->resp_left)) {
        if (n)
            u->reusable = 0;    /* bytes after a bodiless answer */
        exchange_done(c);
    } else if (n || c->resp_body == WP_BODY_CLOSE) {
        body_out(c, p, n);
    }
}

static void up_eof(struct wp_conn *c, int err)
{
    if (c->state == WP_WEBSOCKET) {
        up_close(c);
        wp__conn_close(c);
        return;
    }
    /* A kept-alive connection the backend closed as the request went out
     * (its idle timeout): once more on a new connection, for a request
     * without a body that nothing has answered yet (RFC 9112 9.3.1). */
    if (!c->resp_started && c->up_reused && c->req_body == WP_BODY_NONE && c->req_head.len &&
        err != WP_UP_ECONNECT) {
        const struct wp_host *route = c->up->route;

        up_close(c);
        if (up_open(c, route) == 0) {
            c->up_reused = 0;
            up_write(c, c->req_head.s, c->req_head.len);
            return;
        }
    }
    if (!c->resp_started) {
        char why[WP_HOST_MAX + 120];

        c->upstream_error = 1;
        if (err == WP_UP_ECONNECT)
            snprintf(why, sizeof(why), "the core behind %s could not connect to the webbridge "
                     "(see the core's log)", c->route->name);
        else
            snprintf(why, sizeof(why), "the backend closed the connection without answering (%s)",
                     err == UV_EOF ? "end of stream" : uv_strerror(err));
        answer_error(c, 502, why);
        return;
    }
    if (c->resp_body == WP_BODY_CLOSE && !c->resp_done) {
        if (c->up)
            c->up->reusable = 0;
        exchange_done(c);
        return;
    }
    /* In the middle of a framed body: the guest sees it cut short. */
    CW_INFO("webproxy", "backend %s closed in the middle of a response to %s", c->route->name,
            c->peer_ip);
    c->upstream_error = 1;
    up_close(c);
    wp__conn_close(c);
}

void wp__up_end(struct wp_upstream *u, int err)
{
    struct wp_conn *c = u->c;

    /* Between requests: the backend ended its keep-alive. This connection
     * is done. */
    if (c->state != WP_EXCHANGE && c->state != WP_WEBSOCKET) {
        up_close(c);
        return;
    }
    up_eof(c, err);
}

void wp__up_data(struct wp_upstream *u, const uint8_t *p, size_t n)
{
    struct wp_conn *c = u->c;

    /* Between requests: bytes nobody asked for. This connection is done. */
    if (c->state != WP_EXCHANGE && c->state != WP_WEBSOCKET) {
        up_close(c);
        return;
    }
    if (c->state == WP_WEBSOCKET) {
        client_write(c, p, n);
        return;
    }
    timer_set(c, T_EXCHANGE, c->wp->o.response_timeout_ms);
    c->corked = 1;
    if (!c->resp_started)
        head_in(c, p, n);
    else
        body_out(c, p, n);
    client_flush(c);
}

void wp__up_connected(struct wp_upstream *u, int status)
{
    struct wp_conn *c = u->c;
    char addr[80];

    if (status < 0) {
        char why[512];

        c->upstream_error = 1;
        snprintf(why, sizeof(why), "cannot connect to the backend %s for %s: %s",
                 cw_addr_fmt((const struct sockaddr *)&u->route->backend, addr, sizeof(addr), 1),
                 u->route->name, uv_strerror(status));
        answer_error(c, 502, why);
        return;
    }
    timer_set(c, T_EXCHANGE, c->wp->o.response_timeout_ms);
}

static int up_open(struct wp_conn *c, const struct wp_host *route)
{
    c->up = wp__up_open(c->wp, route, c);
    if (!c->up)
        return -1;
    if (!c->up->connected)
        timer_set(c, T_CONNECT, c->wp->o.connect_timeout_ms);
    return 0;
}

/* ---- answers of our own -------------------------------------------------------- */

static const char *page_text(int status)
{
    switch (status) {
    case 301:
        return "This address is served over HTTPS.";
    case 408:
        return "The request did not arrive in time.";
    case 413:
        return "The request body is larger than this service accepts.";
    case 414:
    case 431:
        return "The request is larger than this service accepts.";
    case 421:
        return "This connection cannot serve requests for that host.";
    case 501:
    case 505:
        return "The request uses something this service does not support.";
    case 502:
        return "The meeting service cannot be reached right now. Please try again in a moment.";
    case 503:
        return "The service is restarting. Please try again in a moment.";
    case 504:
        return "The meeting service did not answer in time. Please try again in a moment.";
    default:
        return "The request was not understood.";
    }
}

/* A short page naming nothing inside; the connection closes after it. */
static void send_page(struct wp_conn *c, int status, const char *location)
{
    const char *reason = wp_http_reason(status);
    struct cw_sb body, head;

    cw_sb_init(&body);
    cw_sb_printf(&body, "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                 "<body><h1>%d %s</h1><p>%s</p></body></html>\n",
                 status, reason, status, reason, page_text(status));
    cw_sb_init(&head);
    cw_sb_printf(&head, "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n",
                 status, reason, body.len);
    if (location)
        cw_sb_printf(&head, "Location: %s\r\n", location);
    if (c->tls && c->wp->o.hsts_max_age)
        cw_sb_printf(&head, "Strict-Transport-Security: max-age=%u\r\n", c->wp->o.hsts_max_age);
    cw_sb_add(&head, "\r\n", 2);
    client_write(c, head.s, head.len);
    if (!c->is_head)
        client_write(c, body.s, body.len);
    cw_sb_free(&head);
    cw_sb_free(&body);
    c->status = status;
}

/* Answers status and closes: for a request that cannot go on. `why` is for
 * the log only; the guest sees a page that names nothing inside. */
static void answer_error(struct wp_conn *c, int status, const char *why)
{
    if (c->state == WP_CLOSING)
        return;
    if (status >= 500)
        CW_WARN("webproxy", "%d for %s (Host \"%s\"): %s", status, c->peer_ip,
                c->host[0] ? c->host : "-", why);
    else
        CW_INFO("webproxy", "%d for %s (Host \"%s\"): %s", status, c->peer_ip,
                c->host[0] ? c->host : "-", why);
    up_close(c);
    if (!c->resp_started) {
        c->resp_started = 1;
        send_page(c, status, NULL);
    }
    wp__access(c->wp, c);
    wp__conn_close(c);
}

/* ---- requests ---------------------------------------------------------------- */

/* Request body bytes from the guest toward the backend. Returns how many
 * of p[0..n) belong to the body, or -1 after answering an error. */
static long body_in(struct wp_conn *c, const uint8_t *p, size_t n)
{
    const char *why = NULL;
    size_t k = n;
    int done = 0;

    if (c->req_body == WP_BODY_LENGTH) {
        if (k > c->req_left)
            k = (size_t)c->req_left;
        c->req_left -= k;
        done = c->req_left == 0;
    } else {
        long r = wp_chunked_feed(&c->req_chunked, p, n, &done, &why);

        if (r < 0) {
            answer_error(c, 400, why ? why : "bad chunked request body");
            return -1;
        }
        k = (size_t)r;
        c->req_seen += k;
        if (c->wp->o.max_body && c->req_seen > c->wp->o.max_body + 65536) {
            answer_error(c, 413, "chunked request body over max-body");
            return -1;
        }
    }
    up_write(c, p, k);
    if (done)
        c->req_done = 1;
    return (long)k;
}

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Host without its port, lower case, into c->host. 0, or -1 if empty. */
static int host_of(struct wp_conn *c, const struct wp_http_req *r)
{
    const char *h = r->host;
    size_t n = r->host_len;

    c->host[0] = '\0';
    if (!h || !n)
        return -1;
    if (h[0] == '[') {
        const char *e = memchr(h, ']', n);
        n = e ? (size_t)(e - h) + 1 : n;
    } else {
        const char *e = memchr(h, ':', n);
        n = e ? (size_t)(e - h) : n;
    }
    if (n && h[n - 1] == '.')
        n--;    /* "example.com." names the same host */
    if (!n || n > WP_HOST_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        c->host[i] = (char)tolower((unsigned char)h[i]);
    c->host[n] = '\0';
    return 0;
}

/* The request head for the backend, onto sb: hop-by-hop fields and
 * whatever the guest claimed about forwarding dropped, ours added. */
static void build_req_head(struct wp_conn *c, const struct wp_http_req *r, struct cw_sb *sb)
{
    const unsigned drop = F(WP_F_CONNECTION) | F(WP_F_KEEP_ALIVE) | F(WP_F_PROXY_CONNECTION) |
                          F(WP_F_TE) | F(WP_F_UPGRADE) | F(WP_F_X_FORWARDED_FOR) |
                          F(WP_F_X_FORWARDED_PROTO) | F(WP_F_X_FORWARDED_HOST) | F(WP_F_FORWARDED);
    const char *proto = c->tls ? "https" : "http";
    int v6 = c->peer.ss_family == AF_INET6;

    cw_sb_add(sb, r->method, r->method_len);
    cw_sb_add(sb, " ", 1);
    cw_sb_add(sb, r->target, r->target_len);
    /* A 1.0 guest cannot read chunked: ask the backend as 1.0 too. */
    cw_sb_add(sb, r->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    copy_fields(sb, r->field, r->nfield, r->conn_names, drop, WP_F_OTHER);
    CW_SB_LIT(sb, "X-Forwarded-For: ");
    cw_sb_str_add(sb, c->peer_ip);
    CW_SB_LIT(sb, "\r\nX-Forwarded-Proto: ");
    cw_sb_str_add(sb, proto);
    cw_sb_str_add(sb, v6 ? "\r\nForwarded: for=\"[" : "\r\nForwarded: for=");
    cw_sb_str_add(sb, c->peer_ip);
    cw_sb_str_add(sb, v6 ? "]\";proto=" : ";proto=");
    cw_sb_str_add(sb, proto);
    CW_SB_LIT(sb, ";host=\"");
    cw_sb_str_add(sb, c->host);
    if (c->websocket)
        CW_SB_LIT(sb, "\"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    else
        CW_SB_LIT(sb, "\"\r\nConnection: keep-alive\r\n\r\n");
}

/* Port 80: a configured host is sent to https, anything else refused. */
static void redirect(struct wp_conn *c)
{
    char loc[WP_HOST_MAX + sizeof(c->target) + 32];
    uint16_t port = c->wp->https_port;

    if (!wp__route(c->wp, c->host)) {
        answer_error(c, 400, "unknown host on the HTTP port");
        return;
    }
    if (port && port != 443)
        snprintf(loc, sizeof(loc), "https://%s:%u%s", c->host, port, c->target);
    else
        snprintf(loc, sizeof(loc), "https://%s%s", c->host, c->target);
    c->resp_started = 1;
    send_page(c, 301, loc);
    wp__access(c->wp, c);
    wp__conn_close(c);
}

/* Drops the first n bytes of c->in: they were handled. */
static void in_drop(struct wp_conn *c, size_t n)
{
    memmove(c->in.s, c->in.s + n, c->in.len - n);
    c->in.len -= n;
}

/* A whole request head (len bytes at the start of c->in): checked, routed,
 * sent on; then whatever body bytes came with it. */
static void request(struct wp_conn *c, const struct wp_http_req *r, size_t len)
{
    const char *sni;
    long k;

    copy_str(c->method, sizeof(c->method), r->method, r->method_len);
    copy_str(c->target, sizeof(c->target), r->target, r->target_len);
    c->minor = r->minor;
    c->is_head = r->is_head;
    c->websocket = r->websocket;
    c->keep_alive = r->keep_alive;
    c->req_body = r->body;
    c->req_left = r->content_length;
    c->req_seen = 0;
    c->req_done = r->body == WP_BODY_NONE;
    wp_chunked_init(&c->req_chunked);
    c->resp_started = c->resp_done = c->status = 0;
    c->upstream_error = 0;
    c->bytes_out = 0;
    c->t_start = now_ms(c);
    c->t_upstream = 0;
    c->wp->requests++;

    if (host_of(c, r) < 0) {
        answer_error(c, 400, "no Host");
        return;
    }
    if (!c->tls) {
        redirect(c);
        return;
    }
    if (r->is_connect) {
        answer_error(c, 400, "CONNECT is not served");
        return;
    }
    c->route = wp__route(c->wp, c->host);
    if (!c->route) {
        answer_error(c, 400, "Host is not a configured guest account client URI");
        return;
    }
    /* RFC 9110 7.4: a connection whose TLS name was another host. */
    sni = cw_stream_sni(c->cs);
    if (sni && strcasecmp(sni, c->host) != 0) {
        answer_error(c, 421, "Host differs from the TLS server name");
        return;
    }
    if (c->wp->o.max_body && r->body == WP_BODY_LENGTH && r->content_length > c->wp->o.max_body) {
        answer_error(c, 413, "Content-Length over max-body");
        return;
    }
    if (c->up && (c->up->route != c->route || !c->up->reusable))
        up_close(c);
    if (!c->up)
        c->up = wp__pool_get(c->wp, c->route, c);
    c->up_reused = c->up != NULL;
    if (!c->up && up_open(c, c->route) < 0) {
        answer_error(c, 502, "cannot open a backend connection");
        return;
    }
    if (c->up->connected)
        timer_set(c, T_EXCHANGE, c->wp->o.response_timeout_ms);
    c->up->reusable = 0;    /* until this response says otherwise */
    c->state = WP_EXCHANGE;
    c->up_corked = 1;       /* the head and the body bytes that came with it: one write */
    build_req_head(c, r, &c->up_out);
    /* Kept for one retry if the kept-alive connection turns out closed. */
    cw_sb_clear(&c->req_head);
    if (c->up_reused && c->req_body == WP_BODY_NONE)
        cw_sb_add(&c->req_head, c->up_out.s, c->up_out.len);
    in_drop(c, len);
    c->scanned = 0;
    if (!c->req_done) {
        k = body_in(c, (const uint8_t *)c->in.s, c->in.len);
        if (k < 0)
            return;
        in_drop(c, (size_t)k);
    }
    up_flush(c);
}

/* Reads request heads from c->in while the connection waits for one. */
static void process(struct wp_conn *c)
{
    struct wp_http_req r;
    const char *why = NULL;
    int len;

    while ((c->state == WP_IDLE || c->state == WP_HEAD) && c->in.len) {
        if (c->state == WP_IDLE) {
            c->state = WP_HEAD;
            timer_set(c, T_HEADER, c->wp->o.header_timeout_ms);
        }
        /* A head ends with a line end: parse again only when one came (a
         * byte-a-second sender must not cost a parse per byte). */
        if (!memchr(c->in.s + c->scanned, '\n', c->in.len - c->scanned)) {
            c->scanned = c->in.len;
            return;
        }
        c->scanned = c->in.len;
        len = wp_http_parse_request((const uint8_t *)c->in.s, c->in.len, &c->wp->lim, &r, &why);
        if (len == 0)
            return;
        if (len < 0) {
            c->host[0] = c->method[0] = c->target[0] = '\0';
            answer_error(c, -len, why ? why : "malformed request");
            return;
        }
        request(c, &r, (size_t)len);
    }
}

static void exchange_done(struct wp_conn *c)
{
    int keep;

    c->resp_done = 1;
    cw_sb_clear(&c->req_head);
    wp__access(c->wp, c);
    keep = c->keep_alive && c->req_done && c->up && c->up->reusable && !c->wp->closing;
    if (!c->req_done || (c->up && !c->up->reusable))
        up_close(c);
    if (!keep) {
        wp__conn_close(c);
        return;
    }
    c->state = WP_IDLE;
    timer_set(c, T_IDLE, c->wp->o.idle_timeout_ms);
    client_resume(c);
    process(c);
    /* A guest that half-closed gets the answers to what it sent, no more. */
    if (c->client_eof && (c->state == WP_IDLE || c->state == WP_HEAD))
        wp__conn_close(c);
}

/* ---- the connection ----------------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
    struct wp_conn *c = h->data;
    uint64_t now = now_ms(c);

    if (c->deadline > now) {
        uv_timer_start(&c->timer, on_timer, c->deadline - now, 0);
        c->timer_due = c->deadline;
        return;
    }

    switch (c->timer_kind) {
    case T_HEADER:
        if (c->state == WP_HEAD)
            answer_error(c, 408, "request head not complete in time (slow client?)");
        break;
    case T_IDLE:
        if (c->state == WP_IDLE)
            wp__conn_close(c);
        break;
    case T_CONNECT:
        c->upstream_error = 1;
        answer_error(c, 504, "the backend did not accept the connection in time");
        break;
    case T_EXCHANGE:
        if (c->state != WP_EXCHANGE)
            break;
        c->upstream_error = !c->resp_started;
        if (!c->resp_started)
            answer_error(c, 504, "no answer from the backend in time");
        else
            wp__conn_close(c);
        break;
    }
}

static void on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct wp_conn *c = cw_stream_data(s);
    long k;

    switch (c->state) {
    case WP_WEBSOCKET:
        up_write(c, p, n);
        return;
    case WP_CLOSING:
        return;
    case WP_EXCHANGE:
        if (!c->req_done) {
            timer_set(c, T_EXCHANGE, c->wp->o.response_timeout_ms);
            k = body_in(c, p, n);
            if (k < 0)
                return;
            p += k;
            n -= (size_t)k;
            if (!n)
                return;     /* all body: keep reading (unless body_in paused) */
        }
        break;
    default:
        break;
    }
    if (n > WP_IN_CAP - c->in.len) {
        answer_error(c, 431, "request head too large");
        return;
    }
    cw_sb_add(&c->in, (const char *)p, n);     /* grows as needed: most heads are small */
    if (c->in.failed) {
        answer_error(c, 503, "out of memory for a request");
        return;
    }
    if (c->state != WP_EXCHANGE)
        process(c);
    else if (c->in.len > WP_IN_PIPELINED)
        client_pause(c);    /* enough waits for this answer */
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_close(struct cw_stream *s, int err)
{
    struct wp_conn *c = cw_stream_data(s);

    (void)err;
    if (c->state == WP_EXCHANGE && !c->resp_done && c->t_start)
        CW_DEBUG("webproxy", "%s went away during a request to %s", c->peer_ip, c->host);
    c->cs = NULL;
    pool_put(c);
    up_close(c);
    cw_sb_free(&c->req_head);
    cw_sb_free(&c->in);
    cw_sb_free(&c->out);
    cw_sb_free(&c->up_out);
    wp__conn_gone(c->wp, c);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

static void on_drain(struct cw_stream *s)
{
    struct wp_conn *c = cw_stream_data(s);

    if (c->up)
        wp__up_resume(c->up);
}

/* The guest ended its side. A request it sent in whole is still answered
 * (a client may half-close after its request); anything else ends here. */
static void on_eof(struct cw_stream *s)
{
    struct wp_conn *c = cw_stream_data(s);

    c->client_eof = 1;
    if (c->state != WP_EXCHANGE || !c->req_done)
        wp__conn_close(c);
}

static const struct cw_stream_cbs conn_cbs = {
    .on_data = on_data,
    .on_close = on_close,
    .on_drain = on_drain,
    .on_eof = on_eof,
};

struct wp_conn *wp__conn_start(struct webproxy *wp, uv_stream_t *server, int tls)
{
    struct wp_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->wp = wp;
    c->tls = tls;
    c->cs = cw_stream_accept(server, tls ? wp->tls : NULL, &conn_cbs, c);
    if (!c->cs) {
        free(c);
        return NULL;
    }
    if (wp->wbatch)
        cw_stream_set_wbatch(c->cs, wp->wbatch);
    memcpy(&c->peer, cw_stream_peer(c->cs), cw_addr_len(cw_stream_peer(c->cs)));
    cw_addr_fmt((const struct sockaddr *)&c->peer, c->peer_ip, sizeof(c->peer_ip), 0);
    uv_timer_init(wp->loop, &c->timer);
    c->timer.data = c;
    /* The first request head is due within the header timeout. */
    c->state = WP_HEAD;
    timer_set(c, T_HEADER, wp->o.header_timeout_ms);
    return c;
}

void wp__conn_close(struct wp_conn *c)
{
    client_flush(c);
    if (c->state == WP_CLOSING)
        return;
    c->state = WP_CLOSING;
    uv_timer_stop(&c->timer);
    pool_put(c);
    up_close(c);
    if (c->cs)
        cw_stream_close(c->cs);
}

void wp__conn_drain(struct wp_conn *c)
{
    if (c->state == WP_IDLE || (c->state == WP_HEAD && !c->in.len))
        wp__conn_close(c);
    /* Otherwise the answer in progress says Connection: close and ends it. */
}
