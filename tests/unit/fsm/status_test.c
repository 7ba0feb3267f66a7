/*
 * tests/unit/fsm/status_test.c — the pod status the kubelet reports (fsm/status.c).
 *
 * Pods are built by hand here, not decoded, so these tests hold on their own.
 * The phase tables are ported from upstream's pkg/kubelet/kubelet_pods_test.go
 * (TestPodPhaseWithRestartAlways, ...Never, ...OnFailure, and the init and
 * restartable-init container variants): each row keeps upstream's description.
 * A container status that upstream's row leaves out ("unknown") is a container
 * that waits here: every container of ours has a machine, and getPhase treats the
 * two alike in every row.
 */
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fsm/buf.h"
#include "fsm/status.h"
#include "test.h"

#define MAXC 8

/* 2026-11-27T15:51:08Z. (1795795868000, the value first quoted for this date, is
 * 16:11:08Z: see test_rfc3339_known_instants.) */
#define T0_MS UINT64_C(1795794668000)

/* ---- building pods by hand ---- */

/* names: "init:X" a regular init container, "side:X" a sidecar (an init container
 * with restartPolicy Always), anything else an app container. Init ones first. */
static struct fsm_pod *pod_new(enum fsm_restart_policy policy, const char *const *names)
{
	size_t n = 0;
	while (n < MAXC && names[n] != NULL)
		n++;
	struct fsm_pod *p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->spec.containers = calloc(n ? n : 1, sizeof(*p->spec.containers));
	p->ctrs = calloc(n ? n : 1, sizeof(*p->ctrs));
	if (p->spec.containers == NULL || p->ctrs == NULL)
		abort();
	p->spec.uid = "uid-1";
	p->spec.name = "web";
	p->spec.namespace_ = "default";
	p->spec.restart_policy = policy;
	p->spec.ncontainers = n;
	p->source = "api";
	p->kill_grace_s = -1;
	for (size_t i = 0; i < n; i++) {
		struct fsm_container_spec *cs = &p->spec.containers[i];
		const char *nm = names[i];
		if (strncmp(nm, "init:", 5) == 0) {
			cs->init = true;
			nm += 5;
		} else if (strncmp(nm, "side:", 5) == 0) {
			cs->init = true;
			cs->sidecar = true;
			nm += 5;
		}
		if (cs->init)
			p->spec.ninit = i + 1;
		cs->name = (char *)nm;
		cs->image = "registry.local/busybox:1.36";
	}
	return p;
}

static void pod_free(struct fsm_pod *p)
{
	free(p->spec.containers);
	free(p->ctrs);
	free(p->spec.readiness_gates);
	free(p->spec.gate_true);
	free(p);
}

static void set_term(struct fsm_terminated *t, int32_t exit_code)
{
	memset(t, 0, sizeof(*t));
	t->set = true;
	t->exit_code = exit_code;
}

/*
 * Puts container i in one of the states upstream's tables use:
 *   waiting        never started (no lastState)
 *   running        running, startup not passed (upstream's runningState: Started unset)
 *   started        running, started and ready
 *   stopped        terminated, exit code 0 (upstream's stoppedState: a zero ExitCode)
 *   succeeded      terminated, exit code 0
 *   failed         terminated, exit code -1
 *   waiting-last0  waiting to restart, lastState terminated with 0
 *   waiting-last1  waiting to restart, lastState terminated with -1
 */
static void set_state(struct fsm_pod *p, size_t i, const char *st)
{
	struct fsm_ctr *c = &p->ctrs[i];
	memset(c, 0, sizeof(*c));
	if (strcmp(st, "waiting") == 0) {
		c->stage = FSM_CS_WAITING;
	} else if (strcmp(st, "running") == 0) {
		c->stage = FSM_CS_RUNNING;
		c->ever_started = true;
	} else if (strcmp(st, "started") == 0) {
		c->stage = FSM_CS_RUNNING;
		c->ever_started = true;
		c->started = true;
		c->ready = true;
	} else if (strcmp(st, "stopped") == 0 || strcmp(st, "succeeded") == 0) {
		c->stage = FSM_CS_EXITED;
		c->ever_started = true;
		set_term(&c->term, 0);
	} else if (strcmp(st, "failed") == 0) {
		c->stage = FSM_CS_EXITED;
		c->ever_started = true;
		set_term(&c->term, -1);
	} else if (strcmp(st, "waiting-last0") == 0) {
		c->stage = FSM_CS_WAITING;
		c->ever_started = true;
		set_term(&c->last_term, 0);
	} else if (strcmp(st, "waiting-last1") == 0) {
		c->stage = FSM_CS_WAITING;
		c->ever_started = true;
		set_term(&c->last_term, -1);
	} else {
		abort();
	}
}

static void set_gates(struct fsm_pod *p, size_t n, const char *const *types, const bool *truth)
{
	p->spec.readiness_gates = calloc(n, sizeof(char *));
	p->spec.gate_true = calloc(n, sizeof(bool));
	if (p->spec.readiness_gates == NULL || p->spec.gate_true == NULL)
		abort();
	for (size_t g = 0; g < n; g++) {
		p->spec.readiness_gates[g] = (char *)types[g];
		p->spec.gate_true[g] = truth[g];
	}
	p->spec.ngates = n;
}

/* ---- reading JSON back ---- */

static struct json_object *parse(const struct fsm_buf *b)
{
	if (b->ptr == NULL)
		return NULL;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, b->ptr, (int)b->len);
	bool whole = json_tokener_get_error(tok) == json_tokener_success &&
		     json_tokener_get_parse_end(tok) == b->len;
	json_tokener_free(tok);
	if (!whole) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "a.b.0.c": object keys and array indices. */
static struct json_object *jpath(struct json_object *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *t = strtok_r(buf, ".", &save); t != NULL && o != NULL;
	     t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			o = json_object_array_get_idx(o, (size_t)atoi(t));
		} else if (!json_object_object_get_ex(o, t, &o)) {
			return NULL;
		}
	}
	return o;
}

static const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);
	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
									: NULL;
}

static long long jint(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);
	return v != NULL && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
								     : -999999;
}

static int jbool(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);
	return v != NULL && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v)
									 : -1;
}

static bool jhas(struct json_object *o, const char *path)
{
	return jpath(o, path) != NULL;
}

/* The status of p (phase and conditions brought up to date first) as parsed JSON;
 * the bytes are left in b. */
static struct json_object *status_of(struct fsm_pod *p, const struct fsm_node_config *cfg,
				     bool terminal, struct fsm_buf *b)
{
	snprintf(p->phase, sizeof(p->phase), "%s", fsm_pod_phase(p, terminal));
	/* These hand-built pods are done: their pod worker has finished, so a
	 * terminal phase is reported (while it runs, the phase is held back; the
	 * replay scenarios hold that). */
	if ((strcmp(p->phase, "Succeeded") == 0 || strcmp(p->phase, "Failed") == 0) &&
	    p->stage == FSM_PS_ACTIVE)
		p->stage = FSM_PS_TERMINATED;
	fsm_pod_conditions_update(p, T0_MS);
	fsm_buf_reset(b);
	if (fsm_pod_status_json(p, cfg, b) != 0)
		return NULL;
	return parse(b);
}

/* ---- phase tables ---- */

struct phase_case {
	const char *name;
	const char *states[4]; /* per container, spec order */
	bool terminal;
	int initialized; /* podHasInitialized: 0 or 1; -1 derives it */
	const char *want;
};

static void run_phase_table(enum fsm_restart_policy policy, const char *const *names,
			    bool sidecar_startup_probe, const struct phase_case *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct phase_case *tc = &cases[k];
		struct fsm_pod *p = pod_new(policy, names);
		for (size_t i = 0; i < p->spec.ncontainers; i++) {
			/* upstream's runningState leaves Started unset: our sidecar needs a
			 * startup probe that has not passed to be running but not started */
			if (sidecar_startup_probe && p->spec.containers[i].sidecar)
				p->spec.containers[i].startup.kind = FSM_HANDLER_EXEC;
			set_state(p, i, tc->states[i] != NULL ? tc->states[i] : "waiting");
		}
		const char *got = tc->initialized < 0
					  ? fsm_pod_phase(p, tc->terminal)
					  : fsm_pod_phase_given(p, tc->terminal, tc->initialized != 0);
		CHECKF(strcmp(got, tc->want) == 0, "[%s] phase %s, want %s", tc->name, got, tc->want);
		pod_free(p);
	}
}

