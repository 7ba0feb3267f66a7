/*
 * effects/exec.c — the CRI executor (see exec.h): the fold's cri.* commands and exec
 * hooks as sequences of CRI calls, and the relist that turns the runtime's lists into
 * cri.sandbox / cri.container events.
 *
 * Each command becomes an `op`: a small state machine whose steps are one CRI call
 * each (look, act, observe). An op has at most one call in flight; an op whose next
 * call finds every slot taken (cfg.calls_max) waits in a FIFO and is started when a
 * call of any op ends. A step's request is built when the step starts (cri_call
 * encodes it at once), from what the op copied out of the command at dispatch, so a
 * waiting op holds no protobuf.
 *
 * Outcomes: observations and the effect are sent from CRI callbacks, in that order.
 * An op that ends before its first call (a malformed body, the bound, a call that
 * could not start) keeps its outcome and is reported from a reactor timer due at
 * once, so that nothing is ever sent from inside fx_exec_dispatch.
 *
 * The relist's memory ("known") is a sorted array of the ids it and the commands
 * last reported, with the state reported; every update by a command bumps a
 * version, so a relist whose lists were taken before that update leaves the entry
 * alone instead of reporting a state the command has already superseded.
 */
#include "effects/exec.h"
#include "effects/gotext.h"
#include "effects/json.h"
#include "effects/volume.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <json-c/linkhash.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsm/buf.h"
#include "fsm/model.h"

/* The kubelet's cpu arithmetic (pkg/kubelet/cm/helpers_linux.go). */
#define CPU_SHARES_MIN     2
#define CPU_SHARES_MAX     262144
#define CPU_SHARES_PER_CPU 1024
#define CPU_PERIOD_US      100000
#define CPU_QUOTA_US_MIN   1000
/* Lists in a body (command, args, env, ports) longer than this are refused. */
#define LIST_ITEMS_MAX     4096
#define ERROR_BYTES_MAX    2048

enum op_kind {
	OP_PULL,
	OP_RUN_SANDBOX,
	OP_STOP_SANDBOX,
	OP_REMOVE_SANDBOX,
	OP_CREATE,
	OP_START,
	OP_STOP,
	OP_REMOVE,
	OP_EXEC,
	OP_HOOK,
	OP_RELIST,        /* the relist's two list calls */
	OP_RELIST_STATUS, /* one status call of a relist */
};

struct kv {
	char *key;
	char *value;
};

struct port {
	int32_t container_port;
	int32_t host_port;
	int protocol; /* Runtime__V1__Protocol */
	char *host_ip;
};

struct mount {
	char *container_path;
	char *host_path;
	bool readonly;
};

/* What CreateContainer needs of the container's spec, checked at dispatch. */
struct ctr_spec {
	char *name;
	char *image;
	char *working_dir;
	char **command;
	size_t n_command;
	char **args;
	size_t n_args;
	struct kv *env; /* resolved before CreateContainer; values may be secrets */
	size_t n_env;
	struct mount *mounts; /* the body's "mounts", from the volume executor */
	size_t n_mounts;
	bool stdin_open, stdin_once, tty;
	int64_t cpu_request_milli; /* -1: unset */
	int64_t cpu_limit_milli;
	int64_t memory_limit_bytes;
};

struct pod_ref {
	char *name;
	char *namespace_;
	char *uid;
};

/* One sandbox or container of a relist, and what its status call added. */
struct rl_item {
	bool sandbox;
	bool report;      /* changed since last reported: send it */
	bool need_status; /* asks for a status call first */
	bool skip;        /* its status call failed or was refused: leave it for next time */
	char *id;
	char *pod_uid;
	char *name;
	uint32_t attempt;
	int state; /* enum fsm_sandbox_state or fsm_container_state */
	char *ip;
	int32_t exit_code;
	char *reason;
	char *message;
	int64_t started_at_ms;
	int64_t finished_at_ms;
};

struct relist {
	uint64_t number;   /* 1 for the first relist of this executor */
	uint64_t version0; /* x->version when it began */
	struct rl_item *items;
	size_t n, cap;
	size_t pending; /* status calls not yet answered */
};

struct op {
	struct fx_exec *x;
	struct op *prev, *next; /* x->ops */
	struct op *wait_next;   /* x->wait_head */
	enum op_kind kind;
	int step;
	bool in_flight;
	bool waiting;
	bool deferred; /* outcome set, sent by the timer */

	/* the command, copied */
	char *cmd_id;
	char *pod_uid;
	char *container;
	char *image;
	uint32_t attempt;
	uint32_t timeout_s;

	char *target;     /* the id acted on; for run and create, the id found or made */
	char *sandbox_id; /* create */
	struct pod_ref pod;
	uint32_t sb_attempt;
	bool host_network;
	char *hostname;
	struct port *ports;
	size_t n_ports;
	struct ctr_spec *ctr;
	/* create: the container's JSON (a reference) for its environment, the read of
	 * its ConfigMaps and Secrets in flight, and what a fieldRef reads */
	struct json_object *env_spec;
	struct json_object *pod_meta; /* the body's "pod_meta", or NULL */
	struct fx_env_fetch *fetch;
	struct fx_env_facts facts;
	char *pod_ip;
	char *pod_ips;
	char **argv; /* exec, hook */
	size_t argc;
	char *hook;     /* "postStart", "preStop" */
	char *log_path; /* remove: the container's log, from its status */

	/* exec outcome, between steps */
	int exec_status;   /* gRPC status of ExecSync */
	char *exec_detail; /* the error (go-style) */
	char *exec_output; /* stdout + stderr */
	/* start: StartContainer's failure, kept while the container's status is read */
	char *start_error;
	enum fsm_error_class start_class;

	/* outcome (deferred ops) */
	bool ok;
	enum fsm_error_class err_class;
	char *error;
	char *result;

	/* relist */
	struct relist *rl;
	size_t item;
};

struct known {
	char *id;
	bool sandbox;
	int state;
	char *pod_uid;
	char *name;
	uint32_t attempt;
	uint64_t version; /* x->version of its last update */
	uint64_t seen;    /* the relist number that last listed it */
};

struct fx_exec {
	struct cri_client *cri;
	struct io_reactor *reactor;
	struct fx_sink sink;
	char *log_root;
	char *root_dir; /* pods' volumes: <root_dir>/pods/<uid>/volumes/... */
	char *cgroup_parent;
	char *node_name;     /* FX_LABEL_MANAGED's value */
	char *node_name_cfg; /* as configured (NULL: none): spec.nodeName of a fieldRef */
	char *host_ip;       /* NULL: not known */
	struct kapi *api;
	struct io_objwatch *objects; /* NULL: a GET per object */
	char **dns_servers;
	size_t n_dns_servers;
	char **dns_searches;
	size_t n_dns_searches;
	unsigned calls_max;
	unsigned queue_max;

	struct op *ops;    /* every op held, deferred ones included */
	unsigned ops_live; /* ops not deferred */
	unsigned in_flight;
	struct op *wait_head, *wait_tail;
	unsigned waiting;
	bool in_dispatch;

	uint64_t timer_id;
	bool timer_armed;

	struct relist *rl; /* the relist running, or NULL */
	uint64_t relists_started;
	struct known **known;
	size_t n_known, cap_known;
	uint64_t version;

	struct fx_exec_stats stats;
};

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* "" for NULL: events never carry NULL strings. */
static const char *nz(const char *s)
{
	return s != NULL ? s : "";
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

/* Go's names of the gRPC codes, as the kubelet's messages print them. */
static const char *go_code_name(int status)
{
	static const char *const names[] = {
	        "OK",
	        "Canceled",
	        "Unknown",
	        "InvalidArgument",
	        "DeadlineExceeded",
	        "NotFound",
	        "AlreadyExists",
	        "PermissionDenied",
	        "ResourceExhausted",
	        "FailedPrecondition",
	        "Aborted",
	        "OutOfRange",
	        "Unimplemented",
	        "Internal",
	        "Unavailable",
	        "DataLoss",
	        "Unauthenticated",
	};
	if (status >= 0 && (size_t)status < sizeof(names) / sizeof(names[0]))
		return names[status];
	return "Unknown";
}

static enum fsm_error_class class_of(enum cri_error_class c)
{
	switch (c) {
	case CRI_CLASS_OK:
		return FSM_ERR_NONE;
	case CRI_CLASS_TRANSIENT:
		return FSM_ERR_TRANSIENT;
	case CRI_CLASS_NOT_FOUND:
		return FSM_ERR_NOT_FOUND;
	case CRI_CLASS_PERMANENT:
		break;
	}
	return FSM_ERR_PERMANENT;
}

/* ---- JSON bodies ---------------------------------------------------------------- */





static struct json_object *body_parse(const struct fsm_command *c)
{
	return fx_json_parse(c->body, c->body_len);
}

/*
 * An array of strings (member key of o) into *out; 0, or -1 with why in err when
 * it is not an array of strings. Absent or null: 0 items.
 */
static int jstrv(struct json_object *o, const char *key, char ***out, size_t *n, char *err,
                 size_t err_len)
{
	*out = NULL;
	*n = 0;
	struct json_object *a = fx_jmember(o, key);
	if (a == NULL || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array)) {
		snprintf(err, err_len, "%s: want an array of strings", key);
		return -1;
	}
	size_t len = json_object_array_length(a);
	if (len > LIST_ITEMS_MAX) {
		snprintf(err, err_len, "%s: more than %d items", key, LIST_ITEMS_MAX);
		return -1;
	}
	char **v = calloc(len + 1, sizeof(*v));
	if (v == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		struct json_object *s = json_object_array_get_idx(a, i);
		if (!json_object_is_type(s, json_type_string)) {
			snprintf(err, err_len, "%s[%zu]: want a string", key, i);
			strv_free(v, i);
			return -1;
		}
		v[i] = strdup(json_object_get_string(s));
		if (v[i] == NULL) {
			snprintf(err, err_len, "out of memory");
			strv_free(v, i);
			return -1;
		}
	}
	*out = v;
	*n = len;
	return 0;
}

static int pod_ref_parse(struct json_object *body, struct pod_ref *p, char *err, size_t err_len)
{
	struct json_object *pod = fx_jmember(body, "pod");
	const char *name = fx_jstr(pod, "name"), *ns = fx_jstr(pod, "namespace"), *uid = fx_jstr(pod, "uid");
	if (name == NULL || ns == NULL || uid == NULL || name[0] == '\0' || ns[0] == '\0' ||
	    uid[0] == '\0') {
		snprintf(err, err_len, "body: pod {name, namespace, uid} required");
		return -1;
	}
	p->name = strdup(name);
	p->namespace_ = strdup(ns);
	p->uid = strdup(uid);
	if (p->name == NULL || p->namespace_ == NULL || p->uid == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	return 0;
}

static void pod_ref_free(struct pod_ref *p)
{
	free(p->name);
	free(p->namespace_);
	free(p->uid);
	memset(p, 0, sizeof(*p));
}

/* A name that may be a path component of the log directory. */
static bool path_safe(const char *s)
{
	return s != NULL && s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL;
}

/*
 * An optional list member of o: *a = NULL when it is absent or null; else the
 * array and its length. -1 with err when it is not an array ("<what>: want an
 * array") or longer than LIST_ITEMS_MAX ("<scope>: more than N <items>").
 */
static int list_member(struct json_object *o, const char *key, const char *what, const char *scope,
                       const char *items, struct json_object **a, size_t *n, char *err,
                       size_t err_len)
{
	*a = fx_jmember(o, key);
	*n = 0;
	if (*a == NULL || json_object_is_type(*a, json_type_null)) {
		*a = NULL;
		return 0;
	}
	if (!json_object_is_type(*a, json_type_array)) {
		snprintf(err, err_len, "%s: want an array", what);
		return -1;
	}
	*n = json_object_array_length(*a);
	if (*n > LIST_ITEMS_MAX) {
		snprintf(err, err_len, "%s: more than %d %s", scope, LIST_ITEMS_MAX, items);
		return -1;
	}
	return 0;
}

static int ports_parse(struct json_object *body, struct op *op, char *err, size_t err_len)
{
	struct json_object *a;
	size_t n;
	if (list_member(body, "ports", "body: ports", "body", "ports", &a, &n, err, err_len) != 0)
		return -1;
	if (a == NULL)
		return 0;
	op->ports = calloc(n + 1, sizeof(*op->ports));
	if (op->ports == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(a, i);
		struct port *q = &op->ports[op->n_ports++];
		q->container_port = (int32_t)fx_jint(p, "container_port", 0);
		q->host_port = (int32_t)fx_jint(p, "host_port", 0);
		const char *proto = fx_jstr(p, "protocol");
		q->protocol = RUNTIME__V1__PROTOCOL__TCP;
		if (proto != NULL && strcmp(proto, "UDP") == 0)
			q->protocol = RUNTIME__V1__PROTOCOL__UDP;
		else if (proto != NULL && strcmp(proto, "SCTP") == 0)
			q->protocol = RUNTIME__V1__PROTOCOL__SCTP;
		q->host_ip = dup_or_null(fx_jstr(p, "host_ip"));
	}
	return 0;
}

static void ctr_spec_free(struct ctr_spec *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->image);
	free(s->working_dir);
	strv_free(s->command, s->n_command);
	strv_free(s->args, s->n_args);
	for (size_t i = 0; i < s->n_env; i++) {
		free(s->env[i].key);
		explicit_bzero(s->env[i].value, strlen(s->env[i].value));
		free(s->env[i].value);
	}
	free(s->env);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].container_path);
		free(s->mounts[i].host_path);
	}
	free(s->mounts);
	free(s);
}

/* A quantity of resources.<list>.<name>: millis (cpu) or bytes; -1 when absent. */
static int quantity(struct json_object *res, const char *list, const char *name, bool milli,
                    int64_t *out, char *err, size_t err_len)
{
	*out = -1;
	struct json_object *v = fx_jmember(fx_jmember(res, list), name);
	if (v == NULL)
		return 0;
	char num[64];
	const char *s;
	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
	} else if (json_object_is_type(v, json_type_int)) {
		snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(v));
		s = num;
	} else {
		snprintf(err, err_len, "resources.%s.%s: want a quantity", list, name);
		return -1;
	}
	int rc = milli ? fsm_quantity_milli(s, out) : fsm_quantity_bytes(s, out);
	if (rc != 0) {
		snprintf(err, err_len, "resources.%s.%s: %s is not a quantity", list, name, s);
		return -1;
	}
	return 0;
}

/*
 * The env and envFrom lists' shapes, checked at dispatch; their values are resolved
 * (fx_env_resolve) once the sandbox's IPs are known, just before CreateContainer.
 */
static int env_parse(struct json_object *c, char *err, size_t err_len)
{
	struct json_object *a;
	size_t n;
	if (list_member(c, "envFrom", "envFrom", "envFrom", "sources", &a, &n, err, err_len) != 0)
		return -1;
	if (list_member(c, "env", "env", "env", "variables", &a, &n, err, err_len) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *name = fx_jstr(e, "name");
		if (name == NULL || name[0] == '\0') {
			snprintf(err, err_len, "env[%zu]: name required", i);
			return -1;
		}
	}
	return 0;
}

