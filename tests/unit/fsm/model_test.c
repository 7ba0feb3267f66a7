/*
 * tests/unit/fsm/model_test.c — decoding a Pod (fsm/model.c) and quantities
 * (fsm/quantity.c).
 *
 * The expectations come from upstream Kubernetes where it has them: the API's
 * defaults (pkg/apis/core/v1/defaults.go, pkg/util/parsers), the QoS table of
 * pkg/apis/core/v1/helper/qos/qos_test.go, the effective-request cases of
 * staging/src/k8s.io/component-helpers/resource/helpers_test.go and the
 * quantity cases of staging/src/k8s.io/apimachinery/pkg/api/resource/
 * quantity_test.go. JSON in this file is written with single quotes, which
 * the helpers turn into double quotes before decoding.
 */
#include "fsm/model.h"
#include "test.h"

#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <stdarg.h>
#include <stdlib.h>

#define COUNT(a)       (sizeof(a) / sizeof((a)[0]))
#define JSON_BYTES_MAX (256 * 1024)

static char err[512];

/* fmt (single-quoted JSON) formatted, with ' turned into ". Owned by the caller. */
static char *jsonf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *jsonf(const char *fmt, ...)
{
	char *buf = malloc(JSON_BYTES_MAX);
	if (buf == NULL)
		abort();
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, JSON_BYTES_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= JSON_BYTES_MAX)
		abort();
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return buf;
}

static bool spec_is_empty(const struct fsm_pod_spec *s)
{
	static const struct fsm_pod_spec zero;
	return memcmp(s, &zero, sizeof(zero)) == 0;
}

/* Decodes single-quoted JSON into spec; err holds the message on -1. */
static int decode(struct fsm_pod_spec *spec, const char *q)
{
	char *json = jsonf("%s", q);
	err[0] = '\0';
	int rc = fsm_pod_decode(json, strlen(json), spec, err, sizeof(err));
	free(json);
	return rc;
}

/* A pod named p around the given spec members (single quotes). */
#define POD(spec_members)                                                                          \
	"{'kind':'Pod','apiVersion':'v1','metadata':{'name':'p','namespace':'ns','uid':'u-1'},"    \
	"'spec':{" spec_members "}}"
#define ONE(container_members)                                                                     \
	POD("'containers':[{'name':'c','image':'busybox'" container_members "}]")

/* Decoding fails, with a message holding want, and leaves the spec zeroed. */
static void expect_error_at(const char *file, int line, const char *q, const char *want)
{
	struct fsm_pod_spec spec;
	memset(&spec, 0x5a, sizeof(spec)); /* the decoder must not rely on a zeroed spec */
	int rc = decode(&spec, q);
	if (rc != -1)
		test_fail(file, line, "decoded, want error \"%s\": %s", want, q);
	else if (strstr(err, want) == NULL)
		test_fail(file, line, "error \"%s\" does not hold \"%s\"", err, want);
	if (!spec_is_empty(&spec))
		test_fail(file, line, "spec not zeroed after an error");
	if (rc == 0)
		fsm_pod_spec_free(&spec);
}
#define EXPECT_ERROR(q, want) expect_error_at(__FILE__, __LINE__, q, want)

/* ---- quantities -------------------------------------------------------------------------- */

TEST(test_quantity_milli_as_upstream_parses)
{
	static const struct {
		const char *in;
		int64_t milli;
	} cases[] = {
	        {"100m", 100},
	        {"1", 1000},
	        {"1.5", 1500},
	        {"0.1", 100},
	        {"0", 0},
	        {"0m", 0},
	        {"3m", 3},
	        {"9", 9000},
	        {"0.001", 1},
	        {"0.005", 5},
	        {"0.5", 500},
	        {"0.5e0", 500},
	        {"0.5e-1", 50},
	        {"0.5e-2", 5},
	        {"9.01", 9010},
	        {"1E-3", 1},
	        {"1e3", 1000000},
	        {".001", 1},
	        {"1.", 1000},
	        {"+1", 1000},
	        {"-9.01", -9010},
	        {"-100m", -100},
	        {"100.035k", 100035000},
	        /* Rounded up to the next millicore, as the API's defaulting rounds
	         * every resource list (SetDefaults_ResourceList, RoundUp(-3)). */
	        {"0.0001", 1},
	        {"5n", 1},
	        {"4u", 1},
	        {"3.001n", 1},
	        {"0.0000000001", 1},
	        {"1.0001", 1001},
	        {"-0.0001", -1},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		int64_t v = -12345;
		CHECKF(fsm_quantity_milli(cases[i].in, &v) == 0, "%s did not parse", cases[i].in);
		CHECKF(v == cases[i].milli, "%s: %lld millis, want %lld", cases[i].in, (long long)v,
		       (long long)cases[i].milli);
	}
}

TEST(test_quantity_bytes_as_upstream_parses)
{
	static const struct {
		const char *in;
		int64_t bytes;
	} cases[] = {
	        {"1Ki", 1024},
	        {"8Ki", 8 * 1024},
	        {"1Mi", 1048576},
	        {"7Mi", 7LL * 1024 * 1024},
	        {"1Gi", 1073741824},
	        {"6Gi", 6LL * 1024 * 1024 * 1024},
	        {"5Ti", 5LL * 1024 * 1024 * 1024 * 1024},
	        {"4Pi", 4LL * 1024 * 1024 * 1024 * 1024 * 1024},
	        {"3Ei", 3LL * 1024 * 1024 * 1024 * 1024 * 1024 * 1024},
	        {"500Mi", 500LL * 1024 * 1024},
	        {"1k", 1000},
	        {"8k", 8000},
	        {"50k", 50000},
	        {"1M", 1000000},
	        {"7M", 7000000},
	        {"6G", 6000000000LL},
	        {"5T", 5000000000000LL},
	        {"2P", 2000000000000000LL},
	        {"1E", 1000000000000000000LL},
	        {"1e3", 1000},
	        {"1E3", 1000},
	        {"1E6", 1000000},
	        {"1e9", 1000000000},
	        {"1.2e3", 1200},
	        {"1.3E+6", 1300000},
	        {"1.40e9", 1400000000},
	        {"8.1k", 8100},
	        {"7.123456M", 7123456},
	        {"10.035M", 10035000},
	        {"0.5Mi", 524288},
	        {"100.035Ki", 102436}, /* 102435.84 rounds up */
	        {"0.05Gi", 53687092},  /* 53687091.2 */
	        {"0.025Ti", 27487790695},
	        {"1.G", 1000000000},
	        {"0.5", 1}, /* a byte is the smallest unit: rounds up */
	        {"0.000000000001Ki", 1},
	        {"128974848", 128974848},
	        {"129e6", 129000000},
	        {"123Mi", 128974848},
	        /* Past int64: saturates (upstream caps binary ones at 2^63-1 too). */
	        {"9Ei", INT64_MAX},
	        {"9223372036854775807Ki", INT64_MAX},
	        {"12E", INT64_MAX},
	        {"9223372036854775807", INT64_MAX},
	        {"1e100000000", INT64_MAX},
	        {"1e-100000000", 1},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		int64_t v = -12345;
		CHECKF(fsm_quantity_bytes(cases[i].in, &v) == 0, "%s did not parse", cases[i].in);
		CHECKF(v == cases[i].bytes, "%s: %lld bytes, want %lld", cases[i].in, (long long)v,
		       (long long)cases[i].bytes);
	}
}

TEST(test_quantity_malformed_is_rejected)
{
	static const char *const bad[] = {
	        "1Qi",
	        "",
	        "abc",
	        "1..2",
	        "-",
	        "+",
	        ".",
	        "-.",
	        /* quantity_test.go's invalid list */
	        "1.1.M",
	        "1+1.0M",
	        "0.1mi",
	        "0.1am",
	        "aoeu",
	        ".5i",
	        "1i",
	        "-3.01i",
	        "-3.01e-",
	        " 1",
	        "1 ",
	        /* and more malformed spellings */
	        "1K",
	        "1ki",
	        "1KiB",
	        "1Z",
	        "1e",
	        "1e+",
	        "1e1.5",
	        "1e3k",
	        "1E3Ki",
	        "1e+-3",
	        "1-",
	        "++1",
	        "1,5",
	        "1_000",
	        "0x10",
	        "Inf",
	        "NaN",
	        "1e99999999999999999999",
	        "m",
	        "Ki",
	};
	for (size_t i = 0; i < COUNT(bad); i++) {
		int64_t v = 7;
		CHECKF(fsm_quantity_milli(bad[i], &v) == -1, "\"%s\" parsed as %lld millis", bad[i],
		       (long long)v);
		CHECKF(fsm_quantity_bytes(bad[i], &v) == -1, "\"%s\" parsed as %lld bytes", bad[i],
		       (long long)v);
	}
	int64_t v;
	char longq[FSM_QUANTITY_BYTES_MAX + 2];
	memset(longq, '1', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	CHECK(fsm_quantity_bytes(longq, &v) == -1);
	longq[FSM_QUANTITY_BYTES_MAX] = '\0'; /* exactly at the limit: parses, saturated */
	CHECK(fsm_quantity_bytes(longq, &v) == 0 && v == INT64_MAX);
	CHECK(fsm_quantity_bytes(NULL, &v) == -1);
}

/* ---- defaults ---------------------------------------------------------------------------- */

TEST(test_pod_defaults)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s, "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':"
	                   "'busybox','ports':[{'containerPort':80}]}]}}") == 0);
	CHECK_EQ_STR(s.name, "p");
	CHECK_EQ_STR(s.namespace_, "default");
	CHECK_EQ_STR(s.uid, "");
	CHECK_EQ_STR(s.resource_version, "");
	CHECK_EQ_STR(s.node_name, "");
	CHECK_EQ_INT(s.restart_policy, FSM_RESTART_ALWAYS);
	CHECK_EQ_INT(s.grace_s, 30);
	CHECK_EQ_INT(s.active_deadline_s, -1);
	CHECK_EQ_INT(s.deletion_wall_ms, 0);
	CHECK_EQ_INT(s.deletion_grace_s, -1);
	CHECK(!s.is_static);
	CHECK(!s.host_network);
	CHECK_EQ_INT(s.priority, 0);
	CHECK_EQ_INT(s.qos, FSM_QOS_BEST_EFFORT);
	REQUIRE(s.ncontainers == 1);
	const struct fsm_container_spec *c = &s.containers[0];
	CHECK_EQ_INT(c->pull_policy, FSM_PULL_ALWAYS);
	CHECK(!c->init && !c->sidecar);
	CHECK_EQ_INT(c->liveness.kind, FSM_HANDLER_NONE);
	CHECK_EQ_INT(c->res.cpu_request_milli, -1);
	CHECK_EQ_INT(c->res.memory_limit_bytes, -1);
	CHECK_EQ_INT(c->res.ephemeral_request_bytes, -1);
	REQUIRE(c->nports == 1);
	CHECK_EQ_STR(c->ports[0].protocol, "TCP");
	CHECK_EQ_INT(c->ports[0].host_port, 0);
	CHECK_EQ_STR(c->ports[0].host_ip, "");
	CHECK_EQ_STR(c->ports[0].name, "");
	fsm_pod_spec_free(&s);
	CHECK(spec_is_empty(&s));
}

