/* turn_int.h - the TURN server's internal types, shared by its files:
 * server.c (request handling), alloc.c (allocations, permissions, channels),
 * ports.c (relay port range), udp.c (datagram I/O), tcp.c (stream clients),
 * status.c (status text). */
#ifndef TURN_TURN_INT_H
#define TURN_TURN_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/report.h"
#include "turn/auth.h"
#include "turn/stun.h"
#include "turn/turn.h"

union turn_sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

#define TURN_LOG "turn"
#define TURN_UDP_BATCH 32        /* datagrams per recvmmsg/sendmmsg */
#define TURN_PKT_MAX 2048        /* largest datagram slot we keep */
#define TURN_STREAM_PENDING_MAX (256 * 1024)  /* then peer data is dropped */
#define TURN_RESERVATION_S 30    /* RESERVATION-TOKEN validity (RFC 8656 7.2) */
#define TURN_CHANNEL_COOLDOWN_S 300 /* RFC 8656 12: no rebinding for 5 min */
#define TURN_HASH_BUCKETS 8192   /* allocations by client 5-tuple */

struct turn_server;
struct turn_alloc;

/* Where a client's packets come from and answers go to: a UDP listener
 * socket plus the client's address, or a TCP/TLS connection. */
struct turn_udp_listener;
struct turn_conn;

struct turn_client {
    struct turn_udp_listener *ul;   /* UDP: the listener the client talks to */
    struct turn_conn *conn;         /* TCP/TLS: the connection; else NULL */
    union turn_sa addr;             /* the client's address as we see it */
    uint8_t proto;                  /* enum turn_proto */
};

enum turn_proto { TURN_UDP = 0, TURN_TCP = 1, TURN_TLS = 2 };

/* ---- datagram I/O (udp.c) ---------------------------------------------- */

struct turn_sendq {
    unsigned n;
    struct mmsghdr msg[TURN_UDP_BATCH];
    struct iovec iov[TURN_UDP_BATCH];
    uint8_t ctl[TURN_UDP_BATCH][CMSG_SPACE(sizeof(uint16_t))] __attribute__((aligned(8)));
    union turn_sa dst[TURN_UDP_BATCH];
    uint8_t buf[TURN_UDP_BATCH][TURN_PKT_MAX];
};

struct turn_peerq_ent {
    struct turn_alloc *a;
    union turn_sa peer;
    uint16_t len;
    uint8_t buf[TURN_PKT_MAX];
};

struct turn_peerq {                 /* datagrams to peers, per batch */
    unsigned n;
    struct turn_peerq_ent e[TURN_UDP_BATCH];
};

struct turn_udp_listener {
    struct turn_server *srv;
    int fd;
    uv_poll_t poll;
    union turn_sa addr;
    struct turn_sendq *q;           /* datagrams to clients, sent in batches */
    struct turn_udp_listener *next_dirty;
    int dirty;
    int no_gso;                     /* the kernel refused UDP_SEGMENT */
};

int turn__udp_listen(struct turn_server *s, const struct sockaddr *addr, char *err,
                     size_t errlen);
/* Queues one datagram to a client on a listener; flushed by the check handle
 * or when the batch is full. Returns a slot of TURN_PKT_MAX bytes to fill
 * and then commit with its length. */
uint8_t *turn__udp_slot(struct turn_udp_listener *ul, const struct sockaddr *dst);
void turn__udp_commit(struct turn_udp_listener *ul, size_t len);
void turn__udp_flush_all(struct turn_server *s);
/* Opens the relay socket of an allocation and starts reading it: 0, -1 if
 * the port is in use (try another), -2 if the relay address is unusable. */
int turn__relay_open(struct turn_alloc *a, int family, uint16_t port, int dont_fragment);
/* Start-up check that a relay address can be bound; -1 with err. */
int turn__relay_probe(const struct sockaddr *relay, char *err, size_t errlen);
void turn__relay_close(struct turn_alloc *a);
/* Queues one datagram from the relay address to a peer (copied; sent by
 * turn__relay_flush at the end of the batch); -1 if dropped. */
int turn__relay_send(struct turn_alloc *a, const struct sockaddr *peer, const uint8_t *p,
                     size_t n);
void turn__relay_flush(struct turn_server *s);
void turn__udp_close(struct turn_udp_listener *ul);

/* ---- stream clients (tcp.c) -------------------------------------------- */

int turn__tcp_listen(struct turn_server *s, const struct sockaddr *addr, int tls, char *err,
                     size_t errlen);
/* Writes a whole frame to a stream client, padding to 4 (RFC 8656 12.5).
 * Returns -1 (frame dropped) when the client does not keep up. */
int turn__conn_send(struct turn_conn *c, const uint8_t *p, size_t n);
void turn__conn_detach_alloc(struct turn_conn *c);
void turn__conn_set_alloc(struct turn_conn *c, struct turn_alloc *a);
void turn__tcp_close_all(struct turn_server *s);
/* Closes stream clients that made no allocation within the grace time. */
void turn__conn_sweep(struct turn_server *s, uint64_t now);

