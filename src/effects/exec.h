/*
 * effects/exec.h — the CRI executor: carries out the fold's cri.* commands (and
 * exec hooks) on the container runtime, and relists what the runtime holds.
 *
 * Data flow: the loop dispatches a journaled command here (DESIGN.md contract 1);
 * the executor turns it into a short sequence of CRI calls on the shared client
 * (effects/cri.h), and reports back only through the sink (effects/effects.h):
 * what it observed on the way (cri.sandbox, cri.container, cri.image) and then
 * exactly one `effect` event for the command. Nothing is reported from inside
 * fx_exec_dispatch: outcomes arrive from CRI callbacks, or — for a command that
 * fails before any call (a malformed body, a full queue) — from a reactor timer
 * set for the next loop turn.
 *
 * Idempotence (contract 4): what a command creates carries the label
 * FX_LABEL_CMD = the command's id; before RunPodSandbox and CreateContainer the
 * executor lists by that label and reuses what it finds, so a command dispatched
 * again after a crash answers with the same id instead of making a second one.
 * Stops and removals of something already gone succeed (NOT_FOUND is success).
 * A start of a container that already runs, or that ran and exited, succeeds
 * with what the runtime reports.
 *
 * Commands and what they answer (result of the effect; observations first):
 *   cri.pull_image        PullImage; cri.image {image, ok, image_ref}; result: image ref
 *   cri.run_sandbox       RunPodSandbox, PodSandboxStatus; cri.sandbox; result: sandbox id
 *   cri.stop_sandbox      StopPodSandbox
 *   cri.remove_sandbox    RemovePodSandbox; the pod's log directory goes with it
 *   cri.create_container  PodSandboxStatus, [API GETs], CreateContainer; result: container id
 *   cri.start_container   StartContainer, ContainerStatus; cri.container running
 *   cri.stop_container    StopContainer, ContainerStatus; cri.container exited
 *   cri.remove_container  RemoveContainer; the container's log file goes with it
 *   cri.exec_sync         ExecSync; ok when the command exits 0; result:
 *                         {"exit_code":N,"stdout":"..","stderr":".."} (each cut to
 *                         FX_EXEC_OUTPUT_BYTES_MAX)
 *   hook.run (exec)       ExecSync of the hook's command; ok when it exits 0, else
 *                         the kubelet's "Exec lifecycle hook (...) ... failed" text
 * Bodies are the fold's (src/fsm/pod.c); ids of stops and removals come from the
 * body's "id", or for a body-less orphan command from the id's last part
 * ("orphan-stop/<uid>/<container id>"). cri.exec_sync's body:
 * {"container_id": "..", "command": ["..", ..]} with the command's timeout_s.
 *
 * The container's environment (cri.create_container) is the kubelet's
 * makeEnvironmentVariables: envFrom (configMapRef, secretRef, with prefix) first,
 * then env in order, a later name overriding an earlier one; env values expand
 * $(VAR) of what is defined so far ($$ is a '$'); valueFrom reads a configMapKeyRef
 * or secretKeyRef, or a fieldRef of these paths (fx_env_resolve):
 *   metadata.name, metadata.namespace, metadata.uid   the body's "pod"
 *   spec.nodeName                                     cfg.node_name
 *   status.hostIP, status.hostIPs                     cfg.host_ip
 *   status.podIP, status.podIPs                       the sandbox's IPs (its
 *                                                     PodSandboxStatus); cfg.host_ip
 *                                                     for a host-network pod
 *   metadata.labels, metadata.annotations            the body's "pod_meta" (the fold
 *     (['k'], or whole: key="value" lines in          sends it with a container that
 *     key order), spec.serviceAccountName             has fieldRefs); none: fails
 * resourceFieldRef is not done: it fails the create. The ConfigMaps and Secrets
 * referred to are read after the sandbox's status and before CreateContainer, on
 * every create that needs them: from cfg.objects' cache (each watched for the
 * pod from then on), or with one GET each through cfg.api. A failure ends the command failed, class permanent, with
 * the error FX_ENV_ERROR_PREFIX followed by the kubelet's message (`configmap "cfg"
 * not found`, `couldn't find key k in Secret ns/s`, ...); the fold shows that as the
 * waiting reason CreateContainerConfigError; a failed read (the API unreachable,
 * forbidden, ...) is such a failure too, with the message "couldn't get configmap
 * ns/cfg: <why>", even for an optional ref (only a 404 is skipped). A read that
 * could not be started (the client's bound) fails transiently: "API call not
 * started: ...". With no cfg.api, a body that refers to
 * a ConfigMap or Secret fails at dispatch (next turn) with `no API server to read
 * configmap "cfg" from` (or secret).
 *
 * Secrets (contract 8): their values go into the CreateContainer request only:
 * never into an event, an effect's result or error, or a log line; the executor's
 * buffers that held decoded values (and the base64 text it parsed) are zeroed
 * before they are freed.
 *
 * Relist (fx_exec_relist): ListPodSandbox and ListContainers of what is ours
 * (FX_LABEL_MANAGED=<node name>), status calls for what changed, and cri.sandbox /
 * cri.container events only for what changed since it was last reported — by a
 * relist or by a command (contract 10: a relist identical to the last one writes
 * nothing). The first relist after fx_exec_new reports everything. A container
 * last reported running that is no longer listed is reported `unknown` (reason
 * ContainerMissing); a sandbox last reported ready that is no longer listed is
 * reported `notready`. One relist runs at a time.
 *
 * Bounds: at most cfg.calls_max CRI calls in flight (FX_EXEC_CALLS_MAX by
 * default); commands beyond wait in FIFO order. At most calls_max + queue_max
 * commands (and relist status calls) are held at once: a command dispatched past
 * that ends at once (next turn) with a transient failure "executor queue full";
 * a relist's status call past it is skipped and retried by the next relist. The
 * relist's memory of reported states holds at most FX_EXEC_KNOWN_MAX ids: past
 * it, a new id is reported on every relist (noisy, never wrong).
 *
 * Errors: 0 or a negative errno. -EINVAL for a bad argument, -ENOTSUP for a
 * command this executor does not carry out (it then reports nothing for it),
 * -EBUSY from fx_exec_relist while a relist runs, -ENOMEM, or the reactor's error
 * when the timer for a deferred outcome could not be set (then nothing is
 * reported for that command either).
 *
 * The sink may dispatch commands or start a relist (both are safe from inside the
 * executor's callbacks); it must not free the executor.
 *
 * Not thread-safe: the loop's thread makes every call and drives the client.
 */
