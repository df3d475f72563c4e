/* main.c - causeway-edge: the DMZ daemon. Reads edge.conf, starts the TURN
 * relay, the SSH tunnel endpoint, the web proxy, the federation gateway and
 * the admin interface, serves the control socket, and stops cleanly on
 * SIGTERM/SIGINT; SIGHUP reopens the logs and reloads what can change
 * without a restart (edge_reload). */
#include "admin/admin.h"
#include "common/addr.h"
#include "common/ctl.h"
#include "edge/edge.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/stream.h"
#include "edge/config.h"
#include "edge/federation.h"
#include "edge/tunnel.h"
#include "turn/turn.h"
#include "webproxy/webproxy.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tunnels' sshd goes last: the proxy's requests in progress run
 * through it. */
static void edge_proxy_drained(void *arg)
{
    struct edge *e = arg;

    if (e->tunnel)
        tunnel_stop(e->tunnel);
    e->tunnel = NULL;
}

static void edge_stop(void *arg, const char *why)
{
    struct edge *e = arg;

    if (e->stopping)
        return;
    e->stopping = 1;
    CW_NOTICE("edge", "stopping: %s", why);
    if (e->turn)
        turn_relay_close(e->turn, NULL, NULL);
    e->turn = NULL;
    edge_federation_stop(e->fed);
    e->fed = NULL;
    /* Requests in progress get a few seconds to finish. */
    if (e->webproxy)
        webproxy_close(e->webproxy, 5000, edge_proxy_drained, e);
    else
        edge_proxy_drained(e);
    e->webproxy = NULL;
    cw_admin_close(e->admin);
    e->admin = NULL;
    cw_status_stop(&e->status);
    cw_ctl_close(e->ctl);
    e->ctl = NULL;
    cw_daemon_signals_close(&e->d);
}

/* The web proxy's certificates, from the files named by the certificate
 * lines of o (read again now, so renewed files are picked up). A host
 * that none covers is the browsers' "Not secure": said for each of hosts'. */
static struct cw_tls_ctx *webproxy_tls(const struct wp_options *o, const struct wp_options *hosts,
                                       char *err, size_t errlen)
{
    struct cw_tls_ctx *t = cw_tls_ctx_create_server_n(o->cert[0], o->key[0], sizeof(o->cert[0]),
                                                      o->ncert, err, errlen);

    if (!t)
        return NULL;
    for (int i = 0; i < hosts->nhost; i++)
        if (!cw_tls_ctx_covers(t, hosts->host[i].name))
            CW_WARN("webproxy", "no certificate covers %s (not among the subjectAltNames of the "
                    "certificate files): browsers will show it as \"Not secure\"; get a "
                    "certificate that names it", hosts->host[i].name);
    return t;
}

/* Whether a tunnel could be behind ss: not a loopback port of this host, or
 * one that cores may hold. A loopback port outside them no core can hold: a
 * typo between the line, permit-listen and the core's edge-port, unless a
 * server on this host listens there (a single box). */
static int forward_possible(const struct edge_config *c, const struct sockaddr_storage *ss)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

    return !c->tunnel.enabled || !c->tunnel.npermit || ss->ss_family != AF_INET ||
           (ntohl(in->sin_addr.s_addr) >> 24) != 127 || edge_config_forward(c, ss);
}

static void check_forwards(const struct edge_config *c)
{
    char a[CW_ADDR_STRLEN];

    for (int i = 0; c->webproxy_enabled && i < c->webproxy.nhost; i++) {
        const struct wp_host *h = &c->webproxy.host[i];

        if (!forward_possible(c, &h->backend))
            CW_WARN("webproxy", "host %s goes to %s, which is none of [tunnel]'s permit-listen "
                    "ports: no core can hold it, so its guests get 502 unless a server on this "
                    "host listens there", h->name,
                    cw_addr_fmt((const struct sockaddr *)&h->backend, a, sizeof(a), 1));
    }
    for (int i = 0; c->fed.enabled && i < c->fed.o.ncore; i++)
        if (!forward_possible(c, &c->fed.o.core[i]))
            CW_WARN("federation", "core %s is none of [tunnel]'s permit-listen ports: no core "
                    "can hold it, so its link never comes up unless a core node on this host "
                    "listens there",
                    cw_addr_fmt((const struct sockaddr *)&c->fed.o.core[i], a, sizeof(a), 1));
}

