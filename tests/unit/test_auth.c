/* test_auth.c - TURN credentials: key derivation, REST passwords, the user
 * database and its file, nonces. Expected values were computed
 * independently with python3 hashlib / hmac / base64. */
#include "test.h"

#include "turn/auth.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

#define CHECK_HEX(bytes, hex)                                               \
    do {                                                                    \
        char h_[2 * sizeof(bytes) + 1];                                     \
        hex_of((bytes), sizeof(bytes), h_);                                 \
        CHECK_STR(h_, (hex));                                               \
    } while (0)

/* ---- keys and REST ------------------------------------------------------ */

TEST(auth_key_derive)
{
    struct turn_key k;
    /* "マトリックス" as in RFC 5769 2.4 */
    const char *u8 = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

    turn_key_derive("alice", 5, "example.org", "secret", 6, &k);
    /* md5(b"alice:example.org:secret"), sha256(same) */
    CHECK_HEX(k.md5, "543e1aec5d3614f03141652d6ada51b2");
    CHECK_HEX(k.sha256, "d1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1f");

    /* the length arguments count, not NUL terminators */
    turn_key_derive("alicexyz", 5, "example.org", "secretxyz", 6, &k);
    CHECK_HEX(k.md5, "543e1aec5d3614f03141652d6ada51b2");

    turn_key_derive(u8, strlen(u8), "example.org", "TheMatrIX", 9, &k);
    CHECK_HEX(k.md5, "e8ca7ad59d5eb0518e312911d2dab2a9");
}

TEST(auth_rest_password)
{
    static const uint8_t secret[] = "north";
    const char *user = "1700000000:alice";
    char pw[64];
    struct turn_key k;

    /* base64(hmac.new(b"north", b"1700000000:alice", sha1).digest()) */
    CHECK_EQ(turn_rest_password(secret, 5, user, strlen(user), pw, sizeof(pw)), 28);
    CHECK_STR(pw, "Cd/49soE35ICqcJF/bCTn8Z4OyE=");

    /* exactly enough room, then one byte short */
    CHECK_EQ(turn_rest_password(secret, 5, user, strlen(user), pw, 29), 28);
    CHECK_EQ(turn_rest_password(secret, 5, user, strlen(user), pw, 28), -1);

    /* an empty secret is still an HMAC key */
    CHECK_EQ(turn_rest_password(secret, 0, "x", 1, pw, sizeof(pw)), 28);
    CHECK_STR(pw, "YkTmZFGhyGlduXMc4sT9XeJcz4c=");

    /* the keys are those of that password: md5/sha256 of user:realm:password */
    turn_rest_key(secret, 5, user, strlen(user), "example.org", &k);
    CHECK_HEX(k.md5, "d9a6a3d964467baeffd2fce41704a913");
    CHECK_HEX(k.sha256, "83d3954925462c35e3434563f6add993af0c083deb1cc493ec1873fb82b0ad1d");
}

TEST(auth_rest_expiry)
{
    static const struct {
        const char *user;
        int rc;
        int64_t expiry;
    } cases[] = {
        { "1700000000:alice", 0, 1700000000 },
        { "1700000000", 0, 1700000000 },
        { "0:x", 0, 0 },
        { "1700000000:", 0, 1700000000 },
        { "1700000000:a:b", 0, 1700000000 },
        { "9223372036854775807", 0, INT64_MAX },
        { "9223372036854775807:x", 0, INT64_MAX },
        { "9223372036854775808", -1, 0 },
        { "9223372036854775808:x", -1, 0 },
        { "99999999999999999999999:x", -1, 0 },
        { "abc", -1, 0 },
        { "alice:1700000000", -1, 0 },
        { "", -1, 0 },
        { ":alice", -1, 0 },
        { "17a0:alice", -1, 0 },
        { "-5:alice", -1, 0 },
        { "+5:alice", -1, 0 },
        { " 5:alice", -1, 0 },
        { "5 :alice", -1, 0 },
    };
    size_t i;
    int64_t e;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = -7;
        if (turn_rest_expiry(cases[i].user, strlen(cases[i].user), &e) != cases[i].rc)
            FAIL("turn_rest_expiry(\"%s\") != %d", cases[i].user, cases[i].rc);
        if (cases[i].rc == 0 && e != cases[i].expiry)
            FAIL("turn_rest_expiry(\"%s\") gave %lld", cases[i].user, (long long)e);
    }
    /* userlen bounds the parse: no NUL needed, nothing read past it */
    CHECK_EQ(turn_rest_expiry("12345:x", 3, &e), 0);
    CHECK_EQ(e, 123);
    CHECK_EQ(turn_rest_expiry("12\0003", 3, &e), -1);
    CHECK_EQ(turn_rest_expiry("1", 0, &e), -1);
}

