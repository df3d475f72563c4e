/* backend.c - the web proxy's connections to backends, one exchange at a
 * time each: a TCP connection (a direct webbridge, or a core's forward when
 * no link is up), or a stream of the route's link to the core (link.c,
 * common/mux.h). Both look alike to the exchange (exchange.c): opened,
 * written with back-pressure, read with pause and resume, ended, and kept
 * idle in a pool shared by all guests between exchanges. */
#include "webproxy/webproxy_int.h"

#include "common/log.h"
#include "common/mux.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Idle connections kept for reuse, and for how long. */
#define WP_POOL_MAX 64
#define WP_POOL_IDLE_MS 30000

struct up_wreq {
    uv_write_t w;
    struct wp_upstream *u;
    size_t len;
    uint8_t data[];
};

/* The two kinds of connection, as the rest of this file sees them. */
struct up_ops {
    int (*write)(struct wp_upstream *u, const void *p, size_t n);   /* 0 or -1 */
    void (*pause)(struct wp_upstream *u);
    void (*resume)(struct wp_upstream *u);
    void (*destroy)(struct wp_upstream *u);     /* frees u, now or later */
};

static void up_free(struct wp_upstream *u)
{
    cw_sb_free(&u->held);
    cw_sb_free(&u->wq);
    free(u->head);
    free(u->rbuf);
    free(u);
}

static void tcp_closed(uv_handle_t *h)
{
    up_free(h->data);
}

/* Ends u's transport; u is freed now, after its handle closes, or (a
 * stream whose exchange is being told something) when that call returns. */
static void up_destroy(struct wp_upstream *u)
{
    u->ops->destroy(u);
}

/* Around a call into the exchange that may let u go: 1 when u is gone. */
static void up_hold(struct wp_upstream *u)
{
    u->busy++;
}

static int up_release(struct wp_upstream *u)
{
    if (--u->busy || !u->doomed)
        return 0;
    up_free(u);
    return 1;
}

/* ---- the pool ------------------------------------------------------------------- */

static void pool_drop(struct wp_upstream *u)
{
    struct webproxy *wp = u->pool;
    struct wp_upstream **pp;

    for (pp = &wp->idle; *pp; pp = &(*pp)->next_idle)
        if (*pp == u) {
            *pp = u->next_idle;
            wp->nidle--;
            break;
        }
    u->pool = NULL;
}

/* An idle connection heard from: the backend ended it (or spoke unasked). */
static void idle_event(struct wp_upstream *u)
{
    if (u->pool) {
        pool_drop(u);
        up_destroy(u);
    }
}

int wp__pool_put(struct wp_upstream *u, struct webproxy *wp)
{
    if (!u->reusable || !u->connected || u->pending || cw_wb_pending(&u->wb) || u->head_len ||
        u->held.len || wp->closing || wp->nidle >= WP_POOL_MAX)
        return -1;
    u->c = NULL;
    u->pool = wp;
    u->idle_since = uv_now(wp->loop);
    u->next_idle = wp->idle;
    wp->idle = u;
    wp->nidle++;
    wp__up_resume(u);   /* an idle connection must hear the backend end it */
    return 0;
}

struct wp_upstream *wp__pool_get(struct webproxy *wp, const struct wp_host *route,
                                 struct wp_conn *c)
{
    uint64_t now = uv_now(wp->loop);
    struct wp_upstream *u, *next;

    for (u = wp->idle; u; u = next) {
        next = u->next_idle;
        if (now - u->idle_since > WP_POOL_IDLE_MS) {
            pool_drop(u);
            up_destroy(u);
        } else if (u->route == route) {
            pool_drop(u);
            u->c = c;
            return u;
        }
    }
    return NULL;
}

void wp__pool_close(struct webproxy *wp)
{
    while (wp->idle) {
        struct wp_upstream *u = wp->idle;

        pool_drop(u);
        up_destroy(u);
    }
}

/* ---- TCP ---------------------------------------------------------------------------- */

static void tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct wp_upstream *u = h->data;

    (void)hint;
    if (!u->rbuf)
        u->rbuf = malloc(WP_UP_BUF);
    *buf = uv_buf_init((char *)u->rbuf, u->rbuf ? WP_UP_BUF : 0);
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct wp_upstream *u = s->data;

    if (nread == 0)
        return;
    if (!u->c) {
        idle_event(u);
        return;
    }
    if (nread < 0)
        wp__up_end(u, (int)nread);
    else
        wp__up_data(u, (const uint8_t *)buf->base, (size_t)nread);
}

