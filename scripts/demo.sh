#!/bin/sh
# demo.sh - starts causeway-edge (TURN and the SSH tunnel endpoint) and
# causeway-core on loopback and unprivileged ports: a UDP echo peer to relay
# to, proved with one turnutils_uclient run; the core paired with the edge,
# its tunnel holding 127.0.0.1:$WEB_PORT on the edge for the webbridge
# stand-in tests/tools/webbridge.py (meeting pages, WebSocket signalling and
# TURN REST credentials from the edge's secret), and the web proxy on
# https://localhost:$PROXY_PORT/ in front of it (a self-signed certificate
# made here), proved with curl and, when Chromium and playwright-core are
# there, with one headless meeting (a guest and the call bridge, relay to
# relay through the edge);
# and the XMPP core as a cluster of three causeway-core nodes on loopback
# (the first is the tunnel's core), domain demo.example with two users,
# proved with messages from a user on one node to a user on another.
# Prints what to open, the status commands and how to stop it.
# As root (unless DEMO_NETNS=no) it runs scripts/demo-netns.sh instead: the
# DMZ in network namespaces with the real ports.
# `make demo-stop` (or scripts/demo.sh stop) ends either.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
D=$TOP/build/demo
NETNS=no
[ "$(id -u)" = 0 ] && [ "${DEMO_NETNS:-yes}" != no ] && NETNS=yes
BIN=$TOP/build/bin
PORT=${DEMO_TURN_PORT:-3478}
PEER_PORT=${DEMO_PEER_PORT:-3480}
SSH_PORT=${DEMO_SSH_PORT:-2222}
WEB_PORT=${DEMO_WEB_PORT:-8443}         # on the edge: what the tunnel holds
BRIDGE_PORT=${DEMO_BRIDGE_PORT:-8080}   # inside: the demo webbridge
PROXY_PORT=${DEMO_PROXY_PORT:-4443}     # the web proxy, where guests' browsers go
XMPP_PORT=${DEMO_XMPP_PORT:-15222}      # node N: clients on XMPP_PORT+10(N-1), components +1
CLUSTER_PORT=${DEMO_CLUSTER_PORT:-14001} # node N: Raft and node links on CLUSTER_PORT+N-1
EDGE_ADMIN_PORT=${DEMO_EDGE_ADMIN_PORT:-4445}   # the edge's admin pages (445 on a real edge)
CORE_ADMIN_PORT=${DEMO_CORE_ADMIN_PORT:-8445}   # the core's admin pages
ADMIN_PW=causeway-demo                          # account "admin" on both

. scripts/demo-lib.sh
stop() {
    for f in "$D/core.pid" "$D/core2.pid" "$D/core3.pid" "$D/edge.pid" "$D/peer.pid" \
             "$D/webbridge.pid" "$D/browser.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
            echo "demo: stopped pid $pid"
        fi
        rm -f "$f"
    done
}
stop_netns() {
    [ -d "$TOP/build/demo-netns" ] || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "demo: build/demo-netns exists; as root: sh scripts/demo-netns.sh stop" >&2
        return 0
    fi
    sh scripts/demo-netns.sh stop
}
if [ "${1:-}" = stop ]; then stop; stop_netns; exit 0; fi
stop
stop_netns
if [ $NETNS = yes ]; then exec sh scripts/demo-netns.sh; fi
mkdir -p "$D"
chmod 700 "$D"

cat > "$D/edge.conf" <<CONF
# Demo configuration written by scripts/demo.sh: everything on loopback.
[edge]
control-socket = $D/edge.sock
log-file = $D/edge.log
log-level = info

[turn]
listen = 127.0.0.1:$PORT
relay-address = 127.0.0.1
relay-ports = 24000-29999
realm = demo.example
user-db = $D/turn-users
rest-secret-file = $D/rest.secret
# The demo's echo peer lives on loopback, which a real edge never relays to.
unsafe-allow-loopback-peers = yes

[tunnel]
listen = 127.0.0.1:$SSH_PORT
state-dir = $D/edge-tunnel
permit-listen = 127.0.0.1:$WEB_PORT

