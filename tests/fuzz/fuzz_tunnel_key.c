/* fuzz_tunnel_key.c - libFuzzer harness for the OpenSSH public key line
 * parser behind `causeway tunnel trust` (cw_sshkey_fingerprint): any bytes, as
 * one line, must give a fingerprint or -1, never a crash or an overread. */
#include "common/sshkey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1), fp[CW_SSHKEY_FP_LEN];

    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = 0;
    if (cw_sshkey_fingerprint(line, fp) == 0 && strncmp(fp, "SHA256:", 7) != 0)
        __builtin_trap();
    free(line);
    return 0;
}
