/* test_stun.c - STUN/TURN codec tests: RFC 5769 vectors, malformed input, encoder, framing. */
#include "test.h"

#include "turn/stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/evp.h>

/* RFC 5769 2.1-2.4, byte for byte (padding of 0x20 in 2.1-2.3 is in the RFC). */
static const uint8_t rfc5769_req[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
    0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20,
    0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
    0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2,
    0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};
static const uint8_t rfc5769_v4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};
static const uint8_t rfc5769_v6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};
static const uint8_t rfc5769_lt[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
    0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
    0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83,
    0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00,
    0x00, 0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39,
    0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46,
    0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, 0x41,
    0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
    0x6f, 0x72, 0x67, 0x00,
    0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e,
    0x02, 0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};
static const char rfc5769_pass[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t rfc5769_tid[STUN_TID_LEN] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                                   0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };
static const uint8_t test_tid[STUN_TID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* A header with any type and length, for hand-made messages. */
static void put_hdr(uint8_t *p, uint16_t type, uint16_t len)
{
    p[0] = (uint8_t)(type >> 8);
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    p[4] = 0x21;
    p[5] = 0x12;
    p[6] = 0xa4;
    p[7] = 0x42;
    memcpy(p + 8, test_tid, STUN_TID_LEN);
}

static void put_attr_hdr(uint8_t *p, uint16_t type, uint16_t len)
{
    p[0] = (uint8_t)(type >> 8);
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

static void check_value(const struct stun_msg *m, uint16_t type, const char *want)
{
    const struct stun_attr *a = stun_msg_find(m, type);

    CHECK(a != NULL);
    CHECK_EQ(a->len, strlen(want));
    CHECK_MEM(stun_attr_value(m, a), want, a->len);
}

static void check_sin(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    struct in_addr want;

    CHECK_EQ(sin->sin_family, AF_INET);
    CHECK_EQ(ntohs(sin->sin_port), port);
    CHECK_EQ(inet_pton(AF_INET, ip, &want), 1);
    CHECK_EQ(sin->sin_addr.s_addr, want.s_addr);
}

static void check_sin6(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    struct in6_addr want;

    CHECK_EQ(sin6->sin6_family, AF_INET6);
    CHECK_EQ(ntohs(sin6->sin6_port), port);
    CHECK_EQ(inet_pton(AF_INET6, ip, &want), 1);
    CHECK_MEM(&sin6->sin6_addr, &want, 16);
}

/* Re-encodes an RFC vector's attributes up to MESSAGE-INTEGRITY as raw bytes
 * (keeping its padding) and lets the encoder add MI and, if fp, FINGERPRINT:
 * the result must equal the vector. */
static void check_reencode(const uint8_t *vec, size_t veclen, size_t mi_at, uint16_t method,
                           uint8_t cls, const uint8_t *key, size_t keylen, int fp)
{
    uint8_t buf[256];
    struct stun_enc e;

    stun_enc_start(&e, buf, sizeof(buf), method, cls, vec + 8);
    cw_wbuf_bytes(&e.w, vec + STUN_HDR_LEN, mi_at - STUN_HDR_LEN);
    stun_enc_integrity(&e, key, keylen);
    if (fp)
        stun_enc_fingerprint(&e);
    CHECK_EQ(stun_enc_finish(&e), veclen);
    CHECK_MEM(buf, vec, veclen);
}

/* ---- RFC 5769 ------------------------------------------------------------ */

TEST(stun_rfc5769_request)
{
    struct stun_msg m;
    uint32_t prio = 0;

    CHECK_EQ(stun_is_stun(rfc5769_req, sizeof(rfc5769_req)), 1);
    CHECK_EQ(stun_msg_parse(&m, rfc5769_req, sizeof(rfc5769_req)), STUN_OK);
    CHECK_EQ(m.method, STUN_BINDING);
    CHECK_EQ(m.cls, STUN_REQUEST);
    CHECK_MEM(m.tid, rfc5769_tid, STUN_TID_LEN);
    CHECK_EQ(m.nattrs, 6);
    CHECK_EQ(m.i_mi, 4);
    CHECK_EQ(m.i_mi256, -1);
    CHECK_EQ(m.i_fp, 5);
    CHECK_EQ(m.nunknown, 0);
    check_value(&m, STUN_A_SOFTWARE, "STUN test client");
    check_value(&m, STUN_A_USERNAME, "evtj:h6vY");
    CHECK_EQ(stun_attr_u32(&m, stun_msg_find(&m, STUN_A_PRIORITY), &prio), 0);
    CHECK_EQ(prio, 0x6e0001ff);
    CHECK(stun_msg_find(&m, STUN_A_ICE_CONTROLLED) != NULL);
    CHECK(stun_msg_find(&m, STUN_A_REALM) == NULL);
    CHECK_EQ(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_pass,
                                      strlen(rfc5769_pass), 0), 0);
    CHECK_EQ(stun_msg_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBu",
                                      strlen(rfc5769_pass), 0), -1);
    CHECK_EQ(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_pass,
                                      strlen(rfc5769_pass), 1), -1); /* absent */
    check_reencode(rfc5769_req, sizeof(rfc5769_req), 76, STUN_BINDING, STUN_REQUEST,
                   (const uint8_t *)rfc5769_pass, strlen(rfc5769_pass), 1);
}

