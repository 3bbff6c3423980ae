--- The Airflow client: resource tables with one method per operation, and the
-- request pipeline (build, credentials, retries, hooks, decoding, errors).
-- @module airflow.client
local core = require("airflow.core")
local json = require("airflow.json")
local Error = require("airflow.error")
local registry = require("airflow.registry")
local Auth = require("airflow.auth")

local Client = {}
local methods = {}

local CLIENT_OPTIONS = {
  base_url = "string", api = "string", username = "string", password = "string",
  token = "string", token_provider = "function", auth = "string",
  timeout = "number", connect_timeout = "number", retries = "number",
  retry_backoff = "number", retry_max_wait = "number",
  verify_tls = "boolean", ca_file = "string", ca_path = "string", cert_file = "string",
  key_file = "string", key_password = "string", proxy = "string", user_agent = "string",
  http_version = "string", max_body_bytes = "number", max_redirects = "number",
  compressed = "boolean", transport = "any", ngx_location = "string", pool_size = "number",
  keepalive_timeout = "number", shared_dict = "string", token_store = "table",
  on_request = "function", on_response = "function", on_retry = "function", on_warning = "function",
  sleep = "function", clock = "function",
}

-- The retry options are the client's own (the transport checks its options itself):
-- the largest value each accepts, and whether it must be whole. NaN and infinities
-- never pass, so no later arithmetic or sleep sees one.
local RETRY_RANGES = {
  retries = { max = 100, whole = true },
  retry_backoff = { max = 3600 },
  retry_max_wait = { max = 86400 },
}

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local RETRY_TRANSPORT = { connect = true, recv = true, send = true, timeout = true, resolve = true }

local function fail(level, fmt, ...)
  error("airflow: " .. fmt:format(...), level + 1)
end

--- Normalises a base URL: no trailing slash, no /api/vN suffix (returned apart).
local function normalise_base(url)
  url = url:gsub("/+$", "")
  local stripped, api = url:match("^(.-)/api/(v[12])$")
  if stripped then return stripped, api end
  return url
end

local function check_options(opts)
  for k, v in pairs(opts) do
    local want = CLIENT_OPTIONS[k]
    if not want then
      local near = registry.closest(tostring(k), CLIENT_OPTIONS)
      fail(3, "unknown option '%s'%s", tostring(k), near and (" (did you mean '" .. near .. "'?)") or "")
    end
    if want ~= "any" and type(v) ~= want and not (k == "max_body_bytes" and v == false) then
      fail(3, "option '%s' must be a %s, got %s", k, want, type(v))
    end
    local range = RETRY_RANGES[k]
    if range and not (v >= 0 and v <= range.max and (not range.whole or v == math.floor(v))) then
      fail(3, "option '%s' must be a %s from 0 to %d, got %s", k, range.whole and "whole number" or "number",
        range.max, v ~= v and "nan" or tostring(v))
    end
  end
  if not opts.base_url then fail(3, "option 'base_url' is required (e.g. \"http://localhost:8080\")") end
  if opts.base_url:find("^%a[%w+.-]*://[^/]*@") then
    fail(3, "base_url must not contain credentials: use username/password or token")
  end
  if opts.api and opts.api ~= "v1" and opts.api ~= "v2" and opts.api ~= "auto" then
    fail(3, "option 'api' must be \"v1\", \"v2\" or \"auto\", got %q", opts.api)
  end
  if opts.auth and opts.auth ~= "negotiate" then
    fail(3, "option 'auth' must be \"negotiate\" (other credentials have their own options)")
  end
  if opts.username and not opts.password then fail(3, "option 'password' is required with 'username'") end
end

-- The transport when none is given: inside nginx (OpenResty) the non-blocking "ngx"
-- one (cosockets), since libcurl would block the worker (it raises a clear error in a
-- phase without cosockets, such as init_worker); "curl" everywhere else.
local function default_transport()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" then return "ngx" end
  return "curl"
end

