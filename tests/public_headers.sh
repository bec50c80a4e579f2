#!/bin/sh
# SPDX-License-Identifier: MIT
# The public headers as users compile them:
# - every macro they define is UDMA_-prefixed (the system headers they
#   include aside), in C and in C++;
# - udma/ring_impl.h and udma/pool_impl.h, internal, refuse to be included on their own;
# - the rings' inline enqueue/dequeue in the languages users compile them
#   in, with the strict warnings users build with: one program including
#   udma/udma.h (all the public headers), built as C99 and C11 (gcc, clang)
#   and as C++11, C++17 and C++20 (g++, clang++), with -Wall -Wextra -Werror
#   -pedantic -Wimplicit-fallthrough (for gcc at level 5: only an attribute
#   may fall through), must compile, inline the four calls (no reference to
#   the library's udma_ring_enqueue_bulk & co.) and move objects right
#   through every kind of ring; built with UDMA_RING_NO_INLINE it calls the
#   library;
# - the ring's shared memory is laid out as udma_ring_init (of this or an
#   older version of layout 2) lays it out, byte for byte, in every one of
#   those languages, and the handle the inline code reads is the library's.
# Usage: tests/public_headers.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow; n is tap.sh's
# counter; the flag lists ($warn, $san, $libs) split into words on purpose:
# shellcheck disable=SC2317,SC2034,SC2086
set -u

build=${1:-build}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
# shellcheck source=tests/support/tap.sh
. tests/support/tap.sh

# A sanitizer build's library needs the same runtime in the program.
case $build in
*san-*) san="-fsanitize=$(echo "${build##*san-}" | tr - ,)" ;;
*) san="" ;;
esac

# macros NAME COMPILER FLAGS...: the names udma/udma.h defines beyond its system headers.
sys=$(grep -h '^#include <' include/udma/*.h | grep -v '<udma/' | sort -u)
macros() {
	name=$1
	shift
	printf '%s\n' "$sys" >"$tmp/sys.c"
	printf '%s\n#include <udma/udma.h>\n' "$sys" >"$tmp/all.c"
	for f in sys all; do
		"$@" -Iinclude -E -dM "$tmp/$f.c" 2>"$tmp/err" | sed -n 's/^#define \([A-Za-z0-9_]*\).*/\1/p' |
			sort >"$tmp/$f.names"
	done
	comm -13 "$tmp/sys.names" "$tmp/all.names" | grep -v '^UDMA_' >"$tmp/err"
	if [ -s "$tmp/all.names" ] && ! [ -s "$tmp/err" ]; then
		ok "$name: the public headers define UDMA_ macros only"
	else
		not_ok "$name: the public headers define UDMA_ macros only"
	fi
}
macros "C" cc -x c -std=gnu11
if command -v c++ >/dev/null; then macros "C++" c++ -x c++; else ok "C++: # skip no c++ installed"; fi

for h in ring pool; do
	printf '#include <udma/%s_impl.h>\n' "$h" >"$tmp/impl.c"
	if ! cc -Iinclude -c -o "$tmp/impl.o" "$tmp/impl.c" 2>"$tmp/err" && grep -q "include <udma/$h.h>" "$tmp/err"; then
		ok "udma/${h}_impl.h alone is refused, naming udma/$h.h"
	else
		not_ok "udma/${h}_impl.h alone is refused, naming udma/$h.h"
	fi
done
: >"$tmp/err"

cat >"$tmp/app.c" <<'PROG'
#include <stdint.h>
#include <stdio.h>
#include <udma/udma.h>

static int fail(const char *what, unsigned flags)
{
	printf("flags %u: %s: %s\n", flags, what, udma_last_error());
	return 1;
}

/* In and out through one handle (in) and another (out), in order, across
 * the end of the slots many times, full and empty included. */
