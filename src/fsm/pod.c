/*
 * fsm/pod.c — the pod and container machines.
 *
 * pod_sync() is the kubelet's computePodActions: given what the pod's spec asks
 * and what its containers and sandbox are doing, it decides the next commands —
 * create a sandbox, pull, create, start, restart after back-off, kill — and
 * pod_report() turns the result into the PodStatus the kubelet would send,
 * emitting it only when it changed. Every other function here reacts to one
 * input (an effect, a timer, an observation, a probe result) by changing the
 * machines through the ctr_* and sb_* transitions, then syncs.
 *
 * Command ids name what they act on and are made from state only (DESIGN.md
 * contract 4): "<verb>/<pod uid>/<container>/<attempt>" for containers,
 * "<verb>/<pod uid>/<sandbox attempt>" for sandboxes, "status/<uid>/<n>".
 */
#include <assert.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/buf.h"
#include "fsm/fold.h"
#include "fsm/status.h"
#include "fsm/volume.h"

/* The kubelet never stops a container faster than this. */
#define GRACE_S_MIN 2
/* Keep the current and the previous container of each slot (kubectl logs -p). */

static struct fsm_container_spec *cspec(const struct fsm_pod *p, size_t i)
{
	assert(i < p->spec.ncontainers);
	return &p->spec.containers[i];
}

static bool is_init(const struct fsm_pod *p, size_t i)
{
	return i < p->spec.ninit;
}

static bool is_regular_init(const struct fsm_pod *p, size_t i)
{
	return is_init(p, i) && !cspec(p, i)->sidecar;
}

static bool ctr_live(const struct fsm_ctr *c)
{
	return c->stage == FSM_CS_CREATING || c->stage == FSM_CS_STARTING ||
	       c->stage == FSM_CS_RUNNING || c->stage == FSM_CS_KILLING;
}

static bool ctr_succeeded(const struct fsm_ctr *c)
{
	return c->stage == FSM_CS_EXITED && c->term.set && c->term.exit_code == 0;
}

static void set_waiting(struct fsm_ctr *c, const char *reason, const char *message)
{
	COPY(c->waiting_reason, reason);
	COPY(c->waiting_message, message ? message : "");
}

/* "10s", "1m20s", "5m0s": Go's time.Duration form, which the kubelet's messages use. */
static void go_duration(uint64_t ms, char *out, size_t n)
{
	uint64_t s = ms / 1000;
	if (s < 60)
		snprintf(out, n, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(out, n, "%llum%llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
	else
		snprintf(out, n, "%lluh%llum%llus", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
}

/* ---- commands ---- */

static struct fsm_command *ctr_cmd(struct fold *f, struct fsm_pod *p, size_t i,
				   enum fsm_cmd_kind kind, const char *verb, uint32_t attempt)
{
	const char *name = cspec(p, i)->name;
	struct fsm_command *c =
		fold_cmd(f, kind, p->spec.uid, "%s/%s/%s/%u", verb, p->spec.uid, name, attempt);
	if (c != NULL) {
		c->container = fold_str(f, name, strlen(name));
		c->attempt = attempt;
	}
	return c;
}

/* {"name","namespace","uid"} of the pod, for executors' labels and log paths. */
void pod_put_ref(struct fsm_buf *b, const struct fsm_pod *p)
{
	fsm_buf_puts(b, "\"pod\":{\"name\":");
	fsm_buf_json_str(b, p->spec.name);
	fsm_buf_puts(b, ",\"namespace\":");
	fsm_buf_json_str(b, p->spec.namespace_);
	fsm_buf_puts(b, ",\"uid\":");
	fsm_buf_json_str(b, p->spec.uid);
	fsm_buf_putc(b, '}');
}

static void timer_arm(struct fold *f, struct fsm_pod *p, const char *what, const char *name,
		      uint64_t due_ms)
{
	char key[FSM_ID_BYTES * 2];
	if (name != NULL)
		snprintf(key, sizeof(key), "%s/%s/%s", what, p->spec.uid, name);
	else
		snprintf(key, sizeof(key), "%s/%s", what, p->spec.uid);
	fold_timer_set(f, p->spec.uid, key, due_ms);
}

static void timer_disarm(struct fold *f, struct fsm_pod *p, const char *what, const char *name)
{
	char key[FSM_ID_BYTES * 2];
	if (name != NULL)
		snprintf(key, sizeof(key), "%s/%s/%s", what, p->spec.uid, name);
	else
		snprintf(key, sizeof(key), "%s/%s", what, p->spec.uid);
	fold_timer_cancel(f, p->spec.uid, key);
}

/* ---- probes ---- */

static const char *probe_name(enum fsm_probe_type t)
{
	return t == FSM_PROBE_LIVENESS ? "liveness" : t == FSM_PROBE_READINESS ? "readiness" : "startup";
}

static const struct fsm_handler *probe_spec(const struct fsm_pod *p, size_t i, enum fsm_probe_type t)
{
	const struct fsm_container_spec *cs = cspec(p, i);
	return t == FSM_PROBE_LIVENESS ? &cs->liveness
	       : t == FSM_PROBE_READINESS ? &cs->readiness
					  : &cs->startup;
}

static struct fsm_probe_state *probe_state(struct fsm_ctr *c, enum fsm_probe_type t)
{
	return t == FSM_PROBE_LIVENESS ? &c->liveness : t == FSM_PROBE_READINESS ? &c->readiness : &c->startup;
}

static void probe_emit_start(struct fold *f, struct fsm_pod *p, size_t i, enum fsm_probe_type t)
{
	const struct fsm_handler *h = probe_spec(p, i, t);
	struct fsm_ctr *c = &p->ctrs[i];
	char verb[32];
	snprintf(verb, sizeof(verb), "probe-%s", probe_name(t));
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_PROBE_START, verb, c->attempt);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"probe\":");
	fsm_buf_json_str(&b, probe_name(t));
	fsm_buf_puts(&b, ",\"container_id\":");
	fsm_buf_json_str(&b, c->id);
	fsm_buf_puts(&b, ",\"pod_ip\":");
	fsm_buf_json_str(&b, p->sb_ip);
	fsm_buf_puts(&b, ",\"spec\":");
	fsm_buf_append(&b, h->json, h->json_len);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static void probe_start(struct fold *f, struct fsm_pod *p, size_t i, enum fsm_probe_type t)
{
	const struct fsm_handler *h = probe_spec(p, i, t);
	struct fsm_probe_state *ps = probe_state(&p->ctrs[i], t);
	if (h->kind == FSM_HANDLER_NONE || ps->active)
		return;
	ps->active = true;
	ps->successes = 0;
	ps->failures = 0;
	probe_emit_start(f, p, i, t);
}

static void probe_stop(struct fold *f, struct fsm_pod *p, size_t i, enum fsm_probe_type t)
{
	struct fsm_ctr *c = &p->ctrs[i];
	struct fsm_probe_state *ps = probe_state(c, t);
	if (!ps->active)
		return;
	ps->active = false;
	char verb[32];
	snprintf(verb, sizeof(verb), "probe-%s", probe_name(t));
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_PROBE_STOP, verb, c->attempt);
	(void)cmd;
}

static void probes_stop_all(struct fold *f, struct fsm_pod *p, size_t i)
{
	probe_stop(f, p, i, FSM_PROBE_STARTUP);
	probe_stop(f, p, i, FSM_PROBE_LIVENESS);
	probe_stop(f, p, i, FSM_PROBE_READINESS);
}

/* Liveness and readiness run once the startup probe has passed (or there is none). */
static void probes_after_startup(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	c->started = true;
	probe_stop(f, p, i, FSM_PROBE_STARTUP);
	probe_start(f, p, i, FSM_PROBE_LIVENESS);
	probe_start(f, p, i, FSM_PROBE_READINESS);
	/* Without a readiness probe a started container is ready. */
	if (cspec(p, i)->readiness.kind == FSM_HANDLER_NONE)
		c->ready = true;
}

static bool should_restart(const struct fsm_pod *p, size_t i);

/* ---- container transitions ---- */

/* ,"pod_meta":{labels, annotations, serviceAccountName} of the pod: what a
 * container's downward-API fieldRefs may read beyond the pod's name. */
void pod_put_meta(struct fsm_buf *b, const struct fsm_pod *p)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, p->spec.json, (int)p->spec.json_len) : NULL;
	json_tokener_free(tok);
	json_object *meta = NULL, *spec = NULL, *v;
	json_object_object_get_ex(o, "metadata", &meta);
	json_object_object_get_ex(o, "spec", &spec);
	fsm_buf_puts(b, ",\"pod_meta\":{\"labels\":");
	fsm_buf_puts(b, json_object_object_get_ex(meta, "labels", &v) && json_object_is_type(v, json_type_object)
				? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
				: "{}");
	fsm_buf_puts(b, ",\"annotations\":");
	fsm_buf_puts(b, json_object_object_get_ex(meta, "annotations", &v) &&
				json_object_is_type(v, json_type_object)
				? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
				: "{}");
	fsm_buf_puts(b, ",\"serviceAccountName\":");
	fsm_buf_json_str(b, json_object_object_get_ex(spec, "serviceAccountName", &v) &&
				    json_object_is_type(v, json_type_string)
				? json_object_get_string(v)
				: "");
	fsm_buf_putc(b, '}');
	json_object_put(o);
}

static void ctr_create(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	uint32_t a = c->ever_started ? c->attempt + 1 : 0;
	c->stage = FSM_CS_CREATING;
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_CRI_CREATE_CONTAINER, "create", a);
	if (cmd != NULL)
		cmd->image = fold_str(f, cs->image, strlen(cs->image));
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"sandbox_id\":");
	fsm_buf_json_str(&b, p->sb_id);
	fsm_buf_puts(&b, ",\"sandbox_attempt\":");
	fsm_buf_u64(&b, p->sb_attempt);
	fsm_buf_putc(&b, ',');
	pod_put_ref(&b, p);
	fsm_buf_puts(&b, ",\"image_ref\":");
	fsm_buf_json_str(&b, c->image_ref);
	fsm_buf_puts(&b, ",\"container\":");
	fsm_buf_append(&b, cs->json, cs->json_len);
	if (memmem(cs->json, cs->json_len, "fieldRef", 8) != NULL)
		pod_put_meta(&b, p);
	pod_put_mounts(&b, p, cs);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static bool pull_in_backoff(const struct fold *f, const struct fsm_ctr *c)
{
	if (c->pull_backoff_ms == 0)
		return false;
	return f->now - c->pull_backoff_updated_ts_ms < c->pull_backoff_ms;
}

