/* report.c - the status document and its text, JSON and HTML renderings
 * (see report.h). The document is a flat list of nodes in the order they
 * were added; every renderer walks it once (text looks ahead over a table's
 * rows for the column widths). */
#include "report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { N_SECTION, N_FIELD, N_TABLE, N_ROW, N_CELL };
enum val_kind { V_STR, V_NUM, V_BOOL, V_TIME };

struct node {
    enum node_kind kind;
    enum val_kind vk;
    int state;              /* N_SECTION */
    int ncols;              /* N_TABLE */
    char *key, *label;      /* N_TABLE: key and label; cols and labels in colkey/collabel */
    char *val;              /* text of the value (numbers and booleans as JSON writes them) */
    time_t t;               /* V_TIME */
    char *colkey[CW_REPORT_MAX_COLS], *collabel[CW_REPORT_MAX_COLS];
};

struct cw_report {
    struct node *n;
    size_t len, cap;
    int failed;
    int cur_section;        /* index of the current section, -1 before the first */
};

struct cw_report *cw_report_create(void)
{
    struct cw_report *r = calloc(1, sizeof(*r));

    if (r)
        r->cur_section = -1;
    return r;
}

void cw_report_destroy(struct cw_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->len; i++) {
        struct node *n = &r->n[i];
        free(n->key);
        free(n->label);
        free(n->val);
        for (int c = 0; c < n->ncols; c++) {
            free(n->colkey[c]);
            free(n->collabel[c]);
        }
    }
    free(r->n);
    free(r);
}

static char *dup_or_fail(struct cw_report *r, const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        r->failed = 1;
    return d;
}

/* A new node, or NULL (document marked failed). Nodes before the first
 * section have nowhere to go and are dropped. */
static struct node *add(struct cw_report *r, enum node_kind kind)
{
    if (r->failed || (kind != N_SECTION && r->cur_section < 0))
        return NULL;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct node *n = realloc(r->n, cap * sizeof(*n));
        if (!n) {
            r->failed = 1;
            return NULL;
        }
        r->n = n;
        r->cap = cap;
    }
    memset(&r->n[r->len], 0, sizeof(r->n[0]));
    r->n[r->len].kind = kind;
    return &r->n[r->len++];
}

void cw_report_section(struct cw_report *r, const char *key, const char *title,
                       enum cw_report_state state)
{
    struct node *n = add(r, N_SECTION);

    if (!n)
        return;
    n->key = dup_or_fail(r, key);
    n->label = dup_or_fail(r, title);
    n->state = state;
    r->cur_section = (int)(r->len - 1);
}

void cw_report_state(struct cw_report *r, enum cw_report_state state)
{
    struct node *s;

    if (r->cur_section < 0)
        return;
    s = &r->n[r->cur_section];
    if (state == CW_REPORT_OFF || s->state == CW_REPORT_OFF || (int)state > s->state)
        s->state = state;
}

static void field(struct cw_report *r, const char *key, const char *label, enum val_kind vk,
                  const char *val, time_t t)
{
    struct node *n = add(r, N_FIELD);

    if (!n)
        return;
    n->vk = vk;
    n->key = dup_or_fail(r, key);
    n->label = dup_or_fail(r, label);
    n->val = dup_or_fail(r, val ? val : "");
    n->t = t;
}

void cw_report_str(struct cw_report *r, const char *key, const char *label, const char *val)
{
    field(r, key, label, V_STR, val, 0);
}

void cw_report_strf(struct cw_report *r, const char *key, const char *label, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    field(r, key, label, V_STR, buf, 0);
}

void cw_report_int(struct cw_report *r, const char *key, const char *label, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    field(r, key, label, V_NUM, buf, 0);
}

void cw_report_real(struct cw_report *r, const char *key, const char *label, double v,
                    int decimals)
{
    char buf[48];

    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    field(r, key, label, V_NUM, buf, 0);
}

void cw_report_bool(struct cw_report *r, const char *key, const char *label, int v)
{
    field(r, key, label, V_BOOL, v ? "true" : "false", 0);
}

void cw_report_time(struct cw_report *r, const char *key, const char *label, time_t t)
{
    field(r, key, label, V_TIME, "", t);
}

