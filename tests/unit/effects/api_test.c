/*
 * api_test.c — the API writer (effects/api.c) against our test API server
 * (tests/apiserver, started here): every command's one answer, retries after
 * 500 and 429, conflicts read again, coalescing of status writes, the node's
 * registration and lease, mirror pods, deletes with a uid precondition, and
 * events deduplicated, aggregated and rate-limited as client-go's recorder does.
 */
#include <json-c/json.h>

#include "effects/api.h"
#include "io/api_env.h"

#define NODE        "node-a"
#define ANSWERS_MAX 256

struct seen {
	int n;
	struct {
		char cmd[128];
		bool ok;
		enum fsm_error_class cls;
		char error[512];
		char result[128];
	} a[ANSWERS_MAX];
};

static void on_effect(void *arg, const struct fsm_event *ev)
{
	struct seen *s = arg;
	CHECK(ev->kind == FSM_EV_EFFECT);
	CHECK(ev->wall_ms > 0);
	REQUIRE(s->n < ANSWERS_MAX);
	snprintf(s->a[s->n].cmd, sizeof(s->a[0].cmd), "%s", ev->u.effect.cmd);
	s->a[s->n].ok = ev->u.effect.ok;
	s->a[s->n].cls = ev->u.effect.error_class;
	snprintf(s->a[s->n].error, sizeof(s->a[0].error), "%s", ev->u.effect.error);
	snprintf(s->a[s->n].result, sizeof(s->a[0].result), "%s", ev->u.effect.result);
	s->n++;
}

/* How many answers name cmd (each command must have exactly one), and the last. */
static int answers_of(const struct seen *s, const char *cmd, int *last)
{
	int count = 0;
	*last = 0;
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->a[i].cmd, cmd) == 0) {
			count++;
			*last = i;
		}
	return count;
}

/* The pods the test's fold knows: uid -> the API object its status goes to. */
static struct {
	char uid[64], ns[64], name[64], target[64];
} pods[8];

static bool pod_ref(void *arg, const char *pod_uid, struct fx_api_pod_ref *out)
{
	(void)arg;
	for (size_t i = 0; i < 8; i++)
		if (strcmp(pods[i].uid, pod_uid) == 0) {
			out->namespace_ = pods[i].ns;
			out->name = pods[i].name;
			out->uid = pods[i].target;
			return true;
		}
	return false;
}

struct fixture {
	struct env e;
	struct seen s;
	struct fx_api *x;
};

static int fixture_open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	memset(pods, 0, sizeof(pods));
	if (env_open(&f->e, "kubeconfig", 0, 0) != 0)
		return -1;
	struct fx_api_config cfg = {
	        .api = f->e.k, .reactor = f->e.r, .node_name = NODE, .pod_ref = pod_ref};
	struct fx_sink sink = {on_effect, &f->s};
	return fx_api_new(&f->x, &cfg, sink);
}

static void fixture_close(struct fixture *f)
{
	fx_api_free(f->x);
	env_close(&f->e);
}

static int dispatch(struct fixture *f, enum fsm_cmd_kind kind, const char *id, const char *pod_uid,
                    const char *body)
{
	struct fsm_command c = {.kind = kind,
	                        .id = id,
	                        .pod_uid = pod_uid,
	                        .container = "",
	                        .key = "",
	                        .image = "",
	                        .body = body,
	                        .body_len = strlen(body)};
	return fx_api_dispatch(f->x, &c);
}

static void wait_answers(struct fixture *f, int n, int seconds)
{
	run_until(&f->e, &f->s.n, n, seconds);
}

/* Runs the reactor for ms (lets retries and event sends finish). */
static void settle(struct fixture *f, int ms)
{
	for (int i = 0; i < ms / 20; i++)
		io_reactor_run_once(f->e.r, 20);
}

/* Runs the reactor until the writer has sent n event writes (or 10 s), then a
 * little longer for those that coalescing may have spared. */
static void wait_events_sent(struct fixture *f, uint64_t n)
{
	struct fx_api_stats st;
	for (int i = 0; i < 200; i++) {
		fx_api_stats(f->x, &st);
		if (st.events_sent + st.events_dropped >= n) {
			settle(f, 300);
			return;
		}
		io_reactor_run_once(f->e.r, 50);
	}
	CHECKF(0, "events sent %llu, dropped %llu, want %llu", (unsigned long long)st.events_sent,
	       (unsigned long long)st.events_dropped, (unsigned long long)n);
}

