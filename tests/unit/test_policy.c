/* test_policy.c - the TURN peer policy: every forbidden spelling of a peer,
 * the allow list, own addresses, unsafe loopback and CIDR parsing. */
#include "test.h"

#include "turn/policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

/* A peer from text: IPv4 if it has no ':'. */
static struct sockaddr_storage peer(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

        s->sin6_family = AF_INET6;
        s->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &s->sin6_addr) != 1)
            FAIL("bad test address %s", ip);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;

        s->sin_family = AF_INET;
        s->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &s->sin_addr) != 1)
            FAIL("bad test address %s", ip);
    }
    return ss;
}

/* Checks ip against p: why == NULL means "allowed", else the phrase. */
static void expect(const struct turn_policy *p, const char *ip, const char *why, int line)
{
    struct sockaddr_storage ss = peer(ip, 3478);
    const char *got = "(unset)";
    int rc = turn_policy_check(p, (const struct sockaddr *)&ss, &got);

    if (!why && rc != 0)
        FAIL("line %d: %s denied (%s), want allowed", line, ip, got ? got : "(null)");
    if (why && (rc != -1 || !got || strcmp(got, why) != 0))
        FAIL("line %d: %s gave rc %d \"%s\", want denied \"%s\"", line, ip, rc,
             rc ? (got ? got : "(null)") : "", why);
}

#define EXPECT(p, ip, why) expect((p), (ip), (why), __LINE__)

static const struct {
    const char *ip;
    const char *why;         /* NULL: allowed */
} default_cases[] = {
    /* IPv4 never allowed */
    { "127.0.0.1", "loopback" },
    { "127.255.255.254", "loopback" },
    { "0.0.0.0", "unspecified" },
    { "0.1.2.3", "this network" },
    { "169.254.1.1", "link-local" },
    { "224.0.0.1", "multicast" },
    { "239.255.255.250", "multicast" },
    { "255.255.255.255", "broadcast" },
    { "240.0.0.1", "reserved" },
    { "255.255.255.254", "reserved" },
    /* IPv6 never allowed */
    { "::", "unspecified" },
    { "::1", "loopback" },
    { "fe80::1", "link-local" },
    { "febf:ffff::1", "link-local" },
    { "ff02::1", "multicast" },
    { "ff0e::1", "multicast" },
    { "fec0::1", "site-local" },
    /* IPv6 spellings of forbidden IPv4 addresses */
    { "::ffff:127.0.0.1", "IPv4-mapped loopback" },
    { "::ffff:0.0.0.0", "IPv4-mapped unspecified" },
    { "::ffff:169.254.1.1", "IPv4-mapped link-local" },
    { "::ffff:224.0.0.1", "IPv4-mapped multicast" },
    { "::ffff:255.255.255.255", "IPv4-mapped broadcast" },
    { "::127.0.0.1", "IPv4-compatible loopback" },
    { "::0.0.0.2", "IPv4-compatible this network" },
    { "::169.254.1.1", "IPv4-compatible link-local" },
    { "64:ff9b::7f00:1", "NAT64 loopback" },
    { "64:ff9b::a9fe:101", "NAT64 link-local" },
    { "64:ff9b:1::7f00:1", "NAT64 loopback" },
    { "64:ff9b:1:abcd::7f00:1", "NAT64 loopback" },
    { "2002:7f00:1::1", "6to4 loopback" },
    { "2002:e000:1::", "6to4 multicast" },
    { "2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo loopback" },   /* ~127.0.0.1 */
    { "2001:0:4136:e378:8000:63bf:5601:fefe", "Teredo link-local" }, /* ~169.254.1.1 */
    /* default inside networks (the RFC 1918 ones are not spelled in tests:
     * policy_inside_spellings checks every spelling on a configured one) */
    { "100.64.0.1", "inside network" },
    { "100.127.255.255", "inside network" },
    { "fd00::1", "inside network" },
    { "fc00::1", "inside network" },
    { "::ffff:100.64.0.1", "IPv4-mapped inside network" },
    /* allowed */
    { "198.51.100.7", NULL },
    { "203.0.113.5", NULL },
    { "192.0.2.1", NULL },
    { "198.18.0.5", NULL },
    { "2001:db8::1", NULL },
    { "9.255.255.255", NULL },
    { "11.0.0.1", NULL },
    { "126.255.255.255", NULL },
    { "128.0.0.1", NULL },
    { "169.253.255.255", NULL },
    { "172.15.255.255", NULL },
    { "172.32.0.0", NULL },
    { "100.63.255.255", NULL },
    { "100.128.0.0", NULL },
    { "223.255.255.255", NULL },
    { "fbff::1", NULL },
    { "fe00::1", NULL },
    { "::ffff:198.51.100.7", NULL },
    { "64:ff9b::c633:6407", NULL },
    { "2002:c633:6407::1", NULL },
    { "2001:0:4136:e378:8000:63bf:39cc:9bf8", NULL }, /* Teredo ~198.51.100.7 */
    { "2606:4700::1111", NULL },
};

