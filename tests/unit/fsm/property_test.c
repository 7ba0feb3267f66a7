/*
 * tests/unit/fsm/property_test.c — properties of the whole fold over streams a
 * seeded node simulator makes (bench/sim.h): determinism (contract 2, 9),
 * snapshot + tail = full fold (contract 6), and invariants a kubelet keeps
 * whatever the runtime and the API do to it.
 *
 * Every stream is a function of LEDGERLET_SEED (the harness prints it on a
 * failure); a failing invariant also names the simulator's seed and the event,
 * and writes the stream up to it as a replay file (journal-replay --events)
 * into the test's directory, which the harness keeps when a test fails.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>

#include "../../../bench/sim.h"
#include "fsm/event_json.h"
#include "journal/codec.h"
#include "journal/journal.h"
#include "replay.h"
#include "test.h"

/* ---- folding a recorded stream ---- */

/* Appends every command of out as a JSON line (the --commands form). */
static void commands_json(const struct fsm_out *out, const struct fsm_event *ev, struct fsm_buf *b)
{
	for (size_t i = 0; i < out->n; i++) {
		int rc = fsm_command_to_json(&out->cmds[i], ev->seq, ev->ts_ms, b);
		if (rc != FSM_JSON_OK)
			fsm_buf_puts(b, "<unwritable command>");
		fsm_buf_putc(b, '\n');
	}
}

/*
 * Folds ev[from..to) into s, appending their commands to cmds (when not NULL)
 * and, when offs is not NULL, offs[i] = where event i's commands start. Returns
 * the first fold error (and stops there), else FSM_OK.
 */
static int fold_range(struct fsm_state *s, const struct fsm_event *ev, size_t from, size_t to,
                      struct fsm_buf *cmds, size_t *offs)
{
	struct fsm_out out = {0};
	int rc = FSM_OK;
	for (size_t i = from; i < to && rc == FSM_OK; i++) {
		fsm_out_reset(&out);
		if (offs != NULL)
			offs[i] = cmds->len;
		rc = fsm_fold(s, &ev[i], &out);
		if (cmds != NULL)
			commands_json(&out, &ev[i], cmds);
	}
	if (offs != NULL)
		offs[to] = cmds->len;
	fsm_out_free(&out);
	return rc;
}

static void dump(const struct fsm_state *s, struct fsm_buf *b)
{
	fsm_buf_reset(b);
	if (fsm_state_dump(s, b) != 0)
		abort();
}

/* Where a and b first differ, with the line around it, for a failure message. */
static void first_difference(const struct fsm_buf *a, const struct fsm_buf *b, char *out, size_t n)
{
	size_t i = 0, len = a->len < b->len ? a->len : b->len;
	while (i < len && a->ptr[i] == b->ptr[i])
		i++;
	size_t start = i;
	while (start > 0 && a->ptr[start - 1] != '\n' && i - start < 160)
		start--;
	int la = (int)(a->len - start < 240 ? a->len - start : 240);
	int lb = (int)(b->len - start < 240 ? b->len - start : 240);
	snprintf(out, n, "at byte %zu (of %zu and %zu): \"%.*s\" vs \"%.*s\"", i, a->len, b->len,
	         la, a->ptr ? a->ptr + start : "", lb, b->ptr ? b->ptr + start : "");
}

static bool same_bytes(const struct fsm_buf *a, const struct fsm_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* Writes ev[0..n) as a replay file (one JSON line each). */
static void write_replay(const char *path, const struct fsm_event *ev, size_t n)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return;
	struct fsm_buf b = FSM_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		fsm_buf_reset(&b);
		if (fsm_event_to_json(&ev[i], &b) == FSM_JSON_OK)
			fprintf(f, "%s\n", b.ptr);
	}
	fsm_buf_free(&b);
	fclose(f);
}

/* Poisons what uninitialised reads would see: fresh heap blocks (glibc's
 * M_PERTURB) and the stack below us. A fold that reads either would differ. */
static void poison_memory(int on)
{
	mallopt(M_PERTURB, on ? 0xa5 : 0);
	volatile unsigned char junk[64 * 1024];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(0x5a ^ i);
	(void)junk[0];
}

/* A recorded stream of n events: the simulator's own commands into cmds0. */
static void on_fold_record(struct sim *s, const struct fsm_event *ev, int rc, void *ctx)
{
	(void)rc;
	commands_json(&s->out, ev, ctx);
}

static void record(struct sim *s, uint64_t seed, uint32_t pods, size_t n, struct fsm_buf *cmds0)
{
	struct sim_opts o;
	sim_opts_default(&o, seed, pods);
	o.record = true;
	o.probe_period_s_max = 5;
	o.pm_crash = 400;
	o.pm_delete_tick = 100;
	o.pm_evict_tick = 10;
	o.pm_pull_never = 30;
	o.pm_image_gc_tick = 10;
	o.api = seed % 2 == 1; /* half the streams with the API side */
	sim_init(s, &o);
	s->on_fold = on_fold_record;
	s->ctx = cmds0;
	while (s->nev < n && sim_next(s) != NULL) {
	}
}

/* ---- determinism ---- */

