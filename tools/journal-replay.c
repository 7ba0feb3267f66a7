/*
 * tools/journal-replay.c — the operator's view into a journal.
 *
 * Reads an LMDB journal directory (read-only, safe while the daemon writes) or
 * a JSON-lines replay file (DESIGN.md, "The replay file"), and:
 *   --info     what the journal holds (seqs, snapshots, times, size)
 *   --verify   checks every record (checksum, chain, decoding) and re-folds the
 *              journal, comparing each event's commands with its decision record
 *              byte for byte; the first difference is named by seq
 *   --export   writes the journal as JSON lines
 *   --import   builds a new journal from JSON lines (folding each event, so the
 *              decision records are this build's)
 *   --commands prints the commands, one JSON line each
 *
 * Exit codes: 0 ok, 1 a difference or damage was found, 2 bad input or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsm/buf.h"
#include "fsm/event_json.h"
#include "fsm/fsm.h"
#include "journal/journal.h"
#include "replay.h"

enum { EXIT_OK = 0, EXIT_DIFF = 1, EXIT_BAD = 2 };

/* Commands a journal's batch holds at most before the import commits it. */
#define IMPORT_BATCH 1024

struct opts {
	const char *source;  /* journal dir or JSON-lines file */
	const char *journal; /* --import's destination */
	const char *out;     /* --export's file, or NULL for stdout */
	bool info, verify, export_, import_, commands;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: journal-replay JOURNAL_DIR --info|--verify|--export [FILE]|--commands\n"
		   "       journal-replay --events FILE --commands|--verify\n"
		   "       journal-replay --import FILE --journal DIR\n");
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

static int cmd_info(const char *dir)
{
	struct jnl *j;
	if (open_ro(dir, &j) != 0)
		return EXIT_BAD;
	printf("journal %s\n", dir);
	printf("format_version %d\n", JNL_FORMAT_VERSION);
	printf("base_seq %llu\n", (unsigned long long)jnl_base_seq(j));
	printf("tip_seq %llu\n", (unsigned long long)jnl_tip_seq(j));
	printf("tip_ts_ms %llu\n", (unsigned long long)jnl_tip_ts_ms(j));
	printf("tip_wall_ms %llu\n", (unsigned long long)jnl_tip_wall_ms(j));
	printf("map_bytes %zu\n", jnl_map_bytes(j));
	struct fsm_state s;
	struct jnl_damage d;
	int rc = jnl_snapshot_get(j, UINT64_MAX, &s, &d);
	if (rc == 0)
		printf("snapshot_seq %llu\n", (unsigned long long)s.last_seq);
	else if (rc == JNL_ENOTFOUND)
		printf("snapshot_seq none\n");
	else
		printf("snapshot_seq damaged: %s\n", d.what);
	fsm_state_free(&s);
	jnl_close(j);
	return EXIT_OK;
}

static int print_commands(FILE *f, const struct fsm_command *c, size_t n, uint64_t seq,
			  uint64_t ts_ms, struct fsm_buf *buf)
{
	for (size_t i = 0; i < n; i++) {
		fsm_buf_reset(buf);
		if (fsm_command_to_json(&c[i], seq, ts_ms, buf) != 0)
			return -ENOMEM;
		fputs(buf->ptr, f);
		fputc('\n', f);
	}
	return 0;
}

/* Every stored decision, as the journal holds it. */
static int cmd_export_or_commands(const char *dir, const char *out_path, bool commands)
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
		if (commands) {
			rc = print_commands(out, e.cmds, e.ncmd, e.ev.seq, e.ev.ts_ms, &buf);
			continue;
		}
		fsm_buf_reset(&buf);
		rc = fsm_event_to_json(&e.ev, &buf);
		if (rc == 0) {
			fputs(buf.ptr, out);
			fputc('\n', out);
		}
	}
	if (rc == 0 || rc == JNL_EEND)
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

/*
 * Re-folds the journal and compares what the fold decides now with each stored
 * decision, as JSON bytes. Starts from the oldest snapshot it can: the base's.
 */