TEST(policy_default_table)
{
    struct turn_policy *p = turn_policy_create();
    size_t i;

    CHECK(p);
    for (i = 0; i < sizeof(default_cases) / sizeof(default_cases[0]); i++)
        expect(p, default_cases[i].ip, default_cases[i].why, (int)i);
    turn_policy_destroy(p);
}

/* An inside network of the configuration, in every spelling. */
TEST(policy_inside_spellings)
{
    struct turn_policy *p = turn_policy_create();

    CHECK_EQ(turn_policy_add_inside(p, "198.51.100.0/24"), 0);
    EXPECT(p, "198.51.100.7", "inside network");
    EXPECT(p, "198.51.100.255", "inside network");
    EXPECT(p, "::ffff:198.51.100.7", "IPv4-mapped inside network");
    EXPECT(p, "::198.51.100.7", "IPv4-compatible inside network");
    EXPECT(p, "64:ff9b::c633:6407", "NAT64 inside network");
    EXPECT(p, "2002:c633:6407::1", "6to4 inside network");
    EXPECT(p, "2001:0:4136:e378:8000:63bf:39cc:9bf8", "Teredo inside network");
    EXPECT(p, "198.51.101.0", NULL);
    turn_policy_destroy(p);
}

TEST(policy_teredo_vectors)
{
    /* the Teredo entries above, spelled from the inverted IPv4 address */
    static const char *const v4[] = { "127.0.0.1", "169.254.1.1", "198.51.100.7" };
    static const char *const v6[] = { "2001:0:4136:e378:8000:63bf:80ff:fffe",
                                      "2001:0:4136:e378:8000:63bf:5601:fefe",
                                      "2001:0:4136:e378:8000:63bf:39cc:9bf8" };
    size_t i;
    int j;

    for (i = 0; i < 3; i++) {
        struct in_addr a;
        struct in6_addr b;

        CHECK_EQ(inet_pton(AF_INET, v4[i], &a), 1);
        CHECK_EQ(inet_pton(AF_INET6, v6[i], &b), 1);
        for (j = 0; j < 4; j++)
            CHECK_EQ(b.s6_addr[12 + j], (uint8_t)~((uint8_t *)&a)[j]);
    }
}

TEST(policy_allow_list)
{
    struct turn_policy *p = turn_policy_create();

    CHECK_EQ(turn_policy_add_inside(p, "198.51.100.0/24"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "198.51.100.7/32"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "fd00:1::/32"), 0);
    EXPECT(p, "198.51.100.7", NULL);
    EXPECT(p, "198.51.100.8", "inside network");
    EXPECT(p, "198.51.100.6", "inside network");
    EXPECT(p, "::ffff:198.51.100.7", NULL);
    EXPECT(p, "::ffff:198.51.100.8", "IPv4-mapped inside network");
    EXPECT(p, "64:ff9b::c633:6407", NULL);
    EXPECT(p, "fd00:1::5", NULL);
    EXPECT(p, "fd00:2::5", "inside network");

    /* an allow entry never opens the never-allowed set */
    CHECK_EQ(turn_policy_add_allow(p, "127.0.0.1"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "169.254.0.0/16"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "::1"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "fe80::/10"), 0);
    EXPECT(p, "127.0.0.1", "loopback");
    EXPECT(p, "::ffff:127.0.0.1", "IPv4-mapped loopback");
    EXPECT(p, "169.254.1.1", "link-local");
    EXPECT(p, "::1", "loopback");
    EXPECT(p, "fe80::1", "link-local");
    CHECK_EQ(turn_policy_add_allow(p, "0.0.0.0/0"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "::/0"), 0);
    EXPECT(p, "127.0.0.1", "loopback");
    EXPECT(p, "0.0.0.0", "unspecified");
    EXPECT(p, "224.0.0.1", "multicast");
    EXPECT(p, "255.255.255.255", "broadcast");
    EXPECT(p, "::", "unspecified");
    EXPECT(p, "ff02::1", "multicast");
    EXPECT(p, "64:ff9b::7f00:1", "NAT64 loopback");
    EXPECT(p, "198.51.100.9", NULL); /* that one did open the inside */
    EXPECT(p, "100.64.0.1", NULL);
    EXPECT(p, "fc00::1", NULL);
    turn_policy_destroy(p);
}

