/* test_tls_sni.c - common/stream.c server TLS contexts with several
 * certificates: which names they cover (RFC 6125), status info, load
 * errors, the certificate a handshake gets by SNI, session resumption across
 * the SNI switch and reference counting over a reload, against an OpenSSL
 * client in a thread. A test CA and certificates are made by the openssl
 * binary in a temp dir at test time:
 *   a     CA-signed, SAN a.example.test, *.wild.example.test
 *   b     CA-signed, CN cn-b.example.test, SAN b.example.test, 192.0.2.10,
 *         2001:db8::10
 *   self  self-signed, CN cn-only.example.test, no SAN */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "common/addr.h"
#include "common/stream.h"

#define DAY 86400

/* ---- fixtures: temp dir, certificates, leak check ---- */

static const char *tmpdir;

/* tmpdir/name; the last eight results stay valid. */
static const char *tp(const char *name)
{
    static char bufs[8][160];
    static unsigned next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd) - 32, fmt, ap);
    va_end(ap);
    CHECK(n > 0 && (size_t)n < sizeof(cmd) - 32);
    memmove(cmd + 1, cmd, (size_t)n + 1);   /* the whole command list quiet */
    cmd[0] = '(';
    strcat(cmd, ") >/dev/null 2>&1");
    if (system(cmd) != 0)
        FAIL("command failed: %s", cmd);
}

/* A P-256 key and a 2-day certificate signed by the test CA. */
static void make_leaf(const char *name, const char *cn, const char *san, int serial)
{
    char ext[64], csr[64];
    FILE *f;

    snprintf(ext, sizeof(ext), "%s.ext", name);
    snprintf(csr, sizeof(csr), "%s.csr", name);
    f = fopen(tp(ext), "w");
    CHECK(f != NULL);
    fprintf(f, "subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
               "extendedKeyUsage=serverAuth\n", san);
    CHECK_EQ(fclose(f), 0);
    sh("cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-subj '/CN=%s' -keyout %s.key -out %s && "
       "openssl x509 -req -in %s -CA ca.pem -CAkey ca.key -set_serial %d -days 2 "
       "-extfile %s -out %s.pem",
       tmpdir, cn, name, csr, csr, serial, ext, name);
}

static void setup(void)
{
    tmpdir = cw_test_tmpdir("sni");
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-days 2 -subj '/CN=Causeway Test CA' -keyout ca.key -out ca.pem", tmpdir);
    make_leaf("a", "a.example.test", "DNS:a.example.test,DNS:*.wild.example.test", 2);
    make_leaf("b", "cn-b.example.test", "DNS:b.example.test,IP:192.0.2.10,IP:2001:db8::10", 3);
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-days 2 -subj /CN=cn-only.example.test -keyout self.key -out self.pem", tmpdir);
}

static void teardown(void)
{
    cw_test_done();
}

/* A context from the named certificates ("a", "b", "self"), NULL-ended;
 * the first is the default. */
static struct cw_tls_ctx *ctx_of(const char *first, ...)
{
    char cert[64], key[64], err[512];
    struct cw_tls_ctx *ctx;
    const char *name;
    va_list ap;

    snprintf(cert, sizeof(cert), "%s.pem", first);
    snprintf(key, sizeof(key), "%s.key", first);
    ctx = cw_tls_ctx_create_server(tp(cert), tp(key), err, sizeof(err));
    if (!ctx)
        FAIL("cw_tls_ctx_create_server %s: %s", first, err);
    va_start(ap, first);
    while ((name = va_arg(ap, const char *)) != NULL) {
        snprintf(cert, sizeof(cert), "%s.pem", name);
        snprintf(key, sizeof(key), "%s.key", name);
        if (cw_tls_ctx_add_cert(ctx, tp(cert), tp(key), err, sizeof(err)) != 0)
            FAIL("cw_tls_ctx_add_cert %s: %s", name, err);
    }
    va_end(ap);
    return ctx;
}

static X509 *load_cert(const char *name)
{
    char file[64];
    FILE *f;
    X509 *x;

    snprintf(file, sizeof(file), "%s.pem", name);
    f = fopen(tp(file), "r");
    CHECK(f != NULL);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    CHECK(x != NULL);
    return x;
}

/* ---- names, info, errors ---- */

