/*
 * io/manifests.c — the static pod source (see manifests.h).
 *
 * The directory is read whole on each scan; what is reported is the difference
 * with the previous scan, kept per file as the checksum of its bytes and of each
 * of its documents. Scans are cheap next to what a manifest change leads to.
 */
#include "io/manifests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/yaml.h"

struct mfile {
	char *name;          /* within the directory */
	uint64_t bytes_hash; /* of the file's bytes at the last scan */
	bool seen;           /* present in the current scan */
	uint64_t doc_hash[IO_YAML_DOCS_MAX];
	size_t ndocs; /* documents reported (and not gone) */
};

struct io_manifests {
	char dir[PATH_MAX];
	int ifd;
	struct mfile *files;
	size_t nfiles;
};

static uint64_t fnv64(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int io_manifests_open(struct io_manifests **out, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	struct io_manifests *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	snprintf(m->dir, sizeof(m->dir), "%s", dir);
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0 ||
	    inotify_add_watch(m->ifd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
				      IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		int e = errno;
		if (m->ifd >= 0)
			close(m->ifd);
		free(m);
		return -e;
	}
	*out = m;
	return 0;
}

void io_manifests_close(struct io_manifests *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i].name);
	free(m->files);
	close(m->ifd);
	free(m);
}

int io_manifests_fd(const struct io_manifests *m)
{
	return m->ifd;
}

bool io_manifests_changed(struct io_manifests *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	for (;;) {
		ssize_t n = read(m->ifd, buf, sizeof(buf));
		if (n <= 0)
			break;
		changed = true;
	}
	return changed;
}

/* The kubelet skips hidden files; editors' temporary files are skipped too. */
static bool ignored(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.' || n == 0)
		return true;
	if (name[n - 1] == '~')
		return true;
	static const char *const tmp_suffixes[] = {".swp", ".swx", ".tmp", ".bak", NULL};
	for (const char *const *s = tmp_suffixes; *s != NULL; s++) {
		size_t k = strlen(*s);
		if (n > k && strcmp(name + n - k, *s) == 0)
			return true;
	}
	return false;
}

static struct mfile *file_find(struct io_manifests *m, const char *name)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i].name, name) == 0)
			return &m->files[i];
	return NULL;
}

static void doc_path(const struct io_manifests *m, const char *name, size_t i, size_t ndocs,
		     char *out, size_t n)
{
	if (ndocs <= 1)
		snprintf(out, n, "%s/%s", m->dir, name);
	else
		snprintf(out, n, "%s/%s#%zu", m->dir, name, i);
}

static void docs_gone(struct io_manifests *m, struct mfile *f, const struct io_manifests_cb *cb)
{
	char path[PATH_MAX + 32];
	for (size_t i = 0; i < f->ndocs; i++) {
		doc_path(m, f->name, i, f->ndocs, path, sizeof(path));
		cb->gone(cb->arg, path);
	}
	f->ndocs = 0;
}