/* The waiting reason and message of a failed pull (evalCRIPullErr): the CRI's
 * RegistryUnavailable and SignatureValidationFailed errors keep their name as
 * the reason, with the kubelet's message; any other is ErrImagePull with the
 * runtime's text. */
static void pull_failed_waiting(struct fsm_ctr *c, const char *image, const char *error)
{
	static const struct {
		const char *reason;
		const char *because;
	} known[] = {
		{"RegistryUnavailable", "the registry is unavailable"},
		{"SignatureValidationFailed", "the signature validation failed"},
	};
	const char *err = error != NULL ? error : "";
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		size_t n = strlen(known[k].reason);
		if (strncmp(err, known[k].reason, n) != 0)
			continue;
		char msg[FSM_MESSAGE_BYTES];
		snprintf(msg, sizeof(msg), "image pull failed for %s because %s%s", image,
			 known[k].because, err + n);
		set_waiting(c, known[k].reason, msg);
		return;
	}
	set_waiting(c, "ErrImagePull", err);
}

static void ctr_emit_pull(struct fold *f, struct fsm_pod *p, size_t i)
{
	const struct fsm_container_spec *cs = cspec(p, i);
	struct fsm_ctr *c = &p->ctrs[i];
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_CRI_PULL_IMAGE, p->spec.uid, "pull/%s/%s/%u",
					   p->spec.uid, cs->name, c->pulls);
	if (cmd != NULL) {
		cmd->container = fold_str(f, cs->name, strlen(cs->name));
		cmd->image = fold_str(f, cs->image, strlen(cs->image));
		cmd->attempt = c->pulls;
	}
}

/* The image step of a start: pull when the policy asks, then create. */
static void ctr_pull_or_create(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	bool present = node_image_present(f->s, cs->image);
	if (c->image_ready || (present && cs->pull_policy != FSM_PULL_ALWAYS)) {
		if (!c->image_ready) {
			/* EnsureImageExists returns the present image's ref, which
			 * the container is created from and reports as imageID. */
			const char *ref = node_image_ref(f->s, cs->image);
			COPY(c->image_ref, ref != NULL ? ref : "");
			api_event(f, p, (int)i, "Normal", "Pulled",
				  "Container image \"%s\" already present on machine", cs->image);
		}
		c->image_ready = true;
		ctr_create(f, p, i);
		return;
	}
	if (cs->pull_policy == FSM_PULL_NEVER) {
		char msg[FSM_MESSAGE_BYTES];
		snprintf(msg, sizeof(msg), "Container image \"%s\" is not present with pull policy of Never",
			 cs->image);
		set_waiting(c, "ErrImageNeverPull", msg);
		c->stage = FSM_CS_WAITING;
		return; /* a cri.image event that shows the image resumes it */
	}
	if (pull_in_backoff(f, c)) {
		char msg[FSM_MESSAGE_BYTES];
		snprintf(msg, sizeof(msg), "Back-off pulling image \"%s\"", cs->image);
		set_waiting(c, "ImagePullBackOff", msg);
		api_event(f, p, (int)i, "Normal", "BackOff", "%s", msg);
		api_event(f, p, (int)i, "Warning", "Failed", "Error: ImagePullBackOff");
		c->stage = FSM_CS_WAITING;
		c->retry_after_ts_ms = f->now + f->s->cfg.sync_retry_ms;
		timer_arm(f, p, "pull", cs->name, c->retry_after_ts_ms);
		return;
	}
	c->pulls++;
	c->stage = FSM_CS_PULLING;
	api_event(f, p, (int)i, "Normal", "Pulling", "Pulling image \"%s\"", cs->image);
	ctr_emit_pull(f, p, i);
}

/* The runtime holds a new container for this slot: the previous one's end
 * becomes lastState (convertToAPIContainerStatuses: the newest container is the
 * state, the one before it the lastState). */
static void ctr_created(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	if (!c->term.set)
		return;
	/* The container before the previous one goes: the kubelet's garbage
	 * collector keeps one dead container per container of a pod
	 * (MaxPerPodContainer), for `kubectl logs --previous`. */
	if (c->last_term.set && c->last_term.id[0] != '\0' &&
	    strcmp(c->last_term.id, c->term.id) != 0) {
		struct fsm_command *cmd =
			fold_cmd(f, FSM_CMD_CRI_REMOVE_CONTAINER, p->spec.uid, "gc/%s/%s/%s",
				 p->spec.uid, cspec(p, i)->name, c->last_term.id);
		if (cmd != NULL) {
			cmd->container = fold_str(f, cspec(p, i)->name, strlen(cspec(p, i)->name));
			fold_id_body(f, cmd, c->last_term.id);
		}
	}
	c->last_term = c->term;
	memset(&c->term, 0, sizeof(c->term));
}

/* Begins a new attempt of container i: its image, then create and start. */
static void ctr_begin(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	assert(c->stage == FSM_CS_WAITING || c->stage == FSM_CS_EXITED);
	/* The exited container stays the current one (its end is state.terminated)
	 * until the runtime holds its successor: ctr_created moves it to lastState. */
	/* A new attempt needs its image again (pull policy Always); a pull that
	 * completed for this attempt (WAITING) is kept. */
	if (c->stage == FSM_CS_EXITED)
		c->image_ready = false;
	c->stage = FSM_CS_WAITING;
	c->kill_reason = FSM_KILL_NONE;
	c->prestop_done = false;
	c->poststart_done = false;
	c->started = false;
	c->ready = false;
	memset(&c->liveness, 0, sizeof(c->liveness));
	memset(&c->readiness, 0, sizeof(c->readiness));
	memset(&c->startup, 0, sizeof(c->startup));
	ctr_pull_or_create(f, p, i);
}

static void ctr_emit_poststart(struct fold *f, struct fsm_pod *p, size_t i)
{
	const struct fsm_container_spec *cs = cspec(p, i);
	struct fsm_ctr *c = &p->ctrs[i];
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_HOOK_RUN, "poststart", c->attempt);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"hook\":\"postStart\",\"container_id\":");
	fsm_buf_json_str(&b, c->id);
	fsm_buf_puts(&b, ",\"pod_ip\":");
	fsm_buf_json_str(&b, p->sb_ip);
	fsm_buf_puts(&b, ",\"spec\":");
	fsm_buf_append(&b, cs->post_start.json, cs->post_start.json_len);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static void ctr_running(struct fold *f, struct fsm_pod *p, size_t i, uint64_t started_wall_ms)
{
	struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	/* Its start answered, or the runtime seen running it first. */
	api_event(f, p, (int)i, "Normal", "Started", "Started container %s", cs->name);
	c->stage = FSM_CS_RUNNING;
	c->started_wall_ms = started_wall_ms ? started_wall_ms : f->wall;
	c->spec_hash = cs->spec_hash;
	/* startContainer ends with the postStart hook: only then does the reason
	 * cache drop the last failed start (and the status show it running). */
	if (cs->post_start.kind == FSM_HANDLER_NONE || c->poststart_done)
		set_waiting(c, "", "");
	if (cs->post_start.kind != FSM_HANDLER_NONE && !c->poststart_done)
		ctr_emit_poststart(f, p, i);
	if (cs->startup.kind != FSM_HANDLER_NONE)
		probe_start(f, p, i, FSM_PROBE_STARTUP);
	else
		probes_after_startup(f, p, i);
}

/* The fold time of a past wall-clock instant (the runtime's finishedAt): now,
 * less how long ago it was by the wall clock. */
static uint64_t ts_of_wall(const struct fold *f, uint64_t wall_ms)
{
	uint64_t ago = wall_ms != 0 && wall_ms < f->wall ? f->wall - wall_ms : 0;
	return ago < f->now ? f->now - ago : 0;
}

/* The container is gone: records its end and stops what watched it. The
 * crash-loop back-off counts from its finishedAt (doBackOff), so an exit seen
 * late — a relist after ledgerlet was away — is as old as the runtime says. */
static void ctr_exited(struct fold *f, struct fsm_pod *p, size_t i, int32_t exit_code,
		       const char *reason, const char *message, uint64_t started_wall_ms,
		       uint64_t finished_wall_ms)
{
	struct fsm_ctr *c = &p->ctrs[i];
	/* A container killed after its postStart hook failed keeps that failure as
	 * its waiting reason (PostStartHookError) until a start succeeds. */
	bool keep_reason = c->stage == FSM_CS_KILLING && c->waiting_reason[0] != '\0';
	probes_stop_all(f, p, i);
	c->stage = FSM_CS_EXITED;
	c->started = false;
	c->ready = false;
	c->term.set = true;
	c->term.exit_code = exit_code;
	if (reason == NULL || reason[0] == '\0')
		reason = exit_code == 0 ? "Completed" : "Error";
	COPY(c->term.reason, reason);
	COPY(c->term.message, message ? message : "");
	c->term.started_wall_ms = started_wall_ms ? started_wall_ms : c->started_wall_ms;
	c->term.finished_wall_ms = finished_wall_ms ? finished_wall_ms : f->wall;
	COPY(c->term.id, c->id);
	c->exited_ts_ms = ts_of_wall(f, c->term.finished_wall_ms);
	if (!keep_reason)
		set_waiting(c, "", "");
}

static int64_t pod_grace_s(const struct fsm_pod *p)
{
	return p->kill_grace_s >= 0 ? p->kill_grace_s : p->spec.grace_s;
}

/* The grace period of a kill of container i for its kill_reason. */
static int64_t kill_grace_s(const struct fsm_pod *p, size_t i)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	int64_t grace = pod_grace_s(p);
	if (c->kill_reason == FSM_KILL_LIVENESS || c->kill_reason == FSM_KILL_STARTUP) {
		const struct fsm_handler *h =
			c->kill_reason == FSM_KILL_LIVENESS ? &cs->liveness : &cs->startup;
		if (h->termination_grace_s >= 0)
			grace = h->termination_grace_s;
	}
	return grace;
}

