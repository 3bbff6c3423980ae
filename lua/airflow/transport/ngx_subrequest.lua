-- luacheck: globals ngx
--- The opt-in subrequest transport for OpenResty / nginx with lua-nginx-module
-- (`transport = "ngx_subrequest"`). The default inside nginx is the cosocket
-- transport (airflow.transport.ngx), which needs nothing in nginx.conf; this one is
-- for deployments that want nginx's own proxy machinery in front of Airflow: an
-- `upstream {}` block (load balancing, health checks, proxy_ssl_* settings).
--
-- Each request is an nginx subrequest (`ngx.location.capture`) to an internal
-- location (`/_airflow_upstream` by default, option `ngx_location`) that
-- `proxy_pass`es to Airflow: nginx does the connection, keep-alive and TLS, and
-- the calling coroutine yields instead of blocking the worker. Concurrent
-- requests (`request_many`, used by `client:collect`) run in `ngx.thread`s.
--
-- The transport fills these nginx variables of the subrequest (the location
-- must declare them with `set`, see examples/openresty/nginx.conf):
--
--   $airflow_url   the full target URL (scheme://host:port/path?query)
--   $airflow_uri   its path and query, for `proxy_pass http://<upstream>$airflow_uri`
--   $airflow_host  its host[:port], for `proxy_set_header Host` with an upstream block
--   $airflow_h_<name>  one per request header, the name lower-cased with '-' as '_':
--                  $airflow_h_authorization, $airflow_h_accept, $airflow_h_content_type
--                  and $airflow_h_user_agent are always set ("" = no header).
--
-- The location must use `proxy_pass_request_headers off`, so that none of the
-- parent request's headers (its Authorization, Cookie, ...) reach Airflow, and
-- send only `proxy_set_header Name $airflow_h_<name>` headers. A request with
-- another header (say X-Request-Id) fails with a transport error naming the
-- variable to declare (`set $airflow_h_x_request_id "";` plus its
-- proxy_set_header; `uninitialized_variable_warn off;` keeps requests without it
-- quiet). Hop-by-hop headers (Content-Length, Connection, ...) are nginx's.
--
-- Subrequests cannot stream: `stream` is not offered (logs are read page by page)
-- and `negotiate` (Kerberos) credentials are refused.
--
-- Failures that nginx itself produced (connection refused, upstream timeout, no
-- resolver, a response cut short) come back from the subrequest with
-- `res.truncated` set, an empty body and nginx's status (502, 504, 500): those
-- become transport errors (`connect`, `timeout`, `other`, `recv`). A 502 or 504
-- that Airflow (or a proxy in front of it) sent is complete, so it stays an HTTP
-- response. The client's `timeout` option is not applied per request: nginx's
-- `proxy_connect_timeout` / `proxy_read_timeout` in the location are.
--
-- Requests are possible in the rewrite, access and content phases only
-- (subrequests need a request); elsewhere `request` raises an error.
-- @module airflow.transport.ngx_subrequest

local cosocket = require("airflow.transport.ngx")

local M = {}
M.__index = M

--- The default internal location.
M.DEFAULT_LOCATION = "/_airflow_upstream"

--- The client options this transport reads (name -> type).
M.OPTIONS = { ngx_location = "string", user_agent = "string" }

--- The body the location answers (status 599) when `$airflow_url` is empty: the
-- transport's one-time check that its location exists and is the right one.
M.PROBE_BODY = "airflow-ngx-probe"

local REQUEST_PHASES = { rewrite = true, access = true, content = true }

-- Headers nginx writes itself: never passed on.
local HOP_BY_HOP = {
  ["content-length"] = true, ["transfer-encoding"] = true, connection = true,
  ["keep-alive"] = true, te = true, upgrade = true, expect = true,
}

-- Header variables always set, so that the location may use them unconditionally.
local STANDARD = { "authorization", "accept", "content_type", "user_agent" }

local probed = {} -- location -> true once checked (per worker)

local function in_nginx()
  return type(ngx) == "table" and type(ngx.get_phase) == "function" and type(ngx.location) == "table"
end

local function check_phase()
  local phase = ngx.get_phase()
  if not REQUEST_PHASES[phase] then
    error(("airflow: cannot make requests in nginx phase '%s': the ngx_subrequest transport needs a "
      .. "request (rewrite, access or content phase, e.g. content_by_lua); "
      .. "the default ngx (cosocket) transport also works in timers"):format(tostring(phase)), 0)
  end
end

local method_ids
local function method_id(name)
  if not method_ids then
    method_ids = {
      GET = ngx.HTTP_GET, HEAD = ngx.HTTP_HEAD, POST = ngx.HTTP_POST, PUT = ngx.HTTP_PUT,
      DELETE = ngx.HTTP_DELETE, OPTIONS = ngx.HTTP_OPTIONS, PATCH = ngx.HTTP_PATCH,
    }
  end
  return method_ids[name]
end

local function fail(code, fmt, ...)
  return nil, { code = code, message = fmt:format(...) }
end

--- Creates a transport.
-- @param opts {ngx_location = "/_airflow_upstream", user_agent = "..."}; other
--   client options are ignored
-- @return the transport, or nil, err
function M.new(opts)
  opts = opts or {}
  if not in_nginx() then
    return fail("other", "the ngx_subrequest transport runs only inside nginx with lua-nginx-module (OpenResty)")
  end
  local location = opts.ngx_location or M.DEFAULT_LOCATION
  if type(location) ~= "string" or location:sub(1, 1) ~= "/" then
    return fail("other", "ngx_location must be a location URI starting with '/', got %s", tostring(location))
  end
  return setmetatable({ name = "ngx_subrequest", location = location, user_agent = opts.user_agent or "" }, M)
end

--- Applies credentials: {kind = "none"|"basic"|"bearer"|"negotiate", user, secret}.
function M:set_auth(auth)
  -- the pipeline hands over the same table while the credentials are unchanged
  if auth == self.applied then return end
  self.applied = auth
  local kind = auth and auth.kind or "none"
  self.unsupported_auth = nil
  if kind == "basic" then
    self.authorization = "Basic " .. ngx.encode_base64((auth.user or "") .. ":" .. (auth.secret or ""))
  elseif kind == "bearer" then
    self.authorization = "Bearer " .. (auth.secret or "")
  elseif kind == "none" then
    self.authorization = nil
  else
    self.authorization = nil
    self.unsupported_auth = kind
  end
end

-- scheme://host[:port][/path][?query] -> url, host, path+query
local function split_url(url)
  local scheme, host, rest = url:match("^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  rest = rest:gsub("#.*$", "")
  if rest == "" then
    rest = "/"
  elseif rest:sub(1, 1) == "?" then
    rest = "/" .. rest
  end
  return host, rest
end

local function add_header(vars, name, value, extra)
  if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
    return nil, ("invalid header name %q"):format(tostring(name))
  end
  value = tostring(value)
  if value:find("[\r\n]") then
    return nil, ("header '%s' contains a line break"):format(name)
  end
  local lower = name:lower()
  if HOP_BY_HOP[lower] then return true end
  if lower == "host" then
    vars.airflow_host = value
    return true
  end
  local key = lower:gsub("[^%w]", "_")
  local var = "airflow_h_" .. key
  if vars[var] == nil then extra[#extra + 1] = var end
  vars[var] = value
  return true
end

--- The options of the subrequest for one transport request, or nil, err.
function M:capture_options(req)
  if self.unsupported_auth and not req.no_auth then
    return fail("other", "'%s' authentication is not supported by the ngx_subrequest transport", self.unsupported_auth)
  end
  local method = req.method or "GET"
  local id = method_id(method)
  if not id then return fail("other", "method %s is not supported by ngx.location.capture", tostring(method)) end
  local url = req.url
  if type(url) ~= "string" then return fail("other", "request without a URL") end
  local host, uri = split_url(url)
  if not host then return fail("other", "not an absolute URL: %s", url) end
  local vars = { airflow_url = url, airflow_uri = uri, airflow_host = host }
  for _, k in ipairs(STANDARD) do vars["airflow_h_" .. k] = "" end
  vars.airflow_h_user_agent = self.user_agent
  if self.authorization and not req.no_auth then vars.airflow_h_authorization = self.authorization end
  local extra = {}
  local headers = req.headers
  if type(headers) == "table" then
    for k, v in pairs(headers) do
      local ok, why
      if type(k) == "number" then
        local name, value = tostring(v):match("^%s*([^:]+):%s*(.-)%s*$")
        if not name then return fail("other", "invalid header line %q", tostring(v)) end
        ok, why = add_header(vars, name, value, extra)
      else
        ok, why = add_header(vars, k, v, extra)
      end
      if not ok then return fail("other", "%s", why) end
    end
  end
  local body = req.body
  if body ~= nil and type(body) ~= "string" then return fail("other", "the body must be a string") end
  -- without a body, POST and PUT subrequests would inherit the parent request's body
  if body == nil and (method == "POST" or method == "PUT" or method == "PATCH") then body = "" end
  return { method = id, body = body, vars = vars }, extra
end

-- Turns a capture result into a response, or nil, err for failures nginx made.
local function to_response(res, method, url)
  local status = res.status
  if res.truncated then
    if status == 504 then
      return fail("timeout", "nginx timed out waiting for Airflow (%s %s; proxy timeouts of the location)",
        method, url)
    elseif status == 502 or status == 503 then
      return fail("connect", "nginx got no valid response from Airflow (%d for %s %s; see the nginx error log)",
        status, method, url)
    elseif status >= 500 or status == 0 then
      return fail("other", "nginx failed the subrequest (%d for %s %s; see the nginx error log)",
        status, method, url)
    end
    return fail("recv", "the response to %s %s was cut short (status %d)", method, url, status)
  end
  if status == 0 then return fail("other", "the subrequest for %s %s did not complete", method, url) end
  local headers = {}
  for k, v in pairs(res.header or {}) do
    if type(v) == "table" then v = table.concat(v, ", ") end
    headers[k:lower()] = v
  end
  return { status = status, headers = headers, body = res.body or "" }
end

--- Checks once per worker that the location exists and is the transport's.
function M:probe()
  if probed[self.location] then return true end
  local ok, res = pcall(ngx.location.capture, self.location, { vars = { airflow_url = "" } })
  if ok and res.status == 599 and res.body == M.PROBE_BODY then
    probed[self.location] = true
    return true
  end
  return fail("other", "nginx location %s is not set up for the ngx_subrequest transport (%s): it must declare "
    .. "the $airflow_* variables and answer `if ($airflow_url = \"\") { return 599 \"%s\"; }`; "
    .. "see examples/openresty/nginx.conf", self.location,
    ok and ("it answered " .. tostring(res.status)) or tostring(res), M.PROBE_BODY)
end

local function send(self, req)
  local opts, extra = self:capture_options(req)
  if not opts then return nil, extra end
  local method, url = req.method or "GET", req.url
  local ok, res = pcall(ngx.location.capture, self.location, opts)
  if not ok then
    if #extra > 0 then
      return fail("other", "nginx refused the subrequest for %s %s: a header other than Authorization, "
        .. "Accept, Content-Type and User-Agent needs `set $%s \"\";` and a matching proxy_set_header in "
        .. "the configuration (%s)", method, url, extra[1], tostring(res))
    end
    return fail("other", "nginx refused the subrequest for %s %s: %s", method, url, tostring(res))
  end
  return to_response(res, method, url)
end

--- Performs one request (yields; the worker goes on serving others).
function M:request(req)
  check_phase()
  local ok, perr = self:probe()
  if not ok then return nil, perr end
  return send(self, req)
end

-- Many requests at once (ngx.thread), sleeping and the clock: the same as the
-- cosocket transport's, over this transport's `request`.
M.request_many = cosocket.request_many
M.sleep = cosocket.sleep
M.now = cosocket.now

--- Nothing to release: nginx owns the connections.
function M.close() end

return M
