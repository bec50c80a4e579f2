/* SPDX-License-Identifier: MIT */
/* The udma command's one JSON writer. Every document the CLI prints goes
 * through it, so commas and nesting are always right and every string is
 * escaped the same way: quotes and backslashes escaped, control characters
 * as \uXXXX, valid UTF-8 passed through, and bytes that are not UTF-8 (a
 * process's name, a mapped file's path) as U+FFFD, one per maximal invalid
 * subsequence as Unicode recommends (what Python's errors="replace" gives). */
#ifndef UDMA_JSON_H
#define UDMA_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *f;
	unsigned depth;
	bool comma;	/* the next member or element needs a comma before it */
	uint32_t array; /* bit d: level d + 1 is an array (else an object) */
};

void json_start(struct json *j, FILE *f);
/* After the last json_end: the closing newline. */
void json_finish(struct json *j);

/* key names the member inside an object; NULL inside an array or at the top. */
void json_object(struct json *j, const char *key);
void json_array(struct json *j, const char *key);
/* Close the innermost object or array. */
void json_end(struct json *j);

void json_str(struct json *j, const char *key, const char *s); /* NULL: null */
void json_int(struct json *j, const char *key, long long v);
void json_uint(struct json *j, const char *key, unsigned long long v);
/* With this many decimals; NaN and infinities (not JSON) as null. */
void json_fixed(struct json *j, const char *key, double v, int decimals);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* "0x7f00...": addresses as strings, since JSON numbers lose precision above 2^53. */
void json_hex(struct json *j, const char *key, uint64_t v);

#endif
