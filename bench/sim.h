/*
 * bench/sim.h — a seeded node simulator (header-only, static functions), shared
 * by tests/unit/fsm/property_test.c and bench/fold_bench.c.
 *
 * It plays everything around the fold: the API server (pods added, updated,
 * deleted, a controller that deletes finished pods and keeps the node full),
 * the container runtime and the executors (every command the fold issues is
 * answered after a small simulated latency, as tests/replay/README.md's protocol
 * says), the probe workers (a result per period while a probe is started), the
 * timer wheel (timer.set / timer.cancel tracked, `timer` events at their due
 * time), the image store (images side-loaded for pull-policy-Never containers,
 * images garbage-collected: cri.image) and the node's sensors (node.pressure,
 * pod.stats). Faults are injected at seeded rates: effect failures, container
 * crashes and OOM kills, sandbox deaths, failing probe runs, memory pressure.
 *
 * The simulator folds every event it emits into its own state (it has to: the
 * fold's commands decide what happens next), so a run is one deterministic
 * function of its seed (TigerBeetle's VOPR is the model). Events come out with
 * seq 1, 2, 3... and non-decreasing ts_ms. With opts.record it keeps them
 * (sim.ev[0..nev), strings in sim.keep) for replaying elsewhere.
 *
 * As the runtime it also checks what only the runtime sees, and records each
 * breach in sim.violations (the first SIM_VIOLATIONS_KEEP of them as text):
 *   - a cri.run_sandbox while the pod's previous sandbox is still creating or
 *     ready (two live sandboxes for one pod);
 *   - with opts.check_ids: a command id issued again while its earlier dispatch
 *     is unanswered (executors dedupe by id: the second would be lost), or a
 *     run_sandbox / create / start id issued again after it succeeded (the
 *     executor would find the old object and do nothing); a probe.start for a
 *     probe already started.
 *
 * Bounds: SIM_CTRS_MAX containers a pod, SIM_TIMERS_MAX timers a pod (more is a
 * violation), the action heap grows as needed (it holds what is in flight:
 * a few per container).
 */
#ifndef LEDGERLET_BENCH_SIM_H
#define LEDGERLET_BENCH_SIM_H

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/arena.h"
#include "fsm/buf.h"
#include "fsm/fsm.h"
#include "fsm/status.h"

#define SIM_FN __attribute__((unused)) static

#define SIM_CTRS_MAX        6
#define SIM_TIMERS_MAX      24
#define SIM_ID_BYTES        160
#define SIM_IMAGES          6
#define SIM_VIOLATIONS_KEEP 8
#define SIM_WALL0_MS        UINT64_C(1795794668000) /* 2026-11-27T15:51:08Z */
#define SIM_TS0_MS          UINT64_C(1000)

struct sim_opts {
	uint64_t seed;
	uint32_t pods;               /* pods the API keeps on the node */
	uint32_t max_pods;           /* node.config maxPods */
	bool record;                 /* keep every event in sim.ev */
	bool quiet_probes;           /* drop repeats past the thresholds (DESIGN.md contract 10) */
	bool check_ids;              /* track command ids (see the file comment) */
	uint32_t probe_period_s_max; /* periods drawn from 1..this */
	/* Fault and churn rates, per mille. */
	uint32_t pm_fail_sandbox, pm_fail_pull, pm_fail_create, pm_fail_start, pm_fail_hook;
	uint32_t pm_crash;         /* a started long-running container crashes later */
	uint32_t pm_sandbox_death; /* a ready sandbox dies later */
	uint32_t pm_startup_slow;  /* a startup probe fails a few times first */
	uint32_t pm_probe_run_liveness, pm_probe_run_readiness; /* per result: a failing run */
	uint32_t pm_delete_tick, pm_update_tick, pm_evict_tick, pm_stats_tick, pm_relist_tick;
	uint32_t pm_deadline;      /* pods with activeDeadlineSeconds */
	uint32_t pm_jobs;          /* pods with restartPolicy OnFailure or Never (half each) */
	uint32_t pm_pull_never;    /* containers with imagePullPolicy Never: their image is
	                            * side-loaded later (a cri.image event) */
	uint32_t pm_image_gc_tick; /* per tick: an image is garbage-collected */
	bool api;                  /* joined to an API server: Node, Lease, events, deletes */
	/* Volumes (0 by default: no draws, the streams of other options stay as
	 * they were): pods with a configMap and an emptyDir volume, failed setups,
	 * and per tick a ConfigMap of theirs reported changed (api.object). */
	uint32_t pm_volumes, pm_fail_volume, pm_object_tick;
};

SIM_FN void sim_opts_default(struct sim_opts *o, uint64_t seed, uint32_t pods)
{
	memset(o, 0, sizeof(*o));
	o->seed = seed ? seed : 1;
	o->pods = pods;
	o->max_pods = 110;
	o->probe_period_s_max = 3;
	o->pm_fail_sandbox = 30;
	o->pm_fail_pull = 50;
	o->pm_fail_create = 30;
	o->pm_fail_start = 20;
	o->pm_fail_hook = 50;
	o->pm_crash = 150;
	o->pm_sandbox_death = 30;
	o->pm_startup_slow = 200;
	o->pm_probe_run_liveness = 2;
	o->pm_probe_run_readiness = 5;
	o->pm_delete_tick = 30;
	o->pm_update_tick = 10;
	o->pm_evict_tick = 2;
	o->pm_stats_tick = 200;
	o->pm_relist_tick = 50;
	o->pm_deadline = 50;
	o->pm_jobs = 300;
	o->pm_pull_never = 0;
	o->pm_image_gc_tick = 0;
}

/* Rates that make a short run eventful: lifecycle and faults rather than the
 * steady probing of a healthy node. For the property tests. */
SIM_FN void sim_opts_stress(struct sim_opts *o)
{
	o->probe_period_s_max = 10;
	o->pm_fail_sandbox = 100;
	o->pm_fail_pull = 150;
	o->pm_fail_create = 100;
	o->pm_fail_start = 80;
	o->pm_fail_hook = 150;
	o->pm_crash = 600;
	o->pm_sandbox_death = 150;
	o->pm_startup_slow = 300;
	o->pm_probe_run_liveness = 20;
	o->pm_probe_run_readiness = 40;
	o->pm_delete_tick = 200;
	o->pm_update_tick = 60;
	o->pm_volumes = 300;
	o->pm_fail_volume = 150;
	o->pm_object_tick = 150;
	o->pm_evict_tick = 20;
	o->pm_stats_tick = 300;
	o->pm_relist_tick = 200;
	o->pm_deadline = 150;
	o->pm_pull_never = 40;
	o->pm_image_gc_tick = 20;
}

/* ---- the simulated world ---- */

enum sim_sb_state { SBW_NONE = 0, SBW_CREATING, SBW_READY, SBW_DEAD, SBW_STOPPED };
enum sim_ctr_state { CW_NONE = 0, CW_CREATED, CW_RUNNING, CW_EXITED };

struct sim_ctr {
	/* spec */
	char name[16];
	bool init, sidecar;
	uint32_t image, image_version;
	bool pull_always, pull_never;
	uint32_t period_s[3]; /* liveness, readiness, startup (0: none) */
	uint32_t failure_threshold[3];
	uint32_t success_threshold[3];
	bool post_start, pre_stop;
	/* the runtime's newest container of this slot */
	uint32_t attempt;
	enum sim_ctr_state state;
	uint32_t sb_attempt;
	uint32_t gen; /* bumped on every change: scheduled exits check it */
	uint64_t started_wall_ms;
	/* probe workers */
	bool probe_on[3];
	uint32_t probe_gen[3];
	uint32_t fail_run[3];
	uint32_t start_fails;
	bool last_ok[3];
	uint32_t same_run[3];
};

struct sim_timer {
	char key[SIM_ID_BYTES];
	uint32_t gen;
	bool armed;
};

