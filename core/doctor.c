/* doctor.c - `causeway doctor` on the core: the faults operators hit inside
 * (SRV records and the guest account client URI in the inside DNS, TURN
 * credentials, call-bridge secrets on every node, cluster members, tunnels,
 * the firewall towards the DMZ), each checked live, with the fix. */
#include "core/core.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/ctl.h"
#include "common/dns.h"
#include "common/doctor.h"
#include "common/log.h"
#include "core/cluster.h"
#include "core/tunnel.h"
#include "core/turncheck.h"
#include "core/xmpp.h"
#include "xmpp/state.h"

#define MAX_ITEMS 64
#define NAME_LEN 256

struct cdoc {
    struct core *c;
    struct cw_doctor_cmd cmd;           /* the run, its resolver, the answer owed */
    char domains[MAX_ITEMS][NAME_LEN];
    int ndomains;
    struct comp {
        char name[NAME_LEN];
        char secret[260];
    } comps[MAX_ITEMS];
    int ncomps;
    struct node {
        char name[64], id[24], addr[64];
    } nodes[MAX_ITEMS];
    int nnodes;
    struct member {
        unsigned long long id;
        char addr[64];
        int voter, leader, self;
    } members[MAX_ITEMS];
    int nmembers;
};

static const char *dns_text(const struct core *c)
{
    return c->cfg.dns_servers[0] ? c->cfg.dns_servers : "the servers of /etc/resolv.conf";
}

/* ---- resolve a name, then connect to its first address ------------------------------- */

struct rc_q {
    struct cdoc *d;
    struct cw_doctor_check *ck;
    char name[NAME_LEN];
    uint16_t port;
    char seen[600];
    char fix_dns[700];                  /* when the name does not resolve */
    char fix_dead[700];                 /* when nothing answers */
    struct cw_dns_result addrs;
    int next;
    struct core_tunnel *tls;            /* a webbridge that speaks TLS: its tunnel checks it */
};

static void rc_try(struct rc_q *q);

/* The probe of q's address q->next ended: status 0, a uv error (no
 * connection), or CW_DOCTOR_EPROTO with why (the TLS handshake failed). */
static void rc_result(struct rc_q *q, int status, const char *why)
{
    struct cw_doctor_check *ck = q->ck;
    char a[CW_ADDR_STRLEN];

    cw_addr_fmt((const struct sockaddr *)&q->addrs.addr[q->next], a, sizeof(a), 1);
    if (status == 0 && q->tls) {
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s: %s answers HTTPS with a certificate the "
                       "core accepts", q->seen, a);
    } else if (status == 0) {
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s: %s answers", q->seen, a);
    } else if (status == CW_DOCTOR_EPROTO && why) {
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "until the core accepts the webbridge's TLS, every "
                       "guest gets 502 (webbridge-ca and guest-uri in core.conf, or the "
                       "webbridge's certificate)", "%s: %s: %s", q->seen, a, why);
    } else if (q->next + 1 < q->addrs.n) {
        q->next++;
        rc_try(q);
        return;
    } else {
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, q->fix_dead, "%s: %s does not answer (%s)", q->seen,
                       a, cw_doctor_strerror(status));
    }
    cw_doctor_check_put(q->ck);
    free(q);
}

static void rc_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    (void)ck;
    rc_result(arg, status, NULL);
}

static void rc_tls_done(void *arg, int status, const char *why)
{
    rc_result(arg, status, why);
}

static void rc_try(struct rc_q *q)
{
    const struct sockaddr *a = (const struct sockaddr *)&q->addrs.addr[q->next];

    if (q->tls && core_tunnel_probe_tls(q->tls, a, rc_tls_done, q) == 0)
        return;
    if (cw_doctor_probe_tcp(q->ck, a, 0, rc_probed, q) < 0) {
        cw_doctor_check_put(q->ck);
        free(q);
    }
}

