/* doctor.c - `causeway doctor` on the edge: the faults operators hit in the
 * DMZ (certificates, the guest URI and the SRV records in the external DNS,
 * cores on the tunnel, listeners), each checked against edge.conf, the
 * external DNS and the live state, with the fix. */
#include "edge/edge.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/ctl.h"
#include "common/dns.h"
#include "common/doctor.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/stream.h"
#include "edge/federation.h"
#include "edge/tunnel.h"

#define MAX_DOMAINS 32

struct edoc {
    struct edge *e;
    struct cw_doctor_cmd cmd;           /* the run, its resolver, the answer owed */
    char dns_text[600];                 /* which servers, for the findings */
    /* The edge's own addresses: its interfaces and the public address. */
    struct sockaddr_storage own[64];
    int nown;
    char domains[MAX_DOMAINS][256];
    int ndomains;
    int domains_from_link;
};

/* ---- helpers ------------------------------------------------------------------ */

static int is_any(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == 0;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void own_addrs(struct edoc *d)
{
    uv_interface_address_t *ifs;
    int n;
    const struct turn_options *t = &d->e->cfg.turn;

    if (uv_interface_addresses(&ifs, &n) == 0) {
        for (int i = 0; i < n && d->nown < 62; i++)
            memcpy(&d->own[d->nown++], &ifs[i].address, sizeof(ifs[i].address));
        uv_free_interface_addresses(ifs, n);
    }
    if (t->has_public4)
        d->own[d->nown++] = t->public4;
    if (t->has_public6)
        d->own[d->nown++] = t->public6;
}

static int is_own(const struct edoc *d, const struct sockaddr *a)
{
    for (int i = 0; i < d->nown; i++)
        if (cw_addr_equal((const struct sockaddr *)&d->own[i], a, 0))
            return 1;
    return 0;
}

/* 1 when a is the NAT's public address rather than one of our interfaces. */
static int is_public(const struct edoc *d, const struct sockaddr *a)
{
    const struct turn_options *t = &d->e->cfg.turn;

    return (t->has_public4 && cw_addr_equal((const struct sockaddr *)&t->public4, a, 0)) ||
           (t->has_public6 && cw_addr_equal((const struct sockaddr *)&t->public6, a, 0));
}

/* The external addresses to name in a fix: the public address, else the
 * first listen address of the web proxy, federation or TURN. */
static const char *ext_addr(const struct edoc *d, char *buf, size_t len)
{
    const struct edge_config *c = &d->e->cfg;
    const struct sockaddr *a = NULL;

    if (c->turn.has_public4)
        a = (const struct sockaddr *)&c->turn.public4;
    else if (c->webproxy_enabled && c->webproxy.nlisten)
        a = (const struct sockaddr *)&c->webproxy.listen[0];
    else if (c->fed.enabled && c->fed.o.nlisten)
        a = (const struct sockaddr *)&c->fed.o.listen[0];
    else if (c->turn_enabled && c->turn.has_relay4)
        a = (const struct sockaddr *)&c->turn.relay4;
    if (!a)
        return "the edge's external address";
    return cw_addr_fmt(a, buf, len, 0);
}

/* ---- certificates ------------------------------------------------------------- */

static void cert_expiry(struct cw_doctor_check *ck, const char *what, const char *file,
                        const struct cw_tls_ctx *t, unsigned i)
{
    char sans[512], when[32];
    time_t end;
    struct tm tm;
    long days;

    if (cw_tls_ctx_cert_info(t, i, sans, sizeof(sans), &end) < 0)
        return;
    gmtime_r(&end, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    days = (long)((end - time(NULL)) / 86400);
    if (end <= time(NULL))
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "renew the certificate and reload the edge "
                       "(`systemctl reload causeway-edge`, or SIGHUP); browsers, TURN clients "
                       "and foreign servers refuse an expired one",
                       "%s certificate %s (%s) expired on %s", what, file, sans, when);
    else if (days < CW_CERT_WARN_DAYS)
        cw_doctor_addf(ck, CW_DOCTOR_WARN, "renew it now and reload the edge (`systemctl reload "
                       "causeway-edge`, or SIGHUP); when it expires browsers show \"Not secure\", "
                       "TURN clients refuse TLS and federation peers refuse the stream",
                       "%s certificate %s (%s) expires on %s, in %ld days", what, file, sans,
                       when, days);
    else
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s certificate %s (%s) valid until %s", what,
                       file, sans, when);
}

