/* fixture.c - what several unit tests share: a private temporary directory,
 * and the end of a passing test (the runner's _exit() skips atexit
 * handlers and LeakSanitizer's exit-time check). */
#include "tests/unit/test.h"

#include <signal.h>
#include <stdlib.h>

static char dir[64];

static void tmpdir_remove(void)
{
    char cmd[128];

    if (dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = 0;
    }
}

const char *cw_test_tmpdir(const char *tag)
{
    signal(SIGPIPE, SIG_IGN);   /* libuv and OpenSSL write() to sockets */
    snprintf(dir, sizeof(dir), "/tmp/cw-test-%s-XXXXXX", tag);
    CHECK(mkdtemp(dir) != NULL);
    atexit(tmpdir_remove);      /* for FAIL(), which exit()s */
    return dir;
}

extern void __lsan_do_leak_check(void) __attribute__((weak));

void cw_test_done(void)
{
    tmpdir_remove();
    if (__lsan_do_leak_check)
        __lsan_do_leak_check();
}
