/*
 * fsm/state.h — the node's state as the fold keeps it: the node's configuration
 * and pressure, the images it knows, and one pod machine per pod, each with one
 * container machine per container of its spec.
 *
 * Everything here is plain data owned by the state (fsm_state_free releases it)
 * and serialisable: the journal's snapshot codec writes every field, and the
 * loaded state must fold exactly as the original (DESIGN.md contract 6).
 * Times: *_ts_ms are the fold's clock (event ts_ms); *_wall_ms are wall-clock
 * times for the API (event wall_ms, or the runtime's timestamps).
 */
#ifndef LEDGERLET_FSM_STATE_H
#define LEDGERLET_FSM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm/event.h"
#include "fsm/model.h"

/* Stated limits (STYLE.md, Bounds): beyond them the fold refuses an input with a
 * status or a log-worthy reason, never grows without bound. */
#define FSM_PODS_MAX 1024   /* pods in the table, terminated ones included */
#define FSM_IMAGES_MAX 1024 /* images the node knows present */
#define FSM_TAINTS_MAX 32
#define FSM_ID_BYTES 128    /* a command id */
#define FSM_REASON_BYTES 64
#define FSM_MESSAGE_BYTES 512

/* ---- node ---- */

struct fsm_taint {
	char *key;
	char *value;
	char *effect; /* NoSchedule, PreferNoSchedule, NoExecute */
};

/* An eviction threshold: signal below quantity (bytes or count) or percent. */
struct fsm_threshold {
	char signal[32];
	int64_t quantity; /* -1 when given as a percentage */
	int32_t percent;  /* of capacity, when quantity is -1 */
};
#define FSM_THRESHOLDS_MAX 8

struct fsm_node_config {
	char *node_name;
	char *host_ip;
	int32_t max_pods;                 /* 110 */
	int64_t alloc_cpu_milli;          /* allocatable, -1 when unknown */
	int64_t alloc_memory_bytes;
	int64_t alloc_ephemeral_bytes;
	struct fsm_label *labels;
	size_t nlabels;
	struct fsm_taint *taints;
	size_t ntaints;
	struct fsm_threshold thresholds[FSM_THRESHOLDS_MAX];
	size_t nthresholds;
	uint64_t backoff_initial_ms;      /* 10 000: crash loop and image pull */
	uint64_t backoff_max_ms;          /* 300 000 */
	uint64_t sync_retry_ms;           /* 10 000: the pod worker's retry after an error */
	/* Joined to an API server (--kubeconfig): register the node, renew its
	 * Lease, report its status, keep mirror pods, send events. */
	bool api;
	int32_t lease_duration_s;         /* 40; renewed every quarter of it */
	uint64_t status_report_ms;        /* 300 000: node status sent at least this often */
	char *node_facts;                 /* the "node" object (capacity, addresses, nodeInfo,
					     daemonEndpoints) as JSON, or NULL */
	int64_t cap_cpu_milli;            /* capacity, -1 when unknown */
	int64_t cap_memory_bytes;
	int64_t cap_ephemeral_bytes;
	int64_t cap_hugepages_bytes;      /* all sizes together */
	/* kube-reserved + system-reserved, per resource (0 when none). */
	int64_t reserved_cpu_milli, reserved_memory_bytes, reserved_ephemeral_bytes;
};

/* The node object in the API (cfg.api): registration, Lease, NodeStatus. */
enum fsm_node_cond { FSM_NODE_MEMORY = 0, FSM_NODE_DISK = 1, FSM_NODE_PID = 2, FSM_NODE_READY = 3 };
#define FSM_NODE_CONDS 4
struct fsm_api_node {
	bool registered;          /* api.node_register answered ok */
	bool registering;         /* api.node_register in flight */
	char uid[64];             /* the Node's metadata.uid */
	uint32_t register_n;      /* registrations issued: part of the id */
	uint32_t lease_n;         /* renewals issued */
	uint64_t status_hash;     /* of the last NodeStatus sent, heartbeat left out */
	uint32_t status_version;
	uint32_t status_acked;    /* the newest version answered ok */
	uint64_t status_sent_ts_ms;
	bool cond[FSM_NODE_CONDS];           /* True / False */
	uint64_t cond_transition_wall_ms[FSM_NODE_CONDS]; /* 0: never computed */
	/* The runtime's health (cri.status), as the kubelet's runtimeState: the CRI
	 * Status call failing since runtime_fail_ts_ms (0: it answers) makes the
	 * runtime down 30 s later (timer "node/runtime"); its last answer's
	 * RuntimeReady and NetworkReady errors ("" when ready). Any of them makes
	 * the node NotReady. */
	uint64_t runtime_fail_ts_ms;
	bool runtime_down;
	char runtime_error[FSM_MESSAGE_BYTES];
	char network_error[FSM_MESSAGE_BYTES];
	uint32_t nevents; /* events about the node issued: part of their ids */
};

/* The newest value of a pressure signal. */
struct fsm_pressure {
	char signal[32];
	int64_t value;
	int64_t capacity;
};
#define FSM_SIGNALS_MAX 8

