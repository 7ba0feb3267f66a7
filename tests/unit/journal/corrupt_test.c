/*
 * corrupt_test.c — a damaged journal is named, never believed (journal.h: "damage,
 * truncation and splicing are found and named by seq").
 *
 * A journal of ENTRIES entries is built whose every record holds a unique marker
 * ("marker-000123-..."), so that a record's stored bytes can be found in
 * data.mdb. Each test damages a fresh copy — a byte flipped in a record or its
 * checksum, the file truncated, a record spliced in from another journal or
 * moved, a record deleted, the meta record from a newer format or damaged — and
 * holds that the journal names the fault by seq and kind, that every entry it
 * does return is the one that was appended, byte for byte, and that nothing
 * crashes (the riskier calls run in a child, so a SIGBUS or SIGSEGV is a failed
 * check, not a lost run). Recovery keeps the verified prefix, sets the rest aside
 * in the documented format, and the journal continues at the fault's seq.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "journal/codec.h"
#include "journal/journal.h"
#include "replay.h"
#include "test.h"

#define ENTRIES      2000
#define BATCH        100
#define SNAPSHOT_SEQ 1000
/* Timer keys (and node.config JSON) of this many bytes: every record of one seq
 * has the same length in every variant of the journal. */
#define KEY_LEN      200
#define TS_BASE      100000
#define WALL_BASE    1700000000000ULL

/* ---- the journal under test ---- */

struct frame {
	unsigned char *p;
	size_t len;
	uint64_t hash;
};

/* One journal as built: its records' stored bytes, by seq. */
struct built {
	char variant;
	struct frame f[ENTRIES + 1];
	struct fsm_state at_snapshot; /* the fold at SNAPSHOT_SEQ */
	struct fsm_state at_tip;
};

static void built_free(struct built *b)
{
	for (size_t i = 0; i <= ENTRIES; i++)
		free(b->f[i].p);
	fsm_state_free(&b->at_snapshot);
	fsm_state_free(&b->at_tip);
	memset(b, 0, sizeof(*b));
}

/* The string a record of seq holds: "marker-<seq>-<variant>" padded with letters
 * that depend on both, to KEY_LEN bytes. node.config entries wrap it as JSON. */
static void record_text(char *out, size_t out_len, uint64_t seq, char variant)
{
	int n = snprintf(out, out_len, "marker-%06" PRIu64 "-%c-", seq, variant);
	uint64_t x = seq * 0x9E3779B97F4A7C15ULL + (uint64_t)variant;
	for (size_t i = (size_t)n; i < KEY_LEN && i + 1 < out_len; i++) {
		x ^= x >> 13;
		x *= 0xff51afd7ed558ccdULL;
		out[i] = (char)('a' + (x >> 59) % 26);
	}
	out[KEY_LEN < out_len ? KEY_LEN : out_len - 1] = '\0';
}

static bool is_config_seq(uint64_t seq)
{
	return seq % 250 == 0;
}

/* The event of seq as appended (ts_ms and wall_ms fixed, so the lengths of the
 * varints agree between variants). text must outlive the event. */
static struct fsm_event record_event(uint64_t seq, char *text, size_t text_len, char variant)
{
	struct fsm_event ev = {.ts_ms = TS_BASE + seq, .wall_ms = WALL_BASE + seq};
	if (is_config_seq(seq)) {
		char inner[KEY_LEN + 1];
		record_text(inner, sizeof(inner), seq, variant);
		snprintf(text, text_len, "{\"nodeName\":\"%s\"}", inner);
		ev.kind = FSM_EV_NODE_CONFIG;
		ev.u.node_config.config = text;
		ev.u.node_config.config_len = strlen(text);
	} else {
		record_text(text, text_len, seq, variant);
		ev.kind = FSM_EV_TIMER;
		ev.u.timer.key = text;
	}
	return ev;
}

/* The fold of the original events 1..n (what any correct replay must give). */
static bool fold_upto(uint64_t n, char variant, struct fsm_state *s)
{
	fsm_state_init(s);
	struct fsm_out out = {0};
	bool ok = true;
	for (uint64_t seq = 1; seq <= n && ok; seq++) {
		char text[KEY_LEN + 64];
		struct fsm_event ev = record_event(seq, text, sizeof(text), variant);
		ev.seq = seq;
		fsm_out_reset(&out);
		ok = fsm_fold(s, &ev, &out) == 0;
	}
	fsm_out_free(&out);
	return ok;
}

static struct jnl *open_writer(const char *dir)
{
	struct jnl *j = NULL;
	struct jnl_damage dmg;
	int rc = jnl_open(&j, dir, NULL, &dmg);
	CHECKF(rc == 0, "jnl_open %s: %s (%s)", dir, jnl_strerror(rc), dmg.what);
	return j;
}

/* Builds the journal in dir and records what it holds. */
static bool build(const char *dir, char variant, struct built *b)
{
	memset(b, 0, sizeof(*b));
	b->variant = variant;
	fsm_state_init(&b->at_tip);
	if (!fold_upto(SNAPSHOT_SEQ, variant, &b->at_snapshot)) {
		test_fail(__FILE__, __LINE__, "folding the events up to the snapshot failed");
		return false;
	}
	struct jnl *j = open_writer(dir);
	if (j == NULL)
		return false;
	struct jnl_batch *bt;
	if (jnl_batch_new(j, &bt) != 0) {
		test_fail(__FILE__, __LINE__, "jnl_batch_new");
		jnl_close(j);
		return false;
	}
	struct fsm_out out = {0};
	bool ok = true;
	for (uint64_t seq = 1; seq <= ENTRIES && ok; seq++) {
		char text[KEY_LEN + 64], id[32];
		struct fsm_event ev = record_event(seq, text, sizeof(text), variant);
		ok = jnl_batch_add(bt, &ev) == 0 && ev.seq == seq;
		fsm_out_reset(&out);
		ok = ok && fsm_fold(&b->at_tip, &ev, &out) == 0;
		if (ok && seq % 10 == 0) {
			snprintf(id, sizeof(id), "cmd-%06" PRIu64 "-%c", seq, variant);
			struct fsm_command c = {.kind = FSM_CMD_TIMER_SET,
			                        .id = id,
			                        .pod_uid = "",
			                        .container = "",
			                        .key = "k",
			                        .due_ms = 5,
			                        .image = ""};
			ok = jnl_batch_decide(bt, &c, 1) == 0;
		}
		if (ok && seq % BATCH == 0)
			ok = jnl_batch_commit(bt) == 0;
		if (ok && seq == SNAPSHOT_SEQ)
			ok = jnl_snapshot_put(j, &b->at_tip) == 0;
	}
	CHECKF(ok, "building the journal in %s failed", dir);
	fsm_out_free(&out);
	jnl_batch_free(bt);
	struct jnl_iter *it;
	struct jnl_entry e;
	struct jnl_damage dmg;
	int rc = ok ? jnl_iter_open(j, 0, &it) : -1;
	if (rc == 0) {
		while ((rc = jnl_iter_next(it, &e, &dmg)) == 0) {
			struct frame *f = &b->f[e.ev.seq];
			f->p = malloc(e.raw_len);
			if (f->p == NULL)
				break;
			memcpy(f->p, e.raw, e.raw_len);
			f->len = e.raw_len;
			f->hash = e.hash;
		}
		jnl_iter_close(it);
	}
	CHECKF(rc == JNL_EEND, "reading the new journal back: %s", jnl_strerror(rc));
	CHECK_EQ_INT(jnl_tip_seq(j), ENTRIES);
	CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
	jnl_close(j);
	return ok && rc == JNL_EEND && !test_failed;
}

/* ---- files ---- */

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -errno;
	}
	char buf[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			rc = -EIO;
			break;
		}
	}
	if (n < 0)
		rc = -errno;
	close(in);
	close(out);
	return rc;
}

/* A fresh copy of the journal in `from` (its data file only: the lock files are
 * made again on open) at <tmpdir>/<name>. */
static const char *fresh_copy(const char *from, const char *name, char *dir, size_t dir_len)
{
	snprintf(dir, dir_len, "%s/%s", test_tmpdir(), name);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0 || mkdir(dir, 0700) != 0)
		return NULL;
	char a[1024], b[1024];
	snprintf(a, sizeof(a), "%s/data.mdb", from);
	snprintf(b, sizeof(b), "%s/data.mdb", dir);
	return copy_file(a, b) == 0 ? dir : NULL;
}

