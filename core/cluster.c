/* cluster.c - the core nodes' Raft cluster on libraft (see cluster.h):
 * the replicated XMPP state, writes through the leader, membership with
 * stable ids, and node-to-node links.
 *
 * For maintainers:
 * - libraft has no state-change callback: a 100 ms tick notices leader and
 *   role changes (logged, kept for status), registers this node's name in
 *   the state once a leader is known, and notices a removal.
 * - Links: a node that sends a request (forwarded write, join, remove,
 *   stanza) opens a link (cluster_net 'L') to the peer's cluster address
 *   and gets replies on it. Frames: u32 length, u8 type, u32 request id,
 *   payload. Requests P (propose), J (join), D (remove), S (stanza), X
 *   (you were removed; S and X get no reply); reply r: u8 status (0 done,
 *   1 redirect to the leader in the text, 2 failed, 3 refused by the
 *   state) and text.
 * - Membership changes (cluster_members.c) run one at a time on the
 *   leader. */
#include "core/cluster_int.h"

#include "common/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/report.h"

static const char *state_name(int s)
{
    switch (s) {
    case RAFT_LEADER: return "LEADER";
    case RAFT_FOLLOWER: return "FOLLOWER";
    case RAFT_CANDIDATE: return "CANDIDATE";
    default: return "UNAVAILABLE";
    }
}

static const char *leader_addr(struct core_cluster *cl, raft_id *id)
{
    raft_id lid = 0;
    const char *a = NULL;

    if (cl->started)
        raft_leader(&cl->r, &lid, &a);
    if (id)
        *id = lid;
    return lid ? a : NULL;
}

static int is_leader(struct core_cluster *cl)
{
    return cl->started && raft_state(&cl->r) == RAFT_LEADER;
}

/* ---- the state machine -------------------------------------------------------- */

/* One command; its refusal's reason in err. */
static int apply_cmd(struct core_cluster *cl, const char *cmd, char *err, size_t errlen)
{
    /* The verb and its first word only: comp-set carries a secret. */
    CW_DEBUG("cluster", "apply %.*s", (int)strcspn(cmd, " ") +
             (int)strcspn(cmd + strcspn(cmd, " ") + (cmd[strcspn(cmd, " ")] != 0), " ") + 1, cmd);
    if (xmpp_state_apply(cl->st, cmd, err, errlen) < 0)
        return -1;
    if (cl->cbs.applied)
        cl->cbs.applied(cl->arg, cmd);
    return 0;
}

/* An entry is one command, or a batch (CLUSTER_BATCH, then commands one
 * per line: an import), applied line by line. A refusal is the same on
 * every node, and the proposer hears it as the entry's result. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct core_cluster *cl = fsm->data;
    char *cmd = strndup(buf->base, buf->len), err[512], first[512] = "", *line, *nl;
    unsigned n = 0, refused = 0;

    *result = NULL;
    if (!cmd)
        return 0;
    if (strncmp(cmd, CLUSTER_BATCH, strlen(CLUSTER_BATCH)) != 0) {
        cl->applied_bytes += buf->len;      /* an import's batches are not the usual */
        cl->applied_n++;
        if (apply_cmd(cl, cmd, err, sizeof(err)) < 0)
            *result = strdup(err);
        free(cmd);
        return 0;
    }
    for (line = cmd + strlen(CLUSTER_BATCH); *line; line = nl ? nl + 1 : line + strlen(line)) {
        if ((nl = strchr(line, '\n')))
            *nl = 0;
        if (!*line)
            continue;
        n++;
        if (apply_cmd(cl, line, err, sizeof(err)) < 0 && refused++ == 0)
            snprintf(first, sizeof(first), "%s", err);
    }
    if (refused) {
        snprintf(err, sizeof(err), "%u of %u refused, the first: %s", refused, n, first);
        *result = strdup(err);
    }
    free(cmd);
    return 0;
}

/* A snapshot writes the whole state, on every node. Take the next one when
 * the log since holds about as many bytes as the state (never sooner than
 * libraft's 1024 entries, nor later than a million), so that writing
 * snapshots costs about what writing the log does, whatever the
 * directory's size: at a fixed 1024 entries, a 25 MB directory was written
 * again every 512 logins. */
static void snapshot_pace(struct core_cluster *cl, size_t state_bytes)
{
    size_t entry = cl->applied_n ? cl->applied_bytes / cl->applied_n : 64, n;

    n = state_bytes / (entry < 16 ? 16 : entry);
    n = n < 1024 ? 1024 : n > (1u << 20) ? (1u << 20) : n;
    raft_set_snapshot_threshold(&cl->r, (unsigned)n);
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    struct core_cluster *cl = fsm->data;
    struct cw_sb sb;

    cw_sb_init(&sb);
    xmpp_state_dump(cl->st, &sb);
    *bufs = raft_malloc(sizeof(**bufs));
    if (sb.failed || !*bufs) {
        cw_sb_free(&sb);
        raft_free(*bufs);
        return RAFT_NOMEM;
    }
    (*bufs)[0].len = (sb.len + 8) & ~(size_t)7;   /* padded, as entries */
    (*bufs)[0].base = raft_malloc((*bufs)[0].len);
    if (!(*bufs)[0].base) {
        raft_free(*bufs);
        cw_sb_free(&sb);
        return RAFT_NOMEM;
    }
    memset((*bufs)[0].base, 0, (*bufs)[0].len);
    memcpy((*bufs)[0].base, sb.s ? sb.s : "", sb.len);
    *n = 1;
    snapshot_pace(cl, sb.len);
    cw_sb_free(&sb);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct core_cluster *cl = fsm->data;
    char *text = strndup(buf->base, buf->len), err[512];
    int rc = 0;

    snapshot_pace(cl, buf->len);
    raft_free(buf->base);
    if (!text)
        return RAFT_NOMEM;
    if (xmpp_state_load(cl->st, text, err, sizeof(err)) < 0) {
        CW_ERROR("cluster", "snapshot from the leader: %s", err);
        rc = RAFT_CORRUPT;
    }
    free(text);
    if (cl->cbs.applied)
        cl->cbs.applied(cl->arg, "restore");
    return rc;
}