/* The server's count of "METHOD resource[/sub]" since the last reset. */
static int writes(struct fixture *f, const char *what)
{
	struct answer *a = get(&f->e, "GET", "/_test/writes", NULL);
	struct json_object *doc = json_tokener_parse(a->body), *counts, *v;
	int n = 0;
	if (doc != NULL && json_object_object_get_ex(doc, "counts", &counts) &&
	    json_object_object_get_ex(counts, what, &v))
		n = json_object_get_int(v);
	json_object_put(doc);
	return n;
}

static void reset_counters(struct fixture *f)
{
	CHECK(get(&f->e, "POST", "/_test/reset-counters", "{}")->status == 200);
}

static const char *pod_json(const char *name)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{"
	         "\"nodeName\":\"" NODE
	         "\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}",
	         name);
	return buf;
}

/* Creates a pod and returns its uid (into uid). */
static bool make_pod(struct fixture *f, const char *name, char *uid, size_t size)
{
	struct answer *a = get(&f->e, "POST", "/api/v1/namespaces/default/pods", pod_json(name));
	CHECKF(a->status == 201, "create pod %s: %ld %.300s", name, a->status, a->body);
	struct json_object *doc = json_tokener_parse(a->body), *meta, *v;
	bool ok = doc != NULL && json_object_object_get_ex(doc, "metadata", &meta) &&
	          json_object_object_get_ex(meta, "uid", &v);
	if (ok)
		snprintf(uid, size, "%s", json_object_get_string(v));
	json_object_put(doc);
	return ok;
}

static void know_pod(size_t i, const char *uid, const char *name, const char *target)
{
	snprintf(pods[i].uid, sizeof(pods[i].uid), "%s", uid);
	snprintf(pods[i].ns, sizeof(pods[i].ns), "default");
	snprintf(pods[i].name, sizeof(pods[i].name), "%s", name);
	snprintf(pods[i].target, sizeof(pods[i].target), "%s", target);
}

/* A field of the object at path (e.g. "status", "podIP"), as JSON text, or "" */
static const char *field_of(struct fixture *f, const char *path, const char *a_key,
                            const char *b_key)
{
	static char out[4096];
	out[0] = '\0';
	struct answer *a = get(&f->e, "GET", path, NULL);
	struct json_object *doc = json_tokener_parse(a->body), *v, *w;
	if (doc != NULL && json_object_object_get_ex(doc, a_key, &v)) {
		if (b_key == NULL)
			snprintf(out, sizeof(out), "%s",
			         json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE));
		else if (json_object_object_get_ex(v, b_key, &w))
			snprintf(out, sizeof(out), "%s",
			         json_object_to_json_string_ext(w, JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(doc);
	return out;
}

static int invalid_writes(struct fixture *f)
{
	struct answer *a = get(&f->e, "GET", "/_test/invalid", NULL);
	struct json_object *doc = json_tokener_parse(a->body), *items;
	int n = -1;
	if (doc != NULL && json_object_object_get_ex(doc, "items", &items))
		n = (int)json_object_array_length(items);
	if (n != 0)
		fprintf(stderr, "invalid writes: %.2000s\n", a->body);
	json_object_put(doc);
	return n;
}

/* ---- pod status --------------------------------------------------------------------- */

TEST(pod_status_patches_and_drops_fields_no_longer_reported)
{
	REQUIRE(start_server() == 0);
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char uid[64];
	REQUIRE(make_pod(&f, "p1", uid, sizeof(uid)));
	know_pod(0, "fold-p1", "p1", uid);

	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "s1", "fold-p1",
	                 "{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"podIPs\":[{\"ip\":\"10.0."
	                 "0.5\"}],"
	                 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}") == 0);
	CHECK_EQ_INT(f.s.n, 0); /* never from inside dispatch */
	wait_answers(&f, 1, 10);
	REQUIRE(f.s.n == 1);
	CHECKF(f.s.a[0].ok && strcmp(f.s.a[0].cmd, "s1") == 0, "s1: %s", f.s.a[0].error);
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/p1", "status", "podIP"),
	             "\"10.0.0.5\"");

	/* The kubelet no longer reports an IP: the fields go away. */
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "s2", "fold-p1", "{\"phase\":\"Failed\"}") ==
	        0);
	wait_answers(&f, 2, 10);
	CHECKF(f.s.a[1].ok, "s2: %s", f.s.a[1].error);
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/p1", "status", "podIP"), "");
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/p1", "status", "podIPs"), "");
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/p1", "status", "phase"),
	             "\"Failed\"");
	CHECK_EQ_INT(invalid_writes(&f), 0);
	fixture_close(&f);
}