static unsigned char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	unsigned char *p = NULL;
	if (fstat(fd, &sb) == 0 && (p = malloc((size_t)sb.st_size + 1)) != NULL) {
		if (pread(fd, p, (size_t)sb.st_size, 0) != sb.st_size) {
			free(p);
			p = NULL;
		}
		*len = (size_t)sb.st_size;
	}
	close(fd);
	return p;
}

static bool write_all_at(const char *path, const unsigned char *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = pwrite(fd, p, len, 0) == (ssize_t)len;
	close(fd);
	return ok;
}

/*
 * Replaces, in dir/data.mdb, every stored copy of the record `from` (LMDB may
 * hold stale copies in free pages; the live one is among them) by `to` (same
 * length). Returns how many copies it changed.
 */
static int patch_record(const char *dir, const struct frame *from, const unsigned char *to)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	size_t len;
	unsigned char *file = read_all(path, &len);
	if (file == NULL)
		return -1;
	int n = 0;
	for (unsigned char *q = file;
	     (q = memmem(q, len - (size_t)(q - file), from->p, from->len)) != NULL;
	     q += from->len) {
		memcpy(q, to, from->len);
		n++;
	}
	if (n > 0 && !write_all_at(path, file, len))
		n = -1;
	free(file);
	return n;
}

/*
 * Changes the stored key of record f: in an LMDB leaf node the 8-byte key sits
 * right before the value, so byte 5 of the big-endian seq is 3 bytes before the
 * frame. The seq becomes seq ^ (1 << 16): past the tip, out of order in its
 * page. Returns how many copies it changed.
 */
static int flip_key(const char *dir, const struct frame *f)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	size_t len;
	unsigned char *file = read_all(path, &len);
	if (file == NULL)
		return -1;
	int n = 0;
	for (unsigned char *q = file;
	     (q = memmem(q, len - (size_t)(q - file), f->p, f->len)) != NULL; q += f->len) {
		if (q - file >= 8) {
			q[-3] ^= 0x01;
			n++;
		}
	}
	if (n > 0 && !write_all_at(path, file, len))
		n = -1;
	free(file);
	return n;
}

/* Flips the byte at `off` of record f in dir; out gets the damaged bytes. */
static bool flip_record(const char *dir, const struct frame *f, size_t off, unsigned char *out)
{
	memcpy(out, f->p, f->len);
	out[off] ^= (unsigned char)(1u << (test_rand() % 8));
	int n = patch_record(dir, f, out);
	CHECKF(n > 0, "the record's bytes were not found in %s/data.mdb (%d)", dir, n);
	return n > 0;
}

/* Offset of the marker text inside a record's frame. */
static size_t marker_offset(const struct frame *f)
{
	const unsigned char *m = memmem(f->p, f->len, "marker-", 7);
	return m != NULL ? (size_t)(m - f->p) : f->len / 2;
}

/* ---- LMDB directly: what a writer of this build never does ---- */

static int lmdb_open(const char *dir, MDB_env **env)
{
	int rc = mdb_env_create(env);
	if (rc != 0)
		return rc;
	mdb_env_set_maxdbs(*env, 4);
	rc = mdb_env_open(*env, dir, 0, 0600);
	if (rc != 0)
		mdb_env_close(*env);
	return rc;
}

static void lmdb_key(unsigned char k[8], uint64_t seq)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		k[i] = (unsigned char)seq;
}

static int lmdb_del_entry(const char *dir, uint64_t seq)
{
	MDB_env *env;
	int rc = lmdb_open(dir, &env);
	if (rc != 0)
		return rc;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char key[8];
	lmdb_key(key, seq);
	MDB_val k = {8, key};
	rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "log", 0, &dbi);
		rc = rc ? rc : mdb_del(txn, dbi, &k, NULL);
		rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
	}
	mdb_env_close(env);
	return rc;
}

/* Stores frame f under seq in the log, as no writer of this build would. */
static int lmdb_put_entry(const char *dir, uint64_t seq, const struct frame *f)
{
	MDB_env *env;
	int rc = lmdb_open(dir, &env);
	if (rc != 0)
		return rc;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char key[8];
	lmdb_key(key, seq);
	MDB_val k = {8, key}, v = {f->len, f->p};
	rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "log", 0, &dbi);
		rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
		rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
	}
	mdb_env_close(env);
	return rc;
}

/* Reads meta, lets fn change it, writes it back. */
static int lmdb_edit_meta(const char *dir, void (*fn)(struct jnl_meta *), struct jnl_meta *after)
{
	MDB_env *env;
	int rc = lmdb_open(dir, &env);
	if (rc != 0)
		return rc;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {4, "meta"}, v;
	struct jnl_meta m;
	struct jnl_buf buf = {0};
	rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc != 0)
		goto out;
	rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	rc = rc ? rc : mdb_get(txn, dbi, &k, &v);
	rc = rc ? rc : jnl_codec_meta_decode(v.mv_data, v.mv_size, &m);
	if (rc == 0 && fn != NULL) {
		fn(&m);
		rc = jnl_codec_meta_encode(&buf, &m);
		MDB_val nv = {buf.len, buf.p};
		rc = rc ? rc : mdb_put(txn, dbi, &k, &nv, 0);
	}
	if (rc == 0 && after != NULL)
		*after = m;
	rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
out:
	jnl_buf_free(&buf);
	mdb_env_close(env);
	return rc;
}

/* A stored frame of db under key (meta, or a snapshot), for damaging it. */
static int lmdb_frame(const char *dir, const char *db, MDB_val k, struct frame *f)
{
	MDB_env *env;
	int rc = lmdb_open(dir, &env);
	if (rc != 0)
		return rc;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val v;
	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, db, 0, &dbi);
		rc = rc ? rc : mdb_get(txn, dbi, &k, &v);
		if (rc == 0 && (f->p = malloc(v.mv_size)) != NULL) {
			memcpy(f->p, v.mv_data, v.mv_size);
			f->len = v.mv_size;
		}
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc;
}

static int lmdb_meta_frame(const char *dir, struct frame *f)
{
	MDB_val k = {4, "meta"};
	return lmdb_frame(dir, "meta", k, f);
}

static int lmdb_snapshot_frame(const char *dir, uint64_t seq, struct frame *f)
{
	unsigned char key[8];
	lmdb_key(key, seq);
	MDB_val k = {8, key};
	return lmdb_frame(dir, "snapshots", k, f);
}

/* The bytes the database says the file holds: (last page + 1) * page size. */
static int lmdb_need_bytes(const char *dir, off_t *need, size_t *psize)
{
	MDB_env *env;
	int rc = lmdb_open(dir, &env);
	if (rc != 0)
		return rc;
	MDB_envinfo info;
	MDB_stat st;
	rc = mdb_env_info(env, &info);
	rc = rc ? rc : mdb_env_stat(env, &st);
	if (rc == 0) {
		*need = (off_t)(info.me_last_pgno + 1) * (off_t)st.ms_psize;
		*psize = st.ms_psize;
	}
	mdb_env_close(env);
	return rc;
}

/* ---- checks ---- */

/* The text names n as a number of its own (not part of a longer one). */
static bool mentions_number(const char *text, uint64_t n)
{
	for (const char *p = text; *p != '\0';) {
		if (*p >= '0' && *p <= '9') {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);
			if (v == n)
				return true;
			p = end;
		} else {
			p++;
		}
	}
	return false;
}

static bool code_in(int rc, const int *codes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rc == codes[i])
			return true;
	return false;
}

/* A reported fault: one of the expected codes, named by seq, in words. */
static void check_named(const char *what, int rc, const struct jnl_damage *dmg, const int *codes,
                        size_t ncodes, uint64_t seq)
{
	CHECKF(code_in(rc, codes, ncodes), "%s: returned %d (%s), not the expected fault", what, rc,
	       jnl_strerror(rc));
	CHECKF(dmg->err == rc, "%s: dmg.err %d but the call returned %d", what, dmg->err, rc);
	CHECKF(dmg->seq == seq, "%s: dmg.seq %" PRIu64 ", the damage is at %" PRIu64 " (%s)", what,
	       dmg->seq, seq, dmg->what);
	const char *name = jnl_strerror(rc);
	CHECKF(name != NULL && name[0] != '\0', "%s: jnl_strerror(%d) is empty", what, rc);
	CHECKF(mentions_number(dmg->what, seq),
	       "%s: the message does not name seq %" PRIu64 ": \"%s\"", what, seq, dmg->what);
}

