/* test_sshctr.c - the batched AES-CTR keystream gives the bytes libcrypto
 * gives, whatever the call sizes, and leaves other modes alone. */
#include "core/sshctr.h"
#include "tests/unit/test.h"

#include <openssl/rand.h>
#include <uv.h>

static EVP_CIPHER_CTX *ctx_new(const EVP_CIPHER *c, const unsigned char *key, const unsigned char *iv)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

    CHECK(x);
    CHECK(EVP_CipherInit(x, c, key, iv, 1) == 1);
    return x;
}

/* Feeds `len` bytes through the batched path in the call sizes `sizes`
 * (repeated), and through libcrypto in one call, from the same key and IV. */
static void same_as_libcrypto(const EVP_CIPHER *c, const unsigned *sizes, size_t nsizes, size_t len)
{
    unsigned char key[32], iv[16];
    unsigned char *in = malloc(len), *want = malloc(len), *got = malloc(len);
    EVP_CIPHER_CTX *ref, *batched;
    size_t off = 0;

    CHECK(in && want && got);
    CHECK(RAND_bytes(key, sizeof(key)) == 1 && RAND_bytes(iv, sizeof(iv)) == 1);
    CHECK(RAND_bytes(in, (int)len) == 1);
    ref = ctx_new(c, key, iv);
    batched = ctx_new(c, key, iv);
    CHECK(EVP_CipherUpdate(ref, want, &(int){0}, in, (int)len) == 1);
    for (size_t i = 0; off < len; i++) {
        unsigned n = sizes[i % nsizes];

        if (n > len - off)
            n = (unsigned)(len - off);
        CHECK_EQ(core__sshctr_cipher(batched, got + off, in + off, n), n);
        off += n;
    }
    CHECK_MEM(got, want, len);
    EVP_CIPHER_CTX_free(ref);
    core__sshctr_ctx_free(batched);
    free(in);
    free(want);
    free(got);
}

TEST(sshctr_blocks_of_16_match_libcrypto)
{
    /* libssh2 1.10's pattern, across several 32 KB refills; over again
     * (a freed context's address comes back for a new key: it starts afresh). */
    for (int i = 0; i < 3; i++) {
        same_as_libcrypto(EVP_aes_128_ctr(), (unsigned[]){16}, 1, 200 * 1024);
        same_as_libcrypto(EVP_aes_256_ctr(), (unsigned[]){16}, 1, 100 * 1024);
    }
}

TEST(sshctr_any_call_size_matches_libcrypto)
{
    /* Whole packets (libssh2 1.11's pattern), odd sizes, and calls larger
     * than one keystream batch. */
    same_as_libcrypto(EVP_aes_128_ctr(), (unsigned[]){1, 15, 16, 17, 32768, 5, 40000, 32803}, 8,
                      300 * 1024);
}

TEST(sshctr_leaves_other_modes_to_libcrypto)
{
    unsigned char key[16] = {1}, iv[16] = {2}, in[64] = {3}, want[64], got[64];
    EVP_CIPHER_CTX *ref = ctx_new(EVP_aes_128_cbc(), key, iv);
    EVP_CIPHER_CTX *other = ctx_new(EVP_aes_128_cbc(), key, iv);

    EVP_CIPHER_CTX_set_padding(ref, 0);
    EVP_CIPHER_CTX_set_padding(other, 0);
    for (int i = 0; i < 4; i++) {
        CHECK(EVP_Cipher(ref, want + 16 * i, in + 16 * i, 16) > 0);
        CHECK(core__sshctr_cipher(other, got + 16 * i, in + 16 * i, 16) > 0);
    }
    CHECK_MEM(got, want, sizeof(want));
    EVP_CIPHER_CTX_free(ref);
    core__sshctr_ctx_free(other);
}

TEST(sshctr_enable_wants_a_shared_library)
{
    int on_stack = 0;

    /* Code in the program itself (a static libssh2) or no code at all: off. */
    CHECK_EQ(core_sshctr_enable((const void *)same_as_libcrypto), -1);
    CHECK_EQ(core_sshctr_enable(&on_stack), -1);
    /* A shared library's code: on (libuv's, which never calls EVP_Cipher). */
    CHECK_EQ(core_sshctr_enable((const void *)uv_loop_init), 0);
}
