/*
 * tools/journal-replay.c — the operator's view into what a node saw and decided.
 *
 * Source: an LMDB journal directory (opened read-only: safe while the daemon
 * writes) or a JSON-lines replay file (DESIGN.md, "The replay file"). The events
 * are folded here, in memory, by the same fold as the daemon's, and:
 *   --status      per pod, {"uid","namespace","name","status"} as the kubelet reports it
 *   --commands    every command, one JSON line: {"seq","ts_ms","id","cmd","pod_uid",...}
 *   --timeline    per event and per decision, one readable line, for the pods asked
 *   --explain ID  the events that led to a command, oldest first
 *   --state       the whole fold state as canonical JSON
 *   --verify      journal: check every record, re-fold and compare each decision
 *                 record byte for byte (the first difference is named by seq)
 *   --info, --export [FILE], --import FILE --journal DIR
 * Selection: --until SEQ, --until-ts MS, --pod NS/NAME or --pod UID.
 * --auto-timers fires each timer the fold set when time passes its due time, so
 * a replay file needs no timer events.
 *
 * Exit codes: 0 ok, 1 a difference or damage was found, 2 bad input or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsm/buf.h"
#include "fsm/event_json.h"
#include "fsm/fsm.h"
#include "fsm/status.h"
#include "journal/journal.h"
#include "replay.h"

enum { EXIT_OK = 0, EXIT_DIFF = 1, EXIT_BAD = 2 };

/* Entries a --import batch holds before it is committed. */
#define IMPORT_BATCH 1024
/* Timers pending at once in --auto-timers; more is bad input. */
#define TIMERS_MAX 65536
/* Events remembered for --explain. */
#define EXPLAIN_EVENTS_MAX 200000

struct opts {
	const char *source;
	const char *journal; /* --import's destination */
	const char *import_file;
	const char *export_file;
	const char *explain;
	const char *pod;
	uint64_t until_seq, until_ts;
	bool info, verify, export_, status, commands, timeline, state, auto_timers;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: journal-replay SOURCE [--status] [--commands] [--timeline] [--state]\n"
		"                      [--explain CMD_ID] [--auto-timers] [--until SEQ]\n"
		"                      [--until-ts MS] [--pod NS/NAME|UID]\n"
		"       journal-replay JOURNAL_DIR --info | --verify | --export [FILE]\n"
		"       journal-replay --import FILE --journal DIR\n"
		"SOURCE is a journal directory or a JSON-lines file (--events FILE also works).\n");
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int open_ro(const char *dir, struct jnl **j)
{
	struct jnl_options ro = {.readonly = true};
	struct jnl_damage d;
	int rc = jnl_open(j, dir, &ro, &d);
	if (rc != 0)
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what[0] ? d.what : jnl_strerror(rc));
	return rc;
}

/* ---- event sources ---- */

struct source {
	const char *name;
	/* a file */
	FILE *f;
	char *line;
	size_t cap;
	long lineno;
	struct fsm_arena arena;
	uint64_t seq, ts_floor; /* assigned as the journal would */
	/* a journal */
	struct jnl *j;
	struct jnl_iter *it;
	struct jnl_entry e;
};

/* 0 with *ev, 1 at the end, or EXIT_BAD / EXIT_DIFF after saying why. */
static int source_next(struct source *s, struct fsm_event *ev, const struct fsm_command **stored,
		       size_t *nstored)
{
	*stored = NULL;
	*nstored = 0;
	if (s->j != NULL) {
		struct jnl_damage d = {0};
		int rc = jnl_iter_next(s->it, &s->e, &d);
		if (rc == JNL_EEND)
			return 1;
		if (rc != 0) {
			fprintf(stderr, "journal-replay: %s: %s\n", s->name,
				d.what[0] ? d.what : jnl_strerror(rc));
			return EXIT_DIFF;
		}
		*ev = s->e.ev;
		*stored = s->e.cmds;
		*nstored = s->e.ncmd;
		return 0;
	}
	ssize_t n;
	while ((n = getline(&s->line, &s->cap, s->f)) >= 0) {
		s->lineno++;
		while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r'))
			s->line[--n] = '\0';
		size_t skip = strspn(s->line, " \t");
		if (s->line[skip] == '\0' || s->line[skip] == '#')
			continue;
		char err[FSM_JSON_ERR_BYTES];
		fsm_arena_reset(&s->arena);
		if (fsm_event_from_json(s->line, (size_t)n, ev, &s->arena, err, sizeof(err)) != 0) {
			fprintf(stderr, "journal-replay: %s:%ld: %s\n", s->name, s->lineno, err);
			return EXIT_BAD;
		}
		if (ev->ts_ms < s->ts_floor)
			ev->ts_ms = s->ts_floor;
		s->ts_floor = ev->ts_ms;
		return 0;
	}
	if (ferror(s->f)) {
		fprintf(stderr, "journal-replay: reading %s: %s\n", s->name, strerror(errno));
		return EXIT_BAD;
	}
	return 1;
}

