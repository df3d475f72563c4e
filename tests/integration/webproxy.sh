#!/usr/bin/env bash
# webproxy.sh - the edge's HTTPS reverse proxy with real clients (curl,
# openssl s_client, python3-websockets) in front of a test webbridge that
# sits behind a causeway-core SSH tunnel (the real sshd and libssh2; the core
# reaches the webbridge over HTTPS, as a meeting server's), and of one
# reached directly: keep-alive, large bodies both ways (Content-Length
# and chunked), HEAD, 100-continue, SNI, WebSocket, the port 80 redirect,
# request smuggling probes, oversized heads, a slowloris, unknown hosts, a
# backend that is down - each refused as it should be while a well-behaved
# client on another connection is served.
. "$(dirname "$0")/lib.sh"
need_root
net_setup

BACKEND=$TOP/tests/tools/webbackend.py
PROBE=$TOP/tests/tools/httpprobe.py
PY=/usr/bin/python3
J=join.example.test     # through the tunnel
D=direct.example.test   # straight to a backend on the edge

# ---- certificates: a test CA, one certificate per name (SNI chooses), and the ----
# ---- inside webbridge's (the core reaches it over HTTPS, by its address) ---------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Test CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" > "$WORK/openssl.log" 2>&1
# leaf NAME [SAN]: $WORK/NAME.pem and .key, for DNS:NAME unless SAN says otherwise.
leaf() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$WORK/$1.key" -out "$WORK/$1.csr" >> "$WORK/openssl.log" 2>&1 &&
    openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
        -days 2 -extfile <(printf 'subjectAltName=%s\n' "${2:-DNS:$1}") -out "$WORK/$1.pem" \
        >> "$WORK/openssl.log" 2>&1
}
leaf $J && leaf $D && leaf webbridge IP:127.0.0.1 || { notok "make certificates"; exit 1; }

# ---- the edge: sshd for the tunnel, the proxy on 443 and 80 -----------------------
ST=$WORK/tunnel
edge_conf edge <<CONF
enabled = no
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
permit-listen = 127.0.0.1:18447
permit-listen = 127.0.0.1:18448
[webproxy]
listen = $E4:443
http-listen = $E4:80
certificate = $WORK/$J.pem $WORK/$J.key
certificate = $WORK/$D.pem $WORK/$D.key
host = $J 127.0.0.1:18443
host = $D 127.0.0.1:18081
host = down.example.test 127.0.0.1:18099
host = old.example.test 127.0.0.1:18448
header-timeout = 3
response-timeout = 5
access-log = $WORK/access.log
CONF
start_edge "$WORK/edge.conf"
bg "$NS_E" "$WORK/direct.log" $PY "$BACKEND" http 18081
# On a forward port with no core behind it but a plain web server (as a
# core that does not speak the link would pass the link's preface on).
bg "$NS_E" "$WORK/old.log" $PY "$BACKEND" http 18448

check "the proxy warns that no certificate covers down.example.test" \
    grep -q 'warn webproxy: no certificate covers down.example.test' "$WORK/edge.log"
check "... and that its backend is no permit-listen port, which no core can hold" \
    grep -q "warn webproxy: host down.example.test goes to 127.0.0.1:18099, which is none of \[tunnel\]'s permit-listen ports" "$WORK/edge.log"
check "... but not of $J, whose backend is one" \
    sh -c "! grep -q 'warn webproxy: host $J goes to' '$WORK/edge.log'"

