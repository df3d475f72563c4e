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

/* ---- the status document (admin pages and API, `causeway status`) ---------- */

static const char *proto_name(int proto)
{
    return proto == TURN_TLS ? "tls" : proto == TURN_TCP ? "tcp" : "udp";
}

/* "A4, A6" of the addresses set: l emptied first. */
static const char *addr_pair(struct cw_sb *l, int has4, const struct sockaddr_storage *a4,
                             int has6, const struct sockaddr_storage *a6)
{
    char buf[CW_ADDR_STRLEN];

    cw_sb_clear(l);
    if (has4)
        cw_sb_str_add(l, cw_addr_fmt((const struct sockaddr *)a4, buf, sizeof(buf), 0));
    if (has6)
        cw_sb_printf(l, "%s%s", l->len ? ", " : "",
                     cw_addr_fmt((const struct sockaddr *)a6, buf, sizeof(buf), 0));
    return cw_sb_str(l);
}

void turn__report(const struct turn_options *o, struct turn_shared *sh, const struct turn_stats *st,
                  struct cw_report *r)
{
    char buf[CW_ADDR_STRLEN];
    struct cw_sb l;

    cw_sb_init(&l);
    cw_report_section(r, "turn", "TURN server", CW_REPORT_OK);
    for (int i = 0; i < o->nlisten; i++)
        cw_sb_printf(&l, "%s%s (udp, tcp)", l.len ? ", " : "",
                     cw_addr_fmt((struct sockaddr *)&o->listen[i], buf, sizeof(buf), 1));
    for (int i = 0; i < o->ntls_listen; i++)
        cw_sb_printf(&l, "%s%s (tls)", l.len ? ", " : "",
                     cw_addr_fmt((struct sockaddr *)&o->tls_listen[i], buf, sizeof(buf), 1));
    cw_report_str(r, "listening", "Listening", cw_sb_str(&l));
    cw_report_str(r, "relay_addresses", "Relay addresses",
                  addr_pair(&l, o->has_relay4, &o->relay4, o->has_relay6, &o->relay6));
    cw_report_strf(r, "relay_ports", "Relay ports", "%u-%u", o->port_min, o->port_max);
    addr_pair(&l, o->has_public4, &o->public4, o->has_public6, &o->public6);
    cw_report_str(r, "advertised", "Advertised (static NAT)", l.len ? cw_sb_str(&l) : "-");
    cw_report_str(r, "realm", "Realm", o->realm);
    turn__lock(sh);
    cw_report_int(r, "ports_in_use", "Relay ports in use", sh->ports4.used + sh->ports6.used);
    cw_report_bool(r, "local_users", "Local users", o->userdb_path != NULL);
    cw_report_bool(r, "rest_secret", "REST secret", sh->rest_secret_len > 0);
    turn__unlock(sh);
    cw_report_int(r, "clients", "Active clients",
                  (int64_t)(st->allocs_by_proto[TURN_UDP] + st->clients_tcp + st->clients_tls));
    cw_report_int(r, "relays", "Active relays", (int64_t)st->allocs_active);
    cw_report_int(r, "relays_udp", "Relays for UDP clients", (int64_t)st->allocs_by_proto[TURN_UDP]);
    cw_report_int(r, "relays_tcp", "Relays for TCP clients", (int64_t)st->allocs_by_proto[TURN_TCP]);
    cw_report_int(r, "relays_tls", "Relays for TLS clients", (int64_t)st->allocs_by_proto[TURN_TLS]);
    cw_report_int(r, "max_allocations", "Most relays", o->max_allocations);
    cw_report_int(r, "permissions", "Permissions", (int64_t)st->perms_active);
    cw_report_int(r, "channels", "Channels", (int64_t)st->chans_active);
    cw_report_int(r, "pkts_to_peer", "Packets relayed to peers", (int64_t)st->pkts_to_peer);
    cw_report_int(r, "pkts_to_client", "Packets relayed to clients", (int64_t)st->pkts_to_client);
    cw_report_int(r, "auth_failures", "Failed authentications", (int64_t)st->auth_failures);
    cw_report_int(r, "peers_refused", "Peers refused by policy", (int64_t)st->peer_denied);
    cw_report_int(r, "quota_rejects", "Quota refusals (486)", (int64_t)st->quota_rejects);
    cw_report_int(r, "capacity_rejects", "Capacity refusals (508)", (int64_t)st->capacity_rejects);
    cw_report_int(r, "dropped", "Datagrams dropped", (int64_t)st->dropped);
    if (o->max_allocations && st->allocs_active >= o->max_allocations)
        cw_report_state(r, CW_REPORT_WARN);
    cw_report_table(r, "users", "Allocations per user", "user,allocations", "User,Allocations");
    turn__lock(sh);
    for (unsigned i = 0; i < 256; i++)
        for (struct turn_ucount *u = sh->ucounts[i]; u; u = u->next) {
            cw_report_row(r);
            cw_report_cell_str(r, u->name);
            cw_report_cell_int(r, u->n);
        }
    turn__unlock(sh);
    cw_sb_free(&l);
}

void turn__report_allocs(struct turn_server *s, struct cw_report *r)
{
    char cb[CW_ADDR_STRLEN], rb[CW_ADDR_STRLEN];
    uint64_t now = turn__now(s);

    for (struct turn_alloc *a = s->allocs; a; a = a->next) {
        cw_report_row(r);
        cw_report_cell_str(r, a->user->name);
        cw_report_cell_str(r, proto_name(a->client.proto));
        cw_report_cell_str(r, cw_addr_fmt(&a->client.addr.sa, cb, sizeof(cb), 1));
        cw_report_cell_str(r, cw_addr_fmt(&a->relay.sa, rb, sizeof(rb), 1));
        cw_report_cell_int(r, (int64_t)(a->expires > now ? (a->expires - now) / 1000 : 0));
        cw_report_cell_int(r, a->nperms);
        cw_report_cell_int(r, a->nchans);
        cw_report_cell_int(r, (int64_t)a->pkts_to_peer);
        cw_report_cell_int(r, (int64_t)a->pkts_to_client);
    }
}
