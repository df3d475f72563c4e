/* auth.c - who may use the admin interface: the accounts (from the
 * accounts file), password checks on the thread pool, lockout of accounts
 * and of source addresses, and sessions.
 *
 * A yescrypt check costs tens of milliseconds of CPU: done on the loop it
 * would stall TURN and the proxy for every login, so it runs on libuv's
 * thread pool and only the bookkeeping before and after runs on the loop.
 * An unknown user is checked against a dummy hash, so that the answer takes
 * as long as for a known one and does not tell which names exist. */
#include "admin/admin_int.h"

#include "common/log.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int admin__lock_fail(struct admin_lock *l, time_t now, unsigned limit, unsigned secs)
{
    if (l->until && now >= l->until)
        admin__lock_clear(l);
    /* Failures far apart are not an attack: a typo a day never locks. */
    if (l->last && now - l->last >= (time_t)secs)
        l->failures = 0;
    l->last = now;
    l->failures++;
    if (l->failures >= limit && !l->until) {
        l->until = now + (time_t)secs;
        return 1;
    }
    return 0;
}

unsigned admin__lock_left(const struct admin_lock *l, time_t now)
{
    return l->until > now ? (unsigned)(l->until - now) : 0;
}

void admin__lock_clear(struct admin_lock *l)
{
    memset(l, 0, sizeof(*l));
}

int admin__random_hex(char *out, size_t n)
{
    unsigned char b[64];

    if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

int admin__token_eq(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && n && CRYPTO_memcmp(a, b, n) == 0;
}

/* The account of that name among n, or NULL. */
static struct admin_account *account_in(struct admin_account *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

struct admin_account *admin__account_find(struct cw_admin *a, const char *name)
{
    return account_in(a->acc, a->nacc, name);
}

/* ---- the accounts file ---- */

struct load_ctx {
    struct cw_admin *a;
    struct admin_account *acc;
    size_t n, cap;
};

static int load_line(const char *name, const char *hash, void *arg)
{
    struct load_ctx *l = arg;
    struct admin_account *old, *x;

    if (account_in(l->acc, l->n, name))
        return 0;           /* the first line of a name wins, as in /etc/shadow */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct admin_account *p = realloc(l->acc, cap * sizeof(*p));
        if (!p)
            return -1;
        l->acc = p;
        l->cap = cap;
    }
    x = &l->acc[l->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->name, sizeof(x->name), "%s", name);
    snprintf(x->hash, sizeof(x->hash), "%s", hash);
    /* A reload must not unlock an account under attack. */
    old = admin__account_find(l->a, name);
    if (old) {
        x->lock = old->lock;
        memcpy(x->last_addr, old->last_addr, sizeof(x->last_addr));
    }
    return 0;
}

int admin__accounts_load(struct cw_admin *a, char *err, size_t errlen)
{
    struct load_ctx l = { .a = a };

    if (admin__users_read(a->conf.users, 1, load_line, &l, err, errlen) < 0) {
        if (l.acc)
            explicit_bzero(l.acc, l.cap * sizeof(*l.acc));
        free(l.acc);
        return -1;
    }
    /* Sessions of removed accounts, and of accounts whose password changed
     * (someone may have learnt the old one), end now. */
    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++) {
        struct admin_session *se = &a->sessions[i];
        const struct admin_account *was, *now;

        if (!se->id[0])
            continue;
        now = account_in(l.acc, l.n, se->user);
        was = admin__account_find(a, se->user);
        if (!now)
            admin__session_end(a, se, "account removed");
        else if (was && strcmp(was->hash, now->hash))
            admin__session_end(a, se, "password changed");
    }
    if (a->acc)
        explicit_bzero(a->acc, a->nacc * sizeof(*a->acc));
    free(a->acc);
    a->acc = l.acc;
    a->nacc = l.n;
    if (!a->nacc)
        CW_WARN("admin", "the accounts file %s has no accounts: nobody can sign in (make one: "
                "causeway admin user add NAME)", a->conf.users);
    return 0;
}

/* ---- source addresses ---- */

