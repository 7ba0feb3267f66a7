"""The object store: what etcd plus the watch cache are to the real API server.

One global resourceVersion counter, bumped by every write. Objects live in memory,
keyed by (storage, namespace, name), and the whole state is written to
DIR/state.json on every change (a temporary file renamed over the old one, so a
`kill -9` at any moment leaves either the old or the new state). A restarted server
keeps every object and the counter; its event history starts empty, so a watch from a
resourceVersion older than the restart is answered 410 Expired, as a restarted real
API server answers from its fresh watch cache.

History: the last `keep` events (type, object, previous object). A watch from
resourceVersion N replays the events after N, then follows live ones; N older than
the history is 410. A list at an exact older resourceVersion, or a continued paged
list, is rebuilt from the current state by undoing the history back to it.

Stored objects are never modified after commit: readers get them as they are and
must copy before changing anything (get() copies for them). commit() is the one place
state changes; it runs under the store lock, so events reach every watcher in
resourceVersion order.
"""

import collections
import copy
import json
import os
import queue
import threading

from apierrors import expired, too_large_rv

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
WATCH_QUEUE_MAX = 20000  # events a slow watcher may fall behind before it is closed
STATE_FORMAT = 1


class Event:
    __slots__ = ("rv", "type", "storage", "obj", "prev")

    def __init__(self, rv, type_, storage, obj, prev):
        self.rv, self.type, self.storage, self.obj, self.prev = rv, type_, storage, obj, prev


def key_of(obj):
    m = obj["metadata"]
    return (m.get("namespace") or "", m["name"])


class Watcher:
    """One watch stream's queue. Items: (type, object), or one of the sentinels."""

    CLOSE = "close"  # end the stream cleanly (final chunk)
    DROP = "drop"  # cut the connection mid-stream

    def __init__(self, storage, namespace, predicate, info):
        self.storage = storage
        self.namespace = namespace  # None: every namespace
        self.predicate = predicate  # object (stored form) -> bool
        self.info = info  # for /_test/info: path, user, start time
        self.q = queue.Queue()
        self.dead = False

    def matches(self, obj):
        if obj is None:
            return False
        if (
            self.namespace is not None
            and (obj["metadata"].get("namespace") or "") != self.namespace
        ):
            return False
        return self.predicate(obj)

    def translate(self, ev):
        """What this watcher sees of an event: (type, object) or None.

        An object that starts matching is ADDED; one that stops matching is DELETED
        (with its previous content and the event's resourceVersion), as the real
        watch cache does for selector watches."""
        new_ok = ev.type != DELETED and self.matches(ev.obj)
        old_ok = ev.prev is not None and self.matches(ev.prev)
        if ev.type == ADDED:
            return (ADDED, ev.obj) if new_ok else None
        if ev.type == DELETED:
            return (DELETED, ev.obj) if old_ok else None
        if new_ok and old_ok:
            return (MODIFIED, ev.obj)
        if new_ok:
            return (ADDED, ev.obj)
        if old_ok:
            gone = copy.deepcopy(ev.prev)
            gone["metadata"]["resourceVersion"] = ev.obj["metadata"]["resourceVersion"]
            return (DELETED, gone)
        return None

    def offer(self, ev):
        if self.dead:
            return
        item = self.translate(ev)
        if item is None:
            return
        if self.q.qsize() >= WATCH_QUEUE_MAX:
            self.dead = True
            self.q.put(self.CLOSE)
            return
        self.q.put(item)

    def stop(self, how):
        self.dead = True
        self.q.put(how)


