/*
 * io/objwatch.c — the ConfigMaps and Secrets of this node's pods, one reflector
 * per object (see objwatch.h).
 *
 * Each object runs podwatch's loop on its own: LISTING (a list in flight) ->
 * WATCHING (a watch stream open) -> on its end WATCHING again from the last
 * resourceVersion, or WAITING (the object's back-off timer) -> LISTING or
 * WATCHING as the failure asked.
 *
 * Every user callback (changed, retry, when_synced's) runs from one place: the
 * object's note timer (on_note), armed for "now" whenever there is something to
 * say. Watch lines arrive inside libcurl's write callback, where nothing may call
 * into libcurl (a callback's unref_pod would cancel that very transfer), and a
 * callback may forget the object it is told about: running them from a timer of
 * their own keeps both safe, keeps them off the interface's calls, and coalesces
 * a burst of events of one turn into one report.
 *
 * Secrets: every string of a Secret's JSON tree is zeroed before the tree is
 * put, and the content hash is computed by a serializer that feeds FNV-1a
 * directly, so no serialized copy of the data is ever made.
 */
#include "io/objwatch.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/backoff.h"

#define LIST_TIMEOUT_MS  60000
#define NAME_LEN_MAX     253  /* a DNS subdomain */
#define BUCKETS          4096 /* power of two, for objects, pods and waits each */
#define WHY_LEN          1024 /* two names of 253, a message of 300 */
#define RV_LEN           64
#define FNV_OFFSET       UINT64_C(14695981039346656037)
#define FNV_PRIME        UINT64_C(1099511628211)

enum rstate { R_LISTING, R_WATCHING, R_WAITING };

struct waiter {
	struct waiter *next, *prev; /* the object's waits, oldest first */
	struct waiter *hnext;       /* the id table's chain */
	uint64_t id;
	struct obj *o;
	io_objwatch_synced_cb cb;
	void *arg;
};

struct obj {
	struct obj *hnext;
	struct io_objwatch *w;
	enum io_obj_kind kind;
	char ns[NAME_LEN_MAX + 1];
	char name[NAME_LEN_MAX + 1];
	unsigned refs;

	/* the cache */
	enum io_obj_state state;
	json_object *cur;    /* PRESENT: the object, kind and apiVersion set */
	char obj_rv[RV_LEN]; /* cur's metadata.resourceVersion */
	char hash[17];
	char err[WHY_LEN];

	/* what was last reported through cb.changed */
	bool reported;
	bool rep_exists;
	char rep_hash[17];

	/* the reflector */
	enum rstate rs;
	bool relist;    /* after the wait: list (true) or watch */
	bool gone;      /* this watch saw a 410 */
	bool got_event; /* this watch delivered something: the back-off resets */
	uint64_t call;  /* the kapi call in flight, or 0 */
	uint64_t backoff_ms;
	char rv[RV_LEN];        /* where the next watch starts */
	uint64_t timer_id;      /* the back-off */
	uint64_t note_timer_id; /* deferred callbacks */

	/* for on_note */
	bool retry_pending;
	uint64_t retry_delay_ms;
	char retry_why[WHY_LEN];
	struct waiter *waits, *waits_tail;
};

struct pod {
	struct pod *hnext;
	char *uid;
	struct obj **objs;
	unsigned n, cap;
};

struct io_objwatch {
	struct kapi *api;
	struct io_reactor *r;
	struct io_objwatch_cb cb;
	struct obj *objs[BUCKETS];
	struct pod *pods[BUCKETS];
	struct waiter *waits[BUCKETS];
	unsigned nobjs, nrefs, nwaits;
	uint64_t wait_id_next;
	struct obj *firing; /* on_note's object; NULL once a callback forgot it */
	struct io_objwatch_stats stats;
};

static void start_list(struct obj *o);
static void start_watch(struct obj *o);

