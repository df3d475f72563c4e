/* test_stream.c - common/stream.c against real clients: a uv echo server on
 * 127.0.0.1, driven by a blocking-socket / OpenSSL client in a thread, with a
 * self-signed certificate made by the openssl binary at test time. */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/stream.h"
#include "common/wbatch.h"

#define MIB (1024 * 1024)
#define HIGH_WATER (64 * 1024)   /* echo server pauses reading above this */

/* ---- fixtures: temp dir, certificates, leak check ---- */

static const char *tmpdir;

static void setup(void)
{
    tmpdir = cw_test_tmpdir("stream");
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* A self-signed P-256 certificate for CN=test.example in tmpdir. */
static void make_cert(const char *cert_name, const char *key_name)
{
    char cmd[1024], cert[128], key[128];

    tmp_path(cert, sizeof(cert), cert_name);
    tmp_path(key, sizeof(key), key_name);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=test.example -keyout '%s' -out '%s' >/dev/null 2>&1",
             key, cert);
    CHECK_EQ(system(cmd), 0);
}

static struct cw_tls_ctx *make_tls_ctx(void)
{
    char cert[128], key[128], err[512];
    struct cw_tls_ctx *ctx;

    make_cert("cert.pem", "key.pem");
    tmp_path(cert, sizeof(cert), "cert.pem");
    tmp_path(key, sizeof(key), "key.pem");
    ctx = cw_tls_ctx_create_server(cert, key, err, sizeof(err));
    if (!ctx)
        FAIL("cw_tls_ctx_create_server: %s", err);
    return ctx;
}

static void teardown(void)
{
    cw_test_done();
}

/* ---- the server under test ---- */

enum srv_mode {
    SRV_ECHO,           /* echo with pause above HIGH_WATER, resume on drain */
    SRV_CLOSE_IN_DATA,  /* write "bye", close from inside the first on_data */
    SRV_GREET_ECHO,     /* write a greeting at accept (before the handshake) */
    SRV_FLOOD_CLOSE,    /* on_data: write 1 MiB, close (to a peer not reading) */
};

struct srv {
    uv_loop_t loop;
    uv_tcp_t listener;
    struct cw_tls_ctx *tls;
    enum srv_mode mode;
    int port;
    /* observations */
    struct cw_stream *stream;
    int accepted, closes, close_err, data_calls, pauses, drains, write_after_close;
    int is_tls;
    size_t bytes_in, max_pending, pending_at_accept;
    struct sockaddr_storage peer, local;
    uint64_t accept_ms, close_call_ms, close_ms;
    size_t pending_at_close;
    atomic_int done;          /* on_close ran: the client may hang up */
    struct cw_wbatch *wb;     /* when use_batch: the stream writes through it */
    struct cw_wbatch_stats bst;
};

/* The next accepted stream writes through a batch (common/wbatch.h). */
static int use_batch;

static void srv_on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct srv *sv = cw_stream_data(s);
    size_t pending;

    CHECK(sv->closes == 0);
    sv->data_calls++;
    sv->bytes_in += n;
    if (sv->mode == SRV_CLOSE_IN_DATA) {
        CHECK_EQ(cw_stream_write(s, "bye", 3), 0);
        cw_stream_close(s);
        sv->write_after_close = cw_stream_write(s, "x", 1);
        cw_stream_close(s);   /* twice is harmless */
        return;
    }
    if (sv->mode == SRV_FLOOD_CLOSE) {
        uint8_t *big = calloc(1, MIB);

        CHECK(big != NULL);
        CHECK_EQ(cw_stream_write(s, big, MIB), 0);
        free(big);
        sv->pending_at_close = cw_stream_pending(s);
        sv->close_call_ms = uv_now(&sv->loop);
        cw_stream_close(s);
        return;
    }
    CHECK_EQ(cw_stream_write(s, p, n), 0);
    pending = cw_stream_pending(s);
    if (pending > sv->max_pending)
        sv->max_pending = pending;
    if (pending > HIGH_WATER) {
        sv->pauses++;
        cw_stream_pause(s);
    }
}

static void srv_on_drain(struct cw_stream *s)
{
    struct srv *sv = cw_stream_data(s);

    CHECK_EQ(cw_stream_pending(s), 0);
    sv->drains++;
    cw_stream_resume(s);
}

