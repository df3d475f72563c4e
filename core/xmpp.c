/* xmpp.c - causeway-core's XMPP service: the shared state and its file, the
 * TLS certificates, the federation link key, the listeners, and the
 * `causeway xmpp ...` commands. */
#include "core/xmpp.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/report.h"
#include "common/stream.h"
#include "core/cluster.h"
#include "core/xmpp_import.h"
#include "core/xmpp_store.h"
#include "xmpp/fedlink.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"
#include "xmpp/state.h"
#include "xmpp/xmpp.h"

#define SECRET_BYTES 24
#define RETRY_MS 50
#define QUEUE_MAX 100000

/* A change the service made (a session, a roster item), waiting for the
 * cluster: they go one after another in the order they were made, and one
 * that could not get into the log is tried again until it does. */
struct write {
    struct write *next;
    char cmd[];
};

struct core_xmpp {
    const struct core_config *cfg;
    struct cw_ctl *ctl;
    struct core_cluster *cl;    /* NULL: a standalone node with its state file */
    struct xmpp_state *st;
    struct xmpp_server *srv;
    struct cw_tls_ctx *tls;
    unsigned char link_key[FEDLINK_KEY_MAX];    /* [xmpp] link-key-file's bytes */
    size_t link_key_len;
    struct core_store *store;   /* standalone: the state file and its journal */
    struct core_import *import; /* cluster: `xmpp cluster import` running */
    struct write *q, **qtail;   /* cluster: the service's writes, in order */
    unsigned qlen;
    int inflight;
    uv_timer_t retry;
    uv_loop_t *loop;
    struct xmpp_server_opts o;  /* for `xmpp enable` after a disable */
    char disabled_path[1100];   /* exists while this node's service is off */
    int stopping;               /* late callbacks (the cluster closing) do nothing */
};

/* ---- the state file ----------------------------------------------------------- */

static int state_load(struct core_xmpp *x)
{
    char err[512], clear[128];

    if (core_store_load(x->store, x->st) < 0)
        return -1;
    /* This node's sessions ended with its last run. */
    snprintf(clear, sizeof(clear), "session-clear %s", x->cfg->name);
    xmpp_state_apply(x->st, clear, err, sizeof(err));
    core_store_begin(x->store, x->st);
    return 0;
}

static void queue_kick(struct core_xmpp *x);

static void retry_cb(uv_timer_t *t)
{
    queue_kick(t->data);
}

static void queue_done(void *arg, int rc, const char *msg)
{
    struct core_xmpp *x = arg;
    struct write *w = x->q;

    x->inflight = 0;
    if (!w || x->stopping)
        return;
    if (rc == CLUSTER_EAGAIN) {
        /* Not in the log: the same change again, soon (a new leader). */
        uv_timer_start(&x->retry, retry_cb, RETRY_MS, 0);
        return;
    }
    if (rc < 0)
        CW_INFO("xmpp", "the shared state refused %.*s: %s", (int)strcspn(w->cmd, " "), w->cmd, msg);
    x->q = w->next;
    if (!x->q)
        x->qtail = &x->q;
    x->qlen--;
    free(w);
    queue_kick(x);
}

static void queue_kick(struct core_xmpp *x)
{
    const char *msg;

    if (x->inflight || !x->q || !x->cl)
        return;
    x->inflight = 1;
    if (core_cluster_propose(x->cl, x->q->cmd, queue_done, x, &msg) < 0) {
        x->inflight = 0;
        if (!uv_is_active((uv_handle_t *)&x->retry))
            uv_timer_start(&x->retry, retry_cb, RETRY_MS, 0);
    }
}

/* The service's own changes (sessions, rosters). A standalone node applies
 * them at once and saves; a cluster node queues them for the leader. */
static int propose(void *arg, const char *cmd)
{
    struct core_xmpp *x = arg;
    struct write *w;
    char err[512];

    if (x->cl) {
        if (x->qlen >= QUEUE_MAX || !(w = malloc(sizeof(*w) + strlen(cmd) + 1))) {
            CW_WARN("xmpp", "cannot queue a change to the shared state: %u waiting (no leader "
                    "for long? see `causeway xmpp cluster status`)", x->qlen);
            return -1;
        }
        w->next = NULL;
        strcpy(w->cmd, cmd);
        *x->qtail = w;
        x->qtail = &w->next;
        x->qlen++;
        queue_kick(x);
        return 0;
    }
    if (xmpp_state_apply(x->st, cmd, err, sizeof(err)) < 0) {
        CW_WARN("xmpp", "state change refused: %s", err);
        return -1;
    }
    if (x->srv)
        xmpp_server_applied(x->srv, cmd);
    core_store_append(x->store, x->st, cmd);
    return 0;
}

