/*
 * fsm/status.c — the pod status the kubelet reports, and the dump of the fold's
 * state.
 *
 * The pod machine (pod.c) calls fsm_pod_phase, fsm_pod_conditions_update and
 * fsm_pod_status_json after each change, hashes the JSON with fsm_status_hash,
 * and sends an api.pod_status command only when the hash moves. So the JSON must
 * be a pure function of the state, byte for byte: keys in a fixed order, no
 * floating point, times from the state only.
 *
 * Each container is first seen the way the API sees it (struct view: waiting,
 * running or terminated, plus lastState, started and ready); the phase, the
 * conditions and the JSON are all computed from those views, so they cannot
 * disagree with each other.
 */
#include "fsm/status.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The last instant RFC 3339 can write with a four-digit year. */
#define WALL_MS_MAX UINT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* ---- containers as the API sees them ---- */

enum api_state { API_WAITING = 0, API_RUNNING = 1, API_TERMINATED = 2 };

struct view {
	enum api_state state;
	const struct fsm_terminated *last; /* lastState.terminated, or NULL */
	bool started;                      /* ContainerStatus.started */
	bool ready;                        /* ContainerStatus.ready */
};

static const struct fsm_container_spec *cspec(const struct fsm_pod *p, size_t i)
{
	assert(i < p->spec.ncontainers);
	return &p->spec.containers[i];
}

static bool is_regular_init(const struct fsm_container_spec *cs)
{
	return cs->init && !cs->sidecar;
}

/* Container i as convertToAPIContainerStatuses and the prober's UpdatePodStatus
 * would show it. */
static struct view view_of(const struct fsm_pod *p, size_t i)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	struct view v = {.state = API_WAITING};
	switch (c->stage) {
	case FSM_CS_RUNNING:
	case FSM_CS_KILLING: /* stop in flight: the process still runs */
		/* Until its postStart hook returns the kubelet has not finished
		 * starting it (startContainer runs the hook) and does not report
		 * it running; a failed hook's reason stays while it is killed. */
		v.state = (cs->post_start.kind != FSM_HANDLER_NONE && !c->poststart_done) ||
				  c->waiting_reason[0] != '\0'
			  ? API_WAITING
			  : API_RUNNING;
		break;
	case FSM_CS_EXITED:
		/* Exited and waiting to be restarted (CrashLoopBackOff,
		 * RunContainerError): the kubelet shows it waiting, with the exit as
		 * its last state. */
		v.state = c->waiting_reason[0] != '\0' ? API_WAITING : API_TERMINATED;
		break;
	case FSM_CS_WAITING:
	case FSM_CS_PULLING:
	case FSM_CS_CREATING:
		/* Restarting: until the runtime holds the new container the
		 * exited one is the newest, shown terminated unless a start
		 * failure's reason (the reason cache) says why it waits. */
		v.state = c->term.set && c->waiting_reason[0] == '\0' ? API_TERMINATED
									 : API_WAITING;
		break;
	case FSM_CS_STARTING:
		v.state = API_WAITING;
		break;
	}
	v.last = c->last_term.set ? &c->last_term : NULL;
	if (v.state == API_WAITING && c->term.set)
		v.last = &c->term;
	/* isContainerStarted: running, and the startup probe passed or there is none. */
	v.started = v.state == API_RUNNING && (c->started || cs->startup.kind == FSM_HANDLER_NONE);
	if (is_regular_init(cs)) {
		/* A regular init container is ready once it has succeeded. */
		v.ready = v.state == API_TERMINATED && c->term.exit_code == 0;
	} else {
		/* Without a readiness probe a started container is ready. */
		v.ready = v.started && (cs->readiness.kind == FSM_HANDLER_NONE || c->ready);
	}
	return v;
}

/* ---- phase ---- */

bool fsm_pod_has_initialized(const struct fsm_pod *p)
{
	for (size_t i = p->spec.ninit; i < p->spec.ncontainers; i++) {
		struct view v = view_of(p, i);
		if (v.state == API_RUNNING || v.state == API_TERMINATED)
			return true;
	}
	return false;
}

/* Counters of getPhase. No container of ours is ever "unknown" (missing from the
 * statuses): every container of the spec has a machine. */
struct phase_counts {
	unsigned pending_regular_init;
	unsigned pending_sidecars;
	unsigned failed_init;
	unsigned running, waiting, stopped, succeeded;
};

static void count_init(const struct fsm_pod *p, size_t i, struct phase_counts *n)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	struct view v = view_of(p, i);
	if (is_regular_init(cspec(p, i))) {
		switch (v.state) {
		case API_RUNNING:
			n->pending_regular_init++;
			break;
		case API_TERMINATED:
			if (c->term.exit_code != 0)
				n->failed_init++;
			break;
		case API_WAITING:
			if (v.last == NULL)
				n->pending_regular_init++;
			else if (v.last->exit_code != 0)
				n->failed_init++;
			break;
		}
		return;
	}
	/* A sidecar: a terminated one (now, or last time while it waits to
	 * restart) does not count towards the phase. */
	switch (v.state) {
	case API_RUNNING:
		if (!v.started)
			n->pending_sidecars++;
		n->running++;
		break;
	case API_TERMINATED:
		break;
	case API_WAITING:
		if (v.last == NULL) {
			n->pending_sidecars++;
			n->waiting++;
		}
		break;
	}
}

static void count_app(const struct fsm_pod *p, size_t i, struct phase_counts *n)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	struct view v = view_of(p, i);
	switch (v.state) {
	case API_RUNNING:
		n->running++;
		break;
	case API_TERMINATED:
		n->stopped++;
		if (c->term.exit_code == 0)
			n->succeeded++;
		break;
	case API_WAITING:
		/* Waiting to restart counts as stopped, whatever the last exit code. */
		if (v.last != NULL)
			n->stopped++;
		else
			n->waiting++;
		break;
	}
}

const char *fsm_pod_phase_given(const struct fsm_pod *p, bool pod_is_terminal,
				bool pod_has_initialized)
{
	assert(p->spec.ninit <= p->spec.ncontainers);
	assert(p->spec.ncontainers == 0 || p->ctrs != NULL);
	struct phase_counts n = {0};
	for (size_t i = 0; i < p->spec.ninit; i++)
		count_init(p, i, &n);
	for (size_t i = p->spec.ninit; i < p->spec.ncontainers; i++)
		count_app(p, i, &n);

	enum fsm_restart_policy policy = p->spec.restart_policy;
	if (n.failed_init > 0 && policy == FSM_RESTART_NEVER)
		return "Failed";
	if (n.pending_regular_init > 0 || (n.pending_sidecars > 0 && !pod_has_initialized) ||
	    n.waiting > 0)
		return "Pending";
	if (n.running > 0)
		return "Running";
	if (n.stopped == 0)
		return "Pending";
	/* Every container has stopped. */
	if (pod_is_terminal && !p->spec.is_static)
		return n.stopped == n.succeeded ? "Succeeded" : "Failed";
	if (policy == FSM_RESTART_ALWAYS)
		return "Running"; /* all of them are restarting */
	if (n.stopped == n.succeeded)
		return "Succeeded";
	if (policy == FSM_RESTART_NEVER)
		return "Failed";
	return "Running"; /* OnFailure: the failed ones restart */
}

