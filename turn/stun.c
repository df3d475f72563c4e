/* stun.c - STUN message and TURN ChannelData codec (RFC 8489, RFC 8656). */
/*
 * The parser makes one pass over the attributes through a cw_rbuf and keeps
 * only offsets into the caller's bytes. It decides three things a server
 * must not get wrong: whether the bytes are STUN at all (drop silently),
 * whether the body is well formed (answer 400, so the header is decoded
 * first), and whether FINGERPRINT matches (drop). Integrity is checked
 * separately, once the caller knows the key.
 *
 * The encoder writes through a cw_wbuf; any error (overflow, a value that
 * cannot be represented) sets the buffer's sticky error flag and makes
 * stun_enc_finish() return 0, so callers check once at the end.
 */
#include "turn/stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define STUN_FP_XOR 0x5354554eu    /* RFC 8489 14.7 */
#define STUN_ATTR_HDR 4
#define STUN_MI_LEN 20             /* HMAC-SHA1, RFC 8489 14.5 */
#define STUN_MI256_MIN 16          /* RFC 8489 14.6 */
#define STUN_MI256_MAX 32
#define STUN_FP_LEN 4
#define STUN_REASON_MAX 763        /* RFC 8489 14.8: < 128 chars, <= 763 bytes */
#define STUN_NUNKNOWN_MAX (sizeof(((struct stun_msg *)0)->unknown) / sizeof(uint16_t))

/* ---- helpers ------------------------------------------------------------ */

static size_t stun__pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static void stun__enc_fail(struct stun_enc *e)
{
    e->w.failed = 1;
}

/* RFC 8489 5: M11..M7 C1 M6..M4 C0 M3..M0 in the 14 low bits of the type. */
static uint16_t stun__type(uint16_t method, uint8_t cls)
{
    return (uint16_t)((method & 0x000f) | ((method & 0x0070) << 1) |
                      ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7));
}

static uint16_t stun__type_method(uint16_t type)
{
    return (uint16_t)((type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80));
}

static uint8_t stun__type_class(uint16_t type)
{
    return (uint8_t)(((type >> 4) & 1) | ((type >> 7) & 2));
}

/* Attribute types this codec knows; a comprehension-required type not in
 * this list must be reported in UNKNOWN-ATTRIBUTES (RFC 8489 15). */
static int stun__attr_known(uint16_t type)
{
    switch (type) {
    case STUN_A_MAPPED_ADDRESS:
    case STUN_A_USERNAME:
    case STUN_A_MESSAGE_INTEGRITY:
    case STUN_A_ERROR_CODE:
    case STUN_A_UNKNOWN_ATTRIBUTES:
    case TURN_A_CHANNEL_NUMBER:
    case TURN_A_LIFETIME:
    case TURN_A_XOR_PEER_ADDRESS:
    case TURN_A_DATA:
    case STUN_A_REALM:
    case STUN_A_NONCE:
    case TURN_A_XOR_RELAYED_ADDRESS:
    case TURN_A_REQUESTED_ADDRESS_FAMILY:
    case TURN_A_EVEN_PORT:
    case TURN_A_REQUESTED_TRANSPORT:
    case TURN_A_DONT_FRAGMENT:
    case STUN_A_MESSAGE_INTEGRITY_SHA256:
    case STUN_A_PASSWORD_ALGORITHM:
    case STUN_A_USERHASH:
    case STUN_A_XOR_MAPPED_ADDRESS:
    case TURN_A_RESERVATION_TOKEN:
    case STUN_A_PRIORITY:
    case STUN_A_USE_CANDIDATE:
    case STUN_A_PASSWORD_ALGORITHMS:
    case STUN_A_ALTERNATE_DOMAIN:
    case STUN_A_SOFTWARE:
    case STUN_A_ALTERNATE_SERVER:
    case TURN_A_ADDITIONAL_ADDRESS_FAMILY:
    case TURN_A_ADDRESS_ERROR_CODE:
    case STUN_A_FINGERPRINT:
    case STUN_A_ICE_CONTROLLED:
    case STUN_A_ICE_CONTROLLING:
        return 1;
    default:
        return 0;
    }
}

