/*
 * agent.c — the daemon's loop (see agent.h).
 *
 * Data flow of one turn:
 *   sources (signalfd, inotify, timers, CRI relist, executors' outcomes)
 *     -> sink: stamp ts_ms/wall_ms, jnl_batch_add, fsm_fold, jnl_batch_decide,
 *        copy the commands to the turn's dispatch list
 *     -> end of turn: jnl_batch_commit (durable), then dispatch the list
 * An event that arrives while the commit is failing (disk full) stays in the
 * batch, and nothing is dispatched until a commit succeeds.
 */
#include "agent.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "effects/api.h"
#include "effects/cri.h"
#include "effects/effects.h"
#include "effects/exec.h"
#include "effects/probe.h"
#include "effects/volume.h"
#include "fsm/event_json.h"
#include "fsm/buf.h"
#include "fsm/status.h"
#include "fsm/volume.h"
#include "io/curl_glue.h"
#include "io/kapi.h"
#include "io/kubeconfig.h"
#include "io/manifests.h"
#include "io/nodeinfo.h"
#include "io/objwatch.h"
#include "io/podwatch.h"
#include "io/reactor.h"
#include "replay.h"

/* Timer ids below this are the fold's timers (hashes of their keys, masked);
 * the agent's own timers use ids above it. */
#define TIMER_RELIST (UINT64_C(1) << 62)
#define TIMER_RUNTIME_STATUS ((UINT64_C(1) << 62) + 1)
#define RUNTIME_STATUS_PERIOD_MS 5000 /* the kubelet's updateRuntimeUp period */
#define TIMER_ID_MASK ((UINT64_C(1) << 62) - 1)
/* Events one turn may fold before it commits (a bound on the batch). */
#define TURN_EVENTS_MAX 4096

struct fold_timer {
	char *key;
	uint64_t id;
	struct agent *a;
};

