#!/usr/bin/env bash
# xmpp_link.sh - the core's side of the federation link (xmpp/fedlink.h)
# against a scripted edge (fedlink_peer.py): [xmpp] link-listen and
# link-key-file checked at start, the HMAC handshake (a wrong proof gets
# <not-authorized/>, the core's proof verifies), <domains/> with the XMPP
# domains and a call bridge's, sent again when a domain is added; stanzas
# from a foreign domain delivered to a logged-in user (slixmpp), a user's
# stanza for a foreign domain out on the link and the edge's error back,
# stanzas from our own domain or for someone else's dropped; with no link,
# remote-server-not-found. Then the same link through a real tunnel: the
# edge's sshd, the core's SSH tunnel, and a stream of service
# CW_MUX_SVC_XMPP on the tunnel link; and a node without link-listen
# refusing that stream (RESET CW_MUX_RST_CONNECT, one log line).
#
# Namespaces: the edge ($NS_E: sshd on $E4:2222, the tunnel forward on
# 127.0.0.1:18443) and the inside ($NS_O: the core, its clients on
# 127.0.0.1:25222, link-listen on 127.0.0.1:25289). No webbridge answers
# inside: the link must come up without the guest account's target.
. "$(dirname "$0")/lib.sh"
need_root
/usr/bin/python3 -c 'import slixmpp' 2> /dev/null || { notok "python3-slixmpp is not installed (make deps)"; exit 1; }
net_setup

F=$TOP/tests/integration/fedlink_peer.py
LINK=127.0.0.1:25289
KEY=$WORK/federation.key
fp() { in_o timeout 60 /usr/bin/python3 "$F" "$@"; }
fp_e() { in_e timeout 60 /usr/bin/python3 "$F" "$@"; }
openssl rand -hex 32 > "$KEY" && chmod 600 "$KEY"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=example.test" -addext "subjectAltName=DNS:example.test" \
    -keyout "$WORK/xmpp.key" -out "$WORK/xmpp.pem" > "$WORK/openssl.log" 2>&1 || notok "openssl"

# core_conf FILE LINK-LINES: the node's core.conf, [xmpp] with LINK-LINES.
core_conf() {
    cat > "$1" <<CONF
$(core_section node1)
[xmpp]
client-listen = 127.0.0.1:25222
component-listen = 127.0.0.1:25223
certificate = $WORK/xmpp.pem $WORK/xmpp.key
$(printf '%b' "$2")
CONF
}

# ---- configuration ---------------------------------------------------------------
# bad_conf WHAT LINK-LINES ERE: causeway-core -t refuses it, saying ERE.
bad_conf() {
    core_conf "$WORK/bad.conf" "$2"
    check "config: $1" sh -c "! '$BIN/causeway-core' -t -c '$WORK/bad.conf' > '$WORK/bad.out' 2>&1 &&
                             grep -Eq -- '$3' '$WORK/bad.out'"
}
bad_conf "a link-listen that is not loopback is refused" "link-listen = 0.0.0.0:25289\nlink-key-file = $KEY" \
    'bad.conf:[0-9]+: link-listen "0.0.0.0:25289" is not a loopback address: .*127.0.0.1:PORT'
bad_conf "link-listen without link-key-file is refused" "link-listen = 127.0.0.1:25289" \
    'bad.conf: \[xmpp\] link-listen needs link-key-file'
bad_conf "link-key-file without link-listen is refused" "link-key-file = $KEY" \
    'bad.conf: \[xmpp\] link-key-file is set but link-listen is not'
core_conf "$WORK/good.conf" "link-listen = [::1]:25289\nlink-key-file = $KEY"
check "config: link-listen on ::1 with a key file is valid" "$BIN/causeway-core" -t -c "$WORK/good.conf"
printf 'too short' > "$WORK/short.key"
core_conf "$WORK/short.conf" "link-listen = $LINK\nlink-key-file = $WORK/short.key"
sed -i "s|^log-file = .*|log-file = $WORK/short.log|" "$WORK/short.conf"
check "a key file under 16 bytes stops the start, and says how to make one" sh -c "
    ! ip netns exec $NS_O timeout 20 '$BIN/causeway-core' -c '$WORK/short.conf' > /dev/null 2>&1 &&
    grep -q 'link-key-file $WORK/short.key: shorter than 16 bytes (make one with: openssl rand -hex 32' '$WORK/short.log'"

