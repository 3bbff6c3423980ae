--- The Lua contenders of bench/run, one measurement per process:
--
--   lua5.4 bench/contenders.lua MODE BASE_URL MAX_REQUESTS MAX_SECONDS [CA_FILE] [EXTRA]
--
-- MODE is one of
--   lib_version     lua-airflow: client.version:get_version(), decoded
--   core_version    airflow.core session:request of /api/v2/version, raw (no decode)
--   lib_runs        lua-airflow: client.dag_run:get_dag_runs{dag_id = "bench", limit = 100}
--   floor_runs      airflow.core session:request (raw) + cjson.decode of the body
--   socket_version  LuaSocket socket.http (LuaSec ssl.https for https://) + cjson
--   socket_runs     the same for the 100-run page
--   lib_big         lua-airflow: one get_dag_runs of the 20,000-run page (dag "bench_big")
--   floor_big       airflow.core raw request + cjson.decode of the same page
--   lib_collect     lua-airflow: client:collect("dag_run.get_dag_runs", {dag_id = "paged"},
--                   {concurrency = EXTRA})
-- Each mode makes one untimed warm-up request (except the one-shot ones), then runs
-- until MAX_REQUESTS requests or MAX_SECONDS have passed, whichever comes first, and
-- prints one line of key=value pairs: n, secs, and mode-specific extras (rss_kb is the
-- process's peak resident set, VmHWM, read at the end).
local mode, base, max_n, max_secs, ca, extra = ...
max_n, max_secs = tonumber(max_n), tonumber(max_secs)
if ca == "" or ca == "-" then ca = nil end
assert(mode and base and max_n and max_secs, "usage: contenders.lua MODE BASE_URL MAX_N MAX_SECS [CA] [EXTRA]")

local core = require("airflow.core")
local now = core.now

local function peak_rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) or 0
end

-- Runs fn until max_n calls or max_secs; fn raises on a wrong answer.
local function loop(fn)
  fn() -- warm-up: opens the connection (and, for the library, loads the registry)
  local n, t0 = 0, now()
  local t = t0
  while n < max_n and t - t0 < max_secs do
    fn()
    n = n + 1
    t = now()
  end
  return n, t - t0
end

local function client()
  local airflow = require("airflow")
  return assert(airflow.new{ base_url = base, token = "x", ca_file = ca, verify_tls = true })
end

local function floor_session()
  return assert(core.session{ ca_file = ca, verify_tls = true })
end

local HEADERS = { Authorization = "Bearer x", Accept = "application/json" }

local function raw_get(s, url)
  local res, err = s:request{ method = "GET", url = url, headers = HEADERS }
  if not res then error(err.message) end
  if res.status ~= 200 then error("HTTP " .. res.status) end
  return res.body
end

local out = {}

if mode == "lib_version" then
  local c = client()
  out.n, out.secs = loop(function()
    local v = assert(c.version:get_version())
    assert(v.version == "3.2.1")
  end)

elseif mode == "core_version" then
  local s = floor_session()
  local url = base .. "/api/v2/version"
  out.n, out.secs = loop(function()
    assert(#raw_get(s, url) > 0)
  end)

elseif mode == "lib_runs" then
  local c = client()
  out.n, out.secs = loop(function()
    local page = assert(c.dag_run:get_dag_runs{ dag_id = "bench", limit = 100 })
    assert(#page.dag_runs == 100)
  end)

elseif mode == "floor_runs" then
  local cjson = require("cjson")
  local s = floor_session()
  local url = base .. "/api/v2/dags/bench/dagRuns?limit=100"
  out.n, out.secs = loop(function()
    local page = cjson.decode(raw_get(s, url))
    assert(#page.dag_runs == 100)
  end)

elseif mode == "socket_version" or mode == "socket_runs" then
  local cjson = require("cjson")
  local ltn12 = require("ltn12")
  local tls = base:find("^https:") ~= nil
  local http = tls and require("ssl.https") or require("socket.http")
  local path = mode == "socket_version" and "/api/v2/version" or "/api/v2/dags/bench/dagRuns?limit=100"
  local url = base .. path
  out.n, out.secs = loop(function()
    local chunks = {}
    local req = { url = url, sink = ltn12.sink.table(chunks),
      headers = { Authorization = "Bearer x", Accept = "application/json" } }
    if tls then req.cafile, req.verify = ca, "peer" end
    local ok, code = http.request(req)
    assert(ok, code)
    assert(code == 200, "HTTP " .. tostring(code))
    local v = cjson.decode(table.concat(chunks))
    if mode == "socket_version" then assert(v.version == "3.2.1") else assert(#v.dag_runs == 100) end
  end)

elseif mode == "lib_big" then
  local c = client()
  local t0 = now()
  local page = assert(c.dag_run:get_dag_runs{ dag_id = "bench_big", limit = 100 })
  out.secs = now() - t0
  out.n = 1
  out.items = #page.dag_runs
  out.rss_kb = peak_rss_kb()

elseif mode == "floor_big" then
  local cjson = require("cjson")
  local s = floor_session()
  local t0 = now()
  local body = raw_get(s, base .. "/api/v2/dags/bench_big/dagRuns?limit=100")
  local page = cjson.decode(body)
  out.secs = now() - t0
  out.n = 1
  out.bytes = #body
  out.items = #page.dag_runs
  out.rss_kb = peak_rss_kb()

elseif mode == "lib_collect" then
  local c = client()
  local concurrency = assert(tonumber(extra), "lib_collect needs the concurrency")
  local t0 = now()
  local items, total = c:collect("dag_run.get_dag_runs", { dag_id = "paged" }, { concurrency = concurrency })
  out.secs = now() - t0
  assert(items, total)
  assert(#items == total, ("collected %d items of %s"):format(#items, tostring(total)))
  -- each item once, in order
  for i = 1, #items, 997 do
    local want = items[i].logical_date
    assert(want == os.date("!%Y-%m-%dT%H:%M:%SZ", 1704067200 + (i - 1) * 3600), "out of order at " .. i)
  end
  out.n = 1
  out.items = #items
  out.rss_kb = peak_rss_kb()

else
  error("unknown mode " .. tostring(mode))
end

local keys = {}
for k in pairs(out) do keys[#keys + 1] = k end
table.sort(keys)
local parts = {}
for _, k in ipairs(keys) do
  local v = out[k]
  parts[#parts + 1] = k .. "=" .. (math.type(v) == "float" and ("%.6f"):format(v) or tostring(v))
end
print(table.concat(parts, " "))
