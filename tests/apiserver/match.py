"""Label and field selectors, parsed as the API server parses them.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists),
`!k` (does not exist), `k>N`, `k<N`, joined by commas. Field selectors: `f=v`,
`f==v`, `f!=v` joined by commas, with `\\,` `\\=` `\\\\` escapes; the fields a
resource supports are its resource type's business (an unsupported one is a 400).
Both parse into a list of predicates over a dict of strings.
"""

import re

from apierrors import bad_request

LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
CMP_RE = re.compile(r"^\s*([^!=<>\s]+)\s*(==|!=|=|<|>)\s*(.*?)\s*$")


def _split_top(s):
    """Splits on commas outside parentheses."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_labels(text):
    """A predicate over a labels dict (None labels = {}); raises a 400 ApiError."""
    if not text or not text.strip():
        return lambda labels: True
    reqs = []
    for part in _split_top(text):
        part = part.strip()
        if not part:
            raise bad_request(f"unable to parse requirement: empty requirement in {text!r}")
        m = SET_RE.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            values = {v.strip() for v in vals.split(",") if v.strip()}
            _check_key(key, text)
            if op == "in":
                reqs.append(lambda l, k=key, vs=values: l.get(k) in vs)
            else:
                reqs.append(lambda l, k=key, vs=values: l.get(k) not in vs)
            continue
        if part.startswith("!"):
            key = part[1:].strip()
            _check_key(key, text)
            reqs.append(lambda l, k=key: k not in l)
            continue
        m = CMP_RE.match(part)
        if m:
            key, op, val = m.groups()
            _check_key(key, text)
            if op in ("=", "=="):
                reqs.append(lambda l, k=key, v=val: l.get(k) == v)
            elif op == "!=":
                reqs.append(lambda l, k=key, v=val: l.get(k) != v)
            else:
                try:
                    n = int(val)
                except ValueError:
                    raise bad_request(
                        f"unable to parse requirement: for 'gt', 'lt' operators, "
                        f"the value must be an integer: {part!r}"
                    ) from None
                if op == ">":
                    reqs.append(
                        lambda l, k=key, n=n: _int(l.get(k)) is not None and _int(l.get(k)) > n
                    )
                else:
                    reqs.append(
                        lambda l, k=key, n=n: _int(l.get(k)) is not None and _int(l.get(k)) < n
                    )
            continue
        _check_key(part, text)
        reqs.append(lambda l, k=part: k in l)
    return lambda labels: all(r(labels or {}) for r in reqs)


def _int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def _check_key(key, text):
    if not LABEL_KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")


def parse_fields(text, supported):
    """A predicate over a dict of field values (missing = ""); raises a 400 ApiError.

    supported: the field names this resource allows (a set)."""
    if not text or not text.strip():
        return lambda fields: True
    terms = []
    for raw in _split_escaped(text, ","):
        if not raw.strip():
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(raw, op)
            if idx >= 0:
                field = _unescape(raw[:idx]).strip()
                value = _unescape(raw[idx + len(op) :])
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        if op == "!=":
            terms.append(lambda f, k=field, v=value: f.get(k, "") != v)
        else:
            terms.append(lambda f, k=field, v=value: f.get(k, "") == v)
    return lambda fields: all(t(fields) for t in terms)


def _split_escaped(s, sep):
    out, cur, esc = [], [], False
    for ch in s:
        if esc:
            cur.append("\\" + ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _find_unescaped(s, op):
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s.startswith(op, i):
            # '=' must not be the second half of '!=' or '=='
            if op == "=" and (i > 0 and s[i - 1] in "!="):
                i += 1
                continue
            return i
        i += 1
    return -1


def _unescape(s):
    out, esc = [], False
    for ch in s:
        if esc:
            out.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        else:
            out.append(ch)
    return "".join(out)
