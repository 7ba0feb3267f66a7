"""The three patch formats of the Kubernetes API, applied to plain JSON values.

- JSON merge patch (RFC 7386): objects merge, null deletes, anything else replaces.
- JSON patch (RFC 6902): add, remove, replace, move, copy and test on JSON pointers.
- Strategic merge patch, as k8s.io/apimachinery's strategicpatch applies it on the
  server: objects merge recursively; a list merges by key only where the schema says
  x-kubernetes-patch-strategy "merge" (pod and node conditions by "type", podIPs and
  hostIPs by "ip", node addresses by "type", containers and volumes by "name",
  ownerReferences by "uid", finalizers as a set...), every other list is replaced
  whole — pod containerStatuses included, as in a real cluster. Directives:
  `$patch: replace|delete` on maps and list items, `$setElementOrder/<list>`,
  `$deleteFromPrimitiveList/<list>` and `$retainKeys`. The order of a merged list
  follows the real algorithm: items named by the patch (or by $setElementOrder) in
  that order, server-only items kept in their relative places.

The functions never modify their arguments; they return new values and raise
PatchError for a patch that cannot be applied.
"""

import copy

DIRECTIVE = "$patch"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
RETAIN_KEYS = "$retainKeys"
_MISSING = object()


class PatchError(Exception):
    pass


# ---- RFC 7386 ----


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ---- RFC 6902 ----


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {i}: needs 'op' and 'path'")
        kind = op["op"]
        path = _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(_value(op, i)))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(_value(op, i)))
        elif kind == "move":
            doc, v = _remove(doc, _pointer(op.get("from", "")))
            doc = _add(doc, path, v)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, _pointer(op.get("from", "")))))
        elif kind == "test":
            if _get(doc, path) != _value(op, i):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"operation {i}: unknown op {kind!r}")
    return doc


def _value(op, i):
    if "value" not in op:
        raise PatchError(f"operation {i}: needs 'value'")
    return op["value"]


def _pointer(s):
    if not isinstance(s, str) or (s and not s.startswith("/")):
        raise PatchError(f"invalid JSON pointer {s!r}")
    if s == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in s[1:].split("/")]


def _index(container, token, allow_end):
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    i = int(token)
    limit = len(container) + (1 if allow_end else 0)
    if i >= limit:
        raise PatchError(f"array index {i} out of range")
    return i


def _parent(doc, path):
    cur = doc
    for token in path[:-1]:
        if isinstance(cur, dict):
            if token not in cur:
                raise PatchError(f"path /{'/'.join(path)} does not exist")
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, False)]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return cur


def _get(doc, path):
    if not path:
        return doc
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise PatchError(f"path /{'/'.join(path)} does not exist")


def _add(doc, path, value):
    if not path:
        return value
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return doc


def _remove(doc, path):
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, False))
    raise PatchError(f"path /{'/'.join(path)} does not exist")


# ---- strategic merge patch ----


