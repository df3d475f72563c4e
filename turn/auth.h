/* auth.h - TURN long-term credentials (RFC 8489 9.2): key derivation, the
 * local user database (keys, never clear passwords), ephemeral REST
 * credentials from a shared secret, and stateless nonces bound to a client.
 * Nothing here logs; nothing here keeps a password after it returns. */
#ifndef TURN_AUTH_H
#define TURN_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TURN_NAME_MAX 512          /* USERNAME and REALM are < 513 bytes (RFC 8489 14.3) */

/* The two keys a user may authenticate with (RFC 8489 9.2.2):
 * md5    = MD5(username ":" realm ":" password)     (also the key of
 *          MESSAGE-INTEGRITY-SHA256 when no PASSWORD-ALGORITHM is given)
 * sha256 = SHA-256(username ":" realm ":" password) (PASSWORD-ALGORITHM SHA-256) */
struct turn_key {
    uint8_t md5[16];
    uint8_t sha256[32];
};

void turn_key_derive(const char *user, size_t userlen, const char *realm,
                     const char *pass, size_t passlen, struct turn_key *out);

/* ---- user database ---------------------------------------------------- */
/* A text file, mode 0600, one user per line:
 *     <user> <realm> <md5-key-hex> <sha256-key-hex>
 * blank lines and '#' comments allowed. User names may not contain
 * whitespace or control characters, nor start with '#'. Keys are written in
 * lower-case hex; either case loads. A duplicate (user, realm) is an error. */
struct turn_userdb;

struct turn_userdb *turn_userdb_create(void);
void turn_userdb_destroy(struct turn_userdb *db);
/* Loads path into a new database. A missing file is an empty database.
 * On error returns -1 with "path:line: what" in err. */
int turn_userdb_load(const char *path, struct turn_userdb **out, char *err, size_t errlen);
/* Writes atomically (temporary file mode 0600, fsync, rename). */
int turn_userdb_save(const struct turn_userdb *db, const char *path, char *err, size_t errlen);
const struct turn_key *turn_userdb_find(const struct turn_userdb *db, const char *user,
                                        size_t userlen, const char *realm);
/* Adds or replaces; -1 if the name is not acceptable. */
int turn_userdb_set(struct turn_userdb *db, const char *user, const char *realm,
                    const struct turn_key *key);
/* 0 if removed, -1 if there was no such user. */
int turn_userdb_del(struct turn_userdb *db, const char *user, const char *realm);
size_t turn_userdb_count(const struct turn_userdb *db);
/* Calls cb for every user in file order; stops early if cb returns non-zero
 * and returns that value, else 0. */
int turn_userdb_foreach(const struct turn_userdb *db,
                        int (*cb)(const char *user, const char *realm, void *arg), void *arg);

/* ---- REST API credentials (coturn's use-auth-secret scheme) ------------ */
/* Username "<expiry unix time>:<name>" (or just "<expiry>"); password =
 * base64(HMAC-SHA1(secret, username)). */
/* Parses the expiry; -1 if the username is not of that form. */
int turn_rest_expiry(const char *user, size_t userlen, int64_t *expiry);
/* Writes the NUL-terminated base64 password; returns its length or -1. */
int turn_rest_password(const uint8_t *secret, size_t secretlen, const char *user,
                       size_t userlen, char *out, size_t outlen);
/* The keys that password gives for realm. */
void turn_rest_key(const uint8_t *secret, size_t secretlen, const char *user,
                   size_t userlen, const char *realm, struct turn_key *out);

/* ---- nonces ----------------------------------------------------------- */
/* A nonce carries its expiry and a MAC over (expiry, client IP, client port)
 * under a per-process secret: the server keeps no state per nonce, and a
 * nonce is useless from another client address. An IPv4-mapped IPv6 client
 * address counts as the IPv4 address; an expiry past 2^32-1 is clamped. */
#define TURN_NONCE_SECRET_LEN 32
#define TURN_NONCE_LEN 40          /* characters, without the NUL */

enum turn_nonce_rc {
    TURN_NONCE_OK = 0,
    TURN_NONCE_STALE = -1,     /* ours, for this client, but expired */
    TURN_NONCE_FOREIGN = -2,   /* not issued by us to this client address */
};

/* Writes TURN_NONCE_LEN characters and a NUL into out (>= TURN_NONCE_LEN+1). */
void turn_nonce_make(const uint8_t secret[TURN_NONCE_SECRET_LEN], const struct sockaddr *client,
                     uint64_t expiry, char *out);
int turn_nonce_check(const uint8_t secret[TURN_NONCE_SECRET_LEN], const struct sockaddr *client,
                     const uint8_t *nonce, size_t len, uint64_t now);

/* Constant-time comparison: 0 when equal. */
int turn_memeq_ct(const void *a, const void *b, size_t n);

#endif
