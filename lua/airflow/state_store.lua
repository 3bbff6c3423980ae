--- State stores (Airflow 3.3): `client:state_store(scope)` gives a store of one task
-- instance ({dag_id, dag_run_id, task_id [, map_index]}) or of one asset ({asset_id}),
-- with get, set, delete, list and clear. Keys reach the server exactly as given
-- (`/`, `%`, spaces, unicode: the key is a path parameter, percent-encoded whole).
-- Each method is one call of the registry's operations, through the same pipeline.
-- @module airflow.state_store

local M = {}

-- The operations of each kind of store, and the scope fields it takes.
local KINDS = {
  task = { resource = "task_state_store", suffix = "task_state_store",
    fields = { dag_id = "string", dag_run_id = "string", task_id = "string", map_index = "number" },
    required = { "dag_id", "dag_run_id", "task_id" } },
  asset = { resource = "asset_state_store", suffix = "asset_state_store",
    fields = { asset_id = "number" }, required = { "asset_id" } },
}

---@class airflow.StateStore
---@field client airflow.Client
local Store = {}
Store.__index = Store

local function fail(fmt, ...)
  error("airflow: state_store: " .. fmt:format(...), 3)
end

--- A state store of a task instance or an asset (no I/O).
---@param client airflow.Client
---@param scope table {dag_id, dag_run_id, task_id, map_index?} or {asset_id}
---@return airflow.StateStore
function M.state_store(client, scope)
  if type(scope) ~= "table" then
    error("airflow: state_store expects {dag_id, dag_run_id, task_id [, map_index]} or {asset_id}", 2)
  end
  local kind = KINDS[scope.asset_id ~= nil and "asset" or "task"]
  local s = {}
  for k, v in pairs(scope) do
    local want = kind.fields[k]
    if not want then
      error(("airflow: state_store: unknown scope field '%s' for a %s store"):format(tostring(k), kind.resource), 2)
    end
    if type(v) ~= want then
      error(("airflow: state_store: '%s' must be a %s, got %s"):format(k, want, type(v)), 2)
    end
    s[k] = v
  end
  for _, k in ipairs(kind.required) do
    if s[k] == nil then error(("airflow: state_store: '%s' is required"):format(k), 2) end
  end
  return setmetatable({ client = client, kind = kind, scope = s }, Store)
end

-- The arguments of a call: the store's scope, then the extra fields.
local function args_of(store, extra)
  local a = {}
  for k, v in pairs(store.scope) do a[k] = v end
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

-- The operation ("resource.verb_suffix") of a verb for this kind of store.
local function op_of(store, verb)
  return store.kind.resource .. "." .. verb .. "_" .. store.kind.suffix
end

local function check_key(key)
  if type(key) ~= "string" or key == "" then fail("the key must be a non-empty string, got %s", type(key)) end
end

--- The value under a key.
-- @return value, the whole entry; or nil, err (kind "NotFound" when there is none)
---@param key string
---@return any value
---@return table|airflow.Error entry_or_err
function Store:get(key)
  check_key(key)
  local entry, err = self.client:call(op_of(self, "get"), args_of(self, { key = key }))
  if not entry then return nil, err end
  return entry.value, entry
end

--- Stores a JSON value under a key (replacing any).
-- @param value any JSON value (airflow.null for null)
-- @param opts task stores: {expires_at = "2026-01-01T00:00:00Z" | "default" | airflow.null}
-- @return true, or nil, err
---@param key string
---@param value any
---@param opts? { expires_at?: string|table }
---@return true|nil ok
---@return airflow.Error|nil err
function Store:set(key, value, opts)
  check_key(key)
  if value == nil then fail("set(key, value): the value is missing (airflow.null stores null)") end
  local body = { value = value }
  if opts and opts.expires_at ~= nil then
    if self.kind.resource ~= "task_state_store" then fail("only task stores take expires_at") end
    body.expires_at = opts.expires_at
  end
  return self.client:call(op_of(self, "set"), args_of(self, { key = key, body = body }))
end

--- Deletes a key.
-- @return true, or nil, err (kind "NotFound" when there was none)
---@param key string
---@return true|nil ok
---@return airflow.Error|nil err
function Store:delete(key)
  check_key(key)
  return self.client:call(op_of(self, "delete"), args_of(self, { key = key }))
end

--- Every entry of the store, across pages ({key, value, ...} each).
-- @return entries, or nil, err
function Store:list()
  local entries, err = self.client:collect(op_of(self, "list"), args_of(self))
  if not entries then return nil, err end
  return entries
end

--- Deletes every key of the store.
-- @return true, or nil, err
function Store:clear()
  return self.client:call(op_of(self, "clear"), args_of(self))
end

Store.__tostring = function(self)
  return "airflow.StateStore(" .. self.kind.resource .. ")"
end

--- The client methods of this module.
M.methods = { state_store = M.state_store }
return M
