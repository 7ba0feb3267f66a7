/*
 * tests/unit/fsm/event_json_test.c — the replay file's codec (fsm/event_json.c)
 * and the byte buffer it writes into (fsm/buf.c).
 *
 * What it holds: every kind reads into the right fields; a written line reads
 * back equal and writes out byte for byte the same; raw Pod/config/body bytes
 * are kept exactly; every bad line is refused with a message naming the field;
 * and, from a seed, random events, commands and damaged lines keep those rules.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "fsm/arena.h"
#include "fsm/buf.h"
#include "fsm/event_json.h"
#include "test.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static bool raw_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if ((a == NULL) != (b == NULL) || an != bn)
		return false;
	return an == 0 || memcmp(a, b, an) == 0;
}

static bool event_equal(const struct fsm_event *a, const struct fsm_event *b)
{
	if (a->seq != b->seq || a->ts_ms != b->ts_ms || a->wall_ms != b->wall_ms ||
	    a->kind != b->kind)
		return false;
	switch (a->kind) {
	case FSM_EV_API_POD:
		return a->u.api_pod.type == b->u.api_pod.type &&
		       raw_eq(a->u.api_pod.object, a->u.api_pod.object_len, b->u.api_pod.object,
			      b->u.api_pod.object_len);
	case FSM_EV_FILE_POD:
		return str_eq(a->u.file_pod.path, b->u.file_pod.path) &&
		       a->u.file_pod.removed == b->u.file_pod.removed &&
		       raw_eq(a->u.file_pod.object, a->u.file_pod.object_len, b->u.file_pod.object,
			      b->u.file_pod.object_len);
	case FSM_EV_CRI_SANDBOX: {
		const struct fsm_ev_cri_sandbox *x = &a->u.cri_sandbox, *y = &b->u.cri_sandbox;
		return str_eq(x->pod_uid, y->pod_uid) && x->attempt == y->attempt &&
		       str_eq(x->id, y->id) && x->state == y->state && str_eq(x->ip, y->ip);
	}
	case FSM_EV_CRI_CONTAINER: {
		const struct fsm_ev_cri_container *x = &a->u.cri_container, *y = &b->u.cri_container;
		return str_eq(x->pod_uid, y->pod_uid) && str_eq(x->name, y->name) &&
		       x->attempt == y->attempt && str_eq(x->id, y->id) && x->state == y->state &&
		       x->exit_code == y->exit_code && str_eq(x->reason, y->reason) &&
		       str_eq(x->message, y->message) && x->started_at_ms == y->started_at_ms &&
		       x->finished_at_ms == y->finished_at_ms;
	}
	case FSM_EV_CRI_IMAGE: {
		const struct fsm_ev_cri_image *x = &a->u.cri_image, *y = &b->u.cri_image;
		return str_eq(x->image, y->image) && x->ok == y->ok && str_eq(x->error, y->error) &&
		       str_eq(x->image_ref, y->image_ref);
	}
	case FSM_EV_PROBE: {
		const struct fsm_ev_probe *x = &a->u.probe, *y = &b->u.probe;
		return str_eq(x->pod_uid, y->pod_uid) && str_eq(x->container, y->container) &&
		       x->probe == y->probe && x->ok == y->ok && str_eq(x->message, y->message);
	}
	case FSM_EV_TIMER:
		return str_eq(a->u.timer.key, b->u.timer.key);
	case FSM_EV_EFFECT: {
		const struct fsm_ev_effect *x = &a->u.effect, *y = &b->u.effect;
		return str_eq(x->cmd, y->cmd) && x->ok == y->ok && x->error_class == y->error_class &&
		       str_eq(x->error, y->error) && str_eq(x->result, y->result);
	}
	case FSM_EV_NODE_CONFIG:
		return raw_eq(a->u.node_config.config, a->u.node_config.config_len,
			      b->u.node_config.config, b->u.node_config.config_len);
	case FSM_EV_NODE_PRESSURE:
		return str_eq(a->u.node_pressure.signal, b->u.node_pressure.signal) &&
		       a->u.node_pressure.value == b->u.node_pressure.value &&
		       a->u.node_pressure.capacity == b->u.node_pressure.capacity;
	case FSM_EV_POD_STATS: {
		const struct fsm_ev_pod_stats *x = &a->u.pod_stats, *y = &b->u.pod_stats;
		return str_eq(x->pod_uid, y->pod_uid) && x->memory_bytes == y->memory_bytes &&
		       x->disk_bytes == y->disk_bytes && x->inodes == y->inodes && x->pids == y->pids;
	}
	case FSM_EV_API_BACKOFF:
		return str_eq(a->u.api_backoff.resource, b->u.api_backoff.resource) &&
		       a->u.api_backoff.delay_ms == b->u.api_backoff.delay_ms &&
		       str_eq(a->u.api_backoff.reason, b->u.api_backoff.reason);
	case FSM_EV_API_OBJECT:
		return str_eq(a->u.api_object.object_kind, b->u.api_object.object_kind) &&
		       str_eq(a->u.api_object.namespace_, b->u.api_object.namespace_) &&
		       str_eq(a->u.api_object.name, b->u.api_object.name) &&
		       str_eq(a->u.api_object.resource_version, b->u.api_object.resource_version) &&
		       a->u.api_object.exists == b->u.api_object.exists &&
		       str_eq(a->u.api_object.hash, b->u.api_object.hash);
	case FSM_EV_CRI_STATUS:
		return a->u.cri_status.ok == b->u.cri_status.ok &&
		       str_eq(a->u.cri_status.error, b->u.cri_status.error) &&
		       a->u.cri_status.runtime_ready == b->u.cri_status.runtime_ready &&
		       str_eq(a->u.cri_status.runtime_reason, b->u.cri_status.runtime_reason) &&
		       str_eq(a->u.cri_status.runtime_message, b->u.cri_status.runtime_message) &&
		       a->u.cri_status.network_ready == b->u.cri_status.network_ready &&
		       str_eq(a->u.cri_status.network_reason, b->u.cri_status.network_reason) &&
		       str_eq(a->u.cri_status.network_message, b->u.cri_status.network_message);
	case FSM_EV_CLOCK:
		return true;
	default:
		return false;
	}
}

static bool body_eq(const struct fsm_command *a, const struct fsm_command *b)
{
	size_t an = a->body != NULL ? a->body_len : 0, bn = b->body != NULL ? b->body_len : 0;
	return an == bn && (an == 0 || memcmp(a->body, b->body, an) == 0);
}

static bool command_equal(const struct fsm_command *a, const struct fsm_command *b)
{
	return a->kind == b->kind && str_eq(a->id, b->id) && str_eq(a->pod_uid, b->pod_uid) &&
	       str_eq(a->container, b->container) && a->attempt == b->attempt &&
	       str_eq(a->key, b->key) && a->due_ms == b->due_ms && a->timeout_s == b->timeout_s &&
	       str_eq(a->image, b->image) && body_eq(a, b);
}

/* Parses a copy of line in a buffer of exactly its length, so that ASan sees any
 * read past the end (the codec must not need a terminator). */
static int parse_exact(const char *line, size_t len, struct fsm_event *ev, struct fsm_arena *a,
		       char *err, size_t err_len)
{
	char *copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, line, len);
	int rc = fsm_event_from_json(len > 0 ? copy : NULL, len, ev, a, err, err_len);
	free(copy);
	return rc;
}

static int parse(const char *line, struct fsm_event *ev, struct fsm_arena *a, char *err)
{
	return parse_exact(line, strlen(line), ev, a, err, FSM_JSON_ERR_BYTES);
}

/* The line is refused, and the message holds each of the needles. */
#define CHECK_REFUSED(line, ...)                                                                 \
	do {                                                                                     \
		struct fsm_arena a_ = FSM_ARENA_INIT;                                            \
		struct fsm_event ev_;                                                            \
		char err_[FSM_JSON_ERR_BYTES] = "";                                              \
		int rc_ = parse((line), &ev_, &a_, err_);                                        \
		CHECKF(rc_ == -1, "accepted: %s", (line));                                      \
		CHECK_EQ_INT(ev_.kind, FSM_EV_NONE);                                             \
		const char *needles_[] = {__VA_ARGS__};                                          \
		for (size_t i_ = 0; i_ < sizeof(needles_) / sizeof(needles_[0]); i_++)           \
			CHECKF(strstr(err_, needles_[i_]) != NULL,                               \
			       "message \"%s\" lacks \"%s\" (line %s)", err_, needles_[i_], (line)); \
		fsm_arena_free(&a_);                                                             \
	} while (0)

/* Reads line, writes it back, and checks the bytes are the same; returns the event
 * (its strings in a). */
static bool check_canonical(const char *line, struct fsm_event *ev, struct fsm_arena *a)
{
	char err[FSM_JSON_ERR_BYTES] = "";
	if (parse(line, ev, a, err) != 0) {
		CHECKF(false, "refused: %s: %s", err, line);
		return false;
	}
	struct fsm_buf b = FSM_BUF_INIT;
	int rc = fsm_event_to_json(ev, &b);
	CHECK_EQ_INT(rc, FSM_JSON_OK);
	bool same = rc == 0 && b.len == strlen(line) && memcmp(b.ptr, line, b.len) == 0;
	CHECKF(same, "wrote\n  %s\nfor\n  %s", b.ptr ? b.ptr : "(null)", line);
	fsm_buf_free(&b);
	return same;
}

