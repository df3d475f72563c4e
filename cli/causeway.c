/* causeway.c - the `causeway` command line: talks to a running daemon over
 * its control socket, and manages the TURN user database file directly
 * (then asks the daemon, if it runs, to reload it). */
#include "admin/admin.h"
#include "common/conf.h"
#include "common/ctl.h"
#include "common/strbuf.h"
#include "core/config.h"
#include "core/pairing.h"
#include "edge/config.h"
#include "edge/tunnel_keys.h"
#include "turn/auth.h"
#include "xmpp/sasl.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *ctl_path;
static const char *conf_path = EDGE_CONF_DEFAULT;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: causeway [-c edge.conf|core.conf] [-s control.sock] COMMAND\n"
            "commands of a running edge:\n"
            "  turn status                 listeners, clients, relays, allocations per user\n"
            "  turn list                   every allocation\n"
            "  turn reload-users           re-read the TURN user database\n"
            "  metrics [prometheus]        all counters\n"
            "  status [SECTION] [json]     every module at a glance (edge or core), one\n"
            "                              section of it, or the same as JSON\n"
            "  faults [json]               fault conditions raised and cleared, with times\n"
            "  reload                      what SIGHUP does (edge or core, from -c): re-read\n"
            "                              the log level, certificates, user databases; says\n"
            "                              what was reloaded, exit 1 when a part was not\n"
            "  doctor [json]               check the deployment (edge or core, from -c) against\n"
            "                              the usual faults; each finding with its fix; exit 1\n"
            "                              when a check failed\n"
            "  version\n"
            "TURN users (edits the user-db file of edge.conf):\n"
            "  turn user add NAME [--password-stdin]   add or change (asks for the password)\n"
            "  turn user del NAME\n"
            "  turn user list\n"
            "  turn rest-credential NAME [TTL_SECONDS] a short-lived REST credential from the\n"
            "                              configured rest-secret (what a webbridge hands out)\n"
            "SSH tunnel endpoint ([tunnel] of edge.conf):\n"
            "  tunnel status               sshd, host key fingerprint, trusted cores (running edge)\n"
            "  tunnel trust NAME KEY|-     let core NAME in with its ssh-ed25519 public key line\n"
            "                              (- reads it from standard input)\n"
            "  tunnel untrust NAME\n"
            "  tunnel cores                the trusted cores and their key fingerprints\n"
            "Web proxy ([webproxy] of edge.conf):\n"
            "  webproxy status             listeners, hosts and their backends, connections,\n"
            "                              requests by status class (running edge)\n"
            "  webproxy reload             re-read the certificate files (also on SIGHUP)\n"
            "XMPP federation ([federation] of edge.conf):\n"
            "  xmpp federation status      core links, s2s streams (domain, direction, TLS,\n"
            "                              authentication, since) and domains dialled\n"
            "Core (with -c core.conf):\n"
            "  tunnel status               Target, Domain, Status of every tunnel, and what the\n"
            "                              guest account client URI resolved to (running core)\n"
            "  tunnel pair                 make this core's key if needed and print the command\n"
            "                              that trusts it on an edge\n"
            "  xmpp status                 listeners, sessions and connected components\n"
            "  xmpp domain add|del DOMAIN  the XMPP domains served (each needs a certificate\n"
            "                              in [xmpp]); xmpp domain list\n"
            "  xmpp user add USER@DOMAIN [--password-stdin]  add or change (asks for the\n"
            "                              password; only SCRAM keys are stored)\n"
            "  xmpp user del USER@DOMAIN;  xmpp user list [DOMAIN]\n"
            "  xmpp callbridge add NAME    register a call bridge component; prints its secret\n"
            "  xmpp callbridge add-secret NAME SECRET   register one with a known secret\n"
            "  xmpp callbridge del NAME;   xmpp callbridge list\n"
            "  xmpp cluster status         State, peers (leader marked), last change, key\n"
            "  xmpp cluster initialize     make this node a cluster of one (first node)\n"
            "  xmpp cluster join ADDR:PORT join the cluster that node belongs to\n"
            "  xmpp cluster remove NODE    remove a member (name or address) from every view\n"
            "  xmpp cluster import STATE_DIR  bring a node alone's domains, users, call\n"
            "                              bridges and rosters into the cluster\n"
            "  turn check                  allocate a relay on the edge's TURN server ([turn] of\n"
            "                              core.conf) now and say whether it works, or why not\n"
            "                              (exit status 1 when not)\n"
            "  turn status                 the last TURN check's result\n"
            "  version\n"
            "Admin accounts (edge or core; the [admin] users file, daemon running or not):\n"
            "  admin user add NAME [--password-stdin]     add an account (asks twice for the\n"
            "                              password; at least 10 characters)\n"
            "  admin user passwd NAME [--password-stdin]  change its password\n"
            "  admin user del NAME;        admin user list\n"
            "  admin status                accounts, locks and sessions (running daemon)\n"
            "  admin unlock NAME           end an account's lockout now (running daemon)\n");
}