static struct admin_addr *addr_get(struct cw_admin *a, const char *addr, int create)
{
    size_t oldest = 0;

    for (size_t i = 0; i < a->naddr; i++) {
        if (!strcmp(a->addrs[i].addr, addr))
            return &a->addrs[i];
        if (a->addrs[i].lock.last < a->addrs[oldest].lock.last)
            oldest = i;
    }
    if (!create)
        return NULL;
    /* Full: the address that failed longest ago makes room (the table is
     * bounded, so an attacker with many addresses cannot grow it). */
    if (a->naddr < ADMIN_MAX_ADDRS)
        oldest = a->naddr++;
    memset(&a->addrs[oldest], 0, sizeof(a->addrs[0]));
    snprintf(a->addrs[oldest].addr, sizeof(a->addrs[0].addr), "%s", addr);
    return &a->addrs[oldest];
}

/* ---- password checks ---- */

struct verify {
    uv_work_t w;
    struct cw_admin *a;
    char user[ADMIN_NAME_MAX + 1];
    char addr[ADMIN_ADDR_MAX];
    char pass[ADMIN_PASS_MAX];
    char hash[ADMIN_HASH_MAX];
    int known, ok;
    admin_auth_done done;
    void *arg;
};

/* On a pool thread: touches only v. */
static void verify_work(uv_work_t *w)
{
    struct verify *v = w->data;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    const char *h;

    v->ok = 0;
    if (cd) {
        h = crypt_rn(v->pass, v->hash, cd, sizeof(*cd));
        v->ok = h && h[0] != '*' && strlen(h) == strlen(v->hash) &&
                CRYPTO_memcmp(h, v->hash, strlen(h)) == 0;
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
    }
    explicit_bzero(v->pass, sizeof(v->pass));
}

static void verify_done(uv_work_t *w, int status)
{
    struct verify *v = w->data;
    struct cw_admin *a = v->a;
    struct admin_account *acc = admin__account_find(a, v->user);
    struct admin_addr *ad;
    enum admin_auth_result res = ADMIN_AUTH_BAD;
    time_t now = time(NULL);
    unsigned wait_s = 0;

    a->pending--;
    /* The account may have gone (or its hash changed) meanwhile: a reload. */
    if (status == 0 && v->ok && v->known && acc && !strcmp(acc->hash, v->hash)) {
        admin__lock_clear(&acc->lock);
        a->n.logins_ok++;
        res = ADMIN_AUTH_OK;
        goto out;
    }
    a->n.logins_failed++;
    if (acc) {
        snprintf(acc->last_addr, sizeof(acc->last_addr), "%s", v->addr);
        if (admin__lock_fail(&acc->lock, now, a->conf.lockout_failures, a->conf.lockout_seconds)) {
            a->n.lockouts++;
            CW_WARN("admin", "account \"%s\" locked for %u s after %u failed logins (last from "
                    "%s); if it was not its owner, find out who tried; unlock early with "
                    "causeway admin unlock %s", acc->name, a->conf.lockout_seconds,
                    acc->lock.failures, v->addr, acc->name);
        } else {
            CW_WARN("admin", "login failed: user \"%s\" from %s (%u of %u before lockout)",
                    v->user, v->addr, acc->lock.failures, a->conf.lockout_failures);
        }
    } else {
        CW_WARN("admin", "login failed: user \"%s\" from %s (no such account)", v->user, v->addr);
    }
    ad = addr_get(a, v->addr, 1);
    if (admin__lock_fail(&ad->lock, now, 2 * a->conf.lockout_failures, a->conf.lockout_seconds)) {
        a->n.lockouts++;
        CW_WARN("admin", "address %s blocked for %u s after %u failed logins (any accounts: "
                "password guessing?); logins from it are refused meanwhile", v->addr,
                a->conf.lockout_seconds, ad->lock.failures);
    }
out:
    v->done(v->arg, res, wait_s);
    explicit_bzero(v, sizeof(*v));
    free(v);
    admin__maybe_free(a);
}

