/*
 * journal/journal.c — the LMDB environment, appends, reads, snapshots and
 * compaction (see journal.h for the contract).
 *
 * Layout: three named databases in one environment. `log` maps seq (8 bytes,
 * big-endian, so LMDB's byte order is numeric order and appends can use
 * MDB_APPEND) to frame(Entry); `snapshots` maps seq to frame(Snapshot); `meta`
 * holds one frame(Meta) updated in every write transaction, so the newest seq,
 * the chain's tip checksum and the ts_ms floor commit atomically with the
 * entries they describe.
 *
 * Durability: LMDB's default mode (no MDB_NOSYNC, no MDB_WRITEMAP): a commit
 * writes the data pages, syncs them, then writes the meta page synchronously.
 * Without MDB_WRITEMAP a full disk surfaces as ENOSPC from the commit rather
 * than as SIGBUS, and the previous meta page still describes a whole tree.
 */
#include "journal/journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/codec.h"
#include "journal/internal.h"

#define MAP_BYTES_DEFAULT ((size_t)64 << 20)
#define MAP_BYTES_MAX_DEFAULT ((size_t)1 << 40)
#define LOCK_FILE "ledgerlet.lock"
/* Entries removed by one compaction transaction at most (LMDB bounds the pages
 * one transaction may dirty); a later call continues. */
#define COMPACT_ENTRIES_MAX 200000

static const char META_KEY[] = "meta";

void jnl_key(unsigned char k[8], uint64_t seq)
{
	for (int i = 7; i >= 0; i--) {
		k[i] = (unsigned char)seq;
		seq >>= 8;
	}
}

uint64_t jnl_key_seq(const MDB_val *v)
{
	assert(v->mv_size == 8);
	const unsigned char *k = v->mv_data;
	uint64_t s = 0;
	for (int i = 0; i < 8; i++)
		s = s << 8 | k[i];
	return s;
}

static uint64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void jnl_damage_set(struct jnl_damage *d, uint64_t seq, int err, const char *fmt, ...)
{
	if (d == NULL)
		return;
	d->seq = seq;
	d->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof(d->what), fmt, ap);
	va_end(ap);
}

/*
 * Each journal's chain starts from its own random value, so that the first
 * entry of one journal never verifies as the first entry of another.
 */
static uint64_t genesis_hash(void)
{
	uint64_t h = 0;
	if (getrandom(&h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		h = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
	}
	return h | 1; /* never 0 */
}

/* ---- open and close ---- */

static int take_lock(struct jnl *j, struct jnl_damage *dmg)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", j->dir, LOCK_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		jnl_damage_set(dmg, 0, -errno, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		if (n > 0)
			pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK) {
			jnl_damage_set(dmg, 0, JNL_ELOCKED,
				       "journal %s is in use by another writer (pid %s); one "
				       "daemon per journal",
				       j->dir, pid[0] ? pid : "unknown");
			return JNL_ELOCKED;
		}
		jnl_damage_set(dmg, 0, -e, "cannot lock %s: %s", path, strerror(e));
		return -e;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		/* The pid is only for the message another writer prints. */
	}
	j->lock_fd = fd;
	return 0;
}

int jnl_meta_read(struct jnl *j, MDB_txn *txn, struct jnl_meta *m)
{
	MDB_val k = {sizeof(META_KEY) - 1, (void *)META_KEY}, v;
	int rc = mdb_get(txn, j->dbi_meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return JNL_ENOTFOUND;
	if (rc != 0)
		return rc;
	return jnl_codec_meta_decode(v.mv_data, v.mv_size, m);
}

int jnl_meta_write(struct jnl *j, MDB_txn *txn, const struct jnl_meta *m)
{
	struct jnl_buf b = {0};
	int rc = jnl_codec_meta_encode(&b, m);
	if (rc == 0) {
		MDB_val k = {sizeof(META_KEY) - 1, (void *)META_KEY}, v = {b.len, b.p};
		rc = mdb_put(txn, j->dbi_meta, &k, &v, 0);
	}
	jnl_buf_free(&b);
	return rc;
}

/* A read transaction, re-mapping if a writer grew the map. */
int jnl_txn_read(struct jnl *j, MDB_txn **txn)
{
	int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(j->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, txn);
	}
	if (rc == 0) {
		MDB_envinfo info;
		mdb_env_info(j->env, &info);
		j->map_bytes = info.me_mapsize;
	}
	return rc;
}

/*
 * The file must hold every page the database says it has: touching a page past
 * the end of a truncated file through the map would be SIGBUS, not an error.
 */
int jnl_check_length(struct jnl *j, const char *file, struct jnl_damage *dmg)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	int rc = mdb_env_info(j->env, &info);
	rc = rc ? rc : mdb_env_stat(j->env, &st);
	if (rc != 0)
		return rc;
	if (stat(file, &sb) != 0) {
		jnl_damage_set(dmg, 0, -errno, "cannot stat %s: %s", file, strerror(errno));
		return -errno;
	}
	uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if ((uint64_t)sb.st_size < need) {
		jnl_damage_set(dmg, 0, JNL_ETRUNCATED,
			       "%s is truncated: %llu bytes, the database needs %llu", file,
			       (unsigned long long)sb.st_size, (unsigned long long)need);
		return JNL_ETRUNCATED;
	}
	return 0;
}

