#!/usr/bin/env bash
# tunnel.sh - `make bench-tunnel`: one Causeway SSH tunnel (causeway-core,
# libssh2) against OpenSSH's `ssh -R`, both logged in with the same key to
# the same sshd (the one causeway-edge supervises), on this host's loopback.
#
# Bulk: iperf3 through each tunnel's remote forward, edge -> inside ("up",
# what guests send) and inside -> edge ("down", -R), REPS runs each,
# alternating the two clients; MB/s (median) and CPU-seconds per GB of the
# tunnel client (causeway-core, or the ssh process). Latency: tunping's
# small requests (SIZE bytes echoed) on one connection, direct to the echo
# server, through causeway, through ssh -R: p50 and p99.
#
# For reference, a third client: ssh -R held to the algorithms libssh2 1.10
# negotiates (aes128-ctr, hmac-sha2-256), "openssh_ctr" in the table: what
# is left of the gap once both use the same algorithms.
#
# Ends with "bench tunnel: <metric> causeway=<v> openssh=<v> ratio=<r>"
# lines, mb_per_s (the mean of up and down) last.
# Knobs: REPS (3), SECS (iperf3 seconds per run, 5), PINGS (2000), SIZE (200).
BENCH=tunnel
. "$(dirname "$0")/lib.sh"
TUNPING=$TOP/build/tests/tunping
REPS=${REPS:-3}
SECS=${SECS:-5}
PINGS=${PINGS:-2000}
SIZE=${SIZE:-200}
# Ports on 127.0.0.1: sshd, the forwards (causeway bulk/echo, ssh bulk/echo), the targets.
SSHD=17222 CB=17443 CE=17445 OB=17444 OE=17446 XB=17447 IPERF=17201 ECHO=17202

for t in iperf3 ssh ssh-keygen "$BIN/causeway-edge" "$BIN/causeway-core" "$TUNPING"; do
    command -v "$t" > /dev/null || die "missing $t (make deps; make build build/tests/tunping)"
done

# ---- the edge, the core, the targets --------------------------------------------
cat > "$W/edge.conf" <<CONF
[edge]
control-socket = $W/edge.sock
log-file = $W/edge.log
[turn]
enabled = no
[tunnel]
listen = 127.0.0.1:$SSHD
state-dir = $W/edge-tunnel
permit-listen = 127.0.0.1:$CB
permit-listen = 127.0.0.1:$CE
permit-listen = 127.0.0.1:$OB
permit-listen = 127.0.0.1:$OE
permit-listen = 127.0.0.1:$XB
CONF
cat > "$W/core.conf" <<CONF
[core]
name = bench
control-socket = $W/core.sock
log-file = $W/core.log
state-dir = $W/core-state
CONF
bg "$W/edge.out" "$BIN/causeway-edge" -c "$W/edge.conf"
wait_port "127.0.0.1:$SSHD" || die "the edge's sshd did not start (see $W/edge.log)"
pair_core "$W/edge.conf" "$W/core.conf"
hk=$HOST_KEY user=$TUNNEL_USER
for fw in "$CB $IPERF" "$CE $ECHO"; do
    set -- $fw
    printf '[tunnel]\nedge = 127.0.0.1:%s\nhost-key = %s\nuser = %s\nguest-uri = 127.0.0.1\nedge-port = %s\nwebbridge-port = %s\nwebbridge-tls = no\n' \
        "$SSHD" "$hk" "$user" "$1" "$2" >> "$W/core.conf"
done
bg "$W/iperf.log" iperf3 -s -B 127.0.0.1 -p "$IPERF"
bg "$W/echo.log" "$TUNPING" -s "$ECHO"
bg "$W/core.out" "$BIN/causeway-core" -c "$W/core.conf"
CORE=$LAST
echo "[127.0.0.1]:$SSHD $(cut -d' ' -f1,2 "$W/edge-tunnel/ssh_host_ed25519_key.pub")" > "$W/known_hosts"
bg "$W/ssh.log" ssh -F /dev/null -i "$W/core-state/tunnel_ed25519" -o IdentitiesOnly=yes \
    -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" -o ExitOnForwardFailure=yes \
    -p "$SSHD" -N -R "127.0.0.1:$OB:127.0.0.1:$IPERF" -R "127.0.0.1:$OE:127.0.0.1:$ECHO" "$user@127.0.0.1"
SSH=$LAST
bg "$W/ssh-ctr.log" ssh -F /dev/null -c aes128-ctr -m hmac-sha2-256 -i "$W/core-state/tunnel_ed25519" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" \
    -o ExitOnForwardFailure=yes -p "$SSHD" -N -R "127.0.0.1:$XB:127.0.0.1:$IPERF" "$user@127.0.0.1"
