/* test_sasl.c - xmpp/sasl.c: SCRAM-SHA-1/-256 against the RFC examples and a
 * small client of our own, PLAIN, every refusal, credentials and base64. */
#include "common/base64.h"
#include "test.h"

#include "xmpp/sasl.h"

#include <stdint.h>

#include <openssl/evp.h>

/* Test-only seam in sasl.c: our nonce part, fixed instead of random. */
void sasl__test_set_nonce(struct sasl_server *s, const char *snonce);

/* The RFC 5802 5 and RFC 7677 3 examples' records (user "user", password
 * "pencil"), as Python's hashlib derives them. */
#define RFC5802_REC "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:" \
                    "D+CSWLOshSulAsxiupA+qs2/fTE="
#define RFC7677_REC "SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:"                  \
                    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                 \
                    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

/* ---- a user table and a SCRAM client of the test's own ------------------- */

struct users {
    const char *name;
    struct sasl_cred cred[3];   /* by enum sasl_hash */
    int have[3];
    int lookups;
};

static int lookup(void *ctx, const char *user, enum sasl_hash hash, struct sasl_cred *out)
{
    struct users *u = ctx;

    u->lookups++;
    if (strcmp(user, u->name) || !u->have[hash])
        return -1;
    *out = u->cred[hash];
    return 0;
}

static void users_add(struct users *u, const char *rec)
{
    struct sasl_cred c;

    CHECK_EQ(sasl_cred_parse(rec, &c), 0);
    u->cred[c.hash] = c;
    u->have[c.hash] = 1;
}

static const EVP_MD *md_of(enum sasl_hash h)
{
    return h == SASL_SHA1 ? EVP_sha1() : EVP_sha256();
}

static void mac(enum sasl_hash h, const uint8_t *key, size_t klen, const void *d, size_t n,
                uint8_t *out)
{
    size_t len = 0;

    CHECK(EVP_Q_mac(NULL, "HMAC", NULL, h == SASL_SHA1 ? "SHA1" : "SHA256", NULL, key, klen, d,
                    n, out, 32, &len));
}

/* RFC 5802 3, written out independently of sasl.c. */
static size_t derive(enum sasl_hash h, const char *pass, const uint8_t *salt, size_t saltlen,
                     unsigned iter, uint8_t *ckey, uint8_t *stored, uint8_t *server)
{
    size_t hl = h == SASL_SHA1 ? 20 : 32;
    uint8_t salted[32];
    unsigned int n;

    CHECK_EQ(PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, (int)saltlen, (int)iter, md_of(h),
                               (int)hl, salted), 1);
    mac(h, salted, hl, "Client Key", 10, ckey);
    CHECK_EQ(EVP_Digest(ckey, hl, stored, &n, md_of(h), NULL), 1);
    mac(h, salted, hl, "Server Key", 10, server);
    return hl;
}

static char *b64(const void *p, size_t n)
{
    struct cw_sb sb;

    cw_sb_init(&sb);
    cw_b64_encode(p, n, &sb);
    CHECK(!sb.failed && sb.s);
    return sb.s;
}

/* Value of attribute a in a server-first message (trusted, from our
 * server), into v (256 bytes). */
static const char *attr(const char *msg, char a, char *v)
{
    const char *p = msg, *e;
    size_t n;

    while (p && !(p[0] == a && p[1] == '='))
        p = (p = strchr(p, ',')) ? p + 1 : NULL;
    CHECK(p);
    e = strchr(p, ',');
    n = e ? (size_t)(e - p - 2) : strlen(p + 2);
    CHECK(n < 256);
    memcpy(v, p + 2, n);
    v[n] = 0;
    return v;
}

/* The client's half: from its client-first-message-bare and the server's
 * first message, the client-final message (into final) and the server
 * signature it must then see (into want_v, "v=..."). gs2 is the header sent. */
