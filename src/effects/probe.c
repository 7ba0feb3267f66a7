/*
 * effects/probe.c — the prober (see probe.h): periodic probes and one-shot hooks.
 *
 * Data flow: fx_probe_dispatch turns probe.start into a `struct probe` (the
 * parsed handler, the thresholds, the fold's two counters as the executor
 * expects them, a reactor timer for the period) and hook.run into a run of its
 * own. Each execution of a handler is a `struct run` in a fixed table of slots:
 * it owns whatever is in flight (a curl easy handle, a socket and its poll, a
 * reactor timer, an ExecSync call) and ends in run_finish(), which settles a
 * result: for a probe, the quiet rule decides whether it becomes a `probe`
 * event; for a hook, it becomes the command's `effect`.
 *
 * Nothing is reported from inside fx_probe_dispatch: the effects of the
 * commands are queued and sent by a reactor timer on the next turn, and a run
 * whose outcome is known as it starts (a refused connect, a bad port) keeps it
 * until its slot's timer fires on the next turn.
 *
 * Why tcpSocket does not use io_connect(): a connect handed to the reactor
 * cannot be withdrawn, so a probe.stop (or fx_probe_free) during the connect
 * would leave the reactor a callback into freed memory. A non-blocking
 * connect() with io_poll_add() and a deadline timer can be dropped at any time
 * (io_poll_del and io_timer_cancel promise no later callback).
 *
 * ExecSync calls cannot be cancelled either (cri_call has no handle): a probe
 * stopped while one is in flight leaves its run behind, orphaned, to be freed
 * by the call's callback, whose result is then dropped.
 */
#include "effects/probe.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsm/model.h" /* enum fsm_handler_kind */

#define BUCKETS           4096 /* probe table: chains of FX_PROBES_MAX / BUCKETS on average */
#define SLOTS_MAX         (FX_PROBE_RUNS_MAX + FX_HOOKS_MAX)
/* ExecSync's own timeout is the handler's; the call's deadline leaves the runtime
 * this much more to kill the process and answer DEADLINE_EXCEEDED itself. */
#define EXEC_MARGIN_MS    5000u
#define HEALTH_PATH       "/grpc.health.v1.Health/Check"
/* A service name's length fits a 2-byte varint in the request we encode by hand. */
#define SERVICE_BYTES_MAX 1024

_Static_assert(FX_PROBES_MAX <= IO_TIMERS_MAX / 4, "probe timers leave the reactor room");

enum outcome {
	OUT_OK,
	OUT_FAIL,
	OUT_TIMEOUT,
	OUT_UNKNOWN, /* no result (a runtime error): a probe reports nothing */
};

struct result {
	enum outcome out;
	enum fsm_error_class cls; /* hooks, OUT_UNKNOWN: the runtime's class */
	char msg[FX_PROBE_MESSAGE_MAX];
};

/* A probe's or a hook's handler, parsed once from the spec. */
struct handler {
	enum fsm_handler_kind kind;
	char **argv; /* exec: NULL-terminated */
	size_t argc;
	char *host; /* httpGet, tcpSocket, grpc: as dialled, IPv6 without brackets */
	uint16_t port;
	char *path;                   /* httpGet, as the spec has it (messages) */
	char *url;                    /* httpGet */
	bool https;                   /* httpGet */
	struct curl_slist *headers;   /* httpGet: spec.httpHeaders as curl lines */
	char *service;                /* grpc */
	uint64_t sleep_ms;            /* sleep */
	struct sockaddr_storage addr; /* tcpSocket */
	socklen_t addrlen;
};

struct fx_probe;
struct run;

struct probe {
	struct probe *next; /* hash chain */
	struct fx_probe *x;
	char *id, *pod_uid, *container, *container_id;
	enum fsm_probe_type type;
	struct handler h;
	uint64_t period_ms, timeout_ms;
	uint64_t due_ms, timer_id;
	uint32_t success_threshold, failure_threshold;
	uint32_t successes, failures; /* the fold's counters, saturating at the thresholds */
	struct run *run;              /* in flight, or NULL */
};

struct hook {
	char *id, *pod_uid, *container, *container_id, *name;
	struct handler h;
};

struct run {
	struct fx_probe *x;
	unsigned slot;
	uint64_t timer_id; /* the slot's: deadline, sleep, or an outcome known at start */
	bool timer_set;
	bool is_hook;
	struct probe *probe; /* probe runs while the probe lives; NULL once orphaned */
	struct hook *hook;   /* hook runs: owned */
	const struct handler *h;
	uint64_t timeout_ms;
	uint64_t deadline_ms; /* reactor ms */
	bool has_result;      /* settled at start: delivered by the slot's timer */
	struct result res;
	/* tcpSocket */
	int fd;
	bool polled;
	/* httpGet, grpc */
	CURL *easy;
	bool easy_added;
	struct curl_slist *req_headers; /* grpc's, or the headers of an HTTP fallback */
	char *url;                      /* the URL of the current transfer */
	uint8_t *grpc_body;
	size_t grpc_body_len;
	struct cri_wire wire;
	bool wire_init;
	int health; /* grpc: the answer's status, -1 until one arrived */
	size_t body_bytes;
	bool body_cut;
	unsigned redirects;
	bool fell_back;
	char errbuf[CURL_ERROR_SIZE];
	/* exec */
	bool exec_in_flight;
};

/* An effect waiting for the next turn. */
struct pending {
	struct pending *next;
	bool ok;
	enum fsm_error_class cls;
	char *error; /* points into cmd's allocation */
	char cmd[];
};

struct fx_probe {
	struct io_reactor *r;
	CURLM *multi;
	struct cri_client *cri;
	struct fx_sink sink;
	struct probe *buckets[BUCKETS];
	uint32_t probe_runs, hook_runs;
	unsigned free_top;
	unsigned free_slots[SLOTS_MAX];
	struct run *slots[SLOTS_MAX];
	uint64_t slot_timer[SLOTS_MAX];
	struct pending *pending_head, *pending_tail;
	uint64_t flush_timer_id;
	bool flush_set;
	struct fx_probe_stats st;
};