/* The command a KILLING container waits for: its preStop hook, or the stop. */
static void ctr_emit_kill(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	const struct fsm_container_spec *cs = cspec(p, i);
	int64_t grace = kill_grace_s(p, i);
	if (cs->pre_stop.kind != FSM_HANDLER_NONE && !c->prestop_done && grace > 0) {
		struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_HOOK_RUN, "prestop", c->attempt);
		if (cmd != NULL)
			cmd->timeout_s = (uint32_t)grace;
		struct fsm_buf b = FSM_BUF_INIT;
		fsm_buf_puts(&b, "{\"hook\":\"preStop\",\"container_id\":");
		fsm_buf_json_str(&b, c->id);
		fsm_buf_puts(&b, ",\"pod_ip\":");
		fsm_buf_json_str(&b, p->sb_ip);
		fsm_buf_puts(&b, ",\"spec\":");
		fsm_buf_append(&b, cs->pre_stop.json, cs->pre_stop.json_len);
		fsm_buf_putc(&b, '}');
		fold_body(f, cmd, &b);
		fsm_buf_free(&b);
		return;
	}
	/* The hook's time comes out of the grace period, whatever the kill's
	 * reason (killContainer: gracePeriod -= executePreStopHook(...), then at
	 * least minimumGracePeriodInSeconds). */
	uint64_t deadline = c->kill_reason == FSM_KILL_POD && p->kill_deadline_ts_ms != 0
				    ? p->kill_deadline_ts_ms
			    : c->prestop_done ? c->kill_deadline_ts_ms
					      : 0;
	if (deadline != 0)
		grace = deadline > f->now ? (int64_t)((deadline - f->now + 999) / 1000) : 0;
	if (grace < GRACE_S_MIN)
		grace = GRACE_S_MIN;
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_CRI_STOP_CONTAINER, "stop", c->attempt);
	if (cmd != NULL) {
		cmd->timeout_s = (uint32_t)grace;
		fold_id_body(f, cmd, c->id);
	}
}

/* Stops container i: its preStop hook first (when it has one and the pod is
 * going), then the runtime's stop with what is left of the grace period. */
static void ctr_kill(struct fold *f, struct fsm_pod *p, size_t i, enum fsm_kill_reason why)
{
	struct fsm_ctr *c = &p->ctrs[i];
	if (c->stage != FSM_CS_RUNNING)
		return;
	c->kill_reason = why;
	c->stage = FSM_CS_KILLING;
	if (why == FSM_KILL_LIVENESS || why == FSM_KILL_STARTUP)
		api_event(f, p, (int)i, "Normal", "Killing", "Container %s failed %s probe, will be restarted",
			  cspec(p, i)->name, why == FSM_KILL_LIVENESS ? "liveness" : "startup");
	else
		api_event(f, p, (int)i, "Normal", "Killing", "Stopping container %s", cspec(p, i)->name);
	if (!c->prestop_done) {
		int64_t grace = kill_grace_s(p, i);
		c->kill_deadline_ts_ms = f->now + (uint64_t)(grace > 0 ? grace : 0) * 1000;
	}
	/* Readiness keeps its last result until the container is gone, as the
	 * kubelet's prober cache does. */
	probes_stop_all(f, p, i);
	ctr_emit_kill(f, p, i);
}

/* Continues a kill after its preStop hook ended (well or not). */
static void ctr_kill_after_hook(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	c->prestop_done = true;
	c->stage = FSM_CS_RUNNING; /* ctr_kill starts from a running container */
	ctr_kill(f, p, i, c->kill_reason);
}

static void ctr_emit_start(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	struct fsm_command *cmd =
		ctr_cmd(f, p, i, FSM_CMD_CRI_START_CONTAINER, "start", c->attempt);
	fold_id_body(f, cmd, c->id);
}

/* ---- back-off (the kubelet's flowcontrol.Backoff, one entry per container) ---- */

static bool backoff_expired(const struct fold *f, const struct fsm_ctr *c, uint64_t event_ts)
{
	return event_ts > c->backoff_updated_ts_ms &&
	       event_ts - c->backoff_updated_ts_ms > 2 * f->s->cfg.backoff_max_ms;
}

static bool ctr_in_backoff(const struct fold *f, const struct fsm_ctr *c)
{
	if (c->backoff_ms == 0 || backoff_expired(f, c, c->exited_ts_ms))
		return false;
	return f->now - c->exited_ts_ms < c->backoff_ms;
}

static void ctr_backoff_next(const struct fold *f, struct fsm_ctr *c)
{
	const struct fsm_node_config *cfg = &f->s->cfg;
	if (c->backoff_ms == 0 || backoff_expired(f, c, c->exited_ts_ms))
		c->backoff_ms = cfg->backoff_initial_ms;
	else
		c->backoff_ms = c->backoff_ms * 2 > cfg->backoff_max_ms ? cfg->backoff_max_ms
									 : c->backoff_ms * 2;
	c->backoff_updated_ts_ms = f->now;
}

/* Restarts an exited container now, or shows CrashLoopBackOff until it may. */
static void ctr_restart(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	if (c->retry_after_ts_ms > f->now)
		return; /* a failed start is retried by its timer */
	if (c->kill_reason == FSM_KILL_LIVENESS || c->kill_reason == FSM_KILL_STARTUP ||
	    c->kill_reason == FSM_KILL_SPEC) {
		/* The kubelet kills such a container and starts the next in the
		 * same sync, from the pod status read before the kill: doBackOff
		 * looks at the newest container that had exited before it (none:
		 * no back-off, and no Next). */
		c->kill_reason = FSM_KILL_NONE;
		if (!c->last_term.set) {
			ctr_begin(f, p, i);
			return;
		}
		uint64_t prev = ts_of_wall(f, c->last_term.finished_wall_ms);
		if (c->backoff_ms == 0 || backoff_expired(f, c, prev) ||
		    f->now - prev >= c->backoff_ms) {
			uint64_t exited = c->exited_ts_ms;
			c->exited_ts_ms = prev; /* Next(key, that exit's finishedAt) */
			ctr_backoff_next(f, c);
			c->exited_ts_ms = exited;
			ctr_begin(f, p, i);
			return;
		}
		/* In back-off then: from now on an exited container like any. */
	}
	if (ctr_in_backoff(f, c)) {
		char d[32], msg[FSM_MESSAGE_BYTES];
		go_duration(c->backoff_ms, d, sizeof(d));
		snprintf(msg, sizeof(msg), "back-off %s restarting failed container=%s pod=%s_%s(%s)", d,
			 cspec(p, i)->name, p->spec.name, p->spec.namespace_, p->spec.uid);
		set_waiting(c, "CrashLoopBackOff", msg);
		if (!c->backoff_armed) {
			api_event(f, p, (int)i, "Warning", "BackOff",
				  "Back-off restarting failed container %s in pod %s_%s(%s)", cspec(p, i)->name,
				  p->spec.name, p->spec.namespace_, p->spec.uid);
			c->backoff_armed = true;
			timer_arm(f, p, "backoff", cspec(p, i)->name, c->exited_ts_ms + c->backoff_ms);
		}
		return;
	}
	ctr_backoff_next(f, c);
	ctr_begin(f, p, i);
}

static bool should_restart(const struct fsm_pod *p, size_t i)
{
	const struct fsm_ctr *c = &p->ctrs[i];
	if (cspec(p, i)->sidecar)
		return true;
	/* Killed because its spec changed: started again whatever the policy
	 * (computePodActions: "Restart regardless of the restart policy"). */
	if (c->kill_reason == FSM_KILL_SPEC)
		return true;
	switch (p->spec.restart_policy) {
	case FSM_RESTART_ALWAYS:
		return true;
	case FSM_RESTART_ON_FAILURE:
		return !(c->term.set && c->term.exit_code == 0);
	case FSM_RESTART_NEVER:
		return false;
	}
	return false;
}

/* ---- sandbox ---- */

static void sb_emit_run(struct fold *f, struct fsm_pod *p);

static void stale_add(struct fsm_pod *p, const char *ctr, const char *id, uint32_t attempt,
		      bool live);

static void sb_run(struct fold *f, struct fsm_pod *p)
{
	if (p->sb_ever_created) {
		/* The dead sandbox it replaces is removed (the kubelet's garbage
		 * collector keeps only the newest sandbox of a pod). */
		stale_add(p, NULL, p->sb_id, p->sb_attempt, false);
		p->sb_attempt++;
	}
	p->sb_stage = FSM_SB_CREATING;
	p->sb_id[0] = '\0';
	p->sb_ip[0] = '\0';
	sb_emit_run(f, p);
}

static void sb_emit_run(struct fold *f, struct fsm_pod *p)
{
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_CRI_RUN_SANDBOX, p->spec.uid, "sandbox/%s/%u",
					   p->spec.uid, p->sb_attempt);
	if (cmd == NULL)
		return;
	cmd->attempt = p->sb_attempt;
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_putc(&b, '{');
	pod_put_ref(&b, p);
	fsm_buf_puts(&b, ",\"attempt\":");
	fsm_buf_u64(&b, p->sb_attempt);
	fsm_buf_puts(&b, ",\"host_network\":");
	fsm_buf_puts(&b, p->spec.host_network ? "true" : "false");
	fsm_buf_puts(&b, ",\"ports\":[");
	bool first = true;
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		const struct fsm_container_spec *cs = cspec(p, i);
		for (size_t k = 0; k < cs->nports; k++) {
			if (!first)
				fsm_buf_putc(&b, ',');
			first = false;
			fsm_buf_puts(&b, "{\"container_port\":");
			fsm_buf_i64(&b, cs->ports[k].container_port);
			fsm_buf_puts(&b, ",\"host_port\":");
			fsm_buf_i64(&b, cs->ports[k].host_port);
			fsm_buf_puts(&b, ",\"protocol\":");
			fsm_buf_json_str(&b, cs->ports[k].protocol);
			fsm_buf_putc(&b, '}');
		}
	}
	fsm_buf_puts(&b, "]}");
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static void sb_stop(struct fold *f, struct fsm_pod *p)
{
	p->sb_stage = FSM_SB_STOPPING;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_CRI_STOP_SANDBOX, p->spec.uid, "stopsb/%s/%u",
					   p->spec.uid, p->sb_attempt);
	if (cmd != NULL) {
		cmd->attempt = p->sb_attempt;
		fold_id_body(f, cmd, p->sb_id);
	}
}

/* ---- objects of the pod that are not its current ones ---- */

/* Remembers a runtime object of the pod that is not its current one (see
 * struct fsm_stale): it is stopped when live, then removed. */
static void stale_add(struct fsm_pod *p, const char *ctr, const char *id, uint32_t attempt,
		      bool live)
{
	if (id == NULL || id[0] == '\0')
		return;
	for (uint32_t k = 0; k < p->nstale; k++) {
		struct fsm_stale *o = &p->stale[k];
		if (strcmp(o->id, id) != 0)
			continue;
		if (live && o->step == FSM_STALE_TODO)
			o->live = true;
		return;
	}
	if (p->nstale >= FSM_STALE_MAX)
		return; /* bounded: the sandbox's removal takes its containers */
	struct fsm_stale *o = &p->stale[p->nstale++];
	memset(o, 0, sizeof(*o));
	COPY(o->id, id);
	COPY(o->ctr, ctr != NULL ? ctr : "");
	o->attempt = attempt;
	o->live = live;
	o->step = FSM_STALE_TODO;
}

