/*
 * fsm/api.c — the node's side of the Kubernetes API, when the node has joined
 * a cluster (node.config "api": true): the Node's registration, its Lease and
 * NodeStatus, static pods' mirror pods, API pods' final DELETE, the relist
 * (SYNC) of the pods bound to the node, and events.
 *
 * Everything here is decided by the fold, like the rest of it: the renewal of
 * the Lease and the periodic NodeStatus are timers (DESIGN.md contract 3), the
 * writes are commands whose bodies are made from state, and what the API
 * answered comes back as effects. src/effects/api.h says how each command is
 * carried out.
 *
 * Ids: "node/register/<n>", "node/lease/<n>", "node/status/<v>" and
 * "nodeevent/<n>" for the node; "mirror/<static uid>/<n>", "mirrordel/<mirror
 * uid>", "apidelete/<uid>" and "event/<uid>/<n>" for pods. Timers: "node/lease",
 * "node/status", "node/register", "node/runtime" (the runtime down) and
 * "mirror/<static uid>" (a mirror pod's creation again).
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/buf.h"
#include "fsm/fold.h"
#include "fsm/status.h"

#define NODE_IMAGES_MAX 50 /* nodeStatusMaxImages */
#define REGISTER_RETRY_MS 7000 /* the kubelet's longest registration back-off */
#define RUNTIME_DOWN_AFTER_MS 30000 /* the kubelet's baseRuntimeSyncThreshold */

static const char *const mirror_annotation = "kubernetes.io/config.mirror";

static bool api_on(const struct fold *f)
{
	const struct fsm_node_config *c = &f->s->cfg;
	return c->api && c->node_name != NULL && c->node_name[0] != '\0';
}

static void put_time(struct fsm_buf *b, uint64_t wall_ms)
{
	char t[FSM_RFC3339_BYTES];
	fsm_time_rfc3339(wall_ms, t);
	fsm_buf_json_str(b, t);
}

/* metav1.MicroTime: RFC 3339 with six fraction digits. */
static void put_micro_time(struct fsm_buf *b, uint64_t wall_ms)
{
	char t[FSM_RFC3339_BYTES], m[FSM_RFC3339_BYTES + 8];
	fsm_time_rfc3339(wall_ms, t);
	snprintf(m, sizeof(m), "%.19s.%03u000Z", t, (unsigned)(wall_ms % 1000));
	fsm_buf_json_str(b, m);
}

static void put_cpu(struct fsm_buf *b, int64_t milli)
{
	char q[32];
	if (milli % 1000 == 0)
		snprintf(q, sizeof(q), "%lld", (long long)(milli / 1000));
	else
		snprintf(q, sizeof(q), "%lldm", (long long)milli);
	fsm_buf_json_str(b, q);
}

static void put_bytes(struct fsm_buf *b, int64_t bytes)
{
	char q[32];
	fsm_format_quantity(bytes, q, sizeof(q));
	fsm_buf_json_str(b, q);
}

