/* cluster_net.h - authenticated connections between core nodes: a libraft
 * transport (struct raft_uv_transport) and the nodes' own links, on one
 * listener, each connection opened with a handshake that proves both ends
 * hold the cluster key.
 *
 * Handshake (every connection, before any other byte):
 *   opener -> "CWCLU1\n" kind(1: 'R' raft, 'L' link) id(8, big endian)
 *             nonce(16) address(64, NUL-padded)                 = 96 bytes
 *   acceptor -> nonce(16) HMAC-SHA256(key, "A" || hello || nonce) = 48 bytes
 *   opener -> HMAC-SHA256(key, "O" || hello || acceptor nonce)    = 32 bytes
 * Each side checks the other's MAC (constant time) before it trusts the
 * connection; fresh nonces on both sides keep a recorded handshake from
 * being replayed. A machine without the key cannot join, vote or append
 * entries. The bytes after the handshake are not encrypted: keep the cluster
 * port on the inside network. */
#ifndef CORE_CLUSTER_NET_H
#define CORE_CLUSTER_NET_H

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CLUSTER_KEY_MIN 16
#define CLUSTER_ADDR_MAX 64

struct cluster_net;

/* An authenticated link connection (kind 'L'): stream is a uv_tcp_t the
 * callee now owns (uv_close it, free it with free()); NULL with status < 0
 * when a connect failed. */
typedef void (*cluster_link_cb)(void *arg, raft_id peer, const char *address,
                                uv_stream_t *stream, int status);

/* Fills t with a transport that listens on the address given to its init
 * (raft_init's) and authenticates with key. Accepted 'L' connections go to
 * on_link. 0, or -1 with the reason in err. */
int cluster_net_init(struct raft_uv_transport *t, uv_loop_t *loop, const uint8_t *key,
                     size_t keylen, cluster_link_cb on_link, void *arg, char *err, size_t errlen);
/* Opens a link to address ("host:port"); cb gets the stream or an error. */
int cluster_net_link(struct raft_uv_transport *t, const char *address, cluster_link_cb cb,
                     void *arg);
/* Counters for status: handshakes refused (wrong key or garbage). */
unsigned long cluster_net_refused(const struct raft_uv_transport *t);
/* Frees what init allocated, after the transport's close callback ran. */
void cluster_net_free(struct raft_uv_transport *t);

#endif