#define RUN_TABLE(policy, names, probe, cases)                                                     \
	run_phase_table((policy), (names), (probe), (cases), sizeof(cases) / sizeof((cases)[0]))

static const char *const two_apps[] = {"containerA", "containerB", NULL};
static const char *const init_two_apps[] = {"init:containerX", "containerA", "containerB", NULL};
static const char *const side_two_apps[] = {"side:containerX", "containerA", "containerB", NULL};

TEST(test_phase_restart_always_ported)
{
	static const struct phase_case cases[] = {
		{"waiting", {"waiting", "waiting"}, false, 0, "Pending"},
		{"all running", {"running", "running"}, false, 0, "Running"},
		{"all stopped with restart always", {"stopped", "stopped"}, false, 0, "Running"},
		{"all succeeded with restart always, but the pod is terminal",
		 {"succeeded", "succeeded"}, true, 0, "Succeeded"},
		{"all stopped with restart always, but the pod is terminal", {"succeeded", "failed"},
		 true, 0, "Failed"},
		{"mixed state #1 with restart always", {"running", "stopped"}, false, 0, "Running"},
		{"mixed state #2 with restart always", {"running", "waiting"}, false, 0, "Pending"},
		{"mixed state #3 with restart always", {"running", "waiting"}, false, 0, "Pending"},
		{"backoff crashloop container with restart always", {"running", "waiting-last0"},
		 false, 0, "Running"},
	};
	RUN_TABLE(FSM_RESTART_ALWAYS, two_apps, false, cases);
}

TEST(test_phase_restart_always_init_containers_ported)
{
	static const struct phase_case cases[] = {
		{"empty, waiting", {0}, false, 0, "Pending"},
		{"init container running", {"running"}, false, 0, "Pending"},
		{"init container terminated non-zero", {"failed"}, false, 0, "Pending"},
		{"init container waiting, terminated zero", {"waiting-last0"}, false, 0, "Pending"},
		{"init container waiting, terminated non-zero", {"waiting-last1"}, false, 0, "Pending"},
		{"init container waiting, not terminated", {"waiting"}, false, 0, "Pending"},
		{"init container succeeded", {"succeeded", "running", "running"}, false, 0, "Running"},
	};
	RUN_TABLE(FSM_RESTART_ALWAYS, init_two_apps, false, cases);
}

TEST(test_phase_restart_always_restartable_init_containers_ported)
{
	static const struct phase_case cases[] = {
		{"empty, waiting", {0}, false, 0, "Pending"},
		{"restartable init container running", {"running"}, false, 0, "Pending"},
		{"restartable init container stopped", {"stopped"}, false, 0, "Pending"},
		{"restartable init container waiting, terminated zero", {"waiting-last0"}, false, 0,
		 "Pending"},
		{"restartable init container waiting, terminated non-zero", {"waiting-last1"}, false,
		 0, "Pending"},
		{"restartable init container waiting, not terminated", {"waiting"}, false, 0,
		 "Pending"},
		{"restartable init container started, 1/2 regular container running",
		 {"started", "running", "waiting"}, false, 1, "Pending"},
		{"restartable init container started, all regular containers running",
		 {"started", "running", "running"}, false, 1, "Running"},
		{"restartable init container running, all regular containers running",
		 {"running", "running", "running"}, false, 1, "Running"},
		{"restartable init container stopped, all regular containers running",
		 {"stopped", "running", "running"}, false, 1, "Running"},
		{"backoff crashloop restartable init container, all regular containers running",
		 {"waiting-last0", "running", "running"}, false, 1, "Running"},
		{"all regular containers succeeded and restartable init container failed with "
		 "restart always, but the pod is terminal",
		 {"failed", "succeeded", "succeeded"}, true, 1, "Succeeded"},
		{"all regular containers succeeded and restartable init container succeeded with "
		 "restart always, but the pod is terminal",
		 {"succeeded", "succeeded", "succeeded"}, true, 1, "Succeeded"},
		{"re-initializing the pod after the sandbox is recreated",
		 {"running", "running", "running"}, false, 0, "Pending"},
	};
	RUN_TABLE(FSM_RESTART_ALWAYS, side_two_apps, true, cases);
}

TEST(test_phase_restart_always_and_pod_has_run_ported)
{
	static const char *const names[] = {"init:containerX", "side:containerY", "containerA",
					    NULL};
	static const struct phase_case cases[] = {
		{"regular init containers, restartable init container and regular container are "
		 "all running",
		 {"running", "running", "running"}, false, 0, "Pending"},
		{"regular containers is stopped, restartable init container and regular int "
		 "container are both running",
		 {"running", "running", "stopped"}, false, 0, "Pending"},
		{"re-created sandbox: regular init container is succeeded, restartable init "
		 "container is running, old regular containers is stopped",
		 {"succeeded", "running", "stopped"}, false, 0, "Pending"},
		{"regular init container is succeeded, restartable init container is running, "
		 "regular containers is stopped",
		 {"succeeded", "running", "stopped"}, false, 1, "Running"},
		{"regular init container is succeeded, restartable init container and regular "
		 "containers are both running",
		 {"succeeded", "running", "running"}, false, 1, "Running"},
	};
	RUN_TABLE(FSM_RESTART_ALWAYS, names, true, cases);
}

TEST(test_phase_restart_never_ported)
{
	static const struct phase_case cases[] = {
		{"waiting", {"waiting", "waiting"}, false, 0, "Pending"},
		{"all running with restart never", {"running", "running"}, false, 0, "Running"},
		{"all succeeded with restart never", {"succeeded", "succeeded"}, false, 0,
		 "Succeeded"},
		{"all failed with restart never", {"failed", "failed"}, false, 0, "Failed"},
		{"mixed state #1 with restart never", {"running", "succeeded"}, false, 0, "Running"},
		{"mixed state #2 with restart never", {"running", "waiting"}, false, 0, "Pending"},
		{"mixed state #3 with restart never", {"running", "waiting"}, false, 0, "Pending"},
	};
	RUN_TABLE(FSM_RESTART_NEVER, two_apps, false, cases);
}

TEST(test_phase_restart_never_init_containers_ported)
{
	static const struct phase_case cases[] = {
		{"empty, waiting", {0}, false, 0, "Pending"},
		{"init container running", {"running"}, false, 0, "Pending"},
		{"init container terminated non-zero", {"failed"}, false, 0, "Failed"},
		{"init container waiting, terminated zero", {"waiting-last0"}, false, 0, "Pending"},
		{"init container waiting, terminated non-zero", {"waiting-last1"}, false, 0, "Failed"},
		{"init container waiting, not terminated", {"waiting"}, false, 0, "Pending"},
		{"init container succeeded", {"succeeded", "running", "running"}, false, 0, "Running"},
	};
	RUN_TABLE(FSM_RESTART_NEVER, init_two_apps, false, cases);
}

TEST(test_phase_restart_never_restartable_init_containers_ported)
{
	static const struct phase_case cases[] = {
		{"empty, waiting", {0}, false, 0, "Pending"},
		{"restartable init container running", {"running"}, false, 0, "Pending"},
		{"restartable init container stopped", {"stopped"}, false, 0, "Pending"},
		{"restartable init container waiting, terminated zero", {"waiting-last0"}, false, 0,
		 "Pending"},
		{"restartable init container waiting, terminated non-zero", {"waiting-last1"}, false,
		 0, "Pending"},
		{"restartable init container waiting, not terminated", {"waiting"}, false, 0,
		 "Pending"},
		{"restartable init container started, one main container running",
		 {"started", "running", "waiting"}, false, 1, "Pending"},
		{"restartable init container started, main containers succeeded",
		 {"started", "succeeded", "succeeded"}, false, 1, "Running"},
		{"restartable init container re-running, main containers succeeded",
		 {"running", "succeeded", "succeeded"}, false, 1, "Running"},
		{"all containers succeeded", {"succeeded", "succeeded", "succeeded"}, false, 1,
		 "Succeeded"},
		{"restartable init container terminated non-zero, main containers succeeded",
		 {"failed", "succeeded", "succeeded"}, false, 1, "Succeeded"},
		{"backoff crashloop restartable init container, main containers succeeded",
		 {"waiting-last0", "succeeded", "succeeded"}, false, 1, "Succeeded"},
		{"backoff crashloop with non-zero restartable init container, main containers "
		 "succeeded",
		 {"waiting-last1", "succeeded", "succeeded"}, false, 1, "Succeeded"},
	};
	RUN_TABLE(FSM_RESTART_NEVER, side_two_apps, true, cases);
}

