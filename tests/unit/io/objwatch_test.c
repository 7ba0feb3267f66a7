/*
 * objwatch_test.c — the ConfigMap and Secret reflectors against our test API
 * server: the first list's report, changes reported only when existence or
 * content changes, a cut watch resumed and a 410 relisted without a report,
 * errors retried with back-off, when_synced's turns, references and bounds.
 *
 * One server and one client serve every test (starting the server costs a
 * second); each test uses objects of its own names.
 */
#include "io/objwatch.h"

#include <json-c/json.h>

#include "api_env.h"

static struct env E;
static int env_up;

static void teardown(void)
{
	if (env_up) {
		env_close(&E);
		env_up = 0;
	}
	stop_server();
}

static int up(void)
{
	if (env_up)
		return 0;
	if (start_server() != 0 || env_open(&E, "kubeconfig", 0, 0) != 0)
		return -1;
	env_up = 1;
	atexit(teardown);
	return 0;
}

struct seen {
	int changes, retries, synced;
	struct io_objwatch_change last;
	char ns[300], name[300], rv[64], hash[32];
	uint64_t last_delay;
	char last_why[1100];
	struct io_objwatch *w;        /* for the callbacks that call back in */
	const char *unref_in_changed; /* a pod to unref from changed */
	int called_inside;            /* a callback ran inside one of our calls */
	int in_call;
};

static void on_changed(void *arg, const struct io_objwatch_change *c)
{
	struct seen *s = arg;
	s->called_inside += s->in_call;
	s->changes++;
	s->last = *c;
	snprintf(s->ns, sizeof(s->ns), "%s", c->namespace_);
	snprintf(s->name, sizeof(s->name), "%s", c->name);
	snprintf(s->rv, sizeof(s->rv), "%s", c->resource_version);
	snprintf(s->hash, sizeof(s->hash), "%s", c->hash);
	if (s->unref_in_changed != NULL)
		io_objwatch_unref_pod(s->w, s->unref_in_changed);
}

static void on_retry(void *arg, uint64_t delay_ms, const char *why)
{
	struct seen *s = arg;
	s->called_inside += s->in_call;
	s->retries++;
	s->last_delay = delay_ms;
	snprintf(s->last_why, sizeof(s->last_why), "%s", why);
}

static void on_synced(void *arg)
{
	struct seen *s = arg;
	s->called_inside += s->in_call;
	s->synced++;
}

static struct io_objwatch *watcher(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	struct io_objwatch_cb cb = {on_changed, on_retry, s};
	struct io_objwatch_config cfg = {.api = E.k, .reactor = E.r};
	struct io_objwatch *w = NULL;
	int rc = io_objwatch_new(&w, &cfg, &cb);
	CHECKF(rc == 0, "io_objwatch_new: %d", rc);
	s->w = w;
	return w;
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		io_reactor_run_once(E.r, 20);
}

static struct answer *call(const char *method, const char *path, const char *body)
{
	return get(&E, method, path, body);
}

static const char *cm_json(const char *name, const char *data, const char *labels)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
	         "\"namespace\":\"default\""
	         "%s%s},\"data\":%s}",
	         name, labels ? ",\"labels\":" : "", labels ? labels : "", data);
	return buf;
}

static void cm_create(const char *name, const char *data)
{
	struct answer *a =
	        call("POST", "/api/v1/namespaces/default/configmaps", cm_json(name, data, NULL));
	CHECKF(a->status == 201, "create %s: %ld %.300s", name, a->status, a->body);
}

static void cm_put(const char *name, const char *data, const char *labels)
{
	char path[300];
	snprintf(path, sizeof(path), "/api/v1/namespaces/default/configmaps/%s", name);
	struct answer *a = call("PUT", path, cm_json(name, data, labels));
	CHECKF(a->status == 200, "put %s: %ld %.300s", name, a->status, a->body);
}

