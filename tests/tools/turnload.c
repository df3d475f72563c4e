/* turnload.c - a TURN load generator that shares no TURN code with the
 * server (only common/'s address helpers):
 * its own STUN encoder and parser (RFC 8489), long-term credentials (MD5
 * key, HMAC-SHA1 MESSAGE-INTEGRITY, 401/438 retried with REALM and NONCE),
 * thousands of UDP 5-tuples on one epoll loop.
 *
 *   turnload alloc -n N  creates N allocations (each its own socket, so its
 *                        own 5-tuple) with a CreatePermission to a peer, the
 *                        first --r1 of them with EVEN-PORT R=1 (tokens never
 *                        redeemed), retries 508 for --retry-for seconds,
 *                        holds them --hold seconds (refreshing when needed)
 *                        and optionally deletes them (Refresh lifetime 0).
 *   turnload rtt -m M    M allocations with a ChannelBind (or Send/Data with
 *                        --send) to a UDP echo peer; sends paced packets
 *                        carrying an index and a send time, and reports the
 *                        relay round trip client->TURN->peer->TURN->client.
 *
 * Results are "key=value" lines on stdout; "phase=holding" / "phase=running"
 * is printed (and flushed) once setup ends so that a script can sample the
 * server while the allocations are held. Every mode is bounded by -T. */
#include "common/addr.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- STUN / TURN constants (RFC 8489 18, RFC 8656 17-18) ------------------ */

#define STUN_MAGIC 0x2112A442u
#define STUN_HDR 20
#define CLS_MASK 0x0110
#define CLS_REQUEST 0x0000
#define CLS_INDICATION 0x0010
#define CLS_SUCCESS 0x0100
#define CLS_ERROR 0x0110

enum {
    M_ALLOCATE = 0x003, M_REFRESH = 0x004, M_SEND = 0x006, M_DATA = 0x007,
    M_CREATE_PERMISSION = 0x008, M_CHANNEL_BIND = 0x009
};
enum {
    A_USERNAME = 0x0006, A_MESSAGE_INTEGRITY = 0x0008, A_ERROR_CODE = 0x0009,
    A_CHANNEL_NUMBER = 0x000C, A_LIFETIME = 0x000D, A_XOR_PEER_ADDRESS = 0x0012,
    A_DATA = 0x0013, A_REALM = 0x0014, A_NONCE = 0x0015, A_XOR_RELAYED_ADDRESS = 0x0016,
    A_EVEN_PORT = 0x0018, A_REQUESTED_TRANSPORT = 0x0019, A_RESERVATION_TOKEN = 0x0022
};

#define REQ_MAX 768
#define NONCE_MAX 256
#define NAME_MAX_LEN 127
#define PKT_MAX 4096
#define MAX_SRC 64
#define CHAN_FIRST 0x4000           /* RFC 8656 12: 0x4000-0x4FFF */
#define CHAN_COUNT 0x1000
#define RTT_MAGIC 0x544c5254u       /* "TLRT" */
#define TICK_NS 10000000ull         /* housekeeping every 10 ms */
#define RTO_MAX_MS 8000u
#define TX_MAX 7                    /* RFC 8489 6.2.1 Rc */
#define REFRESH_MAX_S 120u          /* permissions live 300 s (RFC 8656 9) */

/* error-code histogram slots beyond the STUN codes */
enum { CODE_TIMEOUT = 1, CODE_BADMI = 2, CODE_BADRESP = 3, CODE_SENDFAIL = 4, NCODES = 700 };
enum { K_ALLOC, K_PERM, K_CHAN, K_REFRESH, K_DEALLOC, NKINDS };
static const char *const kind_name[NKINDS] = { "alloc", "perm", "chan", "refresh", "dealloc" };

/* ---- state ------------------------------------------------------------------ */

enum conn_state {
    S_NEW, S_ALLOC, S_PERM, S_CHAN, S_READY, S_WAIT, S_FAILED, S_REFRESH, S_REPERM,
    S_DEALLOC, S_GONE, S_LOST
};

struct conn {
    int fd;
    uint8_t st;
    uint8_t pending;                /* a request is out, waiting for its answer */
    uint8_t authed;                 /* ... and it carries MESSAGE-INTEGRITY */
    uint8_t in_setup;               /* holds a window slot of the setup phase */
    uint8_t r1, allocated, retries_auth, tx;
    uint16_t chan, nonce_len, req_len;
    uint32_t rto_ms, lifetime;
    uint64_t rto_at, refresh_at, retry_at;
    uint8_t tid[12];
    uint8_t req[REQ_MAX];
    uint8_t nonce[NONCE_MAX];
};

enum phase { P_SETUP, P_HOLD, P_RUN, P_DRAIN, P_DEALLOC, P_DONE };
enum mode { MODE_ALLOC, MODE_RTT };

