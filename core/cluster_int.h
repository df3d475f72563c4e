/* cluster_int.h - what the cluster's two files share: cluster.c (Raft, the
 * state machine, links, writes, the tick) and cluster_members.c (joins and
 * removals, on the leader). */
#ifndef CORE_CLUSTER_INT_H
#define CORE_CLUSTER_INT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#include "common/strbuf.h"
#include "core/cluster.h"
#include "core/cluster_net.h"

#define TICK_MS 100
#define CLUSTER_HEARD_MAX 64        /* members whose last answer the leader remembers */
#define REQUEST_MS 5000
#define FRAME_MAX (1u << 20)
#define LINK_OUT_MAX (8u << 20)
#define STREAM_HEAD "<stream:stream xmlns='jabber:client' " \
                    "xmlns:stream='http://etherx.jabber.org/streams'>"

enum { R_DONE = 0, R_REDIRECT = 1, R_FAILED = 2, R_REFUSED = 3 };

struct link {
    struct core_cluster *cl;
    struct link *next;
    int held;                   /* frames wait for the end of the loop turn */
    uv_tcp_t *tcp;              /* NULL while connecting */
    char addr[CLUSTER_ADDR_MAX];
    int outgoing, dead;
    struct cw_sb out;           /* frames queued while connecting */
    uint8_t *in;
    size_t in_len, in_cap;
    struct xml_stream *xs;      /* stanzas from the peer */
};

struct pend {
    struct core_cluster *cl;
    struct pend *next;
    struct link *l;
    uint32_t id;
    cluster_done_fn done;
    void *arg;
    uv_timer_t timer;
    char kind;
    char payload[512];          /* join: resent on a redirect */
    int hops;
};

struct apply_req {
    struct raft_apply req;
    struct core_cluster *cl;
    cluster_done_fn done;       /* a local proposer */
    void *arg;
    struct link *reply;         /* or a peer's, answered on its link */
    uint32_t reply_id;
};

struct job {                    /* the leader's membership change in progress */
    int busy;
    char kind;                  /* 'J' or 'D' */
    struct link *reply;
    uint32_t reply_id;
    raft_id id, old;
    char addr[CLUSTER_ADDR_MAX], name[64], old_name[64];
    char old_addr[CLUSTER_ADDR_MAX];    /* where the old id was */
    struct raft_change change;
};

struct core_cluster {
    uv_loop_t *loop;
    const struct core_config *cfg;
    struct xmpp_state *st;
    struct core_cluster_cbs cbs;
    void *arg;
    raft_id id;
    char raft_dir[1100];
    struct raft r;
    struct raft_io io;
    struct raft_uv_transport t;
    struct raft_fsm fsm;
    int inited, started, removed, stopping, was_member;
    int joining;                    /* a join asked the leader first (core_cluster_join) */
    struct link *links;
    struct pend *pend;
    uint32_t next_id;
    uv_timer_t tick;
    int last_state;
    raft_id last_leader;
    time_t changed_at;
    int registering;
    int cleared;                /* this node's old sessions dropped after a start */
    struct job job;
    struct raft_transfer transfer;
    void (*closed)(void *arg);
    void *closed_arg;
    uv_prepare_t flush;         /* stanza frames go out once per loop turn */
    /* As leader: since when, and when each member last answered (sampled
     * from Raft's progress every tick), to tell a member that is gone from
     * one that is up when a join claims its name. */
    uint64_t leader_since;
    uint64_t applied_bytes, applied_n;  /* single commands applied: their mean size paces snapshots */
    struct { raft_id id; uint64_t at; } heard[CLUSTER_HEARD_MAX];
    unsigned nheard;
};

/* A member looked up in the state's node table by address or name. */
struct find_node {
    const char *addr;
    const char *name;
    raft_id id;
    char found_name[64];
};

/* cluster_members.c: the leader notes who answered lately (each tick). */
void cluster__note_heard(struct core_cluster *cl);

/* cluster.c */
void cluster__reply(struct link *l, uint32_t id, int status, const char *msg);
struct link *cluster__link_to(struct core_cluster *cl, const char *addr);
void cluster__link_frame(struct link *l, char type, uint32_t id, const char *p, size_t n);
int cluster__leader_apply(struct core_cluster *cl, const char *cmd, struct apply_req *a);

/* cluster_members.c */
int cluster__config_has(struct core_cluster *cl, raft_id id, int *role);
int cluster__find_by(void *arg, const char *name, const char *id, const char *addr);
/* A join request: the node is added (vet 0), or only told whether it would be
 * (vet 1: a 'Q' request, before the joining node starts Raft). */
void cluster__start_join(struct core_cluster *cl, struct link *l, uint32_t rid, const char *p,
                         int vet);
void cluster__start_remove(struct core_cluster *cl, struct link *l, uint32_t rid,
                           const char *who);

#endif