/* Opens a source; for a journal, *s0 is the state to fold onto (its base snapshot). */
static int source_open(struct source *s, const char *path, struct fsm_state *s0)
{
	memset(s, 0, sizeof(*s));
	s->name = path;
	fsm_state_init(s0);
	if (!is_dir(path)) {
		s->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
		if (s->f == NULL) {
			fprintf(stderr, "journal-replay: cannot read %s: %s\n", path, strerror(errno));
			return EXIT_BAD;
		}
		return EXIT_OK;
	}
	if (open_ro(path, &s->j) != 0)
		return EXIT_BAD;
	if (jnl_base_seq(s->j) > 1) {
		struct jnl_damage d = {0};
		fsm_state_free(s0);
		int rc = jnl_snapshot_get(s->j, jnl_base_seq(s->j) - 1, s0, &d);
		if (rc != 0) {
			fprintf(stderr, "journal-replay: %s: no snapshot at its base (seq %" PRIu64 "): %s\n",
				path, jnl_base_seq(s->j) - 1, d.what[0] ? d.what : jnl_strerror(rc));
			return EXIT_DIFF;
		}
	}
	int rc = jnl_iter_open(s->j, s0->last_seq + 1, &s->it);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", path, jnl_strerror(rc));
		return EXIT_DIFF;
	}
	s->seq = s0->last_seq;
	return EXIT_OK;
}

static void source_close(struct source *s)
{
	if (s->f != NULL && s->f != stdin)
		fclose(s->f);
	free(s->line);
	fsm_arena_free(&s->arena);
	jnl_iter_close(s->it);
	jnl_close(s->j);
}

/* ---- timers for --auto-timers ---- */

struct timer {
	char *key;
	char *pod_uid;
	uint64_t due_ms;
};

struct timers {
	struct timer *v;
	size_t n;
};

static int timers_set(struct timers *t, const char *key, const char *uid, uint64_t due)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0) {
			t->v[i].due_ms = due;
			return 0;
		}
	if (t->n >= TIMERS_MAX)
		return -1;
	struct timer *v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	t->v = v;
	v[t->n].key = strdup(key);
	v[t->n].pod_uid = strdup(uid);
	v[t->n].due_ms = due;
	t->n++;
	return 0;
}

static void timers_cancel(struct timers *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0) {
			free(t->v[i].key);
			free(t->v[i].pod_uid);
			t->v[i] = t->v[--t->n];
			return;
		}
}

/* The earliest due timer at or before `until` (ties: smaller key), or -1. */
static long timers_due(const struct timers *t, uint64_t until)
{
	long best = -1;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].due_ms > until)
			continue;
		if (best < 0 || t->v[i].due_ms < t->v[best].due_ms ||
		    (t->v[i].due_ms == t->v[best].due_ms && strcmp(t->v[i].key, t->v[best].key) < 0))
			best = (long)i;
	}
	return best;
}

static void timers_free(struct timers *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key);
		free(t->v[i].pod_uid);
	}
	free(t->v);
}

/* ---- the driver ---- */

/* What --explain keeps of each folded event. */
struct seen {
	uint64_t seq, ts_ms;
	char *line;     /* the event as a JSON line */
	char *pod_uid;  /* the pod it concerns ("" when none) */
	char *cmd;      /* for effects: the command id it completes */
};

