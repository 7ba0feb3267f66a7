/*
 * effects/api.h — the API writer: carries out the fold's api.* commands against
 * the Kubernetes API server, as the kubelet's status manager, node status
 * loop, lease controller, mirror pod client and event recorder do.
 *
 * Data flow: the fold emits the commands below; the loop journals them and
 * dispatches them here; each ends in exactly one `effect` event for its id,
 * delivered on a later reactor turn, never from inside fx_api_dispatch
 * (DESIGN.md contract 4). Requests go through io/kapi (TLS, auth, the
 * client's QPS/burst limit).
 *
 * Retries: a write that gets no answer, 5xx, 408, 429 or a 409 Conflict on an
 * object whose resourceVersion it must read again is retried here with
 * exponential back-off (500 ms doubling to 30 s, ±25 % jitter, at least the
 * Retry-After), until it succeeds, is superseded or meets an answer that
 * retrying cannot change; only then does its effect come back. The fold never
 * waits on a retry and never sees its jitter (nothing it decides depends on
 * it); a crash loses the retries, and the fold issues again what was not
 * acknowledged (fsm_pending). There is no limit on the number of retries of a
 * command (as the kubelet, which syncs until it gets through): the back-off
 * bounds their pace and FX_API_QUEUED_MAX what waits. A read again after a
 * 409 (or a 404 of an object just seen) goes at once, three times in a row at
 * most, then with the back-off. Other answers: 404 failed, not-found; 401 and
 * 403 failed, transient (credentials may change; not retried here); every
 * other 4xx failed, permanent, with the server's message. Should the reactor
 * refuse a retry's timer (at its bound), the command fails, transient.
 *
 * Order and coalescing: the commands of one pod (pod_uid) run one at a time in
 * the order dispatched. An api.pod_status waiting behind another of the same
 * pod is superseded by a newer one: it answers ok with result "superseded"
 * without being sent, so a pod's status is written at most once per round
 * trip whatever the fold's rate of change (no write storm). The same holds for
 * api.node_status and api.lease (keyed by the node: api.node_register and
 * api.node_status share one lane, in order; api.lease has its own). A command
 * between two tries (waiting for its back-off) is superseded too: the newer one
 * takes its place and its back-off. An ok answer's result is "" unless said
 * below.
 *
 * Commands (bodies as src/fsm writes them):
 *   api.pod_status    body: the PodStatus. The target comes from pod_ref
 *                     (namespace, name, and the uid of the API object: the pod
 *                     itself, or a static pod's mirror pod); no target (a static
 *                     pod without a mirror pod yet): ok, result "no-target",
 *                     nothing sent. Sends PATCH .../pods/NAME/status,
 *                     application/strategic-merge-patch+json,
 *                     {"metadata":{"uid":UID},"status":BODY} with null for each
 *                     kubelet-owned field BODY lacks (phase, message, reason,
 *                     nominatedNodeName excluded: hostIP, hostIPs, podIP, podIPs,
 *                     startTime, initContainerStatuses, containerStatuses,
 *                     ephemeralContainerStatuses, qosClass) so that a field the
 *                     kubelet stopped reporting goes away. 2xx: ok. 404, or 409
 *                     for a uid precondition (another pod of that name): failed,
 *                     not-found. 400/422: failed, permanent, with the server's
 *                     message.
 *   api.pod_delete    body {"namespace","name","uid"}: DELETE .../pods/NAME with
 *                     DeleteOptions {"gracePeriodSeconds":0,"preconditions":
 *                     {"uid":UID}} (the final delete of a terminated pod). 2xx and
 *                     404 and 409: ok (gone, or not ours to delete), result
 *                     "deleted", "not-found" or "conflict".
 *   api.mirror_create body: the mirror Pod (metadata.annotations carry
 *                     kubernetes.io/config.mirror): POST .../namespaces/NS/pods.
 *                     201: ok, result the new object's metadata.uid. 409
 *                     AlreadyExists: ok, result "exists". 400/422: failed,
 *                     permanent, with the server's message.
 *   api.mirror_delete body {"namespace","name","uid"}: as api.pod_delete.
 *   api.node_register body: the Node. POST /api/v1/nodes; 201: ok, result the
 *                     node's metadata.uid. 409 (it exists): GET it, PATCH
 *                     (strategic merge) the labels of the body onto it (the
 *                     kubelet's updateDefaultLabels), ok with its uid.
 *   api.node_status   body: the NodeStatus. PATCH /api/v1/nodes/NODE/status,
 *                     application/strategic-merge-patch+json, {"status":BODY}
 *                     (conditions merge by type, addresses by type). 2xx: ok.
 *                     404 (the node was deleted): failed, not-found (the fold
 *                     registers again).
 *   api.lease         body {"holderIdentity","leaseDurationSeconds","renewTime"
 *                     (RFC 3339 with microseconds)}: the Lease NODE in
 *                     kube-node-lease, created when missing (with an
 *                     ownerReference to the Node when the node's uid is known
 *                     from api.node_register), else PUT from the last copy read
 *                     (a 409 reads it again). 2xx: ok, result "created" when
 *                     it was created, else "".
 *   api.event         body {"involvedObject":{kind, namespace, name, uid,
 *                     apiVersion, fieldPath?}, "reason", "message",
 *                     "type" (Normal|Warning), "time" (RFC 3339)}: answered ok at
 *                     once (result "queued", "aggregated" or "dropped"); then
 *                     sent as client-go's event recorder sends: an event equal in
 *                     object, reason, message, type to one sent within 10 minutes
 *                     PATCHes that one's count and lastTimestamp; more than 10
 *                     similar events (same object, reason, type; other messages)
 *                     within 10 minutes are aggregated into one "(combined from
 *                     similar events): MESSAGE" (as client-go's aggregator:
 *                     from the tenth distinct message on); a token bucket per
 *                     involved object (burst 25, one token per 5 minutes) drops
 *                     the rest, checked first. POST .../namespaces/NS/events
 *                     (NS: the object's, "default" for a node) with source
 *                     {component: kubelet, host: NODE}, reportingComponent
 *                     kubelet, reportingInstance NODE, first/lastTimestamp the
 *                     body's time to the second. Events go one at a time (a
 *                     count PATCH never overtakes its POST); one waiting takes
 *                     a newer count of itself. A PATCH that meets 404 creates
 *                     the event again with its count. A send without an answer,
 *                     or with 408, 429 or 5xx, is retried at most 12 times,
 *                     then dropped; any other refusal drops it at once (as
 *                     client-go: events are best-effort). At most 1024 events
 *                     wait to be sent; past that, and for a body without
 *                     involvedObject kind and name, the result is "dropped".
 *
 * Errors: 0 or a negative errno. Not thread-safe: the reactor's thread makes
 * every call.
 */
