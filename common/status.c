/* status.c - the status commands, system section and fault timer both
 * daemons share (see status.h). */
#include "status.h"

#include "stream.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cw_status_system(const struct cw_status *s, struct cw_report *r)
{
    char host[256];
    uint64_t active = *cw_faults_active(s->faults);

    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "?");
    cw_report_section(r, "system", s->product, active ? CW_REPORT_ERROR : CW_REPORT_OK);
    cw_report_str(r, "version", "Version", s->version);
    cw_report_str(r, "host", "Host name", host);
    cw_report_str(r, "config", "Configuration", s->config);
    cw_report_time(r, "started", "Started", s->started);
    cw_report_int(r, "uptime_s", "Up (seconds)", (int64_t)(time(NULL) - s->started));
    cw_report_int(r, "faults_active", "Active faults", (int64_t)active);
}

void cw_status_cert_expiry(struct cw_status *s, const char *prefix, const struct cw_tls_ctx *tls,
                           const char *fix)
{
    time_t now = time(NULL), end;
    char id[128], sans[512], when[48];

    for (unsigned i = 0; tls && i < cw_tls_ctx_cert_count(tls); i++) {
        end = 0;
        if (cw_tls_ctx_cert_info(tls, i, sans, sizeof(sans), &end) < 0 || !end)
            continue;
        snprintf(id, sizeof(id), "%s.%u", prefix, i + 1);
        cw_fault_set(s->faults, id, end - now < CW_CERT_WARN_DAYS * 86400,
                     "the certificate for %s %s: %s", sans[0] ? sans : "(no subjectAltName)",
                     cw_fault_expiry(when, sizeof(when), end, now), fix);
    }
}

void cw_status_cert_table(struct cw_report *r, const struct cw_tls_ctx *tls)
{
    time_t now = time(NULL), end;
    char sans[512];
    long days;

    if (!tls)
        return;
    cw_report_table(r, "certificates", "Certificates", "names,not_after,days_left",
                    "Names (subjectAltName),Valid until,Days left");
    for (unsigned i = 0; i < cw_tls_ctx_cert_count(tls); i++) {
        end = 0;
        if (cw_tls_ctx_cert_info(tls, i, sans, sizeof(sans), &end) < 0)
            continue;
        days = end ? (long)((end - now) / 86400) : 0;
        cw_report_row(r);
        cw_report_cell_str(r, sans[0] ? sans : "(none)");
        cw_report_cell_time(r, end);
        cw_report_cell_int(r, days);
        if (end && end < now)
            cw_report_state(r, CW_REPORT_ERROR);
        else if (end && days < CW_CERT_WARN_DAYS)
            cw_report_state(r, CW_REPORT_WARN);
    }
}

static void tick(uv_timer_t *t)
{
    struct cw_status *s = t->data;

    s->evaluate(s->arg);
}

/* `status [SECTION] [json]`: the document, or one section of it, looked at
 * afresh. */
static int ctl_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct cw_status *s = arg;
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
    s->evaluate(s->arg);
    s->report(s->arg, r);
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

static int ctl_metrics(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct cw_status *s = arg;

    cw_stats_dump(s->stats, out, argc > 0 && !strcmp(argv[0], "prometheus"));
    return 0;
}

int cw_status_start(struct cw_status *s, uv_loop_t *loop, struct cw_ctl *ctl,
                    struct cw_stats *stats)
{
    s->started = time(NULL);
    s->stats = stats;
    s->faults = cw_faults_create();
    if (!s->faults)
        return -1;
    cw_stats_add(stats, "faults_active", "Fault conditions raised now", CW_STAT_GAUGE,
                 cw_faults_active(s->faults));
    cw_ctl_register(ctl, "status", ctl_status, s);
    cw_ctl_register(ctl, "faults", ctl_faults, s);
    cw_ctl_register(ctl, "metrics", ctl_metrics, s);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, tick, CW_STATUS_INTERVAL_MS, CW_STATUS_INTERVAL_MS);
    s->running = 1;
    return 0;
}

void cw_status_stop(struct cw_status *s)
{
    if (!s->running)
        return;
    s->running = 0;
    uv_close((uv_handle_t *)&s->timer, NULL);
}

void cw_status_free(struct cw_status *s)
{
    cw_faults_destroy(s->faults);
    s->faults = NULL;
}
