/* splice.c - one forwarded connection: an SSH channel that the edge opened
 * on the tunnel's remote forward, joined to a TCP connection to the inside
 * target.
 *
 * Back-pressure both ways, no unbounded buffers: a channel is read only
 * while fewer than SPLICE_DOWN_MAX bytes wait for the local socket (unread,
 * the channel's window closes and sshd stops sending); the local socket is
 * read into one SPLICE_UP_BUF buffer and not read again until the channel
 * took all of it (libssh2 writes no more than the channel window allows).
 * Half-close: an EOF either way is passed on (SSH channel EOF / TCP
 * shutdown) and the connection ends when both sides are done.
 *
 * Targets: the guest account client URI's addresses, tried in turn until
 * one connects (guest.c keeps the order: the last one that worked first). */
#include "core/tunnel_int.h"

#include "common/addr.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

#define TARGET_CONNECT_TIMEOUT_MS 5000

struct wreq {
    uv_write_t w;
    struct splice *s;
    size_t len;
    uint8_t data[];
};

static void try_connect(struct splice *s);

static void maybe_free(struct splice *s)
{
    struct core_tunnel *t = s->t;

    if (s->handles || s->ch)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        t->splices = s->next;
    if (s->next)
        s->next->prev = s->prev;
    t->nsplices--;
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
    if (s->tcp_open) {
        s->tcp_open = 0;
        uv_close((uv_handle_t *)&s->tcp, on_closed);
    }
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
    int rc = libssh2_channel_free(s->ch);

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

static void on_write(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct splice *s = r->s;

    s->down_queued -= r->len;
    free(r);
    if (status < 0 && status != UV_ECANCELED)
        s->failed = 1;
    tunnel__kick(s->t);
}

static void write_local(struct splice *s, const uint8_t *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    struct wreq *r;
    int rc;

    if (!s->down_queued) {
        rc = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
        if (rc >= 0) {
            p += rc;
            n -= (size_t)rc;
        } else if (rc != UV_EAGAIN) {
            s->failed = 1;
            return;
        }
    }
    if (!n)
        return;
    r = malloc(sizeof(*r) + n);
    if (!r) {
        s->failed = 1;
        return;
    }
    memcpy(r->data, p, n);
    r->s = s;
    r->len = n;
    b = uv_buf_init((char *)r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&s->tcp, &b, 1, on_write) < 0) {
        free(r);
        s->failed = 1;
        return;
    }
    s->down_queued += n;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct splice *s = h->data;

    (void)suggested;
    if (!s->up)
        s->up = malloc(SPLICE_UP_BUF);
    *buf = uv_buf_init((char *)s->up, s->up ? SPLICE_UP_BUF : 0);
}

static int write_channel(struct splice *s, int resume);

/* Bytes from the inside target go into the channel at once when nothing
 * else holds the session (no half-sent packet, no pump running): no pump
 * round over every connection, and the socket stays watched (stopping and
 * restarting it costs two epoll_ctl calls per answer). Whatever the channel
 * does not take waits in s->up with reading stopped, for the pump. */
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct splice *s = st->data;
    struct core_tunnel *t = s->t;
    uint64_t rx = t->rx_reads;

    (void)buf;
    if (n == 0)
        return;
    if (n < 0) {
        uv_read_stop(st);
        s->reading = 0;
        s->local_eof = 1;
        if (n != UV_EOF)
            s->failed = 1;
        tunnel__kick(t);
        return;
    }
    s->up_len = (size_t)n;
    s->up_off = 0;
    if (!t->pumping && t->pend == PEND_NONE && t->phase == PH_READY && s->ch && !s->failed) {
        t->pumping = 1;
        (void)write_channel(s, 0);  /* a half-sent packet is in t->pend for the pump */
        t->pumping = 0;
        /* The write may have read packets for other channels, left a
         * packet half sent, or failed: the pump takes it from there. */
        if (t->pend != PEND_NONE || s->failed || t->dead || t->rx_reads != rx)
            tunnel__kick(t);
    }
    if (s->up_len) {
        uv_read_stop(st);
        s->reading = 0;
        tunnel__kick(t);
    }
}

static void start_reading(struct splice *s)
{
    if (!s->reading && s->tcp_open && uv_read_start((uv_stream_t *)&s->tcp, on_alloc,
                                                    on_read) == 0)
        s->reading = 1;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct splice *s = req->data;

    (void)status;
    s->shut_done = 1;
    tunnel__kick(s->t);
}