static int mounts_parse(struct json_object *body, struct ctr_spec *s, char *err, size_t err_len)
{
	struct json_object *a;
	size_t n;
	if (list_member(body, "mounts", "body: mounts", "body", "mounts", &a, &n, err, err_len) !=
	    0)
		return -1;
	if (a == NULL)
		return 0;
	s->mounts = calloc(n + 1, sizeof(*s->mounts));
	if (s->mounts == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(a, i);
		const char *cp = fx_jstr(m, "container_path"), *hp = fx_jstr(m, "host_path");
		if (cp == NULL || hp == NULL) {
			snprintf(err, err_len,
			         "body: mounts[%zu]: container_path and host_path required", i);
			return -1;
		}
		struct mount *q = &s->mounts[s->n_mounts++];
		q->container_path = strdup(cp);
		q->host_path = strdup(hp);
		q->readonly = fx_jbool(m, "readonly");
		if (q->container_path == NULL || q->host_path == NULL) {
			snprintf(err, err_len, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* The container's spec (the body's "container", the Pod's JSON) into *out. */
static int ctr_spec_parse(struct json_object *body, struct ctr_spec **out, char *err,
                          size_t err_len)
{
	*out = NULL;
	struct json_object *c = fx_jmember(body, "container");
	if (c == NULL || !json_object_is_type(c, json_type_object)) {
		snprintf(err, err_len, "body: container required");
		return -1;
	}
	struct ctr_spec *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	const char *name = fx_jstr(c, "name"), *image = fx_jstr(c, "image");
	int rc = -1;
	if (name == NULL || name[0] == '\0' || image == NULL || image[0] == '\0') {
		snprintf(err, err_len, "container: name and image required");
		goto out;
	}
	if (!path_safe(name)) {
		snprintf(err, err_len, "container: name %s cannot name a log directory", name);
		goto out;
	}
	s->name = strdup(name);
	s->image = strdup(image);
	s->working_dir = dup_or_null(fx_jstr(c, "workingDir"));
	if (s->name == NULL || s->image == NULL) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	if (jstrv(c, "command", &s->command, &s->n_command, err, err_len) != 0 ||
	    jstrv(c, "args", &s->args, &s->n_args, err, err_len) != 0 ||
	    env_parse(c, err, err_len) != 0 || mounts_parse(body, s, err, err_len) != 0)
		goto out;
	s->stdin_open = fx_jbool(c, "stdin");
	s->stdin_once = fx_jbool(c, "stdinOnce");
	s->tty = fx_jbool(c, "tty");
	struct json_object *res = fx_jmember(c, "resources");
	if (quantity(res, "requests", "cpu", true, &s->cpu_request_milli, err, err_len) != 0 ||
	    quantity(res, "limits", "cpu", true, &s->cpu_limit_milli, err, err_len) != 0 ||
	    quantity(res, "limits", "memory", false, &s->memory_limit_bytes, err, err_len) != 0)
		goto out;
	/* The API server's defaulting: a limit without a request is also the request. */
	if (s->cpu_request_milli < 0 && s->cpu_limit_milli >= 0)
		s->cpu_request_milli = s->cpu_limit_milli;
	rc = 0;
out:
	if (rc != 0)
		ctr_spec_free(s);
	else
		*out = s;
	return rc;
}

/* The id a stop or remove acts on: the body's "id", else an orphan id's last part. */
static const char *target_of(const struct fsm_command *c, struct json_object *body)
{
	const char *id = fx_jstr(body, "id");
	if (id != NULL)
		return id;
	if (strncmp(c->id, "orphan-", 7) == 0) {
		const char *a = strchr(c->id, '/');
		const char *b = a != NULL ? strchr(a + 1, '/') : NULL;
		if (b != NULL)
			return b + 1;
	}
	return "";
}

/* ---- the container's environment (the kubelet's makeEnvironmentVariables) ------- */

/* Frees a string that may hold a secret's value, zeroed first. */
static void zfree(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void fx_env_free(struct fx_env *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->vars[i].name);
		zfree(e->vars[i].value);
	}
	free(e->vars);
	e->vars = NULL;
	e->n = 0;
}

/* IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
static bool env_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = c == '-' || c == '.' || c == '_' || (c >= 'a' && c <= 'z') ||
		          (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/* The non-null object member key of o, or NULL. */
static struct json_object *jobj(struct json_object *o, const char *key)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_object) ? v : NULL;
}

/* The environment being built, with its bounds. */
struct env_build {
	struct fx_env *e;
	size_t cap;
	size_t bytes;
	char *err;
	size_t err_len;
};

static const struct fx_env_var *env_get(const struct fx_env *e, const char *name, size_t len)
{
	/* Linear: at most FX_ENV_VARS_MAX variables, looked up once per definition
	 * and per $(VAR). */
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->vars[i].name, name, len) == 0 && e->vars[i].name[len] == '\0')
			return &e->vars[i];
	return NULL;
}

/* Defines name as value (taken over, even on failure): a later definition replaces
 * an earlier one's value where it stands. 0, or -1 with err. */
static int env_set(struct env_build *b, const char *name, char *value)
{
	if (value == NULL) {
		snprintf(b->err, b->err_len, "out of memory");
		return -1;
	}
	size_t vlen = strlen(value);
	struct fx_env_var *v = (struct fx_env_var *)env_get(b->e, name, strlen(name));
	size_t old = v != NULL ? strlen(v->value) : 0;
	size_t add = v != NULL ? 0 : strlen(name);
	if (b->bytes - old + vlen + add > FX_ENV_BYTES_MAX) {
		snprintf(b->err, b->err_len, "environment larger than %zu bytes", FX_ENV_BYTES_MAX);
		zfree(value);
		return -1;
	}
	if (v != NULL) {
		zfree(v->value);
		v->value = value;
		b->bytes = b->bytes - old + vlen;
		return 0;
	}
	if (b->e->n >= FX_ENV_VARS_MAX) {
		snprintf(b->err, b->err_len, "more than %d environment variables", FX_ENV_VARS_MAX);
		zfree(value);
		return -1;
	}
	if (b->e->n == b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 16;
		struct fx_env_var *vars = realloc(b->e->vars, cap * sizeof(*vars));
		if (vars == NULL) {
			snprintf(b->err, b->err_len, "out of memory");
			zfree(value);
			return -1;
		}
		b->e->vars = vars;
		b->cap = cap;
	}
	char *n = strdup(name);
	if (n == NULL) {
		snprintf(b->err, b->err_len, "out of memory");
		zfree(value);
		return -1;
	}
	b->e->vars[b->e->n++] = (struct fx_env_var){.name = n, .value = value};
	b->bytes += vlen + add;
	assert(env_get(b->e, name, strlen(name)) == &b->e->vars[b->e->n - 1]);
	return 0;
}

/*
 * expansion.Expand(in, MappingFuncFor(env)) into out (NULL: only counts); the
 * length written. $(NAME) is NAME's value when defined, else kept as written; $$ is
 * '$'; any other '$' and an unterminated "$(" stay as they are.
 */
static size_t expand_into(const struct fx_env *e, const char *in, char *out)
{
	size_t o = 0;
#define PUT(p, n)                                                                                  \
	do {                                                                                       \
		if (out != NULL)                                                                   \
			memcpy(out + o, (p), (n));                                                 \
		o += (n);                                                                          \
	} while (0)
	size_t i = 0;
	while (in[i] != '\0') {
		if (in[i] != '$' || in[i + 1] == '\0') {
			PUT(&in[i], 1);
			i++;
			continue;
		}
		char next = in[i + 1];
		if (next == '$') {
			PUT("$", 1);
			i += 2;
			continue;
		}
		if (next != '(') {
			PUT(&in[i], 2);
			i += 2;
			continue;
		}
		const char *close = strchr(in + i + 2, ')');
		if (close == NULL) {
			size_t rest = strlen(in + i);
			PUT(&in[i], rest);
			i += rest;
			continue;
		}
		size_t len = (size_t)(close - (in + i + 2));
		const struct fx_env_var *v = env_get(e, in + i + 2, len);
		if (v != NULL)
			PUT(v->value, strlen(v->value));
		else
			PUT(&in[i], len + 3);
		i += len + 3;
	}
#undef PUT
	return o;
}

/* The value of env entry name, expanded; NULL with err. Counted first, so that a
 * value that holds a secret is never copied by a growing buffer. */
static char *env_expand(const struct fx_env *e, const char *name, const char *in, char *err,
                        size_t err_len)
{
	size_t n = expand_into(e, in, NULL);
	if (n > FX_ENV_VALUE_BYTES_MAX) {
		snprintf(err, err_len, "env %s: value longer than %zu bytes after expansion", name,
		         FX_ENV_VALUE_BYTES_MAX);
		return NULL;
	}
	char *s = malloc(n + 1);
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	size_t m = expand_into(e, in, s);
	assert(m == n);
	s[m] = '\0';
	return s;
}

static const char *kind_name(bool secret)
{
	return secret ? "secret" : "configmap";
}

/*
 * The object a ref names, as read: 0 and *out (NULL: optional and not there), or
 * -1 with the kubelet's message.
 */
static int env_source(const struct fx_env_facts *f, const struct fx_env_source *src, size_t n_src,
                      bool have_api, bool secret, const char *name, bool optional,
                      const struct fx_env_source **out, char *err, size_t err_len)
{
	*out = NULL;
	const struct fx_env_source *s = NULL;
	for (size_t i = 0; i < n_src && s == NULL; i++)
		if (src[i].secret == secret && strcmp(nz(src[i].name), name) == 0)
			s = &src[i];
	if (s == NULL && have_api && name[0] == '\0') {
		snprintf(err, err_len, "couldn't get %s %s/: a name is required", kind_name(secret),
		         nz(f->pod_namespace));
		return -1;
	}
	if (s == NULL) {
		if (!have_api)
			snprintf(err, err_len, "no API server to read %s \"%s\" from",
			         kind_name(secret), name);
		else
			snprintf(err, err_len, "%s %s/%s was not read", kind_name(secret),
			         nz(f->pod_namespace), name);
		return -1;
	}
	if (s->error != NULL) {
		snprintf(err, err_len, "%s", s->error);
		return -1;
	}
	if (!s->found) {
		if (optional)
			return 0;
		snprintf(err, err_len, "%s \"%s\" not found", kind_name(secret), name);
		return -1;
	}
	*out = s;
	return 0;
}

/*
 * The value of key k of a read object into *out (NULL and 0: no such key). -1 with
 * err when a Secret's value is not base64 or holds a NUL byte (never showing it).
 */
static int source_value(const struct fx_env_facts *f, const struct fx_env_source *s,
                        const char *name, const char *key, struct json_object *v, char **out,
                        char *err, size_t err_len)
{
	*out = NULL;
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return 0;
	if (!s->secret) {
		*out = strdup(json_object_get_string(v));
		if (*out == NULL) {
			snprintf(err, err_len, "out of memory");
			return -1;
		}
		return 0;
	}
	unsigned char *bytes;
	size_t blen;
	int rc = fx_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
	                       &bytes, &blen);
	bool bad = rc == -EINVAL, nul = rc == 0 && memchr(bytes, '\0', blen) != NULL;
	if (rc == 0 && !nul) {
		*out = (char *)bytes;
		return 0;
	}
	if (nul) {
		explicit_bzero(bytes, blen);
		free(bytes);
	}
	if (bad || nul)
		snprintf(err, err_len, "couldn't use key %s in Secret %s/%s: %s", key,
		         nz(f->pod_namespace), name,
		         bad ? "its value is not base64" : "its value holds a NUL byte");
	else
		snprintf(err, err_len, "out of memory");
	return -1;
}

/* One envFrom source: the object's data, each key prefixed, invalid names skipped. */
static int env_from_one(struct env_build *b, const struct fx_env_facts *f,
                        const struct fx_env_source *src, size_t n_src, bool have_api,
                        struct json_object *ef)
{
	struct json_object *cm = jobj(ef, "configMapRef"), *sr = jobj(ef, "secretRef");
	struct json_object *ref = cm != NULL ? cm : sr;
	if (ref == NULL)
		return 0;
	bool secret = cm == NULL;
	const char *name = nz(fx_jstr(ref, "name"));
	const char *prefix = nz(fx_jstr(ef, "prefix"));
	const struct fx_env_source *s;
	if (env_source(f, src, n_src, have_api, secret, name, fx_jbool(ref, "optional"), &s, b->err,
	               b->err_len) != 0)
		return -1;
	if (s == NULL)
		return 0;
	struct json_object *data = jobj(s->object, "data");
	if (data == NULL)
		return 0;
	json_object_object_foreach(data, k, v)
	{
		char key[512];
		if (snprintf(key, sizeof(key), "%s%s", prefix, k) >= (int)sizeof(key) ||
		    !env_name_ok(key))
			continue; /* the kubelet skips it (and records an event) */
		char *value;
		if (source_value(f, s, name, key, v, &value, b->err, b->err_len) != 0)
			return -1;
		if (value == NULL)
			continue;
		if (env_set(b, key, value) != 0)
			return -1;
	}
	return 0;
}

/*
 * metadata.labels / metadata.annotations of a fieldRef (fieldpath's
 * ExtractFieldPathAsString): ['key'] is that value ("" when absent), the
 * whole map is its lines key="value" in key order (FormatMap). rest is what
 * follows the map's name.
 */
static int map_field(struct json_object *m, const char *env, const char *path, const char *rest,
                     char **out, char *err, size_t err_len)
{
	size_t rl = strlen(rest);
	if (rl > 0 && (rl < 5 || strncmp(rest, "['", 2) != 0 || strcmp(rest + rl - 2, "']") != 0)) {
		snprintf(err, err_len, "unsupported fieldPath: %s", path);
		return -1;
	}
	if (m == NULL) {
		snprintf(err, err_len,
		         "env %s: fieldRef %s cannot be resolved: the create command does not carry "
		         "it",
		         env, path);
		return -1;
	}
	if (rl > 0) {
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(rl - 4), rest + 2);
		*out = strdup(nz(fx_jstr(m, key)));
	} else {
		struct fsm_buf b = FSM_BUF_INIT;
		if (fx_format_map(&b, m) != 0) {
			fsm_buf_free(&b);
			goto enomem;
		}
		*out = strdup(b.ptr != NULL ? b.ptr : "");
		fsm_buf_free(&b);
	}
	if (*out != NULL)
		return 0;
enomem:
	snprintf(err, err_len, "out of memory");
	return -1;
}