TEST(test_phase_restart_on_failure_ported)
{
	static const struct phase_case cases[] = {
		{"waiting", {"waiting", "waiting"}, false, 0, "Pending"},
		{"all running with restart onfailure", {"running", "running"}, false, 0, "Running"},
		{"all succeeded with restart onfailure", {"succeeded", "succeeded"}, false, 0,
		 "Succeeded"},
		{"all failed with restart never", {"failed", "failed"}, false, 0, "Running"},
		{"mixed state #1 with restart onfailure", {"running", "succeeded"}, false, 0,
		 "Running"},
		{"mixed state #2 with restart onfailure", {"running", "waiting"}, false, 0, "Pending"},
		{"mixed state #3 with restart onfailure", {"running", "waiting"}, false, 0, "Pending"},
		{"backoff crashloop container with restart onfailure", {"running", "waiting-last0"},
		 false, 0, "Running"},
	};
	RUN_TABLE(FSM_RESTART_ON_FAILURE, two_apps, false, cases);
}

/* The rows above that give podHasInitialized, with it derived from the state:
 * the same answers wherever the state can say it. */
TEST(test_phase_derives_pod_has_initialized_from_app_containers)
{
	static const struct phase_case cases[] = {
		{"sidecar restarting after the apps ran stays Running",
		 {"waiting-last1", "running", "running"}, false, -1, "Running"},
		{"sidecar running, not started, apps never ran: Pending",
		 {"running", "waiting", "waiting"}, false, -1, "Pending"},
		{"sidecar not started while the apps run: Running", {"running", "running", "running"},
		 false, -1, "Running"},
		{"all succeeded, sidecar failed, pod terminal", {"failed", "succeeded", "succeeded"},
		 true, -1, "Succeeded"},
	};
	RUN_TABLE(FSM_RESTART_ALWAYS, side_two_apps, true, cases);
}

TEST(test_phase_static_pod_is_not_made_terminal_by_the_worker)
{
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, two_apps);
	set_state(p, 0, "succeeded");
	set_state(p, 1, "failed");
	CHECK_EQ_STR(fsm_pod_phase(p, true), "Failed");
	p->spec.is_static = true;
	CHECK_EQ_STR(fsm_pod_phase(p, true), "Running"); /* upstream TODO(#116484) */
	p->spec.restart_policy = FSM_RESTART_NEVER;
	CHECK_EQ_STR(fsm_pod_phase(p, true), "Failed"); /* by its restart policy */
	pod_free(p);
}

TEST(test_phase_maps_every_container_stage)
{
	static const char *const one[] = {"app", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, one);
	static const struct {
		enum fsm_ctr_stage stage;
		const char *want;
	} rows[] = {
		{FSM_CS_WAITING, "Pending"},  {FSM_CS_PULLING, "Pending"},
		{FSM_CS_CREATING, "Pending"}, {FSM_CS_STARTING, "Pending"},
		{FSM_CS_RUNNING, "Running"},  {FSM_CS_KILLING, "Running"},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		p->ctrs[0].stage = rows[k].stage;
		CHECKF(strcmp(fsm_pod_phase(p, false), rows[k].want) == 0, "stage %d: %s",
		       (int)rows[k].stage, fsm_pod_phase(p, false));
	}
	/* A container waiting to restart after a crash is stopped, not pending. */
	p->ctrs[0].stage = FSM_CS_PULLING;
	set_term(&p->ctrs[0].last_term, 1);
	CHECK_EQ_STR(fsm_pod_phase(p, false), "Running");
	pod_free(p);
}

/* ---- conditions ---- */

static struct fsm_pod *running_pod(void)
{
	static const char *const names[] = {"web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	set_state(p, 0, "started");
	p->sb_stage = FSM_SB_READY;
	snprintf(p->sb_ip, sizeof(p->sb_ip), "10.88.0.5");
	return p;
}

TEST(test_conditions_all_true_for_a_running_ready_pod)
{
	struct fsm_pod *p = running_pod();
	snprintf(p->phase, sizeof(p->phase), "%s", fsm_pod_phase(p, false));
	CHECK_EQ_STR(p->phase, "Running");
	fsm_pod_conditions_update(p, T0_MS);
	for (size_t k = 0; k < FSM_CONDS; k++) {
		CHECKF(p->conds[k].status, "condition %zu", k);
		CHECK_EQ_INT(p->conds[k].transition_wall_ms, T0_MS);
	}
	pod_free(p);
}

TEST(test_conditions_list_unready_and_incomplete_containers_by_name)
{
	static const char *const names[] = {"init:init-a", "init:init-b", "side:proxy", "web",
					    "db", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	set_state(p, 0, "running");
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.1.type"), "Initialized");
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.1.reason"), "ContainersNotInitialized");
	CHECK_EQ_STR(jstr(j, "conditions.1.message"),
		     "containers with incomplete status: [init-a init-b proxy]");
	/* sidecars first, then the apps, in spec order */
	CHECK_EQ_STR(jstr(j, "conditions.3.type"), "ContainersReady");
	CHECK_EQ_STR(jstr(j, "conditions.3.reason"), "ContainersNotReady");
	CHECK_EQ_STR(jstr(j, "conditions.3.message"),
		     "containers with unready status: [proxy web db]");
	/* Ready repeats ContainersReady while that is not True */
	CHECK_EQ_STR(jstr(j, "conditions.2.type"), "Ready");
	CHECK_EQ_STR(jstr(j, "conditions.2.reason"), "ContainersNotReady");
	CHECK_EQ_STR(jstr(j, "conditions.2.message"),
		     "containers with unready status: [proxy web db]");
	json_object_put(j);

	/* init done, the sidecar started but not ready: Initialized is True */
	set_state(p, 0, "succeeded");
	set_state(p, 1, "succeeded");
	set_state(p, 2, "started");
	p->spec.containers[2].readiness.kind = FSM_HANDLER_HTTP_GET;
	p->ctrs[2].ready = false;
	set_state(p, 4, "started");
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "True");
	CHECK(!jhas(j, "conditions.1.reason"));
	CHECK(!jhas(j, "conditions.1.message"));
	CHECK_EQ_STR(jstr(j, "conditions.3.message"), "containers with unready status: [proxy web]");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_initialized_stays_true_while_a_sidecar_restarts)
{
	static const char *const names[] = {"side:proxy", "web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	set_state(p, 0, "waiting-last1");
	set_state(p, 1, "started");
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Running");
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "True");
	CHECK_EQ_STR(jstr(j, "conditions.3.message"), "containers with unready status: [proxy]");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_sidecar_initializes_once_started_not_once_ready)
{
	static const char *const names[] = {"side:proxy", "web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	p->spec.containers[0].startup.kind = FSM_HANDLER_EXEC;
	p->spec.containers[0].readiness.kind = FSM_HANDLER_EXEC;
	set_state(p, 0, "running"); /* startup probe not passed yet */
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.1.message"), "containers with incomplete status: [proxy]");
	json_object_put(j);
	p->ctrs[0].started = true; /* started, readiness not passed */
	p->ctrs[0].ready = false;
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "True");
	CHECK_EQ_INT(jbool(j, "initContainerStatuses.0.started"), 1);
	CHECK_EQ_INT(jbool(j, "initContainerStatuses.0.ready"), 0);
	CHECK_EQ_STR(jstr(j, "conditions.3.message"),
		     "containers with unready status: [proxy web]");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_of_a_succeeded_pod_say_pod_completed)
{
	static const char *const names[] = {"init:setup", "job", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_NEVER, names);
	set_state(p, 0, "succeeded");
	set_state(p, 1, "succeeded");
	p->sb_stage = FSM_SB_STOPPED;
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Succeeded");
	CHECK_EQ_STR(jstr(j, "conditions.0.type"), "PodReadyToStartContainers");
	CHECK_EQ_STR(jstr(j, "conditions.0.status"), "False");
	CHECK(!jhas(j, "conditions.0.reason"));
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "True");
	CHECK_EQ_STR(jstr(j, "conditions.1.reason"), "PodCompleted");
	CHECK_EQ_STR(jstr(j, "conditions.2.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.2.reason"), "PodCompleted");
	CHECK(!jhas(j, "conditions.2.message"));
	CHECK_EQ_STR(jstr(j, "conditions.3.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.3.reason"), "PodCompleted");
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.0.state.terminated.reason"), "Completed");
	CHECK_EQ_INT(jbool(j, "initContainerStatuses.0.ready"), 1);
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.reason"), "Completed");
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 0);
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_of_a_failed_pod_say_pod_failed)
{
	static const char *const names[] = {"job", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_NEVER, names);
	set_state(p, 0, "failed");
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Failed");
	CHECK_EQ_STR(jstr(j, "conditions.2.reason"), "PodFailed");
	CHECK_EQ_STR(jstr(j, "conditions.3.reason"), "PodFailed");
	CHECK(!jhas(j, "conditions.3.message"));
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.reason"), "Error");
	CHECK_EQ_INT(jint(j, "containerStatuses.0.state.terminated.exitCode"), -1);
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_readiness_gates_hold_ready_back)
{
	struct fsm_pod *p = running_pod();
	static const char *const types[] = {"example.com/lb", "example.com/dns"};
	static const bool truth[] = {false, false};
	set_gates(p, 2, types, truth);
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.3.status"), "True"); /* ContainersReady */
	CHECK_EQ_STR(jstr(j, "conditions.2.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.2.reason"), "ReadinessGatesNotReady");
	CHECK_EQ_STR(jstr(j, "conditions.2.message"),
		     "corresponding condition of pod readiness gate \"example.com/lb\" does not "
		     "exist., corresponding condition of pod readiness gate \"example.com/dns\" "
		     "does not exist.");
	json_object_put(j);

	p->spec.gate_true[0] = true;
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.2.message"),
		     "corresponding condition of pod readiness gate \"example.com/dns\" does not "
		     "exist.");
	json_object_put(j);

	p->spec.gate_true[1] = true;
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.2.status"), "True");
	CHECK(!jhas(j, "conditions.2.reason"));
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_conditions_ready_to_start_needs_a_ready_sandbox_with_an_ip)
{
	struct fsm_pod *p = running_pod();
	fsm_pod_conditions_update(p, T0_MS);
	CHECK(p->conds[FSM_COND_READY_TO_START].status);
	p->sb_ip[0] = '\0';
	fsm_pod_conditions_update(p, T0_MS);
	CHECK(!p->conds[FSM_COND_READY_TO_START].status);
	p->spec.host_network = true; /* on the host's network no IP of its own is needed */
	fsm_pod_conditions_update(p, T0_MS);
	CHECK(p->conds[FSM_COND_READY_TO_START].status);
	static const enum fsm_sandbox_stage not_ready[] = {
		FSM_SB_NONE,     FSM_SB_CREATING, FSM_SB_NOTREADY,
		FSM_SB_STOPPING, FSM_SB_STOPPED,  FSM_SB_REMOVING,
	};
	for (size_t k = 0; k < sizeof(not_ready) / sizeof(not_ready[0]); k++) {
		p->sb_stage = not_ready[k];
		fsm_pod_conditions_update(p, T0_MS);
		CHECKF(!p->conds[FSM_COND_READY_TO_START].status, "sandbox stage %d",
		       (int)not_ready[k]);
	}
	pod_free(p);
}