TEST(fold_twice_gives_same_bytes)
{
	uint64_t seed = test_rand();
	struct sim s;
	struct fsm_buf cmds0 = FSM_BUF_INIT, cmds[2] = {FSM_BUF_INIT, FSM_BUF_INIT};
	struct fsm_buf dumps[3] = {FSM_BUF_INIT, FSM_BUF_INIT, FSM_BUF_INIT};
	record(&s, seed, 20, 20000, &cmds0);
	REQUIRE(s.nev == 20000);
	CHECKF(s.violations == 0, "sim seed %llu: %s", (unsigned long long)seed, s.violation[0]);
	for (int k = 0; k < 2; k++) {
		poison_memory(k == 1);
		struct fsm_state st;
		fsm_state_init(&st);
		int rc = fold_range(&st, s.ev, 0, s.nev, &cmds[k], NULL);
		CHECKF(rc == FSM_OK, "fold %d: %s", k, fsm_strerror(rc));
		dump(&st, &dumps[k]);
		fsm_state_free(&st);
	}
	poison_memory(0);
	dump(&s.st, &dumps[2]);
	char why[600];
	if (!same_bytes(&cmds[0], &cmds[1])) {
		first_difference(&cmds[0], &cmds[1], why, sizeof(why));
		CHECKF(false, "sim seed %llu: commands of fold 1 and 2 differ %s",
		       (unsigned long long)seed, why);
	}
	if (!same_bytes(&cmds0, &cmds[0])) {
		first_difference(&cmds0, &cmds[0], why, sizeof(why));
		CHECKF(false, "sim seed %llu: the simulator's commands and fold 1's differ %s",
		       (unsigned long long)seed, why);
	}
	if (!same_bytes(&dumps[0], &dumps[1])) {
		first_difference(&dumps[0], &dumps[1], why, sizeof(why));
		CHECKF(false, "sim seed %llu: final states differ %s", (unsigned long long)seed,
		       why);
	}
	if (!same_bytes(&dumps[0], &dumps[2])) {
		first_difference(&dumps[0], &dumps[2], why, sizeof(why));
		CHECKF(false, "sim seed %llu: the simulator's state and fold 1's differ %s",
		       (unsigned long long)seed, why);
	}
	/* The stream did something: not a node idling. */
	CHECK(cmds0.len > 100000);
	CHECK(s.kinds[FSM_EV_CRI_CONTAINER] > 20);
	CHECK(s.kinds[FSM_EV_API_POD] > 20);
	for (int k = 0; k < 3; k++)
		fsm_buf_free(&dumps[k]);
	fsm_buf_free(&cmds[0]);
	fsm_buf_free(&cmds[1]);
	fsm_buf_free(&cmds0);
	sim_free(&s);
}

/* ---- snapshots ---- */

#define CUTS 6

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The state at a cut, through the snapshot codec: encode, check, decode. */
static int snapshot_roundtrip(const struct fsm_state *s, struct fsm_state *out)
{
	struct jnl_buf frame = {0};
	struct jnl_snap_hdr h = {.seq = s->last_seq,
	                         .entry_hash = 0,
	                         .ts_ms = s->last_ts_ms,
	                         .wall_ms = s->last_wall_ms,
	                         .fsm_version = FSM_VERSION};
	int rc = jnl_codec_snapshot_encode(&frame, &h, s);
	if (rc == 0) {
		uint64_t hash;
		rc = jnl_frame_check(frame.p, frame.len, &hash);
	}
	struct jnl_snap_hdr h2;
	if (rc == 0)
		rc = jnl_codec_snapshot_decode(frame.p, frame.len, &h2, out);
	else
		fsm_state_init(out);
	if (rc == 0 && (h2.seq != h.seq || h2.fsm_version != FSM_VERSION))
		rc = JNL_EDECODE;
	jnl_buf_free(&frame);
	return rc;
}

TEST(snapshot_at_random_seq_plus_tail_equals_full_fold)
{
	uint64_t seed = test_rand();
	struct sim s;
	struct fsm_buf cmds0 = FSM_BUF_INIT, full = FSM_BUF_INIT, tail = FSM_BUF_INIT;
	struct fsm_buf want = FSM_BUF_INIT, got = FSM_BUF_INIT;
	record(&s, seed, 20, 20000, &cmds0);
	size_t n = s.nev;
	REQUIRE(n == 20000);
	uint64_t cuts[CUTS];
	for (int k = 0; k < CUTS; k++)
		cuts[k] = 1 + test_rand() % (n - 1); /* the state after event cuts[k] */
	qsort(cuts, CUTS, sizeof(cuts[0]), cmp_u64);

	/* The full fold, with each cut's state through the codec on the way. */
	size_t *offs = calloc(n + 1, sizeof(*offs));
	struct fsm_state at[CUTS];
	struct fsm_state st;
	fsm_state_init(&st);
	size_t done = 0;
	for (int k = 0; k < CUTS; k++) {
		REQUIRE(fold_range(&st, s.ev, done, cuts[k], &full, offs) == FSM_OK);
		done = cuts[k];
		int rc = snapshot_roundtrip(&st, &at[k]);
		CHECKF(rc == 0, "cut %llu: snapshot codec: %s", (unsigned long long)cuts[k],
		       jnl_strerror(rc));
		dump(&st, &want);
		dump(&at[k], &got);
		if (!same_bytes(&want, &got)) {
			char why[600];
			first_difference(&want, &got, why, sizeof(why));
			CHECKF(false,
			       "sim seed %llu cut %llu: decoded snapshot differs from the state %s",
			       (unsigned long long)seed, (unsigned long long)cuts[k], why);
		}
	}
	REQUIRE(fold_range(&st, s.ev, done, n, &full, offs) == FSM_OK);
	dump(&st, &want);

	/* Each cut: the loaded state folds the tail into the same state and commands. */
	for (int k = 0; k < CUTS; k++) {
		fsm_buf_reset(&tail);
		int rc = fold_range(&at[k], s.ev, cuts[k], n, &tail, NULL);
		CHECKF(rc == FSM_OK, "cut %llu: %s", (unsigned long long)cuts[k], fsm_strerror(rc));
		struct fsm_buf ref = {.ptr = full.ptr + offs[cuts[k]],
		                      .len = full.len - offs[cuts[k]]};
		char why[600];
		if (!same_bytes(&ref, &tail)) {
			first_difference(&ref, &tail, why, sizeof(why));
			CHECKF(false, "sim seed %llu cut %llu: commands after the cut differ %s",
			       (unsigned long long)seed, (unsigned long long)cuts[k], why);
		}
		dump(&at[k], &got);
		if (!same_bytes(&want, &got)) {
			first_difference(&want, &got, why, sizeof(why));
			CHECKF(false, "sim seed %llu cut %llu: final states differ %s",
			       (unsigned long long)seed, (unsigned long long)cuts[k], why);
		}
		fsm_state_free(&at[k]);
	}

	/* And through a real journal: snapshot at the middle cut, replay_state. */
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/journal", test_tmpdir());
	struct jnl *j;
	struct jnl_damage d;
	REQUIRE(jnl_open(&j, dir, NULL, &d) == 0);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_state js;
	fsm_state_init(&js);
	struct fsm_out out = {0};
	uint64_t snap_at = cuts[CUTS / 2];
	for (size_t i = 0; i < n; i++) {
		struct fsm_event e = s.ev[i];
		REQUIRE(jnl_batch_add(b, &e) == 0);
		CHECK_EQ_INT(e.seq, s.ev[i].seq);
		fsm_out_reset(&out);
		REQUIRE(fsm_fold(&js, &e, &out) == FSM_OK);
		REQUIRE(jnl_batch_decide(b, out.cmds, out.n) == 0);
		if (jnl_batch_count(b) == 4096 || e.seq == snap_at || i + 1 == n)
			REQUIRE(jnl_batch_commit(b) == 0);
		if (e.seq == snap_at)
			REQUIRE(jnl_snapshot_put(j, &js) == 0);
	}
	fsm_out_free(&out);
	fsm_state_free(&js);
	jnl_batch_free(b);
	for (int use = 1; use >= 0; use--) {
		struct fsm_state rs;
		struct replay_stats rst;
		int rc = replay_state(j, use == 1, &rs, &rst, &d);
		CHECKF(rc == 0, "replay_state(%d): %s %s", use, jnl_strerror(rc), d.what);
		if (use == 1) {
			CHECK_EQ_INT(rst.snapshot_seq, snap_at);
			CHECK_EQ_INT(rst.folded, n - snap_at);
		}
		dump(&rs, &got);
		CHECKF(same_bytes(&want, &got),
		       "sim seed %llu: replay_state(use_snapshot=%d) differs",
		       (unsigned long long)seed, use);
		fsm_state_free(&rs);
	}
	jnl_close(j);

	free(offs);
	fsm_state_free(&st);
	fsm_buf_free(&cmds0);
	fsm_buf_free(&full);
	fsm_buf_free(&tail);
	fsm_buf_free(&want);
	fsm_buf_free(&got);
	sim_free(&s);
}

