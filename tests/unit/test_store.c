/* test_store.c - a standalone core node's XMPP state file and its journal
 * (core/xmpp_store.c): changes appended, not the state rewritten; a restart
 * gets them back; a torn last line, a journal already folded in, and one
 * that does not fit; the journal folded in once it outgrows the state. */
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/xmpp_store.h"
#include "xmpp/state.h"

static char err[512];

/* Applies cmd and records it, as the core does. */
static void change(struct core_store *s, struct xmpp_state *st, const char *cmd)
{
    if (xmpp_state_apply(st, cmd, err, sizeof(err)) != 0)
        FAIL("%s: %s", cmd, err);
    CHECK(core_store_append(s, st, cmd) == 0);
}

static struct xmpp_state *reload(const char *dir, struct core_store **out)
{
    struct xmpp_state *st = xmpp_state_new();
    struct core_store *s = core_store_create(dir);

    CHECK(st && s);
    if (core_store_load(s, st) < 0) {
        xmpp_state_free(st);
        core_store_destroy(s);
        return NULL;
    }
    *out = s;
    return st;
}

static void file_put(const char *dir, const char *name, const char *text, int append)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* The generation the state file's second line names. */
static unsigned state_gen(const char *dir)
{
    char path[512], line[256];
    unsigned g = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/xmpp.state", dir);
    CHECK((f = fopen(path, "r")));
    CHECK(fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f));
    CHECK(sscanf(line, "# generation %u", &g) == 1);
    fclose(f);
    return g;
}

static int has_item(struct xmpp_state *st, const char *owner, const char *contact)
{
    struct xmpp_roster_item it;

    return xmpp_state_roster_item(st, owner, contact, &it);
}

TEST(store_journals_changes)
{
    const char *dir = cw_test_tmpdir("store");
    struct core_store *s;
    struct xmpp_state *st = reload(dir, &s), *back;
    char head[128], name[128], big[1100];
    unsigned gen;
    size_t state_bytes, state_bytes_before;

    CHECK(st);
    CHECK(core_store_begin(s, st) == 0);
    change(s, st, "domain-add a.example");
    change(s, st, "roster-set x@a.example y@a.example both - -");
    change(s, st, "session-add x@a.example/r n1");
    state_bytes = state_bytes_before = core_store_state_bytes(s);
    change(s, st, "roster-del x@a.example y@a.example");
    change(s, st, "roster-set x@a.example z@a.example none - -");
    /* Appended: the state file was not written again. */
    CHECK_EQ(core_store_state_bytes(s), state_bytes);
    CHECK(core_store_journal_bytes(s) > 100);
    core_store_destroy(s);

    /* A restart: the changes are back; the session was never written. */
    CHECK((back = reload(dir, &s)));
    CHECK(xmpp_state_has_domain(back, "a.example"));
    CHECK(has_item(back, "x@a.example", "z@a.example"));
    CHECK(!has_item(back, "x@a.example", "y@a.example"));
    CHECK(xmpp_state_session_node(back, "x@a.example/r") == NULL);
    CHECK(core_store_begin(s, back) == 0);      /* the journal folded in */
    state_bytes = core_store_state_bytes(s);
    CHECK(state_bytes > state_bytes_before);
    core_store_destroy(s);
    xmpp_state_free(back);

    /* A start that finds no changes goes on with the journal it has; so
     * does one that finds the state file alone. */
    CHECK((back = reload(dir, &s)));
    CHECK(core_store_begin(s, back) == 0);
    change(s, back, "roster-set x@a.example u@a.example both - -");
    core_store_destroy(s);
    xmpp_state_free(back);
    CHECK((back = reload(dir, &s)));
    CHECK(has_item(back, "x@a.example", "u@a.example"));
    CHECK_EQ(core_store_state_bytes(s), state_bytes);   /* not written again */
    CHECK(core_store_begin(s, back) == 0);              /* folded: it held a change */
    state_bytes = core_store_state_bytes(s);
    core_store_destroy(s);
    xmpp_state_free(back);
    snprintf(name, sizeof(name), "%s/xmpp.journal", dir);
    CHECK(unlink(name) == 0);
    CHECK((back = reload(dir, &s)));
    CHECK(core_store_begin(s, back) == 0);
    CHECK_EQ(core_store_state_bytes(s), state_bytes);
    CHECK(access(name, F_OK) == 0);
    core_store_destroy(s);
    xmpp_state_free(back);

    /* A last line cut short by a stop is dropped; the rest is applied. */
    file_put(dir, "xmpp.journal", "roster-set x@a.example v@a.example both - -\n", 1);
    file_put(dir, "xmpp.journal", "roster-set x@a.example w@a.example bo", 1);
    CHECK((back = reload(dir, &s)));
    CHECK(has_item(back, "x@a.example", "v@a.example"));
    CHECK(!has_item(back, "x@a.example", "w@a.example"));
    core_store_destroy(s);
    xmpp_state_free(back);

    /* A journal of an older generation is in the state file already (a
     * stop between the two writes): it is skipped, even a line that would
     * fail now. One of this generation whose line does not fit refuses. */
    CHECK((back = reload(dir, &s)));
    CHECK(core_store_save(s, back) == 0);
    core_store_destroy(s);
    xmpp_state_free(back);
    gen = state_gen(dir);
    snprintf(head, sizeof(head),
             "# causeway-core XMPP journal of generation %u: changes since the state file\n",
             gen - 1);
    file_put(dir, "xmpp.journal", head, 0);
    file_put(dir, "xmpp.journal", "roster-del nobody@a.example q@a.example\ndomain-del a.example\n",
             1);
    CHECK((back = reload(dir, &s)));
    CHECK(xmpp_state_has_domain(back, "a.example"));
    core_store_destroy(s);
    xmpp_state_free(back);
    snprintf(head, sizeof(head),
             "# causeway-core XMPP journal of generation %u: changes since the state file\n", gen);
    file_put(dir, "xmpp.journal", head, 0);
    file_put(dir, "xmpp.journal", "roster-del nobody@a.example q@a.example\n", 1);
    CHECK(reload(dir, &s) == NULL);
    file_put(dir, "xmpp.journal", head, 0);

    /* Past a MiB and the state's size, the journal is folded in. */
    CHECK((back = reload(dir, &s)));
    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    for (int i = 0; i < 1500; i++) {
        struct cw_sb cmd;
        cw_sb_init(&cmd);
        snprintf(name, sizeof(name), "c%d@a.example", i % 100);
        xmpp_state_roster_name_cmd("x@a.example", name, big + i % 7, &cmd);
        change(s, back, cmd.s);
        cw_sb_free(&cmd);
    }
    CHECK(core_store_journal_bytes(s) < ((size_t)1 << 20));
    CHECK(core_store_state_bytes(s) > 90 * 1000);
    core_store_destroy(s);
    {
        struct core_store *s2;
        struct xmpp_state *again = reload(dir, &s2);
        struct cw_sb a, b;
        CHECK(again);
        cw_sb_init(&a);
        cw_sb_init(&b);
        xmpp_state_dump(back, &a);
        xmpp_state_dump(again, &b);
        CHECK_STR(a.s, b.s);
        cw_sb_free(&a);
        cw_sb_free(&b);
        core_store_destroy(s2);
        xmpp_state_free(again);
    }
    xmpp_state_free(back);
    xmpp_state_free(st);
}
