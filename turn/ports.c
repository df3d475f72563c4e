/* ports.c - the relay port range: every port is free, taken or reserved, and
 * a reservation (EVEN-PORT R=1) that is never redeemed returns to free when
 * it expires, so the whole range stays usable. */
#include "turn/turn_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

enum { PORT_FREE = 0, PORT_TAKEN = 1, PORT_RESERVED = 2 };

int turn__ports_init(struct turn_ports *p, uint16_t lo, uint16_t hi)
{
    uint32_t r = 0;

    memset(p, 0, sizeof(*p));
    p->lo = lo;
    p->hi = hi;
    p->state = calloc((size_t)(hi - lo) + 1, 1);
    if (!p->state)
        return -1;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    p->cursor = r % ((uint32_t)(hi - lo) + 1);
    return 0;
}

void turn__ports_free(struct turn_ports *p)
{
    while (p->resv) {
        struct turn_resv *r = p->resv;
        p->resv = r->next;
        free(r);
    }
    free(p->state);
    p->state = NULL;
}

int turn__ports_take(struct turn_ports *p, int even, int pair)
{
    uint32_t n = (uint32_t)(p->hi - p->lo) + 1;

    if (!p->state || p->used >= n)
        return -1;
    /* Walk on from a cursor so that a just-released port is not handed out
     * again at once (stray packets of the old allocation). */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = (p->cursor + i) % n;
        uint32_t port = p->lo + idx;

        if (p->state[idx] != PORT_FREE)
            continue;
        if (even && (port & 1))
            continue;
        if (pair && (port + 1 > p->hi || p->state[idx + 1] != PORT_FREE))
            continue;
        p->state[idx] = PORT_TAKEN;
        p->used++;
        p->cursor = (idx + 1 + (pair ? 1 : 0)) % n;
        return (int)port;
    }
    return -1;
}

void turn__ports_release(struct turn_ports *p, uint16_t port)
{
    if (!p->state || port < p->lo || port > p->hi)
        return;
    if (p->state[port - p->lo] != PORT_FREE) {
        p->state[port - p->lo] = PORT_FREE;
        p->used--;
    }
}

void turn__ports_reserve(struct turn_ports *p, uint16_t port, uint64_t now, uint8_t token[8])
{
    struct turn_resv *r;

    if (port < p->lo || port > p->hi || p->state[port - p->lo] != PORT_FREE)
        return;
    r = calloc(1, sizeof(*r));
    if (!r)
        return;
    RAND_bytes(r->token, sizeof(r->token));
    memcpy(token, r->token, sizeof(r->token));
    r->port = port;
    r->expires = now + TURN_RESERVATION_S * 1000ull;
    r->next = p->resv;
    p->resv = r;
    p->state[port - p->lo] = PORT_RESERVED;
    p->used++;
}

int turn__ports_redeem(struct turn_ports *p, const uint8_t token[8])
{
    for (struct turn_resv **pp = &p->resv; *pp; pp = &(*pp)->next) {
        struct turn_resv *r = *pp;
        if (turn_memeq_ct(r->token, token, sizeof(r->token)) == 0) {
            int port = r->port;
            *pp = r->next;
            free(r);
            p->state[port - p->lo] = PORT_TAKEN;
            return port;
        }
    }
    return -1;
}

void turn__ports_sweep(struct turn_ports *p, uint64_t now)
{
    struct turn_resv **pp = &p->resv;

    while (*pp) {
        struct turn_resv *r = *pp;
        if (r->expires <= now) {
            *pp = r->next;
            turn__ports_release(p, r->port);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}
