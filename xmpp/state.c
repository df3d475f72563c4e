/* state.c - the XMPP service's replicated state as tables of text rows,
 * changed only by command lines (see state.h).
 *
 * Every kind of record is a table whose rows are a few strings, the first
 * nkey of them the key. A table keeps its rows in the order they were added
 * (dumps and listings show that order, the same on every node), a hash of
 * the keys, and for rosters and sessions the rows of each bare JID on a
 * list of their own, so that a login, a roster change or a snapshot's load
 * costs the same with ten users as with a hundred thousand. The hash is
 * seeded per process (it orders nothing, so nodes need not agree on it),
 * which makes names that collide hard to choose from outside; at worst a
 * lookup is the search in order that every lookup used to be. */
#include "xmpp/state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "xmpp/jid.h"
#include "xmpp/sasl.h"

#define FIELDS_MAX 5
#define WORD_MAX 4096
#define BUCKETS_MIN 16

/* An entry of a chained hash; rows and groups start with one. */
struct hentry {
    struct hentry *next;
    uint32_t h;
};

/* 2^k buckets, doubled to keep about one entry per bucket. */
struct hash {
    struct hentry **b;
    size_t nb, n;
};

struct row {
    struct hentry he;             /* the table's key hash */
    char *f[FIELDS_MAX];          /* one allocation, from f[0] on */
    struct row *prev, *next;      /* the table, in the order added */
    struct row *gprev, *gnext;    /* the group, in the order added */
    struct group *g;
};

/* A roster owner's items, or the sessions of one bare JID. */
struct group {
    struct hentry he;             /* the table's group hash */
    struct row *first, *last;
    size_t n;
    char name[];
};

struct table {
    const char *cmd;      /* "domain", "user", ...: the command prefix */
    int nkey, nf;
    int grouped;          /* GROUP_*: rows are grouped by f[0] */
    uint32_t seed;
    struct row *first, *last;
    size_t n;
    struct hash keys, groups;
};

enum { GROUP_NONE, GROUP_F0, GROUP_BARE };   /* by f[0], by the bare JID of f[0] */
enum { T_DOMAIN, T_USER, T_COMP, T_ROSTER, T_SESSION, T_NODE, T_CROUTE, T_COUNT };

struct xmpp_state {
    struct table t[T_COUNT];
};

static const struct { const char *cmd; int nkey, nf, grouped; } table_def[T_COUNT] = {
    [T_DOMAIN] = { "domain", 1, 1, GROUP_NONE },
    [T_USER] = { "user", 2, 4, GROUP_NONE },
    [T_COMP] = { "comp", 1, 2, GROUP_NONE },
    [T_ROSTER] = { "roster", 2, 5, GROUP_F0 },         /* an owner's items */
    [T_SESSION] = { "session", 1, 2, GROUP_BARE },     /* a bare JID's sessions */
    [T_NODE] = { "node", 1, 3, GROUP_NONE },
    [T_CROUTE] = { "comproute", 1, 2, GROUP_NONE },
};

struct xmpp_state *xmpp_state_new(void)
{
    struct xmpp_state *st = calloc(1, sizeof(*st));
    uint32_t seed;

    if (!st)
        return NULL;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
        seed = (uint32_t)(uintptr_t)st;
    for (int i = 0; i < T_COUNT; i++) {
        st->t[i].cmd = table_def[i].cmd;
        st->t[i].nkey = table_def[i].nkey;
        st->t[i].nf = table_def[i].nf;
        st->t[i].grouped = table_def[i].grouped;
        st->t[i].seed = seed;
    }
    return st;
}

/* ---- hashes ---------------------------------------------------------------------- */