struct tl {
    /* options */
    enum mode mode;
    struct sockaddr_storage server, peer, src[MAX_SRC];
    int nsrc;
    const char *user, *pass;
    unsigned n, window, r1, lifetime, rate, len, rto_ms;
    double hold_s, retry_s, retry_every_s, dur_s, drain_s, timeout_s;
    int use_send, echo, dealloc, user_ts;
    const char *dump;               /* rtt: one line per packet to this file */
    /* credentials learnt from the first 401 */
    char realm[NAME_MAX_LEN + 1];
    uint8_t key[16];
    int have_key;
    /* runtime */
    struct conn *c;
    int ep, echo_fd;
    enum phase phase;
    uint64_t rnd;
    uint32_t tid_ctr;
    unsigned next_start, setup_active, waiting, dealloc_active;
    uint64_t t_start, t_first_pass, t_setup_done, t_phase_end, t_deadline, t_next_tick;
    uint64_t retry_deadline;
    /* counters */
    unsigned allocs_ok, perms_ok, chans_ok, tokens, refreshes_ok, dealloc_ok;
    unsigned r1_ok, answers_401, answers_438, answers_508, retransmits, stray, recv_errors;
    unsigned err[NKINDS][NCODES];
    /* rtt */
    unsigned *ready;                /* conn indexes that send */
    unsigned nready;
    uint64_t run_t0, period_ns, total, next_i, sent, received, dups, bad_payload;
    uint64_t send_fail, lag_max_ns, lag_over_1ms;
    uint64_t *rtt;                  /* ns, one per received packet */
    uint64_t *rtt_idx, *rtt_ts;     /* --dump: packet index and send time */
    uint8_t *seen;                  /* bitmap over packet indexes */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* Clock of the send times in rtt payloads: the kernel's receive timestamps
 * (SO_TIMESTAMPNS) are CLOCK_REALTIME. */
static uint64_t stamp_ns(const struct tl *t)
{
    return clock_ns(t->user_ts ? CLOCK_MONOTONIC : CLOCK_REALTIME);
}

static uint64_t rnd_next(struct tl *t)
{
    /* xorshift64*: transaction ids need to be unique, not secret. */
    t->rnd ^= t->rnd >> 12;
    t->rnd ^= t->rnd << 25;
    t->rnd ^= t->rnd >> 27;
    return t->rnd * 0x2545F4914F6CDD1Dull;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- STUN encoder ------------------------------------------------------------ */

struct enc {
    uint8_t *b;
    size_t n, cap;
    int err;
};

static void enc_start(struct enc *e, uint8_t *buf, size_t cap, uint16_t type,
                      const uint8_t tid[12])
{
    e->b = buf;
    e->cap = cap;
    e->n = STUN_HDR;
    e->err = cap < STUN_HDR;
    if (e->err)
        return;
    put16(buf, type);
    put16(buf + 2, 0);
    put32(buf + 4, STUN_MAGIC);
    memcpy(buf + 8, tid, 12);
}

/* Appends one attribute padded to 4 (RFC 8489 14) and keeps the header's
 * length current, which MESSAGE-INTEGRITY depends on. */
static void enc_attr(struct enc *e, uint16_t type, const void *v, size_t len)
{
    size_t padded = (len + 3) & ~(size_t)3;

    if (e->err || len > 0xffff || e->n + 4 + padded > e->cap) {
        e->err = 1;
        return;
    }
    put16(e->b + e->n, type);
    put16(e->b + e->n + 2, (uint16_t)len);
    if (len)
        memcpy(e->b + e->n + 4, v, len);
    memset(e->b + e->n + 4 + len, 0, padded - len);
    e->n += 4 + padded;
    put16(e->b + 2, (uint16_t)(e->n - STUN_HDR));
}

static void enc_u32(struct enc *e, uint16_t type, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    enc_attr(e, type, b, 4);
}

/* XOR-PEER-ADDRESS and friends (RFC 8489 14.2). */
static void enc_xaddr(struct enc *e, uint16_t type, const struct sockaddr_storage *ss)
{
    uint8_t v[20];

    memset(v, 0, sizeof(v));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        v[1] = 1;
        put16(v + 2, (uint16_t)(ntohs(in->sin_port) ^ (STUN_MAGIC >> 16)));
        put32(v + 4, ntohl(in->sin_addr.s_addr) ^ STUN_MAGIC);
        enc_attr(e, type, v, 8);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        uint8_t x[16];
        v[1] = 2;
        put16(v + 2, (uint16_t)(ntohs(in6->sin6_port) ^ (STUN_MAGIC >> 16)));
        put32(x, STUN_MAGIC);
        memcpy(x + 4, e->b + 8, 12);
        for (int i = 0; i < 16; i++)
            v[4 + i] = in6->sin6_addr.s6_addr[i] ^ x[i];
        enc_attr(e, type, v, 20);
    }
}

/* MESSAGE-INTEGRITY (RFC 8489 14.5): HMAC-SHA1 over the message up to the
 * attribute, with the length field already counting it. */
static void enc_integrity(struct enc *e, const uint8_t key[16])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;

    if (e->err || e->n + 24 > e->cap) {
        e->err = 1;
        return;
    }
    put16(e->b + 2, (uint16_t)(e->n - STUN_HDR + 24));
    if (!HMAC(EVP_sha1(), key, 16, e->b, e->n, mac, &maclen) || maclen != 20) {
        e->err = 1;
        return;
    }
    enc_attr(e, A_MESSAGE_INTEGRITY, mac, 20);
}

/* ---- STUN parser: every read is bounds-checked against n ------------------- */

struct msg {
    const uint8_t *b;
    size_t n;                        /* header + attributes */
    uint16_t type;
    size_t mi_off;                   /* offset of MESSAGE-INTEGRITY, 0 if none */
};

/* 0 when b holds one well-formed STUN message (RFC 8489 5, 6.3). */
static int msg_parse(struct msg *m, const uint8_t *b, size_t n)
{
    size_t len, off;

    if (n < STUN_HDR || (b[0] & 0xC0) || get32(b + 4) != STUN_MAGIC)
        return -1;
    len = get16(b + 2);
    if ((len & 3) || STUN_HDR + len > n)
        return -1;
    m->b = b;
    m->n = STUN_HDR + len;
    m->type = get16(b);
    m->mi_off = 0;
    for (off = STUN_HDR; off + 4 <= m->n;) {
        size_t al = get16(b + off + 2);
        if (off + 4 + al > m->n)
            return -1;
        if (get16(b + off) == A_MESSAGE_INTEGRITY && !m->mi_off)
            m->mi_off = off;
        off += 4 + ((al + 3) & ~(size_t)3);
    }
    return off == m->n ? 0 : -1;
}

/* The value of the first attribute of a type (before MESSAGE-INTEGRITY,
 * RFC 8489 14.5: what follows it is ignored), or NULL. */
static const uint8_t *msg_attr(const struct msg *m, uint16_t type, size_t *len)
{
    size_t end = m->mi_off ? m->mi_off : m->n;

    if (type == A_MESSAGE_INTEGRITY && m->mi_off) {
        *len = get16(m->b + m->mi_off + 2);
        return m->b + m->mi_off + 4;
    }
    for (size_t off = STUN_HDR; off + 4 <= end;) {
        size_t al = get16(m->b + off + 2);
        if (get16(m->b + off) == type) {
            *len = al;
            return m->b + off + 4;
        }
        off += 4 + ((al + 3) & ~(size_t)3);
    }
    return NULL;
}