TEST(test_conditions_transition_times_move_only_on_flips)
{
	struct fsm_pod *p = running_pod();
	p->ctrs[0].stage = FSM_CS_CREATING; /* nothing ready yet */
	p->ctrs[0].started = false;
	p->ctrs[0].ready = false;
	snprintf(p->phase, sizeof(p->phase), "Pending");
	/* the first computation stamps every condition, False ones included */
	fsm_pod_conditions_update(p, 1000);
	for (size_t k = 0; k < FSM_CONDS; k++)
		CHECK_EQ_INT(p->conds[k].transition_wall_ms, 1000);
	CHECK(!p->conds[FSM_COND_READY].status);
	CHECK(p->conds[FSM_COND_READY_TO_START].status);

	/* nothing flips: nothing moves */
	fsm_pod_conditions_update(p, 2000);
	for (size_t k = 0; k < FSM_CONDS; k++)
		CHECK_EQ_INT(p->conds[k].transition_wall_ms, 1000);

	/* the container becomes ready: Ready and ContainersReady flip at 3000 */
	set_state(p, 0, "started");
	snprintf(p->phase, sizeof(p->phase), "Running");
	fsm_pod_conditions_update(p, 3000);
	CHECK(p->conds[FSM_COND_READY].status);
	CHECK(p->conds[FSM_COND_CONTAINERS_READY].status);
	CHECK_EQ_INT(p->conds[FSM_COND_READY].transition_wall_ms, 3000);
	CHECK_EQ_INT(p->conds[FSM_COND_CONTAINERS_READY].transition_wall_ms, 3000);
	CHECK_EQ_INT(p->conds[FSM_COND_INITIALIZED].transition_wall_ms, 1000);
	CHECK_EQ_INT(p->conds[FSM_COND_READY_TO_START].transition_wall_ms, 1000);

	/* readiness lost at 4000, regained at 5000 */
	p->spec.containers[0].readiness.kind = FSM_HANDLER_HTTP_GET;
	p->ctrs[0].ready = false;
	fsm_pod_conditions_update(p, 4000);
	CHECK(!p->conds[FSM_COND_READY].status);
	CHECK_EQ_INT(p->conds[FSM_COND_READY].transition_wall_ms, 4000);
	p->ctrs[0].ready = true;
	fsm_pod_conditions_update(p, 5000);
	fsm_pod_conditions_update(p, 6000);
	CHECK_EQ_INT(p->conds[FSM_COND_READY].transition_wall_ms, 5000);
	CHECK_EQ_INT(p->conds[FSM_COND_READY_TO_START].transition_wall_ms, 1000);
	pod_free(p);
}

TEST(test_conditions_reason_is_not_printed_against_a_stale_status)
{
	struct fsm_pod *p = running_pod();
	snprintf(p->phase, sizeof(p->phase), "Running");
	fsm_pod_conditions_update(p, T0_MS);
	set_state(p, 0, "waiting-last1"); /* changed, but conditions not recomputed */
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_pod_status_json(p, NULL, &b) == 0);
	struct json_object *j = parse(&b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "conditions.3.status"), "True"); /* as stored */
	CHECK(!jhas(j, "conditions.3.reason"));
	CHECK(!jhas(j, "conditions.3.message"));
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

/* ---- PodStatus JSON ---- */

static const struct fsm_node_config node_cfg = {.node_name = "node-1",
						.host_ip = "192.168.1.10"};