# ---- the edge's sshd, paired with the core (for the tunnel part) ------------------------
ST=$WORK/edge-tunnel
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
CONF
sed -i 's/^\[turn\]$/[turn]\nenabled = no/' "$WORK/edge.conf"
start_edge "$WORK/edge.conf"
core_conf "$WORK/core.conf" "link-listen = $LINK\nlink-key-file = $KEY"
printf '[tunnel]\nedge = %s\nguest-uri = 127.0.0.1\nwebbridge-port = 18090\nedge-port = 18443\n' \
    "$E4" >> "$WORK/core.conf"
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
pair_core "$WORK/core.conf" "$E4"

start_core() {
    bg "$NS_O" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
    CORE_PID=$BGPID
    for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && return 0; sleep 0.1; done
    notok "causeway-core started"; cat "$WORK/core.out" "$WORK/core.log"; exit 1
}
stop_core() {
    kill -TERM "$CORE_PID"
    for _ in $(seq 1 50); do kill -0 "$CORE_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$CORE_PID" 2>/dev/null
    unlist "$CORE_PID"
}
start_core
check "the service says where the federation link is accepted" \
    grep -q "serving clients on 127.0.0.1:25222, components on 127.0.0.1:25223, the edge's federation link on $LINK" "$WORK/core.log"
cwc xmpp domain add example.test > /dev/null || notok "xmpp domain add"
echo alicepw | cwc xmpp user add alice@example.test --password-stdin > /dev/null || notok "xmpp user add alice"
echo bobpw | cwc xmpp user add bob@example.test --password-stdin > /dev/null || notok "xmpp user add bob"
cwc xmpp callbridge add cb1.example.test > /dev/null || notok "xmpp callbridge add"

# ---- no link yet -----------------------------------------------------------------------
if fp no-link 127.0.0.1 25222 alice@example.test/nl alicepw carol@foreign.example > "$WORK/nolink.out" 2>&1; then
    ok "with no link up, a message to a foreign domain gets remote-server-not-found"
else
    notok "no link: remote-server-not-found"; cat "$WORK/nolink.out"
fi
check "... and the log says no federation link from the edge is up" \
    wait_line "$WORK/core.log" 'notice xmpp: a stanza to foreign.example bounced \(remote-server-not-found\): no federation link from the edge is up on this node' 5

# ---- the handshake ----------------------------------------------------------------------
got=$(fp refused $LINK "$KEY" 2> "$WORK/refused.err")
if [ "$got" = not-authorized ]; then ok "a wrong proof gets the stream error <not-authorized/>"
else notok "wrong proof: wanted not-authorized, got: $got"; cat "$WORK/refused.err"; fi
check "... logged, saying what to check" grep -q \
    "warn xmpp: federation link from 127.0.0.1:[0-9]*: handshake refused (wrong proof): check that link-key-file holds the same key on the edge and on this node" \
    "$WORK/core.log"
if fp domains $LINK "$KEY" node1 example.test cb1.example.test > "$WORK/domains.out" 2>&1; then
    ok "the right proof: the core's proof verifies, <domains/> lists example.test and the call bridge cb1.example.test"
else
    notok "handshake and domains"; cat "$WORK/domains.out"
fi
check "the link's start is logged" \
    grep -q 'notice xmpp: federation link from 127.0.0.1:[0-9]* up (edge): 2 domains announced' "$WORK/core.log"
check "... and its end, with the reason" wait_line "$WORK/core.log" \
    'notice xmpp: federation link from 127.0.0.1:[0-9]+ down: the edge closed the connection' 5