/* ---- the buffer -------------------------------------------------------------------------- */

TEST(test_buf_appends_and_stays_terminated)
{
	struct fsm_buf b = FSM_BUF_INIT;
	CHECK(b.ptr == NULL);
	fsm_buf_reset(&b); /* harmless on an empty buffer */
	REQUIRE(fsm_buf_puts(&b, "ab") == 0);
	REQUIRE(fsm_buf_putc(&b, 'c') == 0);
	REQUIRE(fsm_buf_append(&b, "defg", 2) == 0);
	REQUIRE(fsm_buf_append(&b, NULL, 0) == 0);
	CHECK_EQ_INT(b.len, 5);
	CHECK_EQ_STR(b.ptr, "abcde");
	/* Growth past the first allocation keeps the bytes and the terminator. */
	for (int i = 0; i < 1000; i++)
		REQUIRE(fsm_buf_putc(&b, (char)('a' + i % 26)) == 0);
	CHECK_EQ_INT(b.len, 1005);
	CHECK_EQ_INT(b.ptr[b.len], '\0');
	CHECK(b.cap > b.len);
	CHECK(memcmp(b.ptr, "abcdeabc", 8) == 0);
	size_t cap = b.cap;
	char *ptr = b.ptr;
	fsm_buf_reset(&b);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(b.cap, cap);
	CHECK(b.ptr == ptr);
	CHECK_EQ_STR(b.ptr, "");
	CHECK_EQ_INT(fsm_buf_reserve(&b, FSM_BUF_BYTES_MAX + 1), -1);
	CHECK_EQ_INT(fsm_buf_reserve(&b, SIZE_MAX), -1);
	CHECK_EQ_INT(b.len, 0);
	fsm_buf_free(&b);
	CHECK(b.ptr == NULL);
	CHECK_EQ_INT(b.len, 0);
	REQUIRE(fsm_buf_puts(&b, "again") == 0);
	CHECK_EQ_STR(b.ptr, "again");
	fsm_buf_free(&b);
}

TEST(test_buf_json_str_escapes)
{
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_buf_json_str(&b, "a\"b\\c\n\t\r\b\f\x01\x1f\x7f \xc3\xa9/<") == 0);
	CHECK_EQ_STR(b.ptr, "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\x7f \xc3\xa9/<\"");
	fsm_buf_reset(&b);
	REQUIRE(fsm_buf_json_str(&b, NULL) == 0);
	REQUIRE(fsm_buf_json_str(&b, "") == 0);
	CHECK_EQ_STR(b.ptr, "\"\"\"\"");
	fsm_buf_reset(&b);
	REQUIRE(fsm_buf_json_strn(&b, "x\0y", 3) == 0);
	CHECK_EQ_STR(b.ptr, "\"x\\u0000y\"");
	/* Invalid UTF-8 is copied, not repaired: the journal's bytes stay the journal's. */
	fsm_buf_reset(&b);
	REQUIRE(fsm_buf_json_str(&b, "\xff\xfe") == 0);
	CHECK_EQ_STR(b.ptr, "\"\xff\xfe\"");
	fsm_buf_free(&b);
}

TEST(test_buf_integers)
{
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_buf_u64(&b, 0) == 0);
	REQUIRE(fsm_buf_putc(&b, ' ') == 0);
	REQUIRE(fsm_buf_u64(&b, UINT64_MAX) == 0);
	REQUIRE(fsm_buf_putc(&b, ' ') == 0);
	REQUIRE(fsm_buf_i64(&b, INT64_MIN) == 0);
	REQUIRE(fsm_buf_putc(&b, ' ') == 0);
	REQUIRE(fsm_buf_i64(&b, INT64_MAX) == 0);
	REQUIRE(fsm_buf_putc(&b, ' ') == 0);
	REQUIRE(fsm_buf_i64(&b, -1) == 0);
	REQUIRE(fsm_buf_putc(&b, ' ') == 0);
	REQUIRE(fsm_buf_i64(&b, 0) == 0);
	CHECK_EQ_STR(b.ptr, "0 18446744073709551615 -9223372036854775808 9223372036854775807 -1 0");
	fsm_buf_free(&b);
}

/* ---- reading each kind ------------------------------------------------------------------- */