static void rc_resolved(void *arg, int status, const struct cw_dns_result *r)
{
    struct rc_q *q = arg;
    char list[400];

    if (status != CW_DNS_OK) {
        cw_doctor_addf(q->ck, CW_DOCTOR_FAIL, q->fix_dns, "%s: %s does not resolve in the inside "
                       "DNS (%s): %s", q->seen, q->name, dns_text(q->d->c), cw_dns_strerror(status));
        cw_doctor_check_put(q->ck);
        free(q);
        return;
    }
    q->addrs = *r;
    cw_dns_result_text(r, 0, list, sizeof(list));
    snprintf(q->seen + strlen(q->seen), sizeof(q->seen) - strlen(q->seen), " -> %s:%u (%s)",
             q->name, q->port, list);
    rc_try(q);
}

/* Resolves name (or takes it as an address literal) and connects to port;
 * with tls, makes the handshake a guest connection of that tunnel makes. */
static void resolve_connect(struct cdoc *d, struct cw_doctor_check *ck, const char *name,
                            uint16_t port, const char *seen, const char *fix_dns,
                            const char *fix_dead, struct core_tunnel *tls)
{
    struct rc_q *q = calloc(1, sizeof(*q));

    if (!q)
        return;
    q->d = d;
    q->tls = tls;
    q->ck = cw_doctor_check_hold(ck);
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->port = port;
    snprintf(q->seen, sizeof(q->seen), "%s", seen);
    snprintf(q->fix_dns, sizeof(q->fix_dns), "%s", fix_dns);
    snprintf(q->fix_dead, sizeof(q->fix_dead), "%s", fix_dead);
    if (cw_addr_parse(name, port, &q->addrs.addr[0]) == 0) {
        q->addrs.n = 1;
        rc_try(q);
        return;
    }
    if (!cw_dns_resolve(d->cmd.dns, name, port, rc_resolved, q)) {
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix_dns, "%s: \"%s\" is not a host name", seen, name);
        cw_doctor_check_put(q->ck);
        free(q);
    }
}

/* ---- dns.srv ------------------------------------------------------------------------- */

struct srv_lookup {
    struct cdoc *d;
    struct cw_doctor_check *ck;
    char name[300];
    char example[400];
};

static void srv_answered(void *arg, int status, const struct cw_dns_srv_result *r)
{
    struct srv_lookup *l = arg;
    char fix[700], seen[400], dead[500];

    if (status != CW_DNS_OK) {
        snprintf(fix, sizeof(fix), "add to the inside DNS: \"%s\" (and an A record for the "
                 "target); clients and call bridges find the core through it", l->example);
        cw_doctor_addf(l->ck, CW_DOCTOR_FAIL, fix, "%s: no SRV record in the inside DNS (%s): %s",
                       l->name, dns_text(l->d->c), cw_dns_strerror(status));
        goto out;
    }
    for (int i = 0; i < r->n && i < 8; i++) {
        snprintf(seen, sizeof(seen), "%s", l->name);
        snprintf(fix, sizeof(fix), "add an A record for %s in the inside DNS (the core node's "
                 "address)", r->srv[i].target);
        snprintf(dead, sizeof(dead), "point the record at a core node's port that listens (see "
                 "[xmpp] client-listen / component-listen), or start that node");
        resolve_connect(l->d, l->ck, r->srv[i].target, r->srv[i].port, seen, fix, dead, NULL);
    }
out:
    cw_doctor_check_put(l->ck);
    free(l);
}

static void srv_ask(struct cdoc *d, struct cw_doctor_check *ck, const char *service,
                    const char *domain, const struct sockaddr_storage *listen)
{
    struct srv_lookup *l = calloc(1, sizeof(*l));
    unsigned port = listen->ss_family ? cw_addr_port((const struct sockaddr *)listen) : 5222;

    if (!l)
        return;
    l->d = d;
    l->ck = cw_doctor_check_hold(ck);
    snprintf(l->name, sizeof(l->name), "%s.%s", service, domain);
    snprintf(l->example, sizeof(l->example), "%s. SRV 0 0 %u %s.%s.", l->name, port,
             d->c->cfg.name, domain);
    if (!cw_dns_srv(d->cmd.dns, l->name, srv_answered, l)) {
        cw_doctor_check_put(l->ck);
        free(l);
    }
}