[webproxy]
listen = 127.0.0.1:$PROXY_PORT
certificate = $D/web.pem $D/web.key
# Guests' requests for https://localhost:$PROXY_PORT/ go through the core's tunnel.
host = localhost 127.0.0.1:$WEB_PORT
access-log = $D/access.log

[admin]
listen = 127.0.0.1:$EDGE_ADMIN_PORT
certificate = $D/web.pem
key = $D/web.key
users = $D/edge-admins
CONF
# A self-signed certificate for the demo (a real edge has one from a CA).
[ -f "$D/web.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 30 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$D/web.key" -out "$D/web.pem" > "$D/openssl.log" 2>&1
[ -f "$D/rest.secret" ] || { umask 077; openssl rand -hex 24 > "$D/rest.secret"; }
printf 'demo-password\n' | "$BIN/causeway" -c "$D/edge.conf" turn user add demo --password-stdin > /dev/null
printf '%s\n' "$ADMIN_PW" | "$BIN/causeway" -c "$D/edge.conf" admin user add admin --password-stdin > /dev/null

"$BIN/causeway-edge" -t -c "$D/edge.conf" > /dev/null
nohup "$BIN/causeway-edge" -c "$D/edge.conf" > "$D/edge.stdout" 2>&1 &
echo $! > "$D/edge.pid"
nohup turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" > "$D/peer.log" 2>&1 &
echo $! > "$D/peer.pid"
i=0
until "$BIN/causeway" -c "$D/edge.conf" version > /dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 "$(cat "$D/edge.pid")" 2>/dev/null; then
        echo "demo: causeway-edge did not start; its log:" >&2
        cat "$D/edge.stdout" "$D/edge.log" >&2 2>/dev/null
        stop; exit 1
    fi
    sleep 0.1
done

# The core: paired with the edge in the two steps an administrator takes.
cat > "$D/core.conf" <<CONF
# Demo configuration written by scripts/demo.sh.
[core]
name = demo-core
control-socket = $D/core.sock
log-file = $D/core.log
state-dir = $D/core-state
CONF
pair "$D/edge.conf" "$D/core.conf"
# The XMPP service: a certificate for the domain, a cluster key shared by
# the three nodes, and each node's [xmpp] and [cluster].
if [ ! -f "$D/xmpp.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=demo.example" -addext "subjectAltName=DNS:demo.example" \
        -keyout "$D/xmpp.key" -out "$D/xmpp.pem" 2> /dev/null
fi
[ -f "$D/cluster.key" ] || (umask 077; openssl rand -hex 32 > "$D/cluster.key")
xmpp_sections() { # NODE_NUMBER
    cat <<CONF

[xmpp]
client-listen = 127.0.0.1:$((XMPP_PORT + 10 * ($1 - 1)))
component-listen = 127.0.0.1:$((XMPP_PORT + 10 * ($1 - 1) + 1))
certificate = $D/xmpp.pem $D/xmpp.key

[cluster]
address = 127.0.0.1:$((CLUSTER_PORT + $1 - 1))
key-file = $D/cluster.key
CONF
}
for n in 2 3; do
    { printf '# Demo configuration written by scripts/demo.sh: XMPP core node %s.\n' $n
      printf '[core]\nname = demo-core%s\ncontrol-socket = %s/core%s.sock\n' $n "$D" $n
      printf 'log-file = %s/core%s.log\nstate-dir = %s/core%s-state\n' "$D" $n "$D" $n
      xmpp_sections $n; } > "$D/core$n.conf"
done
xmpp_sections 1 >> "$D/core.conf"
cat >> "$D/core.conf" <<CONF

[tunnel]
edge = 127.0.0.1:$SSH_PORT
host-key = $(trusted_key)
user = $(trusted_user)
# The guest account client URI; a name here is resolved in the inside DNS.
guest-uri = 127.0.0.1
webbridge-port = $BRIDGE_PORT
# The core speaks HTTPS to the webbridge; its certificate must name the
# guest-uri and chain to this file (here the demo's self-signed one).
webbridge-ca = $D/web.pem
edge-port = $WEB_PORT

# The TURN reachability check: a relay allocated on the edge now and then.
[turn]
server = 127.0.0.1:$PORT
username = demo
password = demo-password

[admin]
listen = 127.0.0.1:$CORE_ADMIN_PORT
certificate = $D/web.pem
key = $D/web.key
users = $D/core-admins
CONF
printf '%s\n' "$ADMIN_PW" | "$BIN/causeway" -c "$D/core.conf" admin user add admin --password-stdin > /dev/null
# The webbridge: meeting pages, signalling, and TURN REST credentials made
# with the edge's rest-secret-file; guest and call bridge both use the edge's
# TURN on loopback (their relays meet on 127.0.0.1).
nohup /usr/bin/python3 tests/tools/webbridge.py --https "127.0.0.1:$BRIDGE_PORT" \
    --cert "$D/web.pem" --key "$D/web.key" \
    --turn-secret-file "$D/rest.secret" \
    --guest-turn "turn:127.0.0.1:$PORT?transport=udp" --bridge-turn "turn:127.0.0.1:$PORT?transport=udp" \
    > "$D/webbridge.log" 2>&1 &
echo $! > "$D/webbridge.pid"
for _ in $(seq 1 50); do curl -s -o /dev/null --cacert "$D/web.pem" "https://127.0.0.1:$BRIDGE_PORT/healthz" && break; sleep 0.1; done
nohup "$BIN/causeway-core" -c "$D/core.conf" > "$D/core.stdout" 2>&1 &
echo $! > "$D/core.pid"
i=0
until "$BIN/causeway" -c "$D/core.conf" tunnel status 2>/dev/null | grep -q ' Active '; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$(cat "$D/core.pid")" 2>/dev/null; then
        echo "demo: the core's tunnel did not come up; its status and log:" >&2
        "$BIN/causeway" -c "$D/core.conf" tunnel status >&2
        cat "$D/core.stdout" "$D/core.log" >&2 2>/dev/null
        stop; exit 1
    fi
    sleep 0.1
done
title() { grep -o '<title>[^<]*</title>' | sed 's/^/  /'; }
echo "demo: through the tunnel: curl http://127.0.0.1:$WEB_PORT/guest.html"
curl -s --max-time 5 "http://127.0.0.1:$WEB_PORT/guest.html" | title
echo "demo: as a guest, through the web proxy and the tunnel: curl --cacert $D/web.pem https://localhost:$PROXY_PORT/guest.html"
curl -s --max-time 5 --cacert "$D/web.pem" "https://localhost:$PROXY_PORT/guest.html" | title

# One headless meeting, when Chromium and playwright-core are there: the call
# bridge's page and a guest's page, both through the web proxy, relay to
# relay through the edge's TURN. Root runs browsers only inside a network
# namespace: as root it is skipped unless this runs in a named one (ip netns
# exec NS); the root variant has its own headless meeting.
WEBRTC=$TOP/tests/browser/webrtc.js
if [ ! -x /usr/bin/chromium ] || [ ! -d "$TOP/tests/browser/node_modules/playwright-core" ] ||
   ! command -v node > /dev/null; then
    echo "demo: no headless meeting (needs /usr/bin/chromium, node and tests/browser/node_modules: make deps)"
elif [ "$(id -u)" = 0 ] && [ -z "$(ip netns identify $$ 2>/dev/null)" ]; then
    echo "demo: no headless meeting: as root, browsers run only in a named network namespace (the root variant has one)"
else
    SPKI=$(spki_of "$D/web.pem")
    echo "demo: a headless meeting in room demo-check: the call bridge and a guest (Chromium), through the web proxy..."
    # HOLD: the bridge's page stays open until the guest is done (closing it
    # at its own result would drop what it still had to send).
    nohup env HOME="$D" HOLD=1 node "$WEBRTC" "https://localhost:$PROXY_PORT/bridge.html?room=demo-check&policy=relay" 70000 \
        "--ignore-certificate-errors-spki-list=$SPKI" > "$D/browser-bridge.log" 2>&1 &
    echo $! > "$D/browser.pid"
    env HOME="$D" node "$WEBRTC" "https://localhost:$PROXY_PORT/guest.html?room=demo-check&transport=udp&n=50" 60000 \
        "--ignore-certificate-errors-spki-list=$SPKI" > "$D/browser-guest.log" 2>&1 || true
    kill "$(cat "$D/browser.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$(cat "$D/browser.pid")" || break; sleep 0.1; done
    rm -f "$D/browser.pid"
    meeting_result "$D/browser-guest.log"
fi

# The other two XMPP core nodes, and the cluster: made once, kept across
# demo restarts (the state lives in each node's state-dir).
for n in 2 3; do
    nohup "$BIN/causeway-core" -c "$D/core$n.conf" > "$D/core$n.stdout" 2>&1 &
    echo $! > "$D/core$n.pid"
done
CW="$BIN/causeway"
for n in "" 2 3; do
    for _ in $(seq 1 50); do "$CW" -c "$D/core$n.conf" version > /dev/null 2>&1 && break; sleep 0.1; done
done
if "$CW" -c "$D/core.conf" xmpp cluster status | grep -q 'NOT INITIALIZED'; then
    echo "demo: XMPP cluster: $("$CW" -c "$D/core.conf" xmpp cluster initialize | cut -d';' -f1)"
    for _ in $(seq 1 50); do "$CW" -c "$D/core.conf" xmpp cluster status | grep -q '^State: LEADER' && break; sleep 0.1; done
    for n in 2 3; do
        echo "demo: node $n: $("$CW" -c "$D/core$n.conf" xmpp cluster join 127.0.0.1:$CLUSTER_PORT | cut -d';' -f1)"
    done
    "$CW" -c "$D/core2.conf" xmpp domain add demo.example | sed 's/^/demo: /'
    echo alice-password | "$CW" -c "$D/core3.conf" xmpp user add alice@demo.example --password-stdin | sed 's/^/demo: /'
    echo bob-password | "$CW" -c "$D/core.conf" xmpp user add bob@demo.example --password-stdin | sed 's/^/demo: /'
    "$CW" -c "$D/core.conf" xmpp callbridge add cb1.demo.example > "$D/callbridge.txt"
fi
for _ in $(seq 1 50); do "$CW" -c "$D/core3.conf" xmpp user list 2>/dev/null | grep -q bob@ && break; sleep 0.1; done
LOAD="/usr/bin/python3 tests/tools/xmpp_load.py 127.0.0.1:$XMPP_PORT:alice:alice-password 127.0.0.1:$((XMPP_PORT + 10)):bob:bob-password demo.example"
echo "demo: 1000 messages from alice on node 1 to bob on node 2: $LOAD 1000 50"
$LOAD 1000 50 2>&1 | sed 's/^/  /'

UC="turnutils_uclient -u demo -w demo-password -e 127.0.0.1 -r $PEER_PORT -p $PORT"
echo "demo: a short relay run through the edge: $UC -n 50 127.0.0.1"
$UC -n 50 127.0.0.1 2>&1 | grep -E 'Total lost packets|round trip' | sed 's/^[0-9]*: : /  /'

echo "demo: the core's TURN reachability check: $("$CW" -c "$D/core.conf" turn check 2>&1 | head -1)"
printf 'demo: the edge'"'"'s faults: '; "$CW" -c "$D/edge.conf" faults json | /usr/bin/python3 -c \
    'import json,sys; l=[f["id"] for f in json.load(sys.stdin)["faults"]["list"] if f["cleared"] is None]; print(", ".join(l) or "none")'
printf 'demo: the admin API, /api/v1/status/tunnels on the core: '
curl -s --cacert "$D/web.pem" -u "admin:$ADMIN_PW" "https://localhost:$CORE_ADMIN_PORT/api/v1/status/tunnels" |
    /usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)["tunnels"]["list"][0]; print(t["target"], t["domain"], t["status"], "since", t["since"])'

cat <<TXT

Causeway demo is running: causeway-edge (pid $(cat "$D/edge.pid")) and
causeway-core (pid $(cat "$D/core.pid")), with two more core nodes (pids
$(cat "$D/core2.pid") and $(cat "$D/core3.pid")) making a three-node XMPP cluster.
  The edge's tunnel sshd on 127.0.0.1:$SSH_PORT; the core is paired and its tunnel
  holds 127.0.0.1:$WEB_PORT on the edge for the webbridge (https://127.0.0.1:$BRIDGE_PORT,
  tests/tools/webbridge.py: meeting pages, signalling, TURN REST credentials).
  TURN on 127.0.0.1:$PORT (UDP and TCP), relays on 127.0.0.1:24000-29999,
  realm demo.example, user "demo" / password "demo-password",
  an echo peer (turnutils_peer) on 127.0.0.1:$PEER_PORT.
  The web proxy on https://localhost:$PROXY_PORT/ (self-signed certificate
  $D/web.pem), carrying guests' requests through the tunnel.

  XMPP domain demo.example on nodes 127.0.0.1:$XMPP_PORT, :$((XMPP_PORT + 10)), :$((XMPP_PORT + 20))
  (clients; components one port up), users alice / alice-password and
  bob / bob-password, call bridge cb1.demo.example (secret in $D/callbridge.txt).

