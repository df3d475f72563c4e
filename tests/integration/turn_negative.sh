#!/usr/bin/env bash
# turn_negative.sh - the TURN server on bad and edge-case input: wrong and
# unknown credentials, stale and foreign nonces, MESSAGE-INTEGRITY-SHA256,
# quotas and capacity, refused peers, protocol errors, channel rules, the
# failed-authentication rate limit, malformed packets while a real client
# relays, ChannelData padding on TCP. The raw client is stunprobe.py; its
# `run` steps read "VERB OPTIONS -> EXPECTATIONS" (stunprobe.py -h).
. "$(dirname "$0")/lib.sh"
need_root
net_setup

PROBE=$TOP/tests/integration/stunprobe.py
OUT=$WORK/probe.out

# probe ARGS...: stunprobe.py from the outside namespace as "user".
probe() { in_o /usr/bin/python3 "$PROBE" -s $E4:3478 -u user -w pass "$@"; }
# t WHAT ARGS...: one ok / not ok line from one stunprobe.py run.
t() {
    local what=$1; shift
    if probe "$@" > "$OUT" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/#   /' "$OUT"; fi
    cat "$OUT" >> "$WORK/check.log"
}
# logged WHAT ERE: the edge log has a line matching ERE.
logged() { check "$1" grep -Eq -- "$2" "$WORK/edge.log"; }
status_has() { cw turn status | grep -Eq -- "$1"; }
status_lacks() { ! cw turn status | grep -Eq -- "$1"; }

edge_conf edge <<CONF
relay-address = $E6
inside-network = 198.51.100.0/24
peer-allow = 198.51.100.7/32
auth-fail-limit = 1000
CONF
for u in user:pass other:otherpw gone:gonepw f1:pw f2:pw f3:pw f4:pw f5:pw; do
    echo "${u#*:}" | cw turn user add "${u%%:*}" --password-stdin > /dev/null ||
        notok "turn user add ${u%%:*}"
done
start_edge "$WORK/edge.conf"
bg "$NS_O" "$WORK/peer.log" turnutils_peer -L $P4 -p 3480
wait_udp "$NS_O" 3480 || notok "turnutils_peer listening"
bg "$NS_O" "$WORK/peer6.log" turnutils_peer -L $P6 -p 3480
for _ in $(seq 1 50); do in_o ss -ulnH | grep -qF "[$P6]:3480" && break; sleep 0.1; done

# ---- credentials (RFC 8489 9.2.4) ----
t "wrong password: 401 with REALM and NONCE, then 401 again" \
    run 'allocate as=user:wrong -> 401 challenged realm'
logged "log: integrity check failed, naming the user" \
    '401 for user "user" realm "example.org" from 198\.18\.0\.2:[0-9]+: integrity check failed \(wrong password\?\)'
t "unknown user: 401 with REALM and NONCE, then 401 again" \
    run 'allocate as=nobody:x -> 401 challenged realm'
logged "log: unknown user, naming the user" '401 for user "nobody" .*: unknown user'
t "MESSAGE-INTEGRITY-SHA256 (MD5 key): Allocate succeeds, the answer's MI-SHA256 verifies" \
    run 'allocate sha256 fp -> ok mi256' 'refresh sha256 -> ok mi256' 'refresh lifetime=0 -> ok'

# ---- Allocate and Refresh (RFC 8656 7, 8) ----
t "unknown comprehension-required attribute 0x0031: 420 with UNKNOWN-ATTRIBUTES" \
    run 'allocate attr=0x0031:00000000 -> 420 unknown=0x0031'
t "Allocate without REQUESTED-TRANSPORT: 400" run 'allocate transport=none -> 400'
t "REQUESTED-TRANSPORT TCP: 442" run 'allocate transport=6 -> 442'
t "REQUESTED-ADDRESS-FAMILY 0x03: 440" run 'allocate family=0x03 -> 440'
t "Refresh without an allocation: 437" run 'refresh -> 437'
t "second Allocate (another transaction id) on the same 5-tuple: 437" \
    run 'allocate -> ok' 'allocate -> 437' 'refresh lifetime=0 -> ok'