/* FNV-1a over n bytes, on from h. */
static uint32_t hash_bytes(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* A key's fields, each with its NUL (so ("a", "bc") and ("ab", "c") differ). */
static uint32_t hash_key(const struct table *t, char *const *key, int nkey)
{
    uint32_t h = 2166136261u ^ t->seed;

    for (int k = 0; k < nkey; k++)
        h = hash_bytes(h, key[k], strlen(key[k]) + 1);
    return h;
}

/* The chain where entries of hash h are. */
static struct hentry *hash_chain(const struct hash *hs, uint32_t h)
{
    return hs->nb ? hs->b[h & (hs->nb - 1)] : NULL;
}

/* Room for one more entry: -1 only when there are no buckets at all and
 * none can be had (a table that cannot grow stays usable, only slower). */
static int hash_reserve(struct hash *hs)
{
    size_t nb = hs->nb ? hs->nb * 2 : BUCKETS_MIN;
    struct hentry **b;

    if (hs->nb && hs->n < hs->nb)
        return 0;
    if (!(b = calloc(nb, sizeof(*b))))
        return hs->nb ? 0 : -1;
    for (size_t i = 0; i < hs->nb; i++)
        for (struct hentry *e = hs->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    free(hs->b);
    hs->b = b;
    hs->nb = nb;
    return 0;
}

/* After hash_reserve. */
static void hash_insert(struct hash *hs, struct hentry *e, uint32_t h)
{
    struct hentry **slot = &hs->b[h & (hs->nb - 1)];

    e->h = h;
    e->next = *slot;
    *slot = e;
    hs->n++;
}

static void hash_remove(struct hash *hs, struct hentry *e)
{
    struct hentry **p = &hs->b[e->h & (hs->nb - 1)];

    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    hs->n--;
}

static void hash_free(struct hash *hs)
{
    free(hs->b);
    hs->b = NULL;
    hs->nb = hs->n = 0;
}

/* ---- tables ---------------------------------------------------------------------- */

/* The length of a row's group name in f0: all of it, or its bare JID,
 * what comes before the first '/' (RFC 7622 allows none in the local part
 * or the domain). */
static size_t group_len(const struct table *t, const char *f0)
{
    return t->grouped == GROUP_BARE ? strcspn(f0, "/") : strlen(f0);
}

static uint32_t hash_group(const struct table *t, const char *name, size_t len)
{
    return hash_bytes(0x811c9dc5u ^ ~t->seed, name, len);
}

static struct group *find_group(const struct table *t, const char *name, size_t len)
{
    uint32_t h = hash_group(t, name, len);

    for (struct hentry *e = hash_chain(&t->groups, h); e; e = e->next) {
        struct group *g = (struct group *)e;
        if (e->h == h && !strncmp(g->name, name, len) && !g->name[len])
            return g;
    }
    return NULL;
}

/* The row whose first nkey fields are key; nkey is at least the table's
 * key (more: fields after the key must match too). */
static struct row *find(const struct table *t, char *const *key, int nkey)
{
    uint32_t h = hash_key(t, key, t->nkey);

    for (struct hentry *e = hash_chain(&t->keys, h); e; e = e->next) {
        struct row *r = (struct row *)e;
        int k = 0;
        if (e->h != h)
            continue;
        while (k < nkey && !strcmp(r->f[k], key[k]))
            k++;
        if (k == nkey)
            return r;
    }
    return NULL;
}

/* Copies t->nf fields into one allocation, pointed to from out. */
static int fields_dup(const struct table *t, char *const *f, char **out)
{
    size_t len[FIELDS_MAX], total = 0;
    char *p;

    for (int i = 0; i < t->nf; i++)
        total += (len[i] = strlen(f[i]) + 1);
    if (!(p = malloc(total)))
        return -1;
    for (int i = 0; i < t->nf; i++) {
        out[i] = memcpy(p, f[i], len[i]);
        p += len[i];
    }
    return 0;
}

/* Takes r out of the table and frees it. */
static void row_remove(struct table *t, struct row *r)
{
    struct group *g = r->g;

    hash_remove(&t->keys, &r->he);
    *(r->prev ? &r->prev->next : &t->first) = r->next;
    *(r->next ? &r->next->prev : &t->last) = r->prev;
    t->n--;
    if (g) {
        *(r->gprev ? &r->gprev->gnext : &g->first) = r->gnext;
        *(r->gnext ? &r->gnext->gprev : &g->last) = r->gprev;
        if (--g->n == 0) {
            hash_remove(&t->groups, &g->he);
            free(g);
        }
    }
    free(r->f[0]);
    free(r);
}

/* Puts a new row last in its table and its group. -1 when out of memory
 * (nothing changed). */
static int row_add(struct table *t, struct row *r)
{
    struct group *g = NULL;
    size_t len;

    if (hash_reserve(&t->keys) < 0)
        return -1;
    if (t->grouped) {
        len = group_len(t, r->f[0]);
        if (!(g = find_group(t, r->f[0], len))) {
            if (hash_reserve(&t->groups) < 0 || !(g = calloc(1, sizeof(*g) + len + 1)))
                return -1;
            memcpy(g->name, r->f[0], len);
            hash_insert(&t->groups, &g->he, hash_group(t, r->f[0], len));
        }
        r->g = g;
        r->gprev = g->last;
        *(g->last ? &g->last->gnext : &g->first) = r;
        g->last = r;
        g->n++;
    }
    hash_insert(&t->keys, &r->he, hash_key(t, r->f, t->nkey));
    r->prev = t->last;
    *(t->last ? &t->last->next : &t->first) = r;
    t->last = r;
    t->n++;
    return 0;
}

static void state_clear(struct xmpp_state *st)
{
    for (int i = 0; i < T_COUNT; i++) {
        struct table *t = &st->t[i];
        while (t->first)
            row_remove(t, t->first);
        hash_free(&t->keys);
        hash_free(&t->groups);
    }
}

void xmpp_state_free(struct xmpp_state *st)
{
    if (!st)
        return;
    state_clear(st);
    free(st);
}

/* Inserts or replaces the row whose key is f[0..nkey-1]; a replaced row
 * keeps its place. */
static int upsert(struct table *t, char **f)
{
    char *nf[FIELDS_MAX] = { 0 };
    struct row *r;

    if (fields_dup(t, f, nf) < 0)
        return -1;
    if ((r = find(t, f, t->nkey))) {
        free(r->f[0]);
        memcpy(r->f, nf, sizeof(nf));
        return 0;
    }
    if (!(r = calloc(1, sizeof(*r))))
        goto oom;
    memcpy(r->f, nf, sizeof(nf));
    if (row_add(t, r) < 0) {
        free(r);
        goto oom;
    }
    return 0;
oom:
    free(nf[0]);
    return -1;
}

/* Removes the rows whose first nkey fields are key (or, with col >= 0,
 * whose field col is key[0]); the rest keep their order. The count. */
static int remove_rows(struct table *t, char **key, int nkey, int col)
{
    struct row *r, *next;
    int gone = 0;

    if (col < 0 && nkey >= t->nkey) {
        if (!(r = find(t, key, nkey)))
            return 0;
        row_remove(t, r);
        return 1;
    }
    for (r = t->first; r; r = next) {
        int k = 0;
        next = r->next;
        if (col >= 0) {
            k = !strcmp(r->f[col], key[0]) ? nkey : 0;
        } else {
            while (k < nkey && !strcmp(r->f[k], key[k]))
                k++;
        }
        if (k == nkey) {
            row_remove(t, r);
            gone++;
        }
    }
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
    const struct group *g = find_group(&st->t[T_ROSTER], owner, strlen(owner));

    return g ? g->n : 0;
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
        for (const struct row *r = t->first; r; r = r->next) {
            cw_sb_str_add(out, t->cmd);
            CW_SB_LIT(out, "-set");
            for (int k = 0; k < t->nf; k++) {
                CW_SB_LIT(out, " ");
                cw_sb_str_add(out, r->f[k]);
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

    for (const struct row *r = t->first; r; r = r->next)
        if ((rc = fn(arg, r->f[0])) != 0)
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

    for (const struct row *r = t->first; r; r = r->next)
        if ((!domain || !strcmp(domain, r->f[0])) && (rc = fn(arg, r->f[0], r->f[1])) != 0)
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

    for (const struct row *r = t->first; r; r = r->next)
        if ((rc = fn(arg, r->f[0])) != 0)
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
    const struct group *g = find_group(&st->t[T_ROSTER], owner, strlen(owner));
    char namebuf[WORD_MAX];
    struct xmpp_roster_item it;
    int rc;

    for (const struct row *r = g ? g->first : NULL; r; r = r->gnext) {
        row_item(r, &it, namebuf, sizeof(namebuf));
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

    for (const struct row *r = t->first; r; r = r->next)
        if ((rc = fn(arg, r->f[0], r->f[1], r->f[2])) != 0)
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
    const struct group *g = find_group(&st->t[T_SESSION], bare, strlen(bare));
    int rc;

    for (const struct row *r = g ? g->first : NULL; r; r = r->gnext)
        if ((rc = fn(arg, r->f[0], r->f[1])) != 0)
            return rc;
    return 0;
}
