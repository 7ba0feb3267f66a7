/*
 * io/podwatch.h — the API pod source: the pods bound to this node, listed and
 * then watched, as the kubelet's reflector does (LIST /api/v1/pods with
 * fieldSelector=spec.nodeName=NODE, then WATCH from the list's resourceVersion
 * with allowWatchBookmarks and a timeout of 5 to 10 minutes).
 *
 * What it reports: a sync (every pod the list returned: pods the node knows and
 * the list lacks are gone) and then each watch event. A watch that ends is
 * resumed from the last resourceVersion seen (a bookmark's too); a watch or list
 * answered 410 Gone ("too old resource version") starts over with a list; errors
 * back off exponentially (0.8 s doubling to 30 s, each delay drawn with ±25 %
 * jitter here in io, and reported through `retry` so the daemon can journal it),
 * at least as long as a Retry-After says.
 *
 * Objects are handed over as JSON with kind and apiVersion set (a list's items
 * lack them). Strings live for the duration of the callback; callbacks must
 * not stop the source.
 */
#ifndef LEDGERLET_IO_PODWATCH_H
#define LEDGERLET_IO_PODWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "io/kapi.h"
#include "io/reactor.h"

struct io_podwatch;

enum io_podwatch_type { IO_PODWATCH_ADDED = 1, IO_PODWATCH_MODIFIED = 2, IO_PODWATCH_DELETED = 3 };

struct io_podwatch_cb {
	/* The whole set after a list: n objects. */
	void (*sync)(void *arg, const char *const *objects, const size_t *lens, size_t n);
	void (*event)(void *arg, enum io_podwatch_type type, const char *object, size_t len);
	/* Something failed and the next try is in delay_ms: why. */
	void (*retry)(void *arg, uint64_t delay_ms, const char *why);
	void *arg;
};

struct io_podwatch_config {
	struct kapi *api;
	struct io_reactor *reactor;
	uint64_t timer_id; /* the back-off's reactor timer */
	const char *node_name;
};

/* Starts listing at once. 0 or a negative errno. */
int io_podwatch_start(struct io_podwatch **out, const struct io_podwatch_config *cfg,
		      const struct io_podwatch_cb *cb);
void io_podwatch_stop(struct io_podwatch *w);
/* The last resourceVersion seen ("" before the first list). */
const char *io_podwatch_resource_version(const struct io_podwatch *w);

#endif