struct sim_pod {
	char *uid, *name; /* in sim.keep: events point at them */
	uint32_t index;
	enum fsm_restart_policy policy;
	int64_t grace_s;
	int64_t deadline_s; /* -1 none */
	uint32_t nctr, ninit;
	struct sim_ctr c[SIM_CTRS_MAX];
	int32_t cfg; /* the ConfigMap cfg-<n> its volume reads; -1: no volumes */
	/* API side */
	bool present;  /* made by the controller, DELETED not sent */
	bool added;    /* ADDED sent */
	bool deleting; /* deletionTimestamp set */
	uint64_t deletion_wall_ms;
	uint64_t delete_due_ts_ms; /* DELETED at the latest then */
	const char *json;          /* in sim.keep */
	size_t json_len;
	/* runtime side */
	enum sim_sb_state sb_state;
	uint32_t sb_attempt;
	struct sim_timer timers[SIM_TIMERS_MAX];
};

enum sim_act_type {
	SA_EFFECT = 1, /* effect{id}; op applies the world change */
	SA_SANDBOX,    /* cri.sandbox ready with its IP */
	SA_STOP,       /* the runtime stops a container: exit, then the effect */
	SA_EXIT,       /* a container exits on its own (gen checked) */
	SA_TIMER,
	SA_PROBE,
	SA_SB_DEATH,
	SA_CONTROL, /* the controller: no event of its own */
	SA_API_ADD,
	SA_API_UPDATE,
	SA_API_DELMARK, /* MODIFIED with deletionTimestamp */
	SA_API_DELETED, /* DELETED once the kubelet is done (or the grace ran out) */
	SA_PRESSURE,
	SA_STATS,
	SA_RELIST, /* cri.container running again for a running container */
	SA_IMAGE,  /* cri.image: ok (side-loaded) or not (garbage-collected) */
	SA_CONFIG,
	SA_OBJECT, /* api.object: ConfigMap cfg-<ctr> with content <value> (or gone) */
};

enum sim_op {
	OP_NONE = 0,
	OP_SB_READY,
	OP_SB_STOPPED,
	OP_CREATED,
	OP_STARTED,
};

struct sim_act {
	uint64_t ts, order;
	uint8_t type, op, probe, cmd_kind;
	bool ok;
	uint8_t err_class;
	int32_t pod, ctr;
	uint32_t attempt, gen;
	int32_t exit_code;
	int64_t value;
	char id[SIM_ID_BYTES];
};

/* A set of command ids in flight (state 1) or done well (state 2). */
struct sim_id_node {
	struct sim_id_node *next;
	uint8_t state;
	char id[];
};
#define SIM_ID_BUCKETS 65536

struct sim {
	struct sim_opts o;
	uint64_t rng;
	uint64_t now;
	uint64_t seq;
	uint64_t order;
	uint32_t timer_gen; /* one sequence for all timers: a stale firing never matches */
	struct fsm_state st;
	struct fsm_out out;
	/* what is in flight */
	struct sim_act *heap;
	size_t nheap, capheap;
	/* pods ever made, by index */
	struct sim_pod **pods;
	size_t npods, cappods;
	/* events: recorded (opts.record) or just the current one */
	struct fsm_event *ev;
	size_t nev, capev;
	struct fsm_event cur;
	struct fsm_arena keep;    /* recorded strings, pods' strings: the sim's lifetime */
	struct fsm_arena scratch; /* the current event's strings when not recording */
	/* checks */
	uint64_t violations;
	char violation[SIM_VIOLATIONS_KEEP][320];
	struct sim_id_node **ids;
	/* called after each fold, before the commands are dispatched */
	void (*on_fold)(struct sim *s, const struct fsm_event *ev, int rc, void *ctx);
	void *ctx;
	uint64_t kinds[FSM_EV_KIND_COUNT];
};

/* ---- small helpers ---- */

