--- The Airflow client: construction, the resource tables with one method per
-- operation, and the helper methods. What happens to a request is airflow.request's.
-- @module airflow.client
local core = require("airflow.core")
local Error = require("airflow.error")
local json = require("airflow.json")
local registry = require("airflow.registry")
local suggest = require("airflow.suggest")
local Auth = require("airflow.auth")
local request = require("airflow.request")
local transports = require("airflow.transport")
local versions = require("airflow.versions")

local Client = {}
---@type airflow.Client the methods every client has (its resources come from the registry)
local methods = {}

-- The client's own options (name -> type); the transports' come from their OPTIONS.
local OWN_OPTIONS = {
  base_url = "string", api = "string", username = "string", password = "string",
  token = "string", token_provider = "function", auth = "string",
  retries = "number", retry_backoff = "number", retry_max_wait = "number",
  transport = "any", json_decode = "function", shared_dict = "string", token_store = "table",
  on_request = "function", on_response = "function", on_retry = "function", on_warning = "function",
  sleep = "function", clock = "function", read_only = "boolean", airflow_version = "any", page_size = "number",
}

local client_options
-- Every option airflow.new accepts: the client's and the built-in transports'.
local function all_options()
  if not client_options then
    client_options = {}
    for k, t in pairs(transports.options()) do client_options[k] = t end
    for k, t in pairs(OWN_OPTIONS) do client_options[k] = t end
  end
  return client_options
end

-- The retry options are the client's own (the transport checks its options itself):
-- the largest value each accepts, and whether it must be whole. NaN and infinities
-- never pass, so no later arithmetic or sleep sees one.
local RETRY_RANGES = {
  retries = { max = 100, whole = true },
  retry_backoff = { max = 3600 },
  retry_max_wait = { max = 86400 },
}

-- The arguments of a call without any: shared, since nothing writes to them.
local NO_ARGS = setmetatable({}, { __newindex = function() error("airflow: internal: NO_ARGS is read-only", 2) end })

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
  local known = all_options()
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      fail(3, "unknown option '%s'%s", tostring(k), suggest.hint(tostring(k), known))
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
  local av = opts.airflow_version
  if av ~= nil and av ~= false and type(av) ~= "string" then
    fail(3, "option 'airflow_version' must be a version string (\"3.2.1\") or false, got %s", type(av))
  end
  if opts.username and not opts.password then fail(3, "option 'password' is required with 'username'") end
  if opts.transport ~= nil and type(opts.transport) ~= "string" then transports.check(opts.transport, 3) end
end

--- Creates a client. See the README for every option.
-- @param opts table of options; `base_url` is required
-- @return the client, or nil and an error when the transport cannot be created
---@param opts table the options (README, "Options of airflow.new"); `base_url` is required
---@return airflow.Client|nil client
---@return airflow.Error|nil err
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
    api = api ~= "auto" and api or false, -- false (not nil): resolved later
    retries = opts.retries or 3,
    retry_backoff = opts.retry_backoff or 0.5,
    retry_max_wait = opts.retry_max_wait or 30,
    hooks = { on_request = opts.on_request, on_response = opts.on_response, on_retry = opts.on_retry },
    json_decode = opts.json_decode or json.decode,
    read_only = opts.read_only == true, -- refuse every verb but GET and HEAD (airflow.request.check)
    page_size = opts.page_size, -- the limit pages ask for (airflow.paginate's default when nil)
  }
  -- the server's Airflow version: nil (learn it when needed), false (unknown: no
  -- version gate), or parsed (an unparsable stated version disables the gate)
  if opts.airflow_version ~= nil then self.server_version = versions.parse(opts.airflow_version) or false end
  local transport = opts.transport
  if transport == nil or type(transport) == "string" then
    local user_agent = opts.user_agent or ("lua-airflow/" .. require("airflow.version"))
    local o = setmetatable({ user_agent = user_agent }, { __index = opts })
    local t, err = transports.new(transport or transports.default_name(), o)
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
---@return "v1"|"v2"|nil api
---@return airflow.Error|nil err
function methods:api_version()
  if self.api then return self.api end
  for _, candidate in ipairs{ "v2", "v1" } do
    local url = self.base_url .. "/api/" .. candidate .. "/version"
    -- no credentials: v1 may want them even for /version, but a 401 proves the API exists
    local res, err = request.one(self, { method = "GET", url = url, no_auth = true,
      headers = { Accept = "application/json" } })
    if not res then return nil, err end
    if res.status == 200 or (candidate == "v1" and (res.status == 401 or res.status == 403)) then
      if candidate == "v2" and rawget(self, "server_version") == nil then -- the answer names the version
        request.note_version(self, res.status == 200 and res or nil)
      end
      self.api = candidate
      self.auth.api = candidate
      return candidate
    end
  end
  return nil, Error.new{ kind = "Unknown", title = "API version not found",
    detail = "neither /api/v2/version nor /api/v1/version answered at " .. self.base_url }
