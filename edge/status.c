/* status.c - the edge's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/stream.h"
#include "edge/edge.h"
#include "edge/federation.h"
#include "edge/tunnel.h"
#include "turn/turn.h"
#include "webproxy/webproxy.h"

#include <stdio.h>

/* A tunnel link may be down this long (a core restarting, the first
 * connect after start) before it is a fault. */
#define LINK_GRACE_S 20

/* A section that says the feature is not configured, so a reader of the
 * page or the API sees that rather than nothing. */
static void off_section(struct cw_report *r, const char *key, const char *title, const char *what)
{
    cw_report_section(r, key, title, CW_REPORT_OFF);
    cw_report_str(r, "configured", "Configured", what);
}

/* The whole status document (the `status` command, admin pages and API). */
static void report(void *arg, struct cw_report *r)
{
    struct edge *e = arg;

    cw_status_system(&e->status, r);
    cw_faults_report(e->status.faults, r);
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
    char id[128];

    for (int i = 0; webproxy_link_info(e->webproxy, i, &li) == 0; i++) {
        snprintf(id, sizeof(id), "tunnel.link.%s", li.name);
        cw_fault_set(e->status.faults, id, !li.up && now - li.since >= LINK_GRACE_S,
                     "no core holds the tunnel forward %s (%s): guests get 502; check `causeway "
                     "tunnel status` on the core and that it reaches this edge's SSH port",
                     li.name, li.why[0] ? li.why : li.state);
    }
    for (int i = 0; i < o->nhost; i++) {
        snprintf(id, sizeof(id), "webproxy.certificate.%s", o->host[i].name);
        cw_fault_set(e->status.faults, id, !tls || !cw_tls_ctx_covers(tls, o->host[i].name),
                     "no certificate names %s: browsers show \"Not secure\"; get a certificate "
                     "with %s among its subjectAltNames, then `causeway webproxy reload`",
                     o->host[i].name, o->host[i].name);
    }
    cw_status_cert_expiry(&e->status, "webproxy.expiry", tls,
                          "renew it, then `causeway webproxy reload`");
}

/* The fault conditions, from the modules' state now. */
static void evaluate(void *arg)
{
    struct edge *e = arg;
    char why[512];

    if (e->tunnel) {
        char fix[512];

        cw_fault_set(e->status.faults, "tunnel.sshd",
                     !tunnel_sshd_running(e->tunnel, why, sizeof(why)),
                     "the tunnels' sshd is not running (%s): cores cannot connect; see the "
                     "edge's log for sshd's own lines", why);
        cw_fault_set(e->status.faults, "tunnel.account",
                     !tunnel_account_usable(&e->cfg.tunnel, why, sizeof(why), fix, sizeof(fix)),
                     "%s; %s", why, fix);
    }
    if (e->webproxy)
        evaluate_webproxy(e);
    if (e->tls)
        cw_status_cert_expiry(&e->status, "turn.expiry", e->tls,
                              "renew tls-certificate and tls-key, then `systemctl reload "
                              "causeway-edge` (SIGHUP); TURN clients over TLS refuse an expired "
                              "certificate");
    if (e->fed) {
        int down = edge_federation_links_down(e->fed, why, sizeof(why)) > 0;

        if (!down)
            e->fed_down_since = 0;
        else if (!e->fed_down_since)
            e->fed_down_since = time(NULL);
        cw_status_cert_expiry(&e->status, "federation.expiry", edge_federation_tls(e->fed),
                              "renew it, then `systemctl reload causeway-edge` (SIGHUP); foreign "
                              "servers refuse an expired certificate");
        cw_fault_set(e->status.faults, "federation.core-link",
                     down && time(NULL) - e->fed_down_since >= LINK_GRACE_S,
                     "the federation link to the core is down (%s): stanzas from remote domains "
                     "are bounced; check the tunnel and [federation] core", why);
    }
}

int edge_status_start(struct edge *e)
{
    e->status.evaluate = evaluate;
    e->status.report = report;
    e->status.arg = e;
    e->status.product = "causeway-edge";
    e->status.version = EDGE_VERSION;
    e->status.config = e->cfg.path;
    return cw_status_start(&e->status, e->loop, e->ctl, e->stats);
}
