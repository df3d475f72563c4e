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
 * queued and closes with err 0, unless the user asked to hear of it first
 * (on_eof) and closes the stream itself when done. */
#ifndef CW_STREAM_H
#define CW_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
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
    /* Optional (NULL: the stream closes itself, flushing what is queued):
     * the peer ended its side (TCP EOF, or a TLS close_notify). Reading
     * stops; writes still go out, and the user calls cw_stream_close() when
     * it has answered what the peer sent before its end (an HTTP client may
     * send its request and then half-close). Called at most once. */
    void (*on_eof)(struct cw_stream *s);
};

#define CW_STREAM_ETLS (-10000)   /* TLS handshake or record failure */

/* Text for an on_close err: CW_STREAM_ETLS or a uv error code. */
const char *cw_stream_strerror(int err);

/* Server TLS context: certificate chain and key from PEM files; TLS 1.2 and
 * 1.3 only, modern cipher suites, session resumption on. NULL with a message
 * in err when the files cannot be loaded or do not match.
 *
 * A context may hold several certificates, chosen per connection by the
 * client's SNI (cw_tls_ctx_add_cert). It is reference counted, so a reload
 * can build a new context and drop the old one while connections accepted
 * with it keep it: cw_tls_ctx_create_server returns the creator's reference,
 * every stream accepted with the context holds one until it is freed, and
 * the memory goes when the last one is dropped. References may be taken and
 * dropped from any thread; the certificate list must be complete (all
 * cw_tls_ctx_add_cert calls done) before the first cw_stream_accept. */
struct cw_tls_ctx *cw_tls_ctx_create_server(const char *cert_chain_file, const char *key_file,
                                            char *err, size_t errlen);
/* Drops the caller's reference (the creator's, or one from cw_tls_ctx_ref);
 * NULL is ignored. Existing callers that destroy once keep working. */
void cw_tls_ctx_destroy(struct cw_tls_ctx *ctx);
/* Takes another reference, dropped with cw_tls_ctx_destroy. Returns ctx. */
struct cw_tls_ctx *cw_tls_ctx_ref(struct cw_tls_ctx *ctx);
/* Adds another certificate (chain + key PEM files) to a server context. The
 * first one (from cw_tls_ctx_create_server) is the default, served when the
 * client sends no SNI or a name no certificate covers; otherwise a
 * connection gets the first certificate that covers the SNI host name as
 * cw_tls_ctx_covers() checks it. All certificates share the session ticket
 * keys, so sessions resume whichever certificate they got. 0, or -1 with a
 * message naming the file in err (unreadable, no certificate, key does not
 * match); the context is unchanged then. */
int cw_tls_ctx_add_cert(struct cw_tls_ctx *ctx, const char *cert_chain_file, const char *key_file,
                        char *err, size_t errlen);
/* A server context with the n (at least 1) certificates of a
 * configuration's list, the first the default: certificate i's chain file
 * is cert + i * stride and its key file key + i * stride, as in
 * `char cert[N][1024], key[N][1024]` (stride sizeof(cert[0])) or
 * `char cert[N][2][512]` (cert[0][0], cert[0][1], sizeof(cert[0])). NULL
 * with the failing file's message in err. */
struct cw_tls_ctx *cw_tls_ctx_create_server_n(const char *cert, const char *key, size_t stride,
                                              int n, char *err, size_t errlen);
/* Whether any certificate of ctx covers host as a browser checks it: the
 * subjectAltName dNSNames (case-insensitive; a wildcard "*.example.com"
 * matches exactly one whole label, RFC 6125 6.4.3) or iPAddresses; the
 * subject CN is never consulted. host is a DNS name (one trailing dot
 * allowed) or an IPv4/IPv6 literal (brackets allowed, "[2001:db8::1]").
 * 1 yes, 0 no (also for NULL or malformed host). */
int cw_tls_ctx_covers(const struct cw_tls_ctx *ctx, const char *host);
/* Certificates in ctx, for status pages: how many, and for index i (0 is
 * the default) the leaf's subjectAltNames, DNS names and IP addresses in
 * certificate order separated by ", " (empty when it has none; cut short
 * with "..." when sanslen is too small), and its notAfter. sans and
 * not_after may be NULL. 0, or -1 when i is out of range. */
unsigned cw_tls_ctx_cert_count(const struct cw_tls_ctx *ctx);
int cw_tls_ctx_cert_info(const struct cw_tls_ctx *ctx, unsigned i, char *sans, size_t sanslen,
                         time_t *not_after);
struct x509_st;
/* Any certificate's subjectAltNames as above (printable text only), and its
 * notAfter (0 when unreadable). */