TEST(test_status_json_of_a_running_ready_pod_is_exact)
{
	struct fsm_pod *p = running_pod();
	struct fsm_ctr *c = &p->ctrs[0];
	snprintf(c->id, sizeof(c->id), "abc123");
	snprintf(c->image_ref, sizeof(c->image_ref), "sha256:feed");
	c->started_wall_ms = T0_MS + 999; /* milliseconds are truncated */
	p->start_wall_ms = T0_MS - 8000;
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	const char *want =
		"{\"phase\":\"Running\",\"conditions\":["
		"{\"type\":\"PodReadyToStartContainers\",\"status\":\"True\","
		"\"lastTransitionTime\":\"2026-11-27T15:51:08Z\"},"
		"{\"type\":\"Initialized\",\"status\":\"True\","
		"\"lastTransitionTime\":\"2026-11-27T15:51:08Z\"},"
		"{\"type\":\"Ready\",\"status\":\"True\","
		"\"lastTransitionTime\":\"2026-11-27T15:51:08Z\"},"
		"{\"type\":\"ContainersReady\",\"status\":\"True\","
		"\"lastTransitionTime\":\"2026-11-27T15:51:08Z\"}],"
		"\"hostIP\":\"192.168.1.10\",\"hostIPs\":[{\"ip\":\"192.168.1.10\"}],"
		"\"podIP\":\"10.88.0.5\",\"podIPs\":[{\"ip\":\"10.88.0.5\"}],"
		"\"startTime\":\"2026-11-27T15:51:00Z\","
		"\"containerStatuses\":[{\"name\":\"web\","
		"\"state\":{\"running\":{\"startedAt\":\"2026-11-27T15:51:08Z\"}},"
		"\"lastState\":{},\"ready\":true,\"restartCount\":0,"
		"\"image\":\"registry.local/busybox:1.36\",\"imageID\":\"sha256:feed\","
		"\"containerID\":\"containerd://abc123\",\"started\":true}],"
		"\"qosClass\":\"BestEffort\"}";
	CHECK_EQ_STR(b.ptr, want);
	CHECK(b.len == strlen(want));
	json_object_put(j);

	/* the same state prints the same bytes */
	struct fsm_buf b2 = FSM_BUF_INIT;
	REQUIRE(fsm_pod_status_json(p, &node_cfg, &b2) == 0);
	CHECK(b2.len == b.len && memcmp(b2.ptr, b.ptr, b.len) == 0);
	CHECK(fsm_status_hash(b2.ptr, b2.len) == fsm_status_hash(b.ptr, b.len));
	/* appending keeps what the buffer held */
	REQUIRE(fsm_pod_status_json(p, &node_cfg, &b2) == 0);
	CHECK(b2.len == 2 * b.len && memcmp(b2.ptr + b.len, b.ptr, b.len) == 0);
	fsm_buf_free(&b2);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_pending_container_shows_container_creating)
{
	static const char *const names[] = {"web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	p->sb_stage = FSM_SB_CREATING;
	p->ctrs[0].stage = FSM_CS_PULLING;
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Pending");
	CHECK_EQ_STR(jstr(j, "conditions.0.status"), "False");
	CHECK_EQ_STR(jstr(j, "conditions.1.status"), "True"); /* no init containers */
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.reason"), "ContainerCreating");
	CHECK(!jhas(j, "containerStatuses.0.state.waiting.message")); /* omitempty */
	struct json_object *last = jpath(j, "containerStatuses.0.lastState");
	CHECK(last != NULL && json_object_object_length(last) == 0);
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.imageID"), "");
	CHECK(!jhas(j, "containerStatuses.0.containerID"));
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 0);
	CHECK_EQ_INT(jint(j, "containerStatuses.0.restartCount"), 0);
	CHECK_EQ_STR(jstr(j, "hostIP"), "192.168.1.10");
	CHECK(!jhas(j, "podIP"));
	CHECK(!jhas(j, "podIPs"));
	CHECK(!jhas(j, "startTime"));
	CHECK(!jhas(j, "initContainerStatuses"));
	CHECK(!jhas(j, "reason"));
	CHECK(!jhas(j, "message"));
	json_object_put(j);

	/* its own reason, when the machine has one, wins over the default */
	snprintf(p->ctrs[0].waiting_reason, sizeof(p->ctrs[0].waiting_reason), "ErrImagePull");
	snprintf(p->ctrs[0].waiting_message, sizeof(p->ctrs[0].waiting_message), "not found");
	j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.reason"), "ErrImagePull");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.message"), "not found");
	json_object_put(j);

	/* created, start in flight: the runtime holds it, the kubelet gives no reason */
	p->ctrs[0].waiting_reason[0] = '\0';
	p->ctrs[0].waiting_message[0] = '\0';
	p->ctrs[0].stage = FSM_CS_STARTING;
	snprintf(p->ctrs[0].id, sizeof(p->ctrs[0].id), "c0");
	j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK(jhas(j, "containerStatuses.0.state.waiting"));
	CHECK(!jhas(j, "containerStatuses.0.state.waiting.reason"));
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.containerID"), "containerd://c0");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_init_pending_pod_shows_pod_initializing)
{
	static const char *const names[] = {"init:migrate", "init:warm", "web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	p->sb_stage = FSM_SB_READY;
	snprintf(p->sb_ip, sizeof(p->sb_ip), "10.88.0.7");
	set_state(p, 0, "running");
	p->ctrs[0].started_wall_ms = T0_MS;
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Pending");
	CHECK_EQ_STR(jstr(j, "conditions.1.reason"), "ContainersNotInitialized");
	CHECK_EQ_STR(jstr(j, "conditions.1.message"),
		     "containers with incomplete status: [migrate warm]");
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.0.name"), "migrate");
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.0.state.running.startedAt"),
		     "2026-11-27T15:51:08Z");
	CHECK_EQ_INT(jbool(j, "initContainerStatuses.0.ready"), 0);
	CHECK_EQ_INT(jbool(j, "initContainerStatuses.0.started"), 1);
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.1.name"), "warm");
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.1.state.waiting.reason"), "PodInitializing");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.name"), "web");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.reason"), "PodInitializing");
	CHECK_EQ_STR(jstr(j, "podIP"), "10.88.0.7");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_crash_looping_container_shows_back_off_and_last_state)
{
	static const char *const names[] = {"app", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	p->sb_stage = FSM_SB_READY;
	snprintf(p->sb_ip, sizeof(p->sb_ip), "10.88.0.9");
	struct fsm_ctr *c = &p->ctrs[0];
	c->stage = FSM_CS_WAITING;
	c->ever_started = true;
	c->attempt = 3;
	snprintf(c->id, sizeof(c->id), "c3");
	snprintf(c->image_ref, sizeof(c->image_ref), "sha256:beef");
	snprintf(c->waiting_reason, sizeof(c->waiting_reason), "CrashLoopBackOff");
	snprintf(c->waiting_message, sizeof(c->waiting_message),
		 "back-off 40s restarting failed container=app pod=web_default(uid-1)");
	set_term(&c->last_term, 1);
	c->last_term.started_wall_ms = T0_MS - 2000;
	c->last_term.finished_wall_ms = T0_MS;
	snprintf(c->last_term.id, sizeof(c->last_term.id), "c3");
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Running");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.reason"), "CrashLoopBackOff");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.waiting.message"),
		     "back-off 40s restarting failed container=app pod=web_default(uid-1)");
	CHECK_EQ_INT(jint(j, "containerStatuses.0.lastState.terminated.exitCode"), 1);
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.lastState.terminated.reason"), "Error");
	CHECK(!jhas(j, "containerStatuses.0.lastState.terminated.message"));
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.lastState.terminated.startedAt"),
		     "2026-11-27T15:51:06Z");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.lastState.terminated.finishedAt"),
		     "2026-11-27T15:51:08Z");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.lastState.terminated.containerID"),
		     "containerd://c3");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.containerID"), "containerd://c3");
	CHECK_EQ_INT(jint(j, "containerStatuses.0.restartCount"), 3);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 0);
	CHECK_EQ_STR(jstr(j, "conditions.3.message"), "containers with unready status: [app]");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_succeeded_pod_reports_completed_containers)
{
	static const char *const names[] = {"job", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ON_FAILURE, names);
	set_state(p, 0, "succeeded");
	struct fsm_ctr *c = &p->ctrs[0];
	snprintf(c->term.message, sizeof(c->term.message), "done \"ok\"\n");
	snprintf(c->term.id, sizeof(c->term.id), "j1");
	c->term.started_wall_ms = T0_MS - 60000;
	c->term.finished_wall_ms = T0_MS;
	p->sb_stage = FSM_SB_STOPPED;
	snprintf(p->sb_ip, sizeof(p->sb_ip), "10.88.0.11");
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, true, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "phase"), "Succeeded");
	CHECK_EQ_STR(jstr(j, "conditions.3.reason"), "PodCompleted");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.reason"), "Completed");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.message"), "done \"ok\"\n");
	CHECK_EQ_INT(jint(j, "containerStatuses.0.state.terminated.exitCode"), 0);
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.startedAt"),
		     "2026-11-27T15:50:08Z");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.state.terminated.containerID"),
		     "containerd://j1");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_host_network_pod_has_the_host_ip)
{
	struct fsm_pod *p = running_pod();
	p->spec.host_network = true;
	p->sb_ip[0] = '\0';
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, &node_cfg, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "podIP"), "192.168.1.10");
	CHECK_EQ_STR(jstr(j, "podIPs.0.ip"), "192.168.1.10");
	CHECK_EQ_STR(jstr(j, "hostIPs.0.ip"), "192.168.1.10");
	CHECK_EQ_STR(jstr(j, "conditions.0.status"), "True");
	json_object_put(j);

	/* without a known host IP there is none to give */
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK(!jhas(j, "podIP"));
	CHECK(!jhas(j, "hostIP"));
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_lists_apps_by_name_and_init_containers_in_spec_order)
{
	static const char *const names[] = {"init:z-first", "init:a-second", "zeta", "alpha",
					    "Mid", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.0.name"), "z-first");
	CHECK_EQ_STR(jstr(j, "initContainerStatuses.1.name"), "a-second");
	CHECK_EQ_STR(jstr(j, "containerStatuses.0.name"), "Mid"); /* bytewise, as Go sorts */
	CHECK_EQ_STR(jstr(j, "containerStatuses.1.name"), "alpha");
	CHECK_EQ_STR(jstr(j, "containerStatuses.2.name"), "zeta");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_pod_reason_message_and_qos)
{
	struct fsm_pod *p = running_pod();
	snprintf(p->reason, sizeof(p->reason), "Evicted");
	snprintf(p->message, sizeof(p->message), "The node was low on resource: memory.");
	p->spec.qos = FSM_QOS_GUARANTEED;
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "reason"), "Evicted");
	CHECK_EQ_STR(jstr(j, "message"), "The node was low on resource: memory.");
	CHECK_EQ_STR(jstr(j, "qosClass"), "Guaranteed");
	/* PodStatus field order: message before reason */
	const char *m = strstr(b.ptr, "\"message\":\"The node");
	const char *r = strstr(b.ptr, "\"reason\":\"Evicted\"");
	CHECK(m != NULL && r != NULL && m < r);
	json_object_put(j);
	p->spec.qos = FSM_QOS_BURSTABLE;
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "qosClass"), "Burstable");
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_started_and_ready_follow_the_probes)
{
	static const char *const names[] = {"web", NULL};
	struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
	p->spec.containers[0].startup.kind = FSM_HANDLER_HTTP_GET;
	p->spec.containers[0].readiness.kind = FSM_HANDLER_HTTP_GET;
	set_state(p, 0, "running"); /* startup probe not passed */
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 0);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	json_object_put(j);
	p->ctrs[0].started = true; /* startup passed, readiness not yet */
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 1);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	json_object_put(j);
	p->ctrs[0].ready = true;
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 1);
	json_object_put(j);
	/* a stale ready flag on an exited container is not reported */
	p->ctrs[0].stage = FSM_CS_EXITED;
	set_term(&p->ctrs[0].term, 0);
	j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.ready"), 0);
	CHECK_EQ_INT(jbool(j, "containerStatuses.0.started"), 0);
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_escapes_what_it_copies)
{
	struct fsm_pod *p = running_pod();
	snprintf(p->message, sizeof(p->message), "a \"quoted\"\\ line\nand\ttab\x01");
	/* a full array without a NUL is read to its end, never past it */
	memset(p->reason, 'R', sizeof(p->reason));
	struct fsm_buf b = FSM_BUF_INIT;
	struct json_object *j = status_of(p, NULL, false, &b);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(jstr(j, "message"), "a \"quoted\"\\ line\nand\ttab\x01");
	const char *r = jstr(j, "reason");
	CHECK(r != NULL && strlen(r) == FSM_REASON_BYTES);
	json_object_put(j);
	fsm_buf_free(&b);
	pod_free(p);
}