struct ctl_job {
    struct core_xmpp *x;
    struct cw_ctl_pending *p;
    char ok[600];
};

static void ctl_job_done(void *arg, int rc, const char *msg)
{
    struct ctl_job *j = arg;
    char buf[700];

    if (rc < 0)
        snprintf(buf, sizeof(buf), "%s\n", msg ? msg : "failed");
    /* When the daemon stops, the control socket is gone before this runs. */
    if (j->p && !j->x->stopping)
        cw_ctl_finish(j->p, rc < 0, rc < 0 ? buf : j->ok);
    free(j);
}

/* A change from the CLI, answered with ok (or why it failed): on a cluster
 * node the answer waits until the change is committed and applied here. */
static int change(struct core_xmpp *x, const char *cmd, const char *ok, struct cw_sb *out)
{
    struct ctl_job *j;
    const char *msg;
    char err[512];

    if (x->cl) {
        if (!(j = calloc(1, sizeof(*j)))) {
            cw_sb_printf(out, "out of memory\n");
            return 1;
        }
        j->x = x;
        snprintf(j->ok, sizeof(j->ok), "%s", ok);
        if (core_cluster_propose(x->cl, cmd, ctl_job_done, j, &msg) < 0) {
            free(j);
            cw_sb_printf(out, "%s\n", msg);
            return 1;
        }
        j->p = cw_ctl_defer(x->ctl);
        return 0;
    }
    if (xmpp_state_apply(x->st, cmd, err, sizeof(err)) < 0) {
        cw_sb_printf(out, "%s\n", err);
        return 1;
    }
    core_store_append(x->store, x->st, cmd);
    if (x->srv)
        xmpp_server_applied(x->srv, cmd);
    cw_sb_str_add(out, ok);
    return 0;
}

/* ---- control commands ---------------------------------------------------------- */

/* The certificates clients see on this node, for the status pages. */
static void cert_lines(const struct core_xmpp *x, struct cw_sb *out)
{
    char sans[512], when[64];
    time_t end;
    struct tm tm;

    for (unsigned i = 0; x->tls && i < cw_tls_ctx_cert_count(x->tls); i++) {
        if (cw_tls_ctx_cert_info(x->tls, i, sans, sizeof(sans), &end) < 0)
            continue;
        gmtime_r(&end, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d", &tm);
        cw_sb_printf(out, "Certificate: %s (%s; expires %s)\n", x->cfg->xmpp.cert[i][0],
                     sans[0] ? sans : "no subjectAltName", when);
    }
}

static int ctl_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core_xmpp *x = arg;

    (void)argc;
    (void)argv;
    if (!x->srv) {
        cw_sb_printf(out, "the XMPP service is disabled on this node (`causeway xmpp enable`)\n");
        return 0;
    }
    xmpp_server_status(x->srv, out);
    cert_lines(x, out);
    return 0;
}

/* `xmpp enable` / `xmpp disable`: this node's listeners on or off (clients
 * and components move to the other nodes through SRV); the node stays a
 * member of its cluster, and the choice survives a restart. */
static int set_enabled(struct core_xmpp *x, int on, int argc, struct cw_sb *out)
{
    char err[1024];
    int fd;

    if (argc != 0) {
        cw_sb_printf(out, "usage: xmpp enable | xmpp disable\n");
        return 1;
    }
    if (!x->srv) {
        if (on) {
            x->srv = xmpp_server_create(x->loop, &x->o, x->st, err, sizeof(err));
            if (!x->srv) {
                cw_sb_printf(out, "%s\n", err);
                return 1;
            }
            unlink(x->disabled_path);
            CW_NOTICE("xmpp", "the XMPP service is enabled on this node");
        }
        cw_sb_printf(out, "the XMPP service is %s on this node\n", x->srv ? "enabled" : "disabled");
        return 0;
    }
    if (on) {
        cw_sb_printf(out, "the XMPP service is enabled on this node\n");
        return 0;
    }
    fd = open(x->disabled_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cw_sb_printf(out, "cannot write %s: %s\n", x->disabled_path, strerror(errno));
        return 1;
    }
    close(fd);
    xmpp_server_close(x->srv);   /* clients get a system-shutdown stream error */
    x->srv = NULL;
    CW_NOTICE("xmpp", "the XMPP service is disabled on this node: its clients and components "
              "were told to go (system-shutdown) and reconnect to another node");
    cw_sb_printf(out, "the XMPP service is disabled on this node\n");
    return 0;
}