static void srv_on_close(struct cw_stream *s, int err)
{
    struct srv *sv = cw_stream_data(s);

    CHECK(s == sv->stream);
    sv->closes++;
    sv->close_err = err;
    sv->close_ms = uv_now(&sv->loop);
    sv->stream = NULL;
    if (sv->wb) {
        cw_wbatch_stats(sv->wb, &sv->bst);
        cw_wbatch_free(sv->wb);
        sv->wb = NULL;
    }
    atomic_store(&sv->done, 1);
}

static const struct cw_stream_cbs srv_cbs = {
    .on_data = srv_on_data,
    .on_close = srv_on_close,
    .on_drain = srv_on_drain,
};

static void srv_on_connection(uv_stream_t *l, int status)
{
    struct srv *sv = l->data;

    CHECK_EQ(status, 0);
    CHECK_EQ(sv->accepted, 0);
    sv->stream = cw_stream_accept(l, sv->tls, &srv_cbs, sv);
    CHECK(sv->stream != NULL);
    sv->accepted++;
    if (use_batch) {
        char why[128];

        sv->wb = cw_wbatch_new(&sv->loop, why, sizeof(why));
        if (!sv->wb)
            FAIL("no io_uring for the write batch: %s", why);
        cw_stream_set_wbatch(sv->stream, sv->wb);
    }
    sv->accept_ms = uv_now(&sv->loop);
    sv->is_tls = cw_stream_is_tls(sv->stream);
    memcpy(&sv->peer, cw_stream_peer(sv->stream), cw_addr_len(cw_stream_peer(sv->stream)));
    memcpy(&sv->local, cw_stream_local(sv->stream), cw_addr_len(cw_stream_local(sv->stream)));
    if (sv->mode == SRV_GREET_ECHO) {
        CHECK_EQ(cw_stream_write(sv->stream, "220 hello\r\n", 11), 0);
        sv->pending_at_accept = cw_stream_pending(sv->stream);
    }
    uv_close((uv_handle_t *)l, NULL);   /* one connection per test */
}

static void srv_start(struct srv *sv, struct cw_tls_ctx *tls, enum srv_mode mode)
{
    struct sockaddr_in sin;
    struct sockaddr_storage ss;
    int len = sizeof(ss), sndbuf = 16384;

    memset(sv, 0, sizeof(*sv));
    sv->tls = tls;
    sv->mode = mode;
    sv->close_err = 1;   /* not called yet */
    CHECK_EQ(uv_loop_init(&sv->loop), 0);
    CHECK_EQ(uv_tcp_init(&sv->loop, &sv->listener), 0);
    sv->listener.data = sv;
    CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    CHECK_EQ(uv_tcp_bind(&sv->listener, (struct sockaddr *)&sin, 0), 0);
    /* Accepted sockets inherit a fixed, small send buffer (no autotuning up
     * to megabytes), so a slow reader fills the stream's queue quickly. */
    CHECK_EQ(uv_send_buffer_size((uv_handle_t *)&sv->listener, &sndbuf), 0);
    CHECK_EQ(uv_listen((uv_stream_t *)&sv->listener, 8, srv_on_connection), 0);
    CHECK_EQ(uv_tcp_getsockname(&sv->listener, (struct sockaddr *)&ss, &len), 0);
    sv->port = cw_addr_port((struct sockaddr *)&ss);
    CHECK(sv->port > 0);
}