TEST(pod_status_without_target_unknown_or_replaced_pod)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char uid[64];
	REQUIRE(make_pod(&f, "p2", uid, sizeof(uid)));
	know_pod(0, "static-1", "static-1-" NODE, ""); /* no mirror pod yet */
	know_pod(1, "fold-p2", "p2", "00000000-0000-0000-0000-000000000000"); /* another pod */
	know_pod(2, "fold-gone", "never-made", "11111111-1111-1111-1111-111111111111");
	reset_counters(&f);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "a", "static-1", "{\"phase\":\"Running\"}") ==
	        0);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "b", "unknown-uid",
	                 "{\"phase\":\"Running\"}") == 0);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "c", "fold-p2", "{\"phase\":\"Running\"}") ==
	        0);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "d", "fold-gone", "{\"phase\":\"Running\"}") ==
	        0);
	CHECK_EQ_INT(f.s.n, 0);
	wait_answers(&f, 4, 10);
	REQUIRE(f.s.n == 4);
	int i;
	REQUIRE(answers_of(&f.s, "a", &i) == 1);
	CHECK(f.s.a[i].ok);
	CHECK_EQ_STR(f.s.a[i].result, "no-target");
	REQUIRE(answers_of(&f.s, "b", &i) == 1);
	CHECK(!f.s.a[i].ok && f.s.a[i].cls == FSM_ERR_NOT_FOUND);
	REQUIRE(answers_of(&f.s, "c", &i) == 1);
	CHECKF(!f.s.a[i].ok && f.s.a[i].cls == FSM_ERR_NOT_FOUND && strstr(f.s.a[i].error, "409"),
	       "uid precondition: %s", f.s.a[i].error);
	REQUIRE(answers_of(&f.s, "d", &i) == 1);
	CHECKF(!f.s.a[i].ok && f.s.a[i].cls == FSM_ERR_NOT_FOUND && strstr(f.s.a[i].error, "404"),
	       "deleted pod: %s", f.s.a[i].error);
	CHECK_EQ_INT(writes(&f, "PATCH pods/status"), 2);
	fixture_close(&f);
}

TEST(pod_status_storm_coalesces_and_answers_each_once)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char uid[64];
	REQUIRE(make_pod(&f, "p3", uid, sizeof(uid)));
	know_pod(0, "fold-p3", "p3", uid);
	reset_counters(&f);
	char id[32], body[128];
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "st-%d", i);
		snprintf(body, sizeof(body), "{\"phase\":\"Running\",\"message\":\"m%d\"}", i);
		REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, id, "fold-p3", body) == 0);
	}
	wait_answers(&f, 50, 10);
	settle(&f, 200);
	CHECK_EQ_INT(f.s.n, 50);
	int superseded = 0, last = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "st-%d", i);
		CHECK_EQ_INT(answers_of(&f.s, id, &last), 1);
		CHECKF(f.s.a[last].ok, "%s: %s", id, f.s.a[last].error);
		superseded += strcmp(f.s.a[last].result, "superseded") == 0;
	}
	/* The first waits FX_API_STATUS_COALESCE_MS for newer ones: one write, or
	 * two when the dispatches took longer than that (a slow machine). */
	int w = (int)writes(&f, "PATCH pods/status");
	CHECKF(w == 1 || w == 2, "%d status writes for 50 commands", w);
	CHECK_EQ_INT(superseded, 50 - w);
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/p3", "status", "message"),
	             "\"m49\"");
	struct fx_api_stats st;
	fx_api_stats(f.x, &st);
	CHECK_EQ_INT(st.superseded, (uint64_t)(50 - w));
	CHECK_EQ_INT(st.queued, 0);
	fixture_close(&f);
}

