/* status.c - the edge's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/stream.h"
#include "edge/edge.h"
#include "edge/federation.h"
#include "edge/tunnel.h"
#include "turn/turn.h"
#include "webproxy/webproxy.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATUS_INTERVAL_MS 5000
/* A tunnel link may be down this long (a core restarting, the first
 * connect after start) before it is a fault. */
#define LINK_GRACE_S 20
/* A certificate that expires within this many days is a fault. */
#define CERT_WARN_DAYS 14

static void daemon_report(struct edge *e, struct cw_report *r)
{
    char host[256];

    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "?");
    cw_report_section(r, "system", "causeway-edge", CW_REPORT_OK);
    cw_report_str(r, "version", "Version", EDGE_VERSION);
    cw_report_str(r, "host", "Host name", host);
    cw_report_str(r, "config", "Configuration", e->cfg.path);
    cw_report_time(r, "started", "Started", e->started);
    cw_report_int(r, "uptime_s", "Up (seconds)", (int64_t)(time(NULL) - e->started));
    cw_report_int(r, "faults_active", "Active faults", (int64_t)*cw_faults_active(e->faults));
    if (*cw_faults_active(e->faults))
        cw_report_state(r, CW_REPORT_ERROR);
}

/* A section that says the feature is not configured, so a reader of the
 * page or the API sees that rather than nothing. */
static void off_section(struct cw_report *r, const char *key, const char *title, const char *what)
{
    cw_report_section(r, key, title, CW_REPORT_OFF);
    cw_report_str(r, "configured", "Configured", what);
}

void edge_status_report(struct edge *e, struct cw_report *r)
{
    daemon_report(e, r);
    cw_faults_report(e->faults, r);
    if (e->turn)
        turn_relay_report(e->turn, r);
    else
        off_section(r, "turn", "TURN server", "no (enabled = no in [turn])");
    if (e->tunnel)
        tunnel_report(e->tunnel, r);
    else
        off_section(r, "tunnel", "SSH tunnel endpoint", "no [tunnel] section");
    if (e->webproxy)
        webproxy_report(e->webproxy, r);
    else
        off_section(r, "webproxy", "Web proxy", "no [webproxy] section");
    if (e->fed)
        edge_federation_report(e->fed, r);
    else
        off_section(r, "federation", "XMPP federation", "no [federation] section");
}

/* Tunnel links down past the grace time; certificates that expire soon or
 * do not cover a host. */
static void evaluate_webproxy(struct edge *e)
{
    const struct wp_options *o = &e->cfg.webproxy;
    const struct cw_tls_ctx *tls = webproxy_tls_ctx(e->webproxy);
    time_t now = time(NULL);
    struct webproxy_link_info li;
    char id[128], sans[512];

    for (int i = 0; webproxy_link_info(e->webproxy, i, &li) == 0; i++) {
        snprintf(id, sizeof(id), "tunnel.link.%s", li.name);
        cw_fault_set(e->faults, id, !li.up && now - li.since >= LINK_GRACE_S,
                     "no core holds the tunnel forward %s (%s): guests get 502; check `causeway "
                     "tunnel status` on the core and that it reaches this edge's SSH port",
                     li.name, li.why[0] ? li.why : li.state);
    }
    for (int i = 0; i < o->nhost; i++) {
        snprintf(id, sizeof(id), "webproxy.certificate.%s", o->host[i].name);
        cw_fault_set(e->faults, id, !tls || !cw_tls_ctx_covers(tls, o->host[i].name),
                     "no certificate names %s: browsers show \"Not secure\"; get a certificate "
                     "with %s among its subjectAltNames, then `causeway webproxy reload`",
                     o->host[i].name, o->host[i].name);
    }
    for (unsigned i = 0; tls && i < cw_tls_ctx_cert_count(tls); i++) {
        time_t na = 0;

        if (cw_tls_ctx_cert_info(tls, i, sans, sizeof(sans), &na) < 0 || !na)
            continue;
        snprintf(id, sizeof(id), "webproxy.expiry.%u", i + 1);
        cw_fault_set(e->faults, id, na - now < CERT_WARN_DAYS * 86400,
                     "the certificate for %s %s %lld days: renew it, then `causeway webproxy "
                     "reload`", sans, na < now ? "expired" : "expires in",
                     (long long)((na > now ? na - now : now - na) / 86400));
    }
}

/* The fault conditions, from the modules' state now. */
static void evaluate(struct edge *e)
{
    char why[512];

    if (e->tunnel)
        cw_fault_set(e->faults, "tunnel.sshd", !tunnel_sshd_running(e->tunnel, why, sizeof(why)),
                     "the tunnels' sshd is not running (%s): cores cannot connect; see the edge's "
                     "log for sshd's own lines", why);
    if (e->webproxy)
        evaluate_webproxy(e);
    if (e->fed) {
        int down = edge_federation_links_down(e->fed, why, sizeof(why)) > 0;

        if (!down)
            e->fed_down_since = 0;
        else if (!e->fed_down_since)
            e->fed_down_since = time(NULL);
        cw_fault_set(e->faults, "federation.core-link",
                     down && time(NULL) - e->fed_down_since >= LINK_GRACE_S,
                     "the federation link to the core is down (%s): stanzas from remote domains "
                     "are bounced; check the tunnel and [federation] core", why);
    }
}

static void status_tick(uv_timer_t *t)
{
    evaluate(t->data);
}

/* `status [SECTION] [json]`: the document, or one section of it. */
static int ctl_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;
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
    evaluate(e);
    edge_status_report(e, r);
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

int edge_status_start(struct edge *e)
{
    e->started = time(NULL);
    e->faults = cw_faults_create();
    if (!e->faults)
        return -1;
    if (e->stats)
        cw_stats_add(e->stats, "faults_active", "Fault conditions raised now",
                     CW_STAT_GAUGE, cw_faults_active(e->faults));
    cw_ctl_register(e->ctl, "status", ctl_status, e);
    cw_ctl_register(e->ctl, "faults", ctl_faults, e);
    uv_timer_init(e->loop, &e->status_timer);
    e->status_timer.data = e;
    uv_timer_start(&e->status_timer, status_tick, STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
    return 0;
}

void edge_status_stop(struct edge *e)
{
    if (e->faults && !uv_is_closing((uv_handle_t *)&e->status_timer))
        uv_close((uv_handle_t *)&e->status_timer, NULL);
}
