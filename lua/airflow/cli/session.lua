--- The client behind the command line: credentials (with the v2 token cache),
-- --verbose request logging, and decoding that keeps empty arrays.
-- @module airflow.cli.session
local airflow = require("airflow")
local Auth = require("airflow.auth")
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

-- The API a dry run speaks without asking the server: the one asked for, else the
-- URL's /api/vN suffix, else v2.
local function offline_api(s)
  return (s.api ~= "auto" and s.api) or s.url:match("/api/(v[12])/*$") or "v2"
end

--- The client for the settings.
-- @param s the settings (airflow.cli.config.resolve), with cache_path
-- @param ui {err = stderr file, out = stdout file (for --dry-run), warn = function(msg), verbose = bool}
-- @param extra {skip_cache = true} to ignore a cached token (login)
-- @return client, state; or nil, err (an airflow.Error)
---@param s table the settings
---@param ui table
---@param extra? { skip_cache?: boolean }
---@return airflow.Client|nil client
---@return table|airflow.Error state, or the error
function M.connect(s, ui, extra)
  if not s.url then
    util.usage("no Airflow URL: use --url URL, AIRFLOW_URL, or url = in a profile of the config file")
  end
  local state = { ui = ui, skip_cache = extra and extra.skip_cache, settings = s }
  local function new_client(api, creds, transport)
    local o = { base_url = s.url, api = api, retries = s.retries, timeout = s.timeout, verify_tls = not s.insecure,
      ca_file = s.ca_file, user_agent = M.USER_AGENT, transport = transport or "curl", json_decode = cjson.decode,
      read_only = s.read_only }
    hooks(o, ui)
    for k, v in pairs(creds or {}) do o[k] = v end
    return airflow.new(o)
  end
  local api = s.api
  if s.dry_run then return M.dry_run(s, ui, new_client) end
  if s.auth == "password" and api == "auto" then
    local probe, perr = new_client("auto")
    if not probe then return nil, perr end
    local found, verr = probe:api_version()
    probe:close()
    if not found then return nil, verr end
    api = found
  end
  local effective = offline_api({ api = api, url = s.url })
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

--- The client of `--dry-run`: no credentials (nothing is fetched, not even a token),
-- and a transport that prints each request with its credentials masked.
---@param s table the settings
---@param ui table {out, err, warn, verbose}: requests are printed on out
---@param new_client fun(api: string, creds: table?, transport: table): airflow.Client?, airflow.Error?
---@return airflow.Client|nil client
---@return table state or an airflow.Error
function M.dry_run(s, ui, new_client)
  local api = offline_api(s)
  local auth = { kind = "none" }
  if s.auth == "token" then
    auth.kind = "bearer"
  elseif s.auth == "password" and api == "v1" then
    auth.kind, auth.user = "basic", s.username
  elseif s.auth == "password" then
    auth.kind, auth.fetched = "bearer", true
  end
  local client, err = new_client(api, nil, require("airflow.cli.dry_run").new(ui.out, auth))
  if not client then return nil, err end
  return client, { ui = ui, settings = s, client = client }
end

--- The error to report: the login failure behind a "token_provider failed".
-- Raises a usage failure when a token was needed but there is no password.
---@param state table|nil
---@param err any
---@return any err
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