TEST(pod_status_retries_500_and_429_then_refuses_invalid)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char uid[64];
	REQUIRE(make_pod(&f, "p4", uid, sizeof(uid)));
	know_pod(0, "fold-p4", "p4", uid);
	CHECK(get(&f.e, "POST", "/_test/fail",
	          "{\"count\":2,\"code\":500,\"match\":\"PATCH .*/pods/p4/status\"}")
	              ->status == 200);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "r1", "fold-p4", "{\"phase\":\"Running\"}") ==
	        0);
	wait_answers(&f, 1, 15);
	REQUIRE(f.s.n == 1);
	CHECKF(f.s.a[0].ok, "after two 500s: %s", f.s.a[0].error);
	struct fx_api_stats st;
	fx_api_stats(f.x, &st);
	CHECK_EQ_INT(st.retries, 2);

	CHECK(get(&f.e, "POST", "/_test/fail",
	          "{\"count\":1,\"code\":429,\"retryAfter\":1,\"match\":\"PATCH "
	          ".*/pods/p4/status\"}")
	              ->status == 200);
	uint64_t t0 = io_reactor_now_ms(f.e.r);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "r2", "fold-p4", "{\"phase\":\"Running\"}") ==
	        0);
	wait_answers(&f, 2, 15);
	REQUIRE(f.s.n == 2);
	CHECKF(f.s.a[1].ok, "after a 429: %s", f.s.a[1].error);
	uint64_t dt = io_reactor_now_ms(f.e.r) - t0;
	CHECKF(dt >= 1000, "the retry came %llu ms later, before the Retry-After",
	       (unsigned long long)dt);

	/* 422 from the schema: permanent, with the server's message. */
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "r3", "fold-p4", "{\"phase\":5}") == 0);
	wait_answers(&f, 3, 10);
	REQUIRE(f.s.n == 3);
	CHECKF(!f.s.a[2].ok && f.s.a[2].cls == FSM_ERR_PERMANENT && strstr(f.s.a[2].error, "422"),
	       "invalid: %s", f.s.a[2].error);
	fixture_close(&f);
}

/* ---- deletes and mirror pods ---------------------------------------------------------- */

TEST(pod_delete_keeps_a_pod_of_another_uid)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char uid[64], body[256];
	REQUIRE(make_pod(&f, "p5", uid, sizeof(uid)));
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_DELETE, "d1", "x",
	                 "{\"namespace\":\"default\",\"name\":\"p5\",\"uid\":\"not-its-uid\"}") ==
	        0);
	wait_answers(&f, 1, 10);
	REQUIRE(f.s.n == 1);
	CHECK(f.s.a[0].ok);
	CHECK_EQ_STR(f.s.a[0].result, "conflict");
	CHECK(get(&f.e, "GET", "/api/v1/namespaces/default/pods/p5", NULL)->status == 200);

	snprintf(body, sizeof(body), "{\"namespace\":\"default\",\"name\":\"p5\",\"uid\":\"%s\"}",
	         uid);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_DELETE, "d2", "x", body) == 0);
	REQUIRE(dispatch(&f, FSM_CMD_API_MIRROR_DELETE, "d3", "x", body) == 0);
	wait_answers(&f, 3, 10);
	REQUIRE(f.s.n == 3);
	CHECK(f.s.a[1].ok && strcmp(f.s.a[1].cmd, "d2") == 0); /* one pod: in order */
	CHECK_EQ_STR(f.s.a[1].result, "deleted");
	CHECK(f.s.a[2].ok);
	CHECK_EQ_STR(f.s.a[2].result, "not-found");
	CHECK(get(&f.e, "GET", "/api/v1/namespaces/default/pods/p5", NULL)->status == 404);
	fixture_close(&f);
}

TEST(mirror_create_then_exists_then_invalid)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	const char *mirror =
	        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-" NODE
	        "\",\"namespace\":\"default\",\"annotations\":{\"kubernetes.io/"
	        "config.mirror\":\"abc\","
	        "\"kubernetes.io/config.source\":\"file\"}},\"spec\":{\"nodeName\":\"" NODE
	        "\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}";
	REQUIRE(dispatch(&f, FSM_CMD_API_MIRROR_CREATE, "m1", "static-web", mirror) == 0);
	REQUIRE(dispatch(&f, FSM_CMD_API_MIRROR_CREATE, "m2", "static-web", mirror) == 0);
	REQUIRE(dispatch(&f, FSM_CMD_API_MIRROR_CREATE, "m3", "static-bad",
	                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad\"},"
	                 "\"spec\":{\"containers\":\"no\"}}") == 0);
	wait_answers(&f, 3, 10);
	REQUIRE(f.s.n == 3);
	int i;
	REQUIRE(answers_of(&f.s, "m1", &i) == 1);
	CHECKF(f.s.a[i].ok && strlen(f.s.a[i].result) >= 32, "m1: %s %s", f.s.a[i].result,
	       f.s.a[i].error);
	char want[160];
	snprintf(want, sizeof(want), "\"%s\"", f.s.a[i].result);
	CHECK_EQ_STR(field_of(&f, "/api/v1/namespaces/default/pods/web-" NODE, "metadata", "uid"),
	             want);
	REQUIRE(answers_of(&f.s, "m2", &i) == 1);
	CHECK(f.s.a[i].ok);
	CHECK_EQ_STR(f.s.a[i].result, "exists");
	REQUIRE(answers_of(&f.s, "m3", &i) == 1);
	CHECKF(!f.s.a[i].ok && f.s.a[i].cls == FSM_ERR_PERMANENT, "m3: %s", f.s.a[i].error);
	fixture_close(&f);
}

