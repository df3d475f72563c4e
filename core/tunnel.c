/* tunnel.c - one SSH tunnel from the core to an edge: libssh2 1.10 driven
 * by the libuv loop.
 *
 * The connection walks through phases (TCP connect, SSH handshake and host
 * key check, public key authentication, a session channel, the remote
 * forward) and then pumps forwarded channels (splice.c). libssh2 runs
 * non-blocking on our own socket watched by a uv_poll; after every event
 * each operation is driven until EAGAIN, because libssh2 reads packets for
 * every channel into its own queues.
 *
 * Two libssh2 1.10 rules shape the pump: only one outgoing packet may be
 * half sent, and the call that left it so must be repeated before any
 * other call that could send (t->pend); and keepalive and EOF packets are
 * built on the stack, so they are only sent when the socket has room to
 * take them whole.
 *
 * Why a session channel: sshd sets TCP_NODELAY on its socket only when a
 * session runs a command; without it small forwarded requests wait for
 * Nagle and delayed ACKs (tens of ms). The edge's forced command exits at
 * once, and the socket option stays.
 *
 * Output: packets of forwarded requests and answers are small and many.
 * send_cb gathers them and the loop sends what a turn produced in one
 * send() before it polls (flush), so sshd reads a batch of packets per
 * wake-up instead of one; bulk packets go straight out after what was
 * gathered. The edge's sshd costs more per wake-up than per packet.
 *
 * Liveness: a keepalive that wants a reply every keepalive-interval (libssh2
 * counts whole seconds, so at least 2 s apart); when
 * nothing at all was received for keepalive-interval x keepalive-count the
 * edge is declared dead (a stopped sshd keeps the TCP connection open). On
 * any failure the connection is torn down, forwarded connections end, and
 * the next attempt comes after an exponential backoff with jitter. */
#include "core/tunnel_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/sshkey.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_MS 10000
#define TICK_MS 250

static void on_poll(uv_poll_t *h, int status, int events);
static void set_state(struct core_tunnel *t, enum tun_state st, const char *reason);
static void step(struct core_tunnel *t);

uint64_t tunnel__now_ms(struct core_tunnel *t)
{
    return uv_now(t->loop);
}

static const char *state_name(enum tun_state s)
{
    switch (s) {
    case TUN_ACTIVE:
        return "Active";
    case TUN_CONNECTING:
        return "Connecting";
    case TUN_FAILED:
        return "Failed";
    default:
        return "Stopped";
    }
}

/* The connecting step, for status and the timeout message. */
static void step_to(struct core_tunnel *t, const char *what)
{
    t->step = what;
    set_state(t, TUN_CONNECTING, what);
}

/* Log lines: a failure once per new reason (a tunnel that keeps failing
 * the same way says so once, not every backoff step), recovery always. */
static void set_state(struct core_tunnel *t, enum tun_state st, const char *reason)
{
    /* Retrying after a failure: still Failed (with its reason and since)
     * until the tunnel is up again. */
    if (st == TUN_CONNECTING && t->state == TUN_FAILED) {
        CW_DEBUG("tunnel", "tunnel to %s: retrying: %s", t->target, reason);
        return;
    }
    if (st != t->state)
        t->since = time(NULL);
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
    if (st == TUN_ACTIVE && t->state != TUN_ACTIVE) {
        CW_NOTICE("tunnel", "tunnel to %s (%s) is active: edge 127.0.0.1:%u -> %s port %u",
                  t->target, t->cfg->guest_uri, t->cfg->edge_port, t->cfg->guest_uri,
                  t->cfg->webbridge_port);
        t->last_fail[0] = '\0';
    } else if (st == TUN_FAILED) {
        if (strcmp(reason, t->last_fail) != 0)
            CW_ERROR("tunnel", "tunnel to %s (%s) failed: %s", t->target, t->cfg->guest_uri,
                     reason);
        else
            CW_DEBUG("tunnel", "tunnel to %s: still failing: %s", t->target, reason);
        snprintf(t->last_fail, sizeof(t->last_fail), "%s", reason);
    } else if (st == TUN_CONNECTING) {
        CW_DEBUG("tunnel", "tunnel to %s (%s): %s", t->target, t->cfg->guest_uri, reason);
    }
    t->state = st;
}

