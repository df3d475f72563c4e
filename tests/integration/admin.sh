#!/bin/bash
# admin.sh - the admin interface of edge and core with real clients: curl
# (pages, JSON API, metrics, lockout, CSRF), raw TLS clients that misbehave
# (bad header, huge header, a request that never ends), and headless
# Chromium with JavaScript off signing in through the form. The edge runs
# TURN and [admin]; the core only [admin]. Accounts are made with the CLI.
. "$(dirname "$0")/lib.sh"
need_root
for t in curl openssl python3; do
    command -v "$t" > /dev/null || { notok "$t is not installed (make deps)"; exit 1; }
done
net_setup
make_cert admin.example.test
PW='correct horse battery staple'
CPW='core admin password 42'
AE=https://$E4:445
AC=https://$E4:8445

edge_conf edge <<CONF
[admin]
listen = $E4:445
certificate = $WORK/cert.pem
key = $WORK/key.pem
users = $WORK/admins
CONF
cat > "$WORK/core.conf" <<CONF
[core]
control-socket = $WORK/core.sock
state-dir = $WORK/core
log-level = info
[admin]
listen = $E4:8445
certificate = $WORK/cert.pem
key = $WORK/key.pem
CONF
mkdir -p "$WORK/core"
: > "$WORK/users"
cw turn user add guest --password-stdin <<< 'turn-secret' > /dev/null
check "CLI refuses a password under 10 characters" \
    bash -c "! echo short | '$BIN/causeway' -c '$WORK/edge.conf' admin user add alice --password-stdin"
check "CLI adds edge accounts (file mode 0600)" bash -c "
    echo '$PW' | '$BIN/causeway' -c '$WORK/edge.conf' admin user add alice --password-stdin &&
    echo 'another password' | '$BIN/causeway' -c '$WORK/edge.conf' admin user add bob --password-stdin &&
    test \"\$(stat -c %a '$WORK/admins')\" = 600 &&
    test \"\$('$BIN/causeway' -c '$WORK/edge.conf' admin user list | tr '\n' ' ')\" = 'alice bob '"
check "CLI adds a core account under the core's state-dir" bash -c "
    echo '$CPW' | '$BIN/causeway' -c '$WORK/core.conf' admin user add carol --password-stdin &&
    grep -q '^carol:\\\$y\\\$' '$WORK/core/admins'"

start_edge "$WORK/edge.conf"
bg "$NS_E" "$WORK/core.log" "$BIN/causeway-core" -c "$WORK/core.conf"
CORE_PID=$BGPID
wait_line "$WORK/core.log" 'HTTPS admin interface on' 10 "$CORE_PID" || { notok "core admin started"; cat "$WORK/core.log"; }
wait_line "$WORK/edge.log" 'HTTPS admin interface on' 10 "$EDGE_PID" || notok "edge admin started"

# curl from the outside namespace (client 198.18.0.2; --interface $P4 for another address)
oc() { in_o curl -sk --max-time 20 "$@"; }
code() { oc -o /dev/null -w '%{http_code}' "$@"; }

check "unauthenticated / -> 303 to /login" \
    test "$(oc -o /dev/null -w '%{http_code} %{redirect_url}' "$AE/")" = "303 $AE/login"
oc -D "$WORK/h401.txt" -o "$WORK/b401.txt" "$AE/api/v1/status"
check "API without credentials -> 401 with WWW-Authenticate" bash -c "
    head -1 '$WORK/h401.txt' | grep -q ' 401 ' &&
    grep -qi '^WWW-Authenticate: Basic realm=\"causeway admin\"' '$WORK/h401.txt'"
check "security headers on every answer" bash -c "
    grep -qi \"^Content-Security-Policy: default-src 'none'; style-src 'self'\" '$WORK/h401.txt' &&
    grep -qi '^X-Content-Type-Options: nosniff' '$WORK/h401.txt' &&
    grep -qi '^Referrer-Policy: no-referrer' '$WORK/h401.txt' &&
    grep -qi '^Cache-Control: no-store' '$WORK/h401.txt' &&
    grep -qi '^Strict-Transport-Security:' '$WORK/h401.txt'"

