/* dns.c - DNS lookups with c-ares on the libuv loop (see dns.h).
 *
 * For maintainers:
 * - c-ares owns the sockets; its sock_state_cb tells which fds to watch.
 *   Each fd gets its own uv_poll_t (struct dns_sock). sock_state_cb(fd, 0, 0)
 *   comes just before c-ares closes the fd, so the poll is stopped and
 *   uv_close()d right there and never reused: a new socket that gets the same
 *   fd number gets a new handle.
 * - One timer: armed after every call into c-ares from ares_timeout(), it
 *   lets c-ares expire tries (ares_process_fd with two ARES_SOCKET_BAD). It
 *   also fires at once when answers wait for delivery (below).
 * - A lookup is two ares_query calls (AAAA, A) whose answers land in the
 *   two halves of struct cw_dns_query. When both are in, the query moves to
 *   d->done; user callbacks run only from dns_deliver(), after the call into
 *   c-ares returned. So callbacks never run inside c-ares (which may not be
 *   destroyed from its own callbacks) nor inside cw_dns_resolve (ares_query
 *   can fail synchronously and call back at once).
 * - Lifetime: a query belongs to c-ares until both halves answered, cancelled
 *   or not; cancelling only marks it. c-ares always calls back, with
 *   ARES_EDESTRUCTION from ares_destroy() at the latest, so every query is
 *   freed exactly once: by the second answer if cancelled or closing, else
 *   by dns_deliver(). The struct cw_dns is freed when its last handle has
 *   closed, which is never inside one of our own callbacks.
 * - c-ares 1.18 shares one UDP socket per server among queries, and a
 *   socket error (ICMP port unreachable) is reported once: the query whose
 *   send or read gets it moves on to the next server at once, the others on
 *   that socket wait for their timeout. And it reports SERVFAIL/REFUSED on
 *   every server as ARES_ECONNREFUSED (see dns_map_status).
 */
#include "dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "addr.h"
#include "log.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

struct dns_sock {
    uv_poll_t poll;
    struct cw_dns *d;
    ares_socket_t fd;
    int events;                 /* UV_READABLE | UV_WRITABLE c-ares wants */
    unsigned closed : 1;        /* c-ares is done with fd: handle closing */
    struct dns_sock *next;
};

/* One family's half of a lookup. */
struct dns_half {
    struct cw_dns_query *q;
    int status;                 /* CW_DNS_* */
    int n;
    union {
        struct ares_addr6ttl v6[CW_DNS_MAX_ADDRS];
        struct ares_addrttl v4[CW_DNS_MAX_ADDRS];
    } a;
};

struct cw_dns_query {
    struct cw_dns *d;
    cw_dns_cb cb;
    cw_dns_srv_cb srv_cb;       /* an SRV query: only h6 is used, for its status */
    struct cw_dns_srv_result *srv;
    void *arg;
    uint16_t port;
    int waiting;                /* halves c-ares has not answered yet */
    unsigned cancelled : 1;
    struct dns_half h6, h4;
    struct cw_dns_query *next;  /* in d->done */
};

struct cw_dns {
    uv_loop_t *loop;
    ares_channel channel;
    uv_timer_t timer;
    struct dns_sock *socks;     /* open ones; closed ones are only in libuv */
    struct cw_dns_query *done, **done_tail;
    int open_handles;
    unsigned closing : 1;
};

static void dns_timer_cb(uv_timer_t *t);

/* ---- lifetime ---- */

static void dns_handle_close_cb(uv_handle_t *h)
{
    struct cw_dns *d;

    if (h->type == UV_POLL) {
        struct dns_sock *s = h->data;

        d = s->d;
        free(s);
    } else {
        d = h->data;
    }
    if (--d->open_handles == 0 && d->closing)
        free(d);
}

static void dns_sock_close(struct cw_dns *d, struct dns_sock *s)
{
    struct dns_sock **pp;

    for (pp = &d->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->closed = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, dns_handle_close_cb);
}

/* Starts the timer for c-ares' next deadline, or at once when answers wait
 * for delivery. Called after every call into c-ares. */
static void dns_rearm(struct cw_dns *d)
{
    struct timeval tv, *tvp;
    uint64_t ms;

    if (d->closing)
        return;
    if (d->done) {
        uv_timer_start(&d->timer, dns_timer_cb, 0, 0);
        return;
    }
    tvp = ares_timeout(d->channel, NULL, &tv);
    if (!tvp) {
        uv_timer_stop(&d->timer);
        return;
    }
    /* Rounded up: a timer that fires before the deadline would only make
     * c-ares find nothing to expire, and be re-armed for 0 ms in a loop. */
    ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
    uv_timer_start(&d->timer, dns_timer_cb, ms, 0);
}

