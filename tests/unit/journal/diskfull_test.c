/*
 * diskfull_test.c — the journal when space runs out (journal.h, jnl_batch_commit:
 * "On failure (-ENOSPC, ...) nothing was written, the journal is as before and
 * the batch is kept as it was, so the same commit can be tried again later").
 *
 * A full filesystem is a 4 MiB tmpfs mounted for the test (in a mount namespace
 * of its own when the kernel allows, and detached on every path) and filled with
 * a filler file. The map's own limits are the other kind of "full": the map
 * grows from a small start by doubling, and stops at map_bytes_max with
 * JNL_ELIMIT. In every case the failed append is reported as what it is, the
 * journal stays valid and unchanged, and the same batch commits once there is
 * room again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "test.h"

#define TMPFS_OPTS  "size=4m"
/* Room left beside the filler: less than one batch needs, so that the commit
 * that fails has written part of its pages. */
#define ROOM_BYTES  (48 << 10)
#define BATCHES_MAX 2000

/* ---- events whose content can be checked after the fact ---- */

/* The timer key of event number `n` (counted by the test), `len` bytes long. */
static void event_key(char *out, size_t out_len, uint64_t n, size_t len)
{
	int k = snprintf(out, out_len, "df-%08" PRIu64 "-", n);
	size_t end = len < out_len - 1 ? len : out_len - 1;
	for (size_t i = (size_t)k; i < end; i++)
		out[i] = (char)('a' + (n + i) % 26);
	out[end > (size_t)k ? end : (size_t)k] = '\0';
}

/* Adds `count` events numbered from *next to the batch. */
static int add_events(struct jnl_batch *b, uint64_t *next, size_t count, size_t key_len)
{
	for (size_t i = 0; i < count; i++) {
		char key[2048];
		event_key(key, sizeof(key), *next, key_len);
		struct fsm_event ev = {.kind = FSM_EV_TIMER, .ts_ms = *next, .u.timer.key = key};
		int rc = jnl_batch_add(b, &ev);
		if (rc != 0)
			return rc;
		(*next)++;
	}
	return 0;
}

/* Entries first_seq.. hold events numbered first_n.. (all the way to the tip). */
static void check_entries(struct jnl *j, uint64_t first_seq, uint64_t first_n, size_t key_len)
{
	struct jnl_iter *it;
	int rc = jnl_iter_open(j, first_seq, &it);
	CHECKF(rc == 0, "jnl_iter_open: %s", jnl_strerror(rc));
	if (rc != 0)
		return;
	struct jnl_entry e;
	struct jnl_damage dmg = {0};
	uint64_t seq = first_seq, n = first_n;
	while ((rc = jnl_iter_next(it, &e, &dmg)) == 0) {
		char key[2048];
		event_key(key, sizeof(key), n, key_len);
		if (e.ev.seq != seq || e.ev.kind != FSM_EV_TIMER ||
		    strcmp(e.ev.u.timer.key, key) != 0) {
			test_fail(__FILE__, __LINE__,
			          "seq %" PRIu64 " does not hold event %" PRIu64, seq, n);
			break;
		}
		seq++;
		n++;
	}
	CHECKF(rc == 0 || rc == JNL_EEND, "reading back at seq %" PRIu64 ": %s (%s)", seq,
	       jnl_strerror(rc), dmg.what);
	CHECK_EQ_INT(seq, jnl_tip_seq(j) + 1);
	jnl_iter_close(it);
}

static void check_verifies(struct jnl *j, const char *when)
{
	struct jnl_damage dmg = {0};
	int rc = jnl_verify(j, &dmg);
	CHECKF(rc == 0, "%s: jnl_verify: %s at seq %" PRIu64 " (%s)", when, jnl_strerror(rc),
	       dmg.seq, dmg.what);
}

