/* ctl.c - the control socket server and client (see ctl.h). */
#include "ctl.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct ctl_cmd {
    char words[CW_CTL_LINE_MAX];
    int nwords;
    cw_ctl_handler fn;
    void *arg;
};

/* Who waits for a command's answer: a control connection, or an
 * in-process caller (cw_ctl_exec). */
struct ctl_call {
    void (*reply)(struct ctl_call *call, int rc, const char *text, size_t len);
};

struct cw_ctl {
    uv_pipe_t pipe;
    struct ctl_call *current;   /* the caller whose handler runs */
    int deferred;               /* that handler called cw_ctl_defer */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ctl_cmd *cmds;
    int ncmds;
    int closing;
};

struct ctl_conn {
    struct ctl_call call;       /* first: the pending token points here */
    uv_pipe_t pipe;
    struct cw_ctl *ctl;
    char buf[CW_CTL_LINE_MAX];
    size_t len;
    int done;
    struct cw_sb reply;
    uv_write_t wr;
    uv_timer_t timer;       /* a client that never finishes its line is dropped */
};

static void conn_free_cb(uv_handle_t *h)
{
    struct ctl_conn *c = h->data;

    cw_sb_free(&c->reply);
    free(c);
}

static void conn_timer_closed(uv_handle_t *h)
{
    struct ctl_conn *c = h->data;

    uv_close((uv_handle_t *)&c->pipe, conn_free_cb);
}

static void conn_close(struct ctl_conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->timer))
        return;
    uv_close((uv_handle_t *)&c->timer, conn_timer_closed);
}

static void conn_written(uv_write_t *wr, int status)
{
    (void)status;
    conn_close(wr->data);
}

static int split_words(char *line, char **argv, int max)
{
    int n = 0;
    char *save = NULL;

    for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == max)
            return -1;
        argv[n++] = w;
    }
    return n;
}

static const struct ctl_cmd *ctl_match(const struct cw_ctl *ctl, int argc, char **argv)
{
    const struct ctl_cmd *best = NULL;

    for (int i = 0; i < ctl->ncmds; i++) {
        const struct ctl_cmd *c = &ctl->cmds[i];
        const char *w = c->words;
        int k;

        if (c->nwords > argc || (best && best->nwords >= c->nwords))
            continue;
        for (k = 0; k < c->nwords; k++) {
            if (strcmp(w, argv[k]) != 0)
                break;
            w += strlen(w) + 1;
        }
        if (k == c->nwords)
            best = c;
    }
    return best;
}

/* Runs the command in words argv[0..argc) for call: the answer goes to
 * call->reply, now or (deferred) later. */
static void ctl_run(struct cw_ctl *ctl, struct ctl_call *call, int argc, char **argv)
{
    struct cw_sb body;
    const struct ctl_cmd *cmd;
    int rc;

    cw_sb_init(&body);
    if (argc <= 0) {
        rc = 1;
        cw_sb_printf(&body, "empty or too long command\n");
    } else if (!(cmd = ctl_match(ctl, argc, argv))) {
        rc = 1;
        cw_sb_printf(&body, "unknown command \"%s\"; try: causeway help\n", argv[0]);
    } else {
        ctl->current = call;
        ctl->deferred = 0;
        rc = cmd->fn(cmd->arg, argc - cmd->nwords, argv + cmd->nwords, &body);
        ctl->current = NULL;
        if (ctl->deferred) {
            cw_sb_free(&body);
            return;   /* cw_ctl_finish() answers */
        }
    }
    call->reply(call, rc, body.s ? body.s : "", body.len);
    cw_sb_free(&body);
}

static void conn_dispatch(struct ctl_conn *c)
{
    char *argv[CW_CTL_ARGS_MAX];

    ctl_run(c->ctl, &c->call, split_words(c->buf, argv, CW_CTL_ARGS_MAX), argv);
}

static void conn_reply(struct ctl_call *call, int rc, const char *text, size_t len)
{
    struct ctl_conn *c = (struct ctl_conn *)call;
    uv_buf_t b;

    cw_sb_printf(&c->reply, "%s\n", rc ? "error" : "ok");
    cw_sb_add(&c->reply, text, len);
    b = uv_buf_init(c->reply.s, (unsigned)c->reply.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, conn_written) < 0)
        conn_close(c);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct ctl_conn *c = h->data;

    (void)hint;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ctl_conn *c = s->data;
    char *nl;

    (void)buf;
    if (c->done)
        return;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    nl = memchr(c->buf, '\n', c->len);
    if (!nl && c->len < sizeof(c->buf) - 1)
        return;
    if (!nl) {
        CW_WARN("ctl", "control request longer than %d bytes dropped", CW_CTL_LINE_MAX);
        conn_close(c);
        return;
    }
    *nl = 0;
    c->done = 1;
    uv_read_stop(s);
    uv_timer_stop(&c->timer);
    conn_dispatch(c);
}

