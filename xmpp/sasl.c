/* sasl.c - XMPP's server side of SASL: SCRAM-SHA-1/-256 and PLAIN against stored keys.
 *
 * SCRAM (RFC 5802, RFC 7677) is a two-message exchange: client-first in,
 * server-first out (CONTINUE), client-final in, server-final out (OK) or a
 * failure. Every client message is read through a bounds-checked reader
 * (common/buf.h) as comma-separated "x=value" attributes (RFC 5802 5.1, 7).
 *
 * An unknown user must look like a wrong password, or probing would list
 * the accounts: the exchange goes on with a fake credential derived from
 * the username under a per-process random key, so the same name always
 * gets the same salt, and the failure comes at the proof. That key is this
 * file's only process-wide state. (PLAIN derives from the fake record too,
 * so it costs the same PBKDF2 either way.)
 *
 * Secrets (SaltedPassword, ClientKey, stored credentials) are wiped with
 * OPENSSL_cleanse once used; failure reasons are static texts that never
 * carry a password, proof or key. */
#include "xmpp/sasl.h"

#include "common/base64.h"

#include "common/buf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SASL_MSG_MAX 4096       /* bytes in one client message */
#define SASL_USER_MAX 64
#define SNONCE_RAW 24           /* random bytes in our nonce part */
#define FAKE_SALT_LEN 16        /* as sasl_cred_make's, so fakes look alike */

/* ---- hashes ------------------------------------------------------------- */

/* What differs between the two hashes. */
static const struct hash_info {
    const char *name, *mdname;  /* as records and mechanisms name it; OpenSSL's */
    const EVP_MD *(*md)(void);
    size_t len;
} hashes[] = {
    [SASL_SHA1] = { "SCRAM-SHA-1", "SHA1", EVP_sha1, 20 },
    [SASL_SHA256] = { "SCRAM-SHA-256", "SHA256", EVP_sha256, 32 },
};

/* The output size of h, 0 for no hash of ours (which nothing else then uses). */
static size_t hash_len(enum sasl_hash h)
{
    return h == SASL_SHA1 || h == SASL_SHA256 ? hashes[h].len : 0;
}

/* HMAC(key, data) with hash h into out (hash_len(h) bytes): 0 or -1. */
static int hmac(enum sasl_hash h, const uint8_t *key, size_t keylen, const void *data,
                size_t datalen, uint8_t *out)
{
    size_t n = 0;

    if (!EVP_Q_mac(NULL, "HMAC", NULL, hashes[h].mdname, NULL, key, keylen, data, datalen, out,
                   SASL_KEY_MAX, &n) || n != hash_len(h))
        return -1;
    return 0;
}

static int digest(enum sasl_hash h, const uint8_t *data, size_t n, uint8_t *out)
{
    unsigned int len = 0;

    if (EVP_Digest(data, n, out, &len, hashes[h].md(), NULL) != 1 || len != hash_len(h))
        return -1;
    return 0;
}

/* RFC 5802 3: SaltedPassword := Hi(password, salt, i) (PBKDF2, RFC 2898),
 * ClientKey := HMAC(SaltedPassword, "Client Key"), StoredKey := H(ClientKey),
 * ServerKey := HMAC(SaltedPassword, "Server Key"). 0 or -1. */
