/*
 * fsm/event_json.c — the replay file's codec (see event_json.h).
 *
 * Reading a line takes two steps. A small JSON scanner of this file checks the
 * whole line's syntax (strictly: RFC 8259, no NaN, no raw control characters in
 * strings) and notes where the value of each known top-level key starts and
 * ends. The values are then decoded from those spans: integers and booleans
 * here, strings with escapes by json-c, and the raw values (object, config,
 * body) are parsed by json-c too, because the fold will decode them with json-c
 * later: a line the codec accepts is a line the fold can read. The scanner alone
 * decides which bytes belong to which key, so a key cannot mean one thing to the
 * scanner and another to json-c.
 *
 * Writing walks the same per-kind field tables as reading, so the key order of
 * a written line and the keys read back cannot drift apart.
 */
#include "fsm/event_json.h"

#include <assert.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <stdbool.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* How much of a bad value an error message quotes. */
#define SNIPPET_BYTES_MAX 40

/* ---- error messages ---------------------------------------------------------------------- */

/* Writes into the caller's err buffer, truncating, always NUL-terminated. */
struct errw {
	char *p; /* NULL when the caller wants no message */
	size_t cap;
	size_t len;
};

static void ew_putn(struct errw *w, const char *s, size_t n)
{
	if (w->p == NULL || w->cap == 0)
		return;
	size_t room = w->cap - 1 - w->len;
	if (n > room)
		n = room;
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void ew_puts(struct errw *w, const char *s)
{
	ew_putn(w, s, strlen(s));
}

static void ew_u64(struct errw *w, uint64_t v)
{
	char digits[20];
	size_t i = sizeof(digits);
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ew_putn(w, digits + i, sizeof(digits) - i);
}

static void ew_i64(struct errw *w, int64_t v)
{
	if (v < 0) {
		ew_puts(w, "-");
		ew_u64(w, (uint64_t)(-(v + 1)) + 1);
	} else {
		ew_u64(w, (uint64_t)v);
	}
}

/* Starts a new message (a call reports one error: the first it finds). */
static struct errw *ew_begin(struct errw *w)
{
	w->len = 0;
	if (w->p != NULL && w->cap > 0)
		w->p[0] = '\0';
	return w;
}

/* The first bytes of a value as the line spells it, cut on a UTF-8 boundary. */
static void ew_snippet(struct errw *w, const char *p, size_t n)
{
	if (n <= SNIPPET_BYTES_MAX) {
		ew_putn(w, p, n);
		return;
	}
	size_t cut = SNIPPET_BYTES_MAX - 3;
	while (cut > 0 && ((unsigned char)p[cut] & 0xc0) == 0x80)
		cut--;
	ew_putn(w, p, cut);
	ew_puts(w, "...");
}

/* ---- the scanner ------------------------------------------------------------------------- */

struct span {
	const char *p; /* NULL when the key is absent */
	size_t n;
};

/* The known top-level keys of a line and, after the scan, where each value is. */
struct members {
	const char *const *names;
	size_t count;
	struct span *values; /* count entries, zeroed before the scan */
	size_t dup;          /* a key given twice, or count */
};

struct scan {
	const char *p;
	const char *end;
	const char *why; /* the first error; NULL while the input is fine */
	const char *at;  /* where it was found */
};

static const char TRUNCATED[] = "truncated, the line ends inside a JSON value";

static bool scan_fail(struct scan *s, const char *why)
{
	if (s->why == NULL) {
		s->why = s->p >= s->end ? TRUNCATED : why;
		s->at = s->p;
	}
	return false;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && is_ws(*s->p))
		s->p++;
}

static bool at(const struct scan *s, char c)
{
	return s->p < s->end && *s->p == c;
}

/* At '"'; leaves p after the closing quote. */
static bool scan_string(struct scan *s)
{
	assert(at(s, '"'));
	s->p++;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			return true;
		}
		if (c < 0x20)
			return scan_fail(s, "raw control character in a string (write it as an escape)");
		s->p++;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			break;
		switch (*s->p) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			s->p++;
			break;
		case 'u':
			for (int i = 1; i <= 4; i++) {
				if (s->p + i >= s->end || !is_hex(s->p[i])) {
					s->p += i;
					return scan_fail(s, "\\u must be followed by 4 hex digits");
				}
			}
			s->p += 5;
			break;
		default:
			return scan_fail(s, "unknown escape in a string");
		}
	}
	return scan_fail(s, TRUNCATED);
}

static bool scan_digits(struct scan *s)
{
	const char *p0 = s->p;
	while (s->p < s->end && is_digit(*s->p))
		s->p++;
	return s->p > p0;
}

static bool scan_number(struct scan *s)
{
	if (at(s, '-'))
		s->p++;
	if (at(s, '0'))
		s->p++; /* no leading zeros: "01" fails at the '1' */
	else if (!scan_digits(s))
		return scan_fail(s, "bad number");
	if (at(s, '.')) {
		s->p++;
		if (!scan_digits(s))
			return scan_fail(s, "bad number, digits must follow '.'");
	}
	if (at(s, 'e') || at(s, 'E')) {
		s->p++;
		if (at(s, '+') || at(s, '-'))
			s->p++;
		if (!scan_digits(s))
			return scan_fail(s, "bad number, digits must follow the exponent");
	}
	return true;
}

static bool scan_literal(struct scan *s, const char *word)
{
	for (; *word != '\0'; word++, s->p++)
		if (!at(s, *word))
			return scan_fail(s, "unexpected character");
	return true;
}

