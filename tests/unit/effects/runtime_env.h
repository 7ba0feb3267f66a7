/*
 * runtime_env.h — for tests against the real containerd that scripts/runtime.sh
 * starts, with the images of scripts/images.sh.
 *
 * The runtime for a run is set up by the first test that needs it (rt_up): an
 * endpoint already in the environment (LEDGERLET_CRI_ENDPOINT, as a test runner that
 * started the runtime exports it, with LEDGERLET_IMAGE_BUSYBOX, LEDGERLET_IMAGE_PAUSE
 * and LEDGERLET_RUNTIME_TEST_LOCK beside it) is used as it is; otherwise
 * scripts/runtime.sh start and scripts/images.sh make one (run from the repository, or
 * from a binary under its build/), and scripts/runtime.sh env names it. When that
 * runtime cannot be had, every test that asks for it fails with
 * "runtime not available: <why>" — it never skips quietly.
 *
 * The suite defines SUITE (its name, as TEST_MAIN has it) before including this.
 */
#ifndef LEDGERLET_TEST_RUNTIME_ENV_H
#define LEDGERLET_TEST_RUNTIME_ENV_H

#include <curl/curl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "effects/cri.h"
#include "test.h"

#ifndef SUITE
#error "define SUITE before including effects/runtime_env.h"
#endif

#define RT_DEFAULT_BUSYBOX "127.0.0.1:5000/busybox:1"
#define RT_DEFAULT_PAUSE   "127.0.0.1:5000/pause:1"

static struct {
	bool tried, ok;
	char why[600];
	char root[512]; /* the repository, when the scripts were run */
	char endpoint[300];
	char busybox[200];
	char pause[200];
	char lock[300]; /* LEDGERLET_RUNTIME_TEST_LOCK, or "" */
	int lock_fd;
	CURLM *multi; /* for the synchronous calls (rt_connect): nothing else drives it */
	struct cri_client *client;
	bool busybox_was_present, pause_was_present; /* before the suite (rt_note_images) */
} rt = {.lock_fd = -1};

static inline void rt_unavailable(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void rt_unavailable(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rt.why, sizeof(rt.why), fmt, ap);
	va_end(ap);
	rt.ok = false;
}

/* The repository: the working directory when it has scripts/, else from our path. */
static inline bool rt_find_root(void)
{
	if (access("scripts/runtime.sh", F_OK) == 0 && getcwd(rt.root, sizeof(rt.root)) != NULL)
		return true;
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	char *b = strstr(exe, "/build/");
	if (b == NULL)
		return false;
	*b = '\0';
	snprintf(rt.root, sizeof(rt.root), "%s", exe);
	char probe[600];
	snprintf(probe, sizeof(probe), "%s/scripts/runtime.sh", rt.root);
	return access(probe, F_OK) == 0;
}

/* Runs a script of the repository, its output to log; when it fails, the runtime is
 * unavailable with the script's status and the last line it wrote. */
static inline bool rt_run_script(const char *script_args, const char *log)
{
	char cmd[1500];
	snprintf(cmd, sizeof(cmd), "cd '%s' && %s >'%s' 2>&1", rt.root, script_args, log);
	int rc = system(cmd);
	if (rc == 0)
		return true;
	char last[300] = "";
	FILE *f = fopen(log, "r");
	if (f != NULL) {
		char line[300];
		while (fgets(line, sizeof(line), f) != NULL)
			if (line[0] != '\n')
				snprintf(last, sizeof(last), "%s", line);
		fclose(f);
	}
	last[strcspn(last, "\n")] = '\0';
	rt_unavailable("%s failed (status %d): %s", script_args,
	               WIFEXITED(rc) ? WEXITSTATUS(rc) : rc, last);
	return false;
}

/* The value of key in a line "[export ]KEY=value" into out; nothing for other keys. */
static inline void rt_env_value(const char *line, const char *key, char *out, size_t size)
{
	if (strncmp(line, "export ", 7) == 0)
		line += 7;
	size_t n = strlen(key);
	if (strncmp(line, key, n) != 0 || line[n] != '=')
		return;
	snprintf(out, size, "%s", line + n + 1);
	out[strcspn(out, "\r\n")] = '\0';
	/* Quotes, if the script adds them. */
	size_t l = strlen(out);
	if (l >= 2 && (out[0] == '"' || out[0] == '\'') && out[l - 1] == out[0]) {
		memmove(out, out + 1, l - 2);
		out[l - 2] = '\0';
	}
}

