#!/usr/bin/env bash
# install.sh - make install into a staging tree (DESTDIR), as a package
# build or an administrator would run it: the programs, the systemd units
# with ExecStart following PREFIX, the logrotate file; make uninstall takes
# them away again. (The docs check compares the units and the logrotate file
# with docs/deployment.md and runs systemd-analyze and logrotate on them.)
. "$(dirname "$0")/lib.sh"
R=$WORK/root
mk() { env -u MAKEFLAGS -u MFLAGS make --no-print-directory -C "$TOP" "$@" > "$WORK/make.log" 2>&1; }

check "make install DESTDIR=... succeeds" mk install DESTDIR="$R"
for p in causeway-edge causeway-core causeway; do
    check "$p in /usr/local/bin, mode 755" test "$(stat -c %a "$R/usr/local/bin/$p")" = 755
done
for p in causeway-edge causeway-core; do
    check "$p -V runs and names itself" sh -c "'$R/usr/local/bin/$p' -V | grep -Eqx '$p [0-9]+\.[0-9]+\.[0-9]+'"
done
for u in causeway-edge causeway-core; do
    f=$R/usr/local/lib/systemd/system/$u.service
    check "$u.service in /usr/local/lib/systemd/system, mode 644, running /usr/local/bin/$u" \
        sh -c "test \"\$(stat -c %a '$f')\" = 644 && grep -qx 'ExecStart=/usr/local/bin/$u -c /etc/causeway/${u#causeway-}.conf' '$f' && ! grep -q @BINDIR@ '$f'"
done
check "the logrotate file in /etc/logrotate.d/causeway, with edge, access and core logs" \
    sh -c "grep -q '^/var/log/causeway/edge.log /var/log/causeway/access.log {' '$R/etc/logrotate.d/causeway' && grep -q '^/var/log/causeway/core.log {' '$R/etc/logrotate.d/causeway'"
check "make uninstall DESTDIR=... leaves no file" \
    sh -c "env -u MAKEFLAGS make --no-print-directory -C '$TOP' uninstall DESTDIR='$R' > /dev/null 2>&1 && test -z \"\$(find '$R' -type f)\""
check "make install PREFIX=/usr: units run /usr/bin's programs" \
    sh -c "env -u MAKEFLAGS make --no-print-directory -C '$TOP' install PREFIX=/usr DESTDIR='$R' > /dev/null 2>&1 && grep -qx 'ExecStart=/usr/bin/causeway-edge -c /etc/causeway/edge.conf' '$R/usr/lib/systemd/system/causeway-edge.service' && test -x '$R/usr/bin/causeway-core'"
exit 0