/* Sends a STUN message or ChannelData frame to a client. */
void turn__client_send(struct turn_server *s, const struct turn_client *cl, const uint8_t *p,
                       size_t n);

/* ---- allocations (alloc.c) ---------------------------------------------- */

struct turn_perm {
    union turn_sa peer;             /* port ignored (RFC 8656 9) */
    uint64_t expires;               /* loop time, ms */
};

struct turn_chan {
    union turn_sa peer;
    uint64_t expires;               /* bound until; cooling until +5 min */
    uint16_t num;
};

struct turn_ucount {                /* allocations per user, for quotas */
    struct turn_ucount *next;
    unsigned n;
    char name[];
};

struct turn_alloc {
    struct turn_alloc *hnext;       /* chain in the 5-tuple hash */
    struct turn_alloc *next, *prev; /* list of all allocations */
    struct turn_server *srv;
    struct turn_client client;
    union turn_sa relay;            /* bound relay address */
    int fd;
    uv_poll_t poll;
    uint64_t expires;
    struct turn_ucount *user;       /* name and quota count */
    uint8_t tid[STUN_TID_LEN];      /* the Allocate that made it, and */
    uint8_t token[8];               /* ... what its answer carried, for */
    uint8_t has_token;              /* ... retransmissions of it */
    uint16_t addr_error;
    uint8_t closing;
    uint16_t nperms, capperms, nchans, capchans;
    struct turn_perm *perms;
    struct turn_chan *chans;
    uint64_t pkts_to_peer, pkts_to_client, bytes_to_peer, bytes_to_client;
};

struct turn_alloc *turn__alloc_find(struct turn_server *s, const struct turn_client *cl);
/* NULL with *code 486 (the user's quota), 508 (capacity, memory). */
struct turn_alloc *turn__alloc_create(struct turn_server *s, const struct turn_client *cl,
                                      const char *user, size_t userlen, int *code);
void turn__alloc_destroy(struct turn_alloc *a, const char *why);
/* 0 ok, -1 cap reached. */
int turn__perm_add(struct turn_alloc *a, const struct sockaddr *peer, uint64_t now);
int turn__perm_has(const struct turn_alloc *a, const struct sockaddr *peer, uint64_t now);
struct turn_chan *turn__chan_by_num(struct turn_alloc *a, uint16_t num);
struct turn_chan *turn__chan_by_peer(struct turn_alloc *a, const struct sockaddr *peer);
/* Binds or refreshes; -1 with *code set (400, 508). */
int turn__chan_bind(struct turn_alloc *a, uint16_t num, const struct sockaddr *peer,
                    uint64_t now, int *code);
void turn__alloc_sweep(struct turn_server *s, uint64_t now);
/* Data from a peer to the client (channel or Data indication). */
void turn__alloc_from_peer(struct turn_alloc *a, const struct sockaddr *peer,
                           const uint8_t *p, size_t n);

/* ---- relay ports (ports.c) ---------------------------------------------- */

struct turn_resv {
    struct turn_resv *next;
    uint8_t token[8];
    uint16_t port;
    uint64_t expires;
};

struct turn_ports {
    uint16_t lo, hi;
    uint32_t cursor;
    unsigned used;                  /* taken or reserved */
    uint8_t *state;                 /* per port: 0 free, 1 taken, 2 reserved */
    struct turn_resv *resv;
};

int turn__ports_init(struct turn_ports *p, uint16_t lo, uint16_t hi);
void turn__ports_free(struct turn_ports *p);
/* A free port, even when asked (with the next one free too when pair is 1);
 * -1 when the range is exhausted. The caller binds it; on bind failure it
 * calls turn__ports_release and asks again. */
int turn__ports_take(struct turn_ports *p, int even, int pair);
void turn__ports_release(struct turn_ports *p, uint16_t port);
/* Holds port for TURN_RESERVATION_S and writes the token that redeems it. */
void turn__ports_reserve(struct turn_ports *p, uint16_t port, uint64_t now, uint8_t token[8]);
/* The reserved port for a token (now taken), or -1. */
int turn__ports_redeem(struct turn_ports *p, const uint8_t token[8]);
void turn__ports_sweep(struct turn_ports *p, uint64_t now);

/* ---- state shared by the workers ------------------------------------------ */

struct turn_authfail {              /* failed authentications by source IP and user */
    union turn_sa src;
    uint32_t user_hash;
    uint64_t window_start;
    uint32_t count;
    uint8_t logged;
};
#define TURN_AUTHFAIL_SLOTS 4096
#define TURN_REST_SECRET_MAX 256

/* What every worker sees: the port ranges, allocations per user, the
 * failed-authentication table and the credentials. mu guards every field
 * above it and is held only for short lookups and updates, never while a
 * worker waits for anything. */
