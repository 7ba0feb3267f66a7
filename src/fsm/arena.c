/*
 * fsm/arena.c — bump allocation in malloc'd chunks (see arena.h).
 */
#include "fsm/arena.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES_MIN ((size_t)16 * 1024)
#define ALIGN_BYTES ((size_t)16)

struct fsm_arena_chunk {
	struct fsm_arena_chunk *next;
	size_t size_bytes; /* usable bytes in data */
	_Alignas(16) unsigned char data[];
};

static struct fsm_arena_chunk *chunk_new(size_t need)
{
	size_t size = need > CHUNK_BYTES_MIN ? need : CHUNK_BYTES_MIN;
	struct fsm_arena_chunk *c = malloc(sizeof(*c) + size);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->size_bytes = size;
	return c;
}

void *fsm_arena_alloc(struct fsm_arena *a, size_t size)
{
	size_t need = (size + ALIGN_BYTES - 1) & ~(ALIGN_BYTES - 1);
	if (need < size)
		return NULL; /* overflow */
	if (a->head == NULL || a->head->size_bytes - a->used_bytes < need) {
		struct fsm_arena_chunk *c = NULL;
		/* Reuse a spare chunk if it is large enough; otherwise allocate. */
		if (a->spare != NULL && a->spare->size_bytes >= need) {
			c = a->spare;
			a->spare = c->next;
		} else {
			c = chunk_new(need);
			if (c == NULL)
				return NULL;
		}
		c->next = a->head;
		a->head = c;
		a->used_bytes = 0;
	}
	void *p = a->head->data + a->used_bytes;
	a->used_bytes += need;
	assert(a->used_bytes <= a->head->size_bytes);
	assert(((uintptr_t)p & (ALIGN_BYTES - 1)) == 0);
	return p;
}

char *fsm_arena_strndup(struct fsm_arena *a, const char *s, size_t len)
{
	char *p = fsm_arena_alloc(a, len + 1);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *fsm_arena_strdup(struct fsm_arena *a, const char *s)
{
	return fsm_arena_strndup(a, s, s == NULL ? 0 : strlen(s));
}

void fsm_arena_reset(struct fsm_arena *a)
{
	struct fsm_arena_chunk *c = a->head;
	while (c != NULL) {
		struct fsm_arena_chunk *next = c->next;
		c->next = a->spare;
		a->spare = c;
		c = next;
	}
	a->head = NULL;
	a->used_bytes = 0;
}

void fsm_arena_free(struct fsm_arena *a)
{
	fsm_arena_reset(a);
	struct fsm_arena_chunk *c = a->spare;
	while (c != NULL) {
		struct fsm_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->spare = NULL;
}
