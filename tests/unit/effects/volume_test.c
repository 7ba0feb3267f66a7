/*
 * volume_test.c — the volume executor on a real filesystem (we run as root: tmpfs
 * mounts are real) and, for ConfigMaps, Secrets and tokens, against our test API
 * server through io/objwatch. Each test makes its root_dir under a fresh mkdtemp
 * directory and unmounts everything under it at the end.
 */
#include "effects/volume.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "effects/exec.h"
#include "io/api_env.h"

#define EFFECTS_MAX 64

/* snprintf, for paths the tests know fit (and that the compiler cannot). */
static void pf(char *b, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pf(char *b, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, n, fmt, ap);
	va_end(ap);
}

struct rec {
	int n;
	int during_dispatch; /* effects sent from inside fx_volume_dispatch */
	char cmd[EFFECTS_MAX][128];
	bool ok[EFFECTS_MAX];
	enum fsm_error_class cls[EFFECTS_MAX];
	char err[EFFECTS_MAX][1024];
	int kind_other; /* events that are not effects */
};

static bool in_dispatch;

static void on_event(void *arg, const struct fsm_event *ev)
{
	struct rec *r = arg;
	if (in_dispatch)
		r->during_dispatch++;
	if (ev->kind != FSM_EV_EFFECT) {
		r->kind_other++;
		return;
	}
	if (r->n >= EFFECTS_MAX)
		return;
	pf(r->cmd[r->n], sizeof(r->cmd[0]), "%s", ev->u.effect.cmd);
	r->ok[r->n] = ev->u.effect.ok;
	r->cls[r->n] = ev->u.effect.error_class;
	pf(r->err[r->n], sizeof(r->err[0]), "%s", ev->u.effect.error);
	r->n++;
}

/* What a test works with: a reactor (the API env's, or its own), a root dir. */
struct fx {
	struct io_reactor *r;
	bool own_reactor;
	struct fx_volume *v;
	struct rec rec;
	char root[PATH_MAX];
	unsigned seq;
};

static int fx_open(struct fx *f, struct io_reactor *r, struct kapi *api,
                   struct io_objwatch *objects)
{
	memset(f, 0, sizeof(*f));
	char tmpl[PATH_MAX];
	pf(tmpl, sizeof(tmpl), "%s/rootXXXXXX", test_tmpdir());
	if (mkdtemp(tmpl) == NULL)
		return -1;
	pf(f->root, sizeof(f->root), "%s/lib", tmpl);
	if (r == NULL) {
		if (io_reactor_new(&f->r, 64) != 0)
			return -1;
		f->own_reactor = true;
	} else {
		f->r = r;
	}
	struct fx_volume_config cfg = {.reactor = f->r,
	                               .root_dir = f->root,
	                               .node_name = "n1",
	                               .host_ip = "10.0.0.7",
	                               .api = api,
	                               .objects = objects};
	return fx_volume_new(&f->v, &cfg, (struct fx_sink){on_event, &f->rec});
}

/* Mount points under root, from mountinfo. */
static int mounts_under(const char *root, const char *needle, char *line_out, size_t n)
{
	FILE *m = fopen("/proc/self/mountinfo", "re");
	if (m == NULL)
		return -1;
	char line[4096];
	int k = 0;
	while (fgets(line, sizeof(line), m) != NULL) {
		char *p = strstr(line, root);
		if (p == NULL || (needle != NULL && strstr(line, needle) == NULL))
			continue;
		k++;
		if (line_out != NULL)
			pf(line_out, n, "%s", line);
	}
	fclose(m);
	return k;
}

static void umount_under(const char *root)
{
	for (int round = 0; round < 64; round++) {
		FILE *m = fopen("/proc/self/mountinfo", "re");
		if (m == NULL)
			return;
		char line[4096], best[4096] = "";
		while (fgets(line, sizeof(line), m) != NULL) {
			char mp[4096];
			if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
			    strstr(mp, root) == mp && strlen(mp) > strlen(best))
				pf(best, sizeof(best), "%s", mp);
		}
		fclose(m);
		if (best[0] == '\0')
			return;
		umount2(best, MNT_DETACH);
	}
}

static void fx_close(struct fx *f)
{
	fx_volume_free(f->v);
	char top[PATH_MAX];
	pf(top, sizeof(top), "%s", f->root);
	*strrchr(top, '/') = '\0';
	CHECKF(mounts_under(top, NULL, NULL, 0) == 0, "mounts left under %s", top);
	umount_under(top);
	if (f->own_reactor)
		io_reactor_free(f->r);
}

static void turn_until(struct fx *f, int want, int seconds)
{
	for (int i = 0; i < seconds * 50 && f->rec.n < want; i++)
		io_reactor_run_once(f->r, 20);
}

/* Dispatches and waits for its effect; returns its index (or -1). */
static int run_cmd(struct fx *f, enum fsm_cmd_kind kind, const char *uid, const char *body)
{
	char id[128];
	pf(id, sizeof(id), "%s/%s/%u", kind == FSM_CMD_VOLUME_SETUP ? "volumes" : "volumesdown",
	   uid, ++f->seq);
	struct fsm_command c = {.kind = kind,
	                        .id = id,
	                        .pod_uid = uid,
	                        .body = body,
	                        .body_len = body != NULL ? strlen(body) : 0};
	int n0 = f->rec.n;
	in_dispatch = true;
	int rc = fx_volume_dispatch(f->v, &c);
	in_dispatch = false;
	CHECKF(rc == 0, "dispatch %s: %d", id, rc);
	CHECKF(f->rec.n == n0, "effect inside dispatch of %s", id);
	if (rc != 0)
		return -1;
	turn_until(f, n0 + 1, 20);
	/* a few more turns: a second effect for the command would show here */
	for (int i = 0; i < 3; i++)
		io_reactor_run_once(f->r, 5);
	CHECKF(f->rec.n == n0 + 1, "%s: %d effects", id, f->rec.n - n0);
	if (f->rec.n < n0 + 1)
		return -1;
	CHECK_EQ_STR(f->rec.cmd[n0], id);
	return n0;
}