static void check_srv(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "dns.srv");
    const struct core_xmpp_config *x = &d->c->cfg.xmpp;

    if (!ck)
        return;
    if (!d->c->xmpp)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [xmpp] in core.conf", NULL);
    else if (!d->ndomains)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no XMPP domain in the state (`causeway xmpp domain "
                      "add DOMAIN`)", NULL);
    for (int i = 0; d->c->xmpp && i < d->ndomains; i++) {
        srv_ask(d, ck, "_xmpp-client._tcp", d->domains[i], &x->c2s);
        srv_ask(d, ck, "_xmpp-component._tcp", d->domains[i], &x->component);
    }
    cw_doctor_check_put(ck);
}

/* ---- guest-uri.inside ---------------------------------------------------------------- */

static void check_guest_inside(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "guest-uri.inside");
    char seen[300], fix[700], dead[700];

    if (!ck)
        return;
    if (!d->c->cfg.ntunnel)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [tunnel] in core.conf", NULL);
    for (int i = 0; i < d->c->cfg.ntunnel; i++) {
        const struct core_tunnel_config *t = &d->c->cfg.tunnel[i];
        snprintf(seen, sizeof(seen), "guest account client URI %s (webbridge-port %u)",
                 t->guest_uri, t->webbridge_port);
        snprintf(fix, sizeof(fix), "add \"%s. A <the webbridge's inside address>\" to the inside "
                 "DNS ([dns] server in core.conf); until it resolves guests get \"Bad Request\" "
                 "or 502 from the edge", t->guest_uri);
        snprintf(dead, sizeof(dead), "make %s resolve to the webbridge inside, and check that "
                 "the webbridge listens on port %u there (webbridge-port in core.conf); until it "
                 "answers guests get 502 or \"Bad Request\"", t->guest_uri, t->webbridge_port);
        resolve_connect(d, ck, t->guest_uri, t->webbridge_port, seen, fix, dead,
                        t->webbridge_tls && i < d->c->ntunnel ? d->c->tunnel[i] : NULL);
    }
    cw_doctor_check_put(ck);
}

/* ---- turn.credentials ------------------------------------------------------------------ */

static void turn_result(void *arg, const struct core_turncheck_result *res)
{
    struct cw_doctor_check *ck = arg;

    if (res->verdict == CORE_TURNCHECK_OK)
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "relay allocated: %s (mapped %s, rtt %.1f ms)",
                       res->relay, res->mapped[0] ? res->mapped : "?", res->rtt_ms);
    else
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, res->verdict == CORE_TURNCHECK_AUTH
                       ? "make [turn] username/password (or rest-secret) in core.conf match the "
                         "edge's TURN users; with wrong credentials call bridges and guests log "
                         "\"relay candidate creation timeout\""
                       : "see the text; until a relay is allocated guests' media fails "
                         "(\"relay candidate creation timeout\")",
                       "%s: %s", core_turncheck_verdict_name(res->verdict), res->why);
    cw_doctor_check_put(ck);
}

static void check_turn(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "turn.credentials");

    if (!ck)
        return;
    if (!d->c->cfg.turn_check.enabled || !d->c->turncheck) {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [turn] in core.conf: the TURN credentials the "
                      "call bridges use are not known here", NULL);
        goto out;
    }
    /* The daemon's own check, run now (one already running is joined): a
     * check that ends after the deadline is reported as not finished. */
    if (core_turncheck_run(d->c->turncheck, turn_result, cw_doctor_check_hold(ck)) < 0) {
        cw_doctor_add(ck, CW_DOCTOR_FAIL, "the TURN check cannot run now (the daemon is "
                      "stopping?)", "run `causeway turn check` when the core runs");
        cw_doctor_check_put(ck);
    }
out:
    cw_doctor_check_put(ck);
}

/* ---- components.secrets ---------------------------------------------------------------- */

struct comp_q {
    char name[NAME_LEN];
    char where[128];
};

