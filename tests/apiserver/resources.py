"""The resource types the test API server serves, and what the real server does to them.

For each resource: its group/version/kind, scope, short names, verbs and
subresources (for discovery), the fields its field selectors support, and the
strategy hooks the write path calls: defaulting on create (pods get what
SetDefaults_Pod, the ServiceAccount, Priority and DefaultTolerationSeconds admission
plugins add; namespaces their finalizer and phase), which parts a main-resource write
or a /status write may change, the pod update rules (spec is immutable but for
images, activeDeadlineSeconds, added tolerations and removed scheduling gates), the
container state transitions a status write may not make, and metadata checks
(names, labels, annotations) that come before schema validation.

Core v1 events are also served as events.k8s.io/v1 through a field-for-field
conversion: one storage, two views, as in the real server.
"""

import copy
import re
from dataclasses import dataclass, field
from fractions import Fraction

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
ANNOTATIONS_BYTES_MAX = 256 * 1024
READ_VERBS = ["get", "list", "watch"]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    storage: str  # the store's key; two views of one storage share it
    short_names: list = field(default_factory=list)
    verbs: list = field(default_factory=lambda: list(ALL_VERBS))
    subresources: dict = field(default_factory=dict)  # name -> (kind, verbs)
    fields: tuple = ()  # field selector names besides metadata.name/namespace
    categories: list = field(default_factory=list)
    status_split: bool = False  # main writes keep status, /status writes only status
    create_on_update: bool = False
    name_re: re.Pattern = DNS1123_SUBDOMAIN

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def list_kind(self):
        return self.kind + "List"

    def field_names(self):
        return {"metadata.name", "metadata.namespace", *self.fields}

    # Conversion between the stored form and this view (identity for all but
    # events.k8s.io/v1).
    def to_view(self, obj):
        return obj

    def from_view(self, obj):
        return obj

    def field_alias(self, name):
        return name


class EventsV1(ResourceType):
    """events.k8s.io/v1 Event, stored as core v1 Event."""

    # events.k8s.io/v1 name -> core v1 name (top-level fields)
    RENAMES = {
        "regarding": "involvedObject",
        "note": "message",
        "reportingController": "reportingComponent",
        "deprecatedSource": "source",
        "deprecatedFirstTimestamp": "firstTimestamp",
        "deprecatedLastTimestamp": "lastTimestamp",
        "deprecatedCount": "count",
    }
    BACK = {v: k for k, v in RENAMES.items()}

    def to_view(self, obj):
        out = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
        for k, v in obj.items():
            if k not in ("kind", "apiVersion"):
                out[self.BACK.get(k, k)] = copy.deepcopy(v)
        return out

    def from_view(self, obj):
        out = {"kind": "Event", "apiVersion": "v1"}
        for k, v in obj.items():
            if k not in ("kind", "apiVersion"):
                out[self.RENAMES.get(k, k)] = copy.deepcopy(v)
        return out

    def field_alias(self, name):
        head, _, rest = name.partition(".")
        core = self.RENAMES.get(head, head)
        return core + ("." + rest if rest else "")

    def field_names(self):
        names = {"metadata.name", "metadata.namespace"}
        for f in EVENT_FIELDS:
            head, _, rest = f.partition(".")
            names.add(self.BACK.get(head, head) + ("." + rest if rest else ""))
        return names


POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

# fmt: off
STATUS = ["get", "patch", "update"]


def _core(plural, kind, namespaced, **kw):
    return ResourceType("", "v1", plural, kind, namespaced, storage=plural, **kw)


