#!/usr/bin/env bash
# proxy.sh - `make bench-proxy`: Causeway's web proxy (causeway-edge [webproxy])
# against nginx (1 worker) and HAProxy (1 thread) as TLS reverse proxies in
# front of the same backend, on this host's loopback, under the same wrk load.
#
# The backend is an nginx (1 worker) serving a 1 KB /index.html over plain
# HTTP. Each proxy terminates TLS (TLS 1.2 and 1.3, the same EC P-256
# certificate from a throwaway CA) and keeps a pool of connections to it.
# Loads, wrk -t1 -c$CONNS --latency for SECS seconds: "keep-alive" (every
# connection carries requests until the end) and "new connection per
# request" (Connection: close; wrk resumes the TLS session when the proxy
# offers it, and all three do). ROUNDS rounds of short runs, the proxies
# taking turns within each round (in reverse order every other round): this
# shared host's speed drifts by tens of percent over minutes, and short
# turns make every proxy see the same drift. Requests per CPU-second are
# all the rounds' requests over all the CPU time (utime+stime from
# /proc/PID/stat) that the proxy's processes used in them (causeway-edge;
# nginx's master and worker; haproxy); requests/s, p50 and p99 are medians
# over the rounds.
#
# Then the same Causeway through its SSH tunnel: causeway-core paired with
# the edge holds a remote forward (127.0.0.1:TUNNEL_PORT on the edge) to the
# backend, the way a core carries a webbridge, and a second host line routes
# to it; the proxy carries its connections there on one link (TUNNEL_LINK=no:
# a forwarded connection per guest connection instead). Keep-alive
# requests/s through the tunnel against the direct route. And a second
# tunnel (TUNNEL_TLS_PORT) to the backend's HTTPS port (BACKEND_TLS_PORT), as
# a meeting server's webbridge answers: the core speaks TLS to it and checks
# its certificate; its requests/s against the plain tunnel's.
#
# wrk sends the URL's host as the TLS server name (127.0.0.1 here) and
# cannot send another; Causeway answers 421 when the Host header differs
# from the server name (RFC 9110 7.4). So the load goes to host lines named
# by address: 127.0.0.1 (direct), 127.0.0.2 (the tunnel) and 127.0.0.3 (the
# tunnel to the HTTPS backend), each a listener of its own. The named host lines (bench.example.test,
# tunnel.example.test) are checked with curl before the load.
#
# Ends with "bench proxy: <metric> causeway=<v> <anchor>=<v> ratio=<r>"
# lines, req_per_cpu_s (keep-alive, against nginx) last.
# Knobs: ROUNDS (12), SECS (wrk seconds per run, 3), CONNS (32), TUNNEL_LINK (yes), HOLD
# (seconds: set up, wait, no load), and the ports
# BACKEND_PORT (18080), CW_PORT (18443), NGINX_PORT (18444), HAPROXY_PORT
# (18445), TUNNEL_PORT (18446), TUNNEL_TLS_PORT (18447), BACKEND_TLS_PORT (18081),
# SSHD_PORT (18222).
# Every process started here is stopped by its PID; the temp dir is removed.
BENCH=proxy
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-${REPS:-12}}
SECS=${SECS:-3}
CONNS=${CONNS:-32}
TUNNEL_LINK=${TUNNEL_LINK:-yes}
BACKEND_PORT=${BACKEND_PORT:-18080}
CW_PORT=${CW_PORT:-18443}
NGINX_PORT=${NGINX_PORT:-18444}
HAPROXY_PORT=${HAPROXY_PORT:-18445}
TUNNEL_PORT=${TUNNEL_PORT:-18446}
TUNNEL_TLS_PORT=${TUNNEL_TLS_PORT:-18447}
BACKEND_TLS_PORT=${BACKEND_TLS_PORT:-18081}
SSHD_PORT=${SSHD_PORT:-18222}
HZ=$(getconf CLK_TCK)

# A process and all its descendants (nginx's workers, the edge's sshd and its sessions).
tree() {
    local p c
    for p in "$@"; do
        echo "$p"
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
    done
}

for t in wrk nginx haproxy openssl curl ssh-keygen /usr/sbin/sshd "$BIN/causeway-edge" "$BIN/causeway-core" "$BIN/causeway"; do
    command -v "$t" > /dev/null || die "missing $t (make deps; make build)"
