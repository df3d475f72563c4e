/* main.c - causeway-core: the inside daemon. Reads core.conf, makes the
 * tunnel key on first start, opens the SSH tunnels to the edges, serves the
 * control socket, and stops cleanly on SIGTERM/SIGINT; SIGHUP reopens the
 * log and applies a new log level. */
#include "admin/admin.h"
#include "common/ctl.h"
#include "core/core.h"
#include "common/daemon.h"
#include "common/dns.h"
#include "common/log.h"
#include "common/sshkey.h"
#include "common/wbatch.h"
#include "core/config.h"
#include "core/pairing.h"
#include "core/sshctr.h"
#include "core/tunnel.h"
#include "core/xmpp.h"

#include <libssh2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void core_stop(void *arg, const char *why)
{
    struct core *c = arg;

    if (c->stopping)
        return;
    c->stopping = 1;
    CW_NOTICE("core", "stopping: %s", why);
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_close(c->tunnel[i], NULL, NULL);
    c->ntunnel = 0;
    core_xmpp_stop(c->xmpp);
    c->xmpp = NULL;
    core_turncheck_ctl_stop(c);
    if (c->dns)
        cw_dns_close(c->dns);
    c->dns = NULL;
    cw_admin_close(c->admin);
    c->admin = NULL;
    cw_status_stop(&c->status);
    cw_ctl_close(c->ctl);
    c->ctl = NULL;
    cw_daemon_signals_close(&c->d);
}

/* The settings of core.conf that a reload applies; a change to any other
 * waits for a restart (cw_daemon_reload_pending). */
static const char *const core_live[] = { "core log-level", "xmpp certificate", "turn *", NULL };

/* SIGHUP and `reload`: the log level, the admin accounts and certificate,
 * the webbridge CAs, the [xmpp] certificate lines with their files and the
 * TURN check's settings are read again; any other change is named as
 * waiting for a restart. The number of parts that failed. */
static int core_reload(void *arg, struct cw_sb *out)
{
    struct core *c = arg;
    struct core_config *n = malloc(sizeof(*n));
    char err[1024];
    int cas = 0, turn, xmpp = 0, admin = 0, failed = 0, r, pending;

    if (!n || core_config_load(n, c->cfg.path, err, sizeof(err)) < 0) {
        cw_daemon_reload_error(out, "core", "SIGHUP: %s; keeping the running configuration",
                               n ? err : "out of memory");
        free(n);
        return 1;
    }
    cw_log_set_level((enum cw_log_level)n->d.log_level);
    admin = c->admin && cw_admin_reload(c->admin, err, sizeof(err)) == 0;
    if (c->admin && !admin) {
        cw_daemon_reload_error(out, "core", "SIGHUP: admin accounts or certificate not "
                               "reloaded: %s", err);
        failed++;
    }
    /* A renewed inside CA takes effect without dropping the tunnels. */
    for (int i = 0; i < c->ntunnel; i++) {
        if ((r = core_tunnel_reload_tls(c->tunnel[i], err, sizeof(err))) < 0) {
            cw_daemon_reload_error(out, "core", "SIGHUP: [tunnel] number %d (%s): %s; the CAs "
                                   "read before stay in use", i + 1, c->cfg.tunnel[i].guest_uri,
                                   err);
            failed++;
        }
        cas += r > 0;
    }
    xmpp = c->xmpp && core_xmpp_reload_tls(c->xmpp, n, err, sizeof(err)) == 0;
    if (xmpp) {
        memcpy(c->cfg.xmpp.cert, n->xmpp.cert, sizeof(c->cfg.xmpp.cert));
        c->cfg.xmpp.ncert = n->xmpp.ncert;
    } else if (c->xmpp) {
        cw_daemon_reload_error(out, "core", "SIGHUP: [xmpp] certificates not reloaded: %s; the "
                               "running ones stay in use", err);
        failed++;
    }
    if ((turn = core_turncheck_ctl_reload(c, &n->turn_check, err, sizeof(err))) < 0) {
        cw_daemon_reload_error(out, "core", "SIGHUP: [turn] not reloaded: %s; the TURN check "
                               "keeps its settings", err);
        failed++;
    }
    pending = cw_daemon_reload_pending(&c->d, out, "core", core_live, c->status.faults);
    cw_daemon_reload_notice(out, "core", "SIGHUP: reloaded the log level%s%s%s%s from %s (%s)",
                            admin ? ", admin accounts and certificate" : "",
                            xmpp ? ", [xmpp] certificates" : "",
                            cas ? ", the webbridge CAs (webbridge-ca)" : "",
                            turn > 0 ? ", [turn] (the TURN check)" : "", c->cfg.path,
                            cw_daemon_pending_words(pending));
    free(n);
    return failed;
}