TEST(test_pull_policy_defaults_follow_the_image_tag)
{
	static const struct {
		const char *image;
		enum fsm_pull_policy want;
	} cases[] = {
	        {"busybox", FSM_PULL_ALWAYS},
	        {"busybox:latest", FSM_PULL_ALWAYS},
	        {"busybox:1.36", FSM_PULL_IF_NOT_PRESENT},
	        {"127.0.0.1:5000/busybox", FSM_PULL_ALWAYS}, /* a registry port is no tag */
	        {"127.0.0.1:5000/busybox:1", FSM_PULL_IF_NOT_PRESENT},
	        {"127.0.0.1:5000/busybox:latest", FSM_PULL_ALWAYS},
	        {"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	         FSM_PULL_IF_NOT_PRESENT},
	        {"busybox:latest@sha256:"
	         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
	         "cdef",
	         FSM_PULL_ALWAYS},
	        {"docker.io/library/busybox", FSM_PULL_ALWAYS},
	        {"localhost/x/y:v1", FSM_PULL_IF_NOT_PRESENT},
	        {"registry.example.com:443/team/app", FSM_PULL_ALWAYS},
	        {"Registry.Example.com/app", FSM_PULL_ALWAYS},
	        /* references ParseImageName rejects: IfNotPresent, as upstream ignores the error */
	        {"BusyBox", FSM_PULL_IF_NOT_PRESENT},
	        {"busybox:", FSM_PULL_IF_NOT_PRESENT},
	        {"busybox:-x", FSM_PULL_IF_NOT_PRESENT},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct fsm_pod_spec s;
		char *q = jsonf(POD("'containers':[{'name':'c','image':'%s'}]"), cases[i].image);
		int rc = fsm_pod_decode(q, strlen(q), &s, err, sizeof(err));
		free(q);
		CHECKF(rc == 0, "%s: %s", cases[i].image, err);
		if (rc != 0)
			continue;
		CHECKF(s.containers[0].pull_policy == cases[i].want, "%s: pull policy %d, want %d",
		       cases[i].image, (int)s.containers[0].pull_policy, (int)cases[i].want);
		fsm_pod_spec_free(&s);
	}
	/* An explicit policy wins. */
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               POD("'containers':[{'name':'a','image':'busybox','imagePullPolicy':"
	                   "'Never'},{'name':'b','image':'busybox:1','imagePullPolicy':'Always'},"
	                   "{'name':'c','image':'busybox','imagePullPolicy':'IfNotPresent'}]")) ==
	        0);
	CHECK_EQ_INT(s.containers[0].pull_policy, FSM_PULL_NEVER);
	CHECK_EQ_INT(s.containers[1].pull_policy, FSM_PULL_ALWAYS);
	CHECK_EQ_INT(s.containers[2].pull_policy, FSM_PULL_IF_NOT_PRESENT);
	fsm_pod_spec_free(&s);
}

TEST(test_pod_fields_decode)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               "{'kind':'Pod','metadata':{'name':'web-0','namespace':'prod','uid':"
	               "'0b6f-11','resourceVersion':'4242','generation':3},'spec':{'nodeName':"
	               "'node-a','restartPolicy':'OnFailure','terminationGracePeriodSeconds':5,"
	               "'activeDeadlineSeconds':600,'hostNetwork':true,'priority':-7,"
	               "'containers':[{'name':'c','image':'busybox:1','ports':[{'containerPort':"
	               "8080,'protocol':'UDP','hostIP':'10.0.0.1','name':'http'},{'containerPort':"
	               "9090,'hostPort':19090}]}]}}") == 0);
	CHECK_EQ_STR(s.name, "web-0");
	CHECK_EQ_STR(s.namespace_, "prod");
	CHECK_EQ_STR(s.uid, "0b6f-11");
	CHECK_EQ_STR(s.resource_version, "4242");
	CHECK_EQ_INT(s.generation, 3);
	CHECK_EQ_STR(s.node_name, "node-a");
	CHECK_EQ_INT(s.restart_policy, FSM_RESTART_ON_FAILURE);
	CHECK_EQ_INT(s.grace_s, 5);
	CHECK_EQ_INT(s.active_deadline_s, 600);
	CHECK(s.host_network);
	CHECK_EQ_INT(s.priority, -7);
	REQUIRE(s.containers[0].nports == 2);
	const struct fsm_port *p = s.containers[0].ports;
	CHECK_EQ_INT(p[0].container_port, 8080);
	CHECK_EQ_INT(p[0].host_port,
	             8080); /* hostNetwork: a port is a host port (SetDefaults_Pod) */
	CHECK_EQ_STR(p[0].protocol, "UDP");
	CHECK_EQ_STR(p[0].host_ip, "10.0.0.1");
	CHECK_EQ_STR(p[0].name, "http");
	CHECK_EQ_INT(p[1].host_port, 19090);
	CHECK_EQ_STR(p[1].protocol, "TCP");
	fsm_pod_spec_free(&s);

	/* Never; a negative grace period is 1, as the API server's pod strategy makes it. */
	REQUIRE(decode(&s, POD("'restartPolicy':'Never','terminationGracePeriodSeconds':-5,"
	                       "'containers':[{'name':'c','image':'i'}]")) == 0);
	CHECK_EQ_INT(s.restart_policy, FSM_RESTART_NEVER);
	CHECK_EQ_INT(s.grace_s, 1);
	fsm_pod_spec_free(&s);

	/* null reads as unset, as the API's decoder reads it. */
	REQUIRE(decode(&s, "{'metadata':{'name':'p','namespace':null},'spec':{'nodeName':null,"
	                   "'restartPolicy':null,'initContainers':null,'containers':[{'name':'c',"
	                   "'image':'i','ports':null,'livenessProbe':null}]},'status':null}") == 0);
	CHECK_EQ_STR(s.namespace_, "default");
	CHECK_EQ_INT(s.restart_policy, FSM_RESTART_ALWAYS);
	CHECK_EQ_INT(s.ninit, 0);
	fsm_pod_spec_free(&s);
}

/* ---- probes and hooks -------------------------------------------------------------------- */

TEST(test_probes_and_their_defaults)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s, ONE(",'livenessProbe':{'httpGet':{'path':'/healthz','port':8080}},"
	                       "'readinessProbe':{'tcpSocket':{'port':80},'initialDelaySeconds':2,"
	                       "'periodSeconds':3,'timeoutSeconds':4,'successThreshold':5,"
	                       "'failureThreshold':6},'startupProbe':{'exec':{'command':['true']},"
	                       "'terminationGracePeriodSeconds':7,'failureThreshold':30}")) == 0);
	const struct fsm_container_spec *c = &s.containers[0];
	const struct fsm_handler *l = &c->liveness, *r = &c->readiness, *st = &c->startup;
	CHECK_EQ_INT(l->kind, FSM_HANDLER_HTTP_GET);
	CHECK_EQ_INT(l->initial_delay_s, 0);
	CHECK_EQ_INT(l->period_s, 10);
	CHECK_EQ_INT(l->timeout_s, 1);
	CHECK_EQ_INT(l->success_threshold, 1);
	CHECK_EQ_INT(l->failure_threshold, 3);
	CHECK_EQ_INT(l->termination_grace_s, -1);
	CHECK_EQ_STR(l->json, "{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080}}");
	CHECK_EQ_INT(l->json_len, strlen(l->json));
	CHECK_EQ_INT(r->kind, FSM_HANDLER_TCP_SOCKET);
	CHECK_EQ_INT(r->initial_delay_s, 2);
	CHECK_EQ_INT(r->period_s, 3);
	CHECK_EQ_INT(r->timeout_s, 4);
	CHECK_EQ_INT(r->success_threshold, 5); /* readiness may ask for more than one */
	CHECK_EQ_INT(r->failure_threshold, 6);
	CHECK_EQ_INT(st->kind, FSM_HANDLER_EXEC);
	CHECK_EQ_INT(st->termination_grace_s, 7);
	CHECK_EQ_INT(st->failure_threshold, 30);
	CHECK_EQ_INT(st->period_s, 10);
	CHECK_EQ_INT(c->post_start.kind, FSM_HANDLER_NONE);
	CHECK(c->post_start.json == NULL);
	fsm_pod_spec_free(&s);

	/* Zero means "default", as SetDefaults_Probe reads it. */
	REQUIRE(decode(&s, ONE(",'livenessProbe':{'grpc':{'port':9000},'periodSeconds':0,"
	                       "'timeoutSeconds':0,'successThreshold':0,'failureThreshold':0}")) ==
	        0);
	l = &s.containers[0].liveness;
	CHECK_EQ_INT(l->kind, FSM_HANDLER_GRPC);
	CHECK_EQ_INT(l->period_s, 10);
	CHECK_EQ_INT(l->timeout_s, 1);
	CHECK_EQ_INT(l->success_threshold, 1);
	CHECK_EQ_INT(l->failure_threshold, 3);
	fsm_pod_spec_free(&s);
}

TEST(test_lifecycle_hooks)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               ONE(",'lifecycle':{'postStart':{'exec':{'command':['sh','-c','echo hi']}},"
	                   "'preStop':{'sleep':{'seconds':5}}}")) == 0);
	const struct fsm_container_spec *c = &s.containers[0];
	CHECK_EQ_INT(c->post_start.kind, FSM_HANDLER_EXEC);
	CHECK_EQ_STR(c->post_start.json, "{\"exec\":{\"command\":[\"sh\",\"-c\",\"echo hi\"]}}");
	CHECK_EQ_INT(c->pre_stop.kind, FSM_HANDLER_SLEEP);
	CHECK_EQ_INT(c->pre_stop.sleep_s, 5);
	CHECK_EQ_INT(c->pre_stop.termination_grace_s, -1);
	fsm_pod_spec_free(&s);

	/* httpGet, and tcpSocket (deprecated, accepted). */
	REQUIRE(decode(&s, ONE(",'lifecycle':{'postStart':{'httpGet':{'port':80}},'preStop':{"
	                       "'tcpSocket':{'port':80}}}")) == 0);
	CHECK_EQ_INT(s.containers[0].post_start.kind, FSM_HANDLER_HTTP_GET);
	CHECK_EQ_INT(s.containers[0].pre_stop.kind, FSM_HANDLER_TCP_SOCKET);
	fsm_pod_spec_free(&s);
}

/* ---- init containers and sidecars -------------------------------------------------------- */

