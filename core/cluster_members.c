/* cluster_members.c - membership changes, run one at a time on the leader:
 * a join (an older id at the same address or under the same name is
 * removed first, so a reset node is never listed twice) and a removal
 * (the node removed is told, and stops). */
#include "core/cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void job_end(struct core_cluster *cl, int status, const char *msg)
{
    struct job *j = &cl->job;

    if (status == R_DONE)
        CW_NOTICE("cluster", "%s %s (%s, id %llu)", j->kind == 'J' ? "added" : "removed",
                  j->name, j->addr, j->id);
    else
        CW_WARN("cluster", "%s %s failed: %s", j->kind == 'J' ? "adding" : "removing", j->name,
                msg);
    cluster__reply(j->reply, j->reply_id, status, msg);
    j->busy = 0;
}

static void no_reply(void *arg, int rc, const char *msg)
{
    (void)arg;
    if (rc < 0)
        CW_WARN("cluster", "recording a membership change in the state failed: %s", msg);
}

/* The leader records a membership change in the state (names for ids). */
static void state_note(struct core_cluster *cl, const char *verb, const char *name,
                       const char *rest)
{
    char cmd[300];
    struct apply_req *x = calloc(1, sizeof(*x));

    snprintf(cmd, sizeof(cmd), "%s %s%s%s", verb, name, rest ? " " : "", rest ? rest : "");
    if (!x)
        return;
    x->cl = cl;
    x->done = no_reply;
    if (cluster__leader_apply(cl, cmd, x) != 0) {
        free(x);
        no_reply(NULL, -1, "raft_apply failed");
    }
}

static void join_assigned(struct raft_change *req, int status)
{
    struct core_cluster *cl = req->data;
    struct job *j = &cl->job;
    char rest[100];

    if (status) {
        job_end(cl, R_FAILED, raft_strerror(status));
        return;
    }

    if (j->old_name[0] && strcmp(j->old_name, j->name) != 0)
        state_note(cl, "node-del", j->old_name, NULL);
    state_note(cl, "session-clear", j->name, NULL);
    snprintf(rest, sizeof(rest), "%llu %s", j->id, j->addr);
    state_note(cl, "node-set", j->name, rest);
    job_end(cl, R_DONE, NULL);
}

static void join_added(struct raft_change *req, int status)
{
    struct core_cluster *cl = req->data;
    int r;

    if (status) {
        job_end(cl, R_FAILED, raft_strerror(status));
        return;
    }
    cl->job.change.data = cl;
    r = raft_assign(&cl->r, &cl->job.change, cl->job.id, RAFT_VOTER, join_assigned);
    if (r)
        job_end(cl, R_FAILED, raft_strerror(r));
}

int cluster__config_has(struct core_cluster *cl, raft_id id, int *role)
{
    for (unsigned i = 0; i < cl->r.configuration.n; i++)
        if (cl->r.configuration.servers[i].id == id) {
            if (role)
                *role = cl->r.configuration.servers[i].role;
            return 1;
        }
    return 0;
}

static void join_add(struct core_cluster *cl)
{
    int r, role = -1;

    cl->job.change.data = cl;
    if (cluster__config_has(cl, cl->job.id, &role)) {
        r = role == RAFT_VOTER ? 0
                               : raft_assign(&cl->r, &cl->job.change, cl->job.id, RAFT_VOTER,
                                             join_assigned);
        if (role == RAFT_VOTER)
            join_assigned(&cl->job.change, 0);
    } else {
        r = raft_add(&cl->r, &cl->job.change, cl->job.id, cl->job.addr, join_added);
    }
    if (r)
        job_end(cl, R_FAILED, raft_strerror(r));
}