/* ---- the inside target ---------------------------------------------------- */

static void give_up(struct splice *s)
{
    struct core_tunnel *t = s->t;

    t->target_failures++;
    s->failed = 1;
    local_close(s);
    tunnel__kick(t);
}

static void on_retry_closed(uv_handle_t *h)
{
    struct splice *s = h->data;

    s->handles--;
    if (s->local_closed || !s->ch) {
        maybe_free(s);
        return;
    }
    uv_tcp_init(s->t->loop, &s->tcp);
    s->handles++;
    s->tcp_open = 1;
    try_connect(s);
}

static void connect_failed(struct splice *s, const char *why)
{
    unsigned idx;
    int more;

    uv_timer_stop(&s->timer);
    s->tries++;
    more = guest__target(s->t, s->target_start, s->tries, &idx) != NULL;
    guest__connect_failed(s->t, s->target_idx, (struct sockaddr *)&s->target, why, !more);
    /* A new handle for the next address: a TCP handle connects once. */
    s->tcp_open = 0;
    uv_close((uv_handle_t *)&s->tcp, on_retry_closed);
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
    uv_timer_stop(&s->timer);
    s->connected = 1;
    guest__connect_ok(s->t, s->target_idx);
    uv_tcp_nodelay(&s->tcp, 1);
    start_reading(s);
    tunnel__kick(s->t);
}

static void on_connect_timeout(uv_timer_t *h)
{
    connect_failed(h->data, "no answer within 5 s");
}

static void try_connect(struct splice *s)
{
    const struct sockaddr *a = guest__target(s->t, s->target_start, s->tries, &s->target_idx);
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

void splice__start(struct core_tunnel *t, LIBSSH2_CHANNEL *ch)
{
    struct splice *s = calloc(1, sizeof(*s));

    t->accepted++;
    if (!s) {
        /* Out of memory: let the session free the channel when it ends;
         * the edge's side sees no answer and times out. */
        CW_ERROR("tunnel", "out of memory for a forwarded connection");
        return;
    }
    s->t = t;
    s->ch = ch;
    s->next = t->splices;
    if (s->next)
        s->next->prev = s;
    t->splices = s;
    t->nsplices++;
    uv_tcp_init(t->loop, &s->tcp);
    uv_timer_init(t->loop, &s->timer);
    s->tcp.data = s->timer.data = s->shutreq.data = s;
    s->handles = 2;
    s->tcp_open = 1;
    s->target_start = guest__first(t);
    try_connect(s);
}

/* ---- moving bytes ------------------------------------------------------------ */

/* resume: repeat a read that left a packet (a window adjust) half sent,
 * whatever the limits say now. */
static int read_channel(struct splice *s, int resume)
{
    struct core_tunnel *t = s->t;
    ssize_t n;

    while (resume || (!s->remote_eof && !s->failed && s->down_queued < SPLICE_DOWN_MAX)) {
        resume = 0;
        n = libssh2_channel_read(s->ch, (char *)t->scratch, SPLICE_SCRATCH);
        if (n > 0) {
            write_local(s, t->scratch, (size_t)n);
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

/* resume: repeat the write whose packet is half sent (the window it used
 * is already spent, so it is not checked). */
static int write_channel(struct splice *s, int resume)
{
    struct core_tunnel *t = s->t;
    ssize_t n;

    while (s->up_off < s->up_len && (resume || !s->failed)) {
        /* A closed window is not a half-sent packet: wait for the adjust. */
        if (!resume && libssh2_channel_window_write(s->ch) == 0)
            return 0;
        resume = 0;
        n = libssh2_channel_write(s->ch, (const char *)s->up + s->up_off, s->up_len - s->up_off);
        if (n > 0) {
            s->up_off += (size_t)n;
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
    if (s->up_len && s->up_off == s->up_len) {
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
    if (!s->connected)
        return 0;   /* the channel waits; its window holds the edge */
    if (read_channel(s, 0))
        return 1;
    if (s->remote_eof && !s->shut_started && !s->failed) {
        s->shut_started = 1;
        if (uv_shutdown(&s->shutreq, (uv_stream_t *)&s->tcp, on_shutdown) < 0)
            s->shut_done = 1;
    }
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
    s->ch = NULL;       /* freed with the session */
    if (s->reading)
        uv_read_stop((uv_stream_t *)&s->tcp);
    local_close(s);
    maybe_free(s);
}
