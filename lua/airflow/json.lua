--- JSON for lua-airflow: lua-cjson with this library's own configuration, and the
-- schema-guided fix-ups the API needs: empty Lua tables become `[]` where the spec
-- says array, numbers become RFC 3339 strings where it says date-time, and
-- integral numbers decode as Lua integers.
-- @module airflow.json
local cjson_lib = require("cjson")
local core = require("airflow.core")

local M = {}

-- A private cjson instance: settings here never leak into the user's `cjson`.
local cjson = cjson_lib.new()
cjson.encode_sparse_array(true)
cjson.decode_max_depth(1000)

--- The JSON null sentinel (the same light userdata as `cjson.null`).
M.null = cjson_lib.null

local array_mt = { __name = "airflow.array" }
--- Marks a table as a JSON array, so that an empty one encodes as `[]`.
---@generic T: table
---@param t T|nil
---@return T
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local EMPTY_ARRAY = "\1airflow:empty-array\1"
local EMPTY_ARRAY_JSON = '"\\u0001airflow:empty-array\\u0001"'

local function resolve(node, schemas, depth)
  while node and node["$"] and depth < 50 do
    local target = schemas[node["$"]]
    if not target then return nil end
    node, depth = target, depth + 1
  end
  return node
end

local function is_empty(t)
  return next(t) == nil
end

-- Returns v, or a fixed copy of it when something had to change (copy on write).
local function fix(v, node, schemas, depth)
  if depth > 100 then return v end
  local tv = type(v)
  if tv == "table" then
    if getmetatable(v) == array_mt and is_empty(v) then return EMPTY_ARRAY end
    node = node and resolve(node, schemas, 0)
    if is_empty(v) then
      return (node and node.t == "array") and EMPTY_ARRAY or v
    end
    local copy
    local is_array = node and node.t == "array"
    for k, x in pairs(v) do
      local child
      if node then
        if is_array then child = node.i
        elseif node.p and type(k) == "string" then child = node.p[k] end
      end
      local y = fix(x, child, schemas, depth + 1)
      if y ~= x then
        if not copy then
          copy = {}
          for k2, x2 in pairs(v) do copy[k2] = x2 end
        end
        copy[k] = y
      end
    end
    return copy or v
  elseif tv == "number" and node then
    node = resolve(node, schemas, 0)
    if node and node.f == "date-time" then return core.format_datetime(v) end
  end
  return v
end

--- Encodes a request body, guided by its compact schema node (may be nil).
-- @param value the Lua value
-- @param node the operation's body schema node (decoded), or nil
-- @param schemas the API's schema table (decoded), or nil
-- @return the JSON text
---@param value any
---@param node table|nil
---@param schemas table|nil
---@return string
function M.encode_body(value, node, schemas)
  local fixed = fix(value, node, schemas or {}, 0)
  if fixed == EMPTY_ARRAY then return "[]" end
  local text = cjson.encode(fixed)
  if fixed ~= value or text:find(EMPTY_ARRAY_JSON, 1, true) then
    text = text:gsub(EMPTY_ARRAY_JSON:gsub("%p", "%%%0"), "[]")
  end
  return text
end

--- Encodes any value (no schema).
---@param value any
---@return string
function M.encode(value)
  return M.encode_body(value, nil, nil)
end

-- Under Lua 5.3+, lua-cjson 2.1 decodes every number as a float: airflow.core
-- turns the integral ones back into integers (in C: a page of runs has thousands),
-- so ids and counts print as 5, not 5.0. Under LuaJIT it changes nothing.
local integers = core.integers
local has_integers = math.tointeger ~= nil

local decode = cjson.decode
--- Decodes JSON text. Returns the value, or nil and a message for invalid JSON.
---@param text string
---@return any value
---@return string|nil err
function M.decode(text)
  local ok, v = pcall(decode, text)
  if not ok then return nil, (tostring(v):gsub("^.-: ", "")) end
  if has_integers then v = integers(v) end
  return v
end

return M
