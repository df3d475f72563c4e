/* guest.c - the guest account client URI inside: its A and AAAA records in
 * the inside DNS (c-ares), refreshed when the records' TTL runs out and when
 * every address failed to connect; failover between the addresses.
 *
 * An answer that cannot be had is a fault shown in status and logged once
 * when it starts (and once when it ends), then asked again every
 * RETRY_FAULT_MS: no tight retry loop, no log line per attempt. A lookup
 * that times out or fails on the server keeps the addresses we had (the
 * webbridge is still there); a name that no longer exists drops them. */
#include "core/tunnel_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "common/report.h"

#include <stdio.h>
#include <string.h>

#define TTL_MIN_S 5
#define TTL_MAX_S 3600
#define RETRY_FAULT_MS 10000
#define REFRESH_AFTER_FAILURE_MS 5000

static void resolve(struct core_tunnel *t);

static void on_timer(uv_timer_t *h)
{
    resolve(h->data);
}

static int same_addrs(const struct cw_dns_result *a, const struct cw_dns_result *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (!cw_addr_equal((const struct sockaddr *)&a->addr[i],
                           (const struct sockaddr *)&b->addr[i], 1))
            return 0;
    return 1;
}

static void on_resolved(void *arg, int status, const struct cw_dns_result *r)
{
    struct core_tunnel *t = arg;
    struct guest *g = &t->guest;
    const char *uri = t->cfg->guest_uri;
    char list[1024];
    unsigned ttl;

    g->q = NULL;
    g->status = status;
    if (status == CW_DNS_OK) {
        if (g->fault_since)
            CW_NOTICE("tunnel", "guest account client URI %s resolves again in the inside DNS",
                      uri);
        if (!same_addrs(&g->addrs, r)) {
            cw_dns_result_text(r, 1, list, sizeof(list));
            CW_NOTICE("tunnel", "guest account client URI %s resolved to the following "
                      "targets: %s", uri, list);
            g->next = 0;
        }
        g->addrs = *r;
        g->resolved_at = time(NULL);
        g->fault_since = 0;
        ttl = r->ttl < TTL_MIN_S ? TTL_MIN_S : r->ttl > TTL_MAX_S ? TTL_MAX_S : r->ttl;
        uv_timer_start(&g->timer, on_timer, (uint64_t)ttl * 1000, 0);
        return;
    }
    if (!g->fault_since) {
        g->fault_since = time(NULL);
        CW_ERROR("tunnel", "guest account client URI %s does not resolve in the inside DNS: %s "
                 "(forwarded connections for it fail until it does; check the inside DNS "
                 "servers in [dns] and the name)", uri, cw_dns_strerror(status));
    }
    /* The name is gone: its old addresses are no target any more. */
    if (status == CW_DNS_ENOTFOUND || status == CW_DNS_ENODATA)
        g->addrs.n = 0;
    uv_timer_start(&g->timer, on_timer, RETRY_FAULT_MS, 0);
}

