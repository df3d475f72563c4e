/* users.c - the accounts file: one "name:$y$..." line per administrator
 * (yescrypt hashes, the format of /etc/shadow), mode 0600. Read by the
 * server at start and on reload, written by the `causeway admin user`
 * commands while the daemon may be stopped. */
#include "admin/admin_int.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cw_admin_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (!n || n > ADMIN_NAME_MAX)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int cw_admin_hash_password(const char *password, char *out, size_t outlen)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    char *salt = NULL, *h;
    int rc = -1;

    /* NULL entropy: libxcrypt reads the kernel's random source itself. */
    salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
    if (!cd || !salt)
        goto out;
    h = crypt_rn(password, salt, cd, sizeof(*cd));
    if (!h || h[0] == '*' || strlen(h) + 1 > outlen)
        goto out;
    memcpy(out, h, strlen(h) + 1);
    rc = 0;
out:
    if (cd)
        explicit_bzero(cd, sizeof(*cd));    /* it held a copy of the password */
    free(cd);
    free(salt);
    return rc;
}

/* Calls fn(name, hash) for every account line. check_mode: refuse a file
 * that others than its owner may read or write (the hashes are secrets:
 * offline guessing). 0, or -1 with err. */
int admin__users_read(const char *path, int check_mode,
                      int (*fn)(const char *name, const char *hash, void *arg), void *arg,
                      char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[ADMIN_NAME_MAX + ADMIN_HASH_MAX + 16];
    struct stat st;
    int lineno = 0, rc = -1;

    if (!f) {
        snprintf(err, errlen, "cannot open the admin accounts file %s: %s (make an account: "
                 "causeway admin user add NAME)", path, strerror(errno));
        return -1;
    }
    if (check_mode && fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        snprintf(err, errlen, "the admin accounts file %s has mode %04o: group and others must "
                 "have no access (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    while (fgets(line, sizeof(line), f)) {
        char *colon, *end;

        lineno++;
        end = line + strcspn(line, "\r\n");
        if (!*end && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            goto out;
        }
        *end = 0;
        if (!line[0] || line[0] == '#')
            continue;
        colon = strchr(line, ':');
        if (!colon) {
            snprintf(err, errlen, "%s:%d: not NAME:HASH", path, lineno);
            goto out;
        }
        *colon = 0;
        if (!cw_admin_name_valid(line) || strncmp(colon + 1, "$y$", 3) ||
            strlen(colon + 1) >= ADMIN_HASH_MAX) {
            snprintf(err, errlen, "%s:%d: not NAME:HASH (a name of letters, digits, '.', '_', "
                     "'-' and a yescrypt hash; make lines with causeway admin user add)", path,
                     lineno);
            goto out;
        }
        if (fn(line, colon + 1, arg) < 0) {
            snprintf(err, errlen, "%s:%d: out of memory", path, lineno);
            goto out;
        }
    }
    rc = 0;
out:
    memset(line, 0, sizeof(line));
    fclose(f);
    return rc;
}

struct put_ctx {
    FILE *out;
    const char *name, *hash;
    int found;
};

static int put_line(const char *name, const char *hash, void *arg)
{
    struct put_ctx *p = arg;

    if (!strcmp(name, p->name)) {
        p->found = 1;
        if (p->hash)
            fprintf(p->out, "%s:%s\n", name, p->hash);
        return 0;
    }
    fprintf(p->out, "%s:%s\n", name, hash);
    return 0;
}

int cw_admin_users_put(const char *path, const char *name, const char *hash, char *err,
                       size_t errlen)
{
    char tmp[1100];
    struct put_ctx p = { .name = name, .hash = hash };
    int fd = -1, rc = -1;

    if (!cw_admin_name_valid(name)) {
        snprintf(err, errlen, "\"%s\" is not an account name (1 to %d letters, digits, '.', '_', "
                 "'-')", name, ADMIN_NAME_MAX);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(p.out = fdopen(fd, "w"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    {
        struct stat st;
        /* An existing file keeps its owner: root editing the daemon's
         * accounts must not make them unreadable to the daemon. */
        if (stat(path, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) {
            snprintf(err, errlen, "cannot give %s the owner of %s: %s", tmp, path, strerror(errno));
            goto out;
        }
    }
    if (access(path, F_OK) == 0 && admin__users_read(path, 0, put_line, &p, err, errlen) < 0)
        goto out;
    if (!p.found && hash)
        fprintf(p.out, "%s:%s\n", name, hash);
    if (fflush(p.out) || fsync(fileno(p.out))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (!p.found && !hash) {
        rc = 1;
        goto out;
    }
    /* rename() replaces the file whole: a daemon reading it meanwhile sees
     * the old accounts or the new ones, never half. */
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    fclose(p.out);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

struct list_ctx {
    void (*fn)(const char *name, void *arg);
    void *arg;
};

static int list_line(const char *name, const char *hash, void *arg)
{
    struct list_ctx *l = arg;

    (void)hash;
    l->fn(name, l->arg);
    return 0;
}

int cw_admin_users_list(const char *path, void (*fn)(const char *name, void *arg), void *arg,
                        char *err, size_t errlen)
{
    struct list_ctx l = { fn, arg };

    return admin__users_read(path, 0, list_line, &l, err, errlen);
}