TEST(tls_sni_covers)
{
    struct cw_tls_ctx *ctx, *self;

    setup();
    ctx = ctx_of("a", "b", NULL);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "a.example.test"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "A.EXAMPLE.TEST"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "b.example.test"), 1);   /* not the default */
    CHECK_EQ(cw_tls_ctx_covers(ctx, "b.example.test."), 1);  /* absolute form */
    /* RFC 6125 6.4.3: the wildcard is exactly one left-most label */
    CHECK_EQ(cw_tls_ctx_covers(ctx, "x.wild.example.test"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "X.Wild.Example.TEST"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "y.x.wild.example.test"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "wild.example.test"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "*.wild.example.test"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "example.test"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "c.example.test"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "a.example.test.evil"), 0);
    /* IP literals against iPAddress SANs only */
    CHECK_EQ(cw_tls_ctx_covers(ctx, "192.0.2.10"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "192.0.2.11"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "2001:db8::10"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "[2001:db8::10]"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "2001:db8:0:0:0:0:0:10"), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "2001:db8::11"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "[192.0.2.10]"), 0);
    /* the CN is never consulted, with SANs (b) or without (self) */
    CHECK_EQ(cw_tls_ctx_covers(ctx, "cn-b.example.test"), 0);
    self = ctx_of("self", NULL);
    CHECK_EQ(cw_tls_ctx_covers(self, "cn-only.example.test"), 0);
    /* malformed */
    CHECK_EQ(cw_tls_ctx_covers(ctx, ""), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "."), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, NULL), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "[]"), 0);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "[b.example.test]"), 0);
    cw_tls_ctx_destroy(self);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

TEST(tls_sni_cert_info)
{
    struct cw_tls_ctx *ctx;
    char sans[256];
    time_t now = time(NULL), na = 0;

    setup();
    ctx = ctx_of("a", "b", "self", NULL);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 3);
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 0, sans, sizeof(sans), &na), 0);
    CHECK_STR(sans, "a.example.test, *.wild.example.test");
    if (na < now + 2 * DAY - 600 || na > now + 2 * DAY + 600)
        FAIL("notAfter %lld, want about now + 2 days (%lld)", (long long)na,
             (long long)(now + 2 * DAY));
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 1, sans, sizeof(sans), NULL), 0);
    CHECK_STR(sans, "b.example.test, 192.0.2.10, 2001:db8::10");
    na = 0;
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 2, sans, sizeof(sans), &na), 0);
    CHECK_STR(sans, "");
    CHECK(na > now + DAY && na < now + 3 * DAY);
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 3, sans, sizeof(sans), &na), -1);
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 0, NULL, 0, NULL), 0);
    /* too small a buffer: cut between names when there is room, else inside */
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 0, sans, 20, NULL), 0);
    CHECK_STR(sans, "a.example.test, ...");
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 0, sans, 10, NULL), 0);
    CHECK_STR(sans, "a.exam...");
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 1, sans, 24, NULL), 0);
    CHECK_STR(sans, "b.example.test, ...");
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 1, sans, 18, NULL), 0);
    CHECK_STR(sans, "b.example.test...");
    CHECK_EQ(cw_tls_ctx_cert_info(ctx, 0, sans, 2, NULL), 0);
    CHECK_STR(sans, ".");
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* Failures name the file and the reason, and leave the context as it was. */
TEST(tls_sni_add_cert_errors)
{
    struct cw_tls_ctx *ctx;
    char err[512];

    setup();
    ctx = ctx_of("a", NULL);
    err[0] = 0;
    CHECK_EQ(cw_tls_ctx_add_cert(ctx, tp("b.pem"), tp("self.key"), err, sizeof(err)), -1);
    if (!strstr(err, tp("self.key")) || !strstr(err, "does not match") ||
        !strstr(err, tp("b.pem")))
        FAIL("mismatch message: %s", err);
    err[0] = 0;
    CHECK_EQ(cw_tls_ctx_add_cert(ctx, tp("missing.pem"), tp("b.key"), err, sizeof(err)), -1);
    if (!strstr(err, tp("missing.pem")) || !strstr(err, "certificate") ||
        !strstr(err, "No such file"))
        FAIL("missing-file message: %s", err);
    err[0] = 0;
    CHECK_EQ(cw_tls_ctx_add_cert(ctx, tp("b.pem"), tp("missing.key"), err, sizeof(err)), -1);
    if (!strstr(err, tp("missing.key")) || !strstr(err, "private key"))
        FAIL("missing-key message: %s", err);
    err[0] = 0;
    CHECK_EQ(cw_tls_ctx_add_cert(ctx, tp("b.key"), tp("b.key"), err, sizeof(err)), -1);
    if (!strstr(err, tp("b.key")) || !strstr(err, "no PEM certificate"))
        FAIL("no-certificate message: %s", err);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 1);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "b.example.test"), 0);
    CHECK_EQ(cw_tls_ctx_add_cert(ctx, tp("b.pem"), tp("b.key"), err, sizeof(err)), 0);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 2);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "b.example.test"), 1);
    CHECK_EQ(ERR_peek_error(), 0);   /* nothing left on OpenSSL's error queue */
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* A configuration's list in either layout; a bad entry fails the whole
 * list, naming its file, and frees what was built (LSan). */
