/*
 * fsm/volume.c — a pod's volumes, as the kubelet's volume manager handles them,
 * decided in the fold (pure, like the rest of src/fsm).
 *
 * A pod with volumes gets a volume.setup (id "volumes/<uid>/<n>") before its
 * sandbox, and its sandbox waits for one to answer ok (the kubelet's SyncPod
 * waits in WaitForAttachAndMount). A failed setup is reported as a FailedMount
 * event and tried again after the volume manager's exponential back-off (500 ms
 * doubling to 2 min 2 s); meanwhile the containers wait as ContainerCreating.
 *
 * The ConfigMaps and Secrets the volumes read are watched by the io layer, which
 * journals an api.object event (version and content hash, never the content)
 * when one appears, changes or goes. The fold keeps the newest hash of each
 * object that pods use (s->objects) and, when one changes, sets up again the
 * volumes of the running pods that read it: the executor swaps the files
 * atomically, as the kubelet's periodic remount does. A projected service
 * account token is renewed by a setup at 80 % of its lifetime (timer
 * "volumes/<uid>", the same timer as the retry).
 *
 * When the pod leaves the node, after its sandbox is removed, a volume.teardown
 * (id "volumesdown/<uid>") unmounts and removes what the setups made and lets
 * the watcher forget the pod's objects (those its containers' environment read
 * too: a pod whose env refers to a ConfigMap or Secret gets a teardown even
 * without volumes); the pod leaves the table only once it has answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/buf.h"
#include "fsm/fold.h"
#include "fsm/volume.h"

#define VOL_BACKOFF_INITIAL_MS 500
#define VOL_BACKOFF_MAX_MS     (2u * 60 * 1000 + 2 * 1000)

static void vol_timer(struct fold *f, struct fsm_pod *p, uint64_t due_ms)
{
	char key[FSM_ID_BYTES * 2];
	snprintf(key, sizeof(key), "volumes/%s", p->spec.uid);
	fold_timer_set(f, p->spec.uid, key, due_ms);
}

static int64_t token_expiration_s(const struct fsm_pod *p)
{
	int64_t best = -1;
	for (size_t i = 0; i < p->spec.nvolumes; i++) {
		int64_t e = p->spec.volumes[i].token_expiration_s;
		if (e > 0 && (best < 0 || e < best))
			best = e;
	}
	return best;
}

void fsm_pod_volume_body(const struct fsm_pod *p, struct fsm_buf *b)
{
	fsm_buf_putc(b, '{');
	pod_put_ref(b, p);
	fsm_buf_puts(b, ",\"service_account\":");
	fsm_buf_json_str(b,
	                 p->spec.service_account[0] != '\0' ? p->spec.service_account : "default");
	pod_put_meta(b, p);
	fsm_buf_puts(b, ",\"volumes\":[");
	for (size_t i = 0; i < p->spec.nvolumes; i++) {
		if (i > 0)
			fsm_buf_putc(b, ',');
		fsm_buf_append(b, p->spec.volumes[i].json, p->spec.volumes[i].json_len);
	}
	fsm_buf_puts(b, "]}");
}

static void setup_emit(struct fold *f, struct fsm_pod *p)
{
	p->vol_n++;
	p->vol_busy = true;
	p->vol_again = false;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_VOLUME_SETUP, p->spec.uid, "volumes/%s/%u",
	                                   p->spec.uid, p->vol_n);
	if (cmd == NULL)
		return;
	cmd->attempt = p->vol_n;
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_pod_volume_body(p, &b);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

bool pod_volumes_ready(struct fold *f, struct fsm_pod *p)
{
	if (p->spec.nvolumes == 0 || p->vol_ready)
		return true;
	if (!p->vol_busy && p->vol_retry_ts_ms <= f->now)
		setup_emit(f, p);
	return false;
}

void pod_volumes_on_effect(struct fold *f, struct fsm_pod *p, const char *verb, const char *rest)
{
	const struct fsm_ev_effect *e = &f->ev->u.effect;
	if (strcmp(verb, "volumesdown") == 0) {
		if (p->vol_down != FSM_VOL_DOWN_BUSY)
			return;
		if (e->ok || e->error_class == FSM_ERR_NOT_FOUND) {
			p->vol_down = FSM_VOL_DOWN_DONE;
			return;
		}
		/* Not torn down: again after the pod worker's retry period. */
		p->vol_down = FSM_VOL_DOWN_NONE;
		vol_timer(f, p, f->now + f->s->cfg.sync_retry_ms);
		return;
	}
	char *end;
	unsigned long n = strtoul(rest, &end, 10);
	if (*end != '\0' || n != p->vol_n || !p->vol_busy)
		return; /* an older setup's answer */
	p->vol_busy = false;
	if (e->ok) {
		p->vol_ready = true;
		p->vol_backoff_ms = 0;
		p->vol_retry_ts_ms = 0;
		int64_t exp = token_expiration_s(p);
		if (exp > 0) {
			p->vol_token_ts_ms = f->now + (uint64_t)exp * 800;
			vol_timer(f, p, p->vol_token_ts_ms);
		}
	} else {
		api_event(f, p, -1, "Warning", "FailedMount", "%s", e->error);
		p->vol_backoff_ms =
		        p->vol_backoff_ms == 0 ? VOL_BACKOFF_INITIAL_MS : p->vol_backoff_ms * 2;
		if (p->vol_backoff_ms > VOL_BACKOFF_MAX_MS)
			p->vol_backoff_ms = VOL_BACKOFF_MAX_MS;
		p->vol_retry_ts_ms = f->now + p->vol_backoff_ms;
		if (p->stage == FSM_PS_ACTIVE && !p->vol_again)
			vol_timer(f, p, p->vol_retry_ts_ms);
	}
	if (p->vol_again && p->stage == FSM_PS_ACTIVE) {
		p->vol_retry_ts_ms = 0;
		setup_emit(f, p);
	}
}

