# lib.sh - shared pieces of the integration tests (sourced, bash).
#
# Each test script prints TAP-like lines ("ok - what", "not ok - what",
# "skip - what: why") that tests/run.sh counts, and cleans up after itself:
# it stops only the processes it started, by PID, and deletes only the
# network namespaces it created.
#
# Network: two namespaces joined by a veth pair, addresses from 198.18.0.0/15
# (benchmarking, RFC 2544) and 2001:db8::/32 (documentation):
#   $NS_E  the edge      198.18.0.1/24   2001:db8::1/64
#   $NS_O  the outside   198.18.0.2/24 (clients)  198.18.0.3/24 (peers)
#                         2001:db8::2/64 2001:db8::3/64

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${CW_BIN:-$TOP/build/bin}   # CW_BIN: e.g. a sanitizer build of the daemons
TOOLS=$TOP/build/tests
TNAME=$(basename "$0" .sh)${TNAME_SUFFIX:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cw-$TNAME.XXXXXX")
NS_E=cwE$$
NS_O=cwO$$
PIDS=""
EDGE_PID=""
E4=198.18.0.1 C4=198.18.0.2 P4=198.18.0.3
E6=2001:db8::1 C6=2001:db8::2 P6=2001:db8::3
NFAIL=0

ok() { echo "ok - $TNAME: $*"; }
notok() { echo "not ok - $TNAME: $*"; NFAIL=$((NFAIL + 1)); }
skip() { echo "skip - $TNAME: $*"; }
check() { # check "what" command... : ok when the command succeeds
    local what=$1; shift
    if "$@" >> "$WORK/check.log" 2>&1; then ok "$what"; else notok "$what"; fi
}
note() { echo "# $*"; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        skip "needs root for network namespaces"
        exit 0
    fi
}

cleanup() {
    local p f
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    # With a sanitizer build (tests/run.sh uses one) any report fails the test.
    for f in "$WORK"/edge*.log "$WORK"/core*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f"; then
            notok "sanitizer report in $(basename "$f")"; grep -E -A5 'Sanitizer|runtime error' "$f" | head -30
        fi
    done
    ip netns del "$NS_E" 2>/dev/null
    ip netns del "$NS_O" 2>/dev/null
    if [ "$NFAIL" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_e() { ip netns exec "$NS_E" "$@"; }
in_o() { ip netns exec "$NS_O" "$@"; }

# bg NS LOG CMD...: start CMD in namespace NS; its PID (the command itself,
# since ip netns exec execs it) goes to BGPID and is stopped at exit.
bg() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" > "$log" 2>&1 &
    BGPID=$!
    PIDS="$PIDS $BGPID"
}

net_setup() {
    ip netns add "$NS_E" && ip netns add "$NS_O" || { notok "create namespaces"; exit 1; }
    ip link add cwe$$ netns "$NS_E" type veth peer name cwo$$ netns "$NS_O"
    in_e ip link set lo up
    in_o ip link set lo up
    in_e sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null
    in_o sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null
    in_e ip addr add $E4/24 dev cwe$$
    in_e ip -6 addr add $E6/64 dev cwe$$ nodad
    in_o ip addr add $C4/24 dev cwo$$
    in_o ip addr add $P4/24 dev cwo$$
    in_o ip -6 addr add $C6/64 dev cwo$$ nodad
    in_o ip -6 addr add $P6/64 dev cwo$$ nodad
    in_e ip link set cwe$$ up
    in_o ip link set cwo$$ up
    # Enough file descriptors for thousands of relay sockets.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
}

# A self-signed certificate for TLS listeners: $WORK/cert.pem, $WORK/key.pem
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=${1:-turn.example.test}" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
        > "$WORK/openssl.log" 2>&1
}

# edge_conf NAME: writes $WORK/NAME.conf: the common part (control socket,
# TURN on the edge's IPv4 address for listener and relays, realm
# example.org, the user database $WORK/users) and then stdin, whose keys
# add to it (listen and relay-address may repeat).
edge_conf() {
    { cat <<CONF
[edge]
control-socket = $WORK/edge.sock
log-level = info
[turn]
listen = $E4:3478
relay-address = $E4
realm = example.org
user-db = $WORK/users
CONF
      cat; } > "$WORK/$1.conf"
}

# start_edge CONF: runs causeway-edge in the edge namespace, waits for its
# control socket.
start_edge() {
    bg "$NS_E" "$WORK/edge.log" "$BIN/causeway-edge" -c "$1"
    EDGE_PID=$BGPID
    for _ in $(seq 1 50); do
        [ -S "$WORK/edge.sock" ] && "$BIN/causeway" -s "$WORK/edge.sock" version > /dev/null 2>&1 && return 0
        kill -0 "$EDGE_PID" 2>/dev/null || break
        sleep 0.1
    done
    notok "causeway-edge started"; cat "$WORK/edge.log"; exit 1
}

# stop_edge: stops the causeway-edge of start_edge (SIGTERM, then SIGKILL
# after 5 s) so that a test can start another with different limits. Its log
# is kept as $WORK/edge.PID.log; start_edge writes a fresh edge.log.
stop_edge() {
    local p=$EDGE_PID q rest=""
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    for q in $PIDS; do [ "$q" = "$p" ] || rest="$rest $q"; done
    PIDS=$rest
    EDGE_PID=""
    mv "$WORK/edge.log" "$WORK/edge.$p.log" 2>/dev/null
    rm -f "$WORK/edge.sock"
}

edge_alive() { kill -0 "$EDGE_PID" 2>/dev/null; }
# tcp_open NS ADDR PORT: a TCP connection from NS to ADDR:PORT succeeds within 3 s.
tcp_open() { ip netns exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }
# eventually SECONDS CMD...: CMD succeeds within SECONDS (tried every 0.2 s).
eventually() { local n=$1; shift; for _ in $(seq 1 $((n * 5))); do "$@" && return 0; sleep 0.2; done; return 1; }
# spki_of PEM: the base64 SHA-256 of the certificate's public key, what
# Chromium's --ignore-certificate-errors-spki-list takes (a browser that
# trusts exactly this certificate, as if a CA had signed it).
spki_of() {
    openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
}

# core_section NAME [BASE]: a core.conf's [core] section, for inside a
# heredoc as $(core_section NAME): its socket, log and state directory are
# $WORK/BASE.sock, BASE.log and BASE-state (BASE defaults to core).
core_section() {
    local b=${2:-core}
    printf '[core]\nname = %s\ncontrol-socket = %s\nlog-file = %s\nlog-level = info\nstate-dir = %s\n' \
        "$1" "$WORK/$b.sock" "$WORK/$b.log" "$WORK/$b-state"
}

# pair_core CORE_CONF EDGE_ADDR: pairs the core with the edge as an
# administrator does (tunnel pair on the core, tunnel trust on the edge) and
# adds host-key and user under the core's `edge = EDGE_ADDR` line.
pair_core() {
    local hk user
    "$BIN/causeway" -c "$1" tunnel pair > "$WORK/pair.txt" 2>&1
    eval "cw tunnel trust $(sed -n 's/^  causeway tunnel trust //p' "$WORK/pair.txt")" > "$WORK/trust.txt" 2>&1
    hk=$(sed -n 's/^  host-key = //p' "$WORK/trust.txt")
    user=$(sed -n 's/^  user = //p' "$WORK/trust.txt")
    sed -i "s|^edge = $2\$|edge = $2\nhost-key = $hk\nuser = ${user:-root}|" "$1"
}
cw() { "$BIN/causeway" -c "$WORK/edge.conf" -s "$WORK/edge.sock" "$@"; }

# Waits up to $1 seconds for a UDP port to be bound in a namespace.
wait_udp() {
    local ns=$1 port=$2
    for _ in $(seq 1 50); do
        ip netns exec "$ns" ss -ulnH | awk '{print $4}' | grep -q ":$port\$" && return 0
        sleep 0.1
    done
    return 1
}

# unlist PID: a process from bg ended (and was waited for): stop tracking it.
unlist() { PIDS=$(echo " $PIDS " | sed "s/ $1 / /; s/^ *//; s/ *\$//"); }

# wait_line FILE ERE SECONDS [PID]: waits until a line of FILE matches ERE.
# Fails after SECONDS, or as soon as PID (the process writing FILE) ended
# without writing it.
wait_line() {
    local f=$1 re=$2 n=$(($3 * 10)) pid=${4:-}
    for _ in $(seq 1 "$n"); do
        grep -Eq -- "$re" "$f" 2>/dev/null && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -Eq -- "$re" "$f" 2>/dev/null
            return
        fi
        sleep 0.1
    done
    return 1
}

# jq-free JSON checks: py EXPR FILE evaluates EXPR with d = the document.
py() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[2])); sys.exit(0 if ($1) else 1)" _ "$2"; }

# reload_waits CLI FILE DAEMON SETTING PARTS: `CLI reload` exits 0, says
# that SETTING (a grep pattern: `\[webproxy\] header-timeout`) is the one
# change of FILE waiting for a restart of DAEMON, and ends its summary of
# PARTS reloaded with "(the other changes wait for a restart)".
reload_waits() {
    local out="$WORK/reload-waits.out"
    "$1" reload > "$out" 2>&1 &&
    grep -qx "SIGHUP: 1 changed setting of $2 waits for a restart of $3: $4" "$out" &&
    grep -q "^SIGHUP: reloaded the log level, $5 from .* (the other changes wait for a restart)\$" "$out"
}

# has_fault CLI ID PYTHON-CONDITION-ON-f: `CLI faults json` (cw for the edge,
# a test's cwc for its core) lists fault ID (raised or cleared) and it
# satisfies the condition, e.g. "f['cleared'] is None and 'renew' in f['text']".
has_fault() {
    "$1" faults json > "$WORK/faults.json" 2>&1 &&
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if any(f['id'] == sys.argv[2] and ($3) for f in d['faults']['list']) else 1)" "$WORK/faults.json" "$2"
}
