/* state.h - the XMPP service's replicated state: domains, users (SCRAM
 * credentials only), call-bridge components and their secrets, rosters, and
 * the session directory (which core node holds which full JID).
 *
 * The state changes only through commands: one line of text each, applied
 * in the same order on every node (the cluster's log carries them; a single
 * node applies them at once), so every node's copy is the same. Commands:
 *   domain-add D                 domain-del D
 *   user-set D LOCAL CRED256 CRED1   (sasl.h's stored records)
 *   user-del D LOCAL
 *   comp-set NAME SECRET         comp-del NAME
 *   roster-set OWNER CONTACT SUB ASK NAME   (bare JIDs; SUB none|to|from|both;
 *                                ASK - or out; NAME %-escaped, "-" for none)
 *   roster-event OWNER CONTACT out|in EVENT  (a subscription stanza the owner
 *                                sent or got: the item's new state is worked out
 *                                when applied, so concurrent events never lose one)
 *   roster-name OWNER CONTACT - NAME  (the name only; the item made if new)
 *   roster-del OWNER CONTACT
 *   session-add FULLJID NODE     session-del FULLJID NODE    session-clear NODE
 *   node-set NAME ID ADDRESS     node-del NAME   (cluster members: stable id,
 *                                cluster address; the session directory names them)
 *   comproute-set DOMAIN NODE    comproute-del DOMAIN NODE   comproute-clear NODE
 *                                (which node a connected component is on)
 * A snapshot is the list of commands that rebuilds the state.
 *
 * XEP-0114's handshake needs a component's secret itself, so secrets are
 * kept as given (the state file and the cluster's store are mode 0600);
 * user passwords are never held, only SCRAM keys. */
#ifndef CW_XMPP_STATE_H
#define CW_XMPP_STATE_H

#include <stddef.h>

#include "common/strbuf.h"

enum xmpp_sub { XMPP_SUB_NONE, XMPP_SUB_TO, XMPP_SUB_FROM, XMPP_SUB_BOTH };

/* Items one roster may hold. A roster-event or roster-name that would make
 * one more is applied as nothing (the same on every node), so that neither
 * a client nor foreign servers sending approvals can grow a roster, the
 * state and every node's store without end. roster-set (snapshots) is not
 * held to it. */
#define XMPP_ROSTER_MAX 1000

struct xmpp_roster_item {
    char *owner;     /* bare JIDs */
    char *contact;
    enum xmpp_sub sub;
    int ask;         /* our subscription request to contact is pending */
    char *name;      /* NULL when none */
};

struct xmpp_state;

struct xmpp_state *xmpp_state_new(void);
void xmpp_state_free(struct xmpp_state *st);
/* Applies one command (no newline). 0, or -1 with the reason in err: the
 * state is unchanged then. Deterministic: the same commands in the same
 * order give the same state on every node. */
int xmpp_state_apply(struct xmpp_state *st, const char *cmd, char *err, size_t errlen);
/* Appends the commands that rebuild st, one per line. */
void xmpp_state_dump(const struct xmpp_state *st, struct cw_sb *out);
/* Replaces st's contents with what text (a dump) says. 0, or -1 with
 * "line N: reason" in err (st then holds what was applied before it). */
int xmpp_state_load(struct xmpp_state *st, const char *text, char *err, size_t errlen);

/* The functions below that take fn call it for each row in the order the
 * rows were added; fn must not apply commands to st while they run. */
int xmpp_state_has_domain(const struct xmpp_state *st, const char *domain);
/* Calls fn for each domain (in the order added); stops when fn returns
 * non-zero and returns that. */
int xmpp_state_domains(const struct xmpp_state *st, int (*fn)(void *arg, const char *d),
                       void *arg);
/* The stored credential text for hash (1: SHA-1, 256: SHA-256), or NULL. */
const char *xmpp_state_user_cred(const struct xmpp_state *st, const char *domain,
                                 const char *local, int hash);
int xmpp_state_users(const struct xmpp_state *st, const char *domain,
                     int (*fn)(void *arg, const char *domain, const char *local), void *arg);
/* The secret of component name, or NULL. */
const char *xmpp_state_component_secret(const struct xmpp_state *st, const char *name);
int xmpp_state_components(const struct xmpp_state *st, int (*fn)(void *arg, const char *name),
                          void *arg);
/* owner's roster item for contact into *out (its strings belong to st and
 * live until the next change): 1, or 0 when there is none. Then all of
 * owner's items. */
int xmpp_state_roster_item(const struct xmpp_state *st, const char *owner, const char *contact,
                           struct xmpp_roster_item *out);
int xmpp_state_roster(const struct xmpp_state *st, const char *owner,
                      int (*fn)(void *arg, const struct xmpp_roster_item *it), void *arg);
/* Whether owner's roster has no room for an item about contact (it has
 * none and XMPP_ROSTER_MAX others). */
int xmpp_state_roster_full(const struct xmpp_state *st, const char *owner, const char *contact);
/* The node holding the session fulljid, or NULL; sessions of a bare JID. */
const char *xmpp_state_session_node(const struct xmpp_state *st, const char *fulljid);
/* The node a component domain is connected to, or NULL. */
const char *xmpp_state_comp_node(const struct xmpp_state *st, const char *domain);
int xmpp_state_sessions(const struct xmpp_state *st, const char *bare,
                        int (*fn)(void *arg, const char *fulljid, const char *node), void *arg);

/* Cluster members by name: id (decimal) and address, or NULL; all of them. */
int xmpp_state_node(const struct xmpp_state *st, const char *name, const char **id,
                    const char **address);
int xmpp_state_nodes(const struct xmpp_state *st,
                     int (*fn)(void *arg, const char *name, const char *id, const char *addr),
                     void *arg);

/* Builds a roster-name command into out (escaping the name). */
void xmpp_state_roster_name_cmd(const char *owner, const char *contact, const char *name,
                                struct cw_sb *out);
const char *xmpp_sub_name(enum xmpp_sub s);

#endif
