/*
 * journal/recover.c — keeping what verifies of a damaged journal.
 *
 * The daemon refuses a journal that does not verify; an operator then starts it
 * once with the recovery flag, which lands here. Nothing is thrown away: the
 * damaged file moves to dir/damaged-<wall_ms>/, the entries from the first fault
 * on are written beside it (set-aside.log: for each, seq as 8 bytes LE, length
 * as 4 bytes LE, then the stored bytes), and a fresh journal is built from the
 * entries before the fault and the snapshots they cover.
 *
 * The damaged file is read through a copy, so that a truncated file can be
 * padded with zero pages: LMDB then reports the missing pages as corrupt instead
 * of the map faulting on them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/codec.h"
#include "journal/internal.h"
#include "journal/journal.h"

/* Entries copied per write transaction into the fresh journal. */
#define COPY_CHUNK 8192

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return -e;
	}
	int rc = 0;
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			rc = -errno;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				rc = -errno;
				break;
			}
			off += w;
		}
		if (rc != 0)
			break;
	}
	if (rc == 0 && fsync(out) != 0)
		rc = -errno;
	close(in);
	close(out);
	return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int aside_record(int fd, uint64_t seq, const MDB_val *v)
{
	unsigned char hdr[12];
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(seq >> (8 * i));
	uint32_t len = (uint32_t)v->mv_size;
	for (int i = 0; i < 4; i++)
		hdr[8 + i] = (unsigned char)(len >> (8 * i));
	int rc = write_all(fd, hdr, sizeof(hdr));
	return rc ? rc : write_all(fd, v->mv_data, v->mv_size);
}

/* Frames to put into the fresh journal, in one transaction. */
struct put_chunk {
	MDB_dbi dbi_is_log; /* 1: log, 0: snapshots */
	uint64_t *seqs;
	MDB_val *vals;
	size_t n;
	const struct jnl_meta *meta; /* written with the chunk when not NULL */
};

static int put_chunk_txn(struct jnl *j, MDB_txn *txn, void *arg)
{
	struct put_chunk *c = arg;
	for (size_t i = 0; i < c->n; i++) {
		unsigned char key[8];
		jnl_key(key, c->seqs[i]);
		MDB_val k = {8, key};
		int rc = mdb_put(txn, c->dbi_is_log ? j->dbi_log : j->dbi_snap, &k, &c->vals[i],
				 c->dbi_is_log ? MDB_APPEND : 0);
		if (rc != 0)
			return rc;
	}
	return c->meta != NULL ? jnl_meta_write(j, txn, c->meta) : 0;
}

static int flush_chunk(struct jnl *nj, struct put_chunk *c)
{
	if (c->n == 0 && c->meta == NULL)
		return 0;
	int rc = jnl_write(nj, put_chunk_txn, c);
	c->n = 0;
	return rc;
}

struct recover_ctx {
	const char *dir;
	struct jnl old;
	bool old_open;
	MDB_txn *txn;
	struct jnl *nj;
	struct jnl_meta om; /* the damaged journal's meta, as far as it could be read */
	bool om_ok;
	struct jnl_meta nm; /* the fresh journal's meta */
	int aside_fd;
	struct jnl_recovery *rep;
	struct jnl_damage *dmg;
};

