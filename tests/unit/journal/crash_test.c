/*
 * crash_test.c — the journal under SIGKILL (journal.h: "a batch is one LMDB write
 * transaction and one durable commit").
 *
 * A child process is the journal's writer: it folds and appends batches of
 * 1..200 events of several kinds (some with decisions), takes snapshots and, in
 * the second phase, compacts. The parent kills it at a random moment, then opens
 * the journal as the next writer would and holds what a restart relies on: the
 * journal opens and verifies, seqs are contiguous, every record decodes to
 * exactly what was appended, the newest batch is whole (never partial), no
 * commit that returned to the writer is lost, nothing committed before changes,
 * ts_ms never goes back, the next writer resumes at the tip, and snapshot +
 * tail equals the full fold (DESIGN.md contract 6).
 *
 * Every event carries a tag "r<round>/b<first seq of its batch>/<i>/<n>", from
 * which the parent regenerates the whole event (gen_event) and compares it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "replay.h"
#include "test.h"

/* Kills per run (the issue asks for at least 50), and the round at which the
 * second phase (compaction on; snapshots only at a seq the parent has seen)
 * begins. */
#define ROUNDS             60
#define ROUNDS_PHASE_A     36
#define KILL_DELAY_US_MAX  30000
#define BATCH_EVENTS_MAX   200
/* The child pauses up to this long between batches, as the daemon's loop would
 * between turns; it bounds how much the journal grows per round, and so the
 * run's length, without making the kill moments less random. */
#define CHILD_PAUSE_US_MAX 1500
/* Round at which the parent also holds "one writer" and "a reader reads while
 * the writer appends". */
#define LOCK_ROUND         3