/* The endpoint, the images and the lock from the environment, else from the scripts. */
static inline void rt_find(void)
{
	const char *env_ep = getenv("LEDGERLET_CRI_ENDPOINT");
	if (env_ep != NULL && env_ep[0] != '\0') {
		const char *b = getenv("LEDGERLET_IMAGE_BUSYBOX");
		const char *p = getenv("LEDGERLET_IMAGE_PAUSE");
		const char *l = getenv("LEDGERLET_RUNTIME_TEST_LOCK");
		snprintf(rt.endpoint, sizeof(rt.endpoint), "%s", env_ep);
		snprintf(rt.busybox, sizeof(rt.busybox), "%s", b ? b : RT_DEFAULT_BUSYBOX);
		snprintf(rt.pause, sizeof(rt.pause), "%s", p ? p : RT_DEFAULT_PAUSE);
		snprintf(rt.lock, sizeof(rt.lock), "%s", l ? l : "");
		return;
	}
	if (!rt_find_root()) {
		rt_unavailable("scripts/runtime.sh not found (run from the repository)");
		return;
	}
	char log[700], script[700];
	snprintf(log, sizeof(log), "%s/runtime-start.log", test_tmpdir());
	if (!rt_run_script("scripts/runtime.sh start", log))
		return;
	snprintf(script, sizeof(script), "%s/scripts/images.sh", rt.root);
	snprintf(log, sizeof(log), "%s/images.log", test_tmpdir());
	if (access(script, F_OK) != 0) {
		rt_unavailable("scripts/images.sh not found");
		return;
	}
	if (!rt_run_script("scripts/images.sh", log))
		return;
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cd '%s' && scripts/runtime.sh env", rt.root);
	FILE *f = popen(cmd, "r");
	char line[512];
	strcpy(rt.busybox, RT_DEFAULT_BUSYBOX);
	strcpy(rt.pause, RT_DEFAULT_PAUSE);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		rt_env_value(line, "LEDGERLET_CRI_ENDPOINT", rt.endpoint, sizeof(rt.endpoint));
		rt_env_value(line, "LEDGERLET_IMAGE_BUSYBOX", rt.busybox, sizeof(rt.busybox));
		rt_env_value(line, "LEDGERLET_IMAGE_PAUSE", rt.pause, sizeof(rt.pause));
		rt_env_value(line, "LEDGERLET_RUNTIME_TEST_LOCK", rt.lock, sizeof(rt.lock));
	}
	if (f != NULL)
		pclose(f);
	if (rt.endpoint[0] == '\0')
		rt_unavailable("scripts/runtime.sh env names no LEDGERLET_CRI_ENDPOINT");
}

/*
 * The runtime, true when it can be had. The first call finds or starts it
 * (rt_find), then runs the suite's setup (NULL: none) when that went well; the setup
 * calls rt_unavailable when it fails. Every call while the runtime cannot be had
 * fails the current test with "runtime not available: <why>".
 */
static inline bool rt_up(void (*setup)(void))
{
	if (!rt.tried) {
		rt.tried = true;
		rt.ok = true;
		rt_find();
		if (rt.ok && setup != NULL)
			setup();
	}
	if (!rt.ok) {
		printf("fail %s/%s: runtime not available: %s\n", SUITE, test_name, rt.why);
		test_failed = 1;
	}
	return rt.ok;
}

/*
 * Suites share the runtime; one that stops it (tests/e2e/runtime_test.sh) takes the
 * lock exclusive. Held shared from here until rt_unlock (or the end of the process):
 * wait_ms < 0 waits as long as it takes; else at most that long, then goes on
 * without it. Nothing when there is no lock.
 */
