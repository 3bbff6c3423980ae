--- The operation registry as Lua tables, built once per API version from
-- airflow.core and cached: resources, operations, parameters, body schemas.
-- @module airflow.registry
local core = require("airflow.core")
local json = require("airflow.json")
local suggest = require("airflow.suggest")

local M = {}
local cache = {}

--- The candidate closest to name, or nil when none is close enough; every equally
-- close candidate (sorted) as the second value. The distance is airflow.suggest's.
---@param name string the misspelt name
---@param candidates string[]|table<string, any> an array of names, or a table whose keys are names
---@return string|nil closest
---@return string[] ties
function M.closest(name, candidates)
  local near = suggest.closest(name, candidates)
  return near[1], near
end

--- Returns the registry view for an API version ("v1" or "v2").
-- Fields: api, ops (array), resources[resource][name] = op, names (sorted resource
-- names), schema(node) to decode schema nodes lazily.
---@param api "v1"|"v2"
---@return table registry
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
---@param api "v1"|"v2"
---@param ref string "resource.operation_id", or an operation_id alone
---@return table|nil op
---@return string|nil why
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
    return nil, ("the %s API has no resource '%s'%s"):format(api, resource, suggest.hint(resource, reg.names))
  end
  local op = r[name]
  if not op then
    return nil, ("resource '%s' of the %s API has no operation '%s'%s"):format(resource, api, name,
      suggest.hint(name, r))
  end
  return op
end

return M
