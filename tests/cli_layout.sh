#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma layout`: --demo --json is valid JSON with its two regions, and
# bad PIDs and options fail the documented way.
# Usage: tests/cli_layout.sh [build/udma | BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

udma=${1:-build}
[ -d "$udma" ] && udma=$udma/udma
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

# Prints "name page_size" for each udma region, one per line.
regions() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["segments"], list) and d["segments"], "no segments"
for r in d["udma_regions"]:
    print(r["name"], r["page_size"])
' "$1"
}

json_valid() {
	python3 -m json.tool "$1" >/dev/null 2>"$tmp/err"
}

# exits_with CODE RC FILE: the command returned CODE and wrote FILE (stderr).
exits_with() {
	[ "$2" -eq "$1" ] && [ -s "$3" ]
}

demo_ran=0
if "$udma" layout --demo --json >"$tmp/out" 2>"$tmp/err"; then
	ok "layout --demo --json exits 0"
	demo_ran=1
elif grep -q RLIMIT_MEMLOCK "$tmp/err"; then
	ok "layout --demo --json # skip: RLIMIT_MEMLOCK too low for the demo regions"
else
	not_ok "layout --demo --json exits 0"
fi

if [ $demo_ran = 1 ]; then
	check "its output is valid JSON" json_valid "$tmp/out"
	regions "$tmp/out" >"$tmp/regions" 2>"$tmp/err"
	check "exactly two udma regions" test "$(wc -l <"$tmp/regions")" -eq 2
	check "demo-4K has 4 KiB pages" grep -qx "demo-4K 4096" "$tmp/regions"
	check "demo-2M has 2 MiB pages (or is the 4 KiB fallback)" \
		grep -Eqx "demo-2M 2097152|demo-2M-fallback-4K 4096" "$tmp/regions"
fi

"$udma" layout 999999 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "layout 999999 exits 1" test $rc -eq 1
check "... and says there is no such process" grep -q "no process 999999" "$tmp/err"

"$udma" layout not-a-pid >"$tmp/out" 2>"$tmp/err"
rc=$?
check "layout not-a-pid exits 1 with a message" exits_with 1 $rc "$tmp/err"

"$udma" layout --no-such-option >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a bad option exits 2" exits_with 2 $rc "$tmp/err"
check "... with the usage on stderr" grep -q "^usage:" "$tmp/err"

# A process whose comm and region name hold control bytes and a backslash:
# the text drawing escapes them (no terminal escapes reach whoever runs it),
# the JSON keeps them exact.
python3 -c '
import mmap, os, sys, time
open("/proc/self/comm", "w").write("cm\x1b[31m")
fd = os.memfd_create("udma:ctl\x01\x1b[31mred\tx\\")
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
m[0] = 1
print("ready", flush=True)
time.sleep(600)
' >"$tmp/ready" 2>"$tmp/err" &
hostile=$!
tries=0
while [ ! -s "$tmp/ready" ] && [ $tries -lt 300 ] && kill -0 $hostile 2>/dev/null; do
	sleep 0.1
	tries=$((tries + 1))
done
if [ -s "$tmp/ready" ]; then
	"$udma" layout $hostile >"$tmp/out" 2>"$tmp/err"
	check "layout of a process with hostile names exits 0" test $? -eq 0
	check "... prints no byte but printable ASCII and newlines" \
		sh -c "! tr -d '\\n' <'$tmp/out' | LC_ALL=C grep -q '[^ -~]'"
	check "... escapes the region name" grep -qF 'udma:ctl\x01\x1b[31mred\x09x\\' "$tmp/out"
	check "... and comm" grep -qF "process $hostile (cm\\x1b[31m)" "$tmp/out"
	"$udma" layout $hostile --json >"$tmp/out" 2>"$tmp/err"
	check "... its JSON keeps the name exact" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [r["name"] for r in d["udma_regions"]] == ["ctl\x01\x1b[31mred\tx\\"], d["udma_regions"]
assert d["comm"] == "cm\x1b[31m", d["comm"]
' "$tmp/out"
else
	not_ok "a python3 process holding a hostile region name started"
fi
kill $hostile 2>/dev/null
wait $hostile 2>/dev/null

echo "1..$n"
exit $failed
