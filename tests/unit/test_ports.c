/* test_ports.c - the relay port range: exhaustion, EVEN-PORT, reservations
 * that expire give their port back (every port of the range stays usable). */
#include "test.h"

#include "turn/turn_int.h"

TEST(ports_whole_range_then_exhausted)
{
    struct turn_ports p;
    int seen[10] = { 0 };

    CHECK_EQ(turn__ports_init(&p, 100, 109), 0);
    for (int i = 0; i < 10; i++) {
        int port = turn__ports_take(&p, 0, 0);
        CHECK(port >= 100 && port <= 109);
        CHECK(!seen[port - 100]);
        seen[port - 100] = 1;
    }
    CHECK_EQ(turn__ports_take(&p, 0, 0), -1);
    turn__ports_release(&p, 105);
    CHECK_EQ(turn__ports_take(&p, 0, 0), 105);
    turn__ports_free(&p);
}

TEST(ports_even_and_pair)
{
    struct turn_ports p;
    uint8_t token[8];
    int port;

    CHECK_EQ(turn__ports_init(&p, 200, 205), 0);
    port = turn__ports_take(&p, 1, 1);
    CHECK(port % 2 == 0);
    turn__ports_reserve(&p, (uint16_t)(port + 1), 0, token);
    CHECK_EQ(p.used, 2);
    CHECK_EQ(turn__ports_redeem(&p, token), port + 1);
    CHECK_EQ(turn__ports_redeem(&p, token), -1);     /* only once */
    turn__ports_free(&p);
}

TEST(ports_reservation_expiry_frees_port)
{
    struct turn_ports p;
    uint8_t token[8];
    int a, b;

    CHECK_EQ(turn__ports_init(&p, 300, 301), 0);
    a = turn__ports_take(&p, 1, 1);
    CHECK_EQ(a, 300);
    turn__ports_reserve(&p, 301, 1000, token);
    CHECK_EQ(turn__ports_take(&p, 0, 0), -1);        /* 301 is held */
    turn__ports_sweep(&p, 1000 + TURN_RESERVATION_S * 1000ull - 1);
    CHECK_EQ(turn__ports_take(&p, 0, 0), -1);
    turn__ports_sweep(&p, 1000 + TURN_RESERVATION_S * 1000ull);
    b = turn__ports_take(&p, 0, 0);
    CHECK_EQ(b, 301);                                /* back in the range */
    CHECK_EQ(turn__ports_redeem(&p, token), -1);     /* token is dead */
    turn__ports_free(&p);
}

TEST(ports_even_skips_odd_when_no_pair)
{
    struct turn_ports p;

    CHECK_EQ(turn__ports_init(&p, 400, 403), 0);
    CHECK(turn__ports_take(&p, 0, 0) >= 0);
    CHECK(turn__ports_take(&p, 0, 0) >= 0);
    CHECK(turn__ports_take(&p, 0, 0) >= 0);
    /* one port left: an EVEN-PORT with R=1 needs two */
    CHECK(turn__ports_take(&p, 1, 1) == -1 || p.used == 4);
    turn__ports_free(&p);
}