static int msg_check_integrity(const struct msg *m, const uint8_t key[16])
{
    uint8_t tmp[PKT_MAX], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;

    if (!m->mi_off || get16(m->b + m->mi_off + 2) != 20 || m->mi_off > sizeof(tmp))
        return -1;
    memcpy(tmp, m->b, m->mi_off);
    put16(tmp + 2, (uint16_t)(m->mi_off - STUN_HDR + 24));
    if (!HMAC(EVP_sha1(), key, 16, tmp, m->mi_off, mac, &maclen) || maclen != 20)
        return -1;
    return CRYPTO_memcmp(mac, m->b + m->mi_off + 4, 20) ? -1 : 0;
}

static int msg_error_code(const struct msg *m)
{
    size_t len;
    const uint8_t *v = msg_attr(m, A_ERROR_CODE, &len);

    if (!v || len < 4)
        return 0;
    return (v[2] & 7) * 100 + v[3] % 100;
}

/* ---- options and addresses -------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: turnload alloc|rtt [options]\n"
        "  -s ADDR:PORT    TURN server (127.0.0.1:3478)\n"
        "  -u USER -w PASS long-term credentials (user / pass)\n"
        "  -e ADDR:PORT    peer for permissions and channels (127.0.0.1:3480)\n"
        "  -L ADDR         first local source address (127.0.0.1)\n"
        "  -K K            use K consecutive IPv4 source addresses from -L (1)\n"
        "  -W N            requests in flight during setup (200)\n"
        "  -T SECONDS      hard bound on the whole run (alloc 300, rtt duration+60)\n"
        "  --rto MS        first retransmission timeout (500), doubling, 7 sends\n"
        "  --lifetime S    LIFETIME asked in Allocate and Refresh (server default)\n"
        "  --dealloc       delete every allocation at the end (Refresh lifetime 0)\n"
        " alloc:\n"
        "  -n N            allocations, each from its own socket (1000)\n"
        "  --r1 N          the first N carry EVEN-PORT R=1; tokens never redeemed (0)\n"
        "  --retry-for S   retry 508 answers until S seconds after start (0)\n"
        "  --retry-every S pause before each retry (2)\n"
        "  --hold S        hold the allocations S seconds after setup (10)\n"
        " rtt:\n"
        "  -m M            allocations sending (100)\n"
        "  -r RATE         packets per second per allocation (50)\n"
        "  -l LEN          payload bytes, >= 24 (160)\n"
        "  -d SECONDS      sending time (10)\n"
        "  --drain S       wait for late packets after the last send (1)\n"
        "  --send          Send/Data indications instead of ChannelData\n"
        "  --echo          be the echo peer too (binds the -e address)\n"
        "  --user-timestamps  receive time read after recv(), not the kernel's\n"
        "                  SO_TIMESTAMPNS (which leaves out this tool's own delays)\n"
        "  --dump FILE     write \"index send_ns rtt_ns\" per received packet\n");
}

static int parse_opts(struct tl *t, int argc, char **argv)
{
    static const struct option lo[] = {
        { "rto", required_argument, NULL, 1 },
        { "lifetime", required_argument, NULL, 2 },
        { "dealloc", no_argument, NULL, 3 },
        { "r1", required_argument, NULL, 4 },
        { "retry-for", required_argument, NULL, 5 },
        { "retry-every", required_argument, NULL, 6 },
        { "hold", required_argument, NULL, 7 },
        { "drain", required_argument, NULL, 8 },
        { "send", no_argument, NULL, 9 },
        { "echo", no_argument, NULL, 10 },
        { "user-timestamps", no_argument, NULL, 11 },
        { "dump", required_argument, NULL, 12 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *src = "127.0.0.1";
    unsigned k = 1;
    int o;

    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    if (!strcmp(argv[1], "alloc")) {
        t->mode = MODE_ALLOC;
    } else if (!strcmp(argv[1], "rtt")) {
        t->mode = MODE_RTT;
    } else {
        usage(strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? stderr : stdout);
        return -1;
    }
    cw_addr_parse("127.0.0.1:3478", 0, &t->server);
    cw_addr_parse("127.0.0.1:3480", 0, &t->peer);
    t->user = "user";
    t->pass = "pass";
    t->n = t->mode == MODE_ALLOC ? 1000 : 100;
    t->window = 200;
    t->rto_ms = 500;
    t->rate = 50;
    t->len = 160;
    t->dur_s = 10;
    t->drain_s = 1;
    t->hold_s = 10;
    t->retry_every_s = 2;
    optind = 2;
    while ((o = getopt_long(argc, argv, "s:u:w:e:L:K:W:T:n:m:r:l:d:h", lo, NULL)) != -1) {
        switch (o) {
        case 's':
            if (cw_addr_parse(optarg, 0, &t->server) < 0)
                goto bad;
            break;
        case 'e':
            if (cw_addr_parse(optarg, 0, &t->peer) < 0)
                goto bad;
            break;
        case 'u': t->user = optarg; break;
        case 'w': t->pass = optarg; break;
        case 'L': src = optarg; break;
        case 'K': k = (unsigned)atoi(optarg); break;
        case 'W': t->window = (unsigned)atoi(optarg); break;
        case 'T': t->timeout_s = atof(optarg); break;
        case 'n': case 'm': t->n = (unsigned)atoi(optarg); break;
        case 'r': t->rate = (unsigned)atoi(optarg); break;
        case 'l': t->len = (unsigned)atoi(optarg); break;
        case 'd': t->dur_s = atof(optarg); break;
        case 1: t->rto_ms = (unsigned)atoi(optarg); break;
        case 2: t->lifetime = (unsigned)atoi(optarg); break;
        case 3: t->dealloc = 1; break;
        case 4: t->r1 = (unsigned)atoi(optarg); break;
        case 5: t->retry_s = atof(optarg); break;
        case 6: t->retry_every_s = atof(optarg); break;
        case 7: t->hold_s = atof(optarg); break;
        case 8: t->drain_s = atof(optarg); break;
        case 9: t->use_send = 1; break;
        case 10: t->echo = 1; break;
        case 11: t->user_ts = 1; break;
        case 12: t->dump = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: goto bad;
        }
    }
    if (optind != argc || !t->n || !t->window || !t->rto_ms || k < 1 || k > MAX_SRC ||
        strlen(t->user) > NAME_MAX_LEN || t->len < 24 || t->len > 1200 || !t->rate ||
        t->dur_s <= 0 || t->rate > 100000)
        goto bad;
    for (unsigned i = 0; i < k; i++) {
        if (cw_addr_parse(src, -1, &t->src[i]) < 0 ||
            t->src[i].ss_family != t->server.ss_family || (k > 1 && t->src[i].ss_family != AF_INET))
            goto bad;
        if (i) {
            struct sockaddr_in *in = (struct sockaddr_in *)&t->src[i];
            in->sin_addr.s_addr = htonl(ntohl(in->sin_addr.s_addr) + i);
        }
    }
    t->nsrc = (int)k;
    if (!t->timeout_s)
        t->timeout_s = t->mode == MODE_ALLOC ? 300 : t->dur_s + 60;
    return 0;
bad:
    fprintf(stderr, "turnload: bad arguments (see turnload --help)\n");
    return -1;
}

/* ---- requests ----------------------------------------------------------------- */