/* ---- the node and its lease ----------------------------------------------------------- */

static const char *node_json(const char *label_value)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"" NODE
	         "\",\"labels\":{\"kubernetes.io/hostname\":\"" NODE "\",\"tier\":\"%s\"}}}",
	         label_value);
	return buf;
}

TEST(node_register_then_adopts_the_existing_node)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	reset_counters(&f);
	REQUIRE(dispatch(&f, FSM_CMD_API_NODE_REGISTER, "n1", "", node_json("one")) == 0);
	wait_answers(&f, 1, 10);
	REQUIRE(f.s.n == 1);
	CHECKF(f.s.a[0].ok && strlen(f.s.a[0].result) >= 32, "n1: %s", f.s.a[0].error);
	char uid[128];
	snprintf(uid, sizeof(uid), "%s", f.s.a[0].result);

	/* A restart: registering again finds it (409), reads it, patches the labels. */
	struct fx_api *x2;
	struct fx_api_config cfg = {
	        .api = f.e.k, .reactor = f.e.r, .node_name = NODE, .pod_ref = pod_ref};
	REQUIRE(fx_api_new(&x2, &cfg, (struct fx_sink){on_effect, &f.s}) == 0);
	fx_api_free(f.x);
	f.x = x2;
	REQUIRE(dispatch(&f, FSM_CMD_API_NODE_REGISTER, "n2", "", node_json("two")) == 0);
	wait_answers(&f, 2, 10);
	REQUIRE(f.s.n == 2);
	CHECKF(f.s.a[1].ok, "n2: %s", f.s.a[1].error);
	CHECK_EQ_STR(f.s.a[1].result, uid);
	const char *labels = field_of(&f, "/api/v1/nodes/" NODE, "metadata", "labels");
	CHECKF(strstr(labels, "\"tier\":\"two\"") != NULL, "labels %s", labels);
	CHECK_EQ_INT(writes(&f, "POST nodes"), 2);
	CHECK_EQ_INT(writes(&f, "PATCH nodes"), 1);

	/* Node status: conditions merge by type; the lease names the node its owner. */
	REQUIRE(dispatch(&f, FSM_CMD_API_NODE_STATUS, "ns1", "",
	                 "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":"
	                 "\"KubeletReady\",\"message\":\"ok\",\"lastHeartbeatTime\":\"2026-11-"
	                 "27T10:00:00Z\","
	                 "\"lastTransitionTime\":\"2026-11-27T10:00:00Z\"}]}") == 0);
	wait_answers(&f, 3, 10);
	REQUIRE(f.s.n == 3);
	CHECKF(f.s.a[2].ok, "ns1: %s", f.s.a[2].error);
	const char *st = field_of(&f, "/api/v1/nodes/" NODE, "status", "conditions");
	CHECKF(strstr(st, "KubeletReady") != NULL, "conditions %s", st);
	CHECK_EQ_INT(invalid_writes(&f), 0);
	fixture_close(&f);
}

static const char *lease_body(int i)
{
	static char buf[256];
	snprintf(buf, sizeof(buf),
	         "{\"holderIdentity\":\"" NODE "\",\"leaseDurationSeconds\":40,"
	         "\"renewTime\":\"2026-11-27T10:00:%02d.000000Z\"}",
	         i % 60);
	return buf;
}