The admin pages (sign in as admin / $ADMIN_PW; the same self-signed certificate):
  https://localhost:$EDGE_ADMIN_PORT/    the edge: TURN, tunnel endpoint, web proxy, faults
  https://localhost:$CORE_ADMIN_PORT/    the core: tunnels, guest URI, TURN check, XMPP, cluster
  curl --cacert $D/web.pem -u admin:$ADMIN_PW https://localhost:$CORE_ADMIN_PORT/api/v1/status
  curl --cacert $D/web.pem -u admin:$ADMIN_PW https://localhost:$EDGE_ADMIN_PORT/metrics

Open in a browser on this machine, in two tabs (the meeting's two ends):
  https://localhost:$PROXY_PORT/bridge.html?room=demo    the call bridge
  https://localhost:$PROXY_PORT/guest.html?room=demo     a guest
  (it warns about the self-signed certificate; accept it, or import $D/web.pem).
  Both pages come through the web proxy and the tunnel; their media goes relay
  to relay through the edge's TURN. The guest's page shows the data channel's
  messages both ways and its selected pair (relay on 127.0.0.1); the bridge's
  "1 of 1 guests ok".

Try:
  $UC 127.0.0.1
  $UC -t 127.0.0.1     # TURN over TCP
  $UC -s 127.0.0.1     # Send/Data indications instead of channels
  build/bin/causeway -c $D/edge.conf status          # everything at a glance (also: faults)
  build/bin/causeway -c $D/core.conf turn check      # allocate a relay on the edge from inside
  build/bin/causeway -c $D/edge.conf turn status
  build/bin/causeway -c $D/edge.conf turn list
  build/bin/causeway -c $D/edge.conf turn rest-credential guest 3600
  curl --cacert $D/web.pem https://localhost:$PROXY_PORT/guest.html   # a guest's page, through proxy and tunnel
  build/bin/causeway -c $D/edge.conf webproxy status
  tail $D/access.log
  build/bin/causeway -c $D/core.conf tunnel status   # Target, Domain, Status
  build/bin/causeway -c $D/edge.conf tunnel status   # sshd, host key, trusted cores
  build/bin/causeway -c $D/core.conf xmpp cluster status   # State, peers, leader
  build/bin/causeway -c $D/core2.conf xmpp status          # sessions on node 2
  $LOAD 10000 200   # alice (node 1) to bob (node 2)
  kill \$(cat $D/core3.pid)   # a node down: the other two go on
  tail -f $D/edge.log $D/core.log $D/core2.log

Stop it: make demo-stop
TXT
