/*
 * exec_test.c — the CRI executor (src/effects/exec.c) against the real containerd
 * that scripts/runtime.sh starts, with the images of scripts/images.sh. When that
 * runtime cannot be had, each test fails with "runtime not available: <why>".
 *
 * The commands are the fold's own: the real fold (src/fsm) is given a node.config
 * and a Pod, every event the executor sends is folded back in as the loop would
 * (after a round trip through the replay codec, which checks that each event is a
 * valid journal line), and the test dispatches the commands the fold issues, by
 * id. A few commands the fold does not issue here (a second container that exits
 * by itself, a failing hook, exec_sync) are written by hand in the fold's shapes.
 *
 * The executor runs on the daemon's machinery: an io_uring reactor, the curl glue,
 * one CRI client. The sink notes whether it is ever called from inside
 * fx_exec_dispatch (it must not be).
 *
 * Everything created carries the namespace ledgerlet-exec-test and is removed at
 * the end (and at the start, should a previous run have died).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "effects/cri.h"
#include "effects/exec.h"
#include "fsm/arena.h"
#include "fsm/buf.h"
#include "fsm/event_json.h"
#include "fsm/fsm.h"
#include "io/curl_glue.h"
#include "io/reactor.h"
#include "test.h"

#define SUITE      "effects/exec"
#define NAMESPACE  "ledgerlet-exec-test"
#define POD_NAME   "exec-test"
#define LOG_ROOT   "/var/log/pods"
#define EVENTS_MAX 4096

#include "effects/runtime_env.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the runtime (runtime_env.h, as tests/unit/effects/cri_test.c has it) ------- */

static void remove_leftovers(void);

/* Held shared while we use the runtime; a client that answers Version; leftovers of a
 * run that died removed; the images noted. */
static void rt_setup(void)
{
	rt_lock_shared(-1);
	if (!rt_connect(true))
		return;
	remove_leftovers();
	rt_note_images();
}

static bool runtime_up(void)
{
	return rt_up(rt_setup);
}

/* How many sandboxes carry label key=value. */
static size_t count_sandboxes(const char *key, const char *value)
{
	struct cri_reply r;
	const Runtime__V1__ListPodSandboxResponse *l = rt_list_sandboxes(key, value, 10000, &r);
	size_t n = l != NULL ? l->n_items : 0;
	cri_reply_clear(&r);
	return n;
}

static size_t count_containers(const char *key, const char *value)
{
	Runtime__V1__ContainerFilter__LabelSelectorEntry sel =
	        RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	sel.key = (char *)key;
	sel.value = (char *)value;
	Runtime__V1__ContainerFilter__LabelSelectorEntry *sels[] = {&sel};
	Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	filter.n_label_selector = 1;
	filter.label_selector = sels;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	req.filter = &filter;
	struct cri_reply r;
	cri_call_sync(rt.client, CRI_LIST_CONTAINERS, &req.base, 10000, &r);
	const Runtime__V1__ListContainersResponse *l = (const void *)r.response;
	size_t n = l != NULL ? l->n_containers : 0;
	cri_reply_clear(&r);
	return n;
}

/* Sandboxes of this suite's namespace (their containers go with them), and logs. */
static void remove_leftovers(void)
{
	struct cri_reply r;
	const Runtime__V1__ListPodSandboxResponse *l =
	        rt_list_sandboxes(FX_LABEL_POD_NAMESPACE, NAMESPACE, 10000, &r);
	for (size_t i = 0; l != NULL && i < l->n_items; i++) {
		struct cri_reply r2;
		Runtime__V1__RemovePodSandboxRequest rm =
		        RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		rm.pod_sandbox_id = l->items[i]->id;
		cri_call_sync(rt.client, CRI_REMOVE_POD_SANDBOX, &rm.base, 30000, &r2);
		cri_reply_clear(&r2);
		printf("# exec removed a leftover sandbox %s\n", l->items[i]->id);
	}
	cri_reply_clear(&r);
	/* Containers of ours outside any sandbox of the namespace (none expected). */
	Runtime__V1__ContainerFilter__LabelSelectorEntry csel =
	        RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	csel.key = FX_LABEL_POD_NAMESPACE;
	csel.value = NAMESPACE;
	Runtime__V1__ContainerFilter__LabelSelectorEntry *csels[] = {&csel};
	Runtime__V1__ContainerFilter cfilter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	cfilter.n_label_selector = 1;
	cfilter.label_selector = csels;
	Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	lc.filter = &cfilter;
	cri_call_sync(rt.client, CRI_LIST_CONTAINERS, &lc.base, 10000, &r);
	const Runtime__V1__ListContainersResponse *cl = (const void *)r.response;
	for (size_t i = 0; cl != NULL && i < cl->n_containers; i++) {
		struct cri_reply r2;
		Runtime__V1__RemoveContainerRequest rm =
		        RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		rm.container_id = cl->containers[i]->id;
		cri_call_sync(rt.client, CRI_REMOVE_CONTAINER, &rm.base, 30000, &r2);
		cri_reply_clear(&r2);
	}
	cri_reply_clear(&r);
	if (system("rm -rf " LOG_ROOT "/" NAMESPACE "_*") != 0)
		printf("# exec: could not remove old logs\n");
}

/* ---- the harness: reactor, glue, client, executor, sink, fold ------------------- */

static struct {
	bool up;
	struct io_reactor *r;
	CURLM *multi;
	struct io_curl *glue;
	struct cri_client *cri;
	struct fx_exec *x;
	/* what the sink got, as replay lines */
	char *events[EVENTS_MAX];
	size_t n_events;
	bool in_dispatch;
	unsigned sink_in_dispatch;
	unsigned sink_bad_json;
	/* the fold */
	struct fsm_state st;
	struct fsm_out out;
	uint64_t seq;
	uint64_t t0_ms;
	char *cmds[EVENTS_MAX]; /* the fold's commands, as --commands lines */
	size_t n_cmds;
	struct fsm_arena arena;
	char uid[80];
	char image_ref[200];
	char sandbox_id[100];
	char sandbox_ip[64];
	char app_id[100];
	char quitter_id[100];
} h;

