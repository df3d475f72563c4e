#!/usr/bin/env bash
# dmz_webrtc.sh - the mission's main scenario, end to end (issue 5): a WebRTC
# guest on the internet joins a meeting through a two-NIC DMZ. Real software
# everywhere: Debian's Chromium for the guest and for the call bridge's media
# end, dnsmasq for both DNS views, nftables for the firewalls, OpenSSH's sshd
# under causeway-edge, causeway-core's SSH tunnel, and the webbridge
# stand-in tests/tools/webbridge.py (pages, WebSocket signalling, TURN REST
# credentials).
#
#   outside ($NS_O)  the internet: the guest's browser 203.0.113.100 (its
#                    only address: Chromium sends from every address it
#                    has); the external DNS on the namespace's loopback
#                    (127.0.0.53): join.example.test and turn.example.test
#                    are the edge's external address.
#   dmz ($NS_E)      causeway-edge: external 203.0.113.10 (web proxy 443,
#                    TURN 3478 UDP/TCP, relays 24000-29999), internal
#                    198.18.0.1 (the tunnel's sshd 2222, TURN 3478 for the
#                    call bridge); no IP forwarding. A third NIC,
#                    192.0.2.10, sits behind the firewall's static NAT.
#   inside ($NS_I)   causeway-core 198.18.0.2 (its tunnel holds
#                    127.0.0.1:18443 on the edge); the inside DNS
#                    198.18.0.53, where join.example.test is the webbridge
#                    198.18.0.3 (HTTPS 443, for inside browsers and for the
#                    core, which checks its certificate against the test CA
#                    and the name); the call bridge's browser. Its firewall
#                    drops every new connection from the DMZ.
#   firewall ($NS_F) 1:1 NAT between the public 203.0.113.20 and the edge's
#                    192.0.2.10, for the static NAT variant.
#
# Flows: outside -> edge 443, 3478 and the relay range; inside -> edge 2222
# and 3478; nothing from the outside or the DMZ into the inside.
#
# Scenarios: a guest over TURN/UDP; a guest over TURN/TCP; the tunnel cut
# and restored, then a new guest; the edge behind the static NAT (the edge
# restarted with public-address), then a guest. Each passes only when the
# guest's selected candidate pair is a relay on the edge, the data channel
# carried messages both ways, the page and the signalling came through the
# proxy and the tunnel, and `causeway turn list` showed the guest's
# allocation while the call was up.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/tools/prosody.sh"      # cert_ca, cert_leaf
need_root
PY=/usr/bin/python3
for t in dnsmasq nft openssl node; do
    command -v "$t" > /dev/null || { notok "$t is not installed (make deps)"; exit 1; }
done
if [ ! -x /usr/bin/chromium ] || [ ! -d "$TOP/tests/browser/node_modules/playwright-core" ]; then
    notok "/usr/bin/chromium or tests/browser/node_modules missing (make deps)"; exit 1
fi
$PY -c 'import websockets' 2> /dev/null || { notok "python3-websockets is not installed (make deps)"; exit 1; }

NS_I=cwI$$ NS_F=cwF$$
GUEST=203.0.113.100 ODNS=127.0.0.53 EXT=203.0.113.10 PUB=203.0.113.20
INT=198.18.0.1 CORE=198.18.0.2 WB=198.18.0.3 IDNS=198.18.0.53
NATEXT=192.0.2.10 FWE=192.0.2.1
J=join.example.test
LINKPORT=18443
WEBRTC=$TOP/tests/browser/webrtc.js

dmz_cleanup() {
    cleanup                     # lib.sh: our processes, $NS_E, $NS_O, $WORK
    ip netns del "$NS_I" 2>/dev/null
    ip netns del "$NS_F" 2>/dev/null
    rm -rf "/etc/netns/$NS_O" "/etc/netns/$NS_I"
}
trap dmz_cleanup EXIT
in_i() { ip netns exec "$NS_I" "$@"; }
in_f() { ip netns exec "$NS_F" "$@"; }

# ---- network -------------------------------------------------------------------------
for ns in "$NS_E" "$NS_O" "$NS_I" "$NS_F"; do
    ip netns add "$ns" || { notok "create namespaces"; exit 1; }
    ip -n "$ns" link set lo up
