/* SPDX-License-Identifier: MIT */
/* Opening a port by its spec, and the ports' error line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tools/nic/nic_tool.h"

#define KERNEL_PREFIX "kernel:"

static __thread char why[512];

const char *port_error(void)
{
	return why;
}

int port_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -err;
}

bool port_is_kernel(const char *spec)
{
	return !strncmp(spec, KERNEL_PREFIX, strlen(KERNEL_PREFIX));
}

int port_open(struct nic_port *p, const char *spec, const struct port_opts *o)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->spec, sizeof(p->spec), "%s", spec);
	if (port_is_kernel(spec))
		return port_open_kernel(p, spec + strlen(KERNEL_PREFIX), o);
	return port_open_udma(p, spec, o);
}

unsigned ports_close(struct nic_port *p, unsigned n)
{
	unsigned i, leaked = 0;

	/* Every NIC stops before any pool is counted: a forwarded packet of one
	 * port's pool waits in the other's TX ring until that NIC lets it go. */
	for (i = 0; i < n; i++) {
		nic_detach(p[i].nic);
		p[i].nic = NULL;
	}
	for (i = 0; i < n; i++)
		if (p[i].ops)
			leaked += p[i].ops->close(&p[i]);
	return leaked;
}
