/* status.h - what both daemons do the same way with their status document:
 * the `status [SECTION] [json]`, `faults [json]` and `metrics [prometheus]`
 * control commands, the "system" section, the faults_active gauge, and a
 * timer that has the daemon re-evaluate its fault conditions every few
 * seconds (and before every `status`). The daemon supplies two functions:
 * evaluate (raise and clear faults from its modules' state) and report
 * (fill the whole document). */
#ifndef CW_STATUS_H
#define CW_STATUS_H

#include <time.h>
#include <uv.h>

#include "ctl.h"
#include "fault.h"
#include "report.h"
#include "stats.h"

#define CW_STATUS_INTERVAL_MS 5000

struct cw_status {
    uv_timer_t timer;
    struct cw_faults *faults;       /* owned: made by cw_status_start */
    struct cw_stats *stats;         /* the daemon's */
    void (*evaluate)(void *arg);
    void (*report)(void *arg, struct cw_report *r);
    void *arg;
    const char *product, *version, *config;
    time_t started;
    int running;
};

/* Fills in s (which must stay put: it is the timer's), registers the
 * commands on ctl and the gauge on stats, and starts the timer. -1 when out
 * of memory. */
int cw_status_start(struct cw_status *s, uv_loop_t *loop, struct cw_ctl *ctl,
                    struct cw_stats *stats);
/* Stops the timer (the faults stay readable until cw_status_free). */
void cw_status_stop(struct cw_status *s);
void cw_status_free(struct cw_status *s);

/* The "system" section: product, version, host, configuration, start,
 * active faults. Daemons call it first in their report function. */
void cw_status_system(const struct cw_status *s, struct cw_report *r);

struct cw_tls_ctx;
/* Raises or clears fault PREFIX.N for the N-th certificate of tls (from 1,
 * the order of the certificate lines): raised while it expires within
 * CW_CERT_WARN_DAYS days or has expired. The text names the certificate,
 * says when, and ends with fix ("renew it, then ..."). tls may be NULL. */
void cw_status_cert_expiry(struct cw_status *s, const char *prefix, const struct cw_tls_ctx *tls,
                           const char *fix);
/* Table "certificates" of the current section: each certificate of tls
 * with its names, end and days left; a row warns within CW_CERT_WARN_DAYS
 * days, errs once expired. Nothing when tls is NULL. */
void cw_status_cert_table(struct cw_report *r, const struct cw_tls_ctx *tls);

#endif