struct agent {
	const struct agent_config *cfg;
	struct jnl *j;
	struct fsm_state s;
	struct jnl_batch *batch;
	struct fsm_out fold_out;   /* one event's commands */
	struct fsm_out dispatch;   /* the turn's commands, dispatched after commit */
	struct io_reactor *r;
	int sfd;
	struct io_manifests *man;
	char *manifest_dir; /* the static pod directory in use, or NULL */
	char *fold_json;    /* the node.config last journaled by this run */
	CURLM *multi;
	struct io_curl *glue;
	struct cri_client *cri;
	struct fx_exec *exec;
	struct fx_probe *probe;
	char *facts;               /* the node's measured facts (io/nodeinfo), or NULL */
	char *host_ip;             /* of the facts, or NULL */
	struct io_kubeconfig kc;   /* with --kubeconfig: */
	bool kc_loaded;
	struct kapi *kapi;         /* the API client, */
	struct fx_api *api;        /* the API writer, */
	struct io_podwatch *watch; /* the pods bound to this node */
	struct io_objwatch *objw;  /* the ConfigMaps and Secrets their volumes read */
	struct fx_volume *vol;     /* the volume executor */
	char *runtime_health;      /* the last cri.status journaled, as a key */
	bool status_in_flight;
	struct fold_timer **timers; /* armed fold timers */
	size_t ntimers;
	uint64_t base_ts_ms, mono_at_base_ms;
	bool stop;
	int failed; /* a fold error: stop */
	unsigned turn_events;
	/* the last line printed per pod (show_pods) */
	char **shown_uid, **shown_line;
	size_t nshown;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ledgerlet: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The fold's clock: continues from the journal's floor (see main.c). */
static uint64_t now_ts(const struct agent *a)
{
	return a->base_ts_ms + (io_reactor_now_ms(a->r) - a->mono_at_base_ms);
}

static uint64_t ts_to_mono(const struct agent *a, uint64_t ts)
{
	return ts > a->base_ts_ms ? a->mono_at_base_ms + (ts - a->base_ts_ms) : a->mono_at_base_ms;
}

/* ---- the sink: stamp, journal (batch), fold ---- */

static int copy_command(struct fsm_out *dst, const struct fsm_command *c)
{
	struct fsm_command *d = fsm_out_push(dst);
	if (d == NULL)
		return -ENOMEM;
	*d = *c;
	d->id = fsm_arena_strdup(&dst->arena, c->id);
	d->pod_uid = fsm_arena_strdup(&dst->arena, c->pod_uid);
	d->container = fsm_arena_strdup(&dst->arena, c->container);
	d->key = fsm_arena_strdup(&dst->arena, c->key);
	d->image = fsm_arena_strdup(&dst->arena, c->image);
	if (c->body != NULL)
		d->body = fsm_arena_strndup(&dst->arena, c->body, c->body_len);
	if (d->id == NULL || d->pod_uid == NULL || d->container == NULL || d->key == NULL ||
	    d->image == NULL || (c->body != NULL && d->body == NULL))
		return -ENOMEM;
	return 0;
}

static void sink_event(void *arg, const struct fsm_event *in)
{
	struct agent *a = arg;
	if (a->failed)
		return;
	struct fsm_event ev = *in;
	ev.ts_ms = now_ts(a);
	if (ev.wall_ms == 0)
		ev.wall_ms = clock_ms(CLOCK_REALTIME);
	int rc = jnl_batch_add(a->batch, &ev);
	if (rc != 0) {
		logf_("cannot add an event to the journal batch: %s", jnl_strerror(rc));
		a->failed = 1;
		return;
	}
	fsm_out_reset(&a->fold_out);
	rc = fsm_fold(&a->s, &ev, &a->fold_out);
	if (rc != 0) {
		logf_("the fold failed at seq %llu: %s; stopping (the journal rebuilds the state)",
		      (unsigned long long)ev.seq, fsm_strerror(rc));
		a->failed = 1;
		return;
	}
	rc = jnl_batch_decide(a->batch, a->fold_out.cmds, a->fold_out.n);
	for (size_t i = 0; rc == 0 && i < a->fold_out.n; i++)
		rc = copy_command(&a->dispatch, &a->fold_out.cmds[i]);
	if (rc != 0) {
		logf_("out of memory recording a decision");
		a->failed = 1;
	}
	a->turn_events++;
}

static struct fx_sink sink_of(struct agent *a)
{
	struct fx_sink s = {sink_event, a};
	return s;
}

/* An effect for a command no executor takes (or could not take). */
static void answer(struct agent *a, const struct fsm_command *c, bool ok, enum fsm_error_class cls,
		   const char *error)
{
	struct fsm_event ev = {.kind = FSM_EV_EFFECT};
	ev.u.effect.cmd = c->id;
	ev.u.effect.ok = ok;
	ev.u.effect.error_class = cls;
	ev.u.effect.error = error ? error : "";
	ev.u.effect.result = "";
	sink_event(a, &ev);
}

/* ---- timers the fold asked for ---- */

static uint64_t key_id(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = key; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	return h & TIMER_ID_MASK;
}

static void timer_fired(void *arg, uint64_t id)
{
	struct fold_timer *t = arg;
	struct agent *a = t->a;
	(void)id;
	struct fsm_event ev = {.kind = FSM_EV_TIMER};
	ev.u.timer.key = t->key;
	sink_event(a, &ev);
	for (size_t i = 0; i < a->ntimers; i++)
		if (a->timers[i] == t) {
			a->timers[i] = a->timers[--a->ntimers];
			break;
		}
	free(t->key);
	free(t);
}

static struct fold_timer *timer_find(struct agent *a, const char *key, size_t *at)
{
	for (size_t i = 0; i < a->ntimers; i++)
		if (strcmp(a->timers[i]->key, key) == 0) {
			*at = i;
			return a->timers[i];
		}
	return NULL;
}

static void timer_set(struct agent *a, const struct fsm_command *c)
{
	size_t at;
	struct fold_timer *t = timer_find(a, c->key, &at);
	if (t == NULL) {
		struct fold_timer **v = realloc(a->timers, (a->ntimers + 1) * sizeof(*v));
		t = calloc(1, sizeof(*t));
		if (v == NULL || t == NULL || (t->key = strdup(c->key)) == NULL) {
			free(t);
			if (v != NULL)
				a->timers = v;
			answer(a, c, false, FSM_ERR_TRANSIENT, "out of memory");
			return;
		}
		a->timers = v;
		t->a = a;
		t->id = key_id(c->key);
		a->timers[a->ntimers++] = t;
	}
	int rc = io_timer_set(a->r, t->id, ts_to_mono(a, c->due_ms), timer_fired, t);
	answer(a, c, rc == 0, rc == 0 ? FSM_ERR_NONE : FSM_ERR_TRANSIENT, rc == 0 ? "" : strerror(-rc));
}

static void timer_cancel(struct agent *a, const struct fsm_command *c)
{
	size_t at;
	struct fold_timer *t = timer_find(a, c->key, &at);
	if (t != NULL) {
		io_timer_cancel(a->r, t->id);
		a->timers[at] = a->timers[--a->ntimers];
		free(t->key);
		free(t);
	}
	answer(a, c, true, FSM_ERR_NONE, "");
}

/* ---- pods as an operator reads them (make run) ---- */

static void show_status(struct agent *a, const struct fsm_command *c)
{
	const struct fsm_pod *p = fsm_state_pod(&a->s, c->pod_uid);
	json_object *st = json_tokener_parse(c->body ? c->body : "{}");
	if (st == NULL)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "%-28s %-10s",
			 p ? p->spec.name : c->pod_uid,
			 json_object_get_string(json_object_object_get(st, "phase")));
	const char *lists[] = {"initContainerStatuses", "containerStatuses"};
	for (int l = 0; l < 2 && n > 0 && (size_t)n < sizeof(line); l++) {
		json_object *arr = json_object_object_get(st, lists[l]);
		size_t k = arr ? json_object_array_length(arr) : 0;
		for (size_t i = 0; i < k && (size_t)n < sizeof(line); i++) {
			json_object *cs = json_object_array_get_idx(arr, i);
			json_object *state = json_object_object_get(cs, "state"), *inner = NULL;
			const char *what = "?";
			json_object_object_foreach(state, sk, sv)
			{
				what = sk;
				inner = sv;
			}
			const char *reason = inner ? json_object_get_string(json_object_object_get(inner, "reason")) : NULL;
			n += snprintf(line + n, sizeof(line) - (size_t)n, "  %s%s=%s%s%s%s restarts=%d",
				      l == 0 ? "init:" : "",
				      json_object_get_string(json_object_object_get(cs, "name")), what,
				      reason ? "(" : "", reason ? reason : "", reason ? ")" : "",
				      json_object_get_int(json_object_object_get(cs, "restartCount")));
			if (json_object_get_boolean(json_object_object_get(cs, "ready")) && (size_t)n < sizeof(line))
				n += snprintf(line + n, sizeof(line) - (size_t)n, " ready");
		}
	}
	json_object_put(st);
	for (size_t i = 0; i < a->nshown; i++)
		if (strcmp(a->shown_uid[i], c->pod_uid) == 0) {
			if (strcmp(a->shown_line[i], line) == 0)
				return;
			free(a->shown_line[i]);
			a->shown_line[i] = strdup(line);
			goto print;
		}
	char **u = realloc(a->shown_uid, (a->nshown + 1) * sizeof(*u));
	if (u != NULL)
		a->shown_uid = u;
	char **v = realloc(a->shown_line, (a->nshown + 1) * sizeof(*v));
	if (v != NULL)
		a->shown_line = v;
	if (u != NULL && v != NULL) {
		a->shown_uid[a->nshown] = strdup(c->pod_uid);
		a->shown_line[a->nshown] = strdup(line);
		a->nshown++;
	}
print:;
	char t[FSM_RFC3339_BYTES];
	fsm_time_rfc3339(clock_ms(CLOCK_REALTIME), t);
	printf("%s  %s\n", t + 11, line);
	fflush(stdout);
}

