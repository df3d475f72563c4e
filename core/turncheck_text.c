/* turncheck_text.c - what the TURN check presents and what it tells the
 * operator: the credential (long-term or REST) and one line per outcome. No
 * I/O here, so that the unit tests can pin every text. */
#include "core/turncheck_int.h"

#include "common/addr.h"
#include "turn/auth.h"
#include "turn/stun.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *core_turncheck_verdict_name(enum core_turncheck_verdict v)
{
    switch (v) {
    case CORE_TURNCHECK_OK: return "ok";
    case CORE_TURNCHECK_NO_RESPONSE: return "no response";
    case CORE_TURNCHECK_AUTH: return "auth";
    case CORE_TURNCHECK_ERROR: return "error";
    case CORE_TURNCHECK_NO_RELAY: return "no relay";
    }
    return "?";
}

int core_turncheck__cred_make(const struct core_turncheck_config *cfg, time_t now,
                              struct core_turncheck__cred *c)
{
    memset(c, 0, sizeof(*c));
    if (!cfg->rest_secret[0]) {
        snprintf(c->user, sizeof(c->user), "%s", cfg->username);
        snprintf(c->pass, sizeof(c->pass), "%s", cfg->password);
        return 0;
    }
    /* coturn's use-auth-secret scheme, as the edge checks it (turn/auth.c):
     * the expiry travels in the name, the password is the MAC of the name. */
    snprintf(c->user, sizeof(c->user), "%lld:%s", (long long)now + CORE_TURNCHECK_REST_TTL,
             CORE_TURNCHECK_REST_NAME);
    if (turn_rest_password((const uint8_t *)cfg->rest_secret, strlen(cfg->rest_secret), c->user,
                           strlen(c->user), c->pass, sizeof(c->pass)) < 0) {
        core_turncheck__cred_wipe(c);
        return -1;
    }
    return 0;
}

void core_turncheck__cred_wipe(struct core_turncheck__cred *c)
{
    volatile char *p = (volatile char *)c;

    for (size_t i = 0; i < sizeof(*c); i++)
        p[i] = 0;
}

void core_turncheck__server_name(const struct core_turncheck_config *cfg, char *out, size_t len)
{
    char a[CW_ADDR_STRLEN];

    cw_addr_fmt((const struct sockaddr *)&cfg->server, a, sizeof(a), 1);
    snprintf(out, len, "%s (%s)", a, cfg->tcp ? "tcp" : "udp");
}

enum core_turncheck_verdict core_turncheck__why_error(const struct core_turncheck_config *cfg,
                                                      const char *user, int code,
                                                      const char *reason, char *why,
                                                      size_t len)
{
    char srv[CW_ADDR_STRLEN + 8];

    core_turncheck__server_name(cfg, srv, sizeof(srv));
    if (!reason || !*reason)
        reason = stun_reason(code);
    switch (code) {
    case 401:
        snprintf(why, len, "401 integrity check failed for user \"%s\": wrong username or "
                 "password (or REST secret) in [turn] of core.conf; compare with the edge's "
                 "users", user);
        return CORE_TURNCHECK_AUTH;
    case 403:
        snprintf(why, len, "403 %s from %s for user \"%s\": the edge refused the allocation; "
                 "its log says why", reason, srv, user);
        break;
    case 437:
        snprintf(why, len, "437 %s from %s: the edge holds another allocation for the check's "
                 "address and port; the next check uses a new port", reason, srv);
        break;
    case 438:
        snprintf(why, len, "438 %s from %s twice in a row: the edge rejects its own fresh "
                 "nonce (is more than one server answering on that address?)", reason, srv);
        break;
    case 441:
        snprintf(why, len, "441 %s from %s for user \"%s\": the credential does not match the "
                 "allocation's", reason, srv, user);
        break;
    case 442:
        snprintf(why, len, "442 %s from %s: the edge does not relay UDP", reason, srv);
        break;
    case 486:
        snprintf(why, len, "486 %s for user \"%s\" on %s: the user's other allocations use up "
                 "the edge's max-allocations-per-user; raise it or give the check its own user",
                 reason, user, srv);
        break;
    case 508:
        snprintf(why, len, "508 %s on %s: no relay port free on the edge (max-allocations or "
                 "relay-ports used up, or the ports held by other programs)", reason, srv);
        break;
    default:
        snprintf(why, len, "%d %s from %s for user \"%s\": see the edge's log", code, reason,
                 srv, user);
        break;
    }
    return CORE_TURNCHECK_ERROR;
}

void core_turncheck__why_silent(const struct core_turncheck_config *cfg, int err, char *why,
                                size_t len)
{
    char srv[CW_ADDR_STRLEN + 8];
    unsigned ms = cfg->timeout_ms;

    core_turncheck__server_name(cfg, srv, sizeof(srv));
    if (!err) {
        /* Whole seconds read better, but a short test timeout must not say "0 s". */
        if (ms % 1000 == 0)
            snprintf(why, len, "no response from %s in %u s: is %s %u open from the core to "
                     "the edge's internal address?", srv, ms / 1000, cfg->tcp ? "TCP" : "UDP",
                     cw_addr_port((const struct sockaddr *)&cfg->server));
        else
            snprintf(why, len, "no response from %s in %u ms: is %s %u open from the core to "
                     "the edge's internal address?", srv, ms, cfg->tcp ? "TCP" : "UDP",
                     cw_addr_port((const struct sockaddr *)&cfg->server));
        return;
    }
    if (err == ECONNREFUSED)
        snprintf(why, len, "no response from %s: connection refused (%s): nothing listens "
                 "there; is causeway-edge running, and is server = its internal address?", srv,
                 cfg->tcp ? "TCP reset" : "ICMP port unreachable");
    else
        snprintf(why, len, "no response from %s: %s: check the route and the firewalls between "
                 "the core and the edge", srv, strerror(err));
}
