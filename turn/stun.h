/* stun.h - STUN message and TURN ChannelData codec (RFC 8489, RFC 8656).
 *
 * Parsing never copies: a parsed struct stun_msg points into the caller's
 * bytes, which must outlive it. Every read goes through common/buf.h.
 * Encoding writes into a caller buffer of fixed size; an overflow makes
 * stun_enc_finish() return 0. */
#ifndef TURN_STUN_H
#define TURN_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"

#define STUN_HDR_LEN 20
#define STUN_MAGIC 0x2112A442u
#define STUN_TID_LEN 12
#define STUN_MAX_ATTRS 40          /* more attributes than this: 400 */
#define STUN_MAX_MSG 1500          /* largest message we parse or build on UDP */
#define STUN_MAX_STREAM_MSG 4096   /* largest framed message on TCP/TLS */
/* RFC 8656 12 narrowed channel numbers to 0x4000-0x4FFF; RFC 5766 allowed
 * 0x4000-0x7FFF and deployed clients (coturn's tools among them) still pick
 * from that range, so the server accepts it. */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x7FFF

/* Methods (RFC 8489 18.2, RFC 8656 17). */
enum stun_method {
    STUN_BINDING = 0x001,
    TURN_ALLOCATE = 0x003,
    TURN_REFRESH = 0x004,
    TURN_SEND = 0x006,
    TURN_DATA = 0x007,
    TURN_CREATE_PERMISSION = 0x008,
    TURN_CHANNEL_BIND = 0x009,
};

enum stun_class {
    STUN_REQUEST = 0,
    STUN_INDICATION = 1,
    STUN_SUCCESS = 2,
    STUN_ERROR = 3,
};

/* Attributes (RFC 8489 18.3, RFC 8656 18). */
enum stun_attr_type {
    STUN_A_MAPPED_ADDRESS = 0x0001,
    STUN_A_USERNAME = 0x0006,
    STUN_A_MESSAGE_INTEGRITY = 0x0008,
    STUN_A_ERROR_CODE = 0x0009,
    STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
    TURN_A_CHANNEL_NUMBER = 0x000C,
    TURN_A_LIFETIME = 0x000D,
    TURN_A_XOR_PEER_ADDRESS = 0x0012,
    TURN_A_DATA = 0x0013,
    STUN_A_REALM = 0x0014,
    STUN_A_NONCE = 0x0015,
    TURN_A_XOR_RELAYED_ADDRESS = 0x0016,
    TURN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
    TURN_A_EVEN_PORT = 0x0018,
    TURN_A_REQUESTED_TRANSPORT = 0x0019,
    TURN_A_DONT_FRAGMENT = 0x001A,
    STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
    STUN_A_PASSWORD_ALGORITHM = 0x001D,
    STUN_A_USERHASH = 0x001E,
    STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
    TURN_A_RESERVATION_TOKEN = 0x0022,
    STUN_A_PRIORITY = 0x0024,            /* ICE (RFC 8445), accepted in Binding */
    STUN_A_USE_CANDIDATE = 0x0025,
    STUN_A_PASSWORD_ALGORITHMS = 0x8002,
    STUN_A_ALTERNATE_DOMAIN = 0x8003,
    STUN_A_SOFTWARE = 0x8022,
    STUN_A_ALTERNATE_SERVER = 0x8023,
    TURN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
    TURN_A_ADDRESS_ERROR_CODE = 0x8001,
    STUN_A_FINGERPRINT = 0x8028,
    STUN_A_ICE_CONTROLLED = 0x8029,
    STUN_A_ICE_CONTROLLING = 0x802A,
};

/* Address families on the wire (RFC 8489 14.1, RFC 8656 18.1). */
#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

struct stun_attr {
    uint16_t type;
    uint16_t len;      /* value length, without padding */
    uint16_t off;      /* offset of the value from the start of the message */
};

struct stun_msg {
    const uint8_t *raw;    /* the whole message, header included */
    size_t len;            /* 20 + the header's length field */
    uint16_t method;
    uint8_t cls;           /* enum stun_class */
    uint8_t tid[STUN_TID_LEN];
    unsigned nattrs;
    struct stun_attr attrs[STUN_MAX_ATTRS];
    int i_mi;              /* index in attrs of MESSAGE-INTEGRITY, or -1 */
    int i_mi256;           /* index of MESSAGE-INTEGRITY-SHA256, or -1 */
    int i_fp;              /* index of FINGERPRINT, or -1 */
    unsigned nunknown;     /* comprehension-required attributes we do not know */
    uint16_t unknown[8];   /* their types (first 8), for UNKNOWN-ATTRIBUTES */
};

/* Result codes of stun_msg_parse(). */
enum stun_parse_rc {
    STUN_OK = 0,
    STUN_E_NOT_STUN = -1,  /* not a STUN message at all: drop silently */
    STUN_E_MALFORMED = -2, /* header is STUN (tid valid) but the body is bad: 400 */
    STUN_E_FINGERPRINT = -3, /* FINGERPRINT present and wrong: drop */
};

