#!/usr/bin/env bash
# tunnel_edge.sh - the edge's SSH tunnel endpoint with the real OpenSSH: the
# edge writes its own sshd_config, makes a host key, runs sshd, restarts it
# when it dies and stops it on shutdown. A core paired with `causeway tunnel
# trust` may hold remote forwards on the permitted loopback ports and do
# nothing else. The OpenSSH client in the other namespace stands in for the
# core (the core's own libssh2 client comes with causeway-core).
. "$(dirname "$0")/lib.sh"
need_root
net_setup

ST=$WORK/tunnel
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
CONF
start_edge "$WORK/edge.conf"

listening() { in_e ss -tlnH | awk '{print $4}' | grep -qx "$1"; }
wait_listen() { for _ in $(seq 1 50); do listening "$1" && return 0; sleep 0.1; done; return 1; }
sshd_pid() { sed -n 's/.*sshd started (pid \([0-9]*\),.*/\1/p' "$WORK/edge.log" | tail -n 1; }

check "sshd listens on $E4:2222" wait_listen "$E4:2222"
check "the edge logged the host key fingerprint" grep -q 'tunnel host key SHA256:' "$WORK/edge.log"
cw tunnel status > "$WORK/status.txt"
fp=$(ssh-keygen -lf "$ST/ssh_host_ed25519_key.pub" | awk '{print $2}')
check "tunnel status shows the host key as ssh-keygen -l does ($fp)" \
    grep -q "Host key: $fp" "$WORK/status.txt"
check "the state directory is private (0700), the host key 0600" \
    test "$(stat -c %a "$ST")/$(stat -c %a "$ST/ssh_host_ed25519_key")" = 700/600

# The core's key (ed25519), paired in one step.
ssh-keygen -q -t ed25519 -N '' -C core1 -f "$WORK/core1" || notok "ssh-keygen"
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$WORK/stranger" || notok "ssh-keygen"
cfp=$(ssh-keygen -lf "$WORK/core1.pub" | awk '{print $2}')
cw tunnel trust core1 "$(cat "$WORK/core1.pub")" > "$WORK/trust.txt" 2>&1
check "tunnel trust prints the core key's fingerprint" grep -q "core core1 trusted ($cfp)" "$WORK/trust.txt"
check "authorized_keys: only remote forwards on the permitted port" \
    grep -q '^restrict,port-forwarding,permitlisten="127.0.0.1:18443" ssh-ed25519 [^ ]* causeway-core:core1$' \
    "$ST/authorized_keys"
check "tunnel trust refuses an RSA key" sh -c "! '$BIN/causeway' -c '$WORK/edge.conf' tunnel trust x 'ssh-rsa AAAAB3NzaC1yc2E x' 2>/dev/null"
check "tunnel status lists core1" sh -c "'$BIN/causeway' -c '$WORK/edge.conf' -s '$WORK/edge.sock' tunnel status | grep -q 'core1 *$cfp'"

echo "[$E4]:2222 $(cut -d' ' -f1,2 "$ST/ssh_host_ed25519_key.pub")" > "$WORK/known_hosts"
# ssh_core KEY ARGS...: the OpenSSH client as a core would use it, host key pinned.
ssh_core() {
    local key=$1; shift
    in_o timeout 20 ssh -F /dev/null -i "$WORK/$key" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes \
        -o ExitOnForwardFailure=yes -o ConnectTimeout=5 -p 2222 "$@" "root@$E4"
}

# A web server on the core's side; the edge reaches it only through the tunnel.
mkdir -p "$WORK/www" && echo "through the tunnel" > "$WORK/www/hello.txt"
bg "$NS_O" "$WORK/www.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" 18080
bg "$NS_O" "$WORK/ssh-r.log" timeout 60 ssh -F /dev/null -i "$WORK/core1" -o IdentitiesOnly=yes \
    -o BatchMode=yes -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes \
    -o ExitOnForwardFailure=yes -p 2222 -N -R 127.0.0.1:18443:127.0.0.1:18080 "root@$E4"
check "the core's remote forward holds 127.0.0.1:18443 on the edge" wait_listen 127.0.0.1:18443
check "the edge reaches the core's web server through the tunnel" \
    sh -c "ip netns exec $NS_E curl -s --max-time 5 http://127.0.0.1:18443/hello.txt | grep -q 'through the tunnel'"

in_o timeout 20 ssh -F /dev/null -i "$WORK/core1" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$WORK/known_hosts" -p 2222 "root@$E4" cat /etc/hostname > "$WORK/exec.out" 2>&1
check "a command from the core is not run (forwarding only)" \
    sh -c "grep -q 'port forwarding only' '$WORK/exec.out' && ! grep -qx \"\$(cat /etc/hostname)\" '$WORK/exec.out'"
ssh_core core1 -N -R 127.0.0.1:18444:127.0.0.1:18080 > "$WORK/unlisted.out" 2>&1
rc=$?
check "a remote forward on an unlisted port is refused (the client is told)" \
    sh -c "[ $rc != 0 ] && grep -q 'remote port forwarding failed' '$WORK/unlisted.out'"
