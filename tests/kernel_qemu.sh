#!/bin/sh
# kernel_qemu.sh KERNEL CASE - boot the guest kernel on QEMU's microvm
# under TCG and check what it prints and how the machine ends.  Skipped
# (77) only where qemu-system-x86_64 is missing.  Every run is bounded by
# the workload's size and by a timeout that kills QEMU and says so.
#
#   boot1, boot2  a small memhog at 1 and 2 vCPUs: banner, memory map, the
#                 CPUs found, the console protocol to gmm-done, status 33
#   stress4       4 vCPUs (more than CI's cores) run stress: every block
#                 verified, no mismatch, status 33
#   fault         --crash null: the fault line (vector, error, RIP, CR2),
#                 a backtrace, status 37
#   badargs       an unknown option: one line that says so, status 39;
#                 an option given twice: the same
#   stay          --stay on: after its figures "gmm-stay", and the machine
#                 stays up until "quit" comes on the console (another word
#                 is answered and ignored); then gmm-done and status 33
#   return_on     memhog with free page reporting through QEMU's
#   return_off    virtio-balloon-device (virtio-mmio, guest RAM in a memfd):
#                 on, the memfd's allocated blocks fall by most of what
#                 memhog freed; off, they do not
#   poison_zero   return_on with page-poison=on and --poison zero
#                 (init_on_free): PAGE_POISON negotiated, poison_val 0, so
#                 QEMU still discards: the memfd falls as with return_on,
#                 and no allocation finds its poison changed
#   poison_aa     --poison 0xaa: PAGE_POISON negotiated with poison_val
#                 0xaaaaaaaa, which QEMU does not discard (it would zero
#                 the poison): the memfd keeps it all, and nothing
#                 mismatches (a discarded frame would: status 35)
set -u
kernel=$1
case=$2
qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 || {
	echo "kernel_qemu: no $qemu (apt-get install qemu-system-x86): skipped"
	exit 77
}
[ -f "$kernel" ] || { echo "kernel_qemu: no kernel image $kernel"; exit 1; }
tmp=$(mktemp -d) || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "kernel_qemu $case: $*"
	echo "---- console:"
	grep -v '^gmm-sample' "$tmp/out" | tail -60
	exit 1
}

# Under a loaded CI machine TCG is slow: the bound is generous, and a
# kernel that hangs is killed at it, never waited for.
LIMIT=${KERNEL_QEMU_LIMIT:-300}

# qemu_run SMP MEM APPEND [extra QEMU arguments]: status in $status.
qemu_run() {
	smp=$1 mem=$2 append=$3
	shift 3
	timeout -k 5 "$LIMIT" "$qemu" -M microvm -accel tcg,thread=multi \
		-smp "$smp" -m "$mem" -nographic -no-reboot -nodefaults \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false \
		-kernel "$kernel" -append "$append" "$@" >"$tmp/out" 2>&1
	status=$?
	[ "$status" = 124 ] || [ "$status" = 137 ] &&
		fail "QEMU killed after ${LIMIT} s: the kernel hung"
	return 0
}

expect() {
	grep -q -- "$1" "$tmp/out" || fail "no line matching '$1'"
}

check_status() {
	[ "$status" = "$1" ] || fail "QEMU exited $status, expected $1"
}

boot() {
	qemu_run "$1" 256M "--workload memhog --hog-bytes 67108864 --cycles 1 --hold-ms 100 --sleep-ms 0"
	expect "^guestmm-kernel .*booted by PVH"
	expect "^memory map from the VMM"
	expect "^smp: $1 CPUs online"
	expect "^gmm-ready "
	expect "^gmm-phase 3"
	expect "^gmm-end "
	expect "^gmm-done"
	check_status 33
}

# Wait (bounded) for a console line matching $1 while QEMU $pid runs.
wait_for() {
	t=0
	until grep -q -- "$1" "$tmp/out"; do
		kill -0 "$pid" 2>/dev/null || fail "QEMU ended before a line matching '$1'"
		t=$((t + 1))
		[ "$t" -gt $((LIMIT * 5)) ] && fail "no line matching '$1' after ${LIMIT} s"
		sleep 0.2
	done
}

# --stay on: the console is a FIFO the script writes the runner's words to.
stay() {
	mkfifo "$tmp/in" || fail "mkfifo"
	timeout -k 5 "$LIMIT" "$qemu" -M microvm -accel tcg,thread=multi \
		-smp 2 -m 256M -nographic -no-reboot -nodefaults \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false \
		-device virtio-balloon-device,free-page-reporting=on \
		-kernel "$kernel" \
		-append "--workload memhog --hog-bytes 33554432 --cycles 1 --hold-ms 100 --sleep-ms 0 --stay on" \
		<"$tmp/in" >"$tmp/out" 2>&1 &
	pid=$!
	exec 3>"$tmp/in"
	wait_for "^gmm-end "
	wait_for "^gmm-stay"
	echo stop >&3
	wait_for "console: 'stop' is not quit: still staying"
	grep -q "^gmm-done" "$tmp/out" && fail "gmm-done before quit"
	kill -0 "$pid" 2>/dev/null || fail "QEMU ended on a word that is not quit"
	echo quit >&3
	wait "$pid"
	status=$?
	pid=
	exec 3>&-
	[ "$status" = 124 ] || [ "$status" = 137 ] &&
		fail "QEMU killed after ${LIMIT} s: the kernel hung"
	expect "^gmm-done"
	check_status 33
}

# The memfd behind guest RAM in QEMU $pid: its allocated bytes.
memfd_bytes() {
	for f in /proc/"$pid"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		/memfd:memory-backend-memfd*)
			# Empty when QEMU is gone in between.
			n=$(stat -L -c '%b * %B' "$f" 2>/dev/null) &&
				echo $(($n))
			return ;;
		esac
	done
}

