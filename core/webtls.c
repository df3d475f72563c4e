/* webtls.c - HTTPS to the webbridge: the TLS client that a forwarded
 * connection's target side runs when [tunnel] webbridge-tls is on (a
 * meeting server's Web Bridge 3 listens on HTTPS only).
 *
 * OpenSSL works on memory BIOs; splice.c moves the bytes (it reads the
 * socket into webtls__feed, writes what webtls__out holds, and takes the
 * plaintext with webtls__read), so back-pressure stays where it was.
 *
 * The webbridge's certificate must chain to a CA in webbridge-ca (or the
 * system's store when that is unset) and name the guest account client URI,
 * the name the edge's web proxy sends as Host and this side sends as SNI. A
 * handshake that fails says why in words an operator can act on, and the
 * connection goes on to the next address as any failed connect does.
 * Sessions resume: the tunnel keeps the last one the webbridge issued, so a
 * guest's new connection costs the webbridge no full handshake. */
#include "core/tunnel_int.h"

#include "common/doctor.h"
#include "common/log.h"
#include "common/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct webtls {
    SSL *ssl;
    BIO *rbio, *wbio;           /* owned by ssl */
    struct core_tunnel *t;
    int up;                     /* the handshake is done */
    int verify_err;             /* the first X509_V_ERR_* the chain check saw */
    char names[200];            /* the leaf's names, when the name check failed */
    char issuer[200];           /* the issuer no CA was found for */
};

/* Empties OpenSSL's error queue; a clear walks every slot, so only when
 * something is in it (the per-request calls find it empty). */