/* Does the key (quotes included, escapes allowed) spell name? */
static bool key_equals(struct span key, const char *name)
{
	const char *k = key.p + 1;
	size_t n = key.n - 2;
	if (memchr(k, '\\', n) == NULL)
		return strlen(name) == n && memcmp(k, name, n) == 0;
	/* The scanner has checked the escapes, so each is complete. */
	size_t j = 0;
	for (size_t i = 0; i < n; j++) {
		unsigned c = (unsigned char)k[i++];
		if (c == '\\') {
			c = (unsigned char)k[i++];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				c = 0;
				for (int d = 0; d < 4; d++) {
					char h = k[i++];
					c = c * 16 + (unsigned)(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				break;
			default: /* '"', '\\', '/' stand for themselves */
				break;
			}
		}
		/* Names are ASCII without NUL: "\u0000" or a non-ASCII code point never matches. */
		if (name[j] == '\0' || c != (unsigned char)name[j])
			return false;
	}
	return name[j] == '\0';
}

static bool members_note(struct members *m, struct span key, struct span value)
{
	for (size_t i = 0; i < m->count; i++) {
		if (!key_equals(key, m->names[i]))
			continue;
		if (m->values[i].p != NULL) {
			m->dup = i;
			return false;
		}
		m->values[i] = value;
		return true;
	}
	return true; /* an unknown key: ignored */
}

static bool scan_value(struct scan *s, unsigned depth, struct members *m);

/* At '['. Each turn of the loop consumes input, so the input bounds it. */
static bool scan_array(struct scan *s, unsigned depth)
{
	s->p++;
	skip_ws(s);
	if (at(s, ']')) {
		s->p++;
		return true;
	}
	for (;;) {
		if (!scan_value(s, depth, NULL))
			return false;
		skip_ws(s);
		if (at(s, ']')) {
			s->p++;
			return true;
		}
		if (!at(s, ','))
			return scan_fail(s, "expected ',' or ']' in an array");
		s->p++;
		skip_ws(s);
	}
}

/* At '{'. Notes the members in m when m is not NULL (the line's own object). */
static bool scan_object(struct scan *s, unsigned depth, struct members *m)
{
	s->p++;
	skip_ws(s);
	if (at(s, '}')) {
		s->p++;
		return true;
	}
	for (;;) {
		if (!at(s, '"'))
			return scan_fail(s, "expected a string key");
		const char *key = s->p;
		if (!scan_string(s))
			return false;
		struct span k = {key, (size_t)(s->p - key)};
		skip_ws(s);
		if (!at(s, ':'))
			return scan_fail(s, "expected ':' after a key");
		s->p++;
		skip_ws(s);
		const char *value = s->p;
		if (!scan_value(s, depth, NULL))
			return false;
		if (m != NULL && !members_note(m, k, (struct span){value, (size_t)(s->p - value)})) {
			s->p = key;
			return scan_fail(s, "duplicate key");
		}
		skip_ws(s);
		if (at(s, '}')) {
			s->p++;
			return true;
		}
		if (!at(s, ','))
			return scan_fail(s, "expected ',' or '}' in an object");
		s->p++;
		skip_ws(s);
	}
}

/* One value at p; depth counts the arrays and objects around it. */
static bool scan_value(struct scan *s, unsigned depth, struct members *m)
{
	if (s->p >= s->end)
		return scan_fail(s, TRUNCATED);
	switch (*s->p) {
	case '{':
	case '[':
		if (depth >= FSM_JSON_DEPTH_MAX)
			return scan_fail(s, "nested deeper than " STR(FSM_JSON_DEPTH_MAX) " levels");
		if (*s->p == '[')
			return scan_array(s, depth + 1);
		return scan_object(s, depth + 1, m);
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		if (*s->p == '-' || is_digit(*s->p))
			return scan_number(s);
		return scan_fail(s, "unexpected character");
	}
}

/*
 * Is p[0..n) exactly one JSON value (an object when object_only), with no
 * surrounding whitespace and no line break, nested no deeper than a value
 * inside a line's object may be? The writers check raw bytes with this.
 */
static bool raw_ok(const char *p, size_t n, bool object_only)
{
	if (p == NULL || n == 0 || (object_only && p[0] != '{'))
		return false;
	if (memchr(p, '\n', n) != NULL || memchr(p, '\r', n) != NULL)
		return false;
	struct scan s = {p, p + n, NULL, NULL};
	return scan_value(&s, 1, NULL) && s.p == s.end;
}

/* ---- fields ------------------------------------------------------------------------------ */

/* The top-level keys of an event line. */
enum {
	EF_SEQ,
	EF_TS_MS,
	EF_WALL_MS,
	EF_KIND,
	EF_TYPE,
	EF_OBJECT,
	EF_PATH,
	EF_REMOVED,
	EF_POD_UID,
	EF_NAME,
	EF_ATTEMPT,
	EF_ID,
	EF_STATE,
	EF_IP,
	EF_EXIT_CODE,
	EF_REASON,
	EF_MESSAGE,
	EF_STARTED_AT_MS,
	EF_FINISHED_AT_MS,
	EF_IMAGE,
	EF_OK,
	EF_ERROR,
	EF_IMAGE_REF,
	EF_CONTAINER,
	EF_PROBE,
	EF_KEY,
	EF_CMD,
	EF_ERROR_CLASS,
	EF_RESULT,
	EF_CONFIG,
	EF_SIGNAL,
	EF_VALUE,
	EF_CAPACITY,
	EF_MEMORY_BYTES,
	EF_DISK_BYTES,
	EF_INODES,
	EF_PIDS,
	EF_RESOURCE,
	EF_DELAY_MS,
	EF_OBJECT_KIND,
	EF_NAMESPACE,
	EF_RESOURCE_VERSION,
	EF_EXISTS,
	EF_HASH,
	EF_RUNTIME_READY,
	EF_RUNTIME_REASON,
	EF_RUNTIME_MESSAGE,
	EF_NETWORK_READY,
	EF_NETWORK_REASON,
	EF_NETWORK_MESSAGE,
	EF_COUNT
};

static const char *const event_field_names[EF_COUNT] = {
	[EF_SEQ] = "seq",
	[EF_TS_MS] = "ts_ms",
	[EF_WALL_MS] = "wall_ms",
	[EF_KIND] = "kind",
	[EF_TYPE] = "type",
	[EF_OBJECT] = "object",
	[EF_PATH] = "path",
	[EF_REMOVED] = "removed",
	[EF_POD_UID] = "pod_uid",
	[EF_NAME] = "name",
	[EF_ATTEMPT] = "attempt",
	[EF_ID] = "id",
	[EF_STATE] = "state",
	[EF_IP] = "ip",
	[EF_EXIT_CODE] = "exit_code",
	[EF_REASON] = "reason",
	[EF_MESSAGE] = "message",
	[EF_STARTED_AT_MS] = "started_at_ms",
	[EF_FINISHED_AT_MS] = "finished_at_ms",
	[EF_IMAGE] = "image",
	[EF_OK] = "ok",
	[EF_ERROR] = "error",
	[EF_IMAGE_REF] = "image_ref",
	[EF_CONTAINER] = "container",
	[EF_PROBE] = "probe",
	[EF_KEY] = "key",
	[EF_CMD] = "cmd",
	[EF_ERROR_CLASS] = "error_class",
	[EF_RESULT] = "result",
	[EF_CONFIG] = "config",
	[EF_SIGNAL] = "signal",
	[EF_VALUE] = "value",
	[EF_CAPACITY] = "capacity",
	[EF_MEMORY_BYTES] = "memory_bytes",
	[EF_DISK_BYTES] = "disk_bytes",
	[EF_INODES] = "inodes",
	[EF_PIDS] = "pids",
	[EF_RESOURCE] = "resource",
	[EF_DELAY_MS] = "delay_ms",
	[EF_OBJECT_KIND] = "object_kind",
	[EF_NAMESPACE] = "namespace",
	[EF_RESOURCE_VERSION] = "resource_version",
	[EF_EXISTS] = "exists",
	[EF_HASH] = "hash",
	[EF_RUNTIME_READY] = "runtime_ready",
	[EF_RUNTIME_REASON] = "runtime_reason",
	[EF_RUNTIME_MESSAGE] = "runtime_message",
	[EF_NETWORK_READY] = "network_ready",
	[EF_NETWORK_REASON] = "network_reason",
	[EF_NETWORK_MESSAGE] = "network_message",
};

/* The top-level keys of a command line. */
enum {
	CF_SEQ,
	CF_TS_MS,
	CF_ID,
	CF_CMD,
	CF_POD_UID,
	CF_CONTAINER,
	CF_ATTEMPT,
	CF_KEY,
	CF_DUE_MS,
	CF_TIMEOUT_S,
	CF_IMAGE,
	CF_BODY,
	CF_COUNT
};

static const char *const command_field_names[CF_COUNT] = {
	[CF_SEQ] = "seq",
	[CF_TS_MS] = "ts_ms",
	[CF_ID] = "id",
	[CF_CMD] = "cmd",
	[CF_POD_UID] = "pod_uid",
	[CF_CONTAINER] = "container",
	[CF_ATTEMPT] = "attempt",
	[CF_KEY] = "key",
	[CF_DUE_MS] = "due_ms",
	[CF_TIMEOUT_S] = "timeout_s",
	[CF_IMAGE] = "image",
	[CF_BODY] = "body",
};

/* How a field's value is stored in the struct and spelled in the line. */
enum vtype {
	V_STR,       /* const char *; a JSON string */
	V_BOOL,      /* bool */
	V_U32,       /* uint32_t */
	V_I32,       /* int32_t */
	V_U64,       /* uint64_t */
	V_I64,       /* int64_t */
	V_OBJECT,    /* const char * + size_t: the raw bytes of a JSON object */
	V_RAW,       /* const char * + size_t: the raw bytes of any JSON value */
	V_WATCH,     /* enum fsm_watch_type, by name */
	V_SANDBOX,   /* enum fsm_sandbox_state */
	V_CONTAINER, /* enum fsm_container_state */
	V_PROBE,     /* enum fsm_probe_type */
	V_ERRCLASS,  /* enum fsm_error_class */
};

enum {
	REQUIRED = 1,   /* reading: absent is an error (and "" for an enum) */
	OMIT_EMPTY = 2, /* writing: skip "", 0, false, a NULL raw value (V_RAW: also length 0) */
};

struct field {
	unsigned char name;  /* index into the line's names table */
	unsigned char type;  /* enum vtype */
	unsigned char flags; /* REQUIRED, OMIT_EMPTY */
	unsigned short off;  /* of the value in the struct */
	unsigned short len_off; /* V_OBJECT, V_RAW: of its size_t length */
};

_Static_assert(sizeof(struct fsm_event) <= 0xffff, "offsets fit in unsigned short");
_Static_assert(sizeof(struct fsm_command) <= 0xffff, "offsets fit in unsigned short");

#define EV(m) offsetof(struct fsm_event, m)
#define CMD(m) offsetof(struct fsm_command, m)

/* Before `kind`; the writer puts `kind` after these. */
static const struct field event_head[] = {
	{EF_SEQ, V_U64, OMIT_EMPTY, EV(seq), 0},
	{EF_TS_MS, V_U64, REQUIRED, EV(ts_ms), 0},
	{EF_WALL_MS, V_U64, OMIT_EMPTY, EV(wall_ms), 0},
};

static const struct field api_pod_fields[] = {
	{EF_TYPE, V_WATCH, REQUIRED, EV(u.api_pod.type), 0},
	{EF_OBJECT, V_OBJECT, REQUIRED, EV(u.api_pod.object), EV(u.api_pod.object_len)},
};

/* object and removed exclude each other: checked apart (check_file_pod, write_event). */
static const struct field file_pod_fields[] = {
	{EF_PATH, V_STR, REQUIRED, EV(u.file_pod.path), 0},
	{EF_OBJECT, V_OBJECT, OMIT_EMPTY, EV(u.file_pod.object), EV(u.file_pod.object_len)},
	{EF_REMOVED, V_BOOL, OMIT_EMPTY, EV(u.file_pod.removed), 0},
};

static const struct field cri_sandbox_fields[] = {
	{EF_POD_UID, V_STR, 0, EV(u.cri_sandbox.pod_uid), 0},
	{EF_ATTEMPT, V_U32, 0, EV(u.cri_sandbox.attempt), 0},
	{EF_ID, V_STR, 0, EV(u.cri_sandbox.id), 0},
	{EF_STATE, V_SANDBOX, 0, EV(u.cri_sandbox.state), 0},
	{EF_IP, V_STR, 0, EV(u.cri_sandbox.ip), 0},
};

static const struct field cri_container_fields[] = {
	{EF_POD_UID, V_STR, 0, EV(u.cri_container.pod_uid), 0},
	{EF_NAME, V_STR, 0, EV(u.cri_container.name), 0},
	{EF_ATTEMPT, V_U32, 0, EV(u.cri_container.attempt), 0},
	{EF_ID, V_STR, 0, EV(u.cri_container.id), 0},
	{EF_STATE, V_CONTAINER, 0, EV(u.cri_container.state), 0},
	{EF_EXIT_CODE, V_I32, 0, EV(u.cri_container.exit_code), 0},
	{EF_REASON, V_STR, 0, EV(u.cri_container.reason), 0},
	{EF_MESSAGE, V_STR, 0, EV(u.cri_container.message), 0},
	{EF_STARTED_AT_MS, V_I64, 0, EV(u.cri_container.started_at_ms), 0},
	{EF_FINISHED_AT_MS, V_I64, 0, EV(u.cri_container.finished_at_ms), 0},
};

static const struct field cri_image_fields[] = {
	{EF_IMAGE, V_STR, 0, EV(u.cri_image.image), 0},
	{EF_OK, V_BOOL, 0, EV(u.cri_image.ok), 0},
	{EF_ERROR, V_STR, 0, EV(u.cri_image.error), 0},
	{EF_IMAGE_REF, V_STR, 0, EV(u.cri_image.image_ref), 0},
};

static const struct field probe_fields[] = {
	{EF_POD_UID, V_STR, 0, EV(u.probe.pod_uid), 0},
	{EF_CONTAINER, V_STR, 0, EV(u.probe.container), 0},
	{EF_PROBE, V_PROBE, 0, EV(u.probe.probe), 0},
	{EF_OK, V_BOOL, 0, EV(u.probe.ok), 0},
	{EF_MESSAGE, V_STR, 0, EV(u.probe.message), 0},
};

static const struct field timer_fields[] = {
	{EF_KEY, V_STR, 0, EV(u.timer.key), 0},
};

static const struct field effect_fields[] = {
	{EF_CMD, V_STR, 0, EV(u.effect.cmd), 0},
	{EF_OK, V_BOOL, 0, EV(u.effect.ok), 0},
	{EF_ERROR_CLASS, V_ERRCLASS, 0, EV(u.effect.error_class), 0},
	{EF_ERROR, V_STR, 0, EV(u.effect.error), 0},
	{EF_RESULT, V_STR, 0, EV(u.effect.result), 0},
};

static const struct field node_config_fields[] = {
	{EF_CONFIG, V_OBJECT, REQUIRED, EV(u.node_config.config), EV(u.node_config.config_len)},
};

static const struct field node_pressure_fields[] = {
	{EF_SIGNAL, V_STR, 0, EV(u.node_pressure.signal), 0},
	{EF_VALUE, V_I64, 0, EV(u.node_pressure.value), 0},
	{EF_CAPACITY, V_I64, 0, EV(u.node_pressure.capacity), 0},
};

static const struct field pod_stats_fields[] = {
	{EF_POD_UID, V_STR, 0, EV(u.pod_stats.pod_uid), 0},
	{EF_MEMORY_BYTES, V_I64, 0, EV(u.pod_stats.memory_bytes), 0},
	{EF_DISK_BYTES, V_I64, 0, EV(u.pod_stats.disk_bytes), 0},
	{EF_INODES, V_I64, 0, EV(u.pod_stats.inodes), 0},
	{EF_PIDS, V_I64, 0, EV(u.pod_stats.pids), 0},
};

static const struct field api_backoff_fields[] = {
	{EF_RESOURCE, V_STR, 0, EV(u.api_backoff.resource), 0},
	{EF_DELAY_MS, V_I64, 0, EV(u.api_backoff.delay_ms), 0},
	{EF_REASON, V_STR, 0, EV(u.api_backoff.reason), 0},
};

static const struct field api_object_fields[] = {
	{EF_OBJECT_KIND, V_STR, 0, EV(u.api_object.object_kind), 0},
	{EF_NAMESPACE, V_STR, 0, EV(u.api_object.namespace_), 0},
	{EF_NAME, V_STR, 0, EV(u.api_object.name), 0},
	{EF_RESOURCE_VERSION, V_STR, 0, EV(u.api_object.resource_version), 0},
	{EF_EXISTS, V_BOOL, 0, EV(u.api_object.exists), 0},
	{EF_HASH, V_STR, 0, EV(u.api_object.hash), 0},
};

static const struct field cri_status_fields[] = {
	{EF_OK, V_BOOL, 0, EV(u.cri_status.ok), 0},
	{EF_ERROR, V_STR, 0, EV(u.cri_status.error), 0},
	{EF_RUNTIME_READY, V_BOOL, 0, EV(u.cri_status.runtime_ready), 0},
	{EF_RUNTIME_REASON, V_STR, 0, EV(u.cri_status.runtime_reason), 0},
	{EF_RUNTIME_MESSAGE, V_STR, 0, EV(u.cri_status.runtime_message), 0},
	{EF_NETWORK_READY, V_BOOL, 0, EV(u.cri_status.network_ready), 0},
	{EF_NETWORK_REASON, V_STR, 0, EV(u.cri_status.network_reason), 0},
	{EF_NETWORK_MESSAGE, V_STR, 0, EV(u.cri_status.network_message), 0},
};

struct field_list {
	const struct field *f;
	size_t n;
};

#define FIELDS(a) {(a), COUNT(a)}

/* Indexed by kind; clock has no fields. */
static const struct field_list kind_fields[FSM_EV_KIND_COUNT] = {
	[FSM_EV_API_POD] = FIELDS(api_pod_fields),
	[FSM_EV_FILE_POD] = FIELDS(file_pod_fields),
	[FSM_EV_CRI_SANDBOX] = FIELDS(cri_sandbox_fields),
	[FSM_EV_CRI_CONTAINER] = FIELDS(cri_container_fields),
	[FSM_EV_CRI_IMAGE] = FIELDS(cri_image_fields),
	[FSM_EV_PROBE] = FIELDS(probe_fields),
	[FSM_EV_TIMER] = FIELDS(timer_fields),
	[FSM_EV_EFFECT] = FIELDS(effect_fields),
	[FSM_EV_NODE_CONFIG] = FIELDS(node_config_fields),
	[FSM_EV_NODE_PRESSURE] = FIELDS(node_pressure_fields),
	[FSM_EV_POD_STATS] = FIELDS(pod_stats_fields),
	[FSM_EV_API_BACKOFF] = FIELDS(api_backoff_fields),
	[FSM_EV_API_OBJECT] = FIELDS(api_object_fields),
	[FSM_EV_CRI_STATUS] = FIELDS(cri_status_fields),
};

/* id and pod_uid: the writer puts `cmd` between them. */
static const struct field command_head[] = {
	{CF_ID, V_STR, 0, CMD(id), 0},
	{CF_POD_UID, V_STR, 0, CMD(pod_uid), 0},
};

static const struct field command_tail[] = {
	{CF_CONTAINER, V_STR, OMIT_EMPTY, CMD(container), 0},
	{CF_ATTEMPT, V_U32, OMIT_EMPTY, CMD(attempt), 0},
	{CF_KEY, V_STR, OMIT_EMPTY, CMD(key), 0},
	{CF_DUE_MS, V_U64, OMIT_EMPTY, CMD(due_ms), 0},
	{CF_TIMEOUT_S, V_U32, OMIT_EMPTY, CMD(timeout_s), 0},
	{CF_IMAGE, V_STR, OMIT_EMPTY, CMD(image), 0},
	{CF_BODY, V_RAW, OMIT_EMPTY, CMD(body), CMD(body_len)},
};

/* ---- enums, through names.c -------------------------------------------------------------- */

static const char *enum_name(unsigned char type, unsigned v)
{
	switch (type) {
	case V_WATCH:
		return fsm_watch_type_name((enum fsm_watch_type)v);
	case V_SANDBOX:
		return fsm_sandbox_state_name((enum fsm_sandbox_state)v);
	case V_CONTAINER:
		return fsm_container_state_name((enum fsm_container_state)v);
	case V_PROBE:
		return fsm_probe_type_name((enum fsm_probe_type)v);
	case V_ERRCLASS:
		return fsm_error_class_name((enum fsm_error_class)v);
	}
	assert(!"not an enum field");
	return NULL;
}

static unsigned enum_value(unsigned char type, const char *name)
{
	switch (type) {
	case V_WATCH:
		return fsm_watch_type_from_name(name);
	case V_SANDBOX:
		return fsm_sandbox_state_from_name(name);
	case V_CONTAINER:
		return fsm_container_state_from_name(name);
	case V_PROBE:
		return fsm_probe_type_from_name(name);
	case V_ERRCLASS:
		return fsm_error_class_from_name(name);
	}
	assert(!"not an enum field");
	return 0;
}

static unsigned enum_get(unsigned char type, const void *p)
{
	switch (type) {
	case V_WATCH:
		return *(const enum fsm_watch_type *)p;
	case V_SANDBOX:
		return *(const enum fsm_sandbox_state *)p;
	case V_CONTAINER:
		return *(const enum fsm_container_state *)p;
	case V_PROBE:
		return *(const enum fsm_probe_type *)p;
	case V_ERRCLASS:
		return *(const enum fsm_error_class *)p;
	}
	assert(!"not an enum field");
	return 0;
}

static void enum_set(unsigned char type, void *p, unsigned v)
{
	switch (type) {
	case V_WATCH:
		*(enum fsm_watch_type *)p = (enum fsm_watch_type)v;
		return;
	case V_SANDBOX:
		*(enum fsm_sandbox_state *)p = (enum fsm_sandbox_state)v;
		return;
	case V_CONTAINER:
		*(enum fsm_container_state *)p = (enum fsm_container_state)v;
		return;
	case V_PROBE:
		*(enum fsm_probe_type *)p = (enum fsm_probe_type)v;
		return;
	case V_ERRCLASS:
		*(enum fsm_error_class *)p = (enum fsm_error_class)v;
		return;
	}
	assert(!"not an enum field");
}

/* ---- reading ----------------------------------------------------------------------------- */

struct reader {
	const char *line;
	struct members m;
	struct fsm_arena *arena;
	struct json_tokener *tok; /* made on first use, freed by reader_done */
	struct errw err;
};

static void reader_init(struct reader *r, const char *const *names, struct span *values,
			size_t count, struct fsm_arena *arena, char *err, size_t err_len)
{
	memset(values, 0, count * sizeof(values[0]));
	r->line = NULL;
	r->m = (struct members){names, count, values, count};
	r->arena = arena;
	r->tok = NULL;
	r->err = (struct errw){err, err_len, 0};
	ew_begin(&r->err);
}

static void reader_done(struct reader *r)
{
	if (r->tok != NULL)
		json_tokener_free(r->tok);
	r->tok = NULL;
}

static int enomem(struct reader *r)
{
	ew_puts(ew_begin(&r->err), "out of memory");
	return -1;
}

/* Starts `field "name": ` */
static struct errw *field_error(struct reader *r, const char *name)
{
	struct errw *w = ew_begin(&r->err);
	ew_puts(w, "field \"");
	ew_puts(w, name);
	ew_puts(w, "\": ");
	return w;
}

static int field_got(struct reader *r, struct span v)
{
	ew_puts(&r->err, ", got ");
	ew_snippet(&r->err, v.p, v.n);
	return -1;
}

static int missing(struct reader *r, const char *name, const char *kind)
{
	struct errw *w = ew_begin(&r->err);
	ew_puts(w, "missing field \"");
	ew_puts(w, name);
	ew_puts(w, "\"");
	if (kind != NULL) {
		ew_puts(w, " (required for ");
		ew_puts(w, kind);
		ew_puts(w, ")");
	}
	return -1;
}

/* Checks the line and notes where each known key's value is. */
static int read_line(struct reader *r, const char *line, size_t len)
{
	assert(line != NULL || len == 0);
	struct errw *w = &r->err;
	if (len > FSM_JSON_LINE_BYTES_MAX) {
		ew_puts(w, "line of ");
		ew_u64(w, len);
		ew_puts(w, " bytes is longer than the limit of ");
		ew_u64(w, FSM_JSON_LINE_BYTES_MAX);
		ew_puts(w, " bytes");
		return -1;
	}
	if (len == 0) {
		ew_puts(w, "empty line");
		return -1;
	}
	r->line = line;
	struct scan s = {line, line + len, NULL, NULL};
	skip_ws(&s);
	if (s.p == s.end) {
		ew_puts(w, "empty line");
		return -1;
	}
	if (*s.p != '{') {
		ew_puts(w, "not a JSON object");
		return -1;
	}
	if (!scan_value(&s, 0, &r->m)) {
		if (r->m.dup < r->m.count) {
			ew_puts(w, "duplicate field \"");
			ew_puts(w, r->m.names[r->m.dup]);
			ew_puts(w, "\"");
			return -1;
		}
		ew_puts(w, "invalid JSON at column ");
		ew_u64(w, (uint64_t)(s.at - line) + 1);
		ew_puts(w, ": ");
		ew_puts(w, s.why);
		return -1;
	}
	const char *object_end = s.p;
	skip_ws(&s);
	if (s.p != s.end) {
		ew_puts(w, "unexpected data after the JSON object at column ");
		ew_u64(w, (uint64_t)(s.p - line) + 1);
		return -1;
	}
	/* JSON allows line breaks between tokens; a line of the file does not. */
	size_t n = (size_t)(object_end - line);
	const char *lf = memchr(line, '\n', n);
	const char *cr = memchr(line, '\r', lf != NULL ? (size_t)(lf - line) : n);
	const char *brk = cr != NULL ? cr : lf;
	if (brk != NULL) {
		ew_puts(w, "line break at column ");
		ew_u64(w, (uint64_t)(brk - line) + 1);
		ew_puts(w, " inside the JSON object (one object per line)");
		return -1;
	}
	return 0;
}

/* json-c's reading of v, which the scanner has already checked; NULL with *why on error. */
static struct json_object *jc_parse(struct reader *r, struct span v, const char **why)
{
	if (r->tok == NULL) {
		r->tok = json_tokener_new_ex(FSM_JSON_DEPTH_MAX + 1);
		if (r->tok == NULL) {
			*why = "out of memory";
			return NULL;
		}
		json_tokener_set_flags(r->tok, JSON_TOKENER_STRICT);
	}
	json_tokener_reset(r->tok);
	assert(v.n <= FSM_JSON_LINE_BYTES_MAX);
	struct json_object *o = json_tokener_parse_ex(r->tok, v.p, (int)v.n);
	if (o == NULL) {
		enum json_tokener_error e = json_tokener_get_error(r->tok);
		*why = e == json_tokener_success ? "null" : json_tokener_error_desc(e);
		return NULL;
	}
	if (json_tokener_get_parse_end(r->tok) != v.n) {
		json_object_put(o);
		*why = "json-c stopped before the end of the value";
		return NULL;
	}
	return o;
}

static int read_str(struct reader *r, const char *name, struct span v, const char **out)
{
	if (v.p[0] != '"') {
		ew_puts(field_error(r, name), "want a string");
		return field_got(r, v);
	}
	const char *s = v.p + 1;
	size_t n = v.n - 2;
	if (memchr(s, '\\', n) == NULL) {
		/* No escapes: the bytes between the quotes are the string (and hold no NUL). */
		*out = fsm_arena_strndup(r->arena, s, n);
		return *out == NULL ? enomem(r) : 0;
	}
	const char *why = NULL;
	struct json_object *o = jc_parse(r, v, &why);
	if (o == NULL) {
		ew_puts(field_error(r, name), "cannot decode the string: ");
		ew_puts(&r->err, why);
		return -1;
	}
	assert(json_object_get_type(o) == json_type_string);
	const char *d = json_object_get_string(o);
	size_t dn = (size_t)json_object_get_string_len(o);
	if (memchr(d, '\0', dn) != NULL) {
		json_object_put(o);
		ew_puts(field_error(r, name), "a string must not hold a NUL character (\\u0000)");
		return -1;
	}
	*out = fsm_arena_strndup(r->arena, d, dn);
	json_object_put(o);
	return *out == NULL ? enomem(r) : 0;
}

static int read_bool(struct reader *r, const char *name, struct span v, bool *out)
{
	if (v.n == 4 && memcmp(v.p, "true", 4) == 0) {
		*out = true;
		return 0;
	}
	if (v.n == 5 && memcmp(v.p, "false", 5) == 0) {
		*out = false;
		return 0;
	}
	ew_puts(field_error(r, name), "want true or false");
	return field_got(r, v);
}

/* An integer without fraction or exponent, as sign and magnitude; false when v is
 * not one or its magnitude passes UINT64_MAX. */
static bool parse_int(struct span v, bool *neg, uint64_t *mag)
{
	const char *p = v.p, *end = v.p + v.n;
	*neg = p < end && *p == '-';
	if (*neg)
		p++;
	if (p == end)
		return false;
	uint64_t m = 0;
	for (; p < end; p++) {
		if (!is_digit(*p))
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (m > (UINT64_MAX - d) / 10)
			return false;
		m = m * 10 + d;
	}
	*mag = m;
	return true;
}

static int read_uint(struct reader *r, const char *name, struct span v, uint64_t max,
		     uint64_t *out)
{
	bool neg;
	uint64_t mag;
	if (parse_int(v, &neg, &mag) && (!neg || mag == 0) && mag <= max) {
		*out = mag;
		return 0;
	}
	ew_puts(field_error(r, name), "want a non-negative integer");
	if (max != UINT64_MAX) {
		ew_puts(&r->err, " up to ");
		ew_u64(&r->err, max);
	}
	return field_got(r, v);
}

static int read_int(struct reader *r, const char *name, struct span v, int64_t min, int64_t max,
		    int64_t *out)
{
	bool neg;
	uint64_t mag;
	if (parse_int(v, &neg, &mag)) {
		bool fits = neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX;
		if (fits) {
			int64_t x = INT64_MIN; /* the one magnitude -(int64_t) cannot take */
			if (!neg)
				x = (int64_t)mag;
			else if (mag <= (uint64_t)INT64_MAX)
				x = -(int64_t)mag;
			if (x >= min && x <= max) {
				*out = x;
				return 0;
			}
		}
	}
	ew_puts(field_error(r, name), "want an integer from ");
	ew_i64(&r->err, min);
	ew_puts(&r->err, " to ");
	ew_i64(&r->err, max);
	return field_got(r, v);
}

static int read_raw(struct reader *r, const char *name, struct span v, bool object_only,
		    const char **out, size_t *out_len)
{
	if (object_only && v.p[0] != '{') {
		ew_puts(field_error(r, name), "want a JSON object");
		return field_got(r, v);
	}
	/* Strings, numbers and literals the scanner has fully checked; json-c reads
	 * objects and arrays too, as the fold will. */
	if (v.p[0] == '{' || v.p[0] == '[') {
		const char *why = NULL;
		struct json_object *o = jc_parse(r, v, &why);
		if (o == NULL) {
			ew_puts(field_error(r, name), "json-c cannot read it: ");
			ew_puts(&r->err, why);
			return -1;
		}
		json_object_put(o);
	}
	char *copy = fsm_arena_strndup(r->arena, v.p, v.n);
	if (copy == NULL)
		return enomem(r);
	*out = copy;
	*out_len = v.n;
	return 0;
}

static int read_enum(struct reader *r, const struct field *fd, const char *name, struct span v,
		     void *out)
{
	const char *s = NULL;
	if (read_str(r, name, v, &s) != 0)
		return -1;
	unsigned x = s[0] == '\0' ? 0 : enum_value(fd->type, s);
	if (x == 0 && (s[0] != '\0' || (fd->flags & REQUIRED))) {
		struct errw *w = field_error(r, name);
		ew_snippet(w, v.p, v.n);
		ew_puts(w, " is not one of ");
		for (unsigned i = 1; i < 64 && enum_name(fd->type, i) != NULL; i++) {
			if (i > 1)
				ew_puts(w, ", ");
			ew_puts(w, enum_name(fd->type, i));
		}
		return -1;
	}
	enum_set(fd->type, out, x);
	return 0;
}

/* Decodes one field into base (the zeroed struct); kind names the event kind for
 * messages about required fields, or is NULL. */
static int read_field(struct reader *r, const struct field *fd, char *base, const char *kind)
{
	const char *name = r->m.names[fd->name];
	struct span v = r->m.values[fd->name];
	void *p = base + fd->off;
	if (v.p == NULL) {
		if (fd->flags & REQUIRED)
			return missing(r, name, kind);
		if (fd->type != V_STR)
			return 0; /* zero, false, NONE; a raw value stays NULL */
		*(const char **)p = fsm_arena_strndup(r->arena, "", 0);
		return *(const char **)p == NULL ? enomem(r) : 0;
	}
	uint64_t u = 0;
	int64_t i = 0;
	switch (fd->type) {
	case V_STR:
		return read_str(r, name, v, (const char **)p);
	case V_BOOL:
		return read_bool(r, name, v, (bool *)p);
	case V_U32:
		if (read_uint(r, name, v, UINT32_MAX, &u) != 0)
			return -1;
		*(uint32_t *)p = (uint32_t)u;
		return 0;
	case V_U64:
		return read_uint(r, name, v, UINT64_MAX, (uint64_t *)p);
	case V_I32:
		if (read_int(r, name, v, INT32_MIN, INT32_MAX, &i) != 0)
			return -1;
		*(int32_t *)p = (int32_t)i;
		return 0;
	case V_I64:
		return read_int(r, name, v, INT64_MIN, INT64_MAX, (int64_t *)p);
	case V_OBJECT:
	case V_RAW:
		return read_raw(r, name, v, fd->type == V_OBJECT, (const char **)p,
				(size_t *)(base + fd->len_off));
	default:
		return read_enum(r, fd, name, v, p);
	}
}

static int read_fields(struct reader *r, const struct field *f, size_t n, char *base,
		       const char *kind)
{
	for (size_t i = 0; i < n; i++)
		if (read_field(r, &f[i], base, kind) != 0)
			return -1;
	return 0;
}

static int check_file_pod(struct reader *r, const struct fsm_ev_file_pod *fp)
{
	if (fp->object != NULL && fp->removed) {
		ew_puts(ew_begin(&r->err), "fields \"object\" and \"removed\": true exclude each "
					   "other (a file.pod has one of them)");
		return -1;
	}
	if (fp->object == NULL && !fp->removed) {
		ew_puts(ew_begin(&r->err),
			"missing field \"object\" (or \"removed\": true) for file.pod");
		return -1;
	}
	return 0;
}

static int read_event(struct reader *r, struct fsm_event *ev)
{
	struct span k = r->m.values[EF_KIND];
	if (k.p == NULL)
		return missing(r, "kind", NULL);
	const char *name = NULL;
	if (read_str(r, "kind", k, &name) != 0)
		return -1;
	enum fsm_event_kind kind = fsm_event_kind_from_name(name);
	if (kind == FSM_EV_NONE) {
		struct errw *w = ew_begin(&r->err);
		ew_puts(w, "unknown kind ");
		ew_snippet(w, k.p, k.n);
		ew_puts(w, " (want one of");
		for (int i = 1; i < FSM_EV_KIND_COUNT; i++) {
			ew_puts(w, i > 1 ? ", " : " ");
			ew_puts(w, fsm_event_kind_name((enum fsm_event_kind)i));
		}
		ew_puts(w, ")");
		return -1;
	}
	assert(kind > FSM_EV_NONE && kind < FSM_EV_KIND_COUNT);
	ev->kind = kind;
	if (read_fields(r, event_head, COUNT(event_head), (char *)ev, NULL) != 0)
		return -1;
	const struct field_list *fl = &kind_fields[kind];
	if (read_fields(r, fl->f, fl->n, (char *)ev, name) != 0)
		return -1;
	if (kind == FSM_EV_FILE_POD)
		return check_file_pod(r, &ev->u.file_pod);
	return 0;
}

int fsm_event_from_json(const char *line, size_t len, struct fsm_event *ev,
			struct fsm_arena *arena, char *err, size_t err_len)
{
	struct span values[EF_COUNT];
	struct reader r;
	reader_init(&r, event_field_names, values, EF_COUNT, arena, err, err_len);
	memset(ev, 0, sizeof(*ev));
	int rc = read_line(&r, line, len);
	if (rc == 0)
		rc = read_event(&r, ev);
	reader_done(&r);
	if (rc != 0)
		memset(ev, 0, sizeof(*ev));
	assert(rc != 0 || (ev->kind > FSM_EV_NONE && ev->kind < FSM_EV_KIND_COUNT));
	return rc;
}

/* "unknown.<number>" names a kind this build has no name for (fsm_command_to_json). */
static bool unknown_cmd_kind(const char *s, uint32_t *out)
{
	static const char prefix[] = "unknown.";
	size_t n = sizeof(prefix) - 1;
	if (strncmp(s, prefix, n) != 0)
		return false;
	bool neg;
	uint64_t mag;
	struct span v = {s + n, strlen(s + n)};
	if (v.n == 0 || v.n > 10 || !parse_int(v, &neg, &mag) || neg || mag > UINT32_MAX)
		return false;
	if (v.n > 1 && v.p[0] == '0')
		return false; /* one spelling per number */
	*out = (uint32_t)mag;
	return true;
}

static int read_command(struct reader *r, struct fsm_command *c, uint64_t *seq, uint64_t *ts_ms)
{
	struct span k = r->m.values[CF_CMD];
	if (k.p == NULL)
		return missing(r, "cmd", NULL);
	const char *name = NULL;
	if (read_str(r, "cmd", k, &name) != 0)
		return -1;
	enum fsm_cmd_kind kind = fsm_cmd_kind_from_name(name);
	uint32_t number = 0;
	if (kind == FSM_CMD_NONE) {
		if (!unknown_cmd_kind(name, &number)) {
			ew_puts(field_error(r, "cmd"), "unknown command ");
			ew_snippet(&r->err, k.p, k.n);
			return -1;
		}
		kind = (enum fsm_cmd_kind)number;
	}
	c->kind = kind;
	struct span t = r->m.values[CF_TS_MS];
	if (t.p == NULL)
		return missing(r, "ts_ms", NULL);
	if (read_uint(r, "ts_ms", t, UINT64_MAX, ts_ms) != 0)
		return -1;
	struct span s = r->m.values[CF_SEQ];
	if (s.p != NULL && read_uint(r, "seq", s, UINT64_MAX, seq) != 0)
		return -1;
	if (read_fields(r, command_head, COUNT(command_head), (char *)c, NULL) != 0)
		return -1;
	return read_fields(r, command_tail, COUNT(command_tail), (char *)c, NULL);
}

int fsm_command_from_json(const char *line, size_t len, struct fsm_command *c, uint64_t *seq,
			  uint64_t *ts_ms, struct fsm_arena *arena, char *err, size_t err_len)
{
	struct span values[CF_COUNT];
	struct reader r;
	reader_init(&r, command_field_names, values, CF_COUNT, arena, err, err_len);
	memset(c, 0, sizeof(*c));
	*seq = 0;
	*ts_ms = 0;
	int rc = read_line(&r, line, len);
	if (rc == 0)
		rc = read_command(&r, c, seq, ts_ms);
	reader_done(&r);
	if (rc != 0) {
		memset(c, 0, sizeof(*c));
		*seq = 0;
		*ts_ms = 0;
	}
	return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

struct writer {
	struct fsm_buf *b;
	bool first; /* no key written yet */
};

/* `{"name":` or `,"name":` */
static int put_key(struct writer *w, const char *name)
{
	if (fsm_buf_putc(w->b, w->first ? '{' : ',') != 0 || fsm_buf_putc(w->b, '"') != 0 ||
	    fsm_buf_puts(w->b, name) != 0 || fsm_buf_puts(w->b, "\":") != 0)
		return FSM_JSON_ENOMEM;
	w->first = false;
	return FSM_JSON_OK;
}

static int put_u64(struct writer *w, const char *name, uint64_t v)
{
	if (put_key(w, name) != 0 || fsm_buf_u64(w->b, v) != 0)
		return FSM_JSON_ENOMEM;
	return FSM_JSON_OK;
}

static int put_str(struct writer *w, const char *name, const char *s)
{
	if (put_key(w, name) != 0 || fsm_buf_json_str(w->b, s) != 0)
		return FSM_JSON_ENOMEM;
	return FSM_JSON_OK;
}

static int write_field(struct writer *w, const struct field *fd, const char *base,
		       const char *const *names)
{
	const char *name = names[fd->name];
	const void *p = base + fd->off;
	bool omit = (fd->flags & OMIT_EMPTY) != 0;
	switch (fd->type) {
	case V_STR: {
		const char *s = *(const char *const *)p;
		if (omit && (s == NULL || s[0] == '\0'))
			return FSM_JSON_OK;
		return put_str(w, name, s);
	}
	case V_BOOL: {
		bool v = *(const bool *)p;
		if (omit && !v)
			return FSM_JSON_OK;
		if (put_key(w, name) != 0 || fsm_buf_puts(w->b, v ? "true" : "false") != 0)
			return FSM_JSON_ENOMEM;
		return FSM_JSON_OK;
	}
	case V_U32:
	case V_U64: {
		uint64_t v = fd->type == V_U32 ? *(const uint32_t *)p : *(const uint64_t *)p;
		if (omit && v == 0)
			return FSM_JSON_OK;
		return put_u64(w, name, v);
	}
	case V_I32:
	case V_I64: {
		int64_t v = fd->type == V_I32 ? *(const int32_t *)p : *(const int64_t *)p;
		if (omit && v == 0)
			return FSM_JSON_OK;
		if (put_key(w, name) != 0 || fsm_buf_i64(w->b, v) != 0)
			return FSM_JSON_ENOMEM;
		return FSM_JSON_OK;
	}
	case V_OBJECT:
	case V_RAW: {
		const char *raw = *(const char *const *)p;
		size_t n = *(const size_t *)(base + fd->len_off);
		/* An object is left out only when NULL (file.pod removed); a body also
		 * when empty, as fsm_command_to_json promises. */
		if (omit && (raw == NULL || (fd->type == V_RAW && n == 0)))
			return FSM_JSON_OK;
		if (!raw_ok(raw, n, fd->type == V_OBJECT))
			return FSM_JSON_EINVAL;
		if (put_key(w, name) != 0 || fsm_buf_append(w->b, raw, n) != 0)
			return FSM_JSON_ENOMEM;
		return FSM_JSON_OK;
	}
	default: {
		unsigned v = enum_get(fd->type, p);
		const char *s = v == 0 ? "" : enum_name(fd->type, v);
		if (s == NULL || (v == 0 && (fd->flags & REQUIRED)))
			return FSM_JSON_EINVAL;
		if (omit && v == 0)
			return FSM_JSON_OK;
		return put_str(w, name, s);
	}
	}
}

static int write_fields(struct writer *w, const struct field *f, size_t n, const char *base,
			const char *const *names)
{
	for (size_t i = 0; i < n; i++) {
		int rc = write_field(w, &f[i], base, names);
		if (rc != FSM_JSON_OK)
			return rc;
	}
	return FSM_JSON_OK;
}

static int write_event(const struct fsm_event *ev, struct writer *w)
{
	if (ev->kind <= FSM_EV_NONE || ev->kind >= FSM_EV_KIND_COUNT)
		return FSM_JSON_EINVAL;
	const char *kind = fsm_event_kind_name(ev->kind);
	assert(kind != NULL);
	if (ev->kind == FSM_EV_FILE_POD && ev->u.file_pod.removed == (ev->u.file_pod.object != NULL))
		return FSM_JSON_EINVAL; /* both or neither: the line would not read back */
	int rc = write_fields(w, event_head, COUNT(event_head), (const char *)ev, event_field_names);
	if (rc == FSM_JSON_OK)
		rc = put_str(w, "kind", kind);
	const struct field_list *fl = &kind_fields[ev->kind];
	if (rc == FSM_JSON_OK)
		rc = write_fields(w, fl->f, fl->n, (const char *)ev, event_field_names);
	if (rc == FSM_JSON_OK && fsm_buf_putc(w->b, '}') != 0)
		rc = FSM_JSON_ENOMEM;
	return rc;
}

/* Undoes a failed write, so the caller's buffer is as it was. */
static void buf_truncate(struct fsm_buf *b, size_t len)
{
	assert(len <= b->len);
	b->len = len;
	if (b->ptr != NULL)
		b->ptr[len] = '\0';
}

int fsm_event_to_json(const struct fsm_event *ev, struct fsm_buf *out)
{
	size_t len0 = out->len;
	struct writer w = {out, true};
	int rc = write_event(ev, &w);
	if (rc == FSM_JSON_OK && out->len - len0 > FSM_JSON_LINE_BYTES_MAX)
		rc = FSM_JSON_EINVAL; /* the readers would refuse it */
	if (rc != FSM_JSON_OK)
		buf_truncate(out, len0);
	return rc;
}

static int write_command(const struct fsm_command *c, uint64_t seq, uint64_t ts_ms,
			 struct writer *w)
{
	const char *base = (const char *)c;
	int rc = put_u64(w, "seq", seq);
	if (rc == FSM_JSON_OK)
		rc = put_u64(w, "ts_ms", ts_ms);
	if (rc == FSM_JSON_OK)
		rc = write_field(w, &command_head[0], base, command_field_names);
	if (rc != FSM_JSON_OK)
		return rc;
	const char *kind = fsm_cmd_kind_name(c->kind);
	if (kind != NULL) {
		rc = put_str(w, "cmd", kind);
	} else if (put_key(w, "cmd") != 0 || fsm_buf_puts(w->b, "\"unknown.") != 0 ||
		   fsm_buf_u64(w->b, (unsigned)c->kind) != 0 || fsm_buf_putc(w->b, '"') != 0) {
		rc = FSM_JSON_ENOMEM;
	}
	if (rc == FSM_JSON_OK)
		rc = write_field(w, &command_head[1], base, command_field_names);
	if (rc == FSM_JSON_OK)
		rc = write_fields(w, command_tail, COUNT(command_tail), base, command_field_names);
	if (rc == FSM_JSON_OK && fsm_buf_putc(w->b, '}') != 0)
		rc = FSM_JSON_ENOMEM;
	return rc;
}

int fsm_command_to_json(const struct fsm_command *c, uint64_t seq, uint64_t ts_ms,
			struct fsm_buf *out)
{
	size_t len0 = out->len;
	struct writer w = {out, true};
	int rc = write_command(c, seq, ts_ms, &w);
	if (rc == FSM_JSON_OK && out->len - len0 > FSM_JSON_LINE_BYTES_MAX)
		rc = FSM_JSON_EINVAL; /* the readers would refuse it */
	if (rc != FSM_JSON_OK)
		buf_truncate(out, len0);
	return rc;
}
