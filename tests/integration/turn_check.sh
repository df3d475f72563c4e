#!/usr/bin/env bash
# turn_check.sh - the core's TURN reachability check (`causeway turn check`)
# against a real causeway-edge TURN server: a long-term user over UDP and
# TCP and a REST secret give ok with a relay in the edge's range, the core's
# own address as mapped and a round trip; a wrong password gives "auth" with
# the fault turn.unreachable, cleared once the credential works; a dropped
# or closed port gives "no response"; an edge without a free relay port
# gives 508. The password never reaches the core's log.
#
# The core runs in the "outside" namespace of lib.sh (198.18.0.2), the edge
# in its own (198.18.0.1); the core needs no tunnel for this.
. "$(dirname "$0")/lib.sh"
need_root
command -v nft > /dev/null || { skip "nft (nftables) is not installed"; exit 0; }
net_setup
PASS=tern-Quill-42          # distinctive, so that the log check means something
BADPASS=not-the-Quill-17
SECRET=south-wind-secret-9
printf '%s\n' "$SECRET" > "$WORK/rest.secret"
CORE_PID=""

# core_conf: $WORK/core.conf with a [core] for the test and the [turn] keys
# of stdin.
core_conf() {
    { cat <<CONF
[core]
control-socket = $WORK/core.sock
state-dir = $WORK/core-state
log-level = info
[turn]
interval = 0
timeout = 2000
CONF
      cat; } > "$WORK/core.conf"
}

start_core() {
    bg "$NS_O" "$WORK/core.log" "$BIN/causeway-core" -c "$WORK/core.conf"
    CORE_PID=$BGPID
    for _ in $(seq 1 100); do
        [ -S "$WORK/core.sock" ] && cc version > /dev/null 2>&1 && return 0
        kill -0 "$CORE_PID" 2>/dev/null || break
        sleep 0.1
    done
    notok "causeway-core started"; cat "$WORK/core.log"; exit 1
}

# stop_core: SIGTERM (the check's thread must end and be joined), its log
# kept as core.PID.log (still looked at for sanitizer reports).
stop_core() {
    local p=$CORE_PID
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then notok "causeway-core stopped within 5 s of SIGTERM"; kill -KILL "$p"; fi
    wait "$p" 2>/dev/null
    unlist "$p"
    CORE_PID=""
    mv "$WORK/core.log" "$WORK/core.$p.log" 2>/dev/null
    rm -f "$WORK/core.sock"
}
cc() { "$BIN/causeway" -c "$WORK/core.conf" "$@"; }

# field NAME: one field of `status turn_check json`, from $WORK/st.json.
field() {
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["turn_check"].get(sys.argv[2]); print("" if v is None else v)' \
        "$WORK/st.json" "$2" 2>/dev/null
}
# check_turn LABEL: runs `turn check`, keeps its output, exit status and the
# status section (JSON) for the checks.
check_turn() {
    cc turn check > "$WORK/tc-$1.txt" 2>&1
    TC_RC=$?
    cc status turn_check json > "$WORK/st.json" 2>&1
    cp "$WORK/st.json" "$WORK/st-$1.json"
}
# fault_state: "active", "cleared" or "none" for turn.unreachable.
fault_state() {
    cc faults json | python3 -c '
import json,sys
rows=[r for r in json.load(sys.stdin)["faults"]["list"] if r["id"]=="turn.unreachable"]
print("none" if not rows else ("active" if rows[0]["cleared"] is None else "cleared"))'
}
relays_zero() { cw turn status | grep -Eq '^ +Active relays: 0 '; }

