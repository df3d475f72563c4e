/* cluster_net.c - the core nodes' authenticated connections: a libraft
 * transport whose connections open with a cluster-key handshake, and the
 * nodes' own links on the same port (see cluster_net.h). */
#include "core/cluster_net.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/log.h"

#define MAGIC "CWCLU1\n"
#define MAGIC_LEN 7
#define HELLO_LEN (MAGIC_LEN + 1 + 8 + 16 + CLUSTER_ADDR_MAX)   /* 96 */
#define RESP_LEN (16 + 32)
#define FIN_LEN 32
#define HANDSHAKE_MS 5000

struct net {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    uint8_t key[256];
    size_t keylen;
    raft_id id;
    char address[CLUSTER_ADDR_MAX];
    uv_tcp_t listener;
    int listening;
    raft_uv_accept_cb accept_cb;
    cluster_link_cb on_link;
    void *link_arg;
    struct hs *hs;              /* handshakes in progress */
    raft_uv_transport_close_cb close_cb;
    int closing;
    unsigned handles;           /* open uv handles of ours */
    unsigned long refused;
};

struct hs {
    struct net *n;
    struct hs *next;
    uv_tcp_t *tcp;              /* handed over on success */
    uv_timer_t timer;
    uv_connect_t conn;
    int opener, finished;
    char kind;
    uint8_t hello[HELLO_LEN];
    uint8_t nonce[16];          /* acceptor: ours, which the opener must sign */
    uint8_t buf[HELLO_LEN];
    size_t need, got;
    raft_id peer;
    char peer_addr[CLUSTER_ADDR_MAX];
    struct raft_uv_connect *req;    /* opener, kind 'R' */
    raft_uv_connect_cb raft_cb;
    cluster_link_cb link_cb;        /* opener, kind 'L' */
    void *link_arg;
    int open;                       /* handles of this handshake still open */
};

static void net_maybe_closed(struct net *n)
{
    if (n->closing && n->handles == 0 && n->close_cb) {
        raft_uv_transport_close_cb cb = n->close_cb;
        n->close_cb = NULL;
        cb(n->t);
    }
}

static void mac(const struct net *n, char who, const uint8_t *hello, const uint8_t *nonce,
                uint8_t out[32])
{
    uint8_t msg[1 + HELLO_LEN + 16];
    unsigned len = 32;

    msg[0] = (uint8_t)who;
    memcpy(msg + 1, hello, HELLO_LEN);
    memcpy(msg + 1 + HELLO_LEN, nonce, 16);
    HMAC(EVP_sha256(), n->key, (int)n->keylen, msg, sizeof(msg), out, &len);
}

/* ---- handshake life ---------------------------------------------------------- */

static void hs_unlink(struct hs *h)
{
    for (struct hs **p = &h->n->hs; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            return;
        }
}

static void hs_handle_closed(uv_handle_t *hd)
{
    struct hs *h = hd->data;
    struct net *n = h->n;

    n->handles--;
    if (--h->open == 0)
        free(h);
    net_maybe_closed(n);
}

/* A failed handshake's socket: its handshake waits for this callback. */
static void tcp_free_cb(uv_handle_t *hd)
{
    struct hs *h = hd->data;
    struct net *n = h->n;

    free(hd);
    n->handles--;
    if (--h->open == 0)
        free(h);
    net_maybe_closed(n);
}

/* Ends a handshake: on success the tcp handle goes to its new owner,
 * otherwise it is closed; the opener's callback hears either way. */
static void hs_end(struct hs *h, int ok, const char *why)
{
    struct net *n = h->n;
    uv_tcp_t *tcp = h->tcp;

    if (h->finished)
        return;
    h->finished = 1;
    hs_unlink(h);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
    if (ok) {
        n->handles--;               /* no longer ours */
        h->open--;
        tcp->data = NULL;
        h->tcp = NULL;              /* transferred below */
        if (!h->opener && h->kind == 'R')
            n->accept_cb(n->t, h->peer, h->peer_addr, (uv_stream_t *)tcp);
        else if (!h->opener)
            n->on_link(n->link_arg, h->peer, h->peer_addr, (uv_stream_t *)tcp, 0);
        else if (h->kind == 'R')
            h->raft_cb(h->req, (uv_stream_t *)tcp, 0);
        else
            h->link_cb(h->link_arg, h->peer, h->peer_addr, (uv_stream_t *)tcp, 0);
        return;
    }
    if (why) {
        n->refused += !h->opener;
        CW_WARN("cluster", "%s %s: %s", h->opener ? "connection to" : "connection from",
                h->peer_addr[0] ? h->peer_addr : "?", why);
    }
    uv_close((uv_handle_t *)tcp, tcp_free_cb);
    if (h->opener && h->kind == 'R')
        h->raft_cb(h->req, NULL, RAFT_NOCONNECTION);
    else if (h->opener)
        h->link_cb(h->link_arg, 0, h->peer_addr, NULL, -1);
}

