/* fuzz_s2s.c - libFuzzer harness for the federation gateway's inbound side
 * (xmpp/s2s.c: stream header, STARTTLS, SASL EXTERNAL, dialback as the
 * receiving and as the authoritative server, stanzas before and after
 * authentication), on a real gateway reached over loopback TCP, as an
 * untrusted foreign server reaches it.
 *
 * Input: one mode byte, then what the foreign server sends, in segments
 * separated by 0xff. Each segment is one write (one TLS record inside TLS)
 * and the gateway has answered it before the next goes, so segments are
 * the gateway's reads. Mode bits:
 *   1    a valid stream header from them.example to ours.example goes first
 *   2    STARTTLS first: the harness opens a stream, asks for TLS and sends
 *        the segments inside it
 *   4    with TLS, present a certificate for them.example that the gateway
 *        trusts (else none)
 *   8    policy: TLS optional (dialback and stanzas over plain TCP)
 *   16   policy: a valid certificate required (no dialback)
 *   32   policy: only them.example federates (evil.example is always denied)
 *   64   a peer line for them.example: TLS optional, dialback allowed
 *   128  connect to the direct TLS (XEP-0368) listener instead
 *
 * The gateway believes a core serves ours.example: its link 0 is set ready
 * without a tunnel, so what it sends the core is dropped. Dialback lookups
 * go to a DNS server that is not there (127.0.0.1:1): every check with an
 * authoritative server fails. What the gateway sends must parse as an XML
 * stream, its header with an id of at most 32 characters and from (if any)
 * ours.example. Each input ends with the harness closing its side; the gateway
 * must then close and free the stream, and the routes the input made are
 * freed, so inputs do not depend on each other. FUZZ_S2S_VERBOSE=1 in the
 * environment shows the gateway's log and both directions of the stream. */
#include "common/addr.h"
#include "common/log.h"
#include "xmpp/s2s_int.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP 0xff
#define MAX_SEGMENTS 64

enum {
    M_HEADER = 1, M_STARTTLS = 2, M_CERT = 4, M_TLS_OPTIONAL = 8, M_CERT_REQUIRED = 16,
    M_ALLOW = 32, M_PEER = 64, M_DIRECT_TLS = 128,
};

#define OURS "ours.example"
#define THEM "them.example"
#define HEADER "<?xml version='1.0'?><stream:stream xmlns='jabber:server' " \
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
    "from='" THEM "' to='" OURS "' version='1.0'>"
#define STARTTLS "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

static uv_loop_t loop;
static struct s2s_gateway *gw;
static struct cw_tls_ctx *tls_server, *tls_cert, *tls_nocert;
static struct sockaddr_storage addr_plain, addr_direct;
static unsigned live_idle;
static int verbose;             /* FUZZ_S2S_VERBOSE: logs, and what the gateway sends */
static char ours[1][S2S_DOMAIN_MAX + 1] = { OURS };

/* ---- the foreign server ---------------------------------------------------------- */

struct peer {
    struct cw_stream *st;
    struct xml_stream *xs;      /* what the gateway sends, checked */
    size_t nread;
    unsigned connected : 1, closed : 1, proceed : 1, unchecked : 1;
};

static struct peer pr;

static int pr_stanza(void *ctx, struct xml_node *n)
{
    struct peer *p = ctx;
    int stop = 0;

    if (!strcmp(n->ns, NS_S2S_TLS) && !strcmp(n->name, "proceed")) {
        /* TLS next, or (without the harness switching) bytes we cannot read */
        p->proceed = 1;
        p->unchecked = 1;
        stop = XML_STOP;
    } else if (!strcmp(n->ns, NS_S2S_SASL) && !strcmp(n->name, "success")) {
        stop = XML_STOP;    /* a new stream follows */
    }
    xml_node_free(n);
    return stop;
}

/* The gateway's stream header: an id our own outbound side would accept
 * (s2s__out_open: at most 32 characters) and, as from, only a domain it
 * serves. */
static int pr_open(void *ctx, const struct xml_node *head)
{
    const char *id = xml_node_attr(head, "id"), *from = xml_node_attr(head, "from");

    (void)ctx;
    if (!id || strlen(id) > 32 || (from && strcmp(from, OURS) != 0)) {
        fprintf(stderr, "fuzz_s2s: the gateway's stream header has id='%s' from='%s'\n",
                id ? id : "(none)", from ? from : "(none)");
        abort();
    }
    return 0;
}

static const struct xml_stream_cbs pr_xml_cbs = { .on_open = pr_open, .on_stanza = pr_stanza };

