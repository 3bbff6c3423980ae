"""Response objects handlers may return instead of a plain JSON-able value."""


class Resp:
    """A complete response. body: bytes/str (sent as is) or a JSON-able value."""

    def __init__(self, status=200, body=None, content_type=None, headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


class Stream:
    """A chunked streaming response; `chunks` is an iterator of bytes produced
    outside the state lock (it must lock by itself when it reads state)."""

    def __init__(self, chunks, content_type, status=200, headers=None):
        self.chunks = chunks
        self.content_type = content_type
        self.status = status
        self.headers = headers or {}


def text(body, status=200, content_type="text/plain; charset=utf-8"):
    return Resp(status, body, content_type)


def empty(status=204):
    return Resp(status, b"")
