/*
 * fsm/fsm.c — the node-level fold.
 *
 * Today the node state keeps the clock, the effective configuration and what it
 * has seen; the pod and container machines (issue 3) hang off this fold.
 */
#include "fsm/fsm.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void fsm_state_init(struct fsm_state *s)
{
	memset(s, 0, sizeof(*s));
}

void fsm_state_free(struct fsm_state *s)
{
	free(s->node_config);
	memset(s, 0, sizeof(*s));
}

int fsm_state_copy(struct fsm_state *dst, const struct fsm_state *src)
{
	fsm_state_init(dst);
	char *cfg = NULL;
	if (src->node_config != NULL) {
		cfg = malloc(src->node_config_len + 1);
		if (cfg == NULL)
			return FSM_ENOMEM;
		memcpy(cfg, src->node_config, src->node_config_len);
		cfg[src->node_config_len] = '\0';
	}
	*dst = *src;
	dst->node_config = cfg;
	return FSM_OK;
}

int fsm_state_equal(const struct fsm_state *a, const struct fsm_state *b)
{
	if (a->last_seq != b->last_seq || a->last_ts_ms != b->last_ts_ms ||
	    a->last_wall_ms != b->last_wall_ms)
		return 0;
	if ((a->node_config == NULL) != (b->node_config == NULL))
		return 0;
	if (a->node_config != NULL && (a->node_config_len != b->node_config_len ||
				       memcmp(a->node_config, b->node_config, a->node_config_len) != 0))
		return 0;
	return memcmp(a->kind_counts, b->kind_counts, sizeof(a->kind_counts)) == 0;
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

static int fold_node_config(struct fsm_state *s, const struct fsm_ev_node_config *ev)
{
	char *cfg = malloc(ev->config_len + 1);
	if (cfg == NULL)
		return FSM_ENOMEM;
	if (ev->config_len > 0)
		memcpy(cfg, ev->config, ev->config_len);
	cfg[ev->config_len] = '\0';
	free(s->node_config);
	s->node_config = cfg;
	s->node_config_len = ev->config_len;
	return FSM_OK;
}

int fsm_fold(struct fsm_state *s, const struct fsm_event *ev, struct fsm_out *out)
{
	(void)out;
	assert(ev->kind > FSM_EV_NONE && ev->kind < FSM_EV_KIND_COUNT);
	if (ev->seq <= s->last_seq || ev->ts_ms < s->last_ts_ms)
		return FSM_EORDER;
	if (ev->kind == FSM_EV_NODE_CONFIG) {
		int rc = fold_node_config(s, &ev->u.node_config);
		if (rc != FSM_OK)
			return rc;
	}
	s->kind_counts[ev->kind]++;
	s->last_seq = ev->seq;
	s->last_ts_ms = ev->ts_ms;
	s->last_wall_ms = ev->wall_ms;
	return FSM_OK;
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