static json_object *parse(const char *json, size_t len)
{
	json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	return o;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *get_obj(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* ---- the node ---- */

/* The kubelet's node conditions, in its order: what each says, False then True. */
static const struct {
	const char *type;
	const char *reason[2];
	const char *message[2];
} node_conds[FSM_NODE_CONDS] = {
	[FSM_NODE_MEMORY] = {"MemoryPressure",
			     {"KubeletHasSufficientMemory", "KubeletHasInsufficientMemory"},
			     {"kubelet has sufficient memory available",
			      "kubelet has insufficient memory available"}},
	[FSM_NODE_DISK] = {"DiskPressure",
			   {"KubeletHasNoDiskPressure", "KubeletHasDiskPressure"},
			   {"kubelet has no disk pressure", "kubelet has disk pressure"}},
	[FSM_NODE_PID] = {"PIDPressure",
			  {"KubeletHasSufficientPID", "KubeletHasInsufficientPID"},
			  {"kubelet has sufficient PID available", "kubelet has insufficient PID available"}},
	[FSM_NODE_READY] = {"Ready",
			    {"KubeletNotReady", "KubeletReady"},
			    {"container runtime is down", "kubelet is posting ready status"}},
};

/* Why the node is not Ready, as the kubelet's ReadyCondition writes it (an
 * aggregate of the runtime's and the network's errors: one message alone, more
 * than one as "[a, b]"); "" when it is Ready. */
static void node_not_ready_message(const struct fsm_api_node *n, char *out, size_t len)
{
	const char *errs[3];
	size_t k = 0;
	if (n->runtime_down)
		errs[k++] = "container runtime is down";
	if (n->runtime_error[0] != '\0')
		errs[k++] = n->runtime_error;
	if (n->network_error[0] != '\0' && (k == 0 || strcmp(errs[k - 1], n->network_error) != 0))
		errs[k++] = n->network_error;
	out[0] = '\0';
	if (k == 1)
		snprintf(out, len, "%s", errs[0]);
	else if (k == 2)
		snprintf(out, len, "[%s, %s]", errs[0], errs[1]);
	else if (k == 3)
		snprintf(out, len, "[%s, %s, %s]", errs[0], errs[1], errs[2]);
}

/* The events the kubelet records on the node's conditions (nodestatus setters:
 * recordEventFunc), False then True. */
static const char *const node_cond_events[FSM_NODE_CONDS][2] = {
	[FSM_NODE_MEMORY] = {"NodeHasSufficientMemory", "NodeHasInsufficientMemory"},
	[FSM_NODE_DISK] = {"NodeHasNoDiskPressure", "NodeHasDiskPressure"},
	[FSM_NODE_PID] = {"NodeHasSufficientPID", "NodeHasInsufficientPID"},
	[FSM_NODE_READY] = {"NodeNotReady", "NodeReady"},
};

/* An event about the node: the kubelet's nodeRef (kind Node, its name as the
 * uid, no namespace: the event goes to "default"). */
static void node_event(struct fold *f, const char *reason)
{
	const char *name = f->s->cfg.node_name != NULL ? f->s->cfg.node_name : "";
	struct fsm_api_node *n = &f->s->node;
	n->nevents++;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_EVENT, "", "nodeevent/%u", n->nevents);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"involvedObject\":{\"kind\":\"Node\",\"name\":");
	fsm_buf_json_str(&b, name);
	fsm_buf_puts(&b, ",\"uid\":");
	fsm_buf_json_str(&b, name);
	fsm_buf_puts(&b, "},\"reason\":");
	fsm_buf_json_str(&b, reason);
	char msg[FSM_MESSAGE_BYTES];
	snprintf(msg, sizeof(msg), "Node %s status is now: %s", name, reason);
	fsm_buf_puts(&b, ",\"message\":");
	fsm_buf_json_str(&b, msg);
	fsm_buf_puts(&b, ",\"type\":\"Normal\",\"time\":");
	put_time(&b, f->wall);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static void node_conditions_update(struct fold *f)
{
	struct fsm_api_node *n = &f->s->node;
	char why[FSM_MESSAGE_BYTES * 3];
	node_not_ready_message(n, why, sizeof(why));
	bool now[FSM_NODE_CONDS] = {
		[FSM_NODE_MEMORY] = node_pressed(f->s, "memory."),
		[FSM_NODE_DISK] = node_pressed(f->s, "nodefs.") || node_pressed(f->s, "imagefs."),
		[FSM_NODE_PID] = node_pressed(f->s, "pid."),
		[FSM_NODE_READY] = why[0] == '\0',
	};
	for (int i = 0; i < FSM_NODE_CONDS; i++) {
		bool first = n->cond_transition_wall_ms[i] == 0;
		if (!first && n->cond[i] == now[i])
			continue;
		n->cond[i] = now[i];
		n->cond_transition_wall_ms[i] = f->wall ? f->wall : 1;
		/* A pressure condition's event also when it is first set; Ready's
		 * only when it changes. */
		if (!first || i != FSM_NODE_READY)
			node_event(f, node_cond_events[i][now[i] ? 1 : 0]);
	}
}

/* capacity and allocatable: the measured capacity with pods added, and what
 * is left of it for pods (config_allocatable in node.c). */
static void put_resources(struct fsm_buf *b, const struct fsm_node_config *c, json_object *facts)
{
	json_object *cap = get_obj(facts, "capacity");
	fsm_buf_puts(b, "\"capacity\":{");
	bool first = true;
	if (cap != NULL) {
		json_object_object_foreach(cap, k, v)
		{
			if (!json_object_is_type(v, json_type_string) || strcmp(k, "pods") == 0)
				continue;
			if (!first)
				fsm_buf_putc(b, ',');
			first = false;
			fsm_buf_json_str(b, k);
			fsm_buf_putc(b, ':');
			fsm_buf_json_str(b, json_object_get_string(v));
		}
	}
	fsm_buf_puts(b, first ? "\"pods\":" : ",\"pods\":");
	char pods[16];
	snprintf(pods, sizeof(pods), "%d", (int)c->max_pods);
	fsm_buf_json_str(b, pods);
	fsm_buf_puts(b, "},\"allocatable\":{");
	if (c->alloc_cpu_milli >= 0) {
		fsm_buf_puts(b, "\"cpu\":");
		put_cpu(b, c->alloc_cpu_milli);
		fsm_buf_putc(b, ',');
	}
	if (c->alloc_ephemeral_bytes >= 0) {
		fsm_buf_puts(b, "\"ephemeral-storage\":");
		put_bytes(b, c->alloc_ephemeral_bytes);
		fsm_buf_putc(b, ',');
	}
	if (cap != NULL) {
		json_object_object_foreach(cap, k, v)
		{
			if (strncmp(k, "hugepages-", 10) != 0 || !json_object_is_type(v, json_type_string))
				continue;
			fsm_buf_json_str(b, k);
			fsm_buf_putc(b, ':');
			fsm_buf_json_str(b, json_object_get_string(v));
			fsm_buf_putc(b, ',');
		}
	}
	if (c->alloc_memory_bytes >= 0) {
		fsm_buf_puts(b, "\"memory\":");
		put_bytes(b, c->alloc_memory_bytes);
		fsm_buf_putc(b, ',');
	}
	fsm_buf_puts(b, "\"pods\":");
	fsm_buf_json_str(b, pods);
	fsm_buf_putc(b, '}');
}

static void put_member(struct fsm_buf *b, json_object *facts, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(facts, key, &v))
		return;
	fsm_buf_puts(b, ",\"");
	fsm_buf_puts(b, key);
	fsm_buf_puts(b, "\":");
	fsm_buf_puts(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/*
 * The NodeStatus: resources, conditions, addresses, daemonEndpoints, nodeInfo
 * and the images the node holds. heartbeat_wall 0 leaves lastHeartbeatTime out
 * (what the fingerprint is taken of: a status that changed only in its
 * heartbeat is not news).
 */
static int node_status_json(const struct fsm_state *s, uint64_t heartbeat_wall, struct fsm_buf *b)
{
	json_object *facts = s->cfg.node_facts ? parse(s->cfg.node_facts, strlen(s->cfg.node_facts)) : NULL;
	fsm_buf_putc(b, '{');
	put_resources(b, &s->cfg, facts);
	fsm_buf_puts(b, ",\"conditions\":[");
	for (int i = 0; i < FSM_NODE_CONDS; i++) {
		int on = s->node.cond[i] ? 1 : 0;
		fsm_buf_puts(b, i ? ",{\"type\":" : "{\"type\":");
		fsm_buf_json_str(b, node_conds[i].type);
		fsm_buf_puts(b, ",\"status\":");
		fsm_buf_json_str(b, on ? "True" : "False");
		if (heartbeat_wall != 0) {
			fsm_buf_puts(b, ",\"lastHeartbeatTime\":");
			put_time(b, heartbeat_wall);
		}
		fsm_buf_puts(b, ",\"lastTransitionTime\":");
		put_time(b, s->node.cond_transition_wall_ms[i]);
		fsm_buf_puts(b, ",\"reason\":");
		fsm_buf_json_str(b, node_conds[i].reason[on]);
		fsm_buf_puts(b, ",\"message\":");
		char why[FSM_MESSAGE_BYTES * 3];
		if (i == FSM_NODE_READY && !on)
			node_not_ready_message(&s->node, why, sizeof(why));
		fsm_buf_json_str(b, i == FSM_NODE_READY && !on && why[0] != '\0'
					    ? why
					    : node_conds[i].message[on]);
		fsm_buf_putc(b, '}');
	}
	fsm_buf_putc(b, ']');
	if (facts != NULL) {
		put_member(b, facts, "addresses");
		put_member(b, facts, "daemonEndpoints");
		put_member(b, facts, "nodeInfo");
	}
	json_object_put(facts);
	if (s->nimages > 0) {
		fsm_buf_puts(b, ",\"images\":[");
		for (size_t i = 0; i < s->nimages && i < NODE_IMAGES_MAX; i++) {
			fsm_buf_puts(b, i ? ",{\"names\":[" : "{\"names\":[");
			fsm_buf_json_str(b, s->images[i].name);
			if (strchr(s->images[i].ref, '@') != NULL) {
				fsm_buf_putc(b, ',');
				fsm_buf_json_str(b, s->images[i].ref);
			}
			fsm_buf_puts(b, "]}");
		}
		fsm_buf_putc(b, ']');
	}
	fsm_buf_putc(b, '}');
	return b->ptr == NULL ? FSM_ENOMEM : FSM_OK;
}

static void node_register(struct fold *f)
{
	const struct fsm_node_config *c = &f->s->cfg;
	struct fsm_api_node *n = &f->s->node;
	node_conditions_update(f);
	n->registering = true;
	n->register_n++;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_NODE_REGISTER, "", "node/register/%u", n->register_n);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":");
	fsm_buf_json_str(&b, c->node_name);
	fsm_buf_puts(&b, ",\"labels\":{");
	for (size_t i = 0; i < c->nlabels; i++) {
		if (i)
			fsm_buf_putc(&b, ',');
		fsm_buf_json_str(&b, c->labels[i].key);
		fsm_buf_putc(&b, ':');
		fsm_buf_json_str(&b, c->labels[i].value);
	}
	fsm_buf_puts(&b, "},\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\","
			 "\"volumes.kubernetes.io/controller-managed-attach-detach\":\"true\"}},\"spec\":{");
	if (c->ntaints > 0) {
		fsm_buf_puts(&b, "\"taints\":[");
		for (size_t i = 0; i < c->ntaints; i++) {
			fsm_buf_puts(&b, i ? ",{\"key\":" : "{\"key\":");
			fsm_buf_json_str(&b, c->taints[i].key);
			if (c->taints[i].value[0] != '\0') {
				fsm_buf_puts(&b, ",\"value\":");
				fsm_buf_json_str(&b, c->taints[i].value);
			}
			fsm_buf_puts(&b, ",\"effect\":");
			fsm_buf_json_str(&b, c->taints[i].effect);
			fsm_buf_putc(&b, '}');
		}
		fsm_buf_putc(&b, ']');
	}
	fsm_buf_puts(&b, "},\"status\":");
	node_status_json(f->s, f->wall, &b);
	fsm_buf_putc(&b, '}');
	if (b.ptr == NULL)
		f->err = FSM_ENOMEM;
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static void node_status_emit(struct fold *f)
{
	struct fsm_api_node *n = &f->s->node;
	struct fsm_buf b = FSM_BUF_INIT;
	if (node_status_json(f->s, f->wall, &b) != FSM_OK) {
		f->err = FSM_ENOMEM;
		fsm_buf_free(&b);
		return;
	}
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_NODE_STATUS, "", "node/status/%u", n->status_version);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

/* Sends the NodeStatus when it changed (force: when the report period is up),
 * and arms the next periodic report. */
static void node_status(struct fold *f, bool force)
{
	struct fsm_api_node *n = &f->s->node;
	node_conditions_update(f);
	struct fsm_buf b = FSM_BUF_INIT;
	if (node_status_json(f->s, 0, &b) != FSM_OK) {
		f->err = FSM_ENOMEM;
		fsm_buf_free(&b);
		return;
	}
	uint64_t h = fsm_status_fingerprint(b.ptr, b.len);
	fsm_buf_free(&b);
	if (!force && h == n->status_hash)
		return;
	n->status_hash = h;
	n->status_version++;
	n->status_sent_ts_ms = f->now;
	node_status_emit(f);
	fold_timer_set(f, "", "node/status", f->now + f->s->cfg.status_report_ms);
}

static void node_lease(struct fold *f)
{
	const struct fsm_node_config *c = &f->s->cfg;
	struct fsm_api_node *n = &f->s->node;
	n->lease_n++;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_LEASE, "", "node/lease/%u", n->lease_n);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"holderIdentity\":");
	fsm_buf_json_str(&b, c->node_name);
	fsm_buf_puts(&b, ",\"leaseDurationSeconds\":");
	fsm_buf_i64(&b, c->lease_duration_s);
	fsm_buf_puts(&b, ",\"renewTime\":");
	put_micro_time(&b, f->wall);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
	/* The kubelet renews every quarter of the duration (renewIntervalFraction). */
	fold_timer_set(f, "", "node/lease", f->now + (uint64_t)c->lease_duration_s * 1000 / 4);
}