# expect_ok LABEL TRANSPORT: the checks of a good result.
expect_ok() {
    local l=$1 tr=$2 relay mapped rtt
    relay=$(field st relay); mapped=$(field st mapped); rtt=$(field st rtt_ms)
    if [ "$TC_RC" = 0 ] && grep -Eq "^reachable: relay $E4:2[4-9][0-9]{3}, mapped $C4:[0-9]+, rtt [0-9.]+ ms\$" "$WORK/tc-$l.txt"; then
        ok "$l: turn check says reachable (exit status 0)"
    else
        notok "$l: turn check says reachable (exit status $TC_RC)"; cat "$WORK/tc-$l.txt"
    fi
    check "$l: status verdict ok, transport $tr" test "$(field st verdict)/$(field st transport)/$(field st state)" = "ok/$tr/ok"
    if [[ "$relay" =~ ^198\.18\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 24000 ] && [ "${BASH_REMATCH[1]}" -le 29999 ]; then
        ok "$l: relay $relay is in the edge's relay range"
    else
        notok "$l: relay \"$relay\" in 198.18.0.1:24000-29999"
    fi
    check "$l: mapped $mapped is the core's address $C4" test "${mapped%:*}" = "$C4"
    check "$l: rtt $rtt ms > 0" python3 -c "import sys; sys.exit(0 if float('$rtt') > 0 else 1)"
    check "$l: the edge holds no allocation after the check (both released)" eventually 5 relays_zero
}

echo "rest-secret-file = $WORK/rest.secret" | edge_conf edge
printf '%s\n' "$PASS" | cw turn user add alice --password-stdin > /dev/null
start_edge "$WORK/edge.conf"

# --- without [turn] -----------------------------------------------------------
cat > "$WORK/core.conf" <<CONF
[core]
control-socket = $WORK/core.sock
state-dir = $WORK/core-state
CONF
start_core
cc turn check > "$WORK/tc-none.txt" 2>&1; rc=$?
check "no [turn]: turn check fails saying so" sh -c "[ $rc = 1 ] && grep -qF 'no [turn] is configured in $WORK/core.conf' '$WORK/tc-none.txt'"
cc status turn_check json > "$WORK/st.json" 2>&1
check "no [turn]: status shows the section off, not configured" test "$(field st state)/$(field st server)" = "off/not configured"
stop_core

# start_alice: a core whose [turn] is the edge's 3478 as alice, the right password.
start_alice() {
    core_conf <<CONF
server = $E4:3478
username = alice
password = $PASS
CONF
    start_core
}

# --- 1. long-term user over UDP -----------------------------------------------
start_alice
check_turn udp
expect_ok udp udp
check "udp: user alice shown in status" test "$(field st user)" = alice
check "udp: no fault" test "$(fault_state)" = none
cc turn status > "$WORK/ts.txt" 2>&1
check "udp: turn status shows the last result" grep -Eq '^  Verdict: ok$' "$WORK/ts.txt"
# Two at once: one check, both answered.
cc turn check > "$WORK/tc-j1.txt" 2>&1 & j1=$!
cc turn check > "$WORK/tc-j2.txt" 2>&1; r2=$?
wait $j1; r1=$?
check "two turn checks at once both get an answer (exit $r1, $r2)" sh -c "[ $r1 = 0 ] && [ $r2 = 0 ] && grep -q '^reachable' '$WORK/tc-j1.txt' && grep -q '^reachable' '$WORK/tc-j2.txt'"
stop_core

# --- 2. the same over TCP -----------------------------------------------------
core_conf <<CONF
server = $E4:3478
transport = tcp
username = alice
password = $PASS
CONF
start_core
check_turn tcp
expect_ok tcp tcp
stop_core

# --- 3. REST secret -------------------------------------------------------------
core_conf <<CONF
server = $E4
rest-secret = $SECRET
CONF
start_core
check_turn rest
expect_ok rest udp
check "rest: status names the REST user, not the secret" sh -c "grep -q 'core-check' '$WORK/st.json' && ! grep -qF '$SECRET' '$WORK/st.json'"
stop_core

# --- periodic: the first check comes by itself a few seconds after the start -----
core_conf <<CONF
server = $E4:3478
username = alice
password = $PASS
interval = 10
CONF
start_core
periodic_ran() { cc status turn_check json > "$WORK/st.json" 2>&1 && [ "$(field st verdict)" = ok ]; }
check "periodic: a check ran without being asked, verdict ok" eventually 10 periodic_ran
check "periodic: interval shown" test "$(field st interval_s)" = 10
check "periodic: the core logged reachable once" test "$(grep -c 'turn-check: .* reachable: relay' "$WORK/core.log")" = 1
stop_core

# --- 4. wrong password, then the edge's user changed to match -------------------
core_conf <<CONF
server = $E4:3478
username = alice
password = $BADPASS
CONF
start_core
check_turn auth
why=$(field st why)
check "auth: turn check fails (exit status $TC_RC)" test "$TC_RC" = 1
check "auth: verdict auth" test "$(field st verdict)/$(field st state)" = "auth/error"
if [[ "$why" == *'401'* && "$why" == *'user "alice"'* && "$why" == *'core.conf'* ]]; then
    ok "auth: why names 401 and the user: $why"
else
    notok "auth: why names 401 and the user: \"$why\""
fi
check "auth: no relay, no libnice run" test -z "$(field st relay)"
check "auth: fault turn.unreachable raised" test "$(fault_state)" = active
check "auth: the core logs the verdict once" grep -q 'turn-check: 198.18.0.1:3478 (udp) NOT usable: 401 integrity check failed for user "alice"' "$WORK/core.log"
printf '%s\n' "$BADPASS" | cw turn user add alice --password-stdin > /dev/null
check_turn fixed
expect_ok fixed udp
check "fixed: fault turn.unreachable cleared" test "$(fault_state)" = cleared
check "fixed: the core logs reachable" grep -q 'turn-check: 198.18.0.1:3478 (udp) reachable: relay 198.18.0.1:' "$WORK/core.log"
printf '%s\n' "$PASS" | cw turn user add alice --password-stdin > /dev/null
check_turn again
check "the edge's password back: the core's check fails again" test "$(field st verdict)" = auth
# The core's password mended in core.conf: SIGHUP, no restart.
sed -i "s/^password = .*/password = $PASS/" "$WORK/core.conf"
kill -HUP "$CORE_PID"
check "SIGHUP: the core says it reloaded [turn]" \
    wait_line "$WORK/core.log" 'notice core: SIGHUP: reloaded .*, \[turn\] \(the TURN check\)' 5
check_turn hup
expect_ok hup udp
check "hup: the same core process (no restart)" kill -0 "$CORE_PID"
check "hup: fault turn.unreachable cleared" test "$(fault_state)" = cleared
check "hup: neither password reached the log" sh -c "! grep -qF -e '$PASS' -e '$BADPASS' '$WORK/core.log'"
# A SIGHUP with [turn] unchanged says nothing of it; one without [turn] stops the check.
kill -HUP "$CORE_PID"
check "SIGHUP, [turn] unchanged: not named as reloaded" \
    wait_line "$WORK/core.log" 'notice core: SIGHUP: reloaded the log level from ' 5
sed -i '/^\[turn\]/,$d' "$WORK/core.conf"
kill -HUP "$CORE_PID"
hup_count() { [ "$(grep -c 'notice core: SIGHUP: reloaded .*\[turn\]' "$WORK/core.log")" = 2 ]; }
check "SIGHUP without [turn]: reloaded, and the check is off" eventually 5 hup_count
cc turn check > "$WORK/tc-off.txt" 2>&1
check "... turn check then says no [turn] is configured" grep -qF 'no [turn] is configured' "$WORK/tc-off.txt"
stop_core

# --- 5. no response: a drop rule, then a port nobody listens on ------------------
nft_drop() {
    in_e nft -f - <<'NFT'
table inet cwtc {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 3478 drop
    }
}
NFT
}
nft_drop
start_alice
check_turn drop
check "drop: verdict no response (exit status $TC_RC)" sh -c "[ $TC_RC = 1 ] && [ '$(field st verdict)' = 'no response' ]"
check "drop: why says so and what to look at" grep -qF 'no response from 198.18.0.1:3478 (udp) in 2 s: is UDP 3478 open from the core to the edge' "$WORK/st.json"
check "drop: the CLI's answer is the finished check (none still running)" test "$(field st running)" = False
check "drop: fault raised" test "$(fault_state)" = active
in_e nft delete table inet cwtc
check_turn undrop
check "drop removed: ok again, fault cleared" sh -c "[ $TC_RC = 0 ] && [ '$(fault_state)' = cleared ]"
# A check still waiting when the core stops: the CLI gets an answer, the
# thread is joined (stop_core fails after 5 s; ASan sees any leak).
nft_drop
cc turn check > "$WORK/tc-abandon.txt" 2>&1 & ab=$!
sleep 0.5
stop_core
wait $ab; abrc=$?
check "stopped during a check: turn check answered 'stopping' (exit status $abrc)" sh -c "[ $abrc = 1 ] && grep -q 'causeway-core is stopping: the check was abandoned' '$WORK/tc-abandon.txt'"
in_e nft delete table inet cwtc