done
ip link add cwx$$ netns "$NS_E" type veth peer name cwo$$ netns "$NS_O"    # edge external
ip link add cwi$$ netns "$NS_E" type veth peer name cwn$$ netns "$NS_I"    # edge internal
ip link add cwf$$ netns "$NS_E" type veth peer name cwg$$ netns "$NS_F"    # edge behind the NAT
ip link add cwp$$ netns "$NS_F" type veth peer name cwq$$ netns "$NS_O"    # the NAT's public side
ip -n "$NS_E" addr add $EXT/24 dev cwx$$
ip -n "$NS_E" addr add $INT/24 dev cwi$$
ip -n "$NS_E" addr add $NATEXT/24 dev cwf$$
ip -n "$NS_O" addr add $GUEST/24 dev cwo$$
for a in $CORE $WB $IDNS; do ip -n "$NS_I" addr add $a/24 dev cwn$$; done
ip -n "$NS_F" addr add $FWE/24 dev cwg$$
ip -n "$NS_F" addr add $PUB/32 dev cwp$$
ip -n "$NS_E" link set cwx$$ up; ip -n "$NS_E" link set cwi$$ up; ip -n "$NS_E" link set cwf$$ up
ip -n "$NS_O" link set cwo$$ up; ip -n "$NS_O" link set cwq$$ up
ip -n "$NS_I" link set cwn$$ up
ip -n "$NS_F" link set cwg$$ up; ip -n "$NS_F" link set cwp$$ up
ip -n "$NS_F" route add 203.0.113.0/24 dev cwp$$
ip -n "$NS_O" route add $PUB/32 dev cwq$$
in_e sysctl -qw net.ipv4.ip_forward=0
in_f sysctl -qw net.ipv4.ip_forward=1
# What leaves the edge from its NATed address goes back through the firewall.
ip -n "$NS_E" rule add from $NATEXT table 100
ip -n "$NS_E" route add default via $FWE table 100
# The firewall: a static 1:1 NAT, ports unchanged.
in_f nft -f - <<NFT || notok "the firewall's NAT rules"
table ip cwnat {
    chain pre { type nat hook prerouting priority dstnat; ip daddr $PUB dnat to $NATEXT; }
    chain post { type nat hook postrouting priority srcnat; ip saddr $NATEXT snat to $PUB; }
}
NFT
# The inside's firewall: nothing from the DMZ (or through it) opens a connection inwards.
in_i nft -f - <<NFT || notok "the inside's firewall rules"
table inet cwin {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "cwn$$" ct state established,related accept
        iifname "cwn$$" counter drop
    }
}
NFT
# The most an attacker on the edge's external segment can do: route the
# inside network through the edge.
ip -n "$NS_O" route add 198.18.0.0/24 via $EXT
mkdir -p "/etc/netns/$NS_O" "/etc/netns/$NS_I"     # ip netns exec bind-mounts these over /etc
printf 'nameserver %s\noptions timeout:1 attempts:2\n' $ODNS > "/etc/netns/$NS_O/resolv.conf"
printf 'nameserver %s\noptions timeout:1 attempts:2\n' $IDNS > "/etc/netns/$NS_I/resolv.conf"
for ns in "$NS_O" "$NS_I"; do printf '127.0.0.1 localhost\n' > "/etc/netns/$ns/hosts"; done
chmod 755 "$WORK"

# ---- certificates and secrets ----------------------------------------------------------
{ cert_ca "$WORK" "Causeway Test CA" && cert_leaf "$WORK" $J; } ||
    { notok "make certificates"; cat "$WORK/openssl.log"; exit 1; }
SPKI=$(spki_of "$WORK/$J.pem")
(umask 077; openssl rand -hex 24 > "$WORK/turn.secret")     # the TURN REST secret, shared with the webbridge

# ---- DNS: the outside view and the inside view of join.example.test --------------------
printf '%s %s\n%s turn.example.test\n' $EXT $J $EXT > "$WORK/outside.hosts"
bg "$NS_O" "$WORK/dnsmasq-o.out" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=$ODNS --bind-interfaces --pid-file= --user=root --local=/example.test/ \
    --addn-hosts="$WORK/outside.hosts" --log-queries --log-facility="$WORK/dnsmasq-o.log"