static void check_certificates(struct edoc *d)
{
    const struct edge_config *c = &d->e->cfg;
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "certificates");
    struct cw_tls_ctx *t = NULL;
    int turn_tls = c->turn_enabled && c->turn.ntls_listen;
    char err[1024];

    if (!ck)
        return;
    if (!c->webproxy_enabled && !c->fed.enabled && !turn_tls) {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [webproxy], no [federation] and no TURN "
                      "tls-listen in edge.conf: no certificate to check", NULL);
        goto out;
    }
    if (turn_tls) {
        t = cw_tls_ctx_create_server(c->tls_cert, c->tls_key, err, sizeof(err));
        if (t)
            cert_expiry(ck, "TURN TLS", c->tls_cert, t, 0);
        else
            cw_doctor_addf(ck, CW_DOCTOR_FAIL, "fix [turn] tls-certificate and tls-key (chain "
                           "and key PEM files that match)", "TURN TLS certificate: %s", err);
        cw_tls_ctx_destroy(t);
        t = NULL;
    }
    if (c->webproxy_enabled) {
        const struct wp_options *o = &c->webproxy;
        t = cw_tls_ctx_create_server_n(o->cert[0], o->key[0], sizeof(o->cert[0]), o->ncert, err,
                                       sizeof(err));
        if (!t) {
            cw_doctor_addf(ck, CW_DOCTOR_FAIL, "fix the [webproxy] certificate lines (chain "
                           "and key PEM files that match)", "web proxy certificates: %s", err);
        }
        for (int i = 0; t && i < o->nhost; i++) {
            if (cw_tls_ctx_covers(t, o->host[i].name))
                cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "guest host %s is covered by a web proxy "
                               "certificate", o->host[i].name);
            else
                cw_doctor_addf(ck, CW_DOCTOR_FAIL, "get a certificate whose subjectAltName "
                               "lists this name (or add one to [webproxy] certificate), then "
                               "`causeway webproxy reload`; until then browsers say \"Not "
                               "secure\" (the certificate is for another name)",
                               "no web proxy certificate names guest host %s in its "
                               "subjectAltNames (browsers show \"Not secure\")", o->host[i].name);
        }
        for (unsigned i = 0; t && i < cw_tls_ctx_cert_count(t); i++)
            cert_expiry(ck, "web proxy", o->cert[i], t, i);
        cw_tls_ctx_destroy(t);
        t = NULL;
    }
    if (c->fed.enabled) {
        const struct edge_federation_config *f = &c->fed;
        t = cw_tls_ctx_create_server_n(f->cert[0], f->key[0], sizeof(f->cert[0]), f->ncert, err,
                                       sizeof(err));
        if (!t)
            cw_doctor_addf(ck, CW_DOCTOR_FAIL, "fix the [federation] certificate lines",
                           "federation certificates: %s", err);
        for (int i = 0; t && i < d->ndomains; i++) {
            if (cw_tls_ctx_covers(t, d->domains[i]))
                cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "XMPP domain %s is covered by a "
                               "federation certificate", d->domains[i]);
            else
                cw_doctor_addf(ck, CW_DOCTOR_FAIL, "add a [federation] certificate for this "
                               "domain and restart the edge; foreign servers that require a "
                               "valid certificate refuse the stream",
                               "no federation certificate names XMPP domain %s", d->domains[i]);
        }
        if (t && !d->ndomains)
            cw_doctor_add(ck, CW_DOCTOR_WARN, "no core is linked, so the XMPP domains are "
                          "unknown here: see the tunnels check", "federation: no domain list "
                          "from a core to compare the certificates with");
        for (unsigned i = 0; t && i < cw_tls_ctx_cert_count(t); i++)
            cert_expiry(ck, "federation", f->cert[i], t, i);
        cw_tls_ctx_destroy(t);
    }