/* Child exit codes: it is only ever meant to die of SIGKILL. */
enum {
	CHILD_EOPEN = 10,
	CHILD_EREPLAY,
	CHILD_ESTATE,
	CHILD_EADD,
	CHILD_EFOLD,
	CHILD_EDECIDE,
	CHILD_ECOMMIT,
	CHILD_ESNAPSHOT,
	CHILD_ECOMPACT,
	CHILD_EPIPE,
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* ---- the events: one function makes them for the child and for the check ---- */

struct gen {
	char tag[64];
	char pad[420];
	char str[800];
	char cmd_id[3][96];
	struct fsm_event ev;
	struct fsm_command cmds[3];
	size_t ncmd;
};

static const enum fsm_event_kind gen_kinds[] = {
        FSM_EV_TIMER,  FSM_EV_TIMER,         FSM_EV_API_POD,
        FSM_EV_EFFECT, FSM_EV_CRI_CONTAINER, FSM_EV_NODE_CONFIG,
};

/* Event i of n in the batch that starts at seq `first`, appended in `round`. Its
 * payload is 100..400 bytes; ts_ms and wall_ms are left to the caller. */
static void gen_event(struct gen *g, unsigned round, uint64_t first, unsigned i, unsigned n)
{
	memset(&g->ev, 0, sizeof(g->ev));
	snprintf(g->tag, sizeof(g->tag), "r%u/b%" PRIu64 "/%u/%u", round, first, i, n);
	size_t pad_len = 100 + (size_t)((first * 31 + i * 17) % 301);
	memset(g->pad, 'a' + (int)((first + i) % 26), pad_len);
	g->pad[pad_len] = '\0';
	enum fsm_event_kind k =
	        gen_kinds[(first * 7 + i * 3) % (sizeof(gen_kinds) / sizeof(gen_kinds[0]))];
	g->ev.kind = k;
	switch (k) {
	case FSM_EV_TIMER:
		snprintf(g->str, sizeof(g->str), "%s %s", g->tag, g->pad);
		g->ev.u.timer.key = g->str;
		break;
	case FSM_EV_API_POD:
		/* Three pods at most, so that the fold's state (and each snapshot)
		 * stays small however long the run. */
		snprintf(g->str, sizeof(g->str),
		         "{\"tag\":\"%s\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%u\","
		         "\"namespace\":"
		         "\"default\",\"uid\":\"u-crash-%u\"},\"pad\":\"%s\"}",
		         g->tag, (unsigned)((first + i) % 3), (unsigned)((first + i) % 3), g->pad);
		g->ev.u.api_pod.type = FSM_WATCH_MODIFIED;
		g->ev.u.api_pod.object = g->str;
		g->ev.u.api_pod.object_len = strlen(g->str);
		break;
	case FSM_EV_EFFECT:
		snprintf(g->str, sizeof(g->str), "%s", g->tag);
		g->ev.u.effect =
		        (struct fsm_ev_effect){g->str, i % 2 == 0, FSM_ERR_TRANSIENT, "", g->pad};
		break;
	case FSM_EV_CRI_CONTAINER:
		snprintf(g->str, sizeof(g->str), "%s", g->tag);
		g->ev.u.cri_container = (struct fsm_ev_cri_container){
		        g->str,     "web", i,      "cid", FSM_CONTAINER_RUNNING,
		        (int32_t)i, "",    g->pad, 1,     2};
		break;
	case FSM_EV_NODE_CONFIG:
		snprintf(g->str, sizeof(g->str),
		         "{\"tag\":\"%s\",\"nodeName\":\"n1\",\"pad\":\"%s\"}", g->tag, g->pad);
		g->ev.u.node_config.config = g->str;
		g->ev.u.node_config.config_len = strlen(g->str);
		break;
	default:
		break;
	}
	g->ncmd = (first + i) % 4 == 0 ? 1 + i % 3 : 0;
	for (size_t c = 0; c < g->ncmd; c++) {
		snprintf(g->cmd_id[c], sizeof(g->cmd_id[c]), "cmd-%s-%zu", g->tag, c);
		g->cmds[c] = (struct fsm_command){.kind = FSM_CMD_TIMER_SET,
		                                  .id = g->cmd_id[c],
		                                  .pod_uid = "",
		                                  .container = "",
		                                  .key = g->tag,
		                                  .due_ms = 1000 + c,
		                                  .image = ""};
	}
}

/* The field that starts with the tag, as bytes (a decoded `bytes` field is not
 * NUL-terminated). */
static void ev_tag_field(const struct fsm_event *ev, const char **p, size_t *len)
{
	static const char json_prefix[] = "{\"tag\":\"";
	*p = NULL;
	*len = 0;
	switch (ev->kind) {
	case FSM_EV_TIMER:
		*p = ev->u.timer.key;
		*len = strlen(*p);
		break;
	case FSM_EV_EFFECT:
		*p = ev->u.effect.cmd;
		*len = strlen(*p);
		break;
	case FSM_EV_CRI_CONTAINER:
		*p = ev->u.cri_container.pod_uid;
		*len = strlen(*p);
		break;
	case FSM_EV_API_POD:
	case FSM_EV_NODE_CONFIG: {
		const char *o = ev->kind == FSM_EV_API_POD ? ev->u.api_pod.object
		                                           : ev->u.node_config.config;
		size_t n = ev->kind == FSM_EV_API_POD ? ev->u.api_pod.object_len
		                                      : ev->u.node_config.config_len;
		if (o != NULL && n > sizeof(json_prefix) - 1 &&
		    memcmp(o, json_prefix, sizeof(json_prefix) - 1) == 0) {
			*p = o + sizeof(json_prefix) - 1;
			*len = n - (sizeof(json_prefix) - 1);
		}
		break;
	}
	default:
		break;
	}
}

struct tag {
	unsigned round, i, n;
	uint64_t first;
};

static bool ev_tag(const struct fsm_event *ev, struct tag *t)
{
	const char *p;
	size_t len;
	ev_tag_field(ev, &p, &len);
	if (p == NULL)
		return false;
	char buf[64];
	size_t m = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	memcpy(buf, p, m);
	buf[m] = '\0';
	return sscanf(buf, "r%u/b%" SCNu64 "/%u/%u", &t->round, &t->first, &t->i, &t->n) == 4;
}

static bool bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The payload and the decision of got equal what gen made (seq and times aside). */
static bool entry_matches(const struct jnl_entry *got, const struct gen *want)
{
	const struct fsm_event *a = &got->ev, *b = &want->ev;
	if (a->kind != b->kind)
		return false;
	bool same = false;
	switch (a->kind) {
	case FSM_EV_TIMER:
		same = str_eq(a->u.timer.key, b->u.timer.key);
		break;
	case FSM_EV_API_POD:
		same = a->u.api_pod.type == b->u.api_pod.type &&
		       bytes_eq(a->u.api_pod.object, a->u.api_pod.object_len, b->u.api_pod.object,
		                b->u.api_pod.object_len);
		break;
	case FSM_EV_EFFECT:
		same = str_eq(a->u.effect.cmd, b->u.effect.cmd) &&
		       a->u.effect.ok == b->u.effect.ok &&
		       a->u.effect.error_class == b->u.effect.error_class &&
		       str_eq(a->u.effect.result, b->u.effect.result);
		break;
	case FSM_EV_CRI_CONTAINER: {
		const struct fsm_ev_cri_container *x = &a->u.cri_container,
		                                  *y = &b->u.cri_container;
		same = str_eq(x->pod_uid, y->pod_uid) && str_eq(x->name, y->name) &&
		       x->attempt == y->attempt && str_eq(x->id, y->id) && x->state == y->state &&
		       x->exit_code == y->exit_code && str_eq(x->message, y->message) &&
		       x->started_at_ms == y->started_at_ms &&
		       x->finished_at_ms == y->finished_at_ms;
		break;
	}
	case FSM_EV_NODE_CONFIG:
		same = bytes_eq(a->u.node_config.config, a->u.node_config.config_len,
		                b->u.node_config.config, b->u.node_config.config_len);
		break;
	default:
		break;
	}
	if (!same || got->ncmd != want->ncmd)
		return false;
	for (size_t c = 0; c < want->ncmd; c++) {
		const struct fsm_command *x = &got->cmds[c], *y = &want->cmds[c];
		if (x->kind != y->kind || !str_eq(x->id, y->id) || !str_eq(x->key, y->key) ||
		    x->due_ms != y->due_ms)
			return false;
	}
	return true;
}

/* ---- the child: the writer that gets killed ---- */

/* What the child tells the parent through a pipe, one message per write (well
 * under PIPE_BUF, so never torn). */
enum { REPORT_READY = 1, REPORT_COMMITTED = 2 };
struct report_msg {
	uint64_t kind;
	uint64_t seq; /* READY: the tip it opened at; COMMITTED: the tip after a commit */
};

static bool report(int fd, uint64_t kind, uint64_t seq)
{
	struct report_msg m = {kind, seq};
	return write(fd, &m, sizeof(m)) == (ssize_t)sizeof(m);
}

static void child_fail(int code, const char *what, int rc)
{
	fprintf(stderr, "crash_test child %d: %s%s%s\n", (int)getpid(), what, rc != 0 ? ": " : "",
	        rc != 0 ? jnl_strerror(rc) : "");
	_exit(code);
}

/*
 * Appends until killed. In phase B it compacts, and snapshots only the state at
 * the tip it opened at (which the parent has checked and folded), so that
 * compaction never removes an entry the parent has not seen.
 */
__attribute__((noreturn)) static void child_run(const char *dir, unsigned round, bool phase_b,
                                                int report_fd)
{
	struct jnl *j;
	struct jnl_damage dmg;
	struct jnl_options opt = {.map_bytes_initial = (size_t)1 << 20};
	int rc = jnl_open(&j, dir, &opt, &dmg);
	if (rc != 0)
		child_fail(CHILD_EOPEN, dmg.what, rc);
	struct fsm_state s;
	struct replay_stats st;
	rc = replay_state(j, true, &s, &st, &dmg);
	if (rc != 0)
		child_fail(CHILD_EREPLAY, dmg.what, rc);
	if (s.last_seq != jnl_tip_seq(j))
		child_fail(CHILD_ESTATE, "replayed state is not at the tip", 0);
	uint64_t tip = jnl_tip_seq(j);
	struct jnl_retention ret = {.bytes_max = 16 << 10};
	struct jnl_compaction res;
	if (phase_b && tip > 0) {
		/* Everything before the open tip goes: what the last round appended. */
		if ((rc = jnl_snapshot_put(j, &s)) != 0)
			child_fail(CHILD_ESNAPSHOT, "snapshot at the open tip", rc);
		if ((rc = jnl_compact(j, &ret, &res)) != 0)
			child_fail(CHILD_ECOMPACT, "compact at open", rc);
	}
	/* Ready to append: the parent's kill delay may count from here. */
	if (!report(report_fd, REPORT_READY, tip))
		child_fail(CHILD_EPIPE, "cannot report the tip", -errno);

	struct jnl_batch *b;
	if ((rc = jnl_batch_new(j, &b)) != 0)
		child_fail(CHILD_EADD, "batch_new", rc);
	struct fsm_out out = {0};
	static struct gen g;
	for (unsigned nb = 0;; nb++) {
		uint64_t first = jnl_tip_seq(j) + 1;
		unsigned n = 1 + (unsigned)(test_rand() % BATCH_EVENTS_MAX);
		for (unsigned i = 0; i < n; i++) {
			gen_event(&g, round, first, i, n);
			/* Sometimes behind the floor: the journal must raise it. */
			g.ev.ts_ms = test_rand() % 8 == 0 ? 0 : mono_ms();
			g.ev.wall_ms = wall_ms();
			if ((rc = jnl_batch_add(b, &g.ev)) != 0)
				child_fail(CHILD_EADD, "batch_add", rc);
			if (g.ev.seq != first + i)
				child_fail(CHILD_EADD, "batch_add stamped a wrong seq", 0);
			fsm_out_reset(&out);
			if ((rc = fsm_fold(&s, &g.ev, &out)) != 0)
				child_fail(CHILD_EFOLD, fsm_strerror(rc), 0);
			if (g.ncmd > 0 && (rc = jnl_batch_decide(b, g.cmds, g.ncmd)) != 0)
				child_fail(CHILD_EDECIDE, "batch_decide", rc);
		}
		if ((rc = jnl_batch_commit(b)) != 0)
			child_fail(CHILD_ECOMMIT, "batch_commit", rc);
		/* Acknowledged: whatever happens next, this batch must survive. (A
		 * full pipe drops the report rather than stall the writer.) */
		report(report_fd, REPORT_COMMITTED, jnl_tip_seq(j));
		if (!phase_b && nb % 3 == 2 && (rc = jnl_snapshot_put(j, &s)) != 0)
			child_fail(CHILD_ESNAPSHOT, "snapshot_put", rc);
		if (phase_b && test_rand() % 2 == 0) {
			if ((rc = jnl_compact(j, &ret, &res)) != 0)
				child_fail(CHILD_ECOMPACT, "compact", rc);
		}
		sleep_us(test_rand() % CHILD_PAUSE_US_MAX);
	}
}

/* ---- the parent: what a restart finds ---- */

struct seen {
	uint64_t tip, tip_hash, tip_ts_ms;
	uint64_t base;
	struct fsm_state fold; /* the parent's own fold of every entry, from seq 1 */
	unsigned progress_rounds, compacted_rounds, full_folds;
};

/*
 * Reads every entry from the base and checks it against what the child must
 * have written. Folds entries the parent has not folded yet into fold (when
 * fold is not NULL). Returns false after reporting the first fault.
 */
static bool scan(struct jnl *j, const char *who, struct fsm_state *fold, uint64_t *hash_at,
                 uint64_t hash_seq)
{
	struct jnl_iter *it;
	int rc = jnl_iter_open(j, 0, &it);
	if (rc != 0) {
		test_fail(__FILE__, __LINE__, "%s: jnl_iter_open: %s", who, jnl_strerror(rc));
		return false;
	}
	static struct gen want;
	struct fsm_out out = {0};
	struct jnl_entry e;
	struct jnl_damage dmg;
	uint64_t expect = jnl_base_seq(j), ts_prev = 0;
	struct tag last = {0};
	bool ok = true;
	while (ok && (rc = jnl_iter_next(it, &e, &dmg)) == 0) {
		struct tag t;
		if (e.ev.seq != expect) {
			test_fail(__FILE__, __LINE__,
			          "%s: seq %" PRIu64 " where %" PRIu64 " was due", who, e.ev.seq,
			          expect);
			ok = false;
			break;
		}
		if (!ev_tag(&e.ev, &t) || t.i >= t.n || t.first + t.i != e.ev.seq) {
			test_fail(__FILE__, __LINE__,
			          "%s: seq %" PRIu64 " carries no tag of its own", who, e.ev.seq);
			ok = false;
			break;
		}
		/* A batch starts where the one before it ended (the base follows a
		 * snapshot, which is only ever taken at a batch's end). */
		bool starts = e.ev.seq == jnl_base_seq(j) ? true : last.i + 1 == last.n;
		if (starts != (t.i == 0)) {
			test_fail(__FILE__, __LINE__,
			          "%s: seq %" PRIu64 " is event %u of %u of batch %" PRIu64
			          " but the entry before it was event %u of %u of batch %" PRIu64
			          " (a partial batch)",
			          who, e.ev.seq, t.i, t.n, t.first, last.i, last.n, last.first);
			ok = false;
			break;
		}
		gen_event(&want, t.round, t.first, t.i, t.n);
		if (!entry_matches(&e, &want)) {
			test_fail(__FILE__, __LINE__,
			          "%s: seq %" PRIu64 " decodes to something else than was appended",
			          who, e.ev.seq);
			ok = false;
			break;
		}
		if (e.ev.ts_ms < ts_prev) {
			test_fail(__FILE__, __LINE__,
			          "%s: ts_ms went back at seq %" PRIu64 " (%" PRIu64 " < %" PRIu64
			          ")",
			          who, e.ev.seq, e.ev.ts_ms, ts_prev);
			ok = false;
			break;
		}
		if (hash_at != NULL && e.ev.seq == hash_seq)
			*hash_at = e.hash;
		if (fold != NULL && e.ev.seq > fold->last_seq) {
			if (e.ev.seq != fold->last_seq + 1) {
				test_fail(__FILE__, __LINE__,
				          "%s: seqs %" PRIu64 "..%" PRIu64
				          " were compacted before the parent saw them",
				          who, fold->last_seq + 1, e.ev.seq - 1);
				ok = false;
				break;
			}
			fsm_out_reset(&out);
			rc = fsm_fold(fold, &e.ev, &out);
			if (rc != 0) {
				test_fail(__FILE__, __LINE__, "%s: fold of seq %" PRIu64 ": %s",
				          who, e.ev.seq, fsm_strerror(rc));
				ok = false;
				break;
			}
		}
		ts_prev = e.ev.ts_ms;
		last = t;
		expect++;
	}
	if (ok && rc != JNL_EEND) {
		test_fail(__FILE__, __LINE__, "%s: jnl_iter_next at seq %" PRIu64 ": %s (%s)", who,
		          expect, jnl_strerror(rc), dmg.what);
		ok = false;
	}
	/* A reader's iterator reads to the newest commit when it was opened, which may
	 * be past what the handle's last refresh saw. */
	if (ok && (fold == NULL ? expect < jnl_tip_seq(j) + 1 : expect != jnl_tip_seq(j) + 1)) {
		test_fail(__FILE__, __LINE__,
		          "%s: iteration ended at %" PRIu64 ", the tip is %" PRIu64, who,
		          expect - 1, jnl_tip_seq(j));
		ok = false;
	}
	if (ok && expect > jnl_base_seq(j) && last.i + 1 != last.n) {
		test_fail(__FILE__, __LINE__,
		          "%s: the newest batch (seq %" PRIu64 "..) is partial: it ends with event "
		          "%u of %u",
		          who, last.first, last.i + 1, last.n);
		ok = false;
	}
	fsm_out_free(&out);
	jnl_iter_close(it);
	return ok;
}

/* The first field in which two states differ, for a failure message. */
static const char *state_diff(const struct fsm_state *a, const struct fsm_state *b)
{
	if (a->last_seq != b->last_seq)
		return "last_seq";
	if (a->last_ts_ms != b->last_ts_ms)
		return "last_ts_ms";
	if (a->last_wall_ms != b->last_wall_ms)
		return "last_wall_ms";
	if ((a->node_config == NULL) != (b->node_config == NULL) ||
	    a->node_config_len != b->node_config_len ||
	    (a->node_config != NULL &&
	     memcmp(a->node_config, b->node_config, a->node_config_len) != 0))
		return "node_config";
	if (memcmp(a->kind_counts, b->kind_counts, sizeof(a->kind_counts)) != 0)
		return "kind_counts";
	return "a field fsm_state_equal compares and this test does not know";
}

static bool replay_equals(struct jnl *j, bool use_snapshot, const struct fsm_state *want,
                          const char *who)
{
	struct fsm_state s;
	struct replay_stats st;
	struct jnl_damage dmg = {0};
	int rc = replay_state(j, use_snapshot, &s, &st, &dmg);
	bool ok = rc == 0 && fsm_state_equal(&s, want);
	if (rc != 0)
		test_fail(__FILE__, __LINE__, "%s: replay_state(%s): %s (%s)", who,
		          use_snapshot ? "snapshot + tail" : "from seq 1", jnl_strerror(rc),
		          dmg.what);
	else if (!ok)
		test_fail(__FILE__, __LINE__,
		          "%s: replay_state(%s) (snapshot %" PRIu64 ", %" PRIu64
		          " folded) differs from the full fold in %s",
		          who, use_snapshot ? "snapshot + tail" : "from seq 1", st.snapshot_seq,
		          st.folded, state_diff(&s, want));
	fsm_state_free(&s);
	return ok;
}

/* What the restart after round r finds. */
static bool check_round(const char *dir, unsigned r, struct seen *sn)
{
	char who[64];
	snprintf(who, sizeof(who), "after kill %u", r + 1);
	struct jnl *j;
	struct jnl_damage dmg;
	int rc = jnl_open(&j, dir, NULL, &dmg);
	if (rc != 0) {
		test_fail(__FILE__, __LINE__, "%s: jnl_open: %s (%s)", who, jnl_strerror(rc),
		          dmg.what);
		return false;
	}
	bool ok = true;
	rc = jnl_verify(j, &dmg);
	if (rc != 0) {
		test_fail(__FILE__, __LINE__, "%s: jnl_verify: %s at seq %" PRIu64 " (%s)", who,
		          jnl_strerror(rc), dmg.seq, dmg.what);
		ok = false;
	}
	uint64_t tip = jnl_tip_seq(j), base = jnl_base_seq(j);
	if (ok && (tip < sn->tip || base > tip + 1 || base < sn->base)) {
		test_fail(__FILE__, __LINE__,
		          "%s: base..tip went from %" PRIu64 "..%" PRIu64 " to %" PRIu64
		          "..%" PRIu64,
		          who, sn->base, sn->tip, base, tip);
		ok = false;
	}
	if (ok && jnl_tip_ts_ms(j) < sn->tip_ts_ms) {
		test_fail(__FILE__, __LINE__,
		          "%s: the ts_ms floor went back from %" PRIu64 " to %" PRIu64, who,
		          sn->tip_ts_ms, jnl_tip_ts_ms(j));
		ok = false;
	}
	uint64_t old_tip_hash = 0;
	if (ok)
		ok = scan(j, who, &sn->fold, &old_tip_hash, sn->tip);
	/* What was committed before this round is still there, byte for byte: the
	 * chain makes the old tip's checksum stand for every entry before it. */
	if (ok && sn->tip >= base && old_tip_hash != sn->tip_hash) {
		test_fail(__FILE__, __LINE__, "%s: seq %" PRIu64 " changed since it was committed",
		          who, sn->tip);
		ok = false;
	}
	if (ok && sn->fold.last_seq != tip) {
		test_fail(__FILE__, __LINE__,
		          "%s: the parent's fold is at %" PRIu64 ", the tip %" PRIu64, who,
		          sn->fold.last_seq, tip);
		ok = false;
	}
	if (ok)
		ok = replay_equals(j, true, &sn->fold, who);
	/* The fold from seq 1 costs a full read: every few rounds, and after the
	 * last round of phase A. */
	if (ok && base == 1 && (r % 6 == 5 || r + 1 == ROUNDS_PHASE_A || r + 1 == ROUNDS)) {
		ok = replay_equals(j, false, &sn->fold, who);
		sn->full_folds++;
	}
	if (ok) {
		if (tip > sn->tip)
			sn->progress_rounds++;
		if (base > sn->base)
			sn->compacted_rounds++;
		sn->tip = tip;
		sn->base = base;
		sn->tip_ts_ms = jnl_tip_ts_ms(j);
		/* The tip's checksum, for the next round's "nothing committed is lost". */
		struct jnl_iter *it;
		struct jnl_entry e;
		sn->tip_hash = 0;
		if (tip >= base && jnl_iter_open(j, tip, &it) == 0) {
			if (jnl_iter_next(it, &e, &dmg) == 0)
				sn->tip_hash = e.hash;
			jnl_iter_close(it);
		}
	}
	jnl_close(j);
	return ok;
}

/* While the child writes: a second writer is refused, a reader reads. */
static void check_lock_and_reader(const char *dir, pid_t child, uint64_t child_tip)
{
	struct jnl *j = NULL;
	struct jnl_damage dmg;
	int rc = jnl_open(&j, dir, NULL, &dmg);
	CHECKF(rc == JNL_ELOCKED, "a second writer: jnl_open returned %s, not JNL_ELOCKED",
	       jnl_strerror(rc));
	CHECK(j == NULL);
	if (j != NULL)
		jnl_close(j);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)child);
	CHECKF(rc != JNL_ELOCKED || strstr(dmg.what, pid) != NULL,
	       "the refusal does not name the writer's pid %s: \"%s\"", pid, dmg.what);
	CHECKF(rc != JNL_ELOCKED || dmg.err == JNL_ELOCKED, "dmg.err %d", dmg.err);

	struct jnl_options ro = {.readonly = true};
	rc = jnl_open(&j, dir, &ro, &dmg);
	CHECKF(rc == 0, "a reader while the writer appends: %s (%s)", jnl_strerror(rc), dmg.what);
	if (rc != 0)
		return;
	CHECK(jnl_tip_seq(j) >= child_tip);
	struct jnl_batch *b;
	struct fsm_event ev = {.kind = FSM_EV_CLOCK};
	if (jnl_batch_new(j, &b) == 0) {
		CHECK_EQ_INT(jnl_batch_add(b, &ev), JNL_ERDONLY);
		jnl_batch_free(b);
	}
	/* The reader sees the writer's commits as they come. */
	uint64_t tip0 = jnl_tip_seq(j);
	uint64_t deadline = mono_ms() + 3000;
	while (jnl_tip_seq(j) == tip0 && mono_ms() < deadline) {
		sleep_us(2000);
		CHECK_EQ_INT(jnl_refresh(j), 0);
	}
	CHECKF(jnl_tip_seq(j) > tip0,
	       "the reader saw no commit of the writer in 3 s (tip %" PRIu64 ")", tip0);
	/* Reading everything while the writer keeps appending. */
	for (int pass = 0; pass < 2; pass++) {
		CHECK(scan(j, "reader beside the writer", NULL, NULL, 0));
		CHECK_EQ_INT(jnl_refresh(j), 0);
	}
	jnl_close(j);
}