/* ---- answers ---- */

static int dns_map_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS:
        return CW_DNS_OK;
    case ARES_ENOTFOUND:
        return CW_DNS_ENOTFOUND;
    case ARES_ENODATA:
        return CW_DNS_ENODATA;
    case ARES_ETIMEOUT:       /* the last try of at least one server timed out */
        return CW_DNS_ETIMEOUT;
    case ARES_ECONNREFUSED:
        /* c-ares 1.18 ends a query with this when every try got SERVFAIL,
         * REFUSED or NOTIMP (each moves to the next server) or a socket
         * error (ICMP port unreachable, no route): it keeps no other
         * status. */
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
        return CW_DNS_ESERVFAIL;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        return CW_DNS_ECANCELLED;
    default:
        return CW_DNS_EOTHER;
    }
}

/* The more telling failure of two (dns.h): a server's definite answer about
 * the name beats a server failure, which beats silence. */
static int dns_fail_rank(int status)
{
    switch (status) {
    case CW_DNS_ENOTFOUND: return 5;
    case CW_DNS_ENODATA: return 4;
    case CW_DNS_ESERVFAIL: return 3;
    case CW_DNS_ETIMEOUT: return 2;
    case CW_DNS_EOTHER: return 1;
    default: return 0;
    }
}

static void dns_query_finished(struct cw_dns_query *q)
{
    struct cw_dns *d = q->d;

    if (q->cancelled || d->closing) {
        free(q->srv);
        free(q);
        return;
    }
    q->next = NULL;
    *d->done_tail = q;
    d->done_tail = &q->next;
}

/* The SRV records of an answer into q->srv (unordered yet): an ares status. */
static int dns_take_srv(struct cw_dns_query *q, const unsigned char *abuf, int alen)
{
    struct ares_srv_reply *list = NULL, *r;
    int status = ares_parse_srv_reply(abuf, alen, &list);

    if (status != ARES_SUCCESS)
        return status;
    for (r = list; r && q->srv->n < CW_DNS_MAX_SRV; r = r->next) {
        struct cw_dns_srv *s = &q->srv->srv[q->srv->n++];
        size_t len = strlen(r->host);
        if (len && r->host[len - 1] == '.')
            len--;
        if (len >= sizeof(s->target))
            len = sizeof(s->target) - 1;
        /* "." (empty once the dot goes) is RFC 2782's "not offered". */
        memcpy(s->target, r->host, len);
        s->target[len] = 0;
        s->port = r->port;
        s->priority = r->priority;
        s->weight = r->weight;
    }
    ares_free_data(list);
    return q->srv->n ? ARES_SUCCESS : ARES_ENODATA;
}

/* c-ares' callback for one half. May run inside any call into c-ares,
 * including ares_query() itself and ares_destroy(). */
static void dns_answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_half *h = arg;
    struct cw_dns_query *q = h->q;
    int n = CW_DNS_MAX_ADDRS;

    (void)timeouts;
    if (q->srv_cb) {
        h->status = dns_map_status(status == ARES_SUCCESS ? dns_take_srv(q, abuf, alen) : status);
        if (h->status == CW_DNS_OK && q->srv->n == 1 && !q->srv->srv[0].target[0])
            h->status = CW_DNS_ENOSERVICE;
        if (--q->waiting == 0)
            dns_query_finished(q);
        return;
    }
    if (status == ARES_SUCCESS) {
        /* Only answer records of the asked type count (after any CNAME
         * chain); none at all is ARES_ENODATA. */
        if (h == &q->h6)
            status = ares_parse_aaaa_reply(abuf, alen, NULL, h->a.v6, &n);
        else
            status = ares_parse_a_reply(abuf, alen, NULL, h->a.v4, &n);
        if (status == ARES_SUCCESS && n <= 0)
            status = ARES_ENODATA;
        h->n = status == ARES_SUCCESS ? n : 0;
    }
    h->status = dns_map_status(status);
    if (--q->waiting == 0)
        dns_query_finished(q);
}

static void dns_take_ttl(struct cw_dns_result *r, int ttl)
{
    unsigned t = ttl > 0 ? (unsigned)ttl : 0;

    if (r->n == 0 || t < r->ttl)
        r->ttl = t;
}

