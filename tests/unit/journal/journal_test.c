/*
 * journal_test.c — the journal's contract: round trip of every record kind,
 * batches, reopen, the ts_ms floor, one writer, snapshots, retention.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "replay.h"
#include "test.h"

static struct jnl *open_w(const char *dir)
{
	struct jnl *j = NULL;
	struct jnl_damage d;
	int rc = jnl_open(&j, dir, NULL, &d);
	CHECKF(rc == 0, "jnl_open %s: %s (%s)", dir, jnl_strerror(rc), d.what);
	return j;
}

/* One event of each kind, with every field set to something recognisable. */
static struct fsm_event sample(enum fsm_event_kind k, uint64_t ts)
{
	struct fsm_event e = {.kind = k, .ts_ms = ts, .wall_ms = 1700000000000ULL + ts};
	switch (k) {
	case FSM_EV_API_POD:
		e.u.api_pod.type = FSM_WATCH_MODIFIED;
		e.u.api_pod.object = "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"u1\"}}";
		e.u.api_pod.object_len = strlen(e.u.api_pod.object);
		break;
	case FSM_EV_FILE_POD:
		e.u.file_pod = (struct fsm_ev_file_pod){"/etc/m/a.yaml", "{\"kind\":\"Pod\"}", 14, false};
		break;
	case FSM_EV_CRI_SANDBOX:
		e.u.cri_sandbox = (struct fsm_ev_cri_sandbox){"u1", 2, "sb-1", FSM_SANDBOX_READY, "10.1.0.4"};
		break;
	case FSM_EV_CRI_CONTAINER:
		e.u.cri_container = (struct fsm_ev_cri_container){
			"u1", "web", 3, "c-9", FSM_CONTAINER_EXITED, -137, "OOMKilled", "killed", 11, 22};
		break;
	case FSM_EV_CRI_IMAGE:
		e.u.cri_image = (struct fsm_ev_cri_image){"busybox:1", false, "not found", "sha256:ab"};
		break;
	case FSM_EV_PROBE:
		e.u.probe = (struct fsm_ev_probe){"u1", "web", FSM_PROBE_READINESS, true, "HTTP 200"};
		break;
	case FSM_EV_TIMER:
		e.u.timer.key = "backoff/u1/web";
		break;
	case FSM_EV_EFFECT:
		e.u.effect = (struct fsm_ev_effect){"cri.start_container/u1/web/3", false,
						    FSM_ERR_TRANSIENT, "deadline", "c-9"};
		break;
	case FSM_EV_NODE_CONFIG:
		e.u.node_config = (struct fsm_ev_node_config){"{\"nodeName\":\"n1\"}", 17};
		break;
	case FSM_EV_NODE_PRESSURE:
		e.u.node_pressure = (struct fsm_ev_node_pressure){"memory.available", 1 << 20, 1 << 30};
		break;
	case FSM_EV_POD_STATS:
		e.u.pod_stats = (struct fsm_ev_pod_stats){"u1", 1000, 2000, 30, 4};
		break;
	case FSM_EV_API_BACKOFF:
		e.u.api_backoff = (struct fsm_ev_api_backoff){"pods", 812, "LIST pods: HTTP 500"};
		break;
	case FSM_EV_API_OBJECT:
		e.u.api_object = (struct fsm_ev_api_object){"Secret", "ns1", "creds", "812", true,
		                                           "0123456789abcdef"};
		break;
	case FSM_EV_CRI_STATUS:
		e.u.cri_status = (struct fsm_ev_cri_status){true, "", true, "", "", false,
		                                           "NetworkPluginNotReady", "cni not ready"};
		break;
	case FSM_EV_CLOCK:
	case FSM_EV_NONE:
		break;
	}
	return e;
}