/* ---- invariants ---- */

#define SEEDS           30
#define EVENTS_PER_SEED 5000
#define FAILS_SHOWN     6

struct watch {
	uint64_t seed;
	size_t npods;
	uint32_t (*attempt)[SIM_CTRS_MAX]; /* by sim pod index */
	char (*phase)[16];                 /* the phase last reported, by sim pod index */
	uint64_t fails;
	uint64_t first_fail_seq;
	char fail[FAILS_SHOWN][400];
	uint64_t setups;     /* volume.setup commands seen */
	uint64_t teardowns;  /* volume.teardown commands seen */
};

static void watch_fail(struct watch *w, const struct fsm_event *ev, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void watch_fail(struct watch *w, const struct fsm_event *ev, const char *fmt, ...)
{
	if (w->fails == 0)
		w->first_fail_seq = ev->seq;
	if (w->fails < FAILS_SHOWN) {
		char *d = w->fail[w->fails];
		const char *kind = fsm_event_kind_name(ev->kind);
		int n = snprintf(d, 400, "seq %llu (%s): ", (unsigned long long)ev->seq,
		                 kind ? kind : "end of run");
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d + n, (size_t)(400 - n), fmt, ap);
		va_end(ap);
	}
	w->fails++;
}

static void watch_grow(struct watch *w, size_t npods)
{
	if (npods <= w->npods)
		return;
	size_t cap = npods + 64;
	w->attempt = realloc(w->attempt, cap * sizeof(*w->attempt));
	w->phase = realloc(w->phase, cap * sizeof(*w->phase));
	if (w->attempt == NULL || w->phase == NULL)
		abort();
	memset(&w->attempt[w->npods], 0, (cap - w->npods) * sizeof(*w->attempt));
	memset(&w->phase[w->npods], 0, (cap - w->npods) * sizeof(*w->phase));
	w->npods = cap;
}