static int load_config(struct edge_config *cfg)
{
    char err[1024];

    if (edge_config_load(cfg, conf_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        return -1;
    }
    return 0;
}

static int call_daemon(int argc, char **argv, int quiet_if_down)
{
    struct cw_sb out;
    char err[512];
    int rc;

    cw_sb_init(&out);
    rc = cw_ctl_call(ctl_path, argc, argv, &out, err, sizeof(err));
    if (rc < 0) {
        if (!quiet_if_down)
            fprintf(stderr, "causeway: %s\n", err);
        cw_sb_free(&out);
        return quiet_if_down ? 0 : 3;
    }
    fputs(cw_sb_str(&out), rc == 0 ? stdout : stderr);
    cw_sb_free(&out);
    return rc;
}

/* `doctor [json]`: a progress line first (the checks take up to 15 s),
 * then the findings on stdout whatever they are; exit 1 if one failed. */
static int doctor(int argc, char **argv, int core)
{
    char *count[] = { "doctor", "count" };
    struct cw_sb out;
    char err[512];
    int rc;

    cw_sb_init(&out);
    rc = cw_ctl_call(ctl_path, 2, count, &out, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        cw_sb_free(&out);
        return 3;
    }
    fprintf(stderr, "doctor: asking the %s on %s to check %d things (up to 15 s)...\n",
            core ? "core" : "edge", ctl_path, rc == 0 ? atoi(cw_sb_str(&out)) : 0);
    cw_sb_clear(&out);
    rc = cw_ctl_call(ctl_path, argc, argv, &out, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        cw_sb_free(&out);
        return 3;
    }
    fputs(cw_sb_str(&out), stdout);
    cw_sb_free(&out);
    return rc ? 1 : 0;
}

/* Reads a password without echo from the terminal, or one line of stdin. */
static int read_password(char *buf, size_t len, int from_stdin)
{
    struct termios old, quiet;
    int tty = !from_stdin && isatty(0);
    size_t n;

    if (tty) {
        fprintf(stderr, "password: ");
        tcgetattr(0, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSANOW, &quiet);
    }
    if (!fgets(buf, (int)len, stdin))
        buf[0] = 0;
    if (tty) {
        tcsetattr(0, TCSANOW, &old);
        fputc('\n', stderr);
    }
    n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    if (!n) {
        fprintf(stderr, "causeway: empty password\n");
        return -1;
    }
    return 0;
}

/* `xmpp user add JID`: the SCRAM keys are made here, so the password never
 * leaves this process; the daemon gets only the stored form. */
static int xmpp_user_add(int argc, char **argv)
{
    struct sasl_cred c256, c1;
    struct cw_sb k256, k1;
    char pass[512];
    char *words[6];
    int rc;

    if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "--password-stdin") != 0)) {
        usage(stderr);
        return 2;
    }
    if (read_password(pass, sizeof(pass), argc == 5) < 0)
        return 1;
    rc = sasl_cred_make(SASL_SHA256, pass, 0, &c256) < 0 || sasl_cred_make(SASL_SHA1, pass, 0, &c1) < 0;
    memset(pass, 0, sizeof(pass));
    if (rc) {
        fprintf(stderr, "causeway: cannot derive the SCRAM keys\n");
        return 1;
    }
    cw_sb_init(&k256);
    cw_sb_init(&k1);
    sasl_cred_format(&c256, &k256);
    sasl_cred_format(&c1, &k1);
    words[0] = argv[0];
    words[1] = argv[1];
    words[2] = argv[2];
    words[3] = argv[3];
    words[4] = k256.s;
    words[5] = k1.s;
    rc = call_daemon(6, words, 0);
    cw_sb_free(&k256);
    cw_sb_free(&k1);
    return rc;
}

static int print_user(const char *user, const char *realm, void *arg)
{
    (void)arg;
    printf("%s\t%s\n", user, realm);
    return 0;
}

