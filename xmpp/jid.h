/* jid.h - XMPP addresses (RFC 7622): localpart@domainpart/resourcepart.
 *
 * This subset compares addresses the way RFC 7622 does for ASCII: the
 * localpart and domainpart are case-folded to lower case, the resourcepart
 * is kept as sent. Non-ASCII localparts and domainparts are refused (no
 * PRECIS profile in Debian's C libraries made for this), so two spellings
 * of one address can never name two accounts. */
#ifndef CW_XMPP_JID_H
#define CW_XMPP_JID_H

#include <stddef.h>

#define JID_PART_MAX 255    /* bytes per part (RFC 7622 allows 1023; we cap lower) */
#define JID_MAX (3 * JID_PART_MAX + 2)

struct jid {
    char local[JID_PART_MAX + 1];      /* "" when none */
    char domain[JID_PART_MAX + 1];
    char resource[JID_PART_MAX + 1];   /* "" when none */
};

/* Parses and normalizes s. 0, or -1 (jid-malformed: empty domain, empty
 * localpart before '@' or resource after '/', a part too long, a forbidden
 * character: RFC 7622 3.3.1 " & ' / : < > @ and spaces in the localpart,
 * controls anywhere, non-ASCII in local or domain). */
int jid_parse(const char *s, struct jid *out);
/* Whether s is a valid domainpart (letters, digits, '-', '.'; labels of 1
 * to 63), normalized into out (lower case) when out is not NULL. */
int jid_domain_ok(const char *s, char *out, size_t outlen);
/* "local@domain" (or "domain"), and with "/resource"; into buf. */
const char *jid_bare(const struct jid *j, char *buf, size_t len);
const char *jid_full(const struct jid *j, char *buf, size_t len);

#endif