/* Runs until the stream and the listener are closed; every handle must be. */
static void srv_run(struct srv *sv)
{
    CHECK_EQ(uv_run(&sv->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(uv_loop_close(&sv->loop), 0);
}

/* ---- the client, in a thread ---- */

struct client {
    /* input */
    int port;
    int tls;
    int max_proto;            /* 0: library default */
    const char *ciphers;      /* NULL: library default */
    const uint8_t *send;
    size_t send_len;
    int half_close;           /* after sending: SHUT_WR / close_notify */
    int rcvbuf;               /* SO_RCVBUF, 0: default */
    atomic_int *hold;         /* non-NULL: after sending, neither read nor
                                 close until *hold is set */
    /* output */
    int local_port;
    int hs_ok;
    char version[32], cipher[64], err[256];
    uint8_t *recv;
    size_t recv_len, recv_cap;
    int eof;                  /* the server closed (cleanly for TLS) */
};

static int wait_fd(int fd, short events)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int r;

    do
        r = poll(&pfd, 1, 5000);
    while (r < 0 && errno == EINTR);
    return r > 0 ? pfd.revents : -1;
}

static void client_append(struct client *c, const uint8_t *p, size_t n)
{
    if (c->recv_len + n > c->recv_cap) {
        c->recv_cap = (c->recv_len + n) * 2;
        c->recv = realloc(c->recv, c->recv_cap);
        CHECK(c->recv != NULL);
    }
    memcpy(c->recv + c->recv_len, p, n);
    c->recv_len += n;
}

static void ssl_errf(struct client *c, const char *what, int e)
{
    unsigned long ee = ERR_get_error();
    char reason[200] = "";

    if (ee)
        ERR_error_string_n(ee, reason, sizeof(reason));
    snprintf(c->err, sizeof(c->err), "%s: ssl error %d %s", what, e, reason);
    ERR_clear_error();
}

static SSL *client_tls(struct client *c, int fd, SSL_CTX **pctx)
{
    char cafile[128];
    SSL_CTX *ctx;
    SSL *ssl;
    int r;

    ctx = SSL_CTX_new(TLS_client_method());
    CHECK(ctx != NULL);
    *pctx = ctx;
    tmp_path(cafile, sizeof(cafile), "cert.pem");
    CHECK_EQ(SSL_CTX_load_verify_locations(ctx, cafile, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->max_proto) {
        SSL_CTX_set_min_proto_version(ctx, 0);
        CHECK_EQ(SSL_CTX_set_max_proto_version(ctx, c->max_proto), 1);
    }
    if (c->ciphers)
        CHECK_EQ(SSL_CTX_set_cipher_list(ctx, c->ciphers), 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ssl = SSL_new(ctx);
    CHECK(ssl != NULL);
    CHECK_EQ(SSL_set1_host(ssl, "test.example"), 1);
    CHECK_EQ(SSL_set_tlsext_host_name(ssl, "test.example"), 1);
    CHECK_EQ(SSL_set_fd(ssl, fd), 1);
    ERR_clear_error();
    r = SSL_connect(ssl);   /* the socket is still blocking here */
    if (r != 1) {
        ssl_errf(c, "connect", SSL_get_error(ssl, r));
        return ssl;
    }
    c->hs_ok = 1;
    snprintf(c->version, sizeof(c->version), "%s", SSL_get_version(ssl));
    snprintf(c->cipher, sizeof(c->cipher), "%s", SSL_get_cipher_name(ssl));
    return ssl;
}

/* Writes while the socket takes bytes and reads only when it does not, so
 * the server's send queue fills and its back-pressure has to work. */
static void client_io(struct client *c, int fd, SSL *ssl)
{
    uint8_t buf[65536];
    size_t sent = 0;
    int wr_shut = 0, want_read = 0;

    CHECK_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    if (c->hold) {
        CHECK_EQ(send(fd, c->send, c->send_len, MSG_NOSIGNAL), (ssize_t)c->send_len);
        for (int i = 0; i < 1000 && !atomic_load(c->hold); i++)
            usleep(10000);
        return;
    }
    for (;;) {
        int can_write = sent < c->send_len && !want_read;
        int ev = can_write ? POLLIN | POLLOUT : POLLIN;
        ssize_t n;

        if (sent == c->send_len && c->half_close && !wr_shut) {
            wr_shut = 1;
            if (ssl)
                (void)SSL_shutdown(ssl);   /* sends close_notify: one small alert */
            else
                CHECK_EQ(shutdown(fd, SHUT_WR), 0);
        }
        if (!(ssl && SSL_pending(ssl) > 0)) {
            ev = wait_fd(fd, (short)ev);
            if (ev < 0) {
                snprintf(c->err, sizeof(c->err), "timeout after %zu sent, %zu received", sent,
                         c->recv_len);
                return;
            }
        } else {
            ev = POLLIN;
        }
        if (can_write && (ev & POLLOUT)) {
            size_t chunk = c->send_len - sent < sizeof(buf) ? c->send_len - sent : sizeof(buf);

            if (ssl) {
                int r = SSL_write(ssl, c->send + sent, (int)chunk);

                if (r > 0) {
                    sent += (size_t)r;
                } else if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
                    want_read = 1;
                } else if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE) {
                    ssl_errf(c, "write", SSL_get_error(ssl, r));
                    return;
                }
            } else {
                n = send(fd, c->send + sent, chunk, MSG_NOSIGNAL);
                if (n > 0)
                    sent += (size_t)n;
                else if (n < 0 && errno != EAGAIN) {
                    snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
                    return;
                }
            }
            continue;   /* keep writing while the socket takes bytes */
        }
        if (!(ev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        want_read = 0;
        if (ssl) {
            int r = SSL_read(ssl, buf, (int)sizeof(buf)), e;

            if (r > 0) {
                client_append(c, buf, (size_t)r);
                continue;
            }
            e = SSL_get_error(ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                continue;
            if (e == SSL_ERROR_ZERO_RETURN)
                c->eof = 1;
            else
                ssl_errf(c, "read", e);
            return;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            client_append(c, buf, (size_t)n);
        } else if (n == 0) {
            c->eof = 1;
            return;
        } else if (errno != EAGAIN) {
            snprintf(c->err, sizeof(c->err), "recv: %s", strerror(errno));
            return;
        }
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int fd;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (c->rcvbuf) /* before connect, so the window is small from the start */
        CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, sizeof(c->rcvbuf)), 0);
    CHECK_EQ(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    c->local_port = cw_addr_port((struct sockaddr *)&ss);
    if (c->tls)
        ssl = client_tls(c, fd, &ctx);
    if (!c->tls || c->hs_ok)
        client_io(c, fd, ssl);
    else /* handshake refused: wait for the server to hang up */
        while (wait_fd(fd, POLLIN) > 0 && recv(fd, (char[64]){ 0 }, 64, 0) > 0)
            ;
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return NULL;
}

/* Runs the server loop while a client thread talks to it. */
static void run_pair(struct srv *sv, struct client *c)
{
    pthread_t t;

    c->port = sv->port;
    CHECK_EQ(pthread_create(&t, NULL, client_main, c), 0);
    srv_run(sv);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n);
    uint32_t x = 2463534242u;

    CHECK(p != NULL);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* What the last check_echo_1mib's server saw. */
static struct cw_wbatch_stats last_bst;

static void check_echo_1mib(int tls)
{
    struct srv sv;
    /* A small receive window makes the server's sends block early. */
    struct client c = { .tls = tls, .send_len = MIB, .half_close = 1, .rcvbuf = 8192 };
    struct cw_tls_ctx *ctx = tls ? make_tls_ctx() : NULL;
    uint8_t *data = pattern(MIB);

    c.send = data;
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.accepted, 1);
    CHECK_EQ(sv.is_tls, tls);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, 0);
    CHECK_EQ(sv.bytes_in, MIB);
    CHECK_EQ(c.recv_len, MIB);
    CHECK_MEM(c.recv, data, MIB);
    CHECK(c.eof);
    /* back-pressure: the queue filled, the reader paused, drains resumed it */
    CHECK(sv.pauses > 0);
    CHECK(sv.drains > 0);
    CHECK(sv.max_pending < HIGH_WATER + 64 * 1024);
    /* addresses captured at accept */
    CHECK_EQ(sv.peer.ss_family, AF_INET);
    CHECK_EQ(cw_addr_port((struct sockaddr *)&sv.peer), c.local_port);
    CHECK_EQ(cw_addr_port((struct sockaddr *)&sv.local), sv.port);
    if (tls)
        CHECK_STR(c.version, "TLSv1.3");
    last_bst = sv.bst;
    free(c.recv);
    free(data);
    cw_tls_ctx_destroy(ctx);
}

TEST(stream_plain_echo_1mib)
{
    setup();
    check_echo_1mib(0);
    teardown();
}

TEST(stream_tls_echo_1mib)
{
    setup();
    check_echo_1mib(1);
    teardown();
}

/* The same through a write batch: the bytes arrive intact and in order,
 * the socket's short sends come back and queue, back-pressure still works. */
static void check_echo_1mib_batched(int tls)
{
    use_batch = 1;
    check_echo_1mib(tls);
    use_batch = 0;
    /* Sent by a flush, or at once when a turn's echo outgrew the batch
     * (which of the two depends on how fast the client writes). */
    CHECK(last_bst.sends + last_bst.settled > 0);
    CHECK(last_bst.submits <= last_bst.sends);
    CHECK(last_bst.short_sends > 0);
}

TEST(stream_plain_echo_1mib_batched)
{
    setup();
    check_echo_1mib_batched(0);
    teardown();
}

TEST(stream_tls_echo_1mib_batched)
{
    setup();
    check_echo_1mib_batched(1);
    teardown();
}

/* on_data writes "bye" and closes; the queued bytes still go out, no
 * on_data follows, and the stream is freed only after on_data returned. */
static void check_close_in_on_data(int tls)
{
    struct srv sv;
    struct client c = { .tls = tls, .send_len = 256 * 1024, .half_close = 1 };
    struct cw_tls_ctx *ctx = tls ? make_tls_ctx() : NULL;
    uint8_t *data = pattern(c.send_len);

    c.send = data;
    srv_start(&sv, ctx, SRV_CLOSE_IN_DATA);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, 0);
    CHECK_EQ(sv.data_calls, 1);
    CHECK_EQ(sv.write_after_close, -1);
    CHECK(c.recv_len >= 3);
    CHECK_MEM(c.recv, "bye", 3);
    CHECK_EQ(c.recv_len, 3);
    free(c.recv);
    free(data);
    cw_tls_ctx_destroy(ctx);
}

TEST(stream_plain_close_in_on_data)
{
    setup();
    check_close_in_on_data(0);
    teardown();
}

TEST(stream_tls_close_in_on_data)
{
    setup();
    check_close_in_on_data(1);
    teardown();
}

/* Batched: "bye" is in the batch when the close begins; it must reach the
 * peer before the FIN (TLS: before close_notify). */
TEST(stream_plain_close_in_on_data_batched)
{
    setup();
    use_batch = 1;
    check_close_in_on_data(0);
    use_batch = 0;
    teardown();
}

TEST(stream_tls_close_in_on_data_batched)
{
    setup();
    use_batch = 1;
    check_close_in_on_data(1);
    use_batch = 0;
    teardown();
}

/* The peer hangs up without a word: on_close(0), no on_data. */
TEST(stream_plain_peer_eof)
{
    struct srv sv;
    struct client c = { .half_close = 1 };

    setup();
    srv_start(&sv, NULL, SRV_ECHO);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, 0);
    CHECK_EQ(sv.data_calls, 0);
    CHECK(c.eof);
    teardown();
}

