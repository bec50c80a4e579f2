#!/bin/sh
# An external program builds against an installed udma with pkg-config alone
# (what the library exports, its soname and version: tests/abi.sh).
set -u
build=${1:-build}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }

case $build in *san-*) echo "ok 1 - install test # skip: sanitizer build"; exit 0 ;; esac
dest=$(mktemp -d)
first=$(mktemp -d)
trap 'rm -rf "$dest" "$first"' EXIT
# udma.pc names the PREFIX of the install that writes it, whatever an
# earlier build or install used.
if make -s install DESTDIR="$first" PREFIX=/usr >/dev/null 2>&1; then ok "make install PREFIX=/usr"; else nok "make install PREFIX=/usr"; fi
if make -s install DESTDIR="$dest" PREFIX=/usr/local >/dev/null 2>&1; then ok "make install DESTDIR"; else nok "make install DESTDIR"; exit 1; fi
pc_prefix() { sed -n 's/^prefix=//p' "$1" 2>/dev/null; }
[ "$(pc_prefix "$first/usr/lib/pkgconfig/udma.pc")" = /usr ] && ok "PREFIX=/usr: udma.pc says prefix=/usr" ||
	nok "PREFIX=/usr: udma.pc says prefix=$(pc_prefix "$first/usr/lib/pkgconfig/udma.pc")"
[ "$(pc_prefix "$dest/usr/local/lib/pkgconfig/udma.pc")" = /usr/local ] && ok "then PREFIX=/usr/local: udma.pc says prefix=/usr/local" ||
	nok "then PREFIX=/usr/local: udma.pc says prefix=$(pc_prefix "$dest/usr/local/lib/pkgconfig/udma.pc") (stale)"
[ "$(pkg-config --modversion "$dest/usr/local/lib/pkgconfig/udma.pc")" = "$("$build/udma" --version | cut -d' ' -f2)" ] &&
	ok "udma.pc's version is udma --version's" || nok "udma.pc's version: $(pkg-config --modversion "$dest/usr/local/lib/pkgconfig/udma.pc")"
[ "$(stat -c %a "$dest/usr/local/lib/pkgconfig/udma.pc")" = 644 ] && ok "udma.pc installed 0644" || nok "udma.pc mode $(stat -c %a "$dest/usr/local/lib/pkgconfig/udma.pc")"
# The README's usage example is what a user copies first: it must build and run.
awk '/^```c$/ {n++; on = n == 1; next} /^```$/ {on = 0} on' README.md >"$dest/app.c"
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig"
if cc -o "$dest/app" "$dest/app.c" $(pkg-config --cflags --libs udma) 2>"$dest/err"; then
	ok "README example builds with pkg-config --cflags --libs udma"
else
	nok "external build: $(cat "$dest/err")"
fi
if LD_LIBRARY_PATH="$dest/usr/local/lib" "$dest/app"; then ok "README example runs"; else nok "README example runs"; fi
# The pools/heap/rings fragment, inside a function, must compile against the installed headers.
{
	echo '#include <udma/udma.h>'
	echo 'void fragment(struct udma_ctx *ctx);'
	echo 'void fragment(struct udma_ctx *ctx) {'
	awk '/^```c$/ {n++; on = n == 2; next} /^```$/ {on = 0} on' README.md
	echo '}'
} >"$dest/fragment.c"
if cc -c -Wall -Werror -Wno-unused-variable -o "$dest/fragment.o" "$dest/fragment.c" $(pkg-config --cflags udma) 2>"$dest/err"; then
	ok "README's pools/heap/rings fragment compiles"
else
	nok "README fragment: $(cat "$dest/err")"
fi
[ -x "$dest/usr/local/bin/udma" ] && ok "CLI installed" || nok "CLI installed"