/* ---- small things ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= FNV_PRIME;
	}
	return h;
}

static unsigned bucket_of(const char *s, uint64_t seed)
{
	return (unsigned)(fnv(seed, s, strlen(s)) & (BUCKETS - 1));
}

static unsigned obj_bucket(enum io_obj_kind kind, const char *ns, const char *name)
{
	unsigned char k = (unsigned char)kind;
	uint64_t h = fnv(FNV_OFFSET, &k, 1);
	h = fnv(h, ns, strlen(ns));
	h = fnv(h, "/", 1);
	return (unsigned)(fnv(h, name, strlen(name)) & (BUCKETS - 1));
}

static const char *kind_lower(enum io_obj_kind kind)
{
	return kind == IO_OBJ_SECRET ? "secret" : "configmap";
}

static const char *kind_plural(enum io_obj_kind kind)
{
	return kind == IO_OBJ_SECRET ? "secrets" : "configmaps";
}

/* A DNS subdomain-ish name: it goes into a URL path and query unescaped. */
static bool name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
		if (!ok || n >= NAME_LEN_MAX)
			return false;
	}
	return true;
}

static void timer_now(struct obj *o, uint64_t id, io_timer_cb cb)
{
	/* The reactor's timer table is sized for the daemon (IO_TIMERS_MAX); a refusal
	 * here would only delay a callback to the next event, as podwatch accepts. */
	(void)io_timer_set(o->w->r, id, io_reactor_now_ms(o->w->r), cb, o);
}

/* ---- secrets ---- */

/* Zeroes every string of a tree: a Secret's data, stringData and anything that
 * copies them (a last-applied-configuration annotation). */
static void scrub(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(v),
		               (size_t)json_object_get_string_len(v));
		break;
	case json_type_object: {
		json_object_object_foreach(v, k, child)
		{
			(void)k;
			scrub(child);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			scrub(json_object_array_get_idx(v, i));
		break;
	default:
		break;
	}
}

static void drop_json(enum io_obj_kind kind, json_object *v)
{
	if (v == NULL)
		return;
	/* The caller holds the last reference: every subtree the cache keeps was taken
	 * out of v first (on_list, on_watch_line), or scrubbing would zero it too. */
	if (kind == IO_OBJ_SECRET)
		scrub(v);
	json_object_put(v);
}

/* ---- the content hash ---- */

/*
 * FNV-1a 64 of the canonical JSON: json-c's JSON_C_TO_STRING_PLAIN output of the
 * value with every object's keys sorted (bytewise). Written here as a stream into
 * the hash so no buffer ever holds a Secret's data; the escaping is json-c's
 * (json_escape_str): \" \\ \/ \b \f \n \r \t, \u00XX below 0x20, all else as is.
 */