/* podFieldSelectorRuntimeValue, for the paths the executor knows. */
static int field_value(const struct fx_env_facts *f, const char *env, const char *path, char **out,
                       char *err, size_t err_len)
{
	const char *v = NULL;
	const char *missing = NULL;
	*out = NULL;
	if (strcmp(path, "metadata.name") == 0) {
		v = f->pod_name;
	} else if (strcmp(path, "metadata.namespace") == 0) {
		v = f->pod_namespace;
	} else if (strcmp(path, "metadata.uid") == 0) {
		v = f->pod_uid;
	} else if (strcmp(path, "spec.nodeName") == 0) {
		v = f->node_name;
		missing = "the node's name";
	} else if (strcmp(path, "status.hostIP") == 0 || strcmp(path, "status.hostIPs") == 0) {
		v = f->host_ip;
		missing = "the node's IP";
	} else if (strcmp(path, "status.podIP") == 0) {
		v = nz(f->pod_ip);
	} else if (strcmp(path, "status.podIPs") == 0) {
		v = nz(f->pod_ips);
	} else if (strncmp(path, "metadata.labels", 15) == 0 ||
	           strncmp(path, "metadata.annotations", 20) == 0) {
		bool labels = path[9] == 'l';
		return map_field(labels ? f->labels : f->annotations, env, path,
		                 path + (labels ? 15 : 20), out, err, err_len);
	} else if (strcmp(path, "spec.serviceAccountName") == 0) {
		v = f->service_account;
		missing = "the pod's service account";
	} else {
		snprintf(err, err_len, "unsupported fieldPath: %s", path);
		return -1;
	}
	if (v == NULL || (v[0] == '\0' && missing != NULL)) {
		snprintf(err, err_len, "env %s: fieldRef %s cannot be resolved: %s is not known",
		         env, path, missing != NULL ? missing : "the pod");
		return -1;
	}
	*out = strdup(v);
	if (*out == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	return 0;
}

/* A key ref's value into *out; NULL and 0 when it is optional and not there. */
static int key_ref_value(struct env_build *b, const struct fx_env_facts *f,
                         const struct fx_env_source *src, size_t n_src, bool have_api, bool secret,
                         struct json_object *ref, char **out)
{
	*out = NULL;
	const char *name = nz(fx_jstr(ref, "name")), *key = nz(fx_jstr(ref, "key"));
	bool optional = fx_jbool(ref, "optional");
	const struct fx_env_source *s;
	if (env_source(f, src, n_src, have_api, secret, name, optional, &s, b->err, b->err_len) !=
	    0)
		return -1;
	if (s == NULL)
		return 0;
	if (source_value(f, s, name, key, fx_jmember(jobj(s->object, "data"), key), out, b->err,
	                 b->err_len) != 0)
		return -1;
	if (*out == NULL && !optional) {
		snprintf(b->err, b->err_len, "couldn't find key %s in %s %s/%s", key,
		         secret ? "Secret" : "ConfigMap", nz(f->pod_namespace), name);
		return -1;
	}
	return 0;
}

/* One env entry: 0 (defined, or skipped as the kubelet skips it), or -1 with err. */
static int env_one(struct env_build *b, const struct fx_env_facts *f,
                   const struct fx_env_source *src, size_t n_src, bool have_api, size_t i,
                   struct json_object *e)
{
	const char *name = fx_jstr(e, "name");
	if (name == NULL || name[0] == '\0') {
		snprintf(b->err, b->err_len, "env[%zu]: name required", i);
		return -1;
	}
	const char *value = fx_jstr(e, "value");
	struct json_object *from = jobj(e, "valueFrom");
	char *v = NULL;
	if (value != NULL && value[0] != '\0') {
		v = env_expand(b->e, name, value, b->err, b->err_len);
		if (v == NULL)
			return -1;
	} else if (from != NULL && jobj(from, "fieldRef") != NULL) {
		const char *path = nz(fx_jstr(jobj(from, "fieldRef"), "fieldPath"));
		if (field_value(f, name, path, &v, b->err, b->err_len) != 0)
			return -1;
	} else if (from != NULL && jobj(from, "resourceFieldRef") != NULL) {
		snprintf(b->err, b->err_len, "env %s: resourceFieldRef is not supported", name);
		return -1;
	} else if (from != NULL &&
	           (jobj(from, "configMapKeyRef") != NULL || jobj(from, "secretKeyRef") != NULL)) {
		bool secret = jobj(from, "configMapKeyRef") == NULL;
		struct json_object *ref = jobj(from, secret ? "secretKeyRef" : "configMapKeyRef");
		if (key_ref_value(b, f, src, n_src, have_api, secret, ref, &v) != 0)
			return -1;
		if (v == NULL)
			return 0; /* optional and not there: not defined at all */
	} else {
		v = strdup("");
	}
	return env_set(b, name, v);
}

int fx_env_resolve(struct json_object *container, const struct fx_env_facts *facts,
                   const struct fx_env_source *src, size_t n_src, bool have_api, struct fx_env *out,
                   char *err, size_t err_len)
{
	assert(out != NULL && facts != NULL);
	assert(err != NULL && err_len > 0);
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	struct env_build b = {.e = out, .err = err, .err_len = err_len};
	struct json_object *a;
	size_t n;
	if (list_member(container, "envFrom", "envFrom", "envFrom", "sources", &a, &n, err,
	                err_len) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (env_from_one(&b, facts, src, n_src, have_api,
		                 json_object_array_get_idx(a, i)) != 0)
			goto fail;
	if (list_member(container, "env", "env", "env", "variables", &a, &n, err, err_len) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (env_one(&b, facts, src, n_src, have_api, i, json_object_array_get_idx(a, i)) !=
		    0)
			goto fail;
	return 0;
fail:
	assert(err[0] != '\0');
	fx_env_free(out);
	return -1;
}

/* Calls visit for each ConfigMap and Secret container refers to, in the kubelet's
 * order (envFrom, then env); stops at visit's first non-zero, which it returns. */
static int env_refs_walk(struct json_object *container,
                         int (*visit)(void *arg, bool secret, const char *name), void *arg)
{
	struct json_object *a = fx_jmember(container, "envFrom");
	size_t n = a != NULL && json_object_is_type(a, json_type_array)
	                   ? json_object_array_length(a)
	                   : 0;
	for (size_t i = 0; i < n && i < LIST_ITEMS_MAX; i++) {
		struct json_object *ef = json_object_array_get_idx(a, i);
		struct json_object *cm = jobj(ef, "configMapRef"), *sr = jobj(ef, "secretRef");
		int rc = 0;
		if (cm != NULL)
			rc = visit(arg, false, nz(fx_jstr(cm, "name")));
		else if (sr != NULL)
			rc = visit(arg, true, nz(fx_jstr(sr, "name")));
		if (rc != 0)
			return rc;
	}
	a = fx_jmember(container, "env");
	n = a != NULL && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	for (size_t i = 0; i < n && i < LIST_ITEMS_MAX; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *value = fx_jstr(e, "value");
		struct json_object *from = jobj(e, "valueFrom");
		if ((value != NULL && value[0] != '\0') || from == NULL)
			continue;
		struct json_object *cm = jobj(from, "configMapKeyRef"),
		                   *sr = jobj(from, "secretKeyRef");
		int rc = 0;
		if (jobj(from, "fieldRef") != NULL || jobj(from, "resourceFieldRef") != NULL)
			continue;
		if (cm != NULL)
			rc = visit(arg, false, nz(fx_jstr(cm, "name")));
		else if (sr != NULL)
			rc = visit(arg, true, nz(fx_jstr(sr, "name")));
		if (rc != 0)
			return rc;
	}
	return 0;
}

struct first_ref {
	bool secret;
	const char *name;
};

static int first_ref_visit(void *arg, bool secret, const char *name)
{
	struct first_ref *r = arg;
	r->secret = secret;
	r->name = name;
	return 1;
}

const char *fx_env_first_ref(struct json_object *container, bool *secret)
{
	struct first_ref r = {0};
	if (env_refs_walk(container, first_ref_visit, &r) == 0)
		return NULL;
	*secret = r.secret;
	return r.name;
}

/* ---- reading the ConfigMaps and Secrets ----------------------------------------- */

struct fetch_item {
	struct fx_env_fetch *f;
	bool secret;
	char *name;
	uint64_t id;      /* the GET, or the watcher's wait (cached) */
	bool cached;      /* read from the watcher */
	bool answered;
	bool found;
	char *error;
	struct json_object *object;
};

struct fx_env_fetch {
	struct kapi *api;
	struct io_objwatch *objects;
	struct json_object *container;
	const struct fx_env_facts *facts;
	fx_env_fetch_cb done;
	void *arg;
	struct fetch_item items[FX_ENV_REFS_MAX];
	size_t n;
	size_t pending;
	bool too_many;
};

static int fetch_visit(void *arg, bool secret, const char *name)
{
	struct fx_env_fetch *f = arg;
	if (name[0] == '\0')
		return 0; /* a GET of "" would list them all; fx_env_resolve refuses it */
	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].secret == secret && strcmp(f->items[i].name, name) == 0)
			return 0;
	if (f->n >= FX_ENV_REFS_MAX) {
		f->too_many = true;
		return 1;
	}
	struct fetch_item *it = &f->items[f->n];
	it->name = strdup(name);
	if (it->name == NULL)
		return -1;
	it->f = f;
	it->secret = secret;
	f->n++;
	return 0;
}

/* Zeroes the strings of a Secret's data (base64 is as secret as what it encodes). */
static void object_scrub(struct json_object *o)
{
	struct json_object *data = jobj(o, "data");
	if (data == NULL)
		return;
	json_object_object_foreach(data, k, v)
	{
		(void)k;
		if (json_object_is_type(v, json_type_string))
			explicit_bzero((char *)json_object_get_string(v),
			               (size_t)json_object_get_string_len(v));
	}
}

static void fetch_free(struct fx_env_fetch *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct fetch_item *it = &f->items[i];
		if (it->secret)
			object_scrub(it->object);
		json_object_put(it->object);
		free(it->name);
		free(it->error);
	}
	free(f);
}

void fx_env_fetch_cancel(struct fx_env_fetch *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (f->items[i].answered)
			continue;
		if (f->items[i].cached)
			io_objwatch_cancel_wait(f->objects, f->items[i].id);
		else
			kapi_cancel(f->api, f->items[i].id);
	}
	fetch_free(f);
}

/* A name as one path segment into out (n bytes): everything but unreserved
 * characters %-escaped. false when it does not fit. */
static bool path_segment(char *out, size_t n, const char *s)
{
	size_t o = 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 4 > n)
			return false;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, n - o, "%%%02X", c);
	}
	out[o] = '\0';
	return true;
}

/* The API's reason for a failed read: its Status message, or the transport's. */
static char *read_error(const struct fetch_item *it, const char *ns, const struct kapi_response *r)
{
	char why[512];
	if (r->http_status == 0) {
		snprintf(why, sizeof(why), "%s",
		         r->error != NULL && r->error[0] != '\0'
		                 ? r->error
		                 : curl_easy_strerror(r->curl_code));
	} else {
		struct json_object *st = NULL;
		struct json_tokener *tok = NULL;
		if (r->body_len > 0 && r->body_len < 65536 && (tok = json_tokener_new()) != NULL)
			st = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
		if (tok != NULL)
			json_tokener_free(tok);
		const char *msg = fx_jstr(st, "message");
		if (msg != NULL)
			snprintf(why, sizeof(why), "%s", msg);
		else
			snprintf(why, sizeof(why), "HTTP %ld", r->http_status);
		json_object_put(st);
	}
	char *s = NULL;
	if (asprintf(&s, "couldn't get %s %s/%s: %s", kind_name(it->secret), ns, it->name, why) < 0)
		return NULL;
	return s;
}

static void fetch_finish(struct fx_env_fetch *f)
{
	struct fx_env_source src[FX_ENV_REFS_MAX];
	for (size_t i = 0; i < f->n; i++)
		src[i] = (struct fx_env_source){
		        .secret = f->items[i].secret,
		        .name = f->items[i].name,
		        .error = f->items[i].error,
		        .found = f->items[i].found,
		        .object = f->items[i].object,
		};
	struct fx_env env;
	char err[ERROR_BYTES_MAX];
	int rc = fx_env_resolve(f->container, f->facts, src, f->n, true, &env, err, sizeof(err));
	f->done(f->arg, rc == 0 ? 0 : -1, rc == 0 ? &env : NULL, rc == 0 ? NULL : err);
	fetch_free(f);
}

static void fetch_done(void *arg, const struct kapi_response *r)
{
	struct fetch_item *it = arg;
	struct fx_env_fetch *f = it->f;
	assert(!it->answered);
	assert(f->pending > 0);
	it->answered = true;
	f->pending--;
	const char *ns = nz(f->facts->pod_namespace);
	if (r->http_status == 404) {
		it->found = false;
	} else if (r->http_status == 200 && r->body_len > FX_ENV_OBJECT_BYTES_MAX) {
		if (asprintf(&it->error, "couldn't get %s %s/%s: larger than %zu bytes",
		             kind_name(it->secret), ns, it->name, FX_ENV_OBJECT_BYTES_MAX) < 0)
			it->error = NULL;
	} else if (r->http_status == 200) {
		struct json_tokener *tok = json_tokener_new();
		if (tok != NULL)
			it->object = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
		if (tok == NULL || json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(it->object, json_type_object)) {
			json_object_put(it->object);
			it->object = NULL;
			if (asprintf(&it->error,
			             "couldn't get %s %s/%s: the answer is not an object",
			             kind_name(it->secret), ns, it->name) < 0)
				it->error = NULL;
		} else {
			it->found = true;
		}
		if (tok != NULL)
			json_tokener_free(tok);
	} else {
		it->error = read_error(it, ns, r);
	}
	if (!it->found && it->error == NULL && r->http_status != 404)
		it->error = strdup("out of memory");
	if (f->pending == 0)
		fetch_finish(f);
}

/* The watcher has answered for the object (its first list, or later). */
static void fetch_synced(void *arg)
{
	struct fetch_item *it = arg;
	struct fx_env_fetch *f = it->f;
	assert(!it->answered && f->pending > 0);
	it->answered = true;
	f->pending--;
	struct json_object *obj = NULL;
	char why[512];
	enum io_obj_state st =
	        io_objwatch_get(f->objects, it->secret ? IO_OBJ_SECRET : IO_OBJ_CONFIGMAP,
	                        nz(f->facts->pod_namespace), it->name, &obj, why, sizeof(why));
	if (st == IO_OBJ_PRESENT) {
		/* A copy of our own: the cache's may be replaced before the last
		 * object of this fetch is there (fetch_free scrubs it). */
		if (json_object_deep_copy(obj, &it->object, NULL) == 0)
			it->found = true;
		else
			it->error = strdup("out of memory");
	} else if (st == IO_OBJ_ERROR) {
		it->error = strdup(why);
	} else if (st != IO_OBJ_ABSENT) {
		if (asprintf(&it->error, "couldn't get %s %s/%s: not watched", kind_name(it->secret),
		             nz(f->facts->pod_namespace), it->name) < 0)
			it->error = NULL;
	}
	if (!it->found && it->error == NULL && st != IO_OBJ_ABSENT)
		it->error = strdup("out of memory");
	if (f->pending == 0)
		fetch_finish(f);
}

/* Reads the item through the watcher; false when it will not have it. */
static bool fetch_cached(struct fx_env_fetch *f, struct fetch_item *it)
{
	enum io_obj_kind kind = it->secret ? IO_OBJ_SECRET : IO_OBJ_CONFIGMAP;
	const char *ns = nz(f->facts->pod_namespace);
	if (f->objects == NULL ||
	    io_objwatch_ref(f->objects, nz(f->facts->pod_uid), kind, ns, it->name) != 0 ||
	    io_objwatch_when_synced(f->objects, kind, ns, it->name, fetch_synced, it, &it->id) != 0)
		return false;
	it->cached = true;
	return true;
}

int fx_env_fetch_start(struct kapi *api, struct io_objwatch *objects, struct json_object *container,
                       const struct fx_env_facts *facts, fx_env_fetch_cb done, void *arg,
                       struct fx_env_fetch **out)
{
	if (api == NULL || facts == NULL || done == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	struct fx_env_fetch *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	*f = (struct fx_env_fetch){.api = api, .objects = objects, .container = container,
	                           .facts = facts, .done = done, .arg = arg};
	int rc = env_refs_walk(container, fetch_visit, f);
	if (rc != 0 || f->n == 0) {
		rc = f->too_many ? -E2BIG : rc != 0 ? -ENOMEM : -ENODATA;
		fetch_free(f);
		return rc;
	}
	for (size_t i = 0; i < f->n; i++) {
		struct fetch_item *it = &f->items[i];
		if (fetch_cached(f, it)) {
			f->pending++;
			continue;
		}
		char ns[800], name[800], path[1800];
		rc = -ENAMETOOLONG;
		if (path_segment(ns, sizeof(ns), nz(facts->pod_namespace)) &&
		    path_segment(name, sizeof(name), it->name)) {
			snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", ns,
			         it->secret ? "secrets" : "configmaps", name);
			rc = kapi_request(api, "GET", path, NULL, NULL, 0, FX_ENV_TIMEOUT_MS,
			                  fetch_done, it, &it->id);
		}
		if (rc != 0) {
			fx_env_fetch_cancel(f); /* the items started so far */
			return rc;
		}
		f->pending++;
	}
	*out = f;
	return 0;
}

/* ---- what was last reported ----------------------------------------------------- */