check "a direct channel (ssh -W) is refused" sh -c "! ip netns exec $NS_O timeout 10 ssh -F /dev/null -i '$WORK/core1' -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile='$WORK/known_hosts' -p 2222 -W 127.0.0.1:2222 root@$E4 < /dev/null > /dev/null 2>&1"
check "a key that was never paired is refused" sh -c "! ip netns exec $NS_O timeout 10 ssh -F /dev/null -i '$WORK/stranger' -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile='$WORK/known_hosts' -p 2222 -N root@$E4 2>/dev/null"
check "password logins are refused" sh -c "ip netns exec $NS_O timeout 10 ssh -F /dev/null -o PubkeyAuthentication=no -o BatchMode=yes -o UserKnownHostsFile='$WORK/known_hosts' -p 2222 root@$E4 true 2>&1 | grep -q 'Permission denied (publickey)'"
check "sshd's refusals are edge log lines (warn sshd: ...)" grep -q 'warn sshd: ' "$WORK/edge.log"

# sshd dies: the edge starts it again.
old=$(sshd_pid)
kill -KILL "$old"
check "the edge says sshd died and will be restarted" \
    wait_line "$WORK/edge.log" "sshd \\(pid $old\\) exited \\(killed by signal 9\\): restarting it in 1s" 5
check "a new sshd listens again" sh -c "sleep 1.5; for i in \$(seq 1 50); do ip netns exec $NS_E ss -tlnH | grep -q '$E4:2222' && exit 0; sleep 0.1; done; exit 1"
check "the new sshd has a new pid" test "$(sshd_pid)" != "$old"
check "the core's open tunnel outlives the sshd restart (as with any OpenSSH restart)" \
    sh -c "ip netns exec $NS_E curl -s --max-time 5 http://127.0.0.1:18443/hello.txt | grep -q tunnel"
in_o timeout 20 ssh -F /dev/null -i "$WORK/core1" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$WORK/known_hosts" -p 2222 "root@$E4" true > "$WORK/relogin.out" 2>&1
check "the new sshd logs core1 in (same host key)" grep -q 'port forwarding only' "$WORK/relogin.out"

cw tunnel untrust core1 > /dev/null
check "an untrusted core cannot log in any more" \
    sh -c "! ip netns exec $NS_O timeout 10 ssh -F /dev/null -i '$WORK/core1' -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile='$WORK/known_hosts' -p 2222 -N root@$E4 2>/dev/null"

# Shutdown takes sshd along, with the connections it serves.
cw tunnel trust core1 - < "$WORK/core1.pub" > /dev/null || notok "tunnel trust core1 - (stdin)"
cur=$(sshd_pid)
ssh_core core1 -N -R 127.0.0.1:18443:127.0.0.1:18080 > /dev/null 2>&1 &
RPID=$!
wait_listen 127.0.0.1:18443 || notok "core1 connected before the shutdown"
stop_edge
check "sshd and its connections are gone when the edge stops" \
    sh -c "! kill -0 $cur 2>/dev/null && ! pgrep -s $cur > /dev/null"
check "the core's forward ended with them" \
    sh -c "for i in \$(seq 1 50); do ip netns exec $NS_E ss -tlnH | grep -q 127.0.0.1:18443 || exit 0; sleep 0.1; done; exit 1"
kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
check "the edge stopped cleanly (its last line: notice edge: stopped)" \
    sh -c "tail -n 1 \$(ls -t '$WORK'/edge.*.log | head -n 1) | grep -q 'notice edge: stopped'"

# Configuration errors name the line.
printf '[turn]\nenabled = no\n[tunnel]\nstate-dir = %s\n' "$ST" > "$WORK/bad1.conf"
check "[tunnel] without listen is an error naming what to add" \
    sh -c "'$BIN/causeway-edge' -t -c '$WORK/bad1.conf' 2>&1 | grep -q 'needs listen'"
printf '[turn]\nenabled = no\n[tunnel]\nlisten = %s\npermit-listen = 0.0.0.0:80\n' "$E4" > "$WORK/bad2.conf"
check "permit-listen off loopback is an error" \
    sh -c "'$BIN/causeway-edge' -t -c '$WORK/bad2.conf' 2>&1 | grep -q 'bad2.conf:5: permit-listen \"0.0.0.0:80\" is not 127.0.0.1:PORT'"
printf '[turn]\nenabled = no\n[tunnel]\nlisten = %s\ncore-timeout = 2s\n' "$E4" > "$WORK/bad3.conf"
check "core-timeout below 4 s is an error" \
    sh -c "'$BIN/causeway-edge' -t -c '$WORK/bad3.conf' 2>&1 | grep -q 'bad3.conf:5: \"2s\" is not a duration from 4s to 600s'"