static uint64_t h_str(uint64_t h, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	h = fnv(h, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t m = 0;
		switch (c) {
		case '\b':
			memcpy(esc, "\\b", m = 2);
			break;
		case '\n':
			memcpy(esc, "\\n", m = 2);
			break;
		case '\r':
			memcpy(esc, "\\r", m = 2);
			break;
		case '\t':
			memcpy(esc, "\\t", m = 2);
			break;
		case '\f':
			memcpy(esc, "\\f", m = 2);
			break;
		case '"':
			memcpy(esc, "\\\"", m = 2);
			break;
		case '\\':
			memcpy(esc, "\\\\", m = 2);
			break;
		case '/':
			memcpy(esc, "\\/", m = 2);
			break;
		default:
			if (c < ' ') {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				m = 6;
			} else {
				esc[0] = (char)c;
				m = 1;
			}
		}
		h = fnv(h, esc, m);
	}
	return fnv(h, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* depth bounds the recursion (a ConfigMap's values are strings: depth 2 is all we meet). */
static int h_value(uint64_t *h, json_object *v, unsigned depth)
{
	if (depth > 32)
		return -EINVAL;
	switch (json_object_get_type(v)) {
	case json_type_null:
		*h = fnv(*h, "null", 4);
		return 0;
	case json_type_boolean:
		*h = json_object_get_boolean(v) ? fnv(*h, "true", 4) : fnv(*h, "false", 5);
		return 0;
	case json_type_string:
		*h = h_str(*h, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		return 0;
	case json_type_int:
	case json_type_double: {
		/* not in a valid object's data; json-c's own text for it */
		const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		*h = fnv(*h, s, strlen(s));
		return 0;
	}
	case json_type_array: {
		*h = fnv(*h, "[", 1);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i > 0)
				*h = fnv(*h, ",", 1);
			int rc = h_value(h, json_object_array_get_idx(v, i), depth + 1);
			if (rc != 0)
				return rc;
		}
		*h = fnv(*h, "]", 1);
		return 0;
	}
	case json_type_object: {
		size_t n = (size_t)json_object_object_length(v), i = 0;
		const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (keys == NULL)
			return -ENOMEM;
		json_object_object_foreach(v, k, child)
		{
			(void)child;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), key_cmp);
		*h = fnv(*h, "{", 1);
		int rc = 0;
		for (i = 0; i < n && rc == 0; i++) {
			if (i > 0)
				*h = fnv(*h, ",", 1);
			*h = h_str(*h, keys[i], strlen(keys[i]));
			*h = fnv(*h, ":", 1);
			rc = h_value(h, json_object_object_get(v, keys[i]), depth + 1);
		}
		free(keys);
		*h = fnv(*h, "}", 1);
		return rc;
	}
	}
	return -EINVAL;
}

/* {binaryData, data, immutable} of obj (those it has), in that (sorted) order. */
static int content_hash(json_object *obj, char out[17])
{
	static const char *const fields[] = {"binaryData", "data", "immutable"};
	uint64_t h = fnv(FNV_OFFSET, "{", 1);
	bool first = true;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_object *v;
		if (!json_object_object_get_ex(obj, fields[i], &v))
			continue;
		if (!first)
			h = fnv(h, ",", 1);
		first = false;
		h = h_str(h, fields[i], strlen(fields[i]));
		h = fnv(h, ":", 1);
		int rc = h_value(&h, v, 1);
		if (rc != 0)
			return rc;
	}
	h = fnv(h, "}", 1);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	return 0;
}

/* ---- the cache ---- */

static const char *str_at(json_object *obj, const char *a, const char *b)
{
	json_object *x, *y;
	if (!json_object_object_get_ex(obj, a, &x) || !json_object_object_get_ex(x, b, &y) ||
	    !json_object_is_type(y, json_type_string))
		return NULL;
	return json_object_get_string(y);
}

static void set_rv(struct obj *o, json_object *obj)
{
	const char *rv = str_at(obj, "metadata", "resourceVersion");
	if (rv != NULL)
		snprintf(o->rv, sizeof(o->rv), "%s", rv);
}

static bool report_due(const struct obj *o)
{
	if (o->state != IO_OBJ_PRESENT && o->state != IO_OBJ_ABSENT)
		return false;
	bool exists = o->state == IO_OBJ_PRESENT;
	return !o->reported || exists != o->rep_exists ||
	       (exists && strcmp(o->hash, o->rep_hash) != 0);
}

static void on_note(void *arg, uint64_t id);

/* Arms the note timer if on_note has something to do. */
static void note(struct obj *o)
{
	if (o->retry_pending || report_due(o) || (o->waits != NULL && o->state != IO_OBJ_PENDING))
		timer_now(o, o->note_timer_id, on_note);
}

/*
 * The object is now v (a reference the cache takes over; NULL: it does not exist).
 * 0, or a negative errno when v cannot be hashed (the cache is left as it was).
 */
