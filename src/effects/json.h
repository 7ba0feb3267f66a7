/*
 * effects/json.h — reading the fold's command bodies and the API's answers:
 * typed members of a json-c object that answer NULL (or the default) for an
 * absent member, a JSON null or a member of another type.
 */
#ifndef LEDGERLET_EFFECTS_JSON_H
#define LEDGERLET_EFFECTS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* o's member key; NULL when o is not an object or has no such member. */
struct json_object *fx_jmember(struct json_object *o, const char *key);
/* The member's string; NULL when absent, null or not a string. */
const char *fx_jstr(struct json_object *o, const char *key);
/* The member's value when it is a boolean, else false. */
bool fx_jbool(struct json_object *o, const char *key);
/* The member's value when it is an integer, else dflt. */
int64_t fx_jint(struct json_object *o, const char *key, int64_t dflt);
/* The member when it is an array / an object, else NULL. */
struct json_object *fx_jarray(struct json_object *o, const char *key);
struct json_object *fx_jobject(struct json_object *o, const char *key);
/* n bytes of s parsed as one JSON document; NULL when empty or malformed. */
struct json_object *fx_json_parse(const char *s, size_t n);

#endif