/* edge.conf read again (allocated: edge_config_drop), or NULL with why in
 * err. */
static struct edge_config *edge_config_reread(const struct edge *e, char *err, size_t errlen)
{
    struct edge_config *c = malloc(sizeof(*c));

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (edge_config_load(c, e->cfg.path, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void edge_config_drop(struct edge_config *c)
{
    edge_config_free(c);
    free(c);
}

/* The certificate lines of from (edge.conf read again: lines added or
 * removed, files renewed) for the running proxy's new connections. */
static int webproxy_reload_certs(struct edge *e, const struct wp_options *from, char *err,
                                 size_t errlen)
{
    struct wp_options *o = &e->cfg.webproxy;
    struct cw_tls_ctx *t = webproxy_tls(from, o, err, errlen);
    unsigned n;

    if (!t)
        return -1;
    n = cw_tls_ctx_cert_count(t);
    memcpy(o->cert, from->cert, sizeof(o->cert));
    memcpy(o->key, from->key, sizeof(o->key));
    o->ncert = from->ncert;
    webproxy_set_tls(e->webproxy, t);
    cw_tls_ctx_destroy(t);      /* the proxy holds its own reference */
    CW_NOTICE("webproxy", "certificates reloaded (%u); new connections use them", n);
    return 0;
}

/* TURN's tls-certificate and tls-key as edge.conf names them now (renewed
 * files, or other files). */
static int turn_reload_tls(struct edge *e, const struct edge_config *from, char *err,
                           size_t errlen)
{
    struct cw_tls_ctx *t = cw_tls_ctx_create_server(from->tls_cert, from->tls_key, err, errlen);

    if (!t)
        return -1;
    turn_relay_set_tls(e->turn, t);
    cw_tls_ctx_destroy(e->tls);     /* connections in TLS hold their own reference */
    e->tls = e->cfg.turn.tls = t;
    memcpy(e->cfg.tls_cert, from->tls_cert, sizeof(e->cfg.tls_cert));
    memcpy(e->cfg.tls_key, from->tls_key, sizeof(e->cfg.tls_key));
    CW_NOTICE("turn", "TLS certificate %s reloaded; new connections use it", e->cfg.tls_cert);
    return 0;
}

/* The federation's certificate lines and trust file as edge.conf has them
 * now, for new streams. */
static int federation_reload_tls(struct edge *e, const struct edge_federation_config *from,
                                 char *err, size_t errlen)
{
    struct edge_federation_config *f = &e->cfg.fed;

    if (edge_federation_reload_tls(e->fed, from, err, errlen) < 0)
        return -1;
    memcpy(f->cert, from->cert, sizeof(f->cert));
    memcpy(f->key, from->key, sizeof(f->key));
    f->ncert = from->ncert;
    memcpy(f->trust, from->trust, sizeof(f->trust));
    return 0;
}

/* The settings of edge.conf that a reload applies; a change to any other
 * waits for a restart (cw_daemon_reload_pending). */
static const char *const edge_live[] = {
    "edge log-level", "turn rest-secret", "turn rest-secret-file", "turn tls-certificate",
    "turn tls-key", "webproxy certificate", "federation certificate", "federation trust", NULL,
};

/* SIGHUP and `reload`: what can change without a restart does (edge_live):
 * the log level, the REST secret, the user database, the certificates
 * (TURN's TLS, the web proxy's and federation's lines with their files,
 * federation's trust store, the admin interface's files; connections
 * already in TLS keep theirs), the web proxy's access log is reopened, and
 * the admin accounts re-read. Any other change is named as waiting for a
 * restart. The number of parts that failed. */
static int edge_reload(void *arg, struct cw_sb *out)
{
    struct edge *e = arg;
    struct edge_config *c;
    char err[1024];
    int users = 0, turn_tls = 0, web = 0, fed = 0, admin = 0, failed = 0, pending;

    if (!(c = edge_config_reread(e, err, sizeof(err)))) {
        cw_daemon_reload_error(out, "edge", "SIGHUP: %s; keeping the running configuration", err);
        return 1;
    }
    cw_log_set_level((enum cw_log_level)c->d.log_level);
    if (e->turn) {
        memcpy(e->cfg.rest_secret, c->rest_secret, sizeof(c->rest_secret));
        e->cfg.rest_secret_len = c->rest_secret_len;
        turn_relay_set_rest_secret(e->turn, e->cfg.rest_secret, e->cfg.rest_secret_len);
        users = turn_relay_reload_users(e->turn, err, sizeof(err)) == 0;
        if (!users) {
            failed++;
            cw_daemon_reload_error(out, "edge", "SIGHUP: TURN users not reloaded: %s", err);
        }
        turn_tls = e->tls && turn_reload_tls(e, c, err, sizeof(err)) == 0;
        if (e->tls && !turn_tls) {
            failed++;
            cw_daemon_reload_error(out, "edge", "SIGHUP: TURN TLS certificate not reloaded: %s; "
                                   "the running one stays in use", err);
        }
    }
    if (e->webproxy) {
        web = webproxy_reload_certs(e, &c->webproxy, err, sizeof(err)) == 0;
        if (!web) {
            failed++;
            cw_daemon_reload_error(out, "edge", "SIGHUP: web proxy certificates not reloaded: "
                                   "%s; the running ones stay in use", err);
        }
        webproxy_reopen_log(e->webproxy);
    }
    fed = e->fed && federation_reload_tls(e, &c->fed, err, sizeof(err)) == 0;
    if (e->fed && !fed) {
        failed++;
        cw_daemon_reload_error(out, "edge", "SIGHUP: federation certificates not reloaded: %s; "
                               "the running ones stay in use", err);
    }
    admin = e->admin && cw_admin_reload(e->admin, err, sizeof(err)) == 0;
    if (e->admin && !admin) {
        failed++;
        cw_daemon_reload_error(out, "edge", "SIGHUP: admin accounts or certificate not "
                               "reloaded: %s", err);
    }
    pending = cw_daemon_reload_pending(&e->d, out, "edge", edge_live, e->status.faults);
    cw_daemon_reload_notice(out, "edge", "SIGHUP: reloaded the log level%s%s%s%s%s from %s "
                            "(%s)",
                            e->turn ? users ? ", REST secret and TURN users" : ", REST secret" : "",
                            turn_tls ? ", TURN TLS certificate" : "",
                            web ? ", web proxy certificates" : "",
                            fed ? ", federation certificates and trust store" : "",
                            admin ? ", admin accounts and certificate" : "", e->cfg.path,
                            cw_daemon_pending_words(pending));
    edge_config_drop(c);
    return failed;
}

/* ---- control commands ----------------------------------------------------- */

static int ctl_turn_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;

    (void)argc;
    (void)argv;
    if (!e->turn) {
        cw_sb_printf(out, "TURN is disabled in %s\n", e->cfg.path);
        return 1;
    }
    turn_relay_status(e->turn, out);
    return 0;
}

static int ctl_turn_list(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;

    (void)argc;
    (void)argv;
    if (!e->turn) {
        cw_sb_printf(out, "TURN is disabled\n");
        return 1;
    }
    turn_relay_list(e->turn, out);
    return 0;
}

static int ctl_turn_reload(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;
    char err[512];

    (void)argc;
    (void)argv;
    if (!e->turn || !e->cfg.user_db[0]) {
        cw_sb_printf(out, "%s\n", !e->turn ? "TURN is disabled" : "no [turn] user-db is configured");
        return 1;
    }
    if (turn_relay_reload_users(e->turn, err, sizeof(err)) < 0) {
        cw_sb_printf(out, "user database not reloaded: %s\n", err);
        return 1;
    }
    cw_sb_printf(out, "user database reloaded\n");
    return 0;
}

static int ctl_tunnel_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;

    (void)argc;
    (void)argv;
    if (!e->tunnel) {
        cw_sb_printf(out, "the SSH tunnel endpoint is not configured (no [tunnel] in %s)\n",
                     e->cfg.path);
        return 1;
    }
    tunnel_status(e->tunnel, out);
    return 0;
}

static int ctl_webproxy_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;

