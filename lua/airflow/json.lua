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

-- Empty arrays, in both directions. A Lua table cannot say whether `{}` is [] or
-- {}. Newer lua-cjson versions answer with `empty_array_mt` and
-- `decode_array_with_array_mt`, but Debian 12's lua-cjson 2.1.0 has neither, so this
-- module carries an empty array as a sentinel string: encoding puts the sentinel
-- where the schema (or `M.array`) says array and turns its JSON into `[]`;
-- `decode_arrays` turns every `[]` outside string literals into the sentinel's JSON
-- and the sentinel back into a table marked with `M.array`.
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
local has_integers = rawget(math, "tointeger") ~= nil -- Lua 5.3+ only

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

-- Replaces every `[]` outside string literals with the sentinel's JSON.
local function mark_empty_arrays(text)
  if not text:find("%[%s*%]") then return text, false end
  local out, pos, i, n = {}, 1, 1, #text
  while true do
    local s = text:find('["%[]', i)
    if not s then break end
    if text:byte(s) == 34 then
      local j = s + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then
          j = n + 1
          break
        end
        if text:byte(q) == 92 then
          j = q + 2
        else
          j = q + 1
          break
        end
      end
      i = j
    else
      local e = text:match("^%[%s*%]()", s)
      if e then
        out[#out + 1] = text:sub(pos, s - 1)
        out[#out + 1] = EMPTY_ARRAY_JSON
        pos, i = e, e
      else
        i = s + 1
      end
    end
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out), true
end

local function restore(v, depth)
  for k, x in pairs(v) do
    if x == EMPTY_ARRAY then
      v[k] = M.array({})
    elseif type(x) == "table" and depth < 1000 then
      restore(x, depth + 1)
    end
  end
end

--- Decodes JSON text keeping empty arrays apart from empty objects: each `[]` comes
-- back as a table marked with `M.array`.
-- @return the value, or nil and a message for invalid JSON
---@param text string
---@return any|nil value
---@return string|nil why
function M.decode_arrays(text)
  local marked, changed = mark_empty_arrays(text)
  local v, why = M.decode(marked)
  if v == nil then return nil, why end
  if changed then
    if v == EMPTY_ARRAY then return M.array({}) end
    if type(v) == "table" then restore(v, 0) end
  end
  return v
end

return M
