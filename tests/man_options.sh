#!/bin/sh
# man_options.sh GUESTMM PAGE - guestmm(1) has not drifted from the binary:
# every command in `guestmm --help` has a section "guestmm CMD" in the page,
# and every --option in `guestmm CMD --help` is the tag of an entry (the
# line after .TP or .TQ) in that command's sections (those whose title
# starts "guestmm CMD"); every benchmark name in `guestmm bench --help` is
# the tag of an entry in the bench section.  Lists all that is
# missing, then fails.
set -u
bin=$1
page=$2
[ -x "$bin" ] || { echo "man_options: no binary $bin"; exit 1; }
[ -r "$page" ] || { echo "man_options: no man page $page"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# The page with roff's minus signs as plain hyphens.
sed 's/\\-/-/g' "$page" >"$tmp/page"

# section CMD: the entry tags (.TP/.TQ's next line) of every section whose
# title is "guestmm CMD" or starts "guestmm CMD " or "guestmm CMD:".
section() {
	awk -v cmd="guestmm $1" '
		/^\.S[HS] / { t = $0; sub(/^\.S[HS] +"?/, "", t); sub(/"$/, "", t)
			      on = (t == cmd || index(t, cmd " ") == 1 ||
				    index(t, cmd ":") == 1)
			      next }
		on && tag { print }
		{ tag = ($0 == ".TP" || $0 == ".TQ") }' "$tmp/page"
}

# has OPTION FILE: OPTION as a whole word (not the start of a longer one).
has() {
	grep -qE -- "$1([^a-z0-9-]|$)" "$2"
}

missing=0
lack() {
	echo "guestmm(1) lacks: $*"
	missing=$((missing + 1))
}

"$bin" --help >"$tmp/top" 2>&1 || { echo "man_options: $bin --help failed"; exit 1; }
for opt in $(grep -oE -- '--[a-z0-9][a-z0-9-]*' "$tmp/top" | sort -u); do
	has "$opt" "$tmp/page" || lack "guestmm $opt"
done
cmds=$(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$tmp/top")
[ -n "$cmds" ] || { echo "man_options: no commands in guestmm --help"; exit 1; }
checked=0
for cmd in $cmds; do
	[ "$cmd" = help ] && continue
	section "$cmd" >"$tmp/sec"
	if [ ! -s "$tmp/sec" ]; then
		lack "a section \"guestmm $cmd\" under OPTIONS"
		continue
	fi
	if ! "$bin" "$cmd" --help >"$tmp/help" 2>&1; then
		# guestmm guest takes no --help: its options are the
		# argv runner/process.c builds; nothing to compare.
		echo "man_options: guestmm $cmd has no --help; not compared"
		continue
	fi
	for opt in $(grep -oE -- '--[a-z0-9][a-z0-9-]*' "$tmp/help" | sort -u); do
		has "$opt" "$tmp/sec" || lack "guestmm $cmd $opt"
		checked=$((checked + 1))
	done
	if [ "$cmd" = bench ]; then
		names=$(sed -n 's/^  \([a-z][a-z0-9]*\) .*/\1/p' "$tmp/help")
		[ -n "$names" ] || lack "(no benchmark names found in bench --help)"
		for n in $names; do
			grep -qx "\.B $n" "$tmp/sec" || lack "guestmm bench $n"
			checked=$((checked + 1))
		done
	fi
done
if [ "$missing" -gt 0 ]; then
	echo "man_options: $missing missing from $page: add them (docs/guestmm.1)"
	exit 1
fi
if [ "$checked" -eq 0 ]; then
	echo "man_options: checked nothing"
	exit 1
fi
echo "man_options: $checked options and names of $(echo $cmds | wc -w) commands all in $page"