struct run {
	const struct opts *o;
	struct fsm_state s;
	struct fsm_out out;
	struct fsm_buf buf;
	struct timers timers;
	char pod_uid[128]; /* resolved --pod, "" for every pod */
	struct seen *seen;
	size_t nseen;
	int result;
	bool stop;
	/* --explain: the seq whose fold issued the command */
	uint64_t explain_seq;
};

static const char *event_pod_uid(const struct fsm_event *ev)
{
	switch (ev->kind) {
	case FSM_EV_CRI_SANDBOX:
		return ev->u.cri_sandbox.pod_uid;
	case FSM_EV_CRI_CONTAINER:
		return ev->u.cri_container.pod_uid;
	case FSM_EV_PROBE:
		return ev->u.probe.pod_uid;
	case FSM_EV_POD_STATS:
		return ev->u.pod_stats.pod_uid;
	default:
		return "";
	}
}

/* The uid inside a command id or timer key "<verb>/<uid>/...". */
static void id_uid(const char *id, char *out, size_t n)
{
	out[0] = '\0';
	const char *a = strchr(id, '/');
	if (a == NULL)
		return;
	a++;
	if (strncmp(id, "timer/", 6) == 0 || strncmp(id, "untimer/", 8) == 0) {
		a = strchr(a, '/'); /* timer/<what>/<uid>/... */
		if (a == NULL)
			return;
		a++;
	}
	size_t k = strcspn(a, "/");
	if (k >= n)
		k = n - 1;
	memcpy(out, a, k);
	out[k] = '\0';
}

/* Resolves --pod NS/NAME to a uid once the pod is known. */
static void resolve_pod(struct run *r)
{
	const char *sel = r->o->pod;
	if (sel == NULL || r->pod_uid[0] != '\0')
		return;
	const char *slash = strchr(sel, '/');
	for (size_t i = 0; i < r->s.npods; i++) {
		const struct fsm_pod *p = r->s.pods[i];
		if (slash == NULL ? strcmp(p->spec.uid, sel) == 0
				  : (strncmp(p->spec.namespace_, sel, (size_t)(slash - sel)) == 0 &&
				     p->spec.namespace_[slash - sel] == '\0' &&
				     strcmp(p->spec.name, slash + 1) == 0)) {
			COPY(r->pod_uid, p->spec.uid);
			return;
		}
	}
	if (slash == NULL)
		COPY(r->pod_uid, sel);
}

static bool pod_selected(const struct run *r, const char *uid)
{
	return r->o->pod == NULL || (r->pod_uid[0] != '\0' && strcmp(uid, r->pod_uid) == 0);
}

static void timeline_event(const struct fsm_event *ev)
{
	char t[FSM_RFC3339_BYTES];
	fsm_time_rfc3339(ev->wall_ms, t);
	printf("%s  seq %-6" PRIu64 " +%-8.3f %s", t, ev->seq, (double)ev->ts_ms / 1000.0,
	       fsm_event_kind_name(ev->kind));
	switch (ev->kind) {
	case FSM_EV_CRI_CONTAINER: {
		const struct fsm_ev_cri_container *c = &ev->u.cri_container;
		printf("  %s attempt %u is %s", c->name, c->attempt, fsm_container_state_name(c->state));
		if (c->state == FSM_CONTAINER_EXITED)
			printf(" (exit %d%s%s)", c->exit_code, c->reason[0] ? ", " : "", c->reason);
		break;
	}
	case FSM_EV_CRI_SANDBOX:
		printf("  sandbox attempt %u is %s%s%s", ev->u.cri_sandbox.attempt,
		       fsm_sandbox_state_name(ev->u.cri_sandbox.state), ev->u.cri_sandbox.ip[0] ? ", ip " : "",
		       ev->u.cri_sandbox.ip);
		break;
	case FSM_EV_PROBE:
		printf("  %s %s probe %s%s%s", ev->u.probe.container, fsm_probe_type_name(ev->u.probe.probe),
		       ev->u.probe.ok ? "succeeded" : "failed", ev->u.probe.message[0] ? ": " : "",
		       ev->u.probe.message);
		break;
	case FSM_EV_EFFECT:
		printf("  %s %s%s%s", ev->u.effect.cmd, ev->u.effect.ok ? "done" : "FAILED",
		       ev->u.effect.ok ? "" : ": ", ev->u.effect.ok ? "" : ev->u.effect.error);
		break;
	case FSM_EV_TIMER:
		printf("  %s is due", ev->u.timer.key);
		break;
	case FSM_EV_API_POD:
		printf("  %s", fsm_watch_type_name(ev->u.api_pod.type));
		break;
	case FSM_EV_FILE_POD:
		printf("  %s%s", ev->u.file_pod.path, ev->u.file_pod.removed ? " removed" : "");
		break;
	case FSM_EV_NODE_PRESSURE:
		printf("  %s %" PRId64 " of %" PRId64, ev->u.node_pressure.signal, ev->u.node_pressure.value,
		       ev->u.node_pressure.capacity);
		break;
	default:
		break;
	}
	putchar('\n');
}

