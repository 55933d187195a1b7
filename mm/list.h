/*
 * list.h - a circular doubly linked list, the kernel's list_head, for the
 * few structures that live in allocated memory rather than in the memmap
 * (zbud page headers).  The memmap's own lists are index based (mmzone.h).
 */
#ifndef GUESTMM_MM_LIST_H
#define GUESTMM_MM_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_head {
	struct list_head *next, *prev;
};

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list_head *l)
{
	return l->next == l;
}

static inline void list_add(struct list_head *n, struct list_head *head)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

/* Unlink @e and leave it empty, so that list_empty(e) tells it is off. */
static inline void list_del_init(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	INIT_LIST_HEAD(e);
}

#endif
