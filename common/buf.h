/* buf.h - bounds-checked byte buffers: every parser of untrusted input reads
 * through cw_rbuf and every encoder writes through cw_wbuf.
 *
 * A reader never reads past its end: a short read sets the sticky error flag,
 * returns 0 / leaves the output zeroed, and every later read fails too, so a
 * parser may read a whole header and check cw_rbuf_failed() once.
 * A writer never writes past its capacity: an overflow sets its error flag and
 * the bytes are dropped; check cw_wbuf_failed() before sending. */
#ifndef CW_BUF_H
#define CW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cw_rbuf {
    const uint8_t *data;
    size_t len;
    size_t off;
    int failed;
};

struct cw_wbuf {
    uint8_t *data;
    size_t cap;
    size_t len;
    int failed;
};

/* The reader's per-byte calls are inline: parsers call them for every byte
 * of a message, and a call each would cost more than the check itself. */
static inline void cw_rbuf_init(struct cw_rbuf *b, const void *data, size_t len)
{
    b->data = data;
    b->len = data ? len : 0;
    b->off = 0;
    b->failed = 0;
}

static inline size_t cw_rbuf_left(const struct cw_rbuf *b)
{
    return b->failed ? 0 : b->len - b->off;
}

static inline int cw_rbuf_failed(const struct cw_rbuf *b)
{
    return b->failed;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and fails). */
static inline const uint8_t *cw_rbuf_take(struct cw_rbuf *b, size_t n)
{
    const uint8_t *p;

    if (b->failed || n > b->len - b->off) {
        b->failed = 1;
        return NULL;
    }
    p = b->data + b->off;
    b->off += n;
    return p;
}

static inline uint8_t cw_rbuf_u8(struct cw_rbuf *b)
{
    const uint8_t *p = cw_rbuf_take(b, 1);

    return p ? p[0] : 0;
}

/* The unread bytes, cw_rbuf_left() of them, without advancing (NULL when
 * there are none): a scanner indexes them below that count, then skips
 * what it used. */
static inline const uint8_t *cw_rbuf_peek(const struct cw_rbuf *b)
{
    return b->failed || !b->data || b->off == b->len ? NULL : b->data + b->off;
}

static inline int cw_rbuf_skip(struct cw_rbuf *b, size_t n)
{
    return cw_rbuf_take(b, n) ? 0 : -1;
}

uint16_t cw_rbuf_u16(struct cw_rbuf *b);          /* network byte order */
uint32_t cw_rbuf_u32(struct cw_rbuf *b);          /* network byte order */
/* Copies n bytes to out (which must hold n); on a short buffer out is zeroed. */
int cw_rbuf_copy(struct cw_rbuf *b, void *out, size_t n);
/* A sub-reader over the next n bytes; advances the parent past them. */
int cw_rbuf_sub(struct cw_rbuf *b, size_t n, struct cw_rbuf *sub);
/* Peeks without advancing; returns -1 if fewer than the asked bytes remain. */
int cw_rbuf_peek_u16(const struct cw_rbuf *b, size_t at, uint16_t *out);

void cw_wbuf_init(struct cw_wbuf *b, void *data, size_t cap);
int cw_wbuf_failed(const struct cw_wbuf *b);
void cw_wbuf_u8(struct cw_wbuf *b, uint8_t v);
void cw_wbuf_u16(struct cw_wbuf *b, uint16_t v);
void cw_wbuf_u32(struct cw_wbuf *b, uint32_t v);
void cw_wbuf_bytes(struct cw_wbuf *b, const void *p, size_t n);
void cw_wbuf_zero(struct cw_wbuf *b, size_t n);
/* Overwrites 2 or 4 bytes at an offset already written (length fields). */
void cw_wbuf_put_u16_at(struct cw_wbuf *b, size_t at, uint16_t v);
void cw_wbuf_put_u32_at(struct cw_wbuf *b, size_t at, uint32_t v);

/* Lower-case hex of in[0..n-1] into out[0..2n-1] (no NUL added). */
void cw_hex_encode(const uint8_t *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int cw_hex_value(int c);
/* n random bytes (OpenSSL's RNG) as 2n lower-case hex digits and a NUL in
 * out (2n + 1 bytes). 0, or -1 when the RNG failed (out is then "").
 * Stream ids, generated secrets and resources. */
int cw_random_hex(char *out, size_t n);

#endif
