/* tcp.c - TURN clients over TCP and TLS (RFC 8656 12.5, RFC 6062 3.1 style
 * framing): STUN messages and padded ChannelData frames on a byte stream.
 * One connection holds at most one allocation, which ends with it. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_FRAME_MAX (4 + 65535 + 3)    /* largest padded ChannelData */
#define CONN_IDLE_NO_ALLOC_MS 30000       /* a client that allocates nothing */
#define CONN_PARTIAL_FRAME_MS 30000       /* a frame that never completes */

struct turn_conn {
    struct turn_server *srv;
    struct cw_stream *st;
    struct turn_alloc *alloc;
    struct turn_conn *next, *prev;
    uint8_t *pend;                  /* an incomplete frame */
    size_t npend, cappend;
    uint64_t pend_since;            /* when the incomplete frame began */
    uint64_t since;
    uint8_t proto;
    union turn_sa local;
};

struct tcp_listener {
    uv_tcp_t tcp;
    struct turn_server *srv;
    int tls;
};

static void conn_unlink(struct turn_conn *c)
{
    struct turn_server *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

void turn__conn_detach_alloc(struct turn_conn *c)
{
    c->alloc = NULL;
}

static void conn_on_close(struct cw_stream *st, int err)
{
    struct turn_conn *c = cw_stream_data(st);
    struct turn_server *s = c->srv;

    (void)err;
    if (c->alloc) {
        struct turn_alloc *a = c->alloc;
        c->alloc = NULL;
        turn__alloc_destroy(a, "client connection closed");
    }
    if (c->proto == TURN_TLS)
        s->st.clients_tls--;
    else
        s->st.clients_tcp--;
    turn__lock(s->sh);
    s->sh->stream_clients--;
    turn__unlock(s->sh);
    conn_unlink(c);
    free(c->pend);
    free(c);
    turn__server_maybe_free(s);
}

/* Handles every whole frame at the start of p; returns the bytes used, or
 * -1 when the stream is garbage. */
static long conn_frames(struct turn_conn *c, const uint8_t *p, size_t n)
{
    size_t used = 0;

    while (used < n) {
        /* STUN messages are small; only ChannelData may be large. */
        size_t max = (p[used] & 0xC0) == 0 ? STUN_MAX_STREAM_MSG : CONN_FRAME_MAX;
        long fl = turn_frame_len(p + used, n - used, max);
        struct turn_client cl = { .conn = c, .proto = c->proto };

        if (fl < 0)
            return -1;
        if (fl == 0)
            break;
        memcpy(&cl.addr, cw_stream_peer(c->st), cw_addr_len(cw_stream_peer(c->st)));
        turn__handle(c->srv, &cl, &c->local.sa, p + used, (size_t)fl);
        used += (size_t)fl;
    }
    return (long)used;
}

static void conn_on_data(struct cw_stream *st, const uint8_t *p, size_t n)
{
    struct turn_conn *c = cw_stream_data(st);
    char buf[CW_ADDR_STRLEN];
    long used;

    if (c->npend) {
        size_t need = c->npend + n;
        if (need > c->cappend) {
            size_t cap = need < 4096 ? 4096 : need;
            uint8_t *q;
            if (cap > 2 * CONN_FRAME_MAX)
                goto garbage;
            q = realloc(c->pend, cap);
            if (!q)
                goto garbage;
            c->pend = q;
            c->cappend = cap;
        }
        memcpy(c->pend + c->npend, p, n);
        c->npend += n;
        used = conn_frames(c, c->pend, c->npend);
        if (used < 0)
            goto garbage;
        memmove(c->pend, c->pend + used, c->npend - (size_t)used);
        c->npend -= (size_t)used;
        if (used)
            c->pend_since = turn__now(c->srv);
        return;
    }
    used = conn_frames(c, p, n);
    if (used < 0)
        goto garbage;
    if ((size_t)used < n) {
        size_t rest = n - (size_t)used, cap = rest < 4096 ? 4096 : rest;
        if (cap > c->cappend) {
            uint8_t *q = realloc(c->pend, cap);
            if (!q)
                goto garbage;
            c->pend = q;
            c->cappend = cap;
        }
        memcpy(c->pend, p + used, rest);
        c->npend = rest;
        c->pend_since = turn__now(c->srv);
    }
    return;
garbage:
    c->srv->st.malformed++;
    CW_INFO(TURN_LOG, "closing %s client %s: not STUN or ChannelData framing",
            c->proto == TURN_TLS ? "TLS" : "TCP",
            cw_addr_fmt(cw_stream_peer(st), buf, sizeof(buf), 1));
    c->npend = 0;
    cw_stream_close(st);
}

static const struct cw_stream_cbs conn_cbs = {
    .on_data = conn_on_data,
    .on_close = conn_on_close,
};

static void tcp_on_connection(uv_stream_t *server, int status)
{
    struct tcp_listener *l = server->data;
    struct turn_server *s = l->srv;
    struct turn_conn *c;
    unsigned nclients;

    if (status < 0 || s->closing)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = s;
    c->proto = l->tls ? TURN_TLS : TURN_TCP;
    c->since = turn__now(s);
    c->st = cw_stream_accept(server, l->tls ? s->o.tls : NULL, &conn_cbs, c);
    if (!c->st) {
        free(c);
        return;
    }
    memcpy(&c->local, cw_stream_local(c->st), cw_addr_len(cw_stream_local(c->st)));
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (l->tls)
        s->st.clients_tls++;
    else
        s->st.clients_tcp++;
    turn__lock(s->sh);
    nclients = s->sh->stream_clients++;
    turn__unlock(s->sh);
    if (s->o.max_tcp_clients && nclients >= s->o.max_tcp_clients) {
        char buf[CW_ADDR_STRLEN];
        CW_WARN(TURN_LOG, "refusing stream client %s: %u TCP/TLS clients already (max-tcp-clients)",
                cw_addr_fmt(cw_stream_peer(c->st), buf, sizeof(buf), 1), s->o.max_tcp_clients);
        cw_stream_close(c->st);
    }
}

static void listener_closed(uv_handle_t *h)
{
    struct turn_server *s = ((struct tcp_listener *)h->data)->srv;

    free(h->data);
    turn__handle_close_pending(s);
}

/* A bound listening-to-be socket: SO_REUSEADDR as libuv would set, and
 * SO_REUSEPORT when each worker has its own listener on addr. Returns the
 * fd or a negative errno (libuv style). */
static int tcp_socket(const struct sockaddr *addr, int reuseport)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        (addr->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, addr, cw_addr_len(addr)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int turn__tcp_listen(struct turn_server *s, const struct sockaddr *addr, int tls, char *err,
                     size_t errlen)
{
    struct tcp_listener *l;
    char buf[CW_ADDR_STRLEN];
    int rc, fd;

    if (s->ntcp == 2 * TURN_MAX_LISTEN || !(l = calloc(1, sizeof(*l)))) {
        snprintf(err, errlen, "too many TCP listeners");
        return -1;
    }
    l->srv = s;
    l->tls = tls;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    /* Our own socket: libuv has no SO_REUSEPORT for TCP before 1.49. */
    fd = tcp_socket(addr, s->sh->reuseport);
    rc = fd < 0 ? fd : uv_tcp_open(&l->tcp, fd);
    if (rc < 0 && fd >= 0)
        close(fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, tcp_on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s %s: %s%s", tls ? "TLS" : "TCP",
                 cw_addr_fmt(addr, buf, sizeof(buf), 1), uv_strerror(rc),
                 cw_addr_bind_hint(addr, rc));
        s->pending_closes++;
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
        return -1;
    }
    s->tcp[s->ntcp++] = &l->tcp;
    return 0;
}

void turn__tcp_close_all(struct turn_server *s)
{
    for (int i = 0; i < s->ntcp; i++) {
        s->pending_closes++;
        uv_close((uv_handle_t *)s->tcp[i], listener_closed);
    }
    s->ntcp = 0;
    for (struct turn_conn *c = s->conns; c; c = c->next)
        cw_stream_close(c->st);
}

int turn__conn_send(struct turn_conn *c, const uint8_t *p, size_t n)
{
    static const uint8_t zeros[3];

    if (cw_stream_pending(c->st) > TURN_STREAM_PENDING_MAX)
        return -1;       /* the client does not keep up: drop, like UDP */
    if (cw_stream_write(c->st, p, n) < 0)
        return -1;
    if (n & 3)
        cw_stream_write(c->st, zeros, 4 - (n & 3));
    return 0;
}

void turn__conn_set_alloc(struct turn_conn *c, struct turn_alloc *a)
{
    c->alloc = a;
}

void turn__conn_sweep(struct turn_server *s, uint64_t now)
{
    char buf[CW_ADDR_STRLEN];

    for (struct turn_conn *c = s->conns; c; c = c->next) {
        if (c->npend && now - c->pend_since > CONN_PARTIAL_FRAME_MS) {
            CW_INFO(TURN_LOG, "closing %s client %s: a frame stayed incomplete for %ds",
                    c->proto == TURN_TLS ? "TLS" : "TCP",
                    cw_addr_fmt(cw_stream_peer(c->st), buf, sizeof(buf), 1),
                    CONN_PARTIAL_FRAME_MS / 1000);
            c->npend = 0;
            cw_stream_close(c->st);
        } else if (!c->alloc && now - c->since > CONN_IDLE_NO_ALLOC_MS) {
            cw_stream_close(c->st);
        }
    }
}
