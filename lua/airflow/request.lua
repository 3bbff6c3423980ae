--- The request pipeline: the one place that decides what happens to a request.
--
-- `prepare` turns an operation and its arguments into a transport request (raising
-- on programming mistakes, before any I/O); then the request is exchanged in one of
-- four modes, all under one policy:
--
--   one(client, req)                 -> response | nil, err
--   each(client, reqs, concurrency)  -> iterator (i, response | i, nil, err)
--   many(client, reqs, concurrency)  -> responses, errors (in input order)
--   stream(client, req)              -> stream | nil, err
--
-- The policy, in every mode: credentials from `client.auth` applied to
-- `client.transport` (this module is the only reader of both), the on_request /
-- on_response / on_retry hooks, retries of idempotent requests (or `retry = true`)
-- on connection failures and 429/502/503/504 with exponential backoff and
-- Retry-After, one renewal of the credentials on a 401 (or a 403 after the token's
-- `exp`), then `decode` turns a response into the operation's result or an
-- `airflow.Error`.
-- @module airflow.request
local core = require("airflow.core")
local json = require("airflow.json")
local Error = require("airflow.error")
local registry = require("airflow.registry")
local versions = require("airflow.versions")

local M = {}

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local RETRY_TRANSPORT = { connect = true, recv = true, send = true, timeout = true, resolve = true }

-- Request bodies the API requires a key in, as data: api -> operation -> defaults.
-- Airflow 3 requires `logical_date` when triggering a run; null lets the server pick.
local BODY_DEFAULTS = {
  v2 = { trigger_dag_run = { logical_date = json.null } },
}

local function fail(level, fmt, ...)
  error("airflow: " .. fmt:format(...), level + 1)
end

-- ------------------------------------------------------------------ hooks

--- Reports to a hook ("on_request", "on_response" or "on_retry"); a failing hook
-- is reported on stderr and never breaks the request.
---@param client airflow.Client
---@param name "on_request"|"on_response"|"on_retry"
---@param info table
function M.hook(client, name, info)
  local hook = client.hooks[name]
  if hook then
    local ok, err = pcall(hook, info)
    if not ok then io.stderr:write("airflow: ", name, " hook failed: ", tostring(err), "\n") end
  end
end
local hook = M.hook

-- ------------------------------------------------------------------ prepare

-- Verbs a read-only client may send (the option `read_only`).
local READ_VERBS = { GET = true, HEAD = true }

-- Raises when a read-only client would send `method`; `what` names the request.
local function check_read_only(client, method, what, level)
  if client.read_only and not READ_VERBS[method] then
    fail(level + 1, "%s: refused: the client is read-only (read_only = true) and this request is a %s",
      what, method)
  end
end

--- The server's Airflow version, parsed ({major, minor, patch, text = "3.2.1"}), or
-- false when it is unknown: stated by the `airflow_version` option, or learnt once from
-- `GET /api/v2/version` through the pipeline (the hooks see it). A probe that fails
-- or answers no parsable version leaves it unknown for the client's life.
---@param client airflow.Client
---@return table|false version
function M.server_version(client)
  local v = rawget(client, "server_version")
  if v ~= nil then return v end
  local url = client.base_url .. "/api/v2/version"
  local res = M.one(client, { method = "GET", url = url, no_auth = true, headers = { Accept = "application/json" } })
  return M.note_version(client, res and res.status == 200 and res or nil)
end

--- Keeps the server's version from a 200 answer of `GET /api/v2/version` (or false,
-- unknown, when there is none or it names no parsable version), and returns it.
---@param client airflow.Client
---@param res? airflow.core.Response
---@return table|false version
function M.note_version(client, res)
  local body = res and client.json_decode(res.body or "")
  local v = type(body) == "table" and versions.parse(body.version) or false
  client.server_version = v
  return v
end

