/* stream.c - a byte stream over a libuv TCP handle, plain or TLS through
 * OpenSSL memory BIOs (see stream.h).
 *
 * For maintainers:
 * - The variant is a struct stream_ops (plain_ops, tls_ops). The generic code
 *   owns the socket, the write queue and the close sequence; the ops turn
 *   socket bytes into on_data calls and application bytes into socket bytes.
 * - TLS never reads the socket: ciphertext read from it is fed to a memory
 *   BIO (rbio) and SSL_read() hands out plaintext. Whatever OpenSSL writes
 *   goes through a BIO of ours (out_write) into the same write path as plain
 *   bytes (uv_try_write, then a copied uv_write for the rest).
 * - Lifetime: refs is one reference for the uv handles (dropped by the last
 *   uv_close callback), plus one per user callback in progress and per queued
 *   write or shutdown request. on_close runs and the memory is freed when it
 *   reaches zero, so cw_stream_close() from inside on_data only starts the
 *   close sequence and every pointer stays valid until callbacks return.
 * - Close: graceful (ours, or EOF / close_notify from the peer) sends
 *   close_notify, uv_shutdown()s after the queued writes, then reads and
 *   discards until the peer's EOF so the kernel does not answer late bytes
 *   with a reset that destroys data still in flight; one timer bounds all of
 *   it to CLOSE_LINGER_MS. Errors close at once (hard close). The first reason
 *   recorded is the one on_close reports.
 * - A TLS context is one SSL_CTX per certificate, configured alike by
 *   tls_ssl_ctx_new() and sharing ticket keys. Every SSL starts on the first
 *   (the default); its servername callback moves the connection to the first
 *   certificate covering the SNI name with SSL_set_SSL_CTX(). OpenSSL keeps
 *   the first SSL_CTX as the session context (cache, ticket keys) after the
 *   switch; the shared keys make resumption independent of that detail.
 *   The context is reference counted with atomics (TURN accepts on several
 *   worker threads): each TLS stream holds a reference until it is freed.
 */
#include "stream.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "log.h"
#include "wbatch.h"

#define READ_BUF_SIZE 16384
#define TLS_WRITE_CHUNK 16384   /* one full TLS record per SSL_write */
#define CLOSE_LINGER_MS 2000
#define HANDSHAKE_TIMEOUT_MS 10000
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
#define HOST_MAX 253            /* RFC 1035 2.3.4, in text form */

struct cw_tls_ctx {
    atomic_uint refs;
    unsigned handshake_timeout_ms;
    unsigned n;                 /* certificates, at least one */
    SSL_CTX **ssl_ctx;          /* one per certificate; [0] is the default */
};

struct cw_stream;

/* A transport variant. All functions are called on a stream that is not
 * hard-closed; they report failures by closing the stream themselves. */
struct stream_ops {
    /* n bytes arrived from the socket (p is the stream's read buffer). */
    void (*on_read)(struct cw_stream *s, const uint8_t *p, size_t n);
    /* Application bytes to send: 0, or -1 when the stream got closed. */
    int (*write)(struct cw_stream *s, const uint8_t *p, size_t n);
    /* Reading was restarted after a pause. */
    void (*resume)(struct cw_stream *s);
    /* A graceful close begins: say goodbye on the wire. */
    void (*shutdown)(struct cw_stream *s);
    /* Bytes accepted by write() not yet passed to the socket write path. */
    size_t (*buffered)(const struct cw_stream *s);
    /* Frees the variant's state; the handles are closed already. */
    void (*destroy)(struct cw_stream *s);
};

struct cw_stream {
    uv_tcp_t tcp;
    uv_timer_t timer;           /* TLS handshake deadline, then close deadline */
    uv_timer_t kick;            /* TLS: deliver plaintext buffered during pause */
    uv_shutdown_t shutdown_req;
    const struct stream_ops *ops;
    struct cw_stream_cbs cbs;
    void *data;
    struct sockaddr_storage peer, local;
    char peer_str[CW_ADDR_STRLEN];
    int refs;
    int open_handles;
    int err;                    /* what on_close reports */
    unsigned reading : 1;       /* uv_read_start is in effect */
    unsigned paused : 1;        /* cw_stream_pause() by the user */
    unsigned closing : 1;       /* no more on_data; err is final */
    unsigned closed : 1;        /* uv_close() called on the handles */
    unsigned eof : 1;           /* the peer shut its write side */
    unsigned shut : 1;          /* our uv_shutdown completed */
    unsigned failed : 1;        /* accept failed: no on_close */
    unsigned want_drain : 1;    /* a write queued: call on_drain at 0 */
    unsigned hs_done : 1;       /* TLS handshake complete */
    unsigned ended : 1;         /* the peer ended its side; on_eof was called */
    unsigned connecting : 1;    /* cw_stream_connect: TCP connect in progress */
    void (*connected)(struct cw_stream *s);   /* cw_stream_connect's callback */
    size_t queued;              /* bytes in uv_write requests not completed */
    struct cw_wb wb;            /* when batching: the loop turn's writes (wbatch.h) */
    struct cw_tls_ctx *tls;     /* TLS only, a reference */
    SSL *ssl;                   /* TLS only, owns rbio and the output BIO */
    BIO *rbio;
    uint8_t *early;             /* TLS: plaintext written before handshake end */
    size_t early_len, early_cap;
    uint8_t rbuf[READ_BUF_SIZE];
};

struct write_req {
    uv_write_t req;
    struct cw_stream *s;
    size_t len;
    uint8_t data[];
};

static void stream_close_now(struct cw_stream *s, int err);
static void stream_begin_close(struct cw_stream *s, int err);
static void stream_peer_ended(struct cw_stream *s);
static void stream_read_stop(struct cw_stream *s);
static void timer_cb(uv_timer_t *t);