static void tcp_connected(uv_connect_t *req, int status)
{
    struct wp_upstream *u = req->data;

    if (!u->c)
        return;     /* let go while connecting: the close is under way */
    if (status == 0) {
        u->connected = 1;
        uv_read_start((uv_stream_t *)&u->tcp, tcp_alloc, tcp_read);
    }
    wp__up_connected(u, status);
}

static void tcp_write_cb(uv_write_t *w, int status)
{
    struct up_wreq *r = (struct up_wreq *)w;
    struct wp_upstream *u = r->u;

    u->pending -= r->len;
    free(r);
    if (!u->c)
        return;
    if (status < 0 && status != UV_ECANCELED)
        wp__up_end(u, status);
    else if (u->pending < WP_HIGH_WATER / 4)
        wp__up_drained(u);
}

static void tcp_destroy(struct wp_upstream *u)
{
    /* Batched bytes go out before the close; nobody hears what they do. */
    u->c = NULL;
    cw_wb_settle(&u->wb);
    uv_close((uv_handle_t *)&u->tcp, tcp_closed);
}

static void tcp_pause(struct wp_upstream *u)
{
    uv_read_stop((uv_stream_t *)&u->tcp);
}

static void tcp_resume(struct wp_upstream *u)
{
    uv_read_start((uv_stream_t *)&u->tcp, tcp_alloc, tcp_read);
}

/* Copies n bytes into a uv_write request: 0 or -1. */
static int tcp_queue(struct wp_upstream *u, const void *p, size_t n)
{
    struct up_wreq *r = malloc(sizeof(*r) + n);
    uv_buf_t b;

    if (!r)
        return -1;
    memcpy(r->data, p, n);
    r->u = u;
    r->len = n;
    b = uv_buf_init((char *)r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&u->tcp, &b, 1, tcp_write_cb) < 0) {
        free(r);
        return -1;
    }
    u->pending += n;
    return 0;
}

static int tcp_write(struct wp_upstream *u, const void *p, size_t n)
{
    ssize_t w;

    /* Most writes fit in the socket at once: into the loop turn's batch,
     * or straight to the kernel; no uv_write, no callback. */
    if (u->connected && !u->pending) {
        w = cw_wb_write(&u->wb, p, n);
        if (w < 0)
            return -1;
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
        if (!n)
            return 0;
    }
    return tcp_queue(u, p, n);
}

/* The batch sent u's bytes and the socket did not take them all. */
static void tcp_batch_sent(struct cw_wb *w, int status, const uint8_t *rest, size_t n)
{
    struct wp_upstream *u = (struct wp_upstream *)((char *)w - offsetof(struct wp_upstream, wb));

    if (!u->c)
        return;     /* let go: the close is under way */
    if (status < 0)
        wp__up_end(u, status);
    else if (tcp_queue(u, rest, n) < 0)
        wp__up_end(u, UV_ENOMEM);
}

static const struct up_ops tcp_ops = {
    .write = tcp_write,
    .pause = tcp_pause,
    .resume = tcp_resume,
    .destroy = tcp_destroy,
};

/* ---- a link stream ---------------------------------------------------------------- */

static void stream_destroy(struct wp_upstream *u)
{
    if (u->ms) {
        cw_mux_release(u->ms, 0);
        u->ms = NULL;
    }
    if (u->busy)
        u->doomed = 1;
    else
        up_free(u);
}

/* Sends what waits in u->wq as far as the stream's window goes. */
static void stream_push(struct wp_upstream *u)
{
    size_t k;

    if (!u->ms || !u->wq.len)
        return;
    k = cw_mux_send(u->ms, u->wq.s, u->wq.len);
    memmove(u->wq.s, u->wq.s + k, u->wq.len - k);
    u->wq.len -= k;
    u->pending = u->wq.len;
}