/* A second, read-only handle sees a valid journal at `tip`. */
static void check_reader_sees(const char *dir, uint64_t tip, const char *when)
{
	struct jnl *r = NULL;
	struct jnl_damage dmg = {0};
	struct jnl_options ro = {.readonly = true};
	int rc = jnl_open(&r, dir, &ro, &dmg);
	CHECKF(rc == 0, "%s: read-only open: %s (%s)", when, jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	CHECKF(jnl_tip_seq(r) == tip, "%s: a reader sees tip %" PRIu64 ", not %" PRIu64, when,
	       jnl_tip_seq(r), tip);
	check_verifies(r, when);
	jnl_close(r);
}

/* The exit code of an isolated child whose failed checks printed themselves
 * (not 1, which is what a sanitizer exits with after its report). */
#define CHILD_CHECKS_FAILED 42

/* Runs fn in a child process, so that a fault signal fails the test instead of
 * ending the run, and so that a mount namespace dies with it. The child's
 * failed checks print themselves. */
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

/* ---- the full filesystem ---- */

/* Fills the filesystem of `path` with it, then gives back all but `room` bytes
 * of what was free. Returns the filler's size, or -errno. */
static long long fill(const char *path, size_t room)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	static char block[64 << 10];
	memset(block, 'f', sizeof(block));
	long long size = 0;
	for (;;) {
		ssize_t w = write(fd, block, sizeof(block));
		if (w <= 0)
			break;
		size += w;
	}
	long long keep = size > (long long)room ? size - (long long)room : 0;
	int rc = ftruncate(fd, keep) == 0 ? 0 : -errno;
	close(fd);
	return rc != 0 ? rc : keep;
}

struct full_ctx {
	char mnt[700];
	char dir[800];
	char filler[800];
	size_t room; /* left free beside the filler */
};

/* The part that needs the mount; the caller mounts and unmounts. */
static void full_disk_body(struct full_ctx *c)
{
	struct jnl *j = NULL;
	struct jnl_damage dmg = {0};
	int rc = jnl_open(&j, c->dir, NULL, &dmg);
	CHECKF(rc == 0, "jnl_open on tmpfs: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	struct jnl_batch *b;
	if (jnl_batch_new(j, &b) != 0) {
		jnl_close(j);
		return;
	}
	const size_t key_len = 300, per_batch = 100;
	uint64_t next = 1;
	/* Some history first, and a snapshot of it. */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(add_events(b, &next, per_batch, key_len), 0);
		CHECK_EQ_INT(jnl_batch_commit(b), 0);
	}
	long long filler = fill(c->filler, c->room);
	CHECKF(filler > 0, "cannot fill %s: %s", c->mnt, strerror((int)-filler));

	/* Appends until the disk is full. */
	uint64_t tip = jnl_tip_seq(j), first_n = 0;
	rc = 0;
	for (int i = 0; i < BATCHES_MAX && rc == 0; i++) {
		tip = jnl_tip_seq(j);
		first_n = next;
		CHECK_EQ_INT(add_events(b, &next, per_batch, key_len), 0);
		rc = jnl_batch_commit(b);
	}
	CHECKF(rc == -ENOSPC,
	       "an append on a full disk (%zu bytes were left free) returned %d (%s), not -ENOSPC",
	       c->room, rc, jnl_strerror(rc));
	CHECKF(strcmp(jnl_strerror(rc), strerror(ENOSPC)) == 0,
	       "the failed append is named \"%s\", not \"%s\"", jnl_strerror(rc), strerror(ENOSPC));
	CHECK_EQ_INT(jnl_batch_count(b), per_batch);
	CHECK_EQ_INT(jnl_tip_seq(j), tip);
	check_verifies(j, "after ENOSPC (the writer's handle)");
	check_reader_sees(c->dir, tip, "after ENOSPC");
	check_entries(j, 1, 1, key_len);

	/* Still full: the same commit fails the same way and keeps the batch. */
	rc = jnl_batch_commit(b);
	CHECKF(rc == -ENOSPC, "a second try on a full disk returned %s", jnl_strerror(rc));
	CHECK_EQ_INT(jnl_batch_count(b), per_batch);
	CHECK_EQ_INT(jnl_tip_seq(j), tip);
	/* A snapshot cannot be stored either, and says why. */
	struct fsm_state s;
	fsm_state_init(&s);
	s.last_seq = tip;
	rc = jnl_snapshot_put(j, &s);
	CHECKF(rc == 0 || rc == -ENOSPC, "a snapshot on a full disk returned %s", jnl_strerror(rc));
	check_verifies(j, "after a second ENOSPC");

	/* Space returns: the very same batch commits, at the seqs it was given. */
	CHECK(unlink(c->filler) == 0);
	rc = jnl_batch_commit(b);
	CHECKF(rc == 0, "the retried commit after space returned: %s", jnl_strerror(rc));
	CHECK_EQ_INT(jnl_batch_count(b), 0);
	CHECK_EQ_INT(jnl_tip_seq(j), tip + per_batch);
	check_entries(j, tip + 1, first_n, key_len);
	check_verifies(j, "after the retried commit");
	/* And appending goes on. */
	CHECK_EQ_INT(add_events(b, &next, per_batch, key_len), 0);
	CHECK_EQ_INT(jnl_batch_commit(b), 0);
	uint64_t final_tip = jnl_tip_seq(j);
	jnl_batch_free(b);
	jnl_close(j);

	rc = jnl_open(&j, c->dir, NULL, &dmg);
	CHECKF(rc == 0, "reopen: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc == 0) {
		CHECK_EQ_INT(jnl_tip_seq(j), final_tip);
		check_verifies(j, "after reopen");
		check_entries(j, 1, 1, key_len);
		jnl_close(j);
	}
	fsm_state_free(&s);
}

