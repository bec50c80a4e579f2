# TAP helpers for the shell tests (sourced, not run: tests/run.sh runs
# tests/*.sh only). The caller sets n=0, failed=0 and $tmp (whose err file,
# if not empty, is shown under a failure).
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	[ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err"
	return 0
}

# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