# ---- the inside: the webbridge stand-in and a core tunnelled to the edge -------------
WB_TLS="$WORK/webbridge.pem $WORK/webbridge.key"
bg "$NS_O" "$WORK/inside.log" $PY "$BACKEND" http 18080 $WB_TLS
bg "$NS_O" "$WORK/ws.log" $PY "$BACKEND" ws 18082 $WB_TLS
cat > "$WORK/core.conf" <<CONF
$(core_section core1)
[tunnel]
edge = $E4
guest-uri = 127.0.0.1
webbridge-port = 18080
webbridge-ca = $WORK/ca.pem
edge-port = 18443
[tunnel]
edge = $E4
guest-uri = 127.0.0.1
webbridge-port = 18082
webbridge-ca = $WORK/ca.pem
edge-port = 18447
CONF
pair_core "$WORK/core.conf" $E4
bg "$NS_O" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
CORE_PID=$BGPID
tunnel_up() {
    for _ in $(seq 1 100); do
        [ "$("$BIN/causeway" -c "$WORK/core.conf" tunnel status 2>/dev/null | grep -c ' Active ')" = 2 ] && return 0
        sleep 0.1
    done
    return 1
}
check "the core's tunnels are Active" tunnel_up

# curl as a guest on the internet: names resolve to the edge's address.
gcurl() { in_o curl -sS --max-time 30 --cacert "$WORK/ca.pem" --resolve "$J:443:$E4" \
    --resolve "$D:443:$E4" --resolve "$J:80:$E4" --resolve "other.example.test:443:$E4" "$@"; }
expect() { $PY "$BACKEND" expect "$1"; }
has() { local want=$1; shift; "$@" | grep -q -- "$want"; }
code() { gcurl -o /dev/null -w '%{http_code}' "$@"; }
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }

check "the proxy's link to the core is up (guest connections multiplexed on one tunnel connection)" \
    eventually 15 has '127.0.0.1:18443: up since' cw webproxy status

# ---- requests through proxy and tunnel ------------------------------------------------
check "GET through proxy and tunnel" has 'hello from the webbridge inside' gcurl "https://$J/hello"
gcurl -D "$WORK/h1.txt" -o /dev/null "https://$J/hello"
check "HSTS on proxied answers" grep -qi '^strict-transport-security: max-age=31536000' "$WORK/h1.txt"
check "an answer whose head comes in two pieces, then the next on the same connection" \
    test "$(gcurl "https://$J/split" "https://$J/split")" = \
    "$(printf 'hello from the webbridge inside\nhello from the webbridge inside')"
gcurl "https://$J/headers" > "$WORK/fwd.txt"
check "the webbridge sees X-Forwarded-For, X-Forwarded-Proto and Forwarded" \
    sh -c "grep -q '^X-Forwarded-For: $C4\$' '$WORK/fwd.txt' && grep -q '^X-Forwarded-Proto: https\$' '$WORK/fwd.txt' &&
           grep -q '^Forwarded: for=$C4;proto=https;host=\"$J\"\$' '$WORK/fwd.txt'"
gcurl -H 'X-Forwarded-For: 203.0.113.66' "https://$J/headers" > "$WORK/fwd2.txt"
check "a guest's own X-Forwarded-For is not passed on" sh -c "! grep -q 203.0.113.66 '$WORK/fwd2.txt'"
gcurl -v "https://$J/hello" "https://$J/hello" -o /dev/null -o /dev/null 2> "$WORK/ka.txt"
check "keep-alive: the second request reuses the connection" grep -q 'Re-using existing connection' "$WORK/ka.txt"
check "an empty answer (Content-Length: 0) ends its exchange: the next request follows" \
    test "$(gcurl --max-time 3 "https://$J/empty" "https://$J/hello")" = "hello from the webbridge inside"
check "a guest's next connection reuses the backend connection of its last (kept idle)" \
    test "$(gcurl "https://$J/peer")" = "$(gcurl "https://$J/peer")"
check "the webbridge ending a keep-alive connection costs the guest nothing" \
    test "$(gcurl "https://$J/bye" "https://$J/hello" "https://$J/bye" "https://$J/hello")" = \
    "$(printf 'bye\nhello from the webbridge inside\nbye\nhello from the webbridge inside')"
check "32 MB download through the tunnel, intact (Content-Length)" \
    test "$(gcurl "https://$J/bytes?n=33554432" | sha256sum | cut -d' ' -f1)" = "$(expect 33554432)"