done
for p in "$BACKEND_PORT" "$CW_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$TUNNEL_PORT" "$SSHD_PORT"; do
    ss -tlnH | awk '{print $4}' | grep -q ":$p\$" && die "port $p is in use (tests running? set the *_PORT knobs)"
done
# Run copies: the build tree may be rebuilt while the benchmark runs.
mkdir -p "$W/bin" && cp "$BIN/causeway-edge" "$BIN/causeway-core" "$BIN/causeway" "$W/bin/" ||
    die "cannot copy the binaries"
BIN=$W/bin
# nginx's workers run as nobody when started by root: they read the backend's files.
chmod 755 "$W"

# ---- certificates: a throwaway CA and one leaf for every name ----------------------
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2> /dev/null; }
ec "$W/ca.key" && ec "$W/bench.key" || die "openssl genpkey failed"
openssl req -x509 -new -key "$W/ca.key" -days 2 -subj "/CN=Causeway bench CA" -out "$W/ca.pem" \
    2> "$W/openssl.log" || die "openssl: $(cat "$W/openssl.log")"
openssl req -new -key "$W/bench.key" -subj "/CN=bench.example.test" -out "$W/bench.csr" \
    2> "$W/openssl.log" || die "openssl: $(cat "$W/openssl.log")"
printf 'subjectAltName = DNS:bench.example.test, DNS:tunnel.example.test, IP:127.0.0.1, IP:127.0.0.2, IP:127.0.0.3\n' > "$W/san.ext"
openssl x509 -req -in "$W/bench.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
    -extfile "$W/san.ext" -out "$W/bench.pem" 2> "$W/openssl.log" || die "openssl: $(cat "$W/openssl.log")"
cat "$W/bench.pem" "$W/bench.key" > "$W/bench-combined.pem"   # HAProxy's form

# ---- the backend -------------------------------------------------------------------
mkdir -p "$W/www" "$W/tmp"
head -c 1024 /dev/zero | tr '\0' x > "$W/www/index.html"
nginx_common() { # NAME: the lines both nginx instances share
    cat <<CONF
worker_processes 1;
daemon off;
pid $W/$1.pid;
error_log $W/$1.err warn;
events { worker_connections 4096; }
CONF
}
nginx_temp="client_body_temp_path $W/tmp/1; proxy_temp_path $W/tmp/2; fastcgi_temp_path $W/tmp/3;
  uwsgi_temp_path $W/tmp/4; scgi_temp_path $W/tmp/5;"
# The TLS listener both nginx instances use: the bench certificate, TLS 1.2 and 1.3, a
# session cache (NAME) for resumption.
nginx_tls() { # PORT NAME
    printf 'listen 127.0.0.1:%s ssl backlog=4096;\n    ssl_certificate %s;\n    ssl_certificate_key %s;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_cache shared:%s:10m;' \
        "$1" "$W/bench.pem" "$W/bench.key" "$2"
}
{
nginx_common backend
cat <<CONF
http {
  access_log off;
  $nginx_temp
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:$BACKEND_PORT backlog=4096; root $W/www; }
  # The same backend over HTTPS, as a meeting server's webbridge answers.
  server {
    $(nginx_tls "$BACKEND_TLS_PORT" B)
    root $W/www;
  }
}
CONF
} > "$W/backend.conf"
bg "$W/backend.out" nginx -e "$W/backend.err" -p "$W" -c "$W/backend.conf"
BACKEND=$LAST
wait_port "127.0.0.1:$BACKEND_PORT" || die "the backend nginx did not start: $(cat "$W/backend.out" "$W/backend.err")"