/* FNV-1a 64, in hex, of json-c's plain text of v: what the hash must be. */
static void hash_of(const char *canonical, char out[17])
{
	json_object *v = json_tokener_parse(canonical);
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	uint64_t h = UINT64_C(14695981039346656037);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= UINT64_C(1099511628211);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	json_object_put(v);
}

static const char *data_of(json_object *obj, const char *key)
{
	json_object *d, *v;
	if (obj == NULL || !json_object_object_get_ex(obj, "data", &d) ||
	    !json_object_object_get_ex(d, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static struct io_objwatch_stats stats(struct io_objwatch *w)
{
	struct io_objwatch_stats st;
	io_objwatch_stats(w, &st);
	return st;
}

TEST(bounds_and_unknown)
{
	REQUIRE(up() == 0);
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", ""), -EINVAL);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "", "x"), -EINVAL);
	CHECK_EQ_INT(io_objwatch_ref(w, "", IO_OBJ_CONFIGMAP, "default", "x"), -EINVAL);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", (enum io_obj_kind)7, "default", "x"), -EINVAL);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_SECRET, "default", "a/b"), -EINVAL);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_SECRET, "default", "x&watch=1"), -EINVAL);
	char longname[300];
	memset(longname, 'a', 254);
	longname[254] = '\0';
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", longname), -EINVAL);
	longname[253] = '\0';
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", longname), 0);
	io_objwatch_unref_pod(w, "p");
	char err[64] = "x";
	json_object *obj = (json_object *)&s;
	CHECK_EQ_INT(
	        io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "nope", &obj, err, sizeof(err)),
	        IO_OBJ_UNKNOWN);
	CHECK(obj == NULL && err[0] == '\0');
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "nope", on_synced, &s,
	                                     NULL),
	             -ENOENT);
	io_objwatch_unref_pod(w, "nobody");
	CHECK_EQ_STR(io_obj_kind_name(IO_OBJ_CONFIGMAP), "ConfigMap");
	CHECK_EQ_STR(io_obj_kind_name(IO_OBJ_SECRET), "Secret");
	struct io_objwatch_stats st = stats(w);
	CHECK(st.objects == 0 && st.refs == 0 && st.changes == 0);
	io_objwatch_free(w);
	io_objwatch_free(NULL);

	/* IO_OBJWATCH_OBJECTS_MAX: a client whose rate limit holds every list back, so
	 * the bound is reached without asking the server 4096 times */
	struct kapi *slow = NULL;
	struct kapi_config kcfg = {.kubeconfig = &E.kc,
	                           .multi = E.multi,
	                           .reactor = E.r,
	                           .timer_id = (1u << 30) + 1,
	                           .qps = 0.001,
	                           .burst = 1,
	                           .user_agent = "slow"};
	REQUIRE(kapi_new(&slow, &kcfg) == 0);
	struct io_objwatch_cb cb = {on_changed, on_retry, &s};
	struct io_objwatch_config cfg = {.api = slow, .reactor = E.r};
	REQUIRE(io_objwatch_new(&w, &cfg, &cb) == 0);
	int bad = 0;
	for (int i = 0; i < IO_OBJWATCH_OBJECTS_MAX; i++) {
		char name[32];
		snprintf(name, sizeof(name), "o%d", i);
		bad += io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", name) != 0;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", "one-more"), -ENOSPC);
	CHECK_EQ_INT(io_objwatch_ref(w, "q", IO_OBJ_CONFIGMAP, "default", "o7"),
	             0); /* a known object: fine */
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", "o7"),
	             0); /* idempotent */
	st = stats(w);
	CHECK_EQ_INT(st.objects, IO_OBJWATCH_OBJECTS_MAX);
	CHECK_EQ_INT(st.refs, IO_OBJWATCH_OBJECTS_MAX + 1);
	io_objwatch_unref_pod(w, "q");
	io_objwatch_unref_pod(w, "p");
	st = stats(w);
	CHECK(st.objects == 0 && st.refs == 0);
	CHECK_EQ_INT(io_objwatch_ref(w, "p", IO_OBJ_CONFIGMAP, "default", "one-more"), 0);
	io_objwatch_free(w);
	kapi_free(slow);
	CHECK_EQ_INT(s.called_inside, 0);
}