static void client_final(enum sasl_hash h, const char *pass, const char *gs2, const char *bare,
                         const char *server_first, char *final, char *want_v)
{
    char r[256], s[256], i[256];
    uint8_t salt[64], ckey[32], stored[32], server[32], sig[32], proof[32];
    char am[2048], *cb = b64(gs2, strlen(gs2)), *p64, *v64;
    long saltlen;
    size_t hl, k;

    attr(server_first, 'r', r);
    attr(server_first, 's', s);
    attr(server_first, 'i', i);
    saltlen = sasl_b64_decode(s, strlen(s), salt);
    CHECK(saltlen > 0);
    hl = derive(h, pass, salt, (size_t)saltlen, (unsigned)atoi(i), ckey, stored, server);
    snprintf(final, 1024, "c=%s,r=%s", cb, r);
    snprintf(am, sizeof(am), "%s,%s,%s", bare, server_first, final);
    mac(h, stored, hl, am, strlen(am), sig);
    for (k = 0; k < hl; k++)
        proof[k] = ckey[k] ^ sig[k];
    p64 = b64(proof, hl);
    strcat(final, ",p=");
    strcat(final, p64);
    mac(h, server, hl, am, strlen(am), sig);
    v64 = b64(sig, hl);
    sprintf(want_v, "v=%s", v64);
    free(cb), free(p64), free(v64);
}

static enum sasl_result step(struct sasl_server *s, const char *msg, struct cw_sb *out)
{
    cw_sb_clear(out);
    return sasl_server_step(s, (const uint8_t *)msg, strlen(msg), out);
}

/* A whole SCRAM exchange by our client: the result of the last step. */
static enum sasl_result scram_run(enum sasl_mech m, struct users *u, const char *user,
                                  const char *pass)
{
    enum sasl_hash h = m == SASL_MECH_SCRAM_SHA_1 ? SASL_SHA1 : SASL_SHA256;
    struct sasl_server *s = sasl_server_new(m, lookup, u);
    struct cw_sb out;
    char first[256], final[1024], want_v[128], v[256], *sf;
    enum sasl_result r;

    CHECK(s);
    cw_sb_init(&out);
    snprintf(first, sizeof(first), "n,,n=%s,r=Cl1entN0nce+/", user);
    CHECK_EQ(step(s, first, &out), SASL_CONTINUE);
    CHECK(strncmp(out.s, "r=Cl1entN0nce+/", 15) == 0);        /* ours follows theirs */
    CHECK_EQ(strlen(attr(out.s, 'r', v)), 13 + 32);        /* 24 random bytes in base64 */
    sf = strdup(out.s);
    client_final(h, pass, "n,,", first + 3, sf, final, want_v);
    r = step(s, final, &out);
    if (r == SASL_OK) {
        CHECK_STR(out.s, want_v);
        CHECK_STR(sasl_server_user(s), user);
    }
    CHECK_EQ(step(s, final, &out), SASL_FAIL);        /* nothing after the end */
    CHECK_STR(sasl_server_error(s, NULL), "malformed-request");
    free(sf);
    cw_sb_free(&out);
    sasl_server_free(s);
    return r;
}

static void users_make(struct users *u, const char *name, const char *pass)
{
    memset(u, 0, sizeof(*u));
    u->name = name;
    CHECK_EQ(sasl_cred_make(SASL_SHA1, pass, 0, &u->cred[SASL_SHA1]), 0);
    CHECK_EQ(sasl_cred_make(SASL_SHA256, pass, 4096, &u->cred[SASL_SHA256]), 0);
    u->have[SASL_SHA1] = u->have[SASL_SHA256] = 1;
}

/* ---- the RFC examples ----------------------------------------------------- */

/* Records built here from the RFC's password and salt with OpenSSL alone
 * are the ones Python's hashlib gives. */
