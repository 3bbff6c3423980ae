--- Task logs: `client:follow_log(args, on_line)` hands each log line to a callback
-- as it arrives (v2 NDJSON stream when the transport can stream), or page by page
-- following `continuation_token` to the end; a large log is never held whole.
-- @module airflow.logs
local Error = require("airflow.error")
local json = require("airflow.json")
local registry = require("airflow.registry")
local request = require("airflow.request")

local M = {}

local function each_content(content, on_line)
  if type(content) == "string" then
    for line in content:gmatch("[^\n]+") do
      if on_line(line) == false then return false end
    end
  elseif type(content) == "table" then
    for _, entry in ipairs(content) do
      if on_line(entry) == false then return false end
    end
  end
  return true
end

-- Streams NDJSON: each complete line is decoded and handed over at once.
local function follow_stream(client, op, args, on_line)
  local a = {}
  for k, v in pairs(args) do a[k] = v end
  a.accept = "application/x-ndjson"
  local req = request.prepare(client, op, a, nil, 2)
  local stream, serr = request.stream(client, req)
  if not stream then return nil, serr end
  local pending, count = "", 0
  while true do
    local chunk, err = stream:next()
    if chunk == nil then
      stream:close()
      return nil, Error.from_transport(err, req.method, req.url)
    end
    if chunk == false then break end
    pending = pending .. chunk
    -- positions are in this `pending`: the unfinished tail is cut off once, after the loop
    local tail = 1
    for line, rest in pending:gmatch("([^\n]*)\n()") do
      tail = rest
      if line ~= "" then
        count = count + 1
        if on_line(json.decode(line) or line) == false then
          stream:close()
          return count
        end
      end
    end
    pending = pending:sub(tail)
  end
  stream:close()
  if pending ~= "" then
    count = count + 1
    on_line(json.decode(pending) or pending)
  end
  return count
end

--- Calls on_line(entry) for every line of a task instance's log.
-- v2 entries are tables ({event = "...", timestamp = ...}); v1 entries are strings.
-- Return false from on_line to stop early.
-- @param args get_log's arguments (dag_id, dag_run_id, task_id, try_number, ...)
-- @param on_line the callback
-- @param opts {stream = true} to prefer the NDJSON stream (v2, the default)
-- @return the number of lines, or nil, err
---@param client airflow.Client
---@param args table
---@param on_line fun(entry: table|string): boolean|nil
---@param opts? { stream?: boolean }
---@return integer|nil lines
---@return airflow.Error|nil err
function M.follow_log(client, args, on_line, opts)
  if type(args) ~= "table" or type(on_line) ~= "function" then
    error("airflow: follow_log(args, on_line) expects a table and a function", 2)
  end
  local api, err = client:api_version()
  if not api then return nil, err end
  local op = assert(registry.find(api, "task_instance.get_log"))
  if api == "v2" and (not opts or opts.stream ~= false) and request.can_stream(client) then
    return follow_stream(client, op, args, on_line)
  end
  local a = {}
  for k, v in pairs(args) do a[k] = v end
  if api == "v1" then
    -- Airflow 2 always hands back a continuation token and a Python-repr JSON
    -- content: the whole log as text is the one reliable read
    a.full_content = true
    local text, terr = client:call(op, a, { accept = "text/plain" })
    if not text then return nil, terr end
    local count = 0
    each_content(type(text) == "string" and text or "", function(line)
      count = count + 1
      return on_line(line)
    end)
    return count
  end
  a.accept = a.accept or "application/json"
  local count = 0
  while true do
    local page, perr = client:call(op, a)
    if not page then return nil, perr end
    local content = type(page) == "table" and page.content or page
    local n0 = count
    local ok = each_content(content, function(line)
      count = count + 1
      return on_line(line)
    end)
    local token = type(page) == "table" and page.continuation_token
    if not ok or type(token) ~= "string" or token == "" or count == n0 then break end
    a.token = token
  end
  return count
end

--- The client methods of this module.
M.methods = { follow_log = M.follow_log }
return M
