#!/bin/sh
# A guest kernel from a Debian package, never installed: /boot keeps only the
# host's kernels (other tests boot the newest /boot/vmlinuz). The package is
# fetched with `apt-get download`, unpacked with `dpkg -x` into
# OUTDIR/NAME/root and given the modules.dep its postinst would have made
# (depmod -b); kept there, so later runs reuse it. PACKAGE may be a
# metapackage (linux-image-arm64): the kernel it depends on now is taken.
# RELEASE (e.g. bookworm-backports) reads that release's package lists into
# OUTDIR/apt instead of the system's, so no sources.list has to change.
# Prints one line: "KERNEL MODULES_DIR" (the vmlinuz and its lib/modules/VERSION).
# usage: tests/vm/kernel_pkg.sh ARCH PACKAGE OUTDIR [RELEASE]
#   e.g. tests/vm/kernel_pkg.sh arm64 linux-image-arm64 build/vm/arm64
# Needs dpkg --add-architecture ARCH and apt-get update for a foreign ARCH
# (tools/install-deps.sh vm-arm64), kmod's depmod, and the network once.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 ARCH PACKAGE OUTDIR [RELEASE]" >&2; exit 2; }
arch=$1 pkg=$2 out=$3 release=${4:-}
err() { echo "kernel_pkg: $*" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

apt="apt-get -q"
cache="apt-cache"
if [ -n "$release" ]; then
	# The release's lists only, in OUTDIR/apt (as the Makefile's cmocka rule does)
	a=$out/apt
	opts="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache -o Debug::NoLocking=1
		-o APT::Architectures::=$arch"
	apt="$apt $opts" cache="$cache $opts"
	if [ ! -f "$a/updated" ]; then
		mkdir -p "$a/lists/partial" "$a/cache"
		echo "deb [arch=$arch] http://deb.debian.org/debian $release main" >"$a/sources.list"
		# shellcheck disable=SC2086 # $apt is a command and its options
		$apt update >/dev/null || err "apt-get update of $release failed (network?)"
		touch "$a/updated"
	fi
fi

# A metapackage names the real one (linux-image-VERSION) among its Depends.
name=$pkg
# shellcheck disable=SC2086
case $pkg in
linux-image-[0-9]*) ;;
*)
	name=$($cache depends "$pkg:$arch" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -n 1)
	[ -n "$name" ] || err "$pkg:$arch names no linux-image-VERSION (for a foreign arch: dpkg --add-architecture $arch && apt-get update, or tools/install-deps.sh vm-$arch)"
	;;
esac
dir=$out/$name
root=$dir/root
if [ ! -f "$dir/unpacked" ]; then
	rm -rf "$dir" && mkdir -p "$dir"
	# shellcheck disable=SC2086
	(cd "$dir" && $apt download "$name:$arch" >/dev/null 2>"$dir/apt.err") ||
		err "apt-get download $name:$arch failed: $(tail -n 1 "$dir/apt.err")"
	dpkg -x "$dir"/*.deb "$root" || err "dpkg -x $dir/*.deb failed"
	rm -f "$dir"/*.deb "$dir/apt.err"
	touch "$dir/unpacked"
fi
kernel=$(printf '%s\n' "$root"/boot/vmlinu[xz]-* | head -n 1)
[ -f "$kernel" ] || err "$name has no /boot/vmlinuz-*"
kver=${kernel##*/vmlinu?-}
mods=$root/lib/modules/$kver
[ -d "$mods" ] || err "$name has no /lib/modules/$kver"
if [ ! -f "$mods/modules.dep" ]; then
	depmod -b "$root" "$kver" || err "depmod -b $root $kver failed"
fi
echo "$kernel $mods"
