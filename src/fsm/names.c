/*
 * fsm/names.c — the names the replay file and the command printer use for the
 * fold's enums. One table per enum; index = enum value.
 */
#include <string.h>

#include "fsm/command.h"
#include "fsm/event.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const event_kinds[FSM_EV_KIND_COUNT] = {
	[FSM_EV_API_POD] = "api.pod",
	[FSM_EV_FILE_POD] = "file.pod",
	[FSM_EV_CRI_SANDBOX] = "cri.sandbox",
	[FSM_EV_CRI_CONTAINER] = "cri.container",
	[FSM_EV_CRI_IMAGE] = "cri.image",
	[FSM_EV_PROBE] = "probe",
	[FSM_EV_TIMER] = "timer",
	[FSM_EV_EFFECT] = "effect",
	[FSM_EV_NODE_CONFIG] = "node.config",
	[FSM_EV_NODE_PRESSURE] = "node.pressure",
	[FSM_EV_POD_STATS] = "pod.stats",
	[FSM_EV_CLOCK] = "clock",
	[FSM_EV_API_BACKOFF] = "api.backoff",
	[FSM_EV_API_OBJECT] = "api.object",
	[FSM_EV_CRI_STATUS] = "cri.status",
};

static const char *const watch_types[] = {
	[FSM_WATCH_ADDED] = "ADDED",
	[FSM_WATCH_MODIFIED] = "MODIFIED",
	[FSM_WATCH_DELETED] = "DELETED",
	[FSM_WATCH_SYNC] = "SYNC",
};

static const char *const sandbox_states[] = {
	[FSM_SANDBOX_READY] = "ready",
	[FSM_SANDBOX_NOTREADY] = "notready",
};

static const char *const container_states[] = {
	[FSM_CONTAINER_CREATED] = "created",
	[FSM_CONTAINER_RUNNING] = "running",
	[FSM_CONTAINER_EXITED] = "exited",
	[FSM_CONTAINER_UNKNOWN] = "unknown",
};

static const char *const probe_types[] = {
	[FSM_PROBE_LIVENESS] = "liveness",
	[FSM_PROBE_READINESS] = "readiness",
	[FSM_PROBE_STARTUP] = "startup",
};

static const char *const error_classes[] = {
	[FSM_ERR_NONE] = "",
	[FSM_ERR_TRANSIENT] = "transient",
	[FSM_ERR_PERMANENT] = "permanent",
	[FSM_ERR_NOT_FOUND] = "not-found",
};

static const char *const cmd_kinds[FSM_CMD_KIND_COUNT] = {
	[FSM_CMD_CRI_PULL_IMAGE] = "cri.pull_image",
	[FSM_CMD_CRI_RUN_SANDBOX] = "cri.run_sandbox",
	[FSM_CMD_CRI_STOP_SANDBOX] = "cri.stop_sandbox",
	[FSM_CMD_CRI_REMOVE_SANDBOX] = "cri.remove_sandbox",
	[FSM_CMD_CRI_CREATE_CONTAINER] = "cri.create_container",
	[FSM_CMD_CRI_START_CONTAINER] = "cri.start_container",
	[FSM_CMD_CRI_STOP_CONTAINER] = "cri.stop_container",
	[FSM_CMD_CRI_REMOVE_CONTAINER] = "cri.remove_container",
	[FSM_CMD_CRI_EXEC_SYNC] = "cri.exec_sync",
	[FSM_CMD_PROBE_START] = "probe.start",
	[FSM_CMD_PROBE_STOP] = "probe.stop",
	[FSM_CMD_HOOK_RUN] = "hook.run",
	[FSM_CMD_TIMER_SET] = "timer.set",
	[FSM_CMD_TIMER_CANCEL] = "timer.cancel",
	[FSM_CMD_API_POD_STATUS] = "api.pod_status",
	[FSM_CMD_POD_REJECT] = "pod.reject",
	[FSM_CMD_POD_EVICT] = "pod.evict",
	[FSM_CMD_API_POD_DELETE] = "api.pod_delete",
	[FSM_CMD_API_MIRROR_CREATE] = "api.mirror_create",
	[FSM_CMD_API_MIRROR_DELETE] = "api.mirror_delete",
	[FSM_CMD_VOLUME_SETUP] = "volume.setup",
	[FSM_CMD_VOLUME_TEARDOWN] = "volume.teardown",
	[FSM_CMD_API_NODE_REGISTER] = "api.node_register",
	[FSM_CMD_API_NODE_STATUS] = "api.node_status",
	[FSM_CMD_API_LEASE] = "api.lease",
	[FSM_CMD_API_EVENT] = "api.event",
};

static const char *name_of(const char *const *table, size_t n, unsigned v)
{
	return v < n ? table[v] : NULL;
}

/* 0 when not found: every table leaves index 0 unnamed or "" (error class none). */
static unsigned value_of(const char *const *table, size_t n, const char *name)
{
	if (name == NULL)
		return 0;
	for (unsigned i = 1; i < n; i++)
		if (table[i] != NULL && strcmp(table[i], name) == 0)
			return i;
	return 0;
}

const char *fsm_event_kind_name(enum fsm_event_kind k)
{
	return name_of(event_kinds, COUNT(event_kinds), k);
}
enum fsm_event_kind fsm_event_kind_from_name(const char *name)
{
	return value_of(event_kinds, COUNT(event_kinds), name);
}
const char *fsm_watch_type_name(enum fsm_watch_type t)
{
	return name_of(watch_types, COUNT(watch_types), t);
}
enum fsm_watch_type fsm_watch_type_from_name(const char *name)
{
	return value_of(watch_types, COUNT(watch_types), name);
}
const char *fsm_sandbox_state_name(enum fsm_sandbox_state s)
{
	return name_of(sandbox_states, COUNT(sandbox_states), s);
}
enum fsm_sandbox_state fsm_sandbox_state_from_name(const char *name)
{
	return value_of(sandbox_states, COUNT(sandbox_states), name);
}
const char *fsm_container_state_name(enum fsm_container_state s)
{
	return name_of(container_states, COUNT(container_states), s);
}
enum fsm_container_state fsm_container_state_from_name(const char *name)
{
	return value_of(container_states, COUNT(container_states), name);
}
const char *fsm_probe_type_name(enum fsm_probe_type p)
{
	return name_of(probe_types, COUNT(probe_types), p);
}
enum fsm_probe_type fsm_probe_type_from_name(const char *name)
{
	return value_of(probe_types, COUNT(probe_types), name);
}
const char *fsm_error_class_name(enum fsm_error_class c)
{
	return name_of(error_classes, COUNT(error_classes), c);
}
enum fsm_error_class fsm_error_class_from_name(const char *name)
{
	return value_of(error_classes, COUNT(error_classes), name);
}
const char *fsm_cmd_kind_name(enum fsm_cmd_kind k)
{
	return name_of(cmd_kinds, COUNT(cmd_kinds), k);
}
enum fsm_cmd_kind fsm_cmd_kind_from_name(const char *name)
{
	return value_of(cmd_kinds, COUNT(cmd_kinds), name);
}