/* ---- dispatch ---- */

static void dispatch_one(struct agent *a, const struct fsm_command *c)
{
	int rc = -ENOTSUP;
	switch (c->kind) {
	case FSM_CMD_TIMER_SET:
		timer_set(a, c);
		return;
	case FSM_CMD_TIMER_CANCEL:
		timer_cancel(a, c);
		return;
	case FSM_CMD_API_POD_STATUS:
		if (a->cfg->show_pods)
			show_status(a, c);
		/* fallthrough */
	case FSM_CMD_API_POD_DELETE:
	case FSM_CMD_API_MIRROR_CREATE:
	case FSM_CMD_API_MIRROR_DELETE:
	case FSM_CMD_API_NODE_REGISTER:
	case FSM_CMD_API_NODE_STATUS:
	case FSM_CMD_API_LEASE:
	case FSM_CMD_API_EVENT:
		if (a->api == NULL) {
			/* Standalone: no API server to send it to. */
			answer(a, c, true, FSM_ERR_NONE, "");
			return;
		}
		rc = fx_api_dispatch(a->api, c);
		break;
	case FSM_CMD_POD_REJECT:
	case FSM_CMD_POD_EVICT:
		logf_("pod %s: %s %.*s", c->pod_uid, fsm_cmd_kind_name(c->kind), (int)c->body_len,
		      c->body ? c->body : "");
		answer(a, c, true, FSM_ERR_NONE, "");
		return;
	case FSM_CMD_VOLUME_SETUP:
	case FSM_CMD_VOLUME_TEARDOWN:
		if (a->vol != NULL)
			rc = fx_volume_dispatch(a->vol, c);
		break;
	case FSM_CMD_PROBE_START:
	case FSM_CMD_PROBE_STOP:
	case FSM_CMD_HOOK_RUN:
		if (a->probe != NULL)
			rc = fx_probe_dispatch(a->probe, c);
		break;
	default:
		if (a->exec != NULL)
			rc = fx_exec_dispatch(a->exec, c);
		break;
	}
	if (rc != 0)
		answer(a, c, false, rc == -ENOTSUP ? FSM_ERR_PERMANENT : FSM_ERR_TRANSIENT,
		       rc == -ENOTSUP ? "no executor for this command here" : strerror(-rc));
}

/* Ends a turn: commit the batch, then dispatch its commands (contract 1). The
 * dispatch may produce events (answers); they go into the next batch. */
static int commit_and_dispatch(struct agent *a)
{
	for (int round = 0; round < 8 && (jnl_batch_count(a->batch) > 0 || a->dispatch.n > 0);
	     round++) {
		int rc = jnl_batch_commit(a->batch);
		if (rc != 0) {
			logf_("journal commit failed (%s): nothing is dispatched until it succeeds",
			      jnl_strerror(rc));
			return rc;
		}
		a->turn_events = 0;
		struct fsm_out todo = a->dispatch;
		memset(&a->dispatch, 0, sizeof(a->dispatch));
		for (size_t i = 0; i < todo.n && !a->failed; i++)
			dispatch_one(a, &todo.cmds[i]);
		fsm_out_free(&todo);
	}
	return 0;
}

/* ---- sources ---- */

static void reload(struct agent *a);

static void on_signal(void *arg, int fd, uint32_t revents)
{
	struct agent *a = arg;
	(void)revents;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(a);
			continue;
		}
		logf_("%s: stopping (pods keep running)", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		a->stop = true;
	}
}

static void manifest_doc(void *arg, const char *path, const char *json, size_t len)
{
	struct agent *a = arg;
	struct fsm_pod_spec spec;
	char err[256];
	if (fsm_pod_decode(json, len, &spec, err, sizeof(err)) != 0) {
		logf_("manifest %s: %s; not run", path, err);
		return;
	}
	fsm_pod_spec_free(&spec);
	struct fsm_event ev = {.kind = FSM_EV_FILE_POD};
	ev.u.file_pod.path = path;
	ev.u.file_pod.object = json;
	ev.u.file_pod.object_len = len;
	sink_event(a, &ev);
}

static void manifest_gone(void *arg, const char *path)
{
	struct fsm_event ev = {.kind = FSM_EV_FILE_POD};
	ev.u.file_pod.path = path;
	ev.u.file_pod.removed = true;
	sink_event(arg, &ev);
}

static void manifest_error(void *arg, const char *file, const char *what)
{
	(void)arg;
	logf_("manifest %s: %s; not run", file, what);
}