static void fold_event(const struct fsm_event *ev0)
{
	struct fsm_event ev = *ev0;
	ev.seq = ++h.seq;
	ev.ts_ms = mono_ms() - h.t0_ms;
	if (ev.ts_ms < h.st.last_ts_ms)
		ev.ts_ms = h.st.last_ts_ms;
	fsm_out_reset(&h.out);
	int rc = fsm_fold(&h.st, &ev, &h.out);
	CHECKF(rc == FSM_OK, "fold: %s", fsm_strerror(rc));
	for (size_t i = 0; i < h.out.n && h.n_cmds < EVENTS_MAX; i++) {
		struct fsm_buf b = FSM_BUF_INIT;
		if (fsm_command_to_json(&h.out.cmds[i], ev.seq, ev.ts_ms, &b) == FSM_JSON_OK)
			h.cmds[h.n_cmds++] = b.ptr;
		else
			fsm_buf_free(&b);
	}
}

/* The loop's part: journal (here: keep the line) and fold. */
static void sink(void *arg, const struct fsm_event *ev)
{
	(void)arg;
	if (h.in_dispatch)
		h.sink_in_dispatch++;
	struct fsm_buf b = FSM_BUF_INIT;
	if (fsm_event_to_json(ev, &b) != FSM_JSON_OK) {
		h.sink_bad_json++;
		fsm_buf_free(&b);
		return;
	}
	if (h.n_events < EVENTS_MAX)
		h.events[h.n_events++] = b.ptr;
	else
		fsm_buf_free(&b);
	fold_event(ev);
}

static void on_done(void *arg, CURLMsg *msg)
{
	(void)arg;
	if (cri_client_owns(h.cri, msg->easy_handle))
		cri_client_on_done(h.cri, msg);
}

static int fold_json(const char *json)
{
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	fsm_arena_reset(&h.arena);
	if (fsm_event_from_json(json, strlen(json), &ev, &h.arena, err, sizeof(err)) != 0) {
		test_fail(__FILE__, __LINE__, "bad event line: %s", err);
		return -1;
	}
	fold_event(&ev);
	return 0;
}

static struct fx_exec_config exec_config(void)
{
	const char *parent = getenv("LEDGERLET_TEST_CGROUP_PARENT");
	return (struct fx_exec_config){
	        .reactor = h.r,
	        .log_root = LOG_ROOT,
	        .cgroup_parent = parent != NULL ? parent : "/kubepods",
	};
}

static bool harness_up(void)
{
	if (!runtime_up())
		return false;
	if (h.up)
		return true;
	h.t0_ms = mono_ms() - 1000;
	fsm_state_init(&h.st);
	if (io_reactor_new(&h.r, 0) != 0) {
		test_fail(__FILE__, __LINE__, "io_reactor_new");
		return false;
	}
	h.multi = curl_multi_init();
	if (cri_client_new(&h.cri, rt.endpoint, h.multi) != 0 ||
	    io_curl_attach(h.r, h.multi, on_done, NULL, &h.glue) != 0) {
		test_fail(__FILE__, __LINE__, "client or glue");
		return false;
	}
	struct fx_exec_config cfg = exec_config();
	int rc = fx_exec_new(&h.x, h.cri, &cfg, (struct fx_sink){.event = sink});
	if (rc != 0) {
		test_fail(__FILE__, __LINE__, "fx_exec_new: %d", rc);
		return false;
	}
	snprintf(h.uid, sizeof(h.uid), "exec-test-%d-%" PRIu64, (int)getpid(), mono_ms());
	h.up = true;
	return true;
}

/* Runs the loop until pred holds or ms pass; whether it held. */
static bool run_until(bool (*pred)(const void *), const void *arg, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	while (!pred(arg)) {
		if (mono_ms() >= end)
			return false;
		io_reactor_run_once(h.r, 50);
	}
	return true;
}

static void run_for(uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	while (mono_ms() < end)
		io_reactor_run_once(h.r, 20);
}

/* The event at index i, decoded (strings valid until the next get). */
static struct fsm_arena ev_arena;
static bool get_event(size_t i, struct fsm_event *ev)
{
	char err[FSM_JSON_ERR_BYTES];
	fsm_arena_reset(&ev_arena);
	return fsm_event_from_json(h.events[i], strlen(h.events[i]), ev, &ev_arena, err,
	                           sizeof(err)) == 0;
}

/* Index of the first effect for cmd at or after from, or -1. */
static long effect_at(const char *cmd, size_t from)
{
	for (size_t i = from; i < h.n_events; i++) {
		struct fsm_event ev;
		if (get_event(i, &ev) && ev.kind == FSM_EV_EFFECT &&
		    strcmp(ev.u.effect.cmd, cmd) == 0)
			return (long)i;
	}
	return -1;
}

struct wait_effect {
	const char *cmd;
	size_t from;
};

static bool effect_arrived(const void *arg)
{
	const struct wait_effect *w = arg;
	return effect_at(w->cmd, w->from) >= 0;
}

/* Copies a fold command (by id) into c, strings in arena a. */
static bool fold_cmd(const char *id, struct fsm_command *c, struct fsm_arena *a)
{
	for (size_t i = h.n_cmds; i-- > 0;) {
		uint64_t seq, ts;
		char err[FSM_JSON_ERR_BYTES];
		struct fsm_command k;
		if (fsm_command_from_json(h.cmds[i], strlen(h.cmds[i]), &k, &seq, &ts, a, err,
		                          sizeof(err)) != 0)
			continue;
		if (strcmp(k.id, id) == 0) {
			*c = k;
			return true;
		}
	}
	return false;
}

/* A command written by hand, in the fold's --commands form. */
static bool hand_cmd(const char *json, struct fsm_command *c, struct fsm_arena *a)
{
	uint64_t seq, ts;
	char err[FSM_JSON_ERR_BYTES];
	if (fsm_command_from_json(json, strlen(json), c, &seq, &ts, a, err, sizeof(err)) != 0) {
		test_fail(__FILE__, __LINE__, "bad command line: %s", err);
		return false;
	}
	return true;
}

/*
 * Dispatches c and runs the loop until its effect arrives (or ms pass). Returns
 * the effect's index (-1: none), with from_out the first event index after dispatch.
 */
static long dispatch_wait(const struct fsm_command *c, uint64_t ms, size_t *from_out,
                          uint64_t *took_ms)
{
	size_t from = h.n_events;
	uint64_t t0 = mono_ms();
	h.in_dispatch = true;
	int rc = fx_exec_dispatch(h.x, c);
	h.in_dispatch = false;
	CHECKF(rc == 0, "dispatch %s: %d", c->id, rc);
	CHECKF(h.n_events == from, "dispatch %s reported from inside dispatch", c->id);
	if (rc != 0)
		return -1;
	struct wait_effect w = {c->id, from};
	bool got = run_until(effect_arrived, &w, ms);
	if (took_ms != NULL)
		*took_ms = mono_ms() - t0;
	if (from_out != NULL)
		*from_out = from;
	CHECKF(got, "no effect for %s within %" PRIu64 " ms", c->id, ms);
	return got ? effect_at(c->id, from) : -1;
}