static bool terminal(const char *phase)
{
	return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

/* The phase in a PodStatus body ("" when none). */
static void body_phase(const struct fsm_command *c, char out[16])
{
	out[0] = '\0';
	if (c->body == NULL)
		return;
	const char *k = strstr(c->body, "\"phase\":\"");
	if (k == NULL || (size_t)(k - c->body) >= c->body_len)
		return;
	k += 9;
	size_t n = strcspn(k, "\"");
	if (n >= 16)
		n = 15;
	memcpy(out, k, n);
	out[n] = '\0';
}

/* (a), (d), (h): what the commands of one fold may not do, given the state after it. */
static void check_commands(const struct fsm_state *st, const struct fsm_out *out,
                           const struct fsm_event *ev, struct watch *w)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct fsm_command *c = &out->cmds[i];
		w->setups += c->kind == FSM_CMD_VOLUME_SETUP;
		w->teardowns += c->kind == FSM_CMD_VOLUME_TEARDOWN;
		if (c->kind == FSM_CMD_CRI_RUN_SANDBOX || c->kind == FSM_CMD_VOLUME_TEARDOWN) {
			/* (j) a pod's sandbox is made only once its volumes are set up;
			 * its volumes are torn down only once its sandbox is gone and no
			 * setup is in flight */
			const struct fsm_pod *p = fsm_state_pod(st, c->pod_uid);
			bool run = c->kind == FSM_CMD_CRI_RUN_SANDBOX;
			if (p != NULL && p->spec.nvolumes > 0 && run && !p->vol_ready)
				watch_fail(w, ev, "(j) %s before the pod's volumes are set up", c->id);
			if (p != NULL && !run && (p->sb_stage != FSM_SB_NONE || p->vol_busy))
				watch_fail(w, ev, "(j) %s while the sandbox stage is %d (setup in flight: %d)",
				           c->id, (int)p->sb_stage, p->vol_busy);
			continue;
		}
		if (c->kind != FSM_CMD_CRI_CREATE_CONTAINER &&
		    c->kind != FSM_CMD_CRI_START_CONTAINER)
			continue;
		const struct fsm_pod *p = fsm_state_pod(st, c->pod_uid);
		/* (a) containers are created and started only in a ready sandbox
		 * (whose IP is known, for a pod-network pod) */
		if (p == NULL || p->sb_stage != FSM_SB_READY ||
		    (!p->spec.host_network && p->sb_ip[0] == '\0')) {
			watch_fail(w, ev,
			           "(a) %s %s while the pod's sandbox stage is %d (ip \"%s\")",
			           fsm_cmd_kind_name(c->kind), c->id, p ? (int)p->sb_stage : -1,
			           p ? p->sb_ip : "");
			continue;
		}
		if (c->kind != FSM_CMD_CRI_CREATE_CONTAINER)
			continue;
		/* (i) a pod's containers are started one at a time (SyncPod's
		 * order): a create begins while no other container of the pod is
		 * being created or started. (A pull still in flight for a container
		 * of a replaced sandbox may overlap: the image is the node's, and a
		 * finished pull only parks its container.) */
		size_t busy = 0;
		for (size_t k = 0; k < p->spec.ncontainers; k++)
			busy += p->ctrs[k].stage == FSM_CS_CREATING ||
			        p->ctrs[k].stage == FSM_CS_STARTING;
		if (busy > 1)
			watch_fail(w, ev,
			           "(i) %s while another container of the pod is being created "
			           "or started (%zu at once)",
			           c->id, busy);
		int ci = fsm_pod_container_index(&p->spec, c->container);
		if (ci < 0)
			continue;
		/* (h) init containers in order: nothing after a regular init container
		 * is created before it has succeeded (in this sandbox) */
		for (int j = 0; j < ci && (size_t)j < p->spec.ninit; j++) {
			const struct fsm_ctr *ic = &p->ctrs[j];
			if (p->spec.containers[j].sidecar)
				continue;
			if (ic->stage != FSM_CS_EXITED || !ic->term.set || ic->term.exit_code != 0)
				watch_fail(w, ev,
				           "(h) %s while init container %s has not succeeded "
				           "(stage %d)",
				           c->id, p->spec.containers[j].name, (int)ic->stage);
		}
		/* (d) a Never pod's containers run once (sidecars restart; so does
		 * one replaced because its spec changed: the hash it ran differs) */
		if (c->attempt > 0 && p->spec.restart_policy == FSM_RESTART_NEVER &&
		    !p->spec.containers[ci].sidecar &&
		    p->ctrs[ci].spec_hash == p->spec.containers[ci].spec_hash)
			watch_fail(w, ev, "(d) %s: restartPolicy Never, attempt %u", c->id,
			           c->attempt);
	}
}

static void check_fold(struct sim *s, const struct fsm_event *ev, int rc, void *ctx)
{
	struct watch *w = ctx;
	watch_grow(w, s->npods);
	/* (g) the fold never fails */
	if (rc != FSM_OK)
		watch_fail(w, ev, "(g) the fold returned %s", fsm_strerror(rc));
	check_commands(&s->st, &s->out, ev, w);
	/* (e) a terminal phase is final */
	for (size_t i = 0; i < s->out.n; i++) {
		const struct fsm_command *c = &s->out.cmds[i];
		const struct sim_pod *sp = sim_pod_of(s, c->pod_uid);
		if (c->kind != FSM_CMD_API_POD_STATUS || sp == NULL)
			continue;
		char ph[16];
		body_phase(c, ph);
		char *last = w->phase[sp->index];
		if (terminal(last) && strcmp(ph, last) != 0)
			watch_fail(w, ev, "(e) %s reports phase %s after %s", c->id, ph, last);
		COPY(last, ph);
	}
	/* (c) restartCount never goes down */
	for (size_t i = 0; i < s->st.npods; i++) {
		const struct fsm_pod *p = s->st.pods[i];
		const struct sim_pod *sp = sim_pod_of(s, p->spec.uid);
		if (sp == NULL)
			continue;
		for (size_t k = 0; k < p->spec.ncontainers && k < SIM_CTRS_MAX; k++) {
			uint32_t *was = &w->attempt[sp->index][k];
			if (p->ctrs[k].attempt < *was)
				watch_fail(w, ev,
				           "(c) pod %s container %s: restartCount %u after %u",
				           p->spec.uid, p->spec.containers[k].name,
				           p->ctrs[k].attempt, *was);
			*was = p->ctrs[k].attempt;
		}
	}
}

/* Runs one seed; returns the number of broken invariants. */
static uint64_t run_seed(uint64_t seed, struct watch *w, uint64_t *events)
{
	struct sim_opts o;
	sim_opts_default(&o, seed, (uint32_t)(5 + seed % 26));
	sim_opts_stress(&o);
	o.check_ids = true;
	o.quiet_probes = seed % 3 == 0;
	o.api = seed % 2 == 0; /* half the streams with the API side */
	struct sim s;
	sim_init(&s, &o);
	memset(w, 0, sizeof(*w));
	w->seed = seed;
	s.on_fold = check_fold;
	s.ctx = w;
	for (size_t i = 0; i < EVENTS_PER_SEED && sim_next(&s) != NULL; i++) {
	}
	*events += s.seq;
	/* (b) and (f): what the simulated runtime saw */
	for (uint64_t i = 0; i < s.violations && i < SIM_VIOLATIONS_KEEP; i++) {
		struct fsm_event at = {.seq = s.seq, .kind = FSM_EV_NONE};
		watch_fail(w, &at, "(b/f) runtime: %s", s.violation[i]);
	}
	uint64_t fails = w->fails;
	sim_free(&s);
	return fails;
}

/* Re-runs a failing seed with recording on and writes its stream up to the
 * first failure (plus a little) as a replay file. */