RESOURCES = [
    _core("namespaces", "Namespace", False, short_names=["ns"],
          verbs=["create", "get", "list", "patch", "update", "watch"],
          subresources={"status": ("Namespace", STATUS)}, fields=("status.phase",),
          status_split=True, name_re=DNS1123_LABEL),
    _core("nodes", "Node", False, short_names=["no"], subresources={"status": ("Node", STATUS)},
          fields=("spec.unschedulable",), status_split=True),
    _core("pods", "Pod", True, short_names=["po"], categories=["all"],
          subresources={"status": ("Pod", STATUS), "binding": ("Binding", ["create"]),
                        "log": ("Pod", ["get"])},
          fields=POD_FIELDS, status_split=True),
    _core("events", "Event", True, short_names=["ev"], fields=EVENT_FIELDS, create_on_update=True),
    _core("configmaps", "ConfigMap", True, short_names=["cm"]),
    _core("secrets", "Secret", True, fields=("type",)),
    _core("services", "Service", True, short_names=["svc"], categories=["all"],
          subresources={"status": ("Service", STATUS)}, status_split=True,
          name_re=DNS1123_LABEL),
    _core("serviceaccounts", "ServiceAccount", True, short_names=["sa"],
          subresources={"token": ("TokenRequest", ["create"])}),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, storage="leases"),
    EventsV1("events.k8s.io", "v1", "events", "Event", True, storage="events", short_names=["ev"]),
]

# fmt: on

BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_STORAGE = {}
for _r in RESOURCES:
    BY_STORAGE.setdefault(_r.storage, _r)
GROUPS = {}  # group -> [version]
for _r in RESOURCES:
    if _r.group and _r.version not in GROUPS.setdefault(_r.group, []):
        GROUPS[_r.group].append(_r.version)


def lookup(group, version, plural):
    return BY_PATH.get((group, version, plural))


# ---- field selector values ----


def _s(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def field_values(rt, obj):
    """The values of the selectable fields of a stored object (core form)."""
    meta = obj.get("metadata") or {}
    f = {"metadata.name": _s(meta.get("name")), "metadata.namespace": _s(meta.get("namespace"))}
    storage = rt.storage
    if storage == "pods":
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        f.update(
            {
                "spec.nodeName": _s(spec.get("nodeName")),
                "spec.restartPolicy": _s(spec.get("restartPolicy")),
                "spec.schedulerName": _s(spec.get("schedulerName")),
                "spec.serviceAccountName": _s(spec.get("serviceAccountName")),
                "spec.hostNetwork": _s(bool(spec.get("hostNetwork"))),
                "status.phase": _s(status.get("phase")),
                "status.podIP": _s(status.get("podIP")),
                "status.nominatedNodeName": _s(status.get("nominatedNodeName")),
            }
        )
    elif storage == "nodes":
        f["spec.unschedulable"] = _s(bool((obj.get("spec") or {}).get("unschedulable")))
    elif storage == "namespaces":
        f["status.phase"] = _s((obj.get("status") or {}).get("phase"))
    elif storage == "secrets":
        f["type"] = _s(obj.get("type"))
    elif storage == "events":
        io = obj.get("involvedObject") or {}
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            f["involvedObject." + k] = _s(io.get(k))
        f["reason"] = _s(obj.get("reason"))
        f["reportingComponent"] = _s(obj.get("reportingComponent"))
        f["source"] = _s((obj.get("source") or {}).get("component"))
        f["type"] = _s(obj.get("type"))
    return f


# ---- quantities and QoS ----

_SUFFIX = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|([KMGTPE]i|[numkMGTPE]))?$")


def quantity(v):
    """A Quantity as a Fraction; None if it does not parse."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return Fraction(v)
    m = _QTY.match(str(v).strip())
    if not m:
        return None
    num = Fraction(m.group(1))
    if m.group(2):
        return num * Fraction(10) ** int(m.group(2)[1:])
    return num * _SUFFIX[m.group(3) or ""]


def qos_class(spec):
    """The pod's QoS class by the real rules (cpu and memory of all containers)."""
    requests, limits, guaranteed = {}, {}, True
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        res = c.get("resources") or {}
        for name, q in (res.get("requests") or {}).items():
            qv = quantity(q)
            if name in ("cpu", "memory") and qv and qv > 0:
                requests[name] = requests.get(name, 0) + qv
        found = set()
        for name, q in (res.get("limits") or {}).items():
            qv = quantity(q)
            if name in ("cpu", "memory") and qv and qv > 0:
                found.add(name)
                limits[name] = limits.get(name, 0) + qv
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed:
        for name, req in requests.items():
            if limits.get(name) != req:
                guaranteed = False
        if guaranteed and len(requests) == len(limits):
            return "Guaranteed"
    return "Burstable"


