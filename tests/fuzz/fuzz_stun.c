/* fuzz_stun.c - libFuzzer harness for the STUN/TURN codec (turn/stun.c). */
#include "turn/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes what parsed, signs it, and insists the result parses and verifies. */
static void reencode(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
    static uint8_t buf[STUN_MAX_STREAM_MSG];
    struct stun_msg m2;
    struct stun_enc e;
    unsigned i;
    size_t n;

    stun_enc_start(&e, buf, sizeof(buf), m->method, m->cls, m->tid);
    for (i = 0; i < m->nattrs; i++)
        if ((int)i != m->i_mi && (int)i != m->i_mi256 && (int)i != m->i_fp)
            stun_enc_attr(&e, m->attrs[i].type, stun_attr_value(m, &m->attrs[i]),
                          m->attrs[i].len);
    stun_enc_integrity(&e, key, keylen);
    stun_enc_integrity_sha256(&e, key, keylen);
    stun_enc_fingerprint(&e);
    n = stun_enc_finish(&e);
    if (n && m->nattrs + 3 <= STUN_MAX_ATTRS &&
        (stun_msg_parse(&m2, buf, n) != STUN_OK || m2.nunknown != m->nunknown ||
         stun_msg_check_integrity(&m2, key, keylen, 0) != 0 ||
         stun_msg_check_integrity(&m2, key, keylen, 1) != 0))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";
    struct sockaddr_storage ss;
    struct stun_msg m;
    const uint8_t *p;
    const char *reason;
    size_t len;
    uint32_t u;
    uint16_t ch;
    unsigned i;
    int rc, code;
    long fl;

    rc = stun_msg_parse(&m, data, size);
    if (rc != STUN_E_NOT_STUN) {
        for (i = 0; i < m.nattrs; i++) {
            (void)stun_attr_value(&m, &m.attrs[i]);
            (void)stun_attr_u32(&m, &m.attrs[i], &u);
            (void)stun_attr_xaddr(&m, &m.attrs[i], &ss);
            (void)stun_attr_error(&m, &m.attrs[i], &code, &reason, &len);
        }
        (void)stun_msg_find(&m, STUN_A_USERNAME);
        (void)stun_msg_check_integrity(&m, key, sizeof(key) - 1, 0);
        (void)stun_msg_check_integrity(&m, key, sizeof(key) - 1, 1);
        if (rc == STUN_OK)
            reencode(&m, key, sizeof(key) - 1);
    }
    (void)stun_is_stun(data, size);
    (void)turn_channeldata_parse(data, size, &ch, &p, &len);
    fl = turn_frame_len(data, size, STUN_MAX_STREAM_MSG);
    if (fl > STUN_MAX_STREAM_MSG || fl > (long)size) /* a size means a whole frame */
        __builtin_trap();
    return 0;
}
