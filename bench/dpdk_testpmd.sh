#!/bin/sh
# SPDX-License-Identifier: MIT
# dpdk-testpmd's io-forward rate between two net_null ports with the udma
# mempool ops (contrib/dpdk) against DPDK's default ring ops (ring_mp_mc),
# alternating in the same run. net_null's receive takes every packet's mbuf
# from the pool and its transmit gives it back, so the rate is the mempool's
# (through DPDK's lcore cache of 250, the ops behind it). The rate is testpmd's
# own "Rx-pps" of both ports over the measured seconds, after a second of
# warm-up. One JSON line per run, then one per ops with the median, then the
# ratio (udma / ring_mp_mc; above 1: udma forwards more).
# Usage: bench/dpdk_testpmd.sh [BUILD_DIR [REPS [SECONDS]]]
#   run it as: flock /tmp/udma-bench.lock bench/dpdk_testpmd.sh
set -eu

build=${1:-build}
reps=${2:-5}
secs=${3:-5}
plugin=$(cd "$build" && pwd)/dpdk/librte_mempool_udma.so
[ -f "$plugin" ] || {
	echo "$plugin: not built (make, with libdpdk-dev installed)" >&2
	exit 1
}
command -v dpdk-testpmd >/dev/null || {
	echo "dpdk-testpmd: not found (apt-get install dpdk-dev)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# run OPS: prints the packets per second both ports received while measured.
run() {
	{
		sleep 1
		echo "show port stats all" # the start of the measured interval
		sleep "$secs"
		echo "show port stats all"
		echo quit
	} | dpdk-testpmd -l 0-1 -d "$plugin" --mbuf-pool-ops-name="$1" --no-pci --no-huge --no-shconf -m 256 \
		--no-telemetry --vdev=net_null0 --vdev=net_null1 -- -i --forward-mode=io --auto-start \
		--total-num-mbufs=16384 >"$tmp/out" 2>&1
	grep -q "preferred mempool ops selected: $1" "$tmp/out" || {
		echo "testpmd did not select the $1 ops:" >&2
		cat "$tmp/out" >&2
		exit 1
	}
	# Rx-pps of port 0 and port 1 in the last "show port stats all".
	grep "Rx-pps:" "$tmp/out" | tail -n 2 | awk '{ s += $2 } END { print s }'
}

for rep in $(seq 1 "$reps"); do
	for ops in udma ring_mp_mc; do
		pps=$(run $ops)
		echo "$ops $pps" >>"$tmp/all"
		printf '{"bench":"dpdk_testpmd","ops":"%s","rep":%d,"seconds":%d,"rx_pps":%d}\n' "$ops" "$rep" "$secs" "$pps"
	done
done
median() { grep "^$1 " "$tmp/all" | awk '{ print $2 }' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
u=$(median udma)
r=$(median ring_mp_mc)
for ops in udma ring_mp_mc; do
	printf '{"bench":"dpdk_testpmd","ops":"%s","reps":%d,"median_rx_pps":%d}\n' "$ops" "$reps" "$(median $ops)"
done
printf '{"bench":"dpdk_testpmd","ratio_udma_to_ring":%s}\n' "$(awk -v u="$u" -v r="$r" 'BEGIN { printf "%.3f", u / r }')"
