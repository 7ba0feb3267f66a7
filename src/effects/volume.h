/*
 * effects/volume.h — the volume executor: sets up and tears down a pod's volumes
 * on this node, as the kubelet's volume manager and its plugins (empty-dir,
 * host-path, configmap, secret, downward-api, projected) do.
 *
 * Commands (bodies are the fold's, src/fsm/pod.c):
 *
 *   volume.setup     id "volumes/<uid>/<n>". Body:
 *     {"pod": {"name": .., "namespace": .., "uid": ..},
 *      "service_account": "default",
 *      "pod_meta": {"labels": {..}, "annotations": {..}},
 *      "volumes": [<the pod's spec.volumes entries, as the API gave them>]}
 *     Makes every volume ready, in order, and answers ok when all are; a second
 *     setup of the same pod (after an object changed, a token's renewal, a crash)
 *     brings each volume to what the body and the objects now say: the content
 *     of configMap, secret, downwardAPI and projected volumes is replaced
 *     atomically, an emptyDir keeps its files, a tmpfs already mounted is not
 *     mounted again (look before act, DESIGN.md contract 4).
 *     Failure: class transient, error the kubelet's text for the first volume
 *     that failed: `MountVolume.SetUp failed for volume "cfg" : configmap "cm" not
 *     found` (and `secret "s" not found`, `configmap references non-existent
 *     config key: k`, `hostPath type check failed: /p is not a directory`, ...).
 *     A volume type this executor has no plugin for fails so too: `MountVolume.
 *     SetUp failed for volume "data" : no volume plugin matched name: persistentVolumeClaim`.
 *
 *   volume.teardown  id "volumesdown/<uid>". Body: {"pod": {"name", "namespace", "uid"}}.
 *     Unmounts what is mounted under the pod's directory, removes the directory
 *     and drops the pod's object references. Ok also when nothing is there.
 *
 * Where (root_dir is the daemon's --root-dir):
 *   <root_dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume name>
 * with plugin empty-dir, configmap, secret, downward-api, projected. A hostPath
 * volume is its path on the host and has no directory here. fx_volume_host_path
 * gives the path a container mount refers to.
 *
 * Plugins:
 *   emptyDir     a directory (0777); medium "Memory": a tmpfs of sizeLimit bytes
 *                (or, with none, of the node's memory), mounted once.
 *   hostPath     type "" (no check), DirectoryOrCreate (made 0755), Directory,
 *                FileOrCreate (made 0644, parent must exist), File, Socket,
 *                CharDevice, BlockDevice: checked as the kubelet checks them.
 *   configMap    data and binaryData (base64) written as files; items pick keys
 *                (key, path, mode) — a missing key fails unless optional; a
 *                missing ConfigMap fails unless optional (then the volume is
 *                empty); defaultMode (0644 by default) and item modes.
 *   secret       as configMap from a Secret's data (base64), on a tmpfs.
 *   downwardAPI  items of fieldRef: metadata.name, metadata.namespace,
 *                metadata.uid, metadata.labels, metadata.annotations (whole, as
 *                key="value" lines in key order, or ['k']), spec.serviceAccountName,
 *                spec.nodeName, status.hostIP; resourceFieldRef fails. On a
 *                tmpfs, as the kubelet's (its plugin wraps a "Memory" emptyDir).
 *   projected    sources configMap, secret, downwardAPI and serviceAccountToken
 *                (TokenRequest POST .../serviceaccounts/<sa>/token with audience
 *                (none: "audiences": null, as the kubelet's nil list encodes),
 *                expirationSeconds (default 3600) and the pod as bound object), all
 *                written into one directory, on a tmpfs.
 * Content is written as the kubelet's AtomicWriter writes it: the files in a
 * fresh directory "..<timestamp>", then the symlink "..data" pointing to it is
 * replaced by a rename, then a top-level symlink per user path ("key" ->
 * "..data/key"), and what the new content no longer has is removed. A reader
 * sees the old set or the new set, never a mix.
 *
 * ConfigMaps and Secrets come from io/objwatch: setup references each one the pod
 * uses (so it is watched for as long as the pod is on the node), waits for its
 * first list, and writes what the cache holds. Secret bytes and tokens are written
 * only onto tmpfs and are never in an event, an effect's text or a log line; the
 * buffers that held them are zeroed.
 *
 * Filesystem calls are made on the loop's thread, synchronously: they are small
 * (file writes into tmpfs or the page cache, mount(2), rename(2)); the only waits
 * are the API's, which are asynchronous.
 *
 * Errors of the interface: 0 or a negative errno as exec.h says (-ENOTSUP for a
 * command that is not a volume command: nothing follows).
 */
#ifndef LEDGERLET_EFFECTS_VOLUME_H
#define LEDGERLET_EFFECTS_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "effects/effects.h"
#include "fsm/command.h"
#include "io/kapi.h"
#include "io/objwatch.h"
#include "io/reactor.h"

#define FX_VOLUME_ROOT_DEFAULT "/var/lib/ledgerlet"
#define FX_VOLUME_FILE_BYTES_MAX ((size_t)1 << 20) /* a ConfigMap's data is at most 1 MiB */
#define FX_VOLUME_TIMEOUT_MS     (30u * 1000)       /* a TokenRequest */

struct fx_volume_config {
	struct io_reactor *reactor;      /* required: outcomes come on its turns */
	const char *root_dir;            /* NULL or "": FX_VOLUME_ROOT_DEFAULT */
	const char *node_name;           /* spec.nodeName of a downwardAPI item */
	const char *host_ip;             /* status.hostIP of a downwardAPI item */
	int64_t memory_bytes;            /* an emptyDir "Memory" tmpfs without sizeLimit; 0: half RAM */
	struct kapi *api;                /* NULL: standalone (configMap, secret, token fail) */
	struct io_objwatch *objects;     /* NULL: standalone */
};

struct fx_volume;

int fx_volume_new(struct fx_volume **out, const struct fx_volume_config *cfg,
		  struct fx_sink sink);
/* Cancels what is in flight (nothing more is reported). NULL: no-op. */
void fx_volume_free(struct fx_volume *v);

/* Starts carrying out c (see above); exactly one effect event for c->id follows. */
int fx_volume_dispatch(struct fx_volume *v, const struct fsm_command *c);

/*
 * The host path of a container mount of pod_uid: rel is the fold's "host_path"
 * of a create body's mount — absolute (a hostPath volume) as it is, or relative
 * to the pod's directory ("volumes/kubernetes.io~configmap/cfg[/subpath]") joined
 * to <root_dir>/pods/<uid>/. Writes at most n bytes; -ENAMETOOLONG when cut.
 */
int fx_volume_host_path(const char *root_dir, const char *pod_uid, const char *rel, char *out,
			size_t n);

/*
 * Start-up cleanup (the kubelet's cleanupOrphanedPodDirs): removes the pod
 * directories under <root_dir>/pods whose uid is not among keep (after
 * unmounting what is mounted in them). Returns how many it removed, or a
 * negative errno.
 */
int fx_volume_orphans(struct fx_volume *v, const char *const *keep, size_t n_keep);

/*
 * Re-references the objects of a pod whose volumes were set up before a restart
 * (body as volume.setup's), so they are watched again; nothing is written.
 */
int fx_volume_adopt(struct fx_volume *v, const char *body, size_t len);

#endif