static void resolve(struct core_tunnel *t)
{
    struct guest *g = &t->guest;

    if (g->q || t->closing)
        return;
    uv_timer_stop(&g->timer);
    g->last_lookup_ms = tunnel__now_ms(t);
    if (g->literal)
        return;
    g->q = cw_dns_resolve(t->dns, t->cfg->guest_uri, t->cfg->webbridge_port, on_resolved, t);
    if (!g->q) {
        /* Not a name DNS can look up (a stray dot, a broken address). */
        if (!g->fault_since) {
            g->fault_since = time(NULL);
            CW_ERROR("tunnel", "guest account client URI %s cannot be looked up: it is not a "
                     "valid host name or address (check guest-uri in core.conf)",
                     t->cfg->guest_uri);
        }
        g->status = CW_DNS_EOTHER;
        uv_timer_start(&g->timer, on_timer, RETRY_FAULT_MS, 0);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    tunnel__handle_closed(h->data);
}

void guest__start(struct core_tunnel *t)
{
    struct guest *g = &t->guest;

    uv_timer_init(t->loop, &g->timer);
    g->timer.data = t;
    t->pending_handles++;
    /* An address literal (single-box setups, tests) needs no lookup. */
    if (cw_addr_parse(t->cfg->guest_uri, t->cfg->webbridge_port, &g->addrs.addr[0]) == 0) {
        g->addrs.n = 1;
        g->literal = 1;
        g->resolved_at = time(NULL);
        return;
    }
    resolve(t);
}

void guest__stop(struct core_tunnel *t)
{
    struct guest *g = &t->guest;

    if (g->q)
        cw_dns_cancel(g->q);
    g->q = NULL;
    uv_close((uv_handle_t *)&g->timer, on_timer_closed);
}

const struct sockaddr *guest__target(struct core_tunnel *t, unsigned start, unsigned try,
                                     unsigned *idx)
{
    struct guest *g = &t->guest;
    unsigned n = (unsigned)g->addrs.n;

    if (try >= n)
        return NULL;
    *idx = (start + try) % n;
    return (const struct sockaddr *)&g->addrs.addr[*idx];
}

unsigned guest__first(struct core_tunnel *t)
{
    return t->guest.next;
}

void guest__connect_ok(struct core_tunnel *t, unsigned idx)
{
    if (idx < (unsigned)t->guest.addrs.n)
        t->guest.next = idx;
    t->guest.unreachable_since = 0;
}

void guest__connect_failed(struct core_tunnel *t, unsigned idx, const struct sockaddr *a,
                           const char *why, int all_failed)
{
    struct guest *g = &t->guest;
    char as[CW_ADDR_STRLEN], msg[sizeof(g->last_connect_err)];

    cw_addr_fmt(a, as, sizeof(as), 1);
    snprintf(msg, sizeof(msg), "cannot connect to %s (%s): %s", as, t->cfg->guest_uri, why);
    /* One line per new reason, not one per guest request. */
    if (strcmp(msg, g->last_connect_err) != 0)
        CW_WARN("tunnel", "forwarded connection: %s%s", msg,
                all_failed ? "; no address left to try, the connection is closed" :
                             "; trying the next address");
    snprintf(g->last_connect_err, sizeof(g->last_connect_err), "%s", msg);
    g->last_connect_err_at = time(NULL);
    if (all_failed && !g->unreachable_since)
        g->unreachable_since = g->last_connect_err_at;
    if (g->addrs.n && idx == g->next)
        g->next = (idx + 1) % (unsigned)g->addrs.n;
    if (all_failed && tunnel__now_ms(t) - g->last_lookup_ms > REFRESH_AFTER_FAILURE_MS)
        resolve(t);
}

static void fmt_time(time_t when, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void guest__status(struct core_tunnel *t, struct cw_sb *out)
{
    struct guest *g = &t->guest;
    char a[CW_ADDR_STRLEN], when[32];

    if (g->fault_since) {
        fmt_time(g->fault_since, when, sizeof(when));
        cw_sb_printf(out, "  Fault: guest account client URI %s does not resolve in the inside "
                     "DNS: %s (since %s)\n", t->cfg->guest_uri, cw_dns_strerror(g->status), when);
    }
    if (g->addrs.n) {
        cw_sb_printf(out, "  Guest account client URI %s resolved to the following targets:\n",
                     t->cfg->guest_uri);
        for (int i = 0; i < g->addrs.n; i++)
            cw_sb_printf(out, "    %s%s\n",
                         cw_addr_fmt((const struct sockaddr *)&g->addrs.addr[i], a, sizeof(a), 1),
                         (unsigned)i == g->next ? "  (in use)" : "");
        fmt_time(g->resolved_at, when, sizeof(when));
        if (g->q || uv_is_active((uv_handle_t *)&g->timer))
            cw_sb_printf(out, "    (DNS answer of %s, TTL %u s)\n", when, g->addrs.ttl);
    } else if (!g->fault_since) {
        cw_sb_printf(out, "  Guest account client URI %s: resolving\n", t->cfg->guest_uri);
    }
    if (g->last_connect_err[0]) {
        fmt_time(g->last_connect_err_at, when, sizeof(when));
        cw_sb_printf(out, "  Last target failure (%s): %s\n", when, g->last_connect_err);
    }
}

void guest__report_row(struct core_tunnel *t, struct cw_report *r)
{
    struct guest *g = &t->guest;
    char a[CW_ADDR_STRLEN];
    struct cw_sb l;

    cw_sb_init(&l);
    for (int i = 0; i < g->addrs.n; i++)
        cw_sb_printf(&l, "%s%s%s", i ? ", " : "",
                     cw_addr_fmt((const struct sockaddr *)&g->addrs.addr[i], a, sizeof(a), 1),
                     (unsigned)i == g->next ? " (in use)" : "");
    cw_report_row(r);
    cw_report_cell_str(r, t->cfg->guest_uri);
    cw_report_cell_str(r, l.len ? cw_sb_str(&l) : (g->fault_since ? "(none)" : "(resolving)"));
    cw_report_cell_time(r, g->resolved_at);
    cw_report_cell_str(r, g->fault_since ? cw_dns_strerror(g->status) : "");
    cw_report_cell_str(r, g->last_connect_err);
    cw_report_cell_time(r, g->last_connect_err_at);
    cw_report_cell_str(r, t->web_tls ? "HTTPS" : "plain HTTP");
    cw_report_cell_int(r, (int64_t)t->web_handshakes);
    cw_report_cell_int(r, (int64_t)t->web_resumed);
    if (g->fault_since)
        cw_report_state(r, CW_REPORT_ERROR);
    cw_sb_free(&l);
}

void guest__health(const struct core_tunnel *t, struct core_tunnel_health *h)
{
    const struct guest *g = &t->guest;

    h->guest_fault_since = g->fault_since;
    h->guest_why = g->fault_since ? cw_dns_strerror(g->status) : "";
    h->guest_naddrs = g->addrs.n;
    h->unreachable_since = g->unreachable_since;
    h->unreachable_why = g->last_connect_err;
}