static void new_tid(struct tl *t, struct conn *c)
{
    uint64_t r = rnd_next(t);

    put32(c->tid, (uint32_t)(c - t->c));
    put32(c->tid + 4, ++t->tid_ctr);
    put32(c->tid + 8, (uint32_t)r);
}

static void count_err(struct tl *t, int kind, int code)
{
    t->err[kind][code > 0 && code < NCODES ? code : CODE_BADRESP]++;
}

/* Builds the request of the conn's state into c->req (new transaction id). */
static int build_request(struct tl *t, struct conn *c)
{
    struct enc e;
    uint16_t method;
    int peer_attr = 0;

    new_tid(t, c);
    switch (c->st) {
    case S_ALLOC: method = M_ALLOCATE; break;
    case S_PERM: method = M_CREATE_PERMISSION; peer_attr = 1; break;
    case S_CHAN: method = M_CHANNEL_BIND; peer_attr = 1; break;
    case S_REPERM:
        method = t->mode == MODE_RTT && !t->use_send ? M_CHANNEL_BIND : M_CREATE_PERMISSION;
        peer_attr = 1;
        break;
    case S_REFRESH: case S_DEALLOC: method = M_REFRESH; break;
    default: return -1;
    }
    enc_start(&e, c->req, sizeof(c->req), method | CLS_REQUEST, c->tid);
    if (method == M_ALLOCATE) {
        uint8_t rt[4] = { IPPROTO_UDP, 0, 0, 0 };   /* RFC 8656 18.11 */
        enc_attr(&e, A_REQUESTED_TRANSPORT, rt, 4);
        if (t->lifetime)
            enc_u32(&e, A_LIFETIME, t->lifetime);
        if (c->r1) {
            uint8_t ep = 0x80;                      /* R: reserve port + 1 (18.7) */
            enc_attr(&e, A_EVEN_PORT, &ep, 1);
        }
    }
    if (method == M_CHANNEL_BIND)
        enc_u32(&e, A_CHANNEL_NUMBER, (uint32_t)c->chan << 16);
    if (peer_attr)
        enc_xaddr(&e, A_XOR_PEER_ADDRESS, &t->peer);
    if (c->st == S_REFRESH && t->lifetime)
        enc_u32(&e, A_LIFETIME, t->lifetime);
    if (c->st == S_DEALLOC)
        enc_u32(&e, A_LIFETIME, 0);
    c->authed = 0;
    if (c->nonce_len && t->have_key) {
        enc_attr(&e, A_USERNAME, t->user, strlen(t->user));
        enc_attr(&e, A_REALM, t->realm, strlen(t->realm));
        enc_attr(&e, A_NONCE, c->nonce, c->nonce_len);
        enc_integrity(&e, t->key);
        c->authed = 1;
    }
    if (e.err)
        return -1;
    c->req_len = (uint16_t)e.n;
    return 0;
}

static void fail_step(struct tl *t, struct conn *c, int code, uint64_t now);

static void transmit(struct tl *t, struct conn *c, uint64_t now)
{
    /* A full socket buffer or an ICMP error of an earlier datagram is left
     * to the retransmission timer; anything else fails the step. */
    if (send(c->fd, c->req, c->req_len, 0) < 0 && errno != ECONNREFUSED && errno != EAGAIN &&
        errno != ENOBUFS && errno != EINTR) {
        c->pending = 0;
        fail_step(t, c, CODE_SENDFAIL, now);
        return;
    }
    c->rto_at = now + (uint64_t)c->rto_ms * 1000000ull;
}

/* Moves a conn to a state and sends that state's request. */
static void conn_request(struct tl *t, struct conn *c, enum conn_state st, uint64_t now)
{
    c->st = (uint8_t)st;
    if (build_request(t, c) < 0) {
        fail_step(t, c, CODE_BADRESP, now);
        return;
    }
    c->pending = 1;
    c->tx = 1;
    c->rto_ms = t->rto_ms;
    transmit(t, c, now);
}

static uint64_t refresh_interval_ns(const struct tl *t, const struct conn *c)
{
    unsigned s = c->lifetime ? c->lifetime / 2 : REFRESH_MAX_S;
    (void)t;
    if (s > REFRESH_MAX_S)
        s = REFRESH_MAX_S;
    if (s < 5)
        s = 5;
    return (uint64_t)s * 1000000000ull;
}

static void setup_slot_free(struct tl *t, struct conn *c)
{
    if (c->in_setup) {
        c->in_setup = 0;
        t->setup_active--;
    }
}

static void conn_ready(struct tl *t, struct conn *c, uint64_t now)
{
    c->st = S_READY;
    c->refresh_at = now + refresh_interval_ns(t, c);
    setup_slot_free(t, c);
}

