#!/usr/bin/env bash
# status.sh - the status document and the fault conditions on a real edge
# and core joined by the SSH tunnel: `causeway status` (text and JSON) has
# every section with what an operator reads first (TURN listeners and
# allocations, the tunnel's Target/Domain/Status/since, the guest account
# client URI and what it resolved to, the web proxy's hosts and
# certificates, the XMPP service, call bridges and cluster); faults are
# raised with a time and cleared with a time: a certificate that does not
# name a configured host, a guest URI that does not resolve inside, and the
# tunnel cut (the edge sees its link down; the core sees its tunnel
# failing), each cleared again when mended. Metrics count active faults.
#
# Namespaces: the edge ($NS_E: TURN on $E4:3478, the proxy on $E4:443,
# sshd on $E4:2222) and the inside ($NS_O: the core; a webbridge stand-in
# on 127.0.0.1:18090; no DNS server, so a guest URI by name cannot resolve).
. "$(dirname "$0")/lib.sh"
need_root
net_setup

J=join.example.test
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$J" \
    -addext "subjectAltName=DNS:$J" -keyout "$WORK/join.key" -out "$WORK/join.pem" \
    > "$WORK/openssl.log" 2>&1 || notok "openssl"
: > "$WORK/users"
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $WORK/edge-tunnel
permit-listen = 127.0.0.1:18443
permit-listen = 127.0.0.1:18444
[webproxy]
listen = $E4:443
certificate = $WORK/join.pem $WORK/join.key
host = $J 127.0.0.1:18443
host = other.example.test 127.0.0.1:18443
[edge]
io-uring = no
CONF
start_edge "$WORK/edge.conf"

cat > "$WORK/core.conf" <<CONF
$(core_section core1)
io-uring = no
[dns]
server = 127.0.0.1:5399
[tunnel]
edge = $E4
guest-uri = 127.0.0.1
webbridge-port = 18090
webbridge-tls = no
edge-port = 18443
[tunnel]
edge = $E4
guest-uri = webbridge.inside.test
webbridge-port = 18090
webbridge-tls = no
edge-port = 18444
CONF
pair_core "$WORK/core.conf" "$E4"
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
# The second tunnel has the same edge: pair_core edited only the first.
awk -v hk="$(sed -n 's/^host-key = //p' "$WORK/core.conf" | head -1)" \
    -v u="$(sed -n 's/^user = //p' "$WORK/core.conf" | head -1)" '
    /^guest-uri = webbridge.inside.test$/ { print; print "host-key = " hk; print "user = " u; next } { print }' \
    "$WORK/core.conf" > "$WORK/core.conf.new" && mv "$WORK/core.conf.new" "$WORK/core.conf"
bg "$NS_O" "$WORK/webbridge.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 18090 --directory "$WORK"
start_core() {
    bg "$NS_O" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
    CORE_PID=$BGPID
    for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && return 0; sleep 0.1; done
    notok "causeway-core started"; cat "$WORK/core.out" "$WORK/core.log"; exit 1
}
start_core


tunnel_active() { cwc status tunnels json > "$WORK/t.json" 2>&1 && py 'd["tunnels"]["list"][0]["status"] == "Active"' "$WORK/t.json"; }
check "the core's tunnel comes up (status tunnels: Active)" eventually 30 tunnel_active

# ---- the edge's document ---------------------------------------------------------
cw status json > "$WORK/edge.json" 2>&1 || notok "causeway status json on the edge"
check "the edge's JSON has system, faults, turn, tunnel, webproxy and federation sections" \
    py 'all(k in d for k in ("system","faults","turn","tunnel","webproxy","federation"))' "$WORK/edge.json"
check "... TURN: its listener and relay address" \
    py 'd["turn"]["listening"] == "'$E4':3478 (udp, tcp)" and d["turn"]["relay_addresses"] == "'$E4'"' "$WORK/edge.json"
check "... tunnel: sshd running, one trusted core" \
    py 'd["tunnel"]["sshd"] == "running" and len(d["tunnel"]["trusted_cores"]) == 1' "$WORK/edge.json"