/* The 16-byte mask of an XOR'd IPv6 address: cookie then transaction ID
 * (RFC 8489 14.2); its first 4 bytes are the IPv4 mask. */
static void stun__xor_mask(uint8_t mask[16], const uint8_t tid[STUN_TID_LEN])
{
    mask[0] = (uint8_t)(STUN_MAGIC >> 24);
    mask[1] = (uint8_t)(STUN_MAGIC >> 16);
    mask[2] = (uint8_t)(STUN_MAGIC >> 8);
    mask[3] = (uint8_t)STUN_MAGIC;
    memcpy(mask + 4, tid, STUN_TID_LEN);
}

/* HMAC with digest ("SHA1", "SHA256") over a then b, into out (32 bytes).
 * Returns the MAC length, or -1 if OpenSSL fails. An empty key is valid. */
static int stun__hmac(const char *digest, const uint8_t *key, size_t keylen,
                      const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                      uint8_t out[STUN_MI256_MAX])
{
    static const uint8_t nokey[1];
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;
    int rc = -1;

    mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (!mac)
        goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (!ctx)
        goto out;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(ctx, key && keylen ? key : nokey, key ? keylen : 0, params))
        goto out;
    if (alen && !EVP_MAC_update(ctx, a, alen))
        goto out;
    if (blen && !EVP_MAC_update(ctx, b, blen))
        goto out;
    if (!EVP_MAC_final(ctx, out, &outlen, STUN_MI256_MAX))
        goto out;
    rc = (int)outlen;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

/* A reader over one attribute's value, bounds-checked against the message
 * even if the caller hands us an attribute from elsewhere. */
static int stun__attr_reader(const struct stun_msg *m, const struct stun_attr *a,
                             struct cw_rbuf *v)
{
    struct cw_rbuf b;

    if (!m || !a)
        return -1;
    cw_rbuf_init(&b, m->raw, m->len);
    if (cw_rbuf_skip(&b, a->off) < 0)
        return -1;
    return cw_rbuf_sub(&b, a->len, v);
}

/* ---- CRC-32 ------------------------------------------------------------- */

/* Reflected CRC-32, polynomial 0x04C11DB7 (ISO 3309, as in RFC 1952). */
static const uint32_t stun__crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t stun_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    size_t i;

    for (i = 0; i < len; i++)
        c = stun__crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- parsing ------------------------------------------------------------ */

int stun_is_stun(const uint8_t *p, size_t len)
{
    struct cw_rbuf b;
    uint16_t type;
    uint32_t cookie;

    /* RFC 8489 6: 20-byte header, top two bits zero, the magic cookie. */
    if (len < STUN_HDR_LEN)
        return 0;
    cw_rbuf_init(&b, p, len);
    type = cw_rbuf_u16(&b);
    (void)cw_rbuf_u16(&b);
    cookie = cw_rbuf_u32(&b);
    return !cw_rbuf_failed(&b) && (type & 0xc000) == 0 && cookie == STUN_MAGIC;
}

static int stun__fingerprint_ok(const struct stun_msg *m)
{
    const struct stun_attr *a = &m->attrs[m->i_fp];
    const uint8_t *covered;
    struct cw_rbuf b;
    uint32_t want;

    /* RFC 8489 14.7: CRC-32 of the message up to FINGERPRINT, XOR
     * 0x5354554e; FINGERPRINT is last, so the header length is final. */
    cw_rbuf_init(&b, m->raw, m->len);
    covered = cw_rbuf_take(&b, a->off - STUN_ATTR_HDR);
    (void)cw_rbuf_skip(&b, STUN_ATTR_HDR);
    want = cw_rbuf_u32(&b);
    if (!covered || cw_rbuf_failed(&b))
        return 0;
    return (stun_crc32(covered, a->off - STUN_ATTR_HDR) ^ STUN_FP_XOR) == want;
}

