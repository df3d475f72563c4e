/* test_admin.c - admin/: the parsers of untrusted input (forms, cookies,
 * Basic), lockout arithmetic, the accounts file, and the status document's
 * renderers (common/report.c) that the admin pages and API serve. */
#include "common/base64.h"
#include "test.h"

#include "admin/admin_int.h"
#include "common/report.h"
#include "common/strbuf.h"

#include <sys/stat.h>

#define FORM(body, name, out) admin__form_get(body, strlen(body), name, out, sizeof(out))

TEST(admin_form_decodes_escapes_and_plus)
{
    char v[64];

    CHECK_EQ(FORM("user=alice&password=a+b%21%3d%2B", "password", v), 6);
    CHECK_STR(v, "a b!=+");
    CHECK_EQ(FORM("user=alice&password=x", "user", v), 5);
    CHECK_STR(v, "alice");
    CHECK_EQ(FORM("a=1&&b=2&", "b", v), 1);        /* empty pieces are skipped */
    CHECK_STR(v, "2");
    CHECK_EQ(FORM("flag&x=1", "flag", v), 0);      /* a name without '=' is empty */
    CHECK_EQ(FORM("us%65r=bob", "user", v), 3);    /* names are decoded too */
    CHECK_STR(v, "bob");
    CHECK_EQ(FORM("x=%C3%A9", "x", v), 2);         /* UTF-8 bytes pass */
    CHECK_EQ(FORM("user=alice", "password", v), ADMIN_ABSENT);
    CHECK_EQ(FORM("", "user", v), ADMIN_ABSENT);
}

TEST(admin_form_refuses_bad_escapes_duplicates_and_overflow)
{
    char v[8], big[64 * 40];

    CHECK_EQ(FORM("x=%4", "x", v), ADMIN_BAD);
    CHECK_EQ(FORM("x=%zz", "x", v), ADMIN_BAD);
    CHECK_EQ(FORM("x=%", "x", v), ADMIN_BAD);
    CHECK_EQ(FORM("x=a%00b", "x", v), ADMIN_BAD);   /* a NUL would cut the check short */
    CHECK_EQ(FORM("x=a%0ab", "x", v), ADMIN_BAD);   /* control bytes */
    CHECK_EQ(FORM("x=1&x=2", "x", v), ADMIN_BAD);   /* which one would count? */
    CHECK_EQ(FORM("x=1&%78=2", "x", v), ADMIN_BAD);
    CHECK_EQ(FORM("x=12345678", "x", v), ADMIN_BAD); /* 8 bytes + NUL > 8 */
    CHECK_EQ(FORM("x=1234567", "x", v), 7);
    /* a bad escape anywhere spoils the whole body */
    CHECK_EQ(FORM("y=%g0&x=1", "x", v), ADMIN_BAD);
    big[0] = 0;
    for (int i = 0; i < ADMIN_FORM_MAX_FIELDS + 1; i++)
        strcat(big, "a=1&");
    CHECK_EQ(FORM(big, "x", v), ADMIN_BAD);
}

#define COOKIE(h, out) admin__cookie_get(h, strlen(h), "cw_session", out, sizeof(out))

TEST(admin_cookie_parsing)
{
    char v[65];

    CHECK_EQ(COOKIE("cw_session=abc", v), 3);
    CHECK_STR(v, "abc");
    CHECK_EQ(COOKIE("theme=dark; cw_session=abc123;  other=\"x y\"", v), 6);
    CHECK_STR(v, "abc123");
    CHECK_EQ(COOKIE("cw_session=\"q\"", v), 1);
    CHECK_STR(v, "q");
    CHECK_EQ(COOKIE("xcw_session=abc; cw_sessionx=1", v), ADMIN_ABSENT);
    CHECK_EQ(COOKIE("", v), ADMIN_ABSENT);
    CHECK_EQ(COOKIE(";;;", v), ADMIN_ABSENT);
    CHECK_EQ(COOKIE("cw_session=a; cw_session=b", v), ADMIN_BAD);
    CHECK_EQ(COOKIE("cw_session=a\\b", v), ADMIN_BAD);
    CHECK_EQ(COOKIE("cw_session=a,b", v), ADMIN_BAD);
    {
        char small[4];
        CHECK_EQ(admin__cookie_get("cw_session=abcd", 15, "cw_session", small, sizeof(small)),
                 ADMIN_BAD);
    }
}

#define BASIC(h) admin__basic_decode(h, strlen(h), u, sizeof(u), p, sizeof(p))

