--- Pagination: `client:pages`, `client:each`, `client:collect`.
-- Airflow caps `limit` silently (100 by default), so the offset always advances by
-- the number of items received, never by the limit asked for. Where a response has
-- no `total_entries`, an empty or short page ends the walk.
-- @module airflow.paginate
local Error = require("airflow.error")
local registry = require("airflow.registry")
local request = require("airflow.request")

local M = {}

local function resolve(client, ref, level)
  if type(ref) == "table" then return ref end
  if type(ref) ~= "string" then
    error("airflow: operation must be \"resource.operation_id\", got " .. type(ref), level + 1)
  end
  local api, err = client:api_version()
  if not api then return nil, err end
  local op, why = registry.find(api, ref)
  if not op then error("airflow: " .. why, level + 1) end
  if not op.list_field then
    error(("airflow: %s.%s does not return a paged collection"):format(op.resource, op.name), level + 1)
  end
  if not op.param_by_name.offset then
    error(("airflow: %s.%s takes no offset, so it cannot be paged"):format(op.resource, op.name), level + 1)
  end
  return op
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function items_of(op, page, method, url)
  local items = type(page) == "table" and page[op.list_field]
  if type(items) ~= "table" then
    return nil, Error.new{ kind = "Unknown", title = "invalid response", method = method, url = url,
      detail = ("the response has no '%s' list"):format(op.list_field) }
  end
  return items
end

--- Iterates over pages: `for page, err in client:pages("dag.get_dags", args) do`.
-- Each page is the decoded response; on failure the iterator yields false, err once.
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table
---@return fun(): (table|false|nil), airflow.Error|nil iterator
function M.pages(client, ref, args)
  local op, rerr = resolve(client, ref, 2)
  local a = copy(args)
  local offset = a.offset or 0
  local asked = a.limit
  local seen, done = 0, false
  return function()
    if done then return nil end
    if not op then
      done = true
      return false, rerr
    end
    a.offset = offset
    local page, err = client:call(op, a)
    if not page then
      done = true
      return false, err
    end
    local items, ierr = items_of(op, page, op.method, op.path)
    if not items then
      done = true
      return false, ierr
    end
    local n = #items
    seen = seen + n
    offset = offset + n
    local total = tonumber(page.total_entries)
    if n == 0 or (total and offset >= total) or (not total and asked and n < asked) then
      done = true
    end
    if n == 0 and seen > n then return nil end -- an empty page after others ends quietly
    return page
  end
end

--- Iterates over items across pages: `for item, err in client:each(op, args) do`.
-- On failure the iterator yields false, err once.
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table
---@return fun(): (any|false|nil), airflow.Error|nil iterator
function M.each(client, ref, args)
  local next_page = M.pages(client, ref, args)
  local op = type(ref) == "table" and ref or select(1, resolve(client, ref, 2))
  local items, i = nil, 0
  return function()
    while true do
      if items and i < #items then
        i = i + 1
        return items[i]
      end
      local page, err = next_page()
      if page == nil then return nil end
      if page == false then return false, err end
      items, i = page[op.list_field], 0
    end
  end
end

--- Fetches every item. After the first page gives `total_entries`, the remaining
-- pages are fetched concurrently; items come back in order, each once.
-- @param ref "resource.operation_id"
-- @param args the operation's arguments (offset and limit are respected)
-- @param opts {concurrency = 4, max = nil, on_progress = function(pages_done, pages_total)}
-- @return items, total_entries; or nil, err
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table
---@param opts? { concurrency?: integer, on_progress?: fun(pages_done: integer, pages_total: integer) }
---@return table[]|nil items
---@return integer|airflow.Error total_entries, or the error
function M.collect(client, ref, args, opts)
  opts = opts or {}
  local op = resolve(client, ref, 2)
  local concurrency = opts.concurrency or 4
  local max = opts.max
  local a = copy(args)
  local start = a.offset or 0
  a.offset = start
  local first, err = client:call(op, a)
  if not first then return nil, err end
  local items, ierr = items_of(op, first, op.method, op.path)
  if not items then return nil, ierr end
  local out = {}
  for _, v in ipairs(items) do out[#out + 1] = v end
  local total = tonumber(first.total_entries)
  local page_size = #items
  local want = total and (total - start) or nil
  if max and (not want or max < want) then want = max end

  -- offsets of the pages still missing, in order, sized by what the server returned
  local offsets = {}
  if want and page_size > 0 then
    local off = start + page_size
    while off < start + want do
      offsets[#offsets + 1] = off
      off = off + page_size
    end
  end

  local on_progress = opts.on_progress
  if on_progress then on_progress(1, #offsets + 1) end
  if #offsets > 0 and concurrency > 1 then
    local reqs = {}
    for i, off in ipairs(offsets) do
      local pa = copy(a)
      pa.offset = off
      pa.limit = a.limit or page_size
      reqs[i] = request.prepare(client, op, pa, nil, 2)
    end
    -- each page is decoded as soon as it arrives, while the others are in flight;
    -- retries and renewal are the pipeline's, as for any call
    local pages, errs, done = {}, {}, 1
    for i, res, rerr in request.each(client, reqs, concurrency) do
      if res then
        pages[i], errs[i] = request.decode(client, res, reqs[i].method, reqs[i].url, op.response_media)
      else
        pages[i], errs[i] = nil, rerr
      end
      done = done + 1
      if on_progress then on_progress(done, #offsets + 1) end
    end
    for i, req in ipairs(reqs) do
      local page = pages[i]
      if not page then return nil, errs[i] end
      pages[i] = nil
      local got, gerr = items_of(op, page, req.method, req.url)
      if not got then return nil, gerr end
      for _, v in ipairs(got) do out[#out + 1] = v end
      if #got < page_size and i < #offsets then
        break -- the collection shrank while we read it: the tail below finishes
      end
    end
  end

  -- sequential tail: no total, a short concurrent page, or concurrency 1
  if #out < (want or math.huge) and page_size > 0 then
    local off = start + #out
    while not want or #out < want do
      local pa = copy(a)
      pa.offset = off
      local page, perr = client:call(op, pa)
      if not page then return nil, perr end
      local got, gerr = items_of(op, page, op.method, op.path)
      if not got then return nil, gerr end
      for _, v in ipairs(got) do out[#out + 1] = v end
      off = off + #got
      local t = tonumber(page.total_entries)
      if #got == 0 or (t and off >= t) or (not t and a.limit and #got < a.limit) then break end
    end
  end
  if max and #out > max then
    for i = #out, max + 1, -1 do out[i] = nil end
  end
  return out, total
end

--- The client methods of this module.
M.methods = { pages = M.pages, each = M.each, collect = M.collect }
return M