TEST(test_every_kind_reads_into_its_fields)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];

	REQUIRE(parse("{\"seq\":7,\"ts_ms\":1000,\"wall_ms\":1700000000000,\"kind\":\"api.pod\","
		      "\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"uid\":\"u1\"}}}",
		      &ev, &a, err) == 0);
	CHECK_EQ_INT(ev.seq, 7);
	CHECK_EQ_INT(ev.ts_ms, 1000);
	CHECK_EQ_INT(ev.wall_ms, 1700000000000LL);
	CHECK_EQ_INT(ev.kind, FSM_EV_API_POD);
	CHECK_EQ_INT(ev.u.api_pod.type, FSM_WATCH_MODIFIED);
	CHECK_EQ_STR(ev.u.api_pod.object, "{\"metadata\":{\"uid\":\"u1\"}}");
	CHECK_EQ_INT(ev.u.api_pod.object_len, strlen("{\"metadata\":{\"uid\":\"u1\"}}"));

	REQUIRE(parse("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"/m/a.json\",\"object\":{}}", &ev,
		      &a, err) == 0);
	CHECK_EQ_INT(ev.seq, 0);
	CHECK_EQ_INT(ev.wall_ms, 0);
	CHECK_EQ_STR(ev.u.file_pod.path, "/m/a.json");
	CHECK_EQ_STR(ev.u.file_pod.object, "{}");
	CHECK(!ev.u.file_pod.removed);

	REQUIRE(parse("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"/m/a.json\",\"removed\":true}",
		      &ev, &a, err) == 0);
	CHECK(ev.u.file_pod.removed);
	CHECK(ev.u.file_pod.object == NULL);
	CHECK_EQ_INT(ev.u.file_pod.object_len, 0);

	REQUIRE(parse("{\"ts_ms\":2,\"kind\":\"cri.sandbox\",\"pod_uid\":\"u1\",\"attempt\":3,"
		      "\"id\":\"sb\",\"state\":\"notready\",\"ip\":\"10.0.0.5\"}",
		      &ev, &a, err) == 0);
	CHECK_EQ_INT(ev.kind, FSM_EV_CRI_SANDBOX);
	CHECK_EQ_STR(ev.u.cri_sandbox.pod_uid, "u1");
	CHECK_EQ_INT(ev.u.cri_sandbox.attempt, 3);
	CHECK_EQ_STR(ev.u.cri_sandbox.id, "sb");
	CHECK_EQ_INT(ev.u.cri_sandbox.state, FSM_SANDBOX_NOTREADY);
	CHECK_EQ_STR(ev.u.cri_sandbox.ip, "10.0.0.5");

	REQUIRE(parse("{\"ts_ms\":3,\"kind\":\"cri.container\",\"pod_uid\":\"u1\",\"name\":\"app\","
		      "\"attempt\":4294967295,\"id\":\"c1\",\"state\":\"exited\",\"exit_code\":-2147483648,"
		      "\"reason\":\"OOMKilled\",\"message\":\"line\\nnext \\u00e9\","
		      "\"started_at_ms\":-5,\"finished_at_ms\":9223372036854775807}",
		      &ev, &a, err) == 0);
	const struct fsm_ev_cri_container *cc = &ev.u.cri_container;
	CHECK_EQ_STR(cc->name, "app");
	CHECK_EQ_INT(cc->attempt, 4294967295LL);
	CHECK_EQ_INT(cc->state, FSM_CONTAINER_EXITED);
	CHECK_EQ_INT(cc->exit_code, INT32_MIN);
	CHECK_EQ_STR(cc->reason, "OOMKilled");
	CHECK_EQ_STR(cc->message, "line\nnext \xc3\xa9");
	CHECK_EQ_INT(cc->started_at_ms, -5);
	CHECK_EQ_INT(cc->finished_at_ms, INT64_MAX);

	REQUIRE(parse("{\"ts_ms\":4,\"kind\":\"cri.image\",\"image\":\"busybox\",\"ok\":true,"
		      "\"image_ref\":\"sha256:abc\"}",
		      &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.cri_image.image, "busybox");
	CHECK(ev.u.cri_image.ok);
	CHECK_EQ_STR(ev.u.cri_image.error, ""); /* absent: "", never NULL */
	CHECK_EQ_STR(ev.u.cri_image.image_ref, "sha256:abc");

	REQUIRE(parse("{\"ts_ms\":5,\"kind\":\"probe\",\"pod_uid\":\"u1\",\"container\":\"app\","
		      "\"probe\":\"startup\",\"ok\":false,\"message\":\"HTTP 500\"}",
		      &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.probe.container, "app");
	CHECK_EQ_INT(ev.u.probe.probe, FSM_PROBE_STARTUP);
	CHECK(!ev.u.probe.ok);
	CHECK_EQ_STR(ev.u.probe.message, "HTTP 500");

	REQUIRE(parse("{\"ts_ms\":6,\"kind\":\"timer\",\"key\":\"backoff/u1/app\"}", &ev, &a,
		      err) == 0);
	CHECK_EQ_STR(ev.u.timer.key, "backoff/u1/app");

	REQUIRE(parse("{\"ts_ms\":7,\"kind\":\"effect\",\"cmd\":\"u1/run/1\",\"ok\":false,"
		      "\"error_class\":\"transient\",\"error\":\"timeout\",\"result\":\"r\"}",
		      &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.effect.cmd, "u1/run/1");
	CHECK_EQ_INT(ev.u.effect.error_class, FSM_ERR_TRANSIENT);
	CHECK_EQ_STR(ev.u.effect.error, "timeout");
	CHECK_EQ_STR(ev.u.effect.result, "r");

	REQUIRE(parse("{\"ts_ms\":8,\"kind\":\"node.config\",\"config\":{\"maxPods\":110}}", &ev,
		      &a, err) == 0);
	CHECK_EQ_STR(ev.u.node_config.config, "{\"maxPods\":110}");
	CHECK_EQ_INT(ev.u.node_config.config_len, 15);

	REQUIRE(parse("{\"ts_ms\":9,\"kind\":\"node.pressure\",\"signal\":\"pid.available\","
		      "\"value\":100,\"capacity\":4096}",
		      &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.node_pressure.signal, "pid.available");
	CHECK_EQ_INT(ev.u.node_pressure.value, 100);
	CHECK_EQ_INT(ev.u.node_pressure.capacity, 4096);

	REQUIRE(parse("{\"ts_ms\":10,\"kind\":\"pod.stats\",\"pod_uid\":\"u1\",\"memory_bytes\":1,"
		      "\"disk_bytes\":2,\"inodes\":3,\"pids\":4}",
		      &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.pod_stats.pod_uid, "u1");
	CHECK_EQ_INT(ev.u.pod_stats.memory_bytes, 1);
	CHECK_EQ_INT(ev.u.pod_stats.disk_bytes, 2);
	CHECK_EQ_INT(ev.u.pod_stats.inodes, 3);
	CHECK_EQ_INT(ev.u.pod_stats.pids, 4);

	REQUIRE(parse("{\"ts_ms\":18446744073709551615,\"kind\":\"clock\"}", &ev, &a, err) == 0);
	CHECK_EQ_INT(ev.kind, FSM_EV_CLOCK);
	CHECK(ev.ts_ms == UINT64_MAX);
	fsm_arena_free(&a);
}

TEST(test_absent_fields_read_as_empty_zero_false)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	REQUIRE(parse("{\"ts_ms\":0,\"kind\":\"cri.container\"}", &ev, &a, err) == 0);
	const struct fsm_ev_cri_container *c = &ev.u.cri_container;
	CHECK_EQ_STR(c->pod_uid, "");
	CHECK_EQ_STR(c->name, "");
	CHECK_EQ_STR(c->id, "");
	CHECK_EQ_STR(c->reason, "");
	CHECK_EQ_STR(c->message, "");
	CHECK_EQ_INT(c->attempt, 0);
	CHECK_EQ_INT(c->state, FSM_CONTAINER_NONE);
	CHECK_EQ_INT(c->exit_code, 0);
	CHECK_EQ_INT(c->started_at_ms, 0);
	/* An enum may also be "", its NONE value. */
	REQUIRE(parse("{\"ts_ms\":0,\"kind\":\"probe\",\"probe\":\"\",\"ok\":true}", &ev, &a, err) ==
		0);
	CHECK_EQ_INT(ev.u.probe.probe, FSM_PROBE_NONE);
	CHECK_EQ_STR(ev.u.probe.pod_uid, "");
	REQUIRE(parse("{\"ts_ms\":0,\"kind\":\"effect\",\"ok\":true}", &ev, &a, err) == 0);
	CHECK_EQ_INT(ev.u.effect.error_class, FSM_ERR_NONE);
	CHECK(ev.u.effect.ok);
	fsm_arena_free(&a);
}

TEST(test_strings_are_copied_into_the_arena)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	char line[] = "{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":{\"a\":1}}";
	REQUIRE(fsm_event_from_json(line, strlen(line), &ev, &a, err, sizeof(err)) == 0);
	uintptr_t obj = (uintptr_t)ev.u.api_pod.object, lp = (uintptr_t)line;
	CHECK(obj < lp || obj >= lp + sizeof(line));
	memset(line, 'x', sizeof(line) - 1); /* the event must not care */
	CHECK_EQ_STR(ev.u.api_pod.object, "{\"a\":1}");
	fsm_arena_free(&a);
}

TEST(test_line_endings_and_unknown_fields)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	REQUIRE(parse("{\"ts_ms\":1,\"kind\":\"timer\",\"key\":\"k\"}\n", &ev, &a, err) == 0);
	CHECK_EQ_STR(ev.u.timer.key, "k");
	REQUIRE(parse("  {\"ts_ms\":1,\"kind\":\"timer\",\"key\":\"k\"}\r\n", &ev, &a, err) == 0);
	/* Fields a newer writer may add are ignored, whatever their type. */
	REQUIRE(parse("{\"ts_ms\":1,\"future\":{\"x\":[1,2,{\"kind\":\"nested\"}]},\"kind\":\"timer\","
		      "\"key\":\"k\",\"more\":null}",
		      &ev, &a, err) == 0);
	CHECK_EQ_INT(ev.kind, FSM_EV_TIMER);
	/* A field of another kind is unknown to this one. */
	REQUIRE(parse("{\"ts_ms\":1,\"kind\":\"timer\",\"key\":\"k\",\"state\":\"bogus\"}", &ev, &a,
		      err) == 0);
	/* Keys may be spelled with escapes. */
	REQUIRE(parse("{\"\\u0074s_ms\":5,\"kin\\u0064\":\"timer\",\"k\\u0065y\":\"k\"}", &ev, &a,
		      err) == 0);
	CHECK_EQ_INT(ev.ts_ms, 5);
	CHECK_EQ_STR(ev.u.timer.key, "k");
	/* A key with NUL in it is not "kind". */
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\\u0000\":\"timer\"}", "missing field \"kind\"");
	/* Errors fit any buffer, and no buffer is fine. */
	char small[8];
	CHECK_EQ_INT(fsm_event_from_json("[", 1, &ev, &a, small, sizeof(small)), -1);
	CHECK_EQ_INT(strlen(small), 7);
	CHECK_EQ_INT(fsm_event_from_json("[", 1, &ev, &a, NULL, 0), -1);
	CHECK_EQ_INT(fsm_event_from_json("[", 1, &ev, &a, small, 1), -1);
	CHECK_EQ_STR(small, "");
	fsm_arena_free(&a);
}

/* ---- writing: the canonical form and byte-exact round trips ------------------------------ */

static const char *const canonical_lines[] = {
	"{\"seq\":7,\"ts_ms\":1000,\"wall_ms\":1700000000000,\"kind\":\"api.pod\",\"type\":\"ADDED\","
	"\"object\":{\"metadata\":{\"uid\":\"u1\",\"name\":\"web\"}}}",
	"{\"ts_ms\":1001,\"kind\":\"file.pod\",\"path\":\"/etc/kubernetes/manifests/a.json\","
	"\"object\":{\"kind\":\"Pod\"}}",
	"{\"ts_ms\":1002,\"kind\":\"file.pod\",\"path\":\"/etc/kubernetes/manifests/a.json\","
	"\"removed\":true}",
	"{\"ts_ms\":1003,\"kind\":\"cri.sandbox\",\"pod_uid\":\"u1\",\"attempt\":1,\"id\":\"sb1\","
	"\"state\":\"ready\",\"ip\":\"10.0.0.5\"}",
	"{\"ts_ms\":1004,\"kind\":\"cri.container\",\"pod_uid\":\"u1\",\"name\":\"app\",\"attempt\":2,"
	"\"id\":\"c1\",\"state\":\"exited\",\"exit_code\":-1,\"reason\":\"Error\",\"message\":"
	"\"boom\\n\\u0001\",\"started_at_ms\":5,\"finished_at_ms\":9}",
	"{\"ts_ms\":1005,\"kind\":\"cri.image\",\"image\":\"busybox:1\",\"ok\":false,\"error\":"
	"\"not found\",\"image_ref\":\"\"}",
	"{\"ts_ms\":1006,\"kind\":\"probe\",\"pod_uid\":\"u1\",\"container\":\"app\",\"probe\":"
	"\"readiness\",\"ok\":true,\"message\":\"\"}",
	"{\"ts_ms\":1007,\"kind\":\"timer\",\"key\":\"backoff/u1/app\"}",
	"{\"ts_ms\":1008,\"kind\":\"effect\",\"cmd\":\"u1/run_sandbox/1\",\"ok\":false,\"error_class\":"
	"\"not-found\",\"error\":\"gone\",\"result\":\"\"}",
	"{\"ts_ms\":1009,\"kind\":\"node.config\",\"config\":{\"nodeName\":\"n1\",\"maxPods\":110}}",
	"{\"ts_ms\":1010,\"kind\":\"node.pressure\",\"signal\":\"memory.available\",\"value\":"
	"104857600,\"capacity\":8589934592}",
	"{\"ts_ms\":1011,\"kind\":\"pod.stats\",\"pod_uid\":\"u1\",\"memory_bytes\":1,\"disk_bytes\":2,"
	"\"inodes\":3,\"pids\":-4}",
	"{\"ts_ms\":1012,\"kind\":\"clock\"}",
	"{\"ts_ms\":1014,\"kind\":\"api.backoff\",\"resource\":\"pods\",\"delay_ms\":812,"
	"\"reason\":\"LIST pods: 500\"}",
	"{\"ts_ms\":1015,\"kind\":\"api.object\",\"object_kind\":\"Secret\",\"namespace\":\"ns1\","
	"\"name\":\"creds\",\"resource_version\":\"812\",\"exists\":true,\"hash\":\"00000000000000d1\"}",
	"{\"ts_ms\":1016,\"kind\":\"cri.status\",\"ok\":true,\"error\":\"\",\"runtime_ready\":true,"
	"\"runtime_reason\":\"\",\"runtime_message\":\"\",\"network_ready\":false,\"network_reason\":"
	"\"NetworkPluginNotReady\",\"network_message\":\"cni plugin not initialized\"}",
	"{\"ts_ms\":1013,\"kind\":\"cri.sandbox\",\"pod_uid\":\"\",\"attempt\":0,\"id\":\"\","
	"\"state\":\"\",\"ip\":\"\"}",
};

TEST(test_every_kind_writes_back_byte_for_byte)
{
	bool seen[FSM_EV_KIND_COUNT] = {false};
	size_t n = sizeof(canonical_lines) / sizeof(canonical_lines[0]);
	for (size_t i = 0; i < n; i++) {
		struct fsm_arena a = FSM_ARENA_INIT, a2 = FSM_ARENA_INIT;
		struct fsm_event ev, ev2;
		if (check_canonical(canonical_lines[i], &ev, &a)) {
			seen[ev.kind] = true;
			/* And the written line reads back equal. */
			struct fsm_buf b = FSM_BUF_INIT;
			char err[FSM_JSON_ERR_BYTES];
			REQUIRE(fsm_event_to_json(&ev, &b) == 0);
			REQUIRE(fsm_event_from_json(b.ptr, b.len, &ev2, &a2, err, sizeof(err)) == 0);
			CHECKF(event_equal(&ev, &ev2), "not equal after a round trip: %s", b.ptr);
			fsm_buf_free(&b);
		}
		fsm_arena_free(&a);
		fsm_arena_free(&a2);
	}
	for (int k = 1; k < FSM_EV_KIND_COUNT; k++)
		CHECKF(seen[k], "no canonical line for %s", fsm_event_kind_name((enum fsm_event_kind)k));
}

TEST(test_written_line_from_a_struct)
{
	struct fsm_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ms = 42;
	ev.kind = FSM_EV_EFFECT;
	ev.u.effect.cmd = "c\"1";
	ev.u.effect.ok = true;
	ev.u.effect.error = NULL; /* written as "" */
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_buf_puts(&b, "prefix ") == 0);
	REQUIRE(fsm_event_to_json(&ev, &b) == FSM_JSON_OK);
	CHECK_EQ_STR(b.ptr, "prefix {\"ts_ms\":42,\"kind\":\"effect\",\"cmd\":\"c\\\"1\",\"ok\":true,"
			    "\"error_class\":\"\",\"error\":\"\",\"result\":\"\"}");
	fsm_buf_free(&b);
}