int stun_msg_parse(struct stun_msg *m, const uint8_t *p, size_t len)
{
    struct cw_rbuf b;
    uint16_t type, blen;
    uint32_t cookie;

    memset(m, 0, sizeof(*m));
    m->raw = p;
    m->len = len;
    m->i_mi = m->i_mi256 = m->i_fp = -1;

    cw_rbuf_init(&b, p, len);
    type = cw_rbuf_u16(&b);
    blen = cw_rbuf_u16(&b);
    cookie = cw_rbuf_u32(&b);
    cw_rbuf_copy(&b, m->tid, STUN_TID_LEN);
    /* RFC 8489 6: a 20-byte header whose two top bits are zero and which
     * carries the magic cookie. */
    if (cw_rbuf_failed(&b) || (type & 0xc000) || cookie != STUN_MAGIC)
        return STUN_E_NOT_STUN;
    m->method = stun__type_method(type);
    m->cls = stun__type_class(type);
    /* RFC 8489 6: the length counts the attributes only, all padded to 4;
     * on UDP the datagram is exactly the message (RFC 8489 6.2.1). */
    if (blen % 4 != 0 || len - STUN_HDR_LEN != blen)
        return STUN_E_NOT_STUN;

    while (cw_rbuf_left(&b) > 0) {
        uint16_t at = cw_rbuf_u16(&b);
        uint16_t alen = cw_rbuf_u16(&b);
        size_t off = b.off;

        /* RFC 8489 14: the value, padded to 4, lies within the message. */
        if (cw_rbuf_skip(&b, stun__pad4(alen)) < 0)
            return STUN_E_MALFORMED;
        /* RFC 8489 14.7: FINGERPRINT is the last attribute. */
        if (m->i_fp >= 0)
            return STUN_E_MALFORMED;
        /* RFC 8489 14.5, 14.6: after MESSAGE-INTEGRITY only
         * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count, after
         * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT; the rest is ignored. */
        if (at != STUN_A_FINGERPRINT) {
            if (m->i_mi256 >= 0)
                continue;
            if (m->i_mi >= 0 && at != STUN_A_MESSAGE_INTEGRITY_SHA256)
                continue;
        }
        /* Offsets are 16-bit: only the last bytes of a ~64 KiB message
         * could overflow, far beyond anything we accept on any transport. */
        if (off > UINT16_MAX || m->nattrs == STUN_MAX_ATTRS)
            return STUN_E_MALFORMED;

        switch (at) {
        case STUN_A_MESSAGE_INTEGRITY:
            if (alen != STUN_MI_LEN) /* RFC 8489 14.5 */
                return STUN_E_MALFORMED;
            m->i_mi = (int)m->nattrs;
            break;
        case STUN_A_MESSAGE_INTEGRITY_SHA256:
            /* RFC 8489 14.6: 16 to 32 bytes, a multiple of 4. */
            if (alen < STUN_MI256_MIN || alen > STUN_MI256_MAX || alen % 4 != 0)
                return STUN_E_MALFORMED;
            m->i_mi256 = (int)m->nattrs;
            break;
        case STUN_A_FINGERPRINT:
            if (alen != STUN_FP_LEN) /* RFC 8489 14.7 */
                return STUN_E_MALFORMED;
            m->i_fp = (int)m->nattrs;
            break;
        default:
            /* RFC 8489 15: 0x0000-0x7FFF are comprehension-required; the
             * caller answers 420 with UNKNOWN-ATTRIBUTES if it cares. */
            if (at < 0x8000 && !stun__attr_known(at)) {
                if (m->nunknown < STUN_NUNKNOWN_MAX)
                    m->unknown[m->nunknown] = at;
                m->nunknown++;
            }
            break;
        }
        m->attrs[m->nattrs].type = at;
        m->attrs[m->nattrs].len = alen;
        m->attrs[m->nattrs].off = (uint16_t)off;
        m->nattrs++;
    }
    if (cw_rbuf_failed(&b))
        return STUN_E_MALFORMED;
    if (m->i_fp >= 0 && !stun__fingerprint_ok(m))
        return STUN_E_FINGERPRINT;
    return STUN_OK;
}

