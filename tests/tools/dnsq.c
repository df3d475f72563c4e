/* dnsq.c - resolves a name with common/dns.c against given servers, for the
 * integration tests.
 *
 * usage: dnsq --servers CSV [--timeout MS] [--tries N] [--repeat N]
 *             [--parallel N] [--cancel MS] [--close MS] [--close-in-cb]
 *             [--srv] NAME PORT
 *   --srv          SRV records of NAME instead (PORT unused), one line each
 *                  in the order to try them: "srv PRIO WEIGHT PORT TARGET"
 *   --repeat N     N lookups one after the other, each started from inside
 *                  the previous one's callback
 *   --parallel N   N lookups of NAME at once (the lines of each are printed
 *                  as its callback runs)
 *   --cancel MS    cancel every lookup MS ms after the start (0: right after
 *                  cw_dns_resolve); then wait until the resolver has no
 *                  socket left (c-ares finished the queries), close it
 *   --close MS     close the resolver MS ms after the start, lookups pending
 *   --close-in-cb  close the resolver from inside the first callback
 *
 * Output: per answered lookup, one line per address ("192.0.2.10:80") then
 * "ttl N"; a failed lookup prints "error: <cw_dns_strerror>". Then
 * "elapsed N ms". Exit 0 when every lookup that should call back did so,
 * once, with addresses; 1 when one failed, 2 on bad usage, 3 when the
 * library misbehaved: a callback missing or one that should not have run, a
 * result inconsistent with its status, or handles left open on the loop
 * after cw_dns_close (uv_loop_close fails). With --cancel/--close, lookups
 * may answer before that time; "no callback" is printed when none did. */
#include "common/addr.h"
#include "common/dns.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_PARALLEL 64

struct lookup {
    struct dnsq *t;
    struct cw_dns_query *q;
};

struct dnsq {
    uv_loop_t loop;
    uv_timer_t timer;
    struct cw_dns *dns;
    struct lookup look[MAX_PARALLEL];
    const char *name;
    uint16_t port;
    int repeat, parallel, cancel_ms, close_ms, close_in_cb, srv;
    int calls, want_calls, failed, bad;
    int in_resolve;             /* inside cw_dns_resolve: no callback allowed */
    int stopped;                /* cancelled or closed: no callback allowed */
};

static void start_lookup(struct dnsq *t, int i);
static void close_dns(struct dnsq *t);

static void on_result(void *arg, int status, const struct cw_dns_result *r)
{
    struct lookup *l = arg;
    struct dnsq *t = l->t;
    char buf[CW_ADDR_STRLEN];
    int k;

    l->q = NULL;
    t->calls++;
    if (t->in_resolve) {
        printf("callback from inside cw_dns_resolve\n");
        t->bad = 1;
    }
    if (t->stopped) {
        printf("callback after cancel or close\n");
        t->bad = 1;
    }
    if (status == CW_DNS_OK) {
        if (!r || r->n < 1) {
            printf("OK without addresses\n");
            t->bad = 1;
        }
        for (k = 0; r && k < r->n; k++)
            printf("%s\n", cw_addr_fmt((const struct sockaddr *)&r->addr[k], buf, sizeof(buf), 1));
        printf("ttl %u\n", r ? r->ttl : 0);
    } else {
        if (r) {
            printf("result with an error\n");
            t->bad = 1;
        }
        printf("error: %s\n", cw_dns_strerror(status));
        t->failed = 1;
    }
    fflush(stdout);
    if (t->close_in_cb) {
        close_dns(t);   /* the other lookups' callbacks must not run */
        return;
    }
    if (--t->repeat > 0)
        start_lookup(t, (int)(l - t->look));
}

static void on_srv(void *arg, int status, const struct cw_dns_srv_result *r)
{
    struct lookup *l = arg;
    struct dnsq *t = l->t;

    l->q = NULL;
    t->calls++;
    if (t->in_resolve || t->stopped || (status == CW_DNS_OK) != (r != NULL)) {
        printf("callback at a wrong time, or a result inconsistent with its status\n");
        t->bad = 1;
    }
    if (status != CW_DNS_OK) {
        printf("error: %s\n", cw_dns_strerror(status));
        t->failed = 1;
        return;
    }
    for (int k = 0; k < r->n; k++)
        printf("srv %u %u %u %s\n", r->srv[k].priority, r->srv[k].weight, r->srv[k].port,
               r->srv[k].target);
}

static void start_lookup(struct dnsq *t, int i)
{
    struct lookup *l = &t->look[i];

    l->t = t;
    t->in_resolve = 1;
    l->q = t->srv ? cw_dns_srv(t->dns, t->name, on_srv, l)
                  : cw_dns_resolve(t->dns, t->name, t->port, on_result, l);
    t->in_resolve = 0;
    if (!l->q) {
        printf("error: cw_dns_resolve refused the name\n");
        t->failed = 1;
    }
}