#ifndef LEDGERLET_EFFECTS_API_H
#define LEDGERLET_EFFECTS_API_H

#include <stdbool.h>
#include <stdint.h>

#include "effects/effects.h"
#include "io/kapi.h"
#include "io/reactor.h"

#define FX_API_QUEUED_MAX 65536 /* commands taken and not yet answered (events included,
                                  until their answer is delivered) */
/* A status that finds its pod's lane empty waits this long before it is sent:
 * the changes of one step of a pod's start (sandbox ready, container created,
 * started, running) make one write, as the kubelet's one status per pod sync. */
#define FX_API_STATUS_COALESCE_MS 250

/* The API object a pod's status goes to. */
struct fx_api_pod_ref {
	const char *namespace_;
	const char *name;
	const char *uid; /* "" when there is none (a static pod without its mirror) */
};

struct fx_api_config {
	struct kapi *api;
	struct io_reactor *reactor;
	const char *node_name;
	/* Where a pod's status goes, read when its api.pod_status is sent (not
	 * when it is dispatched): false when the pod is unknown (then the command
	 * answers failed, not-found). The strings need only live during the call. */
	bool (*pod_ref)(void *arg, const char *pod_uid, struct fx_api_pod_ref *out);
	void *pod_ref_arg;
};

struct fx_api;

/* 0, -EINVAL or -ENOMEM. The caller keeps owning api and reactor; they must
 * outlive the writer. */
int fx_api_new(struct fx_api **out, const struct fx_api_config *cfg, struct fx_sink sink);

/*
 * Takes one api.* command (see above). 0 when taken: its one effect event
 * follows on a later turn. -ENOTSUP for a command of another kind, -EAGAIN
 * past FX_API_QUEUED_MAX, -ENOMEM: then no effect follows and the caller must
 * answer the command itself. c and its strings are only read during the call.
 */
int fx_api_dispatch(struct fx_api *x, const struct fsm_command *c);

struct fx_api_stats {
	uint64_t writes;     /* requests that write (POST, PUT, PATCH, DELETE) sent */
	uint64_t reads;      /* GETs sent */
	uint64_t retries;    /* requests sent again after a failure */
	uint64_t superseded; /* status and lease commands answered without a write */
	uint64_t events_sent, events_aggregated, events_dropped;
	uint32_t queued;     /* commands taken and not yet answered */
};
void fx_api_stats(const struct fx_api *x, struct fx_api_stats *out);

/* Ends every request without answering anything (as on a crash). NULL is a
 * no-op. */
void fx_api_free(struct fx_api *x);

#endif
