/* nice_pair.c - two libnice ICE agents in one process that may only talk
 * through a TURN server (force-relay): checks the relay candidates, the
 * relay-relay selected pair and data both ways, for the integration tests.
 *
 * usage: nice_pair -s SERVER -p PORT -u USER -w PASS -a ADDR1 -b ADDR2
 *                  [-t] [-r RELAY_ADDR] [-n MESSAGES] [-l BYTES]
 *                  [-H SECONDS] [-q FILE] [-T SECONDS]
 *   -t   TURN over TCP (default UDP)
 *   -r   the relay address the candidates must carry (default: SERVER)
 *   -H   after the data exchange, keep the session up for up to SECONDS
 *        (prints "holding session" first), ended early when FILE (-q) exists
 *   -T   the limit for each phase (gathering, ICE, data); default 20
 *
 * At the end both agents release their TURN allocations (nice_agent_close_async:
 * Refresh with lifetime 0) before they are freed.
 *
 * Output: one line per relay candidate and selected pair, then
 * "nice_pair: ok: ..." and exit 0; or "nice_pair: FAIL: <what failed>" on
 * stderr and exit 1 (2 for bad usage).
 *
 * Each message carries its direction, its sequence number and a pattern
 * derived from both, so the receiver can tell lost, duplicated, misrouted and
 * corrupted messages apart. The sender keeps at most WINDOW messages in
 * flight per direction (acknowledged by the receiver's count), so a burst
 * cannot overrun a socket buffer and turn into a false "lost". */
#include <nice/agent.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 16
#define HDR 5 /* direction byte + 32-bit sequence number */

struct side {
    const char *name;       /* "agent1", "agent2" */
    NiceAgent *agent;
    guint stream;
    int gathered;           /* candidate-gathering-done seen */
    NiceComponentState state;
    struct side *peer;
    struct pair *P;
    /* what this side received from its peer */
    unsigned char *seen;    /* one byte per sequence number */
    unsigned got, dups, corrupt, misrouted;
    unsigned sent;          /* messages this side has sent */
    int closed;             /* nice_agent_close_async finished */
};

struct pair {
    struct side s[2];
    const char *server, *relay_addr;
    unsigned port;
    NiceRelayType relay_type;
    unsigned nmsg, msglen, phase_s;
    const char *release_file; /* -q: ends the hold when it exists */
    int timed_out;          /* set by the phase timer */
};

static void fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "nice_pair: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const char *state_name(NiceComponentState st)
{
    return nice_component_state_to_string(st);
}

static const char *cand_type_name(NiceCandidateType t)
{
    switch (t) {
    case NICE_CANDIDATE_TYPE_HOST: return "host";
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
    case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
    }
    return "?";
}

static const char *cand_str(const NiceCandidate *c, char *buf, size_t len)
{
    char a[NICE_ADDRESS_STRING_LEN];

    nice_address_to_string(&c->addr, a);
    snprintf(buf, len, "%s %s:%u", cand_type_name(c->type), a, nice_address_get_port(&c->addr));
    return buf;
}

/* ---- message pattern -------------------------------------------------------- */

static unsigned char pattern(unsigned dir, unsigned seq, unsigned i)
{
    return (unsigned char)(seq * 31u + i * 7u + dir * 101u);
}

static void msg_fill(unsigned char *buf, unsigned len, unsigned dir, unsigned seq)
{
    buf[0] = (unsigned char)dir;
    buf[1] = (unsigned char)(seq >> 24);
    buf[2] = (unsigned char)(seq >> 16);
    buf[3] = (unsigned char)(seq >> 8);
    buf[4] = (unsigned char)seq;
    for (unsigned i = HDR; i < len; i++)
        buf[i] = pattern(dir, seq, i);
}