static int ctl_enable(void *arg, int argc, char **argv, struct cw_sb *out)
{
    (void)argv;
    return set_enabled(arg, 1, argc, out);
}

static int ctl_disable(void *arg, int argc, char **argv, struct cw_sb *out)
{
    (void)argv;
    return set_enabled(arg, 0, argc, out);
}

static int list_domain(void *arg, const char *d)
{
    struct core_xmpp *x = ((void **)arg)[0];
    struct cw_sb *out = ((void **)arg)[1];

    cw_sb_printf(out, "%s%s\n", d,
                 x->tls && !cw_tls_ctx_covers(x->tls, d) ? "  (no certificate covers it)" : "");
    return 0;
}

static int ctl_domain(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core_xmpp *x = arg;
    char cmd[600], d[JID_PART_MAX + 1], ok[600];
    int n;

    if (argc == 1 && !strcmp(argv[0], "list")) {
        void *a[2] = { x, out };
        xmpp_state_domains(x->st, list_domain, a);
        return 0;
    }
    if (argc != 2 || (strcmp(argv[0], "add") && strcmp(argv[0], "del"))) {
        cw_sb_printf(out, "usage: xmpp domain add|del DOMAIN, xmpp domain list\n");
        return 1;
    }
    if (!jid_domain_ok(argv[1], d, sizeof(d))) {
        cw_sb_printf(out, "\"%s\" is not a domain name\n", argv[1]);
        return 1;
    }
    snprintf(cmd, sizeof(cmd), "domain-%s %s", argv[0], d);
    n = snprintf(ok, sizeof(ok), "domain %s %s\n", d,
                 argv[0][0] == 'a' ? "added" : "deleted (with its users)");
    if (argv[0][0] == 'a' && x->tls && !cw_tls_ctx_covers(x->tls, d))
        snprintf(ok + n, sizeof(ok) - (size_t)n, "warning: no [xmpp] certificate of this node "
                 "covers %s: clients will see a certificate error until one does\n", d);
    return change(x, cmd, ok, out);
}

static int list_user(void *arg, const char *domain, const char *local)
{
    cw_sb_printf(arg, "%s@%s\n", local, domain);
    return 0;
}

/* user add JID CRED256 CRED1 (the CLI derives the keys: the password never
 * reaches the daemon), user del JID, user list [DOMAIN]. */
static int ctl_user(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core_xmpp *x = arg;
    struct cw_sb cmd;
    struct jid j;
    char ok[600];
    int rc;

    if (argc >= 1 && !strcmp(argv[0], "list") && argc <= 2) {
        xmpp_state_users(x->st, argc == 2 ? argv[1] : NULL, list_user, out);
        return 0;
    }
    if (argc < 2 || jid_parse(argv[1], &j) < 0 || !j.local[0] || j.resource[0] ||
        !((argc == 4 && !strcmp(argv[0], "add")) || (argc == 2 && !strcmp(argv[0], "del")))) {
        cw_sb_printf(out, "usage: xmpp user add USER@DOMAIN, xmpp user del USER@DOMAIN, xmpp "
                     "user list [DOMAIN]\n");
        return 1;
    }
    /* On a cluster node the domain may be on its way here still: the
     * state checks it where the change is applied, in log order. */
    if (!x->cl && !xmpp_state_has_domain(x->st, j.domain)) {
        cw_sb_printf(out, "no domain %s here (`causeway xmpp domain add %s` first)\n", j.domain,
                     j.domain);
        return 1;
    }
    cw_sb_init(&cmd);
    if (argc == 4)
        cw_sb_printf(&cmd, "user-set %s %s %s %s", j.domain, j.local, argv[2], argv[3]);
    else
        cw_sb_printf(&cmd, "user-del %s %s", j.domain, j.local);
    snprintf(ok, sizeof(ok), "user %s@%s %s\n", j.local, j.domain,
             argc == 4 ? "saved" : "deleted");
    rc = change(x, cmd.s, ok, out);
    cw_sb_free(&cmd);
    return rc;
}

static int list_comp(void *arg, const char *name)
{
    cw_sb_printf(arg, "%s\n", name);
    return 0;
}

