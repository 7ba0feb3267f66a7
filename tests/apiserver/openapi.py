"""OpenAPI v3 documents, made from the OpenAPI v2 schema file.

kubectl 1.32 reads OpenAPI v3 first: `kubectl apply` looks there for the
fieldValidation parameter of the kind's PATCH operation (found: the server validates,
as this one does; not found: kubectl validates itself with OpenAPI v2, which it can
only read as protobuf), and `kubectl explain` reads its schemas there. So
/openapi/v3 lists one document per group-version this server serves, and each is the
v2 document's paths under that prefix rewritten in v3 form (body parameters become
requestBody, response schemas move under content, parameters are inlined) with the
definitions they reach as components.schemas.
"""

import hashlib
import json
import threading

import resources

V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"


class OpenAPIv3:
    def __init__(self, schema):
        self.schema = schema
        self.doc = None
        self.lock = threading.Lock()
        self.cache = {}  # "api/v1" -> bytes

    def _v2(self):
        if self.doc is None:
            self.doc = json.loads(self.schema.raw)
        return self.doc

    def group_versions(self):
        gvs = ["api/v1"]
        for group, versions in sorted(resources.GROUPS.items()):
            gvs += [f"apis/{group}/{v}" for v in versions]
        return gvs

    def root(self):
        paths = {}
        for gv in self.group_versions():
            digest = hashlib.sha512(self.document(gv)).hexdigest().upper()
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
        return {"paths": paths}

    def document(self, gv):
        """The v3 document of one group-version as JSON bytes; None if not served."""
        if gv not in self.group_versions():
            return None
        with self.lock:
            if gv not in self.cache:
                self.cache[gv] = json.dumps(self._build(gv), separators=(",", ":")).encode()
            return self.cache[gv]

    def _build(self, gv):
        v2 = self._v2()
        prefix = "/" + gv + "/"
        paths = {}
        for path, item in v2.get("paths", {}).items():
            if path.startswith(prefix) or path == prefix:
                paths[path] = self._path_item(item)
        reached = {}
        self._collect(paths, reached)
        schemas = {name: _refs(d) for name, d in sorted(reached.items())}
        security = v2.get("securityDefinitions", {})
        return {
            "openapi": "3.0.0",
            "info": dict(v2.get("info") or {"title": "Kubernetes", "version": "unversioned"}),
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    k: {kk: vv for kk, vv in v.items()} for k, v in security.items()
                },
            },
            "security": v2.get("security", []),
        }

    def _param(self, p):
        if "$ref" in p:
            p = self._v2().get("parameters", {}).get(p["$ref"].split("/")[-1], {})
        return p

    def _path_item(self, item):
        out = {}
        for key, value in item.items():
            if key == "parameters":
                out["parameters"] = [
                    _v3_param(self._param(p)) for p in value if self._param(p).get("in") != "body"
                ]
            elif key in ("get", "put", "post", "delete", "patch", "head", "options"):
                out[key] = self._operation(value)
            else:
                out[key] = value
        return out

    def _operation(self, op):
        out = {}
        params = []
        for p in op.get("parameters", []):
            p = self._param(p)
            if p.get("in") == "body":
                out["requestBody"] = {
                    "content": {
                        ct: {"schema": _refs(p.get("schema", {}))}
                        for ct in op.get("consumes", ["application/json"])
                    },
                    "required": bool(p.get("required")),
                }
            else:
                params.append(_v3_param(p))
        for key, value in op.items():
            if key in (
                "description",
                "operationId",
                "tags",
                "summary",
                "deprecated",
            ) or key.startswith("x-"):
                out[key] = value
        if params:
            out["parameters"] = params
        responses = {}
        for code, resp in (op.get("responses") or {}).items():
            r = {"description": resp.get("description", "")}
            if "schema" in resp:
                r["content"] = {
                    ct: {"schema": _refs(resp["schema"])}
                    for ct in op.get("produces", ["application/json"])
                }
            responses[code] = r
        out["responses"] = responses
        return out

    def _collect(self, node, reached):
        """Adds every definition reachable from node (v3 refs) to reached."""
        stack = [node]
        defs = self.schema.defs
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                ref = n.get("$ref")
                if isinstance(ref, str):
                    name = ref.split("/")[-1]
                    if name in defs and name not in reached:
                        reached[name] = defs[name]
                        stack.append(_refs(defs[name]))
                stack.extend(n.values())
            elif isinstance(n, list):
                stack.extend(n)


def _v3_param(p):
    out = {k: p[k] for k in ("name", "in", "description", "required") if k in p}
    schema = {k: p[k] for k in ("type", "format", "uniqueItems", "items", "enum") if k in p}
    out["schema"] = schema
    return out


def _refs(node):
    """A copy of node with v2 definition refs rewritten to v3 component refs."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(V2_REF):
                out[k] = V3_REF + v[len(V2_REF) :]
            else:
                out[k] = _refs(v)
        return out
    if isinstance(node, list):
        return [_refs(x) for x in node]
    return node
