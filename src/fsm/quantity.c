/*
 * fsm/quantity.c — Kubernetes resource quantities ("100m", "1.5Gi", "1e3") as
 * integers (see model.h).
 *
 * The Pod decoder (fsm/model.c) turns every requests/limits/overhead value into
 * millicores or bytes here. The grammar and the rounding are apimachinery's
 * (k8s.io/apimachinery/pkg/api/resource, quantity.go and suffix.go):
 *
 *   <quantity> ::= <sign>? <digits>? ('.' <digits>?)? <suffix>
 *   <suffix>   ::= Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | (e|E) <sign>? <digits>
 *
 * Upstream keeps the exact decimal and rounds it up when a value is read
 * (Quantity.Value, MilliValue; the API's defaulting also rounds every resource
 * list up to milli scale). We do the same in one step: the digits are kept as a
 * decimal number, multiplied by the binary suffix, and cut at the unit asked for
 * with any nonzero remainder rounding away from zero. No floating point: "0.1"
 * is exactly 100 millicores.
 *
 * Where we differ from upstream, on purpose:
 *  - a quantity needs at least one digit: upstream reads "-", "+" and "." as 0;
 *  - an exponent beyond int32 saturates or rounds to the smallest unit, where
 *    upstream truncates it to int32 (so "1e4294967296" is 1 there);
 *  - values past INT64_MAX saturate for every suffix (upstream caps binary ones
 *    and lets decimal ones overflow when read as int64);
 *  - at most FSM_QUANTITY_BYTES_MAX characters.
 */
#include "fsm/model.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The digits a quantity can hold (FSM_QUANTITY_BYTES_MAX) plus those a binary
 * suffix can add (2^60 has 19 digits). */
#define DIGITS_MAX  (FSM_QUANTITY_BYTES_MAX + 20)
/* An exponent this large already moves any FSM_QUANTITY_BYTES_MAX digits past
 * int64 or below one unit; larger ones are clamped to it. */
#define EXP10_CLAMP 1000