TEST(sasl_rfc_records_derive)
{
    static const struct { enum sasl_hash h; const char *salt, *rec; } v[] = {
        { SASL_SHA1, "QSXCR+Q6sek8bf92", RFC5802_REC },
        { SASL_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", RFC7677_REC },
    };
    size_t i;

    for (i = 0; i < 2; i++) {
        struct sasl_cred c;
        struct cw_sb sb;
        uint8_t ckey[32];

        memset(&c, 0, sizeof(c));
        c.hash = v[i].h;
        c.iter = 4096;
        c.salt_len = (size_t)sasl_b64_decode(v[i].salt, strlen(v[i].salt), c.salt);
        derive(v[i].h, "pencil", c.salt, c.salt_len, 4096, ckey, c.stored_key, c.server_key);
        cw_sb_init(&sb);
        sasl_cred_format(&c, &sb);
        CHECK_STR(sb.s, v[i].rec);
        cw_sb_free(&sb);
    }
}

static void rfc_example(enum sasl_mech m, const char *rec, const char *snonce, const char *first,
                        const char *want_sf, const char *final, const char *want_v)
{
    struct users u = { .name = "user" };
    struct sasl_server *s;
    struct cw_sb out;

    users_add(&u, rec);
    s = sasl_server_new(m, lookup, &u);
    CHECK(s);
    sasl__test_set_nonce(s, snonce);
    cw_sb_init(&out);
    CHECK_EQ(step(s, first, &out), SASL_CONTINUE);
    CHECK_STR(out.s, want_sf);
    CHECK_EQ(step(s, final, &out), SASL_OK);
    CHECK_STR(out.s, want_v);
    CHECK_STR(sasl_server_user(s), "user");
    CHECK(sasl_server_error(s, NULL) == NULL);
    cw_sb_free(&out);
    sasl_server_free(s);
}

TEST(sasl_rfc5802_example)
{
    rfc_example(SASL_MECH_SCRAM_SHA_1, RFC5802_REC, "3rfcNHYJY1ZVvWVs7j",
                "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

/* The server nonce is "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" as RFC 7677 3 prints
 * it: with a '+' after the ')' the RFC's proof does not verify. */
TEST(sasl_rfc7677_example)
{
    rfc_example(SASL_MECH_SCRAM_SHA_256, RFC7677_REC, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* Our client agrees with the RFC too (so the exchanges below mean something). */
TEST(sasl_test_client_matches_rfc5802)
{
    char final[1024], v[128];

    client_final(SASL_SHA1, "pencil", "n,,", "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                 final, v);
    CHECK_STR(final, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                     "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    CHECK_STR(v, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

/* ---- SCRAM exchanges ------------------------------------------------------ */

TEST(sasl_scram_full_exchange_both_hashes)
{
    struct users u;

    users_make(&u, "juliet", "r0m30 & more");
    CHECK_EQ(scram_run(SASL_MECH_SCRAM_SHA_256, &u, "juliet", "r0m30 & more"), SASL_OK);
    CHECK_EQ(scram_run(SASL_MECH_SCRAM_SHA_1, &u, "juliet", "r0m30 & more"), SASL_OK);
    CHECK_EQ(u.cred[SASL_SHA1].iter, SASL_ITER_DEFAULT);
}

TEST(sasl_scram_wrong_password)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024], v[128], *sf;
    const char *reason = NULL;

    users_make(&u, "juliet", "right");
    CHECK_EQ(scram_run(SASL_MECH_SCRAM_SHA_1, &u, "juliet", "wrong"), SASL_FAIL);
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(step(s, "n,,n=juliet,r=abc", &out), SASL_CONTINUE);
    sf = strdup(out.s);
    client_final(SASL_SHA256, "wrong", "n,,", "n=juliet,r=abc", sf, final, v);
    CHECK_EQ(step(s, final, &out), SASL_FAIL);
    CHECK_STR(sasl_server_error(s, &reason), "not-authorized");
    CHECK_STR(reason, "wrong password (proof mismatch)");
    CHECK_EQ(out.len, 0);
    free(sf);
    cw_sb_free(&out);
    sasl_server_free(s);
}

/* An unknown user gets a plausible server-first, the same salt each time,
 * and fails only at the proof, as a wrong password does. */
TEST(sasl_scram_unknown_user_fails_at_proof)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024], v[128], *sf, salt1[256] = "", a[256];
    const char *reason = NULL;
    int round;

    users_make(&u, "juliet", "right");
    CHECK_EQ(scram_run(SASL_MECH_SCRAM_SHA_256, &u, "romeo", "right"), SASL_FAIL);
    for (round = 0; round < 2; round++) {
        s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
        cw_sb_init(&out);
        CHECK_EQ(step(s, "n,,n=romeo,r=abc", &out), SASL_CONTINUE);
        sf = strdup(out.s);
        CHECK_STR(attr(sf, 'i', a), "10000");
        if (!salt1[0])
            attr(sf, 's', salt1);
        else
            CHECK_STR(attr(sf, 's', a), salt1);
        CHECK_EQ(strlen(salt1), 24);                    /* 16 bytes, like a real salt */
        CHECK(sasl_server_error(s, NULL) == NULL);
        client_final(SASL_SHA256, "right", "n,,", "n=romeo,r=abc", sf, final, v);
        CHECK_EQ(step(s, final, &out), SASL_FAIL);
        CHECK_STR(sasl_server_error(s, &reason), "not-authorized");
        CHECK(strstr(reason, "unknown user"));
        CHECK_STR(sasl_server_user(s), "romeo");
        free(sf);
        cw_sb_free(&out);
        sasl_server_free(s);
    }
    /* another name, another salt */
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(step(s, "n,,n=mercutio,r=abc", &out), SASL_CONTINUE);
    CHECK(strcmp(attr(out.s, 's', a), salt1) != 0);
    cw_sb_free(&out);
    sasl_server_free(s);
}

/* A second message after a given first one; returns the result and checks
 * the condition (and that the reason names what it should). */
static void scram_final_fails(const char *first, const char *final_fmt, const char *cond,
                              const char *reason_part)
{
    struct users u = { .name = "user" };
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024];
    const char *reason = NULL;

    users_add(&u, RFC5802_REC);
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_1, lookup, &u);
    sasl__test_set_nonce(s, "3rfcNHYJY1ZVvWVs7j");
    cw_sb_init(&out);
    CHECK_EQ(step(s, first, &out), SASL_CONTINUE);
    snprintf(final, sizeof(final), final_fmt, "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j");
    if (step(s, final, &out) != SASL_FAIL)
        FAIL("accepted: %s", final);
    CHECK_STR(sasl_server_error(s, &reason), cond);
    if (!strstr(reason, reason_part))
        FAIL("%s: reason \"%s\" lacks \"%s\"", final, reason, reason_part);
    CHECK(!strstr(reason, "v0X8v3Bz2T0CJGbJQyF0X"));
    CHECK_EQ(out.len, 0);
    cw_sb_free(&out);
    sasl_server_free(s);
}

#define RFC_FIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define RFC_PROOF "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

TEST(sasl_scram_nonce_tampering)
{
    scram_final_fails(RFC_FIRST, "c=biws,r=%sX," RFC_PROOF, "not-authorized", "nonce");
    scram_final_fails(RFC_FIRST, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL," RFC_PROOF "%.0s",
                      "not-authorized", "nonce");
    scram_final_fails(RFC_FIRST, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J," RFC_PROOF
                      "%.0s", "not-authorized", "nonce");
    scram_final_fails(RFC_FIRST, "c=biws,r=," RFC_PROOF "%.0s", "not-authorized", "nonce");
}

TEST(sasl_scram_channel_binding_mismatch)
{
    /* "y,," (eSws) is not what was sent */
    scram_final_fails(RFC_FIRST, "c=eSws,r=%s," RFC_PROOF, "not-authorized", "channel binding");
    scram_final_fails(RFC_FIRST, "c=,r=%s," RFC_PROOF, "not-authorized", "channel binding");
    scram_final_fails(RFC_FIRST, "c=biws!,r=%s," RFC_PROOF, "malformed-request", "base64");
    /* "y,," sent and "y,," bound works; "n,," bound after "y,," does not */
    scram_final_fails("y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "c=biws,r=%s," RFC_PROOF,
                      "not-authorized", "channel binding");
}

TEST(sasl_scram_y_flag_accepted)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024], v[128], *sf;

    users_make(&u, "user", "pw");
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(step(s, "y,a=user,n=user,r=xyz,q=ignored-extension", &out), SASL_CONTINUE);
    sf = strdup(out.s);
    client_final(SASL_SHA256, "pw", "y,a=user,", "n=user,r=xyz,q=ignored-extension", sf, final,
                 v);
    CHECK_EQ(step(s, final, &out), SASL_OK);
    CHECK_STR(out.s, v);
    free(sf);
    cw_sb_free(&out);
    sasl_server_free(s);
}

