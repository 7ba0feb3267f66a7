/*
 * journal/codec.c — protobuf-c records <-> plain C (see codec.h).
 *
 * Encoding builds the protobuf-c message on the stack, pointing at the caller's
 * strings (nothing is copied), and packs it once. Decoding unpacks with an
 * allocator that draws from the caller's arena, so reading a record costs no
 * malloc/free in steady state; the fsm structs then point into the message.
 */
#include "journal/codec.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/hash.h"
#include "journal/state_codec.h"
#include "schemas/journal.pb-c.h"

/* Shorter names for the generated types (aliases, not new types). */
typedef Ledgerlet__Journal__Event PbEvent;
typedef Ledgerlet__Journal__Entry PbEntry;
typedef Ledgerlet__Journal__Command PbCommand;
typedef Ledgerlet__Journal__Decision PbDecision;
typedef Ledgerlet__Journal__Meta PbMeta;
typedef Ledgerlet__Journal__Snapshot PbSnapshot;
typedef Ledgerlet__Journal__FsmState PbFsmState;

/* Event.payload field numbers are the fsm kinds shifted by this. */
#define PAYLOAD_BASE 9

int jnl_buf_reserve(struct jnl_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	unsigned char *p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void jnl_buf_free(struct jnl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64le(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t jnl_frame_hash(const void *frame)
{
	return get64le(frame);
}

int jnl_frame_check(const void *frame, size_t len, uint64_t *hash)
{
	if (len < JNL_FRAME_HDR)
		return JNL_ECHECKSUM;
	const unsigned char *p = frame;
	uint64_t want = get64le(p);
	uint64_t got = jnl_hash64(0, p + JNL_FRAME_HDR, len - JNL_FRAME_HDR);
	if (want != got)
		return JNL_ECHECKSUM;
	*hash = got;
	return 0;
}

/* Packs msg as a frame at the end of out. */
static int frame_pack(struct jnl_buf *out, const ProtobufCMessage *msg, uint64_t *hash)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	int rc = jnl_buf_reserve(out, JNL_FRAME_HDR + n);
	if (rc != 0)
		return rc;
	unsigned char *p = out->p + out->len;
	size_t packed = protobuf_c_message_pack(msg, p + JNL_FRAME_HDR);
	assert(packed == n);
	uint64_t h = jnl_hash64(0, p + JNL_FRAME_HDR, n);
	put64le(p, h);
	out->len += JNL_FRAME_HDR + n;
	if (hash != NULL)
		*hash = h;
	return 0;
}

/* ---- arena allocator for unpacking ---- */

static void *arena_pb_alloc(void *data, size_t size)
{
	return fsm_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
	(void)data;
	(void)p; /* the arena is reset as a whole */
}

/* ---- events ---- */

static char *s_out(const char *s)
{
	/* protobuf-c wants char *; packing does not write through it. */
	return (char *)(s != NULL ? s : "");
}

static ProtobufCBinaryData bytes_out(const char *p, size_t n)
{
	ProtobufCBinaryData b = {n, (uint8_t *)(p != NULL ? p : "")};
	return b;
}

/*
 * Storage for one event's payload messages while it is packed. Only the member
 * for the event's kind is used.
 */
union pb_payload {
	Ledgerlet__Journal__ApiPod api_pod;
	Ledgerlet__Journal__FilePod file_pod;
	Ledgerlet__Journal__CriSandbox cri_sandbox;
	Ledgerlet__Journal__CriContainer cri_container;
	Ledgerlet__Journal__CriImage cri_image;
	Ledgerlet__Journal__Probe probe;
	Ledgerlet__Journal__Timer timer;
	Ledgerlet__Journal__Effect effect;
	Ledgerlet__Journal__NodeConfig node_config;
	Ledgerlet__Journal__NodePressure node_pressure;
	Ledgerlet__Journal__PodStats pod_stats;
	Ledgerlet__Journal__Clock clock;
	Ledgerlet__Journal__ApiBackoff api_backoff;
	Ledgerlet__Journal__ApiObject api_object;
	Ledgerlet__Journal__CriStatus cri_status;
};

static void event_to_pb(const struct fsm_event *ev, PbEvent *pe, union pb_payload *u)
{
	ledgerlet__journal__event__init(pe);
	pe->seq = ev->seq;
	pe->ts_ms = ev->ts_ms;
	pe->wall_ms = ev->wall_ms;
	pe->payload_case = (Ledgerlet__Journal__Event__PayloadCase)(ev->kind + PAYLOAD_BASE);
	switch (ev->kind) {
	case FSM_EV_API_POD:
		ledgerlet__journal__api_pod__init(&u->api_pod);
		u->api_pod.type = (Ledgerlet__Journal__WatchType)ev->u.api_pod.type;
		u->api_pod.object = bytes_out(ev->u.api_pod.object, ev->u.api_pod.object_len);
		pe->api_pod = &u->api_pod;
		break;
	case FSM_EV_FILE_POD:
		ledgerlet__journal__file_pod__init(&u->file_pod);
		u->file_pod.path = s_out(ev->u.file_pod.path);
		u->file_pod.object = bytes_out(ev->u.file_pod.object, ev->u.file_pod.object_len);
		u->file_pod.removed = ev->u.file_pod.removed;
		pe->file_pod = &u->file_pod;
		break;
	case FSM_EV_CRI_SANDBOX: {
		const struct fsm_ev_cri_sandbox *s = &ev->u.cri_sandbox;
		ledgerlet__journal__cri_sandbox__init(&u->cri_sandbox);
		u->cri_sandbox.pod_uid = s_out(s->pod_uid);
		u->cri_sandbox.attempt = s->attempt;
		u->cri_sandbox.id = s_out(s->id);
		u->cri_sandbox.state = (Ledgerlet__Journal__SandboxState)s->state;
		u->cri_sandbox.ip = s_out(s->ip);
		pe->cri_sandbox = &u->cri_sandbox;
		break;
	}
	case FSM_EV_CRI_CONTAINER: {
		const struct fsm_ev_cri_container *c = &ev->u.cri_container;
		Ledgerlet__Journal__CriContainer *m = &u->cri_container;
		ledgerlet__journal__cri_container__init(m);
		m->pod_uid = s_out(c->pod_uid);
		m->name = s_out(c->name);
		m->attempt = c->attempt;
		m->id = s_out(c->id);
		m->state = (Ledgerlet__Journal__ContainerState)c->state;
		m->exit_code = c->exit_code;
		m->reason = s_out(c->reason);
		m->message = s_out(c->message);
		m->started_at_ms = c->started_at_ms;
		m->finished_at_ms = c->finished_at_ms;
		pe->cri_container = m;
		break;
	}
	case FSM_EV_CRI_IMAGE:
		ledgerlet__journal__cri_image__init(&u->cri_image);
		u->cri_image.image = s_out(ev->u.cri_image.image);
		u->cri_image.ok = ev->u.cri_image.ok;
		u->cri_image.error = s_out(ev->u.cri_image.error);
		u->cri_image.image_ref = s_out(ev->u.cri_image.image_ref);
		pe->cri_image = &u->cri_image;
		break;
	case FSM_EV_PROBE:
		ledgerlet__journal__probe__init(&u->probe);
		u->probe.pod_uid = s_out(ev->u.probe.pod_uid);
		u->probe.container = s_out(ev->u.probe.container);
		u->probe.probe = (Ledgerlet__Journal__ProbeType)ev->u.probe.probe;
		u->probe.ok = ev->u.probe.ok;
		u->probe.message = s_out(ev->u.probe.message);
		pe->probe = &u->probe;
		break;
	case FSM_EV_TIMER:
		ledgerlet__journal__timer__init(&u->timer);
		u->timer.key = s_out(ev->u.timer.key);
		pe->timer = &u->timer;
		break;
	case FSM_EV_EFFECT:
		ledgerlet__journal__effect__init(&u->effect);
		u->effect.cmd = s_out(ev->u.effect.cmd);
		u->effect.ok = ev->u.effect.ok;
		u->effect.error_class = (Ledgerlet__Journal__ErrorClass)ev->u.effect.error_class;
		u->effect.error = s_out(ev->u.effect.error);
		u->effect.result = s_out(ev->u.effect.result);
		pe->effect = &u->effect;
		break;
	case FSM_EV_NODE_CONFIG:
		ledgerlet__journal__node_config__init(&u->node_config);
		u->node_config.config =
			bytes_out(ev->u.node_config.config, ev->u.node_config.config_len);
		pe->node_config = &u->node_config;
		break;
	case FSM_EV_NODE_PRESSURE:
		ledgerlet__journal__node_pressure__init(&u->node_pressure);
		u->node_pressure.signal = s_out(ev->u.node_pressure.signal);
		u->node_pressure.value = ev->u.node_pressure.value;
		u->node_pressure.capacity = ev->u.node_pressure.capacity;
		pe->node_pressure = &u->node_pressure;
		break;
	case FSM_EV_POD_STATS:
		ledgerlet__journal__pod_stats__init(&u->pod_stats);
		u->pod_stats.pod_uid = s_out(ev->u.pod_stats.pod_uid);
		u->pod_stats.memory_bytes = ev->u.pod_stats.memory_bytes;
		u->pod_stats.disk_bytes = ev->u.pod_stats.disk_bytes;
		u->pod_stats.inodes = ev->u.pod_stats.inodes;
		u->pod_stats.pids = ev->u.pod_stats.pids;
		pe->pod_stats = &u->pod_stats;
		break;
	case FSM_EV_CLOCK:
		ledgerlet__journal__clock__init(&u->clock);
		pe->clock = &u->clock;
		break;
	case FSM_EV_API_BACKOFF:
		ledgerlet__journal__api_backoff__init(&u->api_backoff);
		u->api_backoff.resource = s_out(ev->u.api_backoff.resource);
		u->api_backoff.delay_ms = ev->u.api_backoff.delay_ms;
		u->api_backoff.reason = s_out(ev->u.api_backoff.reason);
		pe->api_backoff = &u->api_backoff;
		break;
	case FSM_EV_API_OBJECT:
		ledgerlet__journal__api_object__init(&u->api_object);
		u->api_object.object_kind = s_out(ev->u.api_object.object_kind);
		u->api_object.namespace_ = s_out(ev->u.api_object.namespace_);
		u->api_object.name = s_out(ev->u.api_object.name);
		u->api_object.resource_version = s_out(ev->u.api_object.resource_version);
		u->api_object.exists = ev->u.api_object.exists;
		u->api_object.hash = s_out(ev->u.api_object.hash);
		pe->api_object = &u->api_object;
		break;
	case FSM_EV_CRI_STATUS:
		ledgerlet__journal__cri_status__init(&u->cri_status);
		u->cri_status.ok = ev->u.cri_status.ok;
		u->cri_status.error = s_out(ev->u.cri_status.error);
		u->cri_status.runtime_ready = ev->u.cri_status.runtime_ready;
		u->cri_status.runtime_reason = s_out(ev->u.cri_status.runtime_reason);
		u->cri_status.runtime_message = s_out(ev->u.cri_status.runtime_message);
		u->cri_status.network_ready = ev->u.cri_status.network_ready;
		u->cri_status.network_reason = s_out(ev->u.cri_status.network_reason);
		u->cri_status.network_message = s_out(ev->u.cri_status.network_message);
		pe->cri_status = &u->cri_status;
		break;
	case FSM_EV_NONE:
		assert(!"event without a kind");
		break;
	}
}

static const char *s_in(const char *s)
{
	return s != NULL ? s : "";
}

/* Returns 0, or -1 with why when the payload is absent or of an unknown kind. */
static int event_from_pb(const PbEvent *pe, struct fsm_event *ev, char *why, size_t why_len)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = pe->seq;
	ev->ts_ms = pe->ts_ms;
	ev->wall_ms = pe->wall_ms;
	int kind = (int)pe->payload_case - PAYLOAD_BASE;
	if (pe->payload_case == LEDGERLET__JOURNAL__EVENT__PAYLOAD__NOT_SET || kind <= 0 ||
	    kind >= FSM_EV_KIND_COUNT) {
		snprintf(why, why_len, "event has no payload this build knows (field %d)",
			 (int)pe->payload_case);
		return -1;
	}
	ev->kind = (enum fsm_event_kind)kind;
	switch (ev->kind) {
	case FSM_EV_API_POD:
		ev->u.api_pod.type = (enum fsm_watch_type)pe->api_pod->type;
		ev->u.api_pod.object = (const char *)pe->api_pod->object.data;
		ev->u.api_pod.object_len = pe->api_pod->object.len;
		break;
	case FSM_EV_FILE_POD:
		ev->u.file_pod.path = s_in(pe->file_pod->path);
		ev->u.file_pod.removed = pe->file_pod->removed;
		if (!pe->file_pod->removed) {
			ev->u.file_pod.object = pe->file_pod->object.data
							? (const char *)pe->file_pod->object.data
							: "";
			ev->u.file_pod.object_len = pe->file_pod->object.len;
		}
		break;
	case FSM_EV_CRI_SANDBOX: {
		const Ledgerlet__Journal__CriSandbox *m = pe->cri_sandbox;
		ev->u.cri_sandbox.pod_uid = s_in(m->pod_uid);
		ev->u.cri_sandbox.attempt = m->attempt;
		ev->u.cri_sandbox.id = s_in(m->id);
		ev->u.cri_sandbox.state = (enum fsm_sandbox_state)m->state;
		ev->u.cri_sandbox.ip = s_in(m->ip);
		break;
	}
	case FSM_EV_CRI_CONTAINER: {
		const Ledgerlet__Journal__CriContainer *m = pe->cri_container;
		struct fsm_ev_cri_container *c = &ev->u.cri_container;
		c->pod_uid = s_in(m->pod_uid);
		c->name = s_in(m->name);
		c->attempt = m->attempt;
		c->id = s_in(m->id);
		c->state = (enum fsm_container_state)m->state;
		c->exit_code = m->exit_code;
		c->reason = s_in(m->reason);
		c->message = s_in(m->message);
		c->started_at_ms = m->started_at_ms;
		c->finished_at_ms = m->finished_at_ms;
		break;
	}
	case FSM_EV_CRI_IMAGE:
		ev->u.cri_image.image = s_in(pe->cri_image->image);
		ev->u.cri_image.ok = pe->cri_image->ok;
		ev->u.cri_image.error = s_in(pe->cri_image->error);
		ev->u.cri_image.image_ref = s_in(pe->cri_image->image_ref);
		break;
	case FSM_EV_PROBE:
		ev->u.probe.pod_uid = s_in(pe->probe->pod_uid);
		ev->u.probe.container = s_in(pe->probe->container);
		ev->u.probe.probe = (enum fsm_probe_type)pe->probe->probe;
		ev->u.probe.ok = pe->probe->ok;
		ev->u.probe.message = s_in(pe->probe->message);
		break;
	case FSM_EV_TIMER:
		ev->u.timer.key = s_in(pe->timer->key);
		break;
	case FSM_EV_EFFECT:
		ev->u.effect.cmd = s_in(pe->effect->cmd);
		ev->u.effect.ok = pe->effect->ok;
		ev->u.effect.error_class = (enum fsm_error_class)pe->effect->error_class;
		ev->u.effect.error = s_in(pe->effect->error);
		ev->u.effect.result = s_in(pe->effect->result);
		break;
	case FSM_EV_NODE_CONFIG:
		ev->u.node_config.config = pe->node_config->config.data
						   ? (const char *)pe->node_config->config.data
						   : "";
		ev->u.node_config.config_len = pe->node_config->config.len;
		break;
	case FSM_EV_NODE_PRESSURE:
		ev->u.node_pressure.signal = s_in(pe->node_pressure->signal);
		ev->u.node_pressure.value = pe->node_pressure->value;
		ev->u.node_pressure.capacity = pe->node_pressure->capacity;
		break;
	case FSM_EV_POD_STATS:
		ev->u.pod_stats.pod_uid = s_in(pe->pod_stats->pod_uid);
		ev->u.pod_stats.memory_bytes = pe->pod_stats->memory_bytes;
		ev->u.pod_stats.disk_bytes = pe->pod_stats->disk_bytes;
		ev->u.pod_stats.inodes = pe->pod_stats->inodes;
		ev->u.pod_stats.pids = pe->pod_stats->pids;
		break;
	case FSM_EV_API_BACKOFF:
		ev->u.api_backoff.resource = s_in(pe->api_backoff->resource);
		ev->u.api_backoff.delay_ms = pe->api_backoff->delay_ms;
		ev->u.api_backoff.reason = s_in(pe->api_backoff->reason);
		break;
	case FSM_EV_API_OBJECT:
		ev->u.api_object.object_kind = s_in(pe->api_object->object_kind);
		ev->u.api_object.namespace_ = s_in(pe->api_object->namespace_);
		ev->u.api_object.name = s_in(pe->api_object->name);
		ev->u.api_object.resource_version = s_in(pe->api_object->resource_version);
		ev->u.api_object.exists = pe->api_object->exists;
		ev->u.api_object.hash = s_in(pe->api_object->hash);
		break;
	case FSM_EV_CRI_STATUS:
		ev->u.cri_status.ok = pe->cri_status->ok;
		ev->u.cri_status.error = s_in(pe->cri_status->error);
		ev->u.cri_status.runtime_ready = pe->cri_status->runtime_ready;
		ev->u.cri_status.runtime_reason = s_in(pe->cri_status->runtime_reason);
		ev->u.cri_status.runtime_message = s_in(pe->cri_status->runtime_message);
		ev->u.cri_status.network_ready = pe->cri_status->network_ready;
		ev->u.cri_status.network_reason = s_in(pe->cri_status->network_reason);
		ev->u.cri_status.network_message = s_in(pe->cri_status->network_message);
		break;
	case FSM_EV_CLOCK:
	case FSM_EV_NONE:
		break;
	}
	if (ev->kind == FSM_EV_API_POD && ev->u.api_pod.object == NULL)
		ev->u.api_pod.object = "";
	return 0;
}

/* ---- entries ---- */

/* Commands per entry packed from the stack; more take the heap. */
#define CMDS_ON_STACK 16

int jnl_codec_entry_encode(struct jnl_buf *out, uint64_t seq, uint64_t prev_hash,
			   const struct fsm_event *ev, const struct fsm_command *cmds, size_t ncmd,
			   uint64_t *hash)
{
	assert(ev->seq == seq);
	PbEvent pe;
	union pb_payload u;
	event_to_pb(ev, &pe, &u);

	PbCommand cmd_stack[CMDS_ON_STACK];
	PbCommand *ptr_stack_store[CMDS_ON_STACK];
	PbCommand *pcmds = cmd_stack;
	PbCommand **pptrs = ptr_stack_store;
	if (ncmd > CMDS_ON_STACK) {
		pcmds = calloc(ncmd, sizeof(*pcmds));
		pptrs = calloc(ncmd, sizeof(*pptrs));
		if (pcmds == NULL || pptrs == NULL) {
			free(pcmds);
			free(pptrs);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < ncmd; i++) {
		const struct fsm_command *c = &cmds[i];
		PbCommand *m = &pcmds[i];
		ledgerlet__journal__command__init(m);
		m->kind = (Ledgerlet__Journal__CommandKind)c->kind;
		m->id = s_out(c->id);
		m->pod_uid = s_out(c->pod_uid);
		m->container = s_out(c->container);
		m->attempt = c->attempt;
		m->key = s_out(c->key);
		m->due_ms = c->due_ms;
		m->timeout_s = c->timeout_s;
		m->image = s_out(c->image);
		m->body = bytes_out(c->body, c->body_len);
		pptrs[i] = m;
	}
	PbDecision dec;
	ledgerlet__journal__decision__init(&dec);
	dec.n_commands = ncmd;
	dec.commands = pptrs;

	PbEntry entry;
	ledgerlet__journal__entry__init(&entry);
	entry.seq = seq;
	entry.prev_hash = prev_hash;
	entry.event = &pe;
	entry.decision = ncmd > 0 ? &dec : NULL;
	int rc = frame_pack(out, &entry.base, hash);
	if (pcmds != cmd_stack) {
		free(pcmds);
		free(pptrs);
	}
	return rc;
}

int jnl_codec_entry_decode(const void *frame, size_t len, struct fsm_arena *arena,
			   struct jnl_entry *e, uint64_t *seq, uint64_t *prev_hash, char *why,
			   size_t why_len)
{
	assert(len >= JNL_FRAME_HDR);
	ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, arena};
	const uint8_t *body = (const uint8_t *)frame + JNL_FRAME_HDR;
	PbEntry *m = ledgerlet__journal__entry__unpack(&alloc, len - JNL_FRAME_HDR, body);
	if (m == NULL) {
		snprintf(why, why_len, "bytes are not an Entry message");
		return JNL_EDECODE;
	}
	if (m->event == NULL) {
		snprintf(why, why_len, "entry has no event");
		return JNL_EDECODE;
	}
	if (event_from_pb(m->event, &e->ev, why, why_len) != 0)
		return JNL_EDECODE;
	*seq = m->seq;
	*prev_hash = m->prev_hash;
	e->cmds = NULL;
	e->ncmd = 0;
	if (m->decision != NULL && m->decision->n_commands > 0) {
		size_t n = m->decision->n_commands;
		struct fsm_command *cmds = fsm_arena_alloc(arena, n * sizeof(*cmds));
		if (cmds == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const PbCommand *pc = m->decision->commands[i];
			cmds[i] = (struct fsm_command){
				.kind = (enum fsm_cmd_kind)pc->kind,
				.id = s_in(pc->id),
				.pod_uid = s_in(pc->pod_uid),
				.container = s_in(pc->container),
				.attempt = pc->attempt,
				.key = s_in(pc->key),
				.due_ms = pc->due_ms,
				.timeout_s = pc->timeout_s,
				.image = s_in(pc->image),
				.body = pc->body.len > 0 ? (const char *)pc->body.data : NULL,
				.body_len = pc->body.len,
			};
		}
		e->cmds = cmds;
		e->ncmd = n;
	}
	e->raw = frame;
	e->raw_len = len;
	return 0;
}

/* ---- meta ---- */

int jnl_codec_meta_encode(struct jnl_buf *out, const struct jnl_meta *m)
{
	PbMeta pm;
	ledgerlet__journal__meta__init(&pm);
	pm.format_version = m->format_version;
	pm.created_wall_ms = m->created_wall_ms;
	pm.base_seq = m->base_seq;
	pm.base_hash = m->base_hash;
	pm.tip_seq = m->tip_seq;
	pm.tip_hash = m->tip_hash;
	pm.tip_ts_ms = m->tip_ts_ms;
	pm.tip_wall_ms = m->tip_wall_ms;
	return frame_pack(out, &pm.base, NULL);
}

int jnl_codec_meta_decode(const void *frame, size_t len, struct jnl_meta *m)
{
	uint64_t h;
	if (jnl_frame_check(frame, len, &h) != 0)
		return JNL_EBADMETA;
	PbMeta *pm = ledgerlet__journal__meta__unpack(
		NULL, len - JNL_FRAME_HDR, (const uint8_t *)frame + JNL_FRAME_HDR);
	if (pm == NULL)
		return JNL_EBADMETA;
	m->format_version = pm->format_version;
	m->created_wall_ms = pm->created_wall_ms;
	m->base_seq = pm->base_seq;
	m->base_hash = pm->base_hash;
	m->tip_seq = pm->tip_seq;
	m->tip_hash = pm->tip_hash;
	m->tip_ts_ms = pm->tip_ts_ms;
	m->tip_wall_ms = pm->tip_wall_ms;
	ledgerlet__journal__meta__free_unpacked(pm, NULL);
	return 0;
}

/* ---- snapshots ---- */

int jnl_codec_snapshot_encode(struct jnl_buf *out, const struct jnl_snap_hdr *h,
			      const struct fsm_state *s)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	PbFsmState ps;
	int rc = jnl_state_to_pb(s, &ps, &a);
	if (rc == 0) {
		PbSnapshot pm;
		ledgerlet__journal__snapshot__init(&pm);
		pm.seq = h->seq;
		pm.entry_hash = h->entry_hash;
		pm.ts_ms = h->ts_ms;
		pm.wall_ms = h->wall_ms;
		pm.fsm_version = h->fsm_version;
		pm.state = &ps;
		rc = frame_pack(out, &pm.base, NULL);
	}
	fsm_arena_free(&a);
	return rc;
}