static void scan_manifests(struct agent *a)
{
	struct io_manifests_cb cb = {manifest_doc, manifest_gone, manifest_error, a};
	int rc = io_manifests_scan(a->man, &cb);
	if (rc != 0)
		logf_("manifest directory %s: %s", a->manifest_dir, strerror(-rc));
}

static void on_manifests(void *arg, int fd, uint32_t revents)
{
	struct agent *a = arg;
	(void)fd;
	(void)revents;
	if (io_manifests_changed(a->man))
		scan_manifests(a);
}

/* The answer's condition of type: ready, reason and message (a missing one is
 * not ready, as the kubelet reads it). */
static void runtime_condition(const Runtime__V1__StatusResponse *r, const char *type, bool *ready,
			      const char **reason, const char **message)
{
	*ready = false;
	*reason = "";
	*message = "the runtime reported no such condition";
	const Runtime__V1__RuntimeStatus *st = r != NULL ? r->status : NULL;
	for (size_t i = 0; st != NULL && i < st->n_conditions; i++) {
		const Runtime__V1__RuntimeCondition *c = st->conditions[i];
		if (c != NULL && c->type != NULL && strcmp(c->type, type) == 0) {
			*ready = c->status;
			*reason = c->reason != NULL ? c->reason : "";
			*message = c->message != NULL ? c->message : "";
			return;
		}
	}
}

/* A Status answer: journaled as cri.status when it differs from the last one
 * (DESIGN.md contract 10: a healthy runtime writes nothing). */
static void runtime_status_done(void *arg, const struct cri_result *res)
{
	struct agent *a = arg;
	a->status_in_flight = false;
	struct fsm_event ev = {.kind = FSM_EV_CRI_STATUS};
	struct fsm_ev_cri_status *st = &ev.u.cri_status;
	st->ok = res->grpc_status == 0 && res->response != NULL;
	st->error = st->ok ? "" : res->message;
	st->runtime_reason = st->runtime_message = st->network_reason = st->network_message = "";
	if (st->ok) {
		const Runtime__V1__StatusResponse *r = (const void *)res->response;
		runtime_condition(r, "RuntimeReady", &st->runtime_ready, &st->runtime_reason,
				  &st->runtime_message);
		runtime_condition(r, "NetworkReady", &st->network_ready, &st->network_reason,
				  &st->network_message);
	}
	/* A failing call is one state, whatever its message says. */
	char key[3 * CRI_STATUS_MESSAGE_MAX];
	snprintf(key, sizeof(key), "%d|%d|%s|%s|%d|%s|%s", st->ok, st->runtime_ready,
		 st->runtime_reason, st->runtime_message, st->network_ready, st->network_reason,
		 st->network_message);
	if (a->runtime_health != NULL && strcmp(a->runtime_health, key) == 0)
		return;
	free(a->runtime_health);
	a->runtime_health = strdup(key);
	if (!st->ok)
		logf_("container runtime status: %s", st->error);
	sink_event(a, &ev);
}

static void on_runtime_status(void *arg, uint64_t id)
{
	struct agent *a = arg;
	(void)id;
	if (a->cri != NULL && !a->status_in_flight) {
		Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
		if (cri_call(a->cri, CRI_STATUS, &req.base, RUNTIME_STATUS_PERIOD_MS,
			     runtime_status_done, a) == 0)
			a->status_in_flight = true;
	}
	io_timer_set(a->r, TIMER_RUNTIME_STATUS, io_reactor_now_ms(a->r) + RUNTIME_STATUS_PERIOD_MS,
		     on_runtime_status, a);
}

static void on_relist(void *arg, uint64_t id)
{
	struct agent *a = arg;
	(void)id;
	if (a->exec != NULL)
		fx_exec_relist(a->exec); /* -EBUSY: the last one still runs */
	uint64_t period = a->cfg->relist_period_ms ? a->cfg->relist_period_ms : 1000;
	io_timer_set(a->r, TIMER_RELIST, io_reactor_now_ms(a->r) + period, on_relist, a);
}

static void on_curl_done(void *arg, CURLMsg *msg)
{
	struct agent *a = arg;
	if (a->cri != NULL && cri_client_owns(a->cri, msg->easy_handle))
		cri_client_on_done(a->cri, msg);
	else if (a->probe != NULL && fx_probe_owns(a->probe, msg->easy_handle))
		fx_probe_on_done(a->probe, msg);
	else if (a->kapi != NULL && kapi_owns(a->kapi, msg->easy_handle))
		kapi_on_done(a->kapi, msg);
}

/* ---- configuration: at start and on SIGHUP ---- */

/* The fold's configuration: the configured part and the measured facts
 * (capacity, addresses, nodeInfo, hostIP) in one object. */
