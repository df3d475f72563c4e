#!/usr/bin/env bash
# dns_resolve.sh - common/dns.c (c-ares on the libuv loop) against real DNS
# servers on loopback: dnsmasq with local records (example.test; a second
# one serves other.test), a UDP socket that swallows queries (a silent
# server) and a port nobody listens on. The client is tests/tools/dnsq
# (CW_DNSQ: another build of it, e.g. one with -fsanitize=address); the
# cancellation and close cases run under valgrind when it is installed and
# dnsq is not sanitized, so a use after free or a leak in those paths fails
# them.
. "$(dirname "$0")/lib.sh"
need_root   # the IPv6 and no-route cases run in a network namespace

DNSQ=${CW_DNSQ:-$TOOLS/dnsq}
DNSMASQ=/usr/sbin/dnsmasq
[ -x "$DNSMASQ" ] || { notok "dnsmasq installed (sh scripts/install-deps.sh)"; exit 1; }
[ -x "$DNSQ" ] || { notok "dnsq built (make build/tests/dnsq)"; exit 1; }

# free_port: a loopback port free for both UDP and TCP right now.
free_port() {
    /usr/bin/python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break'
}
udp_bound() { ss -ulnH | awk '{print $4}' | grep -qx "127.0.0.1:$1"; }
wait_bound() { for _ in $(seq 1 50); do udp_bound "$1" && return 0; sleep 0.1; done; return 1; }

# dnsmasq_start LOG PORT ARGS...: an authoritative-only dnsmasq on
# 127.0.0.1:PORT (no upstream, no /etc/hosts, no pid file), queries logged.
dnsmasq_start() {
    local log=$1 port=$2; shift 2
    "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --listen-address=127.0.0.1 --bind-interfaces --port="$port" --pid-file= \
        --log-queries --log-facility=- "$@" > "$log" 2>&1 &
    PIDS="$PIDS $!"
    wait_bound "$port" || { notok "dnsmasq listening on 127.0.0.1:$port"; cat "$log"; exit 1; }
}

P1=$(free_port)
many="" big=""
for i in $(seq 1 12); do many="$many --host-record=many.example.test,192.0.2.$((100 + i))"; done
for i in $(seq 1 10); do many="$many --host-record=many.example.test,2001:db8::$((100 + i))"; done
for i in $(seq 1 40); do big="$big --host-record=big.example.test,2001:db8::1:$i"; done
# shellcheck disable=SC2086
dnsmasq_start "$WORK/dnsmasq1.log" "$P1" --local=/example.test/ --local-ttl=5 \
    --host-record=web.example.test,192.0.2.10 --host-record=web.example.test,2001:db8::10 \
    --host-record=v4.example.test,192.0.2.20 --txt-record=txt.example.test,"no address here" \
    --cname=alias.example.test,web.example.test,2 $many $big \
    --host-record=mixed.example.test,192.0.2.30,8 --host-record=mixed.example.test,192.0.2.31,4 \
    --host-record=mixed.example.test,2001:db8::30,6 \
    --srv-host=_xmpp-server._tcp.example.test,a.example.test,5269,10,60 \
    --srv-host=_xmpp-server._tcp.example.test,b.example.test,5270,10,20 \
    --srv-host=_xmpp-server._tcp.example.test,c.example.test,5271,0,0 \
    --srv-host=_xmpp-server._tcp.example.test,d.example.test,5272,20,0 \
    --srv-host=_xmpp-server._tcp.none.example.test,.,0,0,0
P2=$(free_port)
dnsmasq_start "$WORK/dnsmasq2.log" "$P2" --local=/other.test/ --local-ttl=7 \
    --host-record=web.other.test,198.51.100.20
# The silent server: reads queries, logs their size, never answers.
PS=$(free_port)
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    print("query of %d bytes" % len(s.recv(4096)), flush=True)' "$PS" > "$WORK/silent.log" 2>&1 &
PIDS="$PIDS $!"
wait_bound "$PS" || notok "silent server bound"
PC=$(free_port)   # nothing listens: ICMP port unreachable
D1=127.0.0.1:$P1 D2=127.0.0.1:$P2 SILENT=127.0.0.1:$PS CLOSED=127.0.0.1:$PC

