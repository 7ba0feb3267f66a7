/*
 * replay.c — snapshot + tail -> state (see replay.h).
 */
#include "replay.h"

#include <stdio.h>
#include <string.h>

int replay_state(struct jnl *j, bool use_snapshot, struct fsm_state *s, struct replay_stats *st,
		 struct jnl_damage *dmg)
{
	memset(st, 0, sizeof(*st));
	int rc = JNL_ENOTFOUND;
	if (use_snapshot)
		rc = jnl_snapshot_get(j, UINT64_MAX, s, dmg);
	if (rc == JNL_ENOTFOUND) {
		fsm_state_init(s);
		if (jnl_base_seq(j) > 1) {
			jnl_damage_set(dmg, jnl_base_seq(j), JNL_ESNAPSHOT,
					      "the journal starts at seq %llu and no snapshot covers "
					      "what came before",
					      (unsigned long long)jnl_base_seq(j));
			return JNL_ESNAPSHOT;
		}
	} else if (rc != 0) {
		return rc;
	} else {
		st->snapshot_seq = s->last_seq;
	}
	struct jnl_iter *it;
	rc = jnl_iter_open(j, s->last_seq + 1, &it);
	if (rc != 0)
		return rc;
	struct fsm_out out = {0};
	struct jnl_entry e;
	while ((rc = jnl_iter_next(it, &e, dmg)) == 0) {
		fsm_out_reset(&out);
		rc = fsm_fold(s, &e.ev, &out);
		if (rc != 0) {
			jnl_damage_set(dmg, e.ev.seq, rc, "seq %llu: the fold failed: %s",
					      (unsigned long long)e.ev.seq, fsm_strerror(rc));
			break;
		}
		st->folded++;
	}
	fsm_out_free(&out);
	jnl_iter_close(it);
	return rc == JNL_EEND ? 0 : rc;
}
