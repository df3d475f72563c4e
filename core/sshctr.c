/* sshctr.c - AES-CTR keystream made in batches for libssh2 1.10.
 *
 * libssh2 1.10 encrypts and decrypts a packet one 16-byte block at a time:
 * one EVP_Cipher call per block, each paying OpenSSL 3's provider dispatch
 * and AES-NI's setup for a single block. Measured with perf on the bulk
 * benchmark, those calls were ~45% of causeway-core's CPU and the reason a
 * tunnel moved only ~0.6x of OpenSSH's throughput (bench/tunnel.sh).
 *
 * In CTR mode the keystream does not depend on the data, so it can be made
 * ahead: this file defines EVP_Cipher and EVP_CIPHER_CTX_free in the
 * executable, which the dynamic linker prefers to libcrypto's for calls
 * from libssh2. A call that comes from inside libssh2's code on a CTR
 * context is served from a 32 KB keystream buffer that one real EVP_Cipher
 * call over zeros refills (the context's counter advances by exactly the
 * blocks handed out, in order); the bytes on the wire are the same as
 * before. Every other call - other modes, other libraries, libssh2 before
 * core_sshctr_enable - goes straight to libcrypto. HPN-SSH's cipher-ctr-mt
 * makes its keystream ahead for the same reason.
 *
 * Contexts are told apart by address, in a list of our own (libssh2 1.10
 * built without OpenSSL's AES-CTR uses a context's app_data itself).
 * libssh2 1.11 and later hand whole packets to EVP_Cipher; core/main.c
 * enables this only for 1.10. */
#include "core/sshctr.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSHCTR_BATCH 32768

typedef int (*cipher_fn)(EVP_CIPHER_CTX *, unsigned char *, const unsigned char *, unsigned int);
typedef void (*ctx_free_fn)(EVP_CIPHER_CTX *);

/* A libssh2 context seen here. A batched (CTR) one has a keystream:
 * ks[off, len) is made and not yet used. */
struct sshctr {
    const EVP_CIPHER_CTX *ctx;
    struct sshctr *next;
    int batched;
    size_t off, len;
    unsigned char ks[];
};

/* Process-wide by nature: the symbols themselves are. `real` is set before
 * the loop runs any libssh2 session and read-only afterwards; the list of
 * contexts (a few per tunnel) is looked at only when `recent` misses. */
static struct {
    cipher_fn cipher;
    ctx_free_fn ctx_free;
    uintptr_t lo, hi; /* the batched library's code; empty when off */
} real;
static const unsigned char zeros[SSHCTR_BATCH];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sshctr *contexts;
/* The two contexts (send and receive) of the session this thread last
 * served. A context is freed on the thread that uses it (libssh2 sessions
 * are not shared between threads). */
static _Thread_local struct sshctr *recent[2];

__attribute__((constructor)) static void sshctr_resolve(void)
{
    real.cipher = (cipher_fn)dlsym(RTLD_NEXT, "EVP_Cipher");
    real.ctx_free = (ctx_free_fn)dlsym(RTLD_NEXT, "EVP_CIPHER_CTX_free");
    if (!real.cipher || !real.ctx_free) {
        fprintf(stderr, "causeway-core: libcrypto's EVP_Cipher not found: %s\n", dlerror());
        abort();
    }
}

struct find_code {
    uintptr_t addr, lo, hi;
};

static int find_code_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct find_code *f = arg;

    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && f->addr >= lo && f->addr < lo + ph->p_memsz) {
            /* In the program itself (a static libssh2): our own calls
             * could not be told apart from libssh2's. */
            if (info->dlpi_name && info->dlpi_name[0]) {
                f->lo = lo;
                f->hi = lo + ph->p_memsz;
            }
            return 1;
        }
    }
    return 0;
}

int core_sshctr_enable(const void *fn)
{
    struct find_code f = {.addr = (uintptr_t)fn};

    if (!dl_iterate_phdr(find_code_cb, &f) || !f.hi)
        return -1;
    real.lo = f.lo;
    real.hi = f.hi;
    return 0;
}

/* out = in ^ ks, 16 bytes at a time: libssh2 copies its 16-byte block out
 * of `out` right after, and one 16-byte store lets that load be forwarded
 * where sixteen byte stores would stall it. */