TEST(admin_basic_decoding)
{
    char u[65], p[256];

    /* "alice:pass word:x" */
    CHECK_EQ(BASIC("Basic YWxpY2U6cGFzcyB3b3JkOng="), 0);
    CHECK_STR(u, "alice");
    CHECK_STR(p, "pass word:x");
    CHECK_EQ(BASIC("basic   YWxpY2U6  "), 0);          /* "alice:", any case, spaces */
    CHECK_STR(p, "");
    CHECK_EQ(BASIC("Bearer abc"), ADMIN_ABSENT);
    CHECK_EQ(BASIC("Basicx YWxpY2U6"), ADMIN_ABSENT);
    CHECK_EQ(BASIC("Basic "), ADMIN_BAD);
    CHECK_EQ(BASIC("Basic YWxpY2U"), ADMIN_BAD);        /* no padding */
    CHECK_EQ(BASIC("Basic YWxp!2U6"), ADMIN_BAD);       /* not base64 */
    CHECK_EQ(BASIC("Basic YWxpY2U="), ADMIN_BAD);       /* "alice": no colon */
    CHECK_EQ(BASIC("Basic OnB3"), ADMIN_BAD);           /* ":pw": no user */
    CHECK_EQ(BASIC("Basic YQ=a"), ADMIN_BAD);           /* data after padding */
    CHECK_EQ(BASIC("Basic YR=="), ADMIN_BAD);           /* padding bits not zero */
    CHECK_EQ(BASIC("Basic YTpiCmM="), ADMIN_BAD);       /* "a:b\nc": control byte */
}

TEST(admin_b64_strict)
{
    unsigned char o[16];

    CHECK_EQ(cw_b64_decode("Zm9vYmFy", 8, o, sizeof(o)), 6);
    CHECK_MEM(o, "foobar", 6);
    CHECK_EQ(cw_b64_decode("Zm9vYg==", 8, o, sizeof(o)), 4);
    CHECK_EQ(cw_b64_decode("Zm9vYmE=", 8, o, sizeof(o)), 5);
    CHECK_EQ(cw_b64_decode("", 0, o, sizeof(o)), 0);
    CHECK_EQ(cw_b64_decode("Zm9", 3, o, sizeof(o)), -1);
    CHECK_EQ(cw_b64_decode("Z===", 4, o, sizeof(o)), -1);
    CHECK_EQ(cw_b64_decode("Zm9v", 4, o, 2), -1);   /* no room */
}

TEST(admin_lockout_arithmetic)
{
    struct admin_lock l = { 0 };
    time_t t = 1000;

    for (int i = 1; i < 5; i++) {
        CHECK_EQ(admin__lock_fail(&l, t + i, 5, 300), 0);
        CHECK_EQ(admin__lock_left(&l, t + i), 0);
    }
    CHECK_EQ(admin__lock_fail(&l, t + 5, 5, 300), 1);  /* the 5th locks */
    CHECK_EQ(admin__lock_left(&l, t + 5), 300);
    CHECK_EQ(admin__lock_left(&l, t + 104), 201);
    CHECK_EQ(admin__lock_fail(&l, t + 6, 5, 300), 0);  /* already locked: not again */
    CHECK_EQ(admin__lock_left(&l, t + 6), 299);
    CHECK_EQ(admin__lock_left(&l, t + 305), 0);         /* expired */
    CHECK_EQ(admin__lock_fail(&l, t + 305, 5, 300), 0); /* a fresh count */
    CHECK_EQ(l.failures, 1);
    admin__lock_clear(&l);
    CHECK_EQ(l.failures, 0);
    /* failures far apart never add up */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(admin__lock_fail(&l, t + 1000 + i * 300, 5, 300), 0);
    CHECK_EQ(l.failures, 1);
    /* a limit of 1 locks at once */
    admin__lock_clear(&l);
    CHECK_EQ(admin__lock_fail(&l, t, 1, 60), 1);
}

static void names(const char *name, void *arg)
{
    struct cw_sb *sb = arg;

    cw_sb_printf(sb, "%s,", name);
}

TEST(admin_accounts_file)
{
    const char *dir = cw_test_tmpdir("admin");
    char path[512], err[256], hash[256];
    struct cw_sb sb;
    struct stat st;

    snprintf(path, sizeof(path), "%s/admins", dir);
    CHECK_EQ(cw_admin_hash_password("correct horse", hash, sizeof(hash)), 0);
    CHECK(!strncmp(hash, "$y$", 3));
    CHECK_EQ(cw_admin_users_put(path, "alice", hash, err, sizeof(err)), 0);
    CHECK_EQ(cw_admin_users_put(path, "bob", hash, err, sizeof(err)), 0);
    CHECK_EQ(cw_admin_users_put(path, "alice", hash, err, sizeof(err)), 0);   /* replaced */
    CHECK_EQ(cw_admin_users_put(path, "bad name", hash, err, sizeof(err)), -1);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    cw_sb_init(&sb);
    CHECK_EQ(cw_admin_users_list(path, names, &sb, err, sizeof(err)), 0);
    CHECK_STR(sb.s, "alice,bob,");
    CHECK_EQ(cw_admin_users_put(path, "carol", NULL, err, sizeof(err)), 1);
    CHECK_EQ(cw_admin_users_put(path, "alice", NULL, err, sizeof(err)), 0);
    cw_sb_clear(&sb);
    CHECK_EQ(cw_admin_users_list(path, names, &sb, err, sizeof(err)), 0);
    CHECK_STR(sb.s, "bob,");
    cw_sb_free(&sb);
    CHECK(cw_admin_name_valid("a.b-c_9"));
    CHECK(!cw_admin_name_valid(""));
    CHECK(!cw_admin_name_valid("a:b"));
    cw_test_done();
}