static size_t known_find(const struct fx_exec *x, const char *id, bool *found)
{
	size_t lo = 0, hi = x->n_known;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(x->known[mid]->id, id);
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

static struct known *known_get(const struct fx_exec *x, const char *id)
{
	bool found;
	size_t i = known_find(x, id, &found);
	return found ? x->known[i] : NULL;
}

static void known_free(struct known *k)
{
	free(k->id);
	free(k->pod_uid);
	free(k->name);
	free(k);
}

/* Records id as reported in state. Past FX_EXEC_KNOWN_MAX ids, a new one is not
 * remembered (it is then reported again by the next relist). */
static void known_set(struct fx_exec *x, bool sandbox, const char *id, int state,
                      const char *pod_uid, const char *name, uint32_t attempt, uint64_t seen)
{
	if (id == NULL || id[0] == '\0')
		return;
	bool found;
	size_t i = known_find(x, id, &found);
	struct known *k;
	if (found) {
		k = x->known[i];
	} else {
		if (x->n_known >= FX_EXEC_KNOWN_MAX)
			return;
		if (x->n_known == x->cap_known) {
			size_t cap = x->cap_known ? x->cap_known * 2 : 64;
			struct known **v = realloc(x->known, cap * sizeof(*v));
			if (v == NULL)
				return;
			x->known = v;
			x->cap_known = cap;
		}
		k = calloc(1, sizeof(*k));
		if (k == NULL || (k->id = strdup(id)) == NULL) {
			free(k);
			return;
		}
		memmove(&x->known[i + 1], &x->known[i], (x->n_known - i) * sizeof(*x->known));
		x->known[i] = k;
		x->n_known++;
	}
	char *uid = strdup(nz(pod_uid)), *nm = strdup(nz(name));
	if (uid != NULL && nm != NULL) {
		free(k->pod_uid);
		free(k->name);
		k->pod_uid = uid;
		k->name = nm;
	} else {
		free(uid);
		free(nm);
	}
	k->sandbox = sandbox;
	k->state = state;
	k->attempt = attempt;
	k->version = ++x->version;
	if (seen != 0)
		k->seen = seen;
	assert(known_get(x, id) == k);
}

static void known_drop(struct fx_exec *x, const char *id)
{
	bool found;
	size_t i = known_find(x, id, &found);
	if (!found)
		return;
	known_free(x->known[i]);
	memmove(&x->known[i], &x->known[i + 1], (x->n_known - i - 1) * sizeof(*x->known));
	x->n_known--;
	x->version++;
}

/* ---- events --------------------------------------------------------------------- */

static void emit(struct fx_exec *x, struct fsm_event *ev)
{
	/* Contract: never from inside fx_exec_dispatch. */
	assert(!x->in_dispatch);
	ev->wall_ms = wall_ms();
	x->sink.event(x->sink.arg, ev);
}

static void emit_sandbox(struct fx_exec *x, const char *id, const char *pod_uid, uint32_t attempt,
                         enum fsm_sandbox_state state, const char *ip, uint64_t seen)
{
	struct fsm_event ev = {.kind = FSM_EV_CRI_SANDBOX};
	ev.u.cri_sandbox = (struct fsm_ev_cri_sandbox){
	        .pod_uid = nz(pod_uid),
	        .attempt = attempt,
	        .id = nz(id),
	        .state = state,
	        .ip = nz(ip),
	};
	known_set(x, true, id, (int)state, pod_uid, "", attempt, seen);
	emit(x, &ev);
}

struct ctr_obs {
	const char *id;
	const char *pod_uid;
	const char *name;
	uint32_t attempt;
	enum fsm_container_state state;
	int32_t exit_code;
	const char *reason;
	const char *message;
	int64_t started_at_ms;
	int64_t finished_at_ms;
};

static void emit_container(struct fx_exec *x, const struct ctr_obs *o, uint64_t seen)
{
	struct fsm_event ev = {.kind = FSM_EV_CRI_CONTAINER};
	ev.u.cri_container = (struct fsm_ev_cri_container){
	        .pod_uid = nz(o->pod_uid),
	        .name = nz(o->name),
	        .attempt = o->attempt,
	        .id = nz(o->id),
	        .state = o->state,
	        .exit_code = o->exit_code,
	        .reason = nz(o->reason),
	        .message = nz(o->message),
	        .started_at_ms = o->started_at_ms,
	        .finished_at_ms = o->finished_at_ms,
	};
	known_set(x, false, o->id, (int)o->state, o->pod_uid, o->name, o->attempt, seen);
	emit(x, &ev);
}

static void emit_image(struct fx_exec *x, const char *image, bool ok, const char *ref,
                       const char *error)
{
	struct fsm_event ev = {.kind = FSM_EV_CRI_IMAGE};
	ev.u.cri_image = (struct fsm_ev_cri_image){
	        .image = nz(image),
	        .ok = ok,
	        .error = nz(error),
	        .image_ref = nz(ref),
	};
	emit(x, &ev);
}

static void emit_effect(struct fx_exec *x, const char *cmd, bool ok, enum fsm_error_class cls,
                        const char *error, const char *result)
{
	assert(cmd != NULL && cmd[0] != '\0');
	assert(ok == (cls == FSM_ERR_NONE));
	struct fsm_event ev = {.kind = FSM_EV_EFFECT};
	ev.u.effect = (struct fsm_ev_effect){
	        .cmd = cmd,
	        .ok = ok,
	        .error_class = cls,
	        .error = nz(error),
	        .result = nz(result),
	};
	x->stats.effects++;
	emit(x, &ev);
}

static enum fsm_sandbox_state sandbox_state_of(Runtime__V1__PodSandboxState s)
{
	return s == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? FSM_SANDBOX_READY
	                                                          : FSM_SANDBOX_NOTREADY;
}

static enum fsm_container_state container_state_of(Runtime__V1__ContainerState s)
{
	switch (s) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
		return FSM_CONTAINER_CREATED;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
		return FSM_CONTAINER_RUNNING;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
		return FSM_CONTAINER_EXITED;
	default:
		return FSM_CONTAINER_UNKNOWN;
	}
}

static const char *status_label(const Runtime__V1__ContainerStatus *s, const char *key)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (s->labels[i] != NULL && strcmp(s->labels[i]->key, key) == 0)
			return s->labels[i]->value;
	return NULL;
}

static const char *list_label(const Runtime__V1__Container *c, const char *key)
{
	for (size_t i = 0; i < c->n_labels; i++)
		if (c->labels[i] != NULL && strcmp(c->labels[i]->key, key) == 0)
			return c->labels[i]->value;
	return NULL;
}

static struct ctr_obs obs_of_status(const Runtime__V1__ContainerStatus *s)
{
	struct ctr_obs o = {
	        .id = s->id,
	        .pod_uid = status_label(s, FX_LABEL_POD_UID),
	        .name = s->metadata != NULL ? s->metadata->name
	                                    : status_label(s, FX_LABEL_CONTAINER),
	        .attempt = s->metadata != NULL ? s->metadata->attempt : 0,
	        .state = container_state_of(s->state),
	        .reason = s->reason,
	        .message = s->message,
	        /* The runtime's times are nanoseconds since the epoch; 0: not yet. */
	        .started_at_ms = s->started_at / 1000000,
	        .finished_at_ms = s->finished_at / 1000000,
	};
	if (o.state == FSM_CONTAINER_EXITED)
		o.exit_code = s->exit_code;
	return o;
}

static const char *sandbox_ip(const Runtime__V1__PodSandboxStatus *s)
{
	return s->network != NULL ? s->network->ip : "";
}

/* ---- ops: life, the call slots, deferred outcomes -------------------------------- */

static void relist_free(struct relist *rl);

static void op_free(struct op *op)
{
	free(op->cmd_id);
	free(op->pod_uid);
	free(op->container);
	free(op->image);
	free(op->target);
	free(op->sandbox_id);
	pod_ref_free(&op->pod);
	free(op->hostname);
	for (size_t i = 0; i < op->n_ports; i++)
		free(op->ports[i].host_ip);
	free(op->ports);
	ctr_spec_free(op->ctr);
	fx_env_fetch_cancel(op->fetch);
	json_object_put(op->env_spec);
	json_object_put(op->pod_meta);
	free(op->pod_ip);
	free(op->pod_ips);
	strv_free(op->argv, op->argc);
	free(op->hook);
	free(op->log_path);
	free(op->exec_detail);
	free(op->exec_output);
	free(op->start_error);
	free(op->error);
	free(op->result);
	free(op);
}

static struct op *op_new(struct fx_exec *x, enum op_kind kind)
{
	struct op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->x = x;
	op->kind = kind;
	op->next = x->ops;
	if (x->ops != NULL)
		x->ops->prev = op;
	x->ops = op;
	x->ops_live++;
	return op;
}

/* Unlinks and frees an op that holds no call and waits for none. */
static void op_release(struct op *op)
{
	struct fx_exec *x = op->x;
	assert(!op->in_flight);
	assert(!op->waiting);
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		x->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	if (!op->deferred) {
		assert(x->ops_live > 0);
		x->ops_live--;
	}
	op_free(op);
}

static void flush_deferred(void *arg, uint64_t timer_id);

/* Arms the timer that sends deferred outcomes on the reactor's next turn. */
static int arm_timer(struct fx_exec *x)
{
	if (x->timer_armed)
		return 0;
	int rc = io_timer_set(x->reactor, x->timer_id, io_reactor_now_ms(x->reactor),
	                      flush_deferred, x);
	if (rc == 0)
		x->timer_armed = true;
	return rc;
}

/*
 * Ends a command op: its effect now, or — inside fx_exec_dispatch — on the next
 * turn. The op is gone afterwards (or held, deferred, until the timer).
 */
static void op_finish(struct op *op, bool ok, enum fsm_error_class cls, const char *result,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void op_finish(struct op *op, bool ok, enum fsm_error_class cls, const char *result,
                      const char *fmt, ...)
{
	struct fx_exec *x = op->x;
	assert(op->kind != OP_RELIST && op->kind != OP_RELIST_STATUS);
	char *error = NULL;
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		error = vfmt(fmt, ap);
		va_end(ap);
	}
	if (ok)
		cls = FSM_ERR_NONE;
	else if (cls == FSM_ERR_NONE)
		cls = FSM_ERR_PERMANENT;
	if (!x->in_dispatch) {
		emit_effect(x, op->cmd_id, ok, cls, error != NULL ? error : "", result);
		free(error);
		op_release(op);
		return;
	}
	op->ok = ok;
	op->err_class = cls;
	op->error = error;
	op->result = dup_or_null(result);
	op->deferred = true;
	assert(x->ops_live > 0);
	x->ops_live--;
	/* fx_exec_dispatch arms the timer when it sees the op deferred. */
}

static void flush_deferred(void *arg, uint64_t timer_id)
{
	struct fx_exec *x = arg;
	(void)timer_id;
	x->timer_armed = false;
	/* Oldest first: ops are pushed at the head, so collect and walk backwards. */
	struct op *last = NULL;
	for (struct op *op = x->ops; op != NULL; op = op->next)
		if (op->deferred)
			last = op;
	while (last != NULL) {
		struct op *prev = last->prev;
		while (prev != NULL && !prev->deferred)
			prev = prev->prev;
		emit_effect(x, last->cmd_id, last->ok, last->err_class, nz(last->error),
		            last->result);
		op_release(last);
		last = prev;
	}
}

static int op_issue(struct op *op);
static void op_on_result(struct op *op, const struct cri_result *res);
static void op_abort(struct op *op, int rc);

static void start_now(struct op *op)
{
	int rc = op_issue(op);
	if (rc != 0)
		op_abort(op, rc);
}

/* Starts waiting ops while slots are free. */
static void pump(struct fx_exec *x)
{
	while (x->in_flight < x->calls_max && x->wait_head != NULL) {
		struct op *op = x->wait_head;
		x->wait_head = op->wait_next;
		if (x->wait_head == NULL)
			x->wait_tail = NULL;
		op->wait_next = NULL;
		op->waiting = false;
		x->waiting--;
		start_now(op);
	}
}

/* The op's current step: at once when a slot is free and nobody waits, else queued. */
static void op_submit(struct op *op)
{
	struct fx_exec *x = op->x;
	assert(!op->in_flight && !op->waiting);
	if (x->in_flight < x->calls_max && x->wait_head == NULL) {
		start_now(op);
		return;
	}
	op->waiting = true;
	if (x->wait_tail != NULL)
		x->wait_tail->wait_next = op;
	else
		x->wait_head = op;
	x->wait_tail = op;
	x->waiting++;
}

static void op_done(void *arg, const struct cri_result *res)
{
	struct op *op = arg;
	struct fx_exec *x = op->x;
	assert(op->in_flight);
	assert(x->in_flight > 0);
	op->in_flight = false;
	x->in_flight--;
	op_on_result(op, res);
	pump(x);
}

static int call(struct op *op, enum cri_method m, const ProtobufCMessage *req, uint64_t timeout_ms)
{
	int rc = cri_call(op->x->cri, m, req, timeout_ms, op_done, op);
	if (rc == 0) {
		op->in_flight = true;
		op->x->in_flight++;
	}
	return rc;
}

/* ---- requests ------------------------------------------------------------------- */

#define SB_LABELS_MAX 5

/* A PodSandboxConfig and everything it points to. */
struct sb_msg {
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__PodSandboxConfig__LabelsEntry lab[SB_LABELS_MAX];
	Runtime__V1__PodSandboxConfig__LabelsEntry *labp[SB_LABELS_MAX];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry ann;
	Runtime__V1__PodSandboxConfig__AnnotationsEntry *annp[1];
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__LinuxPodSandboxConfig linux;
	Runtime__V1__DNSConfig dns;
	Runtime__V1__PortMapping *pm;
	Runtime__V1__PortMapping **pmp;
	char log_dir[PATH_MAX];
	char hostname[64];
	char attempt[16];
	Runtime__V1__PodSandboxConfig config;
};

static void pod_log_dir(const struct fx_exec *x, const struct pod_ref *pod, char *out, size_t n)
{
	snprintf(out, n, "%s/%s_%s_%s", x->log_root, pod->namespace_, pod->name, pod->uid);
}

/*
 * The kubelet's hostname for a pod-network pod: the pod's (or the body's) name,
 * cut to 63 characters without a trailing '-' or '.' (truncatePodHostnameIfNeeded).
 */
static void pod_hostname(const char *name, char *out, size_t n)
{
	assert(n >= 64);
	snprintf(out, 64, "%s", name);
	size_t len = strlen(out);
	while (len > 0 && (out[len - 1] == '-' || out[len - 1] == '.'))
		out[--len] = '\0';
}

static void sb_label(struct sb_msg *m, size_t *n, const char *key, const char *value)
{
	assert(*n < SB_LABELS_MAX);
	m->lab[*n] = (Runtime__V1__PodSandboxConfig__LabelsEntry)
	        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	m->lab[*n].key = (char *)key;
	m->lab[*n].value = (char *)value;
	m->labp[*n] = &m->lab[*n];
	(*n)++;
}

