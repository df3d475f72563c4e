/* fuzz_admin.c - libFuzzer harness for the admin server's parsers of
 * untrusted input (admin/form.c): form bodies, the Cookie header and
 * Authorization: Basic.
 *
 * The first byte picks the field or cookie name asked for (value % 4); the
 * rest is the input, given to all three parsers. Besides never reading out
 * of bounds, the results must keep their promises: a value found fits its
 * buffer, is NUL-terminated at the returned length and holds no control
 * byte; Basic gives a non-empty user without ':'. */
#include "admin/admin_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "user", "password", "csrf", "args" };

static void check_text(const char *v, int n, size_t cap, int cookie)
{
    if (n < 0)
        return;
    if ((size_t)n >= cap || strlen(v) != (size_t)n)
        abort();
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || (cookie && (c == ';' || c == ' ' || c == ',')))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char v[64], u[ADMIN_NAME_MAX + 1], p[ADMIN_PASS_MAX];
    const char *in;
    int n;

    if (size < 1)
        return 0;
    in = (const char *)data + 1;
    size--;
    n = admin__form_get(in, size, names[data[0] % 4], v, sizeof(v));
    if (n < ADMIN_BAD)
        abort();
    check_text(v, n, sizeof(v), 0);
    n = admin__cookie_get(in, size, "cw_session", v, sizeof(v));
    if (n < ADMIN_BAD)
        abort();
    check_text(v, n, sizeof(v), 1);
    n = admin__basic_decode(in, size, u, sizeof(u), p, sizeof(p));
    if (n == 0) {
        check_text(u, (int)strlen(u), sizeof(u), 0);
        check_text(p, (int)strlen(p), sizeof(p), 0);
        if (!u[0] || strchr(u, ':'))
            abort();
    } else if (n != ADMIN_ABSENT && n != ADMIN_BAD) {
        abort();
    }
    return 0;
}
