#!/usr/bin/env bash
# xmpp.sh - `make bench-xmpp`: Causeway's XMPP core against Prosody (Debian's,
# one process) under the same load, in one run; then Causeway across two
# cluster nodes, and the time a 3-node cluster takes to fail over.
#
# Load (tests/tools/xmpp_load.py): two accounts log in (STARTTLS,
# SCRAM-SHA-1, bind); one sends chat messages to the other as fast as a
# window of WINDOW messages in flight allows (throughput), then one at a
# time (delay: p50/p99 from send to arrival). The generator writes stanzas
# from a template and finds bodies with one regular expression, a few
# microseconds per message. ROUNDS rounds, the servers taking turns (in
# reverse order every other round), so that both see the same drift of
# this shared host. Messages per CPU-second: all rounds' messages over the
# server process's utime+stime in them (/proc/PID/stat); messages/s and
# delays are medians over the rounds.
#
# Across nodes: a cluster of two causeway-core nodes, the sender's session
# on one and the receiver's on the other (each message crosses the nodes'
# link); CPU of both nodes. Prosody has no cluster, so the figure is set
# against Causeway's own one-node figure.
#
# Failover: three nodes (election-timeout 500 ms, the default); a sender on
# a follower; the leader is killed with SIGKILL; a receiver logs in on the
# other follower (its session must reach the directory through the new
# leader) and the time from the kill to the first message delivered to it
# is taken, FAILOVERS times (median). Target: under 1.5 s.
#
# Ends with "bench ..." lines; msgs_per_cpu_s (one node, against Prosody)
# last. Knobs: ROUNDS (5), N (messages per throughput run, 200000), WINDOW
# (500), LAT_N (2000), FAILOVERS (3), ports CW_PORT (15322), PROSODY_PORT
# (15222), and the loopback addresses 127.0.0.21-26 for cluster nodes.
# Every process started here is stopped by its PID; the temp dir is removed.
BENCH=xmpp
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
WINDOW=${WINDOW:-500}
LAT_N=${LAT_N:-2000}
FAILOVERS=${FAILOVERS:-3}
CW_PORT=${CW_PORT:-15322}
PROSODY_PORT=${PROSODY_PORT:-15222}
xmpp_bench_setup "$CW_PORT" "$PROSODY_PORT"

# ---- Prosody ------------------------------------------------------------------------
prosody_setup "$PROSODY_PORT"
for u in u1 u2; do
    prosodyctl --config "$W/prosody/prosody.cfg.lua" register $u bench.test pw > /dev/null 2>&1 ||
        die "prosodyctl register failed"
done
bg "$W/prosody/stdout.log" $as_prosody prosody -F --config "$W/prosody/prosody.cfg.lua"
PROSODY_PID=$LAST
wait_port "127.0.0.1:$PROSODY_PORT" || die "prosody did not start: $(cat "$W/prosody/stdout.log")"

# ---- causeway-core: one node (standalone), then clusters -----------------------
core_conf() { # NAME CLIENT_ADDR [CLUSTER_ADDR KEYFILE]
    {
        printf '[core]\nname = %s\ncontrol-socket = %s/%s.sock\nlog-file = %s/%s.log\nlog-level = notice\nstate-dir = %s/%s-state\n' \
            "$1" "$W" "$1" "$W" "$1" "$W" "$1"
        printf '[xmpp]\nclient-listen = %s\ncomponent-listen = 0.0.0.0:0\ncertificate = %s/cert.pem %s/key.pem\n' \
            "$2" "$W" "$W"
        [ -n "${3:-}" ] && printf '[cluster]\naddress = %s\nkey-file = %s\n' "$3" "$4"
    } > "$W/$1.conf"
}
cw() { local n=$1; shift; "$BIN/causeway" -c "$W/$n.conf" "$@"; }
start_core() { # NAME: sets LAST
    bg "$W/$1.out" "$BIN/causeway-core" -c "$W/$1.conf"
    for _ in $(seq 1 50); do cw "$1" version > /dev/null 2>&1 && return 0; sleep 0.1; done
    die "causeway-core $1 did not start: $(cat "$W/$1.out" "$W/$1.log" 2>/dev/null)"
}
add_users() { # NODE
    cw "$1" xmpp domain add bench.test > /dev/null || die "domain add failed"
    for u in u1 u2 u3; do
        echo pw | cw "$1" xmpp user add $u@bench.test --password-stdin > /dev/null || die "user add failed"
    done
}
core_conf one "127.0.0.1:$CW_PORT"
start_core one
CW_PID=$LAST
add_users one
wait_port "127.0.0.1:$CW_PORT" || die "causeway-core is not listening"

