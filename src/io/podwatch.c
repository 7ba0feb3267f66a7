/*
 * io/podwatch.c — list, then watch, the node's pods (see podwatch.h).
 *
 * States: LISTING (a list in flight) -> WATCHING (a watch stream open) ->
 * on its end WATCHING again from the last resourceVersion, or WAITING (the
 * back-off timer) -> LISTING or WATCHING as the failure asked.
 */
#include "io/podwatch.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/backoff.h"

#define LIST_TIMEOUT_MS  60000

enum state { S_LISTING, S_WATCHING, S_WAITING, S_STOPPED };

struct io_podwatch {
	struct kapi *api;
	struct io_reactor *r;
	uint64_t timer_id;
	char *node;
	struct io_podwatch_cb cb;
	enum state state;
	bool relist;    /* after the wait: list (true) or watch */
	bool gone;      /* this watch saw a 410 */
	bool got_event; /* this watch delivered something: the back-off resets */
	uint64_t call;  /* the kapi call in flight */
	uint64_t backoff_ms;
	char rv[64];
};

static void start_list(struct io_podwatch *w);
static void start_watch(struct io_podwatch *w);

static void on_wait_over(void *arg, uint64_t id)
{
	struct io_podwatch *w = arg;
	(void)id;
	if (w->state != S_WAITING)
		return;
	if (w->relist)
		start_list(w);
	else
		start_watch(w);
}

/* Waits the next back-off (at least retry_after_ms), then lists or watches. */
static void back_off(struct io_podwatch *w, bool relist, uint64_t retry_after_ms, const char *why)
{
	uint64_t delay = io_backoff_next(&w->backoff_ms, retry_after_ms);
	w->state = S_WAITING;
	w->relist = relist;
	if (w->cb.retry != NULL)
		w->cb.retry(w->cb.arg, delay, why);
	io_timer_set(w->r, w->timer_id, io_reactor_now_ms(w->r) + delay, on_wait_over, w);
}

static void set_rv(struct io_podwatch *w, json_object *obj)
{
	json_object *md, *rv;
	if (json_object_object_get_ex(obj, "metadata", &md) && json_object_object_get_ex(md, "resourceVersion", &rv) &&
	    json_object_is_type(rv, json_type_string))
		snprintf(w->rv, sizeof(w->rv), "%s", json_object_get_string(rv));
}

/* ---- list ---- */

