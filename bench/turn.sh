#!/usr/bin/env bash
# turn.sh - `make bench-turn`: coturn (Debian) and Causeway one after the other
# under the same load, on the loopback of a private network namespace.
#
# For each server: packets relayed per CPU-second of the server with
# turnutils_uclient at saturation (ChannelData, then Send/Data) and at an
# RTP-like paced load (-z 20); relay round trip p50/p99 with turnload rtt
# (paced ChannelData to turnutils_peer), one server after the other (with
# idle vCPUs free to halt, and kept awake: run_rttwarm) and both at the
# same time (run_pair); RSS with 6000 concurrent allocations
# (the whole 24000-29999 range) with turnload alloc. Then a table and the
# "bench turn: <metric> causeway=<v> coturn=<v> ratio=<r>" lines, the
# pkts_per_cpu_s line last.
#
# Knobs (environment): REPS (runs per throughput figure, median), RTT_REPS, PAIR_REPS,
# SERVERS, TESTS, OUTDIR, CW_WORKERS, and the load sizes below. Needs root (network namespace),
# coturn (turnserver, turnutils_uclient, turnutils_peer) and the build
# (build/bin/causeway-edge, build/bin/causeway, build/tests/turnload).
#
# Only the processes started here are stopped (by PID) and only the
# namespace created here is deleted.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=$TOP/build/bin
TURNLOAD=${TURNLOAD:-$TOP/build/tests/turnload}
REPS=${REPS:-3}
SERVERS=${SERVERS:-"coturn causeway"}
TESTS=${TESTS:-"alloc chan send paced rtt rttwarm pair"}
OUTDIR=${OUTDIR:-${TMPDIR:-/tmp}/causeway-bench-turn/$(date +%Y%m%d-%H%M%S)}
MSG_LEN=${MSG_LEN:-160}
# Saturation: uclient -z 1 (1 pkt/ms per client target, up to 51 per tick).
SAT_M=${SAT_M:-50}
SAT_N=${SAT_N:-3000}
# Paced (RTP-like): 50 pkt/s per client.
PACED_M=${PACED_M:-100}
PACED_N=${PACED_N:-350}
# turnload rtt: allocations x rate for a duration.
RTT_M=${RTT_M:-200}
RTT_RATE=${RTT_RATE:-50}
RTT_DUR=${RTT_DUR:-10}
RTT_REPS=${RTT_REPS:-5}          # latency tails vary most with the host's other load
# turnload rtt on both servers at once (see run_pair): allocations per server, runs.
PAIR_M=${PAIR_M:-100}
PAIR_REPS=${PAIR_REPS:-9}      # odd: one run holds the median ratio
CW_WORKERS=${CW_WORKERS:-auto}   # causeway's [turn] workers
# turnload alloc: N allocations from ALLOC_SRCS source addresses, the first
# ALLOC_R1 with EVEN-PORT R=1 (reservation tokens never redeemed); 508
# answers are retried for ALLOC_RETRY s from the start (RFC 8656 7.2 asks to
# keep a reservation about 30 s; after that the port is free again).
ALLOC_N=${ALLOC_N:-6000}
ALLOC_R1=${ALLOC_R1:-600}
ALLOC_SRCS=${ALLOC_SRCS:-10}
ALLOC_RETRY=${ALLOC_RETRY:-40}
ALLOC_HOLD=${ALLOC_HOLD:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
# A run during which the rest of the host (other programs, steal time) used
# more than QUIET_MAX % of the CPUs is left out of the medians when the same
# server has quieter runs of that load.
QUIET_MAX=${QUIET_MAX:-10}

NS=cwbench$$
SPID="" PEER_PID="" PEER2_PID="" LOAD_PID="" SNAME="" PAIR_PIDS="" WARM_PIDS=""
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
RES=$OUTDIR/results.tsv          # server \t key \t value

die() { echo "bench turn: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
put() { printf '%s\t%s\t%s\n' "$SNAME" "$1" "$2" >> "$RES"; }
get() { awk -F'\t' -v s="$1" -v k="$2" '$1==s && $2==k {v=$3} END{print (v=="")?"na":v}' "$RES"; }
in_ns() { ip netns exec "$NS" "$@"; }   # foreground only: "in_ns x &" would give $! of a subshell

# CPU time of a process, in clock ticks: utime + stime of /proc/PID/stat
# (all threads of the process, including exited ones).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
now_s() { date +%s.%N; }
median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g |
    awk '{v[NR] = $1} END {if (!NR) print "na"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
kv() { grep -m1 "^$1=" "$2" 2>/dev/null | cut -d= -f2; }   # key file: turnload output
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "na" || b == "na" || a == "" || b == "" || b + 0 == 0) print "na"; else printf "%.2f", a / b }'; }