/* cmd_id: the label that names the command (NULL: none, for CreateContainer's copy). */
static int sb_msg_build(struct sb_msg *m, const struct fx_exec *x, const struct op *op,
                        const char *cmd_id)
{
	memset(m, 0, sizeof(*m));
	m->md = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	m->md.name = op->pod.name;
	m->md.namespace_ = op->pod.namespace_;
	m->md.uid = op->pod.uid;
	m->md.attempt = op->sb_attempt;

	size_t n = 0;
	sb_label(m, &n, FX_LABEL_MANAGED, x->node_name);
	if (cmd_id != NULL)
		sb_label(m, &n, FX_LABEL_CMD, cmd_id);
	sb_label(m, &n, FX_LABEL_POD_UID, op->pod.uid);
	sb_label(m, &n, FX_LABEL_POD_NAME, op->pod.name);
	sb_label(m, &n, FX_LABEL_POD_NAMESPACE, op->pod.namespace_);
	snprintf(m->attempt, sizeof(m->attempt), "%" PRIu32, op->sb_attempt);
	m->ann = (Runtime__V1__PodSandboxConfig__AnnotationsEntry)
	        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
	m->ann.key = FX_ANNOTATION_ATTEMPT;
	m->ann.value = m->attempt;
	m->annp[0] = &m->ann;

	/* The kubelet's namespaces: the pod's network (or the node's), the pod's IPC,
	 * a PID namespace per container. */
	m->ns = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	m->ns.network = op->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
	                                 : RUNTIME__V1__NAMESPACE_MODE__POD;
	m->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	m->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	m->sc = (Runtime__V1__LinuxSandboxSecurityContext)
	        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	m->sc.namespace_options = &m->ns;
	m->linux = (Runtime__V1__LinuxPodSandboxConfig)RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	m->linux.security_context = &m->sc;
	if (x->cgroup_parent != NULL)
		m->linux.cgroup_parent = x->cgroup_parent;

	m->config = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	m->config.metadata = &m->md;
	pod_log_dir(x, &op->pod, m->log_dir, sizeof(m->log_dir));
	m->config.log_directory = m->log_dir;
	/* A host-network sandbox may not set a hostname (runc refuses without a UTS
	 * namespace of its own): the kubelet sets one only for pod-network pods. */
	if (!op->host_network) {
		pod_hostname(op->hostname != NULL && op->hostname[0] != '\0' ? op->hostname
		                                                             : op->pod.name,
		             m->hostname, sizeof(m->hostname));
		m->config.hostname = m->hostname;
		if (x->n_dns_servers > 0) {
			m->dns = (Runtime__V1__DNSConfig)RUNTIME__V1__DNSCONFIG__INIT;
			m->dns.n_servers = x->n_dns_servers;
			m->dns.servers = x->dns_servers;
			m->dns.n_searches = x->n_dns_searches;
			m->dns.searches = x->dns_searches;
			m->config.dns_config = &m->dns;
		}
	}
	m->config.n_labels = n;
	m->config.labels = m->labp;
	m->config.n_annotations = 1;
	m->config.annotations = m->annp;
	m->config.linux = &m->linux;
	if (op->n_ports > 0) {
		m->pm = calloc(op->n_ports, sizeof(*m->pm));
		m->pmp = calloc(op->n_ports, sizeof(*m->pmp));
		if (m->pm == NULL || m->pmp == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < op->n_ports; i++) {
			m->pm[i] = (Runtime__V1__PortMapping)RUNTIME__V1__PORT_MAPPING__INIT;
			m->pm[i].protocol = (Runtime__V1__Protocol)op->ports[i].protocol;
			m->pm[i].container_port = op->ports[i].container_port;
			m->pm[i].host_port = op->ports[i].host_port;
			if (op->ports[i].host_ip != NULL)
				m->pm[i].host_ip = op->ports[i].host_ip;
			m->pmp[i] = &m->pm[i];
		}
		m->config.n_port_mappings = op->n_ports;
		m->config.port_mappings = m->pmp;
	}
	return 0;
}

static void sb_msg_clear(struct sb_msg *m)
{
	free(m->pm);
	free(m->pmp);
	m->pm = NULL;
	m->pmp = NULL;
}

#define CC_LABELS_MAX 6

struct cc_msg {
	Runtime__V1__ContainerMetadata md;
	Runtime__V1__ImageSpec image;
	Runtime__V1__ContainerConfig__LabelsEntry lab[CC_LABELS_MAX];
	Runtime__V1__ContainerConfig__LabelsEntry *labp[CC_LABELS_MAX];
	Runtime__V1__ContainerConfig__AnnotationsEntry ann;
	Runtime__V1__ContainerConfig__AnnotationsEntry *annp[1];
	Runtime__V1__KeyValue *kv;
	Runtime__V1__KeyValue **kvp;
	Runtime__V1__Mount *mnt;
	Runtime__V1__Mount **mntp;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__LinuxContainerSecurityContext sc;
	Runtime__V1__LinuxContainerConfig linux;
	char log_path[PATH_MAX];
	char attempt[16];
	Runtime__V1__ContainerConfig config;
};

static void cc_label(struct cc_msg *m, size_t *n, const char *key, const char *value)
{
	assert(*n < CC_LABELS_MAX);
	m->lab[*n] = (Runtime__V1__ContainerConfig__LabelsEntry)
	        RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
	m->lab[*n].key = (char *)key;
	m->lab[*n].value = (char *)value;
	m->labp[*n] = &m->lab[*n];
	(*n)++;
}

/* MilliCPUToShares: the request's share of a cpu's 1024, at least 2. */
static int64_t cpu_shares(int64_t request_milli)
{
	if (request_milli <= 0)
		return CPU_SHARES_MIN;
	int64_t shares = request_milli * CPU_SHARES_PER_CPU / 1000;
	if (shares < CPU_SHARES_MIN)
		return CPU_SHARES_MIN;
	return shares > CPU_SHARES_MAX ? CPU_SHARES_MAX : shares;
}

/* MilliCPUToQuota: the limit's part of the period, at least 1 ms. */
static int64_t cpu_quota(int64_t limit_milli)
{
	if (limit_milli <= 0)
		return 0;
	int64_t quota = limit_milli * CPU_PERIOD_US / 1000;
	return quota < CPU_QUOTA_US_MIN ? CPU_QUOTA_US_MIN : quota;
}

static int cc_msg_build(struct cc_msg *m, const struct op *op)
{
	const struct ctr_spec *s = op->ctr;
	memset(m, 0, sizeof(*m));
	m->md = (Runtime__V1__ContainerMetadata)RUNTIME__V1__CONTAINER_METADATA__INIT;
	m->md.name = s->name;
	m->md.attempt = op->attempt;
	/* The image the pull resolved (its ref), as the kubelet creates from it; the
	 * name the user wrote rides along. */
	m->image = (Runtime__V1__ImageSpec)RUNTIME__V1__IMAGE_SPEC__INIT;
	m->image.image = op->image != NULL && op->image[0] != '\0' ? op->image : s->image;
	m->image.user_specified_image = s->image;

	size_t n = 0;
	cc_label(m, &n, FX_LABEL_MANAGED, op->x->node_name);
	cc_label(m, &n, FX_LABEL_CMD, op->cmd_id);
	cc_label(m, &n, FX_LABEL_POD_UID, op->pod.uid);
	cc_label(m, &n, FX_LABEL_POD_NAME, op->pod.name);
	cc_label(m, &n, FX_LABEL_POD_NAMESPACE, op->pod.namespace_);
	cc_label(m, &n, FX_LABEL_CONTAINER, s->name);
	snprintf(m->attempt, sizeof(m->attempt), "%" PRIu32, op->attempt);
	m->ann = (Runtime__V1__ContainerConfig__AnnotationsEntry)
	        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
	m->ann.key = FX_ANNOTATION_ATTEMPT;
	m->ann.value = m->attempt;
	m->annp[0] = &m->ann;

	if (s->n_env > 0) {
		m->kv = calloc(s->n_env, sizeof(*m->kv));
		m->kvp = calloc(s->n_env, sizeof(*m->kvp));
		if (m->kv == NULL || m->kvp == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_env; i++) {
			m->kv[i] = (Runtime__V1__KeyValue)RUNTIME__V1__KEY_VALUE__INIT;
			m->kv[i].key = s->env[i].key;
			m->kv[i].value = s->env[i].value;
			m->kvp[i] = &m->kv[i];
		}
	}
	if (s->n_mounts > 0) {
		m->mnt = calloc(s->n_mounts, sizeof(*m->mnt));
		m->mntp = calloc(s->n_mounts, sizeof(*m->mntp));
		if (m->mnt == NULL || m->mntp == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_mounts; i++) {
			m->mnt[i] = (Runtime__V1__Mount)RUNTIME__V1__MOUNT__INIT;
			m->mnt[i].container_path = s->mounts[i].container_path;
			m->mnt[i].host_path = s->mounts[i].host_path;
			m->mnt[i].readonly = s->mounts[i].readonly;
			m->mntp[i] = &m->mnt[i];
		}
	}

	m->res = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	m->res.cpu_shares = cpu_shares(s->cpu_request_milli);
	if (s->cpu_limit_milli > 0) {
		m->res.cpu_period = CPU_PERIOD_US;
		m->res.cpu_quota = cpu_quota(s->cpu_limit_milli);
	}
	if (s->memory_limit_bytes > 0) {
		m->res.memory_limit_in_bytes = s->memory_limit_bytes;
		/* No swap (the kubelet's default on cgroup v1): memory+swap = memory. */
		m->res.memory_swap_limit_in_bytes = s->memory_limit_bytes;
	}
	m->ns = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	m->ns.network = op->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
	                                 : RUNTIME__V1__NAMESPACE_MODE__POD;
	m->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	m->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	m->sc = (Runtime__V1__LinuxContainerSecurityContext)
	        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	m->sc.namespace_options = &m->ns;
	m->linux = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	m->linux.resources = &m->res;
	m->linux.security_context = &m->sc;

	m->config = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
	m->config.metadata = &m->md;
	m->config.image = &m->image;
	m->config.n_command = s->n_command;
	m->config.command = s->command;
	m->config.n_args = s->n_args;
	m->config.args = s->args;
	if (s->working_dir != NULL)
		m->config.working_dir = s->working_dir;
	m->config.n_envs = s->n_env;
	m->config.envs = m->kvp;
	m->config.n_mounts = s->n_mounts;
	m->config.mounts = m->mntp;
	m->config.n_labels = n;
	m->config.labels = m->labp;
	m->config.n_annotations = 1;
	m->config.annotations = m->annp;
	/* Relative to the sandbox's log directory: <container>/<attempt>.log. */
	snprintf(m->log_path, sizeof(m->log_path), "%s/%" PRIu32 ".log", s->name, op->attempt);
	m->config.log_path = m->log_path;
	m->config.stdin = s->stdin_open;
	m->config.stdin_once = s->stdin_once;
	m->config.tty = s->tty;
	m->config.linux = &m->linux;
	return 0;
}

static void cc_msg_clear(struct cc_msg *m)
{
	free(m->kv);
	free(m->kvp);
	free(m->mnt);
	free(m->mntp);
}

static int call_sandbox_status(struct op *op, const char *id)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	req.pod_sandbox_id = (char *)id;
	return call(op, CRI_POD_SANDBOX_STATUS, &req.base, FX_EXEC_CALL_TIMEOUT_MS);
}

static int call_container_status(struct op *op, const char *id)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = (char *)id;
	return call(op, CRI_CONTAINER_STATUS, &req.base, FX_EXEC_CALL_TIMEOUT_MS);
}

static int call_list_sandboxes(struct op *op, const char *key, const char *value)
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
	return call(op, CRI_LIST_POD_SANDBOX, &req.base, FX_EXEC_CALL_TIMEOUT_MS);
}

static int call_list_containers(struct op *op, const char *key, const char *value,
                                const char *sandbox_id)
{
	Runtime__V1__ContainerFilter__LabelSelectorEntry sel =
	        RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	sel.key = (char *)key;
	sel.value = (char *)value;
	Runtime__V1__ContainerFilter__LabelSelectorEntry *sels[] = {&sel};
	Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	filter.n_label_selector = 1;
	filter.label_selector = sels;
	if (sandbox_id != NULL)
		filter.pod_sandbox_id = (char *)sandbox_id;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	req.filter = &filter;
	return call(op, CRI_LIST_CONTAINERS, &req.base, FX_EXEC_CALL_TIMEOUT_MS);
}

static int call_exec_sync(struct op *op)
{
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	req.container_id = op->target;
	req.n_cmd = op->argc;
	req.cmd = op->argv;
	req.timeout = op->timeout_s;
	uint64_t deadline = op->timeout_s > 0
	                            ? (uint64_t)op->timeout_s * 1000 + FX_EXEC_STOP_EXTRA_MS
	                            : FX_EXEC_HOOK_TIMEOUT_MS;
	return call(op, CRI_EXEC_SYNC, &req.base, deadline);
}

static int issue_relist_status(struct op *op);

/* Starts the op's current step's call; 0, or why it could not start. */
static int op_issue(struct op *op)
{
	struct fx_exec *x = op->x;
	uint64_t stop_ms = (uint64_t)op->timeout_s * 1000 + FX_EXEC_STOP_EXTRA_MS;
	switch (op->kind) {
	case OP_PULL: {
		Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
		spec.image = op->image;
		Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
		req.image = &spec;
		return call(op, CRI_PULL_IMAGE, &req.base, FX_EXEC_PULL_TIMEOUT_MS);
	}
	case OP_RUN_SANDBOX:
		if (op->step == 0)
			return call_list_sandboxes(op, FX_LABEL_CMD, op->cmd_id);
		if (op->step == 1) {
			struct sb_msg m;
			int rc = sb_msg_build(&m, x, op, op->cmd_id);
			if (rc == 0) {
				Runtime__V1__RunPodSandboxRequest req =
				        RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
				req.config = &m.config;
				rc = call(op, CRI_RUN_POD_SANDBOX, &req.base,
				          FX_EXEC_RUN_TIMEOUT_MS);
			}
			sb_msg_clear(&m);
			return rc;
		}
		return call_sandbox_status(op, op->target);
	case OP_STOP_SANDBOX: {
		Runtime__V1__StopPodSandboxRequest req =
		        RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = op->target;
		return call(op, CRI_STOP_POD_SANDBOX, &req.base, stop_ms);
	}
	case OP_REMOVE_SANDBOX: {
		if (op->step == 0)
			return call_sandbox_status(op, op->target);
		Runtime__V1__RemovePodSandboxRequest req =
		        RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = op->target;
		return call(op, CRI_REMOVE_POD_SANDBOX, &req.base, stop_ms);
	}
	case OP_CREATE:
		if (op->step == 0)
			return call_list_containers(op, FX_LABEL_CMD, op->cmd_id, op->sandbox_id);
		if (op->step == 1)
			return call_sandbox_status(op, op->sandbox_id);
		{
			struct sb_msg sm;
			struct cc_msg cm;
			int rc = sb_msg_build(&sm, x, op, NULL);
			int rc2 = cc_msg_build(&cm, op);
			if (rc == 0 && rc2 == 0) {
				Runtime__V1__CreateContainerRequest req =
				        RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
				req.pod_sandbox_id = op->sandbox_id;
				req.config = &cm.config;
				req.sandbox_config = &sm.config;
				rc = call(op, CRI_CREATE_CONTAINER, &req.base,
				          FX_EXEC_RUN_TIMEOUT_MS);
			} else if (rc == 0) {
				rc = rc2;
			}
			sb_msg_clear(&sm);
			cc_msg_clear(&cm);
			return rc;
		}
	case OP_START:
		if (op->step == 1) {
			Runtime__V1__StartContainerRequest req =
			        RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
			req.container_id = op->target;
			return call(op, CRI_START_CONTAINER, &req.base, FX_EXEC_RUN_TIMEOUT_MS);
		}
		return call_container_status(op, op->target);
	case OP_STOP:
		if (op->step == 0) {
			Runtime__V1__StopContainerRequest req =
			        RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
			req.container_id = op->target;
			req.timeout = op->timeout_s;
			return call(op, CRI_STOP_CONTAINER, &req.base, stop_ms);
		}
		return call_container_status(op, op->target);
	case OP_REMOVE: {
		if (op->step == 0)
			return call_container_status(op, op->target);
		Runtime__V1__RemoveContainerRequest req =
		        RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		req.container_id = op->target;
		return call(op, CRI_REMOVE_CONTAINER, &req.base, stop_ms);
	}
	case OP_EXEC:
		return call_exec_sync(op);
	case OP_HOOK:
		if (op->step == 0)
			return call_exec_sync(op);
		return call_container_status(op, op->target);
	case OP_RELIST:
		if (op->step == 0)
			return call_list_sandboxes(op, FX_LABEL_MANAGED, op->x->node_name);
		return call_list_containers(op, FX_LABEL_MANAGED, op->x->node_name, NULL);
	case OP_RELIST_STATUS:
		return issue_relist_status(op);
	}
	return -EINVAL;
}