/* The receiving side r checks a message that its peer sent. */
static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer data)
{
    struct side *r = data;
    const unsigned char *p = (const unsigned char *)buf;
    unsigned dir = (unsigned)(r->peer - r->P->s) + 1; /* the sender's number */
    unsigned seq;

    (void)agent;
    (void)stream;
    (void)comp;
    if (len != r->P->msglen || len < HDR) {
        r->corrupt++;
        return;
    }
    if (p[0] != dir) {
        r->misrouted++;
        return;
    }
    seq = (unsigned)p[1] << 24 | (unsigned)p[2] << 16 | (unsigned)p[3] << 8 | p[4];
    if (seq >= r->P->nmsg) {
        r->corrupt++;
        return;
    }
    for (unsigned i = HDR; i < len; i++)
        if (p[i] != pattern(dir, seq, i)) {
            r->corrupt++;
            return;
        }
    if (r->seen[seq]) {
        r->dups++;
        return;
    }
    r->seen[seq] = 1;
    r->got++;
}

/* ---- signals ------------------------------------------------------------------ */

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    struct side *s = data;

    (void)agent;
    (void)stream;
    s->gathered = 1;
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
    struct side *s = data;

    (void)agent;
    (void)stream;
    (void)comp;
    s->state = (NiceComponentState)state;
    printf("%s: component state %s\n", s->name, state_name(s->state));
}

/* ---- running the loop until something holds --------------------------------- */

static gboolean on_phase_timeout(gpointer data)
{
    ((struct pair *)data)->timed_out = 1;
    return G_SOURCE_REMOVE;
}

/* Iterates the default main context until done(P) or limit_ms passed.
 * Returns 1 when done, 0 on timeout. */
static int run_until(struct pair *P, int (*done)(struct pair *), guint limit_ms)
{
    guint id;

    if (done(P))
        return 1;
    P->timed_out = 0;
    id = g_timeout_add(limit_ms, on_phase_timeout, P);
    while (!done(P) && !P->timed_out)
        g_main_context_iteration(NULL, TRUE);
    if (!P->timed_out)
        g_source_remove(id);
    return done(P);
}

static int both_gathered(struct pair *P)
{
    return P->s[0].gathered && P->s[1].gathered;
}

static int failed_state(const struct side *s)
{
    return s->state == NICE_COMPONENT_STATE_FAILED;
}

static int both_ready_or_failed(struct pair *P)
{
    if (failed_state(&P->s[0]) || failed_state(&P->s[1]))
        return 1;
    return P->s[0].state == NICE_COMPONENT_STATE_READY &&
           P->s[1].state == NICE_COMPONENT_STATE_READY;
}

/* Sends what the window allows on both sides; done when all arrived. */
static int data_done(struct pair *P)
{
    unsigned char buf[65536];

    for (int i = 0; i < 2; i++) {
        struct side *s = &P->s[i];

        while (s->sent < P->nmsg && s->sent - s->peer->got < WINDOW) {
            msg_fill(buf, P->msglen, (unsigned)i + 1, s->sent);
            if (nice_agent_send(s->agent, s->stream, 1, P->msglen, (const gchar *)buf) !=
                (gint)P->msglen)
                break; /* would block (TURN over TCP): retried on the next wakeup */
            s->sent++;
        }
    }
    return P->s[0].got == P->nmsg && P->s[1].got == P->nmsg;
}

static gboolean on_tick(gpointer data)
{
    (void)data;
    return G_SOURCE_CONTINUE; /* only wakes the loop so blocked sends are retried */
}

static void on_closed(GObject *agent, GAsyncResult *res, gpointer data)
{
    (void)agent;
    (void)res;
    ((struct side *)data)->closed = 1;
}

static int both_closed(struct pair *P)
{
    return P->s[0].closed && P->s[1].closed;
}

/* Releases the TURN allocations (Refresh with lifetime 0) before the agents
 * go, so that the server is left clean; bounded by the phase limit. */
static void close_agents(struct pair *P)
{
    for (int i = 0; i < 2; i++) {
        if (P->s[i].agent)
            nice_agent_close_async(P->s[i].agent, on_closed, &P->s[i]);
        else
            P->s[i].closed = 1;
    }
    if (!run_until(P, both_closed, P->phase_s * 1000))
        fprintf(stderr, "nice_pair: warning: nice_agent_close_async did not finish within "
                        "%u s\n", P->phase_s);
    else
        printf("agents closed (TURN allocations released)\n");
}

