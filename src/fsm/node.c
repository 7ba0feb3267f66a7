/*
 * fsm/node.c — the node-level fold: routes each event to the pod machine it
 * concerns, and owns what is the node's: the effective configuration, the
 * images known present, the pods table, admission and eviction.
 *
 * The pods table is an array sorted by uid, so every walk over the pods (status
 * reports, eviction ranking) has an order that depends on data only.
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

size_t fsm_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(dst, src, k);
	dst[k] = '\0';
	return n;
}

/* ---- commands ---- */

const char *fold_str(struct fold *f, const char *s, size_t n)
{
	char *p = fsm_arena_strndup(&f->out->arena, s, n);
	if (p == NULL) {
		f->err = FSM_ENOMEM;
		return "";
	}
	return p;
}

struct fsm_command *fold_cmd(struct fold *f, enum fsm_cmd_kind kind, const char *pod_uid,
			     const char *id_fmt, ...)
{
	struct fsm_command *c = fsm_out_push(f->out);
	if (c == NULL) {
		if (f->err == FSM_OK)
			f->err = f->out->n >= FSM_OUT_MAX ? FSM_EOVERFLOW : FSM_ENOMEM;
		return NULL;
	}
	char id[FSM_ID_BYTES * 2];
	va_list ap;
	va_start(ap, id_fmt);
	vsnprintf(id, sizeof(id), id_fmt, ap);
	va_end(ap);
	c->kind = kind;
	c->id = fold_str(f, id, strlen(id));
	c->pod_uid = fold_str(f, pod_uid, strlen(pod_uid));
	return c;
}

/* ---- timers (DESIGN.md contract 3) ---- */

