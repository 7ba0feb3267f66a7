/*
 * effects/volume.c — the volume executor (see volume.h): volume.setup and
 * volume.teardown as directories, tmpfs mounts and atomically written files under
 * <root_dir>/pods/<uid>/volumes.
 *
 * Each command becomes an `op`. A setup first gathers what it cannot know alone:
 * the first list of each ConfigMap and Secret it uses (io/objwatch, or a GET when
 * the object cannot be watched) and one TokenRequest per serviceAccountToken
 * source. Those run concurrently; when the last one answers (on a reactor turn)
 * the op does all its filesystem work at once, synchronously, and reports. An op
 * with nothing to wait for (a teardown, a setup of emptyDirs, a malformed body)
 * is marked ready and finished by a reactor timer due at once, so that nothing is
 * ever reported from inside fx_volume_dispatch.
 *
 * Secret bytes (Secret data, tokens) live in `struct proj` payloads and in the
 * token buffers only; both are zeroed before they are freed, and no error text is
 * ever built from them.
 */
#include "effects/volume.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <json-c/linkhash.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "effects/exec.h"
#include "effects/gotext.h"
#include "effects/json.h"
#include "fsm/buf.h"
#include "fsm/model.h"

#define ERROR_BYTES_MAX  2048
#define VOLUMES_MAX      1024 /* volumes of one pod; more is a malformed body */
#define ITEMS_MAX        4096 /* files of one volume */
#define NEEDS_MAX        256  /* objects and tokens one setup waits for */
#define TREE_DEPTH_MAX   32   /* directories below a volume or a pod directory */
#define MOUNTS_MAX       4096 /* mount points under one pod directory */
#define UMOUNT_TRIES_MAX 8    /* stacked mounts on one mount point */
#define PATH_BYTES_MAX   4096 /* the atomic writer's maxPathLength */
#define NAME_BYTES_MAX   255  /* its maxFileNameLength */
#define MODE_DEFAULT     0644

enum op_kind { OP_SETUP, OP_TEARDOWN };
enum need_kind { NEED_WAIT, NEED_GET, NEED_TOKEN };

/* One thing a setup waits for. Heap-allocated: its address is a callback's arg. */
struct need {
	struct op *op;
	enum need_kind kind;
	enum io_obj_kind obj_kind; /* WAIT, GET */
	char *name;                /* the object's name; TOKEN: the file's path */
	bool busy;                 /* a wait or call in flight */
	uint64_t id;               /* objwatch wait id or kapi call id */
	/* GET: what the API said */
	enum io_obj_state state;
	struct json_object *obj;
	/* TOKEN: the projected volume's and source's index */
	size_t vol_i, src_i;
	char *audience;
	int64_t expiration_s;
	char *token; /* secret: zeroed before free */
	size_t token_len;
	char *error; /* GET, TOKEN: why it failed (no secret in it) */
};

struct op {
	struct fx_volume *v;
	struct op *prev, *next;
	enum op_kind kind;
	char *cmd_id;
	char *pod_uid;
	struct json_object *body; /* setup: the parsed body */
	struct need **needs;
	size_t n_needs;
	unsigned pending; /* needs busy */
	bool ready;       /* nothing pending: finished by the timer or at once */
	/* an outcome known at dispatch (a malformed body) */
	bool preset;
	char *error;
};

struct fx_volume {
	struct io_reactor *reactor;
	struct fx_sink sink;
	char *root_dir;
	char *node_name;
	char *host_ip;
	int64_t memory_bytes;
	struct kapi *api;
	struct io_objwatch *objects;
	struct op *ops; /* newest first */
	uint64_t timer_id;
	bool timer_armed;
	bool in_dispatch;
};

/* A file of a volume's content: path relative to the volume, bytes, mode. */
struct proj {
	char *path;
	unsigned char *data;
	size_t len;
	unsigned mode;
};

struct payload {
	struct proj *v;
	size_t n, cap;
};

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *nz(const char *s)
{
	return s != NULL ? s : "";
}

static void set_err(char *err, size_t n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

static void zfree(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}








/* A pod uid names a directory: no '/', not "." or "..", not empty, not long. */
static bool uid_ok(const char *uid)
{
	return uid != NULL && uid[0] != '\0' && strchr(uid, '/') == NULL && strcmp(uid, ".") != 0 &&
	       strcmp(uid, "..") != 0 && strlen(uid) <= NAME_BYTES_MAX;
}

/* ---- paths ---------------------------------------------------------------------- */

int fx_volume_host_path(const char *root_dir, const char *pod_uid, const char *rel, char *out,
                        size_t n)
{
	if (rel == NULL || out == NULL || n == 0)
		return -EINVAL;
	int w;
	if (rel[0] == '/') {
		w = snprintf(out, n, "%s", rel);
	} else {
		if (!uid_ok(pod_uid))
			return -EINVAL;
		if (root_dir == NULL || root_dir[0] == '\0')
			root_dir = FX_VOLUME_ROOT_DEFAULT;
		w = snprintf(out, n, "%s/pods/%s/%s", root_dir, pod_uid, rel);
	}
	if (w < 0)
		return -EINVAL;
	if ((size_t)w >= n) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

static int pod_dir(const struct fx_volume *v, const char *uid, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/pods/%s", v->root_dir, uid);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int vol_dir(const struct fx_volume *v, const char *uid, const char *plugin, const char *name,
                   char *out, size_t n)
{
	int w = snprintf(out, n, "%s/pods/%s/volumes/kubernetes.io~%s/%s", v->root_dir, uid, plugin,
	                 name);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* mkdir -p of path, every made directory mode; the last one chmod'ed to mode
 * (umask-proof). */
static int mkdirs(const char *path, mode_t mode)
{
	int rc = fx_mkdir_p(path, mode);
	if (rc != 0)
		return rc;
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_mode & 07777) != mode && chmod(path, mode) != 0)
		return -errno;
	return 0;
}

/* ---- mounts --------------------------------------------------------------------- */

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r != '\0'; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/*
 * The mount points of /proc/self/mountinfo equal to path or, with under, strictly
 * below it: how many, and (out not NULL) a list of them (the caller frees each
 * and the list). A negative errno on an error, -E2BIG past MOUNTS_MAX.
 */
static int mounts_scan(const char *path, bool under, char ***out, size_t *n_out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return -errno;
	size_t plen = strlen(path);
	char *line = NULL;
	size_t cap = 0;
	char **list = NULL;
	size_t n = 0;
	int rc = 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint ... */
		char *save = NULL, *tok = strtok_r(line, " ", &save);
		for (int i = 0; i < 4 && tok != NULL; i++)
			tok = strtok_r(NULL, " ", &save);
		if (tok == NULL)
			continue;
		unescape_octal(tok);
		bool match = under ? strncmp(tok, path, plen) == 0 && tok[plen] == '/'
		                   : strcmp(tok, path) == 0;
		if (!match)
			continue;
		if (out == NULL) {
			n++;
			continue;
		}
		if (n >= MOUNTS_MAX) {
			rc = -E2BIG;
			break;
		}
		char **nl = realloc(list, (n + 1) * sizeof(*list));
		if (nl == NULL || (nl[n] = strdup(tok)) == NULL) {
			list = nl != NULL ? nl : list;
			rc = -ENOMEM;
			break;
		}
		list = nl;
		n++;
	}
	free(line);
	fclose(f);
	if (rc != 0) {
		for (size_t i = 0; i < n && list != NULL; i++)
			free(list[i]);
		free(list);
		return rc;
	}
	if (out != NULL) {
		*out = list;
		*n_out = n;
	}
	return (int)n;
}

static bool is_mounted(const char *path)
{
	return mounts_scan(path, false, NULL, NULL) > 0;
}

/* Mounts a tmpfs on dir unless one is there already; size_bytes 0: the default. */
static int tmpfs_ensure(const char *dir, int64_t size_bytes, char *err, size_t n)
{
	if (is_mounted(dir))
		return 0;
	char opts[64] = "";
	if (size_bytes > 0)
		snprintf(opts, sizeof(opts), "size=%lld", (long long)size_bytes);
	if (mount("tmpfs", dir, "tmpfs", 0, opts[0] != '\0' ? opts : NULL) != 0) {
		int e = errno;
		set_err(err, n, "mount tmpfs on %s: %s", dir, strerror(e));
		return -e;
	}
	return 0;
}

static int cmp_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	if (la != lb)
		return la > lb ? -1 : 1;
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Unmounts every mount point at or below dir, deepest first. 0 or a negative errno
 * (err says which failed). */
