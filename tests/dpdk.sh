#!/bin/sh
# SPDX-License-Identifier: MIT
# udma under unmodified DPDK programs (contrib/dpdk; make check installs
# libdpdk-dev and dpdk-dev first):
# - dpdk-testpmd with the mempool ops plugin (-d ... --mbuf-pool-ops-name=udma)
#   forwards packets between two net_null ports for 3 s in io mode (udma on
#   4 KiB pages with EAL's --no-huge, on its own choice on hugepages): the udma
#   ops are selected (the plugin's UDMA_DEBUG lines), every object is
#   registered by index with its IOVA checked, RX and TX packets > 0, every
#   mbuf's buf_iova == udma_iova(buf_addr) at exit, every object back, udma
#   reports nothing lost; without hugepages (--no-huge, which EAL refuses with
#   --in-memory: --no-shconf instead), and on hugepages (--in-memory: as
#   root it reserves 2 MiB pages for that, given back at exit); a bad UDMA_PAGE_SIZE, and a pool
#   udma cannot make (as nobody, 1 MiB of RLIMIT_MEMLOCK), stop testpmd with
#   the plugin's reason;
# - contrib/dpdk/dpdk_extmem: a udma region as a DPDK malloc heap, mbufs on it
#   with udma's IOVAs, in PA and VA mode (EAL has physical addresses only on
#   hugepages: PA skips without them, saying so).
# Usage: tests/dpdk.sh [BUILD_DIR] (tests/run.sh passes the build directory)
set -u

build=${1:-build}
built_plugin=$(cd "$build" && pwd)/dpdk/librte_mempool_udma.so
extmem=$build/dpdk/dpdk_extmem
tmp=$(mktemp -d) || exit 1
plugdir=""
nr_path=/proc/sys/vm/nr_hugepages
nr_before=""
cleanup() {
	rm -rf "$tmp" ${plugdir:+"$plugdir"}
	[ -z "$nr_before" ] || echo "$nr_before" >"$nr_path"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
n=0
failed=0
. "$(dirname "$0")/support/tap.sh"

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

skip_testpmd() {
	skip "dpdk testpmd, udma ops, EAL --no-huge" "$1"
	skip "dpdk testpmd, udma ops: UDMA_PAGE_SIZE=3K refused" "$1"
	skip "dpdk testpmd, udma ops: no pool within RLIMIT_MEMLOCK" "$1"
	skip "dpdk testpmd, udma ops, EAL on hugepages" "$1"
}

why=""
pkg-config --exists libdpdk || why="libdpdk is missing (make check could not install libdpdk-dev)"
if [ -z "$why" ] && { [ ! -f "$built_plugin" ] || [ ! -f "$extmem" ]; }; then
	why="$built_plugin or $extmem was not built"
fi
. "$(dirname "$0")/../contrib/dpdk/plugin_dir.sh"
if [ -z "$why" ] && ! udma_plugin_copy "$build"; then
	why="no directory that only this user can write for EAL to load the plugin from"
fi
if [ -n "$why" ]; then
	skip_testpmd "$why"
	skip "dpdk extmem VA" "$why"
	skip "dpdk extmem PA" "$why"
	exit 0
fi

# Sanitizer builds: testpmd is not instrumented, so the plugin's sanitizer
# runtime has to be loaded first.
preload=""
case $build in
*address*) preload=$(${CC:-cc} -print-file-name=libasan.so) ;;
*thread*) preload=$(${CC:-cc} -print-file-name=libtsan.so) ;; # for dpdk_extmem's EAL threads
esac
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

free_2m() {
	cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0
}
# The PA-mode cases run EAL on hugepages (it has physical addresses for those
# only): as root, this run reserves what is missing of 40 free 2 MiB pages
# (EAL's memory and udma's pool) and gives them back at exit.
free_2m=$(free_2m)
if [ "$(id -u)" = 0 ] && [ "$free_2m" -lt 40 ] && [ -w "$nr_path" ]; then
	nr_before=$(cat "$nr_path")
	echo $((nr_before + 40 - free_2m)) >"$nr_path" 2>/dev/null || true
	free_2m=$(free_2m)
	echo "# reserved 2 MiB hugepages for the PA-mode cases: $free_2m free now (given back at exit)"
fi

