#!/bin/sh
# mklinux.sh OUTDIR MEMHOG
# Linux for `guestmm run --qemu --linux`: Debian 12's Linux 6.1 kernel, the
# linux-image package's bzImage taken out of the package (apt-get download and
# dpkg-deb -x into OUTDIR, nothing installed), as OUTDIR/vmlinuz, and an
# initramfs with that kernel's virtio, virtio_ring, virtio_mmio and
# virtio_balloon modules, busybox, our memhog and the user-mode Linux
# guest's init, as OUTDIR/initrd.gz.  The package is the newest
# linux-image-6.1.0-N-amd64-unsigned the apt index knows; its .deb stays in
# OUTDIR so that a rebuild fetches nothing.
set -eu
out=$1
memhog=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
deb=$(ls "$out"/linux-image-6.1.0-*-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
if [ -z "$deb" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' |
	      cut -d' ' -f1 | sort -V | tail -n 1)
	[ -n "$pkg" ] || { echo "mklinux: no linux-image-6.1.0-*-amd64-unsigned in the apt index (apt-get update)" >&2; exit 1; }
	(cd "$out" && apt-get download "$pkg") ||
		{ echo "mklinux: apt-get download $pkg failed" >&2; exit 1; }
	deb=$(ls "$out"/"$pkg"_*.deb | tail -n 1)
fi
rm -rf "$out/linux"
dpkg-deb -x "$deb" "$out/linux"
cp "$(ls "$out"/linux/boot/vmlinuz-* | head -n 1)" "$out/vmlinuz.tmp"
moddir=$(ls -d "$out"/linux/lib/modules/*/ | head -n 1)
sh "$here/../uml/mkinitramfs.sh" "$out/initrd.gz" "$memhog" "$moddir" \
	virtio virtio_ring virtio_mmio virtio_balloon
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
rm -rf "$out/linux"