static void comp_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    struct comp_q *q = arg;

    if (status == 0)
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "call bridge %s: the handshake with its secret "
                       "succeeds on %s", q->name, q->where);
    else if (status == CW_DOCTOR_EAUTH)
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "this node holds another secret for it: the node is "
                       "not in step with the cluster (`causeway xmpp cluster status` there; "
                       "remove and join it again), or set the secret again with `causeway xmpp "
                       "callbridge add-secret NAME SECRET` and enter the same on the call bridge",
                       "call bridge %s: %s refuses its secret (not-authorized: the call bridge "
                       "logs \"authentication failure\" when it connects there)", q->name,
                       q->where);
    else if (status == CW_DOCTOR_EUNKNOWN)
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "that node does not know the call bridge: it is not "
                       "in step with the cluster (`causeway xmpp cluster status` there)",
                       "call bridge %s: %s says host-unknown", q->name, q->where);
    else
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "start the node's XMPP service or fix [xmpp] "
                       "component-listen; call bridges fail over to other nodes meanwhile",
                       "call bridge %s: no handshake on %s: %s", q->name, q->where,
                       cw_doctor_strerror(status));
    free(q);
}

static void comp_probe(struct cdoc *d, struct cw_doctor_check *ck, const struct comp *cp,
                       const struct sockaddr_storage *a, const char *node)
{
    struct comp_q *q = calloc(1, sizeof(*q));
    char as[CW_ADDR_STRLEN];

    if (!q)
        return;
    (void)d;
    snprintf(q->name, sizeof(q->name), "%s", cp->name);
    snprintf(q->where, sizeof(q->where), "node %s (%s)", node,
             cw_addr_fmt((const struct sockaddr *)a, as, sizeof(as), 1));
    if (cw_doctor_probe_component(ck, (const struct sockaddr *)a, cp->name, cp->secret, 0,
                                  comp_probed, q) < 0)
        free(q);
}

static void check_components(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "components.secrets");
    const struct core_xmpp_config *x = &d->c->cfg.xmpp;
    const struct xmpp_state *st = d->c->xmpp ? core_xmpp_state(d->c->xmpp) : NULL;
    uint16_t port = cw_addr_port((const struct sockaddr *)&x->component);

    if (!ck)
        return;
    if (!d->c->xmpp || !x->component.ss_family) {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [xmpp] component-listen in core.conf", NULL);
        goto out;
    }
    if (!d->ncomps)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no call bridge in the state (`causeway xmpp "
                      "callbridge add NAME`)", NULL);
    for (int i = 0; i < d->ncomps; i++) {
        const struct comp *cp = &d->comps[i];
        const char *on = xmpp_state_comp_node(st, cp->name);
        /* A connected call bridge would be told "conflict" by a second
         * handshake: its being connected proves the secret. */
        if (core_xmpp_component_here(d->c->xmpp, cp->name))
            cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "call bridge %s is connected on this node "
                           "(its secret works; not probed, to keep it connected)", cp->name);
        else
            comp_probe(d, ck, cp, &x->component, d->c->cfg.name);
        /* The other members, at their cluster host and this node's component
         * port (nodes of one cluster are set up alike). */
        for (int n = 0; n < d->nnodes; n++) {
            struct sockaddr_storage a;
            char host[64];
            size_t hl;
            if (!strcmp(d->nodes[n].name, d->c->cfg.name))
                continue;
            if (on && !strcmp(on, d->nodes[n].name)) {
                cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "call bridge %s is connected on node %s "
                               "(its secret works there; not probed, to keep it connected)",
                               cp->name, on);
                continue;
            }
            snprintf(host, sizeof(host), "%s", d->nodes[n].addr);
            hl = strlen(host);
            while (hl && host[hl - 1] != ':')
                hl--;
            if (hl)
                host[hl - 1] = 0;
            if (cw_addr_parse(host, port, &a) < 0) {
                cw_doctor_addf(ck, CW_DOCTOR_WARN, "give cluster members numeric addresses",
                               "node %s's cluster address %s is not an address: its component "
                               "port was not tried", d->nodes[n].name, d->nodes[n].addr);
                continue;
            }
            comp_probe(d, ck, cp, &a, d->nodes[n].name);
        }
    }
