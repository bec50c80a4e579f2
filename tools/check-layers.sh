#!/bin/sh
# The dependency rule between layers (docs/design.md, "Layers"), checked over
# the #include lines of every .c and .h file: a file may include a header of
# its own folder, or of a layer its row of the table allows. A header that
# resolves to no file is an error too. One line per violation, with the fix;
# exit 1 if there is any. `make lint` runs it.
# usage: tools/check-layers.sh [ROOT]   (ROOT: the top of the tree, default .)
#        tools/check-layers.sh --table  (print the table, one row a line: for
#        the tests that check docs/design.md and the objects' symbols by it)
set -u
root=${1:-.}

# Who may include whom, mirrored in docs/design.md. A row: a layer (a folder),
# then what it may use: layers (folders) or single files; "*" is anything.
# tests/check_layers.sh checks that docs/design.md shows the same table.
# A file may always include headers of its own folder.
table='
lib/base      include/udma
lib/os        lib/base include/udma
lib/mem       lib/os lib/base include/udma
lib/alloc     lib/mem lib/os lib/base include/udma
lib/ring      lib/os lib/base include/udma
lib/dev       lib/mem lib/os lib/base sim include/udma
sim           lib/base/compiler.h
drivers       include/udma sim/simdev_regs.h
include/udma  include/udma
tools         *
bench         *
tests         *
'
if [ "$root" = --table ]; then
	printf '%s\n' "$table" | sed '/^$/d'
	exit 0
fi
cd "$root" || exit 2

files=$(find lib sim drivers tools bench tests include \( -name '*.c' -o -name '*.h' \) \
	-type f 2>/dev/null | LC_ALL=C sort)
[ -n "$files" ] || {
	echo "check-layers: no .c or .h file under $root (give the top of the tree)" >&2
	exit 2
}

# shellcheck disable=SC2086 # one argument per file; the tree's paths have no blanks
LC_ALL=C awk -v table="$table" '
function exists(p,   line, r) {
	if (p in seen)
		return seen[p]
	r = (getline line < p) >= 0
	close(p)
	seen[p] = r
	return r
}
function dirname(p) {
	return sub(/\/[^\/]*$/, "", p) ? p : "."
}
# "a/b/../c/./d.h" -> "a/c/d.h"
function normalize(p,   n, i, k, part, out, s) {
	n = split(p, part, "/")
	k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "" || part[i] == ".")
			continue
		if (part[i] == ".." && k > 0 && out[k] != "..")
			k--
		else
			out[++k] = part[i]
	}
	s = ""
	for (i = 1; i <= k; i++)
		s = s (i > 1 ? "/" : "") out[i]
	return s
}
# The row of the table a path belongs to: its longest folder prefix.
function layer_of(p,   i, best) {
	best = ""
	for (i = 1; i <= nlayers; i++)
		if (index(p, layers[i] "/") == 1 && length(layers[i]) > length(best))
			best = layers[i]
	return best
}
function allowed(src, target, tlayer,   n, i, use) {
	n = split(uses[src], use, " ")
	for (i = 1; i <= n; i++)
		if (use[i] == "*" || use[i] == tlayer || use[i] == target)
			return 1
	return 0
}
function fix(src, tlayer) {
	if (src == "drivers")
		return "a driver uses the public API only: make what it needs public in include/udma"
	if (src == "sim")
		return "sim/ stays libc-only (udma-simd links no libudma): move what it needs into sim/"
	if (src == "include/udma")
		return "a public header includes public headers only: move the definition into include/udma"
	if (allowed(tlayer, src, src))
		return "move what it needs into a layer " src " may use, or let " tlayer \
			" call down into " src " (a callback, a memory event) instead"
	return "move what it needs into a layer " src " may use"
}
BEGIN {
	n = split(table, row, "\n")
	for (i = 1; i <= n; i++) {
		m = split(row[i], f, " ")
		if (m == 0)
			continue
		layers[++nlayers] = f[1]
		uses[f[1]] = ""
		names[f[1]] = ""
		for (j = 2; j <= m; j++) {
			uses[f[1]] = uses[f[1]] " " f[j]
			names[f[1]] = names[f[1]] (j > 2 ? ", " : "") f[j]
		}
	}
	bad = 0
}
FILENAME != current {
	current = FILENAME
	src = layer_of(FILENAME)
	if (src == "") {
		print FILENAME ": in no layer of the table: put it in a layer folder, or add a row to tools/check-layers.sh and docs/design.md"
		bad++
	}
}
# An #include of a macro, or one split over lines, names a header the check
# cannot see: refused, so no include escapes the table.
/^[ \t]*#[ \t]*include/ && !/^[ \t]*#[ \t]*include[ \t]*("[^"]*"|<[^>]*>)/ {
	if (src == "")
		next
	print FILENAME ":" FNR ": an #include this check cannot read (a macro, or split over lines): write the name of the header in quotes or angle brackets on that line"
	bad++
	next
}
/^[ \t]*#[ \t]*include[ \t]*["<]/ {
	if (src == "")
		next
	line = $0
	sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
	quoted = substr(line, 1, 1) == "\""
	close_ch = quoted ? "\"" : ">"
	name = substr(line, 2)
	end = index(name, close_ch)
	if (end == 0)
		next
	name = substr(name, 1, end - 1)
	# The compiler looks beside the file (quoted only), then in -Iinclude, then -I.
	target = ""
	tried = ""
	if (quoted) {
		cand = normalize(dirname(FILENAME) "/" name)
		tried = cand
		if (exists(cand))
			target = cand
	}
	if (target == "") {
		cand = normalize("include/" name)
		tried = tried (tried != "" ? ", " : "") cand
		if (exists(cand))
			target = cand
	}
	if (target == "") {
		cand = normalize(name)
		tried = tried ", " cand
		if (exists(cand))
			target = cand
	}
	if (target == "") {
		# <stdio.h> and the like belong to the system; a tree path is ours.
		if (!quoted && name !~ /^(udma|lib|sim|drivers|tools|bench|tests|include)\//)
			next
		print FILENAME ":" FNR ": includes " name ", which is no file (tried " tried \
			"): name it from the top of the tree, as in \"lib/mem/mem.h\""
		bad++
		next
	}
	if (dirname(target) == dirname(FILENAME))
		next
	tlayer = layer_of(target)
	if (tlayer == "") {
		print FILENAME ":" FNR ": includes " target ", which is in no layer: move it into a layer folder"
		bad++
		next
	}
	if (allowed(src, target, tlayer))
		next
	print FILENAME ":" FNR ": includes " target ": " src " may use " \
		(names[src] == "" ? "nothing but its own folder" : names[src]) "; fix: " fix(src, tlayer)
	bad++
}
END {
	if (bad) {
		print "check-layers: " bad " violation(s) of the layer table (tools/check-layers.sh, docs/design.md)" > "/dev/stderr"
		exit 1
	}
}
' $files
