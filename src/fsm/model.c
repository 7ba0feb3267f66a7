/*
 * fsm/model.c — decoding a Pod (see model.h).
 *
 * The bytes come from the journal as the API server or a manifest gave them
 * (DESIGN.md contract 7). json-c parses them once; this file walks the tree and
 * fills a struct fsm_pod_spec, applying what the API server would have applied
 * had it seen the Pod: the defaults of pkg/apis/core/v1/defaults.go, the checks
 * of its validation that the fold relies on (names, handlers, thresholds,
 * requests within limits), the QoS class (pkg/apis/core/v1/helper/qos) and the
 * effective request (component-helpers/resource PodRequests). A manifest Pod
 * never met an API server, so these are its only checks.
 *
 * Errors name the JSON path of the field, as kubectl prints them
 * (`spec.containers[0].resources.limits.memory: "12Qi" is not a quantity`).
 * The decoder reports the first error and frees what it built.
 *
 * Volumes are decoded for what the fold needs (name, type, the ConfigMaps and
 * Secrets they read, a projected token's lifetime) and checked as the API's
 * validation checks them (one source each, unique names, mounts that name a
 * volume, relative subPaths); the volume executor reads the rest from the raw
 * JSON kept beside them.
 *
 * Not decoded (yet): env, securityContext, ephemeral
 * containers, pod-level resources (spec.resources, beta upstream) and anything
 * else the fold does not read; the raw JSON of each container carries them to
 * the executors.
 */
#include "fsm/model.h"

#include <assert.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <json-c/linkhash.h> /* json_object_object_foreach */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The path of the field being decoded; longer paths are cut (the message still
 * says what is wrong). */
#define PATH_BYTES_MAX  192
/* How much of a bad value an error message quotes. */
#define QUOTE_BYTES_MAX 40
#define QUOTE_BUF_BYTES (QUOTE_BYTES_MAX * 2 + 8)

#define DEFAULT_GRACE_S     30
#define DNS_LABEL_BYTES_MAX 63

/* ---- errors and the path ----------------------------------------------------------------- */

struct dec {
	char *err; /* the caller's; NULL when it wants no message */
	size_t err_len;
	char path[PATH_BYTES_MAX];
	size_t path_len;
};

