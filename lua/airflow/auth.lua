--- Credentials for the client: v2 tokens from /auth/token (cached, renewed before
-- their JWT `exp`, renewed once on a 401), static tokens, token providers, v1
-- basic auth and Kerberos (negotiate). Secrets stay in this object's closure-free
-- private fields and are never formatted into messages.
-- @module airflow.auth
local json = require("airflow.json")
local Error = require("airflow.error")
local request = require("airflow.request")

---The credentials of a client, owned by it (secrets kept out of its printable fields).
---@class airflow.Auth
---@field mode "none"|"negotiate"|"static"|"password"|"provider"
---@field api "v1"|"v2"|nil
local M = {}
M.__index = M

-- Renew this many seconds before the token's exp, for clock skew and latency.
local EXPIRY_MARGIN = 30

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, #B64 do B64_INDEX[B64:byte(i)] = i - 1 end

--- Decodes base64url text (no padding needed); nil when invalid.
local function b64url_decode(s)
  s = s:gsub("-", "+"):gsub("_", "/")
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[s:byte(i)]
    if v == nil then
      if s:sub(i, i) ~= "=" then return nil end
      break
    end
    bits = bits * 64 + v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      local byte = math.floor(bits / 2 ^ nbits) % 256
      out[#out + 1] = string.char(byte)
      bits = bits % (2 ^ nbits)
    end
  end
  return table.concat(out)
end

--- The `exp` claim of a JWT, or nil when the token is not a JWT.
---@param token string
---@return integer|nil exp
function M.jwt_expiry(token)
  local payload = type(token) == "string" and token:match("^[%w_%-]+%.([%w_%-]+)%.")
  if not payload then return nil end
  local text = b64url_decode(payload)
  local claims = text and json.decode(text)
  return type(claims) == "table" and M.expiry(claims.exp) or nil
end

-- The latest expiry taken as one: beyond it (or not finite: a server can send 1e999)
-- a token is treated as one without an expiry, so no later arithmetic, cache lifetime
-- or shared-dict ttl sees an absurd number.
local MAX_EXPIRY = 2 ^ 40

--- An expiry (seconds since the epoch) as given by a server or a token provider,
-- or nil when it is no usable one (not a number, not finite, negative, absurd).
---@param v any
---@return number|nil
function M.expiry(v)
  v = tonumber(v)
  if v == nil or v ~= v or v < 0 or v > MAX_EXPIRY then return nil end
  return v
end

-- Credentials reach a request header: a bearer token as is, so a CR or LF in it would
-- start a header of the sender's choosing. A token must be visible ASCII (RFC 6750's
-- b64token is narrower still); basic credentials are base64-encoded, so they only
-- must not hold control characters (nor ':' in the user name, which would move the
-- split). The C session refuses the same bytes again as the last line of defence.
-- Messages name the position, never the bytes.

--- Why a bearer token cannot be sent, or nil when it can.
-- @param token the token (any value)
-- @return nil, or a message naming what is wrong
---@param token any
---@return string|nil problem
function M.token_problem(token)
  if type(token) ~= "string" then return "the token must be a string, got " .. type(token) end
  if token == "" then return "the token is empty" end
  local at = token:find("[^\33-\126]")
  if at then return ("the token has a byte outside visible ASCII at position %d"):format(at) end
  return nil
end

