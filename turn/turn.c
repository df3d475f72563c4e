/* turn.c - the TURN server's life: options, start-up (listeners, port
 * ranges, secrets), the expiry sweep, user reloads and shutdown. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "turn/policy.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SWEEP_MS 1000

void turn_options_init(struct turn_options *o)
{
    memset(o, 0, sizeof(*o));
    o->port_min = 24000;
    o->port_max = 29999;
    o->realm = "causeway";
    o->lifetime_default = 600;     /* RFC 8656 7.2 */
    o->lifetime_max = 3600;
    o->perm_lifetime = 300;        /* RFC 8656 9 */
    o->channel_lifetime = 600;     /* RFC 8656 12 */
    o->nonce_lifetime = 600;
    o->max_allocations_per_user = 0;
    o->max_permissions = 64;
    o->max_channels = 64;
    o->auth_fail_limit = 20;
    o->auth_fail_window = 60;
    o->max_tcp_clients = 10000;
    o->software = 1;
}

static void on_sweep(uv_timer_t *t)
{
    struct turn_server *s = t->data;
    uint64_t now = turn__now(s);

    turn__alloc_sweep(s, now);
    turn__conn_sweep(s, now);
}

/* After every loop iteration's I/O: send what was queued to clients. */
static void on_check(uv_check_t *c)
{
    turn__relay_flush(c->data);
    turn__udp_flush_all(c->data);
}

static void register_stats(struct turn_server *s, struct cw_stats *st)
{
    static const struct {
        const char *name, *help;
        size_t off;
        enum cw_stat_kind kind;
    } tab[] = {
#define G(f, h) { "turn_" #f, h, offsetof(struct turn_stats, f), CW_STAT_GAUGE }
#define T(f, h) { "turn_" #f, h, offsetof(struct turn_stats, f), CW_STAT_COUNTER }
#define C(f, h) { "turn_" #f "_total", h, offsetof(struct turn_stats, f), CW_STAT_COUNTER }
        G(allocs_active, "allocations now"),
        G(perms_active, "permissions now"),
        G(chans_active, "channel bindings now"),
        G(clients_tcp, "TCP client connections now"),
        G(clients_tls, "TLS client connections now"),
        T(allocs_total, "allocations made"),
        C(requests, "STUN requests handled"),
        C(bindings, "Binding requests answered"),
        C(pkts_to_peer, "datagrams relayed client to peer"),
        C(pkts_to_client, "datagrams relayed peer to client"),
        C(bytes_to_peer, "payload bytes relayed client to peer"),
        C(bytes_to_client, "payload bytes relayed peer to client"),
        C(auth_failures, "failed authentications"),
        C(auth_ratelimited, "requests ignored after too many failed authentications"),
        C(stale_nonces, "438 Stale Nonce answers"),
        C(peer_denied, "peers refused by policy"),
        C(quota_rejects, "486 Allocation Quota Reached answers"),
        C(capacity_rejects, "508 Insufficient Capacity answers"),
        C(malformed, "malformed packets dropped"),
        C(dropped, "datagrams dropped (no permission, no channel, congestion)"),
#undef G
#undef T
#undef C
    };
    if (!st)
        return;
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        cw_stats_add(st, tab[i].name, tab[i].help, tab[i].kind,
                     (const uint64_t *)((const char *)&s->st + tab[i].off));
}

static void server_free(struct turn_server *s)
{
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;

    turn__ports_free(&s->ports4);
    turn__ports_free(&s->ports6);
    for (unsigned i = 0; i < 256; i++)
        while (s->ucounts[i]) {
            struct turn_ucount *u = s->ucounts[i];
            s->ucounts[i] = u->next;
            free(u);
        }
    turn_userdb_destroy(s->users);
    turn_policy_destroy(s->o.policy);
    free(s->authfail);
    free(s->rx_buf);
    free(s->peerq);
    free(s);
    if (cb)
        cb(arg);
}

void turn__server_maybe_free(struct turn_server *s)
{
    if (s->closing && s->pending_closes == 0 && !s->conns)
        server_free(s);
}

void turn__handle_close_pending(struct turn_server *s)
{
    s->pending_closes--;
    turn__server_maybe_free(s);
}

static void handle_closed(uv_handle_t *h)
{
    turn__handle_close_pending(h->data);
}

