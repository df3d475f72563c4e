/* policy.c - the TURN peer policy: which addresses an allocation may relay to.
 *
 * The order of a check (see policy.h for the why):
 *   1. the never-allowed ranges (loopback, unspecified, 0/8, link-local,
 *      multicast, broadcast, 240/4; for IPv6 also the deprecated site-local
 *      fec0::/10). unsafe loopback lets only the loopback ranges through.
 *   2. an IPv6 address that embeds an IPv4 one (mapped, compatible, NAT64,
 *      6to4, Teredo) gets the whole IPv4 check for the embedded address, with
 *      the form named in the phrase ("IPv4-mapped loopback").
 *   3. the edge's own addresses (address only, never the port).
 *   4. inside networks, unless an allow entry covers the peer.
 * Allow entries are consulted in step 4 only, so they can never open 1-3.
 * The lists are short (a few dozen entries), so they are plain arrays. */
#include "turn/policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pol_net {
    uint8_t v6;          /* 0: IPv4 (addr[0..3]), 1: IPv6 */
    uint8_t plen;
    uint8_t addr[16];
};

struct pol_list {
    struct pol_net *v;
    size_t n, cap;
};

struct turn_policy {
    struct pol_list inside, allow, own;
    int unsafe_loopback;
};

static const char *const default_inside[] = {
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
};

/* ---- lists and CIDR text -------------------------------------------------- */

static int list_add(struct pol_list *l, const struct pol_net *net)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct pol_net *v = realloc(l->v, cap * sizeof(*v));

        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *net;
    return 0;
}

/* Whether the first plen bits of a and b agree. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned plen)
{
    unsigned whole = plen / 8, rest = plen % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));

        if ((a[whole] ^ b[whole]) & mask)
            return 0;
    }
    return 1;
}

static int list_match(const struct pol_list *l, int v6, const uint8_t *addr)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i].v6 == v6 && prefix_eq(l->v[i].addr, addr, l->v[i].plen))
            return 1;
    return 0;
}

/* An IPv4-mapped entry (::ffff:a.b.c.d/96..128) is stored as the IPv4 net
 * it means, so "::ffff:10.0.0.0/104" and "10.0.0.0/8" are the same thing. */
static void net_normalize(struct pol_net *n)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (n->v6 && n->plen >= 96 && memcmp(n->addr, mapped, 12) == 0) {
        memmove(n->addr, n->addr + 12, 4);
        memset(n->addr + 4, 0, 12);
        n->v6 = 0;
        n->plen = (uint8_t)(n->plen - 96);
    }
}

/* Parses "a.b.c.d[/n]" or "x::y[/n]". A bare address is a host route. The
 * prefix length is 0..32 or 0..128 in plain decimal; host bits past the
 * prefix must be zero ("10.1.0.0/8" is refused as a probable typo rather
 * than silently widened or narrowed). */
static int cidr_parse(const char *text, struct pol_net *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash;
    size_t alen;
    unsigned plen = 0, max, i;
    int digits = 0;

    if (!text)
        return -1;
    slash = strchr(text, '/');
    alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    out->v6 = memchr(addr, ':', alen) != NULL;
    if (inet_pton(out->v6 ? AF_INET6 : AF_INET, addr, out->addr) != 1)
        return -1;
    max = out->v6 ? 128 : 32;
    if (slash) {
        const char *p;

        for (p = slash + 1; *p; p++) {
            if (*p < '0' || *p > '9' || ++digits > 3)
                return -1;
            plen = plen * 10 + (unsigned)(*p - '0');
        }
        if (digits == 0 || plen > max)
            return -1;
    } else {
        plen = max;
    }
    out->plen = (uint8_t)plen;
    for (i = plen; i < max; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    net_normalize(out);
    return 0;
}

/* ---- lifecycle and configuration --------------------------------------- */

struct turn_policy *turn_policy_create(void)
{
    struct turn_policy *p = calloc(1, sizeof(*p));
    size_t i;

    if (!p)
        return NULL;
    for (i = 0; i < sizeof(default_inside) / sizeof(default_inside[0]); i++) {
        if (turn_policy_add_inside(p, default_inside[i]) < 0) {
            turn_policy_destroy(p);
            return NULL;
        }
    }
    return p;
}

void turn_policy_destroy(struct turn_policy *p)
{
    if (!p)
        return;
    free(p->inside.v);
    free(p->allow.v);
    free(p->own.v);
    free(p);
}

/* Fills a host route from a sockaddr; -1 for another family. */
static int net_from_sa(const struct sockaddr *sa, struct pol_net *out)
{
    memset(out, 0, sizeof(*out));
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET) {
        memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        out->plen = 32;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        out->v6 = 1;
        out->plen = 128;
        net_normalize(out);
    } else {
        return -1;
    }
    return 0;
}

