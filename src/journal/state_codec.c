/*
 * journal/state_codec.c — the fold's state <-> the FsmState record of a snapshot
 * (DESIGN.md contract 6). Field by field, both ways; what the fold derives from
 * JSON (the node configuration, each pod's spec) travels as that JSON and is
 * decoded again by the fold's own decoders on load.
 *
 * Encoding builds the protobuf-c messages in an arena that lives until the
 * snapshot is packed; decoding copies everything into the state's own memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "journal/state_codec.h"
#include "fsm/volume.h"

typedef Ledgerlet__Journal__FsmState PbFsmState;
typedef Ledgerlet__Journal__PodState PbPod;
typedef Ledgerlet__Journal__CtrState PbCtr;
typedef Ledgerlet__Journal__Terminated PbTerm;
typedef Ledgerlet__Journal__ProbeState PbProbe;
typedef Ledgerlet__Journal__CondState PbCond;
typedef Ledgerlet__Journal__StaleState PbStale;
typedef Ledgerlet__Journal__Pressure PbPressure;
typedef Ledgerlet__Journal__Image PbImage;

#define NEW(a, T) ((T *)fsm_arena_alloc((a), sizeof(T)))

static char *s_out(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

static PbTerm *term_out(struct fsm_arena *a, const struct fsm_terminated *t)
{
	PbTerm *m = NEW(a, PbTerm);
	if (m == NULL)
		return NULL;
	ledgerlet__journal__terminated__init(m);
	m->set = t->set;
	m->exit_code = t->exit_code;
	m->reason = s_out(t->reason);
	m->message = s_out(t->message);
	m->started_wall_ms = t->started_wall_ms;
	m->finished_wall_ms = t->finished_wall_ms;
	m->id = s_out(t->id);
	return m;
}

static PbProbe *probe_out(struct fsm_arena *a, const struct fsm_probe_state *p)
{
	PbProbe *m = NEW(a, PbProbe);
	if (m == NULL)
		return NULL;
	ledgerlet__journal__probe_state__init(m);
	m->active = p->active;
	m->successes = p->successes;
	m->failures = p->failures;
	return m;
}

static PbCtr *ctr_out(struct fsm_arena *a, const struct fsm_ctr *c)
{
	PbCtr *m = NEW(a, PbCtr);
	if (m == NULL)
		return NULL;
	ledgerlet__journal__ctr_state__init(m);
	m->stage = c->stage;
	m->attempt = c->attempt;
	m->ever_started = c->ever_started;
	m->id = s_out(c->id);
	m->image_ref = s_out(c->image_ref);
	m->spec_hash = c->spec_hash;
	m->started_wall_ms = c->started_wall_ms;
	m->waiting_reason = s_out(c->waiting_reason);
	m->waiting_message = s_out(c->waiting_message);
	m->term = term_out(a, &c->term);
	m->last_term = term_out(a, &c->last_term);
	m->exited_ts_ms = c->exited_ts_ms;
	m->backoff_ms = c->backoff_ms;
	m->backoff_updated_ts_ms = c->backoff_updated_ts_ms;
	m->backoff_armed = c->backoff_armed;
	m->retry_after_ts_ms = c->retry_after_ts_ms;
	m->pull_backoff_ms = c->pull_backoff_ms;
	m->pull_backoff_updated_ts_ms = c->pull_backoff_updated_ts_ms;
	m->pulls = c->pulls;
	m->image_ready = c->image_ready;
	m->kill_reason = c->kill_reason;
	m->kill_deadline_ts_ms = c->kill_deadline_ts_ms;
	m->prestop_done = c->prestop_done;
	m->poststart_done = c->poststart_done;
	m->started = c->started;
	m->ready = c->ready;
	m->liveness = probe_out(a, &c->liveness);
	m->readiness = probe_out(a, &c->readiness);
	m->startup = probe_out(a, &c->startup);
	if (m->term == NULL || m->last_term == NULL || m->liveness == NULL || m->readiness == NULL ||
	    m->startup == NULL)
		return NULL;
	return m;
}

static PbPod *pod_out(struct fsm_arena *a, const struct fsm_pod *p)
{
	PbPod *m = NEW(a, PbPod);
	if (m == NULL)
		return NULL;
	ledgerlet__journal__pod_state__init(m);
	m->spec_json.data = (uint8_t *)p->spec.json;
	m->spec_json.len = p->spec.json_len;
	m->uid = s_out(p->spec.uid);
	m->name = s_out(p->spec.name);
	m->namespace_ = s_out(p->spec.namespace_);
	m->is_static = p->spec.is_static;
	m->deletion_wall_ms = p->spec.deletion_wall_ms;
	m->deletion_grace_s = p->spec.deletion_grace_s;
	m->source = s_out(p->source);
	m->stage = p->stage;
	m->phase = s_out(p->phase);
	m->api_phase = s_out(p->api_phase);
	m->reason = s_out(p->reason);
	m->message = s_out(p->message);
	m->admitted_ts_ms = p->admitted_ts_ms;
	m->start_wall_ms = p->start_wall_ms;
	m->sb_stage = p->sb_stage;
	m->sb_attempt = p->sb_attempt;
	m->sb_id = s_out(p->sb_id);
	m->sb_ip = s_out(p->sb_ip);
	m->sb_ever_created = p->sb_ever_created;
	m->sb_retry_after_ts_ms = p->sb_retry_after_ts_ms;
	m->deleting = p->deleting;
	m->remove_when_stopped = p->remove_when_stopped;
	m->kill_deadline_ts_ms = p->kill_deadline_ts_ms;
	m->terminated_wall_ms = p->terminated_wall_ms;
	m->kill_grace_s = p->kill_grace_s;
	m->status_hash = p->status_hash;
	m->status_version = p->status_version;
	m->status_acked = p->status_acked;
	m->mirror_uid = s_out(p->mirror_uid);
	m->mirror_n = p->mirror_n;
	m->mirror_creating = p->mirror_creating;
	m->api_delete_sent = p->api_delete_sent;
	m->nevents = p->nevents;
	m->vol_n = p->vol_n;
	m->vol_ready = p->vol_ready;
	m->vol_busy = p->vol_busy;
	m->vol_again = p->vol_again;
	m->vol_down = p->vol_down;
	m->vol_retry_ts_ms = p->vol_retry_ts_ms;
	m->vol_backoff_ms = p->vol_backoff_ms;
	m->vol_token_ts_ms = p->vol_token_ts_ms;
	m->usage_memory_bytes = p->usage_memory_bytes;
	m->usage_disk_bytes = p->usage_disk_bytes;
	m->usage_inodes = p->usage_inodes;
	m->usage_pids = p->usage_pids;
	m->n_conds = FSM_CONDS;
	m->conds = fsm_arena_alloc(a, FSM_CONDS * sizeof(*m->conds));
	m->n_ctrs = p->spec.ncontainers;
	m->ctrs = fsm_arena_alloc(a, (p->spec.ncontainers + 1) * sizeof(*m->ctrs));
	if (m->conds == NULL || m->ctrs == NULL)
		return NULL;
	for (size_t i = 0; i < FSM_CONDS; i++) {
		PbCond *c = NEW(a, PbCond);
		if (c == NULL)
			return NULL;
		ledgerlet__journal__cond_state__init(c);
		c->status = p->conds[i].status;
		c->transition_wall_ms = p->conds[i].transition_wall_ms;
		m->conds[i] = c;
	}
	for (size_t i = 0; i < p->spec.ncontainers; i++)
		if ((m->ctrs[i] = ctr_out(a, &p->ctrs[i])) == NULL)
			return NULL;
	m->n_stale = p->nstale;
	m->stale = fsm_arena_alloc(a, (p->nstale + 1) * sizeof(*m->stale));
	if (m->stale == NULL)
		return NULL;
	for (size_t i = 0; i < p->nstale; i++) {
		PbStale *o = NEW(a, PbStale);
		if (o == NULL)
			return NULL;
		ledgerlet__journal__stale_state__init(o);
		o->id = s_out(p->stale[i].id);
		o->ctr = s_out(p->stale[i].ctr);
		o->attempt = p->stale[i].attempt;
		o->live = p->stale[i].live;
		o->step = (uint32_t)p->stale[i].step;
		o->retry_ts_ms = p->stale[i].retry_ts_ms;
		m->stale[i] = o;
	}
	return m;
}

static int node_out(struct fsm_arena *a, const struct fsm_api_node *n, Ledgerlet__Journal__FsmState *ps)
{
	Ledgerlet__Journal__ApiNode *m = NEW(a, Ledgerlet__Journal__ApiNode);
	PbCond **conds = fsm_arena_alloc(a, FSM_NODE_CONDS * sizeof(*conds));
	if (m == NULL || conds == NULL)
		return -ENOMEM;
	ledgerlet__journal__api_node__init(m);
	m->registered = n->registered;
	m->registering = n->registering;
	m->uid = s_out(n->uid);
	m->register_n = n->register_n;
	m->lease_n = n->lease_n;
	m->status_hash = n->status_hash;
	m->status_version = n->status_version;
	m->status_acked = n->status_acked;
	m->status_sent_ts_ms = n->status_sent_ts_ms;
	m->runtime_fail_ts_ms = n->runtime_fail_ts_ms;
	m->runtime_down = n->runtime_down;
	m->runtime_error = s_out(n->runtime_error);
	m->network_error = s_out(n->network_error);
	m->nevents = n->nevents;
	m->n_conds = FSM_NODE_CONDS;
	m->conds = conds;
	for (size_t i = 0; i < FSM_NODE_CONDS; i++) {
		PbCond *c = NEW(a, PbCond);
		if (c == NULL)
			return -ENOMEM;
		ledgerlet__journal__cond_state__init(c);
		c->status = n->cond[i];
		c->transition_wall_ms = n->cond_transition_wall_ms[i];
		conds[i] = c;
	}
	ps->node = m;
	return 0;
}

static void node_in(struct fsm_api_node *n, const Ledgerlet__Journal__ApiNode *m)
{
	if (m == NULL)
		return;
	n->registered = m->registered;
	n->registering = m->registering;
	COPY(n->uid, m->uid);
	n->register_n = m->register_n;
	n->lease_n = m->lease_n;
	n->status_hash = m->status_hash;
	n->status_version = m->status_version;
	n->status_acked = m->status_acked;
	n->status_sent_ts_ms = m->status_sent_ts_ms;
	n->runtime_fail_ts_ms = m->runtime_fail_ts_ms;
	n->runtime_down = m->runtime_down;
	COPY(n->runtime_error, m->runtime_error);
	COPY(n->network_error, m->network_error);
	n->nevents = m->nevents;
	for (size_t i = 0; i < m->n_conds && i < FSM_NODE_CONDS; i++) {
		n->cond[i] = m->conds[i]->status;
		n->cond_transition_wall_ms[i] = m->conds[i]->transition_wall_ms;
	}
}

int jnl_state_to_pb(const struct fsm_state *s, Ledgerlet__Journal__FsmState *ps,
		    struct fsm_arena *a)
{
	ledgerlet__journal__fsm_state__init(ps);
	ps->last_seq = s->last_seq;
	ps->last_ts_ms = s->last_ts_ms;
	ps->last_wall_ms = s->last_wall_ms;
	if (s->node_config != NULL) {
		ps->node_config.data = (uint8_t *)s->node_config;
		ps->node_config.len = s->node_config_len;
	}
	ps->n_kind_counts = FSM_EV_KIND_COUNT;
	ps->kind_counts = (uint64_t *)s->kind_counts;
	ps->n_pressure = s->npressure;
	ps->pressure = fsm_arena_alloc(a, (s->npressure + 1) * sizeof(*ps->pressure));
	ps->n_images = s->nimages;
	ps->images = fsm_arena_alloc(a, (s->nimages + 1) * sizeof(*ps->images));
	ps->n_pods = s->npods;
	ps->pods = fsm_arena_alloc(a, (s->npods + 1) * sizeof(*ps->pods));
	if (ps->pressure == NULL || ps->images == NULL || ps->pods == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->npressure; i++) {
		PbPressure *m = NEW(a, PbPressure);
		if (m == NULL)
			return -ENOMEM;
		ledgerlet__journal__pressure__init(m);
		m->signal = s_out(s->pressure[i].signal);
		m->value = s->pressure[i].value;
		m->capacity = s->pressure[i].capacity;
		ps->pressure[i] = m;
	}
	for (size_t i = 0; i < s->nimages; i++) {
		PbImage *m = NEW(a, PbImage);
		if (m == NULL)
			return -ENOMEM;
		ledgerlet__journal__image__init(m);
		m->name = s_out(s->images[i].name);
		m->ref = s_out(s->images[i].ref);
		ps->images[i] = m;
	}
	for (size_t i = 0; i < s->npods; i++)
		if ((ps->pods[i] = pod_out(a, s->pods[i])) == NULL)
			return -ENOMEM;
	ps->n_timers = s->ntimers;
	ps->timers = fsm_arena_alloc(a, (s->ntimers + 1) * sizeof(*ps->timers));
	if (ps->timers == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->ntimers; i++) {
		Ledgerlet__Journal__ArmedTimer *m = NEW(a, Ledgerlet__Journal__ArmedTimer);
		if (m == NULL)
			return -ENOMEM;
		ledgerlet__journal__armed_timer__init(m);
		m->key = s_out(s->timers[i].key);
		m->pod_uid = s_out(s->timers[i].pod_uid);
		m->due_ms = s->timers[i].due_ms;
		ps->timers[i] = m;
	}
	ps->n_objects = s->nobjects;
	ps->objects = fsm_arena_alloc(a, (s->nobjects + 1) * sizeof(*ps->objects));
	if (ps->objects == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->nobjects; i++) {
		Ledgerlet__Journal__ObjectState *m = NEW(a, Ledgerlet__Journal__ObjectState);
		if (m == NULL)
			return -ENOMEM;
		ledgerlet__journal__object_state__init(m);
		m->secret = s->objects[i].secret;
		m->namespace_ = s_out(s->objects[i].namespace_);
		m->name = s_out(s->objects[i].name);
		m->hash = s_out(s->objects[i].hash);
		ps->objects[i] = m;
	}
	return node_out(a, &s->node, ps);
}

/* ---- decoding ---- */