int jnl_codec_snapshot_decode(const void *frame, size_t len, struct jnl_snap_hdr *h,
			      struct fsm_state *s)
{
	PbSnapshot *pm = ledgerlet__journal__snapshot__unpack(
		NULL, len - JNL_FRAME_HDR, (const uint8_t *)frame + JNL_FRAME_HDR);
	if (pm == NULL)
		return JNL_EDECODE;
	h->seq = pm->seq;
	h->entry_hash = pm->entry_hash;
	h->ts_ms = pm->ts_ms;
	h->wall_ms = pm->wall_ms;
	h->fsm_version = pm->fsm_version;
	int rc = 0;
	if (s != NULL) {
		char why[200];
		if (pm->state == NULL)
			rc = JNL_EDECODE;
		else
			rc = jnl_state_from_pb(s, pm->state, why, sizeof(why));
	}
	ledgerlet__journal__snapshot__free_unpacked(pm, NULL);
	return rc;
}

/* ---- deep copies for the batch ---- */

static int cp(struct fsm_arena *a, const char **s)
{
	if (*s == NULL) {
		*s = "";
		return 0;
	}
	*s = fsm_arena_strdup(a, *s);
	return *s == NULL ? -ENOMEM : 0;
}

static int cpn(struct fsm_arena *a, const char **s, size_t n)
{
	if (*s == NULL)
		return 0;
	*s = fsm_arena_strndup(a, *s, n);
	return *s == NULL ? -ENOMEM : 0;
}

