/* state.c - the XMPP service's replicated state as tables of text rows,
 * changed only by command lines (see state.h).
 *
 * Every kind of record is a table whose rows are a few strings, the first
 * nkey of them the key. Tables are small (domains, components) or read on
 * rare paths (logins, roster changes, routing to another node), so rows sit
 * in arrays searched in order; the local session table that every message
 * uses lives in the server, not here. */
#include "xmpp/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/jid.h"
#include "xmpp/sasl.h"

#define FIELDS_MAX 5
#define WORD_MAX 4096

struct row {
    char *f[FIELDS_MAX];
};

struct table {
    const char *cmd;      /* "domain", "user", ...: the command prefix */
    int nkey, nf;
    struct row *rows;
    size_t n, cap;
};

enum { T_DOMAIN, T_USER, T_COMP, T_ROSTER, T_SESSION, T_NODE, T_CROUTE, T_COUNT };

struct xmpp_state {
    struct table t[T_COUNT];
};

static const struct { const char *cmd; int nkey, nf; } table_def[T_COUNT] = {
    [T_DOMAIN] = { "domain", 1, 1 },
    [T_USER] = { "user", 2, 4 },
    [T_COMP] = { "comp", 1, 2 },
    [T_ROSTER] = { "roster", 2, 5 },
    [T_SESSION] = { "session", 1, 2 },
    [T_NODE] = { "node", 1, 3 },
    [T_CROUTE] = { "comproute", 1, 2 },
};

struct xmpp_state *xmpp_state_new(void)
{
    struct xmpp_state *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    for (int i = 0; i < T_COUNT; i++) {
        st->t[i].cmd = table_def[i].cmd;
        st->t[i].nkey = table_def[i].nkey;
        st->t[i].nf = table_def[i].nf;
    }
    return st;
}

static void row_free(struct table *t, struct row *r)
{
    for (int i = 0; i < t->nf; i++)
        free(r->f[i]);
}

static void state_clear(struct xmpp_state *st)
{
    for (int i = 0; i < T_COUNT; i++) {
        struct table *t = &st->t[i];
        for (size_t j = 0; j < t->n; j++)
            row_free(t, &t->rows[j]);
        free(t->rows);
        t->rows = NULL;
        t->n = t->cap = 0;
    }
}

void xmpp_state_free(struct xmpp_state *st)
{
    if (!st)
        return;
    state_clear(st);
    free(st);
}

static struct row *find(const struct table *t, char **key, int nkey)
{
    for (size_t i = 0; i < t->n; i++) {
        int k;
        for (k = 0; k < nkey && !strcmp(t->rows[i].f[k], key[k]); k++)
            ;
        if (k == nkey)
            return &t->rows[i];
    }
    return NULL;
}

/* Inserts or replaces the row whose key is f[0..nkey-1]. */
static int upsert(struct table *t, char **f)
{
    struct row nr = { { 0 } }, *r;

    for (int i = 0; i < t->nf; i++)
        if (!(nr.f[i] = strdup(f[i]))) {
            row_free(t, &nr);
            return -1;
        }
    r = find(t, f, t->nkey);
    if (r) {
        row_free(t, r);
        *r = nr;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct row *rows = realloc(t->rows, cap * sizeof(*rows));
        if (!rows) {
            row_free(t, &nr);
            return -1;
        }
        t->rows = rows;
        t->cap = cap;
    }
    t->rows[t->n++] = nr;
    return 0;
}

/* Removes rows matching the first nkey fields; keeps the order of the rest
 * (dumps and listings stay in the order things were added). */
static int remove_rows(struct table *t, char **key, int nkey, int col)
{
    size_t j = 0;
    int gone = 0;

    for (size_t i = 0; i < t->n; i++) {
        int k = 0;
        if (col >= 0) {
            k = !strcmp(t->rows[i].f[col], key[0]) ? nkey : 0;
        } else {
            while (k < nkey && !strcmp(t->rows[i].f[k], key[k]))
                k++;
        }
        if (k == nkey) {
            row_free(t, &t->rows[i]);
            gone++;
        } else {
            t->rows[j++] = t->rows[i];
        }
    }
    t->n = j;
    return gone;
}

static int err_out(char *err, size_t errlen, const char *fmt, const char *a)
{
    snprintf(err, errlen, fmt, a);
    return -1;
}