static int streq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int event_eq(const struct fsm_event *a, const struct fsm_event *b)
{
	if (a->kind != b->kind || a->seq != b->seq || a->ts_ms != b->ts_ms || a->wall_ms != b->wall_ms)
		return 0;
	switch (a->kind) {
	case FSM_EV_API_POD:
		return a->u.api_pod.type == b->u.api_pod.type &&
		       bytes_eq(a->u.api_pod.object, a->u.api_pod.object_len, b->u.api_pod.object,
				b->u.api_pod.object_len);
	case FSM_EV_FILE_POD:
		return streq(a->u.file_pod.path, b->u.file_pod.path) &&
		       a->u.file_pod.removed == b->u.file_pod.removed &&
		       bytes_eq(a->u.file_pod.object, a->u.file_pod.object_len, b->u.file_pod.object,
				b->u.file_pod.object_len);
	case FSM_EV_CRI_SANDBOX:
		return streq(a->u.cri_sandbox.pod_uid, b->u.cri_sandbox.pod_uid) &&
		       a->u.cri_sandbox.attempt == b->u.cri_sandbox.attempt &&
		       streq(a->u.cri_sandbox.id, b->u.cri_sandbox.id) &&
		       a->u.cri_sandbox.state == b->u.cri_sandbox.state &&
		       streq(a->u.cri_sandbox.ip, b->u.cri_sandbox.ip);
	case FSM_EV_CRI_CONTAINER: {
		const struct fsm_ev_cri_container *x = &a->u.cri_container, *y = &b->u.cri_container;
		return streq(x->pod_uid, y->pod_uid) && streq(x->name, y->name) &&
		       x->attempt == y->attempt && streq(x->id, y->id) && x->state == y->state &&
		       x->exit_code == y->exit_code && streq(x->reason, y->reason) &&
		       streq(x->message, y->message) && x->started_at_ms == y->started_at_ms &&
		       x->finished_at_ms == y->finished_at_ms;
	}
	case FSM_EV_CRI_IMAGE:
		return streq(a->u.cri_image.image, b->u.cri_image.image) &&
		       a->u.cri_image.ok == b->u.cri_image.ok &&
		       streq(a->u.cri_image.error, b->u.cri_image.error) &&
		       streq(a->u.cri_image.image_ref, b->u.cri_image.image_ref);
	case FSM_EV_PROBE:
		return streq(a->u.probe.pod_uid, b->u.probe.pod_uid) &&
		       streq(a->u.probe.container, b->u.probe.container) &&
		       a->u.probe.probe == b->u.probe.probe && a->u.probe.ok == b->u.probe.ok &&
		       streq(a->u.probe.message, b->u.probe.message);
	case FSM_EV_TIMER:
		return streq(a->u.timer.key, b->u.timer.key);
	case FSM_EV_EFFECT:
		return streq(a->u.effect.cmd, b->u.effect.cmd) && a->u.effect.ok == b->u.effect.ok &&
		       a->u.effect.error_class == b->u.effect.error_class &&
		       streq(a->u.effect.error, b->u.effect.error) &&
		       streq(a->u.effect.result, b->u.effect.result);
	case FSM_EV_NODE_CONFIG:
		return bytes_eq(a->u.node_config.config, a->u.node_config.config_len,
				b->u.node_config.config, b->u.node_config.config_len);
	case FSM_EV_NODE_PRESSURE:
		return streq(a->u.node_pressure.signal, b->u.node_pressure.signal) &&
		       a->u.node_pressure.value == b->u.node_pressure.value &&
		       a->u.node_pressure.capacity == b->u.node_pressure.capacity;
	case FSM_EV_POD_STATS:
		return streq(a->u.pod_stats.pod_uid, b->u.pod_stats.pod_uid) &&
		       a->u.pod_stats.memory_bytes == b->u.pod_stats.memory_bytes &&
		       a->u.pod_stats.disk_bytes == b->u.pod_stats.disk_bytes &&
		       a->u.pod_stats.inodes == b->u.pod_stats.inodes &&
		       a->u.pod_stats.pids == b->u.pod_stats.pids;
	case FSM_EV_API_BACKOFF:
		return streq(a->u.api_backoff.resource, b->u.api_backoff.resource) &&
		       a->u.api_backoff.delay_ms == b->u.api_backoff.delay_ms &&
		       streq(a->u.api_backoff.reason, b->u.api_backoff.reason);
	case FSM_EV_API_OBJECT:
		return streq(a->u.api_object.object_kind, b->u.api_object.object_kind) &&
		       streq(a->u.api_object.namespace_, b->u.api_object.namespace_) &&
		       streq(a->u.api_object.name, b->u.api_object.name) &&
		       streq(a->u.api_object.resource_version, b->u.api_object.resource_version) &&
		       a->u.api_object.exists == b->u.api_object.exists &&
		       streq(a->u.api_object.hash, b->u.api_object.hash);
	case FSM_EV_CRI_STATUS:
		return a->u.cri_status.ok == b->u.cri_status.ok &&
		       streq(a->u.cri_status.error, b->u.cri_status.error) &&
		       a->u.cri_status.runtime_ready == b->u.cri_status.runtime_ready &&
		       streq(a->u.cri_status.runtime_reason, b->u.cri_status.runtime_reason) &&
		       streq(a->u.cri_status.runtime_message, b->u.cri_status.runtime_message) &&
		       a->u.cri_status.network_ready == b->u.cri_status.network_ready &&
		       streq(a->u.cri_status.network_reason, b->u.cri_status.network_reason) &&
		       streq(a->u.cri_status.network_message, b->u.cri_status.network_message);
	case FSM_EV_CLOCK:
	case FSM_EV_NONE:
		return 1;
	}
	return 0;
}