/* The Pod as the API server sent it: odd spacing, escapes json-c would rewrite,
 * nested arrays, UTF-8 raw and escaped, numbers in every spelling. */
static const char odd_object[] =
	"{ \"metadata\" :{\"name\":\"web\\u003c1\\u003e\",\t\"labels\": {\"a/b\":\"\\/x\"} },"
	"\"spec\":{\"containers\":[ {\"name\":\"app\",\"args\":[[],[[\"\\ud83d\\ude00\"]],\"h\xc3\xa9\","
	"\"\xe4\xb8\x96\",\"\\\"q\\\\\"]}],\"n\":[-0,1.50,2E+3,1e-7,123456789012345678901234567890],"
	"\"t\":true,\"f\":false,\"z\":null ,\"e\":{} , \"ea\":[ ] }  }";

TEST(test_raw_object_bytes_are_kept_exactly)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	struct fsm_buf line = FSM_BUF_INIT, out = FSM_BUF_INIT;
	char err[FSM_JSON_ERR_BYTES];
	size_t on = strlen(odd_object);

	/* api.pod: the object is the exact substring of the line. */
	REQUIRE(fsm_buf_puts(&line, "{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"SYNC\",\"object\": ") ==
		0);
	REQUIRE(fsm_buf_puts(&line, odd_object) == 0);
	REQUIRE(fsm_buf_puts(&line, " }") == 0);
	REQUIRE(fsm_event_from_json(line.ptr, line.len, &ev, &a, err, sizeof(err)) == 0);
	CHECK_EQ_INT(ev.u.api_pod.object_len, on);
	CHECK(memcmp(ev.u.api_pod.object, odd_object, on) == 0);
	CHECK_EQ_INT(ev.u.api_pod.type, FSM_WATCH_SYNC);
	REQUIRE(fsm_event_to_json(&ev, &out) == 0);
	CHECK(strstr(out.ptr, odd_object) != NULL);
	/* The written line is canonical from then on. */
	CHECK(check_canonical(out.ptr, &ev, &a));

	/* file.pod and node.config keep theirs the same way. */
	fsm_buf_reset(&line);
	REQUIRE(fsm_buf_puts(&line, "{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"object\":") ==
		0);
	REQUIRE(fsm_buf_puts(&line, odd_object) == 0);
	REQUIRE(fsm_buf_puts(&line, "}") == 0);
	CHECK(check_canonical(line.ptr, &ev, &a));
	CHECK(raw_eq(ev.u.file_pod.object, ev.u.file_pod.object_len, odd_object, on));
	fsm_buf_reset(&line);
	REQUIRE(fsm_buf_puts(&line, "{\"ts_ms\":1,\"kind\":\"node.config\",\"config\":") == 0);
	REQUIRE(fsm_buf_puts(&line, odd_object) == 0);
	REQUIRE(fsm_buf_puts(&line, "}") == 0);
	CHECK(check_canonical(line.ptr, &ev, &a));
	CHECK(raw_eq(ev.u.node_config.config, ev.u.node_config.config_len, odd_object, on));

	fsm_buf_free(&line);
	fsm_buf_free(&out);
	fsm_arena_free(&a);
}

/* ---- refusals ---------------------------------------------------------------------------- */

TEST(test_missing_kind_or_ts_ms_is_refused)
{
	CHECK_REFUSED("{\"ts_ms\":1}", "missing field \"kind\"");
	CHECK_REFUSED("{\"kind\":\"clock\"}", "missing field \"ts_ms\"");
	CHECK_REFUSED("{}", "missing field \"kind\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.foo\"}", "unknown kind \"cri.foo\"", "api.pod");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"\"}", "unknown kind \"\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"API.POD\"}", "unknown kind");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":7}", "field \"kind\": want a string, got 7");
}

TEST(test_kind_fields_are_checked)
{
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.container\",\"state\":\"runing\"}",
		      "field \"state\": \"runing\" is not one of created, running, exited, unknown");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.sandbox\",\"state\":\"up\"}",
		      "field \"state\": \"up\" is not one of ready, notready");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"probe\",\"probe\":\"alive\"}",
		      "field \"probe\": \"alive\" is not one of liveness, readiness, startup");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"effect\",\"error_class\":\"fatal\"}",
		      "field \"error_class\": \"fatal\" is not one of transient, permanent, not-found");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"CHANGED\",\"object\":{}}",
		      "field \"type\": \"CHANGED\" is not one of ADDED, MODIFIED, DELETED, SYNC");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"\",\"object\":{}}",
		      "field \"type\": \"\" is not one of");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"object\":{}}",
		      "missing field \"type\" (required for api.pod)");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"ADDED\"}",
		      "missing field \"object\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"node.config\"}", "missing field \"config\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"file.pod\",\"removed\":true}", "missing field \"path\"");
}

TEST(test_wrong_types_are_refused)
{
	CHECK_REFUSED("{\"ts_ms\":-1,\"kind\":\"clock\"}",
		      "field \"ts_ms\": want a non-negative integer", "got -1");
	CHECK_REFUSED("{\"ts_ms\":\"12\",\"kind\":\"clock\"}",
		      "field \"ts_ms\": want a non-negative integer", "got \"12\"");
	CHECK_REFUSED("{\"ts_ms\":1.5,\"kind\":\"clock\"}", "field \"ts_ms\": want a non-negative");
	CHECK_REFUSED("{\"ts_ms\":1e3,\"kind\":\"clock\"}", "field \"ts_ms\": want a non-negative");
	CHECK_REFUSED("{\"ts_ms\":18446744073709551616,\"kind\":\"clock\"}", "field \"ts_ms\"");
	CHECK_REFUSED("{\"ts_ms\":null,\"kind\":\"clock\"}", "field \"ts_ms\"", "got null");
	CHECK_REFUSED("{\"ts_ms\":1,\"seq\":true,\"kind\":\"clock\"}", "field \"seq\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"wall_ms\":[],\"kind\":\"clock\"}", "field \"wall_ms\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.sandbox\",\"attempt\":4294967296}",
		      "field \"attempt\": want a non-negative integer up to 4294967295");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.sandbox\",\"attempt\":-1}", "field \"attempt\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.container\",\"exit_code\":2147483648}",
		      "field \"exit_code\": want an integer from -2147483648 to 2147483647");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.container\",\"started_at_ms\":9223372036854775808}",
		      "field \"started_at_ms\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"pod.stats\",\"pids\":\"4\"}", "field \"pids\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.image\",\"ok\":1}",
		      "field \"ok\": want true or false, got 1");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.image\",\"ok\":\"true\"}", "field \"ok\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"timer\",\"key\":5}", "field \"key\": want a string");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"timer\",\"key\":null}", "field \"key\": want a string");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"timer\",\"key\":\"a\\u0000b\"}", "field \"key\"", "NUL");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"cri.sandbox\",\"state\":1}",
		      "field \"state\": want a string");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":[]}",
		      "field \"object\": want a JSON object, got []");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":\"{}\"}",
		      "field \"object\": want a JSON object");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"node.config\",\"config\":null}",
		      "field \"config\": want a JSON object");
	/* A long bad value is quoted in part. */
	CHECK_REFUSED("{\"ts_ms\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		      "\"kind\":\"clock\"}",
		      "field \"ts_ms\"", "...");
}

