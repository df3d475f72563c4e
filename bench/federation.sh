#!/usr/bin/env bash
# federation.sh - `make bench-federation`: XMPP federation through Causeway
# against Prosody-to-Prosody federation, under the same load in one run.
#
#   causeway: u1@a.bench on Prosody (a.bench) -> s2s (STARTTLS, SASL EXTERNAL)
#             -> causeway-edge's federation gateway -> the federation link
#             through the core's SSH tunnel (sshd on the edge) -> causeway-core
#             -> u2@ours.bench
#   prosody:  u1@a.bench on Prosody (a.bench) -> s2s (STARTTLS, SASL EXTERNAL)
#             -> Prosody (b.bench) -> u2@b.bench
#
# The sender and its server are the same in both; what differs is the
# receiving side (edge + sshd + core against one Prosody). Everything runs
# in one network namespace made here (loopback addresses, a dnsmasq serving
# the _xmpp-server._tcp SRV records the servers look up; certificates from a
# test CA that every server trusts), so it needs root. The CA, the
# certificates and the Prosody configurations come from tests/tools/prosody.sh
# (shared with tests/integration/xmpp_federation.sh).
#
# Load (tests/tools/xmpp_load.py, raw sockets: a few microseconds a message):
# the sender sends chat messages to the receiver as fast as a window of
# WINDOW messages in flight allows (messages/s), then one at a time (delay
# from send to arrival: p50/p99). A warm-up run first opens the s2s streams.
# ROUNDS rounds, the two paths taking turns (in reverse order every other
# round). CPU: utime+stime of every server process on the path, from
# /proc/PID/stat: Prosody a.bench, and either causeway-edge + its sshd (master
# and session processes) + causeway-core, or Prosody b.bench; messages per
# CPU-second over all rounds' throughput runs. Messages/s and delays are
# medians over the rounds.
#
# Knobs: ROUNDS (3), N (messages per throughput run, 20000), WINDOW (500),
# LAT_N (1000), PATHS ("causeway prosody": one alone, to look at it). Ends with "bench federation: msgs_per_s causeway=.. prosody=..
# ratio=..". Every process started here is stopped by its PID; the namespace,
# its /etc/netns directory and the temp dir are removed.
BENCH=federation
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/tools/prosody.sh"
ROUNDS=${ROUNDS:-3}
N=${N:-20000}
WINDOW=${WINDOW:-500}
LAT_N=${LAT_N:-1000}
PATHS=${PATHS:-causeway prosody}
has() { case " $PATHS " in *" $1 "*) return 0 ;; esac; return 1; }
HZ=$(getconf CLK_TCK)
LOAD=$TOP/tests/tools/xmpp_load.py
PY=/usr/bin/python3
NS=cwbF$$
A=127.0.0.11 B=127.0.0.12 EDGE=127.0.0.10 SSHD=127.0.0.20 CORE=127.0.0.30 DNS=127.0.0.53
LINKPORT=18443

[ "$(id -u)" = 0 ] || die "needs root (a network namespace, Prosody as the prosody user)"
for t in prosody prosodyctl dnsmasq openssl setpriv "$PY" "$BIN/causeway-edge" "$BIN/causeway-core" "$BIN/causeway"; do
    command -v "$t" > /dev/null || die "missing $t (make deps; make build)"
done
mkdir -p "$W/bin" && cp "$BIN/causeway-edge" "$BIN/causeway-core" "$BIN/causeway" "$W/bin/" ||
    die "cannot copy the binaries"
BIN=$W/bin
chmod 755 "$W"

bench_cleanup() {
    cleanup                 # lib.sh: our processes, $W
    ip netns del "$NS" 2>/dev/null
    rm -rf "/etc/netns/$NS"
}
trap bench_cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
nsbg() { local log=$1; shift; bg "$log" ip netns exec "$NS" "$@"; }
ns_port() { # ADDR:PORT listening in the namespace within 10 s
    for _ in $(seq 1 100); do in_ns ss -tlnH | awk '{print $4}' | grep -qx "$1" && return 0; sleep 0.1; done
    return 1
}
ip netns add "$NS" || die "cannot create a network namespace"
in_ns ip link set lo up
mkdir -p "/etc/netns/$NS"
printf 'nameserver %s\noptions timeout:1 attempts:2\n' $DNS > "/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n' > "/etc/netns/$NS/hosts"

# ---- certificates: a test CA and one leaf per domain -----------------------------
cert_ca "$W" "Bench CA" || die "openssl failed: $(tail -n 3 "$W/openssl.log")"
for d in a.bench b.bench ours.bench; do
    cert_leaf "$W" $d || die "openssl failed: $(tail -n 3 "$W/openssl.log")"
