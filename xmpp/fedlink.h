/* fedlink.h - the federation link between the edge's federation gateway
 * (xmpp/s2s.c) and a core node's XMPP service (xmpp/link.c).
 *
 * Transport. The edge connects to the core's tunnel forward on its own
 * loopback (the port the core's SSH remote forward holds, as the web proxy
 * does), speaks the tunnel link (common/mux.h) and opens one stream with
 * service CW_MUX_SVC_XMPP. The core's tunnel connects that stream to the
 * node's [xmpp] link-listen address (loopback), where the XMPP service
 * accepts it as a connection of kind link. One link per core node; the
 * edge redials every FEDLINK_RETRY_MS while a node's link is down.
 *
 * The link is an XML stream (xmpp/xml.h parses it, with the service's
 * limits) in the default namespace jabber:server:
 *
 *   edge: <?xml version='1.0'?><stream:stream xmlns='jabber:server'
 *           xmlns:stream='http://etherx.jabber.org/streams'
 *           nonce='EDGE-NONCE' version='1.0'>
 *   core: <?xml version='1.0'?><stream:stream xmlns='jabber:server'
 *           xmlns:stream='http://etherx.jabber.org/streams'
 *           id='CORE-ID' from='NODE' version='1.0'>
 *   edge: <handshake xmlns='urn:causeway:link'>EDGE-PROOF</handshake>
 *   core: <handshake xmlns='urn:causeway:link' node='NODE' proof='CORE-PROOF'/>
 *         <domains xmlns='urn:causeway:link'><domain>D</domain>...</domains>
 *
 * EDGE-NONCE and CORE-ID are 32 random hex digits each. The proofs are
 * lower-case hex HMAC-SHA256 under the shared link key (the file both
 * sides name in link-key-file; its bytes as they are, at least 16):
 *
 *   EDGE-PROOF = HMAC(key, "causeway-link edge " CORE-ID " " EDGE-NONCE)
 *   CORE-PROOF = HMAC(key, "causeway-link core " EDGE-NONCE " " CORE-ID)
 *
 * A wrong EDGE-PROOF gets the stream error <not-authorized/>; a wrong
 * CORE-PROOF makes the edge close the link. Both are logged, the key never.
 *
 * <domains/> lists every domain the core serves: its XMPP domains and its
 * components' domains. The core sends it again, whole, whenever that list
 * changes; the edge accepts inbound s2s streams only for those domains.
 *
 * Then stanzas (message, presence, iq) flow both ways, as on an s2s stream:
 *   edge -> core: from a foreign domain that the edge authenticated, to an
 *     address in one of the core's domains. The core drops (and logs) one
 *     whose from is in its own domains or whose to is not.
 *   core -> edge: from one of the core's domains, to a foreign domain. The
 *     edge delivers it over s2s; when it cannot, it answers over the link
 *     with the stanza error itself (remote-server-not-found,
 *     remote-server-timeout, policy-violation), from the foreign address.
 * Whitespace between stanzas is allowed (keepalives). */
#ifndef CW_XMPP_FEDLINK_H
#define CW_XMPP_FEDLINK_H

#define FEDLINK_NS "urn:causeway:link"
#define FEDLINK_LABEL_EDGE "causeway-link edge "
#define FEDLINK_LABEL_CORE "causeway-link core "
#define FEDLINK_KEY_MIN 16
#define FEDLINK_KEY_MAX 4096
#define FEDLINK_RETRY_MS 1000
#define FEDLINK_NONCE_LEN 32            /* hex digits of EDGE-NONCE and CORE-ID */
#define FEDLINK_PROOF_LEN 64            /* hex digits of a proof */

#include <stddef.h>
#include <stdint.h>

/* Reads a link-key-file: its bytes as they are, FEDLINK_KEY_MIN to
 * FEDLINK_KEY_MAX of them, into key and *len. 0, or -1 with the reason in
 * err (never the key). */
int fedlink_key_read(const char *path, uint8_t key[FEDLINK_KEY_MAX], size_t *len, char *err,
                     size_t errlen);
/* out = lower-case hex of HMAC-SHA256(key, label a " " b) and a NUL: the
 * proofs above. 0, or -1 when OpenSSL fails or a or b is too long. */
int fedlink_proof(const uint8_t *key, size_t key_len, const char *label, const char *a,
                  const char *b, char out[FEDLINK_PROOF_LEN + 1]);

#endif
