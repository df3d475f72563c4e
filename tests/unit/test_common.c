/* test_common.c - common/: buffers, addresses, the config parser, counters. */
#include "test.h"

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/dns.h"
#include "common/fault.h"
#include "common/stats.h"
#include "common/strbuf.h"

#include <netinet/in.h>

TEST(rbuf_reads_within_bounds)
{
    const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7 };
    struct cw_rbuf b, sub;

    cw_rbuf_init(&b, d, sizeof(d));
    CHECK_EQ(cw_rbuf_u8(&b), 1);
    CHECK_EQ(cw_rbuf_u16(&b), 0x0203);
    CHECK_EQ(cw_rbuf_sub(&b, 2, &sub), 0);
    CHECK_EQ(cw_rbuf_u16(&sub), 0x0405);
    CHECK_EQ(cw_rbuf_u8(&sub), 0);          /* past the sub-reader's end */
    CHECK(cw_rbuf_failed(&sub));
    CHECK(!cw_rbuf_failed(&b));
    CHECK_EQ(cw_rbuf_left(&b), 2);
    CHECK_EQ(cw_rbuf_u32(&b), 0);           /* only 2 bytes left */
    CHECK(cw_rbuf_failed(&b));
    CHECK_EQ(cw_rbuf_u8(&b), 0);            /* sticky */
    CHECK(cw_rbuf_take(&b, 0) == NULL);
}

TEST(rbuf_huge_lengths_do_not_wrap)
{
    const uint8_t d[4] = { 0 };
    struct cw_rbuf b;
    uint16_t v;

    cw_rbuf_init(&b, d, sizeof(d));
    CHECK_EQ(cw_rbuf_skip(&b, 1), 0);
    CHECK(cw_rbuf_take(&b, (size_t)-1) == NULL);
    cw_rbuf_init(&b, d, sizeof(d));
    CHECK_EQ(cw_rbuf_peek_u16(&b, (size_t)-1, &v), -1);
    CHECK_EQ(cw_rbuf_peek_u16(&b, 2, &v), 0);
    CHECK_EQ(cw_rbuf_peek_u16(&b, 3, &v), -1);
}

TEST(wbuf_overflow_fails_and_drops)
{
    uint8_t d[6];
    struct cw_wbuf w;

    cw_wbuf_init(&w, d, sizeof(d));
    cw_wbuf_u32(&w, 0x01020304);
    cw_wbuf_put_u16_at(&w, 0, 0xAABB);
    CHECK(!cw_wbuf_failed(&w));
    CHECK_EQ(d[0], 0xAA);
    cw_wbuf_u32(&w, 5);                      /* needs 4, 2 left */
    CHECK(cw_wbuf_failed(&w));
    CHECK_EQ(w.len, 4);
    cw_wbuf_init(&w, d, sizeof(d));
    cw_wbuf_put_u32_at(&w, 0, 1);            /* nothing written yet */
    CHECK(cw_wbuf_failed(&w));
}

TEST(addr_parse_and_format)
{
    struct sockaddr_storage a;
    char buf[CW_ADDR_STRLEN];

    CHECK_EQ(cw_addr_parse("192.0.2.1:3478", 0, &a), 0);
    CHECK_STR(cw_addr_fmt((struct sockaddr *)&a, buf, sizeof(buf), 1), "192.0.2.1:3478");
    CHECK_EQ(cw_addr_parse("[2001:db8::1]:5349", 0, &a), 0);
    CHECK_STR(cw_addr_fmt((struct sockaddr *)&a, buf, sizeof(buf), 1), "[2001:db8::1]:5349");
    CHECK_EQ(cw_addr_parse("2001:db8::1", 3478, &a), 0);
    CHECK_EQ(cw_addr_port((struct sockaddr *)&a), 3478);
    CHECK_EQ(cw_addr_parse("198.51.100.4", -1, &a), 0);
    CHECK_EQ(cw_addr_parse("198.51.100.4:1", -1, &a), -1);   /* no port allowed */
    CHECK_EQ(cw_addr_parse("198.51.100.4", 0, &a), -1);      /* port required */
    CHECK_EQ(cw_addr_parse("198.51.100.4:65536", 0, &a), -1);
    CHECK_EQ(cw_addr_parse("198.51.100.4:", 0, &a), -1);
    CHECK_EQ(cw_addr_parse("[2001:db8::1]x", 1, &a), -1);
    CHECK_EQ(cw_addr_parse("example.com:1", 0, &a), -1);
    CHECK_EQ(cw_addr_parse("", 1, &a), -1);
}

TEST(addr_equal_and_hash)
{
    struct sockaddr_storage a, b;

    cw_addr_parse("192.0.2.1:1", 0, &a);
    cw_addr_parse("192.0.2.1:2", 0, &b);
    CHECK(cw_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b, 0));
    CHECK(!cw_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b, 1));
    CHECK(cw_addr_hash((struct sockaddr *)&a, 7) != cw_addr_hash((struct sockaddr *)&b, 7));
}

struct seen {
    char log[1024];
    int n;
};

