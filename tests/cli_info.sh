#!/bin/sh
# udma info and udma hugepages: output, JSON, errors, and a reserve/release round trip as root.
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
check "info rejects a bad option (exit 2)" sh -c "$udma info --bogus 2>/dev/null; [ \$? = 2 ]"
check "unknown command exits 2" sh -c "$udma frobnicate 2>/dev/null; [ \$? = 2 ]"
check "hugepages --status --json is JSON" sh -c "$udma hugepages --status --json | python3 -m json.tool >/dev/null"
check "hugepages --reserve with a bad size exits 2" sh -c "$udma hugepages --reserve 12Q 2>/dev/null; [ \$? = 2 ]"
check "hugepages --page-size 3M exits 2" sh -c "$udma hugepages --reserve 4M --page-size 3M 2>/dev/null; [ \$? = 2 ]"
check "hugepages --node 999 exits 2" sh -c "$udma hugepages --reserve 4M --node 999 2>/dev/null; [ \$? = 2 ]"

if [ "$(id -u)" = 0 ]; then
	f=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	before=$(cat $f)
	trap 'echo "$before" >$f' EXIT
	check "hugepages --reserve 8M" $udma hugepages --reserve 8M
	check "hugepages --reserve --json is JSON" sh -c "$udma hugepages --json --reserve 8M | python3 -m json.tool >/dev/null"
	free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	check "4 pages of 2 MiB are free after reserving 8M" [ "$free" -ge 4 ]
	check "hugepages --release" $udma hugepages --release
	d=/sys/kernel/mm/hugepages/hugepages-2048kB
	check "release leaves no free page (pages in use stay)" [ $(($(cat $d/free_hugepages) - $(cat $d/resv_hugepages))) = 0 ]
	# with no 2 MiB page left to have (1 GiB ones too: release them for this check)
	g=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
	[ -f $g ] && g_before=$(cat $g) && echo 0 >$g
	check "info says how to fix missing hugepages" sh -c "$udma info | grep -q 'reserve with: udma hugepages --reserve'"
	[ -f $g ] && echo "$g_before" >$g
	check "reserving as nobody fails with a reason" sh -c "setpriv --reuid=65534 --regid=65534 --clear-groups $udma hugepages --reserve 64G 2>&1 | grep -q root"
else
	echo "ok $((n + 1)) - reservation round trip # skip: not root"
fi
