--- The facts the reference docs (tools/gen_docs.lua) and the LuaCATS types
-- (tools/gen_types.lua) are generated from, read once from the operation registry
-- (`airflow.core`), so the two cannot disagree: operations grouped by resource,
-- parameter and schema types, what a call returns and which errors it can give.
-- Fields that a registry may lack (`op.since`, `op.response_schema`, `p.since`,
-- `p.default`) are used when present.
-- @module apiref
local core = require("airflow.core")
local json = require("airflow.json")
local Error = require("airflow.error")

local M = {}

--- The API versions, in the order the docs list them.
M.APIS = { "v2", "v1" }

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end
M.sorted_keys = sorted_keys

--- A view of one API: its operations grouped by resource, both sorted by name.
-- @param api "v1" or "v2"
-- @param ops the operations (core.operations(api) by default; a test passes a modified copy)
-- @param schemas_json the compact component schemas (core.schemas(api) by default)
-- @return { api, ops, resources = { {name, ops}, ... }, schemas = {name = node}, schema_names }
function M.view(api, ops, schemas_json)
  ops = ops or core.operations(api)
  local schemas = assert(json.decode(schemas_json or core.schemas(api)))
  local by_resource = {}
  for _, op in ipairs(ops) do
    local list = by_resource[op.resource]
    if not list then
      list = {}
      by_resource[op.resource] = list
    end
    list[#list + 1] = op
  end
  local view = { api = api, ops = {}, resources = {}, schemas = schemas, schema_names = sorted_keys(schemas) }
  for _, name in ipairs(sorted_keys(by_resource)) do
    local list = by_resource[name]
    table.sort(list, function(a, b) return a.name < b.name end)
    view.resources[#view.resources + 1] = { name = name, ops = list }
    for _, op in ipairs(list) do view.ops[#view.ops + 1] = op end
  end
  return view
end

--- The views of every API version, in APIS order.
function M.views()
  local views = {}
  for i, api in ipairs(M.APIS) do views[i] = M.view(api) end
  return views
end

--- Writes files ({ [relative path] = text }) under outdir, creating directories.
-- @return the sorted paths written
function M.write(outdir, files)
  local paths = sorted_keys(files)
  for _, path in ipairs(paths) do
    local dir = (outdir .. "/" .. path):match("^(.*)/[^/]*$")
    assert(os.execute(("mkdir -p '%s'"):format(dir)))
    local f = assert(io.open(outdir .. "/" .. path, "wb"))
    f:write(files[path])
    f:close()
  end
  return paths
end

--- Decodes a compact schema node given as JSON text (nil stays nil).
function M.node(text)
  return text and assert(json.decode(text)) or nil
end

--- The object node a node stands for, following references (nil when it is none).
function M.object_of(view, node)
  local depth = 0
  while node and node["$"] and depth < 20 do node, depth = view.schemas[node["$"]], depth + 1 end
  if node and node.t == "object" then return node end
  return nil
end

--- The names of the path parameters of an operation, in path order.
function M.path_params(op)
  local out = {}
  for _, p in ipairs(op.params) do
    if p["in"] == "path" then out[#out + 1] = p.name end
  end
  return out
end

-- ---- Lua types (LuaCATS syntax; the docs show the same expressions)

local SCALAR = { string = "string", integer = "integer", number = "number", boolean = "boolean", any = "any" }

local function literals(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = ("%q"):format(tostring(v)) end
  return table.concat(out, "|")
end

--- The LuaCATS class name of a component schema.
function M.class_name(api, schema)
  return ("airflow.%s.%s"):format(api, schema)
end

--- The Lua type a parameter accepts: its scalar type (a number too for a
-- date-time, written as RFC 3339 UTC; the enum's literals for an enum), and for an
-- array parameter one value or a list of them.
function M.param_type(p)
  local t
  if p.enum then
    t = literals(p.enum)
  elseif p.type == "date-time" then
    t = "string|number"
  else
    t = SCALAR[p.type] or "any"
  end
  if p.array then
    local one = t:find("|", 1, true) and ("(" .. t .. ")") or t
    t = t .. "|" .. one .. "[]"
  end
  return t
end

local function is_ident(s)
  return s:match("^[%a_][%w_]*$") ~= nil
end
M.is_ident = is_ident

--- A table key as Lua source: the name itself, or ["name"] when it is no identifier
-- (header parameters such as Airflow-Connection-Test-Token).
function M.lua_key(name)
  return is_ident(name) and name or ("[%q]"):format(name)
end

--- The Lua type of a compact schema node: component schemas by class name, inline
-- objects as `{ field: type }`, arrays as `type[]`, JSON null as `airflow.null`.
function M.schema_type(api, node, depth)
  depth = depth or 0
  if not node then return "any" end
  local t
  if node["$"] then
    t = M.class_name(api, node["$"])
  elseif node.e then
    t = literals(node.e)
  elseif node.t == "array" then
    local item = M.schema_type(api, node.i, depth + 1)
    t = (item:find("|", 1, true) and ("(" .. item .. ")") or item) .. "[]"
  elseif node.t == "object" then
    if node.p and next(node.p) and depth < 3 then
      local fields, required = {}, {}
      for _, r in ipairs(node.r or {}) do required[r] = true end
      for _, name in ipairs(sorted_keys(node.p)) do
        local key = M.lua_key(name)
        fields[#fields + 1] = ("%s%s: %s"):format(key, required[name] and "" or "?",
          M.schema_type(api, node.p[name], depth + 1))
      end
      t = "{ " .. table.concat(fields, ", ") .. " }"
    else
      t = "table<string, any>"
    end
  else
    t = SCALAR[node.t] or "any"
  end
  if node.n and t ~= "any" then t = t .. "|airflow.null" end
  return t
end

-- ---- results and errors

local function has_media(op, pattern)
  return (op.response_media or ""):find(pattern) ~= nil
end

--- What a successful call returns: `lua` (a type) and `text` (Markdown).
function M.returns(api, op)
  if op.success == 204 or (op.response_media or "") == "" then
    return { lua = "true", text = ("`true` (HTTP %d, no content)"):format(op.success) }
  end
  local lua, what
  if op.response_schema then
    lua = M.schema_type(api, M.node(op.response_schema))
  else
    lua = "table"
  end
  if op.list_field then
    what = ("a page: `%s`%s"):format(op.list_field, op.total_entries and " and `total_entries`" or "")
  else
    what = "the decoded JSON"
  end
  local alts = {}
  if has_media(op, "ndjson") then
    alts[#alts + 1] = "a list of decoded lines for `application/x-ndjson`"
    lua = lua .. "|table[]"
  end
  if has_media(op, "plain") then
    alts[#alts + 1] = "the text for `text/plain`"
    lua = lua .. "|string"
  end
  local text = ("%s (HTTP %d, `%s`)"):format(what, op.success, op.response_media)
  if #alts > 0 then text = text .. "; " .. table.concat(alts, "; ") end
  return { lua = lua, text = text }
end

--- The errors a call can return as `nil, err`, derived from the operation's shape
-- and the kinds airflow.error maps: every call can meet 401, 403, other statuses
-- (`Unknown`), `Timeout` and `Transport`; a call with path parameters can meet 404;
-- a call with parameters or a body can meet 400 and 422; one that writes a body can
-- meet 409; one that answers only JSON can meet `InvalidResponse`.
-- @return an array of { kind, status } (status nil for failures without one)
function M.errors(op)
  local statuses = { 401, 403 }
  if #M.path_params(op) > 0 then statuses[#statuses + 1] = 404 end
  if #op.params > 0 or op.body ~= "none" then
    statuses[#statuses + 1] = 400
    statuses[#statuses + 1] = 422
  end
  if op.body ~= "none" and op.method ~= "GET" then statuses[#statuses + 1] = 409 end
  table.sort(statuses)
  local out = {}
  for _, s in ipairs(statuses) do out[#out + 1] = { kind = Error.kind_for_status(s), status = s } end
  out[#out + 1] = { kind = Error.kind_for_status(0), status = nil, other = true }
  local media = op.response_media or ""
  if media ~= "" and not has_media(op, "plain") and op.success ~= 204 then
    out[#out + 1] = { kind = "InvalidResponse" }
  end
  out[#out + 1] = { kind = "Timeout" }
  out[#out + 1] = { kind = "Transport" }
  return out
end

return M