static int through(struct udma_ring *in, struct udma_ring *out, unsigned flags)
{
	void *objs[32], *got[32];
	uintptr_t next_in = 1, next_out = 1;
	unsigned round, k, n, cap = udma_ring_capacity(in);
	int moved;

	for (round = 0; round < 2000; round++) {
		n = 1 + round % 32;
		for (k = 0; k < n; k++)
			objs[k] = (void *)(next_in + k);
		moved = round & 1 ? udma_ring_enqueue_burst(in, objs, n) : udma_ring_enqueue_bulk(in, objs, n);
		if (moved < 0 || (unsigned)moved > n)
			return fail("enqueue", flags);
		next_in += (unsigned)moved;
		if (udma_ring_count(in) != (int)(next_in - next_out) || (unsigned)udma_ring_count(in) > cap)
			return fail("count after enqueue", flags);
		n = 1 + round * 7 % 32;
		moved = round & 2 ? udma_ring_dequeue_burst(out, got, n) : udma_ring_dequeue_bulk(out, got, n);
		if (moved < 0 || (unsigned)moved > n)
			return fail("dequeue", flags);
		for (k = 0; k < (unsigned)moved; k++)
			if (got[k] != (void *)next_out++)
				return fail("order", flags);
	}
	while ((moved = udma_ring_dequeue_burst(out, got, 32)) > 0)
		for (k = 0; k < (unsigned)moved; k++)
			if (got[k] != (void *)next_out++)
				return fail("order while draining", flags);
	return moved != 0 || next_out != next_in ? fail("drain", flags) : 0;
}

int main(void)
{
	unsigned flags;

	static char mem[4096] __attribute__((aligned(128)));
	size_t size = (size_t)udma_ring_memsize(64);

	if (size > sizeof(mem))
		return fail("memsize", 0);
	for (flags = 0; flags < 4; flags++) {
		struct udma_ring *r, *a;

		if (udma_ring_create(64, flags, &r) || through(r, r, flags))
			return 1;
		udma_ring_destroy(r);
		if (udma_ring_init(mem, size, 64, flags, &r) || udma_ring_attach(mem, size, &a))
			return fail("init/attach", flags);
		if (through(r, a, flags))
			return 1;
		udma_ring_destroy(a);
		udma_ring_destroy(r);
	}
	return 0;
}
PROG

libs="$build/libudma.a -lnuma -lhugetlbfs -pthread"

# Where the shared ring's fields are, and its first slot (found where an
# enqueue put an object); then the handle's fields, which the library
# compiled as C reads and writes too.
cat >"$tmp/layout.c" <<'PROG'
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <udma/udma.h>

#define AT(type, field) printf(" " #field " %zu", offsetof(struct type, field))

int main(void)
{
	static char mem[4096] __attribute__((aligned(128)));
	static int object;
	void *obj = &object, *got = NULL;
	struct udma_ring *r;
	size_t at;

	if (udma_ring_init(mem, sizeof(mem), 64, 0, &r) || udma_ring_enqueue_bulk(r, &obj, 1) != 1)
		return 1;
	for (at = 0; at < sizeof(mem) && memcmp(mem + at, &obj, sizeof(obj)); at += sizeof(obj))
		;
	if (udma_ring_dequeue_bulk(r, &got, 1) != 1 || got != obj)
		return 1;
	udma_ring_destroy(r);
	printf("shared: size %zu", sizeof(struct udma_ring_shared));
	AT(udma_ring_shared, magic);
	AT(udma_ring_shared, layout);
	AT(udma_ring_shared, count);
	AT(udma_ring_shared, flags);
	AT(udma_ring_shared, prod.head);
	AT(udma_ring_shared, prod.tail);
	AT(udma_ring_shared, cons.head);
	AT(udma_ring_shared, cons.tail);
	printf(" slot0 %zu\nhandle: size %zu", at, sizeof(struct udma_ring));
	AT(udma_ring, prod.sh);
	AT(udma_ring, prod.mask);
	AT(udma_ring, prod.capacity);
	AT(udma_ring, prod.other);
	AT(udma_ring, prod.single);
	AT(udma_ring, prod.own);
	AT(udma_ring, cons);
	AT(udma_ring, map_len);
	AT(udma_ring, flags);
	printf("\n");
	return 0;
}
PROG
# Layout 2, as udma_ring_init lays it out on every platform.
shared="shared: size 640 magic 0 layout 8 count 12 flags 16 prod.head 128 prod.tail 256 cons.head 384 cons.tail 512 slot0 640"
# The handle as the library (C) sees it.
if cc -std=gnu11 $san -Iinclude -o "$tmp/layout" "$tmp/layout.c" $libs 2>"$tmp/err"; then
	handle=$("$tmp/layout" | sed -n 's/^handle: //p')
