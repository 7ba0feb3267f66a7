/*
 * io/manifests.h — the static pod source: a directory of manifest files
 * (--pod-manifest-path, staticPodPath) turned into file.pod observations.
 *
 * A scan reads every regular file of the directory (following the kubelet:
 * names starting with "." are ignored, and so are editor leftovers ending in
 * "~" or ".swp"/".swx"/".tmp"), converts each document to JSON (io/yaml.h), and
 * reports, per document, what changed since the last scan: a new or changed
 * document, or one that is gone. A file holding one document is reported under
 * its path; the documents of a file holding several under "path#i". Unchanged
 * files report nothing (DESIGN.md contract 10: quiet when healthy).
 *
 * A file that cannot be read or converted is reported once per change as an
 * error naming it; its earlier documents stay as they were (one broken save in
 * an editor does not stop a running pod); removing the file removes them.
 *
 * inotify tells when to scan again: io_manifests_fd() is the inotify fd to
 * poll; io_manifests_changed() drains it and says whether a scan is due.
 *
 * Ownership: callbacks receive strings valid for the duration of the call.
 */
#ifndef LEDGERLET_IO_MANIFESTS_H
#define LEDGERLET_IO_MANIFESTS_H

#include <stdbool.h>
#include <stddef.h>

#define IO_MANIFEST_BYTES_MAX ((size_t)1536 * 1024) /* the API's object size limit */
#define IO_MANIFEST_FILES_MAX 1024

struct io_manifests;

struct io_manifests_cb {
	/* A document appeared or changed: its JSON. */
	void (*doc)(void *arg, const char *path, const char *json, size_t len);
	/* A document is gone (its file was removed, or no longer holds it). */
	void (*gone)(void *arg, const char *path);
	/* A file could not be used: what is wrong with it. */
	void (*error)(void *arg, const char *file, const char *what);
	void *arg;
};

/* 0 or a negative errno (the directory is created if missing? no: -ENOENT). */
int io_manifests_open(struct io_manifests **out, const char *dir);
void io_manifests_close(struct io_manifests *m);
int io_manifests_fd(const struct io_manifests *m);
/* Drains the inotify fd; true when something in the directory changed. */
bool io_manifests_changed(struct io_manifests *m);
/* Reads the directory and reports what changed. 0 or a negative errno. */
int io_manifests_scan(struct io_manifests *m, const struct io_manifests_cb *cb);

#endif
