--- Update masks: which fields changed, and PATCH requests that send only those.
-- @module airflow.mask
local json = require("airflow.json")

local M = {}

local function is_array(t)
  if getmetatable(t) and getmetatable(t).__name == "airflow.array" then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n > 0 and n == #t
end

local function equal(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or depth > 100 then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function diff(before, after, prefix, out, depth)
  local keys = {}
  for k in pairs(before) do keys[k] = true end
  for k in pairs(after) do keys[k] = true end
  for k in pairs(keys) do
    local a, b = before[k], after[k]
    local name = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(a) == "table" and type(b) == "table" and not is_array(a) and not is_array(b)
       and next(a) and next(b) and depth < 100 then
      diff(a, b, name, out, depth + 1)
    elseif not equal(a, b, 0) then
      out[#out + 1] = name
    end
  end
end

--- The names of the fields that differ between two tables, sorted. Nested objects
-- give dotted names ("conf.retries"); arrays and scalars are compared whole.
-- @param before the current object
-- @param after the wanted object
-- @return an array of field names (empty when nothing changed)
---@param before table
---@param after table
---@return string[]
function M.diff(before, after)
  if type(before) ~= "table" or type(after) ~= "table" then
    error("airflow.mask.diff expects two tables", 2)
  end
  local out = {}
  diff(before, after, nil, out, 0)
  table.sort(out)
  return out
end

--- Copies `current` with `changes` applied (nested tables merged; airflow.null kept).
---@param current table
---@param changes table
---@return table
function M.apply(current, changes)
  local out = {}
  for k, v in pairs(current) do out[k] = v end
  for k, v in pairs(changes) do
    if type(v) == "table" and type(out[k]) == "table" and not is_array(v) and not is_array(out[k]) then
      out[k] = M.apply(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

M.null = json.null

local registry = require("airflow.registry")
local request = require("airflow.request")
local suggest = require("airflow.suggest")

--- Fetches an object, applies changes, and PATCHes only the changed fields with
-- `update_mask`, as Airflow documents for partial updates. Field names are checked
-- against the request body's schema before any request: a typo raises.
-- @param ref the PATCH operation, "resource.operation_id" (e.g. "dag.patch_dag")
-- @param args its path (and query) parameters
-- @param changes the fields to change (nested tables merge)
-- @return the server's answer (or the current object when nothing changed), or nil, err
---@param client airflow.Client
---@param ref string
---@param args table
---@param changes table
---@return table|true|nil result
---@return airflow.Error|nil err
function M.update(client, ref, args, changes)
  if type(changes) ~= "table" then error("airflow: update: changes must be a table", 2) end
  local op, err = client:operation(ref, 2)
  if not op then return nil, err end
  if op.method ~= "PATCH" then
    error(("airflow: update: %s.%s is not a PATCH operation"):format(op.resource, op.name), 2)
  end
  request.check(client, op, args, 2) -- refused (read-only) before its GET, too
  local reg = registry.get(op.api)
  local fields = reg.body_fields(op) or {}
  for k in pairs(changes) do
    if type(k) ~= "string" or not fields[k] then
      error(("airflow: %s.%s: '%s' is not a field of its request body%s"):format(op.resource, op.name,
        tostring(k), suggest.hint(tostring(k), fields)), 2)
    end
  end
  local getter
  for _, cand in pairs(reg.resources[op.resource]) do
    if cand.method == "GET" and cand.path == op.path then getter = cand end
  end
  if not getter then error(("airflow: update: no GET operation shares %s's path"):format(op.name), 2) end
  local path_args = {}
  for _, name in ipairs(getter.path_params) do path_args[name] = args and args[name] end
  local current, gerr = client:call(getter, path_args)
  if not current then return nil, gerr end
  local merged = M.apply(current, changes)
  local changed, seen = {}, {}
  for _, name in ipairs(M.diff(current, merged)) do
    local top = name:match("^[^.]+")
    if not seen[top] then
      seen[top] = true
      changed[#changed + 1] = top
    end
  end
  if #changed == 0 then return current end
  local body = {}
  for f in pairs(fields) do
    if merged[f] ~= nil then body[f] = merged[f] end
  end
  local a = {}
  for k, v in pairs(args or {}) do a[k] = v end
  a.update_mask = changed
  a.body = body
  return client:call(op, a)
end

--- The client methods of this module.
M.methods = { update = M.update }

return M
