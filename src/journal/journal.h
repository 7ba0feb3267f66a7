/*
 * journal/journal.h — the LMDB journal: what the node saw and what it decided.
 *
 * Every event is appended here, beside the commands its fold produced, before any
 * of those commands runs (DESIGN.md contract 1). A batch is one LMDB write
 * transaction and one durable commit. Records form a hash chain: each entry
 * carries the checksum of the one before it, so damage, truncation and splicing
 * are found and named by seq. Snapshots of the fold's state let a reader start
 * late; compaction drops what a retained snapshot covers.
 *
 * One writer per journal: a second writer is refused (JNL_ELOCKED). Readers
 * (journal-replay) open read-only and may read while the writer appends.
 *
 * Errors: functions return 0, a negative errno (-ENOSPC, -ENOMEM, -EACCES, ...),
 * an LMDB code, or one of the JNL_E* codes below; jnl_strerror() names any of
 * them. When a record is at fault, the jnl_damage the caller passed says which
 * seq and why.
 */
#ifndef LEDGERLET_JOURNAL_JOURNAL_H
#define LEDGERLET_JOURNAL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm/command.h"
#include "fsm/event.h"
#include "fsm/fsm.h"

/* The on-disk format this build writes. A journal with a higher number is
 * refused; a lower one is upgraded on open by a writer (see journal.c). */
#define JNL_FORMAT_VERSION 1

/* Reserved range, below LMDB's (-30799..-30780) and clear of errno values. */
enum jnl_error {
	JNL_EEND = -40001,       /* iteration reached the newest record */
	JNL_ENOTFOUND = -40002,  /* no such record or snapshot */
	JNL_ELOCKED = -40003,    /* another process is this journal's writer */
	JNL_ENEWER = -40004,     /* the journal's format is newer than this build */
	JNL_ECHECKSUM = -40005,  /* a record's bytes do not match its checksum */
	JNL_ECHAIN = -40006,     /* a record does not follow its predecessor */
	JNL_EGAP = -40007,       /* a seq is missing */
	JNL_EDECODE = -40008,    /* a record's bytes are not a valid message */
	JNL_ETRUNCATED = -40009, /* the file is shorter than the database says */
	JNL_ENOJOURNAL = -40010, /* read-only open of a directory with no journal */
	JNL_ERDONLY = -40011,    /* a write on a read-only journal */
	JNL_EINVAL = -40012,     /* a caller's argument is out of range */
	JNL_ETIP = -40013,       /* meta's tip disagrees with the newest record */
	JNL_EBADMETA = -40014,   /* the meta record is missing or damaged */
	JNL_ESNAPSHOT = -40015,  /* a snapshot does not belong to this chain */
	JNL_ELIMIT = -40016,     /* a stated limit was reached (batch size, map size) */
	JNL_EBUSY = -40017,      /* the map must grow but an iterator of this handle is open */
};

/* Which record is at fault and why; filled by calls that take one. */
struct jnl_damage {
	uint64_t seq; /* 0 when the fault is not one record's (meta, file) */
	int err;      /* the JNL_E* code */
	char what[240];
};

struct jnl;
struct jnl_batch;
struct jnl_iter;

struct jnl_options {
	bool readonly;
	size_t map_bytes_initial; /* 0: 64 MiB. The map doubles on MDB_MAP_FULL... */
	size_t map_bytes_max;     /* ...up to this (0: 1 TiB), then JNL_ELIMIT. */
};

/*
 * Opens (a writer creates) the journal in dir: the directory is made 0700, files
 * 0600. Checks what is cheap to check: the lock, the format version, the file's
 * length against the database's, and that meta's tip is the newest record. A
 * full scan is jnl_verify(). On success *out is the caller's until jnl_close().
 */
int jnl_open(struct jnl **out, const char *dir, const struct jnl_options *opt,
	     struct jnl_damage *dmg);
void jnl_close(struct jnl *j);

uint64_t jnl_tip_seq(const struct jnl *j);   /* newest committed seq; 0 when none */
uint64_t jnl_base_seq(const struct jnl *j);  /* oldest seq held (tip + 1 when empty) */
uint64_t jnl_tip_ts_ms(const struct jnl *j); /* ts_ms floor for new events */
uint64_t jnl_tip_wall_ms(const struct jnl *j);
size_t jnl_map_bytes(const struct jnl *j);
/* For a reader: see what the writer committed since the last call. */
int jnl_refresh(struct jnl *j);

/* ---- appending ---- */

/* A batch belongs to one journal; at most JNL_BATCH_MAX events. */
#define JNL_BATCH_MAX 65536

