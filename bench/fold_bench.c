/*
 * bench/fold_bench.c — how fast the fold goes, and how fast a node restarts.
 *
 * The stream is a 110-pod node's life made by the simulator (bench/sim.h) ahead
 * of time: pods started, probed every second per probed container with every
 * raw result fed (repeats included: the executors' filter of contract 10 is
 * off, so this is the fold's worst case), restarts, crashes, deletions and
 * replacements, effects, timers. Timed on one core:
 *
 *   fold_events_per_s         that stream folded into a fresh state;
 *   fold_other_events_per_s   the events of that stream other than probe results
 *                             (CRI, effects, timers, API), timed one by one;
 *   fold_probe_events_per_s   probe results alone, on 110 running pods;
 *   replay_1m_from_snapshot_s a 1 M-event journal of that life with a snapshot
 *                             every 100 k events, rebuilt with replay_state from
 *                             its newest snapshot. The snapshot at 1 M itself is
 *                             not taken, so the tail is a whole interval (100 k
 *                             events): the worst case of that cadence;
 *   replay_1m_full_s          the same journal folded from its first event.
 *
 * Timings are the best of three rounds (the full replay: one). The journal lives in
 * /var/tmp/ledgerlet-bench-fold (or argv[1]) and is removed afterwards.
 * Prints "bench <name> <value> <unit>" lines only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "journal/codec.h"
#include "journal/journal.h"
#include "replay.h"
#include "sim.h"

#define NODE_PODS      110
#define LIFE_EVENTS    1000000
#define SNAPSHOT_EVERY 100000
#define PROBE_EVENTS   1000000
#define ROUNDS         3
#define BENCH_SEED     0x5eedf01dULL

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fold_bench: %s: %s\n", what, why);
	exit(1);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm", dir);
}

/* The node's life: a steady 110-pod node, every probe every second. */
static void make_life(struct sim *s, size_t n)
{
	struct sim_opts o;
	sim_opts_default(&o, BENCH_SEED, NODE_PODS);
	o.record = true;
	o.probe_period_s_max = 1;
	sim_init(s, &o);
	while (s->nev < n && sim_next(s) != NULL) {
	}
	if (s->nev != n)
		die("simulator", "the stream ended early");
	if (s->violations > 0)
		die("simulator", s->violation[0]);
}

/* Folds ev[0..n) into a fresh state: seconds; the state is left in *st. */
static double fold_all(const struct fsm_event *ev, size_t n, struct fsm_state *st)
{
	struct fsm_out out = {0};
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		fsm_out_reset(&out);
		int rc = fsm_fold(st, &ev[i], &out);
		if (rc != FSM_OK)
			die("fold", fsm_strerror(rc));
	}
	double t = now_s() - t0;
	fsm_out_free(&out);
	return t;
}

static void bench_life(const struct sim *life)
{
	double best = 0;
	for (int r = 0; r < ROUNDS; r++) {
		struct fsm_state st;
		fsm_state_init(&st);
		double t = fold_all(life->ev, life->nev, &st);
		if (r == 0 && !fsm_state_equal(&st, &life->st))
			die("fold", "the state differs from the simulator's");
		fsm_state_free(&st);
		double rate = (double)life->nev / t;
		if (rate > best)
			best = rate;
	}
	printf("bench fold_events_per_s %.0f events/s\n", best);
	fflush(stdout);
	/* The same stream, the events other than probe results timed one by one
	 * (CRI observations, effects, timers, API pods): each of them syncs its
	 * pod and rebuilds its status. The clock reads cost ~2 x 20 ns an event. */
	struct fsm_state st;
	fsm_state_init(&st);
	struct fsm_out out = {0};
	double other_s = 0;
	size_t others = 0;
	for (size_t i = 0; i < life->nev; i++) {
		fsm_out_reset(&out);
		bool timed = life->ev[i].kind != FSM_EV_PROBE;
		double t0 = timed ? now_s() : 0;
		if (fsm_fold(&st, &life->ev[i], &out) != FSM_OK)
			die("fold", "failed");
		if (timed) {
			other_s += now_s() - t0;
			others++;
		}
	}
	fsm_out_free(&out);
	fsm_state_free(&st);
	printf("bench fold_other_events_per_s %.0f events/s\n", (double)others / other_s);
	fflush(stdout);
}