int admin__auth_check(struct cw_admin *a, const char *user, const char *pass, const char *addr,
                      admin_auth_done done, void *arg, unsigned *wait_s)
{
    struct admin_account *acc = admin__account_find(a, user);
    struct admin_addr *ad = addr_get(a, addr, 0);
    time_t now = time(NULL);
    struct verify *v;

    *wait_s = 0;
    if (ad && (*wait_s = admin__lock_left(&ad->lock, now))) {
        a->n.logins_failed++;
        CW_WARN("admin", "login refused: user \"%s\" from %s: the address is blocked for %u s "
                "more", user, addr, *wait_s);
        return ADMIN_AUTH_BLOCKED;
    }
    if (acc && (*wait_s = admin__lock_left(&acc->lock, now))) {
        a->n.logins_failed++;
        CW_WARN("admin", "login refused: user \"%s\" from %s: the account is locked for %u s more "
                "(causeway admin unlock %s ends it)", user, addr, *wait_s, user);
        return ADMIN_AUTH_LOCKED;
    }
    v = calloc(1, sizeof(*v));
    if (!v)
        return ADMIN_AUTH_BAD;
    v->a = a;
    v->known = acc != NULL;
    snprintf(v->user, sizeof(v->user), "%s", user);
    snprintf(v->addr, sizeof(v->addr), "%s", addr);
    snprintf(v->pass, sizeof(v->pass), "%s", pass);
    snprintf(v->hash, sizeof(v->hash), "%s", acc ? acc->hash : a->dummy_hash);
    v->done = done;
    v->arg = arg;
    v->w.data = v;
    if (uv_queue_work(a->loop, &v->w, verify_work, verify_done) < 0) {
        explicit_bzero(v, sizeof(*v));
        free(v);
        return ADMIN_AUTH_BAD;
    }
    a->pending++;
    return -1;
}

/* ---- sessions ---- */

static void count_sessions(struct cw_admin *a)
{
    uint64_t n = 0;

    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++)
        n += a->sessions[i].id[0] != 0;
    a->n.sessions_active = n;
}

struct admin_session *admin__session_new(struct cw_admin *a, const char *user, const char *addr)
{
    struct admin_session *s = NULL;

    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++) {
        if (!a->sessions[i].id[0]) {
            s = &a->sessions[i];
            break;
        }
        if (!s || a->sessions[i].last < s->last)
            s = &a->sessions[i];
    }
    if (s->id[0])    /* all taken: the least recently used one ends */
        admin__session_end(a, s, "too many sessions");
    if (admin__random_hex(s->id, ADMIN_TOKEN_HEX / 2) < 0 ||
        admin__random_hex(s->csrf, ADMIN_TOKEN_HEX / 2) < 0) {
        memset(s, 0, sizeof(*s));
        return NULL;
    }
    snprintf(s->user, sizeof(s->user), "%s", user);
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->created = s->last = time(NULL);
    count_sessions(a);
    return s;
}

struct admin_session *admin__session_find(struct cw_admin *a, const char *id)
{
    time_t now = time(NULL);

    if (strlen(id) != ADMIN_TOKEN_HEX)
        return NULL;
    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++) {
        struct admin_session *s = &a->sessions[i];
        if (!s->id[0] || !admin__token_eq(s->id, id))
            continue;
        if (now - s->last >= (time_t)a->conf.session_timeout) {
            admin__session_end(a, s, "expired");
            return NULL;
        }
        s->last = now;
        return s;
    }
    return NULL;
}

void admin__session_end(struct cw_admin *a, struct admin_session *s, const char *why)
{
    if (!s->id[0])
        return;
    if (!strcmp(why, "expired"))
        CW_NOTICE("admin", "session of user \"%s\" expired (idle %u s)", s->user,
                  a->conf.session_timeout);
    else
        CW_NOTICE("admin", "session of user \"%s\" ended: %s", s->user, why);
    explicit_bzero(s, sizeof(*s));
    count_sessions(a);
}

void admin__sessions_sweep(struct cw_admin *a)
{
    time_t now = time(NULL);

    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++)
        if (a->sessions[i].id[0] && now - a->sessions[i].last >= (time_t)a->conf.session_timeout)
            admin__session_end(a, &a->sessions[i], "expired");
}
