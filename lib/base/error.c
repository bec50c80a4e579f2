/* SPDX-License-Identifier: MIT */
/* The thread-local error message behind udma_last_error(). */
#include <stdarg.h>
#include <stdio.h>

#include "lib/base/base.h"

static __thread char formatted[1024];
static __thread const char *last_error = "";

const char *udma_last_error(void)
{
	return last_error;
}

int udma__err(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(formatted, sizeof(formatted), fmt, ap);
	va_end(ap);
	last_error = formatted;
	return -errnum;
}

int udma__err_const(int errnum, const char *msg)
{
	last_error = msg;
	return -errnum;
}
