/* conf.c - the [admin] section of edge.conf and core.conf, parsed the same
 * way for both daemons (each gives its own defaults). */
#include "admin/admin_int.h"

#include "common/addr.h"
#include "common/conf.h"

#include <stdio.h>
#include <string.h>

void cw_admin_conf_init(struct cw_admin_conf *ac, int port, const char *users)
{
    memset(ac, 0, sizeof(*ac));
    cw_addr_parse("0.0.0.0", port, &ac->listen);
    snprintf(ac->users, sizeof(ac->users), "%s", users ? users : "");
    ac->lockout_failures = 5;
    ac->lockout_seconds = 300;
    ac->session_timeout = 900;
}

int cw_admin_conf_key(struct cw_admin_conf *ac, const char *key, const char *v, char *err,
                      size_t errlen)
{
    if (!strcmp(key, "enabled"))
        return cw_conf_bool(v, &ac->enabled, err, errlen);
    if (!strcmp(key, "listen"))
        return cw_conf_addr(v, cw_addr_port((const struct sockaddr *)&ac->listen), &ac->listen,
                            err, errlen);
    if (!strcmp(key, "certificate"))
        return cw_conf_str(ac->cert, sizeof(ac->cert), v, err, errlen);
    if (!strcmp(key, "key"))
        return cw_conf_str(ac->key, sizeof(ac->key), v, err, errlen);
    if (!strcmp(key, "users"))
        return cw_conf_str(ac->users, sizeof(ac->users), v, err, errlen);
    if (!strcmp(key, "lockout-failures"))
        return cw_conf_unsigned(v, 1, 1000, &ac->lockout_failures, err, errlen);
    if (!strcmp(key, "lockout-seconds"))
        return cw_conf_seconds(v, 1, 86400, &ac->lockout_seconds, err, errlen);
    if (!strcmp(key, "session-timeout"))
        return cw_conf_seconds(v, 60, 86400, &ac->session_timeout, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [admin] (known: listen, certificate, key, users, "
             "lockout-failures, lockout-seconds, session-timeout)", key);
    return -1;
}

int cw_admin_conf_check(const struct cw_admin_conf *ac, const char *path, char *err,
                        size_t errlen)
{
    if (!ac->enabled)
        return 0;
    if (!ac->cert[0] || !ac->key[0]) {
        snprintf(err, errlen, "%s: [admin] needs certificate and key (PEM files): the admin "
                 "interface is HTTPS only", path);
        return -1;
    }
    if (!ac->users[0]) {
        snprintf(err, errlen, "%s: [admin] needs users = the accounts file", path);
        return -1;
    }
    return 0;
}