static int cmd_verify(const char *dir)
{
	struct jnl *j;
	if (open_ro(dir, &j) != 0)
		return EXIT_BAD;
	struct jnl_damage d = {0};
	int rc = jnl_verify(j, &d);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what);
		jnl_close(j);
		return EXIT_DIFF;
	}
	struct fsm_state s;
	if (jnl_base_seq(j) > 1) {
		rc = jnl_snapshot_get(j, jnl_base_seq(j) - 1, &s, &d);
		if (rc != 0) {
			fprintf(stderr, "journal-replay: %s: no snapshot at the base (seq %llu): %s\n",
				dir, (unsigned long long)jnl_base_seq(j) - 1, d.what);
			jnl_close(j);
			return EXIT_DIFF;
		}
	} else {
		fsm_state_init(&s);
	}
	struct jnl_iter *it;
	rc = jnl_iter_open(j, s.last_seq + 1, &it);
	struct fsm_out out = {0};
	struct fsm_buf a = FSM_BUF_INIT, b = FSM_BUF_INIT;
	struct jnl_entry e;
	int result = EXIT_OK;
	uint64_t n = 0;
	while (rc == 0 && (rc = jnl_iter_next(it, &e, &d)) == 0) {
		fsm_out_reset(&out);
		int frc = fsm_fold(&s, &e.ev, &out);
		if (frc != 0) {
			fprintf(stderr, "journal-replay: seq %llu: the fold failed: %s\n",
				(unsigned long long)e.ev.seq, fsm_strerror(frc));
			result = EXIT_DIFF;
			break;
		}
		size_t k = 0;
		for (; k < out.n || k < e.ncmd; k++) {
			fsm_buf_reset(&a);
			fsm_buf_reset(&b);
			if (k < e.ncmd)
				fsm_command_to_json(&e.cmds[k], e.ev.seq, e.ev.ts_ms, &a);
			if (k < out.n)
				fsm_command_to_json(&out.cmds[k], e.ev.seq, e.ev.ts_ms, &b);
			if (a.len != b.len || memcmp(a.ptr ? a.ptr : "", b.ptr ? b.ptr : "", a.len) != 0)
				break;
		}
		if (k < out.n || k < e.ncmd) {
			fprintf(stderr,
				"journal-replay: seq %llu: command %zu differs\n  journaled: %s\n"
				"  re-folded: %s\n",
				(unsigned long long)e.ev.seq, k, a.len ? a.ptr : "(none)",
				b.len ? b.ptr : "(none)");
			result = EXIT_DIFF;
			break;
		}
		n++;
	}
	if (result == EXIT_OK && rc != JNL_EEND) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what[0] ? d.what : jnl_strerror(rc));
		result = EXIT_DIFF;
	}
	if (it != NULL)
		jnl_iter_close(it);
	if (result == EXIT_OK)
		printf("verified %s: seq %llu..%llu, %llu entries re-folded, decisions identical\n",
		       dir, (unsigned long long)jnl_base_seq(j), (unsigned long long)jnl_tip_seq(j),
		       (unsigned long long)n);
	fsm_buf_free(&a);
	fsm_buf_free(&b);
	fsm_out_free(&out);
	fsm_state_free(&s);
	jnl_close(j);
	return result;
}

/* Reads a JSON-lines file: calls fn for each event. Blank and '#' lines skip. */
static int each_line(const char *path, int (*fn)(void *, struct fsm_event *, long line), void *arg)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "journal-replay: cannot read %s: %s\n", path, strerror(errno));
		return EXIT_BAD;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int rc = EXIT_OK;
	struct fsm_arena arena = FSM_ARENA_INIT;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		size_t skip = strspn(line, " \t");
		if (line[skip] == '\0' || line[skip] == '#')
			continue;
		struct fsm_event ev;
		char err[FSM_JSON_ERR_BYTES];
		fsm_arena_reset(&arena);
		if (fsm_event_from_json(line, (size_t)n, &ev, &arena, err, sizeof(err)) != 0) {
			fprintf(stderr, "journal-replay: %s:%ld: %s\n", path, lineno, err);
			rc = EXIT_BAD;
			break;
		}
		rc = fn(arg, &ev, lineno);
		if (rc != EXIT_OK)
			break;
	}
	if (rc == EXIT_OK && ferror(f)) {
		fprintf(stderr, "journal-replay: reading %s: %s\n", path, strerror(errno));
		rc = EXIT_BAD;
	}
	fsm_arena_free(&arena);
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

struct import_ctx {
	const char *path;
	struct jnl *j;
	struct jnl_batch *b;
	struct fsm_state s;
	struct fsm_out out;
};

static int import_one(void *arg, struct fsm_event *ev, long lineno)
{
	struct import_ctx *x = arg;
	fsm_out_reset(&x->out);
	int rc = jnl_batch_add(x->b, ev);
	if (rc == 0 && (rc = fsm_fold(&x->s, ev, &x->out)) != 0) {
		fprintf(stderr, "journal-replay: %s:%ld: the fold refused the event: %s\n", x->path,
			lineno, fsm_strerror(rc));
		return EXIT_BAD;
	}
	rc = rc ? rc : jnl_batch_decide(x->b, x->out.cmds, x->out.n);
	if (rc == 0 && jnl_batch_count(x->b) >= IMPORT_BATCH)
		rc = jnl_batch_commit(x->b);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s:%ld: %s\n", x->path, lineno, jnl_strerror(rc));
		return EXIT_BAD;
	}
	return EXIT_OK;
}

