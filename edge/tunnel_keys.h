/* tunnel_keys.h - the edge's SSH trust: the authorized_keys file that lets
 * paired cores in (each key limited to remote forwards on the permitted
 * loopback ports), and SHA256 fingerprints as `ssh-keygen -l` prints them.
 * Shared by causeway-edge (which rewrites the restrictions at start) and
 * the `causeway tunnel trust|untrust|cores` commands. */
#ifndef EDGE_TUNNEL_KEYS_H
#define EDGE_TUNNEL_KEYS_H

#include <stddef.h>
#include <stdio.h>

#include "common/sshkey.h"
#include "edge/config.h"

#define TUNNEL_NAME_MAX 64
#define TUNNEL_FP_LEN CW_SSHKEY_FP_LEN
/* Adds or replaces the key of core name (an ssh-ed25519 public key line).
 * -1 with err. */
int tunnel_trust(const struct edge_tunnel_config *t, const char *name, const char *pubkey,
                 char *err, size_t errlen);
/* Removes core name; 1 if it was not there, -1 with err. */
int tunnel_untrust(const struct edge_tunnel_config *t, const char *name, char *err,
                   size_t errlen);
/* Rewrites every entry with the restrictions of the current configuration
 * (permit-listen may have changed); creates the file if missing. */
int tunnel_keys_refresh(const struct edge_tunnel_config *t, char *err, size_t errlen);
/* Calls cb for every trusted core; returns how many there are, -1 with err. */
int tunnel_keys_foreach(const struct edge_tunnel_config *t,
                        void (*cb)(const char *name, const char *fp, void *arg), void *arg,
                        char *err, size_t errlen);
/* The path of a file in the state directory. */
void tunnel_path(const struct edge_tunnel_config *t, const char *file, char *out, size_t outlen);

#endif