static void mirrors_ensure_all(struct fold *f)
{
	for (size_t i = 0; i < f->s->npods; i++)
		api_mirror_ensure(f, f->s->pods[i]);
}

void api_node_sync(struct fold *f)
{
	const struct fsm_api_node *n = &f->s->node;
	if (!api_on(f) || f->s->cfg.node_facts == NULL)
		return;
	if (!n->registered) {
		if (!n->registering)
			node_register(f);
		return;
	}
	node_status(f, false);
}

static void node_on_effect(struct fold *f, const char *what, const char *rest)
{
	const struct fsm_ev_effect *e = &f->ev->u.effect;
	struct fsm_api_node *n = &f->s->node;
	uint32_t v = (uint32_t)strtoul(rest, NULL, 10);
	if (strcmp(what, "register") == 0) {
		if (v != n->register_n || !n->registering)
			return;
		n->registering = false;
		if (!e->ok) {
			fold_timer_set(f, "", "node/register", f->now + REGISTER_RETRY_MS);
			return;
		}
		n->registered = true;
		COPY(n->uid, e->result);
		node_lease(f);
		node_status(f, true);
		mirrors_ensure_all(f);
		return;
	}
	if (strcmp(what, "status") == 0) {
		if (e->ok && v > n->status_acked)
			n->status_acked = v;
		if (!e->ok && e->error_class == FSM_ERR_NOT_FOUND && n->registered && v == n->status_version) {
			/* The Node was deleted: register it again. */
			n->registered = false;
			node_register(f);
		}
	}
}