out:
    cw_doctor_check_put(ck);
}

/* ---- cluster.members ----------------------------------------------------------------- */

struct mem_q {
    struct cdoc *d;
    char what[200];
    char name[64];
};

static void member_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    struct mem_q *q = arg;
    char fix[400];

    if (status == 0) {
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s answers", q->what);
    } else {
        snprintf(fix, sizeof(fix), "start that node; if it is gone for good: `causeway xmpp "
                 "cluster remove %s` (a stale member counts against the majority)", q->name);
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "%s does not answer: %s", q->what,
                       cw_doctor_strerror(status));
    }
    free(q);
}

static const char *node_of(const struct cdoc *d, const char *addr, unsigned long long id)
{
    char ids[24];

    snprintf(ids, sizeof(ids), "%llu", id);
    for (int i = 0; i < d->nnodes; i++)
        if (!strcmp(d->nodes[i].addr, addr) && !strcmp(d->nodes[i].id, ids))
            return d->nodes[i].name;
    return NULL;
}

static void check_cluster(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "cluster.members");
    struct core_cluster *cl = d->c->xmpp ? core_xmpp_cluster(d->c->xmpp) : NULL;
    int leader = 0;
    char fix[400];

    if (!ck)
        return;
    if (!d->c->cfg.cluster.enabled || !cl) {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [cluster] in core.conf (a single node)", NULL);
        goto out;
    }
    if (!core_cluster_started(cl)) {
        cw_doctor_add(ck, CW_DOCTOR_FAIL, "this node is not in a cluster yet", "`causeway xmpp "
                      "cluster initialize` on the first node, `causeway xmpp cluster join "
                      "ADDRESS:PORT` on the others");
        goto out;
    }
    for (int i = 0; i < d->nmembers; i++) {
        const struct member *m = &d->members[i];
        const char *name = node_of(d, m->addr, m->id);
        leader |= m->leader;
        for (int j = 0; j < i; j++)
            if (!strcmp(d->members[j].addr, m->addr)) {
                snprintf(fix, sizeof(fix), "remove the entry of the old incarnation: "
                         "`causeway xmpp cluster remove %s` (it stays if the other one answers)",
                         name ? name : m->addr);
                cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "address %s is a member twice (ids %llu "
                               "and %llu): a node that was reset and joined again",
                               m->addr, d->members[j].id, m->id);
            }
        if (m->self)
            continue;
        struct mem_q *q = calloc(1, sizeof(*q));
        struct sockaddr_storage a;
        if (!q)
            continue;
        snprintf(q->name, sizeof(q->name), "%s", name ? name : m->addr);
        snprintf(q->what, sizeof(q->what), "member %s (id %llu, %s%s)", name ? name : "?", m->id,
                 m->addr, m->leader ? ", leader" : "");
        if (cw_addr_parse(m->addr, 0, &a) < 0 ||
            cw_doctor_probe_tcp(ck, (struct sockaddr *)&a, 0, member_probed, q) < 0) {
            cw_doctor_addf(ck, CW_DOCTOR_WARN, "give members numeric host:port addresses",
                           "%s: the address cannot be tried", q->what);
            free(q);
        }
    }
    /* The node table (names) against Raft's configuration. */
    for (int i = 0; i < d->nnodes; i++) {
        const struct node *n = &d->nodes[i];
        int in_raft = 0;
        for (int k = 0; k < d->nmembers; k++) {
            char ids[24];
            snprintf(ids, sizeof(ids), "%llu", d->members[k].id);
            in_raft |= !strcmp(ids, n->id);
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(d->nodes[j].addr, n->addr)) {
                snprintf(fix, sizeof(fix), "`causeway xmpp cluster remove %s` for the one that "
                         "is gone", in_raft ? d->nodes[j].name : n->name);
                cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "nodes %s (id %s) and %s (id %s) share "
                               "the address %s", d->nodes[j].name, d->nodes[j].id, n->name, n->id,
                               n->addr);
            }
        if (!in_raft) {
            snprintf(fix, sizeof(fix), "`causeway xmpp cluster remove %s`", n->name);
            cw_doctor_addf(ck, CW_DOCTOR_WARN, fix, "node %s (id %s, %s) is named in the state but "
                           "is not a cluster member", n->name, n->id, n->addr);
        }
    }
    if (!leader)
        cw_doctor_add(ck, CW_DOCTOR_FAIL, "no leader: writes are refused", "start the stopped "
                      "members so that a majority runs, or remove the ones gone for good");