/* After the handshake the client sends close_notify: on_close(0), and the
 * server answers with its own close_notify. */
TEST(stream_tls_peer_close_notify)
{
    struct srv sv;
    struct client c = { .tls = 1, .half_close = 1 };
    struct cw_tls_ctx *ctx;

    setup();
    ctx = make_tls_ctx();
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK(c.hs_ok);
    CHECK(c.eof);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, 0);
    CHECK_EQ(sv.data_calls, 0);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t n;

    CHECK(f != NULL);
    CHECK(buf != NULL);
    n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Plain HTTP at a TLS listener: on_close(CW_STREAM_ETLS) and one info line
 * naming the peer and OpenSSL's reason. */
TEST(stream_tls_garbage)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: test.example\r\n\r\n";
    struct srv sv;
    struct client c = { .send = (const uint8_t *)req, .send_len = sizeof(req) - 1 };
    struct cw_tls_ctx *ctx;
    char logpath[128], want[128], *log;

    setup();
    ctx = make_tls_ctx();
    tmp_path(logpath, sizeof(logpath), "log");
    CHECK_EQ(cw_log_open(logpath), 0);
    cw_log_set_level(CW_LOG_INFO);
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);
    cw_log_open(NULL);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, CW_STREAM_ETLS);
    CHECK_STR(cw_stream_strerror(sv.close_err), "TLS handshake or record failure");
    CHECK_EQ(sv.data_calls, 0);
    log = slurp(logpath);
    snprintf(want, sizeof(want), " info tls: handshake with 127.0.0.1:%d failed: error:",
             c.local_port);
    if (!strstr(log, want) || !strstr(log, "SSL routines"))
        FAIL("log lacks \"%s\": %s", want, log);
    CHECK(strstr(log, "BEGIN") == NULL);   /* nothing from the key file */
    free(log);
    free(c.recv);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* A client that offers at most TLS 1.1 is refused (SECLEVEL=0 lets
 * OpenSSL 3 offer 1.1 at all); the server reports CW_STREAM_ETLS. */