TEST(sasl_scram_bad_proof)
{
    scram_final_fails(RFC_FIRST, "c=biws,r=%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", "malformed-request",
                      "proof");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s,p=AAAA", "malformed-request", "proof");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s,p=", "malformed-request", "proof");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s,p=v1X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized",
                      "wrong password");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s," RFC_PROOF ",x=late", "malformed-request",
                      "proof");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s", "malformed-request", "proof");
    scram_final_fails(RFC_FIRST, "r=%s,c=biws," RFC_PROOF, "malformed-request", "c=");
    scram_final_fails(RFC_FIRST, "c=biws," RFC_PROOF "%.0s", "malformed-request", "nonce");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s,,"  RFC_PROOF, "malformed-request", "extension");
    scram_final_fails(RFC_FIRST, "c=biws,r=%s," RFC_PROOF ",", "malformed-request", "proof");
}

static void first_fails(enum sasl_mech m, const char *first, size_t n, const char *cond,
                        const char *reason_part)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    const char *reason = NULL;

    memset(&u, 0, sizeof(u));
    u.name = "user";
    users_add(&u, RFC5802_REC);
    users_add(&u, RFC7677_REC);
    s = sasl_server_new(m, lookup, &u);
    cw_sb_init(&out);
    if (sasl_server_step(s, (const uint8_t *)first, n, &out) != SASL_FAIL)
        FAIL("accepted: %.*s", (int)n, first);
    CHECK_STR(sasl_server_error(s, &reason), cond);
    if (!strstr(reason, reason_part))
        FAIL("%.*s: reason \"%s\" lacks \"%s\"", (int)n, first, reason, reason_part);
    CHECK_EQ(out.len, 0);
    cw_sb_free(&out);
    sasl_server_free(s);
}