static void run_full_disk(void *arg)
{
	struct full_ctx *c = arg;
	/* A mount namespace of our own, so the mount cannot outlive this child
	 * whatever happens; when that is refused, the mount is still detached
	 * below on every path. */
	if (unshare(CLONE_NEWNS) == 0)
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	if (mount("tmpfs", c->mnt, "tmpfs", 0, TMPFS_OPTS) != 0) {
		test_fail(__FILE__, __LINE__, "cannot mount tmpfs on %s: %s", c->mnt,
		          strerror(errno));
		return;
	}
	full_disk_body(c);
	if (umount2(c->mnt, MNT_DETACH) != 0)
		test_fail(__FILE__, __LINE__, "umount2 %s: %s", c->mnt, strerror(errno));
}

static void full_disk(size_t room)
{
	static struct full_ctx c;
	snprintf(c.mnt, sizeof(c.mnt), "%s/mnt", test_tmpdir());
	snprintf(c.dir, sizeof(c.dir), "%s/j", c.mnt);
	snprintf(c.filler, sizeof(c.filler), "%s/filler", c.mnt);
	c.room = room;
	if (mkdir(c.mnt, 0700) != 0) {
		test_fail(__FILE__, __LINE__, "mkdir %s: %s", c.mnt, strerror(errno));
		return;
	}
	isolated("full disk", run_full_disk, &c);
	/* Whatever the child did, nothing stays mounted here. */
	umount2(c.mnt, MNT_DETACH);
}

/* A little room left: the failing commit writes some of its pages, then runs
 * out (a short write). */
TEST(full_disk_is_enospc_and_the_same_batch_commits_later)
{
	full_disk(ROOM_BYTES);
}

/* No room at all: the failing commit cannot write its first page. */
TEST(exactly_full_disk_is_enospc_and_the_same_batch_commits_later)
{
	full_disk(0);
}

/* ---- the map ---- */

static void commit_events(struct jnl *j, uint64_t *next, size_t count, size_t key_len, int *rc)
{
	struct jnl_batch *b;
	*rc = jnl_batch_new(j, &b);
	if (*rc != 0)
		return;
	*rc = add_events(b, next, count, key_len);
	if (*rc == 0)
		*rc = jnl_batch_commit(b);
	jnl_batch_free(b);
}

