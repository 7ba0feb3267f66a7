/*
 * fsm/fsm.h — the fold: state + event -> state' + commands. Pure (DESIGN.md
 * contract 2): no I/O, no clock, no randomness, no global mutable state. Time
 * arrives as the event's ts_ms; configuration as node.config events.
 *
 * This is the node's state as the journal snapshots it (contract 6). The
 * journal's codec turns it into a Snapshot record and back, field by field, so
 * every field kept here is also in schemas/journal.proto (FsmState).
 */
#ifndef LEDGERLET_FSM_FSM_H
#define LEDGERLET_FSM_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "fsm/arena.h"
#include "fsm/command.h"
#include "fsm/event.h"
#include "fsm/state.h"

/* Bumped when the meaning of a snapshot's state changes; a snapshot of another
 * version is not loaded (the journal is folded from its start instead). */
#define FSM_VERSION 4

enum fsm_error {
	FSM_OK = 0,
	FSM_ENOMEM = -1,    /* an allocation failed; the state is unchanged */
	FSM_EORDER = -2,    /* event seq or ts_ms went backwards */
	FSM_EOVERFLOW = -3, /* the command buffer's limit was reached */
};

struct fsm_state {
	uint64_t last_seq;
	uint64_t last_ts_ms;
	uint64_t last_wall_ms;
	char *node_config; /* owned; JSON of the newest node.config, or NULL */
	size_t node_config_len;
	uint64_t kind_counts[FSM_EV_KIND_COUNT];
	struct fsm_node_config cfg; /* decoded from node_config (defaults before one) */
	struct fsm_pressure pressure[FSM_SIGNALS_MAX];
	size_t npressure;
	struct fsm_image *images; /* sorted by name */
	size_t nimages;
	struct fsm_pod **pods; /* sorted by spec.uid: iteration never depends on pointers */
	size_t npods;
	struct fsm_timer *timers; /* armed timers, sorted by key */
	size_t ntimers;
	struct fsm_api_node node; /* the Node in the API (cfg.api) */
	struct fsm_object *objects; /* sorted by (secret, namespace, name) */
	size_t nobjects;
};

/* Commands one event may produce at most; more is FSM_EOVERFLOW (a bug). */
#define FSM_OUT_MAX 4096

/* The commands of fold calls since the last fsm_out_reset. Zero-initialise it;
 * it owns its memory until fsm_out_free. */
struct fsm_out {
	struct fsm_command *cmds;
	size_t n;
	size_t cap;
	struct fsm_arena arena; /* the commands' strings */
};

void fsm_state_init(struct fsm_state *s);
void fsm_state_free(struct fsm_state *s);
void fsm_node_config_defaults(struct fsm_node_config *c);
void fsm_node_config_free(struct fsm_node_config *c);
/* 1 when equal in every field, else 0. */
int fsm_state_equal(const struct fsm_state *a, const struct fsm_state *b);
/* Replaces the effective node configuration with this JSON (what a node.config
 * event does); FSM_ENOMEM on failure. */
int fsm_node_config_apply(struct fsm_state *s, const char *json, size_t len);
/* Records an image as present on the node (name -> runtime ref). */
int fsm_image_add(struct fsm_state *s, const char *image, const char *ref);
void fsm_pod_free(struct fsm_pod *p);
/* Copies at most cap - 1 bytes and terminates; returns strlen(src). */
size_t fsm_strlcpy(char *dst, const char *src, size_t cap);
#define COPY(dst, src) fsm_strlcpy((dst), (src), sizeof(dst))

/* The pod with this uid, or NULL. */
struct fsm_pod *fsm_state_pod(const struct fsm_state *s, const char *uid);

void fsm_out_reset(struct fsm_out *out);
void fsm_out_free(struct fsm_out *out);
/* Appends a command slot (zeroed, strings ""); NULL at FSM_OUT_MAX or on ENOMEM. */
struct fsm_command *fsm_out_push(struct fsm_out *out);

/*
 * Folds one event. Commands are appended to out (which the caller resets between
 * events when it wants one decision per event). Returns FSM_OK or a negative
 * fsm_error. FSM_EORDER leaves the state unchanged; after FSM_ENOMEM or
 * FSM_EOVERFLOW the state is not to be trusted: the caller stops and the next
 * start rebuilds it from the journal.
 */
int fsm_fold(struct fsm_state *s, const struct fsm_event *ev, struct fsm_out *out);

/*
 * The commands in flight in state s, issued again into out: the armed timers
 * (timer.set) and every command a pod waits on (a sandbox being created, a
 * pull, a create, a start, a stop, a hook, the probes of running containers).
 * The daemon dispatches them after a restart; their ids are the original ones.
 */
int fsm_pending(struct fsm_state *s, struct fsm_out *out);
/* Records an armed timer in the state (what fold_timer_set does); for the
 * snapshot codec. */
int fsm_timer_add(struct fsm_state *s, const char *key, const char *pod_uid, uint64_t due_ms);

const char *fsm_strerror(int err);

#endif