static int cache_set(struct obj *o, json_object *v)
{
	char hash[17] = "";
	if (v != NULL) {
		int rc = content_hash(v, hash);
		if (rc != 0) {
			drop_json(o->kind, v);
			return rc;
		}
		json_object_object_add(v, "kind",
		                       json_object_new_string(io_obj_kind_name(o->kind)));
		json_object_object_add(v, "apiVersion", json_object_new_string("v1"));
	}
	drop_json(o->kind, o->cur);
	o->cur = v;
	const char *rv = v ? str_at(v, "metadata", "resourceVersion") : NULL;
	snprintf(o->obj_rv, sizeof(o->obj_rv), "%s", rv ? rv : "");
	memcpy(o->hash, hash, sizeof(hash));
	o->state = v ? IO_OBJ_PRESENT : IO_OBJ_ABSENT;
	o->err[0] = '\0';
	return 0;
}

/* ---- the reflector ---- */

static void on_wait_over(void *arg, uint64_t id)
{
	struct obj *o = arg;
	(void)id;
	if (o->rs != R_WAITING)
		return;
	if (o->relist)
		start_list(o);
	else
		start_watch(o);
}

/* Waits the next back-off (at least retry_after_ms), then lists or watches. */
static void back_off(struct obj *o, bool relist, uint64_t retry_after_ms, const char *why)
{
	uint64_t delay = io_backoff_next(&o->backoff_ms, retry_after_ms);
	o->rs = R_WAITING;
	o->relist = relist;
	o->retry_pending = true;
	o->retry_delay_ms = delay;
	snprintf(o->retry_why, sizeof(o->retry_why), "%s", why);
	note(o);
	(void)io_timer_set(o->w->r, o->timer_id, io_reactor_now_ms(o->w->r) + delay, on_wait_over,
	                   o);
}

/* "couldn't <verb> secret ns/name: HTTP 403: <the Status's message>" */
static void describe(const struct obj *o, const char *verb, const struct kapi_response *r,
                     char *why, size_t n)
{
	int k = snprintf(why, n, "couldn't %s %s %s/%s: ", verb, kind_lower(o->kind), o->ns,
	                 o->name);
	if (k < 0 || (size_t)k >= n)
		return;
	why += k;
	n -= (size_t)k;
	if (r->http_status == 0) {
		snprintf(why, n, "%s", r->error);
		return;
	}
	if (r->http_status == 200) {
		snprintf(why, n, "the stream was cut: %s", r->error);
		return;
	}
	json_object *st = r->body_len ? json_tokener_parse(r->body) : NULL, *msg;
	if (st != NULL && json_object_object_get_ex(st, "message", &msg) &&
	    json_object_is_type(msg, json_type_string))
		snprintf(why, n, "HTTP %ld: %.300s", r->http_status, json_object_get_string(msg));
	else
		snprintf(why, n, "HTTP %ld", r->http_status);
	json_object_put(st);
}

/* A list failed: before any list answered, the object's state is the error. */
static void list_failed(struct obj *o, uint64_t retry_after_ms, const char *why)
{
	if (o->state == IO_OBJ_PENDING || o->state == IO_OBJ_ERROR) {
		o->state = IO_OBJ_ERROR;
		snprintf(o->err, sizeof(o->err), "%s", why);
	}
	back_off(o, true, retry_after_ms, why);
}

