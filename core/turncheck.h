/* turncheck.h - the TURN reachability check from the core, like CMS's
 * turnServer status: allocate a relay on the edge's TURN server with the
 * configured credentials and report reachable, round-trip time, mapped and
 * relayed address, or exactly why not.
 *
 * The check runs off the loop (libnice needs a GLib main context; it gets a
 * thread of its own) and reports back on the loop that started it. */
#ifndef CORE_TURNCHECK_H
#define CORE_TURNCHECK_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "common/report.h"

/* [turn] of core.conf, the server the call bridges and guests use. */
struct core_turncheck_config {
    int enabled;                        /* a [turn] section was given */
    struct sockaddr_storage server;     /* the edge's TURN address as seen from inside */
    int tcp;                            /* transport = tcp (default udp) */
    char username[128];                 /* long-term credential, or */
    char password[128];
    char rest_secret[256];              /* ... a REST secret (time-limited credentials) */
    unsigned interval_s;                /* periodic check; 0 = only when asked (default 300) */
    unsigned timeout_ms;                /* per check (default 5000) */
};

enum core_turncheck_verdict {
    CORE_TURNCHECK_OK,              /* relay allocated */
    CORE_TURNCHECK_NO_RESPONSE,     /* nothing answered in time (firewall, address, port) */
    CORE_TURNCHECK_AUTH,            /* 401: integrity check failed (username/password/secret) */
    CORE_TURNCHECK_ERROR,           /* another STUN error (quota 486, capacity 508, ...): see why */
    CORE_TURNCHECK_NO_RELAY,        /* the server answered, but libnice got no relay candidate */
};

struct core_turncheck_result {
    enum core_turncheck_verdict verdict;
    time_t when;                    /* when the check finished; 0: never ran */
    double rtt_ms;                  /* first answer's round trip; < 0 unknown */
    char mapped[64];                /* "ip:port" as the server saw the core, "" unknown */
    char relay[64];                 /* the relayed address libnice got, "" none */
    char why[256];                  /* one line for the operator: what failed and what to do */
};

struct core_turncheck;

typedef void (*core_turncheck_cb)(void *arg, const struct core_turncheck_result *res);

/* Starts the periodic check (when interval_s > 0). on_result (may be NULL)
 * hears every result, on the loop's thread. NULL with err when out of
 * memory or the configuration cannot be used. */
struct core_turncheck *core_turncheck_create(uv_loop_t *loop, const struct core_turncheck_config *cfg,
                                             core_turncheck_cb on_result, void *arg, char *err,
                                             size_t errlen);
/* Runs a check now; cb(arg, result) once it is done (on the loop). A check
 * already running is joined, not doubled. -1 when closing or out of memory. */
int core_turncheck_run(struct core_turncheck *tc, core_turncheck_cb cb, void *arg);
/* The last result (verdict OK and when 0 before the first check). */
const struct core_turncheck_result *core_turncheck_last(const struct core_turncheck *tc);
/* Section "turn_check" ("TURN reachability"): server, transport, last result. */
void core_turncheck_report(const struct core_turncheck *tc, struct cw_report *r);
/* New settings (SIGHUP), for the checks from now on: a check running keeps
 * the old ones and the new ones apply after it. A periodic check comes a
 * few seconds later. 0, or -1 with err (the settings do not change). */
int core_turncheck_reload(struct core_turncheck *tc, const struct core_turncheck_config *cfg,
                          char *err, size_t errlen);
/* Stops; a check in progress is abandoned (its callbacks are not called). */
void core_turncheck_close(struct core_turncheck *tc);

const char *core_turncheck_verdict_name(enum core_turncheck_verdict v);   /* "ok", "no response", ... */

#endif