--- The place to refuse an operation before any I/O: every prepared request passes
-- through it, raising at `level` (as for `error`) naming what was refused.
-- A read-only client refuses every verb but GET and HEAD. A v2 operation or parameter
-- the server is known to lack (airflow.versions) is refused, naming both versions; the
-- server's version is learnt only when a call uses something some documented version
-- lacks.
---@param client airflow.Client
---@param op table the operation (from airflow.registry)
---@param args table its arguments
---@param level integer the stack level to blame
function M.check(client, op, args, level)
  check_read_only(client, op.method, op.resource .. "." .. op.name, level + 1)
  if op.api ~= "v2" or rawget(client, "server_version") == false or not versions.gated(op, args) then return end
  local server = M.server_version(client)
  local why = server and versions.refusal(op, args, server)
  if why then error("airflow: " .. why, level + 1) end
end

-- The body with the operation's required defaults filled in (a copy when one was).
local function with_defaults(op, body)
  local defaults = BODY_DEFAULTS[op.api]
  defaults = defaults and defaults[op.name]
  if not defaults then return body end
  if body == nil then body = {} end
  if type(body) ~= "table" then return body end
  local missing = false
  for k in pairs(defaults) do missing = missing or body[k] == nil end
  if not missing then return body end
  local filled = {} -- the defaults, then the caller's values over them
  for k, v in pairs(defaults) do filled[k] = v end
  for k, v in pairs(body) do filled[k] = v end
  return filled
end

local function encode_body(op, body, level)
  if type(body) == "string" then return body end
  if type(body) == "table" then
    local reg = registry.get(op.api)
    return json.encode_body(body, reg.body_schema(op), reg.schemas())
  end
  fail(level + 1, "%s.%s: 'body' must be a table or a JSON string, got %s", op.resource, op.name, type(body))
end