static int stale_find(const struct fsm_pod *p, bool sandbox, const char *id)
{
	for (uint32_t k = 0; k < p->nstale; k++)
		if ((p->stale[k].ctr[0] == '\0') == sandbox && strcmp(p->stale[k].id, id) == 0)
			return (int)k;
	return -1;
}

static void stale_drop(struct fsm_pod *p, uint32_t k)
{
	memmove(&p->stale[k], &p->stale[k + 1], (p->nstale - k - 1) * sizeof(p->stale[0]));
	p->nstale--;
	memset(&p->stale[p->nstale], 0, sizeof(p->stale[0]));
}

static bool stale_ctrs_left(const struct fsm_pod *p)
{
	for (uint32_t k = 0; k < p->nstale; k++)
		if (p->stale[k].ctr[0] != '\0')
			return true;
	return false;
}

/* FSM_PS_REMOVING: a container of the pod whose removal has not answered
 * (removed or not found) yet; a removed one has no id any more. */
static bool ctr_removals_left(const struct fsm_pod *p)
{
	if (p->stage != FSM_PS_REMOVING)
		return false;
	for (size_t i = 0; i < p->spec.ncontainers; i++)
		if (p->ctrs[i].ever_started && p->ctrs[i].id[0] != '\0')
			return true;
	return false;
}

static void stale_emit(struct fold *f, struct fsm_pod *p, struct fsm_stale *o)
{
	bool sb = o->ctr[0] == '\0';
	enum fsm_cmd_kind kind;
	const char *verb;
	if (o->live) {
		kind = sb ? FSM_CMD_CRI_STOP_SANDBOX : FSM_CMD_CRI_STOP_CONTAINER;
		verb = sb ? "gcstopsb" : "gcstop";
		o->step = FSM_STALE_STOPPING;
	} else {
		kind = sb ? FSM_CMD_CRI_REMOVE_SANDBOX : FSM_CMD_CRI_REMOVE_CONTAINER;
		verb = sb ? "gcsb" : "gcrm";
		o->step = FSM_STALE_REMOVING;
	}
	struct fsm_command *cmd =
		sb ? fold_cmd(f, kind, p->spec.uid, "%s/%s/%s", verb, p->spec.uid, o->id)
		   : fold_cmd(f, kind, p->spec.uid, "%s/%s/%s/%s", verb, p->spec.uid, o->ctr, o->id);
	if (cmd == NULL)
		return;
	if (sb) {
		cmd->attempt = o->attempt;
	} else {
		cmd->container = fold_str(f, o->ctr, strlen(o->ctr));
		if (kind == FSM_CMD_CRI_STOP_CONTAINER) {
			int64_t grace = pod_grace_s(p);
			cmd->timeout_s = (uint32_t)(grace < GRACE_S_MIN ? GRACE_S_MIN : grace);
		}
	}
	fold_id_body(f, cmd, o->id);
}

/* Issues what the stale objects wait for: containers first; a sandbox once no
 * container of the pod is being removed (removing both at once makes the
 * runtime refuse one: "container is already in removing state"). */
static void stale_issue(struct fold *f, struct fsm_pod *p)
{
	bool ctrs_left = stale_ctrs_left(p) || ctr_removals_left(p);
	for (uint32_t k = 0; k < p->nstale; k++) {
		struct fsm_stale *o = &p->stale[k];
		if (o->step != FSM_STALE_TODO || o->retry_ts_ms > f->now)
			continue;
		/* A sandbox that is still ready is stopped at once (the stop
		 * takes its containers); its removal waits for its containers. */
		if (o->ctr[0] == '\0' && !o->live && ctrs_left)
			continue;
		stale_emit(f, p, o);
	}
}

/* The answer to a gcstopsb/, gcsb/, gcstop/ or gcrm/ command (rest: the
 * sandbox's id, or "<container>/<id>"); a sandbox's stopsb/ of an older
 * attempt (sb_attempt_answer). */
static void stale_on_effect(struct fold *f, struct fsm_pod *p, bool sandbox, bool stop,
			    const char *id)
{
	const struct fsm_ev_effect *e = &f->ev->u.effect;
	int k = stale_find(p, sandbox, id);
	if (k < 0)
		return;
	struct fsm_stale *o = &p->stale[k];
	if (o->step != (stop ? FSM_STALE_STOPPING : FSM_STALE_REMOVING))
		return;
	if (e->ok || e->error_class == FSM_ERR_NOT_FOUND) {
		if (stop && e->ok) {
			o->live = false;
			o->step = FSM_STALE_TODO;
			o->retry_ts_ms = 0;
		} else {
			stale_drop(p, (uint32_t)k);
		}
		return;
	}
	/* Not done: again after the pod worker's retry period. */
	o->step = FSM_STALE_TODO;
	o->retry_ts_ms = f->now + f->s->cfg.sync_retry_ms;
	timer_arm(f, p, "gc", NULL, o->retry_ts_ms);
}

/* ---- removal ---- */

static void pod_remove_current_sandbox(struct fold *f, struct fsm_pod *p)
{
	p->sb_stage = FSM_SB_REMOVING;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_CRI_REMOVE_SANDBOX, p->spec.uid, "rmsb/%s/%u",
					   p->spec.uid, p->sb_attempt);
	if (cmd != NULL) {
		cmd->attempt = p->sb_attempt;
		fold_id_body(f, cmd, p->sb_id);
	}
}

/* FSM_PS_REMOVING: the stale objects, then the sandbox once every container
 * removal has answered (the kubelet removes the containers, then the sandbox). */
static void pod_removing_step(struct fold *f, struct fsm_pod *p)
{
	stale_issue(f, p);
	if (p->sb_stage == FSM_SB_NONE) {
		if (p->nstale == 0)
			pod_volumes_teardown(f, p); /* the volumes go last */
		return;
	}
	if (p->sb_stage == FSM_SB_REMOVING)
		return;
	if (ctr_removals_left(p) || stale_ctrs_left(p))
		return;
	pod_remove_current_sandbox(f, p);
}

/* Removes the pod's containers and then its sandbox from the runtime, with
 * every older object of the pod it knows of. */
static void pod_remove_runtime(struct fold *f, struct fsm_pod *p)
{
	p->stage = FSM_PS_REMOVING;
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (!c->ever_started || c->id[0] == '\0')
			continue; /* never made, or already removed */
		/* The dead container kept for `kubectl logs --previous` goes too. */
		if (c->last_term.set && c->last_term.id[0] != '\0' &&
		    strcmp(c->last_term.id, c->id) != 0)
			stale_add(p, cspec(p, i)->name, c->last_term.id, c->attempt, false);
		struct fsm_command *cmd =
			ctr_cmd(f, p, i, FSM_CMD_CRI_REMOVE_CONTAINER, "remove", c->attempt);
		if (cmd != NULL) {
			fold_id_body(f, cmd, c->id);
		}
	}
	if (!p->sb_ever_created)
		p->sb_stage = FSM_SB_NONE;
	else
		p->sb_stage = FSM_SB_STOPPED; /* removed once its containers are */
	pod_removing_step(f, p);
}

/* ---- reporting ---- */

static bool phase_terminal(const char *phase)
{
	return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

static bool apps_done(const struct fsm_pod *p);

/*
 * Whether a step of the pod's start is under way (its sandbox being made, an
 * image pulled, a container created or started). The kubelet's pod worker
 * takes those steps in one SyncPod and reports the status it generated before
 * them; what they change shows at its next sync. So while one is in flight
 * the status is not sent (the first one, at admission, excepted): a pod's
 * start is two writes (Pending, then Running), not one per step.
 */
static bool start_step_in_flight(const struct fsm_pod *p)
{
	if (p->stage != FSM_PS_ACTIVE || p->status_version == 0)
		return false;
	if (p->sb_stage == FSM_SB_CREATING)
		return true;
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		enum fsm_ctr_stage st = p->ctrs[i].stage;
		if (st == FSM_CS_PULLING || st == FSM_CS_CREATING || st == FSM_CS_STARTING)
			return true;
	}
	return false;
}

/* Sends the pod's status when it differs from what was sent last. */
static void pod_report(struct fold *f, struct fsm_pod *p)
{
	/* A pod the API server has deleted (DELETED) has no object to write a
	 * status to: the status manager finds it gone and does nothing. */
	if (p->remove_when_stopped && strcmp(p->source, "api") == 0)
		return;
	if (p->stage != FSM_PS_REJECTED && !phase_terminal(p->phase)) {
		bool terminal = p->stage == FSM_PS_TERMINATING || p->stage == FSM_PS_TERMINATED ||
				p->stage == FSM_PS_REMOVING;
		const char *phase = fsm_pod_phase(p, terminal);
		/* An active pod with a container still to run (one replaced after
		 * its spec changed, whatever the policy) is not done: the kubelet
		 * kills and starts such a container in one sync and never computes
		 * a phase in between. */
		if (!(p->stage == FSM_PS_ACTIVE && phase_terminal(phase) && !apps_done(p)))
			COPY(p->phase, phase);
	}
	if (p->stage != FSM_PS_REJECTED && !phase_terminal(p->phase))
		COPY(p->api_phase, p->phase);
	fsm_pod_conditions_update(p, f->wall);
	struct fsm_buf b = FSM_BUF_INIT;
	if (fsm_pod_status_json(p, &f->s->cfg, &b) != 0) {
		f->err = FSM_ENOMEM;
		fsm_buf_free(&b);
		return;
	}
	uint64_t h = fsm_status_fingerprint(b.ptr, b.len);
	if (h != p->status_hash && !start_step_in_flight(p)) {
		p->status_hash = h;
		p->status_version++;
		struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_POD_STATUS, p->spec.uid,
						   "status/%s/%u", p->spec.uid, p->status_version);
		fold_body(f, cmd, &b);
	}
	fsm_buf_free(&b);
}

void api_pod_status_emit(struct fold *f, struct fsm_pod *p)
{
	struct fsm_buf b = FSM_BUF_INIT;
	if (fsm_pod_status_json(p, &f->s->cfg, &b) != 0) {
		f->err = FSM_ENOMEM;
		fsm_buf_free(&b);
		return;
	}
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_POD_STATUS, p->spec.uid, "status/%s/%u",
					   p->spec.uid, p->status_version);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

void api_pod_status_again(struct fold *f, struct fsm_pod *p)
{
	if (p->status_version == 0)
		return; /* nothing reported yet: the first report goes there anyway */
	p->status_version++;
	api_pod_status_emit(f, p);
}

