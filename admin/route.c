/* route.c - what each URL of the admin server answers, and who may ask:
 *
 *   /style.css               anyone
 *   /login                   anyone (GET the form, POST user and password)
 *   /, /logout, /actions/..  a session cookie (else 303 to /login); POSTs
 *                            carry the session's CSRF token in the form
 *   /api/v1/.., /metrics     HTTP Basic or a session cookie (else 401); a
 *                            POST with the cookie needs X-CSRF-Token
 *
 * Answers that wait for something (a password check, a control command)
 * set c->busy, hold a reference, and finish in a callback. */
#include "admin/admin_int.h"

#include "common/ctl.h"
#include "common/log.h"
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_API, MODE_PAGE, MODE_DOCTOR, MODE_LOGIN, MODE_BASIC };

#define HTML "text/html; charset=utf-8"
#define JSON "application/json"

static void send_sb(struct admin_conn *c, int status, const char *ctype, const char *extra,
                    struct cw_sb *b)
{
    if (b->failed) {
        admin__respond(c, 503, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    admin__respond(c, status, ctype, extra, b->s ? b->s : "", b->len);
}

static void json_error(struct admin_conn *c, int status, const char *extra, const char *msg)
{
    struct cw_sb b;

    cw_sb_init(&b);
    CW_SB_LIT(&b, "{\"error\":");
    cw_json_str(&b, msg);
    CW_SB_LIT(&b, "}\n");
    send_sb(c, status, JSON, extra, &b);
    cw_sb_free(&b);
}

static void redirect(struct admin_conn *c, const char *to, const char *cookie)
{
    char extra[256];

    snprintf(extra, sizeof(extra), "Location: %s\r\n%s", to, cookie ? cookie : "");
    admin__respond(c, 303, NULL, extra, "", 0);
}

static void page_message(struct admin_conn *c, int status, const char *title, const char *text)
{
    struct cw_sb b;

    cw_sb_init(&b);
    admin__page_message(c->a, &b, title, text);
    send_sb(c, status, HTML, NULL, &b);
    cw_sb_free(&b);
}

static struct cw_report *fill_report(struct cw_admin *a)
{
    struct cw_report *r = cw_report_create();

    if (r && a->report)
        a->report(a->report_arg, r);
    return r;
}

/* ---- login and logout ---- */

static void login_page(struct admin_conn *c, int status, const char *msg, const char *user)
{
    struct cw_sb b;

    cw_sb_init(&b);
    admin__page_login(c->a, &b, msg, user);
    send_sb(c, status, HTML, NULL, &b);
    cw_sb_free(&b);
}

static void refused_text(enum admin_auth_result res, unsigned wait_s, char *out, size_t len)
{
    if (res == ADMIN_AUTH_LOCKED)
        snprintf(out, len, "account locked, try again in %u s", wait_s);
    else if (res == ADMIN_AUTH_BLOCKED)
        snprintf(out, len, "too many failed logins from your address, try again in %u s", wait_s);
    else
        snprintf(out, len, "wrong user name or password");
}

static void login_answer(struct admin_conn *c, enum admin_auth_result res, unsigned wait_s)
{
    struct admin_req *q = &c->req;
    struct admin_session *s;
    char msg[128], cookie[200];

    if (res != ADMIN_AUTH_OK) {
        refused_text(res, wait_s, msg, sizeof(msg));
        login_page(c, 403, msg, q->user);
        return;
    }
    s = admin__session_new(c->a, q->user, c->addr);
    if (!s) {
        login_page(c, 503, "the server could not open a session; try again", q->user);
        return;
    }
    CW_NOTICE("admin", "login ok: user \"%s\" from %s", q->user, c->addr);
    /* Secure: HTTPS only; HttpOnly: no script reads it; SameSite=Strict:
     * no other site's page can send it along (CSRF's first line). */
    snprintf(cookie, sizeof(cookie), "Set-Cookie: cw_session=%s; Path=/; Secure; HttpOnly; "
             "SameSite=Strict\r\n", s->id);
    redirect(c, "/", cookie);
}

static void api_dispatch(struct admin_conn *c);

/* A password check finished (from the thread pool, on the loop). */
static void auth_done(void *arg, enum admin_auth_result res, unsigned wait_s)
{
    struct admin_conn *c = arg;
    struct admin_req *q = &c->req;
    char msg[128];

    c->busy = 0;
    if (c->s) {
        if (q->mode == MODE_LOGIN) {
            login_answer(c, res, wait_s);
        } else if (res == ADMIN_AUTH_OK) {
            api_dispatch(c);
        } else {
            char extra[96];
            refused_text(res, wait_s, msg, sizeof(msg));
            if (res == ADMIN_AUTH_BAD)
                snprintf(extra, sizeof(extra), "WWW-Authenticate: Basic realm=\"causeway admin\"\r\n");
            else
                snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", wait_s);
            q->user[0] = 0;
            json_error(c, res == ADMIN_AUTH_BAD ? 401 : 429, extra, msg);
        }
    }
    if (!c->busy)
        admin__conn_resume(c);
    admin__conn_unref(c);
}

/* Starts a check of q->user and q->pass; answers at once when refused
 * without one. */
static void check_password(struct admin_conn *c, int mode)
{
    struct admin_req *q = &c->req;
    unsigned wait_s;
    int r;

    q->mode = mode;
    admin__conn_ref(c);
    c->busy = 1;
    r = admin__auth_check(c->a, q->user, q->pass, c->addr, auth_done, c, &wait_s);
    explicit_bzero(q->pass, sizeof(q->pass));
    if (r >= 0)
        auth_done(c, (enum admin_auth_result)r, wait_s);
}

static void login_post(struct admin_conn *c)
{
    struct admin_req *q = &c->req;
    int u = admin__form_get(q->body.s ? q->body.s : "", q->body.len, "user", q->user,
                            sizeof(q->user));
    int p = admin__form_get(q->body.s ? q->body.s : "", q->body.len, "password", q->pass,
                            sizeof(q->pass));

    if (u == ADMIN_BAD || p == ADMIN_BAD) {
        q->user[0] = 0;
        login_page(c, 400, "the form could not be read (a field too long or sent twice)", NULL);
        return;
    }
    if (u <= 0 || p <= 0) {
        login_page(c, 400, "enter your user name and password", u > 0 ? q->user : NULL);
        return;
    }
    check_password(c, MODE_LOGIN);
}

/* ---- actions: control commands ---- */

static const struct admin_action *action_find(struct cw_admin *a, const char *path)
{
    char words[256];
    size_t n = strlen(path);

    if (!n || n >= sizeof(words) ||
        strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789-/") != n || path[0] == '/' ||
        path[n - 1] == '/' || strstr(path, "//"))
        return NULL;
    memcpy(words, path, n + 1);
    for (char *p = words; *p; p++)
        if (*p == '/')
            *p = ' ';
    for (int i = 0; i < a->nactions; i++)
        if (!strcmp(a->actions[i].cmd, words))
            return &a->actions[i];
    return NULL;
}

static void action_done(void *arg, int rc, const char *text, size_t len)
{
    struct admin_conn *c = arg;
    struct admin_req *q = &c->req;
    struct cw_sb b, t;

    c->busy = 0;
    cw_sb_init(&b);
    cw_sb_init(&t);
    cw_sb_add(&t, text ? text : "", text ? len : 0);
    if (!c->s)
        goto out;
    if (q->mode == MODE_PAGE) {
        admin__page_result(c->a, &b, q->user, q->csrf, q->action, rc == 0, t.s ? t.s : "");
        send_sb(c, 200, HTML, NULL, &b);
    } else if (q->mode == MODE_DOCTOR && t.len && t.s[strspn(t.s, " \t\r\n")] == '{') {
        /* The doctor answers JSON itself, with its own verdict inside. */
        send_sb(c, 200, JSON, NULL, &t);
    } else {
        CW_SB_LIT(&b, "{\"ok\":");
        cw_sb_str_add(&b, rc == 0 ? "true" : "false");
        CW_SB_LIT(&b, ",\"output\":");
        cw_json_str(&b, t.s ? t.s : "");
        CW_SB_LIT(&b, "}\n");
        send_sb(c, rc == 0 ? 200 : 409, JSON, NULL, &b);
    }
out:
    cw_sb_free(&b);
    cw_sb_free(&t);
    if (!c->busy)
        admin__conn_resume(c);
    admin__conn_unref(c);
}

/* Runs the command words of cmd plus the words of args. */
static void action_run(struct admin_conn *c, const char *cmd, const char *args, int mode)
{
    struct admin_req *q = &c->req;
    char buf[512], *argv[CW_CTL_ARGS_MAX];
    int argc = 0;

    snprintf(buf, sizeof(buf), "%s%s%s", cmd, args && *args ? " " : "", args ? args : "");
    snprintf(q->action, sizeof(q->action), "%s", buf);
    for (char *p = strtok(buf, " "); p; p = strtok(NULL, " ")) {
        if (argc == CW_CTL_ARGS_MAX) {
            if (mode == MODE_PAGE)
                page_message(c, 400, "Too many words", "The action has too many arguments.");
            else
                json_error(c, 400, NULL, "too many arguments");
            return;
        }
        argv[argc++] = p;
    }
    if (!c->a->ctl) {
        json_error(c, 503, NULL, "no control commands in this daemon");
        return;
    }
    q->mode = mode;
    c->busy = 1;
    admin__conn_ref(c);
    if (cw_ctl_exec(c->a->ctl, argc, argv, action_done, c) < 0) {
        c->busy = 0;
        admin__conn_unref(c);
        json_error(c, 503, NULL, "out of memory");
    }
}

/* The args field of an action's form body: printable words. */
static int action_args(struct admin_conn *c, const struct admin_action *x, char *args,
                       size_t cap, const char **why)
{
    struct admin_req *q = &c->req;
    int n = admin__form_get(q->body.s ? q->body.s : "", q->body.len, "args", args, cap);

    if (n == ADMIN_BAD) {
        *why = "the args field is malformed, too long or sent twice";
        return -1;
    }
    if (n < 0)
        args[0] = 0;
    args[strspn(args, " ") == strlen(args) ? 0 : strlen(args)] = 0;
    if (x->arg[0] && !args[0]) {
        *why = "this action needs an argument (args)";
        return -1;
    }
    return 0;
}

/* ---- the JSON API and /metrics, once authenticated ---- */

static void api_status(struct admin_conn *c, const char *section)
{
    struct cw_report *r = fill_report(c->a);
    struct cw_sb b;

    if (!r) {
        json_error(c, 503, NULL, "out of memory");
        return;
    }
    cw_sb_init(&b);
    if (cw_report_json(r, section, &b) < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no status section \"%.100s\"", section);
        json_error(c, 404, NULL, msg);
    } else {
        CW_SB_LIT(&b, "\n");
        send_sb(c, 200, JSON, NULL, &b);
    }
    cw_sb_free(&b);
    cw_report_destroy(r);
}

static void api_dispatch(struct admin_conn *c)
{
    struct admin_req *q = &c->req;
    const char *t = q->target;
    int get = !strcmp(q->method, "GET"), post = !strcmp(q->method, "POST");

    if (!strcmp(t, "/metrics")) {
        struct cw_sb b;
        if (!get) {
            json_error(c, 405, "Allow: GET\r\n", "use GET");
            return;
        }
        cw_sb_init(&b);
        if (c->a->stats)
            cw_stats_dump(c->a->stats, &b, 1);
        send_sb(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &b);
        cw_sb_free(&b);
        return;
    }
    if (!strcmp(t, "/api/v1/status") || !strncmp(t, "/api/v1/status/", 15)) {
        const char *sec = t[14] ? t + 15 : NULL;
        if (!get) {
            json_error(c, 405, "Allow: GET\r\n", "use GET");
            return;
        }
        api_status(c, sec);
        return;
    }
    if (!strcmp(t, "/api/v1/doctor")) {
        if (!get) {
            json_error(c, 405, "Allow: GET\r\n", "use GET");
            return;
        }
        action_run(c, "doctor json", NULL, MODE_DOCTOR);
        return;
    }
    if (!strncmp(t, "/api/v1/actions/", 16)) {
        const struct admin_action *x = action_find(c->a, t + 16);
        char args[256];
        const char *why;

        if (!x) {
            json_error(c, 404, NULL, "no such action (or not allowed here)");
            return;
        }
        if (!post) {
            json_error(c, 405, "Allow: POST\r\n", "use POST");
            return;
        }
        if (action_args(c, x, args, sizeof(args), &why) < 0) {
            json_error(c, 400, NULL, why);
            return;
        }
        action_run(c, x->cmd, args, MODE_API);
        return;
    }
    json_error(c, 404, NULL, "no such endpoint");
}

/* The API and /metrics: Basic, else the session cookie. */
static void api_auth(struct admin_conn *c)
{
    struct admin_req *q = &c->req;
    struct admin_session *s;

    if (q->has_basic) {
        check_password(c, MODE_BASIC);
        return;
    }
    if (q->has_cookie && (s = admin__session_find(c->a, q->session_id))) {
        snprintf(q->user, sizeof(q->user), "%s", s->user);
        /* A cookie goes along with any request the browser makes: a change
         * must also prove it came from our page, which alone knows the
         * token. */
        if (strcmp(q->method, "GET") && !admin__token_eq(q->csrf_hdr, s->csrf)) {
            json_error(c, 403, NULL, "missing or wrong X-CSRF-Token header (the token is on "
                                     "the status page)");
            return;
        }
        api_dispatch(c);
        return;
    }
    json_error(c, 401, "WWW-Authenticate: Basic realm=\"causeway admin\"\r\n",
               "authentication required (HTTP Basic, or sign in at /login)");
}

/* ---- pages, behind the session cookie ---- */

static void page_status(struct admin_conn *c, const struct admin_session *s)
{
    struct cw_report *r = fill_report(c->a);
    struct cw_sb b;

    if (!r) {
        page_message(c, 503, "Out of memory", "Try again.");
        return;
    }
    cw_sb_init(&b);
    admin__page_status(c->a, &b, s->user, s->csrf, r);
    send_sb(c, 200, HTML, NULL, &b);
    cw_sb_free(&b);
    cw_report_destroy(r);
}

static int form_csrf_ok(struct admin_conn *c, const struct admin_session *s)
{
    struct admin_req *q = &c->req;
    char tok[ADMIN_TOKEN_HEX + 1];

    return admin__form_get(q->body.s ? q->body.s : "", q->body.len, "csrf", tok, sizeof(tok)) ==
               ADMIN_TOKEN_HEX &&
           admin__token_eq(tok, s->csrf);
}

static void pages(struct admin_conn *c)
{
    struct admin_req *q = &c->req;
    struct admin_session *s = q->has_cookie ? admin__session_find(c->a, q->session_id) : NULL;
    int get = !strcmp(q->method, "GET");

    if (!s) {
        redirect(c, "/login", NULL);
        return;
    }
    snprintf(q->user, sizeof(q->user), "%s", s->user);
    snprintf(q->csrf, sizeof(q->csrf), "%s", s->csrf);
    if (!strcmp(q->target, "/")) {
        if (!get)
            page_message(c, 405, "Method not allowed", "Use the links and buttons of the page.");
        else
            page_status(c, s);
        return;
    }
    if (get) {
        page_message(c, 404, "Not found", "There is no such page.");
        return;
    }
    if (!form_csrf_ok(c, s)) {
        page_message(c, 403, "Forbidden", "The form's token is missing or stale: reload the "
                     "status page and try again.");
        return;
    }
    if (!strcmp(q->target, "/logout")) {
        CW_NOTICE("admin", "logout: user \"%s\" from %s", s->user, c->addr);
        admin__session_end(c->a, s, "signed out");
        redirect(c, "/login", "Set-Cookie: cw_session=; Path=/; Secure; HttpOnly; "
                              "SameSite=Strict; Max-Age=0\r\n");
        return;
    }
    if (!strncmp(q->target, "/actions/", 9)) {
        const struct admin_action *x = action_find(c->a, q->target + 9);
        char args[256];
        const char *why;

        if (!x) {
            page_message(c, 404, "No such action", "This daemon does not allow that action.");
            return;
        }
        if (action_args(c, x, args, sizeof(args), &why) < 0) {
            page_message(c, 400, "Bad request", why);
            return;
        }
        action_run(c, x->cmd, args, MODE_PAGE);
        return;
    }
    page_message(c, 404, "Not found", "There is no such page.");
}

void admin__route(struct admin_conn *c)
{
    struct admin_req *q = &c->req;
    const char *t = q->target;
    int get = !strcmp(q->method, "GET"), post = !strcmp(q->method, "POST");

    if (q->bad_auth_header) {
        CW_WARN("admin", "bad request from %s: malformed Cookie or Authorization header",
                c->addr);
        q->user[0] = 0;
        json_error(c, 400, NULL, "malformed Cookie or Authorization header");
        return;
    }
    if (!get && !post) {
        q->user[0] = 0;
        json_error(c, 405, "Allow: GET, POST\r\n", "only GET and POST");
        return;
    }
    if (!strcmp(t, "/style.css")) {
        admin__respond(c, 200, "text/css; charset=utf-8", NULL, admin__css, strlen(admin__css));
        return;
    }
    if (!strcmp(t, "/login")) {
        q->user[0] = 0;
        if (post) {
            login_post(c);
        } else if (q->has_cookie && admin__session_find(c->a, q->session_id)) {
            redirect(c, "/", NULL);
        } else {
            login_page(c, 200, NULL, NULL);
        }
        return;
    }
    if (!strncmp(t, "/api/", 5) || !strcmp(t, "/metrics")) {
        api_auth(c);
        return;
    }
    q->user[0] = 0;
    pages(c);
}
