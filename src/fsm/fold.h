/*
 * fsm/fold.h — what the node fold (node.c) and the pod machines (pod.c) share
 * inside one fold call. Not for other modules.
 *
 * A fold call carries the event's time (`now`, ts_ms) and wall clock, and
 * appends commands to `out`. Errors are sticky in `err`: the first allocation
 * failure or overflow is what the call returns.
 */
#ifndef LEDGERLET_FSM_FOLD_H
#define LEDGERLET_FSM_FOLD_H

#include <stdarg.h>

#include "fsm/fsm.h"

struct fold {
	struct fsm_state *s;
	const struct fsm_event *ev;
	struct fsm_out *out;
	uint64_t now;  /* ts_ms of the event */
	uint64_t wall; /* wall_ms of the event */
	int err;       /* FSM_OK, or the first error */
};

/* Appends a command whose id is printf-formatted; NULL (and f->err set) when it
 * cannot. Strings of the command must be set with fold_str. */
struct fsm_command *fold_cmd(struct fold *f, enum fsm_cmd_kind kind, const char *pod_uid,
			     const char *id_fmt, ...) __attribute__((format(printf, 4, 5)));
/* A copy of s in the out arena ("" on failure, with f->err set). */
const char *fold_str(struct fold *f, const char *s, size_t n);
struct fsm_buf;
/* b as c's body (c NULL or b empty: nothing). */
void fold_body(struct fold *f, struct fsm_command *c, const struct fsm_buf *b);
/* {"id": id} as c's body: the runtime object a stop or remove acts on. */
void fold_id_body(struct fold *f, struct fsm_command *c, const char *id);

/* Timers are data (DESIGN.md contract 3). Keys are "<what>/<uid>[/<name>]". */
void fold_timer_set(struct fold *f, const char *pod_uid, const char *key, uint64_t due_ms);
void fold_timer_cancel(struct fold *f, const char *pod_uid, const char *key);

/* pod.c */
struct fsm_pod *pod_create(struct fold *f, struct fsm_pod_spec *spec, const char *source);
void pod_update(struct fold *f, struct fsm_pod *p, struct fsm_pod_spec *spec);
void pod_delete(struct fold *f, struct fsm_pod *p, int64_t grace_s, bool remove);
void pod_evict(struct fold *f, struct fsm_pod *p, const char *message);
void pod_sync(struct fold *f, struct fsm_pod *p);
void pod_pending(struct fold *f, struct fsm_pod *p);
void pod_on_effect(struct fold *f, struct fsm_pod *p, const char *verb, const char *rest);
void pod_on_timer(struct fold *f, struct fsm_pod *p, const char *what, const char *rest);
void pod_on_container(struct fold *f, struct fsm_pod *p, const struct fsm_ev_cri_container *c);
void pod_on_sandbox(struct fold *f, struct fsm_pod *p, const struct fsm_ev_cri_sandbox *sb);
void pod_on_probe(struct fold *f, struct fsm_pod *p, const struct fsm_ev_probe *pr);
void pod_on_image(struct fold *f, struct fsm_pod *p, const char *image);
struct fsm_buf;
/* "pod":{"name","namespace","uid"} of the pod, for executors' labels and paths. */
void pod_put_ref(struct fsm_buf *b, const struct fsm_pod *p);
/* ,"pod_meta":{labels, annotations, serviceAccountName} of the pod: what the
 * downward API may read beyond the pod's name. */
void pod_put_meta(struct fsm_buf *b, const struct fsm_pod *p);

/* node.c */
bool node_image_present(const struct fsm_state *s, const char *image);
bool node_static_blocked(const struct fsm_state *s, const struct fsm_pod *p);
/* The ref of an image known present, or NULL. */
const char *node_image_ref(const struct fsm_state *s, const char *image);
/* Admission: "" when the pod may run, else the kubelet's reason and message. */
void node_admit(const struct fsm_state *s, const struct fsm_pod *p, char *reason,
		size_t reason_len, char *message, size_t message_len);
/* Whether a hard eviction threshold of a signal starting with prefix
 * ("memory.", "nodefs.", "pid.") is crossed. */
bool node_pressed(const struct fsm_state *s, const char *prefix);
/* resource.Quantity's canonical BinarySI form of bytes ("10Gi", "1536Ki"). */
void fsm_format_quantity(int64_t bytes, char *out, size_t n);
/* An API Pod added, changed or listed (not a mirror pod). */
void api_pod_upsert(struct fold *f, const char *json, size_t len);
/* An API pod the API no longer has: stopped and removed. */
void api_pod_gone(struct fold *f, struct fsm_pod *p);

/* api.c: the node's side of the API (see there). No-ops unless cfg.api. */
void api_node_sync(struct fold *f);
bool api_pod_object(struct fold *f, enum fsm_watch_type type, const char *json, size_t len);
bool api_pod_list(struct fold *f, const char *json, size_t len);
void api_pod_after_sync(struct fold *f, struct fsm_pod *p);
void api_mirror_ensure(struct fold *f, struct fsm_pod *p);
void api_mirror_drop(struct fold *f, struct fsm_pod *p);
void api_event(struct fold *f, struct fsm_pod *p, int ctr, const char *type, const char *reason,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
bool api_on_effect(struct fold *f, const char *verb, const char *uid, const char *rest);
bool api_on_timer(struct fold *f, const char *key);
/* A cri.status event: the runtime's health, for the node's Ready condition. */
void api_on_cri_status(struct fold *f, const struct fsm_ev_cri_status *st);
void api_pending(struct fold *f);
/* pod.c: the pod's status sent again as it stands (a new version), or re-issued
 * under its current version after a restart. */
void api_pod_status_again(struct fold *f, struct fsm_pod *p);
void api_pod_status_emit(struct fold *f, struct fsm_pod *p);


#endif
