/* tunnel.c - the supervised tunnel sshd (see tunnel.h). */
#include "edge/tunnel.h"

#include "common/addr.h"
#include "common/file.h"
#include "common/log.h"
#include "common/report.h"
#include "common/sshkey.h"
#include "edge/tunnel_keys.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_SSHD "sshd"
#define LOG_TUN "tunnel"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define STABLE_MS 30000             /* ran this long: the next restart is quick again */
#define CORE_ALIVE_S 2              /* sshd's ClientAliveInterval */

struct tunnel {
    uv_loop_t *loop;
    struct edge_tunnel_config t;
    char conf[1100], hostkey[1100];
    char fp[TUNNEL_FP_LEN];
    uv_process_t proc;
    uv_pipe_t err;                  /* sshd's stderr: its log */
    uv_timer_t restart;
    char line[1024];
    size_t nline;
    int running, pipe_open, stopping, pending;
    int pid;
    uint64_t started_ms, backoff_ms;
    time_t since;
    unsigned restarts;
    char last_exit[128];
};

/* ---- the state directory ------------------------------------------------------ */

/* The host key, made with ssh-keygen on first start. */
static int host_key(struct tunnel *tn, char *err, size_t errlen)
{
    char pub[1200];

    snprintf(pub, sizeof(pub), "%s.pub", tn->hostkey);
    switch (cw_sshkey_make(tn->hostkey, "causeway-edge", err, errlen)) {
    case -1:
        return -1;
    case 1:
        CW_NOTICE(LOG_TUN, "made the tunnel host key %s", tn->hostkey);
        break;
    }
    if (cw_sshkey_file_fingerprint(pub, tn->fp) < 0) {
        snprintf(err, errlen, "cannot read the host key %s", pub);
        return -1;
    }
    return 0;
}

/* sshd_config: key logins of one user, remote forwards on the permitted
 * loopback ports, nothing else. Rewritten at every start. */
static int write_sshd_config(struct tunnel *tn, char *err, size_t errlen)
{
    const struct edge_tunnel_config *t = &tn->t;
    char ak[1100], tmp[1200], buf[CW_ADDR_STRLEN];
    FILE *f;

    tunnel_path(t, "authorized_keys", ak, sizeof(ak));
    if (!(f = cw_file_begin(tn->conf, tmp, sizeof(tmp), err, errlen)))
        return -1;
    fprintf(f, "# Written by causeway-edge at every start: change edge.conf, not this file.\n");
    for (int i = 0; i < t->nlisten; i++)
        fprintf(f, "ListenAddress %s\n",
                cw_addr_fmt((const struct sockaddr *)&t->listen[i], buf, sizeof(buf), 1));
    fprintf(f, "HostKey %s\nPidFile none\nAuthorizedKeysFile %s\nAllowUsers %s\n", tn->hostkey,
            ak, t->user);
    fprintf(f, "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
               "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
               "HostbasedAuthentication no\nUsePAM no\nStrictModes no\nPermitTTY no\n"
               "X11Forwarding no\nAllowAgentForwarding no\nAllowStreamLocalForwarding no\n"
               "PermitUserRC no\nPermitUserEnvironment no\nPermitTunnel no\nGatewayPorts no\n"
               "AllowTcpForwarding remote\nPermitOpen none\n");
    fprintf(f, "PermitListen");
    for (int p = 0; p < t->npermit; p++)
        fprintf(f, " 127.0.0.1:%u", t->permit[p]);
    fprintf(f, "%s\n", t->npermit ? "" : " none");
    /* A session may be opened (it makes sshd set TCP_NODELAY) but runs
     * nothing of the client's choosing. */
    fprintf(f, "ForceCommand echo 'causeway tunnel: port forwarding only' >&2; exit 1\n");
    /* A core silent for core-timeout is dropped, and its forwards are free
     * for its next connection: sshd asks every CORE_ALIVE_S when it has heard
     * nothing, and gives up after the check that exceeds CountMax. */
    fprintf(f, "ClientAliveInterval %u\nClientAliveCountMax %u\n", CORE_ALIVE_S,
            t->core_timeout / CORE_ALIVE_S - 1);
    fprintf(f, "LoginGraceTime 20\nMaxAuthTries 3\nMaxStartups 10:30:60\nLogLevel VERBOSE\n");
    return cw_file_commit(f, tmp, tn->conf, err, errlen);
}