TEST(tls_sni_create_server_n)
{
    char cert[2][1024], key[2][1024], pair[2][2][512], err[512];
    struct cw_tls_ctx *ctx;

    setup();
    snprintf(cert[0], sizeof(cert[0]), "%s", tp("a.pem"));
    snprintf(key[0], sizeof(key[0]), "%s", tp("a.key"));
    snprintf(cert[1], sizeof(cert[1]), "%s", tp("b.pem"));
    snprintf(key[1], sizeof(key[1]), "%s", tp("b.key"));
    ctx = cw_tls_ctx_create_server_n(cert[0], key[0], sizeof(cert[0]), 2, err, sizeof(err));
    if (!ctx)
        FAIL("two certificates: %s", err);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 2);
    CHECK_EQ(cw_tls_ctx_covers(ctx, "b.example.test"), 1);
    cw_tls_ctx_destroy(ctx);
    snprintf(pair[0][0], sizeof(pair[0][0]), "%s", tp("a.pem"));
    snprintf(pair[0][1], sizeof(pair[0][1]), "%s", tp("a.key"));
    snprintf(pair[1][0], sizeof(pair[1][0]), "%s", tp("b.pem"));
    snprintf(pair[1][1], sizeof(pair[1][1]), "%s", tp("self.key"));
    err[0] = 0;
    CHECK(cw_tls_ctx_create_server_n(pair[0][0], pair[0][1], sizeof(pair[0]), 2, err,
                                     sizeof(err)) == NULL);
    if (!strstr(err, tp("self.key")) || !strstr(err, "does not match"))
        FAIL("the second pair's mismatch: %s", err);
    ctx = cw_tls_ctx_create_server_n(pair[0][0], pair[0][1], sizeof(pair[0]), 1, err, sizeof(err));
    if (!ctx)
        FAIL("the first pair alone: %s", err);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 1);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* References from several threads at once; the last drop frees (LSan). */
#define REF_THREADS 4
#define REF_ROUNDS 20000

static void *ref_main(void *arg)
{
    struct cw_tls_ctx *ctx = arg;

    for (int i = 0; i < REF_ROUNDS; i++)
        CHECK(cw_tls_ctx_ref(ctx) == ctx);
    for (int i = 0; i < REF_ROUNDS; i++)
        cw_tls_ctx_destroy(ctx);
    return NULL;
}

TEST(tls_sni_ctx_refs_threads)
{
    pthread_t t[REF_THREADS];
    struct cw_tls_ctx *ctx;

    setup();
    ctx = ctx_of("a", "b", NULL);
    for (int i = 0; i < REF_THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, ref_main, ctx), 0);
    for (int i = 0; i < REF_THREADS; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK_EQ(cw_tls_ctx_cert_count(ctx), 2);   /* still ours */
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* ---- the server: a uv echo server on 127.0.0.1 ---- */

struct srv {
    uv_loop_t loop;
    uv_tcp_t listener;
    int port;
    struct cw_tls_ctx *tls;      /* accepts with this; the test's reference */
    struct cw_tls_ctx *reload;   /* non-NULL: after the first accept, drop
                                    tls (its stream still open) and use this */
    int expect;                  /* connections before the listener closes */
    int accepted, closes, close_err, bytes;
    char sni[8][64];             /* cw_stream_sni at each on_data, "-" for NULL */
    int nsni;
};

static void srv_on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct srv *sv = cw_stream_data(s);
    const char *sni = cw_stream_sni(s);

    CHECK(cw_stream_is_tls(s));
    if (sv->nsni < 8)
        snprintf(sv->sni[sv->nsni++], sizeof(sv->sni[0]), "%s", sni ? sni : "-");
    sv->bytes += (int)n;
    CHECK_EQ(cw_stream_write(s, p, n), 0);
}

