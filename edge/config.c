/* config.c - parses edge.conf (see docs/configuration.md for every key). */
#include "edge/config.h"

#include "common/conf.h"
#include "common/log.h"
#include "turn/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_secret_file(struct edge_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "cannot open rest-secret-file %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(c->rest_secret, 1, sizeof(c->rest_secret), f);
    fclose(f);
    while (n && (c->rest_secret[n - 1] == '\n' || c->rest_secret[n - 1] == '\r'))
        n--;
    if (!n || n == sizeof(c->rest_secret)) {
        snprintf(err, errlen, "rest-secret-file %s must hold 1 to %zu bytes", path,
                 sizeof(c->rest_secret) - 1);
        return -1;
    }
    c->rest_secret_len = n;
    return 0;
}

static int edge_key(struct edge_config *c, const char *key, const char *v, char *err,
                    size_t errlen)
{
    int rc = cw_daemon_conf_key(&c->d, key, v, err, errlen);

    if (rc <= 0)
        return rc;
    snprintf(err, errlen, "unknown key \"%s\" in [edge]", key);
    return -1;
}

static int add_addr(struct sockaddr_storage *v, int *n, int port, const char *val,
                    const char *key, char *err, size_t errlen)
{
    if (*n == TURN_MAX_LISTEN) {
        snprintf(err, errlen, "more than %d %s lines", TURN_MAX_LISTEN, key);
        return -1;
    }
    if (cw_conf_addr(val, port, &v[*n], err, errlen) < 0)
        return -1;
    (*n)++;
    return 0;
}

