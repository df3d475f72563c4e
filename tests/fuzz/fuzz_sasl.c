/* fuzz_sasl.c - libFuzzer harness for the SASL server (xmpp/sasl.c): client
 * messages of SCRAM-SHA-1/-256 or PLAIN, base64 and stored credentials.
 *
 * The first byte picks the mechanism (value % 3, as enum sasl_mech) and
 * whether our nonce part is random (0x80) or the RFC example's, so seeds
 * with valid proofs reach success. The rest, split on 0xff, are the
 * successive client messages. The lookup knows one user, "user", with
 * password "pencil" (the RFC 5802 / RFC 7677 example records). The same
 * rest is also base64-decoded and parsed as a credential record; both
 * must round-trip exactly when accepted (they accept one spelling only). */
#include "common/base64.h"
#include "xmpp/sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Test-only seam in sasl.c. */
void sasl__test_set_nonce(struct sasl_server *s, const char *snonce);

#define SEP 0xff

static const char *const records[] = {
    "SCRAM-SHA-1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
    "SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
};
static struct sasl_cred creds[3];

static int lookup(void *ctx, const char *user, enum sasl_hash hash, struct sasl_cred *out)
{
    (void)ctx;
    if (strcmp(user, "user") || (hash != SASL_SHA1 && hash != SASL_SHA256))
        return -1;
    *out = creds[hash];
    return 0;
}

static void exchange(enum sasl_mech m, int random_nonce, const uint8_t *p, size_t n)
{
    struct sasl_server *s = sasl_server_new(m, lookup, NULL);
    struct cw_sb out;
    enum sasl_result r = SASL_CONTINUE;
    const char *cond, *reason;
    size_t k, steps = 0;

    if (!s)
        abort();
    if (!random_nonce)
        sasl__test_set_nonce(s, m == SASL_MECH_SCRAM_SHA_1 ? "3rfcNHYJY1ZVvWVs7j"
                                                           : "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    cw_sb_init(&out);
    for (;;) {
        enum sasl_result prev = r;

        for (k = 0; k < n && p[k] != SEP; k++)
            ;
        cw_sb_clear(&out);
        r = sasl_server_step(s, p, k, &out);
        steps++;
        if (out.failed)
            abort();
        cond = sasl_server_error(s, &reason);
        if (prev != SASL_CONTINUE) {
            /* the exchange was over: every later step fails the same way */
            if (r != SASL_FAIL || strcmp(cond, "malformed-request"))
                abort();
        } else if (r == SASL_OK) {
            if (cond || !sasl_server_user(s) || strcmp(sasl_server_user(s), "user") ||
                (m != SASL_MECH_PLAIN && strncmp(out.s, "v=", 2)))
                abort();
        } else if (r == SASL_FAIL) {
            if (!cond || !reason || out.len)
                abort();
        } else if (m != SASL_MECH_PLAIN && k && strncmp(out.s, "r=", 2)) {
            abort();
        }
        if (k == n || steps > 8)
            break;
        p += k + 1;
        n -= k + 1;
    }
    cw_sb_free(&out);
    sasl_server_free(s);
}

static void b64_round_trip(const uint8_t *p, size_t n)
{
    uint8_t *dec = malloc(n * 3 / 4 + 3);
    struct cw_sb sb;
    long got;

    if (!dec)
        return;
    got = sasl_b64_decode((const char *)p, n, dec);
    cw_sb_init(&sb);
    if (got >= 0) {
        cw_b64_encode(dec, (size_t)got, &sb);
        if (!(n == 1 && p[0] == '=') && (sb.len != n || memcmp(sb.s, p, n)))
            abort();
    }
    /* anything encoded decodes back */
    cw_sb_clear(&sb);
    cw_b64_encode(p, n, &sb);
    free(dec);
    dec = malloc(sb.len * 3 / 4 + 3);
    if (dec && (sasl_b64_decode(sb.s ? sb.s : "", sb.len, dec) != (long)n || memcmp(dec, p, n)))
        abort();
    free(dec);
    cw_sb_free(&sb);
}

static void cred_round_trip(const uint8_t *p, size_t n)
{
    char *text = malloc(n + 1);
    struct sasl_cred c;
    struct cw_sb sb;

    if (!text)
        return;
    memcpy(text, p, n);
    text[n] = 0;
    if (sasl_cred_parse(text, &c) == 0) {
        cw_sb_init(&sb);
        sasl_cred_format(&c, &sb);
        if (sb.failed || strcmp(sb.s, text))
            abort();
        cw_sb_free(&sb);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!creds[SASL_SHA1].iter &&
        (sasl_cred_parse(records[0], &creds[SASL_SHA1]) ||
         sasl_cred_parse(records[1], &creds[SASL_SHA256])))
        abort();
    if (size < 1)
        return 0;
    exchange((enum sasl_mech)((data[0] & 0x7f) % 3), data[0] & 0x80, data + 1, size - 1);
    b64_round_trip(data + 1, size - 1);
    cred_round_trip(data + 1, size - 1);
    return 0;
}
