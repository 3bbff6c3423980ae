"""HTTP plumbing of the fake Airflow server: routing, auth, errors, delays,
fault injection, request recording and the /_fake control API."""
import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import spec_data, tokens, v1, v2, v2_33  # noqa: F401 (v2_33 registers handlers)
from .errors import REASONS, V1_LINKS, HTTPError, ValidationFailed
from .responses import Resp, Stream
from .state import WRITE_ROLES, State
from .util import version_key
from .validation import BodyValidator, v1_body, v1_params, v2_body, v2_params

# Parameters that may contain slashes (Starlette ":path" / OpenAPI "format: path").
PATH_PARAMS = {"variable_key", "xcom_key", "uri", "key"}  # key: the 3.3 state stores
PUBLIC_V2 = {"get_version", "get_health", "login", "logout"}
PUBLIC_V1 = {"get_version", "get_health"}
# POST operations that only read (a viewer may call them).
READ_POSTS = {"get_list_dag_runs_batch", "get_task_instances_batch", "get_dag_runs_batch"}
MAX_LOG = 20000
# A test-only v2 path that no registry has (see future_echo).
FUTURE_PATH = "/api/v2/_future/echo"
V1_NOT_FOUND = ("The requested URL was not found on the server. If you entered the URL manually please check "
                "your spelling and try again.")


# --------------------------------------------------------------------------- routing

class Route:
    def __init__(self, api, op, handler):
        self.api = api
        self.op = op
        self.handler = handler
        self.method = op["method"]
        parts = []
        self.rank = []
        for seg in op["path"].strip("/").split("/"):
            m = re.fullmatch(r"\{(\w+)\}", seg)
            if m:
                name = m.group(1)
                if name in PATH_PARAMS:
                    parts.append(f"(?P<{name}>.+)")
                    self.rank.append(2)
                else:
                    parts.append(f"(?P<{name}>[^/]+)")
                    self.rank.append(1)
            else:
                parts.append(re.escape(seg))
                self.rank.append(0)
        self.regex = re.compile("^/" + "/".join(parts) + "$")


def as_of(op, version):
    """The operation as an Airflow of `version` has it (None when it has not got it yet):
    parameters added later are left out, so they are ignored like any unknown one."""
    if "since" not in op:
        return op
    if version_key(op["since"]) > version:
        return None
    op = dict(op)
    for where in ("query", "headers"):
        op[where] = {name: schema for name, schema in op[where].items()
                     if version_key(schema.get("since", "0.0.0")) <= version}
    return op


class Router:
    def __init__(self, airflow_version):
        self.routes = []
        seen = set()
        version = version_key(airflow_version)
        for api, ops, handlers, fallback in (("v2", spec_data.V2_OPERATIONS, v2.HANDLERS, v2.fallback),
                                             ("v1", spec_data.V1_OPERATIONS, v1.HANDLERS, v1.fallback)):
            for op in ops:
                op = as_of(op, version)
                if op is None:
                    continue  # a later Airflow's operation: 404 like any unknown route
                key = (op["method"], op["path"])
                if key in seen:
                    continue
                seen.add(key)
                self.routes.append(Route(api, op, handlers.get(op["op"], fallback)))

    def match(self, method, path):
        """Returns (route, params) or (None, allowed_methods)."""
        found = []
        for r in self.routes:
            m = r.regex.match(path)
            if m:
                found.append((r, m.groupdict()))
        if not found:
            return None, []
        same = [f for f in found if f[0].method == method]
        if not same:
            return None, sorted({f[0].method for f in found})
        same.sort(key=lambda f: f[0].rank)
        return same[0]


# --------------------------------------------------------------------------- request context

class Request:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        split = urlsplit(target)
        self.raw_path = split.path
        self.path = unquote(split.path)
        self.query_string = split.query
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.headers = headers  # lower-case name -> value
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class Ctx:
    """What a handler gets: parsed parameters, body, user and the state."""

    def __init__(self, server, api, op, req, t):
        self.server = server
        self.state = server.state
        self.settings = server.state.settings
        self.api = api
        self.op = op
        self.req = req
        self.now = t
        self.user = None
        self.role = None
        self.path = {}
        self.q = {}
        self.h = {}
        self.body = None

    @property
    def can_write(self):
        return self.role in WRITE_ROLES


# --------------------------------------------------------------------------- server

