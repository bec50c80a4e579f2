#!/bin/sh
# Build the guest's initramfs (cpio newc, gzip): busybox-static with its
# applets, the UIO, VFIO, NVMe and NIC modules of kernel KVER and their load order,
# tests/vm/init as /init, each FILE as /<its name> (with its shared libraries
# and loader when it is dynamic). Rebuilt only when one of those inputs changed.
# The host's kernel modules and busybox by default; -m and -b name others, as
# for a kernel unpacked from a package (tests/vm/kernel_pkg.sh) or another
# architecture's guest. Busybox runs only in the guest (/init links its applets).
# usage: tests/vm/initramfs.sh [-m MODULES_DIR] [-b BUSYBOX] OUT KVER FILE...
#   (e.g. build/vm/test_edu; MODULES_DIR defaults to /lib/modules/KVER,
#   BUSYBOX to /bin/busybox)
set -eu
usage="usage: $0 [-m MODULES_DIR] [-b BUSYBOX] OUT KVER FILE..."
mods="" busybox=/bin/busybox # busybox-static: the guest has no libc of its own
while getopts m:b: o; do
	case $o in
	m) mods=$OPTARG ;;
	b) busybox=$OPTARG ;;
	*) echo "$usage" >&2 && exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
out=$1 kver=$2
shift 2
here=$(dirname "$0")
mods=${mods:-/lib/modules/$kver}
# What each run insmods; modules.dep adds their dependencies. vfio_iommu_type1
# is no dependency of vfio-pci (vfio asks modprobe for it), so it is named.
uio_want="uio_pci_generic"
vfio_want="vfio vfio_iommu_type1 vfio-pci"
# The kernel's own NVMe driver, which init does NOT load (the function must
# start unbound): a test insmods nvme.list itself. The crc algorithms are
# asked of modprobe, which the guest lacks, so they are named first.
nvme_want="crct10dif_generic crc64_rocksoft_generic nvme"
# The kernel's NIC drivers, not loaded by init either (the NICs start
# unbound): for the tests that find a NIC held by the kernel, and the packet
# rate comparison with the kernel's drivers.
e1000e_want="e1000e"
virtio_net_want="virtio_pci virtio_net"
sets="uio vfio nvme e1000e virtio_net"

for f in "$busybox" "$@" "$mods/modules.dep" "$here/init"; do
	[ -r "$f" ] || { echo "initramfs: cannot read $f" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM # dash runs no EXIT trap on a signal

# Modules in load order (dependencies first, depth-first as modprobe does);
# names compare with - and _ alike; built-in ones need no loading.
resolve() {
	awk -v want="$1" -v builtin="$mods/modules.builtin" '
	function norm(s) { sub(/.*\//, "", s); sub(/\.ko.*/, "", s); gsub(/-/, "_", s); return s }
	function load(p,   d, n, i) {
		if (p in done) return
		done[p] = 1
		n = split(dep[p], d, " ")
		for (i = n; i >= 1; i--) load(d[i])
		print p
	}
	{ p = $1; sub(/:$/, "", p); $1 = ""; dep[p] = $0; path[norm(p)] = p }
	END {
		while ((getline l < builtin) > 0) inside[norm(l)] = 1
		n = split(want, w, " ")
		for (i = 1; i <= n; i++) {
			m = norm(w[i])
			if (m in path) load(path[m])
			else if (!(m in inside)) { print "initramfs: no module " w[i] > "/dev/stderr"; exit 1 }
		}
	}' "$mods/modules.dep"
}
resolve "$uio_want" >"$work/uio.dep"
resolve "$vfio_want" >"$work/vfio.dep"
resolve "$nvme_want" >"$work/nvme.dep"
resolve "$e1000e_want" >"$work/e1000e.dep"
resolve "$virtio_net_want" >"$work/virtio_net.dep"

# The manifest: one "SOURCE DESTINATION" per file of the image.
libs() { ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; }
{
	echo "$busybox bin/busybox"
	echo "$here/init init"
	for f in "$@"; do
		echo "$f ${f##*/}"
		for l in $(libs "$f"); do echo "$l ${l#/}"; done
	done
	for l in $(libs "$busybox"); do echo "$l ${l#/}"; done
	for r in $sets; do cat "$work/$r.dep"; done | while read -r m; do
		k=${m##*/}
		echo "$mods/$m lib/modules/${k%%.ko*}.ko"
	done
} | sort -u -k2,2 >"$work/manifest"

stamp=$( {
	cat "$0" "$work/manifest"
	for r in $sets; do cat "$work/$r.dep"; done
	while read -r src _; do cat "$src"; done <"$work/manifest"
} | sha256sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

root=$work/root
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/lib/modules"
while read -r src dst; do
	mkdir -p "$root/$(dirname "$dst")"
	# busybox insmod may not read compressed modules: decompress them here
	case $src in
	*.ko.xz) xz -dc "$src" >"$root/$dst" ;;
	*.ko.zst) zstd -qdc "$src" >"$root/$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$root/$dst" ;;
	*) cp -L "$src" "$root/$dst" ;;
	esac
done <"$work/manifest"
chmod 755 "$root/init"
for f in "$@"; do chmod 755 "$root/${f##*/}"; done
ln -s busybox "$root/bin/sh" # for /init's #!; init links the other applets
for r in $sets; do
	sed 's,.*/,,; s,\.ko.*,.ko,' "$work/$r.dep" >"$root/lib/modules/$r.list"
done
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true # init copes without it
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$work/img"
mv "$work/img" "$out"
echo "$stamp" >"$out.stamp"
echo "initramfs: built $out ($(du -k "$out" | cut -f1) KiB)"
