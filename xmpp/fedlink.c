/* fedlink.c - the proof both ends of a federation link compute (fedlink.h). */
#include "xmpp/fedlink.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

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
