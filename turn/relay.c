/* relay.c - the relay as a whole: the state the workers share, the workers
 * themselves (one thread and libuv loop each, the first on the caller's
 * loop), and what the control socket asks of them: status, the allocation
 * list, counters, user and secret reloads, shutdown.
 *
 * The caller's thread talks to another worker only through worker_call:
 * it hands the worker a function, wakes its loop and waits until the
 * function has run there. Workers never wait for the caller, so this
 * cannot deadlock; a worker's state is only ever touched on its own
 * thread. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/status.h"
#include "turn/policy.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS_MAX 64

struct turn_worker {
    struct turn_relay *relay;
    unsigned idx;
    uv_loop_t *loop;                /* worker 0: the caller's; else own_loop */
    uv_loop_t own_loop;
    uv_thread_t thread;
    uv_async_t wake;
    int running;                    /* the thread was started */
    struct turn_server *srv;
    /* A call from the caller's thread; guarded by relay->call_mu. */
    void (*call_fn)(struct turn_server *, void *);
    void *call_arg;
    int call_done, stop;
};

struct turn_relay {
    struct turn_shared sh;
    struct turn_options o;          /* the policy is owned here */
    unsigned nworkers;
    struct turn_worker *w;
    uv_mutex_t call_mu;
    uv_cond_t call_cv;
    struct turn_stats sum;          /* the workers' counters, summed when read */
    void (*close_cb)(void *);
    void *close_arg;
};

/* ---- calls into workers ---------------------------------------------------- */

static void worker_call(struct turn_worker *w, void (*fn)(struct turn_server *, void *),
                        void *arg)
{
    struct turn_relay *r = w->relay;

    if (!w->running) {              /* worker 0, or not started: this thread's */
        fn(w->srv, arg);
        return;
    }
    uv_mutex_lock(&r->call_mu);
    w->call_fn = fn;
    w->call_arg = arg;
    w->call_done = 0;
    uv_async_send(&w->wake);
    while (!w->call_done)
        uv_cond_wait(&r->call_cv, &r->call_mu);
    uv_mutex_unlock(&r->call_mu);
}

static void worker_server_closed(void *arg)
{
    struct turn_worker *w = arg;

    w->srv = NULL;
    uv_close((uv_handle_t *)&w->wake, NULL);  /* then the loop has nothing left */
}

static void on_wake(uv_async_t *h)
{
    struct turn_worker *w = h->data;
    struct turn_relay *r = w->relay;
    void (*fn)(struct turn_server *, void *);
    void *arg;
    int stop;

    uv_mutex_lock(&r->call_mu);
    fn = w->call_fn;
    arg = w->call_arg;
    w->call_fn = NULL;
    stop = w->stop;
    w->stop = 0;
    uv_mutex_unlock(&r->call_mu);
    if (fn) {
        fn(w->srv, arg);
        uv_mutex_lock(&r->call_mu);
        w->call_done = 1;
        uv_cond_broadcast(&r->call_cv);
        uv_mutex_unlock(&r->call_mu);
    }
    if (stop)
        turn__server_close(w->srv, worker_server_closed, w);
}

static void worker_main(void *arg)
{
    struct turn_worker *w = arg;

    uv_run(w->loop, UV_RUN_DEFAULT);
}

/* Stops a started worker and waits for its thread; or, for a worker whose
 * thread never started, closes its server on this thread. */
