#!/usr/bin/env bash
# xmpp_federation.sh - XMPP federation (issue 7) end to end, in a two-NIC DMZ
# built from network namespaces: foreign Prosody servers on the internet talk
# s2s to causeway-edge, whose federation gateway carries the stanzas over
# the core's SSH tunnel to causeway-core's XMPP service inside.
#
#   outside ($NS_O)  the internet: dnsmasq 203.0.113.53 (SRV/A records),
#                    Prosody 0.12 (Debian) for foreign.example (.20, a
#                    certificate from the test CA: SASL EXTERNAL both ways,
#                    s2s_secure_auth), selfsigned.example (.21, self-signed:
#                    dialback) and wrongcert.example (.22, presents a
#                    certificate for other.example); nothing listens on .30
#                    (nosrv.example's A record) or .31 (refused.example's
#                    SRV target); raw hostile clients.
#   dmz ($NS_E)      causeway-edge: external 203.0.113.10 (s2s 5269, direct
#                    TLS 5270), internal 198.18.0.1 (sshd 2222); no forwarding.
#   inside ($NS_I)   causeway-core 198.18.0.2: c2s 5222, [xmpp] link-listen
#                    127.0.0.1:5289, a [tunnel] to the edge holding
#                    127.0.0.1:18443 there (the edge's [federation] core).
#
# Clients: tests/integration/fedc.py (slixmpp; each connection made in its
# own namespace). Our users alice@ours.example and bob@ours.example
# (`causeway xmpp user add`); jdoe1-3@foreign.example, sam@selfsigned.example
# (prosodyctl). The checks of the federation follow /tmp/fed/SPEC.md (log
# lines, `causeway xmpp federation status`) and xmpp/fedlink.h.
. "$(dirname "$0")/lib.sh"
need_root
PY=/usr/bin/python3
for t in prosody prosodyctl dnsmasq openssl setpriv; do
    command -v "$t" > /dev/null || { notok "$t is not installed (make deps)"; exit 1; }
done
$PY -c 'import slixmpp' 2> /dev/null || { notok "python3-slixmpp is not installed (make deps)"; exit 1; }
[ -x "$TOOLS/dnsq" ] || { notok "dnsq built (make build)"; exit 1; }

FEDC=$TOP/tests/integration/fedc.py
NS_I=cwI$$
EXT=203.0.113.10 INT=198.18.0.1 CORE=198.18.0.2
DNS=203.0.113.53 FOREIGN=203.0.113.20 SELF=203.0.113.21 WRONG=203.0.113.22
NOSRV=203.0.113.30 REFUSED=203.0.113.31 CLIENT=203.0.113.100
LINKPORT=18443
T0=$(date +%s)

fed_cleanup() {
    cleanup                     # lib.sh: our processes, $NS_E, $NS_O, $WORK
    ip netns del "$NS_I" 2>/dev/null
    rm -rf "/etc/netns/$NS_O"
}
trap fed_cleanup EXIT
in_i() { ip netns exec "$NS_I" "$@"; }
# tcp_open NS ADDR PORT: a TCP connection from NS to ADDR:PORT succeeds within 2 s.
tcp_open() { ip netns exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }
wait_tcp() { for _ in $(seq 1 100); do tcp_open "$@" && return 0; sleep 0.1; done; return 1; }
eventually() { local n=$1; shift; for _ in $(seq 1 $((n * 5))); do "$@" && return 0; sleep 0.2; done; return 1; }