TEST(stream_tls11_client_refused)
{
    struct srv sv;
    struct client c = { .tls = 1, .max_proto = TLS1_1_VERSION, .ciphers = "DEFAULT:@SECLEVEL=0" };
    struct cw_tls_ctx *ctx;

    setup();
    ctx = make_tls_ctx();
    cw_log_set_level(CW_LOG_WARN);   /* the refusal is expected: keep output clean */
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);
    CHECK(!c.hs_ok);
    /* refused by the server with a protocol_version alert */
    if (!strstr(c.err, "connect") || !strstr(c.err, "protocol version"))
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, CW_STREAM_ETLS);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* A TLS 1.2 client gets an ECDHE AEAD suite and a working stream. */
TEST(stream_tls12_client_works)
{
    struct srv sv;
    struct client c = { .tls = 1, .max_proto = TLS1_2_VERSION, .half_close = 1 };
    struct cw_tls_ctx *ctx;

    c.send = (const uint8_t *)"ping";
    c.send_len = 4;
    setup();
    ctx = make_tls_ctx();
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_STR(c.version, "TLSv1.2");
    CHECK(strncmp(c.cipher, "ECDHE-", 6) == 0);
    CHECK(strstr(c.cipher, "GCM") || strstr(c.cipher, "CHACHA20"));
    CHECK_EQ(c.recv_len, 4);
    CHECK_MEM(c.recv, "ping", 4);
    CHECK_EQ(sv.close_err, 0);
    free(c.recv);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* Bytes written before the handshake ends are held, counted as pending,
 * and sent once it completes. */
TEST(stream_tls_write_before_handshake)
{
    struct srv sv;
    struct client c = { .tls = 1, .half_close = 1 };
    struct cw_tls_ctx *ctx;

    c.send = (const uint8_t *)"x";
    c.send_len = 1;
    setup();
    ctx = make_tls_ctx();
    srv_start(&sv, ctx, SRV_GREET_ECHO);
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.pending_at_accept, 11);
    CHECK_EQ(c.recv_len, 12);
    CHECK_MEM(c.recv, "220 hello\r\nx", 12);
    CHECK_EQ(sv.close_err, 0);
    free(c.recv);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* A client that connects and never sends a ClientHello is closed at the
 * handshake deadline with UV_ETIMEDOUT. */
TEST(stream_tls_handshake_timeout)
{
    struct srv sv;
    struct client c = { 0 };
    struct cw_tls_ctx *ctx;
    uint64_t took;

    setup();
    ctx = make_tls_ctx();
    cw_tls_ctx_set_handshake_timeout(ctx, 300);
    cw_log_set_level(CW_LOG_WARN);
    srv_start(&sv, ctx, SRV_ECHO);
    run_pair(&sv, &c);   /* plain client: sends nothing, waits for EOF */
    CHECK(c.eof);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, UV_ETIMEDOUT);
    took = sv.close_ms - sv.accept_ms;
    if (took < 250 || took > 3000)
        FAIL("closed after %llu ms, want about 300", (unsigned long long)took);
    cw_tls_ctx_destroy(ctx);
    teardown();
}