/* ---- small helpers ----------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "1s", "300ms": how the messages name a timeout. */
static void fmt_duration(char *out, size_t size, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(out, size, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(out, size, "%" PRIu64 "ms", ms);
}

static void res_set(struct result *r, enum outcome out, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void res_set(struct result *r, enum outcome out, const char *fmt, ...)
{
	r->out = out;
	r->cls = out == OUT_FAIL ? FSM_ERR_PERMANENT : FSM_ERR_TRANSIENT;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static char *dup_str(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static uint32_t hash_id(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % BUCKETS;
}

static enum fsm_error_class class_of_cri(enum cri_error_class c)
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

/* argv joined by spaces into out (cut to size). */
static void join_argv(char *out, size_t size, const struct handler *h)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < h->argc && at + 1 < size; i++) {
		int n = snprintf(out + at, size - at, "%s%s", i > 0 ? " " : "", h->argv[i]);
		if (n < 0)
			break;
		at += (size_t)n < size - at ? (size_t)n : size - at - 1;
	}
}

/* ---- the spec, parsed -------------------------------------------------------------- */

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v = member(o, key);
	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
	                                                             : NULL;
}

/* A non-negative integer member: 1 when present, 0 when absent, -1 when malformed. */
static int uint_member(json_object *o, const char *key, uint64_t *out)
{
	json_object *v = member(o, key);
	if (v == NULL || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	int64_t n = json_object_get_int64(v);
	if (n < 0)
		return -1;
	*out = (uint64_t)n;
	return 1;
}

static void handler_free(struct handler *h)
{
	for (size_t i = 0; h->argv != NULL && i < h->argc; i++)
		free(h->argv[i]);
	free(h->argv);
	free(h->host);
	free(h->path);
	free(h->url);
	curl_slist_free_all(h->headers);
	free(h->service);
	memset(h, 0, sizeof(*h));
}

/*
 * A port: a number, a string of digits, or a name looked up in ports (the
 * container's ports as the Pod spells them, when the body has them). An empty
 * string is 80 for hooks, as the kubelet's runner has it.
 */
static int parse_port(json_object *v, json_object *ports, bool hook, uint16_t *out, char *err,
                      size_t err_size)
{
	int64_t n = -1;
	if (v != NULL && json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
	} else if (v != NULL && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t len = strlen(s);
		if (len == 0 && hook) {
			n = 80;
		} else if (len > 0 && len <= 5 && strspn(s, "0123456789") == len) {
			n = strtol(s, NULL, 10);
		} else {
			size_t np = ports != NULL && json_object_is_type(ports, json_type_array)
			                    ? json_object_array_length(ports)
			                    : 0;
			for (size_t i = 0; i < np && n < 0; i++) {
				json_object *p = json_object_array_get_idx(ports, i);
				const char *name = str_member(p, "name");
				uint64_t cp = 0;
				if (name != NULL && strcmp(name, s) == 0 &&
				    uint_member(p, "containerPort", &cp) == 1)
					n = (int64_t)cp;
			}
			if (n < 0) {
				if (ports == NULL)
					snprintf(
					        err, err_size,
					        "port \"%s\" is a name, and the command carries no "
					        "container ports to resolve it",
					        s);
				else
					snprintf(err, err_size,
					         "port \"%s\" is not among the container's ports",
					         s);
				return -1;
			}
		}
	}
	if (n < 1 || n > 65535) {
		snprintf(err, err_size, "port must be a number from 1 to 65535 or a port's name");
		return -1;
	}
	*out = (uint16_t)n;
	return 0;
}

static int parse_exec(json_object *o, struct handler *h, char *err, size_t err_size)
{
	json_object *cmd = member(o, "command");
	size_t n = cmd != NULL && json_object_is_type(cmd, json_type_array)
	                   ? json_object_array_length(cmd)
	                   : 0;
	if (n == 0) {
		snprintf(err, err_size, "exec.command must be a list of strings, not empty");
		return -1;
	}
	h->argv = calloc(n + 1, sizeof(h->argv[0]));
	if (h->argv == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(cmd, i);
		if (!json_object_is_type(a, json_type_string)) {
			snprintf(err, err_size, "exec.command[%zu] must be a string", i);
			return -1;
		}
		h->argv[i] = strdup(json_object_get_string(a));
		if (h->argv[i] == NULL)
			return -ENOMEM;
		h->argc = i + 1;
	}
	return 0;
}

/* "Name: value" lines for curl; an empty value is sent empty ("Name;"), except
 * User-Agent, which an empty value removes (as Go's client leaves it out). */
static int parse_headers(json_object *list, struct handler *h, char *err, size_t err_size)
{
	size_t n = list != NULL && json_object_is_type(list, json_type_array)
	                   ? json_object_array_length(list)
	                   : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *name = str_member(e, "name");
		const char *value = str_member(e, "value");
		if (name == NULL || name[0] == '\0' || strpbrk(name, ":\r\n \t") != NULL ||
		    (value != NULL && strpbrk(value, "\r\n") != NULL)) {
			snprintf(err, err_size, "httpGet.httpHeaders[%zu] is not a valid header",
			         i);
			return -1;
		}
		if (value == NULL)
			value = "";
		size_t len = strlen(name) + strlen(value) + 4;
		char *line = malloc(len);
		if (line == NULL)
			return -ENOMEM;
		if (value[0] != '\0')
			snprintf(line, len, "%s: %s", name, value);
		else if (strcasecmp(name, "User-Agent") == 0)
			snprintf(line, len, "%s:", name);
		else
			snprintf(line, len, "%s;", name);
		struct curl_slist *l = curl_slist_append(h->headers, line);
		free(line);
		if (l == NULL)
			return -ENOMEM;
		h->headers = l;
	}
	return 0;
}

static int set_host(struct handler *h, const char *host, const char *pod_ip, char *err,
                    size_t err_size)
{
	if (host == NULL || host[0] == '\0')
		host = pod_ip;
	if (host == NULL || host[0] == '\0') {
		snprintf(err, err_size,
		         "no host to reach: the spec names none and the pod has no IP");
		return -1;
	}
	/* "[::1]" as well as "::1". */
	size_t len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
		h->host = strndup(host + 1, len - 2);
	else
		h->host = strdup(host);
	return h->host != NULL ? 0 : -ENOMEM;
}

/* host:port with IPv6 in brackets. */
static void host_port(char *out, size_t size, const struct handler *h)
{
	if (strchr(h->host, ':') != NULL)
		snprintf(out, size, "[%s]:%u", h->host, (unsigned)h->port);
	else
		snprintf(out, size, "%s:%u", h->host, (unsigned)h->port);
}

static int parse_http(json_object *o, const char *pod_ip, json_object *ports, bool hook,
                      struct handler *h, char *err, size_t err_size)
{
	int rc = set_host(h, str_member(o, "host"), pod_ip, err, err_size);
	if (rc == 0)
		rc = parse_port(member(o, "port"), ports, hook, &h->port, err, err_size);
	if (rc != 0)
		return rc;
	const char *scheme = str_member(o, "scheme");
	if (scheme == NULL || scheme[0] == '\0' || strcasecmp(scheme, "HTTP") == 0) {
		h->https = false;
	} else if (strcasecmp(scheme, "HTTPS") == 0) {
		h->https = true;
	} else {
		snprintf(err, err_size, "httpGet.scheme must be HTTP or HTTPS, not \"%s\"", scheme);
		return -1;
	}
	const char *path = str_member(o, "path");
	h->path = dup_str(path);
	if (h->path == NULL)
		return -ENOMEM;
	if (strpbrk(h->path, " \r\n\t") != NULL) {
		snprintf(err, err_size, "httpGet.path must not hold blanks");
		return -1;
	}
	char hp[300];
	host_port(hp, sizeof(hp), h);
	size_t len = strlen(hp) + strlen(h->path) + 16;
	h->url = malloc(len);
	if (h->url == NULL)
		return -ENOMEM;
	snprintf(h->url, len, "%s://%s%s%s", h->https ? "https" : "http", hp,
	         h->path[0] == '/' ? "" : "/", h->path);
	return parse_headers(member(o, "httpHeaders"), h, err, err_size);
}

static int parse_tcp(json_object *o, const char *pod_ip, json_object *ports, struct handler *h,
                     char *err, size_t err_size)
{
	int rc = set_host(h, str_member(o, "host"), pod_ip, err, err_size);
	if (rc == 0)
		rc = parse_port(member(o, "port"), ports, false, &h->port, err, err_size);
	if (rc != 0)
		return rc;
	memset(&h->addr, 0, sizeof(h->addr));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&h->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&h->addr;
	if (inet_pton(AF_INET, h->host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(h->port);
		h->addrlen = sizeof(*a4);
	} else if (inet_pton(AF_INET6, h->host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(h->port);
		h->addrlen = sizeof(*a6);
	} else {
		snprintf(err, err_size,
		         "tcpSocket.host \"%s\" is not an IP address (this prober connects to "
		         "addresses only)",
		         h->host);
		return -1;
	}
	return 0;
}

static int parse_grpc(json_object *o, const char *pod_ip, struct handler *h, char *err,
                      size_t err_size)
{
	/* The gRPC health check always goes to the pod's IP (the spec has no host). */
	int rc = set_host(h, NULL, pod_ip, err, err_size);
	if (rc == 0)
		rc = parse_port(member(o, "port"), NULL, false, &h->port, err, err_size);
	if (rc != 0)
		return rc;
	h->service = dup_str(str_member(o, "service"));
	if (h->service == NULL)
		return -ENOMEM;
	if (strlen(h->service) > SERVICE_BYTES_MAX) {
		snprintf(err, err_size, "grpc.service is longer than %d bytes", SERVICE_BYTES_MAX);
		return -1;
	}
	return 0;
}

/*
 * The handler of spec (a probe or a lifecycle handler). 0; -1 with err set when
 * the spec cannot be run; -ENOMEM. h is the caller's to handler_free either way.
 */
static int parse_handler(json_object *spec, const char *pod_ip, json_object *ports, bool hook,
                         struct handler *h, char *err, size_t err_size)
{
	static const struct {
		const char *name;
		enum fsm_handler_kind kind;
	} kinds[] = {
	        {"exec", FSM_HANDLER_EXEC},
	        {"httpGet", FSM_HANDLER_HTTP_GET},
	        {"tcpSocket", FSM_HANDLER_TCP_SOCKET},
	        {"grpc", FSM_HANDLER_GRPC},
	        {"sleep", FSM_HANDLER_SLEEP},
	};
	memset(h, 0, sizeof(*h));
	if (spec == NULL || !json_object_is_type(spec, json_type_object)) {
		snprintf(err, err_size, "the body has no spec object");
		return -1;
	}
	json_object *o = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_object *v = member(spec, kinds[i].name);
		if (v == NULL || json_object_is_type(v, json_type_null))
			continue;
		if (o != NULL || !json_object_is_type(v, json_type_object)) {
			snprintf(err, err_size, "the spec must have exactly one handler object");
			return -1;
		}
		o = v;
		h->kind = kinds[i].kind;
	}
	switch (h->kind) {
	case FSM_HANDLER_EXEC:
		return parse_exec(o, h, err, err_size);
	case FSM_HANDLER_HTTP_GET:
		return parse_http(o, pod_ip, ports, hook, h, err, err_size);
	case FSM_HANDLER_TCP_SOCKET:
		return parse_tcp(o, pod_ip, ports, h, err, err_size);
	case FSM_HANDLER_GRPC:
		return parse_grpc(o, pod_ip, h, err, err_size);
	case FSM_HANDLER_SLEEP: {
		uint64_t s = 0;
		if (uint_member(o, "seconds", &s) < 0 || s > UINT32_MAX) {
			snprintf(err, err_size, "sleep.seconds must be a number of seconds");
			return -1;
		}
		h->sleep_ms = s * 1000;
		return 0;
	}
	case FSM_HANDLER_NONE:
		break;
	}
	snprintf(err, err_size,
	         "the spec names no handler (exec, httpGet, tcpSocket, grpc, sleep)");
	return -1;
}

static json_object *parse_body(const struct fsm_command *c)
{
	if (c->body == NULL || c->body_len == 0 || c->body_len > INT_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, c->body, (int)c->body_len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* ---- effects, delivered on the next turn -------------------------------------------- */

static void emit_effect(struct fx_probe *x, const char *cmd, bool ok, enum fsm_error_class cls,
                        const char *error)
{
	struct fsm_event ev = {.kind = FSM_EV_EFFECT, .wall_ms = wall_ms()};
	ev.u.effect.cmd = cmd;
	ev.u.effect.ok = ok;
	ev.u.effect.error_class = ok ? FSM_ERR_NONE : cls;
	ev.u.effect.error = ok || error == NULL ? "" : error;
	ev.u.effect.result = "";
	x->sink.event(x->sink.arg, &ev);
}

static void on_flush(void *arg, uint64_t timer_id)
{
	struct fx_probe *x = arg;
	(void)timer_id;
	x->flush_set = false;
	/* Take the whole queue first: the sink may lead to new dispatches. */
	struct pending *p = x->pending_head;
	x->pending_head = x->pending_tail = NULL;
	while (p != NULL) {
		struct pending *next = p->next;
		emit_effect(x, p->cmd, p->ok, p->cls, p->error);
		free(p);
		p = next;
	}
}

/* An entry for one effect, and the flush timer armed, before any work is done:
 * once a command is taken, its answer cannot fail to be queued. */
static int pending_reserve(struct fx_probe *x, const char *cmd, struct pending **out)
{
	size_t len = strlen(cmd);
	struct pending *p = malloc(sizeof(*p) + len + 1 + FX_PROBE_MESSAGE_MAX);
	if (p == NULL)
		return -ENOMEM;
	if (!x->flush_set) {
		int rc =
		        io_timer_set(x->r, x->flush_timer_id, io_reactor_now_ms(x->r), on_flush, x);
		if (rc != 0) {
			free(p);
			return rc;
		}
		x->flush_set = true;
	}
	memcpy(p->cmd, cmd, len + 1);
	p->error = p->cmd + len + 1;
	p->error[0] = '\0';
	p->next = NULL;
	*out = p;
	return 0;
}

static void pending_push(struct fx_probe *x, struct pending *p, bool ok, enum fsm_error_class cls,
                         const char *error)
{
	assert(x->flush_set);
	p->ok = ok;
	p->cls = ok ? FSM_ERR_NONE : cls;
	snprintf(p->error, FX_PROBE_MESSAGE_MAX, "%s", ok || error == NULL ? "" : error);
	if (x->pending_tail != NULL)
		x->pending_tail->next = p;
	else
		x->pending_head = p;
	x->pending_tail = p;
}

/* ---- runs: the slots ------------------------------------------------------------------- */

static struct run *run_new(struct fx_probe *x, bool is_hook)
{
	if (x->free_top == 0)
		return NULL;
	struct run *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->slot = x->free_slots[--x->free_top];
	assert(x->slots[k->slot] == NULL);
	x->slots[k->slot] = k;
	k->x = x;
	k->timer_id = x->slot_timer[k->slot];
	k->is_hook = is_hook;
	k->fd = -1;
	k->health = -1;
	if (is_hook)
		x->hook_runs++;
	else
		x->probe_runs++;
	assert(x->probe_runs <= FX_PROBE_RUNS_MAX);
	assert(x->hook_runs <= FX_HOOKS_MAX);
	return k;
}

/* Withdraws whatever the run has in flight, except an ExecSync call. */
static void run_release(struct run *k)
{
	struct fx_probe *x = k->x;
	if (k->timer_set) {
		io_timer_cancel(x->r, k->timer_id);
		k->timer_set = false;
	}
	if (k->polled) {
		io_poll_del(x->r, k->fd);
		k->polled = false;
	}
	if (k->fd >= 0) {
		close(k->fd);
		k->fd = -1;
	}
	if (k->easy != NULL) {
		if (k->easy_added)
			curl_multi_remove_handle(x->multi, k->easy);
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
		k->easy_added = false;
	}
	curl_slist_free_all(k->req_headers);
	k->req_headers = NULL;
	free(k->url);
	k->url = NULL;
	free(k->grpc_body);
	k->grpc_body = NULL;
	if (k->wire_init) {
		cri_wire_free(&k->wire);
		k->wire_init = false;
	}
}

/* Frees the run and its slot (not its hook: the caller has it). */
static void run_free(struct run *k)
{
	struct fx_probe *x = k->x;
	assert(x->slots[k->slot] == k);
	run_release(k);
	x->slots[k->slot] = NULL;
	x->free_slots[x->free_top++] = k->slot;
	assert(x->free_top <= SLOTS_MAX);
	if (k->is_hook) {
		assert(x->hook_runs > 0);
		x->hook_runs--;
	} else {
		assert(x->probe_runs > 0);
		x->probe_runs--;
	}
	free(k);
}

static void hook_free(struct hook *hk)
{
	if (hk == NULL)
		return;
	free(hk->id);
	free(hk->pod_uid);
	free(hk->container);
	free(hk->container_id);
	free(hk->name);
	handler_free(&hk->h);
	free(hk);
}

/* ---- results: the quiet rule and the events -------------------------------------------- */

/* One step of the fold's counters (pod.c, pod_on_probe); whether they moved. */
static bool counters_step(struct probe *p, bool ok)
{
	uint32_t s = p->successes, f = p->failures;
	if (ok) {
		f = 0;
		if (s < p->success_threshold)
			s++;
	} else {
		s = 0;
		if (f < p->failure_threshold)
			f++;
	}
	bool moved = s != p->successes || f != p->failures;
	p->successes = s;
	p->failures = f;
	assert(p->successes <= p->success_threshold);
	assert(p->failures <= p->failure_threshold);
	return moved;
}

static void probe_result(struct fx_probe *x, struct probe *p, const struct result *res)
{
	if (res->out == OUT_UNKNOWN) {
		x->st.unknown++;
		return;
	}
	bool ok = res->out == OUT_OK;
	if (!counters_step(p, ok)) {
		x->st.quiet++;
		return;
	}
	x->st.reported++;
	struct fsm_event ev = {.kind = FSM_EV_PROBE, .wall_ms = wall_ms()};
	ev.u.probe.pod_uid = p->pod_uid;
	ev.u.probe.container = p->container;
	ev.u.probe.probe = p->type;
	ev.u.probe.ok = ok;
	ev.u.probe.message = res->msg;
	x->sink.event(x->sink.arg, &ev); /* last: p is not touched afterwards */
}

static void hook_answer(struct fx_probe *x, const struct hook *hk, const struct result *res)
{
	switch (res->out) {
	case OUT_OK:
		emit_effect(x, hk->id, true, FSM_ERR_NONE, "");
		break;
	case OUT_FAIL:
		emit_effect(x, hk->id, false, FSM_ERR_PERMANENT, res->msg);
		break;
	case OUT_TIMEOUT:
		emit_effect(x, hk->id, false, FSM_ERR_TRANSIENT, res->msg);
		break;
	case OUT_UNKNOWN:
		emit_effect(x, hk->id, false,
		            res->cls != FSM_ERR_NONE ? res->cls : FSM_ERR_TRANSIENT, res->msg);
		break;
	}
}

/* The run is over: its slot goes, then its result goes where it belongs. */
static void run_finish(struct run *k, const struct result *res_in)
{
	struct fx_probe *x = k->x;
	struct result res = *res_in; /* res_in may live in k */
	struct hook *hk = k->hook;
	struct probe *p = k->probe;
	bool is_hook = k->is_hook;
	k->hook = NULL;
	if (p != NULL) {
		assert(p->run == k);
		p->run = NULL;
	}
	run_free(k);
	if (is_hook) {
		assert(hk != NULL);
		hook_answer(x, hk, &res);
		hook_free(hk);
	} else if (p == NULL) {
		x->st.dropped++;
	} else {
		probe_result(x, p, &res);
	}
}

static void on_run_timer(void *arg, uint64_t timer_id);

/* An outcome known as the run starts, delivered on the next turn. */
static int run_settle_later(struct run *k, const struct result *res)
{
	k->res = *res;
	k->has_result = true;
	int rc = io_timer_set(k->x->r, k->timer_id, io_reactor_now_ms(k->x->r), on_run_timer, k);
	if (rc == 0)
		k->timer_set = true;
	return rc;
}

/* The kubelet's wording for a failed hook: "<Kind> lifecycle hook (<what>) for
 * Container "c" in Pod "uid" failed - error: <err>". */
static void hook_fail_msg(struct result *res, const struct run *k, const char *err)
{
	const struct hook *hk = k->hook;
	char what[512];
	const char *kind = "Exec";
	switch (k->h->kind) {
	case FSM_HANDLER_EXEC: {
		char argv[500];
		join_argv(argv, sizeof(argv), k->h);
		snprintf(what, sizeof(what), "[%s]", argv);
		break;
	}
	case FSM_HANDLER_HTTP_GET:
		kind = "HTTP";
		snprintf(what, sizeof(what), "%s", k->h->path);
		break;
	case FSM_HANDLER_SLEEP:
		kind = "Sleep";
		snprintf(what, sizeof(what), "%" PRIu64, k->h->sleep_ms / 1000);
		break;
	default:
		kind = "";
		what[0] = '\0';
		break;
	}
	snprintf(res->msg, sizeof(res->msg),
	         "%s lifecycle hook (%s) for Container \"%s\" in Pod \"%s\" failed - error: %s",
	         kind, what, hk->container, hk->pod_uid, err);
}

/* ---- exec: CRI ExecSync ------------------------------------------------------------- */

/* stdout then stderr, trailing newlines dropped, cut to size. */
static void exec_output(char *out, size_t size, const Runtime__V1__ExecSyncResponse *r)
{
	size_t at = 0;
	const ProtobufCBinaryData *parts[2] = {&r->stdout, &r->stderr};
	for (int i = 0; i < 2; i++) {
		size_t n = parts[i]->len;
		if (n > size - 1 - at)
			n = size - 1 - at;
		if (n > 0)
			memcpy(out + at, parts[i]->data, n);
		at += n;
	}
	while (at > 0 && (out[at - 1] == '\n' || out[at - 1] == '\r'))
		at--;
	out[at] = '\0';
	for (size_t i = 0; i < at; i++)
		if (out[i] == '\0')
			out[i] = ' ';
}

static void exec_done(void *arg, const struct cri_result *cr)
{
	struct run *k = arg;
	k->exec_in_flight = false;
	if (k->probe == NULL && k->hook == NULL) {
		/* Its probe was stopped or restarted while the call ran. */
		k->x->st.dropped++;
		run_free(k);
		return;
	}
	struct result res;
	char argv[400], t[32], out[FX_PROBE_MESSAGE_MAX / 2], err[FX_PROBE_MESSAGE_MAX];
	join_argv(argv, sizeof(argv), k->h);
	fmt_duration(t, sizeof(t), k->timeout_ms);
	const Runtime__V1__ExecSyncResponse *r = (const void *)cr->response;
	if (cr->grpc_status == CRI_GRPC_OK && r != NULL) {
		exec_output(out, sizeof(out), r);
		if (r->exit_code == 0) {
			res_set(&res, OUT_OK, "%s", out);
		} else if (k->hook != NULL) {
			snprintf(err, sizeof(err), "command '%s' exited with %d: , message: \"%s\"",
			         argv, (int)r->exit_code, out);
			res.out = OUT_FAIL;
			hook_fail_msg(&res, k, err);
		} else if (out[0] != '\0') {
			res_set(&res, OUT_FAIL, "%s", out);
		} else {
			res_set(&res, OUT_FAIL, "command \"%s\" exited with %d", argv,
			        (int)r->exit_code);
		}
	} else if (cr->grpc_status == CRI_GRPC_DEADLINE_EXCEEDED) {
		if (k->hook != NULL) {
			snprintf(err, sizeof(err),
			         "command '%s' timed out after %s (timeout), message: \"\"", argv,
			         t);
			res.out = OUT_TIMEOUT;
			hook_fail_msg(&res, k, err);
		} else {
			res_set(&res, OUT_TIMEOUT, "command \"%s\" timed out after %s (timeout)",
			        argv, t);
		}
	} else {
		/* The runtime could not tell: no result for a probe (the kubelet's Unknown). */
		snprintf(err, sizeof(err), "rpc error: code = %s desc = %s, message: \"\"",
		         cri_grpc_status_name(cr->grpc_status), cr->message);
		res.out = OUT_UNKNOWN;
		res.cls = class_of_cri(cri_error_class_of(cr->grpc_status));
		if (k->hook != NULL)
			hook_fail_msg(&res, k, err);
		else
			snprintf(res.msg, sizeof(res.msg), "%s", err);
	}
	run_finish(k, &res);
}

static int exec_start(struct run *k, const char *container_id)
{
	struct fx_probe *x = k->x;
	if (x->cri == NULL)
		return -ENOTCONN;
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	req.container_id = (char *)container_id;
	req.n_cmd = k->h->argc;
	req.cmd = k->h->argv;
	req.timeout = (int64_t)((k->timeout_ms + 999) / 1000);
	int rc = cri_call(x->cri, CRI_EXEC_SYNC, &req.base, k->timeout_ms + EXEC_MARGIN_MS,
	                  exec_done, k);
	if (rc == 0)
		k->exec_in_flight = true;
	return rc;
}

/* ---- httpGet and grpc: libcurl on the shared multi handle --------------------------- */

static size_t on_http_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct run *k = arg;
	size_t n = size * nmemb;
	(void)ptr;
	k->body_bytes += n;
	if (k->body_bytes > FX_PROBE_BODY_BYTES_MAX) {
		/* Enough: the status is known, the rest is not waited for. */
		k->body_cut = true;
		return n == 0 ? 1 : 0;
	}
	return n;
}

static int health_message(void *arg, const uint8_t *data, size_t len)
{
	struct run *k = arg;
	if (k->health >= 0)
		return cri_wire_fail(&k->wire, CRI_GRPC_INTERNAL, "Check answered twice");
	/* HealthCheckResponse { ServingStatus status = 1; }: field 1, varint. */
	int status = 0;
	size_t at = 0;
	while (at < len) {
		uint64_t key = 0, v = 0;
		for (unsigned shift = 0; at < len && shift < 64; shift += 7) {
			key |= (uint64_t)(data[at] & 0x7f) << shift;
			if (!(data[at++] & 0x80))
				break;
		}
		unsigned wt = (unsigned)(key & 7);
		if (wt == 0) {
			for (unsigned shift = 0; at < len && shift < 64; shift += 7) {
				v |= (uint64_t)(data[at] & 0x7f) << shift;
				if (!(data[at++] & 0x80))
					break;
			}
			if (key >> 3 == 1)
				status = v <= INT_MAX ? (int)v : 0;
		} else if (wt == 2) {
			for (unsigned shift = 0; at < len && shift < 64; shift += 7) {
				v |= (uint64_t)(data[at] & 0x7f) << shift;
				if (!(data[at++] & 0x80))
					break;
			}
			at = v > len - at ? len : at + v;
		} else if (wt == 1 || wt == 5) {
			at += wt == 1 ? 8 : 4;
		} else {
			return cri_wire_fail(&k->wire, CRI_GRPC_INTERNAL,
			                     "Check's answer does not decode");
		}
	}
	k->health = status;
	return 0;
}

static size_t on_grpc_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct run *k = arg;
	size_t n = size * nmemb;
	if (cri_wire_body(&k->wire, (const uint8_t *)ptr, n, health_message, k) != 0)
		return n == 0 ? 1 : 0;
	return n;
}

static size_t on_grpc_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct run *k = arg;
	size_t n = size * nitems;
	cri_wire_header(&k->wire, buf, n);
	return n;
}

/* Adds the run's transfer (again) with what is left of its time. */
static int easy_add(struct run *k)
{
	struct fx_probe *x = k->x;
	uint64_t now = io_reactor_now_ms(x->r);
	uint64_t left = k->deadline_ms > now ? k->deadline_ms - now : 1;
	k->errbuf[0] = '\0';
	k->body_bytes = 0;
	k->body_cut = false;
	if (curl_easy_setopt(k->easy, CURLOPT_URL, k->url) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
	    curl_multi_add_handle(x->multi, k->easy) != CURLM_OK)
		return CRI_ECURL;
	k->easy_added = true;
	return 0;
}

/* What probes and hooks set alike: a fresh connection of their own, no proxy,
 * TLS unverified (the kubelet's probes and hooks skip verification too). */
static int easy_common(struct run *k, const char *user_agent)
{
	struct fx_probe *x = k->x;
	k->easy = curl_easy_init();
	if (k->easy == NULL)
		return CRI_ECURL;
	CURL *e = k->easy;
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode r_ = curl_easy_setopt(e, opt, val);                                       \
		if (rc == CURLE_OK)                                                                \
			rc = r_;                                                                   \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_SSL_VERIFYPEER, 0L);
	SET(CURLOPT_SSL_VERIFYHOST, 0L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_USERAGENT, user_agent);
	SET(CURLOPT_ERRORBUFFER, k->errbuf);
	SET(CURLOPT_PRIVATE, (void *)&x->slots[k->slot]);
#undef SET
	return rc == CURLE_OK ? 0 : CRI_ECURL;
}

