/* status.c - the core's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"
#include "core/core.h"
#include "core/turncheck.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATUS_INTERVAL_MS 5000

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

void core_status_report(struct core *c, struct cw_report *r)
{
    daemon_report(c, r);
    core_turncheck_report(c->turncheck, r);     /* "not configured" without [turn] */
    cw_faults_report(c->faults, r);
}

/* The fault conditions, from the modules' state now. */
static void evaluate(struct core *c)
{
    (void)c;
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
