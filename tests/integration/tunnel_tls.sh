#!/usr/bin/env bash
# tunnel_tls.sh - HTTPS from causeway-core to the webbridge ([tunnel]
# webbridge-tls, on by default, as a meeting server's Web Bridge 3 answers
# HTTPS only): through the edge's real sshd and the core's TLS client to a
# TLS server inside (webbackend.py), found by name in an inside DNS
# (dnsmasq): large bodies both ways checksummed, many connections at once,
# sessions resumed. Then every way the webbridge's TLS can be wrong, each
# refused with a log line and a status line that say what to change, while
# the good tunnel keeps serving: a CA that webbridge-ca does not hold, a
# certificate for another name, a webbridge that answers plain HTTP, and a
# webbridge-ca file that cannot be read (the core does not start).
#
# Namespaces: the edge ($NS_E, sshd on $E4:2222; the forwards' clients run
# on its loopback, where the web proxy would be) and the inside ($NS_O: the
# core, dnsmasq on 127.0.0.1:5353, the webbridges on 127.0.0.1).
. "$(dirname "$0")/lib.sh"
need_root
command -v dnsmasq > /dev/null || { notok "dnsmasq is not installed (make deps)"; exit 1; }
net_setup

BACKEND=$TOP/tests/tools/webbackend.py
PY=/usr/bin/python3
W=web.inside.test

# ---- certificates: the inside CA signs the webbridge's; another CA signs nothing ----------
for ca in ca otherca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=Inside $ca" -keyout "$WORK/$ca.key" -out "$WORK/$ca.pem" >> "$WORK/openssl.log" 2>&1
done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$W" \
    -keyout "$WORK/wb.key" -out "$WORK/wb.csr" >> "$WORK/openssl.log" 2>&1 &&
openssl x509 -req -in "$WORK/wb.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
    -days 2 -extfile <(printf 'subjectAltName=DNS:%s\n' "$W") -out "$WORK/wb.pem" \
    >> "$WORK/openssl.log" 2>&1 || { notok "make certificates"; exit 1; }

# ---- the edge: only its sshd -------------------------------------------------------
edge_conf edge <<CONF
enabled = no
[tunnel]
listen = $E4:2222
state-dir = $WORK/edge-tunnel
permit-listen = 127.0.0.1:18450
permit-listen = 127.0.0.1:18451
permit-listen = 127.0.0.1:18452
permit-listen = 127.0.0.1:18453
permit-listen = 127.0.0.1:18454
CONF
start_edge "$WORK/edge.conf"

# ---- the inside: DNS, an HTTPS webbridge and a plain one ---------------------------------
bg "$NS_O" "$WORK/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=127.0.0.1 --bind-interfaces --port=5353 --local=/inside.test/ \
    --host-record=$W,127.0.0.1 --host-record=other.inside.test,127.0.0.1 --local-ttl=30 \
    --log-facility=-
bg "$NS_O" "$WORK/https.log" $PY "$BACKEND" http 18460 "$WORK/wb.pem" "$WORK/wb.key"
bg "$NS_O" "$WORK/http.log" $PY "$BACKEND" http 18461

# tunnel EDGE_PORT GUEST_URI WEBBRIDGE_PORT [KEY = VALUE lines]: a [tunnel] to this edge.
tunnel() {
    printf '[tunnel]\nedge = %s\nguest-uri = %s\nwebbridge-port = %s\nedge-port = %s\n%b' \
        "$E4" "$2" "$3" "$1" "${4:-}"
}
{ core_section core
  printf '[dns]\nserver = 127.0.0.1:5353\n'
  tunnel 18450 $W 18460 "webbridge-ca = $WORK/ca.pem\n"
  tunnel 18451 $W 18460 "webbridge-ca = $WORK/otherca.pem\n"
  tunnel 18452 other.inside.test 18460 "webbridge-ca = $WORK/ca.pem\n"
  tunnel 18453 $W 18461 "webbridge-ca = $WORK/ca.pem\n"
  tunnel 18454 $W 18461 "webbridge-tls = no\n"; } > "$WORK/core.conf"
pair_core "$WORK/core.conf" $E4
cwc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }
bg "$NS_O" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
CORE_PID=$BGPID
all_active() { [ "$(cwc tunnel status 2>/dev/null | grep -c ' Active ')" = 5 ]; }
check "the core's five tunnels are Active" eventually 20 all_active

