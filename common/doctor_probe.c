/* doctor_probe.c - the doctor's network probes: a TCP connect, a STUN
 * Binding over UDP, an XEP-0114 component handshake. Each one has its own
 * timeout and holds its check until its handles are closed. */
#include "common/doctor.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"

#define STUN_MAGIC 0x2112A442u
#define COMP_IN_MAX 4096

enum kind { P_TCP, P_STUN, P_COMP };

struct probe {
    enum kind kind;
    struct cw_doctor_check *ck;
    cw_doctor_probe_cb cb;
    void *arg;
    union {
        uv_tcp_t tcp;
        uv_udp_t udp;
    } h;
    uv_connect_t conn;
    uv_udp_send_t send;
    uv_write_t wr;
    uv_timer_t timer;
    int handles;
    int status, decided;
    uint8_t req[20];                /* STUN: the request (its transaction id at 8..19) */
    char name[256];                 /* component: its domain, then its secret */
    char secret[257];
    char out[600];
    int sent_handshake;
    char in[COMP_IN_MAX + 1];
    size_t nin;
    char rbuf[2048];
};

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;

    if (--p->handles)
        return;
    p->cb(p->ck, p->arg, p->status);
    cw_doctor_check_put(p->ck);
    OPENSSL_cleanse(p->secret, sizeof(p->secret));
    free(p);
}

/* The first outcome counts; the handles close and the callback runs once
 * they have. */
static void decide(struct probe *p, int status)
{
    if (p->decided)
        return;
    p->decided = 1;
    p->status = status;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
    uv_close((uv_handle_t *)&p->h, probe_closed);
}

static void on_timeout(uv_timer_t *t)
{
    decide(t->data, UV_ETIMEDOUT);
}

static struct probe *probe_new(struct cw_doctor_check *ck, enum kind kind, unsigned timeout_ms,
                               cw_doctor_probe_cb cb, void *arg)
{
    struct probe *p = calloc(1, sizeof(*p));
    uv_loop_t *loop = cw_doctor_loop(cw_doctor_check_run(ck));

    if (!p)
        return NULL;
    p->kind = kind;
    p->cb = cb;
    p->arg = arg;
    if (kind == P_STUN ? uv_udp_init(loop, &p->h.udp) : uv_tcp_init(loop, &p->h.tcp)) {
        free(p);
        return NULL;
    }
    uv_timer_init(loop, &p->timer);
    p->h.tcp.data = p->timer.data = p;
    p->handles = 2;
    p->ck = cw_doctor_check_hold(ck);
    uv_timer_start(&p->timer, on_timeout, timeout_ms ? timeout_ms : CW_DOCTOR_PROBE_MS, 0);
    return p;
}

/* ---- TCP connect -------------------------------------------------------------- */

static void comp_start(struct probe *p);

static void on_connect(uv_connect_t *req, int status)
{
    struct probe *p = req->data;

    if (status == UV_ECANCELED)
        return;                     /* closed on a timeout: decided already */
    if (status < 0 || p->kind == P_TCP) {
        decide(p, status);
        return;
    }
    comp_start(p);
}

static int start_connect(struct probe *p, const struct sockaddr *addr)
{
    p->conn.data = p;
    if (uv_tcp_connect(&p->conn, &p->h.tcp, addr, on_connect) < 0) {
        decide(p, UV_EINVAL);
        return 0;       /* reported through cb */
    }
    return 0;
}

int cw_doctor_probe_tcp(struct cw_doctor_check *ck, const struct sockaddr *addr,
                        unsigned timeout_ms, cw_doctor_probe_cb cb, void *arg)
{
    struct probe *p = probe_new(ck, P_TCP, timeout_ms, cb, arg);

    return p ? start_connect(p, addr) : -1;
}

/* ---- STUN Binding over UDP (RFC 8489 5, 6) --------------------------------------- */

static void stun_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct probe *p = h->data;

    (void)size;
    *b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void stun_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                      unsigned flags)
{
    struct probe *p = u->data;
    const uint8_t *m = (const uint8_t *)b->base;

    (void)from;
    (void)flags;
    if (n < 0) {
        decide(p, (int)n);          /* ICMP port unreachable: ECONNREFUSED */
        return;
    }
    /* A Binding success response (0x0101) or error (0x0111) with our id. */
    if (n < 20 || memcmp(m + 4, p->req + 4, 16) != 0)
        return;
    if (m[0] == 0x01 && m[1] == 0x01)
        decide(p, 0);
    else if (m[0] == 0x01 && m[1] == 0x11)
        decide(p, CW_DOCTOR_EPROTO);
}

static void stun_sent(uv_udp_send_t *req, int status)
{
    struct probe *p = req->data;

    if (status < 0 && status != UV_ECANCELED)
        decide(p, status);
}

int cw_doctor_probe_stun(struct cw_doctor_check *ck, const struct sockaddr *addr,
                         unsigned timeout_ms, cw_doctor_probe_cb cb, void *arg)
{
    struct probe *p = probe_new(ck, P_STUN, timeout_ms, cb, arg);
    uv_buf_t b;
    uint32_t magic = STUN_MAGIC;
    int rc;

    if (!p)
        return -1;
    p->req[0] = 0x00;               /* Binding request, no attributes */
    p->req[1] = 0x01;
    for (int i = 0; i < 4; i++)
        p->req[4 + i] = (uint8_t)(magic >> (24 - 8 * i));
    if (RAND_bytes(p->req + 8, 12) != 1)
        for (int i = 8; i < 20; i++)
            p->req[i] = (uint8_t)rand();
    /* Connected, so that an ICMP port unreachable comes back as an error. */
    rc = uv_udp_connect(&p->h.udp, addr);
    if (rc == 0)
        rc = uv_udp_recv_start(&p->h.udp, stun_alloc, stun_recv);
    if (rc == 0) {
        b = uv_buf_init((char *)p->req, sizeof(p->req));
        p->send.data = p;
        rc = uv_udp_send(&p->send, &p->h.udp, &b, 1, NULL, stun_sent);
    }
    if (rc < 0)
        decide(p, rc);
    return 0;
}