TEST(auth_memeq_ct)
{
    CHECK_EQ(turn_memeq_ct("abcd", "abcd", 4), 0);
    CHECK(turn_memeq_ct("abcd", "abce", 4) != 0);
    CHECK_EQ(turn_memeq_ct("abcd", "abce", 3), 0);
    CHECK_EQ(turn_memeq_ct("", "", 0), 0);
}

/* ---- user database -------------------------------------------------------- */

static struct turn_key key_of(const char *user, const char *realm, const char *pass)
{
    struct turn_key k;

    turn_key_derive(user, strlen(user), realm, pass, strlen(pass), &k);
    return k;
}

TEST(auth_userdb_set_find_del)
{
    struct turn_userdb *db = turn_userdb_create();
    struct turn_key ka = key_of("alice", "r1", "pa"), kb = key_of("bob", "r1", "pb");
    struct turn_key ka2 = key_of("alice", "r2", "pa2");
    const struct turn_key *k;

    CHECK(db);
    CHECK_EQ(turn_userdb_count(db), 0);
    CHECK(!turn_userdb_find(db, "alice", 5, "r1"));
    CHECK_EQ(turn_userdb_set(db, "alice", "r1", &ka), 0);
    CHECK_EQ(turn_userdb_set(db, "bob", "r1", &kb), 0);
    CHECK_EQ(turn_userdb_set(db, "alice", "r2", &ka2), 0);
    CHECK_EQ(turn_userdb_count(db), 3);

    k = turn_userdb_find(db, "alice", 5, "r1");
    CHECK(k && memcmp(k, &ka, sizeof(ka)) == 0);
    k = turn_userdb_find(db, "alice", 5, "r2");
    CHECK(k && memcmp(k, &ka2, sizeof(ka2)) == 0);
    /* userlen is the name: a prefix or a longer buffer is another user */
    k = turn_userdb_find(db, "bobby", 3, "r1");
    CHECK(k && memcmp(k, &kb, sizeof(kb)) == 0);
    CHECK(!turn_userdb_find(db, "alice", 4, "r1"));
    CHECK(!turn_userdb_find(db, "alice\0", 6, "r1"));
    CHECK(!turn_userdb_find(db, "bob", 3, "r2"));
    CHECK(!turn_userdb_find(db, "bob", 3, "R1"));

    /* replace */
    CHECK_EQ(turn_userdb_set(db, "alice", "r1", &kb), 0);
    CHECK_EQ(turn_userdb_count(db), 3);
    k = turn_userdb_find(db, "alice", 5, "r1");
    CHECK(k && memcmp(k, &kb, sizeof(kb)) == 0);

    CHECK_EQ(turn_userdb_del(db, "alice", "r1"), 0);
    CHECK_EQ(turn_userdb_del(db, "alice", "r1"), -1);
    CHECK_EQ(turn_userdb_del(db, "carol", "r1"), -1);
    CHECK(!turn_userdb_find(db, "alice", 5, "r1"));
    CHECK(turn_userdb_find(db, "alice", 5, "r2"));
    CHECK_EQ(turn_userdb_count(db), 2);
    turn_userdb_destroy(db);
    turn_userdb_destroy(NULL);
}