stop_pid() { # PID: TERM, then KILL after 3 s
    local p=$1
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}

cleanup() {
    for p in $LOAD_PID; do stop_pid "$p"; done
    stop_pid "$SPID"
    stop_pid "$PEER_PID"
    stop_pid "$PEER2_PID"
    for p in $PAIR_PIDS $WARM_PIDS; do stop_pid "$p"; done
    ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_udp() { # port [addr]: something listens on it in the namespace
    for _ in $(seq 1 50); do
        in_ns ss -ulnH 2>/dev/null | awk '{print $4}' | grep -q "${2:-}:$1\$" && return 0
        sleep 0.1
    done
    return 1
}

# ---- servers --------------------------------------------------------------
coturn_cmd() { # the recipe's flags (shared/recipes/turn/coturn_bench.sh)
    echo turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port=3478 \
        --min-port=24000 --max-port=29999 --lt-cred-mech --user=user:pass --realm=example.org \
        --no-tls --no-dtls --no-cli --allow-loopback-peers --db="$OUTDIR/coturn-$1.turndb" \
        --log-file="$OUTDIR/coturn-$1.log" --simple-log --no-stdout-log \
        --pidfile="$OUTDIR/coturn-$1.pid"
}

causeway_conf() { # [addr conf]: another listen and relay address, another file
    local a=${1:-127.0.0.1} f=${2:-$OUTDIR/edge.conf}
    cat > "$f" <<CONF
[edge]
control-socket = $f.sock
log-level = warn
[turn]
listen = $a:3478
relay-address = $a
relay-ports = 24000-29999
workers = $CW_WORKERS
realm = example.org
user-db = $OUTDIR/users
unsafe-allow-loopback-peers = yes
CONF
    [ -e "$OUTDIR/users" ] && return 0
    echo pass | "$BIN/causeway" -c "$OUTDIR/edge.conf" turn user add user --password-stdin \
        > "$OUTDIR/user-add.log" 2>&1 || die "causeway turn user add failed: $(cat "$OUTDIR/user-add.log")"
}

start_server() { # tag
    local tag=$1 cmd
    if [ "$SNAME" = coturn ]; then cmd=$(coturn_cmd "$tag")
    else cmd="$BIN/causeway-edge -c $OUTDIR/edge.conf"; fi
    echo "$SNAME[$tag]: $cmd" >> "$OUTDIR/commands.txt"
    # exec: the PID of ip netns exec / bash is the server's own.
    ip netns exec "$NS" bash -c "ulimit -n \$(ulimit -Hn); exec $cmd" > "$OUTDIR/$SNAME-$tag.out" 2>&1 &
    SPID=$!
    STAG=$tag
    wait_udp 3478 || { cat "$OUTDIR/$SNAME-$tag.out" >&2; die "$SNAME did not start"; }
    sleep 0.3
}

stop_server() { # records a crash if the server died on its own
    [ -n "$SPID" ] || return 0
    if ! kill -0 "$SPID" 2>/dev/null; then
        wait "$SPID"; local rc=$?
        note "$SNAME DIED during $STAG (exit status $rc); log: $OUTDIR/$SNAME-$STAG.out"
        tail -5 "$OUTDIR/$SNAME-$STAG.out" >&2
        put "crash_$STAG" "exit=$rc"
    else
        stop_pid "$SPID"
    fi
    SPID=""
}

server_alive() { kill -0 "$SPID" 2>/dev/null; }

# ---- (i)+(ii) turnutils_uclient throughput ----------------------------------
# Packets relayed = 2 x the packets uclient got back (tot_recv_msgs): each echoed
# packet crossed the server twice (client->peer, peer->client). The count comes
# from the same client binary for both servers and credits only relays that
# completed a round trip, so a server is neither credited for datagrams it
# sent that were lost nor blamed for the client's own limits. It is also the
# definition of the anchor figures in shared/recipes/turn/NOTES.md. The
# denominator is the server's utime+stime over the whole uclient run (setup,
# idle waits and sending: idle costs nothing, allocations almost nothing).
run_uclient() { # label z n m [uclient flags...]
    local label=$1 z=$2 n=$3 m=$4; shift 4
    local out="$OUTDIR/raw/$SNAME-$label.txt" try rc c0 c1 p0 p1 b0 b1 t0 t1 sent recv rtt ucpu
    local flags=(-c -m "$m" -n "$n" -l "$MSG_LEN" -z "$z" "$@" -u user -w pass -e 127.0.0.1 -r 3480
                 -p 3478 127.0.0.1)
    echo "$SNAME[$label]: turnutils_uclient ${flags[*]}" >> "$OUTDIR/commands.txt"
    for try in 1 2; do
        c0=$(cpu_ticks "$SPID"); p0=$(cpu_ticks "$PEER_PID"); b0=$(busy_ticks); t0=$(now_s)
        timeout -s KILL "$RUN_TIMEOUT" ip netns exec "$NS" /usr/bin/time -f '%U %S' -o "$out.time" \
            turnutils_uclient "${flags[@]}" > "$out" 2>&1
        rc=$?
        c1=$(cpu_ticks "$SPID"); p1=$(cpu_ticks "$PEER_PID"); b1=$(busy_ticks); t1=$(now_s)
        # uclient exits on a 400 when its random channel number collides (1 in
        # 16384 per bind, see NOTES.md): run again once.
        grep -q 'start_mclient: tot_send_msgs=' "$out" && break
        note "$SNAME $label: uclient ended without totals (rc $rc), try $try: $(grep -m1 -i error "$out")"
        server_alive || return 1
    done
    grep -q 'start_mclient: tot_send_msgs=' "$out" || return 1
    sent=$(grep -o 'start_mclient: tot_send_msgs=[0-9]*' "$out" | tail -1 | grep -o '[0-9]*$')
    recv=$(grep -o 'tot_recv_msgs=[0-9]*$' "$out" | tail -1 | grep -o '[0-9]*$')
    rtt=$(grep -o 'Average round trip delay [0-9.]*' "$out" | tail -1 | awk '{print $5}')
    ucpu=$(awk '{print $1 + $2}' "$out.time" 2>/dev/null | tail -1)
    awk -v s="$sent" -v r="$recv" -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v b0="$b0" -v b1="$b1" \
        -v t0="$t0" -v t1="$t1" -v ncpu="$NCPU" -v uc="${ucpu:-0}" -v rtt="${rtt:-na}" -v pc=$((p1 - p0)) '
        BEGIN { cpu = (c1 - c0) / hz; wall = t1 - t0;
                # CPU used on the host by anything but server, uclient and peer
                noise = ((b1 - b0 - pc) / hz - cpu - uc) * 100 / (ncpu * wall); if (noise < 0) noise = 0;
                printf "sent=%d\nrecv=%d\nloss_pct=%.2f\nsrv_cpu_s=%.2f\nwall_s=%.1f\npkts_per_cpu_s=%.0f\nrelay_pps=%.0f\nuclient_cpu_s=%.2f\nother_load_pct=%.0f\nrtt_avg_ms=%s\n",
                    s, r, (s > 0) ? (s - r) * 100 / s : 0, cpu, wall, (cpu > 0) ? 2 * r / cpu : 0,
                    2 * r / wall, uc, noise, rtt }' > "$out.sum"
    note "$SNAME $label: $(tr '\n' ' ' < "$out.sum")"
    return 0
}

# summarize NAME KEY...: per server, the median over the runs NAME-r* of each
# KEY (key=value lines in the runs' .sum files), over the quiet runs only if
# there are any (see QUIET_MAX); also the list of all values.
quiet() { awk -v q="$QUIET_MAX" -v v="$(kv other_load_pct "$1")" 'BEGIN { exit !(v != "" && v + 0 <= q) }'; }
# A rep counts when the runs of every server in it were quiet, so that both
# medians come from the same reps (a filter per server would keep one
# server's lucky runs against all of the other's).
summarize() {
    local name=$1 k vals all f g used=() n=0 ok; shift
    for f in "$OUTDIR/raw/$SNAME-$name"-r*.sum; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        ok=1
        for g in $SERVERS; do quiet "${f/\/$SNAME-$name-//$g-$name-}" || ok=0; done
        [ $ok = 1 ] && used+=("$f")
    done
    [ ${#used[@]} = 0 ] && used=("$OUTDIR/raw/$SNAME-$name"-r*.sum)
    put "$name.runs_used" "$([ -e "${used[0]}" ] && echo "${#used[@]}" || echo 0)/$n"
    for k in "$@"; do
        vals=$(for f in "${used[@]}"; do [ -e "$f" ] && kv "$k" "$f"; done | tr '\n' ' ')
        all=$(for f in "$OUTDIR/raw/$SNAME-$name"-r*.sum; do [ -e "$f" ] && kv "$k" "$f"; done | tr '\n' ' ')
        put "$name.$k" "$(echo "$vals" | median)"
        put "$name.$k.all" "${all% }"
    done
}

# ---- (iii) turnload rtt ------------------------------------------------------
# RTT_M allocations x RTT_RATE ChannelData packets/s to turnutils_peer for
# RTT_DUR s, RTT_REPS runs per server, medians. The receive time is the kernel's (SO_TIMESTAMPNS), so
# turnload's own scheduling delays on a busy host stay out of the figure.
run_rtt() { # label
    local out="$OUTDIR/raw/$SNAME-$1.txt" c0 c1 p0 p1 b0 b1 t0 t1
    local flags=(rtt -s 127.0.0.1:3478 -u user -w pass -e 127.0.0.1:3480 -L 127.0.0.11 -K 10
                 -m "$RTT_M" -r "$RTT_RATE" -l "$MSG_LEN" -d "$RTT_DUR" --dealloc -T $((RTT_DUR + 60)))
    echo "$SNAME[$1]: turnload ${flags[*]}" >> "$OUTDIR/commands.txt"
    c0=$(cpu_ticks "$SPID"); p0=$(cpu_ticks "$PEER_PID"); b0=$(busy_ticks); t0=$(now_s)
    in_ns /usr/bin/time -f '%U %S' -o "$out.time" "$TURNLOAD" "${flags[@]}" > "$out" 2>&1
    c1=$(cpu_ticks "$SPID"); p1=$(cpu_ticks "$PEER_PID"); b1=$(busy_ticks); t1=$(now_s)
    {
        grep -E '^(rtt_allocs|sent|received|loss_pct|rtt_p[0-9]+_us|rtt_max_us|send_lag_max_us)=' "$out"
        echo "srv_cpu_s=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", d / hz}')"
        # same counting as run_uclient: 2 relays per echoed packet
        echo "pkts_per_cpu_s=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v r="$(kv received "$out")" \
            'BEGIN{printf "%.0f", (d > 0) ? 2 * r * hz / d : 0}')"
        awk -v c=$((c1 - c0 + p1 - p0)) -v b=$((b1 - b0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
            -v n="$NCPU" -v uc="$(awk '{print $1 + $2}' "$out.time" 2>/dev/null | tail -1)" \
            'BEGIN { x = (b - c) / hz - uc; if (x < 0) x = 0; printf "other_load_pct=%.0f\n", x * 100 / (n * (t1 - t0)) }'
    } > "$out.sum"
    note "$SNAME $1: $(tr '\n' ' ' < "$out.sum")"
}

# ---- (iv) turnload rtt, both servers at the same time -------------------------
# Run after run, p99s on this shared host swing by a factor of 5 and more
# with what else runs on it (the load generator's own sends run milliseconds
# late in most runs). Here both servers carry the same load at the same
# time, each with its own address, peer and turnload: coturn on 127.0.0.1,
# Causeway on 127.0.0.2, PAIR_M allocations x RTT_RATE each. A stall of the
# host then falls on both in the same run, and the ratio of the two p99s
# of one run compares like with like; the figure is the median of those.
run_pair() { # label
    local tag=$1 cw c
    c=$(coturn_cmd "$tag")
    cw="$BIN/causeway-edge -c $OUTDIR/edge-pair.conf"
    echo "pair[$tag]: $c; $cw" >> "$OUTDIR/commands.txt"
    ip netns exec "$NS" bash -c "ulimit -n \$(ulimit -Hn); exec $c" > "$OUTDIR/coturn-$tag.out" 2>&1 &
    local cpid=$!
    ip netns exec "$NS" bash -c "ulimit -n \$(ulimit -Hn); exec $cw" > "$OUTDIR/causeway-$tag.out" 2>&1 &
    local wpid=$!
    PAIR_PIDS="$cpid $wpid"
    if ! wait_udp 3478 127.0.0.1 || ! wait_udp 3478 127.0.0.2; then
        note "pair $tag: a server did not start"; stop_pid "$cpid"; stop_pid "$wpid"; PAIR_PIDS=""; return 1
    fi
    sleep 0.3
    local c0 w0 c1 w1 s a loads=""
    c0=$(cpu_ticks "$cpid"); w0=$(cpu_ticks "$wpid")
    for s in coturn causeway; do
        a=127.0.0.1; [ $s = causeway ] && a=127.0.0.2
        local flags=(rtt -s $a:3478 -u user -w pass -e $a:3480 -L "${a%.*}.$([ $s = coturn ] && echo 11 || echo 31)" -K 10
                     -m "$PAIR_M" -r "$RTT_RATE" -l "$MSG_LEN" -d "$RTT_DUR" --dealloc -T $((RTT_DUR + 60)))
        echo "$s[$tag]: turnload ${flags[*]}" >> "$OUTDIR/commands.txt"
        ip netns exec "$NS" "$TURNLOAD" "${flags[@]}" > "$OUTDIR/raw/$s-$tag.txt" 2>&1 &
        loads="$loads $!"
    done
    LOAD_PID=$loads
    wait $loads
    LOAD_PID=""
    c1=$(cpu_ticks "$cpid"); w1=$(cpu_ticks "$wpid")
    for s in coturn causeway; do
        local out="$OUTDIR/raw/$s-$tag.txt" d=$((c1 - c0))
        [ $s = causeway ] && d=$((w1 - w0))
        {
            grep -E '^(received|loss_pct|rtt_p[0-9]+_us|rtt_max_us|send_lag_max_us)=' "$out"
            echo "srv_cpu_s=$(awk -v d="$d" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", d / hz}')"
        } > "$out.sum"
        note "$s $tag: $(tr '\n' ' ' < "$out.sum")"
    done
    echo "p99_ratio=$(ratio "$(kv rtt_p99_us "$OUTDIR/raw/causeway-$tag.txt")" \
        "$(kv rtt_p99_us "$OUTDIR/raw/coturn-$tag.txt")")" > "$OUTDIR/raw/ratio-$tag.sum"
    stop_pid "$cpid"; stop_pid "$wpid"; PAIR_PIDS=""
}

# ---- (v) turnload alloc: RSS with 6000 allocations --------------------------
relay_socks() { in_ns ss -uanpH 2>/dev/null | grep "pid=$SPID," |
    awk '{n = split($4, a, ":"); p = a[n] + 0; if (p >= 24000 && p <= 29999) c++} END {print c + 0}'; }

bench_alloc() {
    local out="$OUTDIR/raw/$SNAME-alloc.txt" r0 r1 c0 c1 socks pid
    local flags=(alloc -s 127.0.0.1:3478 -u user -w pass -e 127.0.0.1:3480 -L 127.0.0.11
                 -K "$ALLOC_SRCS" -n "$ALLOC_N" --r1 "$ALLOC_R1" --retry-for "$ALLOC_RETRY"
                 --hold "$ALLOC_HOLD" --dealloc -T $((ALLOC_RETRY + ALLOC_HOLD + 120)))
    start_server alloc
    echo "$SNAME[alloc]: turnload ${flags[*]}" >> "$OUTDIR/commands.txt"
    r0=$(rss_kb "$SPID"); c0=$(cpu_ticks "$SPID")
    ip netns exec "$NS" bash -c "ulimit -n \$(ulimit -Hn); exec $TURNLOAD ${flags[*]}" > "$out" 2>&1 &
    pid=$!
    LOAD_PID=$pid
    # Sample while the allocations are held (turnload prints phase=holding).
    while kill -0 "$pid" 2>/dev/null && ! grep -qs '^phase=holding' "$out"; do sleep 0.2; done
    sleep 1
    r1=$(rss_kb "$SPID"); c1=$(cpu_ticks "$SPID"); socks=$(relay_socks)
    wait "$pid"
    LOAD_PID=""
    put alloc.ok "$(kv allocs_ok "$out")"
    put alloc.r1_ok "$(kv r1_ok "$out")"
    put alloc.tokens "$(kv tokens "$out")"
    put alloc.errors "$(grep -E '^alloc_err_' "$out" | sed 's/^alloc_err_//' | tr '\n' ' ')"
    put alloc.answers_508 "$(kv answers_508 "$out")"
    put alloc.first_pass_s "$(kv first_pass_s "$out")"
    put alloc.rate "$(kv alloc_rate_per_s "$out")"
    put alloc.alive_after_hold "$(kv alive_after_hold "$out")"
    put alloc.dealloc_ok "$(kv dealloc_ok "$out")"
    put alloc.relay_socks "$socks"
    put alloc.rss0_kb "${r0:-na}"
    put alloc.rss_kb "${r1:-na}"
    put alloc.hwm_kb "$(hwm_kb "$SPID")"
    put alloc.rss_delta_kb "$((${r1:-0} - ${r0:-0}))"
    put alloc.log_lines "$(cat "$OUTDIR/$SNAME-alloc.out" "$OUTDIR/$SNAME-alloc.log" 2>/dev/null | wc -l)"
    put alloc.setup_cpu_s "$(awk -v d=$((${c1:-0} - ${c0:-0})) -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", d / hz}')"
    note "$SNAME alloc: $(grep -E '^(allocs_ok|r1_ok|tokens|answers_508|alloc_err_[a-z0-9]*|first_pass_s|setup_s|alive_after_hold|dealloc_ok)=' "$out" | tr '\n' ' ')rss ${r0}->${r1} kB, relay sockets $socks"
    stop_server
}

# ---- main -------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (network namespace)"
for b in turnserver turnutils_uclient turnutils_peer; do
    command -v "$b" > /dev/null || die "$b missing (apt-get install coturn)"
done
for b in "$BIN/causeway-edge" "$BIN/causeway" "$TURNLOAD"; do
    [ -x "$b" ] || die "$b missing (make build build/tests/turnload)"
done
mkdir -p "$OUTDIR/raw" "$OUTDIR/bin" || die "cannot create $OUTDIR"
# Run copies: the build tree may be rebuilt while the benchmark runs.
cp "$BIN/causeway-edge" "$BIN/causeway" "$TURNLOAD" "$OUTDIR/bin/" || die "cannot copy the binaries"
BIN=$OUTDIR/bin
TURNLOAD=$OUTDIR/bin/turnload
: > "$RES"
ip netns add "$NS" || die "cannot create network namespace $NS"
in_ns ip link set lo up
ulimit -n "$(ulimit -Hn)"
note "output in $OUTDIR (namespace $NS, $NCPU CPUs, REPS=$REPS)"

ip netns exec "$NS" turnutils_peer -L 127.0.0.1 -p 3480 > "$OUTDIR/peer.log" 2>&1 &
PEER_PID=$!
wait_udp 3480 127.0.0.1 || die "turnutils_peer did not start"
if [[ " $TESTS " == *" pair "* ]]; then
    ip netns exec "$NS" turnutils_peer -L 127.0.0.2 -p 3480 > "$OUTDIR/peer2.log" 2>&1 &
    PEER2_PID=$!
    wait_udp 3480 127.0.0.2 || die "the second turnutils_peer did not start"
fi

# Each load runs REPS times per server on a fresh server, the servers taking
# turns (coturn, causeway, causeway, coturn, ...): the host is shared, and
# whatever else runs on it then weighs on both alike.
each_rep() { # test reps: runs "run_<test> <test>-r<rep>" for every rep and server
    local t=$1 reps=$2 rep order
    for rep in $(seq 1 "$reps"); do
        order=$SERVERS
        [ $((rep % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
        for SNAME in $order; do
            start_server "$t-r$rep"
            "run_$t" "$t-r$rep" || note "$SNAME $t-r$rep failed"
            stop_server
        done
    done
}
run_chan() { run_uclient "$1" 1 "$SAT_N" "$SAT_M"; }
run_send() { run_uclient "$1" 1 "$SAT_N" "$SAT_M" -s; }
run_paced() { run_uclient "$1" 20 "$PACED_N" "$PACED_M"; }

# rttwarm: the rtt test with a SCHED_IDLE spinner on every CPU, so that no
# vCPU halts while the servers wait for packets. A halted vCPU of a VM wakes
# only when the hypervisor schedules it again, which takes milliseconds on a
# busy host; the server that keeps the vCPUs busier (coturn spends more CPU
# per packet) then has the shorter tails. With the spinners, which yield to
# any real work at once, the tails are the servers' own.
run_rttwarm() { run_rtt "$@"; }
warm_start() {
    local c
    for c in $(seq 0 $((NCPU - 1))); do
        taskset -c "$c" chrt --idle 0 sh -c 'while :; do :; done' &
        WARM_PIDS="$WARM_PIDS $!"
    done
    note "rttwarm: SCHED_IDLE spinners on $NCPU CPUs (pids$WARM_PIDS)"
}
warm_stop() { for p in $WARM_PIDS; do stop_pid "$p"; done; WARM_PIDS=""; }

T_START=$(date +%s)
causeway_conf
causeway_conf 127.0.0.2 "$OUTDIR/edge-pair.conf"
for t in $TESTS; do
    case $t in
        alloc) for SNAME in $SERVERS; do bench_alloc; done ;;
        chan|send|paced) each_rep "$t" "$REPS" ;;
        rtt) each_rep rtt "$RTT_REPS" ;;
        rttwarm) warm_start; each_rep rttwarm "$RTT_REPS"; warm_stop ;;
        pair) for rep in $(seq 1 "$PAIR_REPS"); do run_pair "pair-r$rep"; done
              SNAME=ratio; summarize pair p99_ratio ;;
        *) die "unknown test $t (alloc chan send paced rtt rttwarm pair)" ;;
    esac
    for SNAME in $SERVERS; do
        case $t in
            chan|send|paced) summarize "$t" pkts_per_cpu_s loss_pct srv_cpu_s relay_pps rtt_avg_ms other_load_pct ;;
            rtt) summarize rtt rtt_p50_us rtt_p90_us rtt_p99_us rtt_p999_us rtt_max_us loss_pct srv_cpu_s \
                     pkts_per_cpu_s other_load_pct ;;
            rttwarm) QUIET_MAX=100 summarize rttwarm rtt_p50_us rtt_p90_us rtt_p99_us rtt_max_us loss_pct \
                         pkts_per_cpu_s ;;   # the spinners are the "other load" here
            pair) summarize pair rtt_p50_us rtt_p90_us rtt_p99_us rtt_max_us loss_pct srv_cpu_s ;;
        esac
    done