static int derive(enum sasl_hash h, const char *pass, size_t passlen, const uint8_t *salt,
                  size_t saltlen, unsigned iter, uint8_t *stored, uint8_t *server)
{
    uint8_t salted[SASL_KEY_MAX], ckey[SASL_KEY_MAX];
    size_t len = hash_len(h);
    int rc = -1;

    if (!len || passlen > INT_MAX || saltlen > INT_MAX || iter > INT_MAX)
        return -1;
    if (PKCS5_PBKDF2_HMAC(pass, (int)passlen, salt, (int)saltlen, (int)iter, hashes[h].md(),
                          (int)len, salted) != 1)
        goto out;
    if (hmac(h, salted, len, "Client Key", 10, ckey) < 0 || digest(h, ckey, len, stored) < 0 ||
        hmac(h, salted, len, "Server Key", 10, server) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    return rc;
}

/* A credential a lookup handed us is used only if it is one that
 * sasl_cred_parse could have produced for hash h. */
static int cred_usable(const struct sasl_cred *c, enum sasl_hash h)
{
    return c->hash == h && c->iter >= SASL_ITER_MIN && c->iter <= SASL_ITER_MAX &&
           c->salt_len >= 1 && c->salt_len <= SASL_SALT_MAX;
}

/* ---- the fake credential of unknown users -------------------------------- */

/* The only process-wide state: a random key made once, on first use, so
 * that fake salts are stable for a name within a process (a prober asking
 * twice sees the same salt, as for a real user) yet unpredictable. */
static uint8_t fake_key[32];
static int fake_key_ok;
static CRYPTO_ONCE fake_once = CRYPTO_ONCE_STATIC_INIT;

static void fake_key_init(void)
{
    fake_key_ok = RAND_bytes(fake_key, (int)sizeof(fake_key)) == 1;
}

/* Salt = HMAC-SHA256(fake key, hash || user), cut to the length of real
 * ones. The keys stay zero: a fake never authenticates (s->known is 0), it
 * only has to cost what a real check costs. */
static int fake_cred(enum sasl_hash h, const char *user, struct sasl_cred *c)
{
    uint8_t msg[1 + SASL_USER_MAX], mac[SASL_KEY_MAX];
    size_t n = strlen(user);

    if (n > SASL_USER_MAX || !CRYPTO_THREAD_run_once(&fake_once, fake_key_init) || !fake_key_ok)
        return -1;
    msg[0] = (uint8_t)h;
    memcpy(msg + 1, user, n);
    if (hmac(SASL_SHA256, fake_key, sizeof(fake_key), msg, n + 1, mac) < 0)
        return -1;
    memset(c, 0, sizeof(*c));
    c->hash = h;
    c->iter = SASL_ITER_DEFAULT;
    c->salt_len = FAKE_SALT_LEN;
    memcpy(c->salt, mac, FAKE_SALT_LEN);
    return 0;
}

/* ---- base64 ---------------------------------------------------------------- */

long sasl_b64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n == 1 && s[0] == '=')
        return 0;               /* RFC 6120 6.4.2: an empty response */
    return cw_b64_decode(s, n, out, n / 4 * 3);
}

/* ---- fields ------------------------------------------------------------- */

/* Reads a message field by field through a bounds-checked reader: SCRAM's
 * ','-separated attributes (RFC 5802 7), PLAIN's NUL-separated parts (RFC
 * 4616 2), the ':'-separated stored record. */
struct fields {
    struct cw_rbuf r;
    char sep;
    int end;                    /* the last field was read */
};

static void fields_init(struct fields *f, const void *p, size_t n, char sep)
{
    cw_rbuf_init(&f->r, p, n);
    f->sep = sep;
    f->end = 0;
}

/* The next field in p/n (pointing into the message; "" if empty): 0, or -1
 * past the last one. */
static int field_next(struct fields *f, const char **p, size_t *n)
{
    const uint8_t *b = cw_rbuf_peek(&f->r);
    size_t left = cw_rbuf_left(&f->r), i = 0;

    *p = "";
    *n = 0;
    if (f->end)
        return -1;
    while (i < left && b[i] != (uint8_t)f->sep)
        i++;
    if (i)
        *p = (const char *)cw_rbuf_take(&f->r, i);
    *n = i;
    if (i < left)
        cw_rbuf_skip(&f->r, 1);
    else
        f->end = 1;
    return 0;
}

/* ---- credentials ----------------------------------------------------------- */

int sasl_cred_make(enum sasl_hash hash, const char *password, unsigned iter, struct sasl_cred *out)
{
    memset(out, 0, sizeof(*out));
    if (!iter)
        iter = SASL_ITER_DEFAULT;
    /* a record outside these bounds could not be parsed back */
    if (!hash_len(hash) || !password || iter < SASL_ITER_MIN || iter > SASL_ITER_MAX)
        return -1;
    out->hash = hash;
    out->iter = iter;
    out->salt_len = 16;
    if (RAND_bytes(out->salt, (int)out->salt_len) != 1 ||
        derive(hash, password, strlen(password), out->salt, out->salt_len, iter,
               out->stored_key, out->server_key) < 0) {
        OPENSSL_cleanse(out, sizeof(*out));
        return -1;
    }
    return 0;
}

