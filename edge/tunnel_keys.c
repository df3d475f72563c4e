/* tunnel_keys.c - the authorized_keys file of the tunnel sshd (see
 * tunnel_keys.h). The file is this program's alone: every line is
 *   restrict,port-forwarding,permitlisten="127.0.0.1:P"... ssh-ed25519 KEY causeway-core:NAME
 * and it is rewritten whole (temporary file, then rename) on every change. */
#include "edge/tunnel_keys.h"

#include "common/file.h"
#include "common/sshkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMMENT_PREFIX "causeway-core:"
#define KEY_B64_MAX 512

struct entry {
    char name[TUNNEL_NAME_MAX + 1];
    char b64[KEY_B64_MAX];
};

struct keyset {
    struct entry *v;
    size_t n;
};

void tunnel_path(const struct edge_tunnel_config *t, const char *file, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", t->state_dir, file);
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > TUNNEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
              name[i] == '.'))
            return 0;
    return 1;
}

static int keyset_add(struct keyset *ks, const char *name, const char *b64, size_t bl)
{
    struct entry *v = realloc(ks->v, (ks->n + 1) * sizeof(*v));

    if (!v)
        return -1;
    ks->v = v;
    snprintf(v[ks->n].name, sizeof(v[ks->n].name), "%s", name);
    snprintf(v[ks->n].b64, sizeof(v[ks->n].b64), "%.*s", (int)bl, b64);
    ks->n++;
    return 0;
}

/* Reads our own file back; a missing file is an empty set. */
static int keyset_load(const struct edge_tunnel_config *t, struct keyset *ks, char *err,
                       size_t errlen)
{
    char path[1100], line[2048];
    FILE *f;
    int lineno = 0;

    ks->v = NULL;
    ks->n = 0;
    tunnel_path(t, "authorized_keys", path, sizeof(path));
    f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *c = strstr(line, " " COMMENT_PREFIX), *k = strstr(line, " ssh-ed25519 ");
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!c || !k || k > c) {
            snprintf(err, errlen, "%s:%d: not a line written by causeway (edit it with "
                     "`causeway tunnel trust|untrust`)", path, lineno);
            fclose(f);
            free(ks->v);
            return -1;
        }
        k += strlen(" ssh-ed25519 ");
        c += strlen(" " COMMENT_PREFIX);
        c[strcspn(c, " \n")] = 0;
        if (keyset_add(ks, c, k, strcspn(k, " ")) < 0) {
            snprintf(err, errlen, "out of memory");
            fclose(f);
            free(ks->v);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int keyset_save(const struct edge_tunnel_config *t, const struct keyset *ks, char *err,
                       size_t errlen)
{
    char path[1100], tmp[1200];
    struct stat st;
    FILE *f;

    tunnel_path(t, "authorized_keys", path, sizeof(path));
    if (!(f = cw_file_begin(path, tmp, sizeof(tmp), err, errlen)))
        return -1;
    if (stat(t->state_dir, &st) == 0 && fchown(fileno(f), st.st_uid, st.st_gid) < 0)
        (void)0;                    /* root edits a file the daemon's user reads */
    fprintf(f, "# causeway tunnel: the paired cores. Written by `causeway tunnel trust`;\n"
               "# every key may only hold remote forwards on the permitted loopback ports.\n");
    for (size_t i = 0; i < ks->n; i++) {
        fprintf(f, "restrict%s", t->npermit ? ",port-forwarding" : "");
        for (int p = 0; p < t->npermit; p++)
            fprintf(f, ",permitlisten=\"127.0.0.1:%u\"", t->permit[p]);
        fprintf(f, " ssh-ed25519 %s " COMMENT_PREFIX "%s\n", ks->v[i].b64, ks->v[i].name);
    }
    return cw_file_commit(f, tmp, path, err, errlen);
}

int tunnel_trust(const struct edge_tunnel_config *t, const char *name, const char *pubkey,
                 char *err, size_t errlen)
{
    struct keyset ks;
    char fp[TUNNEL_FP_LEN];
    const char *b;
    size_t i;
    int rc;

    if (!valid_name(name)) {
        snprintf(err, errlen, "core name \"%s\": use 1-%d letters, digits, '.', '-', '_'", name,
                 TUNNEL_NAME_MAX);
        return -1;
    }
    while (*pubkey == ' ')
        pubkey++;
    if (strncmp(pubkey, "ssh-ed25519 ", 12) != 0 || cw_sshkey_fingerprint(pubkey, fp) < 0) {
        snprintf(err, errlen, "not an ssh-ed25519 public key line (the core prints one: "
                 "\"ssh-ed25519 AAAA... name\")");
        return -1;
    }
    /* Before the edge's first start the state directory may not exist. */
    if (cw_mkdirs(t->state_dir, err, errlen) < 0 || keyset_load(t, &ks, err, errlen) < 0)
        return -1;
    b = pubkey + 12;
    while (*b == ' ')
        b++;
    for (i = 0; i < ks.n && strcmp(ks.v[i].name, name) != 0; i++)
        ;
    if (i < ks.n) {                 /* a re-paired core: its new key replaces the old */
        snprintf(ks.v[i].b64, sizeof(ks.v[i].b64), "%.*s", (int)strcspn(b, " \n"), b);
        rc = 0;
    } else {
        rc = keyset_add(&ks, name, b, strcspn(b, " \n"));
        if (rc < 0)
            snprintf(err, errlen, "out of memory");
    }
    if (rc == 0)
        rc = keyset_save(t, &ks, err, errlen);
    free(ks.v);
    return rc;
}

int tunnel_untrust(const struct edge_tunnel_config *t, const char *name, char *err,
                   size_t errlen)
{
    struct keyset ks;
    size_t i;
    int rc;

    if (keyset_load(t, &ks, err, errlen) < 0)
        return -1;
    for (i = 0; i < ks.n && strcmp(ks.v[i].name, name) != 0; i++)
        ;
    if (i == ks.n) {
        free(ks.v);
        return 1;
    }
    memmove(&ks.v[i], &ks.v[i + 1], (ks.n - i - 1) * sizeof(ks.v[0]));
    ks.n--;
    rc = keyset_save(t, &ks, err, errlen);
    free(ks.v);
    return rc;
}

int tunnel_keys_refresh(const struct edge_tunnel_config *t, char *err, size_t errlen)
{
    struct keyset ks;
    int rc;

    if (keyset_load(t, &ks, err, errlen) < 0)
        return -1;
    rc = keyset_save(t, &ks, err, errlen);
    free(ks.v);
    return rc;
}

int tunnel_keys_foreach(const struct edge_tunnel_config *t,
                        void (*cb)(const char *name, const char *fp, void *arg), void *arg,
                        char *err, size_t errlen)
{
    struct keyset ks;
    char line[KEY_B64_MAX + 16], fp[TUNNEL_FP_LEN];

    if (keyset_load(t, &ks, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < ks.n; i++) {
        snprintf(line, sizeof(line), "ssh-ed25519 %s", ks.v[i].b64);
        if (cw_sshkey_fingerprint(line, fp) < 0)
            snprintf(fp, sizeof(fp), "(bad key)");
        cb(ks.v[i].name, fp, arg);
    }
    free(ks.v);
    return (int)ks.n;
}