void cw_x509_sans(const struct x509_st *cert, char *buf, size_t len);
time_t cw_x509_not_after(const struct x509_st *cert);
/* A client that has not completed the TLS handshake ms milliseconds after
 * accept is closed with UV_ETIMEDOUT (default 10000), so stalled handshakes
 * cannot hold a connection forever. Applies to streams accepted later. */
void cw_tls_ctx_set_handshake_timeout(struct cw_tls_ctx *ctx, unsigned ms);

/* Accepts one connection from a listening uv_tcp_t server; tls NULL means
 * plain TCP, else the stream holds a reference to tls until it is freed.
 * TCP_NODELAY is set. Returns NULL on failure (nothing to free). */
struct cw_stream *cw_stream_accept(uv_stream_t *server, struct cw_tls_ctx *tls,
                                   const struct cw_stream_cbs *cbs, void *data);
/* STARTTLS (XMPP, RFC 6120 5.4.3.3): a plain stream becomes the server side
 * of TLS with tls (the stream takes a reference). Bytes already written go
 * out in plain first; the handshake reads the socket's next bytes, so the
 * caller must drop whatever it read after its STARTTLS command. The
 * handshake deadline of tls applies from now. 0, or -1 (the stream was
 * not plain, or is closing; out of memory closes it). */
int cw_stream_start_tls(struct cw_stream *s, struct cw_tls_ctx *tls);
/* Queues n bytes (copied as needed). 0, or -1 if the stream is closing. */
int cw_stream_write(struct cw_stream *s, const void *p, size_t n);
/* Bytes accepted by cw_stream_write but not yet taken by the kernel. */
size_t cw_stream_pending(const struct cw_stream *s);
/* Stop / restart delivering on_data (receive back-pressure). */
void cw_stream_pause(struct cw_stream *s);
void cw_stream_resume(struct cw_stream *s);
/* Flushes queued bytes (best effort, TLS close_notify) then closes. */
void cw_stream_close(struct cw_stream *s);
struct cw_wbatch;
/* From now on s's writes go through the loop turn's batch b (wbatch.h). */
void cw_stream_set_wbatch(struct cw_stream *s, struct cw_wbatch *b);
void *cw_stream_data(const struct cw_stream *s);
void cw_stream_set_data(struct cw_stream *s, void *data);
int cw_stream_is_tls(const struct cw_stream *s);
/* The host name the client sent in TLS SNI (RFC 6066 3), as sent; NULL for
 * plain TCP, when it sent none, or before its ClientHello was read. Valid
 * as long as the stream. */
const char *cw_stream_sni(const struct cw_stream *s);
const struct sockaddr *cw_stream_peer(const struct cw_stream *s);
const struct sockaddr *cw_stream_local(const struct cw_stream *s);

/* ---- client side and peer certificates (XMPP federation) ---- */

/* A client TLS context: peers' certificates are validated against trust
 * (a PEM bundle or a directory of hashed PEM files), after the handshake,
 * by cw_stream_peer_cert_check (a handshake never fails on them); with
 * cert_chain_file (and key_file) the client presents that certificate.
 * NULL with a message in err. */
struct cw_tls_ctx *cw_tls_ctx_create_client(const char *trust, const char *cert_chain_file,
                                            const char *key_file, char *err, size_t errlen);
/* Server contexts: ask clients for a certificate and keep what trust says
 * of it for cw_stream_peer_cert_check (clients without one still connect).
 * 0, or -1 with a message in err. */
int cw_tls_ctx_verify_peers(struct cw_tls_ctx *ctx, const char *trust, char *err, size_t errlen);
/* Connects to addr (timeout_ms 0: 10 s). connected(s) runs once the TCP
 * connection is up (then on_data flows); a failure (refused, unreachable,
 * timed out: UV_ETIMEDOUT) calls only on_close with the error. NULL when it
 * cannot even start (nothing to free). */
struct cw_stream *cw_stream_connect(uv_loop_t *loop, const struct sockaddr *addr,
                                    unsigned timeout_ms, const struct cw_stream_cbs *cbs,
                                    void (*connected)(struct cw_stream *s), void *data);
/* The client side of TLS on a plain stream (STARTTLS after <proceed/>, or
 * at once for direct TLS), with sni as the server name. Bytes written
 * before the handshake ends go out after it. 0, or -1 (closed). */
int cw_stream_start_tls_client(struct cw_stream *s, struct cw_tls_ctx *tls, const char *sni);
/* 1 when the peer presented a certificate that trust validates and that
 * names domain (subjectAltName dNSName, RFC 6125); else 0 with the reason
 * in why. */
int cw_stream_peer_cert_check(const struct cw_stream *s, const char *domain, char *why,
                              size_t whylen);
/* "TLSv1.3" and the like once the handshake is done; NULL before, or plain. */
const char *cw_stream_tls_version(const struct cw_stream *s);

#endif
