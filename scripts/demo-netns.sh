#!/bin/sh
# demo-netns.sh - the root variant of `make demo` (scripts/demo.sh calls it
# when run as root): the mission's DMZ picture in network namespaces, with the
# real ports, modelled on tests/integration/dmz_webrtc.sh.
#
#   this machine     "the internet": cwdemo0 203.0.113.1/24, so a browser here
#                    reaches the edge's external address directly. Nothing
#                    else of the host is touched (no routes, /etc, firewall).
#   cwdemo-out       the internet's segment: a bridge joining cwdemo0, the
#                    edge's external NIC and a headless guest 203.0.113.100.
#   cwdemo-dmz       causeway-edge: external 203.0.113.10 (web proxy 443 and
#                    http 80, TURN 3478 UDP/TCP, relays 24000-29999), internal
#                    198.18.0.1 (the tunnel's sshd 2222, TURN 3478 for the
#                    call bridge); ip_forward 0.
#   cwdemo-in        causeway-core 198.18.0.2 (its tunnel holds
#                    127.0.0.1:8443 on the edge); dnsmasq 198.18.0.53 where
#                    join.example.test is the webbridge 198.18.0.3 (HTTPS 443,
#                    for the core and for inside browsers); the call
#                    bridge's headless browser. nftables drops every new
#                    connection from the DMZ.
#
# The XMPP cluster is not part of this variant (DEMO_NETNS=no has it).
# State, logs and PID files in build/demo-netns; `demo-netns.sh stop` ends the
# processes it started and deletes the namespaces it made (listed in
# build/demo-netns/netns), nothing else.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
D=$TOP/build/demo-netns
BIN=$TOP/build/bin
PY=/usr/bin/python3
NS_O=cwdemo-out NS_E=cwdemo-dmz NS_I=cwdemo-in HOSTIF=cwdemo0
HOST=203.0.113.1 GUEST=203.0.113.100 EXT=203.0.113.10
INT=198.18.0.1 CORE=198.18.0.2 WB=198.18.0.3 IDNS=198.18.0.53
J=join.example.test
LINKPORT=8443
WEBRTC=$TOP/tests/browser/webrtc.js

