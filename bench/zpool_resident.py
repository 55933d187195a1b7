#!/usr/bin/env python3
# zpool_resident.py GUESTMM [--pairs N] [--ws SIZE] [--mem M1,M2,...]
#
# Issue 19's host-resident figure for the two zswap pools: a working-set
# guest (our guest runtime as a process, guest RAM in a memfd, reporting on,
# zipfian reads and writes over a working set larger than RAM) run with
# --zpool zbud and --zpool dense at several guest sizes, A B A B at each
# size.  The working set is fixed (--working-set), so a smaller guest is
# more memory left to the host.  Per size and pool: the host-resident peak
# (the host's accounting of the memfd, from `guestmm run --json`), the
# access rate (accesses per wall second and per CPU second of the guest
# process), swap-ins (major faults) and zswap's stored pages; medians.
#
# Under pressure a guest keeps its RAM full whatever the pool, so the two
# pools leave the same resident at one size; the pool that keeps more pages
# compressed serves the same access rate from less RAM.  The script says,
# for each pool, the least guest size whose median rate reaches the other
# pool's rate at the largest size, read off the sizes measured.
import json, os, subprocess, sys, statistics

def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * mult[s[-1]]) if s[-1] in mult else int(s)

def main():
    if len(sys.argv) < 2:
        sys.exit("usage: zpool_resident.py GUESTMM [--pairs N] [--ws SIZE] [--mem M1,M2,...] [--accesses N]")
    exe = sys.argv[1]
    opts = {"--pairs": "3", "--ws": "384M", "--mem": "192M,224M,256M,320M",
            "--accesses": "3000000"}
    a = sys.argv[2:]
    while a:
        if a[0] not in opts or len(a) < 2:
            sys.exit(f"zpool_resident.py: unknown option or missing value: {a[0]}")
        opts[a[0]] = a[1]
        a = a[2:]
    pairs = int(opts["--pairs"])
    mems = opts["--mem"].split(",")
    rows = {}
    for m in mems:
        for i in range(pairs):
            for pool in ("zbud", "dense"):
                cmd = [exe, "run", "--workload", "working-set", "--zpool", pool,
                       "--mem", m, "--working-set", opts["--ws"],
                       "--accesses", opts["--accesses"], "--json"]
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode:
                    sys.exit(f"zpool_resident.py: {' '.join(cmd)} exited {p.returncode}: {p.stderr.decode().strip().splitlines()[-1:]}")
                d = json.loads(p.stdout)
                if not d["accesses"] or not d["measured_s"] or not d["host_resident_peak_bytes"]:
                    sys.exit(f"zpool_resident.py: {pool} at {m} measured nothing")
                if d["mismatches"] or d["unreadable_pages"]:
                    sys.exit(f"zpool_resident.py: {pool} at {m}: {d['mismatches']} mismatches, {d['unreadable_pages']} unreadable pages")
                cpu = d["cpu_user_s"] + d["cpu_sys_s"]
                rows.setdefault((m, pool), []).append((
                    d["host_resident_peak_bytes"] / (1 << 20),
                    d["accesses"] / d["measured_s"],
                    d["accesses"] / cpu,
                    d["vmstat"]["pgmajfault"],
                    d["vmstat"]["pswpin"],
                    d["zswap"]["stored_pages"]))
                print(f"# {m} {pool} pair {i + 1}: {d['accesses'] / d['measured_s']:.0f} accesses/s", file=sys.stderr, flush=True)
    print("| guest RAM | pool | host resident peak, MiB | accesses/s | accesses per CPU-s | major faults | swap file reads | zswap stored pages |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    med = {}
    for m in mems:
        for pool in ("zbud", "dense"):
            r = rows[(m, pool)]
            cols = [statistics.median(x[k] for x in r) for k in range(6)]
            med[(m, pool)] = cols
            print(f"| {m} | {pool} | {cols[0]:.0f} | {cols[1]:.0f} | {cols[2]:.0f} | {cols[3]:.0f} | {cols[4]:.0f} | {cols[5]:.0f} |")
    for m in mems:
        print(f"- {m}: dense / zbud access rate {med[(m, 'dense')][1] / med[(m, 'zbud')][1]:.2f} "
              f"(per CPU-s {med[(m, 'dense')][2] / med[(m, 'zbud')][2]:.2f})")
    # The work a size costs, read without the machine's noise: the swap
    # file reads (each a 4 KiB read and a fault) for the same accesses.
    for m in mems:
        goal = med[(m, "zbud")][4]
        fit = [x for x in mems if med[(x, "dense")][4] <= goal]
        least = min(fit, key=parse_size) if fit else None
        print(f"- zbud at {m} reads {goal:.0f} pages from the swap file; dense reads no more with "
              + (f"{least} of RAM ({(parse_size(m) - parse_size(least)) >> 20} MiB less resident), "
                 f"at {med[(least, 'dense')][1] / med[(m, 'zbud')][1]:.2f}x zbud's access rate"
                 if least else "none of the sizes measured"))

main()
