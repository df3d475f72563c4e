/* cluster.h - the Raft cluster of core nodes (libraft): the XMPP state as
 * the replicated state machine, writes through the leader, membership
 * (initialize, join, remove) with stable node ids, and links between nodes
 * that carry forwarded writes and stanzas for sessions on other nodes.
 *
 * Every libraft call lives in cluster.c (libraft upstream is archived; this
 * keeps a change of Raft library to one file). */
#ifndef CORE_CLUSTER_H
#define CORE_CLUSTER_H

#include <uv.h>

#include "common/strbuf.h"
#include "core/config.h"
#include "xmpp/state.h"
#include "xmpp/xml.h"

struct core_cluster;

/* rc 0 and msg NULL when done; else rc < 0 and msg says why:
 * CLUSTER_EREFUSED when the state refused the command (in log order, the
 * same on every node), CLUSTER_EAGAIN when it did not get into the log (no
 * leader, leadership lost, the leader unreachable): it may be tried again. */
#define CLUSTER_EAGAIN (-1)
#define CLUSTER_EREFUSED (-2)
typedef void (*cluster_done_fn)(void *arg, int rc, const char *msg);

struct core_cluster_cbs {
    /* A committed command was applied to the state (same order on every
     * node); the owner refreshes what depends on the state. */
    void (*applied)(void *arg, const char *cmd);
    /* A stanza from another node (named, or NULL if not yet known here)
     * for a session of this one (ownership passes to the callee). */
    void (*stanza)(void *arg, const char *node, struct xml_node *n);
    /* Around the stanzas of one read from a link (begin 1, then 0), so
     * that what they make is written once (optional). */
    void (*batch)(void *arg, int begin);
};

/* Starts the node: its id (made once, kept in state-dir/node-id), its
 * transport, and Raft if it is a member already. st is the state the log
 * is applied to. NULL on failure (logged). */
struct core_cluster *core_cluster_start(uv_loop_t *loop, const struct core_config *cfg,
                                        struct xmpp_state *st,
                                        const struct core_cluster_cbs *cbs, void *arg);
/* Stops Raft and the links; closed(arg) runs when nothing of the cluster
 * calls back any more (closed may be NULL). */
void core_cluster_stop(struct core_cluster *cl, void (*closed)(void *arg), void *arg);

/* A command that starts with this carries several, one per line after it;
 * a refused one does not stop the others. */
#define CLUSTER_BATCH "batch\n"

/* Appends cmd to the log (through the leader). done is called once, later,
 * when the command is applied here or it failed (no leader, timeout, the
 * state refused it). 0, or -1 when it cannot even start (done not called;
 * msg set). */
int core_cluster_propose(struct core_cluster *cl, const char *cmd, cluster_done_fn done,
                         void *arg, const char **msg);
/* Sends a stanza to node (a member's name) for delivery to its sessions.
 * 0, or -1 when that node is unknown. */
int core_cluster_send(struct core_cluster *cl, const char *node, const struct xml_node *n);

/* Membership, for `causeway xmpp cluster ...`. initialize: this node
 * becomes a cluster of one. join: asks the member at address to add this
 * node (its state is replaced by the cluster's). remove: the member named
 * (or at that address) leaves every view. Results through done. */
int core_cluster_initialize(struct core_cluster *cl, struct cw_sb *out);
int core_cluster_join(struct core_cluster *cl, const char *address, cluster_done_fn done,
                      void *arg, const char **msg);
int core_cluster_remove(struct core_cluster *cl, const char *node, cluster_done_fn done,
                        void *arg, const char **msg);
void core_cluster_status(struct core_cluster *cl, struct cw_sb *out);
/* Section "cluster" of the status document: state, leader, last change,
 * peers. */
struct cw_report;
void core_cluster_report(struct core_cluster *cl, struct cw_report *r);
/* 1 when a leader is known (writes work); else 0 and why not. */
int core_cluster_leader(struct core_cluster *cl, const char **why);
/* The members in Raft's configuration (id, address, voter or not, the
 * leader as this node knows it, this node itself); fn's non-zero return
 * stops and is returned. 0 and no call while Raft is not started here. */
int core_cluster_members(struct core_cluster *cl,
                         int (*fn)(void *arg, unsigned long long id, const char *address,
                                   int voter, int leader, int self),
                         void *arg);
/* 1 once this node runs Raft (initialized or joined). */
int core_cluster_started(const struct core_cluster *cl);

#endif
