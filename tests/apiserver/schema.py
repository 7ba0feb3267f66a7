"""The OpenAPI v2 document of the Kubernetes API: validation and patch metadata.

Two users: the write path validates every object a client writes (after a patch has
been applied) against the definition of its kind, and the strategic merge patch asks
which lists merge by which key (the x-kubernetes-patch-strategy and
x-kubernetes-patch-merge-key extensions, the same metadata the real server takes from
its Go struct tags).

Validation follows what decoding into the Go types plus `required` would reject:
wrong JSON types, integers that are not integers or overflow int32, unknown fields in
objects that list their properties, missing required fields, malformed Quantity,
RFC 3339 times, base64 `byte` strings and int-or-string values. JSON null is accepted
anywhere (Go decodes it to the zero value). Formats the real server checks later
(names, label syntax) are the resources module's business.
"""

import base64
import binascii
import json
import re

REF_PREFIX = "#/definitions/"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
MAX_ERRORS = 50
MAX_DEPTH = 64

QUANTITY_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class SchemaError(Exception):
    pass


class Schema:
    """The definitions of one OpenAPI v2 document, indexed by group/version/kind."""

    def __init__(self, path):
        try:
            with open(path, "rb") as f:
                self.raw = f.read()
            doc = json.loads(self.raw)
        except OSError as e:
            raise SchemaError(f"cannot read the OpenAPI schema {path}: {e.strerror}") from e
        except ValueError as e:
            raise SchemaError(f"the OpenAPI schema {path} is not JSON: {e}") from e
        self.path = path
        self.defs = doc.get("definitions") or {}
        if not self.defs:
            raise SchemaError(f"the OpenAPI schema {path} has no definitions")
        self.by_gvk = {}
        for name, d in self.defs.items():
            for gvk in d.get("x-kubernetes-group-version-kind", []):
                key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                self.by_gvk.setdefault(key, name)

    # ---- navigation, for the strategic merge patch ----

    def root(self, group, version, kind):
        """The schema node of a kind ({"$ref": ...}), or None when the kind is unknown."""
        name = self.by_gvk.get((group, version, kind))
        return {"$ref": REF_PREFIX + name} if name else None

    def resolve(self, node):
        """Follows $ref; returns the definition dict (or the node itself)."""
        depth = 0
        while node is not None and "$ref" in node and depth < 8:
            node = self.defs.get(node["$ref"][len(REF_PREFIX) :])
            depth += 1
        return node

    def field(self, node, key):
        """(child node, patch strategy, merge key) of field `key` of an object node.

        A map (additionalProperties) gives its value schema; an unknown field gives
        (None, "", None), for which the patch uses the default strategy."""
        d = self.resolve(node)
        if d is None:
            return None, "", None
        props = d.get("properties")
        if props is not None and key in props:
            p = props[key]
            return (
                p,
                p.get("x-kubernetes-patch-strategy", ""),
                p.get("x-kubernetes-patch-merge-key"),
            )
        ap = d.get("additionalProperties")
        if isinstance(ap, dict):
            return ap, "", None
        return None, "", None

    def items(self, node):
        d = self.resolve(node)
        if d is None:
            return None
        return d.get("items")

    # ---- validation ----

    def validate(self, obj, group, version, kind):
        """Returns a list of (field path, cause reason, message); empty when valid."""
        root = self.root(group, version, kind)
        if root is None:
            return []
        errors = []
        self._check(obj, root, "", errors, 0)
        return errors

    def _check(self, value, node, path, errors, depth):
        if len(errors) >= MAX_ERRORS or value is None:
            return
        if depth > MAX_DEPTH:
            errors.append((path, "FieldValueInvalid", "nested too deeply"))
            return
        ref = node.get("$ref")
        if ref is not None:
            name = ref[len(REF_PREFIX) :]
            if name == QUANTITY:
                self._check_quantity(value, path, errors)
                return
            if name == INT_OR_STRING:
                if isinstance(value, bool) or not isinstance(value, (int, str)):
                    errors.append(
                        (
                            path,
                            "FieldValueTypeInvalid",
                            f"Invalid value: {_show(value)}: must be an integer or a string",
                        )
                    )
                return
            d = self.defs.get(name)
            if d is None:
                return
            node = d
        t = node.get("type")
        if t == "object":
            self._check_object(value, node, path, errors, depth)
        elif t == "array":
            if not isinstance(value, list):
                errors.append(
                    (
                        path,
                        "FieldValueTypeInvalid",
                        f"Invalid value: {_show(value)}: must be an array",
                    )
                )
                return
            items = node.get("items") or {}
            for i, v in enumerate(value):
                self._check(v, items, f"{path}[{i}]", errors, depth + 1)
        elif t == "string":
            if (
                node.get("format") == "int-or-string"
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                return
            self._check_string(value, node.get("format"), path, errors)
        elif t == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(
                    (
                        path,
                        "FieldValueTypeInvalid",
                        f"Invalid value: {_show(value)}: must be an integer",
                    )
                )
                return
            lo, hi = (
                (INT32_MIN, INT32_MAX) if node.get("format") == "int32" else (INT64_MIN, INT64_MAX)
            )
            if not lo <= value <= hi:
                errors.append(
                    (
                        path,
                        "FieldValueInvalid",
                        f"Invalid value: {value}: out of range for {node.get('format', 'int64')}",
                    )
                )
        elif t == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append(
                    (
                        path,
                        "FieldValueTypeInvalid",
                        f"Invalid value: {_show(value)}: must be a number",
                    )
                )
        elif t == "boolean":
            if not isinstance(value, bool):
                errors.append(
                    (
                        path,
                        "FieldValueTypeInvalid",
                        f"Invalid value: {_show(value)}: must be a boolean",
                    )
                )
        # no type: any JSON value (RawExtension-like definitions)

    def _check_object(self, value, node, path, errors, depth):
        if not isinstance(value, dict):
            errors.append(
                (path, "FieldValueTypeInvalid", f"Invalid value: {_show(value)}: must be an object")
            )
            return
        props = node.get("properties")
        ap = node.get("additionalProperties")
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if props is not None and k in props:
                self._check(v, props[k], sub, errors, depth + 1)
            elif isinstance(ap, dict):
                self._check(v, ap, f"{path}[{k}]", errors, depth + 1)
            elif props is not None and ap is None:
                errors.append((sub, "FieldValueNotSupported", f'unknown field "{sub}"'))
        for r in node.get("required", []):
            if r not in value:
                sub = f"{path}.{r}" if path else r
                errors.append((sub, "FieldValueRequired", "Required value"))

    @staticmethod
    def _check_string(value, fmt, path, errors):
        if not isinstance(value, str):
            errors.append(
                (path, "FieldValueTypeInvalid", f"Invalid value: {_show(value)}: must be a string")
            )
            return
        if fmt == "date-time" and not TIME_RE.match(value):
            errors.append(
                (path, "FieldValueInvalid", f'Invalid value: "{value}": must be an RFC 3339 time')
            )
        elif fmt == "byte":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                errors.append(
                    (path, "FieldValueInvalid", "Invalid value: must be base64-encoded data")
                )

    @staticmethod
    def _check_quantity(value, path, errors):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            errors.append(
                (
                    path,
                    "FieldValueTypeInvalid",
                    f"Invalid value: {_show(value)}: must be a quantity",
                )
            )
        elif isinstance(value, str) and not QUANTITY_RE.match(value):
            errors.append(
                (
                    path,
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": quantities must match the regular '
                    r"expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )
            )


def _show(value):
    s = json.dumps(value)
    return s if len(s) <= 60 else s[:57] + "..."