TEST(lease_created_then_put_and_conflicts_read_again)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	/* The node exists (the previous test): its uid becomes the owner. */
	REQUIRE(dispatch(&f, FSM_CMD_API_NODE_REGISTER, "n", "", node_json("two")) == 0);
	wait_answers(&f, 1, 10);
	REQUIRE(f.s.n == 1 && f.s.a[0].ok);
	reset_counters(&f);
	REQUIRE(dispatch(&f, FSM_CMD_API_LEASE, "l1", "", lease_body(1)) == 0);
	wait_answers(&f, 2, 10);
	REQUIRE(f.s.n == 2);
	CHECKF(f.s.a[1].ok, "l1: %s", f.s.a[1].error);
	const char *path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" NODE;
	const char *owners = field_of(&f, path, "metadata", "ownerReferences");
	CHECKF(strstr(owners, f.s.a[0].result) != NULL, "owners %s", owners);
	REQUIRE(dispatch(&f, FSM_CMD_API_LEASE, "l2", "", lease_body(2)) == 0);
	wait_answers(&f, 3, 10);
	CHECKF(f.s.n == 3 && f.s.a[2].ok, "l2: %s", f.s.a[2].error);
	CHECK_EQ_INT(writes(&f, "POST leases"), 1);
	CHECK_EQ_INT(writes(&f, "PUT leases"), 1);
	CHECK_EQ_STR(field_of(&f, path, "spec", "renewTime"), "\"2026-11-27T10:00:02.000000Z\"");

	/* Someone else writes the lease: our copy is stale, the PUT meets 409. */
	struct answer *a = get(&f.e, "GET", path, NULL);
	struct json_object *doc = json_tokener_parse(a->body), *spec;
	REQUIRE(doc != NULL && json_object_object_get_ex(doc, "spec", &spec));
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(41));
	char put[4096];
	snprintf(put, sizeof(put), "%s", json_object_to_json_string(doc));
	json_object_put(doc);
	CHECK(get(&f.e, "PUT", path, put)->status == 200);
	reset_counters(&f);
	REQUIRE(dispatch(&f, FSM_CMD_API_LEASE, "l3", "", lease_body(3)) == 0);
	wait_answers(&f, 4, 10);
	CHECKF(f.s.n == 4 && f.s.a[3].ok, "l3: %s", f.s.a[3].error);
	CHECK_EQ_INT(writes(&f, "PUT leases"), 2); /* 409, then from a fresh read */
	CHECK_EQ_STR(field_of(&f, path, "spec", "renewTime"), "\"2026-11-27T10:00:03.000000Z\"");

	/* A storm of renewals: one write per round trip. */
	reset_counters(&f);
	char id[16];
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "lr%d", i);
		REQUIRE(dispatch(&f, FSM_CMD_API_LEASE, id, "", lease_body(10 + i)) == 0);
	}
	wait_answers(&f, 14, 10);
	CHECK_EQ_INT(f.s.n, 14);
	CHECK_EQ_INT(writes(&f, "PUT leases"), 2);
	CHECK_EQ_STR(field_of(&f, path, "spec", "renewTime"), "\"2026-11-27T10:00:19.000000Z\"");
	CHECK_EQ_INT(invalid_writes(&f), 0);
	fixture_close(&f);
}

TEST(node_status_of_a_deleted_node_is_not_found)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	CHECK(get(&f.e, "DELETE", "/api/v1/nodes/" NODE, NULL)->status == 200);
	REQUIRE(dispatch(&f, FSM_CMD_API_NODE_STATUS, "ns", "", "{\"conditions\":[]}") == 0);
	wait_answers(&f, 1, 10);
	REQUIRE(f.s.n == 1);
	CHECKF(!f.s.a[0].ok && f.s.a[0].cls == FSM_ERR_NOT_FOUND, "ns: %s", f.s.a[0].error);
	fixture_close(&f);
}

/* ---- events --------------------------------------------------------------------------- */

static const char *event_json(const char *obj, const char *reason, const char *message)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
	         "{\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"%s\","
	         "\"uid\":\"u-%s\",\"apiVersion\":\"v1\"},\"reason\":\"%s\",\"message\":\"%s\","
	         "\"type\":\"Normal\",\"time\":\"2026-11-27T10:00:00Z\"}",
	         obj, obj, reason, message);
	return buf;
}