    (void)argc;
    (void)argv;
    if (!e->webproxy) {
        cw_sb_printf(out, "the web proxy is not configured (no [webproxy] in %s)\n", e->cfg.path);
        return 1;
    }
    webproxy_status(e->webproxy, out);
    return 0;
}

static int ctl_webproxy_reload(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;
    struct edge_config *c;
    char err[1024];
    int rc;

    (void)argc;
    (void)argv;
    if (!e->webproxy) {
        cw_sb_printf(out, "the web proxy is not configured\n");
        return 1;
    }
    if (!(c = edge_config_reread(e, err, sizeof(err)))) {
        cw_sb_printf(out, "certificates not reloaded: %s\n", err);
        return 1;
    }
    rc = webproxy_reload_certs(e, &c->webproxy, err, sizeof(err));
    edge_config_drop(c);
    if (rc < 0) {
        cw_sb_printf(out, "certificates not reloaded: %s\n", err);
        return 1;
    }
    cw_sb_printf(out, "certificates reloaded; new connections use them\n");
    return 0;
}

static int ctl_federation_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct edge *e = arg;

    (void)argc;
    (void)argv;
    if (!e->fed) {
        cw_sb_printf(out, "federation is not configured (no [federation] in %s)\n", e->cfg.path);
        return 0;
    }
    edge_federation_status(e->fed, out);
    return 0;
}

