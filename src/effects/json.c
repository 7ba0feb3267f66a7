/*
 * effects/json.c — see json.h.
 */
#include "effects/json.h"

#include <json-c/json.h>
#include <limits.h>

struct json_object *fx_jmember(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *fx_jstr(struct json_object *o, const char *key)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
	                                                             : NULL;
}

bool fx_jbool(struct json_object *o, const char *key)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

int64_t fx_jint(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : dflt;
}

struct json_object *fx_jarray(struct json_object *o, const char *key)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_array) ? v : NULL;
}

struct json_object *fx_jobject(struct json_object *o, const char *key)
{
	struct json_object *v = fx_jmember(o, key);
	return v != NULL && json_object_is_type(v, json_type_object) ? v : NULL;
}

struct json_object *fx_json_parse(const char *s, size_t n)
{
	if (s == NULL || n == 0 || n > INT_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)n);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}