int turn_policy_add_own(struct turn_policy *p, const struct sockaddr *sa)
{
    struct pol_net net;

    if (!p || net_from_sa(sa, &net) < 0)
        return -1;
    if (list_match(&p->own, net.v6, net.addr))
        return 0; /* already there: a re-scan of the interfaces adds nothing */
    return list_add(&p->own, &net);
}

int turn_policy_add_own_interfaces(struct turn_policy *p)
{
    struct ifaddrs *ifa, *i;
    int rc = 0;

    if (!p || getifaddrs(&ifa) < 0)
        return -1;
    for (i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        if (turn_policy_add_own(p, i->ifa_addr) < 0)
            rc = -1;
    }
    freeifaddrs(ifa);
    return rc;
}

int turn_policy_add_inside(struct turn_policy *p, const char *cidr)
{
    struct pol_net net;

    if (!p || cidr_parse(cidr, &net) < 0)
        return -1;
    return list_add(&p->inside, &net);
}

int turn_policy_add_allow(struct turn_policy *p, const char *cidr)
{
    struct pol_net net;

    if (!p || cidr_parse(cidr, &net) < 0)
        return -1;
    return list_add(&p->allow, &net);
}

void turn_policy_clear_inside(struct turn_policy *p)
{
    if (p)
        p->inside.n = 0;
}

void turn_policy_set_unsafe_loopback(struct turn_policy *p, int on)
{
    if (p)
        p->unsafe_loopback = !!on;
}

/* ---- the check -------------------------------------------------------------- */

/* How an IPv4 address reached the check; indexes the phrase table. */
enum v4_form { F_PLAIN, F_MAPPED, F_COMPAT, F_NAT64, F_6TO4, F_TEREDO, F_N };

enum v4_why {
    W_LOOPBACK, W_UNSPEC, W_THISNET, W_LINKLOCAL, W_MULTICAST, W_BROADCAST, W_RESERVED,
    W_OWN, W_INSIDE, W_N
};

/* *why must be a static string, so every (form, reason) pair is spelled out. */
#define PHRASES(f)                                                              \
    {                                                                           \
        f "loopback", f "unspecified", f "this network",                        \
        f "link-local", f "multicast", f "broadcast", f "reserved",             \
        f "own address", f "inside network"                                     \
    }

static const char *const v4_phrase[F_N][W_N] = {
    PHRASES(""),           PHRASES("IPv4-mapped "), PHRASES("IPv4-compatible "),
    PHRASES("NAT64 "),     PHRASES("6to4 "),        PHRASES("Teredo "),
};

/* Result of a check step: deny (with a phrase), pass to the next step, or
 * allow at once (unsafe loopback). */
enum verdict { V_DENY = -1, V_NEXT = 0, V_ALLOW = 1 };

/* Steps 1, 3 and 4 for an IPv4 address a[4] reached in form. An embedded
 * address that passes returns V_NEXT so the IPv6 steps still run. */