else
	handle="(the layout program does not build as C)"
fi

warn="-Wall -Wextra -Werror -pedantic -Wimplicit-fallthrough"
calls='udma_ring_(en|de)queue_(bulk|burst)$'

# lang NAME COMPILER FLAGS...: build app.c with them after $warn, then check
# inlining and a run; and the layout.
lang() {
	name=$1 cc=$2
	shift 2
	if ! command -v "$cc" >/dev/null; then
		ok "$name: # skip $cc not installed"
		return
	fi
	if ! "$cc" $warn "$@" $san -Iinclude -c -o "$tmp/app.o" "$tmp/app.c" 2>"$tmp/err"; then
		not_ok "$name: the public headers compile with $warn $*"
		return
	fi
	ok "$name: the public headers compile with $warn $*"
	nm -u "$tmp/app.o" | grep -E "$calls" >"$tmp/err"
	check "$name: enqueue/dequeue are inline (no call into the library)" test ! -s "$tmp/err"
	: >"$tmp/err"
	if "$cc" $san -o "$tmp/app" "$tmp/app.o" $libs 2>"$tmp/err" && "$tmp/app" >"$tmp/err" 2>&1; then
		ok "$name: objects go through SP/SC, MP/MC and shared rings in order"
	else
		not_ok "$name: objects go through SP/SC, MP/MC and shared rings in order"
	fi
	: >"$tmp/err"
	if "$cc" $warn "$@" $san -Iinclude -c -o "$tmp/layout.o" "$tmp/layout.c" 2>"$tmp/err" &&
		"$cc" $san -o "$tmp/layout" "$tmp/layout.o" $libs 2>"$tmp/err" &&
		"$tmp/layout" >"$tmp/out" 2>"$tmp/err" && [ "$(sed -n 1p "$tmp/out")" = "$shared" ] &&
		[ "$(sed -n 2p "$tmp/out")" = "handle: $handle" ]; then
		ok "$name: the shared ring's layout is layout 2's, the handle's the library's"
	else
		printf 'want: %s\nwant: handle: %s\ngot:\n' "$shared" "$handle" >>"$tmp/err"
		cat "$tmp/out" >>"$tmp/err" 2>/dev/null
		not_ok "$name: the shared ring's layout is layout 2's, the handle's the library's"
	fi
}

lang "gcc C99" gcc -x c -std=c99 -Wimplicit-fallthrough=5
lang "gcc C11" gcc -x c -std=c11 -Wimplicit-fallthrough=5
lang "g++ C++11" g++ -x c++ -std=c++11 -Wimplicit-fallthrough=5
lang "g++ C++17" g++ -x c++ -std=c++17 -Wimplicit-fallthrough=5
lang "g++ C++20" g++ -x c++ -std=c++20 -Wimplicit-fallthrough=5
lang "clang C99" clang -x c -std=c99
lang "clang C11" clang -x c -std=c11
lang "clang++ C++11" clang++ -x c++ -std=c++11
lang "clang++ C++17" clang++ -x c++ -std=c++17
lang "clang++ C++20" clang++ -x c++ -std=c++20

# UDMA_RING_NO_INLINE: the same program calls the library's functions.
: >"$tmp/err"
if cc $warn $san -DUDMA_RING_NO_INLINE -Iinclude -c -o "$tmp/app.o" "$tmp/app.c" 2>"$tmp/err" &&
	[ "$(nm -u "$tmp/app.o" | grep -cE "$calls")" = 4 ] && cc $san -o "$tmp/app" "$tmp/app.o" $libs 2>"$tmp/err" &&
	"$tmp/app" >"$tmp/err" 2>&1; then
	ok "UDMA_RING_NO_INLINE: the four calls go to the library, objects in order"
else
	not_ok "UDMA_RING_NO_INLINE: the four calls go to the library, objects in order"
fi
exit $failed