TEST(first_list_reports_present_object)
{
	REQUIRE(up() == 0);
	/* a slash: json-c's plain text escapes it, and so must the hash */
	cm_create("present", "{\"b\":\"x/y\",\"a\":\"1\"}");
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	s.in_call = 1;
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "present"), 0);
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "present", on_synced,
	                                     &s, NULL),
	             0);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "present", NULL, NULL, 0),
	             IO_OBJ_PENDING);
	s.in_call = 0;
	run_until(&E, &s.synced, 1, 10);
	CHECK_EQ_INT(s.synced, 1);
	CHECK_EQ_INT(s.changes, 1);
	char want[17];
	hash_of("{\"data\":{\"a\":\"1\",\"b\":\"x/y\"}}", want);
	CHECK(s.last.exists);
	CHECK_EQ_INT(s.last.kind, IO_OBJ_CONFIGMAP);
	CHECK_EQ_STR(s.ns, "default");
	CHECK_EQ_STR(s.name, "present");
	CHECK_EQ_STR(s.hash, want);
	CHECK(s.rv[0] != '\0');

	json_object *obj = NULL;
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "present", &obj, NULL, 0),
	             IO_OBJ_PRESENT);
	CHECK(data_of(obj, "a") != NULL && strcmp(data_of(obj, "a"), "1") == 0);
	json_object *kind;
	CHECK(obj != NULL && json_object_object_get_ex(obj, "kind", &kind) &&
	      strcmp(json_object_get_string(kind), "ConfigMap") == 0);

	/* already synced: called on the next turn, once, never inside the call */
	s.in_call = 1;
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "present", on_synced,
	                                     &s, NULL),
	             0);
	uint64_t id = 0;
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "present", on_synced,
	                                     &s, &id),
	             0);
	io_objwatch_cancel_wait(w, id);
	s.in_call = 0;
	CHECK_EQ_INT(s.synced, 1);
	io_reactor_run_once(E.r, 0);
	CHECK_EQ_INT(s.synced, 2);
	turns(10);
	CHECK_EQ_INT(s.synced, 2);
	CHECK_EQ_INT(s.changes, 1);
	struct io_objwatch_stats st = stats(w);
	CHECK(st.objects == 1 && st.refs == 1 && st.lists == 1 && st.watches == 1 &&
	      st.changes == 1);
	CHECK_EQ_INT(s.called_inside, 0);
	io_objwatch_free(w);
}

TEST(absent_then_created_updated_relabelled_deleted)
{
	REQUIRE(up() == 0);
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "life"), 0);
	run_until(&E, &s.changes, 1, 10);
	CHECK(s.changes == 1 && !s.last.exists);
	CHECK_EQ_STR(s.rv, "");
	CHECK_EQ_STR(s.hash, "");
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "life", NULL, NULL, 0),
	             IO_OBJ_ABSENT);
	turns(5); /* the watch is open */

	cm_create("life", "{\"k\":\"v1\"}");
	run_until(&E, &s.changes, 2, 10);
	CHECK(s.changes == 2 && s.last.exists);
	char h1[32];
	snprintf(h1, sizeof(h1), "%s", s.hash);
	CHECK_EQ_INT(strlen(h1), 16);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "life", NULL, NULL, 0),
	             IO_OBJ_PRESENT);

	cm_put("life", "{\"k\":\"v2\"}", NULL);
	run_until(&E, &s.changes, 3, 10);
	CHECK(s.changes == 3 && s.last.exists && strcmp(s.hash, h1) != 0);
	char h2[32];
	snprintf(h2, sizeof(h2), "%s", s.hash);

	/* a label only: the cache has it, nobody is told */
	cm_put("life", "{\"k\":\"v2\"}", "{\"team\":\"x\"}");
	int seen_label = 0;
	for (int i = 0; i < 250 && !seen_label; i++) {
		io_reactor_run_once(E.r, 20);
		json_object *obj = NULL, *md, *labels;
		if (io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "life", &obj, NULL, 0) ==
		            IO_OBJ_PRESENT &&
		    json_object_object_get_ex(obj, "metadata", &md) &&
		    json_object_object_get_ex(md, "labels", &labels))
			seen_label = 1;
	}
	CHECK(seen_label);
	turns(10);
	CHECK_EQ_INT(s.changes, 3);

	struct answer *a = call("DELETE", "/api/v1/namespaces/default/configmaps/life", NULL);
	CHECKF(a->status == 200, "delete: %ld", a->status);
	run_until(&E, &s.changes, 4, 10);
	CHECK(s.changes == 4 && !s.last.exists);
	CHECK_EQ_STR(s.hash, "");
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "life", NULL, NULL, 0),
	             IO_OBJ_ABSENT);
	CHECK_EQ_INT(stats(w).lists, 1);
	CHECK_EQ_INT(s.called_inside, 0);
	io_objwatch_free(w);
}