static bool frame_eq(const struct jnl_entry *e, const struct frame *f)
{
	return f->p != NULL && e->raw_len == f->len && memcmp(e->raw, f->p, f->len) == 0 &&
	       e->hash == f->hash;
}

/* The decoded event is the one appended at its seq. */
static bool event_is_original(const struct jnl_entry *e, char variant)
{
	char text[KEY_LEN + 64];
	struct fsm_event want = record_event(e->ev.seq, text, sizeof(text), variant);
	if (e->ev.kind != want.kind || e->ev.ts_ms != want.ts_ms || e->ev.wall_ms != want.wall_ms)
		return false;
	if (want.kind == FSM_EV_TIMER)
		return strcmp(e->ev.u.timer.key, want.u.timer.key) == 0;
	return e->ev.u.node_config.config_len == want.u.node_config.config_len &&
	       memcmp(e->ev.u.node_config.config, want.u.node_config.config,
	              want.u.node_config.config_len) == 0;
}

/*
 * Iterates from `from`: every entry returned before the fault is the original,
 * and the fault comes at `bad` with one of the codes (no codes: the journal
 * ends cleanly before `bad`). Calls after the fault return no entry either.
 */
static void check_iteration(struct jnl *j, uint64_t from, const struct built *b, uint64_t bad,
                            const int *codes, size_t ncodes)
{
	struct jnl_iter *it;
	int rc = jnl_iter_open(j, from, &it);
	CHECKF(rc == 0, "jnl_iter_open(%" PRIu64 "): %s", from, jnl_strerror(rc));
	if (rc != 0)
		return;
	struct jnl_entry e;
	struct jnl_damage dmg = {0};
	uint64_t seq = from > jnl_base_seq(j) ? from : jnl_base_seq(j);
	while ((rc = jnl_iter_next(it, &e, &dmg)) == 0) {
		if (e.ev.seq != seq || seq >= bad || !frame_eq(&e, &b->f[seq]) ||
		    !event_is_original(&e, b->variant)) {
			test_fail(__FILE__, __LINE__,
			          "jnl_iter_next returned seq %" PRIu64
			          " as intact where seq %" PRIu64
			          " was due: %s (the damage is at %" PRIu64 ")",
			          e.ev.seq, seq,
			          seq >= bad ? "wrong data, the damaged record or one past it"
			                     : "not as appended",
			          bad);
			break;
		}
		seq++;
	}
	if (ncodes == 0) {
		/* No damage expected: the entries end right before `bad`. */
		CHECKF(rc == JNL_EEND && seq == bad,
		       "iteration ended at %" PRIu64 " with %s (%s), the end is %" PRIu64, seq,
		       jnl_strerror(rc), dmg.what, bad);
	} else if (rc != 0) {
		CHECKF(seq == bad, "iteration stopped at %" PRIu64 ", the damage is at %" PRIu64,
		       seq, bad);
		char what[64];
		snprintf(what, sizeof(what), "jnl_iter_next at %" PRIu64, seq);
		check_named(what, rc, &dmg, codes, ncodes, bad);
		rc = jnl_iter_next(it, &e, &dmg);
		CHECKF(rc != 0,
		       "after a fault at %" PRIu64 ", jnl_iter_next returned seq %" PRIu64
		       " as if nothing happened",
		       bad, e.ev.seq);
	}
	jnl_iter_close(it);
}

/*
 * The journal in dir is damaged at seq `bad` (one of codes). If bad is the tip,
 * opening names it; otherwise open may pass its cheap checks, and verify,
 * iteration and replay name it.
 */
static void check_damage(const char *dir, const struct built *b, uint64_t bad, const int *codes,
                         size_t ncodes)
{
	struct jnl_options ro = {.readonly = true};
	for (int readonly = 0; readonly < 2; readonly++) {
		struct jnl *j = NULL;
		struct jnl_damage dmg = {0};
		int rc = jnl_open(&j, dir, readonly ? &ro : NULL, &dmg);
		char what[96];
		snprintf(what, sizeof(what), "jnl_open%s, damage at %" PRIu64,
		         readonly ? " (read-only)" : "", bad);
		if (bad == ENTRIES) {
			CHECKF(rc != 0, "%s: the damaged tip was not noticed", what);
			if (rc != 0)
				check_named(what, rc, &dmg, codes, ncodes, bad);
			jnl_close(j);
			continue;
		}
		if (rc != 0) {
			/* Allowed, as long as it names the damage. */
			check_named(what, rc, &dmg, codes, ncodes, bad);
			continue;
		}
		CHECK_EQ_INT(jnl_tip_seq(j), ENTRIES);
		rc = jnl_verify(j, &dmg);
		snprintf(what, sizeof(what), "jnl_verify%s, damage at %" PRIu64,
		         readonly ? " (read-only)" : "", bad);
		check_named(what, rc, &dmg, codes, ncodes, bad);
		check_iteration(j, 0, b, bad, codes, ncodes);
		/* Starting closer to the damage, the entries read are still the
		 * originals and the fault is still named. */
		if (bad > 3)
			check_iteration(j, bad - 2, b, bad, codes, ncodes);
		struct fsm_state s;
		struct replay_stats st;
		rc = replay_state(j, false, &s, &st, &dmg);
		snprintf(what, sizeof(what), "replay_state from seq 1, damage at %" PRIu64, bad);
		check_named(what, rc, &dmg, codes, ncodes, bad);
		CHECKF(st.folded == bad - 1,
		       "replay folded %" PRIu64 " entries before the damage at %" PRIu64, st.folded,
		       bad);
		fsm_state_free(&s);
		jnl_close(j);
	}
}

/* The exit code of an isolated child whose failed checks printed themselves
 * (not 1, which is what a sanitizer exits with after its report). */
#define CHILD_CHECKS_FAILED 42

/* Runs fn in a child process, so that a fault signal fails the test instead of
 * ending the run. The child's failed checks print themselves. */
static void isolated(const char *what, void (*fn)(void *), void *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		fn(arg);
		fflush(stdout);
		exit(test_failed ? CHILD_CHECKS_FAILED : 0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		test_fail(__FILE__, __LINE__, "%s: waitpid: %s", what, strerror(errno));
		return;
	}
	if (WIFSIGNALED(status))
		test_fail(__FILE__, __LINE__, "%s: crashed with signal %d (%s)", what,
		          WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) == CHILD_CHECKS_FAILED)
		test_failed = 1; /* the child printed why */
	else if (WEXITSTATUS(status) != 0)
		test_fail(__FILE__, __LINE__,
		          "%s: the child exited %d (a sanitizer's report, if any, is on stderr)",
		          what, WEXITSTATUS(status));
}

/* The pristine journal every test damages a copy of. */
static bool pristine(struct built *b, char *dir, size_t dir_len)
{
	snprintf(dir, dir_len, "%s/pristine", test_tmpdir());
	return build(dir, 'A', b);
}

struct damage_case {
	const char *dir;
	const struct built *b;
	uint64_t bad;
	const int *codes;
	size_t ncodes;
};

static void run_check_damage(void *arg)
{
	const struct damage_case *c = arg;
	check_damage(c->dir, c->b, c->bad, c->codes, c->ncodes);
}

static const int codes_checksum[] = {JNL_ECHECKSUM};
static const int codes_checksum_tip[] = {JNL_ECHECKSUM, JNL_ETIP};
static const int codes_chain[] = {JNL_ECHAIN};
static const int codes_chain_tip[] = {JNL_ECHAIN, JNL_ETIP};
static const int codes_gap[] = {JNL_EGAP};
static const int codes_gap_tip[] = {JNL_EGAP, JNL_ETIP};

#define NCODES(a) (sizeof(a) / sizeof((a)[0]))

/* Flips the byte at `off` of record `seq` in a fresh copy and checks the fault. */
static void flip_and_check(const char *src, const struct built *b, uint64_t seq, size_t off,
                           const char *label)
{
	char dir[700], name[64];
	snprintf(name, sizeof(name), "%s-%" PRIu64, label, seq);
	if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
		test_fail(__FILE__, __LINE__, "cannot copy the journal to %s", name);
		return;
	}
	const struct frame *f = &b->f[seq];
	unsigned char damaged[1024];
	if (f->len > sizeof(damaged) || off >= f->len) {
		test_fail(__FILE__, __LINE__, "record %" PRIu64 " is %zu bytes", seq, f->len);
		return;
	}
	if (!flip_record(dir, f, off, damaged))
		return;
	struct damage_case c = {dir, b, seq, seq == ENTRIES ? codes_checksum_tip : codes_checksum,
	                        seq == ENTRIES ? NCODES(codes_checksum_tip)
	                                       : NCODES(codes_checksum)};
	isolated(name, run_check_damage, &c);
}

