/* xmpp_store.c - a standalone core node's XMPP state file and the journal of
 * changes since it (see xmpp_store.h). */
#include "core/xmpp_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "xmpp/state.h"

/* The journal is folded into a new state file once it is past this and
 * past the state file's own size: appends stay O(1) amortised. */
#define JOURNAL_MIN ((size_t)1 << 20)
#define STATE_HEAD "# causeway-core XMPP state: written by the daemon, do not edit\n"
#define GEN_LINE "# generation %llu\n"
#define JOURNAL_HEAD "# causeway-core XMPP journal of generation %llu: changes since the state file\n"

struct core_store {
    char path[1100], jpath[1100];
    int jfd;                    /* -1: none open; the next change writes the state whole */
    unsigned long long gen;     /* the state file's */
    size_t jbytes, sbytes;
    enum { GO_ON, NEW_JOURNAL, FOLD } next;   /* what core_store_begin does */
};

struct core_store *core_store_create(const char *dir)
{
    struct core_store *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    snprintf(s->path, sizeof(s->path), "%s/xmpp.state", dir);
    snprintf(s->jpath, sizeof(s->jpath), "%s/xmpp.journal", dir);
    s->jfd = -1;
    return s;
}

void core_store_destroy(struct core_store *s)
{
    if (!s)
        return;
    if (s->jfd >= 0)
        close(s->jfd);
    free(s);
}

size_t core_store_journal_bytes(const struct core_store *s)
{
    return s->jbytes;
}

size_t core_store_state_bytes(const struct core_store *s)
{
    return s->sbytes;
}

