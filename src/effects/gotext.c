/*
 * effects/gotext.c — see gotext.h.
 */
#include "effects/gotext.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fx_go_quote(struct fsm_buf *b, const char *s, size_t n)
{
	fsm_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];
		switch (ch) {
		case '"':
			fsm_buf_puts(b, "\\\"");
			break;
		case '\\':
			fsm_buf_puts(b, "\\\\");
			break;
		case '\n':
			fsm_buf_puts(b, "\\n");
			break;
		case '\t':
			fsm_buf_puts(b, "\\t");
			break;
		case '\r':
			fsm_buf_puts(b, "\\r");
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				snprintf(esc, sizeof(esc), "\\x%02x", ch);
				fsm_buf_puts(b, esc);
			} else {
				fsm_buf_putc(b, (char)ch);
			}
		}
	}
	fsm_buf_putc(b, '"');
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fx_format_map(struct fsm_buf *b, struct json_object *m)
{
	size_t k = m != NULL && json_object_is_type(m, json_type_object)
	                   ? (size_t)json_object_object_length(m)
	                   : 0;
	if (k == 0)
		return 0;
	const char **keys = calloc(k, sizeof(*keys));
	if (keys == NULL)
		return -1;
	size_t i = 0;
	json_object_object_foreach(m, key, val)
	{
		(void)val;
		if (i < k)
			keys[i++] = key;
	}
	qsort(keys, i, sizeof(*keys), cmp_cstr);
	for (size_t j = 0; j < i; j++) {
		struct json_object *v = NULL;
		json_object_object_get_ex(m, keys[j], &v);
		const char *s =
		        json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (j > 0)
			fsm_buf_putc(b, '\n');
		fsm_buf_puts(b, keys[j]);
		fsm_buf_putc(b, '=');
		fx_go_quote(b, s, strlen(s));
	}
	free(keys);
	return 0;
}

static int b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int fx_b64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (n % 4 != 0)
		return -EINVAL;
	size_t cap = n / 4 * 3 + 1;
	unsigned char *d = malloc(cap);
	if (d == NULL)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else {
				v[k] = pad > 0 ? -1 : b64_digit(c);
			}
			if (v[k] < 0) {
				explicit_bzero(d, cap);
				free(d);
				return -EINVAL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8),
		                          (unsigned char)w};
		for (int k = 0; k < 3 - pad; k++)
			d[o++] = bytes[k];
		explicit_bzero(bytes, sizeof(bytes));
		explicit_bzero(&w, sizeof(w));
	}
	d[o] = '\0';
	*out = d;
	*out_len = o;
	return 0;
}
