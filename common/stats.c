/* stats.c - status counters registry (see stats.h). */
#include "stats.h"

#include <inttypes.h>
#include <stdlib.h>

struct cw_stat {
    const char *name, *help;
    enum cw_stat_kind kind;
    const uint64_t *value;
};

#define REFRESH_MAX 8

struct cw_stats {
    struct cw_stat *v;
    size_t n, cap;
    struct {
        void (*fn)(void *);
        void *arg;
    } refresh[REFRESH_MAX];
    size_t nrefresh;
};

struct cw_stats *cw_stats_create(void)
{
    return calloc(1, sizeof(struct cw_stats));
}

void cw_stats_destroy(struct cw_stats *st)
{
    if (!st)
        return;
    free(st->v);
    free(st);
}

int cw_stats_add(struct cw_stats *st, const char *name, const char *help,
                 enum cw_stat_kind kind, const uint64_t *value)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 32;
        struct cw_stat *v = realloc(st->v, cap * sizeof(*v));
        if (!v)
            return -1;
        st->v = v;
        st->cap = cap;
    }
    st->v[st->n++] = (struct cw_stat){ name, help, kind, value };
    return 0;
}

int cw_stats_add_refresh(struct cw_stats *st, void (*fn)(void *), void *arg)
{
    if (st->nrefresh == REFRESH_MAX)
        return -1;
    st->refresh[st->nrefresh].fn = fn;
    st->refresh[st->nrefresh++].arg = arg;
    return 0;
}

void cw_stats_dump(const struct cw_stats *st, struct cw_sb *out, int prom)
{
    for (size_t i = 0; i < st->nrefresh; i++)
        st->refresh[i].fn(st->refresh[i].arg);
    for (size_t i = 0; i < st->n; i++) {
        const struct cw_stat *s = &st->v[i];
        if (prom)
            cw_sb_printf(out, "# HELP causeway_%s %s\n# TYPE causeway_%s %s\n", s->name,
                         s->help, s->name, s->kind == CW_STAT_COUNTER ? "counter" : "gauge");
        cw_sb_printf(out, "%s%s %" PRIu64 "\n", prom ? "causeway_" : "", s->name, *s->value);
    }
}
