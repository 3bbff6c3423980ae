--- Output of the command line: JSON (pretty or compact), NDJSON, tables and plain
-- text; terminal detection; collections and their columns.
-- @module airflow.cli.output
local cjson = require("airflow.cli.json")

local M = {}

--- The output formats `--output` accepts.
M.FORMATS = { "json", "pretty", "table", "ndjson", "text" }

local tty_cache = {}

-- With LuaFileSystem: /dev/stdout is a character device other than /dev/null.
local function lfs_isatty(fd)
  local ok, lfs = pcall(require, "lfs")
  if not ok or type(lfs) ~= "table" or not lfs.attributes then return nil end
  local path = fd == 2 and "/dev/stderr" or "/dev/stdout"
  local attr = lfs.attributes(path)
  local null = lfs.attributes("/dev/null")
  if not attr or not null then return nil end
  return attr.mode == "char device" and attr.rdev ~= null.rdev
end

--- True when file descriptor fd (1 = stdout, 2 = stderr) is a terminal.
-- Asks LuaFileSystem when it is installed, else one `test -t` (a fork) per descriptor.
function M.isatty(fd)
  local v = tty_cache[fd]
  if v == nil then
    v = lfs_isatty(fd)
    if v == nil then v = os.execute(("test -t %d"):format(fd)) == true end
    tty_cache[fd] = v
  end
  return v
end

--- The format to use: the one asked for, else pretty on a terminal, json otherwise.
function M.choose(asked)
  if asked then return asked end
  return M.isatty(1) and "pretty" or "json"
end

--- The items of a collection response, or nil when the value is not one.
-- @param value the decoded response
-- @param list_field the operation's list field (may be nil)
function M.items_of(value, list_field)
  if type(value) ~= "table" then return nil end
  if list_field and type(value[list_field]) == "table" then
    local items = value[list_field]
    if #items > 0 or cjson.is_array(items) or next(items) == nil then return items end
  end
  if cjson.is_array(value) then return value end
  return nil
end

