/* status.c - the core's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/wbatch.h"
#include "core/core.h"
#include "core/tunnel.h"
#include "core/turncheck.h"
#include "core/xmpp.h"

#include <stdio.h>

/* A tunnel may be down this long (the edge restarting, the first connect
 * after start) before it is a fault; likewise a cluster without a leader
 * (an election). */
#define GRACE_S 20

static void tunnels_report(struct core *c, struct cw_report *r)
{
    char w[128];

    cw_report_section(r, "tunnels", "SSH tunnels", c->ntunnel ? CW_REPORT_OK : CW_REPORT_OFF);
    if (c->ntunnel)
        cw_report_str(r, "socket_writes", "Writes to the inside targets",
                      cw_wbatch_text(c->wbatch, c->wbatch_off, w, sizeof(w)));
    cw_report_table(r, "list", "Tunnels to the edges",
                    "target,domain,status,since,why,connections_open,connections",
                    "Target,Domain,Status,Since,Why,Connections open,Connections");
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_report_row(c->tunnel[i], r);
    cw_report_section(r, "guest_uri", "Guest account client URI", c->ntunnel ? CW_REPORT_OK
                                                                             : CW_REPORT_OFF);
    cw_report_table(r, "list", "Resolved in the inside DNS",
                    "domain,addresses,resolved_at,dns_fault,last_target_failure,failure_at,"
                    "webbridge,tls_handshakes,tls_resumed",
                    "Domain,Resolved to,Answer of,DNS fault,Last target failure,At,Webbridge,"
                    "TLS handshakes,Resumed");
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_report_guest(c->tunnel[i], r);
}

/* The whole status document (the `status` command, admin pages and API). */
static void report(void *arg, struct cw_report *r)
{
    struct core *c = arg;

    cw_status_system(&c->status, r);
    cw_faults_report(c->status.faults, r);
    tunnels_report(c, r);
    core_turncheck_report(c->turncheck, r);     /* "not configured" without [turn] */
    if (c->xmpp) {
        core_xmpp_report(c->xmpp, r);
    } else {
        cw_report_section(r, "xmpp", "XMPP service", CW_REPORT_OFF);
        cw_report_str(r, "configured", "Configured", "no [xmpp] section");
    }
}

/* The fault conditions, from the modules' state now. */
static void evaluate(void *arg)
{
    struct core *c = arg;
    time_t now = time(NULL);
    struct core_tunnel_health h;
    const char *why = NULL;
    char id[CORE_NAME_MAX + 64], when[48];

    for (int i = 0; i < c->ntunnel; i++) {
        core_tunnel_health(c->tunnel[i], &h);
        snprintf(id, sizeof(id), "tunnel.%s/%s", h.target, h.guest_uri);
        cw_fault_set(c->status.faults, id, !h.active && now - h.since >= GRACE_S,
                     "the SSH tunnel to %s is %s (%s): guests of %s get 502 on the edge; see "
                     "`causeway tunnel status` and docs/troubleshooting.md", h.target, h.state,
                     h.reason[0] ? h.reason : "no reason recorded", h.guest_uri);
        snprintf(id, sizeof(id), "guest-uri.%s", h.guest_uri);
        cw_fault_set(c->status.faults, id, h.guest_fault_since != 0,
                     "the guest account client URI %s does not resolve in the inside DNS (%s): "
                     "add its A/AAAA record pointing at the webbridge", h.guest_uri, h.guest_why);
        /* Raised by a guest's connection that no address took, cleared by the
         * next one that connects; one per tunnel (its edge-port on the edge). */
        snprintf(id, sizeof(id), "webbridge.%s/%u", h.guest_uri, h.edge_port);
        cw_fault_set(c->status.faults, id, h.unreachable_since != 0,
                     "the webbridge %s cannot be reached from this core (%s): guests get 502 on "
                     "the edge; see `causeway doctor` and docs/troubleshooting.md", h.guest_uri,
                     h.unreachable_why);
        snprintf(id, sizeof(id), "webbridge.expiry.%s/%u", h.guest_uri, h.edge_port);
        cw_fault_set(c->status.faults, id, h.webbridge_not_after &&
                                               h.webbridge_not_after - now < CW_CERT_WARN_DAYS * 86400,
                     "the webbridge's certificate for %s %s: renew it on the webbridge (once it "
                     "has expired, the core refuses it and guests get 502)", h.guest_uri,
                     cw_fault_expiry(when, sizeof(when), h.webbridge_not_after, now));
    }
    if (c->xmpp) {
        int has = core_xmpp_cluster_leader(c->xmpp, &why);

        if (has)
            c->leaderless_since = 0;
        else if (!c->leaderless_since)
            c->leaderless_since = now;
        cw_status_cert_expiry(&c->status, "xmpp.expiry", core_xmpp_tls(c->xmpp),
                              "renew it, then `systemctl reload causeway-core` (SIGHUP); clients "
                              "refuse an expired certificate");
        cw_fault_set(c->status.faults, "cluster.leader", !has && now - c->leaderless_since >= GRACE_S,
                     "the XMPP cluster has no leader (%s): changes (users, call bridges) are "
                     "refused; see `causeway xmpp cluster status`", why ? why : "");
    }
}

static void refresh_stats(void *arg)
{
    struct core *c = arg;
    struct core_tunnel_health h;

    c->m_tunnels = (uint64_t)c->ntunnel;
    c->m_tunnels_active = 0;
    for (int i = 0; i < c->ntunnel; i++) {
        core_tunnel_health(c->tunnel[i], &h);
        c->m_tunnels_active += h.active;
    }
}

int core_status_start(struct core *c)
{
    c->stats = cw_stats_create();
    if (!c->stats)
        return -1;
    c->status.evaluate = evaluate;
    c->status.report = report;
    c->status.arg = c;
    c->status.product = "causeway-core";
    c->status.version = CORE_VERSION;
    c->status.config = c->cfg.path;
    if (cw_status_start(&c->status, c->loop, c->ctl, c->stats) < 0)
        return -1;
    cw_stats_add_refresh(c->stats, refresh_stats, c);
    cw_stats_add(c->stats, "tunnels", "SSH tunnels configured", CW_STAT_GAUGE, &c->m_tunnels);
    cw_stats_add(c->stats, "tunnels_active", "SSH tunnels up now", CW_STAT_GAUGE,
                 &c->m_tunnels_active);
    return 0;
}
