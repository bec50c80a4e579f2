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
