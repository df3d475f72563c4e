/* policy.h - which peers a TURN allocation may relay to.
 *
 * Never allowed (RFC 8656 21, and the SSRF lessons of CVE-2020-26262):
 * loopback, unspecified, "this network" 0/8, link-local, multicast, limited
 * broadcast, reserved 240/4, the edge's own addresses, and the IPv6 spellings
 * of IPv4 addresses that embed one of those (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4
 * 2002::/16, Teredo 2001::/32 client address). Inside networks (by default
 * RFC 1918, 100.64/10, fc00::/7) are denied unless an allow entry covers the
 * peer (the call bridges). An allow entry never opens the never-allowed set. */
#ifndef TURN_POLICY_H
#define TURN_POLICY_H

#include <sys/socket.h>

struct turn_policy;

struct turn_policy *turn_policy_create(void);
void turn_policy_destroy(struct turn_policy *p);

/* An address of this host (port ignored): never a valid peer. */
int turn_policy_add_own(struct turn_policy *p, const struct sockaddr *sa);
/* Adds the addresses of every local interface (getifaddrs). */
int turn_policy_add_own_interfaces(struct turn_policy *p);
/* CIDR text ("10.0.0.0/8", "fd00::/8", "192.0.2.7" = /32): 0 or -1 if bad.
 * Host bits past the prefix must be zero; "::ffff:a.b.c.d/n" (n >= 96) is
 * taken as the IPv4 network it spells. */
int turn_policy_add_inside(struct turn_policy *p, const char *cidr);
int turn_policy_add_allow(struct turn_policy *p, const char *cidr);
/* Replaces the default inside networks with none (the config lists its own). */
void turn_policy_clear_inside(struct turn_policy *p);
/* Demo and benchmark only: lets loopback peers through (the rest stays). */
void turn_policy_set_unsafe_loopback(struct turn_policy *p, int on);

/* 0 if the peer may be relayed to; -1 otherwise with *why set to a static
 * phrase for the log ("loopback", "IPv4-mapped loopback", "inside network",
 * "own address", ...). */
int turn_policy_check(const struct turn_policy *p, const struct sockaddr *peer,
                      const char **why);

#endif