static void save_stream(uint64_t seed, uint64_t upto_seq, char *path, size_t n)
{
	struct sim_opts o;
	sim_opts_default(&o, seed, (uint32_t)(5 + seed % 26));
	sim_opts_stress(&o);
	o.check_ids = true;
	o.quiet_probes = seed % 3 == 0;
	o.api = seed % 2 == 0; /* half the streams with the API side */
	o.record = true;
	struct sim s;
	sim_init(&s, &o);
	uint64_t stop = upto_seq ? upto_seq : EVENTS_PER_SEED;
	while (s.seq < stop && sim_next(&s) != NULL) {
	}
	snprintf(path, n, "%s/sim-%llu.jsonl", test_tmpdir(), (unsigned long long)seed);
	write_replay(path, s.ev, s.nev);
	sim_free(&s);
}

TEST(invariants_hold_over_random_streams)
{
	uint64_t events = 0, failed_seeds = 0, setups = 0, teardowns = 0;
	for (int k = 0; k < SEEDS; k++) {
		uint64_t seed = test_rand() | 1;
		struct watch w;
		uint64_t fails = run_seed(seed, &w, &events);
		setups += w.setups;
		teardowns += w.teardowns;
		if (fails > 0) {
			failed_seeds++;
			char path[700];
			save_stream(seed, w.first_fail_seq, path, sizeof(path));
			for (uint64_t i = 0; i < fails && i < FAILS_SHOWN; i++)
				CHECKF(false, "sim seed %llu (%u pods): %s",
				       (unsigned long long)seed, (unsigned)(5 + seed % 26),
				       w.fail[i]);
			CHECKF(false, "sim seed %llu: %llu broken invariants; stream in %s",
			       (unsigned long long)seed, (unsigned long long)fails, path);
		}
		free(w.attempt);
		free(w.phase);
		if (failed_seeds >= 3)
			break; /* enough to read */
	}
	CHECK(events >= (uint64_t)EVENTS_PER_SEED * SEEDS || failed_seeds > 0);
	/* the streams exercised the volumes too */
	CHECKF(setups > SEEDS && teardowns > 0, "%llu volume setups, %llu teardowns",
	       (unsigned long long)setups, (unsigned long long)teardowns);
}

/* ---- directed scenarios: the races the simulator found, pinned down ----
 *
 * Each folds a short hand-made stream and holds (a) and (h) after every fold,
 * answering the commands the fold actually issued (looked up by kind and
 * container, not by a hard-coded id). They fail on every run while the race is
 * there, whatever the seed. */

#define SC_CMDS_MAX 256

struct sc_cmd {
	enum fsm_cmd_kind kind;
	char id[SIM_ID_BYTES];
	char container[32];
	char body[512];
	uint64_t seq;
	bool answered;
};

struct script {
	struct fsm_state st;
	struct fsm_out out;
	struct watch w;
	uint64_t seq, ts;
	struct sc_cmd cmds[SC_CMDS_MAX];
	size_t ncmds;
};

static void sc_fold(struct script *sc, struct fsm_event *e, uint64_t dt_ms)
{
	e->seq = ++sc->seq;
	sc->ts += dt_ms;
	e->ts_ms = sc->ts;
	e->wall_ms = SIM_WALL0_MS + sc->ts;
	fsm_out_reset(&sc->out);
	int rc = fsm_fold(&sc->st, e, &sc->out);
	if (rc != FSM_OK)
		watch_fail(&sc->w, e, "(g) the fold returned %s", fsm_strerror(rc));
	check_commands(&sc->st, &sc->out, e, &sc->w);
	for (size_t i = 0; i < sc->out.n && sc->ncmds < SC_CMDS_MAX; i++) {
		const struct fsm_command *c = &sc->out.cmds[i];
		/* (f) an executed command's id is not dispatched again while the
		 * first dispatch is unanswered (timers and probes are not executed) */
		bool executed = c->kind != FSM_CMD_TIMER_SET && c->kind != FSM_CMD_TIMER_CANCEL &&
		                c->kind != FSM_CMD_PROBE_START && c->kind != FSM_CMD_PROBE_STOP;
		for (size_t k = 0; executed && k < sc->ncmds; k++)
			if (!sc->cmds[k].answered && strcmp(sc->cmds[k].id, c->id) == 0)
				watch_fail(&sc->w, e,
				           "(f) %s %s issued again while the first is unanswered",
				           fsm_cmd_kind_name(c->kind), c->id);
		struct sc_cmd *k = &sc->cmds[sc->ncmds++];
		k->kind = c->kind;
		k->seq = e->seq;
		COPY(k->id, c->id);
		COPY(k->container, c->container);
		k->body[0] = '\0';
		if (c->body != NULL)
			snprintf(k->body, sizeof(k->body), "%.*s", (int)c->body_len, c->body);
	}
}

static void sc_init(struct script *sc, const char *pod_json)
{
	memset(sc, 0, sizeof(*sc));
	fsm_state_init(&sc->st);
	sc->ts = SIM_TS0_MS;
	struct fsm_event e = {.kind = FSM_EV_NODE_CONFIG};
	const char *cfg = "{\"nodeName\":\"node-1\",\"hostIP\":\"10.0.0.1\"}";
	e.u.node_config.config = cfg;
	e.u.node_config.config_len = strlen(cfg);
	sc_fold(sc, &e, 0);
	e = (struct fsm_event){.kind = FSM_EV_API_POD};
	e.u.api_pod.type = FSM_WATCH_ADDED;
	e.u.api_pod.object = pod_json;
	e.u.api_pod.object_len = strlen(pod_json);
	sc_fold(sc, &e, 10);
}

static void sc_free(struct script *sc)
{
	fsm_state_free(&sc->st);
	fsm_out_free(&sc->out);
	free(sc->w.attempt);
	free(sc->w.phase);
}

