/*
 * tests/unit/fsm/names_test.c — the names of the fold's enums (fsm/names.c).
 *
 * The replay file, the command printer and the journal's golden files spell
 * enums by these names, so each must round-trip, unknown names must map to the
 * NONE value, and values outside a table must have no name.
 */
#include "fsm/command.h"
#include "fsm/event.h"
#include "test.h"

/* Every value from 1 to max has a name that reads back as that value, and the
 * first value past max has none. */
#define CHECK_ROUND_TRIP(name_fn, from_fn, type, max)                                            \
	do {                                                                                     \
		for (unsigned v_ = 1; v_ <= (unsigned)(max); v_++) {                             \
			const char *n_ = name_fn((type)v_);                                      \
			CHECKF(n_ != NULL && n_[0] != '\0', "%s(%u) has no name", #name_fn, v_); \
			if (n_ != NULL)                                                          \
				CHECK_EQ_INT(from_fn(n_), v_);                                   \
		}                                                                                \
		CHECK(name_fn((type)((unsigned)(max) + 1)) == NULL);                             \
		CHECK(name_fn((type)1000) == NULL);                                              \
		CHECK_EQ_INT(from_fn("no-such-name"), 0);                                        \
		CHECK_EQ_INT(from_fn(""), 0);                                                    \
		CHECK_EQ_INT(from_fn(NULL), 0);                                                  \
	} while (0)

TEST(test_event_kinds_round_trip)
{
	CHECK_ROUND_TRIP(fsm_event_kind_name, fsm_event_kind_from_name, enum fsm_event_kind,
			 FSM_EV_KIND_COUNT - 1);
	CHECK(fsm_event_kind_name(FSM_EV_NONE) == NULL);
	CHECK(fsm_event_kind_name(FSM_EV_KIND_COUNT) == NULL);
}

TEST(test_event_kinds_are_spelled_as_the_design_says)
{
	static const struct {
		enum fsm_event_kind kind;
		const char *name;
	} want[] = {
		{FSM_EV_API_POD, "api.pod"},
		{FSM_EV_FILE_POD, "file.pod"},
		{FSM_EV_CRI_SANDBOX, "cri.sandbox"},
		{FSM_EV_CRI_CONTAINER, "cri.container"},
		{FSM_EV_CRI_IMAGE, "cri.image"},
		{FSM_EV_PROBE, "probe"},
		{FSM_EV_TIMER, "timer"},
		{FSM_EV_EFFECT, "effect"},
		{FSM_EV_NODE_CONFIG, "node.config"},
		{FSM_EV_NODE_PRESSURE, "node.pressure"},
		{FSM_EV_POD_STATS, "pod.stats"},
		{FSM_EV_CLOCK, "clock"},
		{FSM_EV_API_BACKOFF, "api.backoff"},
		{FSM_EV_API_OBJECT, "api.object"},
		{FSM_EV_CRI_STATUS, "cri.status"},
	};
	CHECK_EQ_INT(sizeof(want) / sizeof(want[0]), FSM_EV_KIND_COUNT - 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ_STR(fsm_event_kind_name(want[i].kind), want[i].name);
		CHECK_EQ_INT(fsm_event_kind_from_name(want[i].name), want[i].kind);
	}
	/* Names are exact: no case folding, no prefix match. */
	CHECK_EQ_INT(fsm_event_kind_from_name("API.POD"), FSM_EV_NONE);
	CHECK_EQ_INT(fsm_event_kind_from_name("api"), FSM_EV_NONE);
	CHECK_EQ_INT(fsm_event_kind_from_name("api.pod "), FSM_EV_NONE);
}

TEST(test_watch_types_round_trip)
{
	CHECK_ROUND_TRIP(fsm_watch_type_name, fsm_watch_type_from_name, enum fsm_watch_type,
			 FSM_WATCH_SYNC);
	CHECK(fsm_watch_type_name(FSM_WATCH_NONE) == NULL);
	CHECK_EQ_STR(fsm_watch_type_name(FSM_WATCH_ADDED), "ADDED");
	CHECK_EQ_STR(fsm_watch_type_name(FSM_WATCH_MODIFIED), "MODIFIED");
	CHECK_EQ_STR(fsm_watch_type_name(FSM_WATCH_DELETED), "DELETED");
	CHECK_EQ_STR(fsm_watch_type_name(FSM_WATCH_SYNC), "SYNC");
	CHECK_EQ_INT(fsm_watch_type_from_name("added"), FSM_WATCH_NONE);
}

TEST(test_sandbox_states_round_trip)
{
	CHECK_ROUND_TRIP(fsm_sandbox_state_name, fsm_sandbox_state_from_name,
			 enum fsm_sandbox_state, FSM_SANDBOX_NOTREADY);
	CHECK(fsm_sandbox_state_name(FSM_SANDBOX_NONE) == NULL);
	CHECK_EQ_STR(fsm_sandbox_state_name(FSM_SANDBOX_READY), "ready");
	CHECK_EQ_STR(fsm_sandbox_state_name(FSM_SANDBOX_NOTREADY), "notready");
}

TEST(test_container_states_round_trip)
{
	CHECK_ROUND_TRIP(fsm_container_state_name, fsm_container_state_from_name,
			 enum fsm_container_state, FSM_CONTAINER_UNKNOWN);
	CHECK(fsm_container_state_name(FSM_CONTAINER_NONE) == NULL);
	CHECK_EQ_STR(fsm_container_state_name(FSM_CONTAINER_CREATED), "created");
	CHECK_EQ_STR(fsm_container_state_name(FSM_CONTAINER_RUNNING), "running");
	CHECK_EQ_STR(fsm_container_state_name(FSM_CONTAINER_EXITED), "exited");
	CHECK_EQ_STR(fsm_container_state_name(FSM_CONTAINER_UNKNOWN), "unknown");
	CHECK_EQ_INT(fsm_container_state_from_name("Running"), FSM_CONTAINER_NONE);
}

TEST(test_probe_types_round_trip)
{
	CHECK_ROUND_TRIP(fsm_probe_type_name, fsm_probe_type_from_name, enum fsm_probe_type,
			 FSM_PROBE_STARTUP);
	CHECK(fsm_probe_type_name(FSM_PROBE_NONE) == NULL);
	CHECK_EQ_STR(fsm_probe_type_name(FSM_PROBE_LIVENESS), "liveness");
	CHECK_EQ_STR(fsm_probe_type_name(FSM_PROBE_READINESS), "readiness");
	CHECK_EQ_STR(fsm_probe_type_name(FSM_PROBE_STARTUP), "startup");
}

TEST(test_error_classes_round_trip)
{
	CHECK_ROUND_TRIP(fsm_error_class_name, fsm_error_class_from_name, enum fsm_error_class,
			 FSM_ERR_NOT_FOUND);
	/* The one table whose NONE has a name: "" (an effect that succeeded). */
	CHECK_EQ_STR(fsm_error_class_name(FSM_ERR_NONE), "");
	CHECK_EQ_INT(fsm_error_class_from_name(""), FSM_ERR_NONE);
	CHECK_EQ_STR(fsm_error_class_name(FSM_ERR_TRANSIENT), "transient");
	CHECK_EQ_STR(fsm_error_class_name(FSM_ERR_PERMANENT), "permanent");
	CHECK_EQ_STR(fsm_error_class_name(FSM_ERR_NOT_FOUND), "not-found");
	CHECK_EQ_INT(fsm_error_class_from_name("not_found"), FSM_ERR_NONE);
}

TEST(test_command_kinds_round_trip)
{
	CHECK_ROUND_TRIP(fsm_cmd_kind_name, fsm_cmd_kind_from_name, enum fsm_cmd_kind,
			 FSM_CMD_KIND_COUNT - 1);
	CHECK(fsm_cmd_kind_name(FSM_CMD_NONE) == NULL);
	CHECK(fsm_cmd_kind_name(FSM_CMD_KIND_COUNT) == NULL);
	/* Every name is "<target>.<verb>". */
	for (unsigned k = 1; k < FSM_CMD_KIND_COUNT; k++) {
		const char *n = fsm_cmd_kind_name((enum fsm_cmd_kind)k);
		REQUIRE(n != NULL);
		const char *dot = strchr(n, '.');
		CHECKF(dot != NULL && dot != n && dot[1] != '\0' && strchr(dot + 1, '.') == NULL,
		       "\"%s\" is not <target>.<verb>", n);
	}
	CHECK_EQ_STR(fsm_cmd_kind_name(FSM_CMD_CRI_RUN_SANDBOX), "cri.run_sandbox");
	CHECK_EQ_STR(fsm_cmd_kind_name(FSM_CMD_TIMER_SET), "timer.set");
	CHECK_EQ_STR(fsm_cmd_kind_name(FSM_CMD_API_POD_STATUS), "api.pod_status");
	CHECK_EQ_INT(fsm_cmd_kind_from_name("probe.start"), FSM_CMD_PROBE_START);
}

/* No two values of one enum share a name (a duplicate would make from_name lie). */
TEST(test_names_are_unique)
{
	for (unsigned a = 1; a < FSM_CMD_KIND_COUNT; a++)
		for (unsigned b = a + 1; b < FSM_CMD_KIND_COUNT; b++)
			CHECK(strcmp(fsm_cmd_kind_name((enum fsm_cmd_kind)a),
				     fsm_cmd_kind_name((enum fsm_cmd_kind)b)) != 0);
	for (unsigned a = 1; a < FSM_EV_KIND_COUNT; a++)
		for (unsigned b = a + 1; b < FSM_EV_KIND_COUNT; b++)
			CHECK(strcmp(fsm_event_kind_name((enum fsm_event_kind)a),
				     fsm_event_kind_name((enum fsm_event_kind)b)) != 0);
}

TEST_MAIN("fsm/names", T(test_event_kinds_round_trip),
	  T(test_event_kinds_are_spelled_as_the_design_says), T(test_watch_types_round_trip),
	  T(test_sandbox_states_round_trip), T(test_container_states_round_trip),
	  T(test_probe_types_round_trip), T(test_error_classes_round_trip),
	  T(test_command_kinds_round_trip), T(test_names_are_unique))
