/* test_state.c - the XMPP service's replicated state (xmpp/state.c) and
 * addresses (xmpp/jid.c): commands, their checks, snapshots, and the RFC
 * 6121 subscription transitions applied in log order. */
#include "test.h"

#include "xmpp/jid.h"
#include "xmpp/sasl.h"
#include "xmpp/state.h"

static char err[512];

static void apply_ok(struct xmpp_state *st, const char *cmd)
{
    if (xmpp_state_apply(st, cmd, err, sizeof(err)) != 0)
        FAIL("%s: %s", cmd, err);
}

static const char *sub_of(struct xmpp_state *st, const char *owner, const char *contact,
                          int *ask)
{
    struct xmpp_roster_item it;

    if (!xmpp_state_roster_item(st, owner, contact, &it))
        return "(none)";
    *ask = it.ask;
    return xmpp_sub_name(it.sub);
}

static struct xmpp_state *with_users(void)
{
    struct xmpp_state *st = xmpp_state_new();
    struct sasl_cred c256, c1;
    struct cw_sb a, b, cmd;

    CHECK(st);
    apply_ok(st, "domain-add example.test");
    CHECK(sasl_cred_make(SASL_SHA256, "pw", SASL_ITER_MIN, &c256) == 0);
    CHECK(sasl_cred_make(SASL_SHA1, "pw", SASL_ITER_MIN, &c1) == 0);
    cw_sb_init(&a);
    cw_sb_init(&b);
    cw_sb_init(&cmd);
    sasl_cred_format(&c256, &a);
    sasl_cred_format(&c1, &b);
    cw_sb_printf(&cmd, "user-set example.test alice %s %s", a.s, b.s);
    apply_ok(st, cmd.s);
    cw_sb_free(&a);
    cw_sb_free(&b);
    cw_sb_free(&cmd);
    return st;
}

TEST(state_checks_commands)
{
    struct xmpp_state *st = with_users();

    CHECK(xmpp_state_user_cred(st, "example.test", "alice", 256) != NULL);
    CHECK(xmpp_state_user_cred(st, "example.test", "alice", 1) != NULL);
    CHECK(xmpp_state_apply(st, "user-set other.test bob x y", err, sizeof(err)) < 0);
    CHECK(xmpp_state_apply(st, "domain-add not_a_domain!", err, sizeof(err)) < 0);
    CHECK(xmpp_state_apply(st, "comp-set cb1.example.test short", err, sizeof(err)) < 0);
    CHECK(xmpp_state_apply(st, "frobnicate-now x", err, sizeof(err)) < 0);
    CHECK(xmpp_state_apply(st, "session-add alice@example.test node1", err, sizeof(err)) < 0);
    apply_ok(st, "comp-set cb1.example.test secret123");
    CHECK_STR(xmpp_state_component_secret(st, "cb1.example.test"), "secret123");
    /* A domain goes with its users. */
    apply_ok(st, "domain-del example.test");
    CHECK(xmpp_state_user_cred(st, "example.test", "alice", 256) == NULL);
    xmpp_state_free(st);
}

TEST(state_sessions_belong_to_their_node)
{
    struct xmpp_state *st = with_users();

    apply_ok(st, "session-add alice@example.test/a node1");
    apply_ok(st, "session-add alice@example.test/b node2");
    CHECK_STR(xmpp_state_session_node(st, "alice@example.test/a"), "node1");
    /* Another node cannot remove it; a node's restart clears only its own. */
    CHECK(xmpp_state_apply(st, "session-del alice@example.test/a node2", err, sizeof(err)) < 0);
    apply_ok(st, "session-clear node1");
    CHECK(xmpp_state_session_node(st, "alice@example.test/a") == NULL);
    CHECK_STR(xmpp_state_session_node(st, "alice@example.test/b"), "node2");
    apply_ok(st, "comproute-set cb1.example.test node2");
    CHECK_STR(xmpp_state_comp_node(st, "cb1.example.test"), "node2");
    apply_ok(st, "comproute-clear node2");
    CHECK(xmpp_state_comp_node(st, "cb1.example.test") == NULL);
    xmpp_state_free(st);
}

