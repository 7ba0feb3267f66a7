/*
 * io/yaml.c — YAML documents to JSON text with libyaml's event parser (see
 * yaml.h). A recursive descent over the events writes JSON as it goes; anchors
 * remember the JSON text of their node so aliases can repeat it.
 */
#include "io/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->cap - o->len < n + 1) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap - o->len < n + 1)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (p == NULL) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_json_string(struct out *o, const char *s, size_t n)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c == '\n') {
			put(o, "\\n", 2);
		} else if (c == '\t') {
			put(o, "\\t", 2);
		} else if (c == '\r') {
			put(o, "\\r", 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc, 6);
		} else {
			put(o, (const char *)&s[i], 1);
		}
	}
	put(o, "\"", 1);
}

struct anchor {
	char *name;
	char *json;
	size_t len;
};

struct conv {
	yaml_parser_t parser;
	struct out out;
	struct anchor anchors[IO_YAML_ANCHORS_MAX];
	size_t nanchors;
	size_t expanded; /* bytes repeated by aliases */
	char *err;
	size_t err_len;
	bool failed;
};

static void fail(struct conv *c, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct conv *c, const yaml_mark_t *m, const char *fmt, ...)
{
	if (c->failed)
		return;
	c->failed = true;
	int n = 0;
	if (m != NULL)
		n = snprintf(c->err, c->err_len, "line %zu, column %zu: ", m->line + 1, m->column + 1);
	if (n < 0 || (size_t)n >= c->err_len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool next(struct conv *c, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&c->parser, ev)) {
		yaml_mark_t m = c->parser.problem_mark;
		fail(c, &m, "%s%s%s", c->parser.problem ? c->parser.problem : "not valid YAML",
		     c->parser.context ? " " : "", c->parser.context ? c->parser.context : "");
		return false;
	}
	return true;
}

static bool is_one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* Integer forms go-yaml v2 reads: optional sign, decimal, 0x, 0o/0 octal, 0b; '_' ignored. */
static bool plain_int(const char *s, long long *v)
{
	char buf[80];
	size_t n = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	if (n == 0)
		return false;
	const char *d = buf + (buf[0] == '-' || buf[0] == '+');
	int base = 10;
	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
		base = 16;
	else if (d[0] == '0' && (d[1] == 'b' || d[1] == 'B'))
		base = 2;
	else if (d[0] == '0' && (d[1] == 'o' || d[1] == 'O'))
		base = 8;
	else if (d[0] == '0' && d[1] != '\0')
		base = 8;
	const char *digits = base == 10 || (base == 8 && d[1] != 'o' && d[1] != 'O') ? d : d + 2;
	if (*digits == '\0')
		return false;
	for (const char *p = digits; *p; p++) {
		int k = *p >= '0' && *p <= '9' ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
						 : 99;
		if (k >= base)
			return false;
	}
	errno = 0;
	char *end;
	long long x = strtoll(digits, &end, base);
	if (errno != 0 || *end != '\0')
		return false;
	*v = buf[0] == '-' ? -x : x;
	return true;
}

static bool plain_float(const char *s, double *v)
{
	/* [-+]? ( .digits | digits [. digits*] ) ([eE][-+]?digits)? */
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	bool digits = false;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits = true;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return false;
	char *end;
	*v = strtod(s, &end);
	return *end == '\0';
}

static void put_scalar(struct conv *c, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL) {
		put_json_string(&c->out, s, n);
		return;
	}
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"y", "Y", "yes", "Yes", "YES", "true", "True",
					    "TRUE", "on", "On", "ON", NULL};
	static const char *const falses[] = {"n", "N", "no", "No", "NO", "false", "False",
					     "FALSE", "off", "Off", "OFF", NULL};
	static const char *const nonfinite[] = {".inf", ".Inf", ".INF", "-.inf", "-.Inf",
						"-.INF", "+.inf", ".nan", ".NaN", ".NAN", NULL};
	if (is_one_of(s, nulls)) {
		puts_(&c->out, "null");
		return;
	}
	if (is_one_of(s, trues) || is_one_of(s, falses)) {
		puts_(&c->out, is_one_of(s, trues) ? "true" : "false");
		return;
	}
	if (is_one_of(s, nonfinite)) {
		fail(c, &ev->start_mark, "%s is not a number JSON can hold", s);
		return;
	}
	long long i;
	double d;
	char num[64];
	if (plain_int(s, &i)) {
		snprintf(num, sizeof(num), "%lld", i);
		puts_(&c->out, num);
	} else if (plain_float(s, &d)) {
		/* The shortest form that reads back the same. */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(num, sizeof(num), "%.*g", prec, d);
			if (strtod(num, NULL) == d)
				break;
		}
		puts_(&c->out, num);
	} else {
		put_json_string(&c->out, s, n);
	}
}

static void anchor_save(struct conv *c, const yaml_char_t *name, size_t from, const yaml_mark_t *m)
{
	if (name == NULL || c->failed || c->out.oom)
		return;
	if (c->nanchors >= IO_YAML_ANCHORS_MAX) {
		fail(c, m, "more than %d anchors", IO_YAML_ANCHORS_MAX);
		return;
	}
	struct anchor *a = &c->anchors[c->nanchors];
	a->name = strdup((const char *)name);
	a->len = c->out.len - from;
	a->json = malloc(a->len + 1);
	if (a->name == NULL || a->json == NULL) {
		free(a->name);
		free(a->json);
		c->out.oom = true;
		return;
	}
	memcpy(a->json, c->out.p + from, a->len);
	a->json[a->len] = '\0';
	c->nanchors++;
}