TEST(map_grows_from_a_small_start)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	struct jnl_options opt = {.map_bytes_initial = 256 << 10};
	struct jnl *j = NULL, *r = NULL;
	struct jnl_damage dmg = {0};
	int rc = jnl_open(&j, dir, &opt, &dmg);
	CHECKF(rc == 0, "jnl_open: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	size_t map0 = jnl_map_bytes(j);
	CHECKF(map0 <= (512 << 10), "the map starts at %zu bytes, 256 KiB was asked", map0);
	const size_t key_len = 1000;
	uint64_t next = 1;
	commit_events(j, &next, 10, key_len, &rc);
	CHECK_EQ_INT(rc, 0);
	/* A reader in this process, opened while the map is small. */
	struct jnl_options ro = {.readonly = true, .map_bytes_initial = 256 << 10};
	rc = jnl_open(&r, dir, &ro, &dmg);
	CHECKF(rc == 0, "reader: %s (%s)", jnl_strerror(rc), dmg.what);

	/* About 6 MiB, in batches of ~100 KiB. */
	for (int i = 0; i < 60 && rc == 0; i++)
		commit_events(j, &next, 100, key_len, &rc);
	CHECKF(rc == 0, "appending past the initial map: %s", jnl_strerror(rc));
	CHECKF(jnl_map_bytes(j) >= (size_t)4 << 20, "the map is %zu bytes after 6 MiB of appends",
	       jnl_map_bytes(j));
	CHECK_EQ_INT(jnl_tip_seq(j), next - 1);
	check_verifies(j, "after growth");
	check_entries(j, 1, 1, key_len);
	if (r != NULL) {
		/* The reader follows the writer's larger map. */
		CHECK_EQ_INT(jnl_refresh(r), 0);
		CHECK_EQ_INT(jnl_tip_seq(r), next - 1);
		check_verifies(r, "the reader, after the writer grew the map");
		check_entries(r, 1, 1, key_len);
		CHECKF(jnl_map_bytes(r) >= (size_t)4 << 20, "the reader's map is %zu bytes",
		       jnl_map_bytes(r));
		jnl_close(r);
	}
	jnl_close(j);

	/* Reopened with the same small start, it opens at its size and grows on. */
	rc = jnl_open(&j, dir, &opt, &dmg);
	CHECKF(rc == 0, "reopen: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	for (int i = 0; i < 30 && rc == 0; i++)
		commit_events(j, &next, 100, key_len, &rc);
	CHECKF(rc == 0, "appending after reopen: %s", jnl_strerror(rc));
	check_verifies(j, "after reopen and growth");
	check_entries(j, 1, 1, key_len);
	jnl_close(j);
}

/*
 * A writer that reads its own journal while it appends (an iterator on the same
 * handle): the map may have to grow under the open read transaction. The
 * entries the iterator returns must stay readable and right, or the commit must
 * fail cleanly; the process must not fault.
 */
static void run_iter_across_growth(void *arg)
{
	const char *dir = arg;
	struct jnl_options opt = {.map_bytes_initial = 256 << 10};
	struct jnl *j = NULL;
	struct jnl_damage dmg = {0};
	int rc = jnl_open(&j, dir, &opt, &dmg);
	CHECKF(rc == 0, "jnl_open: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	const size_t key_len = 1000;
	uint64_t next = 1;
	commit_events(j, &next, 100, key_len, &rc);
	CHECK_EQ_INT(rc, 0);
	size_t map0 = jnl_map_bytes(j);
	struct jnl_iter *it;
	REQUIRE(jnl_iter_open(j, 0, &it) == 0);
	struct jnl_entry e;
	CHECK_EQ_INT(jnl_iter_next(it, &e, &dmg), 0);
	/* Appends that need a larger map while the iterator is open. */
	for (int i = 0; i < 40 && rc == 0; i++)
		commit_events(j, &next, 100, key_len, &rc);
	CHECKF(rc == 0 || jnl_map_bytes(j) == map0,
	       "a commit failed (%s) after the map grew from %zu to %zu", jnl_strerror(rc), map0,
	       jnl_map_bytes(j));
	/* The iterator reads on, to the tip it was opened at, intact. */
	uint64_t seq = 1;
	char key[2048];
	for (;;) {
		event_key(key, sizeof(key), seq, key_len);
		if (e.ev.seq != seq || strcmp(e.ev.u.timer.key, key) != 0) {
			test_fail(__FILE__, __LINE__,
			          "an iterator open while the map grew from %zu to %zu bytes "
			          "returned "
			          "wrong data at seq %" PRIu64,
			          map0, jnl_map_bytes(j), seq);
			break;
		}
		seq++;
		rc = jnl_iter_next(it, &e, &dmg);
		if (rc != 0)
			break;
	}
	CHECKF(rc == JNL_EEND && seq == 101,
	       "an iterator open while the map grew from %zu to %zu bytes failed at seq %" PRIu64
	       " with %s (%s), not at 101 with the end",
	       map0, jnl_map_bytes(j), seq, jnl_strerror(rc), dmg.what);
	jnl_iter_close(it);
	check_verifies(j, "after growth under an iterator");
	jnl_close(j);
}

TEST(map_growth_under_an_open_iterator_does_not_fault)
{
	static char dir[700];
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	isolated("iterator across map growth", run_iter_across_growth, dir);
}

TEST(map_limit_is_elimit_and_the_journal_stays_valid)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	struct jnl_options opt = {.map_bytes_initial = 256 << 10, .map_bytes_max = 1 << 20};
	struct jnl *j = NULL;
	struct jnl_damage dmg = {0};
	int rc = jnl_open(&j, dir, &opt, &dmg);
	CHECKF(rc == 0, "jnl_open: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	const size_t key_len = 1000, per_batch = 50;
	uint64_t next = 1, tip = 0, first_n = 0;
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	for (int i = 0; i < 100 && rc == 0; i++) {
		tip = jnl_tip_seq(j);
		first_n = next;
		CHECK_EQ_INT(add_events(b, &next, per_batch, key_len), 0);
		rc = jnl_batch_commit(b);
	}
	CHECKF(rc == JNL_ELIMIT, "appending past map_bytes_max returned %d (%s), not JNL_ELIMIT",
	       rc, jnl_strerror(rc));
	CHECK(jnl_strerror(JNL_ELIMIT)[0] != '\0');
	CHECKF(jnl_map_bytes(j) <= (size_t)1 << 20, "the map grew to %zu, past its limit of 1 MiB",
	       jnl_map_bytes(j));
	CHECK_EQ_INT(jnl_batch_count(b), per_batch);
	CHECK_EQ_INT(jnl_tip_seq(j), tip);
	check_verifies(j, "at the map limit");
	check_entries(j, 1, 1, key_len);
	check_reader_sees(dir, tip, "at the map limit");
	/* Again: the same answer, nothing changed. */
	CHECK_EQ_INT(jnl_batch_commit(b), JNL_ELIMIT);
	CHECK_EQ_INT(jnl_tip_seq(j), tip);
	jnl_batch_free(b);
	jnl_close(j);

	/* With a higher limit, the journal takes the same events on. */
	opt.map_bytes_max = 8 << 20;
	rc = jnl_open(&j, dir, &opt, &dmg);
	CHECKF(rc == 0, "reopen with a higher limit: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	CHECK_EQ_INT(jnl_tip_seq(j), tip);
	next = first_n;
	commit_events(j, &next, per_batch, key_len, &rc);
	CHECKF(rc == 0, "appending under a higher limit: %s", jnl_strerror(rc));
	CHECK_EQ_INT(jnl_tip_seq(j), tip + per_batch);
	check_verifies(j, "after the limit was raised");
	check_entries(j, 1, 1, key_len);
	jnl_close(j);
}

TEST_MAIN("journal/diskfull", T(full_disk_is_enospc_and_the_same_batch_commits_later),
          T(exactly_full_disk_is_enospc_and_the_same_batch_commits_later),
          T(map_grows_from_a_small_start), T(map_growth_under_an_open_iterator_does_not_fault),
          T(map_limit_is_elimit_and_the_journal_stays_valid))