static int released(struct pair *P)
{
    return P->release_file && g_file_test(P->release_file, G_FILE_TEST_EXISTS);
}

/* ---- set-up and checks ------------------------------------------------------- */

static int side_init(struct pair *P, struct side *s, const char *name, const char *local,
                     const char *user, const char *pass, int controlling)
{
    NiceAddress addr;

    s->name = name;
    s->P = P;
    s->state = NICE_COMPONENT_STATE_DISCONNECTED;
    s->seen = calloc(P->nmsg ? P->nmsg : 1, 1);
    if (!s->seen) {
        fail("out of memory");
        return -1;
    }
    s->agent = nice_agent_new(NULL, NICE_COMPATIBILITY_RFC5245);
    if (!s->agent) {
        fail("%s: nice_agent_new failed", name);
        return -1;
    }
    g_object_set(s->agent, "controlling-mode", controlling ? TRUE : FALSE, "force-relay", TRUE,
                 "upnp", FALSE, "ice-tcp", FALSE, NULL);
    if (!nice_address_set_from_string(&addr, local)) {
        fail("%s: \"%s\" is not an IP address", name, local);
        return -1;
    }
    if (!nice_agent_add_local_address(s->agent, &addr)) {
        fail("%s: cannot add local address %s", name, local);
        return -1;
    }
    s->stream = nice_agent_add_stream(s->agent, 1);
    if (!s->stream) {
        fail("%s: nice_agent_add_stream failed", name);
        return -1;
    }
    if (!nice_agent_set_relay_info(s->agent, s->stream, 1, P->server, P->port, user, pass,
                                   P->relay_type)) {
        fail("%s: nice_agent_set_relay_info refused %s:%u", name, P->server, P->port);
        return -1;
    }
    g_signal_connect(s->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), s);
    g_signal_connect(s->agent, "component-state-changed", G_CALLBACK(on_state), s);
    if (!nice_agent_attach_recv(s->agent, s->stream, 1, g_main_context_default(), on_recv, s)) {
        fail("%s: nice_agent_attach_recv failed", name);
        return -1;
    }
    return 0;
}

/* Prints the local candidates and checks that at least one is a relay
 * candidate on the expected relay address. */
static int check_relay_candidates(struct pair *P, struct side *s)
{
    GSList *l = nice_agent_get_local_candidates(s->agent, s->stream, 1), *i;
    NiceAddress want;
    char buf[NICE_ADDRESS_STRING_LEN + 32];
    unsigned relays = 0, good = 0;

    nice_address_set_from_string(&want, P->relay_addr);
    for (i = l; i; i = i->next) {
        const NiceCandidate *c = i->data;

        printf("%s: local candidate %s\n", s->name, cand_str(c, buf, sizeof(buf)));
        if (c->type != NICE_CANDIDATE_TYPE_RELAYED)
            continue;
        relays++;
        if (nice_address_equal_no_port(&c->addr, &want)) {
            good++;
            printf("%s: relay candidate on the relay address %s\n", s->name,
                   cand_str(c, buf, sizeof(buf)));
        }
    }
    g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
    if (!relays) {
        fail("%s: no relay candidate: TURN authentication or allocation failed "
             "(TURN/%s %s:%u)", s->name, P->relay_type == NICE_RELAY_TYPE_TURN_TCP ? "TCP" : "UDP",
             P->server, P->port);
        return -1;
    }
    if (!good) {
        fail("%s: %u relay candidate(s), none on the relay address %s", s->name, relays,
             P->relay_addr);
        return -1;
    }
    return 0;
}

/* Gives s's credentials and candidates to its peer. */
static int hand_over(struct side *s)
{
    gchar *ufrag = NULL, *pwd = NULL;
    GSList *l;
    int n, rc = 0;

    if (!nice_agent_get_local_credentials(s->agent, s->stream, &ufrag, &pwd) ||
        !nice_agent_set_remote_credentials(s->peer->agent, s->peer->stream, ufrag, pwd)) {
        fail("%s: credentials could not be handed over", s->name);
        rc = -1;
    }
    g_free(ufrag);
    g_free(pwd);
    if (rc < 0)
        return rc;
    l = nice_agent_get_local_candidates(s->agent, s->stream, 1);
    n = nice_agent_set_remote_candidates(s->peer->agent, s->peer->stream, 1, l);
    g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
    if (n < 1) {
        fail("%s: %s accepted none of its candidates", s->name, s->peer->name);
        return -1;
    }
    return 0;
}

