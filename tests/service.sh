#!/bin/sh
# service.sh BUILD - guestmm-host@.service as `make install` leaves it
# passes `systemd-analyze verify` without a word (its directives, the
# binary it starts, the man page it names), and so does the example conf's
# instance; a unit with a mistake in it does not, so the check can fail.
# Skipped (77) where systemd-analyze is missing (apt-get install systemd).
set -u
build=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "service: $*"
	exit 1
}
command -v systemd-analyze >/dev/null ||
	{ echo "service: no systemd-analyze (apt-get install systemd): unit not checked"; exit 77; }

# Installed under a prefix of its own, so that the unit's ExecStart names
# a binary that is there.
cmake --install "$build" --prefix "$tmp/usr" >"$tmp/log" 2>&1 ||
	{ cat "$tmp/log"; fail "cmake --install --prefix $tmp/usr failed"; }
unit=$tmp/usr/lib/systemd/system/guestmm-host@.service
[ -f "$unit" ] || fail "no $unit"
grep -q "^ExecStart=$tmp/usr/bin/guestmm host \$GUESTMM_HOST_ARGS\$" "$unit" ||
	fail "ExecStart does not name the installed binary: $(grep ^ExecStart "$unit")"
grep -q '^Type=notify$' "$unit" || fail "not Type=notify"
[ -f "$tmp/usr/share/doc/guestmm/example.conf" ] || fail "no example.conf installed"

export MANPATH="$tmp/usr/share/man"
verify() {
	(cd "$(dirname "$1")" && systemd-analyze verify "./$(basename "$1")") >"$tmp/out" 2>&1
}
verify "$unit" || { cat "$tmp/out"; fail "systemd-analyze verify $unit exits non-zero"; }
[ -s "$tmp/out" ] && { cat "$tmp/out"; fail "systemd-analyze verify $unit warns"; }
cp "$unit" "$tmp/guestmm-host@vm1.service"
verify "$tmp/guestmm-host@vm1.service" ||
	{ cat "$tmp/out"; fail "systemd-analyze verify of instance vm1 exits non-zero"; }

# The example conf's arguments are ones guestmm host takes: as systemd
# splits them, with NAME an instance's name.
args=$(sed -n 's/^GUESTMM_HOST_ARGS=//p' "$tmp/usr/share/doc/guestmm/example.conf" |
	sed "s|/run/guestmm/NAME|$tmp|g")
[ -n "$args" ] || fail "example.conf sets no GUESTMM_HOST_ARGS"
# shellcheck disable=SC2086
"$tmp/usr/bin/guestmm" host $args --metrics 0 --duration 1 --quiet >"$tmp/run" 2>&1 ||
	{ cat "$tmp/run"; fail "guestmm host with example.conf's arguments exits $?"; }

# A mistake is caught.
sed 's/^Type=notify$/Type=notifyy/' "$unit" >"$tmp/guestmm-host@bad.service"
verify "$tmp/guestmm-host@bad.service" && [ ! -s "$tmp/out" ] &&
	fail "systemd-analyze verify passes a unit with Type=notifyy"
echo "service: unit verified"
exit 0
