#!/usr/bin/env bash
# turn_libnice.sh - two libnice ICE agents (tests/tools/nice_pair.c) that may
# only talk through causeway-edge (force-relay): relay candidates on the
# edge's relay address, a relay-relay selected pair, data both ways, over
# TURN/UDP and TURN/TCP, with long-term users and with REST credentials; a
# wrong password yields no relay candidate and an "integrity check failed"
# line in the edge log.
. "$(dirname "$0")/lib.sh"
need_root
NICE_PAIR=${NICE_PAIR:-$TOOLS/nice_pair} # e.g. a sanitizer build
if [ ! -x "$NICE_PAIR" ]; then
    notok "nice_pair built (make build/tests/nice_pair)"
    exit 1
fi
net_setup
printf 'south-wind-secret\n' > "$WORK/rest.secret"

# pair LABEL [nice_pair flags...]: agents on $C4 and $P4 in the outside
# namespace, TURN server $E4:3478. The session is held after the data
# exchange until turn status and turn list have been taken. Leaves the exit
# status in PAIR_RC and the output in $WORK/np-LABEL.log.
pair() {
    local label=$1 log=$WORK/np-$1.log pid; shift
    rm -f "$WORK/release-$label"
    bg "$NS_O" "$log" timeout 150 "$NICE_PAIR" -s $E4 -p 3478 -a $C4 -b $P4 -n 200 -l 100 \
        -H 60 -q "$WORK/release-$label" "$@"
    pid=$BGPID
    rm -f "$WORK/status-$label.txt" "$WORK/list-$label.txt"
    if wait_line "$log" '^holding session' 90 "$pid"; then
        cw turn status > "$WORK/status-$label.txt" 2>&1
        cw turn list > "$WORK/list-$label.txt" 2>&1
    fi
    touch "$WORK/release-$label"
    wait "$pid"
    PAIR_RC=$?
    unlist "$pid"
}

# expect_session LABEL PROTO USER: the checks of a good session.
expect_session() {
    local label=$1 proto=$2 user=$3 log=$WORK/np-$1.log adv=${ADV:-$E4}
    local rel="relay $adv:(2[4-9][0-9]{3})"
    if grep -Eq "^agent1: relay candidate on the relay address $rel\$" "$log" &&
       grep -Eq "^agent2: relay candidate on the relay address $rel\$" "$log"; then
        ok "$label: both agents gathered a relay candidate on the edge's relay address $adv"
    else
        notok "$label: relay candidates on $adv"; grep -E '^(agent|nice_pair)' "$log" | tail -8
    fi
    if grep -Eq "^agent1: selected pair local $rel remote $rel\$" "$log" &&
       grep -Eq "^agent2: selected pair local $rel remote $rel\$" "$log"; then
        ok "$label: selected pair is relay-relay on both agents"
    else
        notok "$label: selected pair relay-relay"; grep -E 'selected pair|FAIL' "$log"
        grep -E ' 403 for user ' "$WORK/edge.log" | tail -2 | sed 's/^/# edge: /'
    fi
    if [ "$PAIR_RC" = 0 ] && grep -q '^nice_pair: ok: ' "$log" &&
       [ "$(grep -Ec '^data agent[12]->agent[12]: sent 200, received 200 intact of 200, 0 corrupt, 0 duplicate, 0 misrouted$' "$log")" = 2 ]; then
        ok "$label: 200 messages of 100 bytes each way arrived intact"
    else
        notok "$label: data both ways (exit status $PAIR_RC)"; grep -E '^data|FAIL' "$log"
    fi
    # While the session was held: two allocations of this user, with the
    # client protocol asked for. Over UDP one comes from each agent's address;
    # libnice 0.1.21 does not bind its TURN/TCP connection to the agent's
    # local address, so over TCP both come from the namespace's default
    # source address: only the count is checked there.
    local st=$WORK/status-$label.txt li=$WORK/list-$label.txt from
    local nu=0 nt=0
    [ "$proto" = udp ] && nu=2 || nt=2
    from="^$user +$proto +($C4|$P4):[0-9]+ +$E4:2[4-9][0-9]{3} "
    if [ -s "$st" ] &&
       grep -Eq "^ +Active relays: 2 \\(udp clients $nu, tcp clients $nt," "$st" &&
       grep -Eq "^ +$user +2\$" "$st" &&
       [ "$(grep -Ec "$from" "$li")" = 2 ] &&
       { [ "$proto" = tcp ] || { grep -Eq "^$user +udp +$C4:" "$li" && grep -Eq "^$user +udp +$P4:" "$li"; }; }; then
        ok "$label: turn status and turn list showed the 2 $proto allocations during the session"
    else
        notok "$label: allocations in turn status / turn list during the session"
        [ -s "$st" ] || echo "# no status taken: nice_pair never reached the hold"
        cat "$st" "$li" 2>/dev/null
    fi
    # nice_pair released them (Refresh with lifetime 0) before it exited.
    cw turn status > "$WORK/status-$label-after.txt" 2>&1
    if grep -Eq '^ +Active relays: 0 ' "$WORK/status-$label-after.txt" &&
       grep -q 'agents closed (TURN allocations released)' "$log"; then
        ok "$label: allocations released when the agents closed"
    else
        notok "$label: allocations released when the agents closed"
        grep -E 'Active relays|^ +[^ ]+ +[0-9]+$' "$WORK/status-$label-after.txt"
    fi
}

