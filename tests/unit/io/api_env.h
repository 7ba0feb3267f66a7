/*
 * api_env.h — for tests of the API client: our test API server
 * (tests/apiserver, started in the test's directory) and a reactor, a multi
 * handle with the curl glue, and a kapi client on one of its kubeconfigs.
 */
#ifndef LEDGERLET_TEST_API_ENV_H
#define LEDGERLET_TEST_API_ENV_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/curl_glue.h"
#include "io/kapi.h"
#include "io/kubeconfig.h"
#include "io/reactor.h"
#include "test.h"

static char dir[512];
static pid_t server = -1;

static inline int start_server(void)
{
	snprintf(dir, sizeof(dir), "%s/apiserver", test_tmpdir());
	char log[600];
	snprintf(log, sizeof(log), "%s.log", dir);
	server = fork();
	if (server == 0) {
		if (freopen(log, "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execl("/usr/bin/python3", "python3", "tests/apiserver/apiserver.py", "--dir", dir, "--port", "0",
		      (char *)NULL);
		_exit(127);
	}
	char port[600];
	snprintf(port, sizeof(port), "%s/port", dir);
	for (int i = 0; i < 300; i++) {
		if (access(port, R_OK) == 0)
			return 0;
		usleep(50000);
	}
	return -1;
}

static inline void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
}

struct env {
	struct io_reactor *r;
	CURLM *multi;
	struct io_curl *glue;
	struct kapi *k;
	struct io_kubeconfig kc;
};

static inline void on_curl_done(void *arg, CURLMsg *msg)
{
	struct env *e = arg;
	if (kapi_owns(e->k, msg->easy_handle))
		kapi_on_done(e->k, msg);
}

static inline int env_open(struct env *e, const char *kubeconfig, double qps, int burst)
{
	memset(e, 0, sizeof(*e));
	char path[700], err[512];
	snprintf(path, sizeof(path), "%s/%s", dir, kubeconfig);
	if (io_kubeconfig_load(path, &e->kc, err, sizeof(err)) != 0) {
		test_fail(__FILE__, __LINE__, "%s", err);
		return -1;
	}
	if (io_reactor_new(&e->r, 64) != 0 || (e->multi = curl_multi_init()) == NULL ||
	    io_curl_attach(e->r, e->multi, on_curl_done, e, &e->glue) != 0)
		return -1;
	struct kapi_config cfg = {.kubeconfig = &e->kc, .multi = e->multi, .reactor = e->r,
				  .timer_id = 1u << 30, .qps = qps, .burst = burst, .user_agent = "kapi-test"};
	return kapi_new(&e->k, &cfg);
}

static inline void env_close(struct env *e)
{
	kapi_free(e->k);
	io_curl_detach(e->glue);
	curl_multi_cleanup(e->multi);
	io_reactor_free(e->r);
	io_kubeconfig_free(&e->kc);
}

struct answer {
	int done;
	long status;
	CURLcode code;
	uint64_t retry_after_ms;
	char body[8192];
	int lines;
	char line[4096];
};

static inline void on_answer(void *arg, const struct kapi_response *r)
{
	struct answer *a = arg;
	a->done++;
	a->status = r->http_status;
	a->code = r->curl_code;
	a->retry_after_ms = r->retry_after_ms;
	snprintf(a->body, sizeof(a->body), "%.*s", (int)r->body_len, r->body);
}

static inline void run_until(struct env *e, const int *flag, int want, int seconds)
{
	for (int i = 0; i < seconds * 20 && *flag < want; i++)
		io_reactor_run_once(e->r, 50);
}

static inline struct answer *get(struct env *e, const char *method, const char *path, const char *body)
{
	static struct answer a;
	memset(&a, 0, sizeof(a));
	int rc = kapi_request(e->k, method, path, body ? "application/json" : NULL, body,
			      body ? strlen(body) : 0, 10000, on_answer, &a, NULL);
	CHECKF(rc == 0, "kapi_request: %d", rc);
	run_until(e, &a.done, 1, 15);
	return &a;
}

#endif