const char *fsm_pod_phase(const struct fsm_pod *p, bool pod_is_terminal)
{
	return fsm_pod_phase_given(p, pod_is_terminal, fsm_pod_has_initialized(p));
}

/* ---- conditions ---- */

/* What a condition's message lists, written out by put_cond_message. */
enum cond_message {
	MSG_NONE = 0,
	MSG_INCOMPLETE = 1, /* init containers not done */
	MSG_UNREADY = 2,    /* sidecars and app containers not ready */
	MSG_GATES = 3,      /* readiness gates not True */
};

struct cond_eval {
	bool status;
	const char *reason; /* static storage, or NULL */
	enum cond_message message;
};

static const char *const cond_types[FSM_CONDS] = {
	[FSM_COND_READY_TO_START] = "PodReadyToStartContainers",
	[FSM_COND_INITIALIZED] = "Initialized",
	[FSM_COND_READY] = "Ready",
	[FSM_COND_CONTAINERS_READY] = "ContainersReady",
};

static bool phase_is(const struct fsm_pod *p, const char *phase)
{
	return strncmp(p->phase, phase, sizeof(p->phase)) == 0;
}

static bool init_done(const struct fsm_pod *p, size_t i)
{
	struct view v = view_of(p, i);
	return cspec(p, i)->sidecar ? v.started : v.ready;
}

static bool gate_is_true(const struct fsm_pod *p, size_t g)
{
	return p->spec.gate_true != NULL && p->spec.gate_true[g];
}

/* GeneratePodReadyToStartContainersCondition: true when no new sandbox is needed,
 * which PodSandboxChanged says of a ready sandbox that has an IP (or needs none,
 * on the host's network). */
static struct cond_eval eval_ready_to_start(const struct fsm_pod *p)
{
	bool ok = p->sb_stage == FSM_SB_READY && (p->spec.host_network || p->sb_ip[0] != '\0');
	return (struct cond_eval){.status = ok};
}

/* GeneratePodInitializedCondition. */
static struct cond_eval eval_initialized(const struct fsm_pod *p)
{
	if (phase_is(p, "Succeeded"))
		return (struct cond_eval){.status = true, .reason = "PodCompleted"};
	/* An app container that has run means the pod was initialized, even while a
	 * sidecar restarts (HasAnyRegularContainerStarted). */
	if (fsm_pod_has_initialized(p))
		return (struct cond_eval){.status = true};
	for (size_t i = 0; i < p->spec.ninit; i++)
		if (!init_done(p, i))
			return (struct cond_eval){.reason = "ContainersNotInitialized",
						  .message = MSG_INCOMPLETE};
	return (struct cond_eval){.status = true};
}

/* Sidecars and app containers count for ContainersReady; regular init ones do not. */
static bool counts_for_readiness(const struct fsm_pod *p, size_t i)
{
	return !is_regular_init(cspec(p, i));
}

/* GenerateContainersReadyCondition. */
static struct cond_eval eval_containers_ready(const struct fsm_pod *p)
{
	if (phase_is(p, "Succeeded"))
		return (struct cond_eval){.reason = "PodCompleted"};
	if (phase_is(p, "Failed"))
		return (struct cond_eval){.reason = "PodFailed"};
	for (size_t i = 0; i < p->spec.ncontainers; i++)
		if (counts_for_readiness(p, i) && !view_of(p, i).ready)
			return (struct cond_eval){.reason = "ContainersNotReady",
						  .message = MSG_UNREADY};
	return (struct cond_eval){.status = true};
}

/* GeneratePodReadyCondition: ContainersReady, then the readiness gates. */
static struct cond_eval eval_ready(const struct fsm_pod *p, struct cond_eval containers_ready)
{
	if (!containers_ready.status)
		return containers_ready;
	for (size_t g = 0; g < p->spec.ngates; g++)
		if (!gate_is_true(p, g))
			return (struct cond_eval){.reason = "ReadinessGatesNotReady",
						  .message = MSG_GATES};
	return (struct cond_eval){.status = true};
}

static void eval_conditions(const struct fsm_pod *p, struct cond_eval out[FSM_CONDS])
{
	out[FSM_COND_READY_TO_START] = eval_ready_to_start(p);
	out[FSM_COND_INITIALIZED] = eval_initialized(p);
	out[FSM_COND_CONTAINERS_READY] = eval_containers_ready(p);
	out[FSM_COND_READY] = eval_ready(p, out[FSM_COND_CONTAINERS_READY]);
}

void fsm_pod_conditions_update(struct fsm_pod *p, uint64_t wall_ms)
{
	struct cond_eval e[FSM_CONDS];
	eval_conditions(p, e);
	for (size_t k = 0; k < FSM_CONDS; k++) {
		struct fsm_cond_state *c = &p->conds[k];
		if (c->transition_wall_ms == 0 || c->status != e[k].status) {
			c->status = e[k].status;
			c->transition_wall_ms = wall_ms;
		}
		assert(c->status == e[k].status);
	}
}

/* ---- time ---- */

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil inverted; eras of 400 years, March-based years). */
static void civil_from_days(uint64_t days, unsigned *y, unsigned *m, unsigned *d)
{
	uint64_t z = days + 719468; /* days since 0000-03-01 */
	uint64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                             /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;    /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                  /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                       /* [0, 11] */
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400) + (*m <= 2 ? 1u : 0u);
}