/* ---- the filesystem: log directories -------------------------------------------- */

int fx_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Removes the files of dirfd/name (a directory of files) and the directory. */
static void remove_dir_of_files(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	struct dirent *e;
	/* Bounded by the directory's size; files only (a deeper tree is not ours). */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/*
 * The pod's log directory, <root>/<ns>_<name>_<uid>: its containers' directories
 * and their logs, then itself (the kubelet's garbage collector does this once the
 * pod is gone; here the pod's sandbox removal is that moment).
 */
static void remove_pod_logs(const struct fx_exec *x, const struct pod_ref *pod)
{
	if (!path_safe(pod->name) || !path_safe(pod->namespace_) || !path_safe(pod->uid))
		return;
	char dir[PATH_MAX];
	pod_log_dir(x, pod, dir, sizeof(dir));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			remove_dir_of_files(fd, e->d_name);
		else
			unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	rmdir(dir);
}

/* A container's log file (as the runtime reports it), and its directory if empty;
 * only under the log root. */
static void remove_container_log(const struct fx_exec *x, const char *path)
{
	size_t n = strlen(x->log_root);
	if (path == NULL || strncmp(path, x->log_root, n) != 0 || path[n] != '/' ||
	    strstr(path, "/../") != NULL)
		return;
	unlink(path);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && (size_t)(slash - dir) > n) {
		*slash = '\0';
		rmdir(dir); /* fails while other attempts' logs are there: fine */
	}
}

/* ---- results of each kind's steps ------------------------------------------------ */

static bool is_ok(const struct cri_result *r)
{
	return r->grpc_status == CRI_GRPC_OK && r->response != NULL;
}

static void fail_with(struct op *op, const struct cri_result *r)
{
	op_finish(op, false, class_of(r->error_class), NULL, "%s", r->message);
}

/* Go's error text of a gRPC failure, as the kubelet prints a runtime error. */
static char *go_error(const struct cri_result *r)
{
	char *s = NULL;
	if (asprintf(&s, "rpc error: code = %s desc = %s", go_code_name(r->grpc_status),
	             r->message) < 0)
		return NULL;
	return s;
}

static void set_str(char **dst, const char *src)
{
	char *c = strdup(nz(src));
	if (c == NULL)
		return; /* keeps the old value; the caller checks when it matters */
	free(*dst);
	*dst = c;
}

static void pull_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (is_ok(r)) {
		const Runtime__V1__PullImageResponse *p = (const void *)r->response;
		emit_image(x, op->image, true, p->image_ref, "");
		op_finish(op, true, FSM_ERR_NONE, p->image_ref, NULL);
		return;
	}
	char *err = go_error(r);
	emit_image(x, op->image, false, "", err != NULL ? err : r->message);
	op_finish(op, false, class_of(r->error_class), NULL, "%s", err != NULL ? err : r->message);
	free(err);
}

static void run_sandbox_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (!is_ok(r)) {
			fail_with(op, r);
			return;
		}
		/* Look before act: a sandbox this command made already (prefer a ready one). */
		const Runtime__V1__ListPodSandboxResponse *l = (const void *)r->response;
		const char *found = NULL;
		for (size_t i = 0; i < l->n_items; i++) {
			if (found == NULL ||
			    l->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
				found = l->items[i]->id;
			if (l->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
				break;
		}
		if (found != NULL) {
			set_str(&op->target, found);
			op->step = 2;
		} else {
			char dir[PATH_MAX];
			pod_log_dir(x, &op->pod, dir, sizeof(dir));
			int rc = fx_mkdir_p(dir, 0755);
			if (rc != 0) {
				op_finish(op, false, FSM_ERR_PERMANENT, NULL,
				          "create pod log directory %s: %s", dir, strerror(-rc));
				return;
			}
			op->step = 1;
		}
		op_submit(op);
		return;
	}
	if (op->step == 1) {
		if (!is_ok(r)) {
			fail_with(op, r);
			return;
		}
		const Runtime__V1__RunPodSandboxResponse *p = (const void *)r->response;
		set_str(&op->target, p->pod_sandbox_id);
		if (op->target == NULL) {
			op_finish(op, false, FSM_ERR_TRANSIENT, NULL, "out of memory");
			return;
		}
		op->step = 2;
		op_submit(op);
		return;
	}
	/* The sandbox exists: its IP comes with the observation, before the effect. A
	 * status that failed leaves the observation to the relist. */
	if (is_ok(r)) {
		const Runtime__V1__PodSandboxStatusResponse *s = (const void *)r->response;
		if (s->status != NULL) {
			const Runtime__V1__PodSandboxStatus *st = s->status;
			emit_sandbox(x, op->target,
			             st->metadata != NULL ? st->metadata->uid : op->pod.uid,
			             st->metadata != NULL ? st->metadata->attempt : op->sb_attempt,
			             sandbox_state_of(st->state), sandbox_ip(st), 0);
		}
	}
	op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
}

static void stop_sandbox_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (!is_ok(r) && r->grpc_status != CRI_GRPC_NOT_FOUND) {
		fail_with(op, r);
		return;
	}
	/* The fold learns the stop from the effect: the relist need not report it. */
	struct known *k = known_get(x, op->target);
	if (k != NULL)
		known_set(x, true, op->target, FSM_SANDBOX_NOTREADY, k->pod_uid, "", k->attempt, 0);
	op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
}

static void remove_sandbox_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (r->grpc_status == CRI_GRPC_NOT_FOUND) {
			known_drop(x, op->target);
			op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
			return;
		}
		/* The status only names the log directory: go on without it if it failed. */
		if (is_ok(r)) {
			const Runtime__V1__PodSandboxStatusResponse *s = (const void *)r->response;
			const Runtime__V1__PodSandboxMetadata *md =
			        s->status != NULL ? s->status->metadata : NULL;
			if (md != NULL) {
				set_str(&op->pod.name, md->name);
				set_str(&op->pod.namespace_, md->namespace_);
				set_str(&op->pod.uid, md->uid);
			}
		}
		op->step = 1;
		op_submit(op);
		return;
	}
	if (!is_ok(r) && r->grpc_status != CRI_GRPC_NOT_FOUND) {
		fail_with(op, r);
		return;
	}
	if (op->pod.name != NULL && op->pod.namespace_ != NULL && op->pod.uid != NULL)
		remove_pod_logs(x, &op->pod);
	known_drop(x, op->target);
	op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
}

/* The sandbox's IPs, for status.podIP(s); a host-network pod's are the node's. */
static int sandbox_ips(struct op *op, const Runtime__V1__PodSandboxStatus *st)
{
	const Runtime__V1__PodSandboxNetworkStatus *net = st != NULL ? st->network : NULL;
	struct fsm_buf b = FSM_BUF_INIT;
	const char *ip = net != NULL ? nz(net->ip) : "";
	if (op->host_network && ip[0] == '\0')
		ip = nz(op->x->host_ip);
	fsm_buf_puts(&b, ip);
	for (size_t i = 0; net != NULL && ip[0] != '\0' && i < net->n_additional_ips; i++) {
		if (net->additional_ips[i] == NULL || nz(net->additional_ips[i]->ip)[0] == '\0')
			continue;
		fsm_buf_putc(&b, ',');
		fsm_buf_puts(&b, net->additional_ips[i]->ip);
	}
	free(op->pod_ip);
	free(op->pod_ips);
	op->pod_ip = strdup(ip);
	op->pod_ips = strdup(b.ptr != NULL ? b.ptr : "");
	fsm_buf_free(&b);
	return op->pod_ip != NULL && op->pod_ips != NULL ? 0 : -ENOMEM;
}

/* The resolved environment into the container's spec; CreateContainer next. */
static void op_env_done(void *arg, int rc, struct fx_env *env, const char *error)
{
	struct op *op = arg;
	op->fetch = NULL;
	if (rc != 0) {
		/* error is the kubelet's message: names and keys, never a value */
		op_finish(op, false, FSM_ERR_PERMANENT, NULL, FX_ENV_ERROR_PREFIX "%s", error);
		return;
	}
	struct ctr_spec *s = op->ctr;
	assert(s->n_env == 0 && s->env == NULL);
	if (env->n > 0) {
		s->env = calloc(env->n, sizeof(*s->env));
		if (s->env == NULL) {
			fx_env_free(env);
			op_finish(op, false, FSM_ERR_TRANSIENT, NULL, "out of memory");
			return;
		}
		for (size_t i = 0; i < env->n; i++)
			s->env[i] =
			        (struct kv){.key = env->vars[i].name, .value = env->vars[i].value};
		s->n_env = env->n;
		free(env->vars);
		env->vars = NULL;
		env->n = 0;
	}
	op->step = 2;
	op_submit(op);
}

/* Resolves the container's environment: at once, or after reading its ConfigMaps
 * and Secrets (then op_env_done runs from the API client's callback). */
static void env_begin(struct op *op)
{
	struct fx_exec *x = op->x;
	op->facts = (struct fx_env_facts){
	        .pod_name = op->pod.name,
	        .pod_namespace = op->pod.namespace_,
	        .pod_uid = op->pod.uid,
	        .node_name = x->node_name_cfg,
	        .host_ip = x->host_ip,
	        .pod_ip = op->pod_ip,
	        .pod_ips = op->pod_ips,
	        .labels = jobj(op->pod_meta, "labels"),
	        .annotations = jobj(op->pod_meta, "annotations"),
	        .service_account = fx_jstr(op->pod_meta, "serviceAccountName"),
	};
	int rc = -ENODATA;
	if (x->api != NULL)
		rc = fx_env_fetch_start(x->api, x->objects, op->env_spec, &op->facts, op_env_done,
		                        op, &op->fetch);
	if (rc == 0)
		return;
	if (rc == -ENODATA) {
		struct fx_env env;
		char err[ERROR_BYTES_MAX];
		rc = fx_env_resolve(op->env_spec, &op->facts, NULL, 0, x->api != NULL, &env, err,
		                    sizeof(err));
		op_env_done(op, rc, rc == 0 ? &env : NULL, err);
		return;
	}
	if (rc == -E2BIG) {
		op_finish(op, false, FSM_ERR_PERMANENT, NULL,
		          FX_ENV_ERROR_PREFIX "more than %d ConfigMaps and Secrets",
		          FX_ENV_REFS_MAX);
		return;
	}
	op_finish(op, false, FSM_ERR_TRANSIENT, NULL, "API call not started: %s", strerror(-rc));
}

static void create_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (!is_ok(r)) {
			fail_with(op, r);
			return;
		}
		/* Look before act: the container this command created already. */
		const Runtime__V1__ListContainersResponse *l = (const void *)r->response;
		if (l->n_containers > 0) {
			const char *id = l->containers[0]->id;
			op_finish(op, true, FSM_ERR_NONE, id, NULL);
			return;
		}
		op->step = 1;
		op_submit(op);
		return;
	}
	if (op->step == 1) {
		if (!is_ok(r)) {
			op_finish(op, false, class_of(r->error_class), NULL, "sandbox %s: %s",
			          op->sandbox_id, r->message);
			return;
		}
		/* The sandbox's network mode decides the container's (the body does not
		 * carry it, and after a restart nothing else remembers it). */
		const Runtime__V1__PodSandboxStatusResponse *s = (const void *)r->response;
		const Runtime__V1__PodSandboxStatus *st = s->status;
		op->host_network = st != NULL && st->linux != NULL &&
		                   st->linux->namespaces != NULL &&
		                   st->linux->namespaces->options != NULL &&
		                   st->linux->namespaces->options->network ==
		                           RUNTIME__V1__NAMESPACE_MODE__NODE;
		/* The kubelet makes the container's log directory before it creates it. */
		char dir[PATH_MAX];
		pod_log_dir(x, &op->pod, dir, sizeof(dir));
		size_t n = strlen(dir);
		snprintf(dir + n, sizeof(dir) - n, "/%s", op->ctr->name);
		int rc = fx_mkdir_p(dir, 0755);
		if (rc != 0) {
			op_finish(op, false, FSM_ERR_PERMANENT, NULL,
			          "create container log directory %s: %s", dir, strerror(-rc));
			return;
		}
		if (sandbox_ips(op, st) != 0) {
			op_finish(op, false, FSM_ERR_TRANSIENT, NULL, "out of memory");
			return;
		}
		env_begin(op);
		return;
	}
	if (!is_ok(r)) {
		fail_with(op, r);
		return;
	}
	const Runtime__V1__CreateContainerResponse *c = (const void *)r->response;
	op_finish(op, true, FSM_ERR_NONE, c->container_id, NULL);
}

/* Reports the container as ContainerStatus saw it (when that call worked), then
 * answers the command ok: the observation comes before the effect. */
static void finish_with_status(struct op *op, const struct cri_result *r)
{
	if (is_ok(r)) {
		const Runtime__V1__ContainerStatusResponse *s = (const void *)r->response;
		if (s->status != NULL) {
			struct ctr_obs o = obs_of_status(s->status);
			emit_container(op->x, &o, 0);
		}
	}
	op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
}

static void start_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (r->grpc_status == CRI_GRPC_NOT_FOUND) {
			fail_with(op, r);
			return;
		}
		/* Look before act: a container that runs, or ran, was started already. */
		const Runtime__V1__ContainerStatusResponse *s =
		        is_ok(r) ? (const void *)r->response : NULL;
		const Runtime__V1__ContainerStatus *st = s != NULL ? s->status : NULL;
		if (st != NULL && (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
		                   (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED &&
		                    st->started_at > 0))) {
			struct ctr_obs o = obs_of_status(st);
			emit_container(x, &o, 0);
			op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
			return;
		}
		op->step = 1;
		op_submit(op);
		return;
	}
	if (op->step == 1) {
		if (!is_ok(r) && r->grpc_status != CRI_GRPC_NOT_FOUND) {
			/* The failure may not be the runtime's answer (a response cut before
			 * its grpc-status, a deadline): the container may have started all
			 * the same. Look after acting, as before: if it runs or ran, the
			 * start succeeded, and the fold must not begin another attempt. */
			op->start_error = strdup(nz(r->message));
			op->start_class = class_of(r->error_class);
			op->step = 3;
			op_submit(op);
			return;
		}
		if (!is_ok(r)) {
			fail_with(op, r);
			return;
		}
		op->step = 2;
		op_submit(op);
		return;
	}
	if (op->step == 3) {
		const Runtime__V1__ContainerStatusResponse *s =
		        is_ok(r) ? (const void *)r->response : NULL;
		const Runtime__V1__ContainerStatus *st = s != NULL ? s->status : NULL;
		if (st != NULL && (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
		                   (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED &&
		                    st->started_at > 0))) {
			struct ctr_obs o = obs_of_status(st);
			emit_container(x, &o, 0);
			op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
			return;
		}
		op_finish(op, false, op->start_class, NULL, "%s",
		          op->start_error != NULL ? op->start_error : "StartContainer failed");
		return;
	}
	finish_with_status(op, r);
}