/* ---- the pod machine ---- */

/* Stops container i again, with what is now left of the grace period: its stop
 * is under way with a longer one (the kubelet cancels the termination in
 * progress and kills again when the grace period is shortened). A container
 * still running its preStop hook is stopped with the new deadline when the hook
 * ends (ctr_kill). */
static void ctr_restop(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	if (c->stage != FSM_CS_KILLING ||
	    (cspec(p, i)->pre_stop.kind != FSM_HANDLER_NONE && !c->prestop_done))
		return;
	int64_t grace = p->kill_grace_s < GRACE_S_MIN ? GRACE_S_MIN : p->kill_grace_s;
	struct fsm_command *cmd = ctr_cmd(f, p, i, FSM_CMD_CRI_STOP_CONTAINER, "restop", c->attempt);
	if (cmd != NULL) {
		cmd->timeout_s = (uint32_t)grace;
		fold_id_body(f, cmd, c->id);
	}
}

static void pod_begin_terminate(struct fold *f, struct fsm_pod *p, int64_t grace_s)
{
	/* calculateEffectiveGracePeriod: the deleter's or the evictor's grace, else
	 * the pod's; a grace period only decreases, and is never below 1 s. */
	int64_t grace = grace_s >= 0 ? grace_s : p->spec.grace_s;
	if (grace < 1)
		grace = 1;
	if (p->stage == FSM_PS_ACTIVE) {
		p->stage = FSM_PS_TERMINATING;
		p->kill_grace_s = grace;
		p->kill_deadline_ts_ms = f->now + (uint64_t)p->kill_grace_s * 1000;
		if (p->spec.active_deadline_s >= 0)
			timer_disarm(f, p, "deadline", NULL);
	} else if (p->stage == FSM_PS_TERMINATING && grace_s >= 0 && grace < p->kill_grace_s) {
		/* A shorter grace period (a second delete, an eviction) wins. */
		p->kill_grace_s = grace;
		p->kill_deadline_ts_ms = f->now + (uint64_t)grace * 1000;
		for (size_t i = 0; i < p->spec.ncontainers; i++)
			ctr_restop(f, p, i);
	}
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (c->backoff_armed) {
			c->backoff_armed = false;
			timer_disarm(f, p, "backoff", cspec(p, i)->name);
		}
	}
}

/* A container waiting after a failed start (pull, create) whose retry is due:
 * resumes it. */
static bool ctr_retry_if_due(struct fold *f, struct fsm_pod *p, size_t i)
{
	struct fsm_ctr *c = &p->ctrs[i];
	if (c->stage != FSM_CS_WAITING || c->waiting_reason[0] == '\0' ||
	    c->retry_after_ts_ms == 0 || c->retry_after_ts_ms > f->now)
		return false;
	c->retry_after_ts_ms = 0;
	ctr_pull_or_create(f, p, i);
	return true;
}

static bool start_in_flight(const struct fsm_pod *p);

/* Init containers in order: true when every one is done (regular ones
 * succeeded, sidecars started). Starts or restarts what is next. */
static bool sync_init(struct fold *f, struct fsm_pod *p, bool *failed)
{
	*failed = false;
	for (size_t i = 0; i < p->spec.ninit; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (cspec(p, i)->sidecar) {
			if (c->stage == FSM_CS_RUNNING && c->started)
				continue;
			/* One start at a time in a pod, sidecars' included. */
			if ((c->stage == FSM_CS_WAITING || c->stage == FSM_CS_EXITED) &&
			    start_in_flight(p))
				return false;
			if (c->stage == FSM_CS_WAITING && c->waiting_reason[0] == '\0')
				ctr_begin(f, p, i);
			else if (c->stage == FSM_CS_EXITED)
				ctr_restart(f, p, i);
			else if (c->stage == FSM_CS_WAITING && c->image_ready && c->retry_after_ts_ms == 0)
				ctr_pull_or_create(f, p, i);
			else
				ctr_retry_if_due(f, p, i);
			return false;
		}
		if (ctr_succeeded(c))
			continue;
		switch (c->stage) {
		case FSM_CS_WAITING:
			/* A reason means it waits for its retry (pull, create), unless
			 * its image has just arrived. */
			if (c->waiting_reason[0] == '\0')
				ctr_begin(f, p, i);
			else if (c->image_ready && c->retry_after_ts_ms == 0)
				ctr_pull_or_create(f, p, i);
			else
				ctr_retry_if_due(f, p, i);
			return false;
		case FSM_CS_EXITED:
			if (p->spec.restart_policy == FSM_RESTART_NEVER) {
				*failed = true;
				return false;
			}
			ctr_restart(f, p, i);
			return false;
		default:
			return false; /* in flight or running */
		}
	}
	return true;
}

/* True while one of the pod's containers is being started. SyncPod starts them
 * one at a time in spec order, each start (pull, create, start, postStart hook)
 * ending before the next begins. */
static bool start_in_flight(const struct fsm_pod *p)
{
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		const struct fsm_ctr *c = &p->ctrs[i];
		if (c->stage == FSM_CS_PULLING || c->stage == FSM_CS_CREATING ||
		    c->stage == FSM_CS_STARTING)
			return true;
		if (c->stage == FSM_CS_RUNNING && cspec(p, i)->post_start.kind != FSM_HANDLER_NONE &&
		    !c->poststart_done)
			return true;
	}
	return false;
}

/* App containers and sidecars once initialised: start, restart, replace. */
static void sync_apps(struct fold *f, struct fsm_pod *p)
{
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		if (is_regular_init(p, i))
			continue;
		struct fsm_ctr *c = &p->ctrs[i];
		switch (c->stage) {
		case FSM_CS_WAITING:
			if (start_in_flight(p))
				break;
			if (c->waiting_reason[0] == '\0')
				ctr_begin(f, p, i);
			else if (c->image_ready && c->retry_after_ts_ms == 0)
				ctr_pull_or_create(f, p, i);
			else
				ctr_retry_if_due(f, p, i);
			break;
		case FSM_CS_EXITED:
			if (should_restart(p, i) && !start_in_flight(p))
				ctr_restart(f, p, i);
			break;
		case FSM_CS_RUNNING:
			if (c->spec_hash != cspec(p, i)->spec_hash)
				ctr_kill(f, p, i, FSM_KILL_SPEC);
			break;
		default:
			break;
		}
	}
}

/* True when no app container runs or will run again: the pod is done. */
static bool apps_done(const struct fsm_pod *p)
{
	if (p->spec.restart_policy == FSM_RESTART_ALWAYS)
		return false;
	for (size_t i = p->spec.ninit; i < p->spec.ncontainers; i++) {
		const struct fsm_ctr *c = &p->ctrs[i];
		if (c->stage != FSM_CS_EXITED || should_restart(p, i))
			return false;
	}
	return true;
}

/* Whether a dead sandbox may be replaced (the kubelet does not for a Never pod
 * whose containers already ran). */
static bool sandbox_replaceable(const struct fsm_pod *p)
{
	if (!p->sb_ever_created || p->spec.restart_policy != FSM_RESTART_NEVER)
		return true;
	for (size_t i = 0; i < p->spec.ncontainers; i++)
		if (p->ctrs[i].ever_started)
			return false;
	return true;
}

/* A new sandbox reruns the init containers; the containers of the old one are dead. */
static void sandbox_replaced(struct fold *f, struct fsm_pod *p)
{
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (c->stage == FSM_CS_RUNNING || c->stage == FSM_CS_KILLING ||
		    c->stage == FSM_CS_STARTING)
			ctr_exited(f, p, i, 137, "Error", "the pod sandbox was replaced", 0, 0);
		if (is_init(p, i) && c->stage == FSM_CS_EXITED && ctr_succeeded(c)) {
			/* rerun: keep its end as lastState */
			c->last_term = c->term;
			memset(&c->term, 0, sizeof(c->term));
			c->stage = FSM_CS_WAITING; /* its attempt count continues */
			c->image_ready = false;    /* a new attempt: its pull policy again */
			set_waiting(c, "", "");
		}
	}
}

static void sync_active(struct fold *f, struct fsm_pod *p)
{
	/* The volume manager mounts the pod's volumes before its sandbox is made
	 * (SyncPod: WaitForAttachAndMount). */
	if (!pod_volumes_ready(f, p))
		return;
	switch (p->sb_stage) {
	case FSM_SB_NOTREADY: {
		/* The sandbox died (computePodActions: podSandboxChanged). The kubelet
		 * kills what is left of the pod, its running containers and then the
		 * dead sandbox, before it creates a new one (SyncPod: KillPod, then
		 * createPodSandbox with the next attempt). */
		bool busy = false;
		for (size_t i = 0; i < p->spec.ncontainers; i++) {
			if (p->ctrs[i].stage == FSM_CS_RUNNING)
				ctr_kill(f, p, i, FSM_KILL_SANDBOX);
			busy = busy || ctr_live(&p->ctrs[i]);
		}
		if (!busy)
			sb_stop(f, p);
		return;
	}
	case FSM_SB_NONE:
	case FSM_SB_STOPPED: /* a dead sandbox, stopped: replace it */
		if (p->sb_retry_after_ts_ms > f->now)
			return;
		if (!sandbox_replaceable(p)) {
			/* Nothing more will run: the containers' ends are the pod's. */
			for (size_t i = 0; i < p->spec.ncontainers; i++)
				if (ctr_live(&p->ctrs[i]))
					ctr_exited(f, p, i, 137, "Error", "the pod sandbox died", 0, 0);
			pod_begin_terminate(f, p, 0);
			return;
		}
		if (p->sb_ever_created)
			sandbox_replaced(f, p);
		for (size_t i = 0; i < p->spec.ncontainers; i++)
			if (ctr_live(&p->ctrs[i]))
				return; /* wait for the old sandbox's containers to be seen dead */
		sb_run(f, p);
		return;
	case FSM_SB_READY:
		/* The kubelet reads the sandbox's IP before it starts containers;
		 * a pod-network pod waits for it (the cri.sandbox observation). */
		if (!p->spec.host_network && p->sb_ip[0] == '\0')
			return;
		break;
	default:
		return; /* a sandbox command is in flight */
	}
	/* Every app container ended for good: the pod is done, whatever its
	 * sidecars are doing (they are stopped with it). */
	if (apps_done(p)) {
		pod_begin_terminate(f, p, -1);
		return;
	}
	bool failed;
	bool init_done = sync_init(f, p, &failed);
	if (failed) {
		pod_begin_terminate(f, p, -1);
		COPY(p->phase, "Failed");
		return;
	}
	if (!init_done)
		return;
	sync_apps(f, p);
	if (apps_done(p))
		pod_begin_terminate(f, p, -1);
}

