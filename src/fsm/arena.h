/*
 * fsm/arena.h — a bump allocator for short-lived bytes.
 *
 * Decoders and the fold put the strings of one event or one batch of commands
 * here and drop them all at once with fsm_arena_reset(). Memory comes from
 * malloc in chunks that are kept across resets, so a steady stream of records
 * allocates nothing after warm-up.
 *
 * Ownership: pointers returned stay valid until the next fsm_arena_reset() or
 * fsm_arena_free() of the same arena.
 */
#ifndef LEDGERLET_FSM_ARENA_H
#define LEDGERLET_FSM_ARENA_H

#include <stddef.h>

struct fsm_arena_chunk;

struct fsm_arena {
	struct fsm_arena_chunk *head; /* chunk being filled; older ones follow */
	struct fsm_arena_chunk *spare; /* chunks kept by reset for reuse */
	size_t used_bytes;            /* in head */
};

#define FSM_ARENA_INIT {0}

/* NULL when out of memory. Aligned for any scalar type. */
void *fsm_arena_alloc(struct fsm_arena *a, size_t size);
/* A NUL-terminated copy of len bytes of s (s may be NULL when len is 0). */
char *fsm_arena_strndup(struct fsm_arena *a, const char *s, size_t len);
char *fsm_arena_strdup(struct fsm_arena *a, const char *s);
void fsm_arena_reset(struct fsm_arena *a);
void fsm_arena_free(struct fsm_arena *a);

#endif