static int open_dbs(struct jnl *j, MDB_txn *txn)
{
	unsigned flags = j->readonly ? 0 : MDB_CREATE;
	int rc = mdb_dbi_open(txn, "log", flags, &j->dbi_log);
	rc = rc ? rc : mdb_dbi_open(txn, "snapshots", flags, &j->dbi_snap);
	rc = rc ? rc : mdb_dbi_open(txn, "meta", flags, &j->dbi_meta);
	return rc;
}

/* Upgrades from older formats, one step per version. None exist yet: format 1
 * is the first. A step rewrites what it must inside the caller's transaction. */
static int upgrade(struct jnl *j, MDB_txn *txn, struct jnl_meta *m)
{
	(void)j;
	(void)txn;
	while (m->format_version < JNL_FORMAT_VERSION) {
		switch (m->format_version) {
		default:
			return JNL_EBADMETA;
		}
	}
	return 0;
}

/* The newest entry must be the one meta names: otherwise entries were lost or
 * added behind the journal's back. */
static int check_tip(struct jnl *j, MDB_txn *txn, struct jnl_damage *dmg)
{
	const struct jnl_meta *m = &j->meta;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, j->dbi_log, &cur);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		if (m->tip_seq >= m->base_seq) {
			jnl_damage_set(dmg, m->base_seq, JNL_EGAP,
				       "entries %llu..%llu are missing: the log is empty",
				       (unsigned long long)m->base_seq,
				       (unsigned long long)m->tip_seq);
			return JNL_EGAP;
		}
		return 0;
	}
	if (rc != 0)
		return rc;
	if (k.mv_size != 8) {
		jnl_damage_set(dmg, 0, JNL_EDECODE, "log key of %zu bytes", k.mv_size);
		return JNL_EDECODE;
	}
	uint64_t last = jnl_key_seq(&k);
	if (last != m->tip_seq) {
		jnl_damage_set(dmg, last < m->tip_seq ? last + 1 : m->tip_seq + 1, JNL_ETIP,
			       "the newest entry is seq %llu but the journal says %llu",
			       (unsigned long long)last, (unsigned long long)m->tip_seq);
		return JNL_ETIP;
	}
	uint64_t h;
	if (jnl_frame_check(v.mv_data, v.mv_size, &h) != 0) {
		jnl_damage_set(dmg, last, JNL_ECHECKSUM, "seq %llu: checksum mismatch",
			       (unsigned long long)last);
		return JNL_ECHECKSUM;
	}
	if (h != m->tip_hash) {
		jnl_damage_set(dmg, last, JNL_ETIP,
			       "seq %llu is not the entry the journal committed last",
			       (unsigned long long)last);
		return JNL_ETIP;
	}
	return 0;
}

int jnl_env_open(struct jnl *j, const char *path, unsigned extra_flags, struct jnl_damage *dmg)
{
	int rc = mdb_env_create(&j->env);
	if (rc != 0)
		return rc;
	mdb_env_set_maxdbs(j->env, 4);
	mdb_env_set_mapsize(j->env, j->map_bytes);
	unsigned flags = MDB_NOTLS | extra_flags | (j->readonly ? MDB_RDONLY : 0);
	rc = jnl_rc(mdb_env_open(j->env, path, flags, 0600));
	if (rc != 0) {
		jnl_damage_set(dmg, 0, rc, "cannot open the journal at %s: %s", path,
			       jnl_strerror(rc));
		mdb_env_close(j->env);
		j->env = NULL;
		return rc;
	}
	MDB_envinfo info;
	mdb_env_info(j->env, &info);
	j->map_bytes = info.me_mapsize;
	return 0;
}

int jnl_open(struct jnl **out, const char *dir, const struct jnl_options *opt,
	     struct jnl_damage *dmg)
{
	static const struct jnl_options defaults = {0};
	if (opt == NULL)
		opt = &defaults;
	*out = NULL;
	if (dmg != NULL)
		memset(dmg, 0, sizeof(*dmg));
	if (strlen(dir) >= PATH_MAX - 32)
		return JNL_EINVAL;

	struct jnl *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->lock_fd = -1;
	j->readonly = opt->readonly;
	j->map_bytes = opt->map_bytes_initial ? opt->map_bytes_initial : MAP_BYTES_DEFAULT;
	j->map_bytes_max = opt->map_bytes_max ? opt->map_bytes_max : MAP_BYTES_MAX_DEFAULT;
	snprintf(j->dir, sizeof(j->dir), "%s", dir);

