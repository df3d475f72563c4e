/* udp.c - datagram I/O of the relay: listener sockets read in batches with
 * recvmmsg; the allocations' relay sockets likewise; what a batch produces
 * (datagrams to clients per listener, datagrams to peers per server) is
 * queued and sent when the batch is done, with sendmmsg, and runs of
 * same-size datagrams to one destination go out as one UDP GSO send
 * (UDP_SEGMENT).
 *
 * Sockets are raw non-blocking fds watched by uv_poll: libuv's uv_udp_t
 * would allocate per datagram and send one syscall per datagram. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELAY_BATCHES_PER_EVENT 2  /* fairness: then yield to other sockets */
#define LISTENER_BATCHES_PER_EVENT 8

/* Asks for UDP GSO on h: segments of size bytes. buf holds the cmsg. */
static void gso_cmsg(struct msghdr *h, uint8_t buf[CMSG_SPACE(sizeof(uint16_t))],
                     uint16_t size)
{
    struct cmsghdr *c = (struct cmsghdr *)(void *)buf;

    h->msg_control = buf;
    h->msg_controllen = CMSG_SPACE(sizeof(size));
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(size));
    memcpy(CMSG_DATA(c), &size, sizeof(size));
}

/* Builds one message per run of datagrams to the same client: a run of
 * datagrams of one size (the last may be shorter) goes out as one UDP GSO
 * send (UDP_SEGMENT), so the IP stack is walked once for the run and the
 * client still receives separate datagrams. Returns the number of messages. */
static unsigned sendq_build(struct turn_sendq *q, int gso)
{
    unsigned i = 0, nm = 0;

    while (i < q->n) {
        struct msghdr *h = &q->msg[nm].msg_hdr;
        size_t seg = q->iov[i].iov_len, total = seg;
        unsigned j = i + 1;

        while (gso && j < q->n && q->iov[j].iov_len <= seg && total + q->iov[j].iov_len < 65000 &&
               cw_addr_equal(&q->dst[j].sa, &q->dst[i].sa, 1)) {
            total += q->iov[j].iov_len;
            if (q->iov[j++].iov_len < seg)
                break;                  /* a shorter one ends the run */
        }
        memset(h, 0, sizeof(*h));
        h->msg_name = &q->dst[i];
        h->msg_namelen = cw_addr_len(&q->dst[i].sa);
        h->msg_iov = &q->iov[i];
        h->msg_iovlen = j - i;
        if (j - i > 1)
            gso_cmsg(h, q->ctl[nm], (uint16_t)seg);
        nm++;
        i = j;
    }
    return nm;
}

static void send_run_singly(struct turn_udp_listener *ul, const struct msghdr *run)
{
    for (size_t k = 0; k < run->msg_iovlen; k++) {
        struct msghdr h = *run;

        h.msg_iov = &run->msg_iov[k];
        h.msg_iovlen = 1;
        h.msg_control = NULL;
        h.msg_controllen = 0;
        if (sendmsg(ul->fd, &h, MSG_DONTWAIT) < 0)
            ul->srv->st.dropped++;
    }
}

static void udp_flush(struct turn_udp_listener *ul)
{
    struct turn_sendq *q = ul->q;
    unsigned off = 0, nm = sendq_build(q, !ul->no_gso);

    while (off < nm) {
        int n = sendmmsg(ul->fd, q->msg + off, nm - off, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (q->msg[off].msg_hdr.msg_controllen) {
                /* The kernel refused the segmented send: EINVAL for a run
                 * larger than the path MTU, EIO/ENOPROTOOPT where UDP GSO is
                 * missing (then never again). Send the run one by one. */
                if (errno == EIO || errno == ENOPROTOOPT) {
                    CW_NOTICE(TURN_LOG, "UDP segmentation offload refused (%s): sending "
                              "datagrams one by one", strerror(errno));
                    ul->no_gso = 1;
                }
                send_run_singly(ul, &q->msg[off].msg_hdr);
                off++;
                continue;
            }
            /* EAGAIN (socket buffer full) or an ICMP error of an earlier
             * datagram (ECONNREFUSED...): drop this one and go on. */
            ul->srv->st.dropped += q->msg[off].msg_hdr.msg_iovlen;
            off++;
            continue;
        }
        off += (unsigned)n;
    }
    q->n = 0;
}

