/*
 * journal/state_codec.h — the fold's state <-> FsmState (internal to journal).
 */
#ifndef LEDGERLET_JOURNAL_STATE_CODEC_H
#define LEDGERLET_JOURNAL_STATE_CODEC_H

#include <stddef.h>

#include "fsm/arena.h"
#include "fsm/fsm.h"
#include "schemas/journal.pb-c.h"

/* Fills ps from s; the messages live in arena `a` and point into s. */
int jnl_state_to_pb(const struct fsm_state *s, Ledgerlet__Journal__FsmState *ps,
		    struct fsm_arena *a);
/* Fills s (initialised here; the caller frees it, also on error) from ps.
 * JNL_EDECODE with `why` when the record does not make a state of this build. */
int jnl_state_from_pb(struct fsm_state *s, const Ledgerlet__Journal__FsmState *ps, char *why,
		      size_t why_len);

#endif