static void node(struct conv *c, yaml_event_t *ev, int depth);

/* Reads the next event and converts the node it starts. false at a closing event. */
static bool child(struct conv *c, yaml_event_type_t end, int depth, bool *ended)
{
	yaml_event_t ev;
	*ended = false;
	if (!next(c, &ev))
		return false;
	if (ev.type == end) {
		*ended = true;
		yaml_event_delete(&ev);
		return true;
	}
	node(c, &ev, depth);
	yaml_event_delete(&ev);
	return !c->failed;
}

static void node(struct conv *c, yaml_event_t *ev, int depth)
{
	if (depth > IO_YAML_DEPTH_MAX) {
		fail(c, &ev->start_mark, "nested deeper than %d", IO_YAML_DEPTH_MAX);
		return;
	}
	size_t from = c->out.len;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		put_scalar(c, ev);
		anchor_save(c, ev->data.scalar.anchor, from, &ev->start_mark);
		return;
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		for (size_t i = c->nanchors; i-- > 0;) {
			if (strcmp(c->anchors[i].name, name) != 0)
				continue;
			c->expanded += c->anchors[i].len;
			if (c->expanded > IO_YAML_EXPANSION_MAX) {
				fail(c, &ev->start_mark, "aliases expand past %u bytes",
				     IO_YAML_EXPANSION_MAX);
				return;
			}
			put(&c->out, c->anchors[i].json, c->anchors[i].len);
			return;
		}
		fail(c, &ev->start_mark, "alias *%s names no anchor", name);
		return;
	}
	case YAML_SEQUENCE_START_EVENT: {
		put(&c->out, "[", 1);
		bool ended, first = true;
		for (;;) {
			size_t before = c->out.len;
			if (!first)
				put(&c->out, ",", 1);
			if (!child(c, YAML_SEQUENCE_END_EVENT, depth + 1, &ended))
				return;
			if (ended) {
				c->out.len = before; /* drop the comma */
				break;
			}
			first = false;
		}
		put(&c->out, "]", 1);
		anchor_save(c, ev->data.sequence_start.anchor, from, &ev->start_mark);
		return;
	}
	case YAML_MAPPING_START_EVENT: {
		put(&c->out, "{", 1);
		bool first = true;
		for (;;) {
			yaml_event_t k;
			if (!next(c, &k))
				return;
			if (k.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&k);
				break;
			}
			if (k.type != YAML_SCALAR_EVENT) {
				fail(c, &k.start_mark, "a mapping key must be a plain value");
				yaml_event_delete(&k);
				return;
			}
			if (strcmp((const char *)k.data.scalar.value, "<<") == 0 &&
			    k.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
				fail(c, &k.start_mark, "merge keys (<<) are not supported");
				yaml_event_delete(&k);
				return;
			}
			if (!first)
				put(&c->out, ",", 1);
			first = false;
			put_json_string(&c->out, (const char *)k.data.scalar.value, k.data.scalar.length);
			put(&c->out, ":", 1);
			yaml_event_delete(&k);
			bool ended;
			if (!child(c, YAML_MAPPING_END_EVENT, depth + 1, &ended))
				return;
			if (ended) {
				fail(c, NULL, "a mapping ended after a key");
				return;
			}
		}
		put(&c->out, "}", 1);
		anchor_save(c, ev->data.mapping_start.anchor, from, &ev->start_mark);
		return;
	}
	default:
		fail(c, &ev->start_mark, "unexpected YAML event");
		return;
	}
}

static void anchors_free(struct conv *c)
{
	for (size_t i = 0; i < c->nanchors; i++) {
		free(c->anchors[i].name);
		free(c->anchors[i].json);
	}
	c->nanchors = 0;
}

void io_yaml_docs_free(struct io_yaml_docs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->doc[i].json);
	d->n = 0;
}

int io_yaml_to_json(const char *text, size_t len, struct io_yaml_docs *out, char *err,
		    size_t err_len)
{
	memset(out, 0, sizeof(*out));
	struct conv c = {.err = err, .err_len = err_len};
	if (err_len > 0)
		err[0] = '\0';
	if (!yaml_parser_initialize(&c.parser)) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
	yaml_event_t ev;
	bool done = false;
	while (!done && !c.failed && next(&c, &ev)) {
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT: {
			int line = (int)ev.start_mark.line + 1;
			c.out.len = 0;
			anchors_free(&c); /* anchors are per document */
			yaml_event_t root;
			if (!next(&c, &root))
				break;
			node(&c, &root, 0);
			yaml_event_delete(&root);
			if (c.failed)
				break;
			if (c.out.oom) {
				fail(&c, NULL, "out of memory");
				break;
			}
			if (c.out.len == 4 && memcmp(c.out.p, "null", 4) == 0)
				break; /* an empty document */
			if (out->n >= IO_YAML_DOCS_MAX) {
				fail(&c, &ev.start_mark, "more than %d documents", IO_YAML_DOCS_MAX);
				break;
			}
			out->doc[out->n].json = strndup(c.out.p, c.out.len);
			out->doc[out->n].len = c.out.len;
			out->doc[out->n].line = line;
			if (out->doc[out->n].json == NULL)
				fail(&c, NULL, "out of memory");
			else
				out->n++;
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	anchors_free(&c);
	yaml_parser_delete(&c.parser);
	free(c.out.p);
	if (c.failed) {
		io_yaml_docs_free(out);
		return -1;
	}
	return 0;
}
