# Sourced by tests/dpdk.sh and bench/dpdk_testpmd.sh. EAL loads a plugin
# (-d) only from a directory that no other user can write, all the way up to
# / (it refuses anything under /tmp, where a checkout may well be). So the
# plugin is copied into a private directory, readable by all (a test runs
# testpmd as nobody), under XDG_RUNTIME_DIR, /run or HOME, whichever
# qualifies, and finds libudma through LD_LIBRARY_PATH.
#
# udma_plugin_copy BUILD_DIR: sets plugin (the copy to pass to -d) and
# plugdir (remove it when done), exports LD_LIBRARY_PATH; 1 if no directory
# qualifies or the plugin is not built.
udma_plugin_copy() {
	_libdir=$(cd "$1" && pwd) || return 1
	[ -f "$_libdir/dpdk/librte_mempool_udma.so" ] || return 1
	plugdir=""
	for _base in "${XDG_RUNTIME_DIR:-}" /run "${HOME:-}"; do
		[ -n "$_base" ] && [ -d "$_base" ] && [ -w "$_base" ] || continue
		case $(stat -c %A "$_base") in ????????w?) continue ;; esac
		plugdir=$(mktemp -d "$_base/udma-dpdk.XXXXXX") && break
	done
	[ -n "$plugdir" ] && chmod 755 "$plugdir" && cp "$_libdir/dpdk/librte_mempool_udma.so" "$plugdir/" ||
		return 1
	plugin=$plugdir/librte_mempool_udma.so
	export LD_LIBRARY_PATH="$_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