TEST(test_init_containers_come_first_and_sidecars_are_marked)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               POD("'containers':[{'name':'app','image':'i'},{'name':'app2','image':"
	                   "'i'}],'initContainers':[{'name':'setup','image':'i'},{'name':'proxy',"
	                   "'image':'i','restartPolicy':'Always','readinessProbe':{'exec':{"
	                   "'command':['true']}}},{'name':'migrate','image':'i'}]")) == 0);
	REQUIRE(s.ncontainers == 5);
	CHECK_EQ_INT(s.ninit, 3);
	static const char *const order[] = {"setup", "proxy", "migrate", "app", "app2"};
	for (size_t i = 0; i < COUNT(order); i++) {
		CHECK_EQ_STR(s.containers[i].name, order[i]);
		CHECK_EQ_INT(fsm_pod_container_index(&s, order[i]), i);
		CHECK_EQ_INT(s.containers[i].init, i < 3);
		CHECK_EQ_INT(s.containers[i].sidecar, i == 1);
	}
	CHECK_EQ_INT(s.containers[1].readiness.kind, FSM_HANDLER_EXEC);
	CHECK_EQ_INT(fsm_pod_container_index(&s, "nope"), -1);
	CHECK_EQ_INT(fsm_pod_container_index(&s, NULL), -1);
	CHECK_EQ_INT(fsm_pod_container_index(&s, "app2x"), -1);
	fsm_pod_spec_free(&s);
}

/* ---- QoS --------------------------------------------------------------------------------- */

struct res4 {
	const char *req_cpu, *req_mem, *lim_cpu, *lim_mem; /* NULL: leave out */
};

/* A container's JSON (single quotes) with the given requests and limits. */
static void container_json(char *buf, size_t cap, const char *name, const struct res4 *r,
                           const char *extra)
{
	char req[128] = "", lim[128] = "";
	snprintf(req, sizeof(req), "%s%s%s%s%s%s%s", r->req_cpu ? "'cpu':'" : "",
	         r->req_cpu ? r->req_cpu : "", r->req_cpu ? "'" : "",
	         r->req_cpu && r->req_mem ? "," : "", r->req_mem ? "'memory':'" : "",
	         r->req_mem ? r->req_mem : "", r->req_mem ? "'" : "");
	snprintf(lim, sizeof(lim), "%s%s%s%s%s%s%s", r->lim_cpu ? "'cpu':'" : "",
	         r->lim_cpu ? r->lim_cpu : "", r->lim_cpu ? "'" : "",
	         r->lim_cpu && r->lim_mem ? "," : "", r->lim_mem ? "'memory':'" : "",
	         r->lim_mem ? r->lim_mem : "", r->lim_mem ? "'" : "");
	snprintf(buf, cap,
	         "{'name':'%s','image':'i','resources':{'requests':{%s},'limits':{%s}}%s}", name,
	         req, lim, extra ? extra : "");
}

/* A pod of up to 2 app and 1 init containers; unused entries have a NULL name. */
static int qos_pod(struct fsm_pod_spec *s, const struct res4 app[2], const char *const names[2],
                   const struct res4 *init)
{
	char a[2][512], i0[512] = "";
	for (int k = 0; k < 2; k++)
		if (names[k] != NULL)
			container_json(a[k], sizeof(a[k]), names[k], &app[k], NULL);
	if (init != NULL)
		container_json(i0, sizeof(i0), "init", init, NULL);
	char *q = jsonf(POD("'containers':[%s%s%s]%s%s%s"), a[0], names[1] ? "," : "",
	                names[1] ? a[1] : "", init ? ",'initContainers':[" : "", init ? i0 : "",
	                init ? "]" : "");
	int rc = fsm_pod_decode(q, strlen(q), s, err, sizeof(err));
	free(q);
	return rc;
}

