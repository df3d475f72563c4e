#!/bin/sh
# Installs the Debian 12 packages that Causeway builds with and tests against,
# only those that are missing, and the browser driver of the tests from npm
# (playwright-core, in tests/browser, for Debian's Chromium). Called by
# `make deps` (and so by test and the benchmarks); `make demo` calls it with
# "demo" and gets only what the demo runs (with the browser driver).
set -eu

# Build: compiler, libraries of DESIGN.md's dependency list.
BUILD="build-essential pkg-config clang libclang-rt-14-dev
  libuv1-dev libssl-dev libc-ares-dev libnice-dev libglib2.0-dev
  libssh2-1-dev libexpat1-dev libraft-dev libcrypt-dev liburing-dev"
# Test and benchmark peers: real software that nobody here wrote (systemd's
# systemd-analyze and logrotate check the unit files and the logrotate file
# that make install installs).
PEERS="coturn iproute2 procps curl openssl openssh-server openssh-client python3 iperf3
  dnsmasq-base nftables python3-websockets python3-slixmpp python3-aiodns prosody wrk nginx haproxy chromium
  systemd logrotate"
# What `make demo` runs: turnutils (coturn), sshd, curl, openssl, the
# webbridge stand-in (python3-websockets), Chromium for the call bridge's
# headless media end; as root also the namespaces' DNS and firewall
# (dnsmasq, nftables, iproute2).
if [ "${1:-}" = demo ]; then
    PEERS="coturn procps curl openssl openssh-server python3 python3-websockets chromium
      iproute2 dnsmasq-base nftables"
fi

missing=""
for p in $BUILD $PEERS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
npm_tools() {
    [ -d tests/browser/node_modules/playwright-core ] && return 0
    command -v npm > /dev/null || { echo "install-deps: no npm: the browser tests will be skipped" >&2; return 0; }
    echo "install-deps: npm install in tests/browser (playwright-core)"
    (cd tests/browser && npm install --no-audit --no-fund --loglevel=error) ||
        { echo "install-deps: npm install failed: the browser tests will be skipped" >&2; return 0; }
}
cd "$(dirname "$0")/.."
if [ -z "$missing" ]; then npm_tools "${1:-}"; exit 0; fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system services (coturn, sshd) on this host:
# Causeway's tests start their own instances on their own ports.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi
trap '[ "$made_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
npm_tools "${1:-}"
