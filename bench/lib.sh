# lib.sh - what the benchmarks share (sourced by every bench/*.sh, bash): a
# work directory, processes started and stopped by PID, ports, CPU time,
# medians and ratios, pairing a core with the edge, a Prosody to compare with.
# The sourcing script sets BENCH (its name in messages) first.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$TOP/build/bin
W=$(mktemp -d "${TMPDIR:-/tmp}/causeway-bench-$BENCH.XXXXXX")
PIDS=""

die() { echo "bench $BENCH: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
stop_pid() { # PID: TERM, then KILL after 3 s
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    local p
    for p in $PIDS; do stop_pid "$p"; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# bg LOG CMD...: starts CMD, stopped at exit; its PID in LAST.
bg() { local log=$1; shift; "$@" > "$log" 2>&1 & PIDS="$PIDS $!"; LAST=$!; }
wait_port() { # ADDR:PORT, listening within 10 s
    for _ in $(seq 1 100); do ss -tlnH | awk '{print $4}' | grep -qx "$1" && return 0; sleep 0.1; done
    return 1
}
# utime + stime of the processes, in clock ticks (all their threads).
cpu_ticks() {
    local p t=0 v
    for p in "$@"; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
median() { grep -E '^[0-9.]+$' | sort -g |
    awk '{v[NR] = $1} END {if (!NR) print "na"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "na" || b == "na" || a == "" || b == "" || b + 0 == 0) print "na"; else printf "%.2f", a / b }'; }

# pair_core EDGE_CONF CORE_CONF: the two pairing steps an administrator
# takes (tunnel pair on the core, tunnel trust on the edge); sets HOST_KEY
# and TUNNEL_USER, what the core's [tunnel] sections pin and log in as.
pair_core() {
    "$BIN/causeway" -c "$2" tunnel pair > "$W/pair.txt" || die "tunnel pair failed"
    eval "'$BIN/causeway' -c '$1' tunnel trust $(sed -n 's/^  causeway tunnel trust //p' "$W/pair.txt")" \
        > "$W/trust.txt" || die "tunnel trust failed"
    HOST_KEY=$(sed -n 's/^  host-key = //p' "$W/trust.txt")
    TUNNEL_USER=$(sed -n 's/^  user = //p' "$W/trust.txt")
}

# xmpp_bench_setup PORT...: what the XMPP benchmarks run (Prosody, Debian's
# Python, the daemons and the CLI) is there and the ports are free; sets
# HZ, LOAD (the load generator) and PY; copies the daemons to $W/bin (BIN:
# a user other than root can run them there) and makes a certificate for
# bench.test ($W/cert.pem, $W/key.pem).
xmpp_bench_setup() {
    local t p
    HZ=$(getconf CLK_TCK)
    LOAD=$TOP/tests/tools/xmpp_load.py
    PY=/usr/bin/python3
    for t in prosody prosodyctl openssl "$PY" "$BIN/causeway-core" "$BIN/causeway"; do
        command -v "$t" > /dev/null || die "missing $t (make deps; make build)"
    done
    for p in "$@"; do
        ss -tlnH | awk '{print $4}' | grep -q ":$p\$" && die "port $p is in use (set CW_PORT/PROSODY_PORT)"
    done
    mkdir -p "$W/bin" && cp "$BIN/causeway-core" "$BIN/causeway" "$W/bin/" || die "cannot copy the binaries"
    BIN=$W/bin
    chmod 755 "$W"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench.test" \
        -addext "subjectAltName=DNS:bench.test" -keyout "$W/key.pem" -out "$W/cert.pem" 2> /dev/null ||
        die "openssl failed"
}

# prosody_setup PORT: a Prosody for bench.test in $W/prosody, clients on
# 127.0.0.1:PORT with TLS required ($W/cert.pem, key.pem): one process, the
# modules a client's login, roster and chat use, no offline storage, no s2s.
# As root its files go to the prosody user, and as_prosody is what runs
# prosody as that user (else empty).
prosody_setup() {
    mkdir -p "$W/prosody/data"
    cp "$W/cert.pem" "$W/key.pem" "$W/prosody/"
    cat > "$W/prosody/prosody.cfg.lua" << CONF
pidfile = "$W/prosody/prosody.pid"
data_path = "$W/prosody/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $1 }
s2s_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix" }
modules_disabled = { "offline"; "s2s" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
log = { warn = "$W/prosody/prosody.log" }
VirtualHost "bench.test"
  ssl = { certificate = "$W/prosody/cert.pem"; key = "$W/prosody/key.pem"; }
CONF
    as_prosody=""
    if [ "$(id -u)" = 0 ]; then
        chown -R prosody:prosody "$W/prosody"
        as_prosody="setpriv --reuid=prosody --regid=prosody --init-groups"
    fi
}
