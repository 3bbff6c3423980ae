"""Request validation driven by spec_data.py.

v2 imitates FastAPI/pydantic: errors are collected into a 422
{"detail": [{"type", "loc", "msg", "input", ["ctx"]}]}.
v1 imitates connexion: the first problem gives a 400 problem document.
Unknown query parameters are ignored by both.
"""
import json
import re

from .errors import HTTPError, ValidationFailed
from .util import DateParseError, parse_dt

TRUE = {"1", "on", "t", "true", "y", "yes"}
FALSE = {"0", "off", "f", "false", "n", "no"}
INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_MISSING = object()


def _err(kind, loc, msg, value, ctx=None):
    e = {"type": kind, "loc": list(loc), "msg": msg, "input": value}
    if ctx is not None:
        e["ctx"] = ctx
    return e


def _fmt_num(n):
    if isinstance(n, float) and n.is_integer():
        return str(int(n))
    return str(n)


def _enum_msg(values):
    quoted = [repr(v) if not isinstance(v, str) else f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


# ---------------------------------------------------------------- scalars from strings

def parse_scalar(schema, raw, loc, errors):
    """Parse a query/path string according to a (stripped) JSON schema; FastAPI rules."""
    t = schema.get("type")
    if "ref" in schema or "anyOf" in schema:
        t = "string"
    if t == "integer":
        if not INT_RE.match(raw):
            errors.append(_err("int_parsing", loc,
                               "Input should be a valid integer, unable to parse string as an integer", raw))
            return _MISSING
        value = int(raw)
    elif t == "number":
        try:
            value = float(raw)
        except ValueError:
            errors.append(_err("float_parsing", loc,
                               "Input should be a valid number, unable to parse string as a number", raw))
            return _MISSING
    elif t == "boolean":
        low = raw.strip().lower()
        if low in TRUE:
            value = True
        elif low in FALSE:
            value = False
        else:
            errors.append(_err("bool_parsing", loc,
                               "Input should be a valid boolean, unable to interpret input", raw))
            return _MISSING
    else:
        value = raw
        if schema.get("format") == "date-time":
            try:
                parse_dt(raw)
            except DateParseError:
                errors.append(_err("datetime_from_date_parsing", loc,
                                   "Input should be a valid datetime or date, invalid character in year",
                                   raw, {"error": "invalid character in year"}))
                return _MISSING
    if "enum" in schema and value not in schema["enum"]:
        errors.append(_err("enum", loc, f"Input should be {_enum_msg(schema['enum'])}", raw,
                           {"expected": _enum_msg(schema["enum"])}))
        return _MISSING
    _check_bounds(schema, value, loc, errors, raw)
    return value


def _check_bounds(schema, value, loc, errors, raw):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if "minimum" in schema and value < schema["minimum"]:
        m = schema["minimum"]
        errors.append(_err("greater_than_equal", loc, f"Input should be greater than or equal to {_fmt_num(m)}",
                           raw, {"ge": m}))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        m = schema["exclusiveMinimum"]
        errors.append(_err("greater_than", loc, f"Input should be greater than {_fmt_num(m)}", raw, {"gt": m}))
    if "maximum" in schema and value > schema["maximum"]:
        m = schema["maximum"]
        errors.append(_err("less_than_equal", loc, f"Input should be less than or equal to {_fmt_num(m)}",
                           raw, {"le": m}))


def v2_params(op, path_values, query, headers):
    """Validate path + query + header parameters of a v2 operation.

    Returns (path_params, query_params, header_params, errors)."""
    errors = []
    path_out = {}
    for name, raw in path_values.items():
        schema = op["path_params"].get(name, {})
        v = parse_scalar(schema, raw, ("path", name), errors)
        path_out[name] = raw if v is _MISSING else v
    q_out = {}
    for name, schema in op["query"].items():
        values = query.get(name)
        if schema.get("type") == "array":
            items = schema.get("items", {})
            if not values:
                q_out[name] = list(schema["default"]) if isinstance(schema.get("default"), list) else None
                continue
            parsed = []
            for i, raw in enumerate(values):
                v = parse_scalar(items, raw, ("query", name, i), errors)
                if v is not _MISSING:
                    parsed.append(v)
            q_out[name] = parsed
            continue
        if not values:
            if schema.get("required_param"):
                errors.append(_err("missing", ("query", name), "Field required", None))
            q_out[name] = schema.get("default")
            continue
        v = parse_scalar(schema, values[-1], ("query", name), errors)
        q_out[name] = schema.get("default") if v is _MISSING else v
    h_out = {}
    for name, schema in op.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None and schema.get("required_param"):
            errors.append(_err("missing", ("header", name.lower().replace("-", "_")), "Field required", None))
        h_out[name] = value if value is not None else schema.get("default")
    return path_out, q_out, h_out, errors


# ---------------------------------------------------------------- JSON bodies (pydantic-ish)

class BodyValidator:
    def __init__(self, schemas):
        self.schemas = schemas

    def resolve(self, schema):
        seen = 0
        while "ref" in schema and seen < 10:
            base = self.schemas.get(schema["ref"], {})
            extra = {k: v for k, v in schema.items() if k != "ref"}
            schema = dict(base, **extra)
            seen += 1
        return schema

    def validate(self, schema, value, loc, errors):
        schema = self.resolve(schema)
        if value is None:
            if schema.get("nullable") or schema == {} or _allows_null(schema):
                return
        if "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
            if value is None and len(branches) != len(schema["anyOf"]):
                return
            first = None
            for b in branches:
                errs = []
                self.validate(b, value, loc, errs)
                if not errs:
                    return
                first = first or errs
            errors.extend(first or [])
            return
        if "oneOf" in schema:
            self._one_of(schema, value, loc, errors)
            return
        if "const" in schema:
            if value != schema["const"]:
                errors.append(_err("literal_error", loc, f"Input should be '{schema['const']}'", value,
                                   {"expected": f"'{schema['const']}'"}))
            return
        if "enum" in schema:
            if value not in schema["enum"]:
                errors.append(_err("enum", loc, f"Input should be {_enum_msg(schema['enum'])}", value,
                                   {"expected": _enum_msg(schema["enum"])}))
            return
        t = schema.get("type")
        if t is None and "properties" in schema:
            t = "object"
        if t is None:
            return  # any JSON value
        check = getattr(self, "_t_" + t, None)
        if check:
            check(schema, value, loc, errors)

    def _one_of(self, schema, value, loc, errors):
        tags = {}
        for b in schema["oneOf"]:
            rb = self.resolve(b)
            const = rb.get("properties", {}).get("action", {}).get("const")
            if const:
                tags[const] = b
        if tags and isinstance(value, dict):
            tag = value.get("action")
            if tag not in tags:
                expected = ", ".join(f"'{t}'" for t in tags)
                if tag is None:
                    errors.append(_err("union_tag_not_found", loc,
                                       "Unable to extract tag using discriminator 'action'", value,
                                       {"discriminator": "'action'"}))
                else:
                    errors.append(_err("union_tag_invalid", loc,
                                       f"Input tag '{tag}' found using 'action' does not match any of the "
                                       f"expected tags: {expected}", value,
                                       {"discriminator": "'action'", "tag": str(tag), "expected_tags": expected}))
                return
            self.validate(tags[tag], value, tuple(loc) + (tag,), errors)
            return
        for b in schema["oneOf"]:
            errs = []
            self.validate(b, value, loc, errs)
            if not errs:
                return
        self.validate(schema["oneOf"][0], value, loc, errors)

    def _t_object(self, schema, value, loc, errors):
        props = schema.get("properties")
        if not isinstance(value, dict):
            if props is not None:
                errors.append(_err("model_attributes_type", loc,
                                   "Input should be a valid dictionary or object to extract fields from", value))
            else:
                errors.append(_err("dict_type", loc, "Input should be a valid dictionary", value))
            return
        if props is None:
            return
        for name in schema.get("required", []):
            if name not in value:
                errors.append(_err("missing", tuple(loc) + (name,), "Field required", value))
        for name, v in value.items():
            if name in props:
                self.validate(props[name], v, tuple(loc) + (name,), errors)
            elif schema.get("additionalProperties") is False:
                errors.append(_err("extra_forbidden", tuple(loc) + (name,), "Extra inputs are not permitted", v))

    def _t_array(self, schema, value, loc, errors):
        if not isinstance(value, list):
            errors.append(_err("list_type", loc, "Input should be a valid list", value))
            return
        if "prefixItems" in schema:
            for i, (s, v) in enumerate(zip(schema["prefixItems"], value)):
                self.validate(s, v, tuple(loc) + (i,), errors)
            return
        items = schema.get("items", {})
        for i, v in enumerate(value):
            self.validate(items, v, tuple(loc) + (i,), errors)

    def _t_string(self, schema, value, loc, errors):
        if not isinstance(value, str):
            errors.append(_err("string_type", loc, "Input should be a valid string", value))
            return
        if schema.get("format") == "date-time":
            try:
                parse_dt(value, require_tz=True)
            except DateParseError as exc:
                if exc.kind == "naive":
                    errors.append(_err("timezone_aware", loc, "Input should have timezone info", value))
                else:
                    errors.append(_err("datetime_from_date_parsing", loc,
                                       "Input should be a valid datetime or date, invalid character in year",
                                       value, {"error": "invalid character in year"}))
            return
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            n = schema["maxLength"]
            errors.append(_err("string_too_long", loc, f"String should have at most {n} characters", value,
                               {"max_length": n}))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(_err("string_pattern_mismatch", loc, f"String should match pattern '{schema['pattern']}'",
                               value, {"pattern": schema["pattern"]}))

    def _t_integer(self, schema, value, loc, errors):
        if isinstance(value, bool) or value is None:
            errors.append(_err("int_type", loc, "Input should be a valid integer", value))
            return
        if isinstance(value, float):
            if not value.is_integer():
                errors.append(_err("int_from_float", loc,
                                   "Input should be a valid integer, got a number with a fractional part", value))
                return
        elif isinstance(value, str):
            if not INT_RE.match(value):
                errors.append(_err("int_parsing", loc,
                                   "Input should be a valid integer, unable to parse string as an integer", value))
                return
            value = int(value)
        elif not isinstance(value, int):
            errors.append(_err("int_type", loc, "Input should be a valid integer", value))
            return
        _check_bounds(schema, value, loc, errors, value)

    def _t_number(self, schema, value, loc, errors):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(_err("float_type", loc, "Input should be a valid number", value))
            return
        _check_bounds(schema, value, loc, errors, value)

    def _t_boolean(self, schema, value, loc, errors):
        if isinstance(value, bool):
            return
        if isinstance(value, int) and value in (0, 1):
            return
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return
        errors.append(_err("bool_type" if not isinstance(value, str) else "bool_parsing", loc,
                           "Input should be a valid boolean" if not isinstance(value, str)
                           else "Input should be a valid boolean, unable to interpret input", value))


def _allows_null(schema):
    return any(b.get("type") == "null" or b.get("nullable") for b in schema.get("anyOf", []))


def coerce_bool(v):
    if isinstance(v, str):
        return v.strip().lower() in TRUE
    return bool(v)


def v2_body(validator, op, content_type, raw):
    """Parse and validate a v2 request body. Returns (body, errors)."""
    schema = op.get("body")
    if schema is None:
        return None, []
    is_json = True
    if content_type:
        main = content_type.split(";")[0].strip().lower()
        is_json = main == "application/json" or (main.startswith("application/") and main.endswith("+json"))
    if not raw:
        if op.get("body_required"):
            return None, [_err("missing", ("body",), "Field required", None)]
        return None, []
    if not is_json:
        # FastAPI hands the raw bytes to the model: not a dict
        text = raw.decode("utf-8", "replace")
        return None, [_err("model_attributes_type", ("body",),
                           "Input should be a valid dictionary or object to extract fields from", text)]
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", 0) or 0
        return None, [_err("json_invalid", ("body", pos), "JSON decode error", {},
                           {"error": getattr(exc, "msg", "Invalid JSON")})]
    errors = []
    validator.validate(schema, body, ("body",), errors)
    return body, errors


# ---------------------------------------------------------------- v1 (connexion)

def _v1_bad(detail):
    return HTTPError(400, detail, title="Bad Request", blank=True)


def v1_params(op, path_values, query):
    """connexion-style: path ints were enforced by routing; query types give 400."""
    path_out = {}
    for name, raw in path_values.items():
        schema = op["path_params"].get(name, {})
        if schema.get("type") == "integer":
            if not INT_RE.match(raw):
                raise HTTPError(404, "The requested URL was not found on the server. If you entered the URL "
                                     "manually please check your spelling and try again.", blank=True)
            path_out[name] = int(raw)
        else:
            path_out[name] = raw
    q_out = {}
    for name, schema in op["query"].items():
        values = query.get(name)
        if schema.get("type") == "array":
            if not values:
                q_out[name] = None
                continue
            if schema.get("explode") is False or schema.get("style") in ("form",) and schema.get("explode") is False:
                values = [x for x in values[-1].split(",") if x != ""]
            items = schema.get("items", {})
            out = []
            for raw in values:
                out.append(_v1_scalar(items, raw, name))
            q_out[name] = out
            continue
        if not values:
            if schema.get("required_param"):
                raise _v1_bad(f"Missing query parameter '{name}'")
            q_out[name] = schema.get("default")
            continue
        q_out[name] = _v1_scalar(schema, values[-1], name)
    return path_out, q_out


def _v1_scalar(schema, raw, name):
    t = schema.get("type")
    if t == "integer":
        if not INT_RE.match(raw):
            raise _v1_bad(f"Wrong type, expected 'integer' for query parameter '{name}'")
        v = int(raw)
        if "minimum" in schema and v < schema["minimum"]:
            raise _v1_bad(f"{v} is less than the minimum of {schema['minimum']}")
        return v
    if t == "number":
        try:
            return float(raw)
        except ValueError:
            raise _v1_bad(f"Wrong type, expected 'number' for query parameter '{name}'") from None
    if t == "boolean":
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise _v1_bad(f"Wrong type, expected 'boolean' for query parameter '{name}'")
    if schema.get("format") == "date-time":
        try:
            parse_dt(raw)
        except DateParseError:
            raise _v1_bad(f"'{raw}' is not a 'date-time'") from None
    return raw


def v1_body(op, content_type, raw, schemas):
    schema = op.get("body")
    if schema is None:
        return None
    if not raw:
        if op.get("body_required"):
            raise _v1_bad("Request body must not be empty")
        return None
    main = (content_type or "").split(";")[0].strip().lower()
    if main and main != "application/json" and not main.endswith("+json"):
        raise HTTPError(415, f"Invalid Content-type ({content_type}), expected JSON data",
                        title="Unsupported Media Type", blank=True)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _v1_bad("Request body is not valid JSON") from None
    problem = _v1_check(schemas, schema, body, [])
    if problem:
        raise _v1_bad(problem)
    return body


_PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
             "array": list}


