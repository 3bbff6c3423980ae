"""Helpers shared by the v1 and v2 handlers: paging, ordering, filtering, lookups."""
import base64
import binascii
import json

from .errors import HTTPError
from .util import like_match, parse_dt, sort_items

RANGE_OPS = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b,
             "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b}


def limit_offset(c):
    """Page limit silently capped at max_page_size (Airflow's maximum_page_limit)."""
    cap = int(c.settings["max_page_size"])
    limit = c.q.get("limit")
    offset = c.q.get("offset") or 0
    if c.api == "v1":
        if limit is None or limit == 0:
            limit = 100  # fallback_page_limit
        if limit < 0:
            raise HTTPError(400, "Page limit must be a positive integer", title="Bad Request")
        if offset < 0:
            raise HTTPError(400, f"{offset} is less than the minimum of 0", title="Bad Request", blank=True)
    elif limit is None:
        limit = 50
    return min(limit, cap), offset


def order(c, items, mapping, default, value=None):
    """Sort by order_by (v2: list, v1: string); unknown attributes -> 400 like Airflow."""
    raw = value if value is not None else c.q.get("order_by")
    if raw in (None, "", []):
        raw = default
    if isinstance(raw, str):
        raw = [raw]
    keys = []
    for spec in raw:
        spec = spec.strip()
        desc = spec.startswith("-")
        name = spec.lstrip("-")
        if name not in mapping:
            raise HTTPError(400, f"Ordering with '{name}' is disallowed or the attribute does not exist on the model",
                            title="Bad Request")
        keys.append((mapping[name], desc))
    return sort_items(items, keys)


def _cursor(mark, ident):
    raw = json.dumps({mark: ident}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(token):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mark = json.loads(raw)
        (kind, ident), = mark.items()
        if kind in ("after", "before"):
            return kind, ident
    except (ValueError, binascii.Error, TypeError, AttributeError):
        pass
    raise HTTPError(400, "Invalid cursor")


def cursor_page(c, items, key, serializer, mapping, default, ident):
    """Airflow 3.3 keyset pages, used when the `cursor` query parameter is given (an empty
    one asks for the first page): `limit` items after (or before) the item the cursor
    names, in order_by order, with `next_cursor`/`previous_cursor` (null at either end)
    and no `total_entries`. Cursors are opaque; an unknown one is a 400."""
    items = order(c, items, mapping, default)
    limit, _ = limit_offset(c)
    start, stop = 0, limit
    if c.q["cursor"]:
        kind, mark = _uncursor(c.q["cursor"])
        ids = [ident(i) for i in items]
        if mark not in ids:
            raise HTTPError(400, "Invalid cursor")
        at = ids.index(mark)
        start, stop = (at + 1, at + 1 + limit) if kind == "after" else (max(0, at - limit), at)
    page = items[start:stop]
    return {key: [serializer(i) for i in page],
            "next_cursor": _cursor("after", ident(page[-1])) if page and stop < len(items) else None,
            "previous_cursor": _cursor("before", ident(page[0])) if page and start > 0 else None}


def ranges(c, items, getters, source=None):
    """Apply <field>_gte/_gt/_lte/_lt filters; getters: field -> func(item) -> number|None."""
    source = c.q if source is None else source
    for field, getter in getters.items():
        for opname, cmp in RANGE_OPS.items():
            raw = source.get(f"{field}_{opname}")
            if raw is None:
                continue
            bound = raw if isinstance(raw, (int, float)) else parse_dt(raw)
            items = [i for i in items if getter(i) is not None and cmp(getter(i), bound)]
    return items


def pattern(items, value, getter):
    if not value:
        return items
    return [i for i in items if like_match(value, getter(i))]


def prefix(items, value, getter):
    """Airflow 3.3 `*_prefix_pattern`: values starting with `value` (case-sensitive)."""
    if not value:
        return items
    return [i for i in items if isinstance(getter(i), str) and getter(i).startswith(value)]


def patterns(items, q, field, getter):
    """Both filters on one field: `<field>_pattern` (SQL LIKE) and `<field>_prefix_pattern`."""
    return prefix(pattern(items, q.get(f"{field}_pattern"), getter), q.get(f"{field}_prefix_pattern"), getter)


def one_of(items, values, getter):
    if not values:
        return items
    return [i for i in items if getter(i) in values]


def states_filter(values):
    """'none' / 'null' / '' in a state filter mean no state."""
    if not values:
        return None
    return {None if v in ("none", "null", "", "no_status") else v for v in values}


def dumps_conf(conf):
    return json.dumps(conf, sort_keys=True)
