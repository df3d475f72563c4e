/* buf.c - bounds-checked byte readers and writers (see buf.h). */
#include "buf.h"

#include <openssl/rand.h>

#include <string.h>

uint16_t cw_rbuf_u16(struct cw_rbuf *b)
{
    const uint8_t *p = cw_rbuf_take(b, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t cw_rbuf_u32(struct cw_rbuf *b)
{
    const uint8_t *p = cw_rbuf_take(b, 4);
    return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
               ((uint32_t)p[2] << 8) | p[3]
             : 0;
}

int cw_rbuf_copy(struct cw_rbuf *b, void *out, size_t n)
{
    const uint8_t *p = cw_rbuf_take(b, n);

    if (!p) {
        memset(out, 0, n);
        return -1;
    }
    memcpy(out, p, n);
    return 0;
}

int cw_rbuf_sub(struct cw_rbuf *b, size_t n, struct cw_rbuf *sub)
{
    const uint8_t *p = cw_rbuf_take(b, n);

    cw_rbuf_init(sub, p, p ? n : 0);
    if (!p)
        sub->failed = 1;
    return p ? 0 : -1;
}

int cw_rbuf_peek_u16(const struct cw_rbuf *b, size_t at, uint16_t *out)
{
    if (b->failed || b->len - b->off < 2 || at > b->len - b->off - 2)
        return -1;
    *out = (uint16_t)((b->data[b->off + at] << 8) | b->data[b->off + at + 1]);
    return 0;
}

void cw_wbuf_init(struct cw_wbuf *b, void *data, size_t cap)
{
    b->data = data;
    b->cap = cap;
    b->len = 0;
    b->failed = 0;
}

int cw_wbuf_failed(const struct cw_wbuf *b)
{
    return b->failed;
}

static uint8_t *wbuf_reserve(struct cw_wbuf *b, size_t n)
{
    uint8_t *p;

    if (b->failed || n > b->cap - b->len) {
        b->failed = 1;
        return NULL;
    }
    p = b->data + b->len;
    b->len += n;
    return p;
}

void cw_wbuf_bytes(struct cw_wbuf *b, const void *src, size_t n)
{
    uint8_t *p = wbuf_reserve(b, n);
    if (p && n)
        memcpy(p, src, n);
}

void cw_wbuf_zero(struct cw_wbuf *b, size_t n)
{
    uint8_t *p = wbuf_reserve(b, n);
    if (p && n)
        memset(p, 0, n);
}

void cw_wbuf_u8(struct cw_wbuf *b, uint8_t v)
{
    cw_wbuf_bytes(b, &v, 1);
}

void cw_wbuf_u16(struct cw_wbuf *b, uint16_t v)
{
    uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    cw_wbuf_bytes(b, p, 2);
}

void cw_wbuf_u32(struct cw_wbuf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v };
    cw_wbuf_bytes(b, p, 4);
}

void cw_wbuf_put_u16_at(struct cw_wbuf *b, size_t at, uint16_t v)
{
    if (b->failed || at > b->len || b->len - at < 2) {
        b->failed = 1;
        return;
    }
    b->data[at] = (uint8_t)(v >> 8);
    b->data[at + 1] = (uint8_t)v;
}

void cw_wbuf_put_u32_at(struct cw_wbuf *b, size_t at, uint32_t v)
{
    if (b->failed || at > b->len || b->len - at < 4) {
        b->failed = 1;
        return;
    }
    b->data[at] = (uint8_t)(v >> 24);
    b->data[at + 1] = (uint8_t)(v >> 16);
    b->data[at + 2] = (uint8_t)(v >> 8);
    b->data[at + 3] = (uint8_t)v;
}

void cw_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digit[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digit[in[i] >> 4];
        out[2 * i + 1] = digit[in[i] & 15];
    }
}

int cw_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cw_random_hex(char *out, size_t n)
{
    uint8_t rnd[64];

    out[0] = 0;
    if (n > sizeof(rnd) || RAND_bytes(rnd, (int)n) != 1)
        return -1;
    cw_hex_encode(rnd, n, out);
    out[2 * n] = 0;
    return 0;
}