# ---- nginx as the TLS reverse proxy --------------------------------------------------
{
nginx_common nginx-proxy
cat <<CONF
http {
  access_log off;
  $nginx_temp
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; keepalive_requests 100000000; }
  server {
    $(nginx_tls "$NGINX_PORT" SSL)
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
CONF
} > "$W/nginx-proxy.conf"
bg "$W/nginx-proxy.out" nginx -e "$W/nginx-proxy.err" -p "$W" -c "$W/nginx-proxy.conf"
NGINX=$LAST
wait_port "127.0.0.1:$NGINX_PORT" || die "nginx did not start: $(cat "$W/nginx-proxy.out" "$W/nginx-proxy.err")"

# ---- HAProxy -------------------------------------------------------------------------
cat > "$W/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  option http-keep-alive
  http-reuse safe
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT ssl crt $W/bench-combined.pem
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND_PORT
CONF
bg "$W/haproxy.out" haproxy -db -f "$W/haproxy.cfg"
HAPROXY=$LAST
wait_port "127.0.0.1:$HAPROXY_PORT" || die "haproxy did not start: $(cat "$W/haproxy.out")"

# ---- Causeway: the edge (web proxy and the tunnel's sshd) and a paired core ----------
cat > "$W/edge.conf" <<CONF
[edge]
control-socket = $W/edge.sock
log-file = $W/edge.log
log-level = notice
[turn]
enabled = no
[tunnel]
listen = 127.0.0.1:$SSHD_PORT
state-dir = $W/edge-tunnel
permit-listen = 127.0.0.1:$TUNNEL_PORT
permit-listen = 127.0.0.1:$TUNNEL_TLS_PORT
[webproxy]
listen = 127.0.0.1:$CW_PORT
listen = 127.0.0.2:$CW_PORT
listen = 127.0.0.3:$CW_PORT
certificate = $W/bench.pem $W/bench.key
host = bench.example.test 127.0.0.1:$BACKEND_PORT
host = tunnel.example.test 127.0.0.1:$TUNNEL_PORT
host = 127.0.0.1 127.0.0.1:$BACKEND_PORT
host = 127.0.0.2 127.0.0.1:$TUNNEL_PORT
host = 127.0.0.3 127.0.0.1:$TUNNEL_TLS_PORT
hsts-max-age = 0
access-log = /dev/null
max-connections-per-ip = 100000
tunnel-link = $TUNNEL_LINK
CONF
cat > "$W/core.conf" <<CONF
[core]
name = bench
control-socket = $W/core.sock
log-file = $W/core.log
state-dir = $W/core-state
CONF
bg "$W/edge.out" "$BIN/causeway-edge" -c "$W/edge.conf"
EDGE=$LAST
wait_port "127.0.0.1:$CW_PORT" || die "causeway-edge did not start: $(cat "$W/edge.out" "$W/edge.log" 2>/dev/null)"
wait_port "127.0.0.1:$SSHD_PORT" || die "the edge's sshd did not start (see $W/edge.log)"
pair_core "$W/edge.conf" "$W/core.conf"
printf '[tunnel]\nedge = 127.0.0.1:%s\nhost-key = %s\nuser = %s\nguest-uri = 127.0.0.1\nedge-port = %s\nwebbridge-port = %s\nwebbridge-tls = no\n' \
    "$SSHD_PORT" "$HOST_KEY" "$TUNNEL_USER" "$TUNNEL_PORT" "$BACKEND_PORT" >> "$W/core.conf"
# A second tunnel to the same edge, to the backend's HTTPS port (the core checks its certificate).
printf '[tunnel]\nedge = 127.0.0.1:%s\nhost-key = %s\nuser = %s\nguest-uri = 127.0.0.1\nedge-port = %s\nwebbridge-port = %s\nwebbridge-ca = %s\n' \
    "$SSHD_PORT" "$HOST_KEY" "$TUNNEL_USER" "$TUNNEL_TLS_PORT" "$BACKEND_TLS_PORT" "$W/ca.pem" >> "$W/core.conf"
bg "$W/core.out" "$BIN/causeway-core" -c "$W/core.conf"
CORE=$LAST
for port in $TUNNEL_PORT $TUNNEL_TLS_PORT; do
    wait_port "127.0.0.1:$port" || die "the core's forward 127.0.0.1:$port is not up (see $W/core.log)"
    [ "$TUNNEL_LINK" = yes ] || continue
    for _ in $(seq 1 100); do
        "$BIN/causeway" -c "$W/edge.conf" webproxy status 2>/dev/null | grep -q "127.0.0.1:$port: up" && break
        sleep 0.1
    done
    "$BIN/causeway" -c "$W/edge.conf" webproxy status | grep -q "127.0.0.1:$port: up" ||
        die "the proxy's link to the core on $port did not come up (see $W/edge.log)"
done

# ---- checks: every route answers 200; what TLS each proxy negotiates ------------------
check() { # WHAT CURL-ARGS...: one GET must answer 200
    local what=$1 code
    shift
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca.pem" --max-time 5 "$@")
    [ "$code" = 200 ] || die "$what answered ${code:-nothing} (edge.log: $(tail -n 5 "$W/edge.log" | tr '\n' ' '))"
}
check "causeway bench.example.test" --resolve "bench.example.test:$CW_PORT:127.0.0.1" "https://bench.example.test:$CW_PORT/index.html"
check "causeway tunnel.example.test" --resolve "tunnel.example.test:$CW_PORT:127.0.0.1" "https://tunnel.example.test:$CW_PORT/index.html"
check "causeway 127.0.0.1" "https://127.0.0.1:$CW_PORT/index.html"
check "causeway 127.0.0.2 (tunnel)" "https://127.0.0.2:$CW_PORT/index.html"
check "causeway 127.0.0.3 (tunnel, HTTPS webbridge)" "https://127.0.0.3:$CW_PORT/index.html"
check nginx "https://127.0.0.1:$NGINX_PORT/index.html"
check haproxy "https://127.0.0.1:$HAPROXY_PORT/index.html"
tls_of() { # PORT: protocol and cipher, and whether a second connection resumes the session
    local req="GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    (printf "$req"; sleep 0.3) | timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$W/ca.pem" \
        -sess_out "$W/sess-$1" -ign_eof 2>/dev/null | sed -n 's/^New, \(.*\), Cipher is /\1 /p'
    (printf "$req"; sleep 0.3) | timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$W/ca.pem" \
        -sess_in "$W/sess-$1" -ign_eof 2>/dev/null | grep -q '^Reused, ' && echo "(resumes)" || echo "(no resumption)"
}
note "$(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2); $(nproc) CPUs; ROUNDS=$ROUNDS SECS=$SECS CONNS=$CONNS TUNNEL_LINK=$TUNNEL_LINK"
note "TLS: causeway $(tls_of "$CW_PORT" | tr '\n' ' '); nginx $(tls_of "$NGINX_PORT" | tr '\n' ' '); haproxy $(tls_of "$HAPROXY_PORT" | tr '\n' ' ')"

# HOLD=SECONDS: stop here with everything running for that long (to profile a
# route by hand: perf, strace, wrk against the URLs below), then clean up.
if [ -n "${HOLD:-}" ]; then
    note "HOLD: edge $EDGE, core $CORE, backend $BACKEND, in $W; direct https://127.0.0.1:$CW_PORT/index.html, tunnel https://127.0.0.2:$CW_PORT/index.html, nginx https://127.0.0.1:$NGINX_PORT/index.html"
    sleep "$HOLD"
    exit 0
fi

# ---- the load --------------------------------------------------------------------------
# wrk's times ("812.00us", "1.20ms", "2.00s", "1.00m") in microseconds.
to_us() { awk -v t="$1" 'BEGIN { v = t + 0; u = t; sub(/^[0-9.]+/, "", u);
    f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1;
    if (f < 0) print "na"; else printf "%.0f", v * f }'; }
# run WHO MODE URL PIDS...: one wrk run; appends
# "req_per_s p50_us p99_us req_per_cpu_s cpu_s requests errors round" to $W/res-WHO-MODE.
run() {
    local who=$1 mode=$2 url=$3 out c0 c1 procs hdr=() reqs rps p50 p99 errs
    shift 3
    [ "$mode" = close ] && hdr=(-H 'Connection: close')
    procs=$(tree "$@")
    out=$W/wrk-$who-$mode-$REP.txt
    c0=$(cpu_ticks $procs)
    wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "${hdr[@]}" "$url" > "$out" 2>&1
    c1=$(cpu_ticks $procs)
    reqs=$(awk '/ requests in / {print $1}' "$out")
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
    errs=$(awk '/Socket errors:/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10} /Non-2xx or 3xx/ {s += $NF} END {print s + 0}' "$out")
    [ -n "$reqs" ] || { note "$who $mode: wrk failed: $(tr '\n' ' ' < "$out")"; return; }
    [ "$errs" = 0 ] || note "$who $mode run $REP: $(grep -E 'Socket errors|Non-2xx' "$out" | sed 's/^ *//' | tr '\n' ' ')"
    awk -v r="$reqs" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v t=$((c1 - c0)) -v hz="$HZ" -v e="$errs" -v rep="$REP" \
        'BEGIN {c = t / hz; printf "%s %s %s %s %.2f %s %s %s\n", rps, p50, p99, (c > 0 ? sprintf("%.0f", r / c) : "na"), c, r, e, rep}' \
        >> "$W/res-$who-$mode"
}
url() { echo "https://$1:$2/index.html"; }
target() { # WHO MODE: one run against that proxy
    case $1 in
        causeway) run causeway "$2" "$(url 127.0.0.1 "$CW_PORT")" "$EDGE" ;;
        tunnel) run tunnel "$2" "$(url 127.0.0.2 "$CW_PORT")" "$EDGE" "$CORE" ;;   # edge, its sshd, the core
        tunnels) run tunnels "$2" "$(url 127.0.0.3 "$CW_PORT")" "$EDGE" "$CORE" ;;  # the same, HTTPS inside
        nginx) run nginx "$2" "$(url 127.0.0.1 "$NGINX_PORT")" "$NGINX" ;;
        haproxy) run haproxy "$2" "$(url 127.0.0.1 "$HAPROXY_PORT")" "$HAPROXY" ;;
    esac
}
for REP in $(seq 1 "$ROUNDS"); do
    for mode in keepalive close; do
        order="causeway nginx haproxy"
        [ "$mode" = keepalive ] && order="causeway tunnel tunnels nginx haproxy"
        [ $((REP % 2)) = 0 ] && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
        for who in $order; do target "$who" "$mode"; done
    done
    [ $((REP % 4)) = 0 ] && note "round $REP/$ROUNDS done"
