#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma bench` and `udma bench pin` (no timing is checked, only that
# every method gives a row, a time or the reason it could not run):
# - --json: one JSON object per line, each with schema 1; a row for every
#   method at every size, each with median_ns or a skip reason; the names
#   hold the words a reader looks for (brk, malloc, populate, mlock,
#   hugetlb, longterm, udma, vfio); a failure ends with an ok:false line;
# - --csv: a header, then as many rows as --json gave; the table names
#   every method; --plot: well-formed XML (xmllint) with one series and one
#   legend entry per measured method; a plot it cannot write fails (exit 1);
# - --help names every option; bad input exits 2 with the reason;
# - as nobody, the root-only methods say so and the run succeeds; with a
#   small RLIMIT_MEMLOCK the mlock methods name RLIMIT_MEMLOCK;
# - the long-term pins show in VmPin, mlock does not; --migrate once, on
#   2 MiB, reports pages_moved (none moved under a long-term pin);
# - --plot is opened before the run: a missing directory fails at once, a
#   symlink or /dev/null is refused; a method that fails is an error (exit 1);
# - nothing is left behind: every hugepage it reserved given back (its own
#   hugepages row), no files.
# Usage: tests/cli_bench.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$(cd "$(dirname "$build/udma")" && pwd)/udma
tmp=$(mktemp -d) || exit 1
chmod 755 "$tmp" # nobody writes its plots here too
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

# python3 CHECK FILE...: the rows of a --json run; fails (with why on stderr) if CHECK does.
rows() {
	code=$1
	shift
	python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
measured = [r for r in rows if "median_ns" in r or r.get("skipped")]
args = sys.argv[2:]
'"$code" "$@" 2>>"$tmp/err"
}

# ---- a whole run: JSON lines, and the plot of the same run --------------------

cd "$tmp" || exit 1
: >"$tmp/err"
"$udma" bench pin --sizes 4K,2M --runs 3 --json --plot "$tmp/pin.svg" >"$tmp/pin.json" 2>>"$tmp/err"
check "pin --sizes 4K,2M --runs 3 --json --plot: exit 0" test $? -eq 0
check "every line is JSON with schema 1" rows '
assert rows and all(r.get("schema") == 1 for r in rows), [r for r in rows if r.get("schema") != 1]' \
	"$tmp/pin.json"
methods=$("$udma" bench pin --help | sed -n 's/^  methods: //p' | tr ',' ' ')
check "the usage lists the methods ($(echo "$methods" | wc -w))" test "$(echo "$methods" | wc -w)" -ge 20
# shellcheck disable=SC2086 # one argument per method
check "a row for every method at 4K and at 2M" rows '
got = {(r["method"], r["size"]) for r in measured}
want = {(m, s) for m in args for s in (4096, 2097152)}
assert want <= got, sorted(want - got)' "$tmp/pin.json" $methods
check "every row has a median_ns or says why it was skipped" rows '
bad = [r for r in measured if not (isinstance(r.get("median_ns"), (int, float)) and r["median_ns"] > 0
       and r["skipped"] is None) and not (isinstance(r.get("skipped"), str) and len(r["skipped"]) > 5)]
assert not bad, bad' "$tmp/pin.json"
check "the names hold brk, malloc, populate, mlock, hugetlb, longterm, udma, vfio" rows '
names = " ".join(r["method"] for r in measured)
missing = [w for w in "brk malloc populate mlock hugetlb longterm udma vfio".split() if w not in names]
assert not missing, missing' "$tmp/pin.json"
check "udma_region_vfio_map_dma without --device says so" rows '
vf = [r for r in measured if r["method"] == "udma_region_vfio_map_dma"]
assert vf and all(r["skipped"] == "no --device vfio:BDF given" for r in vf), vf' "$tmp/pin.json"
check "no row failed (error) in a run that exited 0" rows '
assert not [r for r in rows if r.get("error") or r.get("ok") is False], [r for r in rows if r.get("error")]' \
	"$tmp/pin.json"
if [ "$(id -u)" = 0 ]; then
	check "as root the root-only methods were measured, not skipped" rows '
want = "udma_region_4K longterm_pin_io_uring pagemap_per_page pagemap_bulk".split()
got = {r["method"] for r in measured if r["size"] == 4096 and r.get("median_ns") and r["skipped"] is None}
assert set(want) <= got, [r for r in measured if r["method"] in want and r["method"] not in got]' \
		"$tmp/pin.json"
else
	ok "as root the root-only methods were measured # skip: not root"
fi
check "sizes rounded up to a page size say so (mapped_bytes)" rows '
r = [r for r in measured if r["method"] == "hugetlb_mmap_2M" and r["size"] == 4096][0]
assert r["skipped"] or r["mapped_bytes"] == 2097152, r' "$tmp/pin.json"
check "the long-term pins show in VmPin (longterm_pin true), mlock's do not" rows '
held = {r["method"]: r["longterm_pin"] for r in measured if r.get("median_ns") and "longterm_pin" in r}
assert all(v for k, v in held.items() if k.startswith("longterm_pin_")), held
assert not any(v for k, v in held.items() if "mlock" in k), held' "$tmp/pin.json"

