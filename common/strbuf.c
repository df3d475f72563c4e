/* strbuf.c - growing text buffer (see strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cw_sb_init(struct cw_sb *sb)
{
    memset(sb, 0, sizeof(*sb));
}

void cw_sb_free(struct cw_sb *sb)
{
    free(sb->s);
    cw_sb_init(sb);
}

void cw_sb_clear(struct cw_sb *sb)
{
    sb->len = 0;
    if (sb->s)
        sb->s[0] = '\0';
}

static int sb_grow(struct cw_sb *sb, size_t need)
{
    size_t cap = sb->cap ? sb->cap : 256;
    char *p;

    if (sb->failed)
        return -1;
    if (sb->len + need + 1 <= sb->cap)
        return 0;
    while (cap < sb->len + need + 1)
        cap *= 2;
    p = realloc(sb->s, cap);
    if (!p) {
        sb->failed = 1;
        return -1;
    }
    sb->s = p;
    sb->cap = cap;
    return 0;
}

void cw_sb_add_slow(struct cw_sb *sb, const char *s, size_t n)
{
    if (sb_grow(sb, n) < 0)
        return;
    memcpy(sb->s + sb->len, s, n);
    sb->len += n;
    sb->s[sb->len] = 0;
}

char *cw_sb_reserve(struct cw_sb *sb, size_t n)
{
    char *p;

    if (sb_grow(sb, n) < 0)
        return NULL;
    p = sb->s + sb->len;
    sb->len += n;
    sb->s[sb->len] = 0;
    return p;
}

void cw_sb_str_add(struct cw_sb *sb, const char *s)
{
    cw_sb_add(sb, s, strlen(s));
}

void cw_sb_uint(struct cw_sb *sb, unsigned long long v)
{
    char d[20];
    size_t i = sizeof(d);

    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    cw_sb_add(sb, d + i, sizeof(d) - i);
}

void cw_sb_printf(struct cw_sb *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_grow(sb, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

const char *cw_sb_str(const struct cw_sb *sb)
{
    return sb->s ? sb->s : "";
}