out:
    cw_doctor_check_put(ck);
}

/* ---- guest-uri.outside ---------------------------------------------------------- */

struct host_q {
    struct edoc *d;
    struct cw_doctor_check *ck;
    char host[256];
};

static void host_resolved(void *arg, int status, const struct cw_dns_result *r)
{
    struct host_q *q = arg;
    struct edoc *d = q->d;
    char list[512], ext[CW_ADDR_STRLEN], fix[1400];
    int own = 0;

    ext_addr(d, ext, sizeof(ext));
    if (status != CW_DNS_OK) {
        snprintf(fix, sizeof(fix), "add \"%s. A %s\" to the external DNS (the zone guests' "
                 "browsers use); without it guests cannot open the meeting link", q->host, ext);
        cw_doctor_addf(q->ck, CW_DOCTOR_FAIL, fix, "guest host %s does not resolve in the "
                       "external DNS (%s): %s", q->host, d->dns_text, cw_dns_strerror(status));
        goto out;
    }
    cw_dns_result_text(r, 0, list, sizeof(list));
    for (int i = 0; i < r->n; i++)
        own |= is_own(d, (const struct sockaddr *)&r->addr[i]);
    if (own) {
        cw_doctor_addf(q->ck, CW_DOCTOR_OK, NULL, "guest host %s resolves in the external DNS "
                       "to %s (this edge)", q->host, list);
    } else {
        snprintf(fix, sizeof(fix), "point %s at the edge's external address %s in the external "
                 "DNS; guests who reach another server (the webbridge's inside address, say) get "
                 "\"Bad Request\" or no answer", q->host, ext);
        cw_doctor_addf(q->ck, CW_DOCTOR_FAIL, fix, "guest host %s resolves in the external DNS "
                       "(%s) to %s, which is not this edge", q->host, d->dns_text, list);
    }
out:
    cw_doctor_check_put(q->ck);
    free(q);
}

static void check_guest_outside(struct edoc *d)
{
    const struct edge_config *c = &d->e->cfg;
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "guest-uri.outside");

    if (!ck)
        return;
    if (!c->webproxy_enabled || !c->webproxy.nhost)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [webproxy] host in edge.conf", NULL);
    for (int i = 0; c->webproxy_enabled && i < c->webproxy.nhost; i++) {
        const char *h = c->webproxy.host[i].name;
        struct sockaddr_storage lit;
        struct host_q *q;

        if (cw_addr_parse(h, 443, &lit) == 0) {
            cw_doctor_addf(ck, is_own(d, (struct sockaddr *)&lit) ? CW_DOCTOR_OK : CW_DOCTOR_WARN,
                           "use a DNS name for guests, pointing at this edge",
                           "guest host %s is an address literal", h);
            continue;
        }
        if (!(q = calloc(1, sizeof(*q))))
            continue;
        q->d = d;
        q->ck = cw_doctor_check_hold(ck);
        snprintf(q->host, sizeof(q->host), "%s", h);
        if (!cw_dns_resolve(d->cmd.dns, h, 443, host_resolved, q)) {
            cw_doctor_addf(ck, CW_DOCTOR_FAIL, "fix the host line in [webproxy]",
                           "guest host %s cannot be looked up (not a valid name)", h);
            cw_doctor_check_put(q->ck);
            free(q);
        }
    }
    cw_doctor_check_put(ck);
}

/* ---- dns.srv: the federation's records in the external DNS ------------------------- */

struct srv_q {
    struct edoc *d;
    struct cw_doctor_check *ck;
    char name[300];                     /* _xmpp-server._tcp.example.com */
    char target[256];
    uint16_t port;
    int direct_tls;
    struct sockaddr_storage probe;      /* where the live test connects */
    char seen[1400];
};

