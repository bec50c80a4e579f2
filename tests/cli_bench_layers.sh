#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma bench region|iova|pool|heap|ring|dev`: the library's benches
# inside the udma command. Each, in its short mode (--quick) with --json,
# gives JSON lines of schema 1: a machine row and at least one measured row
# (positive median) or a row saying why it was skipped; --help names the
# command and exits 0; bad arguments exit 2 saying why, and a fatal error
# exits 1, both through the command's error path (--json: a last ok:false
# line; else one line on stderr, no table). And the standalone
# build/bench/bench_region --quick still prints its JSON lines, with the
# long-term pin's cost (pin_ns) in PA mode. No timing is judged: only that
# the figures are there. About 15 s.
# Usage: tests/cli_bench_layers.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$(cd "$(dirname "$build/udma")" && pwd)/udma
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_bench_layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM # else sh goes on after the signal
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

# rows_sane FILE LAYER: every line a JSON object of schema 1 from LAYER; a
# machine row; a measured row with a positive median or a skipped row with
# its reason; what a measured row of LAYER must carry besides.
rows_sane() {
	python3 - "$1" "$2" <<'EOF'
import json, math, sys
path, layer = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if l.strip()]
assert rows, "no rows"
for r in rows:
    assert r.get("schema") == 1 and r.get("bench") == layer, r
assert any(r.get("method") == "machine" and r.get("kernel") for r in rows), "no machine row"
measured = [r for r in rows if not r.get("skipped") and isinstance(r.get("median_ns"), (int, float))]
skipped = [r for r in rows if isinstance(r.get("skipped"), str) and r["skipped"]]
assert measured or skipped, "neither a measured nor a skipped row"
for r in measured:
    assert r["median_ns"] > 0 and r["runs"] > 0, r
    assert r["min_ns"] <= r["median_ns"] <= r["max_ns"], r
    assert not any(k.startswith("dpdk") for k in r), ("a DPDK field in the command", r)
if layer == "region":
    for r in measured:
        if r["method"] == "dma_buffer":
            assert r["region_ns"] > 0 and r["sgl_ratio"] > 0 and r["segments"] >= 1, r
            assert 0 <= r["malloc_ok"] <= r["runs"] and r["malloc_ns"] > 0, r
            assert r["malloc_ok"] == r["runs"] or "longest" in r["malloc_error"], r
            continue
        assert isinstance(r.get("pin_applies"), bool), ("no pin_applies", r)
        assert "pin_ns" in r or r.get("pin_note"), ("neither pin_ns nor pin_note", r)
EOF
}

for layer in region iova pool heap ring dev; do
	"$udma" bench "$layer" --quick --json >"$tmp/out" 2>"$tmp/err"
	check "udma bench $layer --quick --json: exits 0" test $? -eq 0
	check "... rows of schema 1: machine, measured or skipped with a reason" rows_sane "$tmp/out" "$layer"

	"$udma" bench "$layer" --help >"$tmp/out" 2>"$tmp/err"
	check "udma bench $layer --help: exits 0" test $? -eq 0
	check "... with the usage of 'udma bench $layer'" grep -q "^usage: udma bench $layer " "$tmp/out"

	"$udma" bench "$layer" --frob >"$tmp/out" 2>"$tmp/err"
	check "udma bench $layer --frob: exits 2" test $? -eq 2
	check "... saying: unknown option '--frob'" sh -c \
		"head -n 1 '$tmp/err' | grep -q \"^udma bench $layer: unknown option '--frob'\""
	"$udma" bench "$layer" --runs 0 >"$tmp/out" 2>"$tmp/err"
	check "udma bench $layer --runs 0: exits 2" test $? -eq 2
	check "... saying: --runs needs a positive number" grep -q "^udma bench $layer: --runs needs a positive number" "$tmp/err"
done

