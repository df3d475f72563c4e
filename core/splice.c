/* splice.c - one forwarded connection joined to a TCP connection to the
 * inside target. Its remote side is either an SSH channel that the edge
 * opened on the tunnel's remote forward, or a stream of a link (link.c: a
 * channel that carries many connections, common/mux.h).
 *
 * Back-pressure both ways, no unbounded buffers: a channel is read only
 * while fewer than SPLICE_DOWN_MAX bytes wait for the local socket (unread,
 * the channel's window closes and sshd stops sending); a stream's bytes are
 * bounded by its window, whose credit goes back only as the local socket
 * takes them. The local socket is read into one SPLICE_UP_BUF buffer and not
 * read again until the channel or stream took all of it.
 * Half-close: an EOF either way is passed on (SSH channel EOF or stream FIN
 * / TCP shutdown) and the connection ends when both sides are done.
 *
 * A channel is pumped by the tunnel (tunnel.c); a stream moves in its own
 * callbacks (stream_service), since the link engine never blocks.
 *
 * A channel's first bytes (as many as the link preface has) are read while
 * its target connection is still being made, and even when no target
 * answers: a link needs no target, so the edge's links (its web proxy's,
 * its federation gateway's) come up whether or not the webbridge does.
 *
 * Targets: the guest account client URI's addresses, tried in turn until
 * one connects (guest.c keeps the order: the last one that worked first).
 * A stream of service CW_MUX_SVC_XMPP (the edge's federation link) goes to
 * the node's [xmpp] link-listen instead, the XMPP service on this host. */
#include "core/tunnel_int.h"

#include "common/addr.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

#define XMPP_FAIL_LOG_MS 60000      /* federation connect failures: a line a minute at most */
#define SNIFF_WAIT_MS 5000          /* no target: how long a channel may take to show a link */

struct wreq {
    uv_write_t w;
    struct splice *s;
    size_t len;
    size_t credit;          /* the edge's bytes these stand for (TLS: fewer than len) */
    uint8_t data[];
};

static void try_connect(struct splice *s);
static void stream_service(struct splice *s);
static int write_channel(struct splice *s, int resume);
static void connect_failed(struct splice *s, const char *why);
static void connected(struct splice *s);
static void on_shutdown(uv_shutdown_t *req, int status);
static void tcp_close(struct splice *s, uv_close_cb cb);

/* Something happened to s: a channel waits for the pump, a stream moves now. */
static void splice_kick(struct splice *s)
{
    if (s->stream)
        stream_service(s);
    else
        tunnel__kick(s->t);
}

/* A stream leaves its link (reset, released, or the link went away). */
static void stream_detach(struct splice *s)
{
    struct core_link *l = s->owner;

    if (!l)
        return;
    l->buffered -= s->down_queued + s->early.len;
    s->owner = NULL;
}

static void maybe_free(struct splice *s)
{
    struct core_tunnel *t = s->t;

    if (s->handles || s->ch || s->ms)
        return;
    if (s->stream) {
        stream_detach(s);
        t->nstreams--;
    } else {
        if (s->prev)
            s->prev->next = s->next;
        else
            t->splices = s->next;
        if (s->next)
            s->next->prev = s->prev;
        t->nsplices--;
    }
    cw_sb_free(&s->early);
    webtls__free(s->tls);
    free(s->up);
    free(s);
    tunnel__maybe_free(t);
}

static void on_closed(uv_handle_t *h)
{
    struct splice *s = h->data;

    s->handles--;
    maybe_free(s);
}

static void local_close(struct splice *s)
{
    if (s->local_closed)
        return;
    s->local_closed = 1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
    if (s->tcp_open)
        tcp_close(s, on_closed);
}

/* libssh2 error on the channel: the whole session for transport errors. */
static void channel_error(struct splice *s, int rc)
{
    switch (rc) {
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_DECRYPT:
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_KEX_FAILURE:
    case LIBSSH2_ERROR_BAD_USE:
        s->t->dead = 1;
        break;
    default:
        CW_DEBUG("tunnel", "forwarded connection: channel error %d", rc);
        break;
    }
    s->failed = 1;
}