TEST(test_status_json_of_a_rejected_pod_is_what_reject_pod_sends)
{
	struct fsm_pod *p = running_pod();
	set_state(p, 0, "waiting");
	p->sb_stage = FSM_SB_NONE;
	p->sb_ip[0] = '\0';
	p->stage = FSM_PS_REJECTED;
	snprintf(p->phase, sizeof(p->phase), "Failed");
	snprintf(p->reason, sizeof(p->reason), "OutOfcpu");
	snprintf(p->message, sizeof(p->message),
		 "Pod was rejected: Node didn't have enough resource: cpu");
	p->start_wall_ms = T0_MS;
	p->spec.qos = FSM_QOS_BURSTABLE;
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_pod_status_json(p, &node_cfg, &b) == 0);
	CHECK_EQ_STR(b.ptr, "{\"phase\":\"Failed\","
			    "\"message\":\"Pod was rejected: Node didn't have enough resource: cpu\","
			    "\"reason\":\"OutOfcpu\",\"startTime\":\"2026-11-27T15:51:08Z\","
			    "\"qosClass\":\"Burstable\"}");
	fsm_buf_free(&b);
	pod_free(p);
}

/* ---- time and hash ---- */

TEST(test_rfc3339_known_instants)
{
	static const struct {
		uint64_t ms;
		const char *want;
	} rows[] = {
		{0, "1970-01-01T00:00:00Z"},
		{999, "1970-01-01T00:00:00Z"},
		{1000, "1970-01-01T00:00:01Z"},
		{86399999, "1970-01-01T23:59:59Z"},
		{951782400000, "2000-02-29T00:00:00Z"},
		{951868800000, "2000-03-01T00:00:00Z"},
		{946684799000, "1999-12-31T23:59:59Z"},
		{1709210096000, "2024-02-29T12:34:56Z"},
		{1795794668000, "2026-11-27T15:51:08Z"},
		/* the number first quoted for the instant above is 20 minutes later */
		{1795795868000, "2026-11-27T16:11:08Z"},
		{4107456000000, "2100-02-28T00:00:00Z"},
		{4107542400000, "2100-03-01T00:00:00Z"}, /* 2100 is not a leap year */
		{253402300799000, "9999-12-31T23:59:59Z"},
		{253402300799999, "9999-12-31T23:59:59Z"},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		char out[FSM_RFC3339_BYTES];
		CHECK_EQ_INT(fsm_time_rfc3339(rows[k].ms, out), 0);
		CHECK_EQ_STR(out, rows[k].want);
	}
	char out[FSM_RFC3339_BYTES] = "x";
	CHECK_EQ_INT(fsm_time_rfc3339(UINT64_C(253402300800000), out), -1);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(fsm_time_rfc3339(UINT64_MAX, out), -1);
}

/* An independent inverse: days from a civil date, by counting. */
static uint64_t days_from_civil_slow(unsigned y, unsigned m, unsigned d)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t days = 0;
	for (unsigned yy = 1970; yy < y; yy++)
		days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
	bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
	for (unsigned mm = 1; mm < m; mm++)
		days += mdays[mm - 1] + (mm == 2 && leap ? 1 : 0);
	return days + d - 1;
}

