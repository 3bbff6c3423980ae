--- Test support for the generated reference (docs/, types/, completions/): reading
-- committed files, and registry views with an operation removed or a parameter
-- renamed, to show that the checkers notice.
package.path = "tools/?.lua;" .. package.path
local core = require("airflow.core")
local ref = require("apiref")

local M = {}

--- The text of a file, or nil when it does not exist.
M.read = require("env").read

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end
M.deep_copy = deep_copy

--- The views of both APIs from copies of the registry, v2's operations changed by
-- edit(ops) when given.
function M.views_with(edit)
  local views = {}
  for i, api in ipairs(ref.APIS) do
    local ops = deep_copy(core.operations(api))
    if edit and api == "v2" then edit(ops) end
    views[i] = ref.view(api, ops)
  end
  return views
end

--- Removes resource.name from a list of operations.
function M.remove_op(ops, resource, name)
  for i, op in ipairs(ops) do
    if op.resource == resource and op.name == name then return table.remove(ops, i) end
  end
  error("no operation " .. resource .. "." .. name)
end

--- True when one of the problems contains text.
function M.has(problems, text)
  for _, p in ipairs(problems) do
    if p:find(text, 1, true) then return true end
  end
  return false
end

--- An operation's parameter by name (the registry's order is not something to count on).
function M.param(op, name)
  for _, p in ipairs(op.params) do
    if p.name == name then return p end
  end
  error("no parameter " .. name .. " in " .. op.name, 2)
end

return M