static const char *ssh_error(struct core_tunnel *t)
{
    char *msg = NULL;

    if (!t->ssh)
        return "no session";
    libssh2_session_last_error(t->ssh, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown libssh2 error";
}

/* The socket is closed only once its poll handle is (libuv's rule). */
struct tun_poll {
    uv_poll_t h;
    int fd;
    struct core_tunnel *t;
};

/* Why the session died, in words for status. The socket tells best: the
 * error libssh2 last recorded may be about an earlier, harmless packet. */
static const char *ended_why(struct core_tunnel *t)
{
    char c;
    ssize_t n = recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n == 0)
        return "the edge closed the connection";
    if (n < 0 && errno != EAGAIN)
        return strerror(errno);
    switch (libssh2_session_last_errno(t->ssh)) {
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
        return "the edge closed the connection";
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_SEND:
        return "the connection broke";
    default:
        return ssh_error(t);
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct tun_poll *p = (struct tun_poll *)h;
    struct core_tunnel *t = p->t;

    close(p->fd);
    free(p);
    tunnel__handle_closed(t);
}

/* Ends the SSH connection (if any) and every forwarded connection. */
static void teardown(struct core_tunnel *t)
{
    struct splice *s, *next;

    for (s = t->splices; s; s = next) {
        next = s->next;
        splice__abort(s);
    }
    t->listener = NULL;     /* freed with the session */
    t->session_ch = NULL;
    if (t->fd >= 0)
        shutdown(t->fd, SHUT_RDWR);
    if (t->ssh) {
        /* With the socket shut down, the goodbye cannot block for long. */
        for (int i = 0; i < 8 && libssh2_session_free(t->ssh) == LIBSSH2_ERROR_EAGAIN; i++)
            ;
        t->ssh = NULL;
    }
    if (t->poll) {
        uv_close((uv_handle_t *)t->poll, on_poll_closed);
        t->poll = NULL;
    } else if (t->fd >= 0) {
        close(t->fd);
    }
    t->fd = -1;
    t->poll_events = 0;
    t->pend = PEND_NONE;
    t->pend_splice = NULL;
    t->dead = 0;
    t->tx_half = 0;
    t->tx_off = t->tx_len = 0;
    t->tx_stuck = 0;
    uv_prepare_stop(&t->flush);
    t->rx_dry = 0;
    t->phase = PH_IDLE;
}

static void on_timer(uv_timer_t *h);

/* Tears the connection down and schedules the next attempt. */
static void fail(struct core_tunnel *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct core_tunnel *t, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    uint64_t delay;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    teardown(t);
    if (t->closing)
        return;
    /* 1 s, 2 s, 4 s ... 30 s, each between 75% and 100% of the step, so
     * that cores that lost the same edge do not come back in lockstep. */
    delay = BACKOFF_MIN_MS << (t->attempt < 5 ? t->attempt : 5);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    delay -= (uint64_t)(rand() % 25) * delay / 100;
    t->attempt++;
    set_state(t, TUN_FAILED, why);
    CW_DEBUG("tunnel", "tunnel to %s: next attempt in %.1f s", t->target, (double)delay / 1000);
    uv_timer_start(&t->timer, on_timer, delay, 0);
}

/* Libssh2 asks for the socket's direction; the poll follows it. */
static void update_poll(struct core_tunnel *t)
{
    int ev = UV_READABLE;

    if (!t->poll)
        return;
    if (t->phase == PH_CONNECT || t->tx_half || t->tx_stuck ||
        (t->ssh && (libssh2_session_block_directions(t->ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND)))
        ev |= UV_WRITABLE;
    if (ev != t->poll_events) {
        uv_poll_start(t->poll, ev, on_poll);
        t->poll_events = ev;
    }
}

int tunnel__blocked(struct core_tunnel *t, struct splice *s, enum pend_op op)
{
    if (!t->tx_half)
        return 0;
    t->pend = op;
    t->pend_splice = s;
    return 1;
}

/* A small packet is gathered whole while there is room for it. */
int tunnel__room(struct core_tunnel *t)
{
    return TUN_TX_CAP - t->tx_len >= TUN_TX_SMALL;
}

/* Sends what was gathered, as far as the socket takes it. 0, or a negative
 * errno when the socket failed. */
static int tx_flush(struct core_tunnel *t)
{
    ssize_t n;

    while (t->tx_off < t->tx_len) {
        n = send(t->fd, t->tx + t->tx_off, t->tx_len - t->tx_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -errno;
            t->tx_stuck = 1;
            return 0;
        }
        t->tx_off += (size_t)n;
    }
    t->tx_off = t->tx_len = 0;
    t->tx_stuck = 0;
    uv_prepare_stop(&t->flush);
    return 0;
}

/* tx_flush from the loop (not from inside libssh2): a broken socket ends
 * the connection. 0, or -1 after fail(). */
static int tx_flush_or_fail(struct core_tunnel *t)
{
    int rc = tx_flush(t);

    if (rc < 0)
        fail(t, "the connection to the edge at %s broke: %s", t->target, strerror(-rc));
    return rc < 0 ? -1 : 0;
}

static void on_flush(uv_prepare_t *h)
{
    struct core_tunnel *t = h->data;

    if (tx_flush_or_fail(t) < 0)
        return;
    if (t->tx_stuck) {
        uv_prepare_stop(&t->flush);     /* the poll says when to go on */
        update_poll(t);
    }
}

static void connect_start(struct core_tunnel *t)
{
    const struct sockaddr *sa = (const struct sockaddr *)&t->cfg->edge;
    struct tun_poll *p;
    int one = 1;

    t->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0) {
        fail(t, "cannot create a socket: %s", strerror(errno));
        return;
    }
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(t->fd, sa, cw_addr_len(sa)) < 0 && errno != EINPROGRESS) {
        fail(t, "cannot connect to the edge's sshd at %s: %s", t->target, strerror(errno));
        return;
    }
    p = malloc(sizeof(*p));
    if (!p || uv_poll_init_socket(t->loop, &p->h, t->fd) < 0) {
        free(p);
        fail(t, "cannot watch the socket");
        return;
    }
    p->fd = t->fd;
    p->t = t;
    p->h.data = t;
    t->poll = &p->h;
    t->pending_handles++;
    t->phase = PH_CONNECT;
    t->phase_start_ms = t->last_rx_ms = tunnel__now_ms(t);
    t->last_tick_ms = 0;
    step_to(t, "connecting to the edge's sshd");
    update_poll(t);
    uv_timer_start(&t->timer, on_timer, TICK_MS, TICK_MS);
}

