/* SPDX-License-Identifier: MIT */
/*
 * The version: the only place it is written. The Makefile reads these three
 * numbers for the shared library's file name, its soname and udma.pc.
 *
 * The soname follows the ABI: before 1.0 every minor release may change it,
 * so the soname carries MAJOR.MINOR (libudma.so.0.2); from 1.0 on, MAJOR
 * alone. The exported symbols carry the version node UDMA_MAJOR.MINOR of the
 * release that added them (objdump -T libudma.so).
 */
#ifndef UDMA_VERSION_H
#define UDMA_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define UDMA_VERSION_MAJOR 0
#define UDMA_VERSION_MINOR 3
#define UDMA_VERSION_PATCH 0

#define UDMA__STR_(x) #x
#define UDMA__STR(x)  UDMA__STR_(x)
/* "0.2.0": the version of the headers the program was built with. */
#define UDMA_VERSION_STRING           \
	UDMA__STR(UDMA_VERSION_MAJOR) \
	"." UDMA__STR(UDMA_VERSION_MINOR) "." UDMA__STR(UDMA_VERSION_PATCH)

#pragma GCC visibility push(default)

/* The version of the library the program runs with ("0.2.0"): compare it with
 * UDMA_VERSION_STRING to see whether the headers and the library agree. */
const char *udma_version(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
