/*
 * fsm/event.h — the inputs of the fold, as plain C (DESIGN.md, "The replay file").
 *
 * Every event the node observes arrives here in this form: from the journal's
 * record codec (src/journal/codec.c), from a JSON-lines replay file
 * (fsm/event_json.c), or from the io sources before they are journaled. The fold
 * never sees protobuf or LMDB types.
 *
 * Ownership: an event never owns its strings. Whoever fills one (a decoder, a
 * source) says how long the pointed-to bytes live; the fold copies what it keeps.
 * Strings are NUL-terminated; `object`/`config` are JSON bytes with an explicit
 * length and need not be terminated.
 */
#ifndef LEDGERLET_FSM_EVENT_H
#define LEDGERLET_FSM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Numbers equal the Event.payload field numbers minus 9 (schemas/journal.proto). */
enum fsm_event_kind {
	FSM_EV_NONE = 0,
	FSM_EV_API_POD = 1,
	FSM_EV_FILE_POD = 2,
	FSM_EV_CRI_SANDBOX = 3,
	FSM_EV_CRI_CONTAINER = 4,
	FSM_EV_CRI_IMAGE = 5,
	FSM_EV_PROBE = 6,
	FSM_EV_TIMER = 7,
	FSM_EV_EFFECT = 8,
	FSM_EV_NODE_CONFIG = 9,
	FSM_EV_NODE_PRESSURE = 10,
	FSM_EV_POD_STATS = 11,
	FSM_EV_CLOCK = 12,
	FSM_EV_API_BACKOFF = 13,
	FSM_EV_API_OBJECT = 14,
	FSM_EV_CRI_STATUS = 15,
};
#define FSM_EV_KIND_COUNT 16

enum fsm_watch_type {
	FSM_WATCH_NONE = 0,
	FSM_WATCH_ADDED = 1,
	FSM_WATCH_MODIFIED = 2,
	FSM_WATCH_DELETED = 3,
	FSM_WATCH_SYNC = 4,
};

enum fsm_sandbox_state { FSM_SANDBOX_NONE = 0, FSM_SANDBOX_READY = 1, FSM_SANDBOX_NOTREADY = 2 };

enum fsm_container_state {
	FSM_CONTAINER_NONE = 0,
	FSM_CONTAINER_CREATED = 1,
	FSM_CONTAINER_RUNNING = 2,
	FSM_CONTAINER_EXITED = 3,
	FSM_CONTAINER_UNKNOWN = 4,
};

enum fsm_probe_type { FSM_PROBE_NONE = 0, FSM_PROBE_LIVENESS = 1, FSM_PROBE_READINESS = 2, FSM_PROBE_STARTUP = 3 };

enum fsm_error_class {
	FSM_ERR_NONE = 0,
	FSM_ERR_TRANSIENT = 1,
	FSM_ERR_PERMANENT = 2,
	FSM_ERR_NOT_FOUND = 3,
};

struct fsm_ev_api_pod {
	enum fsm_watch_type type;
	const char *object;
	size_t object_len;
};

struct fsm_ev_file_pod {
	const char *path;
	const char *object; /* NULL when removed */
	size_t object_len;
	bool removed;
};

struct fsm_ev_cri_sandbox {
	const char *pod_uid;
	uint32_t attempt;
	const char *id;
	enum fsm_sandbox_state state;
	const char *ip;
};

struct fsm_ev_cri_container {
	const char *pod_uid;
	const char *name;
	uint32_t attempt;
	const char *id;
	enum fsm_container_state state;
	int32_t exit_code;
	const char *reason;
	const char *message;
	int64_t started_at_ms;
	int64_t finished_at_ms;
};

struct fsm_ev_cri_image {
	const char *image;
	bool ok;
	const char *error;
	const char *image_ref;
};

struct fsm_ev_probe {
	const char *pod_uid;
	const char *container;
	enum fsm_probe_type probe;
	bool ok;
	const char *message;
};