static int ctl_callbridge(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core_xmpp *x = arg;
    char cmd[1024], secret[257], name[JID_PART_MAX + 1], ok[600];

    if (argc == 1 && !strcmp(argv[0], "list")) {
        xmpp_state_components(x->st, list_comp, out);
        return 0;
    }
    if (argc < 2 || !jid_domain_ok(argv[1], name, sizeof(name)) ||
        !((argc == 2 && (!strcmp(argv[0], "add") || !strcmp(argv[0], "del"))) ||
          (argc == 3 && !strcmp(argv[0], "add-secret")))) {
        cw_sb_printf(out, "usage: xmpp callbridge add NAME | add-secret NAME SECRET | del NAME "
                     "| list\n");
        return 1;
    }
    if (!strcmp(argv[0], "del")) {
        snprintf(cmd, sizeof(cmd), "comp-del %s", name);
        snprintf(ok, sizeof(ok), "call bridge %s deleted\n", name);
        return change(x, cmd, ok, out);
    }
    if (argc == 3) {
        if (strlen(argv[2]) < 8 || strlen(argv[2]) > 256 || strpbrk(argv[2], " \t")) {
            cw_sb_printf(out, "the secret must be 8 to 256 characters without spaces\n");
            return 1;
        }
        snprintf(secret, sizeof(secret), "%s", argv[2]);
    } else {
        if (cw_random_hex(secret, SECRET_BYTES) < 0) {
            cw_sb_printf(out, "no random bytes for a secret\n");
            return 1;
        }
    }
    snprintf(cmd, sizeof(cmd), "comp-set %s %s", name, secret);
    if (argc == 2)
        snprintf(ok, sizeof(ok), "call bridge %s added; its secret (enter it on the call "
                 "bridge):\n%s\n", name, secret);
    else
        snprintf(ok, sizeof(ok), "call bridge %s added with the given secret\n", name);
    return change(x, cmd, ok, out);
}

/* ---- the cluster ------------------------------------------------------------------ */

static void cl_applied(void *arg, const char *cmd)
{
    struct core_xmpp *x = arg;

    if (x->srv)
        xmpp_server_applied(x->srv, cmd);
}

static void cl_stanza(void *arg, const char *node, struct xml_node *n)
{
    struct core_xmpp *x = arg;

    if (x->srv)
        xmpp_server_deliver(x->srv, node, n);
    else
        xml_node_free(n);
}

static void cl_batch(void *arg, int begin)
{
    struct core_xmpp *x = arg;

    if (x->srv)
        xmpp_server_batch(x->srv, begin);
}

static int forward(void *arg, const char *node, const struct xml_node *n)
{
    return core_cluster_send(((struct core_xmpp *)arg)->cl, node, n);
}

static void import_done(void *arg, int rc, const char *msg)
{
    struct ctl_job *j = arg;

    j->x->import = NULL;
    ctl_job_done(j, rc, msg);
}

