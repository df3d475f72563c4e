#!/usr/bin/env bash
# edge_config.sh - causeway-edge -t on good and bad edge.conf files: every
# bad key or value is reported with file:line and a reason (no root needed).
TNAME=edge_config
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CW_BIN:-$TOP/build/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cw-edge_config.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
NFAIL=0

base() {
    cat <<CONF
[edge]
control-socket = $WORK/edge.sock
[turn]
listen = 198.18.0.1:3478
relay-address = 198.18.0.1
user-db = $WORK/users
CONF
}

# expect_error LINE_TEXT EXPECTED_MESSAGE: appends LINE_TEXT to a valid file
# and expects "file:N: EXPECTED_MESSAGE" (N = the appended line).
expect_error() {
    local line=$1 want=$2 conf=$WORK/bad.conf n out
    base > "$conf"
    printf '%s\n' "$line" >> "$conf"
    n=$(wc -l < "$conf")
    out=$("$BIN/causeway-edge" -t -c "$conf" 2>&1)
    if [ $? -ne 0 ] && [ "$out" = "causeway-edge: $conf:$n: $want" ]; then
        echo "ok - $TNAME: '$line' -> line $n: $want"
    else
        echo "not ok - $TNAME: '$line': got '$out'"; NFAIL=$((NFAIL + 1))
    fi
}

base > "$WORK/good.conf"
if "$BIN/causeway-edge" -t -c "$WORK/good.conf" > "$WORK/out" 2>&1 && grep -q 'is valid' "$WORK/out"; then
    echo "ok - $TNAME: a minimal configuration is valid"
else
    echo "not ok - $TNAME: minimal configuration: $(cat "$WORK/out")"; NFAIL=$((NFAIL + 1))
fi

expect_error "lisen = 1.2.3.4" 'unknown key "lisen" in [turn]'
expect_error "relay-ports = 29999-24000" '"29999-24000" is not a range lo-hi within 1024-65535'
expect_error "relay-ports = 80-90" '"80-90" is not a range lo-hi within 1024-65535'
expect_error "listen = turn.example.com" '"turn.example.com" is not an IP address (optionally with :port)'
expect_error "relay-address = 198.18.0.1:3478" '"198.18.0.1:3478" is not an IP address (no port)'
expect_error "max-permissions = 0" '"0" is not a number from 1 to 1000'
expect_error "default-lifetime = 5" '"5" is not a duration from 60s to 86400s (e.g. 30s, 10m, 1h)'
expect_error "software = maybe" '"maybe" is not yes or no'
expect_error "inside-network = 198.18.0.0/33" '"198.18.0.0/33" is not a network (like 198.51.100.0/24 or 2001:db8::/32)'
expect_error "peer-allow = nowhere" '"nowhere" is not a network (like 192.0.2.10/32)'
expect_error "[tunr]" 'unknown section [tunr] (known: [edge], [turn], [tunnel], [webproxy], [federation], [admin])'
expect_error "$(printf '[webproxy]\ncertificate = only-one-file.pem')" \
    'certificate wants two files: the chain (PEM) and its key (PEM)'
expect_error "$(printf '[webproxy]\nhost = join.example.com')" \
    'host wants a name and a backend address: host = join.example.com 127.0.0.1:8443'
expect_error "$(printf '[webproxy]\nhost = join.example.com 127.0.0.1')" \
    '"127.0.0.1" is not an IP address with a port (1.2.3.4:5 or [::1]:5)'
expect_error "$(printf '[webproxy]\nhost = a.example.com 127.0.0.1:1\nhost = A.example.com 127.0.0.1:2')" \
    'host a.example.com is listed twice'
expect_error "$(printf '[webproxy]\nheader-timeout = 0')" '"0" is not a duration from 1s to 3600s (e.g. 30s, 10m, 1h)'
expect_error "just some words" 'expected "key = value"'
expect_error "rest-secret-file = $WORK/missing" "cannot open rest-secret-file $WORK/missing: No such file or directory"

expect_error "realm = example.org # ours" 'a comment after a value is not supported: put it on its own line'

# [federation]: the values of its keys, then what it cannot do without.
expect_error "$(printf '[federation]\nlisten-tls = 198.18.0.1:5270')" 'unknown key "listen-tls" in [federation]'
expect_error "$(printf '[federation]\npeer = webex.example auth=dialback tls=maybe')" \
    '"tls=maybe" is not tls=required|optional or auth=certificate|dialback'
expect_error "$(printf '[federation]\npeer = webex.example trusted')" \
    '"trusted" is not tls=required|optional or auth=certificate|dialback'
expect_error "$(printf '[federation]\nauth = sasl')" '"auth=sasl" is not tls=required|optional or auth=certificate|dialback'
expect_error "$(printf '[federation]\npeer = web_ex.example auth=dialback')" '"web_ex.example" is not a domain name'
expect_error "$(printf '[federation]\nallow = foreign.example/x')" '"foreign.example/x" is not a domain name'
expect_error "$(printf '[federation]\ndeny = *.blocked.example')" '"*.blocked.example" is not a domain name'
expect_error "$(printf '[federation]\nmax-stanza = 100')" '"100" is not a number from 10000 to 16777216'
expect_error "$(printf '[federation]\ndeny = a.example b.example')" 'deny takes one domain per line'

