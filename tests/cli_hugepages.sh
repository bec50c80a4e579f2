#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma hugepages`:
# - a request larger than the memory the kernel could still give (1T, twice
#   RAM, 16777215T, 2^64-1 bytes of 1 GiB pages, which used to wrap to 0
#   pages) is refused with the figures before anything is written; size 0 is
#   refused;
# - --release gives back only what udma reserved (its record: 0600 in a 0700
#   directory), never pages in use, never below what others had; --release
#   SIZE gives back an amount; --release-all empties the pool's free pages;
#   a record that is damaged or in a directory that is not private is refused.
# As root these run in a mount namespace of their own where
# /sys/kernel/mm/hugepages is a stand-in made of plain files, so no real pool
# is ever touched, even by a udma that got the bounds wrong. Then a round trip
# on the real 2 MiB pool (8 MiB, by deltas: other users resize it too), and
# reserving as nobody.
# Usage: tests/cli_hugepages.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$(cd "$(dirname "$build/udma")" && pwd)/udma
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0
export UDMA_RUN_DIR="$tmp/run"

. "$(dirname "$0")/lib/tap.sh"

memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
twice_ram="$((memtotal_kb * 2))K"

# ---- refusals that need no privilege --------------------------------------

"$udma" hugepages --reserve 0 >"$tmp/out" 2>"$tmp/err"
check "--reserve 0 is refused (exit 2)" test $? -eq 2
"$udma" hugepages --release 0 >"$tmp/out" 2>"$tmp/err"
check "--release 0 is refused (exit 2)" test $? -eq 2
"$udma" hugepages --release 12Q >"$tmp/out" 2>"$tmp/err"
check "--release 12Q is refused (exit 2)" test $? -eq 2

# ---- the stand-in pools ------------------------------------------------------

# pool KB TOTAL FREE [RESV]: set a stand-in pool's counts.
pool() {
	d=$tmp/hp/hugepages-${1}kB
	mkdir -p "$d"
	echo "$2" >"$d/nr_hugepages"
	echo "$3" >"$d/free_hugepages"
	echo "${4:-0}" >"$d/resv_hugepages"
	echo 0 >"$d/surplus_hugepages"
}
nr() { cat "$tmp/hp/hugepages-${1}kB/nr_hugepages"; }
# fake ARGS...: udma ARGS with the stand-in in place of /sys/kernel/mm/hugepages.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
fake() {
	unshare -m sh -c 'mount --bind "$0" /sys/kernel/mm/hugepages && exec "$@"' "$tmp/hp" "$udma" "$@"
}
# json_is FILE EXPR: the JSON document in FILE satisfies the Python expression (d is the document).
json_is() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' "$1" "$2" \
		2>"$tmp/err"
}
record() { cat "$UDMA_RUN_DIR/hugepages-2048kB" 2>/dev/null; }

pool 2048 0 0
pool 1048576 0 0
if [ "$(id -u)" != 0 ] || ! fake hugepages --status >"$tmp/out" 2>&1; then
	ok "stand-in pools # skip: needs root and a mount namespace (unshare -m)"
	echo "1..$n"
	exit $failed
fi

# refused "DESC" ARGS...: exit 1, saying what memory there is; no pool written.
refused() {
	desc=$1
	shift
	fake hugepages "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 1 ] && grep -q "MemAvailable in /proc/meminfo" "$tmp/err" &&
		grep -q "nothing was changed" "$tmp/err" && [ "$(nr 2048)" = 0 ] && [ "$(nr 1048576)" = 0 ]; then
		ok "$desc is refused with the figures, nothing written"
	else
		echo "exit $rc, 2 MiB pool $(nr 2048), 1 GiB pool $(nr 1048576)" >>"$tmp/err"
		not_ok "$desc is refused with the figures, nothing written"
	fi
}
refused "--reserve $twice_ram (twice RAM)" --reserve "$twice_ram"
[ "$memtotal_kb" -lt $((1 << 30)) ] && refused "--reserve 1T" --reserve 1T
refused "--reserve 16777215T" --reserve 16777215T
refused "--reserve $twice_ram --page-size 1G" --reserve "$twice_ram" --page-size 1G
fake hugepages --reserve 18446744073709551615 --page-size 1G --json >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--reserve 2^64-1 --page-size 1G --json: exit 1, ok false, ENOMEM, nothing written" \
	json_is "$tmp/out" "d['ok'] is False and d['errno'] == 12 and 'MemAvailable' in d['error'] \
		and $rc == 1 and $(nr 1048576) == 0"

# Others hold 10 free pages; udma has reserved none.
pool 2048 10 10
fake hugepages --release >"$tmp/out" 2>"$tmp/err"
check "--release with nothing on record: exit 0, says so" grep -q "none given back: udma has reserved none" "$tmp/out"
check "... and the others' 10 pages stay" test "$(nr 2048)" = 10

fake hugepages --reserve 40M --json >"$tmp/out" 2>"$tmp/err"
check "--reserve 40M with 10 free: adds the 10 missing" json_is "$tmp/out" \
	"d['ok'] and d['op'] == 'reserved' and d['asked'] == 20 and d['added'] == 10 and d['recorded'] == 10"