done
head -c 32 /dev/urandom > "$W/link.key"
chmod 600 "$W"/*.key

# ---- DNS ----------------------------------------------------------------------
nsbg "$W/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=$DNS --bind-interfaces --port=53 --pid-file= --user=root --local=/bench/ \
    --log-facility=- \
    --host-record=xmpp.a.bench,$A --srv-host=_xmpp-server._tcp.a.bench,xmpp.a.bench,5269,0,5 \
    --host-record=xmpp.b.bench,$B --srv-host=_xmpp-server._tcp.b.bench,xmpp.b.bench,5269,0,5 \
    --host-record=edge.ours.bench,$EDGE --srv-host=_xmpp-server._tcp.ours.bench,edge.ours.bench,5269,0,5

# ---- Prosody: a.bench (the sender's) and b.bench ---------------------------------------
# s2s_secure_auth, the test CA trusted: SASL EXTERNAL both ways; warnings only.
for d in a.bench:$A b.bench:$B; do
    prosody_conf "$W/${d%%:*}" "${d%%:*}" "${d#*:}" "$W/${d%%:*}.pem" "$W/${d%%:*}.key" \
        secure-auth trust="$W/ca.pem" log=warn || die "cannot write the Prosody configuration"
done
prosody_register "$W/a.bench" u1 pw && prosody_register "$W/b.bench" u2 pw ||
    die "prosodyctl register failed: $(cat "$W"/*.bench/register.log)"
prosody_start "$NS" "$W/a.bench"; PA=$PROSODY_PID
prosody_start "$NS" "$W/b.bench"; PB=$PROSODY_PID

# ---- causeway-edge and causeway-core, paired -------------------------------------------
cat > "$W/edge.conf" <<CONF
[edge]
control-socket = $W/edge.sock
log-level = notice
[turn]
enabled = no
[tunnel]
listen = $SSHD:2222
state-dir = $W/edge-tunnel
permit-listen = 127.0.0.1:$LINKPORT
[federation]
listen = $EDGE:5269
certificate = $W/ours.bench.pem $W/ours.bench.key
trust = $W/ca.pem
core = 127.0.0.1:$LINKPORT
link-key-file = $W/link.key
dns-server = $DNS
CONF
cat > "$W/core.conf" <<CONF
[core]
name = core1
control-socket = $W/core.sock
log-file = $W/core.log
log-level = notice
state-dir = $W/core-state
[xmpp]
client-listen = $CORE:5222
component-listen = 127.0.0.1:5223
certificate = $W/ours.bench.pem $W/ours.bench.key
link-listen = 127.0.0.1:5289
link-key-file = $W/link.key
[tunnel]
edge = $SSHD
guest-uri = 127.0.0.1
webbridge-port = 18080
edge-port = $LINKPORT
CONF
"$BIN/causeway-edge" -t -c "$W/edge.conf" > "$W/edge-t.out" 2>&1 || die "edge.conf: $(cat "$W/edge-t.out")"
"$BIN/causeway-core" -t -c "$W/core.conf" > "$W/core-t.out" 2>&1 || die "core.conf: $(cat "$W/core-t.out")"
nsbg "$W/edge.log" "$BIN/causeway-edge" -c "$W/edge.conf"
EDGE_PID=$LAST
for _ in $(seq 1 50); do "$BIN/causeway" -s "$W/edge.sock" version > /dev/null 2>&1 && break; sleep 0.1; done
pair_core "$W/edge.conf" "$W/core.conf"     # after the edge's first start: it has its host key
[ -n "$HOST_KEY" ] || die "tunnel trust printed no host key: $(cat "$W/trust.txt")"
sed -i "s|^edge = $SSHD\$|edge = $SSHD\nhost-key = $HOST_KEY\nuser = ${TUNNEL_USER:-root}|" "$W/core.conf"
nsbg "$W/core.out" "$BIN/causeway-core" -c "$W/core.conf"
CORE_PID=$LAST
cwc() { "$BIN/causeway" -c "$W/core.conf" "$@"; }
for _ in $(seq 1 50); do cwc version > /dev/null 2>&1 && break; sleep 0.1; done
cwc xmpp domain add ours.bench > /dev/null || die "domain add failed"
echo pw | cwc xmpp user add u2@ours.bench --password-stdin > /dev/null || die "user add failed"
for a in $A:5222 $B:5222 $CORE:5222 $EDGE:5269; do ns_port "$a" || die "nothing listens on $a"; done
link_up() { "$BIN/causeway" -c "$W/edge.conf" -s "$W/edge.sock" xmpp federation status 2>/dev/null |
    grep "127.0.0.1:$LINKPORT" | grep -qvi down; }
for _ in $(seq 1 100); do has causeway || break; link_up && break; sleep 0.1; done
! has causeway || link_up || die "the edge's link to the core is not up: $("$BIN/causeway" -c "$W/edge.conf" -s "$W/edge.sock" \
    xmpp federation status 2>&1 | tr '\n' ';')"
# sshd: the edge's child and the tunnel's session processes (all named sshd).
sshd_pids() { local p; for p in $(ip netns pids "$NS"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && echo "$p"; done; }

note "$(dpkg-query -W -f='prosody ${Version}' prosody), OpenSSL $(openssl version | awk '{print $2}'); $(nproc) CPUs; ROUNDS=$ROUNDS N=$N WINDOW=$WINDOW LAT_N=$LAT_N"

SND="$A:5222:u1@a.bench:pw"
RCV_causeway="$CORE:5222:u2@ours.bench:pw"
RCV_prosody="$B:5222:u2@b.bench:pw"
load() { in_ns $PY "$LOAD" "$@"; }
# Warm-up: the s2s streams (and, for Causeway, the edge's SRV lookups) open here.
for s in $PATHS; do
    eval "rcv=\$RCV_$s"
    out=$(load "$SND" "$rcv" x 200 10 2>&1) || die "$s: warm-up failed: $out"
    note "warm-up $s: $out"
done

# run_load NAME: a throughput run and a delay run; appends
# "msgs ticks msgs_per_s p50_us p99_us ticks_by_process" to $W/NAME.runs.
run_load() {
    local name=$1 rcv pids t0 t1 out lat each="" p
    eval "rcv=\$RCV_$name"
    local -A c0 label
    label[$PA]=prosody-a
    if [ "$name" = causeway ]; then
        for p in $(sshd_pids); do label[$p]=sshd; done
        label[$EDGE_PID]=edge label[$CORE_PID]=core
    else
        label[$PB]=prosody-b
    fi
    pids="${!label[*]}"
    for p in $pids; do c0[$p]=$(cpu_ticks "$p"); done
    t0=$(cpu_ticks $pids)
    out=$(load "$SND" "$rcv" x "$N" "$WINDOW" 2>&1) || die "$name: load failed: $out"
    t1=$(cpu_ticks $pids)
    for p in $pids; do each="$each${label[$p]}=$(($(cpu_ticks "$p") - c0[$p])),"; done
    lat=$(load "$SND" "$rcv" x "$LAT_N" 1 2>&1) || die "$name: delay run failed: $lat"
    echo "$(echo "$out" | sed 's/.*msgs=\([0-9]*\) .*/\1/') $((t1 - t0)) \
$(echo "$out" | sed 's/.*msgs_per_s=\([0-9]*\).*/\1/') \
$(echo "$lat" | sed 's/.*p50_us=\([0-9]*\).*/\1/') $(echo "$lat" | sed 's/.*p99_us=\([0-9]*\).*/\1/') ${each%,}" >> "$W/$name.runs"
}
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then has causeway && run_load causeway; has prosody && run_load prosody
    else has prosody && run_load prosody; has causeway && run_load causeway; fi
    note "round $r/$ROUNDS done"