void wp__up_stream_data(struct wp_upstream *u, const uint8_t *p, size_t n)
{
    if (!u->c) {
        idle_event(u);
        return;
    }
    /* Paused: held, and not credited, so the core's window soon holds the
     * webbridge's bytes back at the core. */
    if (u->read_paused || u->held.len) {
        cw_sb_add(&u->held, (const char *)p, n);
        if (u->held.failed)
            wp__up_end(u, UV_ENOMEM);
        return;
    }
    cw_mux_consumed(u->ms, n);
    wp__up_data(u, p, n);
}

void wp__up_stream_fin(struct wp_upstream *u)
{
    if (!u->c) {
        idle_event(u);
        return;
    }
    u->fin = 1;
    if (!u->held.len)
        wp__up_end(u, UV_EOF);
}

void wp__up_stream_reset(struct wp_upstream *u, uint32_t code)
{
    cw_mux_release(u->ms, 0);
    u->ms = NULL;
    if (!u->c) {
        idle_event(u);
        return;
    }
    wp__up_end(u, code == CW_MUX_RST_CONNECT ? WP_UP_ECONNECT : UV_ECONNRESET);
}

void wp__up_stream_writable(struct wp_upstream *u)
{
    stream_push(u);
    if (u->c && u->pending < WP_HIGH_WATER / 4)
        wp__up_drained(u);
}

static int stream_write(struct wp_upstream *u, const void *p, size_t n)
{
    size_t k;

    if (!u->ms)
        return -1;
    if (!u->wq.len) {
        k = cw_mux_send(u->ms, p, n);
        p = (const uint8_t *)p + k;
        n -= k;
    }
    if (n) {
        /* After what waits already, so the bytes keep their order. */
        cw_sb_add(&u->wq, p, n);
        if (u->wq.failed)
            return -1;
        u->pending = u->wq.len;
    }
    return 0;
}

/* Paused, the stream's bytes are held (see wp__up_stream_data). */
static void stream_pause(struct wp_upstream *u)
{
    (void)u;
}

static void stream_resume(struct wp_upstream *u)
{
    struct cw_sb held;

    if (!u->held.len || !u->c || !u->ms)
        return;
    /* What came while paused goes on now, and is credited. */
    held = u->held;
    cw_sb_init(&u->held);
    cw_mux_consumed(u->ms, held.len);
    up_hold(u);
    wp__up_data(u, (const uint8_t *)held.s, held.len);
    cw_sb_free(&held);
    if (!up_release(u) && u->fin && u->c && !u->held.len && !u->read_paused)
        wp__up_end(u, UV_EOF);
}

static const struct up_ops stream_ops = {
    .write = stream_write,
    .pause = stream_pause,
    .resume = stream_resume,
    .destroy = stream_destroy,
};

/* ---- what the exchange uses --------------------------------------------------------- */

struct wp_upstream *wp__up_open(struct webproxy *wp, const struct wp_host *route, struct wp_conn *c)
{
    struct wp_upstream *u = calloc(1, sizeof(*u));
    struct wp_link *l = wp__route_link(wp, route);

    if (!u)
        return NULL;
    u->c = c;
    u->route = route;
    if (l && wp__link_up(l)) {
        u->ms = wp__link_open(l, u);
        if (u->ms) {
            u->ops = &stream_ops;
            u->connected = 1;   /* no connect here: the core connects to the target */
            return u;
        }
    }
    u->ops = &tcp_ops;
    uv_tcp_init(wp->loop, &u->tcp);
    u->tcp.data = u;
    cw_wb_init(&u->wb, (uv_stream_t *)&u->tcp, tcp_batch_sent, wp->wbatch);
    u->creq.data = u;
    uv_tcp_nodelay(&u->tcp, 1);
    if (uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&route->backend,
                       tcp_connected) < 0) {
        u->c = NULL;
        up_destroy(u);
        return NULL;
    }
    return u;
}

int wp__up_write(struct wp_upstream *u, const void *p, size_t n)
{
    return n ? u->ops->write(u, p, n) : 0;
}

void wp__up_pause(struct wp_upstream *u)
{
    if (u->read_paused)
        return;
    u->read_paused = 1;
    u->ops->pause(u);
}

void wp__up_resume(struct wp_upstream *u)
{
    if (!u->read_paused)
        return;
    u->read_paused = 0;
    u->ops->resume(u);
}

void wp__up_close(struct wp_upstream *u)
{
    u->c = NULL;
    up_destroy(u);
}
