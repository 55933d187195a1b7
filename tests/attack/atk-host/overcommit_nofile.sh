#!/bin/bash
# overcommit_nofile.sh - overcommit under RLIMIT_NOFILE 100 (accepted at
# start): guests fail for want of descriptors, far below the 2 GiB budget,
# and the run still ends with status 0 and a count of guests that "fit".
# Usage: overcommit_nofile.sh BUILD/guestmm
G=$(realpath ${1:-build/guestmm}); D=$(mktemp -d /work/tmp/atk-host/ocn.XXXX)
(ulimit -n 100; TMPDIR=$D timeout -s INT 150 "$G" overcommit --reporting on --max-guests 9 \
	--guest-mem 64M --host-mem 2G --observe-s 0 --stagger-s 1 --cgroup-root none \
	--json >$D/o.json 2>$D/err); rc=$?
python3 - "$D/o.json" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["on"]; rc = int(sys.argv[2])
print(f"status {rc}: alive {d['guests_alive']} of {d['guests_launched']} launched, failed {d['guests_failed']}, stopped_by {d['stopped_by']}, budget peak {d['budget_peak_usage_bytes']>>20} MiB of 2048")
sys.exit(1 if rc == 0 and d["guests_failed"] else 0)
PY
r=$?; grep -E "Too many|Argument list" $D/err | sed 's/guestmm-host-[^/]*/H/' | head -4; rm -rf $D
[ $r = 1 ] && echo "FAIL: descriptor failures counted as an overcommit result, status 0"; exit $r
