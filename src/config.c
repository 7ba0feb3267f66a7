/*
 * config.c — defaults, the KubeletConfiguration file, the command line (see
 * config.h).
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fsm/model.h"
#include "io/yaml.h"

#define CONFIG_FILE_BYTES_MAX (1u << 20)

struct loader {
	const struct ll_flags *f;
	struct ll_config *c;
	void (*warn)(void *arg, const char *line);
	void *warn_arg;
	char *err;
	size_t err_len;
	const char *file;
	json_object *eviction, *kube_reserved, *system_reserved, *taints, *labels;
	int32_t max_pods;
};

static int fail(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct loader *l, const char *fmt, ...)
{
	int n = 0;
	if (l->file != NULL)
		n = snprintf(l->err, l->err_len, "config %s: ", l->file);
	if (n < 0 || (size_t)n >= l->err_len)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void warn(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct loader *l, const char *fmt, ...)
{
	if (l->warn == NULL)
		return;
	char line[512];
	int n = snprintf(line, sizeof(line), "config %s: ", l->file ? l->file : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	l->warn(l->warn_arg, line);
}

int ll_parse_duration_ms(const char *s, uint64_t *ms)
{
	/* Go's time.ParseDuration, for non-negative values. */
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1000},
		     {"m", 60000}, {"h", 3600000}};
	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	double total = 0;
	while (*s) {
		char *end;
		errno = 0;
		double v = strtod(s, &end);
		if (end == s || errno != 0 || v < 0 || *s == '+' || *s == '-')
			return -1;
		s = end;
		size_t best = 0, best_len = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t k = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, k) == 0 && k > best_len) {
				best = i;
				best_len = k;
			}
		}
		if (best_len == 0)
			return -1;
		total += v * units[best].ms;
		s += best_len;
	}
	if (total > 1e15)
		return -1;
	*ms = (uint64_t)(total + 0.5);
	return 0;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
	return v != NULL && *dst == NULL ? -ENOMEM : 0;
}

/* ---- validation of the parts that reach the fold ---- */

static bool valid_label_value(const char *v)
{
	size_t n = strlen(v);
	if (n == 0)
		return true;
	if (n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && !((ch == '-' || ch == '_' || ch == '.') && i > 0 && i + 1 < n))
			return false;
	}
	return true;
}

/* A qualified name: [prefix/]name, the prefix a DNS subdomain. */
static bool valid_label_key(const char *k)
{
	const char *slash = strchr(k, '/');
	const char *name = slash ? slash + 1 : k;
	if (*name == '\0' || !valid_label_value(name))
		return false;
	if (slash != NULL) {
		size_t n = (size_t)(slash - k);
		if (n == 0 || n > 253)
			return false;
		for (size_t i = 0; i < n; i++) {
			char ch = k[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
				return false;
		}
	}
	return true;
}

static bool valid_effect(const char *e)
{
	return strcmp(e, "NoSchedule") == 0 || strcmp(e, "PreferNoSchedule") == 0 ||
	       strcmp(e, "NoExecute") == 0;
}

static const char *const eviction_signals[] = {
	"memory.available",  "nodefs.available",   "nodefs.inodesFree", "imagefs.available",
	"imagefs.inodesFree", "containerfs.available", "containerfs.inodesFree", "pid.available",
	"allocatableMemory.available",
};

static int check_eviction(struct loader *l, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return fail(l, "evictionHard: want a map of signal to quantity or percent");
	json_object_object_foreach(o, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(eviction_signals) / sizeof(eviction_signals[0]); i++)
			known |= strcmp(k, eviction_signals[i]) == 0;
		if (!known)
			return fail(l, "evictionHard: unknown signal \"%s\"", k);
		if (!json_object_is_type(v, json_type_string))
			return fail(l, "evictionHard: \"%s\": want a string (\"100Mi\" or \"10%%\")", k);
		const char *q = json_object_get_string(v);
		size_t n = strlen(q);
		int64_t x;
		if (n > 0 && q[n - 1] == '%') {
			char *end;
			double p = strtod(q, &end);
			if (end != q + n - 1 || p < 0 || p > 100)
				return fail(l, "evictionHard: \"%s\": \"%s\" is not a percentage 0%%..100%%", k, q);
		} else if (fsm_quantity_bytes(q, &x) != 0 || x < 0) {
			return fail(l, "evictionHard: \"%s\": \"%s\" is not a quantity", k, q);
		}
	}
	return 0;
}

