/* turncheck_int.h - the pieces of the TURN reachability check behind
 * core/turncheck.h: the credential and the operator's texts (pure, unit
 * tested), the STUN probe and the libnice gathering. The probe and the
 * gathering block and run on the check's own thread, never on the loop. */
#ifndef CORE_TURNCHECK_INT_H
#define CORE_TURNCHECK_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "core/turncheck.h"

/* The name part of the REST credential that the check makes for itself; the
 * edge counts quotas and status lines by it. */
#define CORE_TURNCHECK_REST_NAME "core-check"
/* How long that credential stays valid: room for clocks a little apart. */
#define CORE_TURNCHECK_REST_TTL 600

/* The credential a check presents: the configured user and password, or a
 * REST credential "EXPIRY:core-check" made from the secret at now. */
struct core_turncheck__cred {
    char user[160];
    char pass[128];
};

/* Fills c from cfg. -1 when the secret cannot be used (HMAC failure). */
int core_turncheck__cred_make(const struct core_turncheck_config *cfg, time_t now,
                              struct core_turncheck__cred *c);
/* Wipes a credential (it holds a password). */
void core_turncheck__cred_wipe(struct core_turncheck__cred *c);

/* "198.18.0.1:3478 (udp)": how every line names the server. */
void core_turncheck__server_name(const struct core_turncheck_config *cfg, char *out, size_t len);

/* The verdict and the operator's one line for a STUN error answer to the
 * authenticated Allocate: 401 is AUTH, everything else ERROR. user is what
 * the check presented (never a password). */
enum core_turncheck_verdict core_turncheck__why_error(const struct core_turncheck_config *cfg,
                                                      const char *user, int code,
                                                      const char *reason, char *why,
                                                      size_t len);
/* The why of a check that heard nothing: err 0 for a plain timeout, else an
 * errno (ECONNREFUSED: nothing listens; EHOSTUNREACH, ENETUNREACH ...). */
void core_turncheck__why_silent(const struct core_turncheck_config *cfg, int err, char *why,
                                size_t len);

/* What the probe found. On OK: rtt, mapped and the relay the probe itself
 * got (already released), and local, the address the core used, which the
 * libnice agent then gathers on. */
struct core_turncheck__probe {
    enum core_turncheck_verdict verdict;
    double rtt_ms;
    char mapped[64];
    char relay[64];
    char realm[128];
    char why[256];
    struct sockaddr_storage local;
};

/* The diagnostic probe (core/turncheck_probe.c): unauthenticated Allocate
 * (expects 401 with REALM and NONCE), authenticated Allocate, Refresh with
 * lifetime 0. Blocks for at most about 2 x cfg->timeout_ms; returns early
 * when *cancel becomes non-zero (the result is then meaningless). */
void core_turncheck__probe_run(const struct core_turncheck_config *cfg,
                               const struct core_turncheck__cred *cred, atomic_int *cancel,
                               struct core_turncheck__probe *out);

/* The libnice part (core/turncheck_nice.c): one force-relay agent on a
 * private GMainContext of the calling thread, gathering on local with the
 * configured relay. Returns 0 with the relay candidate's "ip:port" in relay,
 * 1 when gathering finished with no relay candidate, -1 when it did not
 * finish in cfg->timeout_ms or could not start (err says which). The TURN
 * allocation is released (nice_agent_close_async) before it returns. */
int core_turncheck__nice_run(const struct core_turncheck_config *cfg,
                             const struct core_turncheck__cred *cred,
                             const struct sockaddr *local, atomic_int *cancel, char *relay,
                             size_t relaylen, char *err, size_t errlen);

#endif
