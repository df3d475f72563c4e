/* edge.h - the causeway-edge daemon's own state, shared by its files:
 * main.c (start, stop, reload, control commands) and status.c (the status
 * document and the fault conditions behind the CLI and admin pages). */
#ifndef EDGE_EDGE_H
#define EDGE_EDGE_H

#include "common/daemon.h"
#include "common/report.h"
#include "common/status.h"
#include "edge/config.h"

#include <time.h>
#include <uv.h>

#define EDGE_VERSION "0.1.0"

struct edge {
    uv_loop_t *loop;
    struct edge_config cfg;
    struct cw_stats *stats;
    struct cw_ctl *ctl;
    struct turn_relay *turn;
    struct tunnel *tunnel;
    struct cw_tls_ctx *tls;
    struct webproxy *webproxy;
    struct edge_federation *fed;
    struct cw_admin *admin;     /* NULL without [admin] */
    struct cw_daemon d;
    struct cw_status status;    /* `status`, `faults`, `metrics`; the fault conditions */
    time_t fed_down_since;      /* the federation link to the core went down; 0: up */
    int stopping;
};

/* Sets up the status commands and the fault conditions (common/status.h);
 * cw_status_stop(&x->status) ends them. */
int edge_status_start(struct edge *e);
/* Registers `doctor [json]` (doctor.c): the deployment checks. */
void edge_doctor_start(struct edge *e);

#endif