/* ---- links ------------------------------------------------------------------- */

static void pend_closed(uv_handle_t *h)
{
    free(h->data);
}

static void pend_finish(struct pend *p, int rc, const char *msg)
{
    struct core_cluster *cl = p->cl;

    for (struct pend **q = &cl->pend; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, pend_closed);
    if (p->done)
        p->done(p->arg, rc, msg);
}

static void tcp_closed(uv_handle_t *h)
{
    free(h);
}

static void link_kill(struct link *l, const char *why)
{
    struct core_cluster *cl = l->cl;

    if (l->dead)
        return;
    l->dead = 1;
    for (struct link **q = &cl->links; *q; q = &(*q)->next)
        if (*q == l) {
            *q = l->next;
            break;
        }
    for (struct pend *p = cl->pend, *nx; p; p = nx) {
        nx = p->next;
        if (p->l == l)
            pend_finish(p, CLUSTER_EAGAIN, why);
    }
    if (cl->job.busy && cl->job.reply == l)
        cl->job.reply = NULL;
    if (l->tcp)
        uv_close((uv_handle_t *)l->tcp, tcp_closed);
    /* Writes of apply requests answered later check reply->dead. */
    cw_sb_free(&l->out);
    free(l->in);
    xml_stream_destroy(l->xs);
    l->in = NULL;
    l->xs = NULL;
    /* The struct stays for the apply requests that may still point here:
     * they are few and short-lived; it is freed with the cluster. */
    l->next = NULL;
}

static void link_write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void link_flush(struct link *l)
{
    struct { uv_write_t w; uv_buf_t b; } *wr;

    if (l->dead || !l->tcp || !l->out.len || l->held)
        return;
    wr = malloc(sizeof(*wr) + l->out.len);
    if (!wr) {
        link_kill(l, "out of memory");
        return;
    }
    memcpy(wr + 1, l->out.s, l->out.len);
    wr->b = uv_buf_init((char *)(wr + 1), (unsigned)l->out.len);
    cw_sb_clear(&l->out);
    if (uv_write(&wr->w, (uv_stream_t *)l->tcp, &wr->b, 1, link_write_done) < 0) {
        free(wr);
        link_kill(l, "write failed");
    }
}

void cluster__link_frame(struct link *l, char type, uint32_t id, const char *p, size_t n)
{
    uint8_t h[9];
    uint32_t len = (uint32_t)(n + 5);

    if (l->dead)
        return;
    if (l->out.len + n > LINK_OUT_MAX) {
        link_kill(l, "the peer does not read (link queue full)");
        return;
    }
    h[0] = (uint8_t)(len >> 24), h[1] = (uint8_t)(len >> 16), h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len, h[4] = (uint8_t)type;
    h[5] = (uint8_t)(id >> 24), h[6] = (uint8_t)(id >> 16), h[7] = (uint8_t)(id >> 8);
    h[8] = (uint8_t)id;
    cw_sb_add(&l->out, (const char *)h, 9);
    cw_sb_add(&l->out, p, n);
    link_flush(l);
}

void cluster__reply(struct link *l, uint32_t id, int status, const char *msg)
{
    char buf[600];
    int n = snprintf(buf, sizeof(buf), "%c%s", '0' + status, msg ? msg : "");

    if (l && !l->dead)
        cluster__link_frame(l, 'r', id, buf, (size_t)n);
}

static void handle_frame(struct link *l, char type, uint32_t id, const char *p, size_t n);
static void left_cluster(struct core_cluster *cl);

static void link_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct link *l = h->data;

    (void)hint;
    if (l->in_cap - l->in_len < 65536) {
        size_t cap = l->in_cap ? l->in_cap * 2 : 131072;
        uint8_t *q = realloc(l->in, cap);
        if (!q) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        l->in = q;
        l->in_cap = cap;
    }
    *buf = uv_buf_init((char *)l->in + l->in_len, (unsigned)(l->in_cap - l->in_len));
}

