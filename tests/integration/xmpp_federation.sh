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
#                    certificate for other.example), bidi.example (.23, a
#                    certificate from the test CA, XEP-0288 bidirectional
#                    streams: mod_s2s_bidi); nothing listens on .30
#                    (nosrv.example's A record) or .31 (refused.example's
#                    SRV target); blocked.example is denied by the edge's
#                    policy; raw hostile clients.
#   dmz ($NS_E)      causeway-edge: external 203.0.113.10 (s2s 5269, direct
#                    TLS 5270), internal 198.18.0.1 (sshd 2222); no forwarding.
#   inside ($NS_I)   causeway-core 198.18.0.2: c2s 5222, [xmpp] link-listen
#                    127.0.0.1:5289, a [tunnel] to the edge holding
#                    127.0.0.1:18443 there (the edge's [federation] core);
#                    component-listen 127.0.0.1:5223, where the call bridge
#                    cb1.ours.example connects (its domain federates too).
#
# Clients: tests/integration/fedc.py (slixmpp; each connection made in its
# own namespace). Our users alice@ours.example and bob@ours.example
# (`causeway xmpp user add`); jdoe1-3@foreign.example, sam@selfsigned.example,
# dana@bidi.example (prosodyctl); the call bridge cb1.ours.example (fedc.py's
# echoing component). Certificates and Prosody configurations come from
# tests/tools/prosody.sh (shared with bench/federation.sh). The checks follow
# the gateway's log lines (docs/troubleshooting.md), `causeway xmpp
# federation status` and xmpp/fedlink.h.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/tools/prosody.sh"
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
DNS=203.0.113.53 FOREIGN=203.0.113.20 SELF=203.0.113.21 WRONG=203.0.113.22 BIDI=203.0.113.23
NOSRV=203.0.113.30 REFUSED=203.0.113.31 SILENT=203.0.113.32 CLIENT=203.0.113.100
LINKPORT=18443
T0=$(date +%s)

fed_cleanup() {
    cleanup                     # lib.sh: our processes, $NS_E, $NS_O, $WORK
    ip netns del "$NS_I" 2>/dev/null
    rm -rf "/etc/netns/$NS_O"
}
trap fed_cleanup EXIT
in_i() { ip netns exec "$NS_I" "$@"; }
wait_tcp() { for _ in $(seq 1 100); do tcp_open "$@" && return 0; sleep 0.1; done; return 1; }

# ---- network: outside | dmz (edge) | inside -----------------------------------------
ip netns add "$NS_E" && ip netns add "$NS_O" && ip netns add "$NS_I" || { notok "create namespaces"; exit 1; }
ip link add cwx$$ netns "$NS_E" type veth peer name cwo$$ netns "$NS_O"
ip link add cwi$$ netns "$NS_E" type veth peer name cwn$$ netns "$NS_I"
for ns in "$NS_E" "$NS_O" "$NS_I"; do ip -n "$ns" link set lo up; done
ip -n "$NS_E" addr add $EXT/24 dev cwx$$
ip -n "$NS_E" addr add $INT/24 dev cwi$$
# $CLIENT first: the source address of what the outside sends without choosing one.
for a in $CLIENT $DNS $FOREIGN $SELF $WRONG $BIDI $NOSRV $REFUSED $SILENT; do ip -n "$NS_O" addr add $a/24 dev cwo$$; done
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

# ---- certificates: a test CA; ours.example, cb1.ours.example (the call
# bridge), foreign.example, bidi.example and other.example from it;
# selfsigned.example self-signed ---------------------------------------------------------
{ cert_ca "$WORK" "Causeway Test CA" && cert_leaf "$WORK" ours.example &&
  cert_leaf "$WORK" cb1.ours.example && cert_leaf "$WORK" foreign.example &&
  cert_leaf "$WORK" bidi.example && cert_leaf "$WORK" other.example &&
  cert_self "$WORK" selfsigned.example; } || { notok "make certificates"; cat "$WORK/openssl.log"; exit 1; }
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
    --srv-host=_xmpp-server._tcp.cb1.ours.example,edge.ours.example,5269,0,5 \
    --srv-host=_xmpps-server._tcp.cb1.ours.example,edge.ours.example,5270,0,5 \
    --host-record=xmpp.foreign.example,$FOREIGN \
    --srv-host=_xmpp-server._tcp.foreign.example,xmpp.foreign.example,5269,0,5 \
    --host-record=xmpp.selfsigned.example,$SELF \
    --srv-host=_xmpp-server._tcp.selfsigned.example,xmpp.selfsigned.example,5269,0,5 \
    --host-record=xmpp.wrongcert.example,$WRONG \
    --srv-host=_xmpp-server._tcp.wrongcert.example,xmpp.wrongcert.example,5269,0,5 \
    --host-record=xmpp.bidi.example,$BIDI \
    --srv-host=_xmpp-server._tcp.bidi.example,xmpp.bidi.example,5269,0,5 \
    --host-record=nosrv.example,$NOSRV \
    --host-record=xmpp.refused.example,$REFUSED \
    --srv-host=_xmpp-server._tcp.refused.example,xmpp.refused.example,5269,0,5 \
    --host-record=xmpp.silent.example,$SILENT \
    --srv-host=_xmpp-server._tcp.silent.example,xmpp.silent.example,5269,0,5

