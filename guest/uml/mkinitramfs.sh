#!/bin/sh
# mkinitramfs.sh OUT MEMHOG [MODULES_DIR [MODULE...]]
# A Linux guest's initramfs: busybox-static, the guest kernel's own modules
# (default virtio_balloon, and whatever each depends on, by its modinfo
# depends= field: the package has no modules.dep; init loads them in the
# order written, every module after those it needs), our memhog and init.  The user-mode
# Linux one needs busybox-static and user-mode-linux (Debian packages); the
# QEMU one gives the linux-image package's tree and virtio virtio_ring
# virtio_mmio virtio_balloon.
set -eu
out=$1
memhog=$2
here=$(cd "$(dirname "$0")" && pwd)
moddir=${3:-}
if [ -z "$moddir" ]; then
	moddir=$(ls -d /usr/lib/uml/modules/*/ 2>/dev/null | head -n 1)
fi
if [ $# -gt 3 ]; then
	shift 3
	mods=$*
else
	mods=virtio_balloon
fi
[ -x /bin/busybox ] || { echo "mkinitramfs: no /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/lib/modules" "$tmp/tmp"
cp /bin/busybox "$tmp/bin/busybox"
for app in $(/bin/busybox --list); do
	[ -e "$tmp/bin/$app" ] || ln -s busybox "$tmp/bin/$app"
done
order=" "
add_module() {
	case "$order" in *" $1 "*) return 0 ;; esac
	ko=$(find "$moddir" -name "$1.ko" | head -n 1)
	[ -n "$ko" ] || { echo "mkinitramfs: no $1.ko under '$moddir' (apt-get install user-mode-linux, or the linux-image package's tree)" >&2; exit 1; }
	for dep in $(tr '\0' '\n' < "$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
	# Shell variables are global: find it again after the recursion.
	cp "$(find "$moddir" -name "$1.ko" | head -n 1)" "$tmp/lib/modules/$1.ko"
	echo "$1" >> "$tmp/lib/modules/order"
	order="$order$1 "
}
for m in $mods; do
	add_module "$m"
done
cp "$memhog" "$tmp/bin/memhog"
cp "$here/init" "$tmp/init"
chmod 755 "$tmp/init" "$tmp/bin/memhog"
(cd "$tmp" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -9 > "$out.tmp"
mv "$out.tmp" "$out"
