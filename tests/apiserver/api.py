"""The REST semantics of the API server, between the HTTP layer and the store.

get, list, create, update (PUT), patch, delete and the pods/binding and
serviceaccounts/token subresources, each as the real server's generic registry
does them: metadata the server owns (uid, creationTimestamp, resourceVersion,
generation, deletionTimestamp) is set here and never taken from the client;
metadata.resourceVersion and metadata.uid in a written object are preconditions
(409 Conflict when stale); a write that changes nothing is not stored and bumps no
resourceVersion; pods are deleted gracefully when bound and not terminal; objects
with finalizers stay until their finalizers are gone.

Every object a client writes is checked after any patch has been applied: metadata
rules, then the OpenAPI schema. A failure is a 422 Invalid naming the fields, and is
also handed to `on_invalid` so tests can list what was rejected.

Each operation takes the store lock for its whole read-check-write, so operations
are serializable, like etcd transactions on one key.
"""

import base64
import copy
import datetime
import hashlib
import hmac
import json
import secrets
import time
import uuid

import apierrors
import match
import resources
from apierrors import ApiError
from patch import PatchError, json_patch, merge_patch, strategic_merge
from store import ADDED, DELETED, MODIFIED

GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
LIST_LIMIT_MAX = 10000
SERVER_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
TOKEN_SECONDS_DEFAULT = 3600
# the PriorityClasses every cluster has
SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": 2000001000,
    "system-cluster-critical": 2000000000,
}
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def now_rfc3339(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Context:
    """Who asks, and how: the parts of a request the semantics depend on."""

    def __init__(self, user, method, path, dry_run=False):
        self.user = user
        self.method = method
        self.path = path
        self.dry_run = dry_run


class Api:
    def __init__(self, store, schema, ca_pem, sa_key, on_invalid, sa_token_volumes=False):
        self.store = store
        self.sa_token_volumes = sa_token_volumes
        self.schema = schema
        self.ca_pem = ca_pem
        self.sa_key = sa_key.encode()
        self.on_invalid = on_invalid  # (ctx, rt, name, causes) -> None

    # ---- helpers ----

    def view(self, rt, obj):
        """A stored object as the client of `rt` sees it (a new dict)."""
        return rt.to_view(copy.deepcopy(obj)) if obj is not None else None

    def _reject(self, ctx, rt, name, causes):
        self.on_invalid(ctx, rt, name, causes)
        raise apierrors.invalid(rt, name or "", causes)

    def _check_written(self, ctx, rt, body, name):
        """Kind, apiVersion, metadata rules and the schema, on the client's object."""
        if not isinstance(body, dict):
            raise apierrors.bad_request("the body of the request must be a JSON object")
        av, kind = body.get("apiVersion"), body.get("kind")
        if av not in (None, "", rt.api_version):
            raise apierrors.bad_request(
                f"the API version in the data ({av}) does not match the "
                f"expected API version ({rt.api_version})"
            )
        if kind not in (None, "", rt.kind):
            raise apierrors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        causes = self.schema.validate(body, rt.group, rt.version, rt.kind)
        causes += resources.check_metadata(rt, body)
        if causes:
            self._reject(ctx, rt, name, causes)

    def _namespace_exists(self, ns):
        if self.store.peek("namespaces", "", ns) is None:
            raise apierrors.namespace_not_found(ns)

    # ---- reads ----

    def get(self, rt, ns, name):
        obj = self.store.peek(rt.storage, ns, name)
        if obj is None:
            raise apierrors.not_found(rt, name)
        return self.view(rt, obj)

    def predicate(self, rt, query):
        labels = match.parse_labels(query.get("labelSelector", ""))
        fields_text = query.get("fieldSelector", "")
        field_pred = match.parse_fields(fields_text, rt.field_names()) if fields_text else None

        names = rt.field_names()

        def pred(obj):
            if not labels((obj.get("metadata") or {}).get("labels")):
                return False
            if field_pred is None:
                return True
            # field values are computed on the stored form; a view may name them otherwise
            stored = resources.field_values(rt, obj)
            return field_pred({n: stored.get(rt.field_alias(n), "") for n in names})

        return pred

    def list(self, rt, ns, query):
        """(items in view form, list metadata)."""
        pred = self.predicate(rt, query)
        limit = _int_param(query, "limit", 0)
        rv_text = query.get("resourceVersion", "")
        rv_match = query.get("resourceVersionMatch", "")
        token = query.get("continue", "")
        start = None
        with self.store.lock:
            if token:
                at_rv, start = _decode_continue(token)
                try:
                    objs = self.store.items_at(rt.storage, ns, at_rv)
                except ApiError as e:
                    if e.code == 410:
                        raise apierrors.expired(
                            "The provided continue parameter is too old to display a consistent "
                            "list result. You can start a new list without the continue "
                            "parameter."
                        ) from None
                    raise
                list_rv = at_rv
            elif rv_text not in ("", "0") and rv_match == "Exact":
                at_rv = _parse_rv(rv_text)
                objs = self.store.items_at(rt.storage, ns, at_rv)
                list_rv = at_rv
            else:
                if rv_text not in ("", "0") and _parse_rv(rv_text) > self.store.rv:
                    raise apierrors.too_large_rv(rv_text)
                objs = self.store.items(rt.storage, ns)
                list_rv = self.store.rv
            out, remaining, last_key = [], 0, None
            for obj in objs:
                key = [obj["metadata"].get("namespace") or "", obj["metadata"]["name"]]
                if start is not None and key <= start:
                    continue
                if not pred(obj):
                    continue
                if limit and len(out) >= limit:
                    remaining += 1
                    continue
                out.append(obj)
                last_key = key
            meta = {"resourceVersion": str(list_rv)}
            if remaining:
                meta["continue"] = _encode_continue(list_rv, last_key)
                meta["remainingItemCount"] = remaining
            return out, meta

    # ---- create ----

    def create(self, ctx, rt, ns, body):
        name = ((body or {}).get("metadata") or {}).get("name") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            meta = body["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice(GENERATE_ALPHABET) for _ in range(5)
                )
                name = meta["name"]
        self._check_written(ctx, rt, body, name)
        obj = rt.from_view(body)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise apierrors.bad_request(
                    "the namespace of the provided object does not match "
                    "the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(
                500, "resourceVersion should not be set on objects to be created", "InternalError"
            )
        with self.store.lock:
            if rt.namespaced:
                self._namespace_exists(ns)
            if self.store.peek(rt.storage, ns, meta["name"]) is not None:
                raise apierrors.already_exists(rt, meta["name"])
            return self._store_new(ctx, rt, obj)

    def _store_new(self, ctx, rt, obj):
        meta = obj["metadata"]
        causes = resources.check_kind_rules(rt, obj, meta.get("namespace") or "")
        if causes:
            self._reject(ctx, rt, meta["name"], causes)
        for k in SERVER_META:
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.storage == "pods":
            meta["generation"] = 1
        stored_as = resources.BY_STORAGE[rt.storage]
        obj["kind"], obj["apiVersion"] = stored_as.kind, stored_as.api_version
        resources.default_object(rt, obj, creating=True)
        if rt.storage == "pods":
            self._admit_pod(obj)
        obj = _ordered(obj)
        if ctx.dry_run:
            obj["metadata"]["resourceVersion"] = str(self.store.rv)
            return self.view(rt, obj)
        stored = self.store.commit(rt.storage, ADDED, obj, None)
        if rt.storage == "namespaces":
            self.seed_namespace(meta["name"])
        return self.view(rt, stored)

    def seed_namespace(self, ns):
        """What the service-account and root-CA controllers add to a namespace."""
        sa = resources.lookup("", "v1", "serviceaccounts")
        cm = resources.lookup("", "v1", "configmaps")
        system = Context("system:controller", "POST", "")
        if self.store.peek("serviceaccounts", ns, "default") is None:
            self._store_new(
                system,
                sa,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": ns},
                },
            )
        if self.store.peek("configmaps", ns, "kube-root-ca.crt") is None:
            self._store_new(
                system,
                cm,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": ns,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle "
                            "that can be used to verify the kube-apiserver when "
                            "using internal endpoints such as the internal "
                            "service IP or kubernetes.default.svc."
                        },
                    },
                    "data": {"ca.crt": self.ca_pem},
                },
            )

    def _admit_pod(self, pod):
        """The Priority and ServiceAccount admission plugins (403 Forbidden when they refuse)."""
        spec, meta = pod["spec"], pod["metadata"]
        name, ns = meta["name"], meta["namespace"]

        def forbid(msg):
            raise ApiError(
                403,
                f'pods "{name}" is forbidden: {msg}',
                "Forbidden",
                {"name": name, "kind": "pods"},
            )

        pcn = spec.get("priorityClassName")
        if pcn and pcn not in SYSTEM_PRIORITY_CLASSES:
            forbid(f"no PriorityClass with name {pcn} was found")
        value = SYSTEM_PRIORITY_CLASSES.get(pcn, 0)
        if spec.get("priority") is not None and spec["priority"] != value:
            forbid(
                f"the integer value of priority ({spec['priority']}) must not be provided in "
                f"pod spec; priority admission controller computed {value} from the given "
                f"PriorityClass name"
            )
        spec["priority"] = value
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            # mirror pods are left as the kubelet wrote them
            if spec.get("serviceAccountName") or spec.get("serviceAccount"):
                forbid("a mirror pod may not reference service accounts")
            return
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        sa = self.store.peek("serviceaccounts", ns, sa_name)
        if sa is None:
            forbid(
                f'error looking up service account {ns}/{sa_name}: serviceaccount "{sa_name}" '
                f"not found"
            )
        spec["serviceAccountName"] = spec["serviceAccount"] = sa_name
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = sa.get("automountServiceAccountToken", True)
        if self.sa_token_volumes and automount:
            _mount_token(spec)

    # ---- update and patch ----

    def update(self, ctx, rt, ns, name, sub, body):
        self._check_written(ctx, rt, body, name)
        obj = rt.from_view(body)
        meta = obj["metadata"]
        if meta.get("name") != name:
            raise apierrors.bad_request(
                f"the name of the object ({meta.get('name')}) does not "
                f"match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise apierrors.bad_request(
                "the namespace of the provided object does not match "
                "the namespace sent on the request"
            )
        with self.store.lock:
            old = self.store.peek(rt.storage, ns, name)
            if old is None:
                if rt.create_on_update and sub is None:
                    if rt.namespaced:
                        self._namespace_exists(ns)
                        meta["namespace"] = ns
                    meta.pop("resourceVersion", None)
                    return self._store_new(ctx, rt, obj), True
                raise apierrors.not_found(rt, name)
            return self._store_update(ctx, rt, old, obj, sub), False

    def patch(self, ctx, rt, ns, name, sub, ctype, body):
        with self.store.lock:
            old = self.store.peek(rt.storage, ns, name)
            if old is None:
                raise apierrors.not_found(rt, name)
            current = self.view(rt, old)
            try:
                if ctype == "application/merge-patch+json":
                    patched = merge_patch(current, body)
                elif ctype == "application/strategic-merge-patch+json":
                    node = self.schema.root(rt.group, rt.version, rt.kind)
                    patched = strategic_merge(current, body, self.schema, node)
                elif ctype == "application/json-patch+json":
                    patched = json_patch(current, body)
                else:
                    raise apierrors.unsupported_media(ctype)
            except PatchError as e:
                raise ApiError(422, f"the patch could not be applied: {e}", "Invalid") from None
            if not isinstance(patched, dict):
                raise ApiError(422, "the patched object is not a JSON object", "Invalid")
            self._check_written(ctx, rt, patched, name)
            obj = rt.from_view(patched)
            obj["metadata"]["name"] = name
            if rt.namespaced:
                obj["metadata"]["namespace"] = ns
            return self._store_update(ctx, rt, old, obj, sub)

    def _store_update(self, ctx, rt, old, obj, sub):
        """Writes obj over old (both stored form); preconditions, strategy, no-op check."""
        name = old["metadata"]["name"]
        meta, ometa = obj["metadata"], old["metadata"]
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != ometa["resourceVersion"]:
            raise apierrors.conflict(rt, name, apierrors.STALE)
        want_uid = meta.get("uid")
        if want_uid and want_uid != ometa["uid"]:
            raise apierrors.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: "
                f"{want_uid}, UID in object meta: {ometa['uid']}",
            )
        new = self._apply_strategy(ctx, rt, old, obj, sub)
        if _same(new, old):
            return self.view(rt, old)
        nmeta = new["metadata"]
        if (
            nmeta.get("deletionTimestamp")
            and not nmeta.get("finalizers")
            and not nmeta.get("deletionGracePeriodSeconds")
        ):
            # the last finalizer is gone from an object being deleted
            if ctx.dry_run:
                return self.view(rt, new)
            return self.view(rt, self.store.commit(rt.storage, DELETED, None, old))
        if ctx.dry_run:
            return self.view(rt, new)
        return self.view(rt, self.store.commit(rt.storage, MODIFIED, new, old))

    def _apply_strategy(self, ctx, rt, old, obj, sub):
        """The object to store for a write of obj over old: server-owned metadata from
        old, and the status/main split of status_split resources."""
        ometa = old["metadata"]
        if sub == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            for k in ("labels", "annotations"):
                if k in obj["metadata"]:
                    new["metadata"][k] = obj["metadata"][k]
                else:
                    new["metadata"].pop(k, None)
            if rt.storage == "pods":
                causes = resources.check_pod_status_update(old, new)
                if causes:
                    self._reject(ctx, rt, ometa["name"], causes)
            return _ordered(new)
        new = obj
        nmeta = new["metadata"]
        for k in SERVER_META:
            if k in ometa:
                nmeta[k] = ometa[k]
            else:
                nmeta.pop(k, None)
        nmeta["name"] = ometa["name"]
        if ometa.get("namespace"):
            nmeta["namespace"] = ometa["namespace"]
        nmeta["resourceVersion"] = ometa["resourceVersion"]
        new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
        if rt.status_split:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        resources.default_object(rt, new, creating=False)
        if rt.storage == "pods":
            causes = resources.check_pod_update(old, new)
            if causes:
                self._reject(ctx, rt, ometa["name"], causes)
            if new.get("spec") != old.get("spec"):
                nmeta["generation"] = ometa.get("generation", 1) + 1
        if rt.storage == "namespaces":
            nmeta.setdefault("labels", {})["kubernetes.io/metadata.name"] = ometa["name"]
        return _ordered(new)

    # ---- delete ----

    def delete(self, ctx, rt, ns, name, options):
        """(HTTP code, body). options: a DeleteOptions dict (query merged in)."""
        if rt.storage == "namespaces":
            raise apierrors.method_not_allowed("namespace deletion is not supported")
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
            raise apierrors.bad_request("gracePeriodSeconds must be an integer")
        pre = options.get("preconditions") or {}
        with self.store.lock:
            old = self.store.peek(rt.storage, ns, name)
            if old is None:
                raise apierrors.not_found(rt, name)
            ometa = old["metadata"]
            if pre.get("uid") and pre["uid"] != ometa["uid"]:
                raise apierrors.conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: "
                    f"{pre['uid']}, UID in object meta: {ometa['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != ometa["resourceVersion"]:
                raise apierrors.conflict(
                    rt,
                    name,
                    f"Precondition failed: ResourceVersion in "
                    f"precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {ometa['resourceVersion']}",
                )
            period = self._grace_period(rt, old, grace)
            new = copy.deepcopy(old)
            nmeta = new["metadata"]
            if ometa.get("deletionTimestamp"):
                old_period = ometa.get("deletionGracePeriodSeconds") or 0
                if old_period and period is not None and period < old_period:
                    # only a shorter grace period may be given: counted from the first request
                    first = _parse_time(ometa["deletionTimestamp"]) - datetime.timedelta(
                        seconds=old_period
                    )
                    nmeta["deletionTimestamp"] = _fmt_time(
                        first + datetime.timedelta(seconds=period)
                    )
                    nmeta["deletionGracePeriodSeconds"] = period
                elif old_period:
                    return 200, self.view(rt, old)  # graceful deletion pending: nothing to do
                else:
                    period = 0
            elif period:
                nmeta["deletionTimestamp"] = now_rfc3339(period)
                nmeta["deletionGracePeriodSeconds"] = period
                if nmeta.get("generation"):
                    nmeta["generation"] += 1
            if not nmeta.get("finalizers") and not nmeta.get("deletionGracePeriodSeconds"):
                gone = old if ctx.dry_run else self.store.commit(rt.storage, DELETED, None, old)
                if rt.storage == "pods":
                    return 200, self.view(rt, gone)
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        **({"group": rt.group} if rt.group else {}),
                        "kind": rt.plural,
                        "uid": ometa["uid"],
                    },
                }
            if not nmeta.get("deletionTimestamp"):
                # finalizers hold an object with no grace period
                nmeta["deletionTimestamp"] = now_rfc3339()
                nmeta["deletionGracePeriodSeconds"] = 0
            if ctx.dry_run or _same(new, old):
                return 200, self.view(rt, new)
            return 200, self.view(rt, self.store.commit(rt.storage, MODIFIED, new, old))

    @staticmethod
    def _grace_period(rt, obj, requested):
        """The pods' CheckGracefulDelete; other resources have no grace period."""
        if rt.storage != "pods":
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        period = (
            requested if requested is not None else spec.get("terminationGracePeriodSeconds", 0)
        )
        if not spec.get("nodeName") or status.get("phase") in resources.TERMINAL:
            period = 0
        if period < 0:
            period = 1
        return period

    def delete_collection(self, ctx, rt, ns, query, options):
        pred = self.predicate(rt, query)
        deleted = []
        with self.store.lock:
            for obj in list(self.store.items(rt.storage, ns)):
                if pred(obj):
                    _, body = self.delete(
                        ctx,
                        rt,
                        obj["metadata"].get("namespace", ""),
                        obj["metadata"]["name"],
                        options,
                    )
                    deleted.append(obj if body.get("kind") == "Status" else rt.from_view(body))
            return {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": [self.view(rt, o) for o in deleted],
            }

    # ---- subresources ----

    def bind(self, ctx, ns, name, body):
        """POST pods/NAME/binding: what a scheduler does."""
        rt = resources.lookup("", "v1", "pods")
        if not isinstance(body, dict) or not isinstance(body.get("target"), dict):
            raise apierrors.bad_request("a Binding needs a target")
        causes = self.schema.validate(body, "", "v1", "Binding")
        if causes:
            self._reject(ctx, rt, name, causes)
        target = body["target"]
        if target.get("kind") not in (None, "", "Node"):
            raise apierrors.bad_request(f"binding target must be a Node, not {target.get('kind')}")
        node = target.get("name") or ""
        if not node:
            self._reject(ctx, rt, name, [("target.name", "FieldValueRequired", "Required value")])
        with self.store.lock:
            pod = self.store.peek("pods", ns, name)
            if pod is None:
                raise apierrors.not_found(rt, name)
            self.bind_pod(ctx, pod, node)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    def bind_pod(self, ctx, pod, node):
        rt = resources.lookup("", "v1", "pods")
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp"):
            raise apierrors.conflict(
                rt, name, f"pod {name} is being deleted, cannot be assigned to a host"
            )
        assigned = (pod.get("spec") or {}).get("nodeName")
        if assigned:
            raise apierrors.conflict(
                rt, name, f'pod {name} is already assigned to node "{assigned}"'
            )
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = node
        set_condition(
            new.setdefault("status", {}),
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            },
        )
        if ctx.dry_run:
            return new
        return self.store.commit("pods", MODIFIED, _ordered(new), pod)

    def token(self, ctx, ns, name, body):
        """POST serviceaccounts/NAME/token: an HS256-signed token this server accepts."""
        rt = resources.lookup("", "v1", "serviceaccounts")
        body = body if isinstance(body, dict) else {}
        causes = self.schema.validate(body, "authentication.k8s.io", "v1", "TokenRequest")
        if causes:
            self._reject(ctx, rt, name, causes)
        sa = self.store.peek("serviceaccounts", ns, name)
        if sa is None:
            raise apierrors.not_found(rt, name)
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds") or TOKEN_SECONDS_DEFAULT
        spec["expirationSeconds"] = seconds
        spec.setdefault("audiences", ["https://kubernetes.default.svc.cluster.local"])
        now = int(time.time())
        claims = {
            "aud": spec["audiences"],
            "exp": now + seconds,
            "iat": now,
            "nbf": now,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": f"system:serviceaccount:{ns}:{name}",
            "kubernetes.io": {
                "namespace": ns,
                "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]},
            },
        }
        bound = spec.get("boundObjectRef")
        if isinstance(bound, dict) and bound.get("kind") == "Pod":
            claims["kubernetes.io"]["pod"] = {"name": bound.get("name"), "uid": bound.get("uid")}
        expires = datetime.datetime.fromtimestamp(now + seconds, datetime.timezone.utc)
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": spec,
            "status": {"token": self.sign(claims), "expirationTimestamp": _fmt_time(expires)},
        }

    def sign(self, claims):
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self.sa_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(mac)}"

    def verify(self, token):
        """The user name of a token this server signed, or None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        mac = hmac.new(self.sa_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64url(mac), parts[2]):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return None
        if claims.get("exp", 0) < time.time():
            return None
        return claims.get("sub")


# ---- small helpers ----


def _mount_token(spec):
    """The kube-api-access volume the ServiceAccount admission plugin adds, mounted in
    every container that has nothing at the service account path yet."""
    vol = "kube-api-access-" + "".join(secrets.choice(GENERATE_ALPHABET) for _ in range(5))
    spec.setdefault("volumes", []).append(
        {
            "name": vol,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.setdefault("volumeMounts", [])
            if not any(m.get("mountPath") == SA_MOUNT_PATH for m in mounts if isinstance(m, dict)):
                mounts.append({"name": vol, "readOnly": True, "mountPath": SA_MOUNT_PATH})


def set_condition(status, cond):
    """Sets a condition by type; keeps lastTransitionTime when the status is unchanged."""
    conds = status.setdefault("conditions", [])
    for i, c in enumerate(conds):
        if c.get("type") == cond["type"]:
            if c.get("status") == cond.get("status") and c.get("lastTransitionTime"):
                cond = {**cond, "lastTransitionTime": c["lastTransitionTime"]}
            conds[i] = cond
            return
    conds.append(cond)


def _same(a, b):
    """Equal but for resourceVersion and managedFields: such a write changes nothing."""

    def strip(o):
        o = dict(o)
        m = dict(o.get("metadata") or {})
        m.pop("resourceVersion", None)
        m.pop("managedFields", None)
        o["metadata"] = m
        return o

    return strip(a) == strip(b)


META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def _ordered(obj):
    """Fields in the order the real server writes them: kind, apiVersion, metadata
    (name, namespace, uid, resourceVersion...) first. Only for reading comfort."""
    out = {}
    for k in ("kind", "apiVersion", "metadata"):
        if k in obj:
            out[k] = obj[k]
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.setdefault("resourceVersion", "")
        ordered = {k: meta[k] for k in META_ORDER if k in meta}
        ordered.update((k, v) for k, v in meta.items() if k not in ordered)
        out["metadata"] = ordered
    return out


def _int_param(query, name, default):
    v = query.get(name)
    if v in (None, ""):
        return default
    try:
        n = int(v)
    except ValueError:
        raise apierrors.bad_request(f"{name}: invalid integer {v!r}") from None
    if n < 0:
        raise apierrors.bad_request(f"{name}: must be non-negative")
    return min(n, LIST_LIMIT_MAX) if name == "limit" else n


def _parse_rv(text):
    try:
        rv = int(text)
    except ValueError:
        raise apierrors.bad_request(
            f'resourceVersion: Invalid value: "{text}": must be an ' f"integer"
        ) from None
    if rv < 0:
        raise apierrors.bad_request(f'resourceVersion: Invalid value: "{text}"')
    return rv


def _encode_continue(rv, key):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token):
    try:
        d = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(d["rv"]), list(d["start"])
    except (ValueError, KeyError, TypeError):
        raise apierrors.bad_request("continue key is not valid") from None


def _b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _fmt_time(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