static int http_start(struct run *k)
{
	bool hook = k->hook != NULL;
	k->url = strdup(k->h->url);
	if (k->url == NULL)
		return -ENOMEM;
	int rc = easy_common(k, hook ? FX_HOOK_USER_AGENT : FX_PROBE_USER_AGENT);
	if (rc != 0)
		return rc;
	CURL *e = k->easy;
	CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode r_ = curl_easy_setopt(e, opt, val);                                       \
		if (c == CURLE_OK)                                                                 \
			c = r_;                                                                    \
	} while (0)
	SET(CURLOPT_HTTPGET, 1L);
	/* As Go's client with a TLS config of its own: HTTP/1.1. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* Probes follow redirects themselves (same host only, see http_done); hooks
	 * follow them as Go's default client does. */
	SET(CURLOPT_FOLLOWLOCATION, hook ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, (long)FX_PROBE_REDIRECTS_MAX);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTPHEADER, k->h->headers);
	SET(CURLOPT_WRITEFUNCTION, on_http_body);
	SET(CURLOPT_WRITEDATA, k);
#undef SET
	if (c != CURLE_OK)
		return CRI_ECURL;
	return easy_add(k);
}

/* The host name of url, without brackets, into out; false when it has none. */
static bool url_hostname(const char *url, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool ok = u != NULL &&
	          curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	          curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	if (ok) {
		size_t len = strlen(host);
		if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
			snprintf(out, size, "%.*s", (int)(len - 2), host + 1);
		else
			snprintf(out, size, "%s", host);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* Hooks: an HTTPS request that a plain HTTP server answered is sent again in
 * HTTP, without Authorization (the kubelet's fallback). */
static int http_fallback(struct run *k)
{
	k->fell_back = true;
	char *url = malloc(strlen(k->url) + 1);
	if (url == NULL)
		return -ENOMEM;
	snprintf(url, strlen(k->url) + 1, "http://%s", k->url + strlen("https://"));
	free(k->url);
	k->url = url;
	for (struct curl_slist *l = k->h->headers; l != NULL; l = l->next) {
		if (strncasecmp(l->data, "Authorization", 13) == 0 &&
		    (l->data[13] == ':' || l->data[13] == ';'))
			continue;
		struct curl_slist *n = curl_slist_append(k->req_headers, l->data);
		if (n == NULL)
			return -ENOMEM;
		k->req_headers = n;
	}
	if (curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, k->req_headers) != CURLE_OK)
		return CRI_ECURL;
	return easy_add(k);
}

/* A finished httpGet transfer: settles the run, or sends the next request. */
static void http_done(struct run *k, CURLcode code)
{
	struct result res;
	char t[32];
	fmt_duration(t, sizeof(t), k->timeout_ms);
	bool hook = k->hook != NULL;
	if (code == CURLE_WRITE_ERROR && k->body_cut)
		code = CURLE_OK; /* we stopped reading: the answer itself was fine */
	if (code == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
		char *loc = NULL;
		curl_easy_getinfo(k->easy, CURLINFO_REDIRECT_URL, &loc);
		char from[256], to[256];
		if (hook || (status >= 200 && status < 300)) {
			res_set(&res, OUT_OK, "%s", "");
		} else if (status >= 300 && status < 400 && loc != NULL &&
		           url_hostname(k->url, from, sizeof(from)) &&
		           url_hostname(loc, to, sizeof(to)) && strcasecmp(from, to) == 0) {
			if (k->redirects >= FX_PROBE_REDIRECTS_MAX) {
				res_set(&res, OUT_FAIL, "Get \"%s\": stopped after %d redirects",
				        loc, FX_PROBE_REDIRECTS_MAX);
			} else {
				/* Same host: follow, within the run's one deadline. */
				char *next = strdup(loc);
				if (next != NULL) {
					free(k->url);
					k->url = next;
					k->redirects++;
					if (easy_add(k) == 0)
						return;
				}
				res_set(&res, OUT_UNKNOWN, "could not follow a redirect");
			}
		} else if (status >= 300 && status < 400) {
			/* Elsewhere: not followed, and the run counts as a success. */
			res_set(&res, OUT_OK, "Probe terminated redirects, Response status: %ld",
			        status);
		} else {
			res_set(&res, OUT_FAIL, "HTTP probe failed with statuscode: %ld", status);
		}
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		char err[FX_PROBE_MESSAGE_MAX / 2];
		snprintf(err, sizeof(err),
		         "Get \"%s\": timeout: no answer within %s (timeoutSeconds)", k->url, t);
		res.out = OUT_TIMEOUT;
		if (hook)
			hook_fail_msg(&res, k, err);
		else
			snprintf(res.msg, sizeof(res.msg), "%s", err);
	} else if (hook && k->h->https && !k->fell_back && code == CURLE_SSL_CONNECT_ERROR) {
		if (http_fallback(k) == 0)
			return;
		res_set(&res, OUT_UNKNOWN, "could not retry in HTTP");
		res.cls = FSM_ERR_TRANSIENT;
	} else {
		char err[FX_PROBE_MESSAGE_MAX / 2];
		snprintf(err, sizeof(err), "Get \"%s\": %s", k->url,
		         k->errbuf[0] != '\0' ? k->errbuf : curl_easy_strerror(code));
		res.out = OUT_FAIL;
		if (hook)
			hook_fail_msg(&res, k, err);
		else
			snprintf(res.msg, sizeof(res.msg), "%s", err);
	}
	run_finish(k, &res);
}

static int grpc_start(struct run *k)
{
	struct fx_probe *x = k->x;
	(void)x;
	char hp[300];
	host_port(hp, sizeof(hp), k->h);
	size_t ulen = strlen(hp) + sizeof(HEALTH_PATH) + 16;
	k->url = malloc(ulen);
	if (k->url == NULL)
		return -ENOMEM;
	snprintf(k->url, ulen, "http://%s%s", hp, HEALTH_PATH);
	/* HealthCheckRequest { string service = 1; }, behind gRPC's 5-byte prefix. */
	size_t slen = strlen(k->h->service);
	assert(slen <= SERVICE_BYTES_MAX); /* parse_grpc */
	size_t mlen = slen > 0 ? 1 + (slen > 127 ? 2 : 1) + slen : 0;
	k->grpc_body = malloc(5 + mlen);
	if (k->grpc_body == NULL)
		return -ENOMEM;
	uint8_t *b = k->grpc_body;
	b[0] = 0;
	b[1] = (uint8_t)(mlen >> 24);
	b[2] = (uint8_t)(mlen >> 16);
	b[3] = (uint8_t)(mlen >> 8);
	b[4] = (uint8_t)mlen;
	size_t at = 5;
	if (slen > 0) {
		b[at++] = 0x0a;
		if (slen > 127) {
			b[at++] = (uint8_t)(0x80 | (slen & 0x7f));
			b[at++] = (uint8_t)(slen >> 7);
		} else {
			b[at++] = (uint8_t)slen;
		}
		memcpy(b + at, k->h->service, slen);
		at += slen;
	}
	k->grpc_body_len = at;
	assert(at == 5 + mlen);
	char timeout[48]; /* at most 8 digits and a unit */
	if (k->timeout_ms <= 99999999u)
		snprintf(timeout, sizeof(timeout), "grpc-timeout: %" PRIu64 "m", k->timeout_ms);
	else
		snprintf(timeout, sizeof(timeout), "grpc-timeout: %" PRIu64 "S",
		         k->timeout_ms / 1000 <= 99999999u ? k->timeout_ms / 1000 : 99999999u);
	const char *lines[] = {"content-type: application/grpc", "te: trailers",
	                       "Accept:", "Expect:", timeout};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *l = curl_slist_append(k->req_headers, lines[i]);
		if (l == NULL)
			return -ENOMEM;
		k->req_headers = l;
	}
	cri_wire_init(&k->wire, 4096);
	k->wire_init = true;
	int rc = easy_common(k, FX_PROBE_USER_AGENT);
	if (rc != 0)
		return rc;
	CURL *e = k->easy;
	CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode r_ = curl_easy_setopt(e, opt, val);                                       \
		if (c == CURLE_OK)                                                                 \
			c = r_;                                                                    \
	} while (0)
	/* A fresh connection each run, so libcurl 7.88's prior-knowledge reuse bug
	 * (see cri.c) cannot arise. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, (const char *)k->grpc_body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->grpc_body_len);
	SET(CURLOPT_HTTPHEADER, k->req_headers);
	SET(CURLOPT_WRITEFUNCTION, on_grpc_body);
	SET(CURLOPT_WRITEDATA, k);
	SET(CURLOPT_HEADERFUNCTION, on_grpc_header);
	SET(CURLOPT_HEADERDATA, k);
#undef SET
	if (c != CURLE_OK)
		return CRI_ECURL;
	return easy_add(k);
}

static const char *health_name(int status)
{
	static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
	return status >= 0 && status < 4 ? names[status] : "UNRECOGNIZED";
}

/* The kubelet's gRPC prober's outcomes and words (pkg/probe/grpc). */
static void grpc_done(struct run *k, CURLcode code)
{
	struct result res;
	char t[32], hp[300];
	fmt_duration(t, sizeof(t), k->timeout_ms);
	host_port(hp, sizeof(hp), k->h);
	const char *msg = "";
	int status = cri_wire_status(&k->wire, code, k->errbuf[0] ? k->errbuf : NULL, &msg);
	bool answered = k->wire.http_status != 0;
	if (code == CURLE_OPERATION_TIMEDOUT && !answered) {
		res_set(&res, OUT_TIMEOUT, "timeout: failed to connect service \"%s\" within %s",
		        hp, t);
	} else if (code != CURLE_OK && !answered && code != CURLE_OPERATION_TIMEDOUT) {
		res_set(&res, OUT_FAIL, "failed to connect service \"%s\": %s", hp, msg);
	} else if (status == CRI_GRPC_OK && k->health == 1) {
		res_set(&res, OUT_OK, "%s", "");
	} else if (status == CRI_GRPC_OK && k->health >= 0) {
		res_set(&res, OUT_FAIL, "service unhealthy (responded with \"%s\")",
		        health_name(k->health));
	} else if (status == CRI_GRPC_OK) {
		res_set(&res, OUT_FAIL,
		        "error: health rpc probe failed: Check answered OK without "
		        "a message");
	} else if (status == CRI_GRPC_UNIMPLEMENTED) {
		res_set(&res, OUT_FAIL,
		        "this server does not implement the grpc health protocol "
		        "(grpc.health.v1.Health): %s",
		        msg);
	} else if (status == CRI_GRPC_DEADLINE_EXCEEDED || code == CURLE_OPERATION_TIMEDOUT) {
		res_set(&res, OUT_TIMEOUT, "timeout: health rpc did not complete within %s", t);
	} else {
		res_set(&res, OUT_FAIL,
		        "error: health rpc probe failed: rpc error: code = %s desc = %s",
		        cri_grpc_status_name(status), msg);
	}
	run_finish(k, &res);
}

/* ---- tcpSocket: a non-blocking connect polled on the reactor ---------------------- */

static void tcp_fail_msg(struct result *res, const struct run *k, int err)
{
	char hp[300], e[128];
	host_port(hp, sizeof(hp), k->h);
	snprintf(e, sizeof(e), "%s", strerror(err));
	if (e[0] >= 'A' && e[0] <= 'Z')
		e[0] = (char)(e[0] - 'A' + 'a'); /* Go's spelling: "connection refused" */
	res_set(res, OUT_FAIL, "dial tcp %s: connect: %s", hp, e);
}

static void on_tcp_ready(void *arg, int fd, uint32_t revents)
{
	struct run *k = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	struct result res;
	if (err == 0 && (revents & POLLOUT))
		res_set(&res, OUT_OK, "%s", "");
	else
		tcp_fail_msg(&res, k, err != 0 ? err : EIO);
	run_finish(k, &res); /* drops the poll (allowed from its own callback) */
}

static int tcp_start(struct run *k)
{
	struct fx_probe *x = k->x;
	const struct handler *h = k->h;
	k->fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0)
		return -errno;
	struct result res;
	if (connect(k->fd, (const struct sockaddr *)&h->addr, h->addrlen) == 0) {
		res_set(&res, OUT_OK, "%s", "");
		return run_settle_later(k, &res);
	}
	if (errno != EINPROGRESS) {
		tcp_fail_msg(&res, k, errno);
		return run_settle_later(k, &res);
	}
	int rc = io_poll_add(x->r, k->fd, POLLOUT, on_tcp_ready, k);
	if (rc != 0)
		return rc;
	k->polled = true;
	rc = io_timer_set(x->r, k->timer_id, k->deadline_ms, on_run_timer, k);
	if (rc == 0)
		k->timer_set = true;
	return rc;
}

