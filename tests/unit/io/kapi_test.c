/*
 * kapi_test.c — the API client's transport against our test API server
 * (tests/apiserver, started here): TLS verified with the kubeconfig's CA,
 * client certificates and bearer tokens, a refused token and an unknown CA,
 * a watch stream's lines, Retry-After, and the rate limit's pace.
 */
#include "api_env.h"

/* Counts the lines that name cm1 (a watch from now starts with what exists). */
static void on_line(void *arg, const char *line, size_t len)
{
	struct answer *a = arg;
	if (memmem(line, len, "\"cm1\"", 5) == NULL)
		return;
	a->lines++;
	snprintf(a->line, sizeof(a->line), "%.*s", (int)len, line);
}

TEST(client_certificate_and_token)
{
	REQUIRE(start_server() == 0);
	static const char *const configs[] = {"kubeconfig", "kubeconfig-token", "kubeconfig-files"};
	for (size_t i = 0; i < 3; i++) {
		struct env e;
		REQUIRE(env_open(&e, configs[i], 0, 0) == 0);
		struct answer *a = get(&e, "GET", "/api/v1/namespaces", NULL);
		CHECKF(a->done == 1 && a->status == 200 && strstr(a->body, "kube-node-lease") != NULL,
		       "%s: done %d status %ld code %d %.200s", configs[i], a->done, a->status, a->code, a->body);
		env_close(&e);
	}
}

TEST(a_refused_token_and_an_unknown_ca)
{
	struct env e;
	/* A wrong token: 401 from the server. */
	REQUIRE(env_open(&e, "kubeconfig-token", 0, 0) == 0);
	kapi_free(e.k);
	free(e.kc.token);
	e.kc.token = strdup("not-the-token");
	struct kapi_config cfg = {.kubeconfig = &e.kc, .multi = e.multi, .reactor = e.r, .timer_id = 1u << 30};
	REQUIRE(kapi_new(&e.k, &cfg) == 0);
	struct answer *a = get(&e, "GET", "/api/v1/namespaces", NULL);
	CHECKF(a->done == 1 && a->status == 401, "status %ld", a->status);
	/* No CA: the system's store does not know the server: refused by TLS. */
	kapi_free(e.k);
	free(e.kc.ca.data);
	e.kc.ca.data = NULL;
	e.kc.ca.len = 0;
	REQUIRE(kapi_new(&e.k, &cfg) == 0);
	a = get(&e, "GET", "/api/v1/namespaces", NULL);
	CHECKF(a->done == 1 && a->status == 0 && a->code == CURLE_PEER_FAILED_VERIFICATION,
	       "status %ld code %d", a->status, a->code);
	env_close(&e);
}

TEST(a_watch_streams_lines)
{
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	struct answer w = {0};
	REQUIRE(kapi_watch(e.k, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=3", on_line,
			   on_answer, &w, NULL) == 0);
	for (int i = 0; i < 10; i++)
		io_reactor_run_once(e.r, 50);
	struct answer *a = get(&e, "POST", "/api/v1/namespaces/default/configmaps",
			       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm1\"},"
			       "\"data\":{\"k\":\"v\"}}");
	CHECKF(a->status == 201, "create: %ld %.200s", a->status, a->body);
	run_until(&e, &w.lines, 1, 5);
	CHECKF(w.lines == 1 && strstr(w.line, "\"type\":\"ADDED\"") != NULL && strstr(w.line, "cm1") != NULL,
	       "lines %d: %.300s", w.lines, w.line);
	run_until(&e, &w.done, 1, 10); /* timeoutSeconds ends it */
	CHECKF(w.done == 1 && w.status == 200, "watch end: done %d status %ld code %d", w.done, w.status, w.code);
	env_close(&e);
}

TEST(retry_after_reaches_the_caller)
{
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 0, 0) == 0);
	struct answer *a = get(&e, "POST", "/_test/fail",
			       "{\"count\":1,\"code\":429,\"retryAfter\":3,\"match\":\"GET /api/v1/nodes\"}");
	CHECKF(a->status == 200, "fail rule: %ld %.200s", a->status, a->body);
	a = get(&e, "GET", "/api/v1/nodes", NULL);
	CHECKF(a->status == 429 && a->retry_after_ms == 3000, "status %ld retry-after %llu", a->status,
	       (unsigned long long)a->retry_after_ms);
	a = get(&e, "GET", "/api/v1/nodes", NULL);
	CHECKF(a->status == 200, "then: %ld", a->status);
	env_close(&e);
}

TEST(the_rate_limit_paces_requests)
{
	struct env e;
	REQUIRE(env_open(&e, "kubeconfig", 10, 2) == 0);
	struct answer a[6];
	memset(a, 0, sizeof(a));
	int done = 0;
	uint64_t t0 = io_reactor_now_ms(e.r);
	for (int i = 0; i < 6; i++)
		REQUIRE(kapi_request(e.k, "GET", "/version", NULL, NULL, 0, 10000, on_answer, &a[i], NULL) == 0);
	CHECK_EQ_INT(kapi_started(e.k), 2); /* the burst */
	for (int i = 0; i < 400 && done < 6; i++) {
		io_reactor_run_once(e.r, 50);
		done = 0;
		for (int j = 0; j < 6; j++)
			done += a[j].done;
	}
	uint64_t dt = io_reactor_now_ms(e.r) - t0;
	CHECK_EQ_INT(done, 6);
	/* 4 past the burst at 10/s: at least ~400 ms */
	CHECKF(dt >= 380, "6 requests at qps 10 burst 2 took %llu ms", (unsigned long long)dt);
	env_close(&e);
	stop_server();
}

TEST_MAIN("io/kapi", T(client_certificate_and_token), T(a_refused_token_and_an_unknown_ca),
	  T(a_watch_streams_lines), T(retry_after_reaches_the_caller), T(the_rate_limit_paces_requests))