/* The newest command of this kind (for this container, when not NULL), or NULL. */
static const struct sc_cmd *sc_last(const struct script *sc, enum fsm_cmd_kind kind,
                                    const char *container)
{
	for (size_t i = sc->ncmds; i-- > 0;)
		if (sc->cmds[i].kind == kind &&
		    (container == NULL || strcmp(sc->cmds[i].container, container) == 0))
			return &sc->cmds[i];
	return NULL;
}

/* Answers the newest command of this kind (and container). false when none. */
static bool sc_effect(struct script *sc, enum fsm_cmd_kind kind, const char *container, bool ok,
                      const char *result)
{
	struct sc_cmd *c = (struct sc_cmd *)sc_last(sc, kind, container);
	if (c == NULL)
		return false;
	c->answered = true;
	char id[SIM_ID_BYTES];
	COPY(id, c->id);
	struct fsm_event e = {.kind = FSM_EV_EFFECT};
	e.u.effect.cmd = id;
	e.u.effect.ok = ok;
	e.u.effect.error_class = ok ? FSM_ERR_NONE : FSM_ERR_TRANSIENT;
	e.u.effect.error = ok ? "" : "rpc error: code = Unavailable";
	e.u.effect.result = result;
	sc_fold(sc, &e, 100);
	return true;
}

/* The runtime carries out the stops the fold asked for (of containers, with
 * their exit, and of sandboxes) until it asks for none: whatever order a
 * version of the fold takes down a dead sandbox in. */
static void sc_answer_stops(struct script *sc)
{
	for (int round = 0; round < 16; round++) {
		struct sc_cmd *c = NULL;
		for (size_t i = 0; i < sc->ncmds && c == NULL; i++)
			if (!sc->cmds[i].answered &&
			    (sc->cmds[i].kind == FSM_CMD_CRI_STOP_SANDBOX ||
			     sc->cmds[i].kind == FSM_CMD_CRI_STOP_CONTAINER))
				c = &sc->cmds[i];
		if (c == NULL)
			return;
		c->answered = true;
		char id[SIM_ID_BYTES];
		COPY(id, c->id);
		struct fsm_event e = {.kind = FSM_EV_EFFECT};
		e.u.effect.cmd = id;
		e.u.effect.ok = true;
		e.u.effect.error = "";
		e.u.effect.result = "";
		sc_fold(sc, &e, 50);
	}
}

/* Answers the newest cri.run_sandbox and reports its sandbox ready; false when
 * the fold never asked for one of this attempt. */
static bool sc_new_sandbox(struct script *sc, uint32_t attempt, const char *id)
{
	const struct sc_cmd *run = sc_last(sc, FSM_CMD_CRI_RUN_SANDBOX, NULL);
	char want[64];
	snprintf(want, sizeof(want), "sandbox/u-1/%u", attempt);
	if (run == NULL || strcmp(run->id, want) != 0)
		return false;
	sc_effect(sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, id);
	struct fsm_event e = {.kind = FSM_EV_CRI_SANDBOX};
	e.u.cri_sandbox.pod_uid = "u-1";
	e.u.cri_sandbox.attempt = attempt;
	e.u.cri_sandbox.id = id;
	e.u.cri_sandbox.state = FSM_SANDBOX_READY;
	e.u.cri_sandbox.ip = "10.88.0.6";
	sc_fold(sc, &e, 10);
	return true;
}

static void sc_sandbox(struct script *sc, uint32_t attempt, const char *id, bool ready)
{
	struct fsm_event e = {.kind = FSM_EV_CRI_SANDBOX};
	e.u.cri_sandbox.pod_uid = "u-1";
	e.u.cri_sandbox.attempt = attempt;
	e.u.cri_sandbox.id = id;
	e.u.cri_sandbox.state = ready ? FSM_SANDBOX_READY : FSM_SANDBOX_NOTREADY;
	e.u.cri_sandbox.ip = ready ? "10.88.0.5" : "";
	sc_fold(sc, &e, 10);
}

static void sc_exit0(struct script *sc, const char *name, uint32_t attempt, const char *id)
{
	struct fsm_event e = {.kind = FSM_EV_CRI_CONTAINER};
	e.u.cri_container.pod_uid = "u-1";
	e.u.cri_container.name = name;
	e.u.cri_container.attempt = attempt;
	e.u.cri_container.id = id;
	e.u.cri_container.state = FSM_CONTAINER_EXITED;
	e.u.cri_container.reason = "Completed";
	e.u.cri_container.message = "";
	sc_fold(sc, &e, 500);
}

static void sc_timer(struct script *sc, const char *key, uint64_t dt_ms)
{
	struct fsm_event e = {.kind = FSM_EV_TIMER};
	e.u.timer.key = key;
	sc_fold(sc, &e, dt_ms);
}

/* Was a create for this container issued into sandbox `sb` (by its body)? */
static bool sc_created_in(const struct script *sc, const char *container, const char *sb)
{
	char want[80];
	snprintf(want, sizeof(want), "\"sandbox_id\":\"%s\"", sb);
	for (size_t i = 0; i < sc->ncmds; i++)
		if (sc->cmds[i].kind == FSM_CMD_CRI_CREATE_CONTAINER &&
		    strcmp(sc->cmds[i].container, container) == 0 && strstr(sc->cmds[i].body, want))
			return true;
	return false;
}

static void sc_report(struct script *sc, const char *what)
{
	for (uint64_t i = 0; i < sc->w.fails && i < FAILS_SHOWN; i++)
		CHECKF(false, "%s: %s", what, sc->w.fail[i]);
}

