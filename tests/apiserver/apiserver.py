#!/usr/bin/python3
"""ledgerlet's test Kubernetes API server: enough of kube-apiserver for a kubelet and kubectl.

    /usr/bin/python3 tests/apiserver/apiserver.py --dir DIR [--port N] [--schema PATH]
        [--scheduler] [--compact-keep N] [--bookmark-interval S] [--node-name NAME]
        [--sa-token-volumes] [--fsync] [-v]

Python 3.11 standard library only, and the openssl command for the certificates.
At start it makes (or reuses, so a restarted server keeps its CA) a CA, a serving
certificate for 127.0.0.1/localhost, an admin and a node client certificate and a
bearer token, writes DIR/kubeconfig (admin, embedded data), DIR/kubeconfig-token,
DIR/kubeconfig-files (node certificate, file paths), DIR/port and DIR/pid, and prints
"listening on https://127.0.0.1:PORT". Without --port it takes the port it had before
(DIR/port) when it can, so clients keep their kubeconfig across a restart; --port 0
always picks a new one. One server per DIR (DIR/lock).

Supported, with the real server's semantics (details in each module):
- HTTPS (HTTP/1.1, keep-alive) only. Every request authenticates with a client
  certificate signed by the CA (user = its CN), the bearer token (user
  "test-token-user") or a service-account token this server issued; anything else is
  401. There is no authorization: every user may do everything.
- Resources: namespaces, nodes (+status), pods (+status, +binding, log is 404),
  events (core v1, and events.k8s.io/v1 as a second view of the same objects),
  configmaps, secrets, services, serviceaccounts (+token), leases
  (coordination.k8s.io/v1); cross-namespace lists; the legacy /api/v1/watch/ paths.
  A new namespace gets a "default" service account and the kube-root-ca.crt config
  map; the "kubernetes" service exists in "default".
- store.py: one resourceVersion counter; DIR/state.json rewritten on every change
  (survives kill -9); a watch history of --compact-keep events, 410 Expired beyond it
  and for resourceVersions from before a restart.
- api.py: create, get, list, update, patch, delete, deletecollection; resourceVersion
  and uid preconditions (409), AlreadyExists, NotFound; writes that change nothing
  are not stored; graceful pod deletion; finalizers; generateName; dryRun=All.
- resources.py and api.py: pod defaulting and admission (tolerations, priority
  classes, service account; the kube-api-access volume with --sa-token-volumes; mirror
  pods left alone), QoS class, the status subresource's split, pod update rules.
- patch.py: JSON merge, strategic merge (merge keys from the schema, as the real
  server takes them from its Go types) and JSON patches.
- schema.py: every object a client writes (after its patch is applied) is checked
  against the OpenAPI v2 schema: types, required and unknown fields, formats (422).
- LIST: label and field selectors, limit/continue over a consistent snapshot,
  resourceVersion with resourceVersionMatch Exact or NotOlderThan. Items carry no
  kind/apiVersion, as in real list responses.
- WATCH: from a resourceVersion, or starting with ADDED events for what exists (also
  sendInitialEvents); selectors (an object that stops matching is DELETED for that
  watch); bookmarks; timeoutSeconds; chunked newline-delimited JSON; 410 as an ERROR
  event.
- tables.py: Table and PartialObjectMetadata(List) answers for kubectl get.
- discovery.py: /version, /api, /apis... in the legacy format (kubectl falls back to
  it from aggregated discovery). /openapi/v2 is --schema as JSON; openapi.py serves
  /openapi/v3 made from it, which kubectl apply and explain need (they read v2 only
  as protobuf).
- scheduler.py (--scheduler): binds unscheduled pods to ready nodes they tolerate.
- Control API under /_test/ (same port and authentication): see CONTROL below.
- Access log: DIR/access.log, one line per request (and on stderr with -v).

Not supported: protobuf and CBOR bodies (415: `kubectl create namespace|configmap|secret`
sends protobuf and fails; `kubectl create -f`, `apply` and `run` send JSON), HTTP/2, gzip; server-side apply (apply-patch+yaml is
415) and managedFields; authorization; admission beyond the above; namespace
deletion; garbage collection, event TTL and every controller; pod logs, exec, attach
and port-forward; resources in scheduling; aggregated discovery; resources other than
those above.
"""

import sys