/* Both halves in: status and, for CW_DNS_OK, the result. */
static int dns_result(const struct cw_dns_query *q, struct cw_dns_result *r)
{
    int n6 = q->h6.n, n4 = q->h4.n, i;
    struct sockaddr_in6 *s6;
    struct sockaddr_in *s4;

    /* Each family keeps at least half of the slots when both overflow. */
    if (n6 + n4 > CW_DNS_MAX_ADDRS) {
        if (n4 > CW_DNS_MAX_ADDRS / 2)
            n4 = n6 >= CW_DNS_MAX_ADDRS / 2 ? CW_DNS_MAX_ADDRS / 2 : CW_DNS_MAX_ADDRS - n6;
        n6 = CW_DNS_MAX_ADDRS - n4;
    }
    memset(r, 0, sizeof(*r));
    for (i = 0; i < n6; i++) {
        s6 = (struct sockaddr_in6 *)&r->addr[r->n];
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(q->port);
        memcpy(&s6->sin6_addr, &q->h6.a.v6[i].ip6addr, sizeof(s6->sin6_addr));
        dns_take_ttl(r, q->h6.a.v6[i].ttl);
        r->n++;
    }
    for (i = 0; i < n4; i++) {
        s4 = (struct sockaddr_in *)&r->addr[r->n];
        s4->sin_family = AF_INET;
        s4->sin_port = htons(q->port);
        s4->sin_addr = q->h4.a.v4[i].ipaddr;
        dns_take_ttl(r, q->h4.a.v4[i].ttl);
        r->n++;
    }
    if (r->n > 0)
        return CW_DNS_OK;
    if (q->h6.status == CW_DNS_OK)
        return q->h4.status == CW_DNS_OK ? CW_DNS_ENODATA : q->h4.status;
    if (q->h4.status == CW_DNS_OK)
        return q->h6.status;
    return dns_fail_rank(q->h6.status) >= dns_fail_rank(q->h4.status) ? q->h6.status
                                                                         : q->h4.status;
}

static uint32_t dns_random(void *arg)
{
    uint32_t v;

    (void)arg;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return v;
}

void cw_dns_srv_order(struct cw_dns_srv *s, int n, uint32_t (*rnd)(void *arg), void *arg)
{
    int i, j, k, end;

    /* By priority, keeping the answer's order within one (insertion sort:
     * stable, and n is small), so a given random source gives one order. */
    for (i = 1; i < n; i++) {
        struct cw_dns_srv t = s[i];
        for (j = i; j > 0 && s[j - 1].priority > t.priority; j--)
            s[j] = s[j - 1];
        s[j] = t;
    }
    for (i = 0; i < n; i = end) {
        for (end = i; end < n && s[end].priority == s[i].priority; end++)
            ;
        /* RFC 2782: weight-0 records first, then pick each next one with a
         * chance of its weight over the weights left. */
        for (j = i, k = i; k < end; k++)
            if (s[k].weight == 0) {
                struct cw_dns_srv t = s[j];
                s[j++] = s[k];
                s[k] = t;
            }
        for (; j < end; j++) {
            uint32_t sum = 0, pick, run = 0;
            for (k = j; k < end; k++)
                sum += s[k].weight;
            if (!sum)
                break;
            pick = rnd(arg) % sum;
            for (k = j; k < end; k++) {
                run += s[k].weight;
                if (pick < run)
                    break;
            }
            if (k != j) {
                struct cw_dns_srv t = s[j];
                s[j] = s[k];
                s[k] = t;
            }
        }
    }
}

/* Runs the callbacks of the finished queries, outside c-ares. A callback may
 * resolve (those finish later: only the list taken here is delivered),
 * cancel any query or close d (the rest are then freed silently). */
static void dns_deliver(struct cw_dns *d)
{
    struct cw_dns_query *list = d->done, *q;
    struct cw_dns_result r;
    int status;

    d->done = NULL;
    d->done_tail = &d->done;
    while ((q = list) != NULL) {
        list = q->next;
        if (!q->cancelled && !d->closing && q->srv_cb) {
            if (q->h6.status == CW_DNS_OK)
                cw_dns_srv_order(q->srv->srv, q->srv->n, dns_random, NULL);
            q->srv_cb(q->arg, q->h6.status, q->h6.status == CW_DNS_OK ? q->srv : NULL);
        } else if (!q->cancelled && !d->closing) {
            status = dns_result(q, &r);
            q->cb(q->arg, status, status == CW_DNS_OK ? &r : NULL);
        }
        free(q->srv);
        free(q);
    }
}

/* ---- c-ares sockets and timer on the loop ---- */