static const char *cmd_name(const char *verb, const char *tail, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s%s", verb, h.uid, tail);
	return buf;
}

/* ---- the scenario ----------------------------------------------------------------- */

static const char *node_config_line =
        "{\"ts_ms\":0,\"kind\":\"node.config\",\"config\":{\"nodeName\":\"n1\","
        "\"hostIP\":\"10.0.0.1\",\"allocatable\":{\"cpu\":\"4\",\"memory\":\"8Gi\","
        "\"ephemeral-storage\":\"100Gi\",\"pods\":\"110\"}}}";

static void pod_line(char *out, size_t n, const char *type)
{
	snprintf(out, n,
	         "{\"ts_ms\":0,\"kind\":\"api.pod\",\"type\":\"%s\",\"object\":{\"apiVersion\":"
	         "\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" POD_NAME "\",\"namespace\":"
	         "\"" NAMESPACE "\",\"uid\":\"%s\",\"resourceVersion\":\"1\"%s},\"spec\":{"
	         "\"nodeName\":\"n1\",\"terminationGracePeriodSeconds\":1,\"containers\":[{"
	         "\"name\":\"app\",\"image\":\"%s\",\"imagePullPolicy\":\"Always\","
	         "\"command\":[\"/bin/sh\",\"-c\",\"echo hello; sleep 3600\"],"
	         "\"env\":[{\"name\":\"GREETING\",\"value\":\"hi there\"}],"
	         "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"64Mi\"}},"
	         "\"lifecycle\":{\"postStart\":{\"exec\":{\"command\":[\"/bin/sh\",\"-c\","
	         "\"echo started > /tmp/started\"]}}}}]}}}",
	         type, h.uid,
	         strcmp(type, "DELETED") == 0 ? ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
	                                        "\"deletionGracePeriodSeconds\":0"
	                                      : "",
	         rt.busybox);
}

TEST(fold_asks_for_a_sandbox)
{
	if (!harness_up())
		return;
	REQUIRE(fold_json(node_config_line) == 0);
	char line[4096];
	pod_line(line, sizeof(line), "ADDED");
	REQUIRE(fold_json(line) == 0);
	char id[200];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	CHECK(fold_cmd(cmd_name("sandbox", "/0", id, sizeof(id)), &c, &a));
	fsm_arena_free(&a);
}

