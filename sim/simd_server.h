/* SPDX-License-Identifier: MIT */
/* udma-simd's side of the protocol: check each request, act on it, answer. */
#ifndef SIMD_SERVER_H
#define SIMD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/simd_proto.h"

struct simd_server;

/* max_block: the largest block store a driver may ask for; max_map: the most
 * bytes of its memory it may have mapped at once (0: the machine's RAM).
 * NULL if out of memory. */
struct simd_server *simd_server_new(uint64_t max_block, uint64_t max_map, bool verbose);
/*
 * Handle one request (len bytes, already checked to be at least a header
 * whose len is len) and the fds that came with it, which this takes over
 * (kept or closed). Fills the reply, seq and all.
 */
void simd_server_handle(struct simd_server *s, const void *msg, size_t len, int *fds, unsigned nfds,
			struct simd_reply *reply);
/* Stop the device, unmap everything, free: true. False if the device's
 * thread did not stop within a second (nothing freed: exit the process). */
bool simd_server_free(struct simd_server *s);

#endif