/* A nonnegative decimal number: digit[0] is the least significant. */
struct decimal {
	uint8_t digit[DIGITS_MAX];
	size_t n; /* no leading zeros: digit[n - 1] != 0, or n == 0 for zero */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Appends the digits of [p, end) as less significant ones (most significant first). */
static void decimal_push(struct decimal *x, const char *p, const char *end)
{
	for (; p < end; p++) {
		assert(x->n < DIGITS_MAX);
		memmove(x->digit + 1, x->digit, x->n);
		x->digit[0] = (uint8_t)(*p - '0');
		x->n++;
	}
}

static void decimal_trim(struct decimal *x)
{
	while (x->n > 0 && x->digit[x->n - 1] == 0)
		x->n--;
}

static void decimal_mul_small(struct decimal *x, unsigned m)
{
	unsigned carry = 0;
	for (size_t i = 0; i < x->n; i++) {
		unsigned v = x->digit[i] * m + carry;
		x->digit[i] = (uint8_t)(v % 10);
		carry = v / 10;
	}
	while (carry > 0) {
		assert(x->n < DIGITS_MAX);
		x->digit[x->n++] = (uint8_t)(carry % 10);
		carry /= 10;
	}
}

/* The suffix as a power of ten and a power of two; false when it is none. */
static bool suffix_interpret(const char *s, size_t n, int64_t *exp10, int *exp2)
{
	static const struct {
		char name[3];
		int8_t exp10, exp2;
	} table[] = {
	        {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},
	        {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
	        {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
	        {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strlen(table[i].name) == n && memcmp(table[i].name, s, n) == 0) {
			*exp10 = table[i].exp10;
			*exp2 = table[i].exp2;
			return true;
		}
	}
	/* A decimal exponent: e or E and an integer (strconv.ParseInt: a sign, then
	 * at least one digit, and it must fit int64). */
	if (n < 2 || (s[0] != 'e' && s[0] != 'E'))
		return false;
	const char *p = s + 1, *end = s + n;
	bool neg = *p == '-';
	if (*p == '+' || *p == '-')
		p++;
	if (p == end)
		return false;
	uint64_t mag = 0;
	for (; p < end; p++) {
		if (!is_digit(*p))
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (mag > (UINT64_MAX - d) / 10)
			return false;
		mag = mag * 10 + d;
	}
	if (mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return false; /* out of int64: upstream's ParseInt fails too */
	uint64_t clamped = mag > EXP10_CLAMP ? EXP10_CLAMP : mag;
	*exp10 = neg ? -(int64_t)clamped : (int64_t)clamped;
	*exp2 = 0;
	return true;
}

/* ceil(x * 10^exp10) for x > 0, saturating at INT64_MAX. */
static int64_t decimal_ceil(const struct decimal *x, int64_t exp10)
{
	assert(x->n > 0);
	size_t cut = 0;     /* digits below the unit */
	uint64_t zeros = 0; /* zeros appended above */
	if (exp10 < 0)
		cut = (uint64_t)-exp10 >= x->n ? x->n : (size_t)-exp10;
	else
		zeros = (uint64_t)exp10;
	bool remainder = false;
	for (size_t i = 0; i < cut; i++)
		remainder = remainder || x->digit[i] != 0;
	if (x->n - cut + zeros > 19)
		return INT64_MAX; /* 10^19 > INT64_MAX */
	uint64_t v = 0;
	for (size_t i = x->n; i > cut; i--)
		v = v * 10 + x->digit[i - 1];
	for (uint64_t i = 0; i < zeros; i++)
		v *= 10;
	/* v < 10^19 < 2^64: no wrap so far. */
	if (remainder)
		v++;
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Parses s scaled by 10^unit_exp10 (3 for millis, 0 for units). */
static int quantity_parse(const char *s, int unit_exp10, int64_t *out)
{
	if (s == NULL || out == NULL)
		return -1;
	size_t len = strnlen(s, FSM_QUANTITY_BYTES_MAX + 1);
	if (len == 0 || len > FSM_QUANTITY_BYTES_MAX)
		return -1;
	const char *p = s, *end = s + len;
	bool neg = *p == '-';
	if (*p == '+' || *p == '-')
		p++;
	const char *int_begin = p;
	while (p < end && is_digit(*p))
		p++;
	const char *int_end = p, *frac_begin = p, *frac_end = p;
	if (p < end && *p == '.') {
		frac_begin = ++p;
		while (p < end && is_digit(*p))
			p++;
		frac_end = p;
	}
	if (int_end == int_begin && frac_end == frac_begin)
		return -1; /* no digit at all */
	/* The suffix as upstream's scanner takes it: letters of "eEinumkKMGTP", an
	 * optional sign, digits, and then the end of the string. */
	const char *suffix = p;
	while (p < end && memchr("eEinumkKMGTP", *p, 12) != NULL)
		p++;
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	while (p < end && is_digit(*p))
		p++;
	if (p != end)
		return -1;
	int64_t exp10 = 0;
	int exp2 = 0;
	if (!suffix_interpret(suffix, (size_t)(end - suffix), &exp10, &exp2))
		return -1;

	struct decimal x = {.n = 0};
	decimal_push(&x, int_begin, int_end);
	decimal_push(&x, frac_begin, frac_end);
	decimal_trim(&x);
	if (x.n == 0) {
		*out = 0;
		return 0;
	}
	for (int i = 0; i < exp2; i += 10)
		decimal_mul_small(&x, 1024);
	int64_t e = exp10 + unit_exp10 - (int64_t)(frac_end - frac_begin);
	int64_t v = decimal_ceil(&x, e);
	assert(v > 0);
	*out = neg ? -v : v;
	return 0;
}

int fsm_quantity_milli(const char *s, int64_t *milli)
{
	return quantity_parse(s, 3, milli);
}

int fsm_quantity_bytes(const char *s, int64_t *bytes)
{
	return quantity_parse(s, 0, bytes);
}