static void srv_on_close(struct cw_stream *s, int err)
{
    struct srv *sv = cw_stream_data(s);

    sv->closes++;
    if (err && !sv->close_err)
        sv->close_err = err;
}

static const struct cw_stream_cbs srv_cbs = {
    .on_data = srv_on_data,
    .on_close = srv_on_close,
};

static void srv_on_connection(uv_stream_t *l, int status)
{
    struct srv *sv = l->data;

    CHECK_EQ(status, 0);
    CHECK(cw_stream_accept(l, sv->tls, &srv_cbs, sv) != NULL);
    sv->accepted++;
    if (sv->reload) {
        /* Before this stream's handshake even starts: its SNI callback
         * runs on a context only the stream holds a reference to. */
        cw_tls_ctx_destroy(sv->tls);
        sv->tls = sv->reload;   /* transferred */
        sv->reload = NULL;
    }
    if (sv->accepted == sv->expect)
        uv_close((uv_handle_t *)l, NULL);
}

static void srv_start(struct srv *sv, struct cw_tls_ctx *tls, int expect)
{
    struct sockaddr_in sin;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    memset(sv, 0, sizeof(*sv));
    sv->tls = tls;
    sv->expect = expect;
    CHECK_EQ(uv_loop_init(&sv->loop), 0);
    CHECK_EQ(uv_tcp_init(&sv->loop, &sv->listener), 0);
    sv->listener.data = sv;
    CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    CHECK_EQ(uv_tcp_bind(&sv->listener, (struct sockaddr *)&sin, 0), 0);
    CHECK_EQ(uv_listen((uv_stream_t *)&sv->listener, 8, srv_on_connection), 0);
    CHECK_EQ(uv_tcp_getsockname(&sv->listener, (struct sockaddr *)&ss, &len), 0);
    sv->port = cw_addr_port((struct sockaddr *)&ss);
    CHECK(sv->port > 0);
}

/* ---- the client: blocking OpenSSL in a thread ---- */

struct conn {
    /* input */
    const char *sni;           /* NULL: send none */
    int check_host;            /* verify the certificate covers sni */
    int max_proto;             /* 0: library default (TLS 1.3) */
    int resume;                /* 1 + index of the connection whose session to offer */
    int keep_open;             /* finish after all the others */
    /* output */
    int fd;
    SSL *ssl;
    X509 *peer;
    SSL_SESSION *sess;
    int reused, echoes;
    char version[16];
};

struct client {
    int port;
    struct conn *conns;
    int n;
    char err[512];
};

static int client_fail(struct client *c, int i, const char *what, SSL *ssl, int r)
{
    unsigned long e = ERR_get_error();
    char reason[256] = "";

    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(c->err, sizeof(c->err), "connection %d: %s: ssl error %d %s", i, what,
             ssl ? SSL_get_error(ssl, r) : 0, reason);
    ERR_clear_error();
    return -1;
}

/* "ping" there and back. */
static int conn_echo(struct client *c, int i)
{
    struct conn *k = &c->conns[i];
    char buf[16];
    int r, got = 0;

    r = SSL_write(k->ssl, "ping", 4);
    if (r != 4)
        return client_fail(c, i, "write", k->ssl, r);
    while (got < 4) {
        r = SSL_read(k->ssl, buf + got, (int)sizeof(buf) - got);
        if (r <= 0)
            return client_fail(c, i, "read", k->ssl, r);
        got += r;
    }
    if (got != 4 || memcmp(buf, "ping", 4) != 0)
        return client_fail(c, i, "echo differs", NULL, 0);
    k->echoes++;
    return 0;
}

