#!/usr/bin/env bash
# The Debian package end to end, as root on a Debian 12 machine (CI): build it,
# check its contents, install it, check the unit with systemd-analyze, start the
# installed banterd as the banter user with the packaged config on a spare
# loopback port, connect once, reload, stop, remove the package, and check that
# the data stayed. Leaves the machine as it found it.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "test-deb: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg -s banter >/dev/null 2>&1; then fail "a banter package is installed already; remove it first"; fi
had_user=$(getent passwd banter >/dev/null && echo yes || echo no)
had_data=$([ -e /var/lib/banter ] && echo yes || echo no)
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    dpkg --purge banter >/dev/null 2>&1 || true
    [ "$had_data" = no ] && rm -rf /var/lib/banter
    [ "$had_user" = no ] && getent passwd banter >/dev/null && deluser --system banter >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

packaging/build-deb.sh
deb=$(ls -t target/debian/banter_*.deb | head -1)
say "built $deb"

# Contents: binaries, the config as a conffile, the unit, docs.
dpkg-deb -c "$deb" >"$work/contents"
for f in ./usr/bin/banterd ./usr/bin/banter ./etc/banter/config.toml ./etc/banter/motd.txt \
    ./usr/lib/systemd/system/banterd.service ./usr/share/doc/banter/operations.md ./usr/share/doc/banter/copyright; do
    grep -q " $f\$" "$work/contents" || fail "$f is not in the package"
done
if grep -q "banter-bench" "$work/contents"; then fail "the load generator is packaged"; fi
dpkg-deb -I "$deb" conffiles | grep -qx /etc/banter/config.toml || fail "config.toml is not a conffile"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/banter/config.toml >"$work/config.toml"
grep -qx 'data_dir = "/var/lib/banter"' "$work/config.toml" || fail "the packaged config does not keep data in /var/lib/banter"

# Install.
dpkg -i "$deb"
getent passwd banter >/dev/null || fail "no banter user"
[ "$(stat -c %U /var/lib/banter)" = banter ] || fail "/var/lib/banter is not the banter user's"
[ "$(stat -c %G:%a /etc/banter)" = banter:750 ] || fail "/etc/banter is $(stat -c %G:%a /etc/banter), not banter:750"
systemd-analyze verify /usr/lib/systemd/system/banterd.service || fail "systemd-analyze verify"
runuser -u banter -- /usr/bin/banterd check-config --config /etc/banter/config.toml || fail "check-config"

# Run it as the banter user with the packaged config, on a spare port (port 0:
# the kernel picks one, and banterd logs which).
# setpriv execs banterd itself (runuser would stay as its parent and keep SIGHUP).
setpriv --reuid=banter --regid=banter --init-groups -- /usr/bin/banterd --config /etc/banter/config.toml \
    --listen 127.0.0.1:0 2>"$work/log" &
pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/log" >&2; fail "banterd did not start"; }
say "the installed banterd listens on 127.0.0.1:$port as $(ps -o user= -p "$pid")"
[ "$(ps -o user= -p "$pid")" = banter ] || fail "banterd does not run as the banter user"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'NICK debci\r\nUSER debci 0 * :debci\r\nQUIT :done\r\n' >&3
timeout 10 cat <&3 >"$work/session" || true
exec 3>&-
grep -q " 001 debci " "$work/session" || { cat "$work/session" >&2; fail "no welcome"; }
grep -q "^ERROR " "$work/session" || fail "no ERROR at QUIT"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "configuration reloaded" "$work/log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$work/log" || { cat "$work/log" >&2; fail "SIGHUP did not reload"; }
kill -TERM "$pid"
wait "$pid" || fail "banterd exited with $?"
pid=
[ -s /var/lib/banter/banter.db ] || fail "no account database in /var/lib/banter"

# Upgrade (the same version again): a changed conffile and the data stay.
echo "# changed by the administrator" >>/etc/banter/config.toml
dpkg -i --force-confold "$deb"
grep -qx "# changed by the administrator" /etc/banter/config.toml || fail "the upgrade replaced a changed config"
[ "$(stat -c %G:%a /etc/banter)" = banter:750 ] || fail "the upgrade lost /etc/banter's owner and mode"
[ -s /var/lib/banter/banter.db ] || fail "the upgrade removed the data"

# Remove: the binaries go, the data stays; purge keeps the data too.
dpkg -r banter
[ ! -e /usr/bin/banterd ] || fail "/usr/bin/banterd is still there after dpkg -r"
[ -s /var/lib/banter/banter.db ] || fail "dpkg -r removed the data"
dpkg --purge banter
[ -s /var/lib/banter/banter.db ] || fail "dpkg --purge removed the data"
say "ok: built, contents checked, installed, unit verified, served a client, reloaded, upgraded, removed with the data kept"
