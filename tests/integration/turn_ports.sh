#!/usr/bin/env bash
# turn_ports.sh - every port of the relay range stays usable: EVEN-PORT R=1
# reservations that are never redeemed give their port back after 30 s
# (RFC 8656 7.2), and R=0 reserves nothing. The load is turnload, a client
# written for this project that does not share the server's code.
. "$(dirname "$0")/lib.sh"
need_root
net_setup

# One worker: the first part counts on the Allocates being handled in the
# order they were sent (the R=1 ones first, taking every port pair); with
# several workers a plain Allocate handled meanwhile may take an odd port
# and leave one pair short, which is correct but not this test's picture.
edge_conf edge <<CONF
relay-ports = 24000-24009
workers = 1
CONF
echo pass | cw turn user add user --password-stdin > /dev/null
start_edge "$WORK/edge.conf"
bg "$NS_O" "$WORK/peer.log" turnutils_peer -L $P4 -p 3480
wait_udp "$NS_O" 3480 || notok "turnutils_peer listening"

load() { # label flags...: turnload alloc from the outside namespace
    local label=$1; shift
    in_o "$TOOLS/turnload" alloc -s $E4:3478 -u user -w pass -e $P4:3480 -L $C4 "$@" \
        > "$WORK/$label.out" 2>&1
}
kv() { sed -n "s/^$1=//p" "$WORK/$2.out" | head -n 1; }

# Ten ports: five R=1 allocations hold all ten (each keeps port+1 for a
# token nobody redeems); five more are refused with 508 until the
# reservations expire, then all ten are held at once.
load r1 -n 10 --r1 5 --retry-for 50 --retry-every 2 --hold 1 --dealloc -T 90
check "10-port range: 10 allocations held in the end, 5 of them with R=1" \
    test "$(kv allocs_ok r1)" = 10
check "while the 5 reservations lived, further Allocates got 508" \
    test "$(kv answers_508 r1)" -gt 0
check "the reserved ports came back after about 30 s" \
    awk -v s="$(kv setup_s r1)" 'BEGIN { exit !(s >= 28 && s < 50) }'
logged() { check "$1" grep -Eq -- "$2" "$WORK/edge.log"; }
logged "the 508 line counted the ports held by reservations" \
    'no capacity \(5 allocations, 5 ports held by EVEN-PORT reservations, max 10'

# R=0 asks for an even port and reserves nothing: five even allocations
# (all the even ports of 24000-24009), then five plain ones at once on the
# odd ports, none waiting for anything.
steps=()
for i in 1 2 3 4 5; do steps+=("@$i allocate even=0 -> ok port=even"); done
for i in 6 7 8 9 10; do steps+=("@$i allocate -> ok"); done
steps+=("@11 allocate -> 508")
if in_o /usr/bin/python3 "$TOP/tests/integration/stunprobe.py" -s $E4:3478 -u user -w pass \
        run "${steps[@]}" > "$WORK/r0.out" 2>&1; then
    ok "EVEN-PORT R=0: 5 even ports, then the 5 odd ones at once, then 508: nothing reserved"
else
    notok "EVEN-PORT R=0 reserves nothing"; sed 's/^/#   /' "$WORK/r0.out"
fi
check "causeway-edge still running" edge_alive
