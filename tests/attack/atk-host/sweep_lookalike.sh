#!/bin/bash
# sweep_lookalike.sh - any guestmm command deletes a user's directory in
# $TMPDIR whose name only looks like one of ours (guestmm-KIND-PID-XXXXXX
# with KIND any 1-5 lower-case letters, PID no live process).
# Usage: sweep_lookalike.sh BUILD/guestmm
G=$(realpath ${1:-build/guestmm})
export TMPDIR=$(mktemp -d /work/tmp/atk-host/look.XXXX)
pid=$( (sh -c 'echo $$') ); # a pid that has just ended
u=$TMPDIR/guestmm-notes-$pid-backup
mkdir -p $u/chapter1 && echo "two years of work" > $u/chapter1/thesis.tex
$G run --in-process --mem 64M --workload pagefault --duration 1 --quiet >/dev/null 2>&1
# in-process makes no directory: a process guest does (the sweep is in tmp_dir_create)
$G run --mem 64M --workload pagefault --duration 1 --quiet >/dev/null 2>&1
if [ -e $u/chapter1/thesis.tex ]; then echo "ok: $u kept"; r=0
else echo "FAIL: 'guestmm run' deleted $u and its thesis.tex"; r=1; fi
rm -rf $TMPDIR; exit $r