static int check_selected_pair(struct side *s)
{
    NiceCandidate *lc = NULL, *rc = NULL;
    char lb[NICE_ADDRESS_STRING_LEN + 32], rb[NICE_ADDRESS_STRING_LEN + 32];

    if (!nice_agent_get_selected_pair(s->agent, s->stream, 1, &lc, &rc) || !lc || !rc) {
        fail("%s: no selected pair although READY", s->name);
        return -1;
    }
    printf("%s: selected pair local %s remote %s\n", s->name, cand_str(lc, lb, sizeof(lb)),
           cand_str(rc, rb, sizeof(rb)));
    if (lc->type != NICE_CANDIDATE_TYPE_RELAYED || rc->type != NICE_CANDIDATE_TYPE_RELAYED) {
        fail("%s: selected pair is %s-%s, not relay-relay", s->name, cand_type_name(lc->type),
             cand_type_name(rc->type));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nice_pair -s SERVER -p PORT -u USER -w PASS -a ADDR1 -b ADDR2 [-t]\n"
               "                 [-r RELAY_ADDR] [-n MESSAGES] [-l BYTES] [-H SECONDS]\n"
               "                 [-q FILE] [-T SECONDS]\n");
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);

    if (!*v || *end || n < lo || n > hi)
        return -1;
    *out = (unsigned)n;
    return 0;
}

