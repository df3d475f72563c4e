/* config.h - core.conf: the inside daemon's configuration. Shared with the
 * `causeway` CLI, which reads it to find the control socket and the tunnel
 * key (pairing). */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdint.h>

#include "admin/admin.h"
#include "common/daemon.h"
#include "core/turncheck.h"
#include <sys/socket.h>

#define CORE_CONF_DEFAULT "/etc/causeway/core.conf"
#define CORE_CTL_DEFAULT "/run/causeway/core.sock"
#define CORE_MAX_TUNNELS 16
#define CORE_MAX_DNS 4
#define CORE_NAME_MAX 255

/* One [tunnel] section: an SSH connection to an edge that holds a remote
 * forward on the edge's loopback for a guest account client URI. */
struct core_tunnel_config {
    struct sockaddr_storage edge;           /* Target: the edge's sshd */
    char host_key[64];                      /* pinned "SHA256:..."; "" = not paired yet */
    char user[64];                          /* the edge's tunnel account */
    char guest_uri[CORE_NAME_MAX + 1];      /* Domain: resolved in the inside DNS */
    uint16_t webbridge_port;                /* the webbridge's port inside */
    int webbridge_tls;                      /* HTTPS to the webbridge (core/webtls.c) */
    char webbridge_ca[1024];                /* CAs for its certificate; "" = the system's */
    uint16_t edge_port;                     /* 127.0.0.1:edge_port on the edge */
    unsigned keepalive_interval;            /* seconds between SSH keepalives */
    unsigned keepalive_count;               /* unanswered intervals before "dead" */
    unsigned max_connections;               /* forwarded connections at once */
};

#define CORE_XMPP_CERTS 16

/* [xmpp]: the node's XMPP service. Domains, users and call bridges live in
 * the shared state (`causeway xmpp ...`), not here. */
struct core_xmpp_config {
    int enabled;
    struct sockaddr_storage c2s;            /* client-listen, 5222 */
    struct sockaddr_storage component;      /* component-listen, 5223 */
    char cert[CORE_XMPP_CERTS][2][512];     /* certificate = CHAIN KEY, SNI picks */
    int ncert;
    int allow_plain;
    unsigned max_connections;
    unsigned max_stanza;
    unsigned ping_interval;                 /* s; 0: the server's default (60) */
    /* Federation (xmpp/fedlink.h): where the edge's link arrives through the
     * tunnel (loopback; ss_family 0: federation is off on this node), and
     * the file of the key shared with the edge. */
    struct sockaddr_storage link_listen;
    char link_key_file[1024];
};

/* [cluster]: the Raft cluster of core nodes. */
struct core_cluster_config {
    int enabled;
    char address[64];           /* host:port, listened on and told to the others */
    char key_file[1024];        /* the shared cluster key, the same file on every node */
    unsigned election_ms;       /* election timeout */
    unsigned heartbeat_ms;
};

struct core_config {
    char path[1024];
    struct cw_daemon_conf d;        /* control-socket, log-file, log-level */
    char name[64];                          /* this core's name in pairing */
    char state_dir[1024];                   /* tunnel key lives here */
    char key_file[1100];                    /* state_dir/tunnel_ed25519 */
    char dns_servers[CORE_MAX_DNS * 48];    /* "a:53,b:53" for c-ares; "" = resolv.conf */
    unsigned dns_timeout_ms;
    struct core_tunnel_config tunnel[CORE_MAX_TUNNELS];
    int ntunnel;
    struct core_xmpp_config xmpp;
    struct core_cluster_config cluster;
    struct core_turncheck_config turn_check;    /* [turn]: the TURN reachability check */
    struct cw_admin_conf admin;             /* [admin]: status pages and API (port 8445) */
};

/* Loads path over the defaults. Returns 0, or -1 with "file:line: what" (or
 * "file: what" for a missing key) in err. */
int core_config_load(struct core_config *cfg, const char *path, char *err, size_t errlen);

/* Path of the public half of the tunnel key (key_file + ".pub"). */
void core_config_pubkey_path(const struct core_config *cfg, char *out, size_t len);

#endif
