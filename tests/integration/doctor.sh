#!/usr/bin/env bash
# doctor.sh - `causeway doctor` on both sides of a DMZ deployment in network
# namespaces: first healthy (exit 0, every check ok or a justified skip),
# then each fault made on purpose, its finding seen, and mended.
#
#   outside ($NS_O)  the external DNS 203.0.113.53 (dnsmasq): join.example.test
#                    and edge.ours.example are the edge's 203.0.113.10,
#                    _xmpp-server._tcp.ours.example -> edge.ours.example:5269.
#   dmz ($NS_E)      causeway-edge: external 203.0.113.10 (web proxy 443, TURN
#                    3478, federation 5269), internal 198.18.0.1 (sshd 2222,
#                    TURN 3478).
#   inside ($NS_I)   causeway-core 198.18.0.2 (c2s 5222, components 5223, the
#                    tunnel holding 127.0.0.1:18443 on the edge); the inside
#                    DNS 198.18.0.53 (dnsmasq): join.example.test is the
#                    webbridge stand-in 198.18.0.3:8080 (python3 http.server),
#                    _xmpp-client / _xmpp-component SRV -> core1.ours.example.
#
# dnsmasq reads SRV records only at start: a record is changed by writing
# its configuration file again and starting it anew (by its PID).
. "$(dirname "$0")/lib.sh"
need_root
PY=/usr/bin/python3
for t in dnsmasq nft openssl; do
    command -v "$t" > /dev/null || { notok "$t is not installed (make deps)"; exit 1; }
done

NS_I=cwI$$
EXT=203.0.113.10 ODNS=203.0.113.53 INT=198.18.0.1 CORE=198.18.0.2 WB=198.18.0.3 IDNS=198.18.0.53
J=join.example.test D=ours.example
LINKPORT=18443

doc_cleanup() {
    cleanup                     # lib.sh: our processes, $NS_E, $NS_O, $WORK
    ip netns del "$NS_I" 2>/dev/null
}
trap doc_cleanup EXIT
in_i() { ip netns exec "$NS_I" "$@"; }

# ---- network ----------------------------------------------------------------------------
for ns in "$NS_E" "$NS_O" "$NS_I"; do
    ip netns add "$ns" || { notok "create namespaces"; exit 1; }
    ip -n "$ns" link set lo up
done
ip link add cwx$$ netns "$NS_E" type veth peer name cwo$$ netns "$NS_O"
ip link add cwi$$ netns "$NS_E" type veth peer name cwn$$ netns "$NS_I"
ip -n "$NS_E" addr add $EXT/24 dev cwx$$
ip -n "$NS_E" addr add $INT/24 dev cwi$$
ip -n "$NS_O" addr add $ODNS/24 dev cwo$$
for a in $CORE $WB $IDNS; do ip -n "$NS_I" addr add $a/24 dev cwn$$; done
for l in "$NS_E cwx$$" "$NS_E cwi$$" "$NS_O cwo$$" "$NS_I cwn$$"; do
    set -- $l; ip -n "$1" link set "$2" up
done
in_e sysctl -qw net.ipv4.ip_forward=0

# ---- certificates: a test CA; leaves valid for 90 days ------------------------------------
leaf() { # leaf NAME DAYS SAN OUT: OUT.pem and OUT.key from the CA
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$WORK/$4.key" -out "$WORK/$4.csr" >> "$WORK/openssl.log" 2>&1 &&
    openssl x509 -req -in "$WORK/$4.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
        -days "$2" -extfile <(printf 'subjectAltName=%s\n' "$3") -out "$WORK/$4.pem" \
        >> "$WORK/openssl.log" 2>&1
}
{ openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 -subj "/CN=Doctor CA" \
      -keyout "$WORK/ca.key" -out "$WORK/ca.pem" >> "$WORK/openssl.log" 2>&1 &&
  leaf $J 90 "DNS:$J" web && leaf $D 90 "DNS:$D,DNS:cb1.$D" fed &&
  leaf other.example.test 90 "DNS:other.example.test" web-wrong &&
  leaf $J 3 "DNS:$J" web-soon && leaf turn.example.test 90 "DNS:turn.example.test" turn; } || { notok "make certificates"; cat "$WORK/openssl.log"; exit 1; }