static void dns_poll_cb(uv_poll_t *p, int status, int events)
{
    struct dns_sock *s = p->data;
    struct cw_dns *d = s->d;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    if (status < 0) {
        /* libuv stopped the poll (POLLERR): let c-ares read the socket
         * error, it then closes the socket or tries again. */
        rfd = wfd = s->fd;
    } else {
        if (events & UV_READABLE)
            rfd = s->fd;
        if (events & UV_WRITABLE)
            wfd = s->fd;
    }
    ares_process_fd(d->channel, rfd, wfd);
    /* s is still allocated: a closed dns_sock is freed by libuv later. */
    if (status < 0 && !s->closed && !d->closing)
        uv_poll_start(&s->poll, s->events, dns_poll_cb);
    dns_deliver(d);
    dns_rearm(d);
}

static void dns_timer_cb(uv_timer_t *t)
{
    struct cw_dns *d = t->data;

    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_deliver(d);
    dns_rearm(d);
}

static void dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct cw_dns *d = data;
    struct dns_sock *s;
    int r;

    for (s = d->socks; s; s = s->next)
        if (s->fd == fd)
            break;
    if (!readable && !writable) {
        if (s)
            dns_sock_close(d, s);   /* c-ares closes fd right after this */
        return;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) {
            CW_ERROR("dns", "out of memory for a DNS socket: the query will time out");
            return;
        }
        r = uv_poll_init_socket(d->loop, &s->poll, fd);
        if (r < 0) {
            CW_ERROR("dns", "cannot watch DNS socket %d: %s: the query will time out", (int)fd,
                     uv_strerror(r));
            free(s);
            return;
        }
        s->poll.data = s;
        s->d = d;
        s->fd = fd;
        s->next = d->socks;
        d->socks = s;
        d->open_handles++;
    }
    s->events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    r = uv_poll_start(&s->poll, s->events, dns_poll_cb);
    if (r < 0)
        CW_ERROR("dns", "cannot watch DNS socket %d: %s: the query will time out", (int)fd,
                 uv_strerror(r));
}

/* ---- servers ---- */

static void dns_free_servers(struct ares_addr_port_node *list)
{
    struct ares_addr_port_node *n;

    while ((n = list) != NULL) {
        list = n->next;
        free(n);
    }
}

/* "addr[:port],..." -> a c-ares server list in the same order. -1 with a
 * message naming the bad entry. */
static int dns_parse_servers(const char *text, struct ares_addr_port_node **out, char *err,
                             size_t errlen)
{
    struct ares_addr_port_node *head = NULL, **tail = &head, *n;
    struct sockaddr_storage ss;
    const char *p = text, *end;
    char item[CW_ADDR_STRLEN];
    size_t len;

    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strcspn(p, ",");
        len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errlen, "bad DNS server list \"%s\": expected addr[:port],...", text);
            goto fail;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (cw_addr_parse(item, 53, &ss) < 0 || cw_addr_port((struct sockaddr *)&ss) == 0) {
            snprintf(err, errlen, "bad DNS server \"%s\": expected an IP address with an "
                     "optional port, like 192.0.2.53 or [2001:db8::53]:5353", item);
            goto fail;
        }
        n = calloc(1, sizeof(*n));
        if (!n) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        n->family = ss.ss_family;
        if (ss.ss_family == AF_INET)
            n->addr.addr4 = ((struct sockaddr_in *)&ss)->sin_addr;
        else
            memcpy(&n->addr.addr6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
                   sizeof(n->addr.addr6));
        n->udp_port = n->tcp_port = cw_addr_port((struct sockaddr *)&ss);
        *tail = n;
        tail = &n->next;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = head;
    return 0;
fail:
    dns_free_servers(head);
    return -1;
}

/* ---- public ---- */

struct cw_dns *cw_dns_create(uv_loop_t *loop, const char *servers, unsigned timeout_ms,
                             unsigned tries, char *err, size_t errlen)
{
    struct ares_addr_port_node *list = NULL;
    struct ares_options opts;
    struct cw_dns *d;
    int r;

    if (servers && *servers && dns_parse_servers(servers, &list, err, errlen) < 0)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        dns_free_servers(list);
        return NULL;
    }
    d->loop = loop;
    d->done_tail = &d->done;

    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = dns_sock_state_cb;
    opts.sock_state_cb_data = d;
    opts.timeout = (int)(timeout_ms ? timeout_ms : CW_DNS_DEFAULT_TIMEOUT_MS);
    opts.tries = (int)(tries ? tries : CW_DNS_DEFAULT_TRIES);
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    opts.domains = NULL;
    opts.ndomains = 0;   /* given, so resolv.conf's search/domain are not read */
    r = ares_init_options(&d->channel, &opts,
                          ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                          ARES_OPT_FLAGS | ARES_OPT_DOMAINS | ARES_OPT_NOROTATE);
    if (r != ARES_SUCCESS) {
        snprintf(err, errlen, "cannot start the DNS resolver: %s", ares_strerror(r));
        free(d);
        dns_free_servers(list);
        return NULL;
    }
    if (list) {
        r = ares_set_servers_ports(d->channel, list);
        dns_free_servers(list);
        if (r != ARES_SUCCESS) {
            snprintf(err, errlen, "cannot set the DNS servers: %s", ares_strerror(r));
            ares_destroy(d->channel);
            free(d);
            return NULL;
        }
    }
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->open_handles = 1;
    return d;
}