done
touch "$W/causeway.runs" "$W/prosody.runs"
for s in $PATHS; do
    echo "  per-run $s (msgs cpu_ticks msgs_per_s p50_us p99_us ticks_by_process): $(tr '\n' ';' < "$W/$s.runs")" >&2
done
per_cpu() { awk -v hz="$HZ" '{m += $1; t += $2} END {if (t) printf "%.0f", m * hz / t; else print "na"}' "$W/$1.runs"; }
col() { awk -v c="$2" '{print $c}' "$W/$1.runs" | median; }
CR=$(col causeway 3) PR=$(col prosody 3)
C50=$(col causeway 4) P50=$(col prosody 4)
C99=$(col causeway 5) P99=$(col prosody 5)
CPC=$(per_cpu causeway) PPC=$(per_cpu prosody)
grep -E ' (error|warn) ' "$W/edge.log" "$W/core.log" 2>/dev/null | grep -v sshd | head -5 | sed 's/^/# /' >&2
cat <<EOF

bench federation: p50_us causeway=$C50 prosody=$P50 ratio=$(ratio "$C50" "$P50")
bench federation: p99_us causeway=$C99 prosody=$P99 ratio=$(ratio "$C99" "$P99")
bench federation: msgs_per_cpu_s causeway=$CPC prosody=$PPC ratio=$(ratio "$CPC" "$PPC")
bench federation: msgs_per_s causeway=$CR prosody=$PR ratio=$(ratio "$CR" "$PR")
EOF