	char data[PATH_MAX + 64];
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	int rc;
	if (j->readonly) {
		if (access(data, F_OK) != 0) {
			jnl_damage_set(dmg, 0, JNL_ENOJOURNAL, "no journal at %s", dir);
			rc = JNL_ENOJOURNAL;
			goto fail;
		}
	} else {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			jnl_damage_set(dmg, 0, rc, "cannot create %s: %s", dir, strerror(errno));
			goto fail;
		}
		rc = take_lock(j, dmg);
		if (rc != 0)
			goto fail;
	}
	rc = jnl_env_open(j, dir, 0, dmg);
	if (rc != 0)
		goto fail;
	rc = jnl_check_length(j, data, dmg);
	if (rc != 0)
		goto fail;

	MDB_txn *txn;
	rc = j->readonly ? jnl_txn_read(j, &txn) : mdb_txn_begin(j->env, NULL, 0, &txn);
	if (rc != 0)
		goto fail;
	rc = open_dbs(j, txn);
	if (rc == MDB_NOTFOUND && j->readonly) {
		mdb_txn_abort(txn);
		jnl_damage_set(dmg, 0, JNL_ENOJOURNAL, "no journal at %s (empty database)", dir);
		rc = JNL_ENOJOURNAL;
		goto fail;
	}
	if (rc == 0)
		rc = jnl_meta_read(j, txn, &j->meta);
	if (rc == JNL_ENOTFOUND && !j->readonly) {
		j->meta = (struct jnl_meta){
			.format_version = JNL_FORMAT_VERSION,
			.created_wall_ms = wall_now_ms(),
			.base_seq = 1,
			.base_hash = genesis_hash(),
			.tip_seq = 0,
		};
		j->meta.tip_hash = j->meta.base_hash;
		rc = jnl_meta_write(j, txn, &j->meta);
	} else if (rc == JNL_ENOTFOUND || rc == JNL_EBADMETA) {
		jnl_damage_set(dmg, 0, JNL_EBADMETA, "the journal's meta record is %s",
			       rc == JNL_ENOTFOUND ? "missing" : "damaged");
		rc = JNL_EBADMETA;
	} else if (rc == 0 && j->meta.format_version > JNL_FORMAT_VERSION) {
		jnl_damage_set(dmg, 0, JNL_ENEWER,
			       "journal format %u is newer than this build reads (%d): use a "
			       "newer ledgerlet",
			       j->meta.format_version, JNL_FORMAT_VERSION);
		rc = JNL_ENEWER;
	} else if (rc == 0 && j->meta.format_version < JNL_FORMAT_VERSION && !j->readonly) {
		rc = upgrade(j, txn, &j->meta);
		rc = rc ? rc : jnl_meta_write(j, txn, &j->meta);
	}
	if (rc == 0)
		rc = check_tip(j, txn, dmg);
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	/* Committed even when read-only: DBI handles opened in an aborted
	 * transaction are closed with it. */
	rc = jnl_rc(mdb_txn_commit(txn));
	if (rc != 0)
		goto fail;
	*out = j;
	return 0;
fail:
	rc = jnl_rc(rc);
	if (dmg != NULL && dmg->err == 0)
		jnl_damage_set(dmg, 0, rc, "%s: %s", dir, jnl_strerror(rc));
	jnl_close(j);
	return rc;
}

void jnl_close(struct jnl *j)
{
	if (j == NULL)
		return;
	if (j->env != NULL)
		mdb_env_close(j->env);
	if (j->lock_fd >= 0)
		close(j->lock_fd); /* releases the flock */
	free(j);
}

uint64_t jnl_tip_seq(const struct jnl *j)
{
	return j->meta.tip_seq;
}
uint64_t jnl_base_seq(const struct jnl *j)
{
	return j->meta.base_seq;
}
uint64_t jnl_tip_ts_ms(const struct jnl *j)
{
	return j->meta.tip_ts_ms;
}
uint64_t jnl_tip_wall_ms(const struct jnl *j)
{
	return j->meta.tip_wall_ms;
}
size_t jnl_map_bytes(const struct jnl *j)
{
	return j->map_bytes;
}

int jnl_refresh(struct jnl *j)
{
	MDB_txn *txn;
	int rc = jnl_txn_read(j, &txn);
	if (rc != 0)
		return rc;
	rc = jnl_meta_read(j, txn, &j->meta);
	mdb_txn_abort(txn);
	return rc;
}

/* Whether the journal's filesystem has (almost) no room left. */
static bool disk_nearly_full(struct jnl *j)
{
	int fd;
	struct statvfs sv;
	if (mdb_env_get_fd(j->env, &fd) != 0 || fstatvfs(fd, &sv) != 0)
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)16 << 20);
}

/* Doubles the map; no transaction of this process may be open. */
static int grow_map(struct jnl *j)
{
	/* Growing remaps the file: a read transaction of this handle would be
	 * left pointing into the old map (LMDB cannot see it under MDB_NOTLS). */
	if (j->readers > 0)
		return JNL_EBUSY;
	if (j->map_bytes >= j->map_bytes_max)
		return JNL_ELIMIT;
	size_t next = j->map_bytes * 2;
	if (next > j->map_bytes_max)
		next = j->map_bytes_max;
	int rc = mdb_env_set_mapsize(j->env, next);
	if (rc != 0)
		return rc;
	j->map_bytes = next;
	return 0;
}

/*
 * Runs fn in a write transaction, growing the map and retrying when it fills.
 * fn must be repeatable: it is called again from scratch after a retry.
 */
