/* auth.c - TURN long-term credentials: key derivation, the user database,
 * REST (shared secret) credentials and stateless client-bound nonces.
 *
 * The user database is a chained hash table keyed by (user, realm) for
 * lookups plus a doubly linked list that keeps file order, so a load / save
 * round trip does not reorder an operator's file. Keys are secrets: every
 * buffer that held one is cleansed before it is freed. */
#include "turn/auth.h"

#include "common/buf.h"
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* ---- primitives --------------------------------------------------------- */

int turn_memeq_ct(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) != 0;
}

/* A key that cannot be derived must still not be predictable (an all-zero
 * key would let anyone authenticate): fill it with random bytes. Only
 * reached on allocation failure or a provider without MD5 (FIPS). */
static void key_poison(struct turn_key *out)
{
    if (RAND_bytes((unsigned char *)out, (int)sizeof(*out)) != 1)
        abort();
}

/* Hashes user ":" realm ":" pass with md; 0 or -1. */
static int digest3(const EVP_MD *md, const char *user, size_t userlen, const char *realm,
                   const char *pass, size_t passlen, uint8_t *out, unsigned int outlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int rc = -1;

    if (!ctx)
        return -1;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, user, userlen) != 1 ||
        EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, realm, strlen(realm)) != 1 ||
        EVP_DigestUpdate(ctx, ":", 1) != 1 || EVP_DigestUpdate(ctx, pass, passlen) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != outlen)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx); /* cleanses the digest state */
    return rc;
}

void turn_key_derive(const char *user, size_t userlen, const char *realm,
                     const char *pass, size_t passlen, struct turn_key *out)
{
    if (digest3(EVP_md5(), user, userlen, realm, pass, passlen, out->md5,
                sizeof(out->md5)) < 0 ||
        digest3(EVP_sha256(), user, userlen, realm, pass, passlen, out->sha256,
                sizeof(out->sha256)) < 0)
        key_poison(out);
}

/* HMAC with digest mdname; returns the MAC length or -1. An empty key is
 * passed as a pointer to one unused byte: EVP_Q_mac wants a non-NULL key. */
static int hmac(const char *mdname, const uint8_t *key, size_t keylen, const void *data,
                size_t datalen, uint8_t *out, size_t outsize)
{
    static const uint8_t nokey[1];
    size_t n = 0;

    if (!EVP_Q_mac(NULL, "HMAC", NULL, mdname, NULL, keylen ? key : nokey, keylen, data,
                   datalen, out, outsize, &n))
        return -1;
    return (int)n;
}