/* ---- containers ---- */

enum fsm_ctr_stage {
	FSM_CS_WAITING = 0,  /* nothing in flight; waiting_reason says why */
	FSM_CS_PULLING = 1,  /* cri.pull_image in flight */
	FSM_CS_CREATING = 2, /* cri.create_container in flight */
	FSM_CS_STARTING = 3, /* cri.start_container in flight (id known) */
	FSM_CS_RUNNING = 4,
	FSM_CS_EXITED = 5,   /* terminated; restarts per policy */
	FSM_CS_KILLING = 6,  /* hook.run (preStop) or cri.stop_container in flight */
};

/* Why a running container is being stopped. */
enum fsm_kill_reason {
	FSM_KILL_NONE = 0,
	FSM_KILL_LIVENESS = 1, /* failed liveness probe: restart */
	FSM_KILL_STARTUP = 2,  /* failed startup probe: restart */
	FSM_KILL_SPEC = 3,     /* the container's spec changed: restart */
	FSM_KILL_POD = 4,      /* the pod is terminating: no restart */
	FSM_KILL_SANDBOX = 5,  /* the sandbox is recreated */
	FSM_KILL_POSTSTART = 6, /* its postStart hook failed: restart per policy */
};

struct fsm_terminated {
	bool set;
	int32_t exit_code;
	char reason[FSM_REASON_BYTES];   /* Completed, Error, OOMKilled, ContainerCannotRun, ... */
	char message[FSM_MESSAGE_BYTES];
	uint64_t started_wall_ms;
	uint64_t finished_wall_ms;
	char id[FSM_ID_BYTES]; /* containerID, without the runtime prefix */
};

struct fsm_probe_state {
	bool active;      /* probe.start sent, probe.stop not yet */
	uint32_t successes; /* consecutive; saturates at the threshold */
	uint32_t failures;  /* consecutive; saturates at the threshold */
};

struct fsm_ctr {
	enum fsm_ctr_stage stage;
	uint32_t attempt;      /* starts made before the current one: restartCount */
	bool ever_started;     /* attempt counts from the first start */
	char id[FSM_ID_BYTES]; /* the current (or last) container's runtime id */
	char image_ref[FSM_ID_BYTES];
	uint64_t spec_hash;    /* of the spec it was created from */
	uint64_t started_wall_ms;
	char waiting_reason[FSM_REASON_BYTES];
	char waiting_message[FSM_MESSAGE_BYTES];
	struct fsm_terminated term;      /* state.terminated when EXITED */
	struct fsm_terminated last_term; /* lastState.terminated */
	uint64_t exited_ts_ms;           /* fold time of the last exit */
	/* Crash-loop back-off, as the kubelet's (flowcontrol.Backoff keyed by
	 * container): the delay before the next restart and when it was last set. */
	uint64_t backoff_ms;
	uint64_t backoff_updated_ts_ms;
	bool backoff_armed;      /* a backoff/ timer is set */
	/* After a failed create or start the pod worker retries at this time
	 * (its sync retry period), not at once. */
	uint64_t retry_after_ts_ms;
	/* Image pull back-off (keyed by pod and image, as the kubelet's). */
	uint64_t pull_backoff_ms;
	uint64_t pull_backoff_updated_ts_ms;
	uint32_t pulls;          /* pull attempts: part of the pull command id */
	bool image_ready;        /* the image is present for this attempt */
	enum fsm_kill_reason kill_reason;
	uint64_t kill_deadline_ts_ms; /* when the kill's grace period ends (preStop time counts) */
	bool prestop_done;
	bool poststart_done;
	bool started;            /* startupProbe passed (or none) while running */
	bool ready;              /* readiness, as reported */
	struct fsm_probe_state liveness, readiness, startup;
};

/* ---- pods ---- */

enum fsm_pod_stage {
	FSM_PS_ACTIVE = 0,      /* admitted: bringing it to its spec */
	FSM_PS_REJECTED = 1,    /* admission failed: Failed, nothing runs */
	FSM_PS_TERMINATING = 2, /* stopping containers, then the sandbox */
	FSM_PS_TERMINATED = 3,  /* all stopped; final status reported */
	FSM_PS_REMOVING = 4,    /* removing containers and sandbox; then gone */
};

enum fsm_sandbox_stage {
	FSM_SB_NONE = 0,
	FSM_SB_CREATING = 1, /* cri.run_sandbox in flight */
	FSM_SB_READY = 2,
	FSM_SB_NOTREADY = 3, /* seen dead: to be recreated with attempt + 1 */
	FSM_SB_STOPPING = 4,
	FSM_SB_STOPPED = 5,
	FSM_SB_REMOVING = 6,
};

/* The pod conditions the kubelet owns, in the order it reports them. */
enum fsm_cond {
	FSM_COND_READY_TO_START = 0, /* PodReadyToStartContainers */
	FSM_COND_INITIALIZED = 1,
	FSM_COND_READY = 2,
	FSM_COND_CONTAINERS_READY = 3,
};
#define FSM_CONDS 4