/* The edge's host key must be the pinned one: "SHA256:" and unpadded
 * base64 of the key's SHA-256, as ssh-keygen -l prints it. */
static int host_key_ok(struct core_tunnel *t)
{
    const unsigned char *h = (const unsigned char *)libssh2_hostkey_hash(
        t->ssh, LIBSSH2_HOSTKEY_HASH_SHA256);
    char fp[CW_SSHKEY_FP_LEN];

    if (!h) {
        fail(t, "the edge at %s sent no host key hash", t->target);
        return 0;
    }
    cw_sshkey_fp_format(h, fp);
    if (strcmp(fp, t->cfg->host_key) != 0) {
        fail(t, "host key mismatch: the edge at %s presented %s but core.conf pins %s; not "
             "connecting (if that edge was reinstalled, compare with `causeway tunnel status` "
             "on it and update host-key)", t->target, fp, t->cfg->host_key);
        return 0;
    }
    return 1;
}

/* libssh2 reads the socket inside many calls (a channel write drains
 * incoming packets first), often before the poll sees it readable: the
 * edge's liveness is what arrives here. Once the socket has said EAGAIN,
 * it is not asked again until the poll reports it readable: a pump round
 * would otherwise make several empty recv calls per packet sent (about
 * 3.5 per packet in `make bench-tunnel`'s download direction). */
