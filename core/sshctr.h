/* sshctr.h - AES-CTR keystream made in batches for libssh2 1.10 (see
 * sshctr.c for why and how). */
#ifndef CORE_SSHCTR_H
#define CORE_SSHCTR_H

#include <openssl/evp.h>

/* Batches the CTR cipher calls made from the shared library whose code
 * contains fn (pass a libssh2 function). Call once, before any session
 * exists. Returns 0, or -1 when fn is in no shared library (in the
 * program itself, or in no code at all). */
int core_sshctr_enable(const void *fn);

/* What the interposed EVP_Cipher and EVP_CIPHER_CTX_free do for calls from
 * the batched library; for the unit tests, which call them directly. */
int core__sshctr_cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, unsigned int inl);
void core__sshctr_ctx_free(EVP_CIPHER_CTX *ctx);

#endif