static void link_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct link *l = s->data;
    size_t off = 0;

    (void)buf;
    if (!l || l->dead)
        return;
    if (nread < 0) {
        link_kill(l, "the link to the other node closed");
        return;
    }
    l->in_len += (size_t)nread;
    if (l->cl->cbs.batch)
        l->cl->cbs.batch(l->cl->arg, 1);
    while (l->in_len - off >= 9) {
        const uint8_t *f = l->in + off;
        uint32_t len = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
        if (len < 5 || len > FRAME_MAX) {
            CW_WARN("cluster", "link from %s: bad frame of %u bytes: closing it", l->addr, len);
            link_kill(l, "bad frame");
            break;
        }
        if (l->in_len - off < 4 + (size_t)len)
            break;
        handle_frame(l, (char)f[4], (uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 |
                                    (uint32_t)f[7] << 8 | f[8],
                     (const char *)f + 9, len - 5);
        if (l->dead)
            break;
        off += 4 + (size_t)len;
    }
    if (l->cl->cbs.batch)
        l->cl->cbs.batch(l->cl->arg, 0);
    if (l->dead)
        return;
    memmove(l->in, l->in + off, l->in_len - off);
    l->in_len -= off;
}

static struct link *link_new(struct core_cluster *cl, const char *addr, int outgoing)
{
    struct link *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->cl = cl;
    l->outgoing = outgoing;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    cw_sb_init(&l->out);
    l->next = cl->links;
    cl->links = l;
    return l;
}

static void link_attach(struct link *l, uv_stream_t *s)
{
    l->tcp = (uv_tcp_t *)s;
    s->data = l;
    if (uv_read_start(s, link_alloc, link_read) < 0) {
        link_kill(l, "cannot read the link");
        return;
    }
    link_flush(l);
}

static void on_link_opened(void *arg, raft_id peer, const char *address, uv_stream_t *s,
                           int status)
{
    struct link *l = arg;

    (void)peer;
    (void)address;
    if (status < 0 || !s) {
        CW_INFO("cluster", "cannot open a link to %s (node down, or a different cluster key)",
                l->addr);
        link_kill(l, "cannot reach the node");
        return;
    }
    if (l->dead) {
        uv_close((uv_handle_t *)s, tcp_closed);
        return;
    }
    link_attach(l, s);
}

static void on_link_accepted(void *arg, raft_id peer, const char *address, uv_stream_t *s,
                             int status)
{
    struct core_cluster *cl = arg;
    struct link *l;

    (void)peer;
    if (status < 0 || cl->stopping || !(l = link_new(cl, address, 0))) {
        if (s)
            uv_close((uv_handle_t *)s, tcp_closed);
        return;
    }
    link_attach(l, s);
}

struct link *cluster__link_to(struct core_cluster *cl, const char *addr)
{
    struct link *l;

    for (l = cl->links; l; l = l->next)
        if (l->outgoing && !strcmp(l->addr, addr))
            return l;
    l = link_new(cl, addr, 1);
    if (l && cluster_net_link(&cl->t, addr, on_link_opened, l) < 0) {
        link_kill(l, "cannot connect");
        return NULL;
    }
    return l;
}

static void pend_timeout(uv_timer_t *t)
{
    pend_finish(t->data, CLUSTER_EAGAIN, "no answer from the other node within 5 s");
}

/* Sends a request that expects a cluster__reply; done gets it. */
static int request(struct core_cluster *cl, const char *addr, char kind, const char *payload,
                   cluster_done_fn done, void *arg, int hops)
{
    struct link *l = cluster__link_to(cl, addr);
    struct pend *p;

    if (!l || !(p = calloc(1, sizeof(*p))))
        return -1;
    p->cl = cl;
    p->l = l;
    p->id = ++cl->next_id;
    p->done = done;
    p->arg = arg;
    p->kind = kind;
    p->hops = hops;
    snprintf(p->payload, sizeof(p->payload), "%s", payload);
    uv_timer_init(cl->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, pend_timeout, REQUEST_MS, 0);
    p->next = cl->pend;
    cl->pend = p;
    cluster__link_frame(l, kind, p->id, payload, strlen(payload));
    return 0;
}

/* ---- writes ---------------------------------------------------------------- */

static void apply_done(struct raft_apply *req, int status, void *result)
{
    struct apply_req *a = req->data;
    const char *msg = status ? raft_strerror(status) : result;
    /* -2: applied in the log, refused by the state (the same everywhere);
     * -1: not in the log (leadership lost, shutdown): may be tried again. */
    int rc = status ? CLUSTER_EAGAIN : result ? CLUSTER_EREFUSED : 0;

    if (a->done)
        a->done(a->arg, rc, msg);
    else if (a->reply && !a->reply->dead)
        cluster__reply(a->reply, a->reply_id, rc == 0 ? R_DONE : rc == CLUSTER_EREFUSED ? R_REFUSED : R_FAILED,
              msg);
    free(result);
    free(a);
}

/* Appends cmd on the leader (this node). */
int cluster__leader_apply(struct core_cluster *cl, const char *cmd, struct apply_req *a)
{
    struct raft_buffer b;
    size_t n = strlen(cmd);
    int r;

    /* libraft's wire encoding pads entries to 8 bytes and expects their
     * lengths padded too: NULs at the end, which apply ignores. */
    b.len = (n + 8) & ~(size_t)7;
    b.base = raft_malloc(b.len);
    if (!b.base)
        return RAFT_NOMEM;
    memset(b.base, 0, b.len);
    memcpy(b.base, cmd, n);
    a->req.data = a;
    r = raft_apply(&cl->r, &a->req, &b, 1, apply_done);
    if (r != 0)
        raft_free(b.base);
    return r;
}

/* cmd into the log on the leader, for a local proposer (done) or a peer's
 * request (answered on link reply with id). 0, or a RAFT_* error (nothing
 * will call back). */