static ssize_t recv_cb(libssh2_socket_t fd, void *buf, size_t len, int flags, void **abstract)
{
    struct core_tunnel *t = *abstract;
    ssize_t n;

    if (t->rx_dry)
        return -EAGAIN;
    n = recv(fd, buf, len, flags);
    if (n > 0) {
        t->last_rx_ms = tunnel__now_ms(t);
        t->rx_reads++;
    } else if (n < 0) {
        n = -errno;     /* libssh2 wants the negated errno */
        t->rx_dry = n == -EAGAIN;
    }
    return n;
}

/* libssh2 sends a packet, or the rest of a half-sent one, in one call: a
 * short or refused send leaves a packet half sent, a whole one leaves none.
 * (libssh2's own "blocked outbound" flag misses a partial resend.) */
static ssize_t send_cb(libssh2_socket_t fd, const void *buf, size_t len, int flags,
                       void **abstract)
{
    struct core_tunnel *t = *abstract;
    ssize_t n;
    int rc;

    if (len <= TUN_TX_SMALL && t->tx_len + len <= TUN_TX_CAP) {
        memcpy(t->tx + t->tx_len, buf, len);
        if (!t->tx_len)
            uv_prepare_start(&t->flush, on_flush);
        t->tx_len += len;
        t->tx_half = 0;
        return (ssize_t)len;
    }
    /* What was gathered goes first; until it has, this packet waits. */
    if (t->tx_len) {
        rc = tx_flush(t);
        if (rc < 0)
            return rc;
        if (t->tx_len) {
            t->tx_half = 1;
            return -EAGAIN;
        }
    }
    n = send(fd, buf, len, flags);
    if (n < 0) {
        t->tx_half = errno == EAGAIN;
        return -errno;
    }
    t->tx_half = (size_t)n < len;
    return n;
}

static int start_ssh(struct core_tunnel *t)
{
    t->ssh = libssh2_session_init_ex(NULL, NULL, NULL, t);
    if (!t->ssh) {
        fail(t, "out of memory for an SSH session");
        return -1;
    }
    libssh2_session_set_blocking(t->ssh, 0);
    libssh2_session_callback_set(t->ssh, LIBSSH2_CALLBACK_RECV, (void *)recv_cb);
    libssh2_session_callback_set(t->ssh, LIBSSH2_CALLBACK_SEND, (void *)send_cb);
    t->tx_half = t->rx_dry = 0;
    /* A global request (keepalive@libssh2.org) that wants a reply: sshd
     * answers each one with a failure, which is all we need. */
    libssh2_keepalive_config(t->ssh, 1, t->cfg->keepalive_interval);
    t->phase = PH_HANDSHAKE;
    return 0;
}