TEST(test_qos_as_upstream_computes_it)
{
	/* TestComputePodQOS of pkg/apis/core/v1/helper/qos/qos_test.go, and the
	 * defaulting of requests from limits (SetDefaults_Pod) on top. */
	static const struct {
		const char *name;
		const char *app_names[2];
		struct res4 app[2];
		bool has_init;
		struct res4 init;
		enum fsm_qos want;
	} cases[] = {
	        {"guaranteed",
	         {"g", NULL},
	         {{"100m", "100Mi", "100m", "100Mi"}},
	         false,
	         {0},
	         FSM_QOS_GUARANTEED},
	        {"guaranteed-guaranteed",
	         {"g1", "g2"},
	         {{"100m", "100Mi", "100m", "100Mi"}, {"100m", "100Mi", "100m", "100Mi"}},
	         false,
	         {0},
	         FSM_QOS_GUARANTEED},
	        {"best-effort-best-effort",
	         {"b1", "b2"},
	         {{0}, {0}},
	         false,
	         {0},
	         FSM_QOS_BEST_EFFORT},
	        {"best-effort", {"b", NULL}, {{0}}, false, {0}, FSM_QOS_BEST_EFFORT},
	        {"best-effort-burstable",
	         {"b", "u"},
	         {{0}, {"1", NULL, "2", NULL}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"best-effort-guaranteed",
	         {"b", "g"},
	         {{0}, {"10m", "100Mi", "10m", "100Mi"}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-cpu-guaranteed-memory",
	         {"u", NULL},
	         {{NULL, "100Mi", NULL, "100Mi"}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-no-limits",
	         {"u", NULL},
	         {{"100m", "100Mi", NULL, NULL}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-guaranteed",
	         {"u", "g"},
	         {{"1", "100Mi", "2", "100Mi"}, {"100m", "100Mi", "100m", "100Mi"}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-unbounded-but-requests-match-limits",
	         {"u", "v"},
	         {{"100m", "100Mi", "200m", "200Mi"}, {"100m", "100Mi", NULL, NULL}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-1",
	         {"u", NULL},
	         {{"10m", "100Mi", "100m", "200Mi"}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"burstable-2",
	         {"u", NULL},
	         {{"0", "0", "100m", "200Mi"}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"init-container",
	         {"b", NULL},
	         {{0}},
	         true,
	         {"10m", "100Mi", "100m", "200Mi"},
	         FSM_QOS_BURSTABLE},
	        /* Limits alone: the API makes them the requests too, so Guaranteed. */
	        {"limits-only",
	         {"g", NULL},
	         {{NULL, NULL, "500m", "64Mi"}},
	         false,
	         {0},
	         FSM_QOS_GUARANTEED},
	        {"limits-only-init-and-app",
	         {"g", NULL},
	         {{NULL, NULL, "1", "1Gi"}},
	         true,
	         {NULL, NULL, "100m", "10Mi"},
	         FSM_QOS_GUARANTEED},
	        /* An init container without limits spoils Guaranteed. */
	        {"guaranteed-app-best-effort-init",
	         {"g", NULL},
	         {{"1", "1Gi", "1", "1Gi"}},
	         true,
	         {0},
	         FSM_QOS_BURSTABLE},
	        /* Equal sums are not enough when one container has no limits. */
	        {"sums-match-but-unbounded",
	         {"g", "u"},
	         {{"100m", "100Mi", "200m", "200Mi"}, {"100m", "100Mi", NULL, NULL}},
	         false,
	         {0},
	         FSM_QOS_BURSTABLE},
	        {"equal-values-spelled-differently",
	         {"g", NULL},
	         {{"0.5", "1Gi", "500m", "1024Mi"}},
	         false,
	         {0},
	         FSM_QOS_GUARANTEED},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct fsm_pod_spec s;
		int rc = qos_pod(&s, cases[i].app, cases[i].app_names,
		                 cases[i].has_init ? &cases[i].init : NULL);
		CHECKF(rc == 0, "%s: %s", cases[i].name, err);
		if (rc != 0)
			continue;
		CHECKF(s.qos == cases[i].want, "%s: qos %d, want %d", cases[i].name, (int)s.qos,
		       (int)cases[i].want);
		fsm_pod_spec_free(&s);
	}

	/* best-effort-hugepages: other resources do not count. */
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               ONE(",'resources':{'requests':{'cpu':'0','memory':'0','hugepages-2Mi':"
	                   "'1Gi'},'limits':{'cpu':'0','memory':'0','hugepages-2Mi':'1Gi'}}")) ==
	        0);
	CHECK_EQ_INT(s.qos, FSM_QOS_BEST_EFFORT);
	fsm_pod_spec_free(&s);
}

TEST(test_requests_default_to_limits)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s, ONE(",'resources':{'requests':{'memory':'64Mi'},'limits':{'cpu':'2',"
	                       "'memory':'128Mi','ephemeral-storage':'1Gi'}}")) == 0);
	const struct fsm_resources *r = &s.containers[0].res;
	CHECK_EQ_INT(r->cpu_request_milli, 2000);
	CHECK_EQ_INT(r->cpu_limit_milli, 2000);
	CHECK_EQ_INT(r->memory_request_bytes, 64 << 20);
	CHECK_EQ_INT(r->memory_limit_bytes, 128 << 20);
	CHECK_EQ_INT(r->ephemeral_request_bytes, 1 << 30);
	CHECK_EQ_INT(r->ephemeral_limit_bytes, 1 << 30);
	CHECK_EQ_INT(s.qos, FSM_QOS_BURSTABLE);
	fsm_pod_spec_free(&s);

	/* A quantity may be a bare JSON number (Quantity.UnmarshalJSON reads its
	 * text), and null is the zero quantity. */
	REQUIRE(decode(&s, ONE(",'resources':{'requests':{'cpu':0.25,'memory':1e3},'limits':{"
	                       "'cpu':1,'ephemeral-storage':null}}")) == 0);
	r = &s.containers[0].res;
	CHECK_EQ_INT(r->cpu_request_milli, 250);
	CHECK_EQ_INT(r->memory_request_bytes, 1000);
	CHECK_EQ_INT(r->cpu_limit_milli, 1000);
	CHECK_EQ_INT(r->ephemeral_limit_bytes, 0);
	CHECK_EQ_INT(r->ephemeral_request_bytes, 0);
	fsm_pod_spec_free(&s);
}

/* ---- the effective request --------------------------------------------------------------- */

TEST(test_effective_requests_as_upstream_computes_them)
{
	/* TestPodResourceRequests, TestPodRequestsAndLimits and
	 * TestPodRequestsAndLimitsWithoutOverhead of component-helpers/resource/
	 * helpers_test.go (cpu in cores there, millicores here). */
	static const struct {
		const char *name;
		const char *spec; /* single-quoted spec members */
		int64_t cpu_milli, memory_bytes;
	} cases[] = {
	        {"nil options, larger init container",
	         "'initContainers':[{'name':'i','image':'i','resources':{'requests':{'cpu':'4'}}}],"
	         "'containers':[{'name':'c','image':'i','resources':{'requests':{'cpu':'1'}}}]",
	         4000, 0},
	        {"nil options, larger containers",
	         "'initContainers':[{'name':'i','image':'i','resources':{'requests':{'cpu':'2'}}}],"
	         "'containers':[{'name':'c','image':'i','resources':{'requests':{'cpu':'2'}}},"
	         "{'name':'d','image':'i','resources':{'requests':{'cpu':'3'}}}]",
	         5000, 0},
	        {"pod overhead included",
	         "'overhead':{'cpu':'1','memory':'1Gi'},"
	         "'initContainers':[{'name':'i','image':'i','resources':{'requests':{'cpu':'2'},"
	         "'limits':{'cpu':'2'}}}],"
	         "'containers':[{'name':'c','image':'i','resources':{'requests':{'cpu':'2'}}},"
	         "{'name':'d','image':'i','resources':{'requests':{'cpu':'3'}}}]",
	         6000, 1 << 30},
	        {"restartable init container",
	         "'initContainers':[{'name':'restartable-init-1','image':'i','restartPolicy':'"
	         "Always',"
	         "'resources':{'requests':{'cpu':'1'}}}],"
	         "'containers':[{'name':'container-1','image':'i','resources':{'requests':{'cpu':'"
	         "1'}}}]",
	         2000, 0},
	        {"multiple restartable init containers",
	         "'initContainers':[{'name':'init-1','image':'i','resources':{'requests':{'cpu':'5'"
	         "}}},"
	         "{'name':'restartable-init-1','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'1'}}},"
	         "{'name':'restartable-init-2','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'2'}}},"
	         "{'name':'restartable-init-3','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'3'}}}],"
	         "'containers':[{'name':'container-1','image':'i','resources':{'requests':{'cpu':'"
	         "1'}}}]",
	         7000, 0},
	        {"multiple restartable and regular init containers",
	         "'initContainers':[{'name':'init-1','image':'i','resources':{'requests':{'cpu':'5'"
	         "}}},"
	         "{'name':'restartable-init-1','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'1'}}},"
	         "{'name':'restartable-init-2','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'2'}}},"
	         "{'name':'init-2','image':'i','resources':{'requests':{'cpu':'5'}}},"
	         "{'name':'restartable-init-3','image':'i','restartPolicy':'Always','resources':{"
	         "'requests':{'cpu':'3'}}}],"
	         "'containers':[{'name':'container-1','image':'i','resources':{'requests':{'cpu':'"
	         "1'}}}]",
	         8000, 0},
	        {"restartable-init, init and regular",
	         "'initContainers':[{'name':'restartable-init-1','image':'i','restartPolicy':'"
	         "Always',"
	         "'resources':{'requests':{'cpu':'10'}}},"
	         "{'name':'init-1','image':'i','resources':{'requests':{'cpu':'200'}}}],"
	         "'containers':[{'name':'container-1','image':'i','resources':{'requests':{'cpu':'"
	         "100'}}}]",
	         210000, 0},
	        {"req-and-overhead",
	         "'overhead':{'cpu':'5','memory':'5'},"
	         "'containers':[{'name':'c','image':'i','resources':{'requests':{'cpu':'1','memory'"
	         ":'10'}}}]",
	         6000, 15},
	        {"all-req-lim-and-overhead",
	         "'overhead':{'cpu':'5','memory':'5'},"
	         "'containers':[{'name':'c','image':'i','resources':{'requests':{'cpu':'1','memory'"
	         ":'10'},"
	         "'limits':{'cpu':'2','memory':'12'}}}]",
	         6000, 15},
	        {"just-overhead",
	         "'overhead':{'cpu':'5','memory':'5'},'containers':[{'name':'c','image':'i'}]",
	         5000, 5},
	        {"two container no overhead - should just be sum of containers",
	         "'containers':[{'name':'foobar','image':'i','resources':{'requests':{'cpu':'1','"
	         "memory':"
	         "'5'},'limits':{'cpu':'2','memory':'10'}}},{'name':'foobar2','image':'i','"
	         "resources':{"
	         "'requests':{'cpu':'4','memory':'12'},'limits':{'cpu':'8','memory':'24'}}}]",
	         5000, 17},
	        {"two container, massive init - should just be the largest init",
	         "'containers':[{'name':'foobar','image':'i','resources':{'requests':{'cpu':'1','"
	         "memory':"
	         "'5'},'limits':{'cpu':'2','memory':'10'}}},{'name':'foobar2','image':'i','"
	         "resources':{"
	         "'requests':{'cpu':'4','memory':'12'},'limits':{'cpu':'8','memory':'24'}}}],"
	         "'initContainers':[{'name':'small-init','image':'i','resources':{'requests':{'cpu'"
	         ":'1',"
	         "'memory':'5'},'limits':{'cpu':'1','memory':'5'}}},{'name':'big-init','image':'i',"
	         "'resources':{'requests':{'cpu':'40','memory':'120'},'limits':{'cpu':'80','memory'"
	         ":"
	         "'240'}}}]",
	         40000, 120},
	        /* just-limit-no-overhead: upstream's un-defaulted pod has no request; the
	         * API would have defaulted the request to the limit, and so do we. */
	        {"just-limit",
	         "'containers':[{'name':'c','image':'i','resources':{'limits':{'cpu':'9'}}}]", 9000,
	         0},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct fsm_pod_spec s;
		char *q = jsonf("{'metadata':{'name':'p'},'spec':{%s}}", cases[i].spec);
		int rc = fsm_pod_decode(q, strlen(q), &s, err, sizeof(err));
		free(q);
		CHECKF(rc == 0, "%s: %s", cases[i].name, err);
		if (rc != 0)
			continue;
		CHECKF(s.cpu_request_milli == cases[i].cpu_milli, "%s: cpu %lld, want %lld",
		       cases[i].name, (long long)s.cpu_request_milli,
		       (long long)cases[i].cpu_milli);
		CHECKF(s.memory_request_bytes == cases[i].memory_bytes,
		       "%s: memory %lld, want %lld", cases[i].name,
		       (long long)s.memory_request_bytes, (long long)cases[i].memory_bytes);
		fsm_pod_spec_free(&s);
	}

	/* Ephemeral storage follows the same rule; sums saturate instead of wrapping. */
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               POD("'overhead':{'ephemeral-storage':'1Mi'},'initContainers':[{'name':"
	                   "'side','image':'i','restartPolicy':'Always','resources':{'requests':{"
	                   "'ephemeral-storage':'1Gi'}}},{'name':'init','image':'i','resources':"
	                   "{'requests':{'ephemeral-storage':'2Gi'}}}],'containers':[{'name':'a',"
	                   "'image':'i','resources':{'requests':{'ephemeral-storage':'1Gi',"
	                   "'memory':'8Ei'}}},{'name':'b','image':'i','resources':{'requests':{"
	                   "'memory':'8Ei'}}}]")) == 0);
	CHECK_EQ_INT(s.ephemeral_request_bytes, (3LL << 30) + (1 << 20));
	CHECK_EQ_INT(s.memory_request_bytes, INT64_MAX);
	CHECK_EQ_INT(s.cpu_request_milli, 0);
	fsm_pod_spec_free(&s);
}

/* ---- metadata ---------------------------------------------------------------------------- */

static int64_t deletion_ms(const char *ts)
{
	struct fsm_pod_spec s;
	char *q = jsonf("{'metadata':{'name':'p','deletionTimestamp':'%s',"
	                "'deletionGracePeriodSeconds':12},'spec':{'containers':[{'name':'c',"
	                "'image':'i'}]}}",
	                ts);
	int rc = fsm_pod_decode(q, strlen(q), &s, err, sizeof(err));
	free(q);
	if (rc != 0)
		return -1;
	int64_t ms = (int64_t)s.deletion_wall_ms;
	if (s.deletion_grace_s != 12)
		ms = -2;
	fsm_pod_spec_free(&s);
	return ms;
}

TEST(test_deletion_timestamp_is_wall_ms)
{
	/* 2024-01-01T00:00:00Z is 1704067200 s after the epoch (date -u -d ... +%s). */
	CHECK_EQ_INT(deletion_ms("2024-01-01T00:00:00Z"), 1704067200000LL);
	CHECK_EQ_INT(deletion_ms("2024-01-02T03:04:05Z"), (1704067200LL + 86400 + 11045) * 1000);
	CHECK_EQ_INT(deletion_ms("2024-01-02T03:04:05.123Z"),
	             (1704067200LL + 86400 + 11045) * 1000 + 123);
	CHECK_EQ_INT(deletion_ms("2024-01-02T03:04:05.1Z"),
	             (1704067200LL + 86400 + 11045) * 1000 + 100);
	CHECK_EQ_INT(deletion_ms("2024-01-02T03:04:05.123456789Z"),
	             (1704067200LL + 86400 + 11045) * 1000 + 123);
	CHECK_EQ_INT(deletion_ms("2024-01-02T04:04:05+01:00"),
	             (1704067200LL + 86400 + 11045) * 1000);
	CHECK_EQ_INT(deletion_ms("2024-01-01T21:34:05-05:30"),
	             (1704067200LL + 86400 + 11045) * 1000);
	CHECK_EQ_INT(deletion_ms("2000-02-29T00:00:00Z"), 951782400000LL);
	CHECK_EQ_INT(deletion_ms("2100-03-01T00:00:00Z"), 4107542400000LL);
	CHECK_EQ_INT(deletion_ms("1970-01-01T00:00:01Z"), 1000);
	CHECK_EQ_INT(deletion_ms("1970-01-01T00:00:00Z"), 1); /* 0 would read "not deleted" */
	static const char *const bad[] = {
	        "2023-02-29T00:00:00Z",
	        "2024-13-01T00:00:00Z",
	        "2024-01-32T00:00:00Z",
	        "2024-01-01T24:00:00Z",
	        "2024-01-01T00:60:00Z",
	        "2024-01-01T00:00:60Z",
	        "2024-01-01 00:00:00Z",
	        "2024-01-01T00:00:00",
	        "2024-01-01T00:00:00z",
	        "2024-01-01T00:00:00.Z",
	        "2024-1-01T00:00:00Z",
	        "2024-01-01T00:00:00+0100",
	        "2024-01-01T00:00:00Z ",
	        "1969-12-31T23:59:59Z",
	        "yesterday",
	        "",
	};
	for (size_t i = 0; i < COUNT(bad); i++) {
		CHECKF(deletion_ms(bad[i]) == -1, "\"%s\" decoded", bad[i]);
		CHECKF(strstr(err, "metadata.deletionTimestamp: ") != NULL, "%s: %s", bad[i], err);
	}
}

/* ---- scheduling constraints -------------------------------------------------------------- */

TEST(test_tolerations_node_selector_and_affinity)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               POD("'containers':[{'name':'c','image':'i'}],"
	                   "'tolerations':[{'key':'dedicated','value':'gpu','effect':'NoSchedule'},"
	                   "{'operator':'Exists'},"
	                   "{'key':'node.kubernetes.io/not-ready','operator':'Exists','effect':"
	                   "'NoExecute','tolerationSeconds':300},"
	                   "{'key':'k','operator':'Equal','value':'v','effect':'NoExecute',"
	                   "'tolerationSeconds':-10}],"
	                   "'nodeSelector':{'disktype':'ssd','kubernetes.io/os':'linux'},"
	                   "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"
	                   "Execution':{'nodeSelectorTerms':[{'matchExpressions':[{'key':'zone',"
	                   "'operator':'In','values':['a','b']},{'key':'gpu','operator':'Exists'}]}"
	                   ","
	                   "{'matchExpressions':[{'key':'cores','operator':'Gt','values':['8']}],"
	                   "'matchFields':[{'key':'metadata.name','operator':'In','values':"
	                   "['node-a']}]}]},'preferredDuringSchedulingIgnoredDuringExecution':[]},"
	                   "'podAntiAffinity':{}}")) == 0);
	REQUIRE(s.ntolerations == 4);
	const struct fsm_toleration *t = s.tolerations;
	CHECK_EQ_STR(t[0].key, "dedicated");
	CHECK_EQ_STR(t[0].op, "Equal");
	CHECK_EQ_STR(t[0].value, "gpu");
	CHECK_EQ_STR(t[0].effect, "NoSchedule");
	CHECK_EQ_INT(t[0].toleration_s, -1);
	CHECK_EQ_STR(t[1].key, "");
	CHECK_EQ_STR(t[1].op, "Exists");
	CHECK_EQ_STR(t[1].effect, "");
	CHECK_EQ_STR(t[2].effect, "NoExecute");
	CHECK_EQ_INT(t[2].toleration_s, 300);
	CHECK_EQ_INT(t[3].toleration_s, 0); /* negative: evict at once, as upstream */

	REQUIRE(s.nnode_selector == 2);
	CHECK_EQ_STR(s.node_selector[0].key, "disktype");
	CHECK_EQ_STR(s.node_selector[0].value, "ssd");
	CHECK_EQ_STR(s.node_selector[1].key, "kubernetes.io/os");
	CHECK_EQ_STR(s.node_selector[1].value, "linux");

	REQUIRE(s.naffinity_terms == 2);
	const struct fsm_selector_term *t0 = &s.affinity_terms[0], *t1 = &s.affinity_terms[1];
	REQUIRE(t0->nreqs == 2);
	CHECK_EQ_STR(t0->reqs[0].key, "zone");
	CHECK_EQ_STR(t0->reqs[0].op, "In");
	REQUIRE(t0->reqs[0].nvalues == 2);
	CHECK_EQ_STR(t0->reqs[0].values[0], "a");
	CHECK_EQ_STR(t0->reqs[0].values[1], "b");
	CHECK(!t0->reqs[0].field);
	CHECK_EQ_STR(t0->reqs[1].op, "Exists");
	CHECK_EQ_INT(t0->reqs[1].nvalues, 0);
	REQUIRE(t1->nreqs == 2);
	CHECK_EQ_STR(t1->reqs[0].op, "Gt");
	CHECK(!t1->reqs[0].field);
	CHECK_EQ_STR(t1->reqs[1].key, "metadata.name"); /* matchFields, after the expressions */
	CHECK(t1->reqs[1].field);
	CHECK_EQ_STR(t1->reqs[1].values[0], "node-a");
	fsm_pod_spec_free(&s);

	/* No affinity at all, or only preferred terms: no required terms. */
	REQUIRE(decode(&s, POD("'containers':[{'name':'c','image':'i'}],'affinity':{"
	                       "'nodeAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':"
	                       "[{'weight':1,'preference':{}}]}}")) == 0);
	CHECK_EQ_INT(s.naffinity_terms, 0);
	CHECK(s.affinity_terms == NULL);
	fsm_pod_spec_free(&s);
}