class Store:
    def __init__(self, path, keep, fsync=False):
        self.lock = threading.RLock()
        self.path = path
        self.keep = keep
        self.fsync = fsync
        self.rv = 0
        self.compacted = 0  # history covers (compacted, rv]
        self.data = collections.defaultdict(dict)  # storage -> {(ns, name): obj}
        self.blobs = {}  # (storage, ns, name) -> the object's line in state.json
        self.history = collections.deque()
        self.watchers = set()
        self.listeners = []  # called with the storage name after each commit, under the lock

    # ---- persistence ----

    def load(self):
        """Reads state.json if present; returns the number of objects."""
        try:
            with open(self.path, "rb") as f:
                state = json.loads(f.read())
        except FileNotFoundError:
            return 0
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.path}: unknown format {state.get('format')!r}")
        for entry in state["objects"]:
            storage, obj = entry["storage"], entry["object"]
            ns, name = key_of(obj)
            self.data[storage][(ns, name)] = obj
            self.blobs[(storage, ns, name)] = _blob(storage, obj)
        self.rv = int(state["resourceVersion"])
        self.compacted = self.rv
        return len(self.blobs)

    def save(self):
        tmp = self.path + ".tmp"
        body = ",\n".join(self.blobs[k] for k in sorted(self.blobs))
        text = (
            f'{{"format":{STATE_FORMAT},"resourceVersion":"{self.rv}","objects":[\n'
            f"{body}\n]}}\n"
        )
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path)

    # ---- reads ----

    def get(self, storage, ns, name):
        """A copy of the object, or None."""
        obj = self.data[storage].get((ns or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, storage, ns, name):
        """The stored object itself (read-only), or None."""
        return self.data[storage].get((ns or "", name))

    def items(self, storage, ns=None):
        """Stored objects (read-only) in key order; ns None: all namespaces."""
        with self.lock:
            objs = self.data[storage]
            keys = sorted(k for k in objs if ns is None or k[0] == ns)
            return [objs[k] for k in keys]

    def items_at(self, storage, ns, at_rv):
        """The objects as they were at resourceVersion at_rv (read-only), in key order."""
        if at_rv > self.rv:
            raise too_large_rv(at_rv)
        if at_rv < self.compacted:
            raise expired(f"too old resource version: {at_rv} ({self.compacted})")
        state = dict(self.data[storage])
        for ev in reversed(self.history):
            if ev.rv <= at_rv:
                break
            if ev.storage != storage:
                continue
            k = key_of(ev.obj)
            if ev.type == ADDED:
                state.pop(k, None)
            else:
                state[k] = ev.prev
        keys = sorted(k for k in state if ns is None or k[0] == ns)
        return [state[k] for k in keys]

    # ---- the one write path ----

    def commit(self, storage, type_, obj, prev):
        """Stores obj (ADDED/MODIFIED) or removes prev (DELETED); returns what was stored.

        Takes ownership of obj. Bumps the resourceVersion, records the event, tells
        the watchers and listeners, and writes state.json."""
        with self.lock:
            self.rv += 1
            rv = self.rv
            if type_ == DELETED:
                obj = copy.deepcopy(prev)
                obj["metadata"]["resourceVersion"] = str(rv)
                ns, name = key_of(prev)
                del self.data[storage][(ns, name)]
                del self.blobs[(storage, ns, name)]
            else:
                obj["metadata"]["resourceVersion"] = str(rv)
                ns, name = key_of(obj)
                self.data[storage][(ns, name)] = obj
                self.blobs[(storage, ns, name)] = _blob(storage, obj)
            ev = Event(rv, type_, storage, obj, prev)
            self.history.append(ev)
            while len(self.history) > self.keep:
                self.compacted = self.history.popleft().rv
            for w in list(self.watchers):
                if w.storage == storage:
                    w.offer(ev)
            self.save()
            for listener in self.listeners:
                listener(storage)
            return obj

    def compact(self, keep=0):
        """Forgets all but the last `keep` events; returns the compacted revision."""
        with self.lock:
            while len(self.history) > keep:
                self.history.popleft()
            self.compacted = self.history[0].rv - 1 if self.history else self.rv
            return self.compacted

    # ---- watches ----

    def watch(self, storage, ns, predicate, since, info, initial_end=False):
        """Registers a watcher and queues what it must see first.

        since None: ADDED for every matching object now (a watch without a
        resourceVersion, or with "0"); initial_end then also queues
        ("INITIAL_END", rv), the end-of-initial-events bookmark. since N: every
        event after N."""
        with self.lock:
            w = Watcher(storage, ns, predicate, info)
            if since is None:
                for obj in self.items(storage, ns):
                    if w.matches(obj):
                        w.q.put((ADDED, obj))
                if initial_end:
                    w.q.put(("INITIAL_END", self.rv))
            else:
                if since > self.rv:
                    raise too_large_rv(since)
                if since < self.compacted:
                    raise expired(f"too old resource version: {since} ({self.compacted})")
                for ev in self.history:
                    if ev.rv > since and ev.storage == storage:
                        item = w.translate(ev)
                        if item is not None:
                            w.q.put(item)
            self.watchers.add(w)
            return w

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def stop_watches(self, how):
        with self.lock:
            ws = list(self.watchers)
        for w in ws:
            w.stop(how)
        return len(ws)


def _blob(storage, obj):
    return json.dumps({"storage": storage, "object": obj}, separators=(",", ":"))
