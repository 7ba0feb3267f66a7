"""A minimal default-scheduler, for tests that need pods bound without a real one.

Binds each pod that has no spec.nodeName (schedulerName default-scheduler, no
scheduling gates, not being deleted) to the first node by name that is Ready, is
schedulable, whose NoSchedule/NoExecute taints the pod tolerates, and which matches
the pod's nodeSelector and required node affinity. Binding sets spec.nodeName and the
PodScheduled=True condition and records a Scheduled event; a pod that fits nowhere gets
PodScheduled=False (reason Unschedulable) and a FailedScheduling event, and is tried
again whenever a pod or node changes (and every second). Resources, ports, pod
affinity and spreading are not considered.
"""

import copy
import secrets
import threading
import uuid

import api as api_mod
import resources
from apierrors import ApiError
from store import ADDED, MODIFIED

RETRY_S = 1.0


class Scheduler:
    def __init__(self, api, store, log):
        self.api = api
        self.store = store
        self.log = log
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        store.listeners.append(self._changed)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.wake.set()

    def _changed(self, storage):
        if storage in ("pods", "nodes"):
            self.wake.set()

    def _run(self):
        while not self.stopping:
            self.wake.wait(RETRY_S)
            self.wake.clear()
            try:
                self.schedule_all()
            except Exception as e:  # a scheduler bug must not stop the server
                self.log(f"scheduler: {e!r}")

    def schedule_all(self):
        ctx = api_mod.Context("system:kube-scheduler", "POST", "scheduler")
        with self.store.lock:
            pending = [p for p in self.store.items("pods") if _wants_scheduling(p)]
            nodes = list(self.store.items("nodes"))
            for pod in pending:
                fit, why = None, {}
                for node in nodes:
                    reason = unfit(pod, node)
                    if reason is None:
                        fit = node
                        break
                    why[reason] = why.get(reason, 0) + 1
                if fit is not None:
                    self._bind(ctx, pod, fit)
                else:
                    self._unschedulable(ctx, pod, len(nodes), why)

    def _bind(self, ctx, pod, node):
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        try:
            self.api.bind_pod(ctx, pod, node["metadata"]["name"])
        except ApiError as e:
            self.log(f"scheduler: binding {ns}/{name}: {e.message}")
            return
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns}/{name} to {node['metadata']['name']}",
        )

    def _unschedulable(self, ctx, pod, n_nodes, why):
        parts = ", ".join(f"{n} {r}" for r, n in sorted(why.items()))
        msg = f"0/{n_nodes} nodes are available" + (f": {parts}." if parts else ".")
        for c in (pod.get("status") or {}).get("conditions") or []:
            if (
                c.get("type") == "PodScheduled"
                and c.get("status") == "False"
                and c.get("message") == msg
            ):
                return
        new = copy.deepcopy(pod)
        api_mod.set_condition(
            new.setdefault("status", {}),
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": api_mod.now_rfc3339(),
                "reason": "Unschedulable",
                "message": msg,
            },
        )
        self.store.commit("pods", MODIFIED, new, pod)
        self._event(pod, "Warning", "FailedScheduling", msg)

    def _event(self, pod, type_, reason, message):
        meta = pod["metadata"]
        ns = meta["namespace"]
        if self.store.peek("namespaces", "", ns) is None:
            return
        now = api_mod.now_rfc3339()
        ev = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now,
            },
            "involvedObject": {
                "kind": "Pod",
                "namespace": ns,
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "source": {"component": "default-scheduler"},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "count": 1,
            "type": type_,
            "eventTime": api_mod.now_micro(),
            "action": "Scheduling",
            "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler",
        }
        self.store.commit("events", ADDED, ev, None)


def _wants_scheduling(pod):
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    return (
        not spec.get("nodeName")
        and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
        and not meta.get("deletionTimestamp")
        and not spec.get("schedulingGates")
        and (pod.get("status") or {}).get("phase") not in resources.TERMINAL
    )


def unfit(pod, node):
    """None if the pod may go to the node, else a reason (as the scheduler words it)."""
    spec = pod.get("spec") or {}
    nspec, nstatus = node.get("spec") or {}, node.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in nstatus.get("conditions") or []
    )
    if not ready:
        return "node(s) were not ready"
    tolerations = spec.get("tolerations") or []
    if nspec.get("unschedulable") and not resources.tolerates(
        tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ):
        return "node(s) were unschedulable"
    for taint in nspec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not resources.tolerates(
            tolerations, taint
        ):
            return "node(s) had untolerated taint(s)"
    labels = node["metadata"].get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return "node(s) didn't match Pod's node affinity/selector"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms and not any(_term_matches(t, node) for t in terms):
        return "node(s) didn't match Pod's node affinity/selector"
    return None


def _term_matches(term, node):
    labels = node["metadata"].get("labels") or {}
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for e in exprs:
        if not _expr_matches(e, labels):
            return False
    for e in fields:
        if e.get("key") != "metadata.name" or not _expr_matches(
            e, {"metadata.name": node["metadata"]["name"]}
        ):
            return False
    return True


def _expr_matches(e, labels):
    key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
    have = labels.get(key)
    if op == "In":
        return have in values
    if op == "NotIn":
        return have not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        try:
            h, v = int(have), int(values[0])
        except (TypeError, ValueError, IndexError):
            return False
        return h > v if op == "Gt" else h < v
    return False
