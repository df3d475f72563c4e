/* config.h - edge.conf: the edge daemon's configuration, turned into the
 * libraries' option structs. Shared with the `causeway` CLI, which reads the
 * same file to find the control socket and the TURN user database. */
#ifndef EDGE_CONFIG_H
#define EDGE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "common/daemon.h"
#include <sys/socket.h>

#include "turn/auth.h"
#include "turn/turn.h"
#include "webproxy/webproxy.h"
#include "xmpp/s2s.h"

#define EDGE_CONF_DEFAULT "/etc/causeway/edge.conf"
#define EDGE_CTL_DEFAULT "/run/causeway/edge.sock"
#define EDGE_ADMIN_USERS_DEFAULT "/var/lib/causeway/edge/admins"

#define EDGE_TUNNEL_MAX_LISTEN 8
#define EDGE_TUNNEL_MAX_PERMIT 32

/* [tunnel]: the sshd that the cores' SSH tunnels end at. */
struct edge_tunnel_config {
    int enabled;                    /* a [tunnel] section is present */
    struct sockaddr_storage listen[EDGE_TUNNEL_MAX_LISTEN];
    int nlisten;
    char state_dir[1024];           /* host key, sshd_config, authorized_keys */
    char sshd[1024];                /* the sshd binary (absolute path) */
    char user[64];                  /* the account the cores log in as */
    uint16_t permit[EDGE_TUNNEL_MAX_PERMIT];   /* 127.0.0.1 ports cores may listen on */
    int npermit;
    unsigned core_timeout;          /* s of silence after which sshd drops a core */
};

/* [federation]: the XMPP federation gateway. The TLS contexts, the DNS
 * resolver and the link key of o are made by the daemon from the files
 * named here. */
struct edge_federation_config {
    int enabled;                    /* a [federation] section is present */
    struct s2s_opts o;
    char cert[S2S_MAX_CERTS][1024], key[S2S_MAX_CERTS][1024];
    int ncert;
    char trust[1024];
    char link_key_file[1024];
    char dns[600];                  /* "addr,addr" for cw_dns_create; "": /etc/resolv.conf */
};

struct edge_config {
    char path[1024];
    struct cw_daemon_conf d;        /* control-socket, log-file, log-level */
    int turn_enabled;
    struct turn_options turn;       /* policy created by edge_config_load */
    char realm[TURN_NAME_MAX + 1];
    char user_db[1024];
    char tls_cert[1024], tls_key[1024];
    uint8_t rest_secret[256];
    size_t rest_secret_len;
    int inside_set;                 /* an inside-network line replaced the defaults */
    int unsafe_loopback;
    struct edge_tunnel_config tunnel;
    int webproxy_enabled;           /* a [webproxy] section is present */
    struct wp_options webproxy;
    int tunnel_link;                /* [webproxy] tunnel-link: hosts on permit-listen ports use links */
    struct edge_federation_config fed;
    struct cw_admin_conf admin;     /* [admin]: status pages and API (port 445) */
};

/* Loads path (defaults first, then the file). Returns 0, or -1 with
 * "file:line: what" in err. The caller owns cfg->turn.policy (given to the
 * TURN server or freed by edge_config_free). */
int edge_config_load(struct edge_config *cfg, const char *path, char *err, size_t errlen);
void edge_config_free(struct edge_config *cfg);
/* 1 when ss is a port that a core's tunnel may hold on this edge:
 * 127.0.0.1 and one of [tunnel]'s permit-listen ports. */
int edge_config_forward(const struct edge_config *cfg, const struct sockaddr_storage *ss);

#endif
