/* base64.c - strict base64 (see base64.h). */
#include "base64.h"

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

void cw_b64_encode(const uint8_t *p, size_t n, struct cw_sb *out)
{
    char *o = cw_sb_reserve(out, (n + 2) / 3 * 4);
    size_t i, k = 0;
    uint32_t w;

    for (i = 0; o && i < n; i += 3) {
        w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
            (i + 2 < n ? p[i + 2] : 0);
        o[k++] = b64_chars[w >> 18];
        o[k++] = b64_chars[(w >> 12) & 63];
        o[k++] = i + 1 < n ? b64_chars[(w >> 6) & 63] : '=';
        o[k++] = i + 2 < n ? b64_chars[w & 63] : '=';
    }
}

long cw_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t i, o = 0, pad = 0;
    unsigned acc = 0, bits = 0;
    int v;

    if (n % 4 || n / 4 * 3 > cap + 2)
        return -1;
    if (n && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    for (i = 0; i < n - pad; i++) {
        if ((v = b64_val((unsigned char)s[i])) < 0)
            return -1;          /* '=' inside, whitespace, anything else */
        acc = (acc << 6 | (unsigned)v) & 0xffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return acc & ((1u << bits) - 1) ? -1 : (long)o;
}