static void err_clear(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* Notes the first failure of the chain check for the log line; the
 * handshake then fails with it (SSL_VERIFY_PEER). */
static int on_verify(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct webtls *w = SSL_get_app_data(ssl);
    X509 *x = X509_STORE_CTX_get_current_cert(xs);
    int e = X509_STORE_CTX_get_error(xs);

    if (ok || !w || w->verify_err)
        return ok;
    w->verify_err = e;
    if (x && (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
        cw_x509_sans(x, w->names, sizeof(w->names));
        if (!w->names[0])
            snprintf(w->names, sizeof(w->names), "no subjectAltName");
    }
    if (x)
        X509_NAME_oneline(X509_get_issuer_name(x), w->issuer, sizeof(w->issuer));
    return ok;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct webtls *w = SSL_get_app_data(ssl);

    if (!w)
        return 0;
    SSL_SESSION_free(w->t->web_session);
    w->t->web_session = sess;   /* transferred: returning 1 keeps the reference */
    return 1;
}

SSL_CTX *webtls__ctx_create(const struct core_tunnel_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char e[256];
    int ok;

    if (!ctx) {
        snprintf(err, errlen, "out of memory for a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    err_clear();
    if (cfg->webbridge_ca[0] && access(cfg->webbridge_ca, R_OK) < 0) {
        snprintf(err, errlen, "webbridge-ca %s: %s; give a PEM file of the CAs that sign the "
                 "webbridge's certificate", cfg->webbridge_ca, strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->webbridge_ca[0])
        ok = SSL_CTX_load_verify_locations(ctx, cfg->webbridge_ca, NULL) == 1;
    else
        ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
    if (!ok) {
        ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
        err_clear();
        snprintf(err, errlen, "webbridge-ca %s: no PEM certificate in it (%s); give a PEM file of "
                 "the CAs that sign the webbridge's certificate",
                 cfg->webbridge_ca[0] ? cfg->webbridge_ca : "(the system's store)", e);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int core_tunnel_check_tls(const struct core_tunnel_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx;

    if (!cfg->webbridge_tls)
        return 0;
    if (!(ctx = webtls__ctx_create(cfg, err, errlen)))
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

int core_tunnel_reload_tls(struct core_tunnel *t, char *err, size_t errlen)
{
    SSL_CTX *ctx;

    if (!t->web_tls)
        return 0;
    if (!(ctx = webtls__ctx_create(t->cfg, err, errlen)))
        return -1;
    SSL_CTX_free(t->web_tls);   /* connections made with it hold references of their own */
    t->web_tls = ctx;
    SSL_SESSION_free(t->web_session);
    t->web_session = NULL;
    return 1;
}

/* Output that OpenSSL produced, for splice.c to write. */
const uint8_t *webtls__out(struct webtls *w, size_t *n)
{
    char *p = NULL;
    long len = BIO_get_mem_data(w->wbio, &p);

    *n = len > 0 ? (size_t)len : 0;
    return (const uint8_t *)p;
}

void webtls__out_clear(struct webtls *w)
{
    (void)BIO_reset(w->wbio);
}

struct webtls *webtls__new(struct core_tunnel *t)
{
    const char *host = t->cfg->guest_uri;
    struct webtls *w = calloc(1, sizeof(*w));
    unsigned char bin[16];
    int literal;

    if (!w)
        return NULL;
    w->t = t;
    w->ssl = SSL_new(t->web_tls);
    w->rbio = BIO_new(BIO_s_mem());
    w->wbio = BIO_new(BIO_s_mem());
    if (!w->ssl || !w->rbio || !w->wbio) {
        BIO_free(w->rbio);
        BIO_free(w->wbio);
        SSL_free(w->ssl);
        free(w);
        return NULL;
    }
    BIO_set_mem_eof_return(w->rbio, -1);    /* empty means "wait", not EOF */
    SSL_set_bio(w->ssl, w->rbio, w->wbio);  /* transferred */
    SSL_set_app_data(w->ssl, w);
    SSL_set_connect_state(w->ssl);
    literal = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
    if (literal) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(w->ssl), host);
    } else {
        SSL_set_tlsext_host_name(w->ssl, host);   /* RFC 6066: names only */
        SSL_set1_host(w->ssl, host);
        SSL_set_hostflags(w->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (t->web_session)
        SSL_set_session(w->ssl, t->web_session);
    err_clear();
    (void)SSL_do_handshake(w->ssl);     /* the ClientHello, into the output */
    err_clear();
    return w;
}

void webtls__free(struct webtls *w)
{
    if (!w)
        return;
    SSL_free(w->ssl);
    free(w);
}

/* A full handshake showed the webbridge's certificate: when it expires
 * (status, and the fault webbridge.expiry.*). */
static void note_expiry(struct webtls *w)
{
    X509 *leaf = SSL_get0_peer_certificate(w->ssl);
    time_t end = leaf ? cw_x509_not_after(leaf) : 0;

    if (end)
        w->t->web_not_after = end;
}

/* Why the handshake failed, for the connect-failure line. */
static void failure(struct webtls *w, unsigned long e, char *why, size_t whylen)
{
    const struct core_tunnel_config *c = w->t->cfg;
    const char *ca = c->webbridge_ca[0] ? c->webbridge_ca : "the system's CA store";
    char r[200] = "";

    switch (w->verify_err) {
    case 0:
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        snprintf(why, whylen, "TLS: the webbridge's certificate does not name %s (it names %s); "
                 "give the webbridge a certificate for the guest account client URI", c->guest_uri,
                 w->names);
        return;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        snprintf(why, whylen, "TLS: the webbridge's certificate (issuer %s) is not signed by a CA "
                 "in %s; add that CA to webbridge-ca", w->issuer, ca);
        return;
    default:
        snprintf(why, whylen, "TLS: the webbridge's certificate was refused: %s (checked against "
                 "%s)", X509_verify_cert_error_string(w->verify_err), ca);
        return;
    }
    if (e)
        ERR_error_string_n(e, r, sizeof(r));
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ||
                                          ERR_GET_REASON(e) == SSL_R_PACKET_LENGTH_TOO_LONG))
        snprintf(why, whylen, "TLS: the webbridge did not answer in TLS (%s); if it serves plain "
                 "HTTP on port %u, set webbridge-tls = no", r, c->webbridge_port);
    else
        snprintf(why, whylen, "TLS handshake with the webbridge failed: %s", r[0] ? r : "no reason");
}

int webtls__feed(struct webtls *w, const uint8_t *p, size_t n, char *why, size_t whylen)
{
    int rc, e;

    if (n && BIO_write(w->rbio, p, (int)n) != (int)n) {
        snprintf(why, whylen, "out of memory");
        return WEBTLS_FAIL;
    }
    if (w->up)
        return WEBTLS_UP;
    err_clear();
    rc = SSL_do_handshake(w->ssl);
    if (rc == 1) {
        w->up = 1;
        w->t->web_handshakes++;
        if (SSL_session_reused(w->ssl))
            w->t->web_resumed++;
        else
            note_expiry(w);
        return WEBTLS_UP;
    }
    e = SSL_get_error(w->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return WEBTLS_AGAIN;
    failure(w, ERR_peek_last_error(), why, whylen);
    err_clear();
    return WEBTLS_FAIL;
}

void webtls__closed_why(const struct webtls *w, char *why, size_t whylen)
{
    snprintf(why, whylen, "TLS: the webbridge closed the connection during the handshake; if it "
             "serves plain HTTP on port %u, set webbridge-tls = no", w->t->cfg->webbridge_port);
}

int webtls__pending(const struct webtls *w)
{
    return w->up && (SSL_pending(w->ssl) > 0 || BIO_ctrl_pending(w->rbio) > 0);
}

ssize_t webtls__read(struct webtls *w, uint8_t *buf, size_t cap, int *eof)
{
    size_t got = 0, k;
    const char *r;
    int e;

    *eof = 0;
    err_clear();
    while (got < cap) {
        if (SSL_read_ex(w->ssl, buf + got, cap - got, &k) == 1) {
            got += k;
            continue;
        }
        e = SSL_get_error(w->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN) {
            *eof = 1;   /* close_notify */
            break;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        r = ERR_reason_error_string(ERR_peek_last_error());
        CW_INFO("tunnel", "TLS with the webbridge (%s) failed after the handshake: %s",
                w->t->cfg->guest_uri, r ? r : "no reason");
        err_clear();
        return got ? (ssize_t)got : -1;
    }
    return (ssize_t)got;
}

int webtls__write(struct webtls *w, const uint8_t *p, size_t n)
{
    size_t k;

    err_clear();
    if (n && SSL_write_ex(w->ssl, p, n, &k) != 1) {
        err_clear();
        return -1;
    }
    return 0;
}

void webtls__close_notify(struct webtls *w)
{
    err_clear();
    (void)SSL_shutdown(w->ssl);
    err_clear();
}

/* ---- the doctor's probe: one handshake, as a guest's connection makes it ---------------- */

struct probe {
    struct core_tunnel *t;      /* held (pending_handles) until the probe is freed */
    struct webtls *w;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t timer;
    int handles, decided;
    void (*done)(void *arg, int status, const char *why);
    void *arg;
};

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;

    if (--p->handles)
        return;
    webtls__free(p->w);
    tunnel__handle_closed(p->t);
    free(p);
}

/* Reports once, then lets go of everything. */
static void probe_decide(struct probe *p, int status, const char *why)
{
    if (p->decided)
        return;
    p->decided = 1;
    p->done(p->arg, status, why);
    uv_close((uv_handle_t *)&p->tcp, probe_closed);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void probe_send(struct probe *p)
{
    size_t n;
    const uint8_t *out = webtls__out(p->w, &n);
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);

    /* A ClientHello or a Finished fits a fresh socket's buffer. */
    if (n && uv_try_write((uv_stream_t *)&p->tcp, &b, 1) != (int)n)
        probe_decide(p, UV_EIO, "TLS: could not send the handshake");
    webtls__out_clear(p->w);
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct probe *p = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)p->t->tls_in, SPLICE_UP_BUF);
}

static void probe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct probe *p = st->data;
    char why[400];
    int rc;

    (void)buf;
    if (n == 0 || p->decided)
        return;
    if (n < 0) {
        webtls__closed_why(p->w, why, sizeof(why));
        probe_decide(p, CW_DOCTOR_EPROTO, why);
        return;
    }
    rc = webtls__feed(p->w, p->t->tls_in, (size_t)n, why, sizeof(why));
    probe_send(p);
    if (rc == WEBTLS_UP)
        probe_decide(p, 0, NULL);
    else if (rc == WEBTLS_FAIL)
        probe_decide(p, CW_DOCTOR_EPROTO, why);
}

static void probe_connected(uv_connect_t *req, int status)
{
    struct probe *p = req->data;

    if (status == UV_ECANCELED || p->decided)
        return;
    if (status < 0) {
        probe_decide(p, status, NULL);
        return;
    }
    if (!(p->w = webtls__new(p->t))) {
        probe_decide(p, UV_ENOMEM, NULL);
        return;
    }
    probe_send(p);
    if (!p->decided)
        uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read);
}

static void probe_timeout(uv_timer_t *h)
{
    struct probe *p = h->data;

    probe_decide(p, p->w ? CW_DOCTOR_EPROTO : UV_ETIMEDOUT, p->w ? TARGET_TLS_TIMEOUT_WHY : NULL);
}

int core_tunnel_probe_tls(struct core_tunnel *t, const struct sockaddr *addr,
                          void (*done)(void *arg, int status, const char *why), void *arg)
{
    struct probe *p;

    if (!t->web_tls || !(p = calloc(1, sizeof(*p))))
        return -1;
    p->t = t;
    p->done = done;
    p->arg = arg;
    uv_tcp_init(t->loop, &p->tcp);
    uv_timer_init(t->loop, &p->timer);
    p->tcp.data = p->timer.data = p->conn.data = p;
    p->handles = 2;
    t->pending_handles++;
    uv_timer_start(&p->timer, probe_timeout, TARGET_CONNECT_TIMEOUT_MS, 0);
    if (uv_tcp_connect(&p->conn, &p->tcp, addr, probe_connected) < 0)
        probe_decide(p, UV_EINVAL, NULL);
    return 0;
}
