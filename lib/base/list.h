/* SPDX-License-Identifier: MIT */
/*
 * An intrusive doubly-linked list with a one-pointer head: a zeroed head is
 * an empty list (calloc'd structures need no init, a forked child's copy is
 * consistent), and a node unlinks itself without knowing its list. Each node
 * keeps the address of the pointer that points at it (the head's or the
 * previous node's), as the kernel's hlist does. No locking: the owner's.
 */
#ifndef UDMA_LIST_H
#define UDMA_LIST_H

#include <stddef.h>

struct udma__link {
	struct udma__link *next;
	struct udma__link **pprev; /* the pointer to this node: the head's or the previous node's next */
};

struct udma__list {
	struct udma__link *first;
};

/* The structure of type holding the link at member; link must not be NULL. */
#define udma__list_entry(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

static inline void udma__list_push(struct udma__list *l, struct udma__link *n)
{
	n->next = l->first;
	if (n->next)
		n->next->pprev = &n->next;
	l->first = n;
	n->pprev = &l->first;
}

static inline void udma__list_del(struct udma__link *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
}

#endif
