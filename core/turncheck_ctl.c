/* turncheck_ctl.c - the TURN check in the core daemon: started from [turn]
 * of core.conf, its results raise and clear the fault turn.unreachable, and
 * the control commands `turn check` (a check now, answered when it is done)
 * and `turn status` (the last result). */
#include "common/ctl.h"
#include "common/log.h"
#include "core/core.h"
#include "core/turncheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TURN_FAULT "turn.unreachable"

/* A `turn check` waiting for its answer. */
struct core_turncheck_ask {
    struct core *c;
    struct cw_ctl_pending *pending;
    struct core_turncheck_ask *next;
};

static void summary(struct core *c, const struct core_turncheck_result *res, struct cw_sb *out)
{
    struct cw_report *r = cw_report_create();

    if (res->verdict == CORE_TURNCHECK_OK)
        cw_sb_printf(out, "reachable: relay %s, mapped %s, rtt %.1f ms\n\n", res->relay,
                     res->mapped[0] ? res->mapped : "?", res->rtt_ms);
    else
        cw_sb_printf(out, "NOT usable (%s): %s\n\n", core_turncheck_verdict_name(res->verdict),
                     res->why);
    if (!r)
        return;
    core_turncheck_report(c->turncheck, r);
    cw_report_text(r, "turn_check", out);
    cw_report_destroy(r);
}

static void on_result(void *arg, const struct core_turncheck_result *res)
{
    struct core *c = arg;

    cw_fault_set(c->status.faults, TURN_FAULT, res->verdict != CORE_TURNCHECK_OK,
                 "the edge's TURN server is not usable from this core (%s): %s",
                 core_turncheck_verdict_name(res->verdict), res->why);
}

static void ask_unlink(struct core_turncheck_ask *a)
{
    struct core_turncheck_ask **pp = &a->c->turn_asks;

    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
}

static void ask_done(void *arg, const struct core_turncheck_result *res)
{
    struct core_turncheck_ask *a = arg;
    struct cw_sb out;

    ask_unlink(a);
    cw_sb_init(&out);
    summary(a->c, res, &out);
    cw_ctl_finish(a->pending, res->verdict != CORE_TURNCHECK_OK, out.s ? out.s : "");
    cw_sb_free(&out);
    free(a);
}

/* `turn check`: answered when the check is done (a few seconds at most:
 * the probe's and the gathering's timeouts). */
static int ctl_turn_check(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;
    struct core_turncheck_ask *a;

    (void)argv;
    if (argc) {
        cw_sb_printf(out, "usage: turn check\n");
        return 1;
    }
    if (!c->cfg.turn_check.enabled) {
        cw_sb_printf(out, "no [turn] is configured in %s\n", c->cfg.path);
        return 1;
    }
    if (!(a = calloc(1, sizeof(*a)))) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    a->c = c;
    if (core_turncheck_run(c->turncheck, ask_done, a) < 0) {
        free(a);
        cw_sb_printf(out, "the check could not start (out of memory, or the core is "
                     "stopping)\n");
        return 1;
    }
    a->pending = cw_ctl_defer(c->ctl);
    a->next = c->turn_asks;
    c->turn_asks = a;
    return 0;
}

static int ctl_turn_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct core *c = arg;
    struct cw_report *r;

    (void)argc;
    (void)argv;
    if (!c->cfg.turn_check.enabled) {
        cw_sb_printf(out, "no [turn] is configured in %s\n", c->cfg.path);
        return 0;
    }
    if (!(r = cw_report_create())) {
        cw_sb_printf(out, "out of memory\n");
        return 1;
    }
    core_turncheck_report(c->turncheck, r);
    cw_report_text(r, "turn_check", out);
    cw_report_destroy(r);
    return 0;
}

int core_turncheck_ctl_start(struct core *c)
{
    char err[256];

    cw_ctl_register(c->ctl, "turn check", ctl_turn_check, c);
    cw_ctl_register(c->ctl, "turn status", ctl_turn_status, c);
    if (!c->cfg.turn_check.enabled)
        return 0;
    c->turncheck = core_turncheck_create(c->loop, &c->cfg.turn_check, on_result, c, err,
                                         sizeof(err));
    if (!c->turncheck) {
        CW_ERROR("turn-check", "%s", err);
        return -1;
    }
    return 0;
}

/* Ends the check and answers whoever waits for it with why. */
static void turncheck_end(struct core *c, const char *why)
{
    struct core_turncheck_ask *a, *next;

    core_turncheck_close(c->turncheck);     /* its waiters are not called */
    c->turncheck = NULL;
    for (a = c->turn_asks; a; a = next) {
        next = a->next;
        cw_ctl_finish(a->pending, 1, why);
        free(a);
    }
    c->turn_asks = NULL;
}

void core_turncheck_ctl_stop(struct core *c)
{
    turncheck_end(c, "causeway-core is stopping: the check was abandoned\n");
}

int core_turncheck_ctl_reload(struct core *c, const struct core_turncheck_config *cfg, char *err,
                              size_t errlen)
{
    struct core_turncheck_config was = c->cfg.turn_check;

    if (!memcmp(cfg, &was, sizeof(*cfg)))
        return 0;
    c->cfg.turn_check = *cfg;
    if (!cfg->enabled) {
        turncheck_end(c, "the [turn] section was removed (SIGHUP): no check\n");
        cw_fault_clear(c->status.faults, TURN_FAULT);
        return 1;
    }
    if (c->turncheck) {
        if (core_turncheck_reload(c->turncheck, cfg, err, errlen) == 0)
            return 1;
    } else if ((c->turncheck = core_turncheck_create(c->loop, cfg, on_result, c, err, errlen))) {
        return 1;   /* [turn] added */
    }
    c->cfg.turn_check = was;
    return -1;
}
