/* sshkey.c - private directories and ed25519 key pairs made by ssh-keygen. */
#include "sshkey.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SSHKEY_B64_MAX 512

int cw_mkdirs(const char *dir, char *err, size_t errlen)
{
    char p[1024];

    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
        return -1;
    }
    if (chmod(p, 0700) < 0) {
        snprintf(err, errlen, "cannot chmod %s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

int cw_sshkey_make(const char *path, const char *comment, char *err, size_t errlen)
{
    pid_t pid;
    int st;

    if (access(path, F_OK) == 0)
        return 0;
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        execlp("ssh-keygen", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
               "-f", path, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, errlen, "ssh-keygen could not make the key %s (is openssh-client "
                 "installed?)", path);
        return -1;
    }
    return 1;
}

void cw_sshkey_fp_format(const unsigned char sha256[32], char out[CW_SSHKEY_FP_LEN])
{
    unsigned char enc[48];
    int n = EVP_EncodeBlock(enc, sha256, 32);       /* 44 with one '=' */

    while (n > 0 && enc[n - 1] == '=')
        n--;
    snprintf(out, CW_SSHKEY_FP_LEN, "SHA256:%.*s", n, (const char *)enc);
}

/* The key blob of base64 text b64; its length, or -1. */
static int key_blob(const char *b64, size_t len, unsigned char *out, size_t cap)
{
    int n;

    if (len == 0 || len % 4 || len / 4 * 3 > cap)
        return -1;
    n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return -1;
    if (len >= 1 && b64[len - 1] == '=')
        n--;
    if (len >= 2 && b64[len - 2] == '=')
        n--;
    return n;
}

/* The key blob starts with its own type name as an SSH string. */
static int blob_has_type(const unsigned char *blob, int n, const char *type)
{
    size_t tl = strlen(type);

    return n >= 4 && (size_t)n >= 4 + tl && blob[0] == 0 && blob[1] == 0 &&
           ((size_t)blob[2] << 8 | blob[3]) == tl && memcmp(blob + 4, type, tl) == 0;
}

int cw_sshkey_fingerprint(const char *line, char out[CW_SSHKEY_FP_LEN])
{
    unsigned char blob[SSHKEY_B64_MAX], md[32];
    const char *p = line, *b;
    size_t tl, bl;
    int n;

    while (*p == ' ')
        p++;
    tl = strcspn(p, " ");
    b = p + tl;
    while (*b == ' ')
        b++;
    bl = strcspn(b, " \n");
    if (!tl || (n = key_blob(b, bl, blob, sizeof(blob))) < 0)
        return -1;
    {
        char type[64];
        if (tl >= sizeof(type))
            return -1;
        memcpy(type, p, tl);
        type[tl] = 0;
        if (!blob_has_type(blob, n, type))
            return -1;
    }
    if (EVP_Digest(blob, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
        return -1;
    cw_sshkey_fp_format(md, out);
    return 0;
}

int cw_sshkey_read_pub(const char *pub_path, char *out, size_t len)
{
    FILE *f = fopen(pub_path, "re");
    int ok;

    if (!f)
        return -1;
    ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int cw_sshkey_file_fingerprint(const char *pub_path, char out[CW_SSHKEY_FP_LEN])
{
    char line[1024];

    if (cw_sshkey_read_pub(pub_path, line, sizeof(line)) < 0)
        return -1;
    return cw_sshkey_fingerprint(line, out);
}
