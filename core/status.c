/* status.c - the core's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"
#include "core/core.h"
#include "core/tunnel.h"
#include "core/turncheck.h"
#include "core/xmpp.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATUS_INTERVAL_MS 5000
/* A tunnel may be down this long (the edge restarting, the first connect
 * after start) before it is a fault; likewise a cluster without a leader
 * (an election). */
#define GRACE_S 20

static void daemon_report(struct core *c, struct cw_report *r)
{
    char host[256];

    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "?");
    cw_report_section(r, "system", "causeway-core", CW_REPORT_OK);
    cw_report_str(r, "version", "Version", CORE_VERSION);
    cw_report_str(r, "host", "Host name", host);
    cw_report_str(r, "config", "Configuration", c->cfg.path);
    cw_report_time(r, "started", "Started", c->started);
    cw_report_int(r, "uptime_s", "Up (seconds)", (int64_t)(time(NULL) - c->started));
    cw_report_int(r, "faults_active", "Active faults", (int64_t)*cw_faults_active(c->faults));
    if (*cw_faults_active(c->faults))
        cw_report_state(r, CW_REPORT_ERROR);
}

static void tunnels_report(struct core *c, struct cw_report *r)
{
    cw_report_section(r, "tunnels", "SSH tunnels", c->ntunnel ? CW_REPORT_OK : CW_REPORT_OFF);
    cw_report_table(r, "list", "Tunnels to the edges",
                    "target,domain,status,since,why,connections_open,connections",
                    "Target,Domain,Status,Since,Why,Connections open,Connections");
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_report_row(c->tunnel[i], r);
    cw_report_section(r, "guest_uri", "Guest account client URI", c->ntunnel ? CW_REPORT_OK
                                                                             : CW_REPORT_OFF);
    cw_report_table(r, "list", "Resolved in the inside DNS",
                    "domain,addresses,resolved_at,dns_fault,last_target_failure,failure_at",
                    "Domain,Resolved to,Answer of,DNS fault,Last target failure,At");
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_report_guest(c->tunnel[i], r);
}

void core_status_report(struct core *c, struct cw_report *r)
{
    daemon_report(c, r);
    cw_faults_report(c->faults, r);
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
static void evaluate(struct core *c)
{
    time_t now = time(NULL);
    struct core_tunnel_health h;
    const char *why = NULL;
    char id[CORE_NAME_MAX + 64];

    for (int i = 0; i < c->ntunnel; i++) {
        core_tunnel_health(c->tunnel[i], &h);
        snprintf(id, sizeof(id), "tunnel.%s/%s", h.target, h.guest_uri);
        cw_fault_set(c->faults, id, !h.active && now - h.since >= GRACE_S,
                     "the SSH tunnel to %s is %s (%s): guests of %s get 502 on the edge; see "
                     "`causeway tunnel status` and docs/troubleshooting.md", h.target, h.state,
                     h.reason[0] ? h.reason : "no reason recorded", h.guest_uri);
        snprintf(id, sizeof(id), "guest-uri.%s", h.guest_uri);
        cw_fault_set(c->faults, id, h.guest_fault_since != 0,
                     "the guest account client URI %s does not resolve in the inside DNS (%s): "
                     "add its A/AAAA record pointing at the webbridge", h.guest_uri, h.guest_why);
    }
    if (c->xmpp) {
        int has = core_xmpp_cluster_leader(c->xmpp, &why);

        if (has)
            c->leaderless_since = 0;
        else if (!c->leaderless_since)
            c->leaderless_since = now;
        cw_fault_set(c->faults, "cluster.leader", !has && now - c->leaderless_since >= GRACE_S,
                     "the XMPP cluster has no leader (%s): changes (users, call bridges) are "
                     "refused; see `causeway xmpp cluster status`", why ? why : "");
    }
}

static void status_tick(uv_timer_t *t)
{
    evaluate(t->data);
}

/* `status [SECTION] [json]`: the document, or one section of it. */
static int ctl_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;
    struct cw_report *r = cw_report_create();
    const char *section = NULL;
    int json = 0, rc;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "json"))
            json = 1;
        else
            section = argv[i];
    }
    if (!r) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    evaluate(c);
    core_status_report(c, r);
    rc = json ? cw_report_json(r, section, out) : cw_report_text(r, section, out);
    if (json && rc == 0)
        CW_SB_LIT(out, "\n");
    if (rc < 0)
        cw_sb_printf(out, "no status section \"%s\"\n", section);
    cw_report_destroy(r);
    return rc < 0;
}

static int ctl_faults(void *arg, int argc, char **argv, struct cw_sb *out)
{
    char *words[2] = { "faults", argc && !strcmp(argv[0], "json") ? "json" : NULL };

    return ctl_status(arg, words[1] ? 2 : 1, words, out);
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

/* `metrics [prometheus]`, as on the edge. */
static int ctl_metrics(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;

    cw_stats_dump(c->stats, out, argc > 0 && !strcmp(argv[0], "prometheus"));
    return 0;
}

int core_status_start(struct core *c)
{
    c->started = time(NULL);
    c->faults = cw_faults_create();
    c->stats = cw_stats_create();
    if (!c->faults || !c->stats)
        return -1;
    if (c->stats)
        cw_stats_add(c->stats, "faults_active", "Fault conditions raised now",
                     CW_STAT_GAUGE, cw_faults_active(c->faults));
    cw_stats_add_refresh(c->stats, refresh_stats, c);
    cw_stats_add(c->stats, "tunnels", "SSH tunnels configured", CW_STAT_GAUGE, &c->m_tunnels);
    cw_stats_add(c->stats, "tunnels_active", "SSH tunnels up now", CW_STAT_GAUGE,
                 &c->m_tunnels_active);
    cw_ctl_register(c->ctl, "metrics", ctl_metrics, c);
    cw_ctl_register(c->ctl, "status", ctl_status, c);
    cw_ctl_register(c->ctl, "faults", ctl_faults, c);
    uv_timer_init(c->loop, &c->status_timer);
    c->status_timer.data = c;
    uv_timer_start(&c->status_timer, status_tick, STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
    return 0;
}

void core_status_stop(struct core *c)
{
    if (c->faults && !uv_is_closing((uv_handle_t *)&c->status_timer))
        uv_close((uv_handle_t *)&c->status_timer, NULL);
}