TEST(run_sandbox_reports_ready_with_ip_before_its_effect)
{
	if (!harness_up())
		return;
	char id[200];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(fold_cmd(cmd_name("sandbox", "/0", id, sizeof(id)), &c, &a));
	size_t from;
	uint64_t took;
	long e = dispatch_wait(&c, 60000, &from, &took);
	printf("# exec run_sandbox: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	/* The observation comes first. */
	long sb = -1;
	for (size_t i = from; i < (size_t)e; i++)
		if (get_event(i, &ev) && ev.kind == FSM_EV_CRI_SANDBOX)
			sb = (long)i;
	CHECKF(sb >= 0, "no cri.sandbox before the effect");
	if (sb >= 0) {
		REQUIRE(get_event((size_t)sb, &ev));
		CHECK_EQ_STR(ev.u.cri_sandbox.pod_uid, h.uid);
		CHECK_EQ_INT(ev.u.cri_sandbox.attempt, 0);
		CHECK_EQ_INT(ev.u.cri_sandbox.state, FSM_SANDBOX_READY);
		CHECKF(strncmp(ev.u.cri_sandbox.ip, "10.244.77.", 10) == 0, "ip %s",
		       ev.u.cri_sandbox.ip);
		snprintf(h.sandbox_ip, sizeof(h.sandbox_ip), "%s", ev.u.cri_sandbox.ip);
		snprintf(h.sandbox_id, sizeof(h.sandbox_id), "%s", ev.u.cri_sandbox.id);
	}
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "run_sandbox failed: %s", ev.u.effect.error);
	CHECK_EQ_STR(ev.u.effect.result, h.sandbox_id);
	printf("# exec sandbox %.12s ip %s\n", h.sandbox_id, h.sandbox_ip);

	/* Its log directory is the kubelet's. */
	char dir[400];
	snprintf(dir, sizeof(dir), LOG_ROOT "/" NAMESPACE "_" POD_NAME "_%s", h.uid);
	struct stat st;
	CHECKF(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "%s missing", dir);

	/* A crash re-dispatches it: the same sandbox, not a second one. */
	e = dispatch_wait(&c, 60000, &from, &took);
	printf("# exec run_sandbox again: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	REQUIRE(get_event((size_t)e, &ev));
	CHECK(ev.u.effect.ok);
	CHECK_EQ_STR(ev.u.effect.result, h.sandbox_id);
	CHECK_EQ_INT(count_sandboxes(FX_LABEL_CMD, id), 1);
	CHECK_EQ_INT(count_sandboxes(FX_LABEL_POD_UID, h.uid), 1);
	CHECK_EQ_INT(h.sink_in_dispatch, 0);
	fsm_arena_free(&a);
}

TEST(pull_answers_with_the_image_ref)
{
	if (!harness_up())
		return;
	char id[200];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	/* imagePullPolicy Always: the fold pulls once the sandbox is there. */
	REQUIRE(fold_cmd(cmd_name("pull", "/app/1", id, sizeof(id)), &c, &a));
	CHECK_EQ_STR(c.image, rt.busybox);
	size_t from;
	uint64_t took;
	long e = dispatch_wait(&c, 120000, &from, &took);
	printf("# exec pull: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "pull failed: %s", ev.u.effect.error);
	CHECKF(strncmp(ev.u.effect.result, "sha256:", 7) == 0, "ref %s", ev.u.effect.result);
	snprintf(h.image_ref, sizeof(h.image_ref), "%s", ev.u.effect.result);
	bool seen = false;
	for (size_t i = from; i < (size_t)e; i++) {
		if (!get_event(i, &ev) || ev.kind != FSM_EV_CRI_IMAGE)
			continue;
		seen = true;
		CHECK(ev.u.cri_image.ok);
		CHECK_EQ_STR(ev.u.cri_image.image, rt.busybox);
		CHECK_EQ_STR(ev.u.cri_image.image_ref, h.image_ref);
	}
	CHECKF(seen, "no cri.image before the effect");
	fsm_arena_free(&a);
}

static bool file_has(const char *path, const char *what)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

struct file_wait {
	const char *path;
	const char *what;
};

static bool file_ready(const void *arg)
{
	const struct file_wait *w = arg;
	return file_has(w->path, w->what);
}

TEST(create_and_start_run_the_container_once)
{
	if (!harness_up())
		return;
	REQUIRE(h.image_ref[0] != '\0');
	char id[200];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(fold_cmd(cmd_name("create", "/app/0", id, sizeof(id)), &c, &a));
	uint64_t took;
	long e = dispatch_wait(&c, 60000, NULL, &took);
	printf("# exec create_container: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "create failed: %s", ev.u.effect.error);
	snprintf(h.app_id, sizeof(h.app_id), "%s", ev.u.effect.result);
	REQUIRE(h.app_id[0] != '\0');

	/* Again (a crash between dispatch and effect): the same container. */
	e = dispatch_wait(&c, 60000, NULL, &took);
	REQUIRE(e >= 0);
	REQUIRE(get_event((size_t)e, &ev));
	CHECK(ev.u.effect.ok);
	CHECK_EQ_STR(ev.u.effect.result, h.app_id);
	CHECK_EQ_INT(count_containers(FX_LABEL_CMD, id), 1);

	/* The fold starts it: running is reported before the effect. */
	REQUIRE(fold_cmd(cmd_name("start", "/app/0", id, sizeof(id)), &c, &a));
	size_t from;
	e = dispatch_wait(&c, 60000, &from, &took);
	printf("# exec start_container: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	bool running = false;
	for (size_t i = from; i < (size_t)e; i++) {
		if (!get_event(i, &ev) || ev.kind != FSM_EV_CRI_CONTAINER)
			continue;
		running = ev.u.cri_container.state == FSM_CONTAINER_RUNNING;
		CHECK_EQ_STR(ev.u.cri_container.id, h.app_id);
		CHECK_EQ_STR(ev.u.cri_container.pod_uid, h.uid);
		CHECK_EQ_STR(ev.u.cri_container.name, "app");
		CHECK_EQ_INT(ev.u.cri_container.attempt, 0);
		CHECK(ev.u.cri_container.started_at_ms > 1600000000000);
	}
	CHECKF(running, "no cri.container running before the effect");
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "start failed: %s", ev.u.effect.error);

	/* Its log, where the kubelet keeps it. */
	char log[400];
	snprintf(log, sizeof(log), LOG_ROOT "/" NAMESPACE "_" POD_NAME "_%s/app/0.log", h.uid);
	struct file_wait fw = {log, "hello"};
	CHECKF(run_until(file_ready, &fw, 5000), "%s has no hello", log);

	/* The postStart hook the fold asks for next runs in it. */
	REQUIRE(fold_cmd(cmd_name("poststart", "/app/0", id, sizeof(id)), &c, &a));
	CHECK(c.kind == FSM_CMD_HOOK_RUN);
	e = dispatch_wait(&c, 30000, NULL, &took);
	printf("# exec hook.run (exec): %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "hook failed: %s", ev.u.effect.error);
	fsm_arena_free(&a);
}

TEST(exec_sync_sees_env_limits_and_the_hook)
{
	if (!harness_up())
		return;
	REQUIRE(h.app_id[0] != '\0');
	char json[4096], id[200];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.exec_sync\",\"pod_uid\":\"%s\","
	         "\"container\":\"app\",\"timeout_s\":10,\"body\":{\"container_id\":\"%s\","
	         "\"command\":[\"/bin/sh\",\"-c\",\"cat /sys/fs/cgroup/memory/"
	         "memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
	         "/sys/fs/cgroup/cpu/cpu.shares /tmp/started; echo $GREETING; hostname\"]}}",
	         cmd_name("exec", "/app/0/1", id, sizeof(id)), h.uid, h.app_id);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(hand_cmd(json, &c, &a));
	uint64_t took;
	long e = dispatch_wait(&c, 30000, NULL, &took);
	printf("# exec exec_sync: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "exec_sync failed: %s %s", ev.u.effect.error, ev.u.effect.result);
	/* 64Mi, 500m of a 100 ms period, 512 shares (the request defaults to the limit),
	 * the hook's file, the env, and the pod's name as hostname. */
	CHECKF(strstr(ev.u.effect.result,
	              "\"stdout\":\"67108864\\n50000\\n512\\nstarted\\nhi there\\n" POD_NAME
	              "\\n\"") != NULL,
	       "result %s", ev.u.effect.result);
	CHECK(strstr(ev.u.effect.result, "\"exit_code\":0") != NULL);
	fsm_arena_free(&a);
}

TEST(failing_exec_hook_reports_the_kubelets_message)
{
	if (!harness_up())
		return;
	REQUIRE(h.app_id[0] != '\0');
	char json[4096], id[200];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"hook.run\",\"pod_uid\":\"%s\","
	         "\"container\":\"app\",\"body\":{\"hook\":\"postStart\",\"container_id\":\"%s\","
	         "\"pod_ip\":\"\",\"spec\":{\"exec\":{\"command\":[\"/bin/sh\",\"-c\","
	         "\"echo oops; exit 2\"]}}}}",
	         cmd_name("poststart", "/app/9", id, sizeof(id)), h.uid, h.app_id);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(hand_cmd(json, &c, &a));
	long e = dispatch_wait(&c, 30000, NULL, NULL);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECK(!ev.u.effect.ok);
	CHECK_EQ_INT(ev.u.effect.error_class, FSM_ERR_PERMANENT);
	char want[800];
	snprintf(want, sizeof(want),
	         "Exec lifecycle hook ([/bin/sh -c echo oops; exit 2]) for Container \"app\" in "
	         "Pod \"" POD_NAME "_" NAMESPACE "(%s)\" failed - error: command '/bin/sh -c "
	         "echo oops; exit 2' exited with 2: , message: \"oops\\n\"",
	         h.uid);
	CHECK_EQ_STR(ev.u.effect.error, want);
	fsm_arena_free(&a);
}

/* cri.sandbox and cri.container events about this suite's pod from index from on
 * (other suites may share the runtime: their objects are not counted). */
static size_t ours_since(size_t from)
{
	size_t n = 0;
	for (size_t i = from; i < h.n_events; i++) {
		struct fsm_event ev;
		if (!get_event(i, &ev))
			continue;
		if ((ev.kind == FSM_EV_CRI_SANDBOX &&
		     strcmp(ev.u.cri_sandbox.pod_uid, h.uid) == 0) ||
		    (ev.kind == FSM_EV_CRI_CONTAINER &&
		     strcmp(ev.u.cri_container.pod_uid, h.uid) == 0))
			n++;
	}
	return n;
}

struct relist_wait {
	struct fx_exec *x;
	uint64_t relists;
};

static bool relist_done(const void *arg)
{
	const struct relist_wait *w = arg;
	struct fx_exec_stats s;
	fx_exec_stats(w->x, &s);
	return s.relists > w->relists;
}

/* Runs one relist of x; the index of its first event. */
static size_t relist_once(struct fx_exec *x, uint64_t *took_ms)
{
	struct fx_exec_stats s;
	fx_exec_stats(x, &s);
	struct relist_wait w = {x, s.relists};
	size_t from = h.n_events;
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(fx_exec_relist(x), 0);
	CHECK_EQ_INT(fx_exec_relist(x), -EBUSY); /* one at a time */
	CHECK_EQ_INT(h.n_events, from);
	CHECK(run_until(relist_done, &w, 30000));
	if (took_ms != NULL)
		*took_ms = mono_ms() - t0;
	fx_exec_stats(x, &s);
	CHECKF(s.relist_last_status == CRI_GRPC_OK, "relist: %s",
	       cri_grpc_status_name(s.relist_last_status));
	return from;
}

TEST(relist_reports_only_what_changed)
{
	if (!harness_up())
		return;
	REQUIRE(h.app_id[0] != '\0');
	/* The executor that ran the commands has reported all it made. */
	uint64_t took;
	size_t from = relist_once(h.x, &took);
	printf("# exec relist (nothing new): %" PRIu64 " ms\n", took);
	for (size_t i = from; i < h.n_events; i++) {
		struct fsm_event ev;
		if (get_event(i, &ev) && ((ev.kind == FSM_EV_CRI_SANDBOX &&
		                           strcmp(ev.u.cri_sandbox.pod_uid, h.uid) == 0) ||
		                          (ev.kind == FSM_EV_CRI_CONTAINER &&
		                           strcmp(ev.u.cri_container.pod_uid, h.uid) == 0)))
			test_fail(__FILE__, __LINE__, "relist repeated: %s", h.events[i]);
	}

	/* A fresh executor (a restart) reports everything once, then nothing. */
	struct fx_exec *fresh = NULL;
	struct fx_exec_config cfg = exec_config();
	REQUIRE(fx_exec_new(&fresh, h.cri, &cfg, (struct fx_sink){.event = sink}) == 0);
	from = relist_once(fresh, &took);
	printf("# exec relist (fresh, %zu events): %" PRIu64 " ms\n", h.n_events - from, took);
	bool sandbox = false, app = false;
	for (size_t i = from; i < h.n_events; i++) {
		struct fsm_event ev;
		if (!get_event(i, &ev))
			continue;
		if (ev.kind == FSM_EV_CRI_SANDBOX &&
		    strcmp(ev.u.cri_sandbox.id, h.sandbox_id) == 0) {
			sandbox = true;
			CHECK_EQ_INT(ev.u.cri_sandbox.state, FSM_SANDBOX_READY);
			CHECK_EQ_STR(ev.u.cri_sandbox.ip, h.sandbox_ip);
			CHECK_EQ_STR(ev.u.cri_sandbox.pod_uid, h.uid);
		}
		if (ev.kind == FSM_EV_CRI_CONTAINER &&
		    strcmp(ev.u.cri_container.id, h.app_id) == 0) {
			app = true;
			CHECK_EQ_INT(ev.u.cri_container.state, FSM_CONTAINER_RUNNING);
			CHECK_EQ_STR(ev.u.cri_container.name, "app");
			CHECK_EQ_STR(ev.u.cri_container.pod_uid, h.uid);
			CHECK(ev.u.cri_container.started_at_ms > 0);
		}
	}
	CHECK(sandbox);
	CHECK(app);
	from = relist_once(fresh, &took);
	printf("# exec relist (fresh, again): %" PRIu64 " ms\n", took);
	CHECKF(ours_since(from) == 0, "a relist identical to the last one wrote %zu events",
	       ours_since(from));
	fx_exec_free(fresh);
}

TEST(relist_reports_a_container_that_exited_by_itself_once)
{
	if (!harness_up())
		return;
	REQUIRE(h.sandbox_id[0] != '\0');
	char json[4096], id[200];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.create_container\",\"pod_uid\":\"%s\","
	         "\"container\":\"quitter\",\"image\":\"%s\",\"body\":{\"sandbox_id\":\"%s\","
	         "\"sandbox_attempt\":0,\"pod\":{\"name\":\"" POD_NAME
	         "\",\"namespace\":\"" NAMESPACE
	         "\",\"uid\":\"%s\"},\"image_ref\":\"%s\",\"container\":{\"name\":"
	         "\"quitter\",\"image\":\"%s\",\"command\":[\"/bin/sh\",\"-c\","
	         "\"sleep 1; exit 3\"]}}}",
	         cmd_name("create", "/quitter/0", id, sizeof(id)), h.uid, rt.busybox, h.sandbox_id,
	         h.uid, h.image_ref, rt.busybox);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(hand_cmd(json, &c, &a));
	long e = dispatch_wait(&c, 60000, NULL, NULL);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	REQUIRE(ev.u.effect.ok);
	snprintf(h.quitter_id, sizeof(h.quitter_id), "%s", ev.u.effect.result);
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.start_container\",\"pod_uid\":\"%s\","
	         "\"container\":\"quitter\",\"body\":{\"id\":\"%s\"}}",
	         cmd_name("start", "/quitter/0", id, sizeof(id)), h.uid, h.quitter_id);
	REQUIRE(hand_cmd(json, &c, &a));
	e = dispatch_wait(&c, 60000, NULL, NULL);
	REQUIRE(e >= 0);
	REQUIRE(get_event((size_t)e, &ev));
	REQUIRE(ev.u.effect.ok);

	/* It runs a second; relists meanwhile and after see it run, then exit 3. */
	uint64_t t_end = mono_ms() + 4000;
	size_t from = h.n_events;
	int exited = 0, others = 0;
	while (mono_ms() < t_end) {
		relist_once(h.x, NULL);
		run_for(200);
	}
	for (size_t i = from; i < h.n_events; i++) {
		if (!get_event(i, &ev))
			continue;
		if (ev.kind == FSM_EV_CRI_CONTAINER &&
		    strcmp(ev.u.cri_container.id, h.quitter_id) == 0 &&
		    ev.u.cri_container.state == FSM_CONTAINER_EXITED) {
			exited++;
			CHECK_EQ_INT(ev.u.cri_container.exit_code, 3);
			CHECK_EQ_STR(ev.u.cri_container.name, "quitter");
			CHECK_EQ_STR(ev.u.cri_container.reason, "Error");
			CHECK(ev.u.cri_container.finished_at_ms >=
			      ev.u.cri_container.started_at_ms);
		}
	}
	others = (int)ours_since(from) - exited;
	CHECK_EQ_INT(exited, 1);
	CHECK_EQ_INT(others, 0);
	fsm_arena_free(&a);
}

TEST(relist_reports_a_running_container_gone_behind_its_back)
{
	if (!harness_up())
		return;
	REQUIRE(h.sandbox_id[0] != '\0');
	char json[4096], id[200], ghost[100];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.create_container\",\"pod_uid\":\"%s\","
	         "\"container\":\"ghost\",\"image\":\"%s\",\"body\":{\"sandbox_id\":\"%s\","
	         "\"sandbox_attempt\":0,\"pod\":{\"name\":\"" POD_NAME
	         "\",\"namespace\":\"" NAMESPACE
	         "\",\"uid\":\"%s\"},\"image_ref\":\"%s\",\"container\":{\"name\":"
	         "\"ghost\",\"image\":\"%s\",\"command\":[\"/bin/sleep\",\"3600\"]}}}",
	         cmd_name("create", "/ghost/0", id, sizeof(id)), h.uid, rt.busybox, h.sandbox_id,
	         h.uid, h.image_ref, rt.busybox);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(hand_cmd(json, &c, &a));
	long e = dispatch_wait(&c, 60000, NULL, NULL);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	REQUIRE(ev.u.effect.ok);
	snprintf(ghost, sizeof(ghost), "%s", ev.u.effect.result);
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.start_container\",\"pod_uid\":\"%s\","
	         "\"container\":\"ghost\",\"body\":{\"id\":\"%s\"}}",
	         cmd_name("start", "/ghost/0", id, sizeof(id)), h.uid, ghost);
	REQUIRE(hand_cmd(json, &c, &a));
	e = dispatch_wait(&c, 60000, NULL, NULL);
	REQUIRE(e >= 0);
	/* Someone else removes it (running: containerd kills it first). */
	Runtime__V1__RemoveContainerRequest rm = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
	rm.container_id = ghost;
	struct cri_reply r;
	cri_call_sync(rt.client, CRI_REMOVE_CONTAINER, &rm.base, 30000, &r);
	CHECKF(r.grpc_status == CRI_GRPC_OK, "remove: %s", r.message);
	cri_reply_clear(&r);
	size_t from = relist_once(h.x, NULL);
	int missing = 0;
	for (size_t i = from; i < h.n_events; i++) {
		if (!get_event(i, &ev) || ev.kind != FSM_EV_CRI_CONTAINER ||
		    strcmp(ev.u.cri_container.id, ghost) != 0)
			continue;
		missing++;
		CHECK_EQ_INT(ev.u.cri_container.state, FSM_CONTAINER_UNKNOWN);
		CHECK_EQ_STR(ev.u.cri_container.reason, "ContainerMissing");
		CHECK_EQ_STR(ev.u.cri_container.name, "ghost");
		CHECK_EQ_STR(ev.u.cri_container.pod_uid, h.uid);
	}
	CHECK_EQ_INT(missing, 1);
	CHECK_EQ_INT(ours_since(from), 1);
	/* Once. */
	from = relist_once(h.x, NULL);
	CHECK_EQ_INT(ours_since(from), 0);
	fsm_arena_free(&a);
}

