/* xmpp.h - the core node's XMPP service: the shared state (kept in
 * state-dir/xmpp.state on a single node), the service itself, and the
 * `causeway xmpp ...` control commands. */
#ifndef CORE_XMPP_H
#define CORE_XMPP_H

#include <uv.h>

#include "common/ctl.h"
#include "core/config.h"

struct core_xmpp;

/* Loads the state, starts the listeners, registers the control commands.
 * NULL on failure (logged). */
struct core_xmpp *core_xmpp_start(uv_loop_t *loop, const struct core_config *cfg,
                                  struct cw_ctl *ctl);
void core_xmpp_stop(struct core_xmpp *x);
/* The [xmpp] certificate lines of from (core.conf read again: lines added
 * or removed, files renewed): new connections get them, established ones
 * keep theirs. 0, or -1 with the reason in err (the running certificates
 * stay); the caller keeps from's lines as the running ones. */
int core_xmpp_reload_tls(struct core_xmpp *x, const struct core_config *from, char *err,
                         size_t errlen);

/* Sections "xmpp", "callbridges" and "cluster" of the status document. */
struct cw_report;
void core_xmpp_report(struct core_xmpp *x, struct cw_report *r);
/* 1 when writes can go through a leader (or there is no cluster); else 0
 * and why not. */
int core_xmpp_cluster_leader(struct core_xmpp *x, const char **why);
struct xmpp_state;
struct core_cluster;
/* For read-only checks (the doctor): the node's copy of the shared state,
 * and its cluster (NULL on a standalone node). */
const struct xmpp_state *core_xmpp_state(const struct core_xmpp *x);
/* 1 when the call bridge name is connected to this node now. */
int core_xmpp_component_here(const struct core_xmpp *x, const char *name);
struct core_cluster *core_xmpp_cluster(const struct core_xmpp *x);
/* The [xmpp] certificates served now (for the expiry faults). */
struct cw_tls_ctx;
const struct cw_tls_ctx *core_xmpp_tls(const struct core_xmpp *x);

#endif