oc -o "$WORK/wrong.html" --data-urlencode user=alice --data-urlencode 'password=not the password' "$AE/login"
check "wrong password refused on the login page" grep -q 'wrong user name or password' "$WORK/wrong.html"
check "wrong password: audit line" wait_line "$WORK/edge.log" \
    "admin: login failed: user \"alice\" from $C4 \\(1 of 5 before lockout\\)" 5
oc -o "$WORK/unknown.html" --data-urlencode user=mallory --data-urlencode 'password=not the password' "$AE/login"
check "unknown user gets the same message" grep -q 'wrong user name or password' "$WORK/unknown.html"

oc -c "$WORK/jar" -D "$WORK/hlogin.txt" -o /dev/null --data-urlencode user=alice \
    --data-urlencode "password=$PW" "$AE/login"
check "right password -> 303 to / with a Secure HttpOnly SameSite=Strict cookie" bash -c "
    head -1 '$WORK/hlogin.txt' | grep -q ' 303 ' &&
    grep -Eqi '^Set-Cookie: cw_session=[0-9a-f]{64}; Path=/; Secure; HttpOnly; SameSite=Strict' '$WORK/hlogin.txt'"
check "login ok: audit line" wait_line "$WORK/edge.log" "admin: login ok: user \"alice\" from $C4" 5
oc -b "$WORK/jar" -o "$WORK/status.html" "$AE/"
check "status page: section titles, badges, table of contents, sign-out, signed-in user" bash -c "
    grep -q 'Fault conditions' '$WORK/status.html' && grep -q 'class=\"badge ok\"' '$WORK/status.html' &&
    grep -q 'href=\"#system\"' '$WORK/status.html' && grep -q 'action=\"/logout\"' '$WORK/status.html' &&
    grep -q '<b>alice</b>' '$WORK/status.html'"
check "style sheet served" bash -c "curl_out=\$(ip netns exec $NS_O curl -sk '$AE/style.css'); echo \"\$curl_out\" | grep -q '.badge.ok'"

oc -u "alice:$PW" -o "$WORK/status.json" "$AE/api/v1/status"
check "/api/v1/status is JSON with the sections" python3 -c "
import json, sys
d = json.load(open('$WORK/status.json'))
assert 'system' in d and 'faults' in d, d.keys()
assert d['system']['state'] in ('ok', 'warn', 'error', 'off')"
SEC=turn
python3 -c "import json; exit('turn' not in json.load(open('$WORK/status.json')))" || SEC=system
oc -u "alice:$PW" -o "$WORK/one.json" "$AE/api/v1/status/$SEC"
check "/api/v1/status/$SEC: that one section" python3 -c "
import json
d = json.load(open('$WORK/one.json'))
assert list(d) == ['$SEC'], d"
check "unknown section -> 404 JSON error" bash -c "
    test \"\$(ip netns exec $NS_O curl -sk -u 'alice:$PW' -o '$WORK/404.json' -w '%{http_code}' '$AE/api/v1/status/nope')\" = 404 &&
    python3 -c \"import json; assert 'error' in json.load(open('$WORK/404.json'))\""

oc -u "alice:$PW" -D "$WORK/hm.txt" -o "$WORK/metrics.txt" "$AE/metrics"
check "/metrics: Prometheus text with # TYPE causeway_ lines and admin counters" bash -c "
    grep -qi '^Content-Type: text/plain; version=0.0.4' '$WORK/hm.txt' &&
    grep -q '^# TYPE causeway_' '$WORK/metrics.txt' &&
    grep -q '^causeway_admin_logins_ok_total [1-9]' '$WORK/metrics.txt' &&
    grep -q '^causeway_admin_sessions_active 1' '$WORK/metrics.txt'"