static void on_list(void *arg, const struct kapi_response *r)
{
	struct io_podwatch *w = arg;
	w->call = 0;
	char why[300];
	if (r->http_status != 200) {
		if (r->http_status == 0)
			snprintf(why, sizeof(why), "list pods: %s", r->error);
		else
			snprintf(why, sizeof(why), "list pods: HTTP %ld: %.200s", r->http_status, r->body);
		back_off(w, true, r->retry_after_ms, why);
		return;
	}
	json_object *list = json_tokener_parse(r->body), *items;
	if (list == NULL || !json_object_object_get_ex(list, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		json_object_put(list);
		back_off(w, true, 0, "list pods: the answer is not a PodList");
		return;
	}
	size_t n = json_object_array_length(items);
	const char **objs = calloc(n ? n : 1, sizeof(*objs));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	if (objs == NULL || lens == NULL) {
		free(objs);
		free(lens);
		json_object_put(list);
		back_off(w, true, 0, "list pods: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);
		json_object_object_add(it, "kind", json_object_new_string("Pod"));
		json_object_object_add(it, "apiVersion", json_object_new_string("v1"));
		objs[i] = json_object_to_json_string_ext(it, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		lens[i] = strlen(objs[i]);
	}
	set_rv(w, list);
	w->backoff_ms = 0;
	if (w->cb.sync != NULL)
		w->cb.sync(w->cb.arg, objs, lens, n);
	free(objs);
	free(lens);
	json_object_put(list);
	if (w->state != S_STOPPED)
		start_watch(w);
}

static void start_list(struct io_podwatch *w)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", w->node);
	w->state = S_LISTING;
	int rc = kapi_request(w->api, "GET", path, NULL, NULL, 0, LIST_TIMEOUT_MS, on_list, w, &w->call);
	if (rc != 0)
		back_off(w, true, 0, "list pods: cannot start the request");
}

/* ---- watch ---- */

static void on_watch_line(void *arg, const char *line, size_t len)
{
	struct io_podwatch *w = arg;
	if (w->state != S_WATCHING)
		return;
	json_tokener *tok = json_tokener_new();
	json_object *ev = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	json_tokener_free(tok);
	json_object *type, *obj;
	if (ev == NULL || !json_object_object_get_ex(ev, "type", &type) ||
	    !json_object_object_get_ex(ev, "object", &obj)) {
		json_object_put(ev);
		return;
	}
	const char *t = json_object_get_string(type);
	if (strcmp(t, "ERROR") == 0) {
		json_object *code;
		if (json_object_object_get_ex(obj, "code", &code) && json_object_get_int(code) == 410)
			w->gone = true;
	} else if (strcmp(t, "BOOKMARK") == 0) {
		set_rv(w, obj);
	} else {
		enum io_podwatch_type ty = strcmp(t, "ADDED") == 0      ? IO_PODWATCH_ADDED
					   : strcmp(t, "MODIFIED") == 0 ? IO_PODWATCH_MODIFIED
					   : strcmp(t, "DELETED") == 0  ? IO_PODWATCH_DELETED
									: 0;
		if (ty != 0) {
			set_rv(w, obj);
			w->got_event = true;
			json_object_object_add(obj, "kind", json_object_new_string("Pod"));
			json_object_object_add(obj, "apiVersion", json_object_new_string("v1"));
			const char *s =
				json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			if (w->cb.event != NULL)
				w->cb.event(w->cb.arg, ty, s, strlen(s));
		}
	}
	json_object_put(ev);
}

static void on_watch_end(void *arg, const struct kapi_response *r)
{
	struct io_podwatch *w = arg;
	w->call = 0;
	char why[300];
	if (w->gone || r->http_status == 410) {
		/* Too old: start over with a list, at once. */
		w->rv[0] = '\0';
		w->backoff_ms = 0;
		start_list(w);
		return;
	}
	if (r->http_status == 200 && r->curl_code == CURLE_OK) {
		/* The server's timeout: carry on from where we are. */
		w->backoff_ms = 0;
		start_watch(w);
		return;
	}
	if (w->got_event)
		w->backoff_ms = 0;
	if (r->http_status == 0)
		snprintf(why, sizeof(why), "watch pods: %s", r->error);
	else if (r->http_status == 200)
		snprintf(why, sizeof(why), "watch pods: the stream was cut: %s", r->error);
	else
		snprintf(why, sizeof(why), "watch pods: HTTP %ld", r->http_status);
	back_off(w, false, r->retry_after_ms, why);
}

static void start_watch(struct io_podwatch *w)
{
	char path[768];
	/* client-go's reflector: a timeout between 5 and 10 minutes */
	unsigned timeout_s = 300 + io_random_u32() % 300;
	snprintf(path, sizeof(path),
		 "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1&allowWatchBookmarks=true"
		 "&resourceVersion=%s&timeoutSeconds=%u",
		 w->node, w->rv, timeout_s);
	w->state = S_WATCHING;
	w->gone = false;
	w->got_event = false;
	int rc = kapi_watch(w->api, path, on_watch_line, on_watch_end, w, &w->call);
	if (rc != 0)
		back_off(w, false, 0, "watch pods: cannot start the request");
}

int io_podwatch_start(struct io_podwatch **out, const struct io_podwatch_config *cfg,
		      const struct io_podwatch_cb *cb)
{
	struct io_podwatch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->api = cfg->api;
	w->r = cfg->reactor;
	w->timer_id = cfg->timer_id;
	w->cb = *cb;
	w->node = strdup(cfg->node_name);
	if (w->node == NULL) {
		free(w);
		return -ENOMEM;
	}
	*out = w;
	start_list(w);
	return 0;
}

void io_podwatch_stop(struct io_podwatch *w)
{
	if (w == NULL)
		return;
	if (w->call != 0)
		kapi_cancel(w->api, w->call);
	if (w->state == S_WAITING)
		io_timer_cancel(w->r, w->timer_id);
	w->state = S_STOPPED;
	free(w->node);
	free(w);
}

const char *io_podwatch_resource_version(const struct io_podwatch *w)
{
	return w->rv;
}