/* Reads a file whole, refusing what is not a regular file or is too large. */
/* *gone: the file was removed since the directory was listed. */
static char *read_file(const char *path, size_t *len, char *why, size_t why_len, bool *gone)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	*gone = fd < 0 && errno == ENOENT;
	if (fd < 0) {
		snprintf(why, why_len, "%s",
			 errno == ELOOP ? "a symbolic link loop" : strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_len, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > IO_MANIFEST_BYTES_MAX) {
		snprintf(why, why_len, "%lld bytes: a manifest may hold at most %zu",
			 (long long)st.st_size, IO_MANIFEST_BYTES_MAX);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf != NULL && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (buf == NULL) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Returns false when the file is gone (removed after the listing): it is then
 * handled as the files the listing lacked, not as an error. */
static bool scan_file(struct io_manifests *m, struct mfile *f, const struct io_manifests_cb *cb)
{
	char path[PATH_MAX + 32], why[300];
	snprintf(path, sizeof(path), "%s/%s", m->dir, f->name);
	size_t len = 0;
	bool gone;
	char *text = read_file(path, &len, why, sizeof(why), &gone);
	if (gone)
		return false;
	uint64_t h = text != NULL ? fnv64(text, len) : fnv64(why, strlen(why)) ^ 1;
	if (h == f->bytes_hash) {
		free(text);
		return true; /* unchanged since the last scan (or the same error) */
	}
	f->bytes_hash = h;
	if (text == NULL) {
		cb->error(cb->arg, path, why);
		return true;
	}
	struct io_yaml_docs docs;
	if (io_yaml_to_json(text, len, &docs, why, sizeof(why)) != 0) {
		free(text);
		cb->error(cb->arg, path, why);
		return true;
	}
	free(text);
	if (docs.n == 0) {
		cb->error(cb->arg, path, "holds no document");
		docs_gone(m, f, cb);
		return true;
	}
	/* When the number of documents crosses one, every document's path changes. */
	if ((f->ndocs <= 1) != (docs.n <= 1))
		docs_gone(m, f, cb);
	for (size_t i = 0; i < docs.n; i++) {
		uint64_t dh = fnv64(docs.doc[i].json, docs.doc[i].len);
		if (i < f->ndocs && f->doc_hash[i] == dh)
			continue;
		f->doc_hash[i] = dh;
		doc_path(m, f->name, i, docs.n, path, sizeof(path));
		cb->doc(cb->arg, path, docs.doc[i].json, docs.doc[i].len);
	}
	for (size_t i = docs.n; i < f->ndocs; i++) {
		doc_path(m, f->name, i, f->ndocs, path, sizeof(path));
		cb->gone(cb->arg, path);
	}
	f->ndocs = docs.n;
	io_yaml_docs_free(&docs);
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int io_manifests_scan(struct io_manifests *m, const struct io_manifests_cb *cb)
{
	DIR *d = opendir(m->dir);
	if (d == NULL)
		return -errno;
	for (size_t i = 0; i < m->nfiles; i++)
		m->files[i].seen = false;
	/* In name order, so a scan reports in an order an operator can follow. */
	char **names = NULL;
	size_t nnames = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (ignored(e->d_name))
			continue;
		char **v = realloc(names, (nnames + 1) * sizeof(*v));
		if (v == NULL || (v[nnames] = strdup(e->d_name)) == NULL) {
			names = v ? v : names;
			rc = -ENOMEM;
			break;
		}
		names = v;
		nnames++;
	}
	closedir(d);
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), cmp_names);
	for (size_t k = 0; rc == 0 && k < nnames; k++) {
		const char *name = names[k];
		struct mfile *f = file_find(m, name);
		if (f == NULL) {
			if (m->nfiles >= IO_MANIFEST_FILES_MAX) {
				char path[PATH_MAX + 32];
				snprintf(path, sizeof(path), "%s/%s", m->dir, name);
				cb->error(cb->arg, path, "too many manifest files");
				continue;
			}
			struct mfile *v = realloc(m->files, (m->nfiles + 1) * sizeof(*v));
			if (v == NULL) {
				rc = -ENOMEM;
				break;
			}
			m->files = v;
			f = &v[m->nfiles];
			memset(f, 0, sizeof(*f));
			f->name = strdup(name);
			if (f->name == NULL) {
				rc = -ENOMEM;
				break;
			}
			m->nfiles++;
		}
		f->seen = scan_file(m, f, cb);
	}
	for (size_t k = 0; k < nnames; k++)
		free(names[k]);
	free(names);
	if (rc != 0)
		return rc;
	/* Files that are gone take their documents with them. */
	for (size_t i = 0; i < m->nfiles;) {
		if (m->files[i].seen) {
			i++;
			continue;
		}
		docs_gone(m, &m->files[i], cb);
		free(m->files[i].name);
		m->files[i] = m->files[--m->nfiles];
	}
	return rc;
}