/* One line per command: what was decided, in the words of the status it sent. */
static void timeline_command(const struct fsm_command *c)
{
	printf("                                  -> %s %s", fsm_cmd_kind_name(c->kind) ? fsm_cmd_kind_name(c->kind) : "?", c->id);
	if (c->kind == FSM_CMD_TIMER_SET)
		printf(" due +%.3f", (double)c->due_ms / 1000.0);
	if (c->kind == FSM_CMD_CRI_STOP_CONTAINER)
		printf(" (grace %us)", c->timeout_s);
	if (c->kind == FSM_CMD_API_POD_STATUS && c->body != NULL) {
		/* the phase and each container's state, briefly */
		const char *ph = strstr(c->body, "\"phase\":\"");
		if (ph != NULL)
			printf(" phase %.*s", (int)strcspn(ph + 9, "\""), ph + 9);
		const char *w = c->body;
		while ((w = strstr(w, "\"reason\":\"")) != NULL) {
			w += 10;
			printf(" %.*s", (int)strcspn(w, "\""), w);
		}
	}
	if ((c->kind == FSM_CMD_POD_REJECT || c->kind == FSM_CMD_POD_EVICT) && c->body != NULL)
		printf(" %.*s", (int)c->body_len, c->body);
	putchar('\n');
}

static void remember(struct run *r, const struct fsm_event *ev)
{
	if (r->nseen >= EXPLAIN_EVENTS_MAX)
		return;
	struct seen *v = realloc(r->seen, (r->nseen + 1) * sizeof(*v));
	if (v == NULL)
		return;
	r->seen = v;
	fsm_buf_reset(&r->buf);
	fsm_event_to_json(ev, &r->buf);
	struct seen *s = &v[r->nseen++];
	s->seq = ev->seq;
	s->ts_ms = ev->ts_ms;
	s->line = strdup(r->buf.ptr ? r->buf.ptr : "");
	s->pod_uid = strdup(event_pod_uid(ev));
	s->cmd = strdup(ev->kind == FSM_EV_EFFECT ? ev->u.effect.cmd
			: ev->kind == FSM_EV_TIMER ? ev->u.timer.key
						   : "");
}