int jnl_codec_event_copy(struct fsm_arena *a, struct fsm_event *d, const struct fsm_event *s)
{
	*d = *s;
	int rc = 0;
	switch (d->kind) {
	case FSM_EV_API_POD:
		rc = cpn(a, &d->u.api_pod.object, d->u.api_pod.object_len);
		break;
	case FSM_EV_FILE_POD:
		rc = cp(a, &d->u.file_pod.path);
		rc = rc ? rc : cpn(a, &d->u.file_pod.object, d->u.file_pod.object_len);
		break;
	case FSM_EV_CRI_SANDBOX:
		rc = cp(a, &d->u.cri_sandbox.pod_uid);
		rc = rc ? rc : cp(a, &d->u.cri_sandbox.id);
		rc = rc ? rc : cp(a, &d->u.cri_sandbox.ip);
		break;
	case FSM_EV_CRI_CONTAINER:
		rc = cp(a, &d->u.cri_container.pod_uid);
		rc = rc ? rc : cp(a, &d->u.cri_container.name);
		rc = rc ? rc : cp(a, &d->u.cri_container.id);
		rc = rc ? rc : cp(a, &d->u.cri_container.reason);
		rc = rc ? rc : cp(a, &d->u.cri_container.message);
		break;
	case FSM_EV_CRI_IMAGE:
		rc = cp(a, &d->u.cri_image.image);
		rc = rc ? rc : cp(a, &d->u.cri_image.error);
		rc = rc ? rc : cp(a, &d->u.cri_image.image_ref);
		break;
	case FSM_EV_PROBE:
		rc = cp(a, &d->u.probe.pod_uid);
		rc = rc ? rc : cp(a, &d->u.probe.container);
		rc = rc ? rc : cp(a, &d->u.probe.message);
		break;
	case FSM_EV_TIMER:
		rc = cp(a, &d->u.timer.key);
		break;
	case FSM_EV_EFFECT:
		rc = cp(a, &d->u.effect.cmd);
		rc = rc ? rc : cp(a, &d->u.effect.error);
		rc = rc ? rc : cp(a, &d->u.effect.result);
		break;
	case FSM_EV_NODE_CONFIG:
		rc = cpn(a, &d->u.node_config.config, d->u.node_config.config_len);
		break;
	case FSM_EV_NODE_PRESSURE:
		rc = cp(a, &d->u.node_pressure.signal);
		break;
	case FSM_EV_POD_STATS:
		rc = cp(a, &d->u.pod_stats.pod_uid);
		break;
	case FSM_EV_API_BACKOFF:
		rc = cp(a, &d->u.api_backoff.resource);
		rc = rc ? rc : cp(a, &d->u.api_backoff.reason);
		break;
	case FSM_EV_API_OBJECT:
		rc = cp(a, &d->u.api_object.object_kind);
		rc = rc ? rc : cp(a, &d->u.api_object.namespace_);
		rc = rc ? rc : cp(a, &d->u.api_object.name);
		rc = rc ? rc : cp(a, &d->u.api_object.resource_version);
		rc = rc ? rc : cp(a, &d->u.api_object.hash);
		break;
	case FSM_EV_CRI_STATUS:
		rc = cp(a, &d->u.cri_status.error);
		rc = rc ? rc : cp(a, &d->u.cri_status.runtime_reason);
		rc = rc ? rc : cp(a, &d->u.cri_status.runtime_message);
		rc = rc ? rc : cp(a, &d->u.cri_status.network_reason);
		rc = rc ? rc : cp(a, &d->u.cri_status.network_message);
		break;
	case FSM_EV_CLOCK:
	case FSM_EV_NONE:
		break;
	}
	return rc;
}

int jnl_codec_commands_copy(struct fsm_arena *a, struct fsm_command **dst,
			    const struct fsm_command *src, size_t n)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	struct fsm_command *c = fsm_arena_alloc(a, n * sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c[i] = src[i];
		int rc = cp(a, &c[i].id);
		rc = rc ? rc : cp(a, &c[i].pod_uid);
		rc = rc ? rc : cp(a, &c[i].container);
		rc = rc ? rc : cp(a, &c[i].key);
		rc = rc ? rc : cp(a, &c[i].image);
		rc = rc ? rc : cpn(a, &c[i].body, c[i].body_len);
		if (rc != 0)
			return rc;
	}
	*dst = c;
	return 0;
}