static int listens_on(const struct edoc *d, int direct_tls, uint16_t port,
                      struct sockaddr_storage *where)
{
    const struct s2s_opts *o = &d->e->cfg.fed.o;
    int n = direct_tls ? o->ntls_listen : o->nlisten;
    const struct sockaddr_storage *l = direct_tls ? o->tls_listen : o->listen;

    for (int i = 0; i < n; i++)
        if (cw_addr_port((const struct sockaddr *)&l[i]) == port) {
            *where = l[i];
            return 1;
        }
    return 0;
}

static void srv_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    struct srv_q *q = arg;

    if (status == 0)
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s", q->seen);
    else
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "start the federation listener on that port "
                       "([federation] listen / tls-listen) or correct the record's port",
                       "%s, but a connection to it failed: %s", q->seen, cw_doctor_strerror(status));
    free(q);
}

static void srv_target_resolved(void *arg, int status, const struct cw_dns_result *r)
{
    struct srv_q *q = arg;
    struct edoc *d = q->d;
    struct cw_doctor_check *ck = q->ck;
    char list[512], ext[CW_ADDR_STRLEN], fix[1400];
    struct sockaddr_storage where;
    const struct sockaddr *hit = NULL;

    ext_addr(d, ext, sizeof(ext));
    if (status != CW_DNS_OK) {
        snprintf(fix, sizeof(fix), "add \"%s. A %s\" to the external DNS", q->target, ext);
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "%s points at %s:%u, which does not resolve: %s",
                       q->name, q->target, q->port, cw_dns_strerror(status));
        goto out;
    }
    cw_dns_result_text(r, 0, list, sizeof(list));
    for (int i = 0; i < r->n && !hit; i++)
        if (is_own(d, (const struct sockaddr *)&r->addr[i]))
            hit = (const struct sockaddr *)&r->addr[i];
    if (!hit) {
        snprintf(fix, sizeof(fix), "point %s (or the record) at this edge's external address "
                 "%s: foreign servers connect to what the record names", q->target, ext);
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "%s points at %s:%u = %s, which is not this edge",
                       q->name, q->target, q->port, list);
        goto out;
    }
    if (!listens_on(d, q->direct_tls, q->port, &where)) {
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "make the record's port the one in [federation] "
                       "listen (5269) or tls-listen (5270 for _xmpps-server)",
                       "%s points at %s:%u, a port this edge's federation does not listen on "
                       "for %s", q->name, q->target, q->port,
                       q->direct_tls ? "direct TLS" : "STARTTLS");
        goto out;
    }
    /* Behind a static NAT the public address is not ours to connect to:
     * the live test goes to the listener itself. */
    if (is_public(d, hit))
        q->probe = where;
    else
        memcpy(&q->probe, hit, cw_addr_len(hit));
    if (is_any((struct sockaddr *)&q->probe))
        cw_addr_parse(q->probe.ss_family == AF_INET6 ? "::1" : "127.0.0.1", q->port, &q->probe);
    cw_addr_set_port((struct sockaddr *)&q->probe, q->port);
    snprintf(q->seen, sizeof(q->seen), "%s -> %s:%u (%s, this edge) answers", q->name, q->target,
             q->port, list);
    if (cw_doctor_probe_tcp(ck, (struct sockaddr *)&q->probe, 0, srv_probed, q) == 0) {
        q = NULL;   /* transferred */
    }
out:
    cw_doctor_check_put(ck);
    free(q);
}

struct srv_lookup {
    struct edoc *d;
    struct cw_doctor_check *ck;
    char name[300], domain[256];
    int direct_tls;
};