/* Closes the resolver; the query pointers die with it. */
static void close_dns(struct dnsq *t)
{
    int i;

    cw_dns_close(t->dns);
    t->dns = NULL;
    t->stopped = 1;
    for (i = 0; i < MAX_PARALLEL; i++)
        t->look[i].q = NULL;
}

static void count_poll(uv_handle_t *h, void *arg)
{
    if (h->type == UV_POLL && !uv_is_closing(h))
        (*(int *)arg)++;
}

/* After cancelling: waits until c-ares closed its sockets (it does when its
 * last query ended, here by timeout or answer), then closes the resolver. */
static void linger_cb(uv_timer_t *h)
{
    struct dnsq *t = h->data;
    int n = 0;

    uv_walk(&t->loop, count_poll, &n);
    if (n > 0) {
        uv_timer_start(&t->timer, linger_cb, 20, 0);
        return;
    }
    close_dns(t);
    uv_close((uv_handle_t *)&t->timer, NULL);
}

static void cancel_all(struct dnsq *t)
{
    int i;

    for (i = 0; i < t->parallel; i++) {
        cw_dns_cancel(t->look[i].q);
        t->look[i].q = NULL;
    }
    t->stopped = 1;
}

static void action_cb(uv_timer_t *h)
{
    struct dnsq *t = h->data;

    if (t->close_ms >= 0) {
        close_dns(t);
        uv_close((uv_handle_t *)&t->timer, NULL);
        return;
    }
    cancel_all(t);
    linger_cb(h);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dnsq --servers CSV [--timeout MS] [--tries N] [--repeat N] [--parallel N]\n"
               "            [--cancel MS] [--close MS] [--close-in-cb] [--srv] NAME PORT\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "servers", required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 't' },
        { "tries", required_argument, NULL, 'n' },
        { "repeat", required_argument, NULL, 'r' },
        { "parallel", required_argument, NULL, 'p' },
        { "cancel", required_argument, NULL, 'c' },
        { "close", required_argument, NULL, 'C' },
        { "close-in-cb", no_argument, NULL, 'X' },
        { "srv", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static struct dnsq t;
    const char *servers = NULL;
    unsigned timeout_ms = 0, tries = 0;
    char err[256];
    uint64_t start;
    int o, i, port;

    t.repeat = 1;
    t.parallel = 1;
    t.cancel_ms = -1;
    t.close_ms = -1;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 's': servers = optarg; break;
        case 't': timeout_ms = (unsigned)atoi(optarg); break;
        case 'n': tries = (unsigned)atoi(optarg); break;
        case 'r': t.repeat = atoi(optarg); break;
        case 'p': t.parallel = atoi(optarg); break;
        case 'c': t.cancel_ms = atoi(optarg); break;
        case 'C': t.close_ms = atoi(optarg); break;
        case 'X': t.close_in_cb = 1; break;
        case 'S': t.srv = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2 || t.repeat < 1 || t.parallel < 1 || t.parallel > MAX_PARALLEL ||
        (t.repeat > 1 && t.parallel > 1) || (t.cancel_ms >= 0 && t.close_ms >= 0)) {
        usage(stderr);
        return 2;
    }
    t.name = argv[optind];
    port = atoi(argv[optind + 1]);
    if (port < 0 || port > 65535) {
        usage(stderr);
        return 2;
    }
    t.port = (uint16_t)port;
    t.want_calls = t.close_in_cb ? 1 : t.parallel * t.repeat;

    uv_loop_init(&t.loop);
    t.dns = cw_dns_create(&t.loop, servers, timeout_ms, tries, err, sizeof(err));
    if (!t.dns) {
        printf("error: %s\n", err);
        return 1;
    }
    start = uv_hrtime();
    for (i = 0; i < t.parallel; i++)
        start_lookup(&t, i);
    uv_timer_init(&t.loop, &t.timer);
    t.timer.data = &t;
    if (t.cancel_ms == 0 || t.close_ms == 0)
        action_cb(&t.timer);
    else if (t.cancel_ms > 0)
        uv_timer_start(&t.timer, action_cb, (uint64_t)t.cancel_ms, 0);
    else if (t.close_ms > 0)
        uv_timer_start(&t.timer, action_cb, (uint64_t)t.close_ms, 0);
    else
        uv_close((uv_handle_t *)&t.timer, NULL);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    if (t.dns)
        close_dns(&t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    printf("elapsed %llu ms\n", (unsigned long long)((uv_hrtime() - start) / 1000000));
    if (uv_loop_close(&t.loop) != 0) {
        printf("handles left open on the loop\n");
        return 3;
    }
    if (t.bad)
        return 3;
    if (t.cancel_ms >= 0 || t.close_ms >= 0) {
        if (t.calls == 0)
            printf("no callback\n");
        return t.failed ? 1 : 0;
    }
    if (t.calls != t.want_calls && !t.failed) {
        printf("%d callbacks for %d lookups\n", t.calls, t.want_calls);
        return 3;
    }
    return t.failed ? 1 : 0;
}
