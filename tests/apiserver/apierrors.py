"""API errors as the Kubernetes API server reports them: a metav1 Status object.

Every failure the test API server answers with is an ApiError; the HTTP layer turns
it into a Status body (kind Status, apiVersion v1, status Failure, message, reason,
details, code) and, where set, a Retry-After header. The constructors below build the
messages the real server builds, so clients that look at `reason` (client-go's
IsConflict, IsNotFound, IsAlreadyExists, IsInvalid...) behave as in a real cluster.
"""

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A failed request: HTTP code, Status reason, message and details."""

    def __init__(self, code, message, reason=None, details=None, retry_after_s=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASONS.get(code, "")
        self.details = details
        self.retry_after_s = retry_after_s

    def status(self):
        """The metav1 Status object for this error (a new dict)."""
        st = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            st["details"] = self.details
        st["code"] = self.code
        return st


def _details(rt, name, **extra):
    d = {}
    if name:
        d["name"] = name
    if rt is not None:
        if rt.group:
            d["group"] = rt.group
        d["kind"] = rt.plural
    d.update(extra)
    return d


def qualified(rt):
    """'pods' or 'leases.coordination.k8s.io': how the real server names a resource."""
    return rt.plural if not rt.group else f"{rt.plural}.{rt.group}"


def not_found(rt, name):
    return ApiError(404, f'{qualified(rt)} "{name}" not found', "NotFound", _details(rt, name))


def namespace_not_found(ns):
    return ApiError(
        404, f'namespaces "{ns}" not found', "NotFound", {"name": ns, "kind": "namespaces"}
    )


def already_exists(rt, name):
    return ApiError(
        409, f'{qualified(rt)} "{name}" already exists', "AlreadyExists", _details(rt, name)
    )


def conflict(rt, name, why):
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": {why}',
        "Conflict",
        _details(rt, name),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(rt, name, causes):
    """causes: list of (field, reason, message) — reason as metav1 CauseType."""
    parts = [f"{field}: {msg}" if field else msg for field, _, msg in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(rt, name)
    details["kind"] = rt.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, f'{rt.kind} "{name}" is invalid: {summary}', "Invalid", details)


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def method_not_allowed(what):
    return ApiError(
        405,
        f"the server does not allow this method on the requested resource ({what})",
        "MethodNotAllowed",
    )


def unsupported_media(ctype):
    return ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types "
        f"include: application/json, application/json-patch+json, "
        f"application/merge-patch+json, application/strategic-merge-patch+json "
        f'(got "{ctype}")',
        "UnsupportedMediaType",
    )


def expired(message):
    return ApiError(410, message, "Expired")


def too_large_rv(rv):
    return ApiError(
        504,
        f"Too large resource version: {rv}",
        "Timeout",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def injected(code, message, retry_after_s):
    details = {"retryAfterSeconds": retry_after_s} if retry_after_s else None
    return ApiError(code, message, REASONS.get(code, "InternalError"), details, retry_after_s)
