/*
 * effects/api.c — the API writer: the fold's api.* commands as requests to the
 * API server (io/kapi), each answered by one `effect` event (api.h).
 *
 * Commands wait in lanes, one lane per pod (pod_uid) and one each for the node
 * (register, status) and its lease; the head of a lane is the one command of
 * it in progress. A command is a small state machine (job_send, on_done):
 * a request, then either its answer, a next step (node_register's GET and
 * PATCH after a 409, the lease's GET, POST or PUT), or a retry after a back-off
 * timer. A newer status or lease command replaces the one waiting at the tail
 * of its lane (or the head between retries), which answers "superseded".
 *
 * Answers are queued with their storage reserved at dispatch and delivered by
 * a zero-delay reactor timer (on_flush), so no answer ever comes from inside
 * fx_api_dispatch and none can fail to be queued once a command is taken.
 *
 * Events are answered at once and then go through a correlator as client-go's
 * (spam filter, aggregation, dedup by count PATCH) into a queue of their own,
 * sent one at a time so that a PATCH never overtakes the POST it counts on.
 */
#include "effects/api.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define BACKOFF_MS_MIN          500
#define BACKOFF_MS_MAX          30000
#define REQUEST_TIMEOUT_MS      30000
#define CONFLICTS_IMMEDIATE_MAX 3 /* re-reads in a row without a back-off */
#define LANE_BUCKETS            1024
#define ERROR_MAX               512
#define RESULT_MAX              128
#define NAME_MAX_               256
#define UID_MAX                 128
#define PATH_MAX_               (2 * NAME_MAX_ + 64) /* a namespace and a name, and the rest */

/* Events (client-go's EventCorrelator defaults). */
#define EVENT_TRIES_MAX       13   /* the first send and 12 retries */
#define EVENTS_QUEUED_MAX     1024 /* waiting to be sent; past it: dropped */
#define EVENT_CACHE_MAX       4096 /* records per correlator cache (LRU) */
#define EVENT_CACHE_BUCKETS   4096
#define EVENT_WINDOW_MS       (600 * 1000) /* maxIntervalInSeconds */
#define EVENT_AGGREGATE_MAX   10           /* maxEvents: distinct messages before combining */
#define EVENT_SPAM_BURST      25
#define EVENT_SPAM_REFILL_MS  (300 * 1000) /* qps 1/300 */
#define EVENT_COMBINED_PREFIX "(combined from similar events): "

#define LEASE_NAMESPACE "kube-node-lease"
#define LEASE_PATH      "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NAMESPACE "/leases"
#define CT_JSON         "application/json"
#define CT_SMP          "application/strategic-merge-patch+json"

/* ---- answers -------------------------------------------------------------------------- */

struct answer {
	struct answer *next;
	bool ok;
	enum fsm_error_class cls;
	char error[ERROR_MAX];
	char result[RESULT_MAX];
	char cmd[]; /* the command's id */
};

/* ---- lanes and jobs ------------------------------------------------------------------- */

enum step {
	STEP_SEND = 0,   /* the command's one request (pod_status, deletes, mirror_create,
	                    node_status), node_register's POST */
	STEP_NODE_GET,   /* node_register after 409: read the node */
	STEP_NODE_PATCH, /* node_register: its labels onto the node read */
	STEP_LEASE_GET,
	STEP_LEASE_CREATE,
	STEP_LEASE_PUT,
};

struct lane;

struct job {
	struct fx_api *x;
	struct lane *lane;
	struct job *next;
	enum fsm_cmd_kind kind;
	struct answer *ans; /* reserved at dispatch; names the command */
	char *body;
	size_t body_len;
	enum step step;
	uint32_t failures;  /* in a row: the back-off's exponent */
	uint32_t conflicts; /* re-reads in a row */
	bool in_flight, timer_set;
	bool done; /* answered: settle_lane takes it off its lane */
	uint64_t call_id, timer_id;
	char what[PATH_MAX_ + 8]; /* the last request, "METHOD path", for messages */
};

struct lane {
	struct lane *next; /* in its bucket */
	struct job *head, *tail;
	char key[];
};

/* ---- the event correlator ------------------------------------------------------------- */

struct crec {
	struct crec *next; /* in its bucket */
	uint64_t hash, last_ms;
	/* spam filter */
	double tokens;
	/* aggregation: hashes of the distinct messages seen */
	uint64_t local[EVENT_AGGREGATE_MAX];
	uint32_t nlocal;
	/* dedup: the event sent for this key */
	uint32_t count;
	char name[NAME_MAX_];
	char first_ts[48];
	char key[];
};

struct cache {
	struct crec *b[EVENT_CACHE_BUCKETS];
	size_t n;
};

struct ev_item {
	struct ev_item *next;
	char ns[NAME_MAX_], name[NAME_MAX_];
	bool patch;                /* the name was sent before: PATCH its count */
	struct json_object *event; /* the whole Event (count, lastTimestamp, message current) */
	uint32_t tries;
};

struct fx_api {
	struct kapi *api;
	struct io_reactor *r;
	char *node_name;
	bool (*pod_ref)(void *arg, const char *pod_uid, struct fx_api_pod_ref *out);
	void *pod_ref_arg;
	struct fx_sink sink;

	struct lane *lanes[LANE_BUCKETS];
	struct answer *ans_head, *ans_tail;
	uint64_t flush_timer_id;
	bool flush_set;
	uint64_t rand_state;

	char node_uid[UID_MAX];    /* from api.node_register; "" until then */
	struct json_object *lease; /* the last copy read or written, or NULL */

	struct cache spam, agg, dedup;
	struct ev_item *ev_head, *ev_tail;
	uint32_t ev_queued;
	bool ev_in_flight, ev_timer_set;
	uint64_t ev_call_id, ev_timer_id, ev_name_ns_last;

	struct fx_api_stats stats;
};