static int conf_cb(void *arg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen)
{
    struct seen *s = arg;
    size_t len = strlen(s->log);

    if (!key) {
        snprintf(s->log + len, sizeof(s->log) - len, "[%s]", section);
        return strcmp(section, "nope") ? 0 : (snprintf(err, errlen, "unknown section"), -1);
    }
    if (!strcmp(key, "bad")) {
        snprintf(err, errlen, "unknown key \"%s\" in [%s]", key, section);
        return -1;
    }
    snprintf(s->log + len, sizeof(s->log) - len, "%s.%s=%s;", section, key, value);
    s->n++;
    return 0;
}

TEST(conf_parses_sections_keys_comments)
{
    struct seen s = { "", 0 };
    char err[256];

    CHECK_EQ(cw_conf_parse_text("t.conf",
                                "# comment\n[turn]\n  listen = 192.0.2.1:3478  \r\n"
                                "; other comment\n\nrealm=example.org\n[edge]\nlog-level = info",
                                conf_cb, &s, err, sizeof(err)),
             0);
    CHECK_STR(s.log, "[turn]turn.listen=192.0.2.1:3478;turn.realm=example.org;[edge]edge.log-level=info;");
}

TEST(conf_errors_name_file_and_line)
{
    struct seen s = { "", 0 };
    char err[256];

    CHECK_EQ(cw_conf_parse_text("e.conf", "[turn]\nrealm = x\nbad = 1\n", conf_cb, &s, err,
                                sizeof(err)), -1);
    CHECK_STR(err, "e.conf:3: unknown key \"bad\" in [turn]");
    CHECK_EQ(cw_conf_parse_text("e.conf", "realm = x\n", conf_cb, &s, err, sizeof(err)), -1);
    CHECK_STR(err, "e.conf:1: key \"realm\" outside any [section]");
    CHECK_EQ(cw_conf_parse_text("e.conf", "[turn]\n[nope]\n", conf_cb, &s, err, sizeof(err)), -1);
    CHECK_STR(err, "e.conf:2: unknown section");
    CHECK_EQ(cw_conf_parse_text("e.conf", "[turn\n", conf_cb, &s, err, sizeof(err)), -1);
    CHECK_STR(err, "e.conf:1: bad section header (expected [name])");
    CHECK_EQ(cw_conf_parse_text("e.conf", "[turn]\n\njust words\n", conf_cb, &s, err,
                                sizeof(err)), -1);
    CHECK_STR(err, "e.conf:3: expected \"key = value\"");
    CHECK_EQ(cw_conf_parse_file("/nonexistent/edge.conf", conf_cb, &s, err, sizeof(err)), -1);
    CHECK(strstr(err, "/nonexistent/edge.conf: cannot open") == err);
}