/* Loading: a key that does not match the certificate, and a missing file,
 * fail with a message naming the file. */
TEST(stream_tls_ctx_errors)
{
    char cert[128], key2[128], missing[128], err[512];

    setup();
    make_cert("cert.pem", "key.pem");
    make_cert("cert2.pem", "key2.pem");
    tmp_path(cert, sizeof(cert), "cert.pem");
    tmp_path(key2, sizeof(key2), "key2.pem");
    tmp_path(missing, sizeof(missing), "missing.pem");
    err[0] = 0;
    CHECK(cw_tls_ctx_create_server(cert, key2, err, sizeof(err)) == NULL);
    if (!strstr(err, key2) || !strstr(err, "does not match"))
        FAIL("mismatch message: %s", err);
    err[0] = 0;
    CHECK(cw_tls_ctx_create_server(missing, key2, err, sizeof(err)) == NULL);
    if (!strstr(err, missing) || !strstr(err, "certificate"))
        FAIL("missing-file message: %s", err);
    err[0] = 0;
    CHECK(cw_tls_ctx_create_server(cert, missing, err, sizeof(err)) == NULL);
    if (!strstr(err, missing) || !strstr(err, "private key"))
        FAIL("missing-key message: %s", err);
    teardown();
}

/* Closing with a megabyte queued to a peer that neither reads nor hangs up:
 * the close deadline (about 2 s) ends it, with err 0 since we closed. */
TEST(stream_plain_close_deadline)
{
    struct srv sv;
    struct client c = { .send_len = 2, .rcvbuf = 8192 };
    uint64_t took;

    c.send = (const uint8_t *)"go";
    setup();
    srv_start(&sv, NULL, SRV_FLOOD_CLOSE);
    c.hold = &sv.done;
    run_pair(&sv, &c);
    if (c.err[0])
        FAIL("client: %s", c.err);
    CHECK_EQ(sv.closes, 1);
    CHECK_EQ(sv.close_err, 0);
    CHECK(sv.pending_at_close > 0);
    took = sv.close_ms - sv.close_call_ms;
    if (took < 1800 || took > 4000)
        FAIL("closed after %llu ms, want about 2000", (unsigned long long)took);
    teardown();
}
