/* status.c - the edge's status document (CLI `status`, admin pages and API)
 * and its fault conditions, re-evaluated every few seconds. */
#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"
#include "edge/edge.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATUS_INTERVAL_MS 5000

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

void edge_status_report(struct edge *e, struct cw_report *r)
{
    daemon_report(e, r);
    cw_faults_report(e->faults, r);
}

/* The fault conditions, from the modules' state now. */
static void evaluate(struct edge *e)
{
    (void)e;
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
