/*
 * fsm/model.h — the Pod as the fold understands it, decoded from the JSON the
 * API server (or a manifest) gave (DESIGN.md contract 7: decoding is part of the
 * fold, so a decoder fix replays over old journals).
 *
 * Decoding is a pure function of the bytes: fsm_pod_decode() reads a Pod JSON
 * object and fills a struct fsm_pod_spec, applying the API's defaults (restart
 * policy Always, grace 30 s, probe period 10 s, ...). Everything it allocates is
 * owned by the spec and released by fsm_pod_spec_free().
 *
 * Quantities are integers: CPU in millicores, memory and storage in bytes.
 *
 * After a successful decode every char * of the spec is non-NULL ("" when the
 * Pod leaves the field unset), so readers need no NULL checks.
 */
#ifndef LEDGERLET_FSM_MODEL_H
#define LEDGERLET_FSM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on what one Pod may hold; more is a decode error that names the field. */
#define FSM_CONTAINERS_MAX      64 /* init + app */
#define FSM_PORTS_MAX           64
#define FSM_TOLERATIONS_MAX     64
#define FSM_GATES_MAX           16
#define FSM_LABELS_MAX          64
#define FSM_SELECTOR_TERMS_MAX  16  /* required node affinity terms */
#define FSM_SELECTOR_REQS_MAX   32  /* requirements in one term */
#define FSM_SELECTOR_VALUES_MAX 128 /* values of one requirement */
#define FSM_VOLUMES_MAX         128 /* volumes of the pod */
#define FSM_MOUNTS_MAX          128 /* volumeMounts of one container */
#define FSM_VOLUME_REFS_MAX     32  /* ConfigMaps and Secrets one volume reads */
/* The bound on the Pod's bytes (the replay line's bound: a Pod inside a line is
 * smaller) and on its JSON nesting (the line reader's bound). */
#define FSM_POD_JSON_BYTES_MAX  ((size_t)16 << 20)
#define FSM_POD_JSON_DEPTH_MAX  128
/* A quantity longer than this is malformed (upstream has no bound; 64 digits
 * already pass any int64 by far). */
#define FSM_QUANTITY_BYTES_MAX  64

enum fsm_restart_policy {
	FSM_RESTART_ALWAYS = 0,
	FSM_RESTART_ON_FAILURE = 1,
	FSM_RESTART_NEVER = 2
};
enum fsm_pull_policy { FSM_PULL_IF_NOT_PRESENT = 0, FSM_PULL_ALWAYS = 1, FSM_PULL_NEVER = 2 };
enum fsm_qos { FSM_QOS_BEST_EFFORT = 0, FSM_QOS_BURSTABLE = 1, FSM_QOS_GUARANTEED = 2 };
enum fsm_handler_kind {
	FSM_HANDLER_NONE = 0,
	FSM_HANDLER_EXEC = 1,
	FSM_HANDLER_HTTP_GET = 2,
	FSM_HANDLER_TCP_SOCKET = 3,
	FSM_HANDLER_GRPC = 4,
	FSM_HANDLER_SLEEP = 5, /* lifecycle hooks only */
};

/* A probe or a lifecycle hook. `json` is the JSON object of the handler (the
 * probe or hook as the Pod spells it, written compactly by json-c: member order
 * and the spelling of numbers are kept), passed to executors; NULL when kind is
 * NONE. Hooks leave the probe fields 0 and termination_grace_s -1. */
struct fsm_handler {
	enum fsm_handler_kind kind;
	char *json;
	size_t json_len;
	int32_t initial_delay_s;     /* probes: defaults 0 */
	int32_t period_s;            /* 10 */
	int32_t timeout_s;           /* 1 */
	int32_t success_threshold;   /* 1 (liveness and startup must be 1) */
	int32_t failure_threshold;   /* 3 */
	int64_t termination_grace_s; /* probe-level override, -1 when unset */
	int64_t sleep_s;             /* FSM_HANDLER_SLEEP */
};

struct fsm_resources {
	int64_t cpu_request_milli, cpu_limit_milli; /* -1 when unset */
	int64_t memory_request_bytes, memory_limit_bytes;
	int64_t ephemeral_request_bytes, ephemeral_limit_bytes;
};

struct fsm_port {
	int32_t container_port;
	int32_t host_port; /* 0 when none */
	char protocol[8];  /* TCP, UDP, SCTP */
	char *host_ip;     /* "" when unset */
	char *name;        /* "" when unset */
};

/* A volume's source, by the member of the Volume that names it. */
enum fsm_volume_type {
	FSM_VOL_OTHER = 0, /* a source this node has no plugin for (type_name says which) */
	FSM_VOL_EMPTY_DIR = 1,
	FSM_VOL_HOST_PATH = 2,
	FSM_VOL_CONFIGMAP = 3,
	FSM_VOL_SECRET = 4,
	FSM_VOL_DOWNWARD_API = 5,
	FSM_VOL_PROJECTED = 6,
};

/* A ConfigMap or Secret a volume reads (in the pod's namespace). */
struct fsm_object_ref {
	bool secret;
	char *name;
};

struct fsm_volume {
	char *name;
	enum fsm_volume_type type;
	char *type_name;  /* the source's member: "configMap", "persistentVolumeClaim", ... */
	char *host_path;  /* hostPath.path; "" for other types */
	struct fsm_object_ref *refs;
	size_t nrefs;
	/* projected serviceAccountToken sources: the shortest expirationSeconds
	 * (default 3600); -1 when there is none. The token is renewed at 80 % of it. */
	int64_t token_expiration_s;
	char *json; /* the Volume as received (compact), for volume.setup */
	size_t json_len;
};