int jnl_batch_new(struct jnl *j, struct jnl_batch **out);
void jnl_batch_free(struct jnl_batch *b);
size_t jnl_batch_count(const struct jnl_batch *b);

/*
 * Adds ev to the batch and stamps it: ev->seq becomes the next seq, ev->ts_ms is
 * raised to the journal's floor if it is below it. The caller folds the stamped
 * event and then attaches the commands with jnl_batch_decide(). The batch copies
 * what it needs: ev's strings may be freed on return.
 */
int jnl_batch_add(struct jnl_batch *b, struct fsm_event *ev);
/* Attaches the fold's commands to the event added last (copied). */
int jnl_batch_decide(struct jnl_batch *b, const struct fsm_command *cmds, size_t n);
/*
 * Writes the batch in one transaction with one durable commit. On success the
 * batch is empty again. On failure (-ENOSPC, ...) nothing was written, the
 * journal is as before and the batch is kept as it was, so the same commit can
 * be tried again later (the events it holds may already have been folded).
 */
int jnl_batch_commit(struct jnl_batch *b);
/* Drops what the batch holds (its seqs are reused by the next add). */
void jnl_batch_clear(struct jnl_batch *b);

/* ---- reading ---- */

struct jnl_entry {
	struct fsm_event ev;
	const struct fsm_command *cmds;
	size_t ncmd;
	uint64_t hash;     /* this entry's checksum */
	const void *raw;   /* the stored frame */
	size_t raw_len;
};

/*
 * An iterator from seq `from` (clamped to the base) to the newest record
 * committed when it was opened, in one read transaction. Each entry is checked
 * (checksum, decoding, seq, chain) as it is read. Entries stay valid until the
 * next jnl_iter_next() or jnl_iter_close().
 */
int jnl_iter_open(struct jnl *j, uint64_t from, struct jnl_iter **out);
/* 0 with *e filled, JNL_EEND after the newest, or an error with dmg filled. */
int jnl_iter_next(struct jnl_iter *it, struct jnl_entry *e, struct jnl_damage *dmg);
void jnl_iter_close(struct jnl_iter *it);

/* Every record of the journal checked; the first fault is returned and named. */
int jnl_verify(struct jnl *j, struct jnl_damage *dmg);

/* ---- snapshots and compaction ---- */

/* Stores s as the state at s->last_seq, which must be a committed seq. */
int jnl_snapshot_put(struct jnl *j, const struct fsm_state *s);
/*
 * Loads the newest snapshot at or below seq `at` into *s (initialised by the
 * callee; the caller frees it with fsm_state_free). JNL_ENOTFOUND when none.
 * A snapshot of another FSM_VERSION is skipped.
 */
int jnl_snapshot_get(struct jnl *j, uint64_t at, struct fsm_state *s, struct jnl_damage *dmg);

struct jnl_retention {
	uint64_t age_ms_max; /* keep entries newer than tip ts_ms - this (0: no limit) */
	uint64_t bytes_max;  /* keep at most this many entry bytes (0: no limit) */
};

struct jnl_compaction {
	uint64_t removed_entries;
	uint64_t removed_snapshots;
	uint64_t removed_bytes;
	uint64_t base_seq; /* oldest seq kept afterwards */
};

/*
 * Removes entries outside the retention window, cut at a snapshot: what remains
 * starts right after the newest snapshot at or before the window's start, and
 * that snapshot is kept. Nothing is removed that no snapshot covers, so the
 * window kept can be larger than asked.
 */
int jnl_compact(struct jnl *j, const struct jnl_retention *r, struct jnl_compaction *res);

/* ---- damage ---- */

struct jnl_recovery {
	uint64_t kept_first, kept_last; /* seqs kept (kept_last < kept_first: none) */
	uint64_t aside_first, aside_last;
	uint64_t aside_entries;
	uint64_t aside_snapshots;
	char aside_dir[512]; /* where the set-aside records and the old file went */
};

/*
 * For a journal that does not verify: keeps the entries that verify (from the
 * base up to the first fault) and the snapshots they cover, in a fresh file;
 * moves the damaged file and the set-aside records (seq, length, bytes) to
 * dir/damaged-<wall_ms>/. Must not run while a writer has the journal open.
 */
int jnl_recover(const char *dir, struct jnl_recovery *rep, struct jnl_damage *dmg);

const char *jnl_strerror(int err);
/* 1 when err says the journal's records are damaged (what jnl_recover is for). */
int jnl_is_damage(int err);
/* Fills d (when not NULL): for callers that report a record's fault their way. */
void jnl_damage_set(struct jnl_damage *d, uint64_t seq, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