/* Value of one hex digit, or -1. lower_only rejects 'A'-'F'. */
static int hex_val(uint8_t c, int lower_only)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (!lower_only && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 2*n hex digits from b into out; -1 on a short buffer or a non-hex
 * character. */
static int hex_read(struct cw_rbuf *b, uint8_t *out, size_t n, int lower_only)
{
    const uint8_t *p = cw_rbuf_take(b, 2 * n);
    size_t i;

    if (!p)
        return -1;
    for (i = 0; i < n; i++) {
        int hi = hex_val(p[2 * i], lower_only), lo = hex_val(p[2 * i + 1], lower_only);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- names -------------------------------------------------------------- */

/* A name for the database: 1..TURN_NAME_MAX bytes, no whitespace, no
 * control characters (the file is whitespace-separated, one user a line).
 * Bytes >= 0x80 pass so UTF-8 names work. */
static int name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > TURN_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* A user name must also not start with '#': its line would read back as a
 * comment. */
static int user_ok(const char *s, size_t n)
{
    return name_ok(s, n) && s[0] != '#';
}

/* ---- user database ------------------------------------------------------ */

struct udb_ent {
    struct udb_ent *hnext;          /* hash chain */
    struct udb_ent *prev, *next;    /* file order */
    uint64_t hash;
    size_t userlen, realmlen;
    char *user, *realm;             /* NUL-terminated copies */
    struct turn_key key;
};

struct turn_userdb {
    struct udb_ent **tab;
    size_t nbuckets;                /* power of two */
    size_t count;
    struct udb_ent *head, *tail;
};

#define UDB_MIN_BUCKETS 64

/* FNV-1a over user, a 0 separator (no name contains one), realm. The
 * entries come from the operator, so there is no flooding to resist. */
static uint64_t udb_hash(const char *user, size_t userlen, const char *realm, size_t realmlen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < userlen; i++)
        h = (h ^ (unsigned char)user[i]) * 0x100000001b3ull;
    h = (h ^ 0) * 0x100000001b3ull;
    for (i = 0; i < realmlen; i++)
        h = (h ^ (unsigned char)realm[i]) * 0x100000001b3ull;
    return h;
}

struct turn_userdb *turn_userdb_create(void)
{
    struct turn_userdb *db = calloc(1, sizeof(*db));

    if (!db)
        return NULL;
    db->tab = calloc(UDB_MIN_BUCKETS, sizeof(*db->tab));
    if (!db->tab) {
        free(db);
        return NULL;
    }
    db->nbuckets = UDB_MIN_BUCKETS;
    return db;
}

static void ent_free(struct udb_ent *e)
{
    free(e->user);
    free(e->realm);
    OPENSSL_cleanse(&e->key, sizeof(e->key));
    free(e);
}

void turn_userdb_destroy(struct turn_userdb *db)
{
    struct udb_ent *e, *next;

    if (!db)
        return;
    for (e = db->head; e; e = next) {
        next = e->next;
        ent_free(e);
    }
    free(db->tab);
    free(db);
}

static struct udb_ent **udb_slot(const struct turn_userdb *db, const char *user,
                                 size_t userlen, const char *realm, size_t realmlen,
                                 uint64_t h)
{
    struct udb_ent **pp = &db->tab[h & (db->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->hnext) {
        const struct udb_ent *e = *pp;

        if (e->hash == h && e->userlen == userlen && e->realmlen == realmlen &&
            memcmp(e->user, user, userlen) == 0 && memcmp(e->realm, realm, realmlen) == 0)
            break;
    }
    return pp;
}

/* Doubles the table when the load passes 1; a failed grow is not an error
 * (chains just get longer). */
static void udb_grow(struct turn_userdb *db)
{
    size_t n = db->nbuckets * 2, i;
    struct udb_ent **tab;
    struct udb_ent *e;

    if (db->count < db->nbuckets || n > SIZE_MAX / sizeof(*tab))
        return;
    tab = calloc(n, sizeof(*tab));
    if (!tab)
        return;
    for (i = 0; i < db->nbuckets; i++) {
        struct udb_ent *next;

        for (e = db->tab[i]; e; e = next) {
            next = e->hnext;
            e->hnext = tab[e->hash & (n - 1)];
            tab[e->hash & (n - 1)] = e;
        }
    }
    free(db->tab);
    db->tab = tab;
    db->nbuckets = n;
}

const struct turn_key *turn_userdb_find(const struct turn_userdb *db, const char *user,
                                        size_t userlen, const char *realm)
{
    size_t realmlen;
    struct udb_ent **pp;

    if (!db || !user || !realm)
        return NULL;
    realmlen = strlen(realm);
    pp = udb_slot(db, user, userlen, realm, realmlen, udb_hash(user, userlen, realm, realmlen));
    return *pp ? &(*pp)->key : NULL;
}

/* Adds or replaces (user, realm); dup_is_error makes an existing entry an
 * error (1) instead. Returns 0, 1, or -1 for a bad name or no memory. */
static int udb_put(struct turn_userdb *db, const char *user, size_t userlen, const char *realm,
                   size_t realmlen, const struct turn_key *key, int dup_is_error)
{
    uint64_t h;
    struct udb_ent **pp, *e;

    if (!user_ok(user, userlen) || !name_ok(realm, realmlen))
        return -1;
    h = udb_hash(user, userlen, realm, realmlen);
    pp = udb_slot(db, user, userlen, realm, realmlen, h);
    if (*pp) {
        if (dup_is_error)
            return 1;
        (*pp)->key = *key; /* keeps its place in file order */
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->user = strndup(user, userlen);
    e->realm = strndup(realm, realmlen);
    if (!e->user || !e->realm) {
        ent_free(e);
        return -1;
    }
    e->userlen = userlen;
    e->realmlen = realmlen;
    e->hash = h;
    e->key = *key;
    e->hnext = NULL;
    *pp = e;
    e->prev = db->tail;
    if (db->tail)
        db->tail->next = e;
    else
        db->head = e;
    db->tail = e;
    db->count++;
    udb_grow(db);
    return 0;
}

int turn_userdb_set(struct turn_userdb *db, const char *user, const char *realm,
                    const struct turn_key *key)
{
    if (!db || !user || !realm || !key)
        return -1;
    return udb_put(db, user, strlen(user), realm, strlen(realm), key, 0) == 0 ? 0 : -1;
}

int turn_userdb_del(struct turn_userdb *db, const char *user, const char *realm)
{
    size_t userlen, realmlen;
    struct udb_ent **pp, *e;

    if (!db || !user || !realm)
        return -1;
    userlen = strlen(user);
    realmlen = strlen(realm);
    pp = udb_slot(db, user, userlen, realm, realmlen, udb_hash(user, userlen, realm, realmlen));
    e = *pp;
    if (!e)
        return -1;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        db->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        db->tail = e->prev;
    db->count--;
    ent_free(e);
    return 0;
}

size_t turn_userdb_count(const struct turn_userdb *db)
{
    return db ? db->count : 0;
}

int turn_userdb_foreach(const struct turn_userdb *db,
                        int (*cb)(const char *user, const char *realm, void *arg), void *arg)
{
    const struct udb_ent *e;
    int rc;

    if (!db)
        return 0;
    for (e = db->head; e; e = e->next) {
        rc = cb(e->user, e->realm, arg);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- user database file ------------------------------------------------- */

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

#define UDB_FIELDS 4

/* Splits a line into whitespace-separated fields; returns how many there
 * are (counting past UDB_FIELDS, storing only the first UDB_FIELDS). */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *flen)
{
    struct cw_rbuf b;
    const uint8_t *c;
    size_t n = 0;
    int in_field = 0;

    cw_rbuf_init(&b, line, len);
    while ((c = cw_rbuf_take(&b, 1))) {
        if (is_space(*c)) {
            in_field = 0;
            continue;
        }
        if (!in_field) {
            in_field = 1;
            if (n < UDB_FIELDS) {
                f[n] = (const char *)c;
                flen[n] = 0;
            }
            n++;
        }
        if (n <= UDB_FIELDS)
            flen[n - 1]++;
    }
    return n;
}

/* Parses one line into db. Returns 0, or -1 with the reason in *what. */
static int udb_parse_line(struct turn_userdb *db, const char *line, size_t len,
                          const char **what)
{
    const char *f[UDB_FIELDS];
    size_t flen[UDB_FIELDS], n;
    struct turn_key key;
    struct cw_rbuf b;
    int rc;

    n = split_fields(line, len, f, flen);
    if (n == 0 || f[0][0] == '#')
        return 0;
    if (n != UDB_FIELDS) {
        *what = "expected 4 fields: user realm md5-key-hex sha256-key-hex";
        return -1;
    }
    if (!user_ok(f[0], flen[0])) {
        *what = "bad user name (1-512 bytes, no control characters, no leading '#')";
        return -1;
    }
    if (!name_ok(f[1], flen[1])) {
        *what = "bad realm name (1-512 bytes, no control characters)";
        return -1;
    }
    cw_rbuf_init(&b, f[2], flen[2]);
    if (hex_read(&b, key.md5, sizeof(key.md5), 0) < 0 || cw_rbuf_left(&b)) {
        *what = "bad md5 key: expected 32 hex digits";
        goto fail;
    }
    cw_rbuf_init(&b, f[3], flen[3]);
    if (hex_read(&b, key.sha256, sizeof(key.sha256), 0) < 0 || cw_rbuf_left(&b)) {
        *what = "bad sha256 key: expected 64 hex digits";
        goto fail;
    }
    rc = udb_put(db, f[0], flen[0], f[1], flen[1], &key, 1);
    if (rc == 1)
        *what = "duplicate user and realm (an earlier line has them)";
    else if (rc < 0)
        *what = "out of memory";
    OPENSSL_cleanse(&key, sizeof(key));
    return rc == 0 ? 0 : -1;
fail:
    OPENSSL_cleanse(&key, sizeof(key));
    return -1;
}

int turn_userdb_load(const char *path, struct turn_userdb **out, char *err, size_t errlen)
{
    struct turn_userdb *db = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    const char *what = NULL;
    int rc = -1;

    *out = NULL;
    db = turn_userdb_create();
    if (!db) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            rc = 0;
            goto out;
        }
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len)) {
            what = "NUL byte in line";
            break;
        }
        if (udb_parse_line(db, line, (size_t)len, &what) < 0)
            break;
        what = NULL;
    }
    if (what) {
        snprintf(err, errlen, "%s:%zu: %s", path, lineno, what);
        goto out;
    }
    if (!feof(f)) { /* getline failed: read error or no memory */
        snprintf(err, errlen, "%s:%zu: %s", path, lineno + 1,
                 errno ? strerror(errno) : "read error");
        goto out;
    }
    rc = 0;
out:
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    if (f)
        fclose(f);
    if (rc == 0) {
        *out = db;
        db = NULL; /* transferred */
    }
    turn_userdb_destroy(db);
    return rc;
}

/* Writes one entry; the line buffer is cleansed since it holds keys. */
static int udb_write_ent(FILE *f, const struct udb_ent *e)
{
    char md5[2 * sizeof(e->key.md5) + 1], sha[2 * sizeof(e->key.sha256) + 1];
    int rc;

    cw_hex_encode(e->key.md5, sizeof(e->key.md5), md5);
    md5[sizeof(md5) - 1] = '\0';
    cw_hex_encode(e->key.sha256, sizeof(e->key.sha256), sha);
    sha[sizeof(sha) - 1] = '\0';
    rc = fprintf(f, "%s %s %s %s\n", e->user, e->realm, md5, sha) < 0 ? -1 : 0;
    OPENSSL_cleanse(md5, sizeof(md5));
    OPENSSL_cleanse(sha, sizeof(sha));
    return rc;
}

int turn_userdb_save(const struct turn_userdb *db, const char *path, char *err, size_t errlen)
{
    static const char suffix[] = ".tmp.XXXXXX";
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, rc = -1;
    size_t plen = strlen(path);
    const struct udb_ent *e;

    tmp = malloc(plen + sizeof(suffix));
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof(suffix));
    fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL; /* nothing to unlink */
        goto out;
    }
    if (fchmod(fd, 0600) < 0) {
        snprintf(err, errlen, "%s: chmod: %s", tmp, strerror(errno));
        goto out;
    }
    /* An administrator editing as root must not leave a file that the
     * daemon's own user can no longer read: keep the old owner. */
    {
        struct stat old;
        if (stat(path, &old) == 0 && (old.st_uid != geteuid() || old.st_gid != getegid()) &&
            fchown(fd, old.st_uid, old.st_gid) < 0) {
            snprintf(err, errlen, "%s: cannot keep its owner %u:%u: %s", path,
                     (unsigned)old.st_uid, (unsigned)old.st_gid, strerror(errno));
            goto out;
        }
    }
    f = fdopen(fd, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1; /* transferred */
    if (fprintf(f, "# TURN users: <user> <realm> <md5-key-hex> <sha256-key-hex>\n") < 0)
        goto write_err;
    for (e = db ? db->head : NULL; e; e = e->next)
        if (udb_write_ent(f, e) < 0)
            goto write_err;
    if (fflush(f) != 0 || fsync(fileno(f)) < 0)
        goto write_err;
    if (fclose(f) != 0) {
        f = NULL;
        goto write_err;
    }
    f = NULL;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: rename from %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    cw_file_sync_dir(path);
    free(tmp);
    tmp = NULL; /* renamed, nothing to unlink */
    rc = 0;
    goto out;
write_err:
    snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
out:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    return rc;
}

