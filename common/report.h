/* report.h - a status document that modules fill once and that renders
 * three ways: text for the CLI, JSON for the admin API, HTML for the admin
 * pages. One source, so the three never disagree.
 *
 * A document is a list of sections; a section holds fields (key, label,
 * value) and tables (columns, rows of cells). Building never fails from the
 * caller's point of view: when memory runs out the document is marked and
 * renders as far as it got, with "(truncated)" at the end.
 *
 *   cw_report_section(r, "turn", "TURN server", CW_REPORT_OK);
 *   cw_report_str(r, "realm", "Realm", "example.com");
 *   cw_report_int(r, "clients", "Active clients", 20);
 *   cw_report_table(r, "allocations", "Allocations per user", "user,count", "User,Allocations");
 *   cw_report_row(r); cw_report_cell_str(r, "alice"); cw_report_cell_int(r, 17);
 *
 * JSON: {"turn":{"state":"ok","title":"TURN server","realm":"example.com",
 *        "clients":20,"allocations":[{"user":"alice","count":17}]}, ...}
 * Keys are [a-z0-9_]; labels and values are any UTF-8 text (escaped on
 * output). A section's own "title" and "state" are keys of its JSON object:
 * fields must not use them. */
#ifndef CW_REPORT_H
#define CW_REPORT_H

#include <stdint.h>
#include <time.h>

#include "strbuf.h"

/* A section's state, shown as a badge on the page and as "state" in JSON. */
enum cw_report_state { CW_REPORT_OK, CW_REPORT_WARN, CW_REPORT_ERROR, CW_REPORT_OFF };

struct cw_report;

struct cw_report *cw_report_create(void);
void cw_report_destroy(struct cw_report *r);

/* Starts a section; the fields and tables that follow go into it. */
void cw_report_section(struct cw_report *r, const char *key, const char *title,
                       enum cw_report_state state);
/* Changes the current section's state (only to a worse one: OK < WARN < ERROR;
 * OFF is set as is). */
void cw_report_state(struct cw_report *r, enum cw_report_state state);

/* Fields of the current section. */
void cw_report_str(struct cw_report *r, const char *key, const char *label, const char *val);
void cw_report_strf(struct cw_report *r, const char *key, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cw_report_int(struct cw_report *r, const char *key, const char *label, int64_t v);
/* A number with a fraction: decimals places after the point. */
void cw_report_real(struct cw_report *r, const char *key, const char *label, double v,
                    int decimals);
void cw_report_bool(struct cw_report *r, const char *key, const char *label, int v);
/* A time: ISO 8601 UTC in JSON and on the page; 0 is null ("never"). */
void cw_report_time(struct cw_report *r, const char *key, const char *label, time_t t);
/* t as the documents show it ("2026-12-07T09:30:00Z"); NULL when t is 0. */
const char *cw_time_text(time_t t, char *buf, size_t len);

/* A table of the current section: cols and labels are comma-separated
 * lists of the same length (at most CW_REPORT_MAX_COLS). Rows follow. */
#define CW_REPORT_MAX_COLS 16
void cw_report_table(struct cw_report *r, const char *key, const char *label, const char *cols,
                     const char *labels);
void cw_report_row(struct cw_report *r);
void cw_report_cell_str(struct cw_report *r, const char *val);
void cw_report_cell_strf(struct cw_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cw_report_cell_int(struct cw_report *r, int64_t v);
void cw_report_cell_time(struct cw_report *r, time_t t);

/* Renderers. section: only the section with that key, or NULL for all.
 * They return 0, or -1 when no section has that key (nothing written). */
int cw_report_text(const struct cw_report *r, const char *section, struct cw_sb *out);
int cw_report_json(const struct cw_report *r, const char *section, struct cw_sb *out);
/* HTML: <section> elements only (the caller writes the page around them);
 * every label and value is escaped. */
int cw_report_html(const struct cw_report *r, const char *section, struct cw_sb *out);

/* The i-th section (from 0): key, title and state, for a table of
 * contents. 0, or -1 past the last one. */
int cw_report_section_info(const struct cw_report *r, int i, const char **key,
                           const char **title, enum cw_report_state *state);

/* Escapers, for callers that write their own JSON or HTML around a report. */
void cw_json_str(struct cw_sb *out, const char *s);    /* "..." with escapes */
void cw_html_str(struct cw_sb *out, const char *s);    /* & < > " ' escaped */

const char *cw_report_state_name(enum cw_report_state s);   /* "ok", "warn", "error", "off" */

#endif