static const char *vbody(const char *uid, const char *volumes)
{
	static char b[16384];
	pf(b, sizeof(b),
	   "{\"pod\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"%s\"},"
	   "\"service_account\":\"default\","
	   "\"pod_meta\":{\"labels\":{\"b\":\"two\",\"a\":\"1\"},\"annotations\":"
	   "{\"note\":\"say \\\"hi\\\"\"}},\"volumes\":[%s]}",
	   uid, volumes);
	return b;
}

/* Setup of one pod's volumes: the effect's index; ok expected or not. */
static int setup(struct fx *f, const char *uid, const char *volumes)
{
	return run_cmd(f, FSM_CMD_VOLUME_SETUP, uid, vbody(uid, volumes));
}

static bool ok_at(struct fx *f, int i)
{
	return i >= 0 && f->rec.ok[i];
}

static const char *err_at(struct fx *f, int i)
{
	return i >= 0 ? f->rec.err[i] : "(no effect)";
}

static const char *vpath(struct fx *f, const char *uid, const char *plugin, const char *name,
                         const char *rel)
{
	static char p[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	pf(p[k], sizeof(p[k]), "%s/pods/%s/volumes/kubernetes.io~%s/%s%s%s", f->root, uid, plugin,
	   name, rel != NULL ? "/" : "", rel != NULL ? rel : "");
	return p[k];
}

static const char *slurp(const char *path)
{
	static char buf[8192];
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	return buf;
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffff;
}

static const char *link_of(const char *path)
{
	static char buf[PATH_MAX];
	ssize_t r = readlink(path, buf, sizeof(buf) - 1);
	buf[r > 0 ? r : 0] = '\0';
	return r > 0 ? buf : NULL;
}

static const char *nz_or(const char *s)
{
	return s != NULL ? s : "(null)";
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- without the API ------------------------------------------------------------ */

TEST(empty_dir_made_and_keeps_files)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	int i = setup(&f, "u1", "{\"name\":\"data\",\"emptyDir\":{}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	const char *d = vpath(&f, "u1", "empty-dir", "data", NULL);
	CHECKF(mode_of(d) == 0777, "%s mode %o", d, mode_of(d));
	char pod[PATH_MAX];
	pf(pod, sizeof(pod), "%s/pods/u1", f.root);
	CHECKF(mode_of(pod) == 0750, "pod dir mode %o", mode_of(pod));
	strcat(pod, "/volumes");
	CHECKF(mode_of(pod) == 0750, "volumes dir mode %o", mode_of(pod));
	CHECK(mounts_under(f.root, NULL, NULL, 0) == 0);

	char file[PATH_MAX];
	pf(file, sizeof(file), "%s/kept", d);
	int fd = open(file, O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
	i = setup(&f, "u1", "{\"name\":\"data\",\"emptyDir\":{}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK(slurp(file) != NULL && strcmp(slurp(file), "x") == 0);
	CHECK_EQ_INT(f.rec.during_dispatch, 0);
	fx_close(&f);
}

TEST(empty_dir_memory_is_one_tmpfs_of_its_size)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	const char *vol =
	        "{\"name\":\"cache\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"2Mi\"}}";
	int i = setup(&f, "u2", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	const char *d = vpath(&f, "u2", "empty-dir", "cache", NULL);
	char line[4096] = "";
	CHECKF(mounts_under(d, " tmpfs ", line, sizeof(line)) == 1, "mounts of %s", d);
	CHECKF(strstr(line, "size=2048k") != NULL, "%s", line);
	/* look before act: a second setup mounts nothing more */
	i = setup(&f, "u2", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_INT(mounts_under(d, NULL, NULL, 0), 1);

	/* teardown unmounts and removes; a second one is ok too */
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "u2",
	            "{\"pod\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"u2\"}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_INT(mounts_under(f.root, NULL, NULL, 0), 0);
	char pod[PATH_MAX];
	pf(pod, sizeof(pod), "%s/pods/u2", f.root);
	CHECK(!exists(pod));
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "u2", "{\"pod\":{\"uid\":\"u2\"}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

static void host_path_case(struct fx *f, const char *path, const char *type, const char *want_err)
{
	char vol[1024];
	pf(vol, sizeof(vol), "{\"name\":\"h\",\"hostPath\":{\"path\":\"%s\",\"type\":\"%s\"}}",
	   path, type);
	int i = setup(f, "uh", vol);
	if (want_err == NULL) {
		CHECKF(ok_at(f, i), "%s %s: %s", type, path, err_at(f, i));
		return;
	}
	char want[2048];
	pf(want, sizeof(want), "MountVolume.SetUp failed for volume \"h\" : %s", want_err);
	CHECKF(i >= 0 && !f->rec.ok[i] && strcmp(f->rec.err[i], want) == 0 &&
	               f->rec.cls[i] == FSM_ERR_TRANSIENT,
	       "%s %s: got \"%s\" want \"%s\"", type, path, err_at(f, i), want);
}

TEST(host_path_types_checked_as_the_kubelet_does)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	char base[PATH_MAX], hdir[PATH_MAX], file[PATH_MAX], sock[PATH_MAX], p[PATH_MAX],
	        msg[PATH_MAX + 128];
	pf(base, sizeof(base), "%s/host", test_tmpdir());
	pf(hdir, sizeof(hdir), "%s/hdir", base);
	pf(file, sizeof(file), "%s/file", base);
	pf(sock, sizeof(sock), "%s/s.sock", base);
	REQUIRE(fx_mkdir_p(hdir, 0755) == 0);
	close(open(file, O_CREAT | O_WRONLY, 0644));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	pf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	host_path_case(&f, file, "", NULL);
	host_path_case(&f, "/nonexistent/whatever", "", NULL);
	host_path_case(&f, hdir, "Directory", NULL);
	pf(msg, sizeof(msg), "hostPath type check failed: %s is not a directory", file);
	host_path_case(&f, file, "Directory", msg);
	host_path_case(&f, file, "DirectoryOrCreate", msg);
	host_path_case(&f, file, "File", NULL);
	host_path_case(&f, file, "FileOrCreate", NULL);
	pf(msg, sizeof(msg), "hostPath type check failed: %s is not a file", hdir);
	host_path_case(&f, hdir, "File", msg);
	host_path_case(&f, hdir, "FileOrCreate", msg);
	host_path_case(&f, sock, "Socket", NULL);
	pf(msg, sizeof(msg), "hostPath type check failed: %s is not a socket file", file);
	host_path_case(&f, file, "Socket", msg);
	host_path_case(&f, "/dev/null", "CharDevice", NULL);
	pf(msg, sizeof(msg), "hostPath type check failed: %s is not a character device", file);
	host_path_case(&f, file, "CharDevice", msg);
	if (exists("/dev/loop0"))
		host_path_case(&f, "/dev/loop0", "BlockDevice", NULL);
	pf(msg, sizeof(msg), "hostPath type check failed: %s is not a block device", "/dev/null");
	host_path_case(&f, "/dev/null", "BlockDevice", msg);
	pf(msg, sizeof(msg), "hostPath type check failed: %s/missing is not a directory", base);
	pf(p, sizeof(p), "%s/missing", base);
	host_path_case(&f, p, "Directory", msg);
	host_path_case(&f, hdir, "Sideways", "Sideways is an invalid volume type");
	pf(p, sizeof(p), "%s/../etc", base);
	pf(msg, sizeof(msg), "invalid HostPath `%s`: must not contain '..'", p);
	host_path_case(&f, p, "", msg);

	/* the OrCreate kinds make what is missing */
	pf(p, sizeof(p), "%s/made/deep", base);
	host_path_case(&f, p, "DirectoryOrCreate", NULL);
	CHECKF(mode_of(p) == 0755, "made hdir mode %o", mode_of(p));
	pf(p, sizeof(p), "%s/newfile", base);
	host_path_case(&f, p, "FileOrCreate", NULL);
	struct stat st;
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);
	pf(p, sizeof(p), "%s/nope/newfile", base);
	pf(msg, sizeof(msg), "open %s: no such file or directory", p);
	host_path_case(&f, p, "FileOrCreate", msg);
	/* a hostPath volume has no directory of its own */
	char hp[PATH_MAX];
	pf(hp, sizeof(hp), "%s/pods/uh/volumes/kubernetes.io~host-path", f.root);
	CHECK(!exists(hp));
	close(s);
	fx_close(&f);
}

TEST(unknown_volume_type_fails_with_no_plugin_matched)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	int i = setup(&f, "u3",
	              "{\"name\":\"ok\",\"emptyDir\":{}},"
	              "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}");
	REQUIRE(i >= 0);
	CHECK(!f.rec.ok[i]);
	CHECK_EQ_INT(f.rec.cls[i], FSM_ERR_TRANSIENT);
	CHECK_EQ_STR(f.rec.err[i],
	             "MountVolume.SetUp failed for volume \"data\" : no volume plugin "
	             "matched name: persistentVolumeClaim");
	/* the volumes before it were set up (in order) */
	CHECK(exists(vpath(&f, "u3", "empty-dir", "ok", NULL)));
	fx_close(&f);
}

TEST(bad_bodies_fail_permanently_once_each)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	static const char *const bodies[] = {
	        "{not json",
	        "[1,2]",
	        "{\"volumes\":[]}",
	        "{\"pod\":{\"uid\":\"../x\"},\"volumes\":[]}",
	        "{\"pod\":{\"uid\":\"u4\"},\"volumes\":{\"a\":1}}",
	        "{\"pod\":{\"uid\":\"u4\"},\"volumes\":[{\"emptyDir\":{}}]}",
	        "{\"pod\":{\"uid\":\"u4\"},\"volumes\":[{\"name\":\"a/b\",\"emptyDir\":{}}]}",
	        "{\"pod\":{\"uid\":\"other\"},\"volumes\":[]}",
	};
	for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
		int i = run_cmd(&f, FSM_CMD_VOLUME_SETUP, "u4", bodies[k]);
		CHECKF(i >= 0 && !f.rec.ok[i] && f.rec.cls[i] == FSM_ERR_PERMANENT &&
		               f.rec.err[i][0] != '\0',
		       "body %zu: ok %d class %d err %s", k, i >= 0 && f.rec.ok[i],
		       i >= 0 ? (int)f.rec.cls[i] : -1, err_at(&f, i));
	}
	/* a teardown with no uid anywhere */
	int i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "", "{\"pod\":{}}");
	CHECK(i >= 0 && !f.rec.ok[i] && f.rec.cls[i] == FSM_ERR_PERMANENT);
	/* another executor's command: -ENOTSUP and nothing follows */
	struct fsm_command c = {
	        .kind = FSM_CMD_CRI_PULL_IMAGE, .id = "pull/x", .pod_uid = "", .body = NULL};
	int n0 = f.rec.n;
	CHECK_EQ_INT(fx_volume_dispatch(f.v, &c), -ENOTSUP);
	for (int k = 0; k < 5; k++)
		io_reactor_run_once(f.r, 5);
	CHECK_EQ_INT(f.rec.n, n0);
	CHECK_EQ_INT(f.rec.kind_other, 0);
	fx_close(&f);
}