note "$(dpkg-query -W -f='prosody ${Version}' prosody), OpenSSL $(openssl version | awk '{print $2}'); $(nproc) CPUs; ROUNDS=$ROUNDS N=$N WINDOW=$WINDOW"

# run_load NAME PORT PID: one throughput run and one delay run; appends
# "msgs ticks msgs_per_s p50 p99" to $W/NAME.runs.
run_load() {
    local name=$1 port=$2 pid=$3 t0 t1 out lat
    t0=$(cpu_ticks "$pid")
    out=$($PY "$LOAD" "127.0.0.1:$port:u1:pw" "127.0.0.1:$port:u2:pw" bench.test "$N" "$WINDOW") ||
        die "$name: load failed: $out"
    t1=$(cpu_ticks "$pid")
    lat=$($PY "$LOAD" "127.0.0.1:$port:u1:pw" "127.0.0.1:$port:u2:pw" bench.test "$LAT_N" 1) ||
        die "$name: delay run failed: $lat"
    echo "$(echo "$out" | sed 's/.*msgs=\([0-9]*\).*msgs_per_s=\([0-9]*\).*/\1/') $((t1 - t0)) \
$(echo "$out" | sed 's/.*msgs_per_s=\([0-9]*\).*/\1/') \
$(echo "$lat" | sed 's/.*p50_us=\([0-9]*\).*/\1/') $(echo "$lat" | sed 's/.*p99_us=\([0-9]*\).*/\1/')" >> "$W/$name.runs"
}
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        run_load causeway "$CW_PORT" "$CW_PID"; run_load prosody "$PROSODY_PORT" "$PROSODY_PID"
    else
        run_load prosody "$PROSODY_PORT" "$PROSODY_PID"; run_load causeway "$CW_PORT" "$CW_PID"
    fi
    note "round $r/$ROUNDS done"
done
per_cpu() { awk -v hz="$HZ" '{m += $1; t += $2} END {if (t) printf "%.0f", m * hz / t; else print "na"}' "$W/$1.runs"; }
col() { awk -v c="$2" '{print $c}' "$W/$1.runs" | median; }
for s in causeway prosody; do
    echo "  per-run $s (msgs cpu_ticks msgs_per_s p50_us p99_us): $(tr '\n' ';' < "$W/$s.runs")" >&2
done

# ---- across two nodes -----------------------------------------------------------
openssl rand -hex 32 > "$W/cluster.key"; chmod 600 "$W/cluster.key"
core_conf x1 127.0.0.21:$CW_PORT 127.0.0.21:14000 "$W/cluster.key"
core_conf x2 127.0.0.22:$CW_PORT 127.0.0.22:14000 "$W/cluster.key"
start_core x1; X1=$LAST
start_core x2; X2=$LAST
cw x1 xmpp cluster initialize > /dev/null || die "cluster initialize failed"
for _ in $(seq 1 50); do cw x1 xmpp cluster status | grep -q '^State: LEADER' && break; sleep 0.1; done
cw x2 xmpp cluster join 127.0.0.21:14000 > /dev/null || die "cluster join failed"
add_users x1
sleep 1
for r in $(seq 1 "$ROUNDS"); do
    t0=$(cpu_ticks "$X1" "$X2")
    out=$($PY "$LOAD" "127.0.0.21:$CW_PORT:u1:pw" "127.0.0.22:$CW_PORT:u2:pw" bench.test "$N" "$WINDOW") ||
        die "cross-node load failed: $out"
    t1=$(cpu_ticks "$X1" "$X2")
    lat=$($PY "$LOAD" "127.0.0.21:$CW_PORT:u1:pw" "127.0.0.22:$CW_PORT:u2:pw" bench.test "$LAT_N" 1) ||
        die "cross-node delay run failed: $lat"
    echo "$(echo "$out" | sed 's/.*msgs=\([0-9]*\) .*/\1/') $((t1 - t0)) $(echo "$out" | sed 's/.*msgs_per_s=\([0-9]*\).*/\1/') \
$(echo "$lat" | sed 's/.*p50_us=\([0-9]*\).*/\1/') $(echo "$lat" | sed 's/.*p99_us=\([0-9]*\).*/\1/')" >> "$W/cross.runs"
done
echo "  per-run causeway across 2 nodes (msgs cpu_ticks msgs_per_s p50_us p99_us): $(tr '\n' ';' < "$W/cross.runs")" >&2
stop_pid "$X1"; stop_pid "$X2"