SIM_FN uint64_t sim_rand(struct sim *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
SIM_FN uint64_t sim_between(struct sim *s, uint64_t lo, uint64_t hi)
{
	assert(hi >= lo);
	return lo + sim_rand(s) % (hi - lo + 1);
}

SIM_FN bool sim_pm(struct sim *s, uint32_t per_mille)
{
	return sim_rand(s) % 1000 < per_mille;
}

SIM_FN void sim_violate(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SIM_FN void sim_violate(struct sim *s, const char *fmt, ...)
{
	if (s->violations < SIM_VIOLATIONS_KEEP) {
		char *d = s->violation[s->violations];
		int n = snprintf(d, 320, "seq %llu ts %llu: ", (unsigned long long)s->seq,
		                 (unsigned long long)s->now);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d + n, (size_t)(320 - n), fmt, ap);
		va_end(ap);
	}
	s->violations++;
}

SIM_FN uint64_t sim_fnv(uint64_t h, const char *p)
{
	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* uids look random (so the pods table's order is not the creation order) but
 * carry the pod's index: the first 8 hex digits are index * K mod 2^32. */
#define SIM_UID_K 0x9E3779B1u
SIM_FN uint32_t sim_uid_kinv(void)
{
	uint32_t inv = SIM_UID_K;
	for (int i = 0; i < 5; i++)
		inv *= 2u - SIM_UID_K * inv;
	return inv;
}

SIM_FN struct sim_pod *sim_pod_of(const struct sim *s, const char *uid)
{
	if (uid == NULL || strlen(uid) < 9)
		return NULL;
	char hex[9];
	memcpy(hex, uid, 8);
	hex[8] = '\0';
	uint32_t x = (uint32_t)strtoul(hex, NULL, 16);
	uint32_t i = x * sim_uid_kinv();
	if (i >= s->npods || strcmp(s->pods[i]->uid, uid) != 0)
		return NULL;
	return s->pods[i];
}

SIM_FN int sim_ctr_of(const struct sim_pod *p, const char *name)
{
	for (uint32_t i = 0; i < p->nctr; i++)
		if (strcmp(p->c[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- the action heap, ordered by (ts, order) ---- */

SIM_FN bool sim_act_before(const struct sim_act *a, const struct sim_act *b)
{
	return a->ts != b->ts ? a->ts < b->ts : a->order < b->order;
}

SIM_FN struct sim_act *sim_act_new(struct sim *s, uint8_t type, uint64_t ts)
{
	if (s->nheap == s->capheap) {
		size_t cap = s->capheap ? s->capheap * 2 : 256;
		struct sim_act *v = realloc(s->heap, cap * sizeof(*v));
		if (v == NULL)
			abort();
		s->heap = v;
		s->capheap = cap;
	}
	/* Placed at the end; sim_act_push sifts it up once its fields are set.
	 * So: no other sim_act_new between this one and its push. */
	struct sim_act *a = &s->heap[s->nheap];
	memset(a, 0, offsetof(struct sim_act, id) + 1);
	a->type = type;
	a->ts = ts < s->now ? s->now : ts;
	a->order = s->order++;
	a->pod = -1;
	a->ctr = -1;
	return a;
}

SIM_FN void sim_act_push(struct sim *s)
{
	size_t i = s->nheap++;
	struct sim_act x = s->heap[i];
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!sim_act_before(&x, &s->heap[up]))
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = x;
}

SIM_FN void sim_act_pop(struct sim *s, struct sim_act *out)
{
	assert(s->nheap > 0);
	*out = s->heap[0];
	struct sim_act x = s->heap[--s->nheap];
	size_t i = 0, n = s->nheap;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sim_act *best = &x;
		if (l < n && sim_act_before(&s->heap[l], best)) {
			m = l;
			best = &s->heap[l];
		}
		if (r < n && sim_act_before(&s->heap[r], best))
			m = r;
		if (m == i)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (n > 0)
		s->heap[i] = x;
}

/* ---- command ids in flight ---- */

SIM_FN struct sim_id_node **sim_id_slot(struct sim *s, const char *id)
{
	uint64_t h = sim_fnv(0xcbf29ce484222325ULL, id);
	struct sim_id_node **pp = &s->ids[h % SIM_ID_BUCKETS];
	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

SIM_FN void sim_id_issue(struct sim *s, const struct fsm_command *c)
{
	if (!s->o.check_ids)
		return;
	struct sim_id_node **pp = sim_id_slot(s, c->id);
	if (*pp != NULL) {
		if ((*pp)->state == 1)
			sim_violate(s, "%s %s issued again while the first is unanswered",
			            fsm_cmd_kind_name(c->kind), c->id);
		else
			sim_violate(s,
			            "%s %s issued again after it succeeded (the executor would "
			            "find the old object and do nothing)",
			            fsm_cmd_kind_name(c->kind), c->id);
		(*pp)->state = 1;
		return;
	}
	size_t n = strlen(c->id) + 1;
	struct sim_id_node *node = malloc(sizeof(*node) + n);
	if (node == NULL)
		abort();
	node->next = NULL;
	node->state = 1;
	memcpy(node->id, c->id, n);
	*pp = node;
}

SIM_FN void sim_id_answer(struct sim *s, const char *id, uint8_t kind, bool ok)
{
	if (!s->o.check_ids)
		return;
	struct sim_id_node **pp = sim_id_slot(s, id);
	if (*pp == NULL)
		return;
	bool keep =
	        ok && (kind == FSM_CMD_CRI_RUN_SANDBOX || kind == FSM_CMD_CRI_CREATE_CONTAINER ||
	               kind == FSM_CMD_CRI_START_CONTAINER);
	if (keep) {
		(*pp)->state = 2;
		return;
	}
	struct sim_id_node *dead = *pp;
	*pp = dead->next;
	free(dead);
}

/* ---- emitting events ---- */

SIM_FN const char *sim_str(struct sim *s, const char *str)
{
	char *p = fsm_arena_strdup(s->o.record ? &s->keep : &s->scratch, str);
	if (p == NULL)
		abort();
	return p;
}

SIM_FN struct fsm_event *sim_event(struct sim *s, enum fsm_event_kind kind)
{
	struct fsm_event *e = &s->cur;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

/* ---- pods: specs and their JSON ---- */

static const char *const sim_images[SIM_IMAGES] = {
        "127.0.0.1:5000/busybox", "127.0.0.1:5000/nginx", "127.0.0.1:5000/redis",
        "127.0.0.1:5000/envoy",   "127.0.0.1:5000/app",   "127.0.0.1:5000/agent",
};
static const char *const sim_probe_key[3] = {"livenessProbe", "readinessProbe", "startupProbe"};

SIM_FN void sim_probe_json(struct fsm_buf *b, const struct sim_ctr *c, int t)
{
	char tmp[200];
	snprintf(tmp, sizeof(tmp),
	         ",\"%s\":{\"exec\":{\"command\":[\"/bin/check\",\"%s\"]},\"periodSeconds\":%u,"
	         "\"successThreshold\":%u,\"failureThreshold\":%u}",
	         sim_probe_key[t],
	         t == 0   ? "live"
	         : t == 1 ? "ready"
	                  : "started",
	         c->period_s[t], c->success_threshold[t], c->failure_threshold[t]);
	fsm_buf_puts(b, tmp);
}

SIM_FN void sim_ctr_json(struct fsm_buf *b, const struct sim_ctr *c)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "{\"name\":\"%s\",\"image\":\"%s:1.%u\"", c->name,
	         sim_images[c->image], c->image_version);
	fsm_buf_puts(b, tmp);
	if (c->pull_always)
		fsm_buf_puts(b, ",\"imagePullPolicy\":\"Always\"");
	else if (c->pull_never)
		fsm_buf_puts(b, ",\"imagePullPolicy\":\"Never\"");
	if (c->sidecar)
		fsm_buf_puts(b, ",\"restartPolicy\":\"Always\"");
	fsm_buf_puts(b,
	             ",\"command\":[\"/bin/serve\"],\"resources\":{\"requests\":{\"cpu\":\"50m\","
	             "\"memory\":\"32Mi\"}}");
	for (int t = 0; t < 3; t++)
		if (c->period_s[t] > 0)
			sim_probe_json(b, c, t);
	if (c->post_start || c->pre_stop) {
		fsm_buf_puts(b, ",\"lifecycle\":{");
		if (c->post_start)
			fsm_buf_puts(b, "\"postStart\":{\"exec\":{\"command\":[\"/bin/warm\"]}}");
		if (c->pre_stop)
			fsm_buf_puts(b, c->post_start ? ",\"preStop\":{\"sleep\":{\"seconds\":1}}"
			                              : "\"preStop\":{\"sleep\":{\"seconds\":1}}");
		fsm_buf_putc(b, '}');
	}
	fsm_buf_putc(b, '}');
}

/* The Pod as the API server would send it; kept in sim.keep. */
SIM_FN void sim_pod_json(struct sim *s, struct sim_pod *p)
{
	static const char *const policies[] = {"Always", "OnFailure", "Never"};
	struct fsm_buf b = FSM_BUF_INIT;
	char tmp[512];
	snprintf(tmp, sizeof(tmp),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
	         "\"namespace\":\"default\",\"uid\":\"%s\",\"resourceVersion\":\"%llu\"",
	         p->name, p->uid, (unsigned long long)s->seq + 1);
	fsm_buf_puts(&b, tmp);
	if (p->deleting) {
		char when[FSM_RFC3339_BYTES];
		fsm_time_rfc3339(p->deletion_wall_ms, when);
		snprintf(tmp, sizeof(tmp),
		         ",\"deletionTimestamp\":\"%s\",\"deletionGracePeriodSeconds\":%lld", when,
		         (long long)p->grace_s);
		fsm_buf_puts(&b, tmp);
	}
	snprintf(tmp, sizeof(tmp),
	         "},\"spec\":{\"nodeName\":\"node-1\",\"restartPolicy\":\"%s\","
	         "\"terminationGracePeriodSeconds\":%lld",
	         policies[p->policy], (long long)p->grace_s);
	fsm_buf_puts(&b, tmp);
	if (p->deadline_s > 0) {
		snprintf(tmp, sizeof(tmp), ",\"activeDeadlineSeconds\":%lld",
		         (long long)p->deadline_s);
		fsm_buf_puts(&b, tmp);
	}
	if (p->cfg >= 0) {
		snprintf(tmp, sizeof(tmp),
		         ",\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cfg-%d\"}},"
		         "{\"name\":\"scratch\",\"emptyDir\":{}}]",
		         p->cfg);
		fsm_buf_puts(&b, tmp);
	}
	if (p->ninit > 0) {
		fsm_buf_puts(&b, ",\"initContainers\":[");
		for (uint32_t i = 0; i < p->ninit; i++) {
			if (i > 0)
				fsm_buf_putc(&b, ',');
			sim_ctr_json(&b, &p->c[i]);
		}
		fsm_buf_putc(&b, ']');
	}
	fsm_buf_puts(&b, ",\"containers\":[");
	for (uint32_t i = p->ninit; i < p->nctr; i++) {
		if (i > p->ninit)
			fsm_buf_putc(&b, ',');
		sim_ctr_json(&b, &p->c[i]);
	}
	fsm_buf_puts(&b, "]},\"status\":{\"phase\":\"Pending\"}}");
	if (b.ptr == NULL)
		abort();
	p->json = fsm_arena_strndup(&s->keep, b.ptr, b.len);
	p->json_len = b.len;
	fsm_buf_free(&b);
	if (p->json == NULL)
		abort();
}

SIM_FN void sim_ctr_spec(struct sim *s, struct sim_ctr *c, bool long_running)
{
	c->image = (uint32_t)sim_between(s, 0, SIM_IMAGES - 1);
	c->image_version = (uint32_t)sim_between(s, 0, 3);
	c->pull_always = sim_pm(s, 100);
	c->pull_never = !c->pull_always && sim_pm(s, s->o.pm_pull_never);
	if (!long_running)
		return; /* regular init containers take no probes */
	uint32_t pmax = s->o.probe_period_s_max ? s->o.probe_period_s_max : 1;
	if (sim_pm(s, 500)) {
		c->period_s[0] = (uint32_t)sim_between(s, 1, pmax);
		c->failure_threshold[0] = (uint32_t)sim_between(s, 1, 3);
		c->success_threshold[0] = 1;
	}
	if (sim_pm(s, 650)) {
		c->period_s[1] = (uint32_t)sim_between(s, 1, pmax);
		c->failure_threshold[1] = (uint32_t)sim_between(s, 1, 3);
		c->success_threshold[1] = (uint32_t)sim_between(s, 1, 2);
	}
	if (sim_pm(s, 200)) {
		c->period_s[2] = (uint32_t)sim_between(s, 1, pmax);
		c->failure_threshold[2] = (uint32_t)sim_between(s, 3, 10);
		c->success_threshold[2] = 1;
	}
	c->post_start = sim_pm(s, 100);
	c->pre_stop = sim_pm(s, 200);
}

SIM_FN struct sim_pod *sim_pod_new(struct sim *s)
{
	if (s->npods == s->cappods) {
		size_t cap = s->cappods ? s->cappods * 2 : 128;
		struct sim_pod **v = realloc(s->pods, cap * sizeof(*v));
		if (v == NULL)
			abort();
		s->pods = v;
		s->cappods = cap;
	}
	struct sim_pod *p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->index = (uint32_t)s->npods;
	s->pods[s->npods++] = p;
	char uid[40], name[40];
	uint64_t r = sim_rand(s);
	snprintf(uid, sizeof(uid), "%08x-%04x-4%03x-8%03x-%012llx", p->index * SIM_UID_K,
	         (unsigned)(r & 0xffff), (unsigned)((r >> 16) & 0xfff),
	         (unsigned)((r >> 28) & 0xfff),
	         (unsigned long long)(sim_rand(s) & 0xffffffffffffULL));
	snprintf(name, sizeof(name), "pod-%u", p->index);
	p->uid = fsm_arena_strdup(&s->keep, uid);
	p->name = fsm_arena_strdup(&s->keep, name);
	if (p->uid == NULL || p->name == NULL)
		abort();
	uint64_t pol = sim_rand(s) % 1000;
	p->policy = pol >= s->o.pm_jobs      ? FSM_RESTART_ALWAYS
	            : pol < s->o.pm_jobs / 2 ? FSM_RESTART_ON_FAILURE
	                                     : FSM_RESTART_NEVER;
	static const int64_t graces[] = {0, 1, 2, 5, 10, 30};
	p->grace_s = graces[sim_rand(s) % 6];
	p->deadline_s = sim_pm(s, s->o.pm_deadline) ? (int64_t)sim_between(s, 20, 600) : -1;
	p->cfg = s->o.pm_volumes > 0 && sim_pm(s, s->o.pm_volumes) ? (int32_t)(sim_rand(s) % 3) : -1;
	uint64_t ni = sim_rand(s) % 100;
	p->ninit = ni < 60 ? 0 : ni < 85 ? 1 : 2;
	p->nctr = p->ninit + (uint32_t)sim_between(s, 1, 3);
	for (uint32_t i = 0; i < p->nctr; i++) {
		struct sim_ctr *c = &p->c[i];
		c->init = i < p->ninit;
		c->sidecar = c->init && sim_pm(s, 350);
		if (c->sidecar)
			snprintf(c->name, sizeof(c->name), "side-%u", i);
		else if (c->init)
			snprintf(c->name, sizeof(c->name), "init-%u", i);
		else
			snprintf(c->name, sizeof(c->name), "app-%u", i - p->ninit);
		sim_ctr_spec(s, c, !c->init || c->sidecar);
	}
	sim_pod_json(s, p);
	return p;
}

/* ---- the world's reactions ---- */

/* A container id as containerd makes them: 64 hex digits, here from its name. */
SIM_FN void sim_ctr_id(const struct sim_pod *p, uint32_t ci, uint32_t attempt, char out[65])
{
	char seed[200];
	snprintf(seed, sizeof(seed), "%s/%s/%u", p->uid, p->c[ci].name, attempt);
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int k = 0; k < 4; k++) {
		h = sim_fnv(h ^ (uint64_t)k, seed);
		snprintf(out + 16 * k, 17, "%016llx", (unsigned long long)h);
	}
}

SIM_FN void sim_sb_id(const struct sim_pod *p, uint32_t attempt, char out[65])
{
	char seed[80];
	snprintf(seed, sizeof(seed), "sandbox/%s/%u", p->uid, attempt);
	uint64_t h = 0x84222325cbf29ce4ULL;
	for (int k = 0; k < 4; k++) {
		h = sim_fnv(h ^ (uint64_t)k, seed);
		snprintf(out + 16 * k, 17, "%016llx", (unsigned long long)h);
	}
}

/* When a container that just started ends on its own (or never, 0). */
SIM_FN void sim_schedule_life(struct sim *s, struct sim_pod *p, uint32_t ci)
{
	struct sim_ctr *c = &p->c[ci];
	uint64_t after = 0;
	int32_t code = 0;
	if (c->init && !c->sidecar) {
		after = sim_between(s, 50, 3000);
		code = sim_pm(s, 100) ? 1 : 0;
	} else if (!c->sidecar && p->policy != FSM_RESTART_ALWAYS) {
		/* a job */
		after = sim_between(s, 2000, 120000);
		code = sim_pm(s, 250) ? 1 : 0;
	} else if (sim_pm(s, s->o.pm_crash)) {
		after = sim_between(s, 1000, 900000);
		uint64_t k = sim_rand(s) % 10;
		code = k < 5 ? 1 : k < 8 ? 137 : 0;
	}
	if (after == 0)
		return;
	struct sim_act *a = sim_act_new(s, SA_EXIT, s->now + after);
	a->pod = (int32_t)p->index;
	a->ctr = (int32_t)ci;
	a->attempt = c->attempt;
	a->gen = c->gen;
	a->exit_code = code;
	a->ok = code == 137 && sim_pm(s, 500); /* OOMKilled rather than a plain kill */
	sim_act_push(s);
}

SIM_FN void sim_apply(struct sim *s, const struct sim_act *a)
{
	if (a->pod < 0)
		return;
	struct sim_pod *p = s->pods[a->pod];
	if ((a->op == OP_CREATED || a->op == OP_STARTED) &&
	    (a->ctr < 0 || (uint32_t)a->ctr >= p->nctr))
		return;
	switch (a->op) {
	case OP_SB_READY:
		if (p->sb_attempt != a->attempt || p->sb_state != SBW_CREATING)
			return;
		p->sb_state = a->ok ? SBW_READY : SBW_NONE;
		if (!a->ok)
			return;
		{
			struct sim_act *n =
			        sim_act_new(s, SA_SANDBOX, s->now + sim_between(s, 0, 5));
			n->pod = a->pod;
			n->attempt = a->attempt;
			sim_act_push(s);
		}
		if (sim_pm(s, s->o.pm_sandbox_death)) {
			struct sim_act *n =
			        sim_act_new(s, SA_SB_DEATH, s->now + sim_between(s, 2000, 600000));
			n->pod = a->pod;
			n->attempt = a->attempt;
			sim_act_push(s);
		}
		break;
	case OP_SB_STOPPED:
		if (p->sb_attempt == a->attempt)
			p->sb_state = SBW_STOPPED;
		break;
	case OP_CREATED: {
		struct sim_ctr *c = &p->c[a->ctr];
		c->attempt = a->attempt;
		c->state = CW_CREATED;
		c->sb_attempt = p->sb_attempt;
		c->gen++;
		break;
	}
	case OP_STARTED: {
		struct sim_ctr *c = &p->c[a->ctr];
		if (c->attempt != a->attempt || c->state != CW_CREATED)
			return;
		c->state = CW_RUNNING;
		c->gen++;
		c->started_wall_ms = SIM_WALL0_MS + s->now;
		c->start_fails =
		        sim_pm(s, s->o.pm_startup_slow) ? (uint32_t)sim_between(s, 1, 12) : 0;
		sim_schedule_life(s, p, (uint32_t)a->ctr);
		break;
	}
	default:
		break;
	}
}

/* ---- dispatching the fold's commands ---- */

SIM_FN struct sim_act *sim_effect(struct sim *s, const struct fsm_command *c, uint64_t latency_ms,
                                  bool ok)
{
	struct sim_act *a = sim_act_new(s, SA_EFFECT, s->now + latency_ms);
	a->ok = ok;
	a->err_class = ok ? FSM_ERR_NONE : FSM_ERR_TRANSIENT;
	a->cmd_kind = (uint8_t)c->kind;
	COPY(a->id, c->id);
	struct sim_pod *p = sim_pod_of(s, c->pod_uid);
	if (p != NULL) {
		a->pod = (int32_t)p->index;
		if (c->container[0] != '\0')
			a->ctr = sim_ctr_of(p, c->container);
	}
	a->attempt = c->attempt;
	return a;
}

SIM_FN int sim_probe_index(const char *id)
{
	if (strncmp(id, "probe-liveness/", 15) == 0)
		return 0;
	if (strncmp(id, "probe-readiness/", 16) == 0)
		return 1;
	if (strncmp(id, "probe-startup/", 14) == 0)
		return 2;
	return -1;
}

SIM_FN struct sim_timer *sim_timer_find(struct sim_pod *p, const char *key, bool make)
{
	struct sim_timer *free_slot = NULL;
	for (int i = 0; i < SIM_TIMERS_MAX; i++) {
		if (p->timers[i].key[0] != '\0' && strcmp(p->timers[i].key, key) == 0)
			return &p->timers[i];
		if (free_slot == NULL && (p->timers[i].key[0] == '\0' || !p->timers[i].armed))
			free_slot = &p->timers[i];
	}
	if (!make || free_slot == NULL)
		return NULL;
	COPY(free_slot->key, key);
	free_slot->armed = false;
	return free_slot;
}

/* The pod a timer key names: "<what>/<uid>[/<name>]". */
SIM_FN struct sim_pod *sim_timer_pod(const struct sim *s, const char *key)
{
	const char *a = strchr(key, '/');
	if (a == NULL)
		return NULL;
	char uid[64];
	size_t n = strcspn(a + 1, "/");
	if (n >= sizeof(uid))
		return NULL;
	memcpy(uid, a + 1, n);
	uid[n] = '\0';
	return sim_pod_of(s, uid);
}

SIM_FN void sim_dispatch(struct sim *s, const struct fsm_command *c)
{
	struct sim_pod *p = sim_pod_of(s, c->pod_uid);
	int ci = p != NULL && c->container[0] != '\0' ? sim_ctr_of(p, c->container) : -1;
	bool orphan = strncmp(c->id, "orphan-", 7) == 0;
	switch (c->kind) {
	case FSM_CMD_TIMER_SET: {
		struct sim_pod *tp = sim_timer_pod(s, c->key);
		if (tp == NULL)
			return;
		struct sim_timer *t = sim_timer_find(tp, c->key, true);
		if (t == NULL) {
			sim_violate(s, "more than %d timers armed for pod %s", SIM_TIMERS_MAX,
			            tp->uid);
			return;
		}
		t->gen = ++s->timer_gen;
		t->armed = true;
		struct sim_act *a = sim_act_new(s, SA_TIMER, c->due_ms);
		a->pod = (int32_t)tp->index;
		a->gen = t->gen;
		COPY(a->id, c->key);
		sim_act_push(s);
		return;
	}
	case FSM_CMD_TIMER_CANCEL: {
		struct sim_pod *tp = sim_timer_pod(s, c->key);
		struct sim_timer *t = tp != NULL ? sim_timer_find(tp, c->key, false) : NULL;
		if (t != NULL) {
			t->gen = ++s->timer_gen;
			t->armed = false;
		}
		return;
	}
	case FSM_CMD_PROBE_START:
	case FSM_CMD_PROBE_STOP: {
		int t = sim_probe_index(c->id);
		if (p == NULL || ci < 0 || t < 0)
			return;
		struct sim_ctr *ctr = &p->c[ci];
		if (c->kind == FSM_CMD_PROBE_STOP) {
			ctr->probe_on[t] = false;
			ctr->probe_gen[t]++;
			return;
		}
		if (ctr->probe_on[t] && s->o.check_ids)
			sim_violate(s, "probe.start %s while that probe is already started", c->id);
		ctr->probe_on[t] = true;
		ctr->probe_gen[t]++;
		ctr->fail_run[t] = 0;
		ctr->same_run[t] = 0;
		ctr->last_ok[t] = false;
		uint32_t period = ctr->period_s[t] ? ctr->period_s[t] : 10;
		struct sim_act *a =
		        sim_act_new(s, SA_PROBE, s->now + sim_between(s, 1, period * 1000));
		a->pod = (int32_t)p->index;
		a->ctr = ci;
		a->probe = (uint8_t)t;
		a->gen = ctr->probe_gen[t];
		sim_act_push(s);
		return;
	}
	default:
		break;
	}
	/* Everything else is executed and ends in exactly one effect event. */
	sim_id_issue(s, c);
	struct sim_act *a;
	if (p == NULL || orphan) {
		a = sim_effect(s, c, sim_between(s, 1, 50), true);
		sim_act_push(s);
		return;
	}
	switch (c->kind) {
	case FSM_CMD_CRI_RUN_SANDBOX:
		if (p->sb_state == SBW_CREATING || p->sb_state == SBW_READY)
			sim_violate(s, "%s while sandbox attempt %u of the pod is %s", c->id,
			            p->sb_attempt,
			            p->sb_state == SBW_READY ? "ready" : "being created");
		p->sb_state = SBW_CREATING;
		p->sb_attempt = c->attempt;
		a = sim_effect(s, c, sim_between(s, 50, 800), !sim_pm(s, s->o.pm_fail_sandbox));
		a->op = OP_SB_READY;
		break;
	case FSM_CMD_CRI_STOP_SANDBOX:
		a = sim_effect(s, c, sim_between(s, 5, 200), true);
		a->op = OP_SB_STOPPED;
		break;
	case FSM_CMD_CRI_PULL_IMAGE:
		a = sim_effect(s, c, sim_between(s, 100, 4000), !sim_pm(s, s->o.pm_fail_pull));
		break;
	case FSM_CMD_CRI_CREATE_CONTAINER: {
		bool ok = p->sb_state == SBW_READY && !sim_pm(s, s->o.pm_fail_create);
		a = sim_effect(s, c, sim_between(s, 5, 150), ok);
		a->op = ok ? OP_CREATED : OP_NONE;
		if (p->sb_state != SBW_READY)
			a->err_class = FSM_ERR_NOT_FOUND;
		break;
	}
	case FSM_CMD_CRI_START_CONTAINER: {
		bool ok = ci >= 0 && p->sb_state == SBW_READY && p->c[ci].state == CW_CREATED &&
		          p->c[ci].attempt == c->attempt && p->c[ci].sb_attempt == p->sb_attempt &&
		          !sim_pm(s, s->o.pm_fail_start);
		a = sim_effect(s, c, sim_between(s, 5, 150), ok);
		a->op = ok ? OP_STARTED : OP_NONE;
		break;
	}
	case FSM_CMD_CRI_STOP_CONTAINER: {
		uint64_t cap = c->timeout_s > 0 ? (uint64_t)c->timeout_s * 1000 : 2000;
		a = sim_act_new(s, SA_STOP, s->now + sim_between(s, 5, cap < 3000 ? cap : 3000));
		a->pod = (int32_t)p->index;
		a->ctr = ci;
		a->attempt = c->attempt;
		a->cmd_kind = (uint8_t)c->kind;
		COPY(a->id, c->id);
		break;
	}
	case FSM_CMD_HOOK_RUN: {
		uint64_t cap = c->timeout_s > 0 ? (uint64_t)c->timeout_s * 1000 : 1000;
		a = sim_effect(s, c, sim_between(s, 5, cap < 1500 ? cap : 1500),
		               !sim_pm(s, s->o.pm_fail_hook));
		break;
	}
	case FSM_CMD_API_POD_STATUS:
		a = sim_effect(s, c, sim_between(s, 2, 60), true);
		break;
	case FSM_CMD_VOLUME_SETUP:
		a = sim_effect(s, c, sim_between(s, 2, 300), !sim_pm(s, s->o.pm_fail_volume));
		break;
	default: /* removes, reject, evict, exec, volume teardowns */
		a = sim_effect(s, c, sim_between(s, 2, 100), true);
		break;
	}
	sim_act_push(s);
}

/* ---- the controller: the API side of the node ---- */

SIM_FN uint32_t sim_present(const struct sim *s)
{
	uint32_t n = 0;
	for (size_t i = 0; i < s->npods; i++)
		n += s->pods[i]->present;
	return n;
}

SIM_FN void sim_delete(struct sim *s, struct sim_pod *p, bool graceful)
{
	p->deleting = true;
	p->deletion_wall_ms = SIM_WALL0_MS + s->now;
	p->delete_due_ts_ms = s->now + (uint64_t)p->grace_s * 1000 + 5000;
	struct sim_act *a;
	if (graceful) {
		a = sim_act_new(s, SA_API_DELMARK, s->now + sim_between(s, 0, 20));
		a->pod = (int32_t)p->index;
		sim_act_push(s);
	}
	a = sim_act_new(s, SA_API_DELETED, s->now + sim_between(s, 500, 2000));
	a->pod = (int32_t)p->index;
	sim_act_push(s);
}

SIM_FN void sim_control(struct sim *s)
{
	uint32_t present = sim_present(s);
	for (uint32_t k = 0; present < s->o.pods && k < 16; k++, present++) {
		struct sim_pod *p = sim_pod_new(s);
		p->present = true;
		struct sim_act *a = sim_act_new(s, SA_API_ADD, s->now + sim_between(s, 0, 200));
		a->pod = (int32_t)p->index;
		sim_act_push(s);
	}
	/* Finished pods are deleted (a job controller's GC, the eviction's cleanup). */
	for (size_t i = 0; i < s->npods; i++) {
		struct sim_pod *p = s->pods[i];
		if (!p->present || !p->added || p->deleting)
			continue;
		const struct fsm_pod *fp = fsm_state_pod(&s->st, p->uid);
		if (fp != NULL &&
		    (strcmp(fp->phase, "Succeeded") == 0 || strcmp(fp->phase, "Failed") == 0) &&
		    sim_pm(s, 300))
			sim_delete(s, p, true);
	}
	if (present > 0 && sim_pm(s, s->o.pm_delete_tick)) {
		struct sim_pod *p = s->pods[sim_rand(s) % s->npods];
		if (p->present && p->added && !p->deleting)
			sim_delete(s, p, sim_pm(s, 900));
	}
	if (present > 0 && sim_pm(s, s->o.pm_update_tick)) {
		struct sim_pod *p = s->pods[sim_rand(s) % s->npods];
		if (p->present && p->added && !p->deleting) {
			struct sim_act *a = sim_act_new(s, SA_API_UPDATE, s->now + 1);
			a->pod = (int32_t)p->index;
			sim_act_push(s);
		}
	}
	if (sim_pm(s, 100)) {
		struct sim_act *a = sim_act_new(s, SA_PRESSURE, s->now + sim_between(s, 0, 500));
		a->value = (int64_t)sim_between(s, 8, 200) << 30;
		sim_act_push(s);
	}
	if (sim_pm(s, s->o.pm_evict_tick)) {
		/* Memory runs low for a moment: the eviction manager acts on it,
		 * then a reading seconds later says it is back. */
		uint64_t at = s->now + sim_between(s, 0, 500);
		struct sim_act *a = sim_act_new(s, SA_PRESSURE, at);
		a->value = (int64_t)sim_between(s, 10, 90) << 20;
		sim_act_push(s);
		a = sim_act_new(s, SA_PRESSURE, at + sim_between(s, 500, 5000));
		a->value = (int64_t)sim_between(s, 8, 200) << 30;
		sim_act_push(s);
	}
	if (s->o.pm_object_tick > 0 && sim_pm(s, s->o.pm_object_tick)) {
		struct sim_act *a = sim_act_new(s, SA_OBJECT, s->now + sim_between(s, 0, 500));
		a->ctr = (int32_t)(sim_rand(s) % 3);
		a->value = (int64_t)(sim_rand(s) % 5); /* 0: deleted */
		sim_act_push(s);
	}
	if (present > 0 && sim_pm(s, s->o.pm_stats_tick)) {
		struct sim_act *a = sim_act_new(s, SA_STATS, s->now + sim_between(s, 0, 500));
		a->pod = (int32_t)(sim_rand(s) % s->npods);
		a->value = (int64_t)sim_between(s, 8, 600) << 20;
		sim_act_push(s);
	}
	if (present > 0 && sim_pm(s, s->o.pm_relist_tick)) {
		struct sim_act *a = sim_act_new(s, SA_RELIST, s->now + sim_between(s, 0, 500));
		a->pod = (int32_t)(sim_rand(s) % s->npods);
		a->ctr = (int32_t)(sim_rand(s) % SIM_CTRS_MAX);
		sim_act_push(s);
	}
	if (s->npods > 0 && sim_pm(s, s->o.pm_image_gc_tick)) {
		struct sim_act *a = sim_act_new(s, SA_IMAGE, s->now + sim_between(s, 0, 500));
		a->pod = (int32_t)(sim_rand(s) % s->npods);
		a->ctr = (int32_t)(sim_rand(s) % s->pods[a->pod]->nctr);
		a->ok = false;
		sim_act_push(s);
	}
	struct sim_act *a = sim_act_new(s, SA_CONTROL, s->now + sim_between(s, 1000, 3000));
	(void)a;
	sim_act_push(s);
}

/* ---- turning an action into an event (or into nothing) ---- */

SIM_FN void sim_ctr_exit_event(struct sim *s, struct sim_pod *p, uint32_t ci, int32_t code,
                               const char *reason)
{
	struct sim_ctr *c = &p->c[ci];
	char id[65];
	sim_ctr_id(p, ci, c->attempt, id);
	c->state = CW_EXITED;
	c->gen++;
	struct fsm_event *e = sim_event(s, FSM_EV_CRI_CONTAINER);
	e->u.cri_container.pod_uid = p->uid;
	e->u.cri_container.name = sim_str(s, c->name);
	e->u.cri_container.attempt = c->attempt;
	e->u.cri_container.id = sim_str(s, id);
	e->u.cri_container.state = FSM_CONTAINER_EXITED;
	e->u.cri_container.exit_code = code;
	e->u.cri_container.reason = reason;
	e->u.cri_container.message = "";
	e->u.cri_container.started_at_ms = (int64_t)c->started_wall_ms;
	e->u.cri_container.finished_at_ms = (int64_t)(SIM_WALL0_MS + s->now);
}

/* Returns true when the action made s->cur an event. */
SIM_FN bool sim_fire(struct sim *s, struct sim_act *a)
{
	struct sim_pod *p = a->pod >= 0 ? s->pods[a->pod] : NULL;
	struct fsm_event *e;
	char buf[80];
	switch ((enum sim_act_type)a->type) {
	case SA_CONFIG: {
		char cfg[800];
		snprintf(cfg, sizeof(cfg),
		         "{\"nodeName\":\"node-1\",\"hostIP\":\"10.0.0.1\",\"maxPods\":%u,"
		         "\"allocatable\":{\"cpu\":\"64\",\"memory\":\"256Gi\","
		         "\"ephemeral-storage\":\"500Gi\",\"pods\":\"%u\"},"
		         "\"labels\":{\"kubernetes.io/hostname\":\"node-1\"}%s}",
		         s->o.max_pods, s->o.max_pods,
		         s->o.api ? ",\"api\":true,\"node\":{\"capacity\":{\"cpu\":\"64\","
		                    "\"memory\":\"256Gi\",\"ephemeral-storage\":\"500Gi\"},"
		                    "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.1\"}],"
		                    "\"nodeInfo\":{\"machineID\":\"m\",\"bootID\":\"b\"}}"
		                  : "");
		e = sim_event(s, FSM_EV_NODE_CONFIG);
		e->u.node_config.config = sim_str(s, cfg);
		e->u.node_config.config_len = strlen(cfg);
		return true;
	}
	case SA_CONTROL:
		sim_control(s);
		return false;
	case SA_EFFECT: {
		bool ok = a->ok;
		sim_id_answer(s, a->id, a->cmd_kind, ok);
		sim_apply(s, a);
		e = sim_event(s, FSM_EV_EFFECT);
		e->u.effect.cmd = sim_str(s, a->id);
		e->u.effect.ok = ok;
		e->u.effect.error_class = ok ? FSM_ERR_NONE : (enum fsm_error_class)a->err_class;
		e->u.effect.error =
		        ok ? ""
		        : a->err_class == FSM_ERR_NOT_FOUND
		                ? "rpc error: code = NotFound desc = sandbox not found"
		                : "rpc error: code = Unavailable desc = transport is closing";
		e->u.effect.result = "";
		if (ok && p != NULL) {
			char id[65];
			if (a->cmd_kind == FSM_CMD_CRI_RUN_SANDBOX) {
				sim_sb_id(p, a->attempt, id);
				e->u.effect.result = sim_str(s, id);
			} else if (a->cmd_kind == FSM_CMD_CRI_CREATE_CONTAINER && a->ctr >= 0) {
				sim_ctr_id(p, (uint32_t)a->ctr, a->attempt, id);
				e->u.effect.result = sim_str(s, id);
			} else if (a->cmd_kind == FSM_CMD_CRI_PULL_IMAGE && a->ctr >= 0) {
				uint64_t h = sim_fnv(0xcbf29ce484222325ULL,
				                     sim_images[p->c[a->ctr].image]);
				snprintf(buf, sizeof(buf), "sha256:%016llx%016llx",
				         (unsigned long long)h,
				         (unsigned long long)(h * 31 + p->c[a->ctr].image_version));
				e->u.effect.result = sim_str(s, buf);
			}
		}
		return true;
	}
	case SA_SANDBOX: {
		char id[65];
		sim_sb_id(p, a->attempt, id);
		snprintf(buf, sizeof(buf), "10.88.%u.%u", (p->index / 250) % 250,
		         p->index % 250 + 2);
		e = sim_event(s, FSM_EV_CRI_SANDBOX);
		e->u.cri_sandbox.pod_uid = p->uid;
		e->u.cri_sandbox.attempt = a->attempt;
		e->u.cri_sandbox.id = sim_str(s, id);
		e->u.cri_sandbox.state = FSM_SANDBOX_READY;
		e->u.cri_sandbox.ip = sim_str(s, buf);
		return true;
	}
	case SA_SB_DEATH: {
		if (p->sb_state != SBW_READY || p->sb_attempt != a->attempt)
			return false;
		p->sb_state = SBW_DEAD;
		for (uint32_t i = 0; i < p->nctr; i++) {
			struct sim_ctr *c = &p->c[i];
			if (c->state != CW_RUNNING || c->sb_attempt != a->attempt)
				continue;
			struct sim_act *n = sim_act_new(s, SA_EXIT, s->now + sim_between(s, 1, 40));
			n->pod = a->pod;
			n->ctr = (int32_t)i;
			n->attempt = c->attempt;
			n->gen = c->gen;
			n->exit_code = 137;
			sim_act_push(s);
		}
		char id[65];
		sim_sb_id(p, a->attempt, id);
		e = sim_event(s, FSM_EV_CRI_SANDBOX);
		e->u.cri_sandbox.pod_uid = p->uid;
		e->u.cri_sandbox.attempt = a->attempt;
		e->u.cri_sandbox.id = sim_str(s, id);
		e->u.cri_sandbox.state = FSM_SANDBOX_NOTREADY;
		e->u.cri_sandbox.ip = "";
		return true;
	}
	case SA_EXIT: {
		struct sim_ctr *c = &p->c[a->ctr];
		if (c->gen != a->gen || c->attempt != a->attempt || c->state != CW_RUNNING)
			return false;
		const char *reason = a->exit_code == 0 ? "Completed"
		                     : a->ok           ? "OOMKilled"
		                                       : "Error";
		sim_ctr_exit_event(s, p, (uint32_t)a->ctr, a->exit_code, reason);
		return true;
	}
	case SA_STOP: {
		struct sim_ctr *c = a->ctr >= 0 ? &p->c[a->ctr] : NULL;
		/* The stop's effect follows the exit it caused. */
		struct sim_act *n = sim_act_new(s, SA_EFFECT, s->now);
		n->ok = true;
		n->cmd_kind = a->cmd_kind;
		n->pod = a->pod;
		n->ctr = a->ctr;
		n->attempt = a->attempt;
		memcpy(n->id, a->id, sizeof(n->id));
		sim_act_push(s);
		if (c == NULL || c->state != CW_RUNNING || c->attempt != a->attempt)
			return false;
		bool graceful = sim_pm(s, 600);
		sim_ctr_exit_event(s, p, (uint32_t)a->ctr, graceful ? 0 : 137,
		                   graceful ? "Completed" : "Error");
		return true;
	}
	case SA_TIMER: {
		struct sim_timer *t = sim_timer_find(p, a->id, false);
		if (t == NULL || !t->armed || t->gen != a->gen)
			return false;
		t->armed = false;
		e = sim_event(s, FSM_EV_TIMER);
		e->u.timer.key = sim_str(s, a->id);
		return true;
	}
	case SA_PROBE: {
		struct sim_ctr *c = &p->c[a->ctr];
		int t = a->probe;
		if (!c->probe_on[t] || c->probe_gen[t] != a->gen)
			return false;
		struct sim_act *n =
		        sim_act_new(s, SA_PROBE, s->now + (uint64_t)c->period_s[t] * 1000);
		n->pod = a->pod;
		n->ctr = a->ctr;
		n->probe = a->probe;
		n->gen = a->gen;
		sim_act_push(s);
		bool ok;
		if (c->state != CW_RUNNING) {
			ok = false;
		} else if (t == 2) {
			ok = c->start_fails == 0;
			if (!ok)
				c->start_fails--;
		} else if (c->fail_run[t] > 0) {
			ok = false;
			c->fail_run[t]--;
		} else if (sim_pm(s, t == 0 ? s->o.pm_probe_run_liveness
		                            : s->o.pm_probe_run_readiness)) {
			ok = false;
			c->fail_run[t] = (uint32_t)sim_between(s, 0, 5);
		} else {
			ok = true;
		}
		if (ok == c->last_ok[t]) {
			c->same_run[t]++;
		} else {
			c->last_ok[t] = ok;
			c->same_run[t] = 1;
		}
		uint32_t th = ok ? c->success_threshold[t] : c->failure_threshold[t];
		if (s->o.quiet_probes && c->same_run[t] > (th ? th : 1))
			return false;
		e = sim_event(s, FSM_EV_PROBE);
		e->u.probe.pod_uid = p->uid;
		e->u.probe.container = c->name;
		e->u.probe.probe = (enum fsm_probe_type)(t == 0   ? FSM_PROBE_LIVENESS
		                                         : t == 1 ? FSM_PROBE_READINESS
		                                                  : FSM_PROBE_STARTUP);
		e->u.probe.ok = ok;
		e->u.probe.message = ok ? "" : "command \"/bin/check\" exited with 1";
		return true;
	}
	case SA_API_ADD:
	case SA_API_UPDATE:
	case SA_API_DELMARK:
		if (a->type == SA_API_UPDATE) {
			if (!p->present || p->deleting)
				return false;
			uint32_t ci = p->ninit + (uint32_t)(sim_rand(s) % (p->nctr - p->ninit));
			p->c[ci].image_version++;
			sim_pod_json(s, p);
		} else if (a->type == SA_API_DELMARK) {
			if (!p->present)
				return false;
			sim_pod_json(s, p);
		}
		if (a->type == SA_API_ADD) {
			p->added = true;
			/* Someone side-loads the images of Never containers, later. */
			for (uint32_t i = 0; i < p->nctr; i++) {
				if (!p->c[i].pull_never)
					continue;
				struct sim_act *n = sim_act_new(
				        s, SA_IMAGE, s->now + sim_between(s, 500, 60000));
				n->pod = a->pod;
				n->ctr = (int32_t)i;
				n->ok = true;
				sim_act_push(s);
			}
		}
		e = sim_event(s, FSM_EV_API_POD);
		e->u.api_pod.type = a->type == SA_API_ADD ? FSM_WATCH_ADDED : FSM_WATCH_MODIFIED;
		e->u.api_pod.object = p->json;
		e->u.api_pod.object_len = p->json_len;
		return true;
	case SA_API_DELETED: {
		if (!p->present)
			return false;
		const struct fsm_pod *fp = fsm_state_pod(&s->st, p->uid);
		bool done = fp == NULL || fp->stage == FSM_PS_TERMINATED ||
		            fp->stage == FSM_PS_REJECTED || fp->stage == FSM_PS_REMOVING;
		if (!done && s->now < p->delete_due_ts_ms) {
			struct sim_act *n = sim_act_new(s, SA_API_DELETED, s->now + 1000);
			n->pod = a->pod;
			sim_act_push(s);
			return false;
		}
		p->present = false;
		if (!p->deleting) {
			p->deleting = true;
			p->deletion_wall_ms = SIM_WALL0_MS + s->now;
		}
		sim_pod_json(s, p);
		e = sim_event(s, FSM_EV_API_POD);
		e->u.api_pod.type = FSM_WATCH_DELETED;
		e->u.api_pod.object = p->json;
		e->u.api_pod.object_len = p->json_len;
		return true;
	}
	case SA_OBJECT:
		e = sim_event(s, FSM_EV_API_OBJECT);
		snprintf(buf, sizeof(buf), "cfg-%d", a->ctr);
		e->u.api_object.object_kind = "ConfigMap";
		e->u.api_object.namespace_ = "default";
		e->u.api_object.name = sim_str(s, buf);
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)s->seq + 1);
		e->u.api_object.resource_version = sim_str(s, buf);
		e->u.api_object.exists = a->value != 0;
		snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)a->value);
		e->u.api_object.hash = a->value != 0 ? sim_str(s, buf) : "";
		return true;
	case SA_PRESSURE:
		e = sim_event(s, FSM_EV_NODE_PRESSURE);
		e->u.node_pressure.signal = "memory.available";
		e->u.node_pressure.value = a->value;
		e->u.node_pressure.capacity = (int64_t)256 << 30;
		return true;
	case SA_STATS:
		e = sim_event(s, FSM_EV_POD_STATS);
		e->u.pod_stats.pod_uid = p->uid;
		e->u.pod_stats.memory_bytes = a->value;
		e->u.pod_stats.disk_bytes = a->value / 4;
		e->u.pod_stats.inodes = 1000 + a->value % 5000;
		e->u.pod_stats.pids = 3 + a->value % 40;
		return true;
	case SA_IMAGE: {
		const struct sim_ctr *c = &p->c[a->ctr];
		snprintf(buf, sizeof(buf), "%s:1.%u", sim_images[c->image], c->image_version);
		uint64_t h = sim_fnv(0xcbf29ce484222325ULL, buf);
		char ref[80];
		snprintf(ref, sizeof(ref), "sha256:%016llx", (unsigned long long)h);
		e = sim_event(s, FSM_EV_CRI_IMAGE);
		e->u.cri_image.image = sim_str(s, buf);
		e->u.cri_image.ok = a->ok;
		e->u.cri_image.error = a->ok ? "" : "image removed by garbage collection";
		e->u.cri_image.image_ref = a->ok ? sim_str(s, ref) : "";
		return true;
	}
	case SA_RELIST: {
		if ((uint32_t)a->ctr >= p->nctr || p->c[a->ctr].state != CW_RUNNING)
			return false;
		struct sim_ctr *c = &p->c[a->ctr];
		char id[65];
		sim_ctr_id(p, (uint32_t)a->ctr, c->attempt, id);
		e = sim_event(s, FSM_EV_CRI_CONTAINER);
		e->u.cri_container.pod_uid = p->uid;
		e->u.cri_container.name = c->name;
		e->u.cri_container.attempt = c->attempt;
		e->u.cri_container.id = sim_str(s, id);
		e->u.cri_container.state = FSM_CONTAINER_RUNNING;
		e->u.cri_container.reason = "";
		e->u.cri_container.message = "";
		e->u.cri_container.started_at_ms = (int64_t)c->started_wall_ms;
		return true;
	}
	}
	return false;
}

/* ---- the loop ---- */

SIM_FN void sim_init(struct sim *s, const struct sim_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->o = *o;
	s->rng = o->seed ? o->seed : 1;
	s->now = SIM_TS0_MS;
	fsm_state_init(&s->st);
	if (o->check_ids) {
		s->ids = calloc(SIM_ID_BUCKETS, sizeof(*s->ids));
		if (s->ids == NULL)
			abort();
	}
	struct sim_act *a = sim_act_new(s, SA_CONFIG, s->now);
	(void)a;
	sim_act_push(s);
	a = sim_act_new(s, SA_CONTROL, s->now + 10);
	sim_act_push(s);
}

SIM_FN void sim_free(struct sim *s)
{
	fsm_state_free(&s->st);
	fsm_out_free(&s->out);
	free(s->heap);
	for (size_t i = 0; i < s->npods; i++)
		free(s->pods[i]);
	free(s->pods);
	free(s->ev);
	fsm_arena_free(&s->keep);
	fsm_arena_free(&s->scratch);
	if (s->ids != NULL) {
		for (size_t i = 0; i < SIM_ID_BUCKETS; i++) {
			struct sim_id_node *n = s->ids[i];
			while (n != NULL) {
				struct sim_id_node *next = n->next;
				free(n);
				n = next;
			}
		}
		free(s->ids);
	}
	memset(s, 0, sizeof(*s));
}

/*
 * Runs the world until it produces the next event, folds it (s->out holds its
 * commands, s->on_fold sees it) and dispatches the commands. Returns the event:
 * with opts.record it stays valid for the sim's lifetime (sim.ev[seq - 1]), else
 * until the next call. The fold's error, if any, is recorded as a violation.
 */
SIM_FN const struct fsm_event *sim_next(struct sim *s)
{
	if (!s->o.record)
		fsm_arena_reset(&s->scratch);
	struct sim_act a;
	for (;;) {
		if (s->nheap == 0)
			return NULL;
		sim_act_pop(s, &a);
		assert(a.ts >= s->now);
		s->now = a.ts;
		if (sim_fire(s, &a))
			break;
	}
	struct fsm_event *e = &s->cur;
	e->seq = ++s->seq;
	e->ts_ms = s->now;
	e->wall_ms = SIM_WALL0_MS + s->now;
	if (s->o.record) {
		if (s->nev == s->capev) {
			size_t cap = s->capev ? s->capev * 2 : 4096;
			struct fsm_event *v = realloc(s->ev, cap * sizeof(*v));
			if (v == NULL)
				abort();
			s->ev = v;
			s->capev = cap;
		}
		s->ev[s->nev++] = *e;
		e = &s->ev[s->nev - 1];
	}
	s->kinds[e->kind]++;
	fsm_out_reset(&s->out);
	int rc = fsm_fold(&s->st, e, &s->out);
	if (rc != FSM_OK)
		sim_violate(s, "the fold failed on a %s event: %s", fsm_event_kind_name(e->kind),
		            fsm_strerror(rc));
	if (s->on_fold != NULL)
		s->on_fold(s, e, rc, s->ctx);
	for (size_t i = 0; i < s->out.n; i++)
		sim_dispatch(s, &s->out.cmds[i]);
	return e;
}

#endif