TEST(flipped_byte_in_a_record_is_named_by_seq)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		uint64_t seqs[] = {1,
		                   2 + test_rand() % (SNAPSHOT_SEQ - 2),
		                   SNAPSHOT_SEQ,
		                   SNAPSHOT_SEQ + 1 + test_rand() % (ENTRIES - SNAPSHOT_SEQ - 2),
		                   ENTRIES - 1,
		                   ENTRIES};
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			const struct frame *f = &b.f[seqs[i]];
			size_t m = marker_offset(f);
			size_t off = m + test_rand() % (f->len - m);
			flip_and_check(src, &b, seqs[i], off, "payload");
		}
	}
	built_free(&b);
}

TEST(flipped_checksum_or_middle_byte_is_named_by_seq)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		for (int i = 0; i < 3; i++) {
			uint64_t seq = i == 2 ? ENTRIES : 1 + test_rand() % (ENTRIES - 1);
			flip_and_check(src, &b, seq, test_rand() % JNL_FRAME_HDR, "checksum");
			flip_and_check(src, &b, seq, b.f[seq].len / 2, "middle");
		}
		/* The byte right after the checksum: the start of the message. */
		flip_and_check(src, &b, ENTRIES / 2, JNL_FRAME_HDR, "first");
		flip_and_check(src, &b, ENTRIES / 3, b.f[ENTRIES / 3].len - 1, "last");
	}
	built_free(&b);
}

/* Several records damaged at once, anywhere in their bytes: the oldest is named,
 * and nothing before it comes back changed. */
TEST(random_flips_in_records_never_return_wrong_data)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		for (int round = 0; round < 6 && !test_failed; round++) {
			char dir[700], name[32];
			snprintf(name, sizeof(name), "fuzz-%d", round);
			if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
				test_fail(__FILE__, __LINE__, "cannot copy the journal");
				break;
			}
			uint64_t lowest = ENTRIES;
			int n = 1 + (int)(test_rand() % 5);
			for (int k = 0; k < n; k++) {
				uint64_t seq = 1 + test_rand() % (ENTRIES - 1); /* not the tip */
				unsigned char damaged[1024];
				const struct frame *f = &b.f[seq];
				if (seq >= lowest && test_rand() % 2 == 0)
					continue; /* mostly keep damage spread out */
				/* A record already damaged is not found again: skip it. */
				if (patch_record(dir, f, f->p) <= 0)
					continue;
				if (!flip_record(dir, f, test_rand() % f->len, damaged))
					break;
				if (seq < lowest)
					lowest = seq;
			}
			if (lowest == ENTRIES)
				continue;
			struct damage_case c = {dir, &b, lowest, codes_checksum,
			                        NCODES(codes_checksum)};
			isolated(name, run_check_damage, &c);
		}
	}
	built_free(&b);
}

struct trunc_case {
	const char *dir;
	off_t size;
};

static void run_check_truncated(void *arg)
{
	const struct trunc_case *c = arg;
	char data[800];
	snprintf(data, sizeof(data), "%s/data.mdb", c->dir);
	struct jnl_options ro = {.readonly = true};
	for (int readonly = 0; readonly < 2; readonly++) {
		struct jnl *j = (struct jnl *)&j; /* must come back NULL */
		struct jnl_damage dmg = {0};
		int rc = jnl_open(&j, c->dir, readonly ? &ro : NULL, &dmg);
		CHECKF(rc == JNL_ETRUNCATED,
		       "jnl_open%s of a file cut to %lld bytes: %d (%s), not "
		       "JNL_ETRUNCATED",
		       readonly ? " (read-only)" : "", (long long)c->size, rc, jnl_strerror(rc));
		CHECK(j == NULL);
		CHECK_EQ_INT(dmg.err, rc);
		CHECKF(strstr(dmg.what, data) != NULL, "the message does not name %s: \"%s\"", data,
		       dmg.what);
		CHECKF(jnl_strerror(rc)[0] != '\0', "jnl_strerror(%d) is empty", rc);
		if (rc == 0)
			jnl_close(j);
	}
	struct stat sb;
	CHECKF(stat(data, &sb) == 0 && sb.st_size == c->size,
	       "a refused open changed the file's size (%lld -> %lld)", (long long)c->size,
	       (long long)sb.st_size);
}

TEST(truncated_file_is_refused_not_faulted)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		char probe[700];
		off_t need = 0;
		size_t psize = 0;
		int rc = fresh_copy(src, "probe", probe, sizeof(probe)) != NULL
		                 ? lmdb_need_bytes(probe, &need, &psize)
		                 : -1;
		CHECKF(rc == 0 && need > (off_t)(8 * psize), "cannot read the file's size: %d", rc);
		off_t sizes[] = {need / 2, need - 3 * (off_t)psize, need - 1, 2 * (off_t)psize + 7};
		for (size_t i = 0; rc == 0 && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char dir[700], name[64], data[800];
			snprintf(name, sizeof(name), "cut-%lld", (long long)sizes[i]);
			if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
				test_fail(__FILE__, __LINE__, "cannot copy the journal");
				break;
			}
			snprintf(data, sizeof(data), "%s/data.mdb", dir);
			CHECK(truncate(data, sizes[i]) == 0);
			struct trunc_case c = {dir, sizes[i]};
			isolated(name, run_check_truncated, &c);
		}
	}
	built_free(&b);
}

/* Splices record `seq` of journal `other` over the same record of a copy. */
static void splice_and_check(const char *src, const struct built *a, const struct frame *with,
                             uint64_t seq, const char *label)
{
	char dir[700], name[64];
	snprintf(name, sizeof(name), "%s-%" PRIu64, label, seq);
	if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
		test_fail(__FILE__, __LINE__, "cannot copy the journal");
		return;
	}
	/* Same length, so the splice is aligned: only the chain can tell. */
	if (with->len != a->f[seq].len) {
		test_fail(__FILE__, __LINE__,
		          "%s: records of %zu and %zu bytes (the test is wrong)", name, with->len,
		          a->f[seq].len);
		return;
	}
	int n = patch_record(dir, &a->f[seq], with->p);
	CHECKF(n > 0, "%s: record %" PRIu64 " not found in the file", name, seq);
	if (n <= 0)
		return;
	struct damage_case c = {dir, a, seq, seq == ENTRIES ? codes_chain_tip : codes_chain,
	                        seq == ENTRIES ? NCODES(codes_chain_tip) : NCODES(codes_chain)};
	isolated(name, run_check_damage, &c);
}

TEST(record_spliced_from_another_journal_breaks_the_chain)
{
	struct built a, b;
	char src[600], other[600];
	snprintf(other, sizeof(other), "%s/other", test_tmpdir());
	bool ok = pristine(&a, src, sizeof(src));
	ok = build(other, 'B', &b) && ok;
	if (ok) {
		uint64_t seqs[] = {2, 3 + test_rand() % (ENTRIES - 4), SNAPSHOT_SEQ + 1, ENTRIES};
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			uint64_t seq = seqs[i];
			/* A record of the other journal is a valid frame of its own. */
			CHECK(memcmp(a.f[seq].p, b.f[seq].p, a.f[seq].len) != 0);
			splice_and_check(src, &a, &b.f[seq], seq, "spliced");
		}
		/* A record of the same journal, moved one seq down. */
		uint64_t seq = 300 + 10 * (test_rand() % 100) + 1 + test_rand() % 8;
		if (is_config_seq(seq) || is_config_seq(seq + 1))
			seq += 2;
		splice_and_check(src, &a, &a.f[seq + 1], seq, "moved");
	}
	built_free(&a);
	built_free(&b);
}

static void run_recover_spliced_first(void *arg)
{
	const char *dir = arg;
	struct jnl_recovery rep;
	struct jnl_damage dmg = {0};
	int rc = jnl_recover(dir, &rep, &dmg);
	CHECKF(rc == 0, "jnl_recover: %s", jnl_strerror(rc));
	CHECKF(rc != 0 || (rep.kept_last < rep.kept_first && rep.aside_first == 1),
	       "recovery kept %" PRIu64 "..%" PRIu64 ", including the record spliced in at seq 1 "
	       "(it named seq %" PRIu64 ": %s)",
	       rep.kept_first, rep.kept_last, dmg.seq, dmg.what);
}