/* Folds one event, prints what was asked, compares with what the journal stored. */
static void fold_one(struct run *r, struct fsm_event *ev, const struct fsm_command *stored,
		     size_t nstored, bool have_stored)
{
	const struct opts *o = r->o;
	fsm_out_reset(&r->out);
	int rc = fsm_fold(&r->s, ev, &r->out);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: seq %" PRIu64 ": the fold failed: %s\n", ev->seq,
			fsm_strerror(rc));
		r->result = EXIT_DIFF;
		r->stop = true;
		return;
	}
	resolve_pod(r);
	if (o->explain != NULL)
		remember(r, ev);
	bool ev_shown = false;
	for (size_t i = 0; i < r->out.n; i++) {
		const struct fsm_command *c = &r->out.cmds[i];
		if (c->kind == FSM_CMD_TIMER_SET && o->auto_timers &&
		    timers_set(&r->timers, c->key, c->pod_uid, c->due_ms) != 0) {
			fprintf(stderr, "journal-replay: more than %d timers pending\n", TIMERS_MAX);
			r->result = EXIT_BAD;
			r->stop = true;
		}
		if (c->kind == FSM_CMD_TIMER_CANCEL && o->auto_timers)
			timers_cancel(&r->timers, c->key);
		if (o->explain != NULL && strcmp(c->id, o->explain) == 0 && r->explain_seq == 0)
			r->explain_seq = ev->seq;
		if (!pod_selected(r, c->pod_uid))
			continue;
		if (o->commands) {
			fsm_buf_reset(&r->buf);
			fsm_command_to_json(c, ev->seq, ev->ts_ms, &r->buf);
			puts(r->buf.ptr);
		}
		if (o->timeline) {
			if (!ev_shown)
				timeline_event(ev);
			ev_shown = true;
			timeline_command(c);
		}
	}
	if (o->timeline && !ev_shown && r->out.n == 0) {
		const char *uid = event_pod_uid(ev);
		char cuid[128];
		if (ev->kind == FSM_EV_EFFECT)
			id_uid(ev->u.effect.cmd, cuid, sizeof(cuid)), uid = cuid;
		if (uid[0] != '\0' && pod_selected(r, uid))
			timeline_event(ev);
	}
	if (!have_stored || !o->verify)
		return;
	struct fsm_buf a = FSM_BUF_INIT, b = FSM_BUF_INIT;
	size_t k = 0;
	for (; k < r->out.n || k < nstored; k++) {
		fsm_buf_reset(&a);
		fsm_buf_reset(&b);
		if (k < nstored)
			fsm_command_to_json(&stored[k], ev->seq, ev->ts_ms, &a);
		if (k < r->out.n)
			fsm_command_to_json(&r->out.cmds[k], ev->seq, ev->ts_ms, &b);
		if (a.len != b.len || memcmp(a.ptr ? a.ptr : "", b.ptr ? b.ptr : "", a.len) != 0)
			break;
	}
	if (k < r->out.n || k < nstored) {
		fprintf(stderr,
			"journal-replay: seq %" PRIu64 ": command %zu differs\n  journaled: %s\n"
			"  re-folded: %s\n",
			ev->seq, k, a.len ? a.ptr : "(none)", b.len ? b.ptr : "(none)");
		r->result = EXIT_DIFF;
		r->stop = true;
	}
	fsm_buf_free(&a);
	fsm_buf_free(&b);
}

/* Fires every timer due at or before `until`, each as a timer event at its due time. */
static void fire_timers(struct run *r, struct source *src, uint64_t until)
{
	long i;
	while (!r->stop && (i = timers_due(&r->timers, until)) >= 0) {
		char *key = r->timers.v[i].key;
		uint64_t due = r->timers.v[i].due_ms;
		struct fsm_event ev = {.kind = FSM_EV_TIMER, .seq = ++src->seq};
		ev.ts_ms = due > r->s.last_ts_ms ? due : r->s.last_ts_ms;
		ev.wall_ms = r->s.last_wall_ms + (ev.ts_ms - r->s.last_ts_ms);
		ev.u.timer.key = key;
		r->timers.v[i].key = NULL;
		free(r->timers.v[i].pod_uid);
		r->timers.v[i] = r->timers.v[--r->timers.n];
		fold_one(r, &ev, NULL, 0, false);
		free(key);
	}
}

static void print_status(struct run *r)
{
	/* By namespace and name: how an operator looks for a pod. */
	size_t n = r->s.npods;
	const struct fsm_pod **v = malloc((n ? n : 1) * sizeof(*v));
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = r->s.pods[i];
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0; k--) {
			int c = strcmp(v[k - 1]->spec.namespace_, v[k]->spec.namespace_);
			if (c == 0)
				c = strcmp(v[k - 1]->spec.name, v[k]->spec.name);
			if (c <= 0)
				break;
			const struct fsm_pod *t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if (!pod_selected(r, v[i]->spec.uid))
			continue;
		fsm_buf_reset(&r->buf);
		fsm_buf_puts(&r->buf, "{\"uid\":");
		fsm_buf_json_str(&r->buf, v[i]->spec.uid);
		fsm_buf_puts(&r->buf, ",\"namespace\":");
		fsm_buf_json_str(&r->buf, v[i]->spec.namespace_);
		fsm_buf_puts(&r->buf, ",\"name\":");
		fsm_buf_json_str(&r->buf, v[i]->spec.name);
		fsm_buf_puts(&r->buf, ",\"status\":");
		fsm_pod_status_json(v[i], &r->s.cfg, &r->buf);
		fsm_buf_putc(&r->buf, '}');
		puts(r->buf.ptr);
	}
	free(v);
}

