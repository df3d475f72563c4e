/* server_report.c - the XMPP service's sections of the status document:
 * the node's listeners and counters, its domains, and the call bridges
 * (components) with the node each is connected to across the cluster. */
#include "xmpp/xmpp_int.h"

#include "common/report.h"
#include "common/status.h"
#include "xmpp/state.h"

#include <stdio.h>

static int domain_row(void *arg, const char *d)
{
    cw_report_row(arg);
    cw_report_cell_str(arg, d);
    return 0;
}

struct comp_ctx {
    const struct xmpp_server *srv;
    struct cw_report *r;
    unsigned configured, connected;
};

static int comp_row(void *arg, const char *name)
{
    struct comp_ctx *k = arg;
    const char *node = xmpp_state_comp_node(k->srv->st, name);
    const struct xconn *c = xmpp__component_find(k->srv, name);

    k->configured++;
    k->connected += node != NULL;
    cw_report_row(k->r);
    cw_report_cell_str(k->r, name);
    cw_report_cell_str(k->r, node ? node : "(not connected)");
    cw_report_cell_str(k->r, c ? c->peer : "");
    cw_report_cell_int(k->r, c ? (int64_t)c->stanzas_in : 0);
    cw_report_cell_int(k->r, c ? (int64_t)c->stanzas_out : 0);
    return 0;
}

void xmpp_server_report(const struct xmpp_server *srv, struct cw_report *r)
{
    struct comp_ctx k = { srv, r, 0, 0 };
    struct cw_sb l;

    cw_sb_init(&l);
    cw_report_section(r, "xmpp", "XMPP service", CW_REPORT_OK);
    cw_report_str(r, "node", "Node", srv->node);
    for (int i = 0; i < srv->nlis; i++)
        cw_sb_printf(&l, "%s%s (%s)", i ? ", " : "", srv->lis[i].addr,
                     srv->lis[i].kind == XC_C2S ? "clients"
                     : srv->lis[i].kind == XC_COMP ? "components" : "federation link");
    cw_report_str(r, "listening", "Listening", cw_sb_str(&l));
    cw_sb_free(&l);
    cw_report_int(r, "sessions", "Client sessions", srv->nsessions);
    cw_report_int(r, "components", "Components connected here", srv->ncomponents);
    cw_report_int(r, "routed", "Stanzas routed", (int64_t)srv->routed);
    cw_report_int(r, "bounced", "Stanzas bounced with an error", (int64_t)srv->bounced);
    cw_report_int(r, "forwarded", "Stanzas to other nodes", (int64_t)srv->forwarded);
    cw_report_str(r, "federation", "Federation links from the edge",
                  !srv->link_listening ? "off on this node (no [xmpp] link-listen)"
                  : srv->nlinks ? "up" : "none up: stanzas for other domains are bounced");
    cw_report_int(r, "federated", "Stanzas to the federation link", (int64_t)srv->federated);
    if (srv->link_listening && !srv->nlinks)
        cw_report_state(r, CW_REPORT_WARN);
    cw_report_table(r, "domains", "Domains", "domain", "Domain");
    xmpp_state_domains(srv->st, domain_row, r);
    cw_status_cert_table(r, srv->o.tls);

    cw_report_section(r, "callbridges", "Call bridges", CW_REPORT_OK);
    cw_report_table(r, "list", "Call bridges (XEP-0114 components)",
                    "name,node,from,stanzas_in,stanzas_out",
                    "Name,Connected to node,From,Stanzas in,Stanzas out");
    xmpp_state_components(srv->st, comp_row, &k);
    cw_report_int(r, "configured", "Configured", k.configured);
    cw_report_int(r, "connected", "Connected (any node)", k.connected);
    if (k.connected < k.configured)
        cw_report_state(r, CW_REPORT_WARN);
}

int xmpp_server_has_component(const struct xmpp_server *srv, const char *domain)
{
    return xmpp__component_find(srv, domain) != NULL;
}