static int apply_for(struct core_cluster *cl, const char *cmd, cluster_done_fn done, void *arg,
                     struct link *reply, uint32_t id)
{
    struct apply_req *a = calloc(1, sizeof(*a));
    int r;

    if (!a)
        return RAFT_NOMEM;
    a->cl = cl;
    a->done = done;
    a->arg = arg;
    a->reply = reply;
    a->reply_id = id;
    r = cluster__leader_apply(cl, cmd, a);
    if (r)
        free(a);
    return r;
}

struct fwd {
    cluster_done_fn done;
    void *arg;
};

static void fwd_done(void *arg, int rc, const char *msg)
{
    struct fwd *f = arg;

    f->done(f->arg, rc, msg);
    free(f);
}

static const char *no_leader_msg(struct core_cluster *cl)
{
    static char buf[200];
    unsigned voters = 0;

    if (!cl->started)
        return cl->removed ? "this node was removed from the cluster"
                           : "this node is not in a cluster yet (`causeway xmpp cluster "
                             "initialize` on the first node, `join` on the others)";
    for (unsigned i = 0; i < cl->r.configuration.n; i++)
        voters += cl->r.configuration.servers[i].role == RAFT_VOTER;
    snprintf(buf, sizeof(buf), "no leader: fewer than a majority of the %u voting nodes can "
             "reach each other, so the cluster refuses writes", voters);
    return buf;
}

int core_cluster_propose(struct core_cluster *cl, const char *cmd, cluster_done_fn done,
                         void *arg, const char **msg)
{
    const char *addr;
    raft_id lid;

    if (is_leader(cl)) {
        int r = apply_for(cl, cmd, done, arg, NULL, 0);
        if (r) {
            *msg = raft_strerror(r);
            return -1;
        }
        return 0;
    }
    addr = leader_addr(cl, &lid);
    if (!addr) {
        *msg = no_leader_msg(cl);
        return -1;
    }
    struct fwd *f = malloc(sizeof(*f));
    if (!f) {
        *msg = "out of memory";
        return -1;
    }
    f->done = done;
    f->arg = arg;
    if (request(cl, addr, 'P', cmd, fwd_done, f, 0) < 0) {
        free(f);
        *msg = "cannot reach the leader";
        return -1;
    }
    return 0;
}

/* ---- frames from peers ----------------------------------------------------------- */

static int link_stanza(void *ctx, struct xml_node *n)
{
    struct link *l = ctx;
    struct find_node f = { l->addr, NULL, 0, "" };

    if (!l->cl->cbs.stanza) {
        xml_node_free(n);
        return 0;
    }
    /* The link's address is the sender's cluster address (its handshake). */
    xmpp_state_nodes(l->cl->st, cluster__find_by, &f);
    l->cl->cbs.stanza(l->cl->arg, f.found_name[0] ? f.found_name : NULL, n);
    return 0;
}

static int link_open(void *ctx, const struct xml_node *head)
{
    (void)ctx;
    (void)head;
    return 0;
}

static const struct xml_stream_cbs link_xml = { .on_open = link_open, .on_stanza = link_stanza };

static void handle_frame(struct link *l, char type, uint32_t id, const char *p, size_t n)
{
    struct core_cluster *cl = l->cl;
    char text[4096];
    const char *addr;

    if (type == 'S') {
        if (!l->xs) {
            /* Stanzas from another node, stamped there. */
            static const struct xml_limits stamped = { .stamped = 1 };

            l->xs = xml_stream_create(&stamped, &link_xml, l);
            if (!l->xs || xml_stream_feed(l->xs, STREAM_HEAD, strlen(STREAM_HEAD)) < 0) {
                link_kill(l, "out of memory");
                return;
            }
        }
        if (xml_stream_feed(l->xs, p, n) < 0) {
            const char *why;
            xml_stream_error(l->xs, &why);
            CW_WARN("cluster", "link from %s: bad stanza (%s): closing it", l->addr, why);
            link_kill(l, "bad stanza");
        }
        return;
    }
    if (type == 'X') {
        /* "You were removed", from the leader that did it. */
        snprintf(text, sizeof(text), "%.*s", (int)n, p);
        if (strtoull(text, NULL, 10) == cl->id)
            left_cluster(cl);
        return;
    }
    if (type == 'r') {
        for (struct pend *q = cl->pend; q; q = q->next)
            if (q->l == l && q->id == id) {
                int st = n ? p[0] - '0' : R_FAILED;
                snprintf(text, sizeof(text), "%.*s", (int)(n ? n - 1 : 0), n ? p + 1 : p);
                if (st == R_REDIRECT && q->hops < 3 && text[0]) {
                    /* Not the leader: ask the one it named. */
                    if (request(cl, text, q->kind, q->payload, q->done, q->arg, q->hops + 1) == 0) {
                        q->done = NULL;
                        pend_finish(q, 0, NULL);
                        return;
                    }
                }
                pend_finish(q, st == R_DONE ? 0 : st == R_REFUSED ? CLUSTER_EREFUSED : CLUSTER_EAGAIN,
                            st == R_DONE ? NULL : text[0] ? text : "failed");
                return;
            }
        return;
    }
    snprintf(text, sizeof(text), "%.*s", (int)n, p);
    if (!is_leader(cl)) {
        addr = leader_addr(cl, NULL);
        if (addr && type != 'P')
            cluster__reply(l, id, R_REDIRECT, addr);
        else
            cluster__reply(l, id, R_FAILED, addr ? "not the leader any more" : no_leader_msg(cl));
        return;
    }
    if (type == 'P') {
        /* The whole frame, not text's first 4 KB: an import's batch is larger. */
        char *cmd = strndup(p, n);
        int r = cmd ? apply_for(cl, cmd, NULL, NULL, l, id) : RAFT_NOMEM;
        free(cmd);
        if (r)
            cluster__reply(l, id, R_FAILED, raft_strerror(r));
    } else if (type == 'J' || type == 'Q' || type == 'D') {
        if (cl->job.busy) {
            cluster__reply(l, id, R_FAILED, "another membership change is running: try again");
            return;
        }
        if (type != 'D')
            cluster__start_join(cl, l, id, text, type == 'Q');
        else
            cluster__start_remove(cl, l, id, text);
    } else {
        cluster__reply(l, id, R_FAILED, "unknown request");
    }
}