/*
 * The first record has no predecessor in the file: only the chain's seed (meta's
 * base_hash, the prev_hash of seq 1) can bind it to its journal. Spliced in from
 * another journal, it must still be named at seq 1, and not come back as data.
 */
TEST(first_record_spliced_from_another_journal_is_named)
{
	struct built a, b;
	char src[600], other[600];
	snprintf(other, sizeof(other), "%s/other", test_tmpdir());
	bool ok = pristine(&a, src, sizeof(src));
	ok = build(other, 'B', &b) && ok;
	if (ok) {
		CHECK(memcmp(a.f[1].p, b.f[1].p, a.f[1].len) != 0);
		splice_and_check(src, &a, &b.f[1], 1, "spliced");
		/* Recovery must not keep the foreign record as this journal's. */
		char dir[700];
		if (fresh_copy(src, "recover-spliced-1", dir, sizeof(dir)) != NULL &&
		    patch_record(dir, &a.f[1], b.f[1].p) > 0)
			isolated("recover spliced 1", run_recover_spliced_first, dir);
	}
	built_free(&a);
	built_free(&b);
}

static void delete_and_check(const char *src, const struct built *b, uint64_t seq)
{
	char dir[700], name[64];
	snprintf(name, sizeof(name), "deleted-%" PRIu64, seq);
	if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
		test_fail(__FILE__, __LINE__, "cannot copy the journal");
		return;
	}
	int rc = lmdb_del_entry(dir, seq);
	CHECKF(rc == 0, "mdb_del of seq %" PRIu64 ": %s", seq, mdb_strerror(rc));
	if (rc != 0)
		return;
	struct damage_case c = {dir, b, seq, seq == ENTRIES ? codes_gap_tip : codes_gap,
	                        seq == ENTRIES ? NCODES(codes_gap_tip) : NCODES(codes_gap)};
	isolated(name, run_check_damage, &c);
}

TEST(deleted_record_is_a_gap)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		delete_and_check(src, &b, 1);
		delete_and_check(src, &b, 2 + test_rand() % (ENTRIES - 3));
		delete_and_check(src, &b, SNAPSHOT_SEQ);
		delete_and_check(src, &b, ENTRIES);
	}
	built_free(&b);
}

TEST(flipped_byte_in_a_record_key_is_a_gap)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		uint64_t seqs[] = {2 + test_rand() % (ENTRIES / 2),
		                   ENTRIES / 2 + test_rand() % (ENTRIES / 2 - 10)};
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			char dir[700], name[64];
			snprintf(name, sizeof(name), "key-%" PRIu64, seqs[i]);
			if (fresh_copy(src, name, dir, sizeof(dir)) == NULL)
				break;
			int n = flip_key(dir, &b.f[seqs[i]]);
			CHECKF(n > 0, "%s: the record was not found", name);
			struct damage_case c = {dir, &b, seqs[i], codes_gap, NCODES(codes_gap)};
			if (n > 0)
				isolated(name, run_check_damage, &c);
		}
	}
	built_free(&b);
}

static void run_check_added(void *arg)
{
	const char *dir = arg;
	struct jnl_options ro = {.readonly = true};
	static const int codes[] = {JNL_ETIP};
	for (int readonly = 0; readonly < 2; readonly++) {
		struct jnl *j = NULL;
		struct jnl_damage dmg = {0};
		int rc = jnl_open(&j, dir, readonly ? &ro : NULL, &dmg);
		check_named(readonly ? "jnl_open (read-only), an entry past the tip"
		                     : "jnl_open, an entry past the tip",
		            rc, &dmg, codes, 1, ENTRIES + 1);
		jnl_close(j);
	}
}

/* An entry past the committed tip (added behind the journal's back, or a
 * commit whose meta did not land) is named, not taken in. */
TEST(record_added_past_the_tip_is_named)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) && fresh_copy(src, "added", dir, sizeof(dir)) != NULL) {
		int rc = lmdb_put_entry(dir, ENTRIES + 1, &b.f[ENTRIES]);
		CHECKF(rc == 0, "mdb_put: %s", mdb_strerror(rc));
		if (rc == 0)
			isolated("added", run_check_added, dir);
	}
	built_free(&b);
}

/* ---- recovery ---- */

struct aside_rec {
	uint64_t seq;
	const unsigned char *p;
	uint32_t len;
};

/* Parses set-aside.log / set-aside.snapshots: seq (8 bytes LE), length (4 bytes
 * LE), the bytes. Returns the number of records, -1 when malformed. */
static long parse_aside(const unsigned char *p, size_t len, struct aside_rec *out, size_t max)
{
	size_t off = 0;
	long n = 0;
	while (off < len) {
		if (len - off < 12 || (size_t)n >= max)
			return -1;
		uint64_t seq = 0;
		uint32_t l = 0;
		for (int i = 7; i >= 0; i--)
			seq = seq << 8 | p[off + (size_t)i];
		for (int i = 3; i >= 0; i--)
			l = l << 8 | p[off + 8 + (size_t)i];
		off += 12;
		if (len - off < l)
			return -1;
		out[n++] = (struct aside_rec){seq, p + off, l};
		off += l;
	}
	return n;
}

enum damage_kind { DAMAGE_NONE, DAMAGE_FLIP, DAMAGE_GAP };

struct recover_case {
	const char *dir;
	const struct built *b;
	enum damage_kind kind;
	uint64_t bad;                 /* the damaged seq (DAMAGE_NONE: 0) */
	const unsigned char *damaged; /* its bytes as damaged (DAMAGE_FLIP) */
};

static void check_aside_files(const struct recover_case *c, const struct jnl_recovery *rep,
                              const unsigned char *file_before, size_t file_before_len)
{
	char path[1200];
	size_t len;
	/* The damaged file, as it was. */
	snprintf(path, sizeof(path), "%s/data.mdb", rep->aside_dir);
	unsigned char *moved = read_all(path, &len);
	CHECKF(moved != NULL, "the damaged file is not at %s", path);
	CHECKF(moved == NULL || (len == file_before_len && memcmp(moved, file_before, len) == 0),
	       "%s is not the damaged file as it was", path);
	free(moved);

	snprintf(path, sizeof(path), "%s/set-aside.log", rep->aside_dir);
	unsigned char *log = read_all(path, &len);
	CHECKF(log != NULL, "no %s", path);
	static struct aside_rec recs[ENTRIES + 1];
	long n = log != NULL ? parse_aside(log, len, recs, ENTRIES + 1) : -1;
	CHECKF(n >= 0, "%s is not in the documented format", path);
	CHECKF(n == (long)rep->aside_entries, "%s holds %ld records, the report says %" PRIu64,
	       path, n, rep->aside_entries);
	uint64_t first = c->kind == DAMAGE_GAP ? c->bad + 1 : c->bad;
	for (long i = 0; i < n && c->kind != DAMAGE_NONE; i++) {
		uint64_t seq = first + (uint64_t)i;
		const struct frame *f = &c->b->f[seq];
		const unsigned char *want =
		        seq == c->bad && c->kind == DAMAGE_FLIP ? c->damaged : f->p;
		if (recs[i].seq != seq || recs[i].len != f->len ||
		    memcmp(recs[i].p, want, f->len) != 0) {
			test_fail(__FILE__, __LINE__,
			          "set-aside record %ld is seq %" PRIu64
			          " (%u bytes), not seq %" PRIu64 " as it was stored",
			          i, recs[i].seq, recs[i].len, seq);
			break;
		}
	}
	free(log);

	snprintf(path, sizeof(path), "%s/set-aside.snapshots", rep->aside_dir);
	unsigned char *snaps = read_all(path, &len);
	n = snaps != NULL ? parse_aside(snaps, len, recs, ENTRIES + 1) : 0;
	bool snapshot_aside = c->kind != DAMAGE_NONE && c->bad <= SNAPSHOT_SEQ;
	CHECKF(n == (snapshot_aside ? 1 : 0) && (uint64_t)n == rep->aside_snapshots,
	       "%ld snapshots set aside (report: %" PRIu64 "), the damage at %" PRIu64
	       " leaves the snapshot at %d %s",
	       n, rep->aside_snapshots, c->bad, SNAPSHOT_SEQ,
	       snapshot_aside ? "uncovered" : "covered");
	CHECK(n != 1 || recs[0].seq == SNAPSHOT_SEQ);
	free(snaps);
}

