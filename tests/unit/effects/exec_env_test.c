/*
 * exec_env_test.c — the container environment of the CRI executor (src/effects/exec.c):
 * the kubelet's makeEnvironmentVariables as fx_env_resolve does it given the
 * ConfigMaps and Secrets read (overrides, optional refs, prefixes, invalid keys,
 * $(VAR) expansion, fieldRefs, the kubelet's messages, the bounds); the reads
 * themselves (fx_env_fetch_start) against the test API server (tests/apiserver);
 * and a create command that refers to a ConfigMap on an executor without an API.
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "effects/cri.h"
#include "effects/exec.h"
#include "fsm/event.h"
#include "io/api_env.h"
#include "test.h"

#define SUITE "effects/exec_env"

#include "effects/runtime_env.h"

static const struct fx_env_facts FACTS = {
        .pod_name = "web",
        .pod_namespace = "default",
        .pod_uid = "u-1",
        .node_name = "node-1",
        .host_ip = "10.0.0.5",
        .pod_ip = "10.88.0.7",
        .pod_ips = "10.88.0.7,fd00::7",
};

static struct json_object *J(const char *s)
{
	struct json_object *o = json_tokener_parse(s);
	if (o == NULL)
		test_fail(__FILE__, __LINE__, "bad JSON in the test: %s", s);
	return o;
}

/* The sources a test gives fx_env_resolve, and what they hold. */
struct srcs {
	struct fx_env_source v[8];
	size_t n;
};

static void src_add(struct srcs *s, bool secret, const char *name, const char *object_json)
{
	struct fx_env_source *x = &s->v[s->n++];
	*x = (struct fx_env_source){.secret = secret, .name = name};
	if (object_json != NULL) {
		x->found = true;
		x->object = J(object_json);
	}
}

static void srcs_free(struct srcs *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_object_put(s->v[i].object);
	s->n = 0;
}

/* Resolves container_json; 0 with *e, or -1 with err. */
static int resolve(const char *container_json, struct srcs *s, bool have_api, struct fx_env *e,
                   char *err, size_t err_len)
{
	struct json_object *c = J(container_json);
	int rc = fx_env_resolve(c, &FACTS, s != NULL ? s->v : NULL, s != NULL ? s->n : 0, have_api,
	                        e, err, err_len);
	json_object_put(c);
	return rc;
}

static const char *val(const struct fx_env *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->vars[i].name, name) == 0)
			return e->vars[i].value;
	return NULL;
}

/* The environment as "A=1 B=2" in its order. */
static const char *joined(const struct fx_env *e)
{
	static char buf[4096];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < e->n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=%s", i ? " " : "",
		                      e->vars[i].name, e->vars[i].value);
	return buf;
}

/* ---- pure resolution ------------------------------------------------------------- */

TEST(plain_env_is_kept_in_order)
{
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"name\":\"c\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	                "{\"name\":\"B\"},{\"name\":\"C\",\"value\":\"x y\"}]}",
	                NULL, false, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "A=1 B= C=x y");
	fx_env_free(&e);
	REQUIRE(resolve("{\"name\":\"c\"}", NULL, false, &e, err, sizeof(err)) == 0);
	CHECK_EQ_INT(e.n, 0);
	fx_env_free(&e);
}

TEST(env_from_comes_first_and_later_definitions_override_in_place)
{
	struct srcs s = {0};
	src_add(&s, false, "cm1", "{\"data\":{\"A\":\"cm-a\",\"B\":\"cm-b\"}}");
	src_add(&s, false, "cm2", "{\"data\":{\"B\":\"cm2-b\",\"C\":\"cm2-c\"}}");
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"name\":\"c\",\"env\":[{\"name\":\"A\",\"value\":\"env-a\"},"
	                "{\"name\":\"D\",\"value\":\"d\"},{\"name\":\"D\",\"value\":\"d2\"}],"
	                "\"envFrom\":[{\"configMapRef\":{\"name\":\"cm1\"}},"
	                "{\"configMapRef\":{\"name\":\"cm2\"}}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "A=env-a B=cm2-b C=cm2-c D=d2");
	fx_env_free(&e);
	srcs_free(&s);
}