/* What the parent heard from one child. */
struct heard {
	bool ready;
	uint64_t open_tip;
	uint64_t commits;
	uint64_t committed_tip; /* the highest acknowledged */
};

/* Reads the child's reports until one of `want` kind arrives (0: until none is
 * waiting), waiting at most timeout_ms for each. */
static bool hear(int fd, struct heard *h, uint64_t want, int timeout_ms)
{
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, timeout_ms) <= 0)
			return false;
		struct report_msg m;
		if (read(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			return false;
		if (m.kind == REPORT_READY) {
			h->ready = true;
			h->open_tip = m.seq;
		} else if (m.kind == REPORT_COMMITTED) {
			h->commits++;
			if (m.seq > h->committed_tip)
				h->committed_tip = m.seq;
		}
		if (m.kind == want)
			return true;
	}
}

/*
 * When the parent kills, by round: from the fork (open, replay, the snapshot
 * and compaction at open, the first commit), from "ready to append" (building
 * and committing the first batch), or from the first acknowledged commit (the
 * steady state: batches, snapshots, compactions). Then 0..30 ms later, and
 * sometimes at once.
 */
enum kill_from { FROM_FORK, FROM_READY, FROM_FIRST_COMMIT };

static enum kill_from kill_schedule(unsigned r)
{
	/* The first round of phase B waits for its compaction to finish once: it
	 * removes all of phase A, which may take longer than a round. */
	if (r == LOCK_ROUND || r == ROUNDS_PHASE_A)
		return FROM_FIRST_COMMIT;
	static const enum kill_from cycle[8] = {
	        FROM_FORK,         FROM_READY,        FROM_READY,        FROM_READY,
	        FROM_FIRST_COMMIT, FROM_FIRST_COMMIT, FROM_FIRST_COMMIT, FROM_FIRST_COMMIT};
	return cycle[r % 8];
}