TEST(state_snapshot_round_trip)
{
    struct xmpp_state *st = with_users(), *copy = xmpp_state_new();
    struct cw_sb a, b;

    apply_ok(st, "comp-set cb1.example.test secret123");
    apply_ok(st, "roster-name alice@example.test bob@example.test - Bob%20Smith");
    apply_ok(st, "node-set core1 12345 192.0.2.1:4000");
    cw_sb_init(&a);
    cw_sb_init(&b);
    xmpp_state_dump(st, &a);
    CHECK(xmpp_state_load(copy, a.s, err, sizeof(err)) == 0);
    xmpp_state_dump(copy, &b);
    CHECK_STR(a.s, b.s);
    {
        struct xmpp_roster_item it;
        CHECK(xmpp_state_roster_item(copy, "alice@example.test", "bob@example.test", &it));
        CHECK_STR(it.name, "Bob Smith");
    }
    CHECK(xmpp_state_load(copy, "domain-add example.test\nbogus-line here\n", err,
                          sizeof(err)) < 0);
    CHECK(strstr(err, "line 2") != NULL);
    cw_sb_free(&a);
    cw_sb_free(&b);
    xmpp_state_free(st);
    xmpp_state_free(copy);
}

/* RFC 6121 3: alice subscribes to bob, bob approves, bob subscribes back,
 * alice approves: both items end "both"; events of the two owners are
 * independent of the order they are applied in. */
TEST(state_subscription_events)
{
    struct xmpp_state *st = with_users();
    const char *A = "alice@example.test", *B = "bob@example.test";
    char cmd[256];
    int ask = -1;

#define EV(owner, contact, dir, ev)                                                     \
    do {                                                                            \
        snprintf(cmd, sizeof(cmd), "roster-event %s %s %s %s", owner, contact, dir, ev); \
        apply_ok(st, cmd);                                                          \
    } while (0)
    EV(A, B, "out", "subscribe");
    CHECK_STR(sub_of(st, A, B, &ask), "none");
    CHECK_EQ(ask, 1);
    EV(B, A, "in", "subscribe");   /* a request alone makes no item for bob */
    CHECK_STR(sub_of(st, B, A, &ask), "(none)");
    EV(B, A, "out", "subscribed");
    CHECK_STR(sub_of(st, B, A, &ask), "from");
    EV(A, B, "in", "subscribed");
    CHECK_STR(sub_of(st, A, B, &ask), "to");
    CHECK_EQ(ask, 0);
    /* The other way, with the answer applied before alice's approval of
     * her own item: order between owners does not matter. */
    EV(B, A, "out", "subscribe");
    EV(B, A, "in", "subscribed");
    EV(A, B, "out", "subscribed");
    CHECK_STR(sub_of(st, A, B, &ask), "both");
    CHECK_STR(sub_of(st, B, A, &ask), "both");
    /* Unsubscribe: bob stops seeing alice; alice's item loses "from". */
    EV(B, A, "out", "unsubscribe");
    EV(A, B, "in", "unsubscribe");
    CHECK_STR(sub_of(st, B, A, &ask), "from");
    CHECK_STR(sub_of(st, A, B, &ask), "to");
    /* A name change keeps the subscription. */
    apply_ok(st, "roster-name alice@example.test bob@example.test - Bobby");
    CHECK_STR(sub_of(st, A, B, &ask), "to");
    CHECK(xmpp_state_apply(st, "roster-event alice@example.test bob@example.test out jump",
                           err, sizeof(err)) < 0);
#undef EV
    xmpp_state_free(st);
}

/* A roster holds at most XMPP_ROSTER_MAX items: approvals from anyone and
 * names set for new contacts past that are applied as nothing, while the
 * items it has still change and other rosters are not affected. */
TEST(state_roster_is_bounded)
{
    struct xmpp_state *st = with_users();
    const char *A = "alice@example.test";
    char cmd[256];
    int ask = -1;

    CHECK(!xmpp_state_roster_full(st, A, "x0@remote.example"));
    for (int i = 0; i < XMPP_ROSTER_MAX; i++) {
        snprintf(cmd, sizeof(cmd), "roster-event %s x%d@remote.example in subscribed", A, i);
        apply_ok(st, cmd);
    }
    CHECK(xmpp_state_roster_full(st, A, "late@remote.example"));
    CHECK(!xmpp_state_roster_full(st, A, "x7@remote.example"));     /* has an item */
    CHECK(!xmpp_state_roster_full(st, "bob@example.test", "late@remote.example"));
    apply_ok(st, "roster-event alice@example.test late@remote.example in subscribed");
    apply_ok(st, "roster-name alice@example.test late2@remote.example - Late");
    CHECK_STR(sub_of(st, A, "late@remote.example", &ask), "(none)");
    CHECK_STR(sub_of(st, A, "late2@remote.example", &ask), "(none)");
    apply_ok(st, "roster-event alice@example.test x7@remote.example out subscribed");
    CHECK_STR(sub_of(st, A, "x7@remote.example", &ask), "both");
    apply_ok(st, "roster-del alice@example.test x7@remote.example");
    apply_ok(st, "roster-name alice@example.test late2@remote.example - Late");
    CHECK_STR(sub_of(st, A, "late2@remote.example", &ask), "none");
    apply_ok(st, "roster-event bob@example.test late@remote.example in subscribed");
    CHECK_STR(sub_of(st, "bob@example.test", "late@remote.example", &ask), "to");
    xmpp_state_free(st);
}

