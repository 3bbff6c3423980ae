"""Exceptions raised by handlers; server.py renders them per API flavour."""

V1_DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.0/stable-rest-api-ref.html"
V1_LINKS = {
    400: V1_DOCS + "#section/Errors/BadRequest",
    401: V1_DOCS + "#section/Errors/Unauthenticated",
    403: V1_DOCS + "#section/Errors/PermissionDenied",
    404: V1_DOCS + "#section/Errors/NotFound",
    405: V1_DOCS + "#section/Errors/MethodNotAllowed",
    406: V1_DOCS + "#section/Errors/NotAcceptable",
    409: V1_DOCS + "#section/Errors/AlreadyExists",
    500: V1_DOCS + "#section/Errors/Unknown",
}

REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
    413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class HTTPError(Exception):
    """An error response.

    detail: str or dict (v2 puts it under "detail" verbatim).
    title:  v1 problem title (defaults to the reason phrase).
    blank:  v1 only; True for errors produced by the framework (connexion/flask),
            whose problem type is "about:blank" instead of a docs link.
    """

    def __init__(self, status, detail=None, *, title=None, headers=None, blank=False):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}
        self.blank = blank


class ValidationFailed(Exception):
    """FastAPI RequestValidationError: 422 {"detail": [errors]}."""

    def __init__(self, errors):
        super().__init__(repr(errors))
        self.errors = errors


def not_found(detail, title=None):
    return HTTPError(404, detail, title=title)


def bad_request(detail, title=None):
    return HTTPError(400, detail, title=title)


def conflict(detail, title=None):
    return HTTPError(409, detail, title=title)


def unique_violation(table, column):
    """What Airflow 3 answers when an INSERT hits a unique constraint."""
    return HTTPError(409, {
        "reason": "Unique constraint violation",
        "statement": f"INSERT INTO {table} ...",
        "orig_error": f"UNIQUE constraint failed: {table}.{column}",
    })