TEST(auth_userdb_names)
{
    struct turn_userdb *db = turn_userdb_create();
    struct turn_key k = key_of("u", "r", "p");
    char big[TURN_NAME_MAX + 2];

    CHECK_EQ(turn_userdb_set(db, "", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "u", "", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "a b", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "a\tb", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "ab\n", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "a\x01", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "a\x7f", "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "u", "ex ample", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "u", "r\r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "#u", "r", &k), -1); /* would read back as a comment */
    CHECK_EQ(turn_userdb_count(db), 0);

    memset(big, 'x', sizeof(big));
    big[TURN_NAME_MAX] = '\0';
    CHECK_EQ(turn_userdb_set(db, big, "r", &k), 0);
    CHECK_EQ(turn_userdb_set(db, "u", big, &k), 0);
    big[TURN_NAME_MAX] = 'x';
    big[TURN_NAME_MAX + 1] = '\0';
    CHECK_EQ(turn_userdb_set(db, big, "r", &k), -1);
    CHECK_EQ(turn_userdb_set(db, "u", big, &k), -1);

    CHECK_EQ(turn_userdb_set(db, "u#1", "r", &k), 0);
    CHECK_EQ(turn_userdb_set(db, "\xe3\x83\x9e", "r", &k), 0); /* UTF-8 */
    CHECK_EQ(turn_userdb_count(db), 4);
    turn_userdb_destroy(db);
}

TEST(auth_userdb_many)
{
    enum { N = 100000 };
    struct turn_userdb *db = turn_userdb_create();
    struct turn_key k;
    const struct turn_key *f;
    char name[32];
    int i;

    memset(&k, 0, sizeof(k));
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        memcpy(k.md5, &i, sizeof(i));
        CHECK_EQ(turn_userdb_set(db, name, "example.org", &k), 0);
    }
    CHECK_EQ(turn_userdb_count(db), N);
    for (i = 0; i < N; i++) {
        int got;

        snprintf(name, sizeof(name), "user%d", i);
        f = turn_userdb_find(db, name, strlen(name), "example.org");
        CHECK(f);
        memcpy(&got, f->md5, sizeof(got));
        CHECK_EQ(got, i);
    }
    for (i = 0; i < N; i += 2) {
        snprintf(name, sizeof(name), "user%d", i);
        CHECK_EQ(turn_userdb_del(db, name, "example.org"), 0);
    }
    CHECK_EQ(turn_userdb_count(db), N / 2);
    CHECK(!turn_userdb_find(db, "user0", 5, "example.org"));
    CHECK(turn_userdb_find(db, "user1", 5, "example.org"));
    turn_userdb_destroy(db);
}

struct collect {
    char buf[256];
    int stop_after;
    int seen;
};

static int collect_cb(const char *user, const char *realm, void *arg)
{
    struct collect *c = arg;
    size_t n = strlen(c->buf);

    snprintf(c->buf + n, sizeof(c->buf) - n, "%s@%s,", user, realm);
    if (++c->seen == c->stop_after)
        return 7;
    return 0;
}

/* A fresh private directory; removed with rm_tree. */
static char *tmp_dir(void)
{
    static char dir[64];

    snprintf(dir, sizeof(dir), "/tmp/cw_auth_XXXXXX");
    CHECK(mkdtemp(dir));
    return dir;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    CHECK(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f);
    fputs(text, f);
    CHECK_EQ(fclose(f), 0);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;

    CHECK(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

TEST(auth_userdb_save_load)
{
    char *dir = tmp_dir(), path[256], err[256];
    struct turn_userdb *db = turn_userdb_create(), *db2 = NULL;
    struct turn_key ka = key_of("alice", "example.org", "secret");
    struct turn_key kc = key_of("carol", "b.example", "x");
    struct collect c;
    struct stat st;
    const struct turn_key *k;
    char *text;

    snprintf(path, sizeof(path), "%s/users", dir);
    CHECK_EQ(turn_userdb_set(db, "zed", "example.org", &kc), 0);
    CHECK_EQ(turn_userdb_set(db, "alice", "example.org", &ka), 0);
    CHECK_EQ(turn_userdb_set(db, "carol", "b.example", &kc), 0);
    CHECK_EQ(turn_userdb_set(db, "gone", "b.example", &kc), 0);
    CHECK_EQ(turn_userdb_del(db, "gone", "b.example"), 0);
    CHECK_EQ(turn_userdb_save(db, path, err, sizeof(err)), 0);

    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0600);
    CHECK_EQ(count_entries(dir), 1); /* no temporary file left behind */
    text = read_file(path);
    CHECK(strstr(text, "alice example.org 543e1aec5d3614f03141652d6ada51b2 "
                       "d1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1f\n"));
    CHECK(!strstr(text, "gone"));

    CHECK_EQ(turn_userdb_load(path, &db2, err, sizeof(err)), 0);
    CHECK(db2);
    CHECK_EQ(turn_userdb_count(db2), 3);
    k = turn_userdb_find(db2, "alice", 5, "example.org");
    CHECK(k && memcmp(k, &ka, sizeof(ka)) == 0);
    k = turn_userdb_find(db2, "carol", 5, "b.example");
    CHECK(k && memcmp(k, &kc, sizeof(kc)) == 0);

    /* file order survives, and foreach stops when told */
    memset(&c, 0, sizeof(c));
    CHECK_EQ(turn_userdb_foreach(db2, collect_cb, &c), 0);
    CHECK_STR(c.buf, "zed@example.org,alice@example.org,carol@b.example,");
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    CHECK_EQ(turn_userdb_foreach(db2, collect_cb, &c), 7);
    CHECK_STR(c.buf, "zed@example.org,alice@example.org,");

    /* saving over an existing file replaces it, mode 0600 even if it was not */
    CHECK_EQ(chmod(path, 0644), 0);
    CHECK_EQ(turn_userdb_del(db2, "zed", "example.org"), 0);
    CHECK_EQ(turn_userdb_save(db2, path, err, sizeof(err)), 0);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0600);
    CHECK_EQ(count_entries(dir), 1);
    turn_userdb_destroy(db2);
    CHECK_EQ(turn_userdb_load(path, &db2, err, sizeof(err)), 0);
    CHECK_EQ(turn_userdb_count(db2), 2);
    CHECK(!turn_userdb_find(db2, "zed", 3, "example.org"));

    /* an unwritable directory fails cleanly */
    snprintf(path, sizeof(path), "%s/nodir/users", dir);
    CHECK_EQ(turn_userdb_save(db2, path, err, sizeof(err)), -1);
    CHECK(strstr(err, "nodir/users"));

    turn_userdb_destroy(db);
    turn_userdb_destroy(db2);
    rm_tree(dir);
}

