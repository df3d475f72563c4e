/* base64.h - base64 (RFC 4648 section 4), strict both ways: used where
 * untrusted peers send it (SASL, HTTP Basic credentials). */
#ifndef CW_BASE64_H
#define CW_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Appends the encoding of p[0..n), padded. */
void cw_b64_encode(const uint8_t *p, size_t n, struct cw_sb *out);
/* Decodes s[0..n) into out (at most cap bytes); the length, or -1 when it
 * is not the one canonical encoding of some bytes (padding required, no
 * whitespace, zero bits after the last byte: RFC 4648 3.5) or does not fit. */
long cw_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