# fed_conf [KEY...]: a valid file with a complete [federation] section, but
# without the lines of the KEYs given.
fed_conf() {
    local k
    { base; cat <<CONF
[federation]
listen = 198.18.0.1:5269
tls-listen = 198.18.0.1:5270
certificate = $WORK/ours.pem $WORK/ours.key
core = 127.0.0.1:18443
link-key-file = $WORK/link.key
deny = blocked.example
CONF
    } > "$WORK/fed.conf"
    for k in "$@"; do sed -i "/^\[federation\]\$/,\$ {/^$k = /d}" "$WORK/fed.conf"; done
}
fed_conf
if "$BIN/causeway-edge" -t -c "$WORK/fed.conf" > "$WORK/out" 2>&1 && grep -q 'is valid' "$WORK/out"; then
    echo "ok - $TNAME: a complete [federation] section is valid"
else
    echo "not ok - $TNAME: complete [federation]: $(cat "$WORK/out")"; NFAIL=$((NFAIL + 1))
fi
FED_NEEDS="[federation] needs listen (the external NIC's address, port 5269), certificate (chain and key files for our XMPP domains), core (a core's tunnel forward, 127.0.0.1:PORT) and link-key-file"
for missing in "listen tls-listen" certificate core link-key-file; do
    # shellcheck disable=SC2086
    fed_conf $missing
    out=$("$BIN/causeway-edge" -t -c "$WORK/fed.conf" 2>&1)
    if [ $? -ne 0 ] && [ "$out" = "causeway-edge: $WORK/fed.conf: $FED_NEEDS" ]; then
        echo "ok - $TNAME: a [federation] without ${missing// / or } is explained"
    else
        echo "not ok - $TNAME: [federation] without ${missing// / or }: got '$out'"; NFAIL=$((NFAIL + 1))
    fi
done
fed_conf listen
if "$BIN/causeway-edge" -t -c "$WORK/fed.conf" > "$WORK/out" 2>&1; then
    echo "ok - $TNAME: a [federation] with tls-listen only (XEP-0368) is valid"
else
    echo "not ok - $TNAME: [federation] with tls-listen only: $(cat "$WORK/out")"; NFAIL=$((NFAIL + 1))
fi

# A relay address that is not this host's is refused at start, in words.
base | sed "s|^relay-address = .*|relay-address = 192.0.2.77|; s|^listen = .*|listen = 127.0.0.1:0|" \
    > "$WORK/farrelay.conf"
out=$(timeout 10 "$BIN/causeway-edge" -c "$WORK/farrelay.conf" 2>&1)
if [ $? = 1 ] && echo "$out" | grep -q 'TURN not started: relay-address: cannot bind UDP 192.0.2.77:0: Cannot assign requested address (relays must be on an address of this host'; then
    echo "ok - $TNAME: a relay-address that is not this host's stops the start with a reason"
else
    echo "not ok - $TNAME: foreign relay-address: $out"; NFAIL=$((NFAIL + 1))
fi

out=$("$BIN/causeway-edge" -t -c "$WORK/nonexistent.conf" 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "nonexistent.conf: cannot open: No such file"; then
    echo "ok - $TNAME: a missing file is named"
else
    echo "not ok - $TNAME: missing file: $out"; NFAIL=$((NFAIL + 1))
fi
printf '[edge]\ncontrol-socket = %s/s\n[turn]\nlisten = 198.18.0.1\nuser-db = %s/u\n' "$WORK" "$WORK" > "$WORK/norelay.conf"
out=$("$BIN/causeway-edge" -t -c "$WORK/norelay.conf" 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "needs relay-address"; then
    echo "ok - $TNAME: a missing relay-address is explained"
else
    echo "not ok - $TNAME: missing relay-address: $out"; NFAIL=$((NFAIL + 1))
fi
printf '[turn]\nenabled = no\n[webproxy]\nlisten = 198.18.0.1\n' > "$WORK/noweb.conf"
out=$("$BIN/causeway-edge" -t -c "$WORK/noweb.conf" 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "\[webproxy\] needs listen .*, certificate .* and at least one host"; then
    echo "ok - $TNAME: a [webproxy] without certificate and host is explained"
else
    echo "not ok - $TNAME: [webproxy] incomplete: $out"; NFAIL=$((NFAIL + 1))
fi
# A host whose loopback port no permit-listen names: valid, but -t warns on
# stderr (no core could ever hold it); the host on a permitted port is fine.
cat > "$WORK/typo.conf" <<CONF
[turn]
enabled = no
[tunnel]
listen = 198.18.0.1:2222
state-dir = $WORK/tunnel
permit-listen = 127.0.0.1:18443
[webproxy]
listen = 198.18.0.1
certificate = $WORK/c.pem $WORK/k.pem
host = join.example.test 127.0.0.1:18443
host = typo.example.test 127.0.0.1:18434
CONF
"$BIN/causeway-edge" -t -c "$WORK/typo.conf" > "$WORK/typo.out" 2> "$WORK/typo.err"
rc=$?
if [ $rc = 0 ] && grep -q 'is valid' "$WORK/typo.out" &&
   grep -q "warn webproxy: host typo.example.test goes to 127.0.0.1:18434, which is none of \[tunnel\]'s permit-listen ports" "$WORK/typo.err" &&
   [ "$(grep -c warn "$WORK/typo.err")" = 1 ]; then
    echo "ok - $TNAME: -t warns about a host on a port no permit-listen names (only that one), and passes"
else
    echo "not ok - $TNAME: permit-listen typo: rc $rc, $(cat "$WORK/typo.out" "$WORK/typo.err")"; NFAIL=$((NFAIL + 1))
fi
exit 0
