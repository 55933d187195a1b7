#!/bin/sh
# install.sh BUILD PREFIX - install into a DESTDIR and run the installed
# binary from there: `guestmm --help` exits 0, the man page renders with
# man -l (no warnings), and, when the build made the user-mode Linux
# initramfs, the installed binary finds the installed one (a stand-in
# kernel records the initrd= it is given; no guest boots) and, with it
# gone, says which paths it tried.  PREFIX is the one the build was
# configured with (the binary's last resort), which this test avoids.
set -u
build=$1
configured=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "install: $*"
	exit 1
}

DESTDIR=$tmp cmake --install "$build" --prefix /usr >"$tmp/log" 2>&1 ||
	{ cat "$tmp/log"; fail "cmake --install into DESTDIR $tmp failed"; }
bin=$tmp/usr/bin/guestmm
page=$tmp/usr/share/man/man1/guestmm.1
[ -x "$bin" ] || fail "no $bin"
[ -f "$page" ] || fail "no $page"
"$bin" --help >"$tmp/out" 2>&1 || fail "installed guestmm --help exits $?"
grep -q "^Usage: guestmm" "$tmp/out" || fail "installed guestmm --help: no usage"

if command -v man >/dev/null; then
	MANWIDTH=80 man --warnings -l "$page" >"$tmp/man" 2>"$tmp/manerr" ||
		fail "man -l $page exits $?"
	[ -s "$tmp/manerr" ] && { cat "$tmp/manerr"; fail "man -l $page warns"; }
	grep -q "guestmm run" "$tmp/man" || fail "man -l $page: no 'guestmm run'"
else
	echo "install: no man (apt-get install man-db): rendering not checked"
fi

# Linux for QEMU: the installed binary hands QEMU the installed kernel and
# initramfs (a stand-in QEMU records its arguments and exits; the run then
# fails, one line, when QMP never answers).
if [ -f "$build/qemu/vmlinuz" ]; then
	qdir=$tmp/usr/lib/guestmm/qemu
	[ -f "$qdir/vmlinuz" ] && [ -f "$qdir/initrd.gz" ] ||
		fail "no $qdir/vmlinuz and initrd.gz"
	cat >"$tmp/qemu" <<EOS
#!/bin/sh
echo "\$@" >"$tmp/qemu-args"
EOS
	chmod +x "$tmp/qemu"
	"$bin" run --qemu --linux --qemu-binary "$tmp/qemu" --quiet >"$tmp/out" 2>&1 &&
		fail "run --qemu with a QEMU that exits at once exits 0"
	[ -f "$tmp/qemu-args" ] || { cat "$tmp/out"; fail "the stand-in QEMU never ran"; }
	grep -q -- "-kernel $qdir/vmlinuz -initrd $qdir/initrd.gz " "$tmp/qemu-args" ||
		fail "the installed guestmm gave QEMU '$(cat "$tmp/qemu-args")'"
fi

# The guest kernel's image beside the initramfs, when the build made it.
if [ -f "$build/kernel/guestmm-kernel.elf" ]; then
	[ -f "$tmp/usr/lib/guestmm/guestmm-kernel.elf" ] ||
		fail "the build made guestmm-kernel.elf, the install put none in lib/guestmm"
	# run --qemu hands QEMU that image (a stand-in QEMU records its
	# arguments and exits; the run then fails, one line).
	cat >"$tmp/qemu-k" <<EOS
#!/bin/sh
echo "\$@" >"$tmp/qemu-k-args"
EOS
	chmod +x "$tmp/qemu-k"
	"$bin" run --qemu --qemu-binary "$tmp/qemu-k" --quiet >"$tmp/out" 2>&1 &&
		fail "run --qemu with a QEMU that exits at once exits 0"
	grep -q -- "-kernel $tmp/usr/lib/guestmm/guestmm-kernel.elf " "$tmp/qemu-k-args" ||
		fail "the installed guestmm gave QEMU '$(cat "$tmp/qemu-k-args" 2>/dev/null)'"
fi

if [ ! -f "$build/uml/initrd.gz" ]; then
	echo "install: the build made no initramfs (no user-mode-linux): lookup not checked"
	exit 0
fi
initrd=$tmp/usr/lib/guestmm/initrd.gz
[ -f "$initrd" ] || fail "no $initrd"
# A stand-in for linux.uml: writes its arguments and exits.
cat >"$tmp/uml" <<EOS
#!/bin/sh
echo "\$@" >"$tmp/uml-args"
EOS
chmod +x "$tmp/uml"
"$bin" host --linux --uml "$tmp/uml" >"$tmp/out" 2>&1 &&
	fail "host --linux with a kernel that exits at once exits 0"
[ -f "$tmp/uml-args" ] || { cat "$tmp/out"; fail "the stand-in kernel never ran"; }
grep -q "initrd=$initrd " "$tmp/uml-args" ||
	fail "the installed guestmm gave the kernel '$(cat "$tmp/uml-args")', not initrd=$initrd"

rm -f "$initrd" "$tmp/uml-args"
if [ -e "$configured/lib/guestmm/initrd.gz" ]; then
	echo "install: $configured/lib/guestmm/initrd.gz exists: not-found error not checked"
	exit 0
fi
"$bin" host --linux --uml "$tmp/uml" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/out"; fail "no initramfs: exit $rc, not 1"; }
[ -f "$tmp/uml-args" ] && fail "no initramfs, yet the kernel was started"
grep -q "tried .*$initrd" "$tmp/out" ||
	{ cat "$tmp/out"; fail "no initramfs: the error does not name $initrd"; }
[ "$(wc -l <"$tmp/out")" -eq 1 ] || { cat "$tmp/out"; fail "no initramfs: not one line"; }
echo "install: installed guestmm runs, finds $initrd, names the paths tried without it"
