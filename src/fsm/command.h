/*
 * fsm/command.h — the outputs of the fold, as plain C.
 *
 * The fold turns events into commands; the journal stores them beside the event
 * that produced them (a decision record, DESIGN.md contract 9); the executors in
 * src/effects/ carry them out and answer each with one `effect` event.
 *
 * Ownership: a command never owns its strings. The fold's commands point into the
 * fold's output buffer (valid until the next fold call); decoded commands point
 * into the decoder's arena. Unused strings are "" (never NULL).
 */
#ifndef LEDGERLET_FSM_COMMAND_H
#define LEDGERLET_FSM_COMMAND_H

#include <stddef.h>
#include <stdint.h>

/* Numbers equal CommandKind in schemas/journal.proto and never change. */
enum fsm_cmd_kind {
	FSM_CMD_NONE = 0,
	FSM_CMD_CRI_PULL_IMAGE = 1,
	FSM_CMD_CRI_RUN_SANDBOX = 2,
	FSM_CMD_CRI_STOP_SANDBOX = 3,
	FSM_CMD_CRI_REMOVE_SANDBOX = 4,
	FSM_CMD_CRI_CREATE_CONTAINER = 5,
	FSM_CMD_CRI_START_CONTAINER = 6,
	FSM_CMD_CRI_STOP_CONTAINER = 7,
	FSM_CMD_CRI_REMOVE_CONTAINER = 8,
	FSM_CMD_CRI_EXEC_SYNC = 9,
	FSM_CMD_PROBE_START = 10,
	FSM_CMD_PROBE_STOP = 11,
	FSM_CMD_HOOK_RUN = 12,
	FSM_CMD_TIMER_SET = 13,
	FSM_CMD_TIMER_CANCEL = 14,
	FSM_CMD_API_POD_STATUS = 15,
	FSM_CMD_POD_REJECT = 16,
	FSM_CMD_POD_EVICT = 17,
	/* The API writes (src/effects/api.h says each one's body and answer). */
	FSM_CMD_API_POD_DELETE = 18,
	FSM_CMD_API_MIRROR_CREATE = 19,
	FSM_CMD_API_MIRROR_DELETE = 20,
	FSM_CMD_API_NODE_REGISTER = 21,
	FSM_CMD_API_NODE_STATUS = 22,
	FSM_CMD_API_LEASE = 23,
	FSM_CMD_API_EVENT = 24,
	/* A pod's volumes (src/effects/volume.h). */
	FSM_CMD_VOLUME_SETUP = 25,
	FSM_CMD_VOLUME_TEARDOWN = 26,
};
#define FSM_CMD_KIND_COUNT 27

struct fsm_command {
	enum fsm_cmd_kind kind;
	const char *id; /* deterministic, made from state (contract 4) */
	const char *pod_uid;
	const char *container;
	uint32_t attempt;
	const char *key;    /* timer.set, timer.cancel */
	uint64_t due_ms;    /* timer.set */
	uint32_t timeout_s; /* cri.stop_container, cri.exec_sync */
	const char *image;  /* cri.pull_image */
	const char *body;   /* structured arguments as JSON, or NULL */
	size_t body_len;
};

/* "<target>.<verb>" ("cri.run_sandbox", "timer.set", ...), or NULL for a kind this
 * build does not know. Static storage. */
const char *fsm_cmd_kind_name(enum fsm_cmd_kind kind);
enum fsm_cmd_kind fsm_cmd_kind_from_name(const char *name);

#endif