# ---- network: outside | dmz (edge) | inside -----------------------------------------
ip netns add "$NS_E" && ip netns add "$NS_O" && ip netns add "$NS_I" || { notok "create namespaces"; exit 1; }
ip link add cwx$$ netns "$NS_E" type veth peer name cwo$$ netns "$NS_O"
ip link add cwi$$ netns "$NS_E" type veth peer name cwn$$ netns "$NS_I"
for ns in "$NS_E" "$NS_O" "$NS_I"; do ip -n "$ns" link set lo up; done
ip -n "$NS_E" addr add $EXT/24 dev cwx$$
ip -n "$NS_E" addr add $INT/24 dev cwi$$
# $CLIENT first: the source address of what the outside sends without choosing one.
for a in $CLIENT $DNS $FOREIGN $SELF $WRONG $NOSRV $REFUSED; do ip -n "$NS_O" addr add $a/24 dev cwo$$; done
ip -n "$NS_I" addr add $CORE/24 dev cwn$$
ip -n "$NS_E" link set cwx$$ up; ip -n "$NS_E" link set cwi$$ up
ip -n "$NS_O" link set cwo$$ up; ip -n "$NS_I" link set cwn$$ up
in_e sysctl -qw net.ipv4.ip_forward=0
# The most an attacker on the edge's external segment can do: route the
# inside network through the edge.
ip -n "$NS_O" route add 198.18.0.0/24 via $EXT
mkdir -p "/etc/netns/$NS_O"       # ip netns exec bind-mounts these over /etc
printf 'nameserver %s\noptions timeout:1 attempts:2\n' $DNS > "/etc/netns/$NS_O/resolv.conf"
printf '127.0.0.1 localhost\n' > "/etc/netns/$NS_O/hosts"
chmod 755 "$WORK"                 # Prosody runs as the prosody user