static void on_list(void *arg, const struct kapi_response *r)
{
	struct obj *o = arg;
	o->call = 0;
	char why[WHY_LEN];
	if (r->http_status != 200) {
		describe(o, "get", r, why, sizeof(why));
		list_failed(o, r->retry_after_ms, why);
		return;
	}
	json_object *list = json_tokener_parse(r->body), *items;
	if (list == NULL || !json_object_object_get_ex(list, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		drop_json(o->kind, list);
		snprintf(why, sizeof(why), "couldn't get %s %s/%s: the answer is not a list",
		         kind_lower(o->kind), o->ns, o->name);
		list_failed(o, 0, why);
		return;
	}
	/* The field selector leaves this object at most; check the name all the same. */
	json_object *found = NULL;
	for (size_t i = 0; i < json_object_array_length(items) && found == NULL; i++) {
		json_object *it = json_object_array_get_idx(items, i);
		const char *name = str_at(it, "metadata", "name");
		if (name != NULL && strcmp(name, o->name) == 0) {
			/* Out of the list, so scrubbing the list leaves the cache's copy whole. */
			found = json_object_get(it);
			json_object_array_put_idx(items, i, NULL);
		}
	}
	int rc = cache_set(o, found);
	set_rv(o, list);
	drop_json(o->kind, list);
	if (rc != 0) {
		snprintf(why, sizeof(why), "couldn't get %s %s/%s: its data cannot be hashed (%s)",
		         kind_lower(o->kind), o->ns, o->name, strerror(-rc));
		list_failed(o, 0, why);
		return;
	}
	o->backoff_ms = 0;
	note(o);
	start_watch(o);
}

static void start_list(struct obj *o)
{
	char path[768];
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s?fieldSelector=metadata.name%%3D%s",
	         o->ns, kind_plural(o->kind), o->name);
	o->rs = R_LISTING;
	o->w->stats.lists++;
	int rc = kapi_request(o->w->api, "GET", path, NULL, NULL, 0, LIST_TIMEOUT_MS, on_list, o,
	                      &o->call);
	if (rc != 0) {
		char why[WHY_LEN];
		snprintf(why, sizeof(why), "couldn't get %s %s/%s: cannot start the request (%s)",
		         kind_lower(o->kind), o->ns, o->name, strerror(-rc));
		list_failed(o, 0, why);
	}
}

/* In libcurl's write callback: no call into kapi here, and no user callback. */
static void on_watch_line(void *arg, const char *line, size_t len)
{
	struct obj *o = arg;
	if (o->rs != R_WATCHING)
		return;
	json_tokener *tok = json_tokener_new();
	json_object *ev = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	json_tokener_free(tok);
	json_object *type, *obj;
	if (ev == NULL || !json_object_object_get_ex(ev, "type", &type) ||
	    !json_object_object_get_ex(ev, "object", &obj) ||
	    !json_object_is_type(type, json_type_string)) {
		drop_json(o->kind, ev);
		return;
	}
	const char *t = json_object_get_string(type);
	if (strcmp(t, "ERROR") == 0) {
		json_object *code;
		if (json_object_object_get_ex(obj, "code", &code) &&
		    json_object_get_int(code) == 410)
			o->gone = true;
	} else if (strcmp(t, "BOOKMARK") == 0) {
		set_rv(o, obj);
	} else if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0 ||
	           strcmp(t, "DELETED") == 0) {
		const char *name = str_at(obj, "metadata", "name");
		if (name != NULL && strcmp(name, o->name) == 0) {
			set_rv(o, obj);
			o->got_event = true;
			json_object *v = NULL;
			if (t[0] != 'D') {
				/* Out of the event, so scrubbing the event leaves the cache's copy
				 * whole. */
				v = json_object_get(obj);
				json_object_object_del(ev, "object");
			}
			/* A value that cannot be hashed (too deep) leaves the cache as it was. */
			(void)cache_set(o, v);
			note(o);
		}
	}
	drop_json(o->kind, ev);
}

static void on_watch_end(void *arg, const struct kapi_response *r)
{
	struct obj *o = arg;
	o->call = 0;
	if (o->gone || r->http_status == 410) {
		/* Too old: start over with a list, at once. */
		o->rv[0] = '\0';
		o->backoff_ms = 0;
		start_list(o);
		return;
	}
	if (r->http_status == 200 && r->curl_code == CURLE_OK) {
		/* The server's timeout: carry on from where we are. */
		o->backoff_ms = 0;
		start_watch(o);
		return;
	}
	if (o->got_event)
		o->backoff_ms = 0;
	char why[WHY_LEN];
	describe(o, "watch", r, why, sizeof(why));
	back_off(o, false, r->retry_after_ms, why);
}