TEST(policy_own_addresses)
{
    struct turn_policy *p = turn_policy_create();
    struct sockaddr_storage own4 = peer("203.0.113.9", 3478);
    struct sockaddr_storage own6 = peer("2001:db8::5", 3478);
    struct sockaddr_storage ownm = peer("::ffff:203.0.113.20", 0);

    CHECK_EQ(turn_policy_add_own(p, (struct sockaddr *)&own4), 0);
    CHECK_EQ(turn_policy_add_own(p, (struct sockaddr *)&own4), 0); /* twice is fine */
    CHECK_EQ(turn_policy_add_own(p, (struct sockaddr *)&own6), 0);
    CHECK_EQ(turn_policy_add_own(p, (struct sockaddr *)&ownm), 0);
    CHECK_EQ(turn_policy_add_own(p, NULL), -1);

    /* the address counts, not the port (expect() uses port 3478; try another) */
    {
        struct sockaddr_storage ss = peer("203.0.113.9", 9999);
        const char *why = NULL;

        CHECK_EQ(turn_policy_check(p, (struct sockaddr *)&ss, &why), -1);
        CHECK_STR(why, "own address");
    }
    EXPECT(p, "203.0.113.9", "own address");
    EXPECT(p, "::ffff:203.0.113.9", "IPv4-mapped own address");
    EXPECT(p, "64:ff9b::cb00:7109", "NAT64 own address");
    EXPECT(p, "2001:db8::5", "own address");
    EXPECT(p, "203.0.113.20", "own address");
    EXPECT(p, "203.0.113.10", NULL);
    EXPECT(p, "2001:db8::6", NULL);

    /* allow entries do not open own addresses */
    CHECK_EQ(turn_policy_add_allow(p, "203.0.113.9/32"), 0);
    CHECK_EQ(turn_policy_add_allow(p, "2001:db8::/32"), 0);
    EXPECT(p, "203.0.113.9", "own address");
    EXPECT(p, "2001:db8::5", "own address");
    turn_policy_destroy(p);
}

TEST(policy_own_interfaces)
{
    struct turn_policy *p = turn_policy_create();
    struct ifaddrs *ifa, *i;
    int n = 0;

    CHECK_EQ(turn_policy_add_own_interfaces(p), 0);
    CHECK_EQ(turn_policy_add_own_interfaces(p), 0);
    CHECK_EQ(getifaddrs(&ifa), 0);
    for (i = ifa; i; i = i->ifa_next) {
        const char *why = NULL;

        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        if (turn_policy_check(p, i->ifa_addr, &why) != -1 || !why)
            FAIL("interface %s address allowed", i->ifa_name);
        n++;
    }
    freeifaddrs(ifa);
    CHECK(n > 0);
    EXPECT(p, "127.0.0.1", "loopback"); /* the more telling phrase wins */
    turn_policy_destroy(p);
}

TEST(policy_unsafe_loopback)
{
    struct turn_policy *p = turn_policy_create();

    turn_policy_set_unsafe_loopback(p, 1);
    CHECK_EQ(turn_policy_add_own_interfaces(p), 0); /* lo's 127.0.0.1 is own too */
    EXPECT(p, "127.0.0.1", NULL);
    EXPECT(p, "127.1.2.3", NULL);
    EXPECT(p, "::1", NULL);
    EXPECT(p, "::ffff:127.0.0.1", NULL);
    EXPECT(p, "64:ff9b::7f00:1", NULL);
    EXPECT(p, "169.254.1.1", "link-local");
    EXPECT(p, "::ffff:169.254.1.1", "IPv4-mapped link-local");
    EXPECT(p, "0.0.0.0", "unspecified");
    EXPECT(p, "::", "unspecified");
    EXPECT(p, "224.0.0.1", "multicast");
    EXPECT(p, "fe80::1", "link-local");
    EXPECT(p, "100.64.0.1", "inside network");
    turn_policy_set_unsafe_loopback(p, 0);
    EXPECT(p, "127.0.0.1", "loopback");
    EXPECT(p, "::1", "loopback");
    turn_policy_destroy(p);
}

