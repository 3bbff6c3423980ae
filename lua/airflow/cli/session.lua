--- The client behind the command line: credentials (with the v2 token cache),
-- --verbose request logging, the --all progress line, and decoding that keeps
-- empty arrays.
-- @module airflow.cli.session
local airflow = require("airflow")
local Auth = require("airflow.auth")
local Client = require("airflow.client")
local curl = require("airflow.transport.curl")
local Error = require("airflow.error")
local cjson = require("airflow.cli.json")
local config = require("airflow.cli.config")
local util = require("airflow.cli.util")

local M = {}

--- The User-Agent header of the command line.
M.USER_AGENT = "airflow-lua/" .. airflow._VERSION

local function log_line(ui, method, url, status, seconds, note)
  ui.err:write(("airflow-lua: %s %s -> %s (%.0f ms%s)\n"):format(method, url, tostring(status),
    seconds * 1000, note or ""))
end

-- The transport, wrapped to draw the --all progress line: request_each moves it as
-- each page arrives; request_many sends in batches of `concurrency` so that it
-- moves. (Every request is logged for --verbose by the library's hooks, below.)
local Wrapped = {}
Wrapped.__index = function(self, key)
  local inner = rawget(self, "_inner")
  local v = inner[key]
  if type(v) == "function" then
    return function(_, ...) return v(inner, ...) end
  end
  return v
end

local function request_many(self, reqs, concurrency)
  local inner, ui = self._inner, self._ui
  if not ui.progress then return inner:request_many(reqs, concurrency) end
  local batch = math.max(concurrency or 1, 1)
  local resps, errs = {}, {}
  for first = 1, #reqs, batch do
    local last = math.min(first + batch - 1, #reqs)
    local r, e = inner:request_many(table.move(reqs, first, last, 1, {}), concurrency)
    for i = 1, last - first + 1 do
      resps[first + i - 1] = r[i]
      errs[first + i - 1] = e and e[i] or nil
    end
    ui.progress(last + 1, #reqs + 1)
  end
  return resps, errs
end

-- The progress line moves as each page arrives.
local function request_each(self, reqs, concurrency)
  local inner, ui = self._inner, self._ui
  local step, state, init, closing = inner:request_each(reqs, concurrency)
  if not step or not ui.progress then return step, state, init, closing end
  local done = 0
  return function(st, ctl)
    local i, res, err = step(st, ctl)
    if i then
      done = done + 1
      ui.progress(done + 1, #reqs + 1)
    end
    return i, res, err
  end, state, init, closing
end

local function make_transport(opts, ui)
  local inner, err = curl.new(opts)
  if not inner then return nil, Error.from_transport(err) end
  local w = setmetatable({ _inner = inner, _ui = ui }, Wrapped)
  w.request_many = request_many
  w.request_each = request_each
  return w
end

local function hooks(opts, ui)
  if not ui.verbose then return end
  opts.on_response = function(info)
    log_line(ui, info.method, info.url, info.status or ("error: " .. tostring(info.error)), info.duration or 0,
      (info.attempt or 1) > 1 and (", attempt " .. info.attempt) or nil)
  end
  opts.on_retry = function(info)
    ui.err:write(("airflow-lua: retrying %s %s in %.1f s\n"):format(info.method, info.url, info.wait or 0))
  end
end

-- Decodes JSON responses keeping empty arrays; everything else as the library does.
local function decode(self, res, method, url, expect)
  if res.status >= 200 and res.status < 300 and res.body and res.body ~= "" then
    local media = ((res.headers and res.headers["content-type"] or ""):match("^%s*([^;%s]+)") or ""):lower()
    if media:find("json", 1, true) and media ~= "application/x-ndjson" then
      local v = cjson.decode(res.body)
      if v ~= nil then return v end
    end
  end
  return Client.methods.decode(self, res, method, url, expect)
end

-- A token_provider: the cached token first (when valid for this server and user),
-- then fresh ones from /auth/token, each written to the cache.
local function provider(state, s)
  local auth = Auth.new({ username = s.username, password = s.password }, "v2")
  local first = true
  return function()
    local client = state.client
    if first and s.cache_path and not state.skip_cache then
      first = false
      local tok, exp = config.read_token(s.cache_path, client.base_url, s.username, os.time())
      if tok then
        state.cached = true
        return tok, exp
      end
    end
    first = false
    if not s.password then
      state.need_password = true
      return nil, "no password"
    end
    local tok, exp = auth:fetch_token(client)
    if not tok then
      state.auth_error = exp
      return nil, "login failed"
    end
    state.fetched, state.token_exp = true, exp
    if s.cache_path and exp then
      local ok, werr = config.write_token(s.cache_path, client.base_url, s.username, tok, exp)
      if not ok then state.ui.warn("cannot cache the token: " .. tostring(werr)) end
      state.cache_written = ok
    end
    return tok, exp
  end
end

--- The client for the settings.
-- @param s the settings (airflow.cli.config.resolve), with cache_path
-- @param ui {err = stderr file, warn = function(msg), verbose = bool, progress = function(done, total)}
-- @param extra {skip_cache = true} to ignore a cached token (login)
-- @return client, state; or nil, err (an airflow.Error)
function M.connect(s, ui, extra)
  if not s.url then
    util.usage("no Airflow URL: use --url URL, AIRFLOW_URL, or url = in a profile of the config file")
  end
  local state = { ui = ui, skip_cache = extra and extra.skip_cache, settings = s }
  local topts = { timeout = s.timeout, verify_tls = not s.insecure, ca_file = s.ca_file, user_agent = M.USER_AGENT }
  local function new_client(api, creds)
    local transport, terr = make_transport(topts, ui)
    if not transport then return nil, terr end
    local o = { base_url = s.url, api = api, transport = transport, retries = s.retries }
    hooks(o, ui)
    for k, v in pairs(creds or {}) do o[k] = v end
    local c, err = airflow.new(o)
    if not c then return nil, err end
    c.decode = decode
    return c
  end
  local api = s.api
  if s.auth == "password" and api == "auto" then
    local probe, perr = new_client("auto")
    if not probe then return nil, perr end
    local found, verr = probe:api_version()
    probe:close()
    if not found then return nil, verr end
    api = found
  end
  local effective = (api ~= "auto" and api) or s.url:match("/api/(v[12])/*$") or "v2"
  if s.auth == "password" and not s.password and effective == "v1" then
    util.usage("no password for user %s: use --password-stdin, AIRFLOW_PASSWORD or password_command in the profile",
      s.username)
  end
  local creds
  if s.auth == "token" then
    creds = { token = s.token }
  elseif s.auth == "password" and effective == "v1" then
    creds = { username = s.username, password = s.password }
  elseif s.auth == "password" then
    creds = { token_provider = provider(state, s) }
  end
  local client, err = new_client(api, creds)
  if not client then return nil, err end
  state.client = client
  return client, state
end

--- The error to report: the login failure behind a "token_provider failed".
-- Raises a usage failure when a token was needed but there is no password.
function M.explain(state, err)
  if not state or type(err) ~= "table" or err.title ~= "token_provider failed" then return err end
  if state.need_password then
    local s = state.settings
    util.usage("no valid cached token for %s at %s, and no password: run `airflow-lua login`, or give the "
      .. "password (--password-stdin, AIRFLOW_PASSWORD, password_command in the profile)", s.username, s.url)
  end
  return state.auth_error or err
end

return M