check "... web proxy: the hosts with their backend and whether the certificate names them" \
    py '[(h["host"], h["covered"][:2]) for h in d["webproxy"]["hosts"]] == [("'$J'","ye"),("other.example.test","NO")]' "$WORK/edge.json"
check "... web proxy: the certificate's names and days left" \
    py 'd["webproxy"]["certificates"][0]["names"] == "'$J'" and 28 <= d["webproxy"]["certificates"][0]["days_left"] <= 30' "$WORK/edge.json"
check "io-uring = no: the edge's JSON says its socket writes go one system call each" \
    py 'd["webproxy"]["socket_writes"] == "one system call each: off ([edge] io-uring = no)"' "$WORK/edge.json"
check "... and neither daemon logs a missing io_uring" \
    sh -c "! grep -q 'no io_uring' '$WORK/edge.log' '$WORK/core.log'"
link_up() { cw status webproxy json > "$WORK/l.json" 2>&1 && py 'd["webproxy"]["links"][0]["state"] == "up"' "$WORK/l.json"; }
check "... web proxy: the tunnel link to the core is up" eventually 20 link_up
check "... federation: not configured, state off" py 'd["federation"]["state"] == "off"' "$WORK/edge.json"

# ---- a fault the edge raises at once: a host no certificate names -------------------
check "the edge raises webproxy.certificate.other.example.test (no certificate names it)" \
    py 'any(f["id"] == "webproxy.certificate.other.example.test" and f["cleared"] is None and f["raised"] for f in d["faults"]["list"])' "$WORK/edge.json"
check "... with the fix in its text" grep -q 'get a certificate with other.example.test among its subjectAltNames' "$WORK/edge.json"
check "... logged once as a warning" \
    grep -q 'warn fault: raised webproxy.certificate.other.example.test: no certificate names other.example.test' "$WORK/edge.log"
check "... the system section says one fault is active and is in error" \
    py 'd["system"]["faults_active"] >= 1 and d["system"]["state"] == "error"' "$WORK/edge.json"
cw metrics prometheus > "$WORK/metrics.txt" 2>&1
check "... and metrics count it (causeway_faults_active)" grep -Eq '^causeway_faults_active [1-9]' "$WORK/metrics.txt"
cw status > "$WORK/edge.txt" 2>&1
check "the text rendering has the headings and the tables' columns" \
    sh -c "grep -q '^TURN server \[ok\]' '$WORK/edge.txt' && grep -q '^Web proxy \[' '$WORK/edge.txt' &&
           grep -q '    Host  *Backend  *Certificate covers it' '$WORK/edge.txt'"

# Mend it: a certificate for both names; `webproxy reload` clears the fault.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$J" \
    -addext "subjectAltName=DNS:$J,DNS:other.example.test" -keyout "$WORK/join.key" -out "$WORK/join.pem" \
    > "$WORK/openssl.log" 2>&1
cw webproxy reload > /dev/null 2>&1 || notok "webproxy reload"
cw faults json > "$WORK/f.json" 2>&1
check "after a certificate with the name and a reload, the fault is cleared, with its time" \
    py 'any(f["id"] == "webproxy.certificate.other.example.test" and f["cleared"] for f in d["faults"]["list"]) and not any(f["id"].startswith("webproxy.certificate") and f["cleared"] is None for f in d["faults"]["list"])' "$WORK/f.json"
check "... and the log says so" grep -q 'notice fault: cleared webproxy.certificate.other.example.test' "$WORK/edge.log"

# ---- the core's document ---------------------------------------------------------
cwc status json > "$WORK/core.json" 2>&1 || notok "causeway status json on the core"
check "the core's JSON has system, faults, tunnels, guest_uri, xmpp sections" \
    py 'all(k in d for k in ("system","faults","tunnels","guest_uri","xmpp"))' "$WORK/core.json"