TEST(stop_reports_the_exit_before_its_effect)
{
	if (!harness_up())
		return;
	REQUIRE(h.app_id[0] != '\0');
	/* The API deletes the pod: the fold stops its container. */
	char line[4096];
	pod_line(line, sizeof(line), "DELETED");
	REQUIRE(fold_json(line) == 0);
	char id[200];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(fold_cmd(cmd_name("stop", "/app/0", id, sizeof(id)), &c, &a));
	CHECK(c.timeout_s >= 1);
	/* sh as PID 1 ignores SIGTERM: it is killed when the grace period ends. */
	c.timeout_s = 1;
	size_t from;
	uint64_t took;
	long e = dispatch_wait(&c, 30000, &from, &took);
	printf("# exec stop_container (1 s grace): %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	CHECK(took >= 900);
	struct fsm_event ev;
	bool exited = false;
	for (size_t i = from; i < (size_t)e; i++) {
		if (!get_event(i, &ev) || ev.kind != FSM_EV_CRI_CONTAINER)
			continue;
		exited = ev.u.cri_container.state == FSM_CONTAINER_EXITED;
		CHECK_EQ_STR(ev.u.cri_container.id, h.app_id);
		CHECK_EQ_INT(ev.u.cri_container.exit_code, 137);
		CHECK(ev.u.cri_container.finished_at_ms > 0);
	}
	CHECKF(exited, "no cri.container exited before the effect");
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "stop failed: %s", ev.u.effect.error);

	/* Then the sandbox. */
	REQUIRE(fold_cmd(cmd_name("stopsb", "/0", id, sizeof(id)), &c, &a));
	e = dispatch_wait(&c, 30000, NULL, &took);
	printf("# exec stop_sandbox: %" PRIu64 " ms\n", took);
	REQUIRE(e >= 0);
	REQUIRE(get_event((size_t)e, &ev));
	CHECKF(ev.u.effect.ok, "stopsb failed: %s", ev.u.effect.error);
	fsm_arena_free(&a);
}