/* After recovery: a journal that verifies, holds the prefix, and continues. */
static void check_recovered_journal(const struct recover_case *c, uint64_t kept_last)
{
	struct jnl *j = open_writer(c->dir);
	if (j == NULL)
		return;
	struct jnl_damage dmg = {0};
	int rc = jnl_verify(j, &dmg);
	CHECKF(rc == 0, "the recovered journal does not verify: %s (%s)", jnl_strerror(rc),
	       dmg.what);
	CHECK_EQ_INT(jnl_tip_seq(j), kept_last);
	CHECK_EQ_INT(jnl_base_seq(j), 1);
	uint64_t old_tip_ts = TS_BASE + ENTRIES;
	CHECKF(jnl_tip_ts_ms(j) >= old_tip_ts,
	       "the ts_ms floor went back over recovery: %" PRIu64 " < %" PRIu64, jnl_tip_ts_ms(j),
	       old_tip_ts);
	check_iteration(j, 0, c->b, kept_last + 1, NULL, 0);

	struct fsm_state snap, full, tail;
	struct replay_stats st;
	rc = jnl_snapshot_get(j, UINT64_MAX, &snap, &dmg);
	if (kept_last >= SNAPSHOT_SEQ)
		CHECKF(rc == 0 && fsm_state_equal(&snap, &c->b->at_snapshot),
		       "the snapshot at %d was not kept: %s", SNAPSHOT_SEQ, jnl_strerror(rc));
	else
		CHECKF(rc == JNL_ENOTFOUND, "a snapshot past the kept entries survived: %s",
		       jnl_strerror(rc));
	fsm_state_free(&snap);
	CHECK_EQ_INT(replay_state(j, false, &full, &st, &dmg), 0);
	CHECK_EQ_INT(replay_state(j, true, &tail, &st, &dmg), 0);
	CHECK(fsm_state_equal(&full, &tail));
	CHECK_EQ_INT(full.last_seq, kept_last);
	fsm_state_free(&full);
	fsm_state_free(&tail);

	/* New appends continue at the fault's seq, above the old ts_ms floor. */
	struct jnl_batch *bt;
	REQUIRE(jnl_batch_new(j, &bt) == 0);
	uint64_t ts[3];
	for (int i = 0; i < 3; i++) {
		struct fsm_event ev = {
		        .kind = FSM_EV_TIMER, .ts_ms = 0, .u.timer.key = "after-recovery"};
		CHECK_EQ_INT(jnl_batch_add(bt, &ev), 0);
		CHECK_EQ_INT(ev.seq, kept_last + 1 + (uint64_t)i);
		CHECKF(ev.ts_ms >= old_tip_ts,
		       "a new event got ts_ms %" PRIu64 " below the old tip's %" PRIu64, ev.ts_ms,
		       old_tip_ts);
		ts[i] = ev.ts_ms;
	}
	rc = jnl_batch_commit(bt);
	CHECKF(rc == 0, "append after recovery: %s", jnl_strerror(rc));
	jnl_batch_free(bt);
	jnl_close(j);

	j = open_writer(c->dir);
	if (j == NULL)
		return;
	CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
	CHECK_EQ_INT(jnl_tip_seq(j), kept_last + 3);
	struct jnl_iter *it;
	struct jnl_entry e;
	if (jnl_iter_open(j, kept_last + 1, &it) == 0) {
		for (int i = 0; i < 3; i++) {
			rc = jnl_iter_next(it, &e, &dmg);
			CHECKF(rc == 0 && e.ev.seq == kept_last + 1 + (uint64_t)i &&
			               e.ev.kind == FSM_EV_TIMER &&
			               strcmp(e.ev.u.timer.key, "after-recovery") == 0 &&
			               e.ev.ts_ms == ts[i],
			       "appended entry %d does not read back: %s", i, jnl_strerror(rc));
		}
		CHECK_EQ_INT(jnl_iter_next(it, &e, &dmg), JNL_EEND);
		jnl_iter_close(it);
	}
	jnl_close(j);
}

static void run_check_recover(void *arg)
{
	const struct recover_case *c = arg;
	char data[800];
	snprintf(data, sizeof(data), "%s/data.mdb", c->dir);
	size_t before_len;
	unsigned char *before = read_all(data, &before_len);
	if (before == NULL) {
		test_fail(__FILE__, __LINE__, "cannot read %s", data);
		return;
	}
	struct jnl_recovery rep;
	struct jnl_damage dmg = {0};
	int rc = jnl_recover(c->dir, &rep, &dmg);
	CHECKF(rc == 0, "jnl_recover: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0) {
		free(before);
		return;
	}
	uint64_t kept_last = c->kind == DAMAGE_NONE ? ENTRIES : c->bad - 1;
	uint64_t aside = c->kind == DAMAGE_NONE  ? 0
	                 : c->kind == DAMAGE_GAP ? ENTRIES - c->bad
	                                         : ENTRIES - c->bad + 1;
	if (c->kind != DAMAGE_NONE) {
		static const int flip[] = {JNL_ECHECKSUM}, gap[] = {JNL_EGAP};
		check_named("jnl_recover", dmg.err, &dmg, c->kind == DAMAGE_GAP ? gap : flip, 1,
		            c->bad);
		CHECK_EQ_INT(rep.aside_first, c->bad);
		CHECK_EQ_INT(rep.aside_last, ENTRIES);
	}
	CHECK_EQ_INT(rep.kept_first, 1);
	CHECK_EQ_INT(rep.kept_last, kept_last);
	CHECK_EQ_INT(rep.aside_entries, aside);
	char prefix[800];
	snprintf(prefix, sizeof(prefix), "%s/damaged-", c->dir);
	CHECKF(strncmp(rep.aside_dir, prefix, strlen(prefix)) == 0, "aside_dir %s is not under %s",
	       rep.aside_dir, c->dir);
	check_aside_files(c, &rep, before, before_len);
	free(before);
	check_recovered_journal(c, kept_last);
}

static void recover_and_check(const char *src, const struct built *b, enum damage_kind kind,
                              uint64_t bad)
{
	char dir[700], name[64];
	snprintf(name, sizeof(name), "recover-%d-%" PRIu64, (int)kind, bad);
	if (fresh_copy(src, name, dir, sizeof(dir)) == NULL) {
		test_fail(__FILE__, __LINE__, "cannot copy the journal");
		return;
	}
	unsigned char damaged[1024];
	struct recover_case c = {dir, b, kind, bad, damaged};
	if (kind == DAMAGE_FLIP) {
		const struct frame *f = &b->f[bad];
		size_t m = marker_offset(f);
		if (!flip_record(dir, f, m + test_rand() % (f->len - m), damaged))
			return;
	} else if (kind == DAMAGE_GAP) {
		int rc = lmdb_del_entry(dir, bad);
		CHECKF(rc == 0, "mdb_del: %s", mdb_strerror(rc));
		if (rc != 0)
			return;
	}
	isolated(name, run_check_recover, &c);
}

TEST(recover_keeps_the_verified_prefix_and_sets_the_rest_aside)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		/* Past the snapshot (which is kept), before it (set aside), the tip,
		 * the first entry, a missing entry, and a journal with no damage. */
		recover_and_check(src, &b, DAMAGE_FLIP,
		                  SNAPSHOT_SEQ + 1 + test_rand() % (ENTRIES - SNAPSHOT_SEQ - 1));
		recover_and_check(src, &b, DAMAGE_FLIP, 2 + test_rand() % (SNAPSHOT_SEQ - 2));
		recover_and_check(src, &b, DAMAGE_FLIP, ENTRIES);
		recover_and_check(src, &b, DAMAGE_FLIP, 1);
		recover_and_check(src, &b, DAMAGE_GAP, 2 + test_rand() % (ENTRIES - 3));
		recover_and_check(src, &b, DAMAGE_NONE, 0);
	}
	built_free(&b);
}

struct compacted_case {
	const char *dir;
	uint64_t bad;
};

