/* link.c - the web proxy's link to the core behind a tunnel forward: one
 * TCP connection to the forward's loopback port that carries every backend
 * connection of the routes that use it, as streams (common/mux.h).
 *
 * The link connects at start and stays connected, coming back with a
 * backoff when it drops (no core connected, a core restarting). While it is
 * not up, exchanges open TCP connections to the forward as before, so a
 * link is never needed for service: it makes the tunnel cheaper. A core
 * that answers the preface with anything else (one that does not speak the
 * link) gets a warning and TCP connections; the link tries again now and
 * then, in case the core is upgraded.
 *
 * Output: the frames that the streams queue during a loop turn are written
 * once, before the loop polls (a prepare handle), with at most one write
 * request in flight: the engine's own buffer holds the rest and applies
 * back-pressure to the streams. */
#include "webproxy/webproxy_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/mux.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINK_READ_BUF (64 * 1024)
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 5000
#define RETRY_UNSUPPORTED_MS 300000

enum link_state { LS_DOWN, LS_CONNECTING, LS_HANDSHAKE, LS_UP, LS_UNSUPPORTED, LS_CLOSED };

struct link_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct wp_link *l;
    int dead;                           /* the link let go of it: callbacks ignore it */
};

struct link_wreq {
    uv_write_t w;
    struct link_conn *k;
    uint8_t data[];
};

struct wp_link {
    struct webproxy *wp;
    struct sockaddr_storage addr;
    char name[CW_ADDR_STRLEN];
    enum link_state state;
    struct link_conn *conn;             /* NULL while down */
    struct cw_mux *mux;
    uint8_t rbuf[LINK_READ_BUF];
    uv_prepare_t flush;
    uv_timer_t retry;
    unsigned retry_ms;
    int writing;                        /* a write request is in flight */
    int handles;                        /* open: flush, retry, and the connection's */
    time_t since;                       /* came up, or went down (retries do not move it) */
    char why[200];                      /* why down */
    uint64_t streams;                   /* opened on it, in all */
};

static void link_down(struct wp_link *l, enum link_state st, const char *why);

static void set_state(struct wp_link *l, enum link_state st)
{
    if ((l->state == LS_UP) != (st == LS_UP))
        l->since = time(NULL);
    l->state = st;
}

static void maybe_free(struct wp_link *l)
{
    if (l->state == LS_CLOSED && !l->handles)
        free(l);
}

static void handle_closed(uv_handle_t *h)
{
    struct wp_link *l = h->data;

    l->handles--;
    maybe_free(l);
}

static void conn_closed(uv_handle_t *h)
{
    struct link_conn *k = h->data;
    struct wp_link *l = k->l;

    free(k);
    l->handles--;
    maybe_free(l);
}

/* ---- the streams' events, from the engine ---- */

static void on_data(struct cw_mux_stream *ms, const uint8_t *p, size_t n)
{
    wp__up_stream_data(cw_mux_stream_data(ms), p, n);
}

static void on_fin(struct cw_mux_stream *ms)
{
    wp__up_stream_fin(cw_mux_stream_data(ms));
}

static void on_reset(struct cw_mux_stream *ms, uint32_t code)
{
    wp__up_stream_reset(cw_mux_stream_data(ms), code);
}

static void on_writable(struct cw_mux_stream *ms)
{
    wp__up_stream_writable(cw_mux_stream_data(ms));
}

static void on_flush(uv_prepare_t *h);

/* Frames were queued: they go out before the loop polls next. */
static void on_output(struct cw_mux *m, void *arg)
{
    struct wp_link *l = arg;

    (void)m;
    if (l->conn && l->state != LS_CONNECTING && !l->writing)
        uv_prepare_start(&l->flush, on_flush);
}

static const struct cw_mux_cbs link_cbs = {
    .on_data = on_data,
    .on_fin = on_fin,
    .on_reset = on_reset,
    .on_writable = on_writable,
    .on_output = on_output,
};

/* ---- output ---- */

static void flush(struct wp_link *l);

static void write_cb(uv_write_t *w, int status)
{
    struct link_wreq *r = (struct link_wreq *)w;
    struct link_conn *k = r->k;
    struct wp_link *l = k->l;

    free(r);
    if (k->dead)
        return;
    l->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            link_down(l, LS_DOWN, uv_strerror(status));
        return;
    }
    flush(l);
}

