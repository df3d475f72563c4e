/* command.c - the admin server's control commands: `admin status` (the
 * accounts, their locks, the sessions), `admin unlock NAME` (ends a
 * lockout early) and `admin reload-users` (the CLI asks for it after
 * editing the accounts file). */
#include "admin/admin_int.h"

#include "common/addr.h"
#include "common/ctl.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

static int cmd_status(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct cw_admin *a = arg;
    time_t now = time(NULL);
    char where[80];

    (void)argc;
    (void)argv;
    cw_addr_fmt((const struct sockaddr *)&a->conf.listen, where, sizeof(where), 1);
    cw_sb_printf(out, "Admin interface: https://%s/ (accounts file %s)\n", where, a->conf.users);
    cw_sb_printf(out, "Lockout: %u failed logins lock an account for %u s (an address after "
                 "%u); sessions end after %u s idle\n\n", a->conf.lockout_failures,
                 a->conf.lockout_seconds, 2 * a->conf.lockout_failures, a->conf.session_timeout);
    cw_sb_printf(out, "%-24s %-10s %-9s %s\n", "Account", "State", "Failures", "Last failure from");
    for (size_t i = 0; i < a->nacc; i++) {
        const struct admin_account *x = &a->acc[i];
        unsigned left = admin__lock_left(&x->lock, now);
        char st[32];

        if (left)
            snprintf(st, sizeof(st), "locked %us", left);
        else
            snprintf(st, sizeof(st), "ok");
        cw_sb_printf(out, "%-24s %-10s %-9u %s\n", x->name, st, left ? x->lock.failures :
                     (x->lock.last && now - x->lock.last < (time_t)a->conf.lockout_seconds
                          ? x->lock.failures : 0), x->last_addr[0] ? x->last_addr : "-");
    }
    cw_sb_printf(out, "\nBlocked addresses:\n");
    for (size_t i = 0, n = 0; i < a->naddr; i++) {
        unsigned left = admin__lock_left(&a->addrs[i].lock, now);
        if (left)
            cw_sb_printf(out, "  %s for %u s more\n", a->addrs[i].addr, left);
        if (left)
            n++;
        if (i + 1 == a->naddr && !n)
            cw_sb_printf(out, "  none\n");
    }
    if (!a->naddr)
        cw_sb_printf(out, "  none\n");
    cw_sb_printf(out, "\nSessions: %llu\n", (unsigned long long)a->n.sessions_active);
    for (int i = 0; i < ADMIN_MAX_SESSIONS; i++) {
        const struct admin_session *s = &a->sessions[i];
        if (s->id[0])
            cw_sb_printf(out, "  %-24s from %-20s idle %lds\n", s->user, s->addr,
                         (long)(now - s->last));
    }
    return 0;
}

static int cmd_unlock(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct cw_admin *a = arg;
    struct admin_account *x;
    int addrs = 0;

    if (argc != 1) {
        cw_sb_printf(out, "usage: admin unlock NAME\n");
        return 1;
    }
    x = admin__account_find(a, argv[0]);
    if (!x) {
        cw_sb_printf(out, "no admin account \"%s\"\n", argv[0]);
        return 1;
    }
    /* The addresses it was attacked from are unblocked too: the operator
     * who unlocks wants its owner to get in, likely from one of them. */
    for (size_t i = 0; i < a->naddr; i++)
        if (x->last_addr[0] && !strcmp(a->addrs[i].addr, x->last_addr) &&
            a->addrs[i].lock.failures) {
            admin__lock_clear(&a->addrs[i].lock);
            addrs++;
        }
    admin__lock_clear(&x->lock);
    CW_NOTICE("admin", "account \"%s\" unlocked by the operator%s", x->name,
              addrs ? " (and its last failing address)" : "");
    cw_sb_printf(out, "account %s unlocked\n", x->name);
    return 0;
}

static int cmd_reload(void *arg, int argc, char **argv, struct cw_sb *out)
{
    struct cw_admin *a = arg;
    char err[1024];

    (void)argc;
    (void)argv;
    if (admin__accounts_load(a, err, sizeof(err)) < 0) {
        CW_ERROR("admin", "accounts not reloaded: %s", err);
        cw_sb_printf(out, "accounts not reloaded: %s\n", err);
        return 1;
    }
    CW_NOTICE("admin", "reloaded %zu account%s from %s", a->nacc, a->nacc == 1 ? "" : "s",
              a->conf.users);
    cw_sb_printf(out, "%zu admin account%s loaded\n", a->nacc, a->nacc == 1 ? "" : "s");
    return 0;
}

void admin__commands_register(struct cw_admin *a)
{
    cw_ctl_register(a->ctl, "admin status", cmd_status, a);
    cw_ctl_register(a->ctl, "admin unlock", cmd_unlock, a);
    cw_ctl_register(a->ctl, "admin reload-users", cmd_reload, a);
}
