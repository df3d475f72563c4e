/* fault.h - fault conditions: named problems that are raised and cleared
 * (a tunnel down, a certificate about to expire, no cluster leader), each
 * with the time it was raised and, once gone, cleared. The admin pages and
 * API list them; metrics count the active ones. Raising logs one warning and
 * clearing one notice, so the log has the same history.
 *
 * Ids are short stable keys ("tunnel.down.edge1"); the text says what is
 * wrong and what to do. A fault raised again while active keeps its time
 * and takes the new text (logged only if the text changed). The registry
 * keeps every active fault and the last CW_FAULT_HISTORY cleared ones. */
#ifndef CW_FAULT_H
#define CW_FAULT_H

#include <stdint.h>
#include <time.h>

#include "report.h"

#define CW_FAULT_HISTORY 32
/* A certificate that expires within this many days is a fault (and a
 * warning in the doctor and the status pages). */
#define CW_CERT_WARN_DAYS 14

struct cw_faults;

struct cw_faults *cw_faults_create(void);
void cw_faults_destroy(struct cw_faults *f);

void cw_fault_raise(struct cw_faults *f, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cw_fault_clear(struct cw_faults *f, const char *id);
/* "expires in 3 days", "expires in 1 day", "expired 2 days ago": an end
 * time against now, for a fault's text. Returns buf. */
const char *cw_fault_expiry(char *buf, size_t len, time_t end, time_t now);
/* Raises or clears: the common shape of a periodic check. */
void cw_fault_set(struct cw_faults *f, const char *id, int raised, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Active faults now; the field stays valid while f lives (for a gauge). */
const uint64_t *cw_faults_active(const struct cw_faults *f);

/* Section "faults" ("Fault conditions"): a table with id, text, raised,
 * cleared (null while active), active first, newest first. */
void cw_faults_report(const struct cw_faults *f, struct cw_report *r);

#endif
