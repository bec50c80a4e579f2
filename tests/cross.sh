#!/bin/sh
# The unit tests of the ARM cross builds (make CROSS=aarch64-linux-gnu- and
# CROSS=arm-linux-gnueabihf-, into build/aarch64 and build/armhf) under
# qemu-user, started by the kernel through binfmt_misc: tests fork and exec
# /proc/self/exe and udma-simd, which a qemu prefix on the command line
# would not follow. Each cmocka test is a TAP line named after its
# architecture and program; one more per program says it ran to completion.
# A test that needs what qemu-user does not emulate skips itself, saying
# what (tests/support/qemu_user.h). TAP.
# usage: tests/cross.sh [BUILD_DIR]   (BUILD_DIR only tells a sanitizer build)
# env: UDMA_CROSS="aarch64 armhf" to choose the architectures
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 1
n=0
failed=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
. tests/support/tap.sh
arches=${UDMA_CROSS:-aarch64 armhf}

case $build in
*san-*) # sanitizers are host only (make refuses SAN with CROSS)
	for a in $arches; do
		ok "$a: unit tests under qemu-user # skip the cross runs are in the plain build"
	done
	exit 0
	;;
esac

binfmt=/proc/sys/fs/binfmt_misc
# Make the kernel start ELF programs of qemu architecture $1 with
# qemu-$1-static: binfmt_misc mounted, Debian's entry enabled, or, if
# update-binfmts cannot, the entry of /usr/share/binfmts/qemu-$1 written
# to the register by hand (flags F: the interpreter opened now, P: argv[0]
# kept, as Debian's).
binfmt_ready() {
	[ -e "$binfmt/status" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>"$tmp/err" || return 1
	grep -qx enabled "$binfmt/qemu-$1" 2>/dev/null && return 0
	update-binfmts --enable "qemu-$1" >"$tmp/err" 2>&1
	grep -qx enabled "$binfmt/qemu-$1" 2>/dev/null && return 0
	f=/usr/share/binfmts/qemu-$1
	[ -r "$f" ] || return 1
	field() { sed -n "s/^$1 //p" "$f"; }
	printf ':qemu-%s:M:%s:%s:%s:%s:PF' "$1" "$(field offset)" "$(field magic)" "$(field mask)" \
		"$(field interpreter)" >"$binfmt/register" 2>>"$tmp/err"
	grep -qx enabled "$binfmt/qemu-$1" 2>/dev/null
}

# run ARCH PROGRAM: its cmocka TAP (CMOCKA_MESSAGE_OUTPUT=TAP) renumbered
# into this stream, each name prefixed; a skip keeps the first "# skip: why"
# (or "skipped: why") line the test printed before it; the rest of the
# output as comments. Then the
# line for the program: it exited by itself and ran every test it planned.
run() {
	name=${2##*/}
	s=$(date +%s)
	CMOCKA_MESSAGE_OUTPUT=TAP UDMA_DEBUG=1 timeout 900 env $qemu_env "$2" >"$tmp/out" 2>&1
	rc=$?
	awk -v n="$n" -v p="$1: $name: " '
	function name_of(s) { sub(/^(not )?ok [0-9]+ (- )?/, "", s); sub(/ # SKIP.*/, "", s); return s }
	/^1\.\.[0-9]+$/ { plan += substr($0, 4); next }
	/^(not )?ok [0-9]+ # SKIP/ {
		t = $0; sub(/.*# SKIP */, "", t)
		printf "ok %d - %s%s # skip %s\n", ++n, p, t, why == "" ? "(no reason printed)" : why
		why = ""; done++; next
	}
	/^ok [0-9]+/ { printf "ok %d - %s%s\n", ++n, p, name_of($0); why = ""; done++; next }
	/^not ok [0-9]+/ { printf "not ok %d - %s%s\n", ++n, p, name_of($0); why = ""; done++; bad++; next }
	why == "" && /^(# skip: | *skipped: )/ { why = $0; sub(/^(# skip: | *skipped: )/, "", why) } # the first: the cause
	/^# (not )?ok - / { next } # a group summary
	{ print "# " $0 }
	END { printf "%d %d %d %d\n", n, plan, done, bad >"/dev/stderr" }
	' "$tmp/out" 2>"$tmp/count"
	read -r n plan done bad <"$tmp/count"
	[ "${bad:-0}" = 0 ] || failed=1
	took=$(($(date +%s) - s))
	if [ "$rc" -lt 124 ] && [ "$plan" = "$done" ] && [ "$plan" -gt 0 ]; then
		ok "$1: $name ran to completion ($took s)"
	else
		not_ok "$1: $name did not run to completion: exit status $rc, $done of $plan tests reported"
	fi
}

t0=$(date +%s)
if ! tools/install-deps.sh cross >"$tmp/err" 2>&1; then
	for a in $arches; do not_ok "$a: cannot install the cross toolchain (tools/install-deps.sh cross)"; done
	exit 1
fi
for a in $arches; do
	case $a in
	aarch64) prefix=aarch64-linux-gnu- qemu=aarch64 qemu_env= ;;
	# A 32-bit program's addresses are offset by qemu's guest base (0x1000
	# by default): 1 GiB-aligned, a 2 MiB-aligned address of the program is
	# one of the host too, as hugetlb mappings need.
	armhf) prefix=arm-linux-gnueabihf- qemu=arm qemu_env=QEMU_GUEST_BASE=0x7e0000000000 ;;
	*)
		not_ok "$a: unknown architecture (UDMA_CROSS takes aarch64 and armhf)"
		continue
		;;
	esac
	s=$(date +%s)
	if ! make -s -j2 CROSS=$prefix tests >"$tmp/err" 2>&1; then
		tail -n 30 "$tmp/err" >"$tmp/err.tail" && mv "$tmp/err.tail" "$tmp/err"
		not_ok "$a: make CROSS=$prefix tests"
		continue
	fi
	ok "$a: make CROSS=$prefix tests ($(($(date +%s) - s)) s)"
	if [ "$(id -u)" != 0 ] && ! grep -qx enabled "$binfmt/qemu-$qemu" 2>/dev/null; then
		ok "$a: unit tests under qemu-user # skip binfmt_misc has no qemu-$qemu entry and only root can add it"
		continue
	fi
	if ! binfmt_ready "$qemu"; then
		not_ok "$a: binfmt_misc entry for qemu-$qemu (mount, update-binfmts --enable qemu-$qemu)"
		continue
	fi
	for t in build/"$a"/tests/test_*; do
		run "$a" "$t"
	done
done
echo "# cross builds and runs: $(($(date +%s) - t0)) s in all"
exit "$failed"