struct fsm_cond_state {
	bool status;                /* True / False */
	uint64_t transition_wall_ms; /* lastTransitionTime */
};

/* A runtime object of the pod that is not its current one (a superseded
 * sandbox, a container of an older or lost attempt): the kubelet's garbage
 * collector keeps only the newest, so the fold stops (when live) and removes
 * it, and the pod leaves the node only once all are gone. */
#define FSM_STALE_MAX 8
enum fsm_stale_step {
	FSM_STALE_TODO = 0,     /* nothing in flight; retry_ts_ms says when */
	FSM_STALE_STOPPING = 1, /* a stop in flight */
	FSM_STALE_REMOVING = 2, /* a remove in flight */
};
struct fsm_stale {
	char id[FSM_ID_BYTES]; /* the runtime's id */
	char ctr[64];          /* the container's name; "" for a sandbox */
	uint32_t attempt;      /* sandbox: its attempt (its stopsb/ answer) */
	bool live;             /* ready or running: stopped before it is removed */
	enum fsm_stale_step step;
	uint64_t retry_ts_ms;
};

struct fsm_pod {
	struct fsm_pod_spec spec;
	char *source;        /* "api", or the manifest's path */
	enum fsm_pod_stage stage;
	char phase[16];      /* Pending, Running, Succeeded, Failed */
	/* The last phase reported that was not terminal: what the API shows while a
	 * terminal phase waits for the pod's containers and sandbox to stop. */
	char api_phase[16];
	char reason[FSM_REASON_BYTES];   /* pod-level: OutOfcpu, Evicted, DeadlineExceeded, ... */
	char message[FSM_MESSAGE_BYTES];
	uint64_t admitted_ts_ms;
	uint64_t start_wall_ms; /* startTime */
	/* sandbox */
	enum fsm_sandbox_stage sb_stage;
	uint32_t sb_attempt;
	char sb_id[FSM_ID_BYTES];
	char sb_ip[64];
	bool sb_ever_created;
	uint64_t sb_retry_after_ts_ms; /* after a failed cri.run_sandbox */
	/* termination */
	bool deleting;            /* the API or the manifest asked for it to go */
	bool remove_when_stopped; /* static pod gone, or API pod deleted: remove from the node */
	uint64_t kill_deadline_ts_ms; /* grace ends */
	uint64_t terminated_wall_ms;  /* when it reached FSM_PS_TERMINATED, 0 before */
	int64_t kill_grace_s;
	struct fsm_cond_state conds[FSM_CONDS];
	struct fsm_ctr *ctrs; /* spec.ncontainers entries, init containers first */
	struct fsm_stale stale[FSM_STALE_MAX];
	uint32_t nstale;
	/* What was last reported: the status is sent only when it changes. */
	uint64_t status_hash;
	uint32_t status_version;
	uint32_t status_acked;     /* the newest api.pod_status answered ok */
	/* The API side (cfg.api). A static pod's mirror pod: its uid ("" when none
	 * is known) and the creations issued; an API pod's final DELETE sent. */
	char mirror_uid[64];
	uint32_t mirror_n;
	bool mirror_creating;
	bool api_delete_sent;
	uint32_t nevents;          /* api.event commands issued: part of their ids */
	/* Volumes (spec.nvolumes > 0), as the kubelet's volume manager: the sandbox
	 * waits until a volume.setup answered ok (vol_ready). vol_n setups issued
	 * (part of the id); vol_busy while one is in flight, vol_again when an
	 * object it reads changed meanwhile (set up again when it answers). After a
	 * failure the next try waits until vol_retry_ts_ms, vol_backoff_ms doubling
	 * (500 ms to 2 min 2 s). vol_token_ts_ms: when a projected token is renewed
	 * (80 % of its lifetime after the setup that wrote it). vol_down: the
	 * teardown, FSM_VOL_DOWN_*. */
	uint32_t vol_n;
	bool vol_ready;
	bool vol_busy;
	bool vol_again;
	uint8_t vol_down;
	uint64_t vol_retry_ts_ms;
	uint64_t vol_backoff_ms;
	uint64_t vol_token_ts_ms;
	/* Resource use the eviction manager ranks by. */
	int64_t usage_memory_bytes, usage_disk_bytes, usage_inodes, usage_pids;
};

enum { FSM_VOL_DOWN_NONE = 0, FSM_VOL_DOWN_BUSY = 1, FSM_VOL_DOWN_DONE = 2 };

/* A ConfigMap or Secret that pods' volumes read, as the last api.object said:
 * its content hash, never its content (DESIGN.md contract 8). */
#define FSM_OBJECTS_MAX 4096
struct fsm_object {
	bool secret;
	char *namespace_;
	char *name;
	char hash[24]; /* "" while it does not exist */
};

struct fsm_image {
	char *name;
	char *ref;
};

/* A timer the fold set and that has not fired or been cancelled (DESIGN.md
 * contract 3): kept in the state so that a restart arms it again. */
struct fsm_timer {
	char *key;
	char *pod_uid;
	uint64_t due_ms;
};
#define FSM_TIMERS_MAX 65536

#endif
