/* page.c - the admin pages' HTML: the shell around the status document,
 * the sign-in form, action results, and the style sheet. Plain
 * server-rendered HTML5 that needs no script (the Content-Security-Policy
 * forbids any); every text from the daemon or the client is escaped. */
#include "admin/admin_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char admin__css[] =
    ":root{--ok:#1f7a1f;--warn:#b36b00;--error:#b3261e;--off:#6b6b6b;--line:#d9dde3}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1b1f24;background:#f4f6f8}\n"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:.5em 1.5em;padding:.7em 1.2em;"
    "background:#1d2b3a;color:#fff}\n"
    "header .brand{font-weight:600;font-size:1.15em}\n"
    "header .host{font-weight:400;opacity:.8;margin-left:.4em}\n"
    "header nav{margin-left:auto;display:flex;align-items:center;gap:1em}\n"
    "header a{color:#cfe3ff}\n"
    "header form{margin:0}\n"
    "main{max-width:1100px;margin:0 auto;padding:1em 1.2em 3em}\n"
    ".toc{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6em 1em}\n"
    ".toc h2{font-size:1em;margin:.2em 0 .4em}\n"
    ".toc ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.4em 1.2em}\n"
    "section{background:#fff;border:1px solid var(--line);border-left:6px solid var(--off);"
    "border-radius:6px;margin:1em 0;padding:.4em 1em 1em}\n"
    "section.ok{border-left-color:var(--ok)}section.warn{border-left-color:var(--warn)}\n"
    "section.error{border-left-color:var(--error)}\n"
    "h2{font-size:1.15em;margin:.5em 0}h3{font-size:1em;margin:1em 0 .3em}\n"
    ".badge{display:inline-block;min-width:3.2em;text-align:center;padding:.05em .5em;"
    "border-radius:1em;font-size:.8em;font-weight:600;color:#fff;background:var(--off);"
    "text-transform:uppercase;vertical-align:middle}\n"
    ".badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}"
    ".badge.error{background:var(--error)}.badge.off{background:var(--off)}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "table.kv th{text-align:left;font-weight:500;color:#4a5561;width:16em;padding:.2em .8em .2em 0;"
    "vertical-align:top}\n"
    "table.kv td{padding:.2em 0;overflow-wrap:anywhere}\n"
    "table.rows th{text-align:left;background:#eef1f4;padding:.3em .6em;border-bottom:1px solid "
    "var(--line)}\n"
    "table.rows td{padding:.3em .6em;border-bottom:1px solid #eef1f4;overflow-wrap:anywhere}\n"
    "p.none{color:var(--off);margin:.3em 0}\n"
    "form.action{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;margin:.4em 0}\n"
    "button{font:inherit;padding:.3em .9em;border-radius:4px;border:1px solid #8a96a3;"
    "background:#fff;cursor:pointer}\n"
    "header button{background:transparent;color:#fff;border-color:#7d8fa3}\n"
    "input{font:inherit;padding:.3em .5em;border:1px solid #8a96a3;border-radius:4px}\n"
    ".login{max-width:24em;margin:4em auto;background:#fff;border:1px solid var(--line);"
    "border-radius:6px;padding:1.2em 1.5em}\n"
    ".login label{display:block;margin:.7em 0 .2em}.login input{width:100%}\n"
    ".login button{margin-top:1em;width:100%}\n"
    ".msg{padding:.5em .8em;border-radius:4px;background:#fdecea;color:var(--error)}\n"
    "pre{background:#f4f6f8;border:1px solid var(--line);padding:.6em;overflow:auto}\n"
    "code{overflow-wrap:anywhere}\n"
    "footer{color:var(--off);font-size:.85em;text-align:center;padding:1em}\n";

static void head(struct cw_admin *a, struct cw_sb *out, const char *title)
{
    CW_SB_LIT(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>");
    cw_html_str(out, title);
    CW_SB_LIT(out, " - ");
    cw_html_str(out, a->product);
    CW_SB_LIT(out, " ");
    cw_html_str(out, a->host);
    CW_SB_LIT(out, "</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>\n");
}

/* The bar on every signed-in page: product, host, user, refresh, sign out. */
static void bar(struct cw_admin *a, struct cw_sb *out, const char *user, const char *csrf)
{
    CW_SB_LIT(out, "<header><div class=\"brand\">");
    cw_html_str(out, a->product);
    CW_SB_LIT(out, "<span class=\"host\">");
    cw_html_str(out, a->host);
    CW_SB_LIT(out, "</span></div>");
    if (user) {
        CW_SB_LIT(out, "<nav><a href=\"/\">refresh</a><span>signed in as <b>");
        cw_html_str(out, user);
        CW_SB_LIT(out, "</b></span><form method=\"post\" action=\"/logout\">"
                       "<input type=\"hidden\" name=\"csrf\" value=\"");
        cw_html_str(out, csrf);
        CW_SB_LIT(out, "\"><button type=\"submit\">Sign out</button></form></nav>");
    }
    CW_SB_LIT(out, "</header>\n");
}

static void foot(struct cw_sb *out)
{
    char when[40];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    cw_sb_printf(out, "<footer>page made %s</footer>\n</body></html>\n", when);
}

void admin__page_login(struct cw_admin *a, struct cw_sb *out, const char *msg, const char *user)
{
    head(a, out, "Sign in");
    bar(a, out, NULL, NULL);
    CW_SB_LIT(out, "<main><div class=\"login\"><h1>Sign in</h1>\n");
    if (msg) {
        CW_SB_LIT(out, "<p class=\"msg\" role=\"alert\">");
        cw_html_str(out, msg);
        CW_SB_LIT(out, "</p>\n");
    }
    CW_SB_LIT(out, "<form method=\"post\" action=\"/login\">"
                   "<label for=\"user\">User name</label>"
                   "<input id=\"user\" name=\"user\" autocomplete=\"username\" required "
                   "maxlength=\"64\" value=\"");
    cw_html_str(out, user ? user : "");
    CW_SB_LIT(out, "\"><label for=\"password\">Password</label>"
                   "<input id=\"password\" name=\"password\" type=\"password\" "
                   "autocomplete=\"current-password\" required>"
                   "<button type=\"submit\">Sign in</button></form></div></main>\n");
    foot(out);
}

static void actions(struct cw_admin *a, struct cw_sb *out, const char *csrf)
{
    CW_SB_LIT(out, "<section id=\"actions\" class=\"off\"><h2>Actions</h2>\n");
    if (!a->nactions)
        CW_SB_LIT(out, "<p class=\"none\">none</p>\n");
    for (int i = 0; i < a->nactions; i++) {
        const struct admin_action *x = &a->actions[i];

        CW_SB_LIT(out, "<form class=\"action\" method=\"post\" action=\"/actions/");
        for (const char *p = x->cmd; *p; p++)
            cw_sb_add(out, *p == ' ' ? "/" : p, 1);
        CW_SB_LIT(out, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
        cw_html_str(out, csrf);
        CW_SB_LIT(out, "\">");
        if (x->arg[0]) {
            CW_SB_LIT(out, "<input name=\"args\" required placeholder=\"");
            cw_html_str(out, x->arg);
            CW_SB_LIT(out, "\" aria-label=\"");
            cw_html_str(out, x->arg);
            CW_SB_LIT(out, "\">");
        }
        CW_SB_LIT(out, "<button type=\"submit\">");
        cw_html_str(out, x->cmd);
        CW_SB_LIT(out, "</button></form>\n");
    }
    CW_SB_LIT(out, "<p>For the JSON API with this session, send the header "
                   "<code>X-CSRF-Token: ");
    cw_html_str(out, csrf);
    CW_SB_LIT(out, "</code> with every POST.</p></section>\n");
}

void admin__page_status(struct cw_admin *a, struct cw_sb *out, const char *user,
                        const char *csrf, const struct cw_report *r)
{
    const char *key, *title;
    enum cw_report_state st;

    head(a, out, "Status");
    bar(a, out, user, csrf);
    CW_SB_LIT(out, "<main>\n<nav class=\"toc\" aria-label=\"Contents\"><h2>Contents</h2><ul>");
    for (int i = 0; cw_report_section_info(r, i, &key, &title, &st) == 0; i++) {
        CW_SB_LIT(out, "<li><a href=\"#");
        cw_html_str(out, key);
        cw_sb_printf(out, "\"><span class=\"badge %s\">%s</span> ", cw_report_state_name(st),
                     cw_report_state_name(st));
        cw_html_str(out, title);
        CW_SB_LIT(out, "</a></li>");
    }
    CW_SB_LIT(out, "<li><a href=\"#actions\">Actions</a></li></ul></nav>\n");
    cw_report_html(r, NULL, out);
    actions(a, out, csrf);
    CW_SB_LIT(out, "</main>\n");
    foot(out);
}

void admin__page_result(struct cw_admin *a, struct cw_sb *out, const char *user,
                        const char *csrf, const char *cmd, int ok, const char *text)
{
    head(a, out, "Action");
    bar(a, out, user, csrf);
    cw_sb_printf(out, "<main><section class=\"%s\"><h2>", ok ? "ok" : "error");
    cw_html_str(out, cmd);
    cw_sb_printf(out, " <span class=\"badge %s\">%s</span></h2>\n<pre>", ok ? "ok" : "error",
                 ok ? "ok" : "error");
    cw_html_str(out, text);
    CW_SB_LIT(out, "</pre><p><a href=\"/\">Back to the status page</a></p></section></main>\n");
    foot(out);
}

void admin__page_message(struct cw_admin *a, struct cw_sb *out, const char *title,
                         const char *text)
{
    head(a, out, title);
    bar(a, out, NULL, NULL);
    CW_SB_LIT(out, "<main><section class=\"warn\"><h2>");
    cw_html_str(out, title);
    CW_SB_LIT(out, "</h2><p>");
    cw_html_str(out, text);
    CW_SB_LIT(out, "</p><p><a href=\"/\">Status page</a></p></section></main>\n");
    foot(out);
}