static char *node_config_json(const struct agent *a, const char *fold_json)
{
	if (a->facts == NULL)
		return strdup(fold_json);
	json_object *o = json_tokener_parse(fold_json), *f = json_tokener_parse(a->facts);
	char *out = NULL;
	if (o != NULL && f != NULL) {
		json_object_object_foreach(f, k, v)
		{
			json_object_object_add(o, k, json_object_get(v));
		}
		out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(o);
	json_object_put(f);
	return out != NULL ? out : strdup(fold_json);
}

/* Journals the fold's configuration when it differs from the fold's (quiet when
 * healthy). */
static void apply_node_config(struct agent *a, const char *conf_json)
{
	char *json = node_config_json(a, conf_json);
	if (json == NULL) {
		logf_("out of memory building the node configuration");
		a->failed = 1;
		return;
	}
	size_t len = strlen(json);
	if (a->s.node_config == NULL || a->s.node_config_len != len ||
	    memcmp(a->s.node_config, json, len) != 0) {
		struct fsm_event ev = {.kind = FSM_EV_NODE_CONFIG};
		ev.u.node_config.config = json;
		ev.u.node_config.config_len = len;
		sink_event(a, &ev);
	}
	free(a->fold_json);
	a->fold_json = json;
}

/* Whether a static pod's source (a file, or "file#i") is one of dir's files. */
static bool source_in(const char *source, const char *dir)
{
	size_t n = dir ? strlen(dir) : 0;
	return n > 0 && strncmp(source, dir, n) == 0 && source[n] == '/' && strchr(source + n + 1, '/') == NULL;
}

/* Static pods whose file is gone, or not of dir (NULL: no static pods), are
 * removed: at start for what happened while the daemon was down, and when
 * SIGHUP changes the directory. */
static void drop_stale_static_pods(struct agent *a, const char *dir)
{
	/* Collected first: folding a removal may take the pod out of the table. */
	char **gone = calloc(a->s.npods ? a->s.npods : 1, sizeof(*gone));
	size_t n = 0;
	if (gone == NULL) {
		a->failed = 1;
		logf_("out of memory");
		return;
	}
	for (size_t i = 0; i < a->s.npods; i++) {
		const struct fsm_pod *p = a->s.pods[i];
		if (!p->spec.is_static || p->remove_when_stopped)
			continue;
		const char *hash = strchr(p->source, '#');
		char file[4096];
		snprintf(file, sizeof(file), "%.*s", hash ? (int)(hash - p->source) : (int)strlen(p->source),
			 p->source);
		if ((!source_in(file, dir) || access(file, F_OK) != 0) && (gone[n] = strdup(p->source)) != NULL)
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		manifest_gone(a, gone[i]);
		free(gone[i]);
	}
	free(gone);
}

/* Switches the static pod source to dir (NULL: none). If dir cannot be
 * watched, nothing changes and -1 is returned. */
static int use_manifest_dir(struct agent *a, const char *dir)
{
	struct io_manifests *man = NULL;
	char *copy = NULL;
	if (dir != NULL) {
		int rc = io_manifests_open(&man, dir);
		if (rc != 0) {
			logf_("manifest directory %s: %s", dir, strerror(-rc));
			return -1;
		}
		copy = strdup(dir);
		if (copy == NULL || io_poll_add(a->r, io_manifests_fd(man), POLLIN, on_manifests, a) != 0) {
			logf_("cannot watch the manifest directory %s", dir);
			io_manifests_close(man);
			free(copy);
			return -1;
		}
	}
	if (a->man != NULL) {
		io_poll_del(a->r, io_manifests_fd(a->man));
		io_manifests_close(a->man);
	}
	free(a->manifest_dir);
	a->man = man;
	a->manifest_dir = copy;
	/* The pods of the files that are gone first, then the directory's. */
	drop_stale_static_pods(a, dir);
	if (a->man != NULL)
		scan_manifests(a);
	return 0;
}

static bool str_eq(const char *x, const char *y)
{
	return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

/* SIGHUP: read the configuration again and apply what can change live. A bad
 * file changes nothing. */
static void reload(struct agent *a)
{
	if (a->cfg->reload == NULL) {
		logf_("SIGHUP: no --config file to read again");
		return;
	}
	struct ll_config next;
	char err[512];
	if (a->cfg->reload(a->cfg->reload_arg, &next, err, sizeof(err)) != 0) {
		logf_("SIGHUP: %s; the configuration in use is kept", err);
		return;
	}
	const struct ll_config *now = a->cfg->conf;
	if (strcmp(next.node_name, now->node_name) != 0) {
		logf_("SIGHUP: the node name cannot change while running (%s -> %s); the configuration "
		      "in use is kept",
		      now->node_name, next.node_name);
		ll_config_free(&next);
		return;
	}
	static const char *const later = "takes effect at the next start";
	if (!str_eq(next.runtime_endpoint, now->runtime_endpoint))
		logf_("SIGHUP: containerRuntimeEndpoint changed: %s", later);
	if (!str_eq(next.cgroup_root, now->cgroup_root))
		logf_("SIGHUP: cgroupRoot changed: %s", later);
	if (!str_eq(next.kubeconfig, now->kubeconfig))
		logf_("SIGHUP: the kubeconfig changed: %s", later);
	apply_node_config(a, next.fold_json);
	if (!str_eq(next.static_pod_path, a->manifest_dir)) {
		logf_("SIGHUP: staticPodPath %s -> %s", a->manifest_dir ? a->manifest_dir : "(none)",
		      next.static_pod_path ? next.static_pod_path : "(none)");
		use_manifest_dir(a, next.static_pod_path);
	}
	logf_("SIGHUP: configuration read again");
	ll_config_free(&next);
}

/* ---- start and stop ---- */

static int api_open(struct agent *a);

/* An object a volume reads changed: journaled as its version and hash. */
static void object_changed(void *arg, const struct io_objwatch_change *c)
{
	struct fsm_event ev = {.kind = FSM_EV_API_OBJECT};
	ev.u.api_object.object_kind = io_obj_kind_name(c->kind);
	ev.u.api_object.namespace_ = c->namespace_;
	ev.u.api_object.name = c->name;
	ev.u.api_object.resource_version = c->resource_version;
	ev.u.api_object.exists = c->exists;
	ev.u.api_object.hash = c->hash;
	sink_event(arg, &ev);
}

static void object_retry(void *arg, uint64_t delay_ms, const char *why)
{
	logf_("API objects: %s; again in %llu ms", why, (unsigned long long)delay_ms);
	struct fsm_event ev = {.kind = FSM_EV_API_BACKOFF};
	ev.u.api_backoff.resource = "configmaps,secrets";
	ev.u.api_backoff.delay_ms = (int64_t)delay_ms;
	ev.u.api_backoff.reason = why;
	sink_event(arg, &ev);
}

/* The pods dir's owner: pod directories of another node's ledgerlet sharing the
 * root are never taken for orphans. */
static bool pods_dir_ours(const char *root, const char *node)
{
	char path[4096], have[256];
	snprintf(path, sizeof(path), "%s/pods", root);
	if (fx_mkdir_p(path, 0750) != 0)
		return false;
	snprintf(path, sizeof(path), "%s/pods/.node", root);
	FILE *fp = fopen(path, "r");
	if (fp != NULL) {
		bool same = fgets(have, sizeof(have), fp) != NULL && strcmp(have, node) == 0;
		fclose(fp);
		return same;
	}
	fp = fopen(path, "w");
	if (fp == NULL)
		return false;
	fputs(node, fp);
	return fclose(fp) == 0;
}

/*
 * The volume executor, and with an API client the object watcher. On start
 * (contract 5): the objects of pods whose volumes are set up are watched again,
 * and pod directories the state does not know are removed.
 */
static int volumes_open(struct agent *a)
{
	const struct ll_config *conf = a->cfg->conf;
	int rc = 0;
	if (a->kapi != NULL) {
		struct io_objwatch_config oc = {.api = a->kapi, .reactor = a->r};
		struct io_objwatch_cb cb = {object_changed, object_retry, a};
		rc = io_objwatch_new(&a->objw, &oc, &cb);
	}
	struct fx_volume_config vc = {.reactor = a->r, .root_dir = conf->root_dir,
				      .node_name = conf->node_name, .host_ip = a->host_ip,
				      .api = a->kapi, .objects = a->objw};
	if (rc == 0)
		rc = fx_volume_new(&a->vol, &vc, sink_of(a));
	if (rc != 0) {
		logf_("cannot start the volume executor: %s", strerror(-rc));
		return -1;
	}
	const char **keep = calloc(a->s.npods + 1, sizeof(*keep));
	if (keep == NULL)
		return -1;
	for (size_t i = 0; i < a->s.npods; i++) {
		const struct fsm_pod *p = a->s.pods[i];
		keep[i] = p->spec.uid;
		if (p->vol_n == 0 || p->vol_down != FSM_VOL_DOWN_NONE)
			continue;
		struct fsm_buf b = FSM_BUF_INIT;
		fsm_pod_volume_body(p, &b);
		if (b.ptr != NULL)
			fx_volume_adopt(a->vol, b.ptr, b.len);
		fsm_buf_free(&b);
	}
	if (pods_dir_ours(conf->root_dir, conf->node_name)) {
		int n = fx_volume_orphans(a->vol, keep, a->s.npods);
		if (n > 0)
			logf_("removed %d pod directories of pods this node no longer has", n);
		else if (n < 0)
			logf_("cleaning %s/pods: %s", conf->root_dir, strerror(-n));
	} else {
		logf_("%s/pods belongs to another node: its pod directories are left alone",
		      conf->root_dir);
	}
	free(keep);
	return 0;
}

static int runtime_open(struct agent *a)
{
	a->multi = curl_multi_init();
	if (a->multi == NULL || io_curl_attach(a->r, a->multi, on_curl_done, a, &a->glue) != 0) {
		logf_("cannot set up libcurl");
		return -1;
	}
	const struct ll_config *conf = a->cfg->conf;
	if (api_open(a) != 0 || volumes_open(a) != 0)
		return -1;
	if (conf->runtime_endpoint == NULL)
		return 0;
	int rc = cri_client_new(&a->cri, conf->runtime_endpoint, a->multi);
	if (rc != 0) {
		logf_("container runtime %s: %s", conf->runtime_endpoint, cri_strerror(rc));
		return -1;
	}
	/* The API (NULL standalone) gives containers their ConfigMap and
	 * Secret environment. */
	struct fx_exec_config xc = {.reactor = a->r, .cgroup_parent = conf->cgroup_root,
				     .node_name = conf->node_name, .api = a->kapi,
				     .host_ip = a->host_ip, .root_dir = conf->root_dir,
				     .objects = a->objw};
	rc = fx_exec_new(&a->exec, a->cri, &xc, sink_of(a));
	if (rc == 0)
		rc = fx_probe_new(&a->probe, a->r, a->multi, a->cri, sink_of(a));
	if (rc != 0) {
		logf_("cannot start the executors: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* "containerd://1.6.20", or "" when the runtime does not answer in time. A
 * client of its own: cri_call_sync drives its multi handle alone. */
static void runtime_version(const char *endpoint, char *out, size_t n)
{
	out[0] = '\0';
	CURLM *m = curl_multi_init();
	struct cri_client *c = NULL;
	if (m != NULL && endpoint != NULL && cri_client_new(&c, endpoint, m) == 0) {
		Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
		struct cri_reply r;
		if (cri_call_sync(c, CRI_VERSION, &req.base, 3000, &r) == 0 && r.response != NULL) {
			const Runtime__V1__VersionResponse *v = (const void *)r.response;
			snprintf(out, n, "%s://%s", v->runtime_name, v->runtime_version);
		}
		cri_reply_clear(&r);
	}
	if (c != NULL)
		cri_client_free(c);
	if (m != NULL)
		curl_multi_cleanup(m);
}

/* What the node is (capacity, addresses, nodeInfo): part of node.config. */
static int facts_collect(struct agent *a)
{
	const struct ll_config *conf = a->cfg->conf;
	char version[256], err[512];
	runtime_version(conf->runtime_endpoint, version, sizeof(version));
	struct io_nodeinfo_opts o = {
		.node_name = conf->node_name,
		.node_ip = conf->node_ip,
		.runtime_version = version,
		.kubelet_version = LL_KUBELET_VERSION,
		.ephemeral_path = a->cfg->journal_dir,
	};
	if (io_nodeinfo_collect(&o, &a->facts, err, sizeof(err)) != 0) {
		logf_("node facts: %s", err);
		return conf->kubeconfig != NULL ? -1 : 0; /* a node must say what it is */
	}
	json_object *f = json_tokener_parse(a->facts), *ip;
	if (f != NULL && json_object_object_get_ex(f, "hostIP", &ip))
		a->host_ip = strdup(json_object_get_string(ip));
	json_object_put(f);
	return 0;
}

/* ---- the API server (--kubeconfig) ---- */

static bool pod_ref(void *arg, const char *uid, struct fx_api_pod_ref *out)
{
	struct agent *a = arg;
	const struct fsm_pod *p = fsm_state_pod(&a->s, uid);
	if (p == NULL)
		return false;
	out->namespace_ = p->spec.namespace_;
	out->name = p->spec.name;
	out->uid = p->spec.is_static ? p->mirror_uid : p->spec.uid;
	return true;
}

static int api_open(struct agent *a)
{
	const struct ll_config *conf = a->cfg->conf;
	if (conf->kubeconfig == NULL)
		return 0;
	char err[512];
	if (io_kubeconfig_load(conf->kubeconfig, &a->kc, err, sizeof(err)) != 0) {
		logf_("kubeconfig %s: %s", conf->kubeconfig, err);
		return -1;
	}
	a->kc_loaded = true;
	struct kapi_config kc = {
		.kubeconfig = &a->kc,
		.multi = a->multi,
		.reactor = a->r,
		.timer_id = io_timer_id_alloc(a->r),
		.qps = conf->api_qps,
		.burst = conf->api_burst,
		.user_agent = "ledgerlet/" LL_KUBELET_VERSION " (linux) kubernetes",
	};
	int rc = kapi_new(&a->kapi, &kc);
	if (rc == 0) {
		struct fx_api_config ac = {.api = a->kapi, .reactor = a->r, .node_name = conf->node_name,
					   .pod_ref = pod_ref, .pod_ref_arg = a};
		rc = fx_api_new(&a->api, &ac, sink_of(a));
	}
	if (rc != 0) {
		logf_("cannot start the API client: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* A relist: the whole list is one SYNC event (the fold removes what it lacks). */
static void watch_sync(void *arg, const char *const *objects, const size_t *lens, size_t n)
{
	struct agent *a = arg;
	size_t total = 64;
	for (size_t i = 0; i < n; i++)
		total += lens[i] + 1;
	char *list = malloc(total);
	if (list == NULL) {
		logf_("out of memory journaling a relist of %zu pods", n);
		a->failed = 1;
		return;
	}
	size_t at = (size_t)snprintf(list, total, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			list[at++] = ',';
		memcpy(list + at, objects[i], lens[i]);
		at += lens[i];
	}
	list[at++] = ']';
	list[at++] = '}';
	struct fsm_event ev = {.kind = FSM_EV_API_POD};
	ev.u.api_pod.type = FSM_WATCH_SYNC;
	ev.u.api_pod.object = list;
	ev.u.api_pod.object_len = at;
	sink_event(a, &ev);
	free(list);
}

static void watch_event(void *arg, enum io_podwatch_type type, const char *object, size_t len)
{
	struct fsm_event ev = {.kind = FSM_EV_API_POD};
	ev.u.api_pod.type = type == IO_PODWATCH_ADDED	  ? FSM_WATCH_ADDED
			    : type == IO_PODWATCH_MODIFIED ? FSM_WATCH_MODIFIED
							   : FSM_WATCH_DELETED;
	ev.u.api_pod.object = object;
	ev.u.api_pod.object_len = len;
	sink_event(arg, &ev);
}

/* The back-off the source drew is journaled (a replay shows the silence). */
static void watch_retry(void *arg, uint64_t delay_ms, const char *why)
{
	logf_("API pods: %s; again in %llu ms", why, (unsigned long long)delay_ms);
	struct fsm_event ev = {.kind = FSM_EV_API_BACKOFF};
	ev.u.api_backoff.resource = "pods";
	ev.u.api_backoff.delay_ms = (int64_t)delay_ms;
	ev.u.api_backoff.reason = why;
	sink_event(arg, &ev);
}

static int api_watch(struct agent *a)
{
	if (a->kapi == NULL)
		return 0;
	struct io_podwatch_config wc = {.api = a->kapi, .reactor = a->r,
					.timer_id = io_timer_id_alloc(a->r),
					.node_name = a->cfg->conf->node_name};
	struct io_podwatch_cb cb = {watch_sync, watch_event, watch_retry, a};
	int rc = io_podwatch_start(&a->watch, &wc, &cb);
	if (rc != 0)
		logf_("cannot watch the API's pods: %s", strerror(-rc));
	return rc;
}

static void agent_free(struct agent *a)
{
	/* Order: the CRI client's calls end before the executors that own them;
	 * the executor's API reads and the API writer's calls end before their
	 * client, which goes before the multi handle. */
	if (a->cri != NULL)
		cri_client_free(a->cri);
	fx_probe_free(a->probe);
	fx_exec_free(a->exec);
	fx_volume_free(a->vol);
	io_objwatch_free(a->objw);
	io_podwatch_stop(a->watch);
	fx_api_free(a->api);
	kapi_free(a->kapi);
	if (a->kc_loaded)
		io_kubeconfig_free(&a->kc);
	free(a->facts);
	free(a->host_ip);
	free(a->runtime_health);
	if (a->glue != NULL)
		io_curl_detach(a->glue);
	if (a->multi != NULL)
		curl_multi_cleanup(a->multi);
	for (size_t i = 0; i < a->ntimers; i++) {
		free(a->timers[i]->key);
		free(a->timers[i]);
	}
	free(a->timers);
	for (size_t i = 0; i < a->nshown; i++) {
		free(a->shown_uid[i]);
		free(a->shown_line[i]);
	}
	free(a->shown_uid);
	free(a->shown_line);
	io_manifests_close(a->man);
	free(a->manifest_dir);
	free(a->fold_json);
	if (a->sfd >= 0)
		close(a->sfd);
	io_reactor_free(a->r);
	jnl_batch_free(a->batch);
	fsm_out_free(&a->fold_out);
	fsm_out_free(&a->dispatch);
	fsm_state_free(&a->s);
}

int agent_run(struct jnl *j, const struct agent_config *cfg)
{
	struct agent a = {.cfg = cfg, .j = j, .sfd = -1};
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int result = 1;

	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	struct replay_stats st;
	struct jnl_damage d = {0};
	int rc = replay_state(j, true, &a.s, &st, &d);
	if (rc != 0) {
		logf_("replay of %s failed: %s", cfg->journal_dir, d.what[0] ? d.what : jnl_strerror(rc));
		fsm_state_free(&a.s);
		return 1;
	}
	uint64_t replay_ms = clock_ms(CLOCK_MONOTONIC) - t0;
	if (io_reactor_new(&a.r, 256) != 0 || jnl_batch_new(j, &a.batch) != 0) {
		logf_("cannot start the event loop");
		goto out;
	}
	/* The event clock continues from the journal's floor, plus the wall-clock
	 * time that passed while the daemon was down (never backwards). */
	uint64_t floor = jnl_tip_ts_ms(j), last_wall = jnl_tip_wall_ms(j), wall = clock_ms(CLOCK_REALTIME);
	a.base_ts_ms = floor + (last_wall != 0 && wall > last_wall ? wall - last_wall : 0);
	io_reactor_run_once(a.r, 0); /* one turn to read the clock */
	a.mono_at_base_ms = io_reactor_now_ms(a.r);

	a.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a.sfd < 0 || io_poll_add(a.r, a.sfd, POLLIN, on_signal, &a) != 0) {
		logf_("cannot watch signals");
		goto out;
	}
	if (facts_collect(&a) != 0 || runtime_open(&a) != 0)
		goto out;

	/* Reconcile (contract 5): what was in flight is issued again with its ids;
	 * the executors find what is already done by its labels. Before anything
	 * new is folded: what that issues is not in flight yet. */
	struct fsm_out pending = {0};
	if (fsm_pending(&a.s, &pending) == 0)
		for (size_t i = 0; i < pending.n; i++)
			copy_command(&a.dispatch, &pending.cmds[i]);
	size_t npending = pending.n;
	fsm_out_free(&pending);
	apply_node_config(&a, cfg->conf->fold_json);
	if (use_manifest_dir(&a, cfg->conf->static_pod_path) != 0)
		goto out;
	if (a.exec != NULL) {
		on_relist(&a, TIMER_RELIST);
		on_runtime_status(&a, TIMER_RUNTIME_STATUS);
	}
	if (api_watch(&a) != 0)
		goto out;
	if (commit_and_dispatch(&a) != 0 || a.failed)
		goto out;
	logf_("journal %s: seq %llu..%llu, state at seq %llu (snapshot %llu + %llu folded in %llu ms), "
	      "%zu pods, %zu commands re-issued",
	      cfg->journal_dir, (unsigned long long)jnl_base_seq(j), (unsigned long long)jnl_tip_seq(j),
	      (unsigned long long)a.s.last_seq, (unsigned long long)st.snapshot_seq,
	      (unsigned long long)st.folded, (unsigned long long)replay_ms, a.s.npods, npending);
	logf_("ready");

	while (!a.stop && !a.failed && !cfg->once) {
		a.turn_events = 0;
		rc = io_reactor_run_once(a.r, jnl_batch_count(a.batch) > 0 ? 100 : -1);
		if (rc < 0 && rc != -EINTR) {
			logf_("event loop: %s", strerror(-rc));
			break;
		}
		if (commit_and_dispatch(&a) != 0) {
			/* Disk full: wait and try again; nothing runs meanwhile. */
			continue;
		}
	}
	if (a.failed)
		goto out;
	/* Let what was dispatched last finish its turn, then a snapshot at the tip
	 * makes the next start fold nothing. */
	commit_and_dispatch(&a);
	if (a.s.last_seq == jnl_tip_seq(j) && a.s.last_seq > st.snapshot_seq) {
		rc = jnl_snapshot_put(j, &a.s);
		if (rc != 0)
			logf_("snapshot at seq %llu failed: %s", (unsigned long long)a.s.last_seq,
			      jnl_strerror(rc));
	}
	result = 0;
out:
	agent_free(&a);
	return result;
}
