--- Canned Airflow 3 (REST API v2) responses for the benchmark: realistic DAGRun
-- objects with the v2 field names, deterministic per run number. Runs under Lua 5.4
-- (bench/run writes the static pages with it) and under LuaJIT inside nginx (the
-- paged endpoint of the collect benchmark generates each page on request).
local M = {}

local floor, format, concat = math.floor, string.format, table.concat

local BASE = 1704067200 -- 2024-01-01T00:00:00Z
local STATES = { "success", "success", "success", "success", "success", "failed", "success", "running" }
local NOTES = {
  "re-run after the upstream table was backfilled",
  "manual trigger from the release checklist",
}

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end

-- with microseconds, as Airflow writes them
local function iso_us(t, us)
  return format("%s.%06dZ", os.date("!%Y-%m-%dT%H:%M:%S", floor(t)), us % 1000000)
end

local function jstr(s)
  if s == nil then return "null" end
  return '"' .. s .. '"' -- the generated strings need no escaping
end

-- A UUID-looking (v7-style) id, deterministic per version number.
local function uuid(n)
  return format("0193%04x-%04x-7%03x-8%03x-%012x", n % 65536, (n * 7) % 65536, n % 4096,
    (n * 13) % 4096, n * 104729)
end

--- One DAGRun as JSON text (about 900 bytes).
-- @param i the run number (0-based)
-- @param dag_id the DAG id
function M.run(i, dag_id)
  local logical = BASE + i * 3600
  local manual = i % 7 == 3
  local state = STATES[i % #STATES + 1]
  local queued = logical + 3600
  local start = queued + 2
  local us = (i * 7919) % 1000000
  local dur = 30 + (i * 37) % 600
  local run_id = (manual and "manual__" or "scheduled__") .. os.date("!%Y-%m-%dT%H:%M:%S", logical) .. "+00:00"
  local end_date, duration
  if state == "running" then
    end_date, duration = "null", "null"
  else
    end_date = jstr(iso_us(start + dur, us + 4321))
    duration = format("%d.%06d", dur, (us + 4321) % 1000000)
  end
  local version = 1 + floor(i / 500)
  local conf = manual and format('{"target_date":"%s","full_refresh":%s,"retries":%d}',
    os.date("!%Y-%m-%d", logical), i % 2 == 0 and "true" or "false", i % 4) or "{}"
  local note = manual and jstr(NOTES[i % #NOTES + 1]) or "null"
  return concat{
    '{"dag_run_id":"', run_id,
    '","dag_id":"', dag_id,
    '","logical_date":"', iso(logical),
    '","queued_at":"', iso_us(queued, us),
    '","start_date":"', iso_us(start, us + 1234),
    '","end_date":', end_date,
    ',"duration":', duration,
    ',"data_interval_start":"', iso(logical),
    '","data_interval_end":"', iso(logical + 3600),
    '","run_after":"', iso(logical + 3600),
    '","last_scheduling_decision":"', iso_us(start + dur + 1, us + 5678),
    '","run_type":"', manual and "manual" or "scheduled",
    '","state":"', state,
    '","triggered_by":"', manual and "rest_api" or "timetable",
    '","triggering_user_name":', manual and '"admin"' or "null",
    ',"conf":', conf,
    ',"note":', note,
    ',"dag_versions":[{"id":"', uuid(version),
    '","version_number":', format("%d", version),
    ',"dag_id":"', dag_id,
    '","bundle_name":"dags-folder","bundle_version":null,"created_at":"',
    iso_us(BASE + (version - 1) * 500 * 3600 - 600, version * 1013),
    '","dag_display_name":"', dag_id,
    '","bundle_url":null}],"bundle_version":null,"dag_display_name":"', dag_id,
    '","partition_key":null}',
  }
end

--- A DAGRunCollectionResponse page: runs offset .. offset+limit-1 (clipped to total).
function M.page(dag_id, offset, limit, total)
  local parts = {}
  local last = offset + limit - 1
  if last > total - 1 then last = total - 1 end
  for i = offset, last do
    parts[#parts + 1] = M.run(i, dag_id)
  end
  return '{"dag_runs":[' .. concat(parts, ",") .. '],"total_entries":' .. format("%d", total) .. "}"
end

--- The version response.
M.VERSION = '{"version":"3.2.1","git_version":null}'

-- Pages made ahead of time, so that serving one costs nginx next to nothing and the
-- server never limits the collect benchmark: cache[dag .. ":" .. offset .. ":" .. limit].
local cache = {}

--- Makes every page of `limit` runs of `total` ahead of time (nginx's init_by_lua,
-- before the workers fork; about 1 ms of LuaJIT per page).
function M.pregenerate(dag_id, total, limit)
  for offset = 0, total - 1, limit do
    cache[dag_id .. ":" .. offset .. ":" .. limit] = M.page(dag_id, offset, limit, total)
  end
end

--- nginx (content_by_lua): the paged endpoint, honouring offset and limit (at most
-- 100, as Airflow's default maximum page size), after a delay of $bench_delay_ms.
function M.serve_page()
  local ngx = ngx -- luacheck: ignore
  local args = ngx.req.get_uri_args()
  local total = tonumber(ngx.var.bench_total) or 100000
  local offset = tonumber(args.offset) or 0
  local limit = tonumber(args.limit) or 100
  if limit > 100 then limit = 100 end
  if limit < 0 or offset < 0 then
    ngx.status = 400
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"detail":"bad offset or limit"}')
    return
  end
  local delay = tonumber(ngx.var.bench_delay_ms) or 20
  if delay > 0 then ngx.sleep(delay / 1000) end
  ngx.header["Content-Type"] = "application/json"
  local dag = ngx.var.bench_dag
  offset, limit = floor(offset), floor(limit)
  ngx.print(cache[dag .. ":" .. offset .. ":" .. limit] or M.page(dag, offset, limit, total))
end

return M
