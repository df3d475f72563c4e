/* turncheck_probe.c - the TURN check's diagnostic probe: an Allocate without
 * credentials (the 401 challenge shows that a TURN server answers and gives
 * REALM and NONCE), the authenticated Allocate (the credential works, and the
 * answer names the mapped and relayed addresses), then a Refresh with
 * lifetime 0 so that the relay is not left behind.
 *
 * Blocking sockets with poll(), on the check's thread: the probe is one
 * short conversation, and the thread has nothing else to do meanwhile. The
 * cancel flag is looked at every SLICE_MS so that closing the daemon never
 * waits for a whole timeout. Messages are built and parsed with turn/stun.h
 * only; TCP framing is RFC 8656 12.5 (STUN messages back to back). */
#include "core/turncheck_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "turn/auth.h"
#include "turn/stun.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_RTO_MS 500        /* RFC 8489 6.2.1: the initial retransmission timeout */
#define SLICE_MS 100            /* how often a wait looks at the cancel flag */
#define IPPROTO_UDP_NUM 17      /* REQUESTED-TRANSPORT: UDP (RFC 8656 18.11) */

enum { EXCH_OK = 0, EXCH_TIMEOUT = -1, EXCH_CANCELLED = -2 };

struct probe {
    const struct core_turncheck_config *cfg;
    const struct core_turncheck__cred *cred;
    atomic_int *cancel;
    struct core_turncheck__probe *out;
    int fd;
    /* TCP: bytes received and not yet taken as a message */
    uint8_t in[STUN_MAX_STREAM_MSG];
    size_t inlen;
    /* the answer of the last exchange, parsed in place */
    uint8_t resp[STUN_MAX_STREAM_MSG];
    struct stun_msg m;
    /* long-term credential state after the 401 */
    char realm[TURN_NAME_MAX + 1];
    char nonce[TURN_NAME_MAX + 1];
    struct turn_key key;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Waits until fd is ready for events or deadline (ms on now_ms's clock).
 * 1 ready, 0 not (time left may remain), EXCH_CANCELLED, or -errno. */
static int wait_fd(struct probe *p, short events, double deadline)
{
    double left = deadline - now_ms();
    struct pollfd pfd = { .fd = p->fd, .events = events };
    int n;

    if (atomic_load(p->cancel))
        return EXCH_CANCELLED;
    if (left <= 0)
        return 0;
    n = poll(&pfd, 1, left > SLICE_MS ? SLICE_MS : (int)left + 1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    return n > 0;
}

static int probe_connect(struct probe *p)
{
    const struct sockaddr *sa = (const struct sockaddr *)&p->cfg->server;
    socklen_t len = sizeof(p->out->local);
    double deadline = now_ms() + p->cfg->timeout_ms;
    int rc, soerr = 0;
    socklen_t sl = sizeof(soerr);

    p->fd = socket(sa->sa_family, (p->cfg->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC |
                   SOCK_NONBLOCK, 0);
    if (p->fd < 0)
        return errno;
    if (connect(p->fd, sa, cw_addr_len(sa)) == 0)
        goto out;
    if (errno != EINPROGRESS)
        return errno;
    /* TCP: the handshake is the first sign of life; it counts against the
     * same timeout as an answer would. */
    while ((rc = wait_fd(p, POLLOUT, deadline)) == 0)
        if (now_ms() >= deadline)
            return EXCH_TIMEOUT;
    if (rc < 0)
        return rc == EXCH_CANCELLED ? rc : -rc;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        return errno;
    if (soerr)
        return soerr;
out:
    if (getsockname(p->fd, (struct sockaddr *)&p->out->local, &len) < 0)
        return errno;
    return 0;
}

/* Takes one whole STUN message out of the TCP bytes into p->resp: its length,
 * 0 when more bytes are needed, -1 on garbage. */
static long tcp_take(struct probe *p)
{
    long n = turn_frame_len(p->in, p->inlen, sizeof(p->in));

    if (n <= 0 || (size_t)n > p->inlen)
        return n < 0 ? -1 : 0;
    memcpy(p->resp, p->in, (size_t)n);
    memmove(p->in, p->in + n, p->inlen - (size_t)n);
    p->inlen -= (size_t)n;
    return n;
}

/* Receives what is there; returns the length of one datagram or framed
 * message in p->resp, 0 for nothing (yet), or an errno. */
static long probe_recv(struct probe *p, int *err)
{
    ssize_t n;
    long f;

    *err = 0;
    if (!p->cfg->tcp) {
        n = recv(p->fd, p->resp, sizeof(p->resp), 0);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            *err = errno;      /* ECONNREFUSED: ICMP port unreachable on the connected socket */
        return n < 0 ? 0 : (long)n;
    }
    if ((f = tcp_take(p)) != 0)
        goto framed;
    n = recv(p->fd, p->in + p->inlen, sizeof(p->in) - p->inlen, 0);
    if (n == 0) {
        *err = ECONNRESET;
        return 0;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            *err = errno;
        return 0;
    }
    p->inlen += (size_t)n;
    f = tcp_take(p);
framed:
    if (f < 0)
        *err = EPROTO;         /* not STUN framing: something else listens there */
    return f < 0 ? 0 : f;
}

/* Sends req and waits for the answer with its transaction id, retransmitting
 * on UDP (RFC 8489 6.2.1: RTO 500 ms, doubled each time) until
 * cfg->timeout_ms. EXCH_OK with p->m parsed and *rtt_ms (from the first
 * transmission), EXCH_TIMEOUT, EXCH_CANCELLED, or an errno. */
static int exchange(struct probe *p, const uint8_t *req, size_t reqlen, const uint8_t *tid,
                    double *rtt_ms)
{
    double start = now_ms(), deadline = start + p->cfg->timeout_ms;
    double rto = PROBE_RTO_MS, next_tx = start + rto;
    int rc, err;
    long n;

    if (send(p->fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen)
        return errno ? errno : EMSGSIZE;
    for (;;) {
        double wake = p->cfg->tcp || next_tx > deadline ? deadline : next_tx;

        rc = wait_fd(p, POLLIN, wake);
        if (rc < 0)
            return rc == EXCH_CANCELLED ? rc : -rc;
        while (rc > 0 && (n = probe_recv(p, &err)) > 0) {
            if (stun_msg_parse(&p->m, p->resp, (size_t)n) != STUN_OK ||
                memcmp(p->m.tid, tid, STUN_TID_LEN) != 0 ||
                (p->m.cls != STUN_SUCCESS && p->m.cls != STUN_ERROR))
                continue;      /* not the answer to this request (a late duplicate) */
            *rtt_ms = now_ms() - start;
            return EXCH_OK;
        }
        if (rc > 0 && err)
            return err;
        if (now_ms() >= deadline)
            return EXCH_TIMEOUT;
        if (!p->cfg->tcp && now_ms() >= next_tx) {
            if (send(p->fd, req, reqlen, MSG_NOSIGNAL) < 0 && errno == ECONNREFUSED)
                return ECONNREFUSED;
            rto *= 2;
            next_tx = now_ms() + rto;
        }
    }
}

/* Allocate or Refresh; with auth, the long-term credential of RFC 8489 9.2. */
static size_t build(struct probe *p, uint8_t *buf, size_t cap, uint16_t method, int auth,
                    uint8_t tid[STUN_TID_LEN])
{
    static const uint8_t udp[4] = { IPPROTO_UDP_NUM, 0, 0, 0 };
    const char *user = p->cred->user;
    struct stun_enc e;

    if (RAND_bytes(tid, STUN_TID_LEN) != 1)
        return 0;
    stun_enc_start(&e, buf, cap, method, STUN_REQUEST, tid);
    if (method == TURN_ALLOCATE)
        stun_enc_attr(&e, TURN_A_REQUESTED_TRANSPORT, udp, sizeof(udp));
    else
        stun_enc_u32(&e, TURN_A_LIFETIME, 0);     /* RFC 8656 7: lifetime 0 deletes */
    if (auth) {
        stun_enc_attr(&e, STUN_A_USERNAME, user, strlen(user));
        stun_enc_attr(&e, STUN_A_REALM, p->realm, strlen(p->realm));
        stun_enc_attr(&e, STUN_A_NONCE, p->nonce, strlen(p->nonce));
        stun_enc_integrity(&e, p->key.md5, sizeof(p->key.md5));
    }
    stun_enc_fingerprint(&e);
    return stun_enc_finish(&e);
}

/* Copies a string attribute (REALM, NONCE) of p->m into out; -1 if absent. */
static int attr_str(struct probe *p, uint16_t type, char *out, size_t cap)
{
    const struct stun_attr *a = stun_msg_find(&p->m, type);

    if (!a || !a->len || a->len >= cap)
        return -1;
    memcpy(out, stun_attr_value(&p->m, a), a->len);
    out[a->len] = 0;
    return memchr(out, 0, a->len) ? -1 : 0;
}

/* The error code of an error answer, with a printable copy of its reason. */
static int answer_code(struct probe *p, char *reason, size_t cap)
{
    const struct stun_attr *a = stun_msg_find(&p->m, STUN_A_ERROR_CODE);
    const char *r;
    size_t rl, i;
    int code;

    reason[0] = 0;
    if (!a || stun_attr_error(&p->m, a, &code, &r, &rl) < 0)
        return 0;
    for (i = 0; i < rl && i + 1 < cap; i++)
        reason[i] = r[i] >= 0x20 && r[i] < 0x7f ? r[i] : '?';
    reason[i] = 0;
    return code;
}

static void addr_attr(struct probe *p, uint16_t type, char *out, size_t cap)
{
    const struct stun_attr *a = stun_msg_find(&p->m, type);
    struct sockaddr_storage ss;

    if (a && stun_attr_xaddr(&p->m, a, &ss) == 0)
        cw_addr_fmt((struct sockaddr *)&ss, out, cap, 1);
}

/* Marks the outcome of an exchange that got no answer. 0 when rc is EXCH_OK. */
static int no_answer(struct probe *p, int rc, const char *step)
{
    struct core_turncheck__probe *o = p->out;
    char srv[CW_ADDR_STRLEN + 8];

    if (rc == EXCH_OK)
        return 0;
    o->verdict = CORE_TURNCHECK_NO_RESPONSE;
    if (!step) {
        core_turncheck__why_silent(p->cfg, rc == EXCH_TIMEOUT ? 0 : rc, o->why, sizeof(o->why));
        return -1;
    }
    core_turncheck__server_name(p->cfg, srv, sizeof(srv));
    snprintf(o->why, sizeof(o->why), "%s answered the first Allocate but not %s (%s): a "
             "firewall or load balancer between them?", srv, step,
             rc == EXCH_TIMEOUT ? "timed out" : strerror(rc));
    return -1;
}

/* The authenticated Allocate, retried once on 438 (RFC 8489 9.2.5: a stale
 * nonce comes with a fresh one). 0 when a relay was allocated. */
static int allocate(struct probe *p)
{
    struct core_turncheck__probe *o = p->out;
    uint8_t req[STUN_MAX_MSG], tid[STUN_TID_LEN];
    char reason[128];
    double rtt;
    size_t n;
    int code;

    for (int tries = 0; tries < 2; tries++) {
        if (!(n = build(p, req, sizeof(req), TURN_ALLOCATE, 1, tid)))
            goto toolong;
        if (no_answer(p, exchange(p, req, n, tid, &rtt), "the authenticated one") < 0)
            return -1;
        if (p->m.cls == STUN_SUCCESS) {
            /* A success that is not ours would be a confused path (another
             * server answering); the edge signs every authenticated answer. */
            if (p->m.i_mi >= 0 &&
                stun_msg_check_integrity(&p->m, p->key.md5, sizeof(p->key.md5), 0) < 0) {
                o->verdict = CORE_TURNCHECK_ERROR;
                snprintf(o->why, sizeof(o->why), "the Allocate answer's MESSAGE-INTEGRITY does "
                         "not match the credential: is another TURN server answering?");
                return -1;
            }
            addr_attr(p, STUN_A_XOR_MAPPED_ADDRESS, o->mapped, sizeof(o->mapped));
            addr_attr(p, TURN_A_XOR_RELAYED_ADDRESS, o->relay, sizeof(o->relay));
            return 0;
        }
        code = answer_code(p, reason, sizeof(reason));
        if (code == 438 && tries == 0 && attr_str(p, STUN_A_NONCE, p->nonce,
                                                  sizeof(p->nonce)) == 0)
            continue;
        o->verdict = core_turncheck__why_error(p->cfg, p->cred->user, code, reason, o->why,
                                               sizeof(o->why));
        return -1;
    }
    return -1;
toolong:
    o->verdict = CORE_TURNCHECK_ERROR;
    snprintf(o->why, sizeof(o->why), "the Allocate request does not fit a message: shorten "
             "username (or the realm is too long)");
    return -1;
}

/* Refresh with lifetime 0, once more after a 438; what it answers does not
 * change the verdict: the allocation expires on its own anyway. */
static void release(struct probe *p)
{
    uint8_t req[STUN_MAX_MSG], tid[STUN_TID_LEN];
    char reason[128];
    double rtt;
    size_t n;

    for (int tries = 0; tries < 2; tries++) {
        if (!(n = build(p, req, sizeof(req), TURN_REFRESH, 1, tid)) ||
            exchange(p, req, n, tid, &rtt) != EXCH_OK)
            return;
        if (p->m.cls == STUN_SUCCESS || answer_code(p, reason, sizeof(reason)) != 438 ||
            attr_str(p, STUN_A_NONCE, p->nonce, sizeof(p->nonce)) < 0)
            return;
    }
}

void core_turncheck__probe_run(const struct core_turncheck_config *cfg,
                               const struct core_turncheck__cred *cred, atomic_int *cancel,
                               struct core_turncheck__probe *out)
{
    struct probe *p = calloc(1, sizeof(*p));
    uint8_t req[STUN_MAX_MSG], tid[STUN_TID_LEN];
    char reason[128];
    size_t n;
    int rc, code;

    memset(out, 0, sizeof(*out));
    out->verdict = CORE_TURNCHECK_ERROR;
    out->rtt_ms = -1;
    if (!p) {
        snprintf(out->why, sizeof(out->why), "out of memory");
        return;
    }
    p->fd = -1;
    p->cfg = cfg;
    p->cred = cred;
    p->cancel = cancel;
    p->out = out;
    rc = probe_connect(p);
    if (rc == EXCH_CANCELLED)
        goto out;
    if (rc != 0) {
        no_answer(p, rc, NULL);
        goto out;
    }
    /* 1. Without credentials: any TURN server challenges with 401. */
    if (!(n = build(p, req, sizeof(req), TURN_ALLOCATE, 0, tid))) {
        snprintf(out->why, sizeof(out->why), "cannot make a STUN transaction id");
        goto out;
    }
    rc = exchange(p, req, n, tid, &out->rtt_ms);
    if (rc == EXCH_CANCELLED || no_answer(p, rc, NULL) < 0)
        goto out;
    if (p->m.cls == STUN_SUCCESS) {
        /* No authentication at all: the relay is allocated already. */
        addr_attr(p, STUN_A_XOR_MAPPED_ADDRESS, out->mapped, sizeof(out->mapped));
        addr_attr(p, TURN_A_XOR_RELAYED_ADDRESS, out->relay, sizeof(out->relay));
        out->verdict = CORE_TURNCHECK_OK;
        goto out;
    }
    code = answer_code(p, reason, sizeof(reason));
    if (code != 401) {
        out->verdict = core_turncheck__why_error(cfg, cred->user, code, reason, out->why,
                                                 sizeof(out->why));
        goto out;
    }
    if (attr_str(p, STUN_A_REALM, p->realm, sizeof(p->realm)) < 0 ||
        attr_str(p, STUN_A_NONCE, p->nonce, sizeof(p->nonce)) < 0) {
        char srv[CW_ADDR_STRLEN + 8];
        core_turncheck__server_name(cfg, srv, sizeof(srv));
        snprintf(out->why, sizeof(out->why), "%s answered 401 without REALM and NONCE: not a "
                 "TURN server with long-term credentials", srv);
        goto out;
    }
    snprintf(out->realm, sizeof(out->realm), "%.*s", (int)sizeof(out->realm) - 1, p->realm);
    /* 2. With the credential (RFC 8489 9.2.2: key = MD5(user:realm:pass)). */
    turn_key_derive(cred->user, strlen(cred->user), p->realm, cred->pass, strlen(cred->pass),
                    &p->key);
    if (allocate(p) < 0)
        goto out;
    /* 3. Release at once: the check must not hold a relay port. */
    release(p);
    out->verdict = CORE_TURNCHECK_OK;
out:
    if (p->fd >= 0)
        close(p->fd);
    memset(&p->key, 0, sizeof(p->key));
    free(p);
}