/* Walks the old log: keeps the verified prefix, sets the rest aside. */
static int recover_log(struct recover_ctx *x)
{
	struct jnl *o = &x->old;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(x->txn, o->dbi_log, &cur);
	if (rc != 0)
		return jnl_rc(rc);
	struct put_chunk chunk = {1, calloc(COPY_CHUNK, sizeof(uint64_t)),
				  calloc(COPY_CHUNK, sizeof(MDB_val)), 0, NULL};
	if (chunk.seqs == NULL || chunk.vals == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	struct fsm_arena arena = FSM_ARENA_INIT;
	bool keeping = true;
	uint64_t expect = x->nm.base_seq, prev = x->nm.base_hash;
	MDB_val k, v;
	int g;
	for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
	     g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		uint64_t seq = jnl_key_seq(&k);
		if (keeping) {
			uint64_t h, s2, p2;
			struct jnl_entry e;
			char why[160];
			fsm_arena_reset(&arena);
			const char *fault = NULL;
			int code = 0;
			if (seq != expect)
				fault = "missing", code = JNL_EGAP;
			else if (jnl_frame_check(v.mv_data, v.mv_size, &h) != 0)
				fault = "checksum mismatch", code = JNL_ECHECKSUM;
			else if (jnl_codec_entry_decode(v.mv_data, v.mv_size, &arena, &e, &s2, &p2,
							why, sizeof(why)) != 0)
				fault = "does not decode", code = JNL_EDECODE;
			else if (s2 != seq || p2 != prev)
				fault = "breaks the chain", code = JNL_ECHAIN;
			if (fault != NULL) {
				keeping = false;
				jnl_damage_set(x->dmg, expect, code, "seq %llu: %s",
					       (unsigned long long)expect, fault);
				x->rep->aside_first = expect;
			} else {
				chunk.seqs[chunk.n] = seq;
				chunk.vals[chunk.n] = v;
				chunk.n++;
				prev = h;
				expect = seq + 1;
				x->nm.tip_seq = seq;
				x->nm.tip_hash = h;
				if (e.ev.ts_ms > x->nm.tip_ts_ms)
					x->nm.tip_ts_ms = e.ev.ts_ms;
				if (e.ev.wall_ms > x->nm.tip_wall_ms)
					x->nm.tip_wall_ms = e.ev.wall_ms;
				if (chunk.n == COPY_CHUNK && (rc = flush_chunk(x->nj, &chunk)) != 0)
					break;
				continue;
			}
		}
		rc = aside_record(x->aside_fd, seq, &v);
		if (rc != 0)
			break;
		x->rep->aside_entries++;
		x->rep->aside_last = seq;
	}
	fsm_arena_free(&arena);
	if (rc == 0 && g != MDB_NOTFOUND) {
		/* The tree itself is damaged past the last key read: what the cursor cannot reach
		 * is lost with the pages that held it. Name it. */
		if (keeping) {
			x->rep->aside_first = expect;
			jnl_damage_set(x->dmg, expect, JNL_ETRUNCATED,
				       "seq %llu on cannot be read: %s", (unsigned long long)expect,
				       jnl_strerror(jnl_rc(g)));
		}
		keeping = false;
	}
	if (rc == 0 && keeping && x->om_ok && x->om.tip_seq > x->nm.tip_seq) {
		x->rep->aside_first = x->nm.tip_seq + 1;
		jnl_damage_set(x->dmg, x->nm.tip_seq + 1, JNL_EGAP,
			       "seq %llu..%llu are missing (the journal said its tip was %llu)",
			       (unsigned long long)x->nm.tip_seq + 1,
			       (unsigned long long)x->om.tip_seq, (unsigned long long)x->om.tip_seq);
	}
	if (rc == 0)
		rc = flush_chunk(x->nj, &chunk);
out:
	free(chunk.seqs);
	free(chunk.vals);
	mdb_cursor_close(cur);
	return rc;
}

/* Keeps the snapshots that verify and that the kept entries cover. */
static int recover_snapshots(struct recover_ctx *x, int snap_fd)
{
	struct jnl *o = &x->old;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(x->txn, o->dbi_snap, &cur);
	if (rc != 0)
		return jnl_rc(rc);
	struct put_chunk chunk = {0, calloc(COPY_CHUNK, sizeof(uint64_t)),
				  calloc(COPY_CHUNK, sizeof(MDB_val)), 0, NULL};
	if (chunk.seqs == NULL || chunk.vals == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	MDB_val k, v;
	int g;
	for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
	     g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t seq = k.mv_size == 8 ? jnl_key_seq(&k) : 0;
		struct jnl_snap_hdr h;
		bool keep = x->om_ok && seq <= x->nm.tip_seq &&
			    jnl_snapshot_check(o, x->txn, &x->om, seq, &v, &h, NULL) == 0;
		if (keep && chunk.n < COPY_CHUNK) {
			chunk.seqs[chunk.n] = seq;
			chunk.vals[chunk.n] = v;
			chunk.n++;
		} else {
			rc = aside_record(snap_fd, seq, &v);
			if (rc != 0)
				break;
			x->rep->aside_snapshots++;
		}
	}
	if (rc == 0) {
		chunk.meta = &x->nm;
		rc = flush_chunk(x->nj, &chunk);
	}
out:
	free(chunk.seqs);
	free(chunk.vals);
	mdb_cursor_close(cur);
	return rc;
}

/* Opens the copy of the damaged file, padding it if it was truncated. */
static int open_old(struct recover_ctx *x, const char *work)
{
	struct jnl *o = &x->old;
	o->readonly = true;
	o->map_bytes = 0;
	if (jnl_env_open(o, work, MDB_NOSUBDIR | MDB_NOLOCK, NULL) != 0)
		return JNL_EDECODE;
	x->old_open = true;
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(o->env, &info);
	mdb_env_stat(o->env, &st);
	off_t need = (off_t)(info.me_last_pgno + 1) * st.ms_psize;
	struct stat sb;
	if (stat(work, &sb) == 0 && sb.st_size < need && truncate(work, need) != 0)
		return -errno;
	int rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &x->txn);
	if (rc != 0)
		return jnl_rc(rc);
	rc = mdb_dbi_open(x->txn, "log", 0, &o->dbi_log);
	rc = rc ? rc : mdb_dbi_open(x->txn, "snapshots", 0, &o->dbi_snap);
	rc = rc ? rc : mdb_dbi_open(x->txn, "meta", 0, &o->dbi_meta);
	if (rc != 0)
		return jnl_rc(rc);
	x->om_ok = jnl_meta_read(o, x->txn, &x->om) == 0;
	return 0;
}

