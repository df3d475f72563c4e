#!/usr/bin/env bash
# xmpp_core.sh - one causeway-core node's XMPP service against real clients
# (slixmpp): STARTTLS and SCRAM logins, subscriptions, presence and messages
# between two users, renewed certificates reloaded on SIGHUP while sessions
# go on (a bad one refused), a call-bridge component (XEP-0114) with the secret
# that `causeway xmpp callbridge add` generated, a wrong secret and a wrong
# password refused and logged, and hostile streams (billion laughs, a
# processing instruction, malformed XML, an oversized stanza, auth before
# STARTTLS) answered with the right stream error while the node stays up.
. "$(dirname "$0")/lib.sh"
need_root
/usr/bin/python3 -c 'import slixmpp' 2> /dev/null || { notok "python3-slixmpp is not installed (make deps)"; exit 1; }
net_setup

X=$TOP/tests/integration/xmppc.py
H=$E4
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=example.test" -addext "subjectAltName=DNS:example.test" \
    -keyout "$WORK/xmpp.key" -out "$WORK/xmpp.pem" > "$WORK/openssl.log" 2>&1 || notok "openssl"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=third.test" -addext "subjectAltName=DNS:third.test" \
    -keyout "$WORK/third.key" -out "$WORK/third.pem" >> "$WORK/openssl.log" 2>&1 || notok "openssl"
cat > "$WORK/core.conf" <<CONF
$(core_section node1)
[xmpp]
client-listen = $H:25222
component-listen = $H:25223
certificate = $WORK/xmpp.pem $WORK/xmpp.key
certificate = $WORK/third.pem $WORK/third.key
allow-plain = yes
max-stanza = 65536
ping-interval = 5s
CONF
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
start_core() {
    bg "$NS_E" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
    CORE_PID=$BGPID
    for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && return 0; sleep 0.1; done
    notok "causeway-core started"; cat "$WORK/core.out" "$WORK/core.log"; exit 1
}
xc() { in_e timeout 60 /usr/bin/python3 "$X" "$@"; }
start_core

check "xmpp domain add example.test" cwc xmpp domain add example.test
check "domain list shows it, covered by the certificate" \
    sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp domain list | grep -qx example.test"
check "a domain no certificate covers is added with a warning" \
    sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp domain add other.test | grep -q 'no \[xmpp\] certificate'"
check "xmpp user add alice (password on stdin)" \
    sh -c "echo alicepw | '$BIN/causeway' -c '$WORK/core.conf' xmpp user add alice@example.test --password-stdin"
check "xmpp user add bob" \
    sh -c "echo bobpw | '$BIN/causeway' -c '$WORK/core.conf' xmpp user add bob@example.test --password-stdin"
check "a user of an unknown domain is refused" \
    sh -c "! echo x | '$BIN/causeway' -c '$WORK/core.conf' xmpp user add carol@nowhere.test --password-stdin"
check "user list" sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp user list | grep -qx alice@example.test"
S=$WORK/core-state
check "the state's journal holds SCRAM keys, not the password; the state file and the journal are 0600" \
    sh -c "grep -q '^user-set example.test alice SCRAM-SHA-256:' '$S/xmpp.journal' &&
           ! grep -q alicepw '$S/xmpp.state' '$S/xmpp.journal' &&
           [ \$(stat -c %a '$S/xmpp.state') = 600 ] && [ \$(stat -c %a '$S/xmpp.journal') = 600 ]"

if xc chat $H 25222 alice@example.test/a alicepw bob@example.test/b bobpw 200 > "$WORK/chat.out" 2>&1; then
    ok "two clients subscribe, see each other's presence, exchange 200 messages each way (SCRAM-SHA-256)"
else
    notok "chat between two clients"; cat "$WORK/chat.out"
fi
if xc chat $H 25222 alice@example.test/a1 alicepw bob@example.test/b1 bobpw 20 SCRAM-SHA-1 > "$WORK/chat1.out" 2>&1; then
    ok "the same with SCRAM-SHA-1 (subscription already in the rosters)"
else
    notok "chat with SCRAM-SHA-1"; cat "$WORK/chat1.out"
fi
check "the log names the SASL mechanism of each login" grep -q "authenticated as alice@example.test (SCRAM-SHA-1)" "$WORK/core.log"
if xc chat $H 25222 alice@example.test/p alicepw bob@example.test/q bobpw 5 PLAIN > "$WORK/chatp.out" 2>&1; then
    ok "with allow-plain, PLAIN over TLS works too"
else
    notok "chat with PLAIN"; cat "$WORK/chatp.out"
