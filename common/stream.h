/* stream.h - a byte stream over a libuv TCP handle, plain or TLS (OpenSSL 3
 * with memory BIOs), behind one set of operations, so protocol code (TURN
 * over TCP/TLS, later the web proxy and XMPP) never cares which it has.
 *
 * Lifetime: cw_stream_accept() returns a stream that belongs to the caller
 * until cw_stream_close(); the on_close callback runs exactly once, after the
 * handle is closed, and is the last callback; the stream memory is freed by
 * the library right after on_close returns. Closing from inside on_data is
 * safe. Writes never block: bytes the socket cannot take yet are queued, and
 * cw_stream_pending() tells how many, so callers can apply back-pressure or
 * drop (no unbounded buffering: the caller checks before writing). When the
 * peer ends its side (TCP EOF or TLS close_notify) the stream flushes what is
 * queued and closes with err 0: there is no half-open state. */
#ifndef CW_STREAM_H
#define CW_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct cw_tls_ctx;
struct cw_stream;

struct cw_stream_cbs {
    /* Plaintext bytes received (after the TLS handshake for TLS). */
    void (*on_data)(struct cw_stream *s, const uint8_t *p, size_t n);
    /* The stream is gone: err is 0 for a clean close (ours or EOF), else a
     * negative uv error code (UV_ETIMEDOUT: TLS handshake deadline passed)
     * or CW_STREAM_ETLS. Last callback. */
    void (*on_close)(struct cw_stream *s, int err);
    /* Optional (NULL: not told): cw_stream_pending() fell back to 0 after a
     * write had to queue, so a paused producer can resume. Never called
     * from inside cw_stream_write(), nor once the stream is closing. */
    void (*on_drain)(struct cw_stream *s);
};

#define CW_STREAM_ETLS (-10000)   /* TLS handshake or record failure */

/* Text for an on_close err: CW_STREAM_ETLS or a uv error code. */
const char *cw_stream_strerror(int err);

/* Server TLS context: certificate chain and key from PEM files; TLS 1.2 and
 * 1.3 only, modern cipher suites, session resumption on. NULL with a message
 * in err when the files cannot be loaded or do not match. */
struct cw_tls_ctx *cw_tls_ctx_create_server(const char *cert_chain_file, const char *key_file,
                                            char *err, size_t errlen);
void cw_tls_ctx_destroy(struct cw_tls_ctx *ctx);
/* A client that has not completed the TLS handshake ms milliseconds after
 * accept is closed with UV_ETIMEDOUT (default 10000), so stalled handshakes
 * cannot hold a connection forever. Applies to streams accepted later. */
void cw_tls_ctx_set_handshake_timeout(struct cw_tls_ctx *ctx, unsigned ms);

/* Accepts one connection from a listening uv_tcp_t server; tls NULL means
 * plain TCP. TCP_NODELAY is set. Returns NULL on failure (nothing to free). */
struct cw_stream *cw_stream_accept(uv_stream_t *server, struct cw_tls_ctx *tls,
                                   const struct cw_stream_cbs *cbs, void *data);
/* Queues n bytes (copied as needed). 0, or -1 if the stream is closing. */
int cw_stream_write(struct cw_stream *s, const void *p, size_t n);
/* Bytes accepted by cw_stream_write but not yet taken by the kernel. */
size_t cw_stream_pending(const struct cw_stream *s);
/* Stop / restart delivering on_data (receive back-pressure). */
void cw_stream_pause(struct cw_stream *s);
void cw_stream_resume(struct cw_stream *s);
/* Flushes queued bytes (best effort, TLS close_notify) then closes. */
void cw_stream_close(struct cw_stream *s);
void *cw_stream_data(const struct cw_stream *s);
void cw_stream_set_data(struct cw_stream *s, void *data);
int cw_stream_is_tls(const struct cw_stream *s);
const struct sockaddr *cw_stream_peer(const struct cw_stream *s);
const struct sockaddr *cw_stream_local(const struct cw_stream *s);

#endif
