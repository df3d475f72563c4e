/* admin_int.h - the admin server's insides, shared by its files: form.c
 * (parsers of untrusted input), auth.c (accounts, passwords, lockout,
 * sessions), page.c (HTML), server.c (listener, connections, framing),
 * route.c (what each URL answers), command.c (control commands). */
#ifndef CW_ADMIN_INT_H
#define CW_ADMIN_INT_H

#include "admin/admin.h"
#include "common/stream.h"
#include "common/strbuf.h"

#include <stdint.h>
#include <time.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_MAX_BODY 16384
#define ADMIN_HEADER_TIMEOUT_MS 10000
#define ADMIN_IDLE_TIMEOUT_MS 60000
#define ADMIN_MAX_SESSIONS 256
#define ADMIN_MAX_ADDRS 1024
#define ADMIN_NAME_MAX 64
#define ADMIN_PASS_MAX 256
#define ADMIN_HASH_MAX 256
#define ADMIN_TOKEN_HEX 64          /* 32 random bytes in hex */
#define ADMIN_ADDR_MAX 64
#define ADMIN_TARGET_MAX 1024
#define ADMIN_FORM_MAX_FIELDS 32
#define ADMIN_MAX_ACTIONS 32

/* ---- form.c: parsers of untrusted input, no allocation, no state ---- */

/* Results of the parsers below. */
#define ADMIN_ABSENT (-1)           /* no such field / cookie / scheme */
#define ADMIN_BAD (-2)              /* malformed, duplicate or too long: refuse the request */

/* The value of field name in an application/x-www-form-urlencoded body
 * (WHATWG URL 5.1: '&'-separated name=value, '+' is a space, %XX escapes).
 * Decoded into out (cap bytes with the NUL). Returns its length, ADMIN_ABSENT,
 * or ADMIN_BAD for a bad escape, a NUL or control byte decoded, a value
 * that does not fit, the field given twice, or more than
 * ADMIN_FORM_MAX_FIELDS fields. */
int admin__form_get(const char *body, size_t n, const char *name, char *out, size_t cap);
/* The value of cookie name in a Cookie header value (RFC 6265 5.4:
 * "a=b; c=d"), not decoded. Returns its length, ADMIN_ABSENT, or ADMIN_BAD
 * (the cookie twice, a value that does not fit, bytes outside
 * cookie-octet). */
int admin__cookie_get(const char *hdr, size_t n, const char *name, char *out, size_t cap);
/* Authorization: Basic (RFC 7617): user and password decoded from base64.
 * 0, ADMIN_ABSENT (another scheme), or ADMIN_BAD (bad base64, no colon,
 * empty user, control bytes, too long for the buffers). */
int admin__basic_decode(const char *hdr, size_t n, char *user, size_t ucap, char *pass,
                        size_t pcap);
/* Strict base64 (RFC 4648 4, padding required, no spaces): the byte count,
 * or -1. out has room for n / 4 * 3 bytes. */

/* ---- users.c ---- */

/* Calls fn(name, hash) for every line of the accounts file; check_mode
 * refuses a file that group or others may read or write. 0, or -1 with err
 * (fn returning -1 means out of memory). */
int admin__users_read(const char *path, int check_mode,
                      int (*fn)(const char *name, const char *hash, void *arg), void *arg,
                      char *err, size_t errlen);

/* ---- auth.c ---- */

/* Consecutive failures of an account or of a source address. */
struct admin_lock {
    unsigned failures;
    time_t last;                    /* last failure */
    time_t until;                   /* locked until (0: not locked) */
};

/* A failure at now: failures older than secs are forgotten first, an
 * expired lock ends. Returns 1 when this failure locks (limit reached). */
int admin__lock_fail(struct admin_lock *l, time_t now, unsigned limit, unsigned secs);
/* Seconds the lock still holds at now (0: not locked). */
unsigned admin__lock_left(const struct admin_lock *l, time_t now);
void admin__lock_clear(struct admin_lock *l);

struct admin_account {
    char name[ADMIN_NAME_MAX + 1];
    char hash[ADMIN_HASH_MAX];
    struct admin_lock lock;
    char last_addr[ADMIN_ADDR_MAX];   /* of the last failure */
};

struct admin_addr {
    char addr[ADMIN_ADDR_MAX];
    struct admin_lock lock;
};

struct admin_session {
    char id[ADMIN_TOKEN_HEX + 1];     /* "" = free slot */
    char csrf[ADMIN_TOKEN_HEX + 1];
    char user[ADMIN_NAME_MAX + 1];
    char addr[ADMIN_ADDR_MAX];
    time_t created, last;
};

enum admin_auth_result { ADMIN_AUTH_OK, ADMIN_AUTH_BAD, ADMIN_AUTH_LOCKED, ADMIN_AUTH_BLOCKED };

/* Reads the accounts file into a (keeping the locks of names that stay). */
int admin__accounts_load(struct cw_admin *a, char *err, size_t errlen);
/* Checks user and password from addr. Synchronously: returns the result
 * when refused at once (LOCKED or BLOCKED, *wait_s set). Else queues the
 * hash check on the thread pool and returns -1; done(arg, result, wait_s)
 * is called later, from the loop (with result ADMIN_AUTH_BAD also when out
 * of memory). */
