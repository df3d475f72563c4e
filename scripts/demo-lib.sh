# demo-lib.sh - what the two variants of `make demo` share (sourced by
# scripts/demo.sh and scripts/demo-netns.sh, POSIX sh; they set BIN and D).

# alive PID: running (a zombie, waiting for a parent that does not reap it, is not).
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }

# spki_of PEM: the base64 SHA-256 of the certificate's public key, for
# Chromium's --ignore-certificate-errors-spki-list.
spki_of() {
    openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
}

# pair EDGE_CONF CORE_CONF: the two steps an administrator takes (tunnel
# pair on the core, tunnel trust on the edge); what the core's [tunnel]
# pins and logs in as are then in $D/trust.txt (trusted_key, trusted_user).
pair() {
    "$BIN/causeway" -c "$2" tunnel pair > "$D/pair.txt"
    eval "'$BIN/causeway' -c '$1' tunnel trust $(sed -n 's/^  causeway tunnel trust //p' "$D/pair.txt")" \
        > "$D/trust.txt"
}
trusted_key() { sed -n 's/^  host-key = //p' "$D/trust.txt"; }
trusted_user() { sed -n 's/^  user = //p' "$D/trust.txt"; }

# meeting_result LOG: two lines about the guest's RESULT in the driver's LOG
# (tests/browser/webrtc.js), or its last lines when there is none.
meeting_result() {
    grep '^RESULT ' "$1" | head -n 1 | cut -c8- | /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin); p = r.get("pair") or {}
print("  ok: %s; selected pair: %s %s (TURN over %s) -> %s %s" % (r.get("ok"), p.get("local"), p.get("localAddr"),
      p.get("localRelayProto"), p.get("remote"), p.get("remoteAddr")))
print("  messages: %s sent and %s echoed by the bridge, %s of %s from the bridge%s" % (r.get("sent"), r.get("echoed"),
      r.get("fromBridge"), r.get("expectedFromBridge"), "" if r.get("ok") else "; error: %s" % r.get("error")))' ||
        { echo "  no result; the guest's output:"; tail -n 5 "$1" | cut -c1-300 | sed 's/^/    /'; }
}
