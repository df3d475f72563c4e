/* test.h - the unit test framework: TEST() registers a case, CHECK*() fail it.
 * The runner (runner.c) runs each case in its own process with a timeout. */
#ifndef CW_TEST_H
#define CW_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*cw_test_fn)(void);

/* fixture.c: a private temporary directory for this test (removed at exit,
 * SIGPIPE ignored), and the end of a passing test that used one (removes
 * it, runs LeakSanitizer's check under ASan). */
const char *cw_test_tmpdir(const char *tag);
void cw_test_done(void);
void cw_test_register(const char *name, const char *file, cw_test_fn fn);

#define TEST(name)                                                          \
    static void test_##name(void);                                          \
    __attribute__((constructor)) static void test_reg_##name(void)          \
    {                                                                       \
        cw_test_register(#name, __FILE__, test_##name);                     \
    }                                                                       \
    static void test_##name(void)

#define FAIL(...)                                                           \
    do {                                                                    \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                \
        exit(1);                                                            \
    } while (0)

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond))                                                        \
            FAIL("check failed: %s", #cond);                                \
    } while (0)

#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                 \
        if (a_ != b_)                                                       \
            FAIL("check failed: %s == %s (%lld != %lld)", #a, #b, a_, b_);  \
    } while (0)

#define CHECK_STR(a, b)                                                     \
    do {                                                                    \
        const char *a_ = (a), *b_ = (b);                                    \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                              \
            FAIL("check failed: %s == %s (\"%s\" != \"%s\")", #a, #b,       \
                 a_ ? a_ : "(null)", b_ ? b_ : "(null)");                   \
    } while (0)

#define CHECK_MEM(a, b, n)                                                  \
    do {                                                                    \
        if (memcmp((a), (b), (n)) != 0)                                     \
            FAIL("check failed: memcmp(%s, %s, %s)", #a, #b, #n);           \
    } while (0)

#endif