TEST(test_readiness_gates_read_status_conditions)
{
	struct fsm_pod_spec s;
	REQUIRE(decode(&s,
	               "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':"
	               "'i'}],'readinessGates':[{'conditionType':'example.com/lb'},"
	               "{'conditionType':'example.com/dns'},{'conditionType':'example.com/x'}]},"
	               "'status':{'phase':'Running','conditions':[{'type':'Ready','status':"
	               "'False'},{'type':'example.com/lb','status':'True'},{'type':"
	               "'example.com/dns','status':'False'},{'type':'example.com/lb','status':"
	               "'False'}]}}") == 0);
	REQUIRE(s.ngates == 3);
	CHECK_EQ_STR(s.readiness_gates[0], "example.com/lb");
	CHECK_EQ_STR(s.readiness_gates[1], "example.com/dns");
	CHECK_EQ_STR(s.readiness_gates[2], "example.com/x");
	CHECK(s.gate_true[0]); /* the first condition of a type counts */
	CHECK(!s.gate_true[1]);
	CHECK(!s.gate_true[2]); /* no condition yet */
	fsm_pod_spec_free(&s);

	/* Gates without any status. */
	REQUIRE(decode(&s, POD("'containers':[{'name':'c','image':'i'}],'readinessGates':[{"
	                       "'conditionType':'g'}]")) == 0);
	REQUIRE(s.ngates == 1);
	CHECK(!s.gate_true[0]);
	fsm_pod_spec_free(&s);
}

/* ---- raw JSON and the spec hash ---------------------------------------------------------- */

TEST(test_raw_json_round_trips)
{
	const char *pretty =
	        "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n"
	        "  \"spec\": {\"containers\": [ {\"name\": \"web\", \"image\": "
	        "\"nginx:1.25\", \"args\": [\"a/b\", \"\\u00e9\"], \"env\": [{\"name\": "
	        "\"X\", \"value\": \"1\"}], \"livenessProbe\": {\"tcpSocket\": "
	        "{\"port\": 80}, \"periodSeconds\": 1.5e1}} ]}\n}\n";
	struct fsm_pod_spec s;
	REQUIRE(fsm_pod_decode(pretty, strlen(pretty), &s, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "spec.containers[0].livenessProbe.periodSeconds: want an integer") !=
	               NULL,
	       "%s", err);

	const char *json = "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n"
	                   "  \"spec\": {\"containers\": [ {\"name\": \"web\", \"image\": "
	                   "\"nginx:1.25\", \"args\": [\"a/b\", \"\\u00e9\"], \"env\": [{\"name\": "
	                   "\"X\", \"value\": \"1\"}], \"resources\": {\"limits\": {\"memory\": "
	                   "1e9}}} ]}\n}\n";
	REQUIRE(fsm_pod_decode(json, strlen(json), &s, err, sizeof(err)) == 0);
	/* The pod's bytes as received. */
	CHECK_EQ_INT(s.json_len, strlen(json));
	CHECK(memcmp(s.json, json, s.json_len) == 0);
	CHECK_EQ_INT(s.json[s.json_len], '\0');
	/* The container's JSON: compact, slashes unescaped, numbers as spelled. */
	const struct fsm_container_spec *c = &s.containers[0];
	CHECK_EQ_STR(c->json, "{\"name\":\"web\",\"image\":\"nginx:1.25\",\"args\":[\"a/b\","
	                      "\"\xc3\xa9\"],\"env\":[{\"name\":\"X\",\"value\":\"1\"}],"
	                      "\"resources\":{\"limits\":{\"memory\":1e9}}}");
	CHECK_EQ_INT(c->json_len, strlen(c->json));
	struct json_object *o = json_tokener_parse(c->json);
	REQUIRE(o != NULL);
	struct json_object *name = NULL;
	CHECK(json_object_object_get_ex(o, "name", &name));
	CHECK_EQ_STR(json_object_get_string(name), "web");
	json_object_put(o);
	CHECK_EQ_INT(c->res.memory_limit_bytes, 1000000000);

	/* The same container spelled another way hashes the same; a new image does not. */
	const char *compact =
	        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":"
	        "\"web\",\"image\":\"nginx:1.25\",\"args\":[\"a\\/b\",\"\xc3\xa9\"],"
	        "\"env\":[{\"name\":\"X\",\"value\":\"1\"}],\"resources\":{\"limits\":"
	        "{\"memory\":1e9}}}]}}";
	struct fsm_pod_spec s2;
	REQUIRE(fsm_pod_decode(compact, strlen(compact), &s2, err, sizeof(err)) == 0);
	CHECK(s2.containers[0].spec_hash == c->spec_hash);
	CHECK(s2.containers[0].spec_hash != 0);
	fsm_pod_spec_free(&s2);
	REQUIRE(fsm_pod_decode(json, strlen(json), &s2, err, sizeof(err)) == 0);
	CHECK(s2.containers[0].spec_hash == c->spec_hash); /* stable across decodes */
	fsm_pod_spec_free(&s2);
	char *changed = jsonf("%s", json);
	char *img = strstr(changed, "nginx:1.25");
	REQUIRE(img != NULL);
	memcpy(img, "nginx:1.26", 10);
	REQUIRE(fsm_pod_decode(changed, strlen(changed), &s2, err, sizeof(err)) == 0);
	CHECK(s2.containers[0].spec_hash != c->spec_hash);
	fsm_pod_spec_free(&s2);
	free(changed);
	fsm_pod_spec_free(&s);

	/* The bytes need no terminator: decode a prefix of a longer buffer. */
	const char *two =
	        "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'i'}]}}"
	        "garbage";
	char *q = jsonf("%s", two);
	size_t n = strlen(q) - strlen("garbage");
	REQUIRE(fsm_pod_decode(q, n, &s, err, sizeof(err)) == 0);
	CHECK_EQ_INT(s.json_len, n);
	CHECK_EQ_INT(strlen(s.json), n);
	fsm_pod_spec_free(&s);
	free(q);
}

/* ---- errors ------------------------------------------------------------------------------ */