--- Creates a client. See the README for every option.
-- @param opts table of options; `base_url` is required
-- @return the client, or nil and an error when the transport cannot be created
function Client.new(opts)
  if type(opts) ~= "table" then fail(2, "airflow.new expects a table of options, got %s", type(opts)) end
  check_options(opts)
  if opts.verify_tls == false then
    local warn = opts.on_warning or function(msg) io.stderr:write(msg, "\n") end
    warn("airflow: warning: TLS verification is off (verify_tls = false): "
      .. "the server's identity is not checked; prefer ca_file")
  end
  local base, api_from_url = normalise_base(opts.base_url)
  local api = opts.api or api_from_url or "v2"
  local self = {
    base_url = base,
    api_mode = api,
    api = api ~= "auto" and api or false, -- false (not nil): resolved later
    retries = opts.retries or 3,
    retry_backoff = opts.retry_backoff or 0.5,
    retry_max_wait = opts.retry_max_wait or 30,
    hooks = { on_request = opts.on_request, on_response = opts.on_response, on_retry = opts.on_retry },
    resources_cache = {},
  }
  local transport = opts.transport
  if transport == nil or type(transport) == "string" then
    local name = transport or default_transport()
    local ok, mod = pcall(require, "airflow.transport." .. name)
    if not ok then fail(2, "unknown transport '%s': %s", name, tostring(mod)) end
    local user_agent = opts.user_agent or ("lua-airflow/" .. require("airflow.version"))
    local o = setmetatable({ user_agent = user_agent }, { __index = opts })
    local t, err = mod.new(o)
    if not t then return nil, Error.from_transport(err) end
    transport = t
  end
  self.transport = transport
  self.sleep = opts.sleep or transport.sleep or core.sleep
  self.now = transport.now or core.now
  self.auth = Auth.new(opts, self.api or nil, opts.clock or os.time)
  return setmetatable(self, Client)
end

--- The API version in use, asking the server once when api = "auto".
-- @return "v1" or "v2", or nil, err
function methods:api_version()
  if self.api then return self.api end
  for _, candidate in ipairs{ "v2", "v1" } do
    local url = self.base_url .. "/api/" .. candidate .. "/version"
    local res, err = self:send{ method = "GET", url = url, no_auth = candidate == "v2",
      headers = { Accept = "application/json" } }
    if not res then return nil, Error.from_transport(err, "GET", url) end
    -- v1 may want credentials even for /version: a 401 still proves the API exists
    if res.status == 200 or (candidate == "v1" and (res.status == 401 or res.status == 403)) then
      self.api = candidate
      self.auth.api = candidate
      return candidate
    end
  end
  return nil, Error.new{ kind = "Unknown", title = "API version not found",
    detail = "neither /api/v2/version nor /api/v1/version answered at " .. self.base_url }
end

local function call_hook(self, name, info)
  local hook = self.hooks[name]
  if hook then
    local ok, err = pcall(hook, info)
    if not ok then io.stderr:write("airflow: ", name, " hook failed: ", tostring(err), "\n") end
  end
end

--- Reports to a hook ("on_request", "on_response" or "on_retry"); a failing hook
-- is reported on stderr and never breaks the request.
function methods:hook(name, info)
  call_hook(self, name, info)
end

--- Sends one request straight through the transport (no credentials step, no
-- retries), reporting it to the on_request/on_response hooks like any other.
function methods:send(req)
  local info = { method = req.method, url = req.url, attempt = 1 }
  call_hook(self, "on_request", info)
  local t0 = self.now()
  local res, err = self.transport:request(req)
  info.duration, info.status, info.error = self.now() - t0, res and res.status, err and err.code
  call_hook(self, "on_response", info)
  return res, err
end

--- Sends many requests at once through the transport, reporting each to the hooks.
-- @return responses (response or false each), errors (err or nil each)
function methods:send_many(reqs, concurrency)
  for _, req in ipairs(reqs) do
    call_hook(self, "on_request", { method = req.method, url = req.url, attempt = 1 })
  end
  local t0 = self.now()
  local resps, errs = self.transport:request_many(reqs, concurrency)
  local duration = self.now() - t0
  for i, req in ipairs(reqs) do
    call_hook(self, "on_response", { method = req.method, url = req.url, attempt = 1, duration = duration,
      status = resps[i] and resps[i].status or nil, error = errs[i] and errs[i].code or nil })
  end
  return resps, errs
end