TEST(test_file_pod_has_object_or_removed)
{
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"object\":{},"
		      "\"removed\":true}",
		      "\"object\"", "\"removed\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\"}", "missing field \"object\"",
		      "removed");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"removed\":false}",
		      "missing field \"object\"");
	/* removed: false beside an object is fine, and not written back. */
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	REQUIRE(parse("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"object\":{},"
		      "\"removed\":false}",
		      &ev, &a, err) == 0);
	CHECK(!ev.u.file_pod.removed);
	CHECK_EQ_STR(ev.u.file_pod.object, "{}");
	CHECK(check_canonical("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"object\":{}}", &ev,
			      &a));
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"file.pod\",\"path\":\"p\",\"removed\":\"yes\"}",
		      "field \"removed\": want true or false");
	fsm_arena_free(&a);
}

TEST(test_not_an_object_is_refused)
{
	CHECK_REFUSED("[1,2]", "not a JSON object");
	CHECK_REFUSED("\"ts_ms\"", "not a JSON object");
	CHECK_REFUSED("42", "not a JSON object");
	CHECK_REFUSED("null", "not a JSON object");
	CHECK_REFUSED("hello", "not a JSON object");
	CHECK_REFUSED("", "empty line");
	CHECK_REFUSED("  \t\n", "empty line");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\"} {}", "unexpected data after the JSON object");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\"}x", "unexpected data", "column 27");
	CHECK_REFUSED("{\"ts_ms\":1,\n\"kind\":\"clock\"}", "line break at column 12");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\",\"x\":{\r}}", "line break");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\",\"ts_ms\":2}", "duplicate field \"ts_ms\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\",\"kind\":\"timer\"}", "duplicate field \"kind\"");
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\",\"\\u006bind\":\"timer\"}",
		      "duplicate field \"kind\"");
}

TEST(test_invalid_json_is_refused)
{
	CHECK_REFUSED("{\"ts_ms\":1,\"kind\":\"clock\",}", "invalid JSON at column 27",
		      "expected a string key");
	CHECK_REFUSED("{\"ts_ms\":01,\"kind\":\"clock\"}", "invalid JSON");
	CHECK_REFUSED("{\"ts_ms\":1.,\"kind\":\"clock\"}", "invalid JSON", "digits must follow");
	CHECK_REFUSED("{\"ts_ms\":NaN,\"kind\":\"clock\"}", "invalid JSON", "unexpected character");
	CHECK_REFUSED("{'ts_ms':1}", "invalid JSON");
	CHECK_REFUSED("{\"ts_ms\" 1}", "expected ':'");
	CHECK_REFUSED("{\"ts_ms\":1 \"kind\":\"clock\"}", "expected ',' or '}'");
	CHECK_REFUSED("{\"x\":[1 2],\"ts_ms\":1,\"kind\":\"clock\"}", "expected ',' or ']'");
	CHECK_REFUSED("{\"x\":\"a\tb\",\"ts_ms\":1,\"kind\":\"clock\"}", "control character");
	CHECK_REFUSED("{\"x\":\"\\q\",\"ts_ms\":1,\"kind\":\"clock\"}", "unknown escape");
	CHECK_REFUSED("{\"x\":\"\\u12g4\",\"ts_ms\":1,\"kind\":\"clock\"}", "4 hex digits");
	CHECK_REFUSED("{\"x\":tru,\"ts_ms\":1,\"kind\":\"clock\"}", "invalid JSON");
	CHECK_REFUSED("{\"x\":\"\xff\",\"ts_ms\":1,\"kind\":\"clock\"\x01}", "invalid JSON");
	/* Nesting has a limit, and the line is refused, not the stack blown. */
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_buf_puts(&b, "{\"ts_ms\":1,\"kind\":\"clock\",\"x\":") == 0);
	for (int i = 0; i < FSM_JSON_DEPTH_MAX; i++)
		REQUIRE(fsm_buf_putc(&b, '[') == 0);
	for (int i = 0; i < FSM_JSON_DEPTH_MAX; i++)
		REQUIRE(fsm_buf_putc(&b, ']') == 0);
	REQUIRE(fsm_buf_putc(&b, '}') == 0);
	CHECK_REFUSED(b.ptr, "nested deeper than 128");
	/* One level less is fine. */
	fsm_buf_reset(&b);
	REQUIRE(fsm_buf_puts(&b, "{\"ts_ms\":1,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":") == 0);
	for (int i = 0; i < FSM_JSON_DEPTH_MAX - 1; i++)
		REQUIRE(fsm_buf_puts(&b, "{\"a\":") == 0);
	REQUIRE(fsm_buf_putc(&b, '1') == 0);
	for (int i = 0; i < FSM_JSON_DEPTH_MAX; i++)
		REQUIRE(fsm_buf_putc(&b, '}') == 0);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	CHECK(check_canonical(b.ptr, &ev, &a));
	fsm_arena_free(&a);
	fsm_buf_free(&b);
}

TEST(test_every_prefix_of_a_line_is_truncated)
{
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	for (size_t li = 0; li < sizeof(canonical_lines) / sizeof(canonical_lines[0]); li++) {
		const char *line = canonical_lines[li];
		size_t n = strlen(line);
		for (size_t len = 1; len < n; len++) {
			int rc = parse_exact(line, len, &ev, &a, err, sizeof(err));
			CHECKF(rc == -1, "prefix %zu of %s accepted", len, line);
			CHECKF(strstr(err, "truncated") != NULL, "prefix %zu of %s: %s", len, line,
			       err);
		}
		fsm_arena_reset(&a);
	}
	fsm_arena_free(&a);
}

TEST(test_line_length_limit)
{
	/* A valid line just past the limit: refused for its length, before any parsing. */
	size_t n = FSM_JSON_LINE_BYTES_MAX + 1;
	char *line = malloc(n);
	REQUIRE(line != NULL);
	const char *head = "{\"ts_ms\":1,\"kind\":\"clock\",\"pad\":\"";
	size_t hn = strlen(head);
	memcpy(line, head, hn);
	memset(line + hn, 'x', n - hn - 2);
	memcpy(line + n - 2, "\"}", 2);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_event ev;
	char err[FSM_JSON_ERR_BYTES];
	CHECK_EQ_INT(fsm_event_from_json(line, n, &ev, &a, err, sizeof(err)), -1);
	CHECK(strstr(err, "longer than the limit of 16777216 bytes") != NULL);
	/* At the limit it is read. */
	memcpy(line + n - 3, "\"}", 2);
	CHECK_EQ_INT(fsm_event_from_json(line, n - 1, &ev, &a, err, sizeof(err)), 0);
	CHECK_EQ_INT(ev.kind, FSM_EV_CLOCK);

	/* The writers refuse what the readers would: a line over the limit, by one byte. */
	struct fsm_event big;
	memset(&big, 0, sizeof(big));
	big.kind = FSM_EV_NODE_CONFIG;
	big.u.node_config.config = "{}";
	big.u.node_config.config_len = 2;
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_event_to_json(&big, &b) == FSM_JSON_OK);
	size_t on = FSM_JSON_LINE_BYTES_MAX - (b.len - 2); /* the line is at the limit */
	memcpy(line, "{\"a\":\"", 6);
	memset(line + 6, 'y', on - 8);
	memcpy(line + on - 2, "\"}", 2);
	big.u.node_config.config = line;
	big.u.node_config.config_len = on;
	fsm_buf_reset(&b);
	REQUIRE(fsm_event_to_json(&big, &b) == FSM_JSON_OK);
	CHECK_EQ_INT(b.len, FSM_JSON_LINE_BYTES_MAX);
	CHECK_EQ_INT(fsm_event_from_json(b.ptr, b.len, &ev, &a, err, sizeof(err)), 0);
	fsm_buf_reset(&b);
	big.ts_ms = 10;
	CHECK_EQ_INT(fsm_event_to_json(&big, &b), FSM_JSON_EINVAL);
	CHECK_EQ_INT(b.len, 0);

	struct fsm_command c = {.kind = FSM_CMD_HOOK_RUN, .body = "{}", .body_len = 2};
	REQUIRE(fsm_command_to_json(&c, 1, 1, &b) == FSM_JSON_OK);
	c.body = line;
	c.body_len = FSM_JSON_LINE_BYTES_MAX - (b.len - 2);
	memset(line + 6, 'y', c.body_len - 8);
	memcpy(line + c.body_len - 2, "\"}", 2);
	fsm_buf_reset(&b);
	CHECK_EQ_INT(fsm_command_to_json(&c, 1, 1, &b), FSM_JSON_OK);
	CHECK_EQ_INT(b.len, FSM_JSON_LINE_BYTES_MAX);
	fsm_buf_reset(&b);
	c.id = "x";
	CHECK_EQ_INT(fsm_command_to_json(&c, 1, 1, &b), FSM_JSON_EINVAL);
	CHECK_EQ_INT(b.len, 0);
	fsm_buf_free(&b);
	free(line);
	fsm_arena_free(&a);
}