TEST(test_malformed_documents_are_named)
{
	EXPECT_ERROR("{'metadata':", "not valid JSON");
	EXPECT_ERROR("{'metadata':{'name':'p'},}", "not valid JSON");
	EXPECT_ERROR("{'a':1} {'b':2}", "not valid JSON: unexpected data after the object");
	EXPECT_ERROR("", "not valid JSON: empty");
	EXPECT_ERROR("  \n", "not valid JSON: empty");
	EXPECT_ERROR("[]", "not a JSON object");
	EXPECT_ERROR("null", "not a JSON object");
	EXPECT_ERROR("'pod'", "not a JSON object");
	EXPECT_ERROR("{'kind':'Deployment'}", "kind: want \"Pod\", got \"Deployment\"");
	EXPECT_ERROR("{'kind':7}", "kind: want a string");
	EXPECT_ERROR("{'metadata':[],'spec':{}}", "metadata: want an object");
	EXPECT_ERROR("{'metadata':{'name':'p'},'spec':'x'}", "spec: want an object");
	EXPECT_ERROR("{'spec':{'containers':[{'name':'c','image':'i'}]}}",
	             "metadata.name: required");
	EXPECT_ERROR("{'metadata':{'name':''},'spec':{}}", "metadata.name: required");
	EXPECT_ERROR("{'metadata':{'name':'p','generation':-1},'spec':{}}",
	             "metadata.generation: want an integer from 0 to");
	EXPECT_ERROR("{'metadata':{'name':'p'}}",
	             "spec.containers: a pod needs at least one container");
	EXPECT_ERROR(POD("'containers':[]"), "spec.containers: a pod needs at least one container");
	EXPECT_ERROR(POD("'initContainers':[{'name':'i','image':'i'}]"),
	             "spec.containers: a pod needs at least one container");
	EXPECT_ERROR(POD("'containers':{}"), "spec.containers: want an array");

	/* A NUL byte inside the length, and a string holding \u0000. */
	struct fsm_pod_spec s;
	const char nul[] = "{\"metadata\":{\"name\":\"p\"}}\0";
	CHECK(fsm_pod_decode(nul, sizeof(nul) - 1, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "NUL byte at offset 25") != NULL);
	EXPECT_ERROR("{'metadata':{'name':'p\\u0000q'},'spec':{}}",
	             "metadata.name: a string must not hold a NUL character");
}

TEST(test_volumes_decode_with_their_objects_and_mounts)
{
	struct fsm_pod_spec s;
	CHECK(decode(&s, POD("'serviceAccountName':'robot','volumes':[{'name':'cfg','configMap':"
	                     "{'name':'web-cfg'}},{'name':'tmp','emptyDir':{'medium':'Memory'}},"
	                     "{'name':'h','hostPath':{'path':'/srv'}},{'name':'pvc',"
	                     "'persistentVolumeClaim':{'claimName':'c'}},{'name':'api','projected':"
	                     "{'sources':[{'serviceAccountToken':{'path':'token',"
	                     "'expirationSeconds':7200}},{'serviceAccountToken':{'path':'t2'}},"
	                     "{'configMap':{'name':'kube-root-ca.crt'}},{'secret':{'name':'s1'}},"
	                     "{'configMap':{'name':'kube-root-ca.crt'}}]}},{'name':'sec','secret':"
	                     "{'secretName':'s1'}}],'containers':[{'name':'c','image':'busybox',"
	                     "'volumeMounts':[{'name':'cfg','mountPath':'/etc/c','subPath':'a/b'},"
	                     "{'name':'tmp','mountPath':'/tmp','readOnly':true}]}]")) == 0);
	if (s.nvolumes == 6) {
		CHECK(s.volumes[0].type == FSM_VOL_CONFIGMAP && s.volumes[0].nrefs == 1 &&
		      !s.volumes[0].refs[0].secret && strcmp(s.volumes[0].refs[0].name, "web-cfg") == 0);
		CHECK(s.volumes[1].type == FSM_VOL_EMPTY_DIR && s.volumes[1].nrefs == 0);
		CHECK(s.volumes[2].type == FSM_VOL_HOST_PATH &&
		      strcmp(s.volumes[2].host_path, "/srv") == 0);
		CHECK(s.volumes[3].type == FSM_VOL_OTHER &&
		      strcmp(s.volumes[3].type_name, "persistentVolumeClaim") == 0);
		/* the shortest token lifetime (3600 by default); objects once each */
		CHECK(s.volumes[4].type == FSM_VOL_PROJECTED && s.volumes[4].token_expiration_s == 3600);
		CHECK(s.volumes[4].nrefs == 2 && s.volumes[4].refs[1].secret);
		CHECK(s.volumes[5].type == FSM_VOL_SECRET && s.volumes[5].refs[0].secret &&
		      s.volumes[5].token_expiration_s == -1);
		CHECK(strstr(s.volumes[0].json, "web-cfg") != NULL);
	} else {
		CHECKF(false, "%zu volumes", s.nvolumes);
	}
	CHECK(strcmp(s.service_account, "robot") == 0);
	CHECK(s.containers[0].nmounts == 2 && strcmp(s.containers[0].mounts[0].sub_path, "a/b") == 0 &&
	      s.containers[0].mounts[1].read_only && !s.containers[0].mounts[0].read_only);
	CHECK(fsm_pod_volume_index(&s, "api") == 4 && fsm_pod_volume_index(&s, "nope") == -1);
	fsm_pod_spec_free(&s);
	CHECK(decode(&s, ONE("")) == 0 && s.nvolumes == 0 && strcmp(s.service_account, "") == 0);
	fsm_pod_spec_free(&s);
}

TEST(test_volume_errors_name_the_path)
{
	EXPECT_ERROR(POD("'volumes':[{'name':'v'}],'containers':[{'name':'c','image':'i'}]"),
	             "spec.volumes[0]: must specify a volume type");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','emptyDir':{},'hostPath':{'path':'/x'}}],"
	                 "'containers':[{'name':'c','image':'i'}]"),
	             "spec.volumes[0]: may not specify more than 1 volume type");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','emptyDir':{}},{'name':'v','emptyDir':{}}],"
	                 "'containers':[{'name':'c','image':'i'}]"),
	             "spec.volumes[1].name: duplicate \"v\"");
	EXPECT_ERROR(POD("'volumes':[{'name':'V_1','emptyDir':{}}],'containers':[{'name':'c',"
	                 "'image':'i'}]"),
	             "spec.volumes[0].name: \"V_1\" is not a DNS label");
	EXPECT_ERROR(POD("'volumes':[{'emptyDir':{}}],'containers':[{'name':'c','image':'i'}]"),
	             "spec.volumes[0].name: required");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','configMap':{}}],'containers':[{'name':'c',"
	                 "'image':'i'}]"),
	             "spec.volumes[0].configMap.name: required");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','secret':{'secretName':''}}],'containers':[{"
	                 "'name':'c','image':'i'}]"),
	             "spec.volumes[0].secret.secretName: required");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','hostPath':{}}],'containers':[{'name':'c',"
	                 "'image':'i'}]"),
	             "spec.volumes[0].hostPath.path: required");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','projected':{'sources':[{'secret':{}}]}}],"
	                 "'containers':[{'name':'c','image':'i'}]"),
	             "spec.volumes[0].projected.sources[0].secret.name: required");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','projected':{'sources':[{'serviceAccountToken':"
	                 "{'path':'t','expirationSeconds':60}}]}}],'containers':[{'name':'c',"
	                 "'image':'i'}]"),
	             "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: "
	             "want an integer from 600");
	EXPECT_ERROR(POD("'volumes':[{'name':'v','emptyDir':{}}],'initContainers':[{'name':'i',"
	                 "'image':'i'}],'containers':[{'name':'c','image':'i','volumeMounts':["
	                 "{'name':'v','mountPath':'/a'},{'name':'w','mountPath':'/b'}]}]"),
	             "spec.containers[0].volumeMounts[1].name: not found: \"w\" is not a volume "
	             "of the pod");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v'}]"),
	             "spec.containers[0].volumeMounts[0].mountPath: required");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v','mountPath':'rel'}]"),
	             "spec.containers[0].volumeMounts[0].mountPath: \"rel\" must be an absolute path");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v','mountPath':'/a'},{'name':'v','mountPath':"
	                 "'/a'}]"),
	             "spec.containers[0].volumeMounts[1].mountPath: \"/a\" must be unique");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v','mountPath':'/a','subPath':'../x'}]"),
	             "spec.containers[0].volumeMounts[0].subPath: \"../x\" must not contain '..'");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v','mountPath':'/a','subPath':'/x'}]"),
	             "spec.containers[0].volumeMounts[0].subPath: \"/x\" must be a relative path");
	EXPECT_ERROR(ONE(",'volumeMounts':[{'name':'v','mountPath':'/a','subPathExpr':'$(X)'}]"),
	             "spec.containers[0].volumeMounts[0].subPathExpr: is not supported");
}

