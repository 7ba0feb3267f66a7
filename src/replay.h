/*
 * replay.h — rebuilding the fold's state from the journal (DESIGN.md contract 5,
 * first half): load the newest snapshot, then fold every entry after it.
 *
 * Used by the daemon at start, by journal-replay, by the tests that hold
 * "snapshot + tail = full fold" and by the benchmarks.
 */
#ifndef LEDGERLET_REPLAY_H
#define LEDGERLET_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm/fsm.h"
#include "journal/journal.h"

struct replay_stats {
	uint64_t snapshot_seq; /* 0 when folded from the start */
	uint64_t folded;       /* entries folded after the snapshot */
};

/*
 * Fills *s (initialised by the callee; the caller frees it) with the state at
 * the journal's tip. With use_snapshot false every entry is folded from the
 * base (which must then be 1: a compacted journal needs its snapshot). Errors:
 * those of the journal, with dmg naming the record, or an fsm error.
 */
int replay_state(struct jnl *j, bool use_snapshot, struct fsm_state *s, struct replay_stats *st,
		 struct jnl_damage *dmg);

#endif
