/* addr.c - socket address helpers (see addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cw_addr_parse(const char *s, int default_port, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port = NULL;
    size_t hl;
    long p = default_port;

    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end)
            return -1;
        hl = (size_t)(end - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return -1;
    } else {
        const char *c = strchr(s, ':');
        if (c && !strchr(c + 1, ':')) {      /* exactly one colon: v4:port */
            hl = (size_t)(c - s);
            port = c + 1;
        } else {
            hl = strlen(s);
        }
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s, hl);
        host[hl] = 0;
    }
    if (port) {
        char *end;
        if (default_port < 0 || !*port)
            return -1;
        p = strtol(port, &end, 10);
        if (*end || p < 0 || p > 65535)
            return -1;
    } else if (default_port == 0) {
        return -1;
    }
    if (p < 0)
        p = 0;
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        return 0;
    }
    return -1;
}

const char *cw_addr_fmt(const struct sockaddr *sa, char *buf, size_t len, int with_port)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        if (with_port)
            snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
        else
            snprintf(buf, len, "%s", host);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        if (with_port)
            snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
        else
            snprintf(buf, len, "%s", host);
    } else {
        snprintf(buf, len, "(family %d)", sa->sa_family);
    }
    return buf;
}

socklen_t cw_addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
}

uint16_t cw_addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void cw_addr_set_port(struct sockaddr *sa, uint16_t port)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    else if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

int cw_addr_equal(const struct sockaddr *a, const struct sockaddr *b, int with_port)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_addr.s_addr == y->sin_addr.s_addr &&
               (!with_port || x->sin_port == y->sin_port);
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
               (!with_port || x->sin6_port == y->sin6_port);
    }
    return 0;
}

uint32_t cw_addr_hash(const struct sockaddr *sa, uint32_t seed)
{
    const uint8_t *p;
    size_t n;
    uint32_t h = seed ^ 2166136261u;          /* FNV-1a, seeded */
    uint16_t port = cw_addr_port(sa);

    if (sa->sa_family == AF_INET) {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    } else {
        p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        n = 16;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h = (h ^ (port & 0xff)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
    return h ^ (h >> 15);
}

const char *cw_addr_bind_hint(const struct sockaddr *sa, int err)
{
    static _Thread_local char hint[200];
    unsigned first = 1024;
    FILE *f;

    if (err != EACCES && err != -EACCES)
        return "";
    /* The kernel's own line between privileged and not (per namespace). */
    if ((f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r"))) {
        if (fscanf(f, "%u", &first) != 1)
            first = 1024;
        fclose(f);
    }
    if (cw_addr_port(sa) >= first)
        return "";
    snprintf(hint, sizeof(hint), " (ports below %u need the capability CAP_NET_BIND_SERVICE: "
             "under systemd, AmbientCapabilities=CAP_NET_BIND_SERVICE)", first);
    return hint;
}
