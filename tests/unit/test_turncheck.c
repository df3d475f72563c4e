/* test_turncheck.c - the TURN check's pure parts: the credential it presents
 * (long-term, or a REST credential made from the secret) and the one line it
 * gives the operator for each outcome. The REST password was computed
 * independently with python3 hmac/base64. */
#include "test.h"

#include "common/addr.h"
#include "core/turncheck_int.h"

#include <errno.h>

static void cfg_init(struct core_turncheck_config *c, int tcp)
{
    memset(c, 0, sizeof(*c));
    c->enabled = 1;
    cw_addr_parse("198.18.0.1", 3478, &c->server);
    c->tcp = tcp;
    c->timeout_ms = 5000;
    c->interval_s = 300;
}

TEST(turncheck_cred_longterm)
{
    struct core_turncheck_config c;
    struct core_turncheck__cred cr;

    cfg_init(&c, 0);
    snprintf(c.username, sizeof(c.username), "alice");
    snprintf(c.password, sizeof(c.password), "tern-Quill-42");
    CHECK_EQ(core_turncheck__cred_make(&c, 1700000000, &cr), 0);
    CHECK_STR(cr.user, "alice");
    CHECK_STR(cr.pass, "tern-Quill-42");
    core_turncheck__cred_wipe(&cr);
    CHECK_EQ(cr.pass[0], 0);
}

TEST(turncheck_cred_rest)
{
    struct core_turncheck_config c;
    struct core_turncheck__cred cr;

    cfg_init(&c, 0);
    snprintf(c.rest_secret, sizeof(c.rest_secret), "south-wind");
    CHECK_EQ(core_turncheck__cred_make(&c, 1700000000, &cr), 0);
    /* expiry = now + CORE_TURNCHECK_REST_TTL (600), the name "core-check" */
    CHECK_STR(cr.user, "1700000600:core-check");
    CHECK_STR(cr.pass, "b9E3GhNR5z4UtYA+0CbCJ8hkPc8=");
}

TEST(turncheck_server_name)
{
    struct core_turncheck_config c;
    char buf[96];

    cfg_init(&c, 1);
    core_turncheck__server_name(&c, buf, sizeof(buf));
    CHECK_STR(buf, "198.18.0.1:3478 (tcp)");
    cw_addr_parse("[2001:db8::1]:3479", 0, &c.server);
    c.tcp = 0;
    core_turncheck__server_name(&c, buf, sizeof(buf));
    CHECK_STR(buf, "[2001:db8::1]:3479 (udp)");
}

TEST(turncheck_why_401)
{
    struct core_turncheck_config c;
    char why[256];

    cfg_init(&c, 0);
    CHECK_EQ(core_turncheck__why_error(&c, "alice", 401, "Unauthorized", why, sizeof(why)),
             CORE_TURNCHECK_AUTH);
    CHECK_STR(why, "401 integrity check failed for user \"alice\": wrong username or password "
                   "(or REST secret) in [turn] of core.conf; compare with the edge's users");
}

TEST(turncheck_why_codes)
{
    static const struct { int code; const char *reason, *want; } cases[] = {
        { 486, "Allocation Quota Reached",
          "486 Allocation Quota Reached for user \"bob\" on 198.18.0.1:3478 (udp): the user's "
          "other allocations use up the edge's max-allocations-per-user; raise it or give the "
          "check its own user" },
        { 508, "", /* no reason phrase on the wire: the RFC's */
          "508 Insufficient Capacity on 198.18.0.1:3478 (udp): no relay port free on the edge "
          "(max-allocations or relay-ports used up, or the ports held by other programs)" },
        { 403, "Forbidden",
          "403 Forbidden from 198.18.0.1:3478 (udp) for user \"bob\": the edge refused the "
          "allocation; its log says why" },
        { 438, "Stale Nonce",
          "438 Stale Nonce from 198.18.0.1:3478 (udp) twice in a row: the edge rejects its own "
          "fresh nonce (is more than one server answering on that address?)" },
        { 437, "Allocation Mismatch",
          "437 Allocation Mismatch from 198.18.0.1:3478 (udp): the edge holds another "
          "allocation for the check's address and port; the next check uses a new port" },
        { 599, "Odd",
          "599 Odd from 198.18.0.1:3478 (udp) for user \"bob\": see the edge's log" },
    };
    struct core_turncheck_config c;
    char why[256];

    cfg_init(&c, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(core_turncheck__why_error(&c, "bob", cases[i].code, cases[i].reason, why,
                                           sizeof(why)), CORE_TURNCHECK_ERROR);
        CHECK_STR(why, cases[i].want);
    }
}

TEST(turncheck_why_silent)
{
    struct core_turncheck_config c;
    char why[256];

    cfg_init(&c, 0);
    core_turncheck__why_silent(&c, 0, why, sizeof(why));
    CHECK_STR(why, "no response from 198.18.0.1:3478 (udp) in 5 s: is UDP 3478 open from the "
                   "core to the edge's internal address?");
    c.timeout_ms = 1500;
    c.tcp = 1;
    core_turncheck__why_silent(&c, 0, why, sizeof(why));
    CHECK_STR(why, "no response from 198.18.0.1:3478 (tcp) in 1500 ms: is TCP 3478 open from "
                   "the core to the edge's internal address?");
    core_turncheck__why_silent(&c, ECONNREFUSED, why, sizeof(why));
    CHECK(strstr(why, "no response from 198.18.0.1:3478 (tcp): connection refused (TCP reset)"));
    c.tcp = 0;
    core_turncheck__why_silent(&c, ECONNREFUSED, why, sizeof(why));
    CHECK(strstr(why, "(ICMP port unreachable): nothing listens there"));
}

TEST(turncheck_verdict_names)
{
    CHECK_STR(core_turncheck_verdict_name(CORE_TURNCHECK_OK), "ok");
    CHECK_STR(core_turncheck_verdict_name(CORE_TURNCHECK_NO_RESPONSE), "no response");
    CHECK_STR(core_turncheck_verdict_name(CORE_TURNCHECK_AUTH), "auth");
    CHECK_STR(core_turncheck_verdict_name(CORE_TURNCHECK_ERROR), "error");
    CHECK_STR(core_turncheck_verdict_name(CORE_TURNCHECK_NO_RELAY), "no relay");
}
