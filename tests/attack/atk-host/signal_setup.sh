#!/bin/bash
# signal_setup.sh - SIGTERM/SIGHUP/SIGINT to `host --guests` and `run` at
# random moments of their setup: are directories or guest processes left?
# Usage: signal_setup.sh BUILD/guestmm [ROUNDS]
G=$(realpath ${1:-build/guestmm}); N=${2:-10}
export TMPDIR=$(mktemp -d /work/tmp/atk-host/sig.XXXX)
sigs=(TERM HUP INT)
for i in $(seq 1 $N); do
	s=${sigs[$((i % 3))]}
	if [ $((i % 2)) = 0 ]; then
		$G host --guests ours:2 --guest-mem 64M --cgroup-root none --quiet >/dev/null 2>&1 &
	else
		$G run --mem 64M --workload pagefault --duration 5 --quiet >/dev/null 2>&1 &
	fi
	p=$!
	sleep 0.$((RANDOM % 6))$((RANDOM % 10))
	kill -$s $p; wait $p; rc=$?
	sleep 0.3
	left=$(ls $TMPDIR | wc -l)
	orph=$(pgrep -f "^$G guest" | wc -l)
	echo "round $i SIG$s rc=$rc leftovers=$left orphan_guests=$orph $(ls $TMPDIR | tr '\n' ' ')"
	pkill -KILL -f "^$G guest" 2>/dev/null  # only our own build's guest processes
	rm -rf $TMPDIR/*
done
rmdir $TMPDIR
