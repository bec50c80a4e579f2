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
# - one operation per call (two are a usage error, exit 2);
# - the record: a FIFO or a link in its place is refused, never waited on or
#   followed; a leftover temporary file is not reused; a record from another
#   boot (or of none) is ignored, saying so; an out-of-range count is damage;
# - --reserve --node N tells to release with --node N, and that works;
# - as nobody, --release and --release-all say root is needed (not "reserving").
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

. "$(dirname "$0")/support/tap.sh"

memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
twice_ram="$((memtotal_kb * 2))K"

# ---- refusals that need no privilege --------------------------------------

"$udma" hugepages --reserve 0 >"$tmp/out" 2>"$tmp/err"
check "--reserve 0 is refused (exit 2)" test $? -eq 2
"$udma" hugepages --release 0 >"$tmp/out" 2>"$tmp/err"
check "--release 0 is refused (exit 2)" test $? -eq 2
"$udma" hugepages --release 12Q >"$tmp/out" 2>"$tmp/err"
check "--release 12Q is refused (exit 2)" test $? -eq 2
for ops in "--release 2M --release-all" "--reserve 4M --release" "--release-all --status" "--status --reserve 2M"; do
	# shellcheck disable=SC2086 # ops is split on purpose
	"$udma" hugepages $ops >"$tmp/out" 2>"$tmp/err"
	check "$ops: refused, one operation at a time (exit 2)" \
		sh -c "[ $? = 2 ] && grep -q 'one operation at a time' '$tmp/err' && grep -q usage '$tmp/err'"
done
"$udma" hugepages --json --reserve 4M --release-all >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--json --reserve 4M --release-all: exit 2, a JSON error" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert sys.argv[2] == "2" and d["ok"] is False and "one operation at a time" in d["error"], d' "$tmp/out" $rc

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
# npool KB TOTAL FREE: the same for the stand-in of node 0's pool.
npool() {
	d=$tmp/node0/hugepages-${1}kB
	mkdir -p "$d"
	echo "$2" >"$d/nr_hugepages"
	echo "$3" >"$d/free_hugepages"
	echo 0 >"$d/surplus_hugepages"
}
nnr() { cat "$tmp/node0/hugepages-${1}kB/nr_hugepages"; }
node0=/sys/devices/system/node/node0/hugepages
# fake ARGS...: udma ARGS with the stand-in in place of /sys/kernel/mm/hugepages.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
fake() {
	unshare -m sh -c 'mount --bind "$0" /sys/kernel/mm/hugepages && exec "$@"' "$tmp/hp" "$udma" "$@"
}
# fake_timed ARGS...: fake, killed after 20 s (for what used to hang).
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
fake_timed() {
	timeout 20 unshare -m sh -c 'mount --bind "$0" /sys/kernel/mm/hugepages && exec "$@"' "$tmp/hp" "$udma" "$@"
}
# fake_node ARGS...: the same, with node 0's pools a stand-in too.
# shellcheck disable=SC2016 # $0, $1 and $@ are the inner shell's
fake_node() {
	unshare -m sh -c 'mount --bind "$0" /sys/kernel/mm/hugepages && mount --bind "$1" '$node0' && shift &&
		exec "$@"' "$tmp/hp" "$tmp/node0" "$udma" "$@"
}
# fake_nobody DIR ARGS...: fake, as nobody, with its record in DIR.
# shellcheck disable=SC2016 # $0, $1 and $@ are the inner shell's
fake_nobody() {
	unshare -m sh -c 'mount --bind "$0" /sys/kernel/mm/hugepages && shift &&
		exec setpriv --reuid=65534 --regid=65534 --clear-groups env UDMA_RUN_DIR="$0" "$@"' \
		"$tmp/hp" "$@"
}
boot=$(cat /proc/sys/kernel/random/boot_id)
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
check "... the record says 10 of udma's, 10 of others', this boot" test "$(record)" = "pages 10
others 10
boot $boot"
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
printf 'pages 99\nothers 4\nboot %s\n' "$boot" >"$UDMA_RUN_DIR/hugepages-2048kB"
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

# The record is a regular file or nothing: never a FIFO to wait on, a link to follow.
rec=$UDMA_RUN_DIR/hugepages-2048kB
pool 2048 10 10
mkfifo "$rec"
fake_timed hugepages --release >"$tmp/out" 2>"$tmp/err"
check "a FIFO as the record: refused at once (exit 1), not waited on" \
	sh -c "[ $? = 1 ] && grep -q 'is not a regular file: remove it' '$tmp/err'"