#ifndef LEDGERLET_EFFECTS_EXEC_H
#define LEDGERLET_EFFECTS_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "effects/cri.h"
#include "effects/effects.h"
#include "fsm/command.h"
#include "io/kapi.h"
#include "io/objwatch.h"
#include "io/reactor.h"

#define FX_EXEC_CALLS_MAX        64
#define FX_EXEC_QUEUE_MAX        4096
#define FX_EXEC_KNOWN_MAX        16384
#define FX_EXEC_OUTPUT_BYTES_MAX 4096
#define FX_EXEC_LOG_ROOT         "/var/log/pods"

/* Deadlines of the CRI calls (the kubelet's runtime-request timeout is 2 min). */
#define FX_EXEC_PULL_TIMEOUT_MS (5u * 60 * 1000)
#define FX_EXEC_RUN_TIMEOUT_MS  (2u * 60 * 1000)  /* run, create, start */
#define FX_EXEC_STOP_EXTRA_MS   (30u * 1000)      /* added to a stop's grace */
#define FX_EXEC_CALL_TIMEOUT_MS (30u * 1000)      /* everything else */
#define FX_EXEC_HOOK_TIMEOUT_MS (10u * 60 * 1000) /* an exec with no timeout of its own */

/*
 * Configuration; strings are copied by fx_exec_new. Zero values take the defaults.
 */