check "--plot: well-formed XML" xmllint --noout "$tmp/pin.svg"
check "--plot: one series and one legend entry per measured method" rows '
import re
svg = open(args[0]).read()
timed = sorted({r["method"] for r in measured if r.get("median_ns")})
series = re.findall(r"<g class=\"series\" data-method=\"([^\"]*)\"", svg)
legend = re.findall(r"<g class=\"legend\">.*?<text[^>]*>([^<]*)</text>", svg)
assert sorted(series) == timed and sorted(legend) == timed, (series, legend, timed)
assert ">4K<" in svg and ">2M<" in svg, "no size ticks"' "$tmp/pin.json" "$tmp/pin.svg"

# ---- CSV and the table ----------------------------------------------------------

"$udma" bench pin --sizes 4K,2M --runs 3 --csv >"$tmp/pin.csv" 2>>"$tmp/err"
check "--csv: exit 0" test $? -eq 0
check "--csv: a header first, then a row per JSON row, each as long as the header" python3 -c '
import csv, json, sys
table = list(csv.reader(open(sys.argv[1])))
rows = [json.loads(l) for l in open(sys.argv[2])]
measured = [r for r in rows if "median_ns" in r or r.get("skipped")]
head = table[0]
assert head[:10] == "bench method size page_size median_ns min_ns max_ns runs skipped error".split(), head
assert len(table) - 1 == len(measured), (len(table) - 1, len(measured))
assert all(len(r) == len(head) for r in table), "ragged rows"' "$tmp/pin.csv" "$tmp/pin.json"

"$udma" bench pin --sizes 4K --runs 1 >"$tmp/table" 2>>"$tmp/err"
# shellcheck disable=SC2016,SC2086 # $0 and $@ are the inner shell's; one argument per method
check "the table: exit 0, a header and a line per method" sh -c '
	grep -q "^method  *size  *page  *median" "$1" || exit 1
	shift
	for m in "$@"; do grep -q "^$m " "$0" || { echo "no $m" >&2; exit 1; }; done' \
	"$tmp/table" "$tmp/table" $methods

# ---- help and refusals ----------------------------------------------------------

for cmd in "bench --help" "bench pin --help"; do
	# shellcheck disable=SC2086 # split on purpose
	"$udma" $cmd >"$tmp/out" 2>"$tmp/err"
	# shellcheck disable=SC2016 # $0 and $1 are the inner shell's
	check "udma $cmd: exit 0, names every option" sh -c '[ $0 = 0 ] && for o in --sizes --page-size \
		--runs --methods --migrate --device --json --csv --plot; do grep -q -- "$o" "$1" || exit 1; done' \
		$? "$tmp/out"
done
for bad in "pin --sizes 0" "pin --sizes 3X" "pin --runs 0" "pin --methods nosuch" "pin --page-size 8K" \
	"pin --device uio:x" "pin --plot" "nosuch"; do
	# shellcheck disable=SC2086 # split on purpose
	"$udma" bench $bad >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "bench $bad: exit 2 with the reason, and where the usage is (not all of it)" sh -c "[ $rc = 2 ] &&
		head -n 1 '$tmp/err' | grep -q 'udma bench: ..' && [ \$(wc -l <'$tmp/err') -eq 2 ] &&
		tail -n 1 '$tmp/err' | grep -q 'see .udma bench.*--help'"
done
"$udma" bench pin --json --runs 0 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--json --runs 0: exit 2, the last line says why (ok false, errno 22)" python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert sys.argv[2] == "2" and d["schema"] == 1 and d["ok"] is False and "--runs" in d["error"] and d["errno"] == 22, d' \
	"$tmp/out" $rc
