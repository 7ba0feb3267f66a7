"""Server-side printing: meta.k8s.io/v1 Table objects for `kubectl get`.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
columns the server sends (priority 1 columns only with `-o wide`). The columns and
cell values follow the real server's printers (pkg/printers/internalversion) for
pods, nodes, namespaces, events, leases, configmaps, secrets, services and service
accounts; other kinds get NAME and AGE.
"""

import datetime

NAME_COL = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}
AGE_COL = {
    "name": "Age",
    "type": "string",
    "format": "",
    "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time when "
    "this object was created.",
}


def _col(name, priority=0, type_="string", desc=""):
    return {"name": name, "type": type_, "format": "", "priority": priority, "description": desc}


def parse_time(s):
    if not s:
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        rem = s % 60
        return f"{m}m{rem}s" if rem else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        rem = m % 60
        return f"{h}h{rem}m" if rem else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        rem = h % 24
        return f"{h // 24}d{rem}h" if rem else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        y, d = h // (24 * 365), (h // 24) % 365
        return f"{y}y{d}d" if d else f"{y}y"
    return f"{h // (24 * 365)}y"


def since(ts, now):
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return human_duration((now - t).total_seconds())


# ---- pods ----

POD_COLUMNS = [
    NAME_COL,
    _col("Ready"),
    _col("Status"),
    _col("Restarts"),
    AGE_COL,
    _col("IP", 1),
    _col("Node", 1),
    _col("Nominated Node", 1),
    _col("Readiness Gates", 1),
]


def _pod_row(pod, now):
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    restarts, sidecar_restarts, ready = 0, 0, 0
    last_restart = None
    total = len(spec.get("containers") or [])
    reason = status.get("reason") or status.get("phase") or ""
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    sidecars = {
        c.get("name")
        for c in spec.get("initContainers") or []
        if c.get("restartPolicy") == "Always"
    }
    total += len(sidecars)

    def note_restart(cs):
        nonlocal last_restart
        fin = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if fin and (last_restart is None or fin > last_restart):
            last_restart = fin

    initializing = False
    inits = status.get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        restarts += cs.get("restartCount", 0)
        note_restart(cs)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            if cs.get("started") and cs.get("ready"):
                ready += 1
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            continue
        if term:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif wait and wait.get("reason") and wait.get("reason") != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            note_restart(cs)
            state = cs.get("state") or {}
            term, wait = state.get("terminated"), state.get("waiting")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode', 0)}"
                )
            elif cs.get("ready") and state.get("running"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            reason = "Running" if ready_cond else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_s = str(restarts)
    if last_restart is not None:
        restarts_s = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        n = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_s = f"{n}/{len(gates)}"
    else:
        gates_s = "<none>"
    return [
        meta.get("name", ""),
        f"{ready}/{total}",
        reason,
        restarts_s,
        since(meta.get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_s,
    ]


# ---- nodes ----

NODE_COLUMNS = [
    NAME_COL,
    _col("Status"),
    _col("Roles"),
    AGE_COL,
    _col("Version"),
    _col("Internal-IP", 1),
    _col("External-IP", 1),
    _col("OS-Image", 1),
    _col("Kernel-Version", 1),
    _col("Container-Runtime", 1),
]


def _node_row(node, now):
    meta, spec, status = (
        node.get("metadata") or {},
        node.get("spec") or {},
        node.get("status") or {},
    )
    states = []
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready":
            states = ["Ready" if c.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for k, v in (meta.get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            roles.add(k[len("node-role.kubernetes.io/") :])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    roles.discard("")
    info = status.get("nodeInfo") or {}

    def addr(kind):
        for a in status.get("addresses") or []:
            if a.get("type") == kind:
                return a.get("address") or "<none>"
        return "<none>"

    return [
        meta.get("name", ""),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        since(meta.get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addr("InternalIP"),
        addr("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


# ---- the others ----


def _event_row(ev, now):
    io = ev.get("involvedObject") or {}
    last = (
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or (ev.get("series") or {}).get("lastObservedTime")
        or (ev.get("metadata") or {}).get("creationTimestamp")
    )
    obj = f"{(io.get('kind') or '').lower()}/{io.get('name', '')}"
    return [since(last, now), ev.get("type", ""), ev.get("reason", ""), obj, ev.get("message", "")]


EVENT_COLUMNS = [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")]

SERVICE_COLUMNS = [
    NAME_COL,
    _col("Type"),
    _col("Cluster-IP"),
    _col("External-IP"),
    _col("Port(s)"),
    AGE_COL,
    _col("Selector", 1),
]


def _service_row(svc, now):
    spec = svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    return [
        svc["metadata"]["name"],
        spec.get("type", ""),
        spec.get("clusterIP") or "<none>",
        "<none>",
        ports or "<none>",
        since(svc["metadata"].get("creationTimestamp"), now),
        selector or "<none>",
    ]


TABLES = {
    "pods": (POD_COLUMNS, _pod_row),
    "nodes": (NODE_COLUMNS, _node_row),
    "namespaces": (
        [NAME_COL, _col("Status"), AGE_COL],
        lambda o, now: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", ""),
            since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "configmaps": (
        [NAME_COL, _col("Data", 0, "integer"), AGE_COL],
        lambda o, now: [
            o["metadata"]["name"],
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "secrets": (
        [NAME_COL, _col("Type"), _col("Data", 0, "integer"), AGE_COL],
        lambda o, now: [
            o["metadata"]["name"],
            o.get("type", ""),
            len(o.get("data") or {}),
            since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "serviceaccounts": (
        [NAME_COL, _col("Secrets", 0, "integer"), AGE_COL],
        lambda o, now: [
            o["metadata"]["name"],
            len(o.get("secrets") or []),
            since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "services": (SERVICE_COLUMNS, _service_row),
    "leases": (
        [NAME_COL, _col("Holder"), AGE_COL],
        lambda o, now: [
            o["metadata"]["name"],
            (o.get("spec") or {}).get("holderIdentity", ""),
            since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "events": (EVENT_COLUMNS, _event_row),
}


def table(rt, objs, include, list_meta, view):
    """A Table of objs (stored form). include: "None", "Metadata" or "Object".

    view: converts a stored object to the requested API version's form."""
    now = datetime.datetime.now(datetime.timezone.utc)
    columns, row = TABLES.get(
        rt.storage,
        (
            [NAME_COL, AGE_COL],
            lambda o, now: [
                o["metadata"]["name"],
                since(o["metadata"].get("creationTimestamp"), now),
            ],
        ),
    )
    rows = []
    for o in objs:
        r = {"cells": row(o, now)}
        if include == "Object":
            r["object"] = view(o)
        elif include != "None":
            r["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            }
        rows.append(r)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