# ---- failover: three nodes, the leader killed ----------------------------------
for i in 1 2 3; do core_conf f$i 127.0.0.2$((i + 3)):$CW_PORT 127.0.0.2$((i + 3)):14000 "$W/cluster.key"; done
start_core f1; F1=$LAST
start_core f2; F2=$LAST
start_core f3; F3=$LAST
cw f1 xmpp cluster initialize > /dev/null || die "cluster initialize failed"
for _ in $(seq 1 50); do cw f1 xmpp cluster status | grep -q '^State: LEADER' && break; sleep 0.1; done
cw f2 xmpp cluster join 127.0.0.24:14000 > /dev/null || die "join failed"
cw f3 xmpp cluster join 127.0.0.24:14000 > /dev/null || die "join failed"
add_users f2
sleep 1
alive="1 2 3"
for k in $(seq 1 "$FAILOVERS"); do
    L=""
    for _ in $(seq 1 100); do
        for i in $alive; do cw f$i xmpp cluster status 2>/dev/null | grep -q '^State: LEADER' && L=$i; done
        [ -n "$L" ] && break; sleep 0.1
    done
    [ -n "$L" ] || die "no leader before failover $k"
    set -- $(for i in $alive; do [ "$i" = "$L" ] || echo "$i"; done)
    [ $# -ge 2 ] || break
    A=127.0.0.2$(($1 + 3)) B=127.0.0.2$(($2 + 3))
    rm -f "$W/go"
    $PY "$LOAD" failover "$A:$CW_PORT:u1:pw" "$B:$CW_PORT:u$((k % 2 + 2)):pw" bench.test "$W/go" > "$W/fo.$k" 2>&1 &
    FO=$!
    sleep 1
    eval "LP=\$F$L"
    date +%s.%N > "$W/go.tmp"; kill -KILL "$LP"; mv "$W/go.tmp" "$W/go"
    wait "$FO"
    sed -n 's/^failover_ms=//p' "$W/fo.$k" >> "$W/failover.runs"
    note "failover $k: leader f$L killed: $(cat "$W/fo.$k" | tail -1)"
    # Bring it back, reset, so the next round has three nodes again.
    rm -rf "$W/f$L-state"
    start_core "f$L"; eval "F$L=$LAST"
    cw "f$L" xmpp cluster join "$A:14000" > /dev/null || die "rejoin failed"
    sleep 2
done

# ---- figures ------------------------------------------------------------------------
CPC=$(per_cpu causeway) PPC=$(per_cpu prosody) XPC=$(per_cpu cross)
CR=$(col causeway 3) PR=$(col prosody 3) XR=$(col cross 3)
C50=$(col causeway 4) P50=$(col prosody 4) X50=$(col cross 4)
C99=$(col causeway 5) P99=$(col prosody 5) X99=$(col cross 5)
FO=$(median < "$W/failover.runs")
cat <<EOF

  target: messages per CPU-second >= 2x Prosody on one node ($(ratio "$CPC" "$PPC") >= 2): $(awk -v r="$(ratio "$CPC" "$PPC")" 'BEGIN{print (r != "na" && r >= 2) ? "met" : "NOT met"}')
  target: failover under 1500 ms with 3 nodes ($FO ms): $(awk -v f="$FO" 'BEGIN{print (f != "na" && f < 1500) ? "met" : "NOT met"}')

bench xmpp: msgs_per_s causeway=$CR prosody=$PR ratio=$(ratio "$CR" "$PR")
bench xmpp: p50_us causeway=$C50 prosody=$P50 ratio=$(ratio "$C50" "$P50")
bench xmpp: p99_us causeway=$C99 prosody=$P99 ratio=$(ratio "$C99" "$P99")
bench xmpp_2nodes: msgs_per_s causeway_2nodes=$XR causeway_1node=$CR ratio=$(ratio "$XR" "$CR")
bench xmpp_2nodes: msgs_per_cpu_s causeway_2nodes=$XPC causeway_1node=$CPC ratio=$(ratio "$XPC" "$CPC")
bench xmpp_2nodes: p99_us causeway_2nodes=$X99 causeway_1node=$C99 ratio=$(ratio "$X99" "$C99")
bench failover: ms causeway=$FO
bench xmpp: msgs_per_cpu_s causeway=$CPC prosody=$PPC ratio=$(ratio "$CPC" "$PPC")
EOF