/* Runs the connection's phases as far as they go without blocking. */
static void step(struct core_tunnel *t)
{
    int rc, bound = 0;

    switch (t->phase) {
    case PH_HANDSHAKE:
        step_to(t, "SSH handshake");
        rc = libssh2_session_handshake(t->ssh, t->fd);
        if (rc == LIBSSH2_ERROR_EAGAIN)
            break;
        if (rc) {
            fail(t, "SSH handshake with the edge at %s failed: %s", t->target, ssh_error(t));
            return;
        }
        if (!host_key_ok(t))
            return;
        t->phase = PH_AUTH;
        /* fall through */
    case PH_AUTH:
        step_to(t, "authenticating with the core's key");
        rc = libssh2_userauth_publickey_fromfile_ex(t->ssh, t->cfg->user,
                                                    (unsigned)strlen(t->cfg->user),
                                                    t->pubkey_file, t->key_file, NULL);
        if (rc == LIBSSH2_ERROR_EAGAIN)
            break;
        if (rc == LIBSSH2_ERROR_FILE) {
            fail(t, "cannot use the tunnel key %s or its .pub: %s (`causeway -c core.conf "
                 "tunnel pair` makes them when both are missing)", t->key_file, ssh_error(t));
            return;
        }
        if (rc) {
            fail(t, "the edge at %s refused this core's key for user \"%s\" (not paired? run "
                 "`causeway -c core.conf tunnel pair` here and the `causeway tunnel trust` "
                 "command it prints on the edge)", t->target, t->cfg->user);
            return;
        }
        t->phase = PH_SESSION;
        /* fall through */
    case PH_SESSION:
        t->step = "opening a session channel";
        t->session_ch = libssh2_channel_open_session(t->ssh);
        if (!t->session_ch) {
            if (libssh2_session_last_errno(t->ssh) == LIBSSH2_ERROR_EAGAIN)
                break;
            CW_WARN("tunnel", "tunnel to %s: the edge opened no session channel (%s): small "
                    "requests may wait for Nagle's algorithm", t->target, ssh_error(t));
            t->phase = PH_LISTEN;
            goto listen;
        }
        t->phase = PH_EXEC;
        /* fall through */
    case PH_EXEC:
        rc = libssh2_channel_exec(t->session_ch, "causeway-core");
        if (rc == LIBSSH2_ERROR_EAGAIN)
            break;
        if (rc)
            CW_WARN("tunnel", "tunnel to %s: the edge ran no session command (%s): small "
                    "requests may wait for Nagle's algorithm", t->target, ssh_error(t));
        t->phase = PH_LISTEN;
        /* fall through */
    case PH_LISTEN:
    listen:
        step_to(t, "asking the edge to listen");
        /* "127.0.0.1", never NULL: libssh2 would send 0.0.0.0, which the
         * edge's permitlisten="127.0.0.1:P" does not match. */
        /* libssh2 queues every channel the edge opens until we accept it,
         * and refuses those beyond its queue. It reads a whole burst before
         * we accept the first, so the queue takes what max-connections
         * leaves of OpenSSH's 16,384 channels per connection: beyond our
         * limit connections wait on the edge instead of being refused. */
        t->listener = libssh2_channel_forward_listen_ex(t->ssh, "127.0.0.1", t->cfg->edge_port,
                                                        &bound,
                                                        16383 - (int)t->cfg->max_connections);
        if (!t->listener) {
            if (libssh2_session_last_errno(t->ssh) == LIBSSH2_ERROR_EAGAIN)
                break;
            fail(t, "the edge at %s refused to listen on 127.0.0.1:%u for this core (is the "
                 "port among the edge's permit-listen ports? an earlier connection may hold it "
                 "until the edge notices that it is gone)", t->target, t->cfg->edge_port);
            return;
        }
        t->phase = PH_READY;
        t->attempt = 0;
        set_state(t, TUN_ACTIVE, "");
        /* fall through */
    case PH_READY:
        tunnel__pump(t);
        return;
    default:
        break;
    }
    update_poll(t);
}

/* Repeats the call that left a packet half sent. 1 while still blocked. */
static int resume_pending(struct core_tunnel *t)
{
    LIBSSH2_CHANNEL *ch;

    if (t->pend == PEND_ACCEPT) {
        ch = libssh2_channel_forward_accept(t->listener);
        if (!ch && libssh2_session_last_errno(t->ssh) == LIBSSH2_ERROR_EAGAIN &&
            tunnel__blocked(t, NULL, PEND_ACCEPT))
            return 1;
        t->pend = PEND_NONE;
        if (ch)
            splice__start(t, ch);
        return 0;
    }
    if (splice__resume(t->pend_splice, t->pend))
        return 1;
    t->pend = PEND_NONE;
    t->pend_splice = NULL;
    return 0;
}

