/* sasl.h - the server side of SASL for XMPP (RFC 6120 6): SCRAM-SHA-256
 * (RFC 7677) and SCRAM-SHA-1 (RFC 5802) against stored keys, never
 * plaintext passwords; PLAIN (RFC 4616), which needs the password, checked
 * against the same stored keys by deriving them from it.
 *
 * Credentials as stored (the replicated user table holds this text, never
 * the password): one record per user per hash,
 *   "SCRAM-SHA-256:<iterations>:<salt b64>:<StoredKey b64>:<ServerKey b64>"
 * A user has a record for each hash so both mechanisms work.
 *
 * Usernames: this subset accepts SCRAM usernames only of ASCII letters,
 * digits and . _ - (no SASLprep mapping needed, ',' and '=' impossible);
 * passwords are taken as UTF-8 bytes, as SASLprep leaves printable ASCII.
 * Channel binding (-PLUS) is not offered; a client that says it supports
 * it while the server advertised none ("y,,") is accepted as RFC 5802 6
 * allows; "p=" is refused. */
#ifndef CW_XMPP_SASL_H
#define CW_XMPP_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

enum sasl_hash { SASL_SHA1 = 1, SASL_SHA256 = 2 };

#define SASL_KEY_MAX 32
#define SASL_SALT_MAX 32
#define SASL_ITER_DEFAULT 10000
#define SASL_ITER_MIN 4096     /* RFC 5802 5.1, RFC 7677 4 */
#define SASL_ITER_MAX 1000000  /* refuse records that would make a login a CPU sink */

struct sasl_cred {
    enum sasl_hash hash;
    unsigned iter;
    uint8_t salt[SASL_SALT_MAX];
    size_t salt_len;
    uint8_t stored_key[SASL_KEY_MAX];
    uint8_t server_key[SASL_KEY_MAX];   /* both hash-sized: 20 or 32 bytes */
};

/* Derives a credential from a password with a fresh random 16-byte salt
 * (iter 0: SASL_ITER_DEFAULT). 0, or -1 (RNG or crypto failure). */
int sasl_cred_make(enum sasl_hash hash, const char *password, unsigned iter, struct sasl_cred *out);
/* The stored text form (above) appended to out; parsing it back. Parse
 * returns 0, or -1 for anything malformed (unknown hash name, iterations
 * outside [SASL_ITER_MIN, SASL_ITER_MAX], bad base64, wrong key length). */
void sasl_cred_format(const struct sasl_cred *c, struct cw_sb *out);
int sasl_cred_parse(const char *text, struct sasl_cred *out);
/* Whether s is an acceptable username here (1) or not (0): 1 to 64 bytes of
 * [A-Za-z0-9._-]. */
int sasl_username_ok(const char *s, size_t n);

/* Mechanisms, named as RFC 6120 6.4.1 advertises them. */
enum sasl_mech { SASL_MECH_SCRAM_SHA_256, SASL_MECH_SCRAM_SHA_1, SASL_MECH_PLAIN };
/* The mechanism for an IANA name ("SCRAM-SHA-256" ...), or -1. */
int sasl_mech_parse(const char *name);
const char *sasl_mech_name(enum sasl_mech m);

/* Looks up the credential of user for hash: 0 and *out filled, or -1 (no
 * such user, or no record for that hash). Called during sasl_server_step. */
typedef int (*sasl_lookup_fn)(void *ctx, const char *user, enum sasl_hash hash,
                              struct sasl_cred *out);

/* Results of a step. On SASL_FAIL, condition is the RFC 6120 6.5 element
 * name to send ("not-authorized", "malformed-request", "invalid-mechanism",
 * "encryption-required", "invalid-authzid", "temporary-auth-failure") and
 * reason a log text that never contains the password or proof. */
enum sasl_result { SASL_CONTINUE = 1, SASL_OK = 0, SASL_FAIL = -1 };

struct sasl_server;

/* One authentication exchange; NULL when out of memory. */
struct sasl_server *sasl_server_new(enum sasl_mech mech, sasl_lookup_fn lookup, void *ctx);
void sasl_server_free(struct sasl_server *s);
/* Feeds the client's next message (decoded from base64 by the caller; the
 * initial response of <auth/>, possibly empty) and appends the server's
 * reply (raw bytes; the caller base64-encodes it for <challenge/> or
 * <success/>) to out.
 *  SASL_CONTINUE: send out as a <challenge/> and wait for a <response/>.
 *  SASL_OK: authenticated; send out (SCRAM's server-final "v=...") in
 *    <success/>. sasl_server_user() names the user.
 *  SASL_FAIL: see sasl_server_error(). The exchange is over either way. */
enum sasl_result sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t n,
                                  struct cw_sb *out);
/* The authenticated username (after SASL_OK), or the one claimed so far
 * (for logs), or NULL. */
const char *sasl_server_user(const struct sasl_server *s);
const char *sasl_server_error(const struct sasl_server *s, const char **reason);

/* Base64 (RFC 4648 4, with padding), as SASL in XMPP uses it (RFC 6120
 * 6.4.2: "=" alone is an empty response). Decode returns the length, or -1
 * for invalid input (including whitespace); out must hold n * 3 / 4 + 3. */
long sasl_b64_decode(const char *s, size_t n, uint8_t *out);

#endif