static inline void rt_lock_shared(int wait_ms)
{
	if (!rt.ok || rt.lock[0] == '\0' || rt.lock_fd >= 0)
		return;
	rt.lock_fd = open(rt.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (rt.lock_fd < 0)
		return;
	if (wait_ms < 0) {
		flock(rt.lock_fd, LOCK_SH);
		return;
	}
	for (int waited = 0; flock(rt.lock_fd, LOCK_SH | LOCK_NB) != 0 && waited < wait_ms;
	     waited += 100)
		usleep(100000);
}

static inline void rt_unlock(void)
{
	if (rt.lock_fd >= 0)
		close(rt.lock_fd);
	rt.lock_fd = -1;
}

/* rt.client on rt.multi, for synchronous calls; with check_version, a Version call
 * must answer too. false (the runtime unavailable) when not. */
static inline bool rt_connect(bool check_version)
{
	rt.multi = curl_multi_init();
	int rc = cri_client_new(&rt.client, rt.endpoint, rt.multi);
	if (rc != 0) {
		rt_unavailable("%s: %s", rt.endpoint, cri_strerror(rc));
		return false;
	}
	if (!check_version)
		return true;
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct cri_reply r;
	cri_call_sync(rt.client, CRI_VERSION, &req.base, 5000, &r);
	if (r.grpc_status != CRI_GRPC_OK)
		rt_unavailable("Version on %s: %s: %s", rt.endpoint,
		               cri_grpc_status_name(r.grpc_status), r.message);
	cri_reply_clear(&r);
	return rt.ok;
}

/* The client, its multi handle and the lock go. */
static inline void rt_close(void)
{
	cri_client_free(rt.client);
	rt.client = NULL;
	if (rt.multi != NULL)
		curl_multi_cleanup(rt.multi);
	rt.multi = NULL;
	rt_unlock();
}

static inline bool rt_image_present(const char *image)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = (char *)image;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	req.image = &spec;
	struct cri_reply r;
	cri_call_sync(rt.client, CRI_IMAGE_STATUS, &req.base, 5000, &r);
	bool present = r.response != NULL &&
	               ((Runtime__V1__ImageStatusResponse *)r.response)->image != NULL;
	cri_reply_clear(&r);
	return present;
}

/* Which of the images were there before the suite (it removes the others at its end). */
static inline void rt_note_images(void)
{
	rt.busybox_was_present = rt_image_present(rt.busybox);
	rt.pause_was_present = rt_image_present(rt.pause);
}

/* ListPodSandbox of the sandboxes labelled key=value, into r (cri_reply_clear it). */
static inline const Runtime__V1__ListPodSandboxResponse *
rt_list_sandboxes(const char *key, const char *value, uint64_t timeout_ms, struct cri_reply *r)
{
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry sel =
	        RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	sel.key = (char *)key;
	sel.value = (char *)value;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *sels[] = {&sel};
	Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	filter.n_label_selector = 1;
	filter.label_selector = sels;
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	req.filter = &filter;
	cri_call_sync(rt.client, CRI_LIST_POD_SANDBOX, &req.base, timeout_ms, r);
	return (const void *)r->response;
}

/* Sandboxes labelled key=value (a previous run's, or this one's): stopped and removed
 * (their containers go with them); each named in a "# <say> removed..." line unless
 * say is NULL. */
static inline void rt_remove_sandboxes_labelled(const char *key, const char *value, const char *say)
{
	struct cri_reply r;
	const Runtime__V1__ListPodSandboxResponse *list = rt_list_sandboxes(key, value, 5000, &r);
	for (size_t i = 0; list != NULL && i < list->n_items; i++) {
		struct cri_reply r2;
		Runtime__V1__StopPodSandboxRequest stop =
		        RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
		stop.pod_sandbox_id = list->items[i]->id;
		cri_call_sync(rt.client, CRI_STOP_POD_SANDBOX, &stop.base, 30000, &r2);
		cri_reply_clear(&r2);
		Runtime__V1__RemovePodSandboxRequest rm =
		        RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		rm.pod_sandbox_id = list->items[i]->id;
		cri_call_sync(rt.client, CRI_REMOVE_POD_SANDBOX, &rm.base, 30000, &r2);
		cri_reply_clear(&r2);
		if (say != NULL)
			printf("# %s removed a leftover sandbox %s\n", say, list->items[i]->id);
	}
	cri_reply_clear(&r);
}

#endif
