"""Helpers shared by the v1 and v2 handlers: paging, ordering, filtering, lookups."""
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
