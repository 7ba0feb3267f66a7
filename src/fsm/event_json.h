/*
 * fsm/event_json.h — the replay file's codec: one event (or one command) per line
 * of JSON (DESIGN.md, "The replay file").
 *
 * journal-replay --export writes a journal's events with fsm_event_to_json,
 * --import reads them back with fsm_event_from_json, and --commands prints the
 * fold's decisions with fsm_command_to_json. The codec is pure (contract 2): no
 * I/O, no clock, no global state; a line in, a struct out, and back.
 *
 * Byte-exactness. The Pod of api.pod and file.pod (`object`), the node.config
 * `config` and a command's `body` are kept as the exact bytes of that JSON value
 * in the line, never re-serialised: the fold decodes what the API server sent
 * (contract 7), and export -> import -> export gives the same bytes. Every other
 * field is written in one canonical form, so a line written by the *_to_json
 * functions reads back to an equal struct and writes out byte for byte the same.
 *
 * Reading is strict where a mistake would change the fold and lenient where a
 * newer writer may add things: a known field with the wrong JSON type, a value
 * out of range, an unknown enum name, a duplicated known field, a NUL inside a
 * string or anything that is not JSON is an error naming the field and the
 * reason; an unknown field is ignored. Missing optional fields decode as "",
 * 0 or false; an enum field may be "" or absent, which is its NONE value.
 * Strings are not checked for valid UTF-8: what the journal holds is written
 * as-is and read back the same.
 */
#ifndef LEDGERLET_FSM_EVENT_JSON_H
#define LEDGERLET_FSM_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "fsm/arena.h"
#include "fsm/buf.h"
#include "fsm/command.h"
#include "fsm/event.h"

/* The longest line the readers accept, in bytes (a trailing line break counts). */
#define FSM_JSON_LINE_BYTES_MAX ((size_t)16 << 20)
/* The deepest nesting of arrays and objects accepted inside a line. */
#define FSM_JSON_DEPTH_MAX 128
/* Room for any error message of the readers (longer ones are truncated). */
#define FSM_JSON_ERR_BYTES 256

/* Results of the writers. */
enum fsm_json_error {
	FSM_JSON_OK = 0,
	FSM_JSON_ENOMEM = -1, /* the buffer could not grow; it is unchanged */
	FSM_JSON_EINVAL = -2, /* the struct cannot be written; the buffer is unchanged */
};

/*
 * Parses one line (len bytes; it need not be NUL-terminated and may end in
 * "\n" or "\r\n") into *ev.
 *
 * Fields: `ts_ms` (required, integer >= 0) and `kind` (required); `seq` and
 * `wall_ms` (optional, integers >= 0); then the kind's fields as DESIGN.md
 * names them. Required per kind: api.pod `type` and `object`; file.pod `path`
 * and exactly one of `object` and `"removed": true`; node.config `config`.
 * object and config must be JSON objects.
 *
 * Returns 0, or -1 with err (err_len bytes, NUL-terminated and truncated to
 * fit; err may be NULL) saying what is wrong, e.g.
 *   field "state": "runing" is not one of created, running, exited, unknown
 * On error *ev is zeroed (kind FSM_EV_NONE).
 *
 * Ownership: every string of *ev (including "" for absent ones) and the raw
 * object/config bytes are copied into arena, and stay valid until the arena is
 * reset or freed; they do not point into line. A failed call may leave bytes
 * in the arena, freed with it. file_pod.object is NULL when removed.
 */
int fsm_event_from_json(const char *line, size_t len, struct fsm_event *ev,
			struct fsm_arena *arena, char *err, size_t err_len);

/*
 * Appends *ev as one line, without a line break, in this key order: `seq`
 * (only when non-zero), `ts_ms`, `wall_ms` (only when non-zero), `kind`, then
 * every field of the kind in DESIGN.md's order (file.pod writes `object` or
 * `"removed":true`, not both). An enum at its NONE value is written as "" and a
 * NULL string as "".
 *
 * Returns FSM_JSON_OK, FSM_JSON_ENOMEM, or FSM_JSON_EINVAL when the event
 * cannot be written as a line that reads back equal: an unknown kind or enum
 * value, a missing api.pod object or node.config config, a file.pod that is
 * both removed and has an object (or neither), or raw object/config bytes that
 * are not exactly one JSON object on one line (no line break, no surrounding
 * whitespace), or a line longer than FSM_JSON_LINE_BYTES_MAX. On error out is
 * unchanged.
 */
int fsm_event_to_json(const struct fsm_event *ev, struct fsm_buf *out);

/*
 * Appends the command the fold produced while folding event (seq, ts_ms), as
 * journal-replay --commands prints it:
 *   {"seq":..,"ts_ms":..,"id":"..","cmd":"cri.run_sandbox","pod_uid":".."
 * then, only when non-empty or non-zero, `container`, `attempt`, `key`,
 * `due_ms`, `timeout_s`, `image` and `body` (the raw JSON as stored, when body
 * is not NULL and body_len > 0), and "}". No line break. A kind this build does
 * not name is written "cmd":"unknown.<number>".
 *
 * Returns FSM_JSON_OK, FSM_JSON_ENOMEM, or FSM_JSON_EINVAL when body is not
 * exactly one JSON value on one line or the line would be longer than
 * FSM_JSON_LINE_BYTES_MAX. On error out is unchanged.
 */
int fsm_command_to_json(const struct fsm_command *c, uint64_t seq, uint64_t ts_ms,
			struct fsm_buf *out);

/*
 * The inverse of fsm_command_to_json. `ts_ms` and `cmd` are required; `seq`
 * and the rest are optional. "unknown.<number>" reads back as that number.
 * `body` may be any JSON value and is kept as its raw bytes (NULL, body_len 0
 * when absent). Errors, *c on error (zeroed, *seq and *ts_ms 0) and ownership
 * (strings copied into arena) are as for fsm_event_from_json.
 */
int fsm_command_from_json(const char *line, size_t len, struct fsm_command *c, uint64_t *seq,
			  uint64_t *ts_ms, struct fsm_arena *arena, char *err, size_t err_len);

#endif