check "/metrics parses line by line as Prometheus text" python3 -c "
import re
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
n = 0
for line in open('$WORK/metrics.txt'):
    line = line.rstrip('\n')
    if not line:
        continue
    if line.startswith('# HELP '):
        assert re.fullmatch(r'# HELP ' + name + r' .*', line), line
    elif line.startswith('# TYPE '):
        assert re.fullmatch(r'# TYPE ' + name + r' (counter|gauge|histogram|summary|untyped)', line), line
    else:
        assert re.fullmatch(name + r'(\{[^}]*\})? -?[0-9.eE+-]+|' + name + r' (NaN|[+-]Inf)', line), line
        n += 1
assert n > 3"

oc -u "alice:$PW" -o "$WORK/act.json" -w '%{http_code}' -X POST "$AE/api/v1/actions/turn/reload-users" > "$WORK/act.code"
check "action with Basic: turn reload-users -> 200 ok" bash -c "
    test \"\$(cat '$WORK/act.code')\" = 200 &&
    python3 -c \"import json; d = json.load(open('$WORK/act.json')); assert d['ok'] is True and 'output' in d, d\""
check "action: audit line" wait_line "$WORK/edge.log" \
    "admin: user \"alice\" from $C4: POST /api/v1/actions/turn/reload-users -> 200" 5
oc -u "alice:$PW" -o "$WORK/reload.json" -X POST "$AE/api/v1/actions/reload"
check "action reload: what SIGHUP does, answered with its summary" python3 -c "
import json; d = json.load(open('$WORK/reload.json'))
assert d['ok'] is True and 'SIGHUP: reloaded the log level, REST secret and TURN users' in d['output'] and 'admin accounts and certificate' in d['output'], d"
check "an action the edge does not allow -> 404" \
    test "$(code -u "alice:$PW" -X POST "$AE/api/v1/actions/turn/list")" = 404
check "cookie POST without X-CSRF-Token -> 403" \
    test "$(code -b "$WORK/jar" -X POST "$AE/api/v1/actions/turn/reload-users")" = 403
TOKEN=$(sed -n 's/.*X-CSRF-Token: \([0-9a-f]\{64\}\).*/\1/p' "$WORK/status.html" | head -1)
check "cookie POST with the page's X-CSRF-Token -> 200" \
    test "$(code -b "$WORK/jar" -H "X-CSRF-Token: $TOKEN" -X POST "$AE/api/v1/actions/turn/reload-users")" = 200
check "page form action with the CSRF field -> result page" bash -c "
    ip netns exec $NS_O curl -sk -b '$WORK/jar' --data-urlencode 'csrf=$TOKEN' '$AE/actions/turn/reload-users' |
    grep -q 'user database reloaded'"
check "doctor: an answer in JSON either way" python3 -c "
import json, subprocess
out = subprocess.run(['ip', 'netns', 'exec', '$NS_O', 'curl', '-sk', '-u', 'alice:$PW', '$AE/api/v1/doctor'],
                     capture_output=True).stdout
json.loads(out)"

# Lockout: 5 wrong, then even the right password is refused until unlocked.
for i in 1 2 3 4 5; do
    oc -o /dev/null --data-urlencode user=bob --data-urlencode 'password=guess guess' "$AE/login"
done
oc -o "$WORK/locked.html" --data-urlencode user=bob --data-urlencode 'password=another password' "$AE/login"
check "after 5 failures the right password is refused: locked" grep -q 'account locked, try again in' "$WORK/locked.html"
check "lockout line in the log" grep -q 'admin: account "bob" locked for 300 s after 5 failed logins (last from '"$C4"')' "$WORK/edge.log"
check "Basic on the API is locked too (429)" test "$(code -u 'bob:another password' "$AE/api/v1/status")" = 429
check "admin status shows the lock" bash -c "'$BIN/causeway' -s '$WORK/edge.sock' admin status | grep -E '^bob +locked'"
check "causeway admin unlock" bash -c "'$BIN/causeway' -s '$WORK/edge.sock' admin unlock bob | grep -q 'unlocked'"
check "after unlock the right password works" \
    test "$(code --data-urlencode user=bob --data-urlencode 'password=another password' "$AE/login")" = 303