void turn__udp_flush_all(struct turn_server *s)
{
    while (s->dirty) {
        struct turn_udp_listener *ul = s->dirty;
        s->dirty = ul->next_dirty;
        ul->next_dirty = NULL;
        ul->dirty = 0;
        udp_flush(ul);
    }
}

uint8_t *turn__udp_slot(struct turn_udp_listener *ul, const struct sockaddr *dst)
{
    struct turn_sendq *q = ul->q;

    if (q->n == TURN_UDP_BATCH)
        udp_flush(ul);
    memcpy(&q->dst[q->n], dst, cw_addr_len(dst));
    return q->buf[q->n];
}

void turn__udp_commit(struct turn_udp_listener *ul, size_t len)
{
    struct turn_sendq *q = ul->q;

    q->iov[q->n].iov_base = q->buf[q->n];
    q->iov[q->n].iov_len = len;
    q->n++;
    if (!ul->dirty) {
        ul->dirty = 1;
        ul->next_dirty = ul->srv->dirty;
        ul->srv->dirty = ul;
    }
}

static void rx_prepare(struct turn_server *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        s->rx_iov[i].iov_base = s->rx_buf[i];
        s->rx_iov[i].iov_len = TURN_PKT_MAX;
        memset(&s->rx_msg[i].msg_hdr, 0, sizeof(s->rx_msg[i].msg_hdr));
        s->rx_msg[i].msg_hdr.msg_name = &s->rx_from[i];
        s->rx_msg[i].msg_hdr.msg_namelen = sizeof(s->rx_from[i]);
        s->rx_msg[i].msg_hdr.msg_iov = &s->rx_iov[i];
        s->rx_msg[i].msg_hdr.msg_iovlen = 1;
    }
}

static void listener_readable(uv_poll_t *h, int status, int events)
{
    struct turn_udp_listener *ul = h->data;
    struct turn_server *s = ul->srv;

    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < LISTENER_BATCHES_PER_EVENT; round++) {
        int n;

        rx_prepare(s, TURN_UDP_BATCH);
        n = recvmmsg(ul->fd, s->rx_msg, TURN_UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            struct turn_client cl = { .ul = ul, .proto = TURN_UDP };
            size_t len = s->rx_msg[i].msg_len;

            /* Truncated datagrams (larger than any STUN message we accept)
             * are dropped as malformed. */
            if (s->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
                s->st.malformed++;
                continue;
            }
            memcpy(&cl.addr, &s->rx_from[i], sizeof(cl.addr));
            turn__handle(s, &cl, &ul->addr.sa, s->rx_buf[i], len);
        }
        turn__relay_flush(s);
        turn__udp_flush_all(s);
        if (n < TURN_UDP_BATCH)
            break;
    }
}

/* reuseport: the listener is one of a group, one per worker, on the same
 * address (relay.c's bind_check has made sure nobody else holds it). */
