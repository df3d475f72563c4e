#!/bin/sh
# run.sh - the whole test suite: unit tests (plain and ASan+UBSan), fuzz
# corpora replayed, integration tests against real peers. Ends with the line
# "N passed, N failed, N skipped". Usage: tests/run.sh [name-filter]
set -u
cd "$(dirname "$0")/.."
B=build
LOGS=$B/test-logs
mkdir -p "$LOGS"
FILTER=${1:-}
pass=0 fail=0 skipped=0

count_runner() { # name log: adds the runner's "N passed, N failed"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
    if [ -z "$line" ]; then
        echo "not ok - $1 (runner crashed; see $2)"; fail=$((fail + 1)); return
    fi
    grep '^not ok' "$2"
    echo "# $1: $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
}

if [ -z "$FILTER" ] || [ "$FILTER" = unit ]; then
    $B/tests/unit > "$LOGS/unit.log" 2>&1
    count_runner unit "$LOGS/unit.log"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        $B/tests/unit-asan > "$LOGS/unit-asan.log" 2>&1
    count_runner unit-asan "$LOGS/unit-asan.log"
fi

# The log lines that the docs quote (troubleshooting is keyed by them) are
# lines the code prints, and each warning and error has its entry; the
# configuration and systemd units they show are accepted as they stand; their
# links lead somewhere.
if [ -z "$FILTER" ] || [ "$FILTER" = docs ]; then
    for t in log_lines config_examples links; do
        /usr/bin/python3 tests/docs/$t.py . > "$LOGS/docs-$t.log" 2>&1
        count_runner "docs $t" "$LOGS/docs-$t.log"
        grep '^#   ' "$LOGS/docs-$t.log"
    done
fi

if [ -z "$FILTER" ] || [ "$FILTER" = fuzz ]; then
    for f in $B/fuzz/*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/$name
        if [ ! -d "$corpus" ]; then
            echo "not ok - fuzz corpus $corpus missing"; fail=$((fail + 1)); continue
        fi
        # libFuzzer runs each file once when given files: a replay, no fuzzing.
        if "$f" "$corpus"/* > "$LOGS/$name.log" 2>&1; then
            echo "ok - $name corpus replay ($(ls "$corpus" | wc -l) inputs)"; pass=$((pass + 1))
        else
            echo "not ok - $name corpus replay (see $LOGS/$name.log)"; fail=$((fail + 1))
        fi
    done
fi

# Integration tests drive the ASan+UBSan build of the daemons: a memory
# error or undefined behaviour under real traffic fails the test.
export CW_BIN=${CW_BIN:-$(pwd)/$B/asan/bin}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for t in tests/integration/*.sh; do
    name=$(basename "$t" .sh)
    [ "$name" = lib ] && continue
    if [ -n "$FILTER" ] && [ "$FILTER" != integration ] && [ "$FILTER" != "$name" ]; then continue; fi
    start=$(date +%s)
    timeout -k 10 600 bash "$t" > "$LOGS/$name.log" 2>&1
    rc=$?
    grep -E '^(ok|not ok|skip) ' "$LOGS/$name.log"
    p=$(grep -c '^ok ' "$LOGS/$name.log"); f=$(grep -c '^not ok ' "$LOGS/$name.log")
    s=$(grep -c '^skip ' "$LOGS/$name.log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $name exited with status $rc (see $LOGS/$name.log)"; f=1
    fi
    echo "# $name: $((($(date +%s) - start)))s"
    pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
done

# The multi-worker test once more on the ThreadSanitizer build: a data race
# between the relay's workers fails it.
if [ -z "$FILTER" ] || [ "$FILTER" = integration ] || [ "$FILTER" = turn_workers ]; then
    start=$(date +%s)
    CW_BIN=$(pwd)/$B/tsan/bin TNAME_SUFFIX=-tsan ASAN_OPTIONS= TSAN_OPTIONS=halt_on_error=0 \
        timeout -k 10 600 bash tests/integration/turn_workers.sh > "$LOGS/turn_workers-tsan.log" 2>&1
    rc=$?
    grep -E '^(ok|not ok|skip) ' "$LOGS/turn_workers-tsan.log"
    p=$(grep -c '^ok ' "$LOGS/turn_workers-tsan.log"); f=$(grep -c '^not ok ' "$LOGS/turn_workers-tsan.log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - turn_workers-tsan exited with status $rc (see $LOGS/turn_workers-tsan.log)"; f=1
    fi
    echo "# turn_workers-tsan: $((($(date +%s) - start)))s"
    pass=$((pass + p)); fail=$((fail + f))
fi

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
