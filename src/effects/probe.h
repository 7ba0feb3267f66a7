/*
 * effects/probe.h — the prober: runs the probes and lifecycle hooks the fold asks for.
 *
 * Data flow: the fold emits probe.start (with the probe's spec), probe.stop and
 * hook.run; the loop journals them and dispatches them here. A started probe
 * runs on its own period (DESIGN.md contract 3: periodic probing is not a
 * journaled timer) and its results come back as `probe` events through the
 * sink; a hook runs once and comes back as the command's `effect`.
 *
 * Quiet when healthy (contract 10). The executor keeps the fold's two counters
 * for each probe (consecutive successes saturating at successThreshold,
 * consecutive failures saturating at failureThreshold, both reset by
 * probe.start) and reports a result only when it moves them: every result
 * until a run of identical results reaches the threshold of its outcome, then
 * nothing until the outcome changes. A healthy probe (thresholds 1 and 3)
 * writes one event and then stays silent however often it runs; a failing one
 * writes three.
 *
 * Commands (bodies as src/fsm/pod.c writes them):
 *   probe.start  {"probe": "liveness"|"readiness"|"startup", "container_id",
 *                 "pod_ip", "spec": <the probe as the Pod spells it>}
 *                Starts probing under the command's id (a second start of the same
 *                id restarts it: counters reset, a run in flight is dropped). The
 *                first run comes initialDelaySeconds after the start, then one
 *                every periodSeconds; a run still going when the next is due makes
 *                that one skip. Defaults as the API's: period 10 s, timeout 1 s,
 *                thresholds 1 and 3.
 *   probe.stop   Stops the probe of that id; the result of a run in flight is
 *                dropped. An unknown id is not an error.
 *   hook.run     {"hook": "postStart"|"preStop", "container_id", "pod_ip",
 *                 "spec": <the handler>}: runs the handler once within the
 *                command's timeout_s (0: FX_HOOK_TIMEOUT_S_DEFAULT).
 * Each of them ends in exactly one `effect` event for its id, delivered on a
 * later reactor turn, never from inside fx_probe_dispatch: probe.start and
 * probe.stop answer ok (probe.start answers failed, permanent, for a spec it
 * cannot run — a named port it cannot resolve, a malformed body — and failed,
 * transient, past FX_PROBES_MAX); hook.run answers ok, or failed with the
 * kubelet's message: permanent when the handler failed, transient when it ran
 * out of time or could not be started (a bound, the runtime unreachable).
 *
 * Handlers, as the kubelet runs them:
 *   exec       CRI ExecSync in the container with the timeout (exit code 0 is
 *              success). A runtime error other than the timeout is no result at
 *              all for a probe (the kubelet's Unknown: nothing is reported), and a
 *              failed effect of the runtime's class for a hook.
 *   httpGet    GET scheme://host:port/path over libcurl on the shared multi handle,
 *              host = spec.host or the pod IP, spec.httpHeaders sent, a fresh
 *              connection each run, no proxy, TLS not verified. Probes: status
 *              200..399 is success; redirects are followed only to the same host
 *              name (at most FX_PROBE_REDIRECTS_MAX), a redirect elsewhere ends
 *              the run as a success. Hooks: any HTTP answer is success (only the
 *              transport can fail), redirects followed, an HTTPS request answered
 *              in plain HTTP retried once in HTTP.
 *   tcpSocket  a non-blocking connect to host:port, polled on the reactor with a
 *              deadline (success when it connects). The host must be an IP
 *              address. Lifecycle hooks refuse it, as the kubelet does
 *              ("lifecycle hooks will fail at runtime when it is specified").
 *   grpc       grpc.health.v1.Health/Check on pod_ip:port over HTTP/2 with prior
 *              knowledge (libcurl), service = spec.grpc.service; success when the
 *              answer is SERVING.
 *   sleep      hooks only: a reactor timer of spec.sleep.seconds.
 * Ports: a number, or a string of digits; a port name resolves only when the body
 * carries the container's ports as "ports": [{"name", "containerPort"}, ...] (the
 * fold's bodies do not yet): otherwise probe.start and hook.run fail, permanent,
 * naming the port.
 *
 * Test-only members of a probe.start body (the fold never writes them; tests use
 * them to run in milliseconds what the API counts in seconds): "period_ms",
 * "initial_delay_ms" and "timeout_ms" override periodSeconds,
 * initialDelaySeconds and timeoutSeconds.
 *
 * Bounds: at most FX_PROBES_MAX probes (a start past it answers failed,
 * transient), FX_PROBE_RUNS_MAX probe runs in flight (a run due past it is
 * skipped: it reports nothing and counts in runs_skipped), FX_HOOKS_MAX hooks
 * in flight (a hook past it answers failed, transient). A message is cut to
 * FX_PROBE_MESSAGE_MAX - 1 bytes; at most FX_PROBE_BODY_BYTES_MAX bytes of an
 * HTTP answer's body are read (the kubelet's limit; the rest is not waited for).
 *
 * The multi handle is shared (the loop drives it through src/io's curl glue):
 * the loop hands every finished transfer to fx_probe_on_done, which ignores the
 * transfers that are not the prober's, as cri_client_on_done does.
 *
 * Errors: 0 or a negative errno. Not thread-safe: the reactor's thread makes
 * every call.
 */
