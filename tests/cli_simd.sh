#!/bin/sh
# SPDX-License-Identifier: MIT
# udma-simd's command line: --socket on a path that is taken is refused
# without touching what is there (a file, a link, a stale socket), and sizes
# or uids that do not fit are refused with a message, not wrapped around.
# Usage: tests/cli_simd.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
simd=$build/udma-simd
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

# refused WHAT ARGS...: udma-simd exits non-zero at once (a device that
# started listening instead is stopped after 5 s: a failure).
refused() {
	timeout 5 "$simd" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ]
}

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/passwd"
chmod 644 "$tmp/passwd"
cp -p "$tmp/passwd" "$tmp/passwd.orig"
check "--socket on a regular file is refused" refused --socket "$tmp/passwd"
check "... saying it is not a socket and was left untouched" \
	grep -q "$tmp/passwd exists and is not a socket (a regular file): left untouched" "$tmp/err"
check "... not calling it a stale socket to remove" sh -c "! grep -q 'stale\\|remove' '$tmp/err'"
check "... and the file is unchanged (content and mode)" \
	sh -c "cmp -s '$tmp/passwd' '$tmp/passwd.orig' && [ \$(stat -c %a '$tmp/passwd') = 644 ]"

ln -s "$tmp/passwd" "$tmp/link"
check "--socket on a symbolic link is refused" refused --socket "$tmp/link"
check "... saying so, the link and its target untouched" sh -c "grep -q 'a symbolic link' '$tmp/err' &&
	[ -L '$tmp/link' ] && cmp -s '$tmp/passwd' '$tmp/passwd.orig'"

python3 -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind('$tmp/stale')"
check "--socket on an existing socket is refused" refused --socket "$tmp/stale"
check "... saying how to remove it if unused, and it stays" \
	sh -c "grep -q 'a socket already exists at $tmp/stale.*rm $tmp/stale' '$tmp/err' && [ -S '$tmp/stale' ]"

for opt in --max-block --max-map; do
	for v in 99999999999999G 17179869184G 17592186044416M 18446744073709551616 18014398509481984K \
		-1 " 5" +5 1X 1KiBB 16384P 1b ""; do
		check "$opt '$v' is refused" refused --socket "$tmp/s" $opt "$v"
		check "... with a message naming it" grep -q -- "$opt $v is not a size" "$tmp/err"
	done
done
check "no socket was created meanwhile" test ! -e "$tmp/s"

check "--socket '' is refused" refused --socket ""
check "... saying it is empty" grep -q -- "--socket is empty" "$tmp/err"

# accepted ARGS...: udma-simd starts listening (it serves until stopped).
accepted() {
	rm -f "$tmp/ok"
	timeout 2 "$simd" --socket "$tmp/ok" "$@" >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 124 ] && [ -S "$tmp/ok" ]
}
for v in 1T 1t 1g 1KiB 1KB 2MB 4096B 16383T; do
	check "--max-block '$v' is accepted, as udma_parse_size reads it" accepted --max-block "$v"
done
for v in 0 1 2 abc 3x -4 "" 99999999999; do
	check "--ready-fd '$v' is refused" refused --socket "$tmp/s" --ready-fd "$v"
	check "... with a message naming it" grep -q -- "--ready-fd $v is not a file descriptor above 2" "$tmp/err"
done
for v in -1 4294967295 abc 1x ""; do
	check "--peer-uid '$v' is refused" refused --socket "$tmp/s" --peer-uid "$v"
	check "... with a message naming it" grep -q -- "--peer-uid $v is not a user id" "$tmp/err"
done
check "--help lists --peer-uid" sh -c "'$simd' --help | grep -q -- --peer-uid"

echo "1..$n"
exit $failed