# ---- stanzas ------------------------------------------------------------------------------
if fp inbound $LINK "$KEY" 127.0.0.1 25222 alice@example.test/in alicepw dave@foreign.example/r > "$WORK/inbound.out" 2>&1; then
    ok "a message from dave@foreign.example over the link reaches alice"
else
    notok "inbound message"; cat "$WORK/inbound.out"
fi
if fp outbound $LINK "$KEY" 127.0.0.1 25222 alice@example.test/out alicepw carol@foreign.example > "$WORK/outbound.out" 2>&1; then
    ok "alice's message to carol@foreign.example comes out on the link; the edge's error goes back to her"
else
    notok "outbound message"; cat "$WORK/outbound.out"
fi
if fp spoofed $LINK "$KEY" 127.0.0.1 25222 bob@example.test/sp bobpw alice@example.test/x dave@foreign.example > "$WORK/spoofed.out" 2>&1; then
    ok "stanzas on the link from our own domain, or for a domain not ours, are dropped"
else
    notok "spoofed stanzas"; cat "$WORK/spoofed.out"
fi
check "... and logged" sh -c "
    grep -q 'notice xmpp: federation link from 127.0.0.1:[0-9]*: dropped <message/> from alice@example.test/x to bob@example.test: its from is in one of this node.s domains' '$WORK/core.log'"

# ---- domains change, status -------------------------------------------------------------
rm -f "$WORK/watch.ready"
bg "$NS_O" "$WORK/watch.out" timeout 60 /usr/bin/python3 "$F" watch $LINK "$KEY" new.example "$WORK/watch.ready"
WATCH=$BGPID
for _ in $(seq 1 100); do [ -s "$WORK/watch.ready" ] && break; sleep 0.1; done
cwc xmpp domain add new.example > /dev/null
if wait "$WATCH"; then ok "xmpp domain add: a new <domains/> with new.example arrives on the link"
else notok "new <domains/> after domain add"; cat "$WORK/watch.out"; fi
unlist "$WATCH"
rm -f "$WORK/hold.ready"
bg "$NS_O" "$WORK/hold.out" timeout 60 /usr/bin/python3 "$F" hold $LINK "$KEY" "$WORK/hold.ready" 20
HOLD=$BGPID
for _ in $(seq 1 100); do [ -s "$WORK/hold.ready" ] && break; sleep 0.1; done
cwc xmpp status > "$WORK/status.txt" 2>&1
check "xmpp status lists the listener and the link (peer, node, proof ok, since, stanzas)" sh -c "
    grep -q '^links *$LINK' '$WORK/status.txt' &&
    grep -q '^federation  1 link from the edge up' '$WORK/status.txt' &&
    grep -Eq '^  link +from 127.0.0.1:[0-9]+ +node node1, proof ok, since [0-9-]+T[0-9:]+Z, in [0-9]+ out [0-9]+' '$WORK/status.txt'"
kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null; unlist "$HOLD"