TEST(test_unwritable_events_are_refused_and_leave_the_buffer)
{
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_buf_puts(&b, "keep") == 0);
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL); /* kind NONE */
	ev.kind = (enum fsm_event_kind)FSM_EV_KIND_COUNT;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL);

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_CRI_CONTAINER;
	ev.u.cri_container.state = (enum fsm_container_state)9;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL);

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_API_POD;
	ev.u.api_pod.type = FSM_WATCH_ADDED;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL); /* no object */
	const char *bad_objects[] = {"{\"a\":\n1}", " {}", "{} ", "[]", "{\"a\":}", "{", "{}{}", "1"};
	for (size_t i = 0; i < sizeof(bad_objects) / sizeof(bad_objects[0]); i++) {
		ev.u.api_pod.object = bad_objects[i];
		ev.u.api_pod.object_len = strlen(bad_objects[i]);
		CHECKF(fsm_event_to_json(&ev, &b) == FSM_JSON_EINVAL, "wrote object %s",
		       bad_objects[i]);
	}
	ev.u.api_pod.object = "{}";
	ev.u.api_pod.object_len = 2;
	ev.u.api_pod.type = FSM_WATCH_NONE;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL); /* type is required */

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_FILE_POD;
	ev.u.file_pod.path = "p";
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL); /* neither */
	ev.u.file_pod.removed = true;
	ev.u.file_pod.object = "{}";
	ev.u.file_pod.object_len = 2;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL); /* both */

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_NODE_CONFIG;
	CHECK_EQ_INT(fsm_event_to_json(&ev, &b), FSM_JSON_EINVAL);

	CHECK_EQ_INT(b.len, 4);
	CHECK_EQ_STR(b.ptr, "keep");
	fsm_buf_free(&b);
}

/* ---- commands ---------------------------------------------------------------------------- */

TEST(test_command_lines)
{
	struct fsm_command c = {
		.kind = FSM_CMD_CRI_RUN_SANDBOX,
		.id = "u1/sandbox/0",
		.pod_uid = "u1",
		.container = "",
		.key = "",
		.image = "",
	};
	struct fsm_buf b = FSM_BUF_INIT;
	REQUIRE(fsm_command_to_json(&c, 3, 1000, &b) == FSM_JSON_OK);
	CHECK_EQ_STR(b.ptr, "{\"seq\":3,\"ts_ms\":1000,\"id\":\"u1/sandbox/0\",\"cmd\":"
			    "\"cri.run_sandbox\",\"pod_uid\":\"u1\"}");

	static const char body[] = "{ \"spec\" : {\"a\":[1, 2.0,\"\\u003c\"]}, \"x\":\"\xc3\xa9\" }";
	struct fsm_command full = {
		.kind = FSM_CMD_TIMER_SET,
		.id = "t/1",
		.pod_uid = "u1",
		.container = "app",
		.attempt = 2,
		.key = "backoff/u1/app",
		.due_ms = 18446744073709551615ULL,
		.timeout_s = 30,
		.image = "busybox",
		.body = body,
		.body_len = strlen(body),
	};
	fsm_buf_reset(&b);
	REQUIRE(fsm_command_to_json(&full, 0, 0, &b) == FSM_JSON_OK);
	struct fsm_buf want = FSM_BUF_INIT;
	REQUIRE(fsm_buf_puts(&want, "{\"seq\":0,\"ts_ms\":0,\"id\":\"t/1\",\"cmd\":\"timer.set\","
				    "\"pod_uid\":\"u1\",\"container\":\"app\",\"attempt\":2,\"key\":"
				    "\"backoff/u1/app\",\"due_ms\":18446744073709551615,\"timeout_s\":30,"
				    "\"image\":\"busybox\",\"body\":") == 0);
	REQUIRE(fsm_buf_puts(&want, body) == 0);
	REQUIRE(fsm_buf_putc(&want, '}') == 0);
	CHECK_EQ_STR(b.ptr, want.ptr);

	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_command back;
	uint64_t seq = 9, ts = 9;
	char err[FSM_JSON_ERR_BYTES];
	REQUIRE(fsm_command_from_json(b.ptr, b.len, &back, &seq, &ts, &a, err, sizeof(err)) == 0);
	CHECK(command_equal(&full, &back));
	CHECK_EQ_INT(seq, 0);
	CHECK_EQ_INT(ts, 0);
	CHECK_EQ_INT(back.body_len, strlen(body));
	CHECK(back.body != body && memcmp(back.body, body, strlen(body)) == 0);
	struct fsm_buf again = FSM_BUF_INIT;
	REQUIRE(fsm_command_to_json(&back, seq, ts, &again) == 0);
	CHECK_EQ_STR(again.ptr, b.ptr);

	/* No body reads back as NULL; absent strings as "". */
	const char *minimal = "{\"ts_ms\":5,\"cmd\":\"probe.stop\"}";
	REQUIRE(fsm_command_from_json(minimal, strlen(minimal), &back, &seq, &ts, &a, err,
				      sizeof(err)) == 0);
	CHECK(back.body == NULL);
	CHECK_EQ_INT(back.body_len, 0);
	CHECK_EQ_STR(back.id, "");
	CHECK_EQ_STR(back.container, "");
	CHECK_EQ_INT(back.kind, FSM_CMD_PROBE_STOP);
	CHECK_EQ_INT(ts, 5);

	fsm_buf_free(&b);
	fsm_buf_free(&want);
	fsm_buf_free(&again);
	fsm_arena_free(&a);
}

TEST(test_command_unknown_kind_and_bodies)
{
	struct fsm_buf b = FSM_BUF_INIT;
	struct fsm_arena a = FSM_ARENA_INIT;
	char err[FSM_JSON_ERR_BYTES];
	struct fsm_command c = {.kind = (enum fsm_cmd_kind)99, .id = "x", .pod_uid = NULL};
	REQUIRE(fsm_command_to_json(&c, 1, 2, &b) == 0);
	CHECK_EQ_STR(b.ptr,
		     "{\"seq\":1,\"ts_ms\":2,\"id\":\"x\",\"cmd\":\"unknown.99\",\"pod_uid\":\"\"}");
	struct fsm_command back;
	uint64_t seq, ts;
	REQUIRE(fsm_command_from_json(b.ptr, b.len, &back, &seq, &ts, &a, err, sizeof(err)) == 0);
	CHECK_EQ_INT(back.kind, 99);
	fsm_buf_reset(&b);
	c.kind = FSM_CMD_NONE;
	REQUIRE(fsm_command_to_json(&c, 1, 2, &b) == 0);
	CHECK(strstr(b.ptr, "\"cmd\":\"unknown.0\"") != NULL);

	/* A body is any JSON value, kept as written. */
	const char *bodies[] = {"\"s\\n\"", "-1.5e3", "true", "null", "[ 1 ,{}]", "{}"};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		c.kind = FSM_CMD_HOOK_RUN;
		c.body = bodies[i];
		c.body_len = strlen(bodies[i]);
		fsm_buf_reset(&b);
		REQUIRE(fsm_command_to_json(&c, 1, 2, &b) == 0);
		REQUIRE(fsm_command_from_json(b.ptr, b.len, &back, &seq, &ts, &a, err, sizeof(err)) ==
			0);
		CHECKF(command_equal(&c, &back), "body %s", bodies[i]);
	}
	/* An empty body is left out; a broken one is refused. */
	c.body = "";
	c.body_len = 0;
	fsm_buf_reset(&b);
	REQUIRE(fsm_command_to_json(&c, 1, 2, &b) == 0);
	CHECK(strstr(b.ptr, "body") == NULL);
	REQUIRE(fsm_buf_puts(&b, "|") == 0);
	size_t len = b.len;
	const char *bad[] = {"{", "{\"a\"\n:1}", " 1", "1 ", "01", "[1,]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.body = bad[i];
		c.body_len = strlen(bad[i]);
		CHECKF(fsm_command_to_json(&c, 1, 2, &b) == FSM_JSON_EINVAL, "wrote body %s", bad[i]);
	}
	CHECK_EQ_INT(b.len, len);

	/* Refusals name the field. */
	struct {
		const char *line;
		const char *needle;
	} refused[] = {
		{"{\"ts_ms\":1}", "missing field \"cmd\""},
		{"{\"cmd\":\"timer.set\"}", "missing field \"ts_ms\""},
		{"{\"ts_ms\":1,\"cmd\":\"timer.sett\"}", "field \"cmd\": unknown command \"timer.sett\""},
		{"{\"ts_ms\":1,\"cmd\":\"unknown.\"}", "unknown command"},
		{"{\"ts_ms\":1,\"cmd\":\"unknown.-1\"}", "unknown command"},
		{"{\"ts_ms\":1,\"cmd\":\"unknown.4294967296\"}", "unknown command"},
		{"{\"ts_ms\":1,\"cmd\":\"unknown.07\"}", "unknown command"},
		{"{\"ts_ms\":1,\"cmd\":\"timer.set\",\"due_ms\":-1}", "field \"due_ms\""},
		{"{\"ts_ms\":1,\"cmd\":\"timer.set\",\"timeout_s\":4294967296}", "field \"timeout_s\""},
		{"{\"ts_ms\":1,\"cmd\":\"timer.set\",\"seq\":\"1\"}", "field \"seq\""},
		{"{\"ts_ms\":1,\"cmd\":\"timer.set\",\"body\":{\"a\":1}", "truncated"},
		{"{\"ts_ms\":1,\"cmd\":\"timer.set\",\"id\":[]}", "field \"id\": want a string"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		seq = ts = 7;
		int rc = fsm_command_from_json(refused[i].line, strlen(refused[i].line), &back, &seq,
					       &ts, &a, err, sizeof(err));
		CHECKF(rc == -1, "accepted %s", refused[i].line);
		CHECKF(strstr(err, refused[i].needle) != NULL, "\"%s\" lacks \"%s\"", err,
		       refused[i].needle);
		CHECK_EQ_INT(seq, 0);
		CHECK_EQ_INT(ts, 0);
	}
	fsm_buf_free(&b);
	fsm_arena_free(&a);
}