void tunnel__pump(struct core_tunnel *t)
{
    struct splice *s, *next;
    LIBSSH2_CHANNEL *ch;
    int e;

    if (t->phase != PH_READY || t->pumping)
        return;
    t->pumping = 1;
    for (int round = 0;; round++) {
        /* Progress: bytes moved, or packets read from the socket (libssh2
         * reads for every channel: a window adjust or data for a channel
         * already serviced this round arrives unannounced). */
        uint64_t before = t->moved + t->rx_reads;

        if (round == 64) {
            tunnel__kick(t);    /* let the loop breathe; go on next turn */
            break;
        }
        if (t->pend != PEND_NONE && resume_pending(t))
            break;
        if (t->nsplices + t->nstreams >= t->cfg->max_connections && !t->at_limit) {
            CW_WARN("tunnel", "tunnel to %s (%s): %u forwarded connections, the max-connections "
                    "limit: new ones wait on the edge until some end", t->target,
                    t->cfg->guest_uri, t->nsplices + t->nstreams);
            t->at_limit = 1;
        } else if (t->nsplices + t->nstreams < t->cfg->max_connections) {
            t->at_limit = 0;
        }
        while (t->nsplices + t->nstreams < t->cfg->max_connections) {
            ch = libssh2_channel_forward_accept(t->listener);
            if (ch) {
                splice__start(t, ch);
                t->moved++;
                continue;
            }
            e = libssh2_session_last_errno(t->ssh);
            if (e != LIBSSH2_ERROR_EAGAIN) {
                t->pumping = 0;
                fail(t, "the SSH connection to the edge at %s ended: %s", t->target,
                     ended_why(t));
                return;
            }
            if (tunnel__blocked(t, NULL, PEND_ACCEPT))
                goto out;
            break;
        }
        for (s = t->splices; s; s = next) {
            next = s->next;
            if (splice__service(s))
                goto out;
        }
        if (t->dead) {
            t->pumping = 0;
            fail(t, "the SSH connection to the edge at %s ended: %s", t->target, ended_why(t));
            return;
        }
        if (t->moved + t->rx_reads == before)
            break;
    }
out:
    t->pumping = 0;
    update_poll(t);
}

static void on_kick(uv_idle_t *h)
{
    struct core_tunnel *t = h->data;

    uv_idle_stop(h);
    tunnel__pump(t);
}

void tunnel__kick(struct core_tunnel *t)
{
    if (t->phase == PH_READY && !t->closing)
        uv_idle_start(&t->kick, on_kick);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct core_tunnel *t = h->data;
    int err = 0;
    socklen_t l = sizeof(err);

    if (status < 0 || (events & UV_READABLE))
        t->rx_dry = 0;
    if (t->tx_stuck && (events & UV_WRITABLE) && tx_flush_or_fail(t) < 0)
        return;
    if (t->phase == PH_CONNECT) {
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
            err = errno;
        if (status < 0 && !err)
            err = ECONNREFUSED;
        if (err) {
            fail(t, "cannot connect to the edge's sshd at %s: %s", t->target, strerror(err));
            return;
        }
        if (start_ssh(t) < 0)
            return;
    }
    step(t);
}

static void on_timer(uv_timer_t *h)
{
    struct core_tunnel *t = h->data;
    uint64_t now = tunnel__now_ms(t);
    uint64_t dead_ms = (uint64_t)t->cfg->keepalive_interval * t->cfg->keepalive_count * 1000;
    int next;

    if (t->phase == PH_IDLE) {
        connect_start(t);
        return;
    }
    if (t->phase != PH_READY) {
        if (now - t->phase_start_ms > CONNECT_TIMEOUT_MS)
            fail(t, "timed out after %d s connecting to the edge at %s (step: %s)",
                 CONNECT_TIMEOUT_MS / 1000, t->target, t->step ? t->step : "connect");
        return;
    }
    /* A tick that comes seconds late means this process did not run (a
     * stall, a paused VM): the edge's silence meanwhile is ours, not its
     * (what it sent is still unread: the loop reads after its timers, and
     * no keepalive went out to answer), so that time does not count. */
    if (t->last_tick_ms && now - t->last_tick_ms > 4 * TICK_MS + 1000) {
        CW_INFO("tunnel", "tunnel to %s: this process did not run for %llu ms; that time does "
                "not count as the edge's silence", t->target,
                (unsigned long long)(now - t->last_tick_ms));
        t->last_rx_ms += now - t->last_tick_ms;
        t->last_tick_ms = now;
        return;
    }
    t->last_tick_ms = now;
    if (now - t->last_rx_ms > dead_ms) {
        fail(t, "the edge at %s stopped answering: nothing received for %llu s, keepalives "
             "unanswered", t->target, (unsigned long long)(dead_ms / 1000));
        return;
    }
    if (t->pend == PEND_NONE && !t->tx_half && tunnel__room(t)) {
        int rc = libssh2_keepalive_send(t->ssh, &next);
        if (rc && rc != LIBSSH2_ERROR_EAGAIN) {
            fail(t, "cannot send a keepalive to the edge at %s: %s", t->target, ssh_error(t));
            return;
        }
        update_poll(t);
    }
}