TEST(removals_succeed_and_succeed_again)
{
	if (!harness_up())
		return;
	REQUIRE(h.app_id[0] != '\0');
	char rm_id[200], rmsb_id[200], json[4096], q_id[300];
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command cmds[3];
	REQUIRE(fold_cmd(cmd_name("remove", "/app/0", rm_id, sizeof(rm_id)), &cmds[0], &a));
	/* The fold removes the sandbox once the container removals answered; here
	 * all go together, to show the executor copes with that too. */
	cmd_name("rmsb", "/0", rmsb_id, sizeof(rmsb_id));
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.remove_sandbox\",\"pod_uid\":\"%s\","
	         "\"body\":{\"id\":\"%s\"}}",
	         rmsb_id, h.uid, h.sandbox_id);
	REQUIRE(hand_cmd(json, &cmds[1], &a));
	/* The quitter, as the fold removes an orphan: the id in the command's id. */
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"orphan-remove/%s/%s\",\"cmd\":\"cri.remove_container\","
	         "\"pod_uid\":\"%s\",\"container\":\"quitter\"}",
	         h.uid, h.quitter_id, h.uid);
	snprintf(q_id, sizeof(q_id), "orphan-remove/%s/%s", h.uid, h.quitter_id);
	REQUIRE(hand_cmd(json, &cmds[2], &a));
	for (int round = 0; round < 2; round++) {
		size_t from = h.n_events;
		uint64_t t0 = mono_ms();
		/* The fold issues them together; they run side by side. */
		h.in_dispatch = true;
		for (int i = 0; i < 3; i++)
			CHECK_EQ_INT(fx_exec_dispatch(h.x, &cmds[i]), 0);
		h.in_dispatch = false;
		CHECK_EQ_INT(h.n_events, from);
		const char *ids[3] = {rm_id, rmsb_id, q_id};
		for (int i = 0; i < 3; i++) {
			struct wait_effect w = {ids[i], from};
			CHECKF(run_until(effect_arrived, &w, 60000), "no effect for %s", ids[i]);
			long e = effect_at(ids[i], from);
			struct fsm_event ev;
			if (e >= 0 && get_event((size_t)e, &ev))
				CHECKF(ev.u.effect.ok, "%s (round %d): %s", ids[i], round,
				       ev.u.effect.error);
		}
		printf("# exec remove container+sandbox (round %d): %" PRIu64 " ms\n", round,
		       mono_ms() - t0);
	}
	/* Stops of what is gone succeed too. */
	char stop_id[200], stopsb_id[200];
	struct fsm_command stops[2];
	REQUIRE(fold_cmd(cmd_name("stop", "/app/0", stop_id, sizeof(stop_id)), &stops[0], &a));
	REQUIRE(fold_cmd(cmd_name("stopsb", "/0", stopsb_id, sizeof(stopsb_id)), &stops[1], &a));
	for (int i = 0; i < 2; i++) {
		long e = dispatch_wait(&stops[i], 30000, NULL, NULL);
		struct fsm_event ev;
		if (e >= 0 && get_event((size_t)e, &ev))
			CHECKF(ev.u.effect.ok, "%s again: %s", stops[i].id, ev.u.effect.error);
	}
	CHECK_EQ_INT(count_sandboxes(FX_LABEL_POD_UID, h.uid), 0);
	CHECK_EQ_INT(count_containers(FX_LABEL_POD_UID, h.uid), 0);
	char dir[400];
	snprintf(dir, sizeof(dir), LOG_ROOT "/" NAMESPACE "_" POD_NAME "_%s", h.uid);
	CHECKF(access(dir, F_OK) != 0, "%s is still there", dir);
	/* And the fold's pod is gone from its state. */
	CHECK(fsm_state_pod(&h.st, h.uid) == NULL);
	fsm_arena_free(&a);
}