/* ---- seeded random round trips ----------------------------------------------------------- */

static uint64_t rnd(uint64_t n)
{
	return n == 0 ? 0 : test_rand() % n;
}

/* A string that exercises the escaper: quotes, backslashes, control bytes, UTF-8
 * of every length, a byte that is not UTF-8 at all (kept as-is), often empty. */
static const char *rand_str(struct fsm_arena *a)
{
	static const char *const pieces[] = {
		"a", "Z", "0", "-", "/", " ", "\"", "\\", "\n", "\t", "\r", "\b", "\f", "\x01",
		"\x1f", "\x7f", "\xc3\xa9", "\xe4\xb8\x96", "\xf0\x9f\x98\x80", "\xff", "<", "u1",
		"{", "}", "[", ":", ",", "\\u0041",
	};
	char buf[128];
	size_t len = 0;
	size_t n = rnd(4) == 0 ? 0 : rnd(12);
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		size_t pn = strlen(p);
		memcpy(buf + len, p, pn);
		len += pn;
	}
	return fsm_arena_strndup(a, buf, len);
}

static uint64_t rand_u64(void)
{
	switch (rnd(5)) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX - rnd(2);
	case 2:
		return rnd(1000);
	default:
		return test_rand();
	}
}

static int64_t rand_i64(void)
{
	switch (rnd(6)) {
	case 0:
		return 0;
	case 1:
		return INT64_MIN + (int64_t)rnd(2);
	case 2:
		return INT64_MAX - (int64_t)rnd(2);
	case 3:
		return (int64_t)rnd(2000) - 1000;
	default:
		return (int64_t)test_rand();
	}
}

static void rand_ws(struct fsm_buf *b)
{
	static const char *const ws[] = {"", "", "", " ", "\t", "  "};
	fsm_buf_puts(b, ws[rnd(sizeof(ws) / sizeof(ws[0]))]);
}

/* A JSON string spelled the way a foreign writer might: escapes json-c would
 * write differently, surrogate pairs, raw UTF-8. */
static void rand_json_string(struct fsm_buf *b, struct fsm_arena *a)
{
	static const char *const odd[] = {"\\u003c", "\\/", "\\ud83d\\ude00", "\\u00E9", "\\\"",
					  "\xc3\xa9", "\\b"};
	if (rnd(3) == 0) {
		fsm_buf_putc(b, '"');
		for (uint64_t i = rnd(4); i > 0; i--)
			fsm_buf_puts(b, odd[rnd(sizeof(odd) / sizeof(odd[0]))]);
		fsm_buf_putc(b, '"');
	} else {
		fsm_buf_json_str(b, rand_str(a));
	}
}

static void rand_json_value(struct fsm_buf *b, struct fsm_arena *a, int depth, bool object)
{
	static const char *const scalars[] = {"0", "-0", "1.50", "2E+3", "-1e-7", "true", "false",
					      "null", "123456789012345678901234567890", "42"};
	uint64_t pick = object ? 0 : rnd(depth >= 4 ? 2 : 4) + 2;
	if (pick == 0 || pick == 4) {
		fsm_buf_putc(b, '{');
		rand_ws(b);
		for (uint64_t i = 0, n = rnd(4); i < n; i++) {
			if (i > 0) {
				fsm_buf_putc(b, ',');
				rand_ws(b);
			}
			rand_json_string(b, a);
			rand_ws(b);
			fsm_buf_putc(b, ':');
			rand_ws(b);
			rand_json_value(b, a, depth + 1, false);
			rand_ws(b);
		}
		fsm_buf_putc(b, '}');
	} else if (pick == 5) {
		fsm_buf_putc(b, '[');
		for (uint64_t i = 0, n = rnd(4); i < n; i++) {
			if (i > 0)
				fsm_buf_putc(b, ',');
			rand_ws(b);
			rand_json_value(b, a, depth + 1, false);
			rand_ws(b);
		}
		fsm_buf_putc(b, ']');
	} else if (pick == 2) {
		rand_json_string(b, a);
	} else {
		fsm_buf_puts(b, scalars[rnd(sizeof(scalars) / sizeof(scalars[0]))]);
	}
}

/* Raw JSON in the arena; object true for an object, else any value. */
static const char *rand_raw(struct fsm_arena *a, bool object, size_t *len)
{
	struct fsm_buf b = FSM_BUF_INIT;
	rand_json_value(&b, a, 0, object);
	const char *p = fsm_arena_strndup(a, b.ptr, b.len);
	*len = b.len;
	fsm_buf_free(&b);
	return p;
}

static void rand_event(struct fsm_event *ev, struct fsm_arena *a)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = rnd(3) == 0 ? 0 : rand_u64();
	ev->ts_ms = rand_u64();
	ev->wall_ms = rnd(3) == 0 ? 0 : rand_u64();
	ev->kind = (enum fsm_event_kind)(1 + rnd(FSM_EV_KIND_COUNT - 1));
	switch (ev->kind) {
	case FSM_EV_API_POD:
		ev->u.api_pod.type = (enum fsm_watch_type)(1 + rnd(4));
		ev->u.api_pod.object = rand_raw(a, true, &ev->u.api_pod.object_len);
		break;
	case FSM_EV_FILE_POD:
		ev->u.file_pod.path = rand_str(a);
		ev->u.file_pod.removed = rnd(2);
		if (!ev->u.file_pod.removed)
			ev->u.file_pod.object = rand_raw(a, true, &ev->u.file_pod.object_len);
		break;
	case FSM_EV_CRI_SANDBOX:
		ev->u.cri_sandbox.pod_uid = rand_str(a);
		ev->u.cri_sandbox.attempt = (uint32_t)rand_u64();
		ev->u.cri_sandbox.id = rand_str(a);
		ev->u.cri_sandbox.state = (enum fsm_sandbox_state)rnd(3);
		ev->u.cri_sandbox.ip = rand_str(a);
		break;
	case FSM_EV_CRI_CONTAINER: {
		struct fsm_ev_cri_container *c = &ev->u.cri_container;
		c->pod_uid = rand_str(a);
		c->name = rand_str(a);
		c->attempt = (uint32_t)rand_u64();
		c->id = rand_str(a);
		c->state = (enum fsm_container_state)rnd(5);
		c->exit_code = (int32_t)rand_i64();
		c->reason = rand_str(a);
		c->message = rand_str(a);
		c->started_at_ms = rand_i64();
		c->finished_at_ms = rand_i64();
		break;
	}
	case FSM_EV_CRI_IMAGE:
		ev->u.cri_image.image = rand_str(a);
		ev->u.cri_image.ok = rnd(2);
		ev->u.cri_image.error = rand_str(a);
		ev->u.cri_image.image_ref = rand_str(a);
		break;
	case FSM_EV_PROBE:
		ev->u.probe.pod_uid = rand_str(a);
		ev->u.probe.container = rand_str(a);
		ev->u.probe.probe = (enum fsm_probe_type)rnd(4);
		ev->u.probe.ok = rnd(2);
		ev->u.probe.message = rand_str(a);
		break;
	case FSM_EV_TIMER:
		ev->u.timer.key = rand_str(a);
		break;
	case FSM_EV_EFFECT:
		ev->u.effect.cmd = rand_str(a);
		ev->u.effect.ok = rnd(2);
		ev->u.effect.error_class = (enum fsm_error_class)rnd(4);
		ev->u.effect.error = rand_str(a);
		ev->u.effect.result = rand_str(a);
		break;
	case FSM_EV_NODE_CONFIG:
		ev->u.node_config.config = rand_raw(a, true, &ev->u.node_config.config_len);
		break;
	case FSM_EV_NODE_PRESSURE:
		ev->u.node_pressure.signal = rand_str(a);
		ev->u.node_pressure.value = rand_i64();
		ev->u.node_pressure.capacity = rand_i64();
		break;
	case FSM_EV_POD_STATS:
		ev->u.pod_stats.pod_uid = rand_str(a);
		ev->u.pod_stats.memory_bytes = rand_i64();
		ev->u.pod_stats.disk_bytes = rand_i64();
		ev->u.pod_stats.inodes = rand_i64();
		ev->u.pod_stats.pids = rand_i64();
		break;
	case FSM_EV_API_BACKOFF:
		ev->u.api_backoff.resource = rand_str(a);
		ev->u.api_backoff.delay_ms = rand_i64();
		ev->u.api_backoff.reason = rand_str(a);
		break;
	case FSM_EV_API_OBJECT:
		ev->u.api_object.object_kind = rand_str(a);
		ev->u.api_object.namespace_ = rand_str(a);
		ev->u.api_object.name = rand_str(a);
		ev->u.api_object.resource_version = rand_str(a);
		ev->u.api_object.exists = rand_i64() & 1;
		ev->u.api_object.hash = rand_str(a);
		break;
	case FSM_EV_CRI_STATUS:
		ev->u.cri_status.ok = rand_i64() & 1;
		ev->u.cri_status.error = rand_str(a);
		ev->u.cri_status.runtime_ready = rand_i64() & 1;
		ev->u.cri_status.runtime_reason = rand_str(a);
		ev->u.cri_status.runtime_message = rand_str(a);
		ev->u.cri_status.network_ready = rand_i64() & 1;
		ev->u.cri_status.network_reason = rand_str(a);
		ev->u.cri_status.network_message = rand_str(a);
		break;
	default:
		break;
	}
}