TEST(env_from_prefix_and_invalid_keys_are_skipped)
{
	struct srcs s = {0};
	src_add(&s, false, "cm",
	        "{\"data\":{\"ok\":\"1\",\"1bad\":\"2\",\"has space\":\"3\",\"a.b-c\":\"4\","
	        "\"x=y\":\"5\"},\"binaryData\":{\"BIN\":\"AA==\"}}");
	struct fx_env e;
	char err[512];
	/* Without a prefix "1bad" is no name; with "P_" it is. */
	REQUIRE(resolve("{\"name\":\"c\",\"envFrom\":[{\"configMapRef\":{\"name\":\"cm\"}}]}", &s,
	                true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "ok=1 a.b-c=4");
	fx_env_free(&e);
	REQUIRE(resolve("{\"name\":\"c\",\"envFrom\":[{\"prefix\":\"P_\",\"configMapRef\":"
	                "{\"name\":\"cm\"}}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "P_ok=1 P_1bad=2 P_a.b-c=4");
	fx_env_free(&e);
	srcs_free(&s);
}

TEST(secrets_are_base64_decoded)
{
	struct srcs s = {0};
	/* "s3cr=t" and "pw" */
	src_add(&s, true, "sec", "{\"data\":{\"TOKEN\":\"czNjcj10\",\"pw\":\"cHc=\",\"e\":\"\"}}");
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"name\":\"c\",\"envFrom\":[{\"prefix\":\"S_\",\"secretRef\":"
	                "{\"name\":\"sec\"}}],\"env\":[{\"name\":\"PW\",\"valueFrom\":"
	                "{\"secretKeyRef\":{\"name\":\"sec\",\"key\":\"pw\"}}}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "S_TOKEN=s3cr=t S_pw=pw S_e= PW=pw");
	fx_env_free(&e);
	srcs_free(&s);

	/* A value that is not base64, or that holds a NUL, fails without showing it. */
	src_add(&s, true, "sec", "{\"data\":{\"k\":\"c2VjcmV0!!!\",\"z\":\"YQBi\"}}");
	CHECK(resolve("{\"name\":\"c\",\"env\":[{\"name\":\"K\",\"valueFrom\":{\"secretKeyRef\":"
	              "{\"name\":\"sec\",\"key\":\"k\"}}}]}",
	              &s, true, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "couldn't use key k in Secret default/sec: its value is not base64");
	CHECK(strstr(err, "c2Vj") == NULL);
	CHECK(resolve("{\"name\":\"c\",\"env\":[{\"name\":\"Z\",\"valueFrom\":{\"secretKeyRef\":"
	              "{\"name\":\"sec\",\"key\":\"z\"}}}]}",
	              &s, true, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "couldn't use key z in Secret default/sec: its value holds a NUL byte");
	srcs_free(&s);
}

TEST(missing_objects_and_keys_fail_with_the_kubelets_messages)
{
	struct srcs s = {0};
	src_add(&s, false, "cfg", NULL); /* 404 */
	src_add(&s, true, "s", NULL);
	src_add(&s, false, "have", "{\"data\":{\"a\":\"1\"}}");
	src_add(&s, true, "shave", "{\"data\":{\"a\":\"MQ==\"}}");
	struct fx_env e;
	char err[512];
	static const struct {
		const char *container, *err;
	} cases[] = {
	        {"{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cfg\","
	         "\"key\":\"k\"}}}]}",
	         "configmap \"cfg\" not found"},
	        {"{\"envFrom\":[{\"configMapRef\":{\"name\":\"cfg\"}}]}",
	         "configmap \"cfg\" not found"},
	        {"{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
	         "\"key\":\"k\"}}}]}",
	         "secret \"s\" not found"},
	        {"{\"envFrom\":[{\"secretRef\":{\"name\":\"s\",\"optional\":false}}]}",
	         "secret \"s\" not found"},
	        {"{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"have\","
	         "\"key\":\"k\"}}}]}",
	         "couldn't find key k in ConfigMap default/have"},
	        {"{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"shave\","
	         "\"key\":\"k\"}}}]}",
	         "couldn't find key k in Secret default/shave"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECKF(resolve(cases[i].container, &s, true, &e, err, sizeof(err)) == -1,
		       "case %zu", i);
		CHECK_EQ_STR(err, cases[i].err);
		CHECK(e.n == 0 && e.vars == NULL);
	}
	srcs_free(&s);
}

TEST(optional_refs_skip_missing_objects_and_keys_without_undefining)
{
	struct srcs s = {0};
	src_add(&s, false, "cfg", NULL);
	src_add(&s, true, "s", NULL);
	src_add(&s, false, "have", "{\"data\":{\"X\":\"from-cm\"}}");
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"envFrom\":[{\"configMapRef\":{\"name\":\"have\"}},"
	                "{\"configMapRef\":{\"name\":\"cfg\",\"optional\":true}},"
	                "{\"secretRef\":{\"name\":\"s\",\"optional\":true}}],"
	                "\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":"
	                "\"have\",\"key\":\"nokey\",\"optional\":true}}},"
	                "{\"name\":\"Y\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cfg\","
	                "\"key\":\"k\",\"optional\":true}}},"
	                "{\"name\":\"Z\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
	                "\"key\":\"k\",\"optional\":true}}}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	/* X keeps the envFrom value: a skipped entry defines nothing. */
	CHECK_EQ_STR(joined(&e), "X=from-cm");
	fx_env_free(&e);
	srcs_free(&s);
}

TEST(read_errors_fail_even_an_optional_ref)
{
	struct srcs s = {0};
	src_add(&s, false, "cfg", NULL);
	s.v[0].error = "couldn't get configmap default/cfg: configmaps \"cfg\" is forbidden";
	struct fx_env e;
	char err[512];
	CHECK(resolve("{\"envFrom\":[{\"configMapRef\":{\"name\":\"cfg\",\"optional\":true}}]}", &s,
	              true, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "couldn't get configmap default/cfg: configmaps \"cfg\" is forbidden");
	srcs_free(&s);
}

TEST(no_api_names_the_object_it_cannot_read)
{
	struct fx_env e;
	char err[512];
	CHECK(resolve("{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":"
	              "\"cfg\",\"key\":\"k\",\"optional\":true}}}]}",
	              NULL, false, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "no API server to read configmap \"cfg\" from");
	CHECK(resolve("{\"envFrom\":[{\"secretRef\":{\"name\":\"s\"}}]}", NULL, false, &e, err,
	              sizeof(err)) == -1);
	CHECK_EQ_STR(err, "no API server to read secret \"s\" from");

	/* The first ref, in the kubelet's order (envFrom first); a value wins over a
	 * valueFrom, so its ref is none. */
	bool secret = false;
	struct json_object *c = J("{\"env\":[{\"name\":\"V\",\"value\":\"v\",\"valueFrom\":"
	                          "{\"secretKeyRef\":{\"name\":\"nope\",\"key\":\"k\"}}},"
	                          "{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":"
	                          "{\"name\":\"cfg\",\"key\":\"k\"}}}],"
	                          "\"envFrom\":[{\"secretRef\":{\"name\":\"s\"}}]}");
	CHECK_EQ_STR(fx_env_first_ref(c, &secret), "s");
	CHECK(secret);
	json_object_put(c);
	c = J("{\"env\":[{\"name\":\"A\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
	      "\"metadata.name\"}}}]}");
	CHECK(fx_env_first_ref(c, &secret) == NULL);
	json_object_put(c);
}

TEST(values_expand_references_to_what_is_defined_before)
{
	struct srcs s = {0};
	src_add(&s, false, "cm", "{\"data\":{\"FROM_CM\":\"cm\"}}");
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"envFrom\":[{\"configMapRef\":{\"name\":\"cm\"}}],\"env\":["
	                "{\"name\":\"A\",\"value\":\"a\"},"
	                "{\"name\":\"B\",\"value\":\"$(A)-$(FROM_CM)-$(LATER)-$(NOPE)\"},"
	                "{\"name\":\"C\",\"value\":\"$$(A) $$ $x $ $(A\"},"
	                "{\"name\":\"D\",\"value\":\"$(A)$(B)$\"},"
	                "{\"name\":\"E\",\"value\":\"$()$(\"},"
	                "{\"name\":\"R\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cm\","
	                "\"key\":\"FROM_CM\"}}},"
	                "{\"name\":\"LATER\",\"value\":\"l\"},"
	                "{\"name\":\"A\",\"value\":\"$(A)$(A)\"}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(val(&e, "B"), "a-cm-$(LATER)-$(NOPE)");
	CHECK_EQ_STR(val(&e, "C"), "$(A) $ $x $ $(A");
	CHECK_EQ_STR(val(&e, "D"), "aa-cm-$(LATER)-$(NOPE)$");
	CHECK_EQ_STR(val(&e, "E"), "$()$(");
	CHECK_EQ_STR(val(&e, "R"), "cm");
	CHECK_EQ_STR(val(&e, "A"), "aa");
	fx_env_free(&e);
	srcs_free(&s);

	/* A valueFrom's value is not expanded. */
	src_add(&s, false, "cm", "{\"data\":{\"V\":\"$(A)\"}}");
	REQUIRE(resolve("{\"env\":[{\"name\":\"A\",\"value\":\"a\"},{\"name\":\"V\",\"valueFrom\":"
	                "{\"configMapKeyRef\":{\"name\":\"cm\",\"key\":\"V\"}}}]}",
	                &s, true, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(val(&e, "V"), "$(A)");
	fx_env_free(&e);
	srcs_free(&s);
}

TEST(field_refs_of_the_pod_node_and_sandbox)
{
	struct fx_env e;
	char err[512];
	REQUIRE(resolve("{\"env\":["
	                "{\"name\":\"N\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata."
	                "name\"}}},"
	                "{\"name\":\"NS\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\","
	                "\"fieldPath\":\"metadata.namespace\"}}},"
	                "{\"name\":\"U\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata."
	                "uid\"}}},"
	                "{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec."
	                "nodeName\"}}},"
	                "{\"name\":\"H\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status."
	                "hostIP\"}}},"
	                "{\"name\":\"HS\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status."
	                "hostIPs\"}}},"
	                "{\"name\":\"P\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status."
	                "podIP\"}}},"
	                "{\"name\":\"PS\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status."
	                "podIPs\"}}},"
	                "{\"name\":\"X\",\"value\":\"$(N).$(NS)@$(P)\"}]}",
	                NULL, false, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "N=web NS=default U=u-1 NODE=node-1 H=10.0.0.5 HS=10.0.0.5 "
	                         "P=10.88.0.7 PS=10.88.0.7,fd00::7 X=web.default@10.88.0.7");
	fx_env_free(&e);

	static const struct {
		const char *path, *err;
	} bad[] = {
	        {"metadata.labels['app']", "env X: fieldRef metadata.labels['app'] cannot be "
	                                   "resolved: the create command does not carry it"},
	        {"metadata.annotations", "env X: fieldRef metadata.annotations cannot be "
	                                 "resolved: the create command does not carry it"},
	        {"spec.serviceAccountName", "env X: fieldRef spec.serviceAccountName cannot be "
	                                    "resolved: the pod's service account is not known"},
	        {"metadata.labelsx", "unsupported fieldPath: metadata.labelsx"},
	        {"spec.hostname", "unsupported fieldPath: spec.hostname"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char c[512];
		snprintf(c, sizeof(c),
		         "{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"%"
		         "s\"}}}]}",
		         bad[i].path);
		CHECK(resolve(c, NULL, false, &e, err, sizeof(err)) == -1);
		CHECK_EQ_STR(err, bad[i].err);
	}
	CHECK(resolve("{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":"
	              "\"limits.cpu\"}}}]}",
	              NULL, false, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "env X: resourceFieldRef is not supported");

	/* A node fact the executor was not given. */
	struct fx_env_facts f = FACTS;
	f.host_ip = NULL;
	f.node_name = "";
	struct json_object *c = J("{\"env\":[{\"name\":\"H\",\"valueFrom\":{\"fieldRef\":"
	                          "{\"fieldPath\":\"status.hostIP\"}}}]}");
	CHECK(fx_env_resolve(c, &f, NULL, 0, false, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "env H: fieldRef status.hostIP cannot be resolved: the node's IP is not "
	                  "known");
	json_object_put(c);
	c = J("{\"env\":[{\"name\":\"N\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
	      "\"spec.nodeName\"}}}]}");
	CHECK(fx_env_resolve(c, &f, NULL, 0, false, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err,
	             "env N: fieldRef spec.nodeName cannot be resolved: the node's name is not "
	             "known");
	json_object_put(c);
}

/* What the fold's "pod_meta" carries: labels and annotations, by key or whole
 * (FormatMap: key="value" lines in key order), and the service account. */
TEST(field_refs_of_labels_annotations_and_service_account)
{
	struct fx_env e;
	char err[512];
	struct fx_env_facts f = FACTS;
	struct json_object *meta = J("{\"labels\":{\"tier\":\"web\",\"app\":\"a \\\"b\\\"\"},"
	                             "\"annotations\":{\"k\":\"v\"},\"serviceAccountName\":\"robot\"}");
	json_object_object_get_ex(meta, "labels", &f.labels);
	json_object_object_get_ex(meta, "annotations", &f.annotations);
	f.service_account = "robot";
	struct json_object *c = J(
	        "{\"env\":["
	        "{\"name\":\"APP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['tier']\"}}},"
	        "{\"name\":\"NONE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['x']\"}}},"
	        "{\"name\":\"ALL\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}}},"
	        "{\"name\":\"K\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.annotations['k']\"}}},"
	        "{\"name\":\"SA\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.serviceAccountName\"}}}]}");
	REQUIRE(fx_env_resolve(c, &f, NULL, 0, false, &e, err, sizeof(err)) == 0);
	CHECK_EQ_STR(joined(&e), "APP=web NONE= ALL=app=\"a \\\"b\\\"\"\ntier=\"web\" K=v SA=robot");
	fx_env_free(&e);
	json_object_put(c);
	json_object_put(meta);
}

TEST(bounds_on_values_and_count)
{
	/* A value that doubles past FX_ENV_VALUE_BYTES_MAX. */
	size_t len = FX_ENV_VALUE_BYTES_MAX / 2 + 1;
	char *big = malloc(len + 1);
	REQUIRE(big != NULL);
	memset(big, 'x', len);
	big[len] = '\0';
	struct json_object *c = json_object_new_object();
	struct json_object *env = json_object_new_array();
	struct json_object *a = json_object_new_object(), *b = json_object_new_object();
	json_object_object_add(a, "name", json_object_new_string("A"));
	json_object_object_add(a, "value", json_object_new_string(big));
	json_object_object_add(b, "name", json_object_new_string("B"));
	json_object_object_add(b, "value", json_object_new_string("$(A)$(A)"));
	json_object_array_add(env, a);
	json_object_array_add(env, b);
	json_object_object_add(c, "env", env);
	struct fx_env e;
	char err[512];
	CHECK(fx_env_resolve(c, &FACTS, NULL, 0, false, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "env B: value longer than 1048576 bytes after expansion");
	json_object_put(c);
	free(big);

	/* More variables than FX_ENV_VARS_MAX, from one ConfigMap. */
	struct json_object *data = json_object_new_object();
	for (int i = 0; i <= FX_ENV_VARS_MAX; i++) {
		char k[32];
		snprintf(k, sizeof(k), "K%d", i);
		json_object_object_add(data, k, json_object_new_string("v"));
	}
	struct json_object *obj = json_object_new_object();
	json_object_object_add(obj, "data", data);
	struct fx_env_source src = {.secret = false, .name = "many", .found = true, .object = obj};
	c = J("{\"envFrom\":[{\"configMapRef\":{\"name\":\"many\"}}]}");
	CHECK(fx_env_resolve(c, &FACTS, &src, 1, true, &e, err, sizeof(err)) == -1);
	CHECK_EQ_STR(err, "more than 8192 environment variables");
	json_object_put(c);
	json_object_put(obj);
}

/* ---- the reads, against the test API server -------------------------------------- */

struct fetched {
	int done;
	int rc;
	struct fx_env env;
	char error[1024];
};

static void on_fetched(void *arg, int rc, struct fx_env *env, const char *error)
{
	struct fetched *f = arg;
	f->done++;
	f->rc = rc;
	if (rc == 0) {
		f->env = *env;
		env->vars = NULL;
		env->n = 0;
	} else {
		snprintf(f->error, sizeof(f->error), "%s", error);
	}
}

static void create(struct env *e, const char *path, const char *body)
{
	struct answer *a = get(e, "POST", path, body);
	CHECKF(a->status == 201 || a->status == 409, "POST %s: %ld %s", path, a->status, a->body);
}

TEST(configmaps_and_secrets_are_read_through_the_api)
{
	REQUIRE(start_server() == 0);
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	create(&e, "/api/v1/namespaces/default/configmaps",
	       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\"},"
	       "\"data\":{\"LEVEL\":\"debug\",\"MODE\":\"fast\",\"bad key\":\"x\"}}");
	create(&e, "/api/v1/namespaces/default/secrets",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
	       "\"data\":{\"password\":\"aHVudGVyMg==\"}}");

	struct json_object *c =
	        J("{\"name\":\"app\",\"envFrom\":[{\"prefix\":\"CFG_\",\"configMapRef\":{\"name\":"
	          "\"cfg\"}},{\"secretRef\":{\"name\":\"gone\",\"optional\":true}}],"
	          "\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
	          "\"key\":\"password\"}}},{\"name\":\"LVL\",\"valueFrom\":{\"configMapKeyRef\":"
	          "{\"name\":\"cfg\",\"key\":\"LEVEL\"}}},{\"name\":\"URL\",\"value\":"
	          "\"http://$(POD):80/$(LVL)\"},{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":"
	          "{\"fieldPath\":\"metadata.name\"}}}]}");
	struct fetched f = {0};
	struct fx_env_fetch *h = NULL;
	REQUIRE(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h) == 0);
	CHECK(h != NULL);
	CHECK_EQ_INT(f.done, 0); /* never from inside the call */
	run_until(&e, &f.done, 1, 15);
	REQUIRE(f.done == 1);
	CHECKF(f.rc == 0, "%s", f.error);
	CHECK_EQ_STR(joined(&f.env), "CFG_LEVEL=debug CFG_MODE=fast PW=hunter2 LVL=debug "
	                             "URL=http://$(POD):80/debug POD=web");
	fx_env_free(&f.env);
	json_object_put(c);

	/* A missing Secret that is not optional, and a missing key. */
	c = J("{\"name\":\"app\",\"env\":[{\"name\":\"X\",\"valueFrom\":{\"secretKeyRef\":"
	      "{\"name\":\"nosuch\",\"key\":\"k\"}}}]}");
	memset(&f, 0, sizeof(f));
	REQUIRE(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h) == 0);
	run_until(&e, &f.done, 1, 15);
	REQUIRE(f.done == 1);
	CHECK_EQ_INT(f.rc, -1);
	CHECK_EQ_STR(f.error, "secret \"nosuch\" not found");
	json_object_put(c);
	c = J("{\"name\":\"app\",\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":"
	      "{\"name\":\"cfg\",\"key\":\"k\"}}}]}");
	memset(&f, 0, sizeof(f));
	REQUIRE(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h) == 0);
	run_until(&e, &f.done, 1, 15);
	REQUIRE(f.done == 1);
	CHECK_EQ_STR(f.error, "couldn't find key k in ConfigMap default/cfg");
	json_object_put(c);

	/* Nothing to read: the caller resolves at once. */
	c = J("{\"name\":\"app\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}");
	CHECK_EQ_INT(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h), -ENODATA);
	json_object_put(c);

	/* A cancelled read never answers (and frees what it held: ASan). */
	c = J("{\"name\":\"app\",\"envFrom\":[{\"secretRef\":{\"name\":\"s\"}}]}");
	memset(&f, 0, sizeof(f));
	REQUIRE(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h) == 0);
	fx_env_fetch_cancel(h);
	for (int i = 0; i < 10; i++)
		io_reactor_run_once(e.r, 20);
	CHECK_EQ_INT(f.done, 0);
	json_object_put(c);

	/* More distinct objects than FX_ENV_REFS_MAX. */
	struct json_object *ef = json_object_new_array();
	for (int i = 0; i <= FX_ENV_REFS_MAX; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cm%d", i);
		struct json_object *r = json_object_new_object(), *cm = json_object_new_object();
		json_object_object_add(cm, "name", json_object_new_string(name));
		json_object_object_add(r, "configMapRef", cm);
		json_object_array_add(ef, r);
	}
	c = json_object_new_object();
	json_object_object_add(c, "envFrom", ef);
	CHECK_EQ_INT(fx_env_fetch_start(e.k, NULL, c, &FACTS, on_fetched, &f, &h), -E2BIG);
	json_object_put(c);

	env_close(&e);
	stop_server();
}

/* Through the watcher (the daemon's way): the same values, one reflector per object
 * for the pod, a change seen by the next read, and the pod's unref forgets them. */
TEST(configmaps_and_secrets_are_read_through_the_watcher)
{
	REQUIRE(start_server() == 0);
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	create(&e, "/api/v1/namespaces/default/configmaps",
	       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"wcfg\"},"
	       "\"data\":{\"LEVEL\":\"debug\"}}");
	create(&e, "/api/v1/namespaces/default/secrets",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"ws\"},"
	       "\"data\":{\"password\":\"aHVudGVyMg==\"}}");
	struct io_objwatch *w = NULL;
	struct io_objwatch_config oc = {.api = e.k, .reactor = e.r};
	struct io_objwatch_cb cb = {0};
	REQUIRE(io_objwatch_new(&w, &oc, &cb) == 0);
	struct json_object *c =
	        J("{\"name\":\"app\",\"envFrom\":[{\"configMapRef\":{\"name\":\"wcfg\"}},"
	          "{\"secretRef\":{\"name\":\"wgone\",\"optional\":true}}],\"env\":[{\"name\":"
	          "\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"ws\",\"key\":\"password\"}}}]}");
	struct fetched f = {0};
	struct fx_env_fetch *h = NULL;
	REQUIRE(fx_env_fetch_start(e.k, w, c, &FACTS, on_fetched, &f, &h) == 0);
	CHECK_EQ_INT(f.done, 0); /* never from inside the call */
	run_until(&e, &f.done, 1, 15);
	REQUIRE(f.done == 1);
	CHECKF(f.rc == 0, "%s", f.error);
	CHECK_EQ_STR(joined(&f.env), "LEVEL=debug PW=hunter2");
	fx_env_free(&f.env);
	struct io_objwatch_stats st;
	io_objwatch_stats(w, &st);
	CHECK_EQ_INT(st.objects, 3); /* the missing optional Secret is watched too */
	CHECK_EQ_INT(st.refs, 3);

	/* The ConfigMap changes: a read after the watch has it sees the new value. */
	struct answer *a = get(&e, "PUT", "/api/v1/namespaces/default/configmaps/wcfg",
	                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
	                       "\"name\":\"wcfg\"},\"data\":{\"LEVEL\":\"info\"}}");
	CHECKF(a->status == 200, "PUT: %ld %s", a->status, a->body);
	bool seen = false;
	for (int i = 0; i < 50 && !seen; i++) {
		memset(&f, 0, sizeof(f));
		REQUIRE(fx_env_fetch_start(e.k, w, c, &FACTS, on_fetched, &f, &h) == 0);
		run_until(&e, &f.done, 1, 15);
		REQUIRE(f.done == 1 && f.rc == 0);
		seen = strcmp(joined(&f.env), "LEVEL=info PW=hunter2") == 0;
		fx_env_free(&f.env);
		for (int k = 0; k < 5 && !seen; k++)
			io_reactor_run_once(e.r, 20);
	}
	CHECK(seen);
	io_objwatch_stats(w, &st);
	CHECK_EQ_INT(st.lists, 3); /* read again from the cache, not listed again */

	/* A cancelled read through the watcher never answers. */
	memset(&f, 0, sizeof(f));
	struct json_object *c2 =
	        J("{\"name\":\"app\",\"envFrom\":[{\"configMapRef\":{\"name\":\"wnew\"}}]}");
	REQUIRE(fx_env_fetch_start(e.k, w, c2, &FACTS, on_fetched, &f, &h) == 0);
	fx_env_fetch_cancel(h);
	for (int i = 0; i < 10; i++)
		io_reactor_run_once(e.r, 20);
	CHECK_EQ_INT(f.done, 0);
	json_object_put(c2);

	io_objwatch_unref_pod(w, FACTS.pod_uid);
	io_objwatch_stats(w, &st);
	CHECK_EQ_INT(st.objects, 0);
	CHECK_EQ_INT(st.refs, 0);
	json_object_put(c);
	io_objwatch_free(w);
	env_close(&e);
	stop_server();
}

/* ---- the executor: a create that refers to a ConfigMap, with no API --------------- */

static struct {
	int effects;
	char error[1024];
	int error_class;
	bool ok;
} sunk;

static void sink_event(void *arg, const struct fsm_event *ev)
{
	(void)arg;
	if (ev->kind != FSM_EV_EFFECT)
		return;
	sunk.effects++;
	sunk.ok = ev->u.effect.ok;
	sunk.error_class = (int)ev->u.effect.error_class;
	snprintf(sunk.error, sizeof(sunk.error), "%s", ev->u.effect.error);
}

TEST(standalone_create_with_a_ref_fails_as_a_config_error)
{
	struct io_reactor *r = NULL;
	REQUIRE(io_reactor_new(&r, 16) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *cri = NULL;
	REQUIRE(cri_client_new(&cri, "unix:///nonexistent/ledgerlet-exec-env.sock", multi) == 0);
	struct fx_exec_config cfg = {.reactor = r, .node_name = "node-1", .host_ip = "10.0.0.5"};
	struct fx_exec *x = NULL;
	REQUIRE(fx_exec_new(&x, cri, &cfg, (struct fx_sink){.event = sink_event}) == 0);
	const char *body =
	        "{\"sandbox_id\":\"sb\",\"sandbox_attempt\":0,\"pod\":{\"name\":\"p\","
	        "\"namespace\":\"n\",\"uid\":\"u\"},\"image_ref\":\"\",\"container\":{\"name\":"
	        "\"app\",\"image\":\"x\",\"env\":[{\"name\":\"SECRET\",\"valueFrom\":"
	        "{\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}]}}";
	struct fsm_command c = {.kind = FSM_CMD_CRI_CREATE_CONTAINER,
	                        .id = "create/u/app/0",
	                        .pod_uid = "u",
	                        .container = "app",
	                        .body = body,
	                        .body_len = strlen(body)};
	memset(&sunk, 0, sizeof(sunk));
	REQUIRE(fx_exec_dispatch(x, &c) == 0);
	CHECK_EQ_INT(sunk.effects, 0);
	for (int i = 0; i < 10 && sunk.effects == 0; i++)
		io_reactor_run_once(r, 20);
	REQUIRE(sunk.effects == 1);
	CHECK(!sunk.ok);
	CHECK_EQ_INT(sunk.error_class, FSM_ERR_PERMANENT);
	CHECK_EQ_STR(sunk.error, FX_ENV_ERROR_PREFIX "no API server to read secret \"s\" from");
	fx_exec_free(x);
	cri_client_free(cri);
	curl_multi_cleanup(multi);
	io_reactor_free(r);
}

/* ---- end to end: the real containerd, the test API server ------------------------ */

#define E2E_NS   "ledgerlet-exec-env-test"
#define E2E_NODE "ledgerlet-exec-env-test"

#define E2E_EVENTS_MAX 256

/* Every event of the executor, as JSON text (to look for what must not be there). */
static struct {
	struct cri_client *cri;
	int effects;
	char cmd[E2E_EVENTS_MAX][128];
	bool ok[E2E_EVENTS_MAX];
	int cls[E2E_EVENTS_MAX];
	char error[E2E_EVENTS_MAX][512];
	char result[E2E_EVENTS_MAX][256];
	bool leaked; /* an event carried the secret's value */
} e2e;

#define E2E_SECRET "hunter2-e2e"

static void e2e_leak_check(const char *s)
{
	if (s != NULL && strstr(s, E2E_SECRET) != NULL)
		e2e.leaked = true;
}

static void e2e_sink(void *arg, const struct fsm_event *ev)
{
	(void)arg;
	if (ev->kind == FSM_EV_CRI_CONTAINER) {
		e2e_leak_check(ev->u.cri_container.reason);
		e2e_leak_check(ev->u.cri_container.message);
		return;
	}
	if (ev->kind != FSM_EV_EFFECT || e2e.effects >= E2E_EVENTS_MAX)
		return;
	int i = e2e.effects++;
	snprintf(e2e.cmd[i], sizeof(e2e.cmd[i]), "%s", ev->u.effect.cmd);
	e2e.ok[i] = ev->u.effect.ok;
	e2e.cls[i] = (int)ev->u.effect.error_class;
	snprintf(e2e.error[i], sizeof(e2e.error[i]), "%s", ev->u.effect.error);
	snprintf(e2e.result[i], sizeof(e2e.result[i]), "%s", ev->u.effect.result);
	e2e_leak_check(ev->u.effect.error);
	e2e_leak_check(ev->u.effect.result);
}

static void e2e_cri_done(void *arg, CURLMsg *msg)
{
	(void)arg;
	if (cri_client_owns(e2e.cri, msg->easy_handle))
		cri_client_on_done(e2e.cri, msg);
}

/* Dispatches a command and runs the loop until its effect; its index, or -1. */
static int e2e_run(struct env *e, struct fx_exec *x, enum fsm_cmd_kind kind, const char *id,
                   const char *image, uint32_t timeout_s, const char *body)
{
	struct fsm_command c = {.kind = kind,
	                        .id = id,
	                        .pod_uid = "",
	                        .container = "app",
	                        .image = image,
	                        .timeout_s = timeout_s,
	                        .body = body,
	                        .body_len = body != NULL ? strlen(body) : 0};
	int before = e2e.effects;
	int rc = fx_exec_dispatch(x, &c);
	CHECKF(rc == 0, "dispatch %s: %d", id, rc);
	if (rc != 0)
		return -1;
	run_until(e, &e2e.effects, before + 1, 120);
	for (int i = before; i < e2e.effects; i++)
		if (strcmp(e2e.cmd[i], id) == 0)
			return i;
	test_fail(__FILE__, __LINE__, "no effect for %s", id);
	return -1;
}

TEST(end_to_end_a_container_sees_its_configmap_secret_and_fields)
{
	if (!rt_up(NULL))
		return;
	rt_lock_shared(-1);
	REQUIRE(start_server() == 0);
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	create(&e, "/api/v1/namespaces",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" E2E_NS
	       "\"}}");
	create(&e, "/api/v1/namespaces/" E2E_NS "/configmaps",
	       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\"},"
	       "\"data\":{\"LEVEL\":\"debug\"}}");
	/* base64 of E2E_SECRET */
	create(&e, "/api/v1/namespaces/" E2E_NS "/secrets",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
	       "\"data\":{\"password\":\"aHVudGVyMi1lMmU=\"}}");

	CURLM *multi = curl_multi_init();
	struct io_curl *glue = NULL;
	REQUIRE(cri_client_new(&e2e.cri, rt.endpoint, multi) == 0);
	REQUIRE(io_curl_attach(e.r, multi, e2e_cri_done, NULL, &glue) == 0);
	const char *parent = getenv("LEDGERLET_TEST_CGROUP_PARENT");
	struct fx_exec_config cfg = {.reactor = e.r,
	                             .log_root = "/var/log/pods",
	                             .cgroup_parent = parent != NULL ? parent : "/kubepods",
	                             .node_name = E2E_NODE,
	                             .api = e.k,
	                             .host_ip = "10.0.0.5"};
	struct fx_exec *x = NULL;
	REQUIRE(fx_exec_new(&x, e2e.cri, &cfg, (struct fx_sink){.event = e2e_sink}) == 0);

	char uid[96], id[200], pod[400], body[4096], sb[200] = "", ctr[200] = "", ref[300] = "";
	snprintf(uid, sizeof(uid), "exec-env-%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(pod, sizeof(pod),
	         "\"pod\":{\"name\":\"envpod\",\"namespace\":\"" E2E_NS "\",\"uid\":\"%s\"}", uid);
	snprintf(id, sizeof(id), "pull/%s/app", uid);
	int i = e2e_run(&e, x, FSM_CMD_CRI_PULL_IMAGE, id, rt.busybox, 0, NULL);
	REQUIRE(i >= 0 && e2e.ok[i]);
	snprintf(ref, sizeof(ref), "%s", e2e.result[i]);
	snprintf(id, sizeof(id), "sandbox/%s/0", uid);
	snprintf(body, sizeof(body), "{%s,\"attempt\":0}", pod);
	i = e2e_run(&e, x, FSM_CMD_CRI_RUN_SANDBOX, id, NULL, 0, body);
	REQUIRE(i >= 0);
	CHECKF(e2e.ok[i], "run_sandbox: %s", e2e.error[i]);
	snprintf(sb, sizeof(sb), "%s", e2e.result[i]);

	/* A Secret that is not there: the create fails as a config error. */
	snprintf(id, sizeof(id), "create/%s/bad/0", uid);
	snprintf(body, sizeof(body),
	         "{\"sandbox_id\":\"%s\",\"sandbox_attempt\":0,%s,\"image_ref\":\"%s\","
	         "\"container\":{\"name\":\"bad\",\"image\":\"%s\",\"env\":[{\"name\":\"X\","
	         "\"valueFrom\":{\"secretKeyRef\":{\"name\":\"nosuch\",\"key\":\"k\"}}}]}}",
	         sb, pod, ref, rt.busybox);
	i = e2e_run(&e, x, FSM_CMD_CRI_CREATE_CONTAINER, id, NULL, 0, body);
	if (i >= 0) {
		CHECK(!e2e.ok[i]);
		CHECK_EQ_INT(e2e.cls[i], FSM_ERR_PERMANENT);
		CHECK_EQ_STR(e2e.error[i], FX_ENV_ERROR_PREFIX "secret \"nosuch\" not found");
	}

	snprintf(id, sizeof(id), "create/%s/app/0", uid);
	snprintf(
	        body, sizeof(body),
	        "{\"sandbox_id\":\"%s\",\"sandbox_attempt\":0,%s,\"image_ref\":\"%s\","
	        "\"container\":{\"name\":\"app\",\"image\":\"%s\",\"command\":[\"sleep\","
	        "\"3600\"],\"envFrom\":[{\"prefix\":\"CFG_\",\"configMapRef\":{\"name\":\"cfg\"}}],"
	        "\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
	        "\"key\":\"password\"}}},{\"name\":\"IP\",\"valueFrom\":{\"fieldRef\":"
	        "{\"fieldPath\":\"status.podIP\"}}},{\"name\":\"HOST\",\"valueFrom\":{\"fieldRef\":"
	        "{\"fieldPath\":\"status.hostIP\"}}},{\"name\":\"NODE\",\"valueFrom\":{"
	        "\"fieldRef\":"
	        "{\"fieldPath\":\"spec.nodeName\"}}},{\"name\":\"URL\",\"value\":"
	        "\"http://$(IP)/$(CFG_LEVEL)\"}]}}",
	        sb, pod, ref, rt.busybox);
	i = e2e_run(&e, x, FSM_CMD_CRI_CREATE_CONTAINER, id, NULL, 0, body);
	REQUIRE(i >= 0);
	CHECKF(e2e.ok[i], "create: %s", e2e.error[i]);
	snprintf(ctr, sizeof(ctr), "%s", e2e.result[i]);
	if (e2e.ok[i]) {
		snprintf(id, sizeof(id), "start/%s/app/0", uid);
		snprintf(body, sizeof(body), "{\"id\":\"%s\"}", ctr);
		i = e2e_run(&e, x, FSM_CMD_CRI_START_CONTAINER, id, NULL, 0, body);
		REQUIRE(i >= 0);
		CHECKF(e2e.ok[i], "start: %s", e2e.error[i]);
		/* The values are compared inside the container: the secret stays out of
		 * the exec's output. */
		snprintf(id, sizeof(id), "exec/%s/app/check", uid);
		snprintf(body, sizeof(body),
		         "{\"container_id\":\"%s\",\"command\":[\"sh\",\"-c\","
		         "\"test \\\"$PW\\\" = " E2E_SECRET " || echo PW; "
		         "test \\\"$CFG_LEVEL\\\" = debug || echo CFG_LEVEL; "
		         "test \\\"$HOST\\\" = 10.0.0.5 || echo HOST; "
		         "test \\\"$NODE\\\" = " E2E_NODE " || echo NODE; "
		         "test -n \\\"$IP\\\" || echo IP; "
		         "test \\\"$URL\\\" = \\\"http://$IP/debug\\\" || echo URL; true\"]}",
		         ctr);
		i = e2e_run(&e, x, FSM_CMD_CRI_EXEC_SYNC, id, NULL, 10, body);
		REQUIRE(i >= 0);
		CHECKF(e2e.ok[i], "exec: %s", e2e.error[i]);
		CHECK_EQ_STR(e2e.result[i], "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\"}");
	}
	CHECK(!e2e.leaked);

	/* Clean up: the container goes with its sandbox. */
	if (ctr[0] != '\0') {
		snprintf(body, sizeof(body), "{\"id\":\"%s\"}", ctr);
		snprintf(id, sizeof(id), "stop/%s/app/0", uid);
		e2e_run(&e, x, FSM_CMD_CRI_STOP_CONTAINER, id, NULL, 0, body);
		snprintf(id, sizeof(id), "remove/%s/app/0", uid);
		e2e_run(&e, x, FSM_CMD_CRI_REMOVE_CONTAINER, id, NULL, 0, body);
	}
	if (sb[0] != '\0') {
		snprintf(body, sizeof(body), "{\"id\":\"%s\",%s}", sb, pod);
		snprintf(id, sizeof(id), "stop-sandbox/%s/0", uid);
		e2e_run(&e, x, FSM_CMD_CRI_STOP_SANDBOX, id, NULL, 0, body);
		snprintf(id, sizeof(id), "remove-sandbox/%s/0", uid);
		i = e2e_run(&e, x, FSM_CMD_CRI_REMOVE_SANDBOX, id, NULL, 0, body);
		CHECK(i >= 0 && e2e.ok[i]);
	}
	fx_exec_free(x);
	cri_client_free(e2e.cri);
	io_curl_detach(glue);
	curl_multi_cleanup(multi);
	env_close(&e);
	stop_server();
	rt_unlock();
}

TEST_MAIN(SUITE, T(plain_env_is_kept_in_order),
          T(env_from_comes_first_and_later_definitions_override_in_place),
          T(env_from_prefix_and_invalid_keys_are_skipped), T(secrets_are_base64_decoded),
          T(missing_objects_and_keys_fail_with_the_kubelets_messages),
          T(optional_refs_skip_missing_objects_and_keys_without_undefining),
          T(read_errors_fail_even_an_optional_ref), T(no_api_names_the_object_it_cannot_read),
          T(values_expand_references_to_what_is_defined_before),
          T(field_refs_of_the_pod_node_and_sandbox), T(field_refs_of_labels_annotations_and_service_account), T(bounds_on_values_and_count),
          T(configmaps_and_secrets_are_read_through_the_api),
          T(configmaps_and_secrets_are_read_through_the_watcher),
          T(standalone_create_with_a_ref_fails_as_a_config_error),
          T(end_to_end_a_container_sees_its_configmap_secret_and_fields))