static void old_removed(struct raft_change *req, int status)
{
    struct core_cluster *cl = req->data;

    if (status) {
        job_end(cl, R_FAILED, raft_strerror(status));
        return;
    }
    if (strcmp(cl->job.old_addr, cl->job.addr))
        CW_NOTICE("cluster", "removed the old id %llu of %s at %s: it joins again from %s",
                  cl->job.old, cl->job.name, cl->job.old_addr, cl->job.addr);
    else
        CW_NOTICE("cluster", "removed the old id %llu of %s (the node was reset)", cl->job.old,
                  cl->job.addr);
    join_add(cl);
}


void cluster__note_heard(struct core_cluster *cl)
{
    uint64_t now = uv_now(cl->loop);

    if (raft_state(&cl->r) != RAFT_LEADER || !cl->r.leader_state.progress) {
        cl->leader_since = 0;
        cl->nheard = 0;
        return;
    }
    if (!cl->leader_since)
        cl->leader_since = now;
    for (unsigned i = 0; i < cl->r.configuration.n; i++) {
        raft_id id = cl->r.configuration.servers[i].id;
        unsigned k;

        if (!cl->r.leader_state.progress[i].recent_recv)
            continue;
        for (k = 0; k < cl->nheard && cl->heard[k].id != id; k++)
            ;
        if (k == cl->nheard) {
            if (k == CLUSTER_HEARD_MAX)
                continue;
            cl->heard[cl->nheard++].id = id;
        }
        cl->heard[k].at = now;
    }
}

/* 1 unless member id is known to be gone: this node has led for two
 * election timeouts and has not heard from it in that time. Raft clears
 * its "heard lately" flags every election timeout, so one look could miss
 * a member that is up; the ticks' samples do not. */
static int member_may_be_up(const struct core_cluster *cl, raft_id id)
{
    uint64_t now = uv_now(cl->loop), window = 2 * (uint64_t)cl->cfg->cluster.election_ms;

    if (!cl->leader_since || now - cl->leader_since < window)
        return 1;
    for (unsigned k = 0; k < cl->nheard; k++)
        if (cl->heard[k].id == id)
            return now - cl->heard[k].at < window;
    return 0;
}

int cluster__find_by(void *arg, const char *name, const char *id, const char *addr)
{
    struct find_node *f = arg;

    if ((f->addr && !strcmp(addr, f->addr)) || (f->name && !strcmp(name, f->name))) {
        f->id = strtoull(id, NULL, 10);
        snprintf(f->found_name, sizeof(f->found_name), "%s", name);
        return 1;
    }
    return 0;
}

void cluster__start_join(struct core_cluster *cl, struct link *l, uint32_t rid, const char *p,
                         int vet)
{
    struct job *j = &cl->job;
    struct find_node f;
    unsigned long long id;
    int r;

    memset(j, 0, sizeof(*j));
    if (sscanf(p, "%llu %63s %63s", &id, j->addr, j->name) != 3 || !id) {
        cluster__reply(l, rid, R_FAILED, "malformed join request");
        return;
    }
    j->busy = 1;
    j->kind = 'J';
    j->reply = l;
    j->reply_id = rid;
    j->id = id;
    /* An older id at the same address, or under the same name, is this
     * node before a reset: it goes, so no view lists the node twice. */
    for (unsigned i = 0; i < cl->r.configuration.n; i++)
        if (!strcmp(cl->r.configuration.servers[i].address, j->addr) &&
            cl->r.configuration.servers[i].id != j->id)
            j->old = cl->r.configuration.servers[i].id;
    snprintf(j->old_addr, sizeof(j->old_addr), "%s", j->addr);
    f = (struct find_node){ j->addr, NULL, 0, "" };
    if (xmpp_state_nodes(cl->st, cluster__find_by, &f))
        snprintf(j->old_name, sizeof(j->old_name), "%s", f.found_name);
    f = (struct find_node){ NULL, j->name, 0, "" };
    if (!j->old && xmpp_state_nodes(cl->st, cluster__find_by, &f) && f.id != j->id &&
        cluster__config_has(cl, f.id, NULL)) {
        /* The name from another address: the node moved, or a second node
         * was given a member's name. A member that may still be up is not
         * replaced: evicting it would leave it campaigning outside the
         * cluster. */
        for (unsigned i = 0; i < cl->r.configuration.n; i++)
            if (cl->r.configuration.servers[i].id == f.id)
                snprintf(j->old_addr, sizeof(j->old_addr), "%s",
                         cl->r.configuration.servers[i].address);
        if (member_may_be_up(cl, f.id)) {
            char why[640];

            snprintf(why, sizeof(why), "the member %s at %s (id %llu) may still be up: give the "
                     "node at %s another [core] name, or remove that member first (causeway xmpp "
                     "cluster remove %s)", j->name, j->old_addr, f.id, j->addr, j->old_addr);
            job_end(cl, R_FAILED, why);
            return;
        }
        j->old = f.id;
    }
    if (j->old == cl->id) {
        job_end(cl, R_FAILED, "that address or name is the leader's own");
        return;
    }
    if (vet) {
        cluster__reply(l, rid, R_DONE, NULL);
        j->busy = 0;
        return;
    }
    if (j->old) {
        j->change.data = cl;
        r = raft_remove(&cl->r, &j->change, j->old, old_removed);
        if (r)
            job_end(cl, R_FAILED, raft_strerror(r));
        return;
    }
    join_add(cl);
}