static void hs_timeout(uv_timer_t *t)
{
    hs_end(t->data, 0, "handshake timed out (not a Causeway core, or a stalled peer)");
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static int hs_write(struct hs *h, const void *p, size_t len)
{
    struct { uv_write_t w; uint8_t d[HELLO_LEN]; } *wr = malloc(sizeof(*wr));
    uv_buf_t b;

    if (!wr)
        return -1;
    memcpy(wr->d, p, len);
    b = uv_buf_init((char *)wr->d, (unsigned)len);
    if (uv_write(&wr->w, (uv_stream_t *)h->tcp, &b, 1, write_done) < 0) {
        free(wr);
        return -1;
    }
    return 0;
}

/* ---- reading exactly what the handshake needs ------------------------------- */

static void hs_step(struct hs *h);

static void hs_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf)
{
    struct hs *h = hd->data;

    (void)hint;
    /* Never more than the handshake: what follows it belongs to the owner. */
    *buf = uv_buf_init((char *)h->buf + h->got, (unsigned)(h->need - h->got));
}

static void hs_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct hs *h = s->data;

    (void)buf;
    if (!h || h->finished)
        return;
    if (nread < 0) {
        hs_end(h, 0, nread == UV_EOF ? "closed during the handshake (wrong cluster key on one side?)"
                                     : uv_strerror((int)nread));
        return;
    }
    h->got += (size_t)nread;
    if (h->got < h->need)
        return;
    uv_read_stop(s);
    hs_step(h);
}

static void expect(struct hs *h, size_t need)
{
    h->need = need;
    h->got = 0;
    if (uv_read_start((uv_stream_t *)h->tcp, hs_alloc, hs_read) < 0)
        hs_end(h, 0, "cannot read");
}

/* One step of either side, after the bytes it waited for arrived. */
static void hs_step(struct hs *h)
{
    struct net *n = h->n;
    uint8_t want[32], resp[RESP_LEN];

    if (!h->opener && h->need == HELLO_LEN) {
        /* The opener's hello: check it and answer with our nonce and proof. */
        if (memcmp(h->buf, MAGIC, MAGIC_LEN) != 0 ||
            (h->buf[MAGIC_LEN] != 'R' && h->buf[MAGIC_LEN] != 'L')) {
            hs_end(h, 0, "not a cluster handshake");
            return;
        }
        memcpy(h->hello, h->buf, HELLO_LEN);
        h->kind = (char)h->buf[MAGIC_LEN];
        h->peer = 0;
        for (int i = 0; i < 8; i++)
            h->peer = h->peer << 8 | h->buf[MAGIC_LEN + 1 + i];
        memcpy(h->peer_addr, h->buf + MAGIC_LEN + 9 + 16, CLUSTER_ADDR_MAX);
        h->peer_addr[CLUSTER_ADDR_MAX - 1] = 0;
        if (RAND_bytes(h->nonce, 16) != 1) {
            hs_end(h, 0, "no random bytes");
            return;
        }
        memcpy(resp, h->nonce, 16);
        mac(n, 'A', h->hello, h->nonce, resp + 16);
        if (hs_write(h, resp, RESP_LEN) < 0) {
            hs_end(h, 0, "write failed");
            return;
        }
        expect(h, FIN_LEN);
        return;
    }
    if (!h->opener) {
        mac(n, 'O', h->hello, h->nonce, want);
        if (CRYPTO_memcmp(want, h->buf, 32) != 0) {
            hs_end(h, 0, "wrong cluster key: refused (a machine that is not a member, or a "
                   "different [cluster] key file)");
            return;
        }
        hs_end(h, 1, NULL);
        return;
    }
    /* Opener: the acceptor's nonce and proof. */
    mac(n, 'A', h->hello, h->buf, want);
    if (CRYPTO_memcmp(want, h->buf + 16, 32) != 0) {
        hs_end(h, 0, "the peer does not hold our cluster key: refused");
        return;
    }
    mac(n, 'O', h->hello, h->buf, want);
    if (hs_write(h, want, FIN_LEN) < 0) {
        hs_end(h, 0, "write failed");
        return;
    }
    hs_end(h, 1, NULL);
}

static struct hs *hs_new(struct net *n, int opener)
{
    struct hs *h = calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    h->tcp = malloc(sizeof(*h->tcp));
    if (!h->tcp) {
        free(h);
        return NULL;
    }
    h->n = n;
    h->opener = opener;
    uv_tcp_init(n->loop, h->tcp);
    uv_timer_init(n->loop, &h->timer);
    h->tcp->data = h->timer.data = h;
    h->open = 2;
    n->handles += 2;
    h->next = n->hs;
    n->hs = h;
    uv_timer_start(&h->timer, hs_timeout, HANDSHAKE_MS, 0);
    return h;
}

/* ---- acceptor ------------------------------------------------------------------ */

static void on_conn(uv_stream_t *server, int status)
{
    struct net *n = server->data;
    struct hs *h;

    if (status < 0 || n->closing || !(h = hs_new(n, 0)))
        return;
    if (uv_accept(server, (uv_stream_t *)h->tcp) < 0) {
        hs_end(h, 0, NULL);
        return;
    }
    uv_tcp_nodelay(h->tcp, 1);
    expect(h, HELLO_LEN);
}