/* Frees the channel (sending CLOSE and waiting for the edge's). 1 when a
 * packet is left half sent. */
static int close_channel(struct splice *s)
{
    struct core_tunnel *t = s->t;
    int rc;

    if (s->link)
        link__end(s);
    rc = libssh2_channel_free(s->ch);
    if (rc == LIBSSH2_ERROR_EAGAIN)
        return tunnel__blocked(t, s, PEND_CLOSE);
    if (rc)
        t->dead = 1;    /* the session frees the channel when it goes */
    s->ch = NULL;
    t->moved++;
    local_close(s);
    maybe_free(s);
    return 0;
}

/* ---- the local side: the connection to the target ------------------------- */

/* A stream's bytes were taken by its target: credit for the edge, and room
 * in the link's budget. */
static void stream_taken(struct splice *s, size_t n)
{
    if (s->ms)
        cw_mux_consumed(s->ms, n);
}

/* s's bytes waiting for the target were `was` and changed: the link's
 * total follows, and a link that had stopped reading its channel at the
 * limit is pumped again once below it. */
static void queued_change(struct splice *s, size_t was)
{
    struct core_link *l = s->owner;
    size_t now = s->down_queued + s->early.len, before;

    if (!l)
        return;
    before = l->buffered;
    l->buffered = l->buffered + now - was;
    if (before >= LINK_BUFFER_MAX && l->buffered < LINK_BUFFER_MAX)
        tunnel__kick(s->t);
}

static void on_write(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct splice *s = r->s;
    size_t was = s->down_queued + s->early.len;

    s->down_queued -= r->len;
    queued_change(s, was);
    if (status == 0)
        stream_taken(s, r->credit);
    free(r);
    if (status < 0 && status != UV_ECANCELED)
        s->failed = 1;
    splice_kick(s);
}

/* n bytes into a uv_write request, credit of them for the stream when done. */
static void queue_write(struct splice *s, const uint8_t *p, size_t n, size_t credit)
{
    size_t was = s->down_queued + s->early.len;
    struct wreq *r = malloc(sizeof(*r) + n);
    uv_buf_t b;

    if (!r) {
        s->failed = 1;
        return;
    }
    memcpy(r->data, p, n);
    r->s = s;
    r->len = n;
    r->credit = credit;
    b = uv_buf_init((char *)r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&s->tcp, &b, 1, on_write) < 0) {
        free(r);
        s->failed = 1;
        return;
    }
    s->down_queued += n;
    queued_change(s, was);
}

/* n bytes to the target's socket, standing for credit bytes of the edge's
 * (the same bytes, or what TLS made of them): those are credited to the
 * stream once the socket took all n (or the loop turn's batch did). */
static void write_socket(struct splice *s, const uint8_t *p, size_t n, size_t credit)
{
    size_t now;
    ssize_t rc;

    if (!s->down_queued) {
        rc = cw_wb_write(&s->wb, p, n);
        if (rc < 0) {
            s->failed = 1;
            return;
        }
        now = (size_t)rc == n ? credit : credit == n ? (size_t)rc : 0;
        p += rc;
        n -= (size_t)rc;
        credit -= now;
        stream_taken(s, now);
    }
    if (n)
        queue_write(s, p, n, credit);
}

/* The batch sent s's bytes and the socket did not take them all (credited
 * already). */
static void batch_sent(struct cw_wb *w, int status, const uint8_t *rest, size_t n)
{
    struct splice *s = (struct splice *)((char *)w - offsetof(struct splice, wb));

    if (status < 0)
        s->failed = 1;
    else if (s->tcp_open)
        queue_write(s, rest, n, 0);
    splice_kick(s);
}

/* A new handle in s->tcp; its writes go through the tunnel's batch once
 * the target has answered (connected). */
static void tcp_init(struct splice *s)
{
    uv_tcp_init(s->t->loop, &s->tcp);
    cw_wb_init(&s->wb, (uv_stream_t *)&s->tcp, batch_sent, NULL);
    s->tcp_open = 1;
}

/* Closes s->tcp; what is batched for it goes to the kernel first. */
static void tcp_close(struct splice *s, uv_close_cb cb)
{
    cw_wb_settle(&s->wb);
    s->tcp_open = 0;
    uv_close((uv_handle_t *)&s->tcp, cb);
}