int fsm_time_rfc3339(uint64_t wall_ms, char out[FSM_RFC3339_BYTES])
{
	out[0] = '\0';
	if (wall_ms > WALL_MS_MAX)
		return -1;
	uint64_t s = wall_ms / 1000;
	uint64_t days = s / 86400;
	unsigned sod = (unsigned)(s % 86400);
	unsigned y, m, d;
	civil_from_days(days, &y, &m, &d);
	assert(y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
	/* Written digit by digit: this runs for every timestamp of every status
	 * the fold considers, and snprintf was a fifth of the fold's time. */
	unsigned v[6] = {y, m, d, sod / 3600, sod / 60 % 60, sod % 60};
	static const char sep[6] = {'-', '-', 'T', ':', ':', 'Z'};
	char *o = out;
	for (int k = 0; k < 6; k++) {
		if (k == 0) {
			*o++ = (char)('0' + v[0] / 1000);
			*o++ = (char)('0' + v[0] / 100 % 10);
		}
		*o++ = (char)('0' + v[k] / 10 % 10);
		*o++ = (char)('0' + v[k] % 10);
		*o++ = sep[k];
	}
	*o = '\0';
	assert(o - out == 20);
	return 0;
}

/* ---- a JSON writer with a sticky error ---- */

struct w {
	struct fsm_buf *b;
	int err;
};

static void w_raw(struct w *w, const char *s)
{
	if (w->err == 0 && fsm_buf_puts(w->b, s) != 0)
		w->err = -1;
}

static void w_str(struct w *w, const char *s)
{
	if (w->err == 0 && fsm_buf_json_str(w->b, s) != 0)
		w->err = -1;
}

/* A string held in a fixed array, which may fill it without a NUL. */
static void w_arr(struct w *w, const char *s, size_t cap)
{
	if (w->err == 0 && fsm_buf_json_strn(w->b, s, strnlen(s, cap)) != 0)
		w->err = -1;
}
#define W_ARR(w, a) w_arr((w), (a), sizeof(a))

/* A pointer string: null for NULL, so a NULL and an "" state dump apart. */
static void w_cstr(struct w *w, const char *s)
{
	if (s == NULL)
		w_raw(w, "null");
	else
		w_str(w, s);
}

static void w_u64(struct w *w, uint64_t v)
{
	if (w->err == 0 && fsm_buf_u64(w->b, v) != 0)
		w->err = -1;
}

static void w_i64(struct w *w, int64_t v)
{
	if (w->err == 0 && fsm_buf_i64(w->b, v) != 0)
		w->err = -1;
}

static void w_bool(struct w *w, bool v)
{
	w_raw(w, v ? "true" : "false");
}

/* A 64-bit hash as 16 hex digits in a string: JSON numbers above 2^53 do not
 * survive every reader. */
static void w_hex(struct w *w, uint64_t v)
{
	char hex[24];
	snprintf(hex, sizeof(hex), "\"%016" PRIx64 "\"", v);
	w_raw(w, hex);
}

/* metav1.Time: RFC 3339, or null for the zero time. */
static void w_time(struct w *w, uint64_t wall_ms)
{
	char t[FSM_RFC3339_BYTES];
	if (wall_ms == 0 || fsm_time_rfc3339(wall_ms, t) != 0) {
		w_raw(w, "null");
		return;
	}
	w_str(w, t);
}

/* An enum by its name, or its number when the table has none. */
static void w_enum(struct w *w, const char *const *names, size_t n, unsigned v)
{
	if (v < n && names[v] != NULL)
		w_str(w, names[v]);
	else
		w_u64(w, v);
}
#define W_ENUM(w, table, v) w_enum((w), (table), COUNT(table), (unsigned)(v))

/* Ends a write: on error the buffer goes back to its length at start. */
static int w_end(struct w *w, size_t len0)
{
	if (w->err == 0)
		return 0;
	struct fsm_buf *b = w->b;
	if (b->ptr != NULL) {
		b->len = len0;
		b->ptr[len0] = '\0';
	}
	return -1;
}

/* ---- PodStatus JSON ---- */

static const char *const qos_names[] = {
	[FSM_QOS_BEST_EFFORT] = "BestEffort",
	[FSM_QOS_BURSTABLE] = "Burstable",
	[FSM_QOS_GUARANTEED] = "Guaranteed",
};

/* "[a b]": Go's %s of a []string, as upstream formats the names. */
static void put_names(struct fsm_buf *m, const struct fsm_pod *p, bool incomplete, int *err)
{
	bool first = true;
	*err |= fsm_buf_putc(m, '[');
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		bool listed = incomplete ? i < p->spec.ninit && !init_done(p, i)
					 : counts_for_readiness(p, i) && !view_of(p, i).ready;
		if (!listed)
			continue;
		if (!first)
			*err |= fsm_buf_putc(m, ' ');
		*err |= fsm_buf_puts(m, cspec(p, i)->name);
		first = false;
	}
	*err |= fsm_buf_putc(m, ']');
}

/* The gates that are not True, in spec order, worded as GeneratePodReadyCondition
 * does: a condition the API does not hold yet, or one whose status is not True. */
static void put_gates(struct fsm_buf *m, const struct fsm_pod *p, int *err)
{
	bool first = true;
	for (size_t g = 0; g < p->spec.ngates; g++) {
		if (gate_is_true(p, g))
			continue;
		if (!first)
			*err |= fsm_buf_puts(m, ", ");
		const char *type = p->spec.readiness_gates[g];
		const char *st = p->spec.gate_status != NULL ? p->spec.gate_status[g] : NULL;
		if (st == NULL) {
			*err |= fsm_buf_puts(m, "corresponding condition of pod readiness gate \"");
			*err |= fsm_buf_puts(m, type != NULL ? type : "");
			*err |= fsm_buf_puts(m, "\" does not exist.");
		} else {
			*err |= fsm_buf_puts(m, "the status of pod readiness gate \"");
			*err |= fsm_buf_puts(m, type != NULL ? type : "");
			*err |= fsm_buf_puts(m, "\" is not \"True\", but ");
			*err |= fsm_buf_puts(m, st);
		}
		first = false;
	}
}

static void put_cond_message(struct w *w, const struct fsm_pod *p, enum cond_message kind)
{
	if (kind == MSG_NONE || w->err != 0)
		return;
	struct fsm_buf m = FSM_BUF_INIT;
	int err = 0;
	switch (kind) {
	case MSG_INCOMPLETE:
		err |= fsm_buf_puts(&m, "containers with incomplete status: ");
		put_names(&m, p, true, &err);
		break;
	case MSG_UNREADY:
		err |= fsm_buf_puts(&m, "containers with unready status: ");
		put_names(&m, p, false, &err);
		break;
	case MSG_GATES:
		put_gates(&m, p, &err);
		break;
	case MSG_NONE:
		break;
	}
	if (err != 0) {
		w->err = -1;
	} else {
		w_raw(w, ",\"message\":");
		if (w->err == 0 && fsm_buf_json_strn(w->b, m.ptr, m.len) != 0)
			w->err = -1;
	}
	fsm_buf_free(&m);
}

static void put_conditions(struct w *w, const struct fsm_pod *p)
{
	struct cond_eval e[FSM_CONDS];
	eval_conditions(p, e);
	w_raw(w, ",\"conditions\":[");
	/* An evicted pod carries DisruptionTarget (reason TerminationByKubelet, the
	 * eviction message), sent with its terminal phase once it has stopped
	 * (mergePodStatus), ahead of the conditions the kubelet generates. */
	bool disruption = strncmp(p->reason, "Evicted", sizeof(p->reason)) == 0 &&
			  p->terminated_wall_ms != 0;
	if (disruption) {
		w_raw(w, "{\"type\":\"DisruptionTarget\",\"status\":\"True\",\"lastTransitionTime\":");
		w_time(w, p->terminated_wall_ms);
		w_raw(w, ",\"reason\":\"TerminationByKubelet\",\"message\":");
		W_ARR(w, p->message);
		w_raw(w, "}");
	}
	for (size_t k = 0; k < FSM_CONDS; k++) {
		const struct fsm_cond_state *c = &p->conds[k];
		w_raw(w, k == 0 && !disruption ? "{\"type\":" : ",{\"type\":");
		w_str(w, cond_types[k]);
		w_raw(w, c->status ? ",\"status\":\"True\"" : ",\"status\":\"False\"");
		w_raw(w, ",\"lastTransitionTime\":");
		w_time(w, c->transition_wall_ms);
		/* A reason belongs to the status it explains: when the stored status
		 * lags the containers (update not yet called), say nothing. */
		if (c->status == e[k].status) {
			if (e[k].reason != NULL) {
				w_raw(w, ",\"reason\":");
				w_str(w, e[k].reason);
			}
			put_cond_message(w, p, e[k].message);
		}
		w_raw(w, "}");
	}
	w_raw(w, "]");
}

