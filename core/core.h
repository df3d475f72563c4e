/* core.h - the causeway-core daemon's own state, shared by its files:
 * main.c (start, stop, reload, control commands) and status.c (the status
 * document and the fault conditions behind the CLI and admin pages). */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include "common/daemon.h"
#include "common/report.h"
#include "common/status.h"
#include "common/stats.h"
#include "core/config.h"

#include <time.h>
#include <uv.h>

struct core_turncheck_ask;

#define CORE_VERSION "0.1.0"

struct core {
    uv_loop_t *loop;
    struct core_config cfg;
    struct cw_ctl *ctl;
    struct cw_dns *dns;
    struct core_tunnel *tunnel[CORE_MAX_TUNNELS];
    int ntunnel;
    struct cw_wbatch *wbatch;   /* the loop turn's writes to inside targets; NULL: one by one */
    char wbatch_off[96];        /* why there is none (status) */
    struct core_xmpp *xmpp;
    struct core_turncheck *turncheck;           /* [turn]; NULL without it */
    struct core_turncheck_ask *turn_asks;       /* `turn check` replies still owed */
    struct cw_admin *admin;     /* NULL without [admin] */
    struct cw_daemon d;
    struct cw_stats *stats;     /* for /metrics */
    struct cw_status status;    /* `status`, `faults`, `metrics`; the fault conditions */
    time_t leaderless_since;
    uint64_t m_tunnels, m_tunnels_active;   /* gauges for the metrics */    /* the cluster lost its leader; 0: it has one */
    int stopping;
};

/* Sets up the status commands and the fault conditions (common/status.h);
 * cw_status_stop(&x->status) ends them. */
int core_status_start(struct core *c);
/* The TURN check of [turn] (core/turncheck_ctl.c): creates it, registers
 * `turn check` and `turn status`, raises and clears turn.unreachable.
 * core_turncheck_ctl_stop closes it and answers the pending `turn check`s. */
int core_turncheck_ctl_start(struct core *c);
void core_turncheck_ctl_stop(struct core *c);
/* SIGHUP: cfg is [turn] of the file read again. 1 when the check changed
 * (started, stopped or its settings), 0 when nothing did, -1 with err (the
 * running check keeps its settings). */
int core_turncheck_ctl_reload(struct core *c, const struct core_turncheck_config *cfg, char *err,
                              size_t errlen);
/* Registers `doctor [json]` (doctor.c): the deployment checks. */
void core_doctor_start(struct core *c);

#endif