/* ---- lifetime ---- */

static void stream_ref(struct cw_stream *s)
{
    s->refs++;
}

static void stream_unref(struct cw_stream *s)
{
    if (--s->refs > 0)
        return;
    if (!s->failed && s->cbs.on_close)
        s->cbs.on_close(s, s->err);
    s->ops->destroy(s);
    free(s);
}

static void handle_close_cb(uv_handle_t *h)
{
    struct cw_stream *s = h->data;

    if (--s->open_handles == 0)
        stream_unref(s);   /* the handles' reference */
}

/* Hard close: the handles go now, queued writes are cancelled. */
static void stream_close_now(struct cw_stream *s, int err)
{
    if (s->closed)
        return;
    if (!s->closing) {
        s->closing = 1;
        s->err = err;
    }
    /* Batched bytes go to the kernel before the socket closes, as if
     * written at once (a send error closes the stream from in there). */
    cw_wb_settle(&s->wb);
    if (s->closed)
        return;
    s->closed = 1;
    s->reading = 0;
    uv_close((uv_handle_t *)&s->tcp, handle_close_cb);
    uv_close((uv_handle_t *)&s->timer, handle_close_cb);
    uv_close((uv_handle_t *)&s->kick, handle_close_cb);
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct cw_stream *s = h->data;

    (void)hint;
    /* One read is outstanding at a time, and the variants are done with the
     * buffer when read_cb returns, so one buffer per stream is enough. */
    buf->base = (char *)s->rbuf;
    buf->len = sizeof(s->rbuf);
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct cw_stream *s = h->data;

    (void)buf;
    if (nread == 0)
        return;
    if (nread < 0) {
        uv_read_stop(h);
        s->reading = 0;
        if (nread != UV_EOF) {
            stream_close_now(s, (int)nread);
        } else {
            s->eof = 1;
            if (!s->closing)
                stream_peer_ended(s);
            else if (s->shut)
                stream_close_now(s, 0);
        }
        return;
    }
    if (s->closing)
        return;   /* lingering after our shutdown: discard */
    s->ops->on_read(s, s->rbuf, (size_t)nread);
}

static int stream_read_start(struct cw_stream *s)
{
    int r;

    if (s->reading)
        return 0;
    r = uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
    if (r < 0)
        return r;
    s->reading = 1;
    return 0;
}

static void stream_read_stop(struct cw_stream *s)
{
    if (!s->reading)
        return;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
}

/* Hands plaintext to the user; s stays valid even if on_data closes it. */
static void stream_deliver(struct cw_stream *s, const uint8_t *p, size_t n)
{
    stream_ref(s);
    s->cbs.on_data(s, p, n);
    stream_unref(s);
}

/* The peer ended its side (TCP EOF or close_notify): the user hears of it
 * if it asked (and closes when it is done), else the stream flushes what
 * it owes and closes. */
static void stream_peer_ended(struct cw_stream *s)
{
    stream_read_stop(s);
    if (!s->cbs.on_eof) {
        stream_begin_close(s, 0);
        return;
    }
    if (s->ended)
        return;
    s->ended = 1;
    stream_ref(s);
    s->cbs.on_eof(s);
    stream_unref(s);
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct cw_stream *s = w->s;

    s->queued -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        stream_close_now(s, status);
    } else if (s->want_drain && !s->closing && cw_stream_pending(s) == 0) {
        s->want_drain = 0;
        if (s->cbs.on_drain)
            s->cbs.on_drain(s);   /* our write reference keeps s alive */
    }
    stream_unref(s);
}

/* Copies n bytes into a uv_write request. 0, or -1 after closing the stream. */
static int stream_queue(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct write_req *w;
    uv_buf_t b;
    int r;

    w = malloc(sizeof(*w) + n);
    if (!w) {
        stream_close_now(s, UV_ENOMEM);
        return -1;
    }
    memcpy(w->data, p, n);
    w->s = s;
    w->len = n;
    b.base = (char *)w->data;
    b.len = n;
    r = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, write_cb);
    if (r < 0) {
        free(w);
        stream_close_now(s, r);
        return -1;
    }
    s->queued += n;
    stream_ref(s);
    return 0;
}

/* Sends n bytes: when nothing is queued, into the loop turn's batch or
 * straight to the kernel; the rest queued. 0, or -1 after closing. */
static int stream_raw_write(struct cw_stream *s, const uint8_t *p, size_t n)
{
    ssize_t r;

    if (s->closed)
        return -1;
    if (n == 0)
        return 0;
    if (s->queued == 0) {
        r = cw_wb_write(&s->wb, p, n);
        if (r < 0)
            stream_close_now(s, (int)r);
        if (s->closed)
            return -1;
        p += r;
        n -= (size_t)r;
        if (n == 0)
            return 0;
    }
    return stream_queue(s, p, n);
}

/* The batch sent s's bytes and the socket did not take them all. */
static void stream_batch_sent(struct cw_wb *w, int status, const uint8_t *rest, size_t n)
{
    struct cw_stream *s = (struct cw_stream *)((char *)w - offsetof(struct cw_stream, wb));

    if (status < 0)
        stream_close_now(s, status);
    else if (!s->closed && stream_queue(s, rest, n) == 0 && !s->closing)
        s->want_drain = 1;
}

/* s's writer, not batching until cw_stream_set_wbatch. */
static void stream_wb_init(struct cw_stream *s)
{
    cw_wb_init(&s->wb, (uv_stream_t *)&s->tcp, stream_batch_sent, NULL);
}