/* Before the loop waits for I/O: the stanzas of this turn, one write per
 * link instead of one per stanza. */
static void flush_cb(uv_prepare_t *h)
{
    struct core_cluster *cl = h->data;

    uv_prepare_stop(h);
    for (struct link *l = cl->links; l; l = l->next)
        if (l->held) {
            l->held = 0;
            link_flush(l);
        }
}

int core_cluster_send(struct core_cluster *cl, const char *node, const struct xml_node *n)
{
    const char *addr;
    struct link *l;
    struct cw_sb sb;

    if (!xmpp_state_node(cl->st, node, NULL, &addr) || !(l = cluster__link_to(cl, addr)))
        return -1;
    cw_sb_init(&sb);
    xml_serialize(n, "jabber:client", &sb);
    l->held = 1;
    if (!sb.failed)
        cluster__link_frame(l, 'S', 0, sb.s, sb.len);
    cw_sb_free(&sb);
    uv_prepare_start(&cl->flush, flush_cb);
    return 0;
}

/* ---- the tick: roles, leader, registration, removal --------------------------- */

static void registered(void *arg, int rc, const char *msg)
{
    struct core_cluster *cl = arg;

    cl->registering = 0;
    if (rc < 0)
        CW_INFO("cluster", "registering this node's name failed (%s); retrying", msg);
}

/* A removed node stops: left alone it would stand for election forever,
 * since the leader no longer sends it anything. */
static void left_cluster(struct core_cluster *cl)
{
    if (!cl->started)
        return;
    CW_WARN("cluster", "this node was removed from the cluster: it stops taking part; to "
            "come back, reset it (remove %s and %s/node-id) and run `causeway xmpp cluster "
            "join`", cl->raft_dir, cl->cfg->state_dir);
    cl->removed = 1;
    cl->started = 0;
    raft_close(&cl->r, NULL);
}

static void write_logged(void *arg, int rc, const char *msg)
{
    (void)arg;
    if (rc < 0)
        CW_INFO("cluster", "clearing this node's old sessions failed: %s", msg);
}

static void tick_cb(uv_timer_t *t)
{
    struct core_cluster *cl = t->data;
    int s = cl->started ? raft_state(&cl->r) : -1;
    raft_id lid = 0;
    const char *la = leader_addr(cl, &lid), *id, *addr, *msg;
    char cmd[300];

    if (s != cl->last_state || lid != cl->last_leader) {
        if (s != cl->last_state)
            CW_NOTICE("cluster", "state %s -> %s (leader %s)", state_name(cl->last_state),
                      state_name(s), la ? la : "none");
        else
            CW_NOTICE("cluster", "leader is now %s", la ? la : "none (no majority)");
        cl->last_state = s;
        cl->last_leader = lid;
        cl->changed_at = time(NULL);
    }
    if (!cl->started)
        return;
    cluster__note_heard(cl);
    if (cluster__config_has(cl, cl->id, NULL)) {
        cl->was_member = 1;
    } else if (cl->was_member && cl->r.configuration.n) {
        left_cluster(cl);
        return;
    }
    /* Sessions and component routes this node held before it stopped are
     * gone: drop them once a leader can take the write. (A client that
     * logs in during the first tick after a restart may lose its entry
     * too; it is re-added at its next login.) */
    if (la && !cl->cleared && cl->was_member) {
        snprintf(cmd, sizeof(cmd), "session-clear %s", cl->cfg->name);
        if (core_cluster_propose(cl, cmd, write_logged, cl, &msg) == 0) {
            snprintf(cmd, sizeof(cmd), "comproute-clear %s", cl->cfg->name);
            core_cluster_propose(cl, cmd, write_logged, cl, &msg);
            cl->cleared = 1;
        }
    }
    /* This node's name and address in the state, once a leader is known. */
    if (la && !cl->registering && cl->was_member) {
        snprintf(cmd, sizeof(cmd), "%llu", cl->id);
        if (!xmpp_state_node(cl->st, cl->cfg->name, &id, &addr) || strcmp(id, cmd) ||
            strcmp(addr, cl->cfg->cluster.address)) {
            snprintf(cmd, sizeof(cmd), "node-set %s %llu %s", cl->cfg->name, cl->id,
                     cl->cfg->cluster.address);
            cl->registering = 1;
            if (core_cluster_propose(cl, cmd, registered, cl, &msg) < 0)
                cl->registering = 0;
        }
    }
}