/* ---- the tables against a model: an array in the order rows were added ---- */

struct model_row {
    char key[64], val[64];   /* roster: owner contact / sub; session: fulljid / node */
};

struct model {
    struct model_row r[512];
    int n;
};

static struct model_row *model_find(struct model *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->r[i].key, key))
            return &m->r[i];
    return NULL;
}

static void model_set(struct model *m, const char *key, const char *val)
{
    struct model_row *r = model_find(m, key);

    if (!r) {
        r = &m->r[m->n++];
        snprintf(r->key, sizeof(r->key), "%s", key);
    }
    snprintf(r->val, sizeof(r->val), "%s", val);
}

/* Removes the rows whose key starts with prefix (all of it when whole)
 * and, when val is not NULL, whose value is val. The count. */
static int model_del(struct model *m, const char *prefix, int whole, const char *val)
{
    int j = 0, gone = 0;

    for (int i = 0; i < m->n; i++) {
        const char *k = m->r[i].key;
        int hit = (whole ? !strcmp(k, prefix) : !strncmp(k, prefix, strlen(prefix))) &&
                  (!val || !strcmp(m->r[i].val, val));
        if (hit)
            gone++;
        else
            m->r[j++] = m->r[i];
    }
    m->n = j;
    return gone;
}

static int list_roster(void *arg, const struct xmpp_roster_item *it)
{
    cw_sb_printf(arg, "%s %s %s\n", it->owner, it->contact, xmpp_sub_name(it->sub));
    return 0;
}

static int list_sessions(void *arg, const char *fulljid, const char *node)
{
    cw_sb_printf(arg, "%s %s\n", fulljid, node);
    return 0;
}

/* What the state lists for owner (or bare JID), and the model's rows
 * starting with prefix, in their order. */
static void model_list(const struct model *m, const char *prefix, struct cw_sb *out)
{
    for (int i = 0; i < m->n; i++)
        if (!strncmp(m->r[i].key, prefix, strlen(prefix)))
            cw_sb_printf(out, "%s %s\n", m->r[i].key, m->r[i].val);
}

static void compare(struct xmpp_state *st, const struct model *roster, const struct model *sess)
{
    char who[64];
    struct cw_sb a, b;

    for (int u = 0; u < 6; u++) {
        cw_sb_init(&a);
        cw_sb_init(&b);
        snprintf(who, sizeof(who), "u%d@example.test", u);
        xmpp_state_roster(st, who, list_roster, &a);
        CHECK(strlen(who) < sizeof(who) - 1);
        strcat(who, " ");
        model_list(roster, who, &b);
        CHECK_STR(a.len ? a.s : "", b.len ? b.s : "");
        cw_sb_free(&a);
        cw_sb_free(&b);
        cw_sb_init(&a);
        cw_sb_init(&b);
        snprintf(who, sizeof(who), "u%d@example.test", u);
        xmpp_state_sessions(st, who, list_sessions, &a);
        strcat(who, "/");
        model_list(sess, who, &b);
        CHECK_STR(a.len ? a.s : "", b.len ? b.s : "");
        cw_sb_free(&a);
        cw_sb_free(&b);
    }
}

/* Thousands of random roster and session changes, with many replacing or
 * removing rows in the middle: every owner's listing, and the snapshot, keep
 * the order the rows were added in, exactly as an array would. */