static void put_container_id(struct w *w, const char *id, size_t cap)
{
	char cid[sizeof(FSM_CONTAINER_ID_PREFIX) + FSM_ID_BYTES];
	size_t n = strnlen(id, cap);
	snprintf(cid, sizeof(cid), "%s%.*s", FSM_CONTAINER_ID_PREFIX, (int)n, id);
	w_str(w, cid);
}

/* ContainerStateTerminated. An empty reason reads as the runtime's usual one. */
static void put_terminated(struct w *w, const struct fsm_terminated *t)
{
	w_raw(w, "{\"terminated\":{\"exitCode\":");
	w_i64(w, t->exit_code);
	w_raw(w, ",\"reason\":");
	if (t->reason[0] != '\0')
		W_ARR(w, t->reason);
	else
		w_str(w, t->exit_code == 0 ? "Completed" : "Error");
	if (t->message[0] != '\0') {
		w_raw(w, ",\"message\":");
		W_ARR(w, t->message);
	}
	w_raw(w, ",\"startedAt\":");
	w_time(w, t->started_wall_ms);
	w_raw(w, ",\"finishedAt\":");
	w_time(w, t->finished_wall_ms);
	if (t->id[0] != '\0') {
		w_raw(w, ",\"containerID\":");
		put_container_id(w, t->id, sizeof(t->id));
	}
	w_raw(w, "}}");
}

/* ContainerStateWaiting. Without a reason of its own, a container the runtime
 * does not hold yet shows the kubelet's default (ContainerCreating, or
 * PodInitializing in a pod with init containers — for all of its containers,
 * as upstream); one the runtime has created but not started shows none. */
static void put_waiting(struct w *w, const struct fsm_pod *p, size_t i)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	const char *reason = NULL;
	size_t reason_len = 0;
	if (c->waiting_reason[0] != '\0') {
		reason = c->waiting_reason;
		reason_len = strnlen(c->waiting_reason, sizeof(c->waiting_reason));
	} else if (c->stage != FSM_CS_STARTING && c->stage != FSM_CS_RUNNING &&
		   c->stage != FSM_CS_KILLING) {
		reason = p->spec.ninit > 0 ? "PodInitializing" : "ContainerCreating";
		reason_len = strlen(reason);
	}
	w_raw(w, "{\"waiting\":{");
	if (reason != NULL) {
		w_raw(w, "\"reason\":");
		if (w->err == 0 && fsm_buf_json_strn(w->b, reason, reason_len) != 0)
			w->err = -1;
	}
	if (c->waiting_message[0] != '\0') {
		w_raw(w, reason != NULL ? ",\"message\":" : "\"message\":");
		W_ARR(w, c->waiting_message);
	}
	w_raw(w, "}}");
}

static void put_container_status(struct w *w, const struct fsm_pod *p, size_t i)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	struct view v = view_of(p, i);
	w_raw(w, "{\"name\":");
	w_str(w, cs->name);
	w_raw(w, ",\"state\":");
	switch (v.state) {
	case API_RUNNING:
		w_raw(w, "{\"running\":{\"startedAt\":");
		w_time(w, c->started_wall_ms);
		w_raw(w, "}}");
		break;
	case API_TERMINATED:
		put_terminated(w, &c->term);
		break;
	case API_WAITING:
		put_waiting(w, p, i);
		break;
	}
	w_raw(w, ",\"lastState\":");
	if (v.last != NULL)
		put_terminated(w, v.last);
	else
		w_raw(w, "{}");
	w_raw(w, ",\"ready\":");
	w_bool(w, v.ready);
	w_raw(w, ",\"restartCount\":");
	w_u64(w, c->attempt);
	w_raw(w, ",\"image\":");
	w_str(w, cs->image);
	/* imageID comes from the runtime's container: none before one exists. */
	w_raw(w, ",\"imageID\":");
	if (c->id[0] != '\0')
		W_ARR(w, c->image_ref);
	else
		w_str(w, "");
	if (c->id[0] != '\0') {
		w_raw(w, ",\"containerID\":");
		put_container_id(w, c->id, sizeof(c->id));
	}
	w_raw(w, ",\"started\":");
	w_bool(w, v.started);
	w_raw(w, "}");
}

/* App containers by name (kubetypes.SortedContainerStatuses); insertion sort of
 * at most FSM_CONTAINERS_MAX indices. */
static size_t apps_by_name(const struct fsm_pod *p, size_t idx[FSM_CONTAINERS_MAX])
{
	size_t n = 0;
	for (size_t i = p->spec.ninit; i < p->spec.ncontainers; i++) {
		size_t k = n++;
		while (k > 0 && strcmp(cspec(p, idx[k - 1])->name, cspec(p, i)->name) > 0) {
			idx[k] = idx[k - 1];
			k--;
		}
		idx[k] = i;
	}
	return n;
}

static void put_ip(struct w *w, const char *key, const char *keys, const char *ip, size_t cap)
{
	w_raw(w, key);
	w_arr(w, ip, cap);
	w_raw(w, keys);
	w_arr(w, ip, cap);
	w_raw(w, "}]");
}

/* A pod refused at admission: the kubelet's rejectPod sets only the phase, the
 * reason and message and the QoS class; the status manager adds startTime. */
static void put_rejected(struct w *w, const struct fsm_pod *p)
{
	w_raw(w, "{\"phase\":\"Failed\"");
	if (p->message[0] != '\0') {
		w_raw(w, ",\"message\":");
		W_ARR(w, p->message);
	}
	if (p->reason[0] != '\0') {
		w_raw(w, ",\"reason\":");
		W_ARR(w, p->reason);
	}
	if (p->start_wall_ms != 0) {
		w_raw(w, ",\"startTime\":");
		w_time(w, p->start_wall_ms);
	}
	w_raw(w, ",\"qosClass\":");
	W_ENUM(w, qos_names, p->spec.qos);
	w_raw(w, "}");
}