static size_t path_append(struct dec *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Appends to the path; returns the length to give path_pop() afterwards. */
static size_t path_append(struct dec *d, const char *fmt, ...)
{
	size_t old = d->path_len;
	size_t room = sizeof(d->path) - old;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(d->path + old, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	d->path_len = (size_t)n < room ? old + (size_t)n : sizeof(d->path) - 1;
	return old;
}

static size_t path_key(struct dec *d, const char *key)
{
	return path_append(d, d->path_len == 0 ? "%s" : ".%s", key);
}

static size_t path_index(struct dec *d, size_t i)
{
	return path_append(d, "[%zu]", i);
}

static void path_pop(struct dec *d, size_t len)
{
	assert(len <= d->path_len);
	d->path_len = len;
	d->path[len] = '\0';
}

static int vfail(struct dec *d, const char *key, const char *fmt, va_list ap)
{
	if (d->err == NULL || d->err_len == 0)
		return -1;
	const char *dot = d->path_len > 0 && key != NULL ? "." : "";
	const char *colon = d->path_len > 0 || key != NULL ? ": " : "";
	int n = snprintf(d->err, d->err_len, "%s%s%s%s", d->path, dot, key != NULL ? key : "",
	                 colon);
	size_t used = n < 0 ? 0 : (size_t)n;
	if (used < d->err_len)
		vsnprintf(d->err + used, d->err_len - used, fmt, ap);
	return -1;
}

static int fail(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(struct dec *d, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Reports an error at the current path; returns -1. */
static int fail(struct dec *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(d, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reports an error at the member `key` of the current path; returns -1. */
static int fail_at(struct dec *d, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(d, key, fmt, ap);
	va_end(ap);
	return -1;
}

/* s as a quoted string for a message: cut on a UTF-8 boundary, quotes and
 * backslashes escaped, control characters shown as '?'. Returns buf. */
static const char *quote(char buf[QUOTE_BUF_BYTES], const char *s)
{
	size_t n = strlen(s), cut = n;
	if (cut > QUOTE_BYTES_MAX) {
		cut = QUOTE_BYTES_MAX - 3;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (cut < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	assert(o < QUOTE_BUF_BYTES);
	return buf;
}

static int enomem(struct dec *d)
{
	return fail(d, "out of memory");
}

/* ---- typed members ----------------------------------------------------------------------- */

/* obj's member `key`: NULL when absent or JSON null (the API's decoder reads
 * both as unset, and json-c holds null as a NULL object). */
static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

static int get_typed(struct dec *d, struct json_object *obj, const char *key, enum json_type type,
                     const char *want, struct json_object **out)
{
	*out = member(obj, key);
	if (*out != NULL && !json_object_is_type(*out, type))
		return fail_at(d, key, "want %s", want);
	return 0;
}

static int get_object(struct dec *d, struct json_object *obj, const char *key,
                      struct json_object **out)
{
	return get_typed(d, obj, key, json_type_object, "an object", out);
}

static int get_array(struct dec *d, struct json_object *obj, const char *key,
                     struct json_object **out)
{
	return get_typed(d, obj, key, json_type_array, "an array", out);
}

/* A string member, borrowed from the tree (NULL when unset). */
static int get_str(struct dec *d, struct json_object *obj, const char *key, const char **out)
{
	struct json_object *v;
	if (get_typed(d, obj, key, json_type_string, "a string", &v) != 0)
		return -1;
	*out = NULL;
	if (v == NULL)
		return 0;
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return fail_at(d, key, "a string must not hold a NUL character (\\u0000)");
	*out = s;
	return 0;
}

static int dup_str(struct dec *d, const char *s, char **out)
{
	size_t n = strlen(s);
	*out = malloc(n + 1);
	if (*out == NULL)
		return enomem(d);
	memcpy(*out, s, n + 1);
	return 0;
}

/* A string member copied into *out ("" or dflt when unset). */
static int take_str(struct dec *d, struct json_object *obj, const char *key, const char *dflt,
                    char **out)
{
	const char *s;
	if (get_str(d, obj, key, &s) != 0)
		return -1;
	return dup_str(d, s != NULL ? s : dflt, out);
}

static int get_bool(struct dec *d, struct json_object *obj, const char *key, bool *out)
{
	struct json_object *v;
	if (get_typed(d, obj, key, json_type_boolean, "true or false", &v) != 0)
		return -1;
	if (v != NULL)
		*out = json_object_get_boolean(v) != 0;
	return 0;
}

/* An integer member within [min, max]; *out is left alone when unset. */
static int get_int(struct dec *d, struct json_object *obj, const char *key, int64_t min,
                   int64_t max, int64_t *out, bool *present)
{
	struct json_object *v = member(obj, key);
	if (present != NULL)
		*present = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail_at(d, key, "want an integer");
	int64_t x = json_object_get_int64(v);
	bool beyond = x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX;
	if (beyond || x < min || x > max)
		return fail_at(d, key, "want an integer from %lld to %lld, got %s", (long long)min,
		               (long long)max, json_object_get_string(v));
	*out = x;
	return 0;
}

static int get_i32(struct dec *d, struct json_object *obj, const char *key, int32_t min,
                   int32_t max, int32_t *out, bool *present)
{
	int64_t x = *out;
	if (get_int(d, obj, key, min, max, &x, present) != 0)
		return -1;
	*out = (int32_t)x;
	return 0;
}

/* The index of s in names, or -1. */
static int lookup(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* "A, B or C" of names, for messages. */
static const char *one_of(char *buf, size_t cap, const char *const *names, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + o, cap - o, "%s%s", sep, names[i]);
		o += w < 0 ? 0 : (size_t)w;
	}
	return buf;
}

/* A string member that must be one of names; *out is its index, or dflt when
 * unset or "". */
static int get_enum(struct dec *d, struct json_object *obj, const char *key,
                    const char *const *names, size_t n, int dflt, int *out)
{
	const char *s;
	if (get_str(d, obj, key, &s) != 0)
		return -1;
	*out = dflt;
	if (s == NULL || s[0] == '\0')
		return 0;
	*out = lookup(s, names, n);
	if (*out >= 0)
		return 0;
	char q[QUOTE_BUF_BYTES], list[128];
	return fail_at(d, key, "%s is not one of %s", quote(q, s),
	               one_of(list, sizeof(list), names, n));
}

/* Checks an array member against a limit; *out is the array or NULL, *n its length. */
static int get_bounded_array(struct dec *d, struct json_object *obj, const char *key, size_t max,
                             const char *what, struct json_object **out, size_t *n)
{
	if (get_array(d, obj, key, out) != 0)
		return -1;
	*n = *out != NULL ? json_object_array_length(*out) : 0;
	if (*n > max)
		return fail_at(d, key, "%zu %s, more than the limit of %zu", *n, what, max);
	return 0;
}

/* The raw JSON of a subtree, deterministic (json-c keeps member order and the
 * spelling of numbers as received). */
static int raw_json(struct dec *d, struct json_object *obj, char **out, size_t *out_len)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(
	        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (s == NULL)
		return enomem(d);
	*out = malloc(n + 1);
	if (*out == NULL)
		return enomem(d);
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	*out_len = n;
	return 0;
}

/* 64-bit FNV-1a. */
static uint64_t fnv1a64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	assert(a >= 0);
	assert(b >= 0);
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (Howard
 * Hinnant's days_from_civil: libc's timegm is not among the fold's symbols). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at *p into *out; advances *p. */
static bool digits(const char **p, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool lit(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/*
 * RFC 3339 as Go's time.Parse(time.RFC3339) reads it, metav1.Time's format:
 * "2024-01-02T03:04:05Z", an optional fraction of a second (cut to the
 * millisecond), and Z or an offset "+01:00". Into ms since the epoch.
 */
static bool parse_rfc3339_ms(const char *s, int64_t *ms)
{
	static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	unsigned y, mo, d, h, mi, sec;
	if (!digits(&p, 4, &y) || !lit(&p, '-') || !digits(&p, 2, &mo) || !lit(&p, '-') ||
	    !digits(&p, 2, &d) || !lit(&p, 'T') || !digits(&p, 2, &h) || !lit(&p, ':') ||
	    !digits(&p, 2, &mi) || !lit(&p, ':') || !digits(&p, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	int64_t frac_ms = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		for (; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		if (n == 0)
			return false;
		for (; n < 3; n++)
			frac_ms *= 10;
	}
	int64_t offset_s = 0;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		unsigned oh, om;
		p++;
		if (!digits(&p, 2, &oh) || !lit(&p, ':') || !digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		offset_s = sign * (int64_t)(oh * 3600 + om * 60);
	} else if (!lit(&p, 'Z')) {
		return false;
	}
	if (*p != '\0')
		return false;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
	*ms = secs * 1000 + frac_ms;
	return true;
}

static int decode_metadata(struct dec *d, struct json_object *meta, struct fsm_pod_spec *spec)
{
	const char *name;
	if (get_str(d, meta, "name", &name) != 0)
		return -1;
	if (name == NULL || name[0] == '\0')
		return fail_at(d, "name", "required");
	const char *ns;
	if (get_str(d, meta, "namespace", &ns) != 0)
		return -1;
	if (dup_str(d, name, &spec->name) != 0 ||
	    dup_str(d, ns != NULL && ns[0] != '\0' ? ns : "default", &spec->namespace_) != 0 ||
	    take_str(d, meta, "uid", "", &spec->uid) != 0 ||
	    take_str(d, meta, "resourceVersion", "", &spec->resource_version) != 0)
		return -1;
	int64_t generation = 0;
	if (get_int(d, meta, "generation", 0, INT64_MAX, &generation, NULL) != 0)
		return -1;
	spec->generation = (uint64_t)generation;
	const char *ts;
	if (get_str(d, meta, "deletionTimestamp", &ts) != 0)
		return -1;
	if (ts != NULL) {
		int64_t ms = 0;
		char q[QUOTE_BUF_BYTES];
		if (!parse_rfc3339_ms(ts, &ms))
			return fail_at(d, "deletionTimestamp",
			               "%s is not an RFC 3339 timestamp, such as \"2024-01-02T03:04:05Z\"",
			               quote(q, ts));
		if (ms < 0)
			return fail_at(d, "deletionTimestamp", "%s is before 1970", quote(q, ts));
		/* 0 means "not being deleted": the epoch itself is one ms later. */
		spec->deletion_wall_ms = ms > 0 ? (uint64_t)ms : 1;
	}
	spec->deletion_grace_s = -1;
	return get_int(d, meta, "deletionGracePeriodSeconds", 0, INT64_MAX, &spec->deletion_grace_s,
	               NULL);
}

/* ---- containers -------------------------------------------------------------------------- */

/* RFC 1123 label, as IsDNS1123Label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool is_dns_label(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DNS_LABEL_BYTES_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* A tag as the reference grammar has it: [\w][\w.-]{0,127}. */
static bool is_tag(const char *p, size_t n)
{
	if (n == 0 || n > 128 || p[0] == '.' || p[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || is_upper(c) || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * SetDefaults_Container: imagePullPolicy is Always when the image's tag is
 * "latest", or when it has neither tag nor digest (ParseImageName then answers
 * "latest"); IfNotPresent otherwise, including when the reference does not
 * parse. The tag is after the last ':' of the last path component, so a
 * registry port (127.0.0.1:5000/busybox) is no tag; a digest (@sha256:...)
 * pins the image without a tag. The reference grammar is checked only as far
 * as it decides the answer: whitespace, an upper-case repository path, a bad
 * tag.
 */
static enum fsm_pull_policy default_pull_policy(const char *image)
{
	const char *at = strchr(image, '@');
	size_t n = at != NULL ? (size_t)(at - image) : strlen(image);
	size_t last_slash = n; /* n: none */
	for (size_t i = 0; i < n; i++) {
		if (is_space(image[i]))
			return FSM_PULL_IF_NOT_PRESENT;
		if (image[i] == '/')
			last_slash = i;
	}
	size_t path_from = 0; /* upper case is allowed in the registry host only */
	if (last_slash < n) {
		const char *first_slash = memchr(image, '/', n);
		path_from = (size_t)(first_slash - image) + 1;
	}
	size_t tail = last_slash < n ? last_slash + 1 : 0;
	const char *colon = memchr(image + tail, ':', n - tail);
	size_t name_end = colon != NULL ? (size_t)(colon - image) : n;
	if (name_end == 0)
		return FSM_PULL_IF_NOT_PRESENT;
	for (size_t i = path_from; i < name_end; i++)
		if (is_upper(image[i]))
			return FSM_PULL_IF_NOT_PRESENT;
	if (colon == NULL)
		return at == NULL ? FSM_PULL_ALWAYS : FSM_PULL_IF_NOT_PRESENT;
	const char *tag = colon + 1;
	size_t tag_len = n - (size_t)(tag - image);
	if (!is_tag(tag, tag_len))
		return FSM_PULL_IF_NOT_PRESENT;
	return tag_len == 6 && memcmp(tag, "latest", 6) == 0 ? FSM_PULL_ALWAYS
	                                                     : FSM_PULL_IF_NOT_PRESENT;
}

struct handler_kind {
	const char *name;
	enum fsm_handler_kind kind;
};

static const struct handler_kind PROBE_HANDLERS[] = {
        {"exec", FSM_HANDLER_EXEC},
        {"httpGet", FSM_HANDLER_HTTP_GET},
        {"tcpSocket", FSM_HANDLER_TCP_SOCKET},
        {"grpc", FSM_HANDLER_GRPC},
};

/* tcpSocket in a hook is deprecated upstream (never run) but accepted. */
static const struct handler_kind HOOK_HANDLERS[] = {
        {"exec", FSM_HANDLER_EXEC},
        {"httpGet", FSM_HANDLER_HTTP_GET},
        {"tcpSocket", FSM_HANDLER_TCP_SOCKET},
        {"sleep", FSM_HANDLER_SLEEP},
};

/* Which one handler obj has: exactly one of the table's members, an object. */
static int handler_kind(struct dec *d, struct json_object *obj, const struct handler_kind *table,
                        size_t n, enum fsm_handler_kind *out)
{
	const char *found = NULL;
	*out = FSM_HANDLER_NONE;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v;
		if (get_object(d, obj, table[i].name, &v) != 0)
			return -1;
		if (v == NULL)
			continue;
		if (found != NULL)
			return fail(d, "may not specify more than 1 handler type (%s and %s)",
			            found, table[i].name);
		found = table[i].name;
		*out = table[i].kind;
	}
	if (found == NULL)
		return fail(d, "must specify a handler type: one of %s, %s, %s or %s",
		            table[0].name, table[1].name, table[2].name, table[3].name);
	return 0;
}

enum probe_type { PROBE_LIVENESS, PROBE_READINESS, PROBE_STARTUP };

/* A probe, with SetDefaults_Probe's defaults and validateProbe's checks. */
static int decode_probe(struct dec *d, struct json_object *obj, enum probe_type type,
                        struct fsm_handler *h)
{
	if (handler_kind(d, obj, PROBE_HANDLERS, COUNT(PROBE_HANDLERS), &h->kind) != 0)
		return -1;
	h->initial_delay_s = 0;
	h->period_s = 0;
	h->timeout_s = 0;
	h->success_threshold = 0;
	h->failure_threshold = 0;
	h->termination_grace_s = -1;
	bool grace_set = false;
	if (get_i32(d, obj, "initialDelaySeconds", 0, INT32_MAX, &h->initial_delay_s, NULL) != 0 ||
	    get_i32(d, obj, "periodSeconds", 0, INT32_MAX, &h->period_s, NULL) != 0 ||
	    get_i32(d, obj, "timeoutSeconds", 0, INT32_MAX, &h->timeout_s, NULL) != 0 ||
	    get_i32(d, obj, "successThreshold", 0, INT32_MAX, &h->success_threshold, NULL) != 0 ||
	    get_i32(d, obj, "failureThreshold", 0, INT32_MAX, &h->failure_threshold, NULL) != 0 ||
	    get_int(d, obj, "terminationGracePeriodSeconds", 1, INT64_MAX, &h->termination_grace_s,
	            &grace_set) != 0)
		return -1;
	if (h->period_s == 0)
		h->period_s = 10;
	if (h->timeout_s == 0)
		h->timeout_s = 1;
	if (h->success_threshold == 0)
		h->success_threshold = 1;
	if (h->failure_threshold == 0)
		h->failure_threshold = 3;
	if (type != PROBE_READINESS && h->success_threshold != 1)
		return fail_at(d, "successThreshold",
		               "must be 1 for liveness and startup probes, got %d",
		               (int)h->success_threshold);
	if (type == PROBE_READINESS && grace_set)
		return fail_at(d, "terminationGracePeriodSeconds",
		               "must not be set for readiness probes");
	return raw_json(d, obj, &h->json, &h->json_len);
}

static int decode_hook(struct dec *d, struct json_object *obj, struct fsm_handler *h)
{
	if (handler_kind(d, obj, HOOK_HANDLERS, COUNT(HOOK_HANDLERS), &h->kind) != 0)
		return -1;
	h->termination_grace_s = -1;
	if (h->kind == FSM_HANDLER_SLEEP) {
		struct json_object *sleep = member(obj, "sleep");
		size_t at = path_key(d, "sleep");
		int rc = get_int(d, sleep, "seconds", 0, INT64_MAX, &h->sleep_s, NULL);
		path_pop(d, at);
		if (rc != 0)
			return -1;
	}
	return raw_json(d, obj, &h->json, &h->json_len);
}

/* Decodes the member `key` (a probe or a hook) of obj into h, if present. */
static int decode_handler_member(struct dec *d, struct json_object *obj, const char *key,
                                 bool allowed, int probe_type, struct fsm_handler *h)
{
	struct json_object *v;
	if (get_object(d, obj, key, &v) != 0)
		return -1;
	if (v == NULL)
		return 0;
	if (!allowed)
		return fail_at(d, key,
		               "must not be set for init containers without "
		               "restartPolicy: Always");
	size_t at = path_key(d, key);
	int rc = probe_type >= 0 ? decode_probe(d, v, (enum probe_type)probe_type, h)
	                         : decode_hook(d, v, h);
	path_pop(d, at);
	return rc;
}

static const char *const PROTOCOLS[] = {"TCP", "UDP", "SCTP"};

static int decode_port(struct dec *d, struct json_object *obj, bool host_network,
                       struct fsm_port *port)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	bool present = false;
	int32_t cport = 0, hport = 0;
	if (get_i32(d, obj, "containerPort", 1, 65535, &cport, &present) != 0)
		return -1;
	if (!present)
		return fail_at(d, "containerPort", "required");
	if (get_i32(d, obj, "hostPort", 0, 65535, &hport, NULL) != 0)
		return -1;
	int proto = 0;
	if (get_enum(d, obj, "protocol", PROTOCOLS, COUNT(PROTOCOLS), 0, &proto) != 0)
		return -1;
	port->container_port = cport;
	/* SetDefaults_Pod: on the host's network a port is a host port. */
	port->host_port = hport == 0 && host_network ? cport : hport;
	assert(strlen(PROTOCOLS[proto]) < sizeof(port->protocol));
	memcpy(port->protocol, PROTOCOLS[proto], strlen(PROTOCOLS[proto]) + 1);
	if (take_str(d, obj, "hostIP", "", &port->host_ip) != 0 ||
	    take_str(d, obj, "name", "", &port->name) != 0)
		return -1;
	return 0;
}

static int decode_ports(struct dec *d, struct json_object *c, bool host_network,
                        struct fsm_container_spec *out)
{
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, c, "ports", FSM_PORTS_MAX, "ports", &arr, &n) != 0)
		return -1;
	if (n == 0)
		return 0;
	out->ports = calloc(n, sizeof(out->ports[0]));
	if (out->ports == NULL)
		return enomem(d);
	out->nports = n;
	size_t at = path_key(d, "ports");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_index(d, i);
		rc = decode_port(d, json_object_array_get_idx(arr, i), host_network,
		                 &out->ports[i]);
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

/* A path that stays below where it is joined: relative, no ".." element. */
static int check_sub_path(struct dec *d, const char *key, const char *s)
{
	char q[QUOTE_BUF_BYTES];
	if (s[0] == '/')
		return fail_at(d, key, "%s must be a relative path", quote(q, s));
	for (const char *p = s; *p != '\0';) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail_at(d, key, "%s must not contain '..'", quote(q, s));
		p += n;
		p += *p == '/';
	}
	return 0;
}

static int decode_mount(struct dec *d, struct json_object *obj, struct fsm_volume_mount *m)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	const char *expr;
	if (take_str(d, obj, "name", "", &m->name) != 0 ||
	    take_str(d, obj, "mountPath", "", &m->mount_path) != 0 ||
	    take_str(d, obj, "subPath", "", &m->sub_path) != 0 ||
	    get_bool(d, obj, "readOnly", &m->read_only) != 0 || get_str(d, obj, "subPathExpr", &expr) != 0)
		return -1;
	if (m->name[0] == '\0')
		return fail_at(d, "name", "required");
	if (m->mount_path[0] == '\0')
		return fail_at(d, "mountPath", "required");
	if (m->mount_path[0] != '/') {
		char q[QUOTE_BUF_BYTES];
		return fail_at(d, "mountPath", "%s must be an absolute path", quote(q, m->mount_path));
	}
	if (expr != NULL && expr[0] != '\0')
		return fail_at(d, "subPathExpr", "is not supported by this node");
	return check_sub_path(d, "subPath", m->sub_path);
}

static int decode_mounts(struct dec *d, struct json_object *c, struct fsm_container_spec *out)
{
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, c, "volumeMounts", FSM_MOUNTS_MAX, "volume mounts", &arr, &n) != 0)
		return -1;
	if (n == 0)
		return 0;
	out->mounts = calloc(n, sizeof(out->mounts[0]));
	if (out->mounts == NULL)
		return enomem(d);
	out->nmounts = n;
	size_t at = path_key(d, "volumeMounts");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_index(d, i);
		rc = decode_mount(d, json_object_array_get_idx(arr, i), &out->mounts[i]);
		for (size_t j = 0; j < i && rc == 0; j++)
			if (strcmp(out->mounts[j].mount_path, out->mounts[i].mount_path) == 0) {
				char q[QUOTE_BUF_BYTES];
				rc = fail_at(d, "mountPath", "%s must be unique",
				             quote(q, out->mounts[i].mount_path));
			}
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

/* The resources a decoded list keeps; others are checked to be quantities. */
enum res { RES_CPU, RES_MEMORY, RES_EPHEMERAL, RES_COUNT };
static const char *const RES_NAMES[RES_COUNT] = {"cpu", "memory", "ephemeral-storage"};

/* A ResourceList (requests, limits, overhead): -1 for each resource unset. */
static int decode_resource_list(struct dec *d, struct json_object *list, int64_t out[RES_COUNT])
{
	for (int r = 0; r < RES_COUNT; r++)
		out[r] = -1;
	if (list == NULL)
		return 0;
	json_object_object_foreach(list, name, v)
	{
		/* Quantity.UnmarshalJSON takes a string or a bare number's text. */
		char q[QUOTE_BUF_BYTES];
		/* null is the zero quantity there. */
		const char *s = v == NULL ? "0" : json_object_get_string(v);
		if (v != NULL && !json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double))
			return fail_at(d, name,
			               "want a quantity (a string such as \"100m\" or \"1Gi\")");
		int r = lookup(name, RES_NAMES, RES_COUNT);
		int64_t x = 0;
		int rc = r == RES_CPU ? fsm_quantity_milli(s, &x) : fsm_quantity_bytes(s, &x);
		bool nul = json_object_is_type(v, json_type_string) &&
		           strlen(s) != (size_t)json_object_get_string_len(v);
		if (rc != 0 || nul)
			return fail_at(d, name, "%s is not a quantity", quote(q, s));
		if (x < 0)
			return fail_at(d, name, "%s must be greater than or equal to 0",
			               quote(q, s));
		if (r >= 0)
			out[r] = x;
	}
	return 0;
}

static int decode_resources(struct dec *d, struct json_object *c, struct fsm_resources *res)
{
	struct json_object *obj, *requests, *limits;
	if (get_object(d, c, "resources", &obj) != 0)
		return -1;
	size_t at = path_key(d, "resources");
	int64_t req[RES_COUNT], lim[RES_COUNT];
	int rc = get_object(d, obj, "requests", &requests);
	if (rc == 0)
		rc = get_object(d, obj, "limits", &limits);
	if (rc == 0) {
		size_t at_list = path_key(d, "requests");
		rc = decode_resource_list(d, requests, req);
		path_pop(d, at_list);
	}
	if (rc == 0) {
		size_t at_list = path_key(d, "limits");
		rc = decode_resource_list(d, limits, lim);
		path_pop(d, at_list);
	}
	for (int r = 0; r < RES_COUNT && rc == 0; r++) {
		/* SetDefaults_Pod: a limit without a request is the request too. */
		if (req[r] < 0)
			req[r] = lim[r];
		if (lim[r] >= 0 && req[r] > lim[r]) {
			size_t at_list = path_key(d, "requests");
			rc = fail_at(d, RES_NAMES[r],
			             "%lld%s must be less than or equal to the limit %lld%s",
			             (long long)req[r], r == RES_CPU ? "m" : "", (long long)lim[r],
			             r == RES_CPU ? "m" : "");
			path_pop(d, at_list);
		}
	}
	path_pop(d, at);
	if (rc != 0)
		return -1;
	res->cpu_request_milli = req[RES_CPU];
	res->cpu_limit_milli = lim[RES_CPU];
	res->memory_request_bytes = req[RES_MEMORY];
	res->memory_limit_bytes = lim[RES_MEMORY];
	res->ephemeral_request_bytes = req[RES_EPHEMERAL];
	res->ephemeral_limit_bytes = lim[RES_EPHEMERAL];
	return 0;
}

static const char *const PULL_POLICIES[] = {"IfNotPresent", "Always", "Never"};

static int decode_container(struct dec *d, struct json_object *c, bool init, bool host_network,
                            struct fsm_container_spec *out)
{
	static_assert(FSM_PULL_IF_NOT_PRESENT == 0 && FSM_PULL_ALWAYS == 1 && FSM_PULL_NEVER == 2,
	              "PULL_POLICIES is in enum order");
	if (!json_object_is_type(c, json_type_object))
		return fail(d, "want an object");
	out->init = init;
	const char *name, *image, *restart;
	char q[QUOTE_BUF_BYTES];
	if (get_str(d, c, "name", &name) != 0)
		return -1;
	if (name == NULL || name[0] == '\0')
		return fail_at(d, "name", "required");
	if (!is_dns_label(name))
		return fail_at(d, "name",
		               "%s is not a DNS label (lower-case letters, digits and '-', "
		               "at most 63, starting and ending with a letter or digit)",
		               quote(q, name));
	if (dup_str(d, name, &out->name) != 0)
		return -1;
	if (get_str(d, c, "image", &image) != 0)
		return -1;
	if (image == NULL || image[0] == '\0')
		return fail_at(d, "image", "required");
	if (is_space(image[0]) || is_space(image[strlen(image) - 1]))
		return fail_at(d, "image", "%s must not have leading or trailing whitespace",
		               quote(q, image));
	if (dup_str(d, image, &out->image) != 0)
		return -1;
	int pull = -1;
	if (get_enum(d, c, "imagePullPolicy", PULL_POLICIES, COUNT(PULL_POLICIES), -1, &pull) != 0)
		return -1;
	out->pull_policy = pull >= 0 ? (enum fsm_pull_policy)pull : default_pull_policy(image);

	if (get_str(d, c, "restartPolicy", &restart) != 0)
		return -1;
	if (restart != NULL && !init)
		return fail_at(d, "restartPolicy", "may only be set for init containers");
	if (restart != NULL && strcmp(restart, "Always") != 0)
		return fail_at(d, "restartPolicy",
		               "%s is not supported: an init container may only set Always "
		               "(a sidecar)",
		               quote(q, restart));
	out->sidecar = init && restart != NULL;

	if (decode_ports(d, c, host_network, out) != 0 || decode_resources(d, c, &out->res) != 0 ||
	    decode_mounts(d, c, out) != 0)
		return -1;
	/* Probes and hooks belong to containers that keep running: apps and sidecars. */
	bool runs = !init || out->sidecar;
	struct json_object *lifecycle;
	if (decode_handler_member(d, c, "livenessProbe", runs, PROBE_LIVENESS, &out->liveness) !=
	            0 ||
	    decode_handler_member(d, c, "readinessProbe", runs, PROBE_READINESS, &out->readiness) !=
	            0 ||
	    decode_handler_member(d, c, "startupProbe", runs, PROBE_STARTUP, &out->startup) != 0 ||
	    get_object(d, c, "lifecycle", &lifecycle) != 0)
		return -1;
	if (lifecycle != NULL) {
		size_t at = path_key(d, "lifecycle");
		int rc = decode_handler_member(d, lifecycle, "postStart", runs, -1,
		                               &out->post_start);
		if (rc == 0)
			rc = decode_handler_member(d, lifecycle, "preStop", runs, -1,
			                           &out->pre_stop);
		path_pop(d, at);
		if (rc != 0)
			return -1;
	}
	if (raw_json(d, c, &out->json, &out->json_len) != 0)
		return -1;
	out->spec_hash = fnv1a64(out->json, out->json_len);
	return 0;
}

static int decode_containers(struct dec *d, struct json_object *pod_spec, bool host_network,
                             struct fsm_pod_spec *spec)
{
	struct json_object *inits, *apps;
	if (get_array(d, pod_spec, "initContainers", &inits) != 0 ||
	    get_array(d, pod_spec, "containers", &apps) != 0)
		return -1;
	size_t ninit = inits != NULL ? json_object_array_length(inits) : 0;
	size_t napp = apps != NULL ? json_object_array_length(apps) : 0;
	if (napp == 0)
		return fail_at(d, "containers", "a pod needs at least one container");
	if (ninit + napp > FSM_CONTAINERS_MAX)
		return fail_at(d,
		               napp > FSM_CONTAINERS_MAX || ninit == 0 ? "containers"
		                                                       : "initContainers",
		               "%zu containers (init and app together), more than the limit of %d",
		               ninit + napp, FSM_CONTAINERS_MAX);
	spec->containers = calloc(ninit + napp, sizeof(spec->containers[0]));
	if (spec->containers == NULL)
		return enomem(d);
	spec->ncontainers = ninit + napp;
	spec->ninit = ninit;
	for (size_t k = 0; k < ninit + napp; k++) {
		bool init = k < ninit;
		size_t i = init ? k : k - ninit;
		size_t at = path_key(d, init ? "initContainers" : "containers");
		path_index(d, i);
		struct json_object *c = json_object_array_get_idx(init ? inits : apps, i);
		int rc = decode_container(d, c, init, host_network, &spec->containers[k]);
		/* Names are unique across init and app containers. */
		for (size_t j = 0; j < k && rc == 0; j++) {
			if (strcmp(spec->containers[j].name, spec->containers[k].name) == 0) {
				char q[QUOTE_BUF_BYTES];
				rc = fail_at(d, "name", "duplicate %s",
				             quote(q, spec->containers[k].name));
			}
		}
		path_pop(d, at);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- volumes ----------------------------------------------------------------------------- */

static const char *const VOLUME_TYPES[] = {
	[FSM_VOL_EMPTY_DIR] = "emptyDir", [FSM_VOL_HOST_PATH] = "hostPath",
	[FSM_VOL_CONFIGMAP] = "configMap", [FSM_VOL_SECRET] = "secret",
	[FSM_VOL_DOWNWARD_API] = "downwardAPI", [FSM_VOL_PROJECTED] = "projected",
};

static const char *const PLUGIN_DIRS[] = {
	[FSM_VOL_EMPTY_DIR] = "kubernetes.io~empty-dir", [FSM_VOL_CONFIGMAP] = "kubernetes.io~configmap",
	[FSM_VOL_SECRET] = "kubernetes.io~secret", [FSM_VOL_DOWNWARD_API] = "kubernetes.io~downward-api",
	[FSM_VOL_PROJECTED] = "kubernetes.io~projected",
};

const char *fsm_volume_plugin_dir(enum fsm_volume_type type)
{
	return (size_t)type < COUNT(PLUGIN_DIRS) ? PLUGIN_DIRS[type] : NULL;
}

/* Adds the object `key` of src names (configMap.name, secret.secretName). */
static int add_ref(struct dec *d, struct json_object *src, const char *key, bool secret,
                   struct fsm_volume *v)
{
	const char *name;
	if (get_str(d, src, key, &name) != 0)
		return -1;
	if (name == NULL || name[0] == '\0')
		return fail_at(d, key, "required");
	for (size_t i = 0; i < v->nrefs; i++)
		if (v->refs[i].secret == secret && strcmp(v->refs[i].name, name) == 0)
			return 0;
	if (v->nrefs == FSM_VOLUME_REFS_MAX)
		return fail_at(d, key, "more than %d ConfigMaps and Secrets in one volume",
		               FSM_VOLUME_REFS_MAX);
	if (v->refs == NULL) {
		v->refs = calloc(FSM_VOLUME_REFS_MAX, sizeof(v->refs[0]));
		if (v->refs == NULL)
			return enomem(d);
	}
	struct fsm_object_ref *r = &v->refs[v->nrefs];
	r->secret = secret;
	if (dup_str(d, name, &r->name) != 0)
		return -1;
	v->nrefs++;
	return 0;
}

/* One member of a typed source (src's `key` object): the object's name. */
static int source_ref(struct dec *d, struct json_object *src, const char *member_key,
                      const char *name_key, bool secret, struct fsm_volume *v)
{
	struct json_object *o;
	if (get_object(d, src, member_key, &o) != 0)
		return -1;
	if (o == NULL)
		return 0;
	size_t at = path_key(d, member_key);
	int rc = add_ref(d, o, name_key, secret, v);
	path_pop(d, at);
	return rc;
}

#define TOKEN_EXPIRATION_DEFAULT_S 3600
#define TOKEN_EXPIRATION_MIN_S     600

static int decode_projected(struct dec *d, struct json_object *p, struct fsm_volume *v)
{
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, p, "sources", FSM_VOLUME_REFS_MAX, "sources", &arr, &n) != 0)
		return -1;
	size_t at = path_key(d, "sources");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_index(d, i);
		struct json_object *s = json_object_array_get_idx(arr, i), *tok;
		if (!json_object_is_type(s, json_type_object))
			rc = fail(d, "want an object");
		if (rc == 0)
			rc = source_ref(d, s, "configMap", "name", false, v);
		if (rc == 0)
			rc = source_ref(d, s, "secret", "name", true, v);
		if (rc == 0)
			rc = get_object(d, s, "serviceAccountToken", &tok);
		if (rc == 0 && tok != NULL) {
			size_t at_t = path_key(d, "serviceAccountToken");
			int64_t exp = TOKEN_EXPIRATION_DEFAULT_S;
			rc = get_int(d, tok, "expirationSeconds", TOKEN_EXPIRATION_MIN_S,
			             (int64_t)1 << 32, &exp, NULL);
			path_pop(d, at_t);
			if (v->token_expiration_s < 0 || exp < v->token_expiration_s)
				v->token_expiration_s = exp;
		}
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

static int decode_volume(struct dec *d, struct json_object *obj, struct fsm_volume *v)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	v->token_expiration_s = -1;
	char q[QUOTE_BUF_BYTES];
	if (take_str(d, obj, "name", "", &v->name) != 0)
		return -1;
	if (v->name[0] == '\0')
		return fail_at(d, "name", "required");
	if (!is_dns_label(v->name))
		return fail_at(d, "name", "%s is not a DNS label", quote(q, v->name));
	/* The source: the one member besides the name (ValidateVolumeSource). */
	const char *type = NULL;
	struct json_object *src = NULL;
	json_object_object_foreach(obj, key, val)
	{
		if (strcmp(key, "name") == 0 || val == NULL)
			continue;
		if (type != NULL)
			return fail(d, "may not specify more than 1 volume type");
		type = key;
		src = val;
	}
	if (type == NULL)
		return fail(d, "must specify a volume type");
	if (dup_str(d, type, &v->type_name) != 0)
		return -1;
	int t = lookup(type, VOLUME_TYPES + 1, COUNT(VOLUME_TYPES) - 1);
	v->type = t < 0 ? FSM_VOL_OTHER : (enum fsm_volume_type)(t + 1);
	if (v->type != FSM_VOL_OTHER && !json_object_is_type(src, json_type_object))
		return fail_at(d, type, "want an object");
	size_t at = path_key(d, type);
	int rc = 0;
	switch (v->type) {
	case FSM_VOL_HOST_PATH:
		rc = take_str(d, src, "path", "", &v->host_path);
		if (rc == 0 && v->host_path[0] == '\0')
			rc = fail_at(d, "path", "required");
		break;
	case FSM_VOL_CONFIGMAP:
		rc = add_ref(d, src, "name", false, v);
		break;
	case FSM_VOL_SECRET:
		rc = add_ref(d, src, "secretName", true, v);
		break;
	case FSM_VOL_PROJECTED:
		rc = decode_projected(d, src, v);
		break;
	case FSM_VOL_OTHER:
	case FSM_VOL_EMPTY_DIR:
	case FSM_VOL_DOWNWARD_API:
		break;
	}
	path_pop(d, at);
	if (rc == 0 && v->host_path == NULL)
		rc = dup_str(d, "", &v->host_path);
	if (rc != 0)
		return -1;
	return raw_json(d, obj, &v->json, &v->json_len);
}

static int decode_volumes(struct dec *d, struct json_object *pod_spec, struct fsm_pod_spec *spec)
{
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, pod_spec, "volumes", FSM_VOLUMES_MAX, "volumes", &arr, &n) != 0)
		return -1;
	if (n > 0) {
		spec->volumes = calloc(n, sizeof(spec->volumes[0]));
		if (spec->volumes == NULL)
			return enomem(d);
	}
	size_t at = path_key(d, "volumes");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_index(d, i);
		spec->nvolumes = i + 1;
		rc = decode_volume(d, json_object_array_get_idx(arr, i), &spec->volumes[i]);
		for (size_t j = 0; j < i && rc == 0; j++)
			if (strcmp(spec->volumes[j].name, spec->volumes[i].name) == 0) {
				char q[QUOTE_BUF_BYTES];
				rc = fail_at(d, "name", "duplicate %s", quote(q, spec->volumes[i].name));
			}
		path_pop(d, at_i);
	}
	path_pop(d, at);
	if (rc != 0)
		return -1;
	/* Every mount names a volume of the pod. */
	for (size_t k = 0; k < spec->ncontainers; k++) {
		const struct fsm_container_spec *c = &spec->containers[k];
		for (size_t j = 0; j < c->nmounts; j++) {
			if (fsm_pod_volume_index(spec, c->mounts[j].name) >= 0)
				continue;
			bool init = k < spec->ninit;
			path_key(d, init ? "initContainers" : "containers");
			path_index(d, init ? k : k - spec->ninit);
			path_key(d, "volumeMounts");
			path_index(d, j);
			char q[QUOTE_BUF_BYTES];
			return fail_at(d, "name", "not found: %s is not a volume of the pod",
			               quote(q, c->mounts[j].name));
		}
	}
	return 0;
}

/* ---- scheduling constraints -------------------------------------------------------------- */

static const char *const TOLERATION_OPS[] = {"Equal", "Exists"};
static const char *const TAINT_EFFECTS[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};

/* A toleration, with ValidateTolerations' checks. */
static int decode_toleration(struct dec *d, struct json_object *obj, struct fsm_toleration *t)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	int op = 0, effect = -1;
	bool seconds_set = false;
	if (take_str(d, obj, "key", "", &t->key) != 0 ||
	    take_str(d, obj, "value", "", &t->value) != 0 ||
	    get_enum(d, obj, "operator", TOLERATION_OPS, COUNT(TOLERATION_OPS), 0, &op) != 0 ||
	    get_enum(d, obj, "effect", TAINT_EFFECTS, COUNT(TAINT_EFFECTS), -1, &effect) != 0 ||
	    dup_str(d, TOLERATION_OPS[op], &t->op) != 0 ||
	    dup_str(d, effect >= 0 ? TAINT_EFFECTS[effect] : "", &t->effect) != 0)
		return -1;
	t->toleration_s = -1;
	if (get_int(d, obj, "tolerationSeconds", INT64_MIN, INT64_MAX, &t->toleration_s,
	            &seconds_set) != 0)
		return -1;
	/* Upstream evicts at once for zero and negative seconds alike; keep -1 for unset. */
	if (seconds_set && t->toleration_s < 0)
		t->toleration_s = 0;
	if (t->key[0] == '\0' && op != 1)
		return fail_at(d, "operator",
		               "must be Exists when key is empty (which means "
		               "\"match all values and all keys\")");
	if (op == 1 && t->value[0] != '\0')
		return fail_at(d, "value", "must be empty when operator is Exists");
	if (seconds_set && effect != 2)
		return fail_at(d, "effect", "must be NoExecute when tolerationSeconds is set");
	return 0;
}

static int decode_tolerations(struct dec *d, struct json_object *pod_spec,
                              struct fsm_pod_spec *spec)
{
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, pod_spec, "tolerations", FSM_TOLERATIONS_MAX, "tolerations", &arr,
	                      &n) != 0)
		return -1;
	if (n == 0)
		return 0;
	spec->tolerations = calloc(n, sizeof(spec->tolerations[0]));
	if (spec->tolerations == NULL)
		return enomem(d);
	spec->ntolerations = n;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at = path_key(d, "tolerations");
		path_index(d, i);
		rc = decode_toleration(d, json_object_array_get_idx(arr, i), &spec->tolerations[i]);
		path_pop(d, at);
	}
	return rc;
}

static int decode_node_selector(struct dec *d, struct json_object *pod_spec,
                                struct fsm_pod_spec *spec)
{
	struct json_object *obj;
	if (get_object(d, pod_spec, "nodeSelector", &obj) != 0)
		return -1;
	size_t n = obj != NULL ? (size_t)json_object_object_length(obj) : 0;
	if (n > FSM_LABELS_MAX)
		return fail_at(d, "nodeSelector", "%zu labels, more than the limit of %d", n,
		               FSM_LABELS_MAX);
	if (n == 0)
		return 0;
	spec->node_selector = calloc(n, sizeof(spec->node_selector[0]));
	if (spec->node_selector == NULL)
		return enomem(d);
	size_t at = path_key(d, "nodeSelector");
	int rc = 0;
	/* json-c keeps members in the order the JSON gives them: the same bytes give
	 * the same order. */
	json_object_object_foreach(obj, key, v)
	{
		(void)v;
		struct fsm_label *l = &spec->node_selector[spec->nnode_selector];
		assert(spec->nnode_selector < n);
		spec->nnode_selector++;
		if (dup_str(d, key, &l->key) != 0 || take_str(d, obj, key, "", &l->value) != 0) {
			rc = -1;
			break;
		}
	}
	path_pop(d, at);
	return rc;
}

static const char *const SELECTOR_OPS[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};

/* A requirement of matchExpressions, or of matchFields (field), with
 * validateNodeSelectorRequirement's and validateNodeFieldSelectorRequirement's
 * checks. */
static int decode_selector_req(struct dec *d, struct json_object *obj, bool field,
                               struct fsm_selector_req *req)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	req->field = field;
	const char *key;
	char q[QUOTE_BUF_BYTES];
	int op = -1;
	if (get_str(d, obj, "key", &key) != 0)
		return -1;
	if (key == NULL || key[0] == '\0')
		return fail_at(d, "key", "required");
	if (field && strcmp(key, "metadata.name") != 0)
		return fail_at(d, "key", "%s is not a supported field (only metadata.name)",
		               quote(q, key));
	if (dup_str(d, key, &req->key) != 0 ||
	    get_enum(d, obj, "operator", SELECTOR_OPS, COUNT(SELECTOR_OPS), -1, &op) != 0)
		return -1;
	if (op < 0)
		return fail_at(d, "operator", "required");
	if (field && op > 1)
		return fail_at(d, "operator", "must be In or NotIn for a field");
	if (dup_str(d, SELECTOR_OPS[op], &req->op) != 0)
		return -1;
	struct json_object *arr;
	size_t n;
	if (get_bounded_array(d, obj, "values", FSM_SELECTOR_VALUES_MAX, "values", &arr, &n) != 0)
		return -1;
	if ((op == 0 || op == 1) && n == 0)
		return fail_at(d, "values", "must be specified when operator is In or NotIn");
	if ((op == 2 || op == 3) && n > 0)
		return fail_at(d, "values",
		               "may not be specified when operator is Exists or "
		               "DoesNotExist");
	if ((op >= 4 || field) && n != 1)
		return fail_at(d, "values", "must have exactly one value%s",
		               field ? " for a field" : " when operator is Gt or Lt");
	if (n == 0)
		return 0;
	req->values = calloc(n, sizeof(req->values[0]));
	if (req->values == NULL)
		return enomem(d);
	req->nvalues = n;
	size_t at = path_key(d, "values");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		size_t at_i = path_index(d, i);
		if (v == NULL || !json_object_is_type(v, json_type_string))
			rc = fail(d, "want a string");
		else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			rc = fail(d, "a string must not hold a NUL character (\\u0000)");
		else
			rc = dup_str(d, json_object_get_string(v), &req->values[i]);
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

static int decode_selector_term(struct dec *d, struct json_object *obj,
                                struct fsm_selector_term *term)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(d, "want an object");
	struct json_object *exprs, *fields;
	size_t nexprs, nfields;
	if (get_bounded_array(d, obj, "matchExpressions", FSM_SELECTOR_REQS_MAX, "requirements",
	                      &exprs, &nexprs) != 0 ||
	    get_bounded_array(d, obj, "matchFields", FSM_SELECTOR_REQS_MAX, "requirements", &fields,
	                      &nfields) != 0)
		return -1;
	if (nexprs + nfields > FSM_SELECTOR_REQS_MAX)
		return fail(d, "%zu requirements, more than the limit of %d", nexprs + nfields,
		            FSM_SELECTOR_REQS_MAX);
	/* An empty term matches no node; the matcher sees it as nreqs == 0. */
	if (nexprs + nfields == 0)
		return 0;
	term->reqs = calloc(nexprs + nfields, sizeof(term->reqs[0]));
	if (term->reqs == NULL)
		return enomem(d);
	term->nreqs = nexprs + nfields;
	int rc = 0;
	for (size_t k = 0; k < nexprs + nfields && rc == 0; k++) {
		bool field = k >= nexprs;
		size_t i = field ? k - nexprs : k;
		size_t at = path_key(d, field ? "matchFields" : "matchExpressions");
		path_index(d, i);
		rc = decode_selector_req(d, json_object_array_get_idx(field ? fields : exprs, i),
		                         field, &term->reqs[k]);
		path_pop(d, at);
	}
	return rc;
}

/* spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution; the
 * preferred terms and pod (anti-)affinity are the scheduler's business only. */
static int decode_affinity(struct dec *d, struct json_object *pod_spec, struct fsm_pod_spec *spec)
{
	static const char *const path[] = {"affinity", "nodeAffinity",
	                                   "requiredDuringSchedulingIgnoredDuringExecution"};
	struct json_object *obj = pod_spec;
	size_t at = d->path_len;
	int rc = 0;
	for (size_t i = 0; i < COUNT(path) && obj != NULL && rc == 0; i++) {
		struct json_object *next;
		rc = get_object(d, obj, path[i], &next);
		obj = next;
		if (obj != NULL)
			path_key(d, path[i]);
	}
	struct json_object *terms = NULL;
	size_t n = 0;
	if (rc == 0 && obj != NULL) {
		rc = get_bounded_array(d, obj, "nodeSelectorTerms", FSM_SELECTOR_TERMS_MAX, "terms",
		                       &terms, &n);
		if (rc == 0 && n == 0)
			rc = fail_at(d, "nodeSelectorTerms", "must have at least one term");
	}
	if (rc == 0 && n > 0) {
		spec->affinity_terms = calloc(n, sizeof(spec->affinity_terms[0]));
		if (spec->affinity_terms == NULL)
			rc = enomem(d);
		else
			spec->naffinity_terms = n;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_key(d, "nodeSelectorTerms");
		path_index(d, i);
		rc = decode_selector_term(d, json_object_array_get_idx(terms, i),
		                          &spec->affinity_terms[i]);
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

/* spec.readinessGates: the condition types that must be "True" too. */
static int decode_gates(struct dec *d, struct json_object *pod_spec, struct fsm_pod_spec *spec)
{
	struct json_object *gates;
	size_t n;
	if (get_bounded_array(d, pod_spec, "readinessGates", FSM_GATES_MAX, "readiness gates",
	                      &gates, &n) != 0)
		return -1;
	if (n == 0)
		return 0;
	spec->readiness_gates = calloc(n, sizeof(spec->readiness_gates[0]));
	spec->gate_true = calloc(n, sizeof(spec->gate_true[0]));
	spec->gate_status = calloc(n, sizeof(spec->gate_status[0]));
	if (spec->readiness_gates == NULL || spec->gate_true == NULL || spec->gate_status == NULL)
		return enomem(d);
	spec->ngates = n;
	size_t at = path_key(d, "readinessGates");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t at_i = path_index(d, i);
		struct json_object *g = json_object_array_get_idx(gates, i);
		const char *type = NULL;
		if (g == NULL || !json_object_is_type(g, json_type_object))
			rc = fail(d, "want an object");
		else if ((rc = get_str(d, g, "conditionType", &type)) == 0 &&
		         (type == NULL || type[0] == '\0'))
			rc = fail_at(d, "conditionType", "required");
		if (rc == 0)
			rc = dup_str(d, type, &spec->readiness_gates[i]);
		path_pop(d, at_i);
	}
	path_pop(d, at);
	return rc;
}

/* status.conditions: whether the API holds each readiness gate's condition as
 * "True". The first condition of a type counts, as GetPodConditionFromList
 * finds it. Read only when the Pod has gates: the rest of the status is the
 * kubelet's own output. */
static int decode_gate_status(struct dec *d, struct json_object *status, struct fsm_pod_spec *spec)
{
	struct json_object *conds;
	if (spec->ngates == 0)
		return 0;
	if (get_array(d, status, "conditions", &conds) != 0)
		return -1;
	size_t n = conds != NULL ? json_object_array_length(conds) : 0;
	size_t at = path_key(d, "conditions");
	for (size_t i = 0; i < n; i++) {
		size_t at_i = path_index(d, i);
		struct json_object *c = json_object_array_get_idx(conds, i);
		const char *type, *value;
		if (c == NULL || !json_object_is_type(c, json_type_object))
			return fail(d, "want an object");
		if (get_str(d, c, "type", &type) != 0 || get_str(d, c, "status", &value) != 0)
			return -1;
		path_pop(d, at_i);
	}
	path_pop(d, at);
	for (size_t g = 0; g < spec->ngates; g++) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *c = json_object_array_get_idx(conds, i);
			const char *type = json_object_get_string(member(c, "type"));
			const char *value = json_object_get_string(member(c, "status"));
			if (type != NULL && strcmp(type, spec->readiness_gates[g]) == 0) {
				spec->gate_true[g] = value != NULL && strcmp(value, "True") == 0;
				spec->gate_status[g] = strdup(value != NULL ? value : "");
				if (spec->gate_status[g] == NULL)
					return enomem(d);
				break;
			}
		}
	}
	return 0;
}

