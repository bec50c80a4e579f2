/* SPDX-License-Identifier: MIT */
/* The thread-local error message behind udma_last_error(). */
#include <stdarg.h>
#include <stdio.h>

#include "udma_internal.h"

static __thread char last_error[512];

const char *udma_last_error(void)
{
	return last_error;
}

int udma__err(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -errnum;
}