static int check_reserved(struct loader *l, const char *field, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return fail(l, "%s: want a map of resource to quantity", field);
	json_object_object_foreach(o, k, v)
	{
		int64_t x;
		if (strcmp(k, "cpu") != 0 && strcmp(k, "memory") != 0 && strcmp(k, "ephemeral-storage") != 0 &&
		    strcmp(k, "pid") != 0)
			return fail(l, "%s: unknown resource \"%s\" (cpu, memory, ephemeral-storage, pid)",
				    field, k);
		const char *q = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		if (q == NULL ||
		    (strcmp(k, "cpu") == 0 ? fsm_quantity_milli(q, &x) : fsm_quantity_bytes(q, &x)) != 0 ||
		    x < 0)
			return fail(l, "%s: %s: not a quantity", field, k);
	}
	return 0;
}

static int add_taint(struct loader *l, const char *key, const char *value, const char *effect)
{
	if (!valid_label_key(key))
		return fail(l, "taint key \"%s\" is not a qualified name", key);
	if (!valid_label_value(value))
		return fail(l, "taint \"%s\": value \"%s\" is not a label value", key, value);
	if (!valid_effect(effect))
		return fail(l, "taint \"%s\": effect \"%s\" is not NoSchedule, PreferNoSchedule or NoExecute",
			    key, effect);
	json_object *t = json_object_new_object();
	json_object_object_add(t, "key", json_object_new_string(key));
	if (*value)
		json_object_object_add(t, "value", json_object_new_string(value));
	json_object_object_add(t, "effect", json_object_new_string(effect));
	json_object_array_add(l->taints, t);
	return 0;
}

/* --register-with-taints: key=value:Effect or key:Effect, comma-separated. */
static int parse_taint_flag(struct loader *l, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	if (copy == NULL)
		return fail(l, "out of memory");
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL && rc == 0; t = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(t, ':');
		if (colon == NULL) {
			rc = fail(l, "--register-with-taints: \"%s\" is not key[=value]:Effect", t);
			break;
		}
		*colon = '\0';
		char *eq = strchr(t, '=');
		if (eq != NULL)
			*eq = '\0';
		rc = add_taint(l, t, eq ? eq + 1 : "", colon + 1);
	}
	free(copy);
	return rc;
}

/* --node-labels: key=value, comma-separated. */
static int parse_label_flag(struct loader *l, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	if (copy == NULL)
		return fail(l, "out of memory");
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL && rc == 0; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (eq == NULL) {
			rc = fail(l, "--node-labels: \"%s\" is not key=value", t);
			break;
		}
		*eq = '\0';
		if (!valid_label_key(t))
			rc = fail(l, "--node-labels: key \"%s\" is not a qualified name", t);
		else if (!valid_label_value(eq + 1))
			rc = fail(l, "--node-labels: \"%s\": value \"%s\" is not a label value", t, eq + 1);
		else
			json_object_object_add(l->labels, t, json_object_new_string(eq + 1));
	}
	free(copy);
	return rc;
}

/* ---- the file ---- */

static int want_string(struct loader *l, const char *k, json_object *v, char **dst)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(l, "%s: want a string", k);
	return set_str(dst, json_object_get_string(v)) ? fail(l, "out of memory") : 0;
}

static int want_int(struct loader *l, const char *k, json_object *v, int64_t lo, int64_t hi, int64_t *dst)
{
	if (!json_object_is_type(v, json_type_int))
		return fail(l, "%s: want an integer", k);
	int64_t x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return fail(l, "%s: %lld is out of range %lld..%lld", k, (long long)x, (long long)lo,
			    (long long)hi);
	*dst = x;
	return 0;
}

static int want_duration(struct loader *l, const char *k, json_object *v, uint32_t *dst)
{
	uint64_t ms;
	if (!json_object_is_type(v, json_type_string) || ll_parse_duration_ms(json_object_get_string(v), &ms) != 0)
		return fail(l, "%s: want a duration (\"10s\", \"1m\")", k);
	if (ms == 0 || ms > UINT32_MAX)
		return fail(l, "%s: %s is out of range", k, json_object_get_string(v));
	*dst = (uint32_t)ms;
	return 0;
}