/* Appends n events of rotating kinds in batches of `per`; returns the tip. */
static uint64_t append_events(struct jnl *j, size_t n, size_t per, uint64_t ts0)
{
	struct jnl_batch *b;
	if (jnl_batch_new(j, &b) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct fsm_event e = sample((enum fsm_event_kind)(1 + i % (FSM_EV_KIND_COUNT - 1)),
					    ts0 + i);
		CHECK(jnl_batch_add(b, &e) == 0);
		if (jnl_batch_count(b) == per || i + 1 == n) {
			int rc = jnl_batch_commit(b);
			CHECKF(rc == 0, "commit: %s", jnl_strerror(rc));
		}
	}
	jnl_batch_free(b);
	return jnl_tip_seq(j);
}

TEST(every_kind_round_trips)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_event want[FSM_EV_KIND_COUNT];
	struct fsm_command cmd = {.kind = FSM_CMD_TIMER_SET, .id = "t/1", .pod_uid = "u1",
				  .container = "web", .attempt = 2, .key = "backoff/u1/web",
				  .due_ms = 12345, .timeout_s = 30, .image = "img",
				  .body = "{\"a\":1}", .body_len = 7};
	for (int k = 1; k < FSM_EV_KIND_COUNT; k++) {
		want[k] = sample((enum fsm_event_kind)k, 100 + (uint64_t)k);
		REQUIRE(jnl_batch_add(b, &want[k]) == 0);
		CHECK_EQ_INT(want[k].seq, k);
		if (k % 2 == 0)
			REQUIRE(jnl_batch_decide(b, &cmd, 1) == 0);
	}
	REQUIRE(jnl_batch_commit(b) == 0);
	CHECK_EQ_INT(jnl_batch_count(b), 0);
	jnl_batch_free(b);
	jnl_close(j);

	/* Read back after reopening: the same events, the same decisions. */
	j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jnl_tip_seq(j), FSM_EV_KIND_COUNT - 1);
	struct jnl_iter *it;
	REQUIRE(jnl_iter_open(j, 1, &it) == 0);
	struct jnl_entry e;
	struct jnl_damage d;
	int k = 1, rc;
	while ((rc = jnl_iter_next(it, &e, &d)) == 0) {
		CHECKF(event_eq(&e.ev, &want[k]), "kind %d differs after the round trip", k);
		if (k % 2 == 0) {
			REQUIRE(e.ncmd == 1);
			const struct fsm_command *c = &e.cmds[0];
			CHECK(c->kind == FSM_CMD_TIMER_SET);
			CHECK_EQ_STR(c->id, "t/1");
			CHECK_EQ_STR(c->container, "web");
			CHECK_EQ_STR(c->key, "backoff/u1/web");
			CHECK_EQ_INT(c->due_ms, 12345);
			CHECK_EQ_INT(c->timeout_s, 30);
			CHECK_EQ_INT(c->attempt, 2);
			CHECK(bytes_eq(c->body, c->body_len, "{\"a\":1}", 7));
		} else {
			CHECK_EQ_INT(e.ncmd, 0);
		}
		k++;
	}
	CHECK_EQ_INT(rc, JNL_EEND);
	CHECK_EQ_INT(k, FSM_EV_KIND_COUNT);
	jnl_iter_close(it);
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	jnl_close(j);
}

