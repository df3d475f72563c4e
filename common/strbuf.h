/* strbuf.h - a growing text buffer for status output and replies. */
#ifndef CW_STRBUF_H
#define CW_STRBUF_H

#include <stddef.h>

struct cw_sb {
    char *s;       /* always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
    int failed;    /* an allocation failed: contents are truncated */
};

#include <string.h>

void cw_sb_init(struct cw_sb *sb);
void cw_sb_free(struct cw_sb *sb);
/* Empties it, keeping the memory for reuse. */
void cw_sb_clear(struct cw_sb *sb);
/* Appends n bytes (growing as needed; on no memory, sb->failed). */
void cw_sb_add_slow(struct cw_sb *sb, const char *s, size_t n);
/* Inline: heads and log lines are built from many short pieces. */
static inline void cw_sb_add(struct cw_sb *sb, const char *s, size_t n)
{
    if (sb->len + n < sb->cap) {
        memcpy(sb->s + sb->len, s, n);
        sb->len += n;
        sb->s[sb->len] = 0;
        return;
    }
    cw_sb_add_slow(sb, s, n);
}
/* A string literal, its length known at compile time. */
#define CW_SB_LIT(sb, lit) cw_sb_add((sb), "" lit, sizeof(lit) - 1)
void cw_sb_printf(struct cw_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A NUL-terminated string; an unsigned number in decimal. Cheaper than
 * cw_sb_printf on paths that run for every request. */
void cw_sb_str_add(struct cw_sb *sb, const char *s);
/* Room for n more bytes, counted in at once: the caller fills all n of them.
 * NULL when memory ran out (the buffer is marked failed). */
char *cw_sb_reserve(struct cw_sb *sb, size_t n);
void cw_sb_uint(struct cw_sb *sb, unsigned long long v);
const char *cw_sb_str(const struct cw_sb *sb);

#endif