/* ---- sshd's log --------------------------------------------------------------- */

/* Lines about refused or failed attempts are warnings; the rest is info. */
static void log_line(const char *s)
{
    static const char *const bad[] = { "refused", "Refused", "denied", "Denied", "Failed",
                                       "Invalid", "not allowed", "error:", "forced-command",
                                       "Disconnected from invalid", "maximum authentication" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strstr(s, bad[i])) {
            CW_WARN(LOG_SSHD, "%s", s);
            return;
        }
    CW_INFO(LOG_SSHD, "%s", s);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char b[4096];

    (void)h;
    (void)hint;
    *buf = uv_buf_init(b, sizeof(b));
}

static void maybe_free(struct tunnel *tn)
{
    if (tn->stopping && tn->pending == 0)
        free(tn);
}

static void handle_closed(uv_handle_t *h)
{
    struct tunnel *tn = h->data;

    tn->pending--;
    maybe_free(tn);
}

static void on_err_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct tunnel *tn = s->data;

    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n' || tn->nline == sizeof(tn->line) - 1) {
            tn->line[tn->nline] = 0;
            if (tn->nline)
                log_line(tn->line);
            tn->nline = 0;
            if (c == '\n')
                continue;
        }
        if (c != '\r')
            tn->line[tn->nline++] = c;
    }
    if (n < 0 && tn->pipe_open) {
        tn->pipe_open = 0;
        uv_close((uv_handle_t *)&tn->err, handle_closed);
    }
}

/* ---- the process -------------------------------------------------------------- */

static void spawn(struct tunnel *tn);

/* sshd's per-connection processes detach (setsid) and outlive an sshd that
 * dies, and their /proc environ is overwritten by their process titles. What
 * they all hold is a TCP connection to a tunnel listen address: on stop,
 * every sshd process with such a socket is ended. */
static int local_match(const struct edge_tunnel_config *t, const char *hex)
{
    for (int i = 0; i < t->nlisten; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&t->listen[i];
        char want[64];
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
            snprintf(want, sizeof(want), "%08X:%04X", (unsigned)in->sin_addr.s_addr,
                     ntohs(in->sin_port));
        } else {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
            uint32_t w[4];
            memcpy(w, &in6->sin6_addr, sizeof(w));
            snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", (unsigned)w[0],
                     (unsigned)w[1], (unsigned)w[2], (unsigned)w[3], ntohs(in6->sin6_port));
        }
        if (strcmp(want, hex) == 0)
            return 1;
    }
    return 0;
}

/* Inodes of the established connections to a tunnel listen address. */
static size_t tunnel_inodes(const struct edge_tunnel_config *t, unsigned long *ino, size_t cap)
{
    static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    size_t n = 0;

    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        char line[512], local[64];
        unsigned st;
        unsigned long inode;

        if (!fp)
            continue;
        while (fgets(line, sizeof(line), fp))
            if (sscanf(line, " %*d: %63s %*s %X %*s %*s %*s %*s %*s %lu", local, &st,
                       &inode) == 3 &&
                st == 1 /* ESTABLISHED */ && inode && local_match(t, local) && n < cap)
                ino[n++] = inode;
        fclose(fp);
    }
    return n;
}

