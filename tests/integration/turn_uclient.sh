#!/usr/bin/env bash
# turn_uclient.sh - coturn's own client tools against causeway-edge across two
# network namespaces: Binding, UDP/TCP/TLS clients, channels and Send
# indications, long-term and REST credentials, zero loss at a moderate rate;
# a renewed TLS certificate reloaded on SIGHUP while a TLS client relays.
. "$(dirname "$0")/lib.sh"
need_root
net_setup
make_cert

edge_conf edge <<CONF
listen = [$E6]:3478
tls-listen = $E4:5349
tls-certificate = $WORK/cert.pem
tls-key = $WORK/key.pem
relay-address = $E6
relay-ports = 24000-29999
rest-secret-file = $WORK/rest.secret
CONF
printf 'north-wind-secret\n' > "$WORK/rest.secret"
echo 'pass' | cw turn user add user --password-stdin > /dev/null
check "user add stores a key, not the password" \
    sh -c "grep -q '^user example.org [0-9a-f]\{32\} [0-9a-f]\{64\}\$' '$WORK/users' && ! grep -q pass '$WORK/users'"
check "user db is mode 0600" test "$(stat -c %a "$WORK/users")" = 600
start_edge "$WORK/edge.conf"
bg "$NS_O" "$WORK/peer.log" turnutils_peer -L $P4 -p 3480
wait_udp "$NS_O" 3480 || notok "turnutils_peer listening"

in_o timeout 20 turnutils_stunclient -p 3478 $E4 > "$WORK/stun.log" 2>&1
check "Binding: turnutils_stunclient sees its address" grep -q "$C4" "$WORK/stun.log"

# uclient prints "Total lost packets N (x%)"; zero loss at 50 pkt/s per client.
# The variants run side by side (each mostly waits out its own pacing), then
# each is judged on its own log.
uclient() { # label flags...: starts one in the background
    local label=$1; shift
    in_o timeout 90 turnutils_uclient -L $C4 -n 100 -m 5 -l 160 -z 20 -e $P4 -r 3480 "$@" \
        > "$WORK/uc-$label.log" 2>&1 &
    UC_PIDS="$UC_PIDS $!"
    UC_LABELS="$UC_LABELS $label"
}
UC_PIDS= UC_LABELS=
uclient udp-channels -u user -w pass -p 3478 $E4
uclient udp-send -s -u user -w pass -p 3478 $E4
uclient tcp-channels -t -u user -w pass -p 3478 $E4
uclient tcp-send -t -s -u user -w pass -p 3478 $E4
uclient tls-channels -t -S -u user -w pass -p 5349 $E4
uclient rest-udp -W north-wind-secret -u guest -p 3478 $E4
uclient rest-tcp -t -W north-wind-secret -u guest -p 3478 $E4
uclient dont-fragment -g -c -u user -w pass -p 3478 $E4
for p in $UC_PIDS; do wait "$p"; done
for label in $UC_LABELS; do
    if grep -q 'Total lost packets 0 (' "$WORK/uc-$label.log" &&
       grep -Eq 'start_mclient: tot_send_msgs=([1-9][0-9]+), tot_recv_msgs=\1$' "$WORK/uc-$label.log"; then
        ok "uclient $label: $(grep -Eo 'tot_recv_msgs=[0-9]+$' "$WORK/uc-$label.log") relayed and echoed, zero loss"
    else
        notok "uclient $label"; tail -5 "$WORK/uc-$label.log"
    fi
done

# A renewed certificate: SIGHUP serves it to new TLS clients while a client
# relaying over TLS goes on with the connection it has.
fp_served() { echo | in_o timeout 10 openssl s_client -connect $E4:5349 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
cp "$WORK/cert.pem" "$WORK/first.pem"
check "TLS on 5349 presents the configured certificate" test "$(fp_served)" = "$(fp_file "$WORK/first.pem")"
check "its certificate expires in 2 days: fault turn.expiry.1, with the fix" \
    has_fault cw turn.expiry.1 "f['cleared'] is None and 'expires in 1 day: renew tls-certificate and tls-key, then' in f['text']"
UC_PIDS= UC_LABELS=
uclient tls-reload -n 400 -t -S -u user -w pass -p 5349 $E4
sleep 1.5
make_cert turn-renewed.example.test
kill -HUP "$EDGE_PID"
check "SIGHUP: the edge logs the TLS certificate reloaded" \
    wait_line "$WORK/edge.log" "notice turn: TLS certificate $WORK/cert.pem reloaded; new connections use it" 5
wait $UC_PIDS
if grep -q 'Total lost packets 0 (' "$WORK/uc-tls-reload.log"; then
    ok "a TLS client relaying across the reload: $(grep -Eo 'tot_recv_msgs=[0-9]+$' "$WORK/uc-tls-reload.log") relayed and echoed, zero loss"
else
    notok "a TLS client across the reload"; tail -5 "$WORK/uc-tls-reload.log"
fi
check "TLS on 5349 now presents the renewed certificate" test "$(fp_served)" = "$(fp_file "$WORK/cert.pem")"
cw status turn json > "$WORK/turn.json" 2>&1
check "the status document's TURN section lists the TLS certificate and its days left" \
    py 'len(d["turn"]["certificates"]) == 1 and d["turn"]["certificates"][0]["days_left"] in (1, 2)' "$WORK/turn.json"
check "not the first one" test "$(fp_served)" != "$(fp_file "$WORK/first.pem")"

# IPv6 relay for a client asking for one (REQUESTED-ADDRESS-FAMILY).
bg "$NS_O" "$WORK/peer6.log" turnutils_peer -L $P6 -p 3480
sleep 0.3
in_o timeout 60 turnutils_uclient -x -L $C6 -n 50 -m 2 -l 160 -e $P6 -r 3480 -u user -w pass \
    -p 3478 $E6 > "$WORK/uc-v6.log" 2>&1
check "IPv6 relay: uclient -x relays with zero loss" grep -q 'Total lost packets 0 (' "$WORK/uc-v6.log"

cw turn status > "$WORK/status.txt"
check "turn status lists the listeners" grep -q "$E4:3478 (udp, tcp)" "$WORK/status.txt"
check "turn status shows allocations of user" grep -Eq '^ +user +[1-9]' "$WORK/status.txt"
check "turn status counts relayed packets" grep -Eq 'Relayed: [1-9][0-9]* packets' "$WORK/status.txt"
cw turn list > "$WORK/list.txt"
check "turn list shows a relay on the external address" grep -q " $E4:2[4-9][0-9][0-9][0-9] " "$WORK/list.txt"
cw metrics prometheus > "$WORK/metrics.txt"
check "metrics in Prometheus text format" grep -q '^causeway_turn_pkts_to_peer_total [1-9]' "$WORK/metrics.txt"
check "edge still running" edge_alive
check "no error lines in the edge log" sh -c "! grep -E ' error ' '$WORK/edge.log'"