TEST(stun_rfc5769_ipv4_response)
{
    struct stun_msg m;
    struct sockaddr_storage ss;
    struct sockaddr_in sin;
    uint8_t buf[128];
    struct stun_enc e;

    CHECK_EQ(stun_msg_parse(&m, rfc5769_v4, sizeof(rfc5769_v4)), STUN_OK);
    CHECK_EQ(m.method, STUN_BINDING);
    CHECK_EQ(m.cls, STUN_SUCCESS);
    check_value(&m, STUN_A_SOFTWARE, "test vector");
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &ss), 0);
    check_sin(&ss, "192.0.2.1", 32853);
    CHECK_EQ(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_pass,
                                      strlen(rfc5769_pass), 0), 0);
    check_reencode(rfc5769_v4, sizeof(rfc5769_v4), 48, STUN_BINDING, STUN_SUCCESS,
                   (const uint8_t *)rfc5769_pass, strlen(rfc5769_pass), 1);

    /* The encoder's XOR-MAPPED-ADDRESS is the vector's. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(32853);
    inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, rfc5769_tid);
    stun_enc_xaddr(&e, STUN_A_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&sin);
    CHECK_EQ(stun_enc_finish(&e), 32);
    CHECK_MEM(buf + 20, rfc5769_v4 + 36, 12);
}

TEST(stun_rfc5769_ipv6_response)
{
    struct stun_msg m;
    struct sockaddr_storage ss;
    uint8_t buf[128];
    struct stun_enc e;

    CHECK_EQ(stun_msg_parse(&m, rfc5769_v6, sizeof(rfc5769_v6)), STUN_OK);
    CHECK_EQ(m.cls, STUN_SUCCESS);
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &ss), 0);
    check_sin6(&ss, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
    CHECK_EQ(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_pass,
                                      strlen(rfc5769_pass), 0), 0);
    check_reencode(rfc5769_v6, sizeof(rfc5769_v6), 60, STUN_BINDING, STUN_SUCCESS,
                   (const uint8_t *)rfc5769_pass, strlen(rfc5769_pass), 1);

    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, rfc5769_tid);
    stun_enc_xaddr(&e, STUN_A_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&ss);
    CHECK_EQ(stun_enc_finish(&e), 44);
    CHECK_MEM(buf + 20, rfc5769_v6 + 36, 24);
}

TEST(stun_rfc5769_long_term)
{
    static const char user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf"
                               "\xe3\x82\xb9"; /* "マトリックス" */
    static const char nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
    static const char realm[] = "example.org";
    char creds[128];
    uint8_t key[EVP_MAX_MD_SIZE], buf[256];
    unsigned keylen = 0;
    struct stun_msg m;
    struct stun_enc e;
    int n;

    CHECK_EQ(strcmp(user, "マトリックス"), 0);
    /* RFC 8489 9.2.2: key = MD5(username ":" realm ":" SASLprep(password)). */
    n = snprintf(creds, sizeof(creds), "%s:%s:%s", user, realm, "TheMatrIX");
    CHECK(EVP_Digest(creds, (size_t)n, key, &keylen, EVP_md5(), NULL) == 1);
    CHECK_EQ(keylen, 16);

    CHECK_EQ(stun_msg_parse(&m, rfc5769_lt, sizeof(rfc5769_lt)), STUN_OK);
    CHECK_EQ(m.method, STUN_BINDING);
    CHECK_EQ(m.cls, STUN_REQUEST);
    CHECK_EQ(m.i_fp, -1);
    check_value(&m, STUN_A_USERNAME, user);
    check_value(&m, STUN_A_NONCE, nonce);
    check_value(&m, STUN_A_REALM, realm);
    CHECK_EQ(stun_msg_check_integrity(&m, key, keylen, 0), 0);
    key[0] ^= 1;
    CHECK_EQ(stun_msg_check_integrity(&m, key, keylen, 0), -1);
    key[0] ^= 1;

    /* Built from its parts with the encoder, zero padding and all. */
    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, rfc5769_lt + 8);
    stun_enc_attr(&e, STUN_A_USERNAME, user, strlen(user));
    stun_enc_attr(&e, STUN_A_NONCE, nonce, strlen(nonce));
    stun_enc_attr(&e, STUN_A_REALM, realm, strlen(realm));
    stun_enc_integrity(&e, key, keylen);
    CHECK_EQ(stun_enc_finish(&e), sizeof(rfc5769_lt));
    CHECK_MEM(buf, rfc5769_lt, sizeof(rfc5769_lt));
}