check "32 MB download through the tunnel, intact (chunked)" \
    test "$(gcurl "https://$J/chunked?n=33554432" | sha256sum | cut -d' ' -f1)" = "$(expect 33554432)"
head -c 33554432 /dev/urandom > "$WORK/up.bin"
want="33554432 $(sha256sum < "$WORK/up.bin" | cut -d' ' -f1)"
check "32 MB upload through the tunnel, intact (Content-Length)" \
    test "$(gcurl --data-binary @"$WORK/up.bin" "https://$J/upload")" = "$want"
check "32 MB upload through the tunnel, intact (chunked)" \
    test "$(gcurl -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/up.bin" "https://$J/upload")" = "$want"
gcurl -v -H 'Expect: 100-continue' --data-binary @"$WORK/up.bin" "https://$J/upload" \
    > "$WORK/100.out" 2> "$WORK/100.err"
check "100-continue: the webbridge's 100 reaches the guest, the body follows" \
    sh -c "grep -q '< HTTP/1.1 100' '$WORK/100.err' && test \"\$(cat '$WORK/100.out')\" = '$want'"
gcurl -I "https://$J/bytes?n=1000" > "$WORK/head.txt"
check "HEAD: the head, Content-Length as for GET, no body" \
    sh -c "grep -q '^HTTP/1.1 200' '$WORK/head.txt' && grep -qi '^content-length: 1000' '$WORK/head.txt'"
check "HEAD then GET on one connection (the HEAD answer has no body)" \
    test "$(gcurl -I "https://$J/hello" -o /dev/null -w '%{http_code}' --next --cacert "$WORK/ca.pem" \
        --resolve "$J:443:$E4" "https://$J/hello")" = "200hello from the webbridge inside"

# ---- the link: many guests on one tunnel connection ------------------------------------
urls=() outs=()
for i in $(seq 1 40); do urls+=("https://$J/bytes?n=1048576"); outs+=(-o "$WORK/par.$i"); done
gcurl -Z --parallel-max 40 "${outs[@]}" "${urls[@]}"
check "40 guests at once, 1 MB each through the link, all intact" \
    test "$(cat "$WORK"/par.* | sha256sum | cut -d' ' -f1)" = \
    "$(for i in $(seq 1 40); do head -c 1048576 "$WORK/par.1"; done | sha256sum | cut -d' ' -f1)"
check "... and that 1 MB is the webbridge's" \
    test "$(sha256sum < "$WORK/par.7" | cut -d' ' -f1)" = "$(expect 1048576)"
"$BIN/causeway" -c "$WORK/core.conf" tunnel status > "$WORK/core-status.txt" 2>&1
check "the core's status counts the link and the connections on it" \
    grep -Eq 'Links from the edge.s web proxy: [1-9][0-9]* opened; [0-9]+ connections open on them, [0-9]{2,} in all' \
    "$WORK/core-status.txt"
check "... and that every stream went on to the webbridge over HTTPS, most resuming a session" \
    awk '/Webbridge TLS: .*; [0-9]+ handshakes, [0-9]+ of them resumed/ && $(NF - 3) > 20 { ok = 1 } END { exit !ok }' \
    "$WORK/core-status.txt"
# Flow control per stream: a guest that reads slowly holds back its own
# stream, not the link. The slow download is still running when the other
# guest's 16 MB have crossed the same link.
gcurl --limit-rate 50K -o /dev/null "https://$J/bytes?n=20000000" & SLOW=$!
sleep 1
check "a slow guest does not hold back another guest on the same link" \
    sh -c "test \"\$(ip netns exec $NS_O curl -sS --max-time 30 --cacert '$WORK/ca.pem' --resolve '$J:443:$E4' \
        'https://$J/bytes?n=16777216' | sha256sum | cut -d' ' -f1)\" = '$(expect 16777216)' && kill -0 $SLOW"
