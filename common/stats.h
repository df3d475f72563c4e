/* stats.h - the status counters registry: modules register named counters
 * and gauges (pointers to their own uint64_t fields); status commands and
 * metrics read them all in registration order. */
#ifndef CW_STATS_H
#define CW_STATS_H

#include <stdint.h>

#include "strbuf.h"

enum cw_stat_kind { CW_STAT_COUNTER, CW_STAT_GAUGE };

struct cw_stats;

struct cw_stats *cw_stats_create(void);
void cw_stats_destroy(struct cw_stats *st);
/* name: "turn_packets_relayed_total" style; value must outlive the registry. */
int cw_stats_add(struct cw_stats *st, const char *name, const char *help,
                 enum cw_stat_kind kind, const uint64_t *value);
/* fn(arg) runs before every dump: for values that are gathered on demand
 * (counters kept per thread, summed into the registered fields). */
int cw_stats_add_refresh(struct cw_stats *st, void (*fn)(void *), void *arg);
/* "name value" lines, or Prometheus text exposition when prom is 1. */
void cw_stats_dump(const struct cw_stats *st, struct cw_sb *out, int prom);

#endif
