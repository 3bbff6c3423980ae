--- Settings of the command line: flags, then environment, then a profile of the
-- config file (`~/.config/airflow-lua/config`). Also secret commands, file mode
-- checks, and the per-profile token cache.
-- @module airflow.cli.config
local util = require("airflow.cli.util")
local cjson = require("airflow.cli.json")

local M = {}

--- Keys a profile may set.
M.KEYS = {
  url = true, api = true, username = true, password = true, token = true, token_command = true,
  password_command = true, ca_file = true, timeout = true, read_only = true,
}
local SECRET_KEYS = { password = true, token = true }

--- Environment variables read (besides XDG_CONFIG_HOME, XDG_CACHE_HOME and HOME).
M.ENV = {
  url = "AIRFLOW_URL", api = "AIRFLOW_API", token = "AIRFLOW_TOKEN", username = "AIRFLOW_USERNAME",
  password = "AIRFLOW_PASSWORD", ca_file = "AIRFLOW_CA_FILE", profile = "AIRFLOW_PROFILE",
  config = "AIRFLOW_LUA_CONFIG",
}

local function nonempty(v)
  if v == nil or v == "" then return nil end
  return v
end

local function home_dir(getenv, var, fallback)
  local dir = nonempty(getenv(var))
  if dir then return dir end
  local home = nonempty(getenv("HOME"))
  if not home then return nil end
  return home .. "/" .. fallback
end

--- The default config file: $XDG_CONFIG_HOME/airflow-lua/config (or ~/.config/...).
function M.default_path(getenv)
  local dir = home_dir(getenv, "XDG_CONFIG_HOME", ".config")
  return dir and (dir .. "/airflow-lua/config")
end

--- Parses the INI-like config text: `[default]` and `[profile NAME]` sections of
-- `key = value` lines; `#` and `;` start comments.
-- @param text the file's content
-- @param path the file, for messages
-- @param warn a function(message) for warnings
-- @return sections (name -> {key = value}), has_secret
function M.parse(text, path, warn)
  local sections, current, has_secret = {}, nil, false
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", ""):match("^%s*(.-)%s*$")
    if line ~= "" and not line:match("^[#;]") then
      local head = line:match("^%[%s*(.-)%s*%]$")
      if head then
        local name = head == "default" and "default" or head:match("^profile%s+(%S+)$")
        if not name then
          util.usage("%s:%d: a section is [default] or [profile NAME], got [%s]", path, n, head)
        end
        current = sections[name] or {}
        sections[name] = current
      else
        local key, value = line:match("^([%w_%-]+)%s*=%s*(.-)$")
        if not key then util.usage("%s:%d: expected key = value", path, n) end
        if not current then util.usage("%s:%d: '%s' comes before any [section]", path, n, key) end
        value = value:match('^"(.*)"$') or value:match("^'(.*)'$") or value
        if not M.KEYS[key] then
          warn(("%s:%d: unknown key '%s'%s"):format(path, n, key, util.suggest(key, M.KEYS)))
        end
        if SECRET_KEYS[key] and value ~= "" then has_secret = true end
        current[key] = value
      end
    end
  end
  return sections, has_secret
end

--- The permission bits of a file (an integer such as 0x1a4 for 0644), or nil.
function M.file_mode(path)
  local ok, lfs = pcall(require, "lfs")
  if ok and type(lfs) == "table" and lfs.attributes then
    local perms = lfs.attributes(path, "permissions")
    if type(perms) == "string" and #perms == 9 then
      local mode = 0
      for i = 1, 9 do
        mode = mode * 2 + (perms:sub(i, i) ~= "-" and 1 or 0)
      end
      return mode
    end
  end
  local p = io.popen("stat -L -c %a " .. util.shell_quote(path) .. " 2>/dev/null")
  if not p then return nil end
  local out = p:read("l")
  p:close()
  return out and tonumber(out, 8)
end

--- Loads and checks the config file.
-- @param path the file
-- @param explicit true when the user named it (then it must exist)
-- @param warn a function(message)
-- @return {path, sections} or nil when there is no file
function M.load(path, explicit, warn)
  local f = path and io.open(path, "rb")
  if not f then
    if explicit then util.usage("cannot read the config file %s", path) end
    return nil
  end
  local text = f:read("a") or ""
  f:close()
  local sections, has_secret = M.parse(text, path, warn)
  local mode = M.file_mode(path)
  if mode and mode & 63 ~= 0 then
    if has_secret then
      util.usage("%s holds a password or token but other users may read it (mode %03o); refusing to use it. "
        .. "Run: chmod 600 %s", path, mode, path)
    end
    warn(("%s is accessible to other users (mode %03o); consider: chmod 600 %s"):format(path, mode, path))
  end
  return { path = path, sections = sections }