-- Why basic credentials (or the v2 login's user and password) cannot be used, or nil.
local function basic_problem(username, password)
  local at = username:find("[%c:\127]")
  if at then return ("the user name has a control character or ':' at position %d"):format(at) end
  at = type(password) == "string" and password:find("[%c\127]")
  if at then return ("the password has a control character at position %d"):format(at) end
  return nil
end

--- Creates the credential manager from client options.
-- @param opts the client options (username, password, token, token_provider, auth)
-- @param api "v1" or "v2" (may be nil while "auto" is unresolved)
-- @param clock a function returning the current time in seconds
-- Raises when a static credential cannot be sent (a programming or configuration
-- mistake, found before any I/O).
---@param opts table
---@param api? "v1"|"v2"
---@param clock? fun(): number
---@return airflow.Auth
function M.new(opts, api, clock)
  local self = setmetatable({ clock = clock or os.time }, M)
  local secret = {}
  if opts.auth == "negotiate" then
    self.mode = "negotiate"
  elseif opts.token_provider then
    self.mode = "provider"
    secret.provider = opts.token_provider
  elseif opts.token then
    local why = M.token_problem(opts.token)
    if why then error("airflow: option 'token': " .. why, 3) end
    self.mode = "static"
    secret.token = opts.token
  elseif opts.username then
    local why = basic_problem(opts.username, opts.password)
    if why then error("airflow: option 'username'/'password': " .. why, 3) end
    self.mode = "password"
    secret.username, secret.password = opts.username, opts.password
  else
    self.mode = "none"
  end
  -- kept apart from the object's fields, so that dumping the object shows no secret
  self.secret = setmetatable(secret, { __tostring = function() return "(secret)" end })
  self.api = api
  if self.mode == "password" then -- a token shared with other workers or processes
    self.store = opts.token_store or (opts.shared_dict and require("airflow.ngx_token_store").new(opts.shared_dict,
      tostring(opts.base_url) .. "\n" .. opts.username))
  end
  return self
end

--- A short description without secrets, for tostring(client).
---@return string
function M:describe()
  if self.mode == "password" then
    return (self.api == "v1" and "basic" or "token") .. " as " .. tostring(self.secret.username)
  end
  return self.mode
end

--- True when a failed request may be retried with fresh credentials.
---@return boolean
function M:can_renew()
  return self.mode == "provider" or (self.mode == "password" and self.api ~= "v1")
end

--- True when the cached token's expiry has passed (a 403 then means "expired").
---@return boolean
function M:expired()
  return self.expires_at ~= nil and self.clock() >= self.expires_at
end

--- Forgets the cached token so the next request fetches a new one.
function M:invalidate()
  if self.store and self.secret.cached then self.store:forget(self.secret.cached) end
  self.secret.cached = nil
  self.expires_at = nil
end

--- The server refused these credentials (a table `credentials` returned): forgets
-- them, unless they were already replaced (by another request that was refused too).
---@param creds airflow.Credentials
function M:refused(creds)
  if creds == self.secret.creds then self:invalidate() end
end

local function token_url(base_url)
  return base_url .. "/auth/token"
end

--- Fetches a token from Airflow 3's /auth/token.
---@param client airflow.Client
---@return string|nil token
---@return integer|airflow.Error|nil expires_at, or the error
function M:fetch_token(client)
  local s = self.secret
  local url = token_url(client.base_url)
  local body = json.encode({ username = s.username, password = s.password })
  local res, err = request.one(client, {
    method = "POST", url = url, no_auth = true, body = body,
    headers = { ["Content-Type"] = "application/json", Accept = "application/json" },
  })
  if not res then return nil, err end
  if res.status ~= 200 and res.status ~= 201 then
    local e = Error.from_response(res, "POST", url, true)
    e.title = "login failed"
    return nil, e
  end
  local decoded = json.decode(res.body)
  if type(decoded) ~= "table" or type(decoded.access_token) ~= "string" then
    return nil, Error.invalid_response(res, "POST", url, "no access_token in the /auth/token response")
  end
  local why = M.token_problem(decoded.access_token)
  if why then
    return nil, Error.invalid_response(res, "POST", url, "unusable access_token from /auth/token: " .. why)
  end
  return decoded.access_token, M.jwt_expiry(decoded.access_token)
end

--- A token from /auth/token, through the token store when there is one (client
-- option `token_store`, or `shared_dict` inside nginx): a fresh token in the store
-- is taken as is; else the holder of the store's lock fetches one and stores it,
-- while the others wait and then take it.
-- @return token, expires_at | nil, err
---@param client airflow.Client
---@return string|nil token
---@return integer|airflow.Error|nil expires_at, or the error
function M:login(client)
  local store = self.store
  if not store then return self:fetch_token(client) end
  local function fresh()
    local t, exp = store:get()
    if t and not (exp and self.clock() >= exp - EXPIRY_MARGIN) then return t, exp end
  end
  local token, expires_at = fresh()
  if token then return token, expires_at end
  local locked, why = store:lock()
  if not locked then return nil, Error.new{ kind = "Unauthenticated", title = "token store failed", detail = why } end
  local ok
  ok, token, expires_at = pcall(function()
    local t, exp = fresh()
    if t then return t, exp end
    t, exp = self:fetch_token(client)
    if t then store:set(t, exp) end
    return t, exp
  end)
  store:unlock()
  if not ok then error(token, 0) end
  return token, expires_at
end

-- The credentials table for the transport. The same table comes back while nothing
-- changed, so a transport can tell "unchanged" by identity; it lives in the secret
-- table, away from the object's printable fields.
local function creds(self, kind, user, secret)
  local c = self.secret.creds
  if c and c.kind == kind and c.user == user and c.secret == secret then return c end
  c = { kind = kind, user = user, secret = secret }
  self.secret.creds = c
  return c
end

--- The credentials to send now, fetching or renewing a token when needed.
-- @return {kind, user, secret} for the transport (the same table while they are
--   unchanged), or nil, err
---@param client airflow.Client
---@return airflow.Credentials|nil creds
---@return airflow.Error|nil err
function M:credentials(client)
  local mode = self.mode
  if mode == "none" then return creds(self, "none") end
  if mode == "negotiate" then return creds(self, "negotiate") end
  if mode == "static" then return creds(self, "bearer", nil, self.secret.token) end
  if mode == "password" and self.api == "v1" then
    return creds(self, "basic", self.secret.username, self.secret.password or "")
  end
  local now = self.clock()
  if not self.secret.cached or (self.expires_at and now >= self.expires_at - EXPIRY_MARGIN) then
    local token, expires_at
    if mode == "provider" then
      local ok, t, e = pcall(self.secret.provider)
      if ok and t == nil and Error.is(e) then return nil, e end -- the provider's own error
      if not ok or type(t) ~= "string" then
        return nil, Error.new{ kind = "Unauthenticated", title = "token_provider failed",
          detail = not ok and tostring(t) or (e and tostring(e)) or "it returned no token" }
      end
      local why = M.token_problem(t)
      if why then
        return nil, Error.new{ kind = "Unauthenticated", title = "token_provider failed", detail = why }
      end
      token, expires_at = t, M.expiry(e) or M.jwt_expiry(t)
    else
      local err
      token, expires_at = self:login(client)
      if not token then
        err = expires_at
        return nil, err
      end
    end
    self.secret.cached, self.expires_at = token, expires_at
  end
  return creds(self, "bearer", nil, self.secret.cached)
end

return M