static void fail_step(struct tl *t, struct conn *c, int code, uint64_t now)
{
    c->pending = 0;
    switch (c->st) {
    case S_ALLOC:
        if (code == 508)
            t->answers_508++;
        if (code == 508 && now < t->retry_deadline) {
            /* Insufficient capacity: try again later on the same 5-tuple
             * (no allocation exists for it). */
            c->st = S_WAIT;
            c->retry_at = now + (uint64_t)(t->retry_every_s * 1e9);
            t->waiting++;
        } else {
            count_err(t, K_ALLOC, code);
            c->st = S_FAILED;
        }
        setup_slot_free(t, c);
        break;
    case S_PERM:
    case S_CHAN:
        count_err(t, c->st == S_PERM ? K_PERM : K_CHAN, code);
        c->st = S_FAILED;
        setup_slot_free(t, c);
        break;
    case S_REFRESH:
    case S_REPERM:
        count_err(t, K_REFRESH, code);
        c->st = S_LOST;
        if (code == 437)
            c->allocated = 0;
        break;
    case S_DEALLOC:
        count_err(t, K_DEALLOC, code);
        c->st = S_GONE;
        t->dealloc_active--;
        break;
    default:
        break;
    }
}

static void take_nonce(struct tl *t, struct conn *c, const struct msg *m)
{
    size_t rl, nl;
    const uint8_t *realm = msg_attr(m, A_REALM, &rl);
    const uint8_t *nonce = msg_attr(m, A_NONCE, &nl);

    if (!nonce || !nl || nl > NONCE_MAX)
        return;
    memcpy(c->nonce, nonce, nl);
    c->nonce_len = (uint16_t)nl;
    if (realm && rl && rl <= NAME_MAX_LEN &&
        (!t->have_key || strlen(t->realm) != rl || memcmp(t->realm, realm, rl))) {
        /* key = MD5(username ":" realm ":" password), RFC 8489 9.2.2 */
        char buf[3 * NAME_MAX_LEN + 8];
        unsigned klen = 0;
        memcpy(t->realm, realm, rl);
        t->realm[rl] = 0;
        int bl = snprintf(buf, sizeof(buf), "%s:%s:%s", t->user, t->realm, t->pass);
        t->have_key = bl > 0 && (size_t)bl < sizeof(buf) &&
                      EVP_Digest(buf, (size_t)bl, t->key, &klen, EVP_md5(), NULL) == 1 &&
                      klen == 16;
    }
}

static uint16_t method_of_state(const struct tl *t, int st)
{
    switch (st) {
    case S_ALLOC: return M_ALLOCATE;
    case S_PERM: return M_CREATE_PERMISSION;
    case S_CHAN: return M_CHANNEL_BIND;
    case S_REPERM:
        return t->mode == MODE_RTT && !t->use_send ? M_CHANNEL_BIND : M_CREATE_PERMISSION;
    case S_REFRESH: case S_DEALLOC: return M_REFRESH;
    default: return 0xffff;
    }
}

static void on_response(struct tl *t, struct conn *c, const struct msg *m, uint64_t now)
{
    uint16_t cls = m->type & CLS_MASK;
    uint16_t method = m->type & ~CLS_MASK;

    if (method != method_of_state(t, c->st)) {
        t->stray++;
        return;
    }
    if (cls == CLS_ERROR) {
        int code = msg_error_code(m);
        if (code == 401)
            t->answers_401++;
        if (code == 438)
            t->answers_438++;
        /* The first 401 of a 5-tuple is the usual challenge; 438 means the
         * nonce expired. Either way: new nonce, new transaction. */
        if (((code == 401 && !c->authed) || code == 438) && c->retries_auth < 4) {
            take_nonce(t, c, m);
            if (c->nonce_len && t->have_key) {
                c->retries_auth++;
                conn_request(t, c, (enum conn_state)c->st, now);
                return;
            }
        }
        fail_step(t, c, code ? code : CODE_BADRESP, now);
        return;
    }
    if (c->authed && msg_check_integrity(m, t->key) < 0) {
        fail_step(t, c, CODE_BADMI, now);
        return;
    }
    c->pending = 0;
    c->retries_auth = 0;
    switch (c->st) {
    case S_ALLOC: {
        size_t len;
        const uint8_t *v = msg_attr(m, A_LIFETIME, &len);
        if (!msg_attr(m, A_XOR_RELAYED_ADDRESS, &len)) {
            c->pending = 1;
            fail_step(t, c, CODE_BADRESP, now);
            return;
        }
        c->lifetime = v && len == 4 ? get32(v) : 600;
        if (msg_attr(m, A_RESERVATION_TOKEN, &len) && len == 8)
            t->tokens++;
        c->allocated = 1;
        t->allocs_ok++;
        if (c->r1)
            t->r1_ok++;
        conn_request(t, c, S_PERM, now);
        break;
    }
    case S_PERM:
        t->perms_ok++;
        if (t->mode == MODE_RTT && !t->use_send)
            conn_request(t, c, S_CHAN, now);
        else
            conn_ready(t, c, now);
        break;
    case S_CHAN:
        t->chans_ok++;
        conn_ready(t, c, now);
        break;
    case S_REFRESH: {
        size_t len;
        const uint8_t *v = msg_attr(m, A_LIFETIME, &len);
        if (v && len == 4 && get32(v))
            c->lifetime = get32(v);
        conn_request(t, c, S_REPERM, now);
        break;
    }
    case S_REPERM:
        t->refreshes_ok++;
        conn_ready(t, c, now);
        break;
    case S_DEALLOC:
        t->dealloc_ok++;
        t->dealloc_active--;
        c->allocated = 0;
        c->st = S_GONE;
        break;
    default:
        break;
    }
}

/* ---- rtt payloads ---------------------------------------------------------------- */

/* payload: magic, conn index, packet index, 0, send time (ns), filler;
 * rx is the receive time on the same clock as the send time. */
static void on_echo(struct tl *t, struct conn *c, const uint8_t *p, size_t n, uint64_t rx)
{
    uint64_t i, ts;

    if (n < 24 || get32(p) != RTT_MAGIC || get32(p + 4) != (uint32_t)(c - t->c)) {
        t->bad_payload++;
        return;
    }
    i = get32(p + 8);
    ts = get64(p + 16);
    if (i >= t->total || ts > rx) {
        t->bad_payload++;
        return;
    }
    if (t->seen[i / 8] & (1u << (i % 8))) {
        t->dups++;
        return;
    }
    t->seen[i / 8] |= (uint8_t)(1u << (i % 8));
    if (t->rtt_idx) {
        t->rtt_idx[t->received] = i;
        t->rtt_ts[t->received] = ts;
    }
    t->rtt[t->received++] = rx - ts;
}