/* ---- malformed input ----------------------------------------------------- */

TEST(stun_parse_truncated_header)
{
    struct stun_msg m;
    size_t n;

    for (n = 0; n < STUN_HDR_LEN; n++)
        CHECK_EQ(stun_msg_parse(&m, rfc5769_req, n), STUN_E_NOT_STUN);
    CHECK_EQ(stun_msg_parse(&m, NULL, 0), STUN_E_NOT_STUN);
    CHECK_EQ(stun_is_stun(rfc5769_req, 19), 0);
    /* Cut inside the body, or with bytes after it: length mismatch. */
    CHECK_EQ(stun_msg_parse(&m, rfc5769_req, sizeof(rfc5769_req) - 4), STUN_E_NOT_STUN);
    CHECK_EQ(stun_msg_parse(&m, rfc5769_req, sizeof(rfc5769_req) - 1), STUN_E_NOT_STUN);
}

TEST(stun_parse_not_stun)
{
    uint8_t b[sizeof(rfc5769_req)];
    struct stun_msg m;

    memcpy(b, rfc5769_req, sizeof(b));
    b[0] |= 0x80; /* top bits */
    CHECK_EQ(stun_is_stun(b, sizeof(b)), 0);
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_NOT_STUN);
    b[0] = 0x40; /* a ChannelData first byte */
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_NOT_STUN);
    memcpy(b, rfc5769_req, sizeof(b));
    b[7] ^= 1; /* cookie */
    CHECK_EQ(stun_is_stun(b, sizeof(b)), 0);
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_NOT_STUN);
}

TEST(stun_parse_length_not_multiple_of_4)
{
    uint8_t b[24] = { 0 };
    struct stun_msg m;

    put_hdr(b, 0x0001, 2);
    CHECK_EQ(stun_msg_parse(&m, b, 22), STUN_E_NOT_STUN);
    put_hdr(b, 0x0001, 4);
    put_attr_hdr(b + 20, STUN_A_SOFTWARE, 0);
    CHECK_EQ(stun_msg_parse(&m, b, 24), STUN_OK);
}

TEST(stun_parse_attr_overrun)
{
    uint8_t b[32] = { 0 };
    struct stun_msg m;

    put_hdr(b, 0x0113, 12); /* Allocate error response */
    put_attr_hdr(b + 20, STUN_A_SOFTWARE, 4);
    put_attr_hdr(b + 28, STUN_A_REALM, 1); /* 1 byte + 3 padding: past the end */
    CHECK_EQ(stun_msg_parse(&m, b, 32), STUN_E_MALFORMED);
    /* The header is still decoded so the caller can answer 400. */
    CHECK_EQ(m.method, TURN_ALLOCATE);
    CHECK_EQ(m.cls, STUN_ERROR);
    CHECK_MEM(m.tid, test_tid, STUN_TID_LEN);
    put_attr_hdr(b + 20, STUN_A_SOFTWARE, 9);
    put_attr_hdr(b + 28, 0, 0);
    CHECK_EQ(stun_msg_parse(&m, b, 32), STUN_E_MALFORMED);
    put_attr_hdr(b + 20, STUN_A_SOFTWARE, 0xffff);
    CHECK_EQ(stun_msg_parse(&m, b, 32), STUN_E_MALFORMED);
}

TEST(stun_parse_too_many_attrs)
{
    uint8_t b[STUN_HDR_LEN + 4 * (STUN_MAX_ATTRS + 1)];
    struct stun_msg m;
    unsigned i;

    memset(b, 0, sizeof(b));
    for (i = 0; i < STUN_MAX_ATTRS + 1; i++)
        put_attr_hdr(b + STUN_HDR_LEN + 4 * i, STUN_A_SOFTWARE, 0);
    put_hdr(b, 0x0001, 4 * STUN_MAX_ATTRS);
    CHECK_EQ(stun_msg_parse(&m, b, STUN_HDR_LEN + 4 * STUN_MAX_ATTRS), STUN_OK);
    CHECK_EQ(m.nattrs, STUN_MAX_ATTRS);
    put_hdr(b, 0x0001, 4 * (STUN_MAX_ATTRS + 1));
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_MALFORMED);
}