TEST(conf_value_parsers)
{
    char err[256];
    unsigned long v, lo, hi;
    int b;
    struct sockaddr_storage a;

    CHECK_EQ(cw_conf_uint("42", 1, 100, &v, err, sizeof(err)), 0);
    CHECK_EQ(v, 42);
    CHECK_EQ(cw_conf_uint("420", 1, 100, &v, err, sizeof(err)), -1);
    CHECK_STR(err, "\"420\" is not a number from 1 to 100");
    CHECK_EQ(cw_conf_uint("-1", 0, 100, &v, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_uint("99999999999999999999999", 0, 100, &v, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_bool("yes", &b, err, sizeof(err)), 0);
    CHECK_EQ(b, 1);
    CHECK_EQ(cw_conf_bool("maybe", &b, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_range("24000-29999", 1024, 65535, &lo, &hi, err, sizeof(err)), 0);
    CHECK_EQ(lo, 24000);
    CHECK_EQ(hi, 29999);
    CHECK_EQ(cw_conf_range("29999-24000", 1024, 65535, &lo, &hi, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_range("80-90", 1024, 65535, &lo, &hi, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_duration("10m", 1, 3600, &v, err, sizeof(err)), 0);
    CHECK_EQ(v, 600);
    CHECK_EQ(cw_conf_duration("2h", 1, 3600, &v, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_duration("5x", 1, 3600, &v, err, sizeof(err)), -1);
    CHECK_EQ(cw_conf_addr("nonsense", 3478, &a, err, sizeof(err)), -1);
    CHECK(strstr(err, "not an IP address") != NULL);
}

TEST(stats_dump_text_and_prometheus)
{
    struct cw_stats *st = cw_stats_create();
    uint64_t a = 5, b = 7;
    struct cw_sb out;

    cw_sb_init(&out);
    cw_stats_add(st, "x_total", "x things", CW_STAT_COUNTER, &a);
    cw_stats_add(st, "y", "y now", CW_STAT_GAUGE, &b);
    cw_stats_dump(st, &out, 0);
    CHECK_STR(cw_sb_str(&out), "x_total 5\ny 7\n");
    cw_sb_free(&out);
    cw_stats_dump(st, &out, 1);
    CHECK(strstr(cw_sb_str(&out), "# TYPE causeway_x_total counter\ncauseway_x_total 5\n"));
    CHECK(strstr(cw_sb_str(&out), "# TYPE causeway_y gauge\ncauseway_y 7\n"));
    cw_sb_free(&out);
    cw_stats_destroy(st);
}

/* RFC 2782 order with a fixed "random" source: priorities ascending, weight
 * 0 first within one, then each pick proportional to weight. */
static uint32_t fixed_rnd(void *arg)
{
    return *(uint32_t *)arg;
}

TEST(dns_srv_order)
{
    static const struct cw_dns_srv in[5] = {
        { "d", 5272, 20, 0 }, { "a", 5269, 10, 60 }, { "b", 5270, 10, 20 },
        { "c", 5271, 0, 0 }, { "e", 5273, 10, 0 },
    };
    struct cw_dns_srv s[5];
    /* Within priority 10 the weight-0 "e" leads, leaving b (20), a (60):
     * a pick of 70 of 80 falls past b's share: a first. */
    uint32_t pick = 70;

    memcpy(s, in, sizeof(s));
    cw_dns_srv_order(s, 5, fixed_rnd, &pick);
    CHECK_STR(s[0].target, "c");
    CHECK_STR(s[1].target, "e");
    CHECK_STR(s[2].target, "a");
    CHECK_STR(s[3].target, "b");
    CHECK_STR(s[4].target, "d");
    pick = 10;                      /* within b's share of 20 */
    memcpy(s, in, sizeof(s));
    cw_dns_srv_order(s, 5, fixed_rnd, &pick);
    CHECK_STR(s[2].target, "b");
    CHECK_STR(s[3].target, "a");
}

TEST(fault_expiry_words)
{
    char b[48];
    time_t now = 1800000000;

    CHECK_STR(cw_fault_expiry(b, sizeof(b), now + 3 * 86400 + 5, now), "expires in 3 days");
    CHECK_STR(cw_fault_expiry(b, sizeof(b), now + 86400 + 5, now), "expires in 1 day");
    CHECK_STR(cw_fault_expiry(b, sizeof(b), now + 60, now), "expires in 0 days");
    CHECK_STR(cw_fault_expiry(b, sizeof(b), now - 2 * 86400 - 5, now), "expired 2 days ago");
    CHECK_STR(cw_fault_expiry(b, sizeof(b), now - 86400, now), "expired 1 day ago");
}

static void conf_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void snap_note(void *arg, const char *section, unsigned number, const char *key)
{
    struct cw_sb *sb = arg;

    cw_sb_printf(sb, "%s.%u.%s ", section, number, key);
}

/* Changed, added, removed and reordered values are settings that changed;
 * moving lines between two headers of a section, comments and spaces are
 * not; each [tunnel] is a setting of its own; values are never needed. */
TEST(conf_snap_names_changed_settings)
{
    const char *dir = cw_test_tmpdir("snap");
    char a[512], b[512], err[256];
    struct cw_conf_snap *sa, *sb;
    struct cw_sb out;

    snprintf(a, sizeof(a), "%s/a.conf", dir);
    snprintf(b, sizeof(b), "%s/b.conf", dir);
    conf_write(a, "[turn]\nrealm = x\nlisten = 1\nlisten = 2\n[webproxy]\nhost = h1 b1\n"
                  "certificate = c k\n[tunnel]\nedge = e1\n[tunnel]\nedge = e2\n"
                  "[turn]\nsecret = s1\n");
    conf_write(b, "# edited\n[turn]\nrealm   =   x\nlisten = 2\nlisten = 1\nsecret = s2\n"
                  "[webproxy]\nhost = h1 b1\ncertificate = c k\ncertificate = c2 k2\n"
                  "max-body = 9\n[tunnel]\nedge = e1\n[tunnel]\nedge = e3\n");
    sa = cw_conf_snap_file(a, "tunnel", err, sizeof(err));
    sb = cw_conf_snap_file(b, "tunnel", err, sizeof(err));
    CHECK(sa && sb);
    cw_sb_init(&out);
    CHECK_EQ(cw_conf_snap_diff(sa, sb, snap_note, &out), 5);
    CHECK_STR(cw_sb_str(&out), "tunnel.2.edge turn.0.listen turn.0.secret "
                               "webproxy.0.certificate webproxy.0.max-body ");
    cw_sb_clear(&out);
    CHECK_EQ(cw_conf_snap_diff(sb, sa, snap_note, &out), 5);     /* max-body removed */
    cw_sb_clear(&out);
    CHECK_EQ(cw_conf_snap_diff(sa, sa, snap_note, &out), 0);
    CHECK_STR(cw_sb_str(&out), "");
    cw_conf_snap_destroy(sb);
    conf_write(b, "");
    CHECK((sb = cw_conf_snap_file(b, "tunnel", err, sizeof(err))) != NULL);
    CHECK_EQ(cw_conf_snap_diff(sa, sb, snap_note, &out), 7);     /* all gone */
    cw_conf_snap_destroy(sb);
    conf_write(b, "[turn]\nno key\n");
    CHECK(cw_conf_snap_file(b, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "b.conf:2: expected \"key = value\"") != NULL);
    cw_conf_snap_destroy(sa);
    cw_sb_free(&out);
    cw_test_done();
}
