# prosody.sh - a test CA and foreign XMPP servers (Debian's Prosody) for the
# federation test (tests/integration/xmpp_federation.sh) and benchmark
# (bench/federation.sh). Sourced (bash); defines functions only and sets no
# shell options. Every process started here is put on the sourcing script's
# PIDS list (both lib.sh files stop those by PID at exit).
#
#   cert_ca DIR CN                 DIR/ca.pem, DIR/ca.key: a test CA named CN
#   cert_leaf DIR NAME [ALT...]    DIR/NAME.pem, DIR/NAME.key from DIR's CA, for
#                                  DNS:NAME (and DNS:ALT...)
#   cert_self DIR NAME             DIR/NAME.pem, DIR/NAME.key, self-signed for NAME
#   prosody_conf DIR DOMAIN ADDR CHAIN KEY [OPTION...]
#                                  one Prosody's configuration (see below)
#   prosody_register DIR USER PASS a user of DIR's Prosody (prosodyctl)
#   prosody_start NS DIR           runs DIR's Prosody in network namespace NS
#                                  as the prosody user; its PID in PROSODY_PID
#   prosody_ready NS ADDR [SECS]   its c2s (5222) and s2s (5269) ports accept
#                                  connections from NS within SECS (10) s
#
# openssl's output goes to DIR/openssl.log. DIR must be reachable by the
# prosody user (chmod 755 on the work directory).

# cert_ca DIR CN
cert_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$1/ca.key" -out "$1/ca.pem" >> "$1/openssl.log" 2>&1 &&
    chmod 600 "$1/ca.key"
}

# cert_leaf DIR NAME [ALT...]: a server certificate from DIR/ca.pem.
cert_leaf() {
    local dir=$1 name=$2 san="DNS:$2" a
    shift 2
    for a in "$@"; do san="$san,DNS:$a"; done
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" >> "$dir/openssl.log" 2>&1 &&
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san") \
        -out "$dir/$name.pem" >> "$dir/openssl.log" 2>&1 &&
    chmod 600 "$dir/$name.key"
}

# cert_self DIR NAME: a self-signed server certificate.
cert_self() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=DNS:$2" -keyout "$1/$2.key" -out "$1/$2.pem" >> "$1/openssl.log" 2>&1 &&
    chmod 600 "$1/$2.key"
}

# prosody_conf DIR DOMAIN ADDR CHAIN KEY [OPTION...]: DIR/prosody.cfg.lua for a
# Prosody serving DOMAIN on ADDR (c2s 5222, s2s 5269, STARTTLS required both,
# no direct TLS ports, no offline storage, users from prosody_register) with
# the certificate CHAIN and KEY (copied to DIR/certs). DIR is made and given
# to the prosody user. OPTIONs:
#   secure-auth        s2s_secure_auth = true: peers need a valid certificate
#                      (else false: dialback for the rest)
#   trust=CAFILE       CAs that validate peers' certificates (SASL EXTERNAL)
#   insecure=DOMAIN    a peer exempt from secure-auth (repeatable)
#   module=NAME        one more module to load, e.g. s2s_bidi (repeatable)
#   log=LEVEL          the lowest level in DIR/prosody.log (info)
# With PROSODY_DEBUG set in the environment, DIR/debug.log has everything.
prosody_conf() {
    local dir=$1 d=$2 addr=$3 chain=$4 key=$5 o secure=false trust="" insecure="" mods="" level=info
    shift 5
    for o in "$@"; do
        case $o in
            secure-auth) secure=true ;;
            trust=*) trust=${o#trust=} ;;
            insecure=*) insecure="$insecure \"${o#insecure=}\";" ;;
            module=*) mods="$mods \"${o#module=}\";" ;;
            log=*) level=${o#log=} ;;
            *) echo "prosody_conf: unknown option $o" >&2; return 1 ;;
        esac
    done
    local lines="" vtrust="" dbg=""
    [ -n "$insecure" ] && lines="s2s_insecure_domains = {$insecure }"$'\n'
    [ -n "$trust" ] && lines="${lines}ssl = { cafile = \"$trust\" }"$'\n' && vtrust="cafile = \"$trust\";"
    [ -n "${PROSODY_DEBUG:-}" ] && dbg="debug = \"$dir/debug.log\";"
    mkdir -p "$dir/data" "$dir/certs" || return 1
    cp "$chain" "$dir/certs/$d.crt" && cp "$key" "$dir/certs/$d.key" || return 1
    cat > "$dir/prosody.cfg.lua" <<CONF
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
interfaces = { "$addr" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix";$mods }
modules_disabled = { "offline" }
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = $secure
${lines}certificates = "$dir/certs"
log = { $level = "$dir/prosody.log"; $dbg }
VirtualHost "$d"
  ssl = { certificate = "$dir/certs/$d.crt"; key = "$dir/certs/$d.key"; $vtrust }
CONF
    chown -R prosody:prosody "$dir"
}

# prosody_register DIR USER PASS: USER@DOMAIN (DIR's VirtualHost).
prosody_register() {
    local d
    d=$(sed -n 's/^VirtualHost "\(.*\)"$/\1/p' "$1/prosody.cfg.lua")
    prosodyctl --config "$1/prosody.cfg.lua" register "$2" "$d" "$3" >> "$1/register.log" 2>&1
}

# prosody_start NS DIR: Prosody in the foreground (its output in
# DIR/stdout.log), stopped at exit with the sourcing script's processes.
prosody_start() {
    ip netns exec "$1" setpriv --reuid=prosody --regid=prosody --init-groups \
        prosody -F --config "$2/prosody.cfg.lua" > "$2/stdout.log" 2>&1 &
    PROSODY_PID=$!
    PIDS="$PIDS $PROSODY_PID"
}

# prosody_ready NS ADDR [SECS]
prosody_ready() {
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/5222 && exec 4<>/dev/tcp/$2/5269" 2>/dev/null &&
            return 0
        sleep 0.1
    done
    return 1
}
