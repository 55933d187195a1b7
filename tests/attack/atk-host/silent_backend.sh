#!/bin/bash
# silent_backend.sh - a vhost-user backend that accepts the guest and never
# answers (a host deadlocked, or hostile).  Since the 5 s timeout went, the
# process guest waits for ever and says nothing: no line in SECS seconds.
# Usage: silent_backend.sh BUILD/guestmm [SECS]
G=$(realpath ${1:-build/guestmm}); T=${2:-20}
D=$(mktemp -d /work/tmp/atk-host/silent.XXXX); S=$D/b.sock
python3 - "$S" "$((T + 5))" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
c.recv(4096)                 # the guest's first request; no reply, ever
time.sleep(float(sys.argv[2]))
PY
B=$!
while [ ! -S $S ]; do sleep 0.1; done
start=$(date +%s)
timeout $T $G guest --socket $S --mem-bytes $((64 << 20)) --workload memhog --cycles 1 >$D/out 2>$D/err
rc=$?
echo "guest rc=$rc after $(( $(date +%s) - start )) s; stderr lines: $(wc -l <$D/err); stdout lines: $(wc -l <$D/out)"
cat $D/err
quiet=0; [ -s $D/err ] || quiet=1
kill $B 2>/dev/null; wait $B 2>/dev/null; rm -rf $D
if [ $rc = 124 ] && [ $quiet = 1 ]; then echo "FAIL: the guest waited $T s for a reply without a word"; exit 1; fi