/* ---- control commands ----------------------------------------------------- */

static int ctl_tunnel_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;
    char fp[CW_SSHKEY_FP_LEN];

    (void)argc;
    (void)argv;
    if (core_pairing_fingerprint(&c->cfg, fp) == 0)
        cw_sb_printf(out, "Core \"%s\", tunnel key %s (%s)\n", c->cfg.name, fp, c->cfg.key_file);
    if (!c->ntunnel) {
        cw_sb_printf(out, "no [tunnel] is configured in %s\n", c->cfg.path);
        return 0;
    }
    cw_sb_printf(out, "\nSSH tunnels:\n");
    core_tunnel_header(out);
    for (int i = 0; i < c->ntunnel; i++)
        core_tunnel_row(c->tunnel[i], out);
    for (int i = 0; i < c->ntunnel; i++) {
        cw_sb_printf(out, "\n");
        core_tunnel_detail(c->tunnel[i], out);
    }
    return 0;
}

/* ---- start-up --------------------------------------------------------------- */

/* What the admin pages and API may run on the core. */
static const char *const core_admin_actions[] = { "reload", "turn check", "admin unlock NAME",
                                                   NULL };

static int core_admin_start(struct core *c)
{
    struct cw_admin_opts o = {
        .conf = &c->cfg.admin, .product = "causeway-core", .report = c->status.report,
        .report_arg = c->status.arg, .stats = c->stats, .ctl = c->ctl,
        .actions = core_admin_actions,
    };

    return cw_admin_start(c->loop, &o, "core", c->cfg.path, &c->admin);
}

