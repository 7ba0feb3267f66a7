/*
 * fsm/volume.h — the fold's side of a pod's volumes (see volume.c), shared by
 * pod.c and node.c, and the object table's helpers the snapshot codec uses.
 */
#ifndef LEDGERLET_FSM_VOLUME_H
#define LEDGERLET_FSM_VOLUME_H

#include <stdbool.h>

#include "fsm/fsm.h"

struct fold;
struct fsm_buf;

/* True when the pod's volumes are set up (or it has none); else issues the setup
 * that is due and answers false: its sandbox waits. */
bool pod_volumes_ready(struct fold *f, struct fsm_pod *p);
/* An effect of a "volumes" or "volumesdown" command. */
void pod_volumes_on_effect(struct fold *f, struct fsm_pod *p, const char *verb, const char *rest);
/* The "volumes/<uid>" timer: a retry or a token's renewal is due. */
void pod_volumes_on_timer(struct fold *f, struct fsm_pod *p);
/* Issues the teardown once the pod's runtime objects are gone; true when it
 * has none to make or it has answered. */
bool pod_volumes_teardown(struct fold *f, struct fsm_pod *p);
/* Whether nothing of the pod's volumes is left on the node. */
bool pod_volumes_gone(const struct fsm_pod *p);
/* ,"mounts":[...] of a create body, for container cs of p (nothing when none). */
void pod_put_mounts(struct fsm_buf *b, const struct fsm_pod *p, const struct fsm_container_spec *cs);

/* The body of the pod's volume.setup (for a restart's re-adoption too). */
void fsm_pod_volume_body(const struct fsm_pod *p, struct fsm_buf *b);

/* An api.object event. */
void fold_api_object(struct fold *f, const struct fsm_ev_api_object *o);

/* Whether a volume of p reads that object. */
bool fsm_pod_reads_object(const struct fsm_pod *p, bool secret, const char *ns, const char *name);
/* Records the object's hash ("" when it does not exist); *changed when a
 * different hash was known. 0 or FSM_ENOMEM. */
int fsm_object_put(struct fsm_state *s, bool secret, const char *ns, const char *name,
		   const char *hash, bool *changed);
/* Forgets the objects no pod reads. */
void fsm_objects_prune(struct fsm_state *s);
void fsm_object_free(struct fsm_object *o);

#endif