void cw_stream_set_wbatch(struct cw_stream *s, struct cw_wbatch *b)
{
    cw_wb_settle(&s->wb);
    s->wb.b = b;
}

/* ---- closing ---- */

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct cw_stream *s = req->data;

    s->shut = 1;
    if (status != UV_ECANCELED && !s->closed && (status < 0 || s->eof))
        stream_close_now(s, status);
    /* else linger: read_cb closes on the peer's EOF, timer_cb at the latest */
    stream_unref(s);
}

/* Graceful close: no more on_data; flush, shut down, linger, close. */
static void stream_begin_close(struct cw_stream *s, int err)
{
    int r;

    if (s->closing)
        return;
    s->closing = 1;
    s->err = err;
    uv_timer_stop(&s->kick);
    uv_timer_stop(&s->timer);
    s->ops->shutdown(s);
    if (s->closed)
        return;
    /* Deadline for a peer that reads nothing or never sends its EOF. */
    uv_timer_start(&s->timer, timer_cb, CLOSE_LINGER_MS, 0);
    if (!s->eof && stream_read_start(s) < 0) {
        stream_close_now(s, 0);
        return;
    }
    cw_wb_settle(&s->wb);   /* what is batched goes before the FIN */
    if (s->closed)
        return;
    s->shutdown_req.data = s;
    r = uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, shutdown_cb);
    if (r < 0) {
        stream_close_now(s, r);
        return;
    }
    stream_ref(s);
}

static void timer_cb(uv_timer_t *t)
{
    struct cw_stream *s = t->data;

    if (s->closing) {
        CW_DEBUG("stream", "close of %s: deadline passed with %zu bytes unsent",
                 s->peer_str, cw_stream_pending(s));
        stream_close_now(s, 0);
        return;
    }
    if (s->connecting) {
        stream_close_now(s, UV_ETIMEDOUT);
        return;
    }
    if (!s->hs_done) {
        CW_INFO("tls", "handshake with %s timed out (peer too slow or stalled)",
                s->peer_str);
        stream_close_now(s, UV_ETIMEDOUT);
    }
}

/* ---- plain TCP ---- */

static void plain_on_read(struct cw_stream *s, const uint8_t *p, size_t n)
{
    stream_deliver(s, p, n);
}

static int plain_write(struct cw_stream *s, const uint8_t *p, size_t n)
{
    return stream_raw_write(s, p, n);
}

static void plain_noop(struct cw_stream *s)
{
    (void)s;
}

static size_t plain_buffered(const struct cw_stream *s)
{
    (void)s;
    return 0;
}

static const struct stream_ops plain_ops = {
    .on_read = plain_on_read,
    .write = plain_write,
    .resume = plain_noop,
    .shutdown = plain_noop,
    .buffered = plain_buffered,
    .destroy = plain_noop,
};

/* ---- TLS ---- */

/* The first queued OpenSSL error as text, or a fallback; clears the queue. */
static void tls_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
}

/* Empties the thread's OpenSSL error queue, as SSL_get_error() needs before
 * an I/O call. Peeking first: clearing a queue that is (nearly always)
 * empty still costs OpenSSL 3 a walk over all its slots. */