TEST(relist_after_removal_reports_nothing)
{
	if (!harness_up())
		return;
	size_t from = relist_once(h.x, NULL);
	CHECKF(ours_since(from) == 0, "%zu events after the removals", ours_since(from));
	struct fx_exec_stats s;
	fx_exec_stats(h.x, &s);
	CHECK_EQ_INT(s.ops, 0);
	CHECK_EQ_INT(s.calls_in_flight, 0);
}

TEST(pull_of_a_missing_image_fails_with_the_registrys_message)
{
	if (!harness_up())
		return;
	char json[4096], id[200];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.pull_image\",\"pod_uid\":\"%s\","
	         "\"container\":\"app\",\"attempt\":1,\"image\":\"127.0.0.1:5000/"
	         "ledgerlet-no-such-image:1\"}",
	         cmd_name("pull", "/nosuch/1", id, sizeof(id)), h.uid);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	REQUIRE(hand_cmd(json, &c, &a));
	size_t from;
	uint64_t took;
	long e = dispatch_wait(&c, 60000, &from, &took);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECK(!ev.u.effect.ok);
	printf("# exec bad pull (%" PRIu64 " ms, %s): %s\n", took,
	       fsm_error_class_name(ev.u.effect.error_class), ev.u.effect.error);
	CHECK(ev.u.effect.error_class != FSM_ERR_NONE);
	CHECKF(strstr(ev.u.effect.error, "rpc error: code = ") == ev.u.effect.error &&
	               strstr(ev.u.effect.error, "ledgerlet-no-such-image") != NULL &&
	               strstr(ev.u.effect.error, "not found") != NULL,
	       "error %s", ev.u.effect.error);
	bool seen = false;
	for (size_t i = from; i < (size_t)e; i++)
		if (get_event(i, &ev) && ev.kind == FSM_EV_CRI_IMAGE) {
			seen = true;
			CHECK(!ev.u.cri_image.ok);
			CHECK(strstr(ev.u.cri_image.error, "not found") != NULL);
		}
	CHECK(seen);
	fsm_arena_free(&a);
}

TEST(bad_bodies_fail_permanently_on_the_next_turn)
{
	if (!harness_up())
		return;
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command c;
	char json[4096], id[200];
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.create_container\",\"pod_uid\":\"%s\","
	         "\"container\":\"app\",\"image\":\"x\",\"body\":{\"sandbox_id\":\"sb\","
	         "\"sandbox_attempt\":0,\"pod\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},"
	         "\"image_ref\":\"\",\"container\":{\"name\":\"app\",\"image\":\"x\",\"env\":["
	         "{\"name\":\"SECRET\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
	         "\"key\":\"k\"}}}]}}}",
	         cmd_name("create", "/bad/0", id, sizeof(id)), h.uid);
	REQUIRE(hand_cmd(json, &c, &a));
	long e = dispatch_wait(&c, 5000, NULL, NULL);
	REQUIRE(e >= 0);
	struct fsm_event ev;
	REQUIRE(get_event((size_t)e, &ev));
	CHECK(!ev.u.effect.ok);
	CHECK_EQ_INT(ev.u.effect.error_class, FSM_ERR_PERMANENT);
	CHECK_EQ_STR(ev.u.effect.error, "CreateContainerConfigError: no API server to read secret \"s\" from");

	/* Not this executor's: refused at once, and nothing follows. */
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"poststart/%s/app/7\",\"cmd\":\"hook.run\",\"pod_uid\":"
	         "\"%s\",\"body\":{\"hook\":\"postStart\",\"container_id\":\"c\",\"spec\":{"
	         "\"httpGet\":{\"port\":80}}}}",
	         h.uid, h.uid);
	REQUIRE(hand_cmd(json, &c, &a));
	CHECK_EQ_INT(fx_exec_dispatch(h.x, &c), -ENOTSUP);
	snprintf(json, sizeof(json),
	         "{\"ts_ms\":0,\"id\":\"t/%s\",\"cmd\":\"timer.set\",\"key\":\"k\",\"due_ms\":1}",
	         h.uid);
	REQUIRE(hand_cmd(json, &c, &a));
	CHECK_EQ_INT(fx_exec_dispatch(h.x, &c), -ENOTSUP);
	size_t from = h.n_events;
	run_for(100);
	CHECK_EQ_INT(h.n_events, from);
	fsm_arena_free(&a);
}