static int umount_all(const char *dir, char *err, size_t n)
{
	for (int round = 0; round < UMOUNT_TRIES_MAX; round++) {
		char **list = NULL;
		size_t k = 0;
		int rc = mounts_scan(dir, true, &list, &k);
		if (rc < 0) {
			set_err(err, n, "read mountinfo: %s", strerror(-rc));
			return rc;
		}
		bool self = is_mounted(dir);
		if (k == 0 && !self) {
			free(list);
			return 0;
		}
		qsort(list, k, sizeof(*list), cmp_len_desc);
		int fail = 0;
		for (size_t i = 0; i < k; i++) {
			if (umount2(list[i], 0) != 0 && errno != EINVAL && errno != ENOENT) {
				/* busy: detach it, as the kubelet's lazy unmount would */
				if (umount2(list[i], MNT_DETACH) != 0 && errno != EINVAL &&
				    fail == 0) {
					fail = -errno;
					set_err(err, n, "unmount %s: %s", list[i], strerror(errno));
				}
			}
			free(list[i]);
		}
		free(list);
		if (self && umount2(dir, 0) != 0 && umount2(dir, MNT_DETACH) != 0 &&
		    errno != EINVAL && fail == 0) {
			fail = -errno;
			set_err(err, n, "unmount %s: %s", dir, strerror(errno));
		}
		if (fail != 0)
			return fail;
	}
	set_err(err, n, "unmount under %s: still mounted after %d rounds", dir, UMOUNT_TRIES_MAX);
	return -EBUSY;
}

/* ---- trees ---------------------------------------------------------------------- */

/*
 * Removes dirfd/name and all below it, never crossing into another filesystem
 * (what is still mounted stays, and the removal fails with -EBUSY) and never
 * following a symlink. -ENOENT is success.
 */
static int rm_tree_at(int dirfd, const char *name, dev_t dev, int depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
	if (st.st_dev != dev)
		return -EBUSY;
	if (depth >= TREE_DEPTH_MAX)
		return -ELOOP;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int r = rm_tree_at(fd, e->d_name, dev, depth + 1);
		if (r != 0 && rc == 0)
			rc = r;
	}
	closedir(d);
	if (rc != 0)
		return rc;
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -errno;
}

static int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	return rm_tree_at(AT_FDCWD, path, st.st_dev, 0);
}

/* Unmounts and removes a pod's directory. 0, or a negative errno with err. */
static int pod_dir_remove(const char *dir, char *err, size_t n)
{
	int rc = umount_all(dir, err, n);
	if (rc != 0)
		return rc;
	rc = rm_tree(dir);
	if (rc != 0)
		set_err(err, n, "remove %s: %s", dir, strerror(-rc));
	return rc;
}

/* ---- payloads ------------------------------------------------------------------- */

static void payload_free(struct payload *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		zfree(p->v[i].data, p->v[i].len + 1);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Adds (or replaces: a later source wins, as in the kubelet's map) path. data is
 * taken over. */
static int payload_put(struct payload *p, const char *path, unsigned char *data, size_t len,
                       unsigned mode)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].path, path) == 0) {
			zfree(p->v[i].data, p->v[i].len + 1);
			p->v[i].data = data;
			p->v[i].len = len;
			p->v[i].mode = mode;
			return 0;
		}
	}
	if (p->n >= ITEMS_MAX) {
		zfree(data, len + 1);
		return -E2BIG;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct proj *nv = realloc(p->v, cap * sizeof(*nv));
		if (nv == NULL) {
			zfree(data, len + 1);
			return -ENOMEM;
		}
		p->v = nv;
		p->cap = cap;
	}
	char *dup = strdup(path);
	if (dup == NULL) {
		zfree(data, len + 1);
		return -ENOMEM;
	}
	p->v[p->n++] = (struct proj){.path = dup, .data = data, .len = len, .mode = mode};
	return 0;
}

/* Copies n bytes (plus a NUL, so that zfree's length is always len + 1). */
static int payload_put_copy(struct payload *p, const char *path, const void *data, size_t len,
                            unsigned mode)
{
	unsigned char *d = malloc(len + 1);
	if (d == NULL)
		return -ENOMEM;
	memcpy(d, data, len);
	d[len] = 0;
	return payload_put(p, path, d, len, mode);
}

/* The atomic writer's validatePath, with its texts. */
static int path_check(const char *path, char *err, size_t n)
{
	if (path[0] == '\0') {
		set_err(err, n, "invalid path: must not be empty: \"\"");
		return -1;
	}
	if (path[0] == '/') {
		set_err(err, n, "invalid path: must be relative path: %s", path);
		return -1;
	}
	if (strlen(path) > PATH_BYTES_MAX) {
		set_err(err, n, "invalid path: must be less than or equal to %d characters",
		        PATH_BYTES_MAX);
		return -1;
	}
	const char *s = path;
	size_t first_len = strcspn(path, "/");
	for (;;) {
		size_t k = strcspn(s, "/");
		if (k == 2 && s[0] == '.' && s[1] == '.') {
			set_err(err, n, "invalid path: must not contain '..': %s", path);
			return -1;
		}
		if (k > NAME_BYTES_MAX) {
			set_err(err, n,
			        "invalid path: filenames must be less than or equal to %d "
			        "characters",
			        NAME_BYTES_MAX);
			return -1;
		}
		if (s[k] == '\0')
			break;
		s += k + 1;
	}
	if (first_len > 2 && strncmp(path, "..", 2) == 0) {
		set_err(err, n, "invalid path: must not start with '..': %s", path);
		return -1;
	}
	return 0;
}

/* ---- the atomic writer ---------------------------------------------------------- */