/* ---- the slot's timer: outcomes known at start, tcp deadlines, sleeps ----------- */

static void on_run_timer(void *arg, uint64_t timer_id)
{
	struct run *k = arg;
	(void)timer_id;
	k->timer_set = false;
	struct result res;
	if (k->has_result) {
		run_finish(k, &k->res);
		return;
	}
	char t[32];
	fmt_duration(t, sizeof(t), k->timeout_ms);
	if (k->h->kind == FSM_HANDLER_TCP_SOCKET) {
		char hp[300];
		host_port(hp, sizeof(hp), k->h);
		res_set(&res, OUT_TIMEOUT, "dial tcp %s: i/o timeout (timeout %s)", hp, t);
	} else if (k->h->kind == FSM_HANDLER_SLEEP && k->h->sleep_ms <= k->timeout_ms) {
		res_set(&res, OUT_OK, "%s", "");
	} else {
		char err[200];
		snprintf(err, sizeof(err), "timeout: the hook's %s ran out before its sleep ended",
		         t);
		res.out = OUT_TIMEOUT;
		if (k->hook != NULL)
			hook_fail_msg(&res, k, err);
		else
			snprintf(res.msg, sizeof(res.msg), "%s", err);
	}
	run_finish(k, &res);
}

static int sleep_start(struct run *k)
{
	uint64_t ms = k->h->sleep_ms < k->timeout_ms ? k->h->sleep_ms : k->timeout_ms;
	int rc = io_timer_set(k->x->r, k->timer_id, io_reactor_now_ms(k->x->r) + ms, on_run_timer,
	                      k);
	if (rc == 0)
		k->timer_set = true;
	return rc;
}

