--- Pagination: `client:pages`, `client:each`, `client:collect`, and
-- `client:collect_request` for raw requests on paths the registry lacks.
-- Two modes. Cursor mode (where the operation has `cursor` and the server is not known
-- to lack it: Airflow 3.3's get_dag_runs, get_task_instances) follows `next_cursor`
-- from an empty cursor and stops on an absent cursor or an empty page; it never needs
-- `total_entries`. Offset mode advances the offset by the number of items received,
-- never by the limit asked for (Airflow caps `limit` silently), and `collect` fetches
-- the remaining pages concurrently once `total_entries` is known; where a response has
-- no `total_entries`, an empty page (or one shorter than the caller's own `limit`)
-- ends the walk. A caller forces a mode with `opts.mode` ("cursor" or "offset"), or by
-- passing `cursor` (cursor mode from there) or `offset` (offset mode) in args.
-- Without a `limit` in args, pages ask for `page_size` items (per call, else the
-- client's `page_size` option, else 100: Airflow's usual maximum; it defaults to 50).
-- @module airflow.paginate
local Error = require("airflow.error")
local request = require("airflow.request")
local versions = require("airflow.versions")

local M = {}

--- The page size asked for when the caller gives no limit.
M.PAGE_SIZE = 100

local MODES = { cursor = true, offset = true }

local function resolve(client, ref, level)
  if type(ref) == "table" then return ref end
  if type(ref) ~= "string" then
    error("airflow: operation must be \"resource.operation_id\", got " .. type(ref), level + 1)
  end
  local op, err = client:operation(ref, level + 1)
  if not op then return nil, err end
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

-- Drops the items past `max` (when given).
local function truncate(out, max)
  if max then
    for i = #out, max + 1, -1 do out[i] = nil end
  end
end

local function items_of(op, page, method, url)
  local items = type(page) == "table" and page[op.list_field]
  if type(items) ~= "table" then
    return nil, Error.new{ kind = "Unknown", title = "invalid response", method = method, url = url,
      detail = ("the response has no '%s' list"):format(op.list_field) }
  end
  return items
end

-- Checks the paging options (raising at level) and returns the mode ("cursor" or
-- "offset") and the arguments of the first page (a copy, with the page size).
local function plan(client, op, args, opts, level)
  if args ~= nil and type(args) ~= "table" then error("airflow: paging arguments must be a table", level + 1) end
  if opts ~= nil and type(opts) ~= "table" then error("airflow: paging options must be a table", level + 1) end
  opts = opts or {}
  local mode = opts.mode
  if mode ~= nil and not MODES[mode] then
    error(("airflow: paging mode must be \"cursor\" or \"offset\", got %s"):format(tostring(mode)), level + 1)
  end
  local size = opts.page_size or rawget(client, "page_size") or M.PAGE_SIZE
  if type(size) ~= "number" or size < 1 or size ~= math.floor(size) then
    error("airflow: page_size must be a positive integer", level + 1)
  end
  local a = copy(args)
  local has_cursor = op.param_by_name.cursor ~= nil
  if mode == "cursor" and not has_cursor then
    error(("airflow: %s.%s has no cursor"):format(op.resource, op.name), level + 1)
  end
  if not mode then
    if a.cursor ~= nil then
      mode = "cursor"
    elseif a.offset ~= nil or not has_cursor then
      mode = "offset"
    else -- cursor unless the server is known to lack it (learning its version if needed)
      local server = op.api == "v2" and rawget(client, "server_version") ~= false and request.server_version(client)
      local since = op.param_by_name.cursor.since
      mode = (server and versions.lacks(op.api, server, since)) and "offset" or "cursor"
    end
  end
  if a.limit == nil and op.param_by_name.limit then a.limit = size end
  if mode == "cursor" then
    if a.cursor == nil then a.cursor = "" end
    a.offset = nil
  else
    a.cursor = nil
    a.offset = a.offset or 0
  end
  return mode, a
end

-- The next cursor of a cursor page: a string, or nil at the end; "offset" when the
-- page is an offset page (a server that ignored the cursor: it has no next_cursor).
local function next_cursor(page)
  local c = page.next_cursor
  if c == nil and page.total_entries ~= nil then return "offset" end
  if type(c) ~= "string" or c == "" then return nil end -- null or nothing: the end
  return c
end

--- Iterates over pages: `for page, err in client:pages("dag.get_dags", args, opts) do`.
-- Each page is the decoded response; on failure the iterator yields false, err once.
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table the operation's arguments
---@param opts? { mode?: "cursor"|"offset", page_size?: integer }
---@return fun(): (table|false|nil), airflow.Error|nil iterator
function M.pages(client, ref, args, opts)
  local op, rerr = resolve(client, ref, 2)
  local mode, a
  if op then mode, a = plan(client, op, args, opts, 2) end
  local asked = args and args.limit -- only the caller's limit tells a short page
  local offset = a and a.offset
  local seen, done = 0, false
  return function()
    if done then return nil end
    if not op then
      done = true
      return false, rerr
    end
    if mode == "offset" then a.offset = offset end
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
    if mode == "cursor" then
      local c = next_cursor(page)
      if c == "offset" then -- the server pages by offset after all: carry on so
        mode, a.cursor, offset = "offset", nil, seen
      else
        a.cursor = c
        if n == 0 or not c then done = true end
      end
    else
      offset = offset + n
    end
    if mode == "offset" then
      local total = tonumber(page.total_entries)
      if n == 0 or (total and offset >= total) or (not total and asked and n < asked) then
        done = true
      end
    end
    if n == 0 and seen > n then return nil end -- an empty page after others ends quietly
    return page
  end
end

--- Iterates over items across pages: `for item, err in client:each(op, args, opts) do`.
-- On failure the iterator yields false, err once.
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table the operation's arguments
---@param opts? { mode?: "cursor"|"offset", page_size?: integer } as for pages
---@return fun(): (any|false|nil), airflow.Error|nil iterator
function M.each(client, ref, args, opts)
  local op = resolve(client, ref, 2)
  local next_page = M.pages(client, op or ref, args, opts)
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

-- collect in cursor mode: the pages one after the other (each needs the last cursor).
local function collect_cursor(client, op, args, opts)
  local out, n = {}, 0
  local max, on_progress = opts.max, opts.on_progress
  for page, err in M.pages(client, op, args, opts) do
    if page == false then return nil, err end
    for _, v in ipairs(page[op.list_field]) do out[#out + 1] = v end
    n = n + 1
    if on_progress then on_progress(n, nil) end
    if max and #out >= max then break end
  end
  truncate(out, max)
  return out, nil
end

---@class airflow.CollectOptions
---@field concurrency? integer pages in flight at once in offset mode (4)
---@field max? integer stop after this many items
---@field mode? "cursor"|"offset" force a paging mode
---@field page_size? integer the limit each page asks for (100)
---@field on_progress? fun(pages_done: integer, pages_total: integer|nil) nil total in cursor mode

--- Fetches every item. After the first page gives `total_entries`, the remaining
-- pages are fetched concurrently; items come back in order, each once.
-- In cursor mode the pages come one after the other, and total_entries is nil.
---@param client airflow.Client
---@param ref table|string an operation or "resource.operation"
---@param args? table the operation's arguments (offset, cursor and limit are respected)
---@param opts? airflow.CollectOptions
---@return table[]|nil items
---@return integer|airflow.Error|nil total_entries (nil in cursor mode), or the error
function M.collect(client, ref, args, opts)
  opts = opts or {}
  local op, oerr = resolve(client, ref, 2)
  if not op then return nil, oerr end
  local mode, a = plan(client, op, args, opts, 2)
  if mode == "cursor" then return collect_cursor(client, op, args, opts) end
  local concurrency = opts.concurrency or 4
  local max = opts.max
  local asked = args and args.limit -- only the caller's limit tells a short page
  local start = a.offset
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
      if #got == 0 or (t and off >= t) or (not t and asked and #got < asked) then break end
    end
  end
  truncate(out, max)
  return out, total
end

-- The collection field of a response no registry describes: its one array field
-- (with total_entries or next_cursor beside it), or nil when it is not a collection.
local function raw_list_field(page)
  if type(page) ~= "table" or (page.total_entries == nil and page.next_cursor == nil) then return nil end
  local field
  for k, v in pairs(page) do
    if type(v) == "table" and k ~= "total_entries" and (#v > 0 or next(v) == nil) then
      if field then return nil end -- two lists: which one is the collection is not known
      field = k
    end
  end
  return field
end

--- Fetches every page of a raw request (`client:request`) on a path the registry may
-- lack: by `next_cursor` when the answer has one, else by offset up to
-- `total_entries`; one page after the other. Without a `limit` in the query, pages
-- ask for `page_size` items. An answer that is not a collection is returned as is.
---@param client airflow.Client
---@param spec table as for client:request
---@param opts? { page_size?: integer, max?: integer }
---@return table|nil result {[field] = items, total_entries = n}, or the answer as is
---@return airflow.Error|nil err
function M.collect_request(client, spec, opts)
  if type(spec) ~= "table" then error("airflow: collect_request expects a table, got " .. type(spec), 2) end
  opts = opts or {}
  local s, q = copy(spec), copy(spec.query)
  if q.limit == nil then q.limit = opts.page_size or rawget(client, "page_size") or M.PAGE_SIZE end
  s.query = q
  local page, err = client:request(s)
  if not page then return nil, err end
  local field = raw_list_field(page)
  if not field then return page end
  local out = {}
  local offset = tonumber(q.offset) or 0
  while true do
    local items = page[field]
    if type(items) ~= "table" then
      return nil, Error.new{ kind = "Unknown", title = "invalid response",
        detail = ("a page has no '%s' list"):format(field) }
    end
    for _, v in ipairs(items) do out[#out + 1] = v end
    if #items == 0 or (opts.max and #out >= opts.max) then break end
    local c = page.next_cursor
    if type(c) == "string" and c ~= "" then
      q.cursor, q.offset = c, nil
    elseif c ~= nil then
      break -- a null cursor: the last page
    else
      offset = offset + #items
      local total = tonumber(page.total_entries)
      if not total or offset >= total then break end
      q.offset = offset
    end
    page, err = client:request(s)
    if not page then return nil, err end
  end
  truncate(out, opts.max)
  return { [field] = out, total_entries = #out }
end

--- The client methods of this module.
M.methods = { pages = M.pages, each = M.each, collect = M.collect, collect_request = M.collect_request }
return M