int jnl_write(struct jnl *j, int (*fn)(struct jnl *, MDB_txn *, void *), void *arg)
{
	if (j->readonly)
		return JNL_ERDONLY;
	for (;;) {
		MDB_txn *txn;
		int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED) {
			rc = mdb_env_set_mapsize(j->env, 0);
			if (rc == 0)
				continue;
		}
		if (rc != 0)
			return jnl_rc(rc);
		rc = fn(j, txn, arg);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == MDB_MAP_FULL) {
			rc = grow_map(j);
			if (rc == 0)
				continue;
		}
		if (rc == EIO && disk_nearly_full(j))
			rc = ENOSPC; /* LMDB reports a short write as EIO */
		return jnl_rc(rc);
	}
}

/* ---- batches ---- */

struct pending {
	struct fsm_event ev;
	struct fsm_command *cmds;
	size_t ncmd;
};

struct jnl_batch {
	struct jnl *j;
	struct pending *items;
	size_t n, cap;
	struct fsm_arena arena;
	struct jnl_buf frames; /* encoded at commit */
	size_t *offs;          /* n + 1 offsets into frames */
	uint64_t *hashes;
};

int jnl_batch_new(struct jnl *j, struct jnl_batch **out)
{
	struct jnl_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->j = j;
	*out = b;
	return 0;
}

void jnl_batch_free(struct jnl_batch *b)
{
	if (b == NULL)
		return;
	fsm_arena_free(&b->arena);
	jnl_buf_free(&b->frames);
	free(b->items);
	free(b->offs);
	free(b->hashes);
	free(b);
}

size_t jnl_batch_count(const struct jnl_batch *b)
{
	return b->n;
}

void jnl_batch_clear(struct jnl_batch *b)
{
	b->n = 0;
	b->frames.len = 0;
	fsm_arena_reset(&b->arena);
}

static int batch_grow(struct jnl_batch *b)
{
	if (b->n < b->cap)
		return 0;
	if (b->cap >= JNL_BATCH_MAX)
		return JNL_ELIMIT;
	size_t cap = b->cap ? b->cap * 2 : 64;
	if (cap > JNL_BATCH_MAX)
		cap = JNL_BATCH_MAX;
	struct pending *items = realloc(b->items, cap * sizeof(*items));
	if (items == NULL)
		return -ENOMEM;
	b->items = items;
	size_t *offs = realloc(b->offs, (cap + 1) * sizeof(*offs));
	if (offs == NULL)
		return -ENOMEM;
	b->offs = offs;
	uint64_t *hashes = realloc(b->hashes, cap * sizeof(*hashes));
	if (hashes == NULL)
		return -ENOMEM;
	b->hashes = hashes;
	b->cap = cap;
	return 0;
}

int jnl_batch_add(struct jnl_batch *b, struct fsm_event *ev)
{
	if (ev->kind <= FSM_EV_NONE || ev->kind >= FSM_EV_KIND_COUNT)
		return JNL_EINVAL;
	if (b->j->readonly)
		return JNL_ERDONLY;
	int rc = batch_grow(b);
	if (rc != 0)
		return rc;
	uint64_t floor = b->n > 0 ? b->items[b->n - 1].ev.ts_ms : b->j->meta.tip_ts_ms;
	ev->seq = b->j->meta.tip_seq + b->n + 1;
	if (ev->ts_ms < floor)
		ev->ts_ms = floor;
	struct pending *p = &b->items[b->n];
	rc = jnl_codec_event_copy(&b->arena, &p->ev, ev);
	if (rc != 0)
		return rc;
	p->cmds = NULL;
	p->ncmd = 0;
	b->n++;
	return 0;
}

int jnl_batch_decide(struct jnl_batch *b, const struct fsm_command *cmds, size_t n)
{
	if (b->n == 0)
		return JNL_EINVAL;
	struct pending *p = &b->items[b->n - 1];
	if (p->ncmd != 0)
		return JNL_EINVAL; /* one decision per event */
	int rc = jnl_codec_commands_copy(&b->arena, &p->cmds, cmds, n);
	if (rc == 0)
		p->ncmd = n;
	return rc;
}

static int batch_encode(struct jnl_batch *b)
{
	b->frames.len = 0;
	uint64_t prev = b->j->meta.tip_hash;
	for (size_t i = 0; i < b->n; i++) {
		const struct pending *p = &b->items[i];
		b->offs[i] = b->frames.len;
		int rc = jnl_codec_entry_encode(&b->frames, p->ev.seq, prev, &p->ev, p->cmds,
						p->ncmd, &b->hashes[i]);
		if (rc != 0)
			return rc;
		prev = b->hashes[i];
	}
	b->offs[b->n] = b->frames.len;
	return 0;
}