static void sync_terminating(struct fold *f, struct fsm_pod *p)
{
	bool busy = false;
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (c->stage == FSM_CS_RUNNING)
			ctr_kill(f, p, i, FSM_KILL_POD);
		if (ctr_live(c))
			busy = true;
	}
	if (busy)
		return;
	if (p->sb_stage == FSM_SB_READY || p->sb_stage == FSM_SB_NOTREADY) {
		sb_stop(f, p);
		return;
	}
	if (p->sb_stage == FSM_SB_CREATING || p->sb_stage == FSM_SB_STOPPING)
		return;
	p->stage = FSM_PS_TERMINATED;
	p->terminated_wall_ms = f->wall;
}

void pod_sync(struct fold *f, struct fsm_pod *p)
{
	/* A static pod waits, unstarted and unreported, while the pod of its name
	 * that ran before it stops (allowStaticPodStart). */
	if (p->stage == FSM_PS_ACTIVE && p->spec.is_static && !p->sb_ever_created &&
	    p->sb_stage == FSM_SB_NONE && node_static_blocked(f->s, p))
		return;
	/* startTime: the status manager's first status of the pod. */
	if (p->stage == FSM_PS_ACTIVE && p->status_version == 0)
		p->start_wall_ms = f->wall;
	/* While its runtime objects are removed, the pod's final status stands
	 * (a removed container loses its id; that is no news to report). */
	bool was_removing = p->stage == FSM_PS_REMOVING;
	if (p->stage == FSM_PS_ACTIVE)
		sync_active(f, p);
	if (p->stage == FSM_PS_TERMINATING)
		sync_terminating(f, p);
	if (p->stage == FSM_PS_TERMINATED && p->remove_when_stopped)
		pod_remove_runtime(f, p);
	if (p->stage == FSM_PS_REMOVING)
		pod_removing_step(f, p);
	else if (p->nstale > 0)
		stale_issue(f, p);
	if (!was_removing)
		pod_report(f, p);
	api_pod_after_sync(f, p);
	api_mirror_ensure(f, p);
}

/* ---- inputs ---- */

struct fsm_pod *pod_create(struct fold *f, struct fsm_pod_spec *spec, const char *source)
{
	struct fsm_pod *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		f->err = FSM_ENOMEM;
		return NULL;
	}
	p->ctrs = calloc(spec->ncontainers ? spec->ncontainers : 1, sizeof(*p->ctrs));
	p->source = strdup(source);
	if (p->ctrs == NULL || p->source == NULL) {
		free(p->ctrs);
		free(p->source);
		free(p);
		f->err = FSM_ENOMEM;
		return NULL;
	}
	p->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	p->kill_grace_s = -1;
	COPY(p->phase, "Pending");
	p->admitted_ts_ms = f->now;
	char reason[FSM_REASON_BYTES], message[FSM_MESSAGE_BYTES];
	node_admit(f->s, p, reason, sizeof(reason), message, sizeof(message));
	if (reason[0] != '\0') {
		p->stage = FSM_PS_REJECTED;
		COPY(p->phase, "Failed");
		COPY(p->reason, reason);
		/* rejectPod: the status says why, after "Pod was rejected: "; the
		 * status manager gives it a startTime. */
		size_t k = fsm_strlcpy(p->message, "Pod was rejected: ", sizeof(p->message));
		fsm_strlcpy(p->message + k, message, sizeof(p->message) - k);
		p->start_wall_ms = f->wall;
		api_event(f, p, -1, "Warning", reason, "%s", message);
		struct fsm_command *cmd =
			fold_cmd(f, FSM_CMD_POD_REJECT, p->spec.uid, "reject/%s", p->spec.uid);
		if (cmd != NULL) {
			struct fsm_buf b = FSM_BUF_INIT;
			fsm_buf_puts(&b, "{\"reason\":");
			fsm_buf_json_str(&b, reason);
			fsm_buf_puts(&b, ",\"message\":");
			fsm_buf_json_str(&b, message);
			fsm_buf_putc(&b, '}');
			fold_body(f, cmd, &b);
			fsm_buf_free(&b);
		}
		return p;
	}
	p->stage = FSM_PS_ACTIVE;
	p->start_wall_ms = f->wall;
	if (p->spec.active_deadline_s >= 0)
		timer_arm(f, p, "deadline", NULL, f->now + (uint64_t)p->spec.active_deadline_s * 1000);
	if (p->spec.deletion_wall_ms != 0)
		pod_begin_terminate(f, p, p->spec.deletion_grace_s);
	return p;
}

void pod_update(struct fold *f, struct fsm_pod *p, struct fsm_pod_spec *spec)
{
	/* Containers are matched by name; the API allows only their images (and
	 * a few other fields) to change, which a new spec_hash reveals. A spec
	 * whose containers differ in number or names keeps the old one's. */
	bool same_shape = spec->ncontainers == p->spec.ncontainers && spec->ninit == p->spec.ninit;
	for (size_t i = 0; same_shape && i < spec->ncontainers; i++)
		same_shape = strcmp(spec->containers[i].name, p->spec.containers[i].name) == 0;
	bool deleting_now = spec->deletion_wall_ms != 0 && p->spec.deletion_wall_ms == 0;
	int64_t old_deadline_s = p->spec.active_deadline_s;
	int64_t grace = spec->deletion_grace_s;
	if (same_shape) {
		/* The kubelet keys crash-loop back-off by the container's hash too
		 * (GetStableKey): a container whose spec changed has none. */
		for (size_t i = 0; i < spec->ncontainers; i++) {
			struct fsm_ctr *c = &p->ctrs[i];
			if (spec->containers[i].spec_hash == p->spec.containers[i].spec_hash)
				continue;
			c->backoff_ms = 0;
			c->backoff_updated_ts_ms = 0;
			if (c->backoff_armed) {
				c->backoff_armed = false;
				timer_disarm(f, p, "backoff", p->spec.containers[i].name);
			}
		}
		fsm_pod_spec_free(&p->spec);
		p->spec = *spec;
		memset(spec, 0, sizeof(*spec));
	} else {
		p->spec.deletion_wall_ms = spec->deletion_wall_ms;
		p->spec.deletion_grace_s = spec->deletion_grace_s;
		fsm_pod_spec_free(spec);
	}
	if (deleting_now || (p->spec.deletion_wall_ms != 0 && p->stage == FSM_PS_TERMINATING))
		pod_delete(f, p, grace, false);
	/* activeDeadlineSeconds may be set or lowered on a running pod: the kubelet
	 * checks the current value against startTime. */
	if (p->stage == FSM_PS_ACTIVE && p->spec.active_deadline_s != old_deadline_s) {
		if (p->spec.active_deadline_s >= 0) {
			uint64_t due = p->admitted_ts_ms + (uint64_t)p->spec.active_deadline_s * 1000;
			timer_arm(f, p, "deadline", NULL, due > f->now ? due : f->now);
		} else {
			timer_disarm(f, p, "deadline", NULL);
		}
	}
}

void pod_delete(struct fold *f, struct fsm_pod *p, int64_t grace_s, bool remove)
{
	p->deleting = true;
	if (remove)
		p->remove_when_stopped = true;
	if (p->stage == FSM_PS_REJECTED) {
		if (remove)
			p->stage = FSM_PS_TERMINATED;
		return;
	}
	pod_begin_terminate(f, p, grace_s);
}

void pod_evict(struct fold *f, struct fsm_pod *p, const char *message)
{
	if (p->stage != FSM_PS_ACTIVE)
		return;
	COPY(p->phase, "Failed");
	COPY(p->reason, "Evicted");
	COPY(p->message, message);
	api_event(f, p, -1, "Warning", "Evicted", "%s", message);
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_POD_EVICT, p->spec.uid, "evict/%s", p->spec.uid);
	if (cmd != NULL) {
		struct fsm_buf b = FSM_BUF_INIT;
		fsm_buf_puts(&b, "{\"message\":");
		fsm_buf_json_str(&b, message);
		fsm_buf_putc(&b, '}');
		fold_body(f, cmd, &b);
		fsm_buf_free(&b);
	}
	/* Hard eviction does not wait for the pod's grace period. */
	pod_begin_terminate(f, p, 0);
}

static int ctr_by_name(const struct fsm_pod *p, const char *name)
{
	return fsm_pod_container_index(&p->spec, name);
}

/* "name/attempt" → index and attempt; -1 when unknown. */
static int parse_ctr_ref(const struct fsm_pod *p, const char *rest, uint32_t *attempt)
{
	const char *slash = strrchr(rest, '/');
	if (slash == NULL)
		return -1;
	char name[FSM_ID_BYTES];
	size_t n = (size_t)(slash - rest);
	if (n >= sizeof(name))
		return -1;
	memcpy(name, rest, n);
	name[n] = '\0';
	*attempt = (uint32_t)strtoul(slash + 1, NULL, 10);
	return ctr_by_name(p, name);
}

