#!/bin/bash
# fleet_nofile.sh - `host --guests ours:N` under a descriptor limit the host
# accepts (>= 100): every guest asked for should start, attach and report, or
# the host should refuse at start / fail.  Prints what was lost; exit 1 when
# guests were lost while the host exited 0.
# Usage: fleet_nofile.sh BUILD/guestmm NOFILE N [SECS]
G=$(realpath ${1:-build/guestmm}); L=${2:-100}; N=${3:-12}; T=${4:-10}
D=$(mktemp -d /work/tmp/atk-host/fleet.XXXX)
(ulimit -n $L; TMPDIR=$D timeout -s INT $((T + 60)) "$G" host --guests ours:$N --guest-mem 64M \
	--cgroup-root none --duration $T --idle-ms 3000 --hold-ms 300 \
	--stagger-ms 100 --json >$D/out.json 2>$D/err); rc=$?
python3 - "$D/out.json" "$N" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2]); rc = int(sys.argv[3])
gs = d["guests"]
dead = [g["name"] for g in gs if g["state"] != "alive"]
print(f"host rc={rc}: asked {n} guests, JSON lists {len(gs)}, alive {d['guests_alive']}, ended {dead}")
sys.exit(1 if rc == 0 and (len(gs) != n or d["guests_alive"] != n) else 0)
PY
r=$?
grep -E "Too many open|Argument list|want of desc" $D/err | sed 's/guestmm-host-[^/]*/H/' | cut -c1-160 | sort | uniq -c | sort -rn | head -6
rm -rf $D
[ $r = 1 ] && echo "FAIL: guests lost under RLIMIT_NOFILE $L, host exit status 0"
exit $r
