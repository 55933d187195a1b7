#!/bin/sh
# kernel_qemu.sh KERNEL firstline|pagefault [ROUNDS] - the guest kernel's
# own figures on QEMU's microvm (TCG unless KERNEL_QEMU_ACCEL says kvm),
# 2 GiB with QEMU's virtio-balloon-device (free-page-reporting=on):
#
#   firstline  seconds from QEMU's start to the kernel's first console
#              line (the banner), 2 vCPUs; ROUNDS runs, the median
#   pagefault  page_fault1 inside the kernel (1 s warm-up, then 3 s
#              measured, as `guestmm bench overhead`) with reporting on and
#              off, at 1 and 2 vCPUs, alternately (on off on off ...);
#              the medians of frames/s and their ratio on/off
#
# Run it quiet: nice -n -20, /proc/sys/kernel/sched_autogroup_enabled 0.
# A run that measured nothing (no banner, no gmm-end) fails saying so.
set -u
kernel=$1
what=$2
rounds=${3:-5}
qemu=${QEMU:-qemu-system-x86_64}
accel=${KERNEL_QEMU_ACCEL:-tcg,thread=multi}
command -v "$qemu" >/dev/null || { echo "bench: no $qemu"; exit 1; }
command -v python3 >/dev/null || { echo "bench: needs python3"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

qemu_args() { # SMP APPEND
	echo "-M microvm -accel $accel -smp $1 -m 2G -nographic -no-reboot -nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -global virtio-mmio.force-legacy=false -device virtio-balloon-device,free-page-reporting=on -kernel $kernel"
}

case $what in
firstline)
	for i in $(seq "$rounds"); do
		# The clock starts before QEMU is exec'd; the first line read
		# from its stdout stops it.
		python3 - "$qemu" $(qemu_args 2 x) -append "--workload none" <<'EOF' >>"$tmp/t" ||
import subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
line = p.stdout.readline()
t = time.monotonic() - t0
p.stdout.read()
p.wait()
if not line.startswith(b"guestmm-kernel"):
    sys.exit("bench: the first line was not the banner: %r" % line)
print("%.3f" % t)
EOF
			exit 1
	done
	echo "first console line after QEMU's start: median $(median <"$tmp/t") s of $rounds runs ($(tr '\n' ' ' <"$tmp/t")s), 2 vCPUs, 2 GiB, $accel"
	;;
pagefault)
	for cpus in 1 2; do
		: >"$tmp/on"
		: >"$tmp/off"
		for i in $(seq "$rounds"); do
			for r in on off; do
				$qemu $(qemu_args $cpus x) -append "--workload pagefault --warmup-ms 1000 --duration-ms 4000 --reporting $r" >"$tmp/out" 2>&1
				rc=$?
				fps=$(awk '$1 == "gmm-end" { print $5 }' "$tmp/out")
				[ "$rc" = 33 ] && [ -n "$fps" ] && [ "${fps%.*}" -gt 0 ] || {
					grep -v '^gmm-sample' "$tmp/out" | tail -20
					echo "bench: pagefault $cpus vCPUs reporting $r: exit $rc, measured nothing"
					exit 1
				}
				echo "$fps" >>"$tmp/$r"
			done
		done
		on=$(median <"$tmp/on")
		off=$(median <"$tmp/off")
		echo "page_fault1 in the kernel, $cpus vCPUs: reporting on $on frames/s, off $off frames/s (medians of $rounds, alternated): on/off $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')"
	done
	;;
*)
	echo "bench: firstline or pagefault"
	exit 2
	;;
esac
