#!/usr/bin/env bash
# tunnel_core.sh - causeway-core's SSH tunnels (libssh2) to causeway-edge's
# supervised OpenSSH sshd, end to end: pairing with the CLI, traffic both
# ways through remote forwards (hundreds of connections, large transfers
# checksummed, half-close), the guest account client URI resolved in an
# inside DNS (dnsmasq) with failover, refusals (host key, unpaired key,
# unpermitted port), and recovery after sshd's session process is killed,
# the whole sshd is killed, and sshd is stopped (SIGSTOP).
#
# Namespaces: the edge ($NS_E, sshd on $E4:2222) and the inside ($NS_O: the
# core, its DNS on 127.0.0.1:5353, the targets on 127.0.0.1). Clients of the
# forwards run on the edge, on its loopback, where the web proxy will be.
. "$(dirname "$0")/lib.sh"
need_root
command -v dnsmasq > /dev/null || { notok "dnsmasq is not installed (make deps)"; exit 1; }
net_setup

PEER=$TOP/tests/tools/tunnel_peer.py
ST=$WORK/edge-tunnel
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
permit-listen = 127.0.0.1:18445
permit-listen = 127.0.0.1:18446
permit-listen = 127.0.0.1:18448
permit-listen = 127.0.0.1:18449
CONF
sed -i 's/^\[turn\]$/[turn]\nenabled = no/' "$WORK/edge.conf"
# Pairing may come before the edge's first start (no state directory yet).
sed "s|^state-dir = .*|state-dir = $WORK/fresh-edge|" "$WORK/edge.conf" > "$WORK/fresh-edge.conf"
ssh-keygen -q -t ed25519 -N '' -C early -f "$WORK/early" || notok "ssh-keygen"
check "tunnel trust before the edge's first start trusts the core and says the host key comes later" \
    sh -c "'$BIN/causeway' -c '$WORK/fresh-edge.conf' tunnel trust early \"\$(cat '$WORK/early.pub')\" | grep -q 'the edge has no host key yet' &&
           grep -q 'causeway-core:early\$' '$WORK/fresh-edge/authorized_keys'"
start_edge "$WORK/edge.conf"

# core_conf NAME: $WORK/NAME.conf, [core] and [dns] of core NAME, then stdin.
core_conf() {
    { cat <<CONF
$(core_section $1 $1)
[dns]
server = 127.0.0.1:5353
timeout = 300
CONF
      cat; } > "$WORK/$1.conf"
}
# tunnel_section GUEST_URI WEBBRIDGE_PORT EDGE_PORT: a [tunnel] to this edge, no pin.
tunnel_section() {
    printf '[tunnel]\nedge = %s\nuser = root\nguest-uri = %s\nwebbridge-port = %s\nwebbridge-tls = no\nedge-port = %s\n' \
        "$E4" "$1" "$2" "$3"
}
cwc() { local c=$1; shift; "$BIN/causeway" -c "$WORK/$c.conf" "$@"; }
start_core() {
    bg "$NS_O" "$WORK/$1.out" "$BIN/causeway-core" -c "$WORK/$1.conf"
    eval "PID_$1=$BGPID"
    for _ in $(seq 1 50); do cwc "$1" version > /dev/null 2>&1 && return 0; sleep 0.1; done
    notok "causeway-core $1 started"; cat "$WORK/$1.out" "$WORK/$1.log"
}
stop_core() {
    local p; p=$(eval echo "\$PID_$1")
    kill -TERM "$p"
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    wait "$p"
}
# wait_status CORE ERE SECONDS: until `tunnel status` of CORE matches.
wait_status() {
    for _ in $(seq 1 $(($3 * 5))); do
        cwc "$1" tunnel status 2>&1 | grep -Eq -- "$2" && return 0
        sleep 0.2
    done
    cwc "$1" tunnel status > "$WORK/status-$1-last.txt" 2>&1
    return 1
}
# row CORE DOMAIN: the status table's row of that tunnel.
row() { cwc "$1" tunnel status | grep -E "^$E4:2222 +$2 "; }
# ere TEXT: TEXT as an extended regular expression matching itself.
ere() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|/]/\\&/g'; }
# since_start CORE ERE: how many lines of CORE's log since its last start match.
since_start() { awk '/notice core: causeway-core .* started/ {n = 0} $0 ~ re {n++} END {print n + 0}' re="$2" "$WORK/$1.log"; }
peer_on_edge() {
    local rc
    in_e timeout 60 /usr/bin/python3 "$PEER" "$@"
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "tunnel_peer.py $* exited with status $rc; the core's status:"
        cwc core1 tunnel status
        echo "connections on the edge:"; in_e ss -tnH state established | grep -c 18443
    fi
    return "$rc"
}
session_pids() { pgrep -f "^sshd: root@notty" | while read -r p; do
    [ "$(ip netns identify "$p" 2>/dev/null)" = "$NS_E" ] && echo "$p"; done; }
