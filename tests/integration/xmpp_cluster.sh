#!/usr/bin/env bash
# xmpp_cluster.sh - three causeway-core nodes as one XMPP service (Raft on
# libraft): initialize and join, writes on any node (through the leader),
# clients on different nodes subscribing and chatting, a component using a
# secret generated on another node, kill -9 of the leader (a new one is
# elected, logins and messages go on), a node reset and joined again
# (listed once everywhere), a machine without the cluster key refused, a
# machine given a live member's name refused (the member stays; a refused or
# misaddressed join leaves the newcomer free to join again), and
# writes refused with the reason once the majority is gone.
. "$(dirname "$0")/lib.sh"
need_root
/usr/bin/python3 -c 'import slixmpp' 2> /dev/null || { notok "python3-slixmpp is not installed (make deps)"; exit 1; }
net_setup

X=$TOP/tests/integration/xmppc.py
A1=198.18.0.11 A2=198.18.0.12 A3=198.18.0.13
for a in $A1 $A2 $A3; do in_e ip addr add $a/32 dev lo; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=example.test" -addext "subjectAltName=DNS:example.test" \
    -keyout "$WORK/xmpp.key" -out "$WORK/xmpp.pem" > "$WORK/openssl.log" 2>&1 || notok "openssl"
openssl rand -hex 32 > "$WORK/cluster.key"
openssl rand -hex 32 > "$WORK/other.key"
chmod 600 "$WORK/cluster.key" "$WORK/other.key"

node_conf() { # node_conf N ADDR KEYFILE
    cat > "$WORK/core$1.conf" <<CONF
$(core_section core$1 core$1)
[xmpp]
client-listen = $2:5222
component-listen = $2:5223
certificate = $WORK/xmpp.pem $WORK/xmpp.key
[cluster]
address = $2:4000
key-file = $3
election-timeout = 1000
heartbeat = 100
CONF
}
node_conf 1 $A1 "$WORK/cluster.key"
node_conf 2 $A2 "$WORK/cluster.key"
node_conf 3 $A3 "$WORK/cluster.key"
cwn() { local n=$1; shift; "$BIN/causeway" -c "$WORK/core$n.conf" "$@"; }
start_node() {
    bg "$NS_E" "$WORK/core$1.$(date +%s%N).out" "$BIN/causeway-core" -c "$WORK/core$1.conf"
    eval "PID$1=$BGPID"
    for _ in $(seq 1 50); do cwn "$1" version > /dev/null 2>&1 && return 0; sleep 0.1; done
    notok "causeway-core core$1 started"; cat "$WORK/core$1.log"
}
# wait_cluster N ERE SECONDS: until `xmpp cluster status` of node N matches.
wait_cluster() {
    for _ in $(seq 1 $(($3 * 5))); do
        cwn "$1" xmpp cluster status 2>&1 | grep -Eq -- "$2" && return 0
        sleep 0.2
    done
    cwn "$1" xmpp cluster status; return 1
}
xc() { in_e timeout 90 /usr/bin/python3 "$X" "$@"; }
# listed KIND:NAME...: on nodes 1-3, `xmpp KIND list` lists NAME, for each.
listed() {
    local n x
    for n in 1 2 3; do
        for x in "$@"; do
            cwn "$n" xmpp "${x%%:*}" list | grep -qx "${x#*:}" || return 1
        done
    done
}
leader_of() { # the node number whose status says LEADER
    local n
    for n in "$@"; do cwn "$n" xmpp cluster status 2>/dev/null | grep -q '^State: LEADER' && { echo "$n"; return; }; done
}

start_node 1; start_node 2; start_node 3
check "a new node says it is not in a cluster yet" wait_cluster 1 'State: NOT INITIALIZED' 2
check "writes before the cluster exists are refused with the reason" \
    sh -c "! '$BIN/causeway' -c '$WORK/core1.conf' xmpp domain add example.test 2>&1 | grep -q . ||
           '$BIN/causeway' -c '$WORK/core1.conf' xmpp domain add example.test 2>&1 | grep -q 'not in a cluster yet'"
check "cluster initialize on node 1" cwn 1 xmpp cluster initialize
check "node 1 becomes the leader" wait_cluster 1 'State: LEADER' 10
check "node 2 joins through node 1" cwn 2 xmpp cluster join $A1:4000
check "node 3 joins through node 2 (a follower: redirected to the leader)" cwn 3 xmpp cluster join $A2:4000
for n in 1 2 3; do
    check "node $n lists three voters, the leader marked" \
        wait_cluster $n "(voter.*){0}$A3:4000 +core3 +voter" 10