. scripts/demo-lib.sh
# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 1 50); do alive "$1" || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}
stop() {
    for f in "$D"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if alive "$pid"; then stop_pid "$pid"; echo "demo: stopped pid $pid ($(basename "$f" .pid))"; fi
        rm -f "$f"
    done
    [ -f "$D/netns" ] || return 0
    for ns in $(cat "$D/netns"); do
        # Whatever still runs in our namespace is ours (a browser's helpers).
        for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid"; done
        ip netns del "$ns" 2>/dev/null && echo "demo: deleted network namespace $ns"
    done
    ip link del "$HOSTIF" 2>/dev/null || true   # normally gone with its peer
    # The DMZ's resolv.conf (ip netns exec mounts it over /etc/resolv.conf).
    if [ -f "$D/etc-netns" ]; then
        rm -rf "/etc/netns/$NS_E"; rmdir /etc/netns 2>/dev/null || true; rm -f "$D/etc-netns"
    fi
    rm -f "$D/netns"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi
stop
for ns in $NS_O $NS_E $NS_I; do
    if ip netns list | grep -q "^$ns\( \|\$\)"; then
        echo "demo: network namespace $ns exists and is not the demo's; delete it or rename ours" >&2
        exit 1
    fi
done
if ip link show "$HOSTIF" > /dev/null 2>&1; then
    echo "demo: interface $HOSTIF exists and is not the demo's" >&2; exit 1
fi
for t in dnsmasq nft openssl curl; do
    command -v "$t" > /dev/null || { echo "demo: $t is not installed (make deps)" >&2; exit 1; }
done
mkdir -p "$D"
chmod 700 "$D"
in_o() { ip netns exec "$NS_O" "$@"; }
in_e() { ip netns exec "$NS_E" "$@"; }
in_i() { ip netns exec "$NS_I" "$@"; }
fail() { echo "demo: $*" >&2; stop; exit 1; }
# bg NAME NS CMD...: CMD in NS, output to $D/NAME.log, PID to $D/NAME.pid
# (ip netns exec execs the command, so that is its PID).
bg() {
    name=$1 ns=$2; shift 2
    nohup ip netns exec "$ns" "$@" > "$D/$name.log" 2>&1 &
    echo $! > "$D/$name.pid"
}

# ---- network ----------------------------------------------------------------------
if [ -e "/etc/netns/$NS_E" ]; then
    echo "demo: /etc/netns/$NS_E exists and is not the demo's" >&2; exit 1
fi
for ns in $NS_O $NS_E $NS_I; do
    ip netns add "$ns"
    echo "$ns" >> "$D/netns"
    ip -n "$ns" link set lo up
done
ip -n $NS_O link add cwdemo-br type bridge
ip link add $HOSTIF type veth peer name cwdemo-h netns $NS_O        # this machine
ip link add cwdemo-x netns $NS_E type veth peer name cwdemo-e netns $NS_O   # edge external
ip link add cwdemo-i netns $NS_E type veth peer name cwdemo-n netns $NS_I   # edge internal
for l in cwdemo-h cwdemo-e; do ip -n $NS_O link set $l master cwdemo-br up; done
ip -n $NS_O addr add $GUEST/24 dev cwdemo-br
ip -n $NS_O link set cwdemo-br up
ip addr add $HOST/24 dev $HOSTIF
ip link set $HOSTIF up
ip -n $NS_E addr add $EXT/24 dev cwdemo-x
ip -n $NS_E addr add $INT/24 dev cwdemo-i
ip -n $NS_E link set cwdemo-x up
ip -n $NS_E link set cwdemo-i up
for a in $CORE $WB $IDNS; do ip -n $NS_I addr add $a/24 dev cwdemo-n; done
ip -n $NS_I link set cwdemo-n up
in_e sysctl -qw net.ipv4.ip_forward=0
# The inside's firewall: nothing from the DMZ opens a connection inwards.
in_i nft -f - <<NFT
table inet cwdemo {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "cwdemo-n" ct state established,related accept
        iifname "cwdemo-n" counter drop
    }
}
NFT

