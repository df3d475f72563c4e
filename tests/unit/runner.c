/* runner.c - runs every registered unit test in its own process with a
 * timeout, prints TAP-like lines and ends with "N passed, N failed".
 * Usage: unit [name-substring] */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 1024
#define TIMEOUT_S 30

static struct {
    const char *name, *file;
    cw_test_fn fn;
} tests[MAX_TESTS];
static int ntests;

void cw_test_register(const char *name, const char *file, cw_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "runner: more than %d tests\n", MAX_TESTS);
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].file = file;
    tests[ntests].fn = fn;
    ntests++;
}

static int run_one(int i)
{
    pid_t pid;
    int st;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        alarm(TIMEOUT_S);
        tests[i].fn();
        fflush(NULL);
        exit(0);    /* not _exit: LeakSanitizer checks at exit */
    }
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st) == 0 ? 0 : -1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "  %s: killed by signal %d%s\n", tests[i].name, WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    return -1;
}

int main(int argc, char **argv)
{
    int i, n = 0, passed = 0, failed = 0;

    for (i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        n++;
        if (run_one(i) == 0) {
            passed++;
            printf("ok %d - %s\n", n, tests[i].name);
        } else {
            failed++;
            printf("not ok %d - %s (%s)\n", n, tests[i].name, tests[i].file);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
