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
    FILE *f;
    int ok;

    core_config_pubkey_path(cfg, path, sizeof(path));
    f = fopen(path, "re");
    if (!f)
        return -1;
    ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int core_pairing_fingerprint(const struct core_config *cfg, char *out, size_t len)
{
    char line[1024], fp[CW_SSHKEY_FP_LEN];

    if (core_pairing_pubkey(cfg, line, sizeof(line)) < 0 || cw_sshkey_fingerprint(line, fp) < 0)
        return -1;
    snprintf(out, len, "%s", fp);
    return 0;
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