/* Checks each kind's fields, so a bad command never enters the state. */
static int check_row(int ti, char **f, char *err, size_t errlen)
{
    struct sasl_cred c;
    struct jid j;

    switch (ti) {
    case T_DOMAIN:
        if (!jid_domain_ok(f[0], NULL, 0))
            return err_out(err, errlen, "\"%s\" is not a domain name", f[0]);
        return 0;
    case T_USER:
        if (!sasl_username_ok(f[1], strlen(f[1])))
            return err_out(err, errlen, "\"%s\" is not a valid user name", f[1]);
        if (sasl_cred_parse(f[2], &c) < 0 || c.hash != SASL_SHA256 ||
            sasl_cred_parse(f[3], &c) < 0 || c.hash != SASL_SHA1)
            return err_out(err, errlen, "bad credentials for user \"%s\"", f[1]);
        return 0;
    case T_COMP:
        if (!jid_domain_ok(f[0], NULL, 0))
            return err_out(err, errlen, "\"%s\" is not a component name", f[0]);
        if (strlen(f[1]) < 8)
            return err_out(err, errlen, "the secret of \"%s\" is shorter than 8 characters",
                           f[0]);
        return 0;
    case T_ROSTER:
        if (jid_parse(f[0], &j) < 0 || jid_parse(f[1], &j) < 0 || j.resource[0])
            return err_out(err, errlen, "bad roster JIDs for %s", f[0]);
        if (strcmp(f[2], "none") && strcmp(f[2], "to") && strcmp(f[2], "from") &&
            strcmp(f[2], "both"))
            return err_out(err, errlen, "bad subscription \"%s\"", f[2]);
        if (strcmp(f[3], "-") && strcmp(f[3], "out"))
            return err_out(err, errlen, "bad ask \"%s\"", f[3]);
        return 0;
    case T_SESSION:
        if (jid_parse(f[0], &j) < 0 || !j.resource[0])
            return err_out(err, errlen, "\"%s\" is not a full JID", f[0]);
        return 0;
    case T_CROUTE:
        if (!jid_domain_ok(f[0], NULL, 0))
            return err_out(err, errlen, "\"%s\" is not a component domain", f[0]);
        return 0;
    case T_NODE:
        if (strspn(f[1], "0123456789") != strlen(f[1]) || !f[1][0] || f[1][0] == '0')
            return err_out(err, errlen, "bad node id for %s", f[0]);
        return 0;
    }
    return -1;
}

/* RFC 6121 3 and its appendix A: a subscription event for owner's item about
 * contact, outbound (the owner sent it) or inbound (contact sent it), as
 * (sub, ask) after it. Applied here, in log order, so that two nodes
 * handling events of one item at once can never overwrite each other.
 * Returns whether the item is made when there is none. */
static int sub_event(const char *dir, const char *ev, enum xmpp_sub *sub, int *ask)
{
    enum xmpp_sub s = *sub;
    int out = !strcmp(dir, "out");

    if (out && !strcmp(ev, "subscribe")) {
        *ask = s == XMPP_SUB_TO || s == XMPP_SUB_BOTH ? *ask : 1;
        return 1;
    }
    if (out && !strcmp(ev, "subscribed")) {
        *sub = s == XMPP_SUB_NONE ? XMPP_SUB_FROM : s == XMPP_SUB_TO ? XMPP_SUB_BOTH : s;
        return 1;
    }
    if ((out && !strcmp(ev, "unsubscribe")) || (!out && !strcmp(ev, "unsubscribed"))) {
        *sub = s == XMPP_SUB_TO ? XMPP_SUB_NONE : s == XMPP_SUB_BOTH ? XMPP_SUB_FROM : s;
        *ask = 0;
        return 0;
    }
    if ((out && !strcmp(ev, "unsubscribed")) || (!out && !strcmp(ev, "unsubscribe"))) {
        *sub = s == XMPP_SUB_FROM ? XMPP_SUB_NONE : s == XMPP_SUB_BOTH ? XMPP_SUB_TO : s;
        return 0;
    }
    if (!out && !strcmp(ev, "subscribe"))
        return 0;   /* a request changes nothing until it is answered */
    /* Inbound "subscribed". RFC 6121 3.1.6 ignores one nothing asked for;
     * here it is taken when the item exists (or is made): the request's
     * own change may be later in the log than the answer when they came
     * through different nodes, and the contact did approve. */
    *sub = s == XMPP_SUB_NONE ? XMPP_SUB_TO : s == XMPP_SUB_FROM ? XMPP_SUB_BOTH : s;
    *ask = 0;
    return 1;
}