# ---- foreign servers: one Prosody per domain ----------------------------------------------
# foreign.example: SASL EXTERNAL both ways (s2s_secure_auth), dialback only
# for selfsigned.example; bidi.example: the same, with XEP-0288.
prosody_conf "$WORK/foreign.example" foreign.example $FOREIGN "$WORK/foreign.example.pem" \
    "$WORK/foreign.example.key" secure-auth trust="$WORK/ca.pem" insecure=selfsigned.example &&
prosody_conf "$WORK/selfsigned.example" selfsigned.example $SELF "$WORK/selfsigned.example.pem" \
    "$WORK/selfsigned.example.key" &&
prosody_conf "$WORK/wrongcert.example" wrongcert.example $WRONG "$WORK/other.example.pem" \
    "$WORK/other.example.key" &&
prosody_conf "$WORK/bidi.example" bidi.example $BIDI "$WORK/bidi.example.pem" "$WORK/bidi.example.key" \
    secure-auth trust="$WORK/ca.pem" module=s2s_bidi || { notok "Prosody configurations"; exit 1; }
regs=""
for u in foreign.example:jdoe1 foreign.example:jdoe2 foreign.example:jdoe3 selfsigned.example:sam bidi.example:dana; do
    prosody_register "$WORK/${u%%:*}" "${u#*:}" pw &
    regs="$regs $!"
done
for p in $regs; do wait "$p" || { notok "prosodyctl register: $(cat "$WORK"/*/register.log)"; break; }; done
for d in foreign.example selfsigned.example wrongcert.example bidi.example; do
    prosody_start "$NS_O" "$WORK/$d"
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
certificate = $WORK/cb1.ours.example.pem $WORK/cb1.ours.example.key
trust = $WORK/ca.pem
core = 127.0.0.1:$LINKPORT
link-key-file = $WORK/edge-link.key
dns-server = $DNS
tls = required
auth = dialback
peer = foreign.example tls=required auth=certificate
peer = wrongcert.example tls=required auth=certificate
deny = blocked.example
connect-timeout = 3s
idle-timeout = 8s
max-stanza = 65536
CONF
if ! "$BIN/causeway-edge" -t -c "$WORK/edge.conf" > "$WORK/edge-t.out" 2>&1; then
    notok "causeway-edge accepts the spec's [federation] section: $(head -n 1 "$WORK/edge-t.out")"
    exit 1
fi
start_edge "$WORK/edge.conf"

# ---- the core -------------------------------------------------------------------------
cat > "$WORK/core.conf" <<CONF
$(core_section core1)
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
    exit 1
fi
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
pair_core "$WORK/core.conf" $INT
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
for d in foreign.example:$FOREIGN selfsigned.example:$SELF wrongcert.example:$WRONG bidi.example:$BIDI; do
    check "Prosody for ${d%%:*} listens (c2s 5222, s2s 5269)" prosody_ready "$NS_O" "${d#*:}"
done
check "nothing listens where nosrv.example and refused.example point" \
    sh -c "! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$NOSRV/5269' 2>/dev/null &&
           ! ip netns exec $NS_O timeout 3 bash -c 'exec 3<>/dev/tcp/$REFUSED/5269' 2>/dev/null"
fedc() { timeout 90 $PY "$FEDC" "$@"; }
OURS=$NS_I:$CORE:5222 FOR=$NS_O:$FOREIGN:5222 SS=$NS_O:$SELF:5222 BD=$NS_O:$BIDI:5222
check "our users chat on the core (alice and bob, inside)" \
    fedc chat "$OURS" alice@ours.example/t pw "$OURS" bob@ours.example/t pw 5