TEST(files_are_private)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	struct jnl *j = open_w(dir);
	REQUIRE(j != NULL);
	append_events(j, 10, 10, 1);
	jnl_close(j);
	struct stat st;
	REQUIRE(stat(dir, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	const char *files[] = {"data.mdb", "lock.mdb", "ledgerlet.lock"};
	for (size_t i = 0; i < 3; i++) {
		char p[700];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		REQUIRE(stat(p, &st) == 0);
		CHECKF((st.st_mode & 0777) == 0600, "%s has mode %o", files[i], st.st_mode & 0777);
	}
}

TEST(batches_are_contiguous_across_reopen)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	CHECK_EQ_INT(append_events(j, 1000, 64, 10), 1000);
	jnl_close(j);
	j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jnl_tip_seq(j), 1000);
	CHECK_EQ_INT(append_events(j, 500, 1, 2000), 1500);
	struct jnl_iter *it;
	REQUIRE(jnl_iter_open(j, 700, &it) == 0);
	struct jnl_entry e;
	uint64_t want = 700;
	while (jnl_iter_next(it, &e, NULL) == 0)
		CHECK_EQ_INT(e.ev.seq, want++);
	CHECK_EQ_INT(want, 1501);
	jnl_iter_close(it);
	jnl_close(j);
}

TEST(ts_ms_never_decreases)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_event e = sample(FSM_EV_CLOCK, 5000);
	REQUIRE(jnl_batch_add(b, &e) == 0);
	struct fsm_event early = sample(FSM_EV_CLOCK, 10);
	REQUIRE(jnl_batch_add(b, &early) == 0);
	CHECK_EQ_INT(early.ts_ms, 5000); /* raised to the floor within a batch */
	REQUIRE(jnl_batch_commit(b) == 0);
	jnl_batch_free(b);
	jnl_close(j);
	j = open_w(test_tmpdir()); /* a restart: the journal's newest ts_ms is the floor */
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jnl_tip_ts_ms(j), 5000);
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_event after = sample(FSM_EV_CLOCK, 3);
	REQUIRE(jnl_batch_add(b, &after) == 0);
	CHECK_EQ_INT(after.ts_ms, 5000);
	CHECK_EQ_INT(after.seq, 3);
	REQUIRE(jnl_batch_commit(b) == 0);
	jnl_batch_free(b);
	jnl_close(j);
}

/*
 * LMDB allows one environment handle per process, so the writer runs in a child
 * and the parent reads, stepping the child through a pipe.
 */
static void child_writer(const char *dir, int go_fd, int done_fd)
{
	struct jnl *w = NULL;
	char c = 0;
	if (jnl_open(&w, dir, NULL, NULL) != 0)
		_exit(2);
	append_events(w, 20, 20, 1);
	if (write(done_fd, "1", 1) != 1 || read(go_fd, &c, 1) != 1)
		_exit(3);
	append_events(w, 5, 5, 100);
	if (write(done_fd, "2", 1) != 1 || read(go_fd, &c, 1) != 1)
		_exit(4);
	jnl_close(w);
	_exit(test_failed ? 5 : 0);
}