# A core that goes silent (its host frozen, the path dropping packets) is
# dropped after core-timeout, and the port it held is free for its next
# connection. The OpenSSH client stands in for the core, stopped by SIGSTOP.
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
core-timeout = 4s
CONF
start_edge "$WORK/edge.conf"
wait_listen "$E4:2222" || notok "sshd listens for the silent core's test"
check "core-timeout = 4s: sshd asks every 2 s and gives up after the second unanswered check" \
    sh -c "grep -qx 'ClientAliveInterval 2' '$ST/sshd_config' && grep -qx 'ClientAliveCountMax 1' '$ST/sshd_config'"
check "... and tunnel status shows it" sh -c "'$BIN/causeway' -s '$WORK/edge.sock' tunnel status | grep -q 'Silent cores dropped after: 4 s (core-timeout)'"
# The port must be free first, so that the listener below is this core's.
port_free() { ! listening 127.0.0.1:18443; }
if eventually 10 port_free; then
    ok "the forward's port is free before the core connects"
else
    notok "the forward's port is free before the core connects"; in_e ss -tlnpH
fi
ip netns exec "$NS_O" ssh -F /dev/null -i "$WORK/core1" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes \
    -p 2222 -N -R 127.0.0.1:18443:127.0.0.1:18080 "root@$E4" > "$WORK/silent.out" 2>&1 &
RPID=$!
check "the core logs in" wait_line "$WORK/edge.log" "sshd: Accepted publickey for root" 10
check "... and holds the forward" wait_listen 127.0.0.1:18443
kill -STOP "$RPID"
check "the silent core is dropped (sshd: Timeout, client not responding)" \
    wait_line "$WORK/edge.log" "sshd: Timeout, client not responding" 30
check "... and its forward is free" sh -c "! ip netns exec $NS_E ss -tlnH | grep -q 127.0.0.1:18443"
kill -CONT "$RPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
stop_edge

# The login user as sshd judges it: an account whose password field is
# locked ("!", as useradd leaves it), or that cannot read authorized_keys, is
# refused even with a trusted key; the edge says so before any core tries,
# and each fix clears it.
LOCKED=cwlk$$
useradd -M -s /bin/sh "$LOCKED" || notok "useradd $LOCKED"
trap 'userdel "$LOCKED" 2>/dev/null; cleanup' EXIT
edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
permit-listen = 127.0.0.1:18443
user = $LOCKED
CONF
start_edge "$WORK/edge.conf"
wait_listen "$E4:2222" || notok "sshd listens for the locked account's test"
check "tunnel status: the login user is refused, with the fix" \
    sh -c "'$BIN/causeway' -s '$WORK/edge.sock' tunnel status | grep -q \"REFUSED: the login user \\\"$LOCKED\\\" has a locked password field .*usermod -p NP $LOCKED\""
check "fault tunnel.account raised and logged" \
    wait_line "$WORK/edge.log" "warn fault: raised tunnel.account: the login user \"$LOCKED\" has a locked password field" 8
check "causeway doctor: a failed finding under tunnels" \
    sh -c "'$BIN/causeway' -s '$WORK/edge.sock' doctor | grep -q 'locked password field'"
# ssh_as USER: the core's key logs in as USER and holds the forward.
ssh_as() {
    in_o timeout 8 ssh -F /dev/null -i "$WORK/core1" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes \
        -o ExitOnForwardFailure=yes -p 2222 -N -R 127.0.0.1:18443:127.0.0.1:18080 "$1@$E4"
}
ssh_as "$LOCKED" > "$WORK/locked.out" 2>&1
check "sshd does refuse it, as the edge foresaw (account is locked)" \
    sh -c "grep -q 'Permission denied' '$WORK/locked.out' && grep -q 'not allowed because account is locked' '$WORK/edge.log'"
# Unlocked, the account still cannot read authorized_keys in the root-only
# state directory (sshd opens it as the login user): the next refusal, seen
# by the edge and by sshd alike.
usermod -p NP "$LOCKED"
check "after usermod -p NP the fault names the next obstacle: authorized_keys unreadable" \
    wait_line "$WORK/edge.log" "warn fault: tunnel.account: the login user \"$LOCKED\" cannot read $ST/authorized_keys" 8
ssh_as "$LOCKED" > "$WORK/unreadable.out" 2>&1
check "sshd does refuse it so (cannot open the user's authorized keys)" \
    grep -q "Could not open user '$LOCKED' authorized keys '$ST/authorized_keys': Permission denied" "$WORK/edge.log"
chmod 711 "$WORK" "$ST" && chmod 644 "$ST/authorized_keys"
check "with the file readable the fault clears" \
    wait_line "$WORK/edge.log" "notice fault: cleared tunnel.account" 8
ssh_as "$LOCKED" > /dev/null 2>&1 &
RPID=$!
check "... and the same key logs in and holds the forward" wait_listen 127.0.0.1:18443
kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
stop_edge

edge_conf edge <<CONF
[tunnel]
listen = $E4:2222
state-dir = $ST
user = cw-no-such-account
CONF
start_edge "$WORK/edge.conf"
check "a login user that is no account here: tunnel status says so" \
    sh -c "'$BIN/causeway' -s '$WORK/edge.sock' tunnel status | grep -q 'REFUSED: the login user \"cw-no-such-account\" is not an account on this machine'"
stop_edge
exit 0