#define FIRST_FAILS(msg, cond, part) \
    first_fails(SASL_MECH_SCRAM_SHA_256, msg, sizeof(msg) - 1, cond, part)

TEST(sasl_scram_p_flag_refused)
{
    FIRST_FAILS("p=tls-unique,,n=user,r=abc", "malformed-request", "p=");
    FIRST_FAILS("p=tls-server-end-point,a=user,n=user,r=abc", "malformed-request", "p=");
}

TEST(sasl_scram_authzid)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024], v[128], *sf;

    FIRST_FAILS("n,a=admin,n=user,r=abc", "invalid-authzid", "authzid");
    FIRST_FAILS("n,a=user2,n=user,r=abc", "invalid-authzid", "authzid");
    FIRST_FAILS("n,a=use,n=user,r=abc", "invalid-authzid", "authzid");
    FIRST_FAILS("n,a=us=2Cer,n=user,r=abc", "invalid-authzid", "authzid");
    FIRST_FAILS("n,a=,n=user,r=abc", "malformed-request", "authzid");
    /* the user's own name as authzid is fine */
    users_make(&u, "user", "pw");
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_1, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(step(s, "n,a=user,n=user,r=abc", &out), SASL_CONTINUE);
    sf = strdup(out.s);
    client_final(SASL_SHA1, "pw", "n,a=user,", "n=user,r=abc", sf, final, v);
    CHECK_EQ(step(s, final, &out), SASL_OK);
    free(sf);
    cw_sb_free(&out);
    sasl_server_free(s);
}

TEST(sasl_scram_malformed_first)
{
    static char big[4200];

    FIRST_FAILS("n,,", "malformed-request", "username");      /* no bare part at all */
    FIRST_FAILS("n", "malformed-request", "gs2");
    FIRST_FAILS("n,", "malformed-request", "gs2");
    FIRST_FAILS("x,,n=user,r=abc", "malformed-request", "flag");
    FIRST_FAILS("nn,,n=user,r=abc", "malformed-request", "flag");
    FIRST_FAILS(",,n=user,r=abc", "malformed-request", "flag");
    FIRST_FAILS("n,b=x,n=user,r=abc", "malformed-request", "gs2");
    FIRST_FAILS("n,,m=ext,n=user,r=abc", "malformed-request", "m=");
    FIRST_FAILS("n,,r=abc", "malformed-request", "username");
    FIRST_FAILS("n,,n=user", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,r=", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,s=abc", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,r=a\x7f" "b", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,r=a b", "malformed-request", "nonce");
    FIRST_FAILS("n,,n=user,r=abc,", "malformed-request", "extension");
    FIRST_FAILS("n,,n=user,r=abc,x", "malformed-request", "extension");
    FIRST_FAILS("n,,n=user,r=abc,x=", "malformed-request", "extension");
    FIRST_FAILS("n,,n=user,r=abc,1=y", "malformed-request", "extension");
    FIRST_FAILS("n,,n=user\0,r=abc", "malformed-request", "NUL");
    /* usernames: '=' escapes stand for ',' and '=', which no user has */
    FIRST_FAILS("n,,n=us=2Cer,r=abc", "not-authorized", "username");
    FIRST_FAILS("n,,n=us=3Der,r=abc", "not-authorized", "username");
    FIRST_FAILS("n,,n=,r=abc", "not-authorized", "username");
    FIRST_FAILS("n,,n=us er,r=abc", "not-authorized", "username");
    FIRST_FAILS("n,,n=\xc3\xa9,r=abc", "not-authorized", "username");
    /* 65 bytes of name */
    memcpy(big, "n,,n=", 5);
    memset(big + 5, 'a', 65);
    memcpy(big + 70, ",r=abc", 6);
    first_fails(SASL_MECH_SCRAM_SHA_256, big, 76, "not-authorized", "username");
    /* sizes: 4096 bytes are read, one more is not */
    memcpy(big, "n,,n=user,r=", 12);
    memset(big + 12, 'x', sizeof(big) - 12);
    first_fails(SASL_MECH_SCRAM_SHA_256, big, 4097, "malformed-request", "4096");
    first_fails(SASL_MECH_PLAIN, big, 4097, "malformed-request", "4096");
    {
        struct users u;
        struct sasl_server *s;
        struct cw_sb out;

        users_make(&u, "user", "pw");
        s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
        cw_sb_init(&out);
        CHECK_EQ(sasl_server_step(s, (const uint8_t *)big, 4096, &out), SASL_CONTINUE);
        cw_sb_free(&out);
        sasl_server_free(s);
    }
}

