/*
 * pending_test.c — what a restart re-issues (DESIGN.md contract 5): every
 * command in flight, with its original id, and every armed timer; and the armed
 * timers survive a snapshot.
 */
#include <stdlib.h>

#include "fsm/event_json.h"
#include "fsm/fsm.h"
#include "journal/codec.h"
#include "test.h"

#define POD "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"u1\"}," \
	    "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"busybox:1\",\"readinessProbe\":"  \
	    "{\"exec\":{\"command\":[\"/bin/true\"]}}}]}}"

static const char *const lines[] = {
	"{\"ts_ms\":0,\"kind\":\"node.config\",\"config\":{\"nodeName\":\"n1\"}}",
	"{\"ts_ms\":10,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":" POD "}",
	"{\"ts_ms\":20,\"kind\":\"effect\",\"cmd\":\"sandbox/u1/0\",\"ok\":true,\"result\":\"sb1\"}",
	"{\"ts_ms\":21,\"kind\":\"cri.sandbox\",\"pod_uid\":\"u1\",\"attempt\":0,\"id\":\"sb1\",\"state\":\"ready\",\"ip\":\"10.244.77.9\"}",
	"{\"ts_ms\":30,\"kind\":\"effect\",\"cmd\":\"pull/u1/web/1\",\"ok\":true,\"result\":\"sha256:a\"}",
	"{\"ts_ms\":40,\"kind\":\"effect\",\"cmd\":\"create/u1/web/0\",\"ok\":true,\"result\":\"c1\"}",
	"{\"ts_ms\":50,\"kind\":\"effect\",\"cmd\":\"start/u1/web/0\",\"ok\":true}",
	"{\"ts_ms\":900,\"kind\":\"cri.container\",\"pod_uid\":\"u1\",\"name\":\"web\",\"attempt\":0,\"id\":\"c1\",\"state\":\"exited\",\"exit_code\":1}",
	"{\"ts_ms\":950,\"kind\":\"effect\",\"cmd\":\"create/u1/web/1\",\"ok\":true,\"result\":\"c2\"}",
	"{\"ts_ms\":960,\"kind\":\"effect\",\"cmd\":\"start/u1/web/1\",\"ok\":true}",
	"{\"ts_ms\":1000,\"kind\":\"cri.container\",\"pod_uid\":\"u1\",\"name\":\"web\",\"attempt\":1,\"id\":\"c2\",\"state\":\"exited\",\"exit_code\":1}",
};
#define NLINES (sizeof(lines) / sizeof(lines[0]))

/* Folds the first n lines into s. */
static void fold_first(struct fsm_state *s, size_t n)
{
	fsm_state_init(s);
	struct fsm_arena a = FSM_ARENA_INIT;
	struct fsm_out out = {0};
	for (size_t i = 0; i < n; i++) {
		struct fsm_event ev;
		char err[256];
		fsm_arena_reset(&a);
		if (fsm_event_from_json(lines[i], strlen(lines[i]), &ev, &a, err, sizeof(err)) != 0) {
			test_fail(__FILE__, __LINE__, "line %zu: %s", i, err);
			break;
		}
		ev.seq = i + 1;
		fsm_out_reset(&out);
		CHECK(fsm_fold(s, &ev, &out) == 0);
	}
	fsm_out_free(&out);
	fsm_arena_free(&a);
}

/* The pending commands of s as "cmd id" lines. */
static void pending_of(struct fsm_state *s, char *text, size_t cap)
{
	struct fsm_out out = {0};
	CHECK(fsm_pending(s, &out) == 0);
	text[0] = '\0';
	for (size_t i = 0; i < out.n; i++) {
		size_t n = strlen(text);
		snprintf(text + n, cap - n, "%s %s\n", fsm_cmd_kind_name(out.cmds[i].kind),
			 out.cmds[i].id);
	}
	fsm_out_free(&out);
}

TEST(each_stage_reissues_its_command)
{
	static const struct {
		size_t after;
		const char *want;
	} cases[] = {
		{2, "cri.run_sandbox sandbox/u1/0\n"},
		{4, "cri.pull_image pull/u1/web/1\n"},
		{5, "cri.create_container create/u1/web/0\n"},
		{6, "cri.start_container start/u1/web/0\n"},
		{7, "probe.start probe-readiness/u1/web/0\n"},
		{NLINES, "timer.set timer/backoff/u1/web\n"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct fsm_state s;
		char text[2048];
		fold_first(&s, cases[k].after);
		pending_of(&s, text, sizeof(text));
		CHECKF(strcmp(text, cases[k].want) == 0, "after %zu events: got \"%s\", want \"%s\"",
		       cases[k].after, text, cases[k].want);
		fsm_state_free(&s);
	}
}

TEST(a_fired_or_cancelled_timer_is_not_pending)
{
	struct fsm_state s;
	fold_first(&s, NLINES);
	REQUIRE(s.ntimers == 1);
	CHECK_EQ_STR(s.timers[0].key, "backoff/u1/web");
	CHECK_EQ_INT(s.timers[0].due_ms, 1000 + 10000);
	struct fsm_out out = {0};
	struct fsm_event fire = {.kind = FSM_EV_TIMER, .seq = NLINES + 1, .ts_ms = 11000};
	fire.u.timer.key = "backoff/u1/web";
	CHECK(fsm_fold(&s, &fire, &out) == 0);
	CHECK_EQ_INT(s.ntimers, 0);
	/* The same timer arriving again (the io layer had it in flight) does nothing. */
	fsm_out_reset(&out);
	fire.seq++;
	fire.ts_ms++;
	CHECK(fsm_fold(&s, &fire, &out) == 0);
	CHECK_EQ_INT(out.n, 0);
	fsm_out_free(&out);
	fsm_state_free(&s);
}

TEST(armed_timers_survive_a_snapshot)
{
	struct fsm_state s, back;
	fold_first(&s, NLINES);
	struct jnl_buf b = {0};
	struct jnl_snap_hdr h = {.seq = s.last_seq, .fsm_version = FSM_VERSION};
	REQUIRE(jnl_codec_snapshot_encode(&b, &h, &s) == 0);
	struct jnl_snap_hdr h2;
	REQUIRE(jnl_codec_snapshot_decode(b.p, b.len, &h2, &back) == 0);
	CHECK(fsm_state_equal(&s, &back));
	CHECK_EQ_INT(back.ntimers, 1);
	char t1[2048], t2[2048];
	pending_of(&s, t1, sizeof(t1));
	pending_of(&back, t2, sizeof(t2));
	CHECK_EQ_STR(t1, t2);
	jnl_buf_free(&b);
	fsm_state_free(&s);
	fsm_state_free(&back);
}

TEST_MAIN("fsm/pending", T(each_stage_reissues_its_command), T(a_fired_or_cancelled_timer_is_not_pending),
	  T(armed_timers_survive_a_snapshot))