static int turn_key(struct edge_config *c, const char *key, const char *v, char *err,
                    size_t errlen)
{
    struct turn_options *o = &c->turn;

    if (!strcmp(key, "enabled"))
        return cw_conf_bool(v, &c->turn_enabled, err, errlen);
    if (!strcmp(key, "listen"))
        return add_addr(o->listen, &o->nlisten, 3478, v, key, err, errlen);
    if (!strcmp(key, "tls-listen"))
        return add_addr(o->tls_listen, &o->ntls_listen, 5349, v, key, err, errlen);
    if (!strcmp(key, "tls-certificate"))
        return cw_conf_str(c->tls_cert, sizeof(c->tls_cert), v, err, errlen);
    if (!strcmp(key, "tls-key"))
        return cw_conf_str(c->tls_key, sizeof(c->tls_key), v, err, errlen);
    if (!strcmp(key, "relay-address") || !strcmp(key, "public-address")) {
        struct sockaddr_storage a;
        int relay = key[0] == 'r';
        if (cw_conf_addr(v, -1, &a, err, errlen) < 0)
            return -1;
        if (a.ss_family == AF_INET6) {
            *(relay ? &o->relay6 : &o->public6) = a;
            *(relay ? &o->has_relay6 : &o->has_public6) = 1;
        } else {
            *(relay ? &o->relay4 : &o->public4) = a;
            *(relay ? &o->has_relay4 : &o->has_public4) = 1;
        }
        return 0;
    }
    if (!strcmp(key, "relay-ports")) {
        unsigned long lo, hi;
        if (cw_conf_range(v, 1024, 65535, &lo, &hi, err, errlen) < 0)
            return -1;
        o->port_min = (uint16_t)lo;
        o->port_max = (uint16_t)hi;
        return 0;
    }
    if (!strcmp(key, "realm"))
        return cw_conf_str(c->realm, sizeof(c->realm), v, err, errlen);
    if (!strcmp(key, "user-db"))
        return cw_conf_str(c->user_db, sizeof(c->user_db), v, err, errlen);
    if (!strcmp(key, "rest-secret-file"))
        return read_secret_file(c, v, err, errlen);
    if (!strcmp(key, "rest-secret")) {
        if (!*v || strlen(v) >= sizeof(c->rest_secret)) {
            snprintf(err, errlen, "rest-secret must be 1 to %zu bytes",
                     sizeof(c->rest_secret) - 1);
            return -1;
        }
        c->rest_secret_len = strlen(v);
        memcpy(c->rest_secret, v, c->rest_secret_len);
        return 0;
    }
    if (!strcmp(key, "default-lifetime"))
        return cw_conf_seconds(v, 60, 86400, &o->lifetime_default, err, errlen);
    if (!strcmp(key, "max-lifetime"))
        return cw_conf_seconds(v, 60, 86400, &o->lifetime_max, err, errlen);
    if (!strcmp(key, "permission-lifetime"))
        return cw_conf_seconds(v, 30, 3600, &o->perm_lifetime, err, errlen);
    if (!strcmp(key, "channel-lifetime"))
        return cw_conf_seconds(v, 60, 3600, &o->channel_lifetime, err, errlen);
    if (!strcmp(key, "nonce-lifetime"))
        return cw_conf_seconds(v, 1, 86400, &o->nonce_lifetime, err, errlen);
    if (!strcmp(key, "max-allocations"))
        return cw_conf_unsigned(v, 0, 65535, &o->max_allocations, err, errlen);
    if (!strcmp(key, "max-allocations-per-user"))
        return cw_conf_unsigned(v, 0, 65535, &o->max_allocations_per_user, err, errlen);
    if (!strcmp(key, "max-permissions"))
        return cw_conf_unsigned(v, 1, 1000, &o->max_permissions, err, errlen);
    if (!strcmp(key, "max-channels"))
        return cw_conf_unsigned(v, 1, 4096, &o->max_channels, err, errlen);
    if (!strcmp(key, "max-tcp-clients"))
        return cw_conf_unsigned(v, 0, 1000000, &o->max_tcp_clients, err, errlen);
    if (!strcmp(key, "workers")) {
        if (!strcmp(v, "auto")) {
            o->workers = 0;
            return 0;
        }
        return cw_conf_unsigned(v, 1, 64, &o->workers, err, errlen);
    }
    if (!strcmp(key, "auth-fail-limit"))
        return cw_conf_unsigned(v, 1, 1000000, &o->auth_fail_limit, err, errlen);
    if (!strcmp(key, "auth-fail-window"))
        return cw_conf_seconds(v, 0, 86400, &o->auth_fail_window, err, errlen);
    if (!strcmp(key, "software"))
        return cw_conf_bool(v, &o->software, err, errlen);
    if (!strcmp(key, "inside-network")) {
        if (!c->inside_set) {
            turn_policy_clear_inside(o->policy);
            c->inside_set = 1;
        }
        if (!strcmp(v, "none"))
            return 0;
        if (turn_policy_add_inside(o->policy, v) < 0) {
            snprintf(err, errlen, "\"%s\" is not a network (like 198.51.100.0/24 or 2001:db8::/32)", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "peer-allow")) {
        if (turn_policy_add_allow(o->policy, v) < 0) {
            snprintf(err, errlen, "\"%s\" is not a network (like 192.0.2.10/32)", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "unsafe-allow-loopback-peers")) {
        if (cw_conf_bool(v, &c->unsafe_loopback, err, errlen) < 0)
            return -1;
        turn_policy_set_unsafe_loopback(o->policy, c->unsafe_loopback);
        return 0;
    }
    snprintf(err, errlen, "unknown key \"%s\" in [turn]", key);
    return -1;
}

/* RFC 8656 21: the edge itself is never a peer, or a client could reach
 * services bound on it (the SSRF of CVE-2020-26262). The configured
 * addresses count even when no interface has them (yet); the interfaces'
 * are read once, at load. Returns 0, or -1 when they cannot be listed. */
static int add_own_addresses(struct turn_options *o)
{
    int rc = 0;

    for (int i = 0; i < o->nlisten; i++)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->listen[i]);
    for (int i = 0; i < o->ntls_listen; i++)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->tls_listen[i]);
    if (o->has_relay4)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->relay4);
    if (o->has_relay6)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->relay6);
    if (o->has_public4)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->public4);
    if (o->has_public6)
        rc |= turn_policy_add_own(o->policy, (struct sockaddr *)&o->public6);
    rc |= turn_policy_add_own_interfaces(o->policy);
    return rc < 0 ? -1 : 0;
}

