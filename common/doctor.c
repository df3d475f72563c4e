/* doctor.c - a run of `causeway doctor`: checks in flight, the deadline,
 * the findings and how they render (see doctor.h). */
#include "common/doctor.h"

#include "common/ctl.h"
#include "common/dns.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct finding {
    unsigned check;             /* index of the check: findings render in check order */
    enum cw_doctor_result res;
    char *seen, *fix;
};

struct cw_doctor_check {
    struct cw_doctor *dr;
    char id[48];
    unsigned idx;
    unsigned holds;
    unsigned nfound;
    int ended;
};

struct cw_doctor {
    uv_loop_t *loop;
    unsigned refs;
    cw_doctor_done_cb done;
    void *arg;
    uv_timer_t deadline;
    uv_timer_t kick;            /* done from the loop when nothing is in flight at start */
    int timers_open;
    int started, over, released;
    struct cw_doctor_check **checks;
    unsigned nchecks;
    unsigned inflight;          /* checks not ended */
    struct finding *f;
    unsigned nf;
    int nomem;                  /* a finding or a check could not be stored */
};

static void dr_free(struct cw_doctor *dr)
{
    for (unsigned i = 0; i < dr->nf; i++) {
        free(dr->f[i].seen);
        free(dr->f[i].fix);
    }
    for (unsigned i = 0; i < dr->nchecks; i++)
        free(dr->checks[i]);
    free(dr->f);
    free(dr->checks);
    free(dr);
}

static void timer_closed(uv_handle_t *h)
{
    struct cw_doctor *dr = h->data;

    if (--dr->timers_open == 0)
        dr_free(dr);
}

/* The memory goes when the creator released it, no check holds it, and
 * the timers are closed. */
static void dr_unref(struct cw_doctor *dr)
{
    if (--dr->refs)
        return;
    uv_close((uv_handle_t *)&dr->deadline, timer_closed);
    uv_close((uv_handle_t *)&dr->kick, timer_closed);
}

static void finish(struct cw_doctor *dr)
{
    if (dr->over)
        return;
    /* Checks that are still waiting did not finish in time: that is a
     * finding too (a DNS server or a peer that does not answer). */
    for (unsigned i = 0; i < dr->nchecks; i++) {
        struct cw_doctor_check *ck = dr->checks[i];
        if (!ck->ended)
            cw_doctor_addf(ck, CW_DOCTOR_FAIL, "look at the other findings of this check; a DNS "
                           "server or a peer that never answers makes a check wait until the "
                           "end of the run",
                           "the check did not finish within %u s",
                           (unsigned)(CW_DOCTOR_DEADLINE_MS / 1000));
    }
    dr->over = 1;
    uv_timer_stop(&dr->deadline);
    uv_timer_stop(&dr->kick);
    if (!dr->released && dr->done)
        dr->done(dr->arg, dr);
}

static void on_deadline(uv_timer_t *t)
{
    finish(t->data);
}

static void on_kick(uv_timer_t *t)
{
    struct cw_doctor *dr = t->data;

    if (!dr->inflight)
        finish(dr);
}

struct cw_doctor *cw_doctor_create(uv_loop_t *loop, unsigned deadline_ms, cw_doctor_done_cb done,
                                   void *arg)
{
    struct cw_doctor *dr = calloc(1, sizeof(*dr));

    if (!dr)
        return NULL;
    dr->loop = loop;
    dr->refs = 1;
    dr->done = done;
    dr->arg = arg;
    uv_timer_init(loop, &dr->deadline);
    uv_timer_init(loop, &dr->kick);
    dr->deadline.data = dr->kick.data = dr;
    dr->timers_open = 2;
    uv_timer_start(&dr->deadline, on_deadline, deadline_ms ? deadline_ms : CW_DOCTOR_DEADLINE_MS,
                   0);
    return dr;
}

void cw_doctor_release(struct cw_doctor *dr)
{
    if (!dr)
        return;
    dr->released = 1;
    uv_timer_stop(&dr->deadline);
    uv_timer_stop(&dr->kick);
    dr_unref(dr);
}

void cw_doctor_start(struct cw_doctor *dr)
{
    dr->started = 1;
    uv_timer_start(&dr->kick, on_kick, 0, 0);
}