int fsm_pod_status_json(const struct fsm_pod *p, const struct fsm_node_config *cfg,
			struct fsm_buf *out)
{
	assert(p->spec.ninit <= p->spec.ncontainers);
	assert(p->spec.ncontainers <= FSM_CONTAINERS_MAX);
	assert(p->spec.ncontainers == 0 || p->ctrs != NULL);
	size_t len0 = out->len;
	struct w w = {.b = out};
	if (p->stage == FSM_PS_REJECTED) {
		put_rejected(&w, p);
		return w_end(&w, len0);
	}
	/* While the pod could still have running containers (it is not yet
	 * terminated: containers or sandbox not stopped), the status manager holds
	 * a terminal phase back, with its reason and message: mergePodStatus keeps
	 * the API's phase when couldHaveRunningContainers. */
	bool terminal = strncmp(p->phase, "Succeeded", sizeof(p->phase)) == 0 ||
			strncmp(p->phase, "Failed", sizeof(p->phase)) == 0;
	bool held = terminal && (p->stage == FSM_PS_TERMINATING || p->stage == FSM_PS_ACTIVE);
	w_raw(&w, "{\"phase\":");
	if (held)
		w_str(&w, p->api_phase[0] != '\0' ? p->api_phase : "Pending");
	else if (p->phase[0] != '\0')
		W_ARR(&w, p->phase);
	else
		w_str(&w, "Pending"); /* not yet computed: what getPhase starts from */
	put_conditions(&w, p);
	if (!held && p->message[0] != '\0') {
		w_raw(&w, ",\"message\":");
		W_ARR(&w, p->message);
	}
	if (!held && p->reason[0] != '\0') {
		w_raw(&w, ",\"reason\":");
		W_ARR(&w, p->reason);
	}
	const char *host_ip = cfg != NULL && cfg->host_ip != NULL ? cfg->host_ip : "";
	if (host_ip[0] != '\0')
		put_ip(&w, ",\"hostIP\":", ",\"hostIPs\":[{\"ip\":", host_ip, strlen(host_ip));
	/* A pod on the host's network has the host's address (the runtime reports
	 * none for such a sandbox; the kubelet fills in the node's). */
	if (p->spec.host_network && host_ip[0] != '\0')
		put_ip(&w, ",\"podIP\":", ",\"podIPs\":[{\"ip\":", host_ip, strlen(host_ip));
	else if (p->sb_ip[0] != '\0')
		put_ip(&w, ",\"podIP\":", ",\"podIPs\":[{\"ip\":", p->sb_ip, sizeof(p->sb_ip));
	if (p->start_wall_ms != 0) {
		w_raw(&w, ",\"startTime\":");
		w_time(&w, p->start_wall_ms);
	}
	if (p->spec.ninit > 0) {
		w_raw(&w, ",\"initContainerStatuses\":[");
		for (size_t i = 0; i < p->spec.ninit; i++) {
			if (i > 0)
				w_raw(&w, ",");
			put_container_status(&w, p, i);
		}
		w_raw(&w, "]");
	}
	size_t idx[FSM_CONTAINERS_MAX];
	size_t napps = apps_by_name(p, idx);
	if (napps > 0) {
		w_raw(&w, ",\"containerStatuses\":[");
		for (size_t k = 0; k < napps; k++) {
			if (k > 0)
				w_raw(&w, ",");
			put_container_status(&w, p, idx[k]);
		}
		w_raw(&w, "]");
	}
	w_raw(&w, ",\"qosClass\":");
	W_ENUM(&w, qos_names, p->spec.qos);
	w_raw(&w, "}");
	return w_end(&w, len0);
}

uint64_t fsm_status_fingerprint(const char *p, size_t n)
{
	/* Eight bytes a step, multiply and fold: a change detector, many times
	 * faster than FNV's byte a step on a 2 KiB status. */
	const unsigned char *c = (const unsigned char *)p;
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, c + i, 8);
		h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 29;
	}
	uint64_t w = 0;
	for (size_t k = 0; i < n; i++, k++)
		w |= (uint64_t)c[i] << (8 * k);
	h = (h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 32;
	return h;
}

