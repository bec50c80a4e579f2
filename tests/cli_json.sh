#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that `udma ... --json` is always JSON: every command's failures
# (bad arguments, bad sizes, bad PIDs, a missing device program) print
# exactly one JSON document {"ok": false, "error": ..., "errno": N} on stdout
# and exit non-zero; successes say "ok": true; `udma layout PID --json` of a
# process with a hostile name, a mapped file with a hostile name and 60,000
# mappings parses as strict UTF-8 JSON with the names intact; a zombie is
# named as one.
# Usage: tests/cli_json.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$build/udma
tmp=$(mktemp -d) || exit 1
helpers=""
cleanup() {
	for p in $helpers; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

py=$(python3 -c 'import sys; print(sys.executable)') || {
	echo "1..0 # skip: no python3 to parse JSON"
	exit 0
}

# one_doc FILE ok|fail: FILE holds exactly one JSON document, in strict
# UTF-8, an object whose "ok" says so; a failure has an error and an errno.
one_doc() {
	"$py" - "$1" "$2" 2>"$tmp/err" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert isinstance(d, dict), d
if sys.argv[2] == "fail":
    assert d.get("ok") is False, d
    assert isinstance(d.get("error"), str) and d["error"], d
    assert type(d.get("errno")) is int and d["errno"] > 0, d
else:
    assert d.get("ok") is True, d
EOF
}

# json_run DESC ok|fail ARGS...: udma ARGS exits 0 (ok) or not (fail) and
# prints one JSON document saying the same.
json_run() {
	desc=$1
	want=$2
	shift 2
	"$udma" "$@" >"$tmp/out" 2>"$tmp/stderr"
	rc=$?
	if { [ "$want" = ok ] && [ $rc -eq 0 ]; } || { [ "$want" = fail ] && [ $rc -ne 0 ]; }; then
		if one_doc "$tmp/out" "$want"; then
			ok "$desc: exit $rc, one JSON document"
			return
		fi
	else
		echo "exit status $rc" >"$tmp/err"
	fi
	echo "stdout: $(head -c 400 "$tmp/out")" >>"$tmp/err"
	not_ok "$desc"
}

# ---- every command's failures ----------------------------------------------

json_run "udma --json (no command)" fail --json
json_run "an unknown command" fail frobnicate --json
json_run "info: an unknown argument" fail info --bogus --json
json_run "hugepages: an unknown argument" fail hugepages --bogus --json
json_run "hugepages: --reserve without a size" fail hugepages --json --reserve
json_run "hugepages: a bad size" fail hugepages --reserve 12Q --json
json_run "hugepages: size 0" fail hugepages --reserve 0 --json
json_run "hugepages: a page size the kernel does not offer" fail hugepages --reserve 4M --page-size 3M --json
json_run "hugepages: no such NUMA node" fail hugepages --reserve 4M --node 999 --json
json_run "layout: no such process" fail layout 99999999 --json
json_run "layout: not a PID" fail layout not-a-pid --json
json_run "layout: an unknown option" fail layout --bogus --json
json_run "layout: two PIDs" fail layout 1 2 --json
json_run "layout: --demo with a PID" fail layout --demo 1 --json
json_run "demo: --packets 0" fail demo --packets 0 --json
json_run "demo: --block 3000" fail demo --block 3000 --json
json_run "demo: --page-size 3M" fail demo --page-size 3M --json
json_run "demo: --packets without a value" fail demo --json --packets
json_run "demo: an unknown argument" fail demo --frobnicate --json
export UDMA_SIMD=/nonexistent
json_run "demo: the device program is missing" fail demo --packets 100 --block 4K --json
unset UDMA_SIMD
check "... its errno is ENOENT and its error names the program" "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["errno"] == 2 and "/nonexistent" in d["error"], d' "$tmp/out"
if [ "$(cat /proc/2/comm 2>/dev/null)" = kthreadd ]; then
	json_run "layout: a kernel thread" fail layout 2 --json
	check "... named as a kernel thread" grep -q "is a kernel thread" "$tmp/out"
else
	ok "layout of a kernel thread # skip: pid 2 is not kthreadd here (a PID namespace)"
fi

# ---- successes say "ok": true -----------------------------------------------

json_run "udma help --json" ok help --json
json_run "info --json" ok info --json
json_run "hugepages --status --json" ok hugepages --status --json
json_run "layout --json (itself)" ok layout --json
json_run "layout --help --json" ok layout --help --json

"$udma" info --json >/dev/full 2>"$tmp/err"
rc=$?
check "output to a full disk is a failure, not success (exit $rc)" test $rc -ne 0

# ---- a hostile process ------------------------------------------------------

# comm: a quote, a backslash, a newline, bytes that are not UTF-8; a mapped
# file named with all of those and a 4-byte character; then N one-page
# mappings, alternately read-only and read-write so that none merge.
cat >"$tmp/hostile.py" <<'EOF'
import mmap, os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
comm, path, n = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), int(sys.argv[3])
with open("/proc/self/comm", "wb") as f:
    f.write(open(comm, "rb").read())