# An IPv6 server: dnsmasq on port 53 of 2001:db8::53 in a namespace of its
# own (loopback only), for dnsq run in the same namespace.
ip netns add "$NS_E" || { notok "create a namespace"; exit 1; }
in_e ip link set lo up
in_e sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null
in_e ip -6 addr add 2001:db8::53/128 dev lo nodad
bg "$NS_E" "$WORK/dnsmasq6.log" "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null \
    --no-resolv --no-hosts --listen-address=2001:db8::53 --bind-interfaces --port=53 \
    --pid-file= --log-queries --log-facility=- --local=/example.test/ --local-ttl=9 \
    --host-record=web.example.test,192.0.2.10 --host-record=web.example.test,2001:db8::10
for _ in $(seq 1 50); do in_e ss -ulnH | grep -qF '[2001:db8::53]:53' && break; sleep 0.1; done

VG=""
if ldd "$DNSQ" | grep -q libasan; then
    note "dnsq is built with AddressSanitizer: no valgrind"
elif command -v valgrind > /dev/null; then
    VG="valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect"
else
    note "valgrind not installed: cancellation and close cases without memory checking"
fi

# run NAME PREFIX... -- ARGS...: runs [PREFIX] dnsq ARGS (at most 30 s: a
# lookup that never ends fails); its output in $WORK/NAME.out, its exit
# status in $WORK/NAME.rc.
run() {
    local n=$1 pre=()
    shift
    while [ "$1" != -- ]; do pre+=("$1"); shift; done
    shift
    timeout -k 5 30 "${pre[@]}" "$DNSQ" "$@" > "$WORK/$n.out" 2>&1
    echo $? > "$WORK/$n.rc"
    { echo "== $n: ${pre[*]} dnsq $*"; cat "$WORK/$n.out"; echo "exit $(cat "$WORK/$n.rc")"; } \
        >> "$WORK/check.log"
}
q() { local n=$1; shift; run "$n" -- "$@"; }
# shellcheck disable=SC2086
qv() { local n=$1; shift; run "$n" $VG -- "$@"; }    # under valgrind when installed
q6() { local n=$1; shift; run "$n" ip netns exec "$NS_E" -- "$@"; }
# shellcheck disable=SC2086
qv6() { local n=$1; shift; run "$n" ip netns exec "$NS_E" $VG -- "$@"; }
# expect NAME RC TEXT: that exit status, and the output (less the elapsed
# line) is TEXT exactly.
expect() {
    [ "$(cat "$WORK/$1.rc")" = "$2" ] && [ "$(grep -v '^elapsed ' "$WORK/$1.out")" = "$3" ]
}
# took NAME LO HI: the lookup took LO <= ms < HI.
took() {
    local ms
    ms=$(sed -n 's/^elapsed \([0-9]*\) ms$/\1/p' "$WORK/$1.out")
    [ -n "$ms" ] && [ "$ms" -ge "$2" ] && [ "$ms" -lt "$3" ]
}
# expect_took NAME RC TEXT LO HI: both.
expect_took() { expect "$1" "$2" "$3" && took "$1" "$4" "$5"; }
# nlines NAME ERE N: N lines of the output match ERE.
nlines() { [ "$(grep -cE -- "$2" "$WORK/$1.out")" = "$3" ]; }
# many_ok: 8 AAAA (::101-::110), then 8 A (.101-.112), then the TTL.
many_ok() {
    [ "$(head -n 8 "$WORK/many.out" | grep -cE '^\[2001:db8::1[01][0-9]\]:80$')" = 8 ] &&
        [ "$(sed -n 9,16p "$WORK/many.out" | grep -cE '^192\.0\.2\.1[01][0-9]:80$')" = 8 ] &&
        [ "$(sed -n 17p "$WORK/many.out")" = "ttl 5" ]
}
# big_ok: 16 addresses, and dnsmasq was asked for the AAAA twice (UDP, TCP).
big_ok() {
    nlines big '^\[2001:db8::1:[0-9]+\]:80$' 16 &&
        [ "$(grep -c 'query\[AAAA\] big\.example\.test' "$WORK/dnsmasq1.log")" = 2 ]
}
# answers NAME N: exit 0 and N answers, each with both addresses.
answers() {
    [ "$(cat "$WORK/$1.rc")" = 0 ] && nlines "$1" '^ttl 5$' "$2" &&
        nlines "$1" '^192\.0\.2\.10:80$' "$2" && nlines "$1" '^\[2001:db8::10\]:80$' "$2"
}
badsrv_ok() { grep -qF "$2" "$WORK/$1.out" && [ "$(cat "$WORK/$1.rc")" = 1 ]; }

EFAIL="error: DNS servers failed, refused or were unreachable"

# ---- answers ----
q both --servers "$D1" web.example.test 443
check "A and AAAA: both addresses with the asked port, IPv6 first, TTL 5" \
    expect both 0 "[2001:db8::10]:443