sshd_master() { sed -n 's/.*sshd started (pid \([0-9]*\),.*/\1/p' "$WORK/edge.log" | tail -n 1; }

# ---- configuration errors name the file, the line and the fix ----------------------
# bad_conf WHAT ERE: core.conf of stdin is refused by causeway-core -t with ERE.
bad_conf() {
    local what=$1 re=$2
    cat > "$WORK/bad.conf"
    check "config: $what" sh -c "! '$BIN/causeway-core' -t -c '$WORK/bad.conf' > '$WORK/bad.out' 2>&1 && grep -Eq -- '$re' '$WORK/bad.out'"
}
printf '[tunnel]\nedge = %s\nhost-key = SHA256:short\n' "$E4" |
    bad_conf "a host-key that is not a fingerprint" 'bad.conf:3: host-key "SHA256:short" is not a SHA256:... fingerprint'
printf '[tunnel]\nedge = %s\nguest-uri = web.inside.test\n' "$E4" |
    bad_conf "a tunnel without edge-port" 'bad.conf: \[tunnel\] number 1 needs edge-port'
printf '[tunnel]\nedge = %s\nguest-uri = a.test\nedge-port = 1\n[tunnel]\nedge = %s:2222\nguest-uri = b.test\nedge-port = 1\n' "$E4" "$E4" |
    bad_conf "two tunnels asking one edge for the same port" 'number 2 asks the same edge for the same edge-port 1 as number 1'
printf '[core]\nnmae = x\n' | bad_conf "an unknown key" 'bad.conf:2: unknown key "nmae" in \[core\]'
printf '[dns]\nserver = dns.example\n' | bad_conf "a DNS server that is not an address" 'bad.conf:2: '

# ---- the inside: DNS and targets ------------------------------------------------
bg "$NS_O" "$WORK/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=127.0.0.1 --bind-interfaces --port=5353 --local=/inside.test/ \
    --host-record=web.inside.test,127.0.0.1,::1 --local-ttl=30 --log-facility=-
bg "$NS_O" "$WORK/peer.log" /usr/bin/python3 "$PEER" serve 127.0.0.1 18090
bg "$NS_O" "$WORK/iperf.log" iperf3 -s -B 127.0.0.1 -p 18092
mkdir -p "$WORK/www" && echo "through the core's tunnel" > "$WORK/www/hello.txt"
bg "$NS_O" "$WORK/www.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" 18080
WWW_PID=$BGPID

# ---- pairing -------------------------------------------------------------------
# Four tunnels from one core: the guest account client URI in the inside
# DNS, an address literal, a name the DNS does not know, and iperf3's port.
{ tunnel_section web.inside.test 18090 18443; tunnel_section 127.0.0.1 18080 18445
  tunnel_section missing.inside.test 18090 18446; tunnel_section 127.0.0.1 18092 18448; } |
    core_conf core1
cwc core1 tunnel pair > "$WORK/pair.txt" 2>&1
check "tunnel pair makes an ed25519 key and prints the trust command" \
    grep -q "^  causeway tunnel trust core1 'ssh-ed25519 [A-Za-z0-9+/=]* causeway-core:core1'$" "$WORK/pair.txt"
check "the core's key is private (0600) in a private directory (0700)" \
    test "$(stat -c %a "$WORK/core1-state")/$(stat -c %a "$WORK/core1-state/tunnel_ed25519")" = 700/600