/* ---- REST credentials --------------------------------------------------- */

int turn_rest_expiry(const char *user, size_t userlen, int64_t *expiry)
{
    struct cw_rbuf b;
    int64_t v = 0;
    size_t digits = 0;

    cw_rbuf_init(&b, user, user ? userlen : 0);
    while (cw_rbuf_left(&b)) {
        uint8_t c = cw_rbuf_u8(&b);

        if (c == ':')
            break;
        if (c < '0' || c > '9')
            return -1;
        if (v > (INT64_MAX - (c - '0')) / 10)
            return -1;
        v = v * 10 + (c - '0');
        digits++;
    }
    if (digits == 0)
        return -1;
    *expiry = v;
    return 0;
}

#define REST_MAC_LEN 20 /* HMAC-SHA1 */
#define REST_PASS_LEN 28 /* base64 of 20 bytes */

int turn_rest_password(const uint8_t *secret, size_t secretlen, const char *user,
                       size_t userlen, char *out, size_t outlen)
{
    uint8_t mac[REST_MAC_LEN];
    int n;

    if (!out || outlen < REST_PASS_LEN + 1)
        return -1;
    if (hmac("SHA1", secret, secretlen, user, userlen, mac, sizeof(mac)) != REST_MAC_LEN) {
        OPENSSL_cleanse(mac, sizeof(mac));
        return -1;
    }
    n = EVP_EncodeBlock((unsigned char *)out, mac, REST_MAC_LEN);
    OPENSSL_cleanse(mac, sizeof(mac));
    return n == REST_PASS_LEN ? n : -1;
}