void sasl_cred_format(const struct sasl_cred *c, struct cw_sb *out)
{
    size_t klen = hash_len(c->hash);

    if (!klen || c->salt_len > SASL_SALT_MAX) {
        out->failed = 1;
        return;
    }
    cw_sb_str_add(out, hashes[c->hash].name);
    CW_SB_LIT(out, ":");
    cw_sb_uint(out, c->iter);
    CW_SB_LIT(out, ":");
    cw_b64_encode(c->salt, c->salt_len, out);
    CW_SB_LIT(out, ":");
    cw_b64_encode(c->stored_key, klen, out);
    CW_SB_LIT(out, ":");
    cw_b64_encode(c->server_key, klen, out);
}

/* Base64 field f of n chars into out (cap bytes), exactly want bytes if
 * want, else 1..cap; 0 or -1. */
static int b64_field(const char *f, size_t n, uint8_t *out, size_t cap, size_t want)
{
    uint8_t tmp[48 * 3 / 4 + 3];
    long got;

    if (n > 48 || (got = sasl_b64_decode(f, n, tmp)) < 1 || (size_t)got > cap ||
        (want && (size_t)got != want))
        return -1;
    memcpy(out, tmp, (size_t)got);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return (int)got;
}

int sasl_cred_parse(const char *text, struct sasl_cred *out)
{
    struct fields fl;
    struct sasl_cred c;
    const char *f[5];
    size_t n[5] = { 0 }, i, len = text ? strlen(text) : 0;
    unsigned long iter = 0;
    int salt;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    if (!len || len > 256)
        return -1;
    fields_init(&fl, text, len, ':');
    for (i = 0; i < 5; i++)
        if (field_next(&fl, &f[i], &n[i]) < 0)
            return -1;
    if (!fl.end)
        return -1;
    if (n[0] == 11 && !memcmp(f[0], "SCRAM-SHA-1", 11))
        c.hash = SASL_SHA1;
    else if (n[0] == 13 && !memcmp(f[0], "SCRAM-SHA-256", 13))
        c.hash = SASL_SHA256;
    else
        return -1;
    /* decimal, no sign or leading zero: the record has one spelling */
    if (n[1] < 1 || n[1] > 7 || f[1][0] == '0')
        return -1;
    for (i = 0; i < n[1]; i++) {
        if (f[1][i] < '0' || f[1][i] > '9')
            return -1;
        iter = iter * 10 + (unsigned long)(f[1][i] - '0');
    }
    if (iter < SASL_ITER_MIN || iter > SASL_ITER_MAX)
        return -1;
    c.iter = (unsigned)iter;
    salt = b64_field(f[2], n[2], c.salt, SASL_SALT_MAX, 0);
    if (salt < 0 || b64_field(f[3], n[3], c.stored_key, SASL_KEY_MAX, hash_len(c.hash)) < 0 ||
        b64_field(f[4], n[4], c.server_key, SASL_KEY_MAX, hash_len(c.hash)) < 0) {
        OPENSSL_cleanse(&c, sizeof(c));
        return -1;
    }
    c.salt_len = (size_t)salt;
    *out = c;
    OPENSSL_cleanse(&c, sizeof(c));
    return 0;
}

