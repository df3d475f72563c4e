/* dns.h - DNS lookups with c-ares on the libuv loop: A and AAAA of a name
 * against configured servers, with the records' TTL; SRV records in the
 * order RFC 2782 says to try them.
 *
 * One struct cw_dns per loop (a c-ares channel, its sockets polled by the
 * loop). Not thread-safe: every call on the loop's thread. Queries go to the
 * servers in the order given, never rotated: each try asks the first server,
 * then the next one on a timeout, SERVFAIL, REFUSED or an ICMP unreachable;
 * c-ares doubles the timeout after each round over all servers, so a lookup
 * that nobody answers fails after about
 *     nservers * timeout_ms * (2^tries - 1)
 * milliseconds. No search list, no /etc/hosts, no caching: every call asks
 * the servers (re-resolve on the TTL handed back). */
#ifndef CW_DNS_H
#define CW_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define CW_DNS_MAX_ADDRS 16
#define CW_DNS_DEFAULT_TIMEOUT_MS 2000
#define CW_DNS_DEFAULT_TRIES 2

struct cw_dns;
struct cw_dns_query;

struct cw_dns_result {
    /* The AAAA answers, then the A answers, each in the server's order, with
     * the port set to the one asked for. When both families have more than
     * fit, each keeps at least half of the slots. */
    struct sockaddr_storage addr[CW_DNS_MAX_ADDRS];
    int n;          /* >= 1 */
    /* Smallest TTL (seconds) among the records in addr (for a CNAME chain
     * c-ares folds the CNAMEs' TTL in). May be 0: callers that re-resolve
     * on it apply their own floor. */
    unsigned ttl;
};

enum {
    CW_DNS_OK = 0,
    CW_DNS_ENOTFOUND = -1,   /* NXDOMAIN: the name does not exist */
    CW_DNS_ENODATA = -2,     /* the name exists but has no A or AAAA record */
    CW_DNS_ETIMEOUT = -3,    /* no server answered in time */
    CW_DNS_ESERVFAIL = -4,   /* every server answered SERVFAIL, REFUSED or NOTIMP,
                              * or was unreachable (ICMP unreachable, no route) */
    CW_DNS_ECANCELLED = -5,  /* (internal: a cancelled query never calls back) */
    CW_DNS_EOTHER = -6,      /* malformed answer, FORMERR, out of memory */
    CW_DNS_ENOSERVICE = -7,  /* SRV: the one record's target is "." (RFC 2782:
                              * the service is decidedly not available) */
};

#define CW_DNS_MAX_SRV 32

struct cw_dns_srv {
    char target[254];           /* host name, no trailing dot */
    uint16_t port, priority, weight;
};

struct cw_dns_srv_result {
    struct cw_dns_srv srv[CW_DNS_MAX_SRV];   /* in the order to try them */
    int n;                                   /* >= 1 */
    unsigned ttl;
};

/* Creates a resolver on loop. servers: "addr[:port],..." (port 53 when
 * omitted; IPv6 as "2001:db8::1" or "[2001:db8::1]:5353"), tried in that
 * order; NULL or "" uses the nameservers of /etc/resolv.conf (its search and
 * domain lines are ignored). timeout_ms is the first try's timeout per
 * server, tries the number of rounds over all servers; 0 picks
 * CW_DNS_DEFAULT_TIMEOUT_MS / CW_DNS_DEFAULT_TRIES. Returns NULL with a
 * message in err when servers is malformed or c-ares cannot start. */
struct cw_dns *cw_dns_create(uv_loop_t *loop, const char *servers, unsigned timeout_ms,
                             unsigned tries, char *err, size_t errlen);
/* Cancels every pending query - their callbacks are not called, and the
 * query pointers become invalid at once - then closes the handles; the
 * memory is freed once they closed (the loop must run on). Safe from inside
 * a cw_dns_cb. d must not be used afterwards. */
void cw_dns_close(struct cw_dns *d);
/* "a, b, c": the addresses of r (NULL: none), with their port when
 * with_port is set; cut short to fit len. For log lines and findings. */
void cw_dns_result_text(const struct cw_dns_result *r, int with_port, char *buf, size_t len);

/* status is CW_DNS_OK with r (valid only during the call), or a negative
 * CW_DNS_E* with r NULL. */
typedef void (*cw_dns_cb)(void *arg, int status, const struct cw_dns_result *r);

/* Asks AAAA and A for name in parallel; cb runs once, from the loop (never
 * from inside cw_dns_resolve), when both are answered. CW_DNS_OK if either
 * family had addresses (the other family's failure is then ignored); else the
 * most telling of the two failures, in this order: ENOTFOUND, ENODATA,
 * ESERVFAIL, ETIMEOUT, EOTHER. name is a host name (letters, digits, '_',
 * and '-' inside labels; labels of 1-63, at most 253 characters, one
 * trailing dot allowed), not an address literal: parse those with
 * cw_addr_parse() instead.
 * Returns NULL if name is invalid, d is closing or memory ran out. The query
 * pointer is valid until its callback returns or it is cancelled. */
struct cw_dns_query *cw_dns_resolve(struct cw_dns *d, const char *name, uint16_t port,
                                    cw_dns_cb cb, void *arg);
/* status is CW_DNS_OK with r (valid only during the call), or a negative
 * CW_DNS_E* with r NULL (ENODATA: no SRV record, ENOSERVICE: "." target). */
typedef void (*cw_dns_srv_cb)(void *arg, int status, const struct cw_dns_srv_result *r);
/* Asks SRV for name ("_xmpp-server._tcp.example.com"); cb as for
 * cw_dns_resolve, with the records ordered as RFC 2782 says: by priority,
 * and within one priority in a weighted random order (weight-0 records
 * first, then each next chosen with a chance proportional to its weight).
 * The targets still need cw_dns_resolve. NULL as for cw_dns_resolve. */
struct cw_dns_query *cw_dns_srv(struct cw_dns *d, const char *name, cw_dns_srv_cb cb,
                                void *arg);
/* The RFC 2782 order of s[0..n-1], in place; rnd(arg) gives uniform 32-bit
 * numbers (exposed for tests; cw_dns_srv uses a random source). */
void cw_dns_srv_order(struct cw_dns_srv *s, int n, uint32_t (*rnd)(void *arg), void *arg);

/* The callback will not be called; q is invalid afterwards. Safe from inside
 * any cw_dns_cb, including q's own. c-ares' sub-queries run to their end
 * (or to cw_dns_close) in the background. */
void cw_dns_cancel(struct cw_dns_query *q);

/* "name does not exist (NXDOMAIN)", "no A or AAAA record", "no DNS server
 * answered", ... for log lines and status output. */
const char *cw_dns_strerror(int status);

#endif
