#!/bin/sh
# The ABI: libudma.a and libudma.so offer the udma_ API and nothing else, every
# symbol of the .so under a version node, and the soname and `udma --version`
# follow include/udma/version.h.
set -u
build=${1:-build}
n=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/support/tap.sh

# The header's version, as a program compiled against it sees it.
printf '#include <stdio.h>\n#include <udma/version.h>\nint main(void) { printf("%%d %%d %%d %%s\\n", UDMA_VERSION_MAJOR, UDMA_VERSION_MINOR, UDMA_VERSION_PATCH, UDMA_VERSION_STRING); return 0; }\n' >"$tmp/v.c"
if cc -Iinclude -o "$tmp/v" "$tmp/v.c" 2>"$tmp/err" && read -r major minor patch string <<EOT
$("$tmp/v")
EOT
then
	check "UDMA_VERSION_STRING ($string) is MAJOR.MINOR.PATCH" [ "$string" = "$major.$minor.$patch" ]
else
	not_ok "a program compiled against udma/version.h prints the version"
	exit 1
fi

# libudma.a: only the public functions are global (udma__* are the library's own).
nm -g --defined-only "$build/libudma.a" | awk 'NF == 3 {print $3}' | sort >"$tmp/a"
grep -v '^udma_[a-z]' "$tmp/a" | head -n 20 >"$tmp/err"
check "libudma.a: every global is udma_ followed by a letter (no simd_, simdev_, udma__)" [ ! -s "$tmp/err" ]
: >"$tmp/err"

# libudma.so: every symbol it defines is ours and carries a UDMA_ version node;
# before 1.0 every minor release has a soname of its own, so one node holds all.
if [ "$major" = 0 ]; then node="UDMA_0\\.$minor"; else node='UDMA_[0-9]+\.[0-9]+'; fi
objdump -T "$build/libudma.so" | awk '/^[0-9a-f]+ / && !/\*UND\*/ && $NF != $(NF - 1) {print $(NF - 1), $NF}' >"$tmp/so"
grep -v -E "^$node udma_[a-z]" "$tmp/so" | head -n 20 >"$tmp/err"
[ -s "$tmp/so" ] || echo "objdump -T shows no symbol defined" >"$tmp/err"
check "libudma.so: every exported symbol is udma_* under the node $(echo "$node" | tr -d '\\') (objdump -T)" [ ! -s "$tmp/err" ]
: >"$tmp/err"

# lib/libudma.map lists exactly the archive's public functions: a function
# left out of it would be missing from the .so only.
awk '{print $2}' "$tmp/so" | sort >"$tmp/so_names"
comm -3 "$tmp/a" "$tmp/so_names" | head -n 20 >"$tmp/err"
check "libudma.so exports the same functions libudma.a offers" [ ! -s "$tmp/err" ]
: >"$tmp/err"

# Before 1.0 a minor release may change the ABI: the soname carries it.
if [ "$major" = 0 ]; then sover=0.$minor; else sover=$major; fi
soname=$(readelf -d "$build/libudma.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
check "soname is libudma.so.$sover (it is $soname)" [ "$soname" = "libudma.so.$sover" ]

out=$("$build/udma" --version 2>/dev/null)
check "udma --version says 'udma $string' (it says '$out')" [ "$out" = "udma $string" ]
out=$("$build/udma" --version --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], d["version"])' 2>/dev/null)
check "udma --version --json gives ok and the version" [ "$out" = "True $string" ]
# --version takes --json and nothing else, like every command: exit 2, the
# reason and the usage on stderr, nothing on stdout.
"$build/udma" --version extra >"$tmp/out" 2>"$tmp/err"
rc=$?
check "udma --version extra exits 2 (it exits $rc)" [ $rc -eq 2 ]
check "... with nothing on stdout" [ ! -s "$tmp/out" ]
check "... and the reason and the usage on stderr" sh -c "grep -q \"unknown argument 'extra'\" '$tmp/err' && grep -q '^usage:' '$tmp/err'"
"$build/udma" --json --version --bogus >"$tmp/out" 2>/dev/null
rc=$?
check "udma --json --version --bogus exits 2 with a JSON failure" sh -c "[ $rc -eq 2 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"ok\"] is False and d[\"errno\"] == 22' '$tmp/out'"
check "udma --help names the version" sh -c "'$build/udma' --help 2>/dev/null | grep -qx 'udma $string'"
[ "$failed" = 0 ]