sys.dont_write_bytecode = True  # keep tests/apiserver free of __pycache__

import argparse  # noqa: E402
import collections  # noqa: E402
import dataclasses  # noqa: E402
import errno  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.parse  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import apierrors  # noqa: E402
import certs  # noqa: E402
import discovery  # noqa: E402
import resources  # noqa: E402
import tables  # noqa: E402
from api import Api, Context  # noqa: E402
from openapi import OpenAPIv3  # noqa: E402
from apierrors import ApiError  # noqa: E402
from scheduler import Scheduler  # noqa: E402
from schema import Schema, SchemaError  # noqa: E402
from store import Store, Watcher  # noqa: E402

CONTROL = """Control API (same port, same authentication), all JSON:
  GET  /_test/writes          counts of writes per "METHOD resource[/sub]", of reads per
                              "GET|LIST|WATCH resource", and the last writes (seq, time,
                              method, path, user, code, ms); ?since=SEQ for newer ones only
  POST /_test/reset-counters  forget counts, recorded writes and validation failures
  POST /_test/compact         forget the watch history ({"keep": N} keeps the last N)
  POST /_test/drop-watches    cut every watch stream mid-stream (no final chunk)
  POST /_test/fail            {"count":N,"code":C,"retryAfter":S,"match":REGEX,"message":M}
                              the next N requests whose "METHOD /path?query" matches get
                              status C (count -1: until cleared; count 0: clear all)
  POST /_test/delay           {"ms":M,"count":N,"match":REGEX} (same count rules)
  GET  /_test/invalid         the writes rejected by validation
  GET  /_test/info            resourceVersion, compacted revision, open watches, objects
  POST /_test/config          {"bookmarkInterval": S}
"""

RECENT_WRITES_MAX = 2000
INVALID_MAX = 1000
BODY_BYTES_MAX = 3 * 1024 * 1024
IDLE_TIMEOUT_S = 300
HANDSHAKE_TIMEOUT_S = 10
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PATCH_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
)
HERE = os.path.dirname(os.path.abspath(__file__))
# the repository's tests/apiserver/ -> ../shared/reference beside the repository
DEFAULT_SCHEMA = os.path.normpath(f"{HERE}/../../../shared/reference/kubernetes-openapi-v2.json")


@dataclasses.dataclass
class Route:
    """What an /api or /apis path names."""

    rt: resources.ResourceType
    namespace: str  # None: cluster-scoped, or all namespaces
    name: str  # None: the collection
    sub: str  # None: the resource itself
    watch_path: bool  # the legacy /watch/ prefix

    def label(self):
        return self.rt.plural + (f"/{self.sub}" if self.sub else "")


def parse_route(parts):
    """parts: the path split on '/', without empty parts. None if not an API resource path."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = bool(rest) and rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    if not rest:
        return None
    if len(rest) >= 3 and rest[0] == "namespaces":
        rt = resources.lookup(group, version, rest[2])
        if rt is not None and rt.namespaced:
            if len(rest) > 5:
                return None
            return Route(
                rt,
                rest[1],
                rest[3] if len(rest) > 3 else None,
                rest[4] if len(rest) > 4 else None,
                watch_path,
            )
    rt = resources.lookup(group, version, rest[0])
    if rt is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    if rt.namespaced and name is not None:
        return None
    return Route(rt, None, name, rest[2] if len(rest) > 2 else None, watch_path)


class Rules:
    """Injected faults or delays: rules matched against "METHOD /path?query"."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, spec, ints):
        """spec: a rule from a control request; ints: {field: (min, max)} it may have."""
        count = spec.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise apierrors.bad_request("count must be an integer, -1 or more")
        for name, (lo, hi) in ints.items():
            v = spec.get(name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi
            ):
                raise apierrors.bad_request(f"{name} must be an integer from {lo} to {hi}")
        with self.lock:
            if count == 0:
                self.rules.clear()
                return
            try:
                pattern = re.compile(spec.get("match") or "")
            except re.error as e:
                raise apierrors.bad_request(f"match: {e}") from None
            self.rules.append({**spec, "count": count, "re": pattern})

    def take(self, line):
        with self.lock:
            for r in self.rules:
                if r["re"].search(line):
                    if r["count"] > 0:
                        r["count"] -= 1
                        if r["count"] == 0:
                            self.rules.remove(r)
                    return r
        return None

    def describe(self):
        with self.lock:
            return [{k: v for k, v in r.items() if k != "re"} for r in self.rules]