TEST(auth_userdb_load_missing_and_comments)
{
    char *dir = tmp_dir(), path[256], err[256];
    struct turn_userdb *db = NULL;

    snprintf(path, sizeof(path), "%s/absent", dir);
    CHECK_EQ(turn_userdb_load(path, &db, err, sizeof(err)), 0);
    CHECK(db);
    CHECK_EQ(turn_userdb_count(db), 0);
    turn_userdb_destroy(db);

    /* comments, blank lines, tabs, CRLF, upper-case hex, no final newline */
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, "# a comment\n\n   \n  # indented comment\n"
                     "alice\texample.org  543E1AEC5D3614F03141652D6ADA51B2 "
                     "d1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1f\r\n"
                     "bob r 00000000000000000000000000000000 "
                     "0000000000000000000000000000000000000000000000000000000000000000");
    CHECK_EQ(turn_userdb_load(path, &db, err, sizeof(err)), 0);
    CHECK_EQ(turn_userdb_count(db), 2);
    CHECK(turn_userdb_find(db, "alice", 5, "example.org"));
    CHECK(turn_userdb_find(db, "bob", 3, "r"));
    turn_userdb_destroy(db);
    rm_tree(dir);
}

#define MD5_HEX "543e1aec5d3614f03141652d6ada51b2"
#define SHA_HEX "d1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1f"