const struct stun_attr *stun_msg_find(const struct stun_msg *m, uint16_t type)
{
    unsigned i;

    for (i = 0; i < m->nattrs && i < STUN_MAX_ATTRS; i++)
        if (m->attrs[i].type == type)
            return &m->attrs[i];
    return NULL;
}

const uint8_t *stun_attr_value(const struct stun_msg *m, const struct stun_attr *a)
{
    struct cw_rbuf v;

    if (stun__attr_reader(m, a, &v) < 0)
        return NULL;
    return v.data;
}

int stun_attr_u32(const struct stun_msg *m, const struct stun_attr *a, uint32_t *out)
{
    struct cw_rbuf v;
    uint32_t x;

    if (stun__attr_reader(m, a, &v) < 0 || a->len != 4)
        return -1;
    x = cw_rbuf_u32(&v);
    if (cw_rbuf_failed(&v))
        return -1;
    *out = x;
    return 0;
}

int stun_attr_xaddr(const struct stun_msg *m, const struct stun_attr *a,
                    struct sockaddr_storage *out)
{
    struct cw_rbuf v;
    uint8_t family, mask[16];
    uint16_t port;
    unsigned i;

    if (stun__attr_reader(m, a, &v) < 0)
        return -1;
    /* RFC 8489 14.2: reserved byte (ignored), family, X-Port, X-Address;
     * the value is 8 bytes for IPv4 and 20 for IPv6. */
    (void)cw_rbuf_u8(&v);
    family = cw_rbuf_u8(&v);
    port = (uint16_t)(cw_rbuf_u16(&v) ^ (STUN_MAGIC >> 16));
    stun__xor_mask(mask, m->tid);
    memset(out, 0, sizeof(*out));
    if (family == STUN_FAMILY_IPV4 && a->len == 8) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(cw_rbuf_u32(&v) ^ STUN_MAGIC);
    } else if (family == STUN_FAMILY_IPV6 && a->len == 20) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        cw_rbuf_copy(&v, sin6->sin6_addr.s6_addr, 16);
        for (i = 0; i < 16; i++)
            sin6->sin6_addr.s6_addr[i] ^= mask[i];
    } else {
        return -1;
    }
    if (cw_rbuf_failed(&v)) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

int stun_attr_error(const struct stun_msg *m, const struct stun_attr *a, int *code,
                    const char **reason, size_t *reason_len)
{
    struct cw_rbuf v;
    uint32_t w;
    unsigned cls, num;
    size_t rlen;
    const uint8_t *r;

    if (stun__attr_reader(m, a, &v) < 0)
        return -1;
    /* RFC 8489 14.8: 21 reserved bits, class 3..6, number 0..99, then a
     * UTF-8 reason phrase. */
    w = cw_rbuf_u32(&v);
    rlen = cw_rbuf_left(&v);
    r = cw_rbuf_take(&v, rlen);
    if (cw_rbuf_failed(&v) || !r)
        return -1;
    cls = (w >> 8) & 0x7;
    num = w & 0xff;
    if (cls < 3 || cls > 6 || num > 99)
        return -1;
    *code = (int)(cls * 100 + num);
    *reason = (const char *)r;
    *reason_len = rlen;
    return 0;
}