static void start_watch(struct obj *o)
{
	char path[1024];
	/* client-go's reflector: a timeout between 5 and 10 minutes */
	unsigned timeout_s = 300 + io_random_u32() % 300;
	snprintf(path, sizeof(path),
	         "/api/v1/namespaces/%s/"
	         "%s?fieldSelector=metadata.name%%3D%s&watch=1&allowWatchBookmarks=true"
	         "&resourceVersion=%s&timeoutSeconds=%u",
	         o->ns, kind_plural(o->kind), o->name, o->rv, timeout_s);
	o->rs = R_WATCHING;
	o->gone = false;
	o->got_event = false;
	o->w->stats.watches++;
	int rc = kapi_watch(o->w->api, path, on_watch_line, on_watch_end, o, &o->call);
	if (rc != 0) {
		char why[WHY_LEN];
		snprintf(why, sizeof(why), "couldn't watch %s %s/%s: cannot start the request (%s)",
		         kind_lower(o->kind), o->ns, o->name, strerror(-rc));
		back_off(o, false, 0, why);
	}
}

/* ---- waits ---- */

static void wait_unlink(struct io_objwatch *w, struct waiter *wt)
{
	struct obj *o = wt->o;
	if (wt->prev != NULL)
		wt->prev->next = wt->next;
	else
		o->waits = wt->next;
	if (wt->next != NULL)
		wt->next->prev = wt->prev;
	else
		o->waits_tail = wt->prev;
	struct waiter **p = &w->waits[wt->id & (BUCKETS - 1)];
	while (*p != wt)
		p = &(*p)->hnext;
	*p = wt->hnext;
	w->nwaits--;
}

/* ---- callbacks: the one place they run ---- */

static void on_note(void *arg, uint64_t id)
{
	struct obj *o = arg;
	struct io_objwatch *w = o->w;
	(void)id;
	/* Copies: a callback may forget o, and its strings must outlive the call. */
	char ns[NAME_LEN_MAX + 1], name[NAME_LEN_MAX + 1];
	memcpy(ns, o->ns, sizeof(ns));
	memcpy(name, o->name, sizeof(name));
	w->firing = o;
	if (o->retry_pending) {
		char why[WHY_LEN];
		memcpy(why, o->retry_why, sizeof(why));
		o->retry_pending = false;
		if (w->cb.retry != NULL)
			w->cb.retry(w->cb.arg, o->retry_delay_ms, why);
		if (w->firing != o)
			return;
	}
	if (report_due(o)) {
		bool exists = o->state == IO_OBJ_PRESENT;
		char rv[RV_LEN], hash[17];
		memcpy(rv, exists ? o->obj_rv : "", exists ? sizeof(rv) : 1);
		memcpy(hash, exists ? o->hash : "", exists ? sizeof(hash) : 1);
		o->reported = true;
		o->rep_exists = exists;
		memcpy(o->rep_hash, hash, sizeof(hash));
		w->stats.changes++;
		struct io_objwatch_change c = {.kind = o->kind,
		                               .namespace_ = ns,
		                               .name = name,
		                               .resource_version = rv,
		                               .exists = exists,
		                               .hash = hash};
		if (w->cb.changed != NULL)
			w->cb.changed(w->cb.arg, &c);
		if (w->firing != o)
			return;
	}
	if (o->state != IO_OBJ_PENDING) {
		/* The waits there are now; one a callback adds runs on the next turn. */
		uint64_t last = w->wait_id_next;
		while (o->waits != NULL && o->waits->id < last) {
			struct waiter *wt = o->waits;
			wait_unlink(w, wt);
			io_objwatch_synced_cb cb = wt->cb;
			void *cb_arg = wt->arg;
			free(wt);
			cb(cb_arg);
			if (w->firing != o)
				return;
		}
	}
	w->firing = NULL;
}

/* ---- objects ---- */

