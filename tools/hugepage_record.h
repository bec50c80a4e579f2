/* SPDX-License-Identifier: MIT */
/* udma hugepages: the record of what `--reserve` added to each pool, so that
 * `--release` gives back only that. One file per pool (hugepages-2048kB,
 * hugepages-2048kB-node0, ...) in a private directory: /run/udma, or
 * $UDMA_RUN_DIR. */
#ifndef UDMA_HUGEPAGE_RECORD_H
#define UDMA_HUGEPAGE_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct hp_record {
	int dirfd; /* the directory, locked (flock) while the record is open */
	char dir[PATH_MAX];
	char name[64];
	unsigned long pages;  /* added by udma and not given back yet */
	unsigned long others; /* the rest of the pool when udma last resized it */
	char boot[40];	      /* this boot's id, which the record carries */
	bool stale;	      /* the record found was from another boot: ignored */
};

/* Open and lock the record of this pool, creating the directory (0700) if
 * need be; pages and others are 0 when there is none, or when it is from an
 * earlier boot (boot_id differs: then stale is set). 0, or a negative errno
 * with err saying why (refused: a directory that is not private to this
 * user, a record that is not a regular file, or not two counts up to
 * LONG_MAX and a boot id). */
int hp_record_open(struct hp_record *r, size_t page_size, int node, char *err, size_t len);
/* Replace the record by a new one (pages 0 removes it): written to a 0600
 * file of a new unique name (mkostemp), then renamed over the old one. */
int hp_record_save(struct hp_record *r, unsigned long pages, unsigned long others, char *err, size_t len);
/* Of a pool of total pages, those udma may still call its own: never more
 * than the pool has above what the record says others had (if the pool
 * shrank, others took back theirs or ours: assume ours). */
unsigned long hp_record_claimable(const struct hp_record *r, unsigned long total);
/* Unlock and close. */
void hp_record_close(struct hp_record *r);

#endif