TEST(state_tables_keep_order)
{
    struct xmpp_state *st = with_users(), *copy = xmpp_state_new();
    static struct model roster, sess;
    static const char *const subs[] = { "none", "to", "from", "both" };
    unsigned x = 12345;
    char cmd[256], key[64], want[256];
    struct cw_sb a, b, want_dump;

    roster.n = sess.n = 0;
#define RND(n) ((x = x * 1103515245u + 12345u) >> 16) % (n)
    for (int i = 0; i < 20000; i++) {
        unsigned op = RND(10), u = RND(6), c = RND(40), node = RND(3);
        const char *sub = subs[RND(4)];
        if (op < 4) {
            snprintf(cmd, sizeof(cmd), "roster-set u%u@example.test c%u@example.test %s - -", u,
                     c, sub);
            snprintf(key, sizeof(key), "u%u@example.test c%u@example.test", u, c);
            apply_ok(st, cmd);
            model_set(&roster, key, sub);
        } else if (op < 6) {
            snprintf(cmd, sizeof(cmd), "roster-del u%u@example.test c%u@example.test", u, c);
            snprintf(key, sizeof(key), "u%u@example.test c%u@example.test", u, c);
            CHECK((xmpp_state_apply(st, cmd, err, sizeof(err)) == 0) ==
                  (model_del(&roster, key, 1, NULL) == 1));
        } else if (op < 8) {
            snprintf(key, sizeof(key), "u%u@example.test/r%u", u, c % 8);
            snprintf(cmd, sizeof(cmd), "session-add %s node%u", key, node);
            snprintf(want, sizeof(want), "node%u", node);
            apply_ok(st, cmd);
            model_set(&sess, key, want);
        } else if (op < 10 - (i % 97 == 0)) {
            snprintf(key, sizeof(key), "u%u@example.test/r%u", u, c % 8);
            snprintf(cmd, sizeof(cmd), "session-del %s node%u", key, node);
            snprintf(want, sizeof(want), "node%u", node);
            CHECK((xmpp_state_apply(st, cmd, err, sizeof(err)) == 0) ==
                  (model_del(&sess, key, 1, want) == 1));
        } else {
            snprintf(cmd, sizeof(cmd), "session-clear node%u", node);
            snprintf(want, sizeof(want), "node%u", node);
            apply_ok(st, cmd);
            model_del(&sess, "", 0, want);
        }
        if (i % 1000 == 999)
            compare(st, &roster, &sess);
    }
#undef RND
    CHECK(roster.n > 100 && sess.n > 20);
    /* The snapshot lists rows in the same order, and loads to the same. */
    cw_sb_init(&a);
    cw_sb_init(&b);
    xmpp_state_dump(st, &a);
    for (const char *l = a.s, *e; (e = strchr(l, '\n')); l = e + 1)
        if (!strncmp(l, "roster-set ", 11))
            cw_sb_add(&b, l, (size_t)(e + 1 - l));
    cw_sb_init(&want_dump);
    for (int i = 0; i < roster.n; i++)
        cw_sb_printf(&want_dump, "roster-set %s %s - -\n", roster.r[i].key, roster.r[i].val);
    CHECK_STR(b.s, want_dump.s);
    cw_sb_free(&want_dump);
    CHECK(xmpp_state_load(copy, a.s, err, sizeof(err)) == 0);
    cw_sb_free(&b);
    cw_sb_init(&b);
    xmpp_state_dump(copy, &b);
    CHECK_STR(a.s, b.s);
    compare(copy, &roster, &sess);
    cw_sb_free(&a);
    cw_sb_free(&b);
    xmpp_state_free(st);
    xmpp_state_free(copy);
}

TEST(jid_parse_normalizes)
{
    struct jid j;
    char buf[JID_MAX + 1];

    CHECK(jid_parse("Alice@Example.TEST/Phone One", &j) == 0);
    CHECK_STR(j.local, "alice");
    CHECK_STR(j.domain, "example.test");
    CHECK_STR(j.resource, "Phone One");
    CHECK_STR(jid_full(&j, buf, sizeof(buf)), "alice@example.test/Phone One");
    CHECK_STR(jid_bare(&j, buf, sizeof(buf)), "alice@example.test");
    CHECK(jid_parse("example.test/res@with-at", &j) == 0);   /* RFC 7622 3.1 */
    CHECK_STR(j.local, "");
    CHECK_STR(j.resource, "res@with-at");
    CHECK(jid_parse("@example.test", &j) < 0);
    CHECK(jid_parse("alice@", &j) < 0);
    CHECK(jid_parse("alice@example.test/", &j) < 0);
    CHECK(jid_parse("al ice@example.test", &j) < 0);
    CHECK(jid_parse("a<b@example.test", &j) < 0);
    CHECK(jid_parse("alice@exa_mple.test", &j) < 0);
    CHECK(jid_parse("alice@example..test", &j) < 0);
    CHECK(jid_domain_ok("example.test.", buf, sizeof(buf)) && !strcmp(buf, "example.test"));
}