TEST(cut_watch_resumes_and_410_relists_quietly)
{
	REQUIRE(up() == 0);
	cm_create("steady", "{\"k\":\"v\"}");
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "steady"), 0);
	run_until(&E, &s.changes, 1, 10);
	CHECK_EQ_INT(s.changes, 1);
	turns(5);

	/* cut: resumed from the last resourceVersion, no list, no report */
	call("POST", "/_test/drop-watches", "{}");
	run_until(&E, &s.retries, 1, 5);
	CHECKF(s.retries == 1 &&
	               strstr(s.last_why, "couldn't watch configmap default/steady") != NULL,
	       "%d %s", s.retries, s.last_why);
	for (int i = 0; i < 100 && stats(w).watches < 2; i++)
		io_reactor_run_once(E.r, 20);
	turns(10);
	struct io_objwatch_stats st = stats(w);
	CHECK(st.watches == 2 && st.lists == 1);
	CHECK_EQ_INT(s.changes, 1);
	/* the resumed watch works */
	cm_put("steady", "{\"k\":\"v2\"}", NULL);
	run_until(&E, &s.changes, 2, 10);
	CHECK_EQ_INT(s.changes, 2);

	/* 410: the history is gone: a list, which finds the same content: no report */
	call("POST", "/_test/drop-watches", "{}");
	cm_create("filler", "{}");
	call("POST", "/_test/compact", "{\"keep\":0}");
	for (int i = 0; i < 150 && stats(w).lists < 2; i++)
		io_reactor_run_once(E.r, 20);
	turns(10);
	st = stats(w);
	CHECKF(st.lists == 2 && st.watches >= 4, "lists %llu watches %llu",
	       (unsigned long long)st.lists, (unsigned long long)st.watches);
	CHECK_EQ_INT(s.changes, 2);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "steady", NULL, NULL, 0),
	             IO_OBJ_PRESENT);
	/* and the watch after the list works */
	cm_put("steady", "{\"k\":\"v3\"}", NULL);
	run_until(&E, &s.changes, 3, 10);
	CHECK(s.changes == 3 && s.last.exists);
	CHECK_EQ_INT(s.called_inside, 0);
	io_objwatch_free(w);
}

