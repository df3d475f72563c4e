/* doctor.h - one run of `causeway doctor`: checks that run in parallel on
 * the daemon's loop, their findings (check id, result, what was seen, the
 * fix), a deadline for the whole run, and the probes the checks share (TCP
 * connect, STUN Binding over UDP, an XEP-0114 component handshake).
 *
 * A run is reference counted: every check and every probe in flight holds
 * it, so callbacks that arrive after the deadline find it alive and are
 * ignored. The done callback runs exactly once, when the last check ended
 * or at the deadline, whichever comes first; checks still running then are
 * recorded as failed ("did not finish"). Both daemons fill it, and the
 * findings go into the report section "doctor" so that the CLI, the admin
 * API and the pages show the same thing. */
#ifndef CW_DOCTOR_H
#define CW_DOCTOR_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/report.h"
#include "common/strbuf.h"

#define CW_DOCTOR_DEADLINE_MS 15000
#define CW_DOCTOR_PROBE_MS 3000

enum cw_doctor_result { CW_DOCTOR_OK, CW_DOCTOR_WARN, CW_DOCTOR_FAIL, CW_DOCTOR_SKIP };

struct cw_doctor;
struct cw_doctor_check;

typedef void (*cw_doctor_done_cb)(void *arg, struct cw_doctor *dr);

/* A run on loop that ends at the latest deadline_ms from now (0: the
 * default). done(arg, dr) once; dr stays valid during the call and until
 * cw_doctor_release() drops the creator's reference. NULL when out of
 * memory. */
struct cw_doctor *cw_doctor_create(uv_loop_t *loop, unsigned deadline_ms, cw_doctor_done_cb done,
                                   void *arg);
/* Drops the creator's reference (after done, or to abandon the run: done
 * is then never called). */
void cw_doctor_release(struct cw_doctor *dr);
/* Once every check is begun: with no check in flight done runs now (from
 * a zero timer, never from inside this call). */
void cw_doctor_start(struct cw_doctor *dr);
uv_loop_t *cw_doctor_loop(const struct cw_doctor *dr);

/* A check id ("dns.srv") in flight; each part of it that waits for the
 * network holds it (cw_doctor_check_hold / _put) and the check ends when
 * the last hold goes. begin returns the first hold. A check that ends
 * without a finding gets "ok: nothing to check". NULL when out of memory
 * (the run then misses that check, and says so). */
struct cw_doctor_check *cw_doctor_check_begin(struct cw_doctor *dr, const char *id);
struct cw_doctor_check *cw_doctor_check_hold(struct cw_doctor_check *ck);
void cw_doctor_check_put(struct cw_doctor_check *ck);
struct cw_doctor *cw_doctor_check_run(const struct cw_doctor_check *ck);
/* A finding of ck: seen says what was looked at and what came back, fix
 * what to do (NULL or "" for an ok). Never put a secret in either. */
void cw_doctor_add(struct cw_doctor_check *ck, enum cw_doctor_result res, const char *seen,
                   const char *fix);
void cw_doctor_addf(struct cw_doctor_check *ck, enum cw_doctor_result res, const char *fix,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Counts of the findings so far, and of the checks begun. */
unsigned cw_doctor_count(const struct cw_doctor *dr, enum cw_doctor_result res);
unsigned cw_doctor_checks(const struct cw_doctor *dr);
const char *cw_doctor_result_name(enum cw_doctor_result res);   /* "ok", "warn", ... */

/* Section "doctor" ("Deployment checks"): counts, then a table "findings"
 * with check, result, seen, fix, in the order the checks were begun. */
void cw_doctor_report(const struct cw_doctor *dr, struct cw_report *r);
/* The CLI's text: one block per finding, the failed and warned first. */
void cw_doctor_text(const struct cw_doctor *dr, const char *who, struct cw_sb *out);
/* ---- the `doctor [json]` control command, as both daemons serve it ---- */

struct cw_ctl;
struct cw_ctl_pending;
struct cw_dns;

#define CW_DOCTOR_DNS_MS 1000   /* per DNS server try: the whole run has 15 s */

/* One command: its run, a resolver of its own with short timeouts, and
 * the answer owed. A daemon keeps it in its run's state. */
struct cw_doctor_cmd {
    struct cw_doctor *dr;
    struct cw_dns *dns;
    struct cw_ctl_pending *p;
    int json;
    const char *who;            /* heads the text: "causeway-edge doctor" */
};

/* From the command's handler. `doctor count` is answered at once with
 * nchecks (the CLI's progress line): 1. Else [json] is read from argv and
 * the resolver (servers "a:53,b:53", or NULL for resolv.conf) and the run
 * (done(arg) when over) are made: 0, and the daemon begins its checks and
 * calls cw_doctor_cmd_go. -1 with why in out when they cannot be made. */
int cw_doctor_cmd_begin(struct cw_doctor_cmd *c, uv_loop_t *loop, const char *servers,
                        const char *who, size_t nchecks, int argc, char **argv,
                        cw_doctor_done_cb done, void *arg, struct cw_sb *out);
/* Once every check is begun: the command is answered when the run is over. */
void cw_doctor_cmd_go(struct cw_doctor_cmd *c, struct cw_ctl *ctl);
/* From done: answers with the findings (JSON of the report section, or the
 * text; an error when a check failed), logs the counts, closes the resolver
 * and drops the run. */
void cw_doctor_cmd_end(struct cw_doctor_cmd *c);

/* ---- probes: cb runs once, later, from the loop (also after the run is
 * over: the probe holds ck). ---- */

/* status 0: connected; else a uv error code (UV_ETIMEDOUT after
 * timeout_ms, UV_ECONNREFUSED, ...). */
typedef void (*cw_doctor_probe_cb)(struct cw_doctor_check *ck, void *arg, int status);
/* A TCP connection to addr, closed at once. -1 when it cannot start
 * (nothing is called). */
int cw_doctor_probe_tcp(struct cw_doctor_check *ck, const struct sockaddr *addr,
                        unsigned timeout_ms, cw_doctor_probe_cb cb, void *arg);
/* A STUN Binding request (RFC 8489 6) to addr over UDP; status 0 when a
 * Binding success response with our transaction id came back. */
int cw_doctor_probe_stun(struct cw_doctor_check *ck, const struct sockaddr *addr,
                         unsigned timeout_ms, cw_doctor_probe_cb cb, void *arg);
/* An XEP-0114 handshake as component name with secret at addr. status 0:
 * <handshake/> came back; CW_DOCTOR_EAUTH: the server said not-authorized
 * (or host-unknown: CW_DOCTOR_EUNKNOWN); CW_DOCTOR_EPROTO: something else
 * came back; else a uv error code. The secret stays in the probe's memory
 * only until the stream id arrives (then the digest is sent and it is
 * wiped). */
#define CW_DOCTOR_EAUTH (-20001)
#define CW_DOCTOR_EUNKNOWN (-20002)
#define CW_DOCTOR_EPROTO (-20003)
int cw_doctor_probe_component(struct cw_doctor_check *ck, const struct sockaddr *addr,
                              const char *name, const char *secret, unsigned timeout_ms,
                              cw_doctor_probe_cb cb, void *arg);
/* Text for a probe status. */
const char *cw_doctor_strerror(int status);

#endif