ODNS_PID=$BGPID
bg "$NS_I" "$WORK/dnsmasq-i.out" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=$IDNS --bind-interfaces --pid-file= --user=root --local=/example.test/ \
    --host-record=$J,$WB --log-queries --log-facility="$WORK/dnsmasq-i.log"

# ---- the webbridge and the call bridge's browser (inside) ----------------------------------
bg "$NS_I" "$WORK/webbridge.log" $PY "$TOP/tests/tools/webbridge.py" \
    --https $WB:443 --cert "$WORK/$J.pem" --key "$WORK/$J.key" \
    --turn-secret-file "$WORK/turn.secret" \
    --guest-turn "turn:turn.example.test:3478?transport=udp" --bridge-turn "turn:$INT:3478?transport=udp"
eventually 10 tcp_open "$NS_I" $WB 443 || notok "the webbridge listens on $WB:443"

# ---- the edge ---------------------------------------------------------------------------
# edge_conf_dmz EXTERNAL [PUBLIC]: the edge's configuration, its external
# NIC's address, and with PUBLIC the static NAT's address.
edge_conf_dmz() {
    cat > "$WORK/edge.conf" <<CONF
[edge]
control-socket = $WORK/edge.sock
log-level = info
[turn]
listen = $1:3478
listen = $INT:3478
relay-address = $1
${2:+public-address = $2}
realm = example.test
rest-secret-file = $WORK/turn.secret
[tunnel]
listen = $INT:2222
state-dir = $WORK/edge-tunnel
permit-listen = 127.0.0.1:$LINKPORT
[webproxy]
listen = $1:443
http-listen = $1:80
certificate = $WORK/$J.pem $WORK/$J.key
host = $J 127.0.0.1:$LINKPORT
access-log = $WORK/access.log
CONF
}
edge_conf_dmz $EXT
start_edge "$WORK/edge.conf"

# ---- the core, paired as an administrator does it ---------------------------------------------
cat > "$WORK/core.conf" <<CONF
$(core_section core1)
[dns]
server = $IDNS
timeout = 500
[tunnel]
edge = $INT
guest-uri = $J
webbridge-ca = $WORK/ca.pem
edge-port = $LINKPORT
CONF
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
pair_core "$WORK/core.conf" $INT
bg "$NS_I" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
tunnel_active() { cwc tunnel status 2>/dev/null | grep -q ' Active '; }
link_up() { cw webproxy status 2>/dev/null | grep -q "127.0.0.1:$LINKPORT: up"; }

# ---- the rig: only the deployment's flows ----------------------------------------------------
check "the dmz does not forward packets (ip_forward 0)" test "$(in_e cat /proc/sys/net/ipv4/ip_forward)" = 0
check "the core's tunnel to the edge is Active" eventually 15 tunnel_active
check "the web proxy's link to the core is up" eventually 10 link_up
check "the inside reaches the edge's tunnel port and TURN (TCP)" \
    sh -c "ip netns exec $NS_I timeout 3 bash -c 'exec 3<>/dev/tcp/$INT/2222' && ip netns exec $NS_I timeout 3 bash -c 'exec 3<>/dev/tcp/$INT/3478'"
check "the outside reaches the edge's 443 and 3478 (TCP)" \
    sh -c "ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$EXT/443' && ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$EXT/3478'"
check "the outside cannot reach the inside directly (webbridge 443, core), even routed via the edge" \
    sh -c "! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$WB/443' 2>/dev/null &&
           ! ip netns exec $NS_O ping -c 1 -W 1 $CORE > /dev/null 2>&1"
check "the DMZ cannot open a connection into the inside (webbridge 443)" \
    sh -c "! ip netns exec $NS_E timeout 3 bash -c 'exec 3<>/dev/tcp/$WB/443' 2>/dev/null"
check "the outside DNS says $J is the edge ($EXT)" \
    sh -c "ip netns exec $NS_O getent ahostsv4 $J | grep -q '^$EXT '"