/* Parses one whole message of exactly len bytes (on UDP: the datagram; on a
 * stream: one frame from turn_frame_len()). Checks RFC 8489 6: top two bits
 * zero, magic cookie, length multiple of 4 and equal to len - 20; attribute
 * lengths within the message; FINGERPRINT last and correct if present;
 * attributes after MESSAGE-INTEGRITY(-SHA256) other than MI-SHA256 and
 * FINGERPRINT are ignored (RFC 8489 14.5). On STUN_E_MALFORMED, method, cls
 * and tid are valid so the caller can answer 400. */
int stun_msg_parse(struct stun_msg *m, const uint8_t *p, size_t len);

/* Quick test on the first bytes: 1 if this looks like a STUN message
 * (top bits 00 and the magic cookie), 0 otherwise. */
int stun_is_stun(const uint8_t *p, size_t len);

/* First attribute of a type, or NULL. */
const struct stun_attr *stun_msg_find(const struct stun_msg *m, uint16_t type);
const uint8_t *stun_attr_value(const struct stun_msg *m, const struct stun_attr *a);

/* Decoders of attribute values: 0 on success, -1 if malformed. */
int stun_attr_u32(const struct stun_msg *m, const struct stun_attr *a, uint32_t *out);
/* XOR-MAPPED/PEER/RELAYED-ADDRESS (RFC 8489 14.2): family, port, address. */
int stun_attr_xaddr(const struct stun_msg *m, const struct stun_attr *a,
                    struct sockaddr_storage *out);
/* ERROR-CODE (RFC 8489 14.8): code 300..699, reason pointer and length. */
int stun_attr_error(const struct stun_msg *m, const struct stun_attr *a, int *code,
                    const char **reason, size_t *reason_len);

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 14.5) or, when sha256 is 1,
 * MESSAGE-INTEGRITY-SHA256 (14.6, truncations to 16..32 bytes allowed), over
 * the message up to that attribute with the header length adjusted.
 * Returns 0 when it matches, -1 when absent or wrong. Constant-time compare. */
int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen,
                             int sha256);

/* CRC-32 (ISO 3309) as FINGERPRINT uses, before the XOR with 0x5354554e. */
uint32_t stun_crc32(const uint8_t *p, size_t len);

/* ---- encoding ---------------------------------------------------------- */

struct stun_enc {
    struct cw_wbuf w;
};

void stun_enc_start(struct stun_enc *e, void *buf, size_t cap, uint16_t method,
                    uint8_t cls, const uint8_t tid[STUN_TID_LEN]);
/* Any attribute; pads the value with zeros to a multiple of 4. */
void stun_enc_attr(struct stun_enc *e, uint16_t type, const void *val, size_t len);
void stun_enc_u32(struct stun_enc *e, uint16_t type, uint32_t v);
/* XOR-*-ADDRESS from an AF_INET or AF_INET6 sockaddr. */
void stun_enc_xaddr(struct stun_enc *e, uint16_t type, const struct sockaddr *sa);
/* ERROR-CODE with the RFC's reason phrase for code when reason is NULL. */
void stun_enc_error(struct stun_enc *e, int code, const char *reason);
void stun_enc_unknown(struct stun_enc *e, const uint16_t *types, unsigned n);
/* MESSAGE-INTEGRITY / -SHA256 over what is written so far; must come after
 * every other attribute but FINGERPRINT. */
void stun_enc_integrity(struct stun_enc *e, const uint8_t *key, size_t keylen);
void stun_enc_integrity_sha256(struct stun_enc *e, const uint8_t *key, size_t keylen);
void stun_enc_fingerprint(struct stun_enc *e);
/* Fixes the header length; returns the message length, or 0 on overflow. */
size_t stun_enc_finish(struct stun_enc *e);

/* The RFC reason phrase of an error code ("Unauthorized" for 401 ...). */
const char *stun_reason(int code);

/* ---- TURN ChannelData and stream framing ------------------------------- */

/* ChannelData (RFC 8656 12.4): channel TURN_CHANNEL_MIN..MAX, 16-bit length, data.
 * On UDP the datagram may be longer than 4 + length (padding): accepted.
 * Returns 0 and the data span, or -1 if malformed (short, bad channel). */
int turn_channeldata_parse(const uint8_t *p, size_t len, uint16_t *channel,
                           const uint8_t **data, size_t *dlen);
/* Writes the 4-byte ChannelData header into hdr. */
void turn_channeldata_header(uint8_t hdr[4], uint16_t channel, uint16_t dlen);

/* On TCP/TLS (RFC 8656 12.5): given the bytes received so far, returns the
 * size of the next frame including ChannelData padding to 4, 0 if more
 * bytes are needed, or -1 if the bytes cannot start a STUN message or a
 * ChannelData frame (garbage: close the connection) or announce a frame
 * larger than max. */
long turn_frame_len(const uint8_t *p, size_t len, size_t max);

#endif
