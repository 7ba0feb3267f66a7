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
 *   cri.create_container  PodSandboxStatus, CreateContainer; result: container id
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

#include <stdint.h>

#include "effects/cri.h"
#include "effects/effects.h"
#include "fsm/command.h"
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
 * is 0). Commands still held report nothing.
 */
void fx_exec_free(struct fx_exec *x);

#endif
