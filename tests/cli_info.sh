#!/bin/sh
# udma info and udma hugepages: output, JSON, errors (reserving and releasing: cli_hugepages.sh).
set -u
udma=${1:-build}/udma
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc"; fi; }

out=$($udma info) && ok "udma info runs" || nok "udma info runs"
echo "$out" | sed 's/^/# /'
check "info names the IOVA mode" sh -c "echo '$out' | grep -q '^iova mode'"
check "info --json is JSON" sh -c "$udma info --json | python3 -m json.tool >/dev/null"
check "info --json has the IOVA mode" sh -c "$udma info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"iova_mode\"] in (\"PA\",\"VA\"), d'"
check "info names the pinning" sh -c "echo '$out' | grep -q '^pinning '"
# PA mode exactly when PFNs are readable and long-term pins work (as root here: both, unless io_uring is off).
check "info --json: PA mode only with a long-term pin" sh -c "$udma info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d[\"longterm_pin\"], bool) and d[\"pinning\"], d; assert (d[\"iova_mode\"] == \"PA\") == (d[\"pfns_readable\"] and d[\"longterm_pin\"]), d'"
# DMA-BUF heaps and udmabuf as the kernel offers them: a stand-in /dev (UDMA_DEV_ROOT) with two heaps.
check "info --json: coherence, heaps and udmabuf as this kernel has them" sh -c "$udma info --json | python3 -c 'import json,os,sys; d=json.load(sys.stdin); assert isinstance(d[\"dma_coherent\"], bool), d; h=sorted(os.listdir(\"/dev/dma_heap\")) if os.path.isdir(\"/dev/dma_heap\") else []; assert sorted(d[\"dma_heaps\"]) == h, d; assert d[\"udmabuf\"] == os.path.exists(\"/dev/udmabuf\"), d'"
fake=$(mktemp -d)
mkdir "$fake/dma_heap" && : >"$fake/dma_heap/linux,cma" && : >"$fake/dma_heap/system"
check "info --json lists each heap whole (linux,cma has a comma)" sh -c "UDMA_DEV_ROOT=$fake $udma info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert sorted(d[\"dma_heaps\"]) == [\"linux,cma\", \"system\"], d'"
check "info names the heaps" sh -c "UDMA_DEV_ROOT=$fake $udma info | grep -q '^dma heaps .*linux,cma'"
rm -rf "$fake"
check "info rejects a bad option (exit 2)" sh -c "$udma info --bogus 2>/dev/null; [ \$? = 2 ]"
check "unknown command exits 2" sh -c "$udma frobnicate 2>/dev/null; [ \$? = 2 ]"
check "hugepages --status --json is JSON" sh -c "$udma hugepages --status --json | python3 -m json.tool >/dev/null"
check "hugepages --reserve with a bad size exits 2" sh -c "$udma hugepages --reserve 12Q 2>/dev/null; [ \$? = 2 ]"
check "hugepages --page-size 3M exits 2" sh -c "$udma hugepages --reserve 4M --page-size 3M 2>/dev/null; [ \$? = 2 ]"
check "hugepages --node 999 exits 2" sh -c "$udma hugepages --reserve 4M --node 999 2>/dev/null; [ \$? = 2 ]"

# Reserving and releasing, and info's advice with no hugepage free: tests/cli_hugepages.sh.