/* ---- life cycle and status ------------------------------------------------ */

void tunnel__maybe_free(struct core_tunnel *t)
{
    if (!t->closing || t->pending_handles || t->splices || t->nstreams)
        return;
    free(t->scratch);
    free(t->tx);
    free(t->tls_in);
    SSL_SESSION_free(t->web_session);
    SSL_CTX_free(t->web_tls);
    if (t->close_cb)
        t->close_cb(t->close_arg);
    free(t);
}

void tunnel__handle_closed(struct core_tunnel *t)
{
    t->pending_handles--;
    tunnel__maybe_free(t);
}

static void on_handle_closed(uv_handle_t *h)
{
    tunnel__handle_closed(h->data);
}

struct core_tunnel *core_tunnel_create(uv_loop_t *loop, const struct core_tunnel_config *cfg,
                                       const char *key_file, struct cw_dns *dns,
                                       const struct sockaddr_storage *xmpp_link, char *err,
                                       size_t errlen)
{
    struct core_tunnel *t = calloc(1, sizeof(*t));

    if (!t || !(t->scratch = malloc(SPLICE_SCRATCH)) || !(t->tx = malloc(TUN_TX_CAP))) {
        if (t)
            free(t->scratch);
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg->webbridge_tls && (!(t->web_tls = webtls__ctx_create(cfg, err, errlen)) ||
                               !(t->tls_in = malloc(SPLICE_UP_BUF)))) {
        if (t->web_tls)
            snprintf(err, errlen, "out of memory");
        SSL_CTX_free(t->web_tls);
        free(t->scratch);
        free(t->tx);
        free(t);
        return NULL;
    }
    t->loop = loop;
    t->cfg = cfg;
    t->key_file = key_file;
    t->dns = dns;
    t->fd = -1;
    if (xmpp_link && xmpp_link->ss_family) {
        t->xmpp_link = *xmpp_link;
        cw_addr_fmt((const struct sockaddr *)xmpp_link, t->xmpp_link_text,
                    sizeof(t->xmpp_link_text), 1);
    }
    snprintf(t->pubkey_file, sizeof(t->pubkey_file), "%s.pub", key_file);
    cw_addr_fmt((const struct sockaddr *)&cfg->edge, t->target, sizeof(t->target), 1);
    uv_timer_init(loop, &t->timer);
    uv_idle_init(loop, &t->kick);
    uv_prepare_init(loop, &t->flush);
    t->timer.data = t->kick.data = t->flush.data = t;
    t->pending_handles = 3;
    t->state = TUN_CONNECTING;
    t->since = time(NULL);
    snprintf(t->reason, sizeof(t->reason), "starting");
    guest__start(t);
    if (!cfg->host_key[0]) {
        /* Never connect to an edge we cannot recognise. */
        set_state(t, TUN_FAILED, "no host-key in this [tunnel]: pair first (`causeway -c "
                  "core.conf tunnel pair` here, its `causeway tunnel trust` command on the edge, "
                  "then copy the host-key that it prints into core.conf and restart)");
        return t;
    }
    connect_start(t);
    return t;
}

void core_tunnel_set_wbatch(struct core_tunnel *t, struct cw_wbatch *b)
{
    t->wbatch = b;
}

void core_tunnel_close(struct core_tunnel *t, void (*cb)(void *), void *arg)
{
    t->closing = 1;
    t->close_cb = cb;
    t->close_arg = arg;
    teardown(t);
    t->state = TUN_STOPPED;
    guest__stop(t);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->kick, on_handle_closed);
    uv_close((uv_handle_t *)&t->flush, on_handle_closed);
}

void core_tunnel_header(struct cw_sb *out)
{
    cw_sb_printf(out, "%-24s %-28s %-12s %s\n", "Target", "Domain", "Status", "Since");
}