TEST(stun_parse_unknown_required)
{
    uint8_t b[STUN_HDR_LEN + 4 * 12];
    struct stun_msg m;
    unsigned i;

    memset(b, 0, sizeof(b));
    put_hdr(b, 0x0003, 4 * 12);
    put_attr_hdr(b + 20, 0x0042, 0);  /* unknown, comprehension-required */
    put_attr_hdr(b + 24, 0x8042, 0);  /* unknown, comprehension-optional */
    put_attr_hdr(b + 28, TURN_A_LIFETIME, 0);
    for (i = 3; i < 12; i++)
        put_attr_hdr(b + 20 + 4 * i, (uint16_t)(0x7ff0 + i), 0);
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_OK);
    CHECK_EQ(m.nattrs, 12);
    CHECK_EQ(m.nunknown, 10);
    CHECK_EQ(m.unknown[0], 0x0042);
    CHECK_EQ(m.unknown[1], 0x7ff3);
    CHECK_EQ(m.unknown[7], 0x7ff9);
    CHECK(stun_msg_find(&m, 0x8042) != NULL);
}

TEST(stun_parse_attr_after_fingerprint)
{
    uint8_t buf[128];
    struct stun_enc e;
    struct stun_msg m;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_fingerprint(&e);
    stun_enc_attr(&e, STUN_A_SOFTWARE, "x", 1);
    n = stun_enc_finish(&e);
    CHECK_EQ(n, 36);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_E_MALFORMED);
    /* Even another FINGERPRINT. */
    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_fingerprint(&e);
    stun_enc_fingerprint(&e);
    n = stun_enc_finish(&e);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_E_MALFORMED);
}

TEST(stun_parse_bad_fingerprint)
{
    uint8_t b[sizeof(rfc5769_req)];
    struct stun_msg m;

    memcpy(b, rfc5769_req, sizeof(b));
    b[sizeof(b) - 1] ^= 1;
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_FINGERPRINT);
    memcpy(b, rfc5769_req, sizeof(b));
    b[30] ^= 0x20; /* inside SOFTWARE */
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_FINGERPRINT);
    /* A FINGERPRINT of the wrong size is malformed. */
    memcpy(b, rfc5769_req, sizeof(b));
    b[sizeof(b) - 5] = 3;
    CHECK_EQ(stun_msg_parse(&m, b, sizeof(b)), STUN_E_MALFORMED);
}

TEST(stun_parse_after_integrity_ignored)
{
    static const uint8_t key[] = "secret";
    uint8_t buf[256];
    struct stun_enc e;
    struct stun_msg m;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST, test_tid);
    stun_enc_u32(&e, TURN_A_LIFETIME, 600);
    stun_enc_integrity(&e, key, 6);
    stun_enc_attr(&e, TURN_A_DATA, "abcd", 4);
    stun_enc_attr(&e, 0x0042, "", 0); /* unknown, but ignored after MI */
    stun_enc_fingerprint(&e);
    n = stun_enc_finish(&e);
    CHECK(n > 0);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(m.nattrs, 3);
    CHECK(stun_msg_find(&m, TURN_A_DATA) == NULL);
    CHECK_EQ(m.nunknown, 0);
    CHECK_EQ(m.i_mi, 1);
    CHECK_EQ(m.i_fp, 2);
    /* MI covers only what precedes it. */
    CHECK_EQ(stun_msg_check_integrity(&m, key, 6, 0), 0);
    /* A wrong MI size is malformed. */
    buf[20 + 8 + 3] = 16;
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_E_MALFORMED);
}

/* ---- attributes ---------------------------------------------------------- */

TEST(stun_xaddr_roundtrip)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr_storage ss;
    uint8_t buf[128];
    struct stun_enc e;
    struct stun_msg m;
    size_t n;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(3478);
    inet_pton(AF_INET, "203.0.113.7", &sin.sin_addr);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(65535);
    inet_pton(AF_INET6, "2001:db8::ff:1", &sin6.sin6_addr);

    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_SUCCESS, test_tid);
    stun_enc_xaddr(&e, TURN_A_XOR_RELAYED_ADDRESS, (const struct sockaddr *)&sin);
    stun_enc_xaddr(&e, TURN_A_XOR_PEER_ADDRESS, (const struct sockaddr *)&sin6);
    n = stun_enc_finish(&e);
    CHECK_EQ(n, 20 + 12 + 24);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, TURN_A_XOR_RELAYED_ADDRESS), &ss), 0);
    check_sin(&ss, "203.0.113.7", 3478);
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, TURN_A_XOR_PEER_ADDRESS), &ss), 0);
    check_sin6(&ss, "2001:db8::ff:1", 65535);

    /* Family and length must agree (RFC 8489 14.2). */
    buf[20 + 5] = STUN_FAMILY_IPV6;
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, TURN_A_XOR_RELAYED_ADDRESS), &ss), -1);
    buf[20 + 5] = 3;
    CHECK_EQ(stun_attr_xaddr(&m, stun_msg_find(&m, TURN_A_XOR_RELAYED_ADDRESS), &ss), -1);

    /* An unsupported family fails the encoder. */
    sin.sin_family = AF_UNIX;
    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, test_tid);
    stun_enc_xaddr(&e, STUN_A_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&sin);
    CHECK_EQ(stun_enc_finish(&e), 0);
}