# ---- certificates: a test CA; ours.example, foreign.example and other.example
# from it; selfsigned.example self-signed --------------------------------------------------
ossl() { openssl "$@" >> "$WORK/openssl.log" 2>&1; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Causeway Test CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem"
leaf() { # NAME: $WORK/NAME.pem, $WORK/NAME.key from the test CA
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$WORK/$1.key" -out "$WORK/$1.csr" &&
    ossl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
        -extfile <(printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$1") -out "$WORK/$1.pem"
}
leaf ours.example && leaf foreign.example && leaf other.example &&
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=selfsigned.example" \
    -addext "subjectAltName=DNS:selfsigned.example" -keyout "$WORK/selfsigned.example.key" \
    -out "$WORK/selfsigned.example.pem" || { notok "make certificates"; cat "$WORK/openssl.log"; exit 1; }
head -c 32 /dev/urandom > "$WORK/edge-link.key"
cp "$WORK/edge-link.key" "$WORK/core-link.key"
chmod 600 "$WORK"/*.key

# ---- outside DNS ----------------------------------------------------------------------
bg "$NS_O" "$WORK/dnsmasq.out" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=$DNS --bind-interfaces --port=53 --pid-file= --user=root --local=/example/ \
    --log-queries --log-facility="$WORK/dnsmasq.log" \
    --host-record=edge.ours.example,$EXT \
    --srv-host=_xmpp-server._tcp.ours.example,edge.ours.example,5269,0,5 \
    --srv-host=_xmpps-server._tcp.ours.example,edge.ours.example,5270,0,5 \
    --host-record=xmpp.foreign.example,$FOREIGN \
    --srv-host=_xmpp-server._tcp.foreign.example,xmpp.foreign.example,5269,0,5 \
    --host-record=xmpp.selfsigned.example,$SELF \
    --srv-host=_xmpp-server._tcp.selfsigned.example,xmpp.selfsigned.example,5269,0,5 \
    --host-record=xmpp.wrongcert.example,$WRONG \
    --srv-host=_xmpp-server._tcp.wrongcert.example,xmpp.wrongcert.example,5269,0,5 \
    --host-record=nosrv.example,$NOSRV \
    --host-record=xmpp.refused.example,$REFUSED \
    --srv-host=_xmpp-server._tcp.refused.example,xmpp.refused.example,5269,0,5

# ---- foreign servers: one Prosody per domain ----------------------------------------------
# prosody_conf DOMAIN ADDR CERTNAME SECURE_AUTH [EXTRA]: $WORK/DOMAIN/prosody.cfg.lua
prosody_conf() {
    local d=$1 dir=$WORK/$1
    mkdir -p "$dir/data" "$dir/certs"
    cp "$WORK/$3.pem" "$dir/certs/$d.crt"; cp "$WORK/$3.key" "$dir/certs/$d.key"
    cat > "$dir/prosody.cfg.lua" <<CONF
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
interfaces = { "$2" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix" }
modules_disabled = { "offline" }
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = $4
${5:-}
certificates = "$dir/certs"
log = { info = "$dir/prosody.log"; ${PROSODY_DEBUG:+debug = \"$dir/debug.log\";} }
VirtualHost "$d"
  ssl = { certificate = "$dir/certs/$d.crt"; key = "$dir/certs/$d.key"; ${6:-} }
CONF
    chown -R prosody:prosody "$dir"
}
prosody_conf foreign.example $FOREIGN foreign.example true \
    "s2s_insecure_domains = { \"selfsigned.example\" }
ssl = { cafile = \"$WORK/ca.pem\" }" "cafile = \"$WORK/ca.pem\";"
prosody_conf selfsigned.example $SELF selfsigned.example false
prosody_conf wrongcert.example $WRONG other.example false
regs=""
for u in foreign.example:jdoe1 foreign.example:jdoe2 foreign.example:jdoe3 selfsigned.example:sam; do
    prosodyctl --config "$WORK/${u%%:*}/prosody.cfg.lua" register "${u#*:}" "${u%%:*}" pw \
        > "$WORK/register-${u#*:}.log" 2>&1 &
    regs="$regs $!"
done
# shellcheck disable=SC2086
wait $regs || notok "prosodyctl register"
for d in foreign.example selfsigned.example wrongcert.example; do
    bg "$NS_O" "$WORK/$d/stdout.log" setpriv --reuid=prosody --regid=prosody --init-groups \
        prosody -F --config "$WORK/$d/prosody.cfg.lua"
done

# ---- the edge ---------------------------------------------------------------------------
ST=$WORK/edge-tunnel
cat > "$WORK/edge.conf" <<CONF
[edge]
control-socket = $WORK/edge.sock
log-level = info
[turn]
enabled = no
[tunnel]
listen = $INT:2222
state-dir = $ST
permit-listen = 127.0.0.1:$LINKPORT
[federation]
listen = $EXT:5269
tls-listen = $EXT:5270
certificate = $WORK/ours.example.pem $WORK/ours.example.key
trust = $WORK/ca.pem
core = 127.0.0.1:$LINKPORT
link-key-file = $WORK/edge-link.key
dns-server = $DNS
tls = required
auth = dialback
peer = foreign.example tls=required auth=certificate
peer = wrongcert.example tls=required auth=certificate
connect-timeout = 3s
idle-timeout = 10m
max-stanza = 65536
CONF
FED=1
if ! "$BIN/causeway-edge" -t -c "$WORK/edge.conf" > "$WORK/edge-t.out" 2>&1; then
    notok "causeway-edge accepts the spec's [federation] section: $(head -n 1 "$WORK/edge-t.out")"
    FED=0
    sed -i '/^\[federation\]$/,$d' "$WORK/edge.conf"     # the rig without it
fi
start_edge "$WORK/edge.conf"

# ---- the core -------------------------------------------------------------------------
cat > "$WORK/core.conf" <<CONF
[core]
name = core1
control-socket = $WORK/core.sock
log-file = $WORK/core.log
log-level = info
state-dir = $WORK/core-state
[xmpp]
client-listen = $CORE:5222
component-listen = 127.0.0.1:5223
certificate = $WORK/ours.example.pem $WORK/ours.example.key
link-listen = 127.0.0.1:5289
link-key-file = $WORK/core-link.key
[tunnel]
edge = $INT
guest-uri = 127.0.0.1
webbridge-port = 18080
edge-port = $LINKPORT
CONF
if ! "$BIN/causeway-core" -t -c "$WORK/core.conf" > "$WORK/core-t.out" 2>&1; then
    notok "causeway-core accepts the spec's [xmpp] link-listen and link-key-file: $(head -n 1 "$WORK/core-t.out")"
    FED=0
    sed -i '/^link-listen = /d; /^link-key-file = /d' "$WORK/core.conf"
fi
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
# Pairing as an administrator does it: tunnel pair on the core, tunnel trust on the edge.
cwc tunnel pair > "$WORK/pair.txt" 2>&1
eval "cw tunnel trust $(sed -n 's/^  causeway tunnel trust //p' "$WORK/pair.txt")" > "$WORK/trust.txt" 2>&1
hk=$(sed -n 's/^  host-key = //p' "$WORK/trust.txt")
user=$(sed -n 's/^  user = //p' "$WORK/trust.txt")
sed -i "s|^edge = $INT\$|edge = $INT\nhost-key = $hk\nuser = ${user:-root}|" "$WORK/core.conf"
bg "$NS_I" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
CORE_PID=$BGPID
for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && break; sleep 0.1; done
cwc xmpp domain add ours.example > "$WORK/domain.out" 2>&1
for u in alice bob; do
    echo pw | cwc xmpp user add $u@ours.example --password-stdin >> "$WORK/users.out" 2>&1
done

# ---- the rig ---------------------------------------------------------------------------
check "the dmz does not forward packets (ip_forward 0)" \
    test "$(in_e cat /proc/sys/net/ipv4/ip_forward)" = 0
check "the core's tunnel to the edge is Active" \
    eventually 10 sh -c "'$BIN/causeway' -c '$WORK/core.conf' tunnel status | grep -q ' Active '"
check "the inside reaches the edge's tunnel port" tcp_open "$NS_I" $INT 2222
check "the inside has no route to the outside (neither Prosody nor the edge's external address)" \
    sh -c "! ip netns exec $NS_I timeout 3 bash -c 'exec 3<>/dev/tcp/$FOREIGN/5269' 2>/dev/null &&
           ! ip netns exec $NS_I timeout 3 bash -c 'exec 3<>/dev/tcp/$EXT/5269' 2>/dev/null"
check "the core's c2s port answers inside" wait_tcp "$NS_I" $CORE 5222
check "the outside cannot reach the inside, even routing 198.18.0.0/24 through the edge" \
    sh -c "! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$CORE/5222' 2>/dev/null"
if tcp_open "$NS_O" $INT 2222; then
    note "the edge's sshd ($INT:2222) answers a packet from the outside addressed to the internal address (Linux weak host model; a firewall or rp_filter setting on the edge would stop that)"
fi
check "the outside DNS: _xmpp-server._tcp.ours.example -> the edge's 5269" \
    sh -c "ip netns exec $NS_O '$TOOLS/dnsq' --servers $DNS --srv _xmpp-server._tcp.ours.example 0 | grep -q '^srv 0 5 5269 edge.ours.example'"
check "the outside DNS: _xmpps-server._tcp.ours.example -> the edge's 5270" \
    sh -c "ip netns exec $NS_O '$TOOLS/dnsq' --servers $DNS --srv _xmpps-server._tcp.ours.example 0 | grep -q '^srv 0 5 5270 edge.ours.example'"
check "the outside DNS: no SRV record for nosrv.example, but an A record" \
    sh -c "! ip netns exec $NS_O '$TOOLS/dnsq' --servers $DNS --srv _xmpp-server._tcp.nosrv.example 0 > /dev/null 2>&1 &&
           ip netns exec $NS_O '$TOOLS/dnsq' --servers $DNS nosrv.example 5269 | grep -q '^$NOSRV:5269'"
for d in foreign.example:$FOREIGN selfsigned.example:$SELF wrongcert.example:$WRONG; do
    check "Prosody for ${d%%:*} listens (c2s 5222, s2s 5269)" \
        sh -c "for i in \$(seq 1 100); do ip netns exec $NS_O bash -c 'exec 3<>/dev/tcp/${d#*:}/5222' 2>/dev/null &&
               ip netns exec $NS_O bash -c 'exec 3<>/dev/tcp/${d#*:}/5269' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
done
check "nothing listens where nosrv.example and refused.example point" \
    sh -c "! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$NOSRV/5269' 2>/dev/null &&
           ! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$REFUSED/5269' 2>/dev/null"
fedc() { timeout 90 $PY "$FEDC" "$@"; }
OURS=$NS_I:$CORE:5222 FOR=$NS_O:$FOREIGN:5222 SS=$NS_O:$SELF:5222
check "our users chat on the core (alice and bob, inside)" \
    fedc chat "$OURS" alice@ours.example/t pw "$OURS" bob@ours.example/t pw 5
check "the foreign servers federate with each other (jdoe2@foreign.example, sam@selfsigned.example: DNS, s2s, dialback)" \
    fedc chat "$FOR" jdoe2@foreign.example/t pw "$SS" sam@selfsigned.example/t pw 5
check "wrongcert.example's Prosody presents the certificate for other.example" \
    sh -c "echo | ip netns exec $NS_O timeout 10 openssl s_client -starttls xmpp-server -xmpphost wrongcert.example \
           -connect $WRONG:5269 2>/dev/null | grep -q 'subject=CN = other.example'"
note "rig ready after $(($(date +%s) - T0)) s"

if [ "$FED" = 0 ]; then
    note "the federation code is not in this build: its checks are left out"
    exit 0
fi

# ---- federation ----------------------------------------------------------------------
fed() { cw xmpp federation status; }
check "the edge listens on $EXT:5269 and $EXT:5270" \
    sh -c "ip netns exec $NS_E ss -tlnH | grep -q '$EXT:5269 ' && ip netns exec $NS_E ss -tlnH | grep -q '$EXT:5270 '"
link_up() { fed 2>/dev/null | grep "127.0.0.1:$LINKPORT" | grep -w core1 | grep -qvi down; }
if eventually 10 link_up; then
    ok "the edge's link to the core is up (federation status: 127.0.0.1:$LINKPORT, node core1)"
    LINK=1
else
    notok "the edge's link to the core is up (federation status: 127.0.0.1:$LINKPORT, node core1): $(fed 2>&1 | tr '\n' ';')"
    LINK=0
fi
check "STARTTLS on 5269 presents ours.example's certificate, valid under the test CA" \
    sh -c "echo | ip netns exec $NS_O timeout 10 openssl s_client -starttls xmpp-server -xmpphost ours.example \
           -servername ours.example -CAfile '$WORK/ca.pem' -verify_hostname ours.example -connect $EXT:5269 2>&1 |
           grep -q 'Verify return code: 0 (ok)'"
check "direct TLS on 5270 (XEP-0368) presents ours.example's certificate, valid under the test CA" \
    sh -c "echo | ip netns exec $NS_O timeout 10 openssl s_client -servername ours.example -CAfile '$WORK/ca.pem' \
           -verify_hostname ours.example -alpn xmpp-server -connect $EXT:5270 2>&1 | grep -q 'Verify return code: 0 (ok)'"

# Without the link, what needs it would only time out: the hostile streams
# and the certificate checks run, the rest is skipped (the test fails anyway).
needs_link() { [ "$LINK" = 1 ] && return 0; skip "$1 (no link between the edge and the core)"; return 1; }

# The seed flow: alice adds jdoe1@foreign.example; the first stanza opens the
# edge's outbound stream (SRV, connect, STARTTLS, SASL EXTERNAL); jdoe1's
# answer comes in through foreign.example's own stream to the edge.
if ! needs_link "alice@ours.example and jdoe1@foreign.example subscribe and chat"; then :
elif fedc chat "$OURS" alice@ours.example/f pw "$FOR" jdoe1@foreign.example/f pw 20 30 > "$WORK/chat-foreign.out" 2> "$WORK/chat-foreign.err"; then
    ok "alice@ours.example and jdoe1@foreign.example subscribe to each other and exchange 20 messages each way ($(sed -En 's/.*available after ([0-9.]+ s).* in ([0-9.]+ s)$/presence after \1, all in \2/p' "$WORK/chat-foreign.out"))"
else
    notok "alice@ours.example and jdoe1@foreign.example subscribe and chat: $(tail -n 1 "$WORK/chat-foreign.err")"
fi
check "edge log: outbound to foreign.example looks up _xmpp-server._tcp.foreign.example" \
    grep -q 'federation: outbound to foreign.example: looking up _xmpp-server._tcp.foreign.example' "$WORK/edge.log"
check "edge log: outbound to foreign.example connects to its 5269 ($FOREIGN)" \
    grep -Eq "federation: outbound to foreign.example: connecting to [^ ]*:5269 \($FOREIGN:5269\)" "$WORK/edge.log"
check "dnsmasq saw the edge's SRV query for _xmpp-server._tcp.foreign.example" \
    grep -q "query\[SRV\] _xmpp-server._tcp.foreign.example from $EXT\$" "$WORK/dnsmasq.log"
check "edge log: outbound to foreign.example authenticated with SASL EXTERNAL" \
    grep -Eq 'federation: outbound to foreign.example \([^)]*\): authenticated \(sasl-external\)' "$WORK/edge.log"
check "edge log: inbound from foreign.example authenticated with SASL EXTERNAL" \
    grep -Eq 'federation: inbound from foreign.example \([^)]*\): authenticated \(sasl-external\)' "$WORK/edge.log"
# With s2s_secure_auth, Prosody completes a stream only with a valid certificate.
check "foreign.example's Prosody accepted the edge's SASL EXTERNAL as ours.example" \
    grep -q 'Accepting SASL EXTERNAL identity from ours.example' "$WORK/foreign.example/prosody.log"
check "foreign.example's Prosody (s2s_secure_auth) completed s2s with ours.example both ways" \
    sh -c "grep -q 'Incoming s2s connection ours.example->foreign.example complete' '$WORK/foreign.example/prosody.log' &&
           grep -q 'Outgoing s2s connection foreign.example->ours.example complete' '$WORK/foreign.example/prosody.log'"

if ! needs_link "bob@ours.example and sam@selfsigned.example subscribe and chat"; then :
elif fedc chat "$OURS" bob@ours.example/s pw "$SS" sam@selfsigned.example/s pw 10 30 > "$WORK/chat-self.out" 2> "$WORK/chat-self.err"; then
    ok "bob@ours.example and sam@selfsigned.example (self-signed: dialback) subscribe and exchange 10 messages each way"
else
    notok "bob@ours.example and sam@selfsigned.example subscribe and chat: $(tail -n 1 "$WORK/chat-self.err")"
fi
check "edge log: outbound to selfsigned.example looks up _xmpp-server._tcp.selfsigned.example and connects to its 5269" \
    sh -c "grep -q 'federation: outbound to selfsigned.example: looking up _xmpp-server._tcp.selfsigned.example' '$WORK/edge.log' &&
           grep -Eq 'federation: outbound to selfsigned.example: connecting to [^ ]*:5269 \($SELF:5269\)' '$WORK/edge.log'"
check "dnsmasq saw the edge's SRV query for _xmpp-server._tcp.selfsigned.example" \
    grep -q "query\[SRV\] _xmpp-server._tcp.selfsigned.example from $EXT\$" "$WORK/dnsmasq.log"
check "edge log: selfsigned.example authenticated by dialback, both directions" \
    sh -c "grep -Eq 'federation: outbound to selfsigned.example \([^)]*\): authenticated \(dialback\)' '$WORK/edge.log' &&
           grep -Eq 'federation: inbound from selfsigned.example \([^)]*\): authenticated \(dialback\)' '$WORK/edge.log'"

fed > "$WORK/fedstatus.txt" 2>&1
# row DOMAIN DIR AUTH: a status line naming all three and a TLS version.
row() { awk -v d="$1" -v r="$2" -v a="$3" '$1 == d && $2 == r && index($0, a) && /1\.[23]/ {f = 1} END {exit !f}' \
    "$WORK/fedstatus.txt"; }
check "federation status: foreign.example out, TLS, sasl-external" row foreign.example out sasl-external
check "federation status: foreign.example in, TLS, sasl-external" row foreign.example in sasl-external
check "federation status: selfsigned.example out, TLS, dialback" row selfsigned.example out dialback
check "federation status: selfsigned.example in, TLS, dialback" row selfsigned.example in dialback

# Failures: a message to each bounces to alice with a stanza error.
if ! needs_link "bounces to alice"; then :
elif fedc bounce "$OURS" alice@ours.example/b pw 20 u@nosrv.example u@refused.example u@wrongcert.example \
    > "$WORK/bounce.out" 2> "$WORK/bounce.err"; then
    ok "messages to nosrv.example, refused.example, wrongcert.example bounce to alice with a stanza error ($(grep -v '^#' "$WORK/bounce.out" | awk '{print $2}' | sort -u | tr '\n' ' '| sed 's/ $//'))"
else
    notok "bounces to alice: $(tr '\n' ';' < "$WORK/bounce.out") $(tail -n 1 "$WORK/bounce.err")"
fi
check "edge log: nosrv.example has no SRV record, the edge falls back to its A record on 5269" \
    grep -q 'federation: outbound to nosrv.example: no _xmpps-server/_xmpp-server SRV record, trying nosrv.example:5269' "$WORK/edge.log"
check "edge log: nosrv.example unreachable, with the reason" \
    grep -Eq 'federation: nosrv.example unreachable: .*[0-9]+ stanzas? bounced' "$WORK/edge.log"
check "edge log: the connection to refused.example's SRV target was refused" \
    grep -Eq "federation: outbound to refused.example: connection to $REFUSED(:5269)? (failed: connection )?refused" "$WORK/edge.log"
check "edge log: refused.example unreachable, stanzas bounced" \
    grep -Eq 'federation: refused.example unreachable: .*[0-9]+ stanzas? bounced' "$WORK/edge.log"
check "edge log: wrongcert.example's certificate is invalid for it" \
    grep -Eq 'federation: outbound to wrongcert.example: certificate invalid for wrongcert.example' "$WORK/edge.log"
check "edge log: wrongcert.example unreachable, stanzas bounced" \
    grep -Eq 'federation: wrongcert.example unreachable: .*[0-9]+ stanzas? bounced' "$WORK/edge.log"

# Hostile peers on the s2s port while the foreign users keep talking.
got=$(in_o timeout 30 $PY "$FEDC" raw "-:$EXT:5269" ours.example garbage $CLIENT 2> "$WORK/raw-garbage.err")
case $got in
    not-well-formed|closed|reset) ok "garbage on 5269: the edge answers '$got'" ;;
    *) notok "garbage on 5269: wanted the stream error not-well-formed or a closed connection, got: $got $(tail -n 1 "$WORK/raw-garbage.err")" ;;
esac
got=$(in_o timeout 30 $PY "$FEDC" raw "-:$EXT:5269" ours.example oversize $CLIENT 2> "$WORK/raw-oversize.err")
case $got in
    policy-violation|closed|reset) ok "a 1 MB stanza on 5269 (max-stanza 64 KB): the edge answers '$got'" ;;
    *) notok "oversized stanza on 5269: wanted the stream error policy-violation or a closed connection, got: $got $(tail -n 1 "$WORK/raw-oversize.err")" ;;
esac
check "edge log: the hostile inbound streams are logged with their stream errors" \
    sh -c "grep -Eq 'federation: inbound from [^ ]* \($CLIENT:[0-9]+\): stream error <not-well-formed/>' '$WORK/edge.log' &&
           grep -Eq 'federation: inbound from [^ ]* \($CLIENT:[0-9]+\): stream error <policy-violation/>' '$WORK/edge.log'"
check "the edge is still running" edge_alive
needs_link "after the hostile streams foreign.example users still exchange messages with ours" &&
check "after the hostile streams foreign.example users still exchange messages with ours" \
    fedc chat "$OURS" alice@ours.example/g pw "$FOR" jdoe3@foreign.example/g pw 5 30
check "the core is still running" kill -0 "$CORE_PID"
note "done after $(($(date +%s) - T0)) s"
exit 0
