#!/bin/sh
# deps.sh SRCDIR - the Makefile installs Debian packages only when one is
# missing, and never with NO_DEPS=1.  dpkg-query, apt-get, sudo, cmake and
# ctest are stand-ins on PATH that log their arguments: dpkg-query answers
# each package's Status from $tmp/status (a package not there is not
# installed: no output, exit 1, as dpkg-query says of an unknown name); no
# package is installed, nothing is built, no root needed.
#
# dpkg's status field is "want error state": what counts is the state, the
# third word, and a package whose state is installed, triggers-pending or
# triggers-awaited is installed (its files are there; only a trigger of
# another package is left to run: man-db's after an upgrade is the usual
# one).  Held packages ("hold ok installed") are installed too.
set -u
src=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "deps: $*"
	exit 1
}

mkdir "$tmp/bin" "$tmp/build"
cat >"$tmp/bin/dpkg-query" <<'EOS'
#!/bin/sh
# dpkg-query -W -f=FORMAT PKG: the format is ${Status} (and a newline).
for last; do :; done
line=$(grep "^$last " "$STATUS_FILE" | cut -d' ' -f2-)
[ -n "$line" ] || { echo "dpkg-query: no packages found matching $last" >&2; exit 1; }
printf '%s\n' "$line"
EOS
for tool in apt-get cmake ctest; do
	cat >"$tmp/bin/$tool" <<EOS
#!/bin/sh
echo "$tool \$*" >>"$tmp/log"
# cmake --install writes the manifest the Makefile reads.
[ "$tool" = cmake ] && [ "\$1" = --install ] && : >"\$2/install_manifest.txt"
exit 0
EOS
done
cat >"$tmp/bin/sudo" <<EOS
#!/bin/sh
echo "sudo \$*" >>"$tmp/log"
exec "\$@"
EOS
chmod +x "$tmp/bin/"*

pkgs=$(make -s -C "$src" --no-print-directory --eval 'deps-list: ; @echo $(DEBS)' deps-list)
[ -n "$pkgs" ] || fail "no DEBS in $src/Makefile"

# status STATE...: every package in the Makefile's list installed, the
# first ones given the states named instead.
status() {
	: >"$tmp/status"
	for p in $pkgs; do
		if [ $# -gt 0 ]; then
			[ "$1" != absent ] && echo "$p $1" >>"$tmp/status"
			shift
		else
			echo "$p install ok installed" >>"$tmp/status"
		fi
	done
}

# mk TARGET ARGS...: make in the source tree with the stand-ins, into a
# build directory of the test's; the log of what they were asked.
mk() {
	: >"$tmp/log"
	PATH="$tmp/bin:$PATH" STATUS_FILE="$tmp/status" \
		make -s -C "$src" BUILD="$tmp/build" DESTDIR="$tmp/stage" "$@" \
		>"$tmp/out" 2>&1
}

apt_calls() {
	grep -c '^apt-get' "$tmp/log"
}

status
mk deps || { cat "$tmp/out"; fail "make deps, all installed: exit status $?"; }
[ "$(apt_calls)" -eq 0 ] || fail "make deps ran apt-get with every package installed: $(cat "$tmp/log")"

status "install ok triggers-pending" "hold ok installed" "install ok triggers-awaited" \
	"hold ok triggers-pending"
mk deps || { cat "$tmp/out"; fail "make deps, triggers pending: exit status $?"; }
[ "$(apt_calls)" -eq 0 ] ||
	fail "make deps ran apt-get for packages in states triggers-pending, triggers-awaited and held: $(cat "$tmp/log")"

# Missing: not known to dpkg, removed with its configuration left, half
# installed.  apt-get installs exactly those, once.
status absent "deinstall ok config-files" "install reinstreq half-installed" \
	"install ok installed"
mk deps || { cat "$tmp/out"; fail "make deps, three missing: exit status $?"; }
set -- $pkgs
grep -q "^apt-get install .* $1 $2 $3\$" "$tmp/log" ||
	fail "make deps did not install exactly '$1 $2 $3': $(cat "$tmp/log")"
[ "$(grep -c '^apt-get install' "$tmp/log")" -eq 1 ] || fail "apt-get install more than once: $(cat "$tmp/log")"
grep -q "installing Debian packages: $1 $2 $3\$" "$tmp/out" ||
	fail "make deps did not say which: $(cat "$tmp/out")"

# NO_DEPS=1: apt never, whatever is missing; the missing named.
for target in deps build test install; do
	mk "$target" NO_DEPS=1 || { cat "$tmp/out"; fail "make $target NO_DEPS=1: exit status $?"; }
	[ "$(apt_calls)" -eq 0 ] || fail "make $target NO_DEPS=1 ran apt-get: $(cat "$tmp/log")"
	grep -q "NO_DEPS.* $1 $2 $3" "$tmp/out" ||
		fail "make $target NO_DEPS=1 does not name the missing packages: $(cat "$tmp/out")"
done
grep -q '^cmake --install' "$tmp/log" || fail "make install NO_DEPS=1 did not install: $(cat "$tmp/log")"
# And without it, make install asks apt for them first.
mk install || { cat "$tmp/out"; fail "make install: exit status $?"; }
[ "$(grep -c '^apt-get install' "$tmp/log")" -eq 1 ] || fail "make install with three missing: $(cat "$tmp/log")"
echo "deps: apt-get only for missing packages (not for triggers-pending/awaited or held ones), never with NO_DEPS=1"