/* What TLS has to send, standing for credit bytes of the edge's. */
static void tls_flush(struct splice *s, size_t credit)
{
    size_t n;
    const uint8_t *p = webtls__out(s->tls, &n);

    if (n && s->tcp_open)
        write_socket(s, p, n, credit);
    else
        stream_taken(s, credit);
    webtls__out_clear(s->tls);
}

/* The edge's bytes for the target: in TLS when it speaks TLS. */
static void write_local(struct splice *s, const uint8_t *p, size_t n)
{
    if (!s->tls) {
        write_socket(s, p, n, n);
        return;
    }
    if (webtls__write(s->tls, p, n) < 0) {
        s->failed = 1;
        return;
    }
    tls_flush(s, n);
}

/* Ends the sending side towards the target (TLS: close_notify first). */
static void shutdown_local(struct splice *s)
{
    s->shut_started = 1;
    if (s->tls) {
        webtls__close_notify(s->tls);
        tls_flush(s, 0);
    }
    cw_wb_settle(&s->wb);   /* what is batched goes before the FIN */
    if (uv_shutdown(&s->shutreq, (uv_stream_t *)&s->tcp, on_shutdown) < 0)
        s->shut_done = 1;
}

/* A plain target is read straight into s->up; a TLS one into the tunnel's
 * buffer, which on_read empties into OpenSSL at once. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct splice *s = h->data;

    (void)suggested;
    if (s->tls) {
        *buf = uv_buf_init((char *)s->t->tls_in, SPLICE_UP_BUF);
        return;
    }
    if (!s->up)
        s->up = malloc(SPLICE_UP_BUF);
    *buf = uv_buf_init((char *)s->up, s->up ? SPLICE_UP_BUF : 0);
}

/* The local bytes in s->up go to the stream, as far as its window takes
 * them; reading goes on once all went. */
static void stream_write_remote(struct splice *s)
{
    if (s->ms && s->up_off < s->up_len)
        s->up_off += cw_mux_send(s->ms, s->up + s->up_off, s->up_len - s->up_off);
    if (s->up_len && s->up_off == s->up_len)
        s->up_len = s->up_off = 0;
}

/* Bytes from the inside target (s->up) go on at once when they can: a
 * stream's into the link, a channel's into the channel when nothing else
 * holds the session (no half-sent packet, no pump running). Either way the
 * socket stays watched (stopping and restarting it costs two epoll_ctl
 * calls per answer) and no pump round over every connection is needed.
 * Whatever is not taken waits in s->up with reading stopped. */
static void up_ready(struct splice *s)
{
    struct core_tunnel *t = s->t;
    uint64_t rx = t->rx_reads;

    if (s->stream) {
        stream_write_remote(s);
    } else if (!t->pumping && t->pend == PEND_NONE && t->phase == PH_READY && s->ch &&
               !s->failed) {
        t->pumping = 1;
        (void)write_channel(s, 0);  /* a half-sent packet is in t->pend for the pump */
        t->pumping = 0;
        /* The write may have read packets for other channels, left a
         * packet half sent, or failed: the pump takes it from there. */
        if (t->pend != PEND_NONE || s->failed || t->dead || t->rx_reads != rx)
            tunnel__kick(t);
    }
    if (s->up_len) {
        if (s->reading)
            uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = 0;
        if (!s->stream)
            tunnel__kick(t);
    }
}

/* The target ended its side (EOF, TLS close_notify) or failed. */
static void local_end(struct splice *s, int failed)
{
    if (s->reading)
        uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
    s->local_eof = 1;
    if (failed)
        s->failed = 1;
    splice_kick(s);
}

/* Hands on what TLS has decrypted, as far as s->up empties; what does not
 * fit stays in OpenSSL (reading stopped) until it does. */