local function is_scalar(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean" or v == cjson.null
end

-- Columns shown first, in this order, when present.
local PREFERRED = {
  "dag_id", "dag_run_id", "run_id", "task_id", "map_index", "try_number", "key", "name",
  "connection_id", "pool", "username", "uri", "event", "id",
}
-- Informative fields that come next.
local INFORMATIVE = {
  "state", "status", "value", "is_paused", "run_type", "conn_type", "host", "slots", "logical_date",
  "start_date", "end_date", "when", "timestamp", "owner", "description", "version",
}
local MAX_COLUMNS = 6

local function id_like(k)
  return k == "id" or k:match("_id$") ~= nil or k == "key" or (k:match("_key$") ~= nil and k ~= "partition_key")
end

--- Picks columns for a collection: id-like fields first, then informative
-- scalars, then other scalars alphabetically; at most six.
-- @param items the rows
-- @return an array of field names
function M.pick_columns(items)
  local seen, filled, count = {}, {}, 0
  for i = 1, math.min(#items, 50) do
    local row = items[i]
    if type(row) == "table" then
      for k, v in pairs(row) do
        if type(k) == "string" and is_scalar(v) then
          seen[k] = true
          if v ~= cjson.null and v ~= "" then filled[k] = true end
        end
      end
      count = count + 1
    end
  end
  if count == 0 then return { "value" } end
  -- columns that are empty in every row say nothing: keep them only when nothing else is left
  local any_filled = next(filled) ~= nil
  if any_filled then seen = filled end
  local cols, used = {}, {}
  local function add(k)
    if seen[k] and not used[k] and #cols < MAX_COLUMNS then
      cols[#cols + 1] = k
      used[k] = true
    end
  end
  for _, k in ipairs(PREFERRED) do add(k) end
  local rest, ids = {}, {}
  for k in pairs(seen) do
    if not used[k] then
      if id_like(k) then ids[#ids + 1] = k else rest[#rest + 1] = k end
    end
  end
  table.sort(ids)
  table.sort(rest)
  for _, k in ipairs(ids) do add(k) end
  for _, k in ipairs(INFORMATIVE) do add(k) end
  for _, k in ipairs(rest) do
    if not k:match("display_name$") and not k:match("token$") then add(k) end
  end
  return cols
end

--- Splits `--columns a,b.c` into names.
function M.parse_columns(text)
  local cols = {}
  for c in text:gmatch("[^,%s]+") do cols[#cols + 1] = c end
  return cols
end

-- The value at a dotted path ("conf.retries").
local function field(row, path)
  if type(row) ~= "table" then return path == "value" and row or nil end
  local v = row[path]
  if v ~= nil or not path:find(".", 1, true) then return v end
  v = row
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

--- One value as a table cell or text field (no newlines or tabs).
function M.cell(v)
  if v == nil or v == cjson.null then return "" end
  local s
  if type(v) == "table" then
    s = cjson.encode(v)
  else
    s = tostring(v)
  end
  return (s:gsub("[\r\n\t]", " "))
end

local function width(s)
  return utf8.len(s) or #s
end

local function truncate(s, max)
  if width(s) <= max then return s end
  if not utf8.len(s) then return s:sub(1, max - 1) .. "~" end
  local cut = utf8.offset(s, max) -- byte offset of the max-th character
  return s:sub(1, cut - 1) .. "…"
end

local MAX_WIDTH = 40

--- Renders rows as an aligned table with a header.
-- @param items the rows (tables)
-- @param cols the column names
-- @return the text (with a trailing newline)
function M.table(items, cols)
  local rows = { {} }
  for i, c in ipairs(cols) do rows[1][i] = c:upper() end
  for _, item in ipairs(items) do
    local row = {}
    for i, c in ipairs(cols) do row[i] = truncate(M.cell(field(item, c)), MAX_WIDTH) end
    rows[#rows + 1] = row
  end
  local widths = {}
  for _, row in ipairs(rows) do
    for i, s in ipairs(row) do widths[i] = math.max(widths[i] or 0, width(s)) end
  end
  local out = {}
  for _, row in ipairs(rows) do
    local parts = {}
    for i, s in ipairs(row) do
      parts[i] = i < #row and (s .. (" "):rep(widths[i] - width(s))) or s
    end
    out[#out + 1] = table.concat(parts, "  ")
  end
  return table.concat(out, "\n") .. "\n"
end

-- An object as key/value rows: the chosen fields, or all of them sorted.
local function object_rows(value, cols)
  local keys = cols
  if not keys then
    keys = {}
    for k in pairs(value) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
  end
  local rows = {}
  for _, k in ipairs(keys) do rows[#rows + 1] = { key = k, value = field(value, k) } end
  return rows
end

local function text_lines(items, cols)
  local out = {}
  for _, item in ipairs(items) do
    local parts = {}
    for i, c in ipairs(cols) do parts[i] = M.cell(field(item, c)) end
    out[#out + 1] = table.concat(parts, "\t")
  end
  return #out > 0 and (table.concat(out, "\n") .. "\n") or ""
end

--- Formats a response for printing.
-- @param value the decoded response (table, string, true for "no content", ...)
-- @param opts {format = one of FORMATS, list_field = the collection field, columns = {..}}
-- @return the text to print (empty for nothing)
function M.render(value, opts)
  local format = opts.format
  if value == true then return "" end
  if type(value) == "string" then
    if format == "json" or format == "pretty" or format == "ndjson" then
      if value:find("\n$") then return value end
      return value .. "\n"
    end
    return value:find("\n$") and value or (value .. "\n")
  end
  local items = M.items_of(value, opts.list_field)
  if format == "pretty" then return cjson.encode(value, true) .. "\n" end
  if format == "json" then return cjson.encode(value) .. "\n" end
  if format == "ndjson" then
    if not items then return cjson.encode(value) .. "\n" end
    local out = {}
    for i, item in ipairs(items) do out[i] = cjson.encode(item) end
    return #out > 0 and (table.concat(out, "\n") .. "\n") or ""
  end
  if type(value) ~= "table" then
    return M.cell(value) .. "\n"
  end
  local cols = opts.columns
  if not items then
    items = object_rows(value, cols)
    cols = { "key", "value" }
  end
  cols = cols or M.pick_columns(items)
  if format == "table" then return M.table(items, cols) end
  return text_lines(items, cols)
end

return M