static void print_explain(struct run *r)
{
	const char *id = r->o->explain;
	if (r->explain_seq == 0) {
		fprintf(stderr, "journal-replay: no command %s was issued\n", id);
		r->result = EXIT_BAD;
		return;
	}
	char uid[128];
	id_uid(id, uid, sizeof(uid));
	printf("command %s was issued by the fold of seq %" PRIu64 ".\n", id, r->explain_seq);
	printf("The events about pod %s up to then, oldest first:\n", uid[0] ? uid : "(none)");
	for (size_t i = 0; i < r->nseen; i++) {
		const struct seen *s = &r->seen[i];
		if (s->seq > r->explain_seq)
			break;
		char cuid[128] = "";
		if (s->cmd[0] != '\0')
			id_uid(s->cmd, cuid, sizeof(cuid));
		bool about = strcmp(s->pod_uid, uid) == 0 || strcmp(cuid, uid) == 0 ||
			     (s->pod_uid[0] == '\0' && s->cmd[0] == '\0' && strstr(s->line, uid) != NULL) ||
			     strstr(s->line, "\"kind\":\"node.config\"") != NULL;
		if (!about && s->seq != r->explain_seq)
			continue;
		printf("  %s seq %" PRIu64 " +%.3fs %s\n", s->seq == r->explain_seq ? "=>" : "  ", s->seq,
		       (double)s->ts_ms / 1000.0, s->line);
	}
}

static int cmd_fold(const struct opts *o)
{
	struct run r = {.o = o, .result = EXIT_OK};
	struct source src;
	int rc = source_open(&src, o->source, &r.s);
	if (rc != EXIT_OK) {
		fsm_state_free(&r.s);
		source_close(&src);
		return rc;
	}
	struct fsm_event ev;
	const struct fsm_command *stored;
	size_t nstored;
	while (!r.stop && (rc = source_next(&src, &ev, &stored, &nstored)) == 0) {
		if (o->until_ts != 0 && ev.ts_ms > o->until_ts)
			break;
		/* A journal holds its timer events; a file's are made here. */
		if (o->auto_timers && src.j == NULL)
			fire_timers(&r, &src, ev.ts_ms);
		if (src.j == NULL)
			ev.seq = ++src.seq; /* after the timers that fired before it */
		if (o->until_seq != 0 && ev.seq > o->until_seq)
			break;
		fold_one(&r, &ev, stored, nstored, src.j != NULL);
	}
	if (rc > 1)
		r.result = rc;
	if (r.result == EXIT_OK && !r.stop && o->auto_timers && src.j == NULL && o->until_seq == 0)
		fire_timers(&r, &src, o->until_ts ? o->until_ts : r.s.last_ts_ms);
	if (r.result == EXIT_OK) {
		if (o->status)
			print_status(&r);
		if (o->state) {
			fsm_buf_reset(&r.buf);
			fsm_state_dump(&r.s, &r.buf);
			puts(r.buf.ptr);
		}
		if (o->explain != NULL)
			print_explain(&r);
		if (o->verify)
			printf("verified %s: every record checks, seq %" PRIu64 " reached by re-folding, "
			       "decisions identical\n",
			       o->source, r.s.last_seq);
	}
	for (size_t i = 0; i < r.nseen; i++) {
		free(r.seen[i].line);
		free(r.seen[i].pod_uid);
		free(r.seen[i].cmd);
	}
	free(r.seen);
	timers_free(&r.timers);
	fsm_buf_free(&r.buf);
	fsm_out_free(&r.out);
	fsm_state_free(&r.s);
	source_close(&src);
	return r.result;
}