# The allocations counter.
allocs_made() { cw metrics | awk '$1 == "turn_allocs_total" { print $2; exit }'; }

# --- 1. long-term users ----------------------------------------------------
edge_conf edge < /dev/null
echo 'pass' | cw turn user add alice --password-stdin > /dev/null
start_edge "$WORK/edge.conf"
pair users-udp -u alice -w pass
expect_session users-udp udp alice
pair users-tcp -t -u alice -w pass
expect_session users-tcp tcp alice
n=$(allocs_made)
check "users: metrics count at least 4 allocations (allocs_total ${n:-missing})" \
    test "${n:-0}" -ge 4

# Wrong password: libnice "completes" gathering with no relay candidate.
pair users-badpass -u alice -w not-the-password -T 30
log=$WORK/np-users-badpass.log
if [ "$PAIR_RC" = 1 ] &&
   grep -q '^nice_pair: FAIL: agent1: no relay candidate: TURN authentication or allocation failed' "$log"; then
    ok "wrong password: nice_pair reports no relay candidate"
else
    notok "wrong password: nice_pair reports no relay candidate (exit status $PAIR_RC)"; tail -5 "$log"
fi
check "wrong password: the edge logs 'integrity check failed' for alice" \
    grep -Eq '401 for user "alice".*integrity check failed' "$WORK/edge.log"
check "users: edge still running" edge_alive
check "users: no error lines in the edge log" sh -c "! grep -E ' error ' '$WORK/edge.log'"
cp "$WORK/edge.log" "$WORK/edge-users.log"
stop_edge

# --- 2. REST credentials ----------------------------------------------------
# The user database stays configured; "expiry:name" users are not in it,
# so the shared secret decides.
echo "rest-secret-file = $WORK/rest.secret" | edge_conf edge
cw turn rest-credential nicepair 600 > "$WORK/rest.txt"
ruser=$(sed -n 's/^username: //p' "$WORK/rest.txt")
rpass=$(sed -n 's/^password: //p' "$WORK/rest.txt")
check "rest-credential prints a username and a password" test -n "$ruser" -a -n "$rpass"
start_edge "$WORK/edge.conf"
pair rest-udp -u "$ruser" -w "$rpass"
# Quotas and status count a REST credential by its name part.
expect_session rest-udp udp nicepair
pair rest-tcp -t -u "$ruser" -w "$rpass"
expect_session rest-tcp tcp nicepair
check "rest: edge still running" edge_alive
check "rest: no error lines in the edge log" sh -c "! grep -E ' error ' '$WORK/edge.log'"
cp "$WORK/edge.log" "$WORK/edge-rest.log"
stop_edge

# --- 3. static NAT: relays advertised as public-address --------------------
# Both agents learn 203.0.113.10:port relay candidates and name each other by
# them: the edge maps its own public address back to the relay address.
echo "public-address = 203.0.113.10" | edge_conf edge
start_edge "$WORK/edge.conf"
pair nat-udp -u alice -w pass -r 203.0.113.10
ADV=203.0.113.10 expect_session nat-udp udp alice
check "nat: edge still running" edge_alive
stop_edge
