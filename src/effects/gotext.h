/*
 * effects/gotext.h — what the kubelet's Go libraries write and read, where our
 * executors must give the same bytes: a %q-quoted string, fieldpath.FormatMap
 * (a downward-API map as key="value" lines) and the base64 of a []byte in JSON
 * (a Secret's data, a ConfigMap's binaryData).
 */
#ifndef LEDGERLET_EFFECTS_GOTEXT_H
#define LEDGERLET_EFFECTS_GOTEXT_H

#include <stddef.h>

#include "fsm/buf.h"

struct json_object;

/* Go's %q of n bytes, near enough: printable ASCII and UTF-8 as they are; ",
 * \, \n, \t, \r escaped; other control bytes as \xNN. */
void fx_go_quote(struct fsm_buf *b, const char *s, size_t n);

/* fieldpath.FormatMap of an object of strings: key="value" lines in key order
 * (values %q-quoted), without a trailing newline; nothing for NULL or {}.
 * 0, or -1 when out of memory. */
int fx_format_map(struct fsm_buf *b, struct json_object *m);

/*
 * Standard base64 with padding, as encoding/json decodes a []byte: *out (n/4*3+1
 * bytes, NUL-terminated after *out_len) is the caller's; it may be a Secret's,
 * so it is to be zeroed before it is freed (the decoder zeroes what it leaves).
 * 0, -EINVAL when in is not base64, -ENOMEM.
 */
int fx_b64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len);

#endif