/* ---- start, membership entry points, status ---------------------------------- */

static int node_id(struct core_cluster *cl, char *err, size_t errlen)
{
    char path[1200], buf[32];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/node-id", cl->cfg->state_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        cl->id = strtoull(buf, NULL, 10);
        if (cl->id)
            return 0;
    }
    /* A fresh id for a fresh node: a reset node is a new member. */
    do {
        if (RAND_bytes((unsigned char *)&cl->id, sizeof(cl->id)) != 1) {
            snprintf(err, errlen, "no random bytes for the node id");
            return -1;
        }
        cl->id >>= 1;   /* positive as a signed number too, for other tools */
    } while (!cl->id);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%llu" "\n", cl->id);
    if (write(fd, buf, (size_t)n) != n || close(fd) < 0) {
        snprintf(err, errlen, "cannot write %.300s", path);
        return -1;
    }
    return 0;
}

static int raft_dir_has_data(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "metadata", 8))
            found = 1;
    closedir(d);
    return found;
}

static int raft_begin(struct core_cluster *cl)
{
    int r = raft_start(&cl->r);

    if (r) {
        CW_ERROR("cluster", "cannot start Raft: %s", raft_errmsg(&cl->r));
        return -1;
    }
    cl->started = 1;
    return 0;
}

struct core_cluster *core_cluster_start(uv_loop_t *loop, const struct core_config *cfg,
                                        struct xmpp_state *st,
                                        const struct core_cluster_cbs *cbs, void *arg)
{
    struct core_cluster *cl = calloc(1, sizeof(*cl));
    uint8_t key[256];
    char err[512];
    ssize_t kl = -1;
    int fd, r;

    if (!cl)
        return NULL;
    cl->loop = loop;
    cl->cfg = cfg;
    cl->st = st;
    cl->cbs = *cbs;
    cl->arg = arg;
    cl->last_state = -1;
    cl->changed_at = time(NULL);
    if (node_id(cl, err, sizeof(err)) < 0) {
        CW_ERROR("cluster", "%s", err);
        free(cl);
        return NULL;
    }
    fd = open(cfg->cluster.key_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        kl = read(fd, key, sizeof(key));
        close(fd);
    }
    while (kl > 0 && (key[kl - 1] == '\n' || key[kl - 1] == '\r'))
        kl--;
    if (kl < CLUSTER_KEY_MIN || cluster_net_init(&cl->t, loop, key, (size_t)kl, on_link_accepted,
                                                 cl, err, sizeof(err)) < 0) {
        CW_ERROR("cluster", "[cluster] key-file %s: %s", cfg->cluster.key_file,
                 kl < 0 ? strerror(errno) : kl < CLUSTER_KEY_MIN ? "shorter than 16 bytes "
                 "(make one with: openssl rand -hex 32 > FILE, the same file on every node)"
                                                                  : err);
        OPENSSL_cleanse(key, sizeof(key));
        free(cl);
        return NULL;
    }
    OPENSSL_cleanse(key, sizeof(key));
    snprintf(cl->raft_dir, sizeof(cl->raft_dir), "%s/raft", cfg->state_dir);
    mkdir(cfg->state_dir, 0700);
    mkdir(cl->raft_dir, 0700);
    r = raft_uv_init(&cl->io, loop, cl->raft_dir, &cl->t);
    if (r == 0) {
        raft_uv_set_segment_size(&cl->io, 1 << 20);
        cl->fsm = (struct raft_fsm){ .version = 1, .data = cl, .apply = fsm_apply,
                                     .snapshot = fsm_snapshot, .restore = fsm_restore };
        r = raft_init(&cl->r, &cl->io, &cl->fsm, cl->id, cfg->cluster.address);
    }
    if (r) {
        CW_ERROR("cluster", "cannot set up Raft in %s: %s", cl->raft_dir,
                 raft_strerror(r));
        free(cl);
        return NULL;
    }
    cl->inited = 1;
    raft_set_election_timeout(&cl->r, cfg->cluster.election_ms);
    raft_set_heartbeat_timeout(&cl->r, cfg->cluster.heartbeat_ms);
    raft_set_pre_vote(&cl->r, true);
    uv_timer_init(loop, &cl->tick);
    cl->tick.data = cl;
    uv_prepare_init(loop, &cl->flush);
    cl->flush.data = cl;
    uv_timer_start(&cl->tick, tick_cb, TICK_MS, TICK_MS);
    if (raft_dir_has_data(cl->raft_dir)) {
        if (raft_begin(cl) < 0) {
            core_cluster_stop(cl, NULL, NULL);
            return NULL;
        }
        CW_NOTICE("cluster", "node %s (id %llu) on %s: rejoining its cluster",
                  cfg->name, cl->id, cfg->cluster.address);
    } else {
        CW_NOTICE("cluster", "node %s (id %llu) on %s is not in a cluster yet: run "
                  "`causeway xmpp cluster initialize` here (first node) or `causeway xmpp "
                  "cluster join ADDRESS`", cfg->name, cl->id, cfg->cluster.address);
    }
    return cl;
}