static void stop_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (r->grpc_status == CRI_GRPC_NOT_FOUND) {
			known_drop(x, op->target);
			op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
			return;
		}
		if (!is_ok(r)) {
			fail_with(op, r);
			return;
		}
		op->step = 1;
		op_submit(op);
		return;
	}
	/* How it ended comes before the effect; a failed status leaves it to the fold's
	 * default (killed at the end of the grace period). */
	finish_with_status(op, r);
}

static void remove_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	if (op->step == 0) {
		if (r->grpc_status == CRI_GRPC_NOT_FOUND) {
			known_drop(x, op->target);
			op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
			return;
		}
		if (is_ok(r)) {
			const Runtime__V1__ContainerStatusResponse *s = (const void *)r->response;
			if (s->status != NULL && s->status->log_path[0] != '\0')
				set_str(&op->log_path, s->status->log_path);
		}
		op->step = 1;
		op_submit(op);
		return;
	}
	if (!is_ok(r) && r->grpc_status != CRI_GRPC_NOT_FOUND) {
		fail_with(op, r);
		return;
	}
	if (op->log_path != NULL)
		remove_container_log(x, op->log_path);
	known_drop(x, op->target);
	op_finish(op, true, FSM_ERR_NONE, op->target, NULL);
}

/* "/bin/sh -c exit 3": Go's strings.Join(cmd, " "). */
static void put_joined(struct fsm_buf *b, char *const *argv, size_t argc)
{
	for (size_t i = 0; i < argc; i++) {
		if (i > 0)
			fsm_buf_putc(b, ' ');
		fsm_buf_puts(b, argv[i]);
	}
}

static size_t cut(size_t len)
{
	return len > FX_EXEC_OUTPUT_BYTES_MAX ? FX_EXEC_OUTPUT_BYTES_MAX : len;
}

/* The runtime's error for a command that exited non-zero (the kubelet's
 * CodeExitError): "command '<cmd>' exited with <n>: <stderr>". */
static char *exit_error(const struct op *op, const Runtime__V1__ExecSyncResponse *e)
{
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "command '");
	put_joined(&b, op->argv, op->argc);
	char n[32];
	snprintf(n, sizeof(n), "' exited with %" PRId32 ": ", e->exit_code);
	fsm_buf_puts(&b, n);
	fsm_buf_append(&b, e->stderr.data, cut(e->stderr.len));
	return b.ptr;
}

static void exec_result(struct op *op, const struct cri_result *r)
{
	if (!is_ok(r)) {
		char *err = go_error(r);
		op_finish(op, false, class_of(r->error_class), NULL, "%s",
		          err != NULL ? err : r->message);
		free(err);
		return;
	}
	const Runtime__V1__ExecSyncResponse *e = (const void *)r->response;
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "{\"exit_code\":");
	fsm_buf_i64(&b, e->exit_code);
	fsm_buf_puts(&b, ",\"stdout\":");
	fsm_buf_json_strn(&b, (const char *)e->stdout.data, cut(e->stdout.len));
	fsm_buf_puts(&b, ",\"stderr\":");
	fsm_buf_json_strn(&b, (const char *)e->stderr.data, cut(e->stderr.len));
	fsm_buf_putc(&b, '}');
	if (e->exit_code == 0) {
		op_finish(op, true, FSM_ERR_NONE, b.ptr, NULL);
	} else {
		char *err = exit_error(op, e);
		op_finish(op, false, FSM_ERR_PERMANENT, b.ptr, "%s", nz(err));
		free(err);
	}
	fsm_buf_free(&b);
}

/*
 * The kubelet's message for a failed exec hook (handlers.go):
 *   Exec lifecycle hook ([cmd...]) for Container "c" in Pod "name_ns(uid)" failed -
 *   error: <err>, message: "<output>"
 */
static void hook_fail(struct op *op, const char *pod_name, const char *pod_ns)
{
	struct fsm_buf b = FSM_BUF_INIT;
	fsm_buf_puts(&b, "Exec lifecycle hook ([");
	put_joined(&b, op->argv, op->argc);
	fsm_buf_puts(&b, "]) for Container ");
	fx_go_quote(&b, nz(op->container), strlen(nz(op->container)));
	fsm_buf_puts(&b, " in Pod ");
	struct fsm_buf pod = FSM_BUF_INIT;
	if (pod_name != NULL && pod_ns != NULL) {
		fsm_buf_puts(&pod, pod_name);
		fsm_buf_putc(&pod, '_');
		fsm_buf_puts(&pod, pod_ns);
	}
	fsm_buf_putc(&pod, '(');
	fsm_buf_puts(&pod, nz(op->pod_uid));
	fsm_buf_putc(&pod, ')');
	fx_go_quote(&b, pod.ptr, pod.len);
	fsm_buf_free(&pod);
	fsm_buf_puts(&b, " failed - error: ");
	fsm_buf_puts(&b, nz(op->exec_detail));
	fsm_buf_puts(&b, ", message: ");
	fx_go_quote(&b, nz(op->exec_output), strlen(nz(op->exec_output)));
	op_finish(op, false, op->err_class, NULL, "%s", b.ptr != NULL ? b.ptr : "hook failed");
	fsm_buf_free(&b);
}

static void hook_result(struct op *op, const struct cri_result *r)
{
	if (op->step == 0) {
		if (is_ok(r)) {
			const Runtime__V1__ExecSyncResponse *e = (const void *)r->response;
			if (e->exit_code == 0) {
				op_finish(op, true, FSM_ERR_NONE, NULL, NULL);
				return;
			}
			op->exec_detail = exit_error(op, e);
			/* RunInContainer's output: stdout and stderr together. */
			struct fsm_buf out = FSM_BUF_INIT;
			fsm_buf_append(&out, e->stdout.data, cut(e->stdout.len));
			fsm_buf_append(&out, e->stderr.data, cut(e->stderr.len));
			op->exec_output = out.ptr;
			op->err_class = FSM_ERR_PERMANENT;
		} else {
			op->exec_detail = go_error(r);
			op->err_class = class_of(r->error_class);
		}
		/* The pod's name for the message, from the container's labels. */
		op->step = 1;
		op_submit(op);
		return;
	}
	const Runtime__V1__ContainerStatusResponse *s = is_ok(r) ? (const void *)r->response : NULL;
	if (s != NULL && s->status != NULL)
		hook_fail(op, status_label(s->status, FX_LABEL_POD_NAME),
		          status_label(s->status, FX_LABEL_POD_NAMESPACE));
	else
		hook_fail(op, NULL, NULL);
}

/* ---- relist --------------------------------------------------------------------- */

static void item_free(struct rl_item *it)
{
	free(it->id);
	free(it->pod_uid);
	free(it->name);
	free(it->ip);
	free(it->reason);
	free(it->message);
}

static void relist_free(struct relist *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < rl->n; i++)
		item_free(&rl->items[i]);
	free(rl->items);
	free(rl);
}

static struct rl_item *item_add(struct relist *rl, bool sandbox, const char *id,
                                const char *pod_uid, const char *name, uint32_t attempt, int state)
{
	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? rl->cap * 2 : 32;
		struct rl_item *v = realloc(rl->items, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		rl->items = v;
		rl->cap = cap;
	}
	struct rl_item *it = &rl->items[rl->n];
	memset(it, 0, sizeof(*it));
	it->sandbox = sandbox;
	it->id = strdup(nz(id));
	it->pod_uid = strdup(nz(pod_uid));
	it->name = strdup(nz(name));
	it->attempt = attempt;
	it->state = state;
	if (it->id == NULL || it->pod_uid == NULL || it->name == NULL) {
		item_free(it);
		return NULL;
	}
	rl->n++;
	return it;
}

/* Sandboxes first, then by pod, name, attempt and id: a stable, readable order. */
static int item_cmp(const void *a, const void *b)
{
	const struct rl_item *p = a, *q = b;
	if (p->sandbox != q->sandbox)
		return p->sandbox ? -1 : 1;
	int c = strcmp(p->pod_uid, q->pod_uid);
	if (c == 0)
		c = strcmp(p->name, q->name);
	if (c == 0 && p->attempt != q->attempt)
		c = p->attempt < q->attempt ? -1 : 1;
	if (c == 0)
		c = strcmp(p->id, q->id);
	return c;
}

static void relist_end(struct fx_exec *x, int grpc_status)
{
	struct relist *rl = x->rl;
	assert(rl != NULL);
	x->stats.relists++;
	x->stats.relist_last_status = grpc_status;
	if (grpc_status != CRI_GRPC_OK)
		x->stats.relist_failures++;
	x->rl = NULL;
	relist_free(rl);
}

/* A container or sandbox gone from the lists since it was last reported. */
static void report_missing(struct fx_exec *x, const struct known *k)
{
	if (k->sandbox && k->state == FSM_SANDBOX_READY) {
		struct fsm_event ev = {.kind = FSM_EV_CRI_SANDBOX};
		ev.u.cri_sandbox = (struct fsm_ev_cri_sandbox){
		        .pod_uid = nz(k->pod_uid),
		        .attempt = k->attempt,
		        .id = k->id,
		        .state = FSM_SANDBOX_NOTREADY,
		        .ip = "",
		};
		emit(x, &ev);
		x->stats.relist_events++;
	} else if (!k->sandbox && k->state == FSM_CONTAINER_RUNNING) {
		char msg[256];
		snprintf(msg, sizeof(msg), "container %s is no longer known to the runtime", k->id);
		struct fsm_event ev = {.kind = FSM_EV_CRI_CONTAINER};
		ev.u.cri_container = (struct fsm_ev_cri_container){
		        .pod_uid = nz(k->pod_uid),
		        .name = nz(k->name),
		        .attempt = k->attempt,
		        .id = k->id,
		        .state = FSM_CONTAINER_UNKNOWN,
		        .reason = "ContainerMissing",
		        .message = msg,
		};
		emit(x, &ev);
		x->stats.relist_events++;
	}
}

/* All statuses are in: report what changed, then what went missing. */
static void relist_finish(struct fx_exec *x)
{
	struct relist *rl = x->rl;
	assert(rl != NULL && rl->pending == 0);
	for (size_t i = 0; i < rl->n; i++) {
		struct rl_item *it = &rl->items[i];
		struct known *k = known_get(x, it->id);
		if (k != NULL)
			k->seen = rl->number;
		if (it->skip || !it->report)
			continue;
		/* A command reported this id after the lists were taken: it knows better. */
		if (k != NULL && (k->version > rl->version0 || k->state == it->state))
			continue;
		if (it->sandbox) {
			emit_sandbox(x, it->id, it->pod_uid, it->attempt,
			             (enum fsm_sandbox_state)it->state, it->ip, rl->number);
		} else {
			struct ctr_obs o = {
			        .id = it->id,
			        .pod_uid = it->pod_uid,
			        .name = it->name,
			        .attempt = it->attempt,
			        .state = (enum fsm_container_state)it->state,
			        .exit_code = it->exit_code,
			        .reason = it->reason,
			        .message = it->message,
			        .started_at_ms = it->started_at_ms,
			        .finished_at_ms = it->finished_at_ms,
			};
			emit_container(x, &o, rl->number);
		}
		x->stats.relist_events++;
	}
	/* The sweep: ids reported before, listed neither now nor touched since. */
	size_t w = 0;
	for (size_t i = 0; i < x->n_known; i++) {
		struct known *k = x->known[i];
		if (k->seen == rl->number || k->version > rl->version0) {
			x->known[w++] = k;
			continue;
		}
		report_missing(x, k);
		known_free(k);
	}
	x->n_known = w;
	relist_end(x, CRI_GRPC_OK);
}

static void relist_plan(struct fx_exec *x)
{
	struct relist *rl = x->rl;
	if (rl->n > 1)
		qsort(rl->items, rl->n, sizeof(rl->items[0]), item_cmp);
	/* Held while status calls are spawned, so that none can finish the relist early. */
	rl->pending = 1;
	for (size_t i = 0; i < rl->n; i++) {
		struct rl_item *it = &rl->items[i];
		const struct known *k = known_get(x, it->id);
		if (k != NULL && (k->version > rl->version0 || k->state == it->state))
			continue;
		it->report = true;
		it->need_status = it->sandbox ? it->state == FSM_SANDBOX_READY
		                              : it->state == FSM_CONTAINER_RUNNING ||
		                                        it->state == FSM_CONTAINER_EXITED;
		if (!it->need_status)
			continue;
		if (x->ops_live >= x->calls_max + x->queue_max) {
			it->skip = true; /* the bound: the next relist asks again */
			continue;
		}
		struct op *op = op_new(x, OP_RELIST_STATUS);
		if (op == NULL) {
			it->skip = true;
			continue;
		}
		op->rl = rl;
		op->item = i;
		rl->pending++;
		op_submit(op);
	}
	if (--rl->pending == 0)
		relist_finish(x);
}

static void relist_result(struct op *op, const struct cri_result *r)
{
	struct fx_exec *x = op->x;
	struct relist *rl = op->rl;
	assert(rl == x->rl);
	if (!is_ok(r)) {
		op_release(op);
		relist_end(x, r->grpc_status != CRI_GRPC_OK ? r->grpc_status : CRI_GRPC_INTERNAL);
		return;
	}
	bool nomem = false;
	if (op->step == 0) {
		const Runtime__V1__ListPodSandboxResponse *l = (const void *)r->response;
		for (size_t i = 0; i < l->n_items && !nomem; i++) {
			const Runtime__V1__PodSandbox *s = l->items[i];
			nomem = item_add(rl, true, s->id, s->metadata ? s->metadata->uid : "", "",
			                 s->metadata ? s->metadata->attempt : 0,
			                 (int)sandbox_state_of(s->state)) == NULL;
		}
		if (!nomem) {
			op->step = 1;
			op_submit(op);
			return;
		}
	} else {
		const Runtime__V1__ListContainersResponse *l = (const void *)r->response;
		for (size_t i = 0; i < l->n_containers && !nomem; i++) {
			const Runtime__V1__Container *c = l->containers[i];
			nomem = item_add(rl, false, c->id, list_label(c, FX_LABEL_POD_UID),
			                 c->metadata ? c->metadata->name : "",
			                 c->metadata ? c->metadata->attempt : 0,
			                 (int)container_state_of(c->state)) == NULL;
		}
	}
	op_release(op);
	if (nomem)
		relist_end(x, CRI_GRPC_RESOURCE_EXHAUSTED);
	else
		relist_plan(x);
}

static int issue_relist_status(struct op *op)
{
	const struct rl_item *it = &op->rl->items[op->item];
	return it->sandbox ? call_sandbox_status(op, it->id) : call_container_status(op, it->id);
}

static void relist_status_done(struct op *op)
{
	struct fx_exec *x = op->x;
	struct relist *rl = op->rl;
	op_release(op);
	assert(rl->pending > 0);
	if (--rl->pending == 0)
		relist_finish(x);
}

static void relist_status_result(struct op *op, const struct cri_result *r)
{
	struct rl_item *it = &op->rl->items[op->item];
	if (!is_ok(r)) {
		it->skip = true; /* gone meanwhile, or the runtime is busy: next time */
	} else if (it->sandbox) {
		const Runtime__V1__PodSandboxStatusResponse *s = (const void *)r->response;
		if (s->status == NULL) {
			it->skip = true;
		} else {
			it->state = (int)sandbox_state_of(s->status->state);
			set_str(&it->ip, sandbox_ip(s->status));
		}
	} else {
		const Runtime__V1__ContainerStatusResponse *s = (const void *)r->response;
		if (s->status == NULL) {
			it->skip = true;
		} else {
			struct ctr_obs o = obs_of_status(s->status);
			it->state = (int)o.state;
			it->exit_code = o.exit_code;
			set_str(&it->reason, o.reason);
			set_str(&it->message, o.message);
			it->started_at_ms = o.started_at_ms;
			it->finished_at_ms = o.finished_at_ms;
		}
	}
	relist_status_done(op);
}