TEST(list_errors_retry_with_back_off)
{
	REQUIRE(up() == 0);
	cm_create("flaky", "{\"k\":\"v\"}");
	call("POST", "/_test/fail",
	     "{\"count\":1,\"code\":500,\"match\":\"configmaps\\\\?fieldSelector=metadata.name%"
	     "3Dflaky$\"}");
	call("POST", "/_test/fail",
	     "{\"count\":1,\"code\":403,\"retryAfter\":2,\"message\":\"configmaps \\\"flaky\\\" is "
	     "forbidden: test\","
	     "\"match\":\"configmaps\\\\?fieldSelector=metadata.name%3Dflaky$\"}");
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "flaky"), 0);
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "flaky", on_synced, &s,
	                                     NULL),
	             0);
	run_until(&E, &s.retries, 1, 10);
	CHECKF(s.retries == 1 &&
	               strstr(s.last_why, "couldn't get configmap default/flaky: HTTP 500") != NULL,
	       "%d: %s", s.retries, s.last_why);
	CHECKF(s.last_delay >= 600 && s.last_delay <= 1000, "delay %llu",
	       (unsigned long long)s.last_delay);
	char err[1100];
	CHECK_EQ_INT(
	        io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "flaky", NULL, err, sizeof(err)),
	        IO_OBJ_ERROR);
	CHECKF(strncmp(err, "couldn't get configmap default/flaky: HTTP 500", 46) == 0, "%s", err);
	/* a failed list is an answer for when_synced */
	run_until(&E, &s.synced, 1, 2);
	CHECK_EQ_INT(s.synced, 1);
	CHECK_EQ_INT(s.changes, 0);

	run_until(&E, &s.retries, 2, 10);
	CHECKF(s.retries == 2 &&
	               strstr(s.last_why, "HTTP 403: configmaps \"flaky\" is forbidden: test") !=
	                       NULL,
	       "%d: %s", s.retries, s.last_why);
	CHECKF(s.last_delay >= 2000, "Retry-After: delay %llu", (unsigned long long)s.last_delay);
	CHECK_EQ_INT(
	        io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "flaky", NULL, err, sizeof(err)),
	        IO_OBJ_ERROR);
	CHECKF(strstr(err, "forbidden") != NULL, "%s", err);

	run_until(&E, &s.changes, 1, 10);
	CHECK(s.changes == 1 && s.last.exists);
	err[0] = 'x';
	CHECK_EQ_INT(
	        io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "flaky", NULL, err, sizeof(err)),
	        IO_OBJ_PRESENT);
	CHECK_EQ_INT(err[0], '\0');
	CHECK_EQ_INT(stats(w).lists, 3);
	CHECK_EQ_INT(s.synced, 1);
	CHECK_EQ_INT(s.called_inside, 0);
	io_objwatch_free(w);
	call("POST", "/_test/fail", "{\"count\":0}");
}

TEST(secret_is_watched_and_hashed)
{
	REQUIRE(up() == 0);
	struct answer *a = call("POST", "/api/v1/namespaces/default/secrets",
	                        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
	                        "\"s1\"},\"immutable\":false,"
	                        "\"data\":{\"pw\":\"c2VjcmV0\"}}");
	CHECKF(a->status == 201, "%ld %.300s", a->status, a->body);
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_SECRET, "default", "s1"), 0);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "s1"),
	             0); /* another object */
	run_until(&E, &s.changes, 2, 10);
	CHECK_EQ_INT(s.changes, 2);
	char want[17];
	hash_of("{\"data\":{\"pw\":\"c2VjcmV0\"},\"immutable\":false}", want);
	json_object *obj = NULL;
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_SECRET, "default", "s1", &obj, NULL, 0),
	             IO_OBJ_PRESENT);
	CHECK(data_of(obj, "pw") != NULL && strcmp(data_of(obj, "pw"), "c2VjcmV0") == 0);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "s1", NULL, NULL, 0),
	             IO_OBJ_ABSENT);
	/* the secret's report: find it among the two */
	a = call("PUT", "/api/v1/namespaces/default/secrets/s1",
	         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\"},"
	         "\"immutable\":false,"
	         "\"data\":{\"pw\":\"b3RoZXI=\"}}");
	CHECKF(a->status == 200, "%ld %.300s", a->status, a->body);
	run_until(&E, &s.changes, 3, 10);
	CHECK(s.changes == 3 && s.last.kind == IO_OBJ_SECRET && s.last.exists);
	hash_of("{\"data\":{\"pw\":\"b3RoZXI=\"},\"immutable\":false}", want);
	CHECK_EQ_STR(s.hash, want);
	CHECK_EQ_INT(stats(w).objects, 2);
	io_objwatch_free(w);
}