TEST(downward_api_files_written_atomically_and_updated)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	const char *vol =
	        "{\"name\":\"info\",\"downwardAPI\":{\"defaultMode\":420,\"items\":["
	        "{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
	        "{\"path\":\"meta/"
	        "annotations\",\"fieldRef\":{\"fieldPath\":\"metadata.annotations\"}},"
	        "{\"path\":\"name\",\"mode\":256,\"fieldRef\":{\"fieldPath\":\"metadata.name\"}},"
	        "{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}},"
	        "{\"path\":\"one\",\"fieldRef\":{\"fieldPath\":\"metadata.labels['b']\"}},"
	        "{\"path\":\"node\",\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}}]}}";
	int i = setup(&f, "u5", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "labels")),
	             "a=\"1\"\nb=\"two\"");
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "meta/annotations")),
	             "note=\"say \\\"hi\\\"\"");
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "name")), "web");
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "ns")), "default");
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "one")), "two");
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "node")), "n1");
	CHECKF(mode_of(vpath(&f, "u5", "downward-api", "info", "name")) == 0400, "mode %o",
	       mode_of(vpath(&f, "u5", "downward-api", "info", "name")));
	CHECK_EQ_INT(mode_of(vpath(&f, "u5", "downward-api", "info", "ns")), 0644);
	/* the user-visible names are links into ..data; a subdirectory's first part */
	CHECK_EQ_STR(link_of(vpath(&f, "u5", "downward-api", "info", "meta")), "..data/meta");
	CHECK_EQ_STR(link_of(vpath(&f, "u5", "downward-api", "info", "name")), "..data/name");
	char data1[PATH_MAX];
	pf(data1, sizeof(data1), "%s",
	   nz_or(link_of(vpath(&f, "u5", "downward-api", "info", "..data"))));
	CHECKF(strncmp(data1, "..", 2) == 0 && strlen(data1) > 10, "..data -> %s", data1);
	/* the downward API lives on a tmpfs, as the kubelet's */
	CHECK_EQ_INT(mounts_under(vpath(&f, "u5", "downward-api", "info", NULL), NULL, NULL, 0), 1);

	/* the same content again: nothing is rewritten */
	i = setup(&f, "u5", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(link_of(vpath(&f, "u5", "downward-api", "info", "..data")), data1);

	/* fewer items: a new ..data, the stale link and the old directory gone */
	const char *vol2 = "{\"name\":\"info\",\"downwardAPI\":{\"items\":["
	                   "{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}}";
	i = setup(&f, "u5", vol2);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	const char *data2 = link_of(vpath(&f, "u5", "downward-api", "info", "..data"));
	CHECKF(data2 != NULL && strcmp(data2, data1) != 0, "..data %s then %s", data1,
	       nz_or(data2));
	CHECK(!exists(vpath(&f, "u5", "downward-api", "info", "labels")));
	CHECK(!exists(vpath(&f, "u5", "downward-api", "info", "meta")));
	CHECK(!exists(vpath(&f, "u5", "downward-api", "info", data1)));
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "name")), "web");
	CHECK_EQ_INT(mode_of(vpath(&f, "u5", "downward-api", "info", "name")), 0644);

	/* paths are checked with the atomic writer's texts (the downward API's
	 * cleaned first, as CollectData cleans them) */
	i = setup(&f, "u5",
	          "{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"a/../../x\","
	          "\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}}");
	CHECK(i >= 0 && !f.rec.ok[i]);
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"info\" : invalid path: must "
	             "not contain '..': ../x");
	i = setup(&f, "u5",
	          "{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"/abs\","
	          "\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"info\" : invalid path: must "
	             "be relative path: /abs");
	i = setup(&f, "u5",
	          "{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"..x/y\","
	          "\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"info\" : invalid path: must "
	             "not start with '..': ..x/y");
	i = setup(&f, "u5",
	          "{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"x\","
	          "\"fieldRef\":{\"fieldPath\":\"status.phase\"}}]}}");
	CHECK_EQ_STR(err_at(&f, i), "MountVolume.SetUp failed for volume \"info\" : unsupported "
	                            "fieldPath: status.phase");
	/* a failed update left the last good content */
	CHECK_EQ_STR(slurp(vpath(&f, "u5", "downward-api", "info", "name")), "web");

	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "u5", "{\"pod\":{\"uid\":\"u5\"}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