TEST(one_writer_many_readers)
{
	int go[2], done[2];
	REQUIRE(pipe(go) == 0 && pipe(done) == 0);
	const char *dir = test_tmpdir(); /* made before the fork, used by both */
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		child_writer(dir, go[0], done[1]);
	char c;
	REQUIRE(read(done[0], &c, 1) == 1);
	struct jnl *w2 = NULL;
	struct jnl_damage d;
	CHECK_EQ_INT(jnl_open(&w2, test_tmpdir(), NULL, &d), JNL_ELOCKED);
	CHECKF(strstr(d.what, "another writer") != NULL, "message: %s", d.what);
	struct jnl_options ro = {.readonly = true};
	struct jnl *r = NULL;
	REQUIRE(jnl_open(&r, test_tmpdir(), &ro, &d) == 0);
	CHECK_EQ_INT(jnl_tip_seq(r), 20);
	REQUIRE(write(go[1], "g", 1) == 1);
	REQUIRE(read(done[0], &c, 1) == 1);
	CHECK_EQ_INT(jnl_tip_seq(r), 20);
	CHECK_EQ_INT(jnl_refresh(r), 0);
	CHECK_EQ_INT(jnl_tip_seq(r), 25);
	CHECK_EQ_INT(jnl_verify(r, &d), 0);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(r, &b) == 0);
	struct fsm_event e = sample(FSM_EV_CLOCK, 1);
	CHECK_EQ_INT(jnl_batch_add(b, &e), JNL_ERDONLY);
	jnl_batch_free(b);
	jnl_close(r);
	REQUIRE(write(go[1], "g", 1) == 1);
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer child status %d", status);
	/* The lock goes with the writer. */
	struct jnl *w = open_w(test_tmpdir());
	CHECK(w != NULL);
	CHECK_EQ_INT(jnl_tip_seq(w), 25);
	jnl_close(w);
}

TEST(reader_of_missing_journal_is_told)
{
	struct jnl_options ro = {.readonly = true};
	struct jnl *r = NULL;
	struct jnl_damage d;
	CHECK_EQ_INT(jnl_open(&r, test_tmpdir(), &ro, &d), JNL_ENOJOURNAL);
	CHECK(strstr(d.what, test_tmpdir()) != NULL);
}

/* Folds everything from the start and from each snapshot: the states agree. */
TEST(snapshot_plus_tail_equals_full_fold)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	struct fsm_state s;
	fsm_state_init(&s);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_out out = {0};
	for (int i = 0; i < 3000; i++) {
		struct fsm_event e = sample((enum fsm_event_kind)(1 + (int)(test_rand() % 12)),
					    (uint64_t)i * 7);
		REQUIRE(jnl_batch_add(b, &e) == 0);
		fsm_out_reset(&out);
		REQUIRE(fsm_fold(&s, &e, &out) == 0);
		REQUIRE(jnl_batch_decide(b, out.cmds, out.n) == 0);
		if (test_rand() % 50 == 0 || i == 2999) {
			REQUIRE(jnl_batch_commit(b) == 0);
			if (test_rand() % 3 == 0)
				REQUIRE(jnl_snapshot_put(j, &s) == 0);
		}
	}
	jnl_batch_free(b);
	fsm_out_free(&out);
	struct fsm_state full, snap;
	struct replay_stats st1, st2;
	struct jnl_damage d;
	REQUIRE(replay_state(j, false, &full, &st1, &d) == 0);
	REQUIRE(replay_state(j, true, &snap, &st2, &d) == 0);
	CHECK(fsm_state_equal(&full, &s));
	CHECK(fsm_state_equal(&snap, &s));
	CHECK_EQ_INT(st1.folded, 3000);
	CHECK(st2.snapshot_seq > 0);
	CHECK_EQ_INT(st2.snapshot_seq + st2.folded, 3000);
	/* A snapshot at or below a seq is the newest one there. */
	struct fsm_state at;
	REQUIRE(jnl_snapshot_get(j, 1500, &at, &d) == 0);
	CHECK(at.last_seq <= 1500 && at.last_seq > 0);
	fsm_state_free(&at);
	CHECK_EQ_INT(jnl_snapshot_get(j, 0, &at, &d), JNL_ENOTFOUND);
	fsm_state_free(&full);
	fsm_state_free(&snap);
	fsm_state_free(&s);
	/* A snapshot must be of a committed seq. */
	struct fsm_state future;
	fsm_state_init(&future);
	future.last_seq = 99999;
	CHECK_EQ_INT(jnl_snapshot_put(j, &future), JNL_EINVAL);
	jnl_close(j);
}