"$udma" bench pin --sizes 4K --methods mmap_touch --runs 1 --plot "$tmp/no/such/dir/x.svg" >"$tmp/out" 2>"$tmp/err"
check "a plot it cannot write: exit 1, naming the file" sh -c "[ $? = 1 ] && grep -q 'cannot write the plot' '$tmp/err'"
"$udma" bench pin --sizes 4K --methods mmap_touch --runs 1 --json --plot /nonexistent/x.svg >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--plot /nonexistent/x.svg: exit 1 before the run (no row, only the failure line)" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert sys.argv[2] == "1" and len(lines) == 1, (sys.argv[2], lines)
d = json.loads(lines[0])
assert d["ok"] is False and "/nonexistent/x.svg" in d["error"], d' "$tmp/out" $rc
echo "not a plot" >"$tmp/target"
ln -s "$tmp/target" "$tmp/link.svg"
"$udma" bench pin --sizes 4K --methods mmap_touch --runs 1 --plot "$tmp/link.svg" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--plot through a symlink: refused (exit 1, one line), the file it points to untouched" sh -c "
	[ $rc = 1 ] && [ \$(wc -l <'$tmp/err') -eq 1 ] && grep -q 'symbolic link' '$tmp/err' &&
	[ \"\$(cat '$tmp/target')\" = 'not a plot' ] && [ ! -s '$tmp/out' ]"
"$udma" bench pin --sizes 4K --methods mmap_touch --runs 1 --plot /dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--plot /dev/null: refused, not a regular file (exit 1)" sh -c "
	[ $rc = 1 ] && grep -q 'not a regular file' '$tmp/err' && [ ! -s '$tmp/out' ]"
"$udma" bench pin --sizes 4K --methods vfio --device vfio:0000:ff:1f.7 --runs 1 --json >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a method that fails (no such device) is an error, not a skip: exit 1, ok:false last" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
vf = [r for r in rows if r.get("method") == "udma_region_vfio_map_dma"]
assert sys.argv[2] == "1" and len(vf) == 1 and vf[0]["error"] and vf[0]["skipped"] is None, (sys.argv[2], vf)
assert rows[-1]["ok"] is False and "udma_region_vfio_map_dma" in rows[-1]["error"], rows[-1]' "$tmp/out" $rc

# ---- unprivileged ---------------------------------------------------------------

if [ "$(id -u)" = 0 ]; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$udma" bench pin --sizes 4K --runs 1 --json \
		>"$tmp/nobody.json" 2>"$tmp/err"
	check "as nobody: exit 0" test $? -eq 0
	check "as nobody: the PFN methods are skipped, saying root" rows '
pm = [r for r in measured if r["method"].startswith("pagemap_")]
assert len(pm) == 2 and all("root" in r["skipped"] for r in pm), pm
assert all(r.get("pfns") == "PFNs need root" for r in measured if r.get("median_ns")), "PFNs read as nobody?"' \
		"$tmp/nobody.json"
	prlimit --memlock=65536:65536 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$udma" bench pin --sizes 2M --methods mlock --runs 1 --json >"$tmp/memlock.json" 2>"$tmp/err"
	check "RLIMIT_MEMLOCK 64K: exit 0" test $? -eq 0
	check "RLIMIT_MEMLOCK 64K: each mlock method is skipped naming RLIMIT_MEMLOCK" rows '
ml = [r for r in measured if "mlock" in r["method"]]
assert len(ml) == 3 and all("RLIMIT_MEMLOCK" in (r["skipped"] or "") for r in ml), ml' "$tmp/memlock.json"
else
	ok "as nobody # skip: not root (setpriv needs root)"
	ok "RLIMIT_MEMLOCK # skip: not root"
fi

# ---- --migrate, once, small: it offlines the memory blocks under 2 MiB --------

if [ "$(id -u)" = 0 ]; then
	"$udma" bench pin --sizes 2M --runs 1 --methods mmap_mlock,longterm_pin_io_uring --migrate --json \
		>"$tmp/migrate.json" 2>"$tmp/err"
	check "--migrate: exit 0, pages_moved on every row (or why not), none for a long-term pin" rows '
rs = [r for r in measured if r.get("median_ns")]
assert len(rs) == 2 and all("pages_moved" in r for r in rs), rs
lt = [r for r in rs if r["method"] == "longterm_pin_io_uring"][0]
assert isinstance(lt["pages_moved"], str) or lt["pages_moved"] == 0, lt' "$tmp/migrate.json"
	"$udma" bench pin --sizes 4K --runs 1 --methods malloc --json >"$tmp/out" 2>"$tmp/err"
	check "without --migrate no pages_moved" rows 'assert not any("pages_moved" in r for r in rows)' "$tmp/out"
else
	ok "--migrate # skip: not root (it offlines memory)"
	ok "without --migrate no pages_moved # skip: not root"
fi

# ---- nothing left behind --------------------------------------------------------

# The pools are the machine's and other processes (tests elsewhere) resize
# them, so the pass/fail is the run's own account: what it reserved, and
# what of that it could not give back, which must be none.
if [ "$(id -u)" = 0 ]; then
	check "the run gave back every hugepage it reserved (its hugepages row)" rows '
hp = [r for r in rows if r["method"] == "hugepages"]
assert len(hp) <= 1, hp
assert not hp or (hp[0]["not_given_back_2M"] == 0 and hp[0]["not_given_back_1G"] == 0), hp' "$tmp/pin.json"
else
	ok "the run gave back every hugepage it reserved # skip: not root, it reserves none"
fi
check "no files left but the test's own" sh -c "[ \"\$(ls '$tmp' | grep -v -x -E \
	'pin.json|pin.svg|pin.csv|table|out|err|nobody.json|memlock.json|migrate.json|target|link.svg')\" = '' ]"

echo "1..$n"
exit $failed