struct fx_exec_config {
	/* Required: outcomes that need no CRI call are delivered on its next turn. */
	struct io_reactor *reactor;
	/* Where pods' logs go: <log_root>/<namespace>_<name>_<uid>/<container>/<n>.log. */
	const char *log_root; /* NULL or "": FX_EXEC_LOG_ROOT */
	/* The daemon's --root-dir: a create body's mount whose host_path is relative
	 * (a volume of the pod) is under <root_dir>/pods/<uid>/ (effects/volume.h).
	 * NULL or "": FX_VOLUME_ROOT_DEFAULT. */
	const char *root_dir;
	/*
	 * The sandboxes' cgroup parent (cgroupfs driver: a path such as "/kubepods").
	 * NULL or "": none is sent and containerd uses its own default, /k8s.io/<id>.
	 */
	const char *cgroup_parent;
	/* The node's name: the value of FX_LABEL_MANAGED on all we create, and what
	 * a relist looks for. NULL or "": "true". */
	const char *node_name;
	/*
	 * DNS for pod-network sandboxes (the kubelet's clusterDNS and search path).
	 * None: no DNSConfig is sent, and containerd copies the host's resolv.conf.
	 */
	const char *const *dns_servers;
	size_t n_dns_servers;
	const char *const *dns_searches;
	size_t n_dns_searches;
	unsigned calls_max; /* 0: FX_EXEC_CALLS_MAX */
	unsigned queue_max; /* 0: FX_EXEC_QUEUE_MAX */
	/*
	 * The API client the container environment's ConfigMaps and Secrets are read
	 * with (NULL: standalone; a body that refers to one then fails). Not owned:
	 * it must outlive the executor — free the executor first, since fx_exec_free
	 * cancels the executor's requests on it.
	 */
	struct kapi *api;
	/* The watcher the environment's ConfigMaps and Secrets are read through
	 * (NULL: a GET each). Not owned; outlives the executor. */
	struct io_objwatch *objects;
	/* The node's IP: status.hostIP(s) of a fieldRef, and status.podIP(s) of a
	 * host-network pod. NULL or "": such a fieldRef fails the create. */
	const char *host_ip;
};

struct fx_exec;

/*
 * A new executor whose calls go through cri and whose events go to sink. cri and
 * cfg->reactor must outlive it. *out is the caller's until fx_exec_free.
 */
int fx_exec_new(struct fx_exec **out, struct cri_client *cri, const struct fx_exec_config *cfg,
                struct fx_sink sink);

/*
 * Starts carrying out c (the executor copies what it needs: c may be freed when
 * this returns). 0: exactly one effect event for c.id follows, later. -ENOTSUP:
 * not a kind of this executor (or a hook that is not an exec hook); nothing
 * follows. Other negative values: nothing follows either.
 */
int fx_exec_dispatch(struct fx_exec *x, const struct fsm_command *c);

/* Starts a relist (see above); -EBUSY while the previous one runs. */
int fx_exec_relist(struct fx_exec *x);

struct fx_exec_stats {
	unsigned ops; /* commands and relist steps held */
	unsigned calls_in_flight;
	unsigned calls_waiting;
	uint64_t dispatched;      /* commands accepted */
	uint64_t effects;         /* effect events sent */
	uint64_t relists;         /* relists finished (well or not) */
	uint64_t relist_failures; /* relists whose list calls failed */
	uint64_t relist_events;   /* events the relists sent */
	int relist_last_status;   /* gRPC status of the last relist's lists */
	unsigned known;           /* ids the relist remembers */
	unsigned queue_full;      /* commands refused at the bound */
};
void fx_exec_stats(const struct fx_exec *x, struct fx_exec_stats *out);

/*
 * Frees the executor. The CRI client must not run one of its callbacks
 * afterwards: free the client first (cri_client_free drops calls without their
 * callbacks), or free the executor when it holds no call (stats.calls_in_flight
 * is 0). Commands still held report nothing. Reads of ConfigMaps and Secrets in
 * flight are cancelled on cfg.api, which must therefore still be alive.
 */
void fx_exec_free(struct fx_exec *x);

/* ---- The container's environment; exposed for tests --------------------------
 *
 * The pure part (fx_env_resolve) and the asynchronous reads (fx_env_fetch_start)
 * that the executor's cri.create_container uses between PodSandboxStatus and
 * CreateContainer. json-c objects are passed as pointers only.
 */
struct json_object;

