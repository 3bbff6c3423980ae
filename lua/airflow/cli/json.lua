--- JSON for the command line: a sorted-key encoder (pretty or compact) that writes
-- strings the way people read them (no `\/`), and a decoder that keeps empty
-- arrays apart from empty objects, so that `"tags": []` prints as `[]`.
-- @module airflow.cli.json
local json = require("airflow.json")

local M = {}

local null = json.null
local ARRAY_MT = getmetatable(json.array({}))

--- Marks a table as a JSON array (an empty one then encodes as `[]`).
M.array = json.array
M.null = null

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
  ["\b"] = "\\b", ["\f"] = "\\f",
}

local function escape_char(c)
  return ESCAPES[c] or ("\\u%04x"):format(c:byte())
end

--- A JSON string literal for s.
function M.quote(s)
  return '"' .. s:gsub('[%z\1-\31"\\\127]', escape_char) .. '"'
end

--- True when t encodes as a JSON array.
function M.is_array(t)
  if getmetatable(t) == ARRAY_MT then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function number(x)
  if math.type(x) == "integer" then return tostring(x) end
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return ("%.14g"):format(x)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return a < b
  end)
  return keys
end

local encode_value

local function encode_table(t, out, indent, depth)
  if depth > 200 then error("airflow-lua: value nested too deeply to print", 0) end
  local pad = indent and ("\n" .. indent:rep(depth + 1)) or ""
  local close = indent and ("\n" .. indent:rep(depth)) or ""
  local colon = indent and ": " or ":"
  if M.is_array(t) then
    if #t == 0 then
      out[#out + 1] = "[]"
      return
    end
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = pad
      encode_value(t[i], out, indent, depth + 1)
    end
    out[#out + 1] = close .. "]"
    return
  end
  local keys = sorted_keys(t)
  if #keys == 0 then
    out[#out + 1] = "{}"
    return
  end
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = pad .. M.quote(tostring(k)) .. colon
    encode_value(t[k], out, indent, depth + 1)
  end
  out[#out + 1] = close .. "}"
end

encode_value = function(v, out, indent, depth)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = M.quote(v)
  elseif tv == "number" then
    out[#out + 1] = number(v)
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "table" then
    encode_table(v, out, indent, depth)
  else
    out[#out + 1] = "null" -- nil, airflow.null, functions: nothing better to say
  end
end

--- Encodes a value with sorted keys.
-- @param v the value
-- @param pretty true for 2-space indentation, else compact
-- @return the JSON text (no trailing newline)
function M.encode(v, pretty)
  local out = {}
  encode_value(v, out, pretty and "  " or nil, 0)
  return table.concat(out)
end

--- Decodes JSON text; empty arrays come back marked as arrays, integral numbers
-- as integers.
-- @return the value, or nil and a message
M.decode = json.decode_arrays

return M
