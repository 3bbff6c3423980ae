"""Small helpers shared by the handlers: time formatting, patterns, ordering, paging."""
import re
import time
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
DAY = 86400.0


def now():
    return time.time()


def version_key(text):
    """A comparable key of an Airflow version ("3.2.1" -> (3, 2, 1)); ValueError if malformed."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:[.+-]?[0-9A-Za-z.]*)?", text or "")
    if not m:
        raise ValueError(f"not an Airflow version: {text!r}")
    return tuple(int(x) for x in m.groups())


def ts(year, month, day, hour=0, minute=0, second=0):
    """Epoch seconds of a UTC wall-clock time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def _dt(t):
    return datetime.fromtimestamp(t, UTC)


def iso_z(t):
    """Airflow 3 (pydantic) style: 2025-01-01T00:00:00Z / ...00.123456Z."""
    if t is None:
        return None
    return _dt(t).isoformat().replace("+00:00", "Z")


def iso_off(t):
    """Airflow 2 (marshmallow) style and run ids: 2025-01-01T00:00:00+00:00."""
    if t is None:
        return None
    return _dt(t).isoformat()


def log_ts(t):
    """Airflow 2 task log timestamp: 2025-01-10T00:00:24.123+0000."""
    d = _dt(t)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def midnight(t):
    d = _dt(t)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class DateParseError(ValueError):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind  # "invalid" | "naive"


def parse_dt(value, require_tz=False):
    """Parse an ISO 8601 string into epoch seconds.

    Raises DateParseError("invalid") or, when require_tz, DateParseError("naive").
    A naive value is taken as UTC otherwise.
    """
    if not isinstance(value, str):
        raise DateParseError("invalid")
    s = value.strip()
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise DateParseError("invalid") from None
    if d.tzinfo is None:
        if require_tz:
            raise DateParseError("naive")
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def like(pattern):
    """SQL ILIKE '%pattern%' as a compiled regex (% and _ are wildcards)."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def like_match(pattern, value):
    if pattern is None:
        return True
    if value is None:
        return False
    return like(pattern).search(str(value)) is not None


def sort_items(items, keys):
    """keys: list of (key_func, descending). NULLs sort last ascending, first descending
    (PostgreSQL behaviour). Stable."""
    items = list(items)
    for func, desc in reversed(keys):
        def k(item, func=func):
            v = func(item)
            return (v is None, v if v is not None else 0)
        items.sort(key=k, reverse=desc)
    return items


def page(items, limit, offset):
    offset = offset or 0
    if limit is None:
        return items[offset:]
    return items[offset:offset + limit]


def redact_value(key, value):
    """Airflow's secrets masker: values of sensitive-looking keys become ***."""
    if key is None or value is None:
        return value
    lowered = str(key).lower()
    for word in SENSITIVE_WORDS:
        if word in lowered:
            return "***"
    return value


SENSITIVE_WORDS = (
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd",
    "password", "private_key", "secret", "token", "keyfile_dict", "service_account",
)


def add_days(t, days):
    return (_dt(t) + timedelta(days=days)).timestamp()
