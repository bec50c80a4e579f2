/* SPDX-License-Identifier: MIT */
/* The udma command's JSON writer (see json.h). */
#include <inttypes.h>
#include <math.h>

#include "tools/json.h"

void json_start(struct json *j, FILE *f)
{
	*j = (struct json){.f = f};
}

void json_finish(struct json *j)
{
	fputc('\n', j->f);
}

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode's table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or, negated, the
 * length of its maximal invalid subpart: the bytes that one U+FFFD replaces.
 */
static int utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int need, k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 2;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 3;
	else
		return -1;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (k = 1; k <= need; k++) {
		if (s[k] < lo || s[k] > hi) /* also stops at the terminating NUL */
			return -k;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static void put_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		int n = utf8_len(s);

		if (n < 0) {
			fputs("\\ufffd", f);
			s += -n;
		} else if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s < 0x20) {
			fprintf(f, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, (size_t)n, f);
			s += n;
		}
	}
	fputc('"', f);
}

/* The comma and the key before a value. */
static void member(struct json *j, const char *key)
{
	if (j->comma)
		fputc(',', j->f);
	if (key && j->depth && !(j->array >> (j->depth - 1) & 1)) {
		put_string(j->f, key);
		fputc(':', j->f);
	}
	j->comma = true;
}

static void open_container(struct json *j, const char *key, bool array)
{
	member(j, key);
	fputc(array ? '[' : '{', j->f);
	if (j->depth < JSON_MAX_DEPTH) {
		j->array = (j->array & ~(1u << j->depth)) | (uint32_t)array << j->depth;
		j->depth++;
	}
	j->comma = false;
}

void json_object(struct json *j, const char *key)
{
	open_container(j, key, false);
}

void json_array(struct json *j, const char *key)
{
	open_container(j, key, true);
}

void json_end(struct json *j)
{
	if (!j->depth)
		return;
	j->depth--;
	fputc(j->array >> j->depth & 1 ? ']' : '}', j->f);
	j->comma = true;
}

void json_str(struct json *j, const char *key, const char *s)
{
	member(j, key);
	if (s)
		put_string(j->f, s);
	else
		fputs("null", j->f);
}

void json_int(struct json *j, const char *key, long long v)
{
	member(j, key);
	fprintf(j->f, "%lld", v);
}

void json_uint(struct json *j, const char *key, unsigned long long v)
{
	member(j, key);
	fprintf(j->f, "%llu", v);
}

void json_fixed(struct json *j, const char *key, double v, int decimals)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
}

void json_bool(struct json *j, const char *key, bool v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void json_hex(struct json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "\"0x%" PRIx64 "\"", v);
}