void cw_report_table(struct cw_report *r, const char *key, const char *label, const char *cols,
                     const char *labels)
{
    struct node *n = add(r, N_TABLE);
    const char *lists[2] = { cols, labels };

    if (!n)
        return;
    n->key = dup_or_fail(r, key);
    n->label = dup_or_fail(r, label);
    for (int l = 0; l < 2; l++) {
        char **dst = l ? n->collabel : n->colkey;
        const char *p = lists[l];
        int c = 0;

        while (p && *p && c < CW_REPORT_MAX_COLS) {
            size_t len = strcspn(p, ",");
            dst[c] = strndup(p, len);
            if (!dst[c])
                r->failed = 1;
            c++;
            p += len;
            if (*p == ',')
                p++;
        }
        if (!l)
            n->ncols = c;
        else
            for (; c < n->ncols; c++)       /* fewer labels than columns: the key */
                dst[c] = dup_or_fail(r, n->colkey[c]);
    }
}

void cw_report_row(struct cw_report *r)
{
    add(r, N_ROW);
}

static void cell(struct cw_report *r, enum val_kind vk, const char *val, time_t t)
{
    struct node *n = add(r, N_CELL);

    if (!n)
        return;
    n->vk = vk;
    n->val = dup_or_fail(r, val ? val : "");
    n->t = t;
}

void cw_report_cell_str(struct cw_report *r, const char *val)
{
    cell(r, V_STR, val, 0);
}

void cw_report_cell_strf(struct cw_report *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cell(r, V_STR, buf, 0);
}

void cw_report_cell_int(struct cw_report *r, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    cell(r, V_NUM, buf, 0);
}

void cw_report_cell_time(struct cw_report *r, time_t t)
{
    cell(r, V_TIME, "", t);
}

const char *cw_report_state_name(enum cw_report_state s)
{
    static const char *const names[] = { "ok", "warn", "error", "off" };

    return (unsigned)s < 4 ? names[s] : "?";
}

int cw_report_section_info(const struct cw_report *r, int i, const char **key,
                           const char **title, enum cw_report_state *state)
{
    for (size_t k = 0; k < r->len; k++) {
        if (r->n[k].kind != N_SECTION || i-- > 0)
            continue;
        *key = r->n[k].key ? r->n[k].key : "";
        *title = r->n[k].label ? r->n[k].label : "";
        *state = (enum cw_report_state)r->n[k].state;
        return 0;
    }
    return -1;
}

/* ---- rendering ------------------------------------------------------------ */