check "the foreign servers federate with each other (jdoe2@foreign.example, sam@selfsigned.example: DNS, s2s, dialback)" \
    fedc chat "$FOR" jdoe2@foreign.example/t pw "$SS" sam@selfsigned.example/t pw 5
check "wrongcert.example's Prosody presents the certificate for other.example" \
    sh -c "echo | ip netns exec $NS_O timeout 10 openssl s_client -starttls xmpp-server -xmpphost wrongcert.example \
           -connect $WRONG:5269 2>/dev/null | grep -q 'subject=CN = other.example'"
note "rig ready after $(($(date +%s) - T0)) s"

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
fed_expiry() {
    has_fault cw federation.expiry.1 "f['cleared'] is None and f['text'].startswith('the certificate for ours.example expires in 1 day: renew it')" &&
    has_fault cw federation.expiry.2 "f['cleared'] is None and 'cb1.ours.example' in f['text']"
}
check "the certificates expire in 2 days: faults federation.expiry.1 and .2, with the fix" fed_expiry
cw status federation json > "$WORK/fed.json" 2>&1
check "the status document's federation section lists both certificates" \
    py '[c["names"] for c in d["federation"]["certificates"]] == ["ours.example", "cb1.ours.example"]' "$WORK/fed.json"
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

# XEP-0288: bob adds dana@bidi.example. bidi.example's Prosody offers
# bidirectional streams; the edge's outbound stream asks for one, and dana's
# answers come back on it: one stream with bidi.example, not two.
if ! needs_link "bob@ours.example and dana@bidi.example (XEP-0288) subscribe and chat"; then :
elif fedc chat "$OURS" bob@ours.example/d pw "$BD" dana@bidi.example/d pw 10 30 > "$WORK/chat-bidi.out" 2> "$WORK/chat-bidi.err"; then
    ok "bob@ours.example and dana@bidi.example (XEP-0288 offered) subscribe and exchange 10 messages each way"
else
    notok "bob@ours.example and dana@bidi.example subscribe and chat: $(tail -n 1 "$WORK/chat-bidi.err")"
fi
check "edge log: outbound to bidi.example authenticated (sasl-external), TLS, bidirectional" \
    grep -Eq 'federation: outbound to bidi.example \([^)]*\): authenticated \(sasl-external\), TLSv1\.[23], bidirectional$' "$WORK/edge.log"
check "edge log: bidi.example opened no stream of its own to the edge" \
    sh -c "! grep -q 'federation: inbound from bidi.example' '$WORK/edge.log'"
check "bidi.example's Prosody: the edge's stream complete, and no outgoing one of its own to ours.example" \
    sh -c "grep -q 'Incoming s2s connection ours.example->bidi.example complete' '$WORK/bidi.example/prosody.log' &&
           ! grep -q 'Outgoing s2s connection bidi.example->ours.example' '$WORK/bidi.example/prosody.log'"

fed > "$WORK/fedstatus.txt" 2>&1
# row DOMAIN DIR AUTH: a status line naming all three and a TLS version.
row() { awk -v d="$1" -v r="$2" -v a="$3" '$1 == d && $2 == r && index($0, a) && /1\.[23]/ {f = 1} END {exit !f}' \
    "$WORK/fedstatus.txt"; }
