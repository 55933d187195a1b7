#!/bin/bash
# linux_sigkill.sh - SIGKILL `run --linux` mid-boot / mid-run: do the
# user-mode Linux kernel and its helpers die with it (the keeper), and does
# the next start remove its directory?  Needs a tmpfs TMPDIR.
# Usage: linux_sigkill.sh BUILD/guestmm [SECS_BEFORE_KILL]
G=$(realpath ${1:-build/guestmm}); W=${2:-6}
export TMPDIR=$(mktemp -d /dev/shm/atk-host-lk.XXXX)
$G run --linux --mem 128M --cycles 2 --quiet >$TMPDIR/../lk.out 2>&1 &
R=$!; sleep $W
kids=$(pgrep -f "$TMPDIR")
echo "before: $(ls $TMPDIR | tr '\n' ' '); processes naming TMPDIR: $(echo $kids | wc -w)"
kill -KILL $R; wait $R 2>/dev/null; sleep 2
left=$(pgrep -f "$TMPDIR")
echo "2 s after SIGKILL: $(ls $TMPDIR | tr '\n' ' '); processes still naming TMPDIR: $(echo $left | wc -w)"
timeout 30 $G run --mem 64M --workload pagefault --duration 1 --quiet >/dev/null 2>&1
echo "after the next run: $(ls $TMPDIR | tr '\n' ' ')"
r=0; [ -n "$left" ] && { echo "FAIL: user-mode Linux outlived its host"; r=1; }
[ -n "$(ls $TMPDIR)" ] && { echo "FAIL: leftovers"; r=1; }
for p in $left; do kill -KILL $p 2>/dev/null; done
rm -rf $TMPDIR; exit $r