/* Writes what the engine queued: straight to the socket when it takes it,
 * the rest in one write request. */
static void flush(struct wp_link *l)
{
    struct link_wreq *r;
    const uint8_t *p;
    uv_buf_t b;
    size_t n;
    int w;

    if (!l->conn || l->writing || !(p = cw_mux_out(l->mux, &n))) {
        uv_prepare_stop(&l->flush);
        return;
    }
    b = uv_buf_init((char *)p, (unsigned)n);
    w = uv_try_write((uv_stream_t *)&l->conn->tcp, &b, 1);
    if (w < 0 && w != UV_EAGAIN) {
        link_down(l, LS_DOWN, uv_strerror(w));
        return;
    }
    if (w > 0) {
        cw_mux_out_done(l->mux, (size_t)w);     /* streams waiting for room may write */
        if (!l->conn)
            return;
        p = cw_mux_out(l->mux, &n);
        if (!p) {
            uv_prepare_stop(&l->flush);
            return;
        }
    }
    r = malloc(sizeof(*r) + n);
    if (!r) {
        link_down(l, LS_DOWN, "out of memory");
        return;
    }
    memcpy(r->data, p, n);
    r->k = l->conn;
    b = uv_buf_init((char *)r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&l->conn->tcp, &b, 1, write_cb) < 0) {
        free(r);
        link_down(l, LS_DOWN, "cannot write");
        return;
    }
    l->writing = 1;
    uv_prepare_stop(&l->flush);
    cw_mux_out_done(l->mux, n);
}

static void on_flush(uv_prepare_t *h)
{
    flush(h->data);
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct link_conn *k = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)k->l->rbuf, sizeof(k->l->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct link_conn *k = st->data;
    struct wp_link *l = k->l;
    int rc;

    if (n == 0 || k->dead)
        return;
    if (n < 0) {
        link_down(l, LS_DOWN, n == UV_EOF ? "the core's end closed it" : uv_strerror((int)n));
        return;
    }
    rc = cw_mux_feed(l->mux, (const uint8_t *)buf->base, (size_t)n);
    if (rc == CW_MUX_EPREFACE) {
        CW_WARN("webproxy", "the core behind %s does not speak the tunnel link: using a "
                "connection per guest connection (upgrade causeway-core)", l->name);
        link_down(l, LS_UNSUPPORTED, "the core does not speak the tunnel link");
        return;
    }
    if (rc < 0) {
        CW_WARN("webproxy", "link to the core behind %s: %s; reconnecting", l->name,
                cw_mux_why(l->mux));
        link_down(l, LS_DOWN, cw_mux_why(l->mux));
        return;
    }
    if (l->state == LS_HANDSHAKE && cw_mux_ready(l->mux)) {
        set_state(l, LS_UP);
        l->retry_ms = 0;
        CW_NOTICE("webproxy", "link to the core behind %s is up: guest connections to it share "
                  "one tunnel connection", l->name);
    }
}

/* ---- connecting ---- */

static void connect_start(struct wp_link *l);

static void on_retry(uv_timer_t *h)
{
    connect_start(h->data);
}

/* The connection is gone (or never came): streams are lost, exchanges on
 * them fail over as their backends failing; another try after a backoff. */