static void worker_stop(struct turn_worker *w)
{
    if (w->running) {
        uv_mutex_lock(&w->relay->call_mu);
        w->stop = 1;
        uv_mutex_unlock(&w->relay->call_mu);
        uv_async_send(&w->wake);
        uv_thread_join(&w->thread);
        w->running = 0;
    } else {
        if (w->srv)
            turn__server_close(w->srv, worker_server_closed, w);
        else
            uv_close((uv_handle_t *)&w->wake, NULL);
        uv_run(w->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(w->loop);
}

/* ---- shared state -------------------------------------------------------------- */

static void shared_free(struct turn_shared *sh)
{
    turn__ports_free(&sh->ports4);
    turn__ports_free(&sh->ports6);
    for (unsigned i = 0; i < 256; i++)
        while (sh->ucounts[i]) {
            struct turn_ucount *u = sh->ucounts[i];
            sh->ucounts[i] = u->next;
            free(u);
        }
    turn_userdb_destroy(sh->users);
    free(sh->authfail);
    OPENSSL_cleanse(sh->rest_secret, sizeof(sh->rest_secret));
    OPENSSL_cleanse(sh->nonce_secret, sizeof(sh->nonce_secret));
    pthread_mutex_destroy(&sh->mu);
}

static void relay_free(struct turn_relay *r)
{
    void (*cb)(void *) = r->close_cb;
    void *arg = r->close_arg;

    shared_free(&r->sh);
    turn_policy_destroy(r->o.policy);
    uv_mutex_destroy(&r->call_mu);
    uv_cond_destroy(&r->call_cv);
    free(r->w);
    free(r);
    if (cb)
        cb(arg);
}

/* Worker 0 is the last to close (on the caller's loop): then all is gone. */
static void worker0_closed(void *arg)
{
    relay_free(arg);
}

void turn_relay_close(struct turn_relay *r, void (*cb)(void *), void *arg)
{
    r->close_cb = cb;
    r->close_arg = arg;
    for (unsigned i = 1; i < r->nworkers; i++)
        worker_stop(&r->w[i]);
    if (r->nworkers && r->w[0].srv)
        turn__server_close(r->w[0].srv, worker0_closed, r);
    else
        relay_free(r);
}

int turn_relay_reload_users(struct turn_relay *r, char *err, size_t errlen)
{
    struct turn_userdb *db, *old;

    if (!r->o.userdb_path)
        return 0;
    if (turn_userdb_load(r->o.userdb_path, &db, err, errlen) < 0)
        return -1;
    if (access(r->o.userdb_path, F_OK) < 0)
        CW_WARN(TURN_LOG, "user database %s does not exist: no local users until "
                "`causeway turn user add` creates it (typo in user-db?)", r->o.userdb_path);
    turn__lock(&r->sh);
    old = r->sh.users;
    r->sh.users = db;
    turn__unlock(&r->sh);
    turn_userdb_destroy(old);
    CW_NOTICE(TURN_LOG, "user database %s loaded: %zu users", r->o.userdb_path,
              turn_userdb_count(db));
    return 0;
}

void turn_relay_set_rest_secret(struct turn_relay *r, const uint8_t *secret, size_t len)
{
    if (!secret || len > sizeof(r->sh.rest_secret))
        len = 0;
    turn__lock(&r->sh);
    OPENSSL_cleanse(r->sh.rest_secret, sizeof(r->sh.rest_secret));
    if (len)
        memcpy(r->sh.rest_secret, secret, len);
    r->sh.rest_secret_len = len;
    turn__unlock(&r->sh);
}

static void set_tls(struct turn_server *s, void *arg)
{
    s->o.tls = arg;
}

void turn_relay_set_tls(struct turn_relay *r, struct cw_tls_ctx *tls)
{
    r->o.tls = tls;
    for (unsigned i = 0; i < r->nworkers; i++)
        worker_call(&r->w[i], set_tls, tls);
}

/* ---- counters, status, list -------------------------------------------------- */

static void add_stats(struct turn_server *s, void *arg)
{
    uint64_t *sum = arg;
    const uint64_t *v = (const uint64_t *)&s->st;

    for (size_t i = 0; i < sizeof(s->st) / sizeof(uint64_t); i++)
        sum[i] += v[i];
}

static void relay_sum_stats(struct turn_relay *r, unsigned *allocs_per_worker)
{
    memset(&r->sum, 0, sizeof(r->sum));
    for (unsigned i = 0; i < r->nworkers; i++) {
        uint64_t before = r->sum.allocs_active;
        worker_call(&r->w[i], add_stats, &r->sum);
        if (allocs_per_worker)
            allocs_per_worker[i] = (unsigned)(r->sum.allocs_active - before);
    }
}

static void refresh_stats(void *arg)
{
    relay_sum_stats(arg, NULL);
}

void turn_relay_status(struct turn_relay *r, struct cw_sb *out)
{
    unsigned per[WORKERS_MAX];

    relay_sum_stats(r, per);
    turn__status(&r->o, &r->sh, &r->sum, per, r->nworkers, out);
}

static void list_one(struct turn_server *s, void *arg)
{
    turn__list(s, arg);
}

void turn_relay_list(struct turn_relay *r, struct cw_sb *out)
{
    cw_sb_printf(out, "%-24s %-5s %-28s %-22s %6s %5s %5s %10s %10s\n", "user", "proto",
                 "client", "relay", "left_s", "perms", "chans", "pkts_out", "pkts_in");
    for (unsigned i = 0; i < r->nworkers; i++)
        worker_call(&r->w[i], list_one, out);
}

static void report_one(struct turn_server *s, void *arg)
{
    turn__report_allocs(s, arg);
}

void turn_relay_report(struct turn_relay *r, struct cw_report *rep)
{
    unsigned per[WORKERS_MAX];

    relay_sum_stats(r, per);
    turn__report(&r->o, &r->sh, &r->sum, rep);
    cw_status_cert_table(rep, r->o.tls);     /* tls-listen's */
    cw_report_table(rep, "allocations", "Allocations",
                    "user,proto,client,relay,left_s,perms,chans,pkts_out,pkts_in",
                    "User,Transport,Client,Relay,Lifetime left (s),Permissions,Channels,"
                    "Packets out,Packets in");
    for (unsigned i = 0; i < r->nworkers; i++)
        worker_call(&r->w[i], report_one, rep);
}

struct turn_server *turn__relay_worker(struct turn_relay *r, unsigned i)
{
    return i < r->nworkers ? r->w[i].srv : NULL;
}

static void register_stats(struct turn_relay *r, struct cw_stats *st)
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
    cw_stats_add_refresh(st, refresh_stats, r);
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        cw_stats_add(st, tab[i].name, tab[i].help, tab[i].kind,
                     (const uint64_t *)((const char *)&r->sum + tab[i].off));
}

/* ---- start-up -------------------------------------------------------------------- */

/* With several workers the listeners join a SO_REUSEPORT group, and such a
 * bind succeeds even when another process of this user holds the address
 * the same way (a second causeway-edge, say) - which would then get part
 * of the clients. A plain bind first makes that an error at start-up. */
static int bind_check(const struct sockaddr *addr, int type, char *err, size_t errlen)
{
    int fd = socket(addr->sa_family, type | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    char buf[CW_ADDR_STRLEN];

    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (type == SOCK_STREAM)        /* as the listener will: TIME_WAIT is no conflict */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, addr, cw_addr_len(addr)) < 0) {
        if (type == SOCK_DGRAM)
            snprintf(err, errlen, "cannot bind UDP %s: %s", cw_addr_fmt(addr, buf, sizeof(buf), 1),
                     strerror(errno));
        else
            snprintf(err, errlen, "cannot listen on TCP %s: %s",
                     cw_addr_fmt(addr, buf, sizeof(buf), 1), strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

static unsigned workers_wanted(const struct turn_options *o)
{
    long n = o->workers ? (long)o->workers : sysconf(_SC_NPROCESSORS_ONLN);

    /* Port 0 (tests) would give each worker its own port. */
    for (int i = 0; i < o->nlisten; i++)
        if (cw_addr_port((const struct sockaddr *)&o->listen[i]) == 0)
            n = 1;
    for (int i = 0; i < o->ntls_listen; i++)
        if (cw_addr_port((const struct sockaddr *)&o->tls_listen[i]) == 0)
            n = 1;
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

static int shared_init(struct turn_relay *r, char *err, size_t errlen)
{
    struct turn_shared *sh = &r->sh;

    sh->authfail = calloc(TURN_AUTHFAIL_SLOTS, sizeof(*sh->authfail));
    if (!sh->authfail || turn__ports_init(&sh->ports4, r->o.port_min, r->o.port_max) < 0 ||
        turn__ports_init(&sh->ports6, r->o.port_min, r->o.port_max) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (RAND_bytes(sh->nonce_secret, sizeof(sh->nonce_secret)) != 1 ||
        RAND_bytes((unsigned char *)&sh->hash_seed, sizeof(sh->hash_seed)) != 1) {
        snprintf(err, errlen, "no randomness from OpenSSL");
        return -1;
    }
    if (r->o.rest_secret_len > sizeof(sh->rest_secret)) {
        snprintf(err, errlen, "REST secret longer than %zu bytes", sizeof(sh->rest_secret));
        return -1;
    }
    turn_relay_set_rest_secret(r, r->o.rest_secret, r->o.rest_secret_len);
    r->o.rest_secret = NULL;        /* the copy in sh is the one in use */
    r->o.rest_secret_len = 0;
    return 0;
}

/* Checks that need no socket of our own: relay addresses, credentials. */
static int relay_check(struct turn_relay *r, char *err, size_t errlen)
{
    const struct turn_options *o = &r->o;

    if (!o->has_relay4 && !o->has_relay6) {
        snprintf(err, errlen, "no relay address configured");
        return -1;
    }
    if (o->has_relay4 && turn__relay_probe((const struct sockaddr *)&o->relay4, err, errlen) < 0)
        return -1;
    if (o->has_relay6 && turn__relay_probe((const struct sockaddr *)&o->relay6, err, errlen) < 0)
        return -1;
    if (o->userdb_path && turn_relay_reload_users(r, err, errlen) < 0)
        return -1;
    if (!o->userdb_path && !r->sh.rest_secret_len) {
        snprintf(err, errlen, "no credentials: configure a user database or a REST secret");
        return -1;
    }
    if (r->sh.reuseport) {
        for (int i = 0; i < o->nlisten; i++)
            if (bind_check((const struct sockaddr *)&o->listen[i], SOCK_DGRAM, err, errlen) < 0 ||
                bind_check((const struct sockaddr *)&o->listen[i], SOCK_STREAM, err, errlen) < 0)
                return -1;
        for (int i = 0; i < o->ntls_listen; i++)
            if (bind_check((const struct sockaddr *)&o->tls_listen[i], SOCK_STREAM, err,
                           errlen) < 0)
                return -1;
    }
    return 0;
}

static int workers_start(struct turn_relay *r, uv_loop_t *loop, char *err, size_t errlen)
{
    sigset_t all, old;
    int rc = 0;

    for (unsigned i = 0; i < r->nworkers; i++) {
        struct turn_worker *w = &r->w[i];

        w->relay = r;
        w->idx = i;
        w->loop = loop;
        if (i > 0) {
            w->loop = &w->own_loop;
            if (uv_loop_init(w->loop) < 0) {
                snprintf(err, errlen, "cannot make the event loop of worker %u", i);
                r->nworkers = i;
                return -1;
            }
            uv_async_init(w->loop, &w->wake, on_wake);
            w->wake.data = w;
        }
        w->srv = turn__server_create(w->loop, &r->o, &r->sh, i, err, errlen);
        if (!w->srv) {
            r->nworkers = i + 1;    /* this one's loop has closing handles */
            return -1;
        }
    }
    /* Signals belong to the caller's loop: the workers' threads block them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 1; i < r->nworkers && rc == 0; i++) {
        rc = uv_thread_create(&r->w[i].thread, worker_main, &r->w[i]);
        if (rc == 0)
            r->w[i].running = 1;
        else
            snprintf(err, errlen, "cannot start worker thread %u: %s", i, uv_strerror(rc));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

/* The start's line: listeners, relays (and what clients are told), workers. */
static void log_start(const struct turn_relay *r)
{
    const struct turn_options *o = &r->o;
    const struct sockaddr_storage *relay[2] = { o->has_relay4 ? &o->relay4 : NULL,
                                                o->has_relay6 ? &o->relay6 : NULL };
    const struct sockaddr_storage *pub[2] = { o->has_public4 ? &o->public4 : NULL,
                                              o->has_public6 ? &o->public6 : NULL };
    char a[CW_ADDR_STRLEN];
    struct cw_sb l;
    int n = 0;

    cw_sb_init(&l);
    for (int i = 0; i < o->nlisten; i++)
        cw_sb_printf(&l, "%s%s (udp, tcp)", n++ ? ", " : "",
                     cw_addr_fmt((const struct sockaddr *)&o->listen[i], a, sizeof(a), 1));
    for (int i = 0; i < o->ntls_listen; i++)
        cw_sb_printf(&l, "%s%s (tls)", n++ ? ", " : "",
                     cw_addr_fmt((const struct sockaddr *)&o->tls_listen[i], a, sizeof(a), 1));
    cw_sb_printf(&l, "; relays on");
    for (int i = 0, k = 0; i < 2; i++) {
        if (!relay[i])
            continue;
        cw_sb_printf(&l, "%s %s", k++ ? "," : "",
                     cw_addr_fmt((const struct sockaddr *)relay[i], a, sizeof(a), 0));
        if (pub[i])
            cw_sb_printf(&l, " (advertised as %s)",
                         cw_addr_fmt((const struct sockaddr *)pub[i], a, sizeof(a), 0));
    }
    cw_sb_printf(&l, " ports %u-%u; %u worker%s", o->port_min, o->port_max, r->nworkers,
                 r->nworkers == 1 ? "" : "s, one thread and loop each");
    CW_NOTICE(TURN_LOG, "listening on %s", l.s ? l.s : "(out of memory)");
    cw_sb_free(&l);
}

struct turn_relay *turn_relay_create(uv_loop_t *loop, struct turn_options *o,
                                     struct cw_stats *stats, char *err, size_t errlen)
{
    struct turn_relay *r = calloc(1, sizeof(*r));
    unsigned range;

    if (!r) {
        turn_policy_destroy(o->policy);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->sh.mu, NULL);
    uv_mutex_init(&r->call_mu);
    uv_cond_init(&r->call_cv);
    r->o = *o;
    o->policy = NULL;                       /* transferred */
    if (!r->o.policy)
        r->o.policy = turn_policy_create();
    range = (unsigned)r->o.port_max - r->o.port_min + 1;
    if (!r->o.max_allocations || r->o.max_allocations > range)
        r->o.max_allocations = range;
    r->nworkers = workers_wanted(&r->o);
    r->sh.reuseport = r->nworkers > 1;
    r->w = calloc(r->nworkers, sizeof(*r->w));
    if (!r->w || !r->o.policy) {
        snprintf(err, errlen, "out of memory");
        r->nworkers = 0;
        goto fail;
    }
    if (shared_init(r, err, errlen) < 0 || relay_check(r, err, errlen) < 0) {
        r->nworkers = 0;
        goto fail;
    }
    if (workers_start(r, loop, err, errlen) < 0)
        goto fail;
    register_stats(r, stats);
    log_start(r);
    return r;
fail:
    turn_relay_close(r, NULL, NULL);
    return NULL;
}
