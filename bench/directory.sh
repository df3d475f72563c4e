#!/usr/bin/env bash
# directory.sh - `make bench-directory`: Causeway's XMPP core against Prosody
# (Debian's, one process) with a large directory: USERS accounts on one
# domain, each with a roster of ITEMS contacts (other accounts, subscription
# both), put in each server's own store before it starts.
#
# The servers side by side in one run:
#   - start: the server's CPU-seconds from its start until the first client
#     has logged in and fetched its roster (Causeway reads the whole
#     replicated state at start; Prosody reads an account when it is used);
#   - logins: accounts log in one after another as a client starts (STARTTLS,
#     SCRAM-SHA-1, bind, the roster, initial presence, then the stream
#     closed), LOGINS per round, ROUNDS rounds with the servers taking turns
#     (in reverse order every other round), each round on accounts not used
#     before; logins per CPU-second of the server over all rounds;
#   - roster changes: one account adds CHANGES contacts to its roster, one
#     set answered before the next, then removes them, once per round;
#     changes per second and per CPU-second (each server keeps them on disk:
#     Prosody rewrites the account's roster file, Causeway appends to its
#     journal and syncs it).
# Then Causeway alone: the node's state imported into a cluster of two
# nodes (127.0.0.31-32), and the same logins on one of them, CPU of both.
#
# Ends with "bench directory: ..." lines, logins per CPU-second last. Knobs:
# USERS (20000), ITEMS (20), LOGINS (300), ROUNDS (4), CHANGES (100), ports
# CW_PORT (15422) and PROSODY_PORT (15423). About 3 minutes. Every process
# started here is stopped by its PID.
BENCH=directory
. "$(dirname "$0")/lib.sh"
USERS=${USERS:-20000}
ITEMS=${ITEMS:-20}
LOGINS=${LOGINS:-300}
ROUNDS=${ROUNDS:-4}
CHANGES=${CHANGES:-100}
CW_PORT=${CW_PORT:-15422}
PROSODY_PORT=${PROSODY_PORT:-15423}
xmpp_bench_setup "$CW_PORT" "$PROSODY_PORT"
[ $((ROUNDS * LOGINS + 1)) -le "$USERS" ] || die "ROUNDS * LOGINS must stay below USERS"
note "$(dpkg-query -W -f='prosody ${Version}' prosody); $(nproc) CPUs; USERS=$USERS ITEMS=$ITEMS LOGINS=$LOGINS ROUNDS=$ROUNDS"

# The directory, for both: u0 is made by each server's own tool (its stored
# SCRAM keys), and every other account is a copy of it under its own name.
# roster.txt: "OWNER CONTACT" per item, local parts only.
$PY - "$USERS" "$ITEMS" > "$W/roster.txt" << 'PY'
import sys
users, items = int(sys.argv[1]), int(sys.argv[2])
for u in range(users):
    for k in range(1, items + 1):
        print("u%d u%d" % (u, (u + k * 7) % users))
PY

# ---- causeway-core, standalone -------------------------------------------------
cat > "$W/core.conf" << CONF
[core]
name = dir
control-socket = $W/core.sock
log-file = $W/core.log
log-level = notice
state-dir = $W/core-state
[xmpp]
client-listen = 127.0.0.1:$CW_PORT
component-listen = 0.0.0.0:0
certificate = $W/cert.pem $W/key.pem
CONF
cw() { "$BIN/causeway" -c "$W/core.conf" "$@"; }
bg "$W/core.out" "$BIN/causeway-core" -c "$W/core.conf"
for _ in $(seq 1 50); do cw version > /dev/null 2>&1 && break; sleep 0.1; done
cw xmpp domain add bench.test > /dev/null || die "domain add failed"
echo pw | cw xmpp user add u0@bench.test --password-stdin > /dev/null || die "user add failed"
stop_pid "$LAST"
$PY - "$W/core-state/xmpp.state" "$USERS" "$W/roster.txt" << 'PY' || die "cannot write the core's state"
import os, sys
path, users, roster = sys.argv[1], int(sys.argv[2]), sys.argv[3]
journal = os.path.join(os.path.dirname(path), "xmpp.journal")
lines = open(path).read().splitlines()
if os.path.exists(journal):     # the changes since the state file: u0 is there
    lines += open(journal).read().splitlines()
    os.unlink(journal)
