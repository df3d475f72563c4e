/* fedlink.c - what both ends of a federation link share (fedlink.h): the
 * key file and the proof. */
#include "xmpp/fedlink.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

int fedlink_proof(const uint8_t *key, size_t key_len, const char *label, const char *a,
                  const char *b, char out[FEDLINK_PROOF_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char msg[64 + 2 * FEDLINK_NONCE_LEN];
    int n = snprintf(msg, sizeof(msg), "%s%s %s", label, a, b);

    out[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof(msg) ||
        !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, (size_t)n, md,
              &mdlen) ||
        mdlen * 2 != FEDLINK_PROOF_LEN)
        return -1;
    cw_hex_encode(md, mdlen, out);
    out[FEDLINK_PROOF_LEN] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

int fedlink_key_read(const char *path, uint8_t key[FEDLINK_KEY_MAX], size_t *len, char *err,
                     size_t errlen)
{
    uint8_t extra;
    ssize_t n = 0;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    while (got < FEDLINK_KEY_MAX && ((n = read(fd, key + got, FEDLINK_KEY_MAX - got)) > 0 ||
                                     (n < 0 && errno == EINTR)))
        got += n > 0 ? (size_t)n : 0;
    if (n >= 0 && got == FEDLINK_KEY_MAX && read(fd, &extra, 1) > 0)
        n = -2;
    if (n == -1)
        snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    if (n < 0 || got < FEDLINK_KEY_MIN) {
        if (n == -2)
            snprintf(err, errlen, "longer than %d bytes", FEDLINK_KEY_MAX);
        else if (n >= 0)
            snprintf(err, errlen, "shorter than %d bytes (make one with: openssl rand -hex 32 > "
                     "FILE, and give the edge and every node the same file)", FEDLINK_KEY_MIN);
        OPENSSL_cleanse(key, FEDLINK_KEY_MAX);
        return -1;
    }
    *len = got;
    return 0;
}