TEST(auth_userdb_load_errors)
{
    static const struct {
        const char *line3;   /* the bad line, after a good one and a comment */
        const char *what;    /* expected in the message */
    } cases[] = {
        { "carol example.org " MD5_HEX, "expected 4 fields" },
        { "carol example.org " MD5_HEX " " SHA_HEX " extra", "expected 4 fields" },
        { "carol", "expected 4 fields" },
        { "carol example.org zz3e1aec5d3614f03141652d6ada51b2 " SHA_HEX, "bad md5 key" },
        { "carol example.org 543e1aec5d3614f03141652d6ada51b " SHA_HEX, "bad md5 key" },
        { "carol example.org 543e1aec5d3614f03141652d6ada51b2aa " SHA_HEX, "bad md5 key" },
        { "carol example.org " MD5_HEX
          " d1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1", "bad sha256 key" },
        { "carol example.org " MD5_HEX
          " g1659fff7a501be15962adc35514ca6a5868905695f2dd1093741f931e000a1f", "bad sha256 key" },
        { "car\x01ol example.org " MD5_HEX " " SHA_HEX, "bad user name" },
        { "carol exa\x7fmple.org " MD5_HEX " " SHA_HEX, "bad realm name" },
        { "alice example.org " MD5_HEX " " SHA_HEX, "duplicate" },
    };
    char *dir = tmp_dir(), path[256], err[256], text[1024], want[300];
    struct turn_userdb *db;
    size_t i;

    snprintf(path, sizeof(path), "%s/users", dir);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "alice example.org " MD5_HEX " " SHA_HEX "\n# comment\n%s\n"
                 "bob r " MD5_HEX " " SHA_HEX "\n", cases[i].line3);
        write_file(path, text);
        db = (struct turn_userdb *)1;
        err[0] = '\0';
        if (turn_userdb_load(path, &db, err, sizeof(err)) != -1)
            FAIL("case %zu (%s) loaded", i, cases[i].line3);
        CHECK(db == NULL);
        snprintf(want, sizeof(want), "%s:3: ", path);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].what))
            FAIL("case %zu: got \"%s\", want \"%s...%s\"", i, err, want, cases[i].what);
    }

    /* a NUL byte in a line */
    {
        FILE *f = fopen(path, "w");

        CHECK(f);
        fputs("alice example.org " MD5_HEX " " SHA_HEX "\nbo", f);
        fputc('\0', f);
        fputs("b r " MD5_HEX " " SHA_HEX "\n", f);
        fclose(f);
        CHECK_EQ(turn_userdb_load(path, &db, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s:2: ", path);
        CHECK(strncmp(err, want, strlen(want)) == 0);
    }

    /* a directory is not a file */
    CHECK_EQ(turn_userdb_load(dir, &db, err, sizeof(err)), -1);
    CHECK(strstr(err, dir) == err);
    rm_tree(dir);
}

/* ---- nonces ------------------------------------------------------------- */

static struct sockaddr_in sin4(const char *ip, unsigned port)
{
    struct sockaddr_in s;

    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_port = htons((uint16_t)port);
    CHECK_EQ(inet_pton(AF_INET, ip, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 sin6(const char *ip, unsigned port)
{
    struct sockaddr_in6 s;

    memset(&s, 0, sizeof(s));
    s.sin6_family = AF_INET6;
    s.sin6_port = htons((uint16_t)port);
    CHECK_EQ(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_secret(uint8_t s[TURN_NONCE_SECRET_LEN])
{
    int i;

    for (i = 0; i < TURN_NONCE_SECRET_LEN; i++)
        s[i] = (uint8_t)i;
}

TEST(auth_nonce_vector)
{
    uint8_t sec[TURN_NONCE_SECRET_LEN];
    struct sockaddr_in c4 = sin4("192.0.2.1", 3478);
    struct sockaddr_in6 c6 = sin6("2001:db8::7", 50000);
    struct sockaddr_in6 c4m = sin6("::ffff:192.0.2.1", 3478);
    char n[TURN_NONCE_LEN + 8];

    test_secret(sec);
    /* "%08x" % exp + hmac(sec, pack(">I", exp) + b"\x01" + ip + pack(">H", port),
     * sha256).hexdigest()[:32] */
    memset(n, 'Z', sizeof(n));
    turn_nonce_make(sec, SA(c4), 0x65000000, n);
    CHECK_EQ(strlen(n), TURN_NONCE_LEN);
    CHECK_STR(n, "6500000034e5a5caf734cd1cf451ab735fa61ff9");
    turn_nonce_make(sec, SA(c6), 0x65000000, n);
    CHECK_STR(n, "650000007ad180c2b9c5780081baa4ab3d4fd08e");
    /* an IPv4-mapped client is the same client as the plain IPv4 one */
    turn_nonce_make(sec, SA(c4m), 0x65000000, n);
    CHECK_STR(n, "6500000034e5a5caf734cd1cf451ab735fa61ff9");
    CHECK_EQ(turn_nonce_check(sec, SA(c4), (const uint8_t *)n, TURN_NONCE_LEN, 0x64000000),
             TURN_NONCE_OK);
}

TEST(auth_nonce_check)
{
    uint8_t sec[TURN_NONCE_SECRET_LEN], sec2[TURN_NONCE_SECRET_LEN];
    struct sockaddr_in c = sin4("198.51.100.7", 40000);
    struct sockaddr_in other_port = sin4("198.51.100.7", 40001);
    struct sockaddr_in other_ip = sin4("198.51.100.8", 40000);
    struct sockaddr_in6 c6 = sin6("2001:db8::1", 40000);
    struct sockaddr_in6 c6b = sin6("2001:db8::2", 40000);
    struct sockaddr_un_like { sa_family_t f; char pad[30]; } unk = { AF_UNIX, { 0 } };
    const uint64_t now = 1700000000, exp = now + 600;
    char n[TURN_NONCE_LEN + 1], t[TURN_NONCE_LEN + 2];
    const uint8_t *nb = (const uint8_t *)n, *tb = (const uint8_t *)t;
    size_t i;

    test_secret(sec);
    memcpy(sec2, sec, sizeof(sec2));
    sec2[31] ^= 1;
    turn_nonce_make(sec, SA(c), exp, n);

    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN, now), TURN_NONCE_OK);
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN, exp - 1), TURN_NONCE_OK);
    /* stale at the expiry second and after */
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN, exp), TURN_NONCE_STALE);
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN, exp + 3600), TURN_NONCE_STALE);
    /* bound to the client address and port, and to our secret */
    CHECK_EQ(turn_nonce_check(sec, SA(other_port), nb, TURN_NONCE_LEN, now),
             TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec, SA(other_ip), nb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec, SA(c6), nb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec2, SA(c), nb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);
    /* foreign even when also expired: a stale answer would invite a retry */
    CHECK_EQ(turn_nonce_check(sec, SA(other_ip), nb, TURN_NONCE_LEN, exp + 1),
             TURN_NONCE_FOREIGN);

    /* every single-character change is caught, the expiry digits included */
    for (i = 0; i < TURN_NONCE_LEN; i++) {
        memcpy(t, n, sizeof(n));
        t[i] = t[i] == '0' ? '1' : '0';
        if (turn_nonce_check(sec, SA(c), tb, TURN_NONCE_LEN, now) != TURN_NONCE_FOREIGN)
            FAIL("tampered character %zu accepted", i);
    }
    /* not hex, upper case (we never issue it), wrong lengths */
    memcpy(t, n, sizeof(n));
    t[20] = 'g';
    CHECK_EQ(turn_nonce_check(sec, SA(c), tb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);
    memcpy(t, n, sizeof(n));
    for (i = 0; i < TURN_NONCE_LEN; i++)
        if (t[i] >= 'a' && t[i] <= 'f')
            t[i] = (char)(t[i] - 'a' + 'A');
    if (strcmp(t, n) != 0)
        CHECK_EQ(turn_nonce_check(sec, SA(c), tb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN - 1, now), TURN_NONCE_FOREIGN);
    memcpy(t, n, sizeof(n));
    t[TURN_NONCE_LEN] = '0';
    CHECK_EQ(turn_nonce_check(sec, SA(c), tb, TURN_NONCE_LEN + 1, now), TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, 0, now), TURN_NONCE_FOREIGN);
    CHECK_EQ(turn_nonce_check(sec, SA(c), NULL, 0, now), TURN_NONCE_FOREIGN);

    /* IPv6 clients */
    turn_nonce_make(sec, SA(c6), exp, n);
    CHECK_EQ(turn_nonce_check(sec, SA(c6), nb, TURN_NONCE_LEN, now), TURN_NONCE_OK);
    CHECK_EQ(turn_nonce_check(sec, SA(c6b), nb, TURN_NONCE_LEN, now), TURN_NONCE_FOREIGN);

    /* no usable client address: never a valid nonce */
    turn_nonce_make(sec, (const struct sockaddr *)&unk, exp, n);
    CHECK_EQ(strlen(n), TURN_NONCE_LEN);
    CHECK_EQ(turn_nonce_check(sec, (const struct sockaddr *)&unk, nb, TURN_NONCE_LEN, now),
             TURN_NONCE_FOREIGN);

    /* an expiry past 32 bits is clamped, not wrapped into the past */
    turn_nonce_make(sec, SA(c), (uint64_t)1 << 40, n);
    CHECK_EQ(strncmp(n, "ffffffff", 8), 0);
    CHECK_EQ(turn_nonce_check(sec, SA(c), nb, TURN_NONCE_LEN, now), TURN_NONCE_OK);
}