static int batch_put(struct jnl *j, MDB_txn *txn, void *arg)
{
	struct jnl_batch *b = arg;
	for (size_t i = 0; i < b->n; i++) {
		unsigned char key[8];
		jnl_key(key, b->items[i].ev.seq);
		MDB_val k = {8, key};
		MDB_val v = {b->offs[i + 1] - b->offs[i], b->frames.p + b->offs[i]};
		int rc = mdb_put(txn, j->dbi_log, &k, &v, MDB_APPEND);
		if (rc != 0)
			return rc;
	}
	struct jnl_meta m = j->meta;
	const struct pending *last = &b->items[b->n - 1];
	m.tip_seq = last->ev.seq;
	m.tip_hash = b->hashes[b->n - 1];
	m.tip_ts_ms = last->ev.ts_ms;
	m.tip_wall_ms = last->ev.wall_ms > m.tip_wall_ms ? last->ev.wall_ms : m.tip_wall_ms;
	return jnl_meta_write(j, txn, &m);
}

int jnl_batch_commit(struct jnl_batch *b)
{
	struct jnl *j = b->j;
	if (b->n == 0)
		return 0;
	if (j->readonly)
		return JNL_ERDONLY;
	/* The batch was stamped against this tip; nothing else may have appended. */
	if (b->items[0].ev.seq != j->meta.tip_seq + 1)
		return JNL_EINVAL;
	int rc = batch_encode(b);
	if (rc != 0)
		return rc;
	rc = jnl_write(j, batch_put, b);
	if (rc != 0)
		return rc; /* the batch stays as it was for a retry */
	const struct pending *last = &b->items[b->n - 1];
	j->meta.tip_seq = last->ev.seq;
	j->meta.tip_hash = b->hashes[b->n - 1];
	j->meta.tip_ts_ms = last->ev.ts_ms;
	if (last->ev.wall_ms > j->meta.tip_wall_ms)
		j->meta.tip_wall_ms = last->ev.wall_ms;
	jnl_batch_clear(b);
	return 0;
}

/* ---- reading ---- */

struct jnl_iter {
	struct jnl *j;
	MDB_txn *txn;
	MDB_cursor *cur;
	struct jnl_meta meta; /* as of the read transaction */
	uint64_t next;        /* the seq expected next */
	uint64_t prev_hash;   /* the prev_hash it must carry */
	bool started;
	struct fsm_arena arena;
};

/* Reads and checks the frame at seq (for a start in the middle). */
static int frame_hash_at(struct jnl *j, MDB_txn *txn, uint64_t seq, uint64_t *h,
			 struct jnl_damage *dmg)
{
	unsigned char key[8];
	jnl_key(key, seq);
	MDB_val k = {8, key}, v;
	int rc = mdb_get(txn, j->dbi_log, &k, &v);
	if (rc == MDB_NOTFOUND) {
		jnl_damage_set(dmg, seq, JNL_EGAP, "seq %llu is missing", (unsigned long long)seq);
		return JNL_EGAP;
	}
	if (rc != 0)
		return rc;
	if (jnl_frame_check(v.mv_data, v.mv_size, h) != 0) {
		jnl_damage_set(dmg, seq, JNL_ECHECKSUM, "seq %llu: checksum mismatch",
			       (unsigned long long)seq);
		return JNL_ECHECKSUM;
	}
	return 0;
}

int jnl_iter_open(struct jnl *j, uint64_t from, struct jnl_iter **out)
{
	struct jnl_iter *it = calloc(1, sizeof(*it));
	if (it == NULL)
		return -ENOMEM;
	it->j = j;
	int rc = jnl_txn_read(j, &it->txn);
	if (rc != 0) {
		free(it);
		return jnl_rc(rc);
	}
	j->readers++;
	rc = jnl_meta_read(j, it->txn, &it->meta);
	rc = rc ? rc : mdb_cursor_open(it->txn, j->dbi_log, &it->cur);
	if (rc == 0) {
		it->next = from > it->meta.base_seq ? from : it->meta.base_seq;
		it->prev_hash = it->meta.base_hash;
		if (it->next > it->meta.base_seq && it->next <= it->meta.tip_seq)
			rc = frame_hash_at(j, it->txn, it->next - 1, &it->prev_hash, NULL);
	}
	if (rc != 0) {
		jnl_iter_close(it);
		return rc;
	}
	*out = it;
	return 0;
}

void jnl_iter_close(struct jnl_iter *it)
{
	if (it == NULL)
		return;
	if (it->cur != NULL)
		mdb_cursor_close(it->cur);
	if (it->txn != NULL) {
		mdb_txn_abort(it->txn);
		it->j->readers--;
	}
	fsm_arena_free(&it->arena);
	free(it);
}

