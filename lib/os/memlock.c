/* SPDX-License-Identifier: MIT */
/* RLIMIT_MEMLOCK: say before mapping whether a 4 KiB-page region can be locked, and why not. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/os/os.h"

bool udma__has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

/* VmLck, or (size_t)-1 if /proc/self/status cannot be read (out of fds). */
static size_t locked_now(void)
{
	char line[256];
	size_t kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return (size_t)-1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

int udma__memlock_explain(int errnum, size_t len)
{
	struct rlimit rl;
	size_t locked = locked_now();
	char lim[32], have[32], need[32];

	/* Only ENOMEM/EPERM from mlock can mean the limit (EAGAIN: pages could not
	 * be locked), and only if this lock would pass it: ENOMEM is also a split
	 * the mapping count refused, or memory. */
	if ((errnum != ENOMEM && errnum != EPERM) || udma__has_cap_ipc_lock() ||
	    getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    (locked != (size_t)-1 && locked + len <= rl.rlim_cur))
		return udma__err(errnum, "locking %s failed: %s", udma__fmt_size(len, need, sizeof(need)),
				 udma__vm_strerror(errnum));
	if (locked == (size_t)-1)
		return udma__err(errnum,
				 "locking %s failed: %s; RLIMIT_MEMLOCK is %s (how much is locked already "
				 "is unknown: /proc/self/status is unreadable): raise it with `ulimit -l`, "
				 "run with CAP_IPC_LOCK, or use hugepages (not counted)",
				 udma__fmt_size(len, need, sizeof(need)), strerror(errnum),
				 udma__fmt_size(rl.rlim_cur, lim, sizeof(lim)));
	return udma__err(errnum,
			 "RLIMIT_MEMLOCK is %s and %s is locked already; this region needs %s more: "
			 "raise it with `ulimit -l %zu` (or memlock in /etc/security/limits.conf), "
			 "run with CAP_IPC_LOCK, or use hugepages (not counted)",
			 udma__fmt_size(rl.rlim_cur, lim, sizeof(lim)),
			 udma__fmt_size(locked, have, sizeof(have)), udma__fmt_size(len, need, sizeof(need)),
			 (locked + len + 1023) >> 10);
}

int udma__memlock_check(size_t len)
{
	struct rlimit rl;
	size_t locked;

	if (udma__has_cap_ipc_lock() || getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	locked = locked_now();
	/* Unknown: mlock itself will tell. */
	if (locked != (size_t)-1 && locked + len > rl.rlim_cur)
		return udma__memlock_explain(ENOMEM, len);
	return 0;
}