static int core_start(struct core *c)
{
    struct core_config *cfg = &c->cfg;
    char err[1024];
    int made;

    cw_daemon_signals_start(&c->d, c->loop, core_reload, core_stop, c);
    if (cw_daemon_log(&c->d, &cfg->d) < 0)
        return -1;
    cw_daemon_conf_snap(&c->d, "tunnel");
    c->ctl = cw_ctl_create(c->loop, cfg->d.control_socket, err, sizeof(err));
    if (!c->ctl) {
        CW_ERROR("core", "%s", err);
        return -1;
    }
    cw_ctl_register(c->ctl, "tunnel status", ctl_tunnel_status, c);
    cw_ctl_register(c->ctl, "version", cw_daemon_ctl_version, &c->d);
    cw_ctl_register(c->ctl, "reload", cw_daemon_ctl_reload, &c->d);
    core_doctor_start(c);
    if (core_status_start(c) < 0) {
        CW_ERROR("core", "out of memory");
        return -1;
    }
    if (core_turncheck_ctl_start(c) < 0 || core_admin_start(c) < 0)
        return -1;
    made = core_pairing_key(cfg, err, sizeof(err));
    if (made < 0) {
        CW_ERROR("core", "%s", err);
        return -1;
    }
    if (made) {
        char cmd[1024];
        if (core_pairing_command(cfg, cmd, sizeof(cmd)) == 0)
            CW_NOTICE("core", "made the tunnel key %s; to pair this core, run on each edge: %s",
                      cfg->key_file, cmd);
    }
    c->dns = cw_dns_create(c->loop, cfg->dns_servers[0] ? cfg->dns_servers : NULL,
                           cfg->dns_timeout_ms, 2, err, sizeof(err));
    if (!c->dns) {
        CW_ERROR("core", "DNS: %s", err);
        return -1;
    }
    /* libssh2 1.11 and later give OpenSSL whole packets themselves. */
    if (!libssh2_version(0x010b00)) {
        if (core_sshctr_enable((const void *)libssh2_session_init_ex) == 0)
            CW_NOTICE("core", "libssh2 %s: AES-CTR keystream made in batches", libssh2_version(0));
        else
            CW_WARN("core", "libssh2 %s is not loaded as a shared library: AES-CTR runs one block per "
                    "call (slower)", libssh2_version(0));
    }
    if (!cfg->d.io_uring)
        snprintf(c->wbatch_off, sizeof(c->wbatch_off), "off ([core] io-uring = no)");
    else if (cfg->ntunnel &&
             !(c->wbatch = cw_wbatch_new(c->loop, c->wbatch_off, sizeof(c->wbatch_off))))
        CW_NOTICE("core", "no io_uring (%s): writes to webbridges go one system call each, "
                  "which costs CPU under load (see io-uring in docs/configuration.md)",
                  c->wbatch_off);
    for (int i = 0; i < cfg->ntunnel; i++) {
        c->tunnel[i] = core_tunnel_create(c->loop, &cfg->tunnel[i], cfg->key_file, c->dns,
                                          &cfg->xmpp.link_listen, err, sizeof(err));
        if (!c->tunnel[i]) {
            CW_ERROR("core", "%s: [tunnel] number %d (%s): %s", cfg->path, i + 1,
                     cfg->tunnel[i].guest_uri, err);
            return -1;
        }
        core_tunnel_set_wbatch(c->tunnel[i], c->wbatch);
        c->ntunnel++;
    }
    if (cfg->xmpp.enabled && !(c->xmpp = core_xmpp_start(c->loop, cfg, c->ctl)))
        return -1;
    CW_NOTICE("core", "causeway-core %s started (config %s, control %s, %d tunnel%s)",
              CORE_VERSION, cfg->path, cfg->d.control_socket, c->ntunnel,
              c->ntunnel == 1 ? "" : "s");
    return 0;
}

int main(int argc, char **argv)
{
    static struct core c;
    char err[1024];
    int rc;

    c.d = (struct cw_daemon){ .name = "causeway-core", .version = CORE_VERSION,
                              .conf = CORE_CONF_DEFAULT };
    rc = cw_daemon_args(&c.d, argc, argv);
    if (rc >= 0)
        return rc;
    if (core_config_load(&c.cfg, c.d.conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway-core: %s\n", err);
        return 1;
    }
    if (c.d.check) {
        /* The files the configuration names, as the start reads them (the
         * CLI reads core.conf too, and does not need them). */
        for (int i = 0; i < c.cfg.ntunnel; i++)
            if (core_tunnel_check_tls(&c.cfg.tunnel[i], err, sizeof(err)) < 0) {
                fprintf(stderr, "causeway-core: %s: [tunnel] number %d (%s): %s\n", c.cfg.path,
                        i + 1, c.cfg.tunnel[i].guest_uri, err);
                return 1;
            }
        printf("causeway-core: %s is valid\n", c.d.conf);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    c.loop = uv_default_loop();
    libssh2_init(0);
    rc = core_start(&c);
    if (rc < 0)
        core_stop(&c, "start-up failed");
    uv_run(c.loop, UV_RUN_DEFAULT);
    /* Every connection is closed now; the batch's handles close in one more run. */
    cw_wbatch_free(c.wbatch);
    uv_run(c.loop, UV_RUN_DEFAULT);
    uv_loop_close(c.loop);
    libssh2_exit();
    cw_daemon_conf_snap_free(&c.d);
    cw_status_free(&c.status);
    cw_stats_destroy(c.stats);
    if (rc == 0)
        CW_NOTICE("core", "stopped");
    return rc < 0 ? 1 : 0;
}