static void send_packet(struct tl *t, uint64_t i, uint64_t due, uint64_t now)
{
    struct conn *c = &t->c[t->ready[i % t->nready]];
    uint8_t buf[PKT_MAX], payload[1200];
    size_t n;

    memset(payload, 0x5a, t->len);
    put32(payload, RTT_MAGIC);
    put32(payload + 4, (uint32_t)(c - t->c));
    put32(payload + 8, (uint32_t)i);
    put32(payload + 12, 0);
    put64(payload + 16, stamp_ns(t));
    if (t->use_send) {
        struct enc e;
        uint8_t tid[12];
        put64(tid, i);
        put32(tid + 8, (uint32_t)rnd_next(t));
        enc_start(&e, buf, sizeof(buf), M_SEND | CLS_INDICATION, tid);
        enc_xaddr(&e, A_XOR_PEER_ADDRESS, &t->peer);
        enc_attr(&e, A_DATA, payload, t->len);
        n = e.n;
    } else {
        put16(buf, c->chan);                       /* ChannelData, RFC 8656 12.4 */
        put16(buf + 2, (uint16_t)t->len);
        memcpy(buf + 4, payload, t->len);
        n = 4 + t->len;
    }
    if (send(c->fd, buf, n, 0) < 0)
        t->send_fail++;
    else
        t->sent++;
    if (now > due) {
        if (now - due > t->lag_max_ns)
            t->lag_max_ns = now - due;
        if (now - due > 1000000)
            t->lag_over_1ms++;
    }
}

/* ---- I/O ---------------------------------------------------------------------- */

/* When the datagram was received: the kernel's timestamp if there is one. */
static uint64_t rx_time(const struct tl *t, struct msghdr *h)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
            return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
    }
    return stamp_ns(t);
}

static void conn_readable(struct tl *t, struct conn *c)
{
    uint8_t buf[PKT_MAX];
    union {
        struct cmsghdr align;
        uint8_t b[CMSG_SPACE(sizeof(struct timespec)) + 64];
    } ctl;

    for (int k = 0; k < 32; k++) {
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                            .msg_controllen = sizeof(ctl.b) };
        ssize_t r = recvmsg(c->fd, &h, MSG_DONTWAIT);
        uint64_t now;
        struct msg m;

        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                t->recv_errors++;   /* ICMP unreachable: server not there */
            return;
        }
        now = now_ns();
        if (r >= 4 && (buf[0] & 0xC0) == 0x40) {
            size_t dl = get16(buf + 2);
            if (get16(buf) == c->chan && dl + 4 <= (size_t)r)
                on_echo(t, c, buf + 4, dl, rx_time(t, &h));
            else
                t->stray++;
            continue;
        }
        if (msg_parse(&m, buf, (size_t)r) < 0) {
            t->stray++;
            continue;
        }
        if ((m.type & CLS_MASK) == CLS_INDICATION) {
            size_t dl;
            const uint8_t *d = msg_attr(&m, A_DATA, &dl);
            if ((m.type & ~CLS_MASK) == M_DATA && d)
                on_echo(t, c, d, dl, rx_time(t, &h));
            else
                t->stray++;
            continue;
        }
        if ((m.type & CLS_MASK) == CLS_REQUEST || !c->pending || memcmp(buf + 8, c->tid, 12)) {
            t->stray++;              /* answer to an older retransmission */
            continue;
        }
        on_response(t, c, &m, now);
    }
}