static void pr_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    const char *why;
    int r;

    (void)s;
    pr.nread += n;
    if (verbose)
        fprintf(stderr, "fuzz_s2s: <<< %.*s\n", (int)n, (const char *)p);
    if (pr.unchecked)
        return;
    r = xml_stream_feed(pr.xs, (const char *)p, n);
    if (r < 0) {
        fprintf(stderr, "fuzz_s2s: the gateway sent what is not an XML stream: <%s/> %s\n",
                xml_stream_error(pr.xs, &why), why);
        fprintf(stderr, "fuzz_s2s: in the read: %.*s\n", (int)n, (const char *)p);
        abort();
    }
    if (r == XML_STOP && xml_stream_reset(pr.xs) < 0)
        abort();
}

static void pr_close(struct cw_stream *s, int err)
{
    (void)s;
    (void)err;
    pr.closed = 1;
    pr.st = NULL;
}

static void pr_connected(struct cw_stream *s)
{
    (void)s;
    pr.connected = 1;
}

static const struct cw_stream_cbs pr_cbs = { .on_data = pr_data, .on_close = pr_close };

static int dns_pending(void)
{
    for (const struct s2s_route *r = gw->routes; r; r = r->next)
        if (r->q)
            return 1;
    return 0;
}

/* Runs the loop until the gateway has answered: nothing new came for a few
 * turns and no dialback lookup is under way (bounded). */
static void settle(void)
{
    uint64_t end = uv_hrtime() + 200 * 1000000ull;
    size_t seen;
    int quiet = 0;

    while (quiet < 4 && uv_hrtime() < end) {
        seen = pr.nread;
        uv_run(&loop, UV_RUN_NOWAIT);
        quiet = pr.nread != seen || dns_pending() ? 0 : quiet + 1;
    }
}

/* Runs the loop until done() or a second passed; 0 if done. */
static int wait_for(int (*done)(void))
{
    uint64_t end = uv_hrtime() + 1000 * 1000000ull;

    while (!done())
        if (uv_hrtime() > end)
            return -1;
        else
            uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}

static int pr_up(void)
{
    return pr.connected || pr.closed;
}

static int pr_secure(void)
{
    return pr.closed || cw_stream_tls_version(pr.st) != NULL;
}

static int pr_proceed(void)
{
    return pr.closed || pr.proceed;
}

static void pr_send(const void *p, size_t n)
{
    if (pr.closed || !n)
        return;
    if (verbose)
        fprintf(stderr, "fuzz_s2s: >>> %.*s\n", (int)n, (const char *)p);
    (void)cw_stream_write(pr.st, p, n);
    settle();
}

static int start_tls(unsigned mode)
{
    if (pr.closed || cw_stream_start_tls_client(pr.st, mode & M_CERT ? tls_cert : tls_nocert,
                                                OURS) < 0)
        return -1;
    pr.unchecked = 0;
    if (xml_stream_reset(pr.xs) < 0)
        abort();
    return wait_for(pr_secure);
}

/* ---- the gateway ------------------------------------------------------------------ */

/* A self-signed certificate for name into cert_path and key_path (and the
 * certificate into trust too). */
static void make_cert(const char *name, long serial, const char *cert_path,
                      const char *key_path, FILE *trust)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *nm;
    X509_EXTENSION *e;
    X509V3_CTX v3;
    char san[300];
    FILE *f;

    if (!k || !x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
    X509_set_pubkey(x, k);
    nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    snprintf(san, sizeof(san), "DNS:%s", name);
    e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (!e || !X509_add_ext(x, e, -1) || !X509_sign(x, k, EVP_sha256()))
        abort();
    X509_EXTENSION_free(e);
    if (!(f = fopen(cert_path, "w")) || !PEM_write_X509(f, x) || fclose(f) ||
        !(f = fopen(key_path, "w")) || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) ||
        fclose(f) || !PEM_write_X509(trust, x))
        abort();
    X509_free(x);
    EVP_PKEY_free(k);
}