t "retransmitted Allocate (same transaction id): the same success again" \
    run 'allocate -> ok' 'retransmit -> ok relay=same' 'refresh lifetime=0 -> ok'
t "Refresh with another user's credentials on the 5-tuple: 441" \
    run 'allocate -> ok' 'refresh as=other:otherpw -> 441' 'refresh -> ok' 'refresh lifetime=0 -> ok'
t "LIFETIME above the maximum: capped to 3600 (Allocate and Refresh)" \
    run 'allocate lifetime=99999 -> ok lifetime=3600' 'refresh lifetime=99999 -> ok lifetime=3600' \
        'refresh lifetime=0 -> ok'
t "no LIFETIME: 600" run 'allocate -> ok lifetime=600' 'refresh -> ok lifetime=600' \
    'refresh lifetime=0 -> ok'
t "EVEN-PORT R=1: even port and a RESERVATION-TOKEN; the token gets port+1 from another 5-tuple" \
    run '@1 allocate even=1 -> ok port=even token' '@2 allocate token=@ -> ok port=+1' \
        '@1 refresh lifetime=0 -> ok' '@2 refresh lifetime=0 -> ok'
# Deletion, seen from the same 5-tuple in two runs (fixed source port).
probe -u gone -w gonepw -b $C4 -P 40001 run 'allocate -> ok' > "$OUT" 2>&1 || sed 's/^/#   /' "$OUT"
check "turn status counts the allocation of gone" status_has '^ +gone +1$'
t "Refresh LIFETIME 0 deletes; Refresh then gets 437" -u gone -w gonepw -b $C4 -P 40001 \
    run 'refresh lifetime=0 -> ok lifetime=0' 'refresh -> 437'
check "turn status no longer counts the deleted allocation" status_lacks '^ +gone +[0-9]'

# ---- ChannelBind (RFC 8656 11, 12) ----
t "ChannelBind with channel 0x3FFF or 0x8000 (outside 0x4000-0x7FFF): 400" \
    run 'allocate -> ok' "chanbind ch=0x3fff peer=$P4:3480 -> 400" \
        "chanbind ch=0x8000 peer=$P4:3480 -> 400" 'refresh lifetime=0 -> ok'
t "ChannelBind of a bound channel to another peer: 400 (and of a bound peer to another channel)" \
    run 'allocate -> ok' "chanbind ch=0x4001 peer=$P4:3480 -> ok" \
        "chanbind ch=0x4001 peer=$P4:3481 -> 400" "chanbind ch=0x4002 peer=$P4:3480 -> 400" \
        'refresh lifetime=0 -> ok'
t "ChannelBind of the same pair again refreshes it; the channel relays" \
    run 'allocate -> ok' "chanbind ch=0x7fff peer=$P4:3480 -> ok" \
        "chanbind ch=0x7fff peer=$P4:3480 -> ok" 'chandata ch=0x7fff data=hello -> echo' \
        'refresh lifetime=0 -> ok'
t "TCP: ChannelData of 5 bytes sent padded, echoed padded to 8, stream stays framed" -t \
    run 'allocate -> ok' "chanbind ch=0x4001 peer=$P4:3480 -> ok" \
        'chandata ch=0x4001 data=hello -> echo' 'binding -> ok' 'chandata ch=0x4001 data=world -> echo'

# ---- peer policy (RFC 8656 21) ----
# The edge's own address with its TURN port: the server itself as a peer.
for peer in $E4:3478 127.0.0.1:3480 0.0.0.0:3480 169.254.1.1:3480 224.0.0.1:3480 \
            255.255.255.255:3480 198.51.100.9:3480; do
    t "peer $peer refused: 403 on CreatePermission and on ChannelBind" \
        run 'allocate -> ok' "perm peer=$peer -> 403" "chanbind ch=0x4001 peer=$peer -> 403" \
            'refresh lifetime=0 -> ok'