/* ---- opener ------------------------------------------------------------------ */

static void on_connected(uv_connect_t *c, int status)
{
    struct hs *h = c->data;

    if (h->finished)
        return;
    if (status < 0) {
        hs_end(h, 0, NULL);   /* the caller logs or retries */
        return;
    }
    uv_tcp_nodelay(h->tcp, 1);
    if (hs_write(h, h->hello, HELLO_LEN) < 0) {
        hs_end(h, 0, "write failed");
        return;
    }
    expect(h, RESP_LEN);
}

static int open_to(struct net *n, char kind, const char *address, struct hs **out)
{
    struct sockaddr_storage ss;
    struct hs *h;

    if (n->closing || cw_addr_parse(address, 4000, &ss) < 0)
        return -1;
    h = hs_new(n, 1);
    if (!h)
        return -1;
    h->kind = kind;
    snprintf(h->peer_addr, sizeof(h->peer_addr), "%s", address);
    memcpy(h->hello, MAGIC, MAGIC_LEN);
    h->hello[MAGIC_LEN] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        h->hello[MAGIC_LEN + 1 + i] = (uint8_t)(n->id >> (56 - 8 * i));
    RAND_bytes(h->hello + MAGIC_LEN + 9, 16);
    memcpy(h->hello + MAGIC_LEN + 25, n->address, strnlen(n->address, CLUSTER_ADDR_MAX - 1));
    h->conn.data = h;
    if (uv_tcp_connect(&h->conn, h->tcp, (struct sockaddr *)&ss, on_connected) < 0) {
        h->finished = 1;
        hs_unlink(h);
        uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
        uv_close((uv_handle_t *)h->tcp, tcp_free_cb);
        return -1;
    }
    *out = h;
    return 0;
}

int cluster_net_link(struct raft_uv_transport *t, const char *address, cluster_link_cb cb,
                     void *arg)
{
    struct hs *h;

    if (open_to(t->impl, 'L', address, &h) < 0)
        return -1;
    h->link_cb = cb;
    h->link_arg = arg;
    return 0;
}

/* ---- the raft_uv_transport interface ----------------------------------------- */

static int t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct net *n = t->impl;

    n->id = id;
    snprintf(n->address, sizeof(n->address), "%s", address);
    return 0;
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct net *n = t->impl;
    struct sockaddr_storage ss;
    int r;

    n->accept_cb = cb;
    if (cw_addr_parse(n->address, 4000, &ss) < 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "bad cluster address %s", n->address);
        return RAFT_INVALID;
    }
    uv_tcp_init(n->loop, &n->listener);
    n->listener.data = n;
    n->handles++;
    n->listening = 1;
    r = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&n->listener, 128, on_conn);
    if (r < 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "cannot listen on %s: %s", n->address,
                 uv_strerror(r));
        CW_ERROR("cluster", "cannot listen on %s: %s", n->address, uv_strerror(r));
        return RAFT_IOERR;
    }
    return 0;
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb)
{
    struct hs *h;

    (void)id;
    if (open_to(t->impl, 'R', address, &h) < 0)
        return RAFT_NOCONNECTION;
    h->req = req;
    h->raft_cb = cb;
    return 0;
}

static void listener_closed(uv_handle_t *hd)
{
    struct net *n = hd->data;

    n->handles--;
    net_maybe_closed(n);
}

static void t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct net *n = t->impl;

    n->closing = 1;
    n->close_cb = cb;
    if (n->listening)
        uv_close((uv_handle_t *)&n->listener, listener_closed);
    n->listening = 0;
    while (n->hs)
        hs_end(n->hs, 0, NULL);
    net_maybe_closed(n);
}

int cluster_net_init(struct raft_uv_transport *t, uv_loop_t *loop, const uint8_t *key,
                     size_t keylen, cluster_link_cb on_link, void *arg, char *err, size_t errlen)
{
    struct net *n;

    if (keylen < CLUSTER_KEY_MIN || keylen > sizeof(n->key)) {
        snprintf(err, errlen, "the cluster key must be %d to %zu bytes", CLUSTER_KEY_MIN,
                 sizeof(n->key));
        return -1;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(t, 0, sizeof(*t));
    n->t = t;
    n->loop = loop;
    memcpy(n->key, key, keylen);
    n->keylen = keylen;
    n->on_link = on_link;
    n->link_arg = arg;
    t->impl = n;
    t->init = t_init;
    t->listen = t_listen;
    t->connect = t_connect;
    t->close = t_close;
    return 0;
}

unsigned long cluster_net_refused(const struct raft_uv_transport *t)
{
    return ((const struct net *)t->impl)->refused;
}

void cluster_net_free(struct raft_uv_transport *t)
{
    struct net *n = t->impl;

    if (n)
        OPENSSL_cleanse(n->key, sizeof(n->key));
    free(n);
    t->impl = NULL;
}