TEST(stun_u32_attr)
{
    uint8_t buf[64];
    struct stun_enc e;
    struct stun_msg m;
    uint32_t v = 0;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), TURN_REFRESH, STUN_REQUEST, test_tid);
    stun_enc_u32(&e, TURN_A_LIFETIME, 0xdeadbeef);
    stun_enc_attr(&e, TURN_A_REQUESTED_TRANSPORT, "\x11\0\0", 3);
    n = stun_enc_finish(&e);
    CHECK_EQ(n, 36);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(stun_attr_u32(&m, stun_msg_find(&m, TURN_A_LIFETIME), &v), 0);
    CHECK_EQ(v, 0xdeadbeef);
    CHECK_EQ(stun_attr_u32(&m, stun_msg_find(&m, TURN_A_REQUESTED_TRANSPORT), &v), -1);
    CHECK_EQ(stun_attr_u32(&m, NULL, &v), -1);
}

TEST(stun_error_code)
{
    uint8_t buf[256];
    struct stun_enc e;
    struct stun_msg m;
    const char *reason;
    size_t n, rlen;
    int code;

    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, test_tid);
    stun_enc_error(&e, 401, NULL);
    n = stun_enc_finish(&e);
    CHECK_EQ(n, 20 + 4 + 4 + 12);
    CHECK_EQ(buf[26], 4);
    CHECK_EQ(buf[27], 1);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(stun_attr_error(&m, stun_msg_find(&m, STUN_A_ERROR_CODE), &code, &reason,
                             &rlen), 0);
    CHECK_EQ(code, 401);
    CHECK_EQ(rlen, strlen("Unauthorized"));
    CHECK_MEM(reason, "Unauthorized", rlen);

    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, test_tid);
    stun_enc_error(&e, 699, "");
    n = stun_enc_finish(&e);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(stun_attr_error(&m, stun_msg_find(&m, STUN_A_ERROR_CODE), &code, &reason,
                             &rlen), 0);
    CHECK_EQ(code, 699);
    CHECK_EQ(rlen, 0);

    /* Out of range: number 100, class 2; and codes the encoder refuses. */
    buf[27] = 100;
    CHECK_EQ(stun_attr_error(&m, stun_msg_find(&m, STUN_A_ERROR_CODE), &code, &reason,
                             &rlen), -1);
    buf[26] = 2;
    buf[27] = 0;
    CHECK_EQ(stun_attr_error(&m, stun_msg_find(&m, STUN_A_ERROR_CODE), &code, &reason,
                             &rlen), -1);
    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, test_tid);
    stun_enc_error(&e, 299, NULL);
    CHECK_EQ(stun_enc_finish(&e), 0);
    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, test_tid);
    stun_enc_error(&e, 700, NULL);
    CHECK_EQ(stun_enc_finish(&e), 0);

    CHECK_STR(stun_reason(438), "Stale Nonce");
    CHECK_STR(stun_reason(420), "Unknown Attribute");
    CHECK(stun_reason(599) != NULL);
}

TEST(stun_unknown_attributes_encode)
{
    static const uint16_t types[] = { 0x0042, 0x7ff3, 0x0050 };
    uint8_t buf[64];
    struct stun_enc e;
    struct stun_msg m;
    const struct stun_attr *a;
    const uint8_t *v;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_ERROR, test_tid);
    stun_enc_error(&e, 420, NULL);
    stun_enc_unknown(&e, types, 3);
    n = stun_enc_finish(&e);
    CHECK(n > 0);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    a = stun_msg_find(&m, STUN_A_UNKNOWN_ATTRIBUTES);
    CHECK(a != NULL);
    CHECK_EQ(a->len, 6);
    v = stun_attr_value(&m, a);
    CHECK_MEM(v, "\x00\x42\x7f\xf3\x00\x50", 6);
    CHECK_MEM(v + 6, "\0\0", 2);
}

/* ---- encoder ------------------------------------------------------------- */

