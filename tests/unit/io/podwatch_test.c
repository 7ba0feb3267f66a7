/*
 * podwatch_test.c — the API pod source against our test API server: a list of
 * this node's pods only, then watch events, resumed after a cut watch, a list
 * again after 410 Gone, back-off (and Retry-After) after errors.
 */
#include "io/podwatch.h"

#include "api_env.h"

struct seen {
	int syncs, events, retries;
	size_t last_sync_n;
	char last_sync[4096];
	enum io_podwatch_type last_type;
	char last_event[4096];
	uint64_t last_delay;
	char last_why[300];
};

static void on_sync(void *arg, const char *const *objs, const size_t *lens, size_t n)
{
	struct seen *s = arg;
	s->syncs++;
	s->last_sync_n = n;
	s->last_sync[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(s->last_sync);
		snprintf(s->last_sync + k, sizeof(s->last_sync) - k, "%.*s\n", (int)lens[i], objs[i]);
	}
}

static void on_event(void *arg, enum io_podwatch_type t, const char *obj, size_t len)
{
	struct seen *s = arg;
	s->events++;
	s->last_type = t;
	snprintf(s->last_event, sizeof(s->last_event), "%.*s", (int)len, obj);
}

static void on_retry(void *arg, uint64_t delay_ms, const char *why)
{
	struct seen *s = arg;
	s->retries++;
	s->last_delay = delay_ms;
	snprintf(s->last_why, sizeof(s->last_why), "%s", why);
}

static const char *pod_json(const char *name, const char *node)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"nodeName\":\"%s\","
		 "\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}",
		 name, node);
	return buf;
}

TEST(list_then_watch_then_recover)
{
	REQUIRE(start_server() == 0);
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	struct answer *a = get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("mine", "n1"));
	CHECKF(a->status == 201, "%ld %.300s", a->status, a->body);
	a = get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("theirs", "n2"));
	CHECKF(a->status == 201, "%ld %.300s", a->status, a->body);

	struct seen s = {0};
	struct io_podwatch_cb cb = {on_sync, on_event, on_retry, &s};
	struct io_podwatch_config cfg = {.api = e.k, .reactor = e.r, .timer_id = 77, .node_name = "n1"};
	struct io_podwatch *w = NULL;
	REQUIRE(io_podwatch_start(&w, &cfg, &cb) == 0);
	run_until(&e, &s.syncs, 1, 10);
	/* only this node's pod, with its kind */
	CHECKF(s.syncs == 1 && s.last_sync_n == 1 && strstr(s.last_sync, "\"name\":\"mine\"") != NULL &&
	       strstr(s.last_sync, "\"kind\":\"Pod\"") != NULL,
	       "syncs %d n %zu: %.300s", s.syncs, s.last_sync_n, s.last_sync);
	CHECK(io_podwatch_resource_version(w)[0] != '\0');

	for (int i = 0; i < 10; i++)
		io_reactor_run_once(e.r, 20);
	a = get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("second", "n1"));
	run_until(&e, &s.events, 1, 10);
	CHECKF(s.events == 1 && s.last_type == IO_PODWATCH_ADDED && strstr(s.last_event, "second") != NULL,
	       "events %d: %.300s", s.events, s.last_event);

	/* a watch cut mid-stream resumes from the last resourceVersion: nothing lost or repeated */
	get(&e, "POST", "/_test/drop-watches", "{}");
	for (int i = 0; i < 20; i++)
		io_reactor_run_once(e.r, 20);
	a = get(&e, "DELETE", "/api/v1/namespaces/default/pods/second", "{\"gracePeriodSeconds\":0}");
	run_until(&e, &s.events, 2, 10);
	CHECKF(s.events == 2 && s.last_type == IO_PODWATCH_DELETED, "events %d type %d retries %d (%s)", s.events,
	       s.last_type, s.retries, s.last_why);
	CHECK_EQ_INT(s.syncs, 1);

	/* 410 Gone: the history before the watch's resourceVersion is forgotten: list again */
	get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("third", "n1"));
	run_until(&e, &s.events, 3, 10);
	get(&e, "POST", "/_test/drop-watches", "{}");
	get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("fourth", "n1"));
	get(&e, "POST", "/_test/compact", "{\"keep\":0}");
	run_until(&e, &s.syncs, 2, 15);
	CHECKF(s.syncs == 2 && s.last_sync_n == 3 && strstr(s.last_sync, "fourth") != NULL, "syncs %d n %zu (%s)",
	       s.syncs, s.last_sync_n, s.last_why);

	/* errors back off; Retry-After is honoured; the watch then resumes */
	get(&e, "POST", "/_test/fail",
	    "{\"count\":1,\"code\":429,\"retryAfter\":2,\"match\":\"GET /api/v1/pods.*watch\"}");
	int r0 = s.retries, e0 = s.events;
	get(&e, "POST", "/_test/drop-watches", "{}");
	/* the cut, then the 429 */
	run_until(&e, &s.retries, r0 + 2, 10);
	CHECKF(s.retries == r0 + 2 && s.last_delay >= 2000 && strstr(s.last_why, "HTTP 429") != NULL,
	       "retries %d delay %llu (%s)", s.retries, (unsigned long long)s.last_delay, s.last_why);
	get(&e, "POST", "/api/v1/namespaces/default/pods", pod_json("fifth", "n1"));
	run_until(&e, &s.events, e0 + 1, 15);
	CHECKF(s.events == e0 + 1 && strstr(s.last_event, "fifth") != NULL && s.syncs == 2, "events %d syncs %d",
	       s.events - e0, s.syncs);

	io_podwatch_stop(w);
	env_close(&e);
	stop_server();
}

TEST_MAIN("io/podwatch", T(list_then_watch_then_recover))