/* RFC 6120 6.4.2: no initial response gets an empty challenge, once. */
TEST(sasl_empty_initial_response)
{
    struct users u;
    struct sasl_server *s;
    struct cw_sb out;
    char final[1024], v[128], *sf;
    int m;

    users_make(&u, "user", "pw");
    for (m = 0; m < 3; m++) {
        s = sasl_server_new((enum sasl_mech)m, lookup, &u);
        cw_sb_init(&out);
        CHECK_EQ(sasl_server_step(s, NULL, 0, &out), SASL_CONTINUE);
        CHECK_EQ(out.len, 0);
        CHECK_EQ(sasl_server_step(s, (const uint8_t *)"", 0, &out), SASL_FAIL);
        CHECK_STR(sasl_server_error(s, NULL), "malformed-request");
        cw_sb_free(&out);
        sasl_server_free(s);
    }
    s = sasl_server_new(SASL_MECH_SCRAM_SHA_256, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(sasl_server_step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_EQ(step(s, "n,,n=user,r=abc", &out), SASL_CONTINUE);
    sf = strdup(out.s);
    client_final(SASL_SHA256, "pw", "n,,", "n=user,r=abc", sf, final, v);
    CHECK_EQ(step(s, final, &out), SASL_OK);
    CHECK_EQ(sasl_server_step(s, NULL, 0, &out), SASL_FAIL);
    free(sf);
    cw_sb_free(&out);
    sasl_server_free(s);
    s = sasl_server_new(SASL_MECH_PLAIN, lookup, &u);
    cw_sb_init(&out);
    CHECK_EQ(sasl_server_step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_EQ(sasl_server_step(s, (const uint8_t *)"\0user\0pw", 8, &out), SASL_OK);
    cw_sb_free(&out);
    sasl_server_free(s);
}

/* ---- PLAIN ---------------------------------------------------------------- */

static enum sasl_result plain(struct users *u, const char *msg, size_t n, const char **cond,
                              const char **reason)
{
    struct sasl_server *s = sasl_server_new(SASL_MECH_PLAIN, lookup, u);
    struct cw_sb out;
    enum sasl_result r;

    cw_sb_init(&out);
    r = sasl_server_step(s, (const uint8_t *)msg, n, &out);
    CHECK_EQ(out.len, 0);
    *cond = sasl_server_error(s, reason);
    if (r == SASL_OK)
        CHECK_STR(sasl_server_user(s), "user");
    if (r != SASL_CONTINUE)
        CHECK_EQ(sasl_server_step(s, (const uint8_t *)msg, n, &out), SASL_FAIL);
    cw_sb_free(&out);
    sasl_server_free(s);
    return r;
}

#define PLAIN(u, lit) plain(u, lit, sizeof(lit) - 1, &cond, &reason)

TEST(sasl_plain)
{
    struct users u = { .name = "user" };
    const char *cond, *reason;

    /* the RFC records: sasl.c's own derivation meets the RFC's keys */
    users_add(&u, RFC5802_REC);
    users_add(&u, RFC7677_REC);
    CHECK_EQ(PLAIN(&u, "\0user\0pencil"), SASL_OK);
    CHECK(cond == NULL);
    CHECK_EQ(PLAIN(&u, "user\0user\0pencil"), SASL_OK);
    CHECK_EQ(PLAIN(&u, "\0user\0pencil!"), SASL_FAIL);
    CHECK_STR(cond, "not-authorized");
    CHECK_STR(reason, "wrong password");
    CHECK_EQ(PLAIN(&u, "\0user\0Pencil"), SASL_FAIL);
    CHECK_EQ(PLAIN(&u, "admin\0user\0pencil"), SASL_FAIL);
    CHECK_STR(cond, "invalid-authzid");
    CHECK_EQ(PLAIN(&u, "\0nobody\0pencil"), SASL_FAIL);
    CHECK_STR(cond, "not-authorized");
    CHECK_STR(reason, "unknown user");
    CHECK_EQ(PLAIN(&u, "\0us,er\0pencil"), SASL_FAIL);
    CHECK_STR(cond, "not-authorized");
    CHECK_EQ(PLAIN(&u, "\0\0pencil"), SASL_FAIL);
    CHECK_STR(cond, "not-authorized");
    CHECK_EQ(PLAIN(&u, "\0user\0"), SASL_FAIL);
    CHECK_STR(cond, "malformed-request");
    CHECK_EQ(PLAIN(&u, "\0userpencil"), SASL_FAIL);
    CHECK_STR(cond, "malformed-request");
    CHECK_EQ(PLAIN(&u, "userpencil"), SASL_FAIL);
    CHECK_EQ(PLAIN(&u, "\0user\0pen\0cil"), SASL_FAIL);
    CHECK_STR(cond, "malformed-request");
    /* only a SHA-1 record: PLAIN falls back to it */
    u.have[SASL_SHA256] = 0;
    CHECK_EQ(PLAIN(&u, "\0user\0pencil"), SASL_OK);
    CHECK_EQ(PLAIN(&u, "\0user\0pencim"), SASL_FAIL);
    CHECK_STR(reason, "wrong password");
    /* only a SHA-256 record */
    u.have[SASL_SHA256] = 1;
    u.have[SASL_SHA1] = 0;
    CHECK_EQ(PLAIN(&u, "\0user\0pencil"), SASL_OK);
    /* a record no parse could give is refused, not trusted */
    u.cred[SASL_SHA256].iter = 1;
    CHECK_EQ(PLAIN(&u, "\0user\0pencil"), SASL_FAIL);
    CHECK_STR(cond, "temporary-auth-failure");
}

/* ---- credentials, names, base64 -------------------------------------------- */

TEST(sasl_cred_round_trip)
{
    enum sasl_hash h;

    for (h = SASL_SHA1; h <= SASL_SHA256; h++) {
        struct sasl_cred c, d;
        struct cw_sb sb;
        uint8_t ckey[32], stored[32], server[32];
        size_t hl;

        CHECK_EQ(sasl_cred_make(h, "secret", 0, &c), 0);
        CHECK_EQ(c.iter, SASL_ITER_DEFAULT);
        CHECK_EQ(c.salt_len, 16);
        hl = derive(h, "secret", c.salt, c.salt_len, c.iter, ckey, stored, server);
        CHECK_MEM(c.stored_key, stored, hl);
        CHECK_MEM(c.server_key, server, hl);
        cw_sb_init(&sb);
        sasl_cred_format(&c, &sb);
        CHECK(strncmp(sb.s, h == SASL_SHA1 ? "SCRAM-SHA-1:10000:" : "SCRAM-SHA-256:10000:",
                      h == SASL_SHA1 ? 18 : 20) == 0);
        CHECK_EQ(sasl_cred_parse(sb.s, &d), 0);
        CHECK_EQ(d.hash, h);
        CHECK_EQ(d.iter, c.iter);
        CHECK_EQ(d.salt_len, c.salt_len);
        CHECK_MEM(d.salt, c.salt, c.salt_len);
        CHECK_MEM(d.stored_key, c.stored_key, hl);
        CHECK_MEM(d.server_key, c.server_key, hl);
        cw_sb_free(&sb);
    }
}

TEST(sasl_cred_make_rejects)
{
    struct sasl_cred c;

    CHECK_EQ(sasl_cred_make(SASL_SHA256, "pw", SASL_ITER_MIN - 1, &c), -1);
    CHECK_EQ(sasl_cred_make(SASL_SHA256, "pw", SASL_ITER_MAX + 1, &c), -1);
    CHECK_EQ(sasl_cred_make((enum sasl_hash)3, "pw", 0, &c), -1);
    CHECK_EQ(sasl_cred_make(SASL_SHA256, NULL, 0, &c), -1);
    CHECK_EQ(sasl_cred_make(SASL_SHA1, "pw", SASL_ITER_MIN, &c), 0);
}

TEST(sasl_cred_parse_rejects)
{
    static const char *const bad[] = {
        "",
        "SCRAM-SHA-1",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=:",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=:x",
        "scram-sha-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-512:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        /* iterations out of range or misspelt */
        "SCRAM-SHA-1:4095:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:1000001:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:99999999999:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:04096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:+4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:4096 :QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1::QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        /* salt: empty, bad base64, over 32 bytes */
        "SCRAM-SHA-1:4096::6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf9:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:4096:QSXCR Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:4096:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:"
        "D+CSWLOshSulAsxiupA+qs2/fTE=",
        /* keys of the other hash's length */
        "SCRAM-SHA-256:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "SCRAM-SHA-1:4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=\n",
        "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:",
    };
    struct sasl_cred c;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sasl_cred_parse(bad[i], &c) != -1)
            FAIL("accepted: %s", bad[i]);
    CHECK_EQ(sasl_cred_parse(RFC5802_REC, &c), 0);
    CHECK_EQ(sasl_cred_parse(RFC7677_REC, &c), 0);
    CHECK_EQ(sasl_cred_parse("SCRAM-SHA-1:1000000:QQ==:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:"
                             "D+CSWLOshSulAsxiupA+qs2/fTE=", &c), 0);
    CHECK_EQ(c.iter, 1000000);
    CHECK_EQ(c.salt_len, 1);
}

TEST(sasl_username_and_mech_names)
{
    char name[65];

    memset(name, 'a', sizeof(name));
    CHECK(sasl_username_ok(name, 64));
    CHECK(!sasl_username_ok(name, 65));
    CHECK(sasl_username_ok("a", 1));
    CHECK(sasl_username_ok("Juliet.Capulet_2-x", 18));
    CHECK(!sasl_username_ok("", 0));
    CHECK(!sasl_username_ok("a,b", 3));
    CHECK(!sasl_username_ok("a=2Cb", 5));
    CHECK(!sasl_username_ok("a@b", 3));
    CHECK(!sasl_username_ok("a\0b", 3));
    CHECK_EQ(sasl_mech_parse("SCRAM-SHA-256"), SASL_MECH_SCRAM_SHA_256);
    CHECK_EQ(sasl_mech_parse("SCRAM-SHA-1"), SASL_MECH_SCRAM_SHA_1);
    CHECK_EQ(sasl_mech_parse("PLAIN"), SASL_MECH_PLAIN);
    CHECK_EQ(sasl_mech_parse("plain"), -1);
    CHECK_EQ(sasl_mech_parse("SCRAM-SHA-256-PLUS"), -1);
    CHECK_EQ(sasl_mech_parse("DIGEST-MD5"), -1);
    CHECK_STR(sasl_mech_name(SASL_MECH_SCRAM_SHA_1), "SCRAM-SHA-1");
    CHECK_STR(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
    CHECK(sasl_server_new((enum sasl_mech)7, lookup, NULL) == NULL);
}

TEST(sasl_b64_rfc4648_vectors)
{
    static const char *const v[][2] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    uint8_t buf[64];
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = b64(v[i][0], strlen(v[i][0]));

        CHECK_STR(e, v[i][1]);
        CHECK_EQ(sasl_b64_decode(v[i][1], strlen(v[i][1]), buf), (long)strlen(v[i][0]));
        CHECK_MEM(buf, v[i][0], strlen(v[i][0]));
        free(e);
    }
    CHECK_EQ(sasl_b64_decode("=", 1, buf), 0);          /* RFC 6120 6.4.2 */
    CHECK_EQ(sasl_b64_decode("+/+/", 4, buf), 3);
    CHECK_EQ(buf[0], 0xfb);
    CHECK_EQ(buf[1], 0xff);
    CHECK_EQ(buf[2], 0xbf);
}

TEST(sasl_b64_rejects)
{
    static const char *const bad[] = {
        "Zg=", "Zm9", "Z", "==", "===", "====", "Z===", "Zg==Zg==", "Zm=v", "=Zm9",
        "Zh==", "Zm9=",         /* non-zero unused bits */
        "Zm9 ", " Zm9v", "Zm9v\n", "Zm\r\n8=", "Zm9v Zg==", "Zm*v", "Zm-v", "Zm_v", "Zm9\xc3",
    };
    uint8_t buf[64];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sasl_b64_decode(bad[i], strlen(bad[i]), buf) != -1)
            FAIL("accepted: \"%s\"", bad[i]);
    CHECK_EQ(sasl_b64_decode("Zm9v\0", 5, buf), -1);
    CHECK_EQ(sasl_b64_decode("Zm\0v", 4, buf), -1);
}