TEST(stun_enc_type_bits)
{
    uint8_t buf[32];
    struct stun_enc e;
    struct stun_msg m;

    /* RFC 8489 5: method and class interleaved in the type. */
    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 20);
    CHECK_EQ(buf[0], 0x01);
    CHECK_EQ(buf[1], 0x13);
    stun_enc_start(&e, buf, sizeof(buf), TURN_SEND, STUN_INDICATION, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 20);
    CHECK_EQ(buf[1], 0x16);
    stun_enc_start(&e, buf, sizeof(buf), 0xfff, STUN_ERROR, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 20);
    CHECK_EQ(buf[0], 0x3f);
    CHECK_EQ(buf[1], 0xff);
    CHECK_EQ(stun_msg_parse(&m, buf, 20), STUN_OK);
    CHECK_EQ(m.method, 0xfff);
    CHECK_EQ(m.cls, STUN_ERROR);
    stun_enc_start(&e, buf, sizeof(buf), 0x1000, STUN_REQUEST, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 0);
}

TEST(stun_enc_overflow)
{
    uint8_t buf[64];
    struct stun_enc e;

    stun_enc_start(&e, buf, 19, STUN_BINDING, STUN_REQUEST, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 0);
    stun_enc_start(&e, buf, 20, STUN_BINDING, STUN_REQUEST, test_tid);
    CHECK_EQ(stun_enc_finish(&e), 20);
    /* 5 bytes pad to 8: 32 bytes needed. */
    stun_enc_start(&e, buf, 31, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_attr(&e, STUN_A_SOFTWARE, "hello", 5);
    CHECK_EQ(stun_enc_finish(&e), 0);
    stun_enc_start(&e, buf, 32, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_attr(&e, STUN_A_SOFTWARE, "hello", 5);
    CHECK_EQ(stun_enc_finish(&e), 32);
    /* No room for MESSAGE-INTEGRITY, FINGERPRINT or XOR-*-ADDRESS. */
    stun_enc_start(&e, buf, 43, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_integrity(&e, (const uint8_t *)"k", 1);
    CHECK_EQ(stun_enc_finish(&e), 0);
    stun_enc_start(&e, buf, 27, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_fingerprint(&e);
    CHECK_EQ(stun_enc_finish(&e), 0);
    stun_enc_start(&e, buf, 44, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_integrity_sha256(&e, (const uint8_t *)"k", 1);
    CHECK_EQ(stun_enc_finish(&e), 0);
    /* A failed encoder stays failed. */
    stun_enc_start(&e, buf, 24, STUN_BINDING, STUN_REQUEST, test_tid);
    stun_enc_attr(&e, STUN_A_SOFTWARE, "hello", 5);
    stun_enc_attr(&e, STUN_A_SOFTWARE, NULL, 0);
    CHECK_EQ(stun_enc_finish(&e), 0);
}

TEST(stun_integrity_sha256_roundtrip)
{
    static const uint8_t key[16] = "0123456789abcdef";
    uint8_t buf[256];
    struct stun_enc e;
    struct stun_msg m;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST, test_tid);
    stun_enc_attr(&e, STUN_A_USERNAME, "alice", 5);
    stun_enc_u32(&e, TURN_A_REQUESTED_TRANSPORT, 0x11000000);
    stun_enc_integrity(&e, key, sizeof(key));
    stun_enc_integrity_sha256(&e, key, sizeof(key));
    stun_enc_fingerprint(&e);
    n = stun_enc_finish(&e);
    CHECK_EQ(n, 20 + 12 + 8 + 24 + 36 + 8);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(m.i_mi, 2);
    CHECK_EQ(m.i_mi256, 3);
    CHECK_EQ(m.i_fp, 4);
    CHECK_EQ(stun_msg_check_integrity(&m, key, sizeof(key), 1), 0);
    CHECK_EQ(stun_msg_check_integrity(&m, key, sizeof(key), 0), 0);
    CHECK_EQ(stun_msg_check_integrity(&m, key, sizeof(key) - 1, 1), -1);
    CHECK_EQ(stun_msg_check_integrity(&m, NULL, 0, 1), -1);

    /* Only MI-SHA256, with an empty key. */
    stun_enc_start(&e, buf, sizeof(buf), TURN_REFRESH, STUN_REQUEST, test_tid);
    stun_enc_u32(&e, TURN_A_LIFETIME, 0);
    stun_enc_integrity_sha256(&e, NULL, 0);
    n = stun_enc_finish(&e);
    CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
    CHECK_EQ(m.i_mi, -1);
    CHECK_EQ(stun_msg_check_integrity(&m, NULL, 0, 1), 0);
    CHECK_EQ(stun_msg_check_integrity(&m, NULL, 0, 0), -1);
    buf[n - 1] ^= 1;
    CHECK_EQ(stun_msg_check_integrity(&m, NULL, 0, 1), -1);
}

/* RFC 8489 14.6: a MESSAGE-INTEGRITY-SHA256 truncated to 16..28 bytes is
 * computed with the header length ending after the truncated attribute. */
TEST(stun_integrity_sha256_truncated)
{
    static const uint8_t key[] = "key";
    uint8_t buf[128], mac[EVP_MAX_MD_SIZE];
    size_t n, at, maclen = 0;
    struct stun_enc e;
    struct stun_msg m;
    size_t t;

    for (t = 16; t <= 32; t += 4) {
        stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, test_tid);
        stun_enc_attr(&e, STUN_A_USERNAME, "bob", 3);
        at = e.w.len;
        cw_wbuf_put_u16_at(&e.w, 2, (uint16_t)(at - 20 + 4 + t));
        CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 3, buf, at, mac,
                        sizeof(mac), &maclen) != NULL);
        CHECK_EQ(maclen, 32);
        stun_enc_attr(&e, STUN_A_MESSAGE_INTEGRITY_SHA256, mac, t);
        n = stun_enc_finish(&e);
        CHECK_EQ(n, at + 4 + t);
        CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_OK);
        CHECK_EQ(stun_msg_check_integrity(&m, key, 3, 1), 0);
        buf[n - 1] ^= 0x80;
        CHECK_EQ(stun_msg_check_integrity(&m, key, 3, 1), -1);
    }
    /* 12 bytes, 18 bytes, 36 bytes: malformed. */
    for (t = 12; t <= 36; t += 6) {
        if (t == 24 || t == 30)
            continue;
        memset(mac, 0, sizeof(mac));
        stun_enc_start(&e, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, test_tid);
        stun_enc_attr(&e, STUN_A_MESSAGE_INTEGRITY_SHA256, mac, t);
        n = stun_enc_finish(&e);
        CHECK(n > 0);
        CHECK_EQ(stun_msg_parse(&m, buf, n), STUN_E_MALFORMED);
    }
}