check "federation status: foreign.example out, TLS, sasl-external" row foreign.example out sasl-external
check "federation status: foreign.example in, TLS, sasl-external" row foreign.example in sasl-external
check "federation status: selfsigned.example out, TLS, dialback" row selfsigned.example out dialback
check "federation status: selfsigned.example in, TLS, dialback" row selfsigned.example in dialback
# bidi.example: its only stream, out, TLS, sasl-external, marked bidi.
one_bidi() { awk '$1 == "bidi.example" {n++; if ($2 == "out" && /sasl-external/ && / bidi/ && /1\.[23]/) g++}
                  END {exit !(n == 1 && g == 1)}' "$WORK/fedstatus.txt"; }
check "federation status: bidi.example has one stream: out, TLS, sasl-external, bidi" one_bidi

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
    grep -Eq 'federation: outbound to wrongcert.example( \([^)]*\))?: certificate invalid for wrongcert.example' "$WORK/edge.log"
check "edge log: wrongcert.example unreachable, stanzas bounced" \
    grep -Eq 'federation: wrongcert.example unreachable: .*[0-9]+ stanzas? bounced' "$WORK/edge.log"

# Policy: [federation] deny = blocked.example.
if ! needs_link "a message to blocked.example (deny) bounces with policy-violation"; then :
elif fedc bounce "$OURS" alice@ours.example/p pw 10 u@blocked.example=policy-violation \
    > "$WORK/bounce-deny.out" 2> "$WORK/bounce-deny.err"; then
    ok "a message to blocked.example (deny) bounces to alice with policy-violation"
else
    notok "a message to blocked.example (deny) bounces with policy-violation: $(tr '\n' ';' < "$WORK/bounce-deny.out") $(tail -n 1 "$WORK/bounce-deny.err")"
fi
check "edge log: a stanza for blocked.example refused by policy" \
    grep -q 'federation: a stanza for blocked.example refused by policy (allow/deny in \[federation\])' "$WORK/edge.log"
check "the edge looked nothing up for blocked.example" \
    sh -c "! grep -q 'blocked.example' '$WORK/dnsmasq.log'"
got=$(in_o timeout 30 $PY "$FEDC" raw "-:$EXT:5269" ours.example from=blocked.example $CLIENT 2> "$WORK/raw-blocked.err")
if [ "$got" = policy-violation ]; then
    ok "a stream from blocked.example (deny): the edge answers 'policy-violation'"
else
    notok "a stream from blocked.example: wanted the stream error policy-violation, got: $got $(tail -n 1 "$WORK/raw-blocked.err")"
fi
check "edge log: the stream from blocked.example refused by policy" \
    grep -Eq "federation: inbound from blocked.example \($CLIENT:[0-9]+\): refused by policy" "$WORK/edge.log"

# A call bridge's domain federates: cb1.ours.example, registered now (the
# core announces it on the link), has its own certificate on the edge and
# SRV records pointing at the edge. jdoe1@foreign.example, then
# dana@bidi.example write to it; the component (on the core's component
# port, inside) echoes. bidi.example's Prosody dials the edge this time
# (cb1.ours.example is a new pair of domains) and asks for XEP-0288: the
# echoes to dana go back on that inbound stream.
cwc xmpp callbridge add-secret cb1.ours.example cbsecret1 > "$WORK/callbridge.out" 2>&1
check "edge log: the core announces the call bridge's domain on the link (core core1 serves 2 domains)" \
    wait_line "$WORK/edge.log" 'federation: core core1 serves 2 domains' 10
if ! needs_link "foreign users and the call bridge cb1.ours.example"; then :
elif fedc component "$NS_I:127.0.0.1:5223" cb1.ours.example cbsecret1 30 "$FOR" jdoe1@foreign.example/c pw \
    "$BD" dana@bidi.example/c pw > "$WORK/component.out" 2> "$WORK/component.err"; then
    ok "jdoe1@foreign.example's and dana@bidi.example's messages to cb1.ours.example and bridge@cb1.ours.example reach the call bridge (inside), its echoes reach them"
else
    notok "foreign users and the call bridge cb1.ours.example: $(tail -n 1 "$WORK/component.err")"
fi
check "dnsmasq saw foreign.example's SRV query for cb1.ours.example (Prosody asks _xmpps-server first)" \
    grep -Eq "query\[SRV\] _xmpps?-server._tcp.cb1.ours.example from " "$WORK/dnsmasq.log"
check "foreign.example's Prosody completed s2s with cb1.ours.example both ways (certificates: SASL EXTERNAL)" \
    sh -c "grep -q 'Accepting SASL EXTERNAL identity from cb1.ours.example' '$WORK/foreign.example/prosody.log' &&
           grep -q 'Incoming s2s connection cb1.ours.example->foreign.example complete' '$WORK/foreign.example/prosody.log' &&
           grep -q 'Outgoing s2s connection foreign.example->cb1.ours.example complete' '$WORK/foreign.example/prosody.log'"
fed > "$WORK/fedstatus2.txt" 2>&1
# bidi.example now: the outbound stream from before and bidi.example's own,
# both bidi; the edge dialled bidi.example only for ours.example.
two_bidi() { awk '$1 == "bidi.example" {n++; if (/ bidi/ && /1\.[23]/ && /sasl-external/) g[$2]++}
                  / -> bidi.example: / {d++; if ($1 != "ours.example") d += 10}
                  END {exit !(n == 2 && g["in"] == 1 && g["out"] == 1 && d == 1)}' "$WORK/fedstatus2.txt"; }
check "federation status: bidi.example's own stream (in, sasl-external) is bidi too, and the edge dialled bidi.example only for ours.example" two_bidi
check "bidi.example's Prosody: its stream to cb1.ours.example complete, and nothing came back on another" \
    sh -c "grep -q 'Outgoing s2s connection bidi.example->cb1.ours.example complete' '$WORK/bidi.example/prosody.log' &&
           ! grep -q 'Incoming s2s connection cb1.ours.example->bidi.example' '$WORK/bidi.example/prosody.log'"

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
# Dialback abuse: streams that claim to be silent.example, whose
# authoritative server (dialback_peer.py) takes the edge's stream but never
# answers a check. The checks in progress are capped, and each fails after
# 30 s, so such a peer cannot make the edge hold more and more of them.
DBP=$TOP/tests/integration/dialback_peer.py
bg "$NS_O" "$WORK/silent.out" $PY "$DBP" silent $SILENT silent.example "$WORK/other.example.pem" \
    "$WORK/other.example.key"
check "silent.example's authoritative server listens" eventually 10 grep -q listening "$WORK/silent.out"
got=$(in_o timeout 60 $PY "$DBP" claim $EXT ours.example silent.example 33 8 5 2> "$WORK/claim.err")
check "33 streams claim silent.example 8 times each: 256 checks taken, the 8 past them refused at once (resource-constraint) ($got)" \
    test "$got" = "valid=0 invalid=0 constraint=8 other=0 silent=32"
check "the edge logs the refusal" \
    grep -q 'notice federation: inbound from silent.example ([^)]*): dialback refused for now: 256 checks are in progress (resource-constraint)' "$WORK/edge.log"
check "xmpp federation status counts the checks waiting, and the route to silent.example has them" \
    sh -c "'$BIN/causeway' -c '$WORK/edge.conf' -s '$WORK/edge.sock' xmpp federation status > '$WORK/fed-dialback.txt' &&
           grep -q '^Dialback checks waiting for an answer: 256 (at most 256, each for 30 s)\$' '$WORK/fed-dialback.txt' &&
           grep -q '^  ours.example -> silent.example: ready since .*, 256 dialback checks waiting' '$WORK/fed-dialback.txt'"
check "the edge sent all 256 checks to silent.example's server" eventually 10 grep -q '^verify 256$' "$WORK/silent.out"
expired() {     # the checks failed for want of an answer, over the log's lines
    [ "$(sed -n 's/.* info federation: dialback for silent.example: \([0-9]*\) checks\{0,1\} not answered within 30 s: failed$/\1/p' \
        "$WORK/edge.log" | awk '{ n += $1 } END { print n + 0 }')" = 256 ]
}
check "30 s later they fail, unanswered" eventually 40 expired
check "... and none is held any more" \
    sh -c "'$BIN/causeway' -c '$WORK/edge.conf' -s '$WORK/edge.sock' xmpp federation status |
           grep -q '^Dialback checks waiting for an answer: 0 '"
check "edge log: the hostile inbound streams are logged with their stream errors" \
    sh -c "grep -Eq 'federation: inbound from [^ ]* \($CLIENT:[0-9]+\): stream error <not-well-formed/>' '$WORK/edge.log' &&
           grep -Eq 'federation: inbound from [^ ]* \($CLIENT:[0-9]+\): stream error <policy-violation/>' '$WORK/edge.log'"
check "the edge is still running" edge_alive
needs_link "after the hostile streams foreign.example users still exchange messages with ours" &&
check "after the hostile streams foreign.example users still exchange messages with ours" \
    fedc chat "$OURS" alice@ours.example/g pw "$FOR" jdoe3@foreign.example/g pw 5 30
check "the core is still running" kill -0 "$CORE_PID"
# A foreign user sends faster than the core takes (the core stopped for a
# while): the edge stops reading from foreign servers instead of cutting
# the link to the core, and everything arrives once the core goes on.
downs() { grep -c 'federation: link to core .* down' "$WORK/edge.log"; }
DOWNS=$(downs)
needs_link "24 MB from a foreign user while the core is stopped, all delivered" &&
check "24 MB from a foreign user while the core is stopped for 3 s: all 800 messages arrive, in order" \
    fedc flood "$FOR" jdoe1@foreign.example/f pw "$OURS" alice@ours.example/f pw 800 30000 "$CORE_PID" 3 60
check "... the edge paused reading while the link to the core was behind, and went on" sh -c "
    grep -q 'info federation: the link to the core is behind ([0-9]* bytes waiting): reading from foreign servers paused' '$WORK/edge.log' &&
    grep -q 'info federation: the link to the core caught up: reading from foreign servers again' '$WORK/edge.log'"
check "... and the link stayed up" test "$(downs)" = "$DOWNS"
# idle-timeout 8s: the streams of the last chat close by themselves.
idle_closed() {
    for _ in $(seq 1 40); do
        grep -Eq 'federation: (inbound from|outbound to) foreign.example \([^)]*\): idle for 8 s: closed' \
            "$WORK/edge.log" && return 0
        sleep 0.5
    done
    return 1
}
check "idle s2s streams close after idle-timeout (8 s): edge log" idle_closed

# Renewed certificates: SIGHUP serves them on new streams while a
# conversation over the streams already in TLS goes on.
fp_served() {   # what the edge presents on 5269 (STARTTLS) or 5270 (direct TLS)
    if [ "$1" = 5269 ]; then set -- -starttls xmpp-server -xmpphost ours.example -connect $EXT:5269
    else set -- -alpn xmpp-server -connect $EXT:5270; fi
    echo | ip netns exec $NS_O timeout 10 openssl s_client -servername ours.example "$@" 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256
}
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
streams() { grep -Ec 'federation: (inbound from|outbound to) foreign.example \(.*\): authenticated' "$WORK/edge.log"; }
if needs_link "certificates reloaded while foreign.example users chat"; then
    PACE=0.05 READYFILE="$WORK/fed-flowing" fedc chat "$OURS" alice@ours.example/h pw "$FOR" \
        jdoe1@foreign.example/h pw 100 30 > "$WORK/chat-reload.out" 2> "$WORK/chat-reload.err" &
    FLOW=$!
    for _ in $(seq 1 300); do [ -s "$WORK/fed-flowing" ] && break; sleep 0.1; done
    sleep 0.5
    before=$(streams)
    cp "$WORK/ours.example.pem" "$WORK/ours.example-first.pem"
    cert_leaf "$WORK" ours.example || notok "openssl: a renewed certificate"
    kill -HUP "$EDGE_PID"
    check "SIGHUP: the edge logs its federation certificates and trust store reloaded" \
        wait_line "$WORK/edge.log" "notice federation: certificates \\(2\\) and the trust store $WORK/ca.pem reloaded; new streams use them" 5
    if wait "$FLOW"; then
        ok "alice@ours.example and jdoe1@foreign.example exchange 100 messages each way, in order, across the reload"
    else
        notok "the conversation across the reload: $(tail -n 1 "$WORK/chat-reload.err")"
    fi
    check "and the streams they went over stayed up (no stream with foreign.example authenticated since)" \
        test "$(streams)" = "$before"
    check "STARTTLS on 5269 now presents the renewed certificate" \
        test "$(fp_served 5269)" = "$(fp_file "$WORK/ours.example.pem")"
    check "direct TLS on 5270 too" test "$(fp_served 5270)" = "$(fp_file "$WORK/ours.example.pem")"
    check "not the first one" test "$(fp_served 5269)" != "$(fp_file "$WORK/ours.example-first.pem")"
fi
# The core goes away (stopped, as for an upgrade): the edge keeps the
# domains it announced, so a foreign user's message comes back as
# service-unavailable, and the foreign server's stream is not ended with
# host-unknown; with the core back, messages flow again.
if needs_link "while the core is down, foreign stanzas are bounced one by one"; then
    unknowns() { grep -c 'inbound from foreign.example ([^)]*): \(refused: it asked for domain\|stream error <host-unknown/>\)' "$WORK/edge.log"; }
    UNKNOWN=$(unknowns)
    kill -TERM "$CORE_PID"; wait "$CORE_PID" 2>/dev/null; unlist "$CORE_PID"
    link_down() { ! link_up; }
    check "the core stopped: the edge's link to it goes down" eventually 20 link_down
    check "a message from jdoe2@foreign.example to alice comes back as service-unavailable" \
        fedc bounce "$FOR" jdoe2@foreign.example/d pw 20 alice@ours.example=service-unavailable
    check "... and the edge neither refused foreign.example nor ended its stream with host-unknown" \
        test "$(unknowns)" = "$UNKNOWN"
    bg "$NS_I" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
    CORE_PID=$BGPID
    check "the core back: the link comes up again" eventually 30 link_up
    check "and jdoe2@foreign.example and alice exchange messages again" \
        fedc chat "$OURS" alice@ours.example/e pw "$FOR" jdoe2@foreign.example/e pw 5 30
fi
note "done after $(($(date +%s) - T0)) s"
exit 0
