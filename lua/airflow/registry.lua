--- The operation registry as Lua tables, built once per API version from
-- airflow.core and cached: resources, operations, parameters, body schemas.
-- @module airflow.registry
local core = require("airflow.core")
local json = require("airflow.json")

local M = {}
local cache = {}

--- Edit distance between two short strings (for "did you mean" suggestions).
local function distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local row = {}
  for j = 0, lb do row[j] = j end
  for i = 1, la do
    local diag, ca = row[0], a:byte(i)
    row[0] = i
    for j = 1, lb do
      local best = diag + ((ca == b:byte(j)) and 0 or 1)
      if row[j] + 1 < best then best = row[j] + 1 end
      if row[j - 1] + 1 < best then best = row[j - 1] + 1 end
      diag, row[j] = row[j], best
    end
  end
  return row[lb]
end

--- The candidate closest to name, or nil when none is close enough.
-- @param name the misspelt name
-- @param candidates an array of names, or a table whose keys are names
function M.closest(name, candidates)
  local best, best_d = nil, math.floor(#name / 3) + 2
  local function try(c)
    local d = distance(name, c)
    if d < best_d then best, best_d = c, d end
  end
  if #candidates > 0 then
    for _, c in ipairs(candidates) do try(c) end
  else
    for c in pairs(candidates) do try(c) end
  end
  return best
end

--- Returns the registry view for an API version ("v1" or "v2").
-- Fields: api, ops (array), resources[resource][name] = op, names (sorted resource
-- names), schema(node) to decode schema nodes lazily.
function M.get(api)
  local reg = cache[api]
  if reg then return reg end
  local ops = core.operations(api)
  reg = { api = api, ops = ops, resources = {}, by_name = {} }
  for _, op in ipairs(ops) do
    local r = reg.resources[op.resource]
    if not r then
      r = {}
      reg.resources[op.resource] = r
    end
    r[op.name] = op
    reg.by_name[op.name] = reg.by_name[op.name] or op
    op.api = api
    op.param_by_name = {}
    op.path_params = {}
    for _, p in ipairs(op.params) do
      op.param_by_name[p.name] = p
      if p["in"] == "path" then op.path_params[#op.path_params + 1] = p.name end
    end
  end
  local names = {}
  for name in pairs(reg.resources) do names[#names + 1] = name end
  table.sort(names)
  reg.names = names

  local schemas
  --- The decoded component schemas of this API (decoded on first use).
  function reg.schemas()
    if not schemas then schemas = assert(json.decode(core.schemas(api))) end
    return schemas
  end
  --- The decoded body schema node of an operation, or nil.
  function reg.body_schema(op)
    if op.body_schema_node == nil then
      op.body_schema_node = op.body_schema and assert(json.decode(op.body_schema)) or false
    end
    return op.body_schema_node or nil
  end
  --- The top-level property names of an operation's body schema (a set), or nil.
  function reg.body_fields(op)
    local node = reg.body_schema(op)
    local all = reg.schemas()
    local depth = 0
    while node and node["$"] and depth < 20 do node, depth = all[node["$"]], depth + 1 end
    return node and node.p
  end
  cache[api] = reg
  return reg
end

--- Finds "resource.operation" in an API; returns op, or nil and a message that
-- suggests the closest name.
function M.find(api, ref)
  local reg = M.get(api)
  local resource, name = ref:match("^([%w_]+)[.:]([%w_]+)$")
  if not resource then
    local op = reg.by_name[ref]
    if op then return op end
    return nil, ("'%s' is not an operation: write it as \"resource.operation_id\""):format(ref)
  end
  local r = reg.resources[resource]
  if not r then
    local near = M.closest(resource, reg.names)
    return nil, ("the %s API has no resource '%s'%s"):format(api, resource,
      near and (" (did you mean '" .. near .. "'?)") or "")
  end
  local op = r[name]
  if not op then
    local near = M.closest(name, r)
    return nil, ("resource '%s' of the %s API has no operation '%s'%s"):format(resource, api, name,
      near and (" (did you mean '" .. near .. "'?)") or "")
  end
  return op
end

return M