static void tls_deliver(struct splice *s)
{
    ssize_t k;
    int eof;

    if (s->delivering)
        return;     /* an outer call goes on with it */
    s->delivering = 1;
    while (!s->up_len && !s->local_eof && !s->failed && s->tcp_open) {
        if (!s->up && !(s->up = malloc(SPLICE_UP_BUF))) {
            local_end(s, 1);
            break;
        }
        k = webtls__read(s->tls, s->up, SPLICE_UP_BUF, &eof);
        tls_flush(s, 0);    /* a key update may want an answer */
        if (k > 0) {
            s->up_len = (size_t)k;
            s->up_off = 0;
            up_ready(s);
        }
        if (k < 0 || eof) {
            local_end(s, k < 0);
            break;
        }
        if (k == 0)
            break;
    }
    s->delivering = 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct splice *s = st->data;
    char why[400];
    int rc;

    (void)buf;
    if (n == 0)
        return;
    if (n < 0 && s->tls && !s->connected) {
        webtls__closed_why(s->tls, why, sizeof(why));
        connect_failed(s, why);
        return;
    }
    if (n < 0) {
        local_end(s, n != UV_EOF);
        return;
    }
    if (!s->tls) {
        s->up_len = (size_t)n;
        s->up_off = 0;
        up_ready(s);
        return;
    }
    rc = webtls__feed(s->tls, s->t->tls_in, (size_t)n, why, sizeof(why));
    tls_flush(s, 0);
    if (rc == WEBTLS_FAIL) {
        if (s->connected)
            local_end(s, 1);
        else
            connect_failed(s, why);
        return;
    }
    if (rc == WEBTLS_AGAIN)
        return;
    if (!s->connected)
        connected(s);   /* kicks the splice, which may deliver already */
    tls_deliver(s);
}

/* Reads the target again (s->up is empty): TLS first hands on what it
 * holds already. */
static void start_reading(struct splice *s)
{
    if (s->tls && s->connected && webtls__pending(s->tls))
        tls_deliver(s);
    if (!s->reading && !s->up_len && !s->local_eof && s->tcp_open &&
        uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0)
        s->reading = 1;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct splice *s = req->data;

    (void)status;
    s->shut_done = 1;
    splice_kick(s);
}

/* ---- the inside target ---------------------------------------------------- */

static void on_sniff_timeout(uv_timer_t *h)
{
    struct splice *s = h->data;

    s->failed = 1;
    local_close(s);
    tunnel__kick(s->t);
}

static void give_up(struct splice *s)
{
    struct core_tunnel *t = s->t;

    t->target_failures++;
    if (!s->stream && s->ch && !s->sniffed && !s->link) {
        /* Its first bytes may still show a link: they decide, soon. */
        s->target_gone = 1;
        if (s->tcp_open)
            tcp_close(s, on_closed);
        uv_timer_start(&s->timer, on_sniff_timeout, SNIFF_WAIT_MS, 0);
        tunnel__kick(t);
        return;
    }
    s->failed = 1;
    local_close(s);
    splice_kick(s);
}

static void on_retry_closed(uv_handle_t *h)
{
    struct splice *s = h->data;

    s->handles--;
    if (s->local_closed || (!s->ch && !s->ms)) {
        maybe_free(s);
        return;
    }
    tcp_init(s);
    s->handles++;
    try_connect(s);
}

/* The address for a connection's try number try (0-based), its index in
 * *idx; NULL when none is left. A federation stream has one address. */
static const struct sockaddr *target_at(struct splice *s, unsigned try, unsigned *idx)
{
    if (s->xmpp) {
        *idx = 0;
        return try == 0 ? (const struct sockaddr *)&s->t->xmpp_link : NULL;
    }
    return guest__target(s->t, s->target_start, try, idx);
}

/* The edge redials its link every second while it is down: one line a
 * minute says why, with how many more failed meanwhile. */
static void xmpp_connect_failed(struct splice *s, const char *why)
{
    struct core_tunnel *t = s->t;
    uint64_t now = tunnel__now_ms(t);
    char more[80] = "";

    t->xmpp_failures++;
    if (t->xmpp_fail_logged_ms && now - t->xmpp_fail_logged_ms < XMPP_FAIL_LOG_MS) {
        t->xmpp_fail_quiet++;
        return;
    }
    if (t->xmpp_fail_quiet)
        snprintf(more, sizeof(more), "; and %u more since the last such line", t->xmpp_fail_quiet);
    CW_WARN("tunnel", "tunnel to %s: the edge's federation link cannot reach this node's XMPP "
            "service on %s ([xmpp] link-listen): %s: refused (is the XMPP service on here? "
            "`causeway xmpp status`)%s", t->target, t->xmpp_link_text, why, more);
    t->xmpp_fail_logged_ms = now;
    t->xmpp_fail_quiet = 0;
}