static const char one_ctr_pod[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":"
        "\"default\",\"uid\":\"u-1\"},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":"
        "\"127.0.0.1:5000/app:1\"}]}}";

/* Sandbox 0 up, the image pulled, the create failed: a retry timer is armed. Then
 * the sandbox dies and sandbox 1 is being made when the retry fires. */
TEST(retry_timer_waits_for_the_new_sandbox)
{
	struct script sc;
	sc_init(&sc, one_ctr_pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "app", true, "sha256:aa"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app", false, ""));
	const struct sc_cmd *t = sc_last(&sc, FSM_CMD_TIMER_SET, NULL);
	REQUIRE(t != NULL);
	char key[SIM_ID_BYTES];
	COPY(key, t->id + strlen("timer/")); /* timer ids are "timer/<key>" */
	sc_sandbox(&sc, 0, "sb0", false);
	sc_answer_stops(&sc);
	sc_timer(&sc, key, 10000); /* the race: create/u-1/app/0 into no sandbox */
	sc_report(&sc, "after the retry timer");
	uint64_t fails = sc.w.fails;
	CHECKF(sc_new_sandbox(&sc, 1, "sb1"), "no sandbox/u-1/1 asked for");
	sc_timer(&sc, key, 10000); /* whatever else a fix might wait for */
	CHECKF(sc_created_in(&sc, "app", "sb1"),
	       "the container is never created in the new sandbox sb1");
	CHECK_EQ_INT(sc.w.fails, fails);
	sc_free(&sc);
}

/* A pull is in flight when the sandbox dies; it completes while the dead
 * sandbox is taken down or sandbox 1 is being made. */
TEST(pull_done_waits_for_the_new_sandbox)
{
	struct script sc;
	sc_init(&sc, one_ctr_pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_PULL_IMAGE, "app") != NULL);
	sc_sandbox(&sc, 0, "sb0", false);
	sc_answer_stops(&sc);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "app", true, "sha256:aa")); /* the race */
	sc_report(&sc, "after the pull");
	uint64_t fails = sc.w.fails;
	sc_answer_stops(&sc);
	CHECKF(sc_new_sandbox(&sc, 1, "sb1"), "no sandbox/u-1/1 asked for");
	CHECKF(sc_created_in(&sc, "app", "sb1"),
	       "the container is never created in the new sandbox sb1");
	CHECK_EQ_INT(sc.w.fails, fails);
	sc_free(&sc);
}

/* A create is in flight when the sandbox dies; it succeeds after: no start into
 * the dead sandbox, and the container is made again in the next one. */
TEST(create_done_in_a_dead_sandbox_is_not_started)
{
	struct script sc;
	sc_init(&sc, one_ctr_pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "app", true, "sha256:aa"));
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app") != NULL);
	sc_sandbox(&sc, 0, "sb0", false);
	sc_answer_stops(&sc);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app", true, "c0")); /* the race */
	sc_report(&sc, "after the create");
	uint64_t fails = sc.w.fails;
	/* A start that went out anyway fails: the sandbox is gone. */
	if (sc_last(&sc, FSM_CMD_CRI_START_CONTAINER, "app") != NULL)
		sc_effect(&sc, FSM_CMD_CRI_START_CONTAINER, "app", false, "");
	sc_answer_stops(&sc);
	CHECKF(sc_new_sandbox(&sc, 1, "sb1"), "no sandbox/u-1/1 asked for");
	sc_timer(&sc, "retry/u-1/app", 10000);
	CHECKF(sc_created_in(&sc, "app", "sb1"),
	       "the container is never created in the new sandbox sb1");
	CHECK_EQ_INT(sc.w.fails, fails);
	sc_free(&sc);
}

/* init-0 done, init-1's image pulling, the sandbox dies; in sandbox 1 init-0
 * reruns first, and init-1's pull completes meanwhile: init-1 must wait. */
TEST(pull_done_keeps_init_containers_in_order)
{
	static const char pod[] =
	        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
	        "\"namespace\":"
	        "\"default\",\"uid\":\"u-1\"},\"spec\":{\"initContainers\":[{\"name\":\"init-0\","
	        "\"image\":\"127.0.0.1:5000/a:1\"},{\"name\":\"init-1\",\"image\":"
	        "\"127.0.0.1:5000/b:1\"}],\"containers\":[{\"name\":\"app\",\"image\":"
	        "\"127.0.0.1:5000/a:1\"}]}}";
	struct script sc;
	sc_init(&sc, pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "init-0", true, "sha256:aa"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "init-0", true, "ci0"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_START_CONTAINER, "init-0", true, ""));
	sc_exit0(&sc, "init-0", 0, "ci0");
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_PULL_IMAGE, "init-1") != NULL);
	sc_sandbox(&sc, 0, "sb0", false);
	sc_answer_stops(&sc);
	CHECKF(sc_new_sandbox(&sc, 1, "sb1"), "no sandbox/u-1/1 asked for");
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "init-1", true, "sha256:bb")); /* the race */
	sc_report(&sc, "after init-1's pull");
	sc_free(&sc);
}

/* A container waits for its image (pull policy Never); the sandbox dies and
 * sandbox 1 is being made when the image appears (cri.image). */