# ---- through the tunnel -----------------------------------------------------------------
if cwc tunnel status 2>&1 | grep -Eq "^$E4:2222 +127.0.0.1 +Active" ||
   { sleep 5; cwc tunnel status 2>&1 | grep -Eq "^$E4:2222 +127.0.0.1 +Active"; }; then
    if fp_e domains mux:127.0.0.1:18443 "$KEY" node1 example.test new.example cb1.example.test > "$WORK/mux-domains.out" 2>&1; then
        ok "through the tunnel: a stream of service xmpp reaches link-listen; handshake and <domains/>"
    else
        notok "handshake through the tunnel"; cat "$WORK/mux-domains.out"
    fi
    # The client is on the inside; the link comes from the edge.
    rm -f "$WORK/mux-in.ready"
    bg "$NS_O" "$WORK/mux-in.out" timeout 60 /usr/bin/python3 "$F" receive 127.0.0.1 25222 \
        bob@example.test/tun bobpw "over the tunnel" "$WORK/mux-in.ready"
    MUXIN=$BGPID
    for _ in $(seq 1 100); do [ -s "$WORK/mux-in.ready" ] && break; sleep 0.1; done
    fp_e send mux:127.0.0.1:18443 "$KEY" erin@foreign.example/x bob@example.test "over the tunnel" \
        > "$WORK/mux-send.out" 2>&1
    if wait "$MUXIN"; then ok "through the tunnel: a message from erin@foreign.example reaches bob"
    else notok "message through the tunnel"; cat "$WORK/mux-in.out" "$WORK/mux-send.out"; fi
    unlist "$MUXIN"
    check "tunnel status counts the federation streams" \
        sh -c "'$BIN/causeway' -c '$WORK/core.conf' tunnel status | grep -q 'Federation streams from the edge -> XMPP link-listen $LINK: [1-9][0-9]* opened, 0 could not connect'"
    got=$(fp_e mux-refused 127.0.0.1:18443 9 2> "$WORK/mux-svc.err")
    if [ "$got" = 2 ]; then ok "a stream of an unknown service is refused with RESET CW_MUX_RST_CONNECT"
    else notok "unknown service: wanted RESET 2, got: $got"; cat "$WORK/mux-svc.err"; fi
    cwc xmpp disable > /dev/null
    got=$(fp_e mux-refused 127.0.0.1:18443 1 2> "$WORK/mux-down.err")
    if [ "$got" = 2 ]; then ok "XMPP service disabled: the federation stream is refused with RESET CW_MUX_RST_CONNECT"
    else notok "service disabled: wanted RESET 2, got: $got"; cat "$WORK/mux-down.err"; fi
    check "... and the tunnel says the link cannot reach link-listen" grep -q \
        "warn tunnel: tunnel to $E4:2222: the edge's federation link cannot reach this node's XMPP service on $LINK (\[xmpp\] link-listen): connection refused" \
        "$WORK/core.log"
    cwc xmpp enable > /dev/null
    TUNNEL=yes
else
    notok "the core's tunnel to the edge is not Active"; cwc tunnel status; TUNNEL=no
fi
check "the link key is never logged" sh -c "! grep -qF '$(cat "$KEY")' '$WORK/core.log'"

# ---- a node without link-listen ------------------------------------------------------------
stop_core
sed -i '/^link-listen = /d; /^link-key-file = /d' "$WORK/core.conf"
mv "$WORK/core.log" "$WORK/core-first.log"
start_core
if [ "$TUNNEL" = yes ]; then
    for _ in $(seq 1 50); do cwc tunnel status 2>&1 | grep -Eq "^$E4:2222 +127.0.0.1 +Active" && break; sleep 0.2; done
    a=$(fp_e mux-refused 127.0.0.1:18443 1 2> "$WORK/mux-off.err")
    b=$(fp_e mux-refused 127.0.0.1:18443 1 2>> "$WORK/mux-off.err")
    if [ "$a $b" = "2 2" ]; then ok "without link-listen, the tunnel refuses federation streams (RESET CW_MUX_RST_CONNECT)"
    else notok "no link-listen: wanted RESET 2 twice, got: $a $b"; cat "$WORK/mux-off.err"; fi
    check "... and says so once, with what to set" test "$(grep -c \
        "warn tunnel: tunnel to $E4:2222: the edge opened a federation link, but this node has no \[xmpp\] link-listen: refused (to federate through this node, set \[xmpp\] link-listen" \
        "$WORK/core.log")" = 1
fi
if fp no-link 127.0.0.1 25222 alice@example.test/off alicepw carol@foreign.example > "$WORK/nolink2.out" 2>&1 &&
   wait_line "$WORK/core.log" 'no federation link from the edge is up on this node \(federation is off here: no \[xmpp\] link-listen' 5; then
    ok "without link-listen, a foreign domain gets remote-server-not-found and the log says federation is off"
else
    notok "no link-listen: remote-server-not-found"; cat "$WORK/nolink2.out"
fi
check "xmpp status says federation is off" sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp status | grep -q '^federation  off on this node'"
check "the node is still up" kill -0 "$CORE_PID"
exit 0