TEST(host_path_of_a_mount_joins_and_refuses_overflow)
{
	char out[256];
	CHECK_EQ_INT(fx_volume_host_path("/r", "u", "/etc/x", out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "/etc/x");
	CHECK_EQ_INT(fx_volume_host_path("/r", "u", "volumes/kubernetes.io~configmap/cfg/sub", out,
	                                 sizeof(out)),
	             0);
	CHECK_EQ_STR(out, "/r/pods/u/volumes/kubernetes.io~configmap/cfg/sub");
	CHECK_EQ_INT(fx_volume_host_path(NULL, "u", "volumes/x", out, sizeof(out)), 0);
	CHECK_EQ_STR(out, FX_VOLUME_ROOT_DEFAULT "/pods/u/volumes/x");
	char small[16];
	CHECK_EQ_INT(fx_volume_host_path("/r", "u", "volumes/kubernetes.io~configmap/cfg", small,
	                                 sizeof(small)),
	             -ENAMETOOLONG);
	CHECK_EQ_INT(
	        fx_volume_host_path("/r", "u", "/a/very/long/absolute/path", small, sizeof(small)),
	        -ENAMETOOLONG);
	CHECK_EQ_INT(fx_volume_host_path("/r", "u", "/abcdefghijklmn", small, sizeof(small)), 0);
	CHECK_EQ_INT(fx_volume_host_path("/r", "u", "/abcdefghijklmno", small, sizeof(small)),
	             -ENAMETOOLONG);
}

TEST(orphans_removes_only_unknown_pod_dirs)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	int i = setup(&f, "keep", "{\"name\":\"m\",\"emptyDir\":{\"medium\":\"Memory\"}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	i = setup(&f, "gone",
	          "{\"name\":\"m\",\"emptyDir\":{\"medium\":\"Memory\"}},"
	          "{\"name\":\"d\",\"emptyDir\":{}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	i = setup(&f, "gone2", "{\"name\":\"d\",\"emptyDir\":{}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_INT(mounts_under(f.root, NULL, NULL, 0), 2);
	const char *keep[] = {"keep", "notthere"};
	CHECK_EQ_INT(fx_volume_orphans(f.v, keep, 2), 2);
	CHECK(exists(vpath(&f, "keep", "empty-dir", "m", NULL)));
	char p[PATH_MAX];
	pf(p, sizeof(p), "%s/pods/gone", f.root);
	CHECK(!exists(p));
	pf(p, sizeof(p), "%s/pods/gone2", f.root);
	CHECK(!exists(p));
	CHECK_EQ_INT(mounts_under(f.root, NULL, NULL, 0), 1);
	CHECK_EQ_INT(fx_volume_orphans(f.v, keep, 2), 0);
	/* effects: none from orphans */
	CHECK_EQ_INT(f.rec.n, 3);
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "keep", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

TEST(standalone_config_map_fails_without_api)
{
	struct fx f;
	REQUIRE(fx_open(&f, NULL, NULL, NULL) == 0);
	int i = setup(&f, "u6", "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\"}}");
	CHECK(i >= 0 && !f.rec.ok[i]);
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : no API server to "
	             "read configmap \"cm\" from");
	i = setup(&f, "u6",
	          "{\"name\":\"tok\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
	          "{\"path\":\"token\"}}]}}");
	CHECK(i >= 0 && !f.rec.ok[i] && strstr(err_at(&f, i), "failed to fetch token") != NULL);
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "u6", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

/* ---- against the test API server ------------------------------------------------ */

/* One server, API client and object cache for every API test (started by the
 * first, stopped by the last). */
static struct env api;
static struct io_objwatch *objects;
static int changes;

static void on_change(void *arg, const struct io_objwatch_change *c)
{
	(void)arg;
	(void)c;
	changes++;
}

static int api_up(void)
{
	if (objects != NULL)
		return 0;
	if (start_server() != 0 || env_open(&api, "kubeconfig", 0, 0) != 0)
		return -1;
	struct io_objwatch_cb cb = {.changed = on_change};
	struct io_objwatch_config cfg = {.api = api.k, .reactor = api.r};
	return io_objwatch_new(&objects, &cfg, &cb);
}

static void api_down(void)
{
	io_objwatch_free(objects);
	objects = NULL;
	env_close(&api);
	stop_server();
}

static void api_call(const char *method, const char *path, const char *body, long want)
{
	struct answer *a = get(&api, method, path, body);
	CHECKF(a->status == want, "%s %s: %ld %.300s", method, path, a->status, a->body);
}

/* Lets the reactor run (the watches deliver changes) for ms. */
static void idle(int ms)
{
	for (int i = 0; i < ms / 10; i++)
		io_reactor_run_once(api.r, 10);
}

TEST(config_map_keys_items_modes_and_missing)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	api_call("POST", "/api/v1/namespaces/default/configmaps",
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\"},"
	         "\"data\":{\"a\":\"alpha\",\"b\":\"beta\"},\"binaryData\":{\"bin\":\"AAEC/w==\"}}",
	         201);
	/* every key, binaryData decoded */
	int i = setup(&f, "c1", "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\"}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(slurp(vpath(&f, "c1", "configmap", "cfg", "a")), "alpha");
	CHECK_EQ_STR(slurp(vpath(&f, "c1", "configmap", "cfg", "b")), "beta");
	int fd = open(vpath(&f, "c1", "configmap", "cfg", "bin"), O_RDONLY);
	unsigned char bin[8] = {0};
	CHECK(fd >= 0 && read(fd, bin, sizeof(bin)) == 4 && bin[0] == 0 && bin[1] == 1 &&
	      bin[2] == 2 && bin[3] == 0xff);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(mode_of(vpath(&f, "c1", "configmap", "cfg", "a")), 0644);
	/* a configMap volume is not a tmpfs */
	CHECK_EQ_INT(mounts_under(f.root, NULL, NULL, 0), 0);

	/* items pick keys, with paths (subdirectories) and modes */
	i = setup(&f, "c2",
	          "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"defaultMode\":288,"
	          "\"items\":[{\"key\":\"a\",\"path\":\"sub/dir/a.txt\",\"mode\":384},"
	          "{\"key\":\"b\",\"path\":\"b.txt\"}]}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(slurp(vpath(&f, "c2", "configmap", "cfg", "sub/dir/a.txt")), "alpha");
	CHECK_EQ_INT(mode_of(vpath(&f, "c2", "configmap", "cfg", "sub/dir/a.txt")), 0600);
	CHECK_EQ_INT(mode_of(vpath(&f, "c2", "configmap", "cfg", "b.txt")), 0440);
	CHECK_EQ_STR(link_of(vpath(&f, "c2", "configmap", "cfg", "sub")), "..data/sub");
	CHECK(!exists(vpath(&f, "c2", "configmap", "cfg", "a")));

	/* a missing key fails, unless optional */
	i = setup(&f, "c3",
	          "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"items\":[{\"key\":\"zz\","
	          "\"path\":\"zz\"}]}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : configmap references "
	             "non-existent config key: zz");
	CHECK(i >= 0 && f.rec.cls[i] == FSM_ERR_TRANSIENT);
	i = setup(&f, "c3",
	          "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"optional\":true,"
	          "\"items\":[{\"key\":\"zz\",\"path\":\"zz\"},{\"key\":\"a\",\"path\":\"a\"}]}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK(!exists(vpath(&f, "c3", "configmap", "cfg", "zz")));
	CHECK_EQ_STR(slurp(vpath(&f, "c3", "configmap", "cfg", "a")), "alpha");

	/* an item's path is not cleaned: the writer's checks see it as given */
	i = setup(&f, "c3",
	          "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"items\":[{\"key\":\"a\","
	          "\"path\":\"\"}]}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : invalid path: must "
	             "not be empty: \"\"");
	i = setup(&f, "c3",
	          "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"items\":[{\"key\":\"a\","
	          "\"path\":\"x/../../y\"}]}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : invalid path: must "
	             "not contain '..': x/../../y");

	/* a missing ConfigMap fails, unless optional: then the volume is empty */
	i = setup(&f, "c4", "{\"name\":\"cfg\",\"configMap\":{\"name\":\"x\"}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : configmap \"x\" not found");
	i = setup(&f, "c4", "{\"name\":\"cfg\",\"configMap\":{\"name\":\"x\",\"optional\":true}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK(link_of(vpath(&f, "c4", "configmap", "cfg", "..data")) != NULL);
	CHECK_EQ_INT(f.rec.during_dispatch, 0);

	for (const char *const *u = (const char *const[]){"c1", "c2", "c3", "c4", NULL}; *u != NULL;
	     u++) {
		i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, *u, NULL);
		CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	}
	struct io_objwatch_stats st;
	io_objwatch_stats(objects, &st);
	CHECKF(st.refs == 0, "refs left: %u", st.refs);
	fx_close(&f);
}

TEST(config_map_update_swaps_content_atomically)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	api_call("POST", "/api/v1/namespaces/default/configmaps",
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"upd\"},"
	         "\"data\":{\"keep\":\"1\",\"old\":\"o\"}}",
	         201);
	const char *vol = "{\"name\":\"cfg\",\"configMap\":{\"name\":\"upd\"}}";
	int i = setup(&f, "c5", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	char data1[PATH_MAX];
	pf(data1, sizeof(data1), "%s",
	   nz_or(link_of(vpath(&f, "c5", "configmap", "cfg", "..data"))));
	CHECK_EQ_STR(slurp(vpath(&f, "c5", "configmap", "cfg", "old")), "o");

	int c0 = changes;
	api_call("PUT", "/api/v1/namespaces/default/configmaps/upd",
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"upd\"},"
	         "\"data\":{\"keep\":\"2\",\"new\":\"n\"}}",
	         200);
	for (int k = 0; k < 500 && changes == c0; k++)
		io_reactor_run_once(api.r, 10);
	CHECKF(changes > c0, "the watch saw no change");
	i = setup(&f, "c5", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	const char *data2 = link_of(vpath(&f, "c5", "configmap", "cfg", "..data"));
	CHECKF(data2 != NULL && strcmp(data2, data1) != 0, "..data %s then %s", data1,
	       nz_or(data2));
	CHECK_EQ_STR(slurp(vpath(&f, "c5", "configmap", "cfg", "keep")), "2");
	CHECK_EQ_STR(slurp(vpath(&f, "c5", "configmap", "cfg", "new")), "n");
	CHECK(!exists(vpath(&f, "c5", "configmap", "cfg", "old")));
	CHECK(!exists(vpath(&f, "c5", "configmap", "cfg", data1)));

	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "c5", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

TEST(secret_on_tmpfs_decoded_and_missing_fails)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	/* "s3cr3t-value" and "user" */
	api_call("POST", "/api/v1/namespaces/default/secrets",
	         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"sec\"},"
	         "\"data\":{\"password\":\"czNjcjN0LXZhbHVl\",\"username\":\"dXNlcg==\"}}",
	         201);
	int i = setup(
	        &f, "s1",
	        "{\"name\":\"creds\",\"secret\":{\"secretName\":\"sec\",\"defaultMode\":256}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(slurp(vpath(&f, "s1", "secret", "creds", "password")), "s3cr3t-value");
	CHECK_EQ_STR(slurp(vpath(&f, "s1", "secret", "creds", "username")), "user");
	CHECK_EQ_INT(mode_of(vpath(&f, "s1", "secret", "creds", "password")), 0400);
	char line[4096] = "";
	CHECK_EQ_INT(mounts_under(vpath(&f, "s1", "secret", "creds", NULL), " tmpfs ", line,
	                          sizeof(line)),
	             1);

	i = setup(&f, "s2", "{\"name\":\"creds\",\"secret\":{\"secretName\":\"nope\"}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"creds\" : secret \"nope\" not found");
	i = setup(
	        &f, "s2",
	        "{\"name\":\"creds\",\"secret\":{\"secretName\":\"sec\",\"items\":[{\"key\":\"k\","
	        "\"path\":\"k\"}]}}");
	CHECK_EQ_STR(err_at(&f, i), "MountVolume.SetUp failed for volume \"creds\" : references "
	                            "non-existent secret key: k");
	/* no effect text ever carries the secret */
	for (int k = 0; k < f.rec.n; k++)
		CHECK(strstr(f.rec.err[k], "s3cr3t") == NULL &&
		      strstr(f.rec.err[k], "czNjcjN0") == NULL);

	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "s1", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "s2", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_INT(mounts_under(f.root, NULL, NULL, 0), 0);
	fx_close(&f);
}

TEST(projected_config_map_secret_downward_and_token)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	api_call(
	        "POST", "/api/v1/namespaces/default/configmaps",
	        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"root-ca\"},"
	        "\"data\":{\"ca.crt\":\"CERT\"}}",
	        201);
	api_call("POST", "/api/v1/namespaces/default/secrets",
	         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"psec\"},"
	         "\"data\":{\"k\":\"dg==\"}}",
	         201);
	const char *vol =
	        "{\"name\":\"kube-api-access\",\"projected\":{\"defaultMode\":420,\"sources\":["
	        "{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}},"
	        "{\"serviceAccountToken\":{\"audience\":\"vault\",\"path\":\"vault/token\"}},"
	        "{\"configMap\":{\"name\":\"root-ca\",\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca."
	        "crt\"}]}},"
	        "{\"secret\":{\"name\":\"psec\"}},"
	        "{\"downwardAPI\":{\"items\":[{\"path\":\"namespace\",\"fieldRef\":"
	        "{\"fieldPath\":\"metadata.namespace\"}}]}}]}}";
	int i = setup(&f, "p1", vol);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	const char *tok = slurp(vpath(&f, "p1", "projected", "kube-api-access", "token"));
	CHECKF(tok != NULL && strlen(tok) > 20 && strchr(tok, '.') != NULL, "token %s", nz_or(tok));
	tok = slurp(vpath(&f, "p1", "projected", "kube-api-access", "vault/token"));
	CHECKF(tok != NULL && strlen(tok) > 20, "vault token %s", nz_or(tok));
	CHECK_EQ_STR(slurp(vpath(&f, "p1", "projected", "kube-api-access", "ca.crt")), "CERT");
	CHECK_EQ_STR(slurp(vpath(&f, "p1", "projected", "kube-api-access", "k")), "v");
	CHECK_EQ_STR(slurp(vpath(&f, "p1", "projected", "kube-api-access", "namespace")),
	             "default");
	CHECK_EQ_INT(mounts_under(vpath(&f, "p1", "projected", "kube-api-access", NULL), " tmpfs ",
	                          NULL, 0),
	             1);
	for (int k = 0; k < f.rec.n; k++)
		CHECK(strstr(f.rec.err[k], "eyJ") == NULL);

	/* a token for a service account that does not exist: the API's reason */
	const char *b = "{\"pod\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"p2\"},"
	                "\"service_account\":\"ghost\",\"volumes\":[{\"name\":\"t\",\"projected\":"
	                "{\"sources\":[{\"serviceAccountToken\":{\"path\":\"token\"}},"
	                "{\"configMap\":{\"name\":\"missing\"}}]}}]}";
	i = run_cmd(&f, FSM_CMD_VOLUME_SETUP, "p2", b);
	CHECKF(i >= 0 && !f.rec.ok[i] &&
	               strstr(f.rec.err[i],
	                      "MountVolume.SetUp failed for volume \"t\" : [failed to fetch "
	                      "token: ") != NULL &&
	               strstr(f.rec.err[i], "ghost") != NULL &&
	               strstr(f.rec.err[i], ", configmap \"missing\" not found]") != NULL,
	       "%s", err_at(&f, i));

	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "p1", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "p2", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

TEST(without_a_cache_objects_are_read_once)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, NULL) == 0);
	api_call("POST", "/api/v1/namespaces/default/configmaps",
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"direct\"},"
	         "\"data\":{\"x\":\"y\"}}",
	         201);
	int i = setup(&f, "g1",
	              "{\"name\":\"cfg\",\"configMap\":{\"name\":\"direct\"}},"
	              "{\"name\":\"cfg2\",\"configMap\":{\"name\":\"direct\",\"items\":[{\"key\":"
	              "\"x\",\"path\":\"z\"}]}}");
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	CHECK_EQ_STR(slurp(vpath(&f, "g1", "configmap", "cfg", "x")), "y");
	CHECK_EQ_STR(slurp(vpath(&f, "g1", "configmap", "cfg2", "z")), "y");
	i = setup(&f, "g1", "{\"name\":\"cfg\",\"secret\":{\"secretName\":\"nosuch\"}}");
	CHECK_EQ_STR(err_at(&f, i),
	             "MountVolume.SetUp failed for volume \"cfg\" : secret \"nosuch\" not found");
	i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "g1", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	fx_close(&f);
}

TEST(teardown_ends_a_setup_still_waiting)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	api_call("POST", "/_test/delay",
	         "{\"ms\":1000,\"count\":1,\"match\":\"POST .*serviceaccounts/default/token\"}",
	         200);
	const char *b =
	        vbody("w1", "{\"name\":\"p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
	                    "{\"path\":\"t\"}}]}}");
	struct fsm_command c = {.kind = FSM_CMD_VOLUME_SETUP,
	                        .id = "volumes/w1/1",
	                        .pod_uid = "w1",
	                        .body = b,
	                        .body_len = strlen(b)};
	struct fsm_command d = {
	        .kind = FSM_CMD_VOLUME_TEARDOWN, .id = "volumesdown/w1", .pod_uid = "w1"};
	in_dispatch = true;
	CHECK_EQ_INT(fx_volume_dispatch(f.v, &c), 0);
	CHECK_EQ_INT(fx_volume_dispatch(f.v, &d), 0);
	in_dispatch = false;
	turn_until(&f, 2, 5);
	REQUIRE(f.rec.n == 2);
	CHECK_EQ_STR(f.rec.cmd[0], "volumes/w1/1");
	CHECK(!f.rec.ok[0] && f.rec.cls[0] == FSM_ERR_TRANSIENT);
	CHECK_EQ_STR(f.rec.err[0], "volumes torn down before their setup ended");
	CHECK_EQ_STR(f.rec.cmd[1], "volumesdown/w1");
	CHECK(f.rec.ok[1]);
	/* the token's late answer changes nothing */
	idle(1300);
	CHECK_EQ_INT(f.rec.n, 2);
	char p[PATH_MAX];
	pf(p, sizeof(p), "%s/pods/w1", f.root);
	CHECK(!exists(p));
	CHECK_EQ_INT(f.rec.during_dispatch, 0);
	fx_close(&f);
}

TEST(adopt_references_again_and_free_cancels)
{
	REQUIRE(api_up() == 0);
	struct fx f;
	REQUIRE(fx_open(&f, api.r, api.k, objects) == 0);
	struct io_objwatch_stats st0, st;
	io_objwatch_stats(objects, &st0);
	const char *b = vbody(
	        "a1",
	        "{\"name\":\"cfg\",\"configMap\":{\"name\":\"adopted\"}},"
	        "{\"name\":\"p\",\"projected\":{\"sources\":[{\"secret\":{\"name\":\"ps\"}}]}}");
	CHECK_EQ_INT(fx_volume_adopt(f.v, b, strlen(b)), 0);
	io_objwatch_stats(objects, &st);
	CHECK_EQ_INT(st.refs, st0.refs + 2);
	CHECK_EQ_INT(fx_volume_adopt(f.v, "{", 1), -EINVAL);
	/* nothing written, nothing reported */
	char p[PATH_MAX];
	pf(p, sizeof(p), "%s/pods/a1", f.root);
	CHECK(!exists(p));
	idle(100);
	CHECK_EQ_INT(f.rec.n, 0);
	int i = run_cmd(&f, FSM_CMD_VOLUME_TEARDOWN, "a1", NULL);
	CHECKF(ok_at(&f, i), "%s", err_at(&f, i));
	io_objwatch_stats(objects, &st);
	CHECK_EQ_INT(st.refs, st0.refs);

	/* a setup in flight when the executor is freed: nothing more is reported */
	struct fsm_command c = {
	        .kind = FSM_CMD_VOLUME_SETUP, .id = "volumes/a2/1", .pod_uid = "a2"};
	b = vbody("a2", "{\"name\":\"p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
	                "\"path\":\"t\"}}]}}");
	c.body = b;
	c.body_len = strlen(b);
	int n0 = f.rec.n;
	CHECK_EQ_INT(fx_volume_dispatch(f.v, &c), 0);
	fx_volume_free(f.v);
	f.v = NULL;
	idle(200);
	CHECK_EQ_INT(f.rec.n, n0);
	io_objwatch_unref_pod(objects, "a2");
	fx_close(&f);
	api_down();
}

TEST_MAIN("effects/volume", T(empty_dir_made_and_keeps_files),
          T(empty_dir_memory_is_one_tmpfs_of_its_size),
          T(host_path_types_checked_as_the_kubelet_does),
          T(unknown_volume_type_fails_with_no_plugin_matched),
          T(bad_bodies_fail_permanently_once_each),
          T(downward_api_files_written_atomically_and_updated),
          T(host_path_of_a_mount_joins_and_refuses_overflow),
          T(orphans_removes_only_unknown_pod_dirs), T(standalone_config_map_fails_without_api),
          T(config_map_keys_items_modes_and_missing), T(config_map_update_swaps_content_atomically),
          T(secret_on_tmpfs_decoded_and_missing_fails),
          T(projected_config_map_secret_downward_and_token),
          T(without_a_cache_objects_are_read_once), T(teardown_ends_a_setup_still_waiting),
          T(adopt_references_again_and_free_cancels))