# --- 5b. no relay: the server answers the probe but not libnice -------------------
# A rate limit in front of the edge lets one new UDP flow to 3478 through and
# drops the next: the probe's flow gets its relay, libnice's (a port of its
# own) gets nothing.
in_e nft -f - <<'NFT'
table inet cwtc {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 3478 ct state new limit rate over 1/hour burst 1 packets drop
    }
}
NFT
start_alice
check_turn norelay
check "no relay: verdict no relay (exit status $TC_RC)" sh -c "[ $TC_RC = 1 ] && [ '$(field st verdict)' = 'no relay' ]"
check "no relay: why names the CMS symptom and the probe's relay" \
    grep -Eq 'no relay candidate was created \(the CMS .*relay candidate creation timeout.*\): the probe got relay 198\.18\.0\.1:2[4-9][0-9]{3}' "$WORK/st.json"
check "no relay: fault turn.unreachable raised" test "$(fault_state)" = active
check "no relay: the core logs the verdict" grep -q 'turn-check: 198.18.0.1:3478 (udp) NOT usable: the server answered but no relay candidate' "$WORK/core.log"
in_e nft delete table inet cwtc
check_turn relayagain
check "rate limit removed: ok again, fault cleared" sh -c "[ $TC_RC = 0 ] && [ '$(fault_state)' = cleared ]"
stop_core