static const char *const lane_key_node = "\001node";
static const char *const lane_key_lease = "\001lease";

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* xorshift64*: the back-off's jitter (no caller depends on it). */
static double rand_unit(struct fx_api *x)
{
	x->rand_state ^= x->rand_state >> 12;
	x->rand_state ^= x->rand_state << 25;
	x->rand_state ^= x->rand_state >> 27;
	return (double)((x->rand_state * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

/* 500 ms doubling to 30 s, ±25 %, at least the server's Retry-After. */
static uint64_t backoff_ms(struct fx_api *x, uint32_t failures, uint64_t retry_after_ms)
{
	assert(failures >= 1);
	uint64_t base = BACKOFF_MS_MAX;
	if (failures < 8)
		base = (uint64_t)BACKOFF_MS_MIN << (failures - 1);
	if (base > BACKOFF_MS_MAX)
		base = BACKOFF_MS_MAX;
	uint64_t ms = (uint64_t)((double)base * (0.75 + 0.5 * rand_unit(x)));
	return ms < retry_after_ms ? retry_after_ms : ms;
}

/* No answer, 408, 429 or 5xx: the same request may well succeed later. */
static bool retryable(const struct kapi_response *r)
{
	long s = r->http_status;
	return s == 0 || s == 408 || s == 429 || s >= 500;
}

static bool is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/* The server's Status message, else the body's start, else the transport's error. */
static void describe(char *out, size_t size, const char *what, const struct kapi_response *r)
{
	if (r->http_status == 0) {
		snprintf(out, size, "%s: no answer: %s", what,
		         r->error != NULL && r->error[0] != '\0'
		                 ? r->error
		                 : curl_easy_strerror(r->curl_code));
		return;
	}
	const char *msg = NULL;
	struct json_object *doc = json_tokener_parse(r->body != NULL ? r->body : "");
	struct json_object *m = NULL;
	if (doc != NULL && json_object_object_get_ex(doc, "message", &m))
		msg = json_object_get_string(m);
	snprintf(out, size, "%s: %ld: %.*s", what, r->http_status,
	         msg != NULL ? (int)strlen(msg) : (int)(r->body_len > 200 ? 200 : r->body_len),
	         msg != NULL ? msg : (r->body != NULL ? r->body : ""));
	json_object_put(doc);
}

/* ---- answers: reserved at dispatch, delivered by the flush timer ---------------------- */

static void deliver(struct fx_api *x)
{
	/* Take the whole queue first: the sink may lead to new dispatches. */
	struct answer *a = x->ans_head;
	x->ans_head = x->ans_tail = NULL;
	while (a != NULL) {
		struct answer *next = a->next;
		struct fsm_event ev = {.kind = FSM_EV_EFFECT, .wall_ms = wall_ms()};
		ev.u.effect.cmd = a->cmd;
		ev.u.effect.ok = a->ok;
		ev.u.effect.error_class = a->ok ? FSM_ERR_NONE : a->cls;
		ev.u.effect.error = a->ok ? "" : a->error;
		ev.u.effect.result = a->ok ? a->result : "";
		assert(x->stats.queued > 0);
		x->stats.queued--;
		x->sink.event(x->sink.arg, &ev);
		free(a);
		a = next;
	}
}

static void on_flush(void *arg, uint64_t timer_id)
{
	struct fx_api *x = arg;
	(void)timer_id;
	x->flush_set = false;
	deliver(x);
}

static int flush_arm(struct fx_api *x)
{
	if (x->flush_set)
		return 0;
	int rc = io_timer_set(x->r, x->flush_timer_id, io_reactor_now_ms(x->r), on_flush, x);
	if (rc == 0)
		x->flush_set = true;
	return rc;
}

/* After the work of a reactor callback (never from dispatch): when the reactor
 * would not take the flush timer, the answers go now, which a callback may do. */
static void flush_after_callback(struct fx_api *x)
{
	if (x->ans_head != NULL && flush_arm(x) != 0)
		deliver(x);
}

static struct answer *answer_new(const char *cmd)
{
	size_t len = strlen(cmd);
	struct answer *a = calloc(1, sizeof(*a) + len + 1);
	if (a != NULL)
		memcpy(a->cmd, cmd, len + 1);
	return a;
}

static void answer_push(struct fx_api *x, struct answer *a, bool ok, enum fsm_error_class cls,
                        const char *error, const char *result)
{
	a->ok = ok;
	a->cls = ok ? FSM_ERR_NONE : cls;
	snprintf(a->error, sizeof(a->error), "%s", ok || error == NULL ? "" : error);
	snprintf(a->result, sizeof(a->result), "%s", result == NULL ? "" : result);
	a->next = NULL;
	if (x->ans_tail != NULL)
		x->ans_tail->next = a;
	else
		x->ans_head = a;
	x->ans_tail = a;
}

/* ---- lanes ---------------------------------------------------------------------------- */

static struct lane **lane_slot(struct fx_api *x, const char *key)
{
	struct lane **p = &x->lanes[hash_str(key) % LANE_BUCKETS];
	while (*p != NULL && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static const char *lane_key(const struct fsm_command *c)
{
	switch (c->kind) {
	case FSM_CMD_API_NODE_REGISTER:
	case FSM_CMD_API_NODE_STATUS:
		return lane_key_node;
	case FSM_CMD_API_LEASE:
		return lane_key_lease;
	default:
		return c->pod_uid != NULL ? c->pod_uid : "";
	}
}

static bool supersedes(enum fsm_cmd_kind kind)
{
	return kind == FSM_CMD_API_POD_STATUS || kind == FSM_CMD_API_NODE_STATUS ||
	       kind == FSM_CMD_API_LEASE;
}

static void job_free(struct job *j)
{
	free(j->ans);
	free(j->body);
	free(j);
}

static void job_send(struct job *j);

/* Takes the answered jobs off the head of l and starts the next, until the head
 * is in progress or the lane is empty (then it goes). A loop, not a recursion: a
 * lane of commands that answer without a request must not grow the stack. */
static void lane_settle(struct fx_api *x, struct lane *l)
{
	while (l->head != NULL && l->head->done) {
		struct job *j = l->head;
		assert(!j->in_flight);
		assert(!j->timer_set);
		l->head = j->next;
		job_free(j);
		if (l->head != NULL)
			job_send(l->head);
	}
	if (l->head != NULL)
		return;
	l->tail = NULL;
	struct lane **p = lane_slot(x, l->key);
	assert(*p == l);
	*p = l->next;
	free(l);
}

/* Answers j (the head of its lane); lane_settle moves the lane on. */
static void job_finish(struct job *j, bool ok, enum fsm_error_class cls, const char *error,
                       const char *result)
{
	assert(!j->done);
	answer_push(j->x, j->ans, ok, cls, error, result);
	j->ans = NULL;
	j->done = true;
}

static void on_retry_timer(void *arg, uint64_t timer_id)
{
	struct job *j = arg;
	(void)timer_id;
	j->timer_set = false;
	struct fx_api *x = j->x;
	struct lane *l = j->lane;
	x->stats.retries++;
	job_send(j);
	lane_settle(x, l);
	flush_after_callback(x);
}

/* A pod's status that waited FX_API_STATUS_COALESCE_MS for newer ones. */
static void on_coalesced(void *arg, uint64_t timer_id)
{
	struct job *j = arg;
	(void)timer_id;
	j->timer_set = false;
	struct fx_api *x = j->x;
	struct lane *l = j->lane;
	job_send(j);
	lane_settle(x, l);
	flush_after_callback(x);
}

/* Sends j again after the back-off. Without a reactor timer for it (the reactor
 * at its bound) the command fails, transient: the fold issues it again. */
static void job_retry(struct job *j, uint64_t retry_after_ms)
{
	struct fx_api *x = j->x;
	j->failures++;
	uint64_t due = io_reactor_now_ms(x->r) + backoff_ms(x, j->failures, retry_after_ms);
	if (io_timer_set(x->r, j->timer_id, due, on_retry_timer, j) == 0) {
		j->timer_set = true;
		return;
	}
	job_finish(j, false, FSM_ERR_TRANSIENT, "no reactor timer left to retry the request", NULL);
}

/* A 409 or 404 that a fresh read answers: the next step at once, a few times in a
 * row, then with the back-off (two writers fighting must not spin). */
static void job_reread(struct job *j, enum step next)
{
	j->step = next;
	if (++j->conflicts <= CONFLICTS_IMMEDIATE_MAX) {
		job_send(j);
		return;
	}
	job_retry(j, 0);
}

/* ---- requests ------------------------------------------------------------------------- */

static void on_done(void *arg, const struct kapi_response *r);

static int request(struct job *j, const char *method, const char *path, const char *ct,
                   const char *body, size_t body_len)
{
	struct fx_api *x = j->x;
	int rc = kapi_request(x->api, method, path, ct, body, body_len, REQUEST_TIMEOUT_MS, on_done,
	                      j, &j->call_id);
	if (rc != 0)
		return rc;
	snprintf(j->what, sizeof(j->what), "%s %s", method, path);
	j->in_flight = true;
	if (strcmp(method, "GET") == 0)
		x->stats.reads++;
	else
		x->stats.writes++;
	return 0;
}

/* Reads "namespace", "name", "uid" of a delete's body. */
static bool parse_ref(const struct job *j, char *ns, char *name, char *uid)
{
	struct json_object *doc = json_tokener_parse(j->body);
	struct json_object *v;
	bool ok = doc != NULL && json_object_is_type(doc, json_type_object);
	const char *keys[3] = {"namespace", "name", "uid"};
	char *outs[3] = {ns, name, uid};
	size_t sizes[3] = {NAME_MAX_, NAME_MAX_, UID_MAX};
	for (int i = 0; i < 3; i++) {
		outs[i][0] = '\0';
		if (ok && json_object_object_get_ex(doc, keys[i], &v))
			snprintf(outs[i], sizes[i], "%s", json_object_get_string(v));
	}
	json_object_put(doc);
	return ok && ns[0] != '\0' && name[0] != '\0';
}

/* The fields of PodStatus the kubelet owns: null when the body lacks one, so that a
 * field the kubelet stopped reporting goes away under the strategic merge. */
static const char *const kubelet_owned[] = {
        "hostIP",
        "hostIPs",
        "podIP",
        "podIPs",
        "startTime",
        "initContainerStatuses",
        "containerStatuses",
        "ephemeralContainerStatuses",
        "qosClass",
};

static char *pod_status_patch(const struct job *j, const char *uid)
{
	struct json_object *status = json_tokener_parse(j->body);
	if (status == NULL || !json_object_is_type(status, json_type_object)) {
		json_object_put(status);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(kubelet_owned) / sizeof(kubelet_owned[0]); i++)
		if (!json_object_object_get_ex(status, kubelet_owned[i], NULL))
			json_object_object_add(status, kubelet_owned[i], NULL);
	struct json_object *patch = json_object_new_object();
	struct json_object *meta = json_object_new_object();
	json_object_object_add(meta, "uid", json_object_new_string(uid));
	json_object_object_add(patch, "metadata", meta);
	json_object_object_add(patch, "status", status);
	char *out = strdup(json_object_to_json_string_ext(
	        patch, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(patch);
	return out;
}

static int send_pod_status(struct job *j)
{
	struct fx_api *x = j->x;
	struct fx_api_pod_ref ref = {0};
	char err[ERROR_MAX];
	if (x->pod_ref == NULL || !x->pod_ref(x->pod_ref_arg, j->lane->key, &ref)) {
		snprintf(err, sizeof(err), "api.pod_status: pod %s is unknown", j->lane->key);
		job_finish(j, false, FSM_ERR_NOT_FOUND, err, NULL);
		return 0;
	}
	if (ref.uid == NULL || ref.uid[0] == '\0') {
		job_finish(j, true, FSM_ERR_NONE, NULL, "no-target");
		return 0;
	}
	char path[PATH_MAX_];
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ref.namespace_,
	         ref.name);
	char *patch = pod_status_patch(j, ref.uid);
	if (patch == NULL) {
		job_finish(j, false, FSM_ERR_PERMANENT,
		           "api.pod_status: the body is not a JSON object", NULL);
		return 0;
	}
	int rc = request(j, "PATCH", path, CT_SMP, patch, strlen(patch));
	free(patch);
	return rc;
}

static int send_delete(struct job *j)
{
	char ns[NAME_MAX_], name[NAME_MAX_], uid[UID_MAX], path[PATH_MAX_], body[UID_MAX + 160];
	if (!parse_ref(j, ns, name, uid)) {
		job_finish(j, false, FSM_ERR_PERMANENT,
		           "api.pod_delete: the body lacks namespace or name", NULL);
		return 0;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
	if (uid[0] != '\0')
		snprintf(body, sizeof(body),
		         "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":"
		         "0,"
		         "\"preconditions\":{\"uid\":\"%s\"}}",
		         uid);
	else
		snprintf(body, sizeof(body),
		         "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":"
		         "0}");
	return request(j, "DELETE", path, CT_JSON, body, strlen(body));
}

/* metadata.<field> of a JSON object (body or response), copied into out. */
static bool meta_field(const char *json, size_t len, const char *field, char *out, size_t size)
{
	out[0] = '\0';
	struct json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return false;
	struct json_object *doc = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	struct json_object *meta, *v;
	bool ok = doc != NULL && json_object_object_get_ex(doc, "metadata", &meta) &&
	          json_object_object_get_ex(meta, field, &v) &&
	          json_object_is_type(v, json_type_string);
	if (ok)
		snprintf(out, size, "%s", json_object_get_string(v));
	json_object_put(doc);
	return ok;
}

static int send_mirror_create(struct job *j)
{
	char ns[NAME_MAX_], path[PATH_MAX_];
	if (!meta_field(j->body, j->body_len, "namespace", ns, sizeof(ns)) || ns[0] == '\0')
		snprintf(ns, sizeof(ns), "default");
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
	return request(j, "POST", path, CT_JSON, j->body, j->body_len);
}

static const char *node_name_of(const struct job *j, char *buf, size_t size)
{
	if (!meta_field(j->body, j->body_len, "name", buf, size) || buf[0] == '\0')
		snprintf(buf, size, "%s", j->x->node_name);
	return buf;
}

static int send_node(struct job *j)
{
	char name[NAME_MAX_], path[PATH_MAX_];
	node_name_of(j, name, sizeof(name));
	if (j->step == STEP_SEND)
		return request(j, "POST", "/api/v1/nodes", CT_JSON, j->body, j->body_len);
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", name);
	if (j->step == STEP_NODE_GET)
		return request(j, "GET", path, NULL, NULL, 0);
	assert(j->step == STEP_NODE_PATCH);
	struct json_object *doc = json_tokener_parse(j->body), *meta, *labels;
	if (doc == NULL || !json_object_object_get_ex(doc, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, "labels", &labels) ||
	    !json_object_is_type(labels, json_type_object)) {
		json_object_put(doc);
		job_finish(j, true, FSM_ERR_NONE, NULL, j->x->node_uid); /* no labels to add */
		return 0;
	}
	struct json_object *patch = json_object_new_object(), *pmeta = json_object_new_object();
	json_object_object_add(pmeta, "labels", json_object_get(labels));
	json_object_object_add(patch, "metadata", pmeta);
	const char *s = json_object_to_json_string_ext(
	        patch, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = request(j, "PATCH", path, CT_SMP, s, strlen(s));
	json_object_put(patch);
	json_object_put(doc);
	return rc;
}

static int send_node_status(struct job *j)
{
	char path[PATH_MAX_];
	snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", j->x->node_name);
	size_t len = j->body_len + 16;
	char *patch = malloc(len);
	if (patch == NULL)
		return -ENOMEM;
	int n = snprintf(patch, len, "{\"status\":%.*s}", (int)j->body_len, j->body);
	int rc = request(j, "PATCH", path, CT_SMP, patch, (size_t)n);
	free(patch);
	return rc;
}

/* The lease's spec from the command's body onto obj's, and the node as its owner
 * when known (the kubelet's setNodeOwnerFunc). */
static bool lease_fill(struct fx_api *x, struct json_object *obj, const struct job *j)
{
	struct json_object *in = json_tokener_parse(j->body);
	if (in == NULL || !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return false;
	}
	struct json_object *spec, *meta, *v;
	if (!json_object_object_get_ex(obj, "spec", &spec)) {
		spec = json_object_new_object();
		json_object_object_add(obj, "spec", spec);
	}
	static const char *const fields[] = {"holderIdentity", "leaseDurationSeconds", "renewTime"};
	for (size_t i = 0; i < 3; i++)
		if (json_object_object_get_ex(in, fields[i], &v))
			json_object_object_add(spec, fields[i], json_object_get(v));
	json_object_put(in);
	if (!json_object_object_get_ex(obj, "metadata", &meta)) {
		meta = json_object_new_object();
		json_object_object_add(obj, "metadata", meta);
	}
	if (x->node_uid[0] != '\0' && !json_object_object_get_ex(meta, "ownerReferences", NULL)) {
		struct json_object *refs = json_object_new_array(), *ref = json_object_new_object();
		json_object_object_add(ref, "apiVersion", json_object_new_string("v1"));
		json_object_object_add(ref, "kind", json_object_new_string("Node"));
		json_object_object_add(ref, "name", json_object_new_string(x->node_name));
		json_object_object_add(ref, "uid", json_object_new_string(x->node_uid));
		json_object_array_add(refs, ref);
		json_object_object_add(meta, "ownerReferences", refs);
	}
	return true;
}

static int send_lease(struct job *j)
{
	struct fx_api *x = j->x;
	char path[PATH_MAX_];
	snprintf(path, sizeof(path), LEASE_PATH "/%s", x->node_name);
	if (j->step == STEP_SEND)
		j->step = x->lease != NULL ? STEP_LEASE_PUT : STEP_LEASE_GET;
	if (j->step == STEP_LEASE_GET)
		return request(j, "GET", path, NULL, NULL, 0);
	struct json_object *obj;
	if (j->step == STEP_LEASE_PUT) {
		assert(x->lease != NULL);
		obj = json_object_get(x->lease);
	} else {
		assert(j->step == STEP_LEASE_CREATE);
		obj = json_object_new_object();
		struct json_object *meta = json_object_new_object();
		json_object_object_add(obj, "apiVersion",
		                       json_object_new_string("coordination.k8s.io/v1"));
		json_object_object_add(obj, "kind", json_object_new_string("Lease"));
		json_object_object_add(meta, "name", json_object_new_string(x->node_name));
		json_object_object_add(meta, "namespace", json_object_new_string(LEASE_NAMESPACE));
		json_object_object_add(obj, "metadata", meta);
	}
	if (!lease_fill(x, obj, j)) {
		json_object_put(obj);
		job_finish(j, false, FSM_ERR_PERMANENT, "api.lease: the body is not a JSON object",
		           NULL);
		return 0;
	}
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = j->step == STEP_LEASE_PUT ? request(j, "PUT", path, CT_JSON, s, strlen(s))
	                                   : request(j, "POST", LEASE_PATH, CT_JSON, s, strlen(s));
	json_object_put(obj);
	return rc;
}

/* Starts j's request for its step; a request kapi does not take is retried with
 * the back-off (it may be full). */
static void job_send(struct job *j)
{
	assert(!j->in_flight);
	assert(!j->timer_set);
	int rc;
	switch (j->kind) {
	case FSM_CMD_API_POD_STATUS:
		rc = send_pod_status(j);
		break;
	case FSM_CMD_API_POD_DELETE:
	case FSM_CMD_API_MIRROR_DELETE:
		rc = send_delete(j);
		break;
	case FSM_CMD_API_MIRROR_CREATE:
		rc = send_mirror_create(j);
		break;
	case FSM_CMD_API_NODE_REGISTER:
		rc = send_node(j);
		break;
	case FSM_CMD_API_NODE_STATUS:
		rc = send_node_status(j);
		break;
	case FSM_CMD_API_LEASE:
		rc = send_lease(j);
		break;
	default:
		assert(!"a job of a kind the writer does not take");
		return;
	}
	/* rc 0: j is in flight, or was answered (and may be freed). */
	if (rc != 0)
		job_retry(j, 0);
}

/* ---- answers of the server ------------------------------------------------------------ */

static struct json_object *parse_body(const struct kapi_response *r)
{
	struct json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	struct json_object *doc = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	json_tokener_free(tok);
	return doc;
}

/* What every command does with an answer it has no rule of its own for. */
static void done_default(struct job *j, const struct kapi_response *r)
{
	char err[ERROR_MAX];
	describe(err, sizeof(err), j->what, r);
	if (retryable(r)) {
		job_retry(j, r->retry_after_ms);
		return;
	}
	if (r->http_status == 404) {
		job_finish(j, false, FSM_ERR_NOT_FOUND, err, NULL);
		return;
	}
	if (r->http_status == 401 || r->http_status == 403) {
		/* Credentials or RBAC may change (a rotated token): not ours to wait for,
		 * but not final either. */
		job_finish(j, false, FSM_ERR_TRANSIENT, err, NULL);
		return;
	}
	/* 400, 422 and every other refusal: sending it again changes nothing. */
	job_finish(j, false, FSM_ERR_PERMANENT, err, NULL);
}

static void done_node(struct job *j, const struct kapi_response *r)
{
	struct fx_api *x = j->x;
	long s = r->http_status;
	char uid[UID_MAX];
	if (j->step == STEP_SEND && s == 409) {
		job_reread(j, STEP_NODE_GET);
		return;
	}
	if (j->step != STEP_SEND && s == 404) {
		job_reread(j, STEP_SEND); /* deleted since: register it again */
		return;
	}
	if (is_2xx(s) && meta_field(r->body, r->body_len, "uid", uid, sizeof(uid)))
		snprintf(x->node_uid, sizeof(x->node_uid), "%s", uid);
	if (is_2xx(s) && j->step == STEP_NODE_GET) {
		j->step = STEP_NODE_PATCH;
		job_send(j);
		return;
	}
	if (is_2xx(s)) {
		job_finish(j, true, FSM_ERR_NONE, NULL, x->node_uid);
		return;
	}
	done_default(j, r);
}

static void lease_keep(struct fx_api *x, struct json_object *doc)
{
	json_object_put(x->lease);
	x->lease = doc;
}

static void done_lease(struct job *j, const struct kapi_response *r)
{
	struct fx_api *x = j->x;
	long s = r->http_status;
	if (is_2xx(s)) {
		struct json_object *doc = parse_body(r);
		if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
			json_object_put(doc);
			doc = NULL;
		}
		lease_keep(x, doc);
		if (j->step == STEP_LEASE_GET) {
			if (doc == NULL) {
				job_finish(j, false, FSM_ERR_TRANSIENT,
				           "GET lease: the answer is not JSON", NULL);
				return;
			}
			j->step = STEP_LEASE_PUT;
			job_send(j);
			return;
		}
		job_finish(j, true, FSM_ERR_NONE, NULL,
		           j->step == STEP_LEASE_CREATE ? "created" : "");
		return;
	}
	if (j->step == STEP_LEASE_GET && s == 404) {
		job_reread(j, STEP_LEASE_CREATE);
		return;
	}
	if (s == 409 || (j->step == STEP_LEASE_PUT && s == 404)) {
		/* Someone else wrote it (or deleted it): read it again. */
		lease_keep(x, NULL);
		job_reread(j, s == 404 ? STEP_LEASE_CREATE : STEP_LEASE_GET);
		return;
	}
	if (retryable(r) && j->step == STEP_LEASE_PUT)
		lease_keep(x, NULL); /* a PUT may have landed: read before writing again */
	if (retryable(r))
		j->step = STEP_SEND;
	done_default(j, r);
}

static void on_done(void *arg, const struct kapi_response *r)
{
	struct job *j = arg;
	struct fx_api *x = j->x;
	assert(j->in_flight);
	j->in_flight = false;
	long s = r->http_status;
	if (s != 409 && s != 404)
		j->conflicts = 0;
	if (is_2xx(s))
		j->failures = 0;
	char err[ERROR_MAX], uid[UID_MAX];
	switch (j->kind) {
	case FSM_CMD_API_POD_STATUS:
		if (s == 409) { /* the uid precondition: another pod of that name */
			describe(err, sizeof(err), j->what, r);
			job_finish(j, false, FSM_ERR_NOT_FOUND, err, NULL);
		} else if (is_2xx(s)) {
			job_finish(j, true, FSM_ERR_NONE, NULL, NULL);
		} else {
			done_default(j, r);
		}
		break;
	case FSM_CMD_API_POD_DELETE:
	case FSM_CMD_API_MIRROR_DELETE:
		if (is_2xx(s) || s == 404 || s == 409)
			job_finish(j, true, FSM_ERR_NONE, NULL,
			           is_2xx(s)  ? "deleted"
			           : s == 404 ? "not-found"
			                      : "conflict");
		else
			done_default(j, r);
		break;
	case FSM_CMD_API_MIRROR_CREATE:
		if (s == 201 || is_2xx(s)) {
			meta_field(r->body, r->body_len, "uid", uid, sizeof(uid));
			job_finish(j, true, FSM_ERR_NONE, NULL, uid);
		} else if (s == 409) {
			job_finish(j, true, FSM_ERR_NONE, NULL, "exists");
		} else {
			done_default(j, r);
		}
		break;
	case FSM_CMD_API_NODE_REGISTER:
		done_node(j, r);
		break;
	case FSM_CMD_API_NODE_STATUS:
		if (is_2xx(s))
			job_finish(j, true, FSM_ERR_NONE, NULL, NULL);
		else
			done_default(j, r);
		break;
	case FSM_CMD_API_LEASE:
		done_lease(j, r);
		break;
	default:
		assert(!"an answer for a kind the writer does not take");
	}
	lane_settle(x, j->lane);
	flush_after_callback(x);
}

/* ---- events: the correlator ----------------------------------------------------------- */

static struct crec *cache_find(struct cache *c, const char *key, uint64_t now_ms,
                               uint64_t window_ms)
{
	uint64_t h = hash_str(key);
	struct crec **p = &c->b[h % EVENT_CACHE_BUCKETS];
	for (; *p != NULL; p = &(*p)->next) {
		struct crec *e = *p;
		if (e->hash != h || strcmp(e->key, key) != 0)
			continue;
		if (window_ms == 0 || now_ms - e->last_ms <= window_ms)
			return e;
		*p = e->next; /* too old: forgotten */
		free(e);
		c->n--;
		return NULL;
	}
	return NULL;
}

/* Drops the least recently used record (a scan: only at the bound). */
static void cache_evict(struct cache *c)
{
	struct crec **oldest = NULL;
	for (size_t i = 0; i < EVENT_CACHE_BUCKETS; i++)
		for (struct crec **p = &c->b[i]; *p != NULL; p = &(*p)->next)
			if (oldest == NULL || (*p)->last_ms < (*oldest)->last_ms)
				oldest = p;
	assert(oldest != NULL);
	struct crec *e = *oldest;
	*oldest = e->next;
	free(e);
	c->n--;
}

static struct crec *cache_add(struct cache *c, const char *key, uint64_t now_ms)
{
	if (c->n >= EVENT_CACHE_MAX)
		cache_evict(c);
	size_t len = strlen(key);
	struct crec *e = calloc(1, sizeof(*e) + len + 1);
	if (e == NULL)
		return NULL;
	memcpy(e->key, key, len + 1);
	e->hash = hash_str(key);
	e->last_ms = now_ms;
	e->next = c->b[e->hash % EVENT_CACHE_BUCKETS];
	c->b[e->hash % EVENT_CACHE_BUCKETS] = e;
	c->n++;
	return e;
}

static void cache_clear(struct cache *c)
{
	for (size_t i = 0; i < EVENT_CACHE_BUCKETS; i++)
		while (c->b[i] != NULL) {
			struct crec *e = c->b[i];
			c->b[i] = e->next;
			free(e);
		}
	c->n = 0;
}

struct ev_in {
	struct json_object *doc, *obj; /* the body, its involvedObject */
	const char *kind, *ns, *name, *uid, *api_version, *field_path;
	const char *reason, *message, *type, *time;
};

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static bool ev_parse(const struct fsm_command *c, struct ev_in *e)
{
	memset(e, 0, sizeof(*e));
	e->doc = json_tokener_parse(c->body != NULL ? c->body : "");
	if (e->doc == NULL || !json_object_object_get_ex(e->doc, "involvedObject", &e->obj) ||
	    !json_object_is_type(e->obj, json_type_object))
		return false;
	e->kind = str_of(e->obj, "kind");
	e->ns = str_of(e->obj, "namespace");
	e->name = str_of(e->obj, "name");
	e->uid = str_of(e->obj, "uid");
	e->api_version = str_of(e->obj, "apiVersion");
	e->field_path = str_of(e->obj, "fieldPath");
	e->reason = str_of(e->doc, "reason");
	e->message = str_of(e->doc, "message");
	e->type = str_of(e->doc, "type");
	e->time = str_of(e->doc, "time");
	return e->name[0] != '\0' && e->kind[0] != '\0';
}

/* client-go's EventSourceObjectSpamFilter: a token bucket per object. */
static bool ev_spam_allows(struct fx_api *x, const struct ev_in *e, uint64_t now_ms)
{
	char key[1024];
	snprintf(key, sizeof(key), "kubelet\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", x->node_name,
	         e->kind, e->ns, e->name, e->uid, e->api_version);
	struct crec *r = cache_find(&x->spam, key, now_ms, 0);
	if (r == NULL) {
		r = cache_add(&x->spam, key, now_ms);
		if (r == NULL)
			return true;
		r->tokens = EVENT_SPAM_BURST;
	}
	r->tokens += (double)(now_ms - r->last_ms) / EVENT_SPAM_REFILL_MS;
	if (r->tokens > EVENT_SPAM_BURST)
		r->tokens = EVENT_SPAM_BURST;
	r->last_ms = now_ms;
	if (r->tokens < 1.0)
		return false;
	r->tokens -= 1.0;
	return true;
}

/* client-go's EventAggregator: once EVENT_AGGREGATE_MAX distinct messages of one
 * (object, type, reason) were seen within the window, the event is combined.
 * out_key gets the dedup key: the event's own, or the aggregate's. */
static bool ev_aggregate(struct fx_api *x, const struct ev_in *e, uint64_t now_ms, char *out_key,
                         size_t size)
{
	char agg[1024];
	snprintf(agg, sizeof(agg), "kubelet\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s",
	         x->node_name, e->kind, e->ns, e->name, e->uid, e->api_version, e->type, e->reason);
	snprintf(out_key, size, "%s\x1f%s\x1f%s", agg, e->field_path, e->message);
	struct crec *r = cache_find(&x->agg, agg, now_ms, EVENT_WINDOW_MS);
	if (r == NULL && (r = cache_add(&x->agg, agg, now_ms)) == NULL)
		return false;
	r->last_ms = now_ms;
	uint64_t h = hash_str(e->message);
	bool seen = false;
	for (uint32_t i = 0; i < r->nlocal; i++)
		seen = seen || r->local[i] == h;
	if (!seen) {
		assert(r->nlocal < EVENT_AGGREGATE_MAX);
		r->local[r->nlocal++] = h;
	}
	if (r->nlocal < EVENT_AGGREGATE_MAX)
		return false;
	r->nlocal--; /* do not grow the set past the bound (client-go's PopAny) */
	snprintf(out_key, size, "%s", agg);
	return true;
}

/* "2026-11-27T10:00:00Z": metav1.Time has seconds; the body's time may have more. */
static void ev_time(const struct ev_in *e, char *out, size_t size)
{
	if (strlen(e->time) >= 19) {
		snprintf(out, size, "%.19sZ", e->time);
		return;
	}
	time_t t = (time_t)(wall_ms() / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static struct json_object *ev_object(struct fx_api *x, const struct ev_in *e, const struct crec *d,
                                     const char *ns, const char *message, const char *ts)
{
	struct json_object *o = json_object_new_object(), *meta = json_object_new_object();
	struct json_object *src = json_object_new_object();
	json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(o, "kind", json_object_new_string("Event"));
	json_object_object_add(meta, "name", json_object_new_string(d->name));
	json_object_object_add(meta, "namespace", json_object_new_string(ns));
	json_object_object_add(o, "metadata", meta);
	json_object_object_add(o, "involvedObject", json_object_get(e->obj));
	json_object_object_add(o, "reason", json_object_new_string(e->reason));
	json_object_object_add(o, "message", json_object_new_string(message));
	json_object_object_add(src, "component", json_object_new_string("kubelet"));
	json_object_object_add(src, "host", json_object_new_string(x->node_name));
	json_object_object_add(o, "source", src);
	json_object_object_add(o, "firstTimestamp", json_object_new_string(d->first_ts));
	json_object_object_add(o, "lastTimestamp", json_object_new_string(ts));
	json_object_object_add(o, "count", json_object_new_int64(d->count));
	json_object_object_add(o, "type", json_object_new_string(e->type[0] ? e->type : "Normal"));
	json_object_object_add(o, "reportingComponent", json_object_new_string("kubelet"));
	json_object_object_add(o, "reportingInstance", json_object_new_string(x->node_name));
	return o;
}

static void ev_kick(struct fx_api *x);

/* Queues the event for sending; a PATCH of the same event still waiting takes
 * the newer count instead. */
static void ev_enqueue(struct fx_api *x, const char *ns, const struct crec *d, bool patch,
                       struct json_object *obj)
{
	struct ev_item *t = x->ev_tail;
	bool tail_waits = t != NULL && !(t == x->ev_head && (x->ev_in_flight || x->ev_timer_set));
	if (tail_waits && strcmp(t->name, d->name) == 0 && strcmp(t->ns, ns) == 0) {
		json_object_put(t->event);
		t->event = obj;
		return;
	}
	struct ev_item *it = calloc(1, sizeof(*it));
	if (it == NULL) {
		json_object_put(obj);
		x->stats.events_dropped++;
		return;
	}
	snprintf(it->ns, sizeof(it->ns), "%s", ns);
	snprintf(it->name, sizeof(it->name), "%s", d->name);
	it->patch = patch;
	it->event = obj;
	if (x->ev_tail != NULL)
		x->ev_tail->next = it;
	else
		x->ev_head = it;
	x->ev_tail = it;
	x->ev_queued++;
	ev_kick(x);
}

/* Correlates one api.event: "queued", "aggregated" or "dropped". */
static const char *ev_take(struct fx_api *x, const struct fsm_command *c)
{
	struct ev_in e;
	uint64_t now_ms = io_reactor_now_ms(x->r);
	if (!ev_parse(c, &e) || x->ev_queued >= EVENTS_QUEUED_MAX ||
	    !ev_spam_allows(x, &e, now_ms)) {
		json_object_put(e.doc);
		x->stats.events_dropped++;
		return "dropped";
	}
	char key[2048], ts[48], message[1024];
	bool combined = ev_aggregate(x, &e, now_ms, key, sizeof(key));
	snprintf(message, sizeof(message), "%s%s", combined ? EVENT_COMBINED_PREFIX : "",
	         e.message);
	ev_time(&e, ts, sizeof(ts));
	const char *ns = e.ns[0] != '\0' ? e.ns : "default";
	struct crec *d = cache_find(&x->dedup, key, now_ms, EVENT_WINDOW_MS);
	bool patch = d != NULL;
	if (d == NULL) {
		if ((d = cache_add(&x->dedup, key, now_ms)) == NULL) {
			json_object_put(e.doc);
			x->stats.events_dropped++;
			return "dropped";
		}
		/* client-go: "%v.%x" of the object's name and the time in ns; unique here */
		uint64_t ns_now = wall_ms() * 1000000u;
		if (ns_now <= x->ev_name_ns_last)
			ns_now = x->ev_name_ns_last + 1;
		x->ev_name_ns_last = ns_now;
		snprintf(d->name, sizeof(d->name), "%.200s.%" PRIx64, e.name, ns_now);
		snprintf(d->first_ts, sizeof(d->first_ts), "%s", ts);
	}
	d->count++;
	d->last_ms = now_ms;
	ev_enqueue(x, ns, d, patch, ev_object(x, &e, d, ns, message, ts));
	json_object_put(e.doc);
	if (combined)
		x->stats.events_aggregated++;
	return combined ? "aggregated" : "queued";
}

/* ---- events: sending, one at a time --------------------------------------------------- */

static void ev_on_done(void *arg, const struct kapi_response *r);
static void ev_on_timer(void *arg, uint64_t timer_id);

static void ev_pop(struct fx_api *x)
{
	struct ev_item *it = x->ev_head;
	assert(it != NULL);
	x->ev_head = it->next;
	if (x->ev_head == NULL)
		x->ev_tail = NULL;
	json_object_put(it->event);
	free(it);
	assert(x->ev_queued > 0);
	x->ev_queued--;
}

static void ev_send(struct fx_api *x)
{
	while (x->ev_head != NULL) {
		struct ev_item *it = x->ev_head;
		char path[PATH_MAX_];
		const char *body, *method;
		struct json_object *patch = NULL;
		if (it->patch) {
			struct json_object *v;
			patch = json_object_new_object();
			static const char *const f[] = {"count", "lastTimestamp", "message"};
			for (size_t i = 0; i < 3; i++)
				if (json_object_object_get_ex(it->event, f[i], &v))
					json_object_object_add(patch, f[i], json_object_get(v));
			body = json_object_to_json_string_ext(
			        patch, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			method = "PATCH";
			snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", it->ns,
			         it->name);
		} else {
			body = json_object_to_json_string_ext(
			        it->event, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			method = "POST";
			snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", it->ns);
		}
		int rc = kapi_request(x->api, method, path, it->patch ? CT_SMP : CT_JSON, body,
		                      strlen(body), REQUEST_TIMEOUT_MS, ev_on_done, x,
		                      &x->ev_call_id);
		json_object_put(patch);
		if (rc == 0) {
			x->ev_in_flight = true;
			x->stats.writes++;
			return;
		}
		if (++it->tries >= EVENT_TRIES_MAX) {
			x->stats.events_dropped++;
			ev_pop(x);
			continue;
		}
		uint64_t due = io_reactor_now_ms(x->r) + backoff_ms(x, it->tries, 0);
		if (io_timer_set(x->r, x->ev_timer_id, due, ev_on_timer, x) == 0)
			x->ev_timer_set = true;
		return; /* without a timer: the next api.event sends again */
	}
}

static void ev_kick(struct fx_api *x)
{
	if (!x->ev_in_flight && !x->ev_timer_set)
		ev_send(x);
}

static void ev_on_timer(void *arg, uint64_t timer_id)
{
	struct fx_api *x = arg;
	(void)timer_id;
	x->ev_timer_set = false;
	x->stats.retries++;
	ev_send(x);
}

static void ev_on_done(void *arg, const struct kapi_response *r)
{
	struct fx_api *x = arg;
	struct ev_item *it = x->ev_head;
	assert(x->ev_in_flight && it != NULL);
	x->ev_in_flight = false;
	if (it->patch && r->http_status == 404) {
		it->patch = false; /* gone from the server: create it (with its count) */
		ev_send(x);
		return;
	}
	if (is_2xx(r->http_status)) {
		x->stats.events_sent++;
		ev_pop(x);
	} else if (!retryable(r) || ++it->tries >= EVENT_TRIES_MAX) {
		/* refused (AlreadyExists included), or out of tries: events are best-effort */
		char err[ERROR_MAX];
		describe(err, sizeof(err), it->patch ? "PATCH event" : "POST event", r);
		fprintf(stderr, "api: event %s/%s dropped: %s\n", it->ns, it->name, err);
		x->stats.events_dropped++;
		ev_pop(x);
	} else {
		uint64_t due =
		        io_reactor_now_ms(x->r) + backoff_ms(x, it->tries, r->retry_after_ms);
		if (io_timer_set(x->r, x->ev_timer_id, due, ev_on_timer, x) == 0) {
			x->ev_timer_set = true;
			return;
		}
	}
	ev_send(x);
}

/* ---- the interface -------------------------------------------------------------------- */

int fx_api_new(struct fx_api **out, const struct fx_api_config *cfg, struct fx_sink sink)
{
	if (out == NULL || cfg == NULL || cfg->api == NULL || cfg->reactor == NULL ||
	    cfg->node_name == NULL || cfg->node_name[0] == '\0' || sink.event == NULL)
		return -EINVAL;
	struct fx_api *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->node_name = strdup(cfg->node_name);
	if (x->node_name == NULL) {
		free(x);
		return -ENOMEM;
	}
	x->api = cfg->api;
	x->r = cfg->reactor;
	x->pod_ref = cfg->pod_ref;
	x->pod_ref_arg = cfg->pod_ref_arg;
	x->sink = sink;
	x->flush_timer_id = io_timer_id_alloc(x->r);
	x->ev_timer_id = io_timer_id_alloc(x->r);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	x->rand_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
	*out = x;
	return 0;
}

static bool kind_taken(enum fsm_cmd_kind k)
{
	return k == FSM_CMD_API_POD_STATUS ||
	       (k >= FSM_CMD_API_POD_DELETE && k <= FSM_CMD_API_EVENT);
}

/* A newer status or lease command takes the place of the one waiting at the
 * tail of its lane (or the head between two tries), which answers superseded. */
static bool supersede(struct fx_api *x, struct lane *l, const struct fsm_command *c,
                      struct answer *a, char *body)
{
	struct job *t = l->tail;
	if (t == NULL || t->kind != c->kind || !supersedes(c->kind) || t->in_flight)
		return false;
	answer_push(x, t->ans, true, FSM_ERR_NONE, NULL, "superseded");
	t->ans = a;
	free(t->body);
	t->body = body;
	t->body_len = c->body_len;
	x->stats.superseded++;
	return true;
}

int fx_api_dispatch(struct fx_api *x, const struct fsm_command *c)
{
	assert(x != NULL && c != NULL);
	if (!kind_taken(c->kind))
		return -ENOTSUP;
	if (x->stats.queued >= FX_API_QUEUED_MAX)
		return -EAGAIN;
	struct answer *a = answer_new(c->id != NULL ? c->id : "");
	if (a == NULL)
		return -ENOMEM;
	int rc = flush_arm(x);
	if (rc != 0) {
		free(a);
		return rc;
	}
	x->stats.queued++;
	if (c->kind == FSM_CMD_API_EVENT) {
		answer_push(x, a, true, FSM_ERR_NONE, NULL, ev_take(x, c));
		return 0;
	}
	char *body = malloc(c->body_len + 1);
	const char *key = lane_key(c);
	struct lane **slot = lane_slot(x, key);
	struct lane *l = *slot;
	if (body == NULL)
		goto enomem;
	if (c->body_len > 0)
		memcpy(body, c->body, c->body_len);
	body[c->body_len] = '\0';
	if (l != NULL && supersede(x, l, c, a, body))
		return 0;
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto enomem;
	if (l == NULL) {
		size_t len = strlen(key);
		if ((l = calloc(1, sizeof(*l) + len + 1)) == NULL) {
			free(j);
			goto enomem;
		}
		memcpy(l->key, key, len + 1);
		*slot = l;
	}
	*j = (struct job){.x = x,
	                  .lane = l,
	                  .kind = c->kind,
	                  .ans = a,
	                  .body = body,
	                  .body_len = c->body_len,
	                  .timer_id = io_timer_id_alloc(x->r)};
	if (l->tail != NULL) {
		l->tail->next = j;
		l->tail = j;
		return 0;
	}
	l->head = l->tail = j;
	if (c->kind == FSM_CMD_API_POD_STATUS &&
	    io_timer_set(x->r, j->timer_id, io_reactor_now_ms(x->r) + FX_API_STATUS_COALESCE_MS,
			 on_coalesced, j) == 0) {
		j->timer_set = true; /* newer statuses meanwhile supersede it */
		return 0;
	}
	job_send(j);
	lane_settle(x, l); /* answers, if any, wait for the flush timer */
	return 0;
enomem:
	free(body);
	free(a);
	x->stats.queued--;
	return -ENOMEM;
}

void fx_api_stats(const struct fx_api *x, struct fx_api_stats *out)
{
	*out = x->stats;
}

void fx_api_free(struct fx_api *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < LANE_BUCKETS; i++) {
		while (x->lanes[i] != NULL) {
			struct lane *l = x->lanes[i];
			x->lanes[i] = l->next;
			while (l->head != NULL) {
				struct job *j = l->head;
				l->head = j->next;
				if (j->in_flight)
					kapi_cancel(x->api, j->call_id);
				if (j->timer_set)
					io_timer_cancel(x->r, j->timer_id);
				job_free(j);
			}
			free(l);
		}
	}
	if (x->ev_in_flight)
		kapi_cancel(x->api, x->ev_call_id);
	if (x->ev_timer_set)
		io_timer_cancel(x->r, x->ev_timer_id);
	while (x->ev_head != NULL)
		ev_pop(x);
	if (x->flush_set)
		io_timer_cancel(x->r, x->flush_timer_id);
	while (x->ans_head != NULL) {
		struct answer *a = x->ans_head;
		x->ans_head = a->next;
		free(a);
	}
	cache_clear(&x->spam);
	cache_clear(&x->agg);
	cache_clear(&x->dedup);
	json_object_put(x->lease);
	free(x->node_name);
	free(x);
}
