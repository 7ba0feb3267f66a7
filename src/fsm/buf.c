/*
 * fsm/buf.c — the growable byte buffer of buf.h, and its JSON writers.
 *
 * Growth doubles the allocation (from 256 bytes), so appending a line costs
 * amortised O(1) per byte and a buffer reused with fsm_buf_reset() stops
 * allocating once it has held its longest line.
 */
#include "fsm/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define CAP_BYTES_MIN ((size_t)256)

int fsm_buf_reserve(struct fsm_buf *b, size_t n)
{
	assert(b->ptr == NULL || b->len < b->cap);
	if (n > FSM_BUF_BYTES_MAX || b->len > FSM_BUF_BYTES_MAX - n)
		return -1;
	size_t need = b->len + n + 1; /* the terminator */
	if (b->ptr != NULL && need <= b->cap)
		return 0;
	size_t cap = b->cap > CAP_BYTES_MIN ? b->cap : CAP_BYTES_MIN;
	while (cap < need)
		cap *= 2; /* cannot overflow: need <= FSM_BUF_BYTES_MAX + 1 */
	char *p = realloc(b->ptr, cap);
	if (p == NULL)
		return -1;
	if (b->ptr == NULL)
		p[0] = '\0';
	b->ptr = p;
	b->cap = cap;
	assert(b->len + n < b->cap);
	return 0;
}

int fsm_buf_append(struct fsm_buf *b, const void *p, size_t n)
{
	if (fsm_buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int fsm_buf_puts(struct fsm_buf *b, const char *s)
{
	return fsm_buf_append(b, s, strlen(s));
}

int fsm_buf_putc(struct fsm_buf *b, char c)
{
	return fsm_buf_append(b, &c, 1);
}

void fsm_buf_reset(struct fsm_buf *b)
{
	b->len = 0;
	if (b->ptr != NULL)
		b->ptr[0] = '\0';
}

void fsm_buf_free(struct fsm_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
}

/* The escape for byte c inside a JSON string, written to out (up to 6 bytes);
 * returns its length, or 0 when c goes through unchanged. */
static size_t json_escape(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789abcdef";
	char named = 0;
	switch (c) {
	case '"':
		named = '"';
		break;
	case '\\':
		named = '\\';
		break;
	case '\b':
		named = 'b';
		break;
	case '\f':
		named = 'f';
		break;
	case '\n':
		named = 'n';
		break;
	case '\r':
		named = 'r';
		break;
	case '\t':
		named = 't';
		break;
	default:
		if (c >= 0x20)
			return 0;
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		return 6;
	}
	out[0] = '\\';
	out[1] = named;
	return 2;
}

int fsm_buf_json_strn(struct fsm_buf *b, const char *s, size_t n)
{
	size_t len0 = b->len;
	/* The common string needs no escape: one reservation covers it. */
	if (fsm_buf_reserve(b, n + 2) != 0)
		return -1;
	b->ptr[b->len++] = '"';
	size_t run = 0; /* start of the bytes not yet copied */
	for (size_t i = 0; i < n; i++) {
		char esc[6];
		size_t k = json_escape((unsigned char)s[i], esc);
		if (k == 0)
			continue;
		if (fsm_buf_append(b, s + run, i - run) != 0 || fsm_buf_append(b, esc, k) != 0)
			goto fail;
		run = i + 1;
	}
	if (fsm_buf_append(b, s + run, n - run) != 0 || fsm_buf_putc(b, '"') != 0)
		goto fail;
	return 0;
fail:
	b->len = len0;
	b->ptr[len0] = '\0';
	return -1;
}

int fsm_buf_json_str(struct fsm_buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	return fsm_buf_json_strn(b, s, strlen(s));
}

int fsm_buf_u64(struct fsm_buf *b, uint64_t v)
{
	char digits[20]; /* UINT64_MAX has 20 */
	size_t i = sizeof(digits);
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return fsm_buf_append(b, digits + i, sizeof(digits) - i);
}

int fsm_buf_i64(struct fsm_buf *b, int64_t v)
{
	if (v >= 0)
		return fsm_buf_u64(b, (uint64_t)v);
	/* -(v + 1) + 1 keeps INT64_MIN in range. */
	uint64_t mag = (uint64_t)(-(v + 1)) + 1;
	size_t len0 = b->len;
	if (fsm_buf_putc(b, '-') != 0)
		return -1;
	if (fsm_buf_u64(b, mag) != 0) {
		b->len = len0;
		b->ptr[len0] = '\0';
		return -1;
	}
	return 0;
}
