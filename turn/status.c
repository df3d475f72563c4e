/* status.c - the text of `causeway turn status` and `causeway turn list`. */
#include "turn/turn_int.h"

#include "common/addr.h"

#include <inttypes.h>
#include <string.h>

void turn__status(const struct turn_options *o, struct turn_shared *sh,
                  const struct turn_stats *st, const unsigned *allocs_per_worker,
                  unsigned nworkers, struct cw_sb *out)
{
    char buf[CW_ADDR_STRLEN];
    unsigned nusers = 0;

    cw_sb_printf(out, "TURN server\n  Listening:");
    for (int i = 0; i < o->nlisten; i++)
        cw_sb_printf(out, " %s (udp, tcp)",
                     cw_addr_fmt((struct sockaddr *)&o->listen[i], buf, sizeof(buf), 1));
    for (int i = 0; i < o->ntls_listen; i++)
        cw_sb_printf(out, " %s (tls)",
                     cw_addr_fmt((struct sockaddr *)&o->tls_listen[i], buf, sizeof(buf), 1));
    cw_sb_printf(out, "\n  Relay addresses:");
    if (o->has_relay4)
        cw_sb_printf(out, " %s", cw_addr_fmt((struct sockaddr *)&o->relay4, buf, sizeof(buf), 0));
    if (o->has_relay6)
        cw_sb_printf(out, " %s", cw_addr_fmt((struct sockaddr *)&o->relay6, buf, sizeof(buf), 0));
    turn__lock(sh);
    cw_sb_printf(out, ", ports %u-%u (%u in use)\n", o->port_min, o->port_max,
                 sh->ports4.used + sh->ports6.used);
    cw_sb_printf(out, "  Realm: %s; credentials:%s%s\n", o->realm,
                 o->userdb_path ? " local users" : "", sh->rest_secret_len ? " REST secret" : "");
    turn__unlock(sh);
    if (o->has_public4 || o->has_public6) {
        cw_sb_printf(out, "  Advertised (static NAT):");
        if (o->has_public4)
            cw_sb_printf(out, " %s", cw_addr_fmt((struct sockaddr *)&o->public4, buf, sizeof(buf), 0));
        if (o->has_public6)
            cw_sb_printf(out, " %s", cw_addr_fmt((struct sockaddr *)&o->public6, buf, sizeof(buf), 0));
        cw_sb_printf(out, "\n");
    }
    cw_sb_printf(out, "  Workers: %u (allocations:", nworkers);
    for (unsigned i = 0; i < nworkers; i++)
        cw_sb_printf(out, " %u", allocs_per_worker[i]);
    cw_sb_printf(out, ")\n");
    cw_sb_printf(out, "  Active clients: %" PRIu64 " (udp %" PRIu64 ", tcp %" PRIu64
                 ", tls %" PRIu64 ")\n",
                 st->allocs_by_proto[TURN_UDP] + st->clients_tcp + st->clients_tls,
                 st->allocs_by_proto[TURN_UDP], st->clients_tcp, st->clients_tls);
    cw_sb_printf(out, "  Active relays: %" PRIu64 " (udp clients %" PRIu64 ", tcp clients %"
                 PRIu64 ", tls clients %" PRIu64 "), max %u\n", st->allocs_active,
                 st->allocs_by_proto[TURN_UDP], st->allocs_by_proto[TURN_TCP],
                 st->allocs_by_proto[TURN_TLS], o->max_allocations);
    cw_sb_printf(out, "  Permissions: %" PRIu64 ", channels: %" PRIu64 "\n", st->perms_active,
                 st->chans_active);
    cw_sb_printf(out, "  Relayed: %" PRIu64 " packets / %" PRIu64 " bytes to peers, %" PRIu64
                 " packets / %" PRIu64 " bytes to clients\n", st->pkts_to_peer,
                 st->bytes_to_peer, st->pkts_to_client, st->bytes_to_client);
    cw_sb_printf(out, "  Allocations per user:\n");
    turn__lock(sh);
    for (unsigned i = 0; i < 256; i++)
        for (struct turn_ucount *u = sh->ucounts[i]; u; u = u->next) {
            cw_sb_printf(out, "    %-32s %u\n", u->name, u->n);
            nusers++;
        }
    turn__unlock(sh);
    if (!nusers)
        cw_sb_printf(out, "    (none)\n");
    cw_sb_printf(out, "  Errors: auth failures %" PRIu64 ", rate-limited %" PRIu64
                 ", stale nonces %" PRIu64 ", peers refused %" PRIu64 ", quota %" PRIu64
                 ", capacity %" PRIu64 ", malformed %" PRIu64 ", dropped %" PRIu64 "\n",
                 st->auth_failures, st->auth_ratelimited, st->stale_nonces, st->peer_denied,
                 st->quota_rejects, st->capacity_rejects, st->malformed, st->dropped);
}

void turn__list(struct turn_server *s, struct cw_sb *out)
{
    char cb[CW_ADDR_STRLEN], rb[CW_ADDR_STRLEN];
    uint64_t now = turn__now(s);

    for (struct turn_alloc *a = s->allocs; a; a = a->next)
        cw_sb_printf(out, "%-24s %-5s %-28s %-22s %6" PRIu64 " %5u %5u %10" PRIu64 " %10" PRIu64 "\n",
                     a->user->name,
                     a->client.proto == TURN_TLS ? "tls" : a->client.proto == TURN_TCP ? "tcp" : "udp",
                     cw_addr_fmt(&a->client.addr.sa, cb, sizeof(cb), 1),
                     cw_addr_fmt(&a->relay.sa, rb, sizeof(rb), 1),
                     a->expires > now ? (a->expires - now) / 1000 : 0, a->nperms, a->nchans,
                     a->pkts_to_peer, a->pkts_to_client);
}