static void echo_readable(struct tl *t)
{
    uint8_t buf[PKT_MAX];

    for (int k = 0; k < 64; k++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t r = recvfrom(t->echo_fd, buf, sizeof(buf), MSG_DONTWAIT,
                             (struct sockaddr *)&from, &fl);
        if (r < 0)
            return;
        (void)!sendto(t->echo_fd, buf, (size_t)r, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
    }
}

static int open_sockets(struct tl *t)
{
    struct rlimit rl;
    struct epoll_event ev;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    if (t->ep < 0)
        return -1;
    for (unsigned i = 0; i < t->n; i++) {
        struct conn *c = &t->c[i];
        const struct sockaddr_storage *src = &t->src[i % (unsigned)t->nsrc];

        c->fd = socket(t->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fprintf(stderr, "turnload: socket %u: %s (raise ulimit -n?)\n", i, strerror(errno));
            return -1;
        }
        /* Each socket is one 5-tuple; connect() also filters what we read. */
        if (bind(c->fd, (const struct sockaddr *)src,
                 cw_addr_len((const struct sockaddr *)src)) < 0 ||
            connect(c->fd, (const struct sockaddr *)&t->server,
                    cw_addr_len((const struct sockaddr *)&t->server)) < 0) {
            fprintf(stderr, "turnload: bind/connect socket %u: %s\n", i, strerror(errno));
            return -1;
        }
        if (t->mode == MODE_RTT && !t->user_ts) {
            int one = 1;
            setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
        }
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            return -1;
        c->r1 = i < t->r1;
        c->chan = (uint16_t)(CHAN_FIRST + i % CHAN_COUNT);
    }
    t->echo_fd = -1;
    if (t->echo) {
        t->echo_fd = socket(t->peer.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t->echo_fd < 0 ||
            bind(t->echo_fd, (const struct sockaddr *)&t->peer,
                 cw_addr_len((const struct sockaddr *)&t->peer)) < 0) {
            fprintf(stderr, "turnload: echo peer bind: %s\n", strerror(errno));
            return -1;
        }
        ev.events = EPOLLIN;
        ev.data.u64 = UINT64_MAX;
        epoll_ctl(t->ep, EPOLL_CTL_ADD, t->echo_fd, &ev);
    }
    return 0;
}

/* ---- phases ------------------------------------------------------------------- */

static double secs(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e9 : 0;
}

static void print_errors(const struct tl *t)
{
    for (int k = 0; k < NKINDS; k++)
        for (int code = 0; code < NCODES; code++) {
            if (!t->err[k][code])
                continue;
            const char *name = code == CODE_TIMEOUT ? "timeout" : code == CODE_BADMI ? "badmi"
                             : code == CODE_BADRESP ? "badresp" : code == CODE_SENDFAIL ? "sendfail"
                             : NULL;
            if (name)
                printf("%s_err_%s=%u\n", kind_name[k], name, t->err[k][code]);
            else
                printf("%s_err_%d=%u\n", kind_name[k], code, t->err[k][code]);
        }
}

static void print_setup(struct tl *t)
{
    unsigned failed = t->n - t->allocs_ok;
    double fp = secs(t->t_start, t->t_first_pass ? t->t_first_pass : t->t_setup_done);

    printf("mode=%s\nrequested=%u\n", t->mode == MODE_ALLOC ? "alloc" : "rtt", t->n);
    printf("sources=%d\nr1_requested=%u\n", t->nsrc, t->r1 < t->n ? t->r1 : t->n);
    printf("allocs_ok=%u\nallocs_failed=%u\nr1_ok=%u\ntokens=%u\n", t->allocs_ok, failed,
           t->r1_ok, t->tokens);
    printf("perms_ok=%u\n", t->perms_ok);
    if (t->mode == MODE_RTT && !t->use_send)
        printf("chans_ok=%u\n", t->chans_ok);
    printf("answers_401=%u\nanswers_438=%u\nanswers_508=%u\nretransmits=%u\n", t->answers_401,
           t->answers_438, t->answers_508, t->retransmits);
    print_errors(t);
    printf("first_pass_s=%.3f\nsetup_s=%.3f\n", fp, secs(t->t_start, t->t_setup_done));
    printf("alloc_rate_per_s=%.0f\n", fp > 0 ? t->allocs_ok / fp : 0.0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, uint64_t n, double p)
{
    uint64_t k;

    if (!n)
        return 0;
    k = (uint64_t)(p * (double)n + 0.999999);   /* nearest rank */
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

static void print_rtt(struct tl *t)
{
    double sum = 0;
    uint64_t lost = t->sent > t->received ? t->sent - t->received : 0;

    if (t->dump && t->rtt_idx) {
        FILE *f = fopen(t->dump, "w");
        for (uint64_t i = 0; f && i < t->received; i++)
            fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t->rtt_idx[i], t->rtt_ts[i],
                    t->rtt[i]);
        if (f)
            fclose(f);
    }
    qsort(t->rtt, t->received, sizeof(t->rtt[0]), cmp_u64);
    for (uint64_t i = 0; i < t->received; i++)
        sum += (double)t->rtt[i];
    printf("rtt_allocs=%u\nrtt_mode=%s\nrate_per_alloc=%u\npayload_bytes=%u\n", t->nready,
           t->use_send ? "send" : "channel", t->rate, t->len);
    printf("rx_timestamps=%s\n", t->user_ts ? "user" : "kernel");
    printf("offered_pps=%.0f\nplanned=%" PRIu64 "\nsent=%" PRIu64 "\nreceived=%" PRIu64 "\n",
           (double)t->nready * t->rate, t->total, t->sent, t->received);
    printf("lost=%" PRIu64 "\nloss_pct=%.3f\ndups=%" PRIu64 "\nbad_payload=%" PRIu64 "\n", lost,
           t->sent ? 100.0 * (double)lost / (double)t->sent : 0.0, t->dups, t->bad_payload);
    printf("send_fail=%" PRIu64 "\nsend_lag_max_us=%.0f\nsend_lag_over_1ms=%" PRIu64 "\n",
           t->send_fail, (double)t->lag_max_ns / 1000.0, t->lag_over_1ms);
    printf("rtt_min_us=%.1f\n", t->received ? (double)t->rtt[0] / 1000.0 : 0.0);
    printf("rtt_mean_us=%.1f\n", t->received ? sum / (double)t->received / 1000.0 : 0.0);
    printf("rtt_p50_us=%.1f\nrtt_p90_us=%.1f\nrtt_p99_us=%.1f\nrtt_p999_us=%.1f\n",
           pct_us(t->rtt, t->received, 0.50), pct_us(t->rtt, t->received, 0.90),
           pct_us(t->rtt, t->received, 0.99), pct_us(t->rtt, t->received, 0.999));
    printf("rtt_max_us=%.1f\n", t->received ? (double)t->rtt[t->received - 1] / 1000.0 : 0.0);
}

static void setup_done(struct tl *t, uint64_t now)
{
    t->t_setup_done = now;
    print_setup(t);
    if (t->mode == MODE_ALLOC) {
        t->phase = P_HOLD;
        t->t_phase_end = now + (uint64_t)(t->hold_s * 1e9);
        printf("phase=holding\n");
    } else {
        t->ready = calloc(t->n, sizeof(*t->ready));
        for (unsigned i = 0; i < t->n; i++)
            if (t->c[i].st == S_READY)
                t->ready[t->nready++] = i;
        t->total = (uint64_t)((double)t->nready * t->rate * t->dur_s);
        t->rtt = calloc(t->total + 1, sizeof(*t->rtt));
        t->seen = calloc(t->total / 8 + 1, 1);
        if (t->dump) {
            t->rtt_idx = calloc(t->total + 1, sizeof(*t->rtt_idx));
            t->rtt_ts = calloc(t->total + 1, sizeof(*t->rtt_ts));
        }
        if (!t->ready || !t->rtt || !t->seen) {
            fprintf(stderr, "turnload: out of memory\n");
            exit(2);
        }
        t->period_ns = 1000000000ull;                  /* per allocation */
        t->run_t0 = now + 20000000ull;
        t->phase = P_RUN;
        printf("phase=running\n");
    }
    fflush(stdout);
}

static void enter_end(struct tl *t, uint64_t now)
{
    if (t->dealloc) {
        t->phase = P_DEALLOC;
        t->t_phase_end = now + 15000000000ull;
    } else {
        t->phase = P_DONE;
    }
}

static void tick(struct tl *t, uint64_t now)
{
    unsigned remaining = 0, alive = 0;

    for (unsigned i = 0; i < t->n; i++) {
        struct conn *c = &t->c[i];

        if (c->pending && now >= c->rto_at) {
            if (c->tx >= TX_MAX) {
                fail_step(t, c, CODE_TIMEOUT, now);
            } else {
                c->tx++;
                c->rto_ms = c->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS : c->rto_ms * 2;
                t->retransmits++;
                transmit(t, c, now);
            }
        }
        if (c->st == S_WAIT && now >= t->retry_deadline) {
            t->waiting--;
            count_err(t, K_ALLOC, 508);      /* still no capacity: final */
            c->st = S_FAILED;
        } else if (c->st == S_WAIT && t->phase == P_SETUP && now >= c->retry_at &&
                   t->setup_active < t->window) {
            t->waiting--;
            c->in_setup = 1;
            t->setup_active++;
            conn_request(t, c, S_ALLOC, now);
        }
        if (c->st == S_READY && now >= c->refresh_at && t->phase != P_DEALLOC)
            conn_request(t, c, S_REFRESH, now);
        if (t->phase == P_DEALLOC && !c->pending && c->allocated && c->st != S_GONE &&
            c->st != S_LOST) {
            if (t->dealloc_active < t->window) {
                t->dealloc_active++;
                conn_request(t, c, S_DEALLOC, now);
            }
            remaining++;
        }
        if (c->st == S_READY || c->st == S_REFRESH || c->st == S_REPERM)
            alive++;
    }
    switch (t->phase) {
    case P_SETUP:
        while (t->setup_active < t->window && t->next_start < t->n) {
            struct conn *c = &t->c[t->next_start++];
            c->in_setup = 1;
            t->setup_active++;
            conn_request(t, c, S_ALLOC, now);
        }
        if (t->next_start == t->n && !t->setup_active && !t->t_first_pass)
            t->t_first_pass = now;
        if (t->next_start == t->n && !t->setup_active && !t->waiting)
            setup_done(t, now);
        break;
    case P_HOLD:
        if (now >= t->t_phase_end) {
            printf("held_s=%.3f\nalive_after_hold=%u\nrefreshes_ok=%u\n",
                   secs(t->t_setup_done, now), alive, t->refreshes_ok);
            enter_end(t, now);
        }
        break;
    case P_DEALLOC:
        if ((!remaining && !t->dealloc_active) || now >= t->t_phase_end) {
            printf("dealloc_ok=%u\ndealloc_left=%u\n", t->dealloc_ok, remaining);
            t->phase = P_DONE;
        }
        break;
    default:
        break;
    }
}

static int run(struct tl *t)
{
    struct epoll_event evs[256];

    t->t_start = now_ns();
    t->t_deadline = t->t_start + (uint64_t)(t->timeout_s * 1e9);
    t->retry_deadline = t->t_start + (uint64_t)(t->retry_s * 1e9);
    t->t_next_tick = t->t_start;
    while (t->phase != P_DONE) {
        uint64_t now = now_ns(), wake;
        struct timespec ts;
        int n;

        if (g_stop || now >= t->t_deadline) {
            if (t->phase == P_SETUP) {
                t->t_setup_done = now;
                print_setup(t);      /* what was reached, errors so far */
            }
            printf("timed_out=%d\ninterrupted=%d\nphase_at_end=%d\n", !g_stop, (int)g_stop,
                   (int)t->phase);
            return 3;
        }
        if (now >= t->t_next_tick) {
            tick(t, now);
            t->t_next_tick = now + TICK_NS;
            continue;
        }
        if (t->phase == P_RUN) {
            /* Packet i goes to ready conn i % nready at t0 + i * period / nready:
             * every allocation sends at `rate`, phases spread evenly. */
            uint64_t step = t->period_ns / t->rate;
            while (t->next_i < t->total) {
                uint64_t due = t->run_t0 + t->next_i * step / t->nready;
                if (due > now)
                    break;
                send_packet(t, t->next_i, due, now);
                t->next_i++;
                now = now_ns();
            }
            if (t->next_i >= t->total) {
                t->phase = P_DRAIN;
                t->t_phase_end = now + (uint64_t)(t->drain_s * 1e9);
            }
        }
        if (t->phase == P_DRAIN && (now >= t->t_phase_end || t->received >= t->sent)) {
            print_rtt(t);
            enter_end(t, now);
            continue;
        }
        wake = t->t_next_tick;
        if (t->phase == P_RUN && t->next_i < t->total) {
            uint64_t due = t->run_t0 + t->next_i * (t->period_ns / t->rate) / t->nready;
            if (due < wake)
                wake = due;
        }
        if (t->phase == P_DRAIN && t->t_phase_end < wake)
            wake = t->t_phase_end;
        wake = wake > now ? wake - now : 0;
        ts.tv_sec = (time_t)(wake / 1000000000ull);
        ts.tv_nsec = (long)(wake % 1000000000ull);
        n = epoll_pwait2(t->ep, evs, 256, &ts, NULL);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == UINT64_MAX)
                echo_readable(t);
            else
                conn_readable(t, &t->c[evs[i].data.u64]);
        }
    }
    return 0;
}