cmd=$(sed -n 's/^  causeway tunnel trust //p' "$WORK/pair.txt")
eval "cw tunnel trust $cmd" > "$WORK/trust.txt" 2>&1
hk=$(sed -n 's/^  host-key = //p' "$WORK/trust.txt")
check "tunnel trust on the edge prints the host key to pin, as ssh-keygen -l" \
    test "$hk" = "$(ssh-keygen -lf "$ST/ssh_host_ed25519_key.pub" | awk '{print $2}')"

# Before a pin, and with a wrong pin: the core must not go on.
start_core core1
check "no host-key pinned yet: Failed, says to pair" \
    wait_status core1 "Failed: no host-key in this \[tunnel\]: pair first" 5
stop_core core1
wrong=$(ssh-keygen -q -t ed25519 -N '' -f "$WORK/other" && ssh-keygen -lf "$WORK/other.pub" | awk '{print $2}')
sed -i "s|^user = root$|user = root\nhost-key = $wrong|" "$WORK/core1.conf"
mv "$WORK/core1.log" "$WORK/core1-nopin.log"
start_core core1
check "a wrong host key pin: Failed, in plain words" \
    wait_status core1 "Failed: host key mismatch: the edge at $E4:2222 presented $(ere "$hk") but core.conf pins $(ere "$wrong")" 10
since1=$(row core1 web.inside.test | awk '{print $4}')
check "host key mismatch logged once per tunnel, not per retry" \
    test "$(sleep 3; since_start core1 'error tunnel: .*host key mismatch')" = 4
check "retrying keeps the tunnel Failed since the first failure" \
    test "$(row core1 web.inside.test | awk '{print $3 " " $4}')" = "Failed $since1"
check "an edge command given a core.conf says where to run it" \
    sh -c "'$BIN/causeway' -c '$WORK/core1.conf' tunnel trust x y > '$WORK/edgecmd.out' 2>&1;
           [ \$? = 2 ] && grep -q 'is an edge command: run it on the edge' '$WORK/edgecmd.out'"
check "the core never authenticated to the wrong-key edge" sh -c "! grep -q 'Accepted publickey' '$WORK/edge.log'"
stop_core core1

sed -i "s|^host-key = .*|host-key = $hk|" "$WORK/core1.conf"
start_core core1
check "with the right pin the tunnels are Active" wait_status core1 "^$E4:2222 +web.inside.test +Active" 15
check "several tunnels at once: the address-literal tunnel is Active too" \
    wait_status core1 "^$E4:2222 +127.0.0.1 +Active" 5
check "status shows the guest account client URI's targets" \
    wait_status core1 "Guest account client URI web.inside.test resolved to the following targets:" 5
cwc core1 tunnel status > "$WORK/status-active.txt"
check "both DNS answers (AAAA and A) are targets" \
    sh -c "grep -q '^    \[::1\]:18090' '$WORK/status-active.txt' && grep -q '^    127.0.0.1:18090' '$WORK/status-active.txt'"
check "the log names the resolved targets" \
    grep -q 'notice tunnel: guest account client URI web.inside.test resolved to the following targets: \[::1\]:18090, 127.0.0.1:18090' "$WORK/core1.log"

# ---- traffic ---------------------------------------------------------------------
check "HTTP through the tunnel to a web server inside (curl)" \
    sh -c "ip netns exec $NS_E curl -s --max-time 5 http://127.0.0.1:18445/hello.txt | grep -q \"through the core's tunnel\""
check "failover: [::1] refuses, 127.0.0.1 answers; 300 concurrent connections echo intact" \
    peer_on_edge echo 127.0.0.1 18443 300 20000
check "status names the failed address" \
    grep -q "Last target failure.*cannot connect to \[::1\]:18090 (web.inside.test): connection refused" \
    <(cwc core1 tunnel status)
check "64 MB upload through the tunnel, checksummed (half-close passed on)" \
    peer_on_edge sink 127.0.0.1 18443 64
check "64 MB download through the tunnel, checksummed" peer_on_edge source 127.0.0.1 18443 64
check "the transfers ran on the batched AES-CTR keystream (libssh2 1.10)" \
    grep -Eq 'notice core: libssh2 1\.10\.[0-9]+: AES-CTR keystream made in batches' "$WORK/core1.log"