const char *cw_time_text(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (!t || !gmtime_r(&t, &tm))
        return NULL;
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* The node range [*from, *to) of the section asked for (all when NULL). */
static int select_range(const struct cw_report *r, const char *section, size_t *from, size_t *to)
{
    if (!section) {
        *from = 0;
        *to = r->len;
        return 0;
    }
    for (size_t i = 0; i < r->len; i++) {
        if (r->n[i].kind != N_SECTION || !r->n[i].key || strcmp(r->n[i].key, section))
            continue;
        *from = i;
        for (*to = i + 1; *to < r->len && r->n[*to].kind != N_SECTION; (*to)++)
            ;
        return 0;
    }
    return -1;
}

static const char *val_text(const struct node *n, char *buf, size_t len, const char *never)
{
    if (n->vk == V_TIME) {
        const char *s = cw_time_text(n->t, buf, len);
        return s ? s : never;
    }
    if (n->vk == V_BOOL)
        return n->val && !strcmp(n->val, "true") ? "yes" : "no";
    return n->val ? n->val : "";
}

static void pad(struct cw_sb *out, size_t n)
{
    while (n--)
        CW_SB_LIT(out, " ");
}

/* Text: a table's columns are as wide as their widest cell. */
static size_t text_table(const struct cw_report *r, size_t t, size_t to, struct cw_sb *out)
{
    const struct node *tab = &r->n[t];
    size_t w[CW_REPORT_MAX_COLS] = { 0 };
    size_t i, nrows = 0;
    char tb[32];

    for (int c = 0; c < tab->ncols; c++)
        w[c] = strlen(tab->collabel[c] ? tab->collabel[c] : "");
    for (i = t + 1; i < to && (r->n[i].kind == N_ROW || r->n[i].kind == N_CELL); i++) {
        int c = 0;
        if (r->n[i].kind == N_ROW) {
            nrows++;
            for (size_t j = i + 1; j < to && r->n[j].kind == N_CELL; j++, c++)
                if (c < tab->ncols) {
                    size_t l = strlen(val_text(&r->n[j], tb, sizeof(tb), "-"));
                    if (l > w[c])
                        w[c] = l;
                }
        }
    }
    cw_sb_printf(out, "  %s:\n", tab->label ? tab->label : "");
    if (!nrows) {
        CW_SB_LIT(out, "    (none)\n");
        return i;
    }
    CW_SB_LIT(out, "    ");
    for (int c = 0; c < tab->ncols; c++) {
        const char *l = tab->collabel[c] ? tab->collabel[c] : "";
        cw_sb_str_add(out, l);
        if (c + 1 < tab->ncols)
            pad(out, w[c] - strlen(l) + 2);
    }
    CW_SB_LIT(out, "\n");
    for (size_t j = t + 1; j < i; j++) {
        if (r->n[j].kind == N_ROW) {
            CW_SB_LIT(out, "    ");
            int c = 0;
            for (size_t k = j + 1; k < i && r->n[k].kind == N_CELL; k++, c++) {
                const char *v = val_text(&r->n[k], tb, sizeof(tb), "-");
                cw_sb_str_add(out, v);
                if (c + 1 < tab->ncols && c < CW_REPORT_MAX_COLS)
                    pad(out, w[c] - strlen(v) + 2);
            }
            CW_SB_LIT(out, "\n");
        }
    }
    return i;
}

int cw_report_text(const struct cw_report *r, const char *section, struct cw_sb *out)
{
    size_t from, to, i;
    char tb[32];

    if (select_range(r, section, &from, &to) < 0)
        return -1;
    for (i = from; i < to;) {
        const struct node *n = &r->n[i];
        switch (n->kind) {
        case N_SECTION:
            cw_sb_printf(out, "%s%s [%s]\n", i > from ? "\n" : "", n->label ? n->label : "",
                         cw_report_state_name(n->state));
            i++;
            break;
        case N_FIELD:
            cw_sb_printf(out, "  %s: %s\n", n->label ? n->label : "",
                         val_text(n, tb, sizeof(tb), "never"));
            i++;
            break;
        case N_TABLE:
            i = text_table(r, i, to, out);
            break;
        default:
            i++;
        }
    }
    if (r->failed)
        CW_SB_LIT(out, "(truncated)\n");
    return 0;
}

void cw_json_str(struct cw_sb *out, const char *s)
{
    CW_SB_LIT(out, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': CW_SB_LIT(out, "\\\""); break;
        case '\\': CW_SB_LIT(out, "\\\\"); break;
        case '\n': CW_SB_LIT(out, "\\n"); break;
        case '\r': CW_SB_LIT(out, "\\r"); break;
        case '\t': CW_SB_LIT(out, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                cw_sb_printf(out, "\\u%04x", *p);
            else
                cw_sb_add(out, (const char *)p, 1);
        }
    }
    CW_SB_LIT(out, "\"");
}

static void json_val(const struct node *n, struct cw_sb *out)
{
    char tb[32];

    if (n->vk == V_TIME) {
        const char *s = cw_time_text(n->t, tb, sizeof(tb));
        if (s)
            cw_json_str(out, s);
        else
            CW_SB_LIT(out, "null");
    } else if (n->vk == V_STR) {
        cw_json_str(out, n->val);
    } else {
        cw_sb_str_add(out, n->val ? n->val : "null");
    }
}

int cw_report_json(const struct cw_report *r, const char *section, struct cw_sb *out)
{
    size_t from, to;
    int in_section = 0, in_table = 0, in_row = 0, col = 0;
    const struct node *tab = NULL;

    if (select_range(r, section, &from, &to) < 0)
        return -1;
    CW_SB_LIT(out, "{");
    for (size_t i = from; i < to; i++) {
        const struct node *n = &r->n[i];
        if (in_row && n->kind != N_CELL) {
            CW_SB_LIT(out, "}");
            in_row = 0;
        }
        if (in_table && n->kind != N_ROW && n->kind != N_CELL) {
            CW_SB_LIT(out, "]");
            in_table = 0;
        }
        switch (n->kind) {
        case N_SECTION:
            if (in_section)
                CW_SB_LIT(out, "},");
            cw_json_str(out, n->key);
            CW_SB_LIT(out, ":{\"title\":");
            cw_json_str(out, n->label);
            CW_SB_LIT(out, ",\"state\":");
            cw_json_str(out, cw_report_state_name(n->state));
            in_section = 1;
            break;
        case N_FIELD:
            CW_SB_LIT(out, ",");
            cw_json_str(out, n->key);
            CW_SB_LIT(out, ":");
            json_val(n, out);
            break;
        case N_TABLE:
            CW_SB_LIT(out, ",");
            cw_json_str(out, n->key);
            CW_SB_LIT(out, ":[");
            tab = n;
            in_table = 1;
            break;
        case N_ROW:
            if (r->n[i - 1].kind != N_TABLE)
                CW_SB_LIT(out, ",");
            CW_SB_LIT(out, "{");
            in_row = 1;
            col = 0;
            break;
        case N_CELL:
            if (!tab || col >= tab->ncols)
                break;      /* more cells than columns: dropped */
            if (col)
                CW_SB_LIT(out, ",");
            cw_json_str(out, tab->colkey[col++]);
            CW_SB_LIT(out, ":");
            json_val(n, out);
            break;
        }
    }
    if (in_row)
        CW_SB_LIT(out, "}");
    if (in_table)
        CW_SB_LIT(out, "]");
    if (in_section)
        CW_SB_LIT(out, "}");
    if (r->failed && !section)
        CW_SB_LIT(out, ",\"truncated\":true");
    CW_SB_LIT(out, "}");
    return 0;
}

void cw_html_str(struct cw_sb *out, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '&': CW_SB_LIT(out, "&amp;"); break;
        case '<': CW_SB_LIT(out, "&lt;"); break;
        case '>': CW_SB_LIT(out, "&gt;"); break;
        case '"': CW_SB_LIT(out, "&quot;"); break;
        case '\'': CW_SB_LIT(out, "&#39;"); break;
        default: cw_sb_add(out, p, 1);
        }
    }
}

