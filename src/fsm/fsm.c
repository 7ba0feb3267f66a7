/*
 * fsm/fsm.c — the state's lifetime and the command buffer. The fold itself is
 * in node.c (routing, node-level decisions) and pod.c (the pod machines).
 */
#include "fsm/fsm.h"

#include <stdlib.h>
#include <string.h>

#include "fsm/buf.h"
#include "fsm/fold.h"
#include "fsm/status.h"
#include "fsm/volume.h"

void fsm_state_init(struct fsm_state *s)
{
	memset(s, 0, sizeof(*s));
	fsm_node_config_defaults(&s->cfg);
}

void fsm_state_free(struct fsm_state *s)
{
	free(s->node_config);
	fsm_node_config_free(&s->cfg);
	for (size_t i = 0; i < s->nimages; i++) {
		free(s->images[i].name);
		free(s->images[i].ref);
	}
	free(s->images);
	for (size_t i = 0; i < s->npods; i++)
		fsm_pod_free(s->pods[i]);
	free(s->pods);
	for (size_t i = 0; i < s->ntimers; i++) {
		free(s->timers[i].key);
		free(s->timers[i].pod_uid);
	}
	free(s->timers);
	for (size_t i = 0; i < s->nobjects; i++)
		fsm_object_free(&s->objects[i]);
	free(s->objects);
	memset(s, 0, sizeof(*s));
}

int fsm_state_equal(const struct fsm_state *a, const struct fsm_state *b)
{
	struct fsm_buf da = FSM_BUF_INIT, db = FSM_BUF_INIT;
	int eq = fsm_state_dump(a, &da) == 0 && fsm_state_dump(b, &db) == 0 && da.len == db.len &&
		 memcmp(da.ptr, db.ptr, da.len) == 0;
	fsm_buf_free(&da);
	fsm_buf_free(&db);
	return eq;
}

void fsm_out_reset(struct fsm_out *out)
{
	out->n = 0;
	fsm_arena_reset(&out->arena);
}

void fsm_out_free(struct fsm_out *out)
{
	free(out->cmds);
	fsm_arena_free(&out->arena);
	memset(out, 0, sizeof(*out));
}

struct fsm_command *fsm_out_push(struct fsm_out *out)
{
	if (out->n == out->cap) {
		if (out->cap >= FSM_OUT_MAX)
			return NULL;
		size_t cap = out->cap ? out->cap * 2 : 16;
		struct fsm_command *c = realloc(out->cmds, cap * sizeof(*c));
		if (c == NULL)
			return NULL;
		out->cmds = c;
		out->cap = cap;
	}
	struct fsm_command *c = &out->cmds[out->n++];
	*c = (struct fsm_command){.id = "", .pod_uid = "", .container = "", .key = "", .image = ""};
	return c;
}

const char *fsm_strerror(int err)
{
	switch (err) {
	case FSM_OK:
		return "ok";
	case FSM_ENOMEM:
		return "out of memory";
	case FSM_EORDER:
		return "event out of order (seq or ts_ms went backwards)";
	case FSM_EOVERFLOW:
		return "too many commands for one event";
	}
	return "unknown fsm error";
}