# ---- defaulting ----


def _default_probe(p):
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    _default_handler(p)


def _default_handler(h):
    if isinstance(h, dict) and isinstance(h.get("httpGet"), dict):
        h["httpGet"].setdefault("path", "/")
        h["httpGet"].setdefault("scheme", "HTTP")


def _image_pull_policy(image):
    name = (image or "").split("@")[0]
    if "@" in (image or ""):
        return "IfNotPresent"
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_container(c, host_network):
    if not isinstance(c, dict):
        return
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        c["imagePullPolicy"] = _image_pull_policy(c.get("image"))
    res = c.setdefault("resources", {})
    if isinstance(res, dict) and isinstance(res.get("limits"), dict):
        req = res.setdefault("requests", {})
        if isinstance(req, dict):
            for k, v in res["limits"].items():
                req.setdefault(k, v)
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if host_network and "containerPort" in p:
                p.setdefault("hostPort", p["containerPort"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))
    lc = c.get("lifecycle")
    if isinstance(lc, dict):
        _default_handler(lc.get("postStart"))
        _default_handler(lc.get("preStop"))
    for e in c.get("env") or []:
        vf = e.get("valueFrom") if isinstance(e, dict) else None
        if isinstance(vf, dict) and isinstance(vf.get("fieldRef"), dict):
            vf["fieldRef"].setdefault("apiVersion", "v1")