static int cmd_import(const char *file, const char *dir)
{
	struct import_ctx x = {.path = file};
	struct jnl_damage d;
	int rc = jnl_open(&x.j, dir, NULL, &d);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, d.what);
		return EXIT_BAD;
	}
	if (jnl_tip_seq(x.j) != 0) {
		fprintf(stderr, "journal-replay: %s already holds seq %llu..%llu: import into an "
				"empty directory\n",
			dir, (unsigned long long)jnl_base_seq(x.j), (unsigned long long)jnl_tip_seq(x.j));
		jnl_close(x.j);
		return EXIT_BAD;
	}
	fsm_state_init(&x.s);
	rc = jnl_batch_new(x.j, &x.b);
	int result = rc == 0 ? each_line(file, import_one, &x) : EXIT_BAD;
	if (result == EXIT_OK && (rc = jnl_batch_commit(x.b)) != 0) {
		fprintf(stderr, "journal-replay: %s: %s\n", dir, jnl_strerror(rc));
		result = EXIT_BAD;
	}
	if (result == EXIT_OK)
		printf("imported %llu events into %s\n", (unsigned long long)jnl_tip_seq(x.j), dir);
	jnl_batch_free(x.b);
	fsm_out_free(&x.out);
	fsm_state_free(&x.s);
	jnl_close(x.j);
	return result;
}

/* A JSON-lines file folded in memory: seqs are assigned as the journal would. */
struct fold_ctx {
	struct fsm_state s;
	struct fsm_out out;
	struct fsm_buf buf;
	uint64_t seq, ts_floor;
	bool print;
	const char *path;
};

static int fold_one(void *arg, struct fsm_event *ev, long lineno)
{
	struct fold_ctx *x = arg;
	ev->seq = ++x->seq;
	if (ev->ts_ms < x->ts_floor)
		ev->ts_ms = x->ts_floor;
	x->ts_floor = ev->ts_ms;
	fsm_out_reset(&x->out);
	int rc = fsm_fold(&x->s, ev, &x->out);
	if (rc != 0) {
		fprintf(stderr, "journal-replay: %s:%ld: the fold refused the event: %s\n", x->path,
			lineno, fsm_strerror(rc));
		return EXIT_BAD;
	}
	if (x->print && print_commands(stdout, x->out.cmds, x->out.n, ev->seq, ev->ts_ms, &x->buf))
		return EXIT_BAD;
	return EXIT_OK;
}

static int cmd_events(const char *file, bool print)
{
	struct fold_ctx x = {.print = print, .path = file};
	fsm_state_init(&x.s);
	int rc = each_line(file, fold_one, &x);
	fsm_state_free(&x.s);
	fsm_out_free(&x.out);
	fsm_buf_free(&x.buf);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"info", no_argument, NULL, 'i'},     {"verify", no_argument, NULL, 'v'},
		{"export", no_argument, NULL, 'x'},   {"import", required_argument, NULL, 'm'},
		{"journal", required_argument, NULL, 'j'}, {"events", required_argument, NULL, 'e'},
		{"commands", no_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	const char *events = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o.info = true; break;
		case 'v': o.verify = true; break;
		case 'x': o.export_ = true; break;
		case 'm': o.import_ = true; o.source = optarg; break;
		case 'j': o.journal = optarg; break;
		case 'e': events = optarg; break;
		case 'c': o.commands = true; break;
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
	if (o.import_) {
		const char *dir = o.journal ? o.journal : pos[0];
		if (dir == NULL) {
			fprintf(stderr, "journal-replay: --import FILE needs --journal DIR\n");
			return EXIT_BAD;
		}
		return cmd_import(o.source, dir);
	}
	if (events != NULL)
		return cmd_events(events, o.commands);
	if (pos[0] == NULL) {
		usage(stderr);
		return EXIT_BAD;
	}
	if (!is_dir(pos[0]))
		return cmd_events(pos[0], o.commands || !o.verify);
	if (o.export_)
		return cmd_export_or_commands(pos[0], pos[1], false);
	if (o.commands)
		return cmd_export_or_commands(pos[0], NULL, true);
	if (o.verify)
		return cmd_verify(pos[0]);
	return cmd_info(pos[0]);
}
