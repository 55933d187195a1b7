#!/bin/bash
# control_path.sh - the control socket's path rules, as a hostile operator
# meets them: a second host on a live control path, a stale socket left by
# a killed host, a path that is a regular file, a directory we may not
# enter.  Each must end in one clear line (or, for the stale socket, be
# taken over); no host may remove another's live socket.
# Usage: control_path.sh BUILD/guestmm
G=$(realpath ${1:-build/guestmm})
mkdir -p /work/tmp/atk
D=$(mktemp -d /work/tmp/atk/ctlpath.XXXX); fail=0
check() { # what, expected-rc, got-rc, stderr-file, needle
	local lines; lines=$(wc -l <"$4")
	if [ "$3" != "$2" ] || { [ -n "$5" ] && ! grep -q -- "$5" "$4"; } || [ "$lines" -gt 2 ]; then
		echo "FAIL: $1: rc $3 (wanted $2), stderr: $(cat "$4")"; fail=1
	else
		echo "ok: $1: $(head -1 "$4")"
	fi
}
$G host --listen $D/a.sock --control $D/c.sock --quiet --duration 20 >/dev/null 2>$D/a.err &
A=$!
for i in $(seq 100); do [ -S $D/c.sock ] && break; sleep 0.1; done
# A second host on the live control path: refused, the first keeps it.
timeout 10 $G host --listen $D/b.sock --control $D/c.sock --quiet --duration 2 >/dev/null 2>$D/b.err
check "second host on a live control path" 1 $? $D/b.err "c.sock"
timeout 5 $G ctl $D/c.sock guests >$D/ctl.out 2>$D/ctl.err
check "the first host still answers" 0 $? $D/ctl.err ""
[ -S $D/b.sock ] && { echo "FAIL: the refused host left its device socket $D/b.sock"; fail=1; }
kill -KILL $A; wait $A 2>/dev/null
# Its sockets are now stale: the next host takes them over.
timeout 10 $G host --listen $D/a.sock --control $D/c.sock --quiet --duration 1 >/dev/null 2>$D/s.err
check "a stale control socket is taken over" 0 $? $D/s.err ""
# A regular file where the socket should be: refused, left alone.
echo keep >$D/f.sock
timeout 10 $G host --listen $D/a.sock --control $D/f.sock --quiet --duration 1 >/dev/null 2>$D/f.err
check "a regular file at the control path" 1 $? $D/f.err "f.sock"
grep -qx keep $D/f.sock || { echo "FAIL: the regular file was replaced"; fail=1; }
# ctl on paths that are not sockets.
timeout 5 $G ctl $D/f.sock guests >/dev/null 2>$D/g.err
check "ctl on a regular file" 1 $? $D/g.err "not a socket"
if [ "$(id -u)" != 0 ]; then
	mkdir -m 000 $D/closed
	timeout 5 $G ctl $D/closed/c.sock guests >/dev/null 2>$D/p.err
	check "ctl in a directory it may not enter" 1 $? $D/p.err "Permission denied"
fi
rm -rf $D
exit $fail