done
grep -h -E ' (error|crit|fatal) ' "$OUTDIR"/causeway-*.out 2>/dev/null | head -5 > "$OUTDIR/causeway-errors.txt"
[ -s "$OUTDIR/causeway-errors.txt" ] && note "causeway error lines: $(cat "$OUTDIR/causeway-errors.txt")"
SNAME=""
note "total time $(( $(date +%s) - T_START )) s"

# ---- report -----------------------------------------------------------------
row() { # label key better(high|low|info)
    local a b
    a=$(get causeway "$2"); b=$(get coturn "$2")
    printf '%-38s %14s %14s %8s  %s\n' "$1" "$b" "$a" "$(ratio "$a" "$b")" "$3"
}
{
echo
printf '%-38s %14s %14s %8s  %s\n' "TURN benchmark (loopback netns)" coturn causeway "cw/co" "better"
row "pkts/CPU-s ChannelData, saturation" chan.pkts_per_cpu_s "higher"
row "  loss % (uclient)" chan.loss_pct "lower"
row "  relayed pkt/s (wall)" chan.relay_pps "info"
row "  server CPU s" chan.srv_cpu_s "info"
row "  host load by others %" chan.other_load_pct "info"
row "  runs in the median (quiet/all)" chan.runs_used "info"
row "pkts/CPU-s Send/Data, saturation" send.pkts_per_cpu_s "higher"
row "  loss %" send.loss_pct "lower"
row "  runs in the median (quiet/all)" send.runs_used "info"
row "pkts/CPU-s paced (-z 20, ${PACED_M} clients)" paced.pkts_per_cpu_s "higher"
row "  loss %" paced.loss_pct "lower"
row "  uclient avg RTT ms" paced.rtt_avg_ms "lower"
row "  runs in the median (quiet/all)" paced.runs_used "info"
echo "relay round trips: turnload, ${RTT_M} allocations x ${RTT_RATE} pkt/s (both at once: ${PAIR_M} each)"
row "RTT p50 us, vCPUs kept awake" rttwarm.rtt_p50_us "lower"
row "RTT p90 us, vCPUs kept awake" rttwarm.rtt_p90_us "lower"
row "RTT p99 us, vCPUs kept awake" rttwarm.rtt_p99_us "lower"
row "  loss %" rttwarm.loss_pct "lower"
row "RTT p50 us, idle vCPUs may halt" rtt.rtt_p50_us "lower"
row "RTT p90 us, idle vCPUs may halt" rtt.rtt_p90_us "lower"
row "RTT p99 us, idle vCPUs may halt" rtt.rtt_p99_us "lower"
row "RTT max us" rtt.rtt_max_us "lower"
row "  loss %" rtt.loss_pct "lower"
row "  pkts/CPU-s in these runs" rtt.pkts_per_cpu_s "higher"
row "  host load by others %" rtt.other_load_pct "info"
row "  runs in the median (quiet/all)" rtt.runs_used "info"
row "RTT p50 us, both at once" pair.rtt_p50_us "lower"
row "RTT p90 us, both at once" pair.rtt_p90_us "lower"
row "RTT p99 us, both at once" pair.rtt_p99_us "lower"
row "  loss %" pair.loss_pct "lower"
echo "  median of the runs' p99 ratios (causeway/coturn, same run): $(get ratio pair.p99_ratio)  [$(get ratio pair.p99_ratio.all)]"
row "allocations ok of $ALLOC_N (${ALLOC_R1} R=1)" alloc.ok "higher"
row "  R=1 allocations ok" alloc.r1_ok "info"
row "  508 answers (incl. retried)" alloc.answers_508 "lower"
row "  alive after hold" alloc.alive_after_hold "higher"
row "  relay sockets seen (ss)" alloc.relay_socks "info"
row "RSS with the allocations, kB" alloc.rss_kb "lower"
row "  RSS before, kB" alloc.rss0_kb "info"
row "  RSS delta, kB" alloc.rss_delta_kb "lower"
row "  setup CPU s" alloc.setup_cpu_s "lower"
row "  setup rate, allocations/s" alloc.rate "higher"
row "  server log lines (alloc test)" alloc.log_lines "info"
for s in coturn causeway; do
    e=$(get $s alloc.errors); [ "$e" != na ] && [ -n "$e" ] && echo "  $s allocation errors (final): $e"
    grep -q "^$s	crash_" "$RES" && echo "  $s CRASHED: $(grep "^$s	crash_" "$RES" | cut -f2,3 | tr '\n' ' ')"
done
echo "  per-run pkts/CPU-s: chan coturn [$(get coturn chan.pkts_per_cpu_s.all)] causeway [$(get causeway chan.pkts_per_cpu_s.all)]"
echo "                      send coturn [$(get coturn send.pkts_per_cpu_s.all)] causeway [$(get causeway send.pkts_per_cpu_s.all)]"
echo "                      paced coturn [$(get coturn paced.pkts_per_cpu_s.all)] causeway [$(get causeway paced.pkts_per_cpu_s.all)]"
echo "                      rtt coturn [$(get coturn rtt.pkts_per_cpu_s.all)] causeway [$(get causeway rtt.pkts_per_cpu_s.all)]"
echo "  per-run RTT p50 us: coturn [$(get coturn rtt.rtt_p50_us.all)] causeway [$(get causeway rtt.rtt_p50_us.all)]"
echo "  per-run RTT p99 us: coturn [$(get coturn rtt.rtt_p99_us.all)] causeway [$(get causeway rtt.rtt_p99_us.all)]"
echo "  per-run RTT p99 us, vCPUs kept awake: coturn [$(get coturn rttwarm.rtt_p99_us.all)] causeway [$(get causeway rttwarm.rtt_p99_us.all)]"
echo "  per-run RTT p99 us, both at once: coturn [$(get coturn pair.rtt_p99_us.all)] causeway [$(get causeway pair.rtt_p99_us.all)]"
echo "  per-run host load by others %: rtt coturn [$(get coturn rtt.other_load_pct.all)] causeway [$(get causeway rtt.other_load_pct.all)]"
echo "  medians use the reps in which every server's run had host load by others <= ${QUIET_MAX}% (all reps when none had)"
echo "  raw data: $OUTDIR"
echo
# The issue's targets.
verdict() { awk -v what="$1" -v v="$2" -v t="$3" -v op="$4" 'BEGIN { if (v == "na") r = "n/a";
    else r = ((op == ">=" && v + 0 >= t) || (op == "<=" && v + 0 <= t)) ? "met" : "NOT met";
    printf "  target: %s (%s %s %s): %s\n", what, v, op, t, r }'; }
verdict "pkts/CPU-s ChannelData >= 1.5x coturn" "$(ratio "$(get causeway chan.pkts_per_cpu_s)" "$(get coturn chan.pkts_per_cpu_s)")" 1.5 ">="
verdict "RTT p99 no worse than coturn, one after the other, vCPUs kept awake" "$(ratio "$(get causeway rttwarm.rtt_p99_us)" "$(get coturn rttwarm.rtt_p99_us)")" 1.0 "<="
verdict "RTT p99 no worse than coturn, both at once (median run ratio)" "$(get ratio pair.p99_ratio)" 1.0 "<="
verdict "all $ALLOC_N allocations" "$(get causeway alloc.ok)" "$ALLOC_N" ">="
verdict "RSS with them under 32 MiB (kB)" "$(get causeway alloc.rss_kb)" 32768 "<="
echo
}
line() { # metric key
    local a b
    a=$(get causeway "$2"); b=$(get coturn "$2")
    echo "bench turn: $1 causeway=$a coturn=$b ratio=$(ratio "$a" "$b")"
}
line rtt_p50_us rttwarm.rtt_p50_us
line rtt_p99_us rttwarm.rtt_p99_us
line rtt_p99_us_idle_vcpus rtt.rtt_p99_us
# Both at once: the p99s of the run whose causeway/coturn ratio is the
# median of all runs (the lower middle one for an even count).
mid=$(for f in "$OUTDIR"/raw/ratio-pair-r*.sum; do [ -e "$f" ] && echo "$(kv p99_ratio "$f") $f"; done |
      grep -v '^na ' | sort -g | awk '{v[NR] = $2} END {if (NR) print v[int((NR + 1) / 2)]}')
if [ -n "$mid" ]; then
    mid=$(basename "$mid" .sum); mid=${mid#ratio-}
    a=$(kv rtt_p99_us "$OUTDIR/raw/causeway-$mid.txt"); b=$(kv rtt_p99_us "$OUTDIR/raw/coturn-$mid.txt")
    echo "bench turn: rtt_p99_us_same_run causeway=$a coturn=$b ratio=$(ratio "$a" "$b")"
else
    echo "bench turn: rtt_p99_us_same_run causeway=na coturn=na ratio=na"
fi
line rss_6000_allocs_kb alloc.rss_kb
line allocs_ok_of_6000 alloc.ok
line pkts_per_cpu_s_send send.pkts_per_cpu_s
line pkts_per_cpu_s_paced paced.pkts_per_cpu_s
line pkts_per_cpu_s chan.pkts_per_cpu_s