void cw_dns_close(struct cw_dns *d)
{
    struct cw_dns_query *q;

    if (!d || d->closing)
        return;
    d->closing = 1;
    /* Calls back every pending half with ARES_EDESTRUCTION (each query is
     * freed by its last half) and closes the sockets through sock_state_cb. */
    ares_destroy(d->channel);
    d->channel = NULL;
    while ((q = d->done) != NULL) {
        d->done = q->next;
        free(q->srv);
        free(q);
    }
    d->done_tail = &d->done;
    while (d->socks)
        dns_sock_close(d, d->socks);
    uv_close((uv_handle_t *)&d->timer, dns_handle_close_cb);
}

/* RFC 1035 2.3.4 sizes; host name syntax of RFC 952 and RFC 1123 2.1
 * (letters, digits, '-' not first nor last in a label) plus '_'. Address
 * literals are refused: they are no DNS question. */
static int dns_name_ok(const char *name)
{
    size_t len = strlen(name), label = 0, i;
    unsigned char buf[sizeof(struct in6_addr)];

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX)
        return 0;
    for (i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)name[i] : '.';

        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (++label > DNS_LABEL_MAX)
            return 0;
    }
    return inet_pton(AF_INET, name, buf) != 1 && inet_pton(AF_INET6, name, buf) != 1;
}

struct cw_dns_query *cw_dns_resolve(struct cw_dns *d, const char *name, uint16_t port,
                                    cw_dns_cb cb, void *arg)
{
    struct cw_dns_query *q;

    if (d->closing || !name || !dns_name_ok(name))
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->d = d;
    q->cb = cb;
    q->arg = arg;
    q->port = port;
    q->waiting = 2;
    q->h6.q = q;
    q->h4.q = q;
    /* Either call may answer synchronously (out of memory, no server
     * reachable): the answer then waits in d->done for the timer. */
    ares_query(d->channel, name, ns_c_in, ns_t_aaaa, dns_answer_cb, &q->h6);
    ares_query(d->channel, name, ns_c_in, ns_t_a, dns_answer_cb, &q->h4);
    dns_rearm(d);
    return q;
}

struct cw_dns_query *cw_dns_srv(struct cw_dns *d, const char *name, cw_dns_srv_cb cb,
                                void *arg)
{
    struct cw_dns_query *q;

    if (d->closing || !name || !dns_name_ok(name))
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q || !(q->srv = calloc(1, sizeof(*q->srv)))) {
        free(q);
        return NULL;
    }
    q->d = d;
    q->srv_cb = cb;
    q->arg = arg;
    q->waiting = 1;
    q->h6.q = q;
    ares_query(d->channel, name, ns_c_in, ns_t_srv, dns_answer_cb, &q->h6);
    dns_rearm(d);
    return q;
}

void cw_dns_cancel(struct cw_dns_query *q)
{
    if (q)
        q->cancelled = 1;
}

const char *cw_dns_strerror(int status)
{
    switch (status) {
    case CW_DNS_OK: return "ok";
    case CW_DNS_ENOTFOUND: return "name does not exist (NXDOMAIN)";
    case CW_DNS_ENODATA: return "no A or AAAA record";
    case CW_DNS_ETIMEOUT: return "no DNS server answered";
    case CW_DNS_ESERVFAIL:
        return "DNS servers failed, refused or were unreachable";
    case CW_DNS_ECANCELLED: return "cancelled";
    case CW_DNS_EOTHER: return "DNS error (malformed answer or out of memory)";
    case CW_DNS_ENOSERVICE: return "the domain says it offers no such service (SRV target \".\")";
    default: return "unknown DNS error";
    }
}

void cw_dns_result_text(const struct cw_dns_result *r, int with_port, char *buf, size_t len)
{
    char a[CW_ADDR_STRLEN];
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; r && i < r->n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
                                cw_addr_fmt((const struct sockaddr *)&r->addr[i], a, sizeof(a),
                                            with_port));
}