int sasl_username_ok(const char *s, size_t n)
{
    size_t i;

    if (n < 1 || n > SASL_USER_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* ---- mechanisms -------------------------------------------------------------- */

static const char *const mech_names[] = {
    [SASL_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [SASL_MECH_SCRAM_SHA_1] = "SCRAM-SHA-1",
    [SASL_MECH_PLAIN] = "PLAIN",
};

int sasl_mech_parse(const char *name)
{
    size_t i;

    for (i = 0; name && i < sizeof(mech_names) / sizeof(mech_names[0]); i++)
        if (!strcmp(name, mech_names[i]))
            return (int)i;
    return -1;
}

const char *sasl_mech_name(enum sasl_mech m)
{
    return (unsigned)m < sizeof(mech_names) / sizeof(mech_names[0]) ? mech_names[m] : NULL;
}

/* ---- the exchange ------------------------------------------------------------ */

enum step_state { ST_FIRST, ST_FINAL, ST_DONE };

struct sasl_server {
    enum sasl_mech mech;
    enum sasl_hash hash;        /* SCRAM's */
    sasl_lookup_fn lookup;
    void *ctx;
    enum step_state st;
    int asked;                  /* an empty challenge went out for a missing initial response */
    int known;                  /* cred is the user's, not the fake one */
    char user[SASL_USER_MAX + 1];
    char gs2[8 + SASL_USER_MAX];        /* "n,," or "y,a=user," as received */
    size_t gs2_len;
    char snonce[64];            /* our nonce part if a test set it, else random */
    struct sasl_cred cred;
    /* AuthMessage so far (RFC 5802 3): client-first-message-bare ","
     * server-first-message ","; the nonce sits at nonce_off in it. */
    struct cw_sb am;
    size_t nonce_off, nonce_len;
    const char *cond, *reason;
};

struct sasl_server *sasl_server_new(enum sasl_mech mech, sasl_lookup_fn lookup, void *ctx)
{
    struct sasl_server *s;

    if (!sasl_mech_name(mech) || !lookup)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->mech = mech;
    s->hash = mech == SASL_MECH_SCRAM_SHA_1 ? SASL_SHA1 : SASL_SHA256;
    s->lookup = lookup;
    s->ctx = ctx;
    cw_sb_init(&s->am);
    return s;
}

void sasl_server_free(struct sasl_server *s)
{
    if (!s)
        return;
    cw_sb_free(&s->am);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

/* Test-only seam (tests/unit/test_sasl.c, tests/fuzz/fuzz_sasl.c declare
 * it): uses snonce as our nonce part instead of a random one, so the RFC
 * examples can be replayed. Never call it elsewhere. */
void sasl__test_set_nonce(struct sasl_server *s, const char *snonce);
void sasl__test_set_nonce(struct sasl_server *s, const char *snonce)
{
    size_t n = strlen(snonce);

    if (n >= sizeof(s->snonce))
        n = sizeof(s->snonce) - 1;
    memcpy(s->snonce, snonce, n);
    s->snonce[n] = 0;
}

static enum sasl_result fail(struct sasl_server *s, const char *cond, const char *reason)
{
    s->st = ST_DONE;
    s->cond = cond;
    s->reason = reason;
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    return SASL_FAIL;
}

#define MALFORMED "malformed-request"
#define NOT_AUTHORIZED "not-authorized"
#define TEMPFAIL "temporary-auth-failure"

/* s->user's credential for hash h1 (or else h2, if not 0) into s->cred, or
 * a fake one for h1 if there is none. 0, or -1 after failing s. */
static int cred_get(struct sasl_server *s, enum sasl_hash h1, enum sasl_hash h2)
{
    enum sasl_hash h = h1;

    if (s->lookup(s->ctx, s->user, h, &s->cred) == 0 ||
        (h2 && s->lookup(s->ctx, s->user, h = h2, &s->cred) == 0)) {
        if (!cred_usable(&s->cred, h)) {
            fail(s, TEMPFAIL, "stored credential unusable (wrong hash, iterations or salt)");
            return -1;
        }
        s->known = 1;
    } else if (fake_cred(h1, s->user, &s->cred) < 0) {
        fail(s, TEMPFAIL, "random number generator or crypto failure");
        return -1;
    }
    return 0;
}

/* Whether field p/n is attribute a ("a=..."). */
static int is_attr(const char *p, size_t n, char a)
{
    return n >= 2 && p[0] == a && p[1] == '=';
}

/* attr-val = ALPHA "=" value; value = 1*value-char (RFC 5802 7; NUL bytes
 * were refused for the whole message already). */
static int is_ext(const char *p, size_t n)
{
    return n >= 3 && ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) && p[1] == '=';
}

/* c-nonce = printable: %x21-2B / %x2D-7E, at least one (RFC 5802 7). */
static int nonce_ok(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
            return 0;
    return n > 0;
}

/* client-first-message = gs2-header client-first-message-bare (RFC 5802 7)
 * -> server-first-message. */
static enum sasl_result scram_first(struct sasl_server *s, const uint8_t *in, size_t n,
                                    struct cw_sb *out)
{
    struct fields f;
    const char *p, *authz = NULL, *user, *cnonce;
    size_t pn, authzn = 0, usern, cnoncen, bare_off, sf_off;
    uint8_t raw[SNONCE_RAW];

    fields_init(&f, in, n, ',');
    /* gs2-cbind-flag: "n" (client has no channel binding) or "y" (it has
     * but thinks we have none: RFC 5802 6, right since we offer no -PLUS) */
    if (field_next(&f, &p, &pn) < 0)
        return fail(s, MALFORMED, "malformed client-first: no gs2 header");
    if (is_attr(p, pn, 'p'))
        return fail(s, MALFORMED, "malformed client-first: channel binding (p=) asked for, "
                                  "none offered");
    if (pn != 1 || (p[0] != 'n' && p[0] != 'y'))
        return fail(s, MALFORMED, "malformed client-first: bad gs2 channel binding flag");
    if (field_next(&f, &p, &pn) < 0 || f.end || (pn && !is_attr(p, pn, 'a')))
        return fail(s, MALFORMED, "malformed client-first: bad gs2 header");
    if (pn) {
        authz = p + 2;
        authzn = pn - 2;
        if (!authzn)
            return fail(s, MALFORMED, "malformed client-first: empty authzid");
    }
    bare_off = f.r.off;
    /* RFC 5802 5.1: "m" is reserved for mandatory extensions; we know none */
    field_next(&f, &p, &pn);
    if (is_attr(p, pn, 'm'))
        return fail(s, MALFORMED, "malformed client-first: mandatory extension (m=) not "
                                  "supported");
    if (!is_attr(p, pn, 'n'))
        return fail(s, MALFORMED, "malformed client-first: no username");
    user = p + 2;
    usern = pn - 2;
    if (field_next(&f, &p, &pn) < 0 || !is_attr(p, pn, 'r'))
        return fail(s, MALFORMED, "malformed client-first: no nonce");
    cnonce = p + 2;
    cnoncen = pn - 2;
    if (!nonce_ok(cnonce, cnoncen))
        return fail(s, MALFORMED, "malformed client-first: bad nonce");
    while (field_next(&f, &p, &pn) == 0)
        if (!is_ext(p, pn))
            return fail(s, MALFORMED, "malformed client-first: bad extension");
    /* Usernames here never need "=2C"/"=3D" (',' and '=' are not allowed,
     * RFC 5802 5.1), so any '=' fails here like any other refused byte. */
    if (!sasl_username_ok(user, usern))
        return fail(s, NOT_AUTHORIZED, "malformed client-first: username not acceptable");
    memcpy(s->user, user, usern);
    s->user[usern] = 0;
    /* RFC 6120 6.3.8: an authzid other than the user's own is not ours to grant */
    if (authz && (authzn != usern || memcmp(authz, user, usern)))
        return fail(s, "invalid-authzid", "authzid differs from username");
    s->gs2_len = bare_off;              /* at most "y,a=" user "," */
    memcpy(s->gs2, in, bare_off);

    if (cred_get(s, s->hash, 0) < 0)
        return SASL_FAIL;
    if (!s->snonce[0] && RAND_bytes(raw, (int)sizeof(raw)) != 1)
        return fail(s, TEMPFAIL, "random number generator failure");
    /* server-first-message = nonce "," salt "," iteration-count (RFC 5802 7) */
    cw_sb_add(&s->am, (const char *)in + bare_off, n - bare_off);
    CW_SB_LIT(&s->am, ",");
    sf_off = s->am.len;
    CW_SB_LIT(&s->am, "r=");
    s->nonce_off = s->am.len;
    cw_sb_add(&s->am, cnonce, cnoncen);
    if (s->snonce[0])
        cw_sb_str_add(&s->am, s->snonce);       /* the test's */
    else
        cw_b64_encode(raw, sizeof(raw), &s->am);
    s->nonce_len = s->am.len - s->nonce_off;
    CW_SB_LIT(&s->am, ",s=");
    cw_b64_encode(s->cred.salt, s->cred.salt_len, &s->am);
    CW_SB_LIT(&s->am, ",i=");
    cw_sb_uint(&s->am, s->cred.iter);
    if (s->am.failed)
        return fail(s, TEMPFAIL, "out of memory");
    cw_sb_add(out, s->am.s + sf_off, s->am.len - sf_off);
    CW_SB_LIT(&s->am, ",");
    s->st = ST_FINAL;
    return SASL_CONTINUE;
}

/* client-final-message = client-final-message-without-proof "," proof
 * (RFC 5802 7) -> server-final-message "v=" ServerSignature. */
static enum sasl_result scram_final(struct sasl_server *s, const uint8_t *in, size_t n,
                                    struct cw_sb *out)
{
    struct fields f;
    const char *p, *cb, *nonce, *proof = NULL;
    size_t pn, cbn, noncen, proofn = 0, start, wo_len = 0, i, hl = hash_len(s->hash);
    uint8_t buf[SASL_MSG_MAX * 3 / 4 + 3], sig[SASL_KEY_MAX], ckey[SASL_KEY_MAX];
    uint8_t stored[SASL_KEY_MAX], ssig[SASL_KEY_MAX];
    long got;
    int match;

    fields_init(&f, in, n, ',');
    if (field_next(&f, &cb, &cbn) < 0 || !is_attr(cb, cbn, 'c'))
        return fail(s, MALFORMED, "malformed client-final: no channel binding (c=)");
    if (field_next(&f, &nonce, &noncen) < 0 || !is_attr(nonce, noncen, 'r'))
        return fail(s, MALFORMED, "malformed client-final: no nonce");
    for (;;) {
        start = f.r.off;
        if (field_next(&f, &p, &pn) < 0)
            break;
        if (is_attr(p, pn, 'p')) {
            proof = p + 2;
            proofn = pn - 2;
            wo_len = start - 1;         /* without the ',' before "p=" */
            break;
        }
        if (!is_ext(p, pn))
            return fail(s, MALFORMED, "malformed client-final: bad extension");
    }
    if (!proof || !f.end)
        return fail(s, MALFORMED, "malformed client-final: proof (p=) missing or not last");
    /* RFC 5802 5.1: c= is the base64 of the gs2 header we were sent (no
     * channel binding data follows it: we offer none) */
    got = sasl_b64_decode(cb + 2, cbn - 2, buf);
    if (got < 0)
        return fail(s, MALFORMED, "malformed client-final: bad base64 in c=");
    if ((size_t)got != s->gs2_len || memcmp(buf, s->gs2, s->gs2_len))
        return fail(s, NOT_AUTHORIZED, "channel binding (c=) differs from the gs2 header");
    /* RFC 5802 5.1: the nonce must be exactly the one we sent */
    if (noncen - 2 != s->nonce_len || memcmp(nonce + 2, s->am.s + s->nonce_off, s->nonce_len))
        return fail(s, NOT_AUTHORIZED, "nonce differs from the one sent (replay or tampering)");
    got = sasl_b64_decode(proof, proofn, buf);
    if (got < 0 || (size_t)got != hl)
        return fail(s, MALFORMED, "malformed client-final: bad proof (p=)");

    /* RFC 5802 3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage);
     * it is right if H(ClientKey) == StoredKey */
    cw_sb_add(&s->am, (const char *)in, wo_len);
    if (s->am.failed)
        return fail(s, TEMPFAIL, "out of memory");
    if (hmac(s->hash, s->cred.stored_key, hl, s->am.s, s->am.len, sig) < 0)
        return fail(s, TEMPFAIL, "crypto failure");
    for (i = 0; i < hl; i++)
        ckey[i] = buf[i] ^ sig[i];
    got = digest(s->hash, ckey, hl, stored);
    OPENSSL_cleanse(ckey, sizeof(ckey));
    if (got < 0)
        return fail(s, TEMPFAIL, "crypto failure");
    match = CRYPTO_memcmp(stored, s->cred.stored_key, hl) == 0;
    if (!s->known)
        return fail(s, NOT_AUTHORIZED, s->hash == SASL_SHA1
                                           ? "unknown user (or no SCRAM-SHA-1 record)"
                                           : "unknown user (or no SCRAM-SHA-256 record)");
    if (!match)
        return fail(s, NOT_AUTHORIZED, "wrong password (proof mismatch)");
    if (hmac(s->hash, s->cred.server_key, hl, s->am.s, s->am.len, ssig) < 0)
        return fail(s, TEMPFAIL, "crypto failure");
    CW_SB_LIT(out, "v=");
    cw_b64_encode(ssig, hl, out);
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    s->st = ST_DONE;
    return SASL_OK;
}

/* message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 2). */
static enum sasl_result plain_step(struct sasl_server *s, const uint8_t *in, size_t n)
{
    struct fields f;
    const char *part[3];
    size_t len[3], k;
    uint8_t stored[SASL_KEY_MAX], server[SASL_KEY_MAX];
    int match;

    fields_init(&f, in, n, '\0');
    for (k = 0; k < 3; k++)
        if (field_next(&f, &part[k], &len[k]) < 0)
            break;
    if (k < 3 || !f.end)                /* two NULs exactly */
        return fail(s, MALFORMED, "malformed PLAIN: not authzid NUL authcid NUL password");
    if (!len[2])
        return fail(s, MALFORMED, "malformed PLAIN: empty password");
    if (!sasl_username_ok(part[1], len[1]))
        return fail(s, NOT_AUTHORIZED, "malformed PLAIN: username not acceptable");
    memcpy(s->user, part[1], len[1]);
    s->user[len[1]] = 0;
    if (len[0] && (len[0] != len[1] || memcmp(part[0], part[1], len[1])))
        return fail(s, "invalid-authzid", "authzid differs from username");

    /* the same records SCRAM uses: SHA-256's, or SHA-1's if that is all */
    if (cred_get(s, SASL_SHA256, SASL_SHA1) < 0)
        return SASL_FAIL;
    /* derived for unknown users too: both cost the same PBKDF2 */
    if (derive(s->cred.hash, part[2], len[2], s->cred.salt, s->cred.salt_len, s->cred.iter,
               stored, server) < 0)
        return fail(s, TEMPFAIL, "crypto failure");
    match = CRYPTO_memcmp(stored, s->cred.stored_key, hash_len(s->cred.hash)) == 0;
    OPENSSL_cleanse(server, sizeof(server));
    if (!s->known)
        return fail(s, NOT_AUTHORIZED, "unknown user");
    if (!match)
        return fail(s, NOT_AUTHORIZED, "wrong password");
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    s->st = ST_DONE;
    return SASL_OK;
}

enum sasl_result sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t n,
                                  struct cw_sb *out)
{
    if (s->st == ST_DONE)
        return fail(s, MALFORMED, "step after the end of the exchange");
    if (n > SASL_MSG_MAX)
        return fail(s, MALFORMED, "message over 4096 bytes");
    if (n && !in)
        return fail(s, MALFORMED, "no message");
    if (s->st == ST_FIRST && !n) {
        /* RFC 6120 6.4.2, RFC 4422 5: no initial response; an empty
         * challenge asks for it. Both mechanisms need one, so only once. */
        if (s->asked)
            return fail(s, MALFORMED, "empty first message");
        s->asked = 1;
        return SASL_CONTINUE;
    }
    if (s->mech == SASL_MECH_PLAIN)
        return plain_step(s, in, n);
    /* value-char excludes NUL (RFC 5802 7); refusing it once here also
     * keeps the username a C string */
    if (memchr(in, 0, n))
        return fail(s, MALFORMED, "malformed SCRAM message: NUL byte");
    return s->st == ST_FIRST ? scram_first(s, in, n, out) : scram_final(s, in, n, out);
}

const char *sasl_server_user(const struct sasl_server *s)
{
    return s->user[0] ? s->user : NULL;
}

const char *sasl_server_error(const struct sasl_server *s, const char **reason)
{
    if (reason)
        *reason = s->reason;
    return s->cond;
}