static void run_recover_compacted(void *arg)
{
	const struct compacted_case *c = arg;
	struct jnl_recovery rep;
	struct jnl_damage dmg = {0};
	int rc = jnl_recover(c->dir, &rep, &dmg);
	CHECKF(rc == 0, "jnl_recover: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	CHECK_EQ_INT(dmg.seq, c->bad);
	CHECK_EQ_INT(rep.kept_first, SNAPSHOT_SEQ + 1);
	CHECK_EQ_INT(rep.kept_last, c->bad - 1);
	CHECK_EQ_INT(rep.aside_first, c->bad);
	CHECK_EQ_INT(rep.aside_entries, ENTRIES - c->bad + 1);
	CHECK_EQ_INT(rep.aside_snapshots, 0);
	struct jnl *j = open_writer(c->dir);
	if (j == NULL)
		return;
	rc = jnl_verify(j, &dmg);
	CHECKF(rc == 0, "the recovered journal does not verify: %s (%s)", jnl_strerror(rc),
	       dmg.what);
	CHECK_EQ_INT(jnl_base_seq(j), SNAPSHOT_SEQ + 1);
	CHECK_EQ_INT(jnl_tip_seq(j), c->bad - 1);
	/* The snapshot the base rests on was kept, and snapshot + tail is right. */
	struct fsm_state s, want;
	struct replay_stats st;
	rc = replay_state(j, true, &s, &st, &dmg);
	CHECKF(rc == 0, "replay after recovery: %s (%s)", jnl_strerror(rc), dmg.what);
	CHECK_EQ_INT(st.snapshot_seq, SNAPSHOT_SEQ);
	CHECK(fold_upto(c->bad - 1, 'A', &want));
	CHECKF(rc != 0 || fsm_state_equal(&s, &want),
	       "snapshot + tail after recovery is not the fold of 1..%" PRIu64, c->bad - 1);
	fsm_state_free(&s);
	fsm_state_free(&want);
	struct jnl_batch *bt;
	if (jnl_batch_new(j, &bt) == 0) {
		struct fsm_event ev = {.kind = FSM_EV_CLOCK};
		CHECK_EQ_INT(jnl_batch_add(bt, &ev), 0);
		CHECK_EQ_INT(ev.seq, c->bad);
		CHECK_EQ_INT(jnl_batch_commit(bt), 0);
		jnl_batch_free(bt);
	}
	CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
	jnl_close(j);
}

TEST(recover_a_compacted_journal_keeps_its_base)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) &&
	    fresh_copy(src, "compacted", dir, sizeof(dir)) != NULL) {
		struct jnl *j = open_writer(dir);
		if (j != NULL) {
			/* A window smaller than what follows the snapshot: the cut is at it. */
			struct jnl_retention r = {.bytes_max = 64 << 10};
			struct jnl_compaction res;
			CHECK_EQ_INT(jnl_compact(j, &r, &res), 0);
			CHECK_EQ_INT(jnl_base_seq(j), SNAPSHOT_SEQ + 1);
			jnl_close(j);
		}
		uint64_t bad = SNAPSHOT_SEQ + 2 + test_rand() % (ENTRIES - SNAPSHOT_SEQ - 3);
		const struct frame *f = &b.f[bad];
		unsigned char damaged[1024];
		size_t m = marker_offset(f);
		struct compacted_case c = {dir, bad};
		if (!test_failed && flip_record(dir, f, m + test_rand() % (f->len - m), damaged))
			isolated("recover compacted", run_recover_compacted, &c);
	}
	built_free(&b);
}

TEST(recover_refuses_while_a_writer_holds_the_journal)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		struct jnl *j = open_writer(src);
		struct jnl_recovery rep;
		struct jnl_damage dmg;
		int rc = jnl_recover(src, &rep, &dmg);
		CHECKF(rc == JNL_ELOCKED, "jnl_recover beside a writer: %s", jnl_strerror(rc));
		char data[800];
		snprintf(data, sizeof(data), "%s/data.mdb", src);
		CHECKF(access(data, F_OK) == 0, "the writer's file was moved away");
		if (j != NULL) {
			CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
			jnl_close(j);
		}
	}
	built_free(&b);
}

static void run_recover_truncated(void *arg)
{
	const struct recover_case *c = arg;
	struct jnl_recovery rep;
	struct jnl_damage dmg = {0};
	int rc = jnl_recover(c->dir, &rep, &dmg);
	CHECKF(rc == 0, "jnl_recover of a truncated file: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	/* A cut that took only unused bytes may lose nothing; otherwise what was
	 * lost is named: from the first seq not kept, or the whole file (seq 0). */
	uint64_t kept = rep.kept_last >= rep.kept_first ? rep.kept_last : 0;
	if (kept < ENTRIES) {
		CHECKF(dmg.err != 0 && jnl_strerror(dmg.err)[0] != '\0',
		       "recovery kept 1..%" PRIu64 " of %d and named no fault", kept, ENTRIES);
		CHECKF(dmg.seq == kept + 1 || dmg.seq == 0,
		       "recovery kept 1..%" PRIu64 " but names seq %" PRIu64 " (%s)", kept, dmg.seq,
		       dmg.what);
		CHECKF(rep.aside_first == kept + 1 || (kept == 0 && rep.aside_first == 1),
		       "aside_first %" PRIu64 " after keeping 1..%" PRIu64, rep.aside_first, kept);
	}
	struct jnl *j = open_writer(c->dir);
	if (j == NULL)
		return;
	rc = jnl_verify(j, &dmg);
	CHECKF(rc == 0, "the recovered journal does not verify: %s (%s)", jnl_strerror(rc),
	       dmg.what);
	CHECK_EQ_INT(jnl_tip_seq(j), kept);
	if (getenv("LEDGERLET_TEST_VERBOSE") != NULL)
		fprintf(stderr,
		        "recover cut: kept %" PRIu64 "..%" PRIu64 ", aside %" PRIu64 " (%s)\n",
		        rep.kept_first, rep.kept_last, rep.aside_entries, dmg.what);
	/* What was kept is the verified prefix, as appended. */
	check_iteration(j, 0, c->b, kept + 1, NULL, 0);
	struct jnl_batch *bt;
	if (jnl_batch_new(j, &bt) == 0) {
		struct fsm_event ev = {.kind = FSM_EV_CLOCK};
		CHECK_EQ_INT(jnl_batch_add(bt, &ev), 0);
		CHECK_EQ_INT(ev.seq, kept + 1);
		CHECK_EQ_INT(jnl_batch_commit(bt), 0);
		jnl_batch_free(bt);
	}
	CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
	jnl_close(j);
}

TEST(recover_truncated_file_keeps_a_verified_prefix)
{
	struct built b;
	char src[600];
	if (pristine(&b, src, sizeof(src))) {
		char probe[700];
		off_t need = 0;
		size_t psize = 0;
		int rc = fresh_copy(src, "probe", probe, sizeof(probe)) != NULL
		                 ? lmdb_need_bytes(probe, &need, &psize)
		                 : -1;
		CHECKF(rc == 0, "cannot read the file's size: %d", rc);
		off_t sizes[] = {need / 2, need - 3 * (off_t)psize, need - 1};
		for (size_t i = 0; rc == 0 && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char dir[700], name[64], data[800];
			snprintf(name, sizeof(name), "recover-cut-%lld", (long long)sizes[i]);
			if (fresh_copy(src, name, dir, sizeof(dir)) == NULL)
				break;
			snprintf(data, sizeof(data), "%s/data.mdb", dir);
			CHECK(truncate(data, sizes[i]) == 0);
			struct recover_case c = {dir, &b, DAMAGE_NONE, 0, NULL};
			isolated(name, run_recover_truncated, &c);
		}
	}
	built_free(&b);
}

struct snap_case {
	const char *dir;
	const struct built *b;
	const unsigned char *damaged;
	size_t damaged_len;
};

static void run_check_damaged_snapshot(void *arg)
{
	const struct snap_case *c = arg;
	struct jnl *j = open_writer(c->dir);
	if (j == NULL)
		return;
	struct jnl_damage dmg = {0};
	int rc = jnl_verify(j, &dmg);
	static const int codes[] = {JNL_ECHECKSUM};
	check_named("jnl_verify, snapshot damaged", rc, &dmg, codes, 1, SNAPSHOT_SEQ);
	CHECKF(strstr(dmg.what, "snapshot") != NULL,
	       "the message does not say it is the snapshot: \"%s\"", dmg.what);
	/* The log itself is whole. */
	check_iteration(j, 0, c->b, ENTRIES + 1, NULL, 0);
	/* The damaged state is never loaded. */
	struct fsm_state s;
	rc = jnl_snapshot_get(j, UINT64_MAX, &s, &dmg);
	CHECKF(rc != 0, "jnl_snapshot_get loaded a damaged snapshot");
	if (rc != 0)
		check_named("jnl_snapshot_get", rc, &dmg, codes, 1, SNAPSHOT_SEQ);
	fsm_state_free(&s);
	jnl_close(j);

	struct jnl_recovery rep;
	rc = jnl_recover(c->dir, &rep, &dmg);
	CHECKF(rc == 0, "jnl_recover: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	CHECK_EQ_INT(rep.kept_first, 1);
	CHECK_EQ_INT(rep.kept_last, ENTRIES);
	CHECK_EQ_INT(rep.aside_entries, 0);
	CHECK_EQ_INT(rep.aside_snapshots, 1);
	char path[1200];
	snprintf(path, sizeof(path), "%s/set-aside.snapshots", rep.aside_dir);
	size_t len;
	unsigned char *snaps = read_all(path, &len);
	struct aside_rec recs[4];
	long n = snaps != NULL ? parse_aside(snaps, len, recs, 4) : -1;
	CHECKF(n == 1 && recs[0].seq == SNAPSHOT_SEQ && recs[0].len == c->damaged_len &&
	               memcmp(recs[0].p, c->damaged, c->damaged_len) == 0,
	       "%s does not hold the damaged snapshot as it was stored (%ld records)", path, n);
	free(snaps);
	j = open_writer(c->dir);
	if (j == NULL)
		return;
	CHECK_EQ_INT(jnl_verify(j, &dmg), 0);
	CHECK_EQ_INT(jnl_snapshot_get(j, UINT64_MAX, &s, &dmg), JNL_ENOTFOUND);
	fsm_state_free(&s);
	struct replay_stats st;
	CHECK_EQ_INT(replay_state(j, true, &s, &st, &dmg), 0);
	CHECK(fsm_state_equal(&s, &c->b->at_tip));
	fsm_state_free(&s);
	jnl_close(j);
}

TEST(damaged_snapshot_is_named_and_set_aside)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) &&
	    fresh_copy(src, "snapshot", dir, sizeof(dir)) != NULL) {
		struct frame f = {0};
		CHECK_EQ_INT(lmdb_snapshot_frame(dir, SNAPSHOT_SEQ, &f), 0);
		unsigned char damaged[1024];
		if (f.p != NULL && f.len <= sizeof(damaged) &&
		    flip_record(dir, &f, JNL_FRAME_HDR + test_rand() % (f.len - JNL_FRAME_HDR),
		                damaged)) {
			struct snap_case c = {dir, &b, damaged, f.len};
			isolated("damaged snapshot", run_check_damaged_snapshot, &c);
		}
		free(f.p);
	}
	built_free(&b);
}