int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen,
                             int sha256)
{
    const struct stun_attr *a;
    const uint8_t *body, *want;
    uint8_t hdr[STUN_HDR_LEN], mac[STUN_MI256_MAX];
    struct cw_rbuf b;
    size_t bodylen, adjusted;
    int idx = sha256 ? m->i_mi256 : m->i_mi;
    int maclen;

    if (idx < 0 || (unsigned)idx >= m->nattrs || idx >= STUN_MAX_ATTRS)
        return -1;
    a = &m->attrs[idx];
    if (sha256 ? (a->len < STUN_MI256_MIN || a->len > STUN_MI256_MAX || a->len % 4)
               : a->len != STUN_MI_LEN)
        return -1;
    if (a->off < STUN_HDR_LEN + STUN_ATTR_HDR)
        return -1;
    bodylen = a->off - STUN_ATTR_HDR - STUN_HDR_LEN;
    cw_rbuf_init(&b, m->raw, m->len);
    cw_rbuf_copy(&b, hdr, STUN_HDR_LEN);
    body = cw_rbuf_take(&b, bodylen);
    (void)cw_rbuf_skip(&b, STUN_ATTR_HDR);
    want = cw_rbuf_take(&b, a->len);
    if (cw_rbuf_failed(&b) || !body || !want)
        return -1;
    /* RFC 8489 14.5, 14.6: the HMAC covers the message up to the attribute,
     * with the header length as if the attribute ended the message (the
     * MAC lengths are multiples of 4, so there is no padding). The adjusted
     * header is hashed from a copy so the message itself is not copied. */
    adjusted = bodylen + STUN_ATTR_HDR + a->len;
    hdr[2] = (uint8_t)(adjusted >> 8);
    hdr[3] = (uint8_t)adjusted;
    maclen = stun__hmac(sha256 ? "SHA256" : "SHA1", key, keylen, hdr, sizeof(hdr), body,
                        bodylen, mac);
    if (maclen < (int)a->len)
        return -1;
    return CRYPTO_memcmp(mac, want, a->len) == 0 ? 0 : -1;
}

/* ---- encoding ----------------------------------------------------------- */

void stun_enc_start(struct stun_enc *e, void *buf, size_t cap, uint16_t method,
                    uint8_t cls, const uint8_t tid[STUN_TID_LEN])
{
    cw_wbuf_init(&e->w, buf, cap);
    if (method > 0x0fff || cls > STUN_ERROR) /* RFC 8489 5: 12-bit method */
        stun__enc_fail(e);
    cw_wbuf_u16(&e->w, stun__type(method, cls));
    cw_wbuf_u16(&e->w, 0); /* set by stun_enc_finish() */
    cw_wbuf_u32(&e->w, STUN_MAGIC);
    cw_wbuf_bytes(&e->w, tid, STUN_TID_LEN);
}

void stun_enc_attr(struct stun_enc *e, uint16_t type, const void *val, size_t len)
{
    if (len > UINT16_MAX || (!val && len)) {
        stun__enc_fail(e);
        return;
    }
    cw_wbuf_u16(&e->w, type);
    cw_wbuf_u16(&e->w, (uint16_t)len);
    cw_wbuf_bytes(&e->w, val, len);
    cw_wbuf_zero(&e->w, stun__pad4(len) - len); /* RFC 8489 14: pad to 4 */
}

void stun_enc_u32(struct stun_enc *e, uint16_t type, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

    stun_enc_attr(e, type, b, sizeof(b));
}

void stun_enc_xaddr(struct stun_enc *e, uint16_t type, const struct sockaddr *sa)
{
    uint8_t v[20], mask[16];
    uint16_t port;
    size_t n;
    unsigned i;

    /* The IPv6 mask needs the transaction ID, which is in the header. */
    if (cw_wbuf_failed(&e->w) || e->w.len < STUN_HDR_LEN || !sa) {
        stun__enc_fail(e);
        return;
    }
    stun__xor_mask(mask, e->w.data + 8);
    v[0] = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        uint32_t x = ntohl(sin->sin_addr.s_addr) ^ STUN_MAGIC;

        v[1] = STUN_FAMILY_IPV4;
        port = ntohs(sin->sin_port);
        v[4] = (uint8_t)(x >> 24);
        v[5] = (uint8_t)(x >> 16);
        v[6] = (uint8_t)(x >> 8);
        v[7] = (uint8_t)x;
        n = 8;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        v[1] = STUN_FAMILY_IPV6;
        port = ntohs(sin6->sin6_port);
        for (i = 0; i < 16; i++)
            v[4 + i] = sin6->sin6_addr.s6_addr[i] ^ mask[i];
        n = 20;
    } else {
        stun__enc_fail(e);
        return;
    }
    port ^= (uint16_t)(STUN_MAGIC >> 16); /* RFC 8489 14.2 */
    v[2] = (uint8_t)(port >> 8);
    v[3] = (uint8_t)port;
    stun_enc_attr(e, type, v, n);
}

