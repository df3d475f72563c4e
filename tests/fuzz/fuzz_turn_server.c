/* fuzz_turn_server.c - libFuzzer harness for the whole TURN request path
 * (turn__handle: dispatch, authentication, allocations, permissions,
 * channels, Send and ChannelData) on a real server with real sockets.
 *
 * Input: one byte choosing the client (127.0.0.1:5000 + byte % 4), then one
 * datagram. The nonce secret is zeroed so that seeds can carry valid nonces
 * and REST-authenticated requests (see make_corpus_turn_server.py); state
 * carries over between inputs, as on a live server. */
#include "common/addr.h"
#include "common/log.h"
#include "turn/policy.h"
#include "turn/turn_int.h"

#include <arpa/inet.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct turn_relay *relay;
static struct turn_server *srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t secret[] = "fuzz-secret";
    struct turn_options o;
    char err[256];

    (void)argc;
    (void)argv;
    cw_log_set_level(CW_LOG_ERROR);
    uv_loop_init(&loop);
    turn_options_init(&o);
    cw_addr_parse("127.0.0.1:0", 0, &o.listen[0]);
    o.nlisten = 1;
    cw_addr_parse("127.0.0.1", -1, &o.relay4);
    o.has_relay4 = 1;
    o.port_min = 46000;
    o.port_max = 46063;
    o.realm = "fuzz.example";
    o.rest_secret = secret;
    o.rest_secret_len = sizeof(secret) - 1;
    o.auth_fail_window = 0;
    o.policy = turn_policy_create();
    turn_policy_set_unsafe_loopback(o.policy, 1);
    o.workers = 1;
    relay = turn_relay_create(&loop, &o, NULL, err, sizeof(err));
    if (!relay)
        __builtin_trap();
    srv = turn__relay_worker(relay, 0);
    memset(srv->sh->nonce_secret, 0, sizeof(srv->sh->nonce_secret));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct turn_client cl = { .ul = srv->udp[0], .proto = TURN_UDP };

    if (size < 1)
        return 0;
    cl.addr.in.sin_family = AF_INET;
    cl.addr.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl.addr.in.sin_port = htons((uint16_t)(5000 + data[0] % 4));
    turn__handle(srv, &cl, &srv->udp[0]->addr.sa, data + 1, size - 1);
    turn__udp_flush_all(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    /* Keep the port range from filling up across millions of inputs. */
    if (srv->st.allocs_active > 48)
        while (srv->allocs)
            turn__alloc_destroy(srv->allocs, "fuzz reset");
    return 0;
}