static size_t roster_size(const struct xmpp_state *st, const char *owner)
{
    const struct table *t = &st->t[T_ROSTER];
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++)
        n += !strcmp(t->rows[i].f[0], owner);
    return n;
}

/* roster-event OWNER CONTACT out|in EVENT, roster-name OWNER CONTACT NAME. */
static int roster_change(struct xmpp_state *st, char *owner, char *contact, const char *verb,
                         char *a, char *b, char *err, size_t errlen)
{
    char *k[2] = { owner, contact }, *f[5];
    struct row *r = find(&st->t[T_ROSTER], k, 2);
    enum xmpp_sub sub = XMPP_SUB_NONE;
    int ask = 0, create = 1;

    if (r) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(r->f[2], xmpp_sub_name((enum xmpp_sub)i)))
                sub = (enum xmpp_sub)i;
        ask = !strcmp(r->f[3], "out");
    }
    if (!strcmp(verb, "event")) {
        if ((strcmp(a, "out") && strcmp(a, "in")) ||
            (strcmp(b, "subscribe") && strcmp(b, "subscribed") && strcmp(b, "unsubscribe") &&
             strcmp(b, "unsubscribed")))
            return err_out(err, errlen, "bad roster event for %s", owner);
        create = sub_event(a, b, &sub, &ask);
        if (!r && !create)
            return 0;
    }
    if (!r && roster_size(st, owner) >= XMPP_ROSTER_MAX)
        return 0;       /* full: see XMPP_ROSTER_MAX */
    f[0] = owner;
    f[1] = contact;
    f[2] = (char *)xmpp_sub_name(sub);
    f[3] = ask ? "out" : "-";
    f[4] = !strcmp(verb, "name") ? b : r ? r->f[4] : "-";
    (void)a;
    if (check_row(T_ROSTER, f, err, errlen) < 0)
        return -1;
    if (upsert(&st->t[T_ROSTER], f) < 0)
        return err_out(err, errlen, "%s", "out of memory");
    return 0;
}

int xmpp_state_apply(struct xmpp_state *st, const char *cmd, char *err, size_t errlen)
{
    char buf[WORD_MAX], *w[FIELDS_MAX + 2], *p, *verb;
    int n = 0, ti;

    if (strlen(cmd) >= sizeof(buf))
        return err_out(err, errlen, "%s", "command too long");
    strcpy(buf, cmd);
    for (p = strtok(buf, " "); p && n < FIELDS_MAX + 2; p = strtok(NULL, " "))
        w[n++] = p;
    if (n < 1 || p)
        return err_out(err, errlen, "%s", "malformed command");
    verb = strchr(w[0], '-');
    if (!verb)
        return err_out(err, errlen, "unknown command \"%s\"", w[0]);
    *verb++ = 0;
    for (ti = 0; ti < T_COUNT && strcmp(st->t[ti].cmd, w[0]); ti++)
        ;
    if (ti == T_COUNT)
        return err_out(err, errlen, "unknown command \"%s\"", w[0]);
    struct table *t = &st->t[ti];
    if (!strcmp(verb, "add") || !strcmp(verb, "set")) {
        if (n - 1 != t->nf)
            return err_out(err, errlen, "wrong number of fields for %s", t->cmd);
        if (check_row(ti, w + 1, err, errlen) < 0)
            return -1;
        if (ti == T_USER && !xmpp_state_has_domain(st, w[1]))
            return err_out(err, errlen, "no domain \"%s\" (add it first)", w[1]);
        if (upsert(t, w + 1) < 0)
            return err_out(err, errlen, "%s", "out of memory");
    } else if (!strcmp(verb, "del")) {
        /* A session or component route goes only from the node holding it. */
        int key = ti == T_SESSION || ti == T_CROUTE ? 2 : t->nkey;
        if (n - 1 != key)
            return err_out(err, errlen, "wrong number of fields for %s", t->cmd);
        if (!remove_rows(t, w + 1, key, -1))
            return err_out(err, errlen, "no such %s", t->cmd);
        if (ti == T_DOMAIN)
            remove_rows(&st->t[T_USER], w + 1, 1, -1);
    } else if (ti == T_ROSTER && (!strcmp(verb, "event") || !strcmp(verb, "name")) && n == 5) {
        if (roster_change(st, w[1], w[2], verb, w[3], w[4], err, errlen) < 0)
            return -1;
    } else if (!strcmp(verb, "clear") && (ti == T_SESSION || ti == T_CROUTE) && n == 2) {
        remove_rows(t, w + 1, 1, 1);   /* a node restarted or left */
    } else {
        return err_out(err, errlen, "unknown command \"%s\"", cmd);
    }
    return 0;
}