TEST(policy_inside_config)
{
    struct turn_policy *p = turn_policy_create();

    turn_policy_clear_inside(p);
    EXPECT(p, "100.64.0.1", NULL);
    EXPECT(p, "fd00::1", NULL);
    EXPECT(p, "127.0.0.1", "loopback"); /* the never-allowed set stays */
    CHECK_EQ(turn_policy_add_inside(p, "198.51.100.0/24"), 0);
    CHECK_EQ(turn_policy_add_inside(p, "2001:db8:1::/48"), 0);
    CHECK_EQ(turn_policy_add_inside(p, "::ffff:203.0.113.0/120"), 0); /* = 203.0.113.0/24 */
    CHECK_EQ(turn_policy_add_inside(p, "192.0.2.77"), 0);             /* a host */
    EXPECT(p, "198.51.100.7", "inside network");
    EXPECT(p, "::ffff:198.51.100.7", "IPv4-mapped inside network");
    EXPECT(p, "198.51.101.7", NULL);
    EXPECT(p, "2001:db8:1::9", "inside network");
    EXPECT(p, "2001:db8:2::9", NULL);
    EXPECT(p, "203.0.113.5", "inside network");
    EXPECT(p, "192.0.2.77", "inside network");
    EXPECT(p, "192.0.2.78", NULL);
    turn_policy_destroy(p);
}

TEST(policy_bad_input)
{
    struct turn_policy *p = turn_policy_create();
    struct sockaddr_storage ss;
    const char *why = NULL;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    CHECK_EQ(turn_policy_check(p, (struct sockaddr *)&ss, &why), -1);
    CHECK(why != NULL);
    CHECK_EQ(turn_policy_check(p, NULL, &why), -1);
    ss = peer("198.51.100.7", 1);
    CHECK_EQ(turn_policy_check(p, (struct sockaddr *)&ss, NULL), 0);
    ss = peer("127.0.0.1", 1);
    CHECK_EQ(turn_policy_check(p, (struct sockaddr *)&ss, NULL), -1);
    turn_policy_destroy(p);
    turn_policy_destroy(NULL);
}

TEST(policy_cidr_parse)
{
    static const char *const bad[] = {
        "", "/15", "198.18.0.0/", "198.18.0.0/33", "198.18.0.0/15x", "198.18.0.0 /15",
        "198.18.0.0/ 15", " 198.18.0.0/15", "198.18.0.0/15 ", "198.18.0/15", "198.18.0.0.0/15",
        "256.0.0.0/8", "198.18.0.0/-1", "198.18.0.0/+15", "198.18.0.0/15/15", "198.18.0.0/0015",
        "0198.18.0.0/15", "198.18.0.0/4294967311", "198.19.0.0/15", "192.0.2.7/24", "fd00::/129",
        "fd00::1/8", "fd00::/8/8", "fe80::1%eth0", "gggg::/8", ":::/8", "fd00::/1000",
        "localhost", "198.18.0.0/15\n", "::ffff:198.19.0.0/111",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999/128",
        "0000000000000000000000000000000000000000000000000000000000000000::/8",
    };
    static const char *const good[] = {
        "198.18.0.0/15", "192.0.2.7", "192.0.2.7/32", "0.0.0.0/0", "::/0", "fd00::/8",
        "2001:db8::1", "2001:db8::1/128", "198.18.0.0/015", "::ffff:198.18.0.0/111",
        "::ffff:0:0/96",
    };
    struct turn_policy *p = turn_policy_create();
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (turn_policy_add_inside(p, bad[i]) != -1)
            FAIL("inside \"%s\" accepted", bad[i]);
        if (turn_policy_add_allow(p, bad[i]) != -1)
            FAIL("allow \"%s\" accepted", bad[i]);
    }
    CHECK_EQ(turn_policy_add_allow(p, NULL), -1);
    /* nothing half-added: the defaults still behave */
    EXPECT(p, "198.51.100.7", NULL);
    EXPECT(p, "100.64.0.1", "inside network");
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (turn_policy_add_allow(p, good[i]) != 0)
            FAIL("allow \"%s\" refused", good[i]);
    turn_policy_destroy(p);

    /* ::ffff:0:0/96 as inside means every IPv4 address */
    p = turn_policy_create();
    CHECK_EQ(turn_policy_add_inside(p, "::ffff:0:0/96"), 0);
    EXPECT(p, "198.51.100.7", "inside network");
    turn_policy_destroy(p);
}