void turn_rest_key(const uint8_t *secret, size_t secretlen, const char *user,
                   size_t userlen, const char *realm, struct turn_key *out)
{
    char pass[REST_PASS_LEN + 1];
    int n = turn_rest_password(secret, secretlen, user, userlen, pass, sizeof(pass));

    if (n < 0)
        key_poison(out);
    else
        turn_key_derive(user, userlen, realm, pass, (size_t)n, out);
    OPENSSL_cleanse(pass, sizeof(pass));
}

/* ---- nonces --------------------------------------------------------------- */
/* Layout: 8 hex digits of the 32-bit expiry (seconds, clamped at 2106), then
 * 32 hex digits of HMAC-SHA256(secret, expiry BE32 || family || address ||
 * port BE16) truncated to 16 bytes. family is 1 for IPv4, 2 for IPv6 (the
 * STUN address family codes); an IPv4-mapped IPv6 client counts as IPv4 so
 * a dual-stack socket and a plain one agree. */

#define NONCE_EXP_HEX 8
#define NONCE_MAC_LEN 16
#define NONCE_MSG_MAX (4 + 1 + 16 + 2)

/* Serialises the MAC input; returns its length, or 0 for an unusable
 * client address. */
static size_t nonce_msg(const struct sockaddr *client, uint32_t exp, uint8_t *msg)
{
    struct cw_wbuf w;

    cw_wbuf_init(&w, msg, NONCE_MSG_MAX);
    cw_wbuf_u32(&w, exp);
    if (client && client->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)client;

        cw_wbuf_u8(&w, 1);
        cw_wbuf_bytes(&w, &s->sin_addr, 4);
        cw_wbuf_u16(&w, ntohs(s->sin_port));
    } else if (client && client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)client;

        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            cw_wbuf_u8(&w, 1);
            cw_wbuf_bytes(&w, s->sin6_addr.s6_addr + 12, 4);
        } else {
            cw_wbuf_u8(&w, 2);
            cw_wbuf_bytes(&w, s->sin6_addr.s6_addr, 16);
        }
        cw_wbuf_u16(&w, ntohs(s->sin6_port));
    } else {
        return 0;
    }
    return cw_wbuf_failed(&w) ? 0 : w.len;
}