static void term_in(struct fsm_terminated *t, const PbTerm *m)
{
	memset(t, 0, sizeof(*t));
	if (m == NULL)
		return;
	t->set = m->set;
	t->exit_code = m->exit_code;
	COPY(t->reason, m->reason);
	COPY(t->message, m->message);
	t->started_wall_ms = m->started_wall_ms;
	t->finished_wall_ms = m->finished_wall_ms;
	COPY(t->id, m->id);
}

static void probe_in(struct fsm_probe_state *p, const PbProbe *m)
{
	memset(p, 0, sizeof(*p));
	if (m == NULL)
		return;
	p->active = m->active;
	p->successes = m->successes;
	p->failures = m->failures;
}

static void ctr_in(struct fsm_ctr *c, const PbCtr *m)
{
	c->stage = (enum fsm_ctr_stage)m->stage;
	c->attempt = m->attempt;
	c->ever_started = m->ever_started;
	COPY(c->id, m->id);
	COPY(c->image_ref, m->image_ref);
	c->spec_hash = m->spec_hash;
	c->started_wall_ms = m->started_wall_ms;
	COPY(c->waiting_reason, m->waiting_reason);
	COPY(c->waiting_message, m->waiting_message);
	term_in(&c->term, m->term);
	term_in(&c->last_term, m->last_term);
	c->exited_ts_ms = m->exited_ts_ms;
	c->backoff_ms = m->backoff_ms;
	c->backoff_updated_ts_ms = m->backoff_updated_ts_ms;
	c->backoff_armed = m->backoff_armed;
	c->retry_after_ts_ms = m->retry_after_ts_ms;
	c->pull_backoff_ms = m->pull_backoff_ms;
	c->pull_backoff_updated_ts_ms = m->pull_backoff_updated_ts_ms;
	c->pulls = m->pulls;
	c->image_ready = m->image_ready;
	c->kill_reason = (enum fsm_kill_reason)m->kill_reason;
	c->kill_deadline_ts_ms = m->kill_deadline_ts_ms;
	c->prestop_done = m->prestop_done;
	c->poststart_done = m->poststart_done;
	c->started = m->started;
	c->ready = m->ready;
	probe_in(&c->liveness, m->liveness);
	probe_in(&c->readiness, m->readiness);
	probe_in(&c->startup, m->startup);
}

