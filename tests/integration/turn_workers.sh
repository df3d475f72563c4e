#!/usr/bin/env bash
# turn_workers.sh - the relay on four workers (threads with their own loop
# and their own SO_REUSEPORT listeners) behaves as one server: clients
# spread over the workers, and what is the relay's and not a worker's is
# shared - a user's allocation quota, RESERVATION-TOKENs redeemed from
# other 5-tuples (so, mostly, on another worker), reloaded users, status,
# the allocation list and the metrics - and real traffic relays on all; a
# renewed TLS certificate is served by all once `reload` answers. A second
# edge on the same address is refused instead of silently joining the
# listeners' port group.
. "$(dirname "$0")/lib.sh"
need_root
net_setup

PROBE=$TOP/tests/integration/stunprobe.py
OUT=$WORK/probe.out
probe() { in_o /usr/bin/python3 "$PROBE" -s $E4:3478 "$@"; }
t() {
    local what=$1; shift
    if probe "$@" > "$OUT" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/#   /' "$OUT"; fi
    cat "$OUT" >> "$WORK/check.log"
}
metric() { cw metrics | awk -v k="$1" '$1 == k { print $2 }'; }

make_cert
edge_conf edge <<CONF
workers = 4
max-allocations-per-user = 12
tls-listen = $E4:5349
tls-certificate = $WORK/cert.pem
tls-key = $WORK/key.pem
CONF
for u in quota:pw pairs:pw relay:pw; do
    echo "${u#*:}" | cw turn user add "${u%%:*}" --password-stdin > /dev/null ||
        notok "turn user add ${u%%:*}"
done
start_edge "$WORK/edge.conf"
check "the edge says it runs 4 workers" grep -q 'notice turn: listening on .*; 4 workers, one thread and loop each' "$WORK/edge.log"

# 16 clients (16 source ports) of one user with a quota of 12: the kernel
# spreads them over the workers, the quota still counts them all.
steps=()
for i in $(seq 1 12); do steps+=("@$i allocate -> ok"); done
for i in $(seq 13 16); do steps+=("@$i allocate -> 486"); done
t "quota of 12 over 4 workers: 12 Allocates from 12 ports succeed, the next 4 get 486" \
    -u quota -w pw run "${steps[@]}"
cw turn status > "$WORK/status1.txt"
check "turn status: 12 allocations of user quota" grep -Eq '^ +quota +12$' "$WORK/status1.txt"
check "turn status: the allocations are spread over more than one worker" \
    awk '/Workers: 4 \(allocations:/ { gsub(/[()]/, ""); n = 0; s = 0
         for (i = 4; i <= NF; i++) { s += $i; if ($i > 0) n++ } ok = (s == 12 && n > 1) }
         END { exit !ok }' "$WORK/status1.txt"
sed 's/^/#   /' "$WORK/status1.txt" | grep Workers

# Six EVEN-PORT R=1 allocations, each token redeemed from another port:
# with 4 workers most pairs cross workers (all six on one worker by
# chance: 1 in 4096), and every token must still give port+1.
steps=()
for i in $(seq 1 6); do
    steps+=("@$((2 * i - 1)) allocate even=1 -> ok port=even token" "@$((2 * i)) allocate token=@ -> ok port=+1")
done
t "6 RESERVATION-TOKENs redeemed from other 5-tuples (other workers) all give port+1" \
    -u pairs -w pw run "${steps[@]}"

check "turn list shows all 24 allocations of every worker" \
    test "$(cw turn list | grep -cE '^(quota|pairs) ')" = 24
check "metrics: turn_allocs_active sums the workers (24)" test "$(metric turn_allocs_active)" = 24
check "metrics: turn_quota_rejects_total counts every worker's 486s (4)" \
    test "$(metric turn_quota_rejects_total)" = 4

# Real traffic on the workers: turnutils_uclient with 5 clients (10
# allocations from 10 ports) relaying to an echo peer, while the control socket reads the counters of
# all workers (under ThreadSanitizer that is where a missing handover shows).
bg "$NS_O" "$WORK/peer.log" turnutils_peer -L $P4 -p 3480
wait_udp "$NS_O" 3480 || notok "turnutils_peer listening"
in_o timeout 90 turnutils_uclient -L $C4 -n 200 -m 5 -l 160 -z 10 -e $P4 -r 3480 \
    -u relay -w pw -p 3478 $E4 > "$WORK/uc.log" 2>&1 &
UC=$!
for _ in $(seq 1 20); do cw metrics > /dev/null; cw turn status > /dev/null; sleep 0.1; done
wait $UC
check "turnutils_uclient, 5 clients over the workers: everything echoed, zero loss" \
    grep -Eq 'start_mclient: tot_send_msgs=([1-9][0-9]+), tot_recv_msgs=\1$' "$WORK/uc.log"
sent=$(grep -Eo 'tot_send_msgs=[0-9]+' "$WORK/uc.log" | tail -1 | cut -d= -f2)
check "metrics: every packet relayed to the peer counted (turn_pkts_to_peer_total >= ${sent:-?})" \
    test "$(metric turn_pkts_to_peer_total)" -ge "${sent:-1}"

# A user added while running is known to every worker after the reload.
echo pw | cw turn user add late --password-stdin > /dev/null || notok "turn user add late"
check "turn reload-users" cw turn reload-users
steps=()
for i in $(seq 1 8); do steps+=("@$i allocate -> ok"); done
t "after the reload, the new user allocates from 8 ports (all workers)" -u late -w pw run "${steps[@]}"

# A renewed TLS certificate: when `reload` answers, every worker serves it
# (each has its own TLS listener; the kernel spreads new connections).
fp_served() { echo | in_o timeout 10 openssl s_client -connect $E4:5349 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
make_cert turn-renewed.example.test
check "reload answers that it took the TURN TLS certificate" \
    sh -c "'$BIN/causeway' -c '$WORK/edge.conf' reload | grep -q 'TURN TLS certificate'"
want=$(openssl x509 -noout -fingerprint -sha256 -in "$WORK/cert.pem")
served_renewed() { for _ in $(seq 1 12); do [ "$(fp_served)" = "$want" ] || return 1; done; }
check "12 new TLS connections over the 4 workers all get the renewed certificate" served_renewed

# A second edge on the same address must fail, not join the port group.
sed "s|$WORK/edge.sock|$WORK/edge2.sock|" "$WORK/edge.conf" > "$WORK/edge2.conf"
in_e timeout 10 "$BIN/causeway-edge" -c "$WORK/edge2.conf" > "$WORK/edge2.log" 2>&1
rc=$?
check "a second edge on the same listen address exits with an error (status 1)" test $rc = 1
check "... naming the address in use" \
    grep -q "cannot bind UDP $E4:3478: Address already in use" "$WORK/edge2.log"
check "the first edge still answers" probe -u quota -w pw binding
check "causeway-edge still running" edge_alive
check "no error lines in the edge log" sh -c "! grep -E ' (error|crit) ' '$WORK/edge.log'"