core_conf <<CONF
server = $E4:3479
username = alice
password = $PASS
CONF
start_core
check_turn closed
check "closed port: verdict no response" test "$(field st verdict)" = "no response"
check "closed port: why says nothing listens" grep -qF 'no response from 198.18.0.1:3479 (udp): connection refused' "$WORK/st.json"
stop_core
core_conf <<CONF
server = $E4:3479
transport = tcp
username = alice
password = $PASS
CONF
start_core
check_turn closed-tcp
check "closed TCP port: verdict no response, refused" sh -c "[ '$(field st verdict)' = 'no response' ] && grep -qF 'no response from 198.18.0.1:3479 (tcp): connection refused' '$WORK/st.json'"
stop_core

# --- 6. no relay port free on the edge: 508 --------------------------------------
stop_edge
sed -i "s/^relay-address = .*/&\nrelay-ports = 24000-24000/" "$WORK/edge.conf"
bg "$NS_E" "$WORK/holder.log" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$E4', 24000))
print('holding', flush=True); time.sleep(120)"
holder=$BGPID
wait_line "$WORK/holder.log" '^holding' 5 "$holder"
start_edge "$WORK/edge.conf"
start_alice
check_turn full
why=$(field st why)
check "508: verdict error (exit status $TC_RC)" sh -c "[ $TC_RC = 1 ] && [ '$(field st verdict)' = error ]"
if [[ "$why" == 508* && "$why" == *relay-ports* ]]; then ok "508: why names the code: $why"; else notok "508: why: \"$why\""; fi
stop_core
kill "$holder"; wait "$holder" 2>/dev/null; unlist "$holder"

# --- configuration errors --------------------------------------------------------
conf_err() { # LABEL EXPECTED-TEXT: core.conf from stdin must be refused with that text
    local label=$1 want=$2 out
    { printf '[core]\ncontrol-socket = %s/core.sock\n[turn]\n' "$WORK"; cat; } > "$WORK/bad.conf"
    out=$("$BIN/causeway-core" -t -c "$WORK/bad.conf" 2>&1)
    if [ $? != 0 ] && [[ "$out" == *"$want"* ]]; then ok "config: $label"; else notok "config: $label: $out"; fi
}
printf 'server = %s\nusername = a\npassword = x\nrest-secret = y\n' $E4 | conf_err "password and rest-secret together refused" "has both password and rest-secret"
printf 'username = a\npassword = x\n' | conf_err "server required" "[turn] needs server"
printf 'server = %s\n' $E4 | conf_err "a credential required" "[turn] needs a credential"
printf 'server = %s\nrest-secret = y\ntransport = sctp\n' $E4 | conf_err "bad transport refused with file:line" "bad.conf:6: transport \"sctp\": use udp or tcp"
printf 'server = %s\nrest-secret = y\ninterval = 5\n' $E4 | conf_err "interval below 10 s refused" "0 (only on demand) or 10s to 24h"
printf 'server = %s\nusername = a\npassword = hunter2-secret\ntimeout = 5\n' $E4 | conf_err "timeout below 100 ms refused" "bad.conf:7:"
printf '[core]\n[turn]\nserver = %s\nusername = a\npassword = hunter2-secret\ntimeout = 5\n' $E4 > "$WORK/bad3.conf"
"$BIN/causeway-core" -t -c "$WORK/bad3.conf" > "$WORK/bad3.txt" 2>&1
check "config: an error in [turn] does not print the password" sh -c "grep -q 'bad3.conf:6:' '$WORK/bad3.txt' && ! grep -q hunter2 '$WORK/bad3.txt'"

# --- the CLI's routing -------------------------------------------------------------
"$BIN/causeway" -c "$WORK/edge.conf" turn check > "$WORK/cli1.txt" 2>&1; r1=$?
check "cli: turn check with an edge.conf is refused (a core command)" sh -c "[ $r1 = 2 ] && grep -q 'runs on the core' '$WORK/cli1.txt'"
"$BIN/causeway" -c "$WORK/core.conf" turn user list > "$WORK/cli2.txt" 2>&1; r2=$?
check "cli: turn user with a core.conf is refused (an edge command)" sh -c "[ $r2 = 2 ] && grep -q \"edits the edge's TURN users\" '$WORK/cli2.txt'"
check "cli: turn status with the edge.conf still reaches the edge" sh -c "\"$BIN/causeway\" -c '$WORK/edge.conf' turn status | grep -q 'Active relays'"

# --- the core's logs ------------------------------------------------------------
check "no password or secret in the core's logs" sh -c "! grep -qF -e '$PASS' -e '$BADPASS' -e '$SECRET' '$WORK'/core*.log"
check "edge still running" edge_alive