/* Builds a journal with snapshots every `every` entries and returns it open. */
static struct jnl *journal_with_snapshots(const char *dir, int n, int every, uint64_t ts_step)
{
	struct jnl *j = open_w(dir);
	if (j == NULL)
		return NULL;
	struct fsm_state s;
	fsm_state_init(&s);
	struct jnl_batch *b;
	if (jnl_batch_new(j, &b) != 0)
		return j;
	struct fsm_out out = {0};
	for (int i = 1; i <= n; i++) {
		struct fsm_event e = sample(FSM_EV_TIMER, (uint64_t)i * ts_step);
		CHECK(jnl_batch_add(b, &e) == 0);
		fsm_out_reset(&out);
		CHECK(fsm_fold(&s, &e, &out) == 0);
		CHECK(jnl_batch_commit(b) == 0);
		if (i % every == 0)
			CHECK(jnl_snapshot_put(j, &s) == 0);
	}
	fsm_out_free(&out);
	jnl_batch_free(b);
	fsm_state_free(&s);
	return j;
}

TEST(retention_by_age_cuts_at_a_snapshot)
{
	/* 1000 entries, 1 s apart, a snapshot every 100; keep the last 250 s. */
	struct jnl *j = journal_with_snapshots(test_tmpdir(), 1000, 100, 1000);
	REQUIRE(j != NULL);
	struct jnl_retention r = {.age_ms_max = 250 * 1000};
	struct jnl_compaction c;
	REQUIRE(jnl_compact(j, &r, &c) == 0);
	/* The window starts at seq 750; the newest snapshot before it is at 700. */
	CHECK_EQ_INT(c.base_seq, 701);
	CHECK_EQ_INT(jnl_base_seq(j), 701);
	CHECK_EQ_INT(c.removed_entries, 700);
	CHECK_EQ_INT(c.removed_snapshots, 6);
	struct jnl_damage d;
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	/* What remains replays from its snapshot to the same state. */
	struct fsm_state s;
	struct replay_stats st;
	REQUIRE(replay_state(j, true, &s, &st, &d) == 0);
	CHECK_EQ_INT(s.last_seq, 1000);
	CHECK_EQ_INT(s.kind_counts[FSM_EV_TIMER], 1000);
	CHECK_EQ_INT(st.snapshot_seq, 1000);
	fsm_state_free(&s);
	/* Without the snapshot it cannot: the base is no longer 1. */
	CHECK_EQ_INT(replay_state(j, false, &s, &st, &d), JNL_ESNAPSHOT);
	fsm_state_free(&s);
	/* Compacting again with the same window removes nothing. */
	REQUIRE(jnl_compact(j, &r, &c) == 0);
	CHECK_EQ_INT(c.removed_entries, 0);
	CHECK_EQ_INT(jnl_base_seq(j), 701);
	jnl_close(j);
	/* The new base survives a reopen, and appends go on. */
	j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jnl_base_seq(j), 701);
	CHECK_EQ_INT(append_events(j, 10, 10, 2000000), 1010);
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	jnl_close(j);
}