kill "$SLOW" 2>/dev/null; wait "$SLOW" 2>/dev/null
check "a core that does not speak the link: the proxy says so and uses a connection per guest" \
    sh -c "test \"\$(ip netns exec $NS_O curl -sS --max-time 10 --cacert '$WORK/ca.pem' -k \
        --resolve 'old.example.test:443:$E4' https://old.example.test/hello)\" = 'hello from the webbridge inside' &&
        grep -q 'the core behind 127.0.0.1:18448 does not speak the tunnel link' '$WORK/edge.log'"

# A guest's browser: Debian's Chromium, headless, in the outside namespace; it
# trusts exactly this certificate (its key's SPKI hash), as if a CA had signed it.
if [ -x /usr/bin/chromium ] && [ -d "$TOP/tests/browser/node_modules/playwright-core" ]; then
    spki=$(spki_of "$WORK/$J.pem")
    in_o env HOME="$WORK" node "$TOP/tests/browser/load.js" "https://$J/hello" \
        "hello from the webbridge inside" "--host-resolver-rules=MAP $J $E4" \
        "--ignore-certificate-errors-spki-list=$spki" > "$WORK/chromium.txt" 2>&1
    check "headless Chromium loads the page through proxy and tunnel" \
        grep -q '^loaded 200: hello from the webbridge inside' "$WORK/chromium.txt"
else
    skip "headless Chromium: /usr/bin/chromium or tests/browser/node_modules missing (make deps)"
fi

# ---- SNI and hosts -----------------------------------------------------------------
sni_cn() { echo | in_o openssl s_client -connect "$E4:443" ${1:+-servername "$1"} 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null; }
check "SNI $J gets $J's certificate" has "CN = $J" sni_cn $J
check "SNI $D gets $D's certificate" has "CN = $D" sni_cn $D
check "no SNI gets the first certificate" has "CN = $J" sni_cn
check "a direct backend (single-box setup) is served" has hello gcurl "https://$D/hello"
gcurl -k -o "$WORK/unknown.html" -w '%{http_code}' "https://other.example.test/hello" > "$WORK/unknown.code"
check "an unknown Host gets 400, and the page names nothing inside" \
    sh -c "test \"\$(cat '$WORK/unknown.code')\" = 400 && ! grep -Eq '127\\.0\\.0\\.1|18443|$J' '$WORK/unknown.html'"
check "Host differing from the TLS name: 421" \
    test "$(in_o $PY "$PROBE" send "$WORK/ca.pem" $E4:443 "$J" "GET /hello HTTP/1.1\r\nHost: $D\r\n\r\n" 2>&1)" = 421
check "the webbridge down: 502 with a short page" \
    test "$(code -k --resolve "down.example.test:443:$E4" https://down.example.test/)" = 502
check "the 502 is logged with the backend and what to check" \
    grep -q 'warn webproxy: 502 for .*cannot connect to the backend 127.0.0.1:18099 for down.example.test: connection refused' "$WORK/edge.log"

# ---- port 80 --------------------------------------------------------------------------
gcurl -D "$WORK/r80.txt" -o /dev/null "http://$J/some/path?x=1"
check "port 80 answers 301 to https on the same host and path" \
    sh -c "grep -q '^HTTP/1.1 301' '$WORK/r80.txt' && grep -qi '^location: https://$J/some/path?x=1' '$WORK/r80.txt'"
check "port 80 refuses an unknown host" \
    test "$(in_o curl -s -o /dev/null -w '%{http_code}' -H 'Host: other.example.test' "http://$E4/")" = 400

# ---- WebSocket -----------------------------------------------------------------------
# The WebSocket echo server is inside too, behind the core's second tunnel.
sed -i -e "s|^host = $D 127.0.0.1:18081|host = $D 127.0.0.1:18447|" \
    -e "s|^header-timeout = 3|header-timeout = 3\nidle-timeout = 2\nmax-body = 1\nmax-connections-per-ip = 6|" \
    "$WORK/edge.conf"
