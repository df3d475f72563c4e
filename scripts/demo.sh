#!/bin/sh
# demo.sh - starts causeway-edge with TURN on loopback and unprivileged ports,
# a UDP echo peer to relay to, proves it with one turnutils_uclient run, and
# prints what to try next. `make demo-stop` (or scripts/demo.sh stop) ends it.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
D=$TOP/build/demo
BIN=$TOP/build/bin
PORT=${DEMO_TURN_PORT:-3478}
PEER_PORT=${DEMO_PEER_PORT:-3480}

stop() {
    for f in "$D/edge.pid" "$D/peer.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null && echo "demo: stopped pid $pid"
        rm -f "$f"
    done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi
stop
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
CONF
[ -f "$D/rest.secret" ] || { umask 077; openssl rand -hex 24 > "$D/rest.secret"; }
printf 'demo-password\n' | "$BIN/causeway" -c "$D/edge.conf" turn user add demo --password-stdin > /dev/null

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

UC="turnutils_uclient -u demo -w demo-password -e 127.0.0.1 -r $PEER_PORT -p $PORT"
echo "demo: a short relay run through the edge: $UC -n 50 127.0.0.1"
$UC -n 50 127.0.0.1 2>&1 | grep -E 'Total lost packets|round trip' | sed 's/^[0-9]*: : /  /'

cat <<TXT

Causeway edge demo is running (pid $(cat "$D/edge.pid")):
  TURN on 127.0.0.1:$PORT (UDP and TCP), relays on 127.0.0.1:24000-29999,
  realm demo.example, user "demo" / password "demo-password",
  an echo peer (turnutils_peer) on 127.0.0.1:$PEER_PORT.

Try:
  $UC 127.0.0.1
  $UC -t 127.0.0.1     # TURN over TCP
  $UC -s 127.0.0.1     # Send/Data indications instead of channels
  build/bin/causeway -c $D/edge.conf turn status
  build/bin/causeway -c $D/edge.conf turn list
  build/bin/causeway -c $D/edge.conf turn rest-credential guest 3600
  tail -f $D/edge.log

Stop it: make demo-stop
TXT