/* ---- start-up --------------------------------------------------------------- */

/* What the admin pages and API may run on the edge. */
static const char *const edge_admin_actions[] = {
    "reload", "turn reload-users", "webproxy reload", "admin unlock NAME", NULL,
};

static int edge_admin_start(struct edge *e)
{
    struct cw_admin_opts o = {
        .conf = &e->cfg.admin, .product = "causeway-edge", .report = e->status.report,
        .report_arg = e->status.arg, .stats = e->stats, .ctl = e->ctl,
        .actions = edge_admin_actions,
    };

    return cw_admin_start(e->loop, &o, "edge", e->cfg.path, &e->admin);
}

static int edge_start(struct edge *e)
{
    char err[1024];
    struct edge_config *c = &e->cfg;

    cw_daemon_signals_start(&e->d, e->loop, edge_reload, edge_stop, e);
    if (cw_daemon_log(&e->d, &c->d) < 0)
        return -1;
    cw_daemon_conf_snap(&e->d, NULL);
    e->stats = cw_stats_create();
    e->ctl = cw_ctl_create(e->loop, c->d.control_socket, err, sizeof(err));
    if (!e->ctl) {
        CW_ERROR("edge", "%s", err);
        return -1;
    }
    cw_ctl_register(e->ctl, "turn status", ctl_turn_status, e);
    cw_ctl_register(e->ctl, "turn list", ctl_turn_list, e);
    cw_ctl_register(e->ctl, "turn reload-users", ctl_turn_reload, e);
    cw_ctl_register(e->ctl, "tunnel status", ctl_tunnel_status, e);
    cw_ctl_register(e->ctl, "webproxy status", ctl_webproxy_status, e);
    cw_ctl_register(e->ctl, "webproxy reload", ctl_webproxy_reload, e);
    cw_ctl_register(e->ctl, "xmpp federation status", ctl_federation_status, e);
    cw_ctl_register(e->ctl, "version", cw_daemon_ctl_version, &e->d);
    cw_ctl_register(e->ctl, "reload", cw_daemon_ctl_reload, &e->d);
    edge_doctor_start(e);
    if (edge_status_start(e) < 0) {
        CW_ERROR("edge", "out of memory");
        return -1;
    }
    if (edge_admin_start(e) < 0)
        return -1;
    if (c->turn_enabled) {
        if (c->turn.ntls_listen) {
            e->tls = cw_tls_ctx_create_server(c->tls_cert, c->tls_key, err, sizeof(err));
            if (!e->tls) {
                CW_ERROR("edge", "TURN TLS: %s", err);
                return -1;
            }
            c->turn.tls = e->tls;
        }
        for (int i = 0; i < c->turn.nlisten; i++) {
            const struct sockaddr_storage *l = &c->turn.listen[i];
            int any = l->ss_family == AF_INET
                          ? ((const struct sockaddr_in *)l)->sin_addr.s_addr == 0
                          : IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)l)->sin6_addr);
            if (any)
                CW_WARN("edge", "TURN listen on a wildcard address: on a two-NIC edge answers "
                                "may leave from the other NIC's address; list each NIC's address");
        }
        if (c->unsafe_loopback)
            CW_WARN("edge", "unsafe-allow-loopback-peers is on: TURN users can reach services "
                            "on this host's loopback; use only for demos and benchmarks");
        e->turn = turn_relay_create(e->loop, &c->turn, e->stats, err, sizeof(err));
        if (!e->turn) {
            CW_ERROR("edge", "TURN not started: %s", err);
            return -1;
        }
    }
    if (c->tunnel.enabled) {
        e->tunnel = tunnel_start(e->loop, &c->tunnel, err, sizeof(err));
        if (!e->tunnel) {
            CW_ERROR("edge", "SSH tunnel endpoint not started: %s", err);
            return -1;
        }
    }
    check_forwards(c);
    if (c->webproxy_enabled) {
        struct cw_tls_ctx *t = webproxy_tls(&c->webproxy, &c->webproxy, err, sizeof(err));

        if (!t) {
            CW_ERROR("edge", "web proxy TLS: %s", err);
            return -1;
        }
        c->webproxy.io_uring = c->d.io_uring;
        e->webproxy = webproxy_create(e->loop, &c->webproxy, t, err, sizeof(err));
        cw_tls_ctx_destroy(t);
        if (!e->webproxy) {
            CW_ERROR("edge", "web proxy not started: %s", err);
            return -1;
        }
        webproxy_register_stats(e->webproxy, e->stats);
    }
    if (c->fed.enabled) {
        e->fed = edge_federation_start(e->loop, &c->fed, err, sizeof(err));
        if (!e->fed) {
            CW_ERROR("edge", "federation gateway not started: %s", err);
            return -1;
        }
    }
    CW_NOTICE("edge", "causeway-edge %s started (config %s, control %s)", EDGE_VERSION, c->path,
              c->d.control_socket);
    return 0;
}

