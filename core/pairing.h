/* pairing.h - the core's side of pairing with an edge: its ed25519 tunnel
 * key and the `causeway tunnel trust` command that lets it in. Shared by
 * causeway-core (which makes the key on first start) and the CLI. */
#ifndef CORE_PAIRING_H
#define CORE_PAIRING_H

#include <stddef.h>

#include "common/sshkey.h"
#include "core/config.h"

/* Makes state-dir and the key unless it exists: 1 made, 0 there, -1 + err. */
int core_pairing_key(const struct core_config *cfg, char *err, size_t errlen);
/* The public key line without its newline; -1 if it cannot be read. */
int core_pairing_pubkey(const struct core_config *cfg, char *out, size_t len);
/* "SHA256:..." of the key; -1 if it cannot be read. */
int core_pairing_fingerprint(const struct core_config *cfg, char out[CW_SSHKEY_FP_LEN]);
/* causeway tunnel trust NAME 'ssh-ed25519 ...' */
int core_pairing_command(const struct core_config *cfg, char *out, size_t len);

#endif