static void srv_answered(void *arg, int status, const struct cw_dns_srv_result *r)
{
    struct srv_lookup *l = arg;
    struct edoc *d = l->d;
    char ext[CW_ADDR_STRLEN], fix[1400];
    uint16_t port = l->direct_tls ? 5270 : 5269;

    if (status != CW_DNS_OK) {
        if (l->direct_tls ? d->e->cfg.fed.o.ntls_listen : d->e->cfg.fed.o.nlisten)
            port = cw_addr_port((const struct sockaddr *)(l->direct_tls
                                ? &d->e->cfg.fed.o.tls_listen[0] : &d->e->cfg.fed.o.listen[0]));
        snprintf(fix, sizeof(fix), "add to the external DNS: \"%s. SRV 0 0 %u edge.%s.\" and "
                 "\"edge.%s. A %s\" (any name of the edge will do); foreign servers then find "
                 "this edge", l->name, port, l->domain, l->domain, ext_addr(d, ext, sizeof(ext)));
        cw_doctor_addf(l->ck, CW_DOCTOR_FAIL, fix, "%s: no SRV record in the external DNS (%s): %s",
                       l->name, d->dns_text, cw_dns_strerror(status));
        goto out;
    }
    for (int i = 0; i < r->n && i < 8; i++) {
        struct srv_q *q = calloc(1, sizeof(*q));
        if (!q)
            break;
        q->d = d;
        q->ck = cw_doctor_check_hold(l->ck);
        snprintf(q->name, sizeof(q->name), "%s", l->name);
        snprintf(q->target, sizeof(q->target), "%s", r->srv[i].target);
        q->port = r->srv[i].port;
        q->direct_tls = l->direct_tls;
        if (!cw_dns_resolve(d->cmd.dns, q->target, q->port, srv_target_resolved, q)) {
            cw_doctor_addf(l->ck, CW_DOCTOR_FAIL, "fix the SRV record's target",
                           "%s points at \"%s\", not a host name", l->name, q->target);
            cw_doctor_check_put(q->ck);
            free(q);
        }
    }
out:
    cw_doctor_check_put(l->ck);
    free(l);
}

static void srv_ask(struct edoc *d, struct cw_doctor_check *ck, const char *service,
                    const char *domain, int direct_tls)
{
    struct srv_lookup *l = calloc(1, sizeof(*l));

    if (!l)
        return;
    l->d = d;
    l->ck = cw_doctor_check_hold(ck);
    l->direct_tls = direct_tls;
    snprintf(l->domain, sizeof(l->domain), "%s", domain);
    snprintf(l->name, sizeof(l->name), "%s.%s", service, domain);
    if (!cw_dns_srv(d->cmd.dns, l->name, srv_answered, l)) {
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "fix the domain name", "%s cannot be looked up",
                       l->name);
        cw_doctor_check_put(l->ck);
        free(l);
    }
}

static void check_srv(struct edoc *d)
{
    const struct edge_config *c = &d->e->cfg;
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "dns.srv");

    if (!ck)
        return;
    if (!c->fed.enabled)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [federation] in edge.conf", NULL);
    else if (!d->ndomains)
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no core is linked to the federation gateway, so the "
                      "XMPP domains are not known here (see the tunnels check)", NULL);
    for (int i = 0; c->fed.enabled && i < d->ndomains; i++) {
        srv_ask(d, ck, "_xmpp-server._tcp", d->domains[i], 0);
        if (c->fed.o.ntls_listen)
            srv_ask(d, ck, "_xmpps-server._tcp", d->domains[i], 1);
    }
    cw_doctor_check_put(ck);
}

/* ---- tunnels: cores connected to the sshd ------------------------------------------ */

/* Sockets in /proc/net/tcp{,6} in state (1 ESTABLISHED, 10 LISTEN) whose
 * local address and port are a's: the kernel's view, so it holds whatever
 * process owns them (sshd's children hold the cores' connections). */
static unsigned proc_tcp_count(const struct sockaddr *a, int state)
{
    static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    char want[64];
    unsigned n = 0;

    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        snprintf(want, sizeof(want), "%08X:%04X", (unsigned)in->sin_addr.s_addr,
                 ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        uint32_t w[4];
        memcpy(w, &in6->sin6_addr, sizeof(w));
        snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", (unsigned)w[0], (unsigned)w[1],
                 (unsigned)w[2], (unsigned)w[3], ntohs(in6->sin6_port));
    }
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        char line[512], local[64];
        unsigned st;

        if (!fp)
            continue;
        while (fgets(line, sizeof(line), fp))
            if (sscanf(line, " %*d: %63s %*s %X", local, &st) == 2 && (int)st == state &&
                strcmp(local, want) == 0)
                n++;
        fclose(fp);
    }
    return n;
}