/* The events on the server about obj: how many, and the highest count and its message. */
static int events_about(struct fixture *f, const char *obj, int *count_max, char *message,
                        size_t size)
{
	char path[256];
	snprintf(path, sizeof(path),
	         "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%%3D%s", obj);
	struct answer *a = get(&f->e, "GET", path, NULL);
	struct json_object *doc = json_tokener_parse(a->body), *items, *v;
	int n = 0;
	*count_max = 0;
	message[0] = '\0';
	if (doc != NULL && json_object_object_get_ex(doc, "items", &items)) {
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			struct json_object *it = json_object_array_get_idx(items, i);
			if (!json_object_object_get_ex(it, "involvedObject", &v) ||
			    strcmp(json_object_get_string(json_object_object_get(v, "name")),
			           obj) != 0)
				continue;
			n++;
			int c = json_object_get_int(json_object_object_get(it, "count"));
			if (c > *count_max) {
				*count_max = c;
				snprintf(message, size, "%s",
				         json_object_get_string(
				                 json_object_object_get(it, "message")));
			}
		}
	}
	json_object_put(doc);
	return n;
}

TEST(events_repeated_patch_the_count)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	for (int i = 0; i < 5; i++)
		REQUIRE(dispatch(&f, FSM_CMD_API_EVENT, "e", "",
		                 event_json("ev1", "Pulled", "pulled it")) == 0);
	CHECK_EQ_INT(f.s.n, 0);
	wait_answers(&f, 5, 10);
	wait_events_sent(&f, 2);
	for (int i = 0; i < 5; i++) {
		CHECK(f.s.a[i].ok);
		CHECK_EQ_STR(f.s.a[i].result, "queued");
	}
	int count;
	char msg[512];
	CHECK_EQ_INT(events_about(&f, "ev1", &count, msg, sizeof(msg)), 1);
	CHECK_EQ_INT(count, 5);
	CHECK_EQ_STR(msg, "pulled it");
	CHECK_EQ_INT(invalid_writes(&f), 0);

	/* A 500 on the send: retried; the event still gets there. */
	CHECK(get(&f.e, "POST", "/_test/fail",
	          "{\"count\":1,\"code\":500,\"match\":\"POST .*/events\"}")
	              ->status == 200);
	REQUIRE(dispatch(&f, FSM_CMD_API_EVENT, "e2", "",
	                 event_json("ev2", "Started", "started")) == 0);
	wait_answers(&f, 6, 10);
	wait_events_sent(&f, 3);
	CHECK_EQ_INT(events_about(&f, "ev2", &count, msg, sizeof(msg)), 1);
	fixture_close(&f);
}

TEST(events_similar_are_combined_and_a_storm_is_dropped)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	char m[64];
	for (int i = 0; i < 12; i++) {
		snprintf(m, sizeof(m), "back-off %d", i);
		REQUIRE(dispatch(&f, FSM_CMD_API_EVENT, "e", "", event_json("ev3", "BackOff", m)) ==
		        0);
	}
	wait_answers(&f, 12, 10);
	wait_events_sent(&f, 10);
	int aggregated = 0;
	for (int i = 0; i < 12; i++)
		aggregated += strcmp(f.s.a[i].result, "aggregated") == 0;
	CHECK_EQ_INT(aggregated, 3); /* the 10th distinct message on (client-go) */
	int count;
	char msg[512];
	CHECK_EQ_INT(events_about(&f, "ev3", &count, msg, sizeof(msg)), 10);
	CHECK_EQ_INT(count, 3);
	CHECK_EQ_STR(msg, "(combined from similar events): back-off 11");

	/* ev3 spent 12 of its 25 tokens: 13 more go, the rest are dropped. */
	int dropped = 0;
	for (int i = 0; i < 20; i++)
		REQUIRE(dispatch(&f, FSM_CMD_API_EVENT, "e", "",
		                 event_json("ev3", "Killing", "kill")) == 0);
	wait_answers(&f, 32, 10);
	for (int i = 12; i < 32; i++)
		dropped += strcmp(f.s.a[i].result, "dropped") == 0;
	CHECK_EQ_INT(dropped, 7);
	struct fx_api_stats st;
	fx_api_stats(f.x, &st);
	CHECK_EQ_INT(st.events_dropped, 7);
	CHECK_EQ_INT(st.events_aggregated, 3);
	CHECK_EQ_INT(invalid_writes(&f), 0);
	fixture_close(&f);
}

/* ---- the contract --------------------------------------------------------------------- */