fi
check "a domain with its own certificate: STARTTLS for third.test gets that certificate (SNI)" sh -c "
    '$BIN/causeway' -c '$WORK/core.conf' xmpp domain add third.test > /dev/null &&
    echo | ip netns exec $NS_E timeout 10 openssl s_client -starttls xmpp -xmpphost third.test \
        -servername third.test -connect $H:25222 2>/dev/null | grep -q 'subject=CN = third.test' &&
    echo | ip netns exec $NS_E timeout 10 openssl s_client -starttls xmpp -xmpphost example.test \
        -servername example.test -connect $H:25222 2>/dev/null | grep -q 'subject=CN = example.test'"

# A renewed certificate: SIGHUP serves it to new connections while the
# sessions already in TLS go on with theirs.
fp_served() {   # the SHA-256 fingerprint of what STARTTLS for example.test presents
    echo | ip netns exec $NS_E timeout 10 openssl s_client -starttls xmpp -xmpphost example.test \
        -servername example.test -connect $H:25222 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 40 \
    -subj "/CN=example.test" -addext "subjectAltName=DNS:example.test" \
    -keyout "$WORK/renewed.key" -out "$WORK/renewed.pem" >> "$WORK/openssl.log" 2>&1 || notok "openssl"
check "before the reload, STARTTLS presents the first certificate" \
    test "$(fp_served)" = "$(fp_file "$WORK/xmpp.pem")"
check "the first certificate expires in 2 days: fault xmpp.expiry.1, with the fix" \
    has_fault cwc xmpp.expiry.1 "f['cleared'] is None and f['text'].startswith('the certificate for example.test expires in 1 day: renew it, then \`systemctl reload causeway-core\`')"
in_e env PACE=0.02 READYFILE="$WORK/flowing" timeout 60 /usr/bin/python3 "$X" chat $H 25222 \
    alice@example.test/r alicepw bob@example.test/s bobpw 150 > "$WORK/reload-chat.out" 2>&1 &
FLOW=$!
for _ in $(seq 1 100); do [ -s "$WORK/flowing" ] && break; sleep 0.1; done
cp "$WORK/xmpp.pem" "$WORK/first.pem"
cp "$WORK/renewed.key" "$WORK/xmpp.key" && cp "$WORK/renewed.pem" "$WORK/xmpp.pem"
kill -HUP "$CORE_PID"
check "SIGHUP logs the certificates reloaded" \
    wait_line "$WORK/core.log" 'notice xmpp: certificates reloaded \(2\); new connections use them' 5
check "and names them in its summary" \
    wait_line "$WORK/core.log" 'SIGHUP: reloaded the log level, \[xmpp\] certificates from' 5
check "a domain the certificates do not cover is named" \
    grep -q 'warn xmpp: no \[xmpp\] certificate covers other.test' "$WORK/core.log"
if wait "$FLOW"; then
    ok "two sessions in TLS across the reload keep going: 150 messages each way, in order"
else
    notok "sessions across the certificate reload"; cat "$WORK/reload-chat.out"
fi
check "after it, STARTTLS presents the renewed certificate" \
    test "$(fp_served)" = "$(fp_file "$WORK/renewed.pem")"
check "the fault is cleared" has_fault cwc xmpp.expiry.1 "f['cleared'] is not None"
cwc status xmpp json > "$WORK/xmpp.json" 2>&1
check "the status document lists both certificates, the renewed one with 39-40 days left" \
    py '[c["names"] for c in d["xmpp"]["certificates"]] == ["example.test", "third.test"] and 39 <= d["xmpp"]["certificates"][0]["days_left"] <= 40' "$WORK/xmpp.json"
check "xmpp status shows the renewed certificate's expiry" sh -c "
    '$BIN/causeway' -c '$WORK/core.conf' xmpp status |
        grep -q \"^Certificate: $WORK/xmpp.pem (example.test; expires $(date -u -d '+40 days' +%Y-%m-%d))\""
# A bad file (a key that is not the certificate's) keeps the running ones;
# `causeway reload` does what SIGHUP does and answers with it.
cp "$WORK/third.key" "$WORK/xmpp.key"
cwc reload > "$WORK/reload.out" 2>&1; RC=$?
check "a certificate and key that do not match: causeway reload exits 1 and says why" sh -c "
    [ $RC = 1 ] && grep -q '^SIGHUP: \[xmpp\] certificates not reloaded: .*; the running ones stay in use\$' '$WORK/reload.out' &&
    grep -q '^SIGHUP: reloaded the log level from ' '$WORK/reload.out'"
check "the log has the same error line" \
    wait_line "$WORK/core.log" 'error core: SIGHUP: \[xmpp\] certificates not reloaded: .*; the running ones stay in use' 5
check "STARTTLS still presents the renewed certificate" \
    test "$(fp_served)" = "$(fp_file "$WORK/renewed.pem")"
cp "$WORK/renewed.key" "$WORK/xmpp.key"
check "with the files mended, causeway reload exits 0 naming the certificates" \
    sh -c "'$BIN/causeway' -c '$WORK/core.conf' reload | grep -q '^SIGHUP: reloaded the log level, \[xmpp\] certificates from '"

# A certificate line added (for other.test) and a setting that a reload
# cannot apply (max-stanza) changed: the line is taken, the setting named
# as waiting for a restart, until it is put back.
subject_for() {
    echo | ip netns exec $NS_E timeout 10 openssl s_client -starttls xmpp -xmpphost "$1" \
        -servername "$1" -connect $H:25222 2>/dev/null | openssl x509 -noout -subject
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=other.test" -addext "subjectAltName=DNS:other.test" \
    -keyout "$WORK/other.key" -out "$WORK/other.pem" >> "$WORK/openssl.log" 2>&1 || notok "openssl"
check "before, STARTTLS for other.test gets the first certificate (none names it)" \
    test "$(subject_for other.test)" = "subject=CN = example.test"
sed -i "s|^max-stanza = 65536\$|max-stanza = 70000\ncertificate = $WORK/other.pem $WORK/other.key|" "$WORK/core.conf"
check "a certificate line added and max-stanza changed: reload exits 0, names max-stanza as waiting for a restart" \
    reload_waits cwc "$WORK/core.conf" causeway-core '\[xmpp\] max-stanza' '\[xmpp\] certificates'
check "the log has it as a warning" \
    grep -q 'warn core: SIGHUP: 1 changed setting of .* waits for a restart of causeway-core: \[xmpp\] max-stanza' "$WORK/core.log"
check "fault config.restart says which setting waits" \
    has_fault cwc config.restart "f['cleared'] is None and f['text'].endswith(': [xmpp] max-stanza')"
check "the added line's certificate is served for other.test (SNI)" \
    test "$(subject_for other.test)" = "subject=CN = other.test"
check "xmpp status lists the added certificate" sh -c "
    '$BIN/causeway' -c '$WORK/core.conf' xmpp status | grep -q '^Certificate: $WORK/other.pem (other.test; '"
sed -i "s|^max-stanza = 70000\$|max-stanza = 65536|" "$WORK/core.conf"
check "max-stanza put back: the next reload says no other setting changed" sh -c "
    '$BIN/causeway' -c '$WORK/core.conf' reload | grep -q '(no other setting changed)\$'"
check "... and the fault is cleared" has_fault cwc config.restart "f['cleared'] is not None"

if xc login-fails $H 25222 alice@example.test/x wrongpw > "$WORK/badpw.out" 2>&1; then
    ok "a wrong password is refused"
else
    notok "wrong password"; cat "$WORK/badpw.out"
fi
check "and logged as an authentication failure naming the user" \
    wait_line "$WORK/core.log" 'authentication failed for "alice" in example.test: .*proof' 5

# A client that stops reading is cut once 4 MiB wait for it, and the
# client sending to it is served on.
if xc slow-reader $H 25222 alice@example.test/flood alicepw bob@example.test/stalled bobpw 16 \
        > "$WORK/slow.out" 2>&1; then
    ok "16 MB of messages to a client that does not read: the sender is served on"
else
    notok "a client that does not read"; cat "$WORK/slow.out"
fi
check "the client that does not read is cut, with a log line" \
    wait_line "$WORK/core.log" 'notice xmpp: client bob@example.test/stalled: closing: it does not read what is sent to it \([0-9]+ bytes queued\)' 5
check "... when no more than 4 MiB waited for it" sh -c "
    n=\$(sed -n 's/.*client bob@example.test\/stalled: closing: .*(\([0-9]*\) bytes queued)\$/\\1/p' '$WORK/core.log' | head -n 1)
    [ -n \"\$n\" ] && [ \"\$n\" -le 4194304 ]"

# Liveness (ping-interval 5s): a client that answers the server's pings
# stays however long it is idle; one whose host went silent is closed.
if xc idle $H 25222 alice@example.test/idle alicepw 12 > "$WORK/idle.out" 2>&1; then
    ok "a client idle for 12 s (pings every 5 s answered) stays connected"
else
    notok "an idle client"; cat "$WORK/idle.out"
fi
xc idle $H 25222 bob@example.test/frozen bobpw 12 freeze > "$WORK/frozen.out" 2>&1
check "a client that neither sends nor answers: closed after ping-interval and half again" \
    wait_line "$WORK/core.log" 'info xmpp: client bob@example.test/frozen: closing: it sent nothing for [0-9]+ s and did not answer a ping \(a dead connection\)' 5
check "... and not the one that answered" \
    sh -c "! grep -q 'client alice@example.test/idle: closing: it sent nothing' '$WORK/core.log'"

# A roster holds at most 1000 items: the next roster set is refused.
echo carolpw | cwc xmpp user add carol@example.test --password-stdin > /dev/null 2>&1
got=$(xc roster-fill $H 25222 carol@example.test/r carolpw 1000 2> "$WORK/roster-fill.err")
check "1000 contacts in a roster, then one more: refused with not-allowed ($got)" \
    test "$got" = "1000 contacts added; the next: not-allowed"
check "... and logged" grep -q 'info xmpp: carol@example.test/r: roster set refused: the roster holds 1000 items, the most it may' "$WORK/core.log"

SECRET=$(cwc xmpp callbridge add cb1.example.test | tail -n 1)
check "callbridge add prints a generated secret" sh -c "echo '$SECRET' | grep -Eq '^[0-9a-f]{48}\$'"
check "callbridge list" sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp callbridge list | grep -qx cb1.example.test"
if xc component $H 25222 cb1.example.test "$SECRET" 25223 alice@example.test/c alicepw > "$WORK/comp.out" 2>&1; then
    ok "a component authenticates with the generated secret and echoes a client's message"
else
    notok "component with the generated secret"; cat "$WORK/comp.out"
fi
check "callbridge add-secret sets a known secret" cwc xmpp callbridge add-secret cb2.example.test knownsecret1
if xc component $H 25222 cb2.example.test knownsecret1 25223 bob@example.test/c bobpw > "$WORK/comp2.out" 2>&1; then
    ok "a component authenticates with a secret set by add-secret"
else
    notok "component with add-secret"; cat "$WORK/comp2.out"
fi
if xc component-refused $H 25223 cb1.example.test wrongsecret > "$WORK/compbad.out" 2>&1; then
    ok "a component with a wrong secret is refused"
else
    notok "component with a wrong secret"; cat "$WORK/compbad.out"
fi
check "and logged as an authentication failure naming the component" \
    wait_line "$WORK/core.log" 'component cb1.example.test from .*: authentication failure: wrong handshake' 5

for c in laughs:restricted-xml pi:restricted-xml malformed:not-well-formed notls:policy-violation oversize:policy-violation; do
    case_=${c%%:*} want=${c#*:}
    got=$(xc raw $H 25222 "$case_" 2> "$WORK/raw-$case_.err")
    if [ "$got" = "$want" ]; then ok "hostile stream ($case_) gets the stream error $want"
    else notok "hostile stream ($case_): wanted $want, got: $got"; fi
done
check "the node is still up" kill -0 "$CORE_PID"
if xc chat $H 25222 alice@example.test/d alicepw bob@example.test/e bobpw 5 > "$WORK/chat2.out" 2>&1; then
    ok "after the hostile streams, clients still log in and chat"
else
    notok "chat after hostile streams"; cat "$WORK/chat2.out"
fi
check "xmpp status lists the listeners" sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp status | grep -q 'clients .*25222'"

check "callbridge del" cwc xmpp callbridge del cb2.example.test
check "user del" cwc xmpp user del bob@example.test
check "each change went to the journal; the state file was not written again" \
    sh -c "grep -qx 'user-del example.test bob' '$S/xmpp.journal' && ! grep -q alice '$S/xmpp.state'"
kill -TERM "$CORE_PID"; wait "$CORE_PID" 2>/dev/null; unlist "$CORE_PID"
start_core
check "a start that finds changes in the journal folds them into the state file" \
    sh -c "[ \$(grep -vc '^#' '$S/xmpp.journal') = 0 ] && grep -q '^user-set example.test alice ' '$S/xmpp.state'"
check "the state survives a restart (users, call bridges)" \
    sh -c "'$BIN/causeway' -c '$WORK/core.conf' xmpp user list | grep -qx alice@example.test &&
           ! '$BIN/causeway' -c '$WORK/core.conf' xmpp user list | grep -q bob@ &&
           '$BIN/causeway' -c '$WORK/core.conf' xmpp callbridge list | grep -qx cb1.example.test"
exit 0