static void stop_sessions(struct tunnel *tn)
{
    unsigned long ino[1024];
    size_t n = tunnel_inodes(&tn->t, ino, sizeof(ino) / sizeof(ino[0]));
    DIR *d;
    struct dirent *de;
    unsigned killed = 0;

    if (!n || !(d = opendir("/proc")))
        return;
    while ((de = readdir(d)) != NULL) {
        char path[300], comm[32] = "", link[64];
        int pid = atoi(de->d_name), hit = 0;
        DIR *fds;
        struct dirent *fe;
        FILE *f;

        if (pid <= 1 || pid == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%d/comm", pid);
        if (!(f = fopen(path, "r")))
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = 0;
        fclose(f);
        if (strcmp(comm, "sshd\n") != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        if (!(fds = opendir(path)))
            continue;
        while (!hit && (fe = readdir(fds)) != NULL) {
            char fdp[600];
            ssize_t l;
            unsigned long i;
            snprintf(fdp, sizeof(fdp), "%s/%s", path, fe->d_name);
            l = readlink(fdp, link, sizeof(link) - 1);
            if (l <= 0)
                continue;
            link[l] = 0;
            if (sscanf(link, "socket:[%lu]", &i) != 1)
                continue;
            for (size_t k = 0; k < n && !hit; k++)
                hit = ino[k] == i;
        }
        closedir(fds);
        if (hit && kill(pid, SIGTERM) == 0)
            killed++;
    }
    closedir(d);
    if (killed)
        CW_INFO(LOG_TUN, "ended %u sshd connection process%s", killed, killed == 1 ? "" : "es");
}

static void on_restart(uv_timer_t *t)
{
    spawn(t->data);
}

static void schedule_restart(struct tunnel *tn)
{
    uint64_t ran = uv_now(tn->loop) - tn->started_ms;

    if (ran >= STABLE_MS || !tn->backoff_ms)
        tn->backoff_ms = BACKOFF_MIN_MS;
    else if (tn->backoff_ms < BACKOFF_MAX_MS)
        tn->backoff_ms = tn->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : tn->backoff_ms * 2;
    uv_timer_start(&tn->restart, on_restart, tn->backoff_ms, 0);
}

static void sshd_exited(uv_process_t *p, int64_t status, int sig)
{
    struct tunnel *tn = p->data;

    tn->running = 0;
    if (sig)
        snprintf(tn->last_exit, sizeof(tn->last_exit), "killed by signal %d", sig);
    else
        snprintf(tn->last_exit, sizeof(tn->last_exit), "exit status %d", (int)status);
    uv_close((uv_handle_t *)p, handle_closed);     /* counted in pending by spawn */
    /* The per-connection children of a dead sshd live on, as they do with
     * any OpenSSH restart: the cores keep their tunnels. They share the log
     * pipe, which is therefore closed rather than waited for. */
    if (tn->pipe_open) {
        tn->pipe_open = 0;
        uv_close((uv_handle_t *)&tn->err, handle_closed);
    }
    if (tn->stopping) {
        CW_INFO(LOG_TUN, "sshd (pid %d) stopped", tn->pid);
        stop_sessions(tn);
        return;
    }
    schedule_restart(tn);
    tn->restarts++;
    CW_WARN(LOG_TUN, "sshd (pid %d) exited (%s): restarting it in %us", tn->pid, tn->last_exit,
            (unsigned)(tn->backoff_ms / 1000));
}

static void spawn(struct tunnel *tn)
{
    char *args[] = { tn->t.sshd, "-D", "-e", "-f", tn->conf, NULL };
    uv_stdio_container_t io[3];
    uv_process_options_t o;
    int rc;

    memset(&o, 0, sizeof(o));
    uv_pipe_init(tn->loop, &tn->err, 0);
    tn->err.data = tn;
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_IGNORE;
    io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[2].data.stream = (uv_stream_t *)&tn->err;
    o.file = tn->t.sshd;
    o.args = args;
    o.exit_cb = sshd_exited;
    o.stdio = io;
    o.stdio_count = 3;
    tn->proc.data = tn;
    tn->started_ms = uv_now(tn->loop);
    tn->pending++;                  /* the pipe */
    tn->pipe_open = 1;
    rc = uv_spawn(tn->loop, &tn->proc, &o);
    if (rc < 0) {
        tn->pipe_open = 0;
        uv_close((uv_handle_t *)&tn->err, handle_closed);
        tn->pending++;
        uv_close((uv_handle_t *)&tn->proc, handle_closed);
        schedule_restart(tn);
        CW_ERROR(LOG_TUN, "cannot start sshd %s: %s: retrying in %us (is openssh-server "
                 "installed? [tunnel] sshd names the binary)", tn->t.sshd, uv_strerror(rc),
                 (unsigned)(tn->backoff_ms / 1000));
        return;
    }
    tn->running = 1;
    tn->pending++;                  /* the process handle, until it has exited */
    tn->pid = tn->proc.pid;
    tn->nline = 0;
    tn->since = time(NULL);
    uv_read_start((uv_stream_t *)&tn->err, on_alloc, on_err_read);
    CW_NOTICE(LOG_TUN, "sshd started (pid %d, %s)", tn->pid, tn->conf);
}

struct tunnel *tunnel_start(uv_loop_t *loop, const struct edge_tunnel_config *t, char *err,
                            size_t errlen)
{
    struct tunnel *tn = calloc(1, sizeof(*tn));

    if (!tn) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tn->loop = loop;
    tn->t = *t;
    tunnel_path(t, "sshd_config", tn->conf, sizeof(tn->conf));
    tunnel_path(t, "ssh_host_ed25519_key", tn->hostkey, sizeof(tn->hostkey));
    if (cw_mkdirs(t->state_dir, err, errlen) < 0 || host_key(tn, err, errlen) < 0 ||
        tunnel_keys_refresh(t, err, errlen) < 0 || write_sshd_config(tn, err, errlen) < 0) {
        free(tn);
        return NULL;
    }
    /* Debian's sshd wants its privilege separation directory. */
    if (geteuid() == 0 && mkdir("/run/sshd", 0755) < 0 && errno != EEXIST)
        CW_WARN(LOG_TUN, "cannot create /run/sshd: %s", strerror(errno));
    uv_timer_init(loop, &tn->restart);
    tn->restart.data = tn;
    tn->pending++;                  /* the timer */
    CW_NOTICE(LOG_TUN, "tunnel host key %s (cores pin it)", tn->fp);
    spawn(tn);
    return tn;
}

void tunnel_stop(struct tunnel *tn)
{
    tn->stopping = 1;
    uv_timer_stop(&tn->restart);
    uv_close((uv_handle_t *)&tn->restart, handle_closed);
    /* sshd first, and its connection processes once it has exited
     * (sshd_exited): a connection it accepted while they were being ended
     * would live on without the edge, and could hold a core's forward. */
    if (tn->running)
        uv_process_kill(&tn->proc, SIGTERM);
    else
        stop_sessions(tn);
    maybe_free(tn);
}

static void status_core(const char *name, const char *fp, void *arg)
{
    cw_sb_printf(arg, "    %-24s %s\n", name, fp);
}

void tunnel_status(struct tunnel *tn, struct cw_sb *out)
{
    const struct edge_tunnel_config *t = &tn->t;
    char buf[CW_ADDR_STRLEN], err[512], fix[512], when[32];
    struct tm tm;
    int n;

    cw_sb_printf(out, "SSH tunnel endpoint\n");
    if (tn->running) {
        gmtime_r(&tn->since, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        cw_sb_printf(out, "  sshd: running, pid %d, since %s, restarts %u\n", tn->pid, when,
                     tn->restarts);
    } else {
        cw_sb_printf(out, "  sshd: NOT running (%s), next start in %us, restarts %u\n",
                     tn->last_exit[0] ? tn->last_exit : "did not start",
                     (unsigned)(uv_timer_get_due_in(&tn->restart) / 1000), tn->restarts);
    }
    cw_sb_printf(out, "  Listening:");
    for (int i = 0; i < t->nlisten; i++)
        cw_sb_printf(out, " %s",
                     cw_addr_fmt((const struct sockaddr *)&t->listen[i], buf, sizeof(buf), 1));
    cw_sb_printf(out, "\n  Host key: %s\n  Login user: %s\n", tn->fp, t->user);
    if (!tunnel_account_usable(t, err, sizeof(err), fix, sizeof(fix)))
        cw_sb_printf(out, "  REFUSED: %s; %s\n", err, fix);
    cw_sb_printf(out, "  Cores may listen on:");
    for (int p = 0; p < t->npermit; p++)
        cw_sb_printf(out, " 127.0.0.1:%u", t->permit[p]);
    cw_sb_printf(out, "%s\n", t->npermit ? "" : " (none: add permit-listen lines)");
    cw_sb_printf(out, "  Silent cores dropped after: %u s (core-timeout)\n", t->core_timeout);
    cw_sb_printf(out, "  Trusted cores:\n");
    n = tunnel_keys_foreach(t, status_core, out, err, sizeof(err));
    if (n < 0)
        cw_sb_printf(out, "    (cannot read: %s)\n", err);
    else if (n == 0)
        cw_sb_printf(out, "    (none: run `causeway tunnel trust NAME KEY` with the key a core "
                     "printed)\n");
}

static void report_core(const char *name, const char *fp, void *arg)
{
    struct cw_report *r = arg;

    cw_report_row(r);
    cw_report_cell_str(r, name);
    cw_report_cell_str(r, fp);
}

void tunnel_report(struct tunnel *tn, struct cw_report *r)
{
    const struct edge_tunnel_config *t = &tn->t;
    char buf[CW_ADDR_STRLEN], err[512], fix[512];
    struct cw_sb l;
    int n;

    cw_report_section(r, "tunnel", "SSH tunnel endpoint", tn->running ? CW_REPORT_OK : CW_REPORT_ERROR);
    cw_report_str(r, "sshd", "sshd", tn->running ? "running" : "NOT running");
    if (tn->running) {
        cw_report_int(r, "pid", "sshd process", tn->pid);
        cw_report_time(r, "since", "Since", tn->since);
    } else {
        cw_report_str(r, "why", "Why", tn->last_exit[0] ? tn->last_exit : "did not start");
    }
    cw_report_int(r, "restarts", "Restarts", tn->restarts);
    cw_sb_init(&l);
    for (int i = 0; i < t->nlisten; i++)
        cw_sb_printf(&l, "%s%s", i ? ", " : "",
                     cw_addr_fmt((const struct sockaddr *)&t->listen[i], buf, sizeof(buf), 1));
    cw_report_str(r, "listening", "Listening", cw_sb_str(&l));
    cw_sb_clear(&l);
    cw_report_str(r, "host_key", "Host key", tn->fp);
    cw_report_str(r, "user", "Login user", t->user);
    if (!tunnel_account_usable(t, err, sizeof(err), fix, sizeof(fix))) {
        cw_report_str(r, "user_refused", "Login user refused by sshd", err);
        cw_report_str(r, "user_fix", "Fix", fix);
        cw_report_state(r, CW_REPORT_ERROR);
    }
    for (int p = 0; p < t->npermit; p++)
        cw_sb_printf(&l, "%s127.0.0.1:%u", p ? ", " : "", t->permit[p]);
    cw_report_str(r, "permit_listen", "Cores may listen on", l.len ? cw_sb_str(&l) : "(none)");
    cw_sb_free(&l);
    cw_report_int(r, "core_timeout_s", "Silent cores dropped after (s)", t->core_timeout);
    cw_report_table(r, "trusted_cores", "Trusted cores", "name,key", "Core,Key fingerprint");
    n = tunnel_keys_foreach(t, report_core, r, err, sizeof(err));
    if (n < 0) {
        cw_report_str(r, "keys_error", "Trusted keys file", err);
        cw_report_state(r, CW_REPORT_ERROR);
    } else if (n == 0) {
        cw_report_state(r, CW_REPORT_WARN);
    }
}

/* Whether the mode bits let the account (uid, groups) do bit (4 read, 1
 * search) on st. ACLs aside. */
static int mode_allows(const struct stat *st, const struct passwd *pw, const gid_t *g, int ng,
                       unsigned bit)
{
    if (st->st_uid == pw->pw_uid)
        return (st->st_mode & (bit << 6)) != 0;
    for (int i = 0; i < ng; i++)
        if (st->st_gid == g[i])
            return (st->st_mode & (bit << 3)) != 0;
    return (st->st_mode & bit) != 0;
}

/* Whether the account may read path: search on every directory above it
 * and read on the file. */
static int account_can_read(const struct passwd *pw, const char *path)
{
    gid_t groups[64];
    int ng = 64;
    char p[1100];
    struct stat st;

    if (pw->pw_uid == 0)
        return 1;
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0) {
        groups[0] = pw->pw_gid;
        ng = 1;
    }
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p; (s = strchr(s + 1, '/'));) {
        *s = '\0';
        if (stat(p, &st) == 0 && !mode_allows(&st, pw, groups, ng, 1))
            return 0;
        *s = '/';
    }
    return stat(p, &st) != 0 || mode_allows(&st, pw, groups, ng, 4);
}

int tunnel_account_usable(const struct edge_tunnel_config *t, char *what, size_t wl, char *fix,
                          size_t fl)
{
    struct passwd pw, *pwp = NULL;
    struct spwd sp, *spp = NULL;
    char pbuf[4096], sbuf[4096], ak[1100];
    const char *user = t->user;

    if (getpwnam_r(user, &pw, pbuf, sizeof(pbuf), &pwp) != 0 || !pwp) {
        snprintf(what, wl, "the login user \"%s\" is not an account on this machine: sshd "
                 "refuses every core", user);
        snprintf(fix, fl, "create it (useradd --system --no-create-home --shell "
                 "/usr/sbin/nologin %s; usermod -p NP %s), or set [tunnel] user to an account "
                 "that exists", user, user);
        return 0;
    }
    /* sshd without PAM refuses an account whose password field starts
     * with '!' ("account is locked"), whatever the key. A field this
     * process cannot read is one sshd cannot read either. */
    if (getspnam_r(user, &sp, sbuf, sizeof(sbuf), &spp) == 0 && spp && spp->sp_pwdp &&
        spp->sp_pwdp[0] == '!') {
        snprintf(what, wl, "the login user \"%s\" has a locked password field in /etc/shadow "
                 "(\"!\", as useradd leaves it): sshd refuses every core (\"account is "
                 "locked\"), even with a trusted key", user);
        snprintf(fix, fl, "give it a field that is not locked and matches no password: "
                 "usermod -p NP %s (the cores retry by themselves)", user);
        return 0;
    }
    /* sshd reads authorized_keys as the login user. */
    tunnel_path(t, "authorized_keys", ak, sizeof(ak));
    if (!account_can_read(&pw, ak)) {
        snprintf(what, wl, "the login user \"%s\" cannot read %s (sshd reads it as that user): "
                 "sshd refuses every core", user, ak);
        snprintf(fix, fl, "run causeway-edge as %s (docs/deployment.md), or set [tunnel] user "
                 "to the account that runs it", user);
        return 0;
    }
    return 1;
}

int tunnel_sshd_running(const struct tunnel *tn, char *why, size_t len)
{
    if (!tn->running)
        snprintf(why, len, "%s", tn->last_exit[0] ? tn->last_exit : "did not start");
    return tn->running;
}
