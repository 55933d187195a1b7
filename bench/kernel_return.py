#!/usr/bin/env python3
# kernel_return.py KERNEL on|off - memhog of 1.5 GiB (75 %) in a 2 GiB
# guest kernel with 2 vCPUs on QEMU's microvm (TCG), guest RAM in a memfd,
# QEMU's virtio-balloon-device with free-page-reporting=on: the memfd's
# allocated blocks (the host's accounting) sampled every 50 ms while memhog
# holds and after it frees; prints when 90 % of what it freed was back and
# how much was back at the report delay (2 s) + 1 s.  qemurun's
# `bench return --guest qemu` is the benchmark; this is the kernel's check.
import subprocess, sys, time, os, glob, threading
K = sys.argv[1]; rep = sys.argv[2]
args = ["qemu-system-x86_64", "-M", "microvm,memory-backend=ram", "-object", "memory-backend-memfd,id=ram,size=2G,share=on",
        "-accel", "tcg,thread=multi", "-smp", "2", "-m", "2G", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-global", "virtio-mmio.force-legacy=false",
        "-device", "virtio-balloon-device,free-page-reporting=on", "-kernel", K,
        "-append", f"--workload memhog --cycles 1 --hold-ms 1000 --sleep-ms 8000 --reporting {rep}"]
p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
phase = [0, None]
def reader():
    for line in p.stdout:
        if line.startswith(b"gmm-phase"):
            phase[0] = int(line.split()[1])
            if phase[0] == 3: phase[1] = time.monotonic()
threading.Thread(target=reader, daemon=True).start()
def memfd():
    for x in glob.glob(f"/proc/{p.pid}/fd/*"):
        try:
            if "memory-backend-memfd" in os.readlink(x): return os.stat(x).st_blocks * 512
        except OSError: pass
    return None
peak = 0; samples = []
while p.poll() is None:
    b = memfd()
    if b is not None:
        if phase[0] == 2: peak = max(peak, b)
        if phase[0] == 3: samples.append((time.monotonic() - phase[1], b))
    time.sleep(0.05)
if p.returncode != 33 or not peak or not samples:
    sys.exit(f"kernel_return: measured nothing (exit {p.returncode}, {len(samples)} samples after the free, peak {peak})")
least = min(b for t, b in samples)
freed = peak - least
print(f"reporting {rep}: exit {p.returncode}, memfd peak {peak>>20} MiB held, least {least>>20} MiB after the free")
for t, b in samples:
    if peak - b >= 0.9 * (1536 << 20):
        print(f"  90 % of 1536 MiB back at {t:.2f} s after the free"); break
for t, b in samples:
    if t >= 3.0:
        print(f"  at delay + 1 s (3.0 s): {(peak - b)>>20} MiB back = {(peak-b)/(1536<<20)*100:.1f} % of 1536 MiB"); break
last = -1
for t, b in samples:
    if int(t) != last:
        last = int(t); print(f"  t={t:.1f}s back {(peak-b)>>20} MiB")