/* Starts the run's handler. 0, or why it could not start (nothing is in flight). */
static int run_start(struct run *k, const char *container_id)
{
	int rc;
	switch (k->h->kind) {
	case FSM_HANDLER_EXEC:
		rc = exec_start(k, container_id);
		break;
	case FSM_HANDLER_HTTP_GET:
		rc = http_start(k);
		break;
	case FSM_HANDLER_GRPC:
		rc = grpc_start(k);
		break;
	case FSM_HANDLER_TCP_SOCKET:
		rc = tcp_start(k);
		break;
	case FSM_HANDLER_SLEEP:
		rc = sleep_start(k);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc != 0)
		run_release(k);
	return rc;
}

static const char *start_error(int rc)
{
	if (rc == -ENOTCONN)
		return "no container runtime client";
	if (rc <= CRI_EENDPOINT && rc >= CRI_ENOCALL)
		return cri_strerror(rc);
	return strerror(-rc);
}

/* ---- probes ------------------------------------------------------------------------------ */

static struct probe *probe_find(struct fx_probe *x, const char *id, struct probe ***link_out)
{
	struct probe **link = &x->buckets[hash_id(id)];
	for (; *link != NULL; link = &(*link)->next) {
		if (strcmp((*link)->id, id) == 0) {
			if (link_out != NULL)
				*link_out = link;
			return *link;
		}
	}
	return NULL;
}