static void check_tunnels(struct edoc *d)
{
    const struct edge_config *c = &d->e->cfg;
    const struct edge_tunnel_config *t = &c->tunnel;
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "tunnels");
    char a[CW_ADDR_STRLEN], what[512], fix[800];
    unsigned conns = 0, held = 0;

    if (!ck)
        return;
    if (!t->enabled || !t->nlisten) {
        cw_doctor_add(ck, CW_DOCTOR_SKIP, "no [tunnel] in edge.conf: no core reaches this edge",
                      NULL);
        goto out;
    }
    if (!tunnel_account_usable(t, what, sizeof(what), fix, sizeof(fix)))
        cw_doctor_add(ck, CW_DOCTOR_FAIL, what, fix);
    for (int i = 0; i < t->nlisten; i++)
        conns += proc_tcp_count((const struct sockaddr *)&t->listen[i], 1);
    for (int p = 0; p < t->npermit; p++) {
        struct sockaddr_storage lo;
        cw_addr_parse("127.0.0.1", t->permit[p], &lo);
        if (proc_tcp_count((struct sockaddr *)&lo, 10))
            held++;
        else
            cw_doctor_addf(ck, t->npermit > 1 ? CW_DOCTOR_WARN : CW_DOCTOR_FAIL,
                           "on the core whose [tunnel] has edge-port = this port: `causeway "
                           "tunnel status`; guests of the host that uses this port get 502 until "
                           "a core holds it",
                           "no core holds the forward 127.0.0.1:%u (permit-listen)", t->permit[p]);
    }
    cw_addr_fmt((const struct sockaddr *)&t->listen[0], a, sizeof(a), 1);
    if (conns) {
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%u SSH connection%s from cores on %s; %u of %d "
                       "permitted forwards held", conns, conns == 1 ? "" : "s", a, held,
                       t->npermit);
    } else {
        snprintf(fix, sizeof(fix), "on the core: `causeway tunnel status` says why; check its "
                 "[tunnel] edge = %s, host-key and user (pairing: `causeway tunnel pair` there, "
                 "`causeway tunnel trust` here), and that the firewall lets the inside open TCP "
                 "to %s (inside -> DMZ)", a, a);
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, fix, "no core is connected to the tunnel's sshd on %s",
                       a);
    }
out:
    cw_doctor_check_put(ck);
}

/* ---- listeners ---------------------------------------------------------------------- */

struct lst_q {
    char what[64];
    char addr[CW_ADDR_STRLEN];
};

static void lst_probed(struct cw_doctor_check *ck, void *arg, int status)
{
    struct lst_q *q = arg;

    if (status == 0)
        cw_doctor_addf(ck, CW_DOCTOR_OK, NULL, "%s on %s answers here", q->what, q->addr);
    else
        cw_doctor_addf(ck, CW_DOCTOR_FAIL, "see the edge's log for why the listener is not up "
                       "(address not on this host? port taken?) and restart the edge",
                       "%s on %s does not answer: %s", q->what, q->addr,
                       cw_doctor_strerror(status));
    free(q);
}

static void probe_listener(struct cw_doctor_check *ck, const char *what,
                           const struct sockaddr_storage *l, int udp)
{
    struct lst_q *q = calloc(1, sizeof(*q));
    struct sockaddr_storage a = *l;
    int rc;

    if (!q)
        return;
    if (is_any((struct sockaddr *)&a))
        cw_addr_parse(a.ss_family == AF_INET6 ? "::1" : "127.0.0.1",
                      cw_addr_port((struct sockaddr *)l), &a);
    snprintf(q->what, sizeof(q->what), "%s", what);
    cw_addr_fmt((struct sockaddr *)&a, q->addr, sizeof(q->addr), 1);
    rc = udp ? cw_doctor_probe_stun(ck, (struct sockaddr *)&a, 0, lst_probed, q)
             : cw_doctor_probe_tcp(ck, (struct sockaddr *)&a, 0, lst_probed, q);
    if (rc < 0)
        free(q);
}