void core_tunnel_row(struct core_tunnel *t, struct cw_sb *out)
{
    char since[32];
    struct tm tm;

    gmtime_r(&t->since, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cw_sb_printf(out, "%-24s %-28s %-12s %s\n", t->target, t->cfg->guest_uri,
                 state_name(t->state), since);
    if (t->state == TUN_FAILED)
        cw_sb_printf(out, "  Failed: %s\n", t->reason);
    else if (t->state == TUN_CONNECTING)
        cw_sb_printf(out, "  Connecting: %s\n", t->reason);
}

void core_tunnel_detail(struct core_tunnel *t, struct cw_sb *out)
{
    cw_sb_printf(out, "Tunnel to %s as user \"%s\", host key %s\n", t->target, t->cfg->user,
                 t->cfg->host_key[0] ? t->cfg->host_key : "(none pinned)");
    cw_sb_printf(out, "  Forward: edge 127.0.0.1:%u -> %s port %u%s; connections: %u open, "
                 "%llu accepted, %llu could not reach the target; bytes from the edge %llu, to "
                 "the edge %llu\n",
                 t->cfg->edge_port, t->cfg->guest_uri, t->cfg->webbridge_port,
                 t->web_tls ? " (HTTPS)" : " (plain HTTP)", t->nsplices,
                 (unsigned long long)t->accepted, (unsigned long long)t->target_failures,
                 (unsigned long long)t->bytes_from_edge, (unsigned long long)t->bytes_to_edge);
    if (t->web_tls) {
        char until[32];

        cw_sb_printf(out, "  Webbridge TLS: its certificate must name %s and chain to %s; "
                     "%llu handshakes, %llu of them resumed\n", t->cfg->guest_uri,
                     t->cfg->webbridge_ca[0] ? t->cfg->webbridge_ca : "the system's CA store",
                     (unsigned long long)t->web_handshakes, (unsigned long long)t->web_resumed);
        if (cw_time_text(t->web_not_after, until, sizeof(until)))
            cw_sb_printf(out, "  Webbridge certificate: valid until %s (as of the last full "
                         "handshake)\n", until);
    }
    if (t->links)
        cw_sb_printf(out, "  Links from the edge's web proxy: %llu opened; %u connections open on "
                     "them, %llu in all\n", (unsigned long long)t->links, t->nstreams,
                     (unsigned long long)t->streams_opened);
    if (t->xmpp_link.ss_family)
        cw_sb_printf(out, "  Federation streams from the edge -> XMPP link-listen %s: %llu opened, "
                     "%llu could not connect\n", t->xmpp_link_text,
                     (unsigned long long)t->xmpp_streams, (unsigned long long)t->xmpp_failures);
    else if (t->xmpp_failures)
        cw_sb_printf(out, "  Federation streams from the edge: %llu refused (no [xmpp] "
                     "link-listen on this node)\n", (unsigned long long)t->xmpp_failures);
    guest__status(t, out);
}

void core_tunnel_report_row(struct core_tunnel *t, struct cw_report *r)
{
    cw_report_row(r);
    cw_report_cell_str(r, t->target);
    cw_report_cell_str(r, t->cfg->guest_uri);
    cw_report_cell_str(r, state_name(t->state));
    cw_report_cell_time(r, t->since);
    cw_report_cell_str(r, t->state == TUN_ACTIVE ? "" : t->reason);
    cw_report_cell_int(r, t->nsplices + t->nstreams);
    cw_report_cell_int(r, (int64_t)(t->accepted + t->streams_opened));
    if (t->state != TUN_ACTIVE)
        cw_report_state(r, CW_REPORT_ERROR);
}

void core_tunnel_report_guest(struct core_tunnel *t, struct cw_report *r)
{
    guest__report_row(t, r);
}

void core_tunnel_health(const struct core_tunnel *t, struct core_tunnel_health *h)
{
    memset(h, 0, sizeof(*h));
    h->target = t->target;
    h->guest_uri = t->cfg->guest_uri;
    h->edge_port = t->cfg->edge_port;
    h->webbridge_not_after = t->web_not_after;
    h->active = t->state == TUN_ACTIVE;
    h->since = t->since;
    h->state = state_name(t->state);
    h->reason = t->reason;
    guest__health(t, h);
}