get() { in_e curl -sS --max-time 20 "http://127.0.0.1:$1$2"; }
expect() { $PY "$BACKEND" expect "$1"; }
has() { local want=$1; shift; "$@" 2>&1 | grep -q -- "$want"; }

# ---- through the tunnel to the HTTPS webbridge -----------------------------------------
check "a GET through the tunnel reaches the webbridge over HTTPS" \
    has 'hello from the webbridge inside' get 18450 /hello
check "32 MB download over TLS, intact" \
    test "$(get 18450 '/bytes?n=33554432' | sha256sum | cut -d' ' -f1)" = "$(expect 33554432)"
head -c 33554432 /dev/urandom > "$WORK/up.bin"
check "32 MB upload over TLS, intact" \
    test "$(in_e curl -sS --max-time 30 --data-binary @"$WORK/up.bin" http://127.0.0.1:18450/upload)" = \
    "33554432 $(sha256sum < "$WORK/up.bin" | cut -d' ' -f1)"
check "chunked both ways over TLS" \
    test "$(in_e curl -sS --max-time 30 -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/up.bin" \
                 http://127.0.0.1:18450/upload)" = "33554432 $(sha256sum < "$WORK/up.bin" | cut -d' ' -f1)"
check "keep-alive: three requests on one connection" \
    test "$(in_e curl -sS --max-time 20 http://127.0.0.1:18450/hello http://127.0.0.1:18450/hello \
                 http://127.0.0.1:18450/hello | grep -c 'hello from the webbridge inside')" = 3
many() {
    local i pids=""
    for i in $(seq 1 30); do
        get 18450 '/bytes?n=1000000' | sha256sum | cut -d' ' -f1 > "$WORK/many.$i" &
        pids="$pids $!"
    done
    wait $pids
    [ "$(cat "$WORK"/many.* | sort -u)" = "$(expect 1000000)" ]
}
check "30 connections at once, 1 MB each over TLS, all intact" many
cwc tunnel status > "$WORK/status.txt" 2>&1
check "status: the forward goes to the webbridge over HTTPS" \
    grep -q "Forward: edge 127.0.0.1:18450 -> $W port 18460 (HTTPS)" "$WORK/status.txt"
resumed() { awk '/Webbridge TLS: .* chain to .*\/ca.pem;/ { print $(NF - 3) }' "$WORK/status.txt" | head -n 1; }
check "status: sessions are resumed (a new connection costs the webbridge no full handshake)" \
    test "$(resumed)" -gt 0
cwc status json > "$WORK/status.json" 2>&1
check "the status document (admin API) says HTTPS per tunnel and counts handshakes and resumptions" \
    /usr/bin/python3 -c "import json,sys; l=json.load(open(sys.argv[1]))['guest_uri']['list']
sys.exit(0 if l[0]['webbridge'] == 'HTTPS' and l[0]['tls_handshakes'] > 0 and 0 < l[0]['tls_resumed'] <= l[0]['tls_handshakes'] and l[4]['webbridge'] == 'plain HTTP' else 1)" "$WORK/status.json"
check "the status document: the writes to the webbridges went through the io_uring batch" \
    /usr/bin/python3 -c "import json,re,sys; w=json.load(open(sys.argv[1]))['tunnels']['socket_writes']
sys.exit(0 if re.fullmatch(r'batched \(io_uring\): [1-9][0-9]* sends in [1-9][0-9]* system calls, [0-9]+ short', w) else 1)" "$WORK/status.json"

# ---- what can be wrong, each said with its fix; the good tunnel keeps serving -----------
check "a webbridge certificate from a CA not in webbridge-ca: refused" \
    sh -c "! ip netns exec $NS_E curl -sS --max-time 10 http://127.0.0.1:18451/hello > /dev/null 2>&1"
check "... logged with the issuer, the CA file and the fix" \
    wait_line "$WORK/core.log" "warn tunnel: forwarded connection: cannot connect to 127\\.0\\.0\\.1:18460 \\($W\\): TLS: the webbridge's certificate \\(issuer /CN=Inside ca\\) is not signed by a CA in $WORK/otherca\\.pem; add that CA to webbridge-ca" 5
check "a webbridge certificate for another name: refused" \
    sh -c "! ip netns exec $NS_E curl -sS --max-time 10 http://127.0.0.1:18452/hello > /dev/null 2>&1"