/* ---- common/report.c: what the pages and the API render ---- */

static struct cw_report *hostile(void)
{
    struct cw_report *r = cw_report_create();

    cw_report_section(r, "turn", "TURN <b>", CW_REPORT_OK);
    cw_report_str(r, "realm", "Realm \"x\"", "<script>alert(1)</script>");
    cw_report_str(r, "nl", "Line", "a\"\n\\b\x01");
    cw_report_int(r, "clients", "Clients", 3);
    cw_report_table(r, "users", "Users & counts", "user,count", "User,Count");
    cw_report_row(r);
    cw_report_cell_str(r, "'o'");
    cw_report_cell_int(r, 2);
    cw_report_section(r, "empty", "Empty", CW_REPORT_OFF);
    cw_report_table(r, "none", "Nothing", "a", "A");
    return r;
}

TEST(report_json_escapes_and_selects)
{
    struct cw_report *r = hostile();
    struct cw_sb sb;

    cw_sb_init(&sb);
    CHECK_EQ(cw_report_json(r, NULL, &sb), 0);
    CHECK_STR(sb.s, "{\"turn\":{\"title\":\"TURN <b>\",\"state\":\"ok\","
                    "\"realm\":\"<script>alert(1)</script>\",\"nl\":\"a\\\"\\n\\\\b\\u0001\","
                    "\"clients\":3,\"users\":[{\"user\":\"'o'\",\"count\":2}]},"
                    "\"empty\":{\"title\":\"Empty\",\"state\":\"off\",\"none\":[]}}");
    cw_sb_clear(&sb);
    CHECK_EQ(cw_report_json(r, "empty", &sb), 0);
    CHECK_STR(sb.s, "{\"empty\":{\"title\":\"Empty\",\"state\":\"off\",\"none\":[]}}");
    cw_sb_clear(&sb);
    CHECK_EQ(cw_report_json(r, "nope", &sb), -1);
    CHECK_EQ(sb.len, 0);
    cw_sb_free(&sb);
    cw_report_destroy(r);
}

TEST(report_html_escapes_everything)
{
    struct cw_report *r = hostile();
    struct cw_sb sb;

    cw_sb_init(&sb);
    CHECK_EQ(cw_report_html(r, NULL, &sb), 0);
    CHECK(!strstr(sb.s, "<script>"));
    CHECK(!strstr(sb.s, "<b>"));
    CHECK(strstr(sb.s, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK(strstr(sb.s, "Realm &quot;x&quot;"));
    CHECK(strstr(sb.s, "<td>&#39;o&#39;</td>"));
    CHECK(strstr(sb.s, "Users &amp; counts"));
    CHECK(strstr(sb.s, "<section id=\"turn\" class=\"ok\">"));
    CHECK(strstr(sb.s, "<span class=\"badge off\">off</span>"));
    CHECK(strstr(sb.s, "</tbody></table><p class=\"none\">none</p>"));   /* the empty table */
    cw_sb_clear(&sb);
    CHECK_EQ(cw_report_html(r, "empty", &sb), 0);
    CHECK(!strstr(sb.s, "turn"));
    CHECK_EQ(cw_report_html(r, "nope", &sb), -1);
    cw_sb_free(&sb);
    cw_report_destroy(r);
}

TEST(report_text_and_sections)
{
    struct cw_report *r = hostile();
    struct cw_sb sb;
    const char *key, *title;
    enum cw_report_state st;

    cw_sb_init(&sb);
    CHECK_EQ(cw_report_text(r, "empty", &sb), 0);
    CHECK_STR(sb.s, "Empty [off]\n  Nothing:\n    (none)\n");
    cw_sb_clear(&sb);
    CHECK_EQ(cw_report_text(r, "turn", &sb), 0);
    CHECK(strstr(sb.s, "  Realm \"x\": <script>alert(1)</script>\n"));
    CHECK(strstr(sb.s, "    User  Count\n    'o'   2\n"));
    CHECK_EQ(cw_report_text(r, "nope", &sb), -1);
    CHECK_EQ(cw_report_section_info(r, 0, &key, &title, &st), 0);
    CHECK_STR(key, "turn");
    CHECK_STR(title, "TURN <b>");
    CHECK_EQ(cw_report_section_info(r, 1, &key, &title, &st), 0);
    CHECK_EQ(st, CW_REPORT_OFF);
    CHECK_EQ(cw_report_section_info(r, 2, &key, &title, &st), -1);
    cw_sb_free(&sb);
    cw_report_destroy(r);
}