uv_loop_t *cw_doctor_loop(const struct cw_doctor *dr)
{
    return dr->loop;
}

struct cw_doctor_check *cw_doctor_check_begin(struct cw_doctor *dr, const char *id)
{
    struct cw_doctor_check *ck, **n;

    ck = calloc(1, sizeof(*ck));
    n = realloc(dr->checks, (dr->nchecks + 1) * sizeof(*n));
    if (!ck || !n) {
        free(ck);
        if (n)
            dr->checks = n;
        dr->nomem = 1;
        return NULL;
    }
    dr->checks = n;
    ck->dr = dr;
    snprintf(ck->id, sizeof(ck->id), "%s", id);
    ck->idx = dr->nchecks;
    ck->holds = 1;
    dr->checks[dr->nchecks++] = ck;
    dr->inflight++;
    dr->refs++;
    return ck;
}

struct cw_doctor_check *cw_doctor_check_hold(struct cw_doctor_check *ck)
{
    ck->holds++;
    ck->dr->refs++;
    return ck;
}

void cw_doctor_check_put(struct cw_doctor_check *ck)
{
    struct cw_doctor *dr = ck->dr;

    if (--ck->holds == 0) {
        if (!ck->nfound && !dr->over)
            cw_doctor_add(ck, CW_DOCTOR_OK, "nothing to check here", NULL);
        ck->ended = 1;
        if (--dr->inflight == 0 && dr->started)
            finish(dr);
    }
    dr_unref(dr);
}