int main(int argc, char **argv)
{
    struct pair P;
    const char *user = NULL, *pass = NULL, *a1 = NULL, *a2 = NULL;
    unsigned hold_s = 0;
    int opt, rc = 1;

    memset(&P, 0, sizeof(P));
    P.relay_type = NICE_RELAY_TYPE_TURN_UDP;
    P.nmsg = 200;
    P.msglen = 100;
    P.phase_s = 20;
    while ((opt = getopt(argc, argv, "s:p:u:w:a:b:tr:n:l:H:q:T:")) != -1) {
        switch (opt) {
        case 's': P.server = optarg; break;
        case 'p':
            if (parse_uint(optarg, 1, 65535, &P.port) < 0)
                goto bad;
            break;
        case 'u': user = optarg; break;
        case 'w': pass = optarg; break;
        case 'a': a1 = optarg; break;
        case 'b': a2 = optarg; break;
        case 't': P.relay_type = NICE_RELAY_TYPE_TURN_TCP; break;
        case 'r': P.relay_addr = optarg; break;
        case 'n':
            if (parse_uint(optarg, 1, 1000000, &P.nmsg) < 0)
                goto bad;
            break;
        case 'l':
            if (parse_uint(optarg, 8, 1200, &P.msglen) < 0)
                goto bad;
            break;
        case 'H':
            if (parse_uint(optarg, 0, 3600, &hold_s) < 0)
                goto bad;
            break;
        case 'q': P.release_file = optarg; break;
        case 'T':
            if (parse_uint(optarg, 1, 3600, &P.phase_s) < 0)
                goto bad;
            break;
        default:
            goto bad;
        }
    }
    if (optind != argc || !P.server || !P.port || !user || !pass || !a1 || !a2)
        goto bad;
    if (!P.relay_addr)
        P.relay_addr = P.server;
    setvbuf(stdout, NULL, _IOLBF, 0);

    P.s[0].peer = &P.s[1];
    P.s[1].peer = &P.s[0];
    if (side_init(&P, &P.s[0], "agent1", a1, user, pass, 1) < 0 ||
        side_init(&P, &P.s[1], "agent2", a2, user, pass, 0) < 0)
        goto out;

    /* 1. Gathering. A failed TURN allocation does not fail gathering: it
     * completes with no relay candidate, which check_relay_candidates sees. */
    for (int i = 0; i < 2; i++)
        if (!nice_agent_gather_candidates(P.s[i].agent, P.s[i].stream)) {
            fail("%s: nice_agent_gather_candidates failed (local address not usable?)",
                 P.s[i].name);
            goto out;
        }
    if (!run_until(&P, both_gathered, P.phase_s * 1000)) {
        fail("candidate gathering not done after %u s (agent1 %s, agent2 %s)", P.phase_s,
             P.s[0].gathered ? "done" : "pending", P.s[1].gathered ? "done" : "pending");
        goto out;
    }
    {
        int bad1 = check_relay_candidates(&P, &P.s[0]) < 0;
        int bad2 = check_relay_candidates(&P, &P.s[1]) < 0; /* both reported */

        if (bad1 || bad2)
            goto out;
    }

    /* 2. ICE through the relays. */
    if (hand_over(&P.s[0]) < 0 || hand_over(&P.s[1]) < 0)
        goto out;
    if (!run_until(&P, both_ready_or_failed, P.phase_s * 1000)) {
        fail("ICE not READY after %u s (agent1 %s, agent2 %s)", P.phase_s,
             state_name(P.s[0].state), state_name(P.s[1].state));
        goto out;
    }
    if (failed_state(&P.s[0]) || failed_state(&P.s[1])) {
        fail("ICE failed (agent1 %s, agent2 %s): no relay-relay check succeeded (peer "
             "refused by the TURN server? see its log)", state_name(P.s[0].state),
             state_name(P.s[1].state));
        goto out;
    }
    if (check_selected_pair(&P.s[0]) < 0 || check_selected_pair(&P.s[1]) < 0)
        goto out;

    /* 3. Data both ways. */
    {
        guint tick = g_timeout_add(10, on_tick, NULL);
        int done = run_until(&P, data_done, P.phase_s * 1000);

        g_source_remove(tick);
        for (int i = 0; i < 2; i++) {
            struct side *r = &P.s[i];

            printf("data %s->%s: sent %u, received %u intact of %u, %u corrupt, %u duplicate, "
                   "%u misrouted\n", r->peer->name, r->name, r->peer->sent, r->got, P.nmsg,
                   r->corrupt, r->dups, r->misrouted);
        }
        if (!done) {
            fail("data: not every message arrived within %u s (agent1->agent2 %u/%u, "
                 "agent2->agent1 %u/%u)", P.phase_s, P.s[1].got, P.nmsg, P.s[0].got, P.nmsg);
            goto out;
        }
        if (P.s[0].corrupt || P.s[1].corrupt || P.s[0].dups || P.s[1].dups ||
            P.s[0].misrouted || P.s[1].misrouted) {
            fail("data: corrupt, duplicate or misrouted messages (see the data lines)");
            goto out;
        }
    }
    printf("nice_pair: ok: relay-relay over TURN/%s %s:%u, %u messages of %u bytes each way "
           "intact\n", P.relay_type == NICE_RELAY_TYPE_TURN_TCP ? "TCP" : "UDP", P.server,
           P.port, P.nmsg, P.msglen);

    /* 4. Optionally hold the session so that a test can look at the server. */
    if (hold_s) {
        guint tick = g_timeout_add(50, on_tick, NULL);

        printf("holding session for up to %u s%s%s\n", hold_s,
               P.release_file ? " or until " : "", P.release_file ? P.release_file : "");
        run_until(&P, released, hold_s * 1000);
        g_source_remove(tick);
        if (failed_state(&P.s[0]) || failed_state(&P.s[1])) {
            fail("the session failed while held (agent1 %s, agent2 %s)",
                 state_name(P.s[0].state), state_name(P.s[1].state));
            goto out;
        }
        printf("hold ended\n");
    }
    rc = 0;
out:
    close_agents(&P);
    for (int i = 0; i < 2; i++) {
        if (P.s[i].agent)
            g_object_unref(P.s[i].agent);
        free(P.s[i].seen);
    }
    return rc;
bad:
    usage(stderr);
    return 2;
}