out:
    cw_doctor_check_put(ck);
}

/* ---- tunnels -------------------------------------------------------------------------- */

static void check_tunnels(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "tunnels");
    char why[400], fix[700];
    struct core_tunnel_health h;

    if (!ck)
        return;
    if (!d->c->ntunnel)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [tunnel] in core.conf", NULL);
    for (int i = 0; i < d->c->ntunnel; i++) {
        const struct core_tunnel_config *t = &d->c->cfg.tunnel[i];

        core_tunnel_health(d->c->tunnel[i], &h);
        if (h.active) {
            cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "tunnel to %s is Active (127.0.0.1:%u on the "
                           "edge -> %s:%u)", h.target, t->edge_port, t->guest_uri, t->webbridge_port);
            continue;
        }
        snprintf(why, sizeof(why), "%s: %s", h.state, h.reason[0] ? h.reason : "(no reason)");
        snprintf(fix, sizeof(fix), "%s", strstr(why, "host key") ?
                 "the edge's host key differs from host-key in core.conf: compare with "
                 "`causeway tunnel status` on the edge and correct it" :
                 strstr(why, "refused this core's key") ?
                 "the edge does not trust this core's key: run the command `causeway tunnel "
                 "pair` prints on the edge (`causeway tunnel trust ...`)" :
                 strstr(why, "refused to listen") ?
                 "the edge does not permit this edge-port: add it to the edge's [tunnel] "
                 "permit-listen (and trust the core again), or use one that is listed" :
                 "check that the edge runs, that its [tunnel] listens on this address, and that "
                 "the firewall lets the inside open TCP to the edge's port 2222 (inside -> DMZ; "
                 "see firewall.inside-to-dmz)");
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "tunnel to %s is down: %s", h.target, why);
    }
    cw_doctor_check_put(ck);
}

/* ---- firewall.inside-to-dmz ------------------------------------------------------------ */

struct fw_q {
    char what[160];
};

static void fw_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    struct fw_q *q = arg;
    char fix[400];

    if (status == 0) {
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s: open", q->what);
    } else {
        snprintf(fix, sizeof(fix), "let the inside open %s through the firewall between the "
                 "inside and the DMZ (and check the edge listens there)", q->what);
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "%s: %s", q->what, cw_doctor_strerror(status));
    }
    free(q);
}

static void fw_probe(struct cw_doctor_check *ck, const struct sockaddr_storage *a, int udp,
                     const char *what)
{
    struct fw_q *q = calloc(1, sizeof(*q));
    char as[CW_ADDR_STRLEN];
    int rc;

    if (!q)
        return;
    snprintf(q->what, sizeof(q->what), "%s %s %s (inside -> DMZ)", udp ? "UDP" : "TCP",
             cw_addr_fmt((const struct sockaddr *)a, as, sizeof(as), 1), what);
    rc = udp ? cw_doctor_probe_stun(ck, (const struct sockaddr *)a, 0, fw_probed, q)
             : cw_doctor_probe_tcp(ck, (const struct sockaddr *)a, 0, fw_probed, q);
    if (rc < 0)
        free(q);
}

static void check_firewall(struct cdoc *d)
{
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "firewall.inside-to-dmz");
    const struct core_turncheck_config *tcfg = &d->c->cfg.turn_check;

    if (!ck)
        return;
    for (int i = 0; i < d->c->cfg.ntunnel; i++)
        fw_probe(ck, &d->c->cfg.tunnel[i].edge, 0, "the edge's SSH tunnel port");
    if (tcfg->enabled) {
        fw_probe(ck, &tcfg->server, 1, "the edge's TURN port (STUN Binding)");
        fw_probe(ck, &tcfg->server, 0, "the edge's TURN port");
    } else {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [turn] in core.conf: the edge's TURN port was not "
                      "tried from here", NULL);
    }
    cw_doctor_check_put(ck);
}