TEST(kill_during_appends_leaves_a_whole_journal)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	struct seen sn = {.base = 1};
	fsm_state_init(&sn.fold);
	unsigned reported = 0, mid_open_kills = 0;
	uint64_t acked = 0;
	uint64_t t0 = mono_ms();
	for (unsigned r = 0; r < ROUNDS && !test_failed; r++) {
		bool phase_b = r >= ROUNDS_PHASE_A;
		int pfd[2];
		REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
		fcntl(pfd[1], F_SETFL, O_NONBLOCK);
		fflush(stdout);
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			test_seed ^= (uint64_t)r << 40 | 1; /* a stream of its own */
			child_run(dir, r, phase_b, pfd[1]);
		}
		close(pfd[1]);
		struct heard h = {0};
		enum kill_from from = kill_schedule(r);
		if (from == FROM_FORK) {
			mid_open_kills++;
		} else {
			bool ok = hear(pfd[0], &h, REPORT_READY, 10000);
			CHECKF(ok, "round %u: the writer did not get ready to append in 10 s", r);
			if (ok && r == LOCK_ROUND)
				check_lock_and_reader(dir, pid, h.open_tip);
			if (ok && from == FROM_FIRST_COMMIT)
				CHECKF(hear(pfd[0], &h, REPORT_COMMITTED, 10000),
				       "round %u: the writer committed nothing in 10 s", r);
		}
		sleep_us(test_rand() % 10 == 0 ? 0 : test_rand() % KILL_DELAY_US_MAX);
		kill(pid, SIGKILL);
		int status;
		REQUIRE(waitpid(pid, &status, 0) == pid);
		hear(pfd[0], &h, 0, 0); /* what it said before it died */
		close(pfd[0]);
		CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		       "round %u: the writer ended by itself (exit %d, signal %d) instead of being "
		       "killed",
		       r, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		if (h.ready) {
			reported++;
			CHECKF(h.open_tip == sn.tip,
			       "round %u: the writer resumed at tip %" PRIu64
			       ", the journal's was %" PRIu64,
			       r, h.open_tip, sn.tip);
		}
		acked += h.commits;
		uint64_t acked_tip = h.committed_tip;
		if (!check_round(dir, r, &sn))
			break;
		/* A commit that returned to the writer is never lost. */
		CHECKF(sn.tip >= acked_tip,
		       "after kill %u: the tip is %" PRIu64
		       " but the writer's commit up to %" PRIu64 " had returned",
		       r + 1, sn.tip, acked_tip);
	}
	uint64_t elapsed_ms = mono_ms() - t0;
	if (test_failed) {
		fsm_state_free(&sn.fold);
		return; /* the rest would only restate that the loop stopped early */
	}
	CHECKF(sn.progress_rounds * 2 >= ROUNDS, "the journal grew in only %u of %d rounds",
	       sn.progress_rounds, ROUNDS);
	CHECKF(reported * 2 >= ROUNDS, "only %u of %d writers got ready to append", reported,
	       ROUNDS);
	CHECKF(sn.compacted_rounds > 0, "compaction never moved the base (base %" PRIu64 ")",
	       sn.base);
	CHECKF(sn.full_folds >= 2, "only %u folds from seq 1 were compared", sn.full_folds);
	if (getenv("LEDGERLET_TEST_VERBOSE") != NULL)
		fprintf(stderr,
		        "crash: %d kills in %" PRIu64 " ms, tip %" PRIu64 ", base %" PRIu64
		        ", grew in %u rounds, base moved in %u, %u kills from fork, %" PRIu64
		        " acknowledged commits\n",
		        ROUNDS, elapsed_ms, sn.tip, sn.base, sn.progress_rounds,
		        sn.compacted_rounds, mid_open_kills, acked);
	(void)elapsed_ms;
	fsm_state_free(&sn.fold);
}

TEST_MAIN("journal/crash", T(kill_during_appends_leaves_a_whole_journal))