#ifndef LEDGERLET_EFFECTS_PROBE_H
#define LEDGERLET_EFFECTS_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "effects/cri.h"
#include "effects/effects.h"
#include "io/reactor.h"

#define FX_PROBES_MAX             4096
#define FX_PROBE_RUNS_MAX         256
#define FX_HOOKS_MAX              256
#define FX_PROBE_MESSAGE_MAX      1024
#define FX_PROBE_REDIRECTS_MAX    10
#define FX_PROBE_BODY_BYTES_MAX   10240
#define FX_HOOK_TIMEOUT_S_DEFAULT 30
/* What the kubelet's probes and hooks say they are (kube-probe/<major>.<minor>). */
#define FX_PROBE_USER_AGENT       "kube-probe/1.34"
#define FX_HOOK_USER_AGENT        "kube-lifecycle/1.34"

struct fx_probe;

/*
 * A prober whose timers and socket polls run on r, whose HTTP and gRPC transfers
 * run on multi (driven by the loop, see above) and whose exec handlers go
 * through cri (may be NULL: exec probes and hooks then fail to start, permanent).
 * The caller keeps owning r, multi and cri, and they must outlive the prober.
 * 0, -EINVAL or -ENOMEM; *out is the caller's until fx_probe_free().
 */
int fx_probe_new(struct fx_probe **out, struct io_reactor *r, CURLM *multi, struct cri_client *cri,
                 struct fx_sink sink);

/*
 * Carries out probe.start, probe.stop or hook.run (see above; hooks of every kind,
 * exec included). Returns 0 when the command is taken: its one effect event
 * follows on a later turn. -ENOTSUP for a command of another kind (as
 * fx_exec_dispatch says it), -ENOMEM or the reactor's error when the command
 * could not even be recorded: then no effect follows and the caller must answer
 * the command itself. c and its strings are only read during the call.
 */
int fx_probe_dispatch(struct fx_probe *x, const struct fsm_command *c);

/* Whether easy is one of the prober's transfers. */
bool fx_probe_owns(const struct fx_probe *x, CURL *easy);
/*
 * For each CURLMSG_DONE message of the shared multi handle: when the transfer is
 * the prober's, removes it from the multi handle and settles its run (which may
 * add a transfer: a followed redirect, an HTTP fallback); otherwise does nothing.
 */
void fx_probe_on_done(struct fx_probe *x, CURLMsg *msg);

struct fx_probe_stats {
	uint32_t probes;          /* probing now */
	uint32_t runs_in_flight;  /* probe runs, ExecSync calls of stopped probes included */
	uint32_t hooks_in_flight; /* hook runs */
	uint64_t runs;            /* probe runs started */
	uint64_t runs_skipped;    /* due but not started: the previous still ran, or a bound */
	uint64_t reported;        /* probe events sent */
	uint64_t quiet;           /* results the quiet rule kept back */
	uint64_t unknown;         /* runs that ended without a result (runtime errors) */
	uint64_t dropped;         /* results of runs whose probe was stopped or restarted */
	uint64_t hooks;           /* hook.run commands taken */
	uint64_t stalled;         /* probes that stopped: the reactor refused their timer */
};
void fx_probe_stats(const struct fx_probe *x, struct fx_probe_stats *out);

/*
 * Stops every probe and hook without reporting anything (effects not yet
 * delivered are lost) and frees the prober. ExecSync calls cannot be cancelled
 * one by one: free the CRI client first (cri_client_free ends its calls without
 * their callbacks), or make sure none of the prober's is in flight. The reactor
 * and the multi handle must still be alive. NULL is a no-op.
 */
void fx_probe_free(struct fx_probe *x);

#endif