static void tl_destroy(struct tl *t)
{
    if (t->c)
        for (unsigned i = 0; i < t->n; i++)
            if (t->c[i].fd > 0)
                close(t->c[i].fd);
    if (t->echo_fd > 0)
        close(t->echo_fd);
    if (t->ep > 0)
        close(t->ep);
    free(t->c);
    free(t->ready);
    free(t->rtt);
    free(t->rtt_idx);
    free(t->rtt_ts);
    free(t->seen);
    free(t);
}

int main(int argc, char **argv)
{
    struct tl *t = calloc(1, sizeof(*t));
    int rc;

    if (!t || parse_opts(t, argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (getrandom(&t->rnd, sizeof(t->rnd), 0) != sizeof(t->rnd) || !t->rnd)
        t->rnd = (uint64_t)now_ns() | 1;
    t->c = calloc(t->n, sizeof(*t->c));
    if (!t->c) {
        fprintf(stderr, "turnload: out of memory\n");
        return 2;
    }
    if (open_sockets(t) < 0)
        return 2;
    rc = run(t);
    if (rc == 0 && t->mode == MODE_ALLOC && (t->allocs_ok < t->n || t->perms_ok < t->n))
        rc = 1;
    if (rc == 0 && t->mode == MODE_RTT && (t->nready < t->n || !t->received))
        rc = 1;
    printf("stray=%u\nrecv_errors=%u\n", t->stray, t->recv_errors);
    printf("phase=done\nexit=%d\n", rc);
    fflush(stdout);
    tl_destroy(t);
    return rc;
}
