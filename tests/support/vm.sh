# shellcheck shell=sh disable=SC2154 # build, tmp, kernel and label are the caller's
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

# cmocka_guests TEST IMG: boot the uio guest, then the vfio guest, with
# /test_TEST from IMG (tests/vm/boot.sh), each console kept as
# $build/vm/console-TEST-RUN.log; every cmocka verdict on it becomes a TAP
# line named by the caller's `named RUN CMOCKA_NAME`, then one line per guest,
# "$(label RUN): guest ran to completion", says whether the guest ran to its
# end (a test a dead guest never reached is absent). Needs tap.sh's ok/not_ok,
# $tmp, $kernel, $build.
cmocka_guests() {
	for run in uio vfio; do
		log=$build/vm/console-$1-$run.log
		rm -f "$log"
		brc=0
		UDMA_VM_TEST=$1 tests/vm/boot.sh "$run" "$kernel" "$2" "$log" >"$tmp/boot" || brc=$?
		cat "$tmp/boot"
		: >"$tmp/verdicts"
		[ -f "$log" ] && verdicts "$log" >"$tmp/verdicts"
		what="" reported=0
		while IFS="$(printf '\t')" read -r tag name why; do
			case $tag in
			OK) ok "$(named $run "$name")" ;;
			SKIPPED) ok "$(named $run "$name") # skip ${why:-skipped in the guest}" ;;
			RUNNING) what=" (stopped during $name)" ;;
			*) not_ok "$(named $run "$name")" ;;
			esac
			[ "$tag" = RUNNING ] || reported=$((reported + 1))
		done <"$tmp/verdicts"
		end="$(label $run): guest ran to completion"
		if [ "$brc" != 0 ]; then
			why=$(sed -n 's/^# udma-vm: FAIL //p' "$tmp/boot")
			not_ok "$end: ${why:-tests/vm/boot.sh exited $brc}$what (console: $log)"
		elif [ "$reported" = 0 ]; then
			not_ok "$end: no cmocka results on its console (console: $log)"
		else
			ok "$end ($reported tests)"
		fi
	done
}

# What a wrapper of cmocka guests does first, with its `label`:
# guests_skip_if_sanitized: in a sanitizer build ($build) the guest binaries,
# static, cannot be instrumented: one skipped line per guest, then exit.
guests_skip_if_sanitized() {
	case $build in
	*san-*)
		for run in uio vfio; do ok "$(label $run): guest ran to completion # skip the guest runs in the plain build"; done
		exit 0
		;;
	esac
}
# guests_fail WHY: one failed line per guest, then exit.
guests_fail() {
	for run in uio vfio; do not_ok "$(label $run): guest ran to completion: $1"; done
	exit 1
}
# guests_setup: the packages and the kernel (sets kernel, kver), or guests_fail.
guests_setup() {
	step tools/install-deps.sh vm || guests_fail "cannot install the vm packages (tools/install-deps.sh vm)"
	vm_kernel || guests_fail "no readable /boot/vmlinuz-* with its /lib/modules (linux-image-amd64)"
}