static int watches_on(const char *name)
{
	struct answer *a = call("GET", "/_test/info", NULL);
	char needle[128];
	snprintf(needle, sizeof(needle), "metadata.name%%3D%s&", name);
	int n = 0;
	for (const char *p = a->body; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

TEST(shared_object_one_reflector_until_last_unref)
{
	REQUIRE(up() == 0);
	cm_create("shared", "{\"k\":\"v\"}");
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "shared"), 0);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-b", IO_OBJ_CONFIGMAP, "default", "shared"), 0);
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-a", IO_OBJ_CONFIGMAP, "default", "shared"), 0);
	struct io_objwatch_stats st = stats(w);
	CHECK(st.objects == 1 && st.refs == 2 && st.lists == 1);
	run_until(&E, &s.changes, 1, 10);
	CHECK_EQ_INT(s.changes, 1);
	for (int i = 0; i < 50 && watches_on("shared") < 1; i++)
		turns(2);
	CHECK_EQ_INT(watches_on("shared"), 1);

	io_objwatch_unref_pod(w, "pod-a");
	st = stats(w);
	CHECK(st.objects == 1 && st.refs == 1);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "shared", NULL, NULL, 0),
	             IO_OBJ_PRESENT);

	/* a wait that never comes true: dropped with its object, uncalled */
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-b", IO_OBJ_CONFIGMAP, "default", "never-listed"), 0);
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "never-listed",
	                                     on_synced, &s, NULL),
	             0);
	io_objwatch_unref_pod(w, "pod-b");
	st = stats(w);
	CHECK(st.objects == 0 && st.refs == 0);
	CHECK_EQ_INT(io_objwatch_get(w, IO_OBJ_CONFIGMAP, "default", "shared", NULL, NULL, 0),
	             IO_OBJ_UNKNOWN);
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "shared", on_synced,
	                                     &s, NULL),
	             -ENOENT);
	cm_put("shared", "{\"k\":\"v2\"}", NULL);
	int open = 1;
	for (int i = 0; i < 40 && open > 0; i++) {
		turns(5);
		open = watches_on("shared");
	}
	CHECK_EQ_INT(open, 0);
	CHECK_EQ_INT(s.changes, 1);
	CHECK_EQ_INT(s.synced, 0);
	io_objwatch_free(w);
}

TEST(changed_callback_may_forget_its_object)
{
	REQUIRE(up() == 0);
	cm_create("fleeting", "{\"k\":\"v\"}");
	struct seen s;
	struct io_objwatch *w = watcher(&s);
	REQUIRE(w != NULL);
	s.unref_in_changed = "pod-f";
	CHECK_EQ_INT(io_objwatch_ref(w, "pod-f", IO_OBJ_CONFIGMAP, "default", "fleeting"), 0);
	CHECK_EQ_INT(io_objwatch_when_synced(w, IO_OBJ_CONFIGMAP, "default", "fleeting", on_synced,
	                                     &s, NULL),
	             0);
	run_until(&E, &s.changes, 1, 10);
	turns(5);
	CHECK_EQ_INT(s.changes, 1);
	CHECK_EQ_STR(s.name, "fleeting");
	CHECK_EQ_INT(s.synced, 0); /* its wait went with it */
	CHECK_EQ_INT(stats(w).objects, 0);
	io_objwatch_free(w);
}

TEST_MAIN("io/objwatch", T(bounds_and_unknown), T(first_list_reports_present_object),
          T(absent_then_created_updated_relabelled_deleted),
          T(cut_watch_resumes_and_410_relists_quietly), T(list_errors_retry_with_back_off),
          T(secret_is_watched_and_hashed), T(shared_object_one_reflector_until_last_unref),
          T(changed_callback_may_forget_its_object))