done
t "peer 198.51.100.7 (peer-allow inside 198.51.100.0/24) allowed" \
    run 'allocate -> ok' 'perm peer=198.51.100.7:3480 -> ok' \
        'chanbind ch=0x4001 peer=198.51.100.7:3480 -> ok' 'refresh lifetime=0 -> ok'
for peer in ::1 ::ffff:127.0.0.1 64:ff9b::7f00:1 $E6; do
    t "IPv6 relay: peer $peer refused: 403 on CreatePermission and on ChannelBind" \
        run 'allocate family=ipv6 -> ok family=ipv6' "perm peer=[$peer]:3480 -> 403" \
            "chanbind ch=0x4001 peer=[$peer]:3480 -> 403" 'refresh lifetime=0 -> ok'
done
t "IPv6 relay: peer $P6 allowed, the channel relays" \
    run 'allocate family=ipv6 -> ok family=ipv6' "perm peer=[$P6]:3480 -> ok" \
        "chanbind ch=0x4001 peer=[$P6]:3480 -> ok" 'chandata ch=0x4001 data=hello6 -> echo' \
        'refresh lifetime=0 -> ok'
logged "log: refused peer 127.0.0.1 named with the client" \
    '403 for user "user" from 198\.18\.0\.2:[0-9]+: peer 127\.0\.0\.1:3480 refused \(loopback\)'
logged "log: refused peer ::ffff:127.0.0.1 named with the client" \
    '403 for user "user" from 198\.18\.0\.2:[0-9]+: peer \[::ffff:127\.0\.0\.1\]:3480 refused \(IPv4-mapped loopback\)'
logged "log: refused own address named" "peer ${E4//./\\.}:3478 refused \\(own address\\)"
logged "log: refused inside-network peer named" 'peer 198\.51\.100\.9:3480 refused \(inside network\)'
in_o timeout 30 turnutils_uclient -L $C4 -n 3 -m 1 -l 100 -e 127.0.0.1 -r 3480 -u user -w pass \
    -p 3478 $E4 > "$WORK/uc-denied.log" 2>&1
rc=$?
if [ $rc != 0 ] && grep -q 'error 403' "$WORK/uc-denied.log" &&
   ! grep -Eq 'tot_recv_msgs=[1-9]' "$WORK/uc-denied.log"; then
    ok "turnutils_uclient -e 127.0.0.1 fails with 403 (exit $rc)"
else
    notok "turnutils_uclient -e 127.0.0.1 fails"; tail -5 "$WORK/uc-denied.log"
fi

# ---- malformed input while a real client relays ----
# 2 clients x 500 messages at one per 20 ms: about 10 s of relaying.
bg "$NS_O" "$WORK/uc-bg.log" turnutils_uclient -L $C4 -n 500 -m 2 -l 160 -z 20 -e $P4 -r 3480 \
    -u user -w pass -p 3478 $E4
UC=$BGPID
sleep 1
t "malformed datagrams: requests with a sound header answered 400, the rest dropped" flood
t "TCP: random garbage makes the server close the connection" tcp-garbage
t "TCP: a STUN header announcing 65532 bytes makes the server close" tcp-huge
# The server's own limit for STUN on streams is STUN_MAX_STREAM_MSG (4096).
if probe -T 1 tcp-huge --length 8192 > "$OUT" 2>&1; then
    ok "TCP: a STUN header announcing 8192 bytes (over 4096) makes the server close"
else
    notok "TCP: a STUN header announcing 8192 bytes (over 4096) makes the server close"
fi
t "TCP: a partial frame then a stall blocks nobody, and completes later" tcp-stall
t "malformed datagrams again (another seed)" flood --seed 2
wait "$UC"
PIDS=${PIDS/ $UC/}
if grep -q 'Total lost packets 0 (' "$WORK/uc-bg.log" &&
   grep -Eq 'start_mclient: tot_send_msgs=([1-9][0-9]+), tot_recv_msgs=\1$' "$WORK/uc-bg.log"; then
    ok "uclient relayed with zero loss meanwhile: $(grep -Eo 'tot_recv_msgs=[0-9]+$' "$WORK/uc-bg.log")"