static int write_file_at(int dirfd, const char *rel, const struct proj *f)
{
	/* parents (0755, as MkdirAll(ModePerm) under a umask of 022 makes them) */
	char buf[PATH_BYTES_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", rel);
	for (char *p = buf; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdirat(dirfd, buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	while (off < f->len) {
		ssize_t w = write(fd, f->data + off, f->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, (mode_t)(f->mode & 07777)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return close(fd) == 0 ? 0 : -errno;
}

/* Whether dirfd/rel is a regular file with f's bytes and mode. */
static bool same_file(int dirfd, const char *rel, const struct proj *f)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == f->len &&
	            (st.st_mode & 07777) == (f->mode & 07777);
	unsigned char chunk[4096];
	size_t off = 0;
	while (same && off < f->len) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r <= 0 || (size_t)r > f->len - off ||
		    memcmp(chunk, f->data + off, (size_t)r) != 0)
			same = false;
		else
			off += (size_t)r;
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return same;
}

/* Regular files below dirfd (bounded depth), or -1 on an error. */
static long count_files(int dirfd, int depth)
{
	if (depth >= TREE_DEPTH_MAX)
		return -1;
	int fd = dup(dirfd);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n >= 0) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			n = -1;
		else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, e->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			long k = sub >= 0 ? count_files(sub, depth + 1) : -1;
			if (sub >= 0)
				close(sub);
			n = k < 0 ? -1 : n + k;
		} else {
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Whether the timestamped directory old holds exactly the payload. */
static bool same_content(int dirfd, const char *old, const struct payload *p)
{
	int fd = openat(dirfd, old, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool same = count_files(fd, 0) == (long)p->n;
	for (size_t i = 0; same && i < p->n; i++)
		same = same_file(fd, p->v[i].path, &p->v[i]);
	close(fd);
	return same;
}

static bool in_top_names(const struct payload *p, const char *name)
{
	size_t k = strlen(name);
	for (size_t i = 0; i < p->n; i++) {
		const char *path = p->v[i].path;
		if (strncmp(path, name, k) == 0 && (path[k] == '\0' || path[k] == '/'))
			return true;
	}
	return false;
}

/*
 * Writes p into dir as the kubelet's AtomicWriter does (see volume.h). The paths
 * must be checked and cleaned. 0, or -1 with err.
 */
static int atomic_write(const char *dir, const struct payload *p, char *err, size_t n)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		set_err(err, n, "open %s: %s", dir, strerror(errno));
		return -1;
	}
	int rc = -1;
	char old[NAME_BYTES_MAX + 1] = "";
	ssize_t k = readlinkat(dfd, "..data", old, sizeof(old) - 1);
	old[k > 0 ? k : 0] = '\0';
	if (strchr(old, '/') != NULL) /* not a link this writer made */
		old[0] = '\0';

	char cur[NAME_BYTES_MAX + 1];
	if (old[0] != '\0' && same_content(dfd, old, p)) {
		snprintf(cur, sizeof(cur), "%s", old);
	} else {
		/* (5) a fresh timestamped directory */
		time_t now = (time_t)(wall_ms() / 1000);
		struct tm tm;
		gmtime_r(&now, &tm);
		char tmpl[PATH_MAX];
		char ts[40];
		strftime(ts, sizeof(ts), "..%Y_%m_%d_%H_%M_%S.", &tm);
		if (snprintf(tmpl, sizeof(tmpl), "%s/%sXXXXXXXXX", dir, ts) >= (int)sizeof(tmpl) ||
		    mkdtemp(tmpl) == NULL) {
			set_err(err, n, "unable to create new temp directory in %s: %s", dir,
			        strerror(errno));
			goto out;
		}
		const char *base = strrchr(tmpl, '/') + 1;
		snprintf(cur, sizeof(cur), "%s", base);
		if (chmod(tmpl, 0755) != 0) {
			set_err(err, n, "chmod %s: %s", tmpl, strerror(errno));
			goto drop_new;
		}
		/* (6) the payload into it */
		int tfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0) {
			set_err(err, n, "open %s: %s", tmpl, strerror(errno));
			goto drop_new;
		}
		for (size_t i = 0; i < p->n; i++) {
			int w = write_file_at(tfd, p->v[i].path, &p->v[i]);
			if (w != 0) {
				/* the path is the user's; the bytes are never named */
				set_err(err, n, "unable to write file %s/%s with mode %04o: %s",
				        tmpl, p->v[i].path, p->v[i].mode & 07777, strerror(-w));
				close(tfd);
				goto drop_new;
			}
		}
		close(tfd);
		/* (8, 9) ..data_tmp -> new, renamed over ..data */
		unlinkat(dfd, "..data_tmp", 0);
		if (symlinkat(cur, dfd, "..data_tmp") != 0 ||
		    renameat(dfd, "..data_tmp", dfd, "..data") != 0) {
			set_err(err, n,
			        "error renaming symbolic link for data directory %s/..data: %s",
			        dir, strerror(errno));
			unlinkat(dfd, "..data_tmp", 0);
			goto drop_new;
		}
	}
	/* (7) a top-level symlink per first path component */
	for (size_t i = 0; i < p->n; i++) {
		char top[NAME_BYTES_MAX + 1], target[NAME_BYTES_MAX + 16];
		size_t len = strcspn(p->v[i].path, "/");
		snprintf(top, sizeof(top), "%.*s", (int)len, p->v[i].path);
		snprintf(target, sizeof(target), "..data/%s", top);
		struct stat st;
		if (fstatat(dfd, top, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (symlinkat(target, dfd, top) != 0 && errno != EEXIST) {
			set_err(err, n, "error creating visible symlinks in %s: %s", dir,
			        strerror(errno));
			goto out;
		}
	}
	/* (10, 11) what the new content no longer has: stale top-level links into
	 * ..data, and the timestamped directories other than the current one (the
	 * previous one, or one a crash left behind) */
	int cfd = dup(dfd);
	DIR *d = cfd >= 0 ? fdopendir(cfd) : NULL;
	if (d == NULL) {
		if (cfd >= 0)
			close(cfd);
		set_err(err, n, "read %s: %s", dir, strerror(errno));
		goto out;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strcmp(name, "..data") == 0)
			continue;
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (strcmp(name, "..data_tmp") == 0) { /* a crash's, between (8) and (9) */
			unlinkat(dfd, name, 0);
			continue;
		}
		if (strncmp(name, "..", 2) == 0) {
			if (S_ISDIR(st.st_mode) && strcmp(name, cur) != 0)
				rm_tree_at(dfd, name, st.st_dev, 0);
			continue;
		}
		if (!S_ISLNK(st.st_mode) || in_top_names(p, name))
			continue;
		char target[NAME_BYTES_MAX + 16];
		ssize_t tl = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (tl > 7 && strncmp(target, "..data/", 7) == 0)
			unlinkat(dfd, name, 0);
	}
	closedir(d);
	rc = 0;
	goto out;
drop_new : {
	struct stat st;
	if (fstat(dfd, &st) == 0)
		rm_tree_at(dfd, cur, st.st_dev, 0);
}
out:
	close(dfd);
	return rc;
}

/* ---- a setup's content ---------------------------------------------------------- */

/* What the plugins of one setup read. */
struct setup {
	struct fx_volume *v;
	struct op *op;
	const char *uid;
	const char *pod_name;
	const char *ns;
	const char *sa;
	struct json_object *labels;
	struct json_object *annotations;
	size_t vol_i; /* the volume being set up */
};

/* Go's error strings are lower-case ("no such file or directory"). */
static const char *go_strerror(int e, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static const char *kind_word(enum io_obj_kind k)
{
	return k == IO_OBJ_SECRET ? "secret" : "configmap";
}

static struct need *need_find_obj(struct op *op, enum io_obj_kind kind, const char *name)
{
	for (size_t i = 0; i < op->n_needs; i++) {
		struct need *nd = op->needs[i];
		if (nd->kind == NEED_GET && nd->obj_kind == kind && strcmp(nd->name, name) == 0)
			return nd;
	}
	return NULL;
}

static struct need *need_find_token(struct op *op, size_t vol_i, size_t src_i)
{
	for (size_t i = 0; i < op->n_needs; i++) {
		struct need *nd = op->needs[i];
		if (nd->kind == NEED_TOKEN && nd->vol_i == vol_i && nd->src_i == src_i)
			return nd;
	}
	return NULL;
}

/* The object as this setup may read it: IO_OBJ_PRESENT (*obj valid until the
 * op ends or the next turn), IO_OBJ_ABSENT, or IO_OBJ_ERROR with err. */
static enum io_obj_state obj_lookup(struct setup *s, enum io_obj_kind kind, const char *name,
                                    struct json_object **obj, char *err, size_t n)
{
	*obj = NULL;
	if (name == NULL || name[0] == '\0')
		return IO_OBJ_ABSENT;
	struct need *nd = need_find_obj(s->op, kind, name);
	if (nd != NULL) {
		if (nd->state == IO_OBJ_ERROR)
			set_err(err, n, "%s", nz(nd->error));
		*obj = nd->obj;
		return nd->state;
	}
	if (s->v->objects != NULL) {
		char why[512] = "";
		enum io_obj_state st =
		        io_objwatch_get(s->v->objects, kind, s->ns, name, obj, why, sizeof(why));
		switch (st) {
		case IO_OBJ_PRESENT:
		case IO_OBJ_ABSENT:
			return st;
		case IO_OBJ_ERROR:
			set_err(err, n, "%s", why[0] != '\0' ? why : "couldn't get object");
			return st;
		case IO_OBJ_PENDING:
		case IO_OBJ_UNKNOWN:
			break;
		}
		set_err(err, n, "couldn't get %s %s/%s: not yet listed", kind_word(kind), s->ns,
		        name);
		return IO_OBJ_ERROR;
	}
	set_err(err, n, "no API server to read %s \"%s\" from", kind_word(kind), name);
	return IO_OBJ_ERROR;
}

/* Bytes of a data value: raw (a ConfigMap's data) or base64 (binaryData, a
 * Secret's data). 0, or -1 with err (which names the key, never the value). */
static int value_bytes(struct json_object *val, bool b64, const char *what, const char *key,
                       unsigned char **out, size_t *len, char *err, size_t n)
{
	if (val == NULL || !json_object_is_type(val, json_type_string)) {
		set_err(err, n, "%s key %s: not a string", what, key);
		return -1;
	}
	const char *s = json_object_get_string(val);
	size_t sl = (size_t)json_object_get_string_len(val);
	if (b64) {
		if (fx_b64_decode(s, sl, out, len) != 0) {
			set_err(err, n, "%s key %s: not base64", what, key);
			return -1;
		}
	} else {
		*out = malloc(sl + 1);
		if (*out == NULL) {
			set_err(err, n, "out of memory");
			return -1;
		}
		memcpy(*out, s, sl);
		(*out)[sl] = 0;
		*len = sl;
	}
	if (*len > FX_VOLUME_FILE_BYTES_MAX) {
		zfree(*out, *len + 1);
		*out = NULL;
		set_err(err, n, "%s key %s: larger than %zu bytes", what, key,
		        FX_VOLUME_FILE_BYTES_MAX);
		return -1;
	}
	return 0;
}

/* fx_b64_decode's buffer is n/4*3+1 bytes, a raw copy len+1: re-home so that every
 * payload buffer is len+1 bytes (payload_free zeroes len+1). */
static int put_value(struct payload *p, const char *path, unsigned char *d, size_t len,
                     unsigned mode, bool b64, size_t src_len)
{
	if (!b64)
		return payload_put(p, path, d, len, mode);
	int rc = payload_put_copy(p, path, d, len, mode);
	zfree(d, src_len / 4 * 3 + 1);
	return rc;
}

/*
 * The payload of a configMap or secret source (MakePayload): every key, or the
 * items; obj NULL is an absent optional object (an empty payload).
 */
static int keys_payload(struct payload *p, struct json_object *src, struct json_object *obj,
                        bool secret, unsigned dflt_mode, bool optional, char *err, size_t n)
{
	struct json_object *data = fx_jobject(obj, "data");
	struct json_object *bin = secret ? NULL : fx_jobject(obj, "binaryData");
	const char *what = secret ? "secret" : "configmap";
	struct json_object *items = fx_jarray(src, "items");
	size_t n_items = items != NULL ? json_object_array_length(items) : 0;
	if (n_items > ITEMS_MAX) {
		set_err(err, n, "too many items: %zu", n_items);
		return -1;
	}
	if (n_items == 0) {
		struct json_object *maps[2] = {data, bin};
		for (int m = 0; m < 2; m++) {
			if (maps[m] == NULL)
				continue;
			bool b64 = secret || m == 1;
			json_object_object_foreach(maps[m], key, val)
			{
				unsigned char *d = NULL;
				size_t len = 0;
				if (value_bytes(val, b64, what, key, &d, &len, err, n) != 0)
					return -1;
				size_t sl = (size_t)json_object_get_string_len(val);
				if (put_value(p, key, d, len, dflt_mode, b64, sl) != 0) {
					set_err(err, n, "%s: too many keys", what);
					return -1;
				}
			}
		}
		return 0;
	}
	for (size_t i = 0; i < n_items; i++) {
		struct json_object *it = json_object_array_get_idx(items, i);
		const char *key = nz(fx_jstr(it, "key"));
		const char *path = nz(fx_jstr(it, "path"));
		struct json_object *val = NULL;
		bool b64 = secret;
		if (data != NULL && json_object_object_get_ex(data, key, &val)) {
		} else if (bin != NULL && json_object_object_get_ex(bin, key, &val)) {
			b64 = true;
		} else {
			if (optional)
				continue;
			if (secret)
				set_err(err, n, "references non-existent secret key: %s", key);
			else
				set_err(err, n, "configmap references non-existent config key: %s",
				        key);
			return -1;
		}
		unsigned char *d = NULL;
		size_t len = 0;
		if (value_bytes(val, b64, what, key, &d, &len, err, n) != 0)
			return -1;
		unsigned mode = (unsigned)fx_jint(it, "mode", dflt_mode);
		size_t sl = (size_t)json_object_get_string_len(val);
		if (put_value(p, path, d, len, mode, b64, sl) != 0) {
			set_err(err, n, "%s: too many items", what);
			return -1;
		}
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A "metadata.labels['k']" subscript: the map's name and the key, or false. */
static bool subscript(const char *fp, const char *map, char *key, size_t n)
{
	size_t ml = strlen(map);
	if (strncmp(fp, map, ml) != 0 || strncmp(fp + ml, "['", 2) != 0)
		return false;
	const char *k = fp + ml + 2;
	size_t kl = strlen(k);
	if (kl < 2 || strcmp(k + kl - 2, "']") != 0 || kl - 2 >= n)
		return false;
	snprintf(key, n, "%.*s", (int)(kl - 2), k);
	return true;
}

/* ExtractFieldPathAsString, for the paths volume.h lists. */
static int field_value(struct setup *s, const char *fp, struct fsm_buf *b, char *err, size_t n)
{
	char key[512];
	const char *val = NULL;
	if (strcmp(fp, "metadata.name") == 0)
		val = s->pod_name;
	else if (strcmp(fp, "metadata.namespace") == 0)
		val = s->ns;
	else if (strcmp(fp, "metadata.uid") == 0)
		val = s->uid;
	else if (strcmp(fp, "spec.serviceAccountName") == 0)
		val = s->sa;
	else if (strcmp(fp, "spec.nodeName") == 0)
		val = nz(s->v->node_name);
	else if (strcmp(fp, "status.hostIP") == 0)
		val = nz(s->v->host_ip);
	else if (strcmp(fp, "metadata.labels") == 0)
		return fx_format_map(b, s->labels);
	else if (strcmp(fp, "metadata.annotations") == 0)
		return fx_format_map(b, s->annotations);
	else if (subscript(fp, "metadata.labels", key, sizeof(key)))
		val = nz(fx_jstr(s->labels, key));
	else if (subscript(fp, "metadata.annotations", key, sizeof(key)))
		val = nz(fx_jstr(s->annotations, key));
	if (val == NULL) {
		set_err(err, n, "unsupported fieldPath: %s", fp);
		return -1;
	}
	fsm_buf_puts(b, val);
	return 0;
}

/* Go's path.Clean: "." and empty parts dropped, ".." eats the part before it
 * (kept at the start of a relative path); "" becomes ".". */
static void go_path_clean(const char *in, char *out, size_t n)
{
	assert(n > 2);
	bool rooted = in[0] == '/';
	size_t w = 0, dotdot = 0; /* out[0..dotdot) cannot be backtracked over */
	if (rooted)
		out[w++] = '/', dotdot = 1;
	for (const char *s = in; *s != '\0';) {
		size_t k = strcspn(s, "/");
		if (k == 0 || (k == 1 && s[0] == '.')) {
			/* nothing */
		} else if (k == 2 && s[0] == '.' && s[1] == '.') {
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted && w + 3 < n) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if (((rooted && w != 1) || (!rooted && w != 0)) && w + 1 < n)
				out[w++] = '/';
			for (size_t i = 0; i < k && w + 1 < n; i++)
				out[w++] = s[i];
		}
		s += k;
		if (*s == '/')
			s++;
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
}

/* The downward API's sortLines: a value's lines, sorted. */
static int sort_lines(struct fsm_buf *b)
{
	if (b->len == 0 || memchr(b->ptr, '\n', b->len) == NULL)
		return 0;
	size_t k = 1;
	for (size_t i = 0; i < b->len; i++)
		k += b->ptr[i] == '\n';
	char **lines = calloc(k, sizeof(*lines));
	char *copy = strndup(b->ptr, b->len);
	if (lines == NULL || copy == NULL) {
		free(lines);
		free(copy);
		return -1;
	}
	size_t i = 0;
	for (char *p = copy, *nl; i < k; p = nl + 1) {
		lines[i++] = p;
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
	}
	qsort(lines, i, sizeof(*lines), cmp_str);
	fsm_buf_reset(b);
	for (size_t j = 0; j < i; j++) {
		if (j > 0)
			fsm_buf_putc(b, '\n');
		fsm_buf_puts(b, lines[j]);
	}
	free(lines);
	free(copy);
	return 0;
}

static int downward_payload(struct setup *s, struct payload *p, struct json_object *items,
                            unsigned dflt_mode, char *err, size_t n)
{
	size_t k = items != NULL ? json_object_array_length(items) : 0;
	if (k > ITEMS_MAX) {
		set_err(err, n, "too many items: %zu", k);
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		struct json_object *it = json_object_array_get_idx(items, i);
		/* CollectData cleans the path (MakePayload does not) */
		char path[PATH_BYTES_MAX + 8];
		go_path_clean(nz(fx_jstr(it, "path")), path, sizeof(path));
		unsigned mode = (unsigned)fx_jint(it, "mode", dflt_mode);
		struct json_object *fr = fx_jobject(it, "fieldRef");
		if (fr == NULL) {
			if (fx_jobject(it, "resourceFieldRef") != NULL)
				set_err(err, n, "resourceFieldRef is not supported: %s", path);
			else
				set_err(err, n, "downwardAPI item %s: no fieldRef", path);
			return -1;
		}
		struct fsm_buf b = {0};
		int rc = field_value(s, nz(fx_jstr(fr, "fieldPath")), &b, err, n);
		if (rc == 0)
			rc = sort_lines(&b);
		if (rc == 0)
			rc = payload_put_copy(p, path, b.len > 0 ? b.ptr : "", b.len, mode);
		fsm_buf_free(&b);
		if (rc != 0) {
			if (err[0] == '\0')
				set_err(err, n, "downwardAPI item %s: out of memory", path);
			return -1;
		}
	}
	return 0;
}

/* ---- plugins -------------------------------------------------------------------- */

/* A volume's directory, made when missing (its parents 0750); an existing one is
 * left as it is (an emptyDir keeps its files, a tmpfs its mode). */
static int vol_dir_ensure(struct setup *s, const char *plugin, const char *name, mode_t mode,
                          char *dir, size_t dn, char *err, size_t n)
{
	if (vol_dir(s->v, s->uid, plugin, name, dir, dn) != 0) {
		set_err(err, n, "volume path too long");
		return -1;
	}
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	int rc = mkdirs(dir, 0750);
	*slash = '/';
	if (rc != 0) {
		set_err(err, n, "mkdir %.*s: %s", (int)(slash - dir), dir, strerror(-rc));
		return -1;
	}
	struct stat st;
	if (lstat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		set_err(err, n, "%s exists and is not a directory", dir);
		return -1;
	}
	if (errno != ENOENT || mkdir(dir, mode) != 0 || chmod(dir, mode) != 0) {
		set_err(err, n, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Checks and cleans the payload's paths, then writes it into the volume's
 * directory (on a tmpfs when asked). */
static int content_volume(struct setup *s, const char *plugin, const char *name, bool tmpfs,
                          struct payload *p, char *err, size_t n)
{
	for (size_t i = 0; i < p->n; i++) {
		if (path_check(p->v[i].path, err, n) != 0)
			return -1;
		char clean[PATH_BYTES_MAX + 1];
		go_path_clean(p->v[i].path, clean, sizeof(clean));
		if (strcmp(clean, ".") == 0) {
			set_err(err, n, "invalid path: must not be empty: \"%s\"", p->v[i].path);
			return -1;
		}
		if (strcmp(clean, p->v[i].path) != 0) {
			char *c = strdup(clean);
			if (c == NULL) {
				set_err(err, n, "out of memory");
				return -1;
			}
			free(p->v[i].path);
			p->v[i].path = c;
		}
	}
	char dir[PATH_MAX];
	if (vol_dir_ensure(s, plugin, name, 0777, dir, sizeof(dir), err, n) != 0)
		return -1;
	if (tmpfs && tmpfs_ensure(dir, s->v->memory_bytes, err, n) != 0)
		return -1;
	return atomic_write(dir, p, err, n);
}

static int plugin_empty_dir(struct setup *s, const char *name, struct json_object *src, char *err,
                            size_t n)
{
	const char *medium = nz(fx_jstr(src, "medium"));
	bool memory = strcmp(medium, "Memory") == 0;
	if (!memory && medium[0] != '\0') {
		set_err(err, n, "unknown storage medium \"%s\"", medium);
		return -1;
	}
	int64_t size = 0;
	const char *limit = fx_jstr(src, "sizeLimit");
	if (limit != NULL && fsm_quantity_bytes(limit, &size) != 0) {
		set_err(err, n, "invalid sizeLimit %s", limit);
		return -1;
	}
	char dir[PATH_MAX];
	if (vol_dir_ensure(s, "empty-dir", name, 0777, dir, sizeof(dir), err, n) != 0)
		return -1;
	if (!memory)
		return 0;
	return tmpfs_ensure(dir, size > 0 ? size : s->v->memory_bytes, err, n);
}

static int plugin_host_path(const char *path, const char *type, char *err, size_t n)
{
	char ge[128];
	for (const char *c = path;;) {
		size_t k = strcspn(c, "/");
		if (k == 2 && c[0] == '.' && c[1] == '.') {
			set_err(err, n, "invalid HostPath `%s`: must not contain '..'", path);
			return -1;
		}
		if (c[k] == '\0')
			break;
		c += k + 1;
	}
	if (type[0] == '\0')
		return 0;
	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (strcmp(type, "DirectoryOrCreate") == 0 && !exists) {
		int rc = fx_mkdir_p(path, 0755);
		if (rc != 0) {
			set_err(err, n, "mkdir %s: %s", path, go_strerror(-rc, ge, sizeof(ge)));
			return -1;
		}
		return 0;
	}
	if (strcmp(type, "FileOrCreate") == 0 && !exists) {
		int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			set_err(err, n, "open %s: %s", path, go_strerror(errno, ge, sizeof(ge)));
			return -1;
		}
		close(fd);
		return 0;
	}
	static const struct {
		const char *type;
		mode_t fmt;
		const char *what;
	} checks[] = {
	        {"DirectoryOrCreate", S_IFDIR, "a directory"},
	        {"Directory", S_IFDIR, "a directory"},
	        {"FileOrCreate", S_IFREG, "a file"},
	        {"File", S_IFREG, "a file"},
	        {"Socket", S_IFSOCK, "a socket file"},
	        {"CharDevice", S_IFCHR, "a character device"},
	        {"BlockDevice", S_IFBLK, "a block device"},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (strcmp(type, checks[i].type) != 0)
			continue;
		if (!exists || (st.st_mode & S_IFMT) != checks[i].fmt) {
			set_err(err, n, "hostPath type check failed: %s is not %s", path,
			        checks[i].what);
			return -1;
		}
		return 0;
	}
	set_err(err, n, "%s is an invalid volume type", type);
	return -1;
}

/* A configMap or secret volume, or source of a projected one, into p. */
static int keys_source(struct setup *s, struct payload *p, struct json_object *src, bool secret,
                       unsigned dflt_mode, char *err, size_t n)
{
	enum io_obj_kind kind = secret ? IO_OBJ_SECRET : IO_OBJ_CONFIGMAP;
	const char *name =
	        nz(fx_jstr(src, secret && fx_jmember(src, "secretName") != NULL ? "secretName" : "name"));
	bool optional = fx_jbool(src, "optional");
	struct json_object *obj = NULL;
	switch (obj_lookup(s, kind, name, &obj, err, n)) {
	case IO_OBJ_PRESENT:
		break;
	case IO_OBJ_ABSENT:
		if (optional) {
			obj = NULL;
			break;
		}
		set_err(err, n, "%s \"%s\" not found", kind_word(kind), name);
		return -1;
	default:
		return -1;
	}
	return keys_payload(p, src, obj, secret, dflt_mode, optional, err, n);
}

static int plugin_keys(struct setup *s, const char *name, struct json_object *src, bool secret,
                       char *err, size_t n)
{
	struct payload p = {0};
	unsigned mode = (unsigned)fx_jint(src, "defaultMode", MODE_DEFAULT);
	int rc = keys_source(s, &p, src, secret, mode, err, n);
	if (rc == 0)
		rc = content_volume(s, secret ? "secret" : "configmap", name, secret, &p, err, n);
	payload_free(&p);
	return rc;
}

static int plugin_downward(struct setup *s, const char *name, struct json_object *src, char *err,
                           size_t n)
{
	struct payload p = {0};
	unsigned mode = (unsigned)fx_jint(src, "defaultMode", MODE_DEFAULT);
	int rc = downward_payload(s, &p, fx_jarray(src, "items"), mode, err, n);
	if (rc == 0)
		rc = content_volume(s, "downward-api", name, true, &p, err, n);
	payload_free(&p);
	return rc;
}

/* Errors of a projected volume's sources, joined as an aggregate prints them. */
struct agg {
	struct fsm_buf b;
	unsigned n;
};

static void agg_add(struct agg *a, const char *msg)
{
	if (a->n > 0)
		fsm_buf_puts(&a->b, ", ");
	fsm_buf_puts(&a->b, msg);
	a->n++;
}

static int plugin_projected(struct setup *s, const char *name, struct json_object *src, char *err,
                            size_t n)
{
	struct payload p = {0};
	struct agg a = {0};
	unsigned mode = (unsigned)fx_jint(src, "defaultMode", MODE_DEFAULT);
	struct json_object *sources = fx_jarray(src, "sources");
	size_t k = sources != NULL ? json_object_array_length(sources) : 0;
	char e[ERROR_BYTES_MAX];
	for (size_t j = 0; j < k; j++) {
		struct json_object *so = json_object_array_get_idx(sources, j);
		struct json_object *x;
		e[0] = '\0';
		int rc = 0;
		if ((x = fx_jobject(so, "configMap")) != NULL) {
			rc = keys_source(s, &p, x, false, mode, e, sizeof(e));
		} else if ((x = fx_jobject(so, "secret")) != NULL) {
			rc = keys_source(s, &p, x, true, mode, e, sizeof(e));
		} else if ((x = fx_jobject(so, "downwardAPI")) != NULL) {
			rc = downward_payload(s, &p, fx_jarray(x, "items"), mode, e, sizeof(e));
		} else if ((x = fx_jobject(so, "serviceAccountToken")) != NULL) {
			struct need *nd = need_find_token(s->op, s->vol_i, j);
			if (nd == NULL || nd->token == NULL) {
				set_err(e, sizeof(e), "%s",
				        nd != NULL && nd->error != NULL
				                ? nd->error
				                : "failed to fetch token: no answer");
				rc = -1;
			} else if (payload_put_copy(&p, nz(fx_jstr(x, "path")), nd->token,
			                            nd->token_len, mode) != 0) {
				set_err(e, sizeof(e), "out of memory");
				rc = -1;
			}
		} else {
			set_err(e, sizeof(e), "projected source %zu: no source this executor knows",
			        j);
			rc = -1;
		}
		if (rc != 0)
			agg_add(&a, e);
	}
	int rc = 0;
	if (a.n == 1) {
		set_err(err, n, "%s", a.b.ptr);
		rc = -1;
	} else if (a.n > 1) {
		set_err(err, n, "[%s]", a.b.ptr);
		rc = -1;
	} else {
		rc = content_volume(s, "projected", name, true, &p, err, n);
	}
	fsm_buf_free(&a.b);
	payload_free(&p);
	return rc;
}

/* The volume's source: its one member besides "name". */
static const char *vol_type(struct json_object *vol, struct json_object **src)
{
	*src = NULL;
	json_object_object_foreach(vol, key, val)
	{
		if (strcmp(key, "name") == 0 || val == NULL)
			continue;
		*src = val;
		return key;
	}
	return NULL;
}

static int volume_setup(struct setup *s, struct json_object *vol, char *err, size_t n)
{
	const char *name = fx_jstr(vol, "name");
	struct json_object *src = NULL;
	const char *type = vol_type(vol, &src);
	if (type == NULL) {
		set_err(err, n, "no volume plugin matched");
		return -1;
	}
	if (strcmp(type, "emptyDir") == 0)
		return plugin_empty_dir(s, name, src, err, n);
	if (strcmp(type, "hostPath") == 0)
		return plugin_host_path(nz(fx_jstr(src, "path")), nz(fx_jstr(src, "type")), err, n);
	if (strcmp(type, "configMap") == 0)
		return plugin_keys(s, name, src, false, err, n);
	if (strcmp(type, "secret") == 0)
		return plugin_keys(s, name, src, true, err, n);
	if (strcmp(type, "downwardAPI") == 0)
		return plugin_downward(s, name, src, err, n);
	if (strcmp(type, "projected") == 0)
		return plugin_projected(s, name, src, err, n);
	set_err(err, n, "no volume plugin matched name: %s", type);
	return -1;
}

static void setup_init(struct setup *s, struct op *op)
{
	struct json_object *pod = fx_jobject(op->body, "pod");
	struct json_object *meta = fx_jobject(op->body, "pod_meta");
	*s = (struct setup){
	        .v = op->v,
	        .op = op,
	        .uid = op->pod_uid,
	        .pod_name = nz(fx_jstr(pod, "name")),
	        .ns = nz(fx_jstr(pod, "namespace")),
	        .sa = fx_jstr(op->body, "service_account") != NULL ? fx_jstr(op->body, "service_account")
	                                                        : "default",
	        .labels = fx_jobject(meta, "labels"),
	        .annotations = fx_jobject(meta, "annotations"),
	};
}

/* Every volume of the body, in order; the first failure ends it. */
static int setup_run(struct op *op, char *err, size_t n)
{
	struct setup s;
	setup_init(&s, op);
	char dir[PATH_MAX];
	if (pod_dir(op->v, op->pod_uid, dir, sizeof(dir)) != 0 ||
	    strlen(dir) + sizeof("/volumes") > sizeof(dir)) {
		set_err(err, n, "pod directory path too long");
		return -1;
	}
	int rc = mkdirs(dir, 0750);
	if (rc == 0) {
		strcat(dir, "/volumes");
		rc = mkdirs(dir, 0750);
	}
	if (rc != 0) {
		set_err(err, n, "mkdir %s: %s", dir, strerror(-rc));
		return -1;
	}
	struct json_object *vols = fx_jarray(op->body, "volumes");
	size_t k = vols != NULL ? json_object_array_length(vols) : 0;
	for (size_t i = 0; i < k; i++) {
		struct json_object *vol = json_object_array_get_idx(vols, i);
		char e[ERROR_BYTES_MAX] = "";
		s.vol_i = i;
		if (volume_setup(&s, vol, e, sizeof(e)) != 0) {
			set_err(err, n, "MountVolume.SetUp failed for volume \"%s\" : %s",
			        nz(fx_jstr(vol, "name")), e);
			return -1;
		}
	}
	return 0;
}

/* ---- ops ------------------------------------------------------------------------ */

#define OPS_MAX 4096 /* commands held; past it a command fails transiently */

/* Zeroes the values of a Secret's data before json-c frees them. */
static void secret_scrub(struct json_object *obj)
{
	struct json_object *data = fx_jobject(obj, "data");
	if (data == NULL)
		return;
	json_object_object_foreach(data, key, val)
	{
		(void)key;
		if (val != NULL && json_object_is_type(val, json_type_string))
			explicit_bzero((char *)json_object_get_string(val),
			               (size_t)json_object_get_string_len(val));
	}
}

static void need_free(struct need *nd)
{
	if (nd == NULL)
		return;
	free(nd->name);
	free(nd->audience);
	free(nd->error);
	zfree(nd->token, nd->token_len + 1);
	if (nd->obj_kind == IO_OBJ_SECRET)
		secret_scrub(nd->obj);
	json_object_put(nd->obj);
	free(nd);
}

/* Stops what the op waits for: no callback of it runs afterwards. */
static void op_cancel_needs(struct op *op)
{
	struct fx_volume *v = op->v;
	for (size_t i = 0; i < op->n_needs; i++) {
		struct need *nd = op->needs[i];
		if (!nd->busy)
			continue;
		if (nd->kind == NEED_WAIT && v->objects != NULL)
			io_objwatch_cancel_wait(v->objects, nd->id);
		else if (nd->kind != NEED_WAIT && v->api != NULL)
			kapi_cancel(v->api, nd->id);
		nd->busy = false;
		op->pending--;
	}
}

static void op_free(struct op *op)
{
	for (size_t i = 0; i < op->n_needs; i++)
		need_free(op->needs[i]);
	free(op->needs);
	free(op->cmd_id);
	free(op->pod_uid);
	free(op->error);
	json_object_put(op->body);
	free(op);
}

static void op_unlink(struct op *op)
{
	struct fx_volume *v = op->v;
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		v->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

static void emit_effect(struct fx_volume *v, const char *cmd, bool ok, enum fsm_error_class cls,
                        const char *error)
{
	/* Contract: never from inside fx_volume_dispatch. */
	assert(!v->in_dispatch);
	assert(cmd != NULL && cmd[0] != '\0');
	assert(ok == (cls == FSM_ERR_NONE));
	struct fsm_event ev = {.kind = FSM_EV_EFFECT};
	ev.wall_ms = wall_ms();
	ev.u.effect = (struct fsm_ev_effect){
	        .cmd = cmd,
	        .ok = ok,
	        .error_class = cls,
	        .error = nz(error),
	        .result = "",
	};
	v->sink.event(v->sink.arg, &ev);
}

static int teardown_run(struct fx_volume *v, const char *uid, char *err, size_t n);

/* Carries the op out (everything it waited for is there) and reports it. */
static void op_complete(struct op *op)
{
	struct fx_volume *v = op->v;
	assert(op->pending == 0);
	char err[ERROR_BYTES_MAX] = "";
	bool ok;
	enum fsm_error_class cls = FSM_ERR_TRANSIENT;
	if (op->preset) {
		ok = false;
		cls = FSM_ERR_PERMANENT;
		snprintf(err, sizeof(err), "%s", nz(op->error));
	} else if (op->kind == OP_SETUP) {
		ok = setup_run(op, err, sizeof(err)) == 0;
	} else {
		ok = teardown_run(v, op->pod_uid, err, sizeof(err)) == 0;
	}
	op_unlink(op);
	emit_effect(v, op->cmd_id, ok, ok ? FSM_ERR_NONE : cls, ok ? "" : err);
	op_free(op);
}

static void flush_ready(void *arg, uint64_t timer_id)
{
	struct fx_volume *v = arg;
	(void)timer_id;
	v->timer_armed = false;
	/* Oldest first (ops are pushed at the head); bounded by OPS_MAX per round. */
	for (unsigned round = 0; round < OPS_MAX + 1; round++) {
		struct op *last = NULL;
		for (struct op *op = v->ops; op != NULL; op = op->next)
			if (op->ready)
				last = op;
		if (last == NULL)
			return;
		op_complete(last);
	}
}

static int arm_timer(struct fx_volume *v)
{
	if (v->timer_armed)
		return 0;
	int rc = io_timer_set(v->reactor, v->timer_id, io_reactor_now_ms(v->reactor), flush_ready,
	                      v);
	if (rc == 0)
		v->timer_armed = true;
	return rc;
}

/* A need answered (on a reactor turn): the op goes on when it was the last. */
static void need_done(struct need *nd)
{
	struct op *op = nd->op;
	assert(nd->busy);
	assert(op->pending > 0);
	nd->busy = false;
	op->pending--;
	if (op->pending == 0)
		op_complete(op);
}

static void on_synced(void *arg)
{
	need_done(arg);
}

/* The API's reason for a failed call: its Status message, else the HTTP status or
 * the transport's error. Never the body of a success. */
static void api_why(const struct kapi_response *r, char *out, size_t n)
{
	if (r->http_status == 0) {
		snprintf(out, n, "%s",
		         r->error != NULL && r->error[0] != '\0'
		                 ? r->error
		                 : curl_easy_strerror(r->curl_code));
		return;
	}
	struct json_object *st = fx_json_parse(r->body, r->body_len);
	const char *msg = fx_jstr(st, "message");
	if (msg != NULL && msg[0] != '\0')
		snprintf(out, n, "%s", msg);
	else
		snprintf(out, n, "HTTP %ld", r->http_status);
	json_object_put(st);
}

static void on_get(void *arg, const struct kapi_response *r)
{
	struct need *nd = arg;
	struct op *op = nd->op;
	struct setup s;
	setup_init(&s, op);
	if (r->http_status == 200) {
		nd->obj = fx_json_parse(r->body, r->body_len);
		nd->state = nd->obj != NULL ? IO_OBJ_PRESENT : IO_OBJ_ERROR;
		if (nd->obj == NULL &&
		    asprintf(&nd->error, "couldn't get %s %s/%s: answer is not JSON",
		             kind_word(nd->obj_kind), s.ns, nd->name) < 0)
			nd->error = NULL;
	} else if (r->http_status == 404) {
		nd->state = IO_OBJ_ABSENT;
	} else {
		char why[512];
		api_why(r, why, sizeof(why));
		nd->state = IO_OBJ_ERROR;
		if (asprintf(&nd->error, "couldn't get %s %s/%s: %s", kind_word(nd->obj_kind), s.ns,
		             nd->name, why) < 0)
			nd->error = NULL;
	}
	need_done(nd);
}

static void on_token(void *arg, const struct kapi_response *r)
{
	struct need *nd = arg;
	if (r->http_status == 200 || r->http_status == 201) {
		struct json_object *tr = fx_json_parse(r->body, r->body_len);
		struct json_object *tok = fx_jmember(fx_jobject(tr, "status"), "token");
		if (tok != NULL && json_object_is_type(tok, json_type_string) &&
		    json_object_get_string_len(tok) > 0) {
			size_t len = (size_t)json_object_get_string_len(tok);
			nd->token = malloc(len + 1);
			if (nd->token != NULL) {
				memcpy(nd->token, json_object_get_string(tok), len + 1);
				nd->token_len = len;
			}
			explicit_bzero((char *)json_object_get_string(tok), len);
		}
		json_object_put(tr);
		if (nd->token == NULL &&
		    asprintf(&nd->error, "failed to fetch token: no token in the "
		                         "answer") < 0)
			nd->error = NULL;
	} else {
		char why[512];
		api_why(r, why, sizeof(why));
		if (asprintf(&nd->error, "failed to fetch token: %s", why) < 0)
			nd->error = NULL;
	}
	need_done(nd);
}

static struct need *need_add(struct op *op, enum need_kind kind)
{
	if (op->n_needs >= NEEDS_MAX)
		return NULL;
	struct need **nv = realloc(op->needs, (op->n_needs + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	op->needs = nv;
	struct need *nd = calloc(1, sizeof(*nd));
	if (nd == NULL)
		return NULL;
	nd->op = op;
	nd->kind = kind;
	op->needs[op->n_needs++] = nd;
	return nd;
}

/* A DNS subdomain, as object names and namespaces are: safe in a URL path. */
static bool name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 253)
		return false;
	for (const char *c = s; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.'))
			return false;
	return true;
}

/* Reads nd's object once (a GET), for an object the cache does not hold. */
static void need_get(struct op *op, struct need *nd, const char *ns)
{
	struct fx_volume *v = op->v;
	nd->kind = NEED_GET;
	const char *why = v->api == NULL                       ? "no API server"
	                  : !name_ok(ns) || !name_ok(nd->name) ? "invalid name"
	                                                       : NULL;
	int rc = 0;
	if (why == NULL) {
		char path[640];
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", ns,
		         nd->obj_kind == IO_OBJ_SECRET ? "secrets" : "configmaps", nd->name);
		rc = kapi_request(v->api, "GET", path, NULL, NULL, 0, FX_VOLUME_TIMEOUT_MS, on_get,
		                  nd, &nd->id);
		if (rc == 0) {
			nd->busy = true;
			op->pending++;
			return;
		}
	}
	nd->state = IO_OBJ_ERROR;
	if (asprintf(&nd->error, "couldn't get %s %s/%s: %s%s", kind_word(nd->obj_kind), ns,
	             nd->name, why != NULL ? why : "API call not started: ",
	             why != NULL ? "" : strerror(-rc)) < 0)
		nd->error = NULL;
}

/*
 * The setup reads kind/name: it is referenced in the cache (watched for as long
 * as the pod is here) and the setup waits for its first list; an object the
 * cache cannot take (its bounds) is read once with a GET instead, and so is
 * every object when there is no cache.
 */
static int need_object(struct op *op, const char *ns, enum io_obj_kind kind, const char *name)
{
	struct fx_volume *v = op->v;
	if (name == NULL || name[0] == '\0')
		return 0;
	for (size_t i = 0; i < op->n_needs; i++)
		if (op->needs[i]->kind != NEED_TOKEN && op->needs[i]->obj_kind == kind &&
		    strcmp(op->needs[i]->name, name) == 0)
			return 0;
	bool watched =
	        v->objects != NULL && io_objwatch_ref(v->objects, op->pod_uid, kind, ns, name) == 0;
	if (!watched && v->api == NULL)
		return 0; /* obj_lookup says why it cannot be read */
	struct need *nd = need_add(op, NEED_WAIT);
	if (nd == NULL || (nd->name = strdup(name)) == NULL)
		return -ENOMEM;
	nd->obj_kind = kind;
	if (watched &&
	    io_objwatch_when_synced(v->objects, kind, ns, name, on_synced, nd, &nd->id) == 0) {
		nd->busy = true;
		op->pending++;
		return 0;
	}
	need_get(op, nd, ns);
	return 0;
}

/* A TokenRequest for the serviceAccountToken source j of volume i. */
static int need_token(struct op *op, const struct setup *s, size_t i, size_t j,
                      struct json_object *src)
{
	struct fx_volume *v = op->v;
	struct need *nd = need_add(op, NEED_TOKEN);
	if (nd == NULL || (nd->name = strdup(nz(fx_jstr(src, "path")))) == NULL)
		return -ENOMEM;
	nd->vol_i = i;
	nd->src_i = j;
	nd->expiration_s = fx_jint(src, "expirationSeconds", 3600);
	const char *aud = nz(fx_jstr(src, "audience"));
	if (v->api == NULL || !name_ok(s->ns) || !name_ok(s->sa)) {
		if (asprintf(&nd->error, "failed to fetch token: %s",
		             v->api == NULL ? "no API server" : "invalid service account") < 0)
			nd->error = NULL;
		return 0;
	}
	struct json_object *tr = json_object_new_object();
	struct json_object *spec = json_object_new_object();
	struct json_object *bound = json_object_new_object();
	if (tr == NULL || spec == NULL || bound == NULL) {
		json_object_put(tr);
		json_object_put(spec);
		json_object_put(bound);
		return -ENOMEM;
	}
	json_object_object_add(tr, "apiVersion",
	                       json_object_new_string("authentication.k8s.io/v1"));
	json_object_object_add(tr, "kind", json_object_new_string("TokenRequest"));
	/* No audience named: the kubelet's nil slice, which Go encodes as null (the
	 * field has no omitempty) and the server replaces by its own audiences. */
	struct json_object *auds = NULL;
	if (aud[0] != '\0') {
		auds = json_object_new_array();
		json_object_array_add(auds, json_object_new_string(aud));
	}
	json_object_object_add(spec, "audiences", auds);
	json_object_object_add(spec, "expirationSeconds", json_object_new_int64(nd->expiration_s));
	json_object_object_add(bound, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(bound, "kind", json_object_new_string("Pod"));
	json_object_object_add(bound, "name", json_object_new_string(s->pod_name));
	json_object_object_add(bound, "uid", json_object_new_string(s->uid));
	json_object_object_add(spec, "boundObjectRef", bound);
	json_object_object_add(tr, "spec", spec);
	const char *body = json_object_to_json_string_ext(tr, JSON_C_TO_STRING_PLAIN);
	char path[640];
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", s->ns,
	         s->sa);
	int rc = kapi_request(v->api, "POST", path, "application/json", body, strlen(body),
	                      FX_VOLUME_TIMEOUT_MS, on_token, nd, &nd->id);
	json_object_put(tr);
	if (rc != 0) {
		if (asprintf(&nd->error, "failed to fetch token: API call not started: %s",
		             strerror(-rc)) < 0)
			nd->error = NULL;
		return 0;
	}
	nd->busy = true;
	op->pending++;
	return 0;
}

/* Calls fn for each ConfigMap and Secret the body's volumes use. */
static int each_object(struct json_object *body, int (*fn)(void *, enum io_obj_kind, const char *),
                       void *arg)
{
	struct json_object *vols = fx_jarray(body, "volumes");
	size_t k = vols != NULL ? json_object_array_length(vols) : 0;
	for (size_t i = 0; i < k; i++) {
		struct json_object *vol = json_object_array_get_idx(vols, i), *x;
		int rc = 0;
		if ((x = fx_jobject(vol, "configMap")) != NULL)
			rc = fn(arg, IO_OBJ_CONFIGMAP, fx_jstr(x, "name"));
		else if ((x = fx_jobject(vol, "secret")) != NULL)
			rc = fn(arg, IO_OBJ_SECRET, fx_jstr(x, "secretName"));
		struct json_object *srcs = fx_jarray(fx_jobject(vol, "projected"), "sources");
		size_t m = srcs != NULL ? json_object_array_length(srcs) : 0;
		for (size_t j = 0; j < m && rc == 0; j++) {
			struct json_object *so = json_object_array_get_idx(srcs, j);
			if ((x = fx_jobject(so, "configMap")) != NULL)
				rc = fn(arg, IO_OBJ_CONFIGMAP, fx_jstr(x, "name"));
			else if ((x = fx_jobject(so, "secret")) != NULL)
				rc = fn(arg, IO_OBJ_SECRET, fx_jstr(x, "name"));
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int collect_object(void *arg, enum io_obj_kind kind, const char *name)
{
	struct op *op = arg;
	struct setup s;
	setup_init(&s, op);
	return need_object(op, s.ns, kind, name);
}

/* Starts every read and TokenRequest the setup needs. */
static int collect(struct op *op)
{
	int rc = each_object(op->body, collect_object, op);
	if (rc != 0)
		return rc;
	struct setup s;
	setup_init(&s, op);
	struct json_object *vols = fx_jarray(op->body, "volumes");
	size_t k = vols != NULL ? json_object_array_length(vols) : 0;
	for (size_t i = 0; i < k; i++) {
		struct json_object *vol = json_object_array_get_idx(vols, i);
		struct json_object *srcs = fx_jarray(fx_jobject(vol, "projected"), "sources");
		size_t m = srcs != NULL ? json_object_array_length(srcs) : 0;
		for (size_t j = 0; j < m; j++) {
			struct json_object *t =
			        fx_jobject(json_object_array_get_idx(srcs, j), "serviceAccountToken");
			if (t != NULL && (rc = need_token(op, &s, i, j, t)) != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- bodies --------------------------------------------------------------------- */

/* The pod's uid (the body's, else the command's), and for a setup its volumes'
 * shape. 0, or -1 with err (the command fails permanently). */
static int body_check(const struct fsm_command *c, struct json_object *body, bool setup,
                      const char **uid, char *err, size_t n)
{
	if (body != NULL && !json_object_is_type(body, json_type_object)) {
		set_err(err, n, "%s: body is not a JSON object", c->id);
		return -1;
	}
	const char *u = fx_jstr(fx_jobject(body, "pod"), "uid");
	if (u == NULL || u[0] == '\0')
		u = c->pod_uid;
	if (!uid_ok(u)) {
		set_err(err, n, "%s: body has no valid pod uid", c->id);
		return -1;
	}
	if (c->pod_uid != NULL && c->pod_uid[0] != '\0' && strcmp(c->pod_uid, u) != 0) {
		set_err(err, n, "%s: body's pod uid %s is not the command's %s", c->id, u,
		        c->pod_uid);
		return -1;
	}
	*uid = u;
	if (!setup)
		return 0;
	if (body == NULL || fx_jobject(body, "pod") == NULL) {
		set_err(err, n, "%s: body has no pod", c->id);
		return -1;
	}
	struct json_object *vols = fx_jmember(body, "volumes");
	if (vols != NULL && !json_object_is_type(vols, json_type_array) &&
	    !json_object_is_type(vols, json_type_null)) {
		set_err(err, n, "%s: volumes is not a list", c->id);
		return -1;
	}
	size_t k = fx_jarray(body, "volumes") != NULL ? json_object_array_length(vols) : 0;
	if (k > VOLUMES_MAX) {
		set_err(err, n, "%s: %zu volumes, more than %d", c->id, k, VOLUMES_MAX);
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		struct json_object *vol = json_object_array_get_idx(vols, i);
		const char *name = fx_jstr(vol, "name");
		if (!json_object_is_type(vol, json_type_object) || !uid_ok(name) ||
		    strncmp(name, "..", 2) == 0) {
			set_err(err, n, "%s: volume %zu has no valid name", c->id, i);
			return -1;
		}
	}
	return 0;
}

int fx_volume_dispatch(struct fx_volume *v, const struct fsm_command *c)
{
	if (v == NULL || c == NULL || c->id == NULL || c->id[0] == '\0')
		return -EINVAL;
	assert(!v->in_dispatch);
	if (c->kind != FSM_CMD_VOLUME_SETUP && c->kind != FSM_CMD_VOLUME_TEARDOWN)
		return -ENOTSUP;
	unsigned held = 0;
	for (struct op *o = v->ops; o != NULL && held <= OPS_MAX; o = o->next)
		held++;
	struct op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return -ENOMEM;
	op->v = v;
	op->kind = c->kind == FSM_CMD_VOLUME_SETUP ? OP_SETUP : OP_TEARDOWN;
	op->cmd_id = strdup(c->id);
	if (op->cmd_id == NULL) {
		free(op);
		return -ENOMEM;
	}
	op->next = v->ops;
	if (v->ops != NULL)
		v->ops->prev = op;
	v->ops = op;

	v->in_dispatch = true;
	char err[ERROR_BYTES_MAX] = "";
	const char *uid = NULL;
	int rc = 0;
	if (held >= OPS_MAX) {
		set_err(err, sizeof(err), "volume executor queue full: %d commands held", OPS_MAX);
		op->preset = true;
	} else if (c->body != NULL && c->body_len > 0 &&
	           (op->body = fx_json_parse(c->body, c->body_len)) == NULL) {
		set_err(err, sizeof(err), "%s: body is not JSON", c->id);
		op->preset = true;
	} else if (body_check(c, op->body, op->kind == OP_SETUP, &uid, err, sizeof(err)) != 0) {
		op->preset = true;
	} else if ((op->pod_uid = strdup(uid)) == NULL) {
		rc = -ENOMEM;
	} else if (op->kind == OP_SETUP) {
		rc = collect(op);
	}
	if (op->preset && (op->error = strdup(err)) == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		op_cancel_needs(op);
		v->in_dispatch = false;
		op_unlink(op);
		op_free(op);
		return rc;
	}
	if (op->preset)
		op_cancel_needs(op);
	v->in_dispatch = false;
	if (op->pending == 0) {
		op->ready = true;
		rc = arm_timer(v);
		if (rc != 0) {
			op_unlink(op);
			op_free(op);
			return rc;
		}
	}
	return 0;
}

/* ---- teardown, orphans, adoption ------------------------------------------------ */

static int teardown_run(struct fx_volume *v, const char *uid, char *err, size_t n)
{
	/* A setup of this pod still waiting would write into what is removed here:
	 * it ends now, failed (it is reported first, being older). */
	for (struct op *o = v->ops; o != NULL;) {
		struct op *next = o->next;
		if (o->kind == OP_SETUP && o->pending > 0 && o->pod_uid != NULL &&
		    strcmp(o->pod_uid, uid) == 0) {
			op_cancel_needs(o);
			o->preset = true;
			free(o->error);
			o->error = strdup("volumes torn down before their setup ended");
			op_unlink(o);
			emit_effect(v, o->cmd_id, false, FSM_ERR_TRANSIENT, nz(o->error));
			op_free(o);
		}
		o = next;
	}
	char dir[PATH_MAX];
	if (pod_dir(v, uid, dir, sizeof(dir)) != 0) {
		set_err(err, n, "pod directory path too long");
		return -1;
	}
	if (v->objects != NULL)
		io_objwatch_unref_pod(v->objects, uid);
	return pod_dir_remove(dir, err, n) == 0 ? 0 : -1;
}

int fx_volume_orphans(struct fx_volume *v, const char *const *keep, size_t n_keep)
{
	if (v == NULL || (keep == NULL && n_keep > 0))
		return -EINVAL;
	char pods[PATH_MAX];
	if (snprintf(pods, sizeof(pods), "%s/pods", v->root_dir) >= (int)sizeof(pods))
		return -ENAMETOOLONG;
	DIR *d = opendir(pods);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	int removed = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		bool kept = false;
		for (size_t i = 0; i < n_keep && !kept; i++)
			kept = keep[i] != NULL && strcmp(keep[i], e->d_name) == 0;
		bool busy = false;
		for (struct op *o = v->ops; o != NULL && !busy; o = o->next)
			busy = o->pod_uid != NULL && strcmp(o->pod_uid, e->d_name) == 0;
		if (kept || busy)
			continue;
		char dir[PATH_MAX], err[ERROR_BYTES_MAX];
		if (snprintf(dir, sizeof(dir), "%s/%s", pods, e->d_name) >= (int)sizeof(dir))
			continue;
		if (v->objects != NULL)
			io_objwatch_unref_pod(v->objects, e->d_name);
		int r = pod_dir_remove(dir, err, sizeof(err));
		if (r == 0)
			removed++;
		else if (rc == 0)
			rc = r;
	}
	closedir(d);
	return removed > 0 || rc == 0 ? removed : rc;
}

struct adopt_ctx {
	struct fx_volume *v;
	const char *uid;
	const char *ns;
	int rc;
};

static int adopt_object(void *arg, enum io_obj_kind kind, const char *name)
{
	struct adopt_ctx *a = arg;
	if (name == NULL || name[0] == '\0')
		return 0;
	int rc = io_objwatch_ref(a->v->objects, a->uid, kind, a->ns, name);
	if (rc != 0 && a->rc == 0)
		a->rc = rc;
	return 0;
}

int fx_volume_adopt(struct fx_volume *v, const char *body, size_t len)
{
	if (v == NULL)
		return -EINVAL;
	struct json_object *b = fx_json_parse(body, len);
	struct json_object *pod = fx_jobject(b, "pod");
	const char *uid = fx_jstr(pod, "uid");
	if (b == NULL || !uid_ok(uid)) {
		json_object_put(b);
		return -EINVAL;
	}
	struct adopt_ctx a = {.v = v, .uid = uid, .ns = nz(fx_jstr(pod, "namespace"))};
	if (v->objects != NULL)
		each_object(b, adopt_object, &a);
	json_object_put(b);
	return a.rc;
}

/* ---- life ----------------------------------------------------------------------- */

int fx_volume_new(struct fx_volume **out, const struct fx_volume_config *cfg, struct fx_sink sink)
{
	if (out == NULL || cfg == NULL || cfg->reactor == NULL || sink.event == NULL)
		return -EINVAL;
	*out = NULL;
	struct fx_volume *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v->reactor = cfg->reactor;
	v->sink = sink;
	v->memory_bytes = cfg->memory_bytes > 0 ? cfg->memory_bytes : 0;
	v->api = cfg->api;
	v->objects = cfg->objects;
	const char *root = cfg->root_dir != NULL && cfg->root_dir[0] != '\0'
	                           ? cfg->root_dir
	                           : FX_VOLUME_ROOT_DEFAULT;
	/* mountinfo names mount points by their real path: so must we */
	char real[PATH_MAX];
	(void)fx_mkdir_p(root,
	                 0750); /* as the kubelet makes its root at start; a failure shows later */
	v->root_dir = strdup(realpath(root, real) != NULL ? real : root);
	v->node_name = cfg->node_name != NULL ? strdup(cfg->node_name) : NULL;
	v->host_ip = cfg->host_ip != NULL ? strdup(cfg->host_ip) : NULL;
	if (v->root_dir == NULL || (cfg->node_name != NULL && v->node_name == NULL) ||
	    (cfg->host_ip != NULL && v->host_ip == NULL)) {
		fx_volume_free(v);
		return -ENOMEM;
	}
	v->timer_id = io_timer_id_alloc(v->reactor);
	*out = v;
	return 0;
}

void fx_volume_free(struct fx_volume *v)
{
	if (v == NULL)
		return;
	if (v->timer_armed)
		io_timer_cancel(v->reactor, v->timer_id);
	while (v->ops != NULL) {
		struct op *op = v->ops;
		op_cancel_needs(op);
		op_unlink(op);
		op_free(op);
	}
	free(v->root_dir);
	free(v->node_name);
	free(v->host_ip);
	free(v);
}