static void connect_failed(struct splice *s, const char *why)
{
    unsigned idx;
    int more;

    uv_timer_stop(&s->timer);
    s->tries++;
    more = target_at(s, s->tries, &idx) != NULL;
    if (s->xmpp)
        xmpp_connect_failed(s, why);
    else
        guest__connect_failed(s->t, s->target_idx, (struct sockaddr *)&s->target, why, !more);
    /* A new handle for the next address: a TCP handle connects once. */
    webtls__free(s->tls);
    s->tls = NULL;
    s->reading = 0;
    tcp_close(s, on_retry_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct splice *s = req->data;

    if (status == UV_ECANCELED)
        return;     /* closed on timeout or abort; the close callback goes on */
    if (status < 0) {
        connect_failed(s, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    if (s->t->web_tls && !s->xmpp) {
        /* The handshake counts towards the connect deadline. */
        if (!(s->tls = webtls__new(s->t))) {
            connect_failed(s, "out of memory for TLS");
            return;
        }
        tls_flush(s, 0);
        start_reading(s);
        return;
    }
    connected(s);
    start_reading(s);
}

/* The target answered (and for TLS, its certificate passed). */
static void connected(struct splice *s)
{
    uv_timer_stop(&s->timer);
    s->connected = 1;
    s->wb.b = s->t->wbatch;
    if (!s->xmpp)
        guest__connect_ok(s->t, s->target_idx);
    splice_kick(s);
}

static void on_connect_timeout(uv_timer_t *h)
{
    struct splice *s = h->data;

    connect_failed(s, s->tls ? TARGET_TLS_TIMEOUT_WHY : "no answer within 5 s");
}

static void try_connect(struct splice *s)
{
    const struct sockaddr *a = target_at(s, s->tries, &s->target_idx);
    int rc;

    if (!a) {
        give_up(s);
        return;
    }
    memcpy(&s->target, a, cw_addr_len(a));
    s->conn.data = s;
    rc = uv_tcp_connect(&s->conn, &s->tcp, a, on_connect);
    if (rc < 0) {
        connect_failed(s, uv_strerror(rc));
        return;
    }
    uv_timer_start(&s->timer, on_connect_timeout, TARGET_CONNECT_TIMEOUT_MS, 0);
}

/* A splice with its local side set up and connecting. */
static struct splice *splice_new(struct core_tunnel *t)
{
    struct splice *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->t = t;
    tcp_init(s);
    uv_timer_init(t->loop, &s->timer);
    s->tcp.data = s->timer.data = s->shutreq.data = s;
    s->handles = 2;
    s->target_start = guest__first(t);
    return s;
}

void splice__start(struct core_tunnel *t, LIBSSH2_CHANNEL *ch)
{
    struct splice *s = splice_new(t);

    t->accepted++;
    if (!s) {
        /* Out of memory: let the session free the channel when it ends;
         * the edge's side sees no answer and times out. */
        CW_ERROR("tunnel", "out of memory for a forwarded connection");
        return;
    }
    s->ch = ch;
    s->next = t->splices;
    if (s->next)
        s->next->prev = s;
    t->splices = s;
    t->nsplices++;
    try_connect(s);
}

/* ---- a channel's bytes ------------------------------------------------------- */

/* A channel's bytes for the target: held until it answers (only its first
 * few can come before), dropped when none did. */
static void to_target(struct splice *s, const uint8_t *p, size_t n)
{
    if (s->connected) {
        write_local(s, p, n);
    } else if (s->target_gone) {
        s->failed = 1;
    } else {
        cw_sb_add(&s->early, (const char *)p, n);
        if (s->early.failed)
            s->failed = 1;
    }
}

/* Bytes read from a channel: a link's go to the link; a channel's first
 * bytes are checked for the link preface (the link's sender is the edge's
 * web proxy or federation gateway); the rest go to the target. */
static void channel_data(struct splice *s, const uint8_t *p, size_t n)
{
    size_t k;

    if (s->link) {
        link__feed(s, p, n);
        return;
    }
    if (!s->sniffed) {
        k = CW_MUX_PREFACE_LEN - s->sniff_len;
        if (k > n)
            k = n;
        if (memcmp(p, CW_MUX_PREFACE + s->sniff_len, k) == 0) {
            s->sniff_len += k;
            if (s->sniff_len < CW_MUX_PREFACE_LEN)
                return;     /* so far, so like a link */
            s->sniffed = 1;
            /* The connection made to the target for a plain forward goes. */
            if (s->reading)
                uv_read_stop((uv_stream_t *)&s->tcp);
            s->reading = 0;
            local_close(s);
            if (link__start(s) < 0) {
                s->failed = 1;
                return;
            }
            link__feed(s, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN);
            if (n > k)
                link__feed(s, p + k, n - k);
            return;
        }
        s->sniffed = 1;
        if (s->sniff_len)   /* held back: they matched the preface so far */
            to_target(s, (const uint8_t *)CW_MUX_PREFACE, s->sniff_len);
    }
    to_target(s, p, n);
}

/* Whether to read more of a channel now. Before its target answers, only
 * its first bytes, until they show whether it is a link. */
static int may_read(const struct splice *s)
{
    if (s->remote_eof || s->failed)
        return 0;
    if (s->link)
        return s->link->buffered < LINK_BUFFER_MAX;
    if (!s->connected)
        return !s->sniffed;
    return s->down_queued < SPLICE_DOWN_MAX;
}

/* resume: repeat a read that left a packet (a window adjust) half sent,
 * whatever the limits say now. */
static int read_channel(struct splice *s, int resume)
{
    struct core_tunnel *t = s->t;
    ssize_t n;

    while (resume || may_read(s)) {
        /* Not a link yet and no target: no more than the preface, to sniff. */
        size_t want = s->link || s->connected || s->sniff_len >= CW_MUX_PREFACE_LEN
                          ? SPLICE_SCRATCH : CW_MUX_PREFACE_LEN - s->sniff_len;
        resume = 0;
        n = libssh2_channel_read(s->ch, (char *)t->scratch, want);
        if (n > 0) {
            channel_data(s, t->scratch, (size_t)n);
            t->bytes_from_edge += (uint64_t)n;
            t->moved++;
            continue;
        }
        if (n == LIBSSH2_ERROR_EAGAIN)
            return tunnel__blocked(t, s, PEND_READ);
        if (n == 0) {
            if (libssh2_channel_eof(s->ch)) {
                s->remote_eof = 1;
                t->moved++;
            }
            return 0;
        }
        channel_error(s, (int)n);
    }
    return 0;
}

/* What goes into the channel next: a link's queued frames, or the local
 * bytes in s->up. */
static const uint8_t *channel_out(struct splice *s, size_t *n)
{
    if (s->link)
        return link__out(s, n);
    *n = s->up_len - s->up_off;
    return *n ? s->up + s->up_off : NULL;
}

static void channel_out_done(struct splice *s, size_t n)
{
    if (s->link)
        link__out_done(s, n);
    else
        s->up_off += n;
}

/* resume: repeat the write whose packet is half sent (the window it used
 * is already spent, so it is not checked). */
static int write_channel(struct splice *s, int resume)
{
    struct core_tunnel *t = s->t;
    const uint8_t *p;
    size_t len;
    ssize_t n;

    while ((p = channel_out(s, &len)) != NULL && (resume || !s->failed)) {
        /* A closed window is not a half-sent packet: wait for the adjust. */
        if (!resume && libssh2_channel_window_write(s->ch) == 0)
            return 0;
        resume = 0;
        n = libssh2_channel_write(s->ch, (const char *)p, len);
        if (n > 0) {
            channel_out_done(s, (size_t)n);
            t->bytes_to_edge += (uint64_t)n;
            t->moved++;
            continue;
        }
        if (n == LIBSSH2_ERROR_EAGAIN)
            return tunnel__blocked(t, s, PEND_WRITE);
        if (n == 0)
            return 0;   /* the window closed while libssh2 read: wait for the adjust */
        channel_error(s, (int)n);
    }
    if (!s->link && s->up_len && s->up_off == s->up_len) {
        s->up_len = s->up_off = 0;
        if (!s->local_eof)
            start_reading(s);
    }
    return 0;
}

static int send_eof(struct splice *s, int resume)
{
    int rc;

    /* libssh2 builds the EOF packet on its stack: send it only when the
     * socket takes it whole (see tunnel.c). */
    if (!resume && !tunnel__room(s->t))
        return 0;
    rc = libssh2_channel_send_eof(s->ch);
    if (rc == 0) {
        s->eof_sent = 1;
        s->t->moved++;
    } else if (rc == LIBSSH2_ERROR_EAGAIN) {
        return tunnel__blocked(s->t, s, PEND_EOF);
    } else {
        channel_error(s, rc);
    }
    return 0;
}

int splice__service(struct splice *s)
{
    if (!s->ch)
        return 0;
    if (s->failed || s->ch_closing) {
        s->ch_closing = 1;
        return close_channel(s);
    }
    if (!s->connected && !s->link) {
        /* Its first bytes, to see whether it is a link; the rest waits
         * (the channel's window holds the edge). */
        if (read_channel(s, 0))
            return 1;
        if (!s->link) {
            if (s->target_gone && (s->sniffed || s->remote_eof || s->failed)) {
                s->ch_closing = 1;
                return close_channel(s);
            }
            return 0;
        }
    }
    if (s->remote_eof && !s->sniffed && !s->link) {
        /* The edge ended within the first bytes: not a link after all. */
        s->sniffed = 1;
        if (s->sniff_len)
            to_target(s, (const uint8_t *)CW_MUX_PREFACE, s->sniff_len);
    }
    if (s->early.len && !s->link && !s->failed) {
        write_local(s, (const uint8_t *)s->early.s, s->early.len);
        cw_sb_free(&s->early);
    }
    if (read_channel(s, 0))
        return 1;
    if (s->link) {
        /* The edge ended the link (or it failed): its streams end with it. */
        if (s->remote_eof || s->failed) {
            s->ch_closing = 1;
            return close_channel(s);
        }
        return write_channel(s, 0);
    }
    if (s->remote_eof && !s->shut_started && !s->failed)
        shutdown_local(s);
    if (write_channel(s, 0))
        return 1;
    if (s->local_eof && !s->up_len && !s->eof_sent && !s->failed && send_eof(s, 0))
        return 1;
    if (s->failed || (s->eof_sent && s->remote_eof && s->shut_done)) {
        s->ch_closing = 1;
        return close_channel(s);
    }
    return 0;
}

int splice__resume(struct splice *s, enum pend_op op)
{
    switch (op) {
    case PEND_READ:
        return read_channel(s, 1);
    case PEND_WRITE:
        return write_channel(s, 1);
    case PEND_EOF:
        return send_eof(s, 1);
    case PEND_CLOSE:
        return close_channel(s);
    default:
        return 0;
    }
}

void splice__abort(struct splice *s)
{
    if (s->link)
        link__end(s);
    s->ch = NULL;       /* freed with the session */
    if (s->reading)
        uv_read_stop((uv_stream_t *)&s->tcp);
    local_close(s);
    maybe_free(s);
}

/* ---- streams of a link ---------------------------------------------------------- */

/* Lets go of the stream (reset with code unless it ended both ways) and of
 * the target connection. */
static void stream_end(struct splice *s, uint32_t code)
{
    if (s->ms) {
        cw_mux_release(s->ms, code);
        s->ms = NULL;
    }
    stream_detach(s);
    if (s->reading)
        uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
    local_close(s);
    maybe_free(s);
}

/* Moves what can move and ends the stream when it is done. May free s. */
static void stream_service(struct splice *s)
{
    size_t was;

    if (!s->ms) {
        stream_end(s, 0);
        return;
    }
    if (s->failed) {
        stream_end(s, s->connected ? CW_MUX_RST_ERROR : CW_MUX_RST_CONNECT);
        return;
    }
    if (!s->connected)
        return;
    if (s->early.len) {
        was = s->down_queued + s->early.len;
        write_local(s, (const uint8_t *)s->early.s, s->early.len);
        cw_sb_free(&s->early);
        queued_change(s, was);
        if (s->failed) {
            stream_end(s, CW_MUX_RST_ERROR);
            return;
        }
    }
    stream_write_remote(s);
    if (!s->up_len && !s->local_eof)
        start_reading(s);
    if (s->local_eof && !s->up_len && !s->eof_sent) {
        cw_mux_fin(s->ms);
        s->eof_sent = 1;
    }
    if (s->remote_eof && !s->shut_started)
        shutdown_local(s);
    if (s->eof_sent && s->remote_eof && s->shut_done)
        stream_end(s, 0);
}

/* Whether a stream of service svc has somewhere to go: 0, or the
 * CW_MUX_RST_* code that refuses it (said once in the log). */
static int stream_target_ok(struct core_tunnel *t, unsigned svc)
{
    switch (svc) {
    case CW_MUX_SVC_WEB:
        if (!guest__target(t, guest__first(t), 0, &(unsigned){0}))
            return CW_MUX_RST_CONNECT;  /* no address for the target: say so at once */
        return 0;
    case CW_MUX_SVC_XMPP:
        if (t->xmpp_link.ss_family)
            return 0;
        t->xmpp_failures++;
        if (!t->xmpp_off_logged)
            CW_WARN("tunnel", "tunnel to %s: the edge opened a federation link, but this node "
                    "has no [xmpp] link-listen: refused (to federate through this node, set "
                    "[xmpp] link-listen = 127.0.0.1:PORT and link-key-file in core.conf and "
                    "restart; otherwise leave it out of the edge's [federation] core list)",
                    t->target);
        t->xmpp_off_logged = 1;
        return CW_MUX_RST_CONNECT;
    default:
        if (!t->svc_logged)
            CW_WARN("tunnel", "tunnel to %s: the edge opened a stream of service %u, which this "
                    "core does not know: refused (is the edge newer than this core?)", t->target,
                    svc);
        t->svc_logged = 1;
        return CW_MUX_RST_CONNECT;
    }
}

int splice__stream_start(struct core_link *l, struct cw_mux_stream *ms)
{
    struct core_tunnel *t = l->s->t;
    unsigned svc = cw_mux_stream_service(ms);
    struct splice *s;
    int code;

    if ((code = stream_target_ok(t, svc)) != 0)
        return code;
    /* max-connections counts a link's connections too; a stream cannot
     * wait on the edge as a channel does, so it is refused. */
    if (t->nsplices + t->nstreams >= t->cfg->max_connections) {
        if (!t->at_limit)
            CW_WARN("tunnel", "tunnel to %s (%s): %u connections, the max-connections limit: "
                    "the link's new ones are refused until some end", t->target,
                    t->cfg->guest_uri, t->nsplices + t->nstreams);
        t->at_limit = 1;
        return CW_MUX_RST_REFUSED;
    }
    s = splice_new(t);
    if (!s)
        return CW_MUX_RST_REFUSED;
    s->stream = 1;
    s->xmpp = svc == CW_MUX_SVC_XMPP;
    if (s->xmpp)
        t->xmpp_streams++;
    s->ms = ms;
    s->owner = l;       /* the link's engine holds the stream; no list of our own */
    t->nstreams++;
    t->streams_opened++;
    t->accepted++;
    cw_mux_stream_set_data(ms, s);
    try_connect(s);
    return 0;
}

void splice__stream_data(struct splice *s, const uint8_t *p, size_t n)
{
    size_t was = s->down_queued + s->early.len;

    if (s->failed)
        return;
    if (!s->connected) {
        cw_sb_add(&s->early, (const char *)p, n);   /* bounded by the stream's window */
        if (s->early.failed)
            s->failed = 1;
        queued_change(s, was);
        return;
    }
    write_local(s, p, n);
    if (s->failed)
        stream_service(s);
}

void splice__stream_fin(struct splice *s)
{
    s->remote_eof = 1;
    stream_service(s);
}

void splice__stream_reset(struct splice *s)
{
    stream_end(s, 0);
}

void splice__stream_writable(struct splice *s)
{
    stream_service(s);
}