static struct obj *obj_find(const struct io_objwatch *w, enum io_obj_kind kind, const char *ns,
                            const char *name)
{
	for (struct obj *o = w->objs[obj_bucket(kind, ns, name)]; o != NULL; o = o->hnext)
		if (o->kind == kind && strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* Stops the reflector, drops its waits uncalled, zeroes and frees the object. */
static void obj_destroy(struct obj *o)
{
	struct io_objwatch *w = o->w;
	if (o->call != 0)
		kapi_cancel(w->api, o->call);
	io_timer_cancel(w->r, o->timer_id);
	io_timer_cancel(w->r, o->note_timer_id);
	while (o->waits != NULL) {
		struct waiter *wt = o->waits;
		wait_unlink(w, wt);
		free(wt);
	}
	drop_json(o->kind, o->cur);
	if (w->firing == o)
		w->firing = NULL;
	explicit_bzero(o, sizeof(*o));
	free(o);
}

static void obj_forget(struct io_objwatch *w, struct obj *o)
{
	struct obj **p = &w->objs[obj_bucket(o->kind, o->ns, o->name)];
	while (*p != o)
		p = &(*p)->hnext;
	*p = o->hnext;
	w->nobjs--;
	obj_destroy(o);
}

static struct obj *obj_new(struct io_objwatch *w, enum io_obj_kind kind, const char *ns,
                           const char *name)
{
	struct obj *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	o->w = w;
	o->kind = kind;
	snprintf(o->ns, sizeof(o->ns), "%s", ns);
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->state = IO_OBJ_PENDING;
	o->timer_id = io_timer_id_alloc(w->r);
	o->note_timer_id = io_timer_id_alloc(w->r);
	unsigned b = obj_bucket(kind, ns, name);
	o->hnext = w->objs[b];
	w->objs[b] = o;
	w->nobjs++;
	start_list(o);
	return o;
}

/* ---- pods ---- */

static struct pod **pod_slot(struct io_objwatch *w, const char *uid)
{
	struct pod **p = &w->pods[bucket_of(uid, FNV_OFFSET)];
	while (*p != NULL && strcmp((*p)->uid, uid) != 0)
		p = &(*p)->hnext;
	return p;
}

static void pod_free(struct pod *p)
{
	free(p->uid);
	free(p->objs);
	free(p);
}

/* ---- the interface ---- */

int io_objwatch_new(struct io_objwatch **out, const struct io_objwatch_config *cfg,
                    const struct io_objwatch_cb *cb)
{
	if (out == NULL || cfg == NULL || cfg->api == NULL || cfg->reactor == NULL || cb == NULL)
		return -EINVAL;
	struct io_objwatch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->api = cfg->api;
	w->r = cfg->reactor;
	w->cb = *cb;
	w->wait_id_next = 1;
	*out = w;
	return 0;
}

void io_objwatch_free(struct io_objwatch *w)
{
	if (w == NULL)
		return;
	for (unsigned b = 0; b < BUCKETS; b++) {
		for (struct obj *o = w->objs[b], *n; o != NULL; o = n) {
			n = o->hnext;
			obj_destroy(o);
		}
		for (struct pod *p = w->pods[b], *n; p != NULL; p = n) {
			n = p->hnext;
			pod_free(p);
		}
	}
	free(w);
}

const char *io_obj_kind_name(enum io_obj_kind kind)
{
	switch (kind) {
	case IO_OBJ_CONFIGMAP:
		return "ConfigMap";
	case IO_OBJ_SECRET:
		return "Secret";
	}
	return "Unknown";
}

static bool kind_ok(enum io_obj_kind kind)
{
	return kind == IO_OBJ_CONFIGMAP || kind == IO_OBJ_SECRET;
}

int io_objwatch_ref(struct io_objwatch *w, const char *pod_uid, enum io_obj_kind kind,
                    const char *namespace_, const char *name)
{
	if (pod_uid == NULL || pod_uid[0] == '\0' || !kind_ok(kind) || !name_ok(namespace_) ||
	    !name_ok(name))
		return -EINVAL;
	struct pod **slot = pod_slot(w, pod_uid), *p = *slot;
	struct obj *o = obj_find(w, kind, namespace_, name);
	if (p != NULL && o != NULL)
		for (unsigned i = 0; i < p->n; i++)
			if (p->objs[i] == o)
				return 0;
	if (w->nrefs >= IO_OBJWATCH_REFS_MAX || (o == NULL && w->nobjs >= IO_OBJWATCH_OBJECTS_MAX))
		return -ENOSPC;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL || (p->uid = strdup(pod_uid)) == NULL) {
			free(p);
			return -ENOMEM;
		}
		*slot = p;
	}
	if (p->n == p->cap) {
		unsigned cap = p->cap ? p->cap * 2 : 4;
		struct obj **objs = realloc(p->objs, cap * sizeof(*objs));
		if (objs == NULL)
			goto nomem;
		p->objs = objs;
		p->cap = cap;
	}
	if (o == NULL && (o = obj_new(w, kind, namespace_, name)) == NULL)
		goto nomem;
	p->objs[p->n++] = o;
	o->refs++;
	w->nrefs++;
	return 0;
nomem:
	if (p->n == 0) {
		*pod_slot(w, pod_uid) = p->hnext;
		pod_free(p);
	}
	return -ENOMEM;
}