static void tls_errors_clear(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* ---- the TLS output BIO ---- */

/* What OpenSSL writes (records, alerts, handshake flights) goes straight to
 * the stream's socket write path: no memory BIO to copy into and drain, and
 * the BIO calls OpenSSL makes per record cost next to nothing. */
static int out_write(BIO *b, const char *p, int n)
{
    struct cw_stream *s = BIO_get_data(b);

    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    return stream_raw_write(s, (const uint8_t *)p, (size_t)n) < 0 ? -1 : n;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    /* Nothing is ever held back: a flush is done, nothing is pending. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *out_method;

static void out_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "causeway stream out");

    if (m && (BIO_meth_set_write(m, out_write) != 1 || BIO_meth_set_ctrl(m, out_ctrl) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    out_method = m;   /* made once, read-only afterwards, kept for the process */
}

/* A new output BIO for s, or NULL. */
static BIO *out_bio_new(struct cw_stream *s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    BIO *b;

    pthread_once(&once, out_method_make);
    if (!out_method || !(b = BIO_new(out_method)))
        return NULL;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return b;
}

static void tls_fail(struct cw_stream *s, const char *what, int sslerr)
{
    char reason[256];

    if (s->closed) {
        /* The socket failed under OpenSSL's write: that error is recorded. */
        ERR_clear_error();
        return;
    }

    tls_reason(reason, sizeof(reason),
               sslerr == SSL_ERROR_SYSCALL ? "unexpected end of data" : "unknown error");
    CW_INFO("tls", "%s with %s failed: %s%s", what, s->peer_str, reason,
            s->hs_done ? "" : " (not a TLS client, or no common TLS 1.2+ version/cipher?)");
    if (!s->closing) {
        s->closing = 1;
        s->err = CW_STREAM_ETLS;
    }
    stream_close_now(s, CW_STREAM_ETLS);
}

static int tls_write(struct cw_stream *s, const uint8_t *p, size_t n)
{
    int r;

    if (!s->hs_done) {
        /* SSL_write would only drive the handshake; keep the bytes. */
        if (n > s->early_cap - s->early_len) {
            size_t cap = s->early_cap ? s->early_cap : 4096;
            uint8_t *q;

            while (cap - s->early_len < n)
                cap *= 2;
            q = realloc(s->early, cap);
            if (!q) {
                stream_close_now(s, UV_ENOMEM);
                return -1;
            }
            s->early = q;
            s->early_cap = cap;
        }
        memcpy(s->early + s->early_len, p, n);
        s->early_len += n;
        return 0;
    }
    tls_errors_clear();
    while (n > 0) {
        size_t chunk = n < TLS_WRITE_CHUNK ? n : TLS_WRITE_CHUNK;

        r = SSL_write(s->ssl, p, (int)chunk);
        if (r <= 0) {
            tls_fail(s, "write", SSL_get_error(s->ssl, r));
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int tls_handshake(struct cw_stream *s)
{
    uint8_t *early;
    size_t len;
    int r, e;

    ERR_clear_error();
    r = SSL_do_handshake(s->ssl);
    if (r != 1) {
        e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            return s->closed ? -1 : 1;
        tls_fail(s, "handshake", e);
        return -1;
    }
    s->hs_done = 1;
    uv_timer_stop(&s->timer);
    CW_DEBUG("tls", "handshake with %s done: %s %s", s->peer_str, SSL_get_version(s->ssl),
             SSL_get_cipher_name(s->ssl));
    if (s->closed)
        return -1;
    if (s->early_len) {
        early = s->early;
        len = s->early_len;
        s->early = NULL;   /* transferred */
        s->early_len = s->early_cap = 0;
        r = tls_write(s, early, len);
        free(early);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Runs the handshake and delivers all plaintext OpenSSL can decrypt from
 * rbio, until it needs more bytes, or the user pauses or closes. */
static void tls_pump(struct cw_stream *s)
{
    int r, e;

    if (!s->hs_done && tls_handshake(s) != 0)
        return;
    stream_ref(s);
    tls_errors_clear();
    while (!s->closing && !s->paused && !s->ended) {
        r = SSL_read(s->ssl, s->rbuf, (int)sizeof(s->rbuf));
        e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
        if (s->closed)
            break;      /* a write of OpenSSL's (ticket, alert, key update) failed */
        if (r > 0) {
            stream_deliver(s, s->rbuf, (size_t)r);
            /* Nothing left to decrypt: skip the SSL_read that would only
             * say so (a failing call costs as much as a small record). */
            if (!SSL_has_pending(s->ssl) && BIO_ctrl_pending(s->rbio) == 0)
                break;
            tls_errors_clear();     /* on_data may have used OpenSSL */
        } else if (e == SSL_ERROR_WANT_READ) {
            break;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            stream_peer_ended(s);   /* close_notify from the peer */
        } else {
            tls_fail(s, "read", e);
        }
    }
    stream_unref(s);
}

static void tls_on_read(struct cw_stream *s, const uint8_t *p, size_t n)
{
    /* A memory BIO takes everything or fails for lack of memory. */
    if (BIO_write(s->rbio, p, (int)n) != (int)n) {
        stream_close_now(s, UV_ENOMEM);
        return;
    }
    tls_pump(s);
}

static void kick_cb(uv_timer_t *t)
{
    struct cw_stream *s = t->data;

    if (!s->closing && !s->paused)
        tls_pump(s);
}

static void tls_resume(struct cw_stream *s)
{
    /* OpenSSL may hold decrypted records that no socket read will bring
     * back; deliver them from the loop, not from inside cw_stream_resume. */
    uv_timer_start(&s->kick, kick_cb, 0, 0);
}

static void tls_shutdown(struct cw_stream *s)
{
    free(s->early);   /* never sent: the handshake did not finish */
    s->early = NULL;
    s->early_len = s->early_cap = 0;
    if (!s->hs_done)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl);   /* sends close_notify */
    ERR_clear_error();
}

static size_t tls_buffered(const struct cw_stream *s)
{
    return s->early_len;
}

static void tls_destroy(struct cw_stream *s)
{
    SSL_free(s->ssl);   /* frees both BIOs */
    free(s->early);
    cw_tls_ctx_destroy(s->tls);   /* the stream's reference */
}

static const struct stream_ops tls_ops = {
    .on_read = tls_on_read,
    .write = tls_write,
    .resume = tls_resume,
    .shutdown = tls_shutdown,
    .buffered = tls_buffered,
    .destroy = tls_destroy,
};

/* ---- TLS context ---- */

/* "<what>: <first OpenSSL reason>" into err. */
static void tls_ctx_err(char *err, size_t errlen, const char *what)
{
    char reason[256];

    tls_reason(reason, sizeof(reason), "unknown error");
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, reason);
}

/* Never prompt on a terminal for a key passphrase: encrypted keys fail. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* A server SSL_CTX with the house settings (TLS 1.2+, modern suites,
 * resumption) and one certificate chain and key loaded. NULL with a message
 * naming the file in err. */
static SSL_CTX *tls_ssl_ctx_new(const char *cert_chain_file, const char *key_file, char *err,
                                size_t errlen)
{
    static const unsigned char sid_ctx[] = "causeway";
    SSL_CTX *c;
    char what[1024];

    ERR_clear_error();
    c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        tls_ctx_err(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
        tls_ctx_err(err, errlen, "cannot configure the TLS context");
        goto fail;
    }
    /* TLS 1.3 suites stay OpenSSL's defaults (all AEAD). */
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    /* Idle connections give their record buffers back. */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(c, tls_no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(c, cert_chain_file) != 1) {
        if (ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_PEM &&
            ERR_GET_REASON(ERR_peek_error()) == PEM_R_NO_START_LINE)
            snprintf(what, sizeof(what),
                     "cannot load certificate chain from %s (no PEM certificate in it)",
                     cert_chain_file);
        else
            snprintf(what, sizeof(what), "cannot load certificate chain from %s",
                     cert_chain_file);
        tls_ctx_err(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(what, sizeof(what), "private key %s does not match the certificate in %s",
                     key_file, cert_chain_file);
        else
            snprintf(what, sizeof(what), "cannot load private key from %s (PEM, unencrypted)",
                     key_file);
        tls_ctx_err(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        snprintf(what, sizeof(what), "private key %s does not match the certificate in %s",
                 key_file, cert_chain_file);
        tls_ctx_err(err, errlen, what);
        goto fail;
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

/* Gives dst the session ticket keys of src, so a ticket issued under one
 * certificate decrypts under all (RFC 5077 4 leaves the keys to the server).
 * 0 or -1. */
static int tls_share_ticket_keys(SSL_CTX *dst, SSL_CTX *src)
{
    unsigned char keys[128];
    /* With no buffer, OpenSSL answers the length it wants (80 in 3.0). */
    long n = SSL_CTX_ctrl(src, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, 0, NULL);
    int ok;

    if (n <= 0 || n > (long)sizeof(keys))
        return -1;
    ok = SSL_CTX_get_tlsext_ticket_keys(src, keys, n) == 1 &&
         SSL_CTX_set_tlsext_ticket_keys(dst, keys, n) == 1;
    OPENSSL_cleanse(keys, sizeof(keys));
    return ok ? 0 : -1;
}

/* host as X509_check_host/X509_check_ip_asc take it, into buf (HOST_MAX + 1
 * bytes at least): brackets around an IPv6 literal and one trailing dot of a
 * DNS name dropped. 1 for an IP literal, 0 for a DNS name, -1 for neither
 * (NULL, empty, too long, brackets around something else, a '*': OpenSSL
 * lets a wildcard match a literal '*', but no host name has one). */
static int tls_host_norm(const char *host, char *buf, size_t len)
{
    unsigned char bin[sizeof(struct in6_addr)];
    size_t n;

    if (!host || (n = strlen(host)) == 0 || n > HOST_MAX + 2 || n >= len)
        return -1;
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']')
            return -1;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        return inet_pton(AF_INET6, buf, bin) == 1 ? 1 : -1;
    }
    memcpy(buf, host, n + 1);
    if (inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1)
        return 1;
    if (buf[n - 1] == '.')
        buf[--n] = 0;
    return n == 0 || n > HOST_MAX || strchr(buf, '*') ? -1 : 0;
}

/* Index of the first certificate of ctx covering host (RFC 6125 6.4: SAN
 * dNSName, the wildcard standing for one whole left-most label, case
 * insensitive; SAN iPAddress for IP literals; never the CN), or -1.
 * Leaves OpenSSL's error queue as it found it: this runs inside
 * SSL_do_handshake, whose SSL_get_error would take a stray entry for a
 * handshake failure. */
static int tls_ctx_find(const struct cw_tls_ctx *ctx, const char *host)
{
    char name[HOST_MAX + 3];
    int ip, found = -1;
    X509 *cert;

    ip = tls_host_norm(host, name, sizeof(name));
    if (ip < 0)
        return -1;
    ERR_set_mark();
    for (unsigned i = 0; i < ctx->n && found < 0; i++) {
        cert = SSL_CTX_get0_certificate(ctx->ssl_ctx[i]);
        if (!cert)
            continue;
        if (ip ? X509_check_ip_asc(cert, name, 0) == 1
               : X509_check_host(cert, name, 0,
                                 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                                 NULL) == 1)
            found = (int)i;
    }
    ERR_pop_to_mark();
    return found;
}

/* Untrusted text for a log line or a status page: bytes outside printable
 * ASCII become '?'. */
static char tls_printable_c(char c)
{
    return c > 0x20 && c < 0x7f ? c : '?';
}

static void tls_printable(char *buf, size_t len, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n && i + 1 < len; i++)
        buf[i] = tls_printable_c(p[i]);
    buf[i] = 0;
}

/* SNI (RFC 6066 3), called by OpenSSL on the default SSL_CTX: moves the
 * connection to the first certificate covering the name. No name, or no
 * certificate covers it: the default stays (and the client decides). */
static int tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
    const struct cw_tls_ctx *ctx = arg;
    const struct cw_stream *s = SSL_get_app_data(ssl);
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char safe[HOST_MAX + 1];
    int i;

    if (!host)
        return SSL_TLSEXT_ERR_NOACK;
    i = tls_ctx_find(ctx, host);
    if (cw_log_enabled(CW_LOG_DEBUG)) {
        tls_printable(safe, sizeof(safe), host, strlen(host));
        CW_DEBUG("tls", "handshake with %s: SNI \"%s\" gets certificate %d%s",
                 s ? s->peer_str : "?", safe, i < 0 ? 0 : i,
                 i < 0 ? " (the default: none covers the name)" : "");
    }
    if (i > 0 && !SSL_set_SSL_CTX(ssl, ctx->ssl_ctx[i])) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

struct cw_tls_ctx *cw_tls_ctx_create_server(const char *cert_chain_file, const char *key_file,
                                            char *err, size_t errlen)
{
    struct cw_tls_ctx *ctx;
    SSL_CTX *c;

    c = tls_ssl_ctx_new(cert_chain_file, key_file, err, errlen);
    if (!c)
        return NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx || !(ctx->ssl_ctx = malloc(sizeof(*ctx->ssl_ctx)))) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        free(ctx);
        SSL_CTX_free(c);
        return NULL;
    }
    atomic_init(&ctx->refs, 1);   /* the creator's */
    ctx->handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
    SSL_CTX_set_tlsext_servername_callback(c, tls_servername_cb);
    SSL_CTX_set_tlsext_servername_arg(c, ctx);
    ctx->ssl_ctx[0] = c;   /* transferred */
    ctx->n = 1;
    return ctx;
}

int cw_tls_ctx_add_cert(struct cw_tls_ctx *ctx, const char *cert_chain_file, const char *key_file,
                        char *err, size_t errlen)
{
    SSL_CTX *c, **v;

    c = tls_ssl_ctx_new(cert_chain_file, key_file, err, errlen);
    if (!c)
        return -1;
    if (tls_share_ticket_keys(c, ctx->ssl_ctx[0]) < 0) {
        tls_ctx_err(err, errlen, "cannot share the session ticket keys");
        SSL_CTX_free(c);
        return -1;
    }
    v = realloc(ctx->ssl_ctx, (ctx->n + 1) * sizeof(*v));
    if (!v) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        SSL_CTX_free(c);
        return -1;
    }
    ctx->ssl_ctx = v;
    v[ctx->n++] = c;   /* transferred */
    return 0;
}

struct cw_tls_ctx *cw_tls_ctx_create_server_n(const char *cert, const char *key, size_t stride,
                                              int n, char *err, size_t errlen)
{
    struct cw_tls_ctx *ctx = cw_tls_ctx_create_server(cert, key, err, errlen);

    for (int i = 1; ctx && i < n; i++)
        if (cw_tls_ctx_add_cert(ctx, cert + (size_t)i * stride, key + (size_t)i * stride, err,
                                errlen) < 0) {
            cw_tls_ctx_destroy(ctx);
            ctx = NULL;
        }
    return ctx;
}

struct cw_tls_ctx *cw_tls_ctx_ref(struct cw_tls_ctx *ctx)
{
    /* Relaxed: a new reference is made from one the caller holds. */
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return ctx;
}

void cw_tls_ctx_destroy(struct cw_tls_ctx *ctx)
{
    if (!ctx)
        return;
    /* acq_rel: whoever frees sees every other holder's last use. */
    if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < ctx->n; i++)
        SSL_CTX_free(ctx->ssl_ctx[i]);   /* SSLs still using one hold their own */
    free(ctx->ssl_ctx);
    free(ctx);
}

void cw_tls_ctx_set_handshake_timeout(struct cw_tls_ctx *ctx, unsigned ms)
{
    ctx->handshake_timeout_ms = ms;
}

int cw_tls_ctx_covers(const struct cw_tls_ctx *ctx, const char *host)
{
    return ctx && tls_ctx_find(ctx, host) >= 0;
}

unsigned cw_tls_ctx_cert_count(const struct cw_tls_ctx *ctx)
{
    return ctx->n;
}

/* Appends sep (not before the first) and n bytes of p to buf (len > 0,
 * *used bytes so far) as printable text. When they do not fit, ends buf
 * with "...": after sep if some names are in already and there is room,
 * else cutting the text short, and returns -1. */
static int sans_append(char *buf, size_t len, size_t *used, const char *sep, const char *p,
                       size_t n)
{
    size_t sl = *used ? strlen(sep) : 0, at, k, j;

    if (*used + sl + n >= len) {
        if (*used && *used + sl + 3 < len) {
            snprintf(buf + *used, len - *used, "%s...", sep);
            return -1;
        }
        at = len > 4 ? len - 4 : 0;
        for (k = *used, j = 0; k < at && j < sl; j++)
            buf[k++] = sep[j];
        for (j = 0; k < at && j < n; j++)
            buf[k++] = tls_printable_c(p[j]);
        snprintf(buf + at, len - at, "...");
        return -1;
    }
    memcpy(buf + *used, sep, sl);
    tls_printable(buf + *used + sl, n + 1, p, n);
    *used += sl + n;
    return 0;
}

void cw_x509_sans(const X509 *cert, char *buf, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char ip[INET6_ADDRSTRLEN];
    size_t used = 0;

    buf[0] = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *v;
        int r = 0;

        if (g->type == GEN_DNS) {
            v = g->d.dNSName;
            r = sans_append(buf, len, &used, ", ", (const char *)ASN1_STRING_get0_data(v),
                            (size_t)ASN1_STRING_length(v));
        } else if (g->type == GEN_IPADD) {
            v = g->d.iPAddress;
            /* RFC 5280 4.2.1.6: 4 octets for IPv4, 16 for IPv6 */
            if (ASN1_STRING_length(v) == 4)
                inet_ntop(AF_INET, ASN1_STRING_get0_data(v), ip, sizeof(ip));
            else if (ASN1_STRING_length(v) == 16)
                inet_ntop(AF_INET6, ASN1_STRING_get0_data(v), ip, sizeof(ip));
            else
                snprintf(ip, sizeof(ip), "?");
            r = sans_append(buf, len, &used, ", ", ip, strlen(ip));
        }
        if (r < 0)
            break;
    }
    GENERAL_NAMES_free(names);
}