cp "$WORK/web.pem" "$WORK/web-good.pem"; cp "$WORK/web.key" "$WORK/web-good.key"
head -c 32 /dev/urandom > "$WORK/link.key"
chmod 600 "$WORK"/*.key

# ---- DNS ------------------------------------------------------------------------------------
# odns_conf / idns_conf write the two views; dns_start NS ADDR NAME (re)starts one.
odns_conf() { # [HOSTADDR_OF_J] [SRV?]
    { echo "host-record=$J,${1:-$EXT}"; echo "host-record=edge.$D,$EXT"
      [ "${2:-srv}" = srv ] && echo "srv-host=_xmpp-server._tcp.$D,edge.$D,5269,0,5"
      echo "srv-host=_xmpp-server._tcp.cb1.$D,edge.$D,5269,0,5"; } > "$WORK/odns.conf"
}
idns_conf() { # [J's address] [client SRV port | none]
    { echo "host-record=$J,${1:-$WB}"; echo "host-record=core1.$D,$CORE"
      [ "${2:-5222}" != none ] && echo "srv-host=_xmpp-client._tcp.$D,core1.$D,${2:-5222},0,5"
      echo "srv-host=_xmpp-component._tcp.$D,core1.$D,5223,0,5"; } > "$WORK/idns.conf"
}
declare -A DNSPID
dns_start() { # NS ADDR NAME
    [ -n "${DNSPID[$3]:-}" ] && { kill "${DNSPID[$3]}" 2>/dev/null; wait "${DNSPID[$3]}" 2>/dev/null; unlist "${DNSPID[$3]}"; }
    bg "$1" "$WORK/dnsmasq-$3.out" dnsmasq --keep-in-foreground --conf-file="$WORK/$3.conf" --no-resolv \
        --no-hosts --listen-address="$2" --bind-interfaces --pid-file= --user=root --local=/example.test/ \
        --local=/$D/ --log-queries --log-facility="$WORK/dnsmasq-$3.log"
    DNSPID[$3]=$BGPID
    sleep 0.3
}
odns() { odns_conf "$@"; dns_start "$NS_O" $ODNS odns; }
idns() { idns_conf "$@"; dns_start "$NS_I" $IDNS idns; }
odns; idns

# ---- the webbridge stand-in -------------------------------------------------------------------
mkdir -p "$WORK/www"; echo hello > "$WORK/www/index.html"
bg "$NS_I" "$WORK/webbridge.log" $PY -m http.server 8080 --bind $WB --directory "$WORK/www"

# ---- the edge -------------------------------------------------------------------------------
cat > "$WORK/edge.conf" <<CONF
[edge]
control-socket = $WORK/edge.sock
log-level = info
[turn]
listen = $EXT:3478
listen = $INT:3478
tls-listen = $EXT:5349
tls-certificate = $WORK/turn.pem
tls-key = $WORK/turn.key
relay-address = $EXT
realm = example.test
user-db = $WORK/users
[tunnel]
listen = $INT:2222
state-dir = $WORK/edge-tunnel
permit-listen = 127.0.0.1:$LINKPORT
[webproxy]
listen = $EXT:443
certificate = $WORK/web.pem $WORK/web.key
host = $J 127.0.0.1:$LINKPORT
[federation]
listen = $EXT:5269
certificate = $WORK/fed.pem $WORK/fed.key
trust = $WORK/ca.pem
core = 127.0.0.1:$LINKPORT
link-key-file = $WORK/link.key
dns-server = $ODNS
CONF
touch "$WORK/users"
echo turn-pw-0123 | cw turn user add bridge --password-stdin > "$WORK/turnuser.out" 2>&1
start_edge "$WORK/edge.conf"

# ---- the core, paired ---------------------------------------------------------------------------
cat > "$WORK/core.conf" <<CONF
$(core_section core1)
[dns]
server = $IDNS
timeout = 500
[xmpp]
client-listen = $CORE:5222
component-listen = $CORE:5223
certificate = $WORK/fed.pem $WORK/fed.key
link-listen = 127.0.0.1:5289
link-key-file = $WORK/link.key
[tunnel]
edge = $INT
guest-uri = $J
webbridge-port = 8080
webbridge-tls = no
edge-port = $LINKPORT
keepalive-interval = 2
keepalive-count = 2
[turn]
server = $INT:3478
username = bridge
password = turn-pw-0123
interval = 0
timeout = 3000
CONF
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
pair_core "$WORK/core.conf" $INT
bg "$NS_I" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && break; sleep 0.1; done
cwc xmpp domain add $D > "$WORK/setup.out" 2>&1
cwc xmpp callbridge add-secret cb1 cb1-secret-0123 >> "$WORK/setup.out" 2>&1
tunnel_active() { cwc tunnel status 2>/dev/null | grep -q ' Active '; }
fed_linked() { cw xmpp federation status 2>/dev/null | grep -q "domains:.*$D"; }
check "the core's tunnel to the edge is Active" eventually 20 tunnel_active
check "the edge's federation gateway is linked to the core ($D)" eventually 20 fed_linked

# ---- running the doctor ----------------------------------------------------------------------
# edoc / cdoc [json]: runs it on that side; output in $WORK/{e,c}doc.out, the
# progress line in .err, the exit status in EDOC_RC / CDOC_RC.
edoc() { cw doctor "$@" > "$WORK/edoc.out" 2> "$WORK/edoc.err"; EDOC_RC=$?; }
cdoc() { cwc doctor "$@" > "$WORK/cdoc.out" 2> "$WORK/cdoc.err"; CDOC_RC=$?; }
# finding SIDE RESULT CHECK ERE: a finding of that result whose text matches ERE.
finding() {
    local tag
    case $2 in ok) tag='ok  ';; warn) tag=WARN;; fail) tag=FAIL;; skip) tag=skip;; esac
    grep -A1 -F "[$tag] $3 " "$WORK/$1doc.out" | grep -Eq -- "$4"
}
show() { sed 's/^/#   /' "$WORK/$1doc.out"; }
expect() { # expect SIDE RESULT CHECK ERE WHAT
    if finding "$1" "$2" "$3" "$4"; then ok "$5"; else notok "$5"; show "$1"; fi
}
no_fail() { ! grep -q '^\[FAIL\]' "$WORK/$1doc.out" && ! grep -q '^\[WARN\]' "$WORK/$1doc.out"; }

# ---- healthy -------------------------------------------------------------------------------
T0=$(date +%s)
edoc
check "healthy: edge doctor exits 0" test "$EDOC_RC" = 0
check "healthy: the progress line names the edge and the socket" \
    grep -q "^doctor: asking the edge on $WORK/edge.sock to check 5 things (up to 15 s)" "$WORK/edoc.err"
check "healthy: edge findings are all ok or skip" no_fail e
for c in certificates guest-uri.outside dns.srv tunnels listeners; do
    check "healthy: edge $c ok" finding e ok $c .
done
cdoc
check "healthy: core doctor exits 0" test "$CDOC_RC" = 0
check "healthy: core findings are all ok or skip" no_fail c
for c in dns.srv guest-uri.inside turn.credentials components.secrets tunnels firewall.inside-to-dmz; do
    check "healthy: core $c ok" finding c ok $c .
done
check "healthy: core turn.credentials: a relay with its rtt" finding c ok turn.credentials "relay allocated: $EXT:[0-9]+ .*rtt"
check "healthy: core firewall: UDP and TCP 3478 to the edge open" \
    sh -c "grep -q 'UDP $INT:3478 .*open' '$WORK/cdoc.out' && grep -q 'TCP $INT:3478 .*open' '$WORK/cdoc.out'"
check "healthy: core cluster.members skips (no [cluster])" finding c skip cluster.members 'no \[cluster\]'
[ "$EDOC_RC$CDOC_RC" = 00 ] || { show e; show c; }
note "healthy runs took $(( $(date +%s) - T0 )) s"

# ---- JSON: same findings ----------------------------------------------------------------------
json_same() { # SIDE
    local n
    "$BIN/causeway" -c "$WORK/$([ "$1" = e ] && echo edge || echo core).conf" doctor json \
        > "$WORK/$1doc.json" 2> /dev/null
    n=$(grep -c '^\[' "$WORK/$1doc.out")
    $PY - "$WORK/$1doc.json" "$n" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["doctor"]
f = d["findings"]
assert len(f) == int(sys.argv[2]), (len(f), sys.argv[2])
assert all(set(x) == {"check", "result", "seen", "fix"} for x in f)
assert d["failed"] == sum(x["result"] == "fail" for x in f)
PY
}
check "edge: doctor json parses and has the same findings" json_same e
check "core: doctor json parses and has the same findings" json_same c
check "the secret of cb1 appears in no finding" sh -c "! grep -q cb1-secret-0123 '$WORK/cdoc.out' '$WORK/cdoc.json'"

# ---- core dns.srv ------------------------------------------------------------------------------
idns "" none; cdoc
check "no _xmpp-client SRV: core doctor exits 1" test "$CDOC_RC" = 1
expect c fail dns.srv "_xmpp-client._tcp.$D. SRV 0 0 5222 core1.$D." "no _xmpp-client SRV: the record to add"
idns "" 5299; cdoc
expect c fail dns.srv "_xmpp-client._tcp.$D -> core1.$D:5299.*does not answer" "SRV at a dead port: found"
idns; cdoc
check "SRV mended: core dns.srv ok again" sh -c "! grep -q '^\[FAIL\] dns.srv' '$WORK/cdoc.out'"

# ---- guest-uri inside and outside ----------------------------------------------------------------
idns 198.18.0.99; cdoc
expect c fail guest-uri.inside "$J.*198.18.0.99.*does not answer" "guest URI inside elsewhere: found"
expect c fail guest-uri.inside "Bad Request" "guest URI inside elsewhere: the fix names \"Bad Request\""
idns
odns $WB; edoc
check "guest host outside points at the webbridge: edge doctor exits 1" test "$EDOC_RC" = 1
expect e fail guest-uri.outside "$J.*$WB, which is not this edge" "guest host outside elsewhere: found"
expect e fail guest-uri.outside "Bad Request" "guest host outside elsewhere: the fix names \"Bad Request\""

# ---- edge dns.srv ------------------------------------------------------------------------------
odns "" nosrv; edoc
expect e fail dns.srv "_xmpp-server._tcp.$D. SRV 0 0 5269" "no _xmpp-server SRV: the record to add"
odns; edoc
check "outside DNS mended: edge doctor exits 0" test "$EDOC_RC" = 0

# ---- certificates --------------------------------------------------------------------------------
cp "$WORK/web-wrong.pem" "$WORK/web.pem"; cp "$WORK/web-wrong.key" "$WORK/web.key"; edoc
expect e fail certificates "no web proxy certificate names guest host $J" "certificate without the guest host: found"
expect e fail certificates "Not secure" "certificate without the guest host: \"Not secure\" named"
expect e ok certificates "TURN TLS certificate $WORK/turn.pem \\(turn.example.test\\) valid until" "TURN's TLS certificate: checked too"
cp "$WORK/web-soon.pem" "$WORK/web.pem"; cp "$WORK/web-soon.key" "$WORK/web.key"; edoc
expect e warn certificates "expires on .* in [0-9] days" "certificate expiring in 3 days: warned"
check "a warning alone: edge doctor exits 0" test "$EDOC_RC" = 0
cp "$WORK/web-good.pem" "$WORK/web.pem"; cp "$WORK/web-good.key" "$WORK/web.key"

# ---- a call bridge connected while the doctor runs: not probed, not dropped ------------------------
# It holds a XEP-0114 connection and reports whether the server ended it.
in_i /usr/bin/python3 - "$CORE" cb1 cb1-secret-0123 "$WORK/cb1.ready" > "$WORK/cb1.out" 2>&1 <<'PY' &
import hashlib, re, socket, sys, time
host, comp, secret, ready = sys.argv[1:5]
s = socket.create_connection((host, 5223), 5)
s.sendall(("<stream:stream xmlns='jabber:component:accept' xmlns:stream="
           "'http://etherx.jabber.org/streams' to='%s'>" % comp).encode())
buf = b""
while b"id=" not in buf or b">" not in buf.split(b"id=", 1)[1]:
    buf += s.recv(4096)
sid = re.search(rb"id=['\"]([^'\"]+)", buf).group(1).decode()
s.sendall(("<handshake>%s</handshake>" % hashlib.sha1((sid + secret).encode()).hexdigest()).encode())
buf = b""
while b"<handshake/>" not in buf:
    buf += s.recv(4096)
open(ready, "w").write("up")
s.settimeout(20)
try:
    got = s.recv(4096)
    print("ended by the server:", got.decode(errors="replace") if got else "(closed)")
except socket.timeout:
    print("held")
PY
CB1_PID=$!
check "a call bridge cb1 connects and holds its connection" eventually 10 test -s "$WORK/cb1.ready"
cdoc
expect c ok components.secrets "call bridge cb1 is connected on this node .*not probed" \
    "cb1 connected: the doctor does not probe it, and says why"
wait "$CB1_PID"
check "... and cb1 kept its connection through the run (no conflict)" grep -qx held "$WORK/cb1.out"

# ---- TURN credentials, component secrets, cluster members ---------------------------------------
# The password changes on the edge: the core's [turn] password is wrong now.
echo another-pw-0123 | cw turn user add bridge --password-stdin > "$WORK/turnuser.out" 2>&1
cdoc
expect c fail turn.credentials "relay candidate creation timeout" "wrong TURN password: turn.credentials fails, the fix names the symptom"
expect c fail turn.credentials "turn.credentials +auth: " "wrong TURN password: the why says authentication"
check "the TURN password appears in no finding" sh -c "! grep -q turn-pw-0123 '$WORK/cdoc.out'"
echo turn-pw-0123 | cw turn user add bridge --password-stdin > "$WORK/turnuser.out" 2>&1
# UDP and TCP 3478 dropped between the inside and the DMZ.
in_e nft -f - <<NFT || notok "nft rule for 3478"
table inet cwdoc3478 {
    chain input {
        type filter hook input priority filter; policy accept;
        ip saddr $CORE udp dport 3478 drop
        ip saddr $CORE tcp dport 3478 drop
    }
}
NFT
cdoc
expect c fail firewall.inside-to-dmz "UDP $INT:3478 .*inside -> DMZ.*no answer" "3478 dropped: the firewall finding names UDP 3478 inside -> DMZ"
expect c fail firewall.inside-to-dmz "TCP $INT:3478 .*inside -> DMZ" "3478 dropped: and TCP 3478"
expect c fail turn.credentials "turn.credentials +no response: " "3478 dropped: turn.credentials fails"
in_e nft delete table inet cwdoc3478
cdoc
check "3478 open again: core doctor exits 0" test "$CDOC_RC" = 0

# ---- listeners: the web proxy's port dropped on the edge -----------------------------------------
in_e nft -f - <<NFT || notok "nft rule for 443"
table inet cwdoc443 {
    chain input {
        type filter hook input priority filter; policy accept;
        tcp dport 443 drop
    }
}
NFT
edoc
expect e fail listeners "web proxy \(HTTPS\) on $EXT:443 does not answer" "443 dropped: listener finding"
in_e nft delete table inet cwdoc443

# ---- the tunnel cut: TCP 2222 dropped between the inside and the DMZ -------------------------------
in_e nft -f - <<NFT || notok "nft rule for 2222"
table inet cwdoc2222 {
    chain input {
        type filter hook input priority filter; policy accept;
        tcp dport 2222 drop
    }
}
NFT
tunnel_down() { ! tunnel_active; }
check "2222 dropped: the core sees its tunnel go down" eventually 20 tunnel_down
edoc_no_core() { edoc; finding e fail tunnels "no core is connected"; }
# The edge's sshd drops a silent core after [tunnel] core-timeout (8 s).
if eventually 30 edoc_no_core; then ok "2222 dropped: edge tunnels fails (no core connected)"; else notok "2222 dropped: edge tunnels fails (no core connected)"; show e; fi
cdoc
expect c fail tunnels "tunnel to $INT:2222 is down" "2222 dropped: core tunnels fails with the reason"
expect c fail firewall.inside-to-dmz "TCP $INT:2222 .*inside -> DMZ" "2222 dropped: the firewall finding names the port and direction"
in_e nft delete table inet cwdoc2222
check "2222 open again: the tunnel comes back" eventually 40 tunnel_active
check "and the federation link" eventually 20 fed_linked
edoc; cdoc
check "all mended: edge doctor exits 0" test "$EDOC_RC" = 0
check "all mended: core doctor exits 0" test "$CDOC_RC" = 0
[ "$EDOC_RC$CDOC_RC" = 00 ] || { show e; show c; }

# ---- a two-node cluster inside: call bridge secrets on every node, a stale member ---------------
openssl rand -hex 32 > "$WORK/cluster.key"; chmod 600 "$WORK/cluster.key"
for n in 1 2; do
    in_i ip addr add 198.18.0.1$n/32 dev lo
    cat > "$WORK/node$n.conf" <<CONF
[core]
name = node$n
control-socket = $WORK/node$n.sock
log-file = $WORK/core-node$n.log
state-dir = $WORK/node$n-state
[xmpp]
client-listen = 198.18.0.1$n:5222
component-listen = 198.18.0.1$n:5223
certificate = $WORK/fed.pem $WORK/fed.key
[cluster]
address = 198.18.0.1$n:4000
key-file = $WORK/cluster.key
election-timeout = 1000
heartbeat = 100
CONF
    bg "$NS_I" "$WORK/node$n.out" "$BIN/causeway-core" -c "$WORK/node$n.conf"
    eval "NODE${n}_PID=$BGPID"
    for _ in $(seq 1 50); do "$BIN/causeway" -c "$WORK/node$n.conf" version > /dev/null 2>&1 && break; sleep 0.1; done
done
cwn() { local n=$1; shift; "$BIN/causeway" -c "$WORK/node$n.conf" "$@"; }
leader1() { cwn 1 xmpp cluster status 2>/dev/null | grep -q '^State: LEADER'; }
two_voters() { [ "$(cwn 1 xmpp cluster status 2>/dev/null | grep -c ' voter')" = 2 ]; }
{ cwn 1 xmpp cluster initialize && eventually 10 leader1 && cwn 2 xmpp cluster join 198.18.0.11:4000 &&
  eventually 10 two_voters && cwn 1 xmpp callbridge add-secret cb9 cb9-secret-0123; } > "$WORK/cluster.out" 2>&1
check "a two-node cluster with call bridge cb9" two_voters
cb9_on2() { cwn 2 xmpp callbridge list 2>/dev/null | grep -qx cb9; }
check "cb9 is applied on node2 too" eventually 10 cb9_on2
ndoc() { cwn 1 doctor > "$WORK/ndoc.out" 2> /dev/null; NDOC_RC=$?; }
ndoc
check "cluster: the doctor on node1 exits 0" test "$NDOC_RC" = 0
expect n ok components.secrets "cb9: the handshake .* on node node1" "cluster: cb9's handshake on node1"
expect n ok components.secrets "cb9: the handshake .* on node node2 \\(198.18.0.12:5223\\)" "cluster: cb9's handshake on node2"
expect n ok cluster.members "member node2 \\(id [0-9]+, 198.18.0.12:4000.*answers" "cluster: node2 answers"
# node2 stops: a stale member, and no handshake there.
kill "$NODE2_PID"; wait "$NODE2_PID" 2>/dev/null; unlist "$NODE2_PID"
ndoc
check "cluster, node2 stopped: the doctor on node1 exits 1" test "$NDOC_RC" = 1
expect n fail cluster.members "member node2 .* does not answer" "node2 stopped: stale member found"
expect n fail cluster.members "causeway xmpp cluster remove node2" "node2 stopped: the fix names the remove command"
expect n fail components.secrets "cb9: no handshake on node node2" "node2 stopped: no handshake there"
check "the secret of cb9 appears in no finding" sh -c "! grep -q cb9-secret-0123 '$WORK/ndoc.out'"
note "whole test: $(( $(date +%s) - T0 )) s after the rig was up"
exit 0