TEST(test_field_errors_name_the_path)
{
	EXPECT_ERROR(POD("'containers':[{'image':'i'}]"), "spec.containers[0].name: required");
	EXPECT_ERROR(POD("'containers':[{'name':'','image':'i'}]"),
	             "spec.containers[0].name: required");
	EXPECT_ERROR(POD("'containers':[{'name':'Web','image':'i'}]"),
	             "spec.containers[0].name: \"Web\" is not a DNS label");
	EXPECT_ERROR(POD("'containers':[{'name':'web-','image':'i'}]"), "is not a DNS label");
	EXPECT_ERROR(POD("'containers':[{'name':'web','image':'i'},{'name':'web','image':'i'}]"),
	             "spec.containers[1].name: duplicate \"web\"");
	EXPECT_ERROR(POD("'initContainers':[{'name':'web','image':'i'}],'containers':[{'name':"
	                 "'web','image':'i'}]"),
	             "spec.containers[0].name: duplicate \"web\"");
	EXPECT_ERROR(POD("'initContainers':[{'name':'a','image':'i'},{'name':'a','image':'i'}],"
	                 "'containers':[{'name':'b','image':'i'}]"),
	             "spec.initContainers[1].name: duplicate \"a\"");
	EXPECT_ERROR(POD("'containers':[{'name':'c'}]"), "spec.containers[0].image: required");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':''}]"),
	             "spec.containers[0].image: required");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':' busybox'}]"),
	             "spec.containers[0].image: \" busybox\" must not have leading or trailing");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':7}]"),
	             "spec.containers[0].image: want a string");
	EXPECT_ERROR(POD("'containers':['c']"), "spec.containers[0]: want an object");
	EXPECT_ERROR(
	        ONE(",'imagePullPolicy':'Sometimes'"),
	        "spec.containers[0].imagePullPolicy: \"Sometimes\" is not one of IfNotPresent, "
	        "Always or Never");
	EXPECT_ERROR(POD("'restartPolicy':'Sometimes','containers':[{'name':'c','image':'i'}]"),
	             "spec.restartPolicy: \"Sometimes\" is not one of Always, OnFailure or Never");
	EXPECT_ERROR(POD("'terminationGracePeriodSeconds':'30','containers':[{'name':'c',"
	                 "'image':'i'}]"),
	             "spec.terminationGracePeriodSeconds: want an integer");
	EXPECT_ERROR(POD("'activeDeadlineSeconds':0,'containers':[{'name':'c','image':'i'}]"),
	             "spec.activeDeadlineSeconds: want an integer from 1 to 2147483647, got 0");
	EXPECT_ERROR(POD("'hostNetwork':'yes','containers':[{'name':'c','image':'i'}]"),
	             "spec.hostNetwork: want true or false");
	EXPECT_ERROR(POD("'priority':2147483648,'containers':[{'name':'c','image':'i'}]"),
	             "spec.priority: want an integer from -2147483648 to 2147483647");

	/* restartPolicy of containers */
	EXPECT_ERROR(POD("'initContainers':[{'name':'i','image':'i','restartPolicy':'Never'}],"
	                 "'containers':[{'name':'c','image':'i'}]"),
	             "spec.initContainers[0].restartPolicy: \"Never\" is not supported");
	EXPECT_ERROR(ONE(",'restartPolicy':'Always'"),
	             "spec.containers[0].restartPolicy: may only be set for init containers");

	/* ports */
	EXPECT_ERROR(ONE(",'ports':[{'containerPort':'80'}]"),
	             "spec.containers[0].ports[0].containerPort: want an integer");
	EXPECT_ERROR(ONE(",'ports':[{'containerPort':80.0}]"),
	             "spec.containers[0].ports[0].containerPort: want an integer");
	EXPECT_ERROR(ONE(",'ports':[{'containerPort':80},{'name':'x'}]"),
	             "spec.containers[0].ports[1].containerPort: required");
	EXPECT_ERROR(
	        ONE(",'ports':[{'containerPort':70000}]"),
	        "spec.containers[0].ports[0].containerPort: want an integer from 1 to 65535, got "
	        "70000");
	EXPECT_ERROR(ONE(",'ports':[{'containerPort':80,'hostPort':-1}]"),
	             "spec.containers[0].ports[0].hostPort: want an integer from 0 to 65535");
	EXPECT_ERROR(
	        ONE(",'ports':[{'containerPort':80,'protocol':'ICMP'}]"),
	        "spec.containers[0].ports[0].protocol: \"ICMP\" is not one of TCP, UDP or SCTP");
	EXPECT_ERROR(ONE(",'ports':[{'containerPort':99999999999999999999}]"),
	             "spec.containers[0].ports[0].containerPort: want an integer from 1 to 65535");

	/* resources */
	EXPECT_ERROR(ONE(",'resources':{'limits':{'memory':'12Qi'}}"),
	             "spec.containers[0].resources.limits.memory: \"12Qi\" is not a quantity");
	EXPECT_ERROR(ONE(",'resources':{'requests':{'cpu':'1..2'}}"),
	             "spec.containers[0].resources.requests.cpu: \"1..2\" is not a quantity");
	EXPECT_ERROR(
	        ONE(",'resources':{'requests':{'nvidia.com/gpu':'x'}}"),
	        "spec.containers[0].resources.requests.nvidia.com/gpu: \"x\" is not a quantity");
	EXPECT_ERROR(ONE(",'resources':{'requests':{'cpu':true}}"),
	             "spec.containers[0].resources.requests.cpu: want a quantity");
	EXPECT_ERROR(
	        ONE(",'resources':{'requests':{'memory':'-1Gi'}}"),
	        "spec.containers[0].resources.requests.memory: \"-1Gi\" must be greater than or "
	        "equal to 0");
	EXPECT_ERROR(
	        ONE(",'resources':{'requests':{'cpu':'2'},'limits':{'cpu':'1'}}"),
	        "spec.containers[0].resources.requests.cpu: 2000m must be less than or equal to "
	        "the limit 1000m");
	EXPECT_ERROR(ONE(",'resources':{'limits':[]}"),
	             "spec.containers[0].resources.limits: want an object");
	EXPECT_ERROR(POD("'overhead':{'cpu':'lots'},'containers':[{'name':'c','image':'i'}]"),
	             "spec.overhead.cpu: \"lots\" is not a quantity");

	/* probes and hooks */
	EXPECT_ERROR(ONE(",'livenessProbe':{'exec':{'command':['true']},'httpGet':{'port':80}}"),
	             "spec.containers[0].livenessProbe: may not specify more than 1 handler type "
	             "(exec and httpGet)");
	EXPECT_ERROR(ONE(",'readinessProbe':{'periodSeconds':5}"),
	             "spec.containers[0].readinessProbe: must specify a handler type: one of exec, "
	             "httpGet, tcpSocket or grpc");
	EXPECT_ERROR(
	        ONE(",'livenessProbe':{'exec':{},'successThreshold':2}"),
	        "spec.containers[0].livenessProbe.successThreshold: must be 1 for liveness and "
	        "startup probes, got 2");
	EXPECT_ERROR(ONE(",'startupProbe':{'exec':{},'successThreshold':3}"),
	             "spec.containers[0].startupProbe.successThreshold: must be 1");
	EXPECT_ERROR(ONE(",'livenessProbe':{'exec':{},'periodSeconds':-1}"),
	             "spec.containers[0].livenessProbe.periodSeconds: want an integer from 0 to");
	EXPECT_ERROR(
	        ONE(",'livenessProbe':{'exec':{},'terminationGracePeriodSeconds':0}"),
	        "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: want an integer "
	        "from 1 to");
	EXPECT_ERROR(ONE(",'readinessProbe':{'exec':{},'terminationGracePeriodSeconds':5}"),
	             "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: must not be "
	             "set for readiness probes");
	EXPECT_ERROR(ONE(",'livenessProbe':{'exec':[]}"),
	             "spec.containers[0].livenessProbe.exec: want an object");
	EXPECT_ERROR(ONE(",'livenessProbe':{'sleep':{'seconds':1}}"),
	             "spec.containers[0].livenessProbe: must specify a handler type");
	EXPECT_ERROR(
	        ONE(",'lifecycle':{'preStop':{'grpc':{'port':1}}}"),
	        "spec.containers[0].lifecycle.preStop: must specify a handler type: one of exec, "
	        "httpGet, tcpSocket or sleep");
	EXPECT_ERROR(ONE(",'lifecycle':{'preStop':{'sleep':{'seconds':'5'}}}"),
	             "spec.containers[0].lifecycle.preStop.sleep.seconds: want an integer");
	EXPECT_ERROR(ONE(",'lifecycle':{'postStart':{'exec':{},'sleep':{}}}"),
	             "spec.containers[0].lifecycle.postStart: may not specify more than 1 handler");
	EXPECT_ERROR(POD("'initContainers':[{'name':'i','image':'i','livenessProbe':{'exec':{}}}],"
	                 "'containers':[{'name':'c','image':'i'}]"),
	             "spec.initContainers[0].livenessProbe: must not be set for init containers "
	             "without restartPolicy: Always");
	EXPECT_ERROR(
	        POD("'initContainers':[{'name':'i','image':'i','lifecycle':{'preStop':{"
	            "'exec':{}}}}],'containers':[{'name':'c','image':'i'}]"),
	        "spec.initContainers[0].lifecycle.preStop: must not be set for init containers");

	/* scheduling */
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'tolerations':[{'key':'k',"
	                 "'operator':'Maybe'}]"),
	             "spec.tolerations[0].operator: \"Maybe\" is not one of Equal or Exists");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'tolerations':[{'value':'v'}]"),
	             "spec.tolerations[0].operator: must be Exists when key is empty");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'tolerations':[{'key':'k',"
	                 "'operator':'Exists','value':'v'}]"),
	             "spec.tolerations[0].value: must be empty when operator is Exists");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'tolerations':[{'key':'k',"
	                 "'effect':'NoSchedule','tolerationSeconds':5}]"),
	             "spec.tolerations[0].effect: must be NoExecute when tolerationSeconds is set");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'tolerations':[{'key':'k',"
	                 "'effect':'Sometimes'}]"),
	             "spec.tolerations[0].effect: \"Sometimes\" is not one of NoSchedule, "
	             "PreferNoSchedule or NoExecute");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'nodeSelector':{'a':1}"),
	             "spec.nodeSelector.a: want a string");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'nodeSelector':['a']"),
	             "spec.nodeSelector: want an object");
	EXPECT_ERROR(
	        POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	            "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[]}}}"),
	        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
	        "nodeSelectorTerms: must have at least one term");
	EXPECT_ERROR(
	        POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	            "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	            "'matchExpressions':[{'key':'zone','operator':'Near','values':['a']}]}]}}}"),
	        "nodeSelectorTerms[0].matchExpressions[0].operator: \"Near\" is not one of In, "
	        "NotIn, Exists, DoesNotExist, Gt or Lt");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	                 "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	                 "'matchExpressions':[{'key':'zone','operator':'In'}]}]}}}"),
	             "matchExpressions[0].values: must be specified when operator is In or NotIn");
	EXPECT_ERROR(
	        POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	            "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	            "'matchExpressions':[{'key':'zone','operator':'Exists','values':['a']}]}]}}}"),
	        "matchExpressions[0].values: may not be specified when operator is Exists");
	EXPECT_ERROR(
	        POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	            "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	            "'matchExpressions':[{'key':'n','operator':'Gt','values':['1','2']}]}]}}}"),
	        "matchExpressions[0].values: must have exactly one value when operator is Gt");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	                 "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	                 "'matchExpressions':[{'key':'n','operator':'In','values':[1]}]}]}}}"),
	             "matchExpressions[0].values[0]: want a string");
	EXPECT_ERROR(
	        POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	            "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	            "'matchFields':[{'key':'metadata.uid','operator':'In','values':['x']}]}]}}}"),
	        "matchFields[0].key: \"metadata.uid\" is not a supported field");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':{"
	                 "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
	                 "'matchFields':[{'key':'metadata.name','operator':'Exists'}]}]}}}"),
	             "matchFields[0].operator: must be In or NotIn for a field");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'affinity':{'nodeAffinity':[]}"),
	             "spec.affinity.nodeAffinity: want an object");
	EXPECT_ERROR(POD("'containers':[{'name':'c','image':'i'}],'readinessGates':[{}]"),
	             "spec.readinessGates[0].conditionType: required");
	EXPECT_ERROR("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'i'}],"
	             "'readinessGates':[{'conditionType':'g'}]},'status':{'conditions':[{'type':"
	             "'g','status':true}]}}",
	             "status.conditions[0].status: want a string");
	EXPECT_ERROR("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'i'}]},"
	             "'status':[]}",
	             "status: want an object");
}

/* A pod whose spec member `key` is an array of n copies of item (single quotes);
 * containers gets the app container itself. */
static char *pod_with_many(const char *key, const char *item_fmt, size_t n)
{
	char *buf = malloc(JSON_BYTES_MAX);
	if (buf == NULL)
		abort();
	size_t o = 0;
	o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o, "{'metadata':{'name':'p'},'spec':{");
	if (strcmp(key, "containers") != 0)
		o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o,
		                      "'containers':[{'name':'app','image':'i'}],");
	bool object = strcmp(key, "nodeSelector") == 0;
	o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o, "'%s':%c", key, object ? '{' : '[');
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o, "%s", i > 0 ? "," : "");
		o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o, item_fmt, i);
	}
	o += (size_t)snprintf(buf + o, JSON_BYTES_MAX - o, "%c}}", object ? '}' : ']');
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return buf;
}

