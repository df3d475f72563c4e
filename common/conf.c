/* conf.c - INI-style configuration parser (see conf.h). */
#include "conf.h"
#include "log.h"

#include "addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_LINE_MAX 4096
#define CONF_FILE_MAX (1 << 20)

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

int cw_conf_parse_text(const char *name, const char *text, cw_conf_cb cb, void *arg,
                       char *err, size_t errlen)
{
    char section[128] = "";
    char line[CONF_LINE_MAX];
    char msg[512];
    unsigned lineno = 0;
    const char *p = text;

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *s, *eq, *key, *val;

        lineno++;
        if (n >= sizeof(line)) {
            seterr(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
                   CONF_LINE_MAX - 1);
            return -1;
        }
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        if (memchr(line, 0, n)) {
            seterr(err, errlen, "%s:%u: NUL byte in line", name, lineno);
            return -1;
        }
        s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || *trim(e + 1)) {
                seterr(err, errlen, "%s:%u: bad section header (expected [name])", name, lineno);
                return -1;
            }
            *e = 0;
            s = trim(s + 1);
            if (!valid_name(s) || strlen(s) >= sizeof(section)) {
                seterr(err, errlen, "%s:%u: bad section name \"%s\"", name, lineno, s);
                return -1;
            }
            snprintf(section, sizeof(section), "%s", s);
            msg[0] = 0;
            if (cb(arg, section, NULL, NULL, msg, sizeof(msg)) < 0) {
                seterr(err, errlen, "%s:%u: %s", name, lineno, msg[0] ? msg : "bad section");
                return -1;
            }
            continue;
        }
        eq = strchr(s, '=');
        if (!eq) {
            seterr(err, errlen, "%s:%u: expected \"key = value\"", name, lineno);
            return -1;
        }
        *eq = 0;
        key = trim(s);
        val = trim(eq + 1);
        if (strstr(val, " #") || strstr(val, "\t#")) {
            seterr(err, errlen, "%s:%u: a comment after a value is not supported: put it on "
                   "its own line", name, lineno);
            return -1;
        }
        if (!valid_name(key)) {
            seterr(err, errlen, "%s:%u: bad key name \"%s\"", name, lineno, key);
            return -1;
        }
        if (!section[0]) {
            seterr(err, errlen, "%s:%u: key \"%s\" outside any [section]", name, lineno, key);
            return -1;
        }
        msg[0] = 0;
        if (cb(arg, section, key, val, msg, sizeof(msg)) < 0) {
            seterr(err, errlen, "%s:%u: %s", name, lineno, msg[0] ? msg : "bad value");
            return -1;
        }
    }
    return 0;
}

int cw_conf_parse_file(const char *path, cw_conf_cb cb, void *arg, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *text;
    size_t n;
    int rc;

    if (!f) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(CONF_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    n = fread(text, 1, CONF_FILE_MAX + 1, f);
    fclose(f);
    if (n > CONF_FILE_MAX) {
        free(text);
        seterr(err, errlen, "%s: larger than %d bytes", path, CONF_FILE_MAX);
        return -1;
    }
    text[n] = 0;
    if (strlen(text) != n) {
        free(text);
        seterr(err, errlen, "%s: contains a NUL byte", path);
        return -1;
    }
    rc = cw_conf_parse_text(path, text, cb, arg, err, errlen);
    free(text);
    return rc;
}

int cw_conf_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out,
                 char *err, size_t errlen)
{
    char *end;
    unsigned long x;

    errno = 0;
    if (!isdigit((unsigned char)*v))
        goto bad;
    x = strtoul(v, &end, 10);
    if (errno || *end || x < min || x > max)
        goto bad;
    *out = x;
    return 0;
bad:
    seterr(err, errlen, "\"%s\" is not a number from %lu to %lu", v, min, max);
    return -1;
}

int cw_conf_bool(const char *v, int *out, char *err, size_t errlen)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    seterr(err, errlen, "\"%s\" is not yes or no", v);
    return -1;
}

int cw_conf_range(const char *v, unsigned long min, unsigned long max, unsigned long *lo,
                  unsigned long *hi, char *err, size_t errlen)
{
    char a[32], *dash;

    if (strlen(v) >= sizeof(a))
        goto bad;
    snprintf(a, sizeof(a), "%s", v);
    dash = strchr(a, '-');
    if (!dash)
        goto bad;
    *dash = 0;
    if (cw_conf_uint(trim(a), min, max, lo, err, errlen) < 0 ||
        cw_conf_uint(trim(dash + 1), min, max, hi, err, errlen) < 0 || *lo > *hi)
        goto bad;
    return 0;
bad:
    seterr(err, errlen, "\"%s\" is not a range lo-hi within %lu-%lu", v, min, max);
    return -1;
}