/* ---- XEP-0114 component handshake ---------------------------------------------------- */

static void comp_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct probe *p = h->data;

    (void)size;
    *b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void comp_written(uv_write_t *w, int status)
{
    struct probe *p = w->data;

    if (status < 0 && status != UV_ECANCELED)
        decide(p, status);
}

static void comp_write(struct probe *p, size_t n)
{
    uv_buf_t b = uv_buf_init(p->out, (unsigned)n);

    p->wr.data = p;
    if (uv_write(&p->wr, (uv_stream_t *)&p->h.tcp, &b, 1, comp_written) < 0)
        decide(p, UV_EPIPE);
}

/* The value of attribute id in the stream header we got, or 0. Our own
 * server writes it, but the bytes are still bounded by in[]. */
static int stream_id(const char *in, char *id, size_t idlen)
{
    const char *h = strstr(in, "<stream:stream"), *a, *end;

    if (!h || !(end = strchr(h, '>')))
        return 0;
    for (a = h; (a = strstr(a, " id=")) != NULL && a < end; a += 4) {
        char q = a[4];
        const char *v = a + 5, *e;
        if (q != '\'' && q != '"')
            continue;
        if (!(e = strchr(v, q)) || e > end || (size_t)(e - v) >= idlen)
            return 0;
        memcpy(id, v, (size_t)(e - v));
        id[e - v] = 0;
        return 1;
    }
    return 0;
}

static void comp_handshake(struct probe *p, const char *id)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char hex[2 * SHA_DIGEST_LENGTH + 1], in[600];
    int n;

    /* XEP-0114 3: hex(SHA-1(stream id || secret)). */
    n = snprintf(in, sizeof(in), "%s%s", id, p->secret);
    SHA1((const unsigned char *)in, (size_t)n, md);
    OPENSSL_cleanse(in, sizeof(in));
    OPENSSL_cleanse(p->secret, sizeof(p->secret));
    cw_hex_encode(md, sizeof(md), hex);
    hex[sizeof(hex) - 1] = 0;
    p->sent_handshake = 1;
    comp_write(p, (size_t)snprintf(p->out, sizeof(p->out), "<handshake>%s</handshake>", hex));
}

static void comp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct probe *p = s->data;
    char id[128];
    const char *rest;

    if (n < 0) {
        decide(p, n == UV_EOF ? CW_DOCTOR_EPROTO : (int)n);
        return;
    }
    if (p->nin + (size_t)n > COMP_IN_MAX) {
        decide(p, CW_DOCTOR_EPROTO);
        return;
    }
    memcpy(p->in + p->nin, b->base, (size_t)n);
    p->nin += (size_t)n;
    p->in[p->nin] = 0;
    if (strstr(p->in, "not-authorized")) {
        decide(p, CW_DOCTOR_EAUTH);
        return;
    }
    if (strstr(p->in, "host-unknown")) {
        decide(p, CW_DOCTOR_EUNKNOWN);
        return;
    }
    if (!p->sent_handshake) {
        if (stream_id(p->in, id, sizeof(id)))
            comp_handshake(p, id);
        return;
    }
    rest = strstr(p->in, "<stream:stream");
    rest = rest ? strchr(rest, '>') : NULL;
    if (rest && (strstr(rest, "<handshake/>") || strstr(rest, "<handshake></handshake>")))
        decide(p, 0);
    else if (strstr(p->in, "</stream:stream>") || strstr(p->in, "<stream:error"))
        decide(p, CW_DOCTOR_EPROTO);
}

static void comp_start(struct probe *p)
{
    if (uv_read_start((uv_stream_t *)&p->h.tcp, comp_alloc, comp_read) < 0) {
        decide(p, UV_EPIPE);
        return;
    }
    comp_write(p, (size_t)snprintf(p->out, sizeof(p->out),
                                   "<?xml version='1.0'?><stream:stream "
                                   "xmlns='jabber:component:accept' "
                                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>",
                                   p->name));
}

int cw_doctor_probe_component(struct cw_doctor_check *ck, const struct sockaddr *addr,
                              const char *name, const char *secret, unsigned timeout_ms,
                              cw_doctor_probe_cb cb, void *arg)
{
    struct probe *p;

    if (strlen(name) >= sizeof(p->name) || strlen(secret) >= sizeof(p->secret) ||
        strpbrk(name, "'<>&\""))
        return -1;
    if (!(p = probe_new(ck, P_COMP, timeout_ms, cb, arg)))
        return -1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->secret, sizeof(p->secret), "%s", secret);
    return start_connect(p, addr);
}

const char *cw_doctor_strerror(int status)
{
    switch (status) {
    case 0: return "ok";
    case CW_DOCTOR_EAUTH: return "not-authorized (the secret differs)";
    case CW_DOCTOR_EUNKNOWN: return "host-unknown (no call bridge of that name there)";
    case CW_DOCTOR_EPROTO: return "an unexpected answer";
    case UV_ETIMEDOUT: return "no answer in time";
    case UV_ECONNREFUSED: return "refused (nothing listens there)";
    default: return uv_strerror(status);
    }
}