int jnl_recover(const char *dir, struct jnl_recovery *rep, struct jnl_damage *dmg)
{
	memset(rep, 0, sizeof(*rep));
	if (dmg != NULL)
		memset(dmg, 0, sizeof(*dmg));
	struct recover_ctx x = {.dir = dir, .aside_fd = -1, .rep = rep, .dmg = dmg};
	char data[PATH_MAX + 64], work[PATH_MAX + 64], path[PATH_MAX + 64];
	snprintf(data, sizeof(data), "%s/data.mdb", dir);

	/* No writer may hold the journal while its file is moved. */
	snprintf(path, sizeof(path), "%s/ledgerlet.lock", dir);
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return -errno;
	if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
		close(lock);
		jnl_damage_set(dmg, 0, JNL_ELOCKED, "journal %s is in use by a writer", dir);
		return JNL_ELOCKED;
	}

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(rep->aside_dir, sizeof(rep->aside_dir), "%s/damaged-%llu", dir,
		 (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000);
	int rc = 0;
	if (mkdir(rep->aside_dir, 0700) != 0) {
		rc = -errno;
		close(lock);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", rep->aside_dir);
	if (rename(data, path) != 0) {
		rc = -errno;
		close(lock);
		return rc;
	}
	snprintf(work, sizeof(work), "%s/lock.mdb", dir);
	unlink(work);
	snprintf(work, sizeof(work), "%s/work.mdb", rep->aside_dir);
	rc = copy_file(path, work);
	close(lock); /* jnl_open below takes it again */
	if (rc != 0)
		return rc;

	int old_rc = open_old(&x, work);
	if (old_rc == 0 && x.om_ok && x.om.format_version > JNL_FORMAT_VERSION) {
		/* Records of a newer format are not this build's to rewrite: put the
		 * file back as it was. */
		jnl_damage_set(dmg, 0, JNL_ENEWER,
			       "journal format %u is newer than this build reads (%d): use a newer "
			       "ledgerlet",
			       x.om.format_version, JNL_FORMAT_VERSION);
		mdb_txn_abort(x.txn);
		x.txn = NULL;
		mdb_env_close(x.old.env);
		x.old_open = false;
		unlink(work);
		rc = rename(path, data) == 0 ? JNL_ENEWER : -errno;
		rmdir(rep->aside_dir);
		rep->aside_dir[0] = '\0';
		return rc;
	}
	rc = jnl_open(&x.nj, dir, NULL, NULL);
	if (rc != 0)
		goto out;
	x.nm = x.nj->meta;
	if (x.om_ok) {
		x.nm.created_wall_ms = x.om.created_wall_ms;
		x.nm.base_seq = x.om.base_seq;
		x.nm.base_hash = x.om.base_hash;
		x.nm.tip_seq = x.om.base_seq - 1;
		x.nm.tip_hash = x.om.base_hash;
		/* ts_ms never goes back, even over entries set aside. */
		x.nm.tip_ts_ms = x.om.tip_ts_ms;
		x.nm.tip_wall_ms = x.om.tip_wall_ms;
	}
	snprintf(path, sizeof(path), "%s/set-aside.log", rep->aside_dir);
	x.aside_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (x.aside_fd < 0) {
		rc = -errno;
		goto out;
	}
	if (old_rc == 0 && x.om_ok) {
		rc = recover_log(&x);
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/set-aside.snapshots", rep->aside_dir);
			int sfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (sfd < 0) {
				rc = -errno;
				goto out;
			}
			rc = recover_snapshots(&x, sfd);
			if (fsync(sfd) != 0 && rc == 0)
				rc = -errno;
			close(sfd);
		}
	} else {
		/* Nothing in the file can be trusted: all of it is set aside as it is. */
		jnl_damage_set(dmg, 0, JNL_EBADMETA,
			       "the journal file cannot be read (%s); all of it was set aside",
			       old_rc ? "not an LMDB file" : "its meta record is damaged");
		rep->aside_first = 1;
	}
	if (rc == 0 && fsync(x.aside_fd) != 0)
		rc = -errno;
	rep->kept_first = x.nm.base_seq;
	rep->kept_last = x.nm.tip_seq;
out:
	if (x.aside_fd >= 0)
		close(x.aside_fd);
	if (x.txn != NULL)
		mdb_txn_abort(x.txn);
	if (x.old_open)
		mdb_env_close(x.old.env);
	jnl_close(x.nj);
	unlink(work);
	return rc;
}