static size_t timer_slot(const struct fsm_state *s, const char *key, bool *found)
{
	size_t lo = 0, hi = s->ntimers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->timers[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int fsm_timer_add(struct fsm_state *s, const char *key, const char *pod_uid, uint64_t due_ms)
{
	bool found;
	size_t i = timer_slot(s, key, &found);
	if (found) {
		s->timers[i].due_ms = due_ms;
		return FSM_OK;
	}
	if (s->ntimers >= FSM_TIMERS_MAX)
		return FSM_EOVERFLOW;
	struct fsm_timer *v = realloc(s->timers, (s->ntimers + 1) * sizeof(*v));
	if (v == NULL)
		return FSM_ENOMEM;
	s->timers = v;
	char *k = strdup(key), *u = strdup(pod_uid);
	if (k == NULL || u == NULL) {
		free(k);
		free(u);
		return FSM_ENOMEM;
	}
	memmove(&v[i + 1], &v[i], (s->ntimers - i) * sizeof(*v));
	v[i] = (struct fsm_timer){k, u, due_ms};
	s->ntimers++;
	return FSM_OK;
}

/* Forgets a timer; false when it was not armed. */
static bool timer_remove(struct fsm_state *s, const char *key)
{
	bool found;
	size_t i = timer_slot(s, key, &found);
	if (!found)
		return false;
	free(s->timers[i].key);
	free(s->timers[i].pod_uid);
	memmove(&s->timers[i], &s->timers[i + 1], (s->ntimers - i - 1) * sizeof(*s->timers));
	s->ntimers--;
	return true;
}

void fold_body(struct fold *f, struct fsm_command *c, const struct fsm_buf *b)
{
	if (c == NULL || b->len == 0)
		return;
	c->body = fold_str(f, b->ptr, b->len);
	c->body_len = b->len;
}

void fold_id_body(struct fold *f, struct fsm_command *c, const char *id)
{
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"id\":");
	fsm_buf_json_str(&b, id);
	fsm_buf_putc(&b, '}');
	if (b.ptr == NULL)
		f->err = FSM_ENOMEM;
	fold_body(f, c, &b);
	fsm_buf_free(&b);
}

void fold_timer_set(struct fold *f, const char *pod_uid, const char *key, uint64_t due_ms)
{
	int rc = fsm_timer_add(f->s, key, pod_uid, due_ms);
	if (rc != FSM_OK) {
		f->err = rc;
		return;
	}
	struct fsm_command *c = fold_cmd(f, FSM_CMD_TIMER_SET, pod_uid, "timer/%s", key);
	if (c != NULL) {
		c->key = fold_str(f, key, strlen(key));
		c->due_ms = due_ms;
	}
}

void fold_timer_cancel(struct fold *f, const char *pod_uid, const char *key)
{
	if (!timer_remove(f->s, key))
		return; /* not armed: nothing to cancel */
	struct fsm_command *c = fold_cmd(f, FSM_CMD_TIMER_CANCEL, pod_uid, "untimer/%s", key);
	if (c != NULL)
		c->key = fold_str(f, key, strlen(key));
}

int fsm_pending(struct fsm_state *s, struct fsm_out *out)
{
	struct fsm_event none = {.kind = FSM_EV_CLOCK, .ts_ms = s->last_ts_ms,
				 .wall_ms = s->last_wall_ms};
	struct fold f = {s, &none, out, s->last_ts_ms, s->last_wall_ms, FSM_OK};
	for (size_t i = 0; i < s->ntimers; i++) {
		const struct fsm_timer *t = &s->timers[i];
		struct fsm_command *c = fold_cmd(&f, FSM_CMD_TIMER_SET, t->pod_uid, "timer/%s", t->key);
		if (c != NULL) {
			c->key = fold_str(&f, t->key, strlen(t->key));
			c->due_ms = t->due_ms;
		}
	}
	for (size_t i = 0; i < s->npods; i++)
		pod_pending(&f, s->pods[i]);
	api_pending(&f);
	return f.err;
}

/* ---- the pods table ---- */

static size_t pod_slot(const struct fsm_state *s, const char *uid, bool *found)
{
	size_t lo = 0, hi = s->npods;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->pods[mid]->spec.uid, uid);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct fsm_pod *fsm_state_pod(const struct fsm_state *s, const char *uid)
{
	bool found;
	size_t i = pod_slot(s, uid, &found);
	return found ? s->pods[i] : NULL;
}

static int pods_insert(struct fsm_state *s, struct fsm_pod *p)
{
	bool found;
	size_t i = pod_slot(s, p->spec.uid, &found);
	assert(!found);
	struct fsm_pod **v = realloc(s->pods, (s->npods + 1) * sizeof(*v));
	if (v == NULL)
		return FSM_ENOMEM;
	s->pods = v;
	memmove(&v[i + 1], &v[i], (s->npods - i) * sizeof(*v));
	v[i] = p;
	s->npods++;
	return FSM_OK;
}

static void pods_drop(struct fsm_state *s, struct fsm_pod *p)
{
	bool found;
	size_t i = pod_slot(s, p->spec.uid, &found);
	if (!found)
		return;
	memmove(&s->pods[i], &s->pods[i + 1], (s->npods - i - 1) * sizeof(*s->pods));
	s->npods--;
	fsm_pod_free(p);
}

/* A pod whose runtime objects are all removed leaves the node. */
static void pod_drop_if_gone(struct fsm_state *s, struct fsm_pod *p)
{
	if (p == NULL)
		return;
	if (p->nstale > 0)
		return; /* objects of it are still being removed */
	if (!pod_volumes_gone(p))
		return; /* its volumes are being torn down */
	if ((p->stage == FSM_PS_REMOVING && p->sb_stage == FSM_SB_NONE) ||
	    (p->stage == FSM_PS_TERMINATED && p->remove_when_stopped && !p->sb_ever_created)) {
		bool reads = false;
		for (size_t i = 0; i < p->spec.nvolumes; i++)
			reads = reads || p->spec.volumes[i].nrefs > 0;
		pods_drop(s, p);
		if (reads)
			fsm_objects_prune(s);
	}
}

/* True while another static pod of the same full name (namespace and name) is
 * admitted and not yet terminated: the kubelet starts one static pod of a name
 * at a time (pod_workers.go allowStaticPodStart). */
bool node_static_blocked(const struct fsm_state *s, const struct fsm_pod *p)
{
	for (size_t i = 0; i < s->npods; i++) {
		const struct fsm_pod *o = s->pods[i];
		if (o == p || !o->spec.is_static ||
		    (o->stage != FSM_PS_ACTIVE && o->stage != FSM_PS_TERMINATING))
			continue;
		if (strcmp(o->spec.name, p->spec.name) != 0 ||
		    strcmp(o->spec.namespace_, p->spec.namespace_) != 0)
			continue;
		/* The one that started first keeps the name. */
		if (o->sb_ever_created || o->sb_stage != FSM_SB_NONE)
			return true;
	}
	return false;
}

/* After an event about pod p: drops it when it is gone, and when a static pod
 * has terminated, lets the next static pod of its name start. */
static void pod_maybe_gone(struct fold *f, struct fsm_pod *p)
{
	if (p == NULL)
		return;
	bool kick = p->spec.is_static && p->stage != FSM_PS_ACTIVE && p->stage != FSM_PS_TERMINATING;
	char ns[256], name[256];
	if (kick) {
		COPY(ns, p->spec.namespace_);
		COPY(name, p->spec.name);
	}
	pod_drop_if_gone(f->s, p);
	if (!kick)
		return;
	for (size_t i = 0; i < f->s->npods; i++) {
		struct fsm_pod *o = f->s->pods[i];
		if (o->spec.is_static && o->stage == FSM_PS_ACTIVE && !o->sb_ever_created &&
		    o->sb_stage == FSM_SB_NONE && strcmp(o->spec.name, name) == 0 &&
		    strcmp(o->spec.namespace_, ns) == 0)
			pod_sync(f, o);
	}
}

/* ---- images ---- */

static size_t image_slot(const struct fsm_state *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->nimages;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->images[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

bool node_image_present(const struct fsm_state *s, const char *image)
{
	bool found;
	image_slot(s, image, &found);
	return found;
}

const char *node_image_ref(const struct fsm_state *s, const char *image)
{
	bool found;
	size_t i = image_slot(s, image, &found);
	return found ? s->images[i].ref : NULL;
}

int fsm_image_add(struct fsm_state *s, const char *image, const char *ref)
{
	bool found;
	size_t i = image_slot(s, image, &found);
	if (found) {
		char *r = strdup(ref ? ref : "");
		if (r == NULL)
			return FSM_ENOMEM;
		free(s->images[i].ref);
		s->images[i].ref = r;
		return FSM_OK;
	}
	if (s->nimages >= FSM_IMAGES_MAX)
		return FSM_OK; /* the table is a cache: past its limit, pulls decide */
	struct fsm_image *v = realloc(s->images, (s->nimages + 1) * sizeof(*v));
	if (v == NULL)
		return FSM_ENOMEM;
	s->images = v;
	char *n = strdup(image), *r = strdup(ref ? ref : "");
	if (n == NULL || r == NULL) {
		free(n);
		free(r);
		return FSM_ENOMEM;
	}
	memmove(&v[i + 1], &v[i], (s->nimages - i) * sizeof(*v));
	v[i].name = n;
	v[i].ref = r;
	s->nimages++;
	return FSM_OK;
}

static void image_remove(struct fsm_state *s, const char *image)
{
	bool found;
	size_t i = image_slot(s, image, &found);
	if (!found)
		return;
	free(s->images[i].name);
	free(s->images[i].ref);
	memmove(&s->images[i], &s->images[i + 1], (s->nimages - i - 1) * sizeof(*s->images));
	s->nimages--;
}

/* ---- configuration ---- */

void fsm_node_config_defaults(struct fsm_node_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_pods = 110;
	c->alloc_cpu_milli = -1;
	c->alloc_memory_bytes = -1;
	c->alloc_ephemeral_bytes = -1;
	c->backoff_initial_ms = 10000;
	c->backoff_max_ms = 300000;
	c->sync_retry_ms = 10000;
	c->lease_duration_s = 40;
	c->status_report_ms = 300000;
	c->cap_cpu_milli = -1;
	c->cap_memory_bytes = -1;
	c->cap_ephemeral_bytes = -1;
	/* The kubelet's default hard eviction thresholds. */
	static const struct fsm_threshold defaults[] = {
		{"memory.available", 100 * 1024 * 1024, 0},
		{"nodefs.available", -1, 10},
		{"imagefs.available", -1, 15},
		{"nodefs.inodesFree", -1, 5},
	};
	memcpy(c->thresholds, defaults, sizeof(defaults));
	c->nthresholds = sizeof(defaults) / sizeof(defaults[0]);
}

void fsm_node_config_free(struct fsm_node_config *c)
{
	free(c->node_facts);
	free(c->node_name);
	free(c->host_ip);
	for (size_t i = 0; i < c->nlabels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	for (size_t i = 0; i < c->ntaints; i++) {
		free(c->taints[i].key);
		free(c->taints[i].value);
		free(c->taints[i].effect);
	}
	free(c->taints);
	memset(c, 0, sizeof(*c));
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* Sums a reservation map's cpu, memory and ephemeral-storage into c. */
static void add_reserved(json_object *m, struct fsm_node_config *c)
{
	const char *s;
	int64_t q;
	if ((s = jstr(m, "cpu")) && fsm_quantity_milli(s, &q) == 0)
		c->reserved_cpu_milli += q;
	if ((s = jstr(m, "memory")) && fsm_quantity_bytes(s, &q) == 0)
		c->reserved_memory_bytes += q;
	if ((s = jstr(m, "ephemeral-storage")) && fsm_quantity_bytes(s, &q) == 0)
		c->reserved_ephemeral_bytes += q;
}

/* The node's capacity (the "node" facts the daemon measured) and its
 * reservations; allocatable follows from them (api.c). */
static void config_capacity(json_object *o, struct fsm_node_config *c)
{
	json_object *m;
	if (json_object_object_get_ex(o, "kubeReserved", &m))
		add_reserved(m, c);
	if (json_object_object_get_ex(o, "systemReserved", &m))
		add_reserved(m, c);
	json_object *node, *cap;
	if (!json_object_object_get_ex(o, "node", &node) || !json_object_is_type(node, json_type_object))
		return;
	c->node_facts = strdup(json_object_to_json_string_ext(node, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!json_object_object_get_ex(node, "capacity", &cap))
		return;
	const char *s;
	int64_t q;
	if ((s = jstr(cap, "cpu")) && fsm_quantity_milli(s, &q) == 0)
		c->cap_cpu_milli = q;
	if ((s = jstr(cap, "memory")) && fsm_quantity_bytes(s, &q) == 0)
		c->cap_memory_bytes = q;
	if ((s = jstr(cap, "ephemeral-storage")) && fsm_quantity_bytes(s, &q) == 0)
		c->cap_ephemeral_bytes = q;
	json_object_object_foreach(cap, k, v)
	{
		if (strncmp(k, "hugepages-", 10) == 0 && json_object_is_type(v, json_type_string) &&
		    fsm_quantity_bytes(json_object_get_string(v), &q) == 0)
			c->cap_hugepages_bytes += q;
	}
}

static int64_t threshold_value(const struct fsm_threshold *t, int64_t capacity);

static int64_t hard_threshold(const struct fsm_node_config *c, const char *signal, int64_t capacity)
{
	for (size_t i = 0; i < c->nthresholds; i++)
		if (strcmp(c->thresholds[i].signal, signal) == 0)
			return threshold_value(&c->thresholds[i], capacity);
	return 0;
}

static int64_t floor0(int64_t v)
{
	return v < 0 ? 0 : v;
}

/* Allocatable, as the kubelet's node allocatable: capacity less kube- and
 * system-reserved and the hard eviction threshold of the resource, memory
 * also less the pre-allocated huge pages; never below 0. Only what an
 * explicit "allocatable" left unknown. */
static void config_allocatable(struct fsm_node_config *c)
{
	if (c->alloc_cpu_milli < 0 && c->cap_cpu_milli >= 0)
		c->alloc_cpu_milli = floor0(c->cap_cpu_milli - c->reserved_cpu_milli);
	if (c->alloc_memory_bytes < 0 && c->cap_memory_bytes >= 0)
		c->alloc_memory_bytes =
			floor0(c->cap_memory_bytes - c->reserved_memory_bytes - c->cap_hugepages_bytes -
			       hard_threshold(c, "memory.available", c->cap_memory_bytes));
	if (c->alloc_ephemeral_bytes < 0 && c->cap_ephemeral_bytes >= 0)
		c->alloc_ephemeral_bytes =
			floor0(c->cap_ephemeral_bytes - c->reserved_ephemeral_bytes -
			       hard_threshold(c, "nodefs.available", c->cap_ephemeral_bytes));
}

/*
 * Decodes the effective configuration (node.config). Unknown fields are
 * ignored; a field of the wrong form keeps its default — the daemon validates
 * its flags and config file before it journals them.
 */
static int config_decode(const char *json, size_t len, struct fsm_node_config *c)
{
	fsm_node_config_defaults(c);
	json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return FSM_ENOMEM;
	json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return FSM_OK;
	}
	const char *s;
	int64_t v;
	c->node_name = strdup((s = jstr(o, "nodeName")) ? s : "");
	c->host_ip = strdup((s = jstr(o, "hostIP")) ? s : "");
	if (jint(o, "maxPods", &v) && v > 0)
		c->max_pods = (int32_t)v;
	if (jint(o, "backOffInitialMs", &v) && v > 0)
		c->backoff_initial_ms = (uint64_t)v;
	if (jint(o, "backOffMaxMs", &v) && v > 0)
		c->backoff_max_ms = (uint64_t)v;
	if (jint(o, "syncRetryMs", &v) && v > 0)
		c->sync_retry_ms = (uint64_t)v;
	json_object *jb;
	c->api = json_object_object_get_ex(o, "api", &jb) && json_object_get_boolean(jb);
	if (jint(o, "leaseDurationSeconds", &v) && v > 0 && v < 3600)
		c->lease_duration_s = (int32_t)v;
	if (jint(o, "statusReportMs", &v) && v > 0)
		c->status_report_ms = (uint64_t)v;
	config_capacity(o, c);
	json_object *alloc;
	if (json_object_object_get_ex(o, "allocatable", &alloc)) {
		int64_t q;
		if ((s = jstr(alloc, "cpu")) && fsm_quantity_milli(s, &q) == 0)
			c->alloc_cpu_milli = q;
		if ((s = jstr(alloc, "memory")) && fsm_quantity_bytes(s, &q) == 0)
			c->alloc_memory_bytes = q;
		if ((s = jstr(alloc, "ephemeral-storage")) && fsm_quantity_bytes(s, &q) == 0)
			c->alloc_ephemeral_bytes = q;
		if ((s = jstr(alloc, "pods")) && fsm_quantity_bytes(s, &q) == 0 && q > 0)
			c->max_pods = (int32_t)q;
	}
	json_object *labels;
	if (json_object_object_get_ex(o, "labels", &labels) &&
	    json_object_is_type(labels, json_type_object)) {
		size_t n = (size_t)json_object_object_length(labels);
		c->labels = calloc(n ? n : 1, sizeof(*c->labels));
		json_object_object_foreach(labels, k, lv)
		{
			if (c->labels == NULL || c->nlabels >= FSM_LABELS_MAX)
				break;
			c->labels[c->nlabels].key = strdup(k);
			c->labels[c->nlabels].value =
				strdup(json_object_is_type(lv, json_type_string) ? json_object_get_string(lv) : "");
			c->nlabels++;
		}
	}
	json_object *taints;
	if (json_object_object_get_ex(o, "taints", &taints) &&
	    json_object_is_type(taints, json_type_array)) {
		size_t n = json_object_array_length(taints);
		c->taints = calloc(n ? n : 1, sizeof(*c->taints));
		for (size_t i = 0; c->taints != NULL && i < n && c->ntaints < FSM_TAINTS_MAX; i++) {
			json_object *t = json_object_array_get_idx(taints, i);
			struct fsm_taint *d = &c->taints[c->ntaints++];
			d->key = strdup((s = jstr(t, "key")) ? s : "");
			d->value = strdup((s = jstr(t, "value")) ? s : "");
			d->effect = strdup((s = jstr(t, "effect")) ? s : "");
		}
	}
	json_object *ev;
	if (json_object_object_get_ex(o, "evictionHard", &ev) && json_object_is_type(ev, json_type_object)) {
		c->nthresholds = 0;
		json_object_object_foreach(ev, k, tv)
		{
			if (c->nthresholds >= FSM_THRESHOLDS_MAX || !json_object_is_type(tv, json_type_string))
				continue;
			struct fsm_threshold *t = &c->thresholds[c->nthresholds];
			const char *q = json_object_get_string(tv);
			size_t ql = strlen(q);
			COPY(t->signal, k);
			if (ql > 0 && q[ql - 1] == '%') {
				t->quantity = -1;
				t->percent = (int32_t)strtol(q, NULL, 10);
			} else if (fsm_quantity_bytes(q, &t->quantity) != 0) {
				continue;
			}
			c->nthresholds++;
		}
	}
	json_object_put(o);
	config_allocatable(c);
	if (c->node_name == NULL || c->host_ip == NULL)
		return FSM_ENOMEM;
	return FSM_OK;
}

/* ---- admission (the kubelet's predicate admit handler) ---- */

/* Whether an admitted pod counts against a new one (filterOutInactivePods): not
 * once it has terminated, nor once its source removed it — the kubelet drops a
 * removed pod from its pod manager at once (HandlePodRemoves) and kills it
 * after, so a replaced static manifest's new pod is not refused for the old. */
static bool pod_counts(const struct fsm_pod *p)
{
	return (p->stage == FSM_PS_ACTIVE || p->stage == FSM_PS_TERMINATING) &&
	       !p->remove_when_stopped;
}

static bool tolerates(const struct fsm_pod_spec *spec, const struct fsm_taint *t)
{
	for (size_t i = 0; i < spec->ntolerations; i++) {
		const struct fsm_toleration *tol = &spec->tolerations[i];
		if (tol->effect[0] != '\0' && strcmp(tol->effect, t->effect) != 0)
			continue;
		if (tol->key[0] == '\0') {
			if (strcmp(tol->op, "Exists") == 0)
				return true;
			continue;
		}
		if (strcmp(tol->key, t->key) != 0)
			continue;
		if (strcmp(tol->op, "Exists") == 0)
			return true;
		if (strcmp(tol->value, t->value) == 0)
			return true;
	}
	return false;
}

static const char *node_label(const struct fsm_node_config *c, const char *key)
{
	for (size_t i = 0; i < c->nlabels; i++)
		if (strcmp(c->labels[i].key, key) == 0)
			return c->labels[i].value;
	return NULL;
}

static bool req_matches(const struct fsm_node_config *c, const struct fsm_selector_req *r)
{
	/* matchFields: the only field a node selector may name is metadata.name
	 * (DaemonSet pods are pinned to their node this way). */
	const char *v = r->field ? (strcmp(r->key, "metadata.name") == 0 ? c->node_name : NULL)
				 : node_label(c, r->key);
	if (strcmp(r->op, "Exists") == 0)
		return v != NULL;
	if (strcmp(r->op, "DoesNotExist") == 0)
		return v == NULL;
	if (strcmp(r->op, "In") == 0 || strcmp(r->op, "NotIn") == 0) {
		bool in = false;
		for (size_t i = 0; v != NULL && i < r->nvalues; i++)
			in = in || strcmp(r->values[i], v) == 0;
		return strcmp(r->op, "In") == 0 ? in : !in;
	}
	if ((strcmp(r->op, "Gt") == 0 || strcmp(r->op, "Lt") == 0) && v != NULL && r->nvalues == 1) {
		long long a = strtoll(v, NULL, 10), b = strtoll(r->values[0], NULL, 10);
		return strcmp(r->op, "Gt") == 0 ? a > b : a < b;
	}
	return false;
}

static bool affinity_ok(const struct fsm_node_config *c, const struct fsm_pod_spec *spec)
{
	for (size_t i = 0; i < spec->nnode_selector; i++) {
		const char *v = node_label(c, spec->node_selector[i].key);
		if (v == NULL || strcmp(v, spec->node_selector[i].value) != 0)
			return false;
	}
	if (spec->naffinity_terms == 0)
		return true;
	for (size_t t = 0; t < spec->naffinity_terms; t++) {
		const struct fsm_selector_term *term = &spec->affinity_terms[t];
		bool all = term->nreqs > 0;
		for (size_t r = 0; all && r < term->nreqs; r++)
			all = req_matches(c, &term->reqs[r]);
		if (all)
			return true;
	}
	return false;
}

static bool ports_conflict(const struct fsm_pod_spec *a, const struct fsm_pod_spec *b)
{
	for (size_t x = 0; x < a->ncontainers; x++)
		for (size_t y = 0; y < a->containers[x].nports; y++) {
			const struct fsm_port *ap = &a->containers[x].ports[y];
			if (ap->host_port == 0)
				continue;
			for (size_t u = 0; u < b->ncontainers; u++)
				for (size_t v = 0; v < b->containers[u].nports; v++) {
					const struct fsm_port *bp = &b->containers[u].ports[v];
					if (bp->host_port == ap->host_port &&
					    strcmp(bp->protocol, ap->protocol) == 0)
						return true;
				}
		}
	return false;
}

/*
 * The kubelet's predicate admit handler (lifecycle/predicate.go): the checks of
 * the scheduler's AdmissionCheck in its order — resources (pods, cpu, memory,
 * ephemeral-storage: noderesources.Fits), NodeAffinity, NodeName, NodePorts —
 * then the NoExecute taints (not for static pods); the first failure is the
 * reason. The message is the event's; the status says "Pod was rejected: "
 * before it (rejectPod).
 */
void node_admit(const struct fsm_state *s, const struct fsm_pod *p, char *reason,
		size_t reason_len, char *message, size_t message_len)
{
	const struct fsm_node_config *c = &s->cfg;
	const struct fsm_pod_spec *spec = &p->spec;
	reason[0] = '\0';
	message[0] = '\0';
	/* The pods already admitted: the node's NodeInfo. */
	int64_t cpu = 0, mem = 0, eph = 0;
	int32_t npods = 0;
	bool port_taken = false;
	for (size_t i = 0; i < s->npods; i++) {
		const struct fsm_pod *o = s->pods[i];
		if (o == p || !pod_counts(o))
			continue;
		npods++;
		cpu += o->spec.cpu_request_milli;
		mem += o->spec.memory_request_bytes;
		eph += o->spec.ephemeral_request_bytes;
		port_taken = port_taken || ports_conflict(spec, &o->spec);
	}
	if (npods + 1 > c->max_pods) {
		snprintf(reason, reason_len, "OutOfpods");
		snprintf(message, message_len,
			 "Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d",
			 npods, c->max_pods);
		return;
	}
	struct {
		const char *name;
		int64_t want, used, cap;
	} res[] = {
		{"cpu", spec->cpu_request_milli, cpu, c->alloc_cpu_milli},
		{"memory", spec->memory_request_bytes, mem, c->alloc_memory_bytes},
		{"ephemeral-storage", spec->ephemeral_request_bytes, eph, c->alloc_ephemeral_bytes},
	};
	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		if (res[i].cap < 0 || res[i].want <= 0 || res[i].want + res[i].used <= res[i].cap)
			continue;
		snprintf(reason, reason_len, "OutOf%s", res[i].name);
		snprintf(message, message_len,
			 "Node didn't have enough resource: %s, requested: %lld, used: %lld, capacity: %lld",
			 res[i].name, (long long)res[i].want, (long long)res[i].used,
			 (long long)res[i].cap);
		return;
	}
	/* NodeAffinity (nodeSelector and required node affinity). */
	if (!affinity_ok(c, spec)) {
		snprintf(reason, reason_len, "NodeAffinity");
		snprintf(message, message_len,
			 "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");
		return;
	}
	/* NodeName: a pod bound to another node (a manifest may name one). */
	if (spec->node_name[0] != '\0' && c->node_name != NULL &&
	    strcmp(spec->node_name, c->node_name) != 0) {
		snprintf(reason, reason_len, "NodeName");
		snprintf(message, message_len,
			 "Predicate NodeName failed: node(s) didn't match the requested node name");
		return;
	}
	if (port_taken) {
		snprintf(reason, reason_len, "NodePorts");
		snprintf(message, message_len,
			 "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
		return;
	}
	/* Taints with effect NoExecute that the pod does not tolerate; static pods
	 * are not checked. */
	for (size_t i = 0; !spec->is_static && i < c->ntaints; i++) {
		if (strcmp(c->taints[i].effect, "NoExecute") == 0 && !tolerates(spec, &c->taints[i])) {
			snprintf(reason, reason_len, "TaintToleration");
			snprintf(message, message_len,
				 "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate");
			return;
		}
	}
}

/* ---- eviction (the kubelet's eviction manager, hard thresholds) ---- */

static struct fsm_pressure *pressure_slot(struct fsm_state *s, const char *signal)
{
	for (size_t i = 0; i < s->npressure; i++)
		if (strcmp(s->pressure[i].signal, signal) == 0)
			return &s->pressure[i];
	if (s->npressure >= FSM_SIGNALS_MAX)
		return NULL;
	struct fsm_pressure *p = &s->pressure[s->npressure++];
	memset(p, 0, sizeof(*p));
	COPY(p->signal, signal);
	return p;
}

/* GetThresholdQuantity: a percentage is a float32 fraction (parsePercentage:
 * float32(value) / 100) applied to the capacity in float64, truncated; so 10% of
 * 100Gi is 10737418400, not 10737418240. */
static int64_t threshold_value(const struct fsm_threshold *t, int64_t capacity)
{
	if (t->quantity >= 0)
		return t->quantity;
	float fraction = (float)t->percent / 100.0f;
	return (int64_t)((double)capacity * (double)fraction);
}

/* The resource a signal starves, as the eviction messages name it. */
static const char *signal_resource(const char *signal)
{
	if (strncmp(signal, "memory", 6) == 0)
		return "memory";
	if (strncmp(signal, "pid", 3) == 0)
		return "pids";
	return "ephemeral-storage";
}

static int64_t pod_usage(const struct fsm_pod *p, const char *resource)
{
	if (strcmp(resource, "memory") == 0)
		return p->usage_memory_bytes;
	if (strcmp(resource, "pids") == 0)
		return p->usage_pids;
	return p->usage_disk_bytes;
}

static int64_t pod_request(const struct fsm_pod *p, const char *resource)
{
	if (strcmp(resource, "memory") == 0)
		return p->spec.memory_request_bytes;
	if (strcmp(resource, "ephemeral-storage") == 0)
		return p->spec.ephemeral_request_bytes;
	return 0;
}

/*
 * The kubelet's ranking: pods whose usage exceeds their request first, then
 * lower priority first, then larger usage above request first. Ties go by uid
 * so the order is a function of the state.
 */
static bool ranks_before(const struct fsm_pod *a, const struct fsm_pod *b, const char *res)
{
	int64_t ua = pod_usage(a, res), ub = pod_usage(b, res);
	int64_t ra = pod_request(a, res), rb = pod_request(b, res);
	bool xa = ua > ra, xb = ub > rb;
	if (xa != xb)
		return xa;
	if (a->spec.priority != b->spec.priority)
		return a->spec.priority < b->spec.priority;
	if (ua - ra != ub - rb)
		return ua - ra > ub - rb;
	return strcmp(a->spec.uid, b->spec.uid) < 0;
}

/* resource.NewQuantity(v, BinarySI).String(): the largest power-of-1024 suffix
 * that divides the value exactly ("10Gi", "300Mi", "1536Ki", "1000"). */
void fsm_format_quantity(int64_t bytes, char *out, size_t n)
{
	static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
	size_t k = 0;
	int64_t v = bytes;
	while (v != 0 && v % 1024 == 0 && k + 1 < sizeof(suffix) / sizeof(suffix[0])) {
		v /= 1024;
		k++;
	}
	snprintf(out, n, "%lld%s", (long long)v, suffix[k]);
}

bool node_pressed(const struct fsm_state *s, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t t = 0; t < s->cfg.nthresholds; t++) {
		const struct fsm_threshold *th = &s->cfg.thresholds[t];
		if (strncmp(th->signal, prefix, n) != 0)
			continue;
		for (size_t i = 0; i < s->npressure; i++)
			if (strcmp(s->pressure[i].signal, th->signal) == 0 &&
			    s->pressure[i].value < threshold_value(th, s->pressure[i].capacity))
				return true;
	}
	return false;
}

/* One eviction per observation, as the kubelet's manager evicts one pod per pass. */
static void evict_if_pressed(struct fold *f)
{
	struct fsm_state *s = f->s;
	for (size_t t = 0; t < s->cfg.nthresholds; t++) {
		const struct fsm_threshold *th = &s->cfg.thresholds[t];
		const struct fsm_pressure *pr = NULL;
		for (size_t i = 0; i < s->npressure; i++)
			if (strcmp(s->pressure[i].signal, th->signal) == 0)
				pr = &s->pressure[i];
		if (pr == NULL)
			continue;
		int64_t limit = threshold_value(th, pr->capacity);
		if (pr->value >= limit)
			continue;
		const char *res = signal_resource(th->signal);
		struct fsm_pod *victim = NULL;
		for (size_t i = 0; i < s->npods; i++) {
			struct fsm_pod *p = s->pods[i];
			if (p->stage != FSM_PS_ACTIVE || p->spec.is_static)
				continue; /* static (critical) pods are not evicted */
			if (victim == NULL || ranks_before(p, victim, res))
				victim = p;
		}
		if (victim == NULL)
			return;
		char q[32], avail[32], msg[FSM_MESSAGE_BYTES];
		fsm_format_quantity(limit, q, sizeof(q));
		fsm_format_quantity(pr->value, avail, sizeof(avail));
		int n = snprintf(msg, sizeof(msg),
				 "The node was low on resource: %s. Threshold quantity: %s, available: %s. ",
				 res, q, avail);
		/* "Container ... was using" only for a container using more than it
		 * requests (evictionMessage: usage.Cmp(requests) > 0). */
		int64_t use = pod_usage(victim, res);
		if (use > pod_request(victim, res) && n > 0 && (size_t)n < sizeof(msg) &&
		    victim->spec.ncontainers > 0) {
			char u[32], r[32];
			fsm_format_quantity(use, u, sizeof(u));
			fsm_format_quantity(pod_request(victim, res), r, sizeof(r));
			snprintf(msg + n, sizeof(msg) - (size_t)n,
				 "Container %s was using %s, request is %s, has larger consumption of %s. ",
				 victim->spec.containers[victim->spec.ninit < victim->spec.ncontainers
								 ? victim->spec.ninit
								 : 0]
					 .name,
				 u, r, res);
		}
		pod_evict(f, victim, msg);
		pod_sync(f, victim);
		return;
	}
}

/* ---- static pods ---- */

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The kubelet names a static pod "<name>-<node>", puts it in "default" when the
 * manifest names no namespace, and derives its uid from the manifest's content,
 * the node and the file, so that a changed manifest is a new pod.
 */
static int static_pod_identity(struct fold *f, struct fsm_pod_spec *spec, const char *json,
			       size_t len, const char *path)
{
	const char *node = f->s->cfg.node_name ? f->s->cfg.node_name : "";
	if (spec->uid == NULL || spec->uid[0] == '\0') {
		uint64_t a = fnv64(0xcbf29ce484222325ULL, json, len);
		a = fnv64(a, "host:", 5);
		a = fnv64(a, node, strlen(node));
		uint64_t b = fnv64(a ^ 0x9e3779b97f4a7c15ULL, "file:", 5);
		b = fnv64(b, path, strlen(path));
		a = fnv64(a, path, strlen(path));
		char uid[40];
		snprintf(uid, sizeof(uid), "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
		free(spec->uid);
		spec->uid = strdup(uid);
	}
	if (node[0] != '\0') {
		size_t n = strlen(spec->name) + strlen(node) + 2;
		char *name = malloc(n);
		if (name == NULL)
			return FSM_ENOMEM;
		snprintf(name, n, "%s-%s", spec->name, node);
		free(spec->name);
		spec->name = name;
	}
	spec->is_static = true;
	return spec->uid == NULL ? FSM_ENOMEM : FSM_OK;
}

/* ---- events ---- */

static void on_pod_object(struct fold *f, const char *json, size_t len, const char *source,
			  bool is_file)
{
	struct fsm_pod_spec spec;
	char err[256];
	if (fsm_pod_decode(json, len, &spec, err, sizeof(err)) != 0)
		return; /* the source logged it; nothing to run */
	if (is_file && static_pod_identity(f, &spec, json, len, source) != FSM_OK) {
		fsm_pod_spec_free(&spec);
		f->err = FSM_ENOMEM;
		return;
	}
	struct fsm_pod *p = fsm_state_pod(f->s, spec.uid);
	if (p != NULL) {
		pod_update(f, p, &spec);
		pod_sync(f, p);
		fsm_pod_spec_free(&spec);
		pod_maybe_gone(f, p);
		return;
	}
	if (is_file) {
		/* A changed manifest replaces the pod the same file gave before. */
		for (size_t i = 0; i < f->s->npods; i++) {
			struct fsm_pod *o = f->s->pods[i];
			if (strcmp(o->source, source) == 0 && !o->remove_when_stopped) {
				api_mirror_drop(f, o);
				pod_delete(f, o, -1, true);
				pod_sync(f, o);
			}
		}
	}
	if (f->s->npods >= FSM_PODS_MAX) {
		fsm_pod_spec_free(&spec);
		return;
	}
	p = pod_create(f, &spec, source);
	fsm_pod_spec_free(&spec);
	if (p == NULL)
		return;
	if (pods_insert(f->s, p) != FSM_OK) {
		fsm_pod_free(p);
		f->err = FSM_ENOMEM;
		return;
	}
	pod_sync(f, p);
}

void api_pod_upsert(struct fold *f, const char *json, size_t len)
{
	on_pod_object(f, json, len, "api", false);
}

void api_pod_gone(struct fold *f, struct fsm_pod *p)
{
	pod_delete(f, p, p->spec.deletion_grace_s, true);
	pod_sync(f, p);
	pod_maybe_gone(f, p);
}

static void on_api_pod(struct fold *f, const struct fsm_ev_api_pod *e)
{
	/* A relist: the whole PodList (an older journal's SYNC of one Pod is an
	 * upsert). */
	if (e->type == FSM_WATCH_SYNC && api_pod_list(f, e->object, e->object_len))
		return;
	if (api_pod_object(f, e->type, e->object, e->object_len))
		return; /* a mirror pod: never run */
	if (e->type != FSM_WATCH_DELETED) {
		on_pod_object(f, e->object, e->object_len, "api", false);
		return;
	}
	struct fsm_pod_spec spec;
	char err[256];
	if (fsm_pod_decode(e->object, e->object_len, &spec, err, sizeof(err)) != 0)
		return;
	struct fsm_pod *p = fsm_state_pod(f->s, spec.uid);
	if (p != NULL) {
		pod_delete(f, p, spec.deletion_grace_s, true);
		pod_sync(f, p);
		pod_maybe_gone(f, p);
	}
	fsm_pod_spec_free(&spec);
}

static void on_file_pod(struct fold *f, const struct fsm_ev_file_pod *e)
{
	if (!e->removed) {
		on_pod_object(f, e->object, e->object_len, e->path, true);
		return;
	}
	/* Walk a copy of the table: dropping pods changes it. */
	size_t n = f->s->npods;
	struct fsm_pod **v = malloc((n ? n : 1) * sizeof(*v));
	if (v == NULL) {
		f->err = FSM_ENOMEM;
		return;
	}
	memcpy(v, f->s->pods, n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i]->source, e->path) != 0)
			continue;
		api_mirror_drop(f, v[i]);
		pod_delete(f, v[i], -1, true);
		pod_sync(f, v[i]);
		pod_maybe_gone(f, v[i]);
	}
	free(v);
}

/* Splits "verb/uid/rest" in place; false when it is not of that form. */
static bool split_id(char *id, char **verb, char **uid, char **rest)
{
	char *a = strchr(id, '/');
	if (a == NULL)
		return false;
	*a = '\0';
	*verb = id;
	*uid = a + 1;
	char *b = strchr(*uid, '/');
	if (b != NULL) {
		*b = '\0';
		*rest = b + 1;
	} else {
		*rest = *uid + strlen(*uid);
	}
	return true;
}

static void on_effect(struct fold *f, const struct fsm_ev_effect *e)
{
	char id[FSM_ID_BYTES * 2];
	COPY(id, e->cmd);
	char *verb, *uid, *rest;
	if (!split_id(id, &verb, &uid, &rest))
		return;
	if (api_on_effect(f, verb, uid, rest))
		return;
	struct fsm_pod *p = fsm_state_pod(f->s, uid);
	if (p == NULL)
		return; /* the pod is gone: nothing waits for this */
	pod_on_effect(f, p, verb, rest);
	pod_maybe_gone(f, p);
}

static void on_timer(struct fold *f, const struct fsm_ev_timer *t)
{
	/* A timer that was cancelled (or already fired) may still arrive: the io
	 * layer had it in flight. Only an armed timer means anything. */
	if (!timer_remove(f->s, t->key))
		return;
	if (api_on_timer(f, t->key))
		return;
	char key[FSM_ID_BYTES * 2];
	COPY(key, t->key);
	char *what, *uid, *rest;
	if (!split_id(key, &what, &uid, &rest))
		return;
	struct fsm_pod *p = fsm_state_pod(f->s, uid);
	if (p != NULL) {
		pod_on_timer(f, p, what, rest);
		pod_maybe_gone(f, p);
	}
}

static void on_sandbox(struct fold *f, const struct fsm_ev_cri_sandbox *e)
{
	struct fsm_pod *p = fsm_state_pod(f->s, e->pod_uid);
	if (p == NULL) {
		/* A sandbox of ours that no pod owns: stop and remove it. */
		if (e->state == FSM_SANDBOX_READY) {
			struct fsm_command *c = fold_cmd(f, FSM_CMD_CRI_STOP_SANDBOX, e->pod_uid,
							 "orphan-stopsb/%s/%s", e->pod_uid, e->id);
			if (c != NULL)
				c->attempt = e->attempt;
		}
		struct fsm_command *c = fold_cmd(f, FSM_CMD_CRI_REMOVE_SANDBOX, e->pod_uid,
						 "orphan-rmsb/%s/%s", e->pod_uid, e->id);
		if (c != NULL) {
			c->attempt = e->attempt;
			fold_id_body(f, c, e->id);
		}
		return;
	}
	pod_on_sandbox(f, p, e);
	pod_maybe_gone(f, p);
}

static void on_container(struct fold *f, const struct fsm_ev_cri_container *e)
{
	struct fsm_pod *p = fsm_state_pod(f->s, e->pod_uid);
	if (p == NULL || fsm_pod_container_index(&p->spec, e->name) < 0) {
		/* A container of ours that nothing owns: stop it if it runs, remove it. */
		if (e->state == FSM_CONTAINER_RUNNING) {
			struct fsm_command *c = fold_cmd(f, FSM_CMD_CRI_STOP_CONTAINER, e->pod_uid,
							 "orphan-stop/%s/%s", e->pod_uid, e->id);
			if (c != NULL) {
				c->container = fold_str(f, e->name, strlen(e->name));
				c->attempt = e->attempt;
				/* killContainer's minimum: a pod the kubelet no longer
				 * knows has no grace of its own (1 s), raised to 2 s. */
				c->timeout_s = 2;
			}
		}
		struct fsm_command *c = fold_cmd(f, FSM_CMD_CRI_REMOVE_CONTAINER, e->pod_uid,
						 "orphan-remove/%s/%s", e->pod_uid, e->id);
		if (c != NULL) {
			c->container = fold_str(f, e->name, strlen(e->name));
			c->attempt = e->attempt;
			fold_id_body(f, c, e->id);
		}
		return;
	}
	pod_on_container(f, p, e);
	pod_maybe_gone(f, p);
}

static void on_image(struct fold *f, const struct fsm_ev_cri_image *e)
{
	if (!e->ok) {
		image_remove(f->s, e->image);
		return;
	}
	if (fsm_image_add(f->s, e->image, e->image_ref) != FSM_OK) {
		f->err = FSM_ENOMEM;
		return;
	}
	for (size_t i = 0; i < f->s->npods; i++)
		pod_on_image(f, f->s->pods[i], e->image);
	api_node_sync(f);
}

int fsm_node_config_apply(struct fsm_state *s, const char *json, size_t len)
{
	struct fsm_node_config cfg;
	int rc = config_decode(json, len, &cfg);
	if (rc != FSM_OK) {
		fsm_node_config_free(&cfg);
		return rc;
	}
	char *raw = malloc(len + 1);
	if (raw == NULL) {
		fsm_node_config_free(&cfg);
		return FSM_ENOMEM;
	}
	memcpy(raw, json, len);
	raw[len] = '\0';
	free(s->node_config);
	s->node_config = raw;
	s->node_config_len = len;
	fsm_node_config_free(&s->cfg);
	s->cfg = cfg;
	return FSM_OK;
}

int fsm_fold(struct fsm_state *s, const struct fsm_event *ev, struct fsm_out *out)
{
	assert(ev->kind > FSM_EV_NONE && ev->kind < FSM_EV_KIND_COUNT);
	if (ev->seq <= s->last_seq || ev->ts_ms < s->last_ts_ms)
		return FSM_EORDER;
	struct fold f = {s, ev, out, ev->ts_ms, ev->wall_ms, FSM_OK};
	switch (ev->kind) {
	case FSM_EV_NODE_CONFIG:
		f.err = fsm_node_config_apply(s, ev->u.node_config.config, ev->u.node_config.config_len);
		api_node_sync(&f);
		break;
	case FSM_EV_API_POD:
		on_api_pod(&f, &ev->u.api_pod);
		break;
	case FSM_EV_FILE_POD:
		on_file_pod(&f, &ev->u.file_pod);
		break;
	case FSM_EV_CRI_SANDBOX:
		on_sandbox(&f, &ev->u.cri_sandbox);
		break;
	case FSM_EV_CRI_CONTAINER:
		on_container(&f, &ev->u.cri_container);
		break;
	case FSM_EV_CRI_IMAGE:
		on_image(&f, &ev->u.cri_image);
		break;
	case FSM_EV_PROBE: {
		struct fsm_pod *p = fsm_state_pod(s, ev->u.probe.pod_uid);
		if (p != NULL)
			pod_on_probe(&f, p, &ev->u.probe);
		break;
	}
	case FSM_EV_TIMER:
		on_timer(&f, &ev->u.timer);
		break;
	case FSM_EV_EFFECT:
		on_effect(&f, &ev->u.effect);
		break;
	case FSM_EV_NODE_PRESSURE: {
		struct fsm_pressure *p = pressure_slot(s, ev->u.node_pressure.signal);
		if (p != NULL) {
			p->value = ev->u.node_pressure.value;
			p->capacity = ev->u.node_pressure.capacity;
		}
		evict_if_pressed(&f);
		api_node_sync(&f);
		break;
	}
	case FSM_EV_POD_STATS: {
		struct fsm_pod *p = fsm_state_pod(s, ev->u.pod_stats.pod_uid);
		if (p != NULL) {
			p->usage_memory_bytes = ev->u.pod_stats.memory_bytes;
			p->usage_disk_bytes = ev->u.pod_stats.disk_bytes;
			p->usage_inodes = ev->u.pod_stats.inodes;
			p->usage_pids = ev->u.pod_stats.pids;
		}
		evict_if_pressed(&f);
		break;
	}
	case FSM_EV_API_OBJECT:
		fold_api_object(&f, &ev->u.api_object);
		break;
	case FSM_EV_CRI_STATUS:
		api_on_cri_status(&f, &ev->u.cri_status);
		break;
	case FSM_EV_API_BACKOFF: /* counted; nothing waits on it */
	case FSM_EV_CLOCK:
	case FSM_EV_NONE:
		break;
	}
	s->kind_counts[ev->kind]++;
	s->last_seq = ev->seq;
	s->last_ts_ms = ev->ts_ms;
	s->last_wall_ms = ev->wall_ms;
	return f.err;
}
