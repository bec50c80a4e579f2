#!/bin/sh
# The layer rule at link level: every symbol a library object takes from
# another layer's object is one its row of the table allows. This catches
# what the #include check cannot see: a prototype written by hand, a call
# through a header that includes another transitively.
# Usage: tests/link_layers.sh BUILD_DIR (the objects under BUILD/obj/static)
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
n=0
failed=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
. tests/support/tap.sh

sh tools/check-layers.sh --table >"$tmp/table"
objs=$(find "$build/obj/static/lib" "$build/obj/static/sim" -name '*.o' | LC_ALL=C sort)
# "layer symbol" for every global a library object defines, and uses.
for o in $objs; do
	layer=${o#"$build"/obj/static/}
	layer=${layer%/*}
	case $layer in sim/*) layer=sim ;; esac
	nm --defined-only -g "$o" | awk -v l="$layer" 'NF == 3 {print l, $3}' >>"$tmp/defs"
	nm -u "$o" | awk -v l="$layer" -v f="${o#"$build"/obj/static/}" '{print l, $NF, f}' >>"$tmp/uses"
done
# violations DEFS USES: one line per symbol a layer takes from a layer its
# row does not allow (a symbol no library object defines is libc's).
violations() {
	awk '
	FILENAME == ARGV[1] { for (i = 2; i <= NF; i++) allow[$1] = allow[$1] " " $i; allow[$1] = allow[$1] " "; next }
	FILENAME == ARGV[2] { owner[$2] = $1; next }
	($2 in owner) && owner[$2] != $1 && index(allow[$1], " " owner[$2] " ") == 0 && index(allow[$1], " * ") == 0 {
		printf "%s uses %s from %s: %s may use%s\n", $3, $2, owner[$2], $1, substr(allow[$1], 1, length(allow[$1]) - 1)
	}' "$tmp/table" "$1" "$2"
}

if violations "$tmp/defs" "$tmp/uses" >"$tmp/err" 2>&1 && [ -n "$objs" ]; then
	ok "every library object uses only the layers its row allows (nm)"
else
	[ -n "$objs" ] || echo "no library object under $build/obj/static: build first" >>"$tmp/err"
	not_ok "every library object uses only the layers its row allows (nm)"
fi

# A planted call upward (lib/mem using lib/dev) is caught.
: >"$tmp/err"
echo 'lib/dev udma__planted_dev_call' >>"$tmp/defs"
echo 'lib/mem udma__planted_dev_call lib/mem/planted.o' >"$tmp/planted"
violations "$tmp/defs" "$tmp/planted" >"$tmp/out" 2>"$tmp/err"
check "a planted upward call (lib/mem -> lib/dev) is reported" grep -q '^lib/mem/planted.o uses udma__planted_dev_call from lib/dev: lib/mem may use lib/os' "$tmp/out"
echo "1..$n"
[ "$failed" = 0 ]