done
for p in $EDGE $CORE $NGINX $HAPROXY; do kill -0 "$p" 2>/dev/null || note "process $p died during the runs"; done

# ---- report ----------------------------------------------------------------------------
col() { # WHO MODE COLUMN: the median over the runs; requests per CPU-second (4) pooled
    [ -s "$W/res-$1-$2" ] || { echo na; return; }
    if [ "$3" = 4 ]; then
        awk '{r += $6; c += $5} END {if (c > 0) printf "%.0f\n", r / c; else print "na"}' "$W/res-$1-$2"
        return
    fi
    awk -v c="$3" '{print $c}' "$W/res-$1-$2" | median
}
# paired A B MODE COLUMN: A/B within each round (the two ran back to back, so the
# host's drift between rounds cancels), "median (lowest-highest)" over the rounds.
paired() {
    [ -s "$W/res-$1-$3" ] && [ -s "$W/res-$2-$3" ] || { echo na; return; }
    awk -v c="$4" 'NR == FNR {b[$8] = $c; next} ($8 in b) && b[$8] > 0 {printf "%.3f\n", $c / b[$8]}' \
        "$W/res-$2-$3" "$W/res-$1-$3" | sort -g |
        awk '{v[NR] = $1} END {if (!NR) {print "na"; exit}
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f (%.2f-%.2f)\n", m, v[1], v[NR]}'
}
sum() { [ -s "$W/res-$1-$2" ] && awk -v c="$3" '{s += $c} END {print s + 0}' "$W/res-$1-$2" || echo na; }
row() { # LABEL MODE COLUMN
    local a b h
    a=$(col causeway "$2" "$3") b=$(col nginx "$2" "$3") h=$(col haproxy "$2" "$3")
    printf '%-34s %10s %10s %10s %9s %9s\n' "$1" "$a" "$b" "$h" "$(ratio "$a" "$b")" "$(ratio "$a" "$h")"
}
printf '\n%-34s %10s %10s %10s %9s %9s\n' "wrk -t1 -c$CONNS, 1 KB, $ROUNDS x ${SECS}s" causeway nginx haproxy "cw/nginx" "cw/hapr"
for mode in keepalive close; do
    [ "$mode" = keepalive ] && m=keep-alive || m="new conn"
    row "requests/s, $m" "$mode" 1
    row "requests per CPU-second, $m" "$mode" 4
    row "p50 us, $m" "$mode" 2
    row "p99 us, $m" "$mode" 3
    row "proxy CPU-s per run, $m" "$mode" 5
    row "errors (all runs), $m" "$mode" 7
