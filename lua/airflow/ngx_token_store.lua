-- luacheck: globals ngx
--- A token store over an nginx `lua_shared_dict`, so that every worker of an nginx
-- shares one Airflow v2 token (client option `shared_dict = "<name>"`).
--
-- The token and its expiry live under one key per Airflow URL and user; renewing
-- takes a lock in the same dict (an `add` with a lifetime, so a worker that dies
-- holding it cannot block the others for longer than LOCK_TTL): one worker fetches
-- while the others wait (ngx.sleep, which yields) and then read what it stored. So
-- N workers cost Airflow one `/auth/token` per token lifetime. The token sits in
-- shared memory that every worker of this nginx can read; nothing else sees it.
--
-- The store contract (airflow.auth): get() -> token, expires_at | nil;
-- set(token, expires_at); lock() -> true | nil, why; unlock(); forget(token).
-- @module airflow.ngx_token_store

local M = {}
M.__index = M

local LOCK_TTL = 30       -- seconds a lock may be held (a fetch takes far less)
local LOCK_WAIT = 30      -- seconds a worker waits for another's fetch
local STEP = 0.005        -- the first wait step; it doubles up to MAX_STEP
local MAX_STEP = 0.1
local MAX_TTL = 86400 * 30 -- a token kept longer than a month is fetched again anyway

--- Creates the store on the shared dict `name` for one Airflow URL and user.
-- Raises when the dict is not declared (a configuration mistake).
-- @param name the lua_shared_dict's name
-- @param scope text naming the credentials (URL and user), keyed apart
function M.new(name, scope)
  local shared = type(ngx) == "table" and ngx.shared
  local dict = shared and shared[name]
  if not dict then
    error(("airflow: option 'shared_dict': no lua_shared_dict named '%s' in nginx.conf "
      .. "(declare e.g. `lua_shared_dict %s 1m;` in the http block)"):format(tostring(name), tostring(name)), 4)
  end
  local key = "airflow-token:" .. ngx.md5(scope)
  return setmetatable({ dict = dict, key = key, lock_key = key .. ":lock" }, M)
end

--- The shared token and its expiry (seconds since the epoch, or nil), or nil.
function M:get()
  local value = self.dict:get(self.key)
  if type(value) ~= "string" then return nil end
  local exp, token = value:match("^(%d*) (.+)$")
  return token, tonumber(exp)
end

--- Stores a token (kept in the dict until a little after its expiry).
function M:set(token, expires_at)
  local ttl = 0
  if expires_at then ttl = math.min(math.max(1, expires_at - ngx.time() + 60), MAX_TTL) end
  self.dict:set(self.key, (expires_at and ("%d"):format(expires_at) or "") .. " " .. token, ttl)
end

--- Drops the shared token if it is still `token` (Airflow refused it).
function M:forget(token)
  local current = self:get()
  if current == token then self.dict:delete(self.key) end
end

--- Takes the renewal lock, waiting (without blocking the worker) while another
-- worker holds it. @return true, or nil and why
function M:lock()
  local step, waited = STEP, 0
  while true do
    local ok, err = self.dict:add(self.lock_key, ngx.worker.pid(), LOCK_TTL)
    if ok then return true end
    if err ~= "exists" then return nil, "cannot take the token lock in the shared dict: " .. tostring(err) end
    if waited >= LOCK_WAIT then return nil, "timed out waiting for another worker to renew the token" end
    ngx.sleep(step)
    waited = waited + step
    step = math.min(step * 2, MAX_STEP)
  end
end

--- Releases the renewal lock.
function M:unlock()
  self.dict:delete(self.lock_key)
end

return M