192.0.2.10:443
ttl 5"
q v4 --servers "$D1" v4.example.test 80
check "only an A record: that address alone" expect v4 0 "192.0.2.20:80
ttl 5"
q mixed --servers "$D1" mixed.example.test 80
check "records with TTLs 8, 4 (A) and 6 (AAAA): 3 addresses, the smallest TTL, 4" \
    sh -c "[ \$(grep -c ':80\$' '$WORK/mixed.out') = 3 ] && grep -qx 'ttl 4' '$WORK/mixed.out'"
q srv --servers "$D1" --srv _xmpp-server._tcp.example.test 0
check "SRV: lowest priority first, the priority-10 pair in a weighted order, then priority 20 (RFC 2782)" \
    sh -c "[ \"\$(sed -n 1p '$WORK/srv.out')\" = 'srv 0 0 5271 c.example.test' ] &&
           sed -n 2,3p '$WORK/srv.out' | sort | tr '\n' '|' | grep -qx 'srv 10 20 5270 b.example.test|srv 10 60 5269 a.example.test|' &&
           [ \"\$(sed -n 4p '$WORK/srv.out')\" = 'srv 20 0 5272 d.example.test' ]"
first_a=0
for i in $(seq 1 100); do
    "$DNSQ" --servers "$D1" --srv _xmpp-server._tcp.example.test 0 | sed -n 2p | grep -q a.example.test &&
        first_a=$((first_a + 1))
done
note "weight 60 against 20: a.example.test first in $first_a of 100 lookups (expected about 75)"
check "SRV weights: the heavier target first in most lookups, the lighter in some (not a fixed order)" \
    sh -c "[ $first_a -ge 50 ] && [ $first_a -le 95 ]"
q srvnone --servers "$D1" --srv _xmpp-server._tcp.none.example.test 0
check "SRV target \".\": the service is not offered" \
    expect srvnone 1 'error: the domain says it offers no such service (SRV target ".")'
q srvnx --servers "$D1" --srv _xmpp-server._tcp.nowhere.example.test 0
check "no SRV record at all: NXDOMAIN, for the caller's fallback to A/AAAA (RFC 6120 3.2.1)" \
    expect srvnx 1 "error: name does not exist (NXDOMAIN)"
q alias --servers "$D1" alias.example.test 80
check "CNAME: the target's addresses with the smaller TTL of the chain (the CNAME's 2)" \
    expect alias 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 2"
q nx --servers "$D1" nothing.example.test 80
check "NXDOMAIN: 'name does not exist (NXDOMAIN)', exit 1" \
    expect nx 1 "error: name does not exist (NXDOMAIN)"
q txt --servers "$D1" txt.example.test 80
check "a name with only a TXT record: 'no A or AAAA record'" \
    expect txt 1 "error: no A or AAAA record"
q many --servers "$D1" many.example.test 80
check "12 A and 10 AAAA records: 8 of each family fill the 16 slots, IPv6 first" many_ok
q big --servers "$D1" big.example.test 80
check "40 AAAA records (truncated over UDP): asked again over TCP, 16 addresses" big_ok

# ---- servers failing ----
q refused --servers "$D1,$D2" web.other.test 80
check "the first server REFUSES (not its zone): the second answers" \
    expect refused 0 "198.51.100.20:80
ttl 7"
q allrefuse --servers "$D1" web.other.test 80
check "every server refuses: 'DNS servers failed, refused or were unreachable' at once" \
    expect_took allrefuse 1 "$EFAIL" 0 1000
q failover --servers "$SILENT,$D1" --timeout 300 --tries 2 web.example.test 80
check "the first server is silent: the answer comes from the second after one 300 ms timeout" \
    expect_took failover 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 5" 280 2000
check "the silent server got the queries first" grep -q 'query of' "$WORK/silent.log"
q silent --servers "$SILENT" --timeout 300 --tries 2 web.example.test 80
check "only a silent server: 'no DNS server answered' after 300 + 600 ms (timeout doubles)" \
    expect_took silent 1 "error: no DNS server answered" 880 3000
q closed --servers "$CLOSED" --timeout 2000 --tries 2 web.example.test 80
check "only a closed port (ICMP unreachable): 'DNS servers ... unreachable' without waiting" \
    expect_took closed 1 "$EFAIL" 0 1000

# No route to the server in the namespace: c-ares fails the query inside
# ares_query(); the callback must still come from the loop (dnsq checks).
q6 noroute --servers 198.51.100.53 web.example.test 80
check "no route to the only server: 'DNS servers ... unreachable', called back from the loop" \
    expect_took noroute 1 "$EFAIL" 0 1000
qv6 noroutecl --servers 198.51.100.53 --close 0 --parallel 3 web.example.test 80
check "no route, closed before the loop ran: no callback, the finished lookups freed" \
    expect noroutecl 0 "no callback"
qv6 noroutecn --servers 198.51.100.53 --cancel 0 --parallel 3 web.example.test 80
check "no route, cancelled before the loop ran: no callback" expect noroutecn 0 "no callback"

# ---- what cw_dns_create and cw_dns_resolve refuse ----
q badsrv --servers "$D1,dns.example.test" web.example.test 80
check "a server list with a name in it is refused, naming the entry" \
    badsrv_ok badsrv 'error: bad DNS server "dns.example.test"'
q badsrv2 --servers "$D1,,$D2" web.example.test 80
check "an empty entry in the server list is refused" \
    badsrv_ok badsrv2 'error: bad DNS server list'
q badport --servers "127.0.0.1:0" web.example.test 80
check "port 0 in the server list is refused" \
    badsrv_ok badport 'error: bad DNS server "127.0.0.1:0"'
for n in 192.0.2.10 2001:db8::10 web..example.test "web example.test" -web.example.test \
    web-.example.test .example.test "" "$(printf 'a%.0s' $(seq 1 64)).example.test"; do
    q badname --servers "$D1" -- "$n" 80
    what="'$n'"
    [ ${#n} -gt 40 ] && what="a name with a 64-character label"
    check "cw_dns_resolve refuses $what" expect badname 1 "error: cw_dns_resolve refused the name"
done
q dot --servers "$D1" WEB.Example.Test. 80
check "a name in capitals with the root's trailing dot resolves" \
    expect dot 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 5"

# ---- an IPv6 server ----
q6 v6 --servers 2001:db8::53 web.example.test 80
check "an IPv6 server, port 53 by default: both addresses" expect v6 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 9"
q6 v6port --servers "[2001:db8::53]:5353,[2001:db8::53]:53" --timeout 200 web.example.test 80
check "IPv6 servers in brackets with ports: the closed first port is skipped" \
    expect v6port 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 9"

# ---- lookups from callbacks, in parallel ----
q repeat --servers "$D1" --repeat 5 web.example.test 80
check "5 lookups, each started from the previous one's callback" answers repeat 5
q parallel --servers "$D1" --parallel 20 web.example.test 80
check "20 lookups at once: 20 answers" answers parallel 20
q parslow --servers "$SILENT,$D1" --timeout 300 --tries 2 --parallel 10 web.example.test 80
check "10 lookups at once past a silent first server: 10 answers" answers parslow 10

# ---- cancel and close (under valgrind when installed) ----
qv cancel0 --servers "$D1" --cancel 0 web.example.test 80
check "cancelled right after cw_dns_resolve: no callback, the loop closes cleanly" \
    expect cancel0 0 "no callback"
qv cancelmid --servers "$SILENT,$D1" --timeout 300 --tries 2 --parallel 3 --cancel 100 \
    web.example.test 80
check "cancelled mid-query (first server silent): no callback when the second answers" \
    expect cancelmid 0 "no callback"
qv cancelto --servers "$SILENT" --timeout 300 --tries 2 --cancel 100 web.example.test 80
check "cancelled mid-query, then c-ares times it out: no callback" \
    expect_took cancelto 0 "no callback" 880 10000
qv close0 --servers "$D1" --close 0 --parallel 3 web.example.test 80
check "closed right after cw_dns_resolve: no callback" expect close0 0 "no callback"
qv closemid --servers "$SILENT" --timeout 2000 --tries 2 --parallel 3 --close 100 \
    web.example.test 80
if [ -n "$VG" ]; then
    check "closed with lookups pending at a silent server: no callback" \
        expect closemid 0 "no callback"
else
    check "closed with lookups pending at a silent server: no callback, closed at once" \
        expect_took closemid 0 "no callback" 90 1000
fi
qv closecb --servers "$D1" --parallel 5 --close-in-cb web.example.test 80
check "closed from inside the first of 5 callbacks: the other 4 never run" \
    expect closecb 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 5"
qv closecbslow --servers "$SILENT,$D1" --timeout 300 --tries 2 --parallel 5 --close-in-cb \
    web.example.test 80
check "the same with the answers arriving after a failover" \
    expect closecbslow 0 "[2001:db8::10]:80
192.0.2.10:80
ttl 5"

exit 0