end

--- Runs a secret command (token_command, password_command): its first line of output.
function M.run_secret_command(cmd, what)
  local p = io.popen(cmd, "r")
  if not p then util.usage("%s could not be started", what) end
  local line = p:read("l")
  p:read("a")
  local ok, _, status = p:close()
  if not ok then util.usage("%s failed (exit status %s)", what, tostring(status)) end
  if not line or line == "" then util.usage("%s printed nothing", what) end
  return line
end

-- The first line of standard input, for --password-stdin and --token-stdin.
local function read_secret_stdin(flag, what)
  local line = io.stdin:read("l")
  if not line or line == "" then util.usage("--%s: no %s on standard input", flag, what) end
  return (line:gsub("\r$", ""))
end

local function check_url(url)
  if not url:match("^https?://[^/]") then
    util.usage("the Airflow URL must start with http:// or https://, got '%s'", (url:gsub("//[^/]*@", "//***@")))
  end
  if url:match("^%a[%w+.-]*://[^/]*@") then
    util.usage("the Airflow URL must not contain credentials: use --username with --password-stdin, or --token")
  end
end

-- Credentials: the highest layer that names a token or a user decides the kind.
local function credentials(s, layers, profile)
  local fl, ev = layers[1], layers[2]
  for _, layer in ipairs(layers) do
    if layer.token or layer.token_command then
      s.auth = "token"
      break
    elseif layer.username then
      s.auth = "password"
      break
    end
  end
  if s.auth == "token" then
    s.token = fl.token or ev.token or profile.token
    if not s.token then s.token = M.run_secret_command(profile.token_command, "token_command") end
  elseif s.auth == "password" then
    s.username = fl.username or ev.username or profile.username
    s.password = fl.password or ev.password or profile.password
    if not s.password and profile.password_command then
      s.password = M.run_secret_command(profile.password_command, "password_command")
    end
    -- without a password, v2 can still use a token cached by `airflow-lua login`
  else
    s.auth = "none"
  end
end