check "... logged with the name wanted and the names it has" \
    wait_line "$WORK/core.log" "TLS: the webbridge's certificate does not name other\\.inside\\.test \\(it names $W\\); give the webbridge a certificate for the guest account client URI" 5
check "a webbridge that answers plain HTTP: refused" \
    sh -c "! ip netns exec $NS_E curl -sS --max-time 10 http://127.0.0.1:18453/hello > /dev/null 2>&1"
check "... logged with the setting that fits it" \
    wait_line "$WORK/core.log" "cannot connect to 127\\.0\\.0\\.1:18461 \\($W\\): TLS: the webbridge did not answer in TLS .*; if it serves plain HTTP on port 18461, set webbridge-tls = no" 5
check "the same webbridge with webbridge-tls = no: served" has 'hello from the webbridge inside' get 18454 /hello
cwc tunnel status > "$WORK/status2.txt" 2>&1
check "tunnel status shows each tunnel's last TLS failure" \
    test "$(grep -c 'Last target failure .*: cannot connect to .*: TLS: ' "$WORK/status2.txt")" = 3
check "meanwhile the good tunnel still serves over HTTPS" has 'hello from the webbridge inside' get 18450 /hello
check "the failures were said once each, not once per connection" \
    test "$(for i in 1 2 3; do get 18451 /hello; done > /dev/null 2>&1; grep -c 'is not signed by a CA in' "$WORK/core.log")" = 1

# ---- a fault per tunnel whose webbridge no connection reached, with the reason -------------
# fault ID PYTHON-CONDITION-ON-f: the core's fault ID (raised or cleared) satisfies it.
fault() { has_fault cwc "$@"; }
check "fault webbridge.$W/18451 raised, saying why (the CA) and what guests see" \
    eventually 10 fault "webbridge.$W/18451" "f['cleared'] is None and 'is not signed by a CA in' in f['text'] and 'guests get 502' in f['text']"
check "fault webbridge.other.inside.test/18452 raised (the name)" \
    eventually 10 fault "webbridge.other.inside.test/18452" "f['cleared'] is None and 'does not name other.inside.test' in f['text']"
no_fault() { cwc faults json > /dev/null 2>&1 && ! fault "$1" True; }
check "no fault for the tunnel whose webbridge answers" no_fault "webbridge.$W/18450"
# The webbridge's certificate was made for 2 days: within the 14 that raise the fault.
check "fault webbridge.expiry.$W/18450: the webbridge's certificate expires within 14 days" \
    fault "webbridge.expiry.$W/18450" "f['cleared'] is None and 'expires in 1 day:' in f['text'] and 'renew it on the webbridge' in f['text']"
check "tunnel status shows when the webbridge's certificate ends" \
    grep -q "Webbridge certificate: valid until $(openssl x509 -in "$WORK/wb.pem" -noout -enddate | sed 's/notAfter=//' | xargs -I{} date -u -d {} +%Y-%m-%dT%H:%M:%SZ) (as of the last full handshake)" "$WORK/status.txt"

# ---- SIGHUP re-reads webbridge-ca: a CA added there takes effect without a restart --------
cat "$WORK/ca.pem" >> "$WORK/otherca.pem"
kill -HUP "$CORE_PID"
check "SIGHUP: the core says it re-read the webbridge CAs" \
    wait_line "$WORK/core.log" 'notice core: SIGHUP: reloaded the log level.*, the webbridge CAs \(webbridge-ca\)' 5
check "... and the tunnel whose webbridge-ca now holds the CA serves, with no restart" \
    eventually 5 has 'hello from the webbridge inside' get 18451 /hello
check "... its tunnel stayed up the while" \
    test "$(cwc tunnel status | grep -c ' Active ')" = 5
check "... and its webbridge fault is cleared by the connection that got through" \
    eventually 10 fault "webbridge.$W/18451" "f['cleared'] is not None"
cp "$WORK/otherca.pem" "$WORK/otherca.keep"
echo "not a certificate" > "$WORK/otherca.pem"
kill -HUP "$CORE_PID"
check "SIGHUP with a broken webbridge-ca: logged, and the CAs read before stay in use" \
    wait_line "$WORK/core.log" "error core: SIGHUP: \[tunnel\] number 2 \($W\): webbridge-ca $WORK/otherca\.pem: no PEM certificate in it.*; the CAs read before stay in use" 5