static int conn_open(struct client *c, SSL_CTX *cc, int i)
{
    struct conn *k = &c->conns[i];
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
    struct timeval tv = { .tv_sec = 5 };
    int r;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    k->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(k->fd >= 0);
    CHECK_EQ(setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    CHECK_EQ(setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    CHECK_EQ(connect(k->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    k->ssl = SSL_new(cc);
    CHECK(k->ssl != NULL);
    if (k->max_proto)
        CHECK_EQ(SSL_set_max_proto_version(k->ssl, k->max_proto), 1);
    if (k->sni)
        CHECK_EQ(SSL_set_tlsext_host_name(k->ssl, k->sni), 1);
    if (k->check_host)
        CHECK_EQ(SSL_set1_host(k->ssl, k->sni), 1);
    if (k->resume) {
        SSL_SESSION *sess = c->conns[k->resume - 1].sess;

        CHECK(sess != NULL);
        CHECK(SSL_SESSION_is_resumable(sess));
        CHECK(SSL_SESSION_has_ticket(sess));   /* resumes by ticket, not session ID */
        CHECK_EQ(SSL_set_session(k->ssl, sess), 1);
    }
    CHECK_EQ(SSL_set_fd(k->ssl, k->fd), 1);
    ERR_clear_error();
    r = SSL_connect(k->ssl);
    if (r != 1)
        return client_fail(c, i, "handshake", k->ssl, r);
    k->peer = SSL_get1_peer_certificate(k->ssl);
    k->reused = SSL_session_reused(k->ssl);
    snprintf(k->version, sizeof(k->version), "%s", SSL_get_version(k->ssl));
    /* The echo also reads the TLS 1.3 tickets that follow the handshake. */
    if (conn_echo(c, i) < 0)
        return -1;
    k->sess = SSL_get1_session(k->ssl);
    return 0;
}

/* close_notify both ways, then the socket: a clean close on both sides. */
static int conn_finish(struct client *c, int i)
{
    struct conn *k = &c->conns[i];
    char buf[16];
    int r;

    r = SSL_shutdown(k->ssl);
    if (r < 0)
        return client_fail(c, i, "shutdown", k->ssl, r);
    r = SSL_read(k->ssl, buf, (int)sizeof(buf));
    if (r > 0 || SSL_get_error(k->ssl, r) != SSL_ERROR_ZERO_RETURN)
        return client_fail(c, i, "waiting for close_notify", k->ssl, r);
    SSL_free(k->ssl);
    k->ssl = NULL;
    close(k->fd);
    k->fd = -1;
    return 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    int i;

    CHECK(cc != NULL);
    CHECK_EQ(SSL_CTX_load_verify_locations(cc, tp("ca.pem"), NULL), 1);
    CHECK_EQ(SSL_CTX_load_verify_locations(cc, tp("self.pem"), NULL), 1);
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    for (i = 0; i < c->n; i++) {
        if (conn_open(c, cc, i) < 0)
            goto out;
        if (!c->conns[i].keep_open && conn_finish(c, i) < 0)
            goto out;
    }
    /* The connections kept open still work, then close cleanly. */
    for (i = 0; i < c->n; i++)
        if (c->conns[i].keep_open && (conn_echo(c, i) < 0 || conn_finish(c, i) < 0))
            goto out;
out:
    for (i = 0; i < c->n; i++) {
        if (c->conns[i].ssl) {   /* after a failure: just hang up */
            SSL_free(c->conns[i].ssl);
            close(c->conns[i].fd);
            c->conns[i].ssl = NULL;
        }
    }
    SSL_CTX_free(cc);
    return NULL;
}

/* Runs the server loop until every connection and the listener closed,
 * while the client thread makes the connections in order. */
static void run_pair(struct srv *sv, struct conn *conns, int n)
{
    struct client c = { .port = sv->port, .conns = conns, .n = n };
    pthread_t t;

    CHECK_EQ(pthread_create(&t, NULL, client_main, &c), 0);
    CHECK_EQ(uv_run(&sv->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(uv_loop_close(&sv->loop), 0);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv->accepted, n);
    CHECK_EQ(sv->closes, n);
    if (sv->close_err)
        FAIL("a stream closed with %s", cw_stream_strerror(sv->close_err));
}

static void check_peer(const struct conn *k, const char *want)
{
    X509 *x = load_cert(want);

    CHECK(k->peer != NULL);
    if (X509_cmp(k->peer, x) != 0)
        FAIL("SNI %s: not the %s certificate", k->sni ? k->sni : "(none)", want);
    X509_free(x);
}

static void conns_free(struct conn *conns, int n)
{
    for (int i = 0; i < n; i++) {
        X509_free(conns[i].peer);
        SSL_SESSION_free(conns[i].sess);
    }
}

/* The first certificate covering the SNI name; else the default. */
TEST(tls_sni_handshake_selects_certificate)
{
    struct conn conns[] = {
        { .sni = "b.example.test", .check_host = 1 },
        { .sni = NULL },
        { .sni = "x.wild.example.test", .check_host = 1 },
        { .sni = "unknown.example.test" },
        { .sni = "B.Example.Test", .check_host = 1 },
        { .sni = "b.example.test", .check_host = 1, .max_proto = TLS1_2_VERSION },
    };
    int n = (int)(sizeof(conns) / sizeof(conns[0]));
    struct cw_tls_ctx *ctx;
    struct srv sv;

    setup();
    ctx = ctx_of("self", "a", "b", NULL);
    srv_start(&sv, ctx, n);
    run_pair(&sv, conns, n);
    check_peer(&conns[0], "b");
    check_peer(&conns[1], "self");
    check_peer(&conns[2], "a");
    check_peer(&conns[3], "self");
    check_peer(&conns[4], "b");
    check_peer(&conns[5], "b");
    CHECK_STR(conns[0].version, "TLSv1.3");
    CHECK_STR(conns[5].version, "TLSv1.2");
    for (int i = 0; i < n; i++)
        CHECK_EQ(conns[i].reused, 0);
    CHECK_EQ(sv.bytes, 4 * n);
    /* what the server saw, as sent (one ping each) */
    CHECK_EQ(sv.nsni, n);
    for (int i = 0; i < n; i++)
        CHECK_STR(sv.sni[i], conns[i].sni ? conns[i].sni : "-");
    conns_free(conns, n);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* A ticket issued after the switch to b (and one under the default)
 * resumes; proto 0 is TLS 1.3, else TLS 1.2 (RFC 5077 tickets). */
static void check_resume(int max_proto)
{
    struct conn conns[] = {
        { .sni = "b.example.test", .check_host = 1, .max_proto = max_proto },
        { .sni = "b.example.test", .check_host = 1, .max_proto = max_proto, .resume = 1 },
        { .sni = NULL, .max_proto = max_proto },
        { .sni = NULL, .max_proto = max_proto, .resume = 3 },
    };
    int n = (int)(sizeof(conns) / sizeof(conns[0]));
    struct cw_tls_ctx *ctx;
    struct srv sv;

    setup();
    ctx = ctx_of("self", "a", "b", NULL);
    srv_start(&sv, ctx, n);
    run_pair(&sv, conns, n);
    CHECK_EQ(conns[0].reused, 0);
    CHECK_EQ(conns[1].reused, 1);
    CHECK_EQ(conns[2].reused, 0);
    CHECK_EQ(conns[3].reused, 1);
    check_peer(&conns[1], "b");
    check_peer(&conns[3], "self");
    CHECK_STR(conns[1].version, max_proto ? "TLSv1.2" : "TLSv1.3");
    conns_free(conns, n);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

TEST(tls_sni_resume_tls13)
{
    check_resume(0);
}

TEST(tls_sni_resume_tls12)
{
    check_resume(TLS1_2_VERSION);
}

/* A reload: the first stream is accepted with ctx1, then ctx1 is destroyed
 * (before that stream's handshake) and later connections use ctx2. The old
 * stream still gets ctx1's b certificate by SNI, keeps echoing while the
 * new one gets ctx2's, and closes cleanly; ctx1's memory goes with it
 * (ASan: no use after free; LSan: no leak). */
TEST(tls_sni_ctx_destroy_while_open)
{
    struct conn conns[] = {
        { .sni = "b.example.test", .check_host = 1, .keep_open = 1 },
        { .sni = "b.example.test" },
    };
    struct cw_tls_ctx *ctx1, *ctx2;
    struct srv sv;

    setup();
    ctx1 = ctx_of("a", "b", NULL);
    ctx2 = ctx_of("self", NULL);
    srv_start(&sv, ctx1, 2);
    sv.reload = ctx2;
    ctx1 = ctx2 = NULL;   /* transferred: srv_on_connection drops ctx1 */
    run_pair(&sv, conns, 2);
    check_peer(&conns[0], "b");
    check_peer(&conns[1], "self");
    CHECK_EQ(conns[0].echoes, 2);
    CHECK_EQ(sv.bytes, 4 * 3);
    CHECK(sv.reload == NULL);
    conns_free(conns, 2);
    cw_tls_ctx_destroy(sv.tls);   /* ctx2 */
    teardown();
}