--- Sends many requests at once through the transport and iterates over the
-- responses as each finishes (`for i, res, err in client:send_each(reqs, n)`), so
-- a response can be used while the others are in flight. Each is reported to the
-- hooks. A transport without request_each sends them all, then iterates.
-- @return iterator (-> i, response | i, false, err), nil, nil, and a value to close
--   to abandon the rest early (nil when there is nothing to close)
function methods:send_each(reqs, concurrency)
  local transport = self.transport
  if not transport.request_each then
    local resps, errs = self:send_many(reqs, concurrency)
    local i = 0
    return function()
      i = i + 1
      if i <= #reqs then return i, resps[i], errs[i] end
    end
  end
  for _, req in ipairs(reqs) do
    call_hook(self, "on_request", { method = req.method, url = req.url, attempt = 1 })
  end
  local t0 = self.now()
  local step, state, _, closing = transport:request_each(reqs, concurrency)
  if not step then -- the batch could not start: every request fails with its error
    local err, i = state, 0
    return function()
      i = i + 1
      if i <= #reqs then return i, false, err end
    end
  end
  return function()
    local i, res, err = step(state)
    if i then
      local req = reqs[i]
      call_hook(self, "on_response", { method = req.method, url = req.url, attempt = 1,
        duration = self.now() - t0, status = res and res.status or nil, error = err and err.code or nil })
    end
    return i, res, err
  end, nil, nil, closing
end

--- Seconds to wait before retry `attempt` (1-based): Retry-After when the server
-- gave one (capped), else exponential backoff with full jitter.
function methods:backoff(attempt, retry_after)
  local wait = tonumber(retry_after)
  if wait then return math.min(math.max(wait, 0), self.retry_max_wait) end
  local cap = math.min(self.retry_backoff * 2 ^ (attempt - 1), self.retry_max_wait)
  return cap / 2 + math.random() * cap / 2
end

--- Sends a request with credentials, token renewal and retries.
-- @param req {method, url, headers, body, timeout}
-- @param policy {retry = true to retry a non-idempotent request}
-- @return the transport response, or nil, airflow.Error
function methods:perform(req, policy)
  local retryable = IDEMPOTENT[req.method] or (policy and policy.retry)
  local attempt, renewed = 1, false
  local hooks = self.hooks
  while true do
    local creds, cerr = self.auth:credentials(self)
    if not creds then return nil, cerr end
    self.transport:set_auth(creds)
    local res, terr
    if hooks.on_request or hooks.on_response then
      local info = { method = req.method, url = req.url, attempt = attempt }
      call_hook(self, "on_request", info)
      local t0 = self.now()
      res, terr = self.transport:request(req)
      info.duration = self.now() - t0
      info.status = res and res.status or nil
      info.error = terr and terr.code or nil
      call_hook(self, "on_response", info)
    else
      res, terr = self.transport:request(req)
    end
    local wait
    if res then
      local status = res.status
      if (status == 401 or status == 403) and not renewed and self.auth:can_renew() and
         (status == 401 or self.auth:expired()) then
        -- the token was refused or has lapsed: renew once and replay
        self.auth:invalidate()
        renewed = true
      elseif retryable and RETRY_STATUS[status] and attempt <= self.retries then
        wait = self:backoff(attempt, res.headers["retry-after"])
      else
        return res
      end
    elseif retryable and RETRY_TRANSPORT[terr.code] and attempt <= self.retries then
      wait = self:backoff(attempt)
    else
      return nil, Error.from_transport(terr, req.method, req.url)
    end
    if wait then
      call_hook(self, "on_retry", { method = req.method, url = req.url, attempt = attempt,
        status = res and res.status, error = terr and terr.code, wait = wait })
      self.sleep(wait)
      attempt = attempt + 1
    end
  end
end

-- Content-Type -> lower-cased media type, remembered: a server sends few distinct
-- ones (the cache is emptied should one send many, e.g. with varying parameters).
local media_cache, media_cached = {}, 0
local function media_of(res)
  local ctype = res.headers["content-type"] or ""
  local media = media_cache[ctype]
  if not media then
    media = (ctype:match("^%s*([^;%s]+)") or ""):lower()
    if media_cached >= 64 then media_cache, media_cached = {}, 0 end
    media_cache[ctype], media_cached = media, media_cached + 1
  end
  return media
end

-- Whether an operation's success responses ("application/json,text/plain", from the
-- registry) are all JSON, remembered per distinct list.
local json_only_cache = {}
local function json_only(expect)
  local only = json_only_cache[expect]
  if only == nil then
    only = true
    for media in expect:gmatch("[^,]+") do
      if not media:find("json", 1, true) then only = false end
    end
    json_only_cache[expect] = only
  end
  return only