int cw_conf_str(char *dst, size_t cap, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= cap || !*v) {
        snprintf(err, errlen, "value must be 1 to %zu characters", cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    return 0;
}

int cw_conf_log_level(const char *v, int *out, char *err, size_t errlen)
{
    int l = cw_log_level_parse(v);

    if (l < 0) {
        snprintf(err, errlen, "\"%s\" is not one of error, warn, notice, info, debug", v);
        return -1;
    }
    *out = l;
    return 0;
}

int cw_conf_addr(const char *v, int default_port, struct sockaddr_storage *out, char *err,
                 size_t errlen)
{
    if (cw_addr_parse(v, default_port, out) == 0)
        return 0;
    seterr(err, errlen, "\"%s\" is not an IP address%s", v,
           default_port == 0 ? " with a port (1.2.3.4:5 or [::1]:5)"
           : default_port < 0 ? " (no port)" : " (optionally with :port)");
    return -1;
}

int cw_conf_duration(const char *v, unsigned long min, unsigned long max, unsigned long *out,
                     char *err, size_t errlen)
{
    char *end;
    unsigned long x, mul = 1;

    errno = 0;
    if (!isdigit((unsigned char)*v))
        goto bad;
    x = strtoul(v, &end, 10);
    if (errno)
        goto bad;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    if (*end || x > max / mul || x * mul < min || x * mul > max)
        goto bad;
    *out = x * mul;
    return 0;
bad:
    seterr(err, errlen, "\"%s\" is not a duration from %lus to %lus (e.g. 30s, 10m, 1h)", v,
           min, max);
    return -1;
}

int cw_conf_unsigned(const char *v, unsigned long min, unsigned long max, unsigned *out,
                     char *err, size_t errlen)
{
    unsigned long x;

    if (cw_conf_uint(v, min, max, &x, err, errlen) < 0)
        return -1;
    *out = (unsigned)x;
    return 0;
}

int cw_conf_seconds(const char *v, unsigned long min, unsigned long max, unsigned *out,
                    char *err, size_t errlen)
{
    unsigned long x;

    if (cw_conf_duration(v, min, max, &x, err, errlen) < 0)
        return -1;
    *out = (unsigned)x;
    return 0;
}

/* ---- snapshots: which settings a new version of a file changed ---------- */

struct snap_item {
    char *section, *key, *value;
    unsigned number;            /* the section's header count, when numbered */
    size_t seq;                 /* place in the file: values keep their order */
};

struct cw_conf_snap {
    struct snap_item *v;        /* sorted by setting, then place, once read */
    size_t n, cap;
    const char *numbered;
    unsigned headers;           /* numbered headers seen */
    unsigned number;            /* of the section being read */
};

static int snap_cb(void *arg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen)
{
    struct cw_conf_snap *s = arg;
    struct snap_item *it;

    if (!key) {
        s->number = s->numbered && !strcmp(section, s->numbered) ? ++s->headers : 0;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct snap_item *v = realloc(s->v, cap * sizeof(*v));

        if (!v)
            goto oom;
        s->v = v;
        s->cap = cap;
    }
    it = &s->v[s->n];
    it->number = s->number;
    it->seq = s->n;
    it->section = strdup(section);
    it->key = strdup(key);
    it->value = strdup(value);
    s->n++;
    if (it->section && it->key && it->value)
        return 0;
oom:
    seterr(err, errlen, "out of memory");
    return -1;
}

/* Orders settings; 0 for two values of one setting. */
static int setting_cmp(const struct snap_item *x, const struct snap_item *y)
{
    int c = strcmp(x->section, y->section);

    if (c)
        return c;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int item_cmp(const void *a, const void *b)
{
    const struct snap_item *x = a, *y = b;
    int c = setting_cmp(x, y);

    return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct cw_conf_snap *cw_conf_snap_file(const char *path, const char *numbered, char *err,
                                       size_t errlen)
{
    struct cw_conf_snap *s = calloc(1, sizeof(*s));

    if (!s) {
        seterr(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    s->numbered = numbered;
    if (cw_conf_parse_file(path, snap_cb, s, err, errlen) < 0) {
        cw_conf_snap_destroy(s);
        return NULL;
    }
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), item_cmp);
    return s;
}

void cw_conf_snap_destroy(struct cw_conf_snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].section);
        free(s->v[i].key);
        free(s->v[i].value);
    }
    free(s->v);
    free(s);
}

/* The end of the setting that starts at i (one past its last value). */
static size_t setting_end(const struct cw_conf_snap *s, size_t i)
{
    size_t e = i + 1;

    while (e < s->n && !setting_cmp(&s->v[i], &s->v[e]))
        e++;
    return e;
}

int cw_conf_snap_diff(const struct cw_conf_snap *a, const struct cw_conf_snap *b,
                      void (*fn)(void *arg, const char *section, unsigned number,
                                 const char *key),
                      void *arg)
{
    size_t i = 0, j = 0;
    int changed = 0;

    /* Both are sorted by setting: walk them side by side. */
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : setting_cmp(&a->v[i], &b->v[j]);
        size_t ie = c <= 0 ? setting_end(a, i) : i, je = c >= 0 ? setting_end(b, j) : j;
        int same = c == 0 && ie - i == je - j;
        const struct snap_item *it = c <= 0 ? &a->v[i] : &b->v[j];

        for (size_t k = 0; same && k < ie - i; k++)
            same = !strcmp(a->v[i + k].value, b->v[j + k].value);
        if (!same) {
            fn(arg, it->section, it->number, it->key);
            changed++;
        }
        i = ie;
        j = je;
    }
    return changed;
}
