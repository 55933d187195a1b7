#!/bin/sh
# Every swap write fails: the whole device goes bad in the first 0.5 s, then
# the working set stops (each failed fault scans 32x the LRU) and the run
# still exits 0.  Fails (exit 1) when the accesses of the last 2 s are < 1000.
set -u
B=${1:-/work/wt/atk-mm/build}
export TMPDIR=/work/tmp/atk-mm
out=$TMPDIR/dead_swap.err
GMM_TEST_SWAP_WRITE_FAIL_FROM=1 timeout 60 "$B/guestmm_swapfault" run --in-process \
  --workload working-set --mem 64M --duration 3 --json >/dev/null 2>"$out"
rc=$?
a1=$(grep -E '^ +1\.0s' "$out" | sed -E 's/.* ([0-9]+) accesses.*/\1/')
a3=$(grep -E '^ +3\.0s' "$out" | sed -E 's/.* ([0-9]+) accesses.*/\1/')
grep -E 'swap-inject|^ +(0\.5|1\.0|3\.0)s' "$out" | sed -E 's/guest free.*swap /swap /'
echo "status $rc; accesses at 1.0 s: $a1, at 3.0 s: $a3"
[ $((a3 - a1)) -ge 1000 ] || { echo "FAIL: $((a3 - a1)) accesses in 2 s with a dead swap device, status $rc"; exit 1; }