done
a=$(col tunnel keepalive 1) b=$(col causeway keepalive 1)
printf '\n%-34s %10s %10s %9s\n' "Causeway, keep-alive" tunnel direct ratio
printf '%-34s %10s %10s %9s\n' "requests/s" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-34s %10s %10s %9s\n' "requests/s, each round's ratio" "" "" "$(paired tunnel causeway keepalive 1)"
for c in 2:"p50 us" 3:"p99 us"; do
    a=$(col tunnel keepalive "${c%%:*}") b=$(col causeway keepalive "${c%%:*}")
    printf '%-34s %10s %10s %9s\n' "${c#*:}" "$a" "$b" "$(ratio "$a" "$b")"
done
a=$(col tunnel keepalive 4) b=$(col causeway keepalive 4)
printf '%-34s %10s %10s %9s   (tunnel: edge, sshd and core)\n' "requests per CPU-second" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-34s %10s %10s\n\n' "errors (all runs)" "$(sum tunnel keepalive 7)" "$(sum causeway keepalive 7)"
printf '%-34s %10s %10s %9s\n' "Tunnel, keep-alive, webbridge" HTTPS HTTP ratio
for c in 1:"requests/s" 3:"p99 us" 4:"requests per CPU-second"; do
    a=$(col tunnels keepalive "${c%%:*}") b=$(col tunnel keepalive "${c%%:*}")
    printf '%-34s %10s %10s %9s\n' "${c#*:}" "$a" "$b" "$(ratio "$a" "$b")"