TEST(stun_crc32_check_value)
{
    CHECK_EQ(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
    CHECK_EQ(stun_crc32(NULL, 0), 0);
}

/* ---- ChannelData and framing --------------------------------------------- */

TEST(turn_channeldata)
{
    uint8_t b[16] = { 0 };
    const uint8_t *data = NULL;
    uint16_t ch = 0;
    size_t dlen = 0;

    turn_channeldata_header(b, 0x4001, 5);
    CHECK_MEM(b, "\x40\x01\x00\x05", 4);
    memcpy(b + 4, "hello", 5);
    CHECK_EQ(turn_channeldata_parse(b, 9, &ch, &data, &dlen), 0);
    CHECK_EQ(ch, 0x4001);
    CHECK_EQ(dlen, 5);
    CHECK(data == b + 4);
    /* UDP padding after the data is accepted. */
    CHECK_EQ(turn_channeldata_parse(b, 12, &ch, &data, &dlen), 0);
    CHECK_EQ(dlen, 5);
    /* Short. */
    CHECK_EQ(turn_channeldata_parse(b, 8, &ch, &data, &dlen), -1);
    CHECK_EQ(turn_channeldata_parse(b, 3, &ch, &data, &dlen), -1);
    CHECK_EQ(turn_channeldata_parse(NULL, 0, &ch, &data, &dlen), -1);
    /* Channel numbers outside TURN_CHANNEL_MIN..MAX: RFC 8656 12 allows
     * 0x4000-0x4FFF, RFC 5766 11 allowed up to 0x7FFF (see stun.h). */
    turn_channeldata_header(b, 0x3fff, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), -1);
    turn_channeldata_header(b, 0x5000, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen),
             0x5000 <= TURN_CHANNEL_MAX ? 0 : -1);
    turn_channeldata_header(b, TURN_CHANNEL_MAX + 1, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), -1);
    turn_channeldata_header(b, 0xffff, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), -1);
    turn_channeldata_header(b, 0x4fff, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), 0);
    CHECK_EQ(ch, 0x4fff);
    CHECK_EQ(dlen, 0);
    turn_channeldata_header(b, TURN_CHANNEL_MAX, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), 0);
    CHECK_EQ(ch, TURN_CHANNEL_MAX);
    turn_channeldata_header(b, 0x4000, 0);
    CHECK_EQ(turn_channeldata_parse(b, 4, &ch, &data, &dlen), 0);
}

/* turn_frame_len() returns a size only once the whole frame is buffered
 * (tcp.c hands p[0..size) straight to the parser), but refuses garbage and
 * oversized frames from the first bytes that show it. */