void io_objwatch_unref_pod(struct io_objwatch *w, const char *pod_uid)
{
	if (pod_uid == NULL)
		return;
	struct pod **slot = pod_slot(w, pod_uid), *p = *slot;
	if (p == NULL)
		return;
	*slot = p->hnext;
	for (unsigned i = 0; i < p->n; i++) {
		struct obj *o = p->objs[i];
		w->nrefs--;
		if (--o->refs == 0)
			obj_forget(w, o);
	}
	pod_free(p);
}

enum io_obj_state io_objwatch_get(struct io_objwatch *w, enum io_obj_kind kind,
                                  const char *namespace_, const char *name,
                                  struct json_object **obj, char *err, size_t err_len)
{
	if (obj != NULL)
		*obj = NULL;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	struct obj *o = kind_ok(kind) && name_ok(namespace_) && name_ok(name)
	                        ? obj_find(w, kind, namespace_, name)
	                        : NULL;
	if (o == NULL)
		return IO_OBJ_UNKNOWN;
	if (o->state == IO_OBJ_PRESENT && obj != NULL)
		*obj = o->cur;
	if (o->state == IO_OBJ_ERROR && err != NULL && err_len > 0)
		snprintf(err, err_len, "%s", o->err);
	return o->state;
}

int io_objwatch_when_synced(struct io_objwatch *w, enum io_obj_kind kind, const char *namespace_,
                            const char *name, io_objwatch_synced_cb cb, void *arg, uint64_t *id)
{
	struct obj *o = kind_ok(kind) && name_ok(namespace_) && name_ok(name)
	                        ? obj_find(w, kind, namespace_, name)
	                        : NULL;
	if (o == NULL)
		return -ENOENT;
	if (cb == NULL)
		return -EINVAL;
	if (w->nwaits >= IO_OBJWATCH_WAITS_MAX)
		return -ENOSPC;
	struct waiter *wt = calloc(1, sizeof(*wt));
	if (wt == NULL)
		return -ENOMEM;
	wt->id = w->wait_id_next++;
	wt->o = o;
	wt->cb = cb;
	wt->arg = arg;
	wt->prev = o->waits_tail;
	if (o->waits_tail != NULL)
		o->waits_tail->next = wt;
	else
		o->waits = wt;
	o->waits_tail = wt;
	struct waiter **h = &w->waits[wt->id & (BUCKETS - 1)];
	wt->hnext = *h;
	*h = wt;
	w->nwaits++;
	if (id != NULL)
		*id = wt->id;
	note(o);
	return 0;
}

void io_objwatch_cancel_wait(struct io_objwatch *w, uint64_t id)
{
	for (struct waiter *wt = w->waits[id & (BUCKETS - 1)]; wt != NULL; wt = wt->hnext)
		if (wt->id == id) {
			wait_unlink(w, wt);
			free(wt);
			return;
		}
}

void io_objwatch_stats(const struct io_objwatch *w, struct io_objwatch_stats *out)
{
	*out = w->stats;
	out->objects = w->nobjs;
	out->refs = w->nrefs;
}