static int cmd_info(const char *dir)
{
	struct jnl *j;
	if (open_ro(dir, &j) != 0)
		return EXIT_BAD;
	printf("journal %s\n", dir);
	printf("format_version %d\n", JNL_FORMAT_VERSION);
	printf("base_seq %" PRIu64 "\n", jnl_base_seq(j));
	printf("tip_seq %" PRIu64 "\n", jnl_tip_seq(j));
	printf("tip_ts_ms %" PRIu64 "\n", jnl_tip_ts_ms(j));
	printf("tip_wall_ms %" PRIu64 "\n", jnl_tip_wall_ms(j));
	printf("map_bytes %zu\n", jnl_map_bytes(j));
	struct fsm_state s;
	struct jnl_damage d;
	int rc = jnl_snapshot_get(j, UINT64_MAX, &s, &d);
	if (rc == 0)
		printf("snapshot_seq %" PRIu64 "\npods %zu\n", s.last_seq, s.npods);
	else if (rc == JNL_ENOTFOUND)
		printf("snapshot_seq none\n");
	else
		printf("snapshot_seq damaged: %s\n", d.what);
	fsm_state_free(&s);
	jnl_close(j);
	return EXIT_OK;
}

static int cmd_verify(const struct opts *o)
{
	struct jnl *j;
	if (open_ro(o->source, &j) != 0)
		return EXIT_BAD;
	struct jnl_damage d = {0};
	int rc = jnl_verify(j, &d);
	jnl_close(j);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", o->source, d.what);
		return EXIT_DIFF;
	}
	return cmd_fold(o);
}

static int cmd_export(const char *dir, const char *out_path)
{
	struct jnl *j;
	if (open_ro(dir, &j) != 0)
		return EXIT_BAD;
	FILE *out = stdout;
	if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
		fprintf(stderr, "journal-replay: cannot write %s: %s\n", out_path, strerror(errno));
		jnl_close(j);
		return EXIT_BAD;
	}
	struct jnl_iter *it;
	int rc = jnl_iter_open(j, 0, &it);
	struct fsm_buf buf = FSM_BUF_INIT;
	struct jnl_entry e;
	struct jnl_damage d = {0};
	while (rc == 0 && (rc = jnl_iter_next(it, &e, &d)) == 0) {
		fsm_buf_reset(&buf);
		if (fsm_event_to_json(&e.ev, &buf) == 0) {
			fputs(buf.ptr, out);
			fputc('\n', out);
		}
	}
	jnl_iter_close(it);
	fsm_buf_free(&buf);
	int ferr = out != stdout ? fclose(out) : fflush(out);
	jnl_close(j);
	if (rc != JNL_EEND) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what[0] ? d.what : jnl_strerror(rc));
		return EXIT_DIFF;
	}
	if (ferr != 0) {
		fprintf(stderr, "journal-replay: writing: %s\n", strerror(errno));
		return EXIT_BAD;
	}
	return EXIT_OK;
}

