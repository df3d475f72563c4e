#!/usr/bin/env bash
# edge_account.sh - the edge as docs/deployment.md installs it: its own
# system account and one capability, CAP_NET_BIND_SERVICE, which systemd's
# AmbientCapabilities= gives it (setpriv gives it the same way here). With
# it, the web proxy holds 443 and 80, the admin interface 445 (and the
# federation gateway 5269, which needs nothing); without
# it, the start stops with a line that names the capability; and the edge
# keeps it to itself: the sshd it runs for the tunnel has no capability, and
# a core logs in to that sshd and carries a guest's request.
. "$(dirname "$0")/lib.sh"
need_root
command -v setpriv > /dev/null || { skip "no setpriv (util-linux)"; exit 0; }
net_setup

ACCT=cwed$$
useradd -r -M -s /usr/sbin/nologin "$ACCT" || { notok "useradd $ACCT"; exit 1; }
trap 'userdel "$ACCT" 2>/dev/null; cleanup' EXIT
# What the account owns, as StateDirectory= and friends would make it.
D=$WORK/acct
mkdir -p "$D" && chmod 711 "$WORK"
make_cert join.example.test
cp "$WORK/cert.pem" "$WORK/key.pem" "$D/"
: > "$D/users"
cat > "$D/base.conf" <<CONF
[edge]
control-socket = $D/edge.sock
[turn]
listen = $E4:3478
relay-address = $E4
realm = example.org
user-db = $D/users
[tunnel]
listen = $E4:2222
state-dir = $D/tunnel
user = $ACCT
permit-listen = 127.0.0.1:18443
[webproxy]
listen = $E4:443
http-listen = $E4:80
certificate = $D/cert.pem $D/key.pem
host = join.example.test 127.0.0.1:18443
[federation]
listen = $E4:5269
certificate = $D/cert.pem $D/key.pem
# A core line that is no permit-listen port (18443 is): a typo, which the
# edge points out at start.
core = 127.0.0.1:18444
link-key-file = $D/link.key
CONF
head -c 32 /dev/urandom > "$D/link.key" && chmod 600 "$D/link.key"
cat "$D/base.conf" - > "$D/edge.conf" <<CONF
[admin]
listen = $E4:445
certificate = $D/cert.pem
key = $D/key.pem
users = $D/admins
CONF
echo 'a password for alice' |
    "$BIN/causeway" -c "$D/edge.conf" admin user add alice --password-stdin > /dev/null ||
    notok "admin user add alice"
chown -R "$ACCT:$ACCT" "$D"
caps() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
HINT="permission denied (ports below 1024 need the capability CAP_NET_BIND_SERVICE: under systemd, AmbientCapabilities=CAP_NET_BIND_SERVICE)"
# edge_nocap CONF LOG: the edge as the account, without the capability.
edge_nocap() {
    timeout 20 ip netns exec "$NS_E" setpriv --reuid="$ACCT" --regid="$ACCT" --init-groups \
        "$BIN/causeway-edge" -c "$1" > "$2" 2>&1
}

# Without the capability: no start, and the line says what is missing.
edge_nocap "$D/edge.conf" "$WORK/nocap.log"
rc=$?
check "without CAP_NET_BIND_SERVICE the edge does not start (exit $rc)" test "$rc" = 1
check "... and says why: port 445 needs CAP_NET_BIND_SERVICE, with the systemd line" \
    grep -qF "error edge: admin interface not started: cannot listen on $E4:445: $HINT" "$WORK/nocap.log"
# The admin interface starts first; without it, the web proxy says the same.
edge_nocap "$D/base.conf" "$WORK/nocap2.log"
check "... and for 443 the web proxy does" \
    grep -qF "error edge: web proxy not started: cannot listen on $E4:443 (https): $HINT" "$WORK/nocap2.log"

# With it, as systemd's AmbientCapabilities= hands it over.
bg "$NS_E" "$WORK/edge.log" setpriv --reuid="$ACCT" --regid="$ACCT" --init-groups \
    --inh-caps +net_bind_service --ambient-caps +net_bind_service \
    "$BIN/causeway-edge" -c "$D/edge.conf"
EDGE_PID=$BGPID
cwa() { "$BIN/causeway" -s "$D/edge.sock" "$@"; }
check "with it the edge starts" eventually 10 sh -c "'$BIN/causeway' -s '$D/edge.sock' version > /dev/null 2>&1"
check "the edge runs as $ACCT" test "$(stat -c %U "/proc/$EDGE_PID")" = "$ACCT"
check "its log says where TURN listens and relays" \
    grep -Eq "notice turn: listening on $E4:3478 \(udp, tcp\); relays on $E4 ports 24000-29999; [0-9]+ worker" "$WORK/edge.log"