TEST(test_rfc3339_round_trips_random_instants)
{
	for (int k = 0; k < 2000; k++) {
		uint64_t ms = test_rand() % UINT64_C(253402300800000);
		char out[FSM_RFC3339_BYTES];
		REQUIRE(fsm_time_rfc3339(ms, out) == 0);
		unsigned y, mo, d, h, mi, s;
		REQUIRE(sscanf(out, "%4u-%2u-%2uT%2u:%2u:%2uZ", &y, &mo, &d, &h, &mi, &s) == 6);
		REQUIRE(strlen(out) == 20);
		uint64_t back = (days_from_civil_slow(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) *
				1000;
		CHECKF(back == ms / 1000 * 1000, "%" PRIu64 " -> %s -> %" PRIu64, ms, out, back);
	}
}

TEST(test_status_hash_is_fnv1a_64)
{
	CHECK(fsm_status_hash("", 0) == UINT64_C(0xcbf29ce484222325));
	CHECK(fsm_status_hash("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	CHECK(fsm_status_hash("foobar", 6) == UINT64_C(0x85944171f73967e8));
	CHECK(fsm_status_hash("a\0b", 3) != fsm_status_hash("a\0c", 3)); /* bytes, not a string */
}

/* ---- the state dump ---- */

struct fixture {
	struct fsm_state s;
	struct fsm_pod *pods[2];
	struct fsm_image images[2];
	struct fsm_label labels[1];
	struct fsm_taint taints[1];
	char node_config[64];
	char pod_json[2][64];
	struct fsm_object objects[1];
};

static void fixture_build(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	struct fsm_state *s = &f->s;
	s->last_seq = 42;
	s->last_ts_ms = 123456;
	s->last_wall_ms = T0_MS;
	snprintf(f->node_config, sizeof(f->node_config), "{\"node_name\":\"node-1\"}");
	s->node_config = f->node_config;
	s->node_config_len = strlen(f->node_config);
	s->kind_counts[FSM_EV_API_POD] = 3;
	f->objects[0] = (struct fsm_object){.secret = true, .namespace_ = "default", .name = "creds",
					    .hash = "00000000000000d1"};
	s->objects = f->objects;
	s->nobjects = 1;
	s->cfg.node_name = "node-1";
	s->cfg.host_ip = "192.168.1.10";
	s->cfg.max_pods = 110;
	s->cfg.alloc_cpu_milli = 4000;
	s->cfg.alloc_memory_bytes = 8LL << 30;
	s->cfg.alloc_ephemeral_bytes = -1;
	f->labels[0] = (struct fsm_label){"kubernetes.io/os", "linux"};
	s->cfg.labels = f->labels;
	s->cfg.nlabels = 1;
	f->taints[0] = (struct fsm_taint){"dedicated", "infra", "NoSchedule"};
	s->cfg.taints = f->taints;
	s->cfg.ntaints = 1;
	snprintf(s->cfg.thresholds[0].signal, sizeof(s->cfg.thresholds[0].signal),
		 "memory.available");
	s->cfg.thresholds[0].quantity = 100 << 20;
	s->cfg.nthresholds = 1;
	s->cfg.backoff_initial_ms = 10000;
	s->cfg.backoff_max_ms = 300000;
	s->cfg.sync_retry_ms = 10000;
	snprintf(s->pressure[0].signal, sizeof(s->pressure[0].signal), "memory.available");
	s->pressure[0].value = 1 << 30;
	s->pressure[0].capacity = 8LL << 30;
	s->npressure = 1;
	f->images[0] = (struct fsm_image){"registry.local/busybox:1.36", "sha256:feed"};
	s->images = f->images;
	s->nimages = 1;

	static const char *const names[] = {"init:setup", "web", NULL};
	for (int k = 0; k < 2; k++) {
		struct fsm_pod *p = pod_new(FSM_RESTART_ALWAYS, names);
		p->spec.uid = k == 0 ? "uid-a" : "uid-b";
		snprintf(f->pod_json[k], sizeof(f->pod_json[k]), "{\"metadata\":{\"uid\":\"%s\"}}",
			 p->spec.uid);
		p->spec.json = f->pod_json[k];
		p->spec.json_len = strlen(f->pod_json[k]);
		set_state(p, 0, "succeeded");
		set_state(p, 1, "started");
		snprintf(p->ctrs[1].id, sizeof(p->ctrs[1].id), "c1");
		p->sb_stage = FSM_SB_READY;
		snprintf(p->sb_ip, sizeof(p->sb_ip), "10.88.0.%d", 20 + k);
		snprintf(p->phase, sizeof(p->phase), "%s", fsm_pod_phase(p, false));
		fsm_pod_conditions_update(p, T0_MS);
		f->pods[k] = p;
	}
	static const char *const types[] = {"example.com/lb"};
	static const bool truth[] = {false};
	set_gates(f->pods[1], 1, types, truth);
	s->pods = f->pods;
	s->npods = 2;
}

static void fixture_free(struct fixture *f)
{
	for (int k = 0; k < 2; k++)
		pod_free(f->pods[k]);
}

/* Changes field number k of the fixture (of the state, a pod, a container);
 * false when k is past the last. Each field the state holds has a row. */
static bool mutate(struct fixture *f, int k)
{
	struct fsm_state *s = &f->s;
	struct fsm_pod *p = f->pods[1];
	struct fsm_ctr *c = &p->ctrs[1];
	int n = 0;
	/* clang-format off */
#define M(stmt)                                                                                    \
	if (k == n++) {                                                                            \
		stmt;                                                                              \
		return true;                                                                       \
	}
	/* the state */
	M(s->last_seq++) M(s->last_ts_ms++) M(s->last_wall_ms++) M(f->node_config[2] = 'N')
	M(s->node_config = NULL) M(s->kind_counts[FSM_EV_CLOCK]++) M(s->npressure = 0)
	M(s->pressure[0].value++) M(s->pressure[0].capacity++) M(s->pressure[0].signal[0] = 'M')
	M(s->images[0].ref = "sha256:other") M(s->images[0].name = "other") M(s->nimages = 0)
	M(s->npods = 1)
	M(s->objects[0].secret = false) M(s->objects[0].namespace_ = "other")
	M(s->objects[0].name = "other") M(s->objects[0].hash[0] = 'f') M(s->nobjects = 0)
	/* the node configuration */
	M(s->cfg.node_name = "node-2") M(s->cfg.host_ip = NULL) M(s->cfg.host_ip = "")
	M(s->cfg.max_pods++) M(s->cfg.alloc_cpu_milli++) M(s->cfg.alloc_memory_bytes++)
	M(s->cfg.alloc_ephemeral_bytes++) M(f->labels[0].value = "windows") M(s->cfg.nlabels = 0)
	M(f->taints[0].effect = "NoExecute") M(s->cfg.ntaints = 0)
	M(s->cfg.thresholds[0].quantity = -1) M(s->cfg.thresholds[0].percent = 10)
	M(s->cfg.thresholds[0].signal[0] = 'n') M(s->cfg.nthresholds = 0)
	M(s->cfg.backoff_initial_ms++) M(s->cfg.backoff_max_ms++) M(s->cfg.sync_retry_ms++)
	M(s->cfg.api = true) M(s->cfg.lease_duration_s++) M(s->cfg.status_report_ms++)
	M(s->cfg.cap_cpu_milli++) M(s->cfg.cap_memory_bytes++) M(s->cfg.cap_ephemeral_bytes++)
	M(s->cfg.cap_hugepages_bytes++) M(s->cfg.reserved_cpu_milli++)
	M(s->cfg.reserved_memory_bytes++) M(s->cfg.reserved_ephemeral_bytes++)
	M(s->node.registered = true) M(s->node.registering = true) M(s->node.uid[0] = 'u')
	M(s->node.register_n++) M(s->node.lease_n++) M(s->node.status_hash++)
	M(s->node.status_version++) M(s->node.status_acked++) M(s->node.status_sent_ts_ms++)
	M(s->node.cond[FSM_NODE_PID] = true) M(s->node.cond_transition_wall_ms[FSM_NODE_READY]++)
	M(s->node.runtime_fail_ts_ms++) M(s->node.runtime_down = true)
	M(s->node.runtime_error[0] = 'r') M(s->node.network_error[0] = 'n') M(s->node.nevents++)
	/* a pod */
	M(p->spec.name = "other") M(p->spec.namespace_ = "kube-system") M(p->source = "/etc/m.yaml")
	M(p->spec.resource_version = "7") M(p->spec.generation++) M(p->spec.is_static = true)
	M(p->spec.node_name = "node-1") M(p->spec.restart_policy = FSM_RESTART_NEVER)
	M(p->spec.grace_s = 5) M(p->spec.active_deadline_s = 60) M(p->spec.host_network = true)
	M(p->spec.priority = 1000) M(p->spec.deletion_wall_ms = T0_MS)
	M(p->spec.deletion_grace_s = -1) M(p->spec.qos = FSM_QOS_GUARANTEED)
	M(p->spec.cpu_request_milli = 100) M(p->spec.memory_request_bytes = 1)
	M(p->spec.ephemeral_request_bytes = 1) M(p->spec.ninit = 0)
	M(p->spec.containers[1].image = "other:1") M(p->spec.containers[1].spec_hash = 9)
	M(p->spec.containers[1].pull_policy = FSM_PULL_ALWAYS) M(p->spec.gate_true[0] = true)
	M(p->spec.readiness_gates[0] = "example.com/other") M(p->spec.ngates = 0)
	M(f->pod_json[1][3] = 'M') M(p->spec.json_len--)
	M(p->stage = FSM_PS_TERMINATING) M(p->phase[0] = 'X') M(p->reason[0] = 'R')
	M(p->message[0] = 'M') M(p->admitted_ts_ms++) M(p->start_wall_ms++)
	M(p->sb_stage = FSM_SB_NOTREADY) M(p->sb_attempt++) M(p->sb_id[0] = 's')
	M(p->sb_ip[0] = '9') M(p->sb_ever_created = true) M(p->sb_retry_after_ts_ms++)
	M(p->deleting = true) M(p->remove_when_stopped = true) M(p->kill_deadline_ts_ms++)
	M(p->kill_grace_s = 30) M(p->terminated_wall_ms++) M(p->api_phase[0] = 'R')
	M(p->conds[FSM_COND_READY].status ^= 1)
	M(p->conds[FSM_COND_INITIALIZED].transition_wall_ms++) M(p->status_hash++)
	M(p->status_version++) M(p->usage_memory_bytes++) M(p->usage_disk_bytes++)
	M(p->status_acked++) M(p->mirror_uid[0] = 'm') M(p->mirror_n++) M(p->mirror_creating = true)
	M(p->api_delete_sent = true) M(p->nevents++)
	M(p->vol_n++) M(p->vol_ready = true) M(p->vol_busy = true) M(p->vol_again = true)
	M(p->vol_down = FSM_VOL_DOWN_BUSY) M(p->vol_retry_ts_ms++) M(p->vol_backoff_ms++)
	M(p->vol_token_ts_ms++) M(p->spec.service_account = "robot")
	M(p->usage_inodes++) M(p->usage_pids++)
	M(p->nstale = 1)
	M((p->nstale = 1, p->stale[0].id[0] = 'x')) M((p->nstale = 1, p->stale[0].ctr[0] = 'x'))
	M((p->nstale = 1, p->stale[0].attempt++)) M((p->nstale = 1, p->stale[0].live = true))
	M((p->nstale = 1, p->stale[0].step = FSM_STALE_REMOVING))
	M((p->nstale = 1, p->stale[0].retry_ts_ms++))
	/* a container: every field */
	M(c->stage = FSM_CS_KILLING) M(c->attempt++) M(c->ever_started = false) M(c->id[0] = 'd')
	M(c->image_ref[0] = 'i') M(c->spec_hash++) M(c->started_wall_ms++)
	M(c->waiting_reason[0] = 'W') M(c->waiting_message[0] = 'M') M(c->term.set = true)
	M(c->term.exit_code = 2) M(c->term.reason[0] = 'R') M(c->term.message[0] = 'M')
	M(c->term.started_wall_ms++) M(c->term.finished_wall_ms++) M(c->term.id[0] = 'x')
	M(c->last_term.set = true) M(c->last_term.exit_code = 2) M(c->last_term.reason[0] = 'R')
	M(c->last_term.message[0] = 'M') M(c->last_term.started_wall_ms++)
	M(c->last_term.finished_wall_ms++) M(c->last_term.id[0] = 'x') M(c->exited_ts_ms++)
	M(c->backoff_ms++) M(c->backoff_updated_ts_ms++) M(c->backoff_armed = true)
	M(c->retry_after_ts_ms++) M(c->pull_backoff_ms++) M(c->pull_backoff_updated_ts_ms++)
	M(c->pulls++) M(c->image_ready = true) M(c->kill_reason = FSM_KILL_POD) M(c->kill_deadline_ts_ms++)
	M(c->prestop_done = true) M(c->poststart_done = true) M(c->started = false)
	M(c->ready = false) M(c->liveness.active = true) M(c->liveness.successes++)
	M(c->liveness.failures++) M(c->readiness.active = true) M(c->readiness.successes++)
	M(c->readiness.failures++) M(c->startup.active = true) M(c->startup.successes++)
	M(c->startup.failures++)
#undef M
	/* clang-format on */
	return false;
}

static bool dump_eq(const struct fsm_buf *a, const struct fsm_buf *b)
{
	return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

TEST(test_dump_is_deterministic_and_parses)
{
	struct fixture f1, f2;
	fixture_build(&f1);
	fixture_build(&f2);
	struct fsm_buf a = FSM_BUF_INIT, b = FSM_BUF_INIT, c = FSM_BUF_INIT;
	REQUIRE(fsm_state_dump(&f1.s, &a) == 0);
	REQUIRE(fsm_state_dump(&f1.s, &b) == 0);
	REQUIRE(fsm_state_dump(&f2.s, &c) == 0); /* an equal state built apart */
	CHECK(dump_eq(&a, &b));
	CHECK(dump_eq(&a, &c));
	struct json_object *j = parse(&a);
	REQUIRE(j != NULL);
	CHECK_EQ_INT(jint(j, "last_seq"), 42);
	CHECK_EQ_STR(jstr(j, "pods.0.uid"), "uid-a");
	CHECK_EQ_STR(jstr(j, "pods.1.uid"), "uid-b");
	CHECK_EQ_STR(jstr(j, "pods.1.ctrs.1.name"), "web");
	CHECK_EQ_STR(jstr(j, "pods.1.ctrs.1.stage"), "running");
	CHECK_EQ_STR(jstr(j, "pods.1.sandbox.stage"), "ready");
	CHECK_EQ_STR(jstr(j, "pods.1.spec.restart_policy"), "Always");
	CHECK_EQ_INT(jint(j, "pods.1.spec.json.len"), (long long)strlen(f1.pod_json[1]));
	CHECK(jstr(j, "pods.1.spec.json.fnv") != NULL && strlen(jstr(j, "pods.1.spec.json.fnv")) == 16);
	CHECK(strstr(a.ptr, "metadata") == NULL); /* the pod JSON itself is not copied */
	CHECK_EQ_INT(json_object_array_length(jpath(j, "kind_counts")), FSM_EV_KIND_COUNT);
	json_object_put(j);
	fsm_buf_free(&a);
	fsm_buf_free(&b);
	fsm_buf_free(&c);
	fixture_free(&f1);
	fixture_free(&f2);
}

TEST(test_dump_changes_with_every_field)
{
	struct fixture f;
	fixture_build(&f);
	struct fsm_buf base = FSM_BUF_INIT, got = FSM_BUF_INIT;
	REQUIRE(fsm_state_dump(&f.s, &base) == 0);
	fixture_free(&f);
	int k = 0;
	for (;; k++) {
		fixture_build(&f);
		bool more = mutate(&f, k);
		if (more) {
			fsm_buf_reset(&got);
			REQUIRE(fsm_state_dump(&f.s, &got) == 0);
			CHECKF(!dump_eq(&base, &got), "mutation %d leaves the dump unchanged", k);
			struct json_object *j = parse(&got);
			CHECKF(j != NULL, "mutation %d: the dump does not parse", k);
			json_object_put(j);
		}
		fixture_free(&f);
		if (!more)
			break;
	}
	CHECK(k > 120);
	fsm_buf_free(&base);
	fsm_buf_free(&got);
}

/* Tripwire: the structs the dump walks, at the sizes it was written for. A new
 * field must be added to fsm_state_dump (and a row to mutate() above); then
 * update the size here. */
TEST(test_dump_knows_every_field_of_the_state_structs)
{
	CHECKF(sizeof(struct fsm_ctr) == 2440, "struct fsm_ctr is %zu bytes",
	       sizeof(struct fsm_ctr));
	CHECKF(sizeof(struct fsm_terminated) == 728, "struct fsm_terminated is %zu bytes",
	       sizeof(struct fsm_terminated));
	CHECKF(sizeof(struct fsm_pod) == 3136, "struct fsm_pod is %zu bytes",
	       sizeof(struct fsm_pod));
	CHECKF(sizeof(struct fsm_pod_spec) == 280, "struct fsm_pod_spec is %zu bytes",
	       sizeof(struct fsm_pod_spec));
	CHECKF(sizeof(struct fsm_node_config) == 576, "struct fsm_node_config is %zu bytes",
	       sizeof(struct fsm_node_config));
	CHECKF(sizeof(struct fsm_state) == 2384, "struct fsm_state is %zu bytes",
	       sizeof(struct fsm_state));
}

TEST_MAIN("fsm/status", T(test_phase_restart_always_ported),
	  T(test_phase_restart_always_init_containers_ported),
	  T(test_phase_restart_always_restartable_init_containers_ported),
	  T(test_phase_restart_always_and_pod_has_run_ported), T(test_phase_restart_never_ported),
	  T(test_phase_restart_never_init_containers_ported),
	  T(test_phase_restart_never_restartable_init_containers_ported),
	  T(test_phase_restart_on_failure_ported),
	  T(test_phase_derives_pod_has_initialized_from_app_containers),
	  T(test_phase_static_pod_is_not_made_terminal_by_the_worker),
	  T(test_phase_maps_every_container_stage),
	  T(test_conditions_all_true_for_a_running_ready_pod),
	  T(test_conditions_list_unready_and_incomplete_containers_by_name),
	  T(test_conditions_initialized_stays_true_while_a_sidecar_restarts),
	  T(test_conditions_sidecar_initializes_once_started_not_once_ready),
	  T(test_conditions_of_a_succeeded_pod_say_pod_completed),
	  T(test_conditions_of_a_failed_pod_say_pod_failed),
	  T(test_conditions_readiness_gates_hold_ready_back),
	  T(test_conditions_ready_to_start_needs_a_ready_sandbox_with_an_ip),
	  T(test_conditions_transition_times_move_only_on_flips),
	  T(test_conditions_reason_is_not_printed_against_a_stale_status),
	  T(test_status_json_of_a_running_ready_pod_is_exact),
	  T(test_status_json_pending_container_shows_container_creating),
	  T(test_status_json_init_pending_pod_shows_pod_initializing),
	  T(test_status_json_crash_looping_container_shows_back_off_and_last_state),
	  T(test_status_json_succeeded_pod_reports_completed_containers),
	  T(test_status_json_host_network_pod_has_the_host_ip),
	  T(test_status_json_lists_apps_by_name_and_init_containers_in_spec_order),
	  T(test_status_json_pod_reason_message_and_qos),
	  T(test_status_json_started_and_ready_follow_the_probes),
	  T(test_status_json_escapes_what_it_copies),
	  T(test_status_json_of_a_rejected_pod_is_what_reject_pod_sends),
	  T(test_rfc3339_known_instants),
	  T(test_rfc3339_round_trips_random_instants), T(test_status_hash_is_fnv1a_64),
	  T(test_dump_is_deterministic_and_parses), T(test_dump_changes_with_every_field),
	  T(test_dump_knows_every_field_of_the_state_structs))