int core_cluster_initialize(struct core_cluster *cl, struct cw_sb *out)
{
    struct raft_configuration conf;
    int r;

    if (cl->started || cl->removed) {
        cw_sb_printf(out, "this node is %s a cluster\n", cl->removed ? "removed from" : "already in");
        return -1;
    }
    raft_configuration_init(&conf);
    r = raft_configuration_add(&conf, cl->id, cl->cfg->cluster.address, RAFT_VOTER);
    if (r == 0)
        r = raft_bootstrap(&cl->r, &conf);
    raft_configuration_close(&conf);
    if (r) {
        cw_sb_printf(out, "cannot initialize: %s\n", raft_errmsg(&cl->r));
        return -1;
    }
    if (raft_begin(cl) < 0) {
        cw_sb_printf(out, "cannot start Raft: %s\n", raft_errmsg(&cl->r));
        return -1;
    }
    CW_NOTICE("cluster", "initialized a cluster of one: node %s on %s", cl->cfg->name,
              cl->cfg->cluster.address);
    cw_sb_printf(out, "cluster initialized with this node (%s, %s); on the other nodes run: "
                 "causeway xmpp cluster join %s\n", cl->cfg->name, cl->cfg->cluster.address,
                 cl->cfg->cluster.address);
    return 0;
}

/* A join in two steps: the leader is asked whether it would add this node
 * ('Q'), and only then does Raft start here and the real request go ('J').
 * A refused or unreachable join so leaves nothing started, and the next
 * join may follow at once (a node that started Raft and was not added could
 * only restart). */
struct join_try {
    struct core_cluster *cl;
    cluster_done_fn done;
    void *arg;
    char address[128];
    char payload[300];
};

static void join_vetted(void *arg, int rc, const char *msg)
{
    struct join_try *t = arg;
    struct core_cluster *cl = t->cl;
    const char *why = NULL;

    cl->joining = 0;
    /* A leader of an older version does not know 'Q': it adds or refuses at 'J'. */
    if (rc && !cl->stopping && msg && !strcmp(msg, "unknown request"))
        rc = 0;
    if (rc || cl->stopping)
        why = msg ? msg : "failed";
    else if (cl->started)
        why = "this node is already in a cluster";
    else if (raft_begin(cl) < 0)
        why = "cannot start Raft";
    else if (request(cl, t->address, 'J', t->payload, t->done, t->arg, 0) < 0)
        why = "cannot connect to that node";
    else
        CW_NOTICE("cluster", "asking %s to add this node (%s)", t->address, cl->cfg->name);
    if (why)
        t->done(t->arg, rc ? rc : -1, why);
    free(t);
}

int core_cluster_join(struct core_cluster *cl, const char *address, cluster_done_fn done,
                      void *arg, const char **msg)
{
    struct join_try *t;

    if (cl->started) {
        /* A join refused after the leader's first answer (a race with
         * another change) leaves Raft started here without a
         * configuration that names this node: only a restart starts
         * afresh. */
        *msg = cluster__config_has(cl, cl->id, NULL)
                   ? "this node is already in a cluster"
                   : "an earlier join of this node is still going or was refused: restart "
                     "causeway-core on this node, then join again";
        return -1;
    }
    if (cl->removed) {
        *msg = "this node was removed: reset it (stop it, remove its state-dir) before it "
               "joins again";
        return -1;
    }
    if (cl->joining) {
        *msg = "a join of this node is already going: wait for its answer";
        return -1;
    }
    if (!(t = calloc(1, sizeof(*t)))) {
        *msg = "out of memory";
        return -1;
    }
    *t = (struct join_try){ .cl = cl, .done = done, .arg = arg };
    snprintf(t->address, sizeof(t->address), "%s", address);
    /* It starts empty and learns everything from the leader. */
    snprintf(t->payload, sizeof(t->payload), "%llu" " %s %s", cl->id, cl->cfg->cluster.address,
             cl->cfg->name);
    if (request(cl, address, 'Q', t->payload, join_vetted, t, 0) < 0) {
        free(t);
        *msg = "cannot connect to that node";
        return -1;
    }
    cl->joining = 1;
    return 0;
}

int core_cluster_remove(struct core_cluster *cl, const char *node, cluster_done_fn done,
                        void *arg, const char **msg)
{
    const char *addr = leader_addr(cl, NULL);

    if (!addr) {
        *msg = no_leader_msg(cl);
        return -1;
    }
    if (request(cl, addr, 'D', node, done, arg, 0) < 0) {
        *msg = "cannot reach the leader";
        return -1;
    }
    return 0;
}