/* ---- QoS and the effective request ------------------------------------------------------- */

/*
 * GetPodQOS (pkg/apis/core/v1/helper/qos/qos.go), over app and init containers
 * (sidecars included), on cpu and memory: BestEffort when no container requests
 * or limits any; Guaranteed when every container has both limits and the sums
 * of requests equal the sums of limits; Burstable otherwise. Zero values count
 * as unset. Requests were defaulted from limits already. Upstream compares
 * exact quantities; we compare millicores and bytes, which differs only for
 * memory given in fractions of a byte.
 */
static enum fsm_qos compute_qos(const struct fsm_pod_spec *spec)
{
	int64_t req[2] = {0, 0}, lim[2] = {0, 0};
	bool has_req[2] = {false, false}, has_lim[2] = {false, false};
	bool guaranteed = true;
	for (size_t i = 0; i < spec->ncontainers; i++) {
		const struct fsm_resources *r = &spec->containers[i].res;
		const int64_t rq[2] = {r->cpu_request_milli, r->memory_request_bytes};
		const int64_t lm[2] = {r->cpu_limit_milli, r->memory_limit_bytes};
		for (int k = 0; k < 2; k++) {
			if (rq[k] > 0) {
				req[k] = add_sat(req[k], rq[k]);
				has_req[k] = true;
			}
			if (lm[k] > 0) {
				lim[k] = add_sat(lim[k], lm[k]);
				has_lim[k] = true;
			}
		}
		if (lm[0] <= 0 || lm[1] <= 0)
			guaranteed = false;
	}
	int nreq = has_req[0] + has_req[1], nlim = has_lim[0] + has_lim[1];
	if (nreq == 0 && nlim == 0)
		return FSM_QOS_BEST_EFFORT;
	for (int k = 0; k < 2 && guaranteed; k++)
		if (has_req[k] && (!has_lim[k] || lim[k] != req[k]))
			guaranteed = false;
	return guaranteed && nreq == nlim ? FSM_QOS_GUARANTEED : FSM_QOS_BURSTABLE;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/*
 * AggregateContainerRequests (component-helpers/resource/helpers.go) for one
 * resource: apps and sidecars run together; init container i runs beside the
 * sidecars started before it; the pod needs the most of any of those moments.
 * Then PodRequests adds the overhead. Unset requests count as 0.
 */
static int64_t effective_request(const struct fsm_pod_spec *spec, enum res r, int64_t overhead)
{
	int64_t running = 0, sidecars = 0, init_peak = 0;
	for (size_t i = 0; i < spec->ncontainers; i++) {
		const struct fsm_container_spec *c = &spec->containers[i];
		const int64_t all[RES_COUNT] = {c->res.cpu_request_milli,
		                                c->res.memory_request_bytes,
		                                c->res.ephemeral_request_bytes};
		int64_t v = all[r] > 0 ? all[r] : 0;
		if (!c->init) {
			running = add_sat(running, v);
		} else if (c->sidecar) {
			running = add_sat(running, v);
			sidecars = add_sat(sidecars, v);
			init_peak = max64(init_peak, sidecars);
		} else {
			init_peak = max64(init_peak, add_sat(v, sidecars));
		}
	}
	return add_sat(max64(running, init_peak), overhead > 0 ? overhead : 0);
}

/* ---- the pod ----------------------------------------------------------------------------- */

static const char *const RESTART_POLICIES[] = {"Always", "OnFailure", "Never"};

static int decode_spec(struct dec *d, struct json_object *pod_spec, struct fsm_pod_spec *spec)
{
	static_assert(FSM_RESTART_ALWAYS == 0 && FSM_RESTART_ON_FAILURE == 1 &&
	                      FSM_RESTART_NEVER == 2,
	              "RESTART_POLICIES is in enum order");
	int restart = 0;
	bool grace_set = false;
	struct json_object *overhead;
	int64_t oh[RES_COUNT];
	spec->grace_s = DEFAULT_GRACE_S;
	spec->active_deadline_s = -1;
	int32_t priority = 0;
	if (take_str(d, pod_spec, "nodeName", "", &spec->node_name) != 0 ||
	    get_enum(d, pod_spec, "restartPolicy", RESTART_POLICIES, COUNT(RESTART_POLICIES), 0,
	             &restart) != 0 ||
	    get_int(d, pod_spec, "terminationGracePeriodSeconds", INT64_MIN, INT64_MAX,
	            &spec->grace_s, &grace_set) != 0 ||
	    get_int(d, pod_spec, "activeDeadlineSeconds", 1, INT32_MAX, &spec->active_deadline_s,
	            NULL) != 0 ||
	    get_bool(d, pod_spec, "hostNetwork", &spec->host_network) != 0 ||
	    get_i32(d, pod_spec, "priority", INT32_MIN, INT32_MAX, &priority, NULL) != 0)
		return -1;
	spec->restart_policy = (enum fsm_restart_policy)restart;
	spec->priority = priority;
	/* The API server's pod strategy turns a negative grace period into 1. */
	if (spec->grace_s < 0)
		spec->grace_s = 1;
	if (decode_containers(d, pod_spec, spec->host_network, spec) != 0 ||
	    decode_volumes(d, pod_spec, spec) != 0 ||
	    take_str(d, pod_spec, "serviceAccountName", "", &spec->service_account) != 0 ||
	    decode_tolerations(d, pod_spec, spec) != 0 ||
	    decode_node_selector(d, pod_spec, spec) != 0 ||
	    decode_affinity(d, pod_spec, spec) != 0 ||
	    get_object(d, pod_spec, "overhead", &overhead) != 0)
		return -1;
	size_t at = path_key(d, "overhead");
	int rc = decode_resource_list(d, overhead, oh);
	path_pop(d, at);
	if (rc != 0 || decode_gates(d, pod_spec, spec) != 0)
		return -1;
	spec->qos = compute_qos(spec);
	spec->cpu_request_milli = effective_request(spec, RES_CPU, oh[RES_CPU]);
	spec->memory_request_bytes = effective_request(spec, RES_MEMORY, oh[RES_MEMORY]);
	spec->ephemeral_request_bytes = effective_request(spec, RES_EPHEMERAL, oh[RES_EPHEMERAL]);
	return 0;
}

static int decode_pod(struct dec *d, struct json_object *root, struct fsm_pod_spec *spec)
{
	const char *kind;
	char q[QUOTE_BUF_BYTES];
	if (get_str(d, root, "kind", &kind) != 0)
		return -1;
	if (kind != NULL && strcmp(kind, "Pod") != 0)
		return fail_at(d, "kind", "want \"Pod\", got %s", quote(q, kind));
	struct json_object *meta, *pod_spec, *status;
	if (get_object(d, root, "metadata", &meta) != 0 ||
	    get_object(d, root, "spec", &pod_spec) != 0 ||
	    get_object(d, root, "status", &status) != 0)
		return -1;
	size_t at = path_key(d, "metadata");
	int rc = decode_metadata(d, meta, spec);
	path_pop(d, at);
	if (rc != 0)
		return -1;
	path_key(d, "spec");
	rc = decode_spec(d, pod_spec, spec);
	path_pop(d, 0);
	if (rc != 0)
		return -1;
	path_key(d, "status");
	rc = decode_gate_status(d, status, spec);
	path_pop(d, 0);
	return rc;
}

static bool is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The Pod's bytes as a json-c object, or -1 with the reason. */
static int parse(struct dec *d, const char *json, size_t len, struct json_object **out)
{
	*out = NULL;
	if (len > FSM_POD_JSON_BYTES_MAX)
		return fail(d, "a Pod of %zu bytes is larger than the limit of %zu bytes", len,
		            FSM_POD_JSON_BYTES_MAX);
	const char *nul = memchr(json, '\0', len);
	if (nul != NULL)
		return fail(d, "not valid JSON: a NUL byte at offset %zu", (size_t)(nul - json));
	size_t first = 0;
	while (first < len && is_json_ws(json[first]))
		first++;
	if (first == len)
		return fail(d, "not valid JSON: empty");
	if (json[first] != '{')
		return fail(d, "not a JSON object");
	struct json_tokener *tok = json_tokener_new_ex(FSM_POD_JSON_DEPTH_MAX);
	if (tok == NULL)
		return enomem(d);
	/* Trailing bytes are ours to report, with a clearer message than json-c's. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	struct json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o == NULL && e == json_tokener_continue)
		return fail(d, "not valid JSON: the text ends inside the object");
	if (o == NULL)
		return fail(d, "not valid JSON: %s at offset %zu", json_tokener_error_desc(e), end);
	while (end < len && is_json_ws(json[end]))
		end++;
	if (end < len) {
		json_object_put(o);
		return fail(d, "not valid JSON: unexpected data after the object at offset %zu",
		            end);
	}
	assert(json_object_is_type(o, json_type_object));
	*out = o;
	return 0;
}

int fsm_pod_decode(const char *json, size_t len, struct fsm_pod_spec *spec, char *err,
                   size_t err_len)
{
	assert(spec != NULL);
	assert(json != NULL || len == 0);
	memset(spec, 0, sizeof(*spec));
	struct dec d = {.err = err, .err_len = err_len, .path_len = 0};
	d.path[0] = '\0';
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	struct json_object *root = NULL;
	int rc = json != NULL ? parse(&d, json, len, &root) : fail(&d, "not valid JSON: empty");
	if (rc == 0)
		rc = decode_pod(&d, root, spec);
	json_object_put(root);
	if (rc == 0) {
		spec->json = malloc(len + 1);
		if (spec->json == NULL) {
			rc = enomem(&d);
		} else {
			memcpy(spec->json, json, len);
			spec->json[len] = '\0';
			spec->json_len = len;
		}
	}
	if (rc != 0) {
		fsm_pod_spec_free(spec);
		assert(err == NULL || err_len == 0 || err[0] != '\0');
		return -1;
	}
	assert(spec->ncontainers >= 1);
	assert(spec->ninit < spec->ncontainers);
	assert(spec->name != NULL && spec->namespace_ != NULL && spec->uid != NULL);
	return 0;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void handler_free(struct fsm_handler *h)
{
	free(h->json);
}

static void container_free(struct fsm_container_spec *c)
{
	free(c->name);
	free(c->image);
	handler_free(&c->liveness);
	handler_free(&c->readiness);
	handler_free(&c->startup);
	handler_free(&c->post_start);
	handler_free(&c->pre_stop);
	for (size_t i = 0; i < c->nports; i++) {
		free(c->ports[i].host_ip);
		free(c->ports[i].name);
	}
	free(c->ports);
	for (size_t i = 0; i < c->nmounts; i++) {
		free(c->mounts[i].name);
		free(c->mounts[i].mount_path);
		free(c->mounts[i].sub_path);
	}
	free(c->mounts);
	free(c->json);
}

void fsm_pod_spec_free(struct fsm_pod_spec *spec)
{
	if (spec == NULL)
		return;
	free(spec->uid);
	free(spec->name);
	free(spec->namespace_);
	free(spec->resource_version);
	free(spec->node_name);
	for (size_t i = 0; i < spec->ncontainers; i++)
		container_free(&spec->containers[i]);
	free(spec->containers);
	for (size_t i = 0; i < spec->nvolumes; i++) {
		struct fsm_volume *v = &spec->volumes[i];
		free(v->name);
		free(v->type_name);
		free(v->host_path);
		for (size_t j = 0; j < v->nrefs; j++)
			free(v->refs[j].name);
		free(v->refs);
		free(v->json);
	}
	free(spec->volumes);
	free(spec->service_account);
	for (size_t i = 0; i < spec->ntolerations; i++) {
		struct fsm_toleration *t = &spec->tolerations[i];
		free(t->key);
		free(t->op);
		free(t->value);
		free(t->effect);
	}
	free(spec->tolerations);
	for (size_t i = 0; i < spec->nnode_selector; i++) {
		free(spec->node_selector[i].key);
		free(spec->node_selector[i].value);
	}
	free(spec->node_selector);
	for (size_t i = 0; i < spec->naffinity_terms; i++) {
		struct fsm_selector_term *term = &spec->affinity_terms[i];
		for (size_t j = 0; j < term->nreqs; j++) {
			struct fsm_selector_req *req = &term->reqs[j];
			free(req->key);
			free(req->op);
			for (size_t k = 0; k < req->nvalues; k++)
				free(req->values[k]);
			free(req->values);
		}
		free(term->reqs);
	}
	free(spec->affinity_terms);
	for (size_t i = 0; i < spec->ngates; i++) {
		free(spec->readiness_gates[i]);
		if (spec->gate_status != NULL)
			free(spec->gate_status[i]);
	}
	free(spec->readiness_gates);
	free(spec->gate_true);
	free(spec->gate_status);
	free(spec->json);
	memset(spec, 0, sizeof(*spec));
}

int fsm_pod_volume_index(const struct fsm_pod_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->nvolumes; i++)
		if (spec->volumes[i].name != NULL && strcmp(spec->volumes[i].name, name) == 0)
			return (int)i;
	return -1;
}

int fsm_pod_container_index(const struct fsm_pod_spec *spec, const char *name)
{
	assert(spec != NULL);
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < spec->ncontainers; i++)
		if (spec->containers[i].name != NULL && strcmp(spec->containers[i].name, name) == 0)
			return (int)i;
	return -1;
}