class Recorder:
    """Counts of requests and the last writes, for /_test/writes; validation failures."""

    def __init__(self):
        self.lock = threading.Lock()
        # requests answered or being answered but not yet counted: /_test/writes
        # waits for them, so a client that has its answer finds it counted
        self.uncounted = 0
        self.counted = threading.Condition(self.lock)
        self.reset()

    def begin(self):
        with self.lock:
            self.uncounted += 1

    def settle(self, timeout_s=2.0):
        """Waits (with the lock held on return) until every begun request is counted."""
        deadline = time.monotonic() + timeout_s
        while self.uncounted > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.counted.wait(left)

    def reset(self):
        with self.lock:
            self.seq = 0
            self.writes = collections.Counter()
            self.reads = collections.Counter()
            self.recent = collections.deque(maxlen=RECENT_WRITES_MAX)
            self.invalid = collections.deque(maxlen=INVALID_MAX)

    def request(self, verb, method, path, label, user, code, ms, begun=False):
        with self.lock:
            if begun:
                self.uncounted -= 1
                self.counted.notify_all()
            if method in WRITE_METHODS:
                self.seq += 1
                self.writes[f"{method} {label}"] += 1
                self.recent.append(
                    {
                        "seq": self.seq,
                        "time": time.time(),
                        "method": method,
                        "path": path,
                        "resource": label,
                        "user": user,
                        "code": code,
                        "ms": ms,
                    }
                )
            else:
                self.reads[f"{verb} {label}"] += 1

    def rejected(self, ctx, rt, name, causes):
        with self.lock:
            self.invalid.append(
                {
                    "time": time.time(),
                    "method": ctx.method,
                    "path": ctx.path,
                    "user": ctx.user,
                    "kind": rt.kind,
                    "name": name,
                    "causes": [{"field": f, "reason": r, "message": m} for f, r, m in causes],
                }
            )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, opts, ssl_ctx, app):
        self.opts = opts
        self.ssl_ctx = ssl_ctx
        self.app = app
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # small writes (headers, then body; one chunk per watch event) must not wait
        # for the peer's delayed ACK
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the TLS handshake runs in the connection's own thread (Handler.setup)
        return self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            return  # a client that went away or failed the handshake
        self.app.log(f"error serving {client_address}: {exc!r}")