void pod_on_effect(struct fold *f, struct fsm_pod *p, const char *verb, const char *rest)
{
	const struct fsm_ev_effect *e = &f->ev->u.effect;
	uint32_t a = 0;
	/* Completions the machines do not wait on (probes started or stopped,
	 * containers removed, statuses sent) change nothing: no sync. */
	if (strncmp(verb, "probe-", 6) == 0 || strcmp(verb, "status") == 0 ||
	    strcmp(verb, "gc") == 0)
		return;
	if (strcmp(verb, "volumes") == 0 || strcmp(verb, "volumesdown") == 0) {
		pod_volumes_on_effect(f, p, verb, rest);
		if (strcmp(verb, "volumes") == 0)
			pod_sync(f, p);
		return;
	}
	if (strcmp(verb, "remove") == 0) {
		/* The pod's removal waits for its containers' before the sandbox's. */
		if (p->stage != FSM_PS_REMOVING)
			return;
		int i = parse_ctr_ref(p, rest, &a);
		if (i < 0 || a != p->ctrs[i].attempt || p->ctrs[i].id[0] == '\0')
			return;
		if (!e->ok && e->error_class != FSM_ERR_NOT_FOUND) {
			/* Not removed: again, with the rest, after the retry period. */
			timer_arm(f, p, "rmsb", NULL, f->now + f->s->cfg.sync_retry_ms);
			return;
		}
		p->ctrs[i].id[0] = '\0'; /* removed: pod_remove_runtime skips it */
		pod_sync(f, p);
		return;
	}
	if (strcmp(verb, "gcstopsb") == 0 || strcmp(verb, "gcsb") == 0) {
		stale_on_effect(f, p, true, strcmp(verb, "gcstopsb") == 0, rest);
		pod_sync(f, p);
		return;
	}
	if (strcmp(verb, "gcstop") == 0 || strcmp(verb, "gcrm") == 0) {
		const char *id = strchr(rest, '/');
		if (id == NULL)
			return;
		stale_on_effect(f, p, false, strcmp(verb, "gcstop") == 0, id + 1);
		pod_sync(f, p);
		return;
	}
	if (strcmp(verb, "sandbox") == 0) {
		a = (uint32_t)strtoul(rest, NULL, 10);
		if (a != p->sb_attempt || p->sb_stage != FSM_SB_CREATING)
			return;
		if (e->ok) {
			p->sb_stage = FSM_SB_READY;
			p->sb_ever_created = true;
			COPY(p->sb_id, e->result);
		} else {
			/* The kubelet retries a failed sandbox on its next sync; a
			 * new attempt number only once one was created. */
			p->sb_stage = FSM_SB_NONE;
			p->sb_retry_after_ts_ms = f->now + f->s->cfg.sync_retry_ms;
			timer_arm(f, p, "sync", NULL, p->sb_retry_after_ts_ms);
		}
	} else if (strcmp(verb, "stopsb") == 0) {
		if (p->sb_stage == FSM_SB_STOPPING)
			p->sb_stage = FSM_SB_STOPPED;
	} else if (strcmp(verb, "rmsb") == 0) {
		if (p->sb_stage != FSM_SB_REMOVING)
			return;
		if (!e->ok && e->error_class != FSM_ERR_NOT_FOUND) {
			/* Not removed: try again (with its containers) after the pod
			 * worker's retry period, rather than leak the sandbox. */
			timer_arm(f, p, "rmsb", NULL, f->now + f->s->cfg.sync_retry_ms);
			return;
		}
		p->sb_stage = FSM_SB_NONE;
		if (p->stage == FSM_PS_REMOVING)
			pod_removing_step(f, p); /* its volumes */
		return; /* node.c drops the pod when nothing is left */
	} else {
		int i = parse_ctr_ref(p, rest, &a);
		if (i < 0)
			return;
		struct fsm_ctr *c = &p->ctrs[i];
		if (strcmp(verb, "pull") == 0) {
			if (c->stage != FSM_CS_PULLING || a != c->pulls)
				return;
			if (e->ok) {
				/* The image is there for this attempt; pod_sync creates the
				 * container when its turn comes (the sandbox may have died,
				 * or an earlier init container may be running again). */
				c->image_ready = true;
				COPY(c->image_ref, e->result);
				api_event(f, p, i, "Normal", "Pulled", "Successfully pulled image \"%s\"",
					  cspec(p, (size_t)i)->image);
				fsm_image_add(f->s, cspec(p, (size_t)i)->image, e->result);
				/* The reason of the last failed pull stays until a start
				 * succeeds, as the kubelet's reason cache keeps it. */
				c->stage = FSM_CS_WAITING;
				c->retry_after_ts_ms = 0;
			} else {
				/* Next(key, now): the pull back-off grows. */
				if (c->pull_backoff_ms == 0 ||
				    f->now - c->pull_backoff_updated_ts_ms > 2 * f->s->cfg.backoff_max_ms)
					c->pull_backoff_ms = f->s->cfg.backoff_initial_ms;
				else if (c->pull_backoff_ms * 2 > f->s->cfg.backoff_max_ms)
					c->pull_backoff_ms = f->s->cfg.backoff_max_ms;
				else
					c->pull_backoff_ms *= 2;
				c->pull_backoff_updated_ts_ms = f->now;
				/* The kubelet's key is "<pod uid>_<image>": the pod's other
				 * containers of this image share the back-off. */
				for (size_t k = 0; k < p->spec.ncontainers; k++) {
					if (strcmp(cspec(p, k)->image, cspec(p, (size_t)i)->image) != 0)
						continue;
					p->ctrs[k].pull_backoff_ms = c->pull_backoff_ms;
					p->ctrs[k].pull_backoff_updated_ts_ms = f->now;
				}
				pull_failed_waiting(c, cspec(p, (size_t)i)->image, e->error);
				api_event(f, p, i, "Warning", "Failed", "Failed to pull image \"%s\": %s",
					  cspec(p, (size_t)i)->image, e->error);
				api_event(f, p, i, "Warning", "Failed", "Error: %s", c->waiting_reason);
				c->stage = FSM_CS_WAITING;
				c->retry_after_ts_ms = f->now + f->s->cfg.sync_retry_ms;
				timer_arm(f, p, "pull", cspec(p, (size_t)i)->name, c->retry_after_ts_ms);
			}
		} else if (strcmp(verb, "create") == 0) {
			if (c->stage != FSM_CS_CREATING)
				return;
			if (e->ok) {
				ctr_created(f, p, (size_t)i);
				c->attempt = a;
				c->ever_started = true;
				COPY(c->id, e->result);
				c->stage = FSM_CS_STARTING;
				if (p->stage != FSM_PS_ACTIVE) {
					/* Created while the pod began to go: never started; the
					 * pod's removal takes it with the rest. */
					c->stage = FSM_CS_WAITING;
					set_waiting(c, "", "");
					pod_sync(f, p);
					return;
				}
				if (p->sb_stage != FSM_SB_READY) {
					/* Created for a sandbox that is gone: never started,
					 * removed. */
					struct fsm_command *rm = ctr_cmd(f, p, (size_t)i,
									 FSM_CMD_CRI_REMOVE_CONTAINER,
									 "remove", a);
					fold_id_body(f, rm, c->id);
					/* Gone from the runtime: nothing of it to report, and
					 * pod_remove_runtime must not remove it again. */
					c->id[0] = '\0';
					c->stage = FSM_CS_WAITING;
					set_waiting(c, "", "");
					pod_sync(f, p);
					return;
				}
				api_event(f, p, i, "Normal", "Created", "Created container: %s",
					  cspec(p, (size_t)i)->name);
				ctr_emit_start(f, p, (size_t)i);
			} else {
				/* A container's configuration the executor could not make
				 * (a ConfigMap or Secret it needs is missing) is
				 * CreateContainerConfigError, with the kubelet's message. */
				static const char cfgerr[] = "CreateContainerConfigError: ";
				bool is_cfg = strncmp(e->error, cfgerr, sizeof(cfgerr) - 1) == 0;
				const char *msg = is_cfg ? e->error + sizeof(cfgerr) - 1 : e->error;
				set_waiting(c, is_cfg ? "CreateContainerConfigError" : "CreateContainerError", msg);
				api_event(f, p, i, "Warning", "Failed", "Error: %s", msg);
				c->stage = FSM_CS_WAITING;
				c->retry_after_ts_ms = f->now + f->s->cfg.sync_retry_ms;
				timer_arm(f, p, "retry", cspec(p, (size_t)i)->name, c->retry_after_ts_ms);
			}
		} else if (strcmp(verb, "start") == 0) {
			if (c->stage != FSM_CS_STARTING || a != c->attempt)
				return;
			if (e->ok) {
				ctr_running(f, p, (size_t)i, 0);
			} else {
				api_event(f, p, i, "Warning", "Failed", "Error: %s", e->error);
				/* The runtime keeps the container, exited (containerd:
				 * StartError, 128); the relist sees it die, so it is
				 * restarted under the crash-loop back-off like any exit. The
				 * failed start is the waiting reason while it will be.
				 * It never started: the runtime's startedAt is 0, which the
				 * kubelet reports as the Unix epoch (1 ms reads as that). */
				ctr_exited(f, p, (size_t)i, 128, "StartError", e->error, 1, f->wall);
				if (should_restart(p, (size_t)i))
					set_waiting(c, "RunContainerError", e->error);
			}
		} else if (strcmp(verb, "stop") == 0 || strcmp(verb, "restop") == 0) {
			if (c->stage != FSM_CS_KILLING || a != c->attempt)
				return;
			/* The executor reports the exit it saw before this; if it could
			 * not, the runtime killed it at the end of the grace period. */
			ctr_exited(f, p, (size_t)i, 137, "Error", "", 0, 0);
		} else if (strcmp(verb, "prestop") == 0) {
			if (c->stage == FSM_CS_KILLING && a == c->attempt && !c->prestop_done)
				ctr_kill_after_hook(f, p, (size_t)i);
		} else if (strcmp(verb, "poststart") == 0) {
			if (a != c->attempt || c->poststart_done)
				return;
			c->poststart_done = true;
			if (e->ok && c->stage == FSM_CS_RUNNING) {
				set_waiting(c, "", ""); /* the start succeeded */
			} else if (!e->ok && c->stage == FSM_CS_RUNNING) {
				/* FailedPostStartHook: the kubelet kills the container and
				 * the start fails with ErrPostStartHook and the hook's
				 * message; the policy then decides the restart. */
				set_waiting(c, "PostStartHookError", e->error);
				ctr_kill(f, p, (size_t)i, FSM_KILL_POSTSTART);
			}
		} else if (strcmp(verb, "remove") == 0) {
			/* nothing to track */
		}
	}
	pod_sync(f, p);
}

void pod_on_timer(struct fold *f, struct fsm_pod *p, const char *what, const char *rest)
{
	if (strcmp(what, "deadline") == 0) {
		if (p->stage == FSM_PS_ACTIVE) {
			COPY(p->phase, "Failed");
			COPY(p->reason, "DeadlineExceeded");
			COPY(p->message, "Pod was active on the node longer than the specified deadline");
			pod_begin_terminate(f, p, -1);
		}
	} else if (strcmp(what, "sync") == 0) {
		p->sb_retry_after_ts_ms = 0;
	} else if (strcmp(what, "rmsb") == 0) {
		if (p->stage == FSM_PS_REMOVING && p->sb_stage != FSM_SB_NONE)
			pod_remove_runtime(f, p);
		return;
	} else if (strcmp(what, "volumes") == 0) {
		pod_volumes_on_timer(f, p);
		if (p->stage == FSM_PS_REMOVING)
			return;
	} else if (rest != NULL && rest[0] != '\0') {
		int i = ctr_by_name(p, rest);
		if (i < 0)
			return;
		struct fsm_ctr *c = &p->ctrs[i];
		if (strcmp(what, "backoff") == 0)
			c->backoff_armed = false;
		/* "pull" and "retry": the pod worker's retry is due; pod_sync
		 * resumes the container when no other start is under way. */
	}
	pod_sync(f, p);
}