void xmpp_state_dump(const struct xmpp_state *st, struct cw_sb *out)
{
    for (int i = 0; i < T_COUNT; i++) {
        const struct table *t = &st->t[i];
        for (size_t j = 0; j < t->n; j++) {
            cw_sb_str_add(out, t->cmd);
            CW_SB_LIT(out, "-set");
            for (int k = 0; k < t->nf; k++) {
                CW_SB_LIT(out, " ");
                cw_sb_str_add(out, t->rows[j].f[k]);
            }
            CW_SB_LIT(out, "\n");
        }
    }
}

int xmpp_state_load(struct xmpp_state *st, const char *text, char *err, size_t errlen)
{
    char line[WORD_MAX], why[256];
    const char *p = text, *e;
    unsigned lineno = 0;

    state_clear(st);
    while (*p) {
        size_t n;
        e = strchr(p, '\n');
        n = e ? (size_t)(e - p) : strlen(p);
        lineno++;
        if (n >= sizeof(line)) {
            snprintf(err, errlen, "line %u: too long", lineno);
            return -1;
        }
        memcpy(line, p, n);
        line[n] = 0;
        if (n && line[0] != '#' && xmpp_state_apply(st, line, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "line %u: %s", lineno, why);
            return -1;
        }
        p += n + (e != NULL);
    }
    return 0;
}

int xmpp_state_has_domain(const struct xmpp_state *st, const char *domain)
{
    char *k[1] = { (char *)domain };

    return find(&st->t[T_DOMAIN], k, 1) != NULL;
}

int xmpp_state_domains(const struct xmpp_state *st, int (*fn)(void *arg, const char *d),
                       void *arg)
{
    const struct table *t = &st->t[T_DOMAIN];
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if ((rc = fn(arg, t->rows[i].f[0])) != 0)
            return rc;
    return 0;
}

const char *xmpp_state_user_cred(const struct xmpp_state *st, const char *domain,
                                 const char *local, int hash)
{
    char *k[2] = { (char *)domain, (char *)local };
    struct row *r = find(&st->t[T_USER], k, 2);

    return r ? r->f[hash == 256 ? 2 : 3] : NULL;
}

int xmpp_state_users(const struct xmpp_state *st, const char *domain,
                     int (*fn)(void *arg, const char *domain, const char *local), void *arg)
{
    const struct table *t = &st->t[T_USER];
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if ((!domain || !strcmp(domain, t->rows[i].f[0])) &&
            (rc = fn(arg, t->rows[i].f[0], t->rows[i].f[1])) != 0)
            return rc;
    return 0;
}

const char *xmpp_state_component_secret(const struct xmpp_state *st, const char *name)
{
    char *k[1] = { (char *)name };
    struct row *r = find(&st->t[T_COMP], k, 1);

    return r ? r->f[1] : NULL;
}

int xmpp_state_components(const struct xmpp_state *st, int (*fn)(void *arg, const char *name),
                          void *arg)
{
    const struct table *t = &st->t[T_COMP];
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if ((rc = fn(arg, t->rows[i].f[0])) != 0)
            return rc;
    return 0;
}

const char *xmpp_sub_name(enum xmpp_sub s)
{
    static const char *const names[] = { "none", "to", "from", "both" };

    return names[s & 3];
}