/* ---- the meta record ---- */

static void set_newer(struct jnl_meta *m)
{
	m->format_version = JNL_FORMAT_VERSION + 1;
}

TEST(newer_format_is_refused_naming_both_versions)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) && fresh_copy(src, "newer", dir, sizeof(dir)) != NULL) {
		int rc = lmdb_edit_meta(dir, set_newer, NULL);
		CHECKF(rc == 0, "writing a newer meta: %d", rc);
		char data[800];
		snprintf(data, sizeof(data), "%s/data.mdb", dir);
		size_t len0, len1;
		unsigned char *before = read_all(data, &len0);
		struct jnl_options ro = {.readonly = true};
		for (int readonly = 0; readonly < 2; readonly++) {
			struct jnl *j = NULL;
			struct jnl_damage dmg = {0};
			rc = jnl_open(&j, dir, readonly ? &ro : NULL, &dmg);
			CHECKF(rc == JNL_ENEWER, "jnl_open%s of format %d: %s",
			       readonly ? " (read-only)" : "", JNL_FORMAT_VERSION + 1,
			       jnl_strerror(rc));
			CHECK(j == NULL);
			CHECK_EQ_INT(dmg.err, JNL_ENEWER);
			CHECK(jnl_strerror(rc)[0] != '\0');
			CHECKF(mentions_number(dmg.what, JNL_FORMAT_VERSION + 1) &&
			               mentions_number(dmg.what, JNL_FORMAT_VERSION),
			       "the message does not name both versions (%d and %d): \"%s\"",
			       JNL_FORMAT_VERSION + 1, JNL_FORMAT_VERSION, dmg.what);
			jnl_close(j);
		}
		/* Refusing changed nothing: the newer build still finds its journal. */
		unsigned char *after = read_all(data, &len1);
		CHECKF(before != NULL && after != NULL && len0 == len1 &&
		               memcmp(before, after, len0) == 0,
		       "a refused open changed %s", data);
		free(before);
		free(after);
		struct jnl_meta m;
		CHECK_EQ_INT(lmdb_edit_meta(dir, NULL, &m), 0);
		CHECK_EQ_INT(m.format_version, JNL_FORMAT_VERSION + 1);
	}
	built_free(&b);
}

/* A build that cannot read a journal's format cannot tell its good records from
 * its bad ones either: recovery must refuse it, not rewrite it as its own. */
static void run_recover_newer(void *arg)
{
	const char *dir = arg;
	struct jnl_recovery rep;
	struct jnl_damage dmg = {0};
	int rc = jnl_recover(dir, &rep, &dmg);
	CHECKF(rc == JNL_ENEWER,
	       "jnl_recover of a format %d journal returned %s (kept %" PRIu64 "..%" PRIu64
	       ", set aside %" PRIu64 "), not JNL_ENEWER",
	       JNL_FORMAT_VERSION + 1, jnl_strerror(rc), rep.kept_first, rep.kept_last,
	       rep.aside_entries);
	if (rc == 0) {
		struct jnl_meta m;
		if (lmdb_edit_meta(dir, NULL, &m) == 0)
			CHECKF(m.format_version == JNL_FORMAT_VERSION + 1,
			       "recovery rewrote a format %d journal as format %u",
			       JNL_FORMAT_VERSION + 1, m.format_version);
	}
}

TEST(recover_refuses_a_newer_format)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) && fresh_copy(src, "newer", dir, sizeof(dir)) != NULL) {
		CHECK_EQ_INT(lmdb_edit_meta(dir, set_newer, NULL), 0);
		isolated("recover newer", run_recover_newer, dir);
	}
	built_free(&b);
}

static void run_check_bad_meta(void *arg)
{
	const char *dir = arg;
	struct jnl_options ro = {.readonly = true};
	for (int readonly = 0; readonly < 2; readonly++) {
		struct jnl *j = NULL;
		struct jnl_damage dmg = {0};
		int rc = jnl_open(&j, dir, readonly ? &ro : NULL, &dmg);
		CHECKF(rc == JNL_EBADMETA, "jnl_open%s with a damaged meta record: %s",
		       readonly ? " (read-only)" : "", jnl_strerror(rc));
		CHECK_EQ_INT(dmg.err, rc);
		CHECK(dmg.what[0] != '\0');
		jnl_close(j);
	}
}

TEST(damaged_meta_record_is_refused)
{
	struct built b;
	char src[600], dir[700];
	if (pristine(&b, src, sizeof(src)) && fresh_copy(src, "meta", dir, sizeof(dir)) != NULL) {
		struct frame m = {0};
		CHECK_EQ_INT(lmdb_meta_frame(dir, &m), 0);
		unsigned char damaged[256];
		if (m.p != NULL && m.len <= sizeof(damaged)) {
			/* A byte of the message, not of the checksum. */
			flip_record(dir, &m, JNL_FRAME_HDR + test_rand() % (m.len - JNL_FRAME_HDR),
			            damaged);
			isolated("damaged meta", run_check_bad_meta, dir);
		}
		free(m.p);
	}
	built_free(&b);
}

TEST_MAIN("journal/corrupt", T(flipped_byte_in_a_record_is_named_by_seq),
          T(flipped_checksum_or_middle_byte_is_named_by_seq),
          T(random_flips_in_records_never_return_wrong_data),
          T(truncated_file_is_refused_not_faulted),
          T(record_spliced_from_another_journal_breaks_the_chain),
          T(flipped_byte_in_a_record_key_is_a_gap), T(damaged_snapshot_is_named_and_set_aside),
          T(record_added_past_the_tip_is_named),
          T(first_record_spliced_from_another_journal_is_named), T(deleted_record_is_a_gap),
          T(recover_keeps_the_verified_prefix_and_sets_the_rest_aside),
          T(recover_a_compacted_journal_keeps_its_base),
          T(recover_refuses_while_a_writer_holds_the_journal),
          T(recover_truncated_file_keeps_a_verified_prefix),
          T(newer_format_is_refused_naming_both_versions), T(recover_refuses_a_newer_format),
          T(damaged_meta_record_is_refused))