static int read_file(struct loader *l, const char *path, char **text, size_t *len)
{
	FILE *fp = fopen(path, "re");
	if (fp == NULL)
		return fail(l, "%s", strerror(errno));
	struct stat st;
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(fp);
		return fail(l, "not a regular file");
	}
	if ((size_t)st.st_size > CONFIG_FILE_BYTES_MAX) {
		fclose(fp);
		return fail(l, "%lld bytes, more than the %u allowed", (long long)st.st_size, CONFIG_FILE_BYTES_MAX);
	}
	*text = malloc((size_t)st.st_size + 1);
	if (*text == NULL) {
		fclose(fp);
		return fail(l, "out of memory");
	}
	*len = fread(*text, 1, (size_t)st.st_size, fp);
	(*text)[*len] = '\0';
	int bad = ferror(fp);
	fclose(fp);
	return bad ? fail(l, "read error") : 0;
}

static int load_file(struct loader *l, const char *path)
{
	l->file = path;
	char *text = NULL;
	size_t len = 0;
	if (read_file(l, path, &text, &len) != 0) {
		free(text);
		return -1;
	}
	struct io_yaml_docs docs;
	char yerr[256];
	int rc = io_yaml_to_json(text, len, &docs, yerr, sizeof(yerr));
	free(text);
	if (rc != 0)
		return fail(l, "%s", yerr);
	if (docs.n != 1) {
		fail(l, "want one document, found %zu", docs.n);
		io_yaml_docs_free(&docs);
		return -1;
	}
	json_object *o = json_tokener_parse(docs.doc[0].json);
	io_yaml_docs_free(&docs);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail(l, "not a mapping");
	}
	json_object *v;
	const char *kind = json_object_object_get_ex(o, "kind", &v) ? json_object_get_string(v) : "";
	const char *api = json_object_object_get_ex(o, "apiVersion", &v) ? json_object_get_string(v) : "";
	if (strcmp(kind, "KubeletConfiguration") != 0) {
		fail(l, "kind is \"%s\", want KubeletConfiguration", kind);
		json_object_put(o);
		return -1;
	}
	if (strcmp(api, "kubelet.config.k8s.io/v1beta1") != 0 && strcmp(api, "kubelet.config.k8s.io/v1") != 0) {
		fail(l, "apiVersion is \"%s\", want kubelet.config.k8s.io/v1beta1", api);
		json_object_put(o);
		return -1;
	}
	struct ll_config *c = l->c;
	rc = 0;
	json_object_object_foreach(o, k, val)
	{
		int64_t x;
		if (rc != 0)
			break;
		if (strcmp(k, "kind") == 0 || strcmp(k, "apiVersion") == 0) {
			continue;
		} else if (strcmp(k, "staticPodPath") == 0) {
			rc = want_string(l, k, val, &c->static_pod_path);
		} else if (strcmp(k, "containerRuntimeEndpoint") == 0) {
			rc = want_string(l, k, val, &c->runtime_endpoint);
		} else if (strcmp(k, "cgroupRoot") == 0) {
			rc = want_string(l, k, val, &c->cgroup_root);
		} else if (strcmp(k, "cgroupDriver") == 0) {
			if (!json_object_is_type(val, json_type_string) ||
			    strcmp(json_object_get_string(val), "cgroupfs") != 0)
				rc = fail(l, "cgroupDriver: only \"cgroupfs\" is supported");
		} else if (strcmp(k, "maxPods") == 0) {
			if ((rc = want_int(l, k, val, 1, 10000, &x)) == 0)
				l->max_pods = (int32_t)x;
		} else if (strcmp(k, "evictionHard") == 0) {
			if ((rc = check_eviction(l, val)) == 0)
				json_object_deep_copy(val, &l->eviction, NULL);
		} else if (strcmp(k, "kubeReserved") == 0) {
			if ((rc = check_reserved(l, k, val)) == 0)
				json_object_deep_copy(val, &l->kube_reserved, NULL);
		} else if (strcmp(k, "systemReserved") == 0) {
			if ((rc = check_reserved(l, k, val)) == 0)
				json_object_deep_copy(val, &l->system_reserved, NULL);
		} else if (strcmp(k, "registerWithTaints") == 0) {
			if (!json_object_is_type(val, json_type_array)) {
				rc = fail(l, "registerWithTaints: want a list of taints");
				break;
			}
			for (size_t i = 0; rc == 0 && i < json_object_array_length(val); i++) {
				json_object *t = json_object_array_get_idx(val, i), *tk, *tv, *te;
				if (!json_object_is_type(t, json_type_object) ||
				    !json_object_object_get_ex(t, "key", &tk) ||
				    !json_object_object_get_ex(t, "effect", &te)) {
					rc = fail(l, "registerWithTaints[%zu]: want {key, value, effect}", i);
					break;
				}
				bool has_v = json_object_object_get_ex(t, "value", &tv);
				rc = add_taint(l, json_object_get_string(tk), has_v ? json_object_get_string(tv) : "",
					       json_object_get_string(te));
			}
		} else if (strcmp(k, "kubeAPIQPS") == 0) {
			if (!json_object_is_type(val, json_type_int) && !json_object_is_type(val, json_type_double))
				rc = fail(l, "kubeAPIQPS: want a number");
			else if ((c->api_qps = json_object_get_double(val)) < 0)
				rc = fail(l, "kubeAPIQPS: must not be negative");
		} else if (strcmp(k, "kubeAPIBurst") == 0) {
			if ((rc = want_int(l, k, val, 0, 100000, &x)) == 0)
				c->api_burst = (int32_t)x;
		} else if (strcmp(k, "nodeStatusUpdateFrequency") == 0) {
			rc = want_duration(l, k, val, &c->node_status_update_ms);
		} else if (strcmp(k, "nodeStatusReportFrequency") == 0) {
			rc = want_duration(l, k, val, &c->node_status_report_ms);
		} else if (strcmp(k, "nodeLeaseDurationSeconds") == 0) {
			if ((rc = want_int(l, k, val, 1, 3600, &x)) == 0)
				c->lease_duration_s = (uint32_t)x;
		} else {
			warn(l, "%s: not used by ledgerlet; ignored", k);
		}
	}
	json_object_put(o);
	return rc;
}