with open(path, "wb") as f:
    f.write(b"x" * 4096)
fd = os.open(path, os.O_RDONLY)
keep = [mmap.mmap(fd, 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)]
for i in range(n):
    prot = mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE
    keep.append(mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE, prot=prot))
print("ready", flush=True)
signal.sigwait([signal.SIGTERM])
EOF
printf 'q"\\\n\377\376\303(z' >"$tmp/comm"
mapped=$("$py" -c 'import os, sys; sys.stdout.write(os.fsdecode(os.path.join(os.fsencode(sys.argv[1]),
	b"map \"q\" \\b\\s\nnl\xff\xfe \xe2\x82 \xc3\xa9 \xf0\x9f\x98\x80 end")))' "$tmp")

# wait_ready FILE: the helper wrote its first line.
wait_ready() {
	for _ in $(seq 300); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

maps=60000
max_map=$(cat /proc/sys/vm/max_map_count)
[ "$max_map" -lt $((maps + 1000)) ] && maps=$((max_map - 1000))
"$py" "$tmp/hostile.py" "$tmp/comm" "$mapped" $maps >"$tmp/ready" 2>"$tmp/err" &
hostile=$!
helpers="$helpers $hostile"
if wait_ready "$tmp/ready"; then
	ok "a process with a hostile name, a hostile mapped file and $maps more mappings (vm.max_map_count $max_map)"
else
	not_ok "the hostile helper did not start"
fi
json_run "layout of that process" ok layout $hostile --json
# The kernel shows a newline in a mapped file's name as \012 (proc(5)); the
# rest must come through as the bytes decode with U+FFFD for invalid ones.
check "... its name, path and mapping count survive (compared after decoding)" "$py" - "$tmp/out" \
	"$tmp/comm" "$mapped" $maps <<'EOF'
import json, os, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
comm = open(sys.argv[2], "rb").read()[:15].decode("utf-8", "replace")
path = os.fsencode(sys.argv[3]).replace(b"\n", b"\\012").decode("utf-8", "replace")
assert d["comm"] == comm, (d["comm"], comm)
paths = [s["path"] for s in d["segments"]]
assert path in paths, [p for p in paths if "map" in p]
assert len(paths) >= int(sys.argv[4]), len(paths)
EOF
"$udma" layout $hostile >"$tmp/out" 2>"$tmp/err"
check "... and its text layout runs (exit 0)" test $? -eq 0

# ---- a zombie -----------------------------------------------------------------

# A child that exits at once; the parent reaps it only when told (SIGTERM).
cat >"$tmp/zombie.py" <<'EOF'
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
child = os.fork()
if child == 0:
    os._exit(0)
print(child, flush=True)
signal.sigwait([signal.SIGTERM])
os.waitpid(child, 0)
EOF
"$py" "$tmp/zombie.py" >"$tmp/zpid" 2>"$tmp/err" &
parent=$!
helpers="$helpers $parent"
wait_ready "$tmp/zpid"
zpid=$(cat "$tmp/zpid")
for _ in $(seq 100); do
	[ "$(cut -d')' -f2 "/proc/$zpid/stat" 2>/dev/null | cut -c2)" = Z ] && break
	sleep 0.1
done
json_run "layout of a zombie" fail layout "$zpid" --json
check "... says it is a zombie, with its parent" "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert "is a zombie" in d["error"] and "not reaped" in d["error"] and sys.argv[2] in d["error"], d' \
	"$tmp/out" "$parent"
"$udma" layout "$zpid" >/dev/null 2>"$tmp/stderr"
check "... in text too, not 'a kernel thread?'" grep -q "is a zombie" "$tmp/stderr"

echo "1..$n"
exit $failed