/* Decodes a pod_with_many(); checks that n passes and n + 1 fails with want. */
static void check_limit_at(const char *file, int line, const char *key, const char *item_fmt,
                           size_t n, const char *want)
{
	for (size_t k = n; k <= n + 1; k++) {
		char *q = pod_with_many(key, item_fmt, k);
		struct fsm_pod_spec s;
		int rc = fsm_pod_decode(q, strlen(q), &s, err, sizeof(err));
		free(q);
		if (k == n && rc != 0)
			test_fail(file, line, "%s: %zu rejected: %s", key, k, err);
		if (k == n + 1 && rc == 0)
			test_fail(file, line, "%s: %zu accepted", key, k);
		if (k == n + 1 && rc != 0 && strstr(err, want) == NULL)
			test_fail(file, line, "%s: error \"%s\" does not hold \"%s\"", key, err,
			          want);
		if (rc == 0)
			fsm_pod_spec_free(&s);
	}
}
#define CHECK_LIMIT(key, item, n, want) check_limit_at(__FILE__, __LINE__, key, item, n, want)

TEST(test_limits_are_errors_naming_the_field)
{
	CHECK_LIMIT(
	        "containers", "{'name':'c%zu','image':'i'}", FSM_CONTAINERS_MAX,
	        "spec.containers: 65 containers (init and app together), more than the limit of "
	        "64");
	CHECK_LIMIT("initContainers", "{'name':'i%zu','image':'i'}", FSM_CONTAINERS_MAX - 1,
	            "spec.initContainers: 65 containers (init and app together)");
	CHECK_LIMIT("tolerations", "{'key':'k%zu','operator':'Exists'}", FSM_TOLERATIONS_MAX,
	            "spec.tolerations: 65 tolerations, more than the limit of 64");
	CHECK_LIMIT("readinessGates", "{'conditionType':'g%zu'}", FSM_GATES_MAX,
	            "spec.readinessGates: 17 readiness gates, more than the limit of 16");
	CHECK_LIMIT("nodeSelector", "'k%zu':'v'", FSM_LABELS_MAX,
	            "spec.nodeSelector: 65 labels, more than the limit of 64");

	char ports[8192];
	size_t o = 0;
	for (size_t i = 0; i <= FSM_PORTS_MAX; i++)
		o += (size_t)snprintf(ports + o, sizeof(ports) - o, "%s{'containerPort':%zu}",
		                      i > 0 ? "," : "", i + 1);
	char *q = jsonf(ONE(",'ports':[%s]"), ports);
	struct fsm_pod_spec s;
	CHECK(fsm_pod_decode(q, strlen(q), &s, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "spec.containers[0].ports: 65 ports, more than the limit of 64") != NULL,
	       "%s", err);
	free(q);

	/* Nesting deeper than the bound is an error, not a crash. */
	char *deep = malloc(2 * FSM_POD_JSON_DEPTH_MAX + 64);
	REQUIRE(deep != NULL);
	o = 0;
	o += (size_t)sprintf(deep + o, "{\"x\":");
	for (int i = 0; i < FSM_POD_JSON_DEPTH_MAX; i++)
		deep[o++] = '[';
	for (int i = 0; i < FSM_POD_JSON_DEPTH_MAX; i++)
		deep[o++] = ']';
	o += (size_t)sprintf(deep + o, "}");
	CHECK(fsm_pod_decode(deep, o, &s, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "not valid JSON: nesting too deep") != NULL, "%s", err);
	free(deep);
}

TEST(test_error_buffer_is_cut_and_optional)
{
	char small[12];
	struct fsm_pod_spec s;
	const char *q = "{\"kind\":\"Deployment\"}";
	CHECK(fsm_pod_decode(q, strlen(q), &s, small, sizeof(small)) == -1);
	CHECK_EQ_STR(small, "kind: want ");
	CHECK(fsm_pod_decode(q, strlen(q), &s, NULL, 0) == -1);
	CHECK(spec_is_empty(&s));
}

/* ---- fuzz -------------------------------------------------------------------------------- */

static const char FUZZ_BASE[] =
        "{'kind':'Pod','apiVersion':'v1','metadata':{'name':'web','namespace':'ns','uid':'u-1',"
        "'resourceVersion':'7','generation':2,'deletionTimestamp':'2024-01-02T03:04:05Z',"
        "'deletionGracePeriodSeconds':30},'spec':{'nodeName':'n','restartPolicy':'Always',"
        "'terminationGracePeriodSeconds':10,'hostNetwork':false,'priority':5,'overhead':{'cpu':"
        "'10m'},'initContainers':[{'name':'init','image':'busybox:1','resources':{'requests':{"
        "'cpu':'100m'}}},{'name':'side','image':'busybox','restartPolicy':'Always',"
        "'readinessProbe':{'tcpSocket':{'port':80}}}],'containers':[{'name':'app','image':"
        "'127.0.0.1:5000/app:1','ports':[{'containerPort':80,'protocol':'TCP'}],'resources':{"
        "'requests':{'cpu':'250m','memory':'64Mi'},'limits':{'cpu':'1','memory':'128Mi',"
        "'ephemeral-storage':'1Gi'}},'livenessProbe':{'httpGet':{'path':'/','port':80},"
        "'periodSeconds':5},'lifecycle':{'preStop':{'sleep':{'seconds':3}}}}],'tolerations':[{"
        "'key':'k','operator':'Exists','effect':'NoExecute','tolerationSeconds':60}],"
        "'nodeSelector':{'disk':'ssd'},'affinity':{'nodeAffinity':{'requiredDuringScheduling"
        "IgnoredDuringExecution':{'nodeSelectorTerms':[{'matchExpressions':[{'key':'zone',"
        "'operator':'In','values':['a']}],'matchFields':[{'key':'metadata.name','operator':'In',"
        "'values':['n']}]}]}}},'readinessGates':[{'conditionType':'g'}]},'status':{'conditions':["
        "{'type':'g','status':'True'}]}}";

static const char *const FUZZ_TOKENS[] = {
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "null",
        "true",
        "-1",
        "0",
        "1e999",
        "1.5",
        "\"\"",
        "\"x\"",
        "\\u0000",
        "{}",
        "[]",
        "99999999999999999999",
        "\"Always\"",
        "\"-\"",
        "\"1Qi\"",
};

/* One random change to buf (len bytes, capacity cap). */
static size_t mutate(char *buf, size_t len, size_t cap)
{
	size_t at = len > 0 ? (size_t)(test_rand() % len) : 0;
	switch (test_rand() % 6) {
	case 0: /* flip a byte */
		if (len > 0)
			buf[at] = (char)(test_rand() % 256);
		return len;
	case 1: /* printable byte */
		if (len > 0)
			buf[at] = (char)(' ' + test_rand() % 95);
		return len;
	case 2: { /* delete a range */
		size_t n = (size_t)(test_rand() % 16);
		if (at + n > len)
			n = len - at;
		memmove(buf + at, buf + at + n, len - at - n);
		return len - n;
	}
	case 3: { /* insert a token */
		const char *t = FUZZ_TOKENS[test_rand() % COUNT(FUZZ_TOKENS)];
		size_t n = strlen(t);
		if (len + n > cap)
			return len;
		memmove(buf + at + n, buf + at, len - at);
		memcpy(buf + at, t, n);
		return len + n;
	}
	case 4: { /* duplicate a range */
		size_t n = (size_t)(test_rand() % 64);
		if (at + n > len)
			n = len - at;
		if (len + n > cap)
			return len;
		memmove(buf + at + n, buf + at, len - at);
		return len + n;
	}
	default: /* truncate */
		return at;
	}
}

TEST(test_fuzzed_pods_never_crash)
{
	char *base = jsonf("%s", FUZZ_BASE);
	size_t base_len = strlen(base);
	struct fsm_pod_spec s;
	REQUIRE(fsm_pod_decode(base, base_len, &s, err, sizeof(err)) == 0);
	CHECK_EQ_INT(s.ncontainers, 3);
	CHECK_EQ_INT(s.cpu_request_milli, 260); /* max(250 + 0 sidecar, 100) + 10 overhead */
	CHECK_EQ_INT(s.qos, FSM_QOS_BURSTABLE);
	CHECK(s.gate_true[0]);
	fsm_pod_spec_free(&s);

	size_t cap = base_len * 2;
	char *buf = malloc(cap);
	REQUIRE(buf != NULL);
	int ok = 0, failed = 0;
	for (int iter = 0; iter < 2000; iter++) {
		memcpy(buf, base, base_len);
		size_t len = base_len;
		int changes = 1 + (int)(test_rand() % 4);
		for (int k = 0; k < changes; k++)
			len = mutate(buf, len, cap);
		memset(&s, 0x5a, sizeof(s));
		err[0] = 'X';
		err[1] = '\0';
		bool want_msg = test_rand() % 8 != 0;
		int rc = fsm_pod_decode(buf, len, &s, want_msg ? err : NULL,
		                        want_msg ? sizeof(err) : 0);
		if (rc == 0) {
			ok++;
			CHECKF(s.ncontainers >= 1 && s.ninit < s.ncontainers, "iteration %d", iter);
			for (size_t i = 0; i < s.ncontainers; i++)
				CHECKF(s.containers[i].name != NULL &&
				               s.containers[i].image != NULL &&
				               s.containers[i].json != NULL,
				       "iteration %d", iter);
			CHECK(s.json_len == len && memcmp(s.json, buf, len) == 0);
			fsm_pod_spec_free(&s);
		} else {
			failed++;
			CHECKF(rc == -1, "iteration %d: rc %d", iter, rc);
			if (want_msg)
				CHECKF(err[0] != '\0' && strcmp(err, "X") != 0,
				       "iteration %d: no message", iter);
			CHECKF(spec_is_empty(&s), "iteration %d: spec not zeroed", iter);
		}
	}
	/* Both outcomes happen, or the mutations test nothing. */
	CHECKF(ok > 50 && failed > 50, "%d decoded, %d failed", ok, failed);
	free(buf);
	free(base);
}

TEST_MAIN("fsm/model", T(test_quantity_milli_as_upstream_parses),
          T(test_volumes_decode_with_their_objects_and_mounts), T(test_volume_errors_name_the_path),
          T(test_quantity_bytes_as_upstream_parses), T(test_quantity_malformed_is_rejected),
          T(test_pod_defaults), T(test_pull_policy_defaults_follow_the_image_tag),
          T(test_pod_fields_decode), T(test_probes_and_their_defaults), T(test_lifecycle_hooks),
          T(test_init_containers_come_first_and_sidecars_are_marked),
          T(test_qos_as_upstream_computes_it), T(test_requests_default_to_limits),
          T(test_effective_requests_as_upstream_computes_them),
          T(test_deletion_timestamp_is_wall_ms), T(test_tolerations_node_selector_and_affinity),
          T(test_readiness_gates_read_status_conditions), T(test_raw_json_round_trips),
          T(test_malformed_documents_are_named), T(test_field_errors_name_the_path),
          T(test_limits_are_errors_naming_the_field), T(test_error_buffer_is_cut_and_optional),
          T(test_fuzzed_pods_never_crash))