int jnl_iter_next(struct jnl_iter *it, struct jnl_entry *e, struct jnl_damage *dmg)
{
	uint64_t seq = it->next;
	if (seq > it->meta.tip_seq)
		return JNL_EEND;
	MDB_val k, v;
	int rc;
	if (!it->started) {
		unsigned char key[8];
		jnl_key(key, seq);
		k = (MDB_val){8, key};
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
		it->started = true;
	} else {
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND) {
		jnl_damage_set(dmg, seq, JNL_EGAP,
			       "seq %llu is missing: the log ends before the committed tip %llu",
			       (unsigned long long)seq, (unsigned long long)it->meta.tip_seq);
		return JNL_EGAP;
	}
	if (rc != 0) {
		jnl_damage_set(dmg, seq, rc, "seq %llu: %s", (unsigned long long)seq,
			       jnl_strerror(rc));
		return rc;
	}
	if (k.mv_size != 8) {
		jnl_damage_set(dmg, seq, JNL_EDECODE, "after seq %llu: a key of %zu bytes",
			       (unsigned long long)seq - 1, k.mv_size);
		return JNL_EDECODE;
	}
	uint64_t key_seq = jnl_key_seq(&k);
	if (key_seq != seq) {
		jnl_damage_set(dmg, seq, JNL_EGAP, "seq %llu is missing (next is %llu)",
			       (unsigned long long)seq, (unsigned long long)key_seq);
		return JNL_EGAP;
	}
	uint64_t h;
	if (jnl_frame_check(v.mv_data, v.mv_size, &h) != 0) {
		jnl_damage_set(dmg, seq, JNL_ECHECKSUM,
			       "seq %llu: checksum mismatch (the record's bytes are damaged)",
			       (unsigned long long)seq);
		return JNL_ECHECKSUM;
	}
	fsm_arena_reset(&it->arena);
	uint64_t rec_seq, prev;
	char why[160];
	rc = jnl_codec_entry_decode(v.mv_data, v.mv_size, &it->arena, e, &rec_seq, &prev, why,
				    sizeof(why));
	if (rc != 0) {
		jnl_damage_set(dmg, seq, rc, "seq %llu does not decode: %s", (unsigned long long)seq,
			       rc == JNL_EDECODE ? why : jnl_strerror(rc));
		return rc;
	}
	if (rec_seq != seq || e->ev.seq != seq) {
		jnl_damage_set(dmg, seq, JNL_ECHAIN,
			       "seq %llu holds the entry of seq %llu (moved or spliced)",
			       (unsigned long long)seq, (unsigned long long)rec_seq);
		return JNL_ECHAIN;
	}
	if (prev != it->prev_hash) {
		jnl_damage_set(dmg, seq, JNL_ECHAIN,
			       "seq %llu does not follow seq %llu: the chain is broken (spliced "
			       "from another journal, or its predecessor was replaced)",
			       (unsigned long long)seq, (unsigned long long)seq - 1);
		return JNL_ECHAIN;
	}
	if (seq == it->meta.tip_seq && h != it->meta.tip_hash) {
		jnl_damage_set(dmg, seq, JNL_ETIP,
			       "seq %llu is not the entry the journal committed last",
			       (unsigned long long)seq);
		return JNL_ETIP;
	}
	e->hash = h;
	it->prev_hash = h;
	it->next = seq + 1;
	return 0;
}