end

--- Builds the transport request of an operation without sending it (raises on bad
-- arguments, before any I/O): {method, url, headers, body, timeout}.
-- @param op an operation (from the registry) or "resource.operation_id"
-- @param args the arguments table (path, query and header parameters; body)
-- @param opts per-call options (timeout, accept)
-- @return the request, or nil, err when the API version could not be learnt
---@param op table|string
---@param args? table
---@param opts? airflow.CallOptions
---@return airflow.TransportRequest|nil request
---@return airflow.Error|nil err
function methods:prepare(op, args, opts)
  local found, err = self:operation(op, 2)
  if not found then return nil, err end
  return request.prepare(self, found, args or {}, opts, 1)
end

--- Finds an operation of the API in use.
-- @param op an operation (from the registry) or "resource.operation_id"
-- @param level the stack level to blame for an unknown name
-- @return the operation, or nil, err when the API version could not be learnt
---@param op table|string
---@param level? integer
---@return table|nil operation
---@return airflow.Error|nil err
function methods:operation(op, level)
  if type(op) ~= "string" then return op end
  local api, err = self:api_version()
  if not api then return nil, err end
  local found, why = registry.find(api, op)
  if not found then fail((level or 1) + 1, "%s", why) end
  return found
end

--- Turns a transport response into an operation's result (see airflow.request.decode).
---@param res airflow.core.Response
---@param method string
---@param url string
---@param expect? string
---@return any result
---@return airflow.Error|nil err
function methods:decode(res, method, url, expect)
  return request.decode(self, res, method, url, expect)
end

--- Calls an operation: builds, sends, decodes.
-- @param op an operation (from the registry) or "resource.operation_id"
-- @param args the arguments table (path, query and header parameters; body)
-- @param opts per-call options: timeout (seconds), retry (true: retry POST/PATCH too),
--   accept (the Accept header to send instead of the operation's default)
---@param op table|string
---@param args? table
---@param opts? airflow.CallOptions
---@return any result
---@return airflow.Error|nil err
function methods:call(op, args, opts)
  local found, err = self:operation(op, 2)
  if not found then return nil, err end
  if args ~= nil and type(args) ~= "table" then
    fail(2, "%s.%s: arguments must be a table, got %s", found.resource, found.name, type(args))
  end
  return request.call(self, found, args or NO_ARGS, opts, 1)
end

--- Sends a request that is not one of the registry's operations, with the same
-- credentials, hooks, retries, renewal, errors and decoding as the operations.
-- @param spec {method = "GET", path = "/api/v2/..." (or url = a full URL on the
--   client's origin), query = {name = value | {values}}, headers = {name = value},
--   body = table (sent as JSON) | string, timeout = seconds, retry = true}
-- @return the decoded body (true for an empty success, text for text), or nil, err
---@param spec table method, path (or url), query, headers, body, timeout, retry: as above
---@return any result
---@return airflow.Error|nil err
function methods:request(spec)
  local req = request.prepare_raw(self, spec, 2)
  local res, err = request.one(self, req, spec)
  if not res then return nil, err end
  return request.decode(self, res, req.method, req.url)
end

--- Lists the operations of the API in use: {resource, name, method, path, params}.
---@return table[]|nil operations {resource, name, method, path, params, body} each
---@return airflow.Error|nil err
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
        return request.call(client, op, args, opts, 1)
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
    fail(2, "no resource or method '%s'%s", key, suggest.hint(key, names))
  end
  local r = resource_table(self, key)
  rawset(self, key, r) -- made once: later lookups are plain field reads
  return r
end

Client.__tostring = function(self)
  return ("airflow.Client(%s, %s, auth: %s)"):format(self.api or "auto", self.base_url, self.auth:describe())
end
Client.__name = "airflow.Client"

-- The helpers, each a module whose `methods` become client methods. Adding one is
-- a new file and a line here.
local HELPERS = {
  "airflow.paginate", -- pages, each, collect, collect_request
  "airflow.wait",     -- wait_dag_run
  "airflow.logs",     -- follow_log
  "airflow.mask",     -- update
  "airflow.state_store",     -- state_store (task instances and assets)
  "airflow.connection_test", -- test_connection
  "airflow.dag_runs",        -- update_dag_runs, delete_dag_runs, clear_dag_runs
  "airflow.clear_failed",    -- clear_failed
}
for _, name in ipairs(HELPERS) do
  for k, f in pairs(require(name).methods) do methods[k] = f end
end

return Client