TEST(turn_frame_len_stun)
{
    uint8_t two[2 * sizeof(rfc5769_req)];
    size_t n;

    CHECK_EQ(turn_frame_len(rfc5769_req, sizeof(rfc5769_req), 4096), 108);
    CHECK_EQ(turn_frame_len(rfc5769_req, 0, 4096), 0);
    CHECK_EQ(turn_frame_len(NULL, 0, 4096), 0);
    for (n = 1; n < sizeof(rfc5769_req); n++)
        CHECK_EQ(turn_frame_len(rfc5769_req, n, 4096), 0); /* partial */
    /* Longer input: the first frame only. */
    memcpy(two, rfc5769_req, sizeof(rfc5769_req));
    memcpy(two + sizeof(rfc5769_req), rfc5769_req, sizeof(rfc5769_req));
    for (n = sizeof(rfc5769_req); n <= sizeof(two); n++)
        CHECK_EQ(turn_frame_len(two, n, 4096), 108);
    /* Exactly max, and one frame over it, known from 4 bytes on. */
    CHECK_EQ(turn_frame_len(rfc5769_req, sizeof(rfc5769_req), 108), 108);
    CHECK_EQ(turn_frame_len(rfc5769_req, sizeof(rfc5769_req), 107), -1);
    CHECK_EQ(turn_frame_len(rfc5769_req, 3, 100), 0);
    CHECK_EQ(turn_frame_len(rfc5769_req, 4, 100), -1);
}

TEST(turn_frame_len_bad_stun)
{
    uint8_t b[20];

    memcpy(b, rfc5769_req, sizeof(b));
    b[5] ^= 1; /* cookie: known wrong from 8 bytes on */
    CHECK_EQ(turn_frame_len(b, 7, 4096), 0);
    CHECK_EQ(turn_frame_len(b, 8, 4096), -1);
    memcpy(b, rfc5769_req, sizeof(b));
    b[3] = 0x59; /* length not a multiple of 4 */
    CHECK_EQ(turn_frame_len(b, 4, 4096), -1);
    b[2] = 0xff;
    b[3] = 0xfc;
    CHECK_EQ(turn_frame_len(b, 4, STUN_MAX_STREAM_MSG), -1);
    /* A bare header is a whole message. */
    put_hdr(b, 0x0001, 0);
    CHECK_EQ(turn_frame_len(b, 19, 4096), 0);
    CHECK_EQ(turn_frame_len(b, 20, 4096), 20);
}

TEST(turn_frame_len_channeldata)
{
    uint8_t b[4 + 4096] = { 0 };

    turn_channeldata_header(b, 0x4001, 5);
    CHECK_EQ(turn_frame_len(b, 1, 4096), 0);
    CHECK_EQ(turn_frame_len(b, 3, 4096), 0);
    CHECK_EQ(turn_frame_len(b, 9, 4096), 0);  /* data there, padding not yet */
    CHECK_EQ(turn_frame_len(b, 11, 4096), 0);
    CHECK_EQ(turn_frame_len(b, 12, 4096), 12); /* 4 + 5 padded to 8 */
    CHECK_EQ(turn_frame_len(b, 16, 4096), 12);
    turn_channeldata_header(b, 0x4fff, 8);
    CHECK_EQ(turn_frame_len(b, 12, 4096), 12);
    turn_channeldata_header(b, TURN_CHANNEL_MAX, 4);
    CHECK_EQ(turn_frame_len(b, 8, 4096), 8);
    turn_channeldata_header(b, 0x4000, 0);
    CHECK_EQ(turn_frame_len(b, 4, 4096), 4);
    turn_channeldata_header(b, 0x4000, 0xffff);
    CHECK_EQ(turn_frame_len(b, 4, 4096), -1);
    CHECK_EQ(turn_frame_len(b, 4, 0x10004), 0);
    turn_channeldata_header(b, 0x4000, 4093);
    CHECK_EQ(turn_frame_len(b, 4, 4099), -1);
    CHECK_EQ(turn_frame_len(b, 4, 4100), 0);
    CHECK_EQ(turn_frame_len(b, sizeof(b) - 1, 4100), 0);
    CHECK_EQ(turn_frame_len(b, sizeof(b), 4100), 4100);
}

TEST(turn_frame_len_garbage)
{
    /* After the last channel's first byte: 0x50 under RFC 8656, 0x80 under RFC 5766. */
    static const uint8_t starts[] = { (TURN_CHANNEL_MAX >> 8) + 1, 0x80, 0xbf, 0xc0, 0xff };
    uint8_t b[32];
    size_t i;

    memset(b, 0, sizeof(b));
    for (i = 0; i < sizeof(starts); i++) {
        b[0] = starts[i];
        CHECK_EQ(turn_frame_len(b, 1, 4096), -1);
        CHECK_EQ(turn_frame_len(b, sizeof(b), 4096), -1);
    }
    memcpy(b, "GET / HTTP/1.1\r\n", 16);
    CHECK_EQ(turn_frame_len(b, 16, 4096), -1);
}