static void probe_free(struct probe *p)
{
	free(p->id);
	free(p->pod_uid);
	free(p->container);
	free(p->container_id);
	handler_free(&p->h);
	free(p);
}

/* Stops a probe: its timer goes, a run in flight is dropped (an ExecSync call is
 * left to end on its own, orphaned). */
static void probe_drop(struct fx_probe *x, struct probe *p)
{
	struct probe **link = NULL;
	struct probe *found = probe_find(x, p->id, &link);
	assert(found == p);
	*link = p->next;
	io_timer_cancel(x->r, p->timer_id);
	struct run *k = p->run;
	if (k != NULL) {
		k->probe = NULL;
		p->run = NULL;
		if (!k->exec_in_flight) {
			x->st.dropped++;
			run_free(k);
		}
	}
	assert(x->st.probes > 0);
	x->st.probes--;
	probe_free(p);
}

static void probe_run(struct fx_probe *x, struct probe *p)
{
	if (p->run != NULL || x->probe_runs >= FX_PROBE_RUNS_MAX) {
		x->st.runs_skipped++;
		return;
	}
	struct run *k = run_new(x, false);
	if (k == NULL) {
		x->st.runs_skipped++;
		return;
	}
	k->probe = p;
	k->h = &p->h;
	k->timeout_ms = p->timeout_ms;
	k->deadline_ms = io_reactor_now_ms(x->r) + p->timeout_ms;
	p->run = k;
	if (run_start(k, p->container_id) != 0) {
		/* A bound (CRI calls, fds, polls) or no memory: this run is skipped. */
		p->run = NULL;
		run_free(k);
		x->st.runs_skipped++;
		return;
	}
	x->st.runs++;
}