# Spraying: many accounts from one address gets the address blocked.
for i in $(seq 1 10); do
    oc --interface $P4 -o /dev/null --data-urlencode user=spray$i --data-urlencode 'password=Winter2026!' "$AE/login"
done
check "spraying: address blocked line" grep -q "admin: address $P4 blocked for 300 s after 10 failed logins" "$WORK/edge.log"
oc --interface $P4 -o "$WORK/blocked.html" --data-urlencode user=alice --data-urlencode "password=$PW" "$AE/login"
check "blocked address: even a right password is refused" grep -q 'too many failed logins from your address' "$WORK/blocked.html"
check "another address still signs in" \
    test "$(code --data-urlencode user=alice --data-urlencode "password=$PW" "$AE/login")" = 303

# Misbehaving clients on raw TLS connections, a good one served meanwhile.
cat > "$WORK/raw.py" <<'PY'
import socket, ssl, sys, time
host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=30))
if what == "badheader":
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
elif what == "hugeheader":
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
elif what == "slow":
    s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
data = b""
start = time.time()
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except (ssl.SSLError, OSError):
    pass
print((data.split(b"\r\n")[0].decode() if data else "closed") + " after %.0f s" % (time.time() - start))
PY
in_o python3 "$WORK/raw.py" $E4 445 badheader > "$WORK/bad.txt" 2>&1
check "malformed header -> 400 and close" grep -q '^HTTP/1.1 400' "$WORK/bad.txt"
in_o python3 "$WORK/raw.py" $E4 445 hugeheader > "$WORK/huge.txt" 2>&1
check "huge header -> 431 and close" grep -q '^HTTP/1.1 431' "$WORK/huge.txt"
check "bad request log line" grep -q "admin: bad request from $C4: " "$WORK/edge.log"
in_o python3 "$WORK/raw.py" $E4 445 slow > "$WORK/slow.txt" 2>&1 &
SLOW=$!
sleep 1
check "a well-behaved client is served while a slow one hangs" \
    test "$(code -u "alice:$PW" "$AE/api/v1/status")" = 200
wait $SLOW
check "the never-ending request is cut off after 10 s" grep -Eq '^HTTP/1.1 408 .* after (9|10|11|12) s' "$WORK/slow.txt"
check "slow request log line" grep -q "admin: closed connection from $C4: request not complete within 10 s" "$WORK/edge.log"

check "logout ends the session" bash -c "
    ip netns exec $NS_O curl -sk -b '$WORK/jar' --data-urlencode 'csrf=$TOKEN' -o /dev/null '$AE/logout' &&
    test \"\$(ip netns exec $NS_O curl -sk -b '$WORK/jar' -o /dev/null -w '%{http_code}' '$AE/')\" = 303 &&
    grep -q 'admin: logout: user \"alice\" from $C4' '$WORK/edge.log'"
check "SIGHUP re-reads the accounts file" bash -c "
    echo 'a third password' | '$BIN/causeway' -c '$WORK/edge.conf' admin user add dave --password-stdin > /dev/null &&
    kill -HUP $EDGE_PID && sleep 1 &&
    test \"\$(ip netns exec $NS_O curl -sk -u 'dave:a third password' -o /dev/null -w '%{http_code}' '$AE/api/v1/status')\" = 200"
check "the SIGHUP line names the admin accounts among what it re-read" \
    grep -q 'notice edge: SIGHUP: reloaded the log level.*, admin accounts and certificate from ' "$WORK/edge.log"
# A password change or a deleted account ends the account's open sessions.
for who in dave:'a third password' bob:'another password'; do
    oc -c "$WORK/jar-${who%%:*}" -o /dev/null --data-urlencode "user=${who%%:*}" --data-urlencode "password=${who#*:}" "$AE/login"
