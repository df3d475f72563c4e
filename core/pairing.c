/* pairing.c - the core's tunnel key and the command that trusts it. */
#include "core/pairing.h"

#include "common/sshkey.h"

#include <stdio.h>
#include <string.h>

int core_pairing_key(const struct core_config *cfg, char *err, size_t errlen)
{
    char comment[128];

    if (cw_mkdirs(cfg->state_dir, err, errlen) < 0)
        return -1;
    snprintf(comment, sizeof(comment), "causeway-core:%s", cfg->name);
    return cw_sshkey_make(cfg->key_file, comment, err, errlen);
}

int core_pairing_pubkey(const struct core_config *cfg, char *out, size_t len)
{
    char path[1200];

    core_config_pubkey_path(cfg, path, sizeof(path));
    return cw_sshkey_read_pub(path, out, len);
}

int core_pairing_fingerprint(const struct core_config *cfg, char out[CW_SSHKEY_FP_LEN])
{
    char path[1200];

    core_config_pubkey_path(cfg, path, sizeof(path));
    return cw_sshkey_file_fingerprint(path, out);
}

int core_pairing_command(const struct core_config *cfg, char *out, size_t len)
{
    char line[1024];

    if (core_pairing_pubkey(cfg, line, sizeof(line)) < 0)
        return -1;
    /* The line has no quote: base64 and a name of [A-Za-z0-9._-]. */
    snprintf(out, len, "causeway tunnel trust %s '%s'", cfg->name, line);
    return 0;
}