# Memhog 384 MiB of a 512 MiB guest, once; the freed memory is held
# unreported by nothing but the guest: sample the memfd while memhog
# holds (the peak) and while it sleeps after freeing (the least).
# returned on|off [POISON]: POISON is --poison's value (page-poison=on).
returned() {
	hog=$((384 << 20))
	poison=${2:-off}
	"$qemu" -M microvm,memory-backend=ram -accel tcg,thread=multi \
		-object memory-backend-memfd,id=ram,size=512M,share=on \
		-smp 2 -m 512M -nographic -no-reboot -nodefaults -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false \
		-device virtio-balloon-device,free-page-reporting=on,page-poison=on \
		-kernel "$kernel" \
		-append "--workload memhog --hog-bytes $hog --cycles 1 --hold-ms 2000 --sleep-ms 6000 --reporting $1 --report-delay-ms 500 --poison $poison" \
		>"$tmp/out" 2>&1 &
	pid=$!
	peak=0 held=0 least= t=0
	while kill -0 "$pid" 2>/dev/null; do
		t=$((t + 1))
		[ "$t" -gt $((LIMIT * 5)) ] && fail "QEMU killed after ${LIMIT} s: the kernel hung"
		b=$(memfd_bytes)
		[ -n "$b" ] || { sleep 0.2; continue; }
		phase=$(grep '^gmm-phase' "$tmp/out" | tail -1)
		case $phase in
		"gmm-phase 2") held=1; [ "$b" -gt "$peak" ] && peak=$b ;;
		"gmm-phase 3") [ -z "$least" ] || [ "$b" -lt "$least" ] && least=$b ;;
		esac
		sleep 0.2
	done
	wait "$pid"
	status=$?
	pid=
	check_status 33
	expect "^gmm-done"
	[ "$held" = 1 ] && [ -n "$least" ] ||
		fail "no sample of the memfd while memhog held and after it freed"
	back=$((peak - least))
	echo "kernel_qemu $case: memfd peak $((peak >> 20)) MiB while held, least $((least >> 20)) MiB after the free: $((back >> 20)) MiB back of $((hog >> 20)) MiB freed"
	# gmm-end: elapsed measured frames rate blocks errors ...
	set -- "$1" $(grep '^gmm-end ' "$tmp/out")
	[ "$8" = 0 ] || fail "memhog found $8 errors"
	# gmm-ready OFFERED NEGOTIATED REPORTING: PAGE_POISON is bit 4.
	set -- "$1" $(grep '^gmm-ready ' "$tmp/out")
	if [ "$poison" = off ]; then
		[ $(($4 & 16)) = 0 ] || fail "PAGE_POISON negotiated with no poisoning"
	else
		expect "^mm: page poisoning: free memory holds"
		[ $(($4 & 16)) = 16 ] || fail "PAGE_POISON not negotiated with --poison $poison"
	fi
	if [ "$poison" != off ] && [ "$poison" != zero ]; then
		# Reported, acknowledged, not discarded: the poison stays.
		expect "^gmm-ready [0-9]* [0-9]* 1"
		[ "$back" -le $((hog / 20)) ] ||
			fail "poison $poison: $((back >> 20)) MiB were discarded (QEMU must keep a non-zero poison)"
	elif [ "$1" = on ]; then
		expect "^gmm-ready [0-9]* [0-9]* 1"
		# Most of it: the guest keeps its own metadata, thread stacks,
		# and blocks below the reporting order.
		[ "$back" -ge $((hog * 8 / 10)) ] ||
			fail "reporting on: only $((back >> 20)) MiB of $((hog >> 20)) MiB came back"
	else
		expect "^gmm-ready [0-9]* [0-9]* 0"
		[ "$back" -le $((hog / 20)) ] ||
			fail "reporting off: $((back >> 20)) MiB came back"
		[ "$peak" -ge "$hog" ] || fail "memhog's $((hog >> 20)) MiB never reached the memfd ($((peak >> 20)) MiB)"
	fi
}

case $case in
boot1) boot 1 ;;
boot2) boot 2 ;;
stress4)
	qemu_run 4 512M "--workload stress --duration-ms 3000"
	expect "^smp: 4 CPUs online"
	expect "^gmm-end "
	expect "^gmm-done"
	# gmm-end: elapsed measured frames rate blocks errors failures ...
	set -- $(grep '^gmm-end ' "$tmp/out")
	[ "$6" -gt 0 ] || fail "stress verified no block"
	[ "$7" = 0 ] || fail "stress found $7 mismatches"
	check_status 33
	;;
fault)
	qemu_run 2 256M "--workload none --crash null"
	expect "fault: #PF page fault (vector 14), error 0 .*, rip 0x[0-9a-f]*, cr2 0 "
	expect "backtrace"
	check_status 37
	;;
badargs)
	qemu_run 1 256M "--workload memhog --no-such-option 1"
	expect "command line: unrecognized argument '--no-such-option'"
	check_status 39
	qemu_run 1 256M "--workload memhog --poison 0x1ff"
	expect "command line: --poison: '0x1ff' is not off, zero or a byte 0x00 to 0xff"
	check_status 39
	qemu_run 1 256M "--workload memhog --cycles 1 --workload stress"
	expect "command line: --workload given twice"
	check_status 39
	;;
stay) stay ;;
return_on) returned on ;;
return_off) returned off ;;
poison_zero) returned on zero ;;
poison_aa) returned on 0xaa ;;
*) echo "kernel_qemu: unknown case $case"; exit 2 ;;
esac
exit 0