static bool node_on_timer(struct fold *f, const char *key)
{
	if (strncmp(key, "node/", 5) != 0)
		return false;
	const char *what = key + 5;
	if (strcmp(what, "runtime") == 0) {
		/* The Status call has failed for the kubelet's threshold (30 s). */
		if (f->s->node.runtime_fail_ts_ms != 0) {
			f->s->node.runtime_down = true;
			api_node_sync(f);
		}
		return true;
	}
	if (!api_on(f))
		return true;
	if (strcmp(what, "lease") == 0 && f->s->node.registered)
		node_lease(f);
	else if (strcmp(what, "status") == 0 && f->s->node.registered)
		node_status(f, true);
	else if (strcmp(what, "register") == 0 && !f->s->node.registered && !f->s->node.registering)
		node_register(f);
	return true;
}

/* ---- mirror pods ---- */

static void put_ref_body(struct fsm_buf *b, const char *ns, const char *name, const char *uid)
{
	fsm_buf_puts(b, "{\"namespace\":");
	fsm_buf_json_str(b, ns);
	fsm_buf_puts(b, ",\"name\":");
	fsm_buf_json_str(b, name);
	fsm_buf_puts(b, ",\"uid\":");
	fsm_buf_json_str(b, uid);
	fsm_buf_putc(b, '}');
}