u0 = [l for l in lines if l.startswith("user-set bench.test u0 ")][0]
with open(path, "w") as f:
    f.write("# causeway-core XMPP state: written by the daemon, do not edit\n")
    f.write("# generation 1\n")
    f.write("domain-set bench.test\n")
    for u in range(users):
        f.write(u0.replace(" u0 ", " u%d " % u, 1) + "\n")
    for line in open(roster):
        o, c = line.split()
        f.write("roster-set %s@bench.test %s@bench.test both - -\n" % (o, c))
PY

# ---- Prosody ------------------------------------------------------------------------
prosody_setup "$PROSODY_PORT"
prosodyctl --config "$W/prosody/prosody.cfg.lua" register u0 bench.test pw > /dev/null 2>&1 ||
    die "prosodyctl register failed"
$PY - "$W/prosody/data/bench%2etest" "$USERS" "$W/roster.txt" << 'PY' || die "cannot write Prosody's store"
import os, sys
d, users, roster = sys.argv[1], int(sys.argv[2]), sys.argv[3]
acct = open(os.path.join(d, "accounts", "u0.dat")).read()
for u in range(1, users):
    with open(os.path.join(d, "accounts", "u%d.dat" % u), "w") as f:
        f.write(acct)
items = {}
for line in open(roster):
    o, c = line.split()
    items.setdefault(o, []).append(c)
os.makedirs(os.path.join(d, "roster"), exist_ok=True)
for o, cs in items.items():
    with open(os.path.join(d, "roster", "%s.dat" % o), "w") as f:
        f.write('return {\n\t[false] = {\n\t\t["version"] = 1;\n\t};\n')
        for c in cs:
            f.write('\t["%s@bench.test"] = {\n\t\t["subscription"] = "both";\n'
                    '\t\t["groups"] = {};\n\t};\n' % c)
        f.write("};\n")
PY
[ -z "$as_prosody" ] || chown -R prosody:prosody "$W/prosody"

# start NAME PORT CMD...: starts the server, waits for the first login with its
# roster (up to 10 minutes), and appends its CPU-seconds to $W/start.NAME.
start() {
    local name=$1 port=$2 out
    shift 2
    bg "$W/$name.stdout" "$@"
    eval "${name}_PID=\$LAST"
    for _ in $(seq 1 6000); do
        ss -tlnH | awk '{print $4}' | grep -qx "127.0.0.1:$port" && break
        kill -0 "$LAST" 2> /dev/null || die "$name exited: $(tail -5 "$W/$name.stdout")"
        sleep 0.1
    done
    out=$($PY "$LOAD" logins "127.0.0.1:$port" bench.test pw $((USERS - 1)) 1) ||
        die "$name: the first login failed: $out"
    case $out in *"items=$ITEMS "*) ;; *) die "$name: the first login's roster: $out (want $ITEMS items)" ;; esac
    awk -v t="$(cpu_ticks "$LAST")" -v hz="$HZ" 'BEGIN {printf "%.2f\n", t / hz}' > "$W/start.$name"
    note "$name: serving after $(cat "$W/start.$name") CPU-seconds"
}
start causeway "$CW_PORT" "$BIN/causeway-core" -c "$W/core.conf"
start prosody "$PROSODY_PORT" $as_prosody prosody -F --config "$W/prosody/prosody.cfg.lua"

# run NAME PORT PID FIRST: one round's logins; appends "logins ticks" to $W/NAME.runs.
run() {
    local t0 t1 out
    t0=$(cpu_ticks "$3")
    out=$($PY "$LOAD" logins "127.0.0.1:$2" bench.test pw "$4" "$LOGINS") || die "$1: logins failed: $out"
    t1=$(cpu_ticks "$3")
    case $out in *"items=$((LOGINS * ITEMS)) "*) ;; *) die "$1: rosters incomplete: $out" ;; esac
    echo "$LOGINS $((t1 - t0))" >> "$W/$1.runs"
    t0=$(cpu_ticks "$3")
    out=$($PY "$LOAD" roster "127.0.0.1:$2" bench.test "u$((USERS - 2))" pw "$CHANGES") ||
        die "$1: roster changes failed: $out"
    t1=$(cpu_ticks "$3")
    echo "$((2 * CHANGES)) $((t1 - t0)) $(echo "$out" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')" >> "$W/$1.changes"
}
for r in $(seq 1 "$ROUNDS"); do
    first=$(((r - 1) * LOGINS))
    if [ $((r % 2)) = 1 ]; then
        run causeway "$CW_PORT" "$causeway_PID" "$first"; run prosody "$PROSODY_PORT" "$prosody_PID" "$first"
    else
        run prosody "$PROSODY_PORT" "$prosody_PID" "$first"; run causeway "$CW_PORT" "$causeway_PID" "$first"
    fi
    note "round $r/$ROUNDS done"