static inline __attribute__((always_inline)) void sshctr_xor(unsigned char *out, const unsigned char *in,
                                                             const unsigned char *ks, size_t n)
{
    typedef unsigned char v16 __attribute__((vector_size(16)));
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        v16 a, b;

        memcpy(&a, in + i, 16);
        memcpy(&b, ks + i, 16);
        a ^= b;
        memcpy(out + i, &a, 16);
    }
    for (; i < n; i++)
        out[i] = in[i] ^ ks[i];
}

/* Serves [in, in + inl) from ctx's keystream, refilling it as it runs out.
 * Returns what libcrypto's EVP_Cipher would: inl on success (OpenSSL 3's
 * provider convention), or libcrypto's own failure value. */
static int sshctr_crypt(struct sshctr *s, EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in,
                        unsigned int inl)
{
    size_t done = 0;

    while (done < inl) {
        size_t k;

        if (s->off == s->len) {
            int r = real.cipher(ctx, s->ks, zeros, SSHCTR_BATCH);

            if (r != SSHCTR_BATCH)
                return r < 0 ? r : -1;
            s->off = 0;
            s->len = SSHCTR_BATCH;
        }
        k = s->len - s->off;
        if (k > inl - done)
            k = inl - done;
        sshctr_xor(out + done, in + done, s->ks + s->off, k);
        s->off += k;
        done += k;
    }
    return (int)inl;
}

/* The context's entry, made on first sight: batched when it is CTR from a
 * provider (libcrypto's own AES-CTR), left to libcrypto otherwise. NULL
 * only when out of memory (libcrypto serves the call). */
static struct sshctr *sshctr_of(EVP_CIPHER_CTX *ctx)
{
    struct sshctr *s;

    if (recent[0] && recent[0]->ctx == ctx)
        return recent[0];
    if (recent[1] && recent[1]->ctx == ctx)
        return recent[1];
    pthread_mutex_lock(&lock);
    for (s = contexts; s && s->ctx != ctx; s = s->next)
        ;
    if (!s) {
        const EVP_CIPHER *c = EVP_CIPHER_CTX_get0_cipher(ctx);
        int batched = c && EVP_CIPHER_get_mode(c) == EVP_CIPH_CTR_MODE && EVP_CIPHER_get0_provider(c);

        s = calloc(1, sizeof(*s) + (batched ? SSHCTR_BATCH : 0));
        if (s) {
            s->ctx = ctx;
            s->batched = batched;
            s->next = contexts;
            contexts = s;
        }
    }
    pthread_mutex_unlock(&lock);
    if (s) {
        recent[1] = recent[0];
        recent[0] = s;
    }
    return s;
}

int core__sshctr_cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, unsigned int inl)
{
    struct sshctr *s = sshctr_of(ctx);

    return s && s->batched ? sshctr_crypt(s, ctx, out, in, inl) : real.cipher(ctx, out, in, inl);
}

void core__sshctr_ctx_free(EVP_CIPHER_CTX *ctx)
{
    struct sshctr **pp, *s = NULL;

    pthread_mutex_lock(&lock);
    for (pp = &contexts; *pp; pp = &(*pp)->next) {
        if ((*pp)->ctx == ctx) {
            s = *pp;
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (s) {
        for (int i = 0; i < 2; i++)
            if (recent[i] == s)
                recent[i] = NULL;
        OPENSSL_cleanse(s, sizeof(*s) + (s->batched ? SSHCTR_BATCH : 0));
        free(s);
    }
    real.ctx_free(ctx);
}

static int from_batched(uintptr_t ra)
{
    return ra >= real.lo && ra < real.hi;
}

/* The interposed symbols. */
int EVP_Cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, unsigned int inl)
{
    struct sshctr *s = recent[0];

    if (!from_batched((uintptr_t)__builtin_return_address(0)))
        return real.cipher(ctx, out, in, inl);
    /* libssh2 1.10's one block, with keystream in hand: the common case,
     * kept short (about 60 million calls per GB). */
    if (s && s->ctx != ctx)
        s = recent[1];
    if (inl == 16 && s && s->ctx == ctx && s->batched && s->len - s->off >= 16) {
        sshctr_xor(out, in, s->ks + s->off, 16);
        s->off += 16;
        return 16;
    }
    return core__sshctr_cipher(ctx, out, in, inl);
}

void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx)
{
    if (!from_batched((uintptr_t)__builtin_return_address(0))) {
        real.ctx_free(ctx);
        return;
    }
    core__sshctr_ctx_free(ctx);
}