void stun_enc_error(struct stun_enc *e, int code, const char *reason)
{
    size_t rlen;

    /* RFC 8489 14.8: class 3..6, number 0..99, reason <= 763 bytes. */
    if (code < 300 || code > 699) {
        stun__enc_fail(e);
        return;
    }
    if (!reason)
        reason = stun_reason(code);
    rlen = strlen(reason);
    if (rlen > STUN_REASON_MAX) {
        stun__enc_fail(e);
        return;
    }
    cw_wbuf_u16(&e->w, STUN_A_ERROR_CODE);
    cw_wbuf_u16(&e->w, (uint16_t)(4 + rlen));
    cw_wbuf_u16(&e->w, 0);
    cw_wbuf_u8(&e->w, (uint8_t)(code / 100));
    cw_wbuf_u8(&e->w, (uint8_t)(code % 100));
    cw_wbuf_bytes(&e->w, reason, rlen);
    cw_wbuf_zero(&e->w, stun__pad4(rlen) - rlen);
}

void stun_enc_unknown(struct stun_enc *e, const uint16_t *types, unsigned n)
{
    size_t len = (size_t)n * 2;
    unsigned i;

    /* RFC 8489 14.9: a list of 16-bit types, padded to 4. */
    if (len > UINT16_MAX || (!types && n)) {
        stun__enc_fail(e);
        return;
    }
    cw_wbuf_u16(&e->w, STUN_A_UNKNOWN_ATTRIBUTES);
    cw_wbuf_u16(&e->w, (uint16_t)len);
    for (i = 0; i < n; i++)
        cw_wbuf_u16(&e->w, types[i]);
    cw_wbuf_zero(&e->w, stun__pad4(len) - len);
}

/* Sets the header length as if an attribute of alen bytes ended the
 * message, as MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT require before
 * they are computed (RFC 8489 14.5, 14.6, 14.7). Returns the current
 * length, or 0 (and fails the encoder) if the attribute cannot fit. */
static size_t stun__enc_len_for(struct stun_enc *e, size_t alen)
{
    size_t at = e->w.len;

    if (cw_wbuf_failed(&e->w) || at < STUN_HDR_LEN ||
        e->w.cap - at < STUN_ATTR_HDR + alen ||
        at - STUN_HDR_LEN + STUN_ATTR_HDR + alen > UINT16_MAX) {
        stun__enc_fail(e);
        return 0;
    }
    cw_wbuf_put_u16_at(&e->w, 2, (uint16_t)(at - STUN_HDR_LEN + STUN_ATTR_HDR + alen));
    return at;
}

static void stun__enc_mac(struct stun_enc *e, uint16_t type, const char *digest,
                          size_t maclen, const uint8_t *key, size_t keylen)
{
    uint8_t mac[STUN_MI256_MAX];
    size_t at = stun__enc_len_for(e, maclen);

    if (!at)
        return;
    if (stun__hmac(digest, key, keylen, e->w.data, at, NULL, 0, mac) != (int)maclen) {
        stun__enc_fail(e);
        return;
    }
    stun_enc_attr(e, type, mac, maclen);
}

void stun_enc_integrity(struct stun_enc *e, const uint8_t *key, size_t keylen)
{
    stun__enc_mac(e, STUN_A_MESSAGE_INTEGRITY, "SHA1", STUN_MI_LEN, key, keylen);
}

void stun_enc_integrity_sha256(struct stun_enc *e, const uint8_t *key, size_t keylen)
{
    stun__enc_mac(e, STUN_A_MESSAGE_INTEGRITY_SHA256, "SHA256", STUN_MI256_MAX, key, keylen);
}

void stun_enc_fingerprint(struct stun_enc *e)
{
    size_t at = stun__enc_len_for(e, STUN_FP_LEN);

    if (!at)
        return;
    stun_enc_u32(e, STUN_A_FINGERPRINT, stun_crc32(e->w.data, at) ^ STUN_FP_XOR);
}

size_t stun_enc_finish(struct stun_enc *e)
{
    size_t n = e->w.len;

    if (cw_wbuf_failed(&e->w) || n < STUN_HDR_LEN || n - STUN_HDR_LEN > UINT16_MAX)
        return 0;
    cw_wbuf_put_u16_at(&e->w, 2, (uint16_t)(n - STUN_HDR_LEN));
    return cw_wbuf_failed(&e->w) ? 0 : n;
}