struct cw_doctor *cw_doctor_check_run(const struct cw_doctor_check *ck)
{
    return ck->dr;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

void cw_doctor_add(struct cw_doctor_check *ck, enum cw_doctor_result res, const char *seen,
                   const char *fix)
{
    struct cw_doctor *dr = ck->dr;
    struct finding *n;

    if (dr->over)
        return;
    n = realloc(dr->f, (dr->nf + 1) * sizeof(*n));
    if (!n) {
        dr->nomem = 1;
        return;
    }
    dr->f = n;
    n = &dr->f[dr->nf];
    n->check = ck->idx;
    n->res = res;
    n->seen = dup_or_null(seen);
    n->fix = res == CW_DOCTOR_OK ? NULL : dup_or_null(fix);
    dr->nf++;
    ck->nfound++;
}

void cw_doctor_addf(struct cw_doctor_check *ck, enum cw_doctor_result res, const char *fix,
                    const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cw_doctor_add(ck, res, buf, fix);
}

unsigned cw_doctor_count(const struct cw_doctor *dr, enum cw_doctor_result res)
{
    unsigned n = 0;

    for (unsigned i = 0; i < dr->nf; i++)
        n += dr->f[i].res == res;
    return n;
}

unsigned cw_doctor_checks(const struct cw_doctor *dr)
{
    return dr->nchecks;
}

const char *cw_doctor_result_name(enum cw_doctor_result res)
{
    static const char *const names[] = { "ok", "warn", "fail", "skip" };

    return (unsigned)res < 4 ? names[res] : "?";
}

/* The findings in check order, each check's in the order found. */
static int by_check(const void *a, const void *b)
{
    const struct finding *x = *(const struct finding *const *)a, *y = *(const struct finding *const *)b;

    if (x->check != y->check)
        return x->check < y->check ? -1 : 1;
    return x < y ? -1 : x > y;
}

static const struct finding **ordered(const struct cw_doctor *dr)
{
    const struct finding **v = malloc((dr->nf + 1) * sizeof(*v));

    if (!v)
        return NULL;
    for (unsigned i = 0; i < dr->nf; i++)
        v[i] = &dr->f[i];
    qsort(v, dr->nf, sizeof(*v), by_check);
    return v;
}

void cw_doctor_report(const struct cw_doctor *dr, struct cw_report *r)
{
    unsigned nfail = cw_doctor_count(dr, CW_DOCTOR_FAIL), nwarn = cw_doctor_count(dr, CW_DOCTOR_WARN);
    const struct finding **v = ordered(dr);

    cw_report_section(r, "doctor", "Deployment checks",
                      nfail ? CW_REPORT_ERROR : nwarn ? CW_REPORT_WARN : CW_REPORT_OK);
    cw_report_int(r, "checks", "Checks", dr->nchecks);
    cw_report_int(r, "failed", "Failed", nfail);
    cw_report_int(r, "warnings", "Warnings", nwarn);
    cw_report_int(r, "skipped", "Skipped", cw_doctor_count(dr, CW_DOCTOR_SKIP));
    cw_report_bool(r, "complete", "Complete", !dr->nomem);
    cw_report_table(r, "findings", "Findings", "check,result,seen,fix",
                    "Check,Result,Seen,Fix");
    for (unsigned i = 0; v && i < dr->nf; i++) {
        cw_report_row(r);
        cw_report_cell_str(r, dr->checks[v[i]->check]->id);
        cw_report_cell_str(r, cw_doctor_result_name(v[i]->res));
        cw_report_cell_str(r, v[i]->seen ? v[i]->seen : "");
        cw_report_cell_str(r, v[i]->fix ? v[i]->fix : "");
    }
    free(v);
}

void cw_doctor_text(const struct cw_doctor *dr, const char *who, struct cw_sb *out)
{
    static const char *const tag[] = { "ok  ", "WARN", "FAIL", "skip" };
    unsigned nfail = cw_doctor_count(dr, CW_DOCTOR_FAIL), nwarn = cw_doctor_count(dr, CW_DOCTOR_WARN);
    const struct finding **v = ordered(dr);

    for (unsigned i = 0; v && i < dr->nf; i++) {
        const struct finding *f = v[i];
        cw_sb_printf(out, "[%s] %-22s %s\n", tag[f->res], dr->checks[f->check]->id,
                     f->seen ? f->seen : "");
        if (f->fix)
            cw_sb_printf(out, "       %-22s fix: %s\n", "", f->fix);
    }
    free(v);
    if (dr->nomem)
        cw_sb_printf(out, "(out of memory: some findings are missing)\n");
    cw_sb_printf(out, "\n%s: %u checks, %u failed, %u warnings, %u skipped\n", who, dr->nchecks,
                 nfail, nwarn, cw_doctor_count(dr, CW_DOCTOR_SKIP));
}

int cw_doctor_cmd_begin(struct cw_doctor_cmd *c, uv_loop_t *loop, const char *servers,
                        const char *who, size_t nchecks, int argc, char **argv,
                        cw_doctor_done_cb done, void *arg, struct cw_sb *out)
{
    char err[512];

    if (argc == 1 && !strcmp(argv[0], "count")) {
        cw_sb_printf(out, "%zu\n", nchecks);
        return 1;
    }
    memset(c, 0, sizeof(*c));
    c->json = argc == 1 && !strcmp(argv[0], "json");
    c->who = who;
    c->dns = cw_dns_create(loop, servers, CW_DOCTOR_DNS_MS, 2, err, sizeof(err));
    if (!c->dns) {
        cw_sb_printf(out, "the doctor's DNS resolver cannot start: %s\n", err);
        return -1;
    }
    c->dr = cw_doctor_create(loop, 0, done, arg);
    if (!c->dr) {
        cw_dns_close(c->dns);
        cw_sb_printf(out, "out of memory\n");
        return -1;
    }
    return 0;
}

void cw_doctor_cmd_go(struct cw_doctor_cmd *c, struct cw_ctl *ctl)
{
    c->p = cw_ctl_defer(ctl);
    cw_doctor_start(c->dr);
}

void cw_doctor_cmd_end(struct cw_doctor_cmd *c)
{
    const struct cw_doctor *dr = c->dr;
    struct cw_sb out;

    cw_sb_init(&out);
    if (c->json) {
        struct cw_report *r = cw_report_create();
        if (r) {
            cw_doctor_report(dr, r);
            cw_report_json(r, "doctor", &out);
            CW_SB_LIT(&out, "\n");
            cw_report_destroy(r);
        }
    } else {
        cw_doctor_text(dr, c->who, &out);
    }
    CW_NOTICE("doctor", "%u checks: %u failed, %u warnings", cw_doctor_checks(dr),
              cw_doctor_count(dr, CW_DOCTOR_FAIL), cw_doctor_count(dr, CW_DOCTOR_WARN));
    cw_ctl_finish(c->p, cw_doctor_count(dr, CW_DOCTOR_FAIL) > 0, out.s ? out.s : "out of memory\n");
    cw_sb_free(&out);
    cw_dns_close(c->dns);
    cw_doctor_release(c->dr);
}
