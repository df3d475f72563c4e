/* sshkey.h - key files for the SSH tunnels: private directories and ed25519
 * keys made with OpenSSH's ssh-keygen (the edge's host key, a core's key). */
#ifndef CW_SSHKEY_H
#define CW_SSHKEY_H
#include <stddef.h>

/* Creates dir and its parents; dir itself ends up mode 0700. 0 or -1 with a
 * message in err. */
int cw_mkdirs(const char *dir, char *err, size_t errlen);
/* Makes an ed25519 key pair at path and path.pub (no passphrase, comment in
 * the public line) unless path exists. 1 if made, 0 if it was there, -1
 * with a message in err. */
int cw_sshkey_make(const char *path, const char *comment, char *err, size_t errlen);
#define CW_SSHKEY_FP_LEN 51         /* "SHA256:" + 43 base64 characters + NUL */
/* "SHA256:..." of the key in an OpenSSH public key line ("TYPE BASE64
 * [comment]"), as `ssh-keygen -l` prints it; -1 if the line holds no such
 * key. */
int cw_sshkey_fingerprint(const char *line, char out[CW_SSHKEY_FP_LEN]);
/* The first line of a public key file (path.pub), without its newline;
 * -1 if it cannot be read. */
int cw_sshkey_read_pub(const char *pub_path, char *out, size_t len);
/* cw_sshkey_fingerprint of that line; -1 if unreadable or not a key. */
int cw_sshkey_file_fingerprint(const char *pub_path, char out[CW_SSHKEY_FP_LEN]);
/* The same text for a SHA-256 digest of a key blob. */
void cw_sshkey_fp_format(const unsigned char sha256[32], char out[CW_SSHKEY_FP_LEN]);
#endif