static void html_val(const struct node *n, struct cw_sb *out)
{
    char tb[32];

    cw_html_str(out, val_text(n, tb, sizeof(tb), "never"));
}

int cw_report_html(const struct cw_report *r, const char *section, struct cw_sb *out)
{
    size_t from, to;
    int in_section = 0, in_kv = 0, in_table = 0, in_row = 0, rows = 0;

    if (select_range(r, section, &from, &to) < 0)
        return -1;
    for (size_t i = from; i < to; i++) {
        const struct node *n = &r->n[i];
        if (in_row && n->kind != N_CELL) {
            CW_SB_LIT(out, "</tr>\n");
            in_row = 0;
        }
        if (in_table && n->kind != N_ROW && n->kind != N_CELL) {
            cw_sb_str_add(out, rows ? "</tbody></table>\n" : "</tbody></table><p class=\"none\">none</p>\n");
            in_table = 0;
        }
        if (in_kv && n->kind != N_FIELD) {
            CW_SB_LIT(out, "</table>\n");
            in_kv = 0;
        }
        switch (n->kind) {
        case N_SECTION:
            if (in_section)
                CW_SB_LIT(out, "</section>\n");
            CW_SB_LIT(out, "<section id=\"");
            cw_html_str(out, n->key);
            cw_sb_printf(out, "\" class=\"%s\"><h2>", cw_report_state_name(n->state));
            cw_html_str(out, n->label);
            cw_sb_printf(out, " <span class=\"badge %s\">%s</span></h2>\n",
                         cw_report_state_name(n->state), cw_report_state_name(n->state));
            in_section = 1;
            break;
        case N_FIELD:
            if (!in_kv)
                CW_SB_LIT(out, "<table class=\"kv\">\n");
            in_kv = 1;
            CW_SB_LIT(out, "<tr><th>");
            cw_html_str(out, n->label);
            CW_SB_LIT(out, "</th><td>");
            html_val(n, out);
            CW_SB_LIT(out, "</td></tr>\n");
            break;
        case N_TABLE:
            CW_SB_LIT(out, "<h3>");
            cw_html_str(out, n->label);
            CW_SB_LIT(out, "</h3>\n<table class=\"rows\"><thead><tr>");
            for (int c = 0; c < n->ncols; c++) {
                CW_SB_LIT(out, "<th>");
                cw_html_str(out, n->collabel[c]);
                CW_SB_LIT(out, "</th>");
            }
            CW_SB_LIT(out, "</tr></thead><tbody>\n");
            in_table = 1;
            rows = 0;
            break;
        case N_ROW:
            CW_SB_LIT(out, "<tr>");
            in_row = 1;
            rows++;
            break;
        case N_CELL:
            CW_SB_LIT(out, "<td>");
            html_val(n, out);
            CW_SB_LIT(out, "</td>");
            break;
        }
    }
    if (in_row)
        CW_SB_LIT(out, "</tr>\n");
    if (in_table)
        cw_sb_str_add(out, rows ? "</tbody></table>\n" : "</tbody></table><p class=\"none\">none</p>\n");
    if (in_kv)
        CW_SB_LIT(out, "</table>\n");
    if (in_section)
        CW_SB_LIT(out, "</section>\n");
    if (r->failed)
        CW_SB_LIT(out, "<p>(truncated)</p>\n");
    return 0;
}
