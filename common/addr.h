/* addr.h - socket address parsing, formatting and comparison. */
#ifndef CW_ADDR_H
#define CW_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CW_ADDR_STRLEN 64   /* "[ffff:...:ffff]:65535" with room */

/* Parses "1.2.3.4", "1.2.3.4:5", "::1", "[::1]:5". A missing port gives
 * default_port; a port is required when default_port is 0 and rejected when
 * it is -1. Returns 0 or -1. */
int cw_addr_parse(const char *s, int default_port, struct sockaddr_storage *out);
/* "1.2.3.4:5" or "[2001:db8::1]:5"; with_port 0 gives the address alone. */
const char *cw_addr_fmt(const struct sockaddr *sa, char *buf, size_t len, int with_port);
socklen_t cw_addr_len(const struct sockaddr *sa);
uint16_t cw_addr_port(const struct sockaddr *sa);
void cw_addr_set_port(struct sockaddr *sa, uint16_t port);
/* Same family, address and port (with_port) -> 1. */
int cw_addr_equal(const struct sockaddr *a, const struct sockaddr *b, int with_port);
/* A hash of address and port, for tables. */
uint32_t cw_addr_hash(const struct sockaddr *sa, uint32_t seed);
/* What to add to the message of a bind that failed with err (an errno, or
 * libuv's negative code): for a refused port below the first unprivileged
 * one, the capability it needs; otherwise "". */
const char *cw_addr_bind_hint(const struct sockaddr *sa, int err);

#endif