# Back-pressure: a reader that stalls holds the sender back, nothing is lost.
check "a guest that reads nothing for 3 s: 16 MB download intact" \
    peer_on_edge source 127.0.0.1 18443 16 3
check "a target that reads nothing for 3 s: 16 MB upload intact" \
    peer_on_edge sink 127.0.0.1 18443 16 3
# Sustained bulk both ways: libssh2 reads the socket inside writes, and the
# liveness check must still see the edge's packets. (iperf3's server takes
# one test at a time and may still be ending the last: "server is busy".)
check "iperf3 for 5 s each way through the tunnel; the tunnel stays up" \
    sh -c "wait_iperf() { for i in 1 2 3; do ip netns exec $NS_E iperf3 -c 127.0.0.1 -p 18448 -t 5 \$1 \
               > /dev/null && return 0; sleep 1; done; return 1; };
           wait_iperf '' && wait_iperf -R && ! grep -q 'stopped answering' '$WORK/core1.log'"
check "forwarded connections are closed after use" wait_status core1 "connections: 0 open, 3[0-9][0-9] accepted" 10

# ---- faults ------------------------------------------------------------------------
check "a name the inside DNS does not know is a fault in status" \
    wait_status core1 "Fault: guest account client URI missing.inside.test does not resolve in the inside DNS: name does not exist" 5
check "... and one clear log line" \
    test "$(since_start core1 'error tunnel: guest account client URI missing.inside.test does not resolve')" = 1
# curl's exit status tells who ended the connection: 52 (empty reply) or 56
# (reset) when the far end closed it, 28 when curl gave up waiting.
in_e curl -s --max-time 10 http://127.0.0.1:18446/ > /dev/null 2>&1
rc=$?
check "a connection for the unresolvable name is closed by the tunnel, not left open (curl exit $rc)" \
    sh -c "[ $rc = 52 ] || [ $rc = 56 ]"
kill -TERM "$WWW_PID"; wait "$WWW_PID" 2>/dev/null; unlist "$WWW_PID"
in_e curl -s --max-time 10 http://127.0.0.1:18445/hello.txt > /dev/null 2>&1
rc=$?
check "inside target down: the forwarded connection is closed, not left open (curl exit $rc)" \
    sh -c "[ $rc = 52 ] || [ $rc = 56 ]"
check "... and status says why" \
    grep -q "Last target failure.*cannot connect to 127.0.0.1:18080 (127.0.0.1): connection refused" \
    <(cwc core1 tunnel status)

# ---- refusals by the edge ----------------------------------------------------------
# one_tunnel_core NAME EDGE_PORT PAIRED [KEYS]: core NAME with one tunnel to the
# echo server through EDGE_PORT (and KEYS, more [tunnel] lines), with core1's
# paired key when PAIRED is yes, else a key of its own; started.
one_tunnel_core() {
    { tunnel_section 127.0.0.1 18090 "$2"; printf 'host-key = %s\n%b' "$hk" "${4:-}"; } |
        core_conf "$1"
    if [ "$3" = yes ]; then
        mkdir -p "$WORK/$1-state" && cp "$WORK/core1-state/"tunnel_ed25519* "$WORK/$1-state/"
    fi
    start_core "$1"
}
one_tunnel_core stranger 18443 no
check "an unpaired core is refused, and told how to pair" \
    wait_status stranger "Failed: the edge at $E4:2222 refused this core's key for user \"root\" \(not paired\?" 10
stop_core stranger
one_tunnel_core core1b 18447 yes
check "a forward on a port the edge does not permit is refused by sshd" \
    wait_status core1b "Failed: the edge at $E4:2222 refused to listen on 127.0.0.1:18447" 10
stop_core core1b

# ---- max-connections: more wait on the edge, nothing is refused -------------------------
one_tunnel_core corelim 18449 yes 'max-connections = 2\n'
wait_status corelim "^$E4:2222 +127.0.0.1 +Active" 10 || notok "corelim Active"
in_e /usr/bin/python3 -c '
import socket
def conn():
    s = socket.create_connection(("127.0.0.1", 18449))
    s.sendall(b"ECHO\nx")
    return s
