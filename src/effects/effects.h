/*
 * effects/effects.h — what every executor shares: where its outcomes go.
 *
 * Executors carry out the fold's commands (DESIGN.md contract 4) and report
 * back only through events: each dispatched command ends in exactly one
 * `effect` event (ok with its result, or failed with an error class), and an
 * executor may report what it observed on the way (cri.sandbox, cri.container,
 * cri.image, probe). The loop journals these events before folding them
 * (contract 1); an executor never calls the fold.
 *
 * The sink copies the event before it returns: the executor may free or reuse
 * the event's strings at once. Executors set wall_ms (the wall clock when they
 * saw it); the loop assigns seq and ts_ms.
 *
 * Labels every executor puts on what it creates, so that a restart can find
 * them (and so that "look before act" makes a command idempotent):
 */
#ifndef LEDGERLET_EFFECTS_EFFECTS_H
#define LEDGERLET_EFFECTS_EFFECTS_H

#include "fsm/command.h"
#include "fsm/event.h"

/* On all we create: the name of the node whose ledgerlet made it. A relist sees
 * only its own node's objects, so ledgerlets of other node names sharing a
 * runtime (tests, benchmarks) never take each other's pods for orphans. */
#define FX_LABEL_MANAGED "io.ledgerlet.managed"
#define FX_LABEL_CMD "io.ledgerlet.cmd"          /* the id of the command that created it */
#define FX_LABEL_POD_UID "io.kubernetes.pod.uid" /* the kubelet's labels, kept for tools */
#define FX_LABEL_POD_NAME "io.kubernetes.pod.name"
#define FX_LABEL_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define FX_LABEL_CONTAINER "io.kubernetes.container.name"
#define FX_ANNOTATION_ATTEMPT "io.ledgerlet.attempt"

struct fx_sink {
	void (*event)(void *arg, const struct fsm_event *ev);
	void *arg;
};

#endif