class FakeAirflow:
    def __init__(self, state):
        self.state = state
        self.router = Router(state.airflow_version)
        self.validator = BodyValidator(spec_data.V2_SCHEMAS)
        self.log_lock = threading.Lock()
        self.reset_log()

    def reset_log(self):
        with self.log_lock:
            self.requests = []
            self.seq = 0
            self.stats = {"requests": 0, "token_requests": 0, "connections": 0, "in_flight": 0,
                          "max_in_flight": 0}

    def in_flight(self, step):
        """Counts API requests being answered (step +1 on arrival, -1 when answered)."""
        with self.log_lock:
            n = self.stats["in_flight"] + step
            self.stats["in_flight"] = n
            if n > self.stats["max_in_flight"]:
                self.stats["max_in_flight"] = n

    # ---- recording

    def record(self, req):
        headers = {}
        for k, v in req.headers.items():
            if k == "authorization":
                v = v.split(" ", 1)[0] if v else v
            headers[k] = v
        text = req.body.decode("utf-8", "replace") if req.body else ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        with self.log_lock:
            self.seq += 1
            self.stats["requests"] += 1
            if req.method == "POST" and req.path.rstrip("/") == "/auth/token":
                self.stats["token_requests"] += 1
            entry = {"seq": self.seq, "time": time.time(), "method": req.method, "path": req.path,
                     "raw_path": req.raw_path, "query": req.query_string, "args": req.query,
                     "headers": headers, "body": text, "json": parsed, "status": None}
            self.requests.append(entry)
            if len(self.requests) > MAX_LOG:
                del self.requests[: len(self.requests) - MAX_LOG]
        return entry

    # ---- delays and faults

    def delay_for(self, path):
        s = self.state.settings
        ms = s.get("delay_ms") or 0
        best = None
        for d in s.get("delays") or []:
            prefix = d.get("path_prefix", "")
            if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, d.get("ms", 0))
        if best is not None:
            ms = best[1]
        return ms / 1000.0

    def take_fault(self, req):
        with self.state.lock:
            rules = self.state.settings.get("fail_next") or []
            for rule in rules:
                if not req.path.startswith(rule.get("path_prefix", "")):
                    continue
                if rule.get("method") and rule["method"].upper() != req.method:
                    continue
                rule["count"] = rule.get("count", 1) - 1
                if rule["count"] <= 0:
                    rules.remove(rule)
                return dict(rule)
        return None

    # ---- dispatch

    def handle(self, req, t):
        """Returns a Resp or Stream for one API request (not /_fake)."""
        api = "v2" if req.path.startswith("/api/v2/") else "v1" if req.path.startswith("/api/v1/") else "root"
        if api == "root":
            return self.handle_root(req, t)
        if req.path == FUTURE_PATH:
            return self.future_echo(req, t)
        route, params = self.router.match(req.method, req.path)
        if route is None:
            if params:  # path exists, wrong method
                if api == "v2":
                    return self.error_v2(HTTPError(405, "Method Not Allowed", headers={"Allow": ", ".join(params)}))
                return self.error_v1(HTTPError(405, "The method is not allowed for the requested URL.",
                                               title="Method Not Allowed", blank=True,
                                               headers={"Allow": ", ".join(params)}))
            if api == "v2":
                if req.path.endswith("/") and self.router.match(req.method, req.path.rstrip("/"))[0] is not None:
                    # Starlette's redirect_slashes
                    host = req.header("host") or "127.0.0.1"
                    loc = f"http://{host}{req.raw_path.rstrip('/')}" + (f"?{req.query_string}" if req.query_string else "")
                    return Resp(307, b"", None, {"Location": loc})
                return self.error_v2(HTTPError(404, "Not Found"))
            return self.error_v1(HTTPError(404, V1_NOT_FOUND, title="Not Found", blank=True))
        ctx = Ctx(self, route.api, route.op, req, t)
        try:
            if route.api == "v2":
                return self.run_v2(route, ctx, params)
            return self.run_v1(route, ctx, params)
        except HTTPError as exc:
            return self.error_v2(exc) if route.api == "v2" else self.error_v1(exc)
        except ValidationFailed as exc:
            return self.json_resp(422, {"detail": exc.errors})

    def future_echo(self, req, t):
        """A path no registry has (an Airflow newer than the client): needs a bearer
        token like any v2 operation and echoes what it was sent."""
        ctx = Ctx(self, "v2", {"op": "future_echo"}, req, t)
        try:
            with self.state.lock:
                self.auth_bearer(ctx)
        except HTTPError as exc:
            return self.error_v2(exc)
        body = None
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                body = req.body.decode("utf-8", "replace")
        return self.json_resp(200, {"method": req.method, "user": ctx.user, "query": req.query,
                                    "body": body})

    def run_v2(self, route, ctx, params):
        op = route.op
        req = ctx.req
        if op["op"] not in PUBLIC_V2:
            with self.state.lock:
                self.auth_bearer(ctx)
            if req.method != "GET" and op["op"] not in READ_POSTS and not ctx.can_write:
                raise HTTPError(403, "Forbidden")
        ctx.path, ctx.q, ctx.h, errors = v2_params(op, params, req.query, req.headers)
        body, body_errors = v2_body(self.validator, op, req.header("content-type"), req.body)
        errors += body_errors
        errors += v2.extra_body_checks(ctx, op, body)
        if errors:
            raise ValidationFailed(errors)
        ctx.body = body
        with self.state.lock:
            result = route.handler(ctx)
            resp = self.to_response(result, op, "v2")
            self.after(ctx, op, resp)
        return resp

    def run_v1(self, route, ctx, params):
        op = route.op
        req = ctx.req
        if op["op"] not in PUBLIC_V1:
            with self.state.lock:
                self.auth_basic(ctx)
        ctx.path, ctx.q = v1_params(op, params, req.query)
        ctx.body = v1_body(op, req.header("content-type"), req.body, spec_data.V1_SCHEMAS)
        if op["op"] not in PUBLIC_V1 and req.method != "GET" and op["op"] not in READ_POSTS \
                and not ctx.can_write:
            raise HTTPError(403, None, title="Forbidden")
        with self.state.lock:
            result = route.handler(ctx)
            resp = self.to_response(result, op, "v1")
            self.after(ctx, op, resp)
        return resp

    def after(self, ctx, op, resp):
        """Audit log entry for successful changes (like Airflow's action logging)."""
        if ctx.req.method == "GET" or op["op"] in READ_POSTS or isinstance(resp, Stream):
            return
        if resp.status >= 400:
            return
        p = ctx.path
        extra = None
        if isinstance(ctx.body, dict):
            extra = json.dumps({k: ("***" if k in ("password", "value") else v) for k, v in ctx.body.items()},
                               default=str)
        dag_id = p.get("dag_id")
        self.state.add_event(op["op"], ctx.now, owner=ctx.user,
                             dag_id=None if dag_id == "~" else dag_id, task_id=p.get("task_id"),
                             run_id=p.get("dag_run_id") or (ctx.body.get("dag_run_id") if isinstance(ctx.body, dict)
                                                            else None), extra=extra)

    # ---- auth

    def auth_bearer(self, ctx):
        value = ctx.req.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPError(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        token = token.strip()
        try:
            claims = tokens.decode(token, self.state.secret)
        except ValueError:
            raise HTTPError(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"}) from None
        jti = claims.get("jti")
        if jti in self.state.revoked:
            raise HTTPError(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        issued = self.state.tokens.get(jti)
        exp = issued["exp"] if issued else claims.get("exp")
        if not isinstance(exp, (int, float)) or ctx.now >= exp:
            if self.state.settings.get("expired_status") == 403:
                raise HTTPError(403, "Forbidden")
            raise HTTPError(401, "Token expired", headers={"WWW-Authenticate": "Bearer"})
        user = self.state.users.get(claims.get("sub"))
        if user is None:
            raise HTTPError(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        ctx.user = claims["sub"]
        ctx.role = user["role"]

    def auth_basic(self, ctx):
        value = ctx.req.header("authorization") or ""
        scheme, _, cred = value.partition(" ")
        user = None
        if scheme.lower() == "basic":
            try:
                name, _, password = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
                u = self.state.users.get(name)
                if u is not None and u["password"] == password and u.get("active", True):
                    user = name
            except (ValueError, UnicodeDecodeError):
                user = None
        if user is None:
            raise HTTPError(401, None, title="Unauthorized", headers={"WWW-Authenticate": "Basic"})
        ctx.user = user
        ctx.role = self.state.users[user]["role"]

    def issue_token(self, username, t):
        ttl = self.state.settings["token_ttl"]
        jti = uuid.uuid4().hex
        claims = {"sub": username, "role": self.state.users[username]["role"].upper(), "iat": int(t),
                  "nbf": int(t), "exp": int(t) + int(ttl), "aud": "apache-airflow", "jti": jti}
        self.state.tokens[jti] = {"user": username, "exp": t + ttl}
        return tokens.encode(claims, self.state.secret)

    # ---- root (outside /api)

    def handle_root(self, req, t):
        path = req.path.rstrip("/") or "/"
        if path == "/auth/token":
            if req.method != "POST":
                return self.error_v2(HTTPError(405, "Method Not Allowed", headers={"Allow": "POST"}))
            return self.create_token(req, t)
        if path in ("/auth/login", "/auth/logout") and req.method == "GET":
            page = "<!doctype html><title>Airflow</title><p>Sign in to the fake Airflow</p>"
            return Resp(200, page, "text/html; charset=utf-8")
        if path == "/health" and req.method == "GET":
            with self.state.lock:
                return self.json_resp(200, v2.health_body(self.state, t))
        return self.error_v2(HTTPError(404, "Not Found"))

    def create_token(self, req, t):
        schema = {"type": "object", "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                  "required": ["username", "password"]}
        op = {"body": schema, "body_required": True}
        body, errors = v2_body(self.validator, op, req.header("content-type"), req.body)
        if errors:
            return self.json_resp(422, {"detail": errors})
        with self.state.lock:
            user = self.state.users.get(body["username"])
            if user is None or user["password"] != body["password"]:
                return self.json_resp(401, {"detail": "Invalid credentials"})
            return self.json_resp(201, {"access_token": self.issue_token(body["username"], t)})

    # ---- response building

    def to_response(self, result, op, api):
        if isinstance(result, (Resp, Stream)):
            if isinstance(result, Resp) and not isinstance(result.body, (bytes, str)) and result.body is not None:
                return self.json_resp(result.status, result.body, api, result.headers)
            return result
        return self.json_resp(op.get("status", 200), result, api)

    def json_resp(self, status, obj, api="v2", headers=None):
        if api == "v1":
            body = json.dumps(obj, indent=2, default=str) + "\n"
        else:
            body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
        return Resp(status, body.encode("utf-8"), "application/json", headers)

    def error_v2(self, exc):
        detail = exc.detail if exc.detail is not None else REASONS.get(exc.status, "Error")
        return self.json_resp(exc.status, {"detail": detail}, "v2", exc.headers)

    def error_v1(self, exc):
        title = exc.title or REASONS.get(exc.status, "Error")
        kind = "about:blank" if exc.blank else V1_LINKS.get(exc.status, "about:blank")
        body = {"detail": exc.detail, "status": exc.status, "title": title, "type": kind}
        resp = self.json_resp(exc.status, body, "v1", exc.headers)
        resp.content_type = "application/problem+json"
        return resp

    def fault_response(self, req, rule):
        status = int(rule.get("status", 503))
        headers = {}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(rule["retry_after"])
        if rule.get("body") is not None:
            return self.json_resp(status, rule["body"], "v2", headers)
        if req.path.startswith("/api/v1/"):
            return self.error_v1(HTTPError(status, REASONS.get(status, "Error"), headers=headers, blank=True))
        return self.error_v2(HTTPError(status, REASONS.get(status, "Error"), headers=headers))

    # ---- control API

    def control(self, req):
        path = req.path.rstrip("/")
        s = self.state
        body = {}
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                return self.json_resp(400, {"detail": "invalid JSON"})
        if path == "/_fake/reset" and req.method == "POST":
            with s.lock:
                s.reset()
            self.reset_log()
            return Resp(204, b"")
        if path == "/_fake/config":
            if req.method == "POST":
                if not isinstance(body, dict):
                    return self.json_resp(400, {"detail": "expected a JSON object"})
                with s.lock:
                    err = apply_config(s, body, time.time())
                    if err:
                        return self.json_resp(400, {"detail": err})
                    return self.json_resp(200, s.settings)
            with s.lock:
                return self.json_resp(200, s.settings)
        if path == "/_fake/seed" and req.method == "POST":
            with s.lock:
                try:
                    s.seed(body, time.time())
                except (KeyError, ValueError, TypeError) as exc:
                    return self.json_resp(400, {"detail": f"bad seed spec: {exc}"})
                return self.json_resp(200, {"variables": len(s.variables), "connections": len(s.connections),
                                            "pools": len(s.pools), "event_logs": len(s.event_logs),
                                            "dag_runs": {d: len(r) for d, r in s.runs.items()}})
        if path == "/_fake/requests" and req.method == "GET":
            since = 0
            try:
                since = int(req.query.get("since", ["0"])[-1])
            except ValueError:
                pass
            with self.log_lock:
                return self.json_resp(200, [e for e in self.requests if e["seq"] > since])
        if path == "/_fake/requests" and req.method == "DELETE":
            with self.log_lock:
                self.requests = []
            return Resp(204, b"")
        if path == "/_fake/stats" and req.method == "GET":
            with self.log_lock:
                return self.json_resp(200, dict(self.stats, seq=self.seq))
        return self.json_resp(404, {"detail": "unknown control endpoint"})


def apply_config(state, body, t):
    s = state.settings
    for key, value in body.items():
        if key in ("delay_ms", "run_ms", "token_ttl", "max_page_size", "log_page_lines", "stream_line_ms"):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                return f"{key} must be a non-negative number"
            s[key] = value
        elif key == "expired_status":
            if value not in (401, 403):
                return "expired_status must be 401 or 403"
            s[key] = value
        elif key == "delay":
            if value is None:
                s["delays"] = []
            else:
                items = value if isinstance(value, list) else [value]
                s["delays"] = [d for d in s["delays"]
                               if d.get("path_prefix") not in {i.get("path_prefix") for i in items}]
                s["delays"].extend({"path_prefix": i.get("path_prefix", ""), "ms": i.get("ms", 0)} for i in items)
        elif key == "delays":
            s["delays"] = list(value or [])
        elif key == "fail_next":
            items = value if isinstance(value, list) else [value] if value else []
            s["fail_next"] = [dict({"path_prefix": "", "status": 503, "count": 1}, **i) for i in items]
        elif key == "revoke_tokens":
            if value:
                state.revoked.update(state.tokens.keys())
        elif key == "require_logical_date":
            s[key] = bool(value)
        else:
            return f"unknown setting: {key}"
    return None


# --------------------------------------------------------------------------- HTTP handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle and the
    # client's delayed ACK add 40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "fake-airflow"
    sys_version = ""
    timeout = 300
    app = None  # FakeAirflow, set by make_server

    def log_message(self, fmt, *args):  # quiet
        pass

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        with self.app.log_lock:
            self.app.stats["connections"] += 1

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self):
        app = self.app
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        req = Request(self.command, self.path, headers, body)
        if req.path.startswith("/_fake/") or req.path == "/_fake":
            self._send(app.control(req))
            return
        entry = app.record(req)
        app.in_flight(1)
        try:
            self._answer(app, req, entry)
        finally:
            app.in_flight(-1)

    def _answer(self, app, req, entry):
        pause = app.delay_for(req.path)
        if pause > 0:
            time.sleep(pause)
        rule = app.take_fault(req)
        try:
            if rule is not None:
                if rule.get("close"):
                    entry["status"] = 0
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                resp = app.fault_response(req, rule)
            else:
                resp = app.handle(req, time.time())
        except Exception:  # never leak a 500 without a body; log to stderr
            traceback.print_exc(file=sys.stderr)
            resp = app.json_resp(500, {"detail": "Internal Server Error"})
        entry["status"] = resp.status
        self._send(resp)

    def _send(self, resp):
        if isinstance(resp, Stream):
            self._send_stream(resp)
            return
        body = resp.body
        if body is None:
            body = b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(resp.status)
        if resp.status != 204 and (body or resp.content_type):
            self.send_header("Content-Type", resp.content_type or "application/json")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0" if resp.status == 204 else str(len(body)))
        self.end_headers()
        if body and resp.status != 204 and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_stream(self, resp):
        chunked = self.request_version == "HTTP/1.1"
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in resp.chunks:
                if not chunk:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def make_server(host, port, state):
    app = FakeAirflow(state)

    class BoundHandler(Handler):
        pass

    BoundHandler.app = app

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128
        allow_reuse_address = True

    httpd = Server((host, port), BoundHandler)
    httpd.app = app
    return httpd


def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Apache Airflow REST API server (v1 + v2)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--port-file", help="write the bound port here (atomically) once accepting")
    p.add_argument("--delay-ms", type=float, default=0)
    p.add_argument("--max-page-size", type=int, default=100)
    p.add_argument("--token-ttl", type=float, default=3600)
    p.add_argument("--run-ms", type=float, default=300)
    p.add_argument("--jwt-secret", default="fake-airflow-secret")
    p.add_argument("--airflow-version", default=os.environ.get("FAKE_AIRFLOW_VERSION") or v2.DEFAULT_VERSION,
                   help="the Airflow 3 version to be (/api/v2/version; operations and parameters "
                        "of later versions are absent); default $FAKE_AIRFLOW_VERSION, else "
                        + v2.DEFAULT_VERSION)
    args = p.parse_args(argv)
    try:
        version_key(args.airflow_version)
    except ValueError as exc:
        p.error(str(exc))

    state = State(secret=args.jwt_secret)
    state.airflow_version = args.airflow_version
    state.cli_defaults = {"delay_ms": args.delay_ms, "max_page_size": args.max_page_size,
                          "token_ttl": args.token_ttl, "run_ms": args.run_ms}
    state.reset()
    httpd = make_server(args.host, args.port, state)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = httpd.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        httpd.server_close()
    return 0