def echoed(s, t):
    s.settimeout(t)
    try:
        return s.recv(1) == b"x"
    except socket.timeout:
        return False
a, b, c = conn(), conn(), conn()
first = echoed(a, 5) and echoed(b, 5)
third_waits = not echoed(c, 1.5)
a.close()
third_later = echoed(c, 5)
print(first, third_waits, third_later)
' > "$WORK/limit.txt" 2>&1
check "max-connections 2: two connections run, a third waits until one ends" \
    grep -qx 'True True True' "$WORK/limit.txt"
check "... and the limit is logged" \
    grep -q 'warn tunnel: tunnel to .*: 2 forwarded connections, the max-connections limit' "$WORK/corelim.log"
stop_core corelim

# ---- the edge's sshd goes away, and comes back ----------------------------------------
# A long-lived forwarded connection, open while its tunnel goes.
in_e /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 18443))
s.sendall(b"ECHO\nping")
assert s.recv(4) == b"ping"
s.settimeout(15)
t = time.time()
print("ended" if s.recv(1) == b"" else "data", round(time.time() - t, 1))
' > "$WORK/longlived.txt" 2>&1 &
LL=$!
sleep 1
kill -KILL $(session_pids) 2>/dev/null
check "sshd's session processes killed: the core notices" \
    wait_line "$WORK/core1.log" "error tunnel: tunnel to $E4:2222 \(web.inside.test\) failed: the SSH connection to the edge" 5
wait "$LL"
check "an open forwarded connection ends cleanly when its tunnel goes" grep -q '^ended' "$WORK/longlived.txt"
check "... and the core is Active again by itself" wait_status core1 "^$E4:2222 +web.inside.test +Active" 20
check "traffic flows again" peer_on_edge echo 127.0.0.1 18443 20 1000

old=$(sshd_master)
kill -KILL "$old" $(session_pids)
check "the whole sshd killed: the edge starts a new one" \
    wait_line "$WORK/edge.log" "sshd started \(pid [0-9]*," 10
check "the tunnel is re-established to the new sshd" \
    wait_status core1 "^$E4:2222 +web.inside.test +Active" 40
check "traffic flows through the new sshd" peer_on_edge echo 127.0.0.1 18443 20 1000

stopped=$(session_pids)
kill -STOP $stopped
check "sshd stopped (SIGSTOP): the core sees the edge stopped answering within seconds" \
    wait_status core1 "Failed: the edge at $E4:2222 stopped answering" 12
kill -CONT $stopped
check "sshd continues: Active again by itself" wait_status core1 "^$E4:2222 +web.inside.test +Active" 40
check "traffic flows after the stop" peer_on_edge echo 127.0.0.1 18443 20 1000

# The core itself stalls (SIGSTOP, as a paused VM) for longer than its
# keepalive limit (4 s): that silence was its own, so the tunnel stays up.
answered() { grep -c 'stopped answering' "$WORK/core1.log"; }
BEFORE=$(answered)
kill -STOP "$PID_core1"
sleep 6
kill -CONT "$PID_core1"
check "the core stalled for 6 s: the time does not count as the edge's silence (logged)" \
    wait_line "$WORK/core1.log" "info tunnel: tunnel to $E4:2222: this process did not run for [0-9]+ ms; that time does not count as the edge's silence" 5
check "... the tunnel stays Active and traffic flows" sh -c "
    sleep 2; [ \$(grep -c 'stopped answering' '$WORK/core1.log') = $BEFORE ] &&
    '$BIN/causeway' -c '$WORK/core1.conf' tunnel status | grep -Eq '^$E4:2222 +web.inside.test +Active'"
check "... echo through it" peer_on_edge echo 127.0.0.1 18443 20 1000

stop_core core1
check "the core stops cleanly on SIGTERM" grep -q 'notice core: stopped' "$WORK/core1.log"
check "its forwards are gone from the edge" \
    sh -c "sleep 1; ! ip netns exec $NS_E ss -tlnH | grep -q '127.0.0.1:18443 '"
exit 0