static void temp_path(char *buf, size_t len)
{
    int fd;

    snprintf(buf, len, "%s/fuzz_s2s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(buf);
    if (fd < 0)
        abort();
    close(fd);
}

static void bound_addr(const uv_tcp_t *t, struct sockaddr_storage *out)
{
    int len = sizeof(*out);

    if (uv_tcp_getsockname(t, (struct sockaddr *)out, &len) < 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static struct s2s_opts o;
    char p[5][4096], err[1200];
    struct cw_dns *dns;
    FILE *trust;

    (void)argc;
    (void)argv;
    verbose = getenv("FUZZ_S2S_VERBOSE") != NULL;
    cw_log_set_level(verbose ? CW_LOG_DEBUG : CW_LOG_ERROR);
    uv_loop_init(&loop);
    for (int i = 0; i < 5; i++)
        temp_path(p[i], sizeof(p[i]));
    if (!(trust = fopen(p[4], "w")))
        abort();
    make_cert(OURS, 1, p[0], p[1], trust);
    make_cert(THEM, 2, p[2], p[3], trust);
    if (fclose(trust))
        abort();
    tls_server = cw_tls_ctx_create_server(p[0], p[1], err, sizeof(err));
    if (!tls_server || cw_tls_ctx_verify_peers(tls_server, p[4], err, sizeof(err)) < 0 ||
        !(tls_cert = cw_tls_ctx_create_client(p[4], p[2], p[3], err, sizeof(err))) ||
        !(tls_nocert = cw_tls_ctx_create_client(p[4], NULL, NULL, err, sizeof(err)))) {
        fprintf(stderr, "fuzz_s2s: %s\n", err);
        abort();
    }
    for (int i = 0; i < 5; i++)
        unlink(p[i]);
    /* Nobody answers there: lookups fail at once (ICMP port unreachable). */
    dns = cw_dns_create(&loop, "127.0.0.1:1", 50, 1, err, sizeof(err));
    if (!dns || cw_addr_parse("127.0.0.1:0", 0, &o.listen[0]) < 0 ||
        cw_addr_parse("127.0.0.1:0", 0, &o.tls_listen[0]) < 0)
        abort();
    o.nlisten = o.ntls_listen = 1;
    o.tls = tls_server;
    o.client[0] = tls_cert;
    o.nclient = 1;
    o.dns = dns;
    /* Small enough for the fuzzer to reach. */
    o.limits.max_stanza = 16384;
    snprintf(o.deny[0], sizeof(o.deny[0]), "evil.example");
    o.ndeny = 1;
    snprintf(o.allow[0], sizeof(o.allow[0]), THEM);
    snprintf(o.peer[0].domain, sizeof(o.peer[0].domain), THEM);
    o.peer[0].policy.tls_optional = 1;
    gw = s2s_create(&loop, &o, err, sizeof(err));
    if (!gw) {
        fprintf(stderr, "fuzz_s2s: %s\n", err);
        abort();
    }
    bound_addr(&gw->lis[0].tcp, &addr_plain);
    bound_addr(&gw->lis[1].tcp, &addr_direct);
    /* A core serving ours.example, as s2s_link.c leaves a link after the
     * core's <domains/>; no tunnel, so s2s__to_core drops what it is given.
     * (ncore goes back to 0 before any s2s_close: the link has no timer.) */
    gw->o.ncore = 1;
    gw->link[0].gw = gw;
    gw->link[0].state = LK_READY;
    gw->link[0].domains = ours;
    gw->link[0].ndomains = 1;
    cw_sb_init(&gw->link[0].pend);
    live_idle = gw->live;
    return 0;
}

static int all_gone(void)
{
    return pr.closed && gw->live == live_idle && gw->nconns == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned mode;
    size_t off, k;
    uint64_t end;
    int nseg = 0;

    if (size < 1)
        return 0;
    mode = data[0];
    gw->o.policy.tls_optional = (mode & M_TLS_OPTIONAL) != 0;
    gw->o.policy.cert_required = (mode & M_CERT_REQUIRED) != 0;
    gw->o.nallow = (mode & M_ALLOW) != 0;
    gw->o.npeer = (mode & M_PEER) != 0;

    memset(&pr, 0, sizeof(pr));
    pr.xs = xml_stream_create(NULL, &pr_xml_cbs, &pr);
    pr.st = cw_stream_connect(&loop, (const struct sockaddr *)(mode & M_DIRECT_TLS ? &addr_direct
                                                                                  : &addr_plain),
                              1000, &pr_cbs, pr_connected, &pr);
    if (!pr.xs || !pr.st || wait_for(pr_up) < 0)
        abort();
    if (mode & M_DIRECT_TLS) {
        (void)start_tls(mode);
    } else if (mode & M_STARTTLS) {
        pr_send(HEADER STARTTLS, strlen(HEADER STARTTLS));
        if (wait_for(pr_proceed) == 0 && pr.proceed)
            (void)start_tls(mode);
    }
    if (mode & M_HEADER)
        pr_send(HEADER, strlen(HEADER));
    for (off = 1; off <= size && !pr.closed; off += k + 1) {
        for (k = 0; off + k < size && (data[off + k] != SEP || nseg == MAX_SEGMENTS - 1); k++)
            ;
        nseg++;
        pr_send(data + off, k);
    }

    /* Our end: the gateway must close the stream and free it. */
    if (!pr.closed)
        cw_stream_close(pr.st);
    end = uv_hrtime() + 10000 * 1000000ull;
    while (!all_gone()) {
        if (uv_hrtime() > end) {
            fprintf(stderr, "fuzz_s2s: the gateway did not close its stream (%u streams, "
                    "peer %s) 10 s after the peer's end\n", gw->nconns,
                    pr.closed ? "closed" : "open");
            abort();
        }
        uv_run(&loop, UV_RUN_ONCE);
    }
    s2s__routes_free(gw);
    xml_stream_destroy(pr.xs);
    return 0;
}