/* ---- dispatch of results ---------------------------------------------------------- */

static void op_on_result(struct op *op, const struct cri_result *res)
{
	switch (op->kind) {
	case OP_PULL:
		pull_result(op, res);
		return;
	case OP_RUN_SANDBOX:
		run_sandbox_result(op, res);
		return;
	case OP_STOP_SANDBOX:
		stop_sandbox_result(op, res);
		return;
	case OP_REMOVE_SANDBOX:
		remove_sandbox_result(op, res);
		return;
	case OP_CREATE:
		create_result(op, res);
		return;
	case OP_START:
		start_result(op, res);
		return;
	case OP_STOP:
		stop_result(op, res);
		return;
	case OP_REMOVE:
		remove_result(op, res);
		return;
	case OP_EXEC:
		exec_result(op, res);
		return;
	case OP_HOOK:
		hook_result(op, res);
		return;
	case OP_RELIST:
		relist_result(op, res);
		return;
	case OP_RELIST_STATUS:
		relist_status_result(op, res);
		return;
	}
	assert(!"unknown op kind");
}

/* A call that could not start (the client's bound, memory, curl): transient. */
static void op_abort(struct op *op, int rc)
{
	struct fx_exec *x = op->x;
	switch (op->kind) {
	case OP_RELIST:
		op_release(op);
		relist_end(x, CRI_GRPC_UNAVAILABLE);
		return;
	case OP_RELIST_STATUS:
		op->rl->items[op->item].skip = true;
		relist_status_done(op);
		return;
	default:
		op_finish(op, false, FSM_ERR_TRANSIENT, NULL, "CRI call not started: %s",
		          cri_strerror(rc));
	}
}

/* ---- dispatch ------------------------------------------------------------------- */

static bool kind_of(enum fsm_cmd_kind k, enum op_kind *out)
{
	switch (k) {
	case FSM_CMD_CRI_PULL_IMAGE:
		*out = OP_PULL;
		return true;
	case FSM_CMD_CRI_RUN_SANDBOX:
		*out = OP_RUN_SANDBOX;
		return true;
	case FSM_CMD_CRI_STOP_SANDBOX:
		*out = OP_STOP_SANDBOX;
		return true;
	case FSM_CMD_CRI_REMOVE_SANDBOX:
		*out = OP_REMOVE_SANDBOX;
		return true;
	case FSM_CMD_CRI_CREATE_CONTAINER:
		*out = OP_CREATE;
		return true;
	case FSM_CMD_CRI_START_CONTAINER:
		*out = OP_START;
		return true;
	case FSM_CMD_CRI_STOP_CONTAINER:
		*out = OP_STOP;
		return true;
	case FSM_CMD_CRI_REMOVE_CONTAINER:
		*out = OP_REMOVE;
		return true;
	case FSM_CMD_CRI_EXEC_SYNC:
		*out = OP_EXEC;
		return true;
	case FSM_CMD_HOOK_RUN:
		*out = OP_HOOK;
		return true;
	default:
		return false;
	}
}

enum prep { PREP_GO, PREP_FAIL, PREP_NOTHING };

/* Copies what the op needs from the command and its body; PREP_FAIL with err. */
static enum prep prepare(struct op *op, const struct fsm_command *c, struct json_object *body,
                         char *err, size_t err_len)
{
	op->attempt = c->attempt;
	op->timeout_s = c->timeout_s;
	switch (op->kind) {
	case OP_PULL:
		if (c->image == NULL || c->image[0] == '\0') {
			snprintf(err, err_len, "no image to pull");
			return PREP_FAIL;
		}
		op->image = strdup(c->image);
		break;
	case OP_RUN_SANDBOX:
		if (pod_ref_parse(body, &op->pod, err, err_len) != 0 ||
		    ports_parse(body, op, err, err_len) != 0)
			return PREP_FAIL;
		if (!path_safe(op->pod.name) || !path_safe(op->pod.namespace_) ||
		    !path_safe(op->pod.uid)) {
			snprintf(err, err_len, "pod %s/%s (%s) cannot name a log directory",
			         op->pod.namespace_, op->pod.name, op->pod.uid);
			return PREP_FAIL;
		}
		op->sb_attempt = (uint32_t)fx_jint(body, "attempt", c->attempt);
		op->host_network = fx_jbool(body, "host_network");
		op->hostname = dup_or_null(fx_jstr(body, "hostname"));
		break;
	case OP_STOP_SANDBOX:
	case OP_REMOVE_SANDBOX:
	case OP_STOP:
	case OP_REMOVE:
		op->target = strdup(target_of(c, body));
		if (op->target != NULL && op->target[0] == '\0')
			return PREP_NOTHING; /* never created: nothing to stop or remove */
		break;
	case OP_CREATE: {
		const char *sb = fx_jstr(body, "sandbox_id");
		if (sb == NULL || sb[0] == '\0') {
			snprintf(err, err_len, "body: sandbox_id required");
			return PREP_FAIL;
		}
		if (pod_ref_parse(body, &op->pod, err, err_len) != 0 ||
		    ctr_spec_parse(body, &op->ctr, err, err_len) != 0)
			return PREP_FAIL;
		if (!path_safe(op->pod.name) || !path_safe(op->pod.namespace_) ||
		    !path_safe(op->pod.uid)) {
			snprintf(err, err_len, "pod %s/%s (%s) cannot name a log directory",
			         op->pod.namespace_, op->pod.name, op->pod.uid);
			return PREP_FAIL;
		}
		/* A volume's mount is relative to the pod's directory. */
		for (size_t i = 0; i < op->ctr->n_mounts; i++) {
			struct mount *m = &op->ctr->mounts[i];
			if (m->host_path[0] == '/')
				continue;
			char path[4096];
			if (fx_volume_host_path(op->x->root_dir, op->pod.uid, m->host_path, path,
			                        sizeof(path)) != 0) {
				snprintf(err, err_len, "body: mount %s: path too long",
				         m->container_path);
				return PREP_FAIL;
			}
			char *dup = strdup(path);
			if (dup == NULL) {
				snprintf(err, err_len, "out of memory");
				return PREP_FAIL;
			}
			free(m->host_path);
			m->host_path = dup;
		}
		/* Standalone, a ConfigMap or Secret cannot be read: fail now, as the
		 * kubelet without a client does. */
		bool secret = false;
		const char *ref = fx_env_first_ref(fx_jmember(body, "container"), &secret);
		if (op->x->api == NULL && ref != NULL) {
			snprintf(err, err_len,
			         FX_ENV_ERROR_PREFIX "no API server to read %s \"%s\" from",
			         secret ? "secret" : "configmap", ref);
			return PREP_FAIL;
		}
		op->env_spec = json_object_get(fx_jmember(body, "container"));
		op->pod_meta = json_object_get(jobj(body, "pod_meta"));
		op->sandbox_id = strdup(sb);
		op->sb_attempt = (uint32_t)fx_jint(body, "sandbox_attempt", 0);
		op->image = strdup(nz(fx_jstr(body, "image_ref")));
		break;
	}
	case OP_START:
		op->target = strdup(target_of(c, body));
		if (op->target != NULL && op->target[0] == '\0') {
			snprintf(err, err_len, "body: id of the container to start required");
			return PREP_FAIL;
		}
		break;
	case OP_EXEC:
	case OP_HOOK: {
		const char *id = fx_jstr(body, "container_id");
		if (id == NULL || id[0] == '\0') {
			snprintf(err, err_len, "body: container_id required");
			return PREP_FAIL;
		}
		op->target = strdup(id);
		struct json_object *argv_of = body;
		const char *key = fx_jmember(body, "command") != NULL ? "command" : "cmd";
		if (op->kind == OP_HOOK) {
			argv_of = fx_jmember(fx_jmember(body, "spec"), "exec");
			key = "command";
			op->hook = dup_or_null(fx_jstr(body, "hook"));
		}
		if (jstrv(argv_of, key, &op->argv, &op->argc, err, err_len) != 0)
			return PREP_FAIL;
		if (op->argc == 0) {
			snprintf(err, err_len, "no command to run");
			return PREP_FAIL;
		}
		break;
	}
	case OP_RELIST:
	case OP_RELIST_STATUS:
		assert(!"not a command");
		return PREP_FAIL;
	}
	return PREP_GO;
}

/* A hook this executor runs: its spec is {"exec": {...}} (or unreadable: then it
 * fails here, since no other executor could read it either). */
static bool is_exec_hook(struct json_object *body)
{
	if (body == NULL)
		return true;
	struct json_object *spec = fx_jmember(body, "spec");
	return spec == NULL || fx_jmember(spec, "exec") != NULL;
}

int fx_exec_dispatch(struct fx_exec *x, const struct fsm_command *c)
{
	if (x == NULL || c == NULL || c->id == NULL || c->id[0] == '\0')
		return -EINVAL;
	assert(!x->in_dispatch);
	enum op_kind kind;
	if (!kind_of(c->kind, &kind))
		return -ENOTSUP;
	struct json_object *body = body_parse(c);
	bool body_bad = c->body != NULL && c->body_len > 0 && body == NULL;
	if (kind == OP_HOOK && !is_exec_hook(body)) {
		json_object_put(body);
		return -ENOTSUP;
	}
	struct op *op = op_new(x, kind);
	if (op == NULL) {
		json_object_put(body);
		return -ENOMEM;
	}
	op->cmd_id = strdup(c->id);
	op->pod_uid = strdup(nz(c->pod_uid));
	op->container = strdup(nz(c->container));
	if (op->cmd_id == NULL || op->pod_uid == NULL || op->container == NULL) {
		op_release(op);
		json_object_put(body);
		return -ENOMEM;
	}

	x->in_dispatch = true;
	char err[ERROR_BYTES_MAX] = "";
	unsigned held_max = x->calls_max + x->queue_max;
	if (x->ops_live > held_max) {
		x->stats.queue_full++;
		op_finish(op, false, FSM_ERR_TRANSIENT, NULL,
		          "executor queue full: %u commands held", held_max);
	} else if (body_bad) {
		op_finish(op, false, FSM_ERR_PERMANENT, NULL, "%s: body is not JSON", c->id);
	} else {
		switch (prepare(op, c, body, err, sizeof(err))) {
		case PREP_FAIL:
			op_finish(op, false, FSM_ERR_PERMANENT, NULL, "%s", err);
			break;
		case PREP_NOTHING:
			op_finish(op, true, FSM_ERR_NONE, "", NULL);
			break;
		case PREP_GO:
			op_submit(op);
			break;
		}
	}
	x->in_dispatch = false;
	json_object_put(body);
	if (op->deferred) {
		int rc = arm_timer(x);
		if (rc != 0) {
			op_release(op);
			return rc;
		}
	}
	x->stats.dispatched++;
	return 0;
}

int fx_exec_relist(struct fx_exec *x)
{
	if (x == NULL)
		return -EINVAL;
	if (x->rl != NULL)
		return -EBUSY;
	struct relist *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -ENOMEM;
	struct op *op = op_new(x, OP_RELIST);
	if (op == NULL) {
		free(rl);
		return -ENOMEM;
	}
	rl->number = ++x->relists_started;
	rl->version0 = x->version;
	x->rl = rl;
	op->rl = rl;
	op_submit(op);
	return 0;
}

/* ---- life ----------------------------------------------------------------------- */

static int strv_copy(char ***out, const char *const *in, size_t n)
{
	*out = NULL;
	if (n == 0)
		return 0;
	char **v = calloc(n, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(nz(in[i]));
		if (v[i] == NULL) {
			strv_free(v, i);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

int fx_exec_new(struct fx_exec **out, struct cri_client *cri, const struct fx_exec_config *cfg,
                struct fx_sink sink)
{
	if (out == NULL || cri == NULL || cfg == NULL || cfg->reactor == NULL ||
	    sink.event == NULL || (cfg->n_dns_servers > 0 && cfg->dns_servers == NULL) ||
	    (cfg->n_dns_searches > 0 && cfg->dns_searches == NULL))
		return -EINVAL;
	*out = NULL;
	struct fx_exec *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->cri = cri;
	x->reactor = cfg->reactor;
	x->sink = sink;
	const char *root = cfg->log_root != NULL && cfg->log_root[0] != '\0' ? cfg->log_root
	                                                                     : FX_EXEC_LOG_ROOT;
	x->log_root = strdup(root);
	x->root_dir = strdup(cfg->root_dir != NULL && cfg->root_dir[0] != '\0' ? cfg->root_dir
	                                                                       : FX_VOLUME_ROOT_DEFAULT);
	/* "/var/log/pods/" and "/var/log/pods" name the same root. */
	if (x->log_root != NULL) {
		size_t n = strlen(x->log_root);
		while (n > 1 && x->log_root[n - 1] == '/')
			x->log_root[--n] = '\0';
	}
	if (cfg->cgroup_parent != NULL && cfg->cgroup_parent[0] != '\0')
		x->cgroup_parent = strdup(cfg->cgroup_parent);
	int rc = 0;
	x->node_name = strdup(cfg->node_name != NULL && cfg->node_name[0] != '\0' ? cfg->node_name
	                                                                          : "true");
	x->api = cfg->api;
	x->objects = cfg->objects;
	if (cfg->node_name != NULL && cfg->node_name[0] != '\0' &&
	    (x->node_name_cfg = strdup(cfg->node_name)) == NULL)
		rc = -ENOMEM;
	if (cfg->host_ip != NULL && cfg->host_ip[0] != '\0' &&
	    (x->host_ip = strdup(cfg->host_ip)) == NULL)
		rc = -ENOMEM;
	x->calls_max = cfg->calls_max ? cfg->calls_max : FX_EXEC_CALLS_MAX;
	/* The client's own bound is shared with its other users: stay under it. */
	if (x->calls_max > CRI_CALLS_MAX)
		x->calls_max = CRI_CALLS_MAX;
	x->queue_max = cfg->queue_max ? cfg->queue_max : FX_EXEC_QUEUE_MAX;
	x->n_dns_servers = cfg->n_dns_servers;
	x->n_dns_searches = cfg->n_dns_searches;
	if (x->log_root == NULL || x->root_dir == NULL || x->node_name == NULL ||
	    (cfg->cgroup_parent != NULL && cfg->cgroup_parent[0] != '\0' &&
	     x->cgroup_parent == NULL))
		rc = -ENOMEM;
	if (rc == 0)
		rc = strv_copy(&x->dns_servers, cfg->dns_servers, cfg->n_dns_servers);
	if (rc == 0)
		rc = strv_copy(&x->dns_searches, cfg->dns_searches, cfg->n_dns_searches);
	if (rc != 0) {
		fx_exec_free(x);
		return rc;
	}
	x->timer_id = io_timer_id_alloc(x->reactor);
	*out = x;
	return 0;
}

void fx_exec_stats(const struct fx_exec *x, struct fx_exec_stats *out)
{
	*out = x->stats;
	out->ops = x->ops_live;
	out->calls_in_flight = x->in_flight;
	out->calls_waiting = x->waiting;
	out->known = (unsigned)x->n_known;
}

void fx_exec_free(struct fx_exec *x)
{
	if (x == NULL)
		return;
	if (x->timer_armed)
		io_timer_cancel(x->reactor, x->timer_id);
	struct op *op = x->ops;
	while (op != NULL) {
		struct op *next = op->next;
		op_free(op);
		op = next;
	}
	relist_free(x->rl);
	for (size_t i = 0; i < x->n_known; i++)
		known_free(x->known[i]);
	free(x->known);
	free(x->log_root);
	free(x->root_dir);
	free(x->cgroup_parent);
	free(x->node_name);
	free(x->node_name_cfg);
	free(x->host_ip);
	strv_free(x->dns_servers, x->n_dns_servers);
	strv_free(x->dns_searches, x->n_dns_searches);
	free(x);
}
