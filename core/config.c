/* config.c - parses core.conf (see docs/configuration.md for every key). */
#include "core/config.h"

#include "common/addr.h"
#include "common/conf.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int core_key(struct core_config *c, const char *key, const char *v, char *err,
                    size_t errlen)
{
    int rc = cw_daemon_conf_key(&c->d, key, v, err, errlen);

    if (rc <= 0)
        return rc;
    if (!strcmp(key, "state-dir"))
        return cw_conf_str(c->state_dir, sizeof(c->state_dir), v, err, errlen);
    if (!strcmp(key, "name")) {
        for (const char *p = v; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
                snprintf(err, errlen, "name \"%s\": use letters, digits, '-', '_' and '.'", v);
                return -1;
            }
        return cw_conf_str(c->name, sizeof(c->name), v, err, errlen);
    }
    snprintf(err, errlen, "unknown key \"%s\" in [core]", key);
    return -1;
}

static int dns_key(struct core_config *c, const char *key, const char *v, char *err,
                   size_t errlen)
{
    if (!strcmp(key, "server")) {
        struct sockaddr_storage ss;
        char a[CW_ADDR_STRLEN];
        size_t n = strlen(c->dns_servers);
        int count = n ? 1 : 0;

        for (const char *p = c->dns_servers; *p; p++)
            count += *p == ',';
        if (count == CORE_MAX_DNS) {
            snprintf(err, errlen, "more than %d DNS servers", CORE_MAX_DNS);
            return -1;
        }
        if (cw_conf_addr(v, 53, &ss, err, errlen) < 0)
            return -1;
        cw_addr_fmt((struct sockaddr *)&ss, a, sizeof(a), 1);
        snprintf(c->dns_servers + n, sizeof(c->dns_servers) - n, "%s%s", n ? "," : "", a);
        return 0;
    }
    if (!strcmp(key, "timeout"))
        return cw_conf_unsigned(v, 100, 30000, &c->dns_timeout_ms, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [dns]", key);
    return -1;
}

/* "SHA256:" and 43 characters of unpadded base64, as ssh-keygen -l prints. */
static int host_key_valid(const char *v)
{
    size_t n = strlen(v);

    if (n != 7 + 43 || strncmp(v, "SHA256:", 7) != 0)
        return 0;
    for (const char *p = v + 7; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '/')
            return 0;
    return 1;
}

static int port_key(const char *v, uint16_t *out, char *err, size_t errlen)
{
    unsigned x;

    if (cw_conf_unsigned(v, 1, 65535, &x, err, errlen) < 0)
        return -1;
    *out = (uint16_t)x;
    return 0;
}

static int tunnel_key(struct core_tunnel_config *t, const char *key, const char *v, char *err,
                      size_t errlen)
{
    if (!strcmp(key, "edge"))
        return cw_conf_addr(v, 2222, &t->edge, err, errlen);
    if (!strcmp(key, "host-key")) {
        if (!host_key_valid(v)) {
            snprintf(err, errlen, "host-key \"%s\" is not a SHA256:... fingerprint (copy it "
                     "from `causeway tunnel status` on the edge)", v);
            return -1;
        }
        return cw_conf_str(t->host_key, sizeof(t->host_key), v, err, errlen);
    }
    if (!strcmp(key, "user"))
        return cw_conf_str(t->user, sizeof(t->user), v, err, errlen);
    if (!strcmp(key, "guest-uri")) {
        for (const char *p = v; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != ':') {
                snprintf(err, errlen, "guest-uri \"%s\" is not a host name or address", v);
                return -1;
            }
        return cw_conf_str(t->guest_uri, sizeof(t->guest_uri), v, err, errlen);
    }
    if (!strcmp(key, "webbridge-port"))
        return port_key(v, &t->webbridge_port, err, errlen);
    if (!strcmp(key, "webbridge-tls"))
        return cw_conf_bool(v, &t->webbridge_tls, err, errlen);
    if (!strcmp(key, "webbridge-ca"))
        return cw_conf_str(t->webbridge_ca, sizeof(t->webbridge_ca), v, err, errlen);
    if (!strcmp(key, "edge-port"))
        return port_key(v, &t->edge_port, err, errlen);
    /* libssh2 counts whole seconds and sends nothing more often than 2 s. */
    if (!strcmp(key, "keepalive-interval"))
        return cw_conf_seconds(v, 2, 300, &t->keepalive_interval, err, errlen);
    if (!strcmp(key, "keepalive-count"))
        return cw_conf_unsigned(v, 1, 100, &t->keepalive_count, err, errlen);
    /* OpenSSH drops a connection that opens more than 16,384 channels. */
    if (!strcmp(key, "max-connections"))
        return cw_conf_unsigned(v, 1, 16000, &t->max_connections, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [tunnel]", key);
    return -1;
}

/* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
static int is_loopback(const struct sockaddr_storage *ss)
{
    const struct in6_addr *a6;

    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family != AF_INET6)
        return 0;
    a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

static int xmpp_key(struct core_xmpp_config *x, const char *key, const char *v, char *err,
                    size_t errlen)
{
    if (!strcmp(key, "enabled"))
        return cw_conf_bool(v, &x->enabled, err, errlen);
    if (!strcmp(key, "client-listen"))
        return cw_conf_addr(v, 5222, &x->c2s, err, errlen);
    if (!strcmp(key, "component-listen"))
        return cw_conf_addr(v, 5223, &x->component, err, errlen);
    if (!strcmp(key, "certificate")) {
        char chain[512], keyf[512];
        if (x->ncert == CORE_XMPP_CERTS) {
            snprintf(err, errlen, "more than %d certificates in [xmpp]", CORE_XMPP_CERTS);
            return -1;
        }
        if (sscanf(v, "%511s %511s", chain, keyf) != 2) {
            snprintf(err, errlen, "certificate = CHAIN.pem KEY.pem (two file names)");
            return -1;
        }
        snprintf(x->cert[x->ncert][0], sizeof(x->cert[0][0]), "%s", chain);
        snprintf(x->cert[x->ncert][1], sizeof(x->cert[0][1]), "%s", keyf);
        x->ncert++;
        return 0;
    }
    if (!strcmp(key, "allow-plain"))
        return cw_conf_bool(v, &x->allow_plain, err, errlen);
    if (!strcmp(key, "max-connections"))
        return cw_conf_unsigned(v, 1, 1000000, &x->max_connections, err, errlen);
    if (!strcmp(key, "max-stanza"))
        return cw_conf_unsigned(v, 4096, 16777216, &x->max_stanza, err, errlen);
    if (!strcmp(key, "ping-interval"))
        return cw_conf_seconds(v, 5, 3600, &x->ping_interval, err, errlen);
    if (!strcmp(key, "link-listen")) {
        if (cw_conf_addr(v, 5289, &x->link_listen, err, errlen) < 0)
            return -1;
        /* The link arrives through the SSH tunnel, on this host: the key
         * proves the edge, but nothing else should even reach the port. */
        if (!is_loopback(&x->link_listen)) {
            snprintf(err, errlen, "link-listen \"%s\" is not a loopback address: the edge's "
                     "federation link arrives through the tunnel on this host (use "
                     "127.0.0.1:PORT or [::1]:PORT)", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "link-key-file"))
        return cw_conf_str(x->link_key_file, sizeof(x->link_key_file), v, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [xmpp]", key);
    return -1;
}

static int cluster_key(struct core_cluster_config *k, const char *key, const char *v, char *err,
                       size_t errlen)
{
    if (!strcmp(key, "address")) {
        struct sockaddr_storage ss;
        if (cw_conf_addr(v, 4000, &ss, err, errlen) < 0)
            return -1;
        if ((ss.ss_family == AF_INET &&
             ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
            (ss.ss_family == AF_INET6 &&
             IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))) {
            snprintf(err, errlen, "address = the address the other nodes reach this one on "
                     "(not a wildcard)");
            return -1;
        }
        cw_addr_fmt((struct sockaddr *)&ss, k->address, sizeof(k->address), 1);
        return 0;
    }
    if (!strcmp(key, "key-file"))
        return cw_conf_str(k->key_file, sizeof(k->key_file), v, err, errlen);
    if (!strcmp(key, "election-timeout"))
        return cw_conf_unsigned(v, 100, 60000, &k->election_ms, err, errlen);
    if (!strcmp(key, "heartbeat"))
        return cw_conf_unsigned(v, 10, 10000, &k->heartbeat_ms, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [cluster]", key);
    return -1;
}

/* [turn]: the edge's TURN server as the inside sees it, for the check. */
static int turn_key(struct core_turncheck_config *t, const char *key, const char *v, char *err,
                    size_t errlen)
{
    if (!strcmp(key, "server"))
        return cw_conf_addr(v, 3478, &t->server, err, errlen);
    if (!strcmp(key, "transport")) {
        if (strcmp(v, "udp") != 0 && strcmp(v, "tcp") != 0) {
            snprintf(err, errlen, "transport \"%s\": use udp or tcp", v);
            return -1;
        }
        t->tcp = !strcmp(v, "tcp");
        return 0;
    }
    if (!strcmp(key, "username")) {
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f) {
                snprintf(err, errlen, "username \"%s\": no spaces or control characters", v);
                return -1;
            }
        return cw_conf_str(t->username, sizeof(t->username), v, err, errlen);
    }
    /* Never echo these two in an error: the line number says where. */
    if (!strcmp(key, "password")) {
        if (!*v || strlen(v) >= sizeof(t->password)) {
            snprintf(err, errlen, "password must be 1 to %zu bytes", sizeof(t->password) - 1);
            return -1;
        }
        snprintf(t->password, sizeof(t->password), "%s", v);
        return 0;
    }
    if (!strcmp(key, "rest-secret")) {
        if (!*v || strlen(v) >= sizeof(t->rest_secret)) {
            snprintf(err, errlen, "rest-secret must be 1 to %zu bytes",
                     sizeof(t->rest_secret) - 1);
            return -1;
        }
        snprintf(t->rest_secret, sizeof(t->rest_secret), "%s", v);
        return 0;
    }
    if (!strcmp(key, "interval")) {
        if (cw_conf_seconds(v, 0, 86400, &t->interval_s, err, errlen) < 0)
            return -1;
        /* A check costs the edge an allocation: not more often than this. */
        if (t->interval_s && t->interval_s < 10) {
            snprintf(err, errlen, "interval \"%s\": 0 (only on demand) or 10s to 24h", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "timeout"))
        return cw_conf_unsigned(v, 100, 60000, &t->timeout_ms, err, errlen);
    snprintf(err, errlen, "unknown key \"%s\" in [turn]", key);
    return -1;
}

static int turn_check(const struct core_config *c, char *err, size_t errlen)
{
    const struct core_turncheck_config *t = &c->turn_check;
    const char *what = NULL;

    if (!t->enabled)
        return 0;
    if (!t->server.ss_family)
        what = "needs server = the edge's TURN address as the inside reaches it (its "
               "internal address, port 3478 by default)";
    else if (t->password[0] && t->rest_secret[0])
        what = "has both password and rest-secret: give one";
    else if (!t->password[0] && !t->rest_secret[0])
        what = "needs a credential: username and password (a user of the edge), or "
               "rest-secret (the edge's REST secret)";
    else if (t->password[0] && !t->username[0])
        what = "needs username with password";
    else if (t->rest_secret[0] && t->username[0])
        what = "has username with rest-secret: the check makes its own REST user name "
               "(EXPIRY:core-check); remove username";
    if (!what)
        return 0;
    snprintf(err, errlen, "%s: [turn] %s", c->path, what);
    return -1;
}

static void tunnel_defaults(struct core_tunnel_config *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->user, sizeof(t->user), "causeway");
    t->webbridge_port = 443;
    t->webbridge_tls = 1;       /* a meeting server's web bridge answers HTTPS only */
    t->keepalive_interval = 2;
    t->keepalive_count = 2;
    t->max_connections = 4096;
}

static int conf_cb(void *arg, const char *section, const char *key, const char *v, char *err,
                   size_t errlen)
{
    struct core_config *c = arg;

    if (!key) {
        if (!strcmp(section, "tunnel")) {
            /* Every [tunnel] section is one more tunnel. */
            if (c->ntunnel == CORE_MAX_TUNNELS) {
                snprintf(err, errlen, "more than %d [tunnel] sections", CORE_MAX_TUNNELS);
                return -1;
            }
            tunnel_defaults(&c->tunnel[c->ntunnel++]);
            return 0;
        }
        if (!strcmp(section, "core") || !strcmp(section, "dns"))
            return 0;
        if (!strcmp(section, "xmpp")) {
            c->xmpp.enabled = 1;   /* a [xmpp] section turns the service on */
            return 0;
        }
        if (!strcmp(section, "cluster")) {
            c->cluster.enabled = 1;
            return 0;
        }
        if (!strcmp(section, "turn")) {
            c->turn_check.enabled = 1;
            return 0;
        }
        if (!strcmp(section, "admin")) {
            c->admin.enabled = 1;
            return 0;
        }
        snprintf(err, errlen, "unknown section [%s] (known: [core], [dns], [tunnel], [xmpp], "
                 "[cluster], [turn], [admin])", section);
        return -1;
    }
    if (!strcmp(section, "core"))
        return core_key(c, key, v, err, errlen);
    if (!strcmp(section, "dns"))
        return dns_key(c, key, v, err, errlen);
    if (!strcmp(section, "xmpp"))
        return xmpp_key(&c->xmpp, key, v, err, errlen);
    if (!strcmp(section, "cluster"))
        return cluster_key(&c->cluster, key, v, err, errlen);
    if (!strcmp(section, "turn"))
        return turn_key(&c->turn_check, key, v, err, errlen);
    if (!strcmp(section, "admin"))
        return cw_admin_conf_key(&c->admin, key, v, err, errlen);
    return tunnel_key(&c->tunnel[c->ntunnel - 1], key, v, err, errlen);
}

static int tunnel_check(const struct core_config *c, int i, char *err, size_t errlen)
{
    const struct core_tunnel_config *t = &c->tunnel[i];
    const char *missing = NULL;

    if (!t->edge.ss_family)
        missing = "edge = the edge's internal address (its sshd, port 2222 by default)";
    else if (!t->guest_uri[0])
        missing = "guest-uri = the guest account client URI (the webbridge's name)";
    else if (!t->edge_port)
        missing = "edge-port = the loopback port on the edge that the tunnel holds "
                  "(one of the edge's permit-listen ports)";
    if (missing) {
        snprintf(err, errlen, "%s: [tunnel] number %d needs %s", c->path, i + 1, missing);
        return -1;
    }
    for (int j = 0; j < i; j++)
        if (cw_addr_equal((const struct sockaddr *)&c->tunnel[j].edge,
                          (const struct sockaddr *)&t->edge, 1) &&
            c->tunnel[j].edge_port == t->edge_port) {
            snprintf(err, errlen, "%s: [tunnel] number %d asks the same edge for the same "
                     "edge-port %u as number %d", c->path, i + 1, t->edge_port, j + 1);
            return -1;
        }
    return 0;
}

int core_config_load(struct core_config *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    cw_daemon_conf_init(&c->d, CORE_CTL_DEFAULT);
    snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/causeway/core");
    c->dns_timeout_ms = 2000;
    /* Failover in about 0.5-1 s on a LAN; raise both on slow networks. */
    c->cluster.election_ms = 500;
    c->cluster.heartbeat_ms = 50;
    cw_addr_parse("0.0.0.0", 5222, &c->xmpp.c2s);
    cw_addr_parse("0.0.0.0", 5223, &c->xmpp.component);
    c->turn_check.interval_s = 300;
    c->turn_check.timeout_ms = 5000;
    if (gethostname(c->name, sizeof(c->name)) < 0 || !c->name[0])
        snprintf(c->name, sizeof(c->name), "core");
    c->name[strcspn(c->name, ". ")] = '\0';
    cw_admin_conf_init(&c->admin, 8445, NULL);
    if (cw_conf_parse_file(path, conf_cb, c, err, errlen) < 0)
        return -1;
    /* The accounts live with the core's other state unless told. */
    if (!c->admin.users[0])
        snprintf(c->admin.users, sizeof(c->admin.users), "%.1000s/admins", c->state_dir);
    if (cw_admin_conf_check(&c->admin, path, err, errlen) < 0)
        return -1;
    for (int i = 0; i < c->ntunnel; i++)
        if (tunnel_check(c, i, err, errlen) < 0)
            return -1;
    if (turn_check(c, err, errlen) < 0)
        return -1;
    if (c->cluster.enabled && (!c->cluster.address[0] || !c->cluster.key_file[0])) {
        snprintf(err, errlen, "%s: [cluster] needs address = HOST:PORT and key-file = PATH", path);
        return -1;
    }
    if (c->cluster.enabled && !c->xmpp.enabled) {
        snprintf(err, errlen, "%s: [cluster] holds the XMPP service's state: it needs [xmpp]",
                 path);
        return -1;
    }
    if (c->xmpp.enabled && !c->xmpp.ncert) {
        snprintf(err, errlen, "%s: [xmpp] needs certificate = CHAIN.pem KEY.pem (clients must "
                 "use STARTTLS)", path);
        return -1;
    }
    if (c->xmpp.link_listen.ss_family && !c->xmpp.link_key_file[0]) {
        snprintf(err, errlen, "%s: [xmpp] link-listen needs link-key-file = PATH (the same key "
                 "file as the edge's [federation] link-key-file)", path);
        return -1;
    }
    if (!c->xmpp.link_listen.ss_family && c->xmpp.link_key_file[0]) {
        snprintf(err, errlen, "%s: [xmpp] link-key-file is set but link-listen is not: add "
                 "link-listen = 127.0.0.1:PORT for the edge's federation link, or remove "
                 "link-key-file", path);
        return -1;
    }
    snprintf(c->key_file, sizeof(c->key_file), "%s/tunnel_ed25519", c->state_dir);
    return 0;
}

void core_config_pubkey_path(const struct core_config *c, char *out, size_t len)
{
    snprintf(out, len, "%s.pub", c->key_file);
}