check "... the pool is 20" test "$(nr 2048)" = 20
check "... the record says 10 of udma's, 10 of others'" test "$(record)" = "pages 10
others 10"
check "... in a 0700 directory, a 0600 file" test "$(stat -c %a "$UDMA_RUN_DIR")" = 700 -a \
	"$(stat -c %a "$UDMA_RUN_DIR/hugepages-2048kB")" = 600

pool 2048 20 3 # 17 in use: only 3 can go
fake hugepages --release --json >"$tmp/out" 2>"$tmp/err"
check "--release with 17 pages in use: gives back the 3 free, keeps 7 on record" json_is "$tmp/out" \
	"d['released'] == 3 and d['had'] == 10 and d['kept_in_use'] == 7 and d['recorded'] == 7"
check "... the pool is 17" test "$(nr 2048)" = 17

pool 2048 17 17
fake hugepages --release 4M --json >"$tmp/out" 2>"$tmp/err"
check "--release 4M gives back 2 pages" json_is "$tmp/out" "d['asked'] == 2 and d['released'] == 2 and d['recorded'] == 5"
check "... the pool is 15" test "$(nr 2048)" = 15

pool 2048 15 15
fake hugepages --release 1G >"$tmp/out" 2>"$tmp/err"
check "--release 1G gives back the 5 left, and says udma had only 5" grep -q "5 given back.*asked 512, but udma had reserved 5" "$tmp/out"
check "... the pool is back to the others' 10" test "$(nr 2048)" = 10
check "... and the record is gone" test ! -e "$UDMA_RUN_DIR/hugepages-2048kB"

# The pool shrank below the record: never below what others had.
printf 'pages 99\nothers 4\n' >"$UDMA_RUN_DIR/hugepages-2048kB"
pool 2048 10 10
fake hugepages --release >"$tmp/out" 2>"$tmp/err"
check "a record larger than the pool: gives back only what is above the others' 4" test "$(nr 2048)" = 4
check "... and says the pool was shrunk" grep -q "it was shrunk, so udma claims only 6" "$tmp/out"

pool 2048 10 8
fake hugepages --release-all --json >"$tmp/out" 2>"$tmp/err"
check "--release-all writes 0 (the kernel keeps pages in use)" test "$(nr 2048)" = 0
check "... and reports it" json_is "$tmp/out" "d['op'] == 'released-all' and d['released'] == 10"

echo "pages 1x" >"$UDMA_RUN_DIR/hugepages-2048kB"
fake hugepages --release >"$tmp/out" 2>"$tmp/err"
check "a damaged record is refused, saying what to do" sh -c "[ $? = 1 ] && grep -q 'is damaged.*remove it' '$tmp/err'"
rm -f "$UDMA_RUN_DIR/hugepages-2048kB"
chmod 755 "$UDMA_RUN_DIR"
fake hugepages --reserve 4M >"$tmp/out" 2>"$tmp/err"
check "a record directory others can read is refused" sh -c "[ $? = 1 ] && grep -q 'is not private' '$tmp/err'"
chmod 700 "$UDMA_RUN_DIR"

# udma info says how to get hugepages when none are free.
pool 2048 0 0
pool 1048576 0 0
fake info >"$tmp/out" 2>"$tmp/err"
check "info with no free hugepage says how to reserve some" grep -q "reserve with: udma hugepages --reserve" "$tmp/out"

# ---- the real 2 MiB pool -----------------------------------------------------

real=/sys/kernel/mm/hugepages/hugepages-2048kB
if [ -w $real/nr_hugepages ]; then
	# A reservation that the kernel can give at once, given back by udma's
	# own record whatever others do to the pool meanwhile. Someone may map
	# pages of it meanwhile (they are anyone's once free): then --release
	# keeps those on the record, and is run again until they are back.
	"$udma" hugepages --reserve 8M --json >"$tmp/out" 2>"$tmp/err"
	check "real pool: --reserve 8M" json_is "$tmp/out" "d['ok'] and d['added'] <= 4 and d['recorded'] == d['added']"
	added=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["added"])' "$tmp/out" 2>/dev/null)
	released=0
	for _ in $(seq 120); do
		"$udma" hugepages --release --json >"$tmp/out" 2>"$tmp/err" || break
		released=$((released + $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["released"])' "$tmp/out")))
		[ -e "$UDMA_RUN_DIR/hugepages-2048kB" ] || break
		sleep 0.5
	done
	check "real pool: --release gives back exactly what it added (${added:-?}, gave $released)" \
		test "$released" = "${added:-x}" -a ! -e "$UDMA_RUN_DIR/hugepages-2048kB"
	# As nobody: no pool changes, and the reason is root.
	setpriv --reuid=65534 --regid=65534 --clear-groups env UDMA_RUN_DIR="$tmp/nobody" \
		"$udma" hugepages --reserve "$((($(cat $real/free_hugepages) + 4) * 2))M" >"$tmp/out" 2>"$tmp/err"
	check "reserving as nobody fails, naming root" sh -c "[ $? = 1 ] && grep -q root '$tmp/err'"
else
	ok "real pool round trip # skip: $real/nr_hugepages is not writable (not root, or no 2 MiB pages)"
fi

echo "1..$n"
exit $failed