else
    notok "uclient relayed with zero loss meanwhile"; tail -5 "$WORK/uc-bg.log"
fi
check "causeway-edge still running" edge_alive
t "Binding still answered" binding
check "turn status counts malformed packets" status_has 'malformed [1-9][0-9]*'
check "no error lines in the edge log" sh -c "! grep -E ' error ' '$WORK/edge.log'"
stop_edge

# ---- nonces (RFC 8489 9.2) ----
edge_conf nonce <<CONF
nonce-lifetime = 2s
CONF
start_edge "$WORK/nonce.conf"
t "stale nonce: 438 with a fresh NONCE, and the retry with it succeeds" \
    run 'refresh -> 437 challenged' 'sleep 3' 'allocate once -> 438 realm nonce=fresh' \
        'allocate once -> ok'
logged "log: 438 stale nonce" '438 for user "user" from 198\.18\.0\.2:[0-9]+: stale nonce'
t "nonce issued to another client port: 438" \
    run '@1 refresh -> 437 challenged' '@2 refresh nonce-from=@1 once -> 438 nonce=fresh' \
        '@2 refresh once -> 437'
logged "log: 438 foreign nonce" 'nonce not issued to this client address'
stop_edge

# ---- quotas (RFC 8656 7.2) ----
edge_conf quota <<CONF
relay-ports = 24000-24009
max-allocations-per-user = 2
CONF
start_edge "$WORK/quota.conf"
t "max-allocations-per-user 2: a third Allocate from a new 5-tuple gets 486" \
    run '@1 allocate -> ok' '@2 allocate -> ok' '@3 allocate -> 486'
logged "log: 486 names the user and the quota" '486 for user "user" .*allocation quota of 2 reached'
t "10 relay ports, all taken: 508" \
    run '@1 allocate as=f1:pw -> ok' '@2 allocate as=f1:pw -> ok' '@3 allocate as=f2:pw -> ok' \
        '@4 allocate as=f2:pw -> ok' '@5 allocate as=f3:pw -> ok' '@6 allocate as=f3:pw -> ok' \
        '@7 allocate as=f4:pw -> ok' '@8 allocate as=f4:pw -> ok' '@9 allocate as=f5:pw -> 508'
logged "log: 508 says why" '508 for user "f5" .*no capacity \(10 allocations, 0 ports held by EVEN-PORT reservations, max 10, relay ports 24000-24009\)'
stop_edge

# ---- failed authentications per source IP; static NAT ----
edge_conf authlimit <<CONF
auth-fail-limit = 3
auth-fail-window = 60s
public-address = 203.0.113.10
CONF
start_edge "$WORK/authlimit.conf"
t "static NAT: XOR-RELAYED-ADDRESS is the public-address 203.0.113.10, and data relays" \
    run '@5 allocate -> ok relayip=203.0.113.10' "@5 chanbind ch=0x4001 peer=$P4:3480 -> ok" \
        '@5 chandata ch=0x4001 data=natted -> echo'
check "static NAT: turn status shows the advertised address" status_has 'Advertised \(static NAT\): 203\.0\.113\.10'
t "3 failed authentications from one IP: no answer then, even with the right password" -T 2 \
    run 'allocate as=user:bad -> 401' 'allocate as=user:bad -> 401' 'allocate as=user:bad -> 401' \
        'allocate -> none' '@2 binding -> ok'
logged "log: too many failed authentications" 'too many failed authentications for user "user" from 198\.18\.0\.2 '
t "another user from the same IP is not limited" run 'allocate as=other:otherpw -> ok'
t "another source IP (198.18.0.3) is not limited" -b $P4 run 'allocate -> ok'
check "causeway-edge still running" edge_alive