typedef void (*admin_auth_done)(void *arg, enum admin_auth_result res, unsigned wait_s);
int admin__auth_check(struct cw_admin *a, const char *user, const char *pass, const char *addr,
                      admin_auth_done done, void *arg, unsigned *wait_s);
struct admin_session *admin__session_new(struct cw_admin *a, const char *user, const char *addr);
/* The live session with this id (idle time refreshed), or NULL. */
struct admin_session *admin__session_find(struct cw_admin *a, const char *id);
void admin__session_end(struct cw_admin *a, struct admin_session *s, const char *why);
/* Ends idle sessions (called every second). */
void admin__sessions_sweep(struct cw_admin *a);
/* Random bytes as lowercase hex (2 * n characters and a NUL); 0 or -1. */
int admin__random_hex(char *out, size_t n);
/* Constant-time string equality (for tokens). */
int admin__token_eq(const char *a, const char *b);
struct admin_account *admin__account_find(struct cw_admin *a, const char *name);

/* ---- the server ---- */

struct admin_action {
    char cmd[128];                  /* "admin unlock" */
    char arg[32];                   /* "NAME", or "" */
};

struct admin_conn;

struct cw_admin {
    uv_loop_t *loop;
    struct cw_admin_conf conf;
    char product[64];
    char host[256];
    cw_admin_report_fn report;
    void *report_arg;
    struct cw_stats *stats;
    struct cw_ctl *ctl;
    struct admin_action actions[ADMIN_MAX_ACTIONS];
    int nactions;
    struct cw_tls_ctx *tls;
    uv_tcp_t listener;
    uv_timer_t sweep;
    int handles;                    /* uv handles not yet closed */
    int pending;                    /* hash checks on the thread pool */
    int closing;
    struct admin_conn *conns;
    unsigned nconns;
    int full_logged;
    struct admin_account *acc;
    size_t nacc;
    struct admin_addr *addrs;       /* ADMIN_MAX_ADDRS */
    size_t naddr;
    struct admin_session sessions[ADMIN_MAX_SESSIONS];
    char dummy_hash[ADMIN_HASH_MAX];    /* checked for unknown users: the same time */
    struct {
        uint64_t logins_ok, logins_failed, lockouts, requests, sessions_active;
    } n;
};

/* The connection and the request it is answering, as route.c sees it. */
struct admin_req {
    char method[16];
    char target[ADMIN_TARGET_MAX];  /* path only (the query is cut off) */
    int has_cookie, has_basic;
    char session_id[ADMIN_TOKEN_HEX + 1];
    char user[ADMIN_NAME_MAX + 1];  /* from Basic, or the session's, once authenticated */
    char pass[ADMIN_PASS_MAX];      /* from Basic: wiped after the check */
    char csrf_hdr[ADMIN_TOKEN_HEX + 1];
    int bad_auth_header;            /* Authorization or Cookie malformed */
    struct cw_sb body;
    struct admin_session *session;  /* valid only until the next return to the loop */
    char csrf[ADMIN_TOKEN_HEX + 1]; /* the session's token, kept over an async answer */
    char action[512];               /* the control command being run */
    int mode;                       /* what the async answer is for (route.c) */
};

struct admin_conn {
    struct cw_admin *a;
    struct cw_stream *s;            /* NULL once the stream is gone */
    struct admin_conn *next, *prev;
    struct cw_sb in;
    uint64_t deadline;              /* loop time in ms; 0: none (busy) */
    int refs;
    int busy;                       /* an answer is being made off the loop */
    int in_process;
    int eof;
    int keep_alive;
    int sent_continue;
    char addr[ADMIN_ADDR_MAX];
    struct admin_req req;
};

/* server.c */
/* Writes a whole answer: status, content type, extra header lines (each
 * ending "\r\n", may be NULL), body. Adds the security headers. Logs the
 * audit line of a non-GET request. */
void admin__respond(struct admin_conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t len);
/* An async answer was written (or the connection is gone): go on. */
void admin__conn_resume(struct admin_conn *c);
void admin__conn_ref(struct admin_conn *c);
void admin__conn_unref(struct admin_conn *c);
const char *admin__reason(int status);

/* Frees a once it is closing and nothing refers to it any more. */
void admin__maybe_free(struct cw_admin *a);

/* route.c: answers the request in c->req (maybe later: sets c->busy). */
void admin__route(struct admin_conn *c);

/* page.c */
extern const char admin__css[];
void admin__page_login(struct cw_admin *a, struct cw_sb *out, const char *msg, const char *user);
/* user and csrf: the session's (the forms carry the token). */
void admin__page_status(struct cw_admin *a, struct cw_sb *out, const char *user,
                        const char *csrf, const struct cw_report *r);
void admin__page_result(struct cw_admin *a, struct cw_sb *out, const char *user,
                        const char *csrf, const char *cmd, int ok, const char *text);
void admin__page_message(struct cw_admin *a, struct cw_sb *out, const char *title,
                         const char *text);

/* command.c: `admin unlock NAME`, `admin status`, `admin reload-users`. */
void admin__commands_register(struct cw_admin *a);

#endif