check "its log points out the federation core line that no core can hold" \
    grep -qF "warn federation: core 127.0.0.1:18444 is none of [tunnel]'s permit-listen ports" "$WORK/edge.log"
check "its log says where guests come in and where the host goes" \
    grep -q "notice webproxy: listening on $E4:443 (https), $E4:80 (http, redirects to https); hosts: join.example.test -> 127.0.0.1:18443 (tunnel link)" "$WORK/edge.log"
code=$(in_o curl -sk -o /dev/null -w '%{http_code}' --max-time 10 \
    --resolve join.example.test:443:$E4 https://join.example.test/)
check "HTTPS on 443: the proxy answers, $code (no core holds the tunnel port)" test "$code" = 502
code=$(in_o curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 10 \
    -H 'Host: join.example.test' "http://$E4/x")
check "HTTP on 80: $code" test "$code" = "301 https://join.example.test/x"
check "the admin interface holds 445" tcp_open "$NS_O" "$E4" 445
# NET_BIND_SERVICE is capability 10: bit 0x400.
check "the edge keeps CAP_NET_BIND_SERVICE as effective, and none as ambient" \
    test "$(caps "$EDGE_PID" CapEff)/$(caps "$EDGE_PID" CapAmb)" = 0000000000000400/0000000000000000
eventually 10 sh -c "'$BIN/causeway' -s '$D/edge.sock' tunnel status | grep -q 'sshd: running, pid'"
SSHD=$(cwa tunnel status | sed -n 's/.*sshd: running, pid \([0-9]*\).*/\1/p')
check "sshd runs (pid ${SSHD:-none}), as $ACCT" test -n "$SSHD" -a "$(stat -c %U "/proc/${SSHD:-0}")" = "$ACCT"
check "... with no capability at all: permitted, effective, ambient" \
    test "$(caps "${SSHD:-0}" CapPrm)/$(caps "${SSHD:-0}" CapEff)/$(caps "${SSHD:-0}" CapAmb)" = 0000000000000000/0000000000000000/0000000000000000

# A core paired as the guide does it (`tunnel trust` run as the edge's
# account), and a guest's request through proxy, tunnel and core to a web
# server inside. The account's password field is locked ("!", as useradd -r
# leaves it): an sshd that runs as the account cannot read /etc/shadow, so
# it does not matter.
mkdir -p "$WORK/www" && echo "through the account's sshd" > "$WORK/www/index.html"
bg "$NS_O" "$WORK/www.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" 18080
cat > "$WORK/core.conf" <<CONF
$(core_section core1)
[tunnel]
edge = $E4
guest-uri = 127.0.0.1
webbridge-port = 18080
webbridge-tls = no
edge-port = 18443
CONF
"$BIN/causeway" -c "$WORK/core.conf" tunnel pair > "$WORK/pair.txt" 2>&1
eval "setpriv --reuid=$ACCT --regid=$ACCT --init-groups '$BIN/causeway' -c '$D/edge.conf' \
    tunnel trust $(sed -n 's/^  causeway tunnel trust //p' "$WORK/pair.txt")" > "$WORK/trust.txt" 2>&1
check "tunnel trust, run as $ACCT, names it as the login user" grep -qx "  user = $ACCT" "$WORK/trust.txt"
sed -i "s|^edge = $E4\$|edge = $E4\n$(sed -n 's/^  \(host-key = .*\)/\1/p' "$WORK/trust.txt")\nuser = $ACCT|" \
    "$WORK/core.conf"
bg "$NS_O" "$WORK/core.out" "$BIN/causeway-core" -c "$WORK/core.conf"
CORE_PID=$BGPID
check "the core's tunnel is Active" eventually 20 sh -c "'$BIN/causeway' -c '$WORK/core.conf' tunnel status | grep -q ' Active '"
check "the proxy's link to the core is up" \
    eventually 15 sh -c "'$BIN/causeway' -s '$D/edge.sock' webproxy status | grep -q '127.0.0.1:18443: up since'"
check "a guest's request reaches the web server inside" \
    sh -c "ip netns exec $NS_O curl -sk --max-time 10 --resolve join.example.test:443:$E4 https://join.example.test/ | grep -q \"through the account's sshd\""
kill -TERM "$CORE_PID"; wait "$CORE_PID" 2>/dev/null; unlist "$CORE_PID"
E_PID=$EDGE_PID
stop_edge
check "the edge stopped cleanly" grep -q "notice edge: stopped" "$WORK/edge.$E_PID.log"
exit 0