/* The whole file into out: 0, 1 when there is none, -1 (errno). */
static int read_all(const char *path, struct cw_sb *out)
{
    char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        cw_sb_add(out, buf, (size_t)n);
    close(fd);
    if (n < 0)
        return -1;
    if (out->failed) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* The generation that one of the leading comment lines names with fmt (one
 * %llu), or 0 (a state file from before journals, or a journal whose head
 * a stop cut short). */
static unsigned long long head_gen(const char *text, const char *fmt)
{
    unsigned long long g;

    for (const char *p = text; p && *p == '#'; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (sscanf(p, fmt, &g) == 1)
            return g;
    return 0;
}

/* Applies the journal's complete lines; a last one cut short is dropped.
 * A journal with changes, or a cut one, is to be folded in. */
static int replay(struct core_store *s, struct xmpp_state *st, const char *text)
{
    char line[4096], err[512];
    unsigned no = 0, applied = 0;
    const char *p = text, *e;

    for (; *p; p = e + 1) {
        size_t n;
        no++;
        if (!(e = strchr(p, '\n'))) {
            CW_NOTICE("xmpp", "%s: the last change (%zu bytes) was cut short by a stop and is "
                      "dropped", s->jpath, strlen(p));
            s->next = FOLD;
            break;
        }
        n = (size_t)(e - p);
        if (!n || *p == '#')
            continue;
        if (n >= sizeof(line)) {
            CW_ERROR("xmpp", "%s line %u: too long: the journal does not fit %s; move it away to "
                     "start without the changes it holds", s->jpath, no, s->path);
            return -1;
        }
        memcpy(line, p, n);
        line[n] = 0;
        if (xmpp_state_apply(st, line, err, sizeof(err)) < 0) {
            CW_ERROR("xmpp", "%s line %u: %s: the journal does not fit %s; move it away to start "
                     "without the changes it holds", s->jpath, no, err, s->path);
            return -1;
        }
        applied++;
    }
    s->jbytes = strlen(text);
    if (applied) {
        s->next = FOLD;
        CW_INFO("xmpp", "%s: %u change%s since the state file applied", s->jpath, applied,
                applied == 1 ? "" : "s");
    }
    return 0;
}

int core_store_load(struct core_store *s, struct xmpp_state *st)
{
    struct cw_sb sb;
    char err[512];
    unsigned long long jgen;
    int rc;

    s->next = FOLD;
    cw_sb_init(&sb);
    rc = read_all(s->path, &sb);
    if (rc < 0) {
        CW_ERROR("xmpp", "%s: %s", s->path, strerror(errno));
        goto out;
    }
    if (rc == 0) {
        s->gen = head_gen(sb.s, "# generation %llu");
        s->sbytes = sb.len;
        if (xmpp_state_load(st, sb.s, err, sizeof(err)) < 0) {
            CW_ERROR("xmpp", "%s: %s", s->path, err);
            rc = -1;
            goto out;
        }
    }
    cw_sb_free(&sb);
    cw_sb_init(&sb);
    rc = read_all(s->jpath, &sb);
    if (rc < 0) {
        CW_ERROR("xmpp", "%s: %s", s->jpath, strerror(errno));
        goto out;
    }
    if (rc == 1 && s->gen) {
        s->next = NEW_JOURNAL;      /* a state file alone, in the format of ours */
    } else if (rc == 0) {
        jgen = head_gen(sb.s, "# causeway-core XMPP journal of generation %llu");
        if (jgen && jgen == s->gen) {
            s->next = GO_ON;
            rc = replay(s, st, sb.s);
        } else if (sb.len) {
            CW_INFO("xmpp", "%s is of generation %llu, already in %s (generation %llu): skipped",
                    s->jpath, jgen, s->path, s->gen);
        }
    }
out:
    cw_sb_free(&sb);
    return rc < 0 ? -1 : 0;
}

/* A new, empty journal for the current generation. */
static int journal_start(struct core_store *s)
{
    char head[128];
    int n = snprintf(head, sizeof(head), JOURNAL_HEAD, s->gen);

    if (s->jfd >= 0)
        close(s->jfd);
    s->jfd = open(s->jpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (s->jfd < 0 || write(s->jfd, head, (size_t)n) != n || fdatasync(s->jfd) < 0) {
        CW_ERROR("xmpp", "cannot start the XMPP journal %s: %s (each change writes the whole "
                 "state instead)", s->jpath, strerror(errno));
        if (s->jfd >= 0)
            close(s->jfd);
        s->jfd = -1;
        return -1;
    }
    s->jbytes = (size_t)n;
    return 0;
}

int core_store_save(struct core_store *s, const struct xmpp_state *st)
{
    char tmp[1200], err[1300];
    struct cw_sb sb;
    FILE *f;
    int rc = -1;

    cw_sb_init(&sb);
    CW_SB_LIT(&sb, STATE_HEAD);
    cw_sb_printf(&sb, GEN_LINE, s->gen + 1);
    xmpp_state_dump(st, &sb);
    if (sb.failed)
        snprintf(err, sizeof(err), "%s: %s", s->path, strerror(ENOMEM));
    else if ((f = cw_file_begin(s->path, tmp, sizeof(tmp), err, sizeof(err)))) {
        fwrite(sb.s, 1, sb.len, f);     /* a failure shows in commit (ferror) */
        rc = cw_file_commit(f, tmp, s->path, err, sizeof(err));
    }
    if (rc < 0) {
        CW_ERROR("xmpp", "cannot save the XMPP state to %s (changes stay in memory only)", err);
    } else {
        s->gen++;
        s->sbytes = sb.len;
        rc = journal_start(s);
    }
    cw_sb_free(&sb);
    return rc;
}

int core_store_begin(struct core_store *s, const struct xmpp_state *st)
{
    switch (s->next) {
    case GO_ON:     /* the journal of this generation, complete and with no changes */
        if (s->jfd >= 0)
            close(s->jfd);
        if ((s->jfd = open(s->jpath, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0)
            return 0;
        break;
    case NEW_JOURNAL:
        return journal_start(s);
    case FOLD:
        break;
    }
    return core_store_save(s, st);
}

int core_store_append(struct core_store *s, const struct xmpp_state *st, const char *cmd)
{
    struct iovec v[2] = { { (void *)cmd, strlen(cmd) }, { "\n", 1 } };
    size_t n = v[0].iov_len + 1;
    ssize_t w;

    if (!strncmp(cmd, "session-", 8))
        return 0;
    if (s->jfd < 0)
        return core_store_save(s, st);
    w = writev(s->jfd, v, 2);
    if (w != (ssize_t)n || fdatasync(s->jfd) < 0) {
        CW_ERROR("xmpp", "cannot write the XMPP journal %s: %s (writing the whole state instead)",
                 s->jpath, w >= 0 && w != (ssize_t)n ? "short write" : strerror(errno));
        close(s->jfd);
        s->jfd = -1;
        return core_store_save(s, st);
    }
    s->jbytes += n;
    if (s->jbytes > JOURNAL_MIN && s->jbytes > s->sbytes)
        return core_store_save(s, st);
    return 0;
}