static int udp_socket(const struct sockaddr *addr, int reuseport, char *err, size_t errlen)
{
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    char buf[CW_ADDR_STRLEN];

    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, addr, cw_addr_len(addr)) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot bind UDP %s: %s%s", cw_addr_fmt(addr, buf, sizeof(buf), 1),
                 strerror(e), cw_addr_bind_hint(addr, e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void listener_closed(uv_handle_t *h)
{
    struct turn_udp_listener *ul = h->data;
    struct turn_server *s = ul->srv;

    close(ul->fd);
    free(ul->q);
    free(ul);
    turn__handle_close_pending(s);
}

int turn__udp_listen(struct turn_server *s, const struct sockaddr *addr, char *err,
                     size_t errlen)
{
    struct turn_udp_listener *ul;
    int fd, size = 4 << 20;
    socklen_t alen = sizeof(union turn_sa);

    if (s->nudp == TURN_MAX_LISTEN) {
        snprintf(err, errlen, "too many UDP listeners");
        return -1;
    }
    fd = udp_socket(addr, s->sh->reuseport, err, errlen);
    if (fd < 0)
        return -1;
    /* Bursts from many clients land on one socket: give it room. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    ul = calloc(1, sizeof(*ul));
    if (ul)
        ul->q = calloc(1, sizeof(*ul->q));
    if (!ul || !ul->q) {
        free(ul);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ul->srv = s;
    ul->fd = fd;
    getsockname(fd, &ul->addr.sa, &alen);
    uv_poll_init(s->loop, &ul->poll, fd);
    ul->poll.data = ul;
    uv_poll_start(&ul->poll, UV_READABLE, listener_readable);
    s->udp[s->nudp++] = ul;
    return 0;
}

void turn__udp_close(struct turn_udp_listener *ul)
{
    uv_poll_stop(&ul->poll);
    ul->srv->pending_closes++;
    uv_close((uv_handle_t *)&ul->poll, listener_closed);
}

/* ---- relay sockets -------------------------------------------------------- */

/* Peer datagrams: one recvmmsg per readiness event usually drains the
 * socket (a short batch means it is empty), so a relay that gets one packet
 * costs one syscall, not a read plus an EAGAIN. Datagrams larger than a slot
 * (TURN_PKT_MAX) would not fit a client's path MTU anyway: dropped. */
static void relay_readable(uv_poll_t *h, int status, int events)
{
    struct turn_alloc *a = h->data;
    struct turn_server *s = a->srv;

    (void)events;
    if (status < 0 || a->closing)
        return;
    for (int round = 0; round < RELAY_BATCHES_PER_EVENT && !a->closing; round++) {
        int n;

        rx_prepare(s, TURN_UDP_BATCH);
        n = recvmmsg(a->fd, s->rx_msg, TURN_UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;         /* EAGAIN, or an ICMP error reported on the socket */
        for (int i = 0; i < n && !a->closing; i++) {
            if (s->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
                s->st.dropped++;
                continue;
            }
            turn__alloc_from_peer(a, &s->rx_from[i].sa, s->rx_buf[i], s->rx_msg[i].msg_len);
        }
        if (n < TURN_UDP_BATCH)
            break;
    }
    /* What this socket's batch produced leaves now, as one sendmmsg with its
     * GSO runs: waiting for the other ready sockets of this loop iteration
     * saved no measurable CPU and cost the clients latency. */
    turn__udp_flush_all(s);
}

static void relay_closed(uv_handle_t *h)
{
    struct turn_alloc *a = h->data;
    struct turn_server *s = a->srv;

    free(a);
    turn__handle_close_pending(s);
}

int turn__relay_open(struct turn_alloc *a, int family, uint16_t port, int dont_fragment)
{
    struct turn_server *s = a->srv;
    union turn_sa addr;
    char err[256];
    int fd;

    memcpy(&addr, family == AF_INET6 ? &s->o.relay6 : &s->o.relay4, sizeof(addr));
    cw_addr_set_port(&addr.sa, port);
    fd = udp_socket(&addr.sa, 0, err, sizeof(err));
    if (fd < 0) {
        /* A port held by another program is skipped quietly; anything else
         * is a fault the operator must see (the address went away?). */
        if (errno == EADDRINUSE)
            return -1;
        CW_ERROR(TURN_LOG, "relay socket: %s (is relay-address still an address of this host?)",
                 err);
        return -2;
    }
    if (dont_fragment) {
        /* DONT-FRAGMENT (RFC 8656 7.2, 11.3): set DF on relayed datagrams. */
        int v = IP_PMTUDISC_DO;
        if (family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
        else
            setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
    }
    a->fd = fd;
    a->relay = addr;
    uv_poll_init(s->loop, &a->poll, fd);
    a->poll.data = a;
    uv_poll_start(&a->poll, UV_READABLE, relay_readable);
    return 0;
}

void turn__relay_close(struct turn_alloc *a)
{
    struct turn_server *s = a->srv;
    struct turn_ports *ports = a->relay.sa.sa_family == AF_INET6 ? &s->sh->ports6
                                                                 : &s->sh->ports4;

    if (a->fd < 0) {
        free(a);
        return;
    }
    turn__lock(s->sh);
    turn__ports_release(ports, cw_addr_port(&a->relay.sa));
    turn__unlock(s->sh);
    uv_poll_stop(&a->poll);
    close(a->fd);          /* the port is free now, not after the close cb */
    a->fd = -1;
    s->pending_closes++;
    uv_close((uv_handle_t *)&a->poll, relay_closed);
}

/* Datagrams to peers wait in one queue per server until the end of the
 * batch they arrived in; then each run of same-size datagrams from one
 * allocation to one peer leaves as one UDP GSO send (see sendq_build). */
static void relay_send_run(struct turn_server *s, struct turn_peerq *pq, unsigned i,
                           uint8_t *done)
{
    struct turn_peerq_ent *e = &pq->e[i];
    struct iovec iov[TURN_UDP_BATCH];
    uint8_t ctl[CMSG_SPACE(sizeof(uint16_t))] __attribute__((aligned(8)));
    struct msghdr h;
    size_t seg = e->len;
    unsigned k = 0;

    iov[k].iov_base = e->buf;
    iov[k++].iov_len = e->len;
    done[i] = 1;
    for (unsigned j = i + 1; j < pq->n && !s->no_gso; j++) {
        struct turn_peerq_ent *f = &pq->e[j];
        if (f->a != e->a || !cw_addr_equal(&f->peer.sa, &e->peer.sa, 1))
            continue;
        if (f->len > seg)
            break;                      /* would reorder: it waits for its own run */
        iov[k].iov_base = f->buf;
        iov[k++].iov_len = f->len;
        done[j] = 1;
        if (f->len < seg)
            break;                      /* a shorter one ends the run */
    }
    memset(&h, 0, sizeof(h));
    h.msg_name = &e->peer;
    h.msg_namelen = cw_addr_len(&e->peer.sa);
    h.msg_iov = iov;
    h.msg_iovlen = k;
    if (k > 1)
        gso_cmsg(&h, ctl, (uint16_t)seg);
    if (sendmsg(e->a->fd, &h, MSG_DONTWAIT) >= 0)
        return;
    if (k > 1) {
        /* EINVAL: the run is larger than the path MTU; EIO/ENOPROTOOPT: no
         * UDP GSO here at all. Either way, one by one. */
        if (errno == EIO || errno == ENOPROTOOPT)
            s->no_gso = 1;
        for (unsigned m = 0; m < k; m++)
            if (sendto(e->a->fd, iov[m].iov_base, iov[m].iov_len, MSG_DONTWAIT, &e->peer.sa,
                       h.msg_namelen) < 0)
                s->st.dropped++;
        return;
    }
    s->st.dropped++;
}

void turn__relay_flush(struct turn_server *s)
{
    struct turn_peerq *pq = s->peerq;
    uint8_t done[TURN_UDP_BATCH] = { 0 };

    for (unsigned i = 0; i < pq->n; i++) {
        if (done[i])
            continue;
        if (pq->e[i].a->closing) {      /* deleted later in the same batch */
            s->st.dropped++;
            continue;
        }
        relay_send_run(s, pq, i, done);
    }
    pq->n = 0;
}

int turn__relay_send(struct turn_alloc *a, const struct sockaddr *peer, const uint8_t *p,
                     size_t n)
{
    struct turn_server *s = a->srv;
    struct turn_peerq *pq = s->peerq;
    struct turn_peerq_ent *e;
    ssize_t r;

    if (n > TURN_PKT_MAX) {             /* large frames from stream clients */
        do
            r = sendto(a->fd, p, n, MSG_DONTWAIT, peer, cw_addr_len(peer));
        while (r < 0 && errno == EINTR);
        return r < 0 ? -1 : 0;
    }
    if (pq->n == TURN_UDP_BATCH)
        turn__relay_flush(s);
    e = &pq->e[pq->n++];
    e->a = a;
    memcpy(&e->peer, peer, cw_addr_len(peer));
    e->len = (uint16_t)n;
    memcpy(e->buf, p, n);
    return 0;
}

int turn__relay_probe(const struct sockaddr *relay, char *err, size_t errlen)
{
    union turn_sa a;
    char msg[256];
    int fd;

    memcpy(&a, relay, cw_addr_len(relay));
    cw_addr_set_port(&a.sa, 0);
    fd = udp_socket(&a.sa, 0, msg, sizeof(msg));
    if (fd < 0) {
        snprintf(err, errlen, "relay-address: %s (relays must be on an address of this host: "
                 "the external NIC's; a static NAT address goes in public-address)", msg);
        return -1;
    }
    close(fd);
    return 0;
}