TEST(image_appearing_waits_for_the_new_sandbox)
{
	static const char pod[] = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
	                          "\"web\",\"namespace\":"
	                          "\"default\",\"uid\":\"u-1\"},\"spec\":{\"containers\":[{"
	                          "\"name\":\"app\",\"image\":"
	                          "\"127.0.0.1:5000/local:1\",\"imagePullPolicy\":\"Never\"}]}}";
	struct script sc;
	sc_init(&sc, pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app") == NULL);
	sc_sandbox(&sc, 0, "sb0", false);
	sc_answer_stops(&sc);
	struct fsm_event e = {.kind = FSM_EV_CRI_IMAGE};
	e.u.cri_image.image = "127.0.0.1:5000/local:1";
	e.u.cri_image.ok = true;
	e.u.cri_image.error = "";
	e.u.cri_image.image_ref = "sha256:cc";
	sc_fold(&sc, &e, 1000); /* the race */
	sc_report(&sc, "after the image appeared");
	uint64_t fails = sc.w.fails;
	CHECKF(sc_new_sandbox(&sc, 1, "sb1"), "no sandbox/u-1/1 asked for");
	CHECKF(sc_created_in(&sc, "app", "sb1"),
	       "the container is never created in the new sandbox sb1");
	CHECK_EQ_INT(sc.w.fails, fails);
	sc_free(&sc);
}

/* The API deletes the pod while a create is in flight; the create succeeds
 * after: the container is removed once, not again with the pod's runtime. */
TEST(create_done_after_delete_removes_once)
{
	struct script sc;
	sc_init(&sc, one_ctr_pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "app", true, "sha256:aa"));
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app") != NULL);
	struct fsm_event e = {.kind = FSM_EV_API_POD};
	e.u.api_pod.type = FSM_WATCH_DELETED;
	e.u.api_pod.object = one_ctr_pod;
	e.u.api_pod.object_len = strlen(one_ctr_pod);
	sc_fold(&sc, &e, 100);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app", true, "c0"));
	sc_answer_stops(&sc); /* the sandbox stops: the pod's runtime is removed */
	CHECKF(sc_last(&sc, FSM_CMD_CRI_REMOVE_SANDBOX, NULL) == NULL,
	       "the sandbox is removed before its container's removal answered");
	/* The containers first, then the sandbox (removing both at once, the
	 * runtime refuses one: "container is already in removing state"). */
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_REMOVE_CONTAINER, "app", true, ""));
	CHECKF(sc_last(&sc, FSM_CMD_CRI_REMOVE_SANDBOX, NULL) != NULL,
	       "the sandbox is never removed");
	size_t removes = 0;
	for (size_t i = 0; i < sc.ncmds; i++)
		removes += sc.cmds[i].kind == FSM_CMD_CRI_REMOVE_CONTAINER;
	CHECKF(removes == 1, "%zu cri.remove_container for the one container made", removes);
	sc_report(&sc, "removing the pod");
	sc_free(&sc);
}

/* A create completes for a sandbox that died (the container is removed), and
 * the API deletes the pod before it is made again: the pod's removal does not
 * remove that container a second time. */
TEST(create_done_in_a_dead_sandbox_then_delete_removes_once)
{
	struct script sc;
	sc_init(&sc, one_ctr_pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "app", true, "sha256:aa"));
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app") != NULL);
	sc_sandbox(&sc, 0, "sb0", false);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "app", true, "c0"));
	struct fsm_event e = {.kind = FSM_EV_API_POD};
	e.u.api_pod.type = FSM_WATCH_DELETED;
	e.u.api_pod.object = one_ctr_pod;
	e.u.api_pod.object_len = strlen(one_ctr_pod);
	sc_fold(&sc, &e, 100);
	sc_answer_stops(&sc); /* the dead sandbox stops: the pod's runtime is removed */
	size_t removes = 0;
	for (size_t i = 0; i < sc.ncmds; i++)
		removes += sc.cmds[i].kind == FSM_CMD_CRI_REMOVE_CONTAINER;
	CHECKF(removes <= 1, "%zu cri.remove_container for the one container made", removes);
	sc_report(&sc, "removing the pod");
	sc_free(&sc);
}

/* Two sidecars: side-0 runs, side-1 is being created when side-0 exits. Its
 * restart waits for side-1's start to end (one start at a time). */
TEST(sidecar_restart_waits_for_the_start_under_way)
{
	static const char pod[] =
	        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
	        "\"namespace\":"
	        "\"default\",\"uid\":\"u-1\"},\"spec\":{\"initContainers\":[{\"name\":\"side-0\","
	        "\"image\":\"127.0.0.1:5000/"
	        "a:1\",\"restartPolicy\":\"Always\"},{\"name\":\"side-1\","
	        "\"image\":\"127.0.0.1:5000/a:1\",\"restartPolicy\":\"Always\"}],\"containers\":[{"
	        "\"name\":\"app\",\"image\":\"127.0.0.1:5000/a:1\"}]}}";
	struct script sc;
	sc_init(&sc, pod);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_RUN_SANDBOX, NULL, true, "sb0"));
	sc_sandbox(&sc, 0, "sb0", true);
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_PULL_IMAGE, "side-0", true, "sha256:aa"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "side-0", true, "s0"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_START_CONTAINER, "side-0", true, ""));
	REQUIRE(sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "side-1") != NULL);
	struct fsm_event e = {.kind = FSM_EV_CRI_CONTAINER};
	e.u.cri_container.pod_uid = "u-1";
	e.u.cri_container.name = "side-0";
	e.u.cri_container.id = "s0";
	e.u.cri_container.state = FSM_CONTAINER_EXITED;
	e.u.cri_container.exit_code = 1;
	e.u.cri_container.reason = "Error";
	e.u.cri_container.message = "";
	sc_fold(&sc, &e, 500); /* the overlap: side-0 created again now */
	sc_report(&sc, "after side-0 exited");
	uint64_t fails = sc.w.fails;
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "side-1", true, "s1"));
	REQUIRE(sc_effect(&sc, FSM_CMD_CRI_START_CONTAINER, "side-1", true, ""));
	sc_timer(&sc, "backoff/u-1/side-0", 10000);
	const struct sc_cmd *again = sc_last(&sc, FSM_CMD_CRI_CREATE_CONTAINER, "side-0");
	CHECKF(again != NULL && strcmp(again->id, "create/u-1/side-0/1") == 0,
	       "side-0 is never restarted");
	CHECK_EQ_INT(sc.w.fails, fails);
	sc_free(&sc);
}

TEST_MAIN("fsm/property", T(fold_twice_gives_same_bytes),
          T(snapshot_at_random_seq_plus_tail_equals_full_fold),
          T(invariants_hold_over_random_streams), T(retry_timer_waits_for_the_new_sandbox),
          T(pull_done_waits_for_the_new_sandbox), T(create_done_in_a_dead_sandbox_is_not_started),
          T(pull_done_keeps_init_containers_in_order), T(image_appearing_waits_for_the_new_sandbox),
          T(create_done_after_delete_removes_once),
          T(create_done_in_a_dead_sandbox_then_delete_removes_once),
          T(sidecar_restart_waits_for_the_start_under_way))
