/*
 * fsm/buf.h — a growable byte buffer, and the JSON pieces written into it.
 *
 * The replay-file codec (fsm/event_json.c) and the printers of status and
 * commands build their lines here. The buffer does no I/O: the caller writes
 * ptr[0..len) wherever it wants.
 *
 * Ownership: the caller owns the struct and, through it, ptr. ptr is NULL until
 * the first successful append; afterwards ptr[len] is always '\0', so the bytes
 * can be printed as a C string (when they hold no NUL of their own). Any append
 * may move ptr: a pointer into the buffer is valid until the next append,
 * fsm_buf_free(), or until the caller takes ptr over. fsm_buf_reset() keeps the
 * memory for the next line.
 *
 * Errors: every append returns 0, or -1 when memory runs out or the buffer would
 * pass FSM_BUF_BYTES_MAX; on -1 the buffer is unchanged (same len, same bytes).
 */
#ifndef LEDGERLET_FSM_BUF_H
#define LEDGERLET_FSM_BUF_H

#include <stddef.h>
#include <stdint.h>

/* The bound on one buffer: far above one replay line (16 MiB), low enough that a
 * runaway loop fails instead of taking the node's memory. */
#define FSM_BUF_BYTES_MAX ((size_t)1 << 30)

struct fsm_buf {
	char *ptr; /* malloc'd; NULL before the first append */
	size_t len; /* bytes written, not counting the '\0' after them */
	size_t cap; /* bytes allocated at ptr (always > len once ptr is set) */
};

#define FSM_BUF_INIT {0}

/* Makes room for n more bytes (plus the terminator) without writing any. */
int fsm_buf_reserve(struct fsm_buf *b, size_t n);
/* Appends n bytes of p (p may be NULL when n is 0). */
int fsm_buf_append(struct fsm_buf *b, const void *p, size_t n);
/* Appends the C string s, without its '\0'. */
int fsm_buf_puts(struct fsm_buf *b, const char *s);
int fsm_buf_putc(struct fsm_buf *b, char c);
/* Drops the contents (len = 0) and keeps the memory. */
void fsm_buf_reset(struct fsm_buf *b);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void fsm_buf_free(struct fsm_buf *b);

/*
 * Appends s as a JSON string literal, quotes included: '"' and '\\' are escaped,
 * \b \f \n \r \t by name and every other byte below 0x20 as \u00XX. Bytes from
 * 0x20 up, UTF-8 included, are copied unchanged (so invalid UTF-8 stays as it
 * was: JSON has no way to carry raw bytes, and changing them would lose data).
 * s == NULL is written as "".
 */
int fsm_buf_json_str(struct fsm_buf *b, const char *s);
/* The same for n bytes of s; a NUL byte among them is written as \u0000. */
int fsm_buf_json_strn(struct fsm_buf *b, const char *s, size_t n);

/* Decimal integers, as JSON writes them ("0", "18446744073709551615", "-5"). */
int fsm_buf_u64(struct fsm_buf *b, uint64_t v);
int fsm_buf_i64(struct fsm_buf *b, int64_t v);

#endif