static int verify_snapshots(struct jnl *j, MDB_txn *txn, const struct jnl_meta *m,
			    struct jnl_damage *dmg)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, j->dbi_snap, &cur);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t seq = k.mv_size == 8 ? jnl_key_seq(&k) : 0;
		rc = jnl_snapshot_check(j, txn, m, seq, &v, NULL, dmg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int jnl_verify(struct jnl *j, struct jnl_damage *dmg)
{
	struct jnl_iter *it;
	int rc = jnl_iter_open(j, 0, &it);
	if (rc != 0) {
		jnl_damage_set(dmg, 0, rc, "cannot read the journal: %s", jnl_strerror(rc));
		return rc;
	}
	struct jnl_entry e;
	while ((rc = jnl_iter_next(it, &e, dmg)) == 0) {
	}
	if (rc == JNL_EEND) {
		/* Nothing may lie beyond the committed tip. */
		MDB_val k, v;
		if (mdb_cursor_get(it->cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8 &&
		    jnl_key_seq(&k) > it->meta.tip_seq) {
			jnl_damage_set(dmg, it->meta.tip_seq + 1, JNL_ETIP,
				       "entries after the committed tip %llu",
				       (unsigned long long)it->meta.tip_seq);
			rc = JNL_ETIP;
		} else {
			rc = verify_snapshots(j, it->txn, &it->meta, dmg);
		}
	}
	jnl_iter_close(it);
	return rc;
}

/* ---- snapshots ---- */

/*
 * Checks the snapshot frame v stored at key seq: checksum, decoding, seq, and
 * that it belongs to this chain (its entry_hash is the checksum of the entry at
 * its seq, or meta's base_hash for the snapshot just before the base).
 */
int jnl_snapshot_check(struct jnl *j, MDB_txn *txn, const struct jnl_meta *m, uint64_t seq,
		       const MDB_val *v, struct jnl_snap_hdr *out, struct jnl_damage *dmg)
{
	uint64_t h;
	struct jnl_snap_hdr hdr;
	if (jnl_frame_check(v->mv_data, v->mv_size, &h) != 0) {
		jnl_damage_set(dmg, seq, JNL_ECHECKSUM, "snapshot at seq %llu: checksum mismatch",
			       (unsigned long long)seq);
		return JNL_ECHECKSUM;
	}
	if (jnl_codec_snapshot_decode(v->mv_data, v->mv_size, &hdr, NULL) != 0 || hdr.seq != seq) {
		jnl_damage_set(dmg, seq, JNL_EDECODE, "snapshot at seq %llu does not decode",
			       (unsigned long long)seq);
		return JNL_EDECODE;
	}
	uint64_t want;
	if (seq + 1 == m->base_seq) {
		want = m->base_hash;
	} else if (seq >= m->base_seq && seq <= m->tip_seq) {
		int rc = frame_hash_at(j, txn, seq, &want, dmg);
		if (rc != 0)
			return rc;
	} else {
		jnl_damage_set(dmg, seq, JNL_ESNAPSHOT,
			       "snapshot at seq %llu is outside the log (%llu..%llu)",
			       (unsigned long long)seq, (unsigned long long)m->base_seq,
			       (unsigned long long)m->tip_seq);
		return JNL_ESNAPSHOT;
	}
	if (hdr.entry_hash != want) {
		jnl_damage_set(dmg, seq, JNL_ESNAPSHOT,
			       "snapshot at seq %llu was taken of another chain",
			       (unsigned long long)seq);
		return JNL_ESNAPSHOT;
	}
	if (out != NULL)
		*out = hdr;
	return 0;
}

struct snap_put {
	const struct fsm_state *s;
	struct jnl_buf buf;
};

static int snapshot_put_txn(struct jnl *j, MDB_txn *txn, void *arg)
{
	struct snap_put *sp = arg;
	const struct fsm_state *s = sp->s;
	struct jnl_snap_hdr h = {
		.seq = s->last_seq,
		.ts_ms = s->last_ts_ms,
		.wall_ms = s->last_wall_ms,
		.fsm_version = FSM_VERSION,
	};
	int rc;
	if (s->last_seq + 1 == j->meta.base_seq)
		h.entry_hash = j->meta.base_hash;
	else if ((rc = frame_hash_at(j, txn, s->last_seq, &h.entry_hash, NULL)) != 0)
		return rc;
	sp->buf.len = 0;
	rc = jnl_codec_snapshot_encode(&sp->buf, &h, s);
	if (rc != 0)
		return rc;
	unsigned char key[8];
	jnl_key(key, s->last_seq);
	MDB_val k = {8, key}, v = {sp->buf.len, sp->buf.p};
	return mdb_put(txn, j->dbi_snap, &k, &v, 0);
}

int jnl_snapshot_put(struct jnl *j, const struct fsm_state *s)
{
	if (s->last_seq > j->meta.tip_seq || s->last_seq + 1 < j->meta.base_seq)
		return JNL_EINVAL;
	struct snap_put sp = {s, {0}};
	int rc = jnl_write(j, snapshot_put_txn, &sp);
	jnl_buf_free(&sp.buf);
	return rc;
}

int jnl_snapshot_get(struct jnl *j, uint64_t at, struct fsm_state *s, struct jnl_damage *dmg)
{
	fsm_state_init(s);
	MDB_txn *txn;
	int rc = jnl_txn_read(j, &txn);
	if (rc != 0)
		return rc;
	struct jnl_meta m;
	MDB_cursor *cur = NULL;
	rc = jnl_meta_read(j, txn, &m);
	rc = rc ? rc : mdb_cursor_open(txn, j->dbi_snap, &cur);
	if (rc != 0)
		goto out;
	unsigned char key[8];
	jnl_key(key, at == UINT64_MAX ? at : at + 1);
	MDB_val k = {8, key}, v;
	/* Position on the first snapshot above `at`, then walk down. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	MDB_cursor_op op = MDB_PREV;
	if (rc == MDB_NOTFOUND)
		op = MDB_LAST;
	else if (rc != 0)
		goto out;
	else if (jnl_key_seq(&k) <= at)
		op = MDB_GET_CURRENT;
	for (;;) {
		rc = mdb_cursor_get(cur, &k, &v, op);
		op = MDB_PREV;
		if (rc == MDB_NOTFOUND) {
			rc = JNL_ENOTFOUND;
			break;
		}
		if (rc != 0)
			break;
		uint64_t seq = jnl_key_seq(&k);
		struct jnl_snap_hdr h;
		rc = jnl_snapshot_check(j, txn, &m, seq, &v, &h, dmg);
		if (rc != 0)
			break;
		if (h.fsm_version != FSM_VERSION)
			continue; /* another fold's state: an older snapshot may still do */
		rc = jnl_codec_snapshot_decode(v.mv_data, v.mv_size, &h, s);
		if (rc != 0) {
			jnl_damage_set(dmg, seq, rc, "snapshot at seq %llu: state does not decode",
				       (unsigned long long)seq);
			fsm_state_free(s);
			fsm_state_init(s);
		}
		break;
	}
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- compaction ---- */

struct compact_plan {
	uint64_t cut;          /* the snapshot seq: entries <= cut go */
	uint64_t cut_hash;     /* its entry_hash: the new base_hash */
	struct jnl_compaction *res;
};

/* The oldest seq the retention window keeps. */
static int window_start(struct jnl *j, MDB_txn *txn, const struct jnl_retention *r,
			uint64_t *start)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, j->dbi_log, &cur);
	if (rc != 0)
		return rc;
	uint64_t bytes = 0, tip_ts = j->meta.tip_ts_ms;
	*start = j->meta.base_seq;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		uint64_t seq = jnl_key_seq(&k);
		bytes += v.mv_size;
		bool too_big = r->bytes_max != 0 && bytes > r->bytes_max;
		bool too_old = false;
		if (r->age_ms_max != 0) {
			/* ts_ms sits in the entry; decoding only its header is not
			 * possible with protobuf, so read the event. */
			struct fsm_arena a = FSM_ARENA_INIT;
			struct jnl_entry e;
			uint64_t s2, p2;
			char why[64];
			uint64_t h;
			if (jnl_frame_check(v.mv_data, v.mv_size, &h) == 0 &&
			    jnl_codec_entry_decode(v.mv_data, v.mv_size, &a, &e, &s2, &p2, why,
						   sizeof(why)) == 0)
				too_old = tip_ts > r->age_ms_max && e.ev.ts_ms < tip_ts - r->age_ms_max;
			fsm_arena_free(&a);
		}
		if (too_big || too_old) {
			*start = seq + 1;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

static int compact_txn(struct jnl *j, MDB_txn *txn, void *arg)
{
	struct compact_plan *p = arg;
	struct jnl_compaction *res = p->res;
	memset(res, 0, sizeof(*res));
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, j->dbi_log, &cur);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 && jnl_key_seq(&k) <= p->cut) {
		res->removed_bytes += v.mv_size;
		res->removed_entries++;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	rc = mdb_cursor_open(txn, j->dbi_snap, &cur);
	if (rc != 0)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 && jnl_key_seq(&k) < p->cut) {
		res->removed_snapshots++;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	struct jnl_meta m = j->meta;
	m.base_seq = p->cut + 1;
	m.base_hash = p->cut_hash;
	res->base_seq = m.base_seq;
	return jnl_meta_write(j, txn, &m);
}

int jnl_compact(struct jnl *j, const struct jnl_retention *r, struct jnl_compaction *res)
{
	memset(res, 0, sizeof(*res));
	res->base_seq = j->meta.base_seq;
	if (j->readonly)
		return JNL_ERDONLY;
	MDB_txn *txn;
	int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	uint64_t start;
	rc = window_start(j, txn, r, &start);
	if (rc != 0 || start <= j->meta.base_seq) {
		mdb_txn_abort(txn);
		return rc;
	}
	/* The newest snapshot at or before start - 1, within one transaction's reach. */
	uint64_t limit = start - 1;
	if (limit - j->meta.base_seq + 1 > COMPACT_ENTRIES_MAX)
		limit = j->meta.base_seq + COMPACT_ENTRIES_MAX - 1;
	struct compact_plan plan = {0, 0, res};
	MDB_cursor *cur;
	rc = mdb_cursor_open(txn, j->dbi_snap, &cur);
	if (rc == 0) {
		unsigned char key[8];
		jnl_key(key, limit + 1);
		MDB_val k = {8, key}, v;
		int g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		g = g == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
			   : mdb_cursor_get(cur, &k, &v, MDB_LAST);
		struct jnl_snap_hdr h;
		if (g == 0 && jnl_key_seq(&k) >= j->meta.base_seq &&
		    jnl_snapshot_check(j, txn, &j->meta, jnl_key_seq(&k), &v, &h, NULL) == 0) {
			plan.cut = h.seq;
			plan.cut_hash = h.entry_hash;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (rc != 0 || plan.cut == 0)
		return rc; /* no snapshot covers anything outside the window */
	rc = jnl_write(j, compact_txn, &plan);
	if (rc == 0) {
		j->meta.base_seq = plan.cut + 1;
		j->meta.base_hash = plan.cut_hash;
	} else {
		memset(res, 0, sizeof(*res));
		res->base_seq = j->meta.base_seq;
	}
	return rc;
}

int jnl_is_damage(int err)
{
	switch (err) {
	case JNL_ECHECKSUM:
	case JNL_ECHAIN:
	case JNL_EGAP:
	case JNL_EDECODE:
	case JNL_ETRUNCATED:
	case JNL_ETIP:
	case JNL_EBADMETA:
	case JNL_ESNAPSHOT:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		return 1;
	}
	return 0;
}

const char *jnl_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case JNL_EEND:
		return "end of journal";
	case JNL_ENOTFOUND:
		return "not found";
	case JNL_ELOCKED:
		return "journal in use by another writer";
	case JNL_ENEWER:
		return "journal format newer than this build";
	case JNL_ECHECKSUM:
		return "record damaged (checksum mismatch)";
	case JNL_ECHAIN:
		return "hash chain broken";
	case JNL_EGAP:
		return "record missing";
	case JNL_EDECODE:
		return "record does not decode";
	case JNL_ETRUNCATED:
		return "journal file truncated";
	case JNL_ENOJOURNAL:
		return "no journal here";
	case JNL_ERDONLY:
		return "journal opened read-only";
	case JNL_EINVAL:
		return "invalid argument";
	case JNL_ETIP:
		return "newest record is not the committed tip";
	case JNL_EBADMETA:
		return "meta record missing or damaged";
	case JNL_ESNAPSHOT:
		return "snapshot does not belong to this journal";
	case JNL_ELIMIT:
		return "limit reached";
	case JNL_EBUSY:
		return "the map must grow while a read transaction of this handle is open";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return mdb_strerror(err);
}
