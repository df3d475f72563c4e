/* fault.c - the fault conditions registry (see fault.h). */
#include "fault.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fault {
    char id[64];
    char text[512];
    time_t raised, cleared;     /* cleared 0: active */
};

struct cw_faults {
    struct fault *v;        /* active ones and the history, unordered */
    size_t n, cap;
    uint64_t active;
};

struct cw_faults *cw_faults_create(void)
{
    return calloc(1, sizeof(struct cw_faults));
}

void cw_faults_destroy(struct cw_faults *f)
{
    if (!f)
        return;
    free(f->v);
    free(f);
}

static struct fault *find_active(struct cw_faults *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (!f->v[i].cleared && !strcmp(f->v[i].id, id))
            return &f->v[i];
    return NULL;
}

/* Drops the oldest cleared fault once the history is full. */
static void trim_history(struct cw_faults *f)
{
    size_t cleared = 0, oldest = 0;

    for (size_t i = 0; i < f->n; i++) {
        if (!f->v[i].cleared)
            continue;
        if (!cleared++ || f->v[i].cleared < f->v[oldest].cleared)
            oldest = i;
    }
    if (cleared > CW_FAULT_HISTORY)
        f->v[oldest] = f->v[--f->n];
}

static void vraise(struct cw_faults *f, const char *id, const char *fmt, va_list ap)
{
    struct fault *x = find_active(f, id);
    char text[sizeof(x->text)];

    vsnprintf(text, sizeof(text), fmt, ap);
    if (x) {
        if (strcmp(x->text, text)) {
            memcpy(x->text, text, sizeof(text));
            CW_WARN("fault", "%s: %s", id, text);
        }
        return;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct fault *v = realloc(f->v, cap * sizeof(*v));
        if (!v) {
            CW_ERROR("fault", "%s: %s (not recorded: out of memory)", id, text);
            return;
        }
        f->v = v;
        f->cap = cap;
    }
    x = &f->v[f->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%s", id);
    memcpy(x->text, text, sizeof(text));
    x->raised = time(NULL);
    f->active++;
    CW_WARN("fault", "raised %s: %s", id, text);
}

void cw_fault_raise(struct cw_faults *f, const char *id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vraise(f, id, fmt, ap);
    va_end(ap);
}

void cw_fault_clear(struct cw_faults *f, const char *id)
{
    struct fault *x = find_active(f, id);

    if (!x)
        return;
    x->cleared = time(NULL);
    if (x->cleared == x->raised)
        x->cleared++;       /* 0 means active: a fault cleared in its first second still shows cleared */
    f->active--;
    CW_NOTICE("fault", "cleared %s (raised %lld s ago)", id, (long long)(x->cleared - x->raised));
    trim_history(f);
}

void cw_fault_set(struct cw_faults *f, const char *id, int raised, const char *fmt, ...)
{
    va_list ap;

    if (!raised) {
        cw_fault_clear(f, id);
        return;
    }
    va_start(ap, fmt);
    vraise(f, id, fmt, ap);
    va_end(ap);
}

const uint64_t *cw_faults_active(const struct cw_faults *f)
{
    return &f->active;
}

/* Active first, then newest first. */
static int fault_cmp(const void *a, const void *b)
{
    const struct fault *x = *(const struct fault *const *)a, *y = *(const struct fault *const *)b;

    if (!x->cleared != !y->cleared)
        return x->cleared ? 1 : -1;
    if (x->raised != y->raised)
        return x->raised < y->raised ? 1 : -1;
    return strcmp(x->id, y->id);
}

void cw_faults_report(const struct cw_faults *f, struct cw_report *r)
{
    const struct fault **order = f->n ? malloc(f->n * sizeof(*order)) : NULL;

    cw_report_section(r, "faults", "Fault conditions", f->active ? CW_REPORT_ERROR : CW_REPORT_OK);
    cw_report_int(r, "active", "Active", (int64_t)f->active);
    cw_report_table(r, "list", "Raised and cleared", "id,text,raised,cleared",
                    "Fault,What and what to do,Raised,Cleared");
    if (f->n && !order)
        return;
    for (size_t i = 0; i < f->n; i++)
        order[i] = &f->v[i];
    if (f->n)
        qsort(order, f->n, sizeof(*order), fault_cmp);
    for (size_t i = 0; i < f->n; i++) {
        cw_report_row(r);
        cw_report_cell_str(r, order[i]->id);
        cw_report_cell_str(r, order[i]->text);
        cw_report_cell_time(r, order[i]->raised);
        cw_report_cell_time(r, order[i]->cleared);
    }
    free(order);
}

const char *cw_fault_expiry(char *buf, size_t len, time_t end, time_t now)
{
    long long days = (long long)((end > now ? end - now : now - end) / 86400);

    snprintf(buf, len, "%s %lld day%s%s", end < now ? "expired" : "expires in", days,
             days == 1 ? "" : "s", end < now ? " ago" : "");
    return buf;
}