static int tunnel_key(struct edge_tunnel_config *t, const char *key, const char *v, char *err,
                      size_t errlen)
{
    if (!strcmp(key, "enabled"))
        return cw_conf_bool(v, &t->enabled, err, errlen);
    if (!strcmp(key, "listen")) {
        if (t->nlisten == EDGE_TUNNEL_MAX_LISTEN) {
            snprintf(err, errlen, "more than %d listen lines", EDGE_TUNNEL_MAX_LISTEN);
            return -1;
        }
        return cw_conf_addr(v, 2222, &t->listen[t->nlisten++], err, errlen);
    }
    if (!strcmp(key, "state-dir"))
        return cw_conf_str(t->state_dir, sizeof(t->state_dir), v, err, errlen);
    if (!strcmp(key, "sshd")) {
        if (v[0] != '/') {
            snprintf(err, errlen, "sshd must be an absolute path (sshd re-executes itself)");
            return -1;
        }
        return cw_conf_str(t->sshd, sizeof(t->sshd), v, err, errlen);
    }
    if (!strcmp(key, "user"))
        return cw_conf_str(t->user, sizeof(t->user), v, err, errlen);
    if (!strcmp(key, "core-timeout"))
        return cw_conf_seconds(v, 4, 600, &t->core_timeout, err, errlen);
    if (!strcmp(key, "permit-listen")) {
        struct sockaddr_storage ss;
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (cw_conf_addr(v, 0, &ss, err, errlen) < 0 || ss.ss_family != AF_INET ||
            in->sin_addr.s_addr != htonl(INADDR_LOOPBACK) || in->sin_port == 0) {
            snprintf(err, errlen, "permit-listen \"%s\" is not 127.0.0.1:PORT (cores forward "
                     "only to the edge's loopback)", v);
            return -1;
        }
        if (t->npermit == EDGE_TUNNEL_MAX_PERMIT) {
            snprintf(err, errlen, "more than %d permit-listen lines", EDGE_TUNNEL_MAX_PERMIT);
            return -1;
        }
        t->permit[t->npermit++] = ntohs(in->sin_port);
        return 0;
    }
    snprintf(err, errlen, "unknown key \"%s\" in [tunnel]", key);
    return -1;
}

/* "WORD REST": the first word into w (cap bytes), the rest (trimmed) returned. */
static const char *two_words(const char *v, char *w, size_t cap)
{
    size_t n = strcspn(v, " \t");

    if (!n || n >= cap || !v[n])
        return NULL;
    memcpy(w, v, n);
    w[n] = '\0';
    v += n + strspn(v + n, " \t");
    return *v ? v : NULL;
}