static int ctl_cluster(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core_xmpp *x = arg;
    struct ctl_job *j;
    const char *msg;
    int rc;

    if (!x->cl) {
        cw_sb_printf(out, "this node is not set up for a cluster: add a [cluster] section "
                     "(address, key-file) to %s and restart it\n", x->cfg->path);
        return argc == 1 && !strcmp(argv[0], "status") ? 0 : 1;
    }
    if (argc == 1 && !strcmp(argv[0], "status")) {
        core_cluster_status(x->cl, out);
        if (x->import) {
            CW_SB_LIT(out, "Import: ");
            core_import_progress(x->import, out);
            CW_SB_LIT(out, "\n");
        }
        cert_lines(x, out);
        cw_sb_printf(out, "Trust: the cluster key file (no certificates between nodes)\n");
        return 0;
    }
    if (argc == 1 && !strcmp(argv[0], "initialize"))
        return core_cluster_initialize(x->cl, out) < 0;
    if (argc != 2 || (strcmp(argv[0], "join") && strcmp(argv[0], "remove") &&
                      strcmp(argv[0], "import"))) {
        cw_sb_printf(out, "usage: xmpp cluster status | initialize | join ADDRESS:PORT | "
                     "remove NODE | import STATE_DIR\n");
        return 1;
    }
    if (!strcmp(argv[0], "import") && x->import) {
        cw_sb_printf(out, "an import is running: see `causeway xmpp cluster status`\n");
        return 1;
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    j->x = x;
    if (!strcmp(argv[0], "import")) {
        x->import = core_import_start(x->cl, x->loop, argv[1], import_done, j, j->ok,
                                      sizeof(j->ok), out);
        if (!x->import) {
            free(j);
            return 1;
        }
        j->p = cw_ctl_defer(x->ctl);
        return 0;
    }
    if (!strcmp(argv[0], "join")) {
        snprintf(j->ok, sizeof(j->ok), "joined the cluster through %s; `causeway xmpp cluster "
                 "status` lists the members\n", argv[1]);
        rc = core_cluster_join(x->cl, argv[1], ctl_job_done, j, &msg);
    } else {
        snprintf(j->ok, sizeof(j->ok), "%s removed from the cluster\n", argv[1]);
        rc = core_cluster_remove(x->cl, argv[1], ctl_job_done, j, &msg);
    }
    if (rc < 0) {
        free(j);
        cw_sb_printf(out, "%s\n", msg);
        return 1;
    }
    j->p = cw_ctl_defer(x->ctl);
    return 0;
}

/* ---- the status document ------------------------------------------------------ */

void core_xmpp_report(struct core_xmpp *x, struct cw_report *r)
{
    if (x->srv) {
        xmpp_server_report(x->srv, r);
    } else {
        cw_report_section(r, "xmpp", "XMPP service", CW_REPORT_OFF);
        cw_report_str(r, "configured", "Configured", "disabled on this node (`causeway xmpp "
                      "enable` turns it on)");
    }
    if (x->cl) {
        core_cluster_report(x->cl, r);
        if (x->import) {    /* in the cluster's section */
            struct cw_sb sb;
            cw_sb_init(&sb);
            core_import_progress(x->import, &sb);
            cw_report_str(r, "import", "Import", sb.s ? sb.s : "");
            cw_sb_free(&sb);
        }
    } else {
        cw_report_section(r, "cluster", "XMPP cluster", CW_REPORT_OFF);
        cw_report_str(r, "configured", "Configured", "no [cluster] section: a single node");
    }
}

const struct cw_tls_ctx *core_xmpp_tls(const struct core_xmpp *x)
{
    return x->tls;
}

int core_xmpp_cluster_leader(struct core_xmpp *x, const char **why)
{
    return !x->cl || core_cluster_leader(x->cl, why);
}

/* ---- start and stop ---------------------------------------------------------- */

/* The [xmpp] certificates, read from their files (again on a reload, so
 * that renewed files are picked up). NULL with the reason in err. */
static struct cw_tls_ctx *xmpp_tls(const struct core_config *cfg, char *err, size_t errlen)
{
    return cw_tls_ctx_create_server_n(cfg->xmpp.cert[0][0], cfg->xmpp.cert[0][1],
                                      sizeof(cfg->xmpp.cert[0]), cfg->xmpp.ncert, err, errlen);
}

static int warn_uncovered(void *arg, const char *d)
{
    const struct core_xmpp *x = arg;

    if (!cw_tls_ctx_covers(x->tls, d))
        CW_WARN("xmpp", "no [xmpp] certificate covers %s: its clients will see a certificate "
                "error until one does", d);
    return 0;
}

int core_xmpp_reload_tls(struct core_xmpp *x, const struct core_config *from, char *err,
                         size_t errlen)
{
    struct cw_tls_ctx *t = xmpp_tls(from, err, errlen);

    if (!t)
        return -1;
    x->o.tls = t;               /* for `xmpp enable` */
    if (x->srv)
        xmpp_server_set_tls(x->srv, t);
    cw_tls_ctx_destroy(x->tls); /* sessions in TLS hold their own reference */
    x->tls = t;
    CW_NOTICE("xmpp", "certificates reloaded (%u); new connections use them",
              cw_tls_ctx_cert_count(t));
    xmpp_state_domains(x->st, warn_uncovered, x);
    return 0;
}

struct core_xmpp *core_xmpp_start(uv_loop_t *loop, const struct core_config *cfg,
                                  struct cw_ctl *ctl)
{
    struct core_xmpp *x = calloc(1, sizeof(*x));
    char err[1024];

    if (!x || !(x->st = xmpp_state_new())) {
        CW_ERROR("xmpp", "out of memory");
        free(x);
        return NULL;
    }
    x->cfg = cfg;
    x->ctl = ctl;
    x->qtail = &x->q;
    uv_timer_init(loop, &x->retry);
    x->retry.data = x;
    mkdir(cfg->state_dir, 0700);
    if (cfg->cluster.enabled) {
        /* The cluster's log is the state's store: no state file. */
        static const struct core_cluster_cbs cbs = { .applied = cl_applied, .stanza = cl_stanza,
                                                      .batch = cl_batch };
        x->cl = core_cluster_start(loop, cfg, x->st, &cbs, x);
        if (!x->cl)
            goto fail;
    } else if (!(x->store = core_store_create(cfg->state_dir)) || state_load(x) < 0) {
        goto fail;
    }
    if (!(x->tls = xmpp_tls(cfg, err, sizeof(err)))) {
        CW_ERROR("xmpp", "[xmpp] certificate: %s", err);
        goto fail;
    }
    if (cfg->xmpp.link_listen.ss_family &&
        fedlink_key_read(cfg->xmpp.link_key_file, x->link_key, &x->link_key_len, err,
                         sizeof(err)) < 0) {
        CW_ERROR("xmpp", "[xmpp] link-key-file %s: %s", cfg->xmpp.link_key_file, err);
        goto fail;
    }
    memset(&x->o, 0, sizeof(x->o));
    x->o.c2s = cfg->xmpp.c2s;
    x->o.component = cfg->xmpp.component;
    x->o.link = cfg->xmpp.link_listen;
    x->o.link_key = x->link_key;
    x->o.link_key_len = x->link_key_len;
    x->o.tls = x->tls;
    x->o.allow_plain = cfg->xmpp.allow_plain;
    x->o.node = cfg->name;
    x->o.max_connections = cfg->xmpp.max_connections;
    x->o.ping_interval_ms = cfg->xmpp.ping_interval * 1000;
    x->o.limits.max_stanza = cfg->xmpp.max_stanza;
    x->o.propose = propose;
    x->o.propose_arg = x;
    if (x->cl) {
        x->o.forward = forward;
        x->o.forward_arg = x;
    }
    x->loop = loop;
    snprintf(x->disabled_path, sizeof(x->disabled_path), "%s/xmpp.disabled", cfg->state_dir);
    if (access(x->disabled_path, F_OK) == 0) {
        CW_NOTICE("xmpp", "the XMPP service is disabled on this node (`causeway xmpp enable` "
                  "turns it on); the node stays in its cluster");
    } else if (!(x->srv = xmpp_server_create(loop, &x->o, x->st, err, sizeof(err)))) {
        CW_ERROR("xmpp", "%s", err);
        goto fail;
    }
    cw_ctl_register(ctl, "xmpp status", ctl_status, x);
    cw_ctl_register(ctl, "xmpp domain", ctl_domain, x);
    cw_ctl_register(ctl, "xmpp user", ctl_user, x);
    cw_ctl_register(ctl, "xmpp callbridge", ctl_callbridge, x);
    cw_ctl_register(ctl, "xmpp cluster", ctl_cluster, x);
    cw_ctl_register(ctl, "xmpp enable", ctl_enable, x);
    cw_ctl_register(ctl, "xmpp disable", ctl_disable, x);
    return x;
fail:
    core_xmpp_stop(x);
    return NULL;
}

/* The last of it goes once the cluster (which applies to the state and
 * calls back) and the retry timer are closed. */
static void xmpp_free(void *arg)
{
    struct core_xmpp *x = arg;

    while (x->q) {
        struct write *w = x->q;
        x->q = w->next;
        free(w);
    }
    cw_tls_ctx_destroy(x->tls);
    xmpp_state_free(x->st);
    core_store_destroy(x->store);
    OPENSSL_cleanse(x->link_key, sizeof(x->link_key));
    free(x);
}

static void retry_closed(uv_handle_t *h)
{
    struct core_xmpp *x = h->data;

    if (x->cl)
        core_cluster_stop(x->cl, xmpp_free, x);
    else
        xmpp_free(x);
}

void core_xmpp_stop(struct core_xmpp *x)
{
    if (!x || x->stopping)
        return;
    x->stopping = 1;
    if (x->import) {
        core_import_abandon(x->import);
        x->import = NULL;
    }
    xmpp_server_close(x->srv);
    x->srv = NULL;
    uv_close((uv_handle_t *)&x->retry, retry_closed);
}

int core_xmpp_component_here(const struct core_xmpp *x, const char *name)
{
    return x->srv && xmpp_server_has_component(x->srv, name);
}

const struct xmpp_state *core_xmpp_state(const struct core_xmpp *x)
{
    return x->st;
}

struct core_cluster *core_xmpp_cluster(const struct core_xmpp *x)
{
    return x->cl;
}
