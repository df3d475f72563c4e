/* form.c - parsers of what a browser or an API client sends the admin
 * server besides the request head: form bodies, the Cookie header and
 * Authorization: Basic. All input is untrusted: every read is bounds
 * checked, nothing is allocated, and anything ambiguous is refused rather
 * than guessed (a duplicate field could otherwise smuggle a second value
 * past a check that read the first). Fuzzed by tests/fuzz/fuzz_admin.c. */
#include "admin/admin_int.h"

#include "common/base64.h"
#include "common/buf.h"

#include <string.h>
#include <strings.h>

/* Decodes p[0..n) (the form encoding) into out; -1 when malformed or too
 * long. Control bytes are refused: no field of ours holds one, and a NUL
 * would cut a C string short of what was checked. */
static long form_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (n - i < 3 || (hi = cw_hex_value((unsigned char)p[i + 1])) < 0 || (lo = cw_hex_value((unsigned char)p[i + 2])) < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (o + 1 >= cap)
            return -1;
        if (out)
            out[o] = (char)c;
        o++;
    }
    if (out)
        out[o] = 0;
    return (long)o;
}

int admin__form_get(const char *body, size_t n, const char *name, char *out, size_t cap)
{
    size_t i = 0, nfield = 0, want = strlen(name);
    int found = ADMIN_ABSENT;

    while (i < n) {
        size_t end = i, eq;
        char fname[64];
        long flen;

        while (end < n && body[end] != '&')
            end++;
        if (end > i) {
            if (++nfield > ADMIN_FORM_MAX_FIELDS)
                return ADMIN_BAD;
            for (eq = i; eq < end && body[eq] != '='; eq++)
                ;
            /* The name is decoded too: "us%65r" is "user" to a browser. */
            flen = form_decode(body + i, eq - i, fname, sizeof(fname));
            if (flen < 0)
                return ADMIN_BAD;
            /* Every value must be well-formed, not only the one asked
             * for: a body is accepted or refused as a whole. */
            if (eq < end && form_decode(body + eq + 1, end - eq - 1, NULL, (size_t)-1) < 0)
                return ADMIN_BAD;
            if ((size_t)flen == want && !memcmp(fname, name, want)) {
                long v;
                if (found != ADMIN_ABSENT)
                    return ADMIN_BAD;
                v = eq < end ? form_decode(body + eq + 1, end - eq - 1, out, cap)
                             : form_decode("", 0, out, cap);
                if (v < 0)
                    return ADMIN_BAD;
                found = (int)v;
            }
        }
        i = end + 1;
    }
    return found;
}

/* RFC 6265 4.1.1 cookie-octet: printable US-ASCII but for space, DQUOTE,
 * comma, semicolon and backslash. */
static int cookie_octet(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
}

int admin__cookie_get(const char *hdr, size_t n, const char *name, char *out, size_t cap)
{
    size_t i = 0, want = strlen(name);
    int found = ADMIN_ABSENT;

    while (i < n) {
        size_t start, eq, end;

        while (i < n && (hdr[i] == ' ' || hdr[i] == '\t'))
            i++;
        start = i;
        while (i < n && hdr[i] != ';')
            i++;
        end = i;
        while (end > start && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
            end--;
        i++;    /* past ';' */
        if (end == start)
            continue;
        for (eq = start; eq < end && hdr[eq] != '='; eq++)
            ;
        if (eq == end || eq - start != want || memcmp(hdr + start, name, want))
            continue;   /* other cookies are none of our business, however odd */
        if (found != ADMIN_ABSENT)
            return ADMIN_BAD;
        {
            const char *v = hdr + eq + 1;
            size_t vlen = end - eq - 1;

            /* RFC 6265 4.1.1: the value may be in double quotes. */
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (vlen + 1 > cap)
                return ADMIN_BAD;
            for (size_t k = 0; k < vlen; k++)
                if (!cookie_octet((unsigned char)v[k]))
                    return ADMIN_BAD;
            memcpy(out, v, vlen);
            out[vlen] = 0;
            found = (int)vlen;
        }
    }
    return found;
}

int admin__basic_decode(const char *hdr, size_t n, char *user, size_t ucap, char *pass,
                        size_t pcap)
{
    unsigned char dec[ADMIN_NAME_MAX + ADMIN_PASS_MAX + 2];
    size_t i, start, end, ulen, plen;
    const unsigned char *colon;
    long len = 0;
    int rc = ADMIN_BAD;

    /* RFC 9110 11.1: the scheme name is case-insensitive. */
    if (n < 6 || strncasecmp(hdr, "basic", 5) || (hdr[5] != ' ' && hdr[5] != '\t'))
        return ADMIN_ABSENT;
    i = 6;
    while (i < n && (hdr[i] == ' ' || hdr[i] == '\t'))
        i++;
    start = i;
    end = n;
    while (end > start && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
        end--;
    if (end == start || (end - start) / 4 * 3 > sizeof(dec))
        goto out;
    len = cw_b64_decode(hdr + start, end - start, dec, sizeof(dec));
    if (len < 0)
        goto out;
    colon = memchr(dec, ':', (size_t)len);
    if (!colon)
        goto out;
    ulen = (size_t)(colon - dec);
    plen = (size_t)len - ulen - 1;
    if (!ulen || ulen + 1 > ucap || plen + 1 > pcap)
        goto out;
    for (long k = 0; k < len; k++)
        if (dec[k] < 0x20 || dec[k] == 0x7f)
            goto out;
    memcpy(user, dec, ulen);
    user[ulen] = 0;
    memcpy(pass, colon + 1, plen);
    pass[plen] = 0;
    rc = 0;
out:
    /* The password was in here. */
    memset(dec, 0, sizeof(dec));
    return rc;
}