struct fsm_ev_timer {
	const char *key;
};

struct fsm_ev_effect {
	const char *cmd;
	bool ok;
	enum fsm_error_class error_class;
	const char *error;
	const char *result;
};

struct fsm_ev_node_config {
	const char *config;
	size_t config_len;
};

struct fsm_ev_node_pressure {
	const char *signal;
	int64_t value;
	int64_t capacity;
};

/* An API source's back-off after a failure: the delay drawn (jitter included)
 * and why. The fold only counts it; it is journaled so that a replay shows
 * when and why the node did not hear from the API. */
struct fsm_ev_api_backoff {
	const char *resource;
	int64_t delay_ms;
	const char *reason;
};

/* A ConfigMap or Secret that pods on the node use changed (io/objwatch): its
 * version and a hash of its content, never the content (DESIGN.md contract 8).
 * The fold sets up again the volumes of the pods that use it. */
struct fsm_ev_api_object {
	const char *object_kind; /* "ConfigMap", "Secret" */
	const char *namespace_;
	const char *name;
	const char *resource_version;
	bool exists;
	const char *hash; /* 16 hex digits; "" when it does not exist */
};

/* The runtime's health, as its CRI Status call answers (the kubelet's
 * updateRuntimeUp): reported when it changes. ok false: the call failed (error
 * says why); else the RuntimeReady and NetworkReady conditions. */
struct fsm_ev_cri_status {
	bool ok;
	const char *error;
	bool runtime_ready;
	const char *runtime_reason;
	const char *runtime_message;
	bool network_ready;
	const char *network_reason;
	const char *network_message;
};

struct fsm_ev_pod_stats {
	const char *pod_uid;
	int64_t memory_bytes;
	int64_t disk_bytes;
	int64_t inodes;
	int64_t pids;
};

/*
 * One event. `seq` and `ts_ms` are assigned by the journal at append (ts_ms never
 * decreases: the journal's newest value is its floor); `wall_ms` is the wall clock
 * the source saw. Unused string fields are "" (never NULL) after decoding, except
 * file_pod.object, which is NULL when the manifest was removed.
 */
struct fsm_event {
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t wall_ms;
	enum fsm_event_kind kind;
	union {
		struct fsm_ev_api_pod api_pod;
		struct fsm_ev_file_pod file_pod;
		struct fsm_ev_cri_sandbox cri_sandbox;
		struct fsm_ev_cri_container cri_container;
		struct fsm_ev_cri_image cri_image;
		struct fsm_ev_probe probe;
		struct fsm_ev_timer timer;
		struct fsm_ev_effect effect;
		struct fsm_ev_node_config node_config;
		struct fsm_ev_node_pressure node_pressure;
		struct fsm_ev_pod_stats pod_stats;
		struct fsm_ev_api_backoff api_backoff;
		struct fsm_ev_api_object api_object;
		struct fsm_ev_cri_status cri_status;
	} u;
};

/* The kind's name as the replay file spells it ("api.pod", "cri.container", ...);
 * NULL for a kind this build does not know. Static storage. */
const char *fsm_event_kind_name(enum fsm_event_kind kind);
/* The kind for a name, or FSM_EV_NONE. */
enum fsm_event_kind fsm_event_kind_from_name(const char *name);

const char *fsm_watch_type_name(enum fsm_watch_type t);
enum fsm_watch_type fsm_watch_type_from_name(const char *name);
const char *fsm_sandbox_state_name(enum fsm_sandbox_state s);
enum fsm_sandbox_state fsm_sandbox_state_from_name(const char *name);
const char *fsm_container_state_name(enum fsm_container_state s);
enum fsm_container_state fsm_container_state_from_name(const char *name);
const char *fsm_probe_type_name(enum fsm_probe_type p);
enum fsm_probe_type fsm_probe_type_from_name(const char *name);
const char *fsm_error_class_name(enum fsm_error_class c);
enum fsm_error_class fsm_error_class_from_name(const char *name);

#endif