void pod_volumes_on_timer(struct fold *f, struct fsm_pod *p)
{
	if (p->stage == FSM_PS_REMOVING) {
		pod_volumes_teardown(f, p);
		return;
	}
	if (p->stage != FSM_PS_ACTIVE || p->vol_busy || p->spec.nvolumes == 0)
		return;
	/* Set up, but an update failed (retry due) or the token is to be renewed:
	 * set up again. Not ready: pod_sync tries again (pod_volumes_ready). */
	bool retry = p->vol_retry_ts_ms != 0 && p->vol_retry_ts_ms <= f->now;
	bool renew = p->vol_token_ts_ms != 0 && p->vol_token_ts_ms <= f->now;
	if (p->vol_ready && (retry || renew)) {
		p->vol_retry_ts_ms = 0;
		if (renew)
			p->vol_token_ts_ms = 0;
		setup_emit(f, p);
	}
}

/* Whether a container's environment reads a ConfigMap or Secret: the executor
 * has the watcher keep it for the pod, and the teardown lets it go. */
static bool pod_env_reads_objects(const struct fsm_pod *p)
{
	static const char *const keys[] = {"configMapKeyRef", "secretKeyRef", "configMapRef",
	                                   "secretRef"};
	for (size_t i = 0; i < p->spec.ncontainers; i++) {
		const struct fsm_container_spec *c = &p->spec.containers[i];
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (memmem(c->json, c->json_len, keys[k], strlen(keys[k])) != NULL)
				return true;
	}
	return false;
}

bool pod_volumes_gone(const struct fsm_pod *p)
{
	return p->vol_down == FSM_VOL_DOWN_DONE || (p->vol_n == 0 && !pod_env_reads_objects(p));
}

bool pod_volumes_teardown(struct fold *f, struct fsm_pod *p)
{
	if (pod_volumes_gone(p))
		return true;
	if (p->vol_down == FSM_VOL_DOWN_BUSY || p->vol_busy)
		return false; /* a setup's answer first: it must not outlive the teardown */
	p->vol_down = FSM_VOL_DOWN_BUSY;
	struct fsm_command *cmd =
	        fold_cmd(f, FSM_CMD_VOLUME_TEARDOWN, p->spec.uid, "volumesdown/%s", p->spec.uid);
	if (cmd == NULL)
		return false;
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_putc(&b, '{');
	pod_put_ref(&b, p);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
	return false;
}

/* ---- container mounts ---- */

void pod_put_mounts(struct fsm_buf *b, const struct fsm_pod *p, const struct fsm_container_spec *cs)
{
	if (cs->nmounts == 0)
		return;
	fsm_buf_puts(b, ",\"mounts\":[");
	for (size_t j = 0; j < cs->nmounts; j++) {
		const struct fsm_volume_mount *m = &cs->mounts[j];
		int k = fsm_pod_volume_index(&p->spec, m->name);
		if (k < 0)
			continue; /* the decoder refuses such a pod */
		const struct fsm_volume *v = &p->spec.volumes[k];
		if (j > 0)
			fsm_buf_putc(b, ',');
		fsm_buf_puts(b, "{\"container_path\":");
		fsm_buf_json_str(b, m->mount_path);
		/* Relative: under the pod's directory (the executor joins it). */
		struct fsm_buf h = FSM_BUF_INIT;
		const char *dir = fsm_volume_plugin_dir(v->type);
		if (v->type == FSM_VOL_HOST_PATH) {
			fsm_buf_puts(&h, v->host_path);
		} else {
			fsm_buf_puts(&h, "volumes/");
			fsm_buf_puts(&h, dir != NULL ? dir : "unsupported");
			fsm_buf_putc(&h, '/');
			fsm_buf_puts(&h, v->name);
		}
		if (m->sub_path[0] != '\0') {
			if (h.len == 0 || h.ptr[h.len - 1] != '/')
				fsm_buf_putc(&h, '/');
			fsm_buf_puts(&h, m->sub_path);
		}
		fsm_buf_puts(b, ",\"host_path\":");
		fsm_buf_json_str(b, h.ptr != NULL ? h.ptr : "");
		fsm_buf_free(&h);
		/* The kubelet mounts configMap, secret, downwardAPI and projected
		 * volumes read-only whatever the mount says (their plugins' ReadOnly
		 * attribute). */
		bool ro = m->read_only || v->type == FSM_VOL_CONFIGMAP ||
		          v->type == FSM_VOL_SECRET || v->type == FSM_VOL_DOWNWARD_API ||
		          v->type == FSM_VOL_PROJECTED;
		fsm_buf_puts(b, ro ? ",\"readonly\":true}" : ",\"readonly\":false}");
	}
	fsm_buf_putc(b, ']');
}