rm -f "$rec"
ln -s "$tmp/elsewhere" "$rec"
printf 'pages 10\nothers 0\nboot %s\n' "$boot" >"$tmp/elsewhere"
fake hugepages --release >"$tmp/out" 2>"$tmp/err"
check "a link as the record: refused, not followed" \
	sh -c "[ $? = 1 ] && grep -q 'is not a regular file' '$tmp/err' && [ $(nr 2048) = 10 ]"
rm -f "$rec"
# Leftovers where an earlier udma wrote its new record: a FIFO, a link.
mkfifo "$UDMA_RUN_DIR/.hugepages-2048kB.new"
ln -s /dev/null "$UDMA_RUN_DIR/.hugepages-2048kB.new.XXXXXX"
fake_timed hugepages --reserve 24M >"$tmp/out" 2>"$tmp/err"
check "a FIFO left as .hugepages-2048kB.new: --reserve does not hang, and records what it added" \
	sh -c "[ $? = 0 ] && [ $(nr 2048) = 12 ] && grep -q '^pages 2$' '$rec'"
rm -f "$UDMA_RUN_DIR/.hugepages-2048kB.new"
ln -s "$tmp/elsewhere" "$UDMA_RUN_DIR/.hugepages-2048kB.new"
pool 2048 12 12
fake hugepages --reserve 28M >"$tmp/out" 2>"$tmp/err"
check "a link left as .hugepages-2048kB.new: the pages added are on the record" \
	sh -c "[ $? = 0 ] && [ $(nr 2048) = 14 ] && grep -q '^pages 4$' '$rec'"
rm -f "$UDMA_RUN_DIR/.hugepages-2048kB.new" "$UDMA_RUN_DIR/.hugepages-2048kB.new.XXXXXX" "$rec"
check "... and no temporary file is left behind" test -z "$(ls -A "$UDMA_RUN_DIR")"

# A record from another boot, or from a udma that did not say which: its pages
# went with that boot, so the pool's pages now are others'.
for old in "another boot" "no boot"; do
	pool 2048 64 64
	printf 'pages 10\nothers 0\n' >"$rec"
	[ "$old" = "another boot" ] && echo "boot 00000000-0000-0000-0000-000000000000" >>"$rec"
	fake hugepages --release >"$tmp/out" 2>"$tmp/err"
	check "a record of $old: ignored, saying so; the pool stays 64" \
		sh -c "[ $? = 0 ] && [ $(nr 2048) = 64 ] && grep -q 'from an earlier boot: ignored' '$tmp/out'"
done
check "... and that record is gone" test ! -e "$rec"
pool 2048 64 64
printf 'pages 18446744073709551616\nothers 0\n' >"$rec"
fake hugepages --release >"$tmp/out" 2>"$tmp/err"
check "a count out of range is damage, not clamped; the pool stays 64" \
	sh -c "[ $? = 1 ] && grep -q 'is damaged' '$tmp/err' && [ $(nr 2048) = 64 ]"
rm -f "$rec"

# Per node: the hint names the node, and releasing as it says gives the pages back.
if [ -d $node0 ]; then
	pool 2048 0 0
	npool 2048 0 0
	npool 1048576 0 0
	fake_node hugepages --reserve 8M --node 0 >"$tmp/out" 2>"$tmp/err"
	check "--reserve 8M --node 0: the hint says --release --node 0" grep -q "udma hugepages --release --node 0)" "$tmp/out"
	# The kernel counts a node's pages in the whole pool too: the stand-in does it by hand.
	pool 2048 "$(nnr 2048)" "$(nnr 2048)"
	npool 2048 "$(nnr 2048)" "$(nnr 2048)"
	fake_node hugepages --release --node 0 >"$tmp/out" 2>"$tmp/err"
	check "... and that gives the 4 pages back" sh -c "[ $? = 0 ] && [ $(nnr 2048) = 0 ] && grep -q '4 given back' '$tmp/out'"
else
	ok "per-node hint # skip: no $node0"
fi

# As nobody: releasing needs root, and says so (not "reserving").
setpriv --reuid=65534 --regid=65534 --clear-groups env UDMA_RUN_DIR="$UDMA_RUN_DIR" \
	"$udma" hugepages --release >"$tmp/out" 2>"$tmp/err"
check "--release as nobody: releasing needs root" sh -c "[ $? = 1 ] && grep -q 'releasing hugepages needs root' '$tmp/err'"
nobody_dir=$(mktemp -d) && chown 65534 "$nobody_dir"
pool 2048 10 10
fake_nobody "$nobody_dir" "$udma" hugepages --release-all >"$tmp/out" 2>"$tmp/err"
check "--release-all as nobody: needs root, not 'reserving'" \
	sh -c "[ $? = 1 ] && grep -q 'needs root' '$tmp/err' && ! grep -q reserving '$tmp/err' && [ $(nr 2048) = 10 ]"
rm -rf "$nobody_dir"

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