NOT_READY_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def default_pod(pod, creating):
    """Defaults in place. creating: also what the DefaultTolerationSeconds admission
    plugin adds on create (the other admission steps are Api._admit_pod's)."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    host_network = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            _default_container(c, host_network)
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        if len(v) == 1 and "name" in v:
            v["emptyDir"] = {}
        for src in ("secret", "configMap", "downwardAPI", "projected"):
            if isinstance(v.get(src), dict):
                v[src].setdefault("defaultMode", 420)
        if isinstance(v.get("hostPath"), dict):
            v["hostPath"].setdefault("type", "")
    if creating:
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tol = spec.setdefault("tolerations", [])
        if isinstance(tol, list):
            for t in NOT_READY_TOLERATIONS:
                if not any(_tolerates(x, t) for x in tol if isinstance(x, dict)):
                    tol.append(dict(t))


def _tolerates(tol, taint):
    """Does toleration tol tolerate taint (key, value, effect)?"""
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    op = tol.get("operator") or "Equal"
    if not tol.get("key"):
        return op == "Exists"
    if tol.get("key") != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return (tol.get("value") or "") == (taint.get("value") or "")


def tolerates(tolerations, taint):
    return any(_tolerates(t, taint) for t in tolerations or [] if isinstance(t, dict))


def default_object(rt, obj, creating):
    """Per-kind defaulting; called on create and update with the object to store."""
    if rt.storage == "pods":
        default_pod(obj, creating)
        if creating:
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    elif rt.storage == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        name = obj["metadata"].get("name", "")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    elif rt.storage == "nodes":
        status = obj.get("status")
        if isinstance(status, dict) and "capacity" in status and "allocatable" not in status:
            status["allocatable"] = copy.deepcopy(status["capacity"])
    elif rt.storage == "secrets":
        obj.setdefault("type", "Opaque")
    elif rt.storage == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                if "targetPort" not in p and "port" in p:
                    p["targetPort"] = p["port"]
        obj.setdefault("status", {}).setdefault("loadBalancer", {})


# ---- checks before schema validation ----


def check_metadata(rt, obj):
    """Name, namespace, label and annotation rules; returns causes (field, reason, msg)."""
    causes = []
    meta = obj.get("metadata")
    if meta is None:
        return [
            (
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        ]
    if not isinstance(meta, dict):
        return []  # the schema has said so
    name = meta.get("name")
    if not name:
        causes.append(
            (
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        )
    elif (
        not isinstance(name, str)
        or len(name) > 253
        or not rt.name_re.match(name)
        or (rt.name_re is DNS1123_LABEL and len(name) > 63)
    ):
        what = "RFC 1123 label" if rt.name_re is DNS1123_LABEL else "RFC 1123 subdomain"
        causes.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                f"alphanumeric characters, '-' or '.', and must start and end with an "
                f"alphanumeric character",
            )
        )
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for k, v in labels.items():
            if not _qualified_name(k):
                causes.append(
                    (
                        "metadata.labels",
                        "FieldValueInvalid",
                        f'Invalid value: "{k}": name part must '
                        "consist of alphanumeric characters, '-', '_' or '.', and must start "
                        "and end with an alphanumeric character (at most 63 characters)",
                    )
                )
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                causes.append(
                    (
                        "metadata.labels",
                        "FieldValueInvalid",
                        f"Invalid value: {v!r}: a valid label "
                        "must be an empty string or consist of alphanumeric characters, '-', "
                        "'_' or '.', and must start and end with an alphanumeric character "
                        "(at most 63 characters)",
                    )
                )
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
        if size > ANNOTATIONS_BYTES_MAX:
            causes.append(
                (
                    "metadata.annotations",
                    "FieldValueTooLong",
                    f"Too long: must have at most {ANNOTATIONS_BYTES_MAX} bytes",
                )
            )
        for k in annotations:
            if not _qualified_name(k):
                causes.append(
                    (
                        "metadata.annotations",
                        "FieldValueInvalid",
                        f'Invalid value: "{k}": '
                        "name part must consist of alphanumeric characters, '-', '_' or '.'",
                    )
                )
    return causes


RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def check_kind_rules(rt, obj, ns):
    """A few of the real per-kind validations, for objects being created (stored form)."""
    if rt.storage == "pods":
        return check_pod_spec(obj.get("spec"))
    if rt.storage == "events":
        io_ns = (obj.get("involvedObject") or {}).get("namespace") or ""
        if (io_ns == "" and ns not in ("", "default")) or (io_ns != "" and io_ns != ns):
            return [
                (
                    "involvedObject.namespace",
                    "FieldValueInvalid",
                    f'Invalid value: "{io_ns}": does not match event.namespace',
                )
            ]
    return []


def check_pod_spec(spec):
    """What ValidatePodSpec says most often: names, images, policies, volumes."""
    causes = []
    if not isinstance(spec, dict):
        return causes
    if not spec.get("containers"):
        causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    names = set()
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(key) or []):
            if not isinstance(c, dict):
                continue
            path = f"spec.{key}[{i}]"
            name = c.get("name")
            if not name:
                causes.append((f"{path}.name", "FieldValueRequired", "Required value"))
            elif not isinstance(name, str) or len(name) > 63 or not DNS1123_LABEL.match(name):
                causes.append(
                    (
                        f"{path}.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{name}": a lowercase RFC 1123 label must consist '
                        "of lower case alphanumeric characters or '-'",
                    )
                )
            elif name in names:
                causes.append((f"{path}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
            names.add(name)
            if key != "ephemeralContainers" and not c.get("image"):
                causes.append((f"{path}.image", "FieldValueRequired", "Required value"))
            if c.get("imagePullPolicy") not in (None,) + PULL_POLICIES:
                causes.append(
                    (
                        f"{path}.imagePullPolicy",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{c.get("imagePullPolicy")}"',
                    )
                )
    if spec.get("restartPolicy") not in (None,) + RESTART_POLICIES:
        causes.append(
            (
                "spec.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("restartPolicy")}"',
            )
        )
    if spec.get("dnsPolicy") not in (None,) + DNS_POLICIES:
        causes.append(
            (
                "spec.dnsPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("dnsPolicy")}"',
            )
        )
    vols = set()
    for i, v in enumerate(spec.get("volumes") or []):
        if isinstance(v, dict):
            if v.get("name") in vols:
                causes.append(
                    (
                        f"spec.volumes[{i}].name",
                        "FieldValueDuplicate",
                        f'Duplicate value: "{v.get("name")}"',
                    )
                )
            vols.add(v.get("name"))
    return causes


def _qualified_name(k):
    if not isinstance(k, str) or not k:
        return False
    prefix, _, name = k.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.match(name))


_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
    "previously negative)"
)


def check_pod_update(old, new):
    """The real ValidatePodUpdate rule for spec; returns causes."""
    ospec, nspec = old.get("spec") or {}, copy.deepcopy(new.get("spec") or {})
    for key in ("containers", "initContainers"):
        olds, news = ospec.get(key) or [], nspec.get(key) or []
        if len(olds) == len(news):
            for o, n in zip(olds, news):
                if isinstance(n, dict) and isinstance(o, dict) and n.get("image"):
                    n["image"] = o.get("image")
    oad, nad = ospec.get("activeDeadlineSeconds"), nspec.get("activeDeadlineSeconds")
    if nad is not None and (oad is None or (isinstance(nad, int) and 0 < nad <= oad)):
        if oad is None:
            nspec.pop("activeDeadlineSeconds")
        else:
            nspec["activeDeadlineSeconds"] = oad
    otol, ntol = ospec.get("tolerations") or [], nspec.get("tolerations") or []
    if all(t in ntol for t in otol):
        if otol:
            nspec["tolerations"] = otol
        else:
            nspec.pop("tolerations", None)
    og, ng = ospec.get("schedulingGates") or [], nspec.get("schedulingGates") or []
    if all(g in og for g in ng):
        if og:
            nspec["schedulingGates"] = og
        else:
            nspec.pop("schedulingGates", None)
    otg, ntg = ospec.get("terminationGracePeriodSeconds"), nspec.get(
        "terminationGracePeriodSeconds"
    )
    if isinstance(otg, int) and otg < 0 and ntg == 1:
        nspec["terminationGracePeriodSeconds"] = otg
    if nspec != ospec:
        diff = sorted(k for k in set(nspec) | set(ospec) if nspec.get(k) != ospec.get(k))
        return [
            (
                "spec",
                "FieldValueForbidden",
                f"Forbidden: {_POD_UPDATE_FORBIDDEN}; "
                f"changed: {', '.join('spec.' + d for d in diff)}",
            )
        ]
    return []


TERMINAL = ("Succeeded", "Failed")


def check_pod_status_update(old, new):
    """Transitions a pod status write may not make (ValidatePodStatusUpdate)."""
    causes = []
    ost, nst = old.get("status") or {}, new.get("status") or {}
    if ost.get("phase") in TERMINAL and nst.get("phase") != ost.get("phase"):
        causes.append(
            (
                "status.phase",
                "FieldValueForbidden",
                f"Forbidden: cannot transition from terminal phase {ost.get('phase')} "
                f"to {nst.get('phase')}",
            )
        )
    policy = (old.get("spec") or {}).get("restartPolicy", "Always")
    for key in ("containerStatuses", "initContainerStatuses"):
        olds = {c.get("name"): c for c in ost.get(key) or [] if isinstance(c, dict)}
        for i, c in enumerate(nst.get(key) or []):
            if not isinstance(c, dict) or c.get("name") not in olds:
                continue
            o = olds[c["name"]]
            oterm = (o.get("state") or {}).get("terminated")
            nterm = (c.get("state") or {}).get("terminated")
            if not oterm or nterm:
                continue
            # restartable (sidecar) init containers may run again
            if key == "initContainerStatuses" and _is_sidecar(old, c["name"]):
                continue
            code = oterm.get("exitCode", 0)
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                causes.append(
                    (
                        f"status.{key}[{i}].state",
                        "FieldValueForbidden",
                        f"Forbidden: may not be transitioned to non-terminated state "
                        f"(restartPolicy {policy}, exit code {code})",
                    )
                )
    pod_ips = nst.get("podIPs") or []
    if (
        nst.get("podIP")
        and pod_ips
        and isinstance(pod_ips[0], dict)
        and pod_ips[0].get("ip") != nst.get("podIP")
    ):
        causes.append(
            (
                "status.podIPs[0].ip",
                "FieldValueInvalid",
                f"Invalid value: must match status.podIP {nst.get('podIP')!r}",
            )
        )
    if len(pod_ips) > 2:
        causes.append(("status.podIPs", "FieldValueTooMany", "Too many: must have at most 2 items"))
    return causes


def _is_sidecar(pod, name):
    for c in (pod.get("spec") or {}).get("initContainers") or []:
        if isinstance(c, dict) and c.get("name") == name:
            return c.get("restartPolicy") == "Always"
    return False