/* A copy of a state, through the snapshot codec. */
static void clone_state(const struct fsm_state *from, struct fsm_state *to)
{
	struct jnl_buf frame = {0};
	struct jnl_snap_hdr h = {.seq = from->last_seq,
	                         .ts_ms = from->last_ts_ms,
	                         .wall_ms = from->last_wall_ms,
	                         .fsm_version = FSM_VERSION};
	if (jnl_codec_snapshot_encode(&frame, &h, from) != 0 ||
	    jnl_codec_snapshot_decode(frame.p, frame.len, &h, to) != 0)
		die("snapshot codec", "round trip failed");
	jnl_buf_free(&frame);
}

/*
 * 110 pods brought up without faults, then nothing but probe results: each
 * started probe reports once a second (every result ok, as a healthy node's
 * do), spread over the second.
 */
static void bench_probes(void)
{
	struct sim_opts o;
	sim_opts_default(&o, BENCH_SEED + 1, NODE_PODS);
	o.probe_period_s_max = 1;
	o.pm_fail_sandbox = o.pm_fail_pull = o.pm_fail_create = o.pm_fail_start = 0;
	o.pm_fail_hook = o.pm_crash = o.pm_sandbox_death = o.pm_startup_slow = 0;
	o.pm_probe_run_liveness = o.pm_probe_run_readiness = 0;
	o.pm_delete_tick = o.pm_update_tick = o.pm_evict_tick = o.pm_deadline = 0;
	o.pm_relist_tick = o.pm_stats_tick = 0;
	o.pm_jobs = 0; /* every pod runs for good */
	struct sim s;
	sim_init(&s, &o);
	while (s.now < SIM_TS0_MS + 120000 && sim_next(&s) != NULL) {
	}
	/* The probes the simulated workers run now. */
	struct probe_ref {
		const char *uid, *ctr;
		enum fsm_probe_type t;
	} *refs = NULL;
	size_t nrefs = 0, cap = 0;
	size_t running = 0;
	for (size_t i = 0; i < s.npods; i++) {
		struct sim_pod *p = s.pods[i];
		const struct fsm_pod *fp = fsm_state_pod(&s.st, p->uid);
		if (fp == NULL || fp->stage != FSM_PS_ACTIVE)
			continue;
		running++;
		for (uint32_t c = 0; c < p->nctr; c++)
			for (int t = 0; t < 3; t++) {
				if (!p->c[c].probe_on[t])
					continue;
				if (nrefs == cap) {
					cap = cap ? cap * 2 : 256;
					refs = realloc(refs, cap * sizeof(*refs));
					if (refs == NULL)
						die("probes", "out of memory");
				}
				refs[nrefs++] = (struct probe_ref){p->uid, p->c[c].name,
				                                   t == 0   ? FSM_PROBE_LIVENESS
				                                   : t == 1 ? FSM_PROBE_READINESS
				                                            : FSM_PROBE_STARTUP};
			}
	}
	if (nrefs == 0 || running < NODE_PODS / 2)
		die("probes", "the node did not come up");
	struct fsm_event *ev = calloc(PROBE_EVENTS, sizeof(*ev));
	if (ev == NULL)
		die("probes", "out of memory");
	uint64_t ts = s.st.last_ts_ms + 1;
	for (size_t i = 0; i < PROBE_EVENTS; i++) {
		const struct probe_ref *r = &refs[i % nrefs];
		ev[i].seq = s.st.last_seq + 1 + i;
		ev[i].ts_ms = ts + (uint64_t)i * 1000 / nrefs;
		ev[i].wall_ms = SIM_WALL0_MS + ev[i].ts_ms;
		ev[i].kind = FSM_EV_PROBE;
		ev[i].u.probe.pod_uid = r->uid;
		ev[i].u.probe.container = r->ctr;
		ev[i].u.probe.probe = r->t;
		ev[i].u.probe.ok = true;
		ev[i].u.probe.message = "";
	}
	double best = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct fsm_state st;
		clone_state(&s.st, &st);
		struct fsm_out out = {0};
		double t0 = now_s();
		for (size_t i = 0; i < PROBE_EVENTS; i++) {
			fsm_out_reset(&out);
			if (fsm_fold(&st, &ev[i], &out) != FSM_OK)
				die("probe fold", "failed");
		}
		double t = now_s() - t0;
		fsm_out_free(&out);
		fsm_state_free(&st);
		if ((double)PROBE_EVENTS / t > best)
			best = (double)PROBE_EVENTS / t;
	}
	fprintf(stderr, "fold_bench: %zu probes on %zu running pods\n", nrefs, running);
	printf("bench fold_probe_events_per_s %.0f events/s\n", best);
	fflush(stdout);
	free(ev);
	free(refs);
	sim_free(&s);
}

