# shellcheck shell=sh
# Helpers for the QEMU guest tests, tests/vm_*.sh (sourced, not run).

# step COMMAND...: run it with its output as TAP comments; keep its status.
step() {
	step_out=$(mktemp)
	step_rc=0
	"$@" >"$step_out" 2>&1 || step_rc=$?
	sed 's/^/# /' "$step_out"
	rm -f "$step_out"
	return "$step_rc"
}

# vm_kernel: set kernel and kver to UDMA_VM_KERNEL, else to the newest
# installed kernel that has its modules (linux-image-amd64's); fails when
# that kernel is unreadable or has no modules.dep.
vm_kernel() {
	kernel=${UDMA_VM_KERNEL:-}
	if [ -z "$kernel" ]; then
		for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V); do
			[ -f "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] && kernel=$k
		done
	fi
	kver=${kernel#*vmlinuz-}
	[ -r "$kernel" ] && [ -f "/lib/modules/$kver/modules.dep" ]
}

# verdicts CONSOLE_LOG: cmocka's verdict on each test of a guest's console:
# "OK|FAILED|ERROR|SKIPPED <tab> NAME <tab> the test's last '# skip: REASON'",
# and "RUNNING <tab> NAME" for a test that never finished. Only the line right
# after a test's RUN counts: cmocka lists failures and skips again in its
# summary. The kernel writes to the same serial port whenever it likes (the
# IOMMU tests' DMAR faults): a cmocka line it cut, "[       OK ] na" then
# "[   13.03] DMAR: ..." on the same line and "me" on the next, is put back
# together, or that test's verdict would silently vanish.
verdicts() {
	awk '
	function kernel_at(s) { return match(s, /\[ *[0-9]+\.[0-9]+\] /) }
	/^\[ *[0-9]+\.[0-9]+\] / { next }
	{ line = held $0; held = "" }
	line ~ /^\[/ && kernel_at(line) > 1 { held = substr(line, 1, RSTART - 1); next }
	line ~ /^\[ RUN +\] / { cur = line; sub(/^\[ RUN +\] /, "", cur); why = ""; next }
	cur == "" { next }
	line ~ /^# skip: / { why = substr(line, 9) }
	line ~ /^\[ *(OK|FAILED|ERROR|SKIPPED) *\] / {
		tag = line; sub(/^\[ */, "", tag); sub(/ *\].*/, "", tag)
		name = line; sub(/^\[[^]]*\] /, "", name)
		if (name == cur) { print tag "\t" name "\t" why; cur = "" }
	}
	END { if (cur != "") print "RUNNING\t" cur }' "$1"
}