check "... tunnels: Target, Domain, Status, since" \
    py 'd["tunnels"]["list"][0]["target"].startswith("'$E4'") and d["tunnels"]["list"][0]["domain"] == "127.0.0.1" and d["tunnels"]["list"][0]["since"]' "$WORK/core.json"
check "... tunnels: io-uring = no, writes to the inside targets one system call each" \
    py 'd["tunnels"]["socket_writes"] == "one system call each: off ([core] io-uring = no)"' "$WORK/core.json"
check "... guest URI: what 127.0.0.1 resolved to" \
    py 'd["guest_uri"]["list"][0]["addresses"].startswith("127.0.0.1:18090")' "$WORK/core.json"
guest_fault() { cwc faults json > "$WORK/cf.json" 2>&1 && py 'any(f["id"] == "guest-uri.webbridge.inside.test" and f["cleared"] is None for f in d["faults"]["list"])' "$WORK/cf.json"; }
check "a guest URI the inside DNS cannot answer raises guest-uri.webbridge.inside.test" eventually 20 guest_fault
check "... its text says what record to add" grep -q 'add its A/AAAA record pointing at the webbridge' "$WORK/cf.json"
cwc status guest_uri > "$WORK/g.txt" 2>&1
check "... and the guest URI table shows the DNS fault" grep -Eq 'webbridge.inside.test +\(none\)' "$WORK/g.txt"
cwc metrics prometheus > "$WORK/core-metrics.txt" 2>&1
check "the core's metrics: tunnels up (causeway_tunnels_active) and faults" \
    sh -c "grep -q '^causeway_tunnels_active 2' '$WORK/core-metrics.txt' && grep -q '^# TYPE causeway_faults_active gauge' '$WORK/core-metrics.txt'"
cw metrics prometheus > "$WORK/metrics.txt" 2>&1
check "the edge's metrics: the web proxy's tunnel links up and requests" \
    sh -c "grep -q '^causeway_webproxy_links_up 1' '$WORK/metrics.txt' && grep -q '^causeway_webproxy_requests_total 0' '$WORK/metrics.txt'"
check "an unknown section is an error naming it" \
    sh -c "! '$BIN/causeway' -c '$WORK/core.conf' status nosuch > '$WORK/ns.txt' 2>&1 && grep -q 'no status section \"nosuch\"' '$WORK/ns.txt'"

# ---- the tunnel cut: both sides raise a fault, and clear it when it is back ---------
in_e nft add table inet cwcut 2>/dev/null
in_e nft add chain inet cwcut in '{ type filter hook input priority 0; }'
in_e nft add rule inet cwcut in tcp dport 2222 drop
link_fault() { cw faults json > "$WORK/ef.json" 2>&1 && py 'any(f["id"] == "tunnel.link.127.0.0.1:18443" and f["cleared"] is None for f in d["faults"]["list"])' "$WORK/ef.json"; }
core_fault() { cwc faults json > "$WORK/cf2.json" 2>&1 && py 'any(f["id"] == "tunnel.'$E4':2222/127.0.0.1" and f["cleared"] is None for f in d["faults"]["list"])' "$WORK/cf2.json"; }
check "with the tunnel cut, the core raises tunnel.$E4:2222/127.0.0.1 (guests get 502)" eventually 90 core_fault
check "... and the edge raises tunnel.link.127.0.0.1:18443" eventually 90 link_fault
check "... the edge's text names the forward and what to check" \
    grep -q 'no core holds the tunnel forward 127.0.0.1:18443' "$WORK/ef.json"
# While down, the link tries the forward again at least every 5 s; the fault
# is raised 20 s after it went down. 6 s later the link has tried again, and
# a try that is refused must not clear the fault.
sleep 6
check "... and it stays raised while the cut lasts (the link's next try does not clear it)" link_fault
in_e nft delete table inet cwcut
no_core_fault() { ! core_fault; }
no_link_fault() { ! link_fault; }
check "once the tunnel is back, the core clears its fault" eventually 60 no_core_fault
check "... and the edge clears its own" eventually 60 no_link_fault
exit $((NFAIL > 0))