struct turn_shared {
    pthread_mutex_t mu;
    struct turn_userdb *users;
    uint8_t rest_secret[TURN_REST_SECRET_MAX];
    size_t rest_secret_len;         /* 0: no REST credentials */
    struct turn_ports ports4, ports6;
    struct turn_ucount *ucounts[256];
    unsigned allocs;                /* allocations of all workers */
    unsigned stream_clients;        /* TCP and TLS clients of all workers */
    struct turn_authfail *authfail; /* TURN_AUTHFAIL_SLOTS */
    /* Set before the workers start, read-only afterwards. */
    uint8_t nonce_secret[TURN_NONCE_SECRET_LEN];
    uint32_t hash_seed;
    int reuseport;                  /* several workers: listeners share their ports */
};

static inline void turn__lock(struct turn_shared *sh)
{
    pthread_mutex_lock(&sh->mu);
}

static inline void turn__unlock(struct turn_shared *sh)
{
    pthread_mutex_unlock(&sh->mu);
}

/* ---- the server of one worker ------------------------------------------------ */

struct turn_stats {
    uint64_t allocs_active, allocs_total, allocs_by_proto[3];
    uint64_t clients_tcp, clients_tls;
    uint64_t pkts_to_peer, pkts_to_client, bytes_to_peer, bytes_to_client;
    uint64_t requests, bindings, auth_failures, auth_ratelimited, stale_nonces;
    uint64_t peer_denied, quota_rejects, capacity_rejects, malformed, dropped;
    uint64_t perms_active, chans_active;
};

/* One worker's share of the relay: its loop, its listener sockets (bound
 * with SO_REUSEPORT when there are several workers, so that the kernel
 * keeps each client 5-tuple on one worker), the allocations made through
 * them and their relay sockets. Only the worker's thread touches it. */
struct turn_server {
    uv_loop_t *loop;
    struct turn_options o;          /* the relay's; policy and tls not owned */
    struct turn_shared *sh;
    unsigned idx;                   /* worker number, 0 on the caller's loop */
    uint32_t hash_seed;
    uint8_t tid_prefix[4];          /* transaction ids of Data indications */
    uint64_t tid_ctr;
    struct turn_alloc *hash[TURN_HASH_BUCKETS];
    struct turn_alloc *allocs;      /* list head */
    struct turn_udp_listener *udp[TURN_MAX_LISTEN];
    int nudp;
    struct turn_udp_listener *dirty;
    struct turn_peerq *peerq;
    int no_gso;                     /* the kernel refused UDP_SEGMENT to peers */
    uv_tcp_t *tcp[2 * TURN_MAX_LISTEN];
    int ntcp;
    struct turn_conn *conns;        /* stream clients */
    uv_timer_t sweep;
    uv_check_t flush;
    struct turn_stats st;
    uint64_t log508_at;             /* the last 508 line, rate-limited */
    int log508_quiet;
    int closing, pending_closes;
    void (*close_cb)(void *);
    void *close_arg;
    /* Receive batch shared by every socket (the loop is single-threaded). */
    struct mmsghdr rx_msg[TURN_UDP_BATCH];
    struct iovec rx_iov[TURN_UDP_BATCH];
    union turn_sa rx_from[TURN_UDP_BATCH];
    uint8_t (*rx_buf)[TURN_PKT_MAX];
};

/* Creates one worker's server on loop (listeners bound, sweep running); on
 * failure NULL with err, and what was made closes on that loop. */
struct turn_server *turn__server_create(uv_loop_t *loop, const struct turn_options *o,
                                        struct turn_shared *sh, unsigned idx, char *err,
                                        size_t errlen);
void turn__server_close(struct turn_server *s, void (*cb)(void *), void *arg);
/* The `causeway turn status` text from the relay's options, the shared
 * state and the workers' summed counters (status.c). */
void turn__status(const struct turn_options *o, struct turn_shared *sh,
                  const struct turn_stats *st, const unsigned *allocs_per_worker,
                  unsigned nworkers, struct cw_sb *out);
void turn__list(struct turn_server *s, struct cw_sb *out);
/* The same for the status document: section "turn", and one allocation row
 * per call of turn__report_allocs (on each worker's thread). */
void turn__report(const struct turn_options *o, struct turn_shared *sh, const struct turn_stats *st,
                  struct cw_report *r);
void turn__report_allocs(struct turn_server *s, struct cw_report *r);
/* Worker i's server (tests and fuzzing drive it directly). */
struct turn_server *turn__relay_worker(struct turn_relay *r, unsigned i);

/* How a peer is shown to clients: another allocation of this server by
 * its public (static NAT) address. */
void turn__peer_outward(const struct turn_server *s, const struct sockaddr *peer,
                        union turn_sa *out);
/* Handles one STUN message or ChannelData frame from a client (server.c). */
void turn__handle(struct turn_server *s, const struct turn_client *cl,
                  const struct sockaddr *local, const uint8_t *p, size_t n);
/* A handle counted in pending_closes has closed: frees a closing server
 * once nothing is pending and no stream client is left. */
void turn__handle_close_pending(struct turn_server *s);
void turn__server_maybe_free(struct turn_server *s);

static inline uint64_t turn__now(const struct turn_server *s)
{
    return uv_now(s->loop);
}

#endif