static void check_listeners(struct edoc *d)
{
    const struct edge_config *c = &d->e->cfg;
    struct cw_doctor_check *ck = cw_doctor_check_begin(d->cmd.dr, "listeners");

    if (!ck)
        return;
    for (int i = 0; c->turn_enabled && i < c->turn.nlisten; i++) {
        probe_listener(ck, "TURN (UDP, STUN Binding)", &c->turn.listen[i], 1);
        probe_listener(ck, "TURN (TCP)", &c->turn.listen[i], 0);
    }
    for (int i = 0; c->turn_enabled && i < c->turn.ntls_listen; i++)
        probe_listener(ck, "TURN (TLS)", &c->turn.tls_listen[i], 0);
    for (int i = 0; c->webproxy_enabled && i < c->webproxy.nlisten; i++)
        probe_listener(ck, "web proxy (HTTPS)", &c->webproxy.listen[i], 0);
    for (int i = 0; c->webproxy_enabled && i < c->webproxy.nhttp_listen; i++)
        probe_listener(ck, "web proxy (HTTP redirect)", &c->webproxy.http_listen[i], 0);
    for (int i = 0; c->fed.enabled && i < c->fed.o.nlisten; i++)
        probe_listener(ck, "federation (STARTTLS)", &c->fed.o.listen[i], 0);
    for (int i = 0; c->fed.enabled && i < c->fed.o.ntls_listen; i++)
        probe_listener(ck, "federation (direct TLS)", &c->fed.o.tls_listen[i], 0);
    /* What we cannot see from here. */
    cw_doctor_add(ck, CW_DOCTOR_SKIP, "these tests ran on the edge itself: the firewall in front "
                  "of it is not crossed", "from a host on the internet, test TCP 443 and 5269 "
                  "and UDP+TCP 3478 to the public address, and the relay ports (UDP 24000-29999 "
                  "by default)");
    cw_doctor_check_put(ck);
}

/* ---- the run ---------------------------------------------------------------------- */

static int add_domain(void *arg, const char *domain)
{
    struct edoc *d = arg;

    if (d->ndomains < MAX_DOMAINS)
        snprintf(d->domains[d->ndomains++], sizeof(d->domains[0]), "%s", domain);
    return 0;
}

static void run_done(void *arg, struct cw_doctor *dr)
{
    struct edoc *d = arg;

    (void)dr;
    cw_doctor_cmd_end(&d->cmd);
    free(d);
}

/* Every check of a run, in the order the findings are shown. */
static void (*const checks[])(struct edoc *) = {
    check_certificates, check_guest_outside, check_srv, check_tunnels, check_listeners,
};

/* `doctor [json]`: every check at once, the answer when they are done;
 * `doctor count`: how many checks a run makes. */
static int ctl_doctor(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;
    struct edoc *d = calloc(1, sizeof(*d));
    int rc;

    if (!d) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    rc = cw_doctor_cmd_begin(&d->cmd, e->loop, e->cfg.fed.dns[0] ? e->cfg.fed.dns : NULL,
                             "causeway-edge doctor", sizeof(checks) / sizeof(checks[0]), argc,
                             argv, run_done, d, out);
    if (rc) {
        free(d);
        return rc < 0;
    }
    d->e = e;
    snprintf(d->dns_text, sizeof(d->dns_text), "%s",
             e->cfg.fed.dns[0] ? e->cfg.fed.dns : "the servers of /etc/resolv.conf");
    own_addrs(d);
    if (e->fed)
        edge_federation_domains(e->fed, add_domain, d);
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        checks[i](d);
    cw_doctor_cmd_go(&d->cmd, e->ctl);
    return 0;
}
void edge_doctor_start(struct edge *e)
{
    cw_ctl_register(e->ctl, "doctor", ctl_doctor, e);
}