/* ---- the whole ---- */

static int node_name(struct loader *l)
{
	char host[256] = "";
	const char *name = l->f->node_name;
	if (name == NULL) {
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "localhost");
		/* The kubelet lower-cases the host name it uses as the node name. */
		for (char *ch = host; *ch; ch++)
			if (*ch >= 'A' && *ch <= 'Z')
				*ch = (char)(*ch - 'A' + 'a');
		name = host;
	}
	/* A node name is a DNS subdomain: lower-case letters, digits, '-' and '.'. */
	size_t k = strlen(name);
	if (k == 0 || k > 253 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != k)
		return fail(l, "node name \"%s\" is not a DNS subdomain (lower-case letters, digits, '-', '.')",
			    name);
	return set_str(&l->c->node_name, name) ? fail(l, "out of memory") : 0;
}

/* GOARCH of this machine, as the kubernetes.io/arch label spells it. */
static const char *go_arch(void)
{
	struct utsname u;
	if (uname(&u) != 0)
		return "unknown";
	static const struct {
		const char *machine, *arch;
	} map[] = {{"x86_64", "amd64"},  {"aarch64", "arm64"}, {"armv7l", "arm"},    {"armv6l", "arm"},
		   {"i686", "386"},      {"i386", "386"},      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
		   {"riscv64", "riscv64"}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(u.machine, map[i].machine) == 0)
			return map[i].arch;
	return "unknown";
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of a map with its keys sorted: the same configuration gives the same
 * bytes, so an unchanged configuration journals nothing. */
static json_object *sorted(json_object *m)
{
	size_t n = (size_t)json_object_object_length(m), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	json_object *out = json_object_new_object();
	if (keys == NULL || out == NULL) {
		free(keys);
		return out;
	}
	json_object_object_foreach(m, k, v)
	{
		(void)v;
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 0; i < n; i++) {
		json_object *val;
		json_object_object_get_ex(m, keys[i], &val);
		json_object_object_add(out, keys[i], json_object_get(val));
	}
	free(keys);
	return out;
}

static int fold_json(struct loader *l)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "nodeName", json_object_new_string(l->c->node_name));
	json_object_object_add(o, "maxPods", json_object_new_int(l->max_pods));
	json_object_object_add(o, "labels", sorted(l->labels));
	if (json_object_array_length(l->taints) > 0)
		json_object_object_add(o, "taints", json_object_get(l->taints));
	if (l->eviction != NULL)
		json_object_object_add(o, "evictionHard", sorted(l->eviction));
	if (l->kube_reserved != NULL)
		json_object_object_add(o, "kubeReserved", sorted(l->kube_reserved));
	if (l->system_reserved != NULL)
		json_object_object_add(o, "systemReserved", sorted(l->system_reserved));
	if (l->c->kubeconfig != NULL) {
		/* Joined to an API server: what the node's side of it needs. */
		json_object_object_add(o, "api", json_object_new_boolean(1));
		json_object_object_add(o, "leaseDurationSeconds", json_object_new_int((int32_t)l->c->lease_duration_s));
		json_object_object_add(o, "statusReportMs", json_object_new_int64(l->c->node_status_report_ms));
	}
	int rc = set_str(&l->c->fold_json, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return rc ? fail(l, "out of memory") : 0;
}