time_t cw_x509_not_after(const X509 *cert)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    return ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1 ? timegm(&tm) : 0;
}

int cw_tls_ctx_cert_info(const struct cw_tls_ctx *ctx, unsigned i, char *sans, size_t sanslen,
                         time_t *not_after)
{
    X509 *cert;

    if (i >= ctx->n)
        return -1;
    cert = SSL_CTX_get0_certificate(ctx->ssl_ctx[i]);
    ERR_set_mark();
    if (sans && sanslen)
        cw_x509_sans(cert, sans, sanslen);
    if (not_after)
        *not_after = cw_x509_not_after(cert);
    ERR_pop_to_mark();
    return 0;
}

/* Starts TLS on s with s->tls (a reference the stream holds). The server
 * side's handshake begins with the next bytes the socket brings; a client
 * (sni given, or "" for none) sends its hello at once. 0, or UV_ENOMEM (the
 * caller closes the stream). */
static int tls_begin(struct cw_stream *s, const char *sni)
{
    BIO *rbio, *wbio;

    s->ops = &tls_ops;   /* from here tls_destroy frees what was made */
    s->ssl = SSL_new(s->tls->ssl_ctx[0]);
    if (!s->ssl)
        return UV_ENOMEM;
    SSL_set_app_data(s->ssl, s);   /* for the servername callback's log */
    rbio = BIO_new(BIO_s_mem());
    wbio = out_bio_new(s);
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        return UV_ENOMEM;
    }
    /* An empty rbio means "wait for the socket", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(s->ssl, rbio, wbio);
    s->rbio = rbio;   /* transferred to s->ssl, kept for feeding */
    uv_timer_start(&s->timer, timer_cb, s->tls->handshake_timeout_ms, 0);
    if (!sni) {
        SSL_set_accept_state(s->ssl);
        return 0;
    }
    SSL_set_connect_state(s->ssl);
    if (sni[0] && SSL_set_tlsext_host_name(s->ssl, sni) != 1)
        return UV_ENOMEM;
    (void)tls_handshake(s);   /* the hello; a failure closes s */
    return 0;
}