end

--- Turns a transport response into the operation's result: decoded JSON, text,
-- NDJSON lines, true for an empty success; nil, airflow.Error otherwise.
-- @param expect the operation's success media types (registry `response_media`), if
--   known: when they are all JSON, a success that is not JSON (an SSO proxy's login
--   page, say) is an `InvalidResponse` error, never handed back as text
function methods.decode(_, res, method, url, expect)
  local status = res.status
  if status < 200 or status >= 300 then
    return nil, Error.from_response(res, method, url)
  end
  local body = res.body
  if status == 204 or body == nil or body == "" then return true end
  local media = media_of(res)
  local want_json = expect ~= nil and expect ~= "" and json_only(expect)
  if media == "application/x-ndjson" then
    local lines = {}
    for line in body:gmatch("[^\n]+") do
      local v = json.decode(line)
      if v == nil then return nil, Error.invalid_response(res, method, url, "invalid NDJSON line") end
      lines[#lines + 1] = v
    end
    return lines
  end
  if media:find("json", 1, true) or media == "" then
    local v, why = json.decode(body)
    if v == nil then
      if media == "" and not want_json then return body end
      return nil, Error.invalid_response(res, method, url, "invalid JSON: " .. tostring(why))
    end
    return v
  end
  if want_json then
    return nil, Error.invalid_response(res, method, url, "expected JSON, got " .. media)
  end
  return body
end

--- Builds the transport request of an operation (raises on bad arguments).
-- @param level the stack level to blame for a bad argument
-- @param accept an Accept value to send instead of the default (optional)
function methods:build(op, args, level, accept)
  local params, body = args, args.body
  if body ~= nil then -- the parameters without the body (the caller's table stays as is)
    params = {}
    for k, v in pairs(args) do
      if k ~= "body" then params[k] = v end
    end
  end
  if op.api == "v2" and op.name == "trigger_dag_run" then
    -- Airflow 3 requires the key; null lets the server pick the run's date
    if body == nil then body = {} end
    if type(body) == "table" and body.logical_date == nil then
      local copy = { logical_date = json.null }
      for k, v in pairs(body) do copy[k] = v end
      body = copy
    end
  end
  local method, url, headers = core.build(op.api, op.index, self.base_url, params, body ~= nil)
  if not method then error("airflow: " .. url, level + 1) end
  local text
  if body ~= nil then
    if type(body) == "string" then
      text = body
    elseif type(body) == "table" then
      local reg = registry.get(op.api)
      text = json.encode_body(body, reg.body_schema(op), reg.schemas())
    else
      fail(level, "%s.%s: 'body' must be a table or a JSON string, got %s", op.resource, op.name, type(body))
    end
  end
  local has_accept = false
  for _, h in ipairs(headers) do
    if h:sub(1, 7):lower() == "accept:" then has_accept = true end
  end
  if accept and not has_accept then
    headers[#headers + 1] = "Accept: " .. accept
  elseif not has_accept then
    local wants_json = op.wants_json
    if wants_json == nil then -- worked out once per operation
      wants_json = (op.response_media or ""):find("json", 1, true) ~= nil
      op.wants_json = wants_json
    end
    if wants_json then headers[#headers + 1] = "Accept: application/json" end
  end
  return { method = method, url = url, headers = headers, body = text }
end

--- Calls an operation: builds, sends, decodes.
-- @param op an operation (from the registry) or "resource.operation_id"
-- @param args the arguments table (path, query and header parameters; body)
-- @param opts per-call options: timeout (seconds), retry (true: retry POST/PATCH too),
--   accept (a media type, for operations that have no accept parameter)
function methods:call(op, args, opts)
  if type(op) == "string" then
    local api, err = self:api_version()
    if not api then return nil, err end
    local found, why = registry.find(api, op)
    if not found then fail(2, "%s", why) end
    op = found
  end
  if args ~= nil and type(args) ~= "table" then
    fail(2, "%s.%s: arguments must be a table, got %s", op.resource, op.name, type(args))
  end
  local req = self:build(op, args or {}, 2, opts and opts.accept)
  if opts and opts.timeout then req.timeout = opts.timeout end
  local res, err = self:perform(req, opts)
  if not res then return nil, err end
  return self:decode(res, req.method, req.url, op.response_media)
end

--- Lists the operations of the API in use: {resource, name, method, path, params}.
function methods:operations()
  local api, err = self:api_version()
  if not api then return nil, err end
  local out = {}
  for _, op in ipairs(registry.get(api).ops) do
    out[#out + 1] = { resource = op.resource, name = op.name, method = op.method, path = op.path,
      params = op.params, body = op.body }
  end
  return out
end

--- Closes the transport (the client cannot be used afterwards).
function methods:close()
  if self.transport.close then self.transport:close() end
end

-- The arguments of a call without any: shared, since nothing writes to them.
local NO_ARGS = setmetatable({}, { __newindex = function() error("airflow: internal: NO_ARGS is read-only", 2) end })

-- Arguments of a method call: leading non-table values fill the path parameters
-- in path order, then an optional args table, then an optional options table.
local function gather(op, level, ...)
  local n = select("#", ...)
  local i, positional = 1, nil
  while i <= n do
    local v = select(i, ...)
    if type(v) == "table" or v == nil then break end
    positional = positional or {}
    positional[#positional + 1] = v
    i = i + 1
  end
  local args, opts = select(i, ...)
  if args ~= nil and type(args) ~= "table" then
    fail(level, "%s.%s: expected an arguments table, got %s", op.resource, op.name, type(args))
  end
  if not positional then return args or NO_ARGS, opts end
  if #positional > #op.path_params then
    fail(level, "%s.%s takes %d positional argument(s) (%s), got %d", op.resource, op.name,
      #op.path_params, table.concat(op.path_params, ", "), #positional)
  end
  local merged = {}
  for k, v in pairs(args or {}) do merged[k] = v end
  for idx, v in ipairs(positional) do
    local name = op.path_params[idx]
    if merged[name] ~= nil then
      fail(level, "%s.%s: '%s' given both positionally and by name", op.resource, op.name, name)
    end
    merged[name] = v
  end
  return merged, opts
end

-- A resource table: client.<resource>:<operation>(...). Methods are made on first
-- use and cached in the table.
local function resource_table(client, name)
  local res = { _client = client, _name = name }
  return setmetatable(res, {
    __index = function(t, opname)
      if type(opname) ~= "string" then return nil end
      local op -- found on the first call: the client's API never changes once known
      local fn = function(selfres, ...)
        if selfres ~= t then
          fail(2, "call operations with ':' (client.%s:%s(...)), not '.'", name, opname)
        end
        if not op then
          local api, err = client:api_version()
          if not api then return nil, err end
          local found, why = registry.find(api, name .. "." .. opname)
          if not found then fail(2, "%s", why) end
          op = found
        end
        local args, opts = gather(op, 3, ...)
        return client:call(op, args, opts)
      end
      -- with a known API, an unknown operation fails here, at once
      if client.api then
        local _, why = registry.find(client.api, name .. "." .. opname)
        if why then fail(2, "%s", why) end
      end
      rawset(t, opname, fn)
      return fn
    end,
    __tostring = function() return "airflow resource " .. name end,
  })
end

Client.__index = function(self, key)
  local m = methods[key]
  if m then return m end
  if type(key) ~= "string" then return nil end
  local cache = rawget(self, "resources_cache")
  local r = cache[key]
  if r then return r end
  local api = rawget(self, "api")
  local known
  if api then
    known = registry.get(api).resources[key] ~= nil
  else
    known = registry.get("v2").resources[key] ~= nil or registry.get("v1").resources[key] ~= nil
  end
  if not known then
    if api and (registry.get(api == "v2" and "v1" or "v2").resources[key]) then
      fail(2, "resource '%s' exists only in the %s API, and this client uses %s", key,
        api == "v2" and "v1" or "v2", api)
    end
    local names = registry.get(api or "v2").names
    local near = registry.closest(key, names)
    fail(2, "no resource or method '%s'%s", key, near and (" (did you mean '" .. near .. "'?)") or "")
  end
  r = resource_table(self, key)
  cache[key] = r
  return r
end

Client.__tostring = function(self)
  return ("airflow.Client(%s, %s, auth: %s)"):format(self.api or "auto", self.base_url, self.auth:describe())
end
Client.__name = "airflow.Client"

--- Adds methods to every client (used by the helper modules: pagination, masks, waiting).
function Client.extend(funcs)
  for k, f in pairs(funcs) do methods[k] = f end
end

Client.methods = methods
return Client