static void link_down(struct wp_link *l, enum link_state st, const char *why)
{
    struct cw_mux *m = l->mux;
    int was_up = l->state == LS_UP;
    unsigned delay;

    if (l->conn) {
        l->conn->dead = 1;
        uv_close((uv_handle_t *)&l->conn->tcp, conn_closed);
        l->conn = NULL;   /* freed by its close callback, which drops the link's count */
    }
    uv_prepare_stop(&l->flush);
    l->writing = 0;
    snprintf(l->why, sizeof(l->why), "%s", why);
    set_state(l, st);
    /* Down before the streams hear it: an exchange that retries opens TCP. */
    l->mux = NULL;
    if (m)
        cw_mux_destroy(m);  /* every stream hears CW_MUX_RST_LOST */
    if (was_up && st != LS_CLOSED)
        CW_WARN("webproxy", "link to the core behind %s is down (%s): connections go one by one "
                "until it is back", l->name, why);
    if (st == LS_CLOSED)
        return;
    if (st == LS_UNSUPPORTED) {
        delay = RETRY_UNSUPPORTED_MS;
    } else {
        delay = l->retry_ms ? l->retry_ms * 2 : RETRY_MIN_MS;
        if (delay > RETRY_MAX_MS)
            delay = RETRY_MAX_MS;
        l->retry_ms = delay;
    }
    uv_timer_start(&l->retry, on_retry, delay, 0);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct link_conn *k = req->data;
    struct wp_link *l = k->l;

    if (k->dead)
        return;
    if (status < 0) {
        /* No core holds the forward (yet): routine while tunnels come up. */
        CW_DEBUG("webproxy", "link to %s: %s", l->name, uv_strerror(status));
        link_down(l, LS_DOWN, uv_strerror(status));
        return;
    }
    set_state(l, LS_HANDSHAKE);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    flush(l);   /* the preface, and nothing else yet */
}

static void connect_start(struct wp_link *l)
{
    struct link_conn *k = calloc(1, sizeof(*k));

    if (k)
        l->mux = cw_mux_create(1, &link_cbs, l);
    if (!k || !l->mux) {
        free(k);
        link_down(l, LS_DOWN, "out of memory");
        return;
    }
    k->l = l;
    uv_tcp_init(l->wp->loop, &k->tcp);
    k->tcp.data = k;
    k->creq.data = k;
    uv_tcp_nodelay(&k->tcp, 1);
    l->conn = k;
    l->handles++;
    set_state(l, LS_CONNECTING);
    if (uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)&l->addr, on_connect) < 0)
        link_down(l, LS_DOWN, "cannot connect");
}

/* ---- the rest of the proxy ---- */

struct wp_link *wp__link_create(struct webproxy *wp, const struct sockaddr *backend)
{
    struct wp_link *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->wp = wp;
    memcpy(&l->addr, backend, cw_addr_len(backend));
    cw_addr_fmt(backend, l->name, sizeof(l->name), 1);
    uv_prepare_init(wp->loop, &l->flush);
    uv_timer_init(wp->loop, &l->retry);
    l->flush.data = l->retry.data = l;
    uv_unref((uv_handle_t *)&l->retry);
    l->handles = 2;
    l->since = time(NULL);
    snprintf(l->why, sizeof(l->why), "starting");
    connect_start(l);
    return l;
}

void wp__link_close(struct wp_link *l)
{
    link_down(l, LS_CLOSED, "the proxy is stopping");
    uv_close((uv_handle_t *)&l->flush, handle_closed);
    uv_close((uv_handle_t *)&l->retry, handle_closed);
}

int wp__link_up(const struct wp_link *l)
{
    return l->state == LS_UP;
}

struct cw_mux_stream *wp__link_open(struct wp_link *l, struct wp_upstream *u)
{
    struct cw_mux_stream *ms = cw_mux_open(l->mux, u);

    if (ms)
        l->streams++;
    return ms;
}

static const char *const link_names[] = { "down", "connecting", "handshake", "up",
                                          "not spoken by the core", "closed" };

void wp__link_info(const struct wp_link *l, struct webproxy_link_info *info)
{
    snprintf(info->name, sizeof(info->name), "%s", l->name);
    info->state = link_names[l->state];
    info->up = l->state == LS_UP;
    info->since = l->since;
    snprintf(info->why, sizeof(info->why), "%s", l->state == LS_UP ? "" : l->why);
    info->streams_open = l->state == LS_UP ? cw_mux_streams(l->mux) : 0;
    info->streams = l->streams;
}

void wp__link_status(const struct wp_link *l, struct cw_sb *out)
{
    const char *const *names = link_names;
    char since[32];
    struct tm tm;

    gmtime_r(&l->since, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cw_sb_printf(out, "    %s: %s since %s", l->name, names[l->state], since);
    if (l->state == LS_UP)
        cw_sb_printf(out, ", %u streams open, %llu opened\n", cw_mux_streams(l->mux),
                     (unsigned long long)l->streams);
    else
        cw_sb_printf(out, " (%s); guest connections go one by one\n", l->why);
}