/* ---- the run -------------------------------------------------------------------------- */

static int add_domain(void *arg, const char *dom)
{
    struct cdoc *d = arg;

    if (d->ndomains < MAX_ITEMS)
        snprintf(d->domains[d->ndomains++], NAME_LEN, "%s", dom);
    return 0;
}

static int add_comp(void *arg, const char *name)
{
    struct cdoc *d = arg;

    if (d->ncomps < MAX_ITEMS)
        snprintf(d->comps[d->ncomps++].name, NAME_LEN, "%s", name);
    return 0;
}

static int add_node(void *arg, const char *name, const char *id, const char *addr)
{
    struct cdoc *d = arg;
    struct node *n;

    if (d->nnodes < MAX_ITEMS) {
        n = &d->nodes[d->nnodes++];
        snprintf(n->name, sizeof(n->name), "%s", name);
        snprintf(n->id, sizeof(n->id), "%s", id ? id : "");
        snprintf(n->addr, sizeof(n->addr), "%s", addr ? addr : "");
    }
    return 0;
}

static int add_member(void *arg, unsigned long long id, const char *address, int voter,
                      int leader, int self)
{
    struct cdoc *d = arg;
    struct member *m;

    if (d->nmembers < MAX_ITEMS) {
        m = &d->members[d->nmembers++];
        m->id = id;
        snprintf(m->addr, sizeof(m->addr), "%s", address);
        m->voter = voter;
        m->leader = leader;
        m->self = self;
    }
    return 0;
}

/* What the checks read from the state, copied now: the state changes
 * while probes are in flight. */
static void snapshot(struct cdoc *d)
{
    const struct xmpp_state *st;
    struct core_cluster *cl;

    if (!d->c->xmpp)
        return;
    st = core_xmpp_state(d->c->xmpp);
    xmpp_state_domains(st, add_domain, d);
    xmpp_state_components(st, add_comp, d);
    for (int i = 0; i < d->ncomps; i++) {
        const char *s = xmpp_state_component_secret(st, d->comps[i].name);
        snprintf(d->comps[i].secret, sizeof(d->comps[i].secret), "%s", s ? s : "");
    }
    xmpp_state_nodes(st, add_node, d);
    cl = core_xmpp_cluster(d->c->xmpp);
    if (cl)
        core_cluster_members(cl, add_member, d);
}

static void run_done(void *arg, struct cw_doctor *dr)
{
    struct cdoc *d = arg;

    (void)dr;
    cw_doctor_cmd_end(&d->cmd);
    for (int i = 0; i < d->ncomps; i++)
        OPENSSL_cleanse(d->comps[i].secret, sizeof(d->comps[i].secret));
    free(d);
}

/* Every check of a run, in the order the findings are shown. */
static void (*const checks[])(struct cdoc *) = {
    check_srv, check_guest_inside, check_turn, check_components, check_cluster, check_tunnels,
    check_firewall,
};

/* `doctor [json]`: every check at once, the answer when they are done;
 * `doctor count`: how many checks a run makes. */
static int ctl_doctor(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;
    struct cdoc *d = calloc(1, sizeof(*d));
    int rc;

    if (!d) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    rc = cw_doctor_cmd_begin(&d->cmd, c->loop, c->cfg.dns_servers[0] ? c->cfg.dns_servers : NULL,
                             "causeway-core doctor", sizeof(checks) / sizeof(checks[0]), argc,
                             argv, run_done, d, out);
    if (rc) {
        free(d);
        return rc < 0;
    }
    d->c = c;
    snapshot(d);
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        checks[i](d);
    cw_doctor_cmd_go(&d->cmd, c->ctl);
    return 0;
}
void core_doctor_start(struct core *c)
{
    cw_ctl_register(c->ctl, "doctor", ctl_doctor, c);
}
