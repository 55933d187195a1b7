#!/bin/bash
# sweep_options.sh - every documented option in a mode its --help says it does
# not apply to: refused at once (status 2, one line) or accepted and ignored?
# Usage: sweep_options.sh BUILD/guestmm ; prints ACCEPTED for each case that
# was not refused within 3 s (status != 2).
G=${1:-build/guestmm}
export TMPDIR=${TMPDIR:-/work/tmp/atk-host}
S=$TMPDIR/sweep.sock
bad=0
try() {
	local out rc
	out=$(timeout -s INT 3 "$G" "$@" 2>&1 </dev/null); rc=$?
	if [ $rc -eq 2 ]; then
		printf 'refused   %-60s | %s\n' "$*" "$(echo "$out" | head -1)"
	else
		bad=$((bad+1))
		printf 'ACCEPTED  %-60s | rc=%d %s\n' "$*" $rc "$(echo "$out" | head -1)"
	fi
}
# run: "not --linux" / "only for" / per-strategy options
try run --linux --cpus 2
try run --linux --duration 5
try run --linux --warmup 1
try run --linux --compact
try run --linux --lock tas
try run --linux --lock-stats
try run --linux --report-order 10
try run --linux --report-hwm 4
try run --linux --report-capacity 8
try run --linux --report-min-age-ms 10
try run --linux --hint-entries 10
try run --linux --workload pagefault
try run --linux --seed 3
try run --warmup 1 --workload memhog
try run --warmup 1 --workload stress
try run --working-set 100M --workload memhog
try run --hog 100M --workload pagefault
try run --cycles 2 --workload pagefault
try run --hold-ms 10 --workload stress
try run --sleep-ms 10 --workload working-set
try run --seed 3 --workload memhog
try run --seed 3 --workload pagefault
try run --duration 2 --workload memhog
try run --hint-entries 10 --hinting report
try run --hint-entries 10 --hinting bitmap
try run --hint-poll-ms 100 --hinting report
try run --hint-poll-ms 100 --hinting percpu
try run --hint-cap 8M --hinting report
try run --report-capacity 8 --hinting bitmap
try run --report-hwm 4 --hinting percpu
try run --report-hwm 4 --hinting bitmap
try run --report-min-age-ms 5 --hinting percpu
try run --report-order 10 --hinting off
try run --report-delay-ms 100 --hinting off
try run --report-capacity 8 --reporting off
try run --uml /bin/true
try run --initrd /etc/passwd
try run --boot-timeout 5
try run --in-process --linux
try run --reporting off --hinting bitmap
try run --hinting bitmap --reporting off
try run --reporting on --hinting percpu
try run --in-process --hinting bitmap --hint-poll-ms 50
# host
try host --listen $S --hog 100M
try host --listen $S --watch 3
try host --listen $S --until-returned
try host --listen $S --init-on-free
try host --listen $S --console-log $TMPDIR/c.log
try host --listen $S --uml /bin/true
try host --listen $S --boot-timeout 5
try host --listen $S --budget 1G
try host --listen $S --hog-pct 50
try host --listen $S --idle-ms 10
try host --listen $S --stagger-ms 10
try host --listen $S --cgroup-root none
try host --listen $S --cpus 2
try host --listen $S --guest-mem 128M
try host --listen $S --linux-mem 128M
try host --duration 1 --hog 100M
try host --duration 1 --init-on-free
try host --linux --max-guest-mem 1G
try host --linux --duration 1
try host --linux --budget 1G
try host --linux --guest-mem 128M
try host --linux --cpus 2
try host --guests ours:1 --hog 100M
try host --guests ours:1 --target 100M
try host --guests ours:1 --watch 3
try host --guests ours:1 --until-returned
try host --guests ours:1 --init-on-free
try host --guests ours:1 --console-log $TMPDIR/c.log
try host --guests ours:1 --max-guest-mem 1G
try host --guests ours:1 --mem 128M
try host --guests ours:1 --linux-mem 128M
try host --guests ours:1 --uml /bin/true
try host --guests ours:1 --initrd /etc/passwd
try host --guests ours:1 --boot-timeout 5
try host --guests linux:1 --cpus 2
try host --guests ours:1 --listen $S
try host --guests ours:1 --linux
try host --json-lines --json --duration 1
try host --json --quiet --duration 1
# bench
try bench return --seconds 1
try bench cma --seconds 1
try bench compact --seconds 1
try bench offline --seconds 1
try bench zswap --seconds 1
try bench discard --seconds 1
try bench vhost --mem 1G
try bench zswap --mem 1G
try bench zswap --pairs 2 --mem 256M
try bench alloc --guest linux
try bench discard --guest ours
try bench cma --guest ours
try bench vhost --guest linux
try bench strategies --guest ours
try bench overhead --guest linux
try bench overhead --guest both
try bench scale --guest linux
try bench return --guest ours --boot-timeout 5
try bench overhead --boot-timeout 5
try bench overhead --plot $TMPDIR/x.png
try bench alloc --plot $TMPDIR/x.png
try bench overhead --threads 1,2
try bench return --threads 1,2
try bench strategies --lock tas
try bench return --lock tas
try bench zswap --threads 1
try bench nosuch
# overcommit
try overcommit --guest ours --uml /bin/true
try overcommit --guest ours --initrd /etc/passwd
try overcommit --guest ours --boot-timeout 5
try overcommit --reporting on --observe-s 0 --cgroup-root none --plot
echo "accepted (not refused): $bad"
