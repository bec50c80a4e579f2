#!/bin/sh
# SPDX-License-Identifier: MIT
# dpdk-testpmd's io-forward rate between two net_null ports with the udma
# mempool ops (contrib/dpdk) against DPDK's default ring ops (ring_mp_mc),
# alternating in the same run. net_null's receive takes every packet's mbuf
# from the pool and its transmit gives it back, so the rate is the mempool's
# (through DPDK's lcore cache of 250, the ops behind it). The rate is testpmd's
# own "Rx-pps" of both ports over the measured seconds, after a second of
# warm-up. DPDK's "stack" ops (a LIFO, like udma's store) run too, as the
# control for what LIFO against FIFO reuse does to the caches. One JSON line
# per run, then one per ops with the median, then the ratios (udma / the
# other; above 1: udma forwards more).
# EAL's memory: --no-huge by default (4 KiB pages; DPDK then lays out one
# mbuf per page, udma packs them), EAL_MEM=huge for --in-memory on free
# hugepages (about 16 for the pool of 8192 mbufs and EAL's own); udma's
# pools on the same page size (UDMA_PAGE_SIZE=4K, 2M).
# MBUF_SIZE: testpmd's --mbuf-size (default 2176: one DPDK mbuf per 4 KiB
# page; 1600 fits two).
# Usage: [EAL_MEM=huge] [MBUF_SIZE=N] bench/dpdk_testpmd.sh [BUILD_DIR [REPS [SECONDS]]]
#   run it as: flock /tmp/udma-bench.lock bench/dpdk_testpmd.sh
set -eu

build=${1:-build}
reps=${2:-5}
secs=${3:-5}
. "$(dirname "$0")/../contrib/dpdk/plugin_dir.sh"
udma_plugin_copy "$build" || {
	echo "$build/dpdk/librte_mempool_udma.so: not built (make, with libdpdk-dev installed), or no private directory to copy it to for EAL" >&2
	exit 1
}
command -v dpdk-testpmd >/dev/null || {
	echo "dpdk-testpmd: not found (apt-get install dpdk-dev)" >&2
	exit 1
}
all_ops="udma ring_mp_mc stack"
mem=${EAL_MEM:-nohuge}
mbuf_size=${MBUF_SIZE:-2176}
# udma's pages as EAL's: the same TLB reach on both sides.
case $mem in
huge) eal_mem="--in-memory" udma_pages=2M ;;
nohuge) eal_mem="--no-huge --no-shconf -m 256" udma_pages=4K ;;
*)
	echo "EAL_MEM=$mem: huge or nohuge" >&2
	exit 2
	;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$plugdir"' EXIT INT TERM

# run OPS: prints the packets per second both ports received while measured.
run() {
	{
		sleep 1
		echo "show port stats all" # the start of the measured interval
		sleep "$secs"
		echo "show port stats all"
		echo quit
	} | UDMA_PAGE_SIZE=$udma_pages dpdk-testpmd -l 0-1 -d "$plugin" --mbuf-pool-ops-name="$1" --no-pci $eal_mem \
		--no-telemetry --vdev=net_null0 --vdev=net_null1 -- -i --forward-mode=io --auto-start \
		--total-num-mbufs=8192 --mbuf-size="$mbuf_size" >"$tmp/out" 2>&1 || : # judged by its output below
	grep -q "preferred mempool ops selected: $1" "$tmp/out" && grep -q "Start automatic packet forwarding" "$tmp/out" || {
		echo "testpmd did not run with the $1 ops:" >&2
		tail -n 5 "$tmp/out" >&2
		exit 1
	}
	# Rx-pps of port 0 and port 1 in the last "show port stats all".
	grep "Rx-pps:" "$tmp/out" | tail -n 2 | awk '{ s += $2 } END { print s }'
}

for rep in $(seq 1 "$reps"); do
	for ops in $all_ops; do
		pps=$(run $ops)
		echo "$ops $pps" >>"$tmp/all"
		printf '{"bench":"dpdk_testpmd","memory":"%s","udma_pages":"%s","mbuf_size":%d,"ops":"%s","rep":%d,"seconds":%d,"rx_pps":%d,"loadavg_1min":%s}\n' \
			"$mem" "$udma_pages" "$mbuf_size" "$ops" "$rep" "$secs" "$pps" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
median() { grep "^$1 " "$tmp/all" | awk '{ print $2 }' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for ops in $all_ops; do
	printf '{"bench":"dpdk_testpmd","memory":"%s","mbuf_size":%d,"ops":"%s","reps":%d,"median_rx_pps":%d}\n' "$mem" "$mbuf_size" "$ops" "$reps" "$(median $ops)"
done
u=$(median udma)
for ops in ring_mp_mc stack; do
	printf '{"bench":"dpdk_testpmd","memory":"%s","mbuf_size":%d,"ratio":"udma/%s","value":%s}\n' "$mem" "$mbuf_size" "$ops" \
		"$(awk -v u="$u" -v r="$(median $ops)" 'BEGIN { printf "%.3f", u / r }')"
done