check "the inside DNS says $J is the webbridge ($WB)" \
    sh -c "ip netns exec $NS_I getent ahostsv4 $J | grep -q '^$WB '"
check "the core resolved the guest account client URI in the inside DNS" \
    eventually 10 sh -c "'$BIN/causeway' -c '$WORK/core.conf' tunnel status | grep -A1 'resolved to the following' | grep -q '$WB'"
check "http://$J/ on the edge redirects to https" \
    sh -c "ip netns exec $NS_O curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://$J/ | grep -q '^301 https://$J/'"
check "a curl guest gets the meeting page through proxy and tunnel" \
    sh -c "ip netns exec $NS_O curl -sS --max-time 10 --cacert '$WORK/ca.pem' https://$J/guest.html | grep -q 'Causeway test meeting'"

# ---- a meeting: the call bridge's page inside, the guest's page outside -----------------------
# bridge ROOM: the call bridge's media end joins ROOM from the inside
# (directly to the webbridge, TURN on the edge's internal address), and
# stays until stopped; its PID in BRIDGE.
bridge() {
    bg "$NS_I" "$WORK/bridge-$1.out" env HOME="$WORK" HOLD=1 node "$WEBRTC" \
        "https://$J/bridge.html?room=$1&policy=relay" 60000 "--ignore-certificate-errors-spki-list=$SPKI"
    BRIDGE=$BGPID
}
# guest NAME ROOM TRANSPORT [QUERY]: the guest joins ROOM from the outside
# over TURN/TRANSPORT (QUERY: more of the page's parameters); the driver's output in $WORK/guest-NAME.out. While the
# call is up, `causeway turn list` and `turn status` go to $WORK/turn-NAME.txt.
guest() {
    local name=$1 room=$2 tr=$3 g
    bg "$NS_O" "$WORK/guest-$name.out" env HOME="$WORK" HOLD=1 node "$WEBRTC" \
        "https://$J/guest.html?room=$room&transport=$tr&n=50${4:+&$4}" 60000 "--ignore-certificate-errors-spki-list=$SPKI"
    g=$BGPID
    wait_line "$WORK/guest-$name.out" '^RESULT ' 70 "$g"
    { cw turn list; cw turn status; } > "$WORK/turn-$name.txt" 2>&1
    stop_pid "$g"
}
stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; unlist "$1"; }
# result NAME FIELD: a field of the guest's RESULT (pair.local, ok, ...).
result() {
    grep '^RESULT ' "$WORK/guest-$1.out" | tail -n 1 | cut -c8- |
        $PY -c 'import json, sys
r = json.load(sys.stdin)
for k in sys.argv[1].split("."): r = (r or {}).get(k)
print(r)' "$2" 2>/dev/null
}
# joined NAME RELAY_ADDRESS TRANSPORT: the checks every scenario makes.
joined() {
    local name=$1 relay=$2 tr=$3
    check "$name: the guest's data channel carried messages both ways" \
        test "$(result "$name" ok)" = True
    check "$name: the guest's selected pair is its relay on the edge ($relay, TURN over $tr)" \
        sh -c "test '$(result "$name" pair.local)' = relay &&
               test '$(result "$name" pair.localRelayProto)' = $tr &&
               case '$(result "$name" pair.localAddr)' in $relay:*) true;; *) false;; esac"
    check "$name: causeway turn list showed the guest's allocation ($GUEST, $tr) during the call" \
        grep -Eq "^[^ ]+ +$tr +$GUEST:[0-9]+ " "$WORK/turn-$name.txt"
    if [ "$(result "$name" ok)" != True ]; then
        note "$name: $(grep '^RESULT ' "$WORK/guest-$name.out" | tail -n 1 | cut -c1-600)"
        note "$name: bridge: $(tail -n 3 "$WORK/bridge-$name.out" 2>/dev/null | tr '\n' ' ' | cut -c1-600)"
    fi
}

# 1. A guest over TURN/UDP, with a (fake) microphone: audio flows both ways too.
bridge udp
guest udp udp udp audio=1
joined udp $EXT udp
check "udp: audio crossed both ways (RTP bytes received by the guest and by the call bridge)" \
    sh -c "test '$(result udp audio.received_bytes)' -gt 0 && test '$(result udp audio.bridge_received_bytes)' -gt 0"
