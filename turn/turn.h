/* turn.h - the TURN relay (RFC 8656 over RFC 8489 STUN): listeners on UDP,
 * TCP and TLS, long-term and REST credentials, UDP relays from a port range,
 * peer policy, quotas and status.
 *
 * The relay runs on several workers, each a thread with its own libuv loop
 * (the first on the caller's loop): every worker binds its own UDP and TCP
 * listeners on the same addresses with SO_REUSEPORT, the kernel spreads
 * clients over them by address and port, and a client stays on its worker
 * with its allocations and their relay sockets for their whole life. The
 * port ranges, quotas, failed-authentication counts and credentials are
 * shared under one lock taken only on requests, never per relayed packet. */
#ifndef TURN_TURN_H
#define TURN_TURN_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/stats.h"
#include "common/strbuf.h"

#define TURN_MAX_LISTEN 16

struct turn_policy;
struct cw_tls_ctx;

struct turn_options {
    /* UDP and TCP listeners (the edge's internal and external NICs). */
    struct sockaddr_storage listen[TURN_MAX_LISTEN];
    int nlisten;
    /* TLS listeners; tls is the server context (not owned). */
    struct sockaddr_storage tls_listen[TURN_MAX_LISTEN];
    int ntls_listen;
    struct cw_tls_ctx *tls;
    /* Relay addresses (external NIC), IPv4 and optionally IPv6. */
    struct sockaddr_storage relay4, relay6;
    int has_relay4, has_relay6;
    /* Static NAT: the public addresses advertised in XOR-RELAYED-ADDRESS. */
    struct sockaddr_storage public4, public6;
    int has_public4, has_public6;
    uint16_t port_min, port_max;
    const char *realm;
    const char *userdb_path;           /* NULL: no local users */
    const uint8_t *rest_secret;        /* NULL: no REST credentials */
    size_t rest_secret_len;
    unsigned lifetime_default, lifetime_max;   /* seconds */
    unsigned perm_lifetime, channel_lifetime;
    unsigned nonce_lifetime;
    unsigned max_allocations;          /* total; 0 = the port range */
    unsigned max_allocations_per_user; /* 0 = no limit */
    unsigned max_permissions, max_channels;   /* per allocation */
    unsigned auth_fail_limit;          /* failed authentications per source ... */
    unsigned auth_fail_window;         /* ... per this many seconds; 0 = no limit */
    unsigned max_tcp_clients;
    unsigned workers;                  /* 0: one per CPU */
    int software;                      /* send SOFTWARE */
    struct turn_policy *policy;        /* owned by the server from create on */
};

/* Fills the defaults of RFC 8656 and this project. */
void turn_options_init(struct turn_options *o);

struct turn_relay;

/* Binds every listener of every worker and starts the workers. On failure
 * returns NULL with a message in err; the policy in o is destroyed either
 * way (ownership moved). stats (may be NULL) gets the relay's counters,
 * summed over the workers when they are read. */
struct turn_relay *turn_relay_create(uv_loop_t *loop, struct turn_options *o,
                                     struct cw_stats *stats, char *err, size_t errlen);
/* Stops the workers (joining their threads), closes every socket and frees
 * everything once the first worker's handles closed; cb (may be NULL) runs
 * after that. */
void turn_relay_close(struct turn_relay *r, void (*cb)(void *), void *arg);
/* Re-reads the user database; -1 with a message if the file is bad (the old
 * database stays in use). */
int turn_relay_reload_users(struct turn_relay *r, char *err, size_t errlen);
/* Replaces the REST shared secret (len 0: none; at most 256 bytes, copied).
 * Allocations made with the old one stay. */
void turn_relay_set_rest_secret(struct turn_relay *r, const uint8_t *secret, size_t len);
/* TLS clients accepted from now on get tls (renewed certificates; not
 * owned, as in turn_options): every worker has switched when this
 * returns. Connections already in TLS keep theirs. */
void turn_relay_set_tls(struct turn_relay *r, struct cw_tls_ctx *tls);
/* The `causeway turn status` text. */
void turn_relay_status(struct turn_relay *r, struct cw_sb *out);
/* One line per allocation (user, client, relay, lifetime left, counters). */
void turn_relay_list(struct turn_relay *r, struct cw_sb *out);
/* Section "turn" of the status document: the status above, allocations per
 * user and the allocations table. */
struct cw_report;
void turn_relay_report(struct turn_relay *r, struct cw_report *rep);

#endif