/* Roster names travel %-escaped so that a command stays one line of words. */
static void name_unescape(char *s)
{
    char *o = s;

    for (; *s; s++) {
        unsigned v;
        if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

static void row_item(const struct row *r, struct xmpp_roster_item *it, char *namebuf,
                     size_t len)
{
    it->owner = r->f[0];
    it->contact = r->f[1];
    it->sub = XMPP_SUB_NONE;
    for (int s = 0; s < 4; s++)
        if (!strcmp(r->f[2], xmpp_sub_name((enum xmpp_sub)s)))
            it->sub = (enum xmpp_sub)s;
    it->ask = !strcmp(r->f[3], "out");
    it->name = NULL;
    if (strcmp(r->f[4], "-") != 0) {
        snprintf(namebuf, len, "%s", r->f[4]);
        name_unescape(namebuf);
        it->name = namebuf;
    }
}

int xmpp_state_roster_item(const struct xmpp_state *st, const char *owner, const char *contact,
                           struct xmpp_roster_item *out)
{
    static __thread char namebuf[WORD_MAX];   /* valid until the next call */
    char *k[2] = { (char *)owner, (char *)contact };
    struct row *r = find(&st->t[T_ROSTER], k, 2);

    if (!r)
        return 0;
    row_item(r, out, namebuf, sizeof(namebuf));
    return 1;
}

int xmpp_state_roster_full(const struct xmpp_state *st, const char *owner, const char *contact)
{
    struct xmpp_roster_item it;

    return !xmpp_state_roster_item(st, owner, contact, &it) &&
           roster_size(st, owner) >= XMPP_ROSTER_MAX;
}

int xmpp_state_roster(const struct xmpp_state *st, const char *owner,
                      int (*fn)(void *arg, const struct xmpp_roster_item *it), void *arg)
{
    const struct table *t = &st->t[T_ROSTER];
    char namebuf[WORD_MAX];
    struct xmpp_roster_item it;
    int rc;

    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->rows[i].f[0], owner) != 0)
            continue;
        row_item(&t->rows[i], &it, namebuf, sizeof(namebuf));
        if ((rc = fn(arg, &it)) != 0)
            return rc;
    }
    return 0;
}

void xmpp_state_roster_name_cmd(const char *owner, const char *contact, const char *name,
                                 struct cw_sb *out)
{
    cw_sb_printf(out, "roster-name %s %s - ", owner, contact);
    if (!name || !name[0]) {
        CW_SB_LIT(out, "-");
        return;
    }
    if (!strcmp(name, "-")) {   /* "-" alone means no name */
        CW_SB_LIT(out, "%2D");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p && out->len < 1024; p++) {
        if (*p <= 0x20 || *p == '%' || *p == 0x7f)
            cw_sb_printf(out, "%%%02X", *p);
        else
            cw_sb_add(out, (const char *)p, 1);
    }
}

int xmpp_state_node(const struct xmpp_state *st, const char *name, const char **id,
                    const char **address)
{
    char *k[1] = { (char *)name };
    struct row *r = find(&st->t[T_NODE], k, 1);

    if (!r)
        return 0;
    if (id)
        *id = r->f[1];
    if (address)
        *address = r->f[2];
    return 1;
}

int xmpp_state_nodes(const struct xmpp_state *st,
                     int (*fn)(void *arg, const char *name, const char *id, const char *addr),
                     void *arg)
{
    const struct table *t = &st->t[T_NODE];
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if ((rc = fn(arg, t->rows[i].f[0], t->rows[i].f[1], t->rows[i].f[2])) != 0)
            return rc;
    return 0;
}

const char *xmpp_state_session_node(const struct xmpp_state *st, const char *fulljid)
{
    char *k[1] = { (char *)fulljid };
    struct row *r = find(&st->t[T_SESSION], k, 1);

    return r ? r->f[1] : NULL;
}

const char *xmpp_state_comp_node(const struct xmpp_state *st, const char *domain)
{
    char *k[1] = { (char *)domain };
    struct row *r = find(&st->t[T_CROUTE], k, 1);

    return r ? r->f[1] : NULL;
}

int xmpp_state_sessions(const struct xmpp_state *st, const char *bare,
                        int (*fn)(void *arg, const char *fulljid, const char *node), void *arg)
{
    const struct table *t = &st->t[T_SESSION];
    size_t bl = strlen(bare);
    int rc;

    for (size_t i = 0; i < t->n; i++) {
        const char *f = t->rows[i].f[0];
        if (!strncmp(f, bare, bl) && f[bl] == '/' && (rc = fn(arg, f, t->rows[i].f[1])) != 0)
            return rc;
    }
    return 0;
}