static void removed_cb(struct raft_change *req, int status)
{
    struct core_cluster *cl = req->data;
    struct job *j = &cl->job;

    if (status) {
        job_end(cl, R_FAILED, raft_strerror(status));
        return;
    }
    if (j->name[0]) {
        state_note(cl, "node-del", j->name, NULL);
        state_note(cl, "session-clear", j->name, NULL);
    }
    /* Tell it, if it is up: it hears nothing from the leader any more. */
    if (j->addr[0]) {
        struct link *l = cluster__link_to(cl, j->addr);
        char id[24];
        snprintf(id, sizeof(id), "%llu", j->id);
        if (l)
            cluster__link_frame(l, 'X', 0, id, strlen(id));
    }
    job_end(cl, R_DONE, NULL);
}

void cluster__start_remove(struct core_cluster *cl, struct link *l, uint32_t rid, const char *who)
{
    struct job *j = &cl->job;
    struct find_node f = { NULL, who, 0, "" };
    int r;

    memset(j, 0, sizeof(*j));
    j->kind = 'D';
    j->reply = l;
    j->reply_id = rid;
    if (xmpp_state_nodes(cl->st, cluster__find_by, &f)) {
        j->id = f.id;
        snprintf(j->name, sizeof(j->name), "%s", f.found_name);
    } else {
        for (unsigned i = 0; i < cl->r.configuration.n; i++)
            if (!strcmp(cl->r.configuration.servers[i].address, who))
                j->id = cl->r.configuration.servers[i].id;
        f = (struct find_node){ who, NULL, 0, "" };
        if (xmpp_state_nodes(cl->st, cluster__find_by, &f))
            snprintf(j->name, sizeof(j->name), "%s", f.found_name);
    }
    j->addr[0] = 0;
    for (unsigned i = 0; i < cl->r.configuration.n; i++)
        if (cl->r.configuration.servers[i].id == j->id)
            snprintf(j->addr, sizeof(j->addr), "%s", cl->r.configuration.servers[i].address);
    if (!j->id || !cluster__config_has(cl, j->id, NULL)) {
        cluster__reply(l, rid, R_FAILED, "no such member (see `causeway xmpp cluster status`)");
        return;
    }
    if (j->id == cl->id) {
        /* A leader cannot remove itself cleanly: hand leadership over and
         * let the operator run the command again. */
        raft_transfer(&cl->r, &cl->transfer, 0, NULL);
        cluster__reply(l, rid, R_FAILED, "that node is the leader: leadership is being handed to "
              "another node; run the remove again in a moment");
        return;
    }
    j->busy = 1;
    j->change.data = cl;
    r = raft_remove(&cl->r, &j->change, j->id, removed_cb);
    if (r)
        job_end(cl, R_FAILED, raft_strerror(r));
}