static void conn_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void ctl_accept(uv_stream_t *server, int status)
{
    struct cw_ctl *ctl = server->data;
    struct ctl_conn *c;

    if (status < 0 || ctl->closing)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->ctl = ctl;
    c->call.reply = conn_reply;
    cw_sb_init(&c->reply);
    uv_pipe_init(server->loop, &c->pipe, 0);
    uv_timer_init(server->loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, conn_timeout, 5000, 0);
    uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read);
}

/* 1 if some process answers on path. */
static int socket_alive(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), alive;

    if (fd < 0)
        return 0;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return alive;
}

struct cw_ctl *cw_ctl_create(uv_loop_t *loop, const char *path, char *err, size_t errlen)
{
    struct cw_ctl *ctl;
    mode_t old;
    int rc;

    if (strlen(path) >= sizeof(ctl->path)) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return NULL;
    }
    if (socket_alive(path)) {
        snprintf(err, errlen, "control socket %s is in use: is another daemon running?", path);
        return NULL;
    }
    unlink(path);
    ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(ctl->path, sizeof(ctl->path), "%s", path);
    uv_pipe_init(loop, &ctl->pipe, 0);
    ctl->pipe.data = ctl;
    old = umask(0177);                  /* the socket is for the administrator only */
    rc = uv_pipe_bind(&ctl->pipe, path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->pipe, 16, ctl_accept);
    if (rc < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        cw_ctl_close(ctl);
        return NULL;
    }
    return ctl;
}

int cw_ctl_register(struct cw_ctl *ctl, const char *cmd, cw_ctl_handler fn, void *arg)
{
    struct ctl_cmd *v = realloc(ctl->cmds, (size_t)(ctl->ncmds + 1) * sizeof(*v)), *c;
    char *p;

    if (!v)
        return -1;
    ctl->cmds = v;
    c = &v[ctl->ncmds];
    memset(c, 0, sizeof(*c));
    snprintf(c->words, sizeof(c->words), "%s", cmd);
    c->nwords = 1;
    for (p = c->words; (p = strchr(p, ' ')); p++, c->nwords++)
        *p = 0;
    c->fn = fn;
    c->arg = arg;
    ctl->ncmds++;
    return 0;
}

static void ctl_closed(uv_handle_t *h)
{
    struct cw_ctl *ctl = h->data;

    free(ctl->cmds);
    free(ctl);
}

void cw_ctl_close(struct cw_ctl *ctl)
{
    if (!ctl || ctl->closing)
        return;
    ctl->closing = 1;
    if (ctl->path[0])
        unlink(ctl->path);
    uv_close((uv_handle_t *)&ctl->pipe, ctl_closed);
}

int cw_ctl_call(const char *path, int argc, char **argv, struct cw_sb *out, char *err,
                size_t errlen)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct cw_sb req;
    char buf[4096];
    ssize_t n;
    size_t off = 0;
    int fd, rc = -1;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "control socket path too long");
        return -1;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        snprintf(err, errlen, "cannot reach the daemon on %s: %s (is it running? is -s right?)",
                 path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    cw_sb_init(&req);
    for (int i = 0; i < argc; i++)
        cw_sb_printf(&req, "%s%s", i ? " " : "", argv[i]);
    cw_sb_add(&req, "\n", 1);
    while (off < req.len) {
        n = write(fd, req.s + off, req.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "write to %s: %s", path, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "read from %s: %s", path, strerror(errno));
            goto out;
        }
        cw_sb_add(out, buf, (size_t)n);
    }
    if (out->len >= 3 && !strncmp(out->s, "ok\n", 3)) {
        rc = 0;
        memmove(out->s, out->s + 3, out->len - 2);
        out->len -= 3;
    } else if (out->len >= 6 && !strncmp(out->s, "error\n", 6)) {
        rc = 1;
        memmove(out->s, out->s + 6, out->len - 5);
        out->len -= 6;
    } else {
        snprintf(err, errlen, "the daemon on %s sent no reply", path);
    }
out:
    cw_sb_free(&req);
    close(fd);
    return rc;
}

struct cw_ctl_pending *cw_ctl_defer(struct cw_ctl *ctl)
{
    if (!ctl->current)
        return NULL;
    ctl->deferred = 1;
    return (struct cw_ctl_pending *)ctl->current;
}

void cw_ctl_finish(struct cw_ctl_pending *p, int rc, const char *text)
{
    struct ctl_call *call = (struct ctl_call *)p;

    call->reply(call, rc, text, strlen(text));
}

struct exec_call {
    struct ctl_call call;       /* first */
    cw_ctl_done cb;
    void *arg;
};

static void exec_reply(struct ctl_call *call, int rc, const char *text, size_t len)
{
    struct exec_call *x = (struct exec_call *)call;

    x->cb(x->arg, rc, text, len);
    free(x);
}

int cw_ctl_exec(struct cw_ctl *ctl, int argc, char **argv, cw_ctl_done cb, void *arg)
{
    struct exec_call *x = calloc(1, sizeof(*x));

    if (!x)
        return -1;
    x->call.reply = exec_reply;
    x->cb = cb;
    x->arg = arg;
    ctl_run(ctl, &x->call, argc > CW_CTL_ARGS_MAX ? -1 : argc, argv);
    return 0;
}
