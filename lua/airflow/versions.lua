--- Airflow versions: lenient parsing, ordering, and what a server of a given version is
-- known to lack. An operation or parameter first seen in version S (its `since`) is
-- known to be missing only on a server no newer than the newest documented version
-- older than S (core.documented_versions, a generated fact): since 3.3.0 is refused on
-- 3.2.1 and allowed on 3.2.2, which no document describes (backports happen).
-- Pure computation; the client learns the server's version through airflow.request.
-- @module airflow.versions
local core = require("airflow.core")

local M = {}

--- Parses a version leniently: "3.2.1", "3.1.0rc1", "3.3.0.dev0", "3.2.1+astro.1", "3.2".
---@param s any
---@return integer[]|nil version {major, minor, patch}, or nil when s is not one
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local major, minor, patch = s:match("^%s*[vV]?(%d+)%.(%d+)%.?(%d*)")
  if not major then return nil end
  return { tonumber(major), tonumber(minor), tonumber(patch) or 0, text = s }
end

--- Compares two parsed versions: -1, 0 or 1.
---@param a integer[]
---@param b integer[]
---@return integer
function M.compare(a, b)
  for i = 1, 3 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end

-- api -> since text -> the parsed newest documented version older than it, or false
local last_without = {}

--- The newest documented version of `api` older than `since`: a server no newer than
-- it is known to lack what `since` names. nil when no document predates `since`.
---@param api string "v2"
---@param since string|nil
---@return integer[]|nil
function M.last_without(api, since)
  if not since then return nil end
  local known = last_without[api]
  if not known then
    known = {}
    last_without[api] = known
  end
  local v = known[since]
  if v == nil then
    v = false
    local s = M.parse(since)
    for _, text in ipairs(s and core.documented_versions(api) or {}) do
      local d = M.parse(text)
      if d and M.compare(d, s) < 0 and (not v or M.compare(d, v) > 0) then v = d end
    end
    known[since] = v
  end
  return v or nil
end

--- Whether a server of version `server` is known to lack a thing first seen in `since`.
---@param api string
---@param server integer[] a parsed version
---@param since string|nil
function M.lacks(api, server, since)
  local last = M.last_without(api, since)
  return last ~= nil and M.compare(server, last) <= 0
end

-- What some documented version of a v2 operation lacks, worked out once per
-- operation: {last = the op's last_without or nil, params = {name = last_without}}
-- (only the parameters some documented version lacks). Kept here, keyed weakly by
-- the operation, rather than written onto the registry's shared tables.
local gates_of = setmetatable({}, { __mode = "k" })
local function gates(op)
  local g = gates_of[op]
  if g == nil then
    g = { last = M.last_without(op.api, op.since), params = {} }
    for _, p in ipairs(op.params) do g.params[p.name] = M.last_without(op.api, p.since) end
    gates_of[op] = g
  end
  return g
end

--- Whether an operation, or one of the parameters named in args, could be missing on
-- some documented server (so that knowing the server's version matters).
---@param op table an operation of the registry
---@param args table|nil the call's arguments
---@return boolean
function M.gated(op, args)
  if op.api ~= "v2" then return false end
  local g = gates(op)
  if g.last then return true end
  local params = g.params
  if next(params) == nil then return false end
  for k in pairs(args) do
    if params[k] then return true end
  end
  return false
end

--- What a server of version `server` lacks of a call: nil when nothing, else a message
-- naming the operation or parameter and both versions.
---@param op table an operation of the registry
---@param args table the call's arguments
---@param server integer[] a parsed version
---@return string|nil
function M.refusal(op, args, server)
  if op.api ~= "v2" then return nil end
  local g = gates(op)
  local shown = server.text or table.concat(server, ".")
  if g.last and M.compare(server, g.last) <= 0 then
    return ("%s.%s needs Airflow ≥ %s; the server is %s"):format(op.resource, op.name, op.since, shown)
  end
  local names = {}
  for k in pairs(args) do
    local last = g.params[k]
    if last and M.compare(server, last) <= 0 then names[#names + 1] = k end
  end
  if #names == 0 then return nil end
  table.sort(names)
  local p = op.param_by_name[names[1]]
  return ("%s.%s: parameter '%s' needs Airflow ≥ %s; the server is %s"):format(op.resource, op.name, p.name,
    p.since, shown)
end

return M