TEST(test_random_events_round_trip)
{
	struct fsm_arena gen = FSM_ARENA_INIT, dec = FSM_ARENA_INIT;
	struct fsm_buf first = FSM_BUF_INIT, second = FSM_BUF_INIT;
	char err[FSM_JSON_ERR_BYTES];
	int kinds_seen = 0;
	bool seen[FSM_EV_KIND_COUNT] = {false};
	for (int i = 0; i < 5000 && !test_failed; i++) {
		struct fsm_event ev, back;
		rand_event(&ev, &gen);
		fsm_buf_reset(&first);
		fsm_buf_reset(&second);
		REQUIRE(fsm_event_to_json(&ev, &first) == FSM_JSON_OK);
		CHECK(memchr(first.ptr, '\n', first.len) == NULL);
		int rc = parse_exact(first.ptr, first.len, &back, &dec, err, sizeof(err));
		CHECKF(rc == 0, "event %d refused: %s: %s", i, err, first.ptr);
		if (rc != 0)
			break;
		CHECKF(event_equal(&ev, &back), "event %d differs after %s", i, first.ptr);
		REQUIRE(fsm_event_to_json(&back, &second) == FSM_JSON_OK);
		CHECKF(first.len == second.len && memcmp(first.ptr, second.ptr, first.len) == 0,
		       "event %d wrote\n  %s\nthen\n  %s", i, first.ptr, second.ptr);
		if (!seen[ev.kind])
			kinds_seen++;
		seen[ev.kind] = true;
		fsm_arena_reset(&gen);
		fsm_arena_reset(&dec);
	}
	CHECK_EQ_INT(kinds_seen, FSM_EV_KIND_COUNT - 1);
	fsm_buf_free(&first);
	fsm_buf_free(&second);
	fsm_arena_free(&gen);
	fsm_arena_free(&dec);
}

TEST(test_random_commands_round_trip)
{
	struct fsm_arena gen = FSM_ARENA_INIT, dec = FSM_ARENA_INIT;
	struct fsm_buf first = FSM_BUF_INIT, second = FSM_BUF_INIT;
	char err[FSM_JSON_ERR_BYTES];
	for (int i = 0; i < 2000 && !test_failed; i++) {
		struct fsm_command c = {
			.kind = (enum fsm_cmd_kind)rnd(FSM_CMD_KIND_COUNT + 3),
			.id = rand_str(&gen),
			.pod_uid = rand_str(&gen),
			.container = rand_str(&gen),
			.attempt = (uint32_t)rand_u64(),
			.key = rand_str(&gen),
			.due_ms = rand_u64(),
			.timeout_s = (uint32_t)rand_u64(),
			.image = rand_str(&gen),
		};
		if (rnd(2))
			c.body = rand_raw(&gen, false, &c.body_len);
		uint64_t seq = rand_u64(), ts = rand_u64(), seq2, ts2;
		struct fsm_command back;
		fsm_buf_reset(&first);
		fsm_buf_reset(&second);
		REQUIRE(fsm_command_to_json(&c, seq, ts, &first) == FSM_JSON_OK);
		int rc = fsm_command_from_json(first.ptr, first.len, &back, &seq2, &ts2, &dec, err,
					       sizeof(err));
		CHECKF(rc == 0, "command %d refused: %s: %s", i, err, first.ptr);
		if (rc != 0)
			break;
		CHECKF(command_equal(&c, &back) && seq == seq2 && ts == ts2,
		       "command %d differs after %s", i, first.ptr);
		REQUIRE(fsm_command_to_json(&back, seq2, ts2, &second) == FSM_JSON_OK);
		CHECKF(first.len == second.len && memcmp(first.ptr, second.ptr, first.len) == 0,
		       "command %d wrote\n  %s\nthen\n  %s", i, first.ptr, second.ptr);
		fsm_arena_reset(&gen);
		fsm_arena_reset(&dec);
	}
	fsm_buf_free(&first);
	fsm_buf_free(&second);
	fsm_arena_free(&gen);
	fsm_arena_free(&dec);
}

/*
 * Damaged lines: cut, overwritten, inserted or deleted bytes. Whatever the codec
 * makes of them, it must not read out of bounds (ASan), must explain a refusal,
 * and whatever it accepts it must be able to write and read back the same.
 */
TEST(test_damaged_lines_are_refused_or_round_trip)
{
	static const char noise[] = "{}[]\":,\\ -0.eE1tfnu\x01\n\xff";
	struct fsm_arena gen = FSM_ARENA_INIT, dec = FSM_ARENA_INIT;
	struct fsm_buf line = FSM_BUF_INIT, out = FSM_BUF_INIT;
	char err[FSM_JSON_ERR_BYTES];
	int accepted = 0, refused = 0;
	for (int i = 0; i < 5000 && !test_failed; i++) {
		struct fsm_event ev, back, again;
		rand_event(&ev, &gen);
		fsm_buf_reset(&line);
		REQUIRE(fsm_event_to_json(&ev, &line) == 0);
		for (uint64_t m = 1 + rnd(3); m > 0 && line.len > 0; m--) {
			size_t at = rnd(line.len);
			char c = noise[rnd(sizeof(noise) - 1)];
			switch (rnd(4)) {
			case 0:
				line.len = at; /* cut */
				break;
			case 1:
				line.ptr[at] = c;
				break;
			case 2:
				REQUIRE(fsm_buf_putc(&line, 0) == 0);
				memmove(line.ptr + at + 1, line.ptr + at, line.len - at - 1);
				line.ptr[at] = c;
				break;
			default:
				memmove(line.ptr + at, line.ptr + at + 1, line.len - at - 1);
				line.len--;
				break;
			}
		}
		err[0] = '\0';
		if (parse_exact(line.ptr, line.len, &back, &dec, err, sizeof(err)) != 0) {
			CHECKF(err[0] != '\0', "refused without a reason");
			CHECK_EQ_INT(back.kind, FSM_EV_NONE);
			refused++;
		} else {
			accepted++;
			fsm_buf_reset(&out);
			int rc = fsm_event_to_json(&back, &out);
			CHECKF(rc == FSM_JSON_OK, "accepted but cannot write (%d): %.*s", rc,
			       (int)line.len, line.ptr);
			if (rc == 0) {
				REQUIRE(parse_exact(out.ptr, out.len, &again, &dec, err, sizeof(err)) == 0);
				CHECKF(event_equal(&back, &again), "accepted %.*s, wrote %s",
				       (int)line.len, line.ptr, out.ptr);
			}
		}
		fsm_arena_reset(&gen);
		fsm_arena_reset(&dec);
	}
	CHECK(refused > 0);
	CHECK(accepted > 0);
	fsm_buf_free(&line);
	fsm_buf_free(&out);
	fsm_arena_free(&gen);
	fsm_arena_free(&dec);
}

TEST_MAIN("fsm/event_json", T(test_buf_appends_and_stays_terminated), T(test_buf_json_str_escapes),
	  T(test_buf_integers), T(test_every_kind_reads_into_its_fields),
	  T(test_absent_fields_read_as_empty_zero_false), T(test_strings_are_copied_into_the_arena),
	  T(test_line_endings_and_unknown_fields), T(test_every_kind_writes_back_byte_for_byte),
	  T(test_written_line_from_a_struct), T(test_raw_object_bytes_are_kept_exactly),
	  T(test_missing_kind_or_ts_ms_is_refused), T(test_kind_fields_are_checked),
	  T(test_wrong_types_are_refused), T(test_file_pod_has_object_or_removed),
	  T(test_not_an_object_is_refused), T(test_invalid_json_is_refused),
	  T(test_every_prefix_of_a_line_is_truncated), T(test_line_length_limit),
	  T(test_unwritable_events_are_refused_and_leave_the_buffer), T(test_command_lines),
	  T(test_command_unknown_kind_and_bodies), T(test_random_events_round_trip),
	  T(test_random_commands_round_trip), T(test_damaged_lines_are_refused_or_round_trip))