int main(int argc, char **argv)
{
    struct edge e;
    char err[1024];
    int rc;
    struct rlimit rl;

    memset(&e, 0, sizeof(e));
    e.d = (struct cw_daemon){ .name = "causeway-edge", .version = EDGE_VERSION,
                              .conf = EDGE_CONF_DEFAULT };
    rc = cw_daemon_args(&e.d, argc, argv);
    if (rc >= 0)
        return rc;
    if (edge_config_load(&e.cfg, e.d.conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway-edge: %s\n", err);
        return 1;
    }
    if (e.d.check) {
        check_forwards(&e.cfg);
        printf("causeway-edge: %s is valid\n", e.d.conf);
        edge_config_free(&e.cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A capability systemd gave us as ambient (CAP_NET_BIND_SERVICE, for 443)
     * stays ours, but the programs we run (sshd, ssh-keygen) must not get it. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    /* One relay socket per allocation: raise the descriptor limit. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    e.loop = uv_default_loop();
    rc = edge_start(&e);
    if (rc < 0)
        edge_stop(&e, "start-up failed");
    uv_run(e.loop, UV_RUN_DEFAULT);
    uv_loop_close(e.loop);
    if (e.tls)
        cw_tls_ctx_destroy(e.tls);
    cw_daemon_conf_snap_free(&e.d);
    cw_stats_destroy(e.stats);
    cw_status_free(&e.status);
    edge_config_free(&e.cfg);
    if (rc == 0)
        CW_NOTICE("edge", "stopped");
    return rc < 0 ? 1 : 0;
}