done
check "every member is listed exactly once on every node" sh -c "
    for n in 1 2 3; do
        c=\$('$BIN/causeway' -c '$WORK/core'\$n'.conf' xmpp cluster status | grep -c ' voter'); [ \"\$c\" = 3 ] || exit 1
        l=\$('$BIN/causeway' -c '$WORK/core'\$n'.conf' xmpp cluster status | grep -c ' voter  *LEADER');  [ \"\$l\" = 1 ] || exit 1
    done"

check "domain add on node 2 (a follower) goes through the leader" cwn 2 xmpp domain add example.test
check "user add on node 3" sh -c "echo alicepw | '$BIN/causeway' -c '$WORK/core3.conf' xmpp user add alice@example.test --password-stdin"
check "user add on node 1" sh -c "echo bobpw | '$BIN/causeway' -c '$WORK/core1.conf' xmpp user add bob@example.test --password-stdin"
check "carol too" sh -c "echo carolpw | '$BIN/causeway' -c '$WORK/core2.conf' xmpp user add carol@example.test --password-stdin"
SECRET=$(cwn 2 xmpp callbridge add cb1.example.test | tail -n 1)
check "callbridge add on node 2 prints the secret" sh -c "echo '$SECRET' | grep -Eq '^[0-9a-f]{48}\$'"
check "the users and the call bridge are on every node" \
    listed user:bob@example.test callbridge:cb1.example.test

if xc chat $A1,$A2 5222 alice@example.test/a alicepw bob@example.test/b bobpw 100 > "$WORK/chat.out" 2>&1; then
    ok "clients on node 1 and node 2 subscribe, see each other's presence, exchange 100 messages each way"
else
    notok "chat across nodes"; cat "$WORK/chat.out"
fi
# A stanza small as sent but too big written out (for the node it goes to
# next) is refused where it comes in: it must not close the cluster link.
if xc crafted $A1,$A2 5222 alice@example.test/x alicepw bob@example.test/y bobpw > "$WORK/crafted.out" 2>&1; then
    ok "a message too big written out: the sender's stream ends (policy-violation), the next message crosses nodes"
else
    notok "crafted message"; cat "$WORK/crafted.out"
fi
check "... and no node closed a cluster link over it" sh -c "! grep -h 'bad stanza' '$WORK'/core[123].log"
if xc component $A1,$A3 5222 cb1.example.test "$SECRET" 5223 alice@example.test/c alicepw > "$WORK/comp.out" 2>&1; then
    ok "a component on node 3 authenticates with the secret generated on node 2; a client on node 1 reaches it"
else
    notok "component with a secret from another node"; cat "$WORK/comp.out"
fi

# A node that ran alone: its domains, users (with their passwords' SCRAM
# keys), call bridges and rosters are imported into the cluster.
A7=198.18.0.17
in_e ip addr add $A7/32 dev lo
cat > "$WORK/core7.conf" <<CONF
$(core_section core7 core7)
[xmpp]
client-listen = $A7:5222
component-listen = $A7:5223
certificate = $WORK/xmpp.pem $WORK/xmpp.key
CONF
start_node 7
cwn 7 xmpp domain add example.test > /dev/null
echo davepw | cwn 7 xmpp user add dave@example.test --password-stdin > /dev/null
echo erinpw | cwn 7 xmpp user add erin@example.test --password-stdin > /dev/null
cwn 7 xmpp callbridge add cb7.example.test > /dev/null
# Enough users that the import's batch is larger than a few KB (a follower
# forwards it to the leader whole).
for i in $(seq 1 40); do echo pw$i | cwn 7 xmpp user add u$i@example.test --password-stdin > /dev/null; done
xc chat $A7 5222 dave@example.test/a davepw erin@example.test/b erinpw 5 > "$WORK/chat7.out" 2>&1 ||
    { notok "chat on the node alone"; cat "$WORK/chat7.out"; }
kill -TERM "$PID7"; wait "$PID7" 2>/dev/null; unlist "$PID7"
cwn 2 xmpp cluster import "$WORK/core7-state" > "$WORK/import.out" 2>&1
check "xmpp cluster import on node 2 (a follower) says what it brought" \
    grep -qx "imported from $WORK/core7-state: 1 domains, 42 users, 1 call bridges, 2 roster items" "$WORK/import.out"
check "the imported users and call bridge are on every node" \
    listed user:dave@example.test user:u40@example.test callbridge:cb7.example.test
if xc chat $A1,$A3 5222 dave@example.test/c davepw erin@example.test/d erinpw 5 > "$WORK/chat8.out" 2>&1; then
    ok "imported users log in with their old passwords on nodes 1 and 3 and chat"
else
    notok "chat of imported users"; cat "$WORK/chat8.out"
fi
check "an import run again brings the same, replacing what it brought" sh -c \
    "'$BIN/causeway' -c '$WORK/core3.conf' xmpp cluster import '$WORK/core7-state/xmpp.state' | grep -q '42 users, 1 call bridges, 2 roster items'"
check "an import from a directory without a state says so" sh -c \
    "! '$BIN/causeway' -c '$WORK/core1.conf' xmpp cluster import '$WORK' > '$WORK/import0.out' 2>&1 && grep -q 'nothing to import' '$WORK/import0.out'"

# A machine with another key: refused, and the cluster is untouched.
node_conf 9 198.18.0.19 "$WORK/other.key"
in_e ip addr add 198.18.0.19/32 dev lo
start_node 9
cwn 9 xmpp cluster join $A1:4000 > "$WORK/join9.out" 2>&1
check "a node with another cluster key cannot join" sh -c "! grep -q joined '$WORK/join9.out'"
check "node 1 logs the failed handshake" wait_line "$WORK/core1.log" 'connection from 198.18.0.19.*wrong cluster key' 5
check "the cluster still has three members" sh -c "[ \$('$BIN/causeway' -c '$WORK/core1.conf' xmpp cluster status | grep -c ' voter') = 3 ]"
kill -TERM "$PID9"; wait "$PID9" 2>/dev/null; unlist "$PID9"

# A second machine given a member's name (core2) while core2 is up: refused,
# and core2 stays (replacing it would leave it campaigning outside).
node_conf 8 198.18.0.18 "$WORK/cluster.key"
sed -i 's/^name = core8$/name = core2/' "$WORK/core8.conf"
in_e ip addr add 198.18.0.18/32 dev lo
start_node 8
# First a wrong address (nobody listens there): the join fails and leaves
# nothing started, so the next one goes ahead.
cwn 8 xmpp cluster join $A1:4999 > "$WORK/join8a.out" 2>&1
check "a join to a wrong address fails, and the node is still not in a cluster" sh -c "
    ! grep -q joined '$WORK/join8a.out' &&
    '$BIN/causeway' -c '$WORK/core8.conf' xmpp cluster status | grep -q '^State: NOT INITIALIZED'"
cwn 8 xmpp cluster join $A1:4000 > "$WORK/join8.out" 2>&1
check "a node that takes a live member's name is refused, with what to do" \
    grep -q "the member core2 at $A2:4000 (id [0-9]*) may still be up: give the node at 198.18.0.18:4000 another \[core\] name" "$WORK/join8.out"
check "... core2 is still a member at its address, and no member is at the newcomer's" \
    sh -c "s=\$('$BIN/causeway' -c '$WORK/core1.conf' xmpp cluster status); echo \"\$s\" | grep -q '$A2:4000 *core2 *voter' && ! echo \"\$s\" | grep -q 198.18.0.18"
cwn 8 xmpp cluster join $A1:4000 > "$WORK/join8b.out" 2>&1
check "... a second join gets the leader's answer again (nothing was started; no restart needed)" sh -c "
    grep -q 'the member core2 at $A2:4000 (id [0-9]*) may still be up' '$WORK/join8b.out' &&
    '$BIN/causeway' -c '$WORK/core8.conf' xmpp cluster status | grep -q '^State: NOT INITIALIZED'"
kill -TERM "$PID8"; wait "$PID8" 2>/dev/null; unlist "$PID8"

# Per node: the XMPP service off and on again; the node stays a member.
check "xmpp disable on node 2" cwn 2 xmpp disable
check "node 2 then refuses clients, and says so" sh -c "
    '$BIN/causeway' -c '$WORK/core2.conf' xmpp status | grep -q disabled &&
    ! ip netns exec $NS_E timeout 3 bash -c 'exec 3<>/dev/tcp/$A2/5222' 2>/dev/null"
check "node 2 is still a voting member" wait_cluster 2 "$A2:4000 +core2 +voter" 5
check "xmpp enable on node 2" cwn 2 xmpp enable
check "node 2 serves clients again" sh -c "
    for i in \$(seq 1 20); do ip netns exec $NS_E timeout 3 bash -c 'exec 3<>/dev/tcp/$A2/5222' 2>/dev/null && exit 0; sleep 0.2; done; exit 1"

# The call bridge finds the nodes through SRV (dnsmasq here), starting on
# the leader's node.
L=$(leader_of 1 2 3)
note "leader before the kill: core$L"
DNS=198.18.0.53
in_e ip addr add $DNS/32 dev lo
SRV=""
for n in 1 2 3; do
    a=$(eval echo "\$A$n"); p=10; [ "$n" = "$L" ] && p=0
    SRV="$SRV --srv-host=_xmpp-component._tcp.example.test,core$n.example.test,5223,$p,10 --host-record=core$n.example.test,$a"
done
bg "$NS_E" "$WORK/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=$DNS --bind-interfaces --port=53 --local=/example.test/ $SRV
DNSMASQ_PID=$BGPID
sleep 0.5
S=""; for n in 1 2 3; do [ "$n" = "$L" ] || S="$S $n"; done
set -- $S
H1=$(eval echo "\$A$1") H2=$(eval echo "\$A$2")
xc component-srv $DNS example.test cb1.example.test "$SECRET" "$WORK/comp-on" $H1 5222 \
    bob@example.test/srv bobpw > "$WORK/compsrv.out" 2>&1 &
COMPSRV=$!
for _ in $(seq 1 100); do [ -s "$WORK/comp-on" ] && break; sleep 0.1; done
check "the call bridge found the leader's node first through _xmpp-component._tcp SRV" \
    sh -c "[ \"\$(cat '$WORK/comp-on' 2>/dev/null)\" = core$L.example.test ]"

# Messages flowing between clients on the two other nodes while it happens.
in_e env PACE=0.01 READYFILE="$WORK/flowing" timeout 90 /usr/bin/python3 "$X" chat $H1,$H2 5222 \
    alice@example.test/f alicepw carol@example.test/g carolpw 300 > "$WORK/flow.out" 2>&1 &
FLOW=$!
for _ in $(seq 1 100); do [ -s "$WORK/flowing" ] && break; sleep 0.1; done
sleep 0.5

# Kill -9 the leader: a new one is elected; clients on the others go on.
eval "LP=\$PID$L"
kill -KILL "$LP"; wait "$LP" 2>/dev/null; unlist "$LP"
if wait "$FLOW"; then
    ok "messages flowing between two other nodes while the leader is killed all arrive, in order"
else
    notok "messages across the leader's kill"; cat "$WORK/flow.out"
fi
if wait "$COMPSRV"; then
    ok "after kill -9 of its node, the call bridge reconnected to the next SRV target and answers a client"
else
    notok "call bridge failover through SRV"; cat "$WORK/compsrv.out"
fi
note "$(grep '^component on' "$WORK/compsrv.out")"
check "after kill -9 of the leader, a surviving node becomes leader" sh -c "
    for i in \$(seq 1 50); do
        for n in $S; do '$BIN/causeway' -c '$WORK/core'\$n'.conf' xmpp cluster status 2>/dev/null | grep -q '^State: LEADER' && exit 0; done
        sleep 0.2
    done; exit 1"
check "the survivors agree on the new leader" wait_cluster $1 'Writes: accepted' 10
if xc chat $H1,$H2 5222 alice@example.test/d alicepw carol@example.test/e carolpw 50 > "$WORK/chat2.out" 2>&1; then
    ok "clients on the two surviving nodes log in and chat after the failover"
else
    notok "chat after failover"; cat "$WORK/chat2.out"
fi

# The old leader is reset (its state wiped) and joins again.
rm -rf "$WORK/core$L-state"
start_node "$L"
check "the reset node joins again" cwn "$L" xmpp cluster join "$H1:4000"
for n in 1 2 3; do
    check "after the reset and rejoin, node $n lists each member exactly once" sh -c "
        for i in \$(seq 1 50); do
            s=\$('$BIN/causeway' -c '$WORK/core$n.conf' xmpp cluster status 2>/dev/null)
            [ \$(echo \"\$s\" | grep -c ' voter') = 3 ] && [ \$(echo \"\$s\" | grep -c '^  $A1:4000') = 1 ] &&
            [ \$(echo \"\$s\" | grep -c '^  $A2:4000') = 1 ] && [ \$(echo \"\$s\" | grep -c '^  $A3:4000') = 1 ] && exit 0
            sleep 0.2
        done; echo \"\$s\"; exit 1"
done
check "the reset node has the users again (from the leader)" sh -c "
    for i in \$(seq 1 50); do '$BIN/causeway' -c '$WORK/core$L.conf' xmpp user list | grep -qx alice@example.test && exit 0; sleep 0.2; done; exit 1"

# The reset node removed for good, from another node: gone from every view.
check "cluster remove of core$L from node $1" cwn $1 xmpp cluster remove core$L
for n in $1 $2; do
    check "node $n lists two members, core$L gone" sh -c "
        for i in \$(seq 1 50); do
            s=\$('$BIN/causeway' -c '$WORK/core$n.conf' xmpp cluster status 2>/dev/null)
            [ \$(echo \"\$s\" | grep -c ' voter') = 2 ] && ! echo \"\$s\" | grep -q 'core$L ' && exit 0
            sleep 0.2
        done; echo \"\$s\"; exit 1"
done
check "the removed node knows it" wait_cluster $L 'State: REMOVED' 10

# Majority lost: one of the two left stopped; the last refuses writes and says why.
kill -KILL "$(eval echo "\$PID$1")"
check "with the majority gone, the last node refuses writes and says why" \
    wait_cluster $2 'Writes: refused: no leader: fewer than a majority' 15
check "a write there fails with that reason" sh -c "
    '$BIN/causeway' -c '$WORK/core$2.conf' xmpp domain add late.test 2>&1 | grep -q 'majority'"
exit 0