stop_edge
start_edge "$WORK/edge.conf"
tunnel_up
check "WebSocket through proxy and tunnel: 3000 messages echoed intact" \
    test "$(in_o $PY "$PROBE" ws "$WORK/ca.pem" $E4:443 "$D" 3000 2>&1 | tail -n 1)" = "echoed 3000"

# ---- what must be refused, while a good client is served -------------------------------
gcurl -o /dev/null "https://$J/bytes?n=200000000" & GOOD=$!
probe() { in_o $PY "$PROBE" send "$WORK/ca.pem" $E4:443 "$J" "$1" 2>&1; }
H="Host: $J\r\n"
check "smuggling: Content-Length with Transfer-Encoding: 400" \
    test "$(probe "POST /upload HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")" = 400
check "smuggling: Transfer-Encoding other than chunked: 501" \
    test "$(probe "POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")" = 501
check "smuggling: Transfer-Encoding with a space before the colon: 400" \
    test "$(probe "POST /upload HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n")" = 400
check "smuggling: two Content-Length fields: 400" \
    test "$(probe "POST /upload HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc")" = 400
check "smuggling: obs-fold: 400" \
    test "$(probe "GET /hello HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n")" = 400
check "smuggling: a bare LF: 400" \
    test "$(probe "GET /hello HTTP/1.1\n${H}\r\n")" = 400
check "a pipelined pair is answered in order on one connection" \
    test "$(probe "GET /hello HTTP/1.1\r\n${H}\r\nGET /hello HTTP/1.1\r\n${H}Connection: close\r\n\r\n")" = "200 200"
check "a guest that half-closes after a pipelined pair gets both answers" \
    test "$(in_o $PY "$PROBE" halfclose "$WORK/ca.pem" $E4:443 "$J" \
        "GET /hello HTTP/1.1\r\n${H}\r\nGET /hello HTTP/1.1\r\n${H}\r\n" 2>&1)" = "200 200"
check "a kept-alive connection is closed after idle-timeout (2 s)" \
    sh -c "ip netns exec $NS_O $PY $PROBE idle $WORK/ca.pem $E4:443 $J 8 | grep -Eq '^200 [2-3]\$'"
big=$(head -c 20000 /dev/zero | tr '\0' a)
check "a head over 16 KB: 431" test "$(probe "GET /hello HTTP/1.1\r\n${H}X-Big: $big\r\n\r\n")" = 431
check "a slowloris is cut off at the header timeout (408)" \
    sh -c "ip netns exec $NS_O $PY $PROBE slow $WORK/ca.pem $E4:443 $J 8 | grep -Eq '^(408|closed) [3-5]\$'"
check "CONNECT is refused" test "$(probe "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")" = 400
check "meanwhile the large download on another connection finished" wait "$GOOD"
check "every refusal is in the log with its reason" \
    grep -q 'info webproxy: 400 for .*both Content-Length and Transfer-Encoding' "$WORK/edge.log"
check "the access log has a line per request (written within a second)" eventually 15 \
    grep -Eq "^$C4 - - \[.*\] \"GET /hello HTTP/1.1\" 200 [0-9]+ \"$J\" upstream_ms=[0-9]+ total_ms=[0-9]+\$" "$WORK/access.log"

head -c 2000000 /dev/zero > "$WORK/2mb.bin"
check "a body over max-body (1 MB): 413" \
    test "$(code --data-binary @"$WORK/2mb.bin" "https://$J/upload")" = 413
check "max-connections-per-ip (6): 10 at once from one address, 6 served" \
    test "$(in_o $PY "$PROBE" many "$WORK/ca.pem" $E4:443 "$J" 10 2>&1)" = 6
check "the refusals are logged" grep -q "refusing a connection from $C4: 6 open from that address" "$WORK/edge.log"