int ll_config_load(const struct ll_flags *f, struct ll_config *out,
		   void (*warn_fn)(void *arg, const char *line), void *warn_arg, char *err, size_t err_len)
{
	*out = (struct ll_config){
		.api_qps = 50,
		.api_burst = 100,
		.node_status_update_ms = 10000,
		.node_status_report_ms = 300000,
		.lease_duration_s = 40,
	};
	struct loader l = {.f = f, .c = out, .warn = warn_fn, .warn_arg = warn_arg, .err = err,
			   .err_len = err_len, .max_pods = LL_DEFAULT_MAX_PODS};
	l.taints = json_object_new_array();
	l.labels = json_object_new_object();
	int rc = l.taints && l.labels ? 0 : fail(&l, "out of memory");
	if (rc == 0 && f->config_path != NULL)
		rc = load_file(&l, f->config_path);
	l.file = NULL;
	/* The command line wins over the file. */
	if (rc == 0 && f->manifest_dir != NULL)
		rc = set_str(&out->static_pod_path, f->manifest_dir);
	if (rc == 0 && f->runtime_endpoint != NULL)
		rc = set_str(&out->runtime_endpoint, f->runtime_endpoint);
	if (rc == 0 && f->cgroup_parent != NULL)
		rc = set_str(&out->cgroup_root, f->cgroup_parent);
	if (rc == 0 && f->kubeconfig != NULL)
		rc = set_str(&out->kubeconfig, f->kubeconfig);
	if (rc == 0 && f->node_ip != NULL)
		rc = set_str(&out->node_ip, f->node_ip);
	if (rc == 0)
		rc = set_str(&out->root_dir, f->root_dir != NULL && f->root_dir[0] != '\0'
						     ? f->root_dir
						     : LL_DEFAULT_ROOT_DIR);
	if (rc == 0 && f->max_pods > 0)
		l.max_pods = f->max_pods;
	if (rc == 0 && out->static_pod_path != NULL && *out->static_pod_path == '\0')
		rc = set_str(&out->static_pod_path, NULL);
	if (rc == 0)
		rc = node_name(&l);
	if (rc == 0) {
		/* The kubelet's own labels; --node-labels may add, not replace them. */
		json_object_object_add(l.labels, "kubernetes.io/hostname", json_object_new_string(out->node_name));
		json_object_object_add(l.labels, "kubernetes.io/os", json_object_new_string("linux"));
		json_object_object_add(l.labels, "kubernetes.io/arch", json_object_new_string(go_arch()));
		json_object_object_add(l.labels, "beta.kubernetes.io/os", json_object_new_string("linux"));
		json_object_object_add(l.labels, "beta.kubernetes.io/arch", json_object_new_string(go_arch()));
		if (f->node_labels != NULL)
			rc = parse_label_flag(&l, f->node_labels);
	}
	if (rc == 0 && f->taints != NULL) {
		/* The flag replaces the file's list, as a flag replaces a field. */
		json_object_put(l.taints);
		l.taints = json_object_new_array();
		rc = parse_taint_flag(&l, f->taints);
	}
	if (rc == 0)
		rc = fold_json(&l);
	json_object_put(l.taints);
	json_object_put(l.labels);
	json_object_put(l.eviction);
	json_object_put(l.kube_reserved);
	json_object_put(l.system_reserved);
	if (rc != 0)
		ll_config_free(out);
	return rc;
}

void ll_config_free(struct ll_config *c)
{
	free(c->node_name);
	free(c->static_pod_path);
	free(c->runtime_endpoint);
	free(c->cgroup_root);
	free(c->kubeconfig);
	free(c->node_ip);
	free(c->root_dir);
	free(c->fold_json);
	*c = (struct ll_config){0};
}