# Errors go through the command's error path: with --json a last line
# {"schema":1,"ok":false,...}; else one line (and where the usage is) on
# stderr, no table.
"$udma" bench region --bogus --json >"$tmp/out" 2>"$tmp/err"
rc=$?
check "udma bench region --bogus --json: exit 2, the last line ok:false naming it" python3 - "$tmp/out" "$rc" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert sys.argv[2] == "2" and lines, (sys.argv[2], lines)
d = json.loads(lines[-1])
assert d["schema"] == 1 and d["ok"] is False and "--bogus" in d["error"] and d["errno"] == 22, d
EOF
"$udma" bench pool --ops 0 --json >"$tmp/out" 2>"$tmp/err"
rc=$?
check "udma bench pool --ops 0 --json: exit 2, ok:false (a bad count)" python3 - "$tmp/out" "$rc" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert sys.argv[2] == "2" and d["ok"] is False and "--ops" in d["error"], (sys.argv[2], d)
EOF
"$udma" bench region --bogus >"$tmp/out" 2>"$tmp/err"
check "udma bench region --bogus: the reason and where the usage is, on stderr (2 lines)" sh -c \
	"[ $? = 2 ] && [ ! -s '$tmp/out' ] && [ \$(wc -l <'$tmp/err') -eq 2 ] &&
	 tail -n 1 '$tmp/err' | grep -q 'see .udma bench region --help'"
if [ "$(id -u)" = 0 ]; then
	# A fatal error: nobody cannot have a PA-mode context (no PFNs)
	setpriv --reuid=65534 --regid=65534 --clear-groups "$udma" bench region --iova pa --quick --json \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "region --iova pa as nobody --json: exit 1, the last line ok:false (no skip row 'all')" \
		python3 - "$tmp/out" "$rc" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "1" and rows[-1]["ok"] is False and "context" in rows[-1]["error"], (sys.argv[2], rows)
assert not [r for r in rows if r.get("method") == "all"], rows
EOF
	setpriv --reuid=65534 --regid=65534 --clear-groups "$udma" bench region --iova pa --quick \
		>"$tmp/out" 2>"$tmp/err"
	check "... in table mode: exit 1, one line on stderr, no table" sh -c \
		"[ $? = 1 ] && [ \$(wc -l <'$tmp/err') -eq 1 ] && ! grep -q '^method' '$tmp/out'"
else
	ok "region --iova pa as nobody # skip: not root (setpriv needs root)"
	ok "... in table mode # skip: not root"
fi

# Installed, udma-simd is next to udma (make install puts both in bin/):
# `udma bench dev` must find it there for its process cases.
mkdir "$tmp/bin" && cp "$build/udma" "$build/udma-simd" "$tmp/bin/"
env -u UDMA_SIMD "$tmp/bin/udma" bench dev --quick --case copy64/b1/poll/proc --json >"$tmp/out" 2>"$tmp/err"
check "udma bench dev from another folder: finds udma-simd next to it (a proc case measured)" python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert any(r.get('method') == 'copy64/b1/poll/proc' and not r.get('skipped') and r['median_ns'] > 0
           for r in rows), rows" "$tmp/out"

# The standalone program, as bench/README.md runs it.
"$build/bench/bench_region" --quick >"$tmp/out" 2>"$tmp/err"
check "bench_region --quick: exits 0" test $? -eq 0
check "... JSON lines: machine, iova_mode, then every case measured or skipped" python3 - "$tmp/out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["case"] == "machine" and rows[1]["case"] == "iova_mode", rows[:2]
cases = rows[2:]
assert [r["case"] for r in cases] == ["dma_buffer", "64M@4K", "64M@2M", "64M@1G"], cases
for r in cases[1:]:
    assert "skipped" in r or (r["median_ns"] > 0 and "bare_create_ns" in r), r
EOF
mode=$(python3 -c "
import json, sys
print(next(json.loads(l)['iova_mode'] for l in open(sys.argv[1]) if '\"iova_mode\"' in l))" "$tmp/out" 2>/dev/null)
if [ "$(id -u)" != 0 ] || [ "$mode" != PA ]; then
	ok "... the pin's cost in PA mode # skip: needs root and PA mode (uid $(id -u), mode ${mode:-unknown})"
else
	check "... PA mode: each measured case has pin_applies true, pin_ns and pin_share" python3 - "$tmp/out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
measured = [r for r in rows[3:] if "skipped" not in r]
assert measured, "no case measured"
for r in measured:
    assert r["pin_applies"] is True and r["pin_ns"] > 0 and 0 < r["pin_share"], r
EOF
fi
"$build/bench/bench_region" --quick --iova va >"$tmp/out" 2>"$tmp/err"
check "bench_region --quick --iova va: the library does not pin (pin_applies false, no pin_share)" python3 - "$tmp/out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
measured = [r for r in rows[3:] if "skipped" not in r]
assert measured, "no case measured"
for r in measured:
    assert r["pin_applies"] is False and "pin_share" not in r, r
EOF

echo "1..$n"
exit "$failed"