static int cmd_import(const char *file, const char *dir)
{
	struct jnl *j;
	struct jnl_damage d;
	int rc = jnl_open(&j, dir, NULL, &d);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what);
		return EXIT_BAD;
	}
	if (jnl_tip_seq(j) != 0) {
		fprintf(stderr,
			"journal-replay: %s already holds seq %" PRIu64 "..%" PRIu64 ": import into an "
			"empty directory\n",
			dir, jnl_base_seq(j), jnl_tip_seq(j));
		jnl_close(j);
		return EXIT_BAD;
	}
	struct source src;
	struct fsm_state s;
	int result = source_open(&src, file, &s);
	struct jnl_batch *b = NULL;
	struct fsm_out out = {0};
	if (result == EXIT_OK && jnl_batch_new(j, &b) != 0)
		result = EXIT_BAD;
	struct fsm_event ev;
	const struct fsm_command *stored;
	size_t nstored;
	while (result == EXIT_OK && (rc = source_next(&src, &ev, &stored, &nstored)) == 0) {
		fsm_out_reset(&out);
		rc = jnl_batch_add(b, &ev);
		if (rc == 0 && (rc = fsm_fold(&s, &ev, &out)) != 0) {
			fprintf(stderr, "journal-replay: %s:%ld: the fold refused the event: %s\n", file,
				src.lineno, fsm_strerror(rc));
			result = EXIT_BAD;
			break;
		}
		rc = rc ? rc : jnl_batch_decide(b, out.cmds, out.n);
		if (rc == 0 && jnl_batch_count(b) >= IMPORT_BATCH)
			rc = jnl_batch_commit(b);
		if (rc != 0) {
			fprintf(stderr, "journal-replay: %s:%ld: %s\n", file, src.lineno, jnl_strerror(rc));
			result = EXIT_BAD;
		}
	}
	if (result == EXIT_OK && rc > 1)
		result = rc;
	if (result == EXIT_OK && (rc = jnl_batch_commit(b)) != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, jnl_strerror(rc));
		result = EXIT_BAD;
	}
	if (result == EXIT_OK)
		printf("imported %" PRIu64 " events into %s\n", jnl_tip_seq(j), dir);
	jnl_batch_free(b);
	fsm_out_free(&out);
	fsm_state_free(&s);
	source_close(&src);
	jnl_close(j);
	return result;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*v = x;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"info", no_argument, NULL, 'i'},
		{"verify", no_argument, NULL, 'v'},
		{"export", no_argument, NULL, 'x'},
		{"import", required_argument, NULL, 'm'},
		{"journal", required_argument, NULL, 'j'},
		{"events", required_argument, NULL, 'e'},
		{"commands", no_argument, NULL, 'c'},
		{"status", no_argument, NULL, 's'},
		{"timeline", no_argument, NULL, 't'},
		{"state", no_argument, NULL, 'S'},
		{"explain", required_argument, NULL, 'E'},
		{"auto-timers", no_argument, NULL, 'a'},
		{"until", required_argument, NULL, 'u'},
		{"until-ts", required_argument, NULL, 'U'},
		{"pod", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o.info = true; break;
		case 'v': o.verify = true; break;
		case 'x': o.export_ = true; break;
		case 'm': o.import_file = optarg; break;
		case 'j': o.journal = optarg; break;
		case 'e': o.source = optarg; break;
		case 'c': o.commands = true; break;
		case 's': o.status = true; break;
		case 't': o.timeline = true; break;
		case 'S': o.state = true; break;
		case 'E': o.explain = optarg; break;
		case 'a': o.auto_timers = true; break;
		case 'p': o.pod = optarg; break;
		case 'u':
		case 'U':
			if (parse_u64(optarg, c == 'u' ? &o.until_seq : &o.until_ts) != 0) {
				fprintf(stderr, "journal-replay: --%s wants a number, not '%s'\n",
					c == 'u' ? "until" : "until-ts", optarg);
				return EXIT_BAD;
			}
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_BAD;
		}
	}
	const char *pos[2] = {NULL, NULL};
	int npos = 0;
	while (optind < argc && npos < 2)
		pos[npos++] = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "journal-replay: unexpected argument '%s'\n", argv[optind]);
		return EXIT_BAD;
	}
	if (o.import_file != NULL) {
		const char *dir = o.journal ? o.journal : pos[0];
		if (dir == NULL) {
			fprintf(stderr, "journal-replay: --import FILE needs --journal DIR\n");
			return EXIT_BAD;
		}
		return cmd_import(o.import_file, dir);
	}
	if (o.source == NULL)
		o.source = pos[0];
	if (o.source == NULL) {
		usage(stderr);
		return EXIT_BAD;
	}
	bool dir = is_dir(o.source);
	if (o.export_) {
		if (!dir) {
			fprintf(stderr, "journal-replay: --export reads a journal directory\n");
			return EXIT_BAD;
		}
		return cmd_export(o.source, pos[1]);
	}
	if (o.verify && dir)
		return cmd_verify(&o);
	if (o.info || (dir && !o.status && !o.commands && !o.timeline && !o.state && !o.explain &&
		       !o.verify)) {
		if (!dir) {
			fprintf(stderr, "journal-replay: --info reads a journal directory\n");
			return EXIT_BAD;
		}
		return cmd_info(o.source);
	}
	if (!o.status && !o.commands && !o.timeline && !o.state && !o.explain && !o.verify)
		o.commands = true;
	return cmd_fold(&o);
}
