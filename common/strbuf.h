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

void cw_sb_init(struct cw_sb *sb);
void cw_sb_free(struct cw_sb *sb);
/* Empties it, keeping the memory for reuse. */
void cw_sb_clear(struct cw_sb *sb);
void cw_sb_add(struct cw_sb *sb, const char *s, size_t n);
void cw_sb_printf(struct cw_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cw_sb_str(const struct cw_sb *sb);

#endif