static void on_probe_timer(void *arg, uint64_t timer_id)
{
	struct probe *p = arg;
	struct fx_probe *x = p->x;
	(void)timer_id;
	uint64_t now = io_reactor_now_ms(x->r);
	/* The next run on the period's grid; turns missed are not made up. */
	uint64_t next = p->due_ms + p->period_ms;
	if (next <= now)
		next = now + p->period_ms - (now - p->due_ms) % p->period_ms;
	p->due_ms = next;
	if (io_timer_set(x->r, p->timer_id, next, on_probe_timer, p) != 0)
		x->st.stalled++; /* the reactor's timers are full: this probe runs no more */
	probe_run(x, p);
}

/* ---- commands ---------------------------------------------------------------------------- */

static enum fsm_probe_type probe_type_of(const char *s)
{
	if (s == NULL)
		return FSM_PROBE_NONE;
	if (strcmp(s, "liveness") == 0)
		return FSM_PROBE_LIVENESS;
	if (strcmp(s, "readiness") == 0)
		return FSM_PROBE_READINESS;
	if (strcmp(s, "startup") == 0)
		return FSM_PROBE_STARTUP;
	return FSM_PROBE_NONE;
}

/* probe.start: the probe, or why not (err: permanent; *transient for the bound). */
static int probe_make(struct fx_probe *x, const struct fsm_command *c, json_object *body,
                      struct probe **out, char *err, size_t err_size)
{
	*out = NULL;
	enum fsm_probe_type type = probe_type_of(str_member(body, "probe"));
	if (type == FSM_PROBE_NONE) {
		snprintf(err, err_size, "probe must be liveness, readiness or startup");
		return -1;
	}
	json_object *spec = member(body, "spec");
	struct probe *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->x = x;
	p->type = type;
	p->id = dup_str(c->id);
	p->pod_uid = dup_str(c->pod_uid);
	p->container = dup_str(c->container);
	p->container_id = dup_str(str_member(body, "container_id"));
	int rc = p->id && p->pod_uid && p->container && p->container_id ? 0 : -ENOMEM;
	if (rc == 0)
		rc = parse_handler(spec, str_member(body, "pod_ip"), member(body, "ports"), false,
		                   &p->h, err, err_size);
	if (rc == 0 && p->h.kind == FSM_HANDLER_SLEEP) {
		snprintf(err, err_size, "sleep is a lifecycle handler, not a probe");
		rc = -1;
	}
	if (rc == 0 && p->h.kind == FSM_HANDLER_EXEC && x->cri == NULL) {
		snprintf(err, err_size, "exec probe: no container runtime client");
		rc = -1;
	}
	/* The API's defaults (model.c decodes 0 as unset too). */
	uint64_t period_s = 10, timeout_s = 1, delay_s = 0, st = 1, ft = 3;
	if (rc == 0 && (uint_member(spec, "periodSeconds", &period_s) < 0 ||
	                uint_member(spec, "timeoutSeconds", &timeout_s) < 0 ||
	                uint_member(spec, "initialDelaySeconds", &delay_s) < 0 ||
	                uint_member(spec, "successThreshold", &st) < 0 ||
	                uint_member(spec, "failureThreshold", &ft) < 0)) {
		snprintf(err, err_size, "the probe's seconds and thresholds must be numbers");
		rc = -1;
	}
	if (rc != 0) {
		probe_free(p);
		return rc;
	}
	p->period_ms = (period_s > 0 ? period_s : 10) * 1000;
	p->timeout_ms = (timeout_s > 0 ? timeout_s : 1) * 1000;
	uint64_t delay_ms = delay_s * 1000;
	p->success_threshold = st > 0 && st <= UINT32_MAX ? (uint32_t)st : 1;
	p->failure_threshold = ft > 0 && ft <= UINT32_MAX ? (uint32_t)ft : 3;
	/* Test-only overrides, in milliseconds (see probe.h). */
	uint64_t v;
	if (uint_member(body, "period_ms", &v) == 1 && v > 0)
		p->period_ms = v;
	if (uint_member(body, "timeout_ms", &v) == 1 && v > 0)
		p->timeout_ms = v;
	if (uint_member(body, "initial_delay_ms", &v) == 1)
		delay_ms = v;
	p->due_ms = io_reactor_now_ms(x->r) + delay_ms;
	p->timer_id = io_timer_id_alloc(x->r);
	*out = p;
	return 0;
}

static int dispatch_probe_start(struct fx_probe *x, const struct fsm_command *c)
{
	struct pending *pe;
	int rc = pending_reserve(x, c->id, &pe);
	if (rc != 0)
		return rc;
	char err[FX_PROBE_MESSAGE_MAX];
	json_object *body = parse_body(c);
	struct probe *old = probe_find(x, c->id, NULL);
	if (old != NULL)
		probe_drop(x, old); /* a restart: counters from zero, a run in flight dropped */
	if (body == NULL) {
		pending_push(x, pe, false, FSM_ERR_PERMANENT,
		             "probe.start: the body is not a JSON object");
		return 0;
	}
	if (x->st.probes >= FX_PROBES_MAX) {
		json_object_put(body);
		snprintf(err, sizeof(err), "probe.start: at most %d probes run at once",
		         FX_PROBES_MAX);
		pending_push(x, pe, false, FSM_ERR_TRANSIENT, err);
		return 0;
	}
	struct probe *p = NULL;
	char why[FX_PROBE_MESSAGE_MAX - 32];
	rc = probe_make(x, c, body, &p, why, sizeof(why));
	json_object_put(body);
	if (rc == -1) {
		snprintf(err, sizeof(err), "probe.start: %s", why);
		pending_push(x, pe, false, FSM_ERR_PERMANENT, err);
		return 0;
	}
	if (rc == 0)
		rc = io_timer_set(x->r, p->timer_id, p->due_ms, on_probe_timer, p);
	if (rc != 0) {
		if (p != NULL)
			probe_free(p);
		snprintf(err, sizeof(err), "probe.start: %s", strerror(-rc));
		pending_push(x, pe, false, FSM_ERR_TRANSIENT, err);
		return 0;
	}
	struct probe **head = &x->buckets[hash_id(p->id)];
	p->next = *head;
	*head = p;
	x->st.probes++;
	pending_push(x, pe, true, FSM_ERR_NONE, "");
	return 0;
}

