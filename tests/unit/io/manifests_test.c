/*
 * manifests_test.c — the static pod source: documents reported once, changes
 * and removals, hidden and editor files skipped, bad files named and harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/manifests.h"
#include "test.h"

struct log {
	char text[16384];
};

static void on_doc(void *arg, const char *path, const char *json, size_t len)
{
	struct log *l = arg;
	const char *base = strrchr(path, '/');
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "doc %s %.*s\n", base + 1, (int)len, json);
}

static void on_gone(void *arg, const char *path)
{
	struct log *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "gone %s\n", strrchr(path, '/') + 1);
}

static void on_error(void *arg, const char *file, const char *what)
{
	struct log *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "error %s: %s\n", strrchr(file, '/') + 1, what);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char p[700];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *scan(struct io_manifests *m, struct log *l)
{
	l->text[0] = '\0';
	struct io_manifests_cb cb = {on_doc, on_gone, on_error, l};
	CHECK(io_manifests_scan(m, &cb) == 0);
	return l->text;
}

TEST(documents_changes_and_removals)
{
	const char *d = test_tmpdir();
	put_file(d, "a.yaml", "kind: Pod\nmetadata: {name: a}\n");
	put_file(d, "b.yaml", "kind: Pod\nmetadata: {name: b1}\n---\nkind: Pod\nmetadata: {name: b2}\n");
	put_file(d, ".hidden.yaml", "kind: Pod\n");
	put_file(d, "c.yaml.swp", "junk");
	put_file(d, "c.yaml~", "junk");
	struct io_manifests *m;
	REQUIRE(io_manifests_open(&m, d) == 0);
	struct log l;
	CHECK_EQ_STR(scan(m, &l), "doc a.yaml {\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n"
				  "doc b.yaml#0 {\"kind\":\"Pod\",\"metadata\":{\"name\":\"b1\"}}\n"
				  "doc b.yaml#1 {\"kind\":\"Pod\",\"metadata\":{\"name\":\"b2\"}}\n");
	/* Nothing changed: nothing reported. */
	CHECK_EQ_STR(scan(m, &l), "");
	/* One document of b changes: only it is reported. */
	put_file(d, "b.yaml", "kind: Pod\nmetadata: {name: b1}\n---\nkind: Pod\nmetadata: {name: b3}\n");
	CHECK(io_manifests_changed(m));
	CHECK_EQ_STR(scan(m, &l), "doc b.yaml#1 {\"kind\":\"Pod\",\"metadata\":{\"name\":\"b3\"}}\n");
	CHECK(!io_manifests_changed(m));
	/* a is removed; b shrinks to one document (its paths change). */
	char p[700];
	snprintf(p, sizeof(p), "%s/a.yaml", d);
	unlink(p);
	put_file(d, "b.yaml", "kind: Pod\nmetadata: {name: b1}\n");
	CHECK_EQ_STR(scan(m, &l), "gone b.yaml#0\ngone b.yaml#1\n"
				  "doc b.yaml {\"kind\":\"Pod\",\"metadata\":{\"name\":\"b1\"}}\n"
				  "gone a.yaml\n");
	io_manifests_close(m);
}

TEST(a_broken_save_keeps_the_running_documents)
{
	const char *d = test_tmpdir();
	put_file(d, "a.yaml", "kind: Pod\nmetadata: {name: a}\n");
	struct io_manifests *m;
	REQUIRE(io_manifests_open(&m, d) == 0);
	struct log l;
	scan(m, &l);
	put_file(d, "a.yaml", "kind: Pod\nmetadata: {name: [a\n");
	const char *t = scan(m, &l);
	CHECKF(strncmp(t, "error a.yaml: line ", 19) == 0 && strstr(t, "gone") == NULL, "%s", t);
	/* The same broken content is not reported again. */
	CHECK_EQ_STR(scan(m, &l), "");
	put_file(d, "a.yaml", "kind: Pod\nmetadata: {name: a2}\n");
	CHECK_EQ_STR(scan(m, &l), "doc a.yaml {\"kind\":\"Pod\",\"metadata\":{\"name\":\"a2\"}}\n");
	io_manifests_close(m);
}

TEST(bad_files_are_named)
{
	const char *d = test_tmpdir();
	char p[700], q[700];
	/* 10 MiB */
	snprintf(p, sizeof(p), "%s/huge.yaml", d);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, 10 << 20) == 0);
	close(fd);
	/* a symlink loop */
	snprintf(p, sizeof(p), "%s/loop1.yaml", d);
	snprintf(q, sizeof(q), "%s/loop2.yaml", d);
	REQUIRE(symlink(q, p) == 0 && symlink(p, q) == 0);
	/* a directory */
	snprintf(p, sizeof(p), "%s/sub", d);
	REQUIRE(mkdir(p, 0755) == 0);
	put_file(d, "empty.yaml", "# nothing here\n");
	struct io_manifests *m;
	REQUIRE(io_manifests_open(&m, d) == 0);
	struct log l;
	const char *t = scan(m, &l);
	CHECKF(strstr(t, "error empty.yaml: holds no document") != NULL, "%s", t);
	CHECKF(strstr(t, "error huge.yaml: 10485760 bytes: a manifest may hold at most") != NULL, "%s", t);
	CHECKF(strstr(t, "error loop1.yaml: a symbolic link loop") != NULL, "%s", t);
	CHECKF(strstr(t, "error sub: not a regular file") != NULL, "%s", t);
	io_manifests_close(m);
	CHECK(io_manifests_open(&m, "/nonexistent/dir") == -ENOENT);
}

TEST_MAIN("io/manifests", T(documents_changes_and_removals), T(a_broken_save_keeps_the_running_documents),
	  T(bad_files_are_named))
