/*
 * fsm/status.h — what the kubelet reports about a pod, computed from the pod and
 * container machines (state.h): the phase, the conditions the kubelet owns, and
 * the PodStatus JSON that api.pod_status commands carry. Also the canonical dump
 * of the whole fold state that journal-replay --state prints and tests compare.
 *
 * Pure (DESIGN.md contract 2): time comes in as wall_ms; nothing here reads a
 * clock or keeps state of its own. The rules are the upstream kubelet's
 * (pkg/kubelet/kubelet_pods.go getPhase and convertToAPIContainerStatuses,
 * pkg/kubelet/status/generate.go, pkg/kubelet/prober/prober_manager.go
 * UpdatePodStatus), restated for our container stages:
 *
 *   RUNNING, KILLING                      -> state.running
 *   EXITED                                -> state.terminated (term)
 *   WAITING, PULLING, CREATING, STARTING  -> state.waiting, lastState.terminated
 *                                            when last_term.set
 *
 * Ownership: nothing returned here needs freeing except what was appended to a
 * caller's fsm_buf, which the caller owns. On -1 a buffer is left as it was.
 */
#ifndef LEDGERLET_FSM_STATUS_H
#define LEDGERLET_FSM_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm/buf.h"
#include "fsm/fsm.h"
#include "fsm/state.h"

/* containerID is "<runtime>://<id>"; the state keeps ids without the prefix. */
#define FSM_CONTAINER_ID_PREFIX "containerd://"

/* RFC 3339 in UTC to the second ("2026-11-27T15:51:08Z"), as metav1.Time
 * marshals: 20 characters and a NUL. */
#define FSM_RFC3339_BYTES 32

/*
 * The phase the kubelet's getPhase gives the pod's containers: "Pending",
 * "Running", "Succeeded" or "Failed" (static storage, never NULL).
 *
 * pod_is_terminal says the pod worker is done with the pod (terminating or
 * terminated): then stopped containers are final whatever the restart policy,
 * except for static pods, which upstream does not yet give a terminal phase
 * this way (kubernetes issue 116484).
 *
 * The phase does not stick: a caller that already reported Succeeded or Failed
 * keeps that (generateAPIPodStatus refuses transitions out of a terminal phase).
 */
const char *fsm_pod_phase(const struct fsm_pod *p, bool pod_is_terminal);

/* As fsm_pod_phase, with the "pod has initialized" input given rather than
 * derived: true when a regular container of the current sandbox has run, which
 * lets a restarting sidecar not send the pod back to Pending. fsm_pod_phase
 * derives it with fsm_pod_has_initialized(). */
const char *fsm_pod_phase_given(const struct fsm_pod *p, bool pod_is_terminal,
				bool pod_has_initialized);

/* True when any app container is running or has terminated (upstream's
 * HasAnyActiveRegularContainerStarted over our stages). Upstream counts only
 * containers of the current sandbox; the state does not say which sandbox a
 * container ran in, so an app container that exited with a replaced sandbox
 * counts too. A caller that knows better passes its answer to
 * fsm_pod_phase_given. */
bool fsm_pod_has_initialized(const struct fsm_pod *p);

/*
 * Recomputes the status of the four conditions the kubelet owns (p->conds,
 * enum fsm_cond order) from the containers, the sandbox, the readiness gates
 * and p->phase — so set p->phase first. lastTransitionTime moves to wall_ms only
 * when a status flips, or on the first computation (transition_wall_ms 0), as
 * the status manager's updateLastTransitionTime does.
 */
void fsm_pod_conditions_update(struct fsm_pod *p, uint64_t wall_ms);

/*
 * Appends the PodStatus JSON object the kubelet would send for p: compact, keys
 * in the order of the Go struct (so as the API server prints them), no trailing
 * newline. Conditions take their status and lastTransitionTime from p->conds
 * (call fsm_pod_conditions_update first); reason and message are derived and
 * written only when the derived status agrees with the stored one. App
 * containers are listed by name and init containers in spec order, as upstream
 * sorts them. cfg gives hostIP (and the podIP of hostNetwork pods); it may be
 * NULL. A pod rejected at admission (FSM_PS_REJECTED) gets what the kubelet's
 * rejectPod sends: phase Failed, message, reason, startTime and qosClass only.
 * Returns 0, or -1 when memory runs out (out unchanged).
 */
int fsm_pod_status_json(const struct fsm_pod *p, const struct fsm_node_config *cfg,
			struct fsm_buf *out);

/* FNV-1a, 64 bits, of n bytes at p: a status is sent only when this changes. */
uint64_t fsm_status_hash(const char *p, size_t n);
/* A fast change detector over a status's bytes (not a stable, documented hash:
 * it may change between builds; what it is compared with comes from the same
 * build or is re-sent once). */
uint64_t fsm_status_fingerprint(const char *p, size_t n);

/*
 * Appends a canonical JSON dump of every field of s and of everything it points
 * to: equal states give equal bytes and states that differ in any field give
 * different bytes. Raw JSON documents (node config, pod objects) appear as their
 * length and FNV-1a hash; what the fold derives from them is dumped field by
 * field. Returns 0, or -1 when memory runs out (out unchanged).
 */
int fsm_state_dump(const struct fsm_state *s, struct fsm_buf *out);

/* Writes wall_ms (ms since the Unix epoch, UTC) as RFC 3339 to the second,
 * truncating the milliseconds. Returns 0, or -1 past 9999-12-31T23:59:59Z
 * (out is then ""). */
int fsm_time_rfc3339(uint64_t wall_ms, char out[FSM_RFC3339_BYTES]);

#endif