SSH_CTR=$LAST
for p in "$CB" "$CE" "$OB" "$OE" "$XB"; do wait_port "127.0.0.1:$p" || die "forward 127.0.0.1:$p not up (see $W)"; done
echo "bench tunnel: sshd $(sshd -V 2>&1 | head -n 1); causeway-core with $(dpkg-query -W -f='libssh2 ${Version}' libssh2-1 2>/dev/null)"

# ---- bulk ----------------------------------------------------------------------
# run_bulk WHO PORT PID DIR: one iperf3 run; appends "mbps cpu_s_per_gb" to $W/WHO-DIR.
run_bulk() {
    local who=$1 port=$2 pid=$3 dir=$4 c0 c1 bytes rev=""
    [ "$dir" = down ] && rev=-R
    c0=$(cpu_ticks "$pid")
    iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" $rev -J > "$W/iperf-$who-$dir.json" 2>&1 || { echo "0 0" >> "$W/$who-$dir"; return; }
    c1=$(cpu_ticks "$pid")
    bytes=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' "$W/iperf-$who-$dir.json")
    awk -v b="$bytes" -v s="$SECS" -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f %.2f\n", b / s / 1e6, (t / hz) / (b / 1e9)}' >> "$W/$who-$dir"
}
for r in $(seq 1 "$REPS"); do
    for dir in up down; do
        run_bulk causeway "$CB" "$CORE" "$dir"
        run_bulk openssh "$OB" "$SSH" "$dir"
        run_bulk openssh_ctr "$XB" "$SSH_CTR" "$dir"
    done
    echo "bench tunnel: bulk run $r/$REPS done"
done

# ---- latency -------------------------------------------------------------------
for who in direct:$ECHO causeway:$CE openssh:$OE; do
    "$TUNPING" 127.0.0.1 "${who#*:}" "$PINGS" "$SIZE" > "$W/ping-${who%%:*}" || die "tunping ${who%%:*} failed"
done
pval() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$W/ping-$1"; }

# ---- report --------------------------------------------------------------------
col() { awk -v c="$2" '{print $c}' "$W/$1" | median; }
printf '\n%-28s %12s %12s %8s\n' "" causeway openssh ratio
for dir in up down; do
    a=$(col causeway-$dir 1) b=$(col openssh-$dir 1)
    printf '%-28s %12s %12s %8s\n' "MB/s $dir" "$a" "$b" "$(ratio "$a" "$b")"
    a=$(col causeway-$dir 2) b=$(col openssh-$dir 2)
    printf '%-28s %12s %12s %8s\n' "CPU-s per GB $dir (client)" "$a" "$b" "$(ratio "$a" "$b")"
done
for dir in up down; do
    a=$(col causeway-$dir 1) b=$(col openssh_ctr-$dir 1)
    printf '%-28s %12s %12s %8s   (openssh_ctr: aes128-ctr, hmac-sha2-256)\n' "MB/s $dir, same algorithms" "$a" "$b" "$(ratio "$a" "$b")"
done
printf '%-28s %12s %12s %8s   (direct: %s)\n' "request p50 us ($SIZE B)" "$(pval causeway p50_us)" \
    "$(pval openssh p50_us)" "$(ratio "$(pval causeway p50_us)" "$(pval openssh p50_us)")" "$(pval direct p50_us)"
printf '%-28s %12s %12s %8s   (direct: %s)\n\n' "request p99 us ($SIZE B)" "$(pval causeway p99_us)" \
    "$(pval openssh p99_us)" "$(ratio "$(pval causeway p99_us)" "$(pval openssh p99_us)")" "$(pval direct p99_us)"

for dir in up down; do
    a=$(col causeway-$dir 2) b=$(col openssh-$dir 2)
    echo "bench tunnel: cpu_s_per_gb_$dir causeway=$a openssh=$b ratio=$(ratio "$a" "$b")"
done
for dir in up down; do
    a=$(col causeway-$dir 1) b=$(col openssh_ctr-$dir 1)
    echo "bench tunnel: mb_per_s_${dir}_same_algorithms causeway=$a openssh=$b ratio=$(ratio "$a" "$b")"
done
a=$(pval causeway p99_us) b=$(pval openssh p99_us)
echo "bench tunnel: request_p99_us causeway=$a openssh=$b ratio=$(ratio "$a" "$b")"
for dir in up down; do
    a=$(col causeway-$dir 1) b=$(col openssh-$dir 1)
    echo "bench tunnel: mb_per_s_$dir causeway=$a openssh=$b ratio=$(ratio "$a" "$b")"
done
a=$(awk -v u="$(col causeway-up 1)" -v d="$(col causeway-down 1)" 'BEGIN {printf "%.1f", (u + d) / 2}')
b=$(awk -v u="$(col openssh-up 1)" -v d="$(col openssh-down 1)" 'BEGIN {printf "%.1f", (u + d) / 2}')
echo "bench tunnel: mb_per_s causeway=$a openssh=$b ratio=$(ratio "$a" "$b")"
