/* s2s_report.c - the federation gateway's section of the status document:
 * its listeners, the links to the core nodes, the streams with remote
 * domains and the domains it dialled. */
#include "xmpp/s2s_int.h"

#include "common/report.h"
#include "common/status.h"
#include "common/stream.h"

#include <stdio.h>

void s2s_report(const struct s2s_gateway *gw, struct cw_report *r)
{
    static const char *const link_names[] = { "down", "connecting", "handshake", "up" };
    static const char *const route_names[] = { "idle", "resolving", "connecting", "ready", "failed" };
    struct cw_sb l;

    cw_sb_init(&l);
    cw_report_section(r, "federation", "XMPP federation", CW_REPORT_OK);
    for (int i = 0; i < gw->nlis; i++)
        cw_sb_printf(&l, "%s%s (%s)", i ? ", " : "", gw->lis[i].addr,
                     gw->lis[i].direct_tls ? "direct TLS" : "STARTTLS");
    cw_report_str(r, "listening", "Listening", cw_sb_str(&l));
    cw_sb_free(&l);
    cw_report_int(r, "streams_open", "Streams open", gw->nconns);
    cw_report_int(r, "bounced", "Stanzas bounced", (int64_t)gw->bounced);
    cw_report_int(r, "dialback_checks", "Dialback checks waiting for an answer", gw->nverify);
    cw_report_int(r, "read_holds", "Times reading paused for the core link", (int64_t)gw->holds);
    cw_status_cert_table(r, gw->o.tls);
    cw_report_table(r, "core_links", "Links to the core", "address,node,state,since,domains,error",
                    "Address,Node,State,Since,Domains,Last error");
    for (int i = 0; i < gw->o.ncore; i++) {
        const struct s2s_link *k = &gw->link[i];
        struct cw_sb d;

        cw_sb_init(&d);
        for (int j = 0; k->state == LK_READY && j < k->ndomains; j++)
            cw_sb_printf(&d, "%s%s", j ? " " : "", k->domains[j]);
        cw_report_row(r);
        cw_report_cell_str(r, k->addr_str);
        cw_report_cell_str(r, k->node);
        cw_report_cell_str(r, link_names[k->state]);
        cw_report_cell_time(r, k->since);
        cw_report_cell_str(r, cw_sb_str(&d) ? cw_sb_str(&d) : "");
        cw_report_cell_str(r, k->state == LK_READY ? "" : k->last_error);
        cw_sb_free(&d);
        if (k->state != LK_READY)
            cw_report_state(r, CW_REPORT_ERROR);
    }
    cw_report_table(r, "streams", "Streams with remote domains",
                    "remote,direction,tls,auth,since,stanzas_in,stanzas_out",
                    "Remote domain,Direction,TLS,Authentication,Since,Stanzas in,Stanzas out");
    for (const struct s2s_conn *c = gw->conns; c; c = c->next) {
        const char *tls = cw_stream_tls_version(c->st);

        cw_report_row(r);
        cw_report_cell_str(r, c->remote[0] ? c->remote : "?");
        cw_report_cell_str(r, c->dir == S2S_IN ? "in" : "out");
        cw_report_cell_str(r, tls ? tls : "none");
        cw_report_cell_str(r, c->phase == SP_READY ? c->auth : "(setting up)");
        cw_report_cell_time(r, c->since);
        cw_report_cell_int(r, (int64_t)c->stanzas_in);
        cw_report_cell_int(r, (int64_t)c->stanzas_out);
    }
    cw_report_table(r, "remote_domains", "Remote domains dialled",
                    "local,remote,state,since,queued,error",
                    "Our domain,Remote domain,State,Since,Stanzas waiting,Last error");
    for (const struct s2s_route *rt = gw->routes; rt; rt = rt->next) {
        cw_report_row(r);
        cw_report_cell_str(r, rt->local);
        cw_report_cell_str(r, rt->remote);
        cw_report_cell_str(r, route_names[rt->state]);
        cw_report_cell_time(r, rt->since);
        cw_report_cell_int(r, rt->nqueued);
        cw_report_cell_str(r, rt->last_error);
        if (rt->state == RT_FAILED)
            cw_report_state(r, CW_REPORT_WARN);
    }
}

int s2s_core_links_down(const struct s2s_gateway *gw, char *why, size_t len)
{
    int down = 0;

    why[0] = '\0';
    for (int i = 0; i < gw->o.ncore; i++) {
        const struct s2s_link *k = &gw->link[i];

        if (k->state == LK_READY)
            continue;
        if (!down++)
            snprintf(why, len, "%s: %s", k->addr_str, k->last_error[0] ? k->last_error : "not up");
    }
    return down;
}
