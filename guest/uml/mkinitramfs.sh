#!/bin/sh
# mkinitramfs.sh OUT MEMHOG [MODULES_DIR]
# The user-mode Linux guest's initramfs: busybox-static, the guest kernel's
# own virtio_balloon.ko, our memhog and init.  Needs busybox-static and
# user-mode-linux (Debian packages).
set -eu
out=$1
memhog=$2
here=$(cd "$(dirname "$0")" && pwd)
moddir=${3:-}
if [ -z "$moddir" ]; then
	moddir=$(ls -d /usr/lib/uml/modules/*/ 2>/dev/null | head -n 1)
fi
ko=$(find "$moddir" -name virtio_balloon.ko | head -n 1)
[ -n "$ko" ] || { echo "mkinitramfs: no virtio_balloon.ko under '$moddir' (apt-get install user-mode-linux)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "mkinitramfs: no /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/lib/modules" "$tmp/tmp"
cp /bin/busybox "$tmp/bin/busybox"
for app in $(/bin/busybox --list); do
	[ -e "$tmp/bin/$app" ] || ln -s busybox "$tmp/bin/$app"
done
cp "$ko" "$tmp/lib/modules/virtio_balloon.ko"
cp "$memhog" "$tmp/bin/memhog"
cp "$here/init" "$tmp/init"
chmod 755 "$tmp/init" "$tmp/bin/memhog"
(cd "$tmp" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -9 > "$out.tmp"
mv "$out.tmp" "$out"