local function url_encode(s)
  return (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- A query table as a query string: keys sorted, array values repeat the key.
-- `what` names the table in errors, raised at `level`.
local function query_string(query, what, level)
  local keys = {}
  for k in pairs(query) do
    if type(k) ~= "string" then fail(level + 1, "%s: query keys must be strings", what) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    local list = type(v) == "table" and v or { v }
    for _, x in ipairs(list) do
      if type(x) ~= "string" and type(x) ~= "number" and type(x) ~= "boolean" then
        fail(level + 1, "%s: query value of '%s' must be a string, number or boolean, got %s", what, k, type(x))
      end
      parts[#parts + 1] = url_encode(k) .. "=" .. url_encode(tostring(x))
    end
  end
  return table.concat(parts, "&")
end

-- The URL with a query string appended.
local function with_query(url, q)
  if q == "" then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. q
end

-- The URL with the per-call `extra_query` (parameters newer than the registry) added;
-- a parameter the registry knows must be passed as an argument.
local function extra_query(op, url, extra, level)
  if extra == nil then return url end
  local what = op.resource .. "." .. op.name .. ": extra_query"
  if type(extra) ~= "table" then fail(level + 1, "%s must be a table, got %s", what, type(extra)) end
  for k in pairs(extra) do
    if op.param_by_name[k] then
      fail(level + 1, "%s: '%s' is a parameter of the operation: pass it with the arguments", what, tostring(k))
    end
  end
  return with_query(url, query_string(extra, what, level + 1))
end

--- Builds the transport request of an operation (raises on bad arguments).
-- @param client the client
-- @param op an operation from the registry
-- @param args path, query and header parameters by name, and `body`
-- @param opts per-call options: timeout, retry, accept (overrides the Accept header),
--   extra_query (query parameters the registry does not know, for a newer server:
--   {name = value | {values}}, encoded like the operation's own)
-- @param level the stack level to blame for a bad argument, as for `error`
--   (1: the caller of prepare)
-- @return the transport request {method, url, headers, body, timeout}
---@param client airflow.Client
---@param op table
---@param args table
---@param opts? airflow.CallOptions
---@param level? integer
---@return airflow.TransportRequest
function M.prepare(client, op, args, opts, level)
  level = level or 1
  M.check(client, op, args, level + 1)
  local params, body = args, args.body
  if body ~= nil then -- the parameters without the body (the caller's table stays as is)
    params = {}
    for k, v in pairs(args) do
      if k ~= "body" then params[k] = v end
    end
  end
  body = with_defaults(op, body)
  local method, url, headers = core.build(op.api, op.index, client.base_url, params, body ~= nil)
  if not method then error("airflow: " .. url, level + 1) end
  url = extra_query(op, url, opts and opts.extra_query, level + 1)
  -- the builder names headers as "Accept", "Content-Type": the per-call accept option
  -- first, then an accept parameter, then the registry's default (the generator's)
  local accept = opts and opts.accept
  if accept or headers.Accept == nil then headers.Accept = accept or op.accept end
  return { method = method, url = url, headers = headers,
    body = body ~= nil and encode_body(op, body, level + 1) or nil, timeout = opts and opts.timeout }
end

local RAW_KEYS = { method = true, path = true, url = true, query = true, headers = true, body = true,
  timeout = true, retry = true }

--- Builds a raw request (`client:request{...}`): a path on the client's server (or a
-- full URL on the same origin), a query table, headers by name and a body.
-- Raises on a programming mistake, before any I/O.
---@param client airflow.Client
---@param spec table see client:request
---@param level? integer
---@return airflow.TransportRequest
function M.prepare_raw(client, spec, level)
  level = (level or 1) + 1
  if type(spec) ~= "table" then fail(level, "request expects a table, got %s", type(spec)) end
  for k in pairs(spec) do
    if not RAW_KEYS[k] then fail(level, "request: unknown field '%s'", tostring(k)) end
  end
  local method = spec.method or "GET"
  if type(method) ~= "string" or not method:match("^%u+$") then
    fail(level, "request: 'method' must be an upper-case HTTP verb, got %s", tostring(method))
  end
  check_read_only(client, method, "request", level)
  local url
  if spec.url ~= nil then
    if type(spec.url) ~= "string" or spec.url:sub(1, #client.base_url + 1) ~= client.base_url .. "/" then
      fail(level, "request: 'url' must be on the client's origin (%s/...)", client.base_url)
    end
    url = spec.url
  elseif type(spec.path) == "string" and spec.path:sub(1, 1) == "/" then
    url = client.base_url .. spec.path
  else
    fail(level, "request: 'path' must be a string starting with '/' (or give 'url')")
  end
  if url:find("[%c ]") then fail(level, "request: the URL holds a space or control character") end
  if spec.query ~= nil then
    if type(spec.query) ~= "table" then fail(level, "request: 'query' must be a table") end
    url = with_query(url, query_string(spec.query, "request", level))
  end
  local headers = { Accept = "application/json" }
  if spec.headers ~= nil then
    if type(spec.headers) ~= "table" then fail(level, "request: 'headers' must be a table") end
    for k, v in pairs(spec.headers) do
      if type(k) ~= "string" or not k:match("^[%w!#$%%&'*+.^_`|~-]+$") then
        fail(level, "request: invalid header name %s", tostring(k))
      end
      if type(v) ~= "string" or v:find("[%c]") then
        fail(level, "request: header '%s' must be a string without control characters", k)
      end
      if k:lower() == "authorization" then fail(level, "request: credentials come from the client, not 'headers'") end
      if k:lower() == "accept" then headers.Accept = nil end
      headers[k] = v
    end
  end
  local body = spec.body
  if type(body) == "table" then
    body = json.encode(body)
    if not headers["Content-Type"] then headers["Content-Type"] = "application/json" end
  elseif body ~= nil and type(body) ~= "string" then
    fail(level, "request: 'body' must be a table or a string, got %s", type(body))
  end
  return { method = method, url = url, headers = headers, body = body, timeout = spec.timeout }
end

-- ------------------------------------------------------------------ policy

--- Seconds to wait before retry `attempt` (1-based): Retry-After when the server
-- gave one (capped), else exponential backoff with full jitter.
---@param client airflow.Client
---@param attempt integer
---@param retry_after? string|number
---@return number seconds
function M.backoff(client, attempt, retry_after)
  local wait = tonumber(retry_after)
  if wait then return math.min(math.max(wait, 0), client.retry_max_wait) end
  local cap = math.min(client.retry_backoff * 2 ^ (attempt - 1), client.retry_max_wait)
  return cap / 2 + math.random() * cap / 2
end

-- What comes after attempt `attempt` gave res (or the transport error terr):
-- nil when that is the outcome; "renew" to replay once with fresh credentials;
-- else the seconds to wait before the next attempt.
local function decide(client, req, policy, attempt, renewed, res, terr)
  local retryable = IDEMPOTENT[req.method] or (policy and policy.retry)
  if res then
    local status = res.status
    if (status == 401 or status == 403) and not renewed and not req.no_auth and client.auth:can_renew() and
       (status == 401 or client.auth:expired()) then
      return "renew"
    end
    if retryable and RETRY_STATUS[status] and attempt <= client.retries then
      return M.backoff(client, attempt, res.headers["retry-after"])
    end
    return nil
  end
  if retryable and RETRY_TRANSPORT[terr.code] and attempt <= client.retries then
    return M.backoff(client, attempt)
  end
  return nil
end

-- Fetches (when needed) and applies the credentials: the table applied, or nil, err.
local function credentials(client, no_auth)
  if no_auth then return true end
  local creds, err = client.auth:credentials(client)
  if not creds then return nil, err end
  client.transport:set_auth(creds)
  return creds
end

-- One exchange through the transport, reported to the hooks.
local function send(client, req, attempt)
  local hooks = client.hooks
  if not (hooks.on_request or hooks.on_response) then return client.transport:request(req) end
  local info = { method = req.method, url = req.url, attempt = attempt }
  hook(client, "on_request", info)
  local t0 = client.now()
  local res, terr = client.transport:request(req)
  info.duration = client.now() - t0
  info.status = res and res.status or nil
  info.error = terr and terr.code or nil
  hook(client, "on_response", info)
  return res, terr
end

-- Before the next attempt: forget refused credentials, or report and wait.
local function prepare_next(client, req, step, attempt, creds, res, terr)
  if step == "renew" then
    client.auth:refused(creds)
    return attempt
  end
  hook(client, "on_retry", { method = req.method, url = req.url, attempt = attempt,
    status = res and res.status, error = terr and terr.code, wait = step })
  client.sleep(step)
  return attempt + 1
end

-- Carries on from attempt `attempt`'s outcome until the policy has its final answer.
local function settle(client, req, policy, attempt, renewed, creds, res, terr)
  while true do
    local step = decide(client, req, policy, attempt, renewed, res, terr)
    if step == nil then
      if res then return res end
      return nil, Error.from_transport(terr, req.method, req.url)
    end
    if step == "renew" then renewed = true end
    attempt = prepare_next(client, req, step, attempt, creds, res, terr)
    local cerr
    creds, cerr = credentials(client, req.no_auth)
    if not creds then return nil, cerr end
    res, terr = send(client, req, attempt)
  end
end

-- ------------------------------------------------------------------ modes

--- Exchanges one request under the policy.
-- @param req a transport request {method, url, headers, body, timeout, no_auth}
-- @param policy {retry = true} to retry a request that is not idempotent (optional)
-- @return the transport response (any status), or nil, airflow.Error
---@param client airflow.Client
---@param req airflow.TransportRequest
---@param policy? { retry?: boolean }
---@return airflow.core.Response|nil response
---@return airflow.Error|nil err
function M.one(client, req, policy)
  local creds, cerr = credentials(client, req.no_auth)
  if not creds then return nil, cerr end
  return settle(client, req, policy, 1, false, creds, send(client, req, 1))
end

-- The first attempt of every request at once, through request_each, or through
-- request_many when the transport has no request_each: step(), closing.
local function first_attempts(client, reqs, concurrency)
  local transport = client.transport
  if transport.request_each then
    local step, state, _, closing = transport:request_each(reqs, concurrency)
    if step then return function() return step(state) end, closing end
    local err, i = state, 0 -- the batch could not start: each request fails with its error
    return function()
      i = i + 1
      if i <= #reqs then return i, nil, err end
    end
  end
  local resps, errs = transport:request_many(reqs, concurrency)
  local i = 0
  return function()
    i = i + 1
    if i <= #reqs then return i, resps[i] or nil, errs[i] end
  end
end

--- Exchanges many requests at once, at most `concurrency` in flight, and iterates
-- over the outcomes as each is final: `for i, res, err in request.each(client, reqs, n)`.
-- A request whose first answer calls for a retry or a renewal goes through the same
-- policy as `one` once the batch has drained (the transport runs one batch at a time).
-- @return iterator (-> i, response | i, nil, airflow.Error), nil, nil, and a value to
--   close to abandon the rest (nil when there is nothing to close)
---@param client airflow.Client
---@param reqs airflow.TransportRequest[]
---@param concurrency integer
---@param policy? { retry?: boolean }
---@return fun(): integer|nil, airflow.core.Response|nil, airflow.Error|nil iterator
function M.each(client, reqs, concurrency, policy)
  local n = #reqs
  local creds, cerr = credentials(client)
  if not creds then
    local i = 0
    return function()
      i = i + 1
      if i <= n then return i, nil, cerr end
    end
  end
  local hooks = client.hooks
  if hooks.on_request then
    for _, req in ipairs(reqs) do hook(client, "on_request", { method = req.method, url = req.url, attempt = 1 }) end
  end
  local t0 = client.now()
  local step, closing = first_attempts(client, reqs, concurrency)
  local later, stepping = {}, true
  return function()
    while stepping do
      local i, res, terr = step()
      if not i then
        stepping = false
        break
      end
      local req = reqs[i]
      if hooks.on_response then
        hook(client, "on_response", { method = req.method, url = req.url, attempt = 1,
          duration = client.now() - t0, status = res and res.status or nil, error = terr and terr.code or nil })
      end
      if decide(client, req, policy, 1, false, res, terr) == nil then
        if res then return i, res end
        return i, nil, Error.is(terr) and terr or Error.from_transport(terr, req.method, req.url)
      end
      later[#later + 1] = { i = i, res = res, err = terr }
    end
    local item = table.remove(later, 1)
    if not item then return nil end
    return item.i, settle(client, reqs[item.i], policy, 1, false, creds, item.res, item.err)
  end, nil, nil, closing
end

--- Exchanges many requests at once; every outcome in input order.
-- @return responses (response or false each), errors (airflow.Error or nil each)
---@param client airflow.Client
---@param reqs airflow.TransportRequest[]
---@param concurrency integer
---@param policy? { retry?: boolean }
---@return (airflow.core.Response|false)[] responses
---@return (airflow.Error|nil)[] errors
function M.many(client, reqs, concurrency, policy)
  local resps, errs = {}, {}
  for i, res, err in M.each(client, reqs, concurrency, policy) do
    resps[i], errs[i] = res or false, err
  end
  return resps, errs
end

-- A stream whose first chunk was read to learn the status: next() hands that
-- chunk over first; close() reports the exchange to on_response once.
local Stream = {}
Stream.__index = Stream

function Stream:next()
  local first = self.first
  if first ~= nil then
    self.first = nil
    return first
  end
  return self.inner:next()
end

function Stream:close()
  self.inner:close()
  if self.info then
    local info = self.info
    self.info = nil
    info.duration = self.client.now() - self.t0
    hook(self.client, "on_response", info)
  end
end

--- True when the client's transport can stream.
---@param client airflow.Client
---@return boolean
function M.can_stream(client)
  return client.transport.stream ~= nil
end

--- Opens a streamed request under the policy: credentials, hooks, retries and
-- renewal apply until the response's head is known to be a success.
-- @return a stream (next() -> chunk | false at the end | nil, err; close()), or
--   nil, airflow.Error (an error response read whole)
---@param client airflow.Client
---@param req airflow.TransportRequest
---@param policy? { retry?: boolean }
---@return table|nil stream
---@return airflow.Error|nil err
function M.stream(client, req, policy)
  local attempt, renewed = 1, false
  while true do
    local creds, cerr = credentials(client)
    if not creds then return nil, cerr end
    local info = { method = req.method, url = req.url, attempt = attempt }
    hook(client, "on_request", info)
    local t0 = client.now()
    local inner, terr = client.transport:stream(req)
    local res, first
    if inner then
      first, terr = inner:next()
      if first ~= nil then
        res = inner:response()
        if res.status < 300 then
          info.status = res.status
          return setmetatable({ inner = inner, first = first, info = info, t0 = t0, client = client }, Stream)
        end
        local rest = { first or "" } -- an error answer: read it whole, to report or retry
        local chunk = first
        while chunk do
          chunk = inner:next()
          rest[#rest + 1] = chunk or ""
        end
        res = inner:response()
        res.body = table.concat(rest)
      end
      inner:close()
    end
    info.duration, info.status, info.error = client.now() - t0, res and res.status, terr and terr.code
    hook(client, "on_response", info)
    local step = decide(client, req, policy, attempt, renewed, res, terr)
    if step == nil then
      if res then return nil, Error.from_response(res, req.method, req.url) end
      return nil, Error.from_transport(terr, req.method, req.url)
    end
    if step == "renew" then renewed = true end
    attempt = prepare_next(client, req, step, attempt, creds, res, terr)
  end
end

-- ------------------------------------------------------------------ decode

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
-- JSON is decoded by the client's `json_decode` option when given.
-- @param expect the operation's success media types (registry `response_media`), if
--   known: when they are all JSON, a success that is not JSON (an SSO proxy's login
--   page, say) is an `InvalidResponse` error, never handed back as text
---@param client airflow.Client
---@param res airflow.core.Response
---@param method string
---@param url string
---@param expect? string
---@return any result
---@return airflow.Error|nil err
function M.decode(client, res, method, url, expect)
  local status = res.status
  if status < 200 or status >= 300 then
    return nil, Error.from_response(res, method, url)
  end
  local body = res.body
  if status == 204 or body == nil or body == "" then return true end
  local media = media_of(res)
  local want_json = expect ~= nil and expect ~= "" and json_only(expect)
  local decode = client.json_decode
  if media == "application/x-ndjson" then
    local lines = {}
    for line in body:gmatch("[^\n]+") do
      local v = decode(line)
      if v == nil then return nil, Error.invalid_response(res, method, url, "invalid NDJSON line") end
      lines[#lines + 1] = v
    end
    return lines
  end
  if media:find("json", 1, true) or media == "" then
    local v, why = decode(body)
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

--- Prepares, exchanges and decodes one operation call.
-- @param level the stack level to blame for a bad argument, as for `error`
-- @return the decoded result, or nil, airflow.Error
---@param client airflow.Client
---@param op table
---@param args table
---@param opts? airflow.CallOptions
---@param level? integer
---@return any result
---@return airflow.Error|nil err
function M.call(client, op, args, opts, level)
  local req = M.prepare(client, op, args, opts, (level or 1) + 1)
  local res, err = M.one(client, req, opts)
  if not res then return nil, err end
  return M.decode(client, res, req.method, req.url, op.response_media)
end

return M