/* ---- public stream API ---- */

const char *cw_stream_strerror(int err)
{
    if (err == CW_STREAM_ETLS)
        return "TLS handshake or record failure";
    return err ? uv_strerror(err) : "closed";
}

struct cw_stream *cw_stream_accept(uv_stream_t *server, struct cw_tls_ctx *tls,
                                   const struct cw_stream_cbs *cbs, void *data)
{
    struct cw_stream *s;
    int r, len;

    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ops = &plain_ops;   /* tls_begin switches a TLS stream */
    s->cbs = *cbs;
    s->data = data;
    s->refs = 1;   /* the handles' reference */
    if (uv_tcp_init(server->loop, &s->tcp) < 0) {
        free(s);
        return NULL;
    }
    if (tls)
        s->tls = cw_tls_ctx_ref(tls);   /* dropped by tls_destroy, also on failure */
    uv_timer_init(server->loop, &s->timer);
    uv_timer_init(server->loop, &s->kick);
    s->tcp.data = s->timer.data = s->kick.data = s;
    s->open_handles = 3;
    stream_wb_init(s);
    r = uv_accept(server, (uv_stream_t *)&s->tcp);
    if (r < 0)
        goto fail;
    len = sizeof(s->peer);
    r = uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&s->peer, &len);
    if (r < 0)
        goto fail;
    len = sizeof(s->local);
    r = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&s->local, &len);
    if (r < 0)
        goto fail;
    cw_addr_fmt((struct sockaddr *)&s->peer, s->peer_str, sizeof(s->peer_str), 1);
    r = uv_tcp_nodelay(&s->tcp, 1);
    if (r < 0)
        goto fail;
    if (tls && (r = tls_begin(s, NULL)) < 0)
        goto fail;
    r = stream_read_start(s);
    if (r < 0)
        goto fail;
    return s;