check "udp: causeway turn status counted the two relays (guest and call bridge)" \
    grep -Eq '^  Active relays: ([2-9]|[1-9][0-9])' "$WORK/turn-udp.txt"
check "udp: the page and the signalling came through the proxy (access log: guest.html 200, the WebSocket 101)" \
    eventually 5 sh -c "grep -q '$GUEST .*GET /guest.html[^\"]* HTTP/1.1\" 200' '$WORK/access.log' &&
           grep -q '$GUEST .*GET /ws?[^\"]*role=guest[^\"]* HTTP/1.1\" 101' '$WORK/access.log'"
check "udp: ... and the webbridge saw them arrive from the core (the tunnel), not from the guest" \
    sh -c "grep -q 'guest' '$WORK/webbridge.log' && grep 'role=guest' '$WORK/webbridge.log' | grep -q '$CORE' &&
           ! grep -q '$GUEST' '$WORK/webbridge.log'"
check "udp: ... over HTTPS (the core checked the webbridge's certificate for $J)" \
    sh -c "grep 'role=guest' '$WORK/webbridge.log' | grep -q ' https $CORE:' &&
           ! grep -q ' http $CORE:' '$WORK/webbridge.log'"
stop_pid "$BRIDGE"

# 2. A guest over TURN/TCP.
bridge tcp
guest tcp tcp tcp
joined tcp $EXT tcp
stop_pid "$BRIDGE"

# 3. The tunnel cut (the inside's link to the DMZ down) and restored; a new guest joins.
ip -n "$NS_I" link set cwn$$ down
check "cut: the core sees the tunnel down" eventually 15 sh -c "! '$BIN/causeway' -c '$WORK/core.conf' tunnel status | grep -q ' Active '"
# The edge's sshd drops the dead connection after [tunnel] core-timeout
# (8 s; its checks every 2 s made it up to 12 s here), and with it the
# forward that the proxy's link used.
check "cut: the edge sees the link down" eventually 60 sh -c "! '$BIN/causeway' -s '$WORK/edge.sock' webproxy status | grep -q '$LINKPORT: up'"
code=$(in_o curl -s -o /dev/null -w '%{http_code}' --max-time 15 --cacert "$WORK/ca.pem" "https://$J/guest.html")
check "cut: a guest gets 502 from the proxy while the tunnel is down (got $code)" test "$code" = 502
ip -n "$NS_I" link set cwn$$ up
check "restored: the tunnel is Active again" eventually 30 tunnel_active
check "restored: the proxy's link is up again" eventually 15 link_up
bridge cut
guest cut cut udp
joined cut $EXT udp
stop_pid "$BRIDGE"

# 4. The edge behind a static NAT: it relays from 192.0.2.10 and tells
# clients 203.0.113.20; the outside DNS now names the public address.
stop_edge
edge_conf_dmz $NATEXT $PUB
printf '%s %s\n%s turn.example.test\n' $PUB $J $PUB > "$WORK/outside.hosts"
kill -HUP "$ODNS_PID"
start_edge "$WORK/edge.conf"
check "nat: the outside DNS says $J is the public address $PUB" \
    eventually 5 sh -c "ip netns exec $NS_O getent ahostsv4 $J | grep -q '^$PUB '"
back() { eventually 30 tunnel_active && eventually 15 link_up; }
check "nat: the tunnel and the link come back to the restarted edge" back
check "nat: causeway turn status shows the advertised address" \
    sh -c "'$BIN/causeway' -s '$WORK/edge.sock' turn status | grep -q 'Advertised (static NAT): $PUB'"
bridge nat
guest nat nat udp
joined nat $PUB udp
stop_pid "$BRIDGE"

check "the edge's log has no error lines" sh -c "! grep -E '^[^ ]+ (error|crit|fatal) ' '$WORK'/edge*.log"
[ "$NFAIL" = 0 ] || { note "edge log:"; tail -n 20 "$WORK/edge.log" | sed 's/^/#   /'; }
exit 0