TEST(retention_by_bytes_cuts_at_a_snapshot)
{
	struct jnl *j = journal_with_snapshots(test_tmpdir(), 1000, 300, 1);
	REQUIRE(j != NULL);
	struct jnl_iter *it;
	REQUIRE(jnl_iter_open(j, 1, &it) == 0);
	struct jnl_entry e;
	uint64_t first300 = 0, last500 = 0;
	while (jnl_iter_next(it, &e, NULL) == 0) {
		if (e.ev.seq <= 300)
			first300 += e.raw_len;
		if (e.ev.seq > 500)
			last500 += e.raw_len;
	}
	jnl_iter_close(it);
	struct jnl_retention r = {.bytes_max = last500};
	struct jnl_compaction c;
	REQUIRE(jnl_compact(j, &r, &c) == 0);
	/* The window is 501..1000; the newest snapshot before 501 is at 300. */
	CHECK_EQ_INT(jnl_base_seq(j), 301);
	CHECK_EQ_INT(c.removed_bytes, first300);
	struct jnl_damage d;
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	jnl_close(j);
}

TEST(retention_never_removes_what_no_snapshot_covers)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	append_events(j, 500, 50, 1);
	struct jnl_retention r = {.bytes_max = 1};
	struct jnl_compaction c;
	REQUIRE(jnl_compact(j, &r, &c) == 0);
	CHECK_EQ_INT(c.removed_entries, 0);
	CHECK_EQ_INT(jnl_base_seq(j), 1);
	jnl_close(j);
	/* The only snapshot is at the tip: everything before it may go, it stays. */
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/second", test_tmpdir());
	j = journal_with_snapshots(dir, 200, 200, 1);
	REQUIRE(j != NULL);
	REQUIRE(jnl_compact(j, &r, &c) == 0);
	CHECK_EQ_INT(c.removed_entries, 200);
	CHECK_EQ_INT(jnl_base_seq(j), 201);
	CHECK_EQ_INT(jnl_tip_seq(j), 200);
	struct fsm_state s;
	struct jnl_damage d;
	REQUIRE(jnl_snapshot_get(j, UINT64_MAX, &s, &d) == 0);
	CHECK_EQ_INT(s.last_seq, 200);
	fsm_state_free(&s);
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	CHECK_EQ_INT(append_events(j, 3, 3, 1000), 203);
	CHECK_EQ_INT(jnl_verify(j, &d), 0);
	jnl_close(j);
}

TEST(a_failed_commit_keeps_the_batch)
{
	struct jnl *j = open_w(test_tmpdir());
	REQUIRE(j != NULL);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_event e = sample(FSM_EV_TIMER, 1);
	REQUIRE(jnl_batch_add(b, &e) == 0);
	/* A second batch committing first makes the first one's seqs stale. */
	struct jnl_batch *b2;
	REQUIRE(jnl_batch_new(j, &b2) == 0);
	struct fsm_event e2 = sample(FSM_EV_TIMER, 1);
	REQUIRE(jnl_batch_add(b2, &e2) == 0);
	REQUIRE(jnl_batch_commit(b2) == 0);
	CHECK_EQ_INT(jnl_batch_commit(b), JNL_EINVAL);
	CHECK_EQ_INT(jnl_batch_count(b), 1);
	jnl_batch_free(b);
	jnl_batch_free(b2);
	jnl_close(j);
}

TEST(errors_have_names)
{
	for (int e = JNL_ELIMIT; e <= JNL_EEND; e++) {
		const char *s = jnl_strerror(e);
		CHECKF(s != NULL && s[0] != '\0' && strstr(s, "nknown") == NULL, "code %d", e);
	}
	CHECK(strstr(jnl_strerror(-ENOSPC), "space") != NULL);
}

TEST_MAIN("journal/journal", T(every_kind_round_trips), T(files_are_private),
	  T(batches_are_contiguous_across_reopen), T(ts_ms_never_decreases),
	  T(one_writer_many_readers), T(reader_of_missing_journal_is_told),
	  T(snapshot_plus_tail_equals_full_fold), T(retention_by_age_cuts_at_a_snapshot),
	  T(retention_by_bytes_cuts_at_a_snapshot),
	  T(retention_never_removes_what_no_snapshot_covers), T(a_failed_commit_keeps_the_batch),
	  T(errors_have_names))