def strategic_merge(original, patch, schema, node):
    """Applies a strategic merge patch to an object whose schema node is `node`.

    schema is a schema.Schema (or None: every list is then replaced)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(original if isinstance(original, dict) else {}, patch, schema, node)


def _field(schema, node, key):
    if schema is None or node is None:
        return None, "", None
    return schema.field(node, key)


def _smp_map(original, patch, schema, node):
    patch = dict(patch)
    directive = patch.pop(DIRECTIVE, None)
    if directive == "replace":
        return _smp_map({}, patch, schema, node)
    if directive == "delete":
        return {}
    if directive is not None:
        raise PatchError(f"unknown patch type {directive!r} in map")

    result = copy.deepcopy(original)
    retain = patch.pop(RETAIN_KEYS, None)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list of field names")
        for k, v in patch.items():
            if v is not None and not k.startswith("$") and k not in retain:
                raise PatchError(f"field {k!r} is set by the patch but not listed in $retainKeys")
        for k in list(result):
            if k not in retain:
                del result[k]

    for key in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(key)
        name = key[len(SET_ORDER) :]
        if not isinstance(order, list):
            raise PatchError(f"{key} must be a list")
        child, strategy, merge_key = _field(schema, node, name)
        orig_list = result.get(name, _MISSING)
        patch_list = patch.pop(name, _MISSING)
        if orig_list is _MISSING and patch_list is _MISSING:
            continue
        if patch_list is _MISSING:
            merged = orig_list
            orig_for_order = orig_list
        else:
            if patch_list is None:
                result.pop(name, None)
                continue
            base = orig_list if isinstance(orig_list, list) else []
            if "merge" not in strategy:
                result[name] = copy.deepcopy(patch_list)
                continue
            _check_order(patch_list, order, merge_key)
            merged = _smp_list(base, patch_list, schema, child, merge_key)
            orig_for_order = _without_deleted(base, patch_list, merge_key)
        if not isinstance(merged, list):
            raise PatchError(f"{name} is not a list")
        in_order, server_only = _partition(merged, order, merge_key)
        result[name] = _normalize(in_order, server_only, order, orig_for_order, merge_key)

    for key, value in patch.items():
        if key.startswith(DELETE_PRIMITIVE):
            name = key[len(DELETE_PRIMITIVE) :]
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list")
            if isinstance(result.get(name), list):
                result[name] = [x for x in result[name] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        child, strategy, merge_key = _field(schema, node, key)
        current = result.get(key, _MISSING)
        if isinstance(value, dict):
            if "replace" in strategy.split(",") or not isinstance(current, dict):
                current = {}
            result[key] = _smp_map(current, value, schema, child)
        elif isinstance(value, list):
            if "merge" in strategy.split(","):
                base = current if isinstance(current, list) else []
                result[key] = _smp_list(base, value, schema, child, merge_key)
            else:
                result[key] = copy.deepcopy(value)
        else:
            result[key] = value
    return result


def _key_of(item, merge_key):
    if merge_key is None:
        return ("scalar", json_key(item))
    if not isinstance(item, dict) or merge_key not in item:
        raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
    return ("key", json_key(item[merge_key]))


def json_key(v):
    """A hashable, type-exact identity for a JSON scalar (1 and True differ)."""
    return (type(v).__name__, v if not isinstance(v, (dict, list)) else repr(v))


def _smp_list(original, patch, schema, node, merge_key):
    if not original and not patch:
        return copy.deepcopy(original)
    item_node = schema.items(node) if (schema is not None and node is not None) else None
    scalars = all(not isinstance(x, dict) for x in patch) and all(
        not isinstance(x, dict) for x in original
    )
    if scalars:
        merged, seen = [], set()
        for x in list(original) + list(patch):
            k = json_key(x)
            if k not in seen:
                seen.add(k)
                merged.append(copy.deepcopy(x))
        in_patch, server_only = _partition(merged, patch, None)
        return _normalize(in_patch, server_only, patch, original, None)
    if merge_key is None:
        raise PatchError("cannot merge lists without merge key")

    plain, replace = [], False
    remaining = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"list item {item!r} is not an object")
        d = item.get(DIRECTIVE)
        if d is None:
            plain.append(item)
        elif d == "delete":
            k = _key_of(item, merge_key)
            remaining = [o for o in remaining if _key_of(o, merge_key) != k]
        elif d == "replace":
            replace = True
        else:
            raise PatchError(f"unknown patch type {d!r} in list")
    if replace:
        return [_smp_map({}, p, schema, item_node) for p in plain]

    merged = copy.deepcopy(remaining)
    for p in plain:
        k = _key_of(p, merge_key)
        for i, o in enumerate(merged):
            if _key_of(o, merge_key) == k:
                merged[i] = _smp_map(o, p, schema, item_node)
                break
        else:
            merged.append(_smp_map({}, p, schema, item_node))
    in_patch, server_only = _partition(merged, plain, merge_key)
    return _normalize(in_patch, server_only, plain, remaining, merge_key)


def _without_deleted(original, patch, merge_key):
    if merge_key is None:
        return original
    gone = {
        _key_of(p, merge_key) for p in patch if isinstance(p, dict) and p.get(DIRECTIVE) == "delete"
    }
    return [o for o in original if _key_of(o, merge_key) not in gone]


def _order_key(item, merge_key):
    if merge_key is None:
        return json_key(item)
    if isinstance(item, dict):
        return json_key(item.get(merge_key))
    return json_key(item)


def _partition(items, by, merge_key):
    wanted = {_order_key(x, merge_key) for x in by if not (isinstance(x, dict) and DIRECTIVE in x)}
    inside = [x for x in items if _order_key(x, merge_key) in wanted]
    outside = [x for x in items if _order_key(x, merge_key) not in wanted]
    return inside, outside


def _position(order, item, merge_key):
    k = _order_key(item, merge_key)
    for i, o in enumerate(order):
        if _order_key(o, merge_key) == k:
            return i
    return -1


def _normalize(in_patch, server_only, patch_order, server_order, merge_key):
    """Sorts the patch's items by patch_order and the server-only items by
    server_order, then interleaves them: a server-only item goes before a patch item
    when both are in the live list and it came first there."""
    big = len(patch_order) + len(server_order) + 1
    in_patch = sorted(
        in_patch, key=lambda x: (p if (p := _position(patch_order, x, merge_key)) >= 0 else big)
    )
    server_only = sorted(
        server_only, key=lambda x: (p if (p := _position(server_order, x, merge_key)) >= 0 else big)
    )
    out, i, j = [], 0, 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(in_patch[j])
            j += 1
        else:
            li = _position(server_order, server_only[i], merge_key)
            ri = _position(server_order, in_patch[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_patch[j])
                j += 1
    return out


def _check_order(patch_list, order, merge_key):
    """The patch's items must appear in $setElementOrder, in the same relative order."""
    if not isinstance(patch_list, list):
        raise PatchError("the list named by $setElementOrder is not a list")
    items = [x for x in patch_list if not (isinstance(x, dict) and DIRECTIVE in x)]
    keys = [_order_key(x, merge_key) for x in order]
    pos = 0
    for x in items:
        k = _order_key(x, merge_key)
        while pos < len(keys) and keys[pos] != k:
            pos += 1
        if pos == len(keys):
            raise PatchError("the order in the patch list doesn't match the $setElementOrder list")
        pos += 1