def _v1_check(schemas, schema, value, path):
    """Tiny jsonschema subset; returns the first problem as connexion words it."""
    depth = 0
    while "ref" in schema and depth < 10:
        schema = dict(schemas.get(schema["ref"], {}), **{k: v for k, v in schema.items() if k != "ref"})
        depth += 1
    if "allOf" in schema:
        for part in schema["allOf"]:
            p = _v1_check(schemas, part, value, path)
            if p:
                return p
        return None
    where = f" - '{'.'.join(str(p) for p in path)}'" if path else ""
    if value is None:
        if schema.get("nullable") or not schema.get("type"):
            return None
        return f"None is not of type '{schema.get('type')}'{where}"
    t = schema.get("type")
    if t is None and "properties" in schema:
        t = "object"
    if t in _PY_TYPES:
        ok = isinstance(value, _PY_TYPES[t])
        if t in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            return f"{json.dumps(value)!s} is not of type '{t}'{where}".replace('"', "'")
    if "enum" in schema and value not in schema["enum"]:
        return f"'{value}' is not one of {schema['enum']}{where}"
    if t == "object" and isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return f"'{name}' is a required property{where}"
        for name, sub in schema.get("properties", {}).items():
            if name in value and not sub.get("readOnly"):
                p = _v1_check(schemas, sub, value[name], path + [name])
                if p:
                    return p
    if t == "array" and isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            p = _v1_check(schemas, schema["items"], v, path + [i])
            if p:
                return p
    return None


def raise_if(errors):
    if errors:
        raise ValidationFailed(errors)