static void mirror_delete(struct fold *f, const char *ns, const char *name, const char *uid)
{
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_MIRROR_DELETE, uid, "mirrordel/%s", uid);
	struct fsm_buf b = FSM_BUF_INIT;
	put_ref_body(&b, ns, name, uid);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static const char *const meta_server_fields[] = {
	"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
	"deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
};

/*
 * The mirror pod of a static pod, as the kubelet's mirror client makes it: the
 * manifest's Pod named and placed as the static pod, bound to the node, owned
 * by the Node, with the config annotations (config.mirror names the static
 * pod's hash, which is its uid).
 */
static int mirror_object(struct fold *f, const struct fsm_pod *p, struct fsm_buf *b)
{
	json_object *o = parse(p->spec.json, p->spec.json_len);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -1;
	}
	json_object_object_del(o, "status");
	json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(o, "kind", json_object_new_string("Pod"));
	json_object *meta = get_obj(o, "metadata");
	if (meta == NULL) {
		meta = json_object_new_object();
		json_object_object_add(o, "metadata", meta);
	}
	for (size_t i = 0; i < sizeof(meta_server_fields) / sizeof(meta_server_fields[0]); i++)
		json_object_object_del(meta, meta_server_fields[i]);
	json_object_object_add(meta, "name", json_object_new_string(p->spec.name));
	json_object_object_add(meta, "namespace", json_object_new_string(p->spec.namespace_));
	json_object *ann = get_obj(meta, "annotations");
	if (ann == NULL) {
		ann = json_object_new_object();
		json_object_object_add(meta, "annotations", ann);
	}
	char seen[FSM_RFC3339_BYTES];
	fsm_time_rfc3339(p->start_wall_ms ? p->start_wall_ms : f->wall, seen);
	json_object_object_add(ann, "kubernetes.io/config.hash", json_object_new_string(p->spec.uid));
	json_object_object_add(ann, mirror_annotation, json_object_new_string(p->spec.uid));
	json_object_object_add(ann, "kubernetes.io/config.seen", json_object_new_string(seen));
	json_object_object_add(ann, "kubernetes.io/config.source", json_object_new_string("file"));
	json_object *owner = json_object_new_object();
	json_object_object_add(owner, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(owner, "kind", json_object_new_string("Node"));
	json_object_object_add(owner, "name", json_object_new_string(f->s->cfg.node_name));
	json_object_object_add(owner, "uid", json_object_new_string(f->s->node.uid));
	json_object_object_add(owner, "controller", json_object_new_boolean(1));
	json_object *owners = json_object_new_array();
	json_object_array_add(owners, owner);
	json_object_object_add(meta, "ownerReferences", owners);
	json_object *spec = get_obj(o, "spec");
	if (spec != NULL)
		json_object_object_add(spec, "nodeName", json_object_new_string(f->s->cfg.node_name));
	fsm_buf_puts(b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return b->ptr == NULL ? -1 : 0;
}

static void mirror_create(struct fold *f, struct fsm_pod *p)
{
	struct fsm_buf b = FSM_BUF_INIT;
	if (mirror_object(f, p, &b) != 0) {
		fsm_buf_free(&b);
		return; /* a manifest that decoded is JSON: only memory can fail here */
	}
	p->mirror_creating = true;
	p->mirror_n++;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_MIRROR_CREATE, p->spec.uid, "mirror/%s/%u",
					   p->spec.uid, p->mirror_n);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

static bool wants_mirror(const struct fold *f, const struct fsm_pod *p)
{
	return api_on(f) && p->spec.is_static && f->s->node.registered && !p->remove_when_stopped &&
	       p->stage != FSM_PS_REMOVING;
}

void api_mirror_ensure(struct fold *f, struct fsm_pod *p)
{
	if (wants_mirror(f, p) && p->mirror_uid[0] == '\0' && !p->mirror_creating)
		mirror_create(f, p);
}

void api_mirror_drop(struct fold *f, struct fsm_pod *p)
{
	if (!api_on(f) || !p->spec.is_static || p->mirror_uid[0] == '\0')
		return;
	mirror_delete(f, p->spec.namespace_, p->spec.name, p->mirror_uid);
	p->mirror_uid[0] = '\0';
}

/* A static pod's status goes to its mirror pod: when that one changes, the
 * status is sent to it again (the status manager syncs a pod whose mirror
 * pod it had not written). */
static void mirror_found(struct fold *f, struct fsm_pod *p, const char *uid)
{
	if (strcmp(p->mirror_uid, uid) == 0)
		return;
	COPY(p->mirror_uid, uid);
	p->mirror_creating = false;
	char key[FSM_ID_BYTES * 2];
	snprintf(key, sizeof(key), "mirror/%s", p->spec.uid);
	fold_timer_cancel(f, p->spec.uid, key);
	api_pod_status_again(f, p);
}

/*
 * An API object that is a mirror pod (it has the config.mirror annotation):
 * its static pod learns of it, or it is deleted when no static pod of this
 * node owns it (an orphan, or one of an older manifest). Returns whether o was
 * a mirror pod.
 */
static bool on_mirror(struct fold *f, enum fsm_watch_type type, json_object *o)
{
	json_object *meta = get_obj(o, "metadata");
	const char *hash = get_str(get_obj(meta, "annotations"), mirror_annotation);
	if (hash == NULL)
		return false;
	const char *uid = get_str(meta, "uid"), *ns = get_str(meta, "namespace"),
		   *name = get_str(meta, "name");
	if (uid == NULL || ns == NULL || name == NULL || !api_on(f))
		return true;
	struct fsm_pod *p = fsm_state_pod(f->s, hash);
	bool ours = p != NULL && p->spec.is_static && strcmp(p->spec.name, name) == 0 &&
		    strcmp(p->spec.namespace_, ns) == 0;
	if (type == FSM_WATCH_DELETED) {
		if (ours && strcmp(p->mirror_uid, uid) == 0) {
			p->mirror_uid[0] = '\0';
			api_mirror_ensure(f, p);
		}
		return true;
	}
	if (ours && wants_mirror(f, p)) {
		if (get_str(meta, "deletionTimestamp") == NULL)
			mirror_found(f, p, uid);
		else
			/* Deleted gracefully (kubectl delete): a mirror pod runs
			 * nothing, so it goes at once; its DELETED then makes
			 * it again. */
			mirror_delete(f, ns, name, uid);
		return true;
	}
	/* Not (or no longer) of a static pod here: delete it, once (its own
	 * status updates come back as MODIFIED). */
	if (type != FSM_WATCH_MODIFIED && get_str(meta, "deletionTimestamp") == NULL)
		mirror_delete(f, ns, name, uid);
	return true;
}

/* ---- API pods ---- */

bool api_pod_object(struct fold *f, enum fsm_watch_type type, const char *json, size_t len)
{
	/* Most pods are not mirror pods: only one naming the annotation is
	 * parsed here (the pod decoder parses the rest). */
	if (memmem(json, len, mirror_annotation, strlen(mirror_annotation)) == NULL)
		return false;
	json_object *o = parse(json, len);
	bool mirror = o != NULL && on_mirror(f, type, o);
	json_object_put(o);
	return mirror;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool api_pod_list(struct fold *f, const char *json, size_t len)
{
	json_object *o = parse(json, len);
	json_object *items;
	if (o == NULL || !json_object_object_get_ex(o, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		json_object_put(o);
		return false;
	}
	size_t n = json_object_array_length(items);
	const char **uids = calloc(n ? n : 1, sizeof(*uids));
	if (uids == NULL) {
		json_object_put(o);
		f->err = FSM_ENOMEM;
		return true;
	}
	size_t nuids = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);
		const char *uid = get_str(get_obj(it, "metadata"), "uid");
		if (uid != NULL)
			uids[nuids++] = uid;
		if (on_mirror(f, FSM_WATCH_SYNC, it))
			continue;
		size_t l;
		const char *s = json_object_to_json_string_length(
			it, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &l);
		api_pod_upsert(f, s, l);
	}
	qsort(uids, nuids, sizeof(*uids), cmp_str);
	/* What the node holds and the list lacks was deleted meanwhile: API pods
	 * go (with their grace period), mirror pods are made again. Collected
	 * first: a removal may change the table. */
	size_t np = f->s->npods;
	struct fsm_pod **v = malloc((np ? np : 1) * sizeof(*v));
	if (v == NULL) {
		f->err = FSM_ENOMEM;
	} else {
		memcpy(v, f->s->pods, np * sizeof(*v));
		for (size_t i = 0; i < np; i++) {
			struct fsm_pod *p = v[i];
			const char *key = p->spec.is_static ? p->mirror_uid : p->spec.uid;
			if (key[0] == '\0' || bsearch(&key, uids, nuids, sizeof(*uids), cmp_str) != NULL)
				continue;
			if (p->spec.is_static) {
				p->mirror_uid[0] = '\0';
				api_mirror_ensure(f, p);
			} else if (strcmp(p->source, "api") == 0 && !p->remove_when_stopped) {
				api_pod_gone(f, p);
			}
		}
		free(v);
	}
	free(uids);
	json_object_put(o);
	return true;
}

/* The final DELETE: an API pod the API is deleting, once it has stopped and
 * its final status is on its way (the executor sends a pod's writes in order). */
void api_pod_after_sync(struct fold *f, struct fsm_pod *p)
{
	if (!api_on(f) || p->spec.is_static || strcmp(p->source, "api") != 0 ||
	    p->spec.deletion_wall_ms == 0 || p->api_delete_sent || p->remove_when_stopped)
		return;
	if (p->stage != FSM_PS_TERMINATED && p->stage != FSM_PS_REJECTED)
		return;
	p->api_delete_sent = true;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_POD_DELETE, p->spec.uid, "apidelete/%s", p->spec.uid);
	struct fsm_buf b = FSM_BUF_INIT;
	put_ref_body(&b, p->spec.namespace_, p->spec.name, p->spec.uid);
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

/* ---- events ---- */

void api_event(struct fold *f, struct fsm_pod *p, int ctr, const char *type, const char *reason,
	       const char *fmt, ...)
{
	if (!api_on(f))
		return;
	char msg[FSM_MESSAGE_BYTES * 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->nevents++;
	struct fsm_command *cmd = fold_cmd(f, FSM_CMD_API_EVENT, p->spec.uid, "event/%s/%u", p->spec.uid,
					   p->nevents);
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":");
	fsm_buf_json_str(&b, p->spec.namespace_);
	fsm_buf_puts(&b, ",\"name\":");
	fsm_buf_json_str(&b, p->spec.name);
	fsm_buf_puts(&b, ",\"uid\":");
	fsm_buf_json_str(&b, p->spec.uid);
	fsm_buf_puts(&b, ",\"apiVersion\":\"v1\"");
	if (p->spec.resource_version != NULL && p->spec.resource_version[0] != '\0') {
		fsm_buf_puts(&b, ",\"resourceVersion\":");
		fsm_buf_json_str(&b, p->spec.resource_version);
	}
	if (ctr >= 0 && (size_t)ctr < p->spec.ncontainers) {
		char path[256];
		snprintf(path, sizeof(path), "%s{%s}",
			 (size_t)ctr < p->spec.ninit ? "spec.initContainers" : "spec.containers",
			 p->spec.containers[ctr].name);
		fsm_buf_puts(&b, ",\"fieldPath\":");
		fsm_buf_json_str(&b, path);
	}
	fsm_buf_puts(&b, "},\"reason\":");
	fsm_buf_json_str(&b, reason);
	fsm_buf_puts(&b, ",\"message\":");
	fsm_buf_json_str(&b, msg);
	fsm_buf_puts(&b, ",\"type\":");
	fsm_buf_json_str(&b, type);
	fsm_buf_puts(&b, ",\"time\":");
	put_time(&b, f->wall);
	fsm_buf_putc(&b, '}');
	fold_body(f, cmd, &b);
	fsm_buf_free(&b);
}

/* ---- answers, timers, restart ---- */

bool api_on_effect(struct fold *f, const char *verb, const char *uid, const char *rest)
{
	const struct fsm_ev_effect *e = &f->ev->u.effect;
	if (strcmp(verb, "node") == 0) {
		/* "node/<what>/<n>": uid holds <what>. */
		node_on_effect(f, uid, rest);
		return true;
	}
	if (strcmp(verb, "event") == 0 || strcmp(verb, "nodeevent") == 0 ||
	    strcmp(verb, "mirrordel") == 0 || strcmp(verb, "apidelete") == 0)
		return true; /* nothing waits on these */
	struct fsm_pod *p = fsm_state_pod(f->s, uid);
	if (strcmp(verb, "status") == 0) {
		uint32_t v = (uint32_t)strtoul(rest, NULL, 10);
		if (p != NULL && e->ok && v > p->status_acked)
			p->status_acked = v;
		return true;
	}
	if (strcmp(verb, "mirror") == 0) {
		uint32_t n = (uint32_t)strtoul(rest, NULL, 10);
		if (p == NULL || n != p->mirror_n || !p->mirror_creating)
			return true;
		p->mirror_creating = false;
		if (e->ok && strcmp(e->result, "exists") != 0 && e->result[0] != '\0') {
			mirror_found(f, p, e->result);
			return true;
		}
		/* Refused, or one of that name is there (an older one being
		 * deleted, or ours, which the watch will show): try again after
		 * the pod worker's retry period unless the watch tells first. */
		char key[FSM_ID_BYTES * 2];
		snprintf(key, sizeof(key), "mirror/%s", p->spec.uid);
		fold_timer_set(f, p->spec.uid, key, f->now + f->s->cfg.sync_retry_ms);
		return true;
	}
	return false;
}

/* "<Type>=false reason:<r> message:<m>", as the kubelet prints a RuntimeCondition. */
static void condition_error(char *out, size_t len, const char *prefix, const char *type,
			    bool ready, const char *reason, const char *message)
{
	out[0] = '\0';
	if (!ready)
		snprintf(out, len, "%s: %s=false reason:%s message:%s", prefix, type, reason, message);
}

void api_on_cri_status(struct fold *f, const struct fsm_ev_cri_status *st)
{
	struct fsm_api_node *n = &f->s->node;
	if (!st->ok) {
		/* The kubelet's runtime is down once its last good answer is older
		 * than 30 s (baseRuntimeSyncThreshold); earlier errors stand. */
		if (n->runtime_fail_ts_ms == 0) {
			n->runtime_fail_ts_ms = f->now;
			fold_timer_set(f, "", "node/runtime", f->now + RUNTIME_DOWN_AFTER_MS);
		}
		return;
	}
	if (n->runtime_fail_ts_ms != 0)
		fold_timer_cancel(f, "", "node/runtime");
	n->runtime_fail_ts_ms = 0;
	n->runtime_down = false;
	condition_error(n->runtime_error, sizeof(n->runtime_error), "container runtime not ready",
			"RuntimeReady", st->runtime_ready, st->runtime_reason, st->runtime_message);
	condition_error(n->network_error, sizeof(n->network_error),
			"container runtime network not ready", "NetworkReady", st->network_ready,
			st->network_reason, st->network_message);
	api_node_sync(f);
}

bool api_on_timer(struct fold *f, const char *key)
{
	if (node_on_timer(f, key))
		return true;
	if (strncmp(key, "mirror/", 7) != 0)
		return false;
	struct fsm_pod *p = fsm_state_pod(f->s, key + 7);
	if (p != NULL)
		api_mirror_ensure(f, p);
	return true;
}

void api_pending(struct fold *f)
{
	const struct fsm_api_node *n = &f->s->node;
	if (!api_on(f))
		return;
	if (n->registering) {
		f->s->node.register_n--;
		node_register(f);
	} else if (n->registered && n->status_acked < n->status_version) {
		node_status_emit(f);
	}
	for (size_t i = 0; i < f->s->npods; i++) {
		struct fsm_pod *p = f->s->pods[i];
		if (p->mirror_creating) {
			p->mirror_n--;
			mirror_create(f, p);
		}
		if (p->api_delete_sent && !p->remove_when_stopped) {
			p->api_delete_sent = false;
			api_pod_after_sync(f, p);
		}
		if (p->status_version > 0 && p->status_acked < p->status_version)
			api_pod_status_emit(f, p);
	}
}