fail:
    s->failed = 1;
    stream_close_now(s, r);
    return NULL;
}

int cw_stream_write(struct cw_stream *s, const void *p, size_t n)
{
    if (s->closing)
        return -1;
    if (s->ops->write(s, p, n) < 0)
        return -1;
    if (cw_stream_pending(s) > 0)
        s->want_drain = 1;
    return 0;
}

size_t cw_stream_pending(const struct cw_stream *s)
{
    return s->queued + s->ops->buffered(s);
}

void cw_stream_pause(struct cw_stream *s)
{
    if (s->closing)
        return;
    s->paused = 1;
    stream_read_stop(s);
}

void cw_stream_resume(struct cw_stream *s)
{
    int r;

    if (s->closing || !s->paused)
        return;
    s->paused = 0;
    if (s->ended)
        return;
    r = stream_read_start(s);
    if (r < 0) {
        stream_close_now(s, r);
        return;
    }
    s->ops->resume(s);
}

int cw_stream_start_tls(struct cw_stream *s, struct cw_tls_ctx *tls)
{
    int r;

    if (s->closing || s->ops != &plain_ops)
        return -1;
    s->tls = cw_tls_ctx_ref(tls);   /* dropped by tls_destroy */
    r = tls_begin(s, NULL);
    if (r < 0) {
        stream_close_now(s, r);
        return -1;
    }
    return 0;
}

void cw_stream_close(struct cw_stream *s)
{
    stream_begin_close(s, 0);
}

void *cw_stream_data(const struct cw_stream *s)
{
    return s->data;
}

void cw_stream_set_data(struct cw_stream *s, void *data)
{
    s->data = data;
}

int cw_stream_is_tls(const struct cw_stream *s)
{
    return s->ops == &tls_ops;
}

const char *cw_stream_sni(const struct cw_stream *s)
{
    return s->ssl ? SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const struct sockaddr *cw_stream_peer(const struct cw_stream *s)
{
    return (const struct sockaddr *)&s->peer;
}

const struct sockaddr *cw_stream_local(const struct cw_stream *s)
{
    return (const struct sockaddr *)&s->local;
}

/* ---- client side and peer certificates (XMPP federation) ---- */

/* Certificates are checked after the handshake (cw_stream_peer_cert_check),
 * so that a peer without a valid one can still be offered another way in
 * (server dialback) instead of a failed handshake. */
static int tls_verify_later(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    (void)x;
    return 1;
}

/* Loads the CA certificates that validate peers: a PEM bundle, or a
 * directory of hashed PEM files. 0, or -1 with a message in err. */
static int tls_load_trust(SSL_CTX *c, const char *trust, char *err, size_t errlen)
{
    char what[1100];
    uv_fs_t req;
    int dir = 0;

    if (uv_fs_stat(NULL, &req, trust, NULL) == 0)
        dir = (req.statbuf.st_mode & S_IFMT) == S_IFDIR;
    uv_fs_req_cleanup(&req);
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(c, dir ? NULL : trust, dir ? trust : NULL) != 1) {
        snprintf(what, sizeof(what), "cannot load trusted CA certificates from %s", trust);
        tls_ctx_err(err, errlen, what);
        return -1;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, tls_verify_later);
    return 0;
}