/* ---- the objects volumes read ---- */

static int object_cmp(bool sa, const char *nsa, const char *na, const struct fsm_object *o)
{
	if (sa != o->secret)
		return sa ? 1 : -1;
	int c = strcmp(nsa, o->namespace_);
	return c != 0 ? c : strcmp(na, o->name);
}

/* The index of the object, or -(insertion point) - 1. */
static long object_find(const struct fsm_state *s, bool secret, const char *ns, const char *name)
{
	size_t lo = 0, hi = s->nobjects;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = object_cmp(secret, ns, name, &s->objects[mid]);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(long)lo - 1;
}

bool fsm_pod_reads_object(const struct fsm_pod *p, bool secret, const char *ns, const char *name)
{
	if (strcmp(p->spec.namespace_, ns) != 0)
		return false;
	for (size_t i = 0; i < p->spec.nvolumes; i++) {
		const struct fsm_volume *v = &p->spec.volumes[i];
		for (size_t j = 0; j < v->nrefs; j++)
			if (v->refs[j].secret == secret && strcmp(v->refs[j].name, name) == 0)
				return true;
	}
	return false;
}

void fsm_object_free(struct fsm_object *o)
{
	free(o->namespace_);
	free(o->name);
}

int fsm_object_put(struct fsm_state *s, bool secret, const char *ns, const char *name,
                   const char *hash, bool *changed)
{
	long i = object_find(s, secret, ns, name);
	*changed = false;
	if (i >= 0) {
		struct fsm_object *o = &s->objects[i];
		if (strcmp(o->hash, hash) == 0)
			return 0;
		*changed = true;
		COPY(o->hash, hash);
		return 0;
	}
	if (s->nobjects >= FSM_OBJECTS_MAX)
		return 0; /* past the bound an object's changes go unnoticed (stated in state.h) */
	size_t at = (size_t)(-i - 1);
	struct fsm_object *v = realloc(s->objects, (s->nobjects + 1) * sizeof(*v));
	if (v == NULL)
		return FSM_ENOMEM;
	s->objects = v;
	char *n1 = strdup(ns), *n2 = strdup(name);
	if (n1 == NULL || n2 == NULL) {
		free(n1);
		free(n2);
		return FSM_ENOMEM;
	}
	memmove(&v[at + 1], &v[at], (s->nobjects - at) * sizeof(*v));
	v[at] = (struct fsm_object){.secret = secret, .namespace_ = n1, .name = n2};
	COPY(v[at].hash, hash);
	s->nobjects++;
	return 0;
}

void fold_api_object(struct fold *f, const struct fsm_ev_api_object *o)
{
	bool secret;
	if (strcmp(o->object_kind, "Secret") == 0)
		secret = true;
	else if (strcmp(o->object_kind, "ConfigMap") == 0)
		secret = false;
	else
		return;
	/* Only what a pod's volumes read is kept (the watcher also reports what
	 * containers' environments read: that is read again at each create). */
	bool read = false;
	for (size_t i = 0; i < f->s->npods && !read; i++)
		read = fsm_pod_reads_object(f->s->pods[i], secret, o->namespace_, o->name);
	if (!read)
		return;
	bool changed;
	int rc = fsm_object_put(f->s, secret, o->namespace_, o->name, o->exists ? o->hash : "",
	                        &changed);
	if (rc != 0) {
		f->err = rc;
		return;
	}
	for (size_t i = 0; i < f->s->npods; i++) {
		struct fsm_pod *p = f->s->pods[i];
		if (p->stage != FSM_PS_ACTIVE || p->vol_n == 0 ||
		    !fsm_pod_reads_object(p, secret, o->namespace_, o->name))
			continue;
		if (p->vol_busy) {
			/* The setup in flight read the watcher's first copy or a later
			 * one: only a change after that needs another. */
			if (changed)
				p->vol_again = true;
		} else if (!p->vol_ready) {
			p->vol_retry_ts_ms = 0; /* it failed: try again now */
			pod_sync(f, p);
		} else if (changed) {
			setup_emit(f, p);
		}
	}
}

void fsm_objects_prune(struct fsm_state *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->nobjects; i++) {
		struct fsm_object *o = &s->objects[i];
		bool used = false;
		for (size_t j = 0; j < s->npods && !used; j++)
			used = fsm_pod_reads_object(s->pods[j], o->secret, o->namespace_, o->name);
		if (used)
			s->objects[k++] = *o;
		else
			fsm_object_free(o);
	}
	s->nobjects = k;
	if (k == 0) {
		free(s->objects);
		s->objects = NULL;
	}
}