#define FX_ENV_ERROR_PREFIX     "CreateContainerConfigError: "
#define FX_ENV_REFS_MAX         64                 /* ConfigMaps + Secrets of one container */
#define FX_ENV_VARS_MAX         8192               /* variables of one container */
#define FX_ENV_VALUE_BYTES_MAX  ((size_t)1 << 20)  /* one value, after expansion */
#define FX_ENV_BYTES_MAX        ((size_t)16 << 20) /* all names and values */
#define FX_ENV_OBJECT_BYTES_MAX ((size_t)4 << 20)  /* a ConfigMap's or Secret's JSON */
#define FX_ENV_TIMEOUT_MS       (30u * 1000)       /* one GET */

/* What a fieldRef may read (strings borrowed; NULL or "": not known). */
struct fx_env_facts {
	const char *pod_name;
	const char *pod_namespace;
	const char *pod_uid;
	const char *node_name;
	const char *host_ip;
	const char *pod_ip;  /* status.podIP */
	const char *pod_ips; /* status.podIPs: the IPs joined by ',' */
	/* The create body's "pod_meta" (the fold sends it with a container
	 * that has fieldRefs): metadata.labels, metadata.annotations (objects
	 * of strings) and spec.serviceAccountName. NULL: not carried. */
	struct json_object *labels;
	struct json_object *annotations;
	const char *service_account;
};

/* A ConfigMap or Secret as read. */
struct fx_env_source {
	bool secret;
	const char *name;
	const char *error;          /* non-NULL: the read failed so (not a 404) */
	bool found;                 /* false: the API answered 404 */
	struct json_object *object; /* found: the object (its "data" is used) */
};

struct fx_env_var {
	char *name;
	char *value;
};

/* The environment, in order of first definition; later definitions replace the
 * value in place. Free with fx_env_free, which zeroes the values. */
struct fx_env {
	struct fx_env_var *vars;
	size_t n;
};
void fx_env_free(struct fx_env *e);

/*
 * The environment of container (the container's JSON as the Pod spells it) given
 * the objects read (src; a ref to an object not among them fails "no API server to
 * read ..." when !have_api). 0 and *out (the caller's; free with fx_env_free), or
 * -1 with the kubelet's message (without FX_ENV_ERROR_PREFIX, never a value) in err.
 */
int fx_env_resolve(struct json_object *container, const struct fx_env_facts *facts,
                   const struct fx_env_source *src, size_t n_src, bool have_api, struct fx_env *out,
                   char *err, size_t err_len);

/*
 * The first ConfigMap or Secret container refers to (envFrom first, then env), or
 * NULL with *secret untouched; for the "no API server" check at dispatch.
 */
const char *fx_env_first_ref(struct json_object *container, bool *secret);

struct fx_env_fetch;
/* rc 0: *env is the callee's (fx_env_free); rc -1: error (the kubelet's message). */
typedef void (*fx_env_fetch_cb)(void *arg, int rc, struct fx_env *env, const char *error);

/*
 * Reads every ConfigMap and Secret container refers to (in facts->pod_namespace),
 * then resolves as fx_env_resolve; done runs once, on a reactor turn (never inside
 * this call), after which the fetch is gone. With objects (io/objwatch), each is
 * referenced for facts->pod_uid — watched for as long as the pod is on the node,
 * as the kubelet's watch-based manager keeps them — and read from the watcher's
 * cache once its first list has answered; an object the watcher refuses (its
 * bounds), or every object without objects, is read with a GET through api.
 * container and facts (and its strings) must stay valid until then. 0 and *out
 * (for fx_env_fetch_cancel); -ENODATA when container refers to none (nothing
 * runs: call fx_env_resolve); -E2BIG past FX_ENV_REFS_MAX; kapi_request's error.
 */
int fx_env_fetch_start(struct kapi *api, struct io_objwatch *objects, struct json_object *container,
                       const struct fx_env_facts *facts, fx_env_fetch_cb done, void *arg,
                       struct fx_env_fetch **out);
/* Cancels the fetch's requests; done will not run. The fetch is gone. */
void fx_env_fetch_cancel(struct fx_env_fetch *f);

/* mkdir -p (the pods' log directories; llt-cri makes them the same way): 0 or a
 * negative errno. */
int fx_mkdir_p(const char *path, mode_t mode);

#endif
