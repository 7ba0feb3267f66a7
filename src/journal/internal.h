/*
 * journal/internal.h — what journal.c and recover.c share. Not for other modules.
 */
#ifndef LEDGERLET_JOURNAL_INTERNAL_H
#define LEDGERLET_JOURNAL_INTERNAL_H

#include <limits.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal/codec.h"
#include "journal/journal.h"

struct jnl {
	MDB_env *env;
	MDB_dbi dbi_log, dbi_snap, dbi_meta;
	bool readonly;
	int lock_fd; /* writer's flock on dir/ledgerlet.lock, or -1 */
	size_t map_bytes, map_bytes_max;
	unsigned readers; /* open iterators of this handle: the map cannot grow under them */
	struct jnl_meta meta; /* as of the last commit (writer) or refresh (reader) */
	char dir[PATH_MAX];
};

/* LMDB returns errno values as positive numbers; the journal's API negates them. */
static inline int jnl_rc(int rc)
{
	return rc > 0 ? -rc : rc;
}

void jnl_key(unsigned char k[8], uint64_t seq);
uint64_t jnl_key_seq(const MDB_val *v);
int jnl_meta_read(struct jnl *j, MDB_txn *txn, struct jnl_meta *m);
int jnl_meta_write(struct jnl *j, MDB_txn *txn, const struct jnl_meta *m);
int jnl_txn_read(struct jnl *j, MDB_txn **txn);
int jnl_check_length(struct jnl *j, const char *file, struct jnl_damage *dmg);
int jnl_env_open(struct jnl *j, const char *path, unsigned extra_flags, struct jnl_damage *dmg);
int jnl_write(struct jnl *j, int (*fn)(struct jnl *, MDB_txn *, void *), void *arg);
int jnl_snapshot_check(struct jnl *j, MDB_txn *txn, const struct jnl_meta *m, uint64_t seq,
		       const MDB_val *v, struct jnl_snap_hdr *out, struct jnl_damage *dmg);

#endif