void pod_on_container(struct fold *f, struct fsm_pod *p, const struct fsm_ev_cri_container *o)
{
	int i = ctr_by_name(p, o->name);
	if (i < 0)
		return;
	struct fsm_ctr *c = &p->ctrs[i];
	/* An older container of this slot: older than the current attempt, or
	 * than the one being created. The kubelet keeps only the newest: one
	 * still there, created or running (a start whose failure was not one, a
	 * create whose answer was lost), is stopped and removed. */
	if (c->ever_started &&
	    (o->attempt < c->attempt || (o->attempt == c->attempt && c->stage == FSM_CS_CREATING))) {
		if (o->state != FSM_CONTAINER_RUNNING && o->state != FSM_CONTAINER_CREATED)
			return;
		stale_add(p, cspec(p, (size_t)i)->name, o->id, o->attempt,
			  o->state == FSM_CONTAINER_RUNNING);
		pod_sync(f, p);
		return;
	}
	bool current = c->ever_started && o->attempt == c->attempt;
	if (!current) {
		/* A container we created but whose completion we never saw (a crash
		 * between dispatch and effect): adopt it. */
		if (c->stage != FSM_CS_CREATING && c->stage != FSM_CS_WAITING &&
		    c->stage != FSM_CS_EXITED)
			return;
		ctr_created(f, p, (size_t)i);
		c->attempt = o->attempt;
		c->ever_started = true;
		COPY(c->id, o->id);
		c->stage = FSM_CS_STARTING;
	}
	switch (o->state) {
	case FSM_CONTAINER_RUNNING:
		if (c->stage == FSM_CS_STARTING || c->stage == FSM_CS_CREATING) {
			COPY(c->id, o->id);
			ctr_running(f, p, (size_t)i, (uint64_t)o->started_at_ms);
		} else if (c->stage == FSM_CS_RUNNING) {
			/* A relist that sees it running as before changes nothing. */
			if (o->started_at_ms <= 0 || c->started_wall_ms == (uint64_t)o->started_at_ms)
				return;
			c->started_wall_ms = (uint64_t)o->started_at_ms;
		}
		break;
	case FSM_CONTAINER_EXITED:
	case FSM_CONTAINER_UNKNOWN:
		if (c->stage == FSM_CS_RUNNING || c->stage == FSM_CS_KILLING ||
		    c->stage == FSM_CS_STARTING) {
			if (o->state == FSM_CONTAINER_UNKNOWN)
				ctr_exited(f, p, (size_t)i, 137, "Unknown", o->message, 0, 0);
			else
				ctr_exited(f, p, (size_t)i, o->exit_code, o->reason, o->message,
					   (uint64_t)o->started_at_ms, (uint64_t)o->finished_at_ms);
		}
		break;
	case FSM_CONTAINER_CREATED:
		/* Adopted after its create's answer was lost (or failed on the way
		 * back though the runtime made it): it still has to be started. */
		if (!current && c->stage == FSM_CS_STARTING && p->stage == FSM_PS_ACTIVE &&
		    p->sb_stage == FSM_SB_READY)
			ctr_emit_start(f, p, (size_t)i);
		break;
	case FSM_CONTAINER_NONE:
		break;
	}
	pod_sync(f, p);
}

void pod_on_sandbox(struct fold *f, struct fsm_pod *p, const struct fsm_ev_cri_sandbox *o)
{
	if (o->attempt < p->sb_attempt) {
		/* A sandbox a newer one superseded: removed (stopped first if
		 * ready), as the kubelet's garbage collector does. */
		if (o->id[0] != '\0' && strcmp(o->id, p->sb_id) != 0) {
			stale_add(p, NULL, o->id, o->attempt, o->state == FSM_SANDBOX_READY);
			pod_sync(f, p);
		}
		return;
	}
	/* Ours though its run's answer was lost or failed (the runtime keeps
	 * the name of a sandbox it made: "name is reserved for ..."): adopted. */
	if (o->attempt > p->sb_attempt ||
	    (!p->sb_ever_created && (p->sb_stage == FSM_SB_CREATING ||
				     (p->sb_stage == FSM_SB_NONE && p->stage == FSM_PS_ACTIVE)))) {
		if (p->sb_ever_created && p->sb_id[0] != '\0' && strcmp(p->sb_id, o->id) != 0)
			stale_add(p, NULL, p->sb_id, p->sb_attempt, p->sb_stage == FSM_SB_READY);
		if (o->id[0] != '\0')
			COPY(p->sb_id, o->id); /* its id even when it is seen dead */
		p->sb_attempt = o->attempt;
		p->sb_ever_created = true;
		if (p->sb_stage == FSM_SB_CREATING || p->sb_stage == FSM_SB_NONE)
			p->sb_stage = FSM_SB_READY;
	}
	if (o->state == FSM_SANDBOX_READY) {
		if (p->sb_stage == FSM_SB_CREATING)
			p->sb_stage = FSM_SB_READY;
		if (o->id[0] != '\0')
			COPY(p->sb_id, o->id);
		if (o->ip[0] != '\0')
			COPY(p->sb_ip, o->ip);
		else if (!p->spec.host_network && p->sb_stage == FSM_SB_READY &&
			 p->stage == FSM_PS_ACTIVE)
			p->sb_stage = FSM_SB_NOTREADY; /* no IP: the kubelet makes a new one */
	} else if (o->state == FSM_SANDBOX_NOTREADY) {
		if (p->sb_stage == FSM_SB_READY)
			p->sb_stage = p->stage == FSM_PS_ACTIVE ? FSM_SB_NOTREADY : FSM_SB_READY;
		else if (p->sb_stage == FSM_SB_STOPPING)
			p->sb_stage = FSM_SB_STOPPED;
	}
	pod_sync(f, p);
}

void pod_on_probe(struct fold *f, struct fsm_pod *p, const struct fsm_ev_probe *pr)
{
	int i = ctr_by_name(p, pr->container);
	if (i < 0 || pr->probe == FSM_PROBE_NONE)
		return;
	struct fsm_ctr *c = &p->ctrs[i];
	struct fsm_probe_state *ps = probe_state(c, pr->probe);
	if (c->stage != FSM_CS_RUNNING || !ps->active)
		return; /* a result for a container that is no longer probed */
	const struct fsm_handler *h = probe_spec(p, (size_t)i, pr->probe);
	bool was_ready = c->ready, was_started = c->started;
	uint32_t st = (uint32_t)(h->success_threshold > 0 ? h->success_threshold : 1);
	uint32_t ft = (uint32_t)(h->failure_threshold > 0 ? h->failure_threshold : 3);
	if (pr->ok) {
		ps->failures = 0;
		if (ps->successes < st)
			ps->successes++;
	} else {
		ps->successes = 0;
		if (ps->failures < ft)
			ps->failures++;
		static const char *const kind[] = {"", "Liveness", "Readiness", "Startup"};
		api_event(f, p, i, "Warning", "Unhealthy", "%s probe failed: %s", kind[pr->probe],
			  pr->message);
	}
	switch (pr->probe) {
	case FSM_PROBE_STARTUP:
		if (ps->successes >= st)
			probes_after_startup(f, p, (size_t)i);
		else if (ps->failures >= ft)
			ctr_kill(f, p, (size_t)i, FSM_KILL_STARTUP);
		break;
	case FSM_PROBE_LIVENESS:
		if (ps->failures >= ft)
			ctr_kill(f, p, (size_t)i, FSM_KILL_LIVENESS);
		break;
	case FSM_PROBE_READINESS:
		if (ps->successes >= st)
			c->ready = true;
		else if (ps->failures >= ft)
			c->ready = false;
		break;
	case FSM_PROBE_NONE:
		break;
	}
	/* Most results only move a counter: nothing a sync or the status reads
	 * changed, so neither runs (this is the fold's hot path on a healthy node). */
	if (c->stage == FSM_CS_RUNNING && c->ready == was_ready && c->started == was_started)
		return;
	pod_sync(f, p);
}

void pod_on_image(struct fold *f, struct fsm_pod *p, const char *image)
{
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		if (c->stage == FSM_CS_WAITING && strcmp(c->waiting_reason, "ErrImageNeverPull") == 0 &&
		    strcmp(cspec(p, i)->image, image) == 0 && p->stage == FSM_PS_ACTIVE) {
			/* Its retry is due now; pod_sync starts it when its turn comes
			 * (its sandbox ready, the containers before it done). */
			c->retry_after_ts_ms = f->now;
		}
	}
	pod_sync(f, p);
}

void fsm_pod_free(struct fsm_pod *p)
{
	if (p == NULL)
		return;
	fsm_pod_spec_free(&p->spec);
	free(p->ctrs);
	free(p->source);
	free(p);
}

/*
 * The commands pod p is waiting on, issued again: after a restart nothing is in
 * flight any more, and a command whose completion was lost must run again
 * (DESIGN.md contract 5). Every command here has the id it had the first time,
 * so an executor that finds the work done (by its labels) answers at once.
 */
void pod_pending(struct fold *f, struct fsm_pod *p)
{
	for (uint32_t k = 0; k < p->nstale; k++)
		if (p->stale[k].step != FSM_STALE_TODO)
			stale_emit(f, p, &p->stale[k]);
	if (p->stage == FSM_PS_REMOVING) {
		/* Its containers' removals again, the sandbox's once they answer. */
		if (p->sb_stage != FSM_SB_NONE || ctr_removals_left(p))
			pod_remove_runtime(f, p);
		return;
	}
	switch (p->sb_stage) {
	case FSM_SB_CREATING:
		sb_emit_run(f, p);
		break;
	case FSM_SB_STOPPING:
		sb_stop(f, p);
		break;
	default:
		break;
	}
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		struct fsm_ctr *c = &p->ctrs[i];
		switch (c->stage) {
		case FSM_CS_PULLING:
			ctr_emit_pull(f, p, i);
			break;
		case FSM_CS_CREATING:
			ctr_create(f, p, i);
			break;
		case FSM_CS_STARTING:
			ctr_emit_start(f, p, i);
			break;
		case FSM_CS_KILLING:
			ctr_emit_kill(f, p, i);
			break;
		case FSM_CS_RUNNING:
			if (cspec(p, i)->post_start.kind != FSM_HANDLER_NONE && !c->poststart_done)
				ctr_emit_poststart(f, p, i);
			/* The probers lost their state with the process: start them again. */
			if (c->startup.active)
				probe_emit_start(f, p, i, FSM_PROBE_STARTUP);
			if (c->liveness.active)
				probe_emit_start(f, p, i, FSM_PROBE_LIVENESS);
			if (c->readiness.active)
				probe_emit_start(f, p, i, FSM_PROBE_READINESS);
			break;
		default:
			break;
		}
	}
}