static void jdie(const char *what, int rc, const struct jnl_damage *d)
{
	char why[400];
	snprintf(why, sizeof(why), "%s%s%s", jnl_strerror(rc), d && d->what[0] ? ": " : "",
	         d ? d->what : "");
	die(what, why);
}

/* The life as a journal: events with their decisions, batches of 1024, a
 * snapshot every SNAPSHOT_EVERY events below the tip. */
static void write_journal(const char *dir, const struct sim *life, struct fsm_state *st)
{
	struct jnl *j;
	struct jnl_damage d = {0};
	int rc = jnl_open(&j, dir, NULL, &d);
	if (rc != 0)
		jdie("open", rc, &d);
	struct jnl_batch *b;
	if ((rc = jnl_batch_new(j, &b)) != 0)
		jdie("batch", rc, NULL);
	struct fsm_out out = {0};
	fsm_state_init(st);
	for (size_t i = 0; i < life->nev; i++) {
		struct fsm_event e = life->ev[i];
		if ((rc = jnl_batch_add(b, &e)) != 0)
			jdie("add", rc, NULL);
		if (e.seq != life->ev[i].seq)
			die("journal", "seq differs from the stream's");
		fsm_out_reset(&out);
		if (fsm_fold(st, &e, &out) != FSM_OK)
			die("fold", "failed while writing");
		if ((rc = jnl_batch_decide(b, out.cmds, out.n)) != 0)
			jdie("decide", rc, NULL);
		bool snap = e.seq % SNAPSHOT_EVERY == 0 && e.seq < life->nev;
		if (jnl_batch_count(b) == 1024 || snap || i + 1 == life->nev) {
			if ((rc = jnl_batch_commit(b)) != 0)
				jdie("commit", rc, NULL);
		}
		if (snap && (rc = jnl_snapshot_put(j, st)) != 0)
			jdie("snapshot", rc, NULL);
	}
	fsm_out_free(&out);
	jnl_batch_free(b);
	jnl_close(j);
}

static double time_replay(const char *dir, bool use_snapshot, const struct fsm_state *want,
                          struct replay_stats *st)
{
	struct jnl *j;
	struct jnl_damage d = {0};
	int rc = jnl_open(&j, dir, NULL, &d);
	if (rc != 0)
		jdie("reopen", rc, &d);
	struct fsm_state s;
	double t0 = now_s();
	rc = replay_state(j, use_snapshot, &s, st, &d);
	double t = now_s() - t0;
	if (rc != 0)
		jdie("replay", rc, &d);
	if (!fsm_state_equal(&s, want))
		die("replay", "the replayed state differs from the fold's");
	fsm_state_free(&s);
	jnl_close(j);
	return t;
}

static void bench_replay(const char *dir, const struct sim *life)
{
	rm_rf(dir);
	struct fsm_state tip;
	write_journal(dir, life, &tip);
	struct replay_stats st;
	double best = 1e9;
	for (int r = 0; r < ROUNDS; r++) {
		double t = time_replay(dir, true, &tip, &st);
		if (t < best)
			best = t;
	}
	if (st.snapshot_seq != LIFE_EVENTS - SNAPSHOT_EVERY || st.folded != SNAPSHOT_EVERY)
		die("replay", "did not start from the newest snapshot");
	printf("bench replay_1m_from_snapshot_s %.3f s\n", best);
	fflush(stdout);
	best = time_replay(dir, false, &tip, &st); /* context only: one round */
	if (st.snapshot_seq != 0 || st.folded != LIFE_EVENTS)
		die("replay", "did not fold from the first event");
	printf("bench replay_1m_full_s %.3f s\n", best);
	fflush(stdout);
	fsm_state_free(&tip);
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp/ledgerlet-bench-fold";
	struct sim life;
	double t0 = now_s();
	make_life(&life, LIFE_EVENTS);
	fprintf(stderr,
	        "fold_bench: %zu events, %.0f s of node life, %zu pods made, %llu probe results, "
	        "generated in %.1f s\n",
	        life.nev, (double)(life.now - SIM_TS0_MS) / 1000, life.npods,
	        (unsigned long long)life.kinds[FSM_EV_PROBE], now_s() - t0);
	bench_life(&life);
	bench_probes();
	bench_replay(dir, &life);
	sim_free(&life);
	return 0;
}