--- Resolves the settings. Raises usage failures for bad input.
-- @param flags the parsed flags
-- @param getenv a function like os.getenv
-- @param warn a function(message) for warnings
-- @return settings {url, api, auth ("token"|"password"|"none"), token, username, password,
--   ca_file, insecure, timeout, profile, config_path, dry_run, read_only}
function M.resolve(flags, getenv, warn)
  local env = function(key) return nonempty(getenv(M.ENV[key])) end
  local cfg_path = flags.config or env("config")
  local explicit_cfg = cfg_path ~= nil
  cfg_path = cfg_path or M.default_path(getenv)
  local profile_name = flags.profile or env("profile")
  local cfg = M.load(cfg_path, explicit_cfg, warn)
  local profile = {}
  if cfg and cfg.sections[profile_name or "default"] then
    for k, v in pairs(cfg.sections[profile_name or "default"]) do profile[k] = nonempty(v) end
  elseif profile_name and profile_name ~= "default" then
    if cfg then
      util.usage("no profile '%s' in %s%s", profile_name, cfg_path, util.suggest(profile_name, cfg.sections))
    end
    util.usage("profile '%s' asked for, but there is no config file (%s)", profile_name, tostring(cfg_path))
  end
  local fl = {
    url = flags.url, api = flags.api, token = flags.token, username = flags.username,
    password = flags.password, ca_file = flags["ca-file"], timeout = flags.timeout,
  }
  -- a secret given as a flag is visible to other users; each has a -stdin twin
  for _, secret in ipairs{ { "password", "AIRFLOW_PASSWORD" }, { "token", "AIRFLOW_TOKEN" } } do
    local name, env_name = secret[1], secret[2]
    local stdin_flag = name .. "-stdin"
    if flags[name] then
      warn(("a %s on the command line is visible to other users (ps, shell history); "
        .. "prefer --%s, %s or the config file"):format(name, stdin_flag, env_name))
    end
    if flags[stdin_flag] then
      if flags[name] then util.usage("give either --%s or --%s, not both", name, stdin_flag) end
      if flags.body == "-" or flags.conf == "-" then
        util.usage("--%s and --%s - cannot both read standard input", stdin_flag,
          flags.body == "-" and "body" or "conf")
      end
      fl[name] = read_secret_stdin(stdin_flag, name)
    end
  end
  if flags["password-stdin"] and flags["token-stdin"] then
    util.usage("give either --password-stdin or --token-stdin, not both")
  end
  local ev = {}
  for _, k in ipairs{ "url", "api", "token", "username", "password", "ca_file" } do ev[k] = env(k) end
  local function pick(key) return fl[key] or ev[key] or profile[key] end
  local s = {
    url = pick("url"), api = pick("api"), ca_file = pick("ca_file"), insecure = flags.insecure or false,
    profile = profile_name or "default", config_path = cfg and cfg_path or nil,
  }
  if s.url then check_url(s.url) end
  if s.api and s.api ~= "v1" and s.api ~= "v2" and s.api ~= "auto" then
    util.usage("the API must be v1, v2 or auto, got '%s'", s.api)
  end
  local timeout = pick("timeout")
  if timeout then
    s.timeout = tonumber(timeout)
    if not s.timeout or not (s.timeout > 0 and s.timeout <= 2147483) then
      util.usage("the timeout must be a positive number of seconds up to 2147483, got '%s'", timeout)
    end
  end
  if flags.retries then
    s.retries = math.tointeger(tonumber(flags.retries))
    if not s.retries or s.retries < 0 then util.usage("--retries expects a non-negative integer") end
  end
  s.dry_run = flags["dry-run"] or false
  s.read_only = flags["read-only"] or false
  if profile.read_only then
    local on = util.BOOLEAN_WORDS[profile.read_only:lower()]
    if on == nil then
      util.usage("read_only in profile '%s' must be true or false, got '%s'", s.profile, profile.read_only)
    end
    s.read_only = s.read_only or on
  end
  if s.insecure then warn("--insecure: TLS certificates are not verified") end
  credentials(s, { fl, ev, profile }, profile)
  return s
end

--- The offline API guess: the one asked for, or the /api/vN suffix of the URL, or v2.
function M.api_hint(flags, getenv)
  local api = flags.api or nonempty(getenv("AIRFLOW_API"))
  if api == "v1" or api == "v2" then return api end
  local url = flags.url or nonempty(getenv("AIRFLOW_URL")) or ""
  return url:match("/api/(v[12])/*$") or "v2"
end

-- ---------------------------------------------------------------- token cache

--- The token cache file of a profile: $XDG_CACHE_HOME/airflow-lua/<profile>.token.
function M.cache_path(getenv, profile)
  local dir = home_dir(getenv, "XDG_CACHE_HOME", ".cache")
  if not dir then return nil end
  return dir .. "/airflow-lua/" .. profile:gsub("[^%w_.%-]", "_") .. ".token"
end

--- A cached token for this server and user that is still valid, or nil.
-- @return token, exp
function M.read_token(path, url, username, now)
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local rec = cjson.decode(text or "")
  if type(rec) ~= "table" or rec.url ~= url or rec.username ~= username or type(rec.token) ~= "string"
     or type(rec.exp) ~= "number" or rec.exp <= now + 60 then
    return nil
  end
  return rec.token, rec.exp
end

--- Writes the token cache atomically, created under umask 077 (mode 0600, its
-- directory 0700). The token goes through a pipe, never a command line.
-- @return true, or nil and a message
function M.write_token(path, url, username, token, exp)
  local dir = path:match("^(.*)/[^/]*$")
  local tmp = ("%s.tmp.%d"):format(path, math.random(1, 1000000000))
  local q = util.shell_quote
  local cmd = ("umask 077 && mkdir -p %s && { cat > %s && mv -f %s %s || { rm -f %s; exit 1; }; }")
    :format(q(dir), q(tmp), q(tmp), q(path), q(tmp))
  local p = io.popen(cmd, "w")
  if not p then return nil, "cannot start the shell" end
  p:write(cjson.encode({ url = url, username = username, token = token, exp = exp }), "\n")
  local ok = p:close()
  if not ok then return nil, "cannot write " .. path end
  return true
end

--- Removes a cached token.
function M.remove_token(path)
  if path then os.remove(path) end
end

return M