TEST(other_kinds_bad_bodies_and_free_without_answers)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	CHECK_EQ_INT(dispatch(&f, FSM_CMD_CRI_RUN_SANDBOX, "x", "", "{}"), -ENOTSUP);
	CHECK_EQ_INT(dispatch(&f, FSM_CMD_TIMER_SET, "x", "", "{}"), -ENOTSUP);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_DELETE, "bad", "u", "not json") == 0);
	wait_answers(&f, 1, 5);
	REQUIRE(f.s.n == 1);
	CHECK(!f.s.a[0].ok && f.s.a[0].cls == FSM_ERR_PERMANENT);

	/* Requests in flight and retries waiting: freed, nothing is answered. */
	char uid[64];
	REQUIRE(make_pod(&f, "p6", uid, sizeof(uid)));
	know_pod(0, "fold-p6", "p6", uid);
	CHECK(get(&f.e, "POST", "/_test/delay", "{\"ms\":2000,\"count\":-1,\"match\":\"PATCH\"}")
	              ->status == 200);
	CHECK(get(&f.e, "POST", "/_test/fail", "{\"count\":-1,\"code\":503,\"match\":\"POST\"}")
	              ->status == 200);
	REQUIRE(dispatch(&f, FSM_CMD_API_POD_STATUS, "s", "fold-p6", "{\"phase\":\"Running\"}") ==
	        0);
	REQUIRE(dispatch(&f, FSM_CMD_API_MIRROR_CREATE, "mc", "other", pod_json("p7")) == 0);
	REQUIRE(dispatch(&f, FSM_CMD_API_EVENT, "ev", "",
	                 event_json("ev4", "Created", "created")) == 0);
	settle(&f, 300);
	CHECK_EQ_INT(f.s.n, 2); /* the event only: answered at once */
	struct fx_api_stats st;
	fx_api_stats(f.x, &st);
	CHECK_EQ_INT(st.queued, 2);
	fx_api_free(f.x);
	f.x = NULL;
	settle(&f, 100);
	CHECK_EQ_INT(f.s.n, 2);
	CHECK(get(&f.e, "POST", "/_test/fail", "{\"count\":0}")->status == 200);
	CHECK(get(&f.e, "POST", "/_test/delay", "{\"count\":0}")->status == 200);
	fixture_close(&f);
	stop_server();
}

TEST(past_the_bound_dispatch_refuses_and_nothing_answers)
{
	struct fixture f;
	REQUIRE(fixture_open(&f) == 0);
	CHECK(get(&f.e, "POST", "/_test/delay", "{\"ms\":3000,\"count\":-1,\"match\":\"DELETE\"}")
	              ->status == 200);
	const char *body = "{\"namespace\":\"default\",\"name\":\"nobody\",\"uid\":\"u\"}";
	int rc = 0;
	for (int i = 0; i < FX_API_QUEUED_MAX && rc == 0; i++)
		rc = dispatch(&f, FSM_CMD_API_POD_DELETE, "del", "one-pod", body);
	REQUIRE(rc == 0);
	CHECK_EQ_INT(dispatch(&f, FSM_CMD_API_POD_DELETE, "over", "one-pod", body), -EAGAIN);
	CHECK_EQ_INT(dispatch(&f, FSM_CMD_API_EVENT, "over", "", event_json("ev5", "A", "b")),
	             -EAGAIN);
	struct fx_api_stats st;
	fx_api_stats(f.x, &st);
	CHECK_EQ_INT(st.queued, FX_API_QUEUED_MAX);
	CHECK_EQ_INT(st.writes, 1); /* one pod: one at a time */
	settle(&f, 100);
	fx_api_free(f.x);
	f.x = NULL;
	settle(&f, 100);
	CHECK_EQ_INT(f.s.n, 0);
	CHECK(get(&f.e, "POST", "/_test/delay", "{\"count\":0}")->status == 200);
	fixture_close(&f);
}

TEST_MAIN("effects/api", T(pod_status_patches_and_drops_fields_no_longer_reported),
          T(pod_status_without_target_unknown_or_replaced_pod),
          T(pod_status_storm_coalesces_and_answers_each_once),
          T(pod_status_retries_500_and_429_then_refuses_invalid),
          T(pod_delete_keeps_a_pod_of_another_uid), T(mirror_create_then_exists_then_invalid),
          T(node_register_then_adopts_the_existing_node),
          T(lease_created_then_put_and_conflicts_read_again),
          T(node_status_of_a_deleted_node_is_not_found), T(events_repeated_patch_the_count),
          T(events_similar_are_combined_and_a_storm_is_dropped),
          T(past_the_bound_dispatch_refuses_and_nothing_answers),
          T(other_kinds_bad_bodies_and_free_without_answers))