class App:
    """Everything a request handler needs; one per process."""

    def __init__(self, opts, schema, store, api, token):
        self.opts = opts
        self.schema = schema
        self.store = store
        self.api = api
        self.token = token
        self.faults = Rules()
        self.delays = Rules()
        self.recorder = Recorder()
        self.openapi = OpenAPIv3(schema)
        self.bookmark_interval_s = opts.bookmark_interval
        self.port = 0
        self.log_lock = threading.Lock()
        self.access = open(os.path.join(opts.dir, "access.log"), "a", buffering=1, encoding="utf-8")

    def log(self, line):
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        with self.log_lock:
            self.access.write(f"{stamp} {line}\n")
            if self.opts.verbose:
                print(f"{stamp} {line}", file=sys.stderr, flush=True)

    def authenticate(self, handler):
        """The user name, or None."""
        cert = handler.connection.getpeercert()
        if cert:
            cn = None
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            if cn:
                return cn
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            if tok == self.token:
                return "test-token-user"
            return self.api.verify(tok)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ledgerlet-test-apiserver"
    sys_version = ""

    def setup(self):
        self.request.settimeout(HANDSHAKE_TIMEOUT_S)
        self.request.do_handshake()
        self.request.settimeout(IDLE_TIMEOUT_S)
        super().setup()

    def log_request(self, code="-", size="-"):
        pass  # App.log writes one line per request instead

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def do_PUT(self):
        self.serve()

    def do_PATCH(self):
        self.serve()

    def do_DELETE(self):
        self.serve()

    # ---- one request ----

    def serve(self):
        app = self.server.app
        t0 = time.monotonic()
        self.user = None
        self.code = 0
        self.streaming = False
        self.begun = False
        self.verb = self.command
        self.label = ""
        url = urllib.parse.urlsplit(self.path)
        self.query = {
            k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()
        }
        self.url_path = url.path
        try:
            body = self.read_body()
            self.user = app.authenticate(self)
            if self.user is None:
                raise apierrors.unauthorized()
            if url.path.startswith("/_test/"):
                self.control(url.path, body)
            else:
                parts = [p for p in url.path.split("/") if p]
                route = parse_route(parts)
                if route is not None:
                    # named before any injected failure, so failed attempts are counted too
                    self.label = route.label()
                    if self.command == "GET" and (route.watch_path or self.watching()):
                        self.verb = "WATCH"
                    elif self.command == "GET" and route.name is None:
                        self.verb = "LIST"
                    if self.verb != "WATCH":
                        app.recorder.begin()
                        self.begun = True
                self.inject(f"{self.command} {self.path}")
                self.dispatch(url.path, parts, route, body)
        except ApiError as e:
            self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug: answer 500 (unless streaming) and keep serving
            app.log(f"internal error on {self.command} {self.path}: {traceback.format_exc()}")
            if self.streaming:
                self.close_connection = True
            else:
                self.send_error_status(ApiError(500, f"internal error: {e!r}", "InternalError"))
        ms = int((time.monotonic() - t0) * 1000)
        app.log(f"{self.user or '-'} {self.verb} {self.path} {self.code} {ms}ms")
        if self.label:
            app.recorder.request(
                self.verb, self.command, self.path, self.label, self.user, self.code, ms,
                begun=self.begun,
            )

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > BODY_BYTES_MAX:
                    self.close_connection = True
                    raise ApiError(413, "the request body is too large", "RequestEntityTooLarge")
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_BYTES_MAX:
            self.close_connection = True
            raise ApiError(413, "the request body is too large", "RequestEntityTooLarge")
        return self.rfile.read(length) if length else b""

    def inject(self, line):
        app = self.server.app
        d = app.delays.take(line)
        if d:
            time.sleep(max(0, d.get("ms", 0)) / 1000)
        f = app.faults.take(line)
        if f:
            code = f.get("code", 500)
            raise apierrors.injected(
                code, f.get("message") or f"injected failure ({code})", f.get("retryAfter")
            )

    # ---- responses ----

    def send_json(self, code, obj, headers=()):
        data = json.dumps(obj, separators=(",", ":")).encode()
        self.send_bytes(code, data, "application/json", headers)

    def send_bytes(self, code, data, ctype, headers=()):
        self.code = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_status(self, e):
        headers = [("Retry-After", str(e.retry_after_s))] if e.retry_after_s else []
        if e.code == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="kubernetes-master"'))
        self.send_json(e.code, e.status(), headers)

    def json_body(self, body):
        if not body:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("", "application/json", "*/*") and ctype not in PATCH_TYPES:
            # a typed client-go client that sent protobuf switches to JSON on a 415
            raise apierrors.unsupported_media(ctype)
        try:
            return json.loads(body)
        except ValueError as e:
            raise apierrors.bad_request(f"error decoding the request body as JSON: {e}") from None

    # ---- routing ----

    def watching(self):
        return self.query.get("watch") in ("1", "true", "True")

    def dispatch(self, path, parts, route, body):
        app = self.server.app
        if self.command == "GET" and route is None:
            if self.static_doc(path, parts):
                return
        if route is None:
            raise ApiError(
                404,
                "the server could not find the requested resource",
                "NotFound",
                {
                    "causes": [
                        {"reason": "UnexpectedServerResponse", "message": "404 page not found"}
                    ]
                },
            )
        rt = route.rt
        if route.sub is not None and route.sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        ctx = Context(self.user, self.command, self.path, dry_run=self.query.get("dryRun") == "All")
        ns = route.namespace
        if rt.namespaced and ns is None and self.command != "GET":
            raise apierrors.method_not_allowed(f"{self.command} on all namespaces")
        method = self.command
        if method == "GET":
            watching = route.watch_path or self.watching()
            if route.name is None or watching:
                if watching:
                    if route.name is not None:
                        sel = f"metadata.name={route.name}"
                        fs = self.query.get("fieldSelector")
                        self.query["fieldSelector"] = f"{fs},{sel}" if fs else sel
                    return self.watch(rt, ns)
                items, meta = app.api.list(rt, ns, self.query)
                return self.send_list(rt, items, meta)
            if route.sub not in (None, "status", "log"):
                raise apierrors.method_not_allowed(f"GET {route.label()}")
            if route.sub == "log":
                raise ApiError(
                    404,
                    f'pods "{route.name}" log is not available: this test API server '
                    f"has no kubelet proxy",
                    "NotFound",
                )
            obj = app.api.get(rt, ns, route.name)
            return self.send_object(rt, obj)
        if method == "POST":
            payload = self.json_body(body)
            if route.name is None:
                return self.send_json(201, app.api.create(ctx, rt, ns, payload))
            if route.sub == "binding":
                return self.send_json(201, app.api.bind(ctx, ns, route.name, payload))
            if route.sub == "token":
                return self.send_json(201, app.api.token(ctx, ns, route.name, payload))
            raise apierrors.method_not_allowed(f"POST {route.label()}")
        if route.name is None:
            if method == "DELETE":
                opts = self.delete_options(body)
                return self.send_json(200, app.api.delete_collection(ctx, rt, ns, self.query, opts))
            raise apierrors.method_not_allowed(f"{method} on a collection")
        if route.sub not in (None, "status"):
            raise apierrors.method_not_allowed(f"{method} {route.label()}")
        if method == "PUT":
            obj, created = app.api.update(ctx, rt, ns, route.name, route.sub, self.json_body(body))
            return self.send_json(201 if created else 200, obj)
        if method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in PATCH_TYPES:
                raise apierrors.unsupported_media(ctype)
            payload = self.json_body(body)
            return self.send_json(
                200, app.api.patch(ctx, rt, ns, route.name, route.sub, ctype, payload)
            )
        if method == "DELETE":
            if route.sub is not None:
                raise apierrors.method_not_allowed(f"DELETE {route.label()}")
            code, out = app.api.delete(ctx, rt, ns, route.name, self.delete_options(body))
            return self.send_json(code, out)
        raise apierrors.method_not_allowed(method)

    def delete_options(self, body):
        opts = self.json_body(body) or {}
        if not isinstance(opts, dict):
            raise apierrors.bad_request("DeleteOptions must be a JSON object")
        if "gracePeriodSeconds" in self.query:
            try:
                opts["gracePeriodSeconds"] = int(self.query["gracePeriodSeconds"])
            except ValueError:
                raise apierrors.bad_request("gracePeriodSeconds must be an integer") from None
        if "propagationPolicy" in self.query:
            opts["propagationPolicy"] = self.query["propagationPolicy"]
        causes = self.server.app.schema.validate(opts, "", "v1", "DeleteOptions")
        if causes:
            raise apierrors.bad_request(
                "invalid DeleteOptions: " + "; ".join(f"{f}: {m}" for f, _, m in causes)
            )
        return opts

    def static_doc(self, path, parts):
        """Discovery, version, health and OpenAPI; True when answered."""
        app = self.server.app
        doc = None
        if path in ("/healthz", "/readyz", "/livez"):
            self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            return True
        if path == "/version":
            doc = discovery.VERSION
        elif path == "/api":
            doc = discovery.api_versions(app.port)
        elif path == "/apis":
            doc = discovery.api_groups()
        elif parts == ["api", "v1"]:
            doc = discovery.resource_list("", "v1")
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(parts[1])
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.resource_list(parts[1], parts[2])
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
        elif path == "/openapi/v2":
            self.send_bytes(200, app.schema.raw, "application/json")
            return True
        elif path == "/openapi/v3":
            doc = app.openapi.root()
        elif parts[:2] == ["openapi", "v3"]:
            data = app.openapi.document("/".join(parts[2:]))
            if data is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            self.send_bytes(200, data, "application/json")
            return True
        if doc is None:
            return False
        self.send_json(200, doc)
        return True

    # ---- output forms: object, list, Table, PartialObjectMetadata ----

    def wanted_form(self):
        accept = self.headers.get("Accept") or ""
        first = accept.split(",")[0]
        if "as=Table" in first:
            return "Table"
        if "as=PartialObjectMetadata" in first:
            return "Partial"
        return "Object"

    def include(self):
        inc = self.query.get("includeObject") or "Metadata"
        if inc not in ("None", "Metadata", "Object"):
            raise apierrors.bad_request(f"includeObject: unsupported value {inc!r}")
        return inc

    def send_object(self, rt, obj):
        form = self.wanted_form()
        if form == "Table":
            app = self.server.app
            stored = rt.from_view(obj)
            doc = tables.table(
                rt,
                [stored],
                self.include(),
                {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                lambda o: app.api.view(rt, o),
            )
            return self.send_json(200, doc)
        if form == "Partial":
            return self.send_json(
                200,
                {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            )
        return self.send_json(200, obj)

    def send_list(self, rt, items, meta):
        app = self.server.app
        form = self.wanted_form()
        if form == "Table":
            return self.send_json(
                200, tables.table(rt, items, self.include(), meta, lambda o: app.api.view(rt, o))
            )
        if form == "Partial":
            return self.send_json(
                200,
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [
                        {
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": o["metadata"],
                        }
                        for o in items
                    ],
                },
            )
        # list items carry no kind/apiVersion, as the real server writes them
        self.send_json(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": [_untyped(app.api.view(rt, o)) for o in items],
            },
        )

    # ---- watch ----

    def watch(self, rt, ns):
        app = self.server.app
        q = self.query
        pred = app.api.predicate(rt, q)
        timeout_s = None
        if q.get("timeoutSeconds"):
            try:
                timeout_s = int(q["timeoutSeconds"])
            except ValueError:
                raise apierrors.bad_request("timeoutSeconds must be an integer") from None
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
        rv_text = q.get("resourceVersion", "")
        initial = q.get("sendInitialEvents") in ("1", "true", "True")
        if initial and (q.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise ApiError(
                422,
                "sendInitialEvents requires resourceVersionMatch=NotOlderThan and "
                "allowWatchBookmarks=true",
                "Invalid",
            )
        since = None
        if rv_text not in ("", "0") and not initial:
            try:
                since = int(rv_text)
            except ValueError:
                raise apierrors.bad_request(
                    f'resourceVersion: Invalid value: "{rv_text}"'
                ) from None
        form = self.wanted_form()
        include = self.include() if form == "Table" else None
        info = {"path": self.path, "user": self.user, "started": time.time(), "resource": rt.plural}
        try:
            w = app.store.watch(rt.storage, ns, pred, since, info, initial_end=initial)
        except ApiError as e:
            if e.code != 410:
                raise
            # the real server answers an expired watch with 200 and one ERROR event
            self.start_stream()
            self.send_event({"type": "ERROR", "object": e.status()})
            self.end_stream()
            return
        self.start_stream()
        try:
            self.stream(rt, w, timeout_s, bookmarks, form, include)
        finally:
            app.store.unwatch(w)

    def start_stream(self):
        self.code = 200
        self.streaming = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def send_event(self, ev):
        data = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")

    def stream(self, rt, w, timeout_s, bookmarks, form, include):
        app = self.server.app
        now = time.monotonic()
        deadline = now + timeout_s if timeout_s else None
        next_bookmark = now + app.bookmark_interval_s if bookmarks else None

        def render(obj):
            if form == "Table":
                return tables.table(
                    rt,
                    [obj],
                    include,
                    {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    lambda o: app.api.view(rt, o),
                )
            return app.api.view(rt, obj)

        while True:
            now = time.monotonic()
            waits = [1.0]
            if deadline is not None:
                if now >= deadline:
                    break
                waits.append(deadline - now)
            if next_bookmark is not None:
                waits.append(max(0.0, next_bookmark - now))
            try:
                item = w.q.get(timeout=max(0.01, min(waits)))
            except queue.Empty:
                if _peer_gone(self.connection):
                    self.close_connection = True
                    return
                if next_bookmark is not None and time.monotonic() >= next_bookmark:
                    with app.store.lock:
                        rv = app.store.rv if w.q.empty() else None
                    if rv is not None:
                        self.send_event(self.bookmark(rt, rv, False))
                    next_bookmark = time.monotonic() + app.bookmark_interval_s
                continue
            if item == Watcher.DROP:
                # cut the TCP connection: no TLS close_notify, no final chunk
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if item == Watcher.CLOSE:
                break
            kind, payload = item
            if kind == "INITIAL_END":
                self.send_event(self.bookmark(rt, payload, True))
                continue
            self.send_event({"type": kind, "object": render(payload)})
        self.end_stream()

    @staticmethod
    def bookmark(rt, rv, initial_end):
        meta = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
        }

    # ---- /_test/ ----

    def control(self, path, body):
        app = self.server.app
        what = path[len("/_test/") :]
        payload = self.json_body(body) or {}
        if not isinstance(payload, dict):
            raise apierrors.bad_request("a control request body must be a JSON object")
        r = app.recorder
        if self.command == "GET" and what == "writes":
            since = self.query.get("since") or "0"
            if not since.isdigit():
                raise apierrors.bad_request("since must be a sequence number")
            since = int(since)
            with r.lock:
                r.settle()
                doc = {
                    "seq": r.seq,
                    "counts": dict(r.writes),
                    "reads": dict(r.reads),
                    "recent": [w for w in r.recent if w["seq"] > since],
                }
            return self.send_json(200, doc)
        if self.command == "GET" and what == "invalid":
            with r.lock:
                return self.send_json(200, {"items": list(r.invalid)})
        if self.command == "GET" and what == "info":
            st = app.store
            with st.lock:
                doc = {
                    "resourceVersion": str(st.rv),
                    "compactedRevision": str(st.compacted),
                    "history": len(st.history),
                    "objects": {k: len(v) for k, v in st.data.items()},
                    "watches": [w.info for w in st.watchers],
                    "faults": app.faults.describe(),
                    "delays": app.delays.describe(),
                    "bookmarkInterval": app.bookmark_interval_s,
                    "port": app.port,
                }
            return self.send_json(200, doc)
        if self.command != "POST":
            raise apierrors.method_not_allowed(f"{self.command} {path}")
        if what == "reset-counters":
            r.reset()
            return self.send_json(200, {"ok": True})
        if what == "compact":
            keep = payload.get("keep", 0)
            if not isinstance(keep, int) or keep < 0:
                raise apierrors.bad_request("keep must be a non-negative integer")
            return self.send_json(
                200,
                {
                    "compactedRevision": str(app.store.compact(keep)),
                    "resourceVersion": str(app.store.rv),
                },
            )
        if what == "drop-watches":
            return self.send_json(200, {"dropped": app.store.stop_watches(Watcher.DROP)})
        if what == "fail":
            app.faults.add(payload, {"code": (400, 599), "retryAfter": (0, 3600)})
            return self.send_json(200, {"rules": app.faults.describe()})
        if what == "delay":
            app.delays.add(payload, {"ms": (0, 600000)})
            return self.send_json(200, {"rules": app.delays.describe()})
        if what == "config":
            if "bookmarkInterval" in payload:
                v = payload["bookmarkInterval"]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    raise apierrors.bad_request("bookmarkInterval must be a positive number")
                app.bookmark_interval_s = v
            return self.send_json(200, {"bookmarkInterval": app.bookmark_interval_s})
        raise ApiError(404, f"no control endpoint {path}\n{CONTROL}", "NotFound")


def _untyped(obj):
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def _peer_gone(sock):
    """True if a watch client closed its end (or sent anything: it has no reason to)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


# ---- start-up ----


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="ledgerlet's test Kubernetes API server",
        epilog=CONTROL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", required=True, help="state, certificates and kubeconfigs")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port on 127.0.0.1 (0: any free one; default: the previous one if free)",
    )
    p.add_argument(
        "--schema", default=DEFAULT_SCHEMA, help="OpenAPI v2 schema (default: %(default)s)"
    )
    p.add_argument("--scheduler", action="store_true", help="bind unscheduled pods to ready nodes")
    p.add_argument("--compact-keep", type=int, default=1000, help="watch history length in events")
    p.add_argument(
        "--bookmark-interval", type=float, default=10.0, help="seconds between bookmarks"
    )
    p.add_argument("--node-name", default="node-1", help="CN suffix of the node client certificate")
    p.add_argument(
        "--sa-token-volumes",
        action="store_true",
        help="give pods the kube-api-access projected volume, as real clusters do",
    )
    p.add_argument("--fsync", action="store_true", help="fsync state.json on every write")
    p.add_argument("-v", "--verbose", action="store_true", help="access log on stderr too")
    opts = p.parse_args(argv)
    if opts.compact_keep < 1:
        p.error("--compact-keep must be at least 1")
    if opts.bookmark_interval <= 0:
        p.error("--bookmark-interval must be positive")
    return opts


def die(msg):
    print(f"apiserver: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def lock_dir(d):
    f = open(os.path.join(d, "lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            with open(os.path.join(d, "pid")) as pf:
                other = pf.read().strip()
        except OSError:
            other = "?"
        die(f"another apiserver (pid {other}) is using {d}")
    return f


def seed(store, api):
    """A fresh cluster: the four namespaces, each with its default service account
    and root CA config map, and the kubernetes service."""
    system = Context("system:apiserver", "POST", "")
    ns_rt = resources.lookup("", "v1", "namespaces")
    for ns in ("default", "kube-system", "kube-node-lease", "kube-public"):
        if store.peek("namespaces", "", ns) is None:
            api.create(
                system,
                ns_rt,
                None,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        else:
            api.seed_namespace(ns)
    if store.peek("services", "default", "kubernetes") is None:
        api.create(
            system,
            resources.lookup("", "v1", "services"),
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.96.0.1",
                    "clusterIPs": ["10.96.0.1"],
                    "ports": [
                        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}
                    ],
                },
            },
        )


def bind(opts, ssl_ctx, app):
    previous = None
    try:
        with open(os.path.join(opts.dir, "port")) as f:
            previous = int(f.read().strip())
    except (OSError, ValueError):
        pass
    candidates = [opts.port] if opts.port is not None else ([previous, 0] if previous else [0])
    last = None
    for port in candidates:
        try:
            return Server(("127.0.0.1", port), opts, ssl_ctx, app)
        except OSError as e:
            last = e
            if e.errno != errno.EADDRINUSE:
                break
    die(f"cannot listen on 127.0.0.1:{candidates[-1]}: {last}")


def main(argv):
    opts = parse_args(argv)
    opts.dir = os.path.abspath(opts.dir)
    try:
        schema = Schema(opts.schema)
    except SchemaError as e:
        die(f"{e} (give the OpenAPI v2 document with --schema)")
    os.makedirs(opts.dir, mode=0o700, exist_ok=True)
    dir_lock = lock_dir(opts.dir)
    try:
        token = certs.ensure(opts.dir, opts.node_name)
    except certs.PkiError as e:
        die(str(e))
    with open(os.path.join(opts.dir, "ca.crt")) as f:
        ca_pem = f.read()
    with open(os.path.join(opts.dir, "sa.key")) as f:
        sa_key = f.read().strip()

    store = Store(os.path.join(opts.dir, "state.json"), opts.compact_keep, opts.fsync)
    try:
        n = store.load()
    except (ValueError, KeyError) as e:
        die(f"cannot load {store.path}: {e}")
    holder = {}
    api = Api(
        store,
        schema,
        ca_pem,
        sa_key,
        lambda *a: holder["app"].recorder.rejected(*a),
        sa_token_volumes=opts.sa_token_volumes,
    )
    app = App(opts, schema, store, api, token)
    app.dir_lock = dir_lock  # held for the life of the process
    holder["app"] = app
    seed(store, api)

    ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ssl_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ssl_ctx.load_cert_chain(
        os.path.join(opts.dir, "server.crt"), os.path.join(opts.dir, "server.key")
    )
    ssl_ctx.load_verify_locations(os.path.join(opts.dir, "ca.crt"))
    ssl_ctx.verify_mode = ssl.CERT_OPTIONAL
    ssl_ctx.set_alpn_protocols(["http/1.1"])

    httpd = bind(opts, ssl_ctx, app)
    app.port = httpd.server_address[1]
    certs.write_kubeconfigs(opts.dir, app.port, token)
    certs.write_atomic(os.path.join(opts.dir, "port"), f"{app.port}\n")
    certs.write_atomic(os.path.join(opts.dir, "pid"), f"{os.getpid()}\n")

    sched = None
    if opts.scheduler:
        sched = Scheduler(api, store, app.log)
        sched.start()

    def on_term(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    app.log(f"started: {n} objects loaded, resourceVersion {store.rv}, port {app.port}")
    print(f"listening on https://127.0.0.1:{app.port}", flush=True)
    httpd.serve_forever(poll_interval=0.2)

    # SIGTERM: end watch streams cleanly, then go
    if sched:
        sched.stop()
    store.stop_watches(Watcher.CLOSE)
    time.sleep(0.2)
    httpd.server_close()
    with store.lock:
        store.save()
    app.log("stopped")
    try:
        os.unlink(os.path.join(opts.dir, "pid"))
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