static enum verdict check_v4(const struct turn_policy *p, const uint8_t *a, enum v4_form form,
                             const char **why)
{
    int w = -1;

    if (a[0] == 127) {
        if (p->unsafe_loopback)
            return V_ALLOW;
        w = W_LOOPBACK;
    } else if (a[0] == 0) {
        w = (a[1] | a[2] | a[3]) ? W_THISNET : W_UNSPEC;
    } else if (a[0] == 169 && a[1] == 254) {
        w = W_LINKLOCAL;
    } else if ((a[0] & 0xf0) == 224) {
        w = W_MULTICAST;
    } else if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) {
        w = W_BROADCAST;
    } else if ((a[0] & 0xf0) == 240) {
        w = W_RESERVED;
    } else if (list_match(&p->own, 0, a)) {
        w = W_OWN;
    } else if (list_match(&p->inside, 0, a) && !list_match(&p->allow, 0, a)) {
        w = W_INSIDE;
    }
    if (w < 0)
        return V_NEXT;
    *why = v4_phrase[form][w];
    return V_DENY;
}

/* Finds an IPv4 address embedded in a (16 bytes); returns its form and
 * copies it to v4, or returns F_PLAIN when there is none. */
static enum v4_form v6_embedded(const uint8_t *a, uint8_t v4[4])
{
    static const uint8_t zero[12];
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };       /* RFC 6052 */
    static const uint8_t nat64_local[6] = { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }; /* RFC 8215 */
    int i;

    if (memcmp(a, mapped, 12) == 0) {
        memcpy(v4, a + 12, 4);
        return F_MAPPED;
    }
    if (memcmp(a, zero, 12) == 0) { /* :: and ::1 were handled before */
        memcpy(v4, a + 12, 4);
        return F_COMPAT;
    }
    if (memcmp(a, nat64, 12) == 0 || memcmp(a, nat64_local, 6) == 0) {
        memcpy(v4, a + 12, 4);
        return F_NAT64;
    }
    if (a[0] == 0x20 && a[1] == 0x02) { /* RFC 3056 2: 2002:V4ADDR::/48 */
        memcpy(v4, a + 2, 4);
        return F_6TO4;
    }
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
        /* RFC 4380 4: the client's address is the last 32 bits, inverted */
        for (i = 0; i < 4; i++)
            v4[i] = (uint8_t)~a[12 + i];
        return F_TEREDO;
    }
    return F_PLAIN;
}

static enum verdict check_v6(const struct turn_policy *p, const uint8_t *a, const char **why)
{
    static const uint8_t zero[16];
    static const uint8_t one[16] = { [15] = 1 };
    enum v4_form form;
    enum verdict v;
    uint8_t v4[4];

    if (memcmp(a, one, 16) == 0) {
        if (p->unsafe_loopback)
            return V_ALLOW;
        *why = "loopback";
        return V_DENY;
    }
    if (memcmp(a, zero, 16) == 0) {
        *why = "unspecified";
        return V_DENY;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        *why = "link-local";
        return V_DENY;
    }
    if (a[0] == 0xff) {
        *why = "multicast";
        return V_DENY;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) { /* RFC 3879: deprecated */
        *why = "site-local";
        return V_DENY;
    }
    form = v6_embedded(a, v4);
    if (form != F_PLAIN) {
        v = check_v4(p, v4, form, why);
        if (v != V_NEXT)
            return v;
    }
    if (list_match(&p->own, 1, a)) {
        *why = "own address";
        return V_DENY;
    }
    if (list_match(&p->inside, 1, a) && !list_match(&p->allow, 1, a)) {
        *why = "inside network";
        return V_DENY;
    }
    return V_NEXT;
}

int turn_policy_check(const struct turn_policy *p, const struct sockaddr *peer,
                      const char **why)
{
    const char *dummy;
    enum verdict v;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!p || !peer) {
        *why = "no address";
        return -1;
    }
    if (peer->sa_family == AF_INET)
        v = check_v4(p, (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr,
                     F_PLAIN, why);
    else if (peer->sa_family == AF_INET6)
        v = check_v6(p, ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr, why);
    else {
        *why = "unsupported address family";
        return -1;
    }
    return v == V_DENY ? -1 : 0;
}