const char *stun_reason(int code)
{
    switch (code) {
    case 300: return "Try Alternate";                   /* RFC 8489 14.8 */
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";                       /* RFC 8656 18 */
    case 405: return "Mobility Forbidden";              /* RFC 8016 */
    case 420: return "Unknown Attribute";
    case 437: return "Allocation Mismatch";
    case 438: return "Stale Nonce";
    case 440: return "Address Family not Supported";
    case 441: return "Wrong Credentials";
    case 442: return "Unsupported Transport Protocol";
    case 443: return "Peer Address Family Mismatch";
    case 446: return "Connection Already Exists";       /* RFC 6062 */
    case 447: return "Connection Timeout or Failure";
    case 486: return "Allocation Quota Reached";
    case 487: return "Role Conflict";                   /* RFC 8445 */
    case 500: return "Server Error";
    case 508: return "Insufficient Capacity";
    default: return "Error";
    }
}

/* ---- TURN ChannelData and stream framing -------------------------------- */

int turn_channeldata_parse(const uint8_t *p, size_t len, uint16_t *channel,
                           const uint8_t **data, size_t *dlen)
{
    struct cw_rbuf b;
    uint16_t ch, n;
    const uint8_t *d;

    cw_rbuf_init(&b, p, len);
    ch = cw_rbuf_u16(&b);
    n = cw_rbuf_u16(&b);
    if (cw_rbuf_failed(&b))
        return -1;
    /* RFC 5766/8656 channel numbers (see TURN_CHANNEL_MAX in stun.h). */
    if (ch < TURN_CHANNEL_MIN || ch > TURN_CHANNEL_MAX)
        return -1;
    /* RFC 8656 12.4: the data is length bytes; what follows on UDP is
     * padding and is ignored. */
    d = cw_rbuf_take(&b, n);
    if (!d)
        return -1;
    *channel = ch;
    *data = d;
    *dlen = n;
    return 0;
}

void turn_channeldata_header(uint8_t hdr[4], uint16_t channel, uint16_t dlen)
{
    struct cw_wbuf w;

    cw_wbuf_init(&w, hdr, 4);
    cw_wbuf_u16(&w, channel);
    cw_wbuf_u16(&w, dlen);
}

/* Garbage and oversized frames are refused as soon as the first bytes
 * show it, but a size is returned only once the whole frame is here, so a
 * caller may hand p[0..size) to a parser without checking len again. */
long turn_frame_len(const uint8_t *p, size_t len, size_t max)
{
    struct cw_rbuf b;
    uint8_t first;
    uint16_t n;
    size_t have, total;

    cw_rbuf_init(&b, p, len);
    have = cw_rbuf_left(&b);
    if (have == 0)
        return 0;
    first = cw_rbuf_u8(&b);
    if ((first & 0xc0) == 0) {
        /* RFC 8489 6: STUN; the length (bytes 2-3) is known with 4 bytes,
         * the cookie is checked as soon as 8 bytes are here. */
        if (have < 4)
            return 0;
        (void)cw_rbuf_u8(&b);
        n = cw_rbuf_u16(&b);
        if (n % 4 != 0)
            return -1;
        total = STUN_HDR_LEN + (size_t)n;
        if (total > max)
            return -1;
        if (have >= 8 && cw_rbuf_u32(&b) != STUN_MAGIC)
            return -1;
    } else if (first >= (TURN_CHANNEL_MIN >> 8) && first <= (TURN_CHANNEL_MAX >> 8)) {
        /* RFC 8656 12.5: on streams ChannelData is padded to 4. */
        if (have < 4)
            return 0;
        (void)cw_rbuf_u8(&b);
        n = cw_rbuf_u16(&b);
        total = 4 + stun__pad4(n);
        if (total > max)
            return -1;
    } else {
        return -1; /* neither STUN nor a channel number (RFC 8656 12) */
    }
    return have < total ? 0 : (long)total;
}