done
printf '%-34s %10s %10s %9s\n' "requests/s, each round's ratio" "" "" "$(paired tunnels tunnel keepalive 1)"
printf '%-34s %10s\n\n' "errors (all runs)" "$(sum tunnels keepalive 7)"
for who in causeway tunnel tunnels nginx haproxy; do
    for mode in keepalive close; do
        [ -s "$W/res-$who-$mode" ] || continue
        echo "  per-run $who $mode (req/s p50 p99 req/cpu-s): $(awk '{printf "[%s %s %s %s] ", $1, $2, $3, $4}' "$W/res-$who-$mode")"
    done
done
errs=$(for who in causeway tunnel tunnels; do for mode in keepalive close; do sum "$who" "$mode" 7; done; done | awk '{s += $1} END {print s + 0}')
if [ "$errs" != 0 ]; then
    echo "  causeway: $errs wrk errors (socket errors and non-2xx/3xx answers); the edge's log ends:"
    grep -E ' (warn|error|crit|fatal) ' "$W/edge.log" | tail -n 10 | sed 's/^/    /'
elif grep -qE ' (error|crit|fatal) ' "$W/edge.log"; then
    echo "  causeway: error lines in the edge's log:"
    grep -E ' (error|crit|fatal) ' "$W/edge.log" | tail -n 10 | sed 's/^/    /'
fi
verdict() { awk -v what="$1" -v v="$2" -v t="$3" -v op="$4" 'BEGIN { if (v == "na") r = "n/a";
    else r = ((op == ">=" && v + 0 >= t) || (op == "<=" && v + 0 <= t)) ? "met" : "NOT met";
    printf "  target: %s (%s %s %s): %s\n", what, v, op, t, r }'; }
echo
verdict "requests per CPU-second >= 1.2x nginx, keep-alive" "$(ratio "$(col causeway keepalive 4)" "$(col nginx keepalive 4)")" 1.2 ">="
verdict "p99 no worse than nginx, keep-alive" "$(ratio "$(col causeway keepalive 3)" "$(col nginx keepalive 3)")" 1.0 "<="
verdict "through the SSH tunnel >= 0.8x direct requests/s" "$(ratio "$(col tunnel keepalive 1)" "$(col causeway keepalive 1)")" 0.8 ">="
echo "    (the ratio within each round, median and range: $(paired tunnel causeway keepalive 1))"
echo

line() { # METRIC MODE COLUMN ANCHOR
    local a b
    a=$(col causeway "$2" "$3") b=$(col "$4" "$2" "$3")
    echo "bench proxy: $1 causeway=$a $4=$b ratio=$(ratio "$a" "$b")"
}
line req_per_cpu_s_haproxy keepalive 4 haproxy
line p99_us_haproxy keepalive 3 haproxy
line req_per_cpu_s_newconn_haproxy close 4 haproxy
line req_per_s_newconn close 1 nginx
line p50_us_newconn close 2 nginx
line p99_us_newconn close 3 nginx
line req_per_cpu_s_newconn close 4 nginx
a=$(col tunnels keepalive 1) b=$(col tunnel keepalive 1)
echo "bench proxy: tunnel_https_webbridge_req_per_s causeway_https=$a causeway_http=$b ratio=$(ratio "$a" "$b")"
a=$(col tunnel keepalive 1) b=$(col causeway keepalive 1)
echo "bench proxy: tunnel_vs_direct_req_per_s causeway_tunnel=$a causeway_direct=$b ratio=$(ratio "$a" "$b")"
line req_per_s keepalive 1 nginx
line p50_us keepalive 2 nginx
line p99_us keepalive 3 nginx
line req_per_cpu_s keepalive 4 nginx