static int dispatch_probe_stop(struct fx_probe *x, const struct fsm_command *c)
{
	struct pending *pe;
	int rc = pending_reserve(x, c->id, &pe);
	if (rc != 0)
		return rc;
	struct probe *p = probe_find(x, c->id, NULL);
	if (p != NULL)
		probe_drop(x, p);
	pending_push(x, pe, true, FSM_ERR_NONE, "");
	return 0;
}

static int dispatch_hook(struct fx_probe *x, const struct fsm_command *c)
{
	struct pending *pe;
	int rc = pending_reserve(x, c->id, &pe);
	if (rc != 0)
		return rc;
	x->st.hooks++;
	char err[FX_PROBE_MESSAGE_MAX], why[FX_PROBE_MESSAGE_MAX - 64];
	json_object *body = parse_body(c);
	if (body == NULL) {
		pending_push(x, pe, false, FSM_ERR_PERMANENT,
		             "hook.run: the body is not a JSON object");
		return 0;
	}
	struct hook *hk = calloc(1, sizeof(*hk));
	if (hk == NULL) {
		json_object_put(body);
		pending_push(x, pe, false, FSM_ERR_TRANSIENT, "hook.run: out of memory");
		return 0;
	}
	hk->id = dup_str(c->id);
	hk->pod_uid = dup_str(c->pod_uid);
	hk->container = dup_str(c->container);
	hk->container_id = dup_str(str_member(body, "container_id"));
	hk->name = dup_str(str_member(body, "hook"));
	rc = hk->id && hk->pod_uid && hk->container && hk->container_id && hk->name ? 0 : -ENOMEM;
	if (rc == 0)
		rc = parse_handler(member(body, "spec"), str_member(body, "pod_ip"),
		                   member(body, "ports"), true, &hk->h, why, sizeof(why));
	json_object_put(body);
	enum fsm_error_class cls = FSM_ERR_PERMANENT;
	if (rc == -ENOMEM) {
		snprintf(err, sizeof(err), "hook.run: out of memory");
		cls = FSM_ERR_TRANSIENT;
	} else if (rc != 0) {
		snprintf(err, sizeof(err), "hook.run: %s", why);
	} else if (hk->h.kind == FSM_HANDLER_TCP_SOCKET || hk->h.kind == FSM_HANDLER_GRPC) {
		/* The API keeps tcpSocket in lifecycle handlers for compatibility only:
		 * "lifecycle hooks will fail at runtime when it is specified". */
		snprintf(err, sizeof(err),
		         "Cannot run handler: invalid handler: %s is not a lifecycle handler",
		         hk->h.kind == FSM_HANDLER_TCP_SOCKET ? "tcpSocket" : "grpc");
		rc = -1;
	} else if (x->hook_runs >= FX_HOOKS_MAX) {
		snprintf(err, sizeof(err), "hook.run: at most %d hooks run at once", FX_HOOKS_MAX);
		cls = FSM_ERR_TRANSIENT;
		rc = -1;
	}
	if (rc != 0) {
		hook_free(hk);
		pending_push(x, pe, false, cls, err);
		return 0;
	}
	struct run *k = run_new(x, true);
	if (k == NULL) {
		hook_free(hk);
		pending_push(x, pe, false, FSM_ERR_TRANSIENT, "hook.run: out of memory");
		return 0;
	}
	k->hook = hk;
	k->h = &hk->h;
	k->timeout_ms =
	        (uint64_t)(c->timeout_s > 0 ? c->timeout_s : FX_HOOK_TIMEOUT_S_DEFAULT) * 1000;
	k->deadline_ms = io_reactor_now_ms(x->r) + k->timeout_ms;
	rc = run_start(k, hk->container_id);
	if (rc != 0) {
		/* Not started (the runtime's call bound, no fd, ...): worth a retry. */
		struct result res;
		char what[256];
		snprintf(what, sizeof(what), "could not start: %s", start_error(rc));
		res.out = OUT_UNKNOWN;
		hook_fail_msg(&res, k, what);
		k->hook = NULL;
		run_free(k);
		hook_free(hk);
		pending_push(x, pe, false, rc == -ENOTCONN ? FSM_ERR_PERMANENT : FSM_ERR_TRANSIENT,
		             res.msg);
		return 0;
	}
	free(pe); /* the run answers for itself */
	return 0;
}

int fx_probe_dispatch(struct fx_probe *x, const struct fsm_command *c)
{
	assert(x != NULL);
	assert(c != NULL);
	if (c->id == NULL)
		return -EINVAL;
	switch (c->kind) {
	case FSM_CMD_PROBE_START:
		return dispatch_probe_start(x, c);
	case FSM_CMD_PROBE_STOP:
		return dispatch_probe_stop(x, c);
	case FSM_CMD_HOOK_RUN:
		return dispatch_hook(x, c);
	default:
		return -ENOTSUP;
	}
}

/* ---- the loop's side --------------------------------------------------------------------- */

static struct run *run_of(const struct fx_probe *x, CURL *easy)
{
	char *priv = NULL;
	if (easy == NULL || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK)
		return NULL;
	uintptr_t p = (uintptr_t)priv;
	uintptr_t lo = (uintptr_t)&x->slots[0];
	uintptr_t hi = (uintptr_t)&x->slots[SLOTS_MAX];
	if (p < lo || p >= hi || (p - lo) % sizeof(x->slots[0]) != 0)
		return NULL;
	struct run *k = x->slots[(p - lo) / sizeof(x->slots[0])];
	return k != NULL && k->easy == easy ? k : NULL;
}

bool fx_probe_owns(const struct fx_probe *x, CURL *easy)
{
	return run_of(x, easy) != NULL;
}

void fx_probe_on_done(struct fx_probe *x, CURLMsg *msg)
{
	assert(x != NULL);
	assert(msg != NULL);
	if (msg->msg != CURLMSG_DONE)
		return;
	struct run *k = run_of(x, msg->easy_handle);
	if (k == NULL)
		return;
	CURLcode code = msg->data.result; /* msg does not survive the removal */
	curl_multi_remove_handle(x->multi, k->easy);
	k->easy_added = false;
	if (k->h->kind == FSM_HANDLER_GRPC)
		grpc_done(k, code);
	else
		http_done(k, code);
}

void fx_probe_stats(const struct fx_probe *x, struct fx_probe_stats *out)
{
	*out = x->st;
	out->runs_in_flight = x->probe_runs;
	out->hooks_in_flight = x->hook_runs;
}

int fx_probe_new(struct fx_probe **out, struct io_reactor *r, CURLM *multi, struct cri_client *cri,
                 struct fx_sink sink)
{
	if (out == NULL || r == NULL || multi == NULL || sink.event == NULL)
		return -EINVAL;
	*out = NULL;
	struct fx_probe *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->r = r;
	x->multi = multi;
	x->cri = cri;
	x->sink = sink;
	for (unsigned i = 0; i < SLOTS_MAX; i++) {
		x->free_slots[i] = SLOTS_MAX - 1 - i;
		x->slot_timer[i] = io_timer_id_alloc(r);
	}
	x->free_top = SLOTS_MAX;
	x->flush_timer_id = io_timer_id_alloc(r);
	*out = x;
	return 0;
}

void fx_probe_free(struct fx_probe *x)
{
	if (x == NULL)
		return;
	if (x->flush_set)
		io_timer_cancel(x->r, x->flush_timer_id);
	for (struct pending *p = x->pending_head; p != NULL;) {
		struct pending *next = p->next;
		free(p);
		p = next;
	}
	for (unsigned b = 0; b < BUCKETS; b++)
		while (x->buckets[b] != NULL)
			probe_drop(x, x->buckets[b]);
	/* Hooks, and orphaned ExecSync runs (their client ends them without callbacks). */
	for (unsigned i = 0; i < SLOTS_MAX; i++) {
		struct run *k = x->slots[i];
		if (k == NULL)
			continue;
		struct hook *hk = k->hook;
		k->hook = NULL;
		run_free(k);
		hook_free(hk);
	}
	assert(x->probe_runs == 0);
	assert(x->hook_runs == 0);
	assert(x->st.probes == 0);
	free(x);
}