done

# ---- the same directory in a cluster of two nodes -------------------------------
# The node alone's state imported (xmpp cluster import) into two nodes, then
# the same logins on one of them, CPU of both: every login and logout is two
# entries of the cluster's log, applied on both nodes.
rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
CRSS=$(rss "$causeway_PID")
stop_pid "$causeway_PID"
openssl rand -hex 32 > "$W/cluster.key"; chmod 600 "$W/cluster.key"
for n in 1 2; do
    sed "s/^name = dir/name = x$n/; s|/core|/x$n|g; s/127.0.0.1:$CW_PORT/127.0.0.3$n:$CW_PORT/" \
        "$W/core.conf" > "$W/x$n.conf"
    printf '[cluster]\naddress = 127.0.0.3%s:14100\nkey-file = %s\n' "$n" "$W/cluster.key" >> "$W/x$n.conf"
    bg "$W/x$n.out" "$BIN/causeway-core" -c "$W/x$n.conf"
    eval "X$n=\$LAST"
    for _ in $(seq 1 50); do "$BIN/causeway" -c "$W/x$n.conf" version > /dev/null 2>&1 && break; sleep 0.1; done
done
xc() { local n=$1; shift; "$BIN/causeway" -c "$W/x$n.conf" "$@"; }
xc 1 xmpp cluster initialize > /dev/null || die "cluster initialize failed"
for _ in $(seq 1 50); do xc 1 xmpp cluster status | grep -q '^State: LEADER' && break; sleep 0.1; done
xc 2 xmpp cluster join 127.0.0.31:14100 > /dev/null || die "cluster join failed"
t0=$(date +%s.%N)
out=$(xc 2 xmpp cluster import "$W/core-state") || die "import failed: $out"
IMPORT_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
note "$out, in $IMPORT_S s"
for r in $(seq 1 "$ROUNDS"); do
    t0=$(cpu_ticks "$X1" "$X2")
    out=$($PY "$LOAD" logins "127.0.0.31:$CW_PORT" bench.test pw $(((r - 1) * LOGINS)) "$LOGINS") ||
        die "cluster: logins failed: $out"
    t1=$(cpu_ticks "$X1" "$X2")
    case $out in *"items=$((LOGINS * ITEMS)) "*) ;; *) die "cluster: rosters incomplete: $out" ;; esac
    echo "$LOGINS $((t1 - t0))" >> "$W/cluster.runs"
done
echo "  per-round causeway, 2 nodes (logins cpu_ticks): $(tr '\n' ';' < "$W/cluster.runs")" >&2

per_cpu() { awk -v hz="$HZ" '{n += $1; t += $2} END {if (t) printf "%.0f", n * hz / t; else print "na"}' "$W/$1"; }
per_s() { awk '{n += $1; s += $3} END {if (s) printf "%.0f", n / s; else print "na"}' "$W/$1"; }
for s in causeway prosody; do
    echo "  per-round $s (logins cpu_ticks): $(tr '\n' ';' < "$W/$s.runs")" >&2
    echo "  per-round $s (roster changes, cpu_ticks, secs): $(tr '\n' ';' < "$W/$s.changes")" >&2
done
note "resident memory after the logins: causeway $CRSS MB, prosody $(rss "$prosody_PID") MB; the cluster's nodes $(rss "$X1") and $(rss "$X2") MB"
CS=$(cat "$W/start.causeway") PS=$(cat "$W/start.prosody")
CL=$(per_cpu causeway.runs) PL=$(per_cpu prosody.runs) XL=$(per_cpu cluster.runs)
CC=$(per_cpu causeway.changes) PC=$(per_cpu prosody.changes)
CW=$(per_s causeway.changes) PW=$(per_s prosody.changes)
cat << EOF

bench directory_cluster: import_s causeway_2nodes=$IMPORT_S
bench directory_cluster: logins_per_cpu_s causeway_2nodes=$XL causeway_1node=$CL ratio=$(ratio "$XL" "$CL")
bench directory: start_cpu_s causeway=$CS prosody=$PS ratio=$(ratio "$CS" "$PS")
bench directory: roster_changes_per_s causeway=$CW prosody=$PW ratio=$(ratio "$CW" "$PW")
bench directory: roster_changes_per_cpu_s causeway=$CC prosody=$PC ratio=$(ratio "$CC" "$PC")
bench directory: logins_per_cpu_s causeway=$CL prosody=$PL ratio=$(ratio "$CL" "$PL")
EOF