TEST(commands_past_the_bound_fail_transiently)
{
	if (!harness_up())
		return;
	struct fx_exec *small = NULL;
	struct fx_exec_config cfg = exec_config();
	cfg.calls_max = 1;
	cfg.queue_max = 2;
	REQUIRE(fx_exec_new(&small, h.cri, &cfg, (struct fx_sink){.event = sink}) == 0);
	struct fsm_arena a = FSM_ARENA_INIT;
	char ids[5][200];
	size_t from = h.n_events;
	h.in_dispatch = true;
	for (int i = 0; i < 5; i++) {
		char json[4096];
		snprintf(ids[i], sizeof(ids[i]), "pull/%s/bound/%d", h.uid, i);
		snprintf(json, sizeof(json),
		         "{\"ts_ms\":0,\"id\":\"%s\",\"cmd\":\"cri.pull_image\",\"pod_uid\":\"%s\","
		         "\"image\":\"%s\"}",
		         ids[i], h.uid, rt.busybox);
		struct fsm_command c;
		REQUIRE(hand_cmd(json, &c, &a));
		CHECK_EQ_INT(fx_exec_dispatch(small, &c), 0);
	}
	h.in_dispatch = false;
	struct fx_exec_stats s;
	fx_exec_stats(small, &s);
	CHECK_EQ_INT(s.calls_in_flight, 1);
	CHECK_EQ_INT(s.calls_waiting, 2);
	CHECK_EQ_INT(s.ops, 3);
	CHECK_EQ_INT(s.queue_full, 2);
	int ok = 0, full = 0;
	for (int i = 0; i < 5; i++) {
		struct wait_effect w = {ids[i], from};
		CHECKF(run_until(effect_arrived, &w, 60000), "no effect for %s", ids[i]);
		long e = effect_at(ids[i], from);
		struct fsm_event ev;
		if (e < 0 || !get_event((size_t)e, &ev))
			continue;
		if (ev.u.effect.ok)
			ok++;
		else if (ev.u.effect.error_class == FSM_ERR_TRANSIENT &&
		         strstr(ev.u.effect.error, "queue full") != NULL)
			full++;
	}
	CHECK_EQ_INT(ok, 3);
	CHECK_EQ_INT(full, 2);
	/* Exactly one effect each. */
	int effects = 0;
	for (size_t i = from; i < h.n_events; i++) {
		struct fsm_event ev;
		if (get_event(i, &ev) && ev.kind == FSM_EV_EFFECT)
			effects++;
	}
	CHECK_EQ_INT(effects, 5);
	fx_exec_stats(small, &s);
	CHECK_EQ_INT(s.ops, 0);
	fx_exec_free(small);
	fsm_arena_free(&a);
}

/* Last: every event was a valid journal line, none came from inside a dispatch;
 * whatever is left goes. */
TEST(cleanup)
{
	if (!harness_up())
		return;
	CHECK_EQ_INT(h.sink_in_dispatch, 0);
	CHECK_EQ_INT(h.sink_bad_json, 0);
	if (getenv("LEDGERLET_TEST_VERBOSE") != NULL)
		for (size_t i = 0; i < h.n_events; i++)
			printf("# event %s\n", h.events[i]);
	fx_exec_free(h.x);
	io_curl_detach(h.glue);
	cri_client_free(h.cri);
	curl_multi_cleanup(h.multi);
	io_reactor_free(h.r);
	remove_leftovers();
	CHECK_EQ_INT(count_sandboxes(FX_LABEL_POD_NAMESPACE, NAMESPACE), 0);
	/* Images this suite pulled (the pause image by the first sandbox) go too. */
	const char *images[2] = {rt.busybox_was_present ? NULL : rt.busybox,
	                         rt.pause_was_present ? NULL : rt.pause};
	for (int i = 0; i < 2; i++) {
		if (images[i] == NULL)
			continue;
		Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
		spec.image = (char *)images[i];
		Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
		req.image = &spec;
		struct cri_reply r;
		cri_call_sync(rt.client, CRI_REMOVE_IMAGE, &req.base, 30000, &r);
		CHECKF(r.grpc_status == CRI_GRPC_OK, "remove %s: %s", images[i], r.message);
		cri_reply_clear(&r);
	}
	rt_close();
	for (size_t i = 0; i < h.n_events; i++)
		free(h.events[i]);
	for (size_t i = 0; i < h.n_cmds; i++)
		free(h.cmds[i]);
	fsm_out_free(&h.out);
	fsm_state_free(&h.st);
	fsm_arena_free(&h.arena);
	fsm_arena_free(&ev_arena);
}

TEST_MAIN(SUITE, T(fold_asks_for_a_sandbox), T(run_sandbox_reports_ready_with_ip_before_its_effect),
          T(pull_answers_with_the_image_ref), T(create_and_start_run_the_container_once),
          T(exec_sync_sees_env_limits_and_the_hook),
          T(failing_exec_hook_reports_the_kubelets_message), T(relist_reports_only_what_changed),
          T(relist_reports_a_container_that_exited_by_itself_once),
          T(relist_reports_a_running_container_gone_behind_its_back),
          T(stop_reports_the_exit_before_its_effect), T(removals_succeed_and_succeed_again),
          T(relist_after_removal_reports_nothing),
          T(pull_of_a_missing_image_fails_with_the_registrys_message),
          T(bad_bodies_fail_permanently_on_the_next_turn),
          T(commands_past_the_bound_fail_transiently), T(cleanup))