# ---- certificates and secrets: a demo CA and join.example.test ---------------------------
if [ ! -f "$D/$J.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=Causeway Demo CA" -keyout "$D/ca.key" -out "$D/ca.pem" > "$D/openssl.log" 2>&1
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' $J > "$D/leaf.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$J" \
        -keyout "$D/$J.key" -out "$D/$J.csr" >> "$D/openssl.log" 2>&1
    openssl x509 -req -in "$D/$J.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
        -days 30 -extfile "$D/leaf.ext" -out "$D/$J.pem" >> "$D/openssl.log" 2>&1
fi
# The admin pages' certificate: the edge's internal address and the core's.
if [ ! -f "$D/admin.pem" ]; then
    printf 'subjectAltName=IP:%s,IP:%s\nbasicConstraints=CA:FALSE\n' $INT $CORE > "$D/admin.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=causeway admin" \
        -keyout "$D/admin.key" -out "$D/admin.csr" >> "$D/openssl.log" 2>&1
    openssl x509 -req -in "$D/admin.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
        -days 30 -extfile "$D/admin.ext" -out "$D/admin.pem" >> "$D/openssl.log" 2>&1
fi
ADMIN_PW=causeway-demo
SPKI=$(spki_of "$D/$J.pem")
[ -f "$D/rest.secret" ] || (umask 077; openssl rand -hex 24 > "$D/rest.secret")

# ---- inside: DNS and the webbridge --------------------------------------------------------
bg dnsmasq $NS_I dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=$IDNS --bind-interfaces --pid-file= --user=root --local=/example.test/ \
    --host-record=$J,$WB --log-queries --log-facility="$D/dnsmasq-queries.log"
bg webbridge $NS_I $PY "$TOP/tests/tools/webbridge.py" \
    --https $WB:443 --cert "$D/$J.pem" --key "$D/$J.key" \
    --turn-secret-file "$D/rest.secret" \
    --guest-turn "turn:$EXT:3478?transport=udp" --bridge-turn "turn:$INT:3478?transport=udp"
for _ in $(seq 1 50); do in_i curl -s -o /dev/null --cacert "$D/ca.pem" --resolve "$J:443:$WB" https://$J/healthz && break; sleep 0.1; done

# ---- the DMZ's resolver: the internet's view, on the edge's own loopback ----------------
# (a real DMZ host asks the external DNS; here dnsmasq answers the guest
# account client URI with the edge's external address). Programs run with
# ip netns exec in the DMZ read it as /etc/resolv.conf.
mkdir -p "/etc/netns/$NS_E" && touch "$D/etc-netns"
echo "nameserver 127.0.0.53" > "/etc/netns/$NS_E/resolv.conf"
bg dnsmasq-dmz $NS_E dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=127.0.0.53 --bind-interfaces --pid-file= --user=root --local=/example.test/ \
    --host-record=$J,$EXT

# ---- the edge ----------------------------------------------------------------------------
cat > "$D/edge.conf" <<CONF
# Demo configuration written by scripts/demo-netns.sh: the edge in $NS_E.
[edge]
control-socket = $D/edge.sock
log-file = $D/edge.log
log-level = info

[turn]
listen = $EXT:3478
listen = $INT:3478
relay-address = $EXT
relay-ports = 24000-29999
realm = example.test
rest-secret-file = $D/rest.secret

[tunnel]
listen = $INT:2222
state-dir = $D/edge-tunnel
permit-listen = 127.0.0.1:$LINKPORT

[webproxy]
listen = $EXT:443
http-listen = $EXT:80
certificate = $D/$J.pem $D/$J.key
host = $J 127.0.0.1:$LINKPORT
access-log = $D/access.log

# Administrators are inside: the admin pages listen on the internal NIC only.
[admin]
listen = $INT:445
certificate = $D/admin.pem
key = $D/admin.key
users = $D/edge-admins
CONF
printf '%s\n' "$ADMIN_PW" | "$BIN/causeway" -c "$D/edge.conf" admin user add admin --password-stdin > /dev/null
"$BIN/causeway-edge" -t -c "$D/edge.conf" > /dev/null
bg edge $NS_E "$BIN/causeway-edge" -c "$D/edge.conf"
CWE="$BIN/causeway -c $D/edge.conf"
i=0
until $CWE version > /dev/null 2>&1; do
    i=$((i + 1))
    [ $i -le 50 ] && kill -0 "$(cat "$D/edge.pid")" 2>/dev/null ||
        { cat "$D/edge.log" >&2 2>/dev/null; fail "causeway-edge did not start; its log is above"; }
    sleep 0.1
done

# ---- the core, paired in the two steps an administrator takes ------------------------------
cat > "$D/core.conf" <<CONF
# Demo configuration written by scripts/demo-netns.sh: the core in $NS_I.
[core]
name = demo-core
control-socket = $D/core.sock
log-file = $D/core.log
log-level = info
state-dir = $D/core-state

[dns]
server = $IDNS
timeout = 500
CONF
CWC="$BIN/causeway -c $D/core.conf"
pair "$D/edge.conf" "$D/core.conf"
cat >> "$D/core.conf" <<CONF

[tunnel]
edge = $INT:2222
host-key = $(trusted_key)
user = $(trusted_user)
# The guest account client URI, resolved in the inside DNS: the webbridge.
guest-uri = $J
# HTTPS to the webbridge (port 443): its certificate must name $J and
# chain to the demo CA.
webbridge-ca = $D/ca.pem
edge-port = $LINKPORT

# The TURN reachability check: the edge's internal TURN address, with
# time-limited credentials from the same secret the webbridge uses.
[turn]
server = $INT:3478
rest-secret = $(cat "$D/rest.secret")

[admin]
listen = $CORE:8445
certificate = $D/admin.pem
key = $D/admin.key
users = $D/core-admins
CONF
chmod 600 "$D/core.conf"
printf '%s\n' "$ADMIN_PW" | $CWC admin user add admin --password-stdin > /dev/null
bg core $NS_I "$BIN/causeway-core" -c "$D/core.conf"
i=0
until $CWC tunnel status 2>/dev/null | grep -q ' Active '; do
    i=$((i + 1))
    [ $i -le 150 ] && kill -0 "$(cat "$D/core.pid")" 2>/dev/null ||
        { $CWC tunnel status >&2; cat "$D/core.log" >&2 2>/dev/null
          fail "the core's tunnel did not come up; its status and log are above"; }
    sleep 0.1
done
for _ in $(seq 1 100); do $CWE webproxy status 2>/dev/null | grep -q "127.0.0.1:$LINKPORT: up" && break; sleep 0.1; done

CURL="curl --cacert $D/ca.pem --resolve $J:443:$EXT"
echo "demo: the edge forwards nothing: ip_forward in $NS_E is $(in_e cat /proc/sys/net/ipv4/ip_forward)"
if in_e curl -sk -o /dev/null --max-time 2 https://$WB/; then
    echo "demo: WARNING: the DMZ reached the webbridge directly"
else
    echo "demo: the DMZ cannot open a connection into the inside (curl https://$WB/ from $NS_E fails)"
fi
echo "demo: the core's tunnel status (guest-uri $J, resolved in the inside DNS):"
$CWC tunnel status | sed 's/^/  /'
echo "demo: from this machine, through the edge's proxy and the tunnel: $CURL https://$J/guest.html"
$CURL -s --max-time 5 "https://$J/guest.html" | grep -o '<title>[^<]*</title>' | sed 's/^/  /'

# ---- the meeting: the call bridge's browser inside, one headless guest outside ------------------
BROWSER=no
if [ -x /usr/bin/chromium ] && [ -d "$TOP/tests/browser/node_modules/playwright-core" ] &&
   command -v node > /dev/null; then
    BROWSER=yes
    bg bridge $NS_I env HOME="$D" HOLD=1 node "$WEBRTC" "https://$J/bridge.html?room=demo&policy=relay" \
        86400000 "--ignore-certificate-errors-spki-list=$SPKI" "--host-resolver-rules=MAP $J $WB"
    echo "demo: the call bridge's media end (headless Chromium in $NS_I, pid $(cat "$D/bridge.pid")) joined room demo"
    echo "demo: a headless guest in $NS_O ($GUEST) joins room demo over TURN/UDP..."
    in_o env HOME="$D" HOLD=1 node "$WEBRTC" "https://$J/guest.html?room=demo&transport=udp&n=50" 60000 \
        "--ignore-certificate-errors-spki-list=$SPKI" "--host-resolver-rules=MAP $J $EXT" \
        > "$D/guest.log" 2>&1 &
    g=$!
    echo $g > "$D/guest.pid"
    for _ in $(seq 1 700); do grep -q '^RESULT ' "$D/guest.log" 2>/dev/null && break
                              kill -0 $g 2>/dev/null || break; sleep 0.1; done
    $CWE turn list > "$D/turn-during-call.txt" 2>&1 || true
    stop_pid $g; wait $g 2>/dev/null || true; rm -f "$D/guest.pid"
    meeting_result "$D/guest.log"
    echo "demo: causeway turn list during the call:"
    sed 's/^/  /' "$D/turn-during-call.txt"
fi
echo "demo: $CWE turn status"
$CWE turn status | sed 's/^/  /'
echo "demo: the core's TURN reachability check: $($CWC turn check 2>&1 | head -1)"
ADMIN_CURL="curl -s --cacert $D/ca.pem -u admin:$ADMIN_PW"
for side in edge core; do
    printf 'demo: causeway doctor on the %s: ' $side
    $BIN/causeway -c "$D/$side.conf" doctor json 2> /dev/null | $PY -c '
import json, sys
f = json.load(sys.stdin)["doctor"]["findings"]
bad = [x for x in f if x["result"] in ("fail", "warn")]
print("%d findings, %d ok, %d skipped%s" % (len(f), sum(x["result"] == "ok" for x in f),
      sum(x["result"] == "skip" for x in f),
      "".join("\n  %s %s: %s" % (x["result"], x["check"], x["seen"]) for x in bad)))'
done
printf 'demo: the admin API from inside, https://%s:445/api/v1/status (the edge): ' $INT
in_i $ADMIN_CURL "https://$INT:445/api/v1/status" | $PY -c \
    'import json,sys; d=json.load(sys.stdin); print(", ".join("%s %s" % (k, v["state"]) for k, v in d.items()))'

SH="build/bin/causeway -c $D"
cat <<TXT

Causeway demo (the DMZ in network namespaces) is running:
  $NS_E  causeway-edge (pid $(cat "$D/edge.pid")): web proxy https://$EXT:443 (http 80),
              TURN $EXT:3478 and $INT:3478 (UDP, TCP), relays $EXT:24000-29999,
              the tunnel's sshd $INT:2222; ip_forward 0
  $NS_I   causeway-core (pid $(cat "$D/core.pid")) $CORE, its tunnel holds 127.0.0.1:$LINKPORT on the edge;
              webbridge $WB (http 8080, https 443); dnsmasq $IDNS ($J = $WB);
              nftables drops new connections from the DMZ
  $NS_O  the internet's segment: this machine ($HOSTIF, $HOST) and a headless guest $GUEST
TXT
if [ $BROWSER = yes ]; then
    echo "  The call bridge's media end: headless Chromium in $NS_I (pid $(cat "$D/bridge.pid")), room demo."
fi
cat <<TXT

The admin pages listen inside only (edge $INT:445, core $CORE:8445; account admin,
password $ADMIN_PW; certificate from the demo CA $D/ca.pem):
  ip netns exec $NS_I $ADMIN_CURL https://$INT:445/api/v1/status
  ip netns exec $NS_I $ADMIN_CURL https://$CORE:8445/metrics

Open as a guest, in a browser on this machine (the name is mapped to the edge's address):
  chromium --host-resolver-rules="MAP $J $EXT" --ignore-certificate-errors-spki-list=$SPKI \\
      'https://$J/guest.html?room=demo'
  (or import the demo CA $D/ca.pem and map the name yourself;
  the page's log shows the data channel's messages and the selected relay on $EXT)
TXT
if [ $BROWSER = no ]; then
    cat <<TXT
  No headless call bridge here (needs /usr/bin/chromium and tests/browser/node_modules):
  open the call bridge's page first, from the inside, e.g.
    ip netns exec $NS_I chromium --no-sandbox --host-resolver-rules="MAP $J $WB" \\
        --ignore-certificate-errors-spki-list=$SPKI 'https://$J/bridge.html?room=demo'
TXT
fi
cat <<TXT

Try:
  $CURL https://$J/guest.html
  curl -sI --resolve $J:80:$EXT http://$J/    # 301 to https
  $SH/edge.conf turn status
  $SH/edge.conf turn list
  $SH/edge.conf webproxy status
  $SH/edge.conf tunnel status   # sshd, host key, trusted cores
  $SH/core.conf tunnel status   # Target, Domain, Status
  $SH/edge.conf status          # everything at a glance
  $SH/core.conf faults          # fault conditions, raised and cleared
  $SH/core.conf turn check      # a relay on the edge's TURN, from inside
  $SH/core.conf doctor          # the deployment checked from inside; $SH/edge.conf doctor from the DMZ
  tail $D/access.log $D/webbridge.log
  ip netns exec $NS_E ss -lntu   # what the edge listens on

Stop it: make demo-stop
TXT