static int webproxy_key(struct wp_options *o, const char *key, const char *v, char *err, size_t errlen)
{
    unsigned secs;
    int rc;

    if (!strcmp(key, "listen") || !strcmp(key, "http-listen")) {
        int https = !strcmp(key, "listen");
        struct sockaddr_storage *a = https ? o->listen : o->http_listen;
        int *n = https ? &o->nlisten : &o->nhttp_listen;

        if (*n == WP_MAX_LISTEN) {
            snprintf(err, errlen, "more than %d %s lines", WP_MAX_LISTEN, key);
            return -1;
        }
        return cw_conf_addr(v, https ? 443 : 80, &a[(*n)++], err, errlen);
    }
    if (!strcmp(key, "certificate")) {
        const char *k;

        if (o->ncert == WP_MAX_CERTS) {
            snprintf(err, errlen, "more than %d certificate lines", WP_MAX_CERTS);
            return -1;
        }
        k = two_words(v, o->cert[o->ncert], sizeof(o->cert[0]));
        if (!k || strchr(k, ' ')) {
            snprintf(err, errlen, "certificate wants two files: the chain (PEM) and its key (PEM)");
            return -1;
        }
        snprintf(o->key[o->ncert], sizeof(o->key[0]), "%s", k);
        o->ncert++;
        return 0;
    }
    if (!strcmp(key, "host")) {
        struct wp_host *h = &o->host[o->nhost];
        const char *b;

        if (o->nhost == WP_MAX_HOSTS) {
            snprintf(err, errlen, "more than %d host lines", WP_MAX_HOSTS);
            return -1;
        }
        b = two_words(v, h->name, sizeof(h->name));
        if (!b) {
            snprintf(err, errlen, "host wants a name and a backend address: host = join.example.com "
                     "127.0.0.1:8443");
            return -1;
        }
        for (char *p = h->name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (cw_conf_addr(b, 0, &h->backend, err, errlen) < 0)    /* port required */
            return -1;
        for (int i = 0; i < o->nhost; i++)
            if (!strcmp(o->host[i].name, h->name)) {
                snprintf(err, errlen, "host %s is listed twice", h->name);
                return -1;
            }
        o->nhost++;
        return 0;
    }
    if (!strcmp(key, "header-timeout") || !strcmp(key, "idle-timeout") ||
        !strcmp(key, "connect-timeout") || !strcmp(key, "response-timeout")) {
        rc = cw_conf_seconds(v, 1, 3600, &secs, err, errlen);
        if (rc < 0)
            return rc;
        *(key[0] == 'h' ? &o->header_timeout_ms : key[0] == 'i' ? &o->idle_timeout_ms :
          key[0] == 'c' ? &o->connect_timeout_ms : &o->response_timeout_ms) = secs * 1000;
        return 0;
    }
    if (!strcmp(key, "max-connections"))
        return cw_conf_unsigned(v, 1, 1000000, &o->max_connections, err, errlen);
    if (!strcmp(key, "max-connections-per-ip"))
        return cw_conf_unsigned(v, 1, 1000000, &o->max_per_ip, err, errlen);
    if (!strcmp(key, "max-body")) {
        unsigned long mb;

        if (cw_conf_uint(v, 0, 1UL << 20, &mb, err, errlen) < 0)
            return -1;
        o->max_body = (uint64_t)mb << 20;
        return 0;
    }
    if (!strcmp(key, "hsts-max-age"))
        return cw_conf_seconds(v, 0, 63072000, &o->hsts_max_age, err, errlen);
    if (!strcmp(key, "access-log"))
        return cw_conf_str(o->access_log, sizeof(o->access_log), v, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [webproxy]", key);
    return -1;
}

/* "tls=required auth=dialback" words of a peer line (or of tls / auth). */
static int policy_word(struct s2s_policy *p, const char *w, char *err, size_t errlen)
{
    if (!strcmp(w, "tls=required") || !strcmp(w, "tls=optional"))
        p->tls_optional = w[4] == 'o';
    else if (!strcmp(w, "auth=certificate") || !strcmp(w, "auth=dialback"))
        p->cert_required = w[5] == 'c';
    else {
        snprintf(err, errlen, "\"%s\" is not tls=required|optional or auth=certificate|dialback", w);
        return -1;
    }
    return 0;
}

static int domain_word(const char *v, char *out, size_t cap, char *err, size_t errlen)
{
    size_t n = strcspn(v, " \t");

    if (!n || n >= cap || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") < n) {
        snprintf(err, errlen, "\"%.*s\" is not a domain name", (int)(n < 80 ? n : 80), v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)v[i]);
    out[n] = 0;
    return 0;
}

static int federation_key(struct edge_federation_config *f, const char *key, const char *v,
                          char *err, size_t errlen)
{
    struct s2s_opts *o = &f->o;
    unsigned secs;

    if (!strcmp(key, "enabled"))
        return cw_conf_bool(v, &f->enabled, err, errlen);
    if (!strcmp(key, "listen") || !strcmp(key, "tls-listen")) {
        int tls = key[0] == 't', *n = tls ? &o->ntls_listen : &o->nlisten;
        if (*n == S2S_MAX_LISTEN) {
            snprintf(err, errlen, "more than %d %s lines", S2S_MAX_LISTEN, key);
            return -1;
        }
        return cw_conf_addr(v, tls ? 5270 : 5269, tls ? &o->tls_listen[(*n)++] : &o->listen[(*n)++],
                            err, errlen);
    }
    if (!strcmp(key, "core")) {
        if (o->ncore == S2S_MAX_CORES) {
            snprintf(err, errlen, "more than %d core lines", S2S_MAX_CORES);
            return -1;
        }
        return cw_conf_addr(v, 0, &o->core[o->ncore++], err, errlen);
    }
    if (!strcmp(key, "certificate")) {
        const char *k;
        if (f->ncert == S2S_MAX_CERTS) {
            snprintf(err, errlen, "more than %d certificate lines", S2S_MAX_CERTS);
            return -1;
        }
        k = two_words(v, f->cert[f->ncert], sizeof(f->cert[0]));
        if (!k || strchr(k, ' ')) {
            snprintf(err, errlen, "certificate wants two files: the chain (PEM) and its key (PEM)");
            return -1;
        }
        snprintf(f->key[f->ncert++], sizeof(f->key[0]), "%s", k);
        return 0;
    }
    if (!strcmp(key, "trust"))
        return cw_conf_str(f->trust, sizeof(f->trust), v, err, errlen);
    if (!strcmp(key, "link-key-file"))
        return cw_conf_str(f->link_key_file, sizeof(f->link_key_file), v, err, errlen);
    if (!strcmp(key, "dns-server")) {
        struct sockaddr_storage a;
        size_t len = strlen(f->dns);
        if (cw_conf_addr(v, 53, &a, err, errlen) < 0)
            return -1;
        if (len + strlen(v) + 2 > sizeof(f->dns)) {
            snprintf(err, errlen, "too many dns-server lines");
            return -1;
        }
        snprintf(f->dns + len, sizeof(f->dns) - len, "%s%s", len ? "," : "", v);
        return 0;
    }
    if (!strcmp(key, "tls") || !strcmp(key, "auth")) {
        char w[40];
        snprintf(w, sizeof(w), "%s=%s", key, v);
        return policy_word(&o->policy, w, err, errlen);
    }
    if (!strcmp(key, "allow") || !strcmp(key, "deny")) {
        int al = key[0] == 'a', *n = al ? &o->nallow : &o->ndeny;
        if (*n == S2S_MAX_LIST) {
            snprintf(err, errlen, "more than %d %s lines", S2S_MAX_LIST, key);
            return -1;
        }
        if (domain_word(v, al ? o->allow[*n] : o->deny[*n], S2S_DOMAIN_MAX + 1, err, errlen) < 0)
            return -1;
        if (v[strcspn(v, " \t")]) {
            snprintf(err, errlen, "%s takes one domain per line", key);
            return -1;
        }
        (*n)++;
        return 0;
    }
    if (!strcmp(key, "peer")) {
        struct s2s_peer *p = &o->peer[o->npeer];
        char w[40];
        if (o->npeer == S2S_MAX_PEERS) {
            snprintf(err, errlen, "more than %d peer lines", S2S_MAX_PEERS);
            return -1;
        }
        if (domain_word(v, p->domain, sizeof(p->domain), err, errlen) < 0)
            return -1;
        p->policy = o->policy;
        for (v += strcspn(v, " \t"); *v;) {
            size_t k;
            v += strspn(v, " \t");
            k = strcspn(v, " \t");
            if (!k)
                break;
            snprintf(w, sizeof(w), "%.*s", (int)(k < 39 ? k : 39), v);
            if (policy_word(&p->policy, w, err, errlen) < 0)
                return -1;
            v += k;
        }
        o->npeer++;
        return 0;
    }
    if (!strcmp(key, "idle-timeout") || !strcmp(key, "connect-timeout")) {
        if (cw_conf_seconds(v, 1, 86400, &secs, err, errlen) < 0)
            return -1;
        *(key[0] == 'i' ? &o->idle_timeout_ms : &o->connect_timeout_ms) = secs * 1000;
        return 0;
    }
    if (!strcmp(key, "max-stanza")) {
        unsigned long n;
        if (cw_conf_uint(v, 10000, 16UL << 20, &n, err, errlen) < 0)
            return -1;
        o->limits.max_stanza = n;
        return 0;
    }
    if (!strcmp(key, "max-streams"))
        return cw_conf_unsigned(v, 1, 100000, &o->max_streams, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [federation]", key);
    return -1;
}

static int conf_cb(void *arg, const char *section, const char *key, const char *v, char *err,
                   size_t errlen)
{
    struct edge_config *c = arg;
    int known = !strcmp(section, "edge") || !strcmp(section, "turn") ||
                !strcmp(section, "tunnel") || !strcmp(section, "webproxy") ||
                !strcmp(section, "federation") || !strcmp(section, "admin");

    if (known && !key) {
        if (!strcmp(section, "federation"))
            c->fed.enabled = 1;
        if (!strcmp(section, "tunnel"))
            c->tunnel.enabled = 1;      /* the section turns it on */
        if (!strcmp(section, "webproxy"))
            c->webproxy_enabled = 1;
        if (!strcmp(section, "admin"))
            c->admin.enabled = 1;
        return 0;
    }
    if (!strcmp(section, "webproxy")) {
        if (!strcmp(key, "enabled"))
            return cw_conf_bool(v, &c->webproxy_enabled, err, errlen);
        if (!strcmp(key, "tunnel-link"))
            return cw_conf_bool(v, &c->tunnel_link, err, errlen);
        return webproxy_key(&c->webproxy, key, v, err, errlen);
    }
    if (!strcmp(section, "federation"))
        return federation_key(&c->fed, key, v, err, errlen);
    if (!strcmp(section, "admin"))
        return cw_admin_conf_key(&c->admin, key, v, err, errlen);
    if (!strcmp(section, "edge"))
        return edge_key(c, key, v, err, errlen);
    if (!strcmp(section, "turn"))
        return turn_key(c, key, v, err, errlen);
    if (!strcmp(section, "tunnel"))
        return tunnel_key(&c->tunnel, key, v, err, errlen);
    snprintf(err, errlen, "unknown section [%s] (known: [edge], [turn], [tunnel], [webproxy], "
             "[federation], [admin])",
             section);
    return -1;
}

int edge_config_forward(const struct edge_config *c, const struct sockaddr_storage *ss)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

    if (ss->ss_family != AF_INET || ntohl(in->sin_addr.s_addr) != INADDR_LOOPBACK)
        return 0;
    for (int p = 0; p < c->tunnel.npermit; p++)
        if (c->tunnel.permit[p] == ntohs(in->sin_port))
            return 1;
    return 0;
}

/* Hosts whose backend is a port cores forward to reach their core over a
 * link. */
static void mark_tunnel_hosts(struct edge_config *c)
{
    for (int i = 0; i < c->webproxy.nhost; i++)
        if (edge_config_forward(c, &c->webproxy.host[i].backend))
            c->webproxy.host[i].link = 1;
}

int edge_config_load(struct edge_config *c, const char *path, char *err, size_t errlen)
{
    struct turn_options *o = &c->turn;

    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    cw_daemon_conf_init(&c->d, EDGE_CTL_DEFAULT);
    snprintf(c->realm, sizeof(c->realm), "causeway");
    c->turn_enabled = 1;
    snprintf(c->tunnel.state_dir, sizeof(c->tunnel.state_dir), "/var/lib/causeway/tunnel");
    snprintf(c->tunnel.sshd, sizeof(c->tunnel.sshd), "/usr/sbin/sshd");
    c->tunnel.core_timeout = 8;
    turn_options_init(o);
    wp_options_init(&c->webproxy);
    c->tunnel_link = 1;
    snprintf(c->fed.trust, sizeof(c->fed.trust), "/etc/ssl/certs/ca-certificates.crt");
    cw_admin_conf_init(&c->admin, 445, EDGE_ADMIN_USERS_DEFAULT);
    o->policy = turn_policy_create();
    if (!o->policy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cw_conf_parse_file(path, conf_cb, c, err, errlen) < 0)
        goto fail;
    o->realm = c->realm;
    o->userdb_path = c->user_db[0] ? c->user_db : NULL;
    if (c->rest_secret_len) {
        o->rest_secret = c->rest_secret;
        o->rest_secret_len = c->rest_secret_len;
    }
    if (o->lifetime_default > o->lifetime_max) {
        snprintf(err, errlen, "%s: default-lifetime (%us) is above max-lifetime (%us)", path,
                 o->lifetime_default, o->lifetime_max);
        goto fail;
    }
    if (c->turn_enabled) {
        if (!o->nlisten && !o->ntls_listen) {
            snprintf(err, errlen, "%s: [turn] needs at least one listen address", path);
            goto fail;
        }
        if (!o->has_relay4 && !o->has_relay6) {
            snprintf(err, errlen, "%s: [turn] needs relay-address (the external NIC's address)",
                     path);
            goto fail;
        }
        if (!o->userdb_path && !o->rest_secret) {
            snprintf(err, errlen, "%s: [turn] needs user-db or rest-secret-file (or both)", path);
            goto fail;
        }
        if (o->ntls_listen && (!c->tls_cert[0] || !c->tls_key[0])) {
            snprintf(err, errlen, "%s: [turn] tls-listen needs tls-certificate and tls-key", path);
            goto fail;
        }
        if (add_own_addresses(o) < 0) {
            snprintf(err, errlen, "%s: cannot list this host's addresses for the peer policy",
                     path);
            goto fail;
        }
    }
    if (c->tunnel.enabled && !c->tunnel.nlisten) {
        snprintf(err, errlen, "%s: [tunnel] needs listen = the internal NIC's address (port "
                 "2222 by default), where the cores connect", path);
        goto fail;
    }
    if (c->webproxy_enabled) {
        struct wp_options *w = &c->webproxy;

        if (!w->nlisten || !w->ncert || !w->nhost) {
            snprintf(err, errlen, "%s: [webproxy] needs listen (the external NIC's address, port "
                     "443), certificate (chain and key files) and at least one host (guest "
                     "account client URI and its backend)", path);
            goto fail;
        }
        if (c->tunnel_link)
            mark_tunnel_hosts(c);
    }
    if (c->fed.enabled) {
        struct edge_federation_config *f = &c->fed;

        if ((!f->o.nlisten && !f->o.ntls_listen) || !f->ncert || !f->o.ncore ||
            !f->link_key_file[0]) {
            snprintf(err, errlen, "%s: [federation] needs listen (the external NIC's address, "
                     "port 5269), certificate (chain and key files for our XMPP domains), core "
                     "(a core's tunnel forward, 127.0.0.1:PORT) and link-key-file", path);
            goto fail;
        }
    }
    if (cw_admin_conf_check(&c->admin, path, err, errlen) < 0)
        goto fail;
    if (!c->tunnel.user[0]) {
        struct passwd *pw = getpwuid(geteuid());
        snprintf(c->tunnel.user, sizeof(c->tunnel.user), "%s", pw ? pw->pw_name : "root");
    }
    return 0;
fail:
    edge_config_free(c);
    return -1;
}

void edge_config_free(struct edge_config *c)
{
    turn_policy_destroy(c->turn.policy);
    c->turn.policy = NULL;
    memset(c->rest_secret, 0, sizeof(c->rest_secret));
}