static int turn_user(int argc, char **argv)
{
    struct edge_config cfg;
    struct turn_userdb *db = NULL;
    char err[1024], pass[512];
    int rc = 1;

    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    if (load_config(&cfg) < 0)
        return 1;
    if (!cfg.user_db[0]) {
        fprintf(stderr, "causeway: %s has no [turn] user-db\n", conf_path);
        goto out;
    }
    if (turn_userdb_load(cfg.user_db, &db, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        goto out;
    }
    if (!strcmp(argv[0], "list") && argc == 1) {
        turn_userdb_foreach(db, print_user, NULL);
        rc = 0;
        goto out;
    }
    if (!strcmp(argv[0], "add") && (argc == 2 || (argc == 3 && !strcmp(argv[2], "--password-stdin")))) {
        struct turn_key key;
        if (read_password(pass, sizeof(pass), argc == 3) < 0)
            goto out;
        turn_key_derive(argv[1], strlen(argv[1]), cfg.realm, pass, strlen(pass), &key);
        memset(pass, 0, sizeof(pass));
        if (turn_userdb_set(db, argv[1], cfg.realm, &key) < 0) {
            fprintf(stderr, "causeway: \"%s\" is not a valid user name (no spaces or control "
                            "characters, not starting with #)\n", argv[1]);
            goto out;
        }
        memset(&key, 0, sizeof(key));
    } else if (!strcmp(argv[0], "del") && argc == 2) {
        if (turn_userdb_del(db, argv[1], cfg.realm) < 0) {
            fprintf(stderr, "causeway: no user \"%s\" in realm \"%s\"\n", argv[1], cfg.realm);
            goto out;
        }
    } else {
        usage(stderr);
        rc = 2;
        goto out;
    }
    if (turn_userdb_save(db, cfg.user_db, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        goto out;
    }
    printf("user \"%s\" %s in %s (realm %s)\n", argv[1], argv[0][0] == 'a' ? "saved" : "deleted",
           cfg.user_db, cfg.realm);
    {
        char *reload[] = { "turn", "reload-users" };
        struct cw_sb out;
        if (!ctl_path)
            ctl_path = cfg.d.control_socket;
        cw_sb_init(&out);
        rc = cw_ctl_call(ctl_path, 2, reload, &out, err, sizeof(err));
        if (rc < 0)
            printf("the edge is not reachable on %s: it reads the file when it starts\n",
                   ctl_path);
        else
            fputs(cw_sb_str(&out), rc == 0 ? stdout : stderr);
        cw_sb_free(&out);
        rc = rc > 0;
    }
out:
    turn_userdb_destroy(db);
    edge_config_free(&cfg);
    return rc;
}

static int turn_rest_credential(int argc, char **argv)
{
    struct edge_config cfg;
    char user[TURN_NAME_MAX + 1], pass[128];
    long ttl = 86400;

    if (argc < 1 || argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2) {
        char *end;
        ttl = strtol(argv[1], &end, 10);
        if (*end || ttl <= 0 || ttl > 30L * 86400) {
            fprintf(stderr, "causeway: TTL must be 1 to 2592000 seconds\n");
            return 2;
        }
    }
    if (load_config(&cfg) < 0)
        return 1;
    if (!cfg.rest_secret_len) {
        fprintf(stderr, "causeway: %s has no [turn] rest-secret-file\n", conf_path);
        edge_config_free(&cfg);
        return 1;
    }
    snprintf(user, sizeof(user), "%lld:%s", (long long)time(NULL) + ttl, argv[0]);
    turn_rest_password(cfg.rest_secret, cfg.rest_secret_len, user, strlen(user), pass,
                       sizeof(pass));
    printf("username: %s\npassword: %s\nrealm: %s\n", user, pass, cfg.realm);
    edge_config_free(&cfg);
    return 0;
}

static void print_core(const char *name, const char *fp, void *arg)
{
    (void)arg;
    printf("%-24s %s\n", name, fp);
}

/* What the core's [tunnel] needs from this edge. */
static void print_host_key(const struct edge_tunnel_config *t)
{
    char path[1200], fp[CW_SSHKEY_FP_LEN];

    tunnel_path(t, "ssh_host_ed25519_key.pub", path, sizeof(path));
    if (cw_sshkey_file_fingerprint(path, fp) < 0) {
        printf("the edge has no host key yet (it makes one at its first start); then "
               "`causeway tunnel status` shows its fingerprint for the core's host-key\n");
    } else {
        printf("on the core, in its [tunnel] for this edge:\n  host-key = %s\n  user = %s\n",
               fp, t->user);
    }
}

/* `causeway -c core.conf tunnel pair`: the key and the command for the edge. */
static int core_pair(void)
{
    static struct core_config cfg;
    char err[1024], cmd[1200], fp[CW_SSHKEY_FP_LEN];
    int made;

    if (core_config_load(&cfg, conf_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "causeway: %s\n", err);
        return 1;
    }
    made = core_pairing_key(&cfg, err, sizeof(err));
    if (made < 0 || core_pairing_command(&cfg, cmd, sizeof(cmd)) < 0 ||
        core_pairing_fingerprint(&cfg, fp) < 0) {
        fprintf(stderr, "causeway: %s\n", made < 0 ? err : "cannot read the tunnel key");
        return 1;
    }
    printf("%s tunnel key of core \"%s\": %s (%s)\n", made ? "made the" : "the", cfg.name,
           cfg.key_file, fp);
    printf("on each edge, run:\n  %s\n", cmd);
    printf("then put the host-key it prints into this core's [tunnel] section in %s\n",
           conf_path);
    return 0;
}

/* A configuration with a [core] section belongs to causeway-core. */
/* ---- admin accounts ---------------------------------------------------------- */

#define ADMIN_PASSWORD_MIN 10

/* The [admin] section of the configuration (edge or core), and the
 * control socket of its daemon. */
static int admin_conf(int core, struct cw_admin_conf *ac, char *sock, size_t socklen)
{
    static struct edge_config e;
    static struct core_config c;
    char err[1024];

    if (core ? core_config_load(&c, conf_path, err, sizeof(err))
             : edge_config_load(&e, conf_path, err, sizeof(err))) {
        fprintf(stderr, "causeway: %s\n", err);
        return -1;
    }
    *ac = core ? c.admin : e.admin;
    snprintf(sock, socklen, "%s", core ? c.d.control_socket : e.d.control_socket);
    return 0;
}

static int admin_password(char *buf, size_t len, int from_stdin)
{
    char again[256];
    int rc = -1;

    if (!from_stdin && !isatty(0)) {
        fprintf(stderr, "causeway: no terminal to ask for the password on: give it on standard "
                "input with --password-stdin\n");
        return -1;
    }
    if (read_password(buf, len, from_stdin) < 0)
        goto out;
    if (strlen(buf) < ADMIN_PASSWORD_MIN) {
        fprintf(stderr, "causeway: the password must have at least %d characters\n",
                ADMIN_PASSWORD_MIN);
        goto out;
    }
    if (!from_stdin) {
        fprintf(stderr, "again, ");
        if (read_password(again, sizeof(again), 0) < 0)
            goto out;
        if (strcmp(buf, again)) {
            fprintf(stderr, "causeway: the two passwords differ\n");
            goto out;
        }
    }
    rc = 0;
out:
    explicit_bzero(again, sizeof(again));
    if (rc < 0)
        explicit_bzero(buf, len);
    return rc;
}

static void print_name(const char *name, void *arg)
{
    (void)arg;
    printf("%s\n", name);
}

/* `admin user add|passwd|del|list`: edits the accounts file, then asks a
 * running daemon to read it again. */
static int admin_user(int core, int argc, char **argv)
{
    struct cw_admin_conf ac;
    char sock[108], err[1024], pw[256], hash[256];
    int stdin_pw = argc == 3 && !strcmp(argv[2], "--password-stdin");
    int rc;

    if (argc < 1 || (strcmp(argv[0], "list") && argc < 2) || argc > 3 || (argc == 3 && !stdin_pw) ||
        (!strcmp(argv[0], "list") && argc != 1) || (!strcmp(argv[0], "del") && argc != 2)) {
        usage(stderr);
        return 2;
    }
    if (admin_conf(core, &ac, sock, sizeof(sock)) < 0)
        return 1;
    if (!strcmp(argv[0], "list")) {
        rc = cw_admin_users_list(ac.users, print_name, NULL, err, sizeof(err));
        if (rc < 0)
            fprintf(stderr, "causeway: %s\n", err);
        return rc < 0;
    }
    if (!cw_admin_name_valid(argv[1])) {
        fprintf(stderr, "causeway: \"%s\" is not an account name (1 to 64 letters, digits, "
                "'.', '_', '-')\n", argv[1]);
        return 2;
    }
    if (!strcmp(argv[0], "add") || !strcmp(argv[0], "passwd")) {
        if (admin_password(pw, sizeof(pw), stdin_pw) < 0)
            return 1;
        rc = cw_admin_hash_password(pw, hash, sizeof(hash));
        explicit_bzero(pw, sizeof(pw));
        if (rc < 0) {
            fprintf(stderr, "causeway: cannot hash the password (libcrypt without yescrypt?)\n");
            return 1;
        }
        rc = cw_admin_users_put(ac.users, argv[1], hash, err, sizeof(err));
    } else if (!strcmp(argv[0], "del")) {
        rc = cw_admin_users_put(ac.users, argv[1], NULL, err, sizeof(err));
        if (rc == 1)
            fprintf(stderr, "causeway: no admin account \"%s\" in %s\n", argv[1], ac.users);
    } else {
        usage(stderr);
        return 2;
    }
    if (rc < 0)
        fprintf(stderr, "causeway: %s\n", err);
    if (rc)
        return 1;
    printf("admin account %s %s in %s\n", argv[1],
           argv[0][0] == 'a' ? "added" : argv[0][0] == 'p' ? "changed" : "deleted", ac.users);
    if (ac.enabled) {
        char *words[] = { "admin", "reload-users" };
        if (!ctl_path)
            ctl_path = sock;
        return call_daemon(2, words, 1) ? 1 : 0;
    }
    return 0;
}

static int note_core(void *arg, const char *section, const char *key, const char *value,
                     char *err, size_t errlen)
{
    (void)value;
    (void)err;
    (void)errlen;
    if (!key && !strcmp(section, "core"))
        *(int *)arg = 1;
    return 0;
}

static int conf_is_core(const char *path)
{
    char err[256];
    int core = 0;

    cw_conf_parse_file(path, note_core, &core, err, sizeof(err));
    return core;
}

static int tunnel_cmd(int argc, char **argv)
{
    static struct edge_config cfg;
    char err[1024], key[2048];
    const char *k;
    int rc;

    if (load_config(&cfg) < 0)
        return 1;
    if (!cfg.tunnel.enabled) {
        fprintf(stderr, "causeway: no [tunnel] section in %s\n", conf_path);
        return 1;
    }
    if (!strcmp(argv[0], "cores")) {
        rc = tunnel_keys_foreach(&cfg.tunnel, print_core, NULL, err, sizeof(err));
        if (rc < 0)
            fprintf(stderr, "causeway: %s\n", err);
        return rc < 0;
    }
    if (!strcmp(argv[0], "untrust") && argc == 2) {
        rc = tunnel_untrust(&cfg.tunnel, argv[1], err, sizeof(err));
        if (rc < 0)
            fprintf(stderr, "causeway: %s\n", err);
        else if (rc > 0)
            fprintf(stderr, "causeway: no trusted core \"%s\"\n", argv[1]);
        else
            printf("core %s removed: it can no longer log in (its open tunnels stay up until "
                   "their connections end; restart the edge to end them now)\n", argv[1]);
        return rc != 0;
    }
    if (!strcmp(argv[0], "trust") && argc == 3) {
        char fp[TUNNEL_FP_LEN];
        k = argv[2];
        if (!strcmp(k, "-")) {
            if (!fgets(key, sizeof(key), stdin)) {
                fprintf(stderr, "causeway: no key on standard input\n");
                return 1;
            }
            k = key;
        }
        if (tunnel_trust(&cfg.tunnel, argv[1], k, err, sizeof(err)) < 0) {
            fprintf(stderr, "causeway: %s\n", err);
            return 1;
        }
        cw_sshkey_fingerprint(k, fp);
        printf("core %s trusted (%s)", argv[1], fp);
        if (cfg.tunnel.npermit) {
            printf("; it may hold remote forwards on");
            for (int p = 0; p < cfg.tunnel.npermit; p++)
                printf(" 127.0.0.1:%u", cfg.tunnel.permit[p]);
        }
        printf("\n");
        print_host_key(&cfg.tunnel);
        return 0;
    }
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    int opt, conf_set = 0, core, fed, turn_check;

    while ((opt = getopt(argc, argv, "+c:s:h")) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            conf_set = 1;
            break;
        case 's':
            ctl_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1 || !strcmp(argv[0], "help")) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    turn_check = argc >= 2 && !strcmp(argv[0], "turn") && !strcmp(argv[1], "check");
    /* `turn check` exists on the core only: without -c, its configuration. */
    if (!conf_set && (turn_check || access(EDGE_CONF_DEFAULT, F_OK) < 0) &&
        access(CORE_CONF_DEFAULT, F_OK) == 0)
        conf_path = CORE_CONF_DEFAULT;
    core = conf_is_core(conf_path);
    if (argc >= 2 && !strcmp(argv[0], "turn") &&
        (!strcmp(argv[1], "user") || !strcmp(argv[1], "rest-credential")) && core) {
        fprintf(stderr, "causeway: `turn %s` edits the edge's TURN users: run it with the edge's "
                "configuration (%s is a core's)\n", argv[1], conf_path);
        return 2;
    }
    if (argc >= 2 && !strcmp(argv[0], "turn") && !strcmp(argv[1], "user"))
        return turn_user(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[0], "turn") && !strcmp(argv[1], "rest-credential"))
        return turn_rest_credential(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[0], "admin") && !strcmp(argv[1], "user"))
        return admin_user(core, argc - 2, argv + 2);
    if (turn_check && !core) {
        fprintf(stderr, "causeway: `turn check` runs on the core: give its configuration with -c "
                "core.conf (%s is an edge's)\n", conf_path);
        return 2;
    }
    if (core && argc == 2 && !strcmp(argv[0], "tunnel") && !strcmp(argv[1], "pair"))
        return core_pair();
    if (core && argc >= 2 && !strcmp(argv[0], "tunnel") && strcmp(argv[1], "status") != 0) {
        fprintf(stderr, "causeway: `tunnel %s` is an edge command: run it on the edge (%s is a "
                "core's configuration)\n", argv[1], conf_path);
        return 2;
    }
    if (!core && argc >= 2 && !strcmp(argv[0], "tunnel") && strcmp(argv[1], "status") != 0)
        return tunnel_cmd(argc - 1, argv + 1);
    /* Federation runs on the edge: its status is the edge's. */
    fed = argc >= 2 && !strcmp(argv[0], "xmpp") && !strcmp(argv[1], "federation");
    if (fed && core) {
        fprintf(stderr, "causeway: `xmpp federation` is an edge command: run it on the edge (%s "
                "is a core's configuration)\n", conf_path);
        return 2;
    }
    if (!ctl_path) {
        /* The socket path comes from the configuration when it can be read.
         * Other XMPP commands are the core's. */
        if (!core && !conf_set && !strcmp(argv[0], "xmpp") && !fed &&
            access(CORE_CONF_DEFAULT, F_OK) == 0) {
            conf_path = CORE_CONF_DEFAULT;
            core = 1;
        }
        static struct edge_config cfg;
        static struct core_config ccfg;
        char err[1024];
        if (core)
            ctl_path = core_config_load(&ccfg, conf_path, err, sizeof(err)) == 0
                           ? ccfg.d.control_socket : CORE_CTL_DEFAULT;
        else if (access(conf_path, R_OK) == 0 &&
                 edge_config_load(&cfg, conf_path, err, sizeof(err)) == 0)
            ctl_path = cfg.d.control_socket;
        else
            ctl_path = EDGE_CTL_DEFAULT;
    }
    if (!strcmp(argv[0], "doctor") && (argc == 1 || (argc == 2 && !strcmp(argv[1], "json"))))
        return doctor(argc, argv, core);
    /* A check takes up to its timeout: say so to someone waiting at a terminal. */
    if (turn_check && isatty(2))
        fprintf(stderr, "turn check: the core on %s allocates a relay on the edge's TURN server "
                "(up to its [turn] timeout)...\n", ctl_path);
    if (argc >= 3 && !strcmp(argv[0], "xmpp") && !strcmp(argv[1], "user") &&
        !strcmp(argv[2], "add"))
        return xmpp_user_add(argc, argv);
    if (argc == 4 && !strcmp(argv[0], "xmpp") && !strcmp(argv[1], "cluster") &&
        !strcmp(argv[2], "import")) {
        /* The daemon reads it: a path from here, whatever its directory. */
        static char abs[PATH_MAX];
        if (!realpath(argv[3], abs)) {
            fprintf(stderr, "causeway: %s: %s\n", argv[3], strerror(errno));
            return 1;
        }
        argv[3] = abs;
        if (isatty(2))
            fprintf(stderr, "xmpp cluster import: the shared state takes %s in batches; "
                    "`causeway xmpp cluster status` shows how far it is...\n", abs);
    }
    return call_daemon(argc, argv, 0);
}