uint64_t fsm_status_hash(const char *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* ---- the state dump ---- */

static const char *const ctr_stage_names[] = {
	[FSM_CS_WAITING] = "waiting", [FSM_CS_PULLING] = "pulling",
	[FSM_CS_CREATING] = "creating", [FSM_CS_STARTING] = "starting",
	[FSM_CS_RUNNING] = "running", [FSM_CS_EXITED] = "exited",
	[FSM_CS_KILLING] = "killing",
};
static const char *const kill_reason_names[] = {
	[FSM_KILL_NONE] = "none",   [FSM_KILL_LIVENESS] = "liveness", [FSM_KILL_STARTUP] = "startup",
	[FSM_KILL_SPEC] = "spec",   [FSM_KILL_POD] = "pod",           [FSM_KILL_SANDBOX] = "sandbox",
	[FSM_KILL_POSTSTART] = "poststart",
};
static const char *const pod_stage_names[] = {
	[FSM_PS_ACTIVE] = "active",         [FSM_PS_REJECTED] = "rejected",
	[FSM_PS_TERMINATING] = "terminating", [FSM_PS_TERMINATED] = "terminated",
	[FSM_PS_REMOVING] = "removing",
};
static const char *const sb_stage_names[] = {
	[FSM_SB_NONE] = "none",         [FSM_SB_CREATING] = "creating", [FSM_SB_READY] = "ready",
	[FSM_SB_NOTREADY] = "notready", [FSM_SB_STOPPING] = "stopping", [FSM_SB_STOPPED] = "stopped",
	[FSM_SB_REMOVING] = "removing",
};
static const char *const restart_names[] = {
	[FSM_RESTART_ALWAYS] = "Always",
	[FSM_RESTART_ON_FAILURE] = "OnFailure",
	[FSM_RESTART_NEVER] = "Never",
};
static const char *const pull_names[] = {
	[FSM_PULL_IF_NOT_PRESENT] = "IfNotPresent",
	[FSM_PULL_ALWAYS] = "Always",
	[FSM_PULL_NEVER] = "Never",
};

/* A raw document: its length and hash, or null. */
static void dump_doc(struct w *w, const char *p, size_t n)
{
	if (p == NULL) {
		w_raw(w, "null");
		return;
	}
	w_raw(w, "{\"len\":");
	w_u64(w, n);
	w_raw(w, ",\"fnv\":");
	w_hex(w, fsm_status_hash(p, n));
	w_raw(w, "}");
}

static void dump_labels(struct w *w, const struct fsm_label *l, size_t n)
{
	w_raw(w, "[");
	for (size_t i = 0; i < n; i++) {
		w_raw(w, i == 0 ? "[" : ",[");
		w_cstr(w, l[i].key);
		w_raw(w, ",");
		w_cstr(w, l[i].value);
		w_raw(w, "]");
	}
	w_raw(w, "]");
}

static void dump_cfg(struct w *w, const struct fsm_node_config *c)
{
	w_raw(w, "{\"node_name\":");
	w_cstr(w, c->node_name);
	w_raw(w, ",\"host_ip\":");
	w_cstr(w, c->host_ip);
	w_raw(w, ",\"max_pods\":");
	w_i64(w, c->max_pods);
	w_raw(w, ",\"alloc_cpu_milli\":");
	w_i64(w, c->alloc_cpu_milli);
	w_raw(w, ",\"alloc_memory_bytes\":");
	w_i64(w, c->alloc_memory_bytes);
	w_raw(w, ",\"alloc_ephemeral_bytes\":");
	w_i64(w, c->alloc_ephemeral_bytes);
	w_raw(w, ",\"labels\":");
	dump_labels(w, c->labels, c->nlabels);
	w_raw(w, ",\"taints\":[");
	for (size_t i = 0; i < c->ntaints; i++) {
		w_raw(w, i == 0 ? "{\"key\":" : ",{\"key\":");
		w_cstr(w, c->taints[i].key);
		w_raw(w, ",\"value\":");
		w_cstr(w, c->taints[i].value);
		w_raw(w, ",\"effect\":");
		w_cstr(w, c->taints[i].effect);
		w_raw(w, "}");
	}
	w_raw(w, "],\"thresholds\":[");
	assert(c->nthresholds <= FSM_THRESHOLDS_MAX);
	for (size_t i = 0; i < c->nthresholds && i < FSM_THRESHOLDS_MAX; i++) {
		const struct fsm_threshold *t = &c->thresholds[i];
		w_raw(w, i == 0 ? "{\"signal\":" : ",{\"signal\":");
		W_ARR(w, t->signal);
		w_raw(w, ",\"quantity\":");
		w_i64(w, t->quantity);
		w_raw(w, ",\"percent\":");
		w_i64(w, t->percent);
		w_raw(w, "}");
	}
	w_raw(w, "],\"backoff_initial_ms\":");
	w_u64(w, c->backoff_initial_ms);
	w_raw(w, ",\"backoff_max_ms\":");
	w_u64(w, c->backoff_max_ms);
	w_raw(w, ",\"sync_retry_ms\":");
	w_u64(w, c->sync_retry_ms);
	w_raw(w, ",\"api\":");
	w_bool(w, c->api);
	w_raw(w, ",\"lease_duration_s\":");
	w_i64(w, c->lease_duration_s);
	w_raw(w, ",\"status_report_ms\":");
	w_u64(w, c->status_report_ms);
	w_raw(w, ",\"node_facts\":");
	w_cstr(w, c->node_facts);
	w_raw(w, ",\"capacity\":[");
	w_i64(w, c->cap_cpu_milli);
	w_raw(w, ",");
	w_i64(w, c->cap_memory_bytes);
	w_raw(w, ",");
	w_i64(w, c->cap_ephemeral_bytes);
	w_raw(w, ",");
	w_i64(w, c->cap_hugepages_bytes);
	w_raw(w, "],\"reserved\":[");
	w_i64(w, c->reserved_cpu_milli);
	w_raw(w, ",");
	w_i64(w, c->reserved_memory_bytes);
	w_raw(w, ",");
	w_i64(w, c->reserved_ephemeral_bytes);
	w_raw(w, "]}");
}

/* What the fold keeps of the spec beyond its JSON's hash: the fields it reads
 * and the gates' state, which comes from the API's status. */
static void dump_spec(struct w *w, const struct fsm_pod_spec *s)
{
	w_raw(w, "{\"resource_version\":");
	w_cstr(w, s->resource_version);
	w_raw(w, ",\"generation\":");
	w_u64(w, s->generation);
	w_raw(w, ",\"is_static\":");
	w_bool(w, s->is_static);
	w_raw(w, ",\"node_name\":");
	w_cstr(w, s->node_name);
	w_raw(w, ",\"restart_policy\":");
	W_ENUM(w, restart_names, s->restart_policy);
	w_raw(w, ",\"grace_s\":");
	w_i64(w, s->grace_s);
	w_raw(w, ",\"active_deadline_s\":");
	w_i64(w, s->active_deadline_s);
	w_raw(w, ",\"host_network\":");
	w_bool(w, s->host_network);
	w_raw(w, ",\"priority\":");
	w_i64(w, s->priority);
	w_raw(w, ",\"deletion_wall_ms\":");
	w_u64(w, s->deletion_wall_ms);
	w_raw(w, ",\"deletion_grace_s\":");
	w_i64(w, s->deletion_grace_s);
	w_raw(w, ",\"qos\":");
	W_ENUM(w, qos_names, s->qos);
	w_raw(w, ",\"cpu_request_milli\":");
	w_i64(w, s->cpu_request_milli);
	w_raw(w, ",\"memory_request_bytes\":");
	w_i64(w, s->memory_request_bytes);
	w_raw(w, ",\"ephemeral_request_bytes\":");
	w_i64(w, s->ephemeral_request_bytes);
	w_raw(w, ",\"ninit\":");
	w_u64(w, s->ninit);
	w_raw(w, ",\"containers\":[");
	for (size_t i = 0; i < s->ncontainers; i++) {
		const struct fsm_container_spec *cs = &s->containers[i];
		w_raw(w, i == 0 ? "{\"name\":" : ",{\"name\":");
		w_cstr(w, cs->name);
		w_raw(w, ",\"image\":");
		w_cstr(w, cs->image);
		w_raw(w, ",\"init\":");
		w_bool(w, cs->init);
		w_raw(w, ",\"sidecar\":");
		w_bool(w, cs->sidecar);
		w_raw(w, ",\"pull_policy\":");
		W_ENUM(w, pull_names, cs->pull_policy);
		w_raw(w, ",\"spec_hash\":");
		w_hex(w, cs->spec_hash);
		w_raw(w, ",\"json\":");
		dump_doc(w, cs->json, cs->json_len);
		w_raw(w, "}");
	}
	w_raw(w, "],\"service_account\":");
	w_cstr(w, s->service_account);
	w_raw(w, ",\"volumes\":[");
	for (size_t i = 0; i < s->nvolumes; i++) {
		w_raw(w, i == 0 ? "{\"name\":" : ",{\"name\":");
		w_cstr(w, s->volumes[i].name);
		w_raw(w, ",\"type\":");
		w_cstr(w, s->volumes[i].type_name);
		w_raw(w, ",\"token_expiration_s\":");
		w_i64(w, s->volumes[i].token_expiration_s);
		w_raw(w, "}");
	}
	w_raw(w, "],\"readiness_gates\":[");
	for (size_t g = 0; g < s->ngates; g++) {
		w_raw(w, g == 0 ? "[" : ",[");
		w_cstr(w, s->readiness_gates[g]);
		w_raw(w, ",");
		w_bool(w, s->gate_true != NULL && s->gate_true[g]);
		w_raw(w, ",");
		w_cstr(w, s->gate_status != NULL ? s->gate_status[g] : NULL);
		w_raw(w, "]");
	}
	w_raw(w, "],\"json\":");
	dump_doc(w, s->json, s->json_len);
	w_raw(w, "}");
}

static void dump_term(struct w *w, const struct fsm_terminated *t)
{
	w_raw(w, "{\"set\":");
	w_bool(w, t->set);
	w_raw(w, ",\"exit_code\":");
	w_i64(w, t->exit_code);
	w_raw(w, ",\"reason\":");
	W_ARR(w, t->reason);
	w_raw(w, ",\"message\":");
	W_ARR(w, t->message);
	w_raw(w, ",\"started_wall_ms\":");
	w_u64(w, t->started_wall_ms);
	w_raw(w, ",\"finished_wall_ms\":");
	w_u64(w, t->finished_wall_ms);
	w_raw(w, ",\"id\":");
	W_ARR(w, t->id);
	w_raw(w, "}");
}

static void dump_probe(struct w *w, const char *key, const struct fsm_probe_state *ps)
{
	w_raw(w, key);
	w_raw(w, "{\"active\":");
	w_bool(w, ps->active);
	w_raw(w, ",\"successes\":");
	w_u64(w, ps->successes);
	w_raw(w, ",\"failures\":");
	w_u64(w, ps->failures);
	w_raw(w, "}");
}

static void dump_ctr(struct w *w, const char *name, const struct fsm_ctr *c)
{
	w_raw(w, "{\"name\":");
	w_cstr(w, name);
	w_raw(w, ",\"stage\":");
	W_ENUM(w, ctr_stage_names, c->stage);
	w_raw(w, ",\"attempt\":");
	w_u64(w, c->attempt);
	w_raw(w, ",\"ever_started\":");
	w_bool(w, c->ever_started);
	w_raw(w, ",\"id\":");
	W_ARR(w, c->id);
	w_raw(w, ",\"image_ref\":");
	W_ARR(w, c->image_ref);
	w_raw(w, ",\"spec_hash\":");
	w_hex(w, c->spec_hash);
	w_raw(w, ",\"started_wall_ms\":");
	w_u64(w, c->started_wall_ms);
	w_raw(w, ",\"waiting_reason\":");
	W_ARR(w, c->waiting_reason);
	w_raw(w, ",\"waiting_message\":");
	W_ARR(w, c->waiting_message);
	w_raw(w, ",\"term\":");
	dump_term(w, &c->term);
	w_raw(w, ",\"last_term\":");
	dump_term(w, &c->last_term);
	w_raw(w, ",\"exited_ts_ms\":");
	w_u64(w, c->exited_ts_ms);
	w_raw(w, ",\"backoff_ms\":");
	w_u64(w, c->backoff_ms);
	w_raw(w, ",\"backoff_updated_ts_ms\":");
	w_u64(w, c->backoff_updated_ts_ms);
	w_raw(w, ",\"backoff_armed\":");
	w_bool(w, c->backoff_armed);
	w_raw(w, ",\"retry_after_ts_ms\":");
	w_u64(w, c->retry_after_ts_ms);
	w_raw(w, ",\"pull_backoff_ms\":");
	w_u64(w, c->pull_backoff_ms);
	w_raw(w, ",\"pull_backoff_updated_ts_ms\":");
	w_u64(w, c->pull_backoff_updated_ts_ms);
	w_raw(w, ",\"pulls\":");
	w_u64(w, c->pulls);
	w_raw(w, ",\"image_ready\":");
	w_bool(w, c->image_ready);
	w_raw(w, ",\"kill_reason\":");
	W_ENUM(w, kill_reason_names, c->kill_reason);
	w_raw(w, ",\"kill_deadline_ts_ms\":");
	w_u64(w, c->kill_deadline_ts_ms);
	w_raw(w, ",\"prestop_done\":");
	w_bool(w, c->prestop_done);
	w_raw(w, ",\"poststart_done\":");
	w_bool(w, c->poststart_done);
	w_raw(w, ",\"started\":");
	w_bool(w, c->started);
	w_raw(w, ",\"ready\":");
	w_bool(w, c->ready);
	dump_probe(w, ",\"liveness\":", &c->liveness);
	dump_probe(w, ",\"readiness\":", &c->readiness);
	dump_probe(w, ",\"startup\":", &c->startup);
	w_raw(w, "}");
}

static void dump_pod(struct w *w, const struct fsm_pod *p)
{
	assert(p->spec.ncontainers == 0 || p->ctrs != NULL);
	w_raw(w, "{\"uid\":");
	w_cstr(w, p->spec.uid);
	w_raw(w, ",\"name\":");
	w_cstr(w, p->spec.name);
	w_raw(w, ",\"namespace\":");
	w_cstr(w, p->spec.namespace_);
	w_raw(w, ",\"source\":");
	w_cstr(w, p->source);
	w_raw(w, ",\"spec\":");
	dump_spec(w, &p->spec);
	w_raw(w, ",\"stage\":");
	W_ENUM(w, pod_stage_names, p->stage);
	w_raw(w, ",\"phase\":");
	W_ARR(w, p->phase);
	w_raw(w, ",\"api_phase\":");
	W_ARR(w, p->api_phase);
	w_raw(w, ",\"reason\":");
	W_ARR(w, p->reason);
	w_raw(w, ",\"message\":");
	W_ARR(w, p->message);
	w_raw(w, ",\"admitted_ts_ms\":");
	w_u64(w, p->admitted_ts_ms);
	w_raw(w, ",\"start_wall_ms\":");
	w_u64(w, p->start_wall_ms);
	w_raw(w, ",\"sandbox\":{\"stage\":");
	W_ENUM(w, sb_stage_names, p->sb_stage);
	w_raw(w, ",\"attempt\":");
	w_u64(w, p->sb_attempt);
	w_raw(w, ",\"id\":");
	W_ARR(w, p->sb_id);
	w_raw(w, ",\"ip\":");
	W_ARR(w, p->sb_ip);
	w_raw(w, ",\"ever_created\":");
	w_bool(w, p->sb_ever_created);
	w_raw(w, ",\"retry_after_ts_ms\":");
	w_u64(w, p->sb_retry_after_ts_ms);
	w_raw(w, "},\"deleting\":");
	w_bool(w, p->deleting);
	w_raw(w, ",\"remove_when_stopped\":");
	w_bool(w, p->remove_when_stopped);
	w_raw(w, ",\"kill_deadline_ts_ms\":");
	w_u64(w, p->kill_deadline_ts_ms);
	w_raw(w, ",\"kill_grace_s\":");
	w_i64(w, p->kill_grace_s);
	w_raw(w, ",\"terminated_wall_ms\":");
	w_u64(w, p->terminated_wall_ms);
	w_raw(w, ",\"conds\":[");
	for (size_t k = 0; k < FSM_CONDS; k++) {
		w_raw(w, k == 0 ? "{\"type\":" : ",{\"type\":");
		w_str(w, cond_types[k]);
		w_raw(w, ",\"status\":");
		w_bool(w, p->conds[k].status);
		w_raw(w, ",\"transition_wall_ms\":");
		w_u64(w, p->conds[k].transition_wall_ms);
		w_raw(w, "}");
	}
	w_raw(w, "],\"ctrs\":[");
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		if (i > 0)
			w_raw(w, ",");
		dump_ctr(w, p->spec.containers[i].name, &p->ctrs[i]);
	}
	w_raw(w, "],\"stale\":[");
	for (uint32_t k = 0; k < p->nstale && k < FSM_STALE_MAX; k++) {
		const struct fsm_stale *o = &p->stale[k];
		w_raw(w, k == 0 ? "{\"id\":" : ",{\"id\":");
		W_ARR(w, o->id);
		w_raw(w, ",\"ctr\":");
		W_ARR(w, o->ctr);
		w_raw(w, ",\"attempt\":");
		w_u64(w, o->attempt);
		w_raw(w, ",\"live\":");
		w_bool(w, o->live);
		w_raw(w, ",\"step\":");
		w_u64(w, (uint64_t)o->step);
		w_raw(w, ",\"retry_ts_ms\":");
		w_u64(w, o->retry_ts_ms);
		w_raw(w, "}");
	}
	w_raw(w, "],\"status_hash\":");
	w_hex(w, p->status_hash);
	w_raw(w, ",\"status_version\":");
	w_u64(w, p->status_version);
	w_raw(w, ",\"status_acked\":");
	w_u64(w, p->status_acked);
	w_raw(w, ",\"mirror_uid\":");
	W_ARR(w, p->mirror_uid);
	w_raw(w, ",\"mirror_n\":");
	w_u64(w, p->mirror_n);
	w_raw(w, ",\"mirror_creating\":");
	w_bool(w, p->mirror_creating);
	w_raw(w, ",\"api_delete_sent\":");
	w_bool(w, p->api_delete_sent);
	w_raw(w, ",\"nevents\":");
	w_u64(w, p->nevents);
	w_raw(w, ",\"volumes\":{\"n\":");
	w_u64(w, p->vol_n);
	w_raw(w, ",\"ready\":");
	w_bool(w, p->vol_ready);
	w_raw(w, ",\"busy\":");
	w_bool(w, p->vol_busy);
	w_raw(w, ",\"again\":");
	w_bool(w, p->vol_again);
	w_raw(w, ",\"down\":");
	w_u64(w, p->vol_down);
	w_raw(w, ",\"retry_ts_ms\":");
	w_u64(w, p->vol_retry_ts_ms);
	w_raw(w, ",\"backoff_ms\":");
	w_u64(w, p->vol_backoff_ms);
	w_raw(w, ",\"token_ts_ms\":");
	w_u64(w, p->vol_token_ts_ms);
	w_raw(w, "}");
	w_raw(w, ",\"usage\":{\"memory_bytes\":");
	w_i64(w, p->usage_memory_bytes);
	w_raw(w, ",\"disk_bytes\":");
	w_i64(w, p->usage_disk_bytes);
	w_raw(w, ",\"inodes\":");
	w_i64(w, p->usage_inodes);
	w_raw(w, ",\"pids\":");
	w_i64(w, p->usage_pids);
	w_raw(w, "}}");
}