# ---- status, reload, the tunnel going away ---------------------------------------------
cw webproxy status > "$WORK/status.txt"
check "webproxy status lists listeners, hosts and counts" \
    sh -c "grep -q '$E4:443 (https)' '$WORK/status.txt' && grep -q '$J -> 127.0.0.1:18443' '$WORK/status.txt' &&
           grep -q 'Requests: [1-9]' '$WORK/status.txt'"
check "webproxy status: the socket writes went through the io_uring batch" \
    grep -Eq '^  Socket writes: batched \(io_uring\): [1-9][0-9]* sends in [1-9][0-9]* system calls, [0-9]+ short$' "$WORK/status.txt"
check "webproxy status lists each certificate's names and expiry" \
    grep -Eq "^    $D \(valid until [0-9]{4}-[0-9]{2}-[0-9]{2}\)\$" "$WORK/status.txt"
check "webproxy reload re-reads the certificates" has 'certificates reloaded' cw webproxy reload
check "served after the reload" test "$(gcurl "https://$J/hello")" = "hello from the webbridge inside"
# A certificate line added (down.example.test had none) and a setting that
# a reload cannot apply (header-timeout) changed: the line is taken, the
# setting named as waiting for a restart, until it is put back.
subject_for() {
    echo | in_o timeout 10 openssl s_client -connect $E4:443 -servername "$1" 2>/dev/null |
        openssl x509 -noout -subject
}
check "before, down.example.test gets the first certificate (none names it)" \
    test "$(subject_for down.example.test)" = "subject=CN = $J"
leaf down.example.test || notok "make a certificate"
sed -i "s|^header-timeout = 3\$|header-timeout = 4\ncertificate = $WORK/down.example.test.pem $WORK/down.example.test.key|" "$WORK/edge.conf"
check "a certificate line added and header-timeout changed: reload exits 0, names header-timeout as waiting for a restart" \
    reload_waits cw "$WORK/edge.conf" causeway-edge '\[webproxy\] header-timeout' 'web proxy certificates'
check "fault config.restart says which setting waits" \
    has_fault cw config.restart "f['cleared'] is None and f['text'].endswith(': [webproxy] header-timeout')"
check "the added line's certificate is served for down.example.test (SNI)" \
    test "$(subject_for down.example.test)" = "subject=CN = down.example.test"
check "webproxy status lists it" has '^    down.example.test (valid until' cw webproxy status
sed -i "/^certificate = .*down.example.test.pem/d; s|^header-timeout = 4\$|header-timeout = 3|" "$WORK/edge.conf"
check "both put back: webproxy reload takes the line away" has 'certificates reloaded' cw webproxy reload
check "... down.example.test gets the first certificate again" \
    test "$(subject_for down.example.test)" = "subject=CN = $J"
check "... and a reload says no other setting changed" has '(no other setting changed)$' cw reload
check "... and clears the fault" has_fault cw config.restart "f['cleared'] is not None"
# A hung core: the edge's sshd takes the connection, nothing answers.
kill -STOP "$CORE_PID"
check "a hung core: 504 after response-timeout, not a hang" test "$(code "https://$J/hello")" = 504
kill -CONT "$CORE_PID"
check "the core back: served again" eventually 15 has hello gcurl "https://$J/hello"
check "... and the link is up again" eventually 15 has '127.0.0.1:18443: up since' cw webproxy status

# Shutdown drains: a download in progress finishes, the edge then exits.
gcurl --limit-rate 4M "https://$J/bytes?n=8000000" | sha256sum | cut -d' ' -f1 > "$WORK/drain.sum" & DL=$!
sleep 0.5
kill -TERM "$EDGE_PID"
wait "$DL"
check "on SIGTERM the download in progress still completes intact" \
    test "$(cat "$WORK/drain.sum")" = "$(expect 8000000)"
check "then the edge exits" eventually 15 gone "$EDGE_PID"
kill -TERM "$CORE_PID"; wait "$CORE_PID" 2>/dev/null; unlist "$CORE_PID"

exit 0
