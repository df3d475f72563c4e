/* jid.c - parsing and normalizing XMPP addresses (see jid.h). */
#include "xmpp/jid.h"

#include <stdio.h>
#include <string.h>

/* RFC 7622 3.3.1: these may not appear in a localpart. */
static int local_char_ok(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return 0;
    return !strchr("\"&'/:<>@", c);
}

int jid_domain_ok(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s), label = 0;

    if (n && s[n - 1] == '.')   /* RFC 7622 3.2: a trailing dot is dropped */
        n--;
    if (n == 0 || n > JID_PART_MAX || (out && n >= outlen))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (!label)
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '-') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
        if (out)
            out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (!label)
        return 0;
    if (out)
        out[n] = 0;
    return 1;
}

int jid_parse(const char *s, struct jid *out)
{
    const char *at, *slash, *d;
    size_t ln = 0, dn;
    char dom[JID_PART_MAX + 2];

    memset(out, 0, sizeof(*out));
    slash = strchr(s, '/');
    /* RFC 7622 3.1: the first '/' starts the resource; an '@' after it
     * belongs to the resource. */
    at = strchr(s, '@');
    if (at && slash && at > slash)
        at = NULL;
    if (at) {
        ln = (size_t)(at - s);
        if (ln == 0 || ln > JID_PART_MAX)
            return -1;
        for (size_t i = 0; i < ln; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!local_char_ok(c))
                return -1;
            out->local[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        d = at + 1;
    } else {
        d = s;
    }
    dn = slash ? (size_t)(slash - d) : strlen(d);
    if (dn == 0 || dn > JID_PART_MAX)
        return -1;
    memcpy(dom, d, dn);
    dom[dn] = 0;
    if (!jid_domain_ok(dom, out->domain, sizeof(out->domain)))
        return -1;
    if (slash) {
        size_t rn = strlen(slash + 1);
        if (rn == 0 || rn > JID_PART_MAX)
            return -1;
        for (size_t i = 0; i < rn; i++)
            if ((unsigned char)slash[1 + i] < 0x20 || slash[1 + i] == 0x7f)
                return -1;
        memcpy(out->resource, slash + 1, rn + 1);
    }
    return 0;
}

const char *jid_bare(const struct jid *j, char *buf, size_t len)
{
    if (j->local[0])
        snprintf(buf, len, "%s@%s", j->local, j->domain);
    else
        snprintf(buf, len, "%s", j->domain);
    return buf;
}

const char *jid_full(const struct jid *j, char *buf, size_t len)
{
    size_t n;

    jid_bare(j, buf, len);
    n = strlen(buf);
    if (j->resource[0] && n < len)
        snprintf(buf + n, len - n, "/%s", j->resource);
    return buf;
}