/* MAC for (client, exp); 0 or -1. */
static int nonce_mac(const uint8_t secret[TURN_NONCE_SECRET_LEN],
                     const struct sockaddr *client, uint32_t exp, uint8_t mac[NONCE_MAC_LEN])
{
    uint8_t msg[NONCE_MSG_MAX], full[32];
    size_t n = nonce_msg(client, exp, msg);
    int rc = -1;

    if (n && hmac("SHA256", secret, TURN_NONCE_SECRET_LEN, msg, n, full, sizeof(full)) ==
                 (int)sizeof(full)) {
        memcpy(mac, full, NONCE_MAC_LEN);
        rc = 0;
    }
    OPENSSL_cleanse(full, sizeof(full));
    return rc;
}

void turn_nonce_make(const uint8_t secret[TURN_NONCE_SECRET_LEN], const struct sockaddr *client,
                     uint64_t expiry, char *out)
{
    uint32_t exp = expiry > UINT32_MAX ? UINT32_MAX : (uint32_t)expiry;
    uint8_t eb[4] = { (uint8_t)(exp >> 24), (uint8_t)(exp >> 16), (uint8_t)(exp >> 8),
                      (uint8_t)exp };
    uint8_t mac[NONCE_MAC_LEN];

    /* An unusable client address or a MAC failure gets random MAC bytes: a
     * nonce that will not verify, never a predictable one. */
    if (nonce_mac(secret, client, exp, mac) < 0 && RAND_bytes(mac, sizeof(mac)) != 1)
        memset(mac, 0, sizeof(mac)); /* check fails too: it recomputes */
    cw_hex_encode(eb, sizeof(eb), out);
    cw_hex_encode(mac, sizeof(mac), out + NONCE_EXP_HEX);
    out[TURN_NONCE_LEN] = '\0';
}

int turn_nonce_check(const uint8_t secret[TURN_NONCE_SECRET_LEN], const struct sockaddr *client,
                     const uint8_t *nonce, size_t len, uint64_t now)
{
    struct cw_rbuf b;
    uint8_t eb[4], got[NONCE_MAC_LEN], want[NONCE_MAC_LEN];
    uint32_t exp;

    if (!nonce || len != TURN_NONCE_LEN)
        return TURN_NONCE_FOREIGN;
    cw_rbuf_init(&b, nonce, len);
    if (hex_read(&b, eb, sizeof(eb), 1) < 0 || hex_read(&b, got, sizeof(got), 1) < 0)
        return TURN_NONCE_FOREIGN;
    exp = (uint32_t)eb[0] << 24 | (uint32_t)eb[1] << 16 | (uint32_t)eb[2] << 8 | eb[3];
    if (nonce_mac(secret, client, exp, want) < 0)
        return TURN_NONCE_FOREIGN;
    if (turn_memeq_ct(got, want, sizeof(want)) != 0)
        return TURN_NONCE_FOREIGN;
    if (exp <= now)
        return TURN_NONCE_STALE;
    return TURN_NONCE_OK;
}