check "... so that tunnel still serves" has 'hello from the webbridge inside' get 18451 /hello
# The doctor below expects tunnel 2 to fail again: its file back to the other CA alone
# (the first certificate of the file), read on a third SIGHUP.
openssl x509 -in "$WORK/otherca.keep" -out "$WORK/otherca.pem" 2>> "$WORK/openssl.log"
kill -HUP "$CORE_PID"
three_hups() { [ "$(grep -c 'notice core: SIGHUP: reloaded' "$WORK/core.log")" = 3 ]; }
eventually 5 three_hups || notok "the third SIGHUP was taken"
# ---- the doctor makes the same handshake, before any guest comes --------------------------
cwc doctor > "$WORK/doctor.out" 2>&1
# finding RESULT ERE: a guest-uri.inside finding (with its fix line) that matches ERE.
finding() { grep -A1 -F "[$1] guest-uri.inside" "$WORK/doctor.out" | grep -Eq -- "$2"; }
check "doctor: the HTTPS webbridge passes" \
    finding 'ok  ' "$W \(webbridge-port 18460\).*127\.0\.0\.1:18460 answers HTTPS with a certificate the core accepts"
check "doctor: the certificate from another CA is found, with the file to add it to" \
    finding FAIL "127\.0\.0\.1:18460: TLS: .* is not signed by a CA in $WORK/otherca\.pem"
check "doctor: the certificate for another name is found" \
    finding FAIL "other\.inside\.test .*does not name other\.inside\.test \(it names $W\)"
check "doctor: the plain-HTTP webbridge is found, with webbridge-tls = no as the way out" \
    finding FAIL "127\.0\.0\.1:18461: TLS: the webbridge did not answer in TLS.*set webbridge-tls = no"
check "doctor: a finding's fix says guests get 502 until it is mended" \
    finding FAIL "fix: until the core accepts the webbridge's TLS, every guest gets 502"
check "doctor: the plain webbridge with webbridge-tls = no answers" \
    finding 'ok  ' "127\.0\.0\.1:18461 answers\$"
kill -TERM "$CORE_PID"; wait "$CORE_PID" 2>/dev/null; unlist "$CORE_PID"

# ---- a CA file that cannot be read: the core says so and does not start --------------
sed "s|^webbridge-ca = $WORK/ca.pem\$|webbridge-ca = $WORK/missing.pem|" "$WORK/core.conf" > "$WORK/bad.conf"
check "webbridge-ca missing: causeway-core does not start" \
    sh -c "! timeout 10 '$BIN/causeway-core' -c '$WORK/bad.conf' > '$WORK/bad.out' 2>&1"
check "... and its log says which tunnel, which file and why" \
    grep -q "error core: $WORK/bad.conf: \[tunnel\] number 1 ($W): webbridge-ca $WORK/missing.pem: No such file or directory; give a PEM file of the CAs" "$WORK/core.log"
check "causeway-core -t finds it too (exit status 1, the same words)" \
    sh -c "! '$BIN/causeway-core' -t -c '$WORK/bad.conf' > '$WORK/bad-t.out' 2>&1 &&
           grep -q 'causeway-core: $WORK/bad.conf: \[tunnel\] number 1 ($W): webbridge-ca $WORK/missing.pem: No such file or directory' '$WORK/bad-t.out'"
check "... and passes the good file" "$BIN/causeway-core" -t -c "$WORK/core.conf"
echo "not a certificate" > "$WORK/junk.pem"
sed "s|^webbridge-ca = $WORK/ca.pem\$|webbridge-ca = $WORK/junk.pem|" "$WORK/core.conf" > "$WORK/bad.conf"
check "webbridge-ca without a certificate in it: causeway-core does not start, and says so" \
    sh -c "! timeout 10 '$BIN/causeway-core' -c '$WORK/bad.conf' > '$WORK/bad.out' 2>&1 &&
           grep -q 'webbridge-ca $WORK/junk.pem: no PEM certificate in it' '$WORK/core.log'"
printf '[tunnel]\nedge = %s\nguest-uri = %s\nedge-port = 1\nwebbridge-tls = maybe\n' "$E4" $W > "$WORK/bad2.conf"
check "webbridge-tls takes yes or no" \
    sh -c "! '$BIN/causeway-core' -t -c '$WORK/bad2.conf' > '$WORK/bad2.out' 2>&1"
check "... and says so with the file and line" grep -q 'bad2.conf:5: "maybe" is not yes or no' "$WORK/bad2.out"

exit 0
