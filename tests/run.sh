#!/bin/sh
# Run every test binary and shell test; end with one summary line.
# UDMA_DEBUG=1: every pool checks every put (the debug build of the tests).
# usage: tests/run.sh BUILD_DIR TEST_BINARY...
set -u
build=$1
shift
passed=0 failed=0 skipped=0 broken=""

# cmocka pads its labels unevenly: "[  PASSED  ]", "[  SKIPPED ]".
count() { sed -n "s/^\[ *$1 *\] \([0-9]*\) test(s).*/\1/p" "$2" | head -n 1; }

for t in "$@" tests/*.sh; do
	case $t in tests/run.sh) continue ;; esac
	log=$(mktemp)
	case $t in
	*.sh) timeout 900 sh "$t" "$build" >"$log" 2>&1 ;;
	*) UDMA_DEBUG=1 timeout 900 "$t" >"$log" 2>&1 ;; # a hang fails, loudly
	esac
	rc=$?
	cat "$log"
	case $t in
	*.sh)
		p=$(grep -c '^ok ' "$log")
		f=$(grep -c '^not ok ' "$log")
		s=$(grep -c '^ok .*# skip' "$log")
		p=$((p - s))
		;;
	*)
		p=$(count "PASSED" "$log")
		f=$(count "FAILED" "$log")
		s=$(count "SKIPPED" "$log")
		;;
	esac
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		failed=$((failed + 1)) # crashed or exited non-zero without saying why
	fi
	[ "$rc" != 0 ] && broken="$broken $t"
	rm -f "$log"
done
[ -n "$broken" ] && echo "failing:$broken"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ -z "$broken" ]
