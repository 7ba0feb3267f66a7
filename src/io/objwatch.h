/*
 * io/objwatch.h — the ConfigMaps and Secrets that pods on this node use, fetched
 * and watched for those pods only, as the kubelet's watch-based object managers
 * (pkg/kubelet/util/manager/watch_based_manager.go) keep them.
 *
 * Users register interest: io_objwatch_ref(pod uid, kind, namespace, name). The
 * first reference to an object starts one reflector for it: LIST
 * /api/v1/namespaces/NS/{configmaps,secrets}?fieldSelector=metadata.name=NAME, then
 * WATCH from the list's resourceVersion (allowWatchBookmarks, timeoutSeconds of 5
 * to 10 minutes), resumed from the last resourceVersion after a dropped watch,
 * relisted after 410 Gone, backing off on errors as io/podwatch does (0.8 s
 * doubling to 30 s, ±25 % jitter, at least a Retry-After). Dropping a pod's last
 * reference (io_objwatch_unref_pod) stops the reflector and forgets the object.
 *
 * The cache holds the newest copy of each watched object, in memory only
 * (DESIGN.md contract 8: a Secret's data never reaches the disk or the journal).
 * io_objwatch_get answers from it once the object's first list has returned;
 * before that it says IO_OBJ_PENDING, and io_objwatch_when_synced calls back once
 * the list has answered (or failed).
 *
 * Changes are reported through cb.changed, for the daemon to journal as an
 * `api.object` event: kind, namespace, name, resourceVersion, whether it exists,
 * and a content hash (FNV-1a 64 of the JSON of its data, binaryData and
 * immutable fields, as hex) — never the data. A report is made when the first
 * list answers and then only when exists or the hash changes (a relist that
 * finds the same content reports nothing: DESIGN.md contract 10).
 *
 * Bounds: IO_OBJWATCH_OBJECTS_MAX objects and IO_OBJWATCH_REFS_MAX references;
 * past them io_objwatch_ref fails with -ENOSPC and the object is read but not
 * watched by the caller (it falls back to a GET).
 *
 * Not thread-safe: the loop's thread makes every call. Callbacks run on reactor
 * turns, never inside a call of this interface; strings live until the callback
 * returns. A callback may call any function here but io_objwatch_free.
 */
#ifndef LEDGERLET_IO_OBJWATCH_H
#define LEDGERLET_IO_OBJWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json_object.h>

#include "io/kapi.h"
#include "io/reactor.h"

#define IO_OBJWATCH_OBJECTS_MAX 512 /* each holds a watch: below KAPI_CALLS_MAX */
#define IO_OBJWATCH_REFS_MAX    65536
#define IO_OBJWATCH_WAITS_MAX   65536 /* io_objwatch_when_synced's waits at once */

enum io_obj_kind { IO_OBJ_CONFIGMAP = 1, IO_OBJ_SECRET = 2 };

enum io_obj_state {
	IO_OBJ_PENDING = 0, /* registered, first list not answered yet */
	IO_OBJ_PRESENT = 1, /* *obj is the object */
	IO_OBJ_ABSENT = 2,  /* the list answered and it does not exist */
	IO_OBJ_ERROR = 3,   /* every list so far failed (why in io_objwatch_get's err); a
			     * relist that fails after one answered keeps the cache as it was,
			     * as the kubelet's reflector store does, and retries */
	IO_OBJ_UNKNOWN = 4, /* not registered */
};

struct io_objwatch_change {
	enum io_obj_kind kind;
	const char *namespace_;
	const char *name;
	const char *resource_version; /* "" when absent */
	bool exists;
	const char *hash; /* 16 hex digits; "" when absent */
};

struct io_objwatch_cb {
	void (*changed)(void *arg, const struct io_objwatch_change *c);
	/* A list or watch failed and the next try is in delay_ms: why (names the object). */
	void (*retry)(void *arg, uint64_t delay_ms, const char *why);
	void *arg;
};

struct io_objwatch_config {
	struct kapi *api;
	struct io_reactor *reactor;
};

struct io_objwatch;

int io_objwatch_new(struct io_objwatch **out, const struct io_objwatch_config *cfg,
		    const struct io_objwatch_cb *cb);
/* Stops every reflector and frees the cache (secret bytes are zeroed). NULL: no-op. */
void io_objwatch_free(struct io_objwatch *w);

/* "ConfigMap" / "Secret". */
const char *io_obj_kind_name(enum io_obj_kind kind);

/*
 * pod_uid uses kind namespace/name. Idempotent per (pod, object). 0, -EINVAL for
 * an empty pod_uid, name or namespace (or one longer than 253 or with a character
 * outside [A-Za-z0-9._-]), -ENOSPC past the bounds, -ENOMEM.
 */
int io_objwatch_ref(struct io_objwatch *w, const char *pod_uid, enum io_obj_kind kind,
		    const char *namespace_, const char *name);
/*
 * Drops every reference of pod_uid; objects left unreferenced are forgotten (their
 * pending waits are dropped without a call). May be called from this interface's
 * callbacks, not from inside libcurl's (it cancels transfers).
 */
void io_objwatch_unref_pod(struct io_objwatch *w, const char *pod_uid);

/*
 * The cached object. IO_OBJ_PRESENT: *obj is the cache's (do not put or keep it
 * past the next reactor turn). IO_OBJ_ERROR: err says why ("couldn't get
 * configmap ns/name: <why>"). obj and err may be NULL.
 */
enum io_obj_state io_objwatch_get(struct io_objwatch *w, enum io_obj_kind kind,
				  const char *namespace_, const char *name, struct json_object **obj,
				  char *err, size_t err_len);

typedef void (*io_objwatch_synced_cb)(void *arg);
/*
 * Calls cb(arg) on a later turn once the object's state is not IO_OBJ_PENDING
 * (at once, next turn, if it is not now). *id (may be NULL) names the wait for
 * io_objwatch_cancel_wait. 0, -ENOENT when not registered, -EINVAL for a NULL cb,
 * -ENOSPC past IO_OBJWATCH_WAITS_MAX, -ENOMEM.
 */
int io_objwatch_when_synced(struct io_objwatch *w, enum io_obj_kind kind, const char *namespace_,
			    const char *name, io_objwatch_synced_cb cb, void *arg, uint64_t *id);
void io_objwatch_cancel_wait(struct io_objwatch *w, uint64_t id);

struct io_objwatch_stats {
	unsigned objects;
	unsigned refs;
	uint64_t lists;   /* LISTs started */
	uint64_t watches; /* WATCHes started */
	uint64_t changes; /* cb.changed calls */
};
void io_objwatch_stats(const struct io_objwatch *w, struct io_objwatch_stats *out);

#endif