# testpmd NAME PAGES EAL_MEMORY_ARGS...: 3 s of io forwarding, then quit;
# PAGES is UDMA_PAGE_SIZE for the plugin ("" for udma's choice).
testpmd() {
	name=$1
	pages=$2
	shift 2
	out=$tmp/$name.out
	{
		sleep 3
		echo stop
		sleep 1
		echo quit
	} | UDMA_DEBUG=1 UDMA_PAGE_SIZE=$pages LD_PRELOAD=$preload timeout 60 dpdk-testpmd -d "$plugin" --mbuf-pool-ops-name=udma \
		--no-pci --no-telemetry "$@" --vdev=net_null0 --vdev=net_null1 -- -i --forward-mode=io --auto-start \
		--total-num-mbufs=16384 >"$out" 2>&1
	rc=$?
	sed 's/^/# /' "$out" | grep -E "mempool|mbuf pool|IOVA mode|RX-packets|TX-packets|udma|Bye" | head -40
	eal=$(sed -n "s/^EAL: Selected IOVA mode '\(..\)'.*/\1/p" "$out")
	what="dpdk testpmd, udma ops, $name (EAL in ${eal:-no} IOVA mode, udma pages: ${pages:-udma's choice})"
	check "$what: exits 0" [ "$rc" = 0 ]
	check "$what: udma ops selected" grep -q "preferred mempool ops selected: udma" "$out"
	mbufs=$(sed -n 's/.*create a new mbuf pool <mb_pool_0>: n=\([0-9]*\),.*/\1/p' "$out")
	check "$what: all $mbufs objects registered by index, IOVAs checked" \
		grep -q "populate mb_pool_0: $mbufs objects registered by index, each IOVA-contiguous" "$out"
	# The accumulated forward statistics: RX-packets, then TX-packets.
	stats=$(grep -A2 "Accumulated forward statistics" "$out")
	rx=$(echo "$stats" | sed -n 's/.*RX-packets: *\([0-9]*\).*/\1/p')
	tx=$(echo "$stats" | sed -n 's/.*TX-packets: *\([0-9]*\).*/\1/p')
	check "$what: forwards packets (RX $rx, TX $tx)" [ "${rx:-0}" -gt 0 -a "${tx:-0}" -gt 0 ]
	check "$what: every mbuf's buf_iova is udma_iova of its buffer" \
		grep -q "free mb_pool_0: buf_iova == udma_iova(buf_addr) checked for $mbufs mbufs of $mbufs, 0 wrong" "$out"
	check "$what: every object back at exit" grep -q "free mb_pool_0: .* of $mbufs objects were out .*, all back" "$out"
	check "$what: udma reports nothing (lost, not returned, still alive)" sh -c "! grep '^udma: ' '$out'"
}

# failed_saying RC PATTERN FILE: a run that failed (RC not 0) and said PATTERN.
failed_saying() {
	[ "$1" != 0 ] && grep -q "$2" "$3"
}

# The plugin's one setting, wrong: testpmd stops, the plugin says why.
testpmd_bad_page_size() {
	{
		sleep 1
		echo quit
	} | UDMA_PAGE_SIZE=3K LD_PRELOAD=$preload timeout 60 dpdk-testpmd -d "$plugin" --mbuf-pool-ops-name=udma \
		--no-pci --no-huge --no-shconf -m 128 --no-telemetry --vdev=net_null0 --vdev=net_null1 -- -i \
		--total-num-mbufs=8192 >"$tmp/pagesize.out" 2>&1
	rc=$?
	grep "mempool_udma" "$tmp/pagesize.out" | sed 's/^/# /'
	check "dpdk testpmd, udma ops: UDMA_PAGE_SIZE=3K refused (exit $rc), naming it" \
		failed_saying "$rc" "mempool_udma: UDMA_PAGE_SIZE=3K: not a page size" "$tmp/pagesize.out"
}

# A pool udma cannot make: as nobody with 1 MiB of RLIMIT_MEMLOCK (root's
# CAP_IPC_LOCK ignores the limit) and on 4 KiB pages (hugepages are not
# counted against it), testpmd stops, and the plugin says why.
testpmd_memlock() {
	{
		sleep 1
		echo quit
	} | UDMA_PAGE_SIZE=4K LD_PRELOAD=$preload timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups \
		prlimit --memlock=1048576 dpdk-testpmd -d "$plugin" --mbuf-pool-ops-name=udma --no-pci --no-huge \
		--no-shconf -m 128 --no-telemetry --vdev=net_null0 --vdev=net_null1 -- -i --total-num-mbufs=8192 \
		>"$tmp/memlock.out" 2>&1
	rc=$?
	grep "mempool_udma" "$tmp/memlock.out" | sed 's/^/# /'
	check "dpdk testpmd, udma ops: no pool within RLIMIT_MEMLOCK, testpmd fails (exit $rc) naming it" \
		failed_saying "$rc" "mempool_udma: mb_pool_0: udma_pool_create .*RLIMIT_MEMLOCK" "$tmp/memlock.out"
}

case $build in
*thread*)
	# testpmd and libdpdk are not built with -fsanitize=thread: the hand-off
	# from the forwarding lcore to the main one (atomics in librte_eal) is
	# invisible to TSan, which reports the plugin's accesses on both sides.
	skip_testpmd "TSan cannot see DPDK's own synchronisation (testpmd and libdpdk are not instrumented)"
	;;
*)
	if ! command -v dpdk-testpmd >/dev/null; then
		skip_testpmd "dpdk-testpmd is missing (make check could not install dpdk-dev)"
	else
		testpmd "EAL --no-huge" 4K --no-huge --no-shconf -m 128
		testpmd_bad_page_size
		testpmd_memlock
		if [ "$free_2m" -ge 16 ]; then
			testpmd "EAL on hugepages" "" --in-memory
		else
			skip "dpdk testpmd, udma ops, EAL on hugepages" \
				"$free_2m free 2 MiB hugepages (16 needed; reserving them needs root)"
		fi
	fi
	;;
esac

for mode in va pa; do
	M=$(echo $mode | tr a-z A-Z)
	LD_PRELOAD=$preload UDMA_DEBUG=1 timeout 120 "$extmem" $mode >"$tmp/extmem" 2>"$tmp/err"
	rc=$?
	sed -n 's/^#/#/p' "$tmp/extmem"
	case $rc in
	0) ok "dpdk extmem $M: mbufs of a pool on a udma heap lie in the region at udma's IOVAs, nothing leaked" ;;
	77) skip "dpdk extmem $M" "$(sed -n 's/^SKIP: //p' "$tmp/extmem")" ;;
	*) not_ok "dpdk extmem $M (exit $rc)" ;;
	esac
done
exit $failed