void turn_server_close(struct turn_server *s, void (*cb)(void *), void *arg)
{
    s->closing = 1;
    s->close_cb = cb;
    s->close_arg = arg;
    turn__relay_flush(s);
    while (s->allocs)
        turn__alloc_destroy(s->allocs, "server shutting down");
    turn__udp_flush_all(s);
    for (int i = 0; i < s->nudp; i++)
        turn__udp_close(s->udp[i]);
    s->nudp = 0;
    turn__tcp_close_all(s);
    s->pending_closes += 2;
    uv_close((uv_handle_t *)&s->sweep, handle_closed);
    uv_close((uv_handle_t *)&s->flush, handle_closed);
}

void turn_server_set_rest_secret(struct turn_server *s, const uint8_t *secret, size_t len)
{
    s->o.rest_secret = secret;
    s->o.rest_secret_len = secret ? len : 0;
}

int turn_server_reload_users(struct turn_server *s, char *err, size_t errlen)
{
    struct turn_userdb *db;

    if (!s->o.userdb_path)
        return 0;
    if (turn_userdb_load(s->o.userdb_path, &db, err, errlen) < 0)
        return -1;
    if (access(s->o.userdb_path, F_OK) < 0)
        CW_WARN(TURN_LOG, "user database %s does not exist: no local users until "
                "`causeway turn user add` creates it (typo in user-db?)", s->o.userdb_path);
    turn_userdb_destroy(s->users);
    s->users = db;
    CW_NOTICE(TURN_LOG, "user database %s loaded: %zu users", s->o.userdb_path,
              turn_userdb_count(db));
    return 0;
}

struct turn_server *turn_server_create(uv_loop_t *loop, struct turn_options *o,
                                       struct cw_stats *stats, char *err, size_t errlen)
{
    struct turn_server *s = calloc(1, sizeof(*s));
    unsigned range;

    if (!s) {
        turn_policy_destroy(o->policy);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->o = *o;
    o->policy = NULL;                       /* transferred */
    if (!s->o.policy)
        s->o.policy = turn_policy_create();
    uv_timer_init(loop, &s->sweep);
    uv_check_init(loop, &s->flush);
    s->sweep.data = s->flush.data = s;
    range = (unsigned)s->o.port_max - s->o.port_min + 1;
    if (!s->o.max_allocations || s->o.max_allocations > range)
        s->o.max_allocations = range;
    s->authfail = calloc(TURN_AUTHFAIL_SLOTS, sizeof(*s->authfail));
    s->rx_buf = calloc(TURN_UDP_BATCH, TURN_PKT_MAX);
    s->peerq = calloc(1, sizeof(*s->peerq));
    if (!s->o.policy || !s->authfail || !s->rx_buf || !s->peerq ||
        turn__ports_init(&s->ports4, s->o.port_min, s->o.port_max) < 0 ||
        turn__ports_init(&s->ports6, s->o.port_min, s->o.port_max) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (RAND_bytes(s->nonce_secret, sizeof(s->nonce_secret)) != 1 ||
        RAND_bytes((unsigned char *)&s->hash_seed, sizeof(s->hash_seed)) != 1 ||
        RAND_bytes(s->tid_prefix, sizeof(s->tid_prefix)) != 1) {
        snprintf(err, errlen, "no randomness from OpenSSL");
        goto fail;
    }
    if (!s->o.has_relay4 && !s->o.has_relay6) {
        snprintf(err, errlen, "no relay address configured");
        goto fail;
    }
    if ((s->o.has_relay4 && turn__relay_probe((struct sockaddr *)&s->o.relay4, err, errlen) < 0) ||
        (s->o.has_relay6 && turn__relay_probe((struct sockaddr *)&s->o.relay6, err, errlen) < 0))
        goto fail;
    if (s->o.userdb_path && turn_server_reload_users(s, err, errlen) < 0)
        goto fail;
    if (!s->o.userdb_path && !s->o.rest_secret) {
        snprintf(err, errlen, "no credentials: configure a user database or a REST secret");
        goto fail;
    }
    for (int i = 0; i < s->o.nlisten; i++)
        if (turn__udp_listen(s, (struct sockaddr *)&s->o.listen[i], err, errlen) < 0 ||
            turn__tcp_listen(s, (struct sockaddr *)&s->o.listen[i], 0, err, errlen) < 0)
            goto fail;
    for (int i = 0; i < s->o.ntls_listen; i++)
        if (!s->o.tls ||
            turn__tcp_listen(s, (struct sockaddr *)&s->o.tls_listen[i], 1, err, errlen) < 0) {
            if (!s->o.tls)
                snprintf(err, errlen, "TLS listener without a certificate");
            goto fail;
        }
    register_stats(s, stats);
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_check_start(&s->flush, on_check);
    return s;
fail:
    /* The loop frees the rest when the handles have closed. */
    turn_server_close(s, NULL, NULL);
    return NULL;
}