static int replace(char **dst, const char *src)
{
	char *c = strdup(src ? src : "");
	if (c == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int pod_in(struct fsm_pod **out, const PbPod *m, char *why, size_t why_len)
{
	struct fsm_pod *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	char err[200];
	if (fsm_pod_decode((const char *)m->spec_json.data, m->spec_json.len, &p->spec, err,
			   sizeof(err)) != 0) {
		snprintf(why, why_len, "pod %s: its spec does not decode: %s", m->uid, err);
		free(p);
		return JNL_EDECODE;
	}
	int rc = replace(&p->spec.uid, m->uid);
	rc = rc ? rc : replace(&p->spec.name, m->name);
	rc = rc ? rc : replace(&p->spec.namespace_, m->namespace_);
	p->source = strdup(m->source ? m->source : "");
	p->ctrs = calloc(p->spec.ncontainers ? p->spec.ncontainers : 1, sizeof(*p->ctrs));
	if (rc != 0 || p->source == NULL || p->ctrs == NULL) {
		fsm_pod_free(p);
		return -ENOMEM;
	}
	if (m->n_ctrs != p->spec.ncontainers || m->n_conds != FSM_CONDS) {
		snprintf(why, why_len, "pod %s: %zu container states for %zu containers", m->uid,
			 m->n_ctrs, p->spec.ncontainers);
		fsm_pod_free(p);
		return JNL_EDECODE;
	}
	p->spec.is_static = m->is_static;
	p->spec.deletion_wall_ms = m->deletion_wall_ms;
	p->spec.deletion_grace_s = m->deletion_grace_s;
	p->stage = (enum fsm_pod_stage)m->stage;
	COPY(p->phase, m->phase);
	COPY(p->api_phase, m->api_phase);
	COPY(p->reason, m->reason);
	COPY(p->message, m->message);
	p->admitted_ts_ms = m->admitted_ts_ms;
	p->start_wall_ms = m->start_wall_ms;
	p->sb_stage = (enum fsm_sandbox_stage)m->sb_stage;
	p->sb_attempt = m->sb_attempt;
	COPY(p->sb_id, m->sb_id);
	COPY(p->sb_ip, m->sb_ip);
	p->sb_ever_created = m->sb_ever_created;
	p->sb_retry_after_ts_ms = m->sb_retry_after_ts_ms;
	p->deleting = m->deleting;
	p->remove_when_stopped = m->remove_when_stopped;
	p->kill_deadline_ts_ms = m->kill_deadline_ts_ms;
	p->terminated_wall_ms = m->terminated_wall_ms;
	p->kill_grace_s = m->kill_grace_s;
	p->status_hash = m->status_hash;
	p->status_version = m->status_version;
	p->status_acked = m->status_acked;
	COPY(p->mirror_uid, m->mirror_uid);
	p->mirror_n = m->mirror_n;
	p->mirror_creating = m->mirror_creating;
	p->api_delete_sent = m->api_delete_sent;
	p->nevents = m->nevents;
	p->vol_n = m->vol_n;
	p->vol_ready = m->vol_ready;
	p->vol_busy = m->vol_busy;
	p->vol_again = m->vol_again;
	p->vol_down = (uint8_t)(m->vol_down <= FSM_VOL_DOWN_DONE ? m->vol_down : FSM_VOL_DOWN_NONE);
	p->vol_retry_ts_ms = m->vol_retry_ts_ms;
	p->vol_backoff_ms = m->vol_backoff_ms;
	p->vol_token_ts_ms = m->vol_token_ts_ms;
	p->usage_memory_bytes = m->usage_memory_bytes;
	p->usage_disk_bytes = m->usage_disk_bytes;
	p->usage_inodes = m->usage_inodes;
	p->usage_pids = m->usage_pids;
	for (size_t i = 0; i < FSM_CONDS; i++) {
		p->conds[i].status = m->conds[i]->status;
		p->conds[i].transition_wall_ms = m->conds[i]->transition_wall_ms;
	}
	for (size_t i = 0; i < p->spec.ncontainers; i++)
		ctr_in(&p->ctrs[i], m->ctrs[i]);
	p->nstale = 0;
	for (size_t i = 0; i < m->n_stale && i < FSM_STALE_MAX; i++) {
		struct fsm_stale *o = &p->stale[p->nstale++];
		COPY(o->id, m->stale[i]->id);
		COPY(o->ctr, m->stale[i]->ctr);
		o->attempt = m->stale[i]->attempt;
		o->live = m->stale[i]->live;
		o->step = (enum fsm_stale_step)m->stale[i]->step;
		o->retry_ts_ms = m->stale[i]->retry_ts_ms;
	}
	*out = p;
	return 0;
}

int jnl_state_from_pb(struct fsm_state *s, const Ledgerlet__Journal__FsmState *ps, char *why,
		      size_t why_len)
{
	fsm_state_init(s);
	if (ps->n_kind_counts > FSM_EV_KIND_COUNT || ps->n_pressure > FSM_SIGNALS_MAX) {
		snprintf(why, why_len, "more counters or signals than this build keeps");
		return JNL_EDECODE;
	}
	s->last_seq = ps->last_seq;
	s->last_ts_ms = ps->last_ts_ms;
	s->last_wall_ms = ps->last_wall_ms;
	for (size_t i = 0; i < ps->n_kind_counts; i++)
		s->kind_counts[i] = ps->kind_counts[i];
	if (ps->node_config.len > 0 &&
	    fsm_node_config_apply(s, (const char *)ps->node_config.data, ps->node_config.len) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < ps->n_pressure; i++) {
		struct fsm_pressure *p = &s->pressure[s->npressure++];
		COPY(p->signal, ps->pressure[i]->signal);
		p->value = ps->pressure[i]->value;
		p->capacity = ps->pressure[i]->capacity;
	}
	for (size_t i = 0; i < ps->n_images; i++)
		if (fsm_image_add(s, ps->images[i]->name, ps->images[i]->ref) != FSM_OK)
			return -ENOMEM;
	if (ps->n_pods > 0) {
		s->pods = calloc(ps->n_pods, sizeof(*s->pods));
		if (s->pods == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ps->n_pods; i++) {
		int rc = pod_in(&s->pods[i], ps->pods[i], why, why_len);
		if (rc != 0)
			return rc;
		s->npods++;
		if (i > 0 && strcmp(s->pods[i - 1]->spec.uid, s->pods[i]->spec.uid) >= 0) {
			snprintf(why, why_len, "pods are not sorted by uid");
			return JNL_EDECODE;
		}
	}
	node_in(&s->node, ps->node);
	for (size_t i = 0; i < ps->n_timers; i++) {
		const Ledgerlet__Journal__ArmedTimer *t = ps->timers[i];
		int rc = fsm_timer_add(s, t->key, t->pod_uid, t->due_ms);
		if (rc != 0)
			return rc == FSM_ENOMEM ? -ENOMEM : JNL_EDECODE;
	}
	for (size_t i = 0; i < ps->n_objects; i++) {
		const Ledgerlet__Journal__ObjectState *o = ps->objects[i];
		bool changed;
		if (fsm_object_put(s, o->secret, o->namespace_, o->name, o->hash,
				   &changed) != 0)
			return -ENOMEM;
	}
	return 0;
}