int fsm_state_dump(const struct fsm_state *s, struct fsm_buf *out)
{
	assert(s->npressure <= FSM_SIGNALS_MAX);
	size_t len0 = out->len;
	struct w w = {.b = out};
	w_raw(&w, "{\"last_seq\":");
	w_u64(&w, s->last_seq);
	w_raw(&w, ",\"last_ts_ms\":");
	w_u64(&w, s->last_ts_ms);
	w_raw(&w, ",\"last_wall_ms\":");
	w_u64(&w, s->last_wall_ms);
	w_raw(&w, ",\"node_config\":");
	dump_doc(&w, s->node_config, s->node_config_len);
	w_raw(&w, ",\"kind_counts\":[");
	for (size_t k = 0; k < FSM_EV_KIND_COUNT; k++) {
		if (k > 0)
			w_raw(&w, ",");
		w_u64(&w, s->kind_counts[k]);
	}
	w_raw(&w, "],\"cfg\":");
	dump_cfg(&w, &s->cfg);
	w_raw(&w, ",\"pressure\":[");
	for (size_t i = 0; i < s->npressure && i < FSM_SIGNALS_MAX; i++) {
		const struct fsm_pressure *pr = &s->pressure[i];
		w_raw(&w, i == 0 ? "{\"signal\":" : ",{\"signal\":");
		W_ARR(&w, pr->signal);
		w_raw(&w, ",\"value\":");
		w_i64(&w, pr->value);
		w_raw(&w, ",\"capacity\":");
		w_i64(&w, pr->capacity);
		w_raw(&w, "}");
	}
	w_raw(&w, "],\"images\":[");
	for (size_t i = 0; i < s->nimages; i++) {
		w_raw(&w, i == 0 ? "{\"name\":" : ",{\"name\":");
		w_cstr(&w, s->images[i].name);
		w_raw(&w, ",\"ref\":");
		w_cstr(&w, s->images[i].ref);
		w_raw(&w, "}");
	}
	w_raw(&w, "],\"pods\":[");
	for (size_t i = 0; i < s->npods; i++) {
		assert(s->pods[i] != NULL);
		if (i > 0)
			w_raw(&w, ",");
		dump_pod(&w, s->pods[i]);
	}
	w_raw(&w, "],\"timers\":[");
	for (size_t i = 0; i < s->ntimers; i++) {
		w_raw(&w, i == 0 ? "{\"key\":" : ",{\"key\":");
		w_cstr(&w, s->timers[i].key);
		w_raw(&w, ",\"pod_uid\":");
		w_cstr(&w, s->timers[i].pod_uid);
		w_raw(&w, ",\"due_ms\":");
		w_u64(&w, s->timers[i].due_ms);
		w_raw(&w, "}");
	}
	w_raw(&w, "],\"objects\":[");
	for (size_t i = 0; i < s->nobjects; i++) {
		const struct fsm_object *o = &s->objects[i];
		w_raw(&w, i == 0 ? "{\"secret\":" : ",{\"secret\":");
		w_bool(&w, o->secret);
		w_raw(&w, ",\"namespace\":");
		w_cstr(&w, o->namespace_);
		w_raw(&w, ",\"name\":");
		w_cstr(&w, o->name);
		w_raw(&w, ",\"hash\":");
		W_ARR(&w, o->hash);
		w_raw(&w, "}");
	}
	const struct fsm_api_node *n = &s->node;
	w_raw(&w, "],\"node\":{\"registered\":");
	w_bool(&w, n->registered);
	w_raw(&w, ",\"registering\":");
	w_bool(&w, n->registering);
	w_raw(&w, ",\"uid\":");
	W_ARR(&w, n->uid);
	w_raw(&w, ",\"register_n\":");
	w_u64(&w, n->register_n);
	w_raw(&w, ",\"lease_n\":");
	w_u64(&w, n->lease_n);
	w_raw(&w, ",\"status_hash\":");
	w_hex(&w, n->status_hash);
	w_raw(&w, ",\"status_version\":");
	w_u64(&w, n->status_version);
	w_raw(&w, ",\"status_acked\":");
	w_u64(&w, n->status_acked);
	w_raw(&w, ",\"status_sent_ts_ms\":");
	w_u64(&w, n->status_sent_ts_ms);
	w_raw(&w, ",\"runtime_fail_ts_ms\":");
	w_u64(&w, n->runtime_fail_ts_ms);
	w_raw(&w, ",\"runtime_down\":");
	w_bool(&w, n->runtime_down);
	w_raw(&w, ",\"runtime_error\":");
	W_ARR(&w, n->runtime_error);
	w_raw(&w, ",\"network_error\":");
	W_ARR(&w, n->network_error);
	w_raw(&w, ",\"nevents\":");
	w_u64(&w, n->nevents);
	w_raw(&w, ",\"conds\":[");
	for (int i = 0; i < FSM_NODE_CONDS; i++) {
		w_raw(&w, i == 0 ? "{\"status\":" : ",{\"status\":");
		w_bool(&w, n->cond[i]);
		w_raw(&w, ",\"transition_wall_ms\":");
		w_u64(&w, n->cond_transition_wall_ms[i]);
		w_raw(&w, "}");
	}
	w_raw(&w, "]}}");
	return w_end(&w, len0);
}