struct fsm_volume_mount {
	char *name;       /* a volume of the pod */
	char *mount_path; /* absolute, in the container */
	char *sub_path;   /* relative, without ".."; "" when unset */
	bool read_only;
};

struct fsm_container_spec {
	char *name;
	char *image;
	enum fsm_pull_policy pull_policy;
	bool init;    /* from initContainers */
	bool sidecar; /* an init container with restartPolicy Always */
	struct fsm_handler liveness, readiness, startup; /* kind NONE when absent */
	struct fsm_handler post_start, pre_stop;
	struct fsm_resources res;
	struct fsm_port *ports;
	size_t nports;
	struct fsm_volume_mount *mounts;
	size_t nmounts;
	/* 64-bit FNV-1a of `json`: a change restarts the container (the kubelet
	 * hashes the container spec for the same purpose). Whitespace and escapes
	 * of the received bytes do not count; member order does. */
	uint64_t spec_hash;
	char *json; /* the container's JSON (compact, as for handlers), for cri.create_container */
	size_t json_len;
};

struct fsm_toleration {
	char *key; /* "" matches every key (with operator Exists) */
	char *op;  /* Equal (default) or Exists */
	char *value;
	char *effect;         /* "" matches every effect */
	int64_t toleration_s; /* -1 when unset; upstream reads negatives as 0, so do we */
};

struct fsm_label {
	char *key;
	char *value;
};

/* A node selector requirement: key In/NotIn/Exists/DoesNotExist/Gt/Lt values.
 * `field` marks one from matchFields: its key names a field of the Node, not a
 * label (upstream supports only metadata.name, which the DaemonSet controller
 * uses to pin each of its pods to one node). */
struct fsm_selector_req {
	char *key;
	char *op;
	char **values;
	size_t nvalues;
	bool field;
};

/* One term of requiredDuringSchedulingIgnoredDuringExecution: requirements ANDed
 * (matchExpressions first, then matchFields). */
struct fsm_selector_term {
	struct fsm_selector_req *reqs;
	size_t nreqs;
};

struct fsm_pod_spec {
	char *uid;
	char *name;
	char *namespace_;
	char *resource_version;
	uint64_t generation;
	bool is_static; /* came from a manifest file */
	char *node_name;
	enum fsm_restart_policy restart_policy;
	int64_t grace_s;           /* terminationGracePeriodSeconds, default 30 */
	int64_t active_deadline_s; /* -1 when unset */
	bool host_network;
	int32_t priority;
	/* metadata.deletionTimestamp as wall ms (0 when not being deleted; the epoch
	 * itself reads as 1) and the grace period the deleter asked for (-1 when
	 * unset). */
	uint64_t deletion_wall_ms;
	int64_t deletion_grace_s;
	struct fsm_container_spec *containers; /* init containers first, in order */
	size_t ninit, ncontainers;             /* ncontainers counts both */
	struct fsm_toleration *tolerations;
	size_t ntolerations;
	struct fsm_volume *volumes;
	size_t nvolumes;
	char *service_account; /* spec.serviceAccountName ("" when unset) */
	struct fsm_label *node_selector;
	size_t nnode_selector;
	struct fsm_selector_term *affinity_terms; /* required node affinity, ORed */
	size_t naffinity_terms;
	char **readiness_gates; /* condition types */
	size_t ngates;
	/* status.conditions the API holds for the readiness gates: "True" or not. */
	bool *gate_true; /* ngates entries */
	/* Each gate's condition status as the API holds it ("False", "Unknown",
	 * ...), NULL where it holds no such condition; ngates entries, or NULL. */
	char **gate_status;
	enum fsm_qos qos;
	/* The pod's effective request, as the scheduler and the kubelet's admission
	 * compute it (component-helpers resource.PodRequests), per resource:
	 * max(sum of app containers and sidecars, for each init container i: its
	 * request + the sidecars started before it) + spec.overhead. Requests are
	 * the API's defaults (a limit without a request is the request). */
	int64_t cpu_request_milli, memory_request_bytes, ephemeral_request_bytes;
	char *json; /* the Pod as received */
	size_t json_len;
};

/*
 * Decodes a Pod. Returns 0, or -1 with err naming what is wrong and where
 * (`spec.containers[1].name: duplicate "web"`). On error the spec is left
 * empty (freed and zeroed). `json` need not be NUL-terminated. The spec is
 * overwritten, not freed first: pass a zeroed or freed one. is_static is left
 * false (the caller knows where the Pod came from). err may be NULL; a message
 * longer than err_len is cut.
 */
int fsm_pod_decode(const char *json, size_t len, struct fsm_pod_spec *spec, char *err,
                   size_t err_len);
void fsm_pod_spec_free(struct fsm_pod_spec *spec);

/* Parses a Kubernetes quantity ("100m", "1.5", "128Mi", "1G", "2e3") into
 * millis (cpu) or units (bytes). 0 on success, -1 when malformed. The value is
 * rounded up (away from zero) to the next milli or unit, as the API rounds
 * resource lists; a magnitude past INT64_MAX saturates there. */
int fsm_quantity_milli(const char *s, int64_t *milli);
int fsm_quantity_bytes(const char *s, int64_t *bytes);

/* The index of the volume named `name`, or -1. */
int fsm_pod_volume_index(const struct fsm_pod_spec *spec, const char *name);
/* The directory of a volume's plugin under the pod's directory:
 * "kubernetes.io~configmap", ...; NULL for hostPath and OTHER. */
const char *fsm_volume_plugin_dir(enum fsm_volume_type type);

/* The index of the container named `name`, or -1. */
int fsm_pod_container_index(const struct fsm_pod_spec *spec, const char *name);

#endif
