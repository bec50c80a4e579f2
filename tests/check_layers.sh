#!/bin/sh
# tools/check-layers.sh, the layer rule `make lint` checks: planted upward
# includes and a missing header are reported one line each; a clean tree and
# the real one pass; docs/design.md shows the same table.
# Usage: tests/check_layers.sh [BUILD_DIR] (unused: the check reads sources only)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

. tests/support/tap.sh
checker=$PWD/tools/check-layers.sh

# plant FILE LINE...: FILE (under $tmp/fake) holds the given lines.
plant() {
	f=$tmp/fake/$1
	shift
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$@" >"$f"
}

# The table in tools/check-layers.sh and the one in docs/design.md agree:
# same layers, and each row's "may use" cell names exactly the script's entries.
tables_agree() {
	sh tools/check-layers.sh --table >"$tmp/table"
	awk -v doc=docs/design.md '
	BEGIN {
		while ((getline line < doc) > 0)
			if (line ~ /^\| `/)
				rows[++n] = line
	}
	NF {
		layer = $1
		want = ""
		for (i = 2; i <= NF; i++)
			want = want " " ($i == "*" ? "anything" : $i)
		found = 0
		for (r = 1; r <= n; r++) {
			m = split(rows[r], cell, "|")
			if (index(cell[2], "`" layer "/`") == 0)
				continue
			found = 1
			uses = cell[m - 1]
			got = ""
			if (uses ~ /anything/)
				got = " anything"
			while (match(uses, /`[^`]*`/)) {
				got = got " " substr(uses, RSTART + 1, RLENGTH - 2)
				uses = substr(uses, RSTART + RLENGTH)
			}
			if (got != want) {
				print "docs/design.md: " layer " may use" got "; tools/check-layers.sh says" want
				bad = 1
			}
		}
		if (!found) {
			print "docs/design.md has no row for " layer
			bad = 1
		}
	}
	END { exit bad }
	' "$tmp/table" >"$tmp/err"
}

# A small tree with what every layer may include...
plant include/udma/udma.h '#include <stddef.h>'
plant lib/base/base.h '#include <udma/udma.h>'
plant lib/base/compiler.h '#define LIKELY(x) (x)'
plant lib/os/os.h '#include "lib/base/base.h"'
plant lib/mem/mem.h '#include "lib/os/os.h"'
plant lib/alloc/pool_internal.h '#include "lib/mem/mem.h"'
plant lib/dev/y.h '#include "lib/mem/mem.h"' '#include "sim/simdev_regs.h"'
plant sim/simdev_regs.h '#include <stdint.h>'
plant sim/model.c '#include "lib/base/compiler.h"' '#include "simdev_regs.h"'
plant lib/mem/x.c '#include <stdio.h>' '#include "lib/mem/mem.h"' '#include "../os/os.h"'
plant drivers/d/d.h '#include <udma/udma.h>' '#include "sim/simdev_regs.h"'
plant drivers/d/d.c '#include "d.h"'
plant tools/cli.c '#include "lib/alloc/pool_internal.h"' '#include "drivers/d/d.h"'
cp -R "$tmp/fake" "$tmp/clean"

if sh "$checker" "$tmp/clean" >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/out" ]; then
	ok "a tree keeping the rule passes, silently"
else
	cat "$tmp/out" >>"$tmp/err"
	not_ok "a tree keeping the rule passes, silently"
fi

# ...then six violations: upward, sideways (no way round: lib/mem may not
# use lib/ring either), sim reaching into lib, a driver reaching past the
# public API, a header that is no file, an include through a macro.
plant lib/mem/x.c '#include <stdio.h>' '#include "lib/mem/mem.h"' '#include "lib/dev/y.h"'
plant sim/model.c '#include "lib/base/compiler.h"' '#include "lib/mem/mem.h"'
plant drivers/d/d.c '#include "d.h"' '' '#include "lib/alloc/pool_internal.h"'
plant lib/os/o.c '#include "lib/os/os.h"' '#include "lib/os/gone.h"'
plant lib/ring/r.c '#include "lib/mem/mem.h"'
plant lib/base/m.c '#define UP "lib/dev/y.h"' '#include UP'
cat >"$tmp/want" <<'EOF'
drivers/d/d.c:3: includes lib/alloc/pool_internal.h: drivers may use include/udma, sim/simdev_regs.h; fix: a driver uses the public API only: make what it needs public in include/udma
lib/base/m.c:2: an #include this check cannot read (a macro, or split over lines): write the name of the header in quotes or angle brackets on that line
lib/mem/x.c:3: includes lib/dev/y.h: lib/mem may use lib/os, lib/base, include/udma; fix: move what it needs into a layer lib/mem may use, or let lib/dev call down into lib/mem (a callback, a memory event) instead
lib/os/o.c:2: includes lib/os/gone.h, which is no file (tried lib/os/lib/os/gone.h, include/lib/os/gone.h, lib/os/gone.h): name it from the top of the tree, as in "lib/mem/mem.h"
lib/ring/r.c:1: includes lib/mem/mem.h: lib/ring may use lib/os, lib/base, include/udma; fix: move what it needs into a layer lib/ring may use
sim/model.c:2: includes lib/mem/mem.h: sim may use lib/base/compiler.h; fix: sim/ stays libc-only (udma-simd links no libudma): move what it needs into sim/
EOF
sh "$checker" "$tmp/fake" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" = 1 ] && diff "$tmp/want" "$tmp/out" >"$tmp/diff"; then
	ok "planted violations fail, one line each naming the file, line, layer and fix"
else
	{
		echo "exit $rc (want 1); diff want/got:"
		cat "$tmp/diff"
	} >>"$tmp/err"
	not_ok "planted violations fail, one line each naming the file, line, layer and fix"
fi

# The real tree with region.c's old upward include put back: caught.
: >"$tmp/err"
mkdir "$tmp/real"
cp -R lib sim drivers tools bench tests include "$tmp/real/"
echo '#include "lib/dev/device_internal.h"' >>"$tmp/real/lib/mem/region.c"
line=$(wc -l <"$tmp/real/lib/mem/region.c")
sh "$checker" "$tmp/real" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" = 1 ] && grep -q "^lib/mem/region.c:$line: includes lib/dev/device_internal.h: lib/mem may use " "$tmp/out"; then
	ok "an upward include planted in lib/mem/region.c fails"
else
	cat "$tmp/out" >>"$tmp/err"
	not_ok "an upward include planted in lib/mem/region.c fails"
fi

: >"$tmp/err"
check "the tree keeps the layer rule (tools/check-layers.sh .)" sh -c "sh '$checker' . >'$tmp/err' 2>&1"
check "make lint runs the check" sh -c "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -n -s lint 2>'$tmp/err' | grep -q 'tools/check-layers.sh'"

check "docs/design.md has the checker's table" tables_agree

echo "1..$n"
exit "$failed"