struct cw_tls_ctx *cw_tls_ctx_create_client(const char *trust, const char *cert_chain_file,
                                            const char *key_file, char *err, size_t errlen)
{
    struct cw_tls_ctx *ctx;
    SSL_CTX *c;
    char what[1100];

    ERR_clear_error();
    c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        tls_ctx_err(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1) {
        tls_ctx_err(err, errlen, "cannot configure the TLS context");
        goto fail;
    }
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(c, tls_no_passphrase);
    if (tls_load_trust(c, trust, err, errlen) < 0)
        goto fail;
    if (cert_chain_file && (SSL_CTX_use_certificate_chain_file(c, cert_chain_file) != 1 ||
                            SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1 ||
                            SSL_CTX_check_private_key(c) != 1)) {
        snprintf(what, sizeof(what), "cannot load the client certificate %s with key %s",
                 cert_chain_file, key_file);
        tls_ctx_err(err, errlen, what);
        goto fail;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx || !(ctx->ssl_ctx = malloc(sizeof(*ctx->ssl_ctx)))) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        free(ctx);
        goto fail;
    }
    atomic_init(&ctx->refs, 1);
    ctx->handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
    ctx->ssl_ctx[0] = c;
    ctx->n = 1;
    return ctx;
fail:
    SSL_CTX_free(c);
    return NULL;
}

int cw_tls_ctx_verify_peers(struct cw_tls_ctx *ctx, const char *trust, char *err, size_t errlen)
{
    for (unsigned i = 0; i < ctx->n; i++)
        if (tls_load_trust(ctx->ssl_ctx[i], trust, err, errlen) < 0)
            return -1;
    return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct cw_stream *s = req->data;
    int len, r = status;

    free(req);
    if (s->closed || !s->connecting) {
        stream_unref(s);
        return;
    }
    s->connecting = 0;
    uv_timer_stop(&s->timer);
    if (r == 0) {
        len = sizeof(s->local);
        r = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&s->local, &len);
    }
    if (r == 0)
        r = uv_tcp_nodelay(&s->tcp, 1);
    if (r == 0)
        r = stream_read_start(s);
    if (r < 0) {
        stream_close_now(s, r);
        stream_unref(s);
        return;
    }
    s->connected(s);
    stream_unref(s);
}

struct cw_stream *cw_stream_connect(uv_loop_t *loop, const struct sockaddr *addr,
                                    unsigned timeout_ms, const struct cw_stream_cbs *cbs,
                                    void (*connected)(struct cw_stream *s), void *data)
{
    struct cw_stream *s = calloc(1, sizeof(*s));
    uv_connect_t *req = malloc(sizeof(*req));
    int r;

    if (!s || !req || uv_tcp_init(loop, &s->tcp) < 0) {
        free(s);
        free(req);
        return NULL;
    }
    s->ops = &plain_ops;
    s->cbs = *cbs;
    s->data = data;
    s->refs = 1;
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->kick);
    s->tcp.data = s->timer.data = s->kick.data = s;
    s->open_handles = 3;
    stream_wb_init(s);
    memcpy(&s->peer, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    cw_addr_fmt(addr, s->peer_str, sizeof(s->peer_str), 1);
    s->connected = connected;
    s->connecting = 1;
    req->data = s;
    r = uv_tcp_connect(req, &s->tcp, addr, connect_cb);
    if (r < 0) {
        free(req);
        s->failed = 1;
        stream_close_now(s, r);
        return NULL;
    }
    stream_ref(s);   /* the connect request's */
    uv_timer_start(&s->timer, timer_cb, timeout_ms ? timeout_ms : 10000, 0);
    return s;
}

int cw_stream_start_tls_client(struct cw_stream *s, struct cw_tls_ctx *tls, const char *sni)
{
    int r;

    if (s->closing || s->ops != &plain_ops)
        return -1;
    s->tls = cw_tls_ctx_ref(tls);
    r = tls_begin(s, sni ? sni : "");
    if (r < 0) {
        stream_close_now(s, r);
        return -1;
    }
    return s->closing ? -1 : 0;
}

int cw_stream_peer_cert_check(const struct cw_stream *s, const char *domain, char *why,
                              size_t whylen)
{
    X509 *cert;
    long v;
    int ok = 0;
    char sans[512];

    if (!s->ssl || !s->hs_done) {
        snprintf(why, whylen, "no TLS");
        return 0;
    }
    cert = SSL_get1_peer_certificate(s->ssl);
    if (!cert) {
        snprintf(why, whylen, "no certificate presented");
        return 0;
    }
    v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
        snprintf(why, whylen, "certificate not trusted: %s", X509_verify_cert_error_string(v));
    } else if (X509_check_host(cert, domain, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
        GENERAL_NAMES *g = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        size_t used = 0;
        sans[0] = 0;
        for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
            const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
            if (n->type == GEN_DNS)
                sans_append(sans, sizeof(sans), &used, ", ",
                            (const char *)ASN1_STRING_get0_data(n->d.dNSName),
                            (size_t)ASN1_STRING_length(n->d.dNSName));
        }
        GENERAL_NAMES_free(g);
        snprintf(why, whylen, "certificate is not for %s (it names: %s)", domain,
                 sans[0] ? sans : "no DNS names");
    } else {
        ok = 1;
    }
    X509_free(cert);
    return ok;
}

const char *cw_stream_tls_version(const struct cw_stream *s)
{
    return s->ssl && s->hs_done ? SSL_get_version(s->ssl) : NULL;
}