void core_cluster_status(struct core_cluster *cl, struct cw_sb *out)
{
    raft_id lid;
    const char *la = leader_addr(cl, &lid);
    char when[64];
    struct tm tm;
    unsigned voters = 0;

    gmtime_r(&cl->changed_at, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cw_sb_printf(out, "Node: %s, id %llu, cluster address %s\n", cl->cfg->name, cl->id,
                 cl->cfg->cluster.address);
    cw_sb_printf(out, "State: %s\n", cl->started ? state_name(raft_state(&cl->r))
                                     : cl->removed ? "REMOVED" : "NOT INITIALIZED");
    cw_sb_printf(out, "Last state change: %s (%ld s ago)\n", when,
                 (long)(time(NULL) - cl->changed_at));
    cw_sb_printf(out, "Key: %s (shared cluster key; handshakes refused: %lu)\n",
                 cl->cfg->cluster.key_file, cluster_net_refused(&cl->t));
    if (!cl->started) {
        cw_sb_printf(out, "Writes: refused: %s\n", no_leader_msg(cl));
        return;
    }
    cw_sb_printf(out, "Peers:\n");
    for (unsigned i = 0; i < cl->r.configuration.n; i++) {
        const struct raft_server *s = &cl->r.configuration.servers[i];
        struct find_node f = { s->address, NULL, 0, "?" };
        char ids[24];
        snprintf(ids, sizeof(ids), "%llu", s->id);
        f.name = NULL;
        xmpp_state_nodes(cl->st, cluster__find_by, &f);
        voters += s->role == RAFT_VOTER;
        cw_sb_printf(out, "  %-22s %-16s %-7s%s%s\n", s->address, f.found_name,
                     s->role == RAFT_VOTER ? "voter" : s->role == RAFT_STANDBY ? "standby" : "spare",
                     s->id == lid ? " LEADER" : "", s->id == cl->id ? " (this node)" : "");
    }
    if (la)
        cw_sb_printf(out, "Writes: accepted (through the leader %s)\n", la);
    else
        cw_sb_printf(out, "Writes: refused: %s\n", no_leader_msg(cl));
}

void core_cluster_report(struct core_cluster *cl, struct cw_report *r)
{
    raft_id lid;
    const char *la = leader_addr(cl, &lid);
    const char *state = cl->started ? state_name(raft_state(&cl->r))
                        : cl->removed ? "REMOVED" : "NOT INITIALIZED";

    cw_report_section(r, "cluster", "XMPP cluster", la ? CW_REPORT_OK : CW_REPORT_ERROR);
    cw_report_str(r, "node", "Node", cl->cfg->name);
    cw_report_strf(r, "id", "Node id", "%llu", cl->id);
    cw_report_str(r, "address", "Cluster address", cl->cfg->cluster.address);
    cw_report_str(r, "raft_state", "State", state);
    cw_report_time(r, "last_change", "Last state change", cl->changed_at);
    cw_report_str(r, "leader", "Leader", la ? la : "(none)");
    cw_report_str(r, "writes", "Writes", la ? "accepted" : no_leader_msg(cl));
    cw_report_int(r, "handshakes_refused", "Cluster handshakes refused (wrong key)",
                  (int64_t)cluster_net_refused(&cl->t));
    cw_report_table(r, "peers", "Peers", "address,name,id,role,leader,this_node",
                    "Address,Name,Id,Role,Leader,This node");
    for (unsigned i = 0; cl->started && i < cl->r.configuration.n; i++) {
        const struct raft_server *sv = &cl->r.configuration.servers[i];
        struct find_node f = { sv->address, NULL, 0, "?" };

        f.name = NULL;
        xmpp_state_nodes(cl->st, cluster__find_by, &f);
        cw_report_row(r);
        cw_report_cell_str(r, sv->address);
        cw_report_cell_str(r, f.found_name);
        cw_report_cell_strf(r, "%llu", sv->id);
        cw_report_cell_str(r, sv->role == RAFT_VOTER ? "voter"
                              : sv->role == RAFT_STANDBY ? "standby" : "spare");
        cw_report_cell_str(r, sv->id == lid ? "yes" : "");
        cw_report_cell_str(r, sv->id == cl->id ? "yes" : "");
    }
}

int core_cluster_leader(struct core_cluster *cl, const char **why)
{
    raft_id lid;

    if (leader_addr(cl, &lid))
        return 1;
    *why = no_leader_msg(cl);
    return 0;
}

static void tick_closed(uv_handle_t *h);

static void raft_closed(struct raft *r)
{
    struct core_cluster *cl = r->data;

    raft_uv_close(&cl->io);
    cluster_net_free(&cl->t);
    if (cl->closed)
        cl->closed(cl->closed_arg);
    free(cl);
}

static void flush_closed(uv_handle_t *h)
{
    struct core_cluster *cl = h->data;

    cl->r.data = cl;
    if (cl->inited && !cl->removed) {   /* a removed node's Raft is closed already */
        raft_close(&cl->r, raft_closed);
        return;
    }
    raft_closed(&cl->r);
}

void core_cluster_stop(struct core_cluster *cl, void (*closed)(void *arg), void *arg)
{
    if (!cl || cl->stopping)
        return;
    cl->stopping = 1;
    cl->closed = closed;
    cl->closed_arg = arg;
    while (cl->pend)
        pend_finish(cl->pend, -1, "the node is stopping");
    while (cl->links)
        link_kill(cl->links, NULL);
    uv_timer_stop(&cl->tick);
    uv_close((uv_handle_t *)&cl->tick, tick_closed);
}

static void tick_closed(uv_handle_t *h)
{
    struct core_cluster *cl = h->data;

    uv_close((uv_handle_t *)&cl->flush, flush_closed);
}

int core_cluster_members(struct core_cluster *cl,
                         int (*fn)(void *arg, unsigned long long id, const char *address,
                                   int voter, int leader, int self),
                         void *arg)
{
    raft_id lid;
    int rc;

    if (!cl->started)
        return 0;
    leader_addr(cl, &lid);
    for (unsigned i = 0; i < cl->r.configuration.n; i++) {
        const struct raft_server *s = &cl->r.configuration.servers[i];
        if ((rc = fn(arg, s->id, s->address, s->role == RAFT_VOTER, s->id == lid, s->id == cl->id)))
            return rc;
    }
    return 0;
}

int core_cluster_started(const struct core_cluster *cl)
{
    return cl->started;
}