done
check "sessions of dave and bob are open" bash -c "
    test \"\$(ip netns exec $NS_O curl -sk -b '$WORK/jar-dave' -o /dev/null -w '%{http_code}' '$AE/')\" = 200 &&
    test \"\$(ip netns exec $NS_O curl -sk -b '$WORK/jar-bob' -o /dev/null -w '%{http_code}' '$AE/')\" = 200"
echo 'a fourth password' | "$BIN/causeway" -c "$WORK/edge.conf" admin user passwd dave --password-stdin > /dev/null
"$BIN/causeway" -c "$WORK/edge.conf" admin user del bob > /dev/null
check "admin user passwd ends the account's session" bash -c "
    test \"\$(ip netns exec $NS_O curl -sk -b '$WORK/jar-dave' -o /dev/null -w '%{http_code}' '$AE/')\" = 303 &&
    grep -q 'admin: session of user \"dave\" ended: password changed' '$WORK/edge.log'"
check "admin user del ends the account's session" bash -c "
    test \"\$(ip netns exec $NS_O curl -sk -b '$WORK/jar-bob' -o /dev/null -w '%{http_code}' '$AE/')\" = 303 &&
    grep -q 'admin: session of user \"bob\" ended: account removed' '$WORK/edge.log'"
check "the new password signs in" \
    test "$(code -u 'dave:a fourth password' "$AE/api/v1/status")" = 200

# The core's own interface and accounts.
oc -u "carol:$CPW" -o "$WORK/core.json" "$AC/api/v1/status"
check "core: /api/v1/status with its own account" python3 -c "
import json; d = json.load(open('$WORK/core.json')); assert d, d"
check "core: an edge account is not a core account" test "$(code -u "alice:$PW" "$AC/api/v1/status")" = 401
oc -u "carol:$CPW" -o "$WORK/core-act.json" -X POST "$AC/api/v1/actions/turn/check"
check "core: turn check action answers {ok, output}" python3 -c "
import json; d = json.load(open('$WORK/core-act.json')); assert 'ok' in d and 'output' in d, d"
oc -u "carol:$CPW" -o "$WORK/core-reload.json" -X POST "$AC/api/v1/actions/reload"
check "core: reload action answers with its summary" python3 -c "
import json; d = json.load(open('$WORK/core-reload.json'))
assert d['ok'] is True and 'SIGHUP: reloaded the log level, admin accounts and certificate' in d['output'], d"

# Headless Chromium, JavaScript off, inside the outside namespace.
if [ -x /usr/bin/chromium ] && [ -d "$TOP/tests/browser/node_modules/playwright-core" ] && command -v node > /dev/null; then
    SHOTDIR=$TOP/build/test-logs
    mkdir -p "$SHOTDIR"
    SHOT=$SHOTDIR/admin-status.png
    in_o env HOME="$WORK" node "$TOP/tests/browser/admin.js" "$AE" alice "$PW" "$SHOT" \
        "Fault conditions,Contents,Actions,signed in as" \
        "--ignore-certificate-errors-spki-list=$(spki_of "$WORK/cert.pem")" > "$WORK/browser.txt" 2>&1
    rc=$?
    cat "$WORK/browser.txt" | sed 's/^/# browser: /'
    if [ $rc = 0 ]; then ok "Chromium without JavaScript signs in and sees the status page"; else notok "Chromium sign-in"; fi
    [ -f "$SHOT" ] && echo "# screenshot: $SHOT"
else
    skip "Chromium sign-in: /usr/bin/chromium or tests/browser/node_modules missing (make deps)"
fi

check "no password in the logs" bash -c "! grep -F -e '$PW' -e 'another password' -e 'guess guess' -e 'Winter2026' -e '$CPW' '$WORK/edge.log' '$WORK/core.log'"
check "no cookie or token in the logs" bash -c "! grep -Eq '[0-9a-f]{64}' '$WORK/edge.log'"
check "edge still running" edge_alive
exit 0
